# Host board I/O: one non-blocking byte link (a pty or a loopback TCP socket) and
# waiting for it in asyncio, the same on the MicroPython unix port and on CPython.
#
# How the wait works differs by interpreter (the only split here, through rt.EMULATED):
#   MicroPython  asyncio.StreamReader(raw).read(0) parks the task in the poller until
#                the fd is readable (verified on ptys and sockets), then reads nothing;
#   CPython      loop.add_reader(fd) resolves a future.
# Writes never wait on the poller: a local pty or socket takes a few KiB at once, so a
# short write is retried after 1 ms.
#
# A pty whose far end hung up (the simulation closed its master) fails writes with EIO
# and polls readable forever with nothing to read: writes are then dropped and counted
# in dropped_bytes (as on a TCP link that is down) and reads back off _PTY_IDLE_MS.
# The pty is opened without becoming the controlling terminal where the interpreter
# allows it (CPython: O_NOCTTY); MicroPython's open() has no flags, so a MicroPython
# process that is a session leader without a terminal (os.setsid) acquires the pty as
# its controlling terminal and is killed by SIGHUP when the far end hangs up.

import asyncio
import errno
import select
import socket
import rt
from micropython import const

_RECONNECT_MS = const(500)  # a TCP peer that went away is tried again this often
_PTY_IDLE_MS = const(10)  # a pty whose far end hung up polls readable forever; back off
_VTIME = const(5)  # termios cc indices on Linux (MicroPython's termios has no names)
_VMIN = const(6)


def parse_address(address):
    """"127.0.0.1:5000" -> ("127.0.0.1", 5000)."""
    host, _, port = address.rpartition(":")
    return host, int(port)


def tcp_connect(address):
    """A connected, non-blocking TCP socket to "host:port"; OSError if refused."""
    host, port = parse_address(address)
    sock = socket.socket()
    try:
        sock.connect(socket.getaddrinfo(host, port)[0][-1])
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def open_pty(path):
    """Open a pty slave for reading and writing: raw, and reads return what is there.

    VMIN=0, VTIME=0 makes read(n) return at once with what is buffered (possibly
    nothing) instead of blocking until n bytes arrived.
    """
    import termios

    if rt.EMULATED:
        import os
        import tty  # CPython keeps setraw in tty

        # O_NOCTTY: never the controlling terminal, so a hang-up is EIO, not SIGHUP.
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        f = os.fdopen(fd, "r+b", buffering=0)
        tty.setraw(fd)
    else:
        f = open(path, "r+b")  # no flags in MicroPython: see the note at the top
        fd = f.fileno()
        termios.setraw(fd)  # MicroPython has it in termios
    attrs = termios.tcgetattr(fd)
    attrs[6][_VMIN] = 0
    attrs[6][_VTIME] = 0
    termios.tcsetattr(fd, termios.TCSANOW, attrs)
    return f


if rt.EMULATED:

    async def wait_readable(raw):
        """Return when raw (anything with fileno()) has data, an EOF or an error."""
        loop = asyncio.get_running_loop()
        ready = loop.create_future()
        fd = raw.fileno()

        def on_ready():
            if not ready.done():
                ready.set_result(None)

        loop.add_reader(fd, on_ready)
        try:
            await ready
        finally:
            loop.remove_reader(fd)

else:

    async def wait_readable(raw):
        """Return when raw (a file or socket) has data, an EOF or an error."""
        await asyncio.StreamReader(raw).read(0)


