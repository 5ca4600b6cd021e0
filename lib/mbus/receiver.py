# Wired M-Bus frame receiver: turns the bytes of a serial port into checked frames.
#
# The bus is half duplex and noisy, so the receiver
#   - resynchronises: a byte that starts no frame, or a frame header that does not hold
#     (L-fields differ, second 0x68 missing, stop byte wrong), is garbage; scanning goes
#     on at the next byte, so a real frame hidden behind garbage is still found;
#   - skips echoes: a level converter without echo suppression sends the master's own
#     request back; any frame with the PRM bit set in C comes from a master and is dropped;
#   - waits for partial frames with timeouts derived from the baud rate (8E1: 11 bits
#     per byte), and never holds more than one longest frame plus one read chunk.
#
# Frames stay in the receiver's own buffer (frame_view), so receiving allocates nothing
# per byte. One exchange at a time: the master flushes, writes, then calls answer().

import asyncio
import rt
from micropython import const
from mbus.frame import ACK, START_SHORT, START_LONG, STOP, C_PRM, MAX_FRAME_LEN

BITS_PER_BYTE = const(11)  # start, 8 data, even parity, stop
# Slave answer window end (EN 60870-5-1 as quoted by libmbus): 330 bit times + 50 ms
# after the request; plus what a USB or level-converter adapter adds on the way.
_WINDOW_BITS = const(330)
_WINDOW_MS = const(50)
ADAPTER_LATENCY_MS = const(100)
# Idle gap that breaks a frame: 3 characters (33 bit times) on the wire, but never less
# than the scheduling and adapter jitter of a real port (USB adapters batch in 16 ms).
_GAP_CHARS = const(3)
_GAP_FLOOR_MS = const(40)
_FRAME_SLACK_MS = const(500)  # whole-telegram cap: 261 bytes on the wire plus this
_CHUNK = const(64)

# answer() results.
FRAME = const(0)  # a valid frame is in frame_view()
NONE = const(1)  # nothing at all arrived within the answer window
BAD_FRAME = const(2)  # a frame with sound framing but a wrong checksum
GARBLED = const(3)  # bytes arrived but formed no frame (overlapping answers, noise)


def byte_us(baudrate):
    """Microseconds one byte takes on the wire (11 bits), rounded up."""
    return (BITS_PER_BYTE * 1_000_000 + baudrate - 1) // baudrate


def answer_timeout_ms(baudrate):
    """How long to wait for the first byte of an answer after the request left."""
    return (BITS_PER_BYTE + _WINDOW_BITS) * 1000 // baudrate + 1 + _WINDOW_MS + ADAPTER_LATENCY_MS


def gap_timeout_ms(baudrate):
    """Idle time inside a frame after which the frame counts as broken."""
    gap = _GAP_CHARS * BITS_PER_BYTE * 1000 // baudrate + 1
    return gap if gap > _GAP_FLOOR_MS else _GAP_FLOOR_MS


def frame_timeout_ms(baudrate):
    """Cap on one whole answer: the longest frame on the wire plus slack."""
    return MAX_FRAME_LEN * BITS_PER_BYTE * 1000 // baudrate + 1 + _FRAME_SLACK_MS


