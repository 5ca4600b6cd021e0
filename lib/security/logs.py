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
#   system       the device's own and authenticated      read with the admin key
#                events (boot, time, keys, wake-ups, updates), warnings and errors
#   consumer     every access to the customer's data     read with the admin or MEP key
#   calibration  every metrological change               read with the admin or MEP key
#   untrusted    what unauthenticated parties caused     read with the admin key
#                (rejected commands and frames, evicted connections, MEP digest
#                failures and lock-outs, refused updates), through one Limiter
# (who may read which: security/keys.py PERMISSIONS; the MEP stream serves records().)
#
# Nothing an unauthenticated party can cause is written to the system log, so a flood can
# never rotate a security record out of it: it lands in the untrusted log, at most
# UNTRUSTED_PER_MINUTE records a calendar minute plus one `suppressed` summary.

import json
from store import Ring, StoreError

SYSTEM = "system"
CONSUMER = "consumer"
CALIBRATION = "calibration"
UNTRUSTED = "untrusted"
NAMES = (SYSTEM, CONSUMER, CALIBRATION, UNTRUSTED)
# Log ids on the wire (admin READ_LOG, the MEP table that serves them).
LOG_IDS = {1: SYSTEM, 2: CONSUMER, 3: CALIBRATION, 4: UNTRUSTED}

# (segment_bytes, segments, keep_all) per log: 16 KiB, 16 KiB, 64 KiB of flash.
SIZES = {
    SYSTEM: (4096, 4, False),
    CONSUMER: (4096, 4, False),
    CALIBRATION: (4096, 64, True),  # 256 KiB: about 1500 changes, never rotated
    UNTRUSTED: (4096, 4, False),
}
MAX_RECORDS_PER_READ = 32
# Records a calendar minute that unauthenticated input may write (all sources together);
# the rest are counted and summed into one `suppressed` record.
UNTRUSTED_PER_MINUTE = 20
SUPPRESSED = "suppressed"


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


class Limiter:
    """The one rate limit for log records: at most `per_minute` a calendar minute go to
    `log`; the rest are counted (`dropped`, and per reason for the minute) and summed into
    one record {"kind": "suppressed", "count": n, "what": {reason: n}, "minute_t": s}
    written before the next record of a later minute, or by flush() once the minute is
    over. append() never raises: a full or failing flash must not take the caller down."""

    def __init__(self, log, clock=None, per_minute=UNTRUSTED_PER_MINUTE):
        self.log = log
        self.clock = clock
        self.per_minute = per_minute
        self.dropped = 0  # records suppressed since start
        self.failed = 0  # records the flash did not take
        self._minute = -1
        self._written = 0
        self._held = {}  # reason -> count suppressed in the current minute

    def _now_s(self):
        if self.clock is not None:
            return self.clock.time_s()
        import rt

        return rt.time_s()

    def _write(self, kind, fields, t_s):
        try:
            return self.log.append(kind, fields, t_s)
        except (OSError, StoreError):
            self.failed += 1
            return 0

    def _turn(self, minute):
        if minute == self._minute:
            return
        if self._held:
            held = self._held
            self._held = {}
            count = 0
            for reason in held:
                count += held[reason]
            self._write(SUPPRESSED, {"count": count, "what": held, "minute_t": self._minute * 60},
                        self._minute * 60 + 59)
        self._minute = minute
        self._written = 0

    def append(self, kind, fields=None, t_s=None, reason=None):
        """Write {"kind", **fields} unless this minute's budget is spent; the seq or 0.
        reason: the summary's name for it (default: fields["reason"], else kind)."""
        if t_s is None:
            t_s = self._now_s()
        self._turn(t_s // 60)
        if self._written >= self.per_minute:
            if reason is None:
                reason = fields.get("reason", kind) if fields else kind
            reason = str(reason)[:32]
            self._held[reason] = self._held.get(reason, 0) + 1
            self.dropped += 1
            return 0
        self._written += 1
        return self._write(kind, fields, t_s)

    def flush(self, t_s=None):
        """Write the summary of a minute that is over (cheap when there is none: call it
        from a periodic task)."""
        if self._held:
            self._turn((self._now_s() if t_s is None else t_s) // 60)


class Logs:
    """The device's logs under <storage_root>/log, and the limiter for untrusted input."""

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
        self.untrusted = self.by_name[UNTRUSTED]
        self.limiter = Limiter(self.untrusted, clock)
        self.ota = OtaEvents(self)

    def get(self, name):
        log = self.by_name.get(name)
        if log is None:
            raise LogError("no log %r" % (name,))
        return log

    def event(self, kind, fields=None):
        """A system log record that must never take its caller down (a full or failing
        flash is reported by the store's own errors elsewhere); returns the seq or 0.
        Only for the device's own and authenticated events: see untrusted_event."""
        try:
            return self.system.append(kind, fields)
        except (OSError, StoreError):
            return 0

    def untrusted_event(self, kind, fields=None, reason=None):
        """A record of something an unauthenticated party caused: into the untrusted log,
        through the limiter (never raises); the seq, or 0 when suppressed."""
        return self.limiter.append(kind, fields, None, reason)

    def close(self):
        for log in self.by_name.values():
            log.close()


class OtaEvents:
    """Where the OTA code writes its records (it calls append("ota", fields, t) on the log
    it is given). Whoever reaches the update port can make the device refuse a bundle, or
    start and resume a download (a signed bundle is public: replaying one needs no key), so
    those go through the limiter into the untrusted log; what changes the running version
    (switched, confirmed, reverted) goes into the system log."""

    UNTRUSTED_EVENTS = ("refused", "download", "resumed")

    def __init__(self, logs):
        self.logs = logs

    def append(self, kind, fields=None, t_s=None):
        event = fields.get("event") if fields else None
        if event in self.UNTRUSTED_EVENTS:
            reason = "ota_" + event + ("_" + str(fields.get("reason")) if event == "refused" else "")
            return self.logs.limiter.append(kind, fields, t_s, reason)
        return self.logs.system.append(kind, fields, t_s)


class SystemLogSink:
    """A log.Log sink for the application's log lines. Errors (the device's own failures: a
    task that crashed, a flash that failed) become system log records {"kind": "log",
    "level", "tag", "msg"}, at most per_minute a calendar minute (a Limiter of its own).
    Warnings are, in this firmware, about input and the world outside (an undecodable
    telegram, a link that does not answer): anyone can cause them, so they go to the
    untrusted log through the shared limiter and can never rotate the system log. Tags in
    `skip` are left out: their events are structured records of their own (admin: rejected
    commands; ota: updates and refusals)."""

    LEVELS = ("debug", "info", "warn", "error")

    def __init__(self, logs, level=2, per_minute=20, skip=("admin", "ota")):
        self.logs = logs
        self.level = level
        self.skip = skip
        self.limiter = Limiter(logs.system, None, per_minute)

    @property
    def dropped(self):
        return self.limiter.dropped

    def write(self, entry):
        time_s, level, tag, message = entry
        if level < self.level or tag in self.skip:
            return
        fields = {"level": self.LEVELS[level], "tag": tag, "msg": message[:200]}
        if level >= 3:
            self.limiter.append("log", fields, time_s, tag)
        else:
            self.logs.limiter.append("log", fields, time_s, "log_" + tag)
