# The LMN transmitter (firmware/meter/lmn.py): its config rules, telegrams a head-end
# accepts, the message counter across restarts, re-keying, the duty cycle, SND_IR and
# the key never reaching a log. Runs under both interpreters.

import io
import asyncio
import clock
import config
import rt
import support
from hardware import Hardware
from log import Log, ConsoleSink
from meter.config import SCHEMA
from meter import lmn as lmn_mod
from security.keystore import KeyStore
from wmbus import parser, records, telegram
from wmbus.errors import WMBusError

KEY1 = bytes(range(0x20, 0x30))
KEY2 = bytes(range(0x40, 0x50))
SECRET = bytes(range(16))


class FakeRadio:
    def __init__(self, accept=True):
        self.frames = []
        self.accept = accept

    async def send(self, frame):
        self.frames.append(bytes(frame))
        return self.accept


class StepClock:
    """Calendar time that moves only when slept through (deterministic duty-cycle tests)."""

    speed = 1

    def __init__(self, start_s=1_790_000_000):
        self.now_ms = start_s * 1000

    def time_ms(self):
        return self.now_ms

    def time_s(self):
        return self.now_ms // 1000

    async def sleep_ms(self, ms):
        self.now_ms += ms

    def real_ms(self, ms):
        return ms


class Readings:
    vrms = 230.4
    irms = 5.25
    p_w = 1208.6


class FakeMetrology:
    readings = Readings()


class FakeRegisters:
    def __init__(self):
        self.import_wh = 123456
        self.export_wh = 789
        self.damaged_copies = 0


class FakeMeter:
    def __init__(self):
        self.registers = FakeRegisters()
        self.metrology = FakeMetrology()


def cfg_with(**lmn):
    raw = {"app": "meter", "meter_id": "12345678", "lmn": lmn}
    return config.validate(raw, SCHEMA)


def make(folder, cfg=None, clk=None, radio=None, meter=None, key=KEY1, sink=None):
    cfg = cfg or cfg_with()
    hw = Hardware(name="test", unique_id=b"T", clock=clk or StepClock(), samples=None, mbus_uart=None,
                  mep_uart=None, radio=radio or FakeRadio(), led=None, storage_root=folder, watchdog=None,
                  reset=None, board_secret=SECRET)
    if key is not None and KeyStore(folder + "/keys", SECRET).generation("lmn") == 0:
        KeyStore(folder + "/keys", SECRET).put("lmn", key)
    log = Log([sink] if sink is not None else [], clock=None)
    return lmn_mod.Transmitter(hw, cfg, log, meter or FakeMeter())


def _values(air, key, fmt="A", last=None):
    t = parser.parse(air, key, fmt, last_counter=last)
    recs = records.decode(t.payload)
    found = {}
    for r in recs:
        found[(r.quantity + ("/backward" if r.has_vife(0x3C) else ""), r.storage)] = r.value
    return t, found


def test_config_defaults_and_link_rules():
    lmn = cfg_with()["lmn"]
    assert (lmn["mode"], lmn["format"], lmn["radio_mode"], lmn["interval_s"]) == (7, "A", "T1", 60)
    exc = support.raises(config.ConfigError, lambda: cfg_with(format="B"))  # T1 is format A only
    assert exc.key == "lmn.format"
    assert cfg_with(format="B", radio_mode="C1")["lmn"]["format"] == "B"
    exc = support.raises(config.ConfigError, lambda: cfg_with(interval_s=10, jitter_s=0))
    assert exc.key == "lmn.interval_s" and "duty cycle" in str(exc)
    exc = support.raises(config.ConfigError, lambda: cfg_with(interval_s=60, jitter_s=30))
    assert exc.key == "lmn.jitter_s"
    assert support.raises(config.ConfigError, lambda: cfg_with(mode=6)).key == "lmn.mode"


def test_duty_cycle_bound_from_the_air_time():
    for mode in ("T1", "C1"):
        lmn = cfg_with(radio_mode=mode, jitter_s=0)["lmn"]
        air_us = lmn_mod.max_air_time_us(lmn)
        need_s = (air_us * 1000 + 999_999) // 1_000_000
        cfg_with(radio_mode=mode, interval_s=need_s, jitter_s=0)
        support.raises(config.ConfigError, lambda: cfg_with(radio_mode=mode, interval_s=need_s - 1, jitter_s=0))
    # T1's 3-of-6 costs half as much again as C1.
    assert lmn_mod.max_air_time_us(cfg_with()["lmn"]) > lmn_mod.max_air_time_us(cfg_with(radio_mode="C1")["lmn"])


