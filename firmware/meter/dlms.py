# The meter's DLMS/COSEM server (lib/dlms/): its objects read from the meter's own state
# (registers and tariffs, metrology readings, clock, system log, wired M-Bus data sets),
# the load and daily profiles captured here into power-fail-safe rings, and the ports:
# HDLC on hw.dlms_uart (or the optical port when optical.protocol is "dlms") and the TCP
# wrapper where the board has a network (the host board on loopback).
#
#   dlms           serves the ports
#   dlms_profile   captures the 15-minute load profile and the daily profile
#
# Access: the public client (SAP 16) reads the listed subset without security; the
# management client (SAP 1) associates with HLS-GMAC and talks AES-GCM (suite 0) with the
# meter's DLMS keys (security/keys.py: dlms_guek, dlms_gak), may set the clock under the
# admin time rules and change the keys through the security setup object.

import struct
import rt
import status
from micropython import const
from store.ring import Ring
from dlms import axdr as X
from dlms.cosem import (Data, Register, ExtendedRegister, Clock, HdlcSetup, CosemObject, Refused, READ, NO,
                        OTHER_REASON, OBJECT_UNAVAILABLE, UNIT_W, UNIT_WH, UNIT_A, UNIT_V, UNIT_HZ, UNIT_NONE, obis, expect)
from dlms.profile import ProfileGeneric
from dlms.server import Server

_QUARTER_S = const(900)
_DAY_S = const(86400)
_ROW = ">IBII"  # time_s, status, import Wh, export Wh
_ROW_BYTES = const(13)
_EVENT_ROW = ">IH"
CLOCK_LN = obis("0-0:1.0.0")
_IMPORT_LN = obis("1-0:1.8.0")
_EXPORT_LN = obis("1-0:2.8.0")
_STATUS_LN = obis("0-0:96.10.1")
_EVENT_CODE_LN = obis("0-0:96.11.0")
# Standard event log codes (DLMS UA 1000-1, the "standard event log" group) for the
# system log's kinds; kinds not listed here are logged as 255 ("other").
EVENT_CODES = {"boot": 2, "power_up": 2, "time_set": 5, "time_refused": 6, "key_changed": 25,
               "provisioned": 25, "dlms_replay": 40, "auth_failed": 40, "ota_confirmed": 47,
               "ota_reverted": 48, "update_refused": 48, "calibration": 60}
_OTHER_EVENT = const(255)


