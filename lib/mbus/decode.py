# EN 13757-3 application layer: the user data of an RSP_UD as a Telegram of
# Records.
#
#   t = decode_frame(buf)          # a whole long frame 68 L L 68 ... 16
#   t = decode_user_data(ci, data) # the bytes after CI
#   t.header["id"], t.status, t.more_follow, t.records[0].value
#
# CI 0x72 (12-byte header), 0x7A (4-byte header), 0x78 (no header), 0x73 (the
# legacy fixed data structure) and 0x70 (application error: t.app_error) are
# decoded; anything else raises DecodeError. The decoder walks the data with
# indexes into one memoryview (no per-byte slicing), looks meanings up in the
# vif tables and only allocates the Records and their values. Bad input raises
# DecodeError (an MBusError); unknown codes decode as quantity "unknown" with
# the raw data as hex.

import struct
from micropython import const
from mbus import frame as _frame
from mbus import vif as _vif
from mbus.errors import DecodeError

FUNCTIONS = ("instantaneous", "maximum", "minimum", "error")
MANUFACTURER_SPECIFIC = "manufacturer_specific"
MORE_RECORDS_FOLLOW = "more_records_follow"

MAX_DIFE = const(10)
MAX_VIFE = const(10)
MAX_PLAIN_TEXT = const(0xBF)

# LVAR 0xC0..0xC9 / 0xD0..0xD9 (BCD): data bytes per LVAR unit. libmbus, jmbus
# and pyMeterBus read 2 bytes per unit; the M-Bus documentation may mean
# digits (1 byte per unit). One constant, see docs/mbus.md.
LVAR_BCD_BYTES_PER_UNIT = const(2)

# Status byte (EN 13757-3): bits 1-0 application state, 2 power low, 3
# permanent error, 4 temporary error, 7-5 manufacturer specific.
STATUS_APP_MASK = const(0x03)
STATUS_APP_BUSY = const(0x01)
STATUS_APP_ERROR = const(0x02)
STATUS_ABNORMAL = const(0x03)
STATUS_POWER_LOW = const(0x04)
STATUS_PERMANENT_ERROR = const(0x08)
STATUS_TEMPORARY_ERROR = const(0x10)

APP_ERRORS = ("unspecified error", "unimplemented CI", "buffer too long",
              "too many records", "premature end of record", "more than 10 DIFEs",
              "more than 10 VIFEs", "reserved", "application busy",
              "too many readouts")

# Data field lengths by DIF data code (0xD: LVAR, 0xF: special, -1).
_DATA_LEN = (0, 1, 2, 3, 4, 4, 6, 8, 0, 1, 2, 3, 4, -1, 6, -1)
_P10 = (1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000,
        1000000000, 10000000000, 100000000000, 1000000000000,
        10000000000000, 100000000000000, 1000000000000000)
_HEX = "0123456789ABCDEF"
_HEXB = b"0123456789ABCDEF"

_QUANTITIES = _vif.QUANTITIES
_UNITS = _vif.UNITS
_MULTIPLIERS = _vif.MULTIPLIERS

_HEADER_KEYS = ("id", "manufacturer", "version", "medium", "access_no", "status")


class Record:
    """One data record. function, storage, tariff, subunit, quantity, unit,
    value as documented in docs/mbus.md; dif (int), dife (bytes), vif (int or
    None), vife (bytes: everything after the VIF, FB/FD codes included) and
    text (plain-text unit or None) are the raw codes. The fields live in one
    tuple (one allocation per record instead of a growing attribute map)."""

    def __init__(self, fields):
        self._f = fields

    function = property(lambda self: self._f[0])
    storage = property(lambda self: self._f[1])
    tariff = property(lambda self: self._f[2])
    subunit = property(lambda self: self._f[3])
    quantity = property(lambda self: self._f[4])
    unit = property(lambda self: self._f[5])
    value = property(lambda self: self._f[6])
    dif = property(lambda self: self._f[7])
    dife = property(lambda self: self._f[8])
    vif = property(lambda self: self._f[9])
    vife = property(lambda self: self._f[10])
    text = property(lambda self: self._f[11])

    def as_dict(self):
        f = self._f
        return {"function": f[0], "storage": f[1], "tariff": f[2], "subunit": f[3],
                "quantity": f[4], "unit": f[5], "value": f[6]}

    def __repr__(self):
        f = self._f
        return "Record(%s s%d t%d u%d %s=%r %s)" % (f[0], f[1], f[2], f[3], f[4], f[6], f[5])


