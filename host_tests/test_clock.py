# The calendar clock: scaled time for the simulation, civil dates without the port's epoch.
import clock
import rt
import support


def test_civil_dates_known_points():
    assert clock.civil_from_epoch_s(0) == (1970, 1, 1, 0, 0, 0, 3)
    assert clock.civil_from_epoch_s(951782400) == (2000, 2, 29, 0, 0, 0, 1)  # leap day, Tuesday
    assert clock.civil_from_epoch_s(1835481599) == (2028, 2, 29, 23, 59, 59, 1)
    assert clock.iso8601(1700000000) == "2023-11-14T22:13:20Z"


def test_clock_runs_speed_times_faster():
    c = clock.Clock(speed=1000, start_s=1_000_000)
    rt.sleep_ms_blocking(50)
    elapsed_s = c.time_s() - 1_000_000
    assert 40 <= elapsed_s <= 2000


def test_scaled_sleep_takes_calendar_over_speed():
    c = clock.Clock(speed=600, start_s=0)

    async def main():
        t0 = rt.ticks_ms()
        await c.sleep_ms(60_000)  # a calendar minute
        return rt.ticks_diff(rt.ticks_ms(), t0)

    real_ms = support.run(main())
    assert 90 <= real_ms < 1000
    assert c.time_s() >= 60


def test_set_time():
    c = clock.Clock()
    c.set_time_s(2_000_000_000)
    assert 2_000_000_000 <= c.time_s() <= 2_000_000_001


def test_speed_below_one_refused():
    support.raises(ValueError, clock.Clock, 0)
