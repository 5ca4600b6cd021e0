# The table set of docs/mep.md backed by the meter: identification, registers, real-time
# readings, clock, the logs (profile, events, consumer), the wired M-Bus devices and data
# sets, tariff, overrides, the downlink areas, alert status; the procedures; and the alert
# flags with what the device acknowledged seeing. The protocol is lib/mep/ (tables.py the
# encodings, server.py the server these are registered with).

from micropython import const
import struct
from mep import tables as T

_READINGS = ("vrms", "irms", "p_w", "q_var", "s_va", "pf", "freq_hz")
_CAPS = const(0x01 | 0x02 | 0x04 | 0x08)


class NoMBus:
    """The M-Bus adapter the MEP tables use, with no M-Bus master behind it.

    The interface (the wired M-Bus scheduler's adapter, meter/mep_mbus.py, implements the same):
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


def _log_reader(ring):
    def read(after_seq, max_bytes):
        if after_seq is None:
            return T.encode_log_newest(ring.records(), max_bytes)
        return T.encode_log(ring.records(after_seq), max_bytes)

    return read


class MeterTables:
    def __init__(self, meter, clock, tariffs, downlink, mbus, events, profile, consumer_ring):
        self.meter = meter  # registers, metrology (None without samples), cfg["meter_id"]
        self.clock = clock
        self.tariffs = tariffs  # mep_tariff.TariffTracker
        self.downlink = downlink  # mep_downlink.Downlink
        self.mbus = mbus  # NoMBus or meter/mep_mbus.py MBusTables
        self.events = events  # Ring: the port's event log
        self.profile = profile  # Ring: interval energy records
        self.consumer_ring = consumer_ring  # the consumer log's ring (security/logs.py)
        self.server = None
        # What the device acknowledged seeing (procedure 0x0803); in RAM: after a restart
        # the alert is raised again, and reading twice is harmless.
        self._seen = {"events": events.last_seq, "tariff": tariffs.changed_s,
                      "nonurgent": downlink.nonurgent_gen, "mbus": mbus.last_seq()}

    def register(self, server):
        """Add every table and procedure to server (lib/mep/server.py)."""
        self.server = s = server
        tariffs, downlink = self.tariffs, self.downlink
        s.add(T.IDENT, self.ident_image)
        s.add(T.REGISTERS, self.registers_image, private=True)
        s.add(T.REALTIME, self.realtime_image, private=True)
        s.add(T.CLOCK, lambda: struct.pack(">I", self.clock.time_s()))
        s.add(T.PROFILE, _log_reader(self.profile), private=True, log=True)
        s.add(T.EVENTS, _log_reader(self.events), private=True, log=True)
        s.add(T.MBUS_DEVICES, lambda: T.encode_mbus_devices(self.mbus.devices()))
        s.add(T.MBUS_DATA, self.mbus_data, private=True, log=True)
        s.add(T.TARIFF, tariffs.image)
        s.add(T.OVERRIDES, lambda: downlink.overrides_image, write=downlink.write_overrides)
        s.add(T.NONURGENT, lambda: downlink.nonurgent_image)
        s.add(T.URGENT, downlink.urgent_image, private=True)
        s.add(T.ALERT_STATUS, self.status_image)
        s.add(T.CONSUMER_LOG, _log_reader(self.consumer_ring), private=True, log=True)
        s.add(T.SECURITY, None)  # the utility's: not readable with the MEP key
        s.add_procedure(T.PROC_ACK_URGENT, downlink.ack_urgent)
        s.add_procedure(T.PROC_MBUS_READ, self.mbus_read)
        s.add_procedure(T.PROC_ACK_ALERT, self.ack_alert)
        s.add_procedure(T.PROC_SET_TARIFF, lambda params: (T.RESULT_NO_AUTH, b""))

    def ident_image(self):
        meter_id = self.meter.cfg["meter_id"]
        return T.encode_ident(bytes.fromhex(meter_id), self.server.max_body, self.tariffs.count(), _CAPS)

    def register_values(self):
        """(import_wh, export_wh) of the energy registers."""
        regs = self.meter.registers
        return regs.import_wh, regs.export_wh

    def realtime_image(self):
        metrology = self.meter.metrology
        r = metrology.readings if metrology is not None else None
        values = [getattr(r, name, 0.0) or 0.0 for name in _READINGS]  # by name: r is None without samples
        imp, exp = self.register_values()
        values.append(imp)
        values.append(exp)
        values.append(self.tariffs.active)
        return T.encode_realtime(self.clock.time_s(), *values)

    def registers_image(self):
        imp, exp = self.register_values()
        return T.encode_registers(imp, exp, self.tariffs.active, list(self.meter.registers.tariff_import_wh))

    def status_image(self):
        return T.encode_status(self.alert_flags(), len(self.downlink.urgent), self.events.last_seq,
                               self.tariffs.changed_s, self.downlink.nonurgent_gen, self.mbus.last_seq())

    def mbus_data(self, after_seq, max_bytes):
        def records(after):
            for seq, index, t, frame in self.mbus.data_sets(after):
                yield seq, T.encode_dataset_record(index, t, frame)

        if after_seq is None:
            return T.encode_log_newest(records(0), max_bytes)
        return T.encode_log(records(after_seq), max_bytes)

    def alert_flags(self):
        self.tariffs.track()
        flags = 0
        if self.downlink.urgent:
            flags |= T.ALERT_URGENT
        if self.events.last_seq > self._seen["events"]:
            flags |= T.ALERT_EVENTS
        if self.tariffs.changed_s != self._seen["tariff"]:
            flags |= T.ALERT_TARIFF
        if self.downlink.nonurgent_gen != self._seen["nonurgent"]:
            flags |= T.ALERT_NONURGENT
        if self.mbus.last_seq() > self._seen["mbus"]:
            flags |= T.ALERT_MBUS
        return flags

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
            self._seen["tariff"] = self.tariffs.changed_s
        if flags & T.ALERT_NONURGENT:
            self._seen["nonurgent"] = self.downlink.nonurgent_gen
        if flags & T.ALERT_MBUS:
            self._seen["mbus"] = self.mbus.last_seq()
        return T.RESULT_DONE, b""
