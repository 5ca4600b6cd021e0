# The M-Bus poll scheduler: calendar arithmetic, ring records, scheduled, status and
# on-demand reads against the in-memory slaves, and events.
import asyncio
import rt
import support
import store
from clock import Clock, civil_from_epoch_s, epoch_from_civil as epoch_s
from mbus import master as M
from mbus import schedule as S
from mbus.schedule import next_due_s, Scheduler, Entry, pack_record, unpack_record
from mbus.master import Master, Device
from mbus.errors import MBusError
from mbus.decode import decode_frame
from mbus_memlink import MemoryUART, default_bus, frame
from stepclock import StepClock


def due(schedule, *now):
    return civil_from_epoch_s(next_due_s(schedule, epoch_s(*now)))[:6]


def test_hourly_and_daily():
    h = {"every": "hourly", "minute": 15}
    assert due(h, 2024, 3, 1, 10, 0) == (2024, 3, 1, 10, 15, 0)
    assert due(h, 2024, 3, 1, 10, 15) == (2024, 3, 1, 11, 15, 0)  # strictly after now
    assert due(h, 2024, 12, 31, 23, 20) == (2025, 1, 1, 0, 15, 0)
    d = {"every": "daily", "hour": 2, "minute": 30}
    assert due(d, 2024, 2, 28, 3, 0) == (2024, 2, 29, 2, 30, 0)  # leap day
    assert due(d, 2023, 2, 28, 3, 0) == (2023, 3, 1, 2, 30, 0)
    assert due(d, 2024, 2, 28, 1, 0) == (2024, 2, 28, 2, 30, 0)


def test_weekly():
    w = {"every": "weekly", "weekday": 0, "hour": 6}  # Mondays 06:00
    assert due(w, 2024, 1, 3, 12, 0) == (2024, 1, 8, 6, 0, 0)  # a Wednesday
    assert due(w, 2024, 1, 8, 5, 59) == (2024, 1, 8, 6, 0, 0)
    assert due(w, 2024, 1, 8, 6, 0) == (2024, 1, 15, 6, 0, 0)
    assert due({"every": "weekly", "weekday": 6}, 2024, 12, 30, 0, 0) == (2025, 1, 5, 0, 0, 0)


def test_monthly_across_month_ends_and_leap_years():
    m = {"every": "monthly", "day": 31, "hour": 0}
    assert due(m, 2024, 1, 31, 0, 0) == (2024, 2, 29, 0, 0, 0)  # last day of a leap February
    assert due(m, 2023, 1, 31, 0, 0) == (2023, 2, 28, 0, 0, 0)
    assert due(m, 2024, 4, 1, 0, 0) == (2024, 4, 30, 0, 0, 0)
    assert due(m, 2024, 12, 31, 0, 0) == (2025, 1, 31, 0, 0, 0)
    assert due({"every": "monthly", "day": 1}, 2024, 12, 15, 0, 0) == (2025, 1, 1, 0, 0, 0)
    assert due({"every": "monthly", "day": 29}, 2100, 2, 1, 0, 0) == (2100, 2, 28, 0, 0, 0)  # 2100: no leap
    assert due({"every": "monthly", "day": 29}, 2000, 2, 1, 0, 0) == (2000, 2, 29, 0, 0, 0)  # 2000: leap


def test_yearly():
    y = {"every": "yearly", "month": 2, "day": 29, "hour": 12}
    assert due(y, 2023, 6, 1, 0, 0) == (2024, 2, 29, 12, 0, 0)
    assert due(y, 2024, 2, 29, 12, 0) == (2025, 2, 28, 12, 0, 0)
    assert due({"every": "yearly", "month": 1, "day": 1}, 2024, 1, 1, 0, 0) == (2025, 1, 1, 0, 0, 0)
    assert support.raises(ValueError, next_due_s, {"every": "fortnightly"}, 0)


