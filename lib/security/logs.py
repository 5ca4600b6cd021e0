# Device logs: system, consumer and calibration, each a store.Ring of JSON records.
#
# Folder <storage_root>/log/<name>; each record is one UTF-8 JSON object
#   {"t": <calendar epoch s>, "kind": "<short name>", ...fields}
# and the Ring gives it a sequence number and a CRC-32, writes it power-fail-safe (an
# acknowledged record survives a pulled plug, a torn tail is cut off at the next open) and
# bounds the folder. Rotation: the system and consumer logs drop their oldest segment when
# full; the calibration log never drops anything (every metrological change is kept for the
# life of the device) and refuses an append once it is full (LogFull), so the change that
# would have needed the record must be refused by its caller.
#
#   system       events, errors, rejected input          read with the admin key
#   consumer     every access to the customer's data     read with the admin or MEP key
#   calibration  every metrological change               read with the admin or MEP key
# (who may read which: security/keys.py PERMISSIONS; the MEP stream serves records().)

import json
from store import Ring, StoreError

SYSTEM = "system"
CONSUMER = "consumer"
CALIBRATION = "calibration"
NAMES = (SYSTEM, CONSUMER, CALIBRATION)
# Log ids on the wire (admin READ_LOG, the MEP table that serves them).
LOG_IDS = {1: SYSTEM, 2: CONSUMER, 3: CALIBRATION}

# (segment_bytes, segments, keep_all) per log: 16 KiB, 16 KiB, 64 KiB of flash.
SIZES = {
    SYSTEM: (4096, 4, False),
    CONSUMER: (4096, 4, False),
    CALIBRATION: (4096, 64, True),  # 256 KiB: about 1500 changes, never rotated
}
MAX_RECORDS_PER_READ = 32


class LogError(StoreError):
    """A record that cannot be logged (too big, not JSON) or a read that is out of range."""


class LogFull(LogError):
    """The calibration log is full: nothing more can be recorded, nothing is dropped."""


def _plain(value, depth=0):
    """True for what JSON writes the same on every port (MicroPython's json would
    write an unknown object's repr, which no reader can parse)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if depth > 4:
        return False
    if isinstance(value, (list, tuple)):
        for item in value:
            if not _plain(item, depth + 1):
                return False
        return True
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str) or not _plain(value[key], depth + 1):
                return False
        return True
    return False


class DeviceLog:
    def __init__(self, folder, name, clock=None, segment_bytes=4096, segments=4, keep_all=False):
        self.name = name
        self.clock = clock
        self.keep_all = keep_all
        self.ring = Ring(folder, segment_bytes, segments)
        self.refused = 0  # appends refused (too big, full): the caller logs why

    @property
    def last_seq(self):
        return self.ring.last_seq

    def _now_s(self):
        if self.clock is not None:
            return self.clock.time_s()
        import rt

        return rt.time_s()

    def append(self, kind, fields=None, t_s=None):
        """Append {"t", "kind", **fields}; returns its seq once it is on flash.
        t_s: the record's calendar time when the caller has it (default: now)."""
        record = {"t": self._now_s() if t_s is None else t_s, "kind": kind}
        if fields:
            for key in fields:
                if key not in record:
                    record[key] = fields[key]
        try:
            if not _plain(record):
                raise TypeError
            data = json.dumps(record).encode()
        except (TypeError, ValueError):
            self.refused += 1
            raise LogError("%s log: record of kind %s is not JSON" % (self.name, kind))
        if len(data) > self.ring.max_payload:
            self.refused += 1
            raise LogError("%s log: record of %d bytes too big" % (self.name, len(data)))
        if self.keep_all and self.ring.would_evict(len(data)):
            self.refused += 1
            raise LogFull("%s log full: nothing is rotated out of it" % self.name)
        return self.ring.append(data)

    def records(self, after_seq=0, limit=16):
        """[(seq, record dict)] of up to `limit` records with seq > after_seq, oldest first.

        The narrow read API the MEP and admin transports serve (the caller checks the
        reader's key first: keys.DeviceKeys.authorize(name, keys.READ_LOG[log])).
        """
        if limit < 1 or limit > MAX_RECORDS_PER_READ or after_seq < 0:
            raise LogError("read of %r records after %r out of range" % (limit, after_seq))
        found = []
        reader = self.ring.records(after_seq)
        try:
            for seq, payload in reader:
                try:
                    record = json.loads(payload)
                except ValueError:
                    record = {"kind": "unreadable"}  # cannot happen past the CRC; never hide a seq
                found.append((seq, record))
                if len(found) >= limit:
                    break
        finally:
            reader.close()
        return found

    def close(self):
        self.ring.close()


class Logs:
    """The device's three logs under <storage_root>/log."""

    def __init__(self, storage_root, clock=None, sizes=None):
        sizes = sizes or SIZES
        self.by_name = {}
        for name in NAMES:
            segment_bytes, segments, keep_all = sizes[name]
            self.by_name[name] = DeviceLog(storage_root + "/log/" + name, name, clock, segment_bytes, segments,
                                           keep_all)
        self.system = self.by_name[SYSTEM]
        self.consumer = self.by_name[CONSUMER]
        self.calibration = self.by_name[CALIBRATION]

    def get(self, name):
        log = self.by_name.get(name)
        if log is None:
            raise LogError("no log %r" % (name,))
        return log

    def event(self, kind, fields=None):
        """A system log record that must never take its caller down (a full or failing
        flash is reported by the store's own errors elsewhere); returns the seq or 0."""
        try:
            return self.system.append(kind, fields)
        except (OSError, StoreError):
            return 0

    def close(self):
        for log in self.by_name.values():
            log.close()


class SystemLogSink:
    """A log.Log sink: the application's warnings and errors as system log records
    {"kind": "log", "level", "tag", "msg"}, at most per_minute a calendar minute (the rest
    counted in `dropped`), so a failing task cannot flood the flash. Tags in `skip` are
    left out (their events are already structured records of their own)."""

    LEVELS = ("debug", "info", "warn", "error")

    def __init__(self, logs, level=2, per_minute=20, skip=("admin",)):
        self.logs = logs
        self.level = level
        self.per_minute = per_minute
        self.skip = skip
        self.dropped = 0
        self._minute = -1
        self._written = 0

    def write(self, entry):
        time_s, level, tag, message = entry
        if level < self.level or tag in self.skip:
            return
        minute = time_s // 60
        if minute != self._minute:
            self._minute, self._written = minute, 0
        if self._written >= self.per_minute:
            self.dropped += 1
            return
        self._written += 1
        self.logs.event("log", {"level": self.LEVELS[level], "tag": tag, "msg": message[:200]})
