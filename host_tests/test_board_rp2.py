# The RP2040 ADC + DMA sample source against fake registers and DMA channels.
# board.py itself needs `machine` and `rp2`; mpy-cross checks it.
import sys
import support

if support.REPO + "/boards/rp2" not in sys.path:
    sys.path.append(support.REPO + "/boards/rp2")  # after boards/host: `board` stays the host's

import adc_dma  # noqa: E402
from adc_dma import ADCSampler, ADC_BASE  # noqa: E402

CS = ADC_BASE
FCS = ADC_BASE + 0x08
FIFO = ADC_BASE + 0x0C
DIV = ADC_BASE + 0x10
SET = 0x2000
CLR = 0x3000


class FakeMem32:
    """The ADC's registers: plain writes, atomic SET/CLR aliases, READY always up."""

    def __init__(self):
        self.regs = {CS: 1 << 8, FCS: 0, DIV: 0}
        self.writes = []
        self.fifo_level = 2

    def __getitem__(self, address):
        if address == FIFO:
            self.fifo_level -= 1
            return 0
        if address == FCS:
            return self.regs[FCS] | self.fifo_level << 16
        return self.regs[address]

    def __setitem__(self, address, value):
        self.writes.append((address, value))
        base = address & ~0x3000
        if address & 0x3000 == SET:
            self.regs[base] |= value
        elif address & 0x3000 == CLR:
            self.regs[base] &= ~value
        else:
            self.regs[base] = value | (1 << 8 if base == CS else 0)


class FakeDMA:
    def __init__(self, channel):
        self.channel = channel
        self.handler = None
        self.configured = None
        self.running = False
        self.write = None

    def pack_ctrl(self, **fields):
        return fields

    def config(self, read=None, write=None, count=None, ctrl=None, trigger=False):
        self.configured = {"read": read, "write": write, "count": count, "ctrl": ctrl, "trigger": trigger}
        self.write = write
        self.running = trigger

    def irq(self, handler=None, hard=False):
        self.handler = handler

    def active(self, value=None):
        if value is not None:
            self.running = bool(value)
        return self.running


def sampler(rate_hz=4000, pairs=4):
    mem = FakeMem32()
    a, b = FakeDMA(3), FakeDMA(4)
    return mem, a, b, ADCSampler(mem, a, b, rate_hz, pairs, 0.2659, 0.04883)


def test_div_register_paces_the_adc_at_twice_the_pair_rate():
    assert adc_dma.div_register(8000) == 5999 << 8  # 48 MHz / 6000 cycles
    assert adc_dma.div_register(96000) == 499 << 8
    assert adc_dma.div_register(7000) == (6857 - 1) << 8 | 37  # 6857.14 cycles: FRAC 0.14 * 256
    support.raises(ValueError, adc_dma.div_register, 600_000)


def test_start_programs_fifo_div_round_robin_and_ping_pong_dma():
    mem, a, b, s = sampler()
    assert (s.adc_bits, s.typecode, s.zero_count, s.skew_us) == (12, "H", 2048, 125)
    s.start()
    assert mem.regs[DIV] == 5999 << 8
    assert mem.regs[FCS] == 1 | 1 << 3 | 1 << 24  # FIFO on, DREQ on, threshold 1
    assert mem.regs[CS] & 0x1F0FFFF == 1 | 1 << 3 | 1 << 8  # EN, START_MANY, (READY)
    assert (mem.regs[CS] >> 16) & 0x1F == 0b11 and (mem.regs[CS] >> 12) & 7 == 0  # ADC0, ADC1 from ADC0
    assert mem.writes[-1] == (CS + SET, 1 << 3)  # started last, after everything is set up
    assert mem.fifo_level == 0  # drained first
    for dma, other, trigger in ((a, b, True), (b, a, False)):
        c = dma.configured
        assert c["read"] == FIFO and c["count"] == 8 and c["trigger"] is trigger
        assert c["ctrl"]["treq_sel"] == 36 and c["ctrl"]["chain_to"] == other.channel
        assert c["ctrl"]["size"] == 1 and c["ctrl"]["inc_write"] and not c["ctrl"]["inc_read"]
    assert a.configured["write"] is not b.configured["write"]
    s.stop()
    assert not a.running and not b.running and a.handler is None
    assert not mem.regs[CS] & 1 << 3 and not mem.regs[FCS] & 1 << 3


def test_dma_completions_hand_out_the_finished_block():
    mem, a, b, s = sampler(pairs=2)

    async def main():
        s.start()
        block_a = a.configured["write"]
        block_b = b.configured["write"]
        for k in range(4):
            block_a[k] = 100 + k
        a.write = "advanced"
        a.handler(a)  # channel A filled block 0 and chained to B
        assert a.write is block_a  # re-armed for its next turn
        first = await s.read_block()
        assert list(first) == [100, 101, 102, 103]
        for k in range(4):
            block_b[k] = 200 + k
        b.handler(b)
        second = await s.read_block()
        assert list(second) == [200, 201, 202, 203]
        a.handler(a)
        b.handler(b)  # two blocks before the reader looked
        newest = await s.read_block()
        assert list(newest) == [200, 201, 202, 203]
        s.stop()

    support.run(main())
    assert s.overruns == 1
