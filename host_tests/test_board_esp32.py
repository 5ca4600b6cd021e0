# The device boards' chip drivers (lib/drivers) against fake chips: the CC1101 radio
# (esp32 and rp2) and the ADS131M02 metering ADC (esp32). board.py itself needs
# `machine`; mpy-cross checks it.
import rt
import support
from drivers import cc1101
from drivers.cc1101 import CC1101
from drivers.ads131m02 import ADS131M02, clock_register, gain_register, osr_for_rate, RESET_ACK


class FakePin:
    def __init__(self, value=1):
        self.state = value
        self.handler = None
        self.trigger = None
        self.listener = None

    def value(self, v=None):
        if v is None:
            return self.state
        self.state = v
        if self.listener is not None:
            self.listener(v)

    def irq(self, handler=None, trigger=None):
        self.handler = handler
        self.trigger = trigger


class AirTime:
    """The tick clock a CC1101 driver and its fake chip share in these tests: it moves only
    when the driver waits (a poll's sleep, a timed-out wait), so the air drains and fills
    the FIFOs at the driver's pace on any machine, not by how long a loaded host kept the
    process off the CPU. Deadlines and timeouts are then exact, in air milliseconds."""

    def __init__(self):
        self.now_ms = 0

    def ticks_ms(self):
        return self.now_ms

    def ticks_add(self, ticks, delta):
        return ticks + delta

    def ticks_diff(self, end, start):
        return end - start

    def sleep_ms_blocking(self, ms):
        self.now_ms += ms

    async def sleep_ms(self, ms):
        self.now_ms += ms
        await rt.sleep_ms(0)

    async def wait_for_ms(self, awaitable, timeout_ms):
        # Nothing in these fakes sets the driver's flags: the wait ends at its timeout.
        self.now_ms += timeout_ms
        return await rt.wait_for_ms(awaitable, 0)


def on_air_time(test):
    """Run a test with the CC1101 driver (and so its fake) on a fresh AirTime."""

    def run():
        real = cc1101.rt
        cc1101.rt = AirTime()
        try:
            test()
        finally:
            cc1101.rt = real

    return run


