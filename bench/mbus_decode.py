#!/usr/bin/env python3
# Wired M-Bus decoder speed and heap: corpus frames decoded per second by the
# firmware's decoder under the MicroPython unix port and under CPython, beside
# pyMeterBus 0.8.5 under CPython, as ratios from one run; and the heap one
# decode allocates under MicroPython (gc.mem_alloc() delta with the collector
# off).
#
#   .venv/bin/python bench/mbus_decode.py [--seconds 2] [--rounds 3]
#
# Frames: the corpus test frames (host_tests/data/mbus-corpus/test-frames). The
# pyMeterBus comparison uses the frames it can decode (it rejects CI 0x73) on
# both sides, and reads every record's value and unit (pyMeterBus computes them
# lazily; ours are computed during the decode). Each figure is the best of
# --rounds timed loops of about --seconds each: the machine is shared, so the
# best round is the least disturbed one. This script is also the MicroPython
# child (run with --child).

import sys
import time

_script = __file__ if __file__.startswith("/") else None
if _script is None:
    import os
    _script = os.getcwd() + "/" + __file__
REPO = _script.rsplit("/", 2)[0]
FRAMES = REPO + "/host_tests/data/mbus-corpus/test-frames/"


def _now():
    return time.time()


def load_frames(names=None):
    import os
    out = []
    for name in sorted(os.listdir(FRAMES)):
        if names is not None and name not in names:
            continue
        with open(FRAMES + name) as f:
            out.append((name, bytes(int(tok, 16) for tok in f.read().split())))
    return out


def rate(decode, frames, seconds, rounds):
    """Best frames/s over rounds loops of about seconds each."""
    best = 0.0
    for _ in range(rounds):
        n = 0
        t0 = _now()
        while True:
            for _, buf in frames:
                decode(buf)
            n += len(frames)
            elapsed = _now() - t0
            if elapsed >= seconds:
                break
        best = max(best, n / elapsed)
    return best


def heap_per_decode(frames):
    """Bytes allocated per decode (mean, max) under MicroPython."""
    import gc
    from mbus.decode import decode_frame
    total = 0
    worst = 0
    for _, buf in frames:
        gc.collect()
        gc.disable()
        before = gc.mem_alloc()
        decode_frame(buf)
        used = gc.mem_alloc() - before
        gc.enable()
        total += used
        worst = max(worst, used)
    return total // len(frames), worst


def child(argv):
    # micropython bench/mbus_decode.py --child SECONDS ROUNDS [NAME...]
    seconds = float(argv[0])
    rounds = int(argv[1])
    import gc
    gc.collect()
    before = gc.mem_alloc()
    from mbus.decode import decode_frame
    gc.collect()
    imported = gc.mem_alloc() - before
    frames = load_frames(set(argv[2:]) if len(argv) > 2 else None)
    mean, worst = heap_per_decode(frames)
    fps = rate(decode_frame, frames, seconds, rounds)
    print("%.1f %d %d %d %d" % (fps, mean, worst, len(frames), imported))


def _pymeterbus_decode(buf):
    import meterbus
    records = meterbus.load(buf).body.bodyPayload.records
    for r in records:
        try:
            r.value
            r.unit
        except Exception:   # unknown VIFs raise on access
            pass


def _pymeterbus_names(frames):
    names = []
    for name, buf in frames:
        try:
            _pymeterbus_decode(buf)
        except Exception:
            continue
        names.append(name)
    return names


def _upy(seconds, rounds, names):
    import subprocess
    import repo_paths
    upy = REPO + "/.venv/bin/micropython"
    out = subprocess.run([upy, "-X", "heapsize=512K", _script, "--child", str(seconds),
                          str(rounds)] + names, capture_output=True, text=True, check=True,
                         env=repo_paths.micropython_env()).stdout
    fps, mean, worst, count, imported = out.split()
    return float(fps), int(mean), int(worst), int(count), int(imported)


def main(argv):
    import argparse
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    from mbus.decode import decode_frame
    frames = load_frames()
    names = _pymeterbus_names(frames)
    common = [f for f in frames if f[0] in names]
    upy_all = _upy(args.seconds, args.rounds, [])
    upy_common = _upy(args.seconds, args.rounds, names)
    ours_all = rate(decode_frame, frames, args.seconds, args.rounds)
    ours_common = rate(decode_frame, common, args.seconds, args.rounds)
    theirs = rate(_pymeterbus_decode, common, args.seconds, args.rounds)
    print("frames: %d corpus test frames; %d that pyMeterBus decodes" % (len(frames), len(common)))
    print("%-44s %10s %8s" % ("decoder (frames pyMeterBus decodes)", "frames/s", "ratio"))
    print("%-44s %10.0f %8.2f" % ("pyMeterBus 0.8.5, CPython", theirs, 1.0))
    print("%-44s %10.0f %8.2f" % ("ours, MicroPython unix port", upy_common[0], upy_common[0] / theirs))
    print("%-44s %10.0f %8.2f" % ("ours, CPython", ours_common, ours_common / theirs))
    print("all %d frames: ours MicroPython %.0f/s, ours CPython %.0f/s" % (
        len(frames), upy_all[0], ours_all))
    print("heap per decode (MicroPython, 64-bit unix port): mean %d B, max %d B over %d frames" % (
        upy_all[1], upy_all[2], upy_all[3]))
    print("heap held after importing mbus.decode (frame, errors, vif, decode; from .py): %d B"
          % upy_all[4])


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
    else:
        main(sys.argv[1:])
