# AES key wrap (RFC 3394): a key encrypted and integrity-checked under a key-encrypting key.
#
# wrap(kek, key) -> 8 + len(key) bytes; unwrap(kek, wrapped) -> key, or CryptoError when the
# integrity check (the default IV A6A6A6A6A6A6A6A6) fails. KEK of 16 or 32 bytes (AES-128 or
# AES-256; cryptolib has no AES-192), key data a multiple of 8 bytes, at least 16.
# Keys are small and rarely changed, so this is plain code (six rounds over n blocks).

import cryptolib
from micropython import const
from crypto.aes import CryptoError

_ECB = const(1)
_IV = b"\xa6\xa6\xa6\xa6\xa6\xa6\xa6\xa6"


def _check(kek, length):
    if kek is None or len(kek) not in (16, 32):
        raise CryptoError("key-encrypting key must be 16 or 32 bytes")
    if length < 16 or length % 8:
        raise CryptoError("wrapped key data must be a multiple of 8 bytes, at least 16")


def _xor_t(block, t):
    """A ^= t, t big-endian in the low bytes of the 8-byte A (block[0:8])."""
    i = 7
    while t:
        block[i] ^= t & 0xFF
        t >>= 8
        i -= 1


def wrap(kek, key):
    _check(kek, len(key))
    n = len(key) // 8
    enc = cryptolib.aes(kek, _ECB)
    r = bytearray(key)
    block = bytearray(16)
    block[:8] = _IV
    for j in range(6):
        for i in range(n):
            block[8:] = r[8 * i:8 * i + 8]
            enc.encrypt(block, block)
            _xor_t(block, n * j + i + 1)
            r[8 * i:8 * i + 8] = block[8:]
    return bytes(block[:8]) + bytes(r)


def unwrap(kek, wrapped):
    _check(kek, len(wrapped) - 8)
    n = len(wrapped) // 8 - 1
    dec = cryptolib.aes(kek, _ECB)
    r = bytearray(wrapped[8:])
    block = bytearray(16)
    block[:8] = wrapped[:8]
    for j in range(5, -1, -1):
        for i in range(n - 1, -1, -1):
            _xor_t(block, n * j + i + 1)
            block[8:] = r[8 * i:8 * i + 8]
            dec.decrypt(block, block)
            r[8 * i:8 * i + 8] = block[8:]
    diff = 0
    for i in range(8):
        diff |= block[i] ^ _IV[i]
    if diff:
        raise CryptoError("key unwrap: integrity check failed")
    return bytes(r)
