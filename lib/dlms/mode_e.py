# IEC 62056-21 mode E: how an optical probe opens HDLC. At 300 baud 7E1 the client sends
# "/?" [address] "!\r\n"; the meter identifies itself "/" + manufacturer + "5" (9600 baud)
# + "\2" (mode E: HDLC follows) + identification + "\r\n"; the client acknowledges with
# ACK "2" "5" "2" "\r\n" (HDLC protocol, 9600 baud, binary mode) and both switch to
# 9600 8N1, where HDLC starts with SNRM. Anything else: the port stays at 300 baud and
# waits for the next sign-on.

import asyncio
import rt
from micropython import const

SIGN_ON_BAUD = const(300)
HDLC_BAUD = const(9600)
_ACK = b"\x06252\r\n"
_MAX_LINE = const(40)  # "/?" + a 32-character address + "!\r\n"
ANSWER_MS = const(1500)  # the client's acknowledgement must come within this


async def _line(uart, buf, timeout_ms):
    """Bytes up to and including LF (at most _MAX_LINE), or None on a time-out or overflow."""
    n = 0
    one = memoryview(buf)
    while True:
        try:
            got = await rt.wait_for_ms(uart.read_some(one[n:n + 1]), timeout_ms)
        except asyncio.TimeoutError:
            return None
        if not got:
            continue
        n += 1
        if buf[n - 1] == 0x0A:
            return bytes(buf[:n])
        if n >= _MAX_LINE:
            return None


async def open_hdlc(uart, manufacturer, ident, address=b"", idle_ms=60000, counts=None):
    """Run one mode E opening on uart; True once the port is at 9600 8N1 for HDLC."""
    uart.init(baudrate=SIGN_ON_BAUD, bits=7, parity=0, stop=1)
    buf = bytearray(_MAX_LINE)
    request = await _line(uart, buf, idle_ms)
    if request is None:
        return False
    # Optical probes often send a NUL or a wake-up burst first: look at the text from "/".
    start = request.find(b"/?")
    if start < 0 or not request.endswith(b"!\r\n") or (
            request[start + 2:-3] and request[start + 2:-3] != address):
        if counts is not None:
            counts["mode_e_refused"] = counts.get("mode_e_refused", 0) + 1
        return False
    await uart.write_all(b"/" + manufacturer + b"5\\2" + ident + b"\r\n")
    ack = await _line(uart, buf, ANSWER_MS)
    if ack is None or not ack.endswith(_ACK):
        if counts is not None:
            counts["mode_e_refused"] = counts.get("mode_e_refused", 0) + 1
        return False
    uart.init(baudrate=HDLC_BAUD, bits=8, parity=None, stop=1)
    return True
