# EN 13757-3 application layer: the user data of an RSP_UD as a Telegram of
# Records.
#
#   t = decode_frame(buf)          # a whole long frame 68 L L 68 ... 16
#   t = decode_user_data(ci, data) # the bytes after CI
#   t.header["id"], t.status, t.more_follow, t.records[0].value
#
# CI 0x72 (12-byte header), 0x7A (4-byte header), 0x78 (no header), 0x73 (the
# legacy fixed data structure) and 0x70 (application error: t.app_error) are
# decoded; anything else raises DecodeError. The records themselves are read by
# mbus.records (the EN 13757-3 record layer shared with wireless M-Bus); this
# module adds the CI, the header, the status byte and the fixed structure. Bad
# input raises DecodeError (an MBusError); unknown codes decode as quantity
# "unknown" with the raw data as hex.

from micropython import const
from mbus import frame as _frame
from mbus import records as _records
from mbus import vif as _vif
from mbus.errors import DecodeError
from mbus.records import Record, hex_bytes, manufacturer_name  # noqa: F401 (this module's API)

FUNCTIONS = _records.FUNCTIONS
MANUFACTURER_SPECIFIC = _records.MANUFACTURER_SPECIFIC
MORE_RECORDS_FOLLOW = _records.MORE_RECORDS_FOLLOW

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

_HEX = "0123456789ABCDEF"


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


def _bcd_id(buf, start):
    # 8 BCD digits, LSB byte first, printed with leading zeros
    out = ""
    for i in range(start + 3, start - 1, -1):
        b = buf[i]
        out += _HEX[b >> 4] + _HEX[b & 15]
    return out


def _header_none():
    return {"id": None, "manufacturer": None, "version": None, "medium": None,
            "access_no": None, "status": None}


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
    table = _vif.FIXED_UNITS
    for k in range(2):
        unit_code = unit1 if k == 0 else u2 & 0x3F
        storage = 1 if (status & 0x40) else 0
        if k == 1 and unit_code == _vif.FIXED_SAME_HISTORIC:
            unit_code = unit1
            storage = 1
        t = unit_code << 2
        j = i + 8 + 4 * k
        if status & 0x80:
            value = _records.uint(buf, j, 4)
        else:
            value = _records.bcd(buf, j, 4)
        exp = None
        if value is None:
            value = hex_bytes(buf, j, j + 4)
        else:
            exp = table[t + 2] - _vif.EXP_BIAS
        records.append(Record((FUNCTIONS[0], storage, 0, 0, _vif.QUANTITIES[table[t]],
                               _vif.UNITS[table[t + 1]], value, None, b"", unit_code, b"", None, exp)))
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
    more = _records.read(buf, i, end, records)
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


# Bytes of the header after CI, for the variable-data CIs (0x76: a long header as 0x72).
def _header_bytes(ci):
    if ci == _frame.CI_RSP_LONG or ci == 0x76:
        return 12
    if ci == _frame.CI_RSP_SHORT:
        return 4
    if ci == _frame.CI_RSP_NONE:
        return 0
    return -1


def more_follow(buf):
    """True if a variable-data RSP_UD long frame (already checked by the receiver) ends
    its records in DIF 0x1F ("more records follow in the next telegram"). Walks the
    records without decoding them (allocates nothing); a frame that is not one, or whose
    records do not parse, is False (the decoder reports the details)."""
    n = len(buf)
    if n < 9 or buf[0] != _frame.START_LONG:
        return False
    skip = _header_bytes(buf[6])
    if skip < 0:
        return False
    try:
        return _records.read(buf, 7 + skip, n - 2, None)
    except DecodeError:
        return False


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
