#!/usr/bin/env python3
# Smallest MicroPython heap each application runs in, on the host board.
#
#   .venv/bin/python bench/app_heap.py [--seconds 6] [--speed 600]
#
# Starts the app under the unix port with ever smaller `-X heapsize=` caps and reports,
# per cap, whether it ran --seconds with every task healthy (status lines seen, no
# MemoryError, no restart, a clean stop on Ctrl-C); once from the .py sources (the
# unix port compiles them, which costs heap) and once from .mpy bytecode compiled by
# mpy-cross, as a board loads it. The 64-bit unix port's objects are about twice the
# size of a 32-bit board's, so a cap here stands for roughly half of it on an ESP32 or
# RP2040; frozen modules (a firmware build) keep their bytecode out of the heap
# altogether. Results: docs/performance.md.

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import targets

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAIN = os.path.join(REPO, "boards", "host", "main.py")
MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")
HEAPS_K = (512, 256, 192, 160, 128, 112, 96, 80, 64, 48, 32)


def config(app, folder, speed):
    board = {"speed": speed, "storage_dir": folder, "console": "json", "watchdog": True}
    if app == "meter":
        return {"app": "meter", "meter_id": "12345678", "report": {"interval_s": max(1, speed // 2)}, "board": board}
    return {"app": "mep_device", "report": {"interval_s": max(1, speed // 2)}, "board": board}


def mpy_tree(out):
    """lib/, firmware/ and boards/host/ as .mpy bytecode under out, main.py as source."""
    pairs = []
    for tree in ("lib", "firmware", "boards/host"):
        for folder, _, files in os.walk(os.path.join(REPO, tree)):
            for name in files:
                src = os.path.join(folder, name)
                rel = os.path.relpath(src, REPO)
                if name.endswith(".py") and rel != "boards/host/main.py":
                    pairs.append((src, os.path.join(out, rel[:-3] + ".mpy")))
    failures = targets.compile_all(pairs, "x64")  # the unix port on x86-64: viper modules need an arch
    if failures:
        sys.exit("mpy-cross failed: %s" % failures)
    main = os.path.join(out, "boards", "host", "main.py")
    with open(MAIN) as src, open(main, "w") as dst:
        dst.write(src.read())
    return main


def run_once(main, app, heap_k, seconds, speed):
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "config.json")
        with open(path, "w") as f:
            json.dump(config(app, folder + "/data", speed), f)
        child = subprocess.Popen([MICROPYTHON, "-X", "heapsize=%dK" % heap_k, main, "--config", path],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(seconds)
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
        try:
            out, _ = child.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            out, _ = child.communicate()
    healthy = [json.loads(line) for line in out.splitlines() if line.startswith('{"kind": "tasks"')
               or line.startswith('{"kind": "device"')]
    ok = (child.returncode == 0 and "MemoryError" not in out and bool(healthy)
          and all(not t["restarts"] and not t["stalled"] for h in healthy for t in h["tasks"].values()))
    return ok, out.strip().splitlines()[-1:] if not ok else []


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=6)
    parser.add_argument("--speed", type=int, default=600)
    args = parser.parse_args()
    print("command: %s bench/app_heap.py --seconds %g --speed %d" % (os.path.relpath(sys.executable, REPO),
                                                                      args.seconds, args.speed))
    with tempfile.TemporaryDirectory() as build:
        for form, main in (("source", MAIN), ("mpy", mpy_tree(build))):
            for app in ("meter", "mep_device"):
                smallest = None
                for heap_k in HEAPS_K:
                    ok, why = run_once(main, app, heap_k, args.seconds, args.speed)
                    if not ok:
                        print("%-6s %-10s heap %4d KiB: fails: %s" % (form, app, heap_k, " ".join(why)))
                        break
                    smallest = heap_k
                print("%-6s %-10s smallest heap that runs: %s KiB" % (form, app, smallest))


if __name__ == "__main__":
    main()
