# DLMS/COSEM building blocks under both interpreters: A-XDR, date-time, HDLC frames and
# link, AES-GCM (suite 0), the server's association and services on a table of objects.
import support
from dlms import axdr as X
from dlms import cosemtime
from dlms import hdlc as H
from dlms.gcm import Gcm, TagError
from dlms.server import Server, Association
from dlms.cosem import Data, Register, UNIT_WH

# NIST SP 800-38D / McGrew-Viega test case 4 (AES-128, 60-byte plaintext, 20-byte AAD).
_K = bytes.fromhex("feffe9928665731c6d6a8f9467308308")
_IV = bytes.fromhex("cafebabefacedbaddecaf888")
_P = bytes.fromhex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525"
                   "b16aedf5aa0de657ba637b39")
_A = bytes.fromhex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
_C = bytes.fromhex("42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa05"
                   "1ba30b396a0aac973d58e091")
_T = bytes.fromhex("5bc94fbc3221a5db94fae95ae7121a47")


def test_gcm_matches_the_published_vector():
    g = Gcm(_K)
    ct, tag = g.encrypt(_IV, _P, _A, 16)
    assert ct == _C and tag == _T, "GCM test case 4: got %s %s" % (ct.hex(), tag.hex())
    assert g.decrypt(_IV, _C, _A, _T[:12]) == _P
    bad = bytearray(_C)
    bad[3] ^= 1
    assert support.raises(TagError, g.decrypt, _IV, bytes(bad), _A, _T[:12])


def test_axdr_round_trip_and_refusals():
    w = X.Writer(4)  # grows
    w.structure(3)
    w.integer(X.UINT32, 4000000000)
    w.octets(b"\x01" * 200)
    w.integer(X.INT16, -5)
    tag, value = X.decode_bytes(bytes(w.view()))
    assert tag == X.STRUCTURE and value[0] == (X.UINT32, 4000000000) and value[1] == (X.OCTET_STRING, b"\x01" * 200)
    assert value[2] == (X.INT16, -5)
    for bad in (b"\x02\x05\x11\x01", b"\x09\x82\xff\xff\x00", b"\x63", b"\x02" * 40 + b"\x01", b"\x01\x81"):
        assert support.raises(X.DataError, X.decode_bytes, bad), bad


def test_date_time_both_forms():
    t = 1780000000
    enc = bytes(cosemtime.encode(t))
    assert cosemtime.decode(enc) == t
    unspecified = enc[:9] + b"\x80\x00" + enc[11:]  # deviation not specified: the meter's UTC
    assert cosemtime.decode(unspecified) == t
    plus_hour = enc[:5] + bytes([enc[5] + 1]) + enc[6:9] + b"\x00\x3c" + enc[11:]  # local = UTC + 60 min
    assert cosemtime.decode(plus_hour) == t
    wild = b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x80\x00\xff"
    assert cosemtime.decode(wild, "open") == "open"


def _frame(control, info=b"", dest=b"\x03", src=b"\x21"):
    length = 2 + len(dest) + len(src) + 1 + (2 + len(info) + 2 if info else 2)
    head = bytearray([0xA0 | (length >> 8), length & 0xFF]) + dest + src + bytes([control])
    if info:
        crc = H.fcs16(head)
        head += bytes([crc & 0xFF, crc >> 8]) + info
    crc = H.fcs16(head)
    return b"\x7e" + bytes(head) + bytes([crc & 0xFF, crc >> 8]) + b"\x7e"


def _frames(data):
    """(control, segmented, information bytes) of each answer frame (to client 0x21, from 0x03)."""
    out = []
    while data:
        n = (((data[1] & 7) << 8) | data[2]) + 2
        frame = data[:n]
        assert frame[0] == 0x7E and frame[-1] == 0x7E and frame[3] == 0x21 and frame[4] == 0x03
        crc = H.fcs16(frame, 1, n - 3)
        assert frame[n - 3] == crc & 0xFF and frame[n - 2] == crc >> 8, "answer FCS"
        out.append((frame[5], bool(frame[1] & 8), max(0, n - 11)))
        data = data[n:]
    return out


