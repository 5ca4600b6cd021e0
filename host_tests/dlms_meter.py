# The meter's DLMS server for the client tests, run under the MicroPython unix port:
#
#   MICROPYPATH=$(python3 tools/repo_paths.py micropython) \
#       micropython host_tests/dlms_meter.py STORAGE_DIR PTY_PATH|- START_S MBUS_CORPUS_DIR
#
# Builds firmware/meter/dlms.py's DlmsMeter over a meter with real energy registers,
# device logs and key store in STORAGE_DIR (keys from host_tests/secfix.py's fixture,
# provisioned by the test), fixed metrology readings, a clock started at START_S, and two
# days of load profile rows; serves HDLC on the pty (if given) and the TCP wrapper on a
# random loopback port, and prints "ready tcp=PORT" once both listen.

import sys

import asyncio
from clock import Clock
from meter.registers import EnergyRegisters
from metrology.maths import Readings
from security.logs import Logs
from meter.dlms import DlmsMeter, build_security, key_changer
from meter.config import DLMS_DEFAULTS, MBUS
from meter.dlms import MBusView

# Four wired M-Bus devices' data sets, as the poll scheduler stores them (frames from the
# shared libmbus corpus).
MBUS_FRAMES = ("ELS_Elster-F96-Plus.hex", "EFE_Engelmann-WaterStar.hex", "electricity-meter-1.hex",
               "GWF-MTKcoder.hex")


class _NoLine:
    def init(self, **kwargs):
        pass


def _mbus(meter, corpus):
    from meter.mbus import MBusPort
    from mbus.schedule import pack_record, RESULT_CODES

    cfg = {"mbus": MBUS.check({"devices": [{"address": k + 1, "schedule": {"every": "hourly"}}
                                           for k in range(4)]}, "mbus")}
    meter.hw.mbus_uart = _NoLine()
    port = MBusPort(meter.hw, cfg, _Log())
    if port.ring.last_seq == 0:
        for k, name in enumerate(MBUS_FRAMES):
            with open(corpus + "/test-frames/" + name) as f:
                frame = bytes.fromhex("".join(f.read().split()))
            port.ring.append(pack_record(k, 0, RESULT_CODES[0], meter.hw.clock.time_s() - 600, [frame]))
    return MBusView(port)


class _Hw:
    def __init__(self, root, clock):
        self.storage_root = root
        self.clock = clock
        self.name = "host"
        self.unique_id = b"\x01\x02\x03\x04\x05\x06"
        from board import board_secret

        self.board_secret = board_secret(root + "/board.secret")


class _Metrology:
    def __init__(self):
        self.readings = Readings()
        r = self.readings
        r.vrms, r.irms, r.p_w, r.pf, r.freq_hz = 230.14, 4.3456, 987.6, 0.9876, 50.012


class _Meter:
    def __init__(self, root, start_s):
        self.hw = _Hw(root, Clock(1, start_s))
        self.cfg = {"meter_id": "12345678"}
        self.registers = EnergyRegisters(root, 3)
        regs = self.registers
        if not regs.regs[0]:
            regs.regs[0], regs.regs[1] = 1234567, 7654
            regs.tariff_import_wh[:] = [1000000, 200000, 34567]
            regs.tariff_export_wh[:] = [7000, 654, 0]
            regs.tariff = 1
        self.metrology = _Metrology()
        self.logs = Logs(root, self.hw.clock)


class _Log:
    def tagged(self, tag):
        return self

    def warn(self, fmt, *args):
        print("warning: " + fmt % args)

    def info(self, fmt, *args):
        pass

    error = warn


def main():
    root, pty, start_s, corpus = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    meter = _Meter(root, start_s)
    log = _Log()
    times = []

    def set_time(t):
        if abs(t - meter.hw.clock.time_s()) > 86400 * 365:
            raise ValueError("drift")
        meter.hw.clock.set_time_s(t)
        times.append(t)
        print("time_set", t)

    security = build_security(meter.hw, log)
    dm = DlmsMeter(meter, DLMS_DEFAULTS, log, security=security, set_time=set_time,
                   change_key=key_changer(security), mbus=_mbus(meter, corpus))
    if dm.load.count() == 0:
        meter.logs.system.append("boot", {})
        meter.logs.system.append("time_set", {"from": 1, "to": 2})
        base = start_s - start_s % 900 - 2 * 86400
        for k in range(192):
            t = base + k * 900
            dm.load.append(t, 0, 1000000 + k * 250, 7000 + k)
            if t % 86400 == 0:
                dm.daily.append(t, 0, 1000000 + k * 250, 7000 + k)
    uart = None
    if pty != "-":
        from hostuart import HostUART

        uart = HostUART("pty:" + pty)

    async def run():
        import random

        for _ in range(50):  # a random free port: try again where one is taken
            port = random.getrandbits(14) + 20000
            try:
                await dm.start_tcp("127.0.0.1", port)
                break
            except OSError:
                continue
        print("ready tcp=%d" % port)
        await dm.serve_task(lambda: None, uart=uart)

    asyncio.run(run())


if __name__ == "__main__":
    main()
