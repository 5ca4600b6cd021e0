# test: cpython-only (hypothesis, cryptography)
# Property tests of the device's ECDSA verifier against the `cryptography` package: any key,
# any message signed by cryptography verifies; any change of message, signature or key does
# not. Also that lib/crypto/p256_table.py is what tools/p256_table.py writes.

import hashlib
from hypothesis import given, settings, strategies as st
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from crypto import ecdsa
import p256_table
import otatool


def _sign(secret, msg):
    key = ec.derive_private_key(secret, ec.SECP256R1())
    r, s = decode_dss_signature(key.sign(msg, ec.ECDSA(hashes.SHA256())))
    return otatool.public_bytes(key), r.to_bytes(32, "big") + s.to_bytes(32, "big")


@settings(max_examples=60, deadline=None)
@given(st.integers(1, ecdsa.N - 1), st.binary(max_size=200), st.integers(0, 511))
def test_cryptography_signatures_verify_and_changes_do_not(secret, msg, bit):
    public, sig = _sign(secret, msg)
    digest = hashlib.sha256(msg).digest()
    assert ecdsa.verify(public, digest, sig)
    bad = bytearray(sig)
    bad[bit >> 3] ^= 1 << (bit & 7)
    assert not ecdsa.verify(public, digest, bytes(bad))
    assert not ecdsa.verify(public, hashlib.sha256(msg + b"x").digest(), sig)
    other, _ = _sign(secret % (ecdsa.N - 1) + 1 if secret != 1 else 2, b"")
    if other != public:
        assert not ecdsa.verify(other, digest, sig)


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=65, max_size=65), st.binary(min_size=32, max_size=32), st.binary(min_size=64, max_size=64))
def test_random_inputs_never_crash(key, digest, sig):
    try:
        assert ecdsa.verify(key, digest, sig) in (True, False)
    except ecdsa.ECDSAError:
        pass


def test_g_table_is_generated():
    assert p256_table.main(["--check"]) == 0