class Receiver:
    def __init__(self, uart, baudrate=2400):
        self.uart = uart
        # Room for a whole longest frame after the compaction plus one read chunk.
        self.buf = bytearray(MAX_FRAME_LEN + _CHUNK)
        self.mv = memoryview(self.buf)
        self.start = 0  # first unconsumed byte
        self.end = 0  # one past the last byte read
        self.frame_start = 0
        self.frame_len = 0
        # Counters (the master and its task log them).
        self.frames = 0
        self.garbage_bytes = 0
        self.bad_frames = 0
        self.echoes = 0
        self.stray_bytes = 0  # bytes found before a request (late answers, noise)
        self.timeouts = 0
        self.last_error = None  # reason of the last garbled or bad answer
        self.set_baudrate(baudrate)

    def set_baudrate(self, baudrate):
        self.baudrate = baudrate
        self.byte_us = byte_us(baudrate)
        # A port whose far end is a process on a time-shared host (the host board's pty)
        # can pause mid-frame for as long as that process waits for a CPU: its jitter_ms
        # widens the answer window and the limits inside a frame (a UART on a wire has
        # none): else a late answer and the repeat's answer arrive as a collision.
        jitter_ms = getattr(self.uart, "jitter_ms", 0)
        self.answer_ms = answer_timeout_ms(baudrate) + jitter_ms
        self.gap_ms = gap_timeout_ms(baudrate) + jitter_ms
        self.frame_ms = frame_timeout_ms(baudrate) + jitter_ms

    def wire_ms(self, nbytes):
        """Milliseconds nbytes take on the wire at this baud rate, rounded up."""
        return (nbytes * self.byte_us + 999) // 1000

    # -- the synchronous part: parse what is buffered ------------------------------

    def feed(self, data):
        """Append bytes (tests and in-memory links); returns how many were taken."""
        self._compact()
        room = len(self.buf) - self.end
        n = len(data) if len(data) < room else room
        self.buf[self.end:self.end + n] = data[:n]
        self.end += n
        return n

    def _compact(self):
        start = self.start
        if start:
            left = self.end - start
            buf = self.buf
            for i in range(left):  # overlapping move: memcpy-based slice copies are unsafe
                buf[i] = buf[start + i]
            self.start = 0
            self.end = left

    def _skip(self, reason):
        self.start += 1
        self.garbage_bytes += 1
        self.last_error = reason

    def scan(self):
        """Find the next frame in the buffer. Returns FRAME (frame_view() holds it),
        BAD_FRAME (a checksum failure, dropped whole), or NONE (more bytes needed).
        Garbage in front of a frame is skipped and counted; echoes are skipped."""
        buf = self.buf
        while self.start < self.end:
            p = self.start
            avail = self.end - p
            b = buf[p]
            if b == ACK:
                return self._found(p, 1)
            if b == START_SHORT:
                if avail < 5:
                    return NONE
                if buf[p + 4] == STOP and (buf[p + 1] + buf[p + 2]) & 0xFF == buf[p + 3]:
                    if self._echo(buf[p + 1], 5):
                        continue
                    return self._found(p, 5)
                self._skip("bad short frame")
                continue
            if b != START_LONG:
                self._skip("no start byte")
                continue
            if avail >= 2 and buf[p + 1] < 3:
                self._skip("L-field too small")
                continue
            if avail >= 3 and buf[p + 2] != buf[p + 1]:
                self._skip("L-fields differ")
                continue
            if avail >= 4 and buf[p + 3] != START_LONG:
                self._skip("second start byte missing")
                continue
            if avail < 4:
                return NONE
            total = buf[p + 1] + 6
            if avail < total:
                return NONE
            if buf[p + total - 1] != STOP:
                self._skip("bad stop byte")
                continue
            total_sum = 0
            for i in range(p + 4, p + total - 2):
                total_sum += buf[i]
            if total_sum & 0xFF != buf[p + total - 2]:
                # Framing held, so this was a frame: drop it whole.
                self.start = p + total
                self.bad_frames += 1
                self.last_error = "bad checksum"
                return BAD_FRAME
            if self._echo(buf[p + 4], total):
                continue
            return self._found(p, total)
        return NONE

    def _echo(self, c, total):
        if c & C_PRM:
            self.start += total
            self.echoes += 1
            return True
        return False

    def _found(self, p, total):
        self.frame_start = p
        self.frame_len = total
        self.start = p + total
        self.frames += 1
        return FRAME

    def frame_view(self):
        """The last frame found: a view into the buffer, valid until the next read."""
        return self.mv[self.frame_start:self.frame_start + self.frame_len]

    def frame_bytes(self):
        return bytes(self.frame_view())

    def pending(self):
        """Bytes buffered but not yet consumed."""
        return self.end - self.start

    # -- the asynchronous part: wait for bytes --------------------------------------

    def flush(self):
        """Drop whatever is buffered or waiting in the port (before a request)."""
        dropped = self.end - self.start
        self.start = self.end = 0
        uart = self.uart
        if uart is not None:
            while uart.any():
                n = uart.readinto(self.buf)
                if not n:
                    break
                dropped += n
        self.stray_bytes += dropped
        return dropped

    async def _read(self, timeout_ms):
        """Read what arrives within timeout_ms into the buffer; False on timeout."""
        self._compact()
        if self.end >= len(self.buf):
            # Cannot happen while scan() consumes; keep the newest bytes if it does.
            self.garbage_bytes += self.end
            self.start = self.end = 0
        if timeout_ms > 0:
            try:
                n = await rt.wait_for_ms(self.uart.read_some(self.mv[self.end:]), timeout_ms)
            except asyncio.TimeoutError:
                n = 0
            if n:
                self.end += n
                return True
        # Timed out, or the deadline passed while this task waited for the CPU: bytes
        # the port holds now arrived while the receiver was not looking, not late.
        return self._take()

    def _take(self):
        """Move what the port holds now into the buffer without waiting; False if nothing."""
        uart = self.uart
        if not uart.any():
            return False
        n = uart.readinto(self.mv[self.end:])
        if not n:
            return False
        self.end += n
        return True

    async def answer(self, first_ms=None):
        """Wait for one answer frame. first_ms: time allowed for its first byte
        (default: the answer window for this baud rate). Returns FRAME, NONE,
        BAD_FRAME or GARBLED; echoes of the master's own request are skipped."""
        if first_ms is None:
            first_ms = self.answer_ms
        got_any = False
        self.last_error = None
        garbage_before = self.garbage_bytes
        began = rt.ticks_ms()
        while True:
            result = self.scan()
            if result == FRAME or result == BAD_FRAME:
                return result
            # A partial frame (or nothing yet): wait for more.
            partial = self.end > self.start or self.garbage_bytes != garbage_before
            if partial:
                got_any = True
            if got_any:
                left = self.frame_ms - rt.ticks_diff(rt.ticks_ms(), began)
                wait = self.gap_ms if self.gap_ms < left else left
            else:
                wait = first_ms - rt.ticks_diff(rt.ticks_ms(), began)
            if not await self._read(wait):
                if got_any:
                    # Bytes came but no frame: drop the fragment.
                    self.garbage_bytes += self.end - self.start
                    self.start = self.end = 0
                    if self.last_error is None:
                        self.last_error = "broken frame"
                    return GARBLED
                self.timeouts += 1
                return NONE
            if not got_any:
                got_any = True
                began = rt.ticks_ms()  # the frame cap counts from the first byte

    async def quiet(self, ms):
        """True if nothing but echoes arrives within ms (after an answer: a second
        device answering at the same time leaves bytes behind the first answer)."""
        garbage = self.garbage_bytes
        deadline = rt.ticks_add(rt.ticks_ms(), ms)
        while True:
            if self.scan() != NONE or self.garbage_bytes != garbage:
                return False
            left = rt.ticks_diff(deadline, rt.ticks_ms())
            if not await self._read(left):
                return self.end == self.start
