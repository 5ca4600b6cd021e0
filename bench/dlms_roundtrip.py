#!/usr/bin/env python3
# DLMS/COSEM figures. Run by hand (CPython):
#
#   .venv/bin/python bench/dlms_roundtrip.py [--reads 200] [--baud 9600]
#
# 1. Round trips over HDLC on a socat pty pair against the meter's DLMS server under the
#    MicroPython unix port (host_tests/dlms_meter.py), driven by the unmodified Gurux
#    client: one register GET, and the 96-row load profile of a day (by range, in HDLC
#    segments of 128 bytes with the client's RR between them, no security), and the register
#    GET again by the management client (ciphered both ways). A pty has no
#    line timing: the time from a request's first byte to its answer's last byte is the
#    overhead both ends add; at 9600 baud 8N1 the exchange takes its wire time (10 bits a
#    byte, every frame both ways) plus that. Printed: (wire + measured) / wire, goal 1.2.
# 2. Under MicroPython (bench/dlms_upy.py): GCM per APDU and the heap the server adds.
# Results: docs/performance.md (DLMS).

import argparse
import datetime
import os
import shutil
import statistics
import subprocess
import tempfile
import time

import repo_paths
from dlms_gurux import GuruxReader
from gurux_dlms.objects import GXDLMSRegister, GXDLMSProfileGeneric

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UPY = os.path.join(REPO, ".venv", "bin", "micropython")
CORPUS = os.path.join(os.path.dirname(REPO), "shared", "data", "mbus-corpus")
START_S = 1_780_000_000


class Timed(GuruxReader):
    """Counts the bytes of each exchange and the time from sending to the answer's end."""

    def _packet(self, data, reply):
        start = time.perf_counter()
        sent = len(data) if data is not None else 0
        recv = self.io.recv

        def counting(timeout_s):
            got = recv(timeout_s)
            self.received += len(got)
            return got

        self.io.recv = counting
        try:
            super()._packet(data, reply)
        finally:
            self.io.recv = recv
        self.elapsed += time.perf_counter() - start
        self.sent += sent

    def reset(self):
        self.elapsed = 0.0
        self.sent = 0
        self.received = 0


def measure(reader, action, baud):
    reader.reset()
    action()
    wire_s = (reader.sent + reader.received) * 10 / baud
    return (wire_s + reader.elapsed) / wire_s, reader.sent + reader.received, reader.elapsed


def main(argv=None):
    p = argparse.ArgumentParser(description="DLMS round trips over HDLC on a pty")
    p.add_argument("--reads", type=int, default=200)
    p.add_argument("--baud", type=int, default=9600)
    args = p.parse_args(argv)
    root = tempfile.mkdtemp(prefix="dlms-bench-")
    socat = subprocess.Popen(["socat", "pty,raw,echo=0,link=%s/m" % root, "pty,raw,echo=0,link=%s/c" % root],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not (os.path.exists(root + "/m") and os.path.exists(root + "/c")):
        time.sleep(0.01)
    from secfix import provisioned

    device, head = provisioned(root + "/meter", START_S)  # the DLMS keys for the management client
    device.close()
    keys = (head.keys["dlms_ek"], head.keys["dlms_ak"])
    meter = subprocess.Popen([UPY, "-X", "heapsize=512K", os.path.join(REPO, "host_tests", "dlms_meter.py"),
                              root + "/meter", root + "/m", str(START_S), CORPUS], stdout=subprocess.PIPE, text=True,
                             env=repo_paths.micropython_env())
    try:
        while not meter.stdout.readline().startswith("ready"):
            pass
        r = Timed(pty=root + "/c", physical=17)
        r.reset()
        r.connect()
        reg = GXDLMSRegister("1.0.1.8.0.255")
        r.read(reg, 3)
        ratios = []
        for _ in range(args.reads):
            ratio, size, _ = measure(r, lambda: r.read(reg, 2), args.baud)
            ratios.append(ratio)
        print("register GET (%d bytes both ways): median %.3f x wire time at %d baud, worst %.3f (%d reads)"
              % (size, statistics.median(ratios), args.baud, max(ratios), len(ratios)))
        pg = GXDLMSProfileGeneric("1.0.99.1.0.255")
        r.read(pg, 3)
        day = (datetime.datetime(2026, 5, 27, tzinfo=datetime.timezone.utc),
               datetime.datetime(2026, 5, 27, 23, 59, 59, tzinfo=datetime.timezone.utc))
        ratios = []
        for _ in range(max(3, args.reads // 20)):
            ratio, size, took = measure(r, lambda: r.rows_by_range(pg, *day), args.baud)
            assert len(pg.buffer) == 96, len(pg.buffer)
            ratios.append(ratio)
        print("96-row profile by range (%d bytes both ways, %.2f s on the wire): median %.3f x wire time, "
              "worst %.3f (%d reads)" % (size, size * 10 / args.baud, statistics.median(ratios), max(ratios),
                                         len(ratios)))
        r.close()
        r = Timed(pty=root + "/c", physical=17, client=1, keys=keys, invocation_counter=1)
        r.reset()
        r.connect()
        r.read(reg, 3)
        ratios = []
        for _ in range(args.reads):
            ratio, size, _ = measure(r, lambda: r.read(reg, 2), args.baud)
            ratios.append(ratio)
        print("register GET, management client (HLS-GMAC, AES-GCM both ways, %d bytes): median %.3f x wire "
              "time, worst %.3f (%d reads)" % (size, statistics.median(ratios), max(ratios), len(ratios)))
        r.close()
    finally:
        meter.terminate()
        meter.wait(timeout=30)
        socat.terminate()
        socat.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)
    out = subprocess.run([UPY, "-X", "heapsize=512K", os.path.join(REPO, "bench", "dlms_upy.py"), CORPUS],
                         capture_output=True, text=True, timeout=600, env=repo_paths.micropython_env())
    print(out.stdout.strip() or out.stderr.strip())


if __name__ == "__main__":
    main()
