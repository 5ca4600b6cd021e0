#!/usr/bin/env python3
# Metrology benchmark: cost per sample pair of the hot loop under the MicroPython unix
# port (the viper kernel and the bytecode twin) beside the same algorithm in C compiled
# here with gcc -O2, and the whole metrology (hot loop plus per-period maths) as a share
# of one core at 4 kS/s per channel. Run by hand (CPython drives, MicroPython measures):
#
#   .venv/bin/python bench/metrology_kernels.py [--rounds 7] [--pairs 4000]
#
# Each round runs every contender once, one after the other, so the ratios come from
# the same moments of this shared, noisy machine; the medians over rounds are reported.
# Without gcc the C column is skipped (reported as null). Results: docs/performance.md.
#
# Under MicroPython with "inner" as first argument the script measures and prints JSON.

import json  # both interpreters
import sys

_C_SOURCE = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* The kernel of lib/metrology/twin.py, the wide (32-bit word, 24-bit count) path. */
#define ACC(l, h, x) do { l += (x); h += l >> 24; l &= 0xFFFFFF; } while (0)
static int32_t st[50];

static int run(const int32_t *buf, int start, int stop, int32_t *s) {
    int32_t n = s[0], target = s[1], limit = s[2], zero = s[3], shift = s[4];
    int32_t half = (1 << shift) >> 1, pv = s[5], pi = s[6];
    int32_t l[12], h[12];
    for (int k = 0; k < 12; k++) { l[k] = s[9 + 2 * k]; h[k] = s[10 + 2 * k]; }
    int32_t offset = s[33], hyst = s[34], mingap = s[35], armed = s[36], cand = s[37];
    int32_t ca = s[38], cb = s[39], since = s[40], cycles = s[41], glitches = s[48];
    int j = start;
    s[49] = 0;
    while (j < stop) {
        int32_t rv = ((buf[2 * j] & 0xFFFFFF) ^ 0x800000) - 0x800000;
        int32_t ri = ((buf[2 * j + 1] & 0xFFFFFF) ^ 0x800000) - 0x800000;
        int32_t v = (rv - zero + half) >> shift, i = ri - zero;
        int32_t ih = i >> 10, il = i & 0x3FF, pih = pi >> 10, pil = pi & 0x3FF;
        ACC(l[0], h[0], v); ACC(l[1], h[1], i); ACC(l[2], h[2], v * v);
        ACC(l[3], h[3], ih * ih); ACC(l[4], h[4], ih * il); ACC(l[5], h[5], il * il);
        ACC(l[6], h[6], v * ih); ACC(l[7], h[7], v * il); ACC(l[8], h[8], v * pih);
        ACC(l[9], h[9], v * pil); ACC(l[10], h[10], pv * ih); ACC(l[11], h[11], pv * il);
        int32_t x = v - offset, px = pv - offset;
        pv = v; pi = i; n++; since++; j++;
        if (cand) {
            if (x >= 0) {
                if (++cand == 3) {
                    cand = 0; armed = 0;
                    if (since >= mingap) {
                        since = 0; cycles++; s[44] = ca; s[45] = cb;
                        if (n >= target) { s[49] = 1; s[46] = 1; break; }
                    } else glitches++;
                }
            } else { cand = 0; glitches++; }
        } else if (armed) {
            if (x >= 0) { cand = 1; ca = px; cb = x; }
        } else if (x < -hyst) armed = 1;
        if (n >= limit) { s[49] = 1; s[46] = 0; break; }
    }
    s[0] = n; s[5] = pv; s[6] = pi;
    for (int k = 0; k < 12; k++) { s[9 + 2 * k] = l[k]; s[10 + 2 * k] = h[k]; }
    s[36] = armed; s[37] = cand; s[38] = ca; s[39] = cb; s[40] = since; s[41] = cycles; s[48] = glitches;
    return j;
}

