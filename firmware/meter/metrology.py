# The meter's metrology: sample blocks -> measurement periods (lib/metrology) ->
# energy registers and pulse output, with the starting-current and no-load rules.
#
# Per period (a whole number of mains cycles, about period_ms long):
#   readings    Vrms, Irms, P, Q, S, PF, frequency (metrology/maths.py), always updated
#   start/creep energy is registered only when Irms >= start_ma, and then P only when
#               |P| >= creep_w and Q only when |Q| >= creep_var; so a meter with no load
#               (or noise alone) registers nothing, and 0.4 % of Ib (class 1 starting
#               current) at the default 20 mA threshold and Ib = 10 A does register
#   energy      P and Q (rounded to integer mW once) over the calendar time the period's
#               samples (plus any blocks lost before it) stand for, in integer ms with the
#               sub-ms rest carried, booked under the tariff in force
#   pulses      one per quantum of active energy (metrology/pulse.py) to the driver

from metrology.maths import Engine, Calibration
from metrology.pulse import PulseLogic

DEFAULTS = {
    "period_ms": 1000,
    "start_ma": 20,
    "creep_w": 1.0,
    "creep_var": 1.0,
    "pulse_imp_per_kwh": 1000,
}


class Metrology:
    def __init__(self, rate_hz, period_pairs, v_per_count, i_per_count, registers, settings=None, adc_bits=12,
                 zero_count=0, skew_us=0, calibration=None, calendar_ms_per_pair=None, clock=None, pulses=None):
        s = dict(DEFAULTS)
        if settings:
            s.update(settings)
        self.registers = registers
        self.clock = clock
        self.pulses = pulses  # a driver with emit(count), or None
        self.start_a = s["start_ma"] / 1000
        self.creep_w = s["creep_w"]
        self.creep_var = s["creep_var"]
        self.rate_hz = rate_hz
        self.calendar_ms_per_pair = calendar_ms_per_pair or 1000 / rate_hz
        # Calendar time per pair in whole us, rounded on purpose once (4 kS/s: 250 us); the
        # sub-ms rest of each period is carried, so the registers get integer ms and lose none.
        self._us_per_pair = int(self.calendar_ms_per_pair * 1000 + 0.5)
        self._carried_us = 0
        self.pulse_logic = PulseLogic(s["pulse_imp_per_kwh"], registers)
        self.engine = Engine(rate_hz, period_pairs, v_per_count, i_per_count, adc_bits=adc_bits,
                             zero_count=zero_count, skew_us=skew_us, calibration=calibration or Calibration(),
                             on_period=self._period)
        self.readings = self.engine.readings
        self.periods = 0
        self.idle_periods = 0  # periods below the starting current (nothing registered)
        self._missed_pairs = 0

    @property
    def calibration(self):
        return self.engine.calibration

    def add_block(self, block, pairs=None, missed_pairs=0):
        """Fold a block; missed_pairs (lost before it) count at the next period's power."""
        self._missed_pairs += missed_pairs
        return self.engine.add_block(block, pairs)

    def finish(self):
        """Register the period under way now (end of a recording, shutdown)."""
        return self.engine.finish()

    def _period(self, r):
        pairs = r.pairs + self._missed_pairs
        self._missed_pairs = 0
        self.periods += 1
        p_w = q_var = 0.0
        if r.irms >= self.start_a:
            if r.p_w >= self.creep_w or r.p_w <= -self.creep_w:
                p_w = r.p_w
            if r.q_var >= self.creep_var or r.q_var <= -self.creep_var:
                q_var = r.q_var
        else:
            self.idle_periods += 1
        regs = self.registers
        if self.clock is not None and hasattr(regs, "update_tariff"):
            regs.update_tariff(self.clock.time_s())
        us = self._carried_us + pairs * self._us_per_pair
        duration_ms = us // 1000
        self._carried_us = us - duration_ms * 1000
        regs.add(p_w, q_var, duration_ms)
        count = self.pulse_logic.due(regs)
        if count and self.pulses is not None:
            self.pulses.emit(count)
