# The runtime seam: tick arithmetic across the wrap, sleeps, ThreadSafeFlag.
import asyncio
import rt
import support


def test_ticks_add_and_diff_cross_the_wrap():
    period = rt.TICKS_PERIOD
    just_before = period - 5
    after = rt.ticks_add(just_before, 10)
    assert after == 5
    assert rt.ticks_diff(after, just_before) == 10
    assert rt.ticks_diff(just_before, after) == -10
    assert rt.ticks_add(3, -10) == period - 7


def test_ticks_diff_is_signed_half_period():
    half = rt.TICKS_PERIOD // 2
    assert rt.ticks_diff(half - 1, 0) == half - 1
    assert rt.ticks_diff(0, half - 1) == -(half - 1)
    assert rt.ticks_diff(half, 0) == -half  # exactly half counts as negative, as on MicroPython


def test_emulated_period_is_the_32_bit_ports():
    if not rt.EMULATED:
        support.skip("the unix port keeps its own 2**62 period")
    assert rt.TICKS_PERIOD == 1 << 30


def test_clock_started_just_before_the_wrap_keeps_measuring():
    if not rt.EMULATED:
        support.skip("only the emulated clock can be moved")
    rt.set_ticks_ms(rt.TICKS_PERIOD - 20)
    start = rt.ticks_ms()
    assert start >= rt.TICKS_PERIOD - 20
    rt.sleep_ms_blocking(40)
    end = rt.ticks_ms()
    assert end < start  # wrapped
    elapsed = rt.ticks_diff(end, start)
    assert 35 <= elapsed < 1000
    rt.set_ticks_ms(0)


def test_async_deadline_across_the_wrap():
    if rt.EMULATED:
        rt.set_ticks_ms(rt.TICKS_PERIOD - 15)

    async def main():
        start = rt.ticks_ms()
        deadline = rt.ticks_add(start, 30)
        rounds = 0
        while rt.ticks_diff(deadline, rt.ticks_ms()) > 0:
            await rt.sleep_ms(5)
            rounds += 1
        return rounds, rt.ticks_diff(rt.ticks_ms(), start)

    # A wrap bug ends the wait at once (the deadline looks past) or never (the outer bound).
    rounds, waited_ms = support.run(rt.wait_for_ms(main(), 60_000))
    assert rounds >= 1 and waited_ms >= 30, "a 30 ms deadline across the wrap ended after %d ms, %d sleeps" % (
        waited_ms, rounds)
    if rt.EMULATED:
        rt.set_ticks_ms(0)


def test_thread_safe_flag_clears_when_wait_returns():
    async def main():
        flag = rt.ThreadSafeFlag()
        flag.set()
        await flag.wait()  # already set: returns at once
        woke = []

        async def waiter():
            await flag.wait()
            woke.append(rt.ticks_ms())

        task = asyncio.create_task(waiter())
        await rt.sleep_ms(10)
        assert woke == []  # cleared by the first wait
        flag.set()
        await rt.sleep_ms(10)
        assert len(woke) == 1
        await task

    support.run(main())


def test_wait_for_ms_times_out():
    async def slow():
        await rt.sleep_ms(1000)

    async def main():
        try:
            # wait_for_ms takes a coroutine: on MicroPython sleep_ms() itself is not one
            await rt.wait_for_ms(slow(), 20)
        except asyncio.TimeoutError:
            return True
        return False

    assert support.run(main())


def test_time_s_is_unix_epoch():
    now = rt.time_s()
    assert 1_700_000_000 < now < 4_000_000_000


def test_ticks_add_refuses_half_a_period_or_more_like_micropython():
    half = rt.TICKS_PERIOD // 2
    assert rt.ticks_add(0, half - 1) == half - 1
    for delta in (half, -half, half * 3):
        support.raises(OverflowError, rt.ticks_add, 0, delta)
