# Device-side workloads for bench/device32.py, run on upy32 with --icount (one instruction
# per ns of virtual time, so time.ticks_us() differences are thousands of instructions,
# deterministic). Prints one line per workload: "icount NAME INSTRUCTIONS [note]".

import gc
import sys
import time
import math
from array import array


def timed(fn, reps=1):
    gc.collect()
    t0 = time.ticks_us()
    for _ in range(reps):
        fn()
    return time.ticks_diff(time.ticks_us(), t0) * 1000 // reps


def telegram():
    from wmbus import builder as tg, records as r

    builder = tg.Builder("QQQ", "12345678", 1, 2, bytes(range(16)), mode=7, fmt="A")
    buf = builder.payload_buffer()

    def records():  # the meter's record set (firmware/meter/lmn.py): 59 bytes
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
        pos = r.put_dif(buf, pos, r.INT32, r.VIF_POWER_W)
        pos = r.put_int(buf, pos, 1209, 4)
        pos = r.put_dif(buf, pos, r.INT16, r.VIF_VOLTAGE_DV)
        pos = r.put_int(buf, pos, 2304, 2)
        pos = r.put_dif(buf, pos, r.INT32, r.VIF_CURRENT_MA)
        pos = r.put_int(buf, pos, 5250, 4)
        pos = r.put_dif(buf, pos, r.INT32, r.VIF_DATETIME_F)
        pos = r.put_datetime_f(buf, pos, 2026, 11, 22, 5, 30)
        pos = r.put_dif(buf, pos, r.INT16, r.VIF_ERROR_FLAGS)
        return r.put_int(buf, pos, 0, 2)

    counter = [1]

    def one():
        builder.build(records(), counter[0])
        counter[0] += 1

    one()  # first-call work out of the figure
    print("icount telegram_mode7 %d" % timed(one, 5))


def decode(folder):
    import os
    from mbus.decode import decode_frame

    counts = []
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".hex"):
            continue
        with open(folder + "/" + name) as f:
            frame = bytes.fromhex("".join(f.read().split()))
        try:
            n = timed(lambda: decode_frame(frame))
        except Exception as exc:  # noqa: BLE001  (a frame the decoder refuses still costs its time)
            print("decode %s: %s" % (name, exc))
            continue
        counts.append((n, name))
    counts.sort()
    print("icount mbus_decode_median %d %s" % counts[len(counts) // 2])
    print("icount mbus_decode_worst %d %s" % counts[-1])
    print("icount mbus_decode_frames %d" % len(counts))


def metrology():
    from metrology.maths import Engine

    pairs = 400
    eng = Engine(4000, 4000, 1.432e-4, 1.788e-5, adc_bits=24)
    blocks = []
    for b in range(10):  # one second of a 50 Hz grid, 230 V and 5 A at 20 degrees, 24-bit counts
        buf = array("i", bytes(8 * pairs))
        for k in range(pairs):
            t = 2 * math.pi * 50 * (b * pairs + k) / 4000
            buf[2 * k] = int(2271000 * math.sin(t))
            buf[2 * k + 1] = int(395500 * math.sin(t - 0.349))
        blocks.append(buf)

    def second():
        for buf in blocks:
            eng.add_block(buf, pairs)

    second()
    second()  # settled: offsets and crossing level known
    print("icount metrology_second %d" % timed(second))


def command():
    import os
    from secfix import provisioned, T0
    from security import keys as K
    from security import commands as C

    device, head = provisioned("/tmp/cmd")
    frames = [head.command(K.ADMIN, C.STATUS, T0)[0] for _ in range(4)]
    at = [0]

    def one():
        device.commands.handle(frames[at[0]])
        at[0] += 1

    one()
    print("icount command_status %d" % timed(one, 3))
    device.close()
    del os


def verify(vector):
    import json
    from crypto import ecdsa

    with open(vector) as f:
        v = json.load(f)
    key, digest, sig = bytes.fromhex(v["key"]), bytes.fromhex(v["digest"]), bytes.fromhex(v["sig"])
    assert ecdsa.verify(key, digest, sig)
    print("icount ecdsa_verify %d" % timed(lambda: ecdsa.verify(key, digest, sig)))


def main():
    which = sys.argv[1]
    if which == "telegram":
        telegram()
    elif which == "decode":
        decode(sys.argv[2])
    elif which == "metrology":
        metrology()
    elif which == "command":
        command()
    elif which == "verify":
        verify(sys.argv[2])
