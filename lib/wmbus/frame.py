# EN 13757-4 link-layer framing: the CRC blocks of frame formats A and B, the T1
# 3-out-of-6 chip coding, the T1/C1 preamble and sync words, and air time.
#
# A "plain" telegram here is L C M A ... with no CRCs and L = its length - 1; the
# on-air frame carries the CRCs of its format (high byte first) and, for format B,
# an L that counts them.

from micropython import const
from wmbus.crc import crc16
from wmbus.errors import WMBusError, BAD_CRC, TRUNCATED, BAD_LENGTH, MALFORMED

FORMAT_A = "A"
FORMAT_B = "B"
T1 = "T1"
C1 = "C1"

_BLOCK1 = const(10)  # L C M(2) A(6)
_BLOCK_A = const(16)
_B_FIRST = const(126)  # format B: bytes before the first CRC when the frame is longer than 128
_B_SINGLE_MAX = const(128)

# Sync words as the radio sends them after the 01 preamble (T1 0x3D 10-chip sync
# seen with the preamble tail as 54 3D); C1 adds a format marker word.
SYNC_T1 = b"\x54\x3d"
SYNC_C1_A = b"\x54\x3d\x54\xcd"
SYNC_C1_B = b"\x54\x3d\x54\x3d"

# Chip rates and per-telegram overheads (preamble + sync + ~4-chip postamble), in chips.
_CHIP_RATE = const(100_000)
_T1_OVERHEAD_CHIPS = const(38 + 10 + 4)
_C1_OVERHEAD_CHIPS = const(64 + 4)


