# ECDSA P-256 verification (crypto/ecdsa.py) under both interpreters: the vectors in
# data/crypto/crypto-vectors.json (valid and invalid), range checks, malformed keys and
# the arithmetic's special cases.

import json
import hashlib
from binascii import unhexlify
from support import REPO, raises
from crypto import ecdsa
from crypto.p256_table import G_POINTS, G_WINDOW


def _vectors():
    with open(REPO + "/host_tests/data/crypto/crypto-vectors.json") as f:
        return json.load(f)["ecdsa_p256_sha256"]["vectors"]


def test_vectors():
    vectors = _vectors()
    assert len(vectors) >= 8
    for v in vectors:
        msg = unhexlify(v["msg"])
        digest = hashlib.sha256(msg).digest()
        assert digest == unhexlify(v["sha256"])
        got = ecdsa.verify(unhexlify(v["public_key"]), digest, unhexlify(v["signature"]))
        assert got == (v["expect"] == "valid"), v["name"]


def _valid():
    v = _vectors()[1]
    return unhexlify(v["public_key"]), hashlib.sha256(unhexlify(v["msg"])).digest(), unhexlify(v["signature"])


def test_every_single_bit_flip_of_signature_and_digest_fails():
    key, digest, sig = _valid()
    for i in range(0, 64 * 8, 37):
        bad = bytearray(sig)
        bad[i >> 3] ^= 1 << (i & 7)
        assert not ecdsa.verify(key, digest, bad)
    for i in range(0, 256, 29):
        bad = bytearray(digest)
        bad[i >> 3] ^= 1 << (i & 7)
        assert not ecdsa.verify(key, bad, sig)


def test_out_of_range_r_and_s():
    key, digest, sig = _valid()
    n = ecdsa.N.to_bytes(32, "big")
    zero = bytes(32)
    for r, s in ((zero, sig[32:]), (sig[:32], zero), (n, sig[32:]), (sig[:32], n), (b"\xff" * 32, sig[32:])):
        assert not ecdsa.verify(key, digest, r + s)
    # s and n - s do not both verify unless by the (valid) malleability of ECDSA: n - s does verify.
    s = int.from_bytes(sig[32:], "big")
    assert ecdsa.verify(key, digest, sig[:32] + (ecdsa.N - s).to_bytes(32, "big"))


def test_malformed_inputs_raise():
    key, digest, sig = _valid()
    assert raises(ecdsa.ECDSAError, ecdsa.verify, key[:64], digest, sig)
    assert raises(ecdsa.ECDSAError, ecdsa.verify, b"\x02" + key[1:], digest, sig)
    off_curve = bytearray(key)
    off_curve[64] ^= 1
    assert raises(ecdsa.ECDSAError, ecdsa.verify, off_curve, digest, sig)
    big_x = b"\x04" + b"\xff" * 32 + key[33:]
    assert raises(ecdsa.ECDSAError, ecdsa.verify, big_x, digest, sig)
    assert raises(ecdsa.ECDSAError, ecdsa.verify, key, digest[:31], sig)
    assert raises(ecdsa.ECDSAError, ecdsa.verify, key, digest, sig[:63])


def _mul(k, x, y):
    """k * (x, y) by plain double-and-add over the module's own Jacobian formulas."""
    R = (1, 1, 0)
    for i in range(255, -1, -1):
        R = ecdsa._double(*R)
        if (k >> i) & 1:
            R = ecdsa._add(R[0], R[1], R[2], x, y, 1)
    return R


def _affine(X, Y, Z):
    zi = pow(Z, ecdsa.P - 2, ecdsa.P)
    return X * zi * zi % ecdsa.P, Y * zi * zi * zi % ecdsa.P


def test_g_table_is_odd_multiples_of_g():
    count = 1 << (G_WINDOW - 2)
    assert len(G_POINTS) == 64 * count, "expected %d points of 64 bytes, got %d bytes" % (count, len(G_POINTS))
    assert ecdsa.g_point(0) == (ecdsa.GX, ecdsa.GY)
    for k in (1, 3, count - 1):
        assert _affine(*_mul(2 * k + 1, ecdsa.GX, ecdsa.GY)) == ecdsa.g_point(k), "point %d is not %dG" % (k, 2 * k + 1)


def test_wnaf_reconstructs_scalar():
    for k in (1, 2, 3, ecdsa.N - 1, ecdsa.N - 2, (1 << 256) - 1, 0x8000000000000000000000000000000000000000000000000000000000000000,
              0x1234567890ABCDEF1234567890ABCDEF1234567890ABCDEF1234567890ABCDEF):
        for w in (2, 5, 7):
            digits = ecdsa._wnaf(k, w)
            total = 0
            for i in range(len(digits) - 1, -1, -1):
                total = 2 * total + digits[i]
                assert digits[i] == 0 or (digits[i] & 1 and -(1 << (w - 1)) < digits[i] < 1 << (w - 1))
            assert total == k


def test_addition_special_cases():
    g = (ecdsa.GX, ecdsa.GY, 1)
    assert ecdsa._add(*g, *g) == ecdsa._double(*g)  # P + P
    assert ecdsa._add(*g, ecdsa.GX, ecdsa.P - ecdsa.GY, 1)[2] == 0  # P + (-P) = infinity
    assert ecdsa._add(1, 1, 0, *g) == g and ecdsa._add(*g, 1, 1, 0) == g
    assert ecdsa._double(1, 1, 0)[2] == 0
    assert _mul(ecdsa.N, ecdsa.GX, ecdsa.GY)[2] == 0  # n * G = infinity


def test_signature_with_q_equal_g():
    # Private key 1 (Q = G): u1*G + u2*Q exercises additions of equal and opposite points.
    n = ecdsa.N
    digest = hashlib.sha256(b"q is g").digest()
    e = int.from_bytes(digest, "big") % n
    k = 0x5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A
    r = _affine(*_mul(k, ecdsa.GX, ecdsa.GY))[0] % n
    s = pow(k, n - 2, n) * (e + r * 1) % n
    key = b"\x04" + ecdsa.GX.to_bytes(32, "big") + ecdsa.GY.to_bytes(32, "big")
    sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert ecdsa.verify(key, digest, sig)
    assert not ecdsa.verify(key, hashlib.sha256(b"q is not g").digest(), sig)
