# The metrology pulse output: one pulse per quantum of registered active energy, so
# counting pulses reproduces the register.
#
# PulseLogic works on the registers' own integer energy (EnergyAccumulator.active_mwms,
# import plus export in mWms): after each period, pulses due = floor(energy * k / 3.6e12)
# minus the pulses already issued (k = imp/kWh). No rounding of its own, so over any
# interval pulses * (1000 / k) Wh equals the register change to within one quantum,
# and exactly when k = 1000. A restart resumes from the registers (pulses owed across a
# power cut are not replayed: the baseline is the energy at start).
#
# The board's driver turns counts into light: PulseDriver.emit(count) queues pulses of
# width_ms with at least width_ms between them (boards: PIO on rp2, RMT on esp32, a
# counting pin on host). PinPulser below is the portable driver for an ordinary pin,
# run as a task; its timing is as good as the scheduler's.

import rt

_MWMS_PER_KWH = 3_600_000_000_000


class PulseLogic:
    def __init__(self, imp_per_kwh, energy_mwms=0):
        if imp_per_kwh <= 0:
            raise ValueError("imp_per_kwh must be positive")
        self.imp_per_kwh = imp_per_kwh
        self.issued = 0  # pulses since start
        self._base = energy_mwms * imp_per_kwh // _MWMS_PER_KWH  # quanta already passed at start

    def due(self, energy_mwms):
        """Pulses owed for the registers' energy now (call after each period); counts them issued."""
        quanta = energy_mwms * self.imp_per_kwh // _MWMS_PER_KWH - self._base
        count = quanta - self.issued
        if count < 0:
            return 0  # registers never go backwards; defensive
        self.issued = quanta
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