class Link:
    """A byte link to the simulation: "pty:/dev/pts/N" or "tcp:127.0.0.1:PORT".

    Reads and writes never block. A TCP link whose peer goes away is reconnected
    every 500 ms; while it is down, reads find nothing and writes are dropped (a
    cable with nothing at the far end). A pty stays open for the process's life;
    while its far end is hung up (hung_up), writes are dropped too. Dropped bytes
    are counted in dropped_bytes.
    """

    def __init__(self, spec):
        self.spec = spec
        kind, _, where = spec.partition(":")
        if kind == "pty":
            self._address = None
            self.raw = open_pty(where)
        elif kind == "tcp":
            self._address = where
            self.raw = None
            self._retry_at = rt.ticks_ms()
            self._connect()
        else:
            raise ValueError("link must be pty:PATH or tcp:HOST:PORT, not %r" % spec)
        self.reconnects = 0
        self.dropped_bytes = 0
        self.hung_up = False  # a pty whose far end hung up (seen on the last write or poll)
        self._poll = select.poll()
        if self.raw is not None:
            self._poll.register(self.raw, select.POLLIN)
        # CPython sockets read with recv_into, MicroPython's (and all files) with readinto.
        self._recv_into = getattr(self.raw, "recv_into", None) if self._address else None

    @property
    def up(self):
        return self.raw is not None

    def _connect(self):
        try:
            self.raw = tcp_connect(self._address)
        except OSError:
            self.raw = None
            self._retry_at = rt.ticks_add(rt.ticks_ms(), _RECONNECT_MS)
            return False
        return True

    def _drop_raw(self):
        if self.raw is not None:
            try:
                self._poll.unregister(self.raw)
            except (OSError, KeyError, ValueError):
                pass
            self.raw.close()
            self.raw = None

    def hang_up(self):
        """Close a TCP link now (a broken stream); it reconnects on the next use after 500 ms."""
        self._drop_raw()
        self._retry_at = rt.ticks_add(rt.ticks_ms(), _RECONNECT_MS)

    def ensure(self):
        """Reconnect a TCP link that is down, at most every 500 ms; True if it is up."""
        if self.raw is not None:
            return True
        if self._address is None or rt.ticks_diff(rt.ticks_ms(), self._retry_at) < 0:
            return False
        if not self._connect():
            return False
        self.reconnects += 1
        self._poll.register(self.raw, select.POLLIN)
        self._recv_into = getattr(self.raw, "recv_into", None)
        return True

    def readable(self):
        """True if a read would return something now (data, or an EOF to notice)."""
        if not self.ensure():
            return False
        events = 0
        for entry in self._poll.poll(0):
            events |= entry[1]
        if self._address is None:
            self.hung_up = bool(events & (select.POLLHUP | select.POLLERR))
        return bool(events)

    def _drop(self, count):
        self.dropped_bytes += count
        return count

    def readinto(self, buf):
        """Read what is available into buf; returns the count (0: nothing)."""
        if not self.ensure():
            return 0
        try:
            n = self._recv_into(buf) if self._recv_into else self.raw.readinto(buf)
        except OSError as exc:
            if exc.args and exc.args[0] == errno.EAGAIN:  # nothing yet (CPython raises it)
                return 0
            if self._address is None:
                return 0  # pty: EIO while the far end is closed; it may come back
            self.hang_up()
            return 0
        if n is None:
            return 0  # MicroPython socket: nothing yet
        if n == 0 and self._address is not None and len(buf):
            self.hang_up()  # TCP EOF: the peer closed
        return n

    def write(self, buf):
        """Write what the link takes now; returns the count (0: full, or a TCP link is down).

        A pty whose far end hung up takes everything and drops it (counted in dropped_bytes).
        """
        if not self.ensure():
            return 0
        try:
            n = self.raw.send(buf) if self._address else self.raw.write(buf)
        except OSError as exc:
            if exc.args and exc.args[0] == errno.EAGAIN:
                return 0
            if self._address is None:
                self.hung_up = True  # EIO: nobody at the far end of the pty
                return self._drop(len(buf))
            self.hang_up()
            return 0
        if not n and self._address is None and len(buf):
            self.readable()  # took nothing: full, or hung up (a hung-up pty polls POLLHUP)
            if self.hung_up:
                return self._drop(len(buf))
            return 0
        if n and self._address is None:
            self.hung_up = False
        return n or 0

    async def wait_readable(self):
        """Return when a read may find something; while a TCP link is down, retry it."""
        if not self.ensure():
            await rt.sleep_ms(_RECONNECT_MS)
            return
        await wait_readable(self.raw)

    async def read_some(self, buf):
        """Wait for at least one byte and read what is there into buf; returns the count."""
        while True:
            n = self.readinto(buf)
            if n:
                return n
            if self.up and self.readable():
                await rt.sleep_ms(_PTY_IDLE_MS)  # readable but empty: a hung-up far end
                continue
            await self.wait_readable()

    async def write_all(self, data):
        """Write every byte of data; returns when the link has taken them all.

        Bytes written while a TCP link is down, or a pty's far end is hung up, are
        dropped (counted in dropped_bytes), as on an open cable.
        """
        mv = memoryview(data)
        sent = 0
        while sent < len(mv):
            if not self.ensure():
                self._drop(len(mv) - sent)
                return
            n = self.write(mv[sent:])
            if n:
                sent += n
            else:
                await rt.sleep_ms(1)

    def fileno(self):
        return self.raw.fileno() if self.raw is not None else -1

    def close(self):
        self._drop_raw()
        self._address = None
