# An in-memory M-Bus: the simulated slaves of tools/mbus_slaves.py behind a port with
# the UART surface the master uses (read_some, write_all, any, readinto), for tests
# under both interpreters. Answers arrive after each slave's delay, whole (colliding
# answers OR-ed as on the wire); no byte pacing (the pty tests have that).

import asyncio
import rt

import mbus_slaves
from mbus_slaves import Bus, RequestAssembler, merge, build_devices, DEFAULT_DEVICES  # noqa: F401


class MemoryUART:
    def __init__(self, bus, byte_ms=1.146, time_scale=1.0):
        self.bus = bus
        self.byte_ms = byte_ms
        self.time_scale = time_scale  # shrink the slaves' delays (tests stay fast)
        self.inbox = bytearray()
        self.event = asyncio.Event()
        self.sent = []
        self.assembler = RequestAssembler()
        self.noise = b""  # bytes put in front of the next answer
        self.tasks = []
        self.sent_at = []  # rt.ticks_ms() of each write
        self.delivered_at = []  # rt.ticks_ms() of each answer put in the inbox

    def any(self):
        return len(self.inbox)

    def readinto(self, buf, nbytes=None):
        n = len(self.inbox)
        if nbytes is not None and nbytes < n:
            n = nbytes
        if len(buf) < n:
            n = len(buf)
        if not n:
            return None
        buf[:n] = self.inbox[:n]
        self.inbox = self.inbox[n:]
        return n

    async def read_some(self, buf):
        while not self.inbox:
            self.event.clear()
            await self.event.wait()
        return self.readinto(buf)

    def deliver(self, data):
        self.inbox += data
        self.delivered_at.append(rt.ticks_ms())
        self.event.set()

    async def _later(self, ms, data):
        await asyncio.sleep(ms / 1000)
        self.deliver(data)

    async def write_all(self, data):
        data = bytes(data)
        self.sent.append(data)
        self.sent_at.append(rt.ticks_ms())
        if self.bus.echo:
            self.deliver(data)
        for request in self.assembler.push(data):
            wire = merge(self.bus.handle(request), self.byte_ms)
            if not wire and not self.noise:
                continue
            out = bytearray(self.noise)
            self.noise = b""
            for _, b in wire:
                out.append(b)
            first_ms = wire[0][0] if wire else 0
            self.tasks.append(asyncio.create_task(self._later(first_ms * self.time_scale, bytes(out))))


def default_bus(faults=(), echo=False, specs=None):
    return Bus(build_devices(specs or DEFAULT_DEVICES, faults), echo=echo)


def frame(name):
    return mbus_slaves.frame_bytes(name)
