# SML on the meter beside the push: the consumer's PIN unlock (authenticated UNLOCK command,
# consumer log, expiry, lock-out) and the LMN requests (GetList, GetProfileList by time
# range, SetProcParameter of the time under the authenticated-time rules, Attention for
# everything refused), round-tripped through the project's codec; under CPython the
# answers are also decoded by smllib.

import rt
import support
import secfix
from log import Log
from store import Ring
from meter.registers import EnergyRegisters
from meter.sml import MeterSML
from meter.sml_lmn import LmnServer, OBIS_LOAD_PROFILE, OBIS_TIME
from mep.tables import encode_profile_record
from security import commands as C
from security import keys as K
from sml import messages as M
from sml import transport as T
from sml.codec import Writer, T_UINT
from sml.errors import SmlError

SETTINGS = {"push_s": 1, "detail": "pin", "pin": "4711", "unlock_s": 60, "pin_tries": 3, "pin_lockout_s": 900,
            "lmn": True}


class _Hw:
    def __init__(self, clock):
        self.clock = clock
        self.optical_uart = None
        self.lmn_uart = None


class _Admin:
    def __init__(self, commands):
        self.commands = commands


class _Meter:
    def __init__(self, root, device, profile=None):
        self.hw = _Hw(device.clock)
        self.cfg = {"meter_id": "12345678", "lmn": {"manufacturer": "QQQ", "version": 1},
                    "metrology": {"tariffs": 2}, "optical": {"protocol": "sml"}, "sml": dict(SETTINGS),
                    "mep": {"profile_period_s": 900}}
        self.logs = device.logs
        self.registers = EnergyRegisters(root + "/regs", 2)
        self.registers.regs[0] = 1000
        self.registers.tariff_import_wh[0] = 600
        self.registers.tariff_import_wh[1] = 400
        self.metrology = None
        self.admin = _Admin(device.commands)
        self.mep = None
        if profile is not None:
            self.mep = type("Mep", (), {})()
            self.mep.profile = profile


def _setup(tag, with_profile=False):
    root = support.tmpdir(tag)
    device, head = secfix.provisioned(root + "/dev")
    profile = None
    if with_profile:
        profile = Ring(root + "/profile", 4096, 4)
        for k in range(8):  # intervals ending every 900 s from T0
            profile.append(encode_profile_record(secfix.T0 + 900 * k, 1000 + 10 * k, 5 + k))
    meter = _Meter(root, device, profile)
    sml = MeterSML(meter, meter.cfg, Log().tagged("sml"))
    device.commands.on_unlock = sml.unlock
    return root, device, head, meter, sml


def _done(root, device):
    device.close()
    support.rmtree(root)


def _unlock(device, head, pin, name=K.MEP):
    frame, counter = head.command(name, C.UNLOCK, device.clock.time_s(), pin)
    status, payload = head.answer(name, device.commands.handle(frame), counter)
    return status, payload


def _consumer(device):
    return [r[1]["kind"] for r in device.logs.consumer.records(0, 32)]


def test_pin_unlocks_the_details_and_the_consumer_log_says_so():
    root, device, head, meter, sml = _setup("smlpin")
    assert not sml.detailed(), "details withheld by default"
    status, payload = _unlock(device, head, b"1234")
    assert status == C.REFUSED and payload.startswith(b"bad_pin"), (status, payload)
    assert not sml.detailed()
    status, _ = _unlock(device, head, b"4711")
    assert status == C.OK and sml.detailed(), "the right PIN unlocks"
    n_open = sml.push.build(1, True)
    n_locked = sml.push.build(1, False)
    assert n_open > n_locked
    status, _ = _unlock(device, head, b"", name=K.ADMIN)
    assert status == C.OK and not sml.detailed(), "an empty PIN locks"
    assert _consumer(device) == ["sml_pin_wrong", "sml_unlock", "sml_lock"], _consumer(device)
    _done(root, device)


