# The M-Bus master against the simulated slaves over an in-memory link (both
# interpreters): FCB rules, multi-telegram reads, secondary addressing, the scan,
# and one result code per injected fault.
import support
from mbus import master as M
from mbus.master import Master, Device, secondary_from_text, secondary_to_text, matches, more_follow
from mbus_memlink import MemoryUART, default_bus, frame, DEFAULT_DEVICES

NKE = 0x40
FAST_ANSWER_MS = 60  # the in-memory slaves answer within a few ms


def master_on(bus, retries=2):
    uart = MemoryUART(bus, time_scale=0.2)
    m = Master(uart, 9600, retries=retries)
    m.rx.answer_ms = FAST_ANSWER_MS
    return m, uart


def sent_c(uart):
    """(C, A) of every request sent, in order."""
    out = []
    for req in uart.sent:
        out.append((req[1], req[2]) if req[0] == 0x10 else (req[4], req[5]))
    return out


def test_secondary_address_text_round_trip_and_wildcards():
    sec = secondary_from_text("1208205830E24003")  # the LGB gas meter: manufacturer 0x30E2
    assert sec == bytes.fromhex("58200812" "E230" "40" "03")
    assert secondary_to_text(sec) == "1208205830E24003"
    assert matches(b"\xff" * 8, sec)
    assert matches(secondary_from_text("1FFFFFFFFFFFFFFF"), sec)
    assert matches(secondary_from_text("120820FFFFFFFF03"), sec)
    assert not matches(secondary_from_text("2FFFFFFFFFFFFFFF"), sec)
    assert not matches(secondary_from_text("FFFFFFFFFFFFFF07"), sec)
    assert support.raises(ValueError, secondary_from_text, "1234")
    assert support.raises(ValueError, secondary_from_text, "zz082058E2304003")
    assert support.raises(ValueError, Device, 251)
    assert support.raises(ValueError, Device)
    assert Device(254).address == 254 and Device(secondary=sec).address == 253


def test_more_follow_on_corpus_frames():
    assert more_follow(frame("SEN_Sensus-PolluStat-E"))  # ends in DIF 0x1F
    assert not more_follow(frame("SEN_Sensus-PolluTherm"))
    assert not more_follow(frame("LGB_G350"))  # fillers 2F, LVAR, FD VIFs
    assert not more_follow(frame("ACW_Itron-CYBLE-M-Bus-14"))  # plain-text VIFs, 0x0F
    assert not more_follow(b"\xe5") and not more_follow(b"\x68\x03\x03\x68\x08\x01\x70\x79\x16")
    # Truncated or absurd records end the walk without an exception.
    heat = frame("SEN_Sensus-PolluStat-E")
    for cut in range(len(heat)):
        more_follow(heat[:cut])


def test_primary_read_resets_link_then_toggles_fcb():
    m, uart = master_on(default_bus())
    gas = Device(1)

    async def main():
        first = await m.read(gas)
        second = await m.read(gas)
        third = await m.read(gas)
        return first, second, third

    first, second, third = support.run(main())
    assert first.code == second.code == third.code == M.OK
    assert first.telegrams[0][7:15] == frame("LGB_G350")[7:15]
    # SND_NKE, then REQ_UD2 with FCB 1 (0x7B), then 0 (0x5B), then 1 again.
    assert sent_c(uart) == [(NKE, 1), (0x7B, 1), (0x5B, 1), (0x7B, 1)]
    # Each new FCB gets a fresh telegram (the access number counts).
    acc = [r.telegrams[0][15] for r in (first, second, third)]
    assert acc[1] == (acc[0] + 1) & 0xFF and acc[2] == (acc[1] + 1) & 0xFF


