# Time-of-use tariff schedule and the MEP override.
#
# The schedule is a daily list of switch points [minute_of_day, tariff] (UTC, as the
# calendar clock): from each minute until the next point that tariff applies; before
# the first point of a day the last point of the day before applies. An empty schedule
# means tariff 0 all day.
#
# Override rule: set(index, "mep") puts the tariff in force at once and keeps it until
# the schedule's next switch point (the next change of slot), when the schedule takes
# over again. set(index, "schedule") and a set from any other source behave the same;
# the source is recorded for the reports.
#
# Heap: epoch seconds are long ints on a 32-bit port, and working out a slot divides
# them. tariff_at() keeps the slot it found with its start and end seconds and, while the
# time stays inside, only compares (no allocation); it works the slot out again once
# per switch point.

MINUTES_PER_DAY = 1440


class TariffSchedule:
    def __init__(self, points=(), tariffs=1):
        checked = []
        for point in points:
            if len(point) != 2:
                raise ValueError("a schedule point is [minute_of_day, tariff]")
            minute, tariff = point[0], point[1]
            if not 0 <= minute < MINUTES_PER_DAY:
                raise ValueError("minute_of_day %r out of 0..1439" % (minute,))
            if not 0 <= tariff < tariffs:
                raise ValueError("tariff %r out of 0..%d" % (tariff, tariffs - 1))
            checked.append((minute, tariff))
        checked.sort()
        self.points = checked
        self.tariffs = tariffs
        self.override = None  # (tariff, slot) while a command's tariff is in force
        self.source = "schedule"
        self._slot = (0, 0)  # the last slot() found, valid from _start_s to before _end_s
        self._start_s = self._end_s = 0

    def slot(self, calendar_s):
        """(slot number, tariff): the slot number changes at every switch point."""
        points = self.points
        if not points:
            return 0, 0
        day = int(calendar_s // 86400)
        minute = int(calendar_s % 86400) // 60
        index = -1
        for k in range(len(points)):
            if points[k][0] <= minute:
                index = k
        if index < 0:
            return (day - 1) * len(points) + len(points) - 1, points[-1][1]
        return day * len(points) + index, points[index][1]

    def set(self, tariff, source, calendar_s):
        if not 0 <= tariff < self.tariffs:
            raise ValueError("tariff %r out of 0..%d" % (tariff, self.tariffs - 1))
        self.override = (tariff, self.slot(calendar_s)[0])
        self.source = source

    def _slot_at(self, calendar_s):
        """slot(), remembered with its bounds: while inside them nothing is computed."""
        if not self._start_s <= calendar_s < self._end_s:
            found = self.slot(calendar_s)
            points = self.points
            if points:
                slot_day, index = divmod(found[0], len(points))  # the day the slot began, its point
                start_s = slot_day * 86400 + points[index][0] * 60
                if index + 1 < len(points):
                    end_s = slot_day * 86400 + points[index + 1][0] * 60
                else:
                    end_s = (slot_day + 1) * 86400 + points[0][0] * 60
            else:
                start_s, end_s = calendar_s, calendar_s + 86400
            self._slot, self._start_s, self._end_s = found, start_s, end_s
        return self._slot

    def tariff_at(self, calendar_s):
        slot, tariff = self._slot_at(calendar_s)
        if self.override is not None:
            if self.override[1] == slot:
                return self.override[0]
            self.override = None  # the schedule moved on: the command's tariff ends
            self.source = "schedule"
        return tariff
