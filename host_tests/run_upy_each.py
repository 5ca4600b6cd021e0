# Runs every test module under the MicroPython unix port, each in a process of its own
# with the heap cap of a board, the way a board boots: one module's runtime-interned
# names and heap fragmentation cannot starve the next. CPython drives; the tests run
# in MicroPython through run_upy.py. Two modules at a time (this machine has 2 cores).
#
#   python host_tests/run_upy_each.py [--heap 512K] [--jobs 2] [test_module ...]

import argparse
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
_SUMMARY = re.compile(r"^micropython: (\d+) passed, (\d+) failed, (\d+) skipped$", re.M)
_MODULE_TIMEOUT_S = 600


def run_one(micropython, heap, name):
    try:
        done = subprocess.run([micropython, "-X", "heapsize=" + heap, os.path.join(HERE, "run_upy.py"), name],
                              cwd=REPO, capture_output=True, text=True, timeout=_MODULE_TIMEOUT_S)
        output = done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        output = (exc.stdout or b"").decode(errors="replace") + "\nTIMEOUT after %d s\n" % _MODULE_TIMEOUT_S
    found = _SUMMARY.search(output)
    if found is None:  # the process died before its summary (crash, timeout)
        return name, output + "\nFAIL %s (no summary: the process ended early)\n" % name, (0, 1, 0)
    return name, output, tuple(int(n) for n in found.groups())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--heap", default="512K")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--micropython", default=os.path.join(REPO, ".venv", "bin", "micropython"))
    parser.add_argument("modules", nargs="*")
    args = parser.parse_args()
    names = [n[:-3] if n.endswith(".py") else n for n in args.modules] or sorted(
        n[:-3] for n in os.listdir(HERE) if n.startswith("test_") and n.endswith(".py"))
    totals = [0, 0, 0]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for name, output, counts in pool.map(lambda n: run_one(args.micropython, args.heap, n), names):
            lines = [line for line in output.splitlines() if not line.startswith("micropython: ")]
            failed = counts[1] > 0
            # Passing modules print one line; failing ones everything they printed.
            print("%s %s: %d passed, %d failed, %d skipped" % ("FAIL" if failed else "ok  ", name, *counts))
            if failed:
                print("\n".join(lines))
            for i in range(3):
                totals[i] += counts[i]
    print("micropython: %d passed, %d failed, %d skipped (%d modules, heap %s each)" % (*totals, len(names), args.heap))
    sys.exit(1 if totals[1] else 0)


main()
