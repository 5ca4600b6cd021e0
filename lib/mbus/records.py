# EN 13757-3 data records, the one record layer of wired and wireless M-Bus:
# DIF [DIFE...] VIF [VIFE...] data, with LVAR, dates, the plain-text VIF and manufacturer
# data. Used by the wired decoder (mbus.decode), the master's multi-telegram check
# (mbus.master.more_follow), the wireless head-end (wmbus.records) and, for the data sizes
# and codes, the meter's telegram writer (wmbus.records.put_*).
#
#   out = []
#   more = read(buf, i, end, out)   # Records appended to out; True after a DIF 0x1F
#   more = read(buf, i, end, None)  # only walks (allocates nothing): the 0x1F check
#
# The walk uses indexes into one buffer (no per-byte slicing) and the byte tables of
# mbus.vif. Bad input raises DecodeError; records decoded before it stay in out. Numbers
# are exact: a Record keeps the integer the frame holds (a real: its exact binary value as
# an integer) and its decimal exponent (Record.number(), Record.decimal()); Record.value is
# the scaled Python number for convenience (a float when the exponent is negative: 7
# digits on single-precision builds).

import struct
from micropython import const
from mbus import vif as _vif
from mbus.errors import DecodeError

# DIF data field codes (bits 3..0).
DATA_NONE = const(0x0)
INT8 = const(0x1)
INT16 = const(0x2)
INT24 = const(0x3)
INT32 = const(0x4)
REAL32 = const(0x5)
INT48 = const(0x6)
INT64 = const(0x7)
SELECTION = const(0x8)  # selection for readout: no data
BCD2 = const(0x9)
BCD4 = const(0xA)
BCD6 = const(0xB)
BCD8 = const(0xC)
VARIABLE = const(0xD)  # LVAR
BCD12 = const(0xE)
SPECIAL = const(0xF)
# DIF function field (bits 5..4).
INSTANT = const(0)
MAXIMUM = const(1)
MINIMUM = const(2)
DURING_ERROR = const(3)
FUNCTIONS = ("instantaneous", "maximum", "minimum", "error")
# Special DIFs.
DIF_MANUFACTURER = const(0x0F)  # manufacturer data to the end
DIF_MORE = const(0x1F)  # manufacturer data, more records follow in the next telegram
DIF_IDLE = const(0x2F)  # idle filler

# Data field bytes by DIF data code (VARIABLE: LVAR decides; SPECIAL: no data field).
DATA_SIZES = b"\x00\x01\x02\x03\x04\x04\x06\x08\x00\x01\x02\x03\x04\x00\x06\x00"

MANUFACTURER_SPECIFIC = "manufacturer_specific"
MORE_RECORDS_FOLLOW = "more_records_follow"
MAX_DIFE = const(10)
MAX_VIFE = const(10)
MAX_PLAIN_TEXT = const(0xBF)

# LVAR 0xC0..0xC9 / 0xD0..0xD9 (BCD): data bytes per LVAR unit. libmbus, jmbus and
# pyMeterBus read 2 bytes per unit; the M-Bus documentation may mean digits (1 byte per
# unit). One constant, see docs/mbus.md.
LVAR_BCD_BYTES_PER_UNIT = const(2)

_HEXB = b"0123456789ABCDEF"
# Header fields of one record while it is read (indexes into a caller's list).
_H_STORAGE = const(0)
_H_TARIFF = const(1)
_H_SUBUNIT = const(2)
_H_VIF = const(3)
_H_VIFE_AT = const(4)
_H_VIFE_END = const(5)
_H_QUANTITY = const(6)
_H_UNIT = const(7)
_H_EXP = const(8)
_H_KIND = const(9)
_H_MUL = const(10)
_H_TEXT = const(11)
_H_DIFE_END = const(12)
_H_FIELDS = const(13)


