# The SML codec, transport and messages (lib/sml), under both interpreters: type-length
# fields (multi-byte included), integers of every width and sign, CRC-16/X-25, escaping,
# padding, the deframer's refusals, the push file, and no allocation in the push.

import rt
import support
import crc_x25 as C
from sml import messages as M
from sml import transport as T
from sml.codec import Writer, Parser, read_tl, T_INT, T_UINT, T_OCTETS, T_LIST
from sml.errors import SmlError
from sml.push import PushFile

try:
    import micropython
except ImportError:
    micropython = None


def _written(fn):
    w = Writer(600)
    fn(w)
    return bytes(w.buf[:w.n])


def _parse(data):
    p = Parser(data, 0, len(data))
    value = p.value()
    assert p.pos == len(data), "the whole encoding is one value: %r" % data
    return value


def test_crc_x25_check_value():
    assert C.crc16(b"123456789") == 0x906E, "CRC-16/X-25 check value of '123456789'"
    assert C.crc16(b"xx123456789yy", 2, 11) == 0x906E, "a slice gives the same CRC"


def test_tl_single_and_multi_byte():
    assert _written(lambda w: w.octets(b"abc")) == b"\x04abc"
    assert _written(lambda w: w.octets(b"")) == b"\x01", "an empty string is the absent value"
    # 14 bytes still fit one TL byte (15 with it); 15 need two TL bytes: 0x81 0x01 = 17.
    assert _written(lambda w: w.octets(b"a" * 14))[0] == 0x0F
    assert _written(lambda w: w.octets(b"a" * 15))[:2] == b"\x81\x01"
    long = _written(lambda w: w.octets(b"z" * 300))
    assert long[:3] == b"\x81\x82\x0f", "300 bytes + 3 TL bytes = 0x12F in three nibbles: %r" % long[:3]
    assert _parse(long) == b"z" * 300
    assert _written(lambda w: w.list(3)) == b"\x73"
    assert _written(lambda w: w.list(20)) == b"\xf1\x04", "a list of 20 counts elements, not bytes"
    assert read_tl(b"\xf1\x04", 0, 2) == (T_LIST, 20, 2)


def test_integers_every_width_and_sign():
    cases = (
        (T_UINT, 1, 255, "62ff"),
        (T_UINT, 2, 0x1234, "631234"),
        (T_UINT, 4, 0xDEADBEEF, "65deadbeef"),
        (T_INT, 1, -1, "52ff"),
        (T_INT, 2, -2, "53fffe"),
        (T_INT, 4, -12345, "55ffffcfc7"),
        (T_INT, 8, 123456, "59000000000001e240"),
        (T_INT, 8, -5, "59fffffffffffffffb"),
        (T_UINT, 8, 2**40 + 3, "690000010000000003"),
        (T_INT, 8, -(2**63), "598000000000000000"),
    )
    for kind, width, value, hexed in cases:
        data = _written(lambda w: w.fixed(kind, width, value))
        assert data.hex() == hexed, "%d in %d bytes: %s, expected %s" % (value, width, data.hex(), hexed)
        assert _parse(data) == value, "parses back to %d" % value
    assert _written(lambda w: w.uint(300)).hex() == "63012c", "smallest width that holds it"
    assert _written(lambda w: w.sint(-129)).hex() == "53ff7f"
    assert _written(lambda w: w.boolean(True)).hex() == "4201"
    assert _parse(bytes.fromhex("4200")) is False


def test_parser_refuses_bad_values():
    for hexed, reason in (
        ("05abcd", "truncated"),  # says 4 bytes, has 2
        ("73 6201 6202", "truncated"),  # a list of 3 with 2
        ("4301 02", "bad_value"),  # a boolean of 2 bytes
        ("5a" + "00" * 9, "bad_value"),  # a 9-byte integer
        ("8f8f8f8f8f", "bad_tl"),  # TL continues past 4 bytes
        ("81 71", "bad_tl"),  # a continuation byte with type bits
        ("00", "bad_value"),  # end of message where a value belongs
        ("71" * 12 + "01", "too_deep"),
        ("30", "bad_tl"),  # unknown type 011
    ):
        data = bytes.fromhex(hexed.replace(" ", ""))
        err = support.raises(SmlError, _parse, data)
        assert err.reason == reason, "%s: %s, expected %s" % (hexed, err.reason, reason)


def test_transport_frame_pads_and_checks():
    payload = b"\x76\x01\x02"  # not a message: the transport does not care
    framed = T.frame(payload)
    assert framed[:8] == T.START
    assert framed[8:11] == payload and framed[11] == 0, "padded with a zero to 4 bytes"
    assert framed[12:17] == b"\x1b\x1b\x1b\x1b\x1a" and framed[17] == 1, "one padding byte announced"
    crc = C.crc16(framed, 0, len(framed) - 2)
    assert framed[-2] == crc & 0xFF and framed[-1] == crc >> 8, "CRC low byte first"
    got = []
    d = T.Deframer()
    d.feed(b"noise" + framed, len(framed) + 5, lambda buf, n: got.append(bytes(buf[:n])))
    assert got == [payload], "the deframer returns the payload without its padding: %r" % got


def test_transport_escapes_payload_escapes():
    payload = b"\x01\x02\x03\x04" + b"\x1b" * 4 + b"\x05\x06"
    framed = T.frame(payload)
    assert framed[8:20] == b"\x01\x02\x03\x04" + b"\x1b" * 8, "an escape group in the payload is sent twice"
    got = []
    d = T.Deframer()
    for k in range(len(framed)):  # byte by byte, as a slow line delivers it
        d.feed(framed[k:k + 1], 1, lambda buf, n: got.append(bytes(buf[:n])))
    assert got == [payload]


