# The meter's admin task (firmware/meter/admin.py) on the host board, both interpreters:
# commands over its TCP listener, no answer to a wake-up, the call back to the preconfigured
# address with an authenticated HELLO, and the boot and calibration records.

import asyncio
import os
import struct
import rt
import board
import support
from log import Log
from startup import check_config
from meter.config import SCHEMA
from meter.admin import Admin
from security import keys as K
from security import commands as C
from security.keystore import open_board_keys
from crypto.keywrap import wrap
from secfix import HeadEnd, ANCHOR


def _port():
    return 20000 + (os.urandom(2)[0] << 8 | os.urandom(1)[0]) % 30000


def _setup(folder, listen, call_home, **metrology):
    cfg = check_config({
        "app": "meter", "meter_id": "12345678",
        "metrology": dict({"period_ms": 200, "checkpoint_s": 10}, **metrology),
        "board": {"storage_dir": folder, "watchdog": False, "samples": False},
        "admin": {"listen": listen, "connect_to": call_home},
    }, SCHEMA)
    hw = board.make_hardware(cfg)
    head = HeadEnd()
    keys = K.DeviceKeys(open_board_keys(hw))
    keys.install_utility(head.keys[K.UTILITY])
    wrapped = {n: wrap(K.provision_kek(head.keys[K.UTILITY], n), head.keys[n]) for n in K.DEVICE_KEYS}
    keys.provision(ANCHOR, wrapped, 0)
    return hw, cfg, head


async def _read_frame(reader):
    head = await reader.readexactly(2)
    return await reader.readexactly(head[0] << 8 | head[1])


def _frame(data):
    return struct.pack(">H", len(data)) + data


def test_admin_task_serves_commands_and_calls_back_after_a_wake_up():
    folder = support.tmpdir("admtask")
    listen_port, home_port = _port(), _port() + 1
    hw, cfg, head = _setup(folder, "127.0.0.1:%d" % listen_port, "127.0.0.1:%d" % home_port)
    admin = Admin(hw, cfg, Log([]))
    admin.boot_records()
    seen = {}

    async def home(reader, writer):
        seen["hello"] = await _read_frame(reader)
        frame, counter = head.command(K.ADMIN, C.STATUS, hw.clock.time_s())
        writer.write(_frame(frame))
        await writer.drain()
        seen["status"] = head.answer(K.ADMIN, await _read_frame(reader), counter)
        writer.close()

    async def client():
        server = await asyncio.start_server(home, "127.0.0.1", home_port)
        await rt.sleep_ms(100)
        reader, writer = await asyncio.open_connection("127.0.0.1", listen_port)
        frame, counter = head.command(K.ADMIN, C.STATUS, hw.clock.time_s())
        writer.write(_frame(frame))
        await writer.drain()
        seen["direct"] = head.answer(K.ADMIN, await _read_frame(reader), counter)
        # A wake-up: nothing comes back on this connection, the meter calls home instead.
        writer.write(_frame(head.command(K.ADMIN, C.WAKE, hw.clock.time_s())[0]))
        await writer.drain()
        try:
            await rt.wait_for_ms(reader.readexactly(1), 500)
            seen["answered_wake"] = True
        except asyncio.TimeoutError:
            pass
        for _ in range(40):
            if "status" in seen:
                break
            await rt.sleep_ms(100)
        writer.close()
        server.close()

    async def main():
        task = asyncio.create_task(admin.task(lambda: None))
        try:
            await client()
        finally:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    try:
        support.run(main())
        assert seen["direct"][0] == C.OK
        assert "answered_wake" not in seen
        hello = C.parse(seen["hello"], C.MAX_REPLY_PAYLOAD)
        assert hello.command == C.HELLO and hello.payload == b"12345678"
        assert C.verify(head.keys[K.ADMIN], seen["hello"], True)
        assert seen["status"][0] == C.OK
        kinds = [r["kind"] for _, r in admin.logs.system.records(0, 32)]
        assert kinds[:1] == ["boot"] and "wake" in kinds and "connected" in kinds
    finally:
        admin.logs.close()
        support.rmtree(folder)