class Record:
    """One data record. function, storage, tariff, subunit, quantity, unit and value as
    documented in docs/mbus.md; dif (int), dife (bytes), vif (int or None), vife (bytes:
    everything after the VIF, FB/FD codes included) and text (plain-text unit or None)
    are the raw codes. exponent: the decimal exponent of a scaled number (None for
    everything else). The fields live in one tuple (one allocation per record)."""

    def __init__(self, fields):
        self._f = fields

    function = property(lambda self: self._f[0])
    storage = property(lambda self: self._f[1])
    tariff = property(lambda self: self._f[2])
    subunit = property(lambda self: self._f[3])
    quantity = property(lambda self: self._f[4])
    unit = property(lambda self: self._f[5])
    dif = property(lambda self: self._f[7])
    dife = property(lambda self: self._f[8])
    vif = property(lambda self: self._f[9])
    vife = property(lambda self: self._f[10])
    text = property(lambda self: self._f[11])
    exponent = property(lambda self: self._f[12])

    @property
    def value(self):
        """The value in its unit: an int when whole, a float when the exponent is
        negative (exact only within the float's precision: use decimal())."""
        v = self._f[6]
        e = self._f[12]
        if not e:
            return v
        if e > 0:
            return v * 10 ** e
        return v / 10 ** -e

    def number(self):
        """(integer, decimal exponent) of a number record, else None: the value is
        integer * 10**exponent exactly (the frame's integer or BCD times the time
        multiplier; a real's exact binary value in decimal)."""
        v = self._f[6]
        if self._f[12] is None or not isinstance(v, int):
            return None
        return v, self._f[12]

    def decimal(self):
        """The value as exact text: a scaled integer with every digit the frame holds
        ("13426.157", "561.08", "1.000"); other values as str() (None: None)."""
        v = self._f[6]
        e = self._f[12]
        if e is None or not isinstance(v, int):
            return v if v is None or isinstance(v, str) else str(self.value)
        return decimal_text(v, e)

    def has_vife(self, code):
        """True if the record carries the combinable VIFE code (bit 7 ignored), e.g.
        vif.VIFE_BACKWARD on an export register; FB/FD table codes do not count."""
        vife = self._f[10]
        v = self._f[9]
        start = 1 if v is not None and (v & 0x7F == 0x7B or v & 0x7F == 0x7D) else 0
        for i in range(start, len(vife)):
            if vife[i] & 0x7F == code:
                return True
        return False

    def as_dict(self):
        f = self._f
        return {"function": f[0], "storage": f[1], "tariff": f[2], "subunit": f[3],
                "quantity": f[4], "unit": f[5], "value": self.value}

    def __repr__(self):
        f = self._f
        return "Record(%s s%d t%d u%d %s=%s %s)" % (f[0], f[1], f[2], f[3], f[4], self.decimal(), f[5])


def decimal_text(mantissa, exponent):
    """mantissa * 10**exponent as exact decimal text (integers only: no float)."""
    if exponent >= 0:
        return str(mantissa * 10 ** exponent) if exponent else str(mantissa)
    digits = str(-mantissa if mantissa < 0 else mantissa)
    n = -exponent
    if len(digits) <= n:
        digits = "0" * (n + 1 - len(digits)) + digits
    text = digits[:-n] + "." + digits[-n:]
    return "-" + text if mantissa < 0 else text


def hex_bytes(buf, start, end):
    """buf[start:end] as upper-case hex, bytes separated by spaces (wire order)."""
    if end <= start:
        return ""
    out = bytearray(3 * (end - start) - 1)
    j = 0
    for i in range(start, end):
        b = buf[i]
        if j:
            out[j - 1] = 0x20
        out[j] = _HEXB[b >> 4]
        out[j + 1] = _HEXB[b & 15]
        j += 3
    return str(out, "ascii")


def manufacturer_name(code):
    """The 3 letters of a 16-bit manufacturer code (EN 62056-21 / FLAG)."""
    return (chr(((code >> 10) & 0x1F) + 64) + chr(((code >> 5) & 0x1F) + 64)
            + chr((code & 0x1F) + 64))


def uint(buf, start, n):
    """Unsigned, LSB first."""
    v = 0
    for i in range(start + n - 1, start - 1, -1):
        v = (v << 8) | buf[i]
    return v


def _int(buf, start, n):
    # two's complement, LSB first; the common sizes unrolled (no tuple from struct)
    if n == 1:
        v = buf[start]
    elif n == 2:
        v = buf[start] | (buf[start + 1] << 8)
    elif n == 4:
        v = (buf[start] | (buf[start + 1] << 8) | (buf[start + 2] << 16)
             | (buf[start + 3] << 24))
    else:
        v = uint(buf, start, n)
    if v >> (8 * n - 1):
        v -= 1 << (8 * n)
    return v


