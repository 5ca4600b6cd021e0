# The MEP protocol over an in-memory serial pair: table reads and writes, procedures,
# private data, logs, downlink areas, alerts, resynchronisation; and the MEP device's
# applications. Runs under CPython and MicroPython.

import struct
import support
import mep_support as M
from mep import tables as T
from mep.errors import MEPError, FrameError, ResponseError
from mep.frame import Receiver, FRAME, ALERT, BAD
from mep.secure import LinkKeys, UP, DOWN


def _frame(keys, seq, code=T.READ_FULL, args=b"\x00\x01", direction=UP):
    body = bytearray(1 + len(args) + 12)
    body[0] = code
    body[1:1 + len(args)] = args
    struct.pack_into(">I", body, 1 + len(args), seq)
    keys.sign_into(direction, body)
    return struct.pack(">H", len(body)) + body


def test_receiver_finds_frames_alerts_and_skips_garbage():
    keys = LinkKeys(M.KEY)
    r = Receiver(keys.verify_up)
    r.feed(b"\xff\x13" + _frame(keys, 5) + b"\x00\x00" + b"\x07garbage" + _frame(keys, 6))
    kind, body = r.poll(0)
    assert kind == FRAME and body[0] == T.READ_FULL
    assert r.poll(0) == (ALERT, None)
    kind, body = r.poll(0)
    assert kind == FRAME
    assert r.poll(0) is None
    assert r.frames == 2 and r.garbage_bytes == 2 + 8


def test_receiver_finds_a_frame_inside_garbage_that_looked_like_a_length():
    keys = LinkKeys(M.KEY)
    frame = _frame(keys, 9)
    r = Receiver(keys.verify_up)
    r.feed(b"\x00\x0f\x01" + frame)  # 00 0f: a plausible length covering the real frame's start
    kind, body = r.poll(0)
    assert kind == FRAME and r.garbage_bytes == 3


def test_receiver_drops_a_truncated_frame_after_the_timeout_and_recovers():
    keys = LinkKeys(M.KEY)
    r = Receiver(keys.verify_up, frame_timeout_ms=100)
    r.feed(_frame(keys, 1)[:10])
    assert r.poll(0) is None
    assert r.poll(50) is None
    assert r.poll(150) is None  # dropped a byte, waiting again on what is left
    for t in range(200, 3000, 150):
        r.poll(t)
    assert r.timeouts >= 1 and r.pending < 2  # at most one byte waits for company
    r.feed(_frame(keys, 2))
    assert r.poll(3000)[0] == FRAME


def test_receiver_reports_a_bad_digest_and_bounds_its_buffer():
    keys = LinkKeys(M.KEY)
    frame = bytearray(_frame(keys, 3))
    frame[-1] ^= 1
    r = Receiver(keys.verify_up)
    r.feed(frame)
    event = r.poll(0) or r.poll(1000)  # a length-like byte pair inside may make it wait once
    assert event[0] == BAD
    r.feed(bytes(5000))
    assert r.overflow_bytes > 0 and r.pending <= r.capacity


def test_private_data_roundtrip_and_per_message_keys():
    keys = LinkKeys(M.KEY)
    for n in (0, 1, 13, 14, 15, 16, 100):
        plain = bytes(range(n))
        sealed = keys.encrypt(77, plain)
        assert len(sealed) % 16 == 0 and plain not in sealed or n == 0
        assert keys.decrypt(77, sealed) == plain
        try:
            wrong = keys.decrypt(78, sealed)
        except FrameError:
            wrong = None
        assert wrong != plain or n == 0
    assert support.raises(FrameError, keys.decrypt, 1, b"short") is not None


def test_direction_keys_differ():
    keys = LinkKeys(M.KEY)
    frame = _frame(keys, 4, direction=DOWN)
    assert not keys.verify_up(memoryview(frame)[2:])
    assert keys.verify_down(memoryview(frame)[2:])


def _linked(body, mbus=None, **over):
    root = support.tmpdir("mep")

    async def main():
        a, b = M.port_pair()
        mep = M.make_meter_mep(root, a, mbus=mbus, **over)
        client = M.make_client(root, b)
        return await M.with_server(mep, lambda: body(mep, client))

    try:
        return support.run(main())
    finally:
        support.rmtree(root)


