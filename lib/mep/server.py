# The MEP server engine (the meter's side; docs/mep.md): verifies every request's digest
# and sequence number, applies the permission model, serves table reads and writes and
# procedures, encrypts private data, counts and rate-limits failed digests, raises alerts.
#
# A failed digest counts towards the lock-out only for a body with a request's shape (a
# known code with its argument length, well_formed()): random line noise makes plenty of
# length-like byte pairs whose "body" fails its digest, and those are noise (counted in
# `noise`, not answered), so noise can neither lock the genuine device out nor make the
# meter talk over it. Authentication failures and lock-outs are reported through
# on_untrusted(kind, fields) (the meter's rate-limited untrusted log).
# The tables themselves are callbacks registered with add(); firmware/meter/mep.py
# supplies the meter's.

import asyncio
import struct
import rt
from micropython import const
from mep import tables as T
from mep.errors import MEPError
from mep.frame import Receiver, body_seq, FRAME, BAD, ALERT_BYTES, MAX_BODY, TRAILER
from mep.secure import DOWN

_RESPONSE_OVERHEAD = const(16)  # code, flags, count (2), sequence (4), digest (8)
_POLL_MS = const(50)


def well_formed(body):
    """True if a body has the shape of a request: a known request code followed by exactly
    the arguments it takes (the same rules as Server._request), then sequence and digest."""
    n = len(body) - 1 - TRAILER  # argument bytes
    code = body[0]
    if code == T.READ_FULL:
        return n == 2
    if code == T.READ_PARTIAL:
        return n == 7
    if code == T.WRITE_FULL:
        return n >= 4 and (body[3] << 8 | body[4]) == n - 4
    if code == T.WRITE_PARTIAL:
        return n >= 7 and (body[6] << 8 | body[7]) == n - 7
    return False


class _Table:
    def __init__(self, read, write, private, log, readable):
        self.read = read
        self.write = write
        self.private = private
        self.log = log
        self.readable = readable


