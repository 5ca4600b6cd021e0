# The meter's MEP port (docs/mep.md): wires one concern per module around the protocol's
# server (lib/mep/) on hw.mep_uart, and keeps the port's own logs and tasks.
#
#   meter/mep_tables.py     the table set backed by the meter, the procedures, the alert flags
#   meter/mep_downlink.py   the downlink stores: urgent queue, non-urgent area, overrides
#   meter/mep_tariff.py     the tariff in force: changes, who made them, names and prices
#   meter/mep_inbox.py      the utility's downlink messages (files in inbox_dir on the host;
#                           imported only when inbox_dir is set)
#   here                    the replay window, the event log, the interval energy profile,
#                           consumer-log entries for private reads, and the tasks
#
# Tasks (added to the meter's supervisor by Meter.build):
#   mep           answers the MEP device, raises alerts
#   mep_profile   one interval energy record every profile_period_s
#   mep_inbox     the utility side's downlink data, and the port's counters as a status line

import json
import rt
import status
from micropython import const
from store.ring import Ring
from store.fs import StoreError
from mep import tables as T
from mep.secure import LinkKeys
from mep.seqwindow import SeqWindow
from mep.server import Server
from meter.mep_tables import MeterTables, NoMBus
from meter.mep_downlink import Downlink
from meter.mep_tariff import TariffTracker

_LOG_SEGMENT_BYTES = const(4096)
_LOG_SEGMENTS = const(4)
_INBOX_POLL_MS = const(1000)


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
        root = hw.storage_root + "/mep"
        self.root = root
        self.window = SeqWindow(root + "/seq", cfg["seq_block"])
        # Records are about 31 bytes with the ring's framing: a third of the depth per
        # segment keeps at least `depth` records across the four segments.
        per_segment = (cfg["profile_depth"] + 2) // 3
        self.profile = Ring(root + "/profile", max(128, per_segment * 32), 4)
        self.events = Ring(root + "/events", _LOG_SEGMENT_BYTES, _LOG_SEGMENTS)
        if meter.logs is None:  # a meter without the device logs (tests): the consumer log's own writer
            from security.logs import DeviceLog

            self.consumer = DeviceLog(hw.storage_root + "/log/consumer", "consumer", self.clock)
        else:
            self.consumer = meter.logs.consumer  # the meter's (security/logs.py): one writer per log
        self.tariffs = TariffTracker(meter.registers, cfg, self.clock, root + "/tariff", self.event)
        self.downlink = Downlink(root, self.clock, self.event)
        self.inbox = None  # only where the utility's messages arrive as files (the host): it costs heap
        if cfg["inbox_dir"]:
            from meter.mep_inbox import Inbox

            self.inbox = Inbox(cfg["inbox_dir"], self.tariffs, self.downlink, log)
        self.tables = MeterTables(meter, self.clock, self.tariffs, self.downlink,
                                  mbus if mbus is not None else NoMBus(), self.events, self.profile,
                                  self.consumer.ring)
        self.server = Server(
            LinkKeys(key), self.window, frame_timeout_ms=cfg["frame_timeout_ms"],
            auth_fail_burst=cfg["auth_fail_burst"], auth_window_ms=cfg["auth_window_s"] * 1000,
            auth_lockout_ms=cfg["auth_lockout_s"] * 1000, alert_interval_ms=cfg["alert_interval_ms"],
            alert_flags=self.tables.alert_flags, on_private=self.private_access, on_event=self.event,
            # digest failures and lock-outs: rate-limited into the meter's untrusted log
            on_untrusted=meter.logs.untrusted_event if meter.logs is not None else None,
        )
        self.tables.register(self.server)

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

    # Tasks.
    async def serve_task(self, progress):
        await self.server.serve(self.hw.mep_uart, progress)

    async def profile_task(self, progress):
        period_ms = self.cfg["profile_period_s"] * 1000
        while True:
            await self.clock.sleep_ms(period_ms)
            imp, exp = self.tables.register_values()
            self.profile.append(T.encode_profile_record(self.clock.time_s(), imp, exp))
            progress()

    async def inbox_task(self, progress):
        """The utility's downlink messages, and the port's counters as a status line."""
        status_ms = self.cfg["status_interval_s"] * 1000
        last = rt.ticks_ms()
        while True:
            await rt.sleep_ms(_INBOX_POLL_MS)
            if self.inbox is not None:
                self.inbox.poll()
            if rt.ticks_diff(rt.ticks_ms(), last) >= status_ms:
                last = rt.ticks_ms()
                self.emit_status()
            progress()

    def emit_status(self):
        fields = self.server.counters()
        fields["t"] = self.clock.time_s()
        fields["tariff"] = self.tariffs.active
        fields["urgent_queued"] = len(self.downlink.urgent)
        fields["inbox_errors"] = self.inbox.errors if self.inbox is not None else 0
        status.emit("mep", fields)
