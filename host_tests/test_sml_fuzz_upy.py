# The SML parser and deframer under both interpreters (MicroPython: its 512K heap cap) fed
# mutated, truncated, nested and garbage input from a fixed seed: only SmlError, and a
# good file after the garbage still comes through.

import random
from sml import messages as M
from sml import transport as T
from sml.errors import SmlError
from sml.push import PushFile


def _push():
    p = PushFile(M.server_id("QQQ", 12345678, 1), "QQQ")
    n = p.build(7, True)
    framed = bytes(p.buf[:n])
    files = []
    T.Deframer().feed(framed, n, lambda buf, k: files.append(bytes(buf[:k])))
    return framed, files[0]


def _refused_or_parsed(data):
    try:
        M.parse_file(data, len(data))
        return 0
    except SmlError as err:
        assert err.reason, "a refusal has a reason"
        return 1


def test_mutations_truncations_and_nesting():
    framed, payload = _push()
    rng = random.Random(15) if hasattr(random, "Random") else None
    randint = rng.randint if rng else random.randint
    if rng is None:
        random.seed(15)
    refused = 0
    for k in range(400):
        data = bytearray(payload)
        for _ in range(1 + k % 4):
            data[randint(0, len(data) - 1)] = randint(0, 255)
        refused += _refused_or_parsed(bytes(data))
    for length in range(0, len(payload), 7):
        refused += _refused_or_parsed(payload[:length])
    for depth in (5, 11, 50, 300):
        refused += _refused_or_parsed(bytes([0x76]) + b"\x71" * depth + b"\x01")
    for tl in (b"\x8f\x8f\x8f\x0f", b"\x8f\x8f\x8f\x8f\x0f", b"\x0f", b"\xf8\x8f\x0f"):
        refused += _refused_or_parsed(bytes([0x76]) + tl + b"\x01" * 4)
    assert refused > 400, "most mutations are refused (%d)" % refused


def test_deframer_under_garbage():
    framed, payload = _push()
    if hasattr(random, "Random"):
        rnd = random.Random(7)
        getrandbits = rnd.getrandbits
    else:
        random.seed(7)
        getrandbits = random.getrandbits
    d = T.Deframer(1024)
    got = []
    for round_ in range(30):
        junk = bytes(getrandbits(8) for _ in range(200))
        broken = bytearray(framed)
        broken[getrandbits(8) % len(broken)] ^= 1 + getrandbits(7)
        for chunk in (junk, T.START + junk, bytes(broken), framed):
            d.feed(chunk, len(chunk), lambda buf, n: got.append(bytes(buf[:n])))
    assert got.count(payload) >= 30, "every good file after the garbage: %d, errors %r" % (got.count(payload), d.errors)
    assert sum(d.errors.values()) >= 30, d.errors


class _Log:
    def warn(self, *args):
        pass


class _FakeSml:
    def __init__(self):
        self.server_id = M.server_id("QQQ", 12345678, 1)
        self.push = PushFile(self.server_id, "QQQ")
        self.log = _Log()
        self.meter = None

    def fill(self, detailed):
        pass

    def sec_index(self):
        return 1


def test_lmn_server_answers_every_mutated_request():
    from meter.sml_lmn import LmnServer
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
    request = bytes(w.buf[:w.n])
    server = LmnServer(_FakeSml(), None)
    random.seed(3)
    for k in range(300):
        data = bytearray(request[:len(request) - (k % 5) * (k % 7)])
        data[random.getrandbits(16) % len(data)] = random.getrandbits(8)
        answer = server.answer(data, len(data))
        files = []
        T.Deframer(8192).feed(answer, len(answer), lambda buf, n: files.append(M.parse_file(buf, n, 128)))
        assert len(files) == 1, "one good answer file for every request"
    assert sum(server.refused.values()) > 250, server.refused
