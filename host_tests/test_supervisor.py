# The supervisor: restarts with back-off, watchdog feeding on progress, stop, status, run_app.
import asyncio
import micropython
import rt
from log import Log, WARN, ERROR, INFO
from supervisor import Supervisor, run_app
import support


class FakeWatchdog:
    def __init__(self):
        self.feeds = 0

    def feed(self):
        self.feeds += 1


class ListSink:
    def __init__(self):
        self.entries = []

    def write(self, entry):
        self.entries.append(entry)

    def messages(self, level):
        return [e[3] for e in self.entries if e[1] == level]


def make(watchdog=None, **timing):
    sink = ListSink()
    log = Log([sink], level=INFO)
    settings = {"feed_period_ms": 10, "backoff_min_ms": 20, "backoff_max_ms": 80, "healthy_ms": 60}
    settings.update(timing)
    return Supervisor(watchdog, log, **settings), sink, log


run_for = support.run_for


async def run_until(supervisor, done, limit_ms=60000):
    """Run a Supervisor until done() holds (checked every 2 ms), then stop it. A condition,
    not a time: a loaded machine only takes longer; limit_ms only ends a hang."""

    async def stop_when_done():
        t0 = rt.ticks_ms()
        while not done() and rt.ticks_diff(rt.ticks_ms(), t0) < limit_ms:
            await rt.sleep_ms(2)
        supervisor.stop()

    stopper = asyncio.create_task(stop_when_done())
    await supervisor.run()
    await stopper


async def wait_for(done, limit_ms=60000):
    t0 = rt.ticks_ms()
    while not done() and rt.ticks_diff(rt.ticks_ms(), t0) < limit_ms:
        await rt.sleep_ms(2)


def gaps(ticks):
    return [rt.ticks_diff(b, a) for a, b in zip(ticks, ticks[1:])]


def test_crashing_task_restarts_with_doubling_backoff():
    supervisor, sink, log = make()
    starts = []

    async def crashy(progress):
        starts.append(rt.ticks_ms())
        raise ValueError("bad frame %d" % len(starts))

    supervisor.add("crashy", crashy, stall_ms=60000)
    support.run(run_until(supervisor, lambda: len(starts) >= 5))
    errors = sink.messages(ERROR)
    assert errors[0] == "task crashy crashed: ValueError: bad frame 1; restart in 20 ms"
    assert errors[1] == "task crashy crashed: ValueError: bad frame 2; restart in 40 ms"
    assert [e[-8:] for e in errors[2:4]] == ["in 80 ms", "in 80 ms"]  # capped at backoff_max_ms
    waits = gaps(starts)
    assert len(waits) >= 4, waits
    assert waits[0] >= 18 and waits[1] >= 38 and waits[2] >= 78 and waits[3] >= 78, waits
    assert log.counts[ERROR] == len(starts)
    status = supervisor.status()["crashy"]
    assert status["restarts"] == len(starts) - 1
    assert status["last_error"].startswith("ValueError: bad frame")
    assert status["running"] is False


def test_backoff_returns_to_minimum_after_a_healthy_run():
    supervisor, sink, _ = make(backoff_max_ms=160)
    starts = []
    ends = []

    async def flaky(progress):
        starts.append(rt.ticks_ms())
        if len(starts) == 3:  # the third run is healthy for longer than healthy_ms
            for _ in range(10):
                await rt.sleep_ms(10)
                progress()
        ends.append(rt.ticks_ms())
        raise OSError(5)

    supervisor.add("flaky", flaky, stall_ms=60000)
    support.run(run_until(supervisor, lambda: len(starts) >= 4))
    assert len(starts) >= 4, starts
    errors = sink.messages(ERROR)
    assert errors[1].endswith("restart in 40 ms"), errors  # grown by two quick crashes
    assert errors[2].endswith("restart in 20 ms"), errors  # back to the minimum, not 80
    assert rt.ticks_diff(starts[2], ends[1]) >= 38


def test_task_that_returns_is_restarted_with_a_warning():
    supervisor, sink, _ = make()
    runs = []

    async def brief(progress):
        runs.append(1)

    supervisor.add("brief", brief, stall_ms=60000)
    support.run(run_until(supervisor, lambda: len(runs) >= 2))
    assert len(runs) >= 2
    assert sink.messages(WARN)[0] == "task brief returned; restart in 20 ms"
    assert supervisor.status()["brief"]["last_error"] == "returned"


