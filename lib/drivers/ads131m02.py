# TI ADS131M02 two-channel 24-bit simultaneous-sampling ADC as the meter's sample source.
#
# Channel 0 samples the voltage, channel 1 the current, at the same instant. Every
# conversion pulls DRDY low; the pin's IRQ handler reads the frame (status word,
# CH0, CH1, CRC: four 24-bit words, datasheet SBAS950 section 8.5.1.7) and stores the
# two sign-extended values in the block being filled. When a block is full it swaps to
# the other preallocated block and sets a ThreadSafeFlag; read_block() awaits it.
#
# The handler runs as a soft (scheduled) IRQ, not a hard one: it talks SPI, which the
# ESP32's driver does not allow from interrupt context. It allocates nothing. At 2 kSPS
# that is one scheduled call per 500 us (about 60-80 us each on an ESP32 at 160 MHz,
# some 15 % of the CPU); a GC pause longer than the scheduler queue (4 samples) loses
# samples, which is why blocks stay short and the heap small.
#
# Hardware-free: it takes the SPI bus, chip select and DRDY pin (with its IRQ trigger
# constant), so tests can drive it with a fake chip.

import rt
from micropython import const
from drivers.blocks import DoubleBufferedSource

# Commands (16 bits, sent left-aligned in a 24-bit word), datasheet section 8.5.1.10.
_CMD_NULL = const(0x0000)
_CMD_RESET = const(0x0011)
_CMD_RREG = const(0xA000)  # | address << 7 | (count - 1)
_CMD_WREG = const(0x6000)

# Registers (section 8.6).
REG_ID = const(0x00)
REG_STATUS = const(0x01)
REG_MODE = const(0x02)
REG_CLOCK = const(0x03)
REG_GAIN = const(0x04)

# CLOCK register: channel enables, oversampling ratio, power mode.
_CLOCK_CH1_EN = const(1 << 9)
_CLOCK_CH0_EN = const(1 << 8)
_CLOCK_OSR_SHIFT = const(2)
_CLOCK_PWR_HIGH_RES = const(0b10)

RESET_ACK = const(0xFF22)  # the response to RESET: 0xFF20 | number of channels
_WORD_BYTES = const(3)
_FRAME_BYTES = const(12)  # status, CH0, CH1, CRC

CLKIN_HZ = 8_192_000  # an external oscillator: the chip has no crystal driver
# Output data rate = CLKIN / 2 / OSR; the OSR field's codes (section 8.6.4).
_OSR_CODES = {128: 0, 256: 1, 512: 2, 1024: 3, 2048: 4, 4096: 5, 8192: 6}
# PGA gain codes 0..7 = gain 1..128.
_GAIN_CODES = {1: 0, 2: 1, 4: 2, 8: 3, 16: 4, 32: 5, 64: 6, 128: 7}


def osr_for_rate(rate_hz, clkin_hz=CLKIN_HZ):
    osr = clkin_hz // 2 // rate_hz
    if osr not in _OSR_CODES or clkin_hz // 2 != osr * rate_hz:
        raise ValueError("rate_hz %d is not CLKIN/2/OSR for an OSR of 128..8192" % rate_hz)
    return osr


def clock_register(rate_hz, clkin_hz=CLKIN_HZ):
    code = _OSR_CODES[osr_for_rate(rate_hz, clkin_hz)]
    return _CLOCK_CH1_EN | _CLOCK_CH0_EN | code << _CLOCK_OSR_SHIFT | _CLOCK_PWR_HIGH_RES


def gain_register(v_gain, i_gain):
    return _GAIN_CODES[i_gain] << 4 | _GAIN_CODES[v_gain]


class ADS131M02(DoubleBufferedSource):
    adc_bits = 24
    typecode = "i"
    zero_count = 0
    skew_us = 0  # simultaneous sampling

    def __init__(self, spi, cs, drdy, irq_falling, rate_hz, pairs_per_block, v_per_count, i_per_count,
                 v_gain=1, i_gain=1, clock=None):
        super().__init__(self.typecode, rate_hz, pairs_per_block, v_per_count, i_per_count, clock)
        self._spi = spi
        self._cs = cs
        self._drdy = drdy
        self._irq_falling = irq_falling
        self._clock_reg = clock_register(rate_hz)
        self._gain_reg = gain_register(v_gain, i_gain)
        cs.value(1)
        self._tx = bytearray(_FRAME_BYTES)
        self._rx = bytearray(_FRAME_BYTES)
        self._filling = 0  # the block the interrupt fills
        self._at = 0  # the next sample's index in it

    # -- frames and registers -----------------------------------------------------------

    def _frame(self, command=_CMD_NULL, data=None):
        """One full-duplex frame: command (and one data word) out, the previous response in."""
        tx = self._tx
        for k in range(_FRAME_BYTES):
            tx[k] = 0
        tx[0] = command >> 8
        tx[1] = command & 0xFF
        if data is not None:
            tx[3] = data >> 8
            tx[4] = data & 0xFF
        self._cs.value(0)
        try:
            self._spi.write_readinto(tx, self._rx)
        finally:
            self._cs.value(1)
        return self._rx[0] << 8 | self._rx[1]

    def write_register(self, address, value):
        self._frame(_CMD_WREG | address << 7, value)
        return self._frame()  # the acknowledgement: 0x4000 | address << 7

    def read_register(self, address):
        self._frame(_CMD_RREG | address << 7)
        return self._frame()  # a single-register read answers in the response word

    def reset(self):
        """RESET command; True if the chip acknowledged (a chip is there)."""
        self._frame(_CMD_RESET)
        rt.sleep_ms_blocking(1)
        return self._frame() == RESET_ACK

    def configure(self):
        self.write_register(REG_CLOCK, self._clock_reg)
        self.write_register(REG_GAIN, self._gain_reg)

    # -- the samples interface ------------------------------------------------------------

    def start(self):
        self._filling = 0
        self._at = 0
        self._reset_hand_over()
        self._running = True
        self._drdy.irq(handler=self._on_drdy, trigger=self._irq_falling)

    def stop(self):
        self._drdy.irq(handler=None)
        self._running = False

    def _on_drdy(self, _pin):
        # Scheduled IRQ: read one frame into the block, no allocation.
        rx = self._rx
        self._cs.value(0)
        self._spi.readinto(rx, 0)
        self._cs.value(1)
        block = self._blocks[self._filling]
        at = self._at
        x = rx[3] << 16 | rx[4] << 8 | rx[5]
        block[at] = x - 0x1000000 if x & 0x800000 else x
        x = rx[6] << 16 | rx[7] << 8 | rx[8]
        block[at + 1] = x - 0x1000000 if x & 0x800000 else x
        at += 2
        if at == len(block):
            self._hand_over(self._filling)
            self._filling ^= 1
            at = 0
        self._at = at
