# Helpers for the MEP tests (both interpreters): an in-memory serial pair, a meter-like
# object for firmware/meter/mep.py, a fake M-Bus adapter, and a linked server + client.

import asyncio
import clock
from mep.secure import LinkKeys
from mep.client import Client

KEY = bytes(range(16))
OTHER_KEY = bytes(range(1, 17))


class MemoryPort:
    """One end of an in-memory serial cable: read_some/write_all like hw.mep_uart."""

    def __init__(self):
        self.inbox = bytearray()
        self.event = asyncio.Event()
        self.peer = None
        self.sent = bytearray()

    def inject(self, data):
        """Bytes arriving at this end as if the far end sent them."""
        self.inbox += data
        self.event.set()

    async def read_some(self, buf):
        while not self.inbox:
            self.event.clear()
            await self.event.wait()
        n = min(len(buf), len(self.inbox))
        buf[:n] = self.inbox[:n]
        self.inbox = self.inbox[n:]
        return n

    async def write_all(self, data):
        self.sent += data
        if self.peer is not None:
            self.peer.inject(data)


def port_pair():
    a, b = MemoryPort(), MemoryPort()
    a.peer, b.peer = b, a
    return a, b


class Readings:
    def __init__(self):
        self.vrms, self.irms, self.p_w, self.q_var, self.s_va, self.pf, self.freq_hz = (
            230.1, 4.25, 960.5, 120.0, 978.0, 0.982, 50.01)


class Registers:
    """The registers' interface the MEP side uses (meter/registers.py EnergyRegisters)."""

    def __init__(self):
        self.import_wh = 123456
        self.export_wh = 789
        self.tariff = 0
        self.tariff_import_wh = [123000, 456, 0]
        self.tariff_export_wh = [789, 0, 0]

    def set_tariff(self, index, source, calendar_s=None):
        if not 0 <= index < len(self.tariff_import_wh):
            raise ValueError("tariff %d out of range" % index)
        self.tariff = index

    def update_tariff(self, calendar_s):
        return self.tariff  # no schedule: a command holds


class Metrology:
    def __init__(self):
        self.readings = Readings()


class Hw:
    def __init__(self, root, port=None):
        self.clock = clock.Clock(speed=1)
        self.storage_root = root
        self.mep_uart = port
        self.name = "host"


class FakeMeter:
    def __init__(self, root, port=None):
        self.hw = Hw(root, port)
        self.cfg = {"meter_id": "12345678"}
        self.registers = Registers()
        self.metrology = Metrology()
        self.logs = None  # no device logs: the MEP port opens the consumer log itself


class Log:
    def __init__(self):
        self.lines = []

    def _w(self, fmt, *args):
        self.lines.append(fmt % args if args else fmt)

    info = warn = error = debug = _w


class FakeMBus:
    """The M-Bus adapter interface (meter.mep_tables.NoMBus) with two devices and stored frames."""

    def __init__(self):
        self.sets = []  # (seq, index, t, frame)
        self.requested = []

    def devices(self):
        return [{"index": 0, "id": "87654321", "manufacturer": "ABB", "medium": 7, "schedule": 1},
                {"index": 1, "id": "11223344", "manufacturer": "KAM", "medium": 4, "schedule": 0}]

    def add(self, index, t, frame):
        self.sets.append((len(self.sets) + 1, index, t, frame))

    def data_sets(self, after_seq):
        for s in self.sets:
            if s[0] > after_seq:
                yield s

    def last_seq(self):
        return self.sets[-1][0] if self.sets else 0

    def request_read(self, index):
        if index > 1:
            return False
        self.requested.append(index)
        return True


def mep_cfg(**over):
    cfg = {"enabled": True, "frame_timeout_ms": 100, "seq_block": 8, "auth_fail_burst": 5, "auth_window_s": 60,
           "auth_lockout_s": 30, "alert_interval_ms": 200, "profile_period_s": 900, "profile_depth": 12,
           "tariff_names": ["day", "night", "peak"], "tariff_prices": [0.3, 0.2, 0.45], "inbox_dir": None,
           "status_interval_s": 10}
    cfg.update(over)
    return cfg


def make_meter_mep(root, port=None, key=KEY, mbus=None, **over):
    from meter.mep import MeterMEP

    meter = FakeMeter(root, port)
    return MeterMEP(meter, mep_cfg(**over), key, Log(), mbus=mbus)


def make_client(root, port, key=KEY, **kw):
    kw.setdefault("timeout_ms", 300)
    kw.setdefault("retries", 1)
    kw.setdefault("backoff_ms", 10)
    return Client(port, LinkKeys(key), root + "/client-seq", **kw)


async def with_server(mep, body):
    """Run mep's server on its port while body() runs; returns body's result."""
    task = asyncio.create_task(mep.server.serve(mep.hw.mep_uart))
    try:
        return await body()
    finally:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
