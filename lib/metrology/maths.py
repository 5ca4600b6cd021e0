# Measurement periods: blocks of sample pairs in, readings out once per period.
#
# Engine folds each block through the hot-loop kernel (metrology/kernel.py) into a live
# state array; when the kernel ends a period (on a confirmed rising voltage zero
# crossing after period_pairs, so a period is a whole number of mains cycles) the state
# is copied into a second preallocated array, the live one is reset for the next period,
# and the snapshot is turned into Readings by compute(). The maths, once per period:
#
#   exact DC removal   var = Σx²/N - (Σx/N)²; cov(v, i) = Σv·i/N - mean(v)·mean(i), and
#                      the lagged sums likewise with their own exact means
#   reactive power     C- = cov(v[n], i[n-1]), C+ = cov(v[n-1], i[n]); for a sinusoid of
#                      w = 2·pi·f/rate radians per sample, (C+ - C-) / (2·sin w) = V·I·sin(phi)
#                      (positive for a lagging, inductive current)
#   phase correction   the current sampled skew_us after the voltage, plus the calibration
#                      phase, is a rotation of (P, Q) by d = 2·pi·f·skew + phase:
#                      P = Pm·cos d - Qm·sin d, Q = Qm·cos d + Pm·sin d (exact at the
#                      fundamental; harmonics, whose power is small, rotate by d too)
#   frequency          cycles·rate / (N + f1 - f0): f0, f1 the linear-interpolated
#                      fractions of the crossings that start and end the period
#   gains              volts and amps per count times the calibration gains
#
# Frequency is reported only for a period that started and ended on crossings with a
# voltage present; the last valid one (else 50 Hz) sets w for Q.

import math
from array import array
from metrology import kernel as K

_TWO_PI = 2 * math.pi
_DEFAULT_FREQ_HZ = 50.0
_SINCE_CAP = 1 << 20  # keeps the pairs-since-crossing count a small int without a voltage


class Readings:
    """The meter's live readings (MEP server and telegram builder read these)."""

    def __init__(self):
        self.vrms = 0.0
        self.irms = 0.0
        self.p_w = 0.0
        self.q_var = 0.0
        self.s_va = 0.0
        self.pf = 0.0
        self.freq_hz = 0.0
        self.pairs = 0  # sample pairs in the period
        self.cycles = 0  # whole mains cycles in it
        self.glitches = 0  # rejected crossings
        self.periods = 0  # periods computed since start
        self.vrms_counts = 0.0  # voltage rms in shifted counts (sets the crossing hysteresis)

    def as_dict(self):
        return {
            "vrms": round(self.vrms, 3),
            "irms": round(self.irms, 4),
            "p_w": round(self.p_w, 2),
            "q_var": round(self.q_var, 2),
            "s_va": round(self.s_va, 2),
            "pf": round(self.pf, 4),
            "freq_hz": round(self.freq_hz, 3),
        }


class Calibration:
    """Gains and phase applied by the maths; the identity by default."""

    def __init__(self, v_gain=1.0, i_gain=1.0, phase_deg=0.0):
        self.v_gain = v_gain
        self.i_gain = i_gain
        self.phase_deg = phase_deg  # added to the measured angle of the current's lag

    def as_dict(self):
        return {"v_gain": self.v_gain, "i_gain": self.i_gain, "phase_deg": self.phase_deg}


def shift_for(adc_bits):
    """Right shift that brings the centred voltage to at most 2**14 in magnitude."""
    return adc_bits - 15 if adc_bits > 15 else 0