class Server:
    """One MEP link, meter side. Counters are plain attributes (see counters())."""

    def __init__(self, keys, window, max_body=MAX_BODY, frame_timeout_ms=250, auth_fail_burst=5,
                 auth_window_ms=60000, auth_lockout_ms=30000, alert_interval_ms=2000,
                 alert_flags=None, on_private=None, on_event=None, on_untrusted=None):
        self.keys = keys
        self.window = window
        self.max_body = max_body
        self.receiver = Receiver(keys.verify_up, max_body, frame_timeout_ms, accept_alert=False)
        self.auth_fail_burst = auth_fail_burst
        self.auth_window_ms = auth_window_ms
        self.auth_lockout_ms = auth_lockout_ms
        self.alert_interval_ms = alert_interval_ms
        self.alert_flags = alert_flags  # () -> ET52 flags; non-zero raises the alert
        self.on_private = on_private  # (table id) on every read of a private table
        self.on_event = on_event  # (kind, fields) for events worth the event log
        self.on_untrusted = on_untrusted  # (kind, fields): what an unauthenticated party caused
        self._tables = {}
        self._procedures = {}
        self._proc_response = T.encode_procedure(0, 0) + b"\x00"
        self._fail_start = None
        self._fail_count = 0
        self._locked_until = None
        self._last_alert = None
        self.requests = 0
        self.auth_failures = 0
        self.noise = 0  # bodies that failed their digest without a request's shape
        self.bad_sequence = 0
        self.locked_drops = 0
        self.lockouts = 0
        self.denied = 0
        self.errors = 0
        self.alerts = 0
        self.room = max_body - _RESPONSE_OVERHEAD  # most data bytes one response holds
        self.private_room = (self.room // 16) * 16 - 2  # the same, encrypted

    # Registration.
    def add(self, table, read=None, write=None, private=False, log=False, readable=True):
        """read() -> the table image (bytes), or for a log table read(after_seq, max_bytes)
        -> an encoded log answer (after_seq None: the newest). write(offset, data) -> a
        response code (T.OK if stored)."""
        self._tables[table] = _Table(read, write, private, log, readable and read is not None)

    def add_procedure(self, number, run):
        """run(params) -> (result code, result data)."""
        self._procedures[number] = run

    def counters(self):
        r = self.receiver
        return {"frames": r.frames, "requests": self.requests, "garbage_bytes": r.garbage_bytes,
                "timeouts": r.timeouts, "auth_failures": self.auth_failures, "noise": self.noise,
                "bad_sequence": self.bad_sequence,
                "locked_drops": self.locked_drops, "lockouts": self.lockouts, "denied": self.denied,
                "errors": self.errors, "alerts": self.alerts}

    # Responses.
    def response(self, code, seq, data=b"", encrypted=False):
        if encrypted:
            data = self.keys.encrypt(seq, data)
        n = len(data)
        body_len = 4 + n + TRAILER
        out = bytearray(2 + body_len)
        struct.pack_into(">HBBH", out, 0, body_len, code, T.FLAG_ENCRYPTED if encrypted else 0, n)
        out[6:6 + n] = data
        struct.pack_into(">I", out, 6 + n, seq)
        self.keys.sign_into(DOWN, memoryview(out)[2:])
        return out

    def locked(self, now_ms):
        if self._locked_until is None:
            return False
        if rt.ticks_diff(self._locked_until, now_ms) > 0:
            return True
        self._locked_until = None
        self._fail_count = 0
        return False

    def _failed_digest(self, now_ms):
        if self._fail_start is None or rt.ticks_diff(now_ms, self._fail_start) >= self.auth_window_ms:
            self._fail_start = now_ms
            self._fail_count = 0
        self._fail_count += 1
        if self._fail_count > self.auth_fail_burst:
            self._locked_until = rt.ticks_add(now_ms, self.auth_lockout_ms)
            self.lockouts += 1
            self._untrusted("mep_lockout", {"failures": self._fail_count, "lockout_ms": self.auth_lockout_ms})
            return True
        return False

    def _event(self, kind, fields):
        if self.on_event is not None:
            self.on_event(kind, fields)

    def _untrusted(self, kind, fields):
        if self.on_untrusted is not None:
            self.on_untrusted(kind, fields)

    def handle(self, kind, body, now_ms=None):
        """The response (bytes) to one received body, or None when locked out."""
        if now_ms is None:
            now_ms = rt.ticks_ms()
        if self.locked(now_ms):
            self.locked_drops += 1
            return None
        seq = body_seq(body)
        if kind == BAD:
            if not well_formed(body):
                self.noise += 1
                return None
            self.auth_failures += 1
            self._untrusted("mep_auth_failed", {"seq": seq})
            if self._failed_digest(now_ms):
                return None
            return self.response(T.ERR_AUTH, seq)
        if not self.window.accept(seq):
            self.bad_sequence += 1
            return self.response(T.ERR_SEQUENCE, seq, struct.pack(">I", self.window.expected))
        self.requests += 1
        try:
            code, data, encrypted = self._request(body)
        except Exception as exc:  # a table callback failed: an error answer, never a dead task
            self._event("mep_error", {"error": "%s: %s" % (type(exc).__name__, exc)})
            code, data, encrypted = T.ERR_TABLE_OP, b"", False
        if code == T.ERR_PERMISSION:
            self.denied += 1
        elif code != T.OK:
            self.errors += 1
        return self.response(code, seq, data, encrypted)

    def _request(self, body):
        code = body[0]
        args = body[1:len(body) - TRAILER]
        n = len(args)
        if code == T.READ_FULL and n == 2:
            return self._read(args[0] << 8 | args[1], None, None)
        if code == T.READ_PARTIAL and n == 7:
            offset = (args[2] << 16) | (args[3] << 8) | args[4]
            return self._read(args[0] << 8 | args[1], offset, args[5] << 8 | args[6])
        if code == T.WRITE_FULL and n >= 4:
            count = args[2] << 8 | args[3]
            if count != n - 4:
                return T.ERR_UNRECOGNISED, b"", False
            return self._write(args[0] << 8 | args[1], None, args[4:]), b"", False
        if code == T.WRITE_PARTIAL and n >= 7:
            offset = (args[2] << 16) | (args[3] << 8) | args[4]
            count = args[5] << 8 | args[6]
            if count != n - 7:
                return T.ERR_UNRECOGNISED, b"", False
            return self._write(args[0] << 8 | args[1], offset, args[7:]), b"", False
        return T.ERR_UNRECOGNISED, b"", False

    def _read(self, table_id, offset, count):
        if table_id == T.PROC_RESPONSE:
            image = self._proc_response
            table = None
        else:
            table = self._tables.get(table_id)
            if table is None:
                return T.ERR_UNSUPPORTED, b"", False
            if not table.readable:
                return T.ERR_PERMISSION, b"", False
        room = self.private_room if table is not None and table.private else self.room
        if table is not None and table.log:
            data = table.read(offset, room if count is None else min(count, room))
        else:
            if table is not None:
                image = table.read()
            if offset is None:
                data = image
            elif offset + count > len(image):
                return T.ERR_TABLE_OP, b"", False
            else:
                data = image[offset:offset + count]
        if len(data) > room:
            return T.ERR_TABLE_OP, b"", False  # too large for one frame: read it in parts
        if table is not None and table.private:
            if self.on_private is not None:
                self.on_private(table_id)
            return T.OK, data, True
        return T.OK, data, False

    def _write(self, table_id, offset, data):
        if table_id == T.PROC_INIT:
            return self._procedure(offset, data)
        table = self._tables.get(table_id)
        if table is None:
            return T.ERR_UNSUPPORTED
        if table.write is None:
            return T.ERR_PERMISSION
        return table.write(0 if offset is None else offset, bytes(data))

    def _procedure(self, offset, data):
        if offset or len(data) < 3:
            return T.ERR_TABLE_OP
        number = data[0] << 8 | data[1]
        proc_seq = data[2]
        run = self._procedures.get(number)
        if run is None:
            result, out = T.RESULT_UNKNOWN, b""
        else:
            try:
                result, out = run(bytes(data[3:]))
            except MEPError:
                result, out = T.RESULT_INVALID, b""
        self._proc_response = T.encode_procedure(number, proc_seq) + bytes([result]) + out
        return T.OK

    # The task.
    def alert_due(self, now_ms):
        if self.alert_flags is None or not self.receiver.idle or self.locked(now_ms):
            return False
        if self._last_alert is not None and rt.ticks_diff(now_ms, self._last_alert) < self.alert_interval_ms:
            return False
        return bool(self.alert_flags())

    async def serve(self, port, progress=None):
        """Answer requests on port (read_some/write_all) until cancelled."""
        buf = bytearray(128)
        mv = memoryview(buf)
        receiver = self.receiver
        while True:
            try:
                n = await rt.wait_for_ms(port.read_some(buf), _POLL_MS)
            except asyncio.TimeoutError:
                n = 0
            if n:
                receiver.feed(mv[:n])
            now = rt.ticks_ms()
            while True:
                event = receiver.poll(now)
                if event is None:
                    break
                kind, body = event
                if kind != FRAME and kind != BAD:
                    continue
                out = self.handle(kind, body, now)
                if out is not None:
                    await port.write_all(out)
                    now = rt.ticks_ms()
            if self.alert_due(now):
                self._last_alert = now
                self.alerts += 1
                await port.write_all(ALERT_BYTES)
            if progress is not None:
                progress()
