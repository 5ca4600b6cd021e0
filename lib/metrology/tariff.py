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

    def tariff_at(self, calendar_s):
        slot, tariff = self.slot(calendar_s)
        if self.override is not None:
            if self.override[1] == slot:
                return self.override[0]
            self.override = None  # the schedule moved on: the command's tariff ends
            self.source = "schedule"
        return tariff