def test_multi_telegram_read_with_toggled_fcb():
    m, uart = master_on(default_bus())
    heat = Device(3)

    async def main():
        return await m.read(heat), await m.read(heat)

    one, two = support.run(main())
    assert one.code == M.OK and len(one.telegrams) == 2
    assert more_follow(one.telegrams[0]) and not more_follow(one.telegrams[1])
    assert one.telegrams[0][7:15] == one.telegrams[1][7:15]
    assert sent_c(uart) == [(NKE, 3), (0x7B, 3), (0x5B, 3), (0x7B, 3), (0x5B, 3)]
    assert len(two.telegrams) == 2 and two.telegrams[0][-3] == 0x1F


def test_telegram_cap():
    m, uart = master_on(default_bus())
    m.max_telegrams = 1
    r = support.run(m.read(Device(3)))
    assert r.code == M.OK and len(r.telegrams) == 1 and r.detail == "telegram cap reached"


def test_missing_answer_repeats_with_the_same_fcb():
    m, uart = master_on(default_bus(faults=["gas:bad_checksum::1"]))
    gas = Device(1)

    async def main():
        return await m.read(gas)

    r = support.run(main())
    assert r.code == M.OK and len(r.telegrams) == 1
    assert sent_c(uart) == [(NKE, 1), (0x7B, 1), (0x7B, 1)]
    assert m.rx.bad_frames == 1


def test_no_answer_after_retries_and_reset_before_next_read():
    m, uart = master_on(default_bus(faults=["water:no_answer"]), retries=1)
    water = Device(2)

    async def main():
        return await m.read(water), await m.read(water)

    one, two = support.run(main())
    assert one.code == M.NO_ANSWER and two.code == M.NO_ANSWER
    assert sent_c(uart) == [(NKE, 2), (NKE, 2)] * 2
    assert water.fcb is None


def test_missing_reply_repeats_same_fcb_then_link_reset():
    bus = default_bus()
    m, uart = master_on(bus, retries=1)
    water = Device(2)
    slave = bus.slaves[1]

    async def main():
        one = await m.read(water)
        slave.fault = "no_answer"  # the slave goes quiet after one good exchange
        two = await m.read(water)
        slave.fault = None
        return one, two, await m.read(water)

    one, two, three = support.run(main())
    assert (one.code, two.code, three.code) == (M.OK, M.NO_ANSWER, M.OK)
    # After the good reply FCB toggled to 0; the missing reply repeats 0x5B with the same
    # FCB; the failure makes the next read start with a link reset.
    assert sent_c(uart) == [(NKE, 2), (0x7B, 2), (0x5B, 2), (0x5B, 2), (NKE, 2), (0x7B, 2)]


def test_slow_answer_inside_and_outside_the_window():
    # time_scale 0.2: 150 ms -> 30 ms (inside the 60 ms window), 1000 ms -> 200 ms (outside).
    m, uart = master_on(default_bus(faults=["gas:slow:150", "water:slow:1000"]), retries=0)

    async def main():
        return await m.read(Device(1)), await m.read(Device(2))

    gas, water = support.run(main())
    assert gas.code == M.OK and water.code == M.NO_ANSWER


def test_bad_checksum_gives_bad_frame():
    m, uart = master_on(default_bus(faults=["gas:bad_checksum"]))
    r = support.run(m.read(Device(1)))
    assert r.code == M.BAD and r.detail == "bad checksum" and m.rx.bad_frames == 3


def test_application_error():
    m, uart = master_on(default_bus(faults=["heat:app_error:8"]))
    r = support.run(m.read(Device(3)))
    assert r.code == M.APP_ERROR and r.app_error == 8 and r.telegrams[0][6] == 0x70


def test_echo_is_skipped():
    m, uart = master_on(default_bus(echo=True))
    r = support.run(m.read(Device(3)))
    assert r.code == M.OK and len(r.telegrams) == 2 and m.rx.echoes == 3


def test_two_devices_on_one_address_collide():
    specs = [dict(d) for d in DEFAULT_DEVICES]
    specs[3]["primary"] = 2  # water2 also answers at the water meter's address
    specs[3]["delay_ms"] = specs[1]["delay_ms"]
    m, uart = master_on(default_bus(specs=specs), retries=0)
    r = support.run(m.read(Device(2)))
    assert r.code == M.COLLISION, r