class Telegram:
    """A decoded RSP_UD. header: dict (id, manufacturer, version, medium,
    access_no, status; None where the CI carries no such field); records: list
    of Record; status: the status byte (0 when the CI carries none);
    more_follow: a 0x1F DIF was seen; app_error: the code of a CI 0x70
    telegram, else None; c, a: link-layer fields (None from decode_user_data)."""

    def __init__(self, ci, header, records, status, more_follow, app_error):
        self.ci = ci
        self.header = header
        self.records = records
        self.status = status
        self.more_follow = more_follow
        self.app_error = app_error
        self.c = None
        self.a = None

    def as_dict(self):
        return {"header": self.header, "records": [r.as_dict() for r in self.records]}


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


def _bcd_id(buf, start):
    # 8 BCD digits, LSB byte first, printed with leading zeros
    out = ""
    for i in range(start + 3, start - 1, -1):
        b = buf[i]
        out += _HEX[b >> 4] + _HEX[b & 15]
    return out


def _uint(buf, start, n):
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
        v = _uint(buf, start, n)
    if v >> (8 * n - 1):
        v -= 1 << (8 * n)
    return v


def _bcd(buf, start, n):
    """BCD, LSB byte first; top nibble F = negative. None if a digit is not
    0-9 (callers then give the raw hex)."""
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


def _scale(v, mul, exp):
    if mul != 1:
        v = v * mul
    if exp > 0:
        return v * _P10[exp] if exp < 16 else v * 10 ** exp
    if exp < 0:
        return v / (_P10[-exp] if exp > -16 else 10 ** -exp)
    return v


def _year(y, century):
    # century: EN 13757-3 type F hundred-year bits; 0 with a two-digit year
    # is read as 1981..2080 (meters leave the bits at 0 after 1999)
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


def _date(buf, i, n):
    """Date/time type by length: G (2), J (3), F (4), I (6) bytes, as an ISO
    string (local meter time); 'invalid' when the fields are out of range
    or the invalid bit is set; None for other lengths."""
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
    except Exception:   # not UTF-8: keep it readable as hex
        return hex_bytes(out, 0, n)


def _lvar(buf, i, end):
    """An LVAR field at buf[i]: (value, index after it)."""
    lvar = buf[i]
    i += 1
    if lvar <= 0xBF:
        n = lvar
        kind = 0
    elif lvar <= 0xC9:
        n = (lvar - 0xC0) * LVAR_BCD_BYTES_PER_UNIT
        kind = 1
    elif 0xD0 <= lvar <= 0xD9:
        n = (lvar - 0xD0) * LVAR_BCD_BYTES_PER_UNIT
        kind = 2
    elif 0xE0 <= lvar <= 0xEF:
        n = lvar - 0xE0
        kind = 3
    elif 0xF0 <= lvar <= 0xF4:
        n = 4 * (lvar - 0xEC)
        kind = 3
    elif lvar == 0xF5:
        n = 48
        kind = 3
    elif lvar == 0xF6:
        n = 64
        kind = 3
    else:
        raise DecodeError("reserved LVAR")
    if i + n > end:
        raise DecodeError("premature end of data")
    if kind == 0:
        return _text(buf, i, n), i + n
    if kind == 3:
        return hex_bytes(buf, i, i + n), i + n
    v = _bcd(buf, i, n) if n else 0
    if v is None:
        return hex_bytes(buf, i, i + n), i + n
    return (-v if kind == 2 else v), i + n


def _header_none():
    return {"id": None, "manufacturer": None, "version": None, "medium": None,
            "access_no": None, "status": None}


