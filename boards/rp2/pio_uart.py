# RP2040 serial port on PIO state machines, for the ports the two hardware UARTs cannot
# take (the optical info port, a serial DLMS port): the same surface as the board's
# other ports (drivers/uartstream.py): async read_some(buf) / write_all(data), and
# machine.UART's init, read, readinto, write, any, flush, deinit. 8N1 only.
#
#   PioUart(sm_id, tx_pin, rx_pin, baudrate)   state machine sm_id transmits and
#                                              sm_id + 1 receives (same PIO block: 0-3 or 4-7)
#
# Both programs run at 8 cycles per bit. The receiver waits for the start bit's falling
# edge, samples each bit in its middle, and pushes the byte only if the stop bit is high
# (a framing error is dropped); each push raises the state machine's IRQ,
# whose handler empties the FIFO into a ring buffer and wakes read_some. The transmitter
# sends each FIFO word's low 8 bits, start and stop bit around them.

import rp2
import rt
from machine import Pin
from micropython import const

_CYCLES_PER_BIT = const(8)
_RING_BYTES = const(512)
_TX_FIFO = const(4)


@rp2.asm_pio(sideset_init=rp2.PIO.OUT_HIGH, out_init=rp2.PIO.OUT_HIGH, out_shiftdir=rp2.PIO.SHIFT_RIGHT)
def _tx():
    pull().side(1)[7]  # noqa: F821  (PIO assembler names) idle high until a byte comes
    set(x, 7).side(0)[7]  # noqa: F821  start bit, 8 cycles
    label("bit")  # noqa: F821
    out(pins, 1)[6]  # noqa: F821  one data bit, LSB first, 8 cycles with the jmp
    jmp(x_dec, "bit")  # noqa: F821
    nop().side(1)[6]  # noqa: F821  stop bit (the pull above adds the 8th cycle)


@rp2.asm_pio(in_shiftdir=rp2.PIO.SHIFT_RIGHT, fifo_join=rp2.PIO.JOIN_RX)
def _rx():
    label("start")  # noqa: F821
    wait(0, pin, 0)  # noqa: F821  the start bit's falling edge
    set(x, 7)[10]  # noqa: F821  to the middle of the first data bit (12 cycles)
    label("bit")  # noqa: F821
    in_(pins, 1)  # noqa: F821
    jmp(x_dec, "bit")[6]  # noqa: F821  8 cycles per bit
    jmp(pin, "good")  # noqa: F821  stop bit high: a byte
    wait(1, pin, 0)  # noqa: F821  framing error: dropped; let the line go idle  # noqa: F821  let the line go idle before the next start bit
    jmp("start")  # noqa: F821
    label("good")  # noqa: F821
    push(noblock)  # noqa: F821  the byte in ISR's top 8 bits
    irq(rel(0))  # noqa: F821  tell the CPU


class PioUart:
    def __init__(self, sm_id, tx_pin, rx_pin, baudrate=9600):
        self.sm_id = sm_id
        self._tx_pin = Pin(tx_pin, Pin.OUT, value=1)
        self._rx_pin = Pin(rx_pin, Pin.IN, Pin.PULL_UP)
        self._ring = bytearray(_RING_BYTES)
        self._head = 0  # next write
        self._tail = 0  # next read
        self.overruns = 0  # bytes lost to a full ring
        self._flag = rt.ThreadSafeFlag()
        self._tx = None
        self._rx = None
        self.init(baudrate=baudrate)

    def init(self, baudrate=None, bits=8, parity=None, stop=1, **_ignored):
        if bits != 8 or parity is not None or stop != 1:
            raise ValueError("PioUart: 8N1 only")
        if baudrate is not None:
            self.baudrate = baudrate
        self.deinit()
        freq = self.baudrate * _CYCLES_PER_BIT
        self._tx = rp2.StateMachine(self.sm_id, _tx, freq=freq, sideset_base=self._tx_pin, out_base=self._tx_pin)
        self._rx = rp2.StateMachine(self.sm_id + 1, _rx, freq=freq, in_base=self._rx_pin, jmp_pin=self._rx_pin)
        self._rx.irq(self._on_irq)
        self._tx.active(1)
        self._rx.active(1)

    def deinit(self):
        for sm in (self._tx, self._rx):
            if sm is not None:
                sm.active(0)

    def _on_irq(self, _sm):
        rx = self._rx
        ring = self._ring
        while rx.rx_fifo():
            byte = rx.get() >> 24
            nxt = (self._head + 1) % _RING_BYTES
            if nxt == self._tail:
                self.overruns += 1
                continue
            ring[self._head] = byte
            self._head = nxt
        self._flag.set()

    # -- machine.UART surface

    def any(self):
        return (self._head - self._tail) % _RING_BYTES

    def readinto(self, buf, nbytes=None):
        n = len(buf) if nbytes is None else min(nbytes, len(buf))
        got = 0
        ring = self._ring
        while got < n and self._tail != self._head:
            buf[got] = ring[self._tail]
            self._tail = (self._tail + 1) % _RING_BYTES
            got += 1
        return got or None

    def read(self, nbytes=-1):
        buf = bytearray(self.any() if nbytes < 0 else min(nbytes, self.any()))
        n = self.readinto(buf)
        return bytes(buf[:n]) if n else None

    def write(self, buf):
        """Bytes the transmit FIFO takes now (never blocks)."""
        sm = self._tx
        n = 0
        while n < len(buf) and sm.tx_fifo() < _TX_FIFO:
            sm.put(buf[n])
            n += 1
        return n

    def flush(self):
        while self._tx.tx_fifo():
            pass

    # -- the portable coroutines

    async def read_some(self, buf):
        while True:
            n = self.readinto(buf)
            if n:
                return n
            await self._flag.wait()

    async def write_all(self, data):
        char_ms = 1 + 10_000 // self.baudrate  # one character's time, rounded up
        view = memoryview(data)
        sent = 0
        while sent < len(data):
            sent += self.write(view[sent:])
            if sent < len(data):
                await rt.sleep_ms(char_ms * _TX_FIFO)