def test_reads_of_public_and_private_tables():
    async def body(mep, c):
        ident = T.decode_ident(await c.read(T.IDENT))
        assert ident["meter_id"] == "12345678" and ident["manufacturer"] == "OSMM" and ident["tariffs"] == 3
        rt_values = T.decode_realtime(await c.read(T.REALTIME))
        assert abs(rt_values["vrms"] - 230.1) < 0.01 and rt_values["import_wh"] == 123456
        assert abs(rt_values["pf"] - 0.982) < 0.001 and abs(rt_values["freq_hz"] - 50.01) < 0.001
        regs = T.decode_registers(await c.read(T.REGISTERS))
        assert regs["import_wh"] == 123456 and regs["export_wh"] == 789
        part = await c.read(T.IDENT, 4, 4)
        assert part == bytes.fromhex("12345678")
        # Private tables travel encrypted: the response on the wire does not hold the plain image.
        assert T.encode_registers(123456, 789, 0, []) not in bytes(mep.hw.mep_uart.sent)
        # Every access to private data is in the consumer log.
        tables = [T.NAMES[T.REALTIME], T.NAMES[T.REGISTERS]]
        logged = [r["table"] for _, r in mep.consumer.records(0, 32)]
        assert logged == tables
        return True

    assert _linked(body)


def test_errors_for_unknown_tables_bad_ranges_and_permissions():
    async def body(mep, c):
        for call, code in ((c.read(0x0999), T.ERR_UNSUPPORTED), (c.read(T.IDENT, 10, 50), T.ERR_TABLE_OP),
                           (c.read(T.SECURITY), T.ERR_PERMISSION), (c.write(T.TARIFF, b"\x01"), T.ERR_PERMISSION),
                           (c.write(T.OVERRIDES, b"\x09\x00"), T.ERR_TABLE_OP)):
            try:
                await call
            except ResponseError as exc:
                assert exc.code == code, (exc.code, code)
            else:
                raise AssertionError("no error")
        answer = await c.procedure(T.PROC_SET_TARIFF, b"\x02")
        assert answer["result"] == T.RESULT_NO_AUTH and mep.tariffs.active == 0
        answer = await c.procedure(0x0999)
        assert answer["result"] == T.RESULT_UNKNOWN
        assert mep.server.denied == 2  # security read, tariff write (bad ET21 data is another error)
        return True

    assert _linked(body)


def test_overrides_written_by_the_device_are_stored_and_logged():
    async def body(mep, c):
        image = T.encode_overrides(T.OVERRIDE_SETPOINT, 22.5, 1000)
        await c.write(T.OVERRIDES, image)
        assert T.decode_overrides(await c.read(T.OVERRIDES))["setpoint_c"] == 22.5
        assert mep.downlink._overrides.read() == image
        return [r for _, r in mep.events.records()]

    records = _linked(body)
    assert b'"override"' in records[-1]


def test_urgent_queue_acknowledged_and_nonurgent_area_never_cleared():
    async def body(mep, c):
        assert T.decode_urgent(await c.read(T.URGENT)) is None
        first = mep.downlink.put_urgent(T.APP_DISPLAY, b"storm warning")
        mep.downlink.put_urgent(T.APP_THERMOSTAT, b'{"offset_c": -2}')
        mep.downlink.put_nonurgent([(T.APP_DISPLAY, b"hello"), (T.APP_THERMOSTAT, b"{}")])
        st = T.decode_status(await c.read(T.ALERT_STATUS))
        assert st["flags"] & T.ALERT_URGENT and st["urgent_queued"] == 2 and st["nonurgent_generation"] == 1
        entry = T.decode_urgent(await c.read(T.URGENT))
        assert entry["id"] == first and entry["data"] == b"storm warning"
        # The same entry until it is acknowledged; a wrong id is refused.
        assert T.decode_urgent(await c.read(T.URGENT))["id"] == first
        assert (await c.procedure(T.PROC_ACK_URGENT, struct.pack(">IB", first + 5, 0)))["result"] == T.RESULT_INVALID
        assert (await c.procedure(T.PROC_ACK_URGENT, struct.pack(">IB", first, 0)))["result"] == T.RESULT_DONE
        second = T.decode_urgent(await c.read(T.URGENT))
        assert second["app"] == T.APP_THERMOSTAT
        assert (await c.procedure(T.PROC_ACK_URGENT, struct.pack(">IB", second["id"], 1)))["result"] == T.RESULT_DONE
        assert T.decode_urgent(await c.read(T.URGENT)) is None
        for _ in range(3):
            area = T.decode_nonurgent(await c.read(T.NONURGENT))
            assert area["generation"] == 1 and area["items"][0] == (T.APP_DISPLAY, b"hello")
        return [r for _, r in mep.events.records()]

    records = b"\n".join(_linked(body))
    assert b'"outcome": "success"' in records and b'"outcome": "failure"' in records


