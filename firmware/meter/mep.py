# The meter's MEP port: the table set of docs/mep.md backed by the Meter object, the
# replay window, the event and consumer logs, the interval energy profile, the downlink
# areas (non-urgent, urgent queue with acknowledgements), and the server task on
# hw.mep_uart. The protocol itself is lib/mep/.
#
# Tasks (added to the meter's supervisor by Meter.build):
#   mep           answers the MEP device, raises alerts
#   mep_profile   one interval energy record every profile_period_s
#   mep_inbox     the utility side's downlink data (on the host: files in inbox_dir)

import json
import os
import struct
import rt
import status
from micropython import const
from store.ring import Ring
from store.atomic import AtomicRecord
from store.fs import StoreError
from mep import tables as T
from mep.errors import MEPError, FrameError
from mep.secure import LinkKeys
from mep.seqwindow import SeqWindow
from mep.server import Server

_LOG_SEGMENT_BYTES = const(4096)
_LOG_SEGMENTS = const(4)
_URGENT_MAX = const(16)  # queued urgent entries; the oldest is refused beyond this
_URGENT_MAX_BYTES = const(200)
_NONURGENT_MAX_BYTES = const(400)
_INBOX_POLL_MS = const(1000)
_READINGS = ("vrms", "irms", "p_w", "q_var", "s_va", "pf", "freq_hz")


class NoMBus:
    """The M-Bus adapter the MEP tables use, with no M-Bus master behind it.

    The interface (the wired M-Bus scheduler's adapter implements the same):
      devices()                 [{"index", "id" (8 hex/BCD digits), "manufacturer", "medium", "schedule"}]
      data_sets(after_seq)      yields (seq, device_index, t, raw frame bytes), oldest first
      last_seq()                the newest data set's seq (0: none)
      request_read(index)       asks for an on-demand read; True if accepted
    """

    def devices(self):
        return []

    def data_sets(self, after_seq):
        return iter(())

    def last_seq(self):
        return 0

    def request_read(self, index):
        return False


def _json_record(clock, kind, fields):
    entry = {"t": clock.time_s(), "kind": kind}
    entry.update(fields)
    return json.dumps(entry).encode()


