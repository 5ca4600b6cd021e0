# EN 13757-3 data records of the wireless telegrams: DIF [DIFE...] VIF [VIFE...] data.
#
# The writer (put_*) is what the meter uses: it writes into a caller's buffer at a
# position and returns the next one, allocating nothing. The reader is the one record
# layer of wired and wireless M-Bus (mbus.records): decode() gives its Records, with
# its vocabulary (docs/mbus.md), and turns its DecodeError into a WMBusError. Compact
# frames (CI 79/7B/73) are expanded here with the DIF/VIF bytes of a full frame.

from micropython import const
from mbus import records as _r
from mbus.errors import DecodeError
from mbus.records import (DATA_NONE, INT8, INT16, INT24, INT32, REAL32, INT48, INT64, BCD2,  # noqa: F401
                          BCD4, BCD6, BCD8, VARIABLE, BCD12, INSTANT, MAXIMUM, MINIMUM, DURING_ERROR)
from wmbus.errors import WMBusError, TRUNCATED, MALFORMED, UNSUPPORTED, BAD_LENGTH

# VIFs the meter writes (EN 13757-3 table 10 and the 0xFD / 0xFB extension tables).
VIF_ENERGY_WH = b"\x03"  # E000 0nnn, n=3: Wh
VIF_ENERGY_WH_EXPORT = b"\x83\x3c"  # Wh, VIFE 0x3C: accumulated only for negative flow (export)
VIF_REACTIVE_KVARH_TENTH = b"\xfb\x02"  # 0xFB E000 001n, n=0: 0.1 kvarh
VIF_POWER_W = b"\x2b"  # E010 1nnn, n=3: W
VIF_VOLTAGE_DV = b"\xfd\x48"  # 0xFD E100 nnnn, n=8: 0.1 V
VIF_CURRENT_MA = b"\xfd\x59"  # 0xFD E101 nnnn, n=9: mA
VIF_DATE_G = b"\x6c"
VIF_DATETIME_F = b"\x6d"
VIF_ERROR_FLAGS = b"\xfd\x17"
_DIF_EXTENSION = const(0x80)


def put_dif(buf, pos, data_code, vif, storage=0, tariff=0, function=INSTANT, subunit=0):
    """DIF, the DIFEs the storage number, tariff and subunit need, and the VIF bytes."""
    dif = data_code | (function << 4) | ((storage & 1) << 6)
    storage >>= 1
    if storage or tariff or subunit:
        buf[pos] = dif | _DIF_EXTENSION
        pos += 1
        while True:
            dife = (storage & 0x0F) | ((tariff & 3) << 4) | ((subunit & 1) << 6)
            storage >>= 4
            tariff >>= 2
            subunit >>= 1
            more = storage or tariff or subunit
            buf[pos] = dife | (_DIF_EXTENSION if more else 0)
            pos += 1
            if not more:
                break
    else:
        buf[pos] = dif
        pos += 1
    for b in vif:
        buf[pos] = b
        pos += 1
    return pos


def put_int(buf, pos, value, nbytes):
    """Little-endian two's complement."""
    value = int(value)
    for i in range(nbytes):
        buf[pos + i] = value & 0xFF
        value >>= 8
    return pos + nbytes


def put_bcd(buf, pos, value, nbytes):
    value = int(value)
    for i in range(nbytes):
        buf[pos + i] = (value % 10) | ((value // 10 % 10) << 4)
        value //= 100
    return pos + nbytes


def put_datetime_f(buf, pos, year, month, day, hour, minute, invalid=False):
    """Type F (4 bytes): minute, hour + hundred-years, day + year low bits, month + year high bits."""
    century = (year - 1900) // 100
    y = year % 100
    buf[pos] = (minute & 0x3F) | (0x80 if invalid else 0)
    buf[pos + 1] = (hour & 0x1F) | ((century & 3) << 5)
    buf[pos + 2] = (day & 0x1F) | ((y & 7) << 5)
    buf[pos + 3] = (month & 0x0F) | ((y >> 3) << 4)
    return pos + 4


def put_date_g(buf, pos, year, month, day):
    y = year % 100
    buf[pos] = (day & 0x1F) | ((y & 7) << 5)
    buf[pos + 1] = (month & 0x0F) | ((y >> 3) << 4)
    return pos + 2


# -- reader (head-end) -------------------------------------------------------------

def _wmbus_error(exc):
    """The WMBusError for a DecodeError of the record layer."""
    text = exc.reason
    if text.startswith("premature end"):
        return WMBusError(TRUNCATED, text)
    if text.startswith("reserved"):
        return WMBusError(UNSUPPORTED, text)
    return WMBusError(MALFORMED, text)


def decode(payload, start=0, end=-1):
    """The records of payload[start:end] (mbus.records.Record), idle fillers skipped,
    manufacturer data (DIF 0x0F/0x1F) the last record. Raises WMBusError."""
    records, error = decode_partial(payload, start, end)
    if error is not None:
        raise error
    return records


def decode_partial(payload, start=0, end=-1):
    """(records, error): the records before a broken one (some meters send stray bytes
    after their records) and the WMBusError that ended the list, or None."""
    if end < 0:
        end = len(payload)
    records = []
    try:
        _r.read(payload, start, end, records)
    except DecodeError as exc:
        return records, _wmbus_error(exc)
    return records, None


def _head_bytes(r):
    """A record's DIF/DIFE/VIF/VIFE bytes as sent, or None where they cannot be rebuilt
    (manufacturer data, plain-text VIF)."""
    if r.vif is None or r.text is not None:
        return None
    return bytes((r.dif,)) + r.dife + bytes((r.vif,)) + r.vife


def signature(records):
    """The compact-frame format signature of a full frame's records: (CRC-16 over their
    concatenated DIF/VIF(E) bytes, those bytes); (None, None) if a record's bytes cannot
    be rebuilt (such a frame has no compact form this decoder can expand)."""
    from wmbus.crc import crc16

    heads = []
    for r in records:
        if r.dif == _r.DIF_MANUFACTURER or r.dif == _r.DIF_MORE:
            continue
        h = _head_bytes(r)
        if h is None:
            return None, None
        heads.append(h)
    headers = b"".join(heads)
    return crc16(headers), headers


def expand_compact(headers, data):
    """The records of a compact frame: its data with the DIF/VIF bytes of its format."""
    full = bytearray()
    h = _r.header_list()
    pos = 0
    at = 0
    n = len(headers)
    while at < n:
        dif = headers[at]
        code = dif & 0x0F
        if code == _r.SPECIAL:
            raise WMBusError(MALFORMED, "compact frame format: DIF 0x%02x" % dif)
        if code == VARIABLE:
            raise WMBusError(UNSUPPORTED, "variable-length record in a compact frame")
        try:
            head_end = _r.head(headers, at + 1, n, h)
        except DecodeError as exc:
            raise WMBusError(MALFORMED, "compact frame format: " + exc.reason)
        size = _r.DATA_SIZES[code]
        full += headers[at:head_end]
        full += data[pos : pos + size]
        pos += size
        at = head_end
    if pos != len(data):
        raise WMBusError(BAD_LENGTH if pos < len(data) else TRUNCATED,
                         "compact data of %d bytes, format needs %d" % (len(data), pos))
    return decode(full)