def test_calibration_is_recorded_once_per_change():
    folder = support.tmpdir("admcal")
    try:
        hw, cfg, _ = _setup(folder, None, None)
        for v, expected in ((0.001, 1), (0.001, 1), (0.002, 2)):
            cfg["metrology"]["v_per_count"] = v
            admin = Admin(hw, cfg, Log([]))
            admin.boot_records()
            records = admin.logs.calibration.records(0, 8)
            assert len(records) == expected
            assert records[-1][1]["v_per_count"] == v
            admin.logs.close()
    finally:
        support.rmtree(folder)


def test_without_a_key_store_commands_are_off_but_the_task_runs():
    folder = support.tmpdir("admnokey")
    try:
        hw, cfg, _ = _setup(folder, None, None)
        hw.board_secret = None
        admin = Admin(hw, cfg, Log([]))
        assert admin.commands is None
        admin.boot_records()
        admin.logs.close()
    finally:
        support.rmtree(folder)


class _FixedClock:
    """A calendar that stands still: the limiter's minute cannot turn during a test."""

    def __init__(self, t_s):
        self.t_s = t_s

    def time_s(self):
        return self.t_s


async def _with_admin(admin, body):
    task = asyncio.create_task(admin.task(lambda: None))
    try:
        await _until(lambda: admin.listening, "the admin listener")
        return await body()
    finally:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass


async def _until(condition, what, step_ms=10, tries=3000):
    """Wait for a condition (a hang guard, not a time bound: tries * step_ms is generous)."""
    for _ in range(tries):
        if condition():
            return
        await rt.sleep_ms(step_ms)
    raise AssertionError("still waiting for " + what)


async def _connect(port):
    return await asyncio.open_connection("127.0.0.1", port)


async def _closed_by_meter(reader):
    """True once the meter has closed this connection (EOF)."""
    try:
        return await reader.read(100) == b""
    except OSError:
        return True


def test_a_flood_of_oversize_frames_is_limited_and_never_rotates_the_system_log():
    # Issue 12 item 3: 200 connections that each send FF FF used to write 200 `rejected`
    # records into the system log and rotate out the security records before them.
    folder = support.tmpdir("admflood")
    port = _port()
    hw, cfg, head = _setup(folder, "127.0.0.1:%d" % port, None)
    t0 = hw.clock.time_s() // 60 * 60
    hw.clock = _FixedClock(t0 + 10)  # the limiter's minute cannot turn during the flood
    admin = Admin(hw, cfg, Log([]))
    admin.boot_records()
    flood = 200

    async def body():
        for _ in range(flood):
            reader, writer = await _connect(port)
            writer.write(b"\xff\xff")
            await writer.drain()
            assert await _closed_by_meter(reader), "an oversize frame closes the connection"
            writer.close()
        await _until(lambda: admin.commands.rejected.get("oversize", 0) == flood, "every oversize frame counted")
        hw.clock.t_s = t0 + 70  # the next minute: the admin task writes the summary
        await _until(lambda: admin.logs.get("untrusted").last_seq > 20, "the summary")

    try:
        support.run(_with_admin(admin, body))
        system = [r for _, r in admin.logs.system.records(0, 32)]
        assert system[0]["kind"] == "boot", "the first security record is still there: %r" % system[:2]
        assert not [r for r in system if r["kind"] == "rejected"], "no unauthenticated record in the system log"
        untrusted = [r for _, r in admin.logs.untrusted.records(0, 32)]
        kinds = [r["kind"] for r in untrusted]
        assert kinds == ["rejected"] * 20 + ["suppressed"], kinds
        assert untrusted[-1]["count"] == flood - 20 and untrusted[-1]["what"] == {"oversize": flood - 20}, untrusted[-1]
    finally:
        admin.logs.close()
        support.rmtree(folder)