def test_telegrams_carry_the_readings_and_a_rising_counter():
    folder = support.tmpdir("lmn")
    radio = FakeRadio()
    tx = make(folder, radio=radio)
    for _ in range(3):
        assert support.run(tx.send_one())
    last = None
    for air in radio.frames:
        t, v = _values(air, KEY1, last=last)
        last = t.counter
        assert t.meter_id == "12345678" and t.device_type == 2 and t.mode == 7 and t.c_field == 0x44
        assert v[("energy", 0)] == 123456 and v[("energy/backward", 0)] == 789
        assert v[("energy", 1)] == 123456 and v[("energy/backward", 1)] == 789  # billing date: start of month
        assert v[("date", 1)] == "2026-09-01"
        assert v[("power", 0)] == 1209 and abs(v[("voltage", 0)] - 230.4) < 1e-6 and v[("current", 0)] == 5.25
        assert v[("datetime", 0)] == "2026-09-21T14:13:00" and v[("error_flags", 0)] == 0
        assert t.status == 0
    assert last == 3
    support.rmtree(folder)


def test_payload_never_exceeds_the_size_the_duty_check_assumes():
    folder = support.tmpdir("lmn")
    tx = make(folder)
    tx.meter.registers.reactive_varh = 2**31 - 1
    tx._load_key()
    n, _ = tx.write_records(tx.builder.payload_buffer())
    assert n == lmn_mod.PAYLOAD_MAX_BYTES
    support.rmtree(folder)


def test_no_metrology_is_flagged():
    folder = support.tmpdir("lmn")
    meter = FakeMeter()
    meter.metrology = None
    radio = FakeRadio()
    tx = make(folder, radio=radio, meter=meter)
    support.run(tx.send_one())
    t, v = _values(radio.frames[0], KEY1)
    assert v[("error_flags", 0)] == lmn_mod.FLAG_NO_METROLOGY
    assert t.status & lmn_mod.STATUS_PERMANENT_ERROR
    assert ("power", 0) not in v
    support.rmtree(folder)


def test_counter_rises_across_restarts_and_never_jumps_far():
    folder = support.tmpdir("lmn")
    counters = []
    for boot in range(4):
        radio = FakeRadio()
        tx = make(folder, radio=radio)
        for _ in range(boot + 1):
            support.run(tx.send_one())
        counters += [parser.parse(f, KEY1, "A").counter for f in radio.frames]
    for a, b in zip(counters, counters[1:]):
        assert a < b <= a + lmn_mod.COUNTER_BLOCK
    support.rmtree(folder)


def test_rekey_keeps_the_counter_going():
    folder = support.tmpdir("lmn")
    radio = FakeRadio()
    tx = make(folder, radio=radio)
    support.run(tx.send_one())
    assert KeyStore(folder + "/keys", SECRET).put("lmn", KEY2) == 2
    support.run(tx.send_one())
    first = parser.parse(radio.frames[0], KEY1, "A")
    second = parser.parse(radio.frames[1], KEY2, "A")
    assert second.counter == first.counter + 1
    assert support.raises(WMBusError, parser.parse, radio.frames[1], KEY1, "A").reason == "bad_mac"
    assert tx.rekeys == 1 and tx.key_generation == 2
    support.rmtree(folder)


def test_without_a_key_nothing_is_sent_and_no_counter_used():
    folder = support.tmpdir("lmn")
    radio = FakeRadio()
    tx = make(folder, radio=radio, key=None)
    assert support.run(tx.send_one()) is False
    assert radio.frames == [] and tx.counter.peek() == 1
    KeyStore(folder + "/keys", SECRET).put("lmn", KEY1)
    assert support.run(tx.send_one())
    assert parser.parse(radio.frames[0], KEY1, "A").counter == 1
    support.rmtree(folder)


def test_duty_cycle_is_enforced_at_run_time():
    folder = support.tmpdir("lmn")
    clk = StepClock()
    radio = FakeRadio()
    tx = make(folder, clk=clk, radio=radio)
    start = clk.now_ms
    for _ in range(40):
        support.run(tx.send_one(telegram.SND_IR))  # back to back, as a flood of install requests would
    elapsed_ms = clk.now_ms - start
    assert tx.deferred >= 39
    # Air time never exceeds 0.1 % of the time that passed (the credit starts empty).
    assert tx.air_us_total <= elapsed_ms * 1  # us of air per ms elapsed = 0.1 %
    assert len(radio.frames) == 40
    support.rmtree(folder)


