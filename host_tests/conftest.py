# pytest set-up for CPython. The import paths (lib, firmware, boards/host, host_tests, tools
# and the CPython-only shims such as the `micropython` module, never deployed) come from
# .venv's path configuration file, which `make setup` writes (tools/repo_paths.py), as for
# every program .venv/bin/python runs.
import os
import sys

import pytest

_LIB = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
if _LIB not in (os.path.realpath(p) for p in sys.path if p):
    pytest.exit("%s is not on sys.path: run `make setup` (it writes the repository's import paths into .venv), "
                "and run the tests with .venv/bin/python" % _LIB, returncode=4)
