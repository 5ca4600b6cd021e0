#!/usr/bin/env python3
# Cost of the security layer on the MicroPython unix port: one authenticated command
# handled end to end (parse, permission, MAC, counter written to flash, act, MAC'd reply)
# beside its parts, RFC 3394 wrap/unwrap, and a device-log append.
#
#   .venv/bin/python bench/security_costs.py [--dir DIR] [--n 200]
#
# Run with CPython it re-runs itself under the unix port next to it; medians in µs, one
# JSON line. Results: docs/performance.md.

import sys
import os
import json
import time

from secfix import provisioned, T0
from security import keys as K
from security import commands as C
from crypto.keywrap import wrap, unwrap
from crypto.cmac import CMAC

_script = __file__ if __file__.startswith("/") else os.getcwd() + "/" + __file__
REPO = _script.rsplit("/", 2)[0]

if not hasattr(sys, "implementation") or sys.implementation.name != "micropython":
    import argparse
    import subprocess
    import tempfile

    p = argparse.ArgumentParser()
    p.add_argument("--dir", default=None, help="storage folder (default: a temporary one under /tmp)")
    p.add_argument("--n", type=int, default=200)
    a = p.parse_args()
    import repo_paths

    upy = os.path.join(os.path.dirname(sys.executable), "micropython")
    with tempfile.TemporaryDirectory(dir=a.dir) as d:
        sys.exit(subprocess.call([upy, "-X", "heapsize=512K", _script, d, str(a.n)], env=repo_paths.micropython_env()))


def median_us(fn, n):
    times = []
    for i in range(n):
        t0 = time.ticks_us()
        fn(i)
        times.append(time.ticks_diff(time.ticks_us(), t0))
    times.sort()
    return times[n // 2]


def main():
    folder, n = sys.argv[1], int(sys.argv[2])
    device, head = provisioned(folder + "/dev")
    frames = [head.command(K.ADMIN, C.STATUS, T0)[0] for _ in range(n)]
    sets = [head.command(K.ADMIN, C.READ_LOG, T0, C.read_log_payload("system", 0, 1))[0] for _ in range(n)]
    key = device.store.get(K.ADMIN)
    mac = CMAC(C.mac_key(key, False))
    kek = b"k" * 16
    new = b"n" * 16
    wrapped = wrap(kek, new)
    results = {
        "status_command_us": median_us(lambda i: device.commands.handle(frames[i]), n),
        "read_log_command_us": median_us(lambda i: device.commands.handle(sets[i]), n),
        "replayed_command_us": median_us(lambda i: device.commands.handle(frames[0]), n),
        "bad_mac_us": median_us(lambda i: device.commands.handle(frames[0][:-1] + b"\x00"), n),
        "cmac_30_bytes_us": median_us(lambda i: mac.digest(frames[0][:30]), n),
        "keystore_get_us": median_us(lambda i: device.store.get(K.ADMIN), n),
        "keywrap_wrap_us": median_us(lambda i: wrap(kek, new), n),
        "keywrap_unwrap_us": median_us(lambda i: unwrap(kek, wrapped), n),
        "log_append_us": median_us(lambda i: device.logs.consumer.append("access", {"by": "mep", "i": i}), n),
    }
    device.close()
    print(json.dumps(results))


main()
