# In-memory byte links for the stand-in board: a serial cable (two ports with the UART
# surface the firmware uses), an asyncio-stream pair (the admin and update transports),
# and the radio air. Each direction is one preallocated buffer, so a steady link
# allocates nothing per byte; a writer that overruns it raises, as a lost byte would be
# a test failure rather than a silent drop.

import asyncio


class Pipe:
    """One direction: bytes written at one end, read at the other, in order."""

    def __init__(self, capacity):
        self.buf = bytearray(capacity)
        self.start = 0
        self.end = 0
        self.event = asyncio.Event()
        self.closed = False
        self.bytes = 0  # carried so far

    def any(self):
        return self.end - self.start

    def put(self, data):
        n = len(data)
        if self.end + n > len(self.buf):
            held = self.end - self.start
            if held + n > len(self.buf):
                raise OSError("memory link overrun: %d + %d bytes > %d" % (held, n, len(self.buf)))
            self.buf[:held] = memoryview(self.buf)[self.start:self.end]
            self.start, self.end = 0, held
        self.buf[self.end:self.end + n] = data
        self.end += n
        self.bytes += n
        self.event.set()

    def take(self, buf, limit=None):
        """Copy what is there (up to len(buf) and limit) into buf; the count."""
        n = self.end - self.start
        if limit is not None and limit < n:
            n = limit
        if len(buf) < n:
            n = len(buf)
        buf[:n] = memoryview(self.buf)[self.start:self.start + n]
        self.start += n
        if self.start == self.end:
            self.start = self.end = 0
        return n

    async def wait(self):
        while self.start == self.end and not self.closed:
            self.event.clear()
            await self.event.wait()

    def close(self):
        self.closed = True
        self.event.set()

    def reopen(self):
        """Empty and open again (a new connection over the same buffers)."""
        self.closed = False
        self.start = self.end = 0


class Port:
    """One end of a serial cable: `read_some`/`write_all` plus the machine.UART surface."""

    def __init__(self, rx, tx):
        self.rx = rx
        self.tx = tx
        self.baudrate = None

    def init(self, baudrate=None, bits=8, parity=None, stop=1, **kw):
        self.baudrate = baudrate

    def any(self):
        return self.rx.any()

    def readinto(self, buf, nbytes=None):
        return self.rx.take(buf, nbytes) or None

    def read(self, nbytes=None):
        n = self.rx.any() if nbytes is None else min(nbytes, self.rx.any())
        if not n:
            return None
        out = bytearray(n)
        self.rx.take(out)
        return bytes(out)

    def write(self, data):
        self.tx.put(data)
        return len(data)

    async def read_some(self, buf):
        await self.rx.wait()
        return self.rx.take(buf)

    async def write_all(self, data):
        self.tx.put(data)


def cable(capacity=1024):
    """Two connected ports: what one writes the other reads."""
    a, b = Pipe(capacity), Pipe(capacity)
    return Port(a, b), Port(b, a)


class Stream:
    """One end of a connection with the asyncio stream methods the admin and update
    servers use (readline, read, readexactly, write, drain, close)."""

    def __init__(self, rx, tx):
        self.rx = rx
        self.tx = tx

    async def read(self, n):
        await self.rx.wait()
        if not self.rx.any():
            return b""
        out = bytearray(min(n, self.rx.any()))
        self.rx.take(out)
        return bytes(out)

    async def readexactly(self, n):
        out = bytearray(n)
        view = memoryview(out)
        got = 0
        while got < n:
            await self.rx.wait()
            if not self.rx.any():
                raise EOFError
            got += self.rx.take(view[got:])
        return bytes(out)

    async def readline(self):
        rx = self.rx
        while True:
            await rx.wait()
            i = rx.buf.find(b"\n", rx.start, rx.end)
            if i >= 0 or rx.closed:
                n = i + 1 - rx.start if i >= 0 else rx.any()
                out = bytearray(n)
                rx.take(out)
                return bytes(out)
            if rx.any() == len(rx.buf):
                raise OSError("line longer than the link's buffer")
            rx.event.clear()
            await rx.event.wait()

    def write(self, data):
        self.tx.put(data)

    async def drain(self):
        # The peer reads at its pace: wait until it has taken most of what was written.
        while self.tx.any() > len(self.tx.buf) // 2 and not self.tx.closed:
            await asyncio.sleep_ms(1)

    def close(self):
        self.tx.close()

    async def wait_closed(self):
        pass

    def reopen(self):
        self.rx.reopen()
        self.tx.reopen()


def stream_pair(to_device, to_peer):
    """(device end, peer end) of an in-memory connection, with each direction's buffer size."""
    a, b = Pipe(to_device), Pipe(to_peer)
    return Stream(a, b), Stream(b, a)


class MemAir:
    """The radio: every frame sent is kept (the last one, copied) and counted."""

    def __init__(self, max_frame=256):
        self.last = bytearray(max_frame)
        self.last_len = 0
        self.sent = 0
        self.drops = 0

    async def send(self, frame):
        n = len(frame)
        if n > len(self.last):
            self.drops += 1
            return False
        self.last[:n] = frame
        self.last_len = n
        self.sent += 1
        return True

    def last_frame(self):
        return bytes(memoryview(self.last)[:self.last_len])
