# RP2040 metrology LED: pulses timed by a PIO state machine, not by the scheduler.
#
# The state machine runs at 2 kHz (one instruction per 0.5 ms; the slowest clock the
# PIO divider gives at 125 MHz is about 1.9 kHz). The pulse width in cycles is loaded
# once into ISR; each word the CPU puts in the TX FIFO is a count of pulses minus one,
# and the program drives width on, width off for each. emit() never blocks: when the
# 4-deep FIFO is full the count waits in `pending` and goes with the next emit.

import rp2
from micropython import const

_SM_FREQ_HZ = const(2000)
_MAX_WORD = const(1000)  # pulses per FIFO word


@rp2.asm_pio(set_init=rp2.PIO.OUT_LOW)
def _pulses():
    pull(block)  # noqa: F821  (PIO assembler names)
    mov(x, osr)  # noqa: F821
    label("next")  # noqa: F821
    set(pins, 1)  # noqa: F821
    mov(y, isr)  # noqa: F821
    label("on")  # noqa: F821
    jmp(y_dec, "on")  # noqa: F821
    set(pins, 0)  # noqa: F821
    mov(y, isr)  # noqa: F821
    label("off")  # noqa: F821
    jmp(y_dec, "off")  # noqa: F821
    jmp(x_dec, "next")  # noqa: F821


class PIOPulser:
    def __init__(self, pin, width_ms, sm_id=4):
        self.pending = 0
        self.emitted = 0  # pulses handed to the state machine
        self.dropped = 0
        self._sm = rp2.StateMachine(sm_id, _pulses, freq=_SM_FREQ_HZ, set_base=pin)
        self._sm.put(width_ms * _SM_FREQ_HZ // 1000 - 1)
        self._sm.exec("pull()")
        self._sm.exec("mov(isr, osr)")
        self._sm.active(1)

    def emit(self, count):
        self.pending += count
        sm = self._sm
        while self.pending and sm.tx_fifo() < 4:
            word = self.pending if self.pending < _MAX_WORD else _MAX_WORD
            sm.put(word - 1)
            self.pending -= word
            self.emitted += word
