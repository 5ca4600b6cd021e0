#!/usr/bin/env python3
# Device figures from instruction counts: the 32-bit bare-metal MicroPython under qemu
# (../shared/tools/upy32, --icount: one guest instruction per ns of virtual time, so the
# counts are deterministic) for one mode 7 telegram, one M-Bus decode (median and worst
# corpus frame), one second of metrology at 4 kS/s, one authenticated command (STATUS,
# with its flash writes to LittleFS in RAM) and one ECDSA P-256 verify, on armv6m (the
# RP2040's instruction set) and armv7m (a stand-in for the ESP32's Xtensa).
#
#   .venv/bin/python bench/device32.py [--cpi 1.5]
#
# Times on a device: instructions x cycles per instruction / clock (RP2040 133 MHz, ESP32
# 240 MHz), with --cpi cycles per instruction (see docs/performance.md for the assumption).

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import meter32  # bench/, this script's folder (finds upy32, qemu and mpy-cross the same way)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CORPUS = os.path.join(REPO, "host_tests", "data", "mbus-corpus", "test-frames")
WORKLOADS = ("telegram", "decode", "metrology", "command", "verify")
CLOCKS_MHZ = {"armv6m": ("RP2040", 133), "armv7m": ("ESP32", 240)}


def ecdsa_vector(path):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, Prehashed
    from cryptography.hazmat.primitives import serialization
    import hashlib

    key = ec.generate_private_key(ec.SECP256R1())
    digest = hashlib.sha256(b"bundle head").digest()
    r, s = decode_dss_signature(key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256()))))
    pub = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    with open(path, "w") as f:
        json.dump({"key": pub.hex(), "digest": digest.hex(), "sig": (r.to_bytes(32, "big") + s.to_bytes(32, "big")).hex()}, f)


def run(arch, workload, folder):
    args = {"decode": ["/rom/frames"], "verify": ["/rom/vector.json"]}.get(workload, [])
    argv = [meter32.UPY32, "run", "--icount", "--arch", arch, "--heap", "256K",
            "--path", os.path.join(REPO, "bench", "device32"), "--path", os.path.join(REPO, "lib"),
            "--path", os.path.join(REPO, "firmware"), "--path", folder,
            os.path.join(folder, "run.py"), workload] + args
    done = subprocess.run(argv, capture_output=True, text=True, env=dict(os.environ, MPY_CROSS=meter32.mpy_cross()))
    if done.returncode:
        raise SystemExit("%s %s failed: %s" % (arch, workload, (done.stdout + done.stderr)[-800:]))
    found = {}
    for line in done.stdout.splitlines():
        if line.startswith("icount "):
            words = line.split()
            found[words[1]] = (int(words[2]), " ".join(words[3:]))
    return found


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--cpi", type=float, default=1.5, help="cycles per instruction for the device times")
    p.add_argument("--arch", action="append", choices=("armv6m", "armv7m"))
    p.add_argument("--only", action="append", choices=WORKLOADS)
    a = p.parse_args(argv)
    why = meter32.missing()
    if why:
        print("device32: skipped: " + why)
        return 0
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        os.mkdir(os.path.join(folder, "frames"))
        for name in os.listdir(CORPUS):
            if name.endswith(".hex"):
                shutil.copy(os.path.join(CORPUS, name), os.path.join(folder, "frames"))
        shutil.copy(os.path.join(REPO, "host_tests", "secfix.py"), folder)
        ecdsa_vector(os.path.join(folder, "vector.json"))
        with open(os.path.join(folder, "run.py"), "w") as f:
            f.write("import workloads\nworkloads.main()\n")
        for arch in a.arch or ("armv6m", "armv7m"):
            for w in a.only or WORKLOADS:
                for name, value in run(arch, w, folder).items():
                    results.setdefault(name, {})[arch] = value
    print("| workload | armv6m instructions | RP2040 133 MHz | armv7m instructions | ESP32 240 MHz |")
    print("|---|---|---|---|---|")
    for name, per in results.items():
        cells = []
        for arch in ("armv6m", "armv7m"):
            if arch not in per:
                cells += ["", ""]
                continue
            n, note = per[arch]
            if name == "mbus_decode_frames":
                cells += [str(n), ""]
                continue
            mhz = CLOCKS_MHZ[arch][1]
            ms = n * a.cpi / mhz / 1000
            cells += ["{:,}".format(n) + (" (%s)" % note if note else ""), "%.3g ms" % ms]
        print("| %s | %s |" % (name, " | ".join(cells)))
    print(json.dumps({k: {arch: v[0] for arch, v in per.items()} for k, per in results.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
