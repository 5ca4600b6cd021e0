# The metrology pulse output: one pulse per quantum of registered active energy, so
# counting pulses reproduces the register.
#
# PulseLogic works on the registers' own integer energy (an EnergyAccumulator's import
# plus export: whole Wh and remainders): after each period, pulses due = floor(energy * k /
# 1 kWh) minus the pulses already issued (k = imp/kWh). No rounding of its own, so over any
# interval pulses * (1000 / k) Wh equals the register change to within one quantum, and
# exactly when k = 1000. A restart resumes from the registers (pulses owed across a power
# cut are not replayed: the baseline is the energy at start).
#
# Small ints per period on 32-bit ports: it follows the energy since the last call in mWs
# and keeps the phase within one quantum. When k divides 3.6e9 (1000, 2000, 10000, ...:
# a whole number of mWs per pulse) nothing else is needed; for other k it counts in
# mWms x k against 3.6e12, which is exact but uses long ints (heap) every period.
#
# The board's driver turns counts into light: PulseDriver.emit(count) queues pulses of
# width_ms with at least width_ms between them (boards: PIO on rp2, RMT on esp32, a
# counting pin on host). PinPulser below is the portable driver for an ordinary pin,
# run as a task; its timing is as good as the scheduler's.

import rt
from micropython import const

_MWS_PER_KWH = const(3_600_000_000)
_MWS_PER_WH = const(3_600_000)


class PulseLogic:
    def __init__(self, imp_per_kwh, energy=None):
        """energy: the EnergyAccumulator (registers) whose active energy the pulses follow."""
        if imp_per_kwh <= 0:
            raise ValueError("imp_per_kwh must be positive")
        self.imp_per_kwh = imp_per_kwh
        self.issued = 0  # pulses since start
        self._fine = _MWS_PER_KWH % imp_per_kwh != 0  # a pulse is not a whole number of mWs
        self._quantum = _MWS_PER_KWH * 1000 if self._fine else _MWS_PER_KWH // imp_per_kwh
        self._wh = self._mws = self._umws = 0
        self._phase = 0  # energy since the last whole quantum, in the quantum's unit
        if energy is not None:
            self._phase = self._delta(energy) % self._quantum  # the start's place in its quantum

    def _delta(self, energy):
        """Active energy since the last call, in mWs (mWms x k for a k that does not divide 3.6e9)."""
        regs, mws, umws = energy.regs, energy.rem_mws, energy.rem_umws
        wh = regs[0] + regs[1]
        m = mws[0] + mws[1]
        u = umws[0] + umws[1]
        delta = (wh - self._wh) * _MWS_PER_WH + (m - self._mws)
        if self._fine:
            delta = (delta * 1000 + (u - self._umws)) * self.imp_per_kwh
        self._wh, self._mws, self._umws = wh, m, u
        return delta

    def due(self, energy):
        """Pulses owed for the registers' energy now (call after each period); counts them issued."""
        phase = self._phase + self._delta(energy)
        if phase < 0:
            phase = 0  # registers never go backwards; defensive
        count = phase // self._quantum
        self._phase = phase - count * self._quantum
        self.issued += count
        return count


class PinPulser:
    """Pulses on a pin (value(0/1)): queued counts, width_ms on, width_ms off at least."""

    def __init__(self, pin, width_ms, max_pending=10000):
        self.pin = pin
        self.width_ms = width_ms
        self.pending = 0
        self.max_pending = max_pending  # a queue longer than this is dropped and counted
        self.dropped = 0
        self.emitted = 0
        pin.value(0)

    def emit(self, count):
        if count <= 0:
            return
        room = self.max_pending - self.pending
        if count > room:
            self.dropped += count - room
            count = room
        self.pending += count

    async def run(self, progress=None):
        """The pulse task: polls the queue every width_ms when idle."""
        pin = self.pin
        width = self.width_ms
        while True:
            if self.pending:
                self.pending -= 1
                pin.value(1)
                await rt.sleep_ms(width)
                pin.value(0)
                self.emitted += 1
            await rt.sleep_ms(width)
            if progress is not None:
                progress()


class CountingPulser:
    """A driver that needs no task: each pulse is one on/off of the pin at once (the host
    board's recording pin counts them; a hardware timer, PWM or PIO does the timing on a
    device)."""

    def __init__(self, pin):
        self.pin = pin
        self.emitted = 0
        self.dropped = 0
        self.pending = 0

    def emit(self, count):
        pin = self.pin
        for _ in range(count):
            pin.value(1)
            pin.value(0)
        self.emitted += count
