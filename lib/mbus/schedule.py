# The M-Bus poll scheduler: when each device is read, where the data sets go, and
# which alarms and status changes become events.
#
#   sched = Scheduler(master, entries, clock, ring, log)
#   await sched.run(progress)                  # the task: scheduled and status reads
#   result = await sched.request_read(index)   # on demand (the MEP port), any time
#
# Schedules are calendar arithmetic in UTC on the calendar clock (no DST: a meter's
# billing instants are fixed in UTC). Data sets are stored as received: the raw
# RSP_UD frames with a timestamp and the device index, one ring record per read, in
# one power-fail-safe store.Ring shared by all devices (record layout: pack_record).
# Status reads are full reads whose frames only feed the events (they are not stored).

import struct
from micropython import const
import status as _status
from clock import civil_from_epoch_s, days_from_civil, days_in_month
from mbus import master as M
from mbus.errors import MBusError

EVERY = ("hourly", "daily", "weekly", "monthly", "yearly")

# Kinds of read (ring records carry them).
SCHEDULED = const(0)
DEMAND = const(1)
STATUS = const(2)
KIND_NAMES = ("scheduled", "demand", "status")
RESULT_CODES = (M.OK, M.NO_ANSWER, M.BAD, M.COLLISION, M.APP_ERROR)

RECORD_FORMAT = const(1)
_RECORD_HEAD = const(9)
# A sleeping scheduler wakes at least this often (real ms): it reports progress to
# the supervisor and notices a calendar clock that was set.
MAX_REAL_SLEEP_MS = const(20_000)

# Status byte (EN 13757-3): bits 1-0 application state, 2 power low, 3 permanent
# error, 4 temporary error. Events for the bits, plus error-function records.
FLAG_BUSY = const(0x01)
FLAG_APP_ERROR = const(0x02)
FLAG_ABNORMAL = const(0x03)
FLAG_POWER_LOW = const(0x04)
FLAG_PERMANENT = const(0x08)
FLAG_TEMPORARY = const(0x10)
FLAG_ERROR_RECORDS = const(0x100)  # not a status bit: records with the error function
_EVENT_FLAGS = (
    (FLAG_POWER_LOW, "power_low"),
    (FLAG_PERMANENT, "permanent_error"),
    (FLAG_TEMPORARY, "temporary_error"),
    (FLAG_ERROR_RECORDS, "error_records"),
)
_APP_EVENTS = {FLAG_BUSY: "application_busy", FLAG_APP_ERROR: "application_error",
               FLAG_ABNORMAL: "abnormal_condition"}


# -- schedules (calendar arithmetic in UTC: clock.py) --------------------------------


def next_due_s(schedule, now_s):
    """The first instant strictly after now_s that the schedule names (epoch seconds).

    schedule: {"every": hourly|daily|weekly|monthly|yearly, "minute", "hour",
    "weekday" (0 = Monday), "day" (1-31), "month" (1-12)}; fields an interval does not
    use are ignored. A day beyond the month's end means its last day (31 -> 30 April,
    28 or 29 February; 29 February in a yearly schedule -> 28 February in other years)."""
    every = schedule["every"]
    minute = schedule.get("minute", 0)
    hour = schedule.get("hour", 0)
    time_of_day = hour * 3600 + minute * 60
    if every == "hourly":
        due = now_s - now_s % 3600 + minute * 60
        return due if due > now_s else due + 3600
    midnight = now_s - now_s % 86400
    if every == "daily":
        due = midnight + time_of_day
        return due if due > now_s else due + 86400
    year, month, _, _, _, _, weekday = civil_from_epoch_s(now_s)
    if every == "weekly":
        due = midnight + ((schedule.get("weekday", 0) - weekday) % 7) * 86400 + time_of_day
        return due if due > now_s else due + 7 * 86400
    day = schedule.get("day", 1)
    if every == "monthly":
        for _ in range(2):
            due = days_from_civil(year, month, min(day, days_in_month(year, month))) * 86400 + time_of_day
            if due > now_s:
                return due
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    elif every == "yearly":
        month = schedule.get("month", 1)
        for _ in range(2):
            due = days_from_civil(year, month, min(day, days_in_month(year, month))) * 86400 + time_of_day
            if due > now_s:
                return due
            year += 1
    else:
        raise ValueError("schedule every must be one of " + ", ".join(EVERY))
    raise ValueError("no due time")  # unreachable: next month / next year is always later


# -- ring records --------------------------------------------------------------------


