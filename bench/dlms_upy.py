# DLMS figures under the MicroPython unix port (bench/dlms_roundtrip.py runs this):
#
#   micropython -X heapsize=512K bench/dlms_upy.py MBUS_CORPUS_DIR
#   ../shared/tools/upy32/upy32 run --arch armv6m --heap 256K --path lib --path firmware \
#       --path ../shared/data/mbus-corpus bench/dlms_upy.py /rom      (the 32-bit stage)
#
# GCM (security suite 0) per APDU: encrypt and decrypt of 64- and 256-byte APDUs and an
# HLS-GMAC tag; and the heap the DLMS server adds to a meter: what stays allocated after
# importing lib/dlms and firmware/meter/dlms.py and building the meter's objects, and
# the peak while one profile read is answered.

import gc
import os
import sys
import time


def _us(fn, rounds):
    t0 = time.ticks_us()
    for _ in range(rounds):
        fn()
    return time.ticks_diff(time.ticks_us(), t0) / rounds


def gcm_figures():
    from dlms.gcm import Gcm

    g = Gcm(bytes(range(16)))
    iv = bytes(12)
    aad = b"\x30" + bytes(16)
    out = []
    for size in (64, 256):
        plain = bytes(size)
        ct, tag = g.encrypt(iv, plain, aad)
        enc = _us(lambda: g.encrypt(iv, plain, aad), 200)
        dec = _us(lambda: g.decrypt(iv, ct, aad, tag), 200)
        out.append("%d-byte APDU: encrypt %.0f us, decrypt %.0f us" % (size, enc, dec))
    gmac = _us(lambda: g.encrypt(iv, b"", b"\x10" + bytes(16) + bytes(32)), 200)
    out.append("HLS-GMAC tag %.0f us" % gmac)
    return "GCM (%s): " % sys.platform + "; ".join(out)


class _Hw:
    def __init__(self, root):
        from clock import Clock

        self.storage_root = root
        self.clock = Clock(1, 1780000000)
        self.unique_id = b"\x01\x02\x03\x04\x05\x06"


class _Log:
    def tagged(self, tag):
        return self

    def warn(self, fmt, *args):
        pass

    info = error = warn


class _Meter:
    """What firmware/meter/dlms.py reads of the meter: registers, readings, logs, config."""

    def __init__(self, root):
        from meter.registers import EnergyRegisters
        from metrology.maths import Readings
        from security.logs import Logs

        self.hw = _Hw(root)
        self.cfg = {"meter_id": "12345678"}
        self.registers = EnergyRegisters(root, 3)
        self.metrology = type("M", (), {})()
        self.metrology.readings = Readings()
        self.logs = Logs(root, self.hw.clock)


class _NoLine:
    def init(self, **kwargs):
        pass


def heap_figures(corpus):
    root = "/tmp/dlms-heap-%d" % time.ticks_ms()
    os.mkdir(root)
    meter = _Meter(root)
    from meter.mbus import MBusPort
    from meter.config import MBUS
    from mbus.schedule import pack_record, RESULT_CODES

    meter.hw.mbus_uart = _NoLine()
    port = MBusPort(meter.hw, {"mbus": MBUS.check({"devices": [{"address": k + 1} for k in range(4)]}, "mbus")},
                    _Log())
    for k, name in enumerate(("ELS_Elster-F96-Plus.hex", "EFE_Engelmann-WaterStar.hex", "electricity-meter-1.hex",
                              "GWF-MTKcoder.hex")):
        with open(corpus + "/test-frames/" + name) as f:
            port.ring.append(pack_record(k, 0, RESULT_CODES[0], 1780000000, [bytes.fromhex("".join(f.read().split()))]))
    from meter.dlms import MBusView

    mbus = MBusView(port)
    gc.collect()
    before = gc.mem_alloc()
    from meter.dlms import DlmsMeter
    from meter.config import DLMS_DEFAULTS
    from dlms.server import Association
    from dlms import transport  # noqa: F401  (the ports' code is part of the server)

    dm = DlmsMeter(meter, DLMS_DEFAULTS, _Log(), mbus=mbus)
    for k in range(192):
        dm.load.append(1779800000 + 900 * k, 0, k, k)
    gc.collect()
    resident = gc.mem_alloc() - before
    a = Association(16)
    aarq = bytes.fromhex("601da109060760857405080101be10040e01000000065f1f0400007e1f04b0")
    dm.server.handle(a, aarq)
    get = bytes.fromhex("c001c100070100630100ff0200")
    gc.collect()
    start = gc.mem_alloc()
    live = 0
    blocks = 0
    out = dm.server.handle(a, get)
    garbage = gc.mem_alloc() - start
    while out[1] == 2 and out[3] == 0:  # blocks until the last
        number = int.from_bytes(bytes(out[4:8]), "big")
        before_block = gc.mem_alloc()
        out = dm.server.handle(a, b"\xc0\x02\xc1" + number.to_bytes(4, "big"))
        garbage += gc.mem_alloc() - before_block
        blocks += 1
        gc.collect()
        live = max(live, gc.mem_alloc() - start)
    return ("heap the DLMS server adds (%s): %d bytes resident "
            "(code, objects, the profiles' rings); reading 192 profile rows in %d blocks: at most %d bytes live "
            "beyond that, %d bytes allocated in all (%d per row)"
            % (sys.platform, resident, blocks + 1, live, garbage, garbage // 192))


def main():
    print(gcm_figures())
    print(heap_figures(sys.argv[1]))


main()
