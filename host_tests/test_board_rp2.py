# The RP2040 ADC + DMA sample source against fake registers and DMA channels.
# board.py itself needs `machine` and `rp2`; mpy-cross checks it.
import sys
import support

if support.REPO + "/boards/rp2" not in sys.path:
    sys.path.append(support.REPO + "/boards/rp2")  # after boards/host: `board` stays the host's

import adc_dma
from adc_dma import ADCSampler, ADC_BASE

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


DMA_BASE = 0x50000000


class FakeBus:
    """RAM at made-up addresses (the arrays given to addressof, with gaps between them)
    and the DMA channels' registers; a write anywhere else is recorded as stray."""

    def __init__(self, offset=0):
        self.regions = []  # (base, array, itemsize, nbytes)
        self.next = 0x20001000 + offset  # offset 4: every array only word aligned
        self.channels = {}
        self.stray = []

    def addressof(self, obj):
        for base, arr, _, _ in self.regions:
            if arr is obj:
                return base
        nbytes = len(bytes(obj))
        base = self.next
        self.regions.append((base, obj, nbytes // len(obj), nbytes))
        self.next = base + (nbytes + 15) // 16 * 16 + 256  # a gap: the heap's next object
        return base

    def _find(self, address, size):
        for base, arr, itemsize, nbytes in self.regions:
            if base <= address < base + nbytes:
                assert itemsize == size and (address - base) % size == 0
                return arr, (address - base) // size
        return None, 0

    def read(self, address, size):
        arr, index = self._find(address, size)
        assert arr is not None, "DMA read from unknown memory %x" % address
        return arr[index]

    def write(self, address, value, size):
        if DMA_BASE <= address < DMA_BASE + 12 * 0x40:
            channel = self.channels[(address - DMA_BASE) // 0x40]
            assert (address - DMA_BASE) % 0x40 == 0x2C and size == 4  # AL2_WRITE_ADDR_TRIG only
            channel.write = value
            channel.trigger()
            return
        arr, index = self._find(address, size)
        if arr is None:
            self.stray.append(address)  # heap corruption on a device
        else:
            arr[index] = value


class FakeDMA:
    """One RP2040 DMA channel: TRANS_COUNT reloads on each trigger, WRITE_ADDR and READ_ADDR
    stay where the last transfer left them, read/write rings, chaining, and an IRQ flag
    that several completions raise only once until the handler runs (deliver_irq)."""

    DEFAULTS = {"enable": True, "size": 2, "inc_read": True, "inc_write": True, "ring_size": 0,
                "ring_sel": False, "treq_sel": 0x3F, "irq_quiet": True}

    def __init__(self, bus, channel):
        self.bus = bus
        self.channel = channel
        bus.channels[channel] = self
        self.handler = None
        self.hard = None
        self.configured = None
        self.ctrl = self.pack_ctrl(enable=False)
        self.read = self.write = 0
        self.count = self.reload = 0
        self.busy = False
        self.irq_flag = False
        self.completions = 0

    def pack_ctrl(self, **fields):
        ctrl = dict(self.DEFAULTS, chain_to=self.channel)
        ctrl.update(fields)
        return ctrl

    def config(self, read=None, write=None, count=None, ctrl=None, trigger=False):
        self.configured = {"read": read, "write": write, "count": count, "ctrl": ctrl, "trigger": trigger}
        for name, value in (("read", read), ("write", write), ("ctrl", ctrl)):
            if value is not None:
                assert isinstance(value, (int, dict)), "pass addresses, not buffers"
                setattr(self, name, value)
        if count is not None:
            self.reload = count
        if trigger:
            self.trigger()

    def irq(self, handler=None, hard=False):
        self.handler = handler
        self.hard = hard

    def active(self, value=None):
        if value is not None:
            if value:
                self.trigger()
            else:
                self.busy = False  # abort
        return self.busy

    def trigger(self):
        if not self.ctrl["enable"]:
            return
        self.busy = True
        self.count = self.reload
        if self.ctrl["treq_sel"] == 0x3F:  # unpaced: runs to the end at once
            while self.busy:
                self.transfer(None)

    def _step(self, address, increment, ring):
        if not increment:
            return address
        size = 1 << self.ctrl["size"]
        if ring:
            mask = (1 << self.ctrl["ring_size"]) - 1
            return (address & ~mask) | ((address + size) & mask)
        return address + size

    def transfer(self, value):
        """One bus transfer; value is what the paced source (the ADC FIFO) supplies."""
        assert self.busy
        size = 1 << self.ctrl["size"]
        if value is None:
            value = self.bus.read(self.read, size)
        self.bus.write(self.write, value, size)
        ring = self.ctrl["ring_size"]
        self.read = self._step(self.read, self.ctrl["inc_read"], ring and not self.ctrl["ring_sel"])
        self.write = self._step(self.write, self.ctrl["inc_write"], ring and self.ctrl["ring_sel"])
        self.count -= 1
        if self.count == 0:
            self.busy = False
            self.completions += 1
            if not self.ctrl["irq_quiet"]:
                self.irq_flag = True
            if self.ctrl["chain_to"] != self.channel:
                self.bus.channels[self.ctrl["chain_to"]].trigger()

    def deliver_irq(self):
        """The (scheduled) handler finally runs: once, however many completions raised it."""
        if self.irq_flag:
            self.irq_flag = False
            if self.handler is not None:
                self.handler(self)


def sampler(rate_hz=4000, pairs=4, offset=0):
    mem = FakeMem32()
    bus = FakeBus(offset)
    data, control = FakeDMA(bus, 3), FakeDMA(bus, 4)
    s = ADCSampler(mem, data, control, rate_hz, pairs, 0.2659, 0.04883, addressof=bus.addressof)
    return mem, bus, data, control, s


def feed(data, samples):
    """The ADC's DREQ: each sample moves one halfword from the FIFO through the data channel."""
    for value in samples:
        data.transfer(value)


def test_div_register_paces_the_adc_at_twice_the_pair_rate():
    assert adc_dma.div_register(8000) == 5999 << 8  # 48 MHz / 6000 cycles
    assert adc_dma.div_register(96000) == 499 << 8
    assert adc_dma.div_register(7000) == (6857 - 1) << 8 | 37  # 6857.14 cycles: FRAC 0.14 * 256
    support.raises(ValueError, adc_dma.div_register, 600_000)


def test_start_programs_fifo_div_round_robin_and_self_rearming_dma():
    mem, bus, data, control, s = sampler()
    assert (s.adc_bits, s.typecode, s.zero_count, s.skew_us) == (12, "H", 2048, 125)
    s.start()
    assert mem.regs[DIV] == 5999 << 8
    assert mem.regs[FCS] == 1 | 1 << 3 | 1 << 24  # FIFO on, DREQ on, threshold 1
    assert mem.regs[CS] & 0x1F0FFFF == 1 | 1 << 3 | 1 << 8  # EN, START_MANY, (READY)
    assert (mem.regs[CS] >> 16) & 0x1F == 0b11 and (mem.regs[CS] >> 12) & 7 == 0  # ADC0, ADC1 from ADC0
    assert mem.writes[-1] == (CS + SET, 1 << 3)  # started last, after everything is set up
    assert mem.fifo_level == 0  # drained first
    c = data.configured
    assert c["read"] == FIFO and c["count"] == 8 and not c["trigger"]
    assert c["write"] == bus.addressof(s._blocks[0])
    ctrl = c["ctrl"]
    assert ctrl["treq_sel"] == 36 and ctrl["chain_to"] == control.channel and not ctrl["irq_quiet"]
    assert ctrl["size"] == 1 and ctrl["inc_write"] and not ctrl["inc_read"] and ctrl["ring_size"] == 0
    c = control.configured
    assert c["write"] == DMA_BASE + 0x40 * 3 + 0x2C and c["count"] == 1 and c["trigger"]
    assert c["read"] % 64 == 0  # the table's ring is naturally aligned
    ctrl = c["ctrl"]
    assert ctrl["size"] == 2 and ctrl["inc_read"] and not ctrl["inc_write"]
    assert ctrl["ring_size"] == 6 and not ctrl["ring_sel"] and ctrl["treq_sel"] == 0x3F
    assert ctrl["chain_to"] == control.channel and ctrl["irq_quiet"]
    assert data.handler is not None and data.hard is False and control.handler is None
    # The control channel started the data channel on block 0; it waits for the ADC.
    assert data.busy and data.write == bus.addressof(s._blocks[0]) and data.count == 8
    s.stop()
    assert not data.busy and not control.busy and data.handler is None
    assert not data.ctrl["enable"] and not control.ctrl["enable"]
    assert not mem.regs[CS] & 1 << 3 and not mem.regs[FCS] & 1 << 3


def test_dma_completions_hand_out_the_finished_block():
    mem, bus, data, control, s = sampler(pairs=2)

    async def main():
        s.start()
        feed(data, [100, 101, 102, 103])
        assert data.write == bus.addressof(s._blocks[1]) and data.busy  # re-armed without the CPU
        data.deliver_irq()
        first = await s.read_block()
        assert list(first) == [100, 101, 102, 103]
        feed(data, [200, 201, 202, 203])
        data.deliver_irq()
        second = await s.read_block()
        assert list(second) == [200, 201, 202, 203]
        assert data.write == bus.addressof(s._blocks[0])
        feed(data, [300, 301, 302, 303])
        data.deliver_irq()
        feed(data, [400, 401, 402, 403])
        data.deliver_irq()  # two blocks before the reader looked
        newest = await s.read_block()
        assert list(newest) == [400, 401, 402, 403]
        s.stop()

    support.run(main())
    assert s.overruns == 1
    assert bus.stray == []


def test_late_irq_never_writes_outside_the_blocks():
    for offset in (0, 4):  # heap blocks 16-byte aligned, and only word aligned
        mem, bus, data, control, s = sampler(pairs=2, offset=offset)

        async def main():
            s.start()
            # Five completions and half a block with the handler held off (a flash erase,
            # a GC): the old design wrote the fourth block past the end of block 0.
            feed(data, range(1000, 1022))
            assert data.completions == 5 and data.irq_flag
            assert bus.stray == []
            data.deliver_irq()  # late, and once for all five
            block = await s.read_block()
            # Block 1 is being written (two samples in): the newest complete one is block 0,
            # samples 16..19 (the fifth completion), whole.
            assert list(block) == [1016, 1017, 1018, 1019]
            assert block is s._views[0]
            assert s.overruns == 4  # five blocks completed, one handed out
            # Back to normal: each completion handed over in time.
            feed(data, range(2000, 2002))  # block 1 completes
            data.deliver_irq()
            block = await s.read_block()
            assert list(block) == [1020, 1021, 2000, 2001]
            data.deliver_irq()  # no new completion: nothing happens
            feed(data, range(3000, 4000))  # 250 blocks unread: count wraps, writes never stray
            s.stop()

        support.run(main())
        assert s.overruns == 4
        assert bus.stray == []
        assert data.completions == 256
        table = [bus.read(control.configured["read"] + 4 * k, 4) for k in range(16)]
        blocks = [bus.addressof(s._blocks[k]) for k in (0, 1)]
        assert table == blocks * 8
        base = bus.addressof(s._table_buf)
        assert base % 16 == offset


def test_spurious_or_repeated_irq_hands_over_nothing():
    mem, bus, data, control, s = sampler(pairs=2)

    async def main():
        s.start()
        handler = data.handler
        feed(data, [1, 2, 3, 4])
        data.deliver_irq()
        assert list(await s.read_block()) == [1, 2, 3, 4]
        data.handler(data)  # RP2040-E13: an abort can raise a completion IRQ; or a repeat
        feed(data, [5, 6, 7, 8])
        data.deliver_irq()
        assert list(await s.read_block()) == [5, 6, 7, 8]
        s.stop()
        handler(data)  # one still queued after stop: harmless

    support.run(main())
    assert s.overruns == 0
    assert bus.stray == []