class Engine:
    """Sample blocks -> periods of whole mains cycles -> Readings (on_period called each)."""

    def __init__(self, rate_hz, period_pairs, v_per_count, i_per_count, adc_bits=12, zero_count=0, skew_us=0,
                 calibration=None, on_period=None, wide=None):
        if rate_hz <= 0 or period_pairs <= 0:
            raise ValueError("rate_hz and period_pairs must be positive")
        self.rate_hz = rate_hz
        self.v_per_count = v_per_count
        self.i_per_count = i_per_count
        self.skew_us = skew_us
        self.calibration = calibration or Calibration()
        self.on_period = on_period
        # Samples in 32-bit words (array "i", as 24-bit converters deliver) or 16-bit ("H").
        self.wide = (1 if adc_bits > 16 else 0) if wide is None else wide
        self.shift = shift_for(adc_bits)
        self.readings = Readings()
        self.freq_valid_hz = _DEFAULT_FREQ_HZ
        self.state = array("i", bytes(4 * K.STATE_WORDS))
        self.snap = array("i", bytes(4 * K.STATE_WORDS))
        s = self.state
        s[K.ZERO] = zero_count
        s[K.SHIFT] = self.shift
        s[K.HYST] = 8
        s[K.MINGAP] = rate_hz // 80  # no mains above 80 Hz
        self.set_period_pairs(period_pairs)

    def set_period_pairs(self, period_pairs):
        s = self.state
        s[K.TARGET] = period_pairs
        # Past the target, a crossing must come within 1/15 s (mains >= 15 Hz) or the
        # period ends without one (no voltage).
        s[K.LIMIT] = period_pairs + self.rate_hz // 15 + K.PERSIST

    def add_block(self, block, pairs=None):
        """Fold a block (v0, i0, v1, i1, ...); returns the number of periods it completed."""
        if pairs is None:
            pairs = len(block) >> 1
        state = self.state
        run = K.run
        wide = self.wide
        at = 0
        done = 0
        while at < pairs:
            at = run(block, at, pairs, state, wide)
            if state[K.DONE]:
                self._period_end()
                done += 1
        return done

    def finish(self):
        """End the period under way now (end of a recording); returns 1 if it held samples."""
        if self.state[K.N] == 0:
            return 0
        self.state[K.WHOLE] = 0
        self._period_end()
        return 1

    def _period_end(self):
        s = self.state
        snap = self.snap
        for k in range(K.STATE_WORDS):
            snap[k] = s[k]
        for k in K.SUMS:
            s[k] = 0
            s[k + 1] = 0
        s[K.N] = 0
        s[K.CYCLES] = 0
        s[K.GLITCHES] = 0
        s[K.DONE] = 0
        s[K.PV0] = s[K.PV]
        s[K.PI0] = s[K.PI]
        s[K.STARTX] = s[K.WHOLE]
        s[K.A0] = s[K.A1]
        s[K.B0] = s[K.B1]
        if s[K.SINCE] > _SINCE_CAP:
            s[K.SINCE] = _SINCE_CAP
        compute(snap, self, self.readings)
        # The crossing detector for the next period follows the voltage just measured.
        r = self.readings
        mean = _mean_v(snap)
        offset = int(mean + (0.5 if mean >= 0 else -0.5))
        # The crossing that starts the next period was found at the old level: restate its
        # two samples against the new one, or drop it if the crossing moves off them.
        delta = s[K.OFFSET] - offset
        s[K.OFFSET] = offset
        if delta:
            s[K.A0] += delta
            s[K.B0] += delta
            if not s[K.A0] < 0 <= s[K.B0]:
                s[K.STARTX] = 0
        peak_counts = r.vrms_counts * 1.4142
        # Thresholds, not measurements: truncated on purpose (a count less is still 10 %
        # of the peak and 60 % of a cycle to within one sample).
        s[K.HYST] = max(2, int(0.1 * peak_counts))
        if r.freq_hz > 0:
            s[K.MINGAP] = int(0.6 * self.rate_hz / r.freq_hz)
        r.periods += 1
        if self.on_period is not None:
            self.on_period(r)


def _mean_v(snap):
    n = snap[K.N]
    return K.total(snap, K.SV) / n if n else 0.0


def _fraction(a, b):
    # The crossing lies between samples a < 0 <= b: its position past the first one.
    return a / (a - b) if a != b else 0.0


def compute(snap, engine, r):
    """Readings from one period's snapshot (state layout in metrology/kernel.py)."""
    n = snap[K.N]
    r.pairs = n
    r.cycles = snap[K.CYCLES]
    r.glitches = snap[K.GLITCHES]
    if n == 0:
        return r
    sv = K.total(snap, K.SV)
    si = K.total(snap, K.SI)
    mv = sv / n
    mi = si / n
    hi = float(1 << K.IL_BITS)
    var_v = K.total(snap, K.SVV) / n - mv * mv
    sii = (K.total(snap, K.SIHH) * hi + 2 * K.total(snap, K.SIHL)) * hi + K.total(snap, K.SILL)
    var_i = sii / n - mi * mi
    c0 = (K.total(snap, K.SVIH) * hi + K.total(snap, K.SVIL)) / n - mv * mi
    mv_lag = (sv - snap[K.PV] + snap[K.PV0]) / n
    mi_lag = (si - snap[K.PI] + snap[K.PI0]) / n
    c_minus = (K.total(snap, K.SVIMH) * hi + K.total(snap, K.SVIML)) / n - mv * mi_lag
    c_plus = (K.total(snap, K.SVMIH) * hi + K.total(snap, K.SVMIL)) / n - mv_lag * mi
    vrms_counts = math.sqrt(var_v) if var_v > 0 else 0.0
    irms_counts = math.sqrt(var_i) if var_i > 0 else 0.0
    r.vrms_counts = vrms_counts
    rate = engine.rate_hz
    freq = 0.0
    # A voltage under 8 counts rms (after the shift) has no trustworthy crossings.
    if snap[K.STARTX] and snap[K.WHOLE] and r.cycles > 0 and vrms_counts > 8:
        span = n + _fraction(snap[K.A1], snap[K.B1]) - _fraction(snap[K.A0], snap[K.B0])
        if span > 0:
            freq = r.cycles * rate / span
            engine.freq_valid_hz = freq
    r.freq_hz = freq
    w = _TWO_PI * engine.freq_valid_hz / rate
    q_m = (c_plus - c_minus) / (2 * math.sin(w))
    cal = engine.calibration
    d = _TWO_PI * engine.freq_valid_hz * engine.skew_us * 1e-6 + math.radians(cal.phase_deg)
    cos_d = math.cos(d)
    sin_d = math.sin(d)
    p_c = c0 * cos_d - q_m * sin_d
    q_c = q_m * cos_d + c0 * sin_d
    v_scale = engine.v_per_count * (1 << engine.shift) * cal.v_gain
    i_scale = engine.i_per_count * cal.i_gain  # the current keeps every bit
    r.vrms = vrms_counts * v_scale
    r.irms = irms_counts * i_scale
    r.p_w = p_c * v_scale * i_scale
    r.q_var = q_c * v_scale * i_scale
    r.s_va = r.vrms * r.irms
    r.pf = r.p_w / r.s_va if r.s_va > 0 else 0.0
    if r.pf > 1.0:
        r.pf = 1.0
    elif r.pf < -1.0:
        r.pf = -1.0
    return r