def test_tariff_prices_are_rounded_to_the_ten_thousandth_not_truncated():
    # 0.57 * 10000 is 5699.999... on doubles and 0.251 * 10000 is 2509.9998 on float32:
    # int() alone gave 5699 on the host and 2509 on a device.
    root = support.tmpdir("mep")
    try:
        mep = M.make_meter_mep(root, tariff_prices=[0.251, 0.57, 1.1])
        image = mep.tariffs.image()  # BT: the tariff table the MEP device reads
        units = [struct.unpack_from(">I", image, 6 + 12 * k)[0] for k in range(3)]
        assert units == [2510, 5700, 11000], "expected [2510, 5700, 11000], got %r" % (units,)
    finally:
        support.rmtree(root)
    assert [T.scaled(x, 10) for x in (0.05, -0.05, 229.96, -229.96, 0.0)] == [1, -1, 2300, -2300, 0]


def test_urgent_queue_and_tariff_survive_a_restart():
    root = support.tmpdir("mep")
    mep = M.make_meter_mep(root)
    mep.downlink.put_urgent(1, b"x")
    mep.tariffs.set(2, "test")
    again = M.make_meter_mep(root)
    assert len(again.downlink.urgent) == 1 and again.tariffs.active == 2 and again.downlink.urgent_next_id == 2
    assert support.raises(MEPError, again.tariffs.set, 7) is not None
    support.rmtree(root)


def test_downlink_messages_and_their_errors():
    root = support.tmpdir("mep")
    inbox = root + "/inbox"
    mep = M.make_meter_mep(root, inbox_dir=inbox)
    mep.inbox.apply({"tariff": 1})
    mep.inbox.apply({"urgent": {"app": 1, "text": "hi"}})
    mep.inbox.apply({"nonurgent": [{"app": 2, "json": {"offset_c": 1}}]})
    assert mep.tariffs.active == 1 and len(mep.downlink.urgent) == 1 and mep.downlink.nonurgent_gen == 1
    for bad in ({}, {"tariff": "2"}, {"urgent": {"app": 0, "text": "x"}}, {"urgent": {"app": 1}},
                {"nonurgent": "x"}, {"tariff": 9}, {"other": 1}, [1], {"urgent": {"app": 1, "text": "x" * 300}}):
        assert support.raises(MEPError, mep.inbox.apply, bad) is not None
    # The inbox: a malformed file is counted and removed, a good one applied.
    import os
    os.mkdir(inbox)
    with open(inbox + "/1.json", "w") as f:
        f.write("{not json")
    with open(inbox + "/2.json", "w") as f:
        f.write('{"tariff": 2}')
    mep.inbox.poll()
    assert mep.inbox.errors == 1 and mep.tariffs.active == 2 and os.listdir(inbox) == []
    support.rmtree(root)


def test_log_tables_read_after_a_sequence_number():
    async def body(mep, c):
        for k in range(30):
            mep.profile.append(T.encode_profile_record(1000 + k, k * 10, k))
        newest = T.decode_log(await c.read(T.PROFILE))
        assert newest[-1][0] == 30
        got = []
        after = 0
        while True:
            records = T.decode_log(await c.read(T.PROFILE, after, 100))
            if not records:
                break
            got.extend(records)
            after = records[-1][0]
        seqs = [s for s, _ in got]
        # The ring keeps at least profile_depth (12) records, the newest, in order.
        assert len(seqs) >= 12 and seqs == list(range(seqs[0], 31))
        k = seqs[0] - 1
        assert T.decode_profile_record(got[0][1]) == {"end": 1000 + k, "import_wh": k * 10, "export_wh": k}
        return True

    assert _linked(body)


