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
