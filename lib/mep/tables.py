# The MEP table set (docs/mep.md section 8): table ids, procedure numbers, and the
# layouts both ends share. Encoders build a table image from plain values (the meter);
# decoders turn one back into a dict (the device). Decoders raise FrameError on
# anything that does not fit, never another exception.

import struct
from micropython import const
from mep.errors import FrameError

# Request codes.
READ_FULL = const(0x30)
READ_PARTIAL = const(0x3F)
WRITE_FULL = const(0x40)
WRITE_PARTIAL = const(0x4F)

# Response codes.
OK = const(0x00)
ERR_UNRECOGNISED = const(0x01)
ERR_UNSUPPORTED = const(0x02)
ERR_PERMISSION = const(0x03)
ERR_NOT_POSSIBLE = const(0x04)
ERR_TABLE_OP = const(0x05)
ERR_AUTH = const(0x0B)
ERR_SEQUENCE = const(0x0C)

FLAG_ENCRYPTED = const(0x01)

# Tables.
IDENT = const(0x0001)
PROC_INIT = const(0x0007)
PROC_RESPONSE = const(0x0008)
REGISTERS = const(0x0017)
REALTIME = const(0x001C)
CLOCK = const(0x0034)
PROFILE = const(0x0040)
EVENTS = const(0x004C)
MBUS_DEVICES = const(0x080D)
MBUS_DATA = const(0x080E)
TARIFF = const(0x0814)
OVERRIDES = const(0x0815)
NONURGENT = const(0x0832)
URGENT = const(0x0833)
ALERT_STATUS = const(0x0834)
CONSUMER_LOG = const(0x084C)
SECURITY = const(0x085A)

NAMES = {
    IDENT: "BT01", PROC_INIT: "BT07", PROC_RESPONSE: "BT08", REGISTERS: "BT23", REALTIME: "BT28",
    CLOCK: "BT52", PROFILE: "BT64", EVENTS: "BT76", MBUS_DEVICES: "ET13", MBUS_DATA: "ET14",
    TARIFF: "ET20", OVERRIDES: "ET21", NONURGENT: "ET50", URGENT: "ET51", ALERT_STATUS: "ET52",
    CONSUMER_LOG: "ET76", SECURITY: "ET90",
}

# Procedures (written to BT07) and their result codes (read from BT08).
PROC_ACK_URGENT = const(0x0801)
PROC_MBUS_READ = const(0x0802)
PROC_ACK_ALERT = const(0x0803)
PROC_SET_TARIFF = const(0x0810)
RESULT_DONE = const(0x00)
RESULT_ACCEPTED = const(0x01)
RESULT_INVALID = const(0x02)
RESULT_CONFLICT = const(0x03)
RESULT_TIMING = const(0x04)
RESULT_NO_AUTH = const(0x05)
RESULT_UNKNOWN = const(0x06)

# ET52 flags.
ALERT_URGENT = const(0x01)
ALERT_EVENTS = const(0x02)
ALERT_TARIFF = const(0x04)
ALERT_NONURGENT = const(0x08)
ALERT_MBUS = const(0x10)

# Downlink applications.
APP_DISPLAY = const(1)
APP_THERMOSTAT = const(2)
APP_LOAD = const(3)

MANUFACTURER = b"OSMM"
PROTOCOL_VERSION = const(1)


def _need(data, n, what):
    if len(data) < n:
        raise FrameError("%s: %d bytes, need %d" % (what, len(data), n))


def _text(raw):
    try:
        return bytes(raw).decode()
    except UnicodeError:
        raise FrameError("text is not UTF-8")


# BT01 identification.
_IDENT = ">4s4sBHBB"


def encode_ident(meter_id_bcd, max_body, tariffs, capabilities):
    return struct.pack(_IDENT, MANUFACTURER, meter_id_bcd, PROTOCOL_VERSION, max_body, tariffs, capabilities)


def decode_ident(data):
    _need(data, struct.calcsize(_IDENT), "BT01")
    man, mid, version, max_body, tariffs, caps = struct.unpack_from(_IDENT, data)
    return {"manufacturer": _text(man), "meter_id": "%02x%02x%02x%02x" % (mid[0], mid[1], mid[2], mid[3]),
            "version": version, "max_body": max_body, "tariffs": tariffs, "capabilities": caps}


def scaled(value, scale):
    """value * scale as the nearest integer, halves away from zero. int() alone truncates,
    and a float a hair below its decimal (0.57 * 10000 = 5699.999... on doubles, 0.251 *
    10000 = 2509.9998 on float32) would lose a unit. Exact while |value * scale| < 2**23."""
    x = value * scale
    return int(x + 0.5) if x >= 0 else -int(0.5 - x)


