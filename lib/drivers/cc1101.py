# TI CC1101 sub-GHz transceiver: register access, strobes and FIFO send/receive.
#
# Hardware-free: it takes an SPI bus (write, readinto, write_readinto), a chip-select
# pin and optionally GDO0 (anything with value()), so esp32 and rp2 share this file
# and tests can drive it with a fake chip. Register
# names, addresses and bits are from the CC1101 datasheet (TI SWRS061I, section 10
# and tables 41-45).
#
# Two register sets: default_registers() for 868.95 MHz 2-FSK with the chip's
# variable-length packets (a length byte, then up to 255 bytes; send/receive), and
# wmbus_registers() for wireless M-Bus T1 and C1 (EN 13757-4) with raw fixed-length
# or infinite-length packets (send_raw, for frames the caller has coded; longer than
# the FIFO is refilled as it drains, paced by GDO2 when an interrupt pin is wired).

import asyncio
import rt
from micropython import const

# SPI header byte: bit 7 read, bit 6 burst, bits 5..0 address.
_READ = const(0x80)
_BURST = const(0x40)

# Configuration registers used by the default table.
IOCFG2 = const(0x00)
IOCFG0 = const(0x02)
FIFOTHR = const(0x03)
SYNC1 = const(0x04)
SYNC0 = const(0x05)
PKTLEN = const(0x06)
PKTCTRL1 = const(0x07)
PKTCTRL0 = const(0x08)
FSCTRL1 = const(0x0B)
FREQ2 = const(0x0D)
FREQ1 = const(0x0E)
FREQ0 = const(0x0F)
MDMCFG4 = const(0x10)
MDMCFG3 = const(0x11)
MDMCFG2 = const(0x12)
MDMCFG1 = const(0x13)
DEVIATN = const(0x15)
MCSM1 = const(0x17)
MCSM0 = const(0x18)
PATABLE = const(0x3E)
FIFO = const(0x3F)

# Command strobes.
SRES = const(0x30)
SCAL = const(0x33)
SRX = const(0x34)
STX = const(0x35)
SIDLE = const(0x36)
SFRX = const(0x3A)
SFTX = const(0x3B)
SNOP = const(0x3D)

# Status registers (read with the burst bit set).
PARTNUM = const(0x30)
VERSION = const(0x31)
RSSI = const(0x34)
MARCSTATE = const(0x35)
TXBYTES = const(0x3A)
RXBYTES = const(0x3B)

# MARCSTATE values (bits 4..0).
STATE_IDLE = const(0x01)
STATE_RX = const(0x0D)
STATE_TX = const(0x13)
STATE_RXFIFO_OVERFLOW = const(0x11)
STATE_TXFIFO_UNDERFLOW = const(0x16)

_FIFO_BYTES = const(64)
_OVERFLOW = const(0x80)  # RXBYTES/TXBYTES bit 7: over/underflow
_COUNT_MASK = const(0x7F)
_TX_DONE_MS = const(100)  # 255 bytes at 100 kbit/s take 21 ms on air
_POLL_MS = const(1)  # the FIFO holds 5 ms of data at 100 kbit/s
# receive() gives a packet under way at most the air time of the longest one after its
# timeout: up to 24 preamble, 4 sync and 1 length byte, then 255 bytes, at the configured
# data rate, doubled, plus a margin for polling. A chip that stops mid-packet (or a GDO0
# stuck high) then ends receive() instead of hanging it.
_LONGEST_PACKET_BITS = const(8 * (24 + 4 + 1 + 255))
_PACKET_MARGIN_MS = const(20)

XTAL_HZ = 26_000_000
FREQUENCY_HZ = 868_950_000  # wireless M-Bus T1/C1 (EN 13757-4)