def test_hdlc_link_snrm_segments_and_refusals():
    answers = []

    def on_apdu(apdu, sap):
        answers.append(bytes(apdu))
        return b"\xAB" * 300  # three segments at 128 bytes

    link = H.HdlcServer(on_apdu)
    link.feed(_frame(0x53))  # DISC while disconnected -> DM
    got = _frames(bytes(link.out.view()))
    assert got[0][0] == 0x1F, "DM expected, got control %02x" % got[0][0]
    link.out.reset()
    link.feed(_frame(0x93))  # SNRM without parameters
    ua = _frames(bytes(link.out.view()))[0]
    assert ua[0] == 0x73 and link.max_tx == 128 and link.window_tx == 1
    link.out.reset()
    request = H.LLC_REQUEST + b"\xc0\x01\xc1\x00\x08\x00\x00\x01\x00\x00\xff\x02\x00"
    link.feed(_frame(0x10, request))  # I frame N(S)=0 N(R)=0, poll
    assert answers == [request[3:]]
    seg = _frames(bytes(link.out.view()))
    assert len(seg) == 1 and seg[0][1] and seg[0][2] == 128, "first segment of 128 bytes: %r" % (seg,)
    total = seg[0][2]
    for nr in (1, 2):
        link.out.reset()
        link.feed(_frame(0x11 | (nr << 5)))  # RR asks for the next segment
        seg = _frames(bytes(link.out.view()))
        total += seg[0][2]
    assert total == 303 and not seg[0][1], "300 bytes plus the LLC in three segments"
    # A bad FCS and a frame for another server are dropped and counted, not answered.
    link.out.reset()
    bad = bytearray(_frame(0x10, request))
    bad[-2] ^= 0xFF
    link.feed(bad)
    link.feed(_frame(0x10, request, dest=b"\x05"))
    assert link.out.n == 0 and link.counts["bad_fcs"] == 1 and link.counts["other_address"] == 1
    link.feed(_frame(0x53))
    assert _frames(bytes(link.out.view()))[0][0] == 0x73 and not link.connected


def _aarq_public():
    initiate = b"\x01\x00\x00\x00\x06\x5f\x1f\x04\x00\x00\x7e\x1f\x04\xb0"
    body = b"\xa1\x09\x06\x07\x60\x85\x74\x05\x08\x01\x01" + bytes([0xBE, len(initiate) + 2, 0x04, len(initiate)])
    body += initiate
    return bytes([0x60, len(body)]) + body


def test_server_association_get_and_errors():
    server = Server()
    server.add(Register("1-0:1.8.0", lambda: 1234, X.UINT32, 0, UNIT_WH))
    server.add(Data("0-0:96.1.0", lambda: (X.VISIBLE_STRING, "12345678"), ((1, 1), (0, 1))))  # management only
    a = Association(16)
    out = bytes(server.handle(a, b"\xc0\x01\xc1\x00\x03\x01\x00\x01\x08\x00\xff\x02\x00"))
    assert out == b"\xd8\x01\x01", "GET before the AARQ: exception-response, got %s" % out.hex()
    aare = bytes(server.handle(a, _aarq_public()))
    assert aare[0] == 0x61 and b"\xa2\x03\x02\x01\x00" in aare, "association accepted: %s" % aare.hex()
    out = bytes(server.handle(a, b"\xc0\x01\xc1\x00\x03\x01\x00\x01\x08\x00\xff\x02\x00"))
    assert out == b"\xc4\x01\xc1\x00\x06\x00\x00\x04\xd2"
    out = bytes(server.handle(a, b"\xc0\x01\xc1\x00\x01\x00\x00\x60\x01\x00\xff\x02\x00"))
    assert out == b"\xc4\x01\xc1\x01\x04", "object-undefined for the public client: %s" % out.hex()
    out = bytes(server.handle(a, b"\xc0\x01\xc1\x00\x03\x01\x00\x01\x08\x00\xff\x09\x00"))
    assert out == b"\xc4\x01\xc1\x01\x04", "no attribute 9"
    out = bytes(server.handle(a, b"\xc1\x01\xc1\x00\x03\x01\x00\x01\x08\x00\xff\x02\x00\x06\x00\x00\x00\x01"))
    assert out[0] == 0xD8, "SET is not negotiated for the public client"
    out = bytes(server.handle(a, b"\xc0\x01\xc1\x00"))
    assert out == b"\xd8\x02\x03", "truncated GET: exception-response"
    assert server.counts["object_undefined"] == 2 and server.counts["malformed"] == 1