def test_unlock_expires_and_wrong_pins_lock_out():
    root, device, head, meter, sml = _setup("smlexp")
    assert _unlock(device, head, b"4711")[0] == C.OK
    sml._unlocked_at_ms = rt.ticks_add(rt.ticks_ms(), -61_000)  # the unlock began 61 s ago
    assert not sml.detailed(), "an unlock lasts unlock_s"
    assert _consumer(device)[-1] == "sml_lock"
    for _ in range(3):
        assert _unlock(device, head, b"0000")[1].startswith(b"bad_pin")
    status, payload = _unlock(device, head, b"4711")
    assert status == C.REFUSED and payload.startswith(b"pin_locked_out"), "after 3 wrong PINs even the right one waits"
    # The LMN key may not unlock (only the admin and MEP keys may).
    before = sum(device.commands.rejected.values())
    frame, _ = head.command(K.LMN, C.UNLOCK, device.clock.time_s(), b"4711")
    assert device.commands.handle(frame) is None, "no answer to a key without the permission"
    assert sum(device.commands.rejected.values()) == before + 1, device.commands.rejected
    _done(root, device)


class _Readings:
    def __init__(self, p_w, irms):
        self.p_w, self.irms, self.vrms, self.freq_hz = p_w, irms, 230.04, 49.996


def test_status_word_and_scaled_readings():
    root, device, head, meter, sml = _setup("smlstat")
    metrology = type("Metrology", (), {})()
    metrology.start_a, metrology.creep_w = 0.02, 1.0
    meter.metrology = metrology
    sml = MeterSML(meter, meter.cfg, Log().tagged("sml"))
    for p_w, irms, status in ((0.5, 1.0, 0), (500.0, 0.01, 0), (1234.56, 5.37, 0x100), (-800.0, 3.5, 0x900)):
        metrology.readings = _Readings(p_w, irms)
        if status == 0x900:
            metrology.readings.freq_hz = 0.0  # a period without a frequency: the last one stays
        sml.fill(True)
        p = sml.push
        assert p.status == status, "P %.1f W, I %.2f A: status 0x%x, expected 0x%x" % (p_w, irms, p.status, status)
        assert p.power_dw == round(p_w * 10) and p.current_ca == round(irms * 100)
        assert p.voltage_dv == 2300 and p.frequency_chz == 5000, "rounded to the scaler's unit"
    assert p.tariff_wh == [600, 400] and p.import_wh == 1000
    _done(root, device)


def test_meter_push_allocates_nothing():
    if rt.EMULATED:
        support.skip("heap_lock is MicroPython's")
    import micropython

    root, device, head, meter, sml = _setup("smlheap")
    sml.build()  # the first build: anything lazy
    sml.always = True  # unlocked, without a metrology: registers and tariffs only
    sml.build()
    micropython.heap_lock()
    try:
        for _ in range(3):
            n_open = sml.build()
        sml.always = False
        for _ in range(3):
            n_locked = sml.build()
    finally:
        micropython.heap_unlock()
    assert n_open > n_locked > 0
    _done(root, device)


def test_seconds_index_counts_whole_seconds():
    root, device, head, meter, sml = _setup("smlsec")
    sml._last_ms = rt.ticks_add(rt.ticks_ms(), -2500)
    assert sml.sec_index() == 2
    sml._last_ms = rt.ticks_add(rt.ticks_ms(), -600)
    assert sml.sec_index() == 3, "the remainders add up (500 + 600 ms)"
    _done(root, device)


# -- requests (the gateway's side of the wire) --------------------------------------


def _request(messages):
    """A request file: messages are (tag, writer-of-body) pairs, wrapped in open and close."""
    w = Writer(2048)
    w.reset(T.HEADER_BYTES)
    tid = 0

    def message(tag, body):
        nonlocal tid
        tid += 1
        start = M.begin_message(w, bytes((0x42, tid)), 0, tag)
        body(w)
        M.end_message(w, start)

    def open_req(w):
        w.list(7)
        w.absent()
        w.octets(b"gateway1")
        w.octets(b"req-1")
        w.absent()
        w.absent()
        w.absent()
        w.absent()

    def close_req(w):
        w.list(1)
        w.absent()

    message(M.OPEN_REQ, open_req)
    for tag, body in messages:
        message(tag, body)
    message(M.CLOSE_REQ, close_req)
    return bytes(w.buf[:T.finish(w.buf, w.n)])


