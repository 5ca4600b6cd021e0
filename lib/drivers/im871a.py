# IMST iM871A wireless M-Bus module on a UART (57600 8N1), through its HCI protocol:
#
#   A5 | control (bits 7..4) + endpoint (bits 3..0) | message id | length | payload
#
# This driver uses no optional HCI fields (control bits 0: no time stamp, RSSI or CRC).
# Endpoints and messages used (iM871A HCI specification):
#   DEVMGMT (1):   PING_REQ 01 / PING_RSP 02, SET_CONFIG_REQ 03 / SET_CONFIG_RSP 04
#   RADIOLINK (2): WMBUSMSG_REQ 01 / WMBUSMSG_RSP 02 (send a telegram)
# The module adds the L-field and the link-layer CRCs itself: a telegram is handed over
# from its C-field, without CRCs. SET_CONFIG payload: NVM flag (0: RAM only), IIFlag1
# (bit 0 device mode, bit 1 link mode), device mode (1: meter), link mode (3: T1,
# 6: C1 frame format A, 7: C1 format B). The numeric codes are from the module's manual
# and have not been checked against a module here (none attached).
#
# uart: the portable async port of drivers/uartstream.py (read_some, write_all).

import asyncio
import rt
from micropython import const
from wmbus import frame
from wmbus.errors import WMBusError

_SOF = const(0xA5)
DEVMGMT = const(0x01)
RADIOLINK = const(0x02)
PING_REQ = const(0x01)
PING_RSP = const(0x02)
SET_CONFIG_REQ = const(0x03)
SET_CONFIG_RSP = const(0x04)
WMBUSMSG_REQ = const(0x01)
WMBUSMSG_RSP = const(0x02)
LINK_MODES = {("T1", "A"): 3, ("C1", "A"): 6, ("C1", "B"): 7}
DEVICE_MODE_METER = const(1)
_RESPONSE_MS = const(500)
_BAUDRATE = 57600


class IM871AError(Exception):
    """The module did not answer, or answered with an error status."""


class IM871A:
    max_frame_len = 290

    def __init__(self, uart, mode="T1", fmt="A"):
        if (mode, fmt) not in LINK_MODES:
            raise ValueError("iM871A link mode %s format %s" % (mode, fmt))
        self.uart = uart
        self.mode = mode
        self.fmt = fmt
        self._tx = bytearray(4 + 255)
        self._rx = bytearray(4 + 255)
        self._rx_len = 0
        self._chunk = bytearray(64)
        self.sent = 0
        self.failed = 0

    def encode(self, endpoint, message, payload, n=None):
        """The HCI frame for payload[0:n] in the transmit buffer; returns its length."""
        n = len(payload) if n is None else n
        if n > 255:
            raise ValueError("HCI payload of %d bytes" % n)
        tx = self._tx
        tx[0] = _SOF
        tx[1] = endpoint & 0x0F
        tx[2] = message
        tx[3] = n
        for i in range(n):
            tx[4 + i] = payload[i]
        return 4 + n

    def _take(self):
        """(endpoint, message, payload) of a whole frame in the receive buffer, or None;
        bytes before a start byte are dropped."""
        rx = self._rx
        while self._rx_len and rx[0] != _SOF:
            self._shift(1)
        if self._rx_len < 4 or self._rx_len < 4 + rx[3]:
            return None
        if rx[1] & 0xF0:
            raise IM871AError("HCI frame with optional fields 0x%02x" % rx[1])
        n = 4 + rx[3]
        found = (rx[1] & 0x0F, rx[2], bytes(rx[4:n]))
        self._shift(n)
        return found

    def _shift(self, n):
        rx = self._rx
        rest = self._rx_len - n
        for i in range(rest):
            rx[i] = rx[n + i]
        self._rx_len = rest

    async def _request(self, endpoint, message, payload, n=None):
        size = self.encode(endpoint, message, payload, n)
        await self.uart.write_all(memoryview(self._tx)[:size])
        deadline = rt.ticks_add(rt.ticks_ms(), _RESPONSE_MS)
        while True:
            found = self._take()
            if found is not None and found[0] == endpoint and found[1] == message + 1:
                return found[2]
            left = rt.ticks_diff(deadline, rt.ticks_ms())
            if left <= 0:
                raise IM871AError("no answer to message 0x%02x" % message)
            try:
                got = await rt.wait_for_ms(self.uart.read_some(self._chunk), left)
            except asyncio.TimeoutError:  # the deadline is checked at the top
                got = 0
            room = len(self._rx) - self._rx_len
            if got > room:
                self._rx_len = 0  # garbage filled the buffer: start over
                room = len(self._rx)
            for i in range(min(got, room)):
                self._rx[self._rx_len + i] = self._chunk[i]
            self._rx_len += min(got, room)

    async def bring_up(self):
        """Ping, then configure meter mode and the link mode; False if the module is silent."""
        try:
            await self._request(DEVMGMT, PING_REQ, b"")
            status = await self._request(DEVMGMT, SET_CONFIG_REQ,
                                         bytes((0, 0x03, DEVICE_MODE_METER, LINK_MODES[(self.mode, self.fmt)])))
        except IM871AError:
            return False
        return bool(status) and status[0] == 0

    async def send(self, air):
        """Send one on-air frame (with CRCs): its CRCs are checked and removed, and the
        module is given C-field onwards. True when the module confirms."""
        try:
            plain = frame.strip_crcs(air, self.fmt)
        except WMBusError:
            self.failed += 1
            return False
        try:
            status = await self._request(RADIOLINK, WMBUSMSG_REQ, memoryview(plain)[1:])
        except IM871AError:
            self.failed += 1
            return False
        if status and status[0] == 0:
            self.sent += 1
            return True
        self.failed += 1
        return False
