# test: cpython-only (hypothesis)
# Property-based tests of everything the foundation parses from storage or files:
# whatever bytes are there, the parser returns valid data or raises its own error type.
import json
import os

from hypothesis import given, settings, strategies as st, HealthCheck

import config
import log
import store
import support

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

payloads = st.lists(st.binary(min_size=0, max_size=60), min_size=1, max_size=40)
damage = st.lists(st.tuples(st.integers(min_value=0, max_value=10**6), st.integers(min_value=0, max_value=255)),
                  max_size=6)


def _segment_files(folder):
    return sorted(os.path.join(folder, n) for n in os.listdir(folder) if n.endswith(".seg"))


@FAST
@given(records=payloads, hits=damage, cut=st.integers(min_value=0, max_value=200))
def test_ring_returns_only_records_that_were_appended_whatever_the_damage(records, hits, cut):
    folder = support.tmpdir("ringfuzz")
    ring = store.Ring(folder, segment_bytes=512, segments=3)
    written = {}
    for data in records:
        written[ring.append(data)] = data
    ring.close()
    files = _segment_files(folder)
    # Flip bytes anywhere, then tear the newest segment's tail.
    for offset, value in hits:
        path = files[offset % len(files)]
        with open(path, "r+b") as f:
            size = os.path.getsize(path)
            if size:
                f.seek(offset % size)
                f.write(bytes([value]))
    newest = files[-1]
    with open(newest, "rb") as f:
        body = f.read()
    with open(newest, "wb") as f:
        f.write(body[: max(0, len(body) - cut)])
    try:
        reopened = store.Ring(folder, segment_bytes=512, segments=3)
    except store.StoreError:
        support.rmtree(folder)
        return
    last = 0
    for seq, data in reopened.records():
        assert seq > last  # strictly increasing
        assert written.get(seq) == data  # never invented, never altered
        last = seq
    new_seq = reopened.append(b"after")
    assert new_seq > last
    assert list(reopened.records(after_seq=new_seq - 1)) == [(new_seq, b"after")]
    reopened.close()
    support.rmtree(folder)


@FAST
@given(value=st.binary(max_size=200), garbage=st.binary(max_size=300), keep=st.integers(min_value=0, max_value=300))
def test_atomic_record_reads_the_value_or_raises_store_error(value, garbage, keep):
    folder = support.tmpdir("recfuzz")
    path = folder + "/rec"
    record = store.AtomicRecord(path)
    record.write(value)
    with open(path, "rb") as f:
        body = f.read()
    # Keep a prefix of the real file and append garbage: a torn or scribbled file.
    with open(path, "wb") as f:
        f.write(body[:keep] + garbage)
    try:
        got = store.AtomicRecord(path).read()
    except store.StoreError:
        got = "error"
    intact = (body[:keep] + garbage) == body
    assert got == value if intact else got in (value, "error")
    support.rmtree(folder)


@FAST
@given(st.binary(max_size=300))
def test_log_entry_decoder_returns_an_entry_or_value_error(record):
    try:
        time_s, level, tag, message = log.decode_entry(record)
    except ValueError:
        return
    assert 0 <= level <= 3 and isinstance(tag, str) and isinstance(message, str)


@FAST
@given(st.integers(min_value=0, max_value=2**32 - 1), st.integers(min_value=0, max_value=3),
       st.text(max_size=20), st.text(max_size=300))
def test_log_entries_round_trip(time_s, level, tag, message):
    record = log.encode_entry((time_s, level, tag, message))
    got = log.decode_entry(record)
    assert got[:3] == (time_s, level, tag)
    assert message.startswith(got[3])  # long messages are cut at a character boundary


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


@FAST
@given(json_values)
def test_config_validation_returns_a_config_or_a_config_error_naming_a_key(document):
    from meter.config import SCHEMA

    try:
        checked = config.validate(document, SCHEMA)
    except config.ConfigError as exc:
        assert isinstance(exc.key, str)
        assert str(exc).startswith("config: ")
        return
    assert checked["meter_id"].isdigit()
    json.dumps(checked)
