# The MEP client engine (the MEP device's side, the master of the link; docs/mep.md):
# numbers and signs requests, checks every response's digest and sequence number,
# decrypts private data, retries with back-off, resynchronises on 0x0C, notes alerts.

import asyncio
import struct
import rt
from micropython import const
from mep import tables as T
from mep.errors import MEPError, FrameError, LinkTimeout, ResponseError
from mep.frame import Receiver, body_seq, FRAME, BAD, ALERT, MAX_BODY, TRAILER
from mep.secure import UP
from store.counter import Counter

_MAX_RESYNCS = const(2)  # per request: a meter that keeps moving the window is not followed forever


class Client:
    def __init__(self, port, keys, seq_path, timeout_ms=1000, retries=3, backoff_ms=100, max_body=MAX_BODY,
                 seq_block=64, frame_timeout_ms=250):
        self.port = port
        self.keys = keys
        self.seq_path = seq_path
        self.seq_block = seq_block
        self.counter = Counter(seq_path, block=seq_block)
        self.timeout_ms = timeout_ms
        self.retries = retries
        self.backoff_ms = backoff_ms
        self.max_body = max_body
        self.receiver = Receiver(keys.verify_down, max_body, frame_timeout_ms)
        self._buf = bytearray(128)
        self._proc_seq = 0
        self.alert_pending = False
        self.requests = 0
        self.timeouts = 0
        self.retried = 0
        self.resyncs = 0
        self.bad_digests = 0
        self.stale = 0
        self.malformed = 0
        self.alerts = 0

    def counters(self):
        r = self.receiver
        return {"requests": self.requests, "timeouts": self.timeouts, "retried": self.retried,
                "resyncs": self.resyncs, "bad_digests": self.bad_digests, "stale": self.stale,
                "malformed": self.malformed, "alerts": self.alerts, "garbage_bytes": r.garbage_bytes}

    def request_frame(self, code, args, data, seq):
        body_len = 1 + len(args) + len(data) + TRAILER
        if body_len > self.max_body:
            raise FrameError("request of %d bytes exceeds %d" % (body_len, self.max_body))
        out = bytearray(2 + body_len)
        out[0] = body_len >> 8
        out[1] = body_len & 0xFF
        out[2] = code
        at = 3 + len(args)
        out[3:at] = args
        out[at:at + len(data)] = data
        struct.pack_into(">I", out, at + len(data), seq)
        self.keys.sign_into(UP, memoryview(out)[2:])
        return out

    def _resync(self, expected):
        """Continue numbering from the meter's expected value (never backwards)."""
        if expected > self.counter.peek():
            self.counter = Counter(self.seq_path, block=self.seq_block, start=expected)

    def _note(self, event):
        kind, body = event
        if kind == ALERT:
            self.alerts += 1
            self.alert_pending = True
        elif kind == BAD:
            self.bad_digests += 1

    async def _fill(self, wait_ms):
        """Read what arrives within wait_ms into the receiver."""
        try:
            n = await rt.wait_for_ms(self.port.read_some(self._buf), max(1, wait_ms))
        except asyncio.TimeoutError:
            return
        self.receiver.feed(memoryview(self._buf)[:n])

    async def _response(self, seq):
        """(code, flags, data) of the response to seq; LinkTimeout if none in time."""
        deadline = rt.ticks_add(rt.ticks_ms(), self.timeout_ms)
        while True:
            while True:
                event = self.receiver.poll()
                if event is None:
                    break
                if event[0] != FRAME:
                    self._note(event)
                    continue
                body = event[1]
                if len(body) < 16 or 4 + (body[2] << 8 | body[3]) + TRAILER != len(body):
                    self.malformed += 1
                    continue
                if body_seq(body) != seq:
                    self.stale += 1  # an answer to an earlier request, or a replay
                    continue
                return body[0], body[1], bytes(body[4:len(body) - TRAILER])
            left = rt.ticks_diff(deadline, rt.ticks_ms())
            if left <= 0:
                raise LinkTimeout("no response to request %d" % seq)
            await self._fill(left)

    async def request(self, code, args, data=b"", table=None):
        """Send one request (retrying as configured); the response data, decrypted."""
        resyncs = 0
        attempt = 0
        while True:
            seq = self.counter.next()
            self.requests += 1
            await self.port.write_all(self.request_frame(code, args, data, seq))
            try:
                rcode, flags, rdata = await self._response(seq)
            except LinkTimeout:
                self.timeouts += 1
                if attempt >= self.retries:
                    raise
                await rt.sleep_ms(self.backoff_ms << attempt)
                attempt += 1
                self.retried += 1
                continue
            if rcode == T.ERR_SEQUENCE and len(rdata) == 4 and resyncs < _MAX_RESYNCS:
                self.resyncs += 1
                resyncs += 1
                self._resync(struct.unpack(">I", rdata)[0])
                continue
            if rcode != T.OK:
                raise ResponseError(rcode, table)
            if flags & T.FLAG_ENCRYPTED:
                try:
                    return self.keys.decrypt(seq, rdata)
                except MEPError:
                    self.malformed += 1
                    raise
            return rdata

    async def read(self, table, offset=None, count=None):
        if offset is None:
            return await self.request(T.READ_FULL, struct.pack(">H", table), table=table)
        args = struct.pack(">HBHH", table, offset >> 16, offset & 0xFFFF, count)
        return await self.request(T.READ_PARTIAL, args, table=table)

    async def write(self, table, data, offset=None):
        if offset is None:
            return await self.request(T.WRITE_FULL, struct.pack(">HH", table, len(data)), data, table)
        args = struct.pack(">HBHH", table, offset >> 16, offset & 0xFFFF, len(data))
        return await self.request(T.WRITE_PARTIAL, args, data, table)

    async def procedure(self, number, params=b""):
        """Run a procedure: write BT07, read BT08; the decoded response (result, data)."""
        self._proc_seq = (self._proc_seq + 1) & 0xFF
        proc_seq = self._proc_seq
        await self.write(T.PROC_INIT, T.encode_procedure(number, proc_seq, params))
        answer = T.decode_procedure_response(await self.read(T.PROC_RESPONSE))
        if answer["procedure"] != number or answer["seq"] != proc_seq:
            raise FrameError("BT08 holds another procedure's result")
        return answer

    async def listen(self, ms):
        """Wait up to ms for the meter's alert; True if one came (or was already pending)."""
        deadline = rt.ticks_add(rt.ticks_ms(), ms)
        while not self.alert_pending:
            event = self.receiver.poll()
            if event is not None:
                if event[0] == FRAME:
                    self.stale += 1  # a response nobody waits for any more
                else:
                    self._note(event)
                continue
            left = rt.ticks_diff(deadline, rt.ticks_ms())
            if left <= 0:
                return False
            await self._fill(left)
        return True
