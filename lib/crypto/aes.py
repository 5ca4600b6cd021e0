# AES-128 over MicroPython's `cryptolib` (CPython: the shim in host_tests/shims).
#
# cryptolib objects are one-way (encrypt or decrypt) and a CBC object chains its state
# across calls, so callers get a fresh object per message unless they manage the chain
# themselves (as cmac.CMAC does to avoid allocating).

import cryptolib
from micropython import const

BLOCK_BYTES = const(16)
KEY_BYTES = const(16)
_ECB = const(1)
_CBC = const(2)


class CryptoError(ValueError):
    """A key, IV or data length the primitives cannot take, or a failed check."""


def check_key(key):
    if key is None or len(key) != KEY_BYTES:
        raise CryptoError("key must be 16 bytes")


def ecb(key):
    """An ECB encryptor for one key: encrypt(block[, out])."""
    check_key(key)
    return cryptolib.aes(key, _ECB)


def _cbc(key, iv, data, out, encrypt):
    check_key(key)
    if len(iv) != BLOCK_BYTES:
        raise CryptoError("IV must be 16 bytes")
    if len(data) % BLOCK_BYTES:
        raise CryptoError("CBC data must be whole 16-byte blocks")
    if out is None:
        out = bytearray(len(data))
    elif len(out) < len(data):
        raise CryptoError("output buffer too small")
    if len(data):
        cipher = cryptolib.aes(key, _CBC, iv)
        if encrypt:
            cipher.encrypt(data, out)
        else:
            cipher.decrypt(data, out)
    return out


def cbc_encrypt(key, iv, data, out=None):
    """AES-128-CBC without padding; `out` (>= len(data)) may be `data` itself."""
    return _cbc(key, iv, data, out, True)


def cbc_decrypt(key, iv, data, out=None):
    return _cbc(key, iv, data, out, False)
