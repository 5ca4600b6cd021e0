#!/usr/bin/env python3
# Store benchmark: the SIGKILL crash loop of host_tests/test_store_crash.py with many more
# kills, a longer LittleFS power-cut sweep (host_tests/test_store.py), then operation
# timings under the MicroPython unix port. Run by hand (CPython):
#
#   .venv/bin/python bench/store_crash.py [--kills 1000] [--seed S] [--lfs-ops 200]
#                                         [--ops 300] [--dir D ...]
#
# Timings are medians of --ops calls, measured inside the unix port with ticks_us, once per
# --dir (default: the temp directory and, if present, the tmpfs /dev/shm, so the cost of
# the fsync the unix port does on every flush shows separately). Results: docs/storage.md.

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

import repo_paths
import test_store_crash

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

HEAP = test_store_crash.HEAP


def timings(upy, folder_root, ops):
    folder = tempfile.mkdtemp(prefix="store-bench-", dir=folder_root)
    try:
        done = subprocess.run(
            [upy, "-X", "heapsize=" + HEAP, test_store_crash.WRITER, "bench", folder, str(ops)],
            capture_output=True,
            text=True,
            timeout=600,
            env=repo_paths.micropython_env(),
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if done.returncode != 0:
        sys.exit("bench under MicroPython failed:\n" + done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def power_cut_sweep(upy, ops):
    """host_tests/test_store.py's LittleFS power-cut sweep with a longer workload."""
    code = "import test_store; print(test_store.littlefs_power_cut_sweep(%d))" % ops
    command = [upy, "-X", "heapsize=" + HEAP, "-c", code]
    done = subprocess.run(command, capture_output=True, text=True, env=repo_paths.micropython_env())
    if done.returncode != 0:
        sys.exit("LittleFS power-cut sweep failed:\n" + done.stdout + done.stderr)
    return int(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description="Store crash loop and timings under MicroPython.")
    parser.add_argument("--kills", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--ops", type=int, default=300, help="calls per timing")
    parser.add_argument("--dir", action="append", help="where to time (repeatable)")
    parser.add_argument("--lfs-ops", type=int, default=200, help="power-cut sweep ops (0: skip)")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().getrandbits(32)
    print("command: %s" % " ".join([os.path.relpath(sys.executable, REPO)] + sys.argv))

    if args.kills:
        stats = test_store_crash.crash_loop(args.kills, seed)
        print("crash loop: %d kills passed every check in %.1f s" % (stats.kills, stats.run_s))

    upy = test_store_crash.micropython()
    if args.lfs_ops:
        started = time.monotonic()
        cuts = power_cut_sweep(upy, args.lfs_ops)
        print(
            "LittleFS power cuts: all %d cut points of a %d-operation workload passed in %.1f s"
            % (cuts, args.lfs_ops, time.monotonic() - started)
        )

    shm = ["/dev/shm"] if os.path.isdir("/dev/shm") else []
    folders = args.dir or [tempfile.gettempdir()] + shm
    for root in folders:
        result = timings(upy, root, args.ops)
        print(
            "\nMicroPython unix port, store in %s (%d calls each, %d-byte payloads):"
            % (root, result["count"], result["payload_bytes"])
        )
        rows = (
            ("Ring.append, median", "ring_append_us", "us"),
            ("AtomicRecord.write, median", "record_write_us", "us"),
            ("AtomicRecord.read, median", "record_read_us", "us"),
            ("Counter.next block=1, median", "counter_next_block1_us", "us"),
            ("Counter.next block=16, median", "counter_next_block16_us", "us"),
            ("Ring open, 4 x 4096 B full", "ring_open_full_us", "us"),
            ("  heap allocated by that open", "ring_open_alloc_bytes", "B"),
            ("Ring.records(), all %d held" % result["ring_records_held"], "ring_read_all_us", "us"),
            ("heap allocated by one append", "ring_append_alloc_bytes", "B"),
        )
        for label, key, unit in rows:
            print("  %-36s %8d %s" % (label, result[key], unit))
    print("\nLittleFS on emulated flash (4096-byte blocks), flash operations per call:")
    for label, name in (
        ("Ring.append", "ring_append"),
        ("AtomicRecord.write", "record_write"),
        ("Counter.next block=1", "counter_next_block1"),
        ("Counter.next block=16", "counter_next_block16"),
    ):
        programs, erases = result["lfs_%s_programs" % name], result["lfs_%s_erases" % name]
        print("  %-36s %6.2f programs %6.2f erases" % (label, programs, erases))


if __name__ == "__main__":
    main()