class FakeCC1101:
    """Registers, strobes and FIFOs of a CC1101; the air drains and fills the FIFOs gradually,
    on the driver's clock (cc1101.rt: an AirTime in the tests that decorate with on_air_time)."""

    def __init__(self):
        self.regs = bytearray(0x2F)
        self.patable = 0
        self.tx = bytearray()
        self.rx = bytearray()
        self.state = cc1101.STATE_IDLE
        self.sent = []  # packets that went on the air, with their length byte
        self.air = []  # packets waiting to be heard
        self.hearing = bytearray()
        self.header = None
        self.last_ms = cc1101.rt.ticks_ms()
        self.strobes = []
        self.cs = FakePin()
        self.cs.listener = self._cs

    def _cs(self, level):
        if level == 0:
            self.header = None

    def _tick_air(self):
        # The air moves 12 bytes per millisecond (100 kbit/s) between status polls, on the tick
        # clock the driver and this fake share (AirTime), and never empties the FIFO while the
        # driver is still writing the packet.
        now = cc1101.rt.ticks_ms()
        budget = 12 * cc1101.rt.ticks_diff(now, self.last_ms)
        self.last_ms = now
        if self.state == cc1101.STATE_TX and len(self.sending) < self.packet_len():
            budget = min(budget, len(self.tx) - 1)
        if self.state == cc1101.STATE_TX and budget > 0:
            self.tx[:budget] = b""
            if not self.tx:
                complete = len(self.sending) == 1 + self.sending[0]
                if complete:
                    self.sent.append(bytes(self.sending))
                self.state = cc1101.STATE_IDLE if complete else cc1101.STATE_TXFIFO_UNDERFLOW
        if self.state == cc1101.STATE_RX and budget:
            if not self.hearing and self.air:
                self.hearing = bytearray(self.air.pop(0))
            if self.hearing:
                room = 64 - len(self.rx)
                chunk = self.hearing[: min(budget, room)]
                self.rx += chunk
                self.hearing[: len(chunk)] = b""
                if not self.hearing:
                    self.state = cc1101.STATE_IDLE  # MCSM1: IDLE after RX

    def packet_len(self):
        """Bytes of the packet being sent: the length byte and what it counts."""
        return 1 + self.sending[0] if self.sending else 0

    def _strobe(self, command):
        self.strobes.append(command)
        if command == cc1101.SRES:
            self.regs = bytearray(0x2F)
        elif command == cc1101.SIDLE:
            self.state = cc1101.STATE_IDLE
        elif command == cc1101.SFTX:
            self.tx = bytearray()
        elif command == cc1101.SFRX:
            self.rx = bytearray()
        elif command == cc1101.STX:
            self.sending = bytearray(self.tx)
            self.state = cc1101.STATE_TX
            self.last_ms = cc1101.rt.ticks_ms()
        elif command == cc1101.SRX:
            self.state = cc1101.STATE_RX
            self.last_ms = cc1101.rt.ticks_ms()

    def _read_status(self, address):
        self._tick_air()
        return {cc1101.PARTNUM: 0x00, cc1101.VERSION: 0x14, cc1101.MARCSTATE: self.state,
                cc1101.TXBYTES: len(self.tx) | (0x80 if self.state == cc1101.STATE_TXFIFO_UNDERFLOW else 0),
                cc1101.RXBYTES: len(self.rx)}[address]

    # the SPI surface the driver uses
    def write_readinto(self, out, into):
        header = out[0]
        address = header & 0x3F
        read = header & 0x80
        burst = header & 0x40
        if len(out) == 1:
            self._strobe(address)
            into[0] = 0x0F
            return
        if read and burst and address >= 0x30 and address != cc1101.FIFO:
            into[1] = self._read_status(address)
        elif read and address == cc1101.FIFO:
            into[1] = self.rx[0]
            self.rx[:1] = b""
        elif read:
            into[1] = self.regs[address]
        elif address == cc1101.FIFO:
            self.tx.append(out[1])
            if self.state == cc1101.STATE_TX:
                self.sending.append(out[1])
        elif address == cc1101.PATABLE:
            self.patable = out[1]
        else:
            self.regs[address] = out[1]

    def write(self, data):
        if self.header is None:
            self.header = data[0]
            return
        address = self.header & 0x3F
        assert address == cc1101.FIFO and not self.header & 0x80
        self.tx += data
        if self.state == cc1101.STATE_TX:
            self.sending += data
        assert len(self.tx) <= 64, "TX FIFO overrun"

    def readinto(self, buf, fill=0):
        assert self.header == 0xFF  # burst read of the RX FIFO
        n = len(buf)
        assert n <= len(self.rx), "read past the RX FIFO"
        buf[:] = self.rx[:n]
        self.rx[:n] = b""


def radio():
    chip = FakeCC1101()
    return chip, CC1101(chip, chip.cs, FakePin(0))


@on_air_time
def test_cc1101_configures_868_95_mhz_variable_length():
    chip, r = radio()
    r.reset()
    assert r.present()
    r.configure()
    assert cc1101.freq_word(868_950_000) == 0x216BD1
    assert chip.regs[cc1101.FREQ2] == 0x21 and chip.regs[cc1101.FREQ1] == 0x6B and chip.regs[cc1101.FREQ0] == 0xD1
    assert chip.regs[cc1101.PKTCTRL0] == 0x01 and chip.regs[cc1101.IOCFG0] == 0x06
    assert chip.regs[cc1101.SYNC1] == 0x54 and chip.regs[cc1101.SYNC0] == 0x3D
    assert chip.patable == cc1101.PA_POWER
    assert chip.strobes[0] == cc1101.SRES and chip.strobes[-2:] == [cc1101.SIDLE, cc1101.SCAL]
    assert r.read_reg(cc1101.MDMCFG4) == 0x5C


