# RP2040 ADC sample source: voltage (ADC0, GP26) and current (ADC1, GP27) converted in
# round robin, paced by the ADC's own clock divider, streamed by DMA into two blocks.
#
# The ADC runs free at 2 * rate_hz conversions per second (48 MHz / (1 + DIV)), AINSEL
# stepping 0, 1, 0, 1, ... so the FIFO holds v0, i0, v1, i1, ... Two DMA channels chained
# to each other (ping-pong) copy the FIFO, paced by its DREQ, into two preallocated
# array('H') blocks: while one fills, the other is complete. Each channel's completion
# IRQ (a soft, scheduled one) re-arms its write address, notes which block is ready and
# sets a ThreadSafeFlag; read_block() awaits the flag. The CPU touches no sample.
#
# A pair's current sample is taken half a conversion period after its voltage sample
# (skew_us): at 4000 Hz per channel that is 125 us, 2.25 degrees at 50 Hz, which the
# metrology's phase calibration must take out.
#
# Register offsets and bits: RP2040 datasheet, section 4.9.6 (ADC) and 2.5.3.1 (DREQ);
# writes go through the atomic SET/CLR aliases (section 2.1.2). Hardware-free: the board
# passes machine.mem32 and two rp2.DMA channels, so a test can pass fakes.

from micropython import const
from drivers.blocks import DoubleBufferedSource

ADC_BASE = const(0x4004C000)
_CS = const(0x00)
_FCS = const(0x08)
_FIFO = const(0x0C)
_DIV = const(0x10)
_ALIAS_SET = const(0x2000)
_ALIAS_CLR = const(0x3000)

# CS bits.
_CS_EN = const(1 << 0)
_CS_START_MANY = const(1 << 3)
_CS_READY = const(1 << 8)
_CS_AINSEL_SHIFT = const(12)
_CS_RROBIN_SHIFT = const(16)
# FCS bits.
_FCS_EN = const(1 << 0)  # conversions go to the FIFO
_FCS_DREQ_EN = const(1 << 3)
_FCS_UNDER = const(1 << 10)  # write 1 to clear
_FCS_OVER = const(1 << 11)
_FCS_LEVEL_SHIFT = const(16)
_FCS_LEVEL_MASK = const(0xF)
_FCS_THRESH_SHIFT = const(24)
# DIV: INT in bits 23:8, FRAC in 7:0; a conversion starts every 1 + INT + FRAC/256 cycles.
_DIV_INT_SHIFT = const(8)

ADC_CLOCK_HZ = 48_000_000
_MIN_CYCLES = const(96)  # one conversion takes 96 ADC clock cycles: 500 kS/s at most
_DREQ_ADC = const(36)
_DMA_SIZE_16 = const(1)

VOLTAGE_CHANNEL = 0  # ADC0 = GP26
CURRENT_CHANNEL = 1  # ADC1 = GP27


def div_register(conversions_hz):
    """The DIV value for a conversion rate: 48 MHz / (1 + INT + FRAC/256)."""
    period_256 = (ADC_CLOCK_HZ * 256 + conversions_hz // 2) // conversions_hz  # cycles * 256
    if period_256 < _MIN_CYCLES * 256:
        raise ValueError("ADC rate %d Hz above 500 kS/s" % conversions_hz)
    return period_256 - 256  # INT << 8 | FRAC, as the register lays them out


class ADCSampler(DoubleBufferedSource):
    adc_bits = 12
    typecode = "H"
    zero_count = 2048  # the front end biases both inputs at mid-scale

    def __init__(self, mem32, dma_a, dma_b, rate_hz, pairs_per_block, v_per_count, i_per_count, clock=None):
        super().__init__(self.typecode, rate_hz, pairs_per_block, v_per_count, i_per_count, clock)
        self._mem32 = mem32
        self._dma = (dma_a, dma_b)
        self.skew_us = 500_000 // rate_hz  # current sampled half a conversion pair later
        self._div = div_register(2 * rate_hz)

    def _reg(self, offset, value=None, alias=0):
        address = ADC_BASE + alias + offset
        if value is None:
            return self._mem32[address]
        self._mem32[address] = value
        return value

    def _stop_adc(self):
        self._reg(_CS, _CS_START_MANY, _ALIAS_CLR)
        for _ in range(1000):  # the conversion under way ends within 2 us
            if self._reg(_CS) & _CS_READY:
                break
        self._reg(_FCS, _FCS_DREQ_EN, _ALIAS_CLR)
        # Drain the FIFO and clear its sticky error flags.
        while (self._reg(_FCS) >> _FCS_LEVEL_SHIFT) & _FCS_LEVEL_MASK:
            self._reg(_FIFO)
        self._reg(_FCS, _FCS_OVER | _FCS_UNDER, _ALIAS_SET)

    def start(self):
        self._stop_adc()
        self._reset_hand_over()
        a, b = self._dma
        count = 2 * self.pairs_per_block
        fifo = ADC_BASE + _FIFO
        for dma, other, block, handler in ((a, b, 0, self._done_a), (b, a, 1, self._done_b)):
            ctrl = dma.pack_ctrl(size=_DMA_SIZE_16, inc_read=False, inc_write=True,
                                 treq_sel=_DREQ_ADC, chain_to=other.channel, irq_quiet=False)
            dma.config(read=fifo, write=self._blocks[block], count=count, ctrl=ctrl, trigger=block == 0)
            dma.irq(handler=handler, hard=False)
        # FIFO on, DREQ when one sample is in it; round robin over ADC0 and ADC1, from ADC0.
        self._reg(_FCS, _FCS_EN | _FCS_DREQ_EN | 1 << _FCS_THRESH_SHIFT)
        self._reg(_DIV, self._div)
        rrobin = 1 << VOLTAGE_CHANNEL | 1 << CURRENT_CHANNEL
        self._reg(_CS, _CS_EN | VOLTAGE_CHANNEL << _CS_AINSEL_SHIFT | rrobin << _CS_RROBIN_SHIFT)
        self._running = True
        self._reg(_CS, _CS_START_MANY, _ALIAS_SET)

    def stop(self):
        self._running = False
        self._stop_adc()
        for dma in self._dma:
            dma.irq(handler=None)
            dma.active(0)

    def _completed(self, block):
        # Scheduled IRQ: the channel that filled `block` is idle until the other one
        # finishes, a whole block period from now; point it back at its block.
        self._dma[block].write = self._blocks[block]
        self._hand_over(block)

    def _done_a(self, _dma):
        self._completed(0)

    def _done_b(self, _dma):
        self._completed(1)
