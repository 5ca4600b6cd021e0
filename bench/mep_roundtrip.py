#!/usr/bin/env python3
# MEP round trip: the MEP device reads the real-time table (BT28) from the running meter
# firmware (metrology and all its tasks) over a socat pty pair, both under the MicroPython
# unix port. Run by hand (CPython):
#
#   .venv/bin/python bench/mep_roundtrip.py [--reads 300] [--baud 9600]
#
# A pty moves bytes without line timing, so the measured round trip is the time both ends
# and the OS take beyond the wire. On a 9600-baud UART the exchange takes its wire time
# (10 bits per byte, 8N1, both frames) plus that overhead; the ratio printed is
# (wire + measured) / wire, against the target of 1.2. Results: docs/performance.md (MEP).

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import mep_sim
import repo_paths

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

UPY = os.path.join(REPO, ".venv", "bin", "micropython")


def main(argv=None):
    p = argparse.ArgumentParser(description="MEP real-time table round trip over a pty")
    p.add_argument("--reads", type=int, default=300)
    p.add_argument("--baud", type=int, default=9600)
    args = p.parse_args(argv)
    root = tempfile.mkdtemp(prefix="mep-bench-")
    link = mep_sim.SocatLink(root)
    mep_sim.provision_mep_key([root + "/meter", root + "/probe"])
    cfg = {"app": "meter", "meter_id": "12345678", "log_level": "warn",
           "board": {"console": "json", "storage_dir": root + "/meter", "mep_uart": "pty:" + link.a_path}}
    with open(root + "/meter.json", "w") as f:
        json.dump(cfg, f)
    meter = subprocess.Popen([UPY, "-X", "heapsize=512K", "boards/host/main.py", "--config", root + "/meter.json"],
                             cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)  # boot
        done = subprocess.run([UPY, "-X", "heapsize=512K", "host_tests/mep_probe.py", link.b_path, root + "/probe",
                               "bench", str(args.reads)], cwd=REPO, capture_output=True, text=True, timeout=600,
                              env=repo_paths.micropython_env())
        result = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode or not result:
            sys.exit("probe failed:\n" + done.stdout + done.stderr)
        r = result[-1]
    finally:
        meter.send_signal(signal.SIGINT)
        meter.wait(10)
        link.close()
    wire_ms = (r["request_bytes"] + r["response_bytes"]) * 10 * 1000 / args.baud
    for name in ("median_us", "p95_us", "max_us"):
        measured_ms = r[name] / 1000
        print("%-9s pty round trip %6.2f ms; wire %6.2f ms (%d + %d bytes at %d baud); on the wire %.3f x wire time"
              % (name[:-3], measured_ms, wire_ms, r["request_bytes"], r["response_bytes"], args.baud,
                 (wire_ms + measured_ms) / wire_ms))
    print("reads %d, timeouts %d" % (r["reads"], r["timeouts"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
