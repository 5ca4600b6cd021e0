# Energy accounting in integers: whole Wh / varh plus a carried remainder in
# milliwatt-milliseconds, so no energy is lost or invented by rounding (the remainder of
# one period is carried into the next). Storage-free; firmware/meter/registers.py
# persists it.
#
#   active      import (P >= 0) and export (P < 0)
#   reactive    four quadrants: Q1 import inductive (P >= 0, Q >= 0), Q2 export
#               (P < 0, Q >= 0), Q3 export (P < 0, Q < 0), Q4 import capacitive (P >= 0, Q < 0)
#   tariffs     whole Wh of import and export also go to the current tariff's registers,
#               so the tariff registers always add up to the totals exactly (energy under
#               one Wh at a tariff change is booked to the tariff in force when it
#               completes its Wh)
#   pulses      `active_mwms()` is the total of import and export in mWms, from which the
#               pulse output counts its quanta (metrology/pulse.py)

from micropython import const

MWMS_PER_WH = const(3_600_000_000)  # milliwatt-milliseconds in one watt-hour
MAX_TARIFFS = const(8)
# Register order in `regs` and `rems`: import, export, q1..q4.
IMPORT = const(0)
EXPORT = const(1)
Q1 = const(2)
NAMES = ("import_wh", "export_wh", "q1_varh", "q2_varh", "q3_varh", "q4_varh")


class EnergyAccumulator:
    def __init__(self, tariffs=1):
        if not 1 <= tariffs <= MAX_TARIFFS:
            raise ValueError("tariffs must be 1..%d" % MAX_TARIFFS)
        self.regs = [0] * 6  # whole Wh / varh
        self.rems = [0] * 6  # remainders, mWms (mvarms) below one Wh
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

    def _book(self, index, energy_mwms):
        whole, self.rems[index] = divmod(self.rems[index] + energy_mwms, MWMS_PER_WH)
        self.regs[index] += whole
        return whole

    def add(self, p_w, q_var, duration_ms):
        """Register p_w and q_var held for duration_ms (P < 0: export)."""
        if duration_ms < 0:
            raise ValueError("negative duration")
        p_mwms = int(abs(p_w) * 1000 * duration_ms + 0.5)
        q_mwms = int(abs(q_var) * 1000 * duration_ms + 0.5)
        if p_w >= 0:
            self.tariff_import_wh[self.tariff] += self._book(IMPORT, p_mwms)
            quadrant = 0 if q_var >= 0 else 3
        else:
            self.tariff_export_wh[self.tariff] += self._book(EXPORT, p_mwms)
            quadrant = 1 if q_var >= 0 else 2
        self._book(Q1 + quadrant, q_mwms)

    def active_mwms(self):
        """All active energy (import + export) so far, in mWms."""
        return (self.regs[IMPORT] + self.regs[EXPORT]) * MWMS_PER_WH + self.rems[IMPORT] + self.rems[EXPORT]

    def exact_wh(self, index):
        """A register with its remainder, as a float (reports, tools)."""
        return self.regs[index] + self.rems[index] / MWMS_PER_WH

    def as_dict(self):
        d = {}
        for k in range(6):
            d[NAMES[k]] = self.regs[k]
        d["tariff"] = self.tariff
        d["tariff_import_wh"] = list(self.tariff_import_wh)
        d["tariff_export_wh"] = list(self.tariff_export_wh)
        return d