def test_record_round_trip_and_malformed_records():
    frames = [frame("SEN_Sensus-PolluStat-E"), frame("SEN_Sensus-PolluTherm")]
    rec = pack_record(3, S.DEMAND, M.OK, 1_700_000_000, frames)
    assert rec[:9] == bytes((1, 3, 1, 0)) + (1_700_000_000).to_bytes(4, "little") + b"\x02"
    assert unpack_record(rec) == (3, S.DEMAND, M.OK, 1_700_000_000, frames)
    assert unpack_record(pack_record(0, 0, M.NO_ANSWER, 5, [])) == (0, 0, M.NO_ANSWER, 5, [])
    for bad in (rec[:-1], rec + b"\x00", b"\x02" + rec[1:], rec[:3], rec[:3] + b"\x09" + rec[4:]):
        assert support.raises(MBusError, unpack_record, bad)


def test_status_byte():
    assert S.status_byte(frame("SEN_Sensus-PolluStat-E")) == 0x10
    assert S.status_byte(frame("itron_cyble_m-bus_v1.4_water")) == 0x30
    short = bytes((0x68, 8, 8, 0x68, 0x08, 1, 0x7A, 0x05, 0x04, 0, 0, 0x2F, 0, 0x16))
    assert S.status_byte(short) == 0x04
    assert S.status_byte(b"\xe5") is None