class MeterMEP:
    def __init__(self, meter, cfg, key, log, mbus=None):
        hw = meter.hw
        self.meter = meter
        self.hw = hw
        self.clock = hw.clock
        self.cfg = cfg
        self.log = log
        self.mbus = mbus if mbus is not None else NoMBus()
        root = hw.storage_root + "/mep"
        self.root = root
        self.window = SeqWindow(root + "/seq", cfg["seq_block"])
        # Records are about 31 bytes with the ring's framing: a third of the depth per
        # segment keeps at least `depth` records across the four segments.
        per_segment = (cfg["profile_depth"] + 2) // 3
        self.profile = Ring(root + "/profile", max(128, per_segment * 32), 4)
        self.events = Ring(root + "/events", _LOG_SEGMENT_BYTES, _LOG_SEGMENTS)
        logs = getattr(meter, "logs", None)  # the meter's device logs (security/logs.py)
        if logs is None:
            from security.logs import DeviceLog

            self.consumer = DeviceLog(hw.storage_root + "/log/consumer", "consumer", self.clock)
        else:
            self.consumer = logs.consumer
        self._overrides = AtomicRecord(root + "/overrides")
        self._nonurgent = AtomicRecord(root + "/nonurgent")
        self._urgent = AtomicRecord(root + "/urgent")
        self._tariff = AtomicRecord(root + "/tariff")
        saved = self._tariff.read_json() or {}
        # The registers keep the tariff in force (schedule or command); this side notes when
        # it changed and who changed it, so the device can be alerted.
        self._restore_command(saved)
        self._last_tariff = self.tariff
        self.tariff_changed = saved.get("changed", 0)
        self.tariff_source = saved.get("source", "default")
        queue = self._urgent.read_json() or {}
        self.urgent = queue.get("entries", [])
        self.urgent_next_id = queue.get("next_id", 1)
        self.nonurgent_image = self._nonurgent.read() or T.encode_nonurgent(0, 0, [])
        self.nonurgent_gen = T.decode_nonurgent(self.nonurgent_image)["generation"]
        self.overrides_image = self._overrides.read() or T.encode_overrides(0, 0, 0)
        self.inbox_errors = 0
        # What the device acknowledged seeing (procedure 0x0803); in RAM: after a restart
        # the alert is raised again, and reading twice is harmless.
        self._seen = {"events": self.events.last_seq, "tariff": self.tariff_changed,
                      "nonurgent": self.nonurgent_gen, "mbus": self.mbus.last_seq()}
        self.server = Server(
            LinkKeys(key), self.window, frame_timeout_ms=cfg["frame_timeout_ms"],
            auth_fail_burst=cfg["auth_fail_burst"], auth_window_ms=cfg["auth_window_s"] * 1000,
            auth_lockout_ms=cfg["auth_lockout_s"] * 1000, alert_interval_ms=cfg["alert_interval_ms"],
            alert_flags=self.alert_flags, on_private=self.private_access, on_event=self.event,
        )
        self._register()

    # The tables.
    def _register(self):
        s = self.server
        s.add(T.IDENT, self.ident_image)
        s.add(T.REGISTERS, self.registers_image, private=True)
        s.add(T.REALTIME, self.realtime_image, private=True)
        s.add(T.CLOCK, lambda: struct.pack(">I", self.clock.time_s()))
        s.add(T.PROFILE, self._log_reader(self.profile), private=True, log=True)
        s.add(T.EVENTS, self._log_reader(self.events), private=True, log=True)
        s.add(T.MBUS_DEVICES, lambda: T.encode_mbus_devices(self.mbus.devices()))
        s.add(T.MBUS_DATA, self.mbus_data, private=True, log=True)
        s.add(T.TARIFF, self.tariff_image)
        s.add(T.OVERRIDES, lambda: self.overrides_image, write=self.write_overrides)
        s.add(T.NONURGENT, lambda: self.nonurgent_image)
        s.add(T.URGENT, self.urgent_image, private=True)
        s.add(T.ALERT_STATUS, self.status_image)
        s.add(T.CONSUMER_LOG, self._log_reader(self.consumer.ring), private=True, log=True)
        s.add(T.SECURITY, None)  # the utility's: not readable with the MEP key
        s.add_procedure(T.PROC_ACK_URGENT, self.ack_urgent)
        s.add_procedure(T.PROC_MBUS_READ, self.mbus_read)
        s.add_procedure(T.PROC_ACK_ALERT, self.ack_alert)
        s.add_procedure(T.PROC_SET_TARIFF, lambda params: (T.RESULT_NO_AUTH, b""))

    def _restore_command(self, saved):
        # A commanded tariff survives a restart for as long as it would have held: until
        # the schedule's next switch point after the command (metrology/tariff.py).
        source = saved.get("source")
        if "active" not in saved or source in (None, "default", "schedule"):
            return
        registers = self.meter.registers
        try:
            registers.set_tariff(saved["active"], source, saved.get("changed", 0))
            registers.update_tariff(self.clock.time_s())
        except ValueError:  # fewer tariffs configured than when it was given
            pass

    @property
    def tariff(self):
        return self.meter.registers.tariff

    def tariff_count(self):
        # As many tariffs as the registers keep, named by tariff_names (defaults beyond it).
        return len(self.meter.registers.tariff_import_wh)

    def _track_tariff(self):
        # A time-of-use switch in the registers is a tariff change too.
        if self.tariff != self._last_tariff:
            self._last_tariff = self.tariff
            self.tariff_changed = self.clock.time_s()
            self.tariff_source = "schedule"

    def _tariffs(self):
        names = self.cfg["tariff_names"]
        prices = self.cfg["tariff_prices"]
        return [(T.price_units(prices[i]) if i < len(prices) else 0, names[i] if i < len(names) else "t%d" % i)
                for i in range(self.tariff_count())]

    def ident_image(self):
        meter_id = self.meter.cfg["meter_id"]
        caps = 0x01 | 0x02 | 0x04 | 0x08
        return T.encode_ident(bytes.fromhex(meter_id), self.server.max_body, self.tariff_count(), caps)

    def _register_values(self):
        regs = self.meter.registers
        return getattr(regs, "import_wh", 0), getattr(regs, "export_wh", 0)

    def realtime_image(self):
        metrology = self.meter.metrology
        r = metrology.readings if metrology is not None else None
        values = [getattr(r, name, 0.0) or 0.0 for name in _READINGS]
        imp, exp = self._register_values()
        values.append(imp)
        values.append(exp)
        values.append(self.tariff)
        return T.encode_realtime(self.clock.time_s(), *values)

    def registers_image(self):
        imp, exp = self._register_values()
        # Per-tariff registers come from the metrology stream's registers where they exist.
        per = getattr(self.meter.registers, "tariff_import_wh", None) or []
        return T.encode_registers(imp, exp, self.tariff, list(per))

    def tariff_image(self):
        return T.encode_tariff(self.tariff, self.tariff_changed, self._tariffs())

    def urgent_image(self):
        if not self.urgent:
            return b""
        e = self.urgent[0]
        return T.encode_urgent(e["id"], e["t"], e["app"], bytes.fromhex(e["data"]))

    def status_image(self):
        return T.encode_status(self.alert_flags(), len(self.urgent), self.events.last_seq, self.tariff_changed,
                               self.nonurgent_gen, self.mbus.last_seq())

    def _log_reader(self, ring):
        def read(after_seq, max_bytes):
            if after_seq is None:
                return T.encode_log_newest(ring.records(), max_bytes)
            return T.encode_log(ring.records(after_seq), max_bytes)

        return read

    def mbus_data(self, after_seq, max_bytes):
        def records(after):
            for seq, index, t, frame in self.mbus.data_sets(after):
                yield seq, T.encode_dataset_record(index, t, frame)

        if after_seq is None:
            return T.encode_log_newest(records(0), max_bytes)
        return T.encode_log(records(after_seq), max_bytes)

    def alert_flags(self):
        self._track_tariff()
        flags = 0
        if self.urgent:
            flags |= T.ALERT_URGENT
        if self.events.last_seq > self._seen["events"]:
            flags |= T.ALERT_EVENTS
        if self.tariff_changed != self._seen["tariff"]:
            flags |= T.ALERT_TARIFF
        if self.nonurgent_gen != self._seen["nonurgent"]:
            flags |= T.ALERT_NONURGENT
        if self.mbus.last_seq() > self._seen["mbus"]:
            flags |= T.ALERT_MBUS
        return flags

    # Writes and procedures from the device.
    def write_overrides(self, offset, data):
        if offset != 0:
            return T.ERR_TABLE_OP
        try:
            value = T.decode_overrides(data)
        except FrameError:
            return T.ERR_TABLE_OP
        self._overrides.write(data)
        self.overrides_image = bytes(data)
        self.event("override", value)
        value["t"] = self.clock.time_s()
        status.emit("mep_override", value)  # what the customer asked for, for the utility side
        return T.OK

    def ack_urgent(self, params):
        if len(params) != 5 or params[4] > 1:
            return T.RESULT_INVALID, b""
        entry_id = struct.unpack(">I", params[:4])[0]
        if not self.urgent or self.urgent[0]["id"] != entry_id:
            return T.RESULT_INVALID, b""
        outcome = "success" if params[4] == 0 else "failure"
        entry = self.urgent.pop(0)
        self._save_urgent()
        # The receipt for the sender: an event, and a status line the head-end side reads.
        self.event("urgent_ack", {"id": entry_id, "app": entry["app"], "outcome": outcome})
        status.emit("mep_urgent_ack", {"t": self.clock.time_s(), "id": entry_id, "outcome": outcome})
        return T.RESULT_DONE, b""

    def mbus_read(self, params):
        if len(params) != 1:
            return T.RESULT_INVALID, b""
        return (T.RESULT_ACCEPTED if self.mbus.request_read(params[0]) else T.RESULT_INVALID), b""

    def ack_alert(self, params):
        if len(params) != 1:
            return T.RESULT_INVALID, b""
        flags = params[0]
        if flags & T.ALERT_EVENTS:
            self._seen["events"] = self.events.last_seq
        if flags & T.ALERT_TARIFF:
            self._seen["tariff"] = self.tariff_changed
        if flags & T.ALERT_NONURGENT:
            self._seen["nonurgent"] = self.nonurgent_gen
        if flags & T.ALERT_MBUS:
            self._seen["mbus"] = self.mbus.last_seq()
        return T.RESULT_DONE, b""

    # Logs.
    def event(self, kind, fields):
        try:
            self.events.append(_json_record(self.clock, kind, fields))
        except (OSError, StoreError) as exc:
            self.log.error("event log: %s", exc)

    def private_access(self, table):
        try:
            self.consumer.append("mep_read", {"table": T.NAMES.get(table, "%04x" % table)})
        except (OSError, StoreError) as exc:
            self.log.error("consumer log: %s", exc)

    # The utility side (and the lead's reconnection point for tariffs).
    def set_tariff(self, index, source="utility"):
        """Switch the active tariff by command: the registers apply it (it holds until the
        time-of-use schedule's next switch) and this side records it and alerts the device."""
        if not 0 <= index < self.tariff_count():
            raise MEPError("tariff %r: must be 0..%d" % (index, self.tariff_count() - 1))
        self.meter.registers.set_tariff(index, source)
        self._last_tariff = index
        self.tariff_changed = self.clock.time_s()
        self.tariff_source = source
        self._tariff.write_json({"active": index, "changed": self.tariff_changed, "source": source})
        self.event("tariff", {"active": index, "name": self._tariffs()[index][1], "source": source})

    def put_urgent(self, app, data):
        if len(data) > _URGENT_MAX_BYTES:
            raise MEPError("urgent data of %d bytes exceeds %d" % (len(data), _URGENT_MAX_BYTES))
        if len(self.urgent) >= _URGENT_MAX:
            raise MEPError("urgent queue full")
        entry_id = self.urgent_next_id
        self.urgent_next_id += 1
        self.urgent.append({"id": entry_id, "t": self.clock.time_s(), "app": app, "data": bytes(data).hex()})
        self._save_urgent()
        self.event("urgent_queued", {"id": entry_id, "app": app})
        return entry_id

    def _save_urgent(self):
        self._urgent.write_json({"entries": self.urgent, "next_id": self.urgent_next_id})

    def put_nonurgent(self, items):
        gen = self.nonurgent_gen + 1
        image = T.encode_nonurgent(gen, self.clock.time_s(), items)
        if len(image) > _NONURGENT_MAX_BYTES:
            raise MEPError("non-urgent area of %d bytes exceeds %d" % (len(image), _NONURGENT_MAX_BYTES))
        self._nonurgent.write(image)
        self.nonurgent_image = image
        self.nonurgent_gen = gen
        self.event("nonurgent", {"generation": gen, "items": len(items)})

    def apply_downlink(self, message):
        """One utility message (a dict): {"tariff": i} | {"urgent": item} | {"nonurgent": [items]},
        an item {"app": n, "text": "..."} or {"app": n, "json": {...}}. MEPError if malformed."""
        if type(message) is not dict or len(message) != 1:
            raise MEPError("downlink: one of tariff, urgent, nonurgent")
        if "tariff" in message:
            index = message["tariff"]
            if type(index) is not int:
                raise MEPError("downlink: tariff must be an integer")
            self.set_tariff(index, "utility")
        elif "urgent" in message:
            app, data = _item(message["urgent"])
            self.put_urgent(app, data)
        elif "nonurgent" in message:
            items = message["nonurgent"]
            if type(items) is not list:
                raise MEPError("downlink: nonurgent must be a list")
            self.put_nonurgent([_item(i) for i in items])
        else:
            raise MEPError("downlink: one of tariff, urgent, nonurgent")

    # Tasks.
    async def serve_task(self, progress):
        await self.server.serve(self.hw.mep_uart, progress)

    async def profile_task(self, progress):
        period_ms = self.cfg["profile_period_s"] * 1000
        while True:
            await self.clock.sleep_ms(period_ms)
            imp, exp = self._register_values()
            self.profile.append(T.encode_profile_record(self.clock.time_s(), imp, exp))
            progress()

    async def inbox_task(self, progress):
        """The utility's downlink messages, and the port's counters as a status line."""
        folder = self.cfg["inbox_dir"]
        status_ms = self.cfg["status_interval_s"] * 1000
        last = rt.ticks_ms()
        while True:
            await rt.sleep_ms(_INBOX_POLL_MS)
            if folder:
                self.poll_inbox(folder)
            if rt.ticks_diff(rt.ticks_ms(), last) >= status_ms:
                last = rt.ticks_ms()
                self.emit_status()
            progress()

    def poll_inbox(self, folder):
        try:
            names = sorted(n for n in os.listdir(folder) if n.endswith(".json"))
        except OSError:
            return
        for name in names:
            path = folder + "/" + name
            try:
                with open(path) as f:
                    message = json.loads(f.read())
                self.apply_downlink(message)
            except (ValueError, OSError) as exc:  # MEPError is a ValueError; so is bad JSON
                self.inbox_errors += 1
                self.log.warn("inbox %s rejected: %s", name, exc)
            try:
                os.remove(path)
            except OSError:
                pass

    def emit_status(self):
        fields = self.server.counters()
        fields["t"] = self.clock.time_s()
        fields["tariff"] = self.tariff
        fields["urgent_queued"] = len(self.urgent)
        fields["inbox_errors"] = self.inbox_errors
        status.emit("mep", fields)


def _item(item):
    if type(item) is not dict or type(item.get("app")) is not int or not 0 < item["app"] < 256:
        raise MEPError("downlink item needs an application number 1..255")
    if "text" in item:
        return item["app"], str(item["text"]).encode()
    if "json" in item:
        return item["app"], json.dumps(item["json"]).encode()
    raise MEPError("downlink item needs text or json")
