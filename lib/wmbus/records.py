# EN 13757-3 data records: DIF [DIFE...] VIF [VIFE...] data.
#
# The writer (put_*) is what the meter uses: it writes into a caller's buffer at a
# position and returns the next one, allocating nothing. The reader (decode) is the
# head-end's: a generic decoder that names the common quantities and scales them.

from micropython import const
from wmbus.errors import WMBusError, TRUNCATED, MALFORMED, UNSUPPORTED, BAD_LENGTH

# DIF data field codes (bits 3..0).
DATA_NONE = const(0x0)
INT8 = const(0x1)
INT16 = const(0x2)
INT24 = const(0x3)
INT32 = const(0x4)
REAL32 = const(0x5)
INT48 = const(0x6)
INT64 = const(0x7)
BCD2 = const(0x9)
BCD4 = const(0xA)
BCD6 = const(0xB)
BCD8 = const(0xC)
VARIABLE = const(0xD)
BCD12 = const(0xE)
# DIF function field (bits 5..4).
INSTANT = const(0)
MAXIMUM = const(1)
MINIMUM = const(2)
DURING_ERROR = const(3)

_SIZES = b"\x00\x01\x02\x03\x04\x04\x06\x08\x00\x01\x02\x03\x04\x00\x06\x00"
_IDLE_FILLER = const(0x2F)

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


def put_dif(buf, pos, data_code, vif, storage=0, tariff=0, function=INSTANT, subunit=0):
    """DIF, the DIFEs the storage number, tariff and subunit need, and the VIF bytes."""
    dif = data_code | (function << 4) | ((storage & 1) << 6)
    storage >>= 1
    if storage or tariff or subunit:
        buf[pos] = dif | 0x80
        pos += 1
        while True:
            dife = (storage & 0x0F) | ((tariff & 3) << 4) | ((subunit & 1) << 6)
            storage >>= 4
            tariff >>= 2
            subunit >>= 1
            more = storage or tariff or subunit
            buf[pos] = dife | (0x80 if more else 0)
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


# -- reader ------------------------------------------------------------------------

def _year(y, century):
    if century:
        return 1900 + 100 * century + y
    return 2000 + y if y < 81 else 1900 + y


def date_g(data, pos):
    day = data[pos] & 0x1F
    month = data[pos + 1] & 0x0F
    year = _year(((data[pos] & 0xE0) >> 5) | ((data[pos + 1] & 0xF0) >> 1), 0)
    return "%04d-%02d-%02d" % (year, month, day)


def datetime_f(data, pos):
    minute = data[pos] & 0x3F
    hour = data[pos + 1] & 0x1F
    century = (data[pos + 1] >> 5) & 3
    day = data[pos + 2] & 0x1F
    month = data[pos + 3] & 0x0F
    year = _year(((data[pos + 2] & 0xE0) >> 5) | ((data[pos + 3] & 0xF0) >> 1), century)
    return "%04d-%02d-%02d %02d:%02d" % (year, month, day, hour, minute)


def _bcd(data, pos, n):
    value = 0
    negative = False
    for i in range(n - 1, -1, -1):
        b = data[pos + i]
        hi = b >> 4
        if i == n - 1 and hi == 0xF:
            negative = True  # a leading F nibble marks a negative BCD value
            hi = 0
        lo = b & 0x0F
        if hi > 9 or lo > 9:
            return None
        value = value * 100 + hi * 10 + lo
    return -value if negative else value


def _int(data, pos, n):
    value = 0
    for i in range(n - 1, -1, -1):
        value = (value << 8) | data[pos + i]
    if n and value >= 1 << (8 * n - 1):
        value -= 1 << (8 * n)
    return value


def _text(data, pos, n):
    """Text sent last character first; bytes outside printable ASCII show as '?'."""
    out = bytearray(n)
    for i in range(n):
        b = data[pos + n - 1 - i]
        out[i] = b if 32 <= b < 127 else 0x3F
    return out.decode()


def _real32(data, pos):
    import struct

    return struct.unpack("<f", bytes(data[pos : pos + 4]))[0]


