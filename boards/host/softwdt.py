# Host board watchdog: ends the process, as a board's hardware watchdog resets it,
# when feed() has not been called for timeout_ms.
#
# A small checker task watches the time since the last feed. On MicroPython it is
# created with the watchdog (asyncio queues it for the loop the application starts),
# so it is armed from the start like a hardware watchdog, even if nothing ever feeds;
# CPython cannot queue a task before its loop runs, so there (tests) the first feed()
# inside a loop starts it. Every feed() also checks, so a loop that was blocked past
# the timeout is caught when it wakes; a loop blocked for good is not (there is no
# way to end a MicroPython process from a thread).
#
# On a bark it prints one line and calls exit(EXIT_WATCHDOG): the simulation restarts
# the process, as a board reboots. exit is sys.exit unless a test injects its own; it
# raises SystemExit through the event loop, so application code must not swallow
# BaseException.

import sys
import asyncio
import rt
from micropython import const

EXIT_WATCHDOG = const(76)
EXIT_RESET = const(75)
_MIN_CHECK_MS = const(50)


class SoftWatchdog:
    def __init__(self, timeout_ms, exit=None):
        self.timeout_ms = timeout_ms
        self._exit = exit or sys.exit
        self._fed_ms = rt.ticks_ms()
        self._checker = None
        self.feeds = 0
        self.armed = True
        self.barked = False
        self._start_checker()

    def feed(self):
        self.check()
        self._fed_ms = rt.ticks_ms()
        self.feeds += 1
        self._start_checker()

    def _start_checker(self):
        if self._checker is None and (not rt.EMULATED or _in_event_loop()):
            self._checker = asyncio.create_task(self._watch())

    def overdue_ms(self):
        """How far past the timeout the last feed is (<= 0: in time)."""
        return rt.ticks_diff(rt.ticks_ms(), self._fed_ms) - self.timeout_ms

    def check(self):
        """Bark if the timeout has passed since the last feed."""
        if not self.armed or self.barked or self.overdue_ms() <= 0:
            return
        self.barked = True
        print("watchdog: not fed for %d ms (timeout %d ms); exiting with code %d as a reset"
              % (self.timeout_ms + self.overdue_ms(), self.timeout_ms, EXIT_WATCHDOG))
        self._exit(EXIT_WATCHDOG)

    async def _watch(self):
        period_ms = max(_MIN_CHECK_MS, self.timeout_ms // 4)
        while self.armed and not self.barked:
            await rt.sleep_ms(period_ms)
            self.check()

    def stop(self):
        """Disarm (a hardware watchdog cannot be; tests and tools can)."""
        self.armed = False
        if self._checker is not None:
            self._checker.cancel()
            self._checker = None


def _in_event_loop():
    try:
        asyncio.current_task()
    except RuntimeError:
        return False
    return True
