# Supervisor: one task per concern, restarted with back-off, watchdog fed only on progress.
#
#   sup = Supervisor(hw.watchdog, log)
#   sup.add("metrology", lambda progress: metrology.run(progress), stall_ms=5000)
#   run_app(sup, log)
#
# A task is a coroutine made by factory(progress); it calls progress() whenever
# it completes a unit of work. A task that raises, or returns (tasks are meant to
# be endless), is logged and restarted after a back-off that doubles from
# backoff_min_ms to backoff_max_ms and drops back to the minimum once the task has
# run healthy_ms. The watchdog is fed every feed_period_ms while every task has
# made progress within its stall_ms (a start counts as progress); one stalled task
# starves it and the hardware resets. A task waiting out its back-off is judged
# too: a single crash restarts within the stall time, but a task that keeps
# crashing stops making progress and the device resets, as it would on a hang.

import gc
import asyncio
import rt
from log import format_exception, format_traceback, DEBUG


class _Task:
    """The supervisor's record of one task."""

    def __init__(self, name, factory, stall_ms, backoff_ms):
        self.name = name
        self.factory = factory
        self.stall_ms = stall_ms
        self.backoff_ms = backoff_ms  # the wait before the next restart
        self.restarts = 0
        self.last_error = None
        self.running = False  # False before the start and during a back-off
        self.stalled = False  # stays set until progress() is called: safe across the tick wrap
        self.progressed = False  # progress() since the feed loop last looked
        self.started_ticks = 0
        self.progress_ticks = 0
        self.handle = None  # the asyncio task that keeps this one running
        # Ctrl-C arrived while it ran: its coroutine has ended, but MicroPython never marks
        # such an asyncio task done, so wind_up must not wait for it.
        self.interrupted = False

    def progress(self):
        self.progress_ticks = rt.ticks_ms()
        self.progressed = True


