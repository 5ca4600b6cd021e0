# SML transport v1: a file is framed as
#
#     1B1B1B1B 01010101   payload (the messages)   00.. padding   1B1B1B1B 1A nn c1 c2
#
# with nn the number of padding bytes that bring the payload to a multiple of 4, and
# c1 c2 the CRC-16/X-25 (crc_x25.py, low byte first) over everything from the first
# escape through nn. The transport works in 4-byte groups counted from the start
# sequence: a payload group that is itself 1B1B1B1B is sent twice; any other group after
# an escape group is a control sequence (1A: the end; 01010101: a new file begins).

from micropython import const
import crc_x25 as C
from sml.errors import SmlError

START = b"\x1b\x1b\x1b\x1b\x01\x01\x01\x01"
HEADER_BYTES = const(8)
TRAILER_BYTES = const(8)
_ESC = const(0x1B)


def capacity(payload_bytes):
    """Buffer bytes for a frame around payload_bytes of payload: room for escaping every group."""
    return HEADER_BYTES + 2 * payload_bytes + 3 + TRAILER_BYTES


def _is_escape(buf, i):
    return buf[i] == _ESC and buf[i + 1] == _ESC and buf[i + 2] == _ESC and buf[i + 3] == _ESC


def finish(buf, n):
    """Frame a payload written into buf[8:n] in place; returns the frame's length.

    Writes the start sequence, doubles payload escape groups (rare: that path moves the
    bytes after it, and allocates), pads, and appends the end sequence and CRC. Nothing is
    allocated for a payload without an escape group."""
    buf[0:HEADER_BYTES] = START
    i = HEADER_BYTES
    while i + 4 <= n:
        if _is_escape(buf, i):
            if n + 4 + 3 + TRAILER_BYTES > len(buf):
                raise SmlError("too_long", "no room to escape the payload")
            buf[i + 4:n + 4] = buf[i:n]
            n += 4
            i += 4
        i += 4
    pad = (-n) & 3
    if n + pad + TRAILER_BYTES > len(buf):
        raise SmlError("too_long", "SML frame of %d bytes does not fit %d" % (n + pad + TRAILER_BYTES, len(buf)))
    for _ in range(pad):
        buf[n] = 0
        n += 1
    for _ in range(4):
        buf[n] = _ESC
        n += 1
    buf[n] = 0x1A
    buf[n + 1] = pad
    crc = C.crc16(buf, 0, n + 2)
    buf[n + 2] = crc & 0xFF
    buf[n + 3] = crc >> 8
    return n + 4


def frame(payload):
    """bytes of a framed payload (tests and tools; the meter uses finish on its buffer)."""
    buf = bytearray(capacity(len(payload)))
    buf[HEADER_BYTES:HEADER_BYTES + len(payload)] = payload
    return bytes(buf[:finish(buf, HEADER_BYTES + len(payload))])


# Deframer states
_HUNT = const(0)
_FILE = const(1)
_ESCAPED = const(2)


class Deframer:
    """Files out of a byte stream: feed() what the port read; each good file's payload
    (unescaped, padding removed) goes to on_file(buf, length), valid until the next feed.
    A bad file is dropped and counted in `errors` by reason; the hunt for the next start
    sequence begins again."""

    def __init__(self, max_bytes=1024, on_error=None):
        self.buf = bytearray(max_bytes)
        self.n = 0
        self.group = bytearray(4)
        self.glen = 0
        self.state = _HUNT
        self.match = 0  # bytes of the start sequence seen while hunting
        self.crc = C.INIT
        self.files = 0
        self.errors = {}
        self.on_error = on_error  # on_error(SmlError) after each count (the task's log)

    def reset(self):
        """Forget a file in progress (an idle line between files)."""
        if self.state != _HUNT:
            self._fail(SmlError("truncated", "file broke off after %d bytes" % self.n))

    def _fail(self, err):
        self.errors[err.reason] = self.errors.get(err.reason, 0) + 1
        self.state = _HUNT
        self.match = 0
        if self.on_error is not None:
            self.on_error(err)

    def _begin(self):
        self.state = _FILE
        self.n = 0
        self.glen = 0
        self.crc = C.update(C.INIT, START, 0, HEADER_BYTES)

    def feed(self, data, length, on_file):
        group = self.group
        for k in range(length):
            b = data[k]
            if self.state == _HUNT:
                m = self.match
                if b == START[m]:
                    m += 1
                elif b == _ESC:
                    m = 4 if m >= 4 else 1
                else:
                    m = 0
                self.match = m
                if m == HEADER_BYTES:
                    self._begin()
                continue
            group[self.glen] = b
            self.glen += 1
            if self.glen == 4:
                self.glen = 0
                self._group(on_file)

    def _group(self, on_file):
        group = self.group
        if self.state == _FILE:
            self.crc = C.update(self.crc, group, 0, 4)
            if _is_escape(group, 0):
                self.state = _ESCAPED
            else:
                self._take(group)
            return
        # The group after an escape group.
        if _is_escape(group, 0):
            self.crc = C.update(self.crc, group, 0, 4)
            self.state = _FILE
            self._take(group)
        elif group[0] == 0x1A:
            pad = group[1]
            expected = C.update(self.crc, group, 0, 2) ^ 0xFFFF
            got = group[2] | (group[3] << 8)
            if got != expected:
                self._fail(SmlError("bad_crc", "file CRC 0x%04x, computed 0x%04x" % (got, expected)))
            elif pad > 3 or pad > self.n:
                self._fail(SmlError("bad_padding", "%d padding bytes" % pad))
            else:
                self.state = _HUNT
                self.match = 0
                self.files += 1
                on_file(self.buf, self.n - pad)
        elif group[0] == 1 and group[1] == 1 and group[2] == 1 and group[3] == 1:
            self._fail(SmlError("truncated", "a new file began after %d bytes" % self.n))
            self._begin()
        else:
            self._fail(SmlError("bad_escape", "escape followed by %02x%02x%02x%02x" % tuple(group)))

    def _take(self, group):
        n = self.n
        if n + 4 > len(self.buf):
            self._fail(SmlError("too_long", "file longer than %d bytes" % len(self.buf)))
            return
        buf = self.buf
        buf[n] = group[0]
        buf[n + 1] = group[1]
        buf[n + 2] = group[2]
        buf[n + 3] = group[3]
        self.n = n + 4