class _Rows:
    depth = 10

    def rows(self):
        for k in range(10):
            yield (1780000000 + 900 * k, 0, 1000 + k)


def _fuzz_server():
    from dlms.profile import ProfileGeneric

    server = Server()
    server.add(Register("1-0:1.8.0", lambda: 1234, X.UINT32, 0, UNIT_WH))
    clock_ln = bytes((0, 0, 1, 0, 0, 255))
    server.add(ProfileGeneric("1-0:99.1.0", ((8, clock_ln, 2, X.DATE_TIME), (1, bytes(6), 2, X.UINT8),
                                             (3, bytes((1, 0, 1, 8, 0, 255)), 2, X.UINT32)), _Rows(), 900))
    return server


# Requests the fuzzer mutates: a register GET, a profile GET by range and by entry, a list.
_RANGE = (b"\xc0\x01\xc1\x00\x07\x01\x00\x63\x01\x00\xff\x02\x01\x01\x02\x04\x02\x04\x12\x00\x08\x09\x06\x00\x00"
          b"\x01\x00\x00\xff\x0f\x02\x12\x00\x00\x09\x0c\x07\xea\x05\x1c\x04\x00\x00\x00\x00\x80\x00\x00\x09\x0c"
          b"\x07\xea\x05\x1d\x05\x00\x00\x00\x00\x80\x00\x00\x01\x00")
_SEEDS = (b"\xc0\x01\xc1\x00\x03\x01\x00\x01\x08\x00\xff\x02\x00", _RANGE,
          b"\xc0\x01\xc1\x00\x07\x01\x00\x63\x01\x00\xff\x02\x01\x02\x02\x04\x06\x00\x00\x00\x02\x06\x00\x00\x00"
          b"\x05\x12\x00\x01\x12\x00\x00",
          b"\xc0\x03\xc1\x02\x00\x03\x01\x00\x01\x08\x00\xff\x02\x00\x00\x07\x01\x00\x63\x01\x00\xff\x03\x00")


def test_server_survives_mutated_requests_and_answers_each():
    import random

    random.seed(14)
    server = _fuzz_server()
    a = Association(16)
    assert bytes(server.handle(a, _aarq_public()))[0] == 0x61
    for seed in _SEEDS:
        out = bytes(server.handle(a, seed))
        assert out[0] == 0xC4 and (out[3] == 0 or out[1] == 3), "seed request answered with data: %s" % out.hex()
    for n in range(1500):
        data = bytearray(_SEEDS[n % len(_SEEDS)])
        for _ in range(1 + n % 4):
            k = random.getrandbits(16) % len(data)
            kind = n % 3
            if kind == 0:
                data[k] = random.getrandbits(8)
            elif kind == 1:
                data = data[:k]  # truncated
            else:
                data = data[:k] + bytes([random.getrandbits(8)]) + data[k:]  # a byte inserted
            if not data:
                data = bytearray(b"\xc0")
        out = bytes(server.handle(a, bytes(data)))
        assert out and out[0] in (0xC4, 0xD8, 0x61, 0x63), "an answer for every request: %s -> %s" % (
            bytes(data).hex(), out.hex())
        if out[0] == 0x61 or out[0] == 0x63:  # a mutation that became an AARQ or RLRQ: associate again
            server.handle(a, _aarq_public())
    assert server.counts["refused"] > 100
    out = bytes(server.handle(a, _SEEDS[0]))
    assert out == b"\xc4\x01\xc1\x00\x06\x00\x00\x04\xd2", "still answers after the fuzzing: %s" % out.hex()


