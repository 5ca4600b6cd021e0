# The stand-in board's sample source: a 50 Hz grid and a load that follows the calendar's
# time of day, as interleaved 24-bit ADC counts (an ADS131M02's signed counts).
#
# Socket-free and small: one waveform period is tabulated per channel in counts (80 pairs
# at 4 kS/s and 50 Hz, 640 bytes each, instead of the host board's 2 x 8 KiB Q15 tables),
# the current scaled by the load in Q8 so every product stays a small int (below 2**30) on
# a 32-bit port, noise from a short table. Blocks arrive at rate_hz pairs per real second
# (wire time); the load profile (boards/host/waveform.py's) follows the calendar clock.
# The block buffer is preallocated: read_block() returns the same memoryview every call.

import math
from pacer import BlockPacer  # boards/host/pacer.py
from array import array
from micropython import const

# A household's day, UTC hours 0..23, in hundredths of the rated current (waveform.py's profile).
LOAD_PCT = bytes((30, 25, 25, 25, 30, 50, 90, 120, 100, 80, 70, 70,
                  80, 70, 60, 60, 80, 120, 160, 180, 150, 110, 70, 40))
_NOISE = const(31)  # prime, so noise and blocks do not line up
_NOISE_PEAK = const(100)  # counts, about 24-bit ADC noise


class MemSamples:
    max_lag_ms = 1000  # a consumer further behind loses whole blocks (counted in overruns)
    typecode = "i"
    adc_bits = 24
    zero_count = 0
    skew_us = 0

    def __init__(self, clock, rate_hz=4000, pairs_per_block=400, freq_hz=50, v_rms=230, i_rms=5,
                 phase_deg=20, v_per_count=1.432e-4, i_per_count=1.788e-5):
        if rate_hz % freq_hz:
            raise ValueError("rate_hz must be a multiple of freq_hz")
        self.clock = clock
        self.rate_hz = rate_hz
        self.pairs_per_block = pairs_per_block
        self.v_per_count = v_per_count
        self.i_per_count = i_per_count
        self.overruns = 0
        self.blocks = 0
        n = rate_hz // freq_hz
        self._v = array("i", bytes(4 * n))
        self._i = array("i", bytes(4 * n))
        v_peak = math.sqrt(2) * v_rms / v_per_count
        i_peak = math.sqrt(2) * i_rms / i_per_count
        phi = math.radians(phase_deg)
        for k in range(n):
            theta = 2 * math.pi * k / n
            self._v[k] = int(round(v_peak * math.sin(theta)))
            self._i[k] = int(round(i_peak * math.sin(theta - phi)))
        self._noise = array("h", bytes(2 * _NOISE))
        seed = 12345
        for k in range(_NOISE):
            seed = (seed * 1103 + 12345) % 65521  # a small LCG: the same noise every run
            self._noise[k] = seed % (2 * _NOISE_PEAK + 1) - _NOISE_PEAK
        self._buf = array("i", bytes(8 * pairs_per_block))
        self._view = memoryview(self._buf)
        self._at = 0  # index into the period tables
        self._noise_at = 0
        self._pacer = BlockPacer(rate_hz, pairs_per_block)
        self._running = False

    def load_q8(self):
        """The load factor in 1/256 at the calendar's time of day (linear between hours)."""
        s = self.clock.time_s() % 86400
        h = s // 3600
        frac = s % 3600
        a = LOAD_PCT[h]
        b = LOAD_PCT[(h + 1) % 24]
        return (a * (3600 - frac) + b * frac) * 256 // 360000

    def start(self):
        self._running = True
        self._pacer.start()

    def stop(self):
        self._running = False

    async def read_block(self):
        if not self._running:
            raise RuntimeError("samples not started")
        self.overruns += await self._pacer.wait(self.max_lag_ms)
        self._fill(self.load_q8())
        self._pacer.advance()
        self.blocks += 1
        return self._view

    def _fill(self, load_q8):
        buf = self._buf
        vt = self._v
        it = self._i
        noise = self._noise
        n = len(vt)
        k = self._at
        z = self._noise_at
        for j in range(0, 2 * self.pairs_per_block, 2):
            buf[j] = vt[k] + noise[z]
            z += 1
            if z == _NOISE:
                z = 0
            buf[j + 1] = (it[k] * load_q8 >> 8) + noise[z]
            z += 1
            if z == _NOISE:
                z = 0
            k += 1
            if k == n:
                k = 0
        self._at = k
        self._noise_at = z
