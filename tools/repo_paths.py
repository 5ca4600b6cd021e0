# The repository's import paths, in one place. Nothing else edits sys.path (bar the boot
# code that models a device: boards/host/main.py, lib/ota/boot.py, host_tests/run_upy.py;
# host_tests/test_layout.py holds the list and fails on any other).
#
# CPython: `make setup` writes a path configuration file into .venv's site-packages (install()).
#   Its one line appends FOLDERS and CPYTHON_ONLY of the checkout that owns the .venv (the
#   parent of sys.prefix) to sys.path, so every .venv/bin/python (pytest, the tools, the
#   benches, the helper scripts) imports the tree's code. A .venv shared between checkouts by
#   a symlink gives each checkout its own tree, never another's.
# MicroPython unix port: MICROPYPATH, from micropython_env(), in whatever starts micropython
#   (a script's sys.path is [its folder] + MICROPYPATH there). By hand:
#       MICROPYPATH=$(python3 tools/repo_paths.py micropython) micropython host_tests/store_writer.py ...
# A tool run by another interpreter (the system's python3, micropython) imports this module
#   first: importing it appends whatever of the folders is missing.
#
#   python3 tools/repo_paths.py install        # make setup: write the .pth into this python's site-packages
#   python3 tools/repo_paths.py micropython    # print MICROPYPATH for a by-hand micropython run
#
# Runs under CPython and MicroPython (no os.path there).

import os
import sys

# Both interpreters. No module name occurs twice across them, nor in CPython's standard
# library (test_layout checks), so appending them behind the interpreter's own is safe.
FOLDERS = ("lib", "firmware", "boards/host", "host_tests", "tools")
# CPython only: the `micropython` and `cryptolib` stand-ins, never deployed.
CPYTHON_ONLY = ("host_tests/shims",)
PTH_NAME = "smart_meter_repo.pth"
_CPYTHON = sys.implementation.name == "cpython"


def _repo():
    here = __file__ if __file__.startswith("/") else os.getcwd() + "/" + __file__
    return here.rsplit("/", 2)[0]


REPO = _repo()


def folders(cpython=_CPYTHON):
    """The folders on the import path (relative to the repository), in order."""
    return FOLDERS + CPYTHON_ONLY if cpython else FOLDERS


def micropython_path(first=()):
    """MICROPYPATH: '.frozen' (asyncio is frozen into the unix port), then first, then the folders."""
    return ":".join((".frozen",) + tuple(first) + tuple(REPO + "/" + f for f in folders(False)))


def micropython_env(first=(), env=None):
    """A copy of env (default os.environ) with MICROPYPATH set, for subprocess(..., env=)."""
    out = dict(os.environ if env is None else env)
    out["MICROPYPATH"] = micropython_path(first)
    return out


def module_at(relative, name=None):
    """CPython: the module in REPO/relative, a file outside the import folders (bench/, host_tests/data/),
    loaded once under name (default: its file name) without putting its folder on sys.path."""
    import importlib.util

    name = name or relative.rsplit("/", 1)[-1][:-3]
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO + "/" + relative)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def pth_line():
    """The .pth line: paths of the checkout owning the .venv (REPO/.venv), computed at start-up."""
    # Ahead of site-packages: an installed package may share a name with ours (pysml's "sml").
    return ("import os, sys; sys.path[:0] = [p for p in (os.path.join(os.path.dirname(sys.prefix), f) for f in %r) "
            "if p not in sys.path]\n" % (folders(True),))


def install():
    import sysconfig

    site = sysconfig.get_path("purelib")
    with open(os.path.join(site, PTH_NAME), "w") as f:
        f.write("# The smart-meter repository's import paths (tools/repo_paths.py, written by make setup)\n")
        f.write(pth_line())
    return os.path.join(site, PTH_NAME)


def _add_missing():
    # Ahead of site-packages, as the .pth line puts them.
    missing = [REPO + "/" + folder for folder in folders() if REPO + "/" + folder not in sys.path]
    sys.path[:0] = missing


_add_missing()

if __name__ == "__main__":
    if sys.argv[1:] == ["install"]:
        print("import paths: %s" % install())
    elif sys.argv[1:] == ["micropython"]:
        print(micropython_path())
    else:
        sys.exit("usage: repo_paths.py install | micropython")
