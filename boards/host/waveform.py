# Host board sample source: a simulated grid and load as interleaved ADC counts.
#
# Delivers `rate_hz` voltage/current pairs per second of REAL time, in blocks of
# `pairs_per_block` written into one preallocated array (the same object every
# call, valid until the next). The waveform's parameters follow the CALENDAR clock:
# the current follows a daily load profile, so at --speed 1440 a day of load passes
# in a minute while the samples stay an ordinary 50 Hz wave at rate_hz. The source
# never makes `speed` times more samples; instead one block stands for
# calendar_ms_per_block() of calendar time (its real duration times the speed), which
# is what energy must be integrated over. (The meter takes calendar time from
# hw.clock around each period, which comes to the same.)
#
# Model, with theta = 2*pi*freq_hz*t and k the harmonic order:
#   v = zero + v_dc + sqrt2*V*(sin(theta) + sum b_k*sin(k*theta - psi_k)) + noise
#   i = zero + i_dc + sqrt2*I*(sin(theta - phi) + sum a_k*sin(k*theta - phi_k)) + noise
# V = v_rms and I = i_rms * load factor are fundamental rms values; phi = phase_deg
# (current lagging is positive). Mean power: V*I*(cos(phi) + sum_k b_k*a_k*cos(phi_k - psi_k)).
# Counts clip at the converter's range, as a real one does.
#
# Generation is cheap per sample: one waveform period per channel is tabulated with
# 2048 points (unit amplitude, harmonics included) whenever the shape changes, a
# 32-bit phase accumulator steps through it at freq_hz/rate_hz periods per sample,
# amplitudes are one integer multiply, and noise comes from a precomputed table.

import math
import random
from array import array
from pacer import BlockPacer
from micropython import const

_TABLE_BITS = const(11)
_TABLE_MASK = const(2047)
_PHASE_BITS = const(32)  # phase accumulator width: one period is 2**32
_PHASE_SHIFT = const(21)  # phase >> 21 = table index
_PHASE_MASK = const(0xFFFFFFFF)
_TABLE_ONE = const(32768)  # table value of a unit-amplitude peak (Q15)
_GAIN_SHIFT = const(20)  # sample = table * gain >> 20, gain = peak counts * 32
_NOISE_LEN = const(997)  # prime, so the noise pattern does not line up with blocks

# A household's day (UTC hours 0..23): load factor for the current's rms.
DEFAULT_LOAD_PROFILE = (
    0.30, 0.25, 0.25, 0.25, 0.30, 0.50, 0.90, 1.20, 1.00, 0.80, 0.70, 0.70,
    0.80, 0.70, 0.60, 0.60, 0.80, 1.20, 1.60, 1.80, 1.50, 1.10, 0.70, 0.40,
)  # fmt: skip

# config["board"]["grid"] keys and their defaults.
GRID_DEFAULTS = {
    "v_rms": 230.0,  # fundamental rms volts
    "i_rms": 5.0,  # fundamental rms amps at load factor 1.0
    "phase_deg": 20.0,  # current lags voltage (negative: leads)
    "freq_hz": 50.0,
    "v_harmonics": [],  # [[order, fraction of fundamental, phase_deg], ...]
    "i_harmonics": [],
    "v_dc_counts": 0,  # offset added to the converter's zero
    "i_dc_counts": 0,
    "noise_counts": None,  # peak of triangular noise; None: 1 count (12 bit), 100 (24 bit)
    "load_profile": DEFAULT_LOAD_PROFILE,  # 24 hourly factors, or None for a flat 1.0
}