@on_air_time
def test_cc1101_bring_up_configures_a_chip_that_answers_and_refuses_a_silent_one():
    chip, r = radio()
    assert r.bring_up()
    assert chip.strobes[0] == cc1101.SRES and chip.regs[cc1101.FREQ2] == 0x21

    class Silent(FakeCC1101):
        def _read_status(self, address):
            return 0xFF  # no chip on the bus: MISO floats high

    silent = Silent()
    r = CC1101(silent, silent.cs, FakePin(0))
    assert not r.bring_up()
    assert silent.regs[cc1101.FREQ2] != 0x21  # left unconfigured


@on_air_time
def test_cc1101_sends_short_and_long_frames_through_the_fifo():
    chip, r = radio()
    r.configure()
    short = bytes(range(20))
    long = bytes((7 * k) & 0xFF for k in range(200))  # more than the 64-byte FIFO holds
    assert support.run(r.send(short)) is True, "short frame: underflows %d" % r.tx_underflows
    assert support.run(r.send(long)) is True, "long frame: underflows %d" % r.tx_underflows
    assert chip.sent == [bytes([20]) + short, bytes([200]) + long], "on the air: %r" % chip.sent
    assert r.sent == 2, "sent count %d, expected 2" % r.sent
    support.raises(ValueError, support.run, r.send(b""))
    support.raises(ValueError, support.run, r.send(bytes(256)))


@on_air_time
def test_cc1101_receives_frames_and_times_out():
    chip, r = radio()
    r.configure()
    long = bytes((3 * k + 1) & 0xFF for k in range(150))
    chip.air = [bytes([5]) + b"hello", bytes([150]) + long]
    assert support.run(r.receive(500)) == b"hello"
    assert support.run(r.receive(500)) == long
    t0 = cc1101.rt.ticks_ms()
    assert support.run(r.receive(30)) is None
    waited_ms = cc1101.rt.ticks_diff(cc1101.rt.ticks_ms(), t0)
    assert 30 <= waited_ms <= 31, "receive(30) on an empty channel took %d air ms" % waited_ms
    assert r.received == 2
    assert chip.state == cc1101.STATE_IDLE


@on_air_time
def test_cc1101_gives_up_on_a_packet_that_never_ends():
    chip, r = radio()
    r.configure()
    assert cc1101.data_rate(0x5C, 0x04) == 103149  # the default table: 103 kBaud
    assert r.packet_cap_ms == 66  # twice 284 bytes at 103 kBaud (44 ms, rounded up), plus 20 ms
    # A length byte announcing 100 bytes, then the chip stops after 30 (RXBYTES stays put).
    chip.air = [bytes([100]) + bytes(range(30))]
    t0 = cc1101.rt.ticks_ms()
    # Bounded from outside (real time, generous), so the old endless loop fails here
    # instead of hanging the suite.
    assert support.run(rt.wait_for_ms(r.receive(30), 60_000)) is None
    elapsed = cc1101.rt.ticks_diff(cc1101.rt.ticks_ms(), t0)
    assert 30 + r.packet_cap_ms <= elapsed <= 30 + r.packet_cap_ms + 1, (
        "gave up after %d air ms, expected the 30 ms timeout plus the %d ms cap" % (elapsed, r.packet_cap_ms))
    assert r.rx_stalls == 1 and r.received == 0
    assert chip.state == cc1101.STATE_IDLE and not chip.rx  # flushed
    # A slower configured rate gives a longer cap; the next frame is received as usual.
    r.configure(cc1101.default_registers() + ((cc1101.MDMCFG4, 0x5A),))  # DRATE_E 10: 25.8 kBaud
    assert cc1101.data_rate(0x5A, 0x04) == 25787 and r.packet_cap_ms == 198
    chip.air = [bytes([3]) + b"abc"]
    assert support.run(r.receive(500)) == b"abc"
    assert r.rx_stalls == 1