def _records(buf, i, end, records):
    """Decode the data records in buf[i:end] into records; returns more_follow."""
    scale = _scale
    while i < end:
        dif = buf[i]
        i += 1
        code = dif & 0x0F
        if code == 0x0F:
            if dif == 0x2F:     # idle filler
                continue
            if dif == 0x0F or dif == 0x1F:
                more = dif == 0x1F
                records.append(Record((
                    MORE_RECORDS_FOLLOW if more else MANUFACTURER_SPECIFIC, 0, 0, 0,
                    MANUFACTURER_SPECIFIC, "", hex_bytes(buf, i, end),
                    dif, b"", None, b"", None)))
                return more
            # 3F..6F reserved, 7F global readout request: length unknown
            raise DecodeError("reserved DIF")
        storage = (dif >> 6) & 1
        tariff = 0
        subunit = 0
        dife_start = i
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
        dife_end = i
        if i >= end:
            raise DecodeError("premature end at VIF")
        v = buf[i]
        i += 1
        table = _vif.PRIMARY
        k = (v & 0x7F) << 2
        quantity = _QUANTITIES[table[k]]
        unit = _UNITS[table[k + 1]]
        exp = table[k + 2] - _vif.EXP_BIAS
        kind = table[k + 3]
        mul = _MULTIPLIERS[kind & 7]
        kind >>= 3
        text = None
        vife_start = i
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
            vife_start = i
            quantity = "plain_text"
            unit = text
            kind = _vif.NUMBER
        ext = v & 0x80
        if kind == _vif.EXT_FB or kind == _vif.EXT_FD:
            if not ext:     # 7B/7D promise a table code but do not extend
                kind = _vif.UNKNOWN
                quantity = "unknown"
            else:
                if i >= end:
                    raise DecodeError("premature end at VIFE")
                e = buf[i]
                i += 1
                table = _vif.FB if kind == _vif.EXT_FB else _vif.FD
                k = (e & 0x7F) << 2
                quantity = _QUANTITIES[table[k]]
                unit = _UNITS[table[k + 1]]
                exp = table[k + 2] - _vif.EXP_BIAS
                kind = table[k + 3]
                mul = _MULTIPLIERS[kind & 7]
                kind >>= 3
                ext = e & 0x80
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
                manufacturer_vife = True   # next code is from another table: not interpreted
        vife_end = i
        # the data field
        if code == 0x0D:
            if i >= end:
                raise DecodeError("premature end of data")
            value, i = _lvar(buf, i, end)
            if kind == _vif.NUMBER and not isinstance(value, str):
                value = scale(value, mul, exp)
        else:
            n = _DATA_LEN[code]
            if i + n > end:
                raise DecodeError("premature end of data")
            if n == 0:
                value = None
            elif kind == _vif.UNKNOWN:
                value = hex_bytes(buf, i, i + n)
            elif kind == _vif.DATE:
                value = _date(buf, i, n)
                if value is None:
                    value = hex_bytes(buf, i, i + n)
            elif code >= 9:
                value = _bcd(buf, i, n)
                if value is None:
                    value = hex_bytes(buf, i, i + n)
                elif kind == _vif.NUMBER:
                    value = scale(value, mul, exp)
            elif code == 5:
                value = struct.unpack_from("<f", buf, i)[0]
                if kind == _vif.NUMBER:
                    value = scale(value, mul, exp)
            else:
                value = _int(buf, i, n)
                if kind == _vif.NUMBER:
                    value = scale(value, mul, exp)
            i += n
        records.append(Record((
            FUNCTIONS[(dif >> 4) & 3], storage, tariff, subunit, quantity, unit, value,
            dif, bytes(buf[dife_start:dife_end]) if dife_end > dife_start else b"",
            v, bytes(buf[vife_start:vife_end]) if vife_end > vife_start else b"", text)))
    return False


