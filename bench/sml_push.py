# SML push benchmark: build one push file (PublicOpen.Res, GetList.Res, PublicClose.Res,
# transport and CRCs) in the meter's preallocated buffer, locked (totals only) and
# unlocked (2 tariffs, power, voltage, current, frequency). Run under either interpreter:
#
#   MICROPYPATH=$(python3 tools/repo_paths.py micropython) \
#       .venv/bin/micropython -X heapsize=512K bench/sml_push.py   # the device code path
#   .venv/bin/python bench/sml_push.py
#
# Prints one JSON line: bytes per file, median and best µs per build over --runs batches,
# heap bytes allocated per build (MicroPython: gc.mem_alloc with the collector off) for
# the build alone and with the float readings scaled to integers as the meter does, and
# the share of a 9600-baud 8N1 line (10 bits per byte) one push a second takes.

import sys
import gc
import json

import rt
from sml import messages as M
from sml.push import PushFile

BATCH = 50
RUNS = 21


class Readings:
    vrms = 230.4
    irms = 5.25
    p_w = 1208.6
    freq_hz = 49.98


def scale(p, r):
    """As firmware/meter/sml.py fill() does for the detailed values."""
    p.power_dw = round(r.p_w * 10)
    p.voltage_dv = round(r.vrms * 10)
    p.current_ca = round(r.irms * 100)
    p.frequency_chz = round(r.freq_hz * 100)


def per_build_us(p, detailed):
    times = []
    for _ in range(RUNS):
        t0 = rt.ticks_us()
        for k in range(BATCH):
            p.build(k, detailed)
        times.append(rt.ticks_diff(rt.ticks_us(), t0) / BATCH)
    times.sort()
    return round(times[len(times) // 2], 1), round(times[0], 1)


def allocated(fn):
    if not hasattr(gc, "mem_alloc"):
        return None
    fn()
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    for _ in range(BATCH):
        fn()
    used = gc.mem_alloc() - before
    gc.enable()
    return used // BATCH


def main():
    p = PushFile(M.server_id("QQQ", 12345678, 1), "QQQ", tariffs=2)
    p.import_wh = 5_000_000_123
    p.export_wh = 4321
    p.tariff_wh[0] = 4_998_000_000
    p.tariff_wh[1] = 2_000_123
    r = Readings()
    scale(p, r)
    out = {"interpreter": sys.implementation.name}
    for name, detailed in (("locked", False), ("unlocked", True)):
        n = p.build(1, detailed)
        median, best = per_build_us(p, detailed)
        out[name] = {
            "bytes": n,
            "build_us_median": median,
            "build_us_best": best,
            "alloc_bytes_build": allocated(lambda: p.build(2, detailed)),
            "line_share_9600_at_1s": round(n * 10 / 9600, 4),
        }
    def scaled_build():
        scale(p, r)
        p.build(3, True)

    out["unlocked"]["alloc_bytes_with_scaling"] = allocated(scaled_build)
    print(json.dumps(out))


main()
