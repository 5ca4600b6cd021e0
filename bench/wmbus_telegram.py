# LMN telegram benchmark: write the meter's records, encrypt (mode 7: two key derivations,
# AES-CBC), authenticate (AES-CMAC-8) and frame (format A CRCs) one typical telegram.
# Runs under either interpreter; compare the two in one sitting:
#
#   MICROPYPATH=$(python3 tools/repo_paths.py micropython) \
#       .venv/bin/micropython -X heapsize=512K bench/wmbus_telegram.py   # the device code path
#   .venv/bin/python bench/wmbus_telegram.py                         # same code, CPython + cryptography
#
# Prints one JSON line: median and best µs per telegram over --runs batches, heap bytes
# allocated per telegram (MicroPython only: gc.mem_alloc with the collector off), the
# telegram's size and the 3-of-6 coding time for T1 (what a CC1101 board adds).

import gc

import rt
from wmbus import builder, frame, parser, records

BATCH = 50
RUNS = 21
KEY = bytes(range(16))


class Readings:
    vrms = 230.4
    irms = 5.25
    p_w = 1208.6


def write_typical(buf):
    """The meter's record set (firmware/meter/lmn.py), without reactive energy: 59 bytes."""
    r = records
    pos = r.put_dif(buf, 0, r.INT32, r.VIF_ENERGY_WH)
    pos = r.put_int(buf, pos, 12345678, 4)
    pos = r.put_dif(buf, pos, r.INT32, r.VIF_ENERGY_WH_EXPORT)
    pos = r.put_int(buf, pos, 4321, 4)
    pos = r.put_dif(buf, pos, r.INT16, r.VIF_DATE_G, storage=1)
    pos = r.put_date_g(buf, pos, 2026, 11, 1)
    pos = r.put_dif(buf, pos, r.INT32, r.VIF_ENERGY_WH, storage=1)
    pos = r.put_int(buf, pos, 12000000, 4)
    pos = r.put_dif(buf, pos, r.INT32, r.VIF_ENERGY_WH_EXPORT, storage=1)
    pos = r.put_int(buf, pos, 4000, 4)
    x = Readings
    pos = r.put_dif(buf, pos, r.INT32, r.VIF_POWER_W)
    pos = r.put_int(buf, pos, round(x.p_w), 4)
    pos = r.put_dif(buf, pos, r.INT16, r.VIF_VOLTAGE_DV)
    pos = r.put_int(buf, pos, round(x.vrms * 10), 2)
    pos = r.put_dif(buf, pos, r.INT32, r.VIF_CURRENT_MA)
    pos = r.put_int(buf, pos, round(x.irms * 1000), 4)
    pos = r.put_dif(buf, pos, r.INT32, r.VIF_DATETIME_F)
    pos = r.put_datetime_f(buf, pos, 2026, 11, 22, 5, 30)
    pos = r.put_dif(buf, pos, r.INT16, r.VIF_ERROR_FLAGS)
    return r.put_int(buf, pos, 0, 2)


def main():
    meter = builder.Builder("QQQ", "12345678", 1, 2, KEY, mode=7, fmt="A")
    payload = meter.payload_buffer()
    counter = 1
    # Warm up (first-call allocations, e.g. interned attribute caches).
    for _ in range(5):
        air = meter.build(write_typical(payload), counter)
        counter += 1
    size = len(air)
    times = []
    allocs = []
    for _ in range(RUNS):
        gc.collect()
        gc.disable()
        before = rt.mem_alloc()
        start = rt.ticks_us()
        for _ in range(BATCH):
            meter.build(write_typical(payload), counter)
            counter += 1
        elapsed = rt.ticks_diff(rt.ticks_us(), start)
        allocs.append((rt.mem_alloc() - before) / BATCH)
        gc.enable()
        times.append(elapsed / BATCH)
    times.sort()
    allocs.sort()
    # Check the result once: the benchmark must build telegrams a head-end accepts.
    n = write_typical(payload)
    air = bytes(meter.build(n, counter))
    t = parser.parse(air, KEY, "A")
    assert t.counter == counter and len(records.decode(t.payload)) == 10
    chips = bytearray(frame.coded_len(len(air)))
    start = rt.ticks_us()
    for _ in range(BATCH):
        frame.encode_3of6(air, len(air), chips)
    coding_us = rt.ticks_diff(rt.ticks_us(), start) / BATCH
    print('{"interpreter": "%s", "us_median": %.1f, "us_best": %.1f, "alloc_bytes_median": %d, '
          '"telegram_bytes": %d, "payload_bytes": %d, "t1_3of6_us": %.1f}'
          % ("cpython" if rt.EMULATED else "micropython", times[RUNS // 2], times[0], allocs[RUNS // 2],
             size, n, coding_us))


main()