def _fixed(buf, i, end):
    """Legacy fixed data structure (CI 0x73): ID(4) ACC STATUS MEDIUM/UNITS(2)
    COUNTER1(4) COUNTER2(4). Status bit 7: counters binary (else BCD); bit 6:
    counter 1 is a stored value (else the actual one)."""
    if end - i != 16:
        raise DecodeError("fixed data length")
    status = buf[i + 5]
    u1 = buf[i + 6]
    u2 = buf[i + 7]
    medium = (u1 >> 6) | ((u2 >> 6) << 2)
    header = {"id": _bcd_id(buf, i), "manufacturer": None, "version": None,
              "medium": medium, "access_no": buf[i + 4], "status": status}
    records = []
    unit1 = u1 & 0x3F
    for k in range(2):
        unit_code = unit1 if k == 0 else u2 & 0x3F
        storage = 1 if (status & 0x40) else 0
        if k == 1 and unit_code == _vif.FIXED_SAME_HISTORIC:
            unit_code = unit1
            storage = 1
        quantity, unit, mul, exp = _vif.FIXED_UNITS[unit_code]
        j = i + 8 + 4 * k
        if status & 0x80:
            value = _uint(buf, j, 4)
        else:
            value = _bcd(buf, j, 4)
        if value is None:
            value = hex_bytes(buf, j, j + 4)
        else:
            value = _scale(value, mul, exp)
        records.append(Record((FUNCTIONS[0], storage, 0, 0, quantity, unit, value,
                               None, b"", unit_code, b"", None)))
    # the status byte's application and error bits are not defined here
    return Telegram(0x73, header, records, 0, False, None)


def _decode(ci, buf, i, end):
    if ci == _frame.CI_RSP_LONG:
        if end - i < 12:
            raise DecodeError("header too short")
        status = buf[i + 9]
        header = {"id": _bcd_id(buf, i),
                  "manufacturer": manufacturer_name(buf[i + 4] | (buf[i + 5] << 8)),
                  "version": buf[i + 6], "medium": buf[i + 7],
                  "access_no": buf[i + 8], "status": status}
        i += 12
    elif ci == _frame.CI_RSP_SHORT:
        if end - i < 4:
            raise DecodeError("header too short")
        status = buf[i + 1]
        header = _header_none()
        header["access_no"] = buf[i]
        header["status"] = status
        i += 4
    elif ci == _frame.CI_RSP_NONE:
        status = 0
        header = _header_none()
    elif ci == _frame.CI_RSP_FIXED:
        return _fixed(buf, i, end)
    elif ci == _frame.CI_APP_ERROR:
        code = buf[i] if end > i else 0
        return Telegram(ci, _header_none(), [], 0, False, code)
    else:
        raise DecodeError("unsupported CI")
    records = []
    more = _records(buf, i, end, records)
    return Telegram(ci, header, records, status, more, None)


def decode_user_data(ci, data):
    """Decode the user data after the CI field (bytes, bytearray or memoryview)."""
    return _decode(ci, memoryview(data), 0, len(data))


def decode_frame(buf):
    """Decode one whole RSP_UD long (or control) frame. Raises FrameError for
    link-layer faults and DecodeError for the rest."""
    kind, c, a, ci = _frame.check(buf)
    if kind != _frame.KIND_LONG and kind != _frame.KIND_CONTROL:
        raise DecodeError("not a long frame")
    if c & _frame.C_PRM:
        raise DecodeError("not a slave response")
    t = _decode(ci, memoryview(buf), 7, len(buf) - 2)
    t.c = c
    t.a = a
    return t


def app_error_text(code):
    if code is None:
        return None
    return APP_ERRORS[code] if code < len(APP_ERRORS) else "reserved"


def status_flags(status):
    """The names of the status bits set in a status byte."""
    out = []
    app = status & STATUS_APP_MASK
    if app == STATUS_APP_BUSY:
        out.append("application_busy")
    elif app == STATUS_APP_ERROR:
        out.append("application_error")
    elif app == STATUS_ABNORMAL:
        out.append("abnormal_condition")
    if status & STATUS_POWER_LOW:
        out.append("power_low")
    if status & STATUS_PERMANENT_ERROR:
        out.append("permanent_error")
    if status & STATUS_TEMPORARY_ERROR:
        out.append("temporary_error")
    return out
