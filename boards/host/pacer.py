# Real-time pacing of sample blocks, as an ADC's DMA ring delivers them: block k of
# pairs_per_block pairs at rate_hz is due k * pairs_per_block / rate_hz seconds after start,
# kept as whole ms plus a remainder so the rate never drifts. Shared by the host board's
# waveform and the stand-in board's (boards/mem/memwave.py).

import rt


class BlockPacer:
    def __init__(self, rate_hz, pairs_per_block):
        self.rate_hz = rate_hz
        self.pairs_per_block = pairs_per_block
        self._due_ms = 0
        self._due_frac = 0

    def start(self):
        self._due_ms = rt.ticks_ms()
        self._due_frac = 0
        self.advance()

    def advance(self):
        """The next block is due one block later."""
        self._due_frac += self.pairs_per_block * 1000
        whole_ms = self._due_frac // self.rate_hz
        self._due_frac -= whole_ms * self.rate_hz
        self._due_ms = rt.ticks_add(self._due_ms, whole_ms)

    async def wait(self, max_lag_ms):
        """Wait until the next block is due. A consumer more than max_lag_ms behind loses whole
        blocks, as a DMA ring would overwrite them: returns how many (0 when on time)."""
        wait_ms = rt.ticks_diff(self._due_ms, rt.ticks_ms())
        if wait_ms > 0:
            await rt.sleep_ms(wait_ms)
            return 0
        if wait_ms >= -max_lag_ms:
            return 0
        block_ms = self.pairs_per_block * 1000 // self.rate_hz or 1
        lost = -wait_ms // block_ms
        for _ in range(lost):
            self.advance()
        return lost
