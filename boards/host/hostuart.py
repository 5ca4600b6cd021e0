# Host board serial port: the machine.UART surface over a pty or a loopback TCP link.
#
# Application code on every board talks to a port through two coroutines, the same
# on esp32, rp2 and host, under both interpreters:
#
#   n = await uart.read_some(buf)   wait for at least one byte, read what is there
#   await uart.write_all(data)      returns when the port has taken every byte
#
# (wrap read_some in rt.wait_for_ms for a timeout). CPython's asyncio streams cannot
# sit on a file or socket object the way MicroPython's do, so those two are the
# portable surface. On MicroPython a HostUART also works with asyncio.StreamReader
# and StreamWriter directly: it is an io.IOBase whose ioctl hands the poller the
# real file descriptor.
#
# There is no wire timing on the host: write_all returns when the bytes are in the
# pty or socket, much as a device's returns when they are in the driver's buffer.
# init() records the line settings (baudrate, bits, parity, stop) for whoever asks.

import io
import rt
from micropython import const
from hostio import Link

# MicroPython stream ioctl requests (py/stream.h) and poll flags.
_MP_STREAM_POLL = const(3)
_MP_STREAM_CLOSE = const(4)
_MP_STREAM_GET_FILENO = const(10)
_POLL_RD = const(0x0001)
_POLL_WR = const(0x0004)

# MicroPython's poller needs the stream protocol (io.IOBase); CPython needs nothing.
_Base = object if rt.EMULATED else io.IOBase


class HostUART(_Base):
    # The far end is a process on a time-shared host: on a busy machine it pauses between
    # bytes of one frame for as long as it waits for a CPU. Byte-timed receivers (the
    # M-Bus receiver) add this to their gap limits; a wire has no such pauses.
    jitter_ms = 200

    def __init__(self, spec, baudrate=9600, bits=8, parity=None, stop=1):
        self._link = Link(spec)
        self.spec = spec
        self.rx_bytes = 0
        self.tx_bytes = 0
        self.init(baudrate=baudrate, bits=bits, parity=parity, stop=stop)

    def init(self, baudrate=None, bits=None, parity=-1, stop=None, **_ignored):
        """Record the line settings; parity None (none), 0 (even) or 1 (odd)."""
        if baudrate is not None:
            self.baudrate = baudrate
        if bits is not None:
            self.bits = bits
        if parity != -1:
            self.parity = parity
        if stop is not None:
            self.stop = stop

    @property
    def dropped_bytes(self):
        """Bytes written while the far end was absent (TCP down, pty hung up): dropped."""
        return self._link.dropped_bytes

    @property
    def hung_up(self):
        """True while a pty's far end is hung up (as seen on the last write or poll)."""
        return self._link.hung_up

    def deinit(self):
        self._link.close()

    close = deinit

    def any(self):
        """Non-zero if a read would return data now (as on a device, possibly just 1)."""
        return 1 if self._link.readable() else 0

    def readinto(self, buf, nbytes=None):
        """Read what is there into buf; None if nothing (machine.UART's timeout result)."""
        mv = memoryview(buf)
        if nbytes is not None:
            mv = mv[:nbytes]
        n = self._link.readinto(mv)
        if not n:
            return None
        self.rx_bytes += n
        return n

    def read(self, nbytes=-1):
        """Up to nbytes (all there is if -1) that are there now; None if nothing."""
        buf = bytearray(nbytes if nbytes >= 0 else 512)
        n = self.readinto(buf)
        if n is None:
            return None
        if nbytes < 0:
            # Keep going while the link has more.
            chunks = [bytes(buf[:n])]
            while True:
                n = self.readinto(buf)
                if n is None:
                    break
                chunks.append(bytes(buf[:n]))
            return b"".join(chunks)
        return bytes(buf[:n])

    def write(self, buf):
        """Write what the link takes now; returns the count (None: nothing taken)."""
        n = self._link.write(buf)
        self.tx_bytes += n
        return n or None

    async def read_some(self, buf):
        n = await self._link.read_some(buf)
        self.rx_bytes += n
        return n

    async def write_all(self, data):
        await self._link.write_all(data)
        self.tx_bytes += len(data)

    def fileno(self):
        return self._link.fileno()

    def ioctl(self, request, arg):
        # The MicroPython poller asks for the fd first and then polls it natively.
        if request == _MP_STREAM_GET_FILENO:
            return self._link.fileno()
        if request == _MP_STREAM_POLL:
            return (arg & _POLL_RD if self._link.readable() else 0) | (arg & _POLL_WR)
        if request == _MP_STREAM_CLOSE:
            self.deinit()
            return 0
        return -1