def test_hdlc_link_survives_noise_and_still_connects():
    import random

    random.seed(46)
    link = H.HdlcServer(lambda apdu, sap: b"\x01\x02")
    good = _frame(0x93) + _frame(0x10, H.LLC_REQUEST + b"\xc0\x01")
    for n in range(400):
        noise = bytearray(good)
        for _ in range(1 + n % 5):
            noise[random.getrandbits(16) % len(noise)] = random.getrandbits(8)
        link.feed(noise + bytes(random.getrandbits(8) for _ in range(n % 7)))
        link.out.reset()
    link.abandon_partial()
    link.feed(_frame(0x53))
    link.out.reset()
    link.feed(_frame(0x93))
    assert _frames(bytes(link.out.view()))[0][0] == 0x73, "SNRM still answered with UA after the noise"
    counted = link.counts["bad_fcs"] + link.counts["bad_frame"] + link.counts["other_address"]
    assert counted > 100, "the noise was counted: %r" % (link.counts,)


class _ScriptedUart:
    """A port that hands out scripted bytes and records writes and line settings."""

    def __init__(self, script):
        self.script = bytearray(script)
        self.written = b""
        self.settings = []

    def init(self, **kw):
        self.settings.append((kw["baudrate"], kw["bits"], kw["parity"]))

    async def read_some(self, buf):
        import rt

        while not self.script:
            await rt.sleep_ms(1000)
        n = min(len(buf), len(self.script))
        buf[:n] = self.script[:n]
        self.script = self.script[n:]
        return n

    async def write_all(self, data):
        self.written += bytes(data)


def test_mode_e_opening_switches_to_hdlc_at_9600():
    from dlms.mode_e import open_hdlc

    uart = _ScriptedUart(b"/?!\r\n\x06252\r\n")
    assert support.run(open_hdlc(uart, b"QQQ", b"12345678", idle_ms=2000))
    assert uart.written == b"/QQQ5\\212345678\r\n", uart.written
    assert uart.settings == [(300, 7, 0), (9600, 8, None)], uart.settings
    counts = {}
    wrong = _ScriptedUart(b"/?99!\r\n")  # another meter's address: no answer
    assert not support.run(open_hdlc(wrong, b"QQQ", b"12345678", address=b"12", idle_ms=2000, counts=counts))
    assert wrong.written == b"" and counts["mode_e_refused"] == 1
    no_ack = _ScriptedUart(b"/?!\r\n\x06050\r\n")  # mode C acknowledgement: not HDLC
    assert not support.run(open_hdlc(no_ack, b"QQQ", b"12345678", idle_ms=2000))
    assert no_ack.settings == [(300, 7, 0)], "stays at 300 baud"


def test_hdlc_window_of_three_and_go_back_n():
    link = H.HdlcServer(lambda apdu, sap: b"\xCD" * 1000)
    # SNRM asking for 128-byte frames and a window of 3 both ways.
    params = b"\x81\x80\x14\x05\x02\x00\x80\x06\x02\x00\x80\x07\x04\x00\x00\x00\x03\x08\x04\x00\x00\x00\x03"
    link.feed(_frame(0x93, params))
    assert link.window_tx == 3 and link.max_tx == 128
    link.out.reset()
    link.feed(_frame(0x10, H.LLC_REQUEST + b"\xc0"))
    window = _frames(bytes(link.out.view()))
    assert [f[0] & 0x1F for f in window] == [0x00, 0x02, 0x14], "N(S) 0, 1, 2, final on the third: %r" % window
    link.out.reset()
    link.feed(_frame(0x11 | (2 << 5)))  # RR N(R)=2: frame 2 was lost, send again from it
    again = _frames(bytes(link.out.view()))
    assert [f[0] & 0x0E for f in again] == [0x04, 0x06, 0x08], "go back to N(S) 2: %r" % again
    total = 128 * 2 + sum(f[2] for f in again)
    link.out.reset()
    while again[-1][1]:  # segmented: ask for the rest
        link.feed(_frame(0x11 | (((again[-1][0] >> 1) + 1) & 7) << 5))
        again = _frames(bytes(link.out.view()))
        total += sum(f[2] for f in again)
        link.out.reset()
    assert total == 1003, "the whole answer and its LLC, nothing twice: %d" % total