def bcd(buf, start, n):
    """BCD, LSB byte first; top nibble F = negative. None if a digit is not 0-9 (callers
    then give the raw hex)."""
    v = 0
    neg = False
    last = start + n - 1
    for i in range(last, start - 1, -1):
        b = buf[i]
        hi = b >> 4
        lo = b & 15
        if hi > 9:
            if i == last and hi == 15:
                neg = True
                hi = 0
            else:
                return None
        if lo > 9:
            return None
        v = v * 100 + hi * 10 + lo
    return -v if neg else v


def _year(y, century):
    # century: EN 13757-3 type F hundred-year bits; 0 with a two-digit year is read as
    # 1981..2080 (meters leave the bits at 0 after 1999)
    if century:
        return 1900 + 100 * century + y
    return 2000 + y if y <= 80 else 1900 + y


def _date_g(d0, d1):
    day = d0 & 0x1F
    month = d1 & 0x0F
    if day == 0 or month == 0 or month > 12:
        return None
    year = (d0 >> 5) | ((d1 & 0xF0) >> 1)
    return "%04d-%02d-%02d" % (_year(year, 0), month, day)


def date(buf, i, n):
    """Date/time type by length: G (2), J (3), F (4), I (6) bytes, as an ISO string
    (local meter time); 'invalid' when the fields are out of range or the invalid bit is
    set; None for other lengths."""
    if n == 2:
        v = _date_g(buf[i], buf[i + 1])
    elif n == 3:
        sec = buf[i] & 0x3F
        minute = buf[i + 1] & 0x3F
        hour = buf[i + 2] & 0x1F
        if sec > 59 or minute > 59 or hour > 23:
            return "invalid"
        return "%02d:%02d:%02d" % (hour, minute, sec)
    elif n == 4:
        d0 = buf[i]
        d1 = buf[i + 1]
        if d0 & 0x80:
            return "invalid"
        minute = d0 & 0x3F
        hour = d1 & 0x1F
        day = buf[i + 2] & 0x1F
        month = buf[i + 3] & 0x0F
        if minute > 59 or hour > 23 or day == 0 or month == 0 or month > 12:
            return "invalid"
        year = (buf[i + 2] >> 5) | ((buf[i + 3] & 0xF0) >> 1)
        return "%04d-%02d-%02dT%02d:%02d:00" % (
            _year(year, (d1 >> 5) & 3), month, day, hour, minute)
    elif n == 6:
        sec = buf[i] & 0x3F
        d1 = buf[i + 1]
        if d1 & 0x80:
            return "invalid"
        minute = d1 & 0x3F
        hour = buf[i + 2] & 0x1F
        day = buf[i + 3] & 0x1F
        month = buf[i + 4] & 0x0F
        if sec > 59 or minute > 59 or hour > 23 or day == 0 or month == 0 or month > 12:
            return "invalid"
        year = (buf[i + 3] >> 5) | ((buf[i + 4] & 0xF0) >> 1)
        return "%04d-%02d-%02dT%02d:%02d:%02d" % (
            _year(year, 0), month, day, hour, minute, sec)
    else:
        return None
    return "invalid" if v is None else v


def _text(buf, start, n):
    # sent last character first
    out = bytearray(n)
    j = 0
    for i in range(start + n - 1, start - 1, -1):
        out[j] = buf[i]
        j += 1
    try:
        return bytes(out).decode()
    except UnicodeError:  # not UTF-8: keep it readable as hex
        return hex_bytes(out, 0, n)
    except ValueError:  # MicroPython's error for the same
        return hex_bytes(out, 0, n)


def lvar_size(lvar):
    """Data bytes after an LVAR byte (EN 13757-3:2013), -1 for the reserved codes."""
    if lvar <= 0xBF:
        return lvar
    if lvar <= 0xC9:
        return (lvar - 0xC0) * LVAR_BCD_BYTES_PER_UNIT
    if 0xD0 <= lvar <= 0xD9:
        return (lvar - 0xD0) * LVAR_BCD_BYTES_PER_UNIT
    if 0xE0 <= lvar <= 0xEF:
        return lvar - 0xE0
    if 0xF0 <= lvar <= 0xF4:
        return 4 * (lvar - 0xEC)
    if lvar == 0xF5:
        return 48
    if lvar == 0xF6:
        return 64
    return -1