def _answer(server, framed):
    files = []
    d = T.Deframer(4096)
    d.feed(framed, len(framed), lambda buf, n: files.append(bytes(buf[:n])))
    assert len(files) == 1, d.errors
    answer = server.answer(files[0], len(files[0]))
    out = []
    d2 = T.Deframer(8192)
    d2.feed(answer, len(answer), lambda buf, n: out.extend(M.parse_file(buf, n, 128)))
    assert out, "the answer is one good file: %r" % d2.errors
    return answer, out


def _get_list(w):
    w.list(5)
    w.octets(b"gateway1")
    w.absent()
    w.absent()
    w.absent()
    w.absent()


def _profile_req(begin_s, end_s, path=OBIS_LOAD_PROFILE):
    def body(w):
        w.list(9)
        w.absent()
        w.absent()
        w.absent()
        w.absent()
        M.sml_time(w, M.TIME_TIMESTAMP, begin_s)
        M.sml_time(w, M.TIME_TIMESTAMP, end_s)
        w.list(1)
        w.octets(path)
        w.absent()
        w.absent()
    return body


def _set_time_req(envelope, path=OBIS_TIME):
    def body(w):
        w.list(5)
        w.absent()
        w.absent()
        w.absent()
        w.list(1)
        w.octets(path)
        w.list(3)
        w.octets(path)
        w.list(2)
        w.fixed(T_UINT, 1, 1)
        w.octets(envelope)
        w.absent()
    return body


def _plain(value):
    """Our parsed values in smllib's terms: octet strings as hex."""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return value


def _same_in_smllib(framed, ours):
    """CPython: smllib's stream reader finds the answer (its file CRC checks) and its
    decoder, walked value by value (SmlFrame.get_value), gives every message's fields as
    the project's parser does."""
    if not rt.EMULATED:
        return
    from smllib import SmlStreamReader
    from smllib.sml import EndOfSmlMsg

    reader = SmlStreamReader()
    reader.add(framed)
    frame = reader.get_frame()
    assert frame is not None, "smllib finds the file"

    def read():
        snippet = frame.get_value()
        if isinstance(snippet.value, list):
            return [read() for _ in snippet.value]
        return snippet.value

    messages = []
    while frame.next_pos < frame.buf_len and frame.buffer[frame.next_pos] != 0:
        messages.append(read())
    assert len(messages) == len(ours), "smllib sees %d messages, we %d" % (len(messages), len(ours))
    for theirs, mine in zip(messages, ours):
        assert theirs[5] is EndOfSmlMsg
        assert theirs[0] == mine.transaction_id.hex() and theirs[3][0] == mine.tag
        assert theirs[3][1] == _plain(mine.body), "0x%04x: smllib %r, ours %r" % (mine.tag, theirs[3][1], mine.body)


def _attention(message):
    assert message.tag == M.ATTENTION_RES, "an Attention.Res, got 0x%04x" % message.tag
    return (message.body[1][4] << 8) | message.body[1][5]


def test_get_list_and_profile_by_time_range():
    root, device, head, meter, sml = _setup("smlreq", with_profile=True)
    server = LmnServer(sml, None)
    framed, out = _answer(server, _request([(M.GET_LIST_REQ, _get_list),
                                            (M.GET_PROFILE_LIST_REQ, _profile_req(secfix.T0 + 900, secfix.T0 + 2700))]))
    tags = [m.tag for m in out]
    assert tags == [M.OPEN_RES, M.GET_LIST_RES] + [M.GET_PROFILE_LIST_RES] * 3 + [M.CLOSE_RES], tags
    assert out[0].body[2] == b"req-1" and out[0].body[3] == sml.server_id, "PublicOpen.Res echoes reqFileId"
    assert out[1].transaction_id == bytes((0x42, 2)), "answers echo the transaction id"
    entries = {e[0]: e[5] for e in out[1].body[4]}
    assert entries[M.obis(1, 0, 1, 8, 0)] == 1000 and entries[M.obis(1, 0, 1, 8, 2)] == 400, \
        "GetList gives the registers, details included"
    rows = [(m.body[4][1], m.body[6][0][3], m.body[6][1][3]) for m in out[2:5]]
    assert rows == [(secfix.T0 + 900, 1010, 6), (secfix.T0 + 1800, 1020, 7), (secfix.T0 + 2700, 1030, 8)], rows
    assert out[2].body[2] == 900 and out[2].body[3] == [OBIS_LOAD_PROFILE]
    _same_in_smllib(framed, out)
    if rt.EMULATED:  # and smllib's own OBIS view of the GetList.Res
        from smllib import SmlStreamReader

        reader = SmlStreamReader()
        reader.add(framed)
        values = {str(e.obis.obis_code): e.get_value() for e in reader.get_frame().get_obis()}
        assert values["1-0:1.8.0*255"] == 1000 and values["1-0:1.8.1*255"] == 600, values
    _done(root, device)


