# Calendar clock: epoch seconds and sleeps for schedules, intervals and timestamps.
#
# Wire timing (byte gaps, answer timeouts) uses rt ticks and real time. Calendar time
# goes through a Clock so the host simulation can run it `speed` times faster than
# the wall: a simulated day in about a minute at speed 1440. On a device speed is 1.

import rt
from micropython import const

# rt.sleep_ms() takes less than half the tick period (2**29 ms, about 6 days, on the
# 32-bit ports): longer calendar sleeps (weekly, monthly schedules) go in chunks.
_MAX_SLEEP_MS = const(1 << 28)


class Clock:
    # Epoch seconds are above 2**30, a long int on the heap of a 32-bit port: the clock
    # keeps whole calendar seconds (`_base_s`) and the ms past them (`_frac_ms`, a small
    # int), so time_s() returns the same object until the second changes and allocates
    # at most one long int per calendar second. time_ms() allocates (epoch ms).

    def __init__(self, speed=1, start_s=None):
        if speed < 1:
            raise ValueError("speed must be >= 1")
        self.speed = speed
        self._base_s = rt.time_s() if start_s is None else start_s
        self._frac_ms = 0  # calendar ms past _base_s, < 1000 after each _advance()
        self._base_ticks = rt.ticks_ms()
        # False once the calendar was resumed from a checkpoint (it lost the time it was down):
        # an authenticated set-time (set_time_s) makes it True again.
        self.synchronised = True

    def _advance(self):
        # Called often enough (every calendar read) that the tick difference never wraps.
        now = rt.ticks_ms()
        ms = self._frac_ms + rt.ticks_diff(now, self._base_ticks) * self.speed
        self._base_ticks = now
        if ms >= 1000:
            whole_s = ms // 1000
            self._base_s += whole_s
            ms -= whole_s * 1000
        self._frac_ms = ms

    def time_ms(self):
        """Calendar milliseconds since 1970-01-01 UTC (an int; a long int on 32-bit ports)."""
        self._advance()
        return self._base_s * 1000 + self._frac_ms

    def time_s(self):
        """Calendar seconds since 1970-01-01 UTC."""
        self._advance()
        return self._base_s

    def set_time_s(self, epoch_s):
        """Set the calendar (authenticated time setting is the caller's job)."""
        self._base_s = epoch_s
        self._base_ticks = rt.ticks_ms()
        self._frac_ms = 0
        self.synchronised = True

    def resume_s(self, checkpoint_s):
        """After a restart: never run behind the last checkpoint's calendar time. If the clock
        reads earlier it is set to checkpoint_s and marked unsynchronised; returns whether it was."""
        if self.time_s() >= checkpoint_s:
            return False
        self.set_time_s(checkpoint_s)
        self.synchronised = False
        return True

    async def sleep_ms(self, calendar_ms):
        """Sleep for calendar_ms of calendar time (any length)."""
        real_ms = calendar_ms // self.speed if self.speed > 1 else calendar_ms
        while real_ms > _MAX_SLEEP_MS:
            await rt.sleep_ms(_MAX_SLEEP_MS)
            real_ms -= _MAX_SLEEP_MS
        await rt.sleep_ms(real_ms)

    def real_ms(self, calendar_ms):
        """The real (wire) milliseconds that calendar_ms take at this speed."""
        return calendar_ms // self.speed


# -- civil dates (UTC, proleptic Gregorian): the one home of the calendar arithmetic ---------


def is_leap(year):
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def days_in_month(year, month):
    if month == 2:
        return 29 if is_leap(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def days_from_civil(year, month, day):
    """Days since 1970-01-01 of a date: the inverse of civil_from_epoch_s (Howard Hinnant's
    days-from-civil; floor division makes it right for years before 0 too)."""
    y = year - 1 if month <= 2 else year
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month - 3 if month > 2 else month + 9) + 2) // 5 + day - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def epoch_from_civil(year, month, day, hour=0, minute=0, second=0):
    """Epoch seconds (UTC) of a date and time."""
    return days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second


def civil_from_epoch_s(epoch_s):
    """(year, month, day, hour, minute, second, weekday 0=Monday) in UTC, any port epoch."""
    # Two operations on the epoch (a long int on 32-bit ports), then small ints only, and
    # no divmod tuples: the result tuple is the only other allocation.
    days = epoch_s // 86400
    rem = epoch_s % 86400
    hour = rem // 3600
    minute = rem % 3600 // 60
    second = rem % 60
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday
    # Howard Hinnant's days-to-civil algorithm, valid for the whole proleptic calendar.
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    day_of_year = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * day_of_year + 2) // 153
    day = day_of_year - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    return year, month, day, hour, minute, second, weekday


def iso8601(epoch_s):
    y, mo, d, h, mi, s, _ = civil_from_epoch_s(epoch_s)
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (y, mo, d, h, mi, s)
