# The wireless M-Bus radio drivers against fakes: the CC1101's T1/C1 register set and
# raw sends (3-of-6, FIFO refills, infinite-length mode for long frames), and the IMST
# iM871A's HCI commands. Runs under both interpreters.

import rt
import support
from drivers import cc1101
from drivers.cc1101 import CC1101
from drivers.wmbus_radio import CC1101WMBus
from drivers.im871a import IM871A
from test_board_esp32 import FakeCC1101, FakePin, on_air_time
from wmbus import builder, frame, records

KEY = bytes(16)


class FakeRawCC1101(FakeCC1101):
    """Raw packets: the one on the air ends when `expected` bytes went out."""

    expected = 0

    def packet_len(self):
        return self.expected

    def _tick_air(self):
        now = cc1101.rt.ticks_ms()
        budget = 12 * cc1101.rt.ticks_diff(now, self.last_ms)
        self.last_ms = now
        if self.state == cc1101.STATE_TX and len(self.sending) < self.packet_len():
            budget = min(budget, len(self.tx) - 1)  # as FakeCC1101: a late test never underflows
        if self.state == cc1101.STATE_TX and budget > 0:
            self.tx[:budget] = b""
            if not self.tx:
                complete = len(self.sending) == self.expected
                if complete:
                    self.sent.append(bytes(self.sending))
                self.state = cc1101.STATE_IDLE if complete else cc1101.STATE_TXFIFO_UNDERFLOW


def _telegram(payload_records, fmt="A"):
    b = builder.Builder("QQQ", "12345678", 1, 2, KEY, mode=7, fmt=fmt)
    buf = b.payload_buffer()
    pos = 0
    for i in range(payload_records):
        pos = records.put_dif(buf, pos, records.INT32, records.VIF_ENERGY_WH, storage=i)
        pos = records.put_int(buf, pos, i, 4)
    return bytes(b.build(pos, 77))


def test_wmbus_register_sets():
    for mode in ("T1", "C1"):
        regs = dict(cc1101.wmbus_registers(mode))
        baud = cc1101.data_rate(regs[cc1101.MDMCFG4], regs[cc1101.MDMCFG3])
        assert 99_900 <= baud <= 100_100  # 100 kchip/s
        word = (regs[cc1101.FREQ2] << 16) | (regs[cc1101.FREQ1] << 8) | regs[cc1101.FREQ0]
        assert abs(word * cc1101.XTAL_HZ / 65536 - 868_950_000) < 400
        assert (regs[cc1101.SYNC1], regs[cc1101.SYNC0]) == (0x54, 0x3D)
        assert regs[cc1101.PKTCTRL0] == 0x00 and regs[cc1101.IOCFG2] == 0x02
    assert dict(cc1101.wmbus_registers("T1"))[cc1101.MDMCFG1] >> 4 == 3  # 6 preamble bytes: >= 19 chip pairs
    support.raises(ValueError, cc1101.wmbus_registers, "S1")


def _radio(mode="T1", fmt="A", gdo2=None):
    fake = FakeRawCC1101()
    chip = CC1101(fake, fake.cs)
    assert chip.bring_up()
    return fake, CC1101WMBus(chip, mode, fmt, gdo2=gdo2, gdo2_falling=2)


@on_air_time
def test_t1_send_is_three_of_six_with_fifo_refills():
    gdo2 = FakePin()
    fake, radio = _radio(gdo2=gdo2)
    assert gdo2.handler is not None and gdo2.trigger == 2 and radio.chip.fifo_flag is not None
    air = _telegram(8)
    buf, n = radio.coded(air)
    assert n == frame.coded_len(len(air)) and n > 64  # longer than the FIFO
    fake.expected = n
    assert support.run(radio.send(air)), "send failed: underflows %d" % radio.chip.tx_underflows
    back = bytearray(len(air))
    frame.decode_3of6(fake.sent[0], len(air), back)
    assert bytes(back) == air
    assert fake.regs[cc1101.PKTLEN] == n and fake.regs[cc1101.PKTCTRL0] == 0x00


@on_air_time
def test_long_t1_frame_uses_infinite_length_mode():
    fake, radio = _radio()
    air = _telegram(20)
    _, n = radio.coded(air)
    assert n > 255
    fake.expected = n
    seen = []
    write_reg = radio.chip.write_reg

    def spy(address, value):
        if address == cc1101.PKTCTRL0:
            seen.append(value)
        write_reg(address, value)

    radio.chip.write_reg = spy
    assert support.run(radio.send(air)), "send failed: underflows %d" % radio.chip.tx_underflows
    assert seen == [0x02, 0x00]  # infinite, then fixed for the last < 256 bytes
    assert fake.regs[cc1101.PKTLEN] == n & 0xFF
    back = bytearray(len(air))
    frame.decode_3of6(fake.sent[0], len(air), back)
    assert bytes(back) == air


@on_air_time
def test_c1_sends_the_format_marker_then_the_frame():
    for fmt, marker in (("A", 0xCD), ("B", 0x3D)):
        fake, radio = _radio("C1", fmt)
        air = _telegram(3, fmt)
        fake.expected = len(air) + 2
        assert support.run(radio.send(air)), "C1 %s send failed: underflows %d" % (fmt, radio.chip.tx_underflows)
        assert fake.sent[0] == bytes((0x54, marker)) + air, "on the air: %r" % fake.sent
    support.raises(ValueError, lambda: _radio("T1", "B"))


class FakeIM871A:
    """The module's side of the UART: answers PING, SET_CONFIG and WMBUSMSG requests."""

    def __init__(self, silent=False):
        self.silent = silent
        self.out = bytearray()
        self.requests = []

    async def write_all(self, data):
        data = bytes(data)
        assert data[0] == 0xA5 and data[3] == len(data) - 4
        self.requests.append((data[1], data[2], data[4:]))
        if not self.silent:
            self.out += bytes((0xA5, data[1], data[2] + 1, 1, 0))

    async def read_some(self, buf):
        while not self.out:
            await rt.sleep_ms(5)
        n = min(len(buf), len(self.out))
        buf[:n] = self.out[:n]
        self.out[:n] = b""
        return n


def test_im871a_configures_and_sends_from_the_c_field():
    uart = FakeIM871A()
    module = IM871A(uart, "T1", "A")
    assert support.run(module.bring_up())
    assert uart.requests[0][:2] == (0x01, 0x01)  # DEVMGMT PING
    assert uart.requests[1] == (0x01, 0x03, bytes((0, 0x03, 1, 3)))  # meter mode, link mode T1
    air = _telegram(4)
    assert support.run(module.send(air))
    endpoint, message, payload = uart.requests[2]
    plain = frame.strip_crcs(air, "A")
    assert (endpoint, message) == (0x02, 0x01) and payload == bytes(plain[1:])
    assert module.sent == 1
    bad = bytearray(air)
    bad[-1] ^= 1
    assert support.run(module.send(bytes(bad))) is False  # a frame with a broken CRC is not sent


def test_im871a_silent_module():
    module = IM871A(FakeIM871A(silent=True), "C1", "B")
    assert support.run(module.bring_up()) is False
