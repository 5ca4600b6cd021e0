# Runtime seam: ticks, sleeps and flags, the same on MicroPython and CPython.
#
# Firmware takes time.ticks_*, asyncio.sleep_ms, ThreadSafeFlag, wait_for_ms and
# print_exception from here and nowhere else. On MicroPython this module only re-exports. On
# CPython (host tests and tools) it reproduces MicroPython's behaviour, including
# ticks that wrap at 2**30 as on the 32-bit ports (ESP32, RP2040): the 64-bit unix
# port wraps at 2**62 and would hide wrap bugs. Tests can move the tick origin so
# the clock starts just before the wrap (set_ticks_ms).

import time
import asyncio

# Seconds from 1970-01-01 to the port's own time epoch (2000-01-01 on older ports).
_EPOCH_OFFSET_S = 946684800 if time.gmtime(0)[0] == 2000 else 0

if hasattr(time, "ticks_ms"):
    # MicroPython: the real thing.
    from time import ticks_ms, ticks_us, ticks_add, ticks_diff
    from time import sleep_ms as sleep_ms_blocking
    from asyncio import sleep_ms, ThreadSafeFlag, wait_for_ms
    from sys import print_exception
    import gc

    EMULATED = False
    TICKS_PERIOD = ticks_add(0, -1) + 1

    def mem_alloc():
        return gc.mem_alloc()

    def set_ticks_ms(value):
        raise OSError("ticks are the port's own on MicroPython")

else:
    # CPython: emulate the 32-bit ports.
    EMULATED = True
    TICKS_PERIOD = 1 << 30
    _TICKS_MAX = TICKS_PERIOD - 1
    _TICKS_HALF = TICKS_PERIOD >> 1
    _origin_ns = time.monotonic_ns()
    _offset_ms = 0

    def ticks_ms():
        return ((time.monotonic_ns() - _origin_ns) // 1_000_000 + _offset_ms) & _TICKS_MAX

    def ticks_us():
        return ((time.monotonic_ns() - _origin_ns) // 1_000 + _offset_ms * 1000) & _TICKS_MAX

    def ticks_add(ticks, delta):
        # MicroPython refuses a delta of half the period or more, either way.
        if not -_TICKS_HALF < delta < _TICKS_HALF:
            raise OverflowError("ticks interval overflow")
        return (ticks + delta) & _TICKS_MAX

    def ticks_diff(end, start):
        # Signed distance in (-period/2, period/2], exactly as MicroPython computes it.
        return ((end - start + _TICKS_HALF) & _TICKS_MAX) - _TICKS_HALF

    def set_ticks_ms(value):
        """Make ticks_ms() read `value` now (tests start the clock just before the wrap)."""
        global _origin_ns, _offset_ms
        _origin_ns = time.monotonic_ns()
        _offset_ms = value & _TICKS_MAX

    def sleep_ms_blocking(ms):
        time.sleep(ms / 1000)

    async def sleep_ms(ms):
        ticks_add(0, ms)  # the same limit as MicroPython's (about 6 days on a 32-bit port)
        await asyncio.sleep(ms / 1000)

    async def wait_for_ms(awaitable, timeout_ms):
        # Not asyncio.wait_for where asyncio.timeout exists (3.11+): 3.11's wait_for swallows
        # a cancellation of the caller that arrives as the awaitable completes, and the
        # cancelled task runs on (a test that cancels its task hangs on a busy machine).
        if _timeout is None:
            return await asyncio.wait_for(awaitable, timeout_ms / 1000)
        async with _timeout(timeout_ms / 1000):
            return await awaitable

    _timeout = getattr(asyncio, "timeout", None)

    def mem_alloc():
        return 0  # CPython has no such figure; benchmarks measure under MicroPython

    def print_exception(exc, stream):
        """sys.print_exception: the traceback, as MicroPython prints it, to stream."""
        import traceback

        stream.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))

    class ThreadSafeFlag:
        """MicroPython's ThreadSafeFlag: set() from anywhere, wait() clears it on return."""

        def __init__(self):
            self._event = asyncio.Event()
            self._loop = None

        def set(self):
            loop = self._loop
            if loop is not None and loop.is_running():
                try:
                    running = asyncio.get_running_loop()
                except RuntimeError:
                    running = None
                if running is not loop:
                    # Called from another thread, as an ISR would be.
                    loop.call_soon_threadsafe(self._event.set)
                    return
            self._event.set()

        def clear(self):
            self._event.clear()

        async def wait(self):
            self._loop = asyncio.get_running_loop()
            await self._event.wait()
            self._event.clear()


def time_s():
    """Wall-clock seconds since 1970-01-01 UTC, whatever the port's own epoch."""
    return int(time.time()) + _EPOCH_OFFSET_S  # whole seconds elapsed: floor on purpose