def test_refusals_are_attentions_and_counted():
    root, device, head, meter, sml = _setup("smlref", with_profile=True)
    server = LmnServer(sml, None)

    def unknown(w):
        w.list(1)
        w.absent()

    framed, out = _answer(server, _request([
        (M.GET_PROFILE_LIST_REQ, _profile_req(secfix.T0 + 2700, secfix.T0)),  # end before start
        (M.GET_PROFILE_LIST_REQ, _profile_req(secfix.T0 + 90000, secfix.T0 + 99000)),  # nothing there
        (M.GET_PROFILE_LIST_REQ, _profile_req(secfix.T0, secfix.T0 + 900, M.obis(1, 0, 99, 2, 0))),
        (M.GET_PROC_PARAMETER_REQ, unknown),
        (M.SET_PROC_PARAMETER_REQ, _set_time_req(b"not an envelope")),
        (M.SET_PROC_PARAMETER_REQ, _set_time_req(b"x", M.obis(1, 0, 1, 8, 0))),
    ]))
    _same_in_smllib(framed, out)
    got = [_attention(m) for m in out[1:-1]]
    assert got == [M.ATT_END_BEFORE_START, M.ATT_NO_ENTRIES, M.ATT_UNKNOWN_OBJECT, M.ATT_UNKNOWN_ID,
                   M.ATT_NOT_EXECUTED, M.ATT_NOT_WRITABLE], ["%04x" % a for a in got]
    assert server.refused == {"end_before_start": 1, "no_entries": 1, "unknown_profile": 1, "unsupported": 1,
                              "time_refused": 1, "not_writable": 1}, server.refused
    # A file without its open, and a message whose CRC fails: one Attention each, counted.
    _, out = _answer(server, T.frame(_only_get_list()))
    assert _attention(out[0]) == M.ATT_UNEXPECTED
    payload = bytearray(_request([(M.GET_LIST_REQ, _get_list)])[8:-8])
    payload[3] ^= 0x20  # the first message's transaction id
    _, out = _answer(server, T.frame(bytes(payload)))
    assert _attention(out[0]) == M.ATT_BAD_CRC and server.refused["bad_crc"] == 1
    _done(root, device)


def _only_get_list():
    w = Writer(256)
    start = M.begin_message(w, b"\x01", 0, M.GET_LIST_REQ)
    _get_list(w)
    M.end_message(w, start)
    return bytes(w.buf[:w.n])


def test_set_time_only_through_the_authenticated_envelope():
    root, device, head, meter, sml = _setup("smltime")
    server = LmnServer(sml, None)
    new_s = device.clock.time_s() + 60  # a minute fast: within the 3 % drift rule
    envelope, _ = head.command(K.ADMIN, C.SET_TIME, new_s)
    framed, out = _answer(server, _request([(M.SET_PROC_PARAMETER_REQ, _set_time_req(envelope))]))
    _same_in_smllib(framed, out)
    assert _attention(out[1]) == M.ATT_OK and abs(device.clock.time_s() - new_s) <= 2, "the time was set"
    # The same envelope again is a replay: refused by the command rules.
    _, out = _answer(server, _request([(M.SET_PROC_PARAMETER_REQ, _set_time_req(envelope))]))
    assert _attention(out[1]) == M.ATT_NOT_EXECUTED
    assert device.commands.rejected.get("replay") == 1, device.commands.rejected
    err = support.raises(SmlError, M.parse_file, b"\x76\x01", 2)
    assert err.reason == "truncated"
    _done(root, device)
