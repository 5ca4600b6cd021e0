# AES-GCM (NIST SP 800-38D) for DLMS security suite 0: AES-128 from crypto.aes (cryptolib
# ECB), GHASH in pure Python with Shoup's 4-bit tables (16 multiples of H, built once
# per key, and a fixed 16-entry reduction table). Blocks are 128-bit ints in GCM's
# big-endian byte order, so a multiplication is 32 table steps, and CTR mode XORs the
# whole message in one integer operation.

from micropython import const
from crypto import aes
from crypto.cmac import equal as _equal

_R0 = const(0xE1) << 120  # x^128 reduced, in the reflected bit order GCM uses
_REDUCE = tuple(
    (_R0 if r & 8 else 0) ^ (_R0 >> 1 if r & 4 else 0) ^ (_R0 >> 2 if r & 2 else 0) ^ (_R0 >> 3 if r & 1 else 0)
    for r in range(16)
)
_MASK = (1 << 128) - 1


class TagError(ValueError):
    """The authentication tag does not match: the message is refused, nothing decrypted."""


class Gcm:
    def __init__(self, key):
        self._ecb = aes.ecb(key)
        self._block = bytearray(16)
        self._ecb.encrypt(bytes(16), self._block)
        h = int.from_bytes(self._block, "big")
        # M[n] = n * H for a nibble n whose most significant bit is the x^0 coefficient.
        hx = [h]
        for _ in range(3):
            v = hx[-1]
            hx.append((v >> 1) ^ (_R0 if v & 1 else 0))
        table = []
        for n in range(16):
            v = 0
            for bit in range(4):
                if n & (8 >> bit):
                    v ^= hx[bit]
            table.append(v)
        self._m = tuple(table)

    def _mul(self, x):
        z = 0
        m = self._m
        red = _REDUCE
        for _ in range(32):
            z = (z >> 4) ^ red[z & 15]
            z ^= m[x & 15]
            x >>= 4
        return z

    def _ghash(self, y, data):
        n = len(data)
        full = n - n % 16
        for i in range(0, full, 16):
            y = self._mul(y ^ int.from_bytes(data[i: i + 16], "big"))
        if full < n:
            tail = bytes(data[full:]) + bytes(16 - (n - full))
            y = self._mul(y ^ int.from_bytes(tail, "big"))
        return y

    def _ctr(self, iv, data):
        """data XOR the keystream from counter 2 on (inc32 of J0 = IV || 1)."""
        n = len(data)
        if not n:
            return b""
        blocks = (n + 15) // 16
        counters = bytearray(blocks * 16)
        for k in range(blocks):
            counters[k * 16: k * 16 + 12] = iv
            c = k + 2
            counters[k * 16 + 12] = (c >> 24) & 0xFF
            counters[k * 16 + 13] = (c >> 16) & 0xFF
            counters[k * 16 + 14] = (c >> 8) & 0xFF
            counters[k * 16 + 15] = c & 0xFF
        self._ecb.encrypt(counters, counters)
        ks = int.from_bytes(counters, "big") >> (8 * (blocks * 16 - n))
        return (ks ^ int.from_bytes(data, "big")).to_bytes(n, "big")

    def _tag(self, iv, aad, ciphertext, tag_len):
        y = self._ghash(0, aad)
        y = self._ghash(y, ciphertext)
        y = self._mul(y ^ ((len(aad) * 8) << 64 | len(ciphertext) * 8))
        j0 = bytearray(16)
        j0[:12] = iv
        j0[15] = 1
        self._ecb.encrypt(j0, j0)
        t = (y ^ int.from_bytes(j0, "big")) & _MASK
        return t.to_bytes(16, "big")[:tag_len]

    def encrypt(self, iv, plaintext, aad, tag_len=12):
        """(ciphertext, tag) for a 12-byte IV."""
        if len(iv) != 12:
            raise ValueError("IV must be 12 bytes")
        ciphertext = self._ctr(iv, plaintext)
        return ciphertext, self._tag(iv, aad, ciphertext, tag_len)

    def decrypt(self, iv, ciphertext, aad, tag):
        """The plaintext, or TagError (checked before anything is decrypted)."""
        if len(iv) != 12:
            raise ValueError("IV must be 12 bytes")
        if not _equal(self._tag(iv, aad, ciphertext, len(tag)), tag):
            raise TagError("bad tag")
        return self._ctr(iv, ciphertext)
