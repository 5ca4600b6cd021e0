# test: cpython-only (hypothesis)
# Property-based tests of the M-Bus decoder: corpus frames with bytes flipped,
# inserted, deleted or cut, with the checksum repaired (so the application
# layer sees the damage) or not. The decoder only ever returns a Telegram of
# well-formed Records or raises MBusError.
import json
import os

from hypothesis import given, settings, strategies as st, HealthCheck

from support import REPO
from mbus import frame
from mbus.decode import decode_frame, decode_user_data, Telegram
from mbus.errors import MBusError

FAST = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FOLDER = REPO + "/host_tests/data/mbus-corpus/test-frames/"
NAMES = sorted(os.listdir(FOLDER))
FUNCTIONS = ("instantaneous", "maximum", "minimum", "error", "manufacturer_specific",
             "more_records_follow")


def _frame(name):
    with open(FOLDER + name) as f:
        return bytes(int(tok, 16) for tok in f.read().split())


EDITS = st.lists(st.tuples(st.sampled_from(("set", "insert", "delete")),
                           st.integers(min_value=0, max_value=300),
                           st.integers(min_value=0, max_value=255)), min_size=1, max_size=6)


def _mutate(data, edits):
    out = bytearray(data)
    for op, at, value in edits:
        at = at % (len(out) + 1)
        if op == "set" and at < len(out):
            out[at] = value
        elif op == "insert":
            out.insert(at, value)
        elif op == "delete" and at < len(out):
            del out[at]
    return bytes(out)


def _well_formed(t):
    assert isinstance(t, Telegram)
    assert set(t.header) == {"id", "manufacturer", "version", "medium", "access_no", "status"}
    for r in t.records:
        assert r.function in FUNCTIONS
        assert isinstance(r.storage, int) and isinstance(r.tariff, int) and isinstance(r.subunit, int)
        assert isinstance(r.quantity, str) and isinstance(r.unit, str)
        assert r.value is None or isinstance(r.value, (int, float, str))
    json.dumps(t.as_dict())


def _decodes_or_refuses(call, *args):
    try:
        t = call(*args)
    except MBusError as exc:
        assert exc.reason
        return
    _well_formed(t)


@FAST
@given(name=st.sampled_from(NAMES), edits=EDITS, ci=st.sampled_from((0x72, 0x7A, 0x78, 0x73, 0x70)))
def test_mutated_user_data_decodes_or_raises_mbus_error(name, edits, ci):
    parsed = frame.parse(_frame(name))
    _decodes_or_refuses(decode_user_data, ci, _mutate(parsed.data, edits))


@FAST
@given(name=st.sampled_from(NAMES), edits=EDITS, repair=st.booleans())
def test_mutated_frames_decode_or_raise_mbus_error(name, edits, repair):
    buf = bytearray(_mutate(_frame(name), edits))
    if repair and len(buf) >= 9 and buf[0] == 0x68:
        # fix L, checksum and stop so that the damage reaches the application layer
        buf[1] = buf[2] = min(len(buf) - 6, 255)
        buf[3] = 0x68
        buf = buf[:buf[1] + 6]
        buf[-2] = frame.checksum(buf, 4, len(buf) - 2)
        buf[-1] = 0x16
    _decodes_or_refuses(decode_frame, bytes(buf))


@FAST
@given(data=st.binary(max_size=260), ci=st.integers(min_value=0, max_value=255))
def test_random_user_data_decodes_or_raises_mbus_error(data, ci):
    _decodes_or_refuses(decode_user_data, ci, data)
