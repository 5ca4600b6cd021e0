# test: cpython-only (the test tooling: make test's stage summary and the 32-bit stage driver)
# Every stage's failing tests reach the final summary as module::test; a stage that left
# nothing counts as failed; the 32-bit stage says in one line why it was skipped.
import io
import os
import shutil
import sys
from contextlib import redirect_stdout

import support
import results
import run_upy32

_JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="host_tests.test_a" name="test_ok" time="0.1"/>
<testcase classname="host_tests.test_a" name="test_bad" time="0.1"><failure message="x">x</failure></testcase>
<testcase classname="host_tests.test_b" name="test_broken" time="0.1"><error message="e">e</error></testcase>
<testcase classname="host_tests.test_b" name="test_later" time="0.1"><skipped message="s">s</skipped></testcase>
</testsuite></testsuites>
"""

_RUNNER = """ok   test_x: 3 passed, 0 failed, 0 skipped
FAIL test_y.test_adds_up
Traceback (most recent call last):
AssertionError: 3
FAIL test_z (import)
FAIL test_w (no summary: the process ended early)
"""


def _in_results_dir(body):
    folder = support.tmpdir("results")
    saved = results.DIR
    results.DIR = folder
    try:
        out = io.StringIO()
        with redirect_stdout(out):
            status = body(folder)
        return status, out.getvalue()
    finally:
        results.DIR = saved
        support.rmtree(folder)


def test_runner_output_names_each_failure_as_module_and_test():
    assert results.failures_from_runner_output(_RUNNER) == [
        "test_y::test_adds_up", "test_z (import)", "test_w (no summary: the process ended early)"]


def test_the_summary_names_every_failing_test_of_every_stage():
    def body(folder):
        with open(folder + "/cpython.xml", "w") as f:
            f.write(_JUNIT)
        results.from_junit("cpython", folder + "/cpython.xml", 1)
        results.write("micropython", "micropython (unix port, heap 512K)", 10, 1, 0, ["test_y::test_adds_up"])
        results.write("micropython32", "micropython32 (armv6m)", 0, 0, 0, notes=["skipped: no qemu"], status=0)
        with open(folder + "/targets.log", "w") as f:
            f.write("mpy-cross armv6m: lib/x.py\nSyntaxError\nmpy-cross armv6m: 9 modules compiled, 1 failed\n")
        results.from_log("targets", folder + "/targets.log", 1)
        return results.summary()

    status, out = _in_results_dir(body)
    assert status == 1, out
    for expected in ("cpython (pytest): 1 passed, 2 failed, 1 skipped", "FAIL  test_a::test_bad",
                     "FAIL  test_b::test_broken", "FAIL  test_y::test_adds_up", "skipped: no qemu",
                     "FAIL  lib/x.py (mpy-cross armv6m)", "==== FAILED"):
        assert expected in out, "%r missing from:\n%s" % (expected, out)
    assert out.index("cpython") < out.index("micropython (unix") < out.index("micropython32") < out.index(
        "targets"), out


def test_a_stage_that_left_no_result_fails_the_summary():
    def body(folder):
        for stage in ("cpython", "micropython", "targets"):
            results.write(stage, stage, 1, 0, 0)
        return results.summary()

    status, out = _in_results_dir(body)
    assert status == 1 and "micropython32: left no result" in out, out

    def all_there(folder):
        for stage in ("cpython", "micropython", "micropython32", "targets"):
            results.write(stage, stage, 1, 0, 0)
        return results.summary()

    status, out = _in_results_dir(all_there)
    assert status == 0 and "all stages passed" in out, out


def test_the_32_bit_stage_says_in_one_line_why_it_was_skipped():
    missing = os.path.join(os.path.dirname(os.path.abspath(__file__)), "no-such-folder", "upy32")
    assert "no upy32 tool at " + missing in run_upy32.tool_missing(missing)
    which = shutil.which
    shutil.which = lambda name: None
    try:
        assert "qemu-system-arm is not installed" in run_upy32.tool_missing(sys.executable)
    finally:
        shutil.which = which
    argv = sys.argv
    sys.argv = ["run_upy32.py", "--upy32", missing, "test_clock"]
    out = io.StringIO()
    try:
        with redirect_stdout(out):
            status = run_upy32.main()
    finally:
        sys.argv = argv
    assert status == 0 and out.getvalue().count("\n") == 1, out.getvalue()
    assert out.getvalue().startswith("micropython32 (armv6m): skipped, no upy32 tool at "), out.getvalue()
