# The head-end's side of wireless M-Bus: parse() checks one telegram's CRCs, then the
# mode 7 MAC before decrypting, then the replay rule, then decrypts and checks 2F2F (the
# layout is in wmbus.telegram and docs/wmbus.md). Key derivation and CMAC are the
# meter's own (crypto.oms, crypto.cmac).

from crypto.oms import KeyDerivation, KEY_ENC_FROM_METER, KEY_MAC_FROM_METER
from crypto.cmac import equal, mac_in_place
from crypto.aes import cbc_decrypt, ecb
from mbus.records import manufacturer_name
from wmbus import frame
from wmbus.crc import crc16
from wmbus.errors import (WMBusError, BAD_MAC, WRONG_KEY, BAD_CHECK_BYTES, NO_KEY, REPLAY, TRUNCATED,
                          BAD_LENGTH, UNSUPPORTED, MALFORMED, BAD_CRC)
from wmbus.telegram import (CI_TPL_SHORT, CI_TPL_LONG, CI_TPL_NONE, CI_COMPACT_NONE, CI_COMPACT_SHORT,
                            CI_COMPACT_LONG, CI_ELL_I, CI_ELL_II, CI_AFL, FILLER, id_text)

_MAC_LENGTHS = b"\x00\x00\x00\x02\x04\x08\x0c\x10"  # MCL auth type -> CMAC bytes (3..7)


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
        self.ell_security = None  # ELL-II: 0 none, 1 AES-CTR (decrypted, its payload CRC checked)
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
    t.ell_security = security
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
    t.manufacturer = manufacturer_name(m)
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
        t.manufacturer = manufacturer_name(data[tpl_at + 5] | (data[tpl_at + 6] << 8))
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
            mac_in_place(k_mac, mac_msg + bytearray(16), len(mac_msg), tag, len(t.mac), bytearray(16), bytearray(16))
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
        if body[0] != FILLER or body[1] != FILLER:
            raise WMBusError(BAD_CHECK_BYTES if mode == 7 else WRONG_KEY, "decrypted check bytes %02x%02x" % (body[0], body[1]))
        body = body[2:]
    else:
        raise WMBusError(UNSUPPORTED, "security mode %d" % mode)
    if ci in (CI_COMPACT_NONE, CI_COMPACT_SHORT, CI_COMPACT_LONG):
        start = 0
        while start < len(body) and body[start] == FILLER:
            start += 1
        if len(body) - start < 4:
            raise WMBusError(TRUNCATED, "compact frame header")
        t.compact_signature = body[start] | (body[start + 1] << 8)
        t.payload = bytes(body[start + 4 :])
    else:
        t.payload = bytes(body)
    return t