def _lvar_value(buf, i, lvar, n):
    """The value of an LVAR field of n bytes at buf[i]: text, signed BCD or hex."""
    if lvar <= 0xBF:
        return _text(buf, i, n)
    if lvar >= 0xE0:
        return hex_bytes(buf, i, i + n)
    v = bcd(buf, i, n) if n else 0
    if v is None:
        return hex_bytes(buf, i, i + n)
    return -v if lvar >= 0xD0 else v


def head(buf, i, end, h):
    """Read the DIF's extensions and the VIF/VIFE part of the record whose DIF is
    buf[i - 1]; the fields go into the list h (_H_*). Returns the index of the data."""
    dif = buf[i - 1]
    storage = (dif >> 6) & 1
    tariff = 0
    subunit = 0
    ext = dif & 0x80
    shift = 0
    while ext:
        if i >= end:
            raise DecodeError("premature end at DIFE")
        if shift == MAX_DIFE:
            raise DecodeError("too many DIFEs")
        d = buf[i]
        i += 1
        storage |= (d & 0x0F) << (1 + 4 * shift)
        tariff |= ((d >> 4) & 3) << (2 * shift)
        subunit |= ((d >> 6) & 1) << shift
        shift += 1
        ext = d & 0x80
    h[_H_DIFE_END] = i
    h[_H_STORAGE] = storage
    h[_H_TARIFF] = tariff
    h[_H_SUBUNIT] = subunit
    if i >= end:
        raise DecodeError("premature end at VIF")
    v = buf[i]
    i += 1
    table = _vif.PRIMARY
    k = (v & 0x7F) << 2
    kind = table[k + 3] >> 3
    text = None
    if kind == _vif.PLAIN_TEXT:
        if i >= end:
            raise DecodeError("premature end at plain-text VIF")
        n = buf[i]
        if n > MAX_PLAIN_TEXT:
            raise DecodeError("plain-text VIF too long")
        if i + 1 + n > end:
            raise DecodeError("premature end at plain-text VIF")
        text = _text(buf, i + 1, n)
        i += 1 + n
    h[_H_VIF] = v
    h[_H_VIFE_AT] = i
    ext = v & 0x80
    extension = kind == _vif.EXT_FB or kind == _vif.EXT_FD
    if extension and ext:  # the true VIF is the next byte, in table FB or FD
        if i >= end:
            raise DecodeError("premature end at VIFE")
        e = buf[i]
        i += 1
        table = _vif.FB if kind == _vif.EXT_FB else _vif.FD
        k = (e & 0x7F) << 2
        ext = e & 0x80
    quantity = _vif.QUANTITIES[table[k]]
    unit = _vif.UNITS[table[k + 1]]
    exp = table[k + 2] - _vif.EXP_BIAS
    kind = table[k + 3]
    mul = _vif.MULTIPLIERS[kind & 7]
    kind >>= 3
    if text is not None:
        unit = text
        kind = _vif.NUMBER
    elif extension and table is _vif.PRIMARY:  # 7B/7D promise a table code but do not extend
        kind = _vif.UNKNOWN
        quantity = "unknown"
    manufacturer_vife = v == 0xFF
    count = 0
    while ext:
        if i >= end:
            raise DecodeError("premature end at VIFE")
        if count == MAX_VIFE:
            raise DecodeError("too many VIFEs")
        e = buf[i]
        i += 1
        count += 1
        ext = e & 0x80
        if manufacturer_vife:
            continue
        e &= 0x7F
        if e == _vif.VIFE_MANUFACTURER:
            manufacturer_vife = True
        elif e == _vif.VIFE_KILO:
            exp += 3
        elif _vif.VIFE_MULT_FIRST <= e <= _vif.VIFE_MULT_LAST:
            exp += (e & 7) - 6
        elif e == _vif.VIFE_EXTENSION:
            manufacturer_vife = True  # next code is from another table: not interpreted
    h[_H_VIFE_END] = i
    h[_H_QUANTITY] = quantity
    h[_H_UNIT] = unit
    h[_H_EXP] = exp
    h[_H_KIND] = kind
    h[_H_MUL] = mul
    h[_H_TEXT] = text
    return i


def header_list():
    """A list for head() to fill."""
    return [None] * _H_FIELDS


# read()'s list: a walk runs to its end without yielding, so one list serves every walk
_HEAD = header_list()