def pack_record(index, kind, code, time_s, telegrams):
    """One data set as stored:
        0 1  format (1)          4 4  time_s, epoch seconds UTC (LE)
        1 1  device index        8 1  telegram count n
        2 1  kind (0 scheduled, 1 demand)
        3 1  result (index in RESULT_CODES)
    then n times: 2-byte length (LE) and the frame exactly as received (68 .. 16)."""
    size = _RECORD_HEAD
    for t in telegrams:
        size += 2 + len(t)
    out = bytearray(size)
    struct.pack_into("<BBBBIB", out, 0, RECORD_FORMAT, index, kind, RESULT_CODES.index(code),
                     time_s & 0xFFFFFFFF, len(telegrams))
    p = _RECORD_HEAD
    for t in telegrams:
        n = len(t)
        out[p] = n & 0xFF
        out[p + 1] = n >> 8
        out[p + 2:p + 2 + n] = t
        p += 2 + n
    return out


def unpack_record(data):
    """(index, kind, code, time_s, [frames]) from a ring record; MBusError if malformed."""
    if len(data) < _RECORD_HEAD or data[0] != RECORD_FORMAT:
        raise MBusError("bad data set record")
    _, index, kind, code, time_s, count = struct.unpack_from("<BBBBIB", data, 0)
    if code >= len(RESULT_CODES):
        raise MBusError("bad data set record")
    frames = []
    p = _RECORD_HEAD
    for _ in range(count):
        if p + 2 > len(data):
            raise MBusError("bad data set record")
        n = data[p] | data[p + 1] << 8
        p += 2
        if p + n > len(data):
            raise MBusError("bad data set record")
        frames.append(bytes(data[p:p + n]))
        p += n
    if p != len(data):
        raise MBusError("bad data set record")
    return index, kind, RESULT_CODES[code], time_s, frames


def status_byte(telegram):
    """The status byte of an RSP_UD (CI 0x72/0x76: long header, 0x7A: short), or None."""
    if len(telegram) < 9 or telegram[0] != 0x68:
        return None
    ci = telegram[6]
    if (ci == 0x72 or ci == 0x76) and len(telegram) >= 7 + 12 + 2:
        return telegram[7 + 9]  # ID 4, manufacturer 2, version, medium, access number, status
    if ci == 0x7A and len(telegram) >= 7 + 4 + 2:
        return telegram[7 + 1]
    return None


# -- the scheduler -------------------------------------------------------------------


class Entry:
    """One configured device: its link state, schedule, status interval and what the
    scheduler knows of it."""

    def __init__(self, device, schedule, status_interval_s=0, name=None):
        next_due_s(schedule, 0)  # refuses an unknown interval now, not at the first read
        self.device = device
        self.schedule = schedule
        self.status_interval_s = status_interval_s
        self.name = name or device.name or "device"
        self.next_read_s = None
        self.next_status_s = None
        self.flags = 0  # event flags seen in the last answer
        self.last_code = None
        self.reads = 0
        self.failures = 0
        self.stored = 0


