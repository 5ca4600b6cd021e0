# RP2040 ADC sample source: voltage (ADC0, GP26) and current (ADC1, GP27) converted in
# round robin, paced by the ADC's own clock divider, streamed by DMA into two blocks.
#
# The ADC runs free at 2 * rate_hz conversions per second (48 MHz / (1 + DIV)), AINSEL
# stepping 0, 1, 0, 1, ... so the FIFO holds v0, i0, v1, i1, ... One data DMA channel
# copies the FIFO, paced by its DREQ, into one of two preallocated array('H') blocks; on
# completion it chains to a control channel that copies the next block's address from a
# small address table (read as a ring, so it alternates block 0, block 1, ... forever)
# into the data channel's AL2_WRITE_ADDR_TRIG, restarting it at once (no gap; TRANS_COUNT
# reloads on every trigger). The DMA thus re-arms itself: the only addresses it can ever
# write are our two blocks, so a completion IRQ (a soft, scheduled one) that runs late or
# not at all (GC, a flash erase with interrupts off, a long bytecode run) can only cost
# samples inside our blocks, never write past them. (The former design, two channels
# chained to each other and re-armed from the IRQ, wrote a block past the end of its
# buffer into the heap whenever the IRQ was held off for one block period.) The handler
# takes the completed block from the data channel's write address (the block it is NOT
# writing), not from counting IRQs, and the number of completions since it last ran from
# the control channel's read position in the 16-entry table, so blocks it missed are
# counted as overruns. read_block() awaits the handler's flag. The CPU touches no sample.
#
# A pair's current sample is taken half a conversion period after its voltage sample
# (skew_us): at 4000 Hz per channel that is 125 us, 2.25 degrees at 50 Hz, which the
# metrology takes out: it rotates P and Q by 2*pi*f*skew_us at the measured frequency
# (lib/metrology/maths.py), before the calibration's own phase.
#
# Register offsets and bits: RP2040 datasheet, section 4.9.6 (ADC) and 2.5.3.1 (DREQ);
# writes go through the atomic SET/CLR aliases (section 2.1.2). DMA channel registers:
# section 2.5.7. Hardware-free: the board passes machine.mem32 and two rp2.DMA channels
# (uctypes.addressof is the default address function), so a test can pass fakes.

from array import array
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
_DMA_SIZE_32 = const(2)
_TREQ_PERMANENT = const(0x3F)
DMA_BASE = const(0x50000000)
_DMA_CH_STRIDE = const(0x40)
_AL2_WRITE_ADDR_TRIG = const(0x2C)
# The address table: 16 words alternating block 0, block 1, read as a 64-byte ring (so it
# must be 64-byte aligned). Its read position counts completions modulo 16.
_TABLE_WORDS = const(16)
_TABLE_RING_BITS = const(6)  # 1 << 6 = 64 bytes = 16 words

VOLTAGE_CHANNEL = 0  # ADC0 = GP26
CURRENT_CHANNEL = 1  # ADC1 = GP27


def div_register(conversions_hz):
    """The DIV value for a conversion rate: 48 MHz / (1 + INT + FRAC/256)."""
    period_256 = (ADC_CLOCK_HZ * 256 + conversions_hz // 2) // conversions_hz  # cycles * 256
    if period_256 < _MIN_CYCLES * 256:
        raise ValueError("ADC rate %d Hz above 500 kS/s" % conversions_hz)
    return period_256 - 256  # INT << 8 | FRAC, as the register lays them out


def write_addr_trigger(channel):
    """Absolute address of a DMA channel's AL2_WRITE_ADDR_TRIG register."""
    return DMA_BASE + _DMA_CH_STRIDE * channel + _AL2_WRITE_ADDR_TRIG


class ADCSampler(DoubleBufferedSource):
    adc_bits = 12
    typecode = "H"
    zero_count = 2048  # the front end biases both inputs at mid-scale

    def __init__(self, mem32, dma_data, dma_control, rate_hz, pairs_per_block, v_per_count, i_per_count,
                 clock=None, addressof=None):
        super().__init__(self.typecode, rate_hz, pairs_per_block, v_per_count, i_per_count, clock)
        if addressof is None:
            from uctypes import addressof
        self._mem32 = mem32
        self._data = dma_data
        self._control = dma_control
        self.skew_us = 500_000 // rate_hz  # current sampled half a conversion pair later
        self._div = div_register(2 * rate_hz)
        self._bytes = 4 * pairs_per_block  # 2 * pairs 16-bit samples
        self._addr = (addressof(self._blocks[0]), addressof(self._blocks[1]))
        # Twice the table, so a 64-byte aligned window of 16 words lies inside it.
        self._table_buf = array("I", bytes(8 * _TABLE_WORDS))
        base = addressof(self._table_buf)
        if base & 3:
            raise ValueError("address table not word aligned")
        skip = (-base & (4 * _TABLE_WORDS - 1)) >> 2  # words up to the next 64-byte boundary
        self._table = base + 4 * skip
        if self._table & (4 * _TABLE_WORDS - 1):
            raise ValueError("address table not aligned")
        for k in range(_TABLE_WORDS):
            self._table_buf[skip + k] = self._addr[k & 1]
        self._seen = 0  # table entries the control channel had read when the handler last looked

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

    def _stop_dma(self):
        data, control = self._data, self._control
        data.irq(handler=None)
        # Disable both (no trigger, no chain can restart them), then abort what is under way.
        control.ctrl = control.pack_ctrl(enable=False)
        data.ctrl = data.pack_ctrl(enable=False)
        control.active(0)
        data.active(0)

    def start(self):
        self._stop_adc()
        self._stop_dma()
        self._reset_hand_over()
        data, control = self._data, self._control
        data_ctrl = data.pack_ctrl(size=_DMA_SIZE_16, inc_read=False, inc_write=True,
                                   treq_sel=_DREQ_ADC, chain_to=control.channel, irq_quiet=False)
        data.config(read=ADC_BASE + _FIFO, write=self._addr[0], count=2 * self.pairs_per_block, ctrl=data_ctrl)
        control_ctrl = control.pack_ctrl(size=_DMA_SIZE_32, inc_read=True, inc_write=False,
                                         ring_size=_TABLE_RING_BITS, ring_sel=False,
                                         treq_sel=_TREQ_PERMANENT, chain_to=control.channel, irq_quiet=True)
        data.irq(handler=self._done, hard=False)
        # The control channel starts the data channel on block 0 (table entry 0); the data
        # channel then waits for the ADC's DREQ.
        self._seen = 1
        control.config(read=self._table, write=write_addr_trigger(data.channel), count=1,
                       ctrl=control_ctrl, trigger=True)
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
        self._stop_dma()

    def _done(self, _dma):
        # Scheduled IRQ; possibly late, possibly one for several completions. Completions
        # since the last call: how far the control channel moved through the table.
        read = (self._control.read - self._table) >> 2
        completions = (read - self._seen) & (_TABLE_WORDS - 1)
        self._seen = read & (_TABLE_WORDS - 1)
        if not completions:
            return  # already counted by the previous call (or a spurious IRQ after an abort)
        # The complete block is the one the data channel is not writing. Its write address
        # is inside block k while it fills k, or at the end of k between its completion and
        # the control channel's re-trigger (a few cycles), when k is the complete one.
        write = self._data.write
        a0, a1 = self._addr
        if a0 <= write < a0 + self._bytes or write == a1 + self._bytes:
            block = 1  # writing block 0 (or about to)
        else:
            block = 0
        for _ in range(completions):  # all but the newest were overwritten unread: overruns
            self._hand_over(block)