def test_idle_connections_cannot_keep_out_an_authenticated_exchange_or_the_call_back():
    # Issue 12 item 4: two connections that send one byte each held both slots for 30 s,
    # and the wake-up's call-back needs a slot too.
    folder = support.tmpdir("admslots")
    listen_port, home_port = _port(), _port() + 1
    hw, cfg, head = _setup(folder, "127.0.0.1:%d" % listen_port, "127.0.0.1:%d" % home_port)
    admin = Admin(hw, cfg, Log([]))
    admin.first_frame_ms = 600000  # the deadline is not what frees the slots here: eviction is
    seen = {}

    async def home(reader, writer):
        seen["hello"] = await _read_frame(reader)
        frame, counter = head.command(K.ADMIN, C.STATUS, hw.clock.time_s())
        writer.write(_frame(frame))
        await writer.drain()
        seen["home_status"] = head.answer(K.ADMIN, await _read_frame(reader), counter)
        writer.close()

    async def body():
        server = await asyncio.start_server(home, "127.0.0.1", home_port)
        idle = []
        for _ in range(2):
            reader, writer = await _connect(listen_port)
            writer.write(b"\x00")
            await writer.drain()
            idle.append((reader, writer))
        await _until(lambda: admin.connections == 2, "two idle connections in both slots")
        reader, writer = await _connect(listen_port)
        frame, counter = head.command(K.ADMIN, C.STATUS, hw.clock.time_s())
        writer.write(_frame(frame))
        await writer.drain()
        seen["status"] = head.answer(K.ADMIN, await _read_frame(reader), counter)
        seen["oldest_closed"] = await _closed_by_meter(idle[0][0])
        # A wake-up on the trusted connection: the call-back takes the other idle one's slot.
        writer.write(_frame(head.command(K.ADMIN, C.WAKE, hw.clock.time_s())[0]))
        await writer.drain()
        await _until(lambda: "home_status" in seen, "the call-back's STATUS")
        seen["second_closed"] = await _closed_by_meter(idle[1][0])
        for r, w in idle + [(reader, writer)]:
            w.close()
        server.close()

    try:
        support.run(_with_admin(admin, body))
        assert seen["status"][0] == C.OK, "an authenticated command gets through two idle connections"
        assert seen["home_status"][0] == C.OK, "the call-back gets a slot too"
        assert seen["oldest_closed"] and seen["second_closed"], "the idle connections were evicted"
        assert admin.commands.rejected.get("evicted") == 2, admin.commands.rejected
    finally:
        admin.logs.close()
        support.rmtree(folder)


def test_a_connection_without_an_authentic_frame_is_freed_at_its_deadline():
    folder = support.tmpdir("admdeadline")
    port = _port()
    hw, cfg, head = _setup(folder, "127.0.0.1:%d" % port, None)
    admin = Admin(hw, cfg, Log([]))
    admin.first_frame_ms = 300
    admin.idle_ms = 600000
    seen = {}

    async def body():
        # Silent after one byte: closed at the first-frame deadline (tick clock).
        reader, writer = await _connect(port)
        start = rt.ticks_ms()
        writer.write(b"\x00")
        await writer.drain()
        seen["silent_closed"] = await _closed_by_meter(reader)
        seen["silent_ms"] = rt.ticks_diff(rt.ticks_ms(), start)
        writer.close()
        # A frame that is not authentic: closed at once, not after a timeout.
        reader, writer = await _connect(port)
        bad = bytearray(head.command(K.ADMIN, C.STATUS, hw.clock.time_s())[0])
        bad[-1] ^= 1
        writer.write(_frame(bytes(bad)))
        await writer.drain()
        seen["forged_closed"] = await _closed_by_meter(reader)
        writer.close()
        # An authenticated session stays open past the first-frame deadline.
        reader, writer = await _connect(port)
        for _ in range(2):
            frame, counter = head.command(K.ADMIN, C.STATUS, hw.clock.time_s())
            writer.write(_frame(frame))
            await writer.drain()
            seen.setdefault("answers", []).append(head.answer(K.ADMIN, await _read_frame(reader), counter)[0])
            await rt.sleep_ms(admin.first_frame_ms + 100)
        seen["open_sessions"] = admin.connections
        writer.close()

    try:
        support.run(_with_admin(admin, body))
        assert seen["silent_closed"] and admin.commands.rejected.get("no_frame") == 1, admin.commands.rejected
        assert seen["silent_ms"] < admin.idle_ms, "freed by the first-frame deadline, not the idle timeout"
        assert seen["forged_closed"] and admin.commands.rejected.get("bad_mac") == 1, admin.commands.rejected
        assert seen["answers"] == [C.OK, C.OK] and seen["open_sessions"] == 1, seen
    finally:
        admin.logs.close()
        support.rmtree(folder)