async def worker(progress, period_ms=5):
    while True:
        await rt.sleep_ms(period_ms)
        progress()


def test_watchdog_fed_while_every_task_progresses():
    watchdog = FakeWatchdog()
    supervisor, sink, _ = make(watchdog)
    supervisor.add("a", worker, stall_ms=60000)
    supervisor.add("b", worker, stall_ms=60000)
    support.run(run_until(supervisor, lambda: watchdog.feeds >= 8))
    assert watchdog.feeds >= 8, watchdog.feeds
    assert supervisor.feeds == watchdog.feeds
    assert sink.entries == []
    assert supervisor.status() == {
        "a": {"restarts": 0, "last_error": None, "stalled": False, "running": False},
        "b": {"restarts": 0, "last_error": None, "stalled": False, "running": False},
    }


def _stall_scenario():
    """Task b progresses, gets stuck until the test has seen the stall, then resumes; a
    always progresses. Conditions, not times: only b's stall is a real one."""
    watchdog = FakeWatchdog()
    supervisor, sink, _ = make(watchdog)
    seen = {}
    stuck = asyncio.Event()

    async def stalling(progress):
        for _ in range(4):
            await rt.sleep_ms(5)
            progress()
        await stuck.wait()  # stuck waiting for something
        await worker(progress)

    async def observe():
        await wait_for(lambda: supervisor.status()["b"]["stalled"])
        seen["feeds"] = watchdog.feeds
        seen["status"] = supervisor.status()["b"]
        passes = supervisor.feeds
        t0 = rt.ticks_ms()
        await wait_for(lambda: rt.ticks_diff(rt.ticks_ms(), t0) >= 50)  # five feed periods
        seen["feeds_later"] = watchdog.feeds
        assert supervisor.feeds == passes
        stuck.set()
        await wait_for(lambda: watchdog.feeds > seen["feeds_later"])
        supervisor.stop()

    async def main():
        supervisor.add("a", worker, stall_ms=60000)
        supervisor.add("b", stalling, stall_ms=200)
        observer = asyncio.create_task(observe())
        await supervisor.run()
        await observer

    support.run(main())
    return watchdog, sink, seen


def _check_stall(watchdog, sink, seen):
    assert seen["status"]["stalled"] is True
    assert seen["status"]["running"] is True
    assert seen["feeds_later"] == seen["feeds"]  # starved while b is stalled
    assert watchdog.feeds > seen["feeds_later"]  # fed again once b resumed
    stalls = [m for m in sink.messages(ERROR) if "stalled" in m]
    assert stalls == ["task b stalled: no progress for 200 ms"], stalls  # once per stall
    assert sink.messages(INFO) == ["task b progressing again"]


def test_stalled_task_starves_the_watchdog_and_is_logged_once():
    _check_stall(*_stall_scenario())


def test_stall_detection_across_the_tick_wrap():
    if not rt.EMULATED:
        support.skip("only the emulated ticks can start just before the wrap")
    rt.set_ticks_ms(rt.TICKS_PERIOD - 50)
    try:
        _check_stall(*_stall_scenario())
    finally:
        rt.set_ticks_ms(0)


def test_feeding_across_the_tick_wrap():
    if not rt.EMULATED:
        support.skip("only the emulated ticks can start just before the wrap")
    rt.set_ticks_ms(rt.TICKS_PERIOD - 50)
    try:
        watchdog = FakeWatchdog()
        supervisor, sink, _ = make(watchdog)
        supervisor.add("a", worker, stall_ms=60000)
        support.run(run_until(supervisor, lambda: watchdog.feeds >= 7 and rt.ticks_ms() < 1000))
        assert rt.ticks_ms() < 1000  # wrapped during the run
        assert watchdog.feeds >= 7
        assert sink.entries == []
    finally:
        rt.set_ticks_ms(0)


def test_stop_cancels_every_task():
    supervisor, _, _ = make()
    cancelled = []

    async def endless(progress):
        try:
            await worker(progress)
        except asyncio.CancelledError:
            cancelled.append(1)
            raise

    supervisor.add("x", endless, stall_ms=100)
    supervisor.add("y", endless, stall_ms=100)

    async def main():
        await run_for(supervisor, 30)
        assert cancelled == [1, 1]
        status = supervisor.status()
        assert not status["x"]["running"] and not status["y"]["running"]
        await rt.sleep_ms(30)  # nothing left running
        assert cancelled == [1, 1]

    support.run(main())


