# OMS security mode 7 key derivation (OMS Vol. 2 security profile B, EN 13757-7 §9.5):
#   K = AES-CMAC(K_master, DC || MCR[4] || ID[4] || 07 x 7)
# MCR (message counter) and ID (meter identification) in wire order (little-endian).
# DC selects the key: 00 encryption and 01 MAC from the meter, 10 and 11 towards it.

from micropython import const
from crypto.cmac import CMAC

KEY_ENC_FROM_METER = const(0x00)
KEY_MAC_FROM_METER = const(0x01)
KEY_ENC_TO_METER = const(0x10)
KEY_MAC_TO_METER = const(0x11)
_PAD = const(0x07)


class KeyDerivation:
    """Derives per-message keys from one master key (keeps one CMAC for it)."""

    def __init__(self, master_key):
        self._cmac = CMAC(master_key)
        self._input = bytearray(16)

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
        data[5:9] = meter_id_wire
        for i in range(9, 16):
            data[i] = _PAD
        return self._cmac.digest_into(data, out)

    def derive(self, dc, counter, meter_id_wire):
        return bytes(self.derive_into(dc, counter, meter_id_wire, bytearray(16)))