def price_units(price):
    """A price per kWh (a number from the configuration) in the tables' 1/10000 units."""
    return scaled(price, 10000)


# BT28 real-time data.
_REALTIME = ">IIIiiIhHqqB"


def encode_realtime(t, vrms, irms, p_w, q_var, s_va, pf, freq_hz, import_wh, export_wh, tariff):
    return struct.pack(_REALTIME, t, scaled(vrms, 1000), scaled(irms, 1000), scaled(p_w, 10), scaled(q_var, 10),
                       scaled(abs(s_va), 10), scaled(pf, 1000), scaled(freq_hz, 1000), import_wh, export_wh, tariff)


def decode_realtime(data):
    _need(data, struct.calcsize(_REALTIME), "BT28")
    t, v, i, p, q, s, pf, f, imp, exp, tariff = struct.unpack_from(_REALTIME, data)
    return {"t": t, "vrms": v / 1000, "irms": i / 1000, "p_w": p / 10, "q_var": q / 10, "s_va": s / 10,
            "pf": pf / 1000, "freq_hz": f / 1000, "import_wh": imp, "export_wh": exp, "tariff": tariff}


# BT23 registers.
def encode_registers(import_wh, export_wh, tariff, per_tariff_import_wh):
    out = struct.pack(">qqBB", import_wh, export_wh, tariff, len(per_tariff_import_wh))
    for wh in per_tariff_import_wh:
        out += struct.pack(">q", wh)
    return out


def decode_registers(data):
    _need(data, 18, "BT23")
    imp, exp, tariff, n = struct.unpack_from(">qqBB", data)
    _need(data, 18 + 8 * n, "BT23")
    per = [struct.unpack_from(">q", data, 18 + 8 * k)[0] for k in range(n)]
    return {"import_wh": imp, "export_wh": exp, "tariff": tariff, "tariff_import_wh": per}


# ET20 pricing and tariff.
def encode_tariff(active, changed_s, prices):
    """prices: [(price per kWh in 1/10000 units, name), ...]."""
    out = struct.pack(">BIB", active, changed_s, len(prices))
    for price, name in prices:
        raw = name.encode()[:8]
        out += struct.pack(">I", price) + raw + b" " * (8 - len(raw))
    return out


def decode_tariff(data):
    _need(data, 6, "ET20")
    active, changed, n = struct.unpack_from(">BIB", data)
    _need(data, 6 + 12 * n, "ET20")
    prices = []
    for k in range(n):
        at = 6 + 12 * k
        price = struct.unpack_from(">I", data, at)[0]
        prices.append({"price": price / 10000, "name": _text(data[at + 4:at + 12]).strip()})
    return {"active": active, "changed": changed, "tariffs": prices}


# ET21 customer overrides.
_OVERRIDES = ">BhI"
OVERRIDES_BYTES = const(7)
OVERRIDE_SETPOINT = const(0x01)
OVERRIDE_OPT_OUT = const(0x02)


def encode_overrides(flags, setpoint_c, until_s):
    return struct.pack(_OVERRIDES, flags, int(round(setpoint_c * 100)), until_s)


def decode_overrides(data):
    if len(data) != OVERRIDES_BYTES:
        raise FrameError("ET21: %d bytes, need %d" % (len(data), OVERRIDES_BYTES))
    flags, sp, until = struct.unpack(_OVERRIDES, data)
    if flags & ~(OVERRIDE_SETPOINT | OVERRIDE_OPT_OUT):
        raise FrameError("ET21: unknown flags 0x%02x" % flags)
    if not -5000 <= sp <= 5000:
        raise FrameError("ET21: set point out of range")
    return {"flags": flags, "setpoint_c": sp / 100, "until": until}


# ET50 non-urgent downlink area.
def encode_nonurgent(generation, t, items):
    """items: [(application, bytes), ...]."""
    out = struct.pack(">IIB", generation, t, len(items))
    for app, data in items:
        out += struct.pack(">BH", app, len(data)) + data
    return out


def decode_nonurgent(data):
    _need(data, 9, "ET50")
    gen, t, n = struct.unpack_from(">IIB", data)
    at = 9
    items = []
    for _ in range(n):
        _need(data, at + 3, "ET50")
        app, size = struct.unpack_from(">BH", data, at)
        at += 3
        _need(data, at + size, "ET50")
        items.append((app, bytes(data[at:at + size])))
        at += size
    return {"generation": gen, "t": t, "items": items}