def test_secondary_read_selects_then_reads_at_253():
    m, uart = master_on(default_bus())
    sec = secondary_from_text("21265095" "4CAE" "0E" "04")  # the heat meter
    heat = Device(secondary=sec)

    async def main():
        return await m.read(heat), await m.read(heat)

    one, two = support.run(main())
    assert one.code == M.OK and len(one.telegrams) == 2 and one.telegrams[0][7:15] == sec
    assert two.code == M.OK
    # Link reset of a secondary device: select, SND_NKE to 253 (deselects), select again.
    assert sent_c(uart) == [(0x53, 253), (NKE, 253), (0x53, 253), (0x7B, 253), (0x5B, 253),
                            (0x53, 253), (0x7B, 253), (0x5B, 253)]
    assert uart.sent[0][6] == 0x52 and uart.sent[0][7:15] == sec


def test_secondary_read_of_an_absent_device():
    m, uart = master_on(default_bus(), retries=0)
    r = support.run(m.read(Device(secondary=secondary_from_text("99999999FFFFFFFF"))))
    assert r.code == M.NO_ANSWER


def test_scan_finds_all_four_and_narrows_collisions():
    m, uart = master_on(default_bus())
    probes = []

    async def main():
        return await m.scan(on_probe=lambda mask, code: probes.append((secondary_to_text(mask)[:8], code)))

    found, collisions = support.run(main())
    texts = sorted(secondary_to_text(s) for s in found)
    assert texts == ["0901152304771407", "1200007104771407", "1208205830E24003", "212650954CAE0E04"]
    assert collisions == []
    # Digit by digit: all four collide, "1..." holds two (12082058, 12000071) down to "120".
    assert probes[0] == ("FFFFFFFF", M.COLLISION)
    assert ("1FFFFFFF", M.COLLISION) in probes and ("120FFFFF", M.COLLISION) in probes
    assert ("1200FFFF", M.OK) in probes and ("1208FFFF", M.OK) in probes
    assert ("0FFFFFFF", M.OK) in probes and ("2FFFFFFF", M.OK) in probes


def test_scan_reports_two_devices_with_the_same_id():
    specs = [dict(d) for d in DEFAULT_DEVICES[:2]]
    specs[1]["id"] = "12082058"  # the water meter gets the gas meter's ID
    m, uart = master_on(default_bus(specs=specs))
    found, collisions = support.run(m.scan(secondary_from_text("1208FFFFFFFFFFFF")))
    # Same ID, different manufacturer and medium: the digit search cannot split them.
    assert found == [] and [secondary_to_text(c) for c in collisions] == ["12082058FFFFFFFF"]


def test_application_reset_and_snd_ud():
    m, uart = master_on(default_bus())
    gas = Device(1)

    async def main():
        a = await m.application_reset(gas)
        b = await m.snd_ud(gas, 0x51, b"\x01\x7a\x05")
        return a, b

    a, b = support.run(main())
    assert a == M.OK and b == M.OK
    c = sent_c(uart)
    assert c == [(NKE, 1), (0x73, 1), (0x53, 1)]
    assert uart.sent[1] == bytes((0x68, 3, 3, 0x68, 0x73, 1, 0x50, (0x73 + 1 + 0x50) & 0xFF, 0x16))


def test_turnaround_between_an_answer_and_the_next_request():
    import rt

    m, uart = master_on(default_bus())
    m.turnaround_ms = 50
    r = support.run(m.read(Device(1)))
    assert r.code == M.OK and len(uart.sent_at) == 2
    # The E5 came back, then the line stayed idle 50 ms before the REQ_UD2.
    assert rt.ticks_diff(uart.sent_at[1], uart.delivered_at[0]) >= 49
    m2, uart2 = master_on(default_bus())
    assert m2.turnaround_ms is None and m2.rx.wire_ms(3) == 4  # default: 3 characters at 9600 baud
    support.run(m2.read(Device(1)))
    assert rt.ticks_diff(uart2.sent_at[1], uart2.delivered_at[0]) >= 3
