#!/usr/bin/env python3
# OTA costs on the MicroPython unix port: ECDSA P-256 verification (crypto/ecdsa.py), with
# the offline table for G and without it, the heap it allocates, and the SHA-256 throughput
# of the streaming check (ota/receiver.py writing a bundle into a slot) beside hashlib alone.
#
#   .venv/bin/python bench/ota_verify.py [--rounds 60] [--heap 512K]
#
# Figures are medians, measured in one run so that they compare as ratios on a shared
# machine. Results: docs/performance.md, section "OTA".

import argparse
import os
import subprocess
import sys
import tempfile

import repo_paths

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOTAL_BYTES = 512 * 1024
MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")

INNER = r"""
import sys, gc, time, hashlib, json
from binascii import unhexlify
REPO = sys.argv[1]
ROUNDS = int(sys.argv[2])
SCRATCH = sys.argv[3:]
from crypto import ecdsa, p256_table

if ROUNDS == 0:  # allocation only (run with a large heap: the collector stays off for one verify)
    with open(REPO + "/host_tests/data/ota/test-anchor.pub", "rb") as f:
        key = f.read()
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    ecdsa.verify(key, bytes(32), bytes(range(1, 65)))
    print(json.dumps({"verify_alloc_bytes": gc.mem_alloc() - before}))
    sys.exit(0)

def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]

def timed(f, rounds):
    out = []
    for _ in range(rounds):
        t = time.ticks_us()
        f()
        out.append(time.ticks_diff(time.ticks_us(), t))
    return median(out)

with open(REPO + "/host_tests/data/crypto/crypto-vectors.json") as f:
    vectors = json.load(f)["ecdsa_p256_sha256"]["vectors"]
cases = []
for v in vectors:
    if v["expect"] == "valid":
        cases.append((unhexlify(v["public_key"]), hashlib.sha256(unhexlify(v["msg"])).digest(), unhexlify(v["signature"])))
i = [0]
def one():
    k, d, s = cases[i[0] % len(cases)]
    i[0] += 1
    assert ecdsa.verify(k, d, s)

verify_us = timed(one, ROUNDS)
qx, qy = ecdsa.public_point(cases[0][0])
point_us = timed(lambda: ecdsa.verify_point(qx, qy, cases[0][1], cases[0][2]), ROUNDS)
pub_us = timed(lambda: ecdsa.public_point(cases[0][0]), ROUNDS)
inv_us = timed(lambda: pow(cases[0][2][0] | 1 << 200, ecdsa.N - 2, ecdsa.N), ROUNDS)

# Without the offline table: G's odd multiples for a width-5 NAF computed on every call.
saved = (ecdsa.G_POINTS, ecdsa.G_WINDOW)
def no_table():
    xs, ys, _ = ecdsa._odd_multiples(ecdsa.GX, ecdsa.GY, 8)
    ecdsa.G_POINTS = b"".join(x.to_bytes(32, "big") + y.to_bytes(32, "big") for x, y in zip(xs, ys))
    ecdsa.G_WINDOW = 5
    assert ecdsa.verify_point(qx, qy, cases[0][1], cases[0][2])
no_table_us = timed(no_table, ROUNDS)
ecdsa.G_POINTS, ecdsa.G_WINDOW = saved


# SHA-256: hashlib alone over 4 KiB chunks, and the receiver's streaming check into a slot.
chunk = bytearray(4096)
for j in range(4096):
    chunk[j] = j & 0xFF
TOTAL = 512 * 1024
def hash_only():
    h = hashlib.sha256()
    for _ in range(TOTAL // 4096):
        h.update(chunk)
    h.digest()
hash_us = timed(hash_only, 7)

from store.atomic import AtomicRecord
from ota.receiver import Receiver
import os
with open(REPO + "/host_tests/data/ota/test-anchor.pub", "rb") as f:
    anchor = f.read()
with open(REPO + "/host_tests/data/ota/v1.ota", "rb") as f:
    bundle = f.read()

def rm(path):
    try:
        entries = list(os.ilistdir(path))
    except OSError:
        return
    for e in entries:
        if e[1] == 0x4000:
            rm(path + "/" + e[0])
        else:
            os.remove(path + "/" + e[0])
    os.rmdir(path)

results = {"verify_us": verify_us, "verify_point_us": point_us, "public_point_us": pub_us, "inverse_mod_n_us": inv_us,
           "no_g_table_us": no_table_us,
           "hashlib_mb_s": TOTAL / hash_us, "bundle_bytes": len(bundle)}
for scratch in SCRATCH:
    root = scratch + "/otabench"
    def install():
        rm(root)
        AtomicRecord(root + "/keys/ota-anchor.pub").write(anchor)
        rx = Receiver(root, "host")
        off = rx.begin("b", len(bundle))
        while off < len(bundle):
            off = rx.write(off, memoryview(bundle)[off: off + 4096])
        rx.finish()
    results["install_us_" + scratch] = timed(install, 7)
    # The streaming check alone: one 512 KiB file through Receiver.write in 4 KiB chunks
    # (hash, write, flush, progress record per chunk), the signed head skipped.
    h = hashlib.sha256()
    for _ in range(TOTAL // 4096):
        h.update(chunk)
    digest = h.digest()
    def stream():
        rm(root)
        rx = Receiver(root, "host")
        rx.bundle_id = "s"
        rx.total = TOTAL
        rx.slot = "a"
        rx.manifest = {"files": [{"path": "big.bin", "size": TOTAL, "digest": digest}]}
        rx.prepare_target()
        rx._open_file()
        off = 0
        while off < TOTAL:
            off = rx.write(off, chunk)
        assert rx._file_index == 1
    results["stream_us_" + scratch] = timed(stream, 5)
    rm(root)
print(json.dumps(results))
"""