class FakeADS131M02:
    """Frames of four 24-bit words; a command's response comes in the next frame."""

    def __init__(self):
        self.response = 0x0500  # STATUS after power-up
        self.regs = {}
        self.samples = []  # (ch0, ch1) for the next DRDY frames
        self.cs = FakePin()

    def write_readinto(self, out, into):
        for k in range(len(into)):
            into[k] = 0
        into[0] = self.response >> 8
        into[1] = self.response & 0xFF
        command = out[0] << 8 | out[1]
        if command == 0x0011:
            self.response = RESET_ACK
        elif command & 0xE000 == 0x6000:
            address = (command >> 7) & 0x3F
            self.regs[address] = out[3] << 8 | out[4]
            self.response = 0x4000 | address << 7
        elif command & 0xE000 == 0xA000:
            self.response = self.regs.get((command >> 7) & 0x3F, 0)
        else:
            self.response = 0x0500

    def readinto(self, buf, fill=0):
        v, i = self.samples.pop(0)
        for k in range(len(buf)):
            buf[k] = 0
        for at, x in ((3, v), (6, i)):
            x &= 0xFFFFFF
            buf[at], buf[at + 1], buf[at + 2] = x >> 16, (x >> 8) & 0xFF, x & 0xFF


def test_ads131m02_register_values_from_the_datasheet():
    assert osr_for_rate(2000) == 2048 and osr_for_rate(4000) == 1024
    assert clock_register(4000) == 0x030E  # the power-on default: both channels, OSR 1024, high resolution
    assert clock_register(2000) == 0x0312
    assert gain_register(1, 32) == 0x50
    support.raises(ValueError, osr_for_rate, 3000)


def test_ads131m02_resets_configures_and_streams_blocks():
    chip = FakeADS131M02()
    drdy = FakePin()
    adc = ADS131M02(chip, chip.cs, drdy, "falling", rate_hz=2000, pairs_per_block=3,
                    v_per_count=1e-4, i_per_count=2e-5, v_gain=1, i_gain=32)
    assert adc.reset()
    adc.configure()
    assert chip.regs == {0x03: 0x0312, 0x04: 0x50}
    assert adc.read_register(0x03) == 0x0312
    assert (adc.adc_bits, adc.typecode, adc.zero_count, adc.skew_us) == (24, "i", 0, 0)

    values = [(1, -1), (0x7FFFFF, -0x800000), (-5, 12345), (10, 20), (30, 40), (50, 60), (70, 80)]
    chip.samples = list(values)

    async def main():
        adc.start()
        assert drdy.trigger == "falling" and drdy.handler is not None
        for _ in range(3):
            drdy.handler(drdy)
        first = await adc.read_block()
        assert list(first) == [1, -1, 0x7FFFFF, -0x800000, -5, 12345]
        for _ in range(3):
            drdy.handler(drdy)
        second = await adc.read_block()
        assert list(second) == [10, 20, 30, 40, 50, 60]
        assert first is not second  # double buffer
        drdy.handler(drdy)
        adc.stop()
        assert drdy.handler is None

    support.run(main())
    assert adc.overruns == 0
    support.raises(RuntimeError, support.run, adc.read_block())


def test_ads131m02_counts_blocks_the_reader_missed():
    chip = FakeADS131M02()
    drdy = FakePin()
    adc = ADS131M02(chip, chip.cs, drdy, "falling", rate_hz=2000, pairs_per_block=2,
                    v_per_count=1e-4, i_per_count=2e-5)
    chip.samples = [(k, -k) for k in range(6)]

    async def main():
        adc.start()
        for _ in range(6):
            drdy.handler(drdy)  # three blocks before anyone reads
        return list(await adc.read_block())

    assert support.run(main()) == [4, -4, 5, -5]  # the newest
    assert adc.overruns == 2
