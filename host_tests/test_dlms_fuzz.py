# test: cpython-only (hypothesis)
# The DLMS parsers on arbitrary and mutated input: HDLC frames, A-XDR, the AARQ, every
# xDLMS service in every association state, ciphered APDUs. Each refusal is an answer
# (FRMR, exception-response, a refusing AARE or data-access-result), counted; nothing raises.
import os
from hypothesis import given, settings, strategies as st, HealthCheck

import support
from dlms import axdr as X
from dlms import acse
from dlms import hdlc as H
from dlms.server import Server, Association
from dlms.security import Security
from test_dlms import _fuzz_server, _aarq_public, _SEEDS, _frame

_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(st.binary(max_size=300))
def test_axdr_decode_refuses_or_decodes(data):
    try:
        X.decode_bytes(data)
    except X.DataError:
        pass


def test_axdr_refuses_deep_nesting_without_recursing():
    deep = b"\x02\x01" * 2000 + b"\x00"
    assert "deep" in str(support.raises(X.DataError, X.decode_bytes, deep))


@_SETTINGS
@given(st.binary(max_size=200))
def test_aarq_parser_refuses_or_parses(data):
    try:
        acse.parse_aarq(b"\x60" + bytes([len(data) & 0x7F]) + data)
    except acse.AcseError:
        pass


@_SETTINGS
@given(st.lists(st.binary(min_size=1, max_size=80), max_size=12))
def test_hdlc_feed_never_raises_and_recovers(chunks):
    link = H.HdlcServer(lambda apdu, sap: b"\x01")
    for chunk in chunks:
        link.feed(chunk)
        link.out.reset()
    link.abandon_partial()
    link.feed(_frame(0x53))
    link.out.reset()
    link.feed(_frame(0x93))
    assert link.connected and link.out.n > 0


@_SETTINGS
@given(st.sampled_from(range(len(_SEEDS))), st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)),
                                                     max_size=6), st.integers(0, 120))
def test_server_answers_mutated_services(which, flips, cut):
    server = _fuzz_server()
    a = Association(16)
    server.handle(a, _aarq_public())
    data = bytearray(_SEEDS[which])
    for pos, value in flips:
        data[pos % len(data)] = value
    data = bytes(data[: max(1, len(data) - cut)])
    out = bytes(server.handle(a, data))
    assert out and out[0] in (0xC4, 0xD8, 0x61, 0x63), out.hex()


@_SETTINGS
@given(st.binary(min_size=1, max_size=200), st.sampled_from((0xC8, 0xC9, 0xCB, 0xDB, 0x21, 0xC0, 0x60)))
def test_ciphered_garbage_is_refused_in_the_management_association(body, tag):
    folder = support.tmpdir("dlmsfz")
    try:
        sec = Security(folder, b"QQQ00001", lambda: (os.urandom(16), os.urandom(16)))
        server = Server(security=sec)
        a = Association(1)
        out = bytes(server.handle(a, bytes([tag]) + body))
        assert out and out[0] in (0xD8, 0x61), out.hex()
        a.associated = a.ciphered = True  # as if HLS had passed: ciphered requests still need the keys
        a.client_title = b"CLIENT01"
        out = bytes(server.handle(a, bytes([tag]) + body))
        assert out[0] in (0xD8, 0x61, 0x63), out.hex()
        assert server.counts["refused"] >= 1
    finally:
        support.rmtree(folder)
