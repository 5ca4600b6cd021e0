# The meter's M-Bus task: the config section, wiring to the board's port, the
# installation scan kept in the store, and the task under the supervisor.
import asyncio

import support
import store
from hardware import Hardware
from clock import Clock
from config import validate, ConfigError
from log import Log
from meter.config import SCHEMA, MBUS_EVERY
from meter.mbus import MBusPort
from mbus import master as M
from mbus.schedule import EVERY, unpack_record
from clock import epoch_from_civil as epoch_s
from stepclock import StepClock
from mbus_memlink import MemoryUART, default_bus


def FakeHardware(uart, root, speed=1, start_s=None, clock=None):
    """The hardware contract with only an M-Bus port (in memory) and a store."""
    start_s = epoch_s(2024, 5, 6, 5, 59, 59) if start_s is None else start_s
    clock = clock or Clock(speed=speed, start_s=start_s)
    return Hardware(name="test", unique_id=b"TEST", clock=clock,
                    samples=None, mbus_uart=uart, mep_uart=None, radio=None, led=None, storage_root=root,
                    watchdog=None, reset=None)


def config(mbus):
    return validate({"app": "meter", "meter_id": "12345678", "mbus": mbus}, SCHEMA)


def port_on(mbus_cfg, root, speed=1, bus=None, start_s=None, clock=None):
    uart = MemoryUART(bus or default_bus(), time_scale=0.1)
    port = MBusPort(FakeHardware(uart, root, speed, start_s, clock), config(mbus_cfg), Log())
    port.master.rx.answer_ms = 40  # the in-memory slaves answer at once
    return port, uart


def test_schema_defaults_and_errors():
    assert MBUS_EVERY == EVERY
    m = config({})["mbus"]
    assert m["baud"] == 2400 and m["devices"] == [] and m["ring_segments"] == 8
    m = config({"devices": [{"address": 5}, {"address": "1208205830e24003", "medium": "gas"}]})["mbus"]
    assert m["devices"][0]["schedule"] == {"every": "daily", "minute": 0, "hour": 0, "weekday": 0, "day": 1,
                                           "month": 1}
    assert m["devices"][1]["address"] == "1208205830E24003" and m["devices"][0]["status_interval_s"] == 3600
    for bad, key in (({"baud": 1200}, "mbus.baud"),
                     ({"devices": [{"address": 251}]}, "mbus.devices[0].address"),
                     ({"devices": [{"address": "12345"}]}, "mbus.devices[0].address"),
                     ({"devices": [{"address": True}]}, "mbus.devices[0].address"),
                     ({"devices": [{"address": 1, "schedule": {"every": "fortnightly"}}]},
                      "mbus.devices[0].schedule.every"),
                     ({"devices": [{"address": 1, "schedule": {"day": 32}}]}, "mbus.devices[0].schedule.day"),
                     ({"devices": [{"address": n} for n in range(5)]}, "mbus.devices"),
                     ({"devics": []}, "mbus.devics")):
        exc = support.raises(ConfigError, config, bad)
        assert exc.key == key, (exc.key, key)


def test_port_reads_configured_devices_by_primary_and_secondary_address():
    root = support.tmpdir("mbus-port")
    port, uart = port_on({"baud": 9600, "devices": [
        {"address": 1, "medium": "gas", "schedule": {"every": "daily", "hour": 6}},
        {"address": "212650954CAE0E04", "name": "heat", "medium": "heat"}]}, root)
    try:
        assert [e.name for e in port.scheduler.entries] == ["gas1", "heat"]
        assert port.stall_ms() > 20_000

        async def main():
            return await port.request_read(0), await port.request_read(1)

        gas, heat = support.run(main())
        assert gas.code == heat.code == M.OK and len(heat.telegrams) == 2
        records = [unpack_record(data) for _, data in port.ring.records()]
        assert [(r[0], len(r[4])) for r in records] == [(0, 1), (1, 2)]
        assert records[1][4] == heat.telegrams
        sets = list(port.data_sets())
        assert [(s[0], s[1], s[3]) for s in sets] == [(gas.seq, 0, M.OK), (heat.seq, 1, M.OK)]
        assert sets[1][5] == heat.telegrams and list(port.data_sets(after_seq=gas.seq))[0][0] == heat.seq
    finally:
        port.close()
        support.rmtree(root)


