# The meter's wireless M-Bus telegrams, secured with OMS security mode 5 or 7 (the
# layout is in wmbus.telegram and docs/wmbus.md).
#
# Every buffer and key schedule the builder can keep is made once: the KDF keeps one ECB
# object and K1 per master key (crypto.oms), the MAC runs in place in a kept buffer
# (crypto.cmac.mac_in_place); a telegram costs the two cryptolib objects for K_enc and
# K_mac, which change with every counter.

import cryptolib
from micropython import const
from crypto.oms import KeyDerivation, KEY_ENC_FROM_METER, KEY_MAC_FROM_METER
from crypto.cmac import mac_in_place
from wmbus import frame
from wmbus.errors import WMBusError, NO_KEY, BAD_LENGTH, UNSUPPORTED
from wmbus.telegram import (SND_NR, CI_TPL_SHORT, CI_TPL_LONG, CI_ELL_I, CI_AFL, MAC_BYTES, MCL, FCL, FILLER,
                            manufacturer_code, id_wire)

_CFG_EXT = const(0x10)  # KDF selection 1 (the AES-CMAC KDF), key id 0
_CBC = const(2)
_BUF_BYTES = const(256)


class Builder:
    """Builds the meter's telegrams into preallocated buffers.

    mode 5 or 7, fmt frame.FORMAT_A or FORMAT_B; ell: send the short ELL (CI 8C);
    long_header: TPL CI 72 (address repeated) instead of 7A."""

    def __init__(self, manufacturer, meter_id, version, device_type, key, mode=7, fmt=frame.FORMAT_A,
                 ell=True, long_header=False, ell_cc=0x20):
        if mode not in (5, 7):
            raise WMBusError(UNSUPPORTED, "security mode %r" % (mode,))
        if fmt not in (frame.FORMAT_A, frame.FORMAT_B):
            raise WMBusError(UNSUPPORTED, "frame format %r" % (fmt,))
        self.mode = mode
        self.fmt = fmt
        self.ell = ell
        self.long_header = long_header
        self.ell_cc = ell_cc
        self._m = manufacturer_code(manufacturer)
        self._id = id_wire(meter_id)
        self._version = version & 0xFF
        self._type = device_type & 0xFF
        self._plain = bytearray(_BUF_BYTES + 32)
        self._air = bytearray(300)
        self._mac_buf = bytearray(_BUF_BYTES + 32)
        self._seed = bytearray(16)
        self._subkey = bytearray(16)
        self._k_enc = bytearray(16)
        self._k_mac = bytearray(16)
        self._iv = bytearray(16)
        self._tag = bytearray(16)
        self.set_key(key)
        # Offsets within the plain telegram (fixed for a configuration).
        pos = 10
        if ell:
            pos += 3
        self._afl_at = pos
        if mode == 7:
            pos += 17
        self._tpl_at = pos
        pos += 13 if long_header else 5
        if mode == 7:
            pos += 1
        self._enc_at = pos
        self._write_fixed()

    def set_key(self, key):
        """Install a new master key (re-keying): nothing else changes."""
        if key is None or len(key) != 16:
            raise WMBusError(NO_KEY, "key must be 16 bytes")
        self._key = bytes(key)
        self._kdf = KeyDerivation(self._key) if self.mode == 7 else None

    def max_payload(self):
        """Longest APL (records) a telegram of this configuration can carry."""
        limit = 256 if self.fmt == frame.FORMAT_A else 251
        return (limit - self._enc_at) // 16 * 16 - 2

    def overhead_len(self):
        return self._enc_at + 2

    def _write_fixed(self):
        p = self._plain
        p[2] = self._m & 0xFF
        p[3] = self._m >> 8
        p[4:8] = self._id
        p[8] = self._version
        p[9] = self._type
        pos = 10
        if self.ell:
            p[pos] = CI_ELL_I
            p[pos + 1] = self.ell_cc
            pos += 3
        if self.mode == 7:
            p[pos] = CI_AFL
            p[pos + 1] = 0x0F  # AFLL: 15 bytes follow
            p[pos + 2] = FCL & 0xFF
            p[pos + 3] = FCL >> 8
            p[pos + 4] = MCL
        pos = self._tpl_at
        if self.long_header:
            p[pos] = CI_TPL_LONG
            p[pos + 1 : pos + 5] = self._id
            p[pos + 5] = self._m & 0xFF
            p[pos + 6] = self._m >> 8
            p[pos + 7] = self._version
            p[pos + 8] = self._type
        else:
            p[pos] = CI_TPL_SHORT

    def payload_buffer(self):
        """Where the caller writes the APL records: a memoryview starting after 2F 2F."""
        return memoryview(self._plain)[self._enc_at + 2 : self._enc_at + 2 + self.max_payload()]

    def build(self, payload_len, counter, status=0, c_field=SND_NR, acc=None):
        """Secure and frame the records written to payload_buffer()[0:payload_len].

        counter: the AFL message counter (mode 7; must never repeat), also the access
        number (its low byte, unless acc is given). The payload is encrypted in place:
        write it again before the next build(). Returns a memoryview of the on-air frame (with CRCs), valid
        until the next build()."""
        if not 0 <= payload_len <= self.max_payload():
            raise WMBusError(BAD_LENGTH, "payload of %d bytes" % payload_len)
        p = self._plain
        if acc is None:
            acc = counter & 0xFF
        p[1] = c_field
        if self.ell:
            p[12] = acc
        hdr = self._tpl_at + (9 if self.long_header else 1)
        p[hdr] = acc
        p[hdr + 1] = status & 0xFF
        enc = self._enc_at
        p[enc] = FILLER
        p[enc + 1] = FILLER
        end = enc + 2 + payload_len
        blocks = (end - enc + 15) // 16
        for i in range(end, enc + 16 * blocks):
            p[i] = FILLER
        end = enc + 16 * blocks
        cfg = (self.mode << 8) | (blocks << 4)
        p[hdr + 2] = cfg & 0xFF
        p[hdr + 3] = cfg >> 8
        if self.mode == 7:
            p[hdr + 4] = _CFG_EXT
        p[0] = end - 1
        body = memoryview(p)[enc:end]
        iv = self._iv
        if self.mode == 5:
            iv[0] = p[2]
            iv[1] = p[3]
            iv[2:6] = self._id
            iv[6] = self._version
            iv[7] = self._type
            for i in range(8, 16):
                iv[i] = acc
            cryptolib.aes(self._key, _CBC, iv).encrypt(body, body)
        else:
            kdf = self._kdf
            kdf.derive_into(KEY_ENC_FROM_METER, counter, self._id, self._k_enc)
            kdf.derive_into(KEY_MAC_FROM_METER, counter, self._id, self._k_mac)
            for i in range(16):
                iv[i] = 0
            cryptolib.aes(self._k_enc, _CBC, iv).encrypt(body, body)
            a = self._afl_at
            p[a + 5] = counter & 0xFF
            p[a + 6] = (counter >> 8) & 0xFF
            p[a + 7] = (counter >> 16) & 0xFF
            p[a + 8] = (counter >> 24) & 0xFF
            # MAC input: MCL MCR, then the TPL from its CI byte to the end (a copy: the
            # CMAC pass overwrites its input).
            m = self._mac_buf
            for i in range(5):
                m[i] = p[a + 4 + i]
            tpl = self._tpl_at
            tpl_len = end - tpl
            for i in range(tpl_len):
                m[5 + i] = p[tpl + i]
            mac_in_place(self._k_mac, m, 5 + tpl_len, self._tag, MAC_BYTES, self._seed, self._subkey)
            tag = self._tag
            for i in range(MAC_BYTES):
                p[a + 9 + i] = tag[i]
        n = frame.add_crcs(p, end, self._air, self.fmt)
        return memoryview(self._air)[0:n]

    def plain(self):
        """The last telegram without CRCs (L = its length - 1), for tests."""
        return memoryview(self._plain)[0 : self._plain[0] + 1]