def _real32(bits):
    """An IEEE 754 single as (integer, decimal exponent), exactly: m * 2**e is
    (m * 5**-e) * 10**e. NaN and infinities as (float, None)."""
    e = (bits >> 23) & 0xFF
    m = bits & 0x7FFFFF
    if e == 0xFF:
        return struct.unpack("<f", struct.pack("<I", bits))[0], None
    if e:
        m |= 0x800000
    else:
        e = 1  # subnormal
    e -= 150  # bias 127 and 23 fraction bits
    while e < 0 and m and not m & 1:  # no trailing zeros in the decimal digits
        m >>= 1
        e += 1
    if bits >> 31:
        m = -m
    if e >= 0:
        return m << e, 0
    return m * 5 ** -e, e


def _value(buf, i, n, code, kind, mul):
    """(value, exponent) of a fixed-length data field: exponent None when the value is
    not a number to be read with the record's exponent, else what the data itself adds
    to it (a real's decimal exponent; 0 for integers)."""
    if n == 0:
        return None, None
    if kind == _vif.UNKNOWN:
        return hex_bytes(buf, i, i + n), None
    if kind == _vif.DATE:
        v = date(buf, i, n)
        return (hex_bytes(buf, i, i + n) if v is None else v), None
    exp = 0
    if code >= BCD2:
        v = bcd(buf, i, n)
        if v is None:
            return hex_bytes(buf, i, i + n), None
    elif code == REAL32:
        if kind != _vif.NUMBER:
            return struct.unpack_from("<f", buf, i)[0], None
        v, exp = _real32(uint(buf, i, 4))
        if exp is None:
            return v, None
    else:
        v = _int(buf, i, n)
    if kind != _vif.NUMBER:
        return v, None
    return (v * mul if mul != 1 else v), exp


def read(buf, i, end, records, h=None):
    """Walk the data records in buf[i:end]. records: a list the Records are appended to,
    or None to walk only (nothing allocated). Returns True if the records end in DIF 0x1F
    (more records follow in the next telegram). Raises DecodeError."""
    if h is None:
        h = _HEAD
    while i < end:
        dif = buf[i]
        i += 1
        code = dif & 0x0F
        if code == SPECIAL:
            if dif == DIF_IDLE:
                continue
            if dif == DIF_MANUFACTURER or dif == DIF_MORE:
                more = dif == DIF_MORE
                if records is not None:
                    records.append(Record((
                        MORE_RECORDS_FOLLOW if more else MANUFACTURER_SPECIFIC, 0, 0, 0,
                        MANUFACTURER_SPECIFIC, "", hex_bytes(buf, i, end),
                        dif, b"", None, b"", None, None)))
                return more
            # 3F..6F reserved, 7F global readout request: length unknown
            raise DecodeError("reserved DIF")
        dife_at = i
        i = head(buf, i, end, h)
        if code == VARIABLE:
            if i >= end:
                raise DecodeError("premature end of data")
            lvar = buf[i]
            i += 1
            n = lvar_size(lvar)
            if n < 0:
                raise DecodeError("reserved LVAR")
        else:
            n = DATA_SIZES[code]
        if i + n > end:
            raise DecodeError("premature end of data")
        if records is not None:
            kind = h[_H_KIND]
            if code == VARIABLE:
                value = _lvar_value(buf, i, lvar, n)
                exp = None
                if kind == _vif.NUMBER and not isinstance(value, str):
                    exp = 0
                    if h[_H_MUL] != 1:
                        value *= h[_H_MUL]
            else:
                value, exp = _value(buf, i, n, code, kind, h[_H_MUL])
            vife_at = h[_H_VIFE_AT]
            vife_end = h[_H_VIFE_END]
            dife_end = h[_H_DIFE_END]
            records.append(Record((
                FUNCTIONS[(dif >> 4) & 3], h[_H_STORAGE], h[_H_TARIFF], h[_H_SUBUNIT],
                h[_H_QUANTITY], h[_H_UNIT], value, dif,
                bytes(buf[dife_at:dife_end]) if dife_end > dife_at else b"",
                h[_H_VIF], bytes(buf[vife_at:vife_end]) if vife_end > vife_at else b"",
                h[_H_TEXT], None if exp is None else h[_H_EXP] + exp)))
        i += n
    return False
