# Test runner for the MicroPython unix port: finds the same test_* functions that
# pytest runs under CPython, runs each, prints failures with their tracebacks and
# ends with "micropython: N passed, N failed, N skipped".
#
#   micropython -X heapsize=512K host_tests/run_upy.py [test_module ...]
#
# A module whose first lines hold "# test: cpython-only" needs CPython-only tooling
# (hypothesis, subprocesses) and is skipped here. Each module is dropped after it
# ran so the heap cap applies to one module at a time, as a board would.

import sys
import os
import gc
import asyncio

_script = __file__ if __file__.startswith("/") else os.getcwd() + "/" + __file__
HERE = _script.rsplit("/", 1)[0]
REPO = HERE.rsplit("/", 1)[0]
# The folders of tools/repo_paths.py (FOLDERS; test_layout checks): set here, not through
# MICROPYPATH, because a bare-metal port (the 32-bit stage) has no environment.
for path in ("lib", "firmware", "boards/host", "host_tests", "tools"):
    sys.path.insert(0, REPO + "/" + path)

import support

_CPYTHON_ONLY_TAG = "# test: cpython-only"


def cpython_only(filename):
    try:
        source = open(filename)
    except OSError:  # compiled modules only (the 32-bit stage): its driver checked the tag
        return False
    with source:
        for _ in range(8):
            if source.readline().startswith(_CPYTHON_ONLY_TAG):
                return True
    return False


def discover(names):
    if names:
        return [n[:-3] if n.endswith(".py") else n for n in names]
    found = [n[:-3] for n in os.listdir(HERE) if n.startswith("test_") and n.endswith(".py")]
    found.sort()
    return found


def run_module(name, counts):
    if cpython_only(HERE + "/" + name + ".py"):
        print("skip %s (cpython-only)" % name)
        counts[2] += 1
        return
    try:
        module = __import__(name)
    except Exception as exc:
        print("FAIL %s (import)" % name)
        sys.print_exception(exc)
        counts[1] += 1
        return
    tests = sorted(n for n in dir(module) if n.startswith("test_"))
    for test_name in tests:
        test = getattr(module, test_name)
        if not callable(test):
            continue
        try:
            test()
        except support.SkipTest as exc:
            print("skip %s.%s: %s" % (name, test_name, exc))
            counts[2] += 1
        except Exception as exc:
            print("FAIL %s.%s" % (name, test_name))
            sys.print_exception(exc)
            counts[1] += 1
        else:
            counts[0] += 1
        gc.collect()
    # Drop the test module and everything it imported (decoder tables, kernels), so
    # each module starts on an unfragmented heap, as a board boots.
    module = test = None  # nothing of this module may stay reachable for the next
    asyncio.new_event_loop()  # tasks left pending hold on to what they reference
    for loaded in list(sys.modules):
        if loaded not in _BASELINE:
            del sys.modules[loaded]
    gc.collect()


_BASELINE = set(sys.modules)


def main():
    counts = [0, 0, 0]  # passed, failed, skipped
    for name in discover(sys.argv[1:]):
        run_module(name, counts)
    print("micropython: %d passed, %d failed, %d skipped" % tuple(counts))
    sys.exit(1 if counts[1] else 0)


main()