# Primary VIF (bits 6..0) -> (quantity, unit, exponent base, mask of the exponent bits).
def _primary(vif):
    n3 = vif & 7
    n2 = vif & 3
    if vif < 0x08:
        return "energy", "Wh", n3 - 3
    if vif < 0x10:
        return "energy", "J", n3
    if vif < 0x18:
        return "volume", "m3", n3 - 6
    if vif < 0x20:
        return "mass", "kg", n3 - 3
    if vif < 0x24:
        return "on_time", "s", None
    if vif < 0x28:
        return "operating_time", "s", None
    if vif < 0x30:
        return "power", "W", n3 - 3
    if vif < 0x38:
        return "power", "J/h", n3
    if vif < 0x40:
        return "volume_flow", "m3/h", n3 - 6
    if vif < 0x48:
        return "volume_flow", "m3/min", n3 - 7
    if vif < 0x50:
        return "volume_flow", "m3/s", n3 - 9
    if vif < 0x58:
        return "mass_flow", "kg/h", n3 - 3
    if vif < 0x5C:
        return "flow_temperature", "C", n2 - 3
    if vif < 0x60:
        return "return_temperature", "C", n2 - 3
    if vif < 0x64:
        return "temperature_difference", "K", n2 - 3
    if vif < 0x68:
        return "external_temperature", "C", n2 - 3
    if vif < 0x6C:
        return "pressure", "bar", n2 - 3
    if vif == 0x6C:
        return "date", "", None
    if vif == 0x6D:
        return "datetime", "", None
    if vif == 0x6E:
        return "hca", "", 0
    if vif < 0x74:
        return "averaging_duration", "", None
    if vif < 0x78:
        return "actuality_duration", "", None
    if vif == 0x78:
        return "fabrication_no", "", 0
    if vif == 0x79:
        return "enhanced_id", "", 0
    if vif == 0x7A:
        return "bus_address", "", 0
    return "vif_%02x" % vif, "", None


def _fd(code):
    if 0x40 <= code < 0x50:
        return "voltage", "V", (code & 0x0F) - 9
    if 0x50 <= code < 0x60:
        return "current", "A", (code & 0x0F) - 12
    names = {0x08: "access_number", 0x09: "medium", 0x0A: "manufacturer", 0x0B: "parameter_set",
             0x0C: "model_version", 0x0D: "hardware_version", 0x0E: "firmware_version",
             0x0F: "software_version", 0x16: "password", 0x17: "error_flags", 0x1A: "digital_output",
             0x1B: "digital_input", 0x3A: "dimensionless"}
    return names.get(code, "fd_%02x" % code), "", 0 if code in (0x08, 0x17, 0x3A) else None


def _fb(code):
    if code < 0x02:
        return "energy", "MWh", (code & 1) - 1
    if code < 0x04:
        return "reactive_energy", "kvarh", (code & 1) - 1
    if 0x08 <= code < 0x0A:
        return "energy", "GJ", (code & 1) - 1
    return "fb_%02x" % code, "", None


def _scaled(value, exp):
    if exp is None or not isinstance(value, int):
        return value
    if exp >= 0:
        return value * 10 ** exp
    # Round to the record's resolution so 12345678 * 10**-3 prints as 12345.678.
    return round(value / 10 ** (-exp), -exp)


def decode(payload, start=0, end=-1, max_records=255, strict=True):
    """Records of payload[start:end] as a list of dicts:
    storage, tariff, subunit, function, quantity, unit, value (scaled), raw value, vife list.
    Idle fillers (0x2F) are skipped; manufacturer-specific data (DIF 0x0F/0x1F) ends the list.
    strict=False: a broken record at the end (some meters send stray bytes after their
    records) ends the list instead of raising; the error is the last item, as
    {"quantity": "error", "value": <WMBusError>}."""
    if strict:
        return _decode(payload, start, end, max_records)
    records = []
    try:
        _decode(payload, start, end, max_records, records)
    except WMBusError as exc:
        records.append({"quantity": "error", "unit": "", "storage": 0, "tariff": 0, "subunit": 0,
                        "function": 0, "vife": [], "value": exc, "raw": None, "header": b""})
    return records