# ET51 urgent queue head.
def encode_urgent(entry_id, t, app, data):
    return struct.pack(">IIB", entry_id, t, app) + data


def decode_urgent(data):
    if not data:
        return None
    _need(data, 9, "ET51")
    entry_id, t, app = struct.unpack_from(">IIB", data)
    return {"id": entry_id, "t": t, "app": app, "data": bytes(data[9:])}


# ET52 alert status.
_STATUS = ">BBIIII"


def encode_status(flags, urgent_queued, last_event, tariff_changed, nonurgent_gen, mbus_last):
    return struct.pack(_STATUS, flags, urgent_queued, last_event, tariff_changed, nonurgent_gen, mbus_last)


def decode_status(data):
    _need(data, struct.calcsize(_STATUS), "ET52")
    flags, queued, last_event, tariff_changed, gen, mbus_last = struct.unpack_from(_STATUS, data)
    return {"flags": flags, "urgent_queued": queued, "last_event": last_event, "tariff_changed": tariff_changed,
            "nonurgent_generation": gen, "mbus_last": mbus_last}


# ET13 M-Bus devices.
def encode_mbus_devices(devices):
    out = bytes([len(devices)])
    for d in devices:
        man = d.get("manufacturer", "").encode()[:3]
        out += struct.pack(">BI", d["index"], int(d.get("id", "0"), 16)) + man + b" " * (3 - len(man))
        out += bytes([d.get("medium", 0) & 0xFF, d.get("schedule", 5) & 0xFF])
    return out


def decode_mbus_devices(data):
    _need(data, 1, "ET13")
    n = data[0]
    _need(data, 1 + 10 * n, "ET13")
    out = []
    for k in range(n):
        at = 1 + 10 * k
        index, ident = struct.unpack_from(">BI", data, at)
        out.append({"index": index, "id": "%08x" % ident, "manufacturer": _text(data[at + 5:at + 8]).strip(),
                    "medium": data[at + 8], "schedule": data[at + 9]})
    return out


# Log tables (BT64, BT76, ET14, ET76): n (1) | n x [seq (4), length (2), record].
def encode_log(records, max_bytes):
    """records: iterable of (seq, bytes) oldest first; keeps the first that fit."""
    out = bytearray(1)
    n = 0
    for seq, data in records:
        if len(out) + 6 + len(data) > max_bytes or n == 255:
            break
        out += struct.pack(">IH", seq, len(data)) + data
        n += 1
    out[0] = n
    return out


def encode_log_newest(records, max_bytes):
    """The newest records that fit, oldest first (a full read of a log table)."""
    kept = []
    size = 1
    for seq, data in records:
        kept.append((seq, data))
        size += 6 + len(data)
        while size > max_bytes or len(kept) > 255:
            size -= 6 + len(kept[0][1])
            kept.pop(0)
    return encode_log(kept, max_bytes)


def decode_log(data):
    _need(data, 1, "log table")
    n = data[0]
    at = 1
    out = []
    for _ in range(n):
        _need(data, at + 6, "log table")
        seq, size = struct.unpack_from(">IH", data, at)
        at += 6
        _need(data, at + size, "log table")
        out.append((seq, bytes(data[at:at + size])))
        at += size
    return out


# BT64 profile record, ET14 data-set record, BT76/ET76 text records.
def encode_profile_record(end_s, import_wh, export_wh):
    return struct.pack(">Iqq", end_s, import_wh, export_wh)


def decode_profile_record(data):
    if len(data) != 20:
        raise FrameError("BT64 record: %d bytes, need 20" % len(data))
    end_s, imp, exp = struct.unpack(">Iqq", data)
    return {"end": end_s, "import_wh": imp, "export_wh": exp}


def encode_dataset_record(device_index, t, frame):
    return struct.pack(">BI", device_index, t) + frame


def decode_dataset_record(data):
    _need(data, 5, "ET14 record")
    index, t = struct.unpack_from(">BI", data)
    return {"device": index, "t": t, "frame": bytes(data[5:])}


# BT07 / BT08 procedures.
def encode_procedure(number, proc_seq, params=b""):
    return struct.pack(">HB", number, proc_seq & 0xFF) + params


def decode_procedure_response(data):
    _need(data, 4, "BT08")
    number, proc_seq, result = struct.unpack_from(">HBB", data)
    return {"procedure": number, "seq": proc_seq, "result": result, "data": bytes(data[4:])}
