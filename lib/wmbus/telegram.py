# Wireless M-Bus telegrams secured with OMS security mode 5 or 7.
#
#   L C M(2) A(6) | [ELL 8C CC ACC] | [AFL 90 0F 00 2C 25 MCR(4) MAC(8)] | TPL | APL
#   TPL short: 7A ACC STS CFG(2) [CFG-ext]   long: 72 ID(4) M(2) VER TYPE ACC STS CFG(2) [CFG-ext]
#
# Mode 5: AES-128-CBC under the key, IV = M ID VER TYPE + ACC x 8, no MAC.
# Mode 7: per-message K_enc/K_mac = AES-CMAC(key, DC MCR ID 07..07); AES-CBC under K_enc
# with a zero IV; MAC = AES-CMAC(K_mac, MCL MCR TPL...)[:8] in the AFL (encrypt-then-MAC).
# Both: the plaintext starts with 2F 2F and is padded with 2F to whole blocks. The AFL
# message-length field (ML) is never sent (the reference decoder rejects it).
#
# Builder (meter): every buffer and key schedule it can keep is made once; a telegram
# costs two cryptolib objects (K_enc and K_mac change with every counter).
# Parser (head-end): parse() checks CRCs, then the MAC before decrypting, then 2F2F.

import cryptolib
from micropython import const
from crypto.oms import KeyDerivation, KEY_ENC_FROM_METER, KEY_MAC_FROM_METER
from crypto.cmac import equal
from crypto.aes import cbc_decrypt, ecb
from wmbus import frame
from wmbus.crc import crc16
from wmbus.errors import (WMBusError, BAD_MAC, WRONG_KEY, BAD_CHECK_BYTES, NO_KEY, REPLAY, TRUNCATED,
                          BAD_LENGTH, UNSUPPORTED, MALFORMED, BAD_CRC)

SND_NR = const(0x44)  # the meter's periodic telegram
SND_IR = const(0x46)  # installation request
CI_TPL_SHORT = const(0x7A)
CI_TPL_LONG = const(0x72)
CI_TPL_NONE = const(0x78)
CI_COMPACT_NONE = const(0x79)
CI_COMPACT_SHORT = const(0x7B)
CI_COMPACT_LONG = const(0x73)
CI_ELL_I = const(0x8C)
CI_ELL_II = const(0x8D)
CI_AFL = const(0x90)
DEVICE_ELECTRICITY = const(0x02)
MAC_BYTES = const(8)
_MCL = const(0x25)  # MCR present, AES-CMAC truncated to 8 bytes
_FCL = const(0x2C00)  # MCL, MCR and MAC present; one fragment
_CFG_EXT = const(0x10)  # KDF selection 1 (the AES-CMAC KDF), key id 0
_FILLER = const(0x2F)
_ECB = const(1)
_CBC = const(2)
_BUF_BYTES = const(256)
_MAC_LENGTHS = b"\x00\x00\x00\x02\x04\x08\x0c\x10"  # MCL auth type -> CMAC bytes (3..7)


def manufacturer_code(letters):
    """Three letters 'A'..'Z' -> the 16-bit M-field value."""
    if len(letters) != 3:
        raise WMBusError(MALFORMED, "manufacturer must be 3 letters")
    value = 0
    for ch in letters:
        c = ord(ch) - 64
        if not 1 <= c <= 26:
            raise WMBusError(MALFORMED, "manufacturer must be 3 letters A-Z")
        value = (value << 5) | c
    return value


def manufacturer_letters(value):
    return "".join(chr(((value >> s) & 0x1F) + 64) for s in (10, 5, 0))


def id_wire(id_text):
    """'12345678' -> b'\\x78\\x56\\x34\\x12' (BCD, least significant byte first)."""
    if len(id_text) != 8:
        raise WMBusError(MALFORMED, "meter id must be 8 digits")
    try:
        raw = bytes.fromhex(id_text)
    except ValueError:
        raise WMBusError(MALFORMED, "meter id must be 8 hex digits")
    return bytes((raw[3], raw[2], raw[1], raw[0]))