class _RingRows:
    """Profile rows kept in a store.Ring of fixed-size records."""

    def __init__(self, folder, depth, fmt):
        self.fmt = fmt
        self.size = struct.calcsize(fmt)
        self.depth = depth
        per_segment = max(8, depth // 3)
        self.ring = Ring(folder, per_segment * (self.size + 11), 4)

    def append(self, *values):
        self.ring.append(struct.pack(self.fmt, *values))

    def rows(self):
        # The ring keeps up to 4 segments; only the newest `depth` rows are the profile.
        for _seq, data in self.ring.records(max(0, self.ring.last_seq - self.depth)):
            if len(data) == self.size:
                yield struct.unpack(self.fmt, data)

    def count(self):
        n = 0
        for _ in self.ring.records():
            n += 1
        return n

    def last(self):
        row = None
        for _seq, data in self.ring.records():
            row = data
        return struct.unpack(self.fmt, row) if row is not None and len(row) == self.size else None


class _EventRows:
    """The standard event log: the system log's records as (time, event code)."""

    def __init__(self, system_log, depth):
        self.log = system_log
        self.depth = depth

    def rows(self):
        import json

        ring = self.log.ring
        for _seq, payload in ring.records(max(0, ring.last_seq - self.depth)):
            try:
                record = json.loads(payload)
                yield int(record.get("t", 0)) & 0xFFFFFFFF, EVENT_CODES.get(record.get("kind"), _OTHER_EVENT)
            except (ValueError, TypeError, AttributeError):
                continue


class SecuritySetup(CosemObject):
    """Class 64, version 0: policy (authenticated and encrypted), suite 0, system titles;
    global_key_transfer (method 2) takes keys wrapped as the key model wraps key changes."""

    class_id = 64
    attributes = ((READ, READ), (READ, READ), (READ, READ), (NO, READ), (READ, READ))
    methods = ((NO, NO), (NO, READ))

    def __init__(self, ln, security, change_key):
        super().__init__(ln)
        self.security = security
        self.change_key = change_key  # (key id 0/2, wrapped 24 bytes) -> None, Refused if refused

    def get_value(self, attr, w, selector, params, assoc):
        if attr == 2:
            w.integer(X.ENUM, 3)  # all messages authenticated and encrypted (the management client)
        elif attr == 3:
            w.integer(X.ENUM, 0)  # AES-GCM-128
        elif attr == 4:
            w.octets(assoc.client_title or b"")
        else:
            w.octets(self.security.system_title if self.security is not None else b"")

    def action(self, method, param, w, assoc):
        # global_key_transfer: array of structure {key_id enum, key_wrapped octet-string}
        items = expect(param, X.ARRAY)
        if not items:
            raise Refused(OTHER_REASON)
        for item in items:
            fields = expect(item, X.STRUCTURE)
            if len(fields) != 2:
                raise Refused(OTHER_REASON)
            self.change_key(expect(fields[0], X.ENUM), expect(fields[1], X.OCTET_STRING))
        return False


class MBusClient(CosemObject):
    """Class 72, version 1: one wired M-Bus device as the poll scheduler knows it."""

    class_id = 72
    version = 1
    attributes = ((READ, READ),) + ((NO, READ),) * 13

    def __init__(self, ln, channel, port):
        super().__init__(ln)
        self.channel = channel
        self.port = port  # MBusView

    def get_value(self, attr, w, selector, params, assoc):
        ident = self.port.identity(self.channel)
        if attr == 2:
            w.octets(obis("0-0:24.6.0"))  # the M-Bus port
        elif attr == 3:
            w.array(0)
        elif attr == 4:
            w.integer(X.UINT32, self.port.period_s(self.channel))
        elif attr == 5:
            w.integer(X.UINT8, self.port.primary(self.channel))
        elif attr == 6:
            w.integer(X.UINT32, ident[0])
        elif attr == 7:
            w.integer(X.UINT16, ident[1])
        elif attr == 8:
            w.integer(X.UINT8, ident[2])
        elif attr == 9:
            w.integer(X.UINT8, ident[3])
        elif attr == 10:
            w.integer(X.UINT8, ident[4])
        elif attr == 11:
            w.integer(X.UINT8, ident[5])
        elif attr == 12:
            w.integer(X.UINT8, 0)
        elif attr == 13:
            w.integer(X.UINT16, 0)
        else:
            w.integer(X.ENUM, 0)  # no encryption key


# M-Bus units (lib/mbus/vif.py's names) to the COSEM unit enumeration.
_MBUS_UNITS = {"Wh": 30, "J": 25, "m^3": 13, "kg": 20, "W": 27, "J/h": 26, "m^3/h": 15, "°C": 9, "K": 9,
               "bar": 24}


def _manufacturer_code(name):
    # The decoder keeps the letters; class 72 wants the M-field value back (0: none valid).
    from wmbus.errors import WMBusError
    from wmbus.telegram import manufacturer_code

    try:
        return manufacturer_code(name or "")
    except WMBusError:
        return 0


class MBusView:
    """The wired M-Bus devices for classes 72 and 4: identity and the first instantaneous
    value of each device's newest data set (meter/mbus.py's scheduler stores them)."""

    def __init__(self, port):
        self.port = port
        self._seq = 0
        self._newest = {}  # channel -> (time_s, header, record) of its newest readable data set

    def _scan(self):
        from mbus.decode import decode_frame
        from mbus.errors import MBusError

        for seq, index, _kind, _code, time_s, frames in self.port.data_sets(self._seq):
            self._seq = seq
            for frame in frames:
                try:
                    t = decode_frame(frame)
                except MBusError:
                    continue
                for rec in t.records:
                    if self._usable(rec):
                        self._newest[index + 1] = (time_s, t.header, rec)
                        break
                break

    @staticmethod
    def _usable(rec):
        from mbus import vif as V

        if rec.function != "instantaneous" or rec.storage or rec.subunit or rec.vife or rec.vif is None:
            return False
        if rec.vif & 0x7F >= 0x6C or rec.unit not in _MBUS_UNITS:
            return False
        return V.lookup(V.PRIMARY, rec.vif)[4] == V.NUMBER and rec.number() is not None

    def _device(self, channel):
        devices = self.port.cfg["devices"]
        return devices[channel - 1] if channel <= len(devices) else None

    def identity(self, channel):
        self._scan()
        got = self._newest.get(channel)
        if got is None:
            return 0, 0, 0, 0, 0, 0
        h = got[1]
        try:
            ident = int(h.get("id") or "0", 16)  # the BCD identification number as its 8 digits
        except ValueError:
            ident = 0
        return (ident, _manufacturer_code(h.get("manufacturer")), h.get("version") or 0, h.get("medium") or 0,
                h.get("access_no") or 0, h.get("status") or 0)

    def primary(self, channel):
        device = self._device(channel)
        return device["address"] if device is not None and type(device["address"]) is int else 0

    def period_s(self, channel):
        device = self._device(channel)
        every = device["schedule"]["every"] if device is not None else None
        return {"hourly": 3600, "daily": 86400, "weekly": 7 * 86400}.get(every, 0)

    def value(self, channel):
        """(integer value, scaler, unit, status, capture time) or None before a data set."""
        self._scan()
        got = self._newest.get(channel)
        if got is None:
            return None
        time_s, header, rec = got
        value, scaler = register_number(rec)
        return value, scaler, _MBUS_UNITS[rec.unit], header.get("status") or 0, time_s


_INT64_LIMIT = 1 << 63


def register_number(rec):
    """(integer, scaler) of a number record for a COSEM register: the record layer's exact
    integer and decimal exponent (no float). An integer or BCD field fits as it is; a real's
    exact binary value can run to 30 digits or more, so it is rounded once (half away from
    zero) to what a 64-bit value holds: 18 digits, far beyond a single's 7. The scaler stays
    within int8: the smallest single (1.4e-45) becomes 19 digits times 10**-63."""
    value, exp = rec.number()
    mag = -value if value < 0 else value
    k = 0
    while mag >= _INT64_LIMIT * 10 ** k:
        k += 1
    if k:
        div = 10 ** k
        mag = (2 * mag + div) // (2 * div)
        value = -mag if value < 0 else mag
        exp += k
    return value, exp


class DlmsMeter:
    def __init__(self, meter, cfg, log, security=None, set_time=None, change_key=None, mbus=None):
        self.meter = meter
        self.cfg = cfg
        self.log = log
        self.clock = meter.hw.clock
        root = meter.hw.storage_root + "/dlms"
        self.load = _RingRows(root + "/load", cfg["load_profile_days"] * 96, _ROW)
        self.daily = _RingRows(root + "/daily", cfg["daily_profile_days"], _ROW)
        self.server = Server(security=security, log=log)
        self.security = security
        self._set_time = set_time
        self._change_key = change_key
        self.counts = {"connections": 0, "apdus": 0}
        self.ports = []
        self.tcp_server = None
        self._signature = None  # SHA-256 of the application's modules, on first read
        self._objects(mbus)

    # ---- values
    def _regs(self):
        return self.meter.registers

    def _tariff_value(self, table, k):
        regs = getattr(self._regs(), table)
        return regs[k] if k < len(regs) else 0

    def _reading(self, name, scale):
        metrology = self.meter.metrology
        if metrology is None:
            return 0
        return round(getattr(metrology.readings, name) * scale)  # float reading to the register's integer

    def _status_byte(self):
        return 0 if self.meter.metrology is not None else 0x01  # bit 0: no measurement

    def set_time(self, t):
        if self._set_time is None:
            raise Refused(OTHER_REASON)
        try:
            self._set_time(t)
        except Exception as exc:  # the time rules refused (drift), logged by them
            self.log.warn("dlms: clock set refused: %s", exc)
            raise Refused(OTHER_REASON)

    def change_key(self, key_id, wrapped):
        if self._change_key is None:
            raise Refused(OTHER_REASON)
        try:
            self._change_key(key_id, wrapped)
        except Exception as exc:  # broad: any refusal of the key model (wrap, counter, storage) is an answer
            self.log.warn("dlms: key transfer refused: %s", exc)
            raise Refused(OTHER_REASON)
        if self.security is not None:
            self.security.rekeyed()

    def _objects(self, mbus):
        s = self.server
        cfg = self.cfg
        add = s.add
        regs = self._regs
        meter_id = self.meter.cfg["meter_id"]
        add(Clock(CLOCK_LN, self.clock, self.set_time))
        add(Data("0-0:42.0.0", lambda: (X.OCTET_STRING, (cfg["manufacturer"] + meter_id).encode())))
        add(Data("0-0:96.1.0", lambda: (X.VISIBLE_STRING, meter_id)))
        add(Data("1-0:0.2.0", lambda: (X.VISIBLE_STRING, self._firmware_version())))
        add(Data("1-0:0.2.8", lambda: (X.OCTET_STRING, self._firmware_signature())))
        add(Register(_IMPORT_LN, lambda: regs().import_wh, X.UINT32, 0, UNIT_WH))
        add(Register(_EXPORT_LN, lambda: regs().export_wh, X.UINT32, 0, UNIT_WH))
        for k in range(4):
            add(Register("1-0:1.8.%d" % (k + 1), lambda k=k: self._tariff_value("tariff_import_wh", k),
                         X.UINT32, 0, UNIT_WH))
            add(Register("1-0:2.8.%d" % (k + 1), lambda k=k: self._tariff_value("tariff_export_wh", k),
                         X.UINT32, 0, UNIT_WH))
        add(Register("1-0:1.7.0", lambda: max(0, self._reading("p_w", 1)), X.UINT32, 0, UNIT_W))
        add(Register("1-0:2.7.0", lambda: max(0, -self._reading("p_w", 1)), X.UINT32, 0, UNIT_W))
        add(Register("1-0:32.7.0", lambda: self._reading("vrms", 10), X.UINT16, -1, UNIT_V))
        add(Register("1-0:31.7.0", lambda: self._reading("irms", 1000), X.UINT32, -3, UNIT_A))
        add(Register("1-0:13.7.0", lambda: self._reading("pf", 1000), X.INT16, -3, UNIT_NONE))
        add(Register("1-0:14.7.0", lambda: self._reading("freq_hz", 100), X.UINT16, -2, UNIT_HZ))
        add(Data("0-0:96.14.0", lambda: (X.UINT8, regs().tariff + 1)))
        add(Data(_STATUS_LN, lambda: (X.UINT8, self._status_byte())))
        columns = ((8, CLOCK_LN, 2, X.DATE_TIME), (1, _STATUS_LN, 2, X.UINT8), (3, _IMPORT_LN, 2, X.UINT32),
                   (3, _EXPORT_LN, 2, X.UINT32))
        add(ProfileGeneric("1-0:99.1.0", columns, self.load, _QUARTER_S))
        add(ProfileGeneric("1-0:99.2.0", columns, self.daily, _DAY_S))
        events = _EventRows(self.meter.logs.system, cfg["event_log_depth"])
        add(Data(_EVENT_CODE_LN, lambda: (X.UINT16, self._last_event(events)), ((READ, READ), (NO, READ))))
        add(ProfileGeneric("0-0:99.98.0", ((8, CLOCK_LN, 2, X.DATE_TIME), (1, _EVENT_CODE_LN, 2, X.UINT16)),
                           events, 0, public=False))
        add(SecuritySetup("0-0:43.0.0", self.security, self.change_key))
        add(Data("0-0:43.1.0", lambda: (X.UINT32, (self.security.last_client_ic + 1) & 0xFFFFFFFF
                                        if self.security is not None else 0)))
        add(HdlcSetup("0-0:22.0.0", self._hdlc_settings))
        if mbus is not None:
            for channel in range(1, 5):
                add(MBusClient("0-%d:24.1.0" % channel, channel, mbus))
                add(ExtendedRegister("0-%d:24.2.1" % channel, lambda c=channel: mbus.value(c)))

    def _last_event(self, events):
        code = 0
        for row in events.rows():
            code = row[1]
        return code

    def _firmware_version(self):
        try:
            from ota.slots import read_state

            return read_state(self.meter.hw.storage_root)["version"]
        except Exception:  # no OTA state yet: the factory image
            return "factory"

    def _firmware_signature(self):
        # SHA-256 of the running application's modules (computed once, on first read).
        sig = self._signature
        if sig is None:
            import hashlib
            import os
            import meter

            path = getattr(meter, "__file__", "")
            if "/" not in path:  # frozen into the firmware image: no module files to hash
                raise Refused(OBJECT_UNAVAILABLE)
            folder = path.rsplit("/", 1)[0]
            h = hashlib.sha256()
            buf = bytearray(256)
            for name in sorted(os.listdir(folder)):
                if name.endswith(".py") or name.endswith(".mpy"):
                    with open(folder + "/" + name, "rb") as f:
                        while True:
                            n = f.readinto(buf)
                            if not n:
                                break
                            h.update(memoryview(buf)[:n])
            sig = self._signature = h.digest()
        return sig

    def _hdlc_settings(self):
        c = self.cfg
        return (5, c["window"], 7, c["max_info"], c["max_info"], 1000, c["inactivity_s"], c["physical_address"])

    # ---- profiles
    def capture(self, table, t_s):
        regs = self._regs()
        table.append(t_s & 0xFFFFFFFF, self._status_byte(), regs.import_wh, regs.export_wh)

    async def profile_task(self, progress):
        """Capture at every quarter hour (and at midnight the daily row), calendar time."""
        clock = self.clock
        while True:
            now = clock.time_s()
            due = (now // _QUARTER_S + 1) * _QUARTER_S
            await clock.sleep_ms((due - now) * 1000)
            now = clock.time_s()
            stamp = now - now % _QUARTER_S
            self.capture(self.load, stamp)
            if stamp % _DAY_S == 0:
                self.capture(self.daily, stamp)
            progress()

    # ---- ports
    async def start_tcp(self, host, port):
        """The TCP wrapper's listener (kept in self.tcp_server until close())."""
        from dlms.transport import start_wrapper

        self.tcp_server = await start_wrapper(self.server, host, port, self.counts, self.cfg["inactivity_s"] * 1000)
        return self.tcp_server

    async def serve_task(self, progress, uart=None, mode_e=False):
        """Serve the HDLC port (if any) until cancelled; the TCP listener runs beside it."""
        from dlms.transport import HdlcPort

        cfg = self.cfg
        if uart is None:
            while True:
                await rt.sleep_ms(5000)
                progress()
        port = HdlcPort(self.server, uart, physical=cfg["physical_address"],
                        inactivity_ms=cfg["inactivity_s"] * 1000, max_info=cfg["max_info"], progress=progress,
                        max_window=cfg["window"],
                        mode_e=(cfg["manufacturer"].encode(), self.meter.cfg["meter_id"].encode()) if mode_e else None)
        self.ports.append(port)
        try:
            await port.run()
        finally:
            self.ports.remove(port)

    def close(self):
        server = self.tcp_server
        if server is not None:
            server.close()
            self.tcp_server = None

    def status(self):
        counts = dict(self.server.counts)
        counts.update(self.counts)
        for port in self.ports:
            for key, value in port.link.counts.items():
                counts["hdlc_" + key] = counts.get("hdlc_" + key, 0) + value
        return counts

    def report(self):
        status.emit("dlms", self.status())


def system_title(hw, manufacturer="QQQ"):
    """8 bytes: the manufacturer's three letters and the last five bytes of the chip id."""
    uid = bytes(hw.unique_id)
    return manufacturer.encode() + (bytes(5) + uid)[-5:]


def build_security(hw, log, manufacturer="QQQ"):
    """Suite 0 for the management client over the key store's DLMS keys, or None (logged)
    where the board has no key store or the keys were not provisioned."""
    from dlms.security import Security
    from security import keys as K

    try:
        device_keys = K.open_device_keys(hw)
        device_keys.key(K.DLMS_EK, K.DLMS_MANAGEMENT)
        device_keys.key(K.DLMS_AK, K.DLMS_MANAGEMENT)
    except Exception as exc:  # no key store or no DLMS keys: the public client only
        log.error("DLMS management client disabled: %s", exc)
        return None

    def keys():
        return (device_keys.key(K.DLMS_EK, K.DLMS_MANAGEMENT), device_keys.key(K.DLMS_AK, K.DLMS_MANAGEMENT))

    security = Security(hw.storage_root + "/dlms", system_title(hw, manufacturer), keys)
    security.device_keys = device_keys
    return security


def key_changer(security):
    """global_key_transfer: key id 0 (global unicast) or 2 (authentication), wrapped as a key
    model key change under change_kek(current key, name, next key-change counter)."""
    from security import keys as K

    names = {0: K.DLMS_EK, 2: K.DLMS_AK}

    def change(key_id, wrapped):
        name = names.get(key_id)
        if name is None or security is None:
            raise ValueError("no key %r to transfer" % (key_id,))
        dk = security.device_keys
        dk.change_key(name, dk.kcc(name) + 1, wrapped)

    return change


def add_to(meter, sup, margin_ms, commands):
    """The meter's DLMS tasks (app.py calls this when dlms.enabled): the ports on
    hw.dlms_uart (or the optical port when optical.protocol is "dlms") and on dlms.tcp,
    and the profile capture. commands: the admin's security.commands.Commands, whose time
    rules decide a clock set (None without a key store: the clock is read-only). Returns
    the DlmsMeter."""
    hw = meter.hw
    cfg = meter.cfg["dlms"]
    log = meter.log.tagged("dlms")
    uart = hw.dlms_uart
    mode_e = False
    if uart is None and (meter.cfg.get("optical") or {}).get("protocol") == "dlms":
        uart = hw.optical_uart
        mode_e = cfg["optical_mode_e"]  # a probe opens with the IEC 62056-21 sign-on
    security = build_security(hw, log, cfg["manufacturer"])
    set_time = None
    if commands is not None:
        def set_time(t):
            # The admin time rules (drift limit, logged to the system log) decide.
            commands.set_time_authorised(t, "dlms")

    mbus = MBusView(meter.mbus) if meter.mbus is not None else None
    dm = DlmsMeter(meter, cfg, log, security=security, set_time=set_time, change_key=key_changer(security),
                   mbus=mbus)
    tcp = cfg["tcp"]

    async def serve(progress):
        if tcp and dm.tcp_server is None:
            host, port = tcp.rsplit(":", 1)
            await dm.start_tcp(host, int(port))
            log.info("TCP wrapper on %s", tcp)
        try:
            await dm.serve_task(progress, uart, mode_e)
        finally:
            dm.close()

    sup.add("dlms", serve, cfg["inactivity_s"] * 1000 + margin_ms)
    sup.add("dlms_profile", dm.profile_task, hw.clock.real_ms(_QUARTER_S * 1000) * 2 + margin_ms)
    return dm
