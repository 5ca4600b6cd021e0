# Double-buffered sample blocks handed from an interrupt to a task.
#
# The device sample sources (ADS131M02 on esp32, the RP2040 ADC with DMA) fill one
# preallocated block in interrupt context while the metrology task reads the other.
# The interrupt side calls _hand_over(index) when a block is complete; read_block()
# awaits the flag and returns the newest complete block. Blocks completed while the
# task was not looking are counted in `overruns`, never queued.
#
# Each side writes only its own counter (the interrupt `_completed`, the task `_taken`,
# both wrapping within small ints), so no hand-over is lost between a read and a write
# of a shared count, whenever the interrupt lands.

from array import array
import rt
from micropython import const

_COUNT_MASK = const(0x3FFFFFFF)  # counters wrap below 2**30: small ints on every port


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
        self._completed = 0  # blocks handed over (interrupt side)
        self._taken = 0  # value of _completed when read_block last took a block (task side)
        self._flag = rt.ThreadSafeFlag()
        self._running = False
        self.overruns = 0

    def _reset_hand_over(self):
        self._ready = 0
        self._completed = 0
        self._taken = 0
        self._flag.clear()

    def _hand_over(self, block):
        # Interrupt side (scheduled): allocation-free.
        self._ready = block
        self._completed = (self._completed + 1) & _COUNT_MASK
        self._flag.set()

    def calendar_ms_per_block(self):
        """Calendar time one block stands for: its real duration (a device's clock runs at speed 1)."""
        speed = self.clock.speed if self.clock is not None else 1
        return self.pairs_per_block * 1000 * speed / self.rate_hz

    async def read_block(self):
        """The newest complete block, v0, i0, v1, i1, ...: valid for one block period."""
        if not self._running:
            raise RuntimeError("samples not started")
        while self._completed == self._taken:
            await self._flag.wait()
        completed = self._completed
        ready = self._ready  # may already be newer than `completed`: still a whole block
        missed = ((completed - self._taken) & _COUNT_MASK) - 1
        if missed > 0:
            self.overruns += missed  # overwritten before we looked
        self._taken = completed
        return self._views[ready]
