# test: cpython-only (hypothesis)
# Random and mutated telegrams: the parser, the record decoder, the 3-of-6 decoder and the
# head-end only ever return a result or raise WMBusError, never anything else.
import json

from hypothesis import given, settings, strategies as st, HealthCheck

import support
from headend import HeadEnd
from wmbus import builder, frame, parser, records
from wmbus.errors import WMBusError, REASONS

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

with open(support.REPO + "/host_tests/data/wmbus/wmbus-vectors.json") as _f:
    VECTORS = json.load(_f)
SEEDS = [(bytes.fromhex(v["hex"]), bytes.fromhex(v["key"]) if v["key"] else None,
          None if v["frame_format"] == "none" else v["frame_format"]) for v in VECTORS]
KEY = bytes(range(16))


def _own(fmt, mode):
    b = builder.Builder("QQQ", "12345678", 1, 2, KEY, mode=mode, fmt=fmt)
    buf = b.payload_buffer()
    pos = records.put_dif(buf, 0, records.INT32, records.VIF_ENERGY_WH)
    pos = records.put_int(buf, pos, 42, 4)
    return bytes(b.build(pos, 9)), KEY, fmt


SEEDS += [_own(f, m) for f in ("A", "B") for m in (5, 7)]


def _try(raw, key, fmt):
    try:
        t = parser.parse(raw, key, fmt)
    except WMBusError as exc:
        assert exc.reason in REASONS
        return None
    try:
        records.decode(t.payload)
    except WMBusError as exc:
        assert exc.reason in REASONS
    recs, error = records.decode_partial(t.payload)
    assert error is None or error.reason in REASONS
    return t


@FAST
@given(data=st.binary(max_size=300), key=st.one_of(st.none(), st.binary(min_size=16, max_size=16)),
       fmt=st.sampled_from([None, "A", "B", "auto"]))
def test_random_bytes(data, key, fmt):
    _try(data, key, fmt)


@FAST
@given(index=st.integers(min_value=0, max_value=len(SEEDS) - 1),
       edits=st.lists(st.tuples(st.integers(min_value=0, max_value=400), st.integers(min_value=0, max_value=255)),
                      min_size=1, max_size=4),
       cut=st.integers(min_value=0, max_value=300), mode=st.sampled_from(["flip", "set", "cut", "extend"]))
def test_mutated_vectors(index, edits, cut, mode):
    raw, key, fmt = SEEDS[index]
    data = bytearray(raw)
    if mode == "cut":
        data = data[: cut % (len(data) + 1)]
    elif mode == "extend":
        data += bytes(e[1] for e in edits)
    for pos, value in edits:
        if data and mode in ("flip", "set"):
            i = pos % len(data)
            data[i] = data[i] ^ (value or 1) if mode == "flip" else value
    _try(bytes(data), key, fmt)


@FAST
@given(index=st.integers(min_value=0, max_value=200), bit=st.integers(min_value=0, max_value=7))
def test_any_flip_in_a_mode7_telegram_is_caught(index, bit):
    # With CRCs, every bit of a frame is covered by a CRC or (after the AFL) by the MAC.
    raw, key, fmt = SEEDS[-1]  # own telegram, format B, mode 7
    data = bytearray(raw)
    data[index % len(data)] ^= 1 << bit
    try:
        parser.parse(bytes(data), key, fmt)
    except WMBusError as exc:
        assert exc.reason in REASONS
        return
    raise AssertionError("a flipped bit went through")


@FAST
@given(payload=st.binary(max_size=200))
def test_record_decoder_random_payloads(payload):
    try:
        records.decode(payload)
    except WMBusError as exc:
        assert exc.reason in REASONS
    try:
        records.expand_compact(payload[:20], payload[20:])
    except WMBusError as exc:
        assert exc.reason in REASONS


@FAST
@given(chips=st.binary(max_size=64), n=st.integers(min_value=0, max_value=50))
def test_three_of_six_random_chips(chips, n):
    try:
        frame.decode_3of6(chips, n, bytearray(n))
    except WMBusError as exc:
        assert exc.reason in ("malformed", "truncated")


@FAST
@given(data=st.binary(max_size=200))
def test_headend_random_input(data):
    he = HeadEnd({"12345678": KEY}, None)
    try:
        he.receive(data)
    except WMBusError as exc:
        assert exc.reason in REASONS


@FAST
@given(counter=st.integers(min_value=0, max_value=2**32 - 1), fmt=st.sampled_from(["A", "B"]),
       mode=st.sampled_from([5, 7]), values=st.lists(st.integers(min_value=-2**31, max_value=2**31 - 1), max_size=25))
def test_builder_round_trip(counter, fmt, mode, values):
    b = builder.Builder("QQQ", "00000042", 1, 2, KEY, mode=mode, fmt=fmt)
    buf = b.payload_buffer()
    pos = 0
    for i, v in enumerate(values):
        pos = records.put_dif(buf, pos, records.INT32, records.VIF_POWER_W, storage=i)
        pos = records.put_int(buf, pos, v, 4)
    t = parser.parse(bytes(b.build(pos, counter)), KEY, fmt)
    got = [r.value for r in records.decode(t.payload)]
    assert got == values
    if mode == 7:
        assert t.counter == counter
