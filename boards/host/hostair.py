# Host board radio: a TCP client of the simulation's air hub on loopback.
#
# On the wire every frame is a 2-byte big-endian length and the frame's bytes, both
# ways; the hub passes each frame to every other client. The radio never takes the
# application down: while the hub is absent, send() drops the frame (counted in
# `drops`) and receive() waits out its timeout; the link reconnects every 500 ms.

import asyncio
import rt
from micropython import const
from hostio import Link

MAX_FRAME_BYTES = const(1024)  # longer than any wireless M-Bus frame; more means a broken stream
_SEND_TIMEOUT_MS = const(1000)  # a hub that takes no bytes for this long is treated as gone


class HostAir:
    def __init__(self, address):
        self.address = address
        self._link = Link("tcp:" + address)
        self._rx = bytearray(2 + MAX_FRAME_BYTES)
        self._rx_len = 0
        self._header = bytearray(2)
        self.sent = 0
        self.received = 0
        self.drops = 0

    @property
    def reconnects(self):
        return self._link.reconnects

    async def send(self, frame):
        """Put one frame on the air; True if the hub took it, False if it was dropped."""
        if len(frame) > MAX_FRAME_BYTES or not self._link.ensure():
            self.drops += 1
            return False
        self._header[0] = len(frame) >> 8
        self._header[1] = len(frame) & 0xFF
        try:
            await rt.wait_for_ms(self._write(frame), _SEND_TIMEOUT_MS)
        except asyncio.TimeoutError:
            self._link.hang_up()  # half a frame may be out: start the stream afresh
        if not self._link.up:
            self.drops += 1  # the hub went away while we wrote
            return False
        self.sent += 1
        return True

    async def _write(self, frame):
        await self._link.write_all(self._header)
        await self._link.write_all(frame)

    async def receive(self, timeout_ms):
        """The next frame heard within timeout_ms, as bytes; None if none came."""
        deadline = rt.ticks_add(rt.ticks_ms(), timeout_ms)
        while True:
            frame = self._take_frame()
            if frame is not None:
                return frame
            left_ms = rt.ticks_diff(deadline, rt.ticks_ms())
            if left_ms <= 0:
                return None
            was_up = self._link.up
            n = self._link.readinto(memoryview(self._rx)[self._rx_len :])
            if n:
                self._rx_len += n
                continue
            if was_up and not self._link.up:
                self._rx_len = 0  # the hub went away: a partial frame is lost
                continue
            try:
                await rt.wait_for_ms(self._link.wait_readable(), left_ms)
            except asyncio.TimeoutError:
                pass

    def _take_frame(self):
        if self._rx_len < 2:
            return None
        size = (self._rx[0] << 8) | self._rx[1]
        if size > MAX_FRAME_BYTES:
            # Not our framing: start over with a fresh connection.
            self._link.hang_up()
            self._rx_len = 0
            self.drops += 1
            return None
        end = 2 + size
        if self._rx_len < end:
            return None
        frame = bytes(self._rx[2:end])
        rest = self._rx_len - end
        self._rx[:rest] = self._rx[end : self._rx_len]
        self._rx_len = rest
        self.received += 1
        return frame

    def close(self):
        self._link.close()