def id_text(wire, pos=0):
    return "%02x%02x%02x%02x" % (wire[pos + 3], wire[pos + 2], wire[pos + 1], wire[pos])


_ZERO_IV = bytes(16)


def _double(block):
    """block * x in GF(2^128) (RFC 4493 2.3), in place."""
    carry = block[0] >> 7
    for i in range(15):
        block[i] = ((block[i] << 1) & 0xFF) | (block[i + 1] >> 7)
    block[15] = ((block[15] << 1) & 0xFF) ^ (0x87 if carry else 0)


def _cmac_into(key, buf, length, out, tag_bytes, seed, subkey):
    """AES-CMAC (RFC 4493) of buf[0:length] into out[0:tag_bytes], as one CBC pass in C.

    buf needs room after length to pad the last block (it is overwritten); seed and
    subkey are 16-byte scratch buffers. The CBC object first encrypts a zero block: that
    gives L = AES(K, 0), the subkey seed, and leaves L as the chain, which XOR-ing L
    into the message's first block cancels."""
    cipher = cryptolib.aes(key, _CBC, _ZERO_IV)
    for i in range(16):
        seed[i] = 0
    cipher.encrypt(seed, seed)
    for i in range(16):
        subkey[i] = seed[i]
    _double(subkey)  # K1
    padded = length
    if length == 0 or length % 16:
        _double(subkey)  # K2, for a padded last block
        buf[length] = 0x80
        padded = (length // 16 + 1) * 16
        for i in range(length + 1, padded):
            buf[i] = 0
    last = padded - 16
    for i in range(16):
        buf[last + i] ^= subkey[i]
        buf[i] ^= seed[i]
    mv = memoryview(buf)[0:padded]
    cipher.encrypt(mv, mv)
    for i in range(tag_bytes):
        out[i] = buf[last + i]


class _Derive:
    """The OMS mode 7 KDF without allocating: the KDF input is one whole block, so its
    AES-CMAC is AES(K, input XOR K1); one ECB object and K1 are kept per master key."""

    def __init__(self, master_key):
        self._ecb = cryptolib.aes(master_key, _ECB)
        k1 = bytearray(16)
        self._ecb.encrypt(k1, k1)
        _double(k1)
        self._k1 = k1
        self._in = bytearray(16)

    def into(self, dc, counter, meter_id_wire, out):
        data = self._in
        data[0] = dc
        data[1] = counter & 0xFF
        data[2] = (counter >> 8) & 0xFF
        data[3] = (counter >> 16) & 0xFF
        data[4] = (counter >> 24) & 0xFF
        for i in range(4):
            data[5 + i] = meter_id_wire[i]
        for i in range(9, 16):
            data[i] = 0x07
        k1 = self._k1
        for i in range(16):
            data[i] ^= k1[i]
        self._ecb.encrypt(data, out)


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
        self._kdf = _Derive(self._key) if self.mode == 7 else None

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
            p[pos + 2] = _FCL & 0xFF
            p[pos + 3] = _FCL >> 8
            p[pos + 4] = _MCL
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
        p[enc] = _FILLER
        p[enc + 1] = _FILLER
        end = enc + 2 + payload_len
        blocks = (end - enc + 15) // 16
        for i in range(end, enc + 16 * blocks):
            p[i] = _FILLER
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
            kdf.into(KEY_ENC_FROM_METER, counter, self._id, self._k_enc)
            kdf.into(KEY_MAC_FROM_METER, counter, self._id, self._k_mac)
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
            _cmac_into(self._k_mac, m, 5 + tpl_len, self._tag, MAC_BYTES, self._seed, self._subkey)
            tag = self._tag
            for i in range(MAC_BYTES):
                p[a + 9 + i] = tag[i]
        n = frame.add_crcs(p, end, self._air, self.fmt)
        return memoryview(self._air)[0:n]

    def plain(self):
        """The last telegram without CRCs (L = its length - 1), for tests."""
        return memoryview(self._plain)[0 : self._plain[0] + 1]


# -- parser (head-end) ---------------------------------------------------------------

class Telegram:
    """What parse() found. payload is the decrypted APL after the 2F 2F check bytes."""

    def __init__(self):
        self.fmt = None
        self.c_field = 0
        self.manufacturer = ""
        self.meter_id = ""
        self.version = 0
        self.device_type = 0
        self.ell_cc = None
        self.ell_acc = None
        self.counter = None
        self.mac = None
        self.ci = None
        self.acc = None
        self.status = None
        self.cfg = 0
        self.mode = 0
        self.payload = b""
        self.compact_signature = None
        self.records = None

    def as_dict(self):
        return {"format": self.fmt, "c": self.c_field, "manufacturer": self.manufacturer, "id": self.meter_id,
                "version": self.version, "device_type": self.device_type, "ci": self.ci, "acc": self.acc,
                "status": self.status, "mode": self.mode, "counter": self.counter}


def _need(data, end, what):
    if end > len(data):
        raise WMBusError(TRUNCATED, what)


def _aes_ctr(key, counter_block, data):
    cipher = ecb(key)
    out = bytearray(len(data))
    block = bytearray(counter_block)
    stream = bytearray(16)
    for start in range(0, len(data), 16):
        cipher.encrypt(bytes(block), stream)
        for i in range(start, min(start + 16, len(data))):
            out[i] = data[i] ^ stream[i - start]
        block[15] = (block[15] + 1) & 0xFF
    return out


def _ell(t, data, pos, key):
    """Parse an ELL at data[pos]; returns (data, next position); ELL-II AES-CTR decrypted."""
    ci = data[pos]
    if ci == CI_ELL_I:
        _need(data, pos + 3, "ELL")
        t.ell_cc = data[pos + 1]
        t.ell_acc = data[pos + 2]
        return data, pos + 3
    if ci != CI_ELL_II:
        raise WMBusError(UNSUPPORTED, "ELL CI 0x%02x" % ci)
    _need(data, pos + 9, "ELL-II")
    t.ell_cc = data[pos + 1]
    t.ell_acc = data[pos + 2]
    sn = data[pos + 3] | (data[pos + 4] << 8) | (data[pos + 5] << 16) | (data[pos + 6] << 24)
    security = sn >> 29
    if security == 0:
        rest = pos + 7
    elif security == 1:
        if key is None:
            raise WMBusError(NO_KEY, "ELL-II AES-CTR")
        block = bytes(data[2:10]) + bytes((t.ell_cc & ~0x12 & 0xFF,)) + bytes(data[pos + 3 : pos + 7]) + b"\x00\x00\x00"
        clear = _aes_ctr(key, block, data[pos + 7 :])
        data = bytearray(data[: pos + 7]) + clear
        rest = pos + 7
    else:
        raise WMBusError(UNSUPPORTED, "ELL-II security %d" % security)
    crc = data[rest] | (data[rest + 1] << 8)
    if crc16(data, rest + 2) != crc:
        raise WMBusError(WRONG_KEY if security else BAD_CRC, "ELL payload CRC")
    return data, rest + 2


def _afl(t, data, pos):
    _need(data, pos + 4, "AFL")
    afll = data[pos + 1]
    end = pos + 2 + afll
    _need(data, end, "AFL")
    fcl = data[pos + 2] | (data[pos + 3] << 8)
    if fcl & 0x4000 or fcl & 0xFF:
        raise WMBusError(UNSUPPORTED, "fragmented AFL")
    q = pos + 4
    mcl = None
    if fcl & 0x2000:
        mcl = data[q]
        q += 1
    if fcl & 0x0200:
        q += 2  # key information
    mcr_at = None
    if fcl & 0x0800:
        mcr_at = q
        t.counter = data[q] | (data[q + 1] << 8) | (data[q + 2] << 16) | (data[q + 3] << 24)
        q += 4
    ml_at = None
    if fcl & 0x1000:
        ml_at = q
        q += 2
    mac_at = None
    if fcl & 0x0400:
        if mcl is None:
            raise WMBusError(UNSUPPORTED, "AFL MAC without MCL")
        auth = mcl & 0x0F
        if not 3 <= auth <= 7:
            raise WMBusError(UNSUPPORTED, "AFL authentication type %d" % auth)
        mac_len = _MAC_LENGTHS[auth]
        mac_at = q
        q += mac_len
        t.mac = bytes(data[mac_at:q])
    if q != end:
        raise WMBusError(MALFORMED, "AFL length %d" % afll)
    # MAC input head: MCL MCR [ML] (the TPL follows).
    head = bytearray()
    if mac_at is not None:
        head.append(mcl)
        if mcr_at is not None:
            head += data[mcr_at : mcr_at + 4]
        if ml_at is not None:
            head += data[ml_at : ml_at + 2]
    return end, head


def parse(raw, key=None, fmt=None, last_counter=None, signatures=None):
    """Parse, verify and decrypt one telegram.

    raw: on-air bytes, L-field first. fmt: frame.FORMAT_A / FORMAT_B, "auto" (try A, then
    B), or None (no CRCs: L counts C .. last byte). key: the 16-byte master key or None.
    last_counter: the last mode 7 counter accepted from this meter (REPLAY unless the new
    one is greater; checked after the MAC). signatures: dict of compact-frame format
    signatures -> DIF/VIF bytes, learned from full frames (updated in place).
    Raises WMBusError; returns a Telegram."""
    t = Telegram()
    if fmt is None:
        data = bytearray(raw)
        if len(data) < 11:
            raise WMBusError(TRUNCATED, "telegram of %d bytes" % len(data))
        if data[0] + 1 != len(data):
            raise WMBusError(TRUNCATED if data[0] + 1 > len(data) else BAD_LENGTH,
                             "L field %d for %d bytes" % (data[0], len(data)))
    elif fmt == "auto":
        data, fmt = frame.strip_any(raw)
    else:
        data = frame.strip_crcs(raw, fmt)
    t.fmt = fmt
    if len(data) < 11:
        raise WMBusError(TRUNCATED, "no CI field")
    t.c_field = data[1]
    m = data[2] | (data[3] << 8)
    t.manufacturer = manufacturer_letters(m)
    t.meter_id = id_text(data, 4)
    t.version = data[8]
    t.device_type = data[9]
    # The link-layer address; a long TPL header's address (the meter's own) replaces
    # it in meter_id etc. below, as for the IV and the KDF.
    t.dll_manufacturer, t.dll_id, t.dll_version, t.dll_type = t.manufacturer, t.meter_id, t.version, t.device_type
    pos = 10
    addr_at = 2  # M ID VER TYPE for the IV and KDF: the DLL's unless a long TPL header has its own
    ci = data[pos]
    if ci in (CI_ELL_I, CI_ELL_II):
        data, pos = _ell(t, data, pos, key)
        _need(data, pos + 1, "CI after the ELL")
        ci = data[pos]
    mac_head = None
    if ci == CI_AFL:
        pos, mac_head = _afl(t, data, pos)
        _need(data, pos + 1, "CI after the AFL")
        ci = data[pos]
    t.ci = ci
    tpl_at = pos
    if ci in (CI_TPL_SHORT, CI_COMPACT_SHORT):
        _need(data, pos + 5, "short TPL header")
        hdr = pos + 1
        pos += 5
    elif ci in (CI_TPL_LONG, CI_COMPACT_LONG):
        _need(data, pos + 13, "long TPL header")
        addr_at = None
        hdr = pos + 9
        pos += 13
    elif ci in (CI_TPL_NONE, CI_COMPACT_NONE):
        hdr = None
        pos += 1
    else:
        # Not a TPL we know (manufacturer specific, 0xA0..0xB7 etc.): passed on undecoded.
        if mac_head is not None:
            raise WMBusError(UNSUPPORTED, "AFL before CI 0x%02x" % ci)
        t.payload = bytes(data[pos + 1 :])
        return t
    if hdr is not None:
        t.acc = data[hdr]
        t.status = data[hdr + 1]
        t.cfg = data[hdr + 2] | (data[hdr + 3] << 8)
    mode = (t.cfg >> 8) & 0x1F
    t.mode = mode
    if addr_at is None:
        address = bytes(data[tpl_at + 5 : tpl_at + 7]) + bytes(data[tpl_at + 1 : tpl_at + 5]) + bytes(data[tpl_at + 7 : tpl_at + 9])
        t.meter_id = id_text(data, tpl_at + 1)
        t.manufacturer = manufacturer_letters(data[tpl_at + 5] | (data[tpl_at + 6] << 8))
        t.version = data[tpl_at + 7]
        t.device_type = data[tpl_at + 8]
    else:
        address = bytes(data[2:10])
    id_bytes = address[2:6]
    if mode == 0:
        if mac_head:
            raise WMBusError(UNSUPPORTED, "AFL MAC on an unencrypted telegram")
        body = data[pos:]
    elif mode == 5 or mode == 7:
        if key is None:
            raise WMBusError(NO_KEY, "mode %d telegram" % mode)
        if len(key) != 16:
            raise WMBusError(NO_KEY, "key must be 16 bytes")
        n_blocks = (t.cfg >> 4) & 0x0F
        if mode == 7:
            _need(data, pos + 1, "CFG extension")
            ext = data[pos]
            pos += 1
            if (ext >> 4) & 3 != 1:
                raise WMBusError(UNSUPPORTED, "mode 7 KDF selection %d" % ((ext >> 4) & 3))
            if mac_head is None or t.mac is None or t.counter is None:
                raise WMBusError(UNSUPPORTED, "mode 7 without an AFL counter and MAC")
            kdf = KeyDerivation(key)
            k_mac = kdf.derive(KEY_MAC_FROM_METER, t.counter, id_bytes)
            mac_msg = bytearray(mac_head) + data[tpl_at:]
            tag = bytearray(16)
            _cmac_into(k_mac, mac_msg + bytearray(32), len(mac_msg), tag, len(t.mac), bytearray(16), bytearray(16))
            if not equal(tag[: len(t.mac)], t.mac):
                raise WMBusError(BAD_MAC, "meter %s counter %d" % (t.meter_id, t.counter))
            if last_counter is not None and t.counter <= last_counter:
                raise WMBusError(REPLAY, "counter %d not above %d" % (t.counter, last_counter))
            dec_key = kdf.derive(KEY_ENC_FROM_METER, t.counter, id_bytes)
            iv = bytes(16)
        else:
            if mac_head:
                raise WMBusError(UNSUPPORTED, "AFL MAC with mode 5")
            dec_key = bytes(key)
            iv = address[0:8] + bytes((t.acc,)) * 8
        rest = len(data) - pos
        enc_len = 16 * n_blocks if n_blocks else rest - rest % 16
        if enc_len == 0 or enc_len > rest:
            raise WMBusError(TRUNCATED if enc_len else MALFORMED, "%d encrypted bytes, %d present" % (enc_len, rest))
        if n_blocks == 0 and rest % 16:
            raise WMBusError(BAD_LENGTH, "encrypted part of %d bytes" % rest)
        body = bytearray(cbc_decrypt(dec_key, iv, bytes(data[pos : pos + enc_len]))) + data[pos + enc_len :]
        if body[0] != _FILLER or body[1] != _FILLER:
            raise WMBusError(BAD_CHECK_BYTES if mode == 7 else WRONG_KEY, "decrypted check bytes %02x%02x" % (body[0], body[1]))
        body = body[2:]
    else:
        raise WMBusError(UNSUPPORTED, "security mode %d" % mode)
    if ci in (CI_COMPACT_NONE, CI_COMPACT_SHORT, CI_COMPACT_LONG):
        start = 0
        while start < len(body) and body[start] == _FILLER:
            start += 1
        if len(body) - start < 4:
            raise WMBusError(TRUNCATED, "compact frame header")
        t.compact_signature = body[start] | (body[start + 1] << 8)
        t.payload = bytes(body[start + 4 :])
    else:
        t.payload = bytes(body)
    return t