def test_mbus_devices_data_sets_and_on_demand_read():
    mbus = M.FakeMBus()
    mbus.add(0, 500, bytes.fromhex("6803036808"))
    mbus.add(1, 600, bytes.fromhex("e5"))

    async def body(mep, c):
        devices = T.decode_mbus_devices(await c.read(T.MBUS_DEVICES))
        assert devices[0]["id"] == "87654321" and devices[1]["manufacturer"] == "KAM"
        sets = T.decode_log(await c.read(T.MBUS_DATA, 1, 200))
        assert len(sets) == 1 and T.decode_dataset_record(sets[0][1])["frame"] == b"\xe5"
        assert (await c.procedure(T.PROC_MBUS_READ, b"\x01"))["result"] == T.RESULT_ACCEPTED
        assert (await c.procedure(T.PROC_MBUS_READ, b"\x07"))["result"] == T.RESULT_INVALID
        return mbus.requested

    assert _linked(body, mbus=mbus) == [1]


def test_alert_raised_until_acknowledged():
    async def body(mep, c):
        assert not await c.listen(400)
        mep.tariffs.set(1)
        assert await c.listen(2000)
        c.alert_pending = False
        st = T.decode_status(await c.read(T.ALERT_STATUS))
        assert st["flags"] & T.ALERT_TARIFF and st["flags"] & T.ALERT_EVENTS
        await c.procedure(T.PROC_ACK_ALERT, bytes([T.ALERT_TARIFF | T.ALERT_EVENTS]))
        assert T.decode_status(await c.read(T.ALERT_STATUS))["flags"] == 0
        assert not await c.listen(500)
        return mep.server.alerts

    assert _linked(body, alert_interval_ms=100) >= 1


def test_device_resynchronises_after_the_meter_forgets_nothing():
    # The meter's window survives a restart: the device's old numbers are refused with
    # 0x0C and the expected value, and the device continues from there.
    root = support.tmpdir("mep")

    async def main():
        a, b = M.port_pair()
        mep = M.make_meter_mep(root, a)
        c = M.make_client(root, b)
        await M.with_server(mep, lambda: c.read(T.IDENT))
        import os
        os.remove(root + "/client-seq")  # the device lost its counter: starts again at 1
        again = M.make_meter_mep(root, a)
        assert again.window.last >= 1
        c2 = M.make_client(root, b)
        await M.with_server(again, lambda: c2.read(T.IDENT))
        return c2.resyncs, again.server.bad_sequence

    assert support.run(main()) == (1, 1)
    support.rmtree(root)


def test_client_times_out_and_retries_when_the_meter_is_silent():
    root = support.tmpdir("mep")

    async def main():
        a, b = M.port_pair()
        c = M.make_client(root, b, timeout_ms=50, retries=2, backoff_ms=5)
        try:
            await c.read(T.IDENT)
        except MEPError as exc:
            return c.timeouts, c.retried, type(exc).__name__
        return None

    assert support.run(main()) == (3, 2, "LinkTimeout")
    support.rmtree(root)


def test_table_decoders_reject_short_data():
    for decode in (T.decode_ident, T.decode_realtime, T.decode_registers, T.decode_tariff, T.decode_overrides,
                   T.decode_nonurgent, T.decode_status, T.decode_mbus_devices, T.decode_log,
                   T.decode_procedure_response, T.decode_profile_record, T.decode_dataset_record):
        assert support.raises(FrameError, decode, b"\x05") is not None
    assert T.decode_urgent(b"") is None


def test_dispatcher_buffers_for_sleeping_applications():
    from mep_device.dispatch import Dispatcher

    class App:
        def __init__(self):
            self.awake = True
            self.got = []

        def receive(self, kind, payload):
            self.got.append((kind, payload))

    d = Dispatcher(depth=2)
    app = App()
    d.register(2, app)
    assert d.deliver(2, "message", 1) and app.got == [("message", 1)]
    app.awake = False
    for k in range(3):
        d.deliver(2, "tariff", k)
    assert app.got == [("message", 1)] and d.dropped == 1
    app.awake = True
    assert d.wake(2) == 2 and app.got[-2:] == [("tariff", 1), ("tariff", 2)]
    assert not d.deliver(9, "message", b"")


def test_thermostat_follows_the_tariff_and_sends_overrides():
    import clock
    from mep_device.thermostat import Thermostat

    t = Thermostat({"base_c": 21.0, "tariff_offsets_c": [0.0, -1.0, -3.0], "wake_s": 0}, clock.Clock())
    assert t.setpoint_c == 21.0
    t.receive("tariff", {"active": 2})
    assert t.setpoint_c == 18.0
    t.receive("message", {"offset_c": 1.5, "duration_s": 600})
    assert t.setpoint_c == 19.5
    assert t.take_override() is None
    t.override(23.0, 3600)
    assert t.setpoint_c == 23.0
    image = t.take_override()
    assert T.decode_overrides(image)["setpoint_c"] == 23.0 and t.take_override() is None


