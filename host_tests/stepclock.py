# A calendar for schedule tests that moves only when the code under test sleeps through it:
# the same instants on any machine, however loaded, on every interpreter.

import asyncio


class StepClock:
    """A calendar that moves only when the scheduler sleeps through it (a read takes no
    calendar time), up to end_s: a sleep past it parks the sleeper there (parked is set)
    until resume(). Schedule tests then see the same instants on any machine and port."""

    def __init__(self, start_s, end_s, speed=3600):
        self.speed = speed  # the scheduler caps one sleep at MAX_REAL_SLEEP_MS * speed
        self.now_ms = start_s * 1000
        self.end_ms = end_s * 1000
        self.parked = asyncio.Event()
        self._resume = asyncio.Event()

    def time_ms(self):
        return self.now_ms

    def time_s(self):
        return self.now_ms // 1000

    def set_time_s(self, epoch_s):
        self.now_ms = epoch_s * 1000

    def real_ms(self, calendar_ms):
        return calendar_ms // self.speed

    async def sleep_ms(self, calendar_ms):
        if self.now_ms + calendar_ms <= self.end_ms:
            self.now_ms += calendar_ms
            await asyncio.sleep_ms(0) if hasattr(asyncio, "sleep_ms") else await asyncio.sleep(0)
            return
        self.now_ms = self.end_ms
        self._resume = asyncio.Event()
        self.parked.set()
        await self._resume.wait()
        # Woken early, as a capped sleep wakes: the sleeper looks at the calendar again.

    def resume(self, end_s):
        self.end_ms = end_s * 1000
        self.parked = asyncio.Event()
        self._resume.set()
