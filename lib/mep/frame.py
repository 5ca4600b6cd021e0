# MEP frames: length (2, big-endian) | body. A body of length 0 is the alert (00 00).
# The Receiver turns a byte stream into frames and resynchronises after garbage, torn
# frames and impossible lengths (docs/mep.md section 2). It is synchronous (feed bytes,
# poll for events) so it can be driven by a task, a test or a property test alike.

import rt
from micropython import const

MIN_BODY = const(13)  # code (1) + sequence (4) + digest (8)
MAX_BODY = const(512)
SEQ_BYTES = const(4)
TAG_BYTES = const(8)
TRAILER = const(12)  # sequence + digest

FRAME = const(1)  # a body whose digest verified
BAD = const(2)  # a complete body whose digest failed (and no valid frame inside it)
ALERT = const(3)  # the alert 00 00

ALERT_BYTES = b"\x00\x00"


def body_seq(body):
    """The sequence number of a body (the 4 bytes before the digest)."""
    i = len(body) - TRAILER
    return (body[i] << 24) | (body[i + 1] << 16) | (body[i + 2] << 8) | body[i + 3]


class Receiver:
    """Frames out of a byte stream; check(body) says whether a body's digest is good.

    The bytes wait in one fixed buffer (head at _start, tail at _end), moved down when
    the tail needs room: no allocation per byte or frame."""

    def __init__(self, check, max_body=MAX_BODY, frame_timeout_ms=250, accept_alert=True):
        self.check = check
        self.max_body = max_body
        self.frame_timeout_ms = frame_timeout_ms
        self.accept_alert = accept_alert
        self.capacity = 2 * (2 + max_body)
        self._buf = bytearray(self.capacity)
        self._mv = memoryview(self._buf)
        self._start = 0
        self._end = 0
        self._body = bytearray(max_body)
        self._since = None  # ticks when the head candidate was first seen incomplete
        self.frames = 0
        self.bad = 0
        self.alerts = 0
        self.garbage_bytes = 0
        self.timeouts = 0
        self.overflow_bytes = 0

    @property
    def idle(self):
        """Nothing half-received: the line is quiet as far as this side knows."""
        return self._end == self._start

    @property
    def pending(self):
        return self._end - self._start

    def feed(self, data):
        n = len(data)
        if self._end + n > self.capacity and self._start:
            held = self._end - self._start
            self._mv[0:held] = self._mv[self._start:self._end]
            self._start, self._end = 0, held
        room = self.capacity - self._end
        if n > room:
            # Never grow without bound: what does not fit is dropped (a flood of garbage).
            self.overflow_bytes += n - room
            n = room
        self._mv[self._end:self._end + n] = memoryview(data)[:n]
        self._end += n

    def _length_at(self, k):
        buf = self._buf
        k += self._start
        return (buf[k] << 8) | buf[k + 1]

    def _plausible(self, length):
        return MIN_BODY <= length <= self.max_body

    def _drop(self, n):
        self._start += n
        if self._start == self._end:
            self._start = self._end = 0

    def _body_at(self, k, length):
        at = self._start + k + 2
        return self._mv[at:at + length]

    def _take(self, length):
        body = memoryview(self._body)[:length]
        body[:] = self._body_at(0, length)
        self._drop(2 + length)
        return body

    def poll(self, now_ms=None):
        """The next event: None (need more bytes), or (FRAME|BAD, body) or (ALERT, None).
        A body is a memoryview valid until the next poll."""
        if now_ms is None:
            now_ms = rt.ticks_ms()
        while True:
            n = self._end - self._start
            if n < 2:
                self._since = None
                return None
            length = self._length_at(0)
            if length == 0:
                if not self.accept_alert:
                    self._drop(1)
                    self.garbage_bytes += 1
                    continue
                # 00 00 is the alert, unless the first 00 is a stray byte before a frame.
                stray = self._stray_zero(n, now_ms)
                if stray is None:
                    return None
                if stray:
                    self._drop(1)
                    self.garbage_bytes += 1
                    continue
                self._drop(2)
                self.alerts += 1
                return (ALERT, None)
            if not self._plausible(length):
                self._drop(1)
                self.garbage_bytes += 1
                continue
            if n < 2 + length:
                if self._waited(now_ms):
                    self._drop(1)
                    self.timeouts += 1
                    continue
                return None
            if self.check(self._body_at(0, length)):
                self._since = None
                self.frames += 1
                return (FRAME, self._take(length))
            # Garbage that happened to look like a length: a valid frame may start inside.
            inner, waiting = self._scan(length, n)
            if inner:
                self._drop(inner)
                self.garbage_bytes += inner
                self._since = None
                continue
            if waiting and not self._waited(now_ms):
                return None
            self._since = None
            self.bad += 1
            return (BAD, self._take(length))

    def _stray_zero(self, n, now_ms):
        """At a head of 00 00: True if a valid frame starts one byte in, False if not (an
        alert), None to wait for the rest of a frame that may start there."""
        if n < 3:
            return False
        inner = (self._buf[self._start + 1] << 8) | (self._buf[self._start + 2] if n > 2 else 0)
        if not self._plausible(inner):
            return False
        if n < 3 + inner:
            return False if self._waited(now_ms) else None
        self._since = None
        return bool(self.check(self._body_at(1, inner)))

    def _waited(self, now_ms):
        """Start or check the timer of the incomplete candidate at the head."""
        if self._since is None:
            self._since = now_ms
            return False
        if rt.ticks_diff(now_ms, self._since) >= self.frame_timeout_ms:
            self._since = None
            return True
        return False

    def _scan(self, length, n):
        """(offset of a valid frame inside the head candidate or 0, whether a plausible
        frame inside it is still incomplete)."""
        waiting = False
        for k in range(1, 2 + length):
            if k + 2 > n:
                break
            inner = self._length_at(k)
            if not self._plausible(inner):
                continue
            if k + 2 + inner > n:
                waiting = True
                continue
            if self.check(self._body_at(k, inner)):
                return k, False
        return 0, waiting
