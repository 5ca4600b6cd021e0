# Double-buffered sample blocks handed from an interrupt to a task.
#
# The device sample sources (ADS131M02 on esp32, the RP2040 ADC with DMA) fill one
# preallocated block in interrupt context while the metrology task reads the other.
# The interrupt side calls _hand_over(index) when a block is complete; read_block()
# awaits the flag and returns the newest complete block. Blocks completed while the
# task was not looking are counted in `overruns`, never queued.

from array import array
import rt
from micropython import const

_MAX_PENDING = const(1000)  # bounded so the count stays a small int


class DoubleBufferedSource:
    def __init__(self, typecode, rate_hz, pairs_per_block, v_per_count, i_per_count, clock=None):
        self.rate_hz = rate_hz
        self.pairs_per_block = pairs_per_block
        self.v_per_count = v_per_count
        self.i_per_count = i_per_count
        self.clock = clock
        item_bytes = 2 if typecode in "hH" else 4
        size = 2 * pairs_per_block
        self._blocks = (array(typecode, bytes(item_bytes * size)), array(typecode, bytes(item_bytes * size)))
        self._views = (memoryview(self._blocks[0]), memoryview(self._blocks[1]))
        self._ready = 0  # index of the newest complete block
        self._pending = 0  # blocks completed since read_block last took one
        self._flag = rt.ThreadSafeFlag()
        self._running = False
        self.overruns = 0

    def _reset_hand_over(self):
        self._ready = 0
        self._pending = 0
        self._flag.clear()

    def _hand_over(self, block):
        # Interrupt side (scheduled): allocation-free.
        self._ready = block
        if self._pending < _MAX_PENDING:
            self._pending += 1
        self._flag.set()

    def calendar_ms_per_block(self):
        """Calendar time one block stands for: its real duration (a device's clock runs at speed 1)."""
        speed = self.clock.speed if self.clock is not None else 1
        return self.pairs_per_block * 1000 * speed / self.rate_hz

    async def read_block(self):
        """The newest complete block, v0, i0, v1, i1, ...: valid for one block period."""
        if not self._running:
            raise RuntimeError("samples not started")
        while not self._pending:
            await self._flag.wait()
        if self._pending > 1:
            self.overruns += self._pending - 1  # overwritten before we looked
        self._pending = 0
        return self._views[self._ready]
