# ESP32 metrology LED: pulses timed by the RMT peripheral, not by the scheduler.
#
# RMT clock 80 MHz / 255: one tick is 3.1875 us, so a 15-bit duration reaches 104 ms,
# enough for any configured width. emit() queues pulses; when the channel is idle it
# writes up to _BURST (on, off) pairs at once (the channel's RAM holds 64 items) and
# keeps the rest in `pending` for the next emit, which follows every measurement period.

import esp32
from micropython import const

_CLOCK_DIV = const(255)
_TICK_NS = const(3188)  # 1e9 * 255 / 80e6, rounded
_BURST = const(30)


class RMTPulser:
    def __init__(self, pin, width_ms, channel=0):
        ticks = width_ms * 1_000_000 // _TICK_NS
        self._ticks = ticks if ticks < 32767 else 32767
        self._rmt = esp32.RMT(channel, pin=pin, clock_div=_CLOCK_DIV, idle_level=False)
        self._items = [self._ticks] * (2 * _BURST)
        self.pending = 0
        self.emitted = 0
        self.dropped = 0

    def emit(self, count):
        self.pending += count
        if not self.pending or not self._rmt.wait_done():
            return  # still sending: the rest goes with the next emit
        burst = self.pending if self.pending < _BURST else _BURST
        self._rmt.write_pulses(self._items[:2 * burst] if burst < _BURST else self._items, 1)
        self.pending -= burst
        self.emitted += burst