def test_task_sends_on_its_interval_and_snd_ir_on_demand():
    folder = support.tmpdir("lmn")
    radio = FakeRadio()
    clk = clock.Clock(speed=20000, start_s=1_790_000_000)  # 60 s interval = 3 ms real
    tx = make(folder, cfg=cfg_with(interval_s=60, jitter_s=5), clk=clk, radio=radio)
    tx._credit_us = tx._cap_us  # a meter that has been quiet for an hour

    async def main():
        progress = [0]

        def tick():
            progress[0] += 1

        async def until(done, limit_ms=60000):  # a condition; limit_ms only ends a hang
            t0 = rt.ticks_ms()
            while not done() and rt.ticks_diff(rt.ticks_ms(), t0) < limit_ms:
                await rt.sleep_ms(2)

        task = asyncio.create_task(tx.task(tick))
        await until(lambda: len(radio.frames) >= 2)  # two on the interval
        tx.request_install()
        await until(lambda: any(f[1] == 0x46 for f in radio.frames))  # the SND_IR, at once
        sent = len(radio.frames)
        await until(lambda: len(radio.frames) > sent)  # and the interval goes on
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        return progress[0]

    progress = support.run(main())
    assert progress >= 3 and len(radio.frames) >= 4, "expected 4 telegrams sent, %d (progress %d)" % (
        len(radio.frames), progress)
    c_fields = [parser.parse(f, KEY1, "A").c_field for f in radio.frames]
    assert c_fields.count(0x46) == 1 and c_fields.count(0x44) == len(c_fields) - 1, (
        "expected one SND_IR (0x46), the rest SND_NR (0x44): %r" % c_fields)
    support.rmtree(folder)


def test_the_key_never_reaches_the_log():
    folder = support.tmpdir("lmn")
    out = io.StringIO()
    radio = FakeRadio()
    tx = make(folder, radio=radio, sink=ConsoleSink(out))
    support.run(tx.send_one())
    KeyStore(folder + "/keys", SECRET).put("lmn", KEY2)
    support.run(tx.send_one())
    text = out.getvalue()
    assert "key changed" in text
    for key in (KEY1, KEY2):
        assert key.hex() not in text.lower() and key.hex().upper() not in text
    for frame_bytes in radio.frames:
        assert KEY1 not in frame_bytes and KEY2 not in frame_bytes
    support.rmtree(folder)


def test_radio_drop_is_counted():
    folder = support.tmpdir("lmn")
    tx = make(folder, radio=FakeRadio(accept=False))
    assert support.run(tx.send_one()) is False
    assert tx.dropped == 1 and tx.sent == 0
    support.rmtree(folder)


def test_a_telegrams_own_bookkeeping_allocates_no_more_than_documented():
    # Outside lib/wmbus, per telegram, measured on the 32-bit port (armv6m): the records'
    # date and rounded readings 160 B (two divisions of the epoch, the date tuple, floats),
    # the duty-cycle credit 96 B (calendar ms: long ints), the message counter 84 B on
    # average (its reservation write every COUNTER_BLOCK values). The old date arithmetic
    # alone took 352 B (divmod tuples, long ints all through), the records 464 B.
    if rt.EMULATED:
        support.skip("needs MicroPython's heap")
    import gc
    import sys

    block_bytes = 32 if sys.maxsize > 1 << 32 else 16
    folder = support.tmpdir("lmn")
    tx = make(folder, clk=clock.Clock(start_s=1_790_000_000))
    try:
        assert support.run(tx.send_one())
        buf = tx.builder.payload_buffer()
        tx.write_records(buf)
        tx.credit_wait_ms(20000)
        spent = [0, 0, 0]
        for k in range(lmn_mod.COUNTER_BLOCK):
            gc.collect()
            gc.disable()
            try:
                at = gc.mem_alloc()
                tx.write_records(buf)
                spent[0] += gc.mem_alloc() - at
                at = gc.mem_alloc()
                tx.credit_wait_ms(20000)
                spent[1] += gc.mem_alloc() - at
                at = gc.mem_alloc()
                tx.counter.next()
                spent[2] += gc.mem_alloc() - at
            finally:
                gc.enable()
        per = [x // lmn_mod.COUNTER_BLOCK for x in spent]
        print("telegram bookkeeping: records %d, duty credit %d, counter %d bytes" % tuple(per))
        assert per[0] <= 12 * block_bytes, "records: %d bytes per telegram, documented <= %d" % (
            per[0], 12 * block_bytes)
        assert per[1] <= 8 * block_bytes, "duty credit: %d bytes per telegram" % per[1]
        assert per[2] <= 8 * block_bytes, "counter: %d bytes per telegram (one write per block)" % per[2]
    finally:
        support.rmtree(folder)
