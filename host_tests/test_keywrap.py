# RFC 3394 AES key wrap against the RFC's own vectors, both interpreters.

import json
import os
from support import REPO, raises
from crypto.keywrap import wrap, unwrap
from crypto.aes import CryptoError

VECTORS = REPO + "/host_tests/data/security/keywrap-vectors.json"


def _vectors():
    with open(VECTORS) as f:
        return json.load(f)["vectors"]


def test_rfc3394_vectors_wrap_and_unwrap():
    vectors = _vectors()
    assert len(vectors) == 4
    for v in vectors:
        kek, key, wrapped = bytes.fromhex(v["kek"]), bytes.fromhex(v["key"]), bytes.fromhex(v["wrapped"])
        assert wrap(kek, key) == wrapped, v["section"]
        assert unwrap(kek, wrapped) == key, v["section"]


def test_any_flipped_bit_fails_the_integrity_check():
    v = _vectors()[0]
    kek, wrapped = bytes.fromhex(v["kek"]), bytes.fromhex(v["wrapped"])
    for bit in range(0, len(wrapped) * 8, 7):
        bad = bytearray(wrapped)
        bad[bit // 8] ^= 1 << (bit % 8)
        raises(CryptoError, unwrap, kek, bytes(bad))


def test_wrong_kek_fails():
    key = os.urandom(16)
    wrapped = wrap(b"\x01" * 16, key)
    raises(CryptoError, unwrap, b"\x02" * 16, wrapped)
    assert unwrap(b"\x01" * 16, wrapped) == key


def test_bad_lengths_are_refused():
    raises(CryptoError, wrap, b"\x00" * 16, b"\x00" * 8)  # one block: RFC 3394 needs two
    raises(CryptoError, wrap, b"\x00" * 16, b"\x00" * 20)
    raises(CryptoError, wrap, b"\x00" * 15, b"\x00" * 16)
    raises(CryptoError, unwrap, b"\x00" * 16, b"\x00" * 23)
    raises(CryptoError, unwrap, b"\x00" * 16, b"")
