# test: cpython-only (hypothesis)
# Property tests of the bundle parser and the receiver: any bytes, any JSON-shaped manifest,
# any chunking give a checked manifest or a Refused, never another exception.

import json
from hypothesis import given, settings, strategies as st
from support import REPO, tmpdir, rmtree
from store.atomic import AtomicRecord
from ota import bundle
from ota.bundle import Refused
from ota.receiver import Receiver

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=20,
)


def _head(text):
    return b"MOTA\x01\x00" + bytes([len(text) & 0xFF, len(text) >> 8]) + text + bytes(64)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_parse_any_bytes(raw):
    for head in (raw, _head(raw[:1000]) if raw else b"MOTA"):
        try:
            bundle.parse_manifest(head)
        except Refused as exc:
            assert exc.reason == bundle.BAD_FORMAT


@settings(max_examples=300, deadline=None)
@given(_json, st.sampled_from(["board", "version", "security_version", "files", "path", "size", "sha256"]))
def test_parse_any_manifest_shape(value, key):
    base = {"board": "host", "version": "1", "security_version": 1,
            "files": [{"path": "a.py", "size": 1, "sha256": "00" * 32}]}
    if key in base:
        base[key] = value
    else:
        base["files"][0][key] = value
    try:
        m = bundle.parse_manifest(_head(json.dumps(base).encode()))
    except Refused as exc:
        assert exc.reason == bundle.BAD_FORMAT
        return
    assert isinstance(m["board"], str) and isinstance(m["security_version"], int)
    for entry in m["files"]:
        assert ".." not in entry["path"].split("/") and not entry["path"].startswith("/")


with open(REPO + "/host_tests/data/ota/v1.ota", "rb") as _f:
    _V1 = _f.read()
with open(REPO + "/host_tests/data/ota/test-anchor.pub", "rb") as _f:
    _ANCHOR = _f.read()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 5000), min_size=1, max_size=20), st.integers(0, len(_V1) - 1), st.integers(0, 255))
def test_receiver_any_chunking_and_damage(sizes, pos, xor):
    root = tmpdir("otap")
    try:
        AtomicRecord(root + "/keys/ota-anchor.pub").write(_ANCHOR)
        data = bytearray(_V1)
        data[pos] ^= xor
        rx = Receiver(root, "host")
        try:
            offset = rx.begin("p", len(data))
            i = 0
            while offset < len(data):
                offset = rx.write(offset, bytes(data[offset: offset + sizes[i % len(sizes)]]))
                i += 1
            state = rx.finish()
        except Refused:
            assert xor  # only a damaged bundle is refused
            return
        assert not xor and state["version"] == "1.0"
    finally:
        rmtree(root)