def main():
    p = argparse.ArgumentParser(description="OTA verification and hashing costs under the MicroPython unix port")
    p.add_argument("--rounds", type=int, default=60)
    p.add_argument("--heap", default="512K")
    a = p.parse_args()
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(INNER)
        inner = f.name
    scratch = [d for d in ("/dev/shm", "/tmp") if os.path.isdir(d)]
    try:
        done = subprocess.run([MICROPYTHON, "-X", "heapsize=" + a.heap, inner, REPO, str(a.rounds)] + scratch,
                              capture_output=True, text=True, timeout=600, env=repo_paths.micropython_env())
        if done.returncode:
            sys.exit(done.stdout + done.stderr)
        alloc = subprocess.run([MICROPYTHON, "-X", "heapsize=64M", inner, REPO, "0"],
                               capture_output=True, text=True, timeout=600, env=repo_paths.micropython_env())
        if alloc.returncode:
            sys.exit(alloc.stdout + alloc.stderr)
    finally:
        os.unlink(inner)
    import json

    r = json.loads(done.stdout.strip().splitlines()[-1])
    r.update(json.loads(alloc.stdout.strip().splitlines()[-1]))
    print("MicroPython unix port, -X heapsize=%s, medians of %d" % (a.heap, a.rounds))
    print("ECDSA P-256 verify (65-byte key parsed and checked each time): %.2f ms" % (r["verify_us"] / 1000))
    print("  of which the public key check:                          %.2f ms" % (r["public_point_us"] / 1000))
    print("  verify_point (key already checked):                     %.2f ms" % (r["verify_point_us"] / 1000))
    print("  one inverse mod n (pow):                                %.3f ms" % (r["inverse_mod_n_us"] / 1000))
    print("  without the offline G table (built per call, w=5):      %.2f ms (%.2fx)"
          % (r["no_g_table_us"] / 1000, r["no_g_table_us"] / r["verify_point_us"]))
    print("  heap allocated per verify (gc off, 64M heap):          %d bytes" % r["verify_alloc_bytes"])
    print("SHA-256, hashlib alone, 4 KiB updates:                     %.1f MB/s" % r["hashlib_mb_s"])
    for key in sorted(r):
        if key.startswith("install_us_"):
            us = r[key]
            print("streaming check, 512 KiB in 4 KiB chunks through Receiver.write on %s: %.1f MB/s (%.2fx hashlib alone)"
                  % (key[11:], TOTAL_BYTES / r["stream_us_" + key[11:]], (TOTAL_BYTES / r["stream_us_" + key[11:]]) / r["hashlib_mb_s"]))
            print("install of a %d-byte bundle into a slot on %s (verify, stream-hash, write, read back, switch): "
                  "%.1f ms = %.2f MB/s" % (r["bundle_bytes"], key[11:], us / 1000, r["bundle_bytes"] / us))


if __name__ == "__main__":
    main()