def test_device_link_master_delivers_and_acknowledges():
    import clock
    from mep_device.dispatch import Dispatcher
    from mep_device.localstore import LocalStore
    from mep_device.link import LinkMaster
    from mep_device.thermostat import Thermostat
    from mep_device.display import Display

    async def body(mep, c):
        root = mep.hw.storage_root
        store = LocalStore(root)
        d = Dispatcher(4)
        th = Thermostat({"base_c": 20.0, "tariff_offsets_c": [0.0, -2.0], "wake_s": 0}, clock.Clock())
        disp = Display(store, {"console_interval_s": 10, "http_port": None, "http_host": "127.0.0.1"}, clock.Clock(), th)
        d.register(T.APP_DISPLAY, disp)
        d.register(T.APP_THERMOSTAT, th)
        link = LinkMaster(c, store, d, {"registers_every": 5}, M.Log(), overrides=th.take_override)
        mep.downlink.put_urgent(T.APP_DISPLAY, b"hello")
        mep.downlink.put_urgent(9, b"nobody")
        mep.downlink.put_nonurgent([(T.APP_THERMOSTAT, b'{"offset_c": 1.0}')])
        await link.cycle()
        assert link.urgent_acked == 1 and link.urgent_failed == 1 and not mep.downlink.urgent
        assert th.setpoint_c == 21.0  # utility offset +1 on tariff 0
        mep.tariffs.set(1)
        th.override(19.0, 600)
        await link.cycle()
        assert th.tariff == 1
        assert T.decode_overrides(mep.downlink.overrides_image)["setpoint_c"] == 19.0
        state = disp.state()
        assert state["tariff"]["name"] == "night" and state["realtime"]["import_wh"] == 123456
        assert [m["text"] for m in state["messages"]][:1] == ["hello"]
        code, ctype, page = disp.route("GET", "/")
        assert code.startswith("200") and b"fetch(" in page
        code, _, _ = disp.route("GET", "/nothing")
        assert code.startswith("404")
        return True

    assert _linked(body)


def test_device_receiver_tells_a_stray_zero_from_an_alert():
    keys = LinkKeys(M.KEY)
    frame = _frame(keys, 3, direction=DOWN)
    r = Receiver(keys.verify_down)
    r.feed(b"\x00" + frame)
    assert r.poll(0)[0] == FRAME and r.garbage_bytes == 1 and r.alerts == 0
    r.feed(b"\x00\x00" + frame)
    assert r.poll(0) == (ALERT, None)
    assert r.poll(0)[0] == FRAME
    r.feed(b"\x00\x00")
    assert r.poll(0) == (ALERT, None)


def test_profile_task_appends_interval_records():
    import asyncio
    import clock

    root = support.tmpdir("mep")
    mep = M.make_meter_mep(root, profile_period_s=60)
    mep.clock = clock.Clock(speed=600)  # 60 calendar seconds in 0.1 s

    async def main():
        ticks = []
        try:
            await asyncio.wait_for(mep.profile_task(lambda: ticks.append(1)), 0.45)
        except asyncio.TimeoutError:
            pass
        return len(ticks)

    n = support.run(main())
    records = [T.decode_profile_record(r) for _, r in mep.profile.records()]
    assert n >= 2 and len(records) == n, (n, len(records))
    assert records[-1]["import_wh"] == 123456 and records[-1]["end"] > records[0]["end"]
    support.rmtree(root)


def test_link_master_survives_a_silent_meter():
    import asyncio
    from mep_device.dispatch import Dispatcher
    from mep_device.localstore import LocalStore
    from mep_device.link import LinkMaster

    root = support.tmpdir("mep")

    async def main():
        a, b = M.port_pair()
        c = M.make_client(root, b, timeout_ms=30, retries=1, backoff_ms=5)
        store = LocalStore(root)
        link = LinkMaster(c, store, Dispatcher(), {"registers_every": 5, "poll_ms": 20}, M.Log())
        progress = []
        try:
            await asyncio.wait_for(link.task(lambda: progress.append(1)), 0.5)
        except asyncio.TimeoutError:
            pass
        return link.errors, len(progress), store.link

    errors, progress, state = support.run(main())
    assert errors >= 2 and progress == errors and state == "down"
    support.rmtree(root)