def on_air_len(plain_len, fmt):
    """Bytes on air (with CRCs) for a plain telegram of plain_len bytes."""
    if plain_len < _BLOCK1:
        raise WMBusError(TRUNCATED, "telegram shorter than its link header")
    if fmt == FORMAT_A:
        return plain_len + 2 + 2 * ((plain_len - _BLOCK1 + _BLOCK_A - 1) // _BLOCK_A)
    if plain_len + 2 <= _B_SINGLE_MAX:
        return plain_len + 2
    return plain_len + 4


def air_time_us(on_air_bytes, mode):
    """Time on air of one telegram: T1 sends 12 chips per byte (3-of-6), C1 8."""
    if mode == T1:
        chips = 12 * on_air_bytes + _T1_OVERHEAD_CHIPS
    else:
        chips = 8 * on_air_bytes + _C1_OVERHEAD_CHIPS
    return (chips * 1_000_000 + _CHIP_RATE - 1) // _CHIP_RATE


def _copy(dst, at, src, start, n):
    # A byte loop: slicing would allocate a copy per block on every telegram.
    for i in range(n):
        dst[at + i] = src[start + i]


def _put_crc(dst, pos, src, start, end):
    crc = crc16(src, start, end)
    dst[pos] = crc >> 8
    dst[pos + 1] = crc & 0xFF


def add_crcs(plain, plain_len, dst, fmt):
    """Write the on-air frame of plain[0:plain_len] into dst; returns its length.

    The L byte of the result is right for the format (dst[0]); plain is not changed."""
    total = on_air_len(plain_len, fmt)
    if plain_len > 256 or (fmt == FORMAT_B and total > 256):
        raise WMBusError(BAD_LENGTH, "telegram too long for an L field")
    if len(dst) < total:
        raise WMBusError(BAD_LENGTH, "output buffer too small")
    if fmt == FORMAT_A:
        _copy(dst, 0, plain, 0, _BLOCK1)
        dst[0] = plain_len - 1
        _put_crc(dst, _BLOCK1, dst, 0, _BLOCK1)
        src = _BLOCK1
        out = _BLOCK1 + 2
        while src < plain_len:
            n = min(_BLOCK_A, plain_len - src)
            _copy(dst, out, plain, src, n)
            _put_crc(dst, out + n, dst, out, out + n)
            src += n
            out += n + 2
        return out
    _copy(dst, 0, plain, 0, plain_len)
    dst[0] = total - 1
    if total == plain_len + 2:
        _put_crc(dst, plain_len, dst, 0, plain_len)
        return total
    for i in range(plain_len - 1, _B_FIRST - 1, -1):  # backwards: the ranges overlap
        dst[i + 2] = dst[i]
    _put_crc(dst, _B_FIRST, dst, 0, _B_FIRST)
    _put_crc(dst, plain_len + 2, dst, _B_FIRST + 2, plain_len + 2)
    return total


def _check_crc(raw, start, end):
    crc = crc16(raw, start, end)
    if raw[end] != crc >> 8 or raw[end + 1] != crc & 0xFF:
        raise WMBusError(BAD_CRC, "block at byte %d" % start)


def strip_crcs(raw, fmt):
    """The plain telegram (bytearray, L = len - 1) from an on-air frame; checks every CRC."""
    if len(raw) < _BLOCK1 + 2:
        raise WMBusError(TRUNCATED, "frame of %d bytes" % len(raw))
    l_field = raw[0]
    if fmt == FORMAT_A:
        plain_len = l_field + 1
        if plain_len < _BLOCK1:
            raise WMBusError(BAD_LENGTH, "L field %d" % l_field)
        total = on_air_len(plain_len, fmt)
    elif fmt == FORMAT_B:
        total = l_field + 1
        plain_len = total - 2 if total <= _B_SINGLE_MAX else total - 4
        if plain_len < _BLOCK1:
            raise WMBusError(BAD_LENGTH, "L field %d" % l_field)
    else:
        raise WMBusError(MALFORMED, "frame format %r" % (fmt,))
    if len(raw) < total:
        raise WMBusError(TRUNCATED, "frame of %d bytes, L says %d" % (len(raw), total))
    if len(raw) > total:
        raise WMBusError(BAD_LENGTH, "%d bytes after the frame" % (len(raw) - total))
    plain = bytearray(plain_len)
    if fmt == FORMAT_A:
        _check_crc(raw, 0, _BLOCK1)
        plain[0:_BLOCK1] = raw[0:_BLOCK1]
        src = _BLOCK1 + 2
        out = _BLOCK1
        while out < plain_len:
            n = min(_BLOCK_A, plain_len - out)
            _check_crc(raw, src, src + n)
            plain[out : out + n] = raw[src : src + n]
            src += n + 2
            out += n
    elif total <= _B_SINGLE_MAX:
        _check_crc(raw, 0, plain_len)
        plain[:] = raw[0:plain_len]
    else:
        _check_crc(raw, 0, _B_FIRST)
        _check_crc(raw, _B_FIRST + 2, total - 2)
        plain[0:_B_FIRST] = raw[0:_B_FIRST]
        plain[_B_FIRST:] = raw[_B_FIRST + 2 : total - 2]
    plain[0] = plain_len - 1
    return plain


def strip_any(raw):
    """strip_crcs trying format A, then B; (plain, format). BAD_CRC if neither holds."""
    first = None
    for fmt in (FORMAT_A, FORMAT_B):
        try:
            return strip_crcs(raw, fmt), fmt
        except WMBusError as exc:
            if first is None:
                first = exc
    raise first


# 3-out-of-6: each nibble, high first, becomes a 6-chip symbol with three ones.
_CODE = b"\x16\x0d\x0e\x0b\x1c\x19\x1a\x13\x2c\x25\x26\x23\x34\x31\x32\x29"


def _make_decode():
    table = bytearray(b"\xff" * 64)
    for nibble in range(16):
        table[_CODE[nibble]] = nibble
    return bytes(table)


_DECODE = _make_decode()


def coded_len(n):
    """Bytes of 3-of-6 chips for n data bytes (12 chips each, padded to whole bytes)."""
    return (12 * n + 7) // 8


def encode_3of6(src, n, dst):
    """Chips for src[0:n] into dst; an odd count ends with the 0101 postamble bits."""
    code = _CODE
    out = 0
    i = 0
    while i + 1 < n:
        a = src[i]
        b = src[i + 1]
        word = (code[a >> 4] << 18) | (code[a & 15] << 12) | (code[b >> 4] << 6) | code[b & 15]
        dst[out] = word >> 16
        dst[out + 1] = (word >> 8) & 0xFF
        dst[out + 2] = word & 0xFF
        out += 3
        i += 2
    if i < n:
        a = src[i]
        word = (code[a >> 4] << 6) | code[a & 15]
        dst[out] = word >> 4
        dst[out + 1] = ((word & 15) << 4) | 0x05
        out += 2
    return out


def decode_3of6(src, n, dst):
    """n data bytes from 3-of-6 chips in src into dst; MALFORMED on a symbol that is not a code."""
    if len(src) < coded_len(n):
        raise WMBusError(TRUNCATED, "3-of-6 chips for %d bytes" % n)
    decode = _DECODE
    for i in range(n):
        bit = 12 * i
        byte = bit >> 3
        if bit & 7:
            word = ((src[byte] & 0x0F) << 8) | src[byte + 1]
        else:
            word = (src[byte] << 4) | (src[byte + 1] >> 4)
        hi = decode[word >> 6]
        lo = decode[word & 0x3F]
        if hi == 0xFF or lo == 0xFF:
            raise WMBusError(MALFORMED, "3-of-6 symbol at byte %d" % i)
        dst[i] = (hi << 4) | lo
    return n
