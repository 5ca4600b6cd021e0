#!/usr/bin/env python3
# Smallest MicroPython heap the meter runs in with its wired M-Bus task polling the four
# simulated meters (bench/app_heap.py's ladder, with an "mbus" section in the config and
# tools/mbus_slaves.py on the meter's M-Bus pty).
#
#   .venv/bin/python bench/mbus_heap.py [--seconds 8] [--speed 1440]
#
# A cap passes when the meter ran --seconds with every task healthy (no restart, no
# stall, no MemoryError), stopped cleanly, and every device was read ("mbus_read" with
# result ok for all four). Results: docs/performance.md ("Wired M-Bus poll cycle").

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import tty

import app_heap  # beside this script
import sim

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

SLAVES = os.path.join(REPO, "tools", "mbus_slaves.py")


def run_once(main, heap_k, seconds, speed):
    master_fd, slave_fd = os.openpty()
    tty.setraw(slave_fd)
    slaves = subprocess.Popen([sys.executable, SLAVES, "--fd", str(master_fd), "--baud", "2400"],
                              pass_fds=[master_fd], stderr=subprocess.DEVNULL)
    os.close(master_fd)
    try:
        with tempfile.TemporaryDirectory() as folder:
            cfg = {"app": "meter", "meter_id": "12345678", "report": {"interval_s": max(1, speed // 2)},
                   "mbus": sim.mbus_config(),
                   "board": {"speed": speed, "storage_dir": folder + "/data", "console": "json", "watchdog": True,
                             "mbus_uart": "pty:" + os.ttyname(slave_fd)}}
            path = os.path.join(folder, "config.json")
            with open(path, "w") as f:
                json.dump(cfg, f)
            child = subprocess.Popen([app_heap.MICROPYTHON, "-X", "heapsize=%dK" % heap_k, main, "--config", path],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            time.sleep(seconds)
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
            try:
                out, _ = child.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                out, _ = child.communicate()
    finally:
        slaves.terminate()
        slaves.wait()
        os.close(slave_fd)
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    tasks = [line for line in lines if line.get("kind") == "tasks"]
    reads = {line["name"] for line in lines if line.get("kind") == "mbus_read" and line["result"] == "ok"}
    ok = (child.returncode == 0 and "MemoryError" not in out and bool(tasks) and len(reads) == 4
          and all(not t["restarts"] and not t["stalled"] for h in tasks for t in h["tasks"].values()))
    return ok, (out.strip().splitlines()[-1:] if not ok else []), len(reads)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--speed", type=int, default=1440)
    args = parser.parse_args()
    print("command: %s bench/mbus_heap.py --seconds %g --speed %d" % (os.path.relpath(sys.executable, REPO),
                                                                       args.seconds, args.speed))
    with tempfile.TemporaryDirectory() as build:
        for form, main in (("source", app_heap.MAIN), ("mpy", app_heap.mpy_tree(build))):
            smallest = None
            for heap_k in app_heap.HEAPS_K:
                ok, why, devices = run_once(main, heap_k, args.seconds, args.speed)
                if not ok:
                    print("%-6s meter+mbus heap %4d KiB: fails (%d devices read): %s"
                          % (form, heap_k, devices, " ".join(why)))
                    break
                smallest = heap_k
            print("%-6s meter+mbus smallest heap that runs: %s KiB" % (form, smallest))


if __name__ == "__main__":
    main()