class WaveformSource:
    """The host board's `samples`: rate_hz pairs per real second, blocks of pairs_per_block."""

    max_lag_ms = 1000  # a consumer further behind than this loses whole blocks (counted in overruns)

    def __init__(self, clock, grid, rate_hz, pairs_per_block, adc_bits, v_per_count, i_per_count, seed=1,
                 skew_us=0):
        if adc_bits not in (12, 24):
            raise ValueError("adc_bits must be 12 or 24")
        self.clock = clock
        self.rate_hz = rate_hz
        self.pairs_per_block = pairs_per_block
        self.adc_bits = adc_bits
        # 12 bit: unsigned counts around mid-scale (as the RP2040's ADC); 24 bit: signed (as the ADS131M02).
        self.typecode = "H" if adc_bits == 12 else "i"
        self.zero_count = 2048 if adc_bits == 12 else 0
        self._min_count = 0 if adc_bits == 12 else -(1 << 23)
        self._max_count = 4095 if adc_bits == 12 else (1 << 23) - 1
        self.v_per_count = v_per_count  # calibration: volts and amps per count
        self.i_per_count = i_per_count
        # The current is sampled skew_us after the voltage (0: simultaneous, as an ADS131M02;
        # 500000 / rate_hz emulates the RP2040's round robin); the metrology corrects it.
        self.skew_us = skew_us
        self._skew_phase = 0
        self.overruns = 0  # blocks lost because the consumer fell more than 1 s behind
        self.blocks = 0

        self.grid = dict(GRID_DEFAULTS)
        if grid:
            self.grid.update(grid)
        g = self.grid
        if g["noise_counts"] is None:
            g["noise_counts"] = 1 if adc_bits == 12 else 100

        self._buf = array(self.typecode, bytes(2 * pairs_per_block * (2 if adc_bits == 12 else 4)))
        self._view = memoryview(self._buf)
        self._v_table = array("i", bytes(4 << _TABLE_BITS))
        self._i_table = array("i", bytes(4 << _TABLE_BITS))
        self._noise = array("i", bytes(4 * _NOISE_LEN))
        self._noise_at = 0
        self._phase = 0
        self._step = 0
        self._v_gain = 0
        self._i_gain = 0
        self._clips = False
        self._running = False
        self._pacer = BlockPacer(self.rate_hz, self.pairs_per_block)  # when each block is due
        self._load = None
        random.seed(seed)
        self._make_noise(g["noise_counts"])
        self.set_grid()

    # -- parameters ----------------------------------------------------------------

    def set_grid(self, **changes):
        """Change waveform parameters (keys as in GRID_DEFAULTS); takes effect next block."""
        g = self.grid
        g.update(changes)
        self._step = int(g["freq_hz"] * (1 << _PHASE_BITS) / self.rate_hz + 0.5)
        self._skew_phase = int(self._step * self.skew_us * self.rate_hz / 1_000_000 + 0.5)
        phi = math.radians(g["phase_deg"])
        self._fill_table(self._v_table, 0.0, g["v_harmonics"])
        self._fill_table(self._i_table, phi, g["i_harmonics"])
        self._v_peak_units = self._table_peak(self._v_table)
        self._i_peak_units = self._table_peak(self._i_table)
        if "noise_counts" in changes:
            self._make_noise(g["noise_counts"])
        self._load = None  # recompute amplitudes

    @staticmethod
    def _fill_table(table, phi, harmonics):
        step = 2 * math.pi / (1 << _TABLE_BITS)
        for k in range(1 << _TABLE_BITS):
            theta = k * step
            x = math.sin(theta - phi)
            for h in harmonics:
                x += h[1] * math.sin(h[0] * theta - math.radians(h[2] if len(h) > 2 else 0.0))
            table[k] = int(x * _TABLE_ONE + (0.5 if x >= 0 else -0.5))

    @staticmethod
    def _table_peak(table):
        return max(max(table), -min(table))

    def _make_noise(self, peak):
        # Triangular noise in [-peak, peak]: the sum of two uniform draws.
        noise = self._noise
        for k in range(_NOISE_LEN):
            if peak:
                noise[k] = random.randint(-peak, peak) + random.randint(-peak, peak) >> 1
            else:
                noise[k] = 0

    def load_factor(self, calendar_s=None):
        """The load profile's factor at a calendar time (UTC), linear between hours."""
        profile = self.grid["load_profile"]
        if not profile:
            return 1.0
        if calendar_s is None:
            calendar_s = self.clock.time_s()
        hours = (calendar_s % 86400) / 3600
        h = int(hours)
        frac = hours - h
        return profile[h] * (1 - frac) + profile[(h + 1) % 24] * frac

    def _update_amplitudes(self):
        # Once per block: the load profile moves with the calendar.
        g = self.grid
        load = self.load_factor()
        if load == self._load:
            return
        self._load = load
        v_peak = math.sqrt(2) * g["v_rms"] / self.v_per_count
        i_peak = math.sqrt(2) * g["i_rms"] * load / self.i_per_count
        self._v_gain = int(v_peak * (1 << _GAIN_SHIFT) / _TABLE_ONE + 0.5)
        self._i_gain = int(i_peak * (1 << _GAIN_SHIFT) / _TABLE_ONE + 0.5)
        # Clip only when the wave (plus offsets and noise) can leave the converter's range.
        reach_v = (self._v_peak_units * self._v_gain >> _GAIN_SHIFT) + abs(g["v_dc_counts"])
        reach_i = (self._i_peak_units * self._i_gain >> _GAIN_SHIFT) + abs(g["i_dc_counts"])
        reach = max(reach_v, reach_i) + g["noise_counts"]
        self._clips = self.zero_count + reach > self._max_count or self.zero_count - reach < self._min_count

    # -- the samples interface -------------------------------------------------------

    def start(self):
        self._running = True
        self._pacer.start()

    def stop(self):
        self._running = False

    def calendar_ms_per_block(self):
        """Calendar milliseconds one block stands for (its real duration times the clock's speed)."""
        return self.pairs_per_block * 1000 * self.clock.speed / self.rate_hz

    async def read_block(self):
        """The next block, when its real time has passed: a memoryview of v0, i0, v1, i1, ..."""
        if not self._running:
            raise RuntimeError("samples not started")
        lost = await self._pacer.wait(self.max_lag_ms)
        if lost:  # the consumer fell behind: the dropped blocks' waveform went by
            self.overruns += lost
            self._phase = (self._phase + lost * self.pairs_per_block * self._step) & _PHASE_MASK
        self._update_amplitudes()
        self._fill()
        self._pacer.advance()
        self.blocks += 1
        return self._view

    def _fill(self):
        g = self.grid
        buf = self._buf
        vt = self._v_table
        it = self._i_table
        noise = self._noise
        n_at = self._noise_at
        v0 = self.zero_count + g["v_dc_counts"]
        i0 = self.zero_count + g["i_dc_counts"]
        vg = self._v_gain
        ig = self._i_gain
        phase = self._phase
        step = self._step
        skew = self._skew_phase
        rounding = 1 << (_GAIN_SHIFT - 1)
        clips = self._clips
        low = self._min_count
        high = self._max_count
        for j in range(0, 2 * self.pairs_per_block, 2):
            k = (phase >> _PHASE_SHIFT) & _TABLE_MASK
            k_i = ((phase + skew) >> _PHASE_SHIFT) & _TABLE_MASK
            phase += step
            v = v0 + ((vt[k] * vg + rounding) >> _GAIN_SHIFT) + noise[n_at]
            n_at += 1
            if n_at == _NOISE_LEN:
                n_at = 0
            i = i0 + ((it[k_i] * ig + rounding) >> _GAIN_SHIFT) + noise[n_at]
            n_at += 1
            if n_at == _NOISE_LEN:
                n_at = 0
            if clips:
                v = high if v > high else low if v < low else v
                i = high if i > high else low if i < low else i
            buf[j] = v
            buf[j + 1] = i
        self._phase = phase & _PHASE_MASK
        self._noise_at = n_at
