# A device serial port as the application sees it: the machine.UART surface plus the
# portable coroutines every board's ports offer (boards/host/hostuart.py says why):
#
#   n = await uart.read_some(buf)   wait for at least one byte, read what is there
#   await uart.write_all(data)      returns when the driver has taken every byte
#
# Hardware-free: it wraps any object with the machine.UART methods, so the same file
# serves esp32 and rp2 (esp32 and rp2 both use it). The wrapped UART must
# have timeout=0, so a read returns what is buffered instead of waiting.

import asyncio
import io
import select
from micropython import const

_MP_STREAM_POLL = const(3)


class AsyncUART(io.IOBase):
    def __init__(self, uart):
        self.uart = uart
        self._reader = asyncio.StreamReader(uart)
        self._writer = asyncio.StreamWriter(uart, {})
        # For asyncio.StreamReader(self): the poller asks this object, which asks the UART.
        self._poll = select.poll()
        self._poll.register(uart, select.POLLIN | select.POLLOUT)

    def init(self, **settings):
        self.uart.init(**settings)

    def deinit(self):
        self.uart.deinit()

    def any(self):
        return self.uart.any()

    def read(self, nbytes=-1):
        return self.uart.read() if nbytes < 0 else self.uart.read(nbytes)

    def readinto(self, buf, nbytes=None):
        return self.uart.readinto(buf) if nbytes is None else self.uart.readinto(buf, nbytes)

    def write(self, buf):
        return self.uart.write(buf)

    def flush(self):
        """Wait until the last byte has left the wire (machine.UART.flush)."""
        self.uart.flush()

    async def read_some(self, buf):
        while True:
            n = await self._reader.readinto(buf)
            if n:
                return n

    async def write_all(self, data):
        self._writer.write(data)
        await self._writer.drain()

    def ioctl(self, request, arg):
        if request == _MP_STREAM_POLL:
            for entry in self._poll.ipoll(0):  # (uart, events): allocation-free
                return entry[1] & arg
            return 0
        return -1


def open_uart(uart_class, pin_class, uart_id, baudrate, parity, tx_pin, rx_pin, rxbuf_bytes):
    """A board's 8-bit serial port with timeout=0, wrapped as an AsyncUART.

    Takes the board's machine.UART and machine.Pin classes: only boards import machine."""
    uart = uart_class(uart_id, baudrate=baudrate, bits=8, parity=parity, stop=1,
                      tx=pin_class(tx_pin), rx=pin_class(rx_pin), rxbuf=rxbuf_bytes, timeout=0)
    return AsyncUART(uart)