class Scheduler:
    def __init__(self, master, entries, clock, ring, log=None, emit=None, decode=None):
        self.master = master
        self.entries = entries
        self.clock = clock
        self.ring = ring
        self.log = log
        self.emit = emit or _status.emit
        self.decode = decode  # decode_frame, for error-function records (None: status byte only)
        self.events = 0
        self.store_failures = 0
        self.decode_errors = 0

    def _start(self, now_s):
        for e in self.entries:
            e.next_read_s = next_due_s(e.schedule, now_s)
            # A status read right away shows at start-up which devices answer.
            e.next_status_s = now_s if e.status_interval_s else None

    async def run(self, progress=None):
        clock = self.clock
        self._start(clock.time_s())
        while True:
            now = clock.time_s()
            for i, e in enumerate(self.entries):
                earliest = next_due_s(e.schedule, now)
                if e.next_read_s > earliest:
                    e.next_read_s = earliest  # the clock was set back: do not wait for the old instant
                if e.next_status_s is not None and e.next_status_s > now + e.status_interval_s:
                    e.next_status_s = now + e.status_interval_s
                if e.next_read_s <= now:
                    await self._read(i, SCHEDULED)
                    e.next_read_s = next_due_s(e.schedule, now)
                    if e.status_interval_s:
                        e.next_status_s = now + e.status_interval_s
                elif e.next_status_s is not None and e.next_status_s <= now:
                    await self._read(i, STATUS)
                    e.next_status_s = now + e.status_interval_s
                if progress is not None:
                    progress()
            due = self.next_due_s()
            wait_ms = (due - clock.time_s()) * 1000
            cap_ms = MAX_REAL_SLEEP_MS * clock.speed
            if wait_ms > cap_ms:
                wait_ms = cap_ms
            if wait_ms > 0:
                await clock.sleep_ms(wait_ms)
            if progress is not None:
                progress()

    def next_due_s(self):
        due = None
        for e in self.entries:
            for t in (e.next_read_s, e.next_status_s):
                if t is not None and (due is None or t < due):
                    due = t
        return due if due is not None else self.clock.time_s() + 3600

    async def request_read(self, index):
        """Read device `index` now (after any exchange in progress) and store the data
        set. Returns the master's Result, with .seq the ring record (None if not stored)."""
        if not 0 <= index < len(self.entries):
            raise ValueError("no M-Bus device %d" % index)
        return await self._read(index, DEMAND)

    async def _read(self, index, kind):
        e = self.entries[index]
        result = await self.master.read(e.device)
        time_s = self.clock.time_s()
        e.reads += 1
        result.seq = None
        if result.code != M.OK:
            e.failures += 1
        if result.telegrams and kind != STATUS:
            result.seq = self._store(index, kind, result, time_s)
            if result.seq is not None:
                e.stored += 1
        fields = {"device": index, "name": e.name, "read": KIND_NAMES[kind], "result": result.code,
                  "telegrams": len(result.telegrams), "t": time_s}
        if result.seq is not None:
            fields["seq"] = result.seq
        if result.app_error is not None:
            fields["app_error"] = result.app_error
        if result.code != M.OK and result.detail:
            fields["detail"] = result.detail
        self.emit("mbus_read", fields)
        self._events(index, e, result, time_s)
        return result

    def _store(self, index, kind, result, time_s):
        try:
            return self.ring.append(pack_record(index, kind, result.code, time_s, result.telegrams))
        except Exception as exc:  # a full or failing flash must not stop the polling
            self.store_failures += 1
            if self.log:
                self.log.error("%s: data set not stored: %s", self.entries[index].name, exc)
            return None

    def _flags_of(self, telegrams):
        flags = 0
        for t in telegrams:
            st = status_byte(t)
            if st is not None:
                flags |= st & 0x1F
            if self.decode is not None and t[6] != 0x70:
                try:
                    decoded = self.decode(t)
                except MBusError as exc:
                    self.decode_errors += 1
                    if self.log:
                        self.log.warn("undecodable telegram (%s), stored as received", exc.reason)
                    continue
                except Exception as exc:  # a decoder bug must not stop the polling either
                    self.decode_errors += 1
                    if self.log:
                        self.log.error("decoder failed on a telegram (%s: %s)", type(exc).__name__, exc)
                    continue
                for r in decoded.records:
                    if r.function == "error":
                        flags |= FLAG_ERROR_RECORDS
                        break
        return flags

    def _events(self, index, e, result, time_s):
        # A read that failed says nothing about the status bits: keep them as they were.
        if result.code != e.last_code:
            if result.code != M.OK:
                self._event(index, e, result.code, "raised", time_s)
            elif e.last_code is not None:
                self._event(index, e, e.last_code, "cleared", time_s)
            e.last_code = result.code
        if result.code != M.OK:
            return
        flags = self._flags_of(result.telegrams)
        old = e.flags
        if flags == old:
            return
        for bit, name in _EVENT_FLAGS:
            if (flags ^ old) & bit:
                self._event(index, e, name, "raised" if flags & bit else "cleared", time_s)
        app_new = flags & 0x03
        app_old = old & 0x03
        if app_new != app_old:
            if app_old:
                self._event(index, e, _APP_EVENTS[app_old], "cleared", time_s)
            if app_new:
                self._event(index, e, _APP_EVENTS[app_new], "raised", time_s)
        e.flags = flags

    def _event(self, index, e, name, state, time_s):
        self.events += 1
        self.emit("mbus_event", {"device": index, "name": e.name, "event": name, "state": state, "t": time_s})
        if self.log:
            if state == "raised":
                self.log.warn("%s: %s", e.name, name)
            else:
                self.log.info("%s: %s cleared", e.name, name)

    def status(self):
        return [{"name": e.name, "reads": e.reads, "failures": e.failures, "stored": e.stored,
                 "last": e.last_code, "flags": e.flags} for e in self.entries]