class Supervisor:
    def __init__(
        self,
        watchdog=None,
        log=None,
        feed_period_ms=1000,
        backoff_min_ms=1000,
        backoff_max_ms=60000,
        healthy_ms=60000,
    ):
        self.watchdog = watchdog  # anything with feed(); None: watch and log only
        self.log = log.tagged("supervisor") if log is not None else None
        self.feed_period_ms = feed_period_ms
        self.backoff_min_ms = backoff_min_ms
        self.backoff_max_ms = backoff_max_ms
        self.healthy_ms = healthy_ms
        self.feeds = 0  # watchdog feeds so far (status and tests)
        self.unfinished = None  # after wind_up: names of the tasks still running at its deadline
        self._tasks = []
        self._feeder = None
        self._feeder_interrupted = False
        self._stopped = asyncio.Event()

    def add(self, name, factory, stall_ms):
        """Supervise factory(progress), which must call progress() at least every stall_ms."""
        self._tasks.append(_Task(name, factory, stall_ms, self.backoff_min_ms))

    async def run(self):
        """Start every task and watch them until stop() (or until cancelled)."""
        for task in self._tasks:
            task.handle = asyncio.create_task(self._keep_running(task))
        self._feeder = asyncio.create_task(self._feed_loop())
        try:
            await self._stopped.wait()
        finally:
            self._cancel_all()
            for handle in [task.handle for task in self._tasks] + [self._feeder]:
                try:
                    await handle
                except asyncio.CancelledError:
                    pass

    def stop(self):
        """Cancel every task and let run() return."""
        self._cancel_all()
        self._stopped.set()

    async def wind_up(self, timeout_ms=3000):
        """Wait, up to timeout_ms, until every task has finished (its finally blocks ran);
        returns (and keeps in self.unfinished) the names of those still running then.

        Polls done() rather than awaiting, and skips the task the interrupt went through:
        on MicroPython that one is finished but never marked done, and would be waited for
        until the deadline (a stop that overran the simulation's grace and was killed)."""
        deadline = rt.ticks_add(rt.ticks_ms(), timeout_ms)
        waited = [(task.name, task.handle) for task in self._tasks if not task.interrupted]
        if not self._feeder_interrupted:
            waited.append(("feeder", self._feeder))
        unfinished = []
        for name, handle in waited:
            while handle is not None and not handle.done() and rt.ticks_diff(deadline, rt.ticks_ms()) > 0:
                await rt.sleep_ms(5)
            if handle is not None and not handle.done():
                unfinished.append(name)
        self.unfinished = unfinished
        return unfinished

    def status(self):
        """{name: {"restarts", "last_error", "stalled", "running"}} for the live view.

        last_error is format_exception() of the last crash, "returned" if the task
        ended, None if neither happened; running is False during a back-off."""
        result = {}
        for task in self._tasks:
            result[task.name] = {
                "restarts": task.restarts,
                "last_error": task.last_error,
                "stalled": task.stalled,
                "running": task.running,
            }
        return result

    def _cancel_all(self):
        # MicroPython cannot cancel the running task: when a supervised task calls
        # stop(), run() cancels that one as it winds up.
        try:
            current = asyncio.current_task()
        except RuntimeError:  # stop() called outside the loop
            current = None
        for handle in [task.handle for task in self._tasks] + [self._feeder]:
            if handle is not None and handle is not current and not handle.done():
                handle.cancel()

    async def _keep_running(self, task):
        try:
            await self._restarting(task)
        except KeyboardInterrupt:
            task.interrupted = True
            raise

    async def _restarting(self, task):
        log = self.log
        while True:
            task.started_ticks = task.progress_ticks = rt.ticks_ms()  # a start counts as progress
            task.progressed = False
            task.stalled = False
            task.running = True
            try:
                await task.factory(task.progress)
                task.last_error = "returned"
                if log is not None:
                    log.warn("task %s returned; restart in %d ms", task.name, task.backoff_ms)
            except asyncio.CancelledError:
                task.running = False
                raise
            except Exception as exc:  # broad on purpose: any crash is logged, kept and restarted
                task.last_error = format_exception(exc)
                if log is not None:
                    log.error("task %s crashed: %s; restart in %d ms",
                              task.name, task.last_error, task.backoff_ms)
                    if log.enabled(DEBUG):
                        log.debug("task %s traceback:\n%s", task.name, format_traceback(exc))
            task.running = False
            await rt.sleep_ms(task.backoff_ms)
            task.backoff_ms = min(task.backoff_ms * 2, self.backoff_max_ms)
            task.restarts += 1
            if log is not None:
                log.info("task %s restarted (%d)", task.name, task.restarts)

    def _check(self, task, now):
        """Update one task's stall and back-off state; True while it is healthy."""
        if task.progressed:
            task.progressed = False
            if task.stalled:
                task.stalled = False
                if self.log is not None:
                    self.log.info("task %s progressing again", task.name)
        # Judged every period, so the tick distances stay far below the wrap's half period.
        if not task.stalled and rt.ticks_diff(now, task.progress_ticks) > task.stall_ms:
            task.stalled = True  # logged once; stays set until the task calls progress()
            if self.log is not None:
                self.log.error("task %s stalled: no progress for %d ms", task.name, task.stall_ms)
        if (task.running and task.backoff_ms != self.backoff_min_ms
                and rt.ticks_diff(now, task.started_ticks) >= self.healthy_ms):
            task.backoff_ms = self.backoff_min_ms
        return not task.stalled

    def _watch(self, now):
        """One pass of the feed loop; allocates nothing unless it logs."""
        healthy = True
        for task in self._tasks:
            if not self._check(task, now):
                healthy = False
        if healthy:
            if self.watchdog is not None:
                self.watchdog.feed()
            self.feeds += 1

    async def _feed_loop(self):
        try:
            while True:
                self._watch(rt.ticks_ms())
                await rt.sleep_ms(self.feed_period_ms)
        except KeyboardInterrupt:
            self._feeder_interrupted = True
            raise


def run_app(supervisor, log=None):
    """The entry point both applications end with.

    Runs supervisor.run() on the asyncio loop until stop() or Ctrl-C; where the loop
    offers set_exception_handler (both interpreters do), exceptions no task awaited
    are logged instead of printed. On KeyboardInterrupt every task is cancelled and
    wound up (its finally blocks run), then it returns normally, leaving a fresh event
    loop behind (MicroPython keeps its loop between runs otherwise).
    """
    app_log = log.tagged("app") if log is not None else None

    def on_stray_exception(loop, context):
        exc = context.get("exception")
        if app_log is not None:
            app_log.error("unhandled: %s", format_exception(exc) if exc else context.get("message"))

    async def main():
        loop = asyncio.get_event_loop()
        if hasattr(loop, "set_exception_handler"):
            loop.set_exception_handler(on_stray_exception)
        await supervisor.run()

    # The boot's garbage goes before the tasks start: the buffers they keep for good then
    # fill its holes at the bottom of the heap instead of landing above it (fragmentation).
    # MicroPython only: CPython's full collection takes long enough to disturb the tests' timing.
    if not rt.EMULATED:
        gc.collect()
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        if app_log is not None:
            app_log.info("stopped by keyboard interrupt")
        # MicroPython's loop lets the interrupt escape without cancelling anything (CPython's
        # asyncio.run cancels and waits): cancel every task and run the loop once more so
        # their finally blocks (the meter's last checkpoint) run either way.
        supervisor.stop()
        unfinished = asyncio.run(supervisor.wind_up())
        if unfinished and app_log is not None:
            app_log.warn("tasks not wound up in time: %s", ", ".join(unfinished))
    finally:
        if not rt.EMULATED:
            asyncio.new_event_loop()