def _decode(payload, start, end, max_records, records=None):
    data = payload
    if end < 0:
        end = len(data)
    pos = start
    if records is None:
        records = []
    while pos < end and len(records) < max_records:
        dif = data[pos]
        rec_at = pos
        pos += 1
        if dif == _IDLE_FILLER:
            continue
        if dif in (0x0F, 0x1F):
            records.append({"quantity": "manufacturer_data", "unit": "", "storage": 0, "tariff": 0,
                            "subunit": 0, "function": 0, "vife": [],
                            "value": bytes(data[pos:end]).hex(), "raw": None})
            break
        if dif & 0x0F == 0x0F:
            raise WMBusError(UNSUPPORTED, "special DIF 0x%02x" % dif)
        storage = (dif >> 6) & 1
        tariff = 0
        subunit = 0
        shift = 1
        tshift = 0
        ext = dif & 0x80
        count = 0
        while ext:
            if pos >= end:
                raise WMBusError(TRUNCATED, "DIFE")
            dife = data[pos]
            pos += 1
            count += 1
            if count > 10:
                raise WMBusError(MALFORMED, "more than 10 DIFEs")
            storage |= (dife & 0x0F) << shift
            tariff |= ((dife >> 4) & 3) << tshift
            subunit |= ((dife >> 6) & 1) << (count - 1)
            shift += 4
            tshift += 2
            ext = dife & 0x80
        if pos >= end:
            raise WMBusError(TRUNCATED, "VIF")
        vif = data[pos]
        pos += 1
        vifes = []
        text_unit = None
        if vif in (0xFD, 0xFB):
            if pos >= end:
                raise WMBusError(TRUNCATED, "VIF extension")
            code = data[pos]
            pos += 1
            quantity, unit, exp = (_fd if vif == 0xFD else _fb)(code & 0x7F)
            ext = code & 0x80
        elif vif & 0x7F == 0x7C:
            if pos >= end or pos + 1 + data[pos] > end:
                raise WMBusError(TRUNCATED, "plain-text VIF")
            n = data[pos]
            text_unit = _text(data, pos + 1, n) if n else ""
            pos += 1 + n
            quantity, unit, exp = "plain_text_unit", text_unit, 0
            ext = vif & 0x80
        elif vif & 0x7F == 0x7F:
            quantity, unit, exp = "manufacturer_specific", "", None
            ext = vif & 0x80
        elif vif & 0x7F == 0x7E:
            quantity, unit, exp = "any", "", None
            ext = vif & 0x80
        else:
            quantity, unit, exp = _primary(vif & 0x7F)
            ext = vif & 0x80
        count = 0
        while ext:
            if pos >= end:
                raise WMBusError(TRUNCATED, "VIFE")
            vife = data[pos]
            pos += 1
            count += 1
            if count > 10:
                raise WMBusError(MALFORMED, "more than 10 VIFEs")
            vifes.append(vife & 0x7F)
            ext = vife & 0x80
        for vife in vifes:
            if vife == 0x3C:
                quantity += "_backward"
            elif vife == 0x3B:
                quantity += "_forward"
            elif 0x70 <= vife <= 0x77:
                if exp is not None:
                    exp += (vife & 7) - 6  # multiplicative correction 10^(nnn-6)
            elif vife == 0x7D and exp is not None:
                exp += 3
        code = dif & 0x0F
        header = bytes(data[rec_at:pos])
        if code == VARIABLE:
            if pos >= end:
                raise WMBusError(TRUNCATED, "LVAR")
            lvar = data[pos]
            pos += 1
            if lvar < 0xC0:
                size = lvar
            elif lvar < 0xD0 or (0xD0 <= lvar < 0xE0):
                size = lvar & 0x0F
            else:
                raise WMBusError(UNSUPPORTED, "LVAR 0x%02x" % lvar)
        else:
            size = _SIZES[code]
        if pos + size > end:
            raise WMBusError(TRUNCATED, "record data")
        raw = None
        if code == DATA_NONE:
            value = None
        elif code == VARIABLE:
            if lvar < 0xC0:
                value = _text(data, pos, size)
            else:
                value = bytes(data[pos : pos + size]).hex()
        elif quantity == "datetime" and size == 4:
            value = datetime_f(data, pos)
        elif quantity == "datetime" and size == 6:
            value = datetime_f(data, pos + 1) + ":%02d" % (data[pos] & 0x3F)
        elif quantity == "date" and size == 2:
            value = date_g(data, pos)
        elif code == REAL32:
            raw = _real32(data, pos)
            value = raw if exp is None else raw * 10 ** exp
        elif code >= BCD2 and code != VARIABLE:
            raw = _bcd(data, pos, size)
            value = _scaled(raw, exp) if raw is not None else bytes(data[pos : pos + size]).hex()
        else:
            raw = _int(data, pos, size)
            if quantity in ("error_flags", "fabrication_no", "parameter_set", "model_version") or exp is None:
                value = raw
            else:
                value = _scaled(raw, exp)
        pos += size
        records.append({"quantity": quantity, "unit": unit, "storage": storage, "tariff": tariff,
                        "subunit": subunit, "function": (dif >> 4) & 3, "vife": vifes,
                        "value": value, "raw": raw, "header": header})
    return records


def signature(records):
    """The compact-frame format signature of a full frame's records: CRC-16 over their
    concatenated DIF/VIF(E) bytes."""
    from wmbus.crc import crc16

    headers = b"".join(r.get("header", b"") for r in records)
    return crc16(headers), headers


def expand_compact(headers, data):
    """A full record list from compact data and the DIF/VIF bytes of its format."""
    full = bytearray()
    pos = 0
    at = 0
    while at < len(headers):
        # One record's header at a time, zero data after it standing in for its value.
        found = decode(bytes(headers[at:]) + bytes(16), 0, -1, 1)
        if not found or not found[0].get("header"):
            raise WMBusError(MALFORMED, "compact frame format")
        header = found[0]["header"]
        at += len(header)
        full += header
        size = _SIZES[header[0] & 0x0F]
        if header[0] & 0x0F == VARIABLE:
            raise WMBusError(UNSUPPORTED, "variable-length record in a compact frame")
        full += data[pos : pos + size]
        pos += size
    if pos != len(data):
        raise WMBusError(BAD_LENGTH if pos < len(data) else TRUNCATED, "compact data of %d bytes, format needs %d" % (len(data), pos))
    return decode(full)
