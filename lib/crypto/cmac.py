# AES-CMAC (RFC 4493) and a constant-time MAC comparison.
#
# The MAC runs as one AES-CBC pass in C (cryptolib) over the message with the last block
# masked by subkey K1 or K2, which is what CMAC is. One CBC object is kept per key and
# reused: its chaining value after the previous message is known (the previous tag), so
# XOR-ing it into the first block of the next message cancels it. No allocation per MAC
# once the object exists, and no Python loop over the message bytes.
#
# mac_in_place() is the same pass for a key used once (OMS mode 7 derives a new MAC key
# per telegram): one cryptolib object, the message padded and masked in the caller's
# buffer, no other allocation.

import cryptolib
from micropython import const
from crypto.aes import BLOCK_BYTES, CryptoError, check_key

_ECB = const(1)
_CBC = const(2)
_RB = const(0x87)
_ZERO_IV = bytes(BLOCK_BYTES)
# Messages longer than this are fed through the scratch buffer in pieces.
_SCRATCH_BYTES = const(256)


def _double(block):
    """Multiply by x in GF(2^128) (RFC 4493 section 2.3), in place."""
    carry = block[0] >> 7
    for i in range(BLOCK_BYTES - 1):
        block[i] = ((block[i] << 1) & 0xFF) | (block[i + 1] >> 7)
    block[BLOCK_BYTES - 1] = ((block[BLOCK_BYTES - 1] << 1) & 0xFF) ^ (_RB if carry else 0)


class CMAC:
    def __init__(self, key):
        check_key(key)
        k1 = bytearray(BLOCK_BYTES)
        cryptolib.aes(key, _ECB).encrypt(k1, k1)  # L = AES(K, 0)
        _double(k1)
        k2 = bytearray(k1)
        _double(k2)
        self._k1 = k1
        self._k2 = k2
        self._cbc = cryptolib.aes(key, _CBC, bytes(BLOCK_BYTES))
        self._chain = bytearray(BLOCK_BYTES)  # the CBC object's chaining value now
        self._scratch = bytearray(_SCRATCH_BYTES)
        self._last = bytearray(BLOCK_BYTES)

    def subkeys(self):
        return bytes(self._k1), bytes(self._k2)

    def digest_into(self, message, out, tag_bytes=BLOCK_BYTES):
        """Write the first `tag_bytes` of CMAC(message) into out[0:tag_bytes]."""
        if not 1 <= tag_bytes <= BLOCK_BYTES:
            raise CryptoError("tag length must be 1..16")
        message = memoryview(message)
        length = len(message)
        full_blocks = (length - 1) // BLOCK_BYTES if length else 0  # blocks before the last
        head = full_blocks * BLOCK_BYTES
        scratch = self._scratch
        chain = self._chain
        first = True
        done = 0
        while done < head:
            n = min(head - done, _SCRATCH_BYTES)
            piece = memoryview(scratch)[:n]
            piece[:] = message[done : done + n]
            if first:
                for i in range(BLOCK_BYTES):
                    scratch[i] ^= chain[i]
                first = False
            self._cbc.encrypt(piece, piece)
            done += n
        last = self._last
        rest = length - head
        if rest == BLOCK_BYTES:
            mask = self._k1
            last[:] = message[head:]
        else:
            mask = self._k2
            for i in range(BLOCK_BYTES):
                last[i] = 0
            last[:rest] = message[head:]
            last[rest] = 0x80
        for i in range(BLOCK_BYTES):
            last[i] ^= mask[i]
            if first:
                last[i] ^= chain[i]
        self._cbc.encrypt(last, last)
        chain[:] = last
        out[:tag_bytes] = memoryview(last)[:tag_bytes]
        return out

    def digest(self, message, tag_bytes=BLOCK_BYTES):
        return bytes(self.digest_into(message, bytearray(tag_bytes), tag_bytes))


def subkey1(ecb, out):
    """K1 = AES(K, 0) * x (RFC 4493 2.3) into out, with an ECB object of the key."""
    for i in range(BLOCK_BYTES):
        out[i] = 0
    ecb.encrypt(out, out)
    _double(out)
    return out


def mac_in_place(key, buf, length, out, tag_bytes, seed, subkey):
    """AES-CMAC of buf[0:length] into out[0:tag_bytes], as one CBC pass in C, for a key
    used once.

    buf needs room for the padding of the last block after length (it is overwritten);
    seed and subkey are 16-byte scratch buffers. The CBC object first encrypts a zero
    block: that gives L = AES(K, 0), the subkey seed, and leaves L as the chain, which
    XOR-ing L into the message's first block cancels."""
    cipher = cryptolib.aes(key, _CBC, _ZERO_IV)
    for i in range(BLOCK_BYTES):
        seed[i] = 0
    cipher.encrypt(seed, seed)
    for i in range(BLOCK_BYTES):
        subkey[i] = seed[i]
    _double(subkey)  # K1
    padded = length
    if length == 0 or length % BLOCK_BYTES:
        _double(subkey)  # K2, for a padded last block
        buf[length] = 0x80
        padded = (length // BLOCK_BYTES + 1) * BLOCK_BYTES
        for i in range(length + 1, padded):
            buf[i] = 0
    last = padded - BLOCK_BYTES
    for i in range(BLOCK_BYTES):
        buf[last + i] ^= subkey[i]
        buf[i] ^= seed[i]
    mv = memoryview(buf)[0:padded]
    cipher.encrypt(mv, mv)
    for i in range(tag_bytes):
        out[i] = buf[last + i]
    return out


def cmac(key, message, tag_bytes=BLOCK_BYTES):
    """One-shot AES-CMAC, truncated to the first `tag_bytes` bytes."""
    return CMAC(key).digest(message, tag_bytes)


def equal(a, b):
    """Compare two MACs without stopping at the first differing byte."""
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0
