# Metrology, first cut: integer sums per block, float maths once per period.
#
# Blocks of interleaved ADC counts (v0, i0, v1, i1, ...) are reduced to integer
# sums (Σv, Σi, Σv², Σi², Σv·i) straight away, so the block buffer can be reused;
# at the end of a period the sums give Vrms, Irms, P, S and PF with exact DC
# removal (rms² = Σx²/N − (Σx/N)², as EmonLibCM does), and the frequency comes
# from interpolated rising zero crossings of the voltage.


class Readings:
    def __init__(self):
        self.vrms = 0.0
        self.irms = 0.0
        self.p_w = 0.0
        self.s_va = 0.0
        self.pf = 0.0
        self.freq_hz = 0.0
        self.pairs = 0

    def as_dict(self):
        return {
            "vrms": round(self.vrms, 3),
            "irms": round(self.irms, 4),
            "p_w": round(self.p_w, 2),
            "s_va": round(self.s_va, 2),
            "pf": round(self.pf, 4),
            "freq_hz": round(self.freq_hz, 3),
        }


class Metrology:
    """Accumulates blocks and yields Readings every `pairs_per_period` sample pairs."""

    def __init__(self, rate_hz, pairs_per_period, v_per_count, i_per_count, offset_counts=0):
        self.rate_hz = rate_hz
        self.pairs_per_period = pairs_per_period
        self.v_per_count = v_per_count
        self.i_per_count = i_per_count
        self.readings = Readings()
        self._v_offset = offset_counts  # last period's mean, used to find zero crossings
        self._reset()

    def _reset(self):
        self._n = 0
        self._sv = 0
        self._si = 0
        self._svv = 0
        self._sii = 0
        self._svi = 0
        self._first_cross = -1.0
        self._last_cross = -1.0
        self._crossings = 0
        self._prev_v = None

    def add_block(self, block):
        """Fold one block into the period; returns True when a period is complete."""
        sv = si = svv = sii = svi = 0
        offset = self._v_offset
        prev = self._prev_v
        base = self._n
        crossings = self._crossings
        first = self._first_cross
        last = self._last_cross
        pairs = len(block) >> 1
        for k in range(pairs):
            v = block[2 * k]
            i = block[2 * k + 1]
            sv += v
            si += i
            svv += v * v
            sii += i * i
            svi += v * i
            centred = v - offset
            if prev is not None and prev < 0 <= centred:
                # Rising zero crossing between the previous sample and this one.
                at = base + k - 1 + (-prev) / (centred - prev)
                if crossings == 0:
                    first = at
                last = at
                crossings += 1
            prev = centred
        self._n += pairs
        self._sv += sv
        self._si += si
        self._svv += svv
        self._sii += sii
        self._svi += svi
        self._prev_v = prev
        self._crossings = crossings
        self._first_cross = first
        self._last_cross = last
        if self._n >= self.pairs_per_period:
            self._finish()
            return True
        return False

    def _finish(self):
        n = self._n
        mean_v = self._sv / n
        mean_i = self._si / n
        var_v = self._svv / n - mean_v * mean_v
        var_i = self._sii / n - mean_i * mean_i
        cov = self._svi / n - mean_v * mean_i
        r = self.readings
        r.pairs = n
        r.vrms = (var_v if var_v > 0 else 0) ** 0.5 * self.v_per_count
        r.irms = (var_i if var_i > 0 else 0) ** 0.5 * self.i_per_count
        r.p_w = cov * self.v_per_count * self.i_per_count
        r.s_va = r.vrms * r.irms
        r.pf = r.p_w / r.s_va if r.s_va > 0 else 0.0
        if self._crossings >= 2 and self._last_cross > self._first_cross:
            r.freq_hz = (self._crossings - 1) * self.rate_hz / (self._last_cross - self._first_cross)
        else:
            r.freq_hz = 0.0
        self._v_offset = int(mean_v)
        self._reset()
