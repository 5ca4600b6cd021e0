# test: cpython-only
# Property tests (hypothesis) of the MEP frame receiver, the table decoders and the
# server's request handling: no input raises anything but the MEP's own errors, the
# receiver's memory stays bounded, and valid frames survive any garbage around them.

import struct
from hypothesis import given, settings, strategies as st, HealthCheck
import mep_support as M
import support
from mep import tables as T
from mep.errors import MEPError
from mep.frame import Receiver, FRAME, BAD, ALERT, MAX_BODY
from mep.secure import LinkKeys, UP

KEYS = LinkKeys(M.KEY)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _request(seq, payload):
    body = bytearray(1 + len(payload) + 12)
    body[0] = T.READ_FULL
    body[1:1 + len(payload)] = payload
    struct.pack_into(">I", body, 1 + len(payload), seq)
    KEYS.sign_into(UP, body)
    return bytes(struct.pack(">H", len(body)) + body)


def _drain(r, t=0):
    events = []
    for _ in range(5000):
        e = r.poll(t)
        if e is None:
            if r.pending < 2:
                break
            t += 300
            continue
        events.append((e[0], None if e[1] is None else bytes(e[1])))
    return events


@SETTINGS
@given(st.lists(st.binary(max_size=300), max_size=8))
def test_any_bytes_never_raise_and_stay_bounded(chunks):
    r = Receiver(KEYS.verify_up)
    for chunk in chunks:
        r.feed(chunk)
        assert r.pending <= r.capacity
        for kind, body in _drain(r):
            assert kind in (FRAME, BAD, ALERT)
            if body is not None:
                assert 13 <= len(body) <= MAX_BODY


@SETTINGS
@given(st.lists(st.tuples(st.binary(max_size=40), st.binary(max_size=30)), min_size=1, max_size=4),
       st.binary(max_size=40))
def test_valid_frames_survive_garbage_around_them(pieces, tail):
    stream = b""
    frames = []
    for seq, (garbage, payload) in enumerate(pieces, 1):
        frame = _request(seq, payload)
        frames.append(frame[2:])
        stream += garbage + frame
    r = Receiver(KEYS.verify_up, accept_alert=False)
    r.feed(stream + tail)
    got = [body for kind, body in _drain(r) if kind == FRAME]
    assert got == frames


@SETTINGS
@given(st.binary(max_size=200))
def test_decoders_raise_only_mep_errors(data):
    for decode in (T.decode_ident, T.decode_realtime, T.decode_registers, T.decode_tariff, T.decode_overrides,
                   T.decode_nonurgent, T.decode_urgent, T.decode_status, T.decode_mbus_devices, T.decode_log,
                   T.decode_procedure_response, T.decode_profile_record, T.decode_dataset_record):
        try:
            decode(data)
        except MEPError:
            pass


@SETTINGS
@given(st.binary(max_size=80))
def test_private_data_decrypt_raises_only_mep_errors(data):
    try:
        KEYS.decrypt(9, data)
    except MEPError:
        pass


_ROOT = []


def _server():
    if not _ROOT:
        _ROOT.append(M.make_meter_mep(support.tmpdir("mfuzz")))
    return _ROOT[0]


@SETTINGS
@given(st.integers(0, 255), st.binary(max_size=40))
def test_server_answers_any_authentic_request_with_a_known_code(code, args):
    mep = _server()
    seq = mep.window.last + 1
    body = bytearray(1 + len(args) + 12)
    body[0] = code
    body[1:1 + len(args)] = args
    struct.pack_into(">I", body, 1 + len(args), seq)
    KEYS.sign_into(UP, body)
    out = mep.server.handle(FRAME, memoryview(body), 0)
    assert out is not None and KEYS.verify_down(memoryview(out)[2:])
    assert out[2] in (T.OK, T.ERR_UNRECOGNISED, T.ERR_UNSUPPORTED, T.ERR_PERMISSION, T.ERR_TABLE_OP)
    assert mep.tariffs.active == 0  # no request with the MEP key changes the tariff