int main(int argc, char **argv) {
    int pairs = atoi(argv[1]), reps = atoi(argv[2]);
    int32_t *buf = malloc(8 * pairs);
    FILE *f = fopen(argv[3], "rb");
    if (!f || fread(buf, 8, pairs, f) != (size_t)pairs) return 2;
    fclose(f);
    struct timespec a, b;
    long best = -1, sink = 0;
    for (int r = 0; r < reps; r++) {
        for (int k = 0; k < 50; k++) st[k] = 0;
        st[1] = 1 << 30; st[2] = 1 << 30; st[4] = 9; st[34] = 8; st[35] = 50;
        clock_gettime(CLOCK_MONOTONIC, &a);
        int at = 0;
        while (at < pairs) at = run(buf, at, pairs, st);
        clock_gettime(CLOCK_MONOTONIC, &b);
        long ns = (b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec);
        if (best < 0 || ns < best) best = ns;
        sink += st[9] + st[41];
    }
    printf("{\"c_ns_per_pair\": %.3f, \"sink\": %ld}\n", (double)best / pairs, sink);
    return 0;
}
"""


def _inner(pairs, sample_path):
    # MicroPython side: best of several passes over the same samples, per kernel, and the
    # whole Engine (kernel + per-period maths) per second of signal at 4 kS/s.
    import time
    from array import array

    from metrology import kernel as K
    from metrology.maths import Engine

    buf = array("i", bytes(8 * pairs))
    with open(sample_path, "rb") as f:
        f.readinto(buf)
    out = {}
    for name in ("viper", "twin"):
        try:
            K.use(name)
        except KeyError:
            out[name + "_ns_per_pair"] = None
            continue
        run = K.run
        best = None
        for _ in range(5 if name == "viper" else 2):
            eng = Engine(4000, 1 << 29, 1.432e-4, 1.788e-5, adc_bits=24)
            state = eng.state
            t0 = time.ticks_us()
            at = 0
            while at < pairs:
                at = run(buf, at, pairs, state, 1)
            dt = time.ticks_diff(time.ticks_us(), t0)
            best = dt if best is None or dt < best else best
        out[name + "_ns_per_pair"] = best * 1000 / pairs
    # Whole metrology: blocks of 400 pairs, 1 s periods, as the meter runs it.
    K.use("viper" if out["viper_ns_per_pair"] is not None else "twin")
    eng = Engine(4000, 4000, 1.432e-4, 1.788e-5, adc_bits=24)
    view = memoryview(buf)
    seconds = pairs / 4000
    best = None
    for _ in range(5):
        t0 = time.ticks_us()
        for at in range(0, pairs - 399, 400):
            eng.add_block(view[2 * at:2 * at + 800], 400)
        dt = time.ticks_diff(time.ticks_us(), t0)
        best = dt if best is None or dt < best else best
    out["engine_us_per_signal_s"] = best / seconds
    out["kernel"] = K.NAME
    out["periods"] = eng.readings.periods
    print(json.dumps(out))


def _median(values):
    values = sorted(v for v in values if v is not None)
    return values[len(values) // 2] if values else None


def main():
    import argparse
    import os
    import shutil
    import subprocess
    import tempfile

    import repo_paths
    import synth

    repo = repo_paths.REPO

    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--pairs", type=int, default=40000)
    args = ap.parse_args()
    upy = os.path.join(repo, ".venv", "bin", "micropython")
    tmp = tempfile.mkdtemp(prefix="bench-metrology-")
    try:
        buf = synth.wave(args.pairs, bits=24, phi_deg=30.0, v_dc=3000, noise=50, freq_hz=49.9)
        sample_path = os.path.join(tmp, "samples.bin")
        with open(sample_path, "wb") as f:
            f.write(buf.tobytes())
        c_exe = None
        gcc = shutil.which("gcc")
        if gcc:
            src = os.path.join(tmp, "kernel.c")
            with open(src, "w") as f:
                f.write(_C_SOURCE)
            c_exe = os.path.join(tmp, "kernel")
            if subprocess.run([gcc, "-O2", "-o", c_exe, src]).returncode != 0:
                c_exe = None
        rows = []
        for _ in range(args.rounds):
            row = {}
            if c_exe:
                done = subprocess.run([c_exe, str(args.pairs), "20", sample_path], capture_output=True, text=True)
                row.update(json.loads(done.stdout))
            done = subprocess.run([upy, "-X", "heapsize=4M", os.path.abspath(__file__), "inner", str(args.pairs),
                                   sample_path], capture_output=True, text=True, env=repo_paths.micropython_env())
            if done.returncode != 0:
                sys.exit("micropython failed: " + done.stderr + done.stdout)
            row.update(json.loads(done.stdout))
            rows.append(row)
        c = _median([r.get("c_ns_per_pair") for r in rows])
        viper = _median([r["viper_ns_per_pair"] for r in rows])
        twin = _median([r["twin_ns_per_pair"] for r in rows])
        engine = _median([r["engine_us_per_signal_s"] for r in rows])
        report = {
            "pairs": args.pairs,
            "rounds": args.rounds,
            "c_gcc_O2_ns_per_pair": c,
            "viper_ns_per_pair": viper,
            "twin_bytecode_ns_per_pair": twin,
            "viper_over_c": viper / c if c and viper else None,
            "twin_over_viper": twin / viper if twin and viper else None,
            "whole_metrology_us_per_signal_s": engine,
            "cpu_share_percent_at_4ksps": engine / 1e6 * 100 if engine else None,
        }
        print(json.dumps(report, indent=1))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "inner":
        _inner(int(sys.argv[2]), sys.argv[3])
    else:
        main()
