# The wired M-Bus master (meter/mbus.py MBusPort) seen through the MEP tables' adapter
# interface (meter/mep_tables.py NoMBus): the devices, their stored data sets as received, and
# on-demand reads.

import asyncio
from mbus.decode import decode_frame
from mbus.errors import MBusError
from mbus.schedule import EVERY as MBUS_EVERY  # the order meter.config's schedules use

# ET13 schedule codes (docs/mep.md): the position in MBUS_EVERY; 5 = no schedule.
_NO_SCHEDULE = 5
# EN 13757-3 medium codes of the configured media (meter/config.py MBUS_MEDIA), shown for a
# device until its own frames say (before its first read).
_MEDIUM_CODES = {"gas": 3, "water": 7, "warm_water": 6, "heat": 4, "cooling": 10, "electricity": 2, "other": 0}


class MBusTables:
    def __init__(self, port, log):
        self.port = port
        self.log = log
        self._seen = {}  # device index -> (id, manufacturer, medium) from its last good frame
        self._scanned_seq = 0
        self._reads = []  # on-demand reads in flight (kept so they are not collected)

    def _identify(self):
        # Identities come from the frames the devices sent; new data sets are looked at once.
        for seq, index, frames in self._frames_after(self._scanned_seq):
            self._scanned_seq = seq
            for frame in frames:
                try:
                    header = decode_frame(frame).header
                except MBusError:  # counted and logged by the scheduler when it stored the set
                    continue
                if header.get("id"):
                    self._seen[index] = (header["id"], header.get("manufacturer") or "", header.get("medium") or 0)

    def _frames_after(self, after_seq):
        for seq, index, _kind, _code, _time_s, frames in self.port.data_sets(after_seq):
            yield seq, index, frames

    def devices(self):
        self._identify()
        found = []
        for index, device in enumerate(self.port.cfg["devices"]):
            ident = self._seen.get(index)
            if ident is None and type(device["address"]) is str:  # secondary: ID is its first 8 digits
                ident = (device["address"][:8], "", 0)
            every = device["schedule"]["every"]
            configured = _MEDIUM_CODES.get(device.get("medium"), 0)
            found.append({"index": index, "id": ident[0] if ident else "0",
                          "manufacturer": ident[1] if ident else "", "medium": ident[2] if ident and ident[2] else configured,
                          "schedule": MBUS_EVERY.index(every) if every in MBUS_EVERY else _NO_SCHEDULE})
        return found

    def data_sets(self, after_seq):
        """(seq, device index, time_s, the frames of one read as received, joined)."""
        for seq, index, _kind, _code, time_s, frames in self.port.data_sets(after_seq):
            if frames:
                yield seq, index, time_s, b"".join(frames)

    def last_seq(self):
        return self.port.ring.last_seq

    def request_read(self, index):
        """Start an on-demand read; its data set arrives in the ring (and alerts the device)."""
        if not 0 <= index < len(self.port.cfg["devices"]):
            return False
        self._reads = [t for t in self._reads if not t.done()]
        if len(self._reads) >= 4:  # one per device at most is enough; refuse a flood
            return False
        self._reads.append(asyncio.create_task(self._read(index)))
        return True

    async def _read(self, index):
        try:
            result = await self.port.request_read(index)
            self.log.info("on-demand read of device %d for the MEP: %s", index, result.code)
        except Exception as exc:  # the scheduler reports its own errors; this task must end cleanly
            self.log.error("on-demand read of device %d failed: %s", index, exc)
