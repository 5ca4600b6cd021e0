# Runs every test module under the MicroPython unix port, each in a process of its own
# with the heap cap of a board, the way a board boots: one module's runtime-interned
# names and heap fragmentation cannot starve the next. CPython drives; the tests run
# in MicroPython through run_upy.py. Two modules at a time (this machine has 2 cores).
# run_upy32.py drives the 32-bit stage with the same discovery, reporting and results.
#
#   python host_tests/run_upy_each.py [--heap 512K] [--jobs 2] [test_module ...]

import argparse
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import results  # host_tests/results.py (this script's folder): the stage summary of make test

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

_SUMMARY = re.compile(r"^micropython: (\d+) passed, (\d+) failed, (\d+) skipped$", re.M)
_MODULE_TIMEOUT_S = 600
_CPYTHON_ONLY_TAG = "# test: cpython-only"  # in a module's first lines: hypothesis, subprocesses


def discover(names):
    """The test modules named, or every host_tests/test_*.py, sorted."""
    return [n[:-3] if n.endswith(".py") else n for n in names] or sorted(
        n[:-3] for n in os.listdir(HERE) if n.startswith("test_") and n.endswith(".py"))


def cpython_only(name):
    with open(os.path.join(HERE, name + ".py")) as source:
        return any(source.readline().startswith(_CPYTHON_ONLY_TAG) for _ in range(8))


def run_one(command, name, timeout_s=_MODULE_TIMEOUT_S):
    """Run one module's process; returns (name, output, (passed, failed, skipped))."""
    try:
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout_s)
        output = done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        output = ((exc.stdout or b"").decode(errors="replace") + (exc.stderr or b"").decode(errors="replace")
                  + "\nTIMEOUT after %d s\n" % timeout_s)
    found = _SUMMARY.search(output)
    if found is None:  # the process died before its summary (crash, timeout)
        return name, output + "\nFAIL %s (no summary: the process ended early)\n" % name, (0, 1, 0)
    return name, output, tuple(int(n) for n in found.groups())


def run_all(command_for, names, jobs, totals, failures, pending=(), pending_failures=None):
    """Run the modules (jobs at a time), print one line per module (and all output of a failing one).

    pending: "module" or "module::test" entries whose failures are listed in pending_failures
    instead of counting as failed (a fix in flight elsewhere)."""
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for name, output, counts in pool.map(lambda n: run_one(command_for(n), n), names):
            lines = [line for line in output.splitlines() if not line.startswith("micropython: ")]
            found = results.failures_from_runner_output(output) if counts[1] else []
            waiting = [f for f in found if name in pending or f in pending]
            counts = (counts[0], counts[1] - len(waiting), counts[2])
            failed = counts[1] > 0
            # Passing modules print one line; failing ones everything they printed.
            print("%s %s: %d passed, %d failed, %d skipped%s" % (
                "FAIL" if failed else "ok  ", name, *counts, ", %d pending" % len(waiting) if waiting else ""),
                flush=True)
            if failed or waiting:
                print("\n".join(lines), flush=True)
            if failed:
                failures += [f for f in found if f not in waiting] or ["%s (failed)" % name]
            if waiting:
                pending_failures += waiting
            for i in range(3):
                totals[i] += counts[i]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--heap", default="512K")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--micropython", default=os.path.join(REPO, ".venv", "bin", "micropython"))
    parser.add_argument("modules", nargs="*")
    args = parser.parse_args()
    names = discover(args.modules)
    totals, failures = [0, 0, 0], []

    def command_for(name):
        return [args.micropython, "-X", "heapsize=" + args.heap, os.path.join(HERE, "run_upy.py"), name]

    run_all(command_for, names, args.jobs, totals, failures)
    print("micropython: %d passed, %d failed, %d skipped (%d modules, heap %s each)" % (*totals, len(names), args.heap))
    if not args.modules:  # a whole stage of make test (not a few modules by hand)
        results.write("micropython", "micropython (unix port, heap %s)" % args.heap, *totals, failures)
    sys.exit(1 if totals[1] else 0)


if __name__ == "__main__":
    main()
