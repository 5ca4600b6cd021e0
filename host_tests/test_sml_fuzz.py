# test: cpython-only (hypothesis)
# Property tests of the SML parser and transport: lying lengths, deep nesting, bad CRCs,
# broken escapes, truncation and garbage give SmlError (or a file that parses) and nothing
# else; the deframer's memory stays bounded and a good file survives any garbage before it.
# The same inputs under the MicroPython unix port: test_sml_fuzz_upy.py.

from hypothesis import given, settings, strategies as st, HealthCheck
from sml import messages as M
from sml import transport as T
from sml.codec import Parser
from sml.errors import SmlError
from sml.push import PushFile

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _push_payload():
    p = PushFile(M.server_id("QQQ", 12345678, 1), "QQQ")
    n = p.build(7, True)
    files = []
    T.Deframer().feed(p.buf, n, lambda buf, k: files.append(bytes(buf[:k])))
    return bytes(p.buf[:n]), files[0]


FRAMED, PAYLOAD = _push_payload()


def _parse_all(data):
    try:
        M.parse_file(data, len(data))
    except SmlError as err:
        assert err.reason, "a refusal names its reason (the LMN answers it with its attention or FE08)"


@SETTINGS
@given(st.binary(max_size=600))
def test_garbage_payload_is_refused_cleanly(data):
    _parse_all(data)
    try:
        Parser(data, 0, len(data)).value()
    except SmlError:
        pass


@SETTINGS
@given(st.integers(0, len(PAYLOAD) - 1), st.integers(0, 255))
def test_one_byte_changed_in_a_push(at, value):
    data = bytearray(PAYLOAD)
    data[at] = value
    _parse_all(bytes(data))


@SETTINGS
@given(st.integers(0, len(PAYLOAD)))
def test_truncated_push(length):
    _parse_all(PAYLOAD[:length])


@SETTINGS
@given(st.integers(1, 200), st.sampled_from([0x71, 0xF1]))
def test_deep_nesting(depth, tl):
    data = bytes([0x76, 0x01, 0x62, 0x00, 0x62, 0x00]) + bytes([tl] * depth) + b"\x01"
    _parse_all(data)


@SETTINGS
@given(st.integers(0, 0xFFFF), st.integers(1, 4))
def test_lying_lengths(length, tl_bytes):
    nibbles = []
    for k in range(tl_bytes):
        nibbles.append((length >> (4 * (tl_bytes - 1 - k))) & 0x0F)
    tl = bytes([(0x80 if k < tl_bytes - 1 else 0) | (0x00 if k else 0) | n for k, n in enumerate(nibbles)])
    _parse_all(bytes([0x76]) + tl + b"\x00" * 8)


@SETTINGS
@given(st.binary(max_size=300), st.binary(max_size=64), st.integers(0, len(FRAMED) - 1), st.integers(1, 255))
def test_deframer_keeps_good_files_and_refuses_broken_ones(before, after, flip_at, flip):
    got = []
    d = T.Deframer(1024)
    stream = before + FRAMED + after
    d.feed(stream, len(stream), lambda buf, n: got.append(bytes(buf[:n])))
    assert PAYLOAD in got, "a good file survives garbage before it: errors %r" % d.errors
    assert len(d.buf) == 1024
    broken = bytearray(FRAMED)
    broken[flip_at] ^= flip
    got = []
    d2 = T.Deframer(1024)
    d2.feed(bytes(broken), len(broken), lambda buf, n: got.append(bytes(buf[:n])))
    assert PAYLOAD not in got, "a changed byte never passes as the original file"
    for payload in got:  # a flip the CRC cannot see does not exist for one byte; parse what came anyway
        _parse_all(payload)


class _Log:
    def __init__(self):
        self.warnings = 0

    def warn(self, *args):
        self.warnings += 1


class _FakeSml:
    """What LmnServer needs of the meter's SML object: ids, the push's integers, a log."""

    def __init__(self):
        self.server_id = M.server_id("QQQ", 12345678, 1)
        self.push = PushFile(self.server_id, "QQQ")
        self.log = _Log()
        self.meter = type("Meter", (), {"mep": None, "admin": None})()

    def fill(self, detailed):
        pass

    def sec_index(self):
        return 1


def _request_payload():
    from sml.codec import Writer

    w = Writer(512)
    for tid, tag, fields in ((1, M.OPEN_REQ, (None, b"gw", b"f", None, None, None, None)),
                             (2, M.GET_LIST_REQ, (b"gw", None, None, None, None)),
                             (3, M.CLOSE_REQ, (None,))):
        start = M.begin_message(w, bytes((tid,)), 0, tag)
        w.list(len(fields))
        for value in fields:
            w.octets(value)
        M.end_message(w, start)
    return bytes(w.buf[:w.n])


REQUEST = _request_payload()


def _answer_parses(server, payload):
    answer = server.answer(payload, len(payload))
    files = []
    d = T.Deframer(8192)
    d.feed(answer, len(answer), lambda buf, n: files.append(M.parse_file(buf, n, 128)))
    assert len(files) == 1, "every request gets one good answer file: %r" % d.errors
    return files[0]


def test_the_request_answered():
    from meter.sml_lmn import LmnServer

    server = LmnServer(_FakeSml(), None)
    tags = [m.tag for m in _answer_parses(server, REQUEST)]
    assert tags == [M.OPEN_RES, M.GET_LIST_RES, M.CLOSE_RES], tags


@SETTINGS
@given(st.integers(0, len(REQUEST) - 1), st.integers(0, 255), st.integers(0, len(REQUEST)))
def test_a_broken_request_gets_an_attention(at, value, length):
    from meter.sml_lmn import LmnServer

    fake = _FakeSml()
    server = LmnServer(fake, None)
    data = bytearray(REQUEST[:length])
    if at < length:
        data[at] = value
    messages = _answer_parses(server, bytes(data))
    refused = sum(server.refused.values())
    if bytes(data) != REQUEST:
        assert refused >= 1 or [m.tag for m in messages] == [M.OPEN_RES, M.GET_LIST_RES, M.CLOSE_RES], \
            "a changed request is refused (counted) unless the change kept it valid"
        assert fake.log.warnings == refused, "each refusal is warned about (rate-limited by the log sink)"