def test_installation_scan_runs_once_and_adds_what_it_finds():
    root = support.tmpdir("mbus-scan")
    cfg = {"baud": 9600, "discover": True, "devices": [{"address": "212650954CAE0E04", "name": "heat"}]}
    try:
        port, uart = port_on(cfg, root)
        support.run(port.discover())
        names = [e.name for e in port.scheduler.entries]
        assert names == ["heat", "found2", "found3", "found4"]  # the fifth found is over the limit
        saved = store.AtomicRecord(root + "/mbus_found").read_json()
        assert len(saved["found"]) == 4 and saved["collisions"] == []
        sent = len(uart.sent)
        port.close()
        # After a restart the saved scan is used: no probe goes out.
        port, uart = port_on(cfg, root)
        support.run(port.discover())
        assert [e.name for e in port.scheduler.entries] == names and len(uart.sent) == 0 and sent > 20
        port.close()
    finally:
        support.rmtree(root)


async def _run_until(supervisor, done, limit_ms=120000):
    """Run a Supervisor until done() (checked every 10 ms; limit_ms only ends a hang), then stop it."""
    import rt

    async def stop_when_done():
        t0 = rt.ticks_ms()
        while not done() and rt.ticks_diff(rt.ticks_ms(), t0) < limit_ms:
            await rt.sleep_ms(10)
        supervisor.stop()

    stopper = asyncio.create_task(stop_when_done())
    await supervisor.run()
    await stopper


def test_task_under_the_supervisor_reads_on_schedule():
    from supervisor import Supervisor

    root = support.tmpdir("mbus-task")
    # A step calendar from 05:59:50: it moves only when the task sleeps, so the task always
    # starts before 06:00 however slow the machine, and stops at 06:30 (the next read, the
    # hourly one at 07:00, is beyond it).
    clock = StepClock(epoch_s(2024, 5, 6, 5, 59, 50), epoch_s(2024, 5, 6, 6, 30, 0), speed=10)
    port, uart = port_on({"baud": 9600, "devices": [
        {"address": 1, "name": "gas", "schedule": {"every": "daily", "hour": 6}, "status_interval_s": 0},
        {"address": 3, "name": "heat", "schedule": {"every": "hourly"}, "status_interval_s": 0}]}, root,
        clock=clock)
    try:
        sup = Supervisor(watchdog=None, log=Log())
        sup.add("mbus", port.task, port.stall_ms())
        # Stop as soon as both 06:00 reads are stored (a condition, however slow the machine).
        support.run(_run_until(sup, lambda: len(list(port.ring.records())) >= 2))
        assert sup.status()["mbus"]["restarts"] == 0, sup.status()
        records = [unpack_record(data) for _, data in port.ring.records()]
        got = [(r[0], r[1]) for r in records]
        assert got == [(0, 0), (1, 0)], "expected gas then heat read ok at 06:00, got (device, kind) %r" % got
    finally:
        port.close()
        support.rmtree(root)


def test_meter_app_runs_the_mbus_task_only_when_configured():
    from meter.app import Meter

    root = support.tmpdir("mbus-app")
    try:
        uart = MemoryUART(default_bus())
        hw = FakeHardware(uart, root)
        meter = Meter(hw, config({}), Log())
        assert meter.mbus is None
        meter = Meter(hw, config({"devices": [{"address": 1}]}), Log())
        assert meter.mbus is not None
        assert "mbus" in meter.build().status()
        meter.mbus.close()
        hw.mbus_uart = None
        assert Meter(hw, config({"devices": [{"address": 1}]}), Log()).mbus is None
    finally:
        support.rmtree(root)