def test_a_value_the_meter_cannot_encode_is_an_answer_not_a_crash():
    server = Server()
    server.add(Register("1-0:1.8.0", lambda: 1 << 40, X.UINT32, 0, UNIT_WH))  # beyond double-long-unsigned
    a = Association(16)
    server.handle(a, _aarq_public())
    out = bytes(server.handle(a, b"\xc0\x01\xc1\x00\x03\x01\x00\x01\x08\x00\xff\x02\x00"))
    assert out == b"\xd8\x01\x03" and server.counts["internal_error"] == 1, out.hex()


def test_mbus_values_reach_the_register_as_exact_integers():
    # 0-b:24.2.1 takes the record layer's integer and exponent: no float on the way, so the
    # 32-bit port (24-bit floats) gives the same digits. A real's exact binary value is
    # rounded once, on purpose, to 64 bits with an int8 scaler.
    from mbus.decode import decode_user_data
    from meter.dlms import register_number

    def number(record_bytes):
        return register_number(decode_user_data(0x78, bytes(record_bytes)).records[0])

    # 32-bit integer in litres: 123456789 l, the float path gave 123456.7890625 m^3 on a single
    assert number((0x04, 0x13, 0x15, 0xCD, 0x5B, 0x07)) == (123456789, -3)
    assert number((0x04, 0x13, 0xFB, 0xFF, 0xFF, 0xFF)) == (-5, -3), "negative values keep their sign"
    assert number((0x0E, 0x03, 0x12, 0x90, 0x78, 0x56, 0x34, 0x12)) == (123456789012, 0), "12 BCD digits"
    # kW as a real, 13426.15625 kW: 13426156.25 W exactly
    assert number((0x05, 0x2E, 0xA0, 0xC8, 0x51, 0x46)) == (1342615625, -2)
    # 0.1f in W is 0.100000001490116119384765625: 27 digits, rounded to 19
    assert number((0x05, 0x2B, 0xCD, 0xCC, 0xCC, 0x3D)) == (1000000014901161194, -19)
    # the smallest subnormal, 2**-149 W (105 digits): the scaler stays within int8
    assert number((0x05, 0x2B, 0x01, 0x00, 0x00, 0x00)) == (1401298464324817071, -63)
    assert number((0x05, 0x2B, 0x00, 0x00, 0x80, 0xBF)) == (-1, 0), "-1.0f"


def test_hdlc_fcs_and_the_sml_crc_are_one_crc():
    # crc_x25 serves both (viper on MicroPython, Python on CPython): the check value, any
    # slice of a memoryview, and chained pieces give the same CRC.
    import crc_x25

    assert H.fcs16 is crc_x25.crc16, "HDLC's FCS-16 is crc_x25.crc16"
    assert crc_x25.crc16(b"123456789") == 0x906E, "CRC-16/X-25 check value"
    data = bytes((7 * i + 3) & 0xFF for i in range(300))
    whole = crc_x25.crc16(data, 5, 290)
    assert crc_x25.crc16(memoryview(data)[5:290]) == whole, "a memoryview slice gives the same CRC"
    crc = crc_x25.update(crc_x25.INIT, data, 5, 100)
    assert crc_x25.update(crc, data, 100, 290) ^ 0xFFFF == whole, "chained pieces give the same CRC"
