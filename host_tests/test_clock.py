# The calendar clock: scaled time for the simulation, civil dates without the port's epoch.
import clock
import rt
import support


def test_civil_dates_known_points():
    assert clock.civil_from_epoch_s(0) == (1970, 1, 1, 0, 0, 0, 3)
    assert clock.civil_from_epoch_s(951782400) == (2000, 2, 29, 0, 0, 0, 1)  # leap day, Tuesday
    assert clock.civil_from_epoch_s(1835481599) == (2028, 2, 29, 23, 59, 59, 1)
    assert clock.iso8601(1700000000) == "2023-11-14T22:13:20Z"


def test_days_from_civil_inverts_the_clock():
    # One calendar arithmetic for the scheduler, DLMS date-times and SML (clock.py).
    for days in range(-800_000, 80_000, 997):
        y, mo, d, _, _, _, _ = clock.civil_from_epoch_s(days * 86400)
        assert clock.days_from_civil(y, mo, d) == days, "%d days: %d-%02d-%02d" % (days, y, mo, d)
    assert clock.epoch_from_civil(2000, 2, 29) == 951782400, "leap day 2000"
    assert clock.epoch_from_civil(2028, 2, 29, 23, 59, 59) == 1835481599
    assert clock.days_in_month(1900, 2) == 28 and clock.days_in_month(2000, 2) == 29
    assert clock.days_in_month(2024, 2) == 29 and clock.days_in_month(2023, 4) == 30


def test_clock_runs_speed_times_faster():
    c = clock.Clock(speed=1000, start_s=1_000_000)
    rt.sleep_ms_blocking(50)
    elapsed_s = c.time_s() - 1_000_000
    # 50 real ms at 1000x: 50 calendar s, more when the machine is busy (only a hang fails).
    assert 40 <= elapsed_s <= 60_000, "50 real ms gave %d calendar s at 1000x" % elapsed_s


def test_scaled_sleep_takes_calendar_over_speed():
    c = clock.Clock(speed=600, start_s=0)

    async def main():
        t0 = rt.ticks_ms()
        await c.sleep_ms(60_000)  # a calendar minute
        return rt.ticks_diff(rt.ticks_ms(), t0)

    real_ms = support.run(main())
    assert 90 <= real_ms < 60_000, "a calendar minute at 600x took %d real ms, expected 100" % real_ms
    assert c.time_s() >= 60, "the calendar moved %d s in a slept calendar minute" % c.time_s()


def test_set_time():
    c = clock.Clock()
    c.set_time_s(2_000_000_000)
    assert 2_000_000_000 <= c.time_s() <= 2_000_000_001


def test_speed_below_one_refused():
    support.raises(ValueError, clock.Clock, 0)


def test_calendar_sleep_longer_than_the_tick_limit_goes_in_chunks():
    # A yearly schedule sleeps about 3.2e10 calendar ms: far beyond what one
    # rt.sleep_ms() takes on a 32-bit port. At a huge speed it is a few real ms.
    c = clock.Clock(speed=1_000_000_000, start_s=0)

    async def main():
        await c.sleep_ms(366 * 86400 * 1000)

    support.run(main())
    assert c.time_s() >= 3000  # some calendar time passed; no OverflowError


def test_long_sleep_is_split_below_the_limit():
    calls = []
    real_sleep = rt.sleep_ms

    async def fake_sleep(ms):
        rt.ticks_add(0, ms)  # what the port checks
        calls.append(ms)

    rt.sleep_ms = fake_sleep
    try:
        support.run(clock.Clock(speed=1).sleep_ms(7 * 86400 * 1000 * 4))  # four weeks
    finally:
        rt.sleep_ms = real_sleep
    assert sum(calls) == 7 * 86400 * 1000 * 4
    assert max(calls) <= 1 << 28 and len(calls) >= 10