class Setup:
    def __init__(self, faults=(), speed=3600, start=(2024, 2, 29, 22, 59, 50), end=None):
        self.dir = support.tmpdir("mbus-sched")
        self.bus = default_bus(faults=faults)
        self.uart = MemoryUART(self.bus, time_scale=0.1)
        self.master = Master(self.uart, 9600, retries=1)
        self.master.rx.answer_ms = 40
        if end is None:
            self.clock = Clock(speed=speed, start_s=epoch_s(*start))
        else:
            self.clock = StepClock(epoch_s(*start), epoch_s(*end), speed)
        self.ring = store.Ring(self.dir + "/mbus", 4096, 4)
        self.lines = []
        entries = [
            Entry(Device(1, name="gas"), {"every": "hourly", "minute": 0}, 0),
            Entry(Device(2), {"every": "daily", "hour": 0}, 1800, name="water"),
            Entry(Device(3), {"every": "hourly", "minute": 30}, 0, name="heat"),
            Entry(Device(4), {"every": "monthly", "day": 1}, 1800, name="water2"),
        ]
        self.sched = Scheduler(self.master, entries, self.clock, self.ring,
                               emit=lambda kind, fields: self.lines.append((kind, fields)), decode=decode_frame)

    def run(self, real_ms, during=None):
        async def main():
            task = asyncio.create_task(self.sched.run())
            got = None
            if during is not None:
                got = await during(self)
            await asyncio.sleep(real_ms / 1000)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            return got

        return support.run(main())

    def run_to_end(self, between=None, bound_s=120):
        """Run the scheduler on the StepClock until it sleeps past the clock's end; then
        `between(self)` may move the clock and return a new end (None: stop there).
        bound_s only matters when something is broken (a scheduler that never sleeps)."""

        async def wait_parked():
            try:
                await rt.wait_for_ms(self.clock.parked.wait(), bound_s * 1000)
            except asyncio.TimeoutError:
                raise AssertionError("the scheduler did not sleep past %s within %d s; reads: %r" % (
                    civil_from_epoch_s(self.clock.end_ms // 1000)[:6], bound_s, self.kinds("mbus_read")))

        async def main():
            task = asyncio.create_task(self.sched.run())
            try:
                await wait_parked()
                while between is not None:
                    end = between(self)
                    if end is None:
                        break
                    self.clock.resume(end)
                    await wait_parked()
            finally:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass

        support.run(main())

    def kinds(self, kind):
        return [f for k, f in self.lines if k == kind]

    def close(self):
        self.ring.close()
        support.rmtree(self.dir)


def test_scheduled_and_status_reads_store_data_sets_as_received():
    # 10 calendar seconds to 23:00, then 23:30, then midnight of 1 March (daily and
    # monthly reads); the calendar stops at 00:10 (heat's next read is at 00:30).
    s = Setup(end=(2024, 3, 1, 0, 10, 0))
    try:
        s.run_to_end()
        reads = s.kinds("mbus_read")
        # (name, calendar time of the read: reads take no time on the StepClock)
        scheduled = [(r["name"], civil_from_epoch_s(r["t"])[:6]) for r in reads if r["read"] == "scheduled"]
        expected = [("gas", (2024, 2, 29, 23, 0, 0)), ("heat", (2024, 2, 29, 23, 30, 0)),
                    ("gas", (2024, 3, 1, 0, 0, 0)), ("water", (2024, 3, 1, 0, 0, 0)),
                    ("water2", (2024, 3, 1, 0, 0, 0))]
        assert scheduled == expected, "scheduled reads %r, expected %r" % (scheduled, expected)
        failed = [r for r in reads if r["result"] != M.OK]
        assert not failed, "reads of the in-memory slaves failed: %r" % failed
        status_reads = [r for r in reads if r["read"] == "status"]
        assert {r["name"] for r in status_reads} >= {"water", "water2"}, "status reads: %r" % status_reads
        stored_status = [r for r in status_reads if "seq" in r]
        assert not stored_status, "status reads are not stored: %r" % stored_status
        stored = list(s.ring.records())
        assert len(stored) == len(scheduled), "%d data sets stored for %d scheduled reads" % (
            len(stored), len(scheduled))
        for seq, data in stored:
            index, kind, code, time_s, frames = unpack_record(data)
            assert kind == S.SCHEDULED and code == M.OK
            base = frame(["LGB_G350", "ACW_Itron-CYBLE-M-Bus-14", "SEN_Sensus-PolluStat-E",
                          "itron_cyble_m-bus_v1.4_water"][index])
            # As received: the slave's frame with its own address and access number.
            assert frames[0][:5] == base[:5] and frames[0][7:15] == base[7:15] and frames[0][16:-2] == base[16:-2]
            assert len(frames) == (2 if index == 2 else 1)
        # Each scheduled read carries its ring seq in its status line.
        assert sorted(r["seq"] for r in reads if "seq" in r) == [seq for seq, _ in stored]
    finally:
        s.close()


def test_events_from_status_bits_and_error_records():
    s = Setup(end=(2024, 3, 1, 0, 10, 0))  # to just after the midnight reads
    try:
        s.run_to_end()
        events = {(e["name"], e["event"], e["state"]) for e in s.kinds("mbus_event")}
        # heat: status 0x10 (temporary error) and error-function records in telegram 2;
        # water2: status 0x30 (temporary error, and a manufacturer bit that is no event).
        for want in (("heat", "temporary_error", "raised"), ("heat", "error_records", "raised"),
                     ("water2", "temporary_error", "raised")):
            assert want in events, "no event %r among %r" % (want, events)
        quiet = [e for e in events if e[0] in ("gas", "water")]
        assert not quiet, "gas and water raise no events, got %r" % quiet
        # Raised once, not on every read.
        heat = [e for e in s.kinds("mbus_event") if e["name"] == "heat" and e["event"] == "temporary_error"]
        assert len(heat) == 1, "heat's temporary error raised %d times: %r" % (len(heat), heat)
    finally:
        s.close()


def test_failures_and_recovery_are_events():
    s = Setup(faults=["gas:no_answer"])
    gas_slave = s.bus.slaves[0]

    async def during(setup):
        await asyncio.sleep(0.05)
        first = await setup.sched.request_read(0)
        gas_slave.fault = "busy"  # answers again, with "application busy" in its status
        second = await setup.sched.request_read(0)
        gas_slave.fault = None
        third = await setup.sched.request_read(0)
        return first, second, third

    try:
        first, second, third = s.run(10, during)
        assert first.code == M.NO_ANSWER and first.seq is None
        assert second.code == M.OK and second.seq is not None and third.code == M.OK
        gas = [(e["event"], e["state"]) for e in s.kinds("mbus_event") if e["name"] == "gas"]
        assert gas[0] == ("no_answer", "raised")
        assert ("no_answer", "cleared") in gas
        assert gas[-2:] == [("application_busy", "raised"), ("application_busy", "cleared")]
        seqs = {seq: data for seq, data in s.ring.records()}
        index, kind, code, _, frames = unpack_record(seqs[second.seq])
        assert (index, kind, code) == (0, S.DEMAND, M.OK) and frames == second.telegrams
        assert frames[0][7 + 9] & 0x03 == 0x01
    finally:
        s.close()


def test_on_demand_read_waits_for_the_exchange_in_progress():
    s = Setup(speed=1, start=(2024, 1, 1, 0, 0, 30))  # nothing due for a while

    async def during(setup):
        reads = [setup.sched.request_read(i) for i in (0, 1, 2, 3)]
        return await asyncio.gather(*reads)

    try:
        results = s.run(10, during)
        assert [r.code for r in results] == [M.OK] * 4
        assert [len(r.telegrams) for r in results] == [1, 1, 2, 1]
        assert support.raises(ValueError, _call_request_read, s.sched, 4)
    finally:
        s.close()


def _call_request_read(sched, index):
    return support.run(sched.request_read(index))


def test_store_failure_is_counted_and_polling_goes_on():
    s = Setup(speed=1, start=(2024, 1, 1, 0, 0, 30))
    s.ring.append = _failing_append
    try:
        r = support.run(s.sched.request_read(0))
        assert r.code == M.OK and r.seq is None and s.sched.store_failures == 1
    finally:
        del s.ring.append
        s.close()


def _failing_append(data):
    raise OSError(28)  # ENOSPC


def test_clock_set_back_does_not_postpone_reads():
    # The calendar stops at 12:10 after the 12:00 read (the next is due at 13:00); the
    # clock is then set back five months while the scheduler sleeps.
    s = Setup(start=(2024, 6, 1, 11, 59, 0), end=(2024, 6, 1, 12, 10, 0))

    def set_back(setup):
        if setup.clock.time_s() >= epoch_s(2024, 6, 1):
            setup.clock.set_time_s(epoch_s(2024, 1, 1, 8, 59, 0))
            return epoch_s(2024, 1, 1, 9, 10, 0)
        return None

    try:
        # The scheduler notices at its next wake-up and reads gas at the next full hour
        # of the new time, 09:00, instead of waiting five months for 13:00 on 1 June.
        s.run_to_end(set_back)
        gas = [civil_from_epoch_s(r["t"])[:6] for r in s.kinds("mbus_read")
               if r["name"] == "gas" and r["read"] == "scheduled"]
        expected = [(2024, 6, 1, 12, 0, 0), (2024, 1, 1, 9, 0, 0)]
        assert gas == expected, "gas read at %r, expected %r" % (gas, expected)
    finally:
        s.close()


def test_undecodable_telegrams_are_counted_and_still_stored():
    s = Setup(speed=1, start=(2024, 1, 1, 0, 0, 30))
    calls = []

    def bad_decoder(frame_bytes):
        calls.append(1)
        if len(calls) == 1:
            raise MBusError("bad record")
        raise IndexError("decoder bug")

    s.sched.decode = bad_decoder
    try:
        async def main():
            return await s.sched.request_read(0), await s.sched.request_read(1)

        first, second = support.run(main())
        assert first.code == second.code == M.OK and first.seq is not None and second.seq is not None
        assert s.sched.decode_errors == 2
    finally:
        s.close()
