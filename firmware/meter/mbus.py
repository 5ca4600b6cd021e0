# The meter's wired M-Bus port: the master on the board's M-Bus UART (8E1), the poll
# scheduler for up to four gas, water and heat meters, their data sets in one ring,
# and at installation a secondary-address scan (config section "mbus").
#
#   port = MBusPort(hw, cfg, log)          # cfg checked against meter.config.SCHEMA
#   supervisor.add("mbus", port.task, port.stall_ms())
#   result = await port.request_read(i)    # on demand (the MEP port): a master Result
#   for seq, index, kind, code, time_s, frames in port.data_sets(after_seq): ...

import status
import store
from mbus.master import Master, Device, secondary_from_text, secondary_to_text
from mbus.receiver import answer_timeout_ms, frame_timeout_ms
from mbus.schedule import Scheduler, Entry, unpack_record
from mbus.errors import MBusError
from mbus.decode import decode_frame

MAX_DEVICES = 4
_WAKE_MS = 20_000  # the scheduler reports progress at least this often (schedule.MAX_REAL_SLEEP_MS)


class MBusPort:
    def __init__(self, hw, cfg, log):
        m = cfg["mbus"]
        self.cfg = m
        self.clock = hw.clock
        self.log = log.tagged("mbus")
        self.master = Master(hw.mbus_uart, m["baud"], m["retries"], m["max_telegrams"], m["turnaround_ms"])
        self.master.set_baudrate(m["baud"])  # 8 data bits, even parity, 1 stop
        self.ring = store.Ring(hw.storage_root + "/mbus", m["ring_segment_bytes"], m["ring_segments"])
        if self.ring.torn_dropped or self.ring.corrupt_skipped:
            self.log.warn("data set ring: %d torn tails dropped, %d damaged records skipped",
                          self.ring.torn_dropped, self.ring.corrupt_skipped)
        self.found = store.AtomicRecord(hw.storage_root + "/mbus_found")
        entries = []
        for i, d in enumerate(m["devices"]):
            entries.append(self._entry(d["address"], d["name"] or "%s%d" % (d["medium"], i + 1), d["schedule"],
                                       d["status_interval_s"]))
        self.scheduler = Scheduler(self.master, entries, hw.clock, self.ring, self.log, decode=decode_frame)

    @staticmethod
    def _entry(address, name, schedule, status_interval_s):
        if type(address) is int:
            device = Device(primary=address, name=name)
        else:
            device = Device(secondary=secondary_from_text(address), name=name)
        return Entry(device, schedule, status_interval_s, name=name)

    def stall_ms(self):
        """Real time the task may go without progress: one read at its worst (every
        request repeated, every telegram at the whole-telegram cap) plus a wake period."""
        baud = self.cfg["baud"]
        per_request = answer_timeout_ms(baud) + frame_timeout_ms(baud) + (self.cfg["turnaround_ms"] or 0)
        return _WAKE_MS + (self.cfg["retries"] + 1) * (self.cfg["max_telegrams"] + 3) * per_request

    def _saved_scan(self):
        try:
            return self.found.read_json()
        except (store.StoreError, ValueError) as exc:
            self.log.error("saved scan unreadable (%s): scanning again", exc)
            return None

    async def discover(self, progress=None):
        """Secondary scan at installation: once, kept in the store; what it finds that
        the configuration does not name is polled on discover_schedule."""
        saved = self._saved_scan()
        if saved is None:
            self.log.info("secondary scan at %d baud", self.cfg["baud"])

            def on_probe(mask, code):
                if progress is not None:
                    progress()

            found, collisions = await self.master.scan(on_probe=on_probe)
            saved = {"found": [secondary_to_text(s) for s in found],
                     "collisions": [secondary_to_text(c) for c in collisions], "t": self.clock.time_s()}
            self.found.write_json(saved)
            status.emit("mbus_discovery", dict(saved))
            if collisions:
                self.log.warn("scan: devices with the same ID at %s", ", ".join(saved["collisions"]))
            self.log.info("scan found %d devices", len(saved["found"]))
        known = set()
        for e in self.scheduler.entries:
            if e.device.secondary is not None:
                known.add(secondary_to_text(e.device.secondary))
        for text in saved.get("found", []):
            if text in known:
                continue
            if len(self.scheduler.entries) >= MAX_DEVICES:
                self.log.warn("scan: %s not polled, already %d devices", text, MAX_DEVICES)
                continue
            name = "found%d" % (len(self.scheduler.entries) + 1)
            self.scheduler.entries.append(self._entry(text, name, self.cfg["discover_schedule"], 3600))
            self.log.info("%s: secondary address %s from the scan", name, text)

    async def task(self, progress):
        if self.cfg["discover"]:
            await self.discover(progress)
            progress()
        for i, e in enumerate(self.scheduler.entries):
            d = e.device
            self.log.info("device %d %s at %s, %s", i, e.name,
                          d.primary if d.secondary is None else secondary_to_text(d.secondary), e.schedule["every"])
        await self.scheduler.run(progress)

    async def request_read(self, index):
        """Read device index now and store its data set; returns the master's Result."""
        return await self.scheduler.request_read(index)

    def data_sets(self, after_seq=0):
        """Stored data sets, oldest first: (seq, device index, kind, result, time_s,
        [frames as received]). A record that does not parse is skipped and logged."""
        for seq, data in self.ring.records(after_seq):
            try:
                index, kind, code, time_s, frames = unpack_record(data)
            except MBusError as exc:
                self.log.error("data set %d unreadable: %s", seq, exc.reason)
                continue
            yield seq, index, kind, code, time_s, frames

    def close(self):
        self.ring.close()
