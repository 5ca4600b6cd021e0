# Energy accounting in integers: whole Wh / varh plus a carried remainder, so no energy is
# lost or invented by rounding (the remainder of one period is carried into the next).
# Storage-free; firmware/meter/registers.py persists it.
#
#   active      import (P >= 0) and export (P < 0)
#   reactive    four quadrants: Q1 import inductive (P >= 0, Q >= 0), Q2 export
#               (P < 0, Q >= 0), Q3 export (P < 0, Q < 0), Q4 import capacitive (P >= 0, Q < 0)
#   tariffs     whole Wh of import and export also go to the current tariff's registers,
#               so the tariff registers always add up to the totals exactly (energy under
#               one Wh at a tariff change is booked to the tariff in force when it
#               completes its Wh)
#   pulses      metrology/pulse.py counts its quanta from the active registers (import
#               plus export: whole Wh and the mWs remainders)
#
# Exact on 32-bit ports: power is taken as integer milliwatts (a float is rounded to the
# nearest mW once, from its integer and fractional parts, so no float product reaches
# 2**24), durations are integer ms, and energy is integer mW x ms. A Wh is 3.6e9 mWms,
# beyond the small ints of a 32-bit port (2**30), so the remainder below one Wh is kept in
# two small ints: `rem_mws` (mWs, < 3,600,000) and `rem_umws` (mWms, i.e. uWs, < 1000).
# A period then allocates nothing while W x ms stays under 2**30 (1 MW for 1 s).

from micropython import const

MWMS_PER_WH = const(3_600_000_000)  # milliwatt-milliseconds in one watt-hour (a long int on 32 bits)
_MWS_PER_WH = const(3_600_000)  # milliwatt-seconds in one watt-hour
MAX_TARIFFS = const(8)
# Register order in `regs` and the remainders: import, export, q1..q4.
IMPORT = const(0)
EXPORT = const(1)
Q1 = const(2)
NAMES = ("import_wh", "export_wh", "q1_varh", "q2_varh", "q3_varh", "q4_varh")


def milli(value):
    """A power in W (int or float) as integer mW, rounded to nearest (halves away from zero).

    Rounds the float's fractional part alone (its product with 1000 stays under 1000, exact
    to float32's 24 bits), so a float32 of 20 kW gives the mW it holds, not a product
    rounded at 2**24."""
    if isinstance(value, int):
        return value * 1000
    negative = value < 0
    if negative:
        value = -value
    whole = int(value)  # the integer part of a float is exact in the float
    mw = whole * 1000 + int((value - whole) * 1000 + 0.5)  # value - whole: exact
    return -mw if negative else mw


class EnergyAccumulator:
    def __init__(self, tariffs=1):
        if not 1 <= tariffs <= MAX_TARIFFS:
            raise ValueError("tariffs must be 1..%d" % MAX_TARIFFS)
        self.regs = [0] * 6  # whole Wh / varh
        self.rem_mws = [0] * 6  # remainders below one Wh: whole mWs (mvars) ...
        self.rem_umws = [0] * 6  # ... and mWms (uWs) below one mWs
        self.tariff = 0  # current tariff index
        self.tariff_import_wh = [0] * tariffs
        self.tariff_export_wh = [0] * tariffs

    @property
    def import_wh(self):
        return self.regs[IMPORT]

    @import_wh.setter
    def import_wh(self, value):
        self.regs[IMPORT] = value

    @property
    def export_wh(self):
        return self.regs[EXPORT]

    @export_wh.setter
    def export_wh(self, value):
        self.regs[EXPORT] = value

    @property
    def rems(self):
        """The remainders in mWms (persistence, reports; long ints on 32 bits)."""
        return [self.rem_mwms(k) for k in range(6)]

    def rem_mwms(self, index):
        return self.rem_mws[index] * 1000 + self.rem_umws[index]

    def set_rem_mwms(self, index, value):
        if not 0 <= value < MWMS_PER_WH:
            raise ValueError("remainder out of range")
        self.rem_mws[index] = value // 1000
        self.rem_umws[index] = value % 1000

    def _book(self, index, power_mw, duration_ms):
        # power_mw x duration_ms mWms = W x ms + mW' x s (mWs) + mW' x ms' (mWms), where
        # power_mw = W * 1000 + mW' and duration_ms = s * 1000 + ms': each product stays small.
        w = power_mw // 1000
        mw = power_mw - w * 1000
        s = duration_ms // 1000
        umws = self.rem_umws[index] + mw * (duration_ms - s * 1000)
        carry = umws // 1000
        self.rem_umws[index] = umws - carry * 1000
        mws = self.rem_mws[index] + w * duration_ms + mw * s + carry
        whole = mws // _MWS_PER_WH
        self.rem_mws[index] = mws - whole * _MWS_PER_WH
        self.regs[index] += whole
        return whole

    def add(self, p_w, q_var, duration_ms):
        """Register p_w and q_var (W, var: int or float) held for duration_ms (P < 0: export)."""
        self.add_mw(milli(p_w), milli(q_var), duration_ms)

    def add_mw(self, p_mw, q_mvar, duration_ms):
        """Register integer mW and mvar held for integer duration_ms (P < 0: export)."""
        if not isinstance(duration_ms, int):
            raise TypeError("duration_ms must be an integer")
        if duration_ms < 0:
            raise ValueError("negative duration")
        if p_mw >= 0:
            self.tariff_import_wh[self.tariff] += self._book(IMPORT, p_mw, duration_ms)
            quadrant = 0 if q_mvar >= 0 else 3
        else:
            self.tariff_export_wh[self.tariff] += self._book(EXPORT, -p_mw, duration_ms)
            quadrant = 1 if q_mvar >= 0 else 2
        self._book(Q1 + quadrant, q_mvar if q_mvar >= 0 else -q_mvar, duration_ms)

    def active_mwms(self):
        """All active energy (import + export) so far, in mWms (a long int: reports, tests)."""
        return (self.regs[IMPORT] + self.regs[EXPORT]) * MWMS_PER_WH + self.rem_mwms(IMPORT) + self.rem_mwms(EXPORT)

    def exact_wh(self, index):
        """A register with its remainder, as a float (reports, tools)."""
        return self.regs[index] + self.rem_mws[index] / _MWS_PER_WH

    def as_dict(self):
        d = {}
        for k in range(6):
            d[NAMES[k]] = self.regs[k]
        d["tariff"] = self.tariff
        d["tariff_import_wh"] = list(self.tariff_import_wh)
        d["tariff_export_wh"] = list(self.tariff_export_wh)
        return d
