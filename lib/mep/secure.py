# MEP link security (docs/mep.md sections 3-4): AES-CMAC digests with one key per
# direction, and private table data encrypted with AES-CBC under a per-message key,
# all derived from the MEP key with the OMS mode-7 KDF (ID "MEP1").

from micropython import const
from crypto.cmac import CMAC, equal
from crypto.aes import cbc_encrypt, cbc_decrypt, CryptoError
from crypto.oms import KeyDerivation, KEY_MAC_TO_METER, KEY_MAC_FROM_METER, KEY_ENC_FROM_METER
from mep.errors import FrameError
from mep.frame import TAG_BYTES

UP = const(0)  # device -> meter (requests)
DOWN = const(1)  # meter -> device (responses)
MEP_ID = b"MEP1"
_FILL = const(0x2F)
_ZERO_IV = bytes(16)


class LinkKeys:
    """The keys of one MEP link. Holds no key bytes anyone can read back."""

    def __init__(self, mep_key):
        kd = KeyDerivation(mep_key)
        self._kd = kd
        self._mac = (CMAC(kd.derive(KEY_MAC_TO_METER, 0, MEP_ID)), CMAC(kd.derive(KEY_MAC_FROM_METER, 0, MEP_ID)))
        self._tag = bytearray(TAG_BYTES)
        self._enc_key = bytearray(16)

    def sign_into(self, direction, body):
        """Write the digest of body[:-8] into body[-8:] (body: bytearray or memoryview)."""
        mv = memoryview(body)
        end = len(mv) - TAG_BYTES
        self._mac[direction].digest_into(mv[:end], mv[end:], TAG_BYTES)

    def verify(self, direction, body):
        mv = memoryview(body)
        end = len(mv) - TAG_BYTES
        if end < 1:
            return False
        self._mac[direction].digest_into(mv[:end], self._tag, TAG_BYTES)
        return equal(self._tag, mv[end:])

    def verify_up(self, body):
        return self.verify(UP, body)

    def verify_down(self, body):
        return self.verify(DOWN, body)

    def encrypt(self, seq, plain):
        """length (2) | plain | 0x2F fill, AES-CBC under K_enc(seq) with a zero IV."""
        n = len(plain)
        if n > 0xFFFF:
            raise FrameError("private data too long")
        size = (n + 2 + 15) & ~15
        out = bytearray(size)
        out[0] = n >> 8
        out[1] = n & 0xFF
        out[2:2 + n] = plain
        for i in range(2 + n, size):
            out[i] = _FILL
        self._kd.derive_into(KEY_ENC_FROM_METER, seq, MEP_ID, self._enc_key)
        return cbc_encrypt(self._enc_key, _ZERO_IV, out, out)

    def decrypt(self, seq, data):
        if not data or len(data) % 16:
            raise FrameError("encrypted data must be whole 16-byte blocks")
        self._kd.derive_into(KEY_ENC_FROM_METER, seq, MEP_ID, self._enc_key)
        try:
            out = cbc_decrypt(self._enc_key, _ZERO_IV, data)
        except CryptoError as exc:
            raise FrameError(str(exc))
        n = (out[0] << 8) | out[1]
        if n + 2 > len(out) or len(out) - (n + 2) >= 16:
            raise FrameError("decrypted length does not fit")
        for i in range(2 + n, len(out)):
            if out[i] != _FILL:
                raise FrameError("bad fill after decryption")
        return bytes(out[2:2 + n])