def freq_word(hz, xtal_hz=XTAL_HZ):
    """FREQ2..0 for a carrier: hz * 2**16 / f_xosc, rounded (datasheet section 21)."""
    return ((hz << 16) + xtal_hz // 2) // xtal_hz


def data_rate(mdmcfg4, mdmcfg3, xtal_hz=XTAL_HZ):
    """Data rate in baud from MDMCFG4 (DRATE_E in bits 3..0) and MDMCFG3 (DRATE_M), section 12."""
    return ((256 + mdmcfg3) << (mdmcfg4 & 0x0F)) * xtal_hz >> 28


def longest_packet_ms(baud):
    """The cap receive() adds to its timeout: twice the longest packet's air time, plus a margin."""
    return 2 * (_LONGEST_PACKET_BITS * 1000 + baud - 1) // baud + _PACKET_MARGIN_MS


def default_registers(frequency_hz=FREQUENCY_HZ):
    """(register, value) pairs: 2-FSK at 103 kBaud, +-50 kHz, variable-length packets."""
    word = freq_word(frequency_hz)
    return (
        (IOCFG0, 0x06),  # GDO0 high from sync word to end of packet
        (FIFOTHR, 0x07),  # default thresholds (33 TX / 32 RX bytes)
        (SYNC1, 0x54),  # T-mode sync word 0x543D
        (SYNC0, 0x3D),
        (PKTLEN, 0xFF),  # longest variable-length packet
        (PKTCTRL1, 0x00),  # no status bytes appended, no address check
        (PKTCTRL0, 0x01),  # variable length, no CRC, no whitening (wM-Bus has its own CRCs)
        (FSCTRL1, 0x08),  # IF 203 kHz
        (FREQ2, word >> 16),
        (FREQ1, (word >> 8) & 0xFF),
        (FREQ0, word & 0xFF),
        (MDMCFG4, 0x5C),  # RX bandwidth 325 kHz, DRATE_E 12
        (MDMCFG3, 0x04),  # DRATE_M 4: 103 kBaud
        (MDMCFG2, 0x05),  # 2-FSK, 15/16 sync bits + carrier sense
        (MDMCFG1, 0x22),  # 4 preamble bytes
        (DEVIATN, 0x50),  # +-50.8 kHz
        (MCSM1, 0x00),  # back to IDLE after RX and after TX
        (MCSM0, 0x18),  # calibrate on IDLE -> RX/TX
    )


WMBUS_T1 = "T1"
WMBUS_C1 = "C1"


def wmbus_registers(mode, frequency_hz=FREQUENCY_HZ):
    """(register, value) pairs for wireless M-Bus T1 or C1 transmission at 868.95 MHz.

    Both: 100 kchip/s 2-FSK (DRATE_E 11, DRATE_M 248: 99.97 kBaud), sync word 0x543D
    (the preamble's 01 tail, then T-mode's 0000111101), raw fixed-length packets with no
    CRC or whitening of the chip's own (the frame carries the EN 13757-4 CRCs). T1:
    +-50 kHz and 6 preamble bytes (>= 19 chip pairs), the caller sends 3-of-6 chips.
    C1: +-45 kHz (nearest step 47.6 kHz), 4 preamble bytes, NRZ bytes after the
    format marker word. GDO2 follows the TX FIFO threshold (FIFOTHR 0x07: 33 bytes)
    so a falling edge says there is room for 31 more; GDO0 is high from sync to end."""
    if mode not in (WMBUS_T1, WMBUS_C1):
        raise ValueError("wM-Bus mode %r" % (mode,))
    word = freq_word(frequency_hz)
    t1 = mode == WMBUS_T1
    return (
        (IOCFG2, 0x02),  # TX FIFO at or above the threshold
        (IOCFG0, 0x06),  # sync word sent/heard until the end of the packet
        (FIFOTHR, 0x07),
        (SYNC1, 0x54),
        (SYNC0, 0x3D),
        (PKTLEN, 0xFF),
        (PKTCTRL1, 0x00),
        (PKTCTRL0, 0x00),  # fixed length (send_raw switches to infinite for > 255 bytes)
        (FSCTRL1, 0x08),
        (FREQ2, word >> 16),
        (FREQ1, (word >> 8) & 0xFF),
        (FREQ0, word & 0xFF),
        (MDMCFG4, 0x5B),  # RX bandwidth 325 kHz, DRATE_E 11
        (MDMCFG3, 0xF8),  # DRATE_M 248
        (MDMCFG2, 0x02),  # 2-FSK, 16/16 sync bits
        (MDMCFG1, 0x32 if t1 else 0x22),  # preamble 6 (T1) or 4 (C1) bytes
        (DEVIATN, 0x50 if t1 else 0x47),
        (MCSM1, 0x00),
        (MCSM0, 0x18),
    )


PA_POWER = 0xC0  # PATABLE: about +10 dBm at 868 MHz, under the band's 25 mW


class CC1101:
    max_frame_len = 255

    def __init__(self, spi, cs, gdo0=None):
        self._spi = spi
        self._cs = cs
        self._gdo0 = gdo0
        cs.value(1)
        self._tx2 = bytearray(2)
        self._rx2 = bytearray(2)
        self._one = bytearray(1)
        self.sent = 0
        self.received = 0
        self.rx_overflows = 0
        self.tx_underflows = 0
        self.rx_stalls = 0  # receptions given up: a packet never finished within its air time
        self.packet_cap_ms = longest_packet_ms(data_rate(0x5C, 0x04))  # the default table's rate
        # Set by a board that wires GDO2 (TX FIFO threshold) to an interrupt: a
        # ThreadSafeFlag the handler sets, so send_raw waits for room instead of polling.
        self.fifo_flag = None

    # -- register access -------------------------------------------------------------

    def _transfer2(self, header, value=0):
        self._tx2[0] = header
        self._tx2[1] = value
        self._cs.value(0)
        try:
            self._spi.write_readinto(self._tx2, self._rx2)
        finally:
            self._cs.value(1)
        return self._rx2[1]

    def strobe(self, command):
        """Send a command strobe; returns the chip status byte."""
        self._one[0] = command
        self._cs.value(0)
        try:
            self._spi.write_readinto(self._one, self._one)
        finally:
            self._cs.value(1)
        return self._one[0]

    def read_reg(self, address):
        return self._transfer2(_READ | address)

    def write_reg(self, address, value):
        self._transfer2(address, value)

    def read_status(self, address):
        """A status register (0x30..0x3D); these need the burst bit to tell them from strobes."""
        return self._transfer2(_READ | _BURST | address)

    def read_status_stable(self, address):
        """Read twice until equal: the FIFO byte counts may be read mid-update (errata SWRZ020)."""
        value = self.read_status(address)
        while True:
            again = self.read_status(address)
            if again == value:
                return value
            value = again

    def write_burst(self, address, data):
        self._one[0] = _BURST | address
        self._cs.value(0)
        try:
            self._spi.write(self._one)
            self._spi.write(data)
        finally:
            self._cs.value(1)

    def read_burst(self, address, buf):
        self._one[0] = _READ | _BURST | address
        self._cs.value(0)
        try:
            self._spi.write(self._one)
            self._spi.readinto(buf, 0)
        finally:
            self._cs.value(1)

    def marcstate(self):
        return self.read_status(MARCSTATE) & 0x1F

    # -- set-up ----------------------------------------------------------------------

    def reset(self):
        """SRES, then wait for the crystal to settle."""
        self.strobe(SRES)
        rt.sleep_ms_blocking(1)

    def present(self):
        """True if a CC1101 answers (PARTNUM 0x00 and a non-zero VERSION, 0x14 on current parts)."""
        version = self.read_status(VERSION)
        return self.read_status(PARTNUM) == 0x00 and version not in (0x00, 0xFF)

    def bring_up(self):
        """Reset, check the chip answers and configure it; False if no CC1101 is there."""
        self.reset()
        if not self.present():
            return False
        self.configure()
        return True

    def configure(self, registers=None, pa_power=PA_POWER):
        for address, value in registers or default_registers():
            self.write_reg(address, value)
        self.write_reg(PATABLE, pa_power)
        self.packet_cap_ms = longest_packet_ms(data_rate(self.read_reg(MDMCFG4), self.read_reg(MDMCFG3)))
        self.strobe(SIDLE)
        self.strobe(SCAL)

    def _flush(self):
        self.strobe(SIDLE)
        self.strobe(SFRX)
        self.strobe(SFTX)

    # -- frames ----------------------------------------------------------------------

    async def send(self, frame):
        """Transmit one frame (1..255 bytes); True when it has left the antenna."""
        size = len(frame)
        if not 0 < size <= self.max_frame_len:
            raise ValueError("frame length %d out of 1..%d" % (size, self.max_frame_len))
        mv = memoryview(frame)
        self._flush()
        self.write_reg(FIFO, size)  # the variable-length packet's length byte
        first = min(size, _FIFO_BYTES - 1)
        self.write_burst(FIFO, mv[:first])
        self.strobe(STX)
        done = first
        while done < size:
            # Top up the FIFO as it drains.
            count = self.read_status_stable(TXBYTES)
            if count & _OVERFLOW:
                self.tx_underflows += 1
                self._flush()
                return False
            room = _FIFO_BYTES - (count & _COUNT_MASK)
            if room:
                chunk = min(room, size - done)
                self.write_burst(FIFO, mv[done : done + chunk])
                done += chunk
            else:
                await rt.sleep_ms(_POLL_MS)
        deadline = rt.ticks_add(rt.ticks_ms(), _TX_DONE_MS)
        while self.marcstate() != STATE_IDLE:
            if rt.ticks_diff(deadline, rt.ticks_ms()) <= 0:
                self._flush()
                return False
            await rt.sleep_ms(_POLL_MS)
        self.sent += 1
        return True

    async def send_raw(self, data, length=None):
        """Transmit data[0:length] as one raw packet (wmbus_registers): fixed-length mode
        up to 255 bytes, infinite-length mode for longer, switched back to fixed with
        PKTLEN = length mod 256 once fewer than 256 bytes remain, so the packet ends on
        its last byte. True when it has left the antenna."""
        size = len(data) if length is None else length
        if not 0 < size <= 0xFFFF:
            raise ValueError("raw packet length %d" % size)
        mv = memoryview(data)
        self._flush()
        self.write_reg(PKTLEN, size & 0xFF)
        infinite = size > 0xFF
        self.write_reg(PKTCTRL0, 0x02 if infinite else 0x00)
        first = min(size, _FIFO_BYTES)
        self.write_burst(FIFO, mv[:first])
        self.strobe(STX)
        done = first
        while done < size:
            count = self.read_status_stable(TXBYTES)
            if count & _OVERFLOW:
                self.tx_underflows += 1
                self._flush()
                return False
            count &= _COUNT_MASK
            if infinite and size - done + count <= 0xFF:
                self.write_reg(PKTCTRL0, 0x00)  # the byte counter now ends the packet at PKTLEN
                infinite = False
            room = _FIFO_BYTES - count
            if room:
                chunk = min(room, size - done)
                self.write_burst(FIFO, mv[done : done + chunk])
                done += chunk
            elif self.fifo_flag is not None:
                try:
                    await rt.wait_for_ms(self.fifo_flag.wait(), 2 * _POLL_MS)
                except asyncio.TimeoutError:
                    pass  # an edge missed: poll again
            else:
                await rt.sleep_ms(_POLL_MS)
        if infinite:
            self.write_reg(PKTCTRL0, 0x00)
        deadline = rt.ticks_add(rt.ticks_ms(), _TX_DONE_MS)
        while self.marcstate() != STATE_IDLE:
            if rt.ticks_diff(deadline, rt.ticks_ms()) <= 0:
                self._flush()
                return False
            await rt.sleep_ms(_POLL_MS)
        self.sent += 1
        return True

    async def receive(self, timeout_ms):
        """The next frame heard within timeout_ms (a packet under way is finished), or None.

        A packet under way at the timeout gets packet_cap_ms more at most; one that has not
        ended by then (the chip stopped mid-packet) is dropped and counted in rx_stalls."""
        self._flush()
        self.strobe(SRX)
        deadline = rt.ticks_add(rt.ticks_ms(), timeout_ms)
        cap = rt.ticks_add(deadline, self.packet_cap_ms)
        frame = None
        got = 0
        while True:
            if rt.ticks_diff(cap, rt.ticks_ms()) <= 0:
                self.rx_stalls += 1
                self._flush()
                return None
            count = self.read_status_stable(RXBYTES)
            if count & _OVERFLOW:
                self.rx_overflows += 1
                self._flush()
                self.strobe(SRX)
                frame = None
                got = 0
                continue
            count &= _COUNT_MASK
            if count and frame is None:
                size = self.read_reg(FIFO)
                count -= 1
                if size == 0:
                    self._flush()  # noise that passed the sync check
                    self.strobe(SRX)
                    continue
                frame = bytearray(size)
            if count and frame is not None:
                need = len(frame) - got
                # Never empty the FIFO while bytes are still arriving (errata SWRZ020).
                take = need if count >= need else count - 1
                if take > 0:
                    self.read_burst(FIFO, memoryview(frame)[got : got + take])
                    got += take
                if got == len(frame):
                    self.strobe(SIDLE)
                    self.received += 1
                    return bytes(frame)
            if rt.ticks_diff(deadline, rt.ticks_ms()) <= 0 and not self._in_packet(frame):
                self._flush()
                return None
            await rt.sleep_ms(_POLL_MS)

    def _in_packet(self, frame):
        # GDO0 is high from the sync word to the end of the packet (IOCFG0 0x06).
        if frame is not None:
            return True
        return self._gdo0 is not None and self._gdo0.value() == 1
