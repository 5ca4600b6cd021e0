# OMS security mode 7 key derivation (OMS Vol. 2 security profile B, EN 13757-7 §9.5):
#   K = AES-CMAC(K_master, DC || MCR[4] || ID[4] || 07 x 7)
# MCR (message counter) and ID (meter identification) in wire order (little-endian).
# DC selects the key: 00 encryption and 01 MAC from the meter, 10 and 11 towards it.

from micropython import const
from crypto.aes import BLOCK_BYTES, ecb
from crypto.cmac import subkey1

KEY_ENC_FROM_METER = const(0x00)
KEY_MAC_FROM_METER = const(0x01)
KEY_ENC_TO_METER = const(0x10)
KEY_MAC_TO_METER = const(0x11)
_PAD = const(0x07)


class KeyDerivation:
    """Derives per-message keys from one master key without allocating. The KDF input is
    one whole block, so its AES-CMAC is AES(K, input XOR K1): one ECB object and K1 are
    kept per master key."""

    def __init__(self, master_key):
        self._ecb = ecb(master_key)
        self._k1 = subkey1(self._ecb, bytearray(BLOCK_BYTES))
        self._input = bytearray(BLOCK_BYTES)

    def derive_into(self, dc, counter, meter_id_wire, out):
        """Write the 16-byte derived key for constant `dc` into `out`.

        counter: the message counter (int, 0..2**32-1); meter_id_wire: the 4 address
        bytes as sent (BCD id, least significant byte first).
        """
        data = self._input
        data[0] = dc
        data[1] = counter & 0xFF
        data[2] = (counter >> 8) & 0xFF
        data[3] = (counter >> 16) & 0xFF
        data[4] = (counter >> 24) & 0xFF
        for i in range(4):
            data[5 + i] = meter_id_wire[i]
        for i in range(9, BLOCK_BYTES):
            data[i] = _PAD
        k1 = self._k1
        for i in range(BLOCK_BYTES):
            data[i] ^= k1[i]
        self._ecb.encrypt(data, out)
        return out

    def derive(self, dc, counter, meter_id_wire):
        return bytes(self.derive_into(dc, counter, meter_id_wire, bytearray(BLOCK_BYTES)))