def test_deframer_counts_and_recovers():
    good = T.frame(b"\x11\x22\x33\x44\x55")
    bad_crc = bytearray(good)
    bad_crc[-1] ^= 1
    bad_escape = T.START + b"\x11\x22\x33\x44" + b"\x1b" * 4 + b"\x02\x02\x02\x02"
    restart = T.START + b"\x11\x22\x33\x44"  # broken off by the next file's start
    stream = bytes(bad_crc) + bad_escape + restart + good
    got = []
    d = T.Deframer()
    d.feed(stream, len(stream), lambda buf, n: got.append(bytes(buf[:n])))
    assert got == [b"\x11\x22\x33\x44\x55"], "the good file survives the bad ones: %r" % got
    assert d.errors == {"bad_crc": 1, "bad_escape": 1, "truncated": 1}, d.errors
    small = T.Deframer(max_bytes=8)
    long = T.frame(b"\x01" * 40)
    small.feed(long, len(long), lambda buf, n: got.append(n))
    assert small.errors == {"too_long": 1}, small.errors


def _push():
    p = PushFile(M.server_id("QQQ", 12345678, 1), "QQQ", tariffs=2)
    p.import_wh = 123456
    p.export_wh = 7
    p.tariff_wh[0] = 100000
    p.tariff_wh[1] = 23456
    p.status = 0x100
    p.power_dw = -12345
    p.voltage_dv = 2301
    p.current_ca = 512
    p.frequency_chz = 5000
    return p


def _messages(framed):
    files = []
    d = T.Deframer()
    d.feed(framed, len(framed), lambda buf, n: files.append(M.parse_file(buf, n)))
    assert len(files) == 1, "one file, errors %r" % d.errors
    return files[0]


def test_server_id_din_43863_5():
    sid = M.server_id("QQQ", 12345678, 1)
    assert sid.hex() == "0a015151510100bc614e", sid.hex()
    support.raises(ValueError, M.server_id, "QQ", 1)
    support.raises(ValueError, M.server_id, "QQQ", 123456789)


def test_push_file_parses_back():
    p = _push()
    n = p.build(42, True)
    messages = _messages(bytes(p.buf[:n]))
    assert [m.tag for m in messages] == [M.OPEN_RES, M.GET_LIST_RES, M.CLOSE_RES]
    body = messages[1].body
    assert body[1] == p.server_id and body[3] == [M.TIME_SEC_INDEX, 42], body[:4]
    entries = {bytes(e[0]): e for e in body[4]}
    assert entries[M.obis(1, 0, 1, 8, 0)][1:6] == [0x100, None, M.UNIT_WH, 0, 123456]
    assert entries[M.obis(1, 0, 16, 7, 0)][3:6] == [M.UNIT_W, -1, -12345]
    assert entries[M.obis(1, 0, 1, 8, 2)][5] == 23456
    assert entries[M.obis(129, 129, 199, 130, 3)][5] == b"QQQ"
    locked = p.build(43, False)
    names = [bytes(e[0]) for e in _messages(bytes(p.buf[:locked]))[1].body[4]]
    assert M.obis(1, 0, 16, 7, 0) not in names and M.obis(1, 0, 1, 8, 1) not in names, "withheld while locked"
    assert M.obis(1, 0, 1, 8, 0) in names and M.obis(1, 0, 2, 8, 0) in names
    assert locked < n


def test_push_escapes_a_value_that_looks_like_an_escape():
    p = _push()
    for value in range(0x1B1B1B00, 0x1B1B1B1C):  # lands on a 4-byte boundary for some value
        p.import_wh = value
        n = p.build(0x1B1B1B1B, True)
        messages = _messages(bytes(p.buf[:n]))
        got = [e[5] for e in messages[1].body[4] if bytes(e[0]) == M.obis(1, 0, 1, 8, 0)]
        assert got == [value], "value %x survives the escaping: %r" % (value, got)


def test_message_crc_checked():
    p = _push()
    n = p.build(1, False)
    files = []
    d = T.Deframer()
    d.feed(p.buf, n, lambda buf, k: files.append(bytearray(buf[:k])))
    payload = files[0]
    payload[20] ^= 0x01  # inside the first message, past its header
    err = support.raises(SmlError, M.parse_file, payload, len(payload))
    assert err.reason in ("bad_crc", "bad_field", "truncated", "bad_value"), err.reason


def test_push_allocates_nothing():
    if rt.EMULATED or micropython is None:
        support.skip("heap_lock is MicroPython's")
    p = _push()
    p.build(1, True)  # first call: any lazy set-up
    micropython.heap_lock()
    try:
        for k in range(5):
            p.import_wh += 1
            n = p.build(k, k & 1)
    finally:
        micropython.heap_unlock()
    assert n > 0


def test_push_sizes():
    p = _push()
    unlocked = p.build(1, True)
    locked = p.build(1, False)
    assert unlocked <= 400 and locked <= 260, "push sizes %d / %d bytes" % (unlocked, locked)
    p8 = PushFile(M.server_id("QQQ", 1), "QQQ", tariffs=8)
    assert p8.build(1, True) <= 512, "the largest push, 8 tariffs unlocked, within its payload budget"
    assert T.capacity(0) > 0 and T_OCTETS == 0