def test_task_that_keeps_crashing_starves_the_watchdog():
    watchdog = FakeWatchdog()
    supervisor, _, _ = make(watchdog, backoff_min_ms=100)

    async def crashy(progress):
        raise ValueError("x")

    supervisor.add("crashy", crashy, stall_ms=20)
    support.run(run_for(supervisor, 80))
    assert watchdog.feeds <= 3  # fed only until the stall time ran out
    assert supervisor.status()["crashy"]["stalled"] is True


def test_one_crash_restarted_within_the_stall_time_keeps_the_watchdog_fed():
    watchdog = FakeWatchdog()
    supervisor, _, _ = make(watchdog, backoff_min_ms=10)
    runs = [0]

    async def crash_once(progress):
        runs[0] += 1
        if runs[0] == 1:
            raise ValueError("first run fails")
        while True:
            progress()
            await rt.sleep_ms(5)

    supervisor.add("crash_once", crash_once, stall_ms=1000)
    support.run(run_until(supervisor, lambda: watchdog.feeds >= 8))
    assert runs[0] == 2
    assert watchdog.feeds >= 8
    assert supervisor.status()["crash_once"]["stalled"] is False


def test_run_app_logs_stray_exceptions_and_returns_on_stop():
    supervisor, sink, _ = make()
    log = Log([sink])

    async def stray():
        raise KeyError("lost")

    async def spawner(progress):
        asyncio.create_task(stray())  # nobody awaits it
        await rt.sleep_ms(20)
        supervisor.stop()
        await rt.sleep_ms(1000)

    supervisor.add("spawner", spawner, stall_ms=1000)
    run_app(supervisor, log)
    assert [m for m in sink.messages(ERROR) if m.startswith("unhandled: KeyError")], sink.entries


def test_run_app_returns_on_keyboard_interrupt():
    supervisor, sink, _ = make()
    log = Log([sink])

    async def interrupted(progress):
        await rt.sleep_ms(10)
        raise KeyboardInterrupt

    supervisor.add("k", interrupted, stall_ms=1000)
    run_app(supervisor, log)
    assert "stopped by keyboard interrupt" in sink.messages(INFO)


def test_a_feed_pass_allocates_nothing():
    watchdog = FakeWatchdog()
    supervisor, _, _ = make(watchdog)

    async def idle(progress):
        pass

    for name in ("a", "b", "c"):
        supervisor.add(name, idle, stall_ms=1000)
    for task in supervisor._tasks:  # as if running, with progress since the last pass
        task.running = True
        task.progress()
    micropython.heap_lock()  # MicroPython raises MemoryError on any allocation
    try:
        for task in supervisor._tasks:
            task.progress()
        supervisor._watch(rt.ticks_ms())
        supervisor._watch(rt.ticks_ms())
    finally:
        micropython.heap_unlock()
    assert watchdog.feeds == 2


def test_keyboard_interrupt_inside_a_task_winds_up_the_others_without_waiting_for_it():
    # Issue 12 item 11: a Ctrl-C that lands while a task's coroutine runs ends that coroutine;
    # MicroPython never marks its asyncio task done, and wind_up used to wait its whole
    # 3 s deadline for it: the simulation's grace ran out and the meter was killed.
    supervisor, sink, _ = make()
    log = Log([sink])
    wound_up = []

    async def other(progress):
        try:
            while True:
                progress()
                await rt.sleep_ms(5)
        finally:
            wound_up.append("other")  # the meter's last checkpoint is such a finally block

    async def interrupted(progress):
        await rt.sleep_ms(20)
        raise KeyboardInterrupt  # as a Ctrl-C arriving while this task runs

    supervisor.add("other", other, stall_ms=1000)
    supervisor.add("interrupted", interrupted, stall_ms=1000)
    run_app(supervisor, log)
    assert "stopped by keyboard interrupt" in sink.messages(INFO), sink.entries
    assert wound_up == ["other"], "expected the other task's finally block to run once, got %r" % wound_up
    assert supervisor.unfinished == [], "wind_up waited out its deadline for %r" % (supervisor.unfinished,)
    assert not [m for m in sink.messages(WARN) if "not wound up" in m], sink.entries
