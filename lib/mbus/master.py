# Wired M-Bus master (EN 13757-2): exchanges with slaves, one at a time.
#
#   master = Master(uart, baudrate=2400)
#   dev = Device(primary=5)                      # or Device(secondary=secondary_from_text(...))
#   result = await master.read(dev)              # Result: code, telegrams (raw frames), ...
#   found, collisions = await master.scan()      # secondary-address wildcard search
#
# FCB rules (one state per device, docs/mbus-master.md): a link reset (SND_NKE) clears
# it; the first REQ_UD2 after it has FCB = 1; FCB toggles after each correct reply; a
# missing or faulty reply repeats the same telegram with the same FCB; each further
# telegram of a multi-telegram answer (last record DIF 0x1F) is asked for with a
# toggled FCB. A device whose exchange failed gets a link reset before its next one.

import asyncio
import rt
from micropython import const
from mbus import frame as F
from mbus.decode import more_follow  # noqa: F401 (part of the master's API)
from mbus.frame import WILDCARD, matches, id_digit as _id_digit  # noqa: F401
from mbus.receiver import Receiver, FRAME, NONE, BAD_FRAME

# Result codes: one per device per poll.
OK = "ok"
NO_ANSWER = "no_answer"
BAD = "bad_frame"
COLLISION = "collision"
APP_ERROR = "app_error"

DEFAULT_RETRIES = const(2)
DEFAULT_MAX_TELEGRAMS = const(8)
_SETTLE_CHARS = const(3)  # after a selection's E5: listen this long for a second answer
_TURNAROUND_CHARS = const(3)  # default idle line between an answer and the next request


class Device:
    """One slave and its link state. primary: 0-250 or 254 (None if secondary only);
    secondary: the 8 selection bytes (ID LSB first, manufacturer LSB first, version,
    medium) or None."""

    def __init__(self, primary=None, secondary=None, name=None):
        if primary is None and secondary is None:
            raise ValueError("a device needs a primary or a secondary address")
        if primary is not None and not (0 <= primary <= F.ADDR_MAX_PRIMARY or primary == F.ADDR_BROADCAST_REPLY):
            raise ValueError("primary address must be 0-250 or 254")
        if secondary is not None and len(secondary) != 8:
            raise ValueError("secondary address is 8 bytes")
        self.primary = primary
        self.secondary = secondary
        self.name = name
        self.fcb = None  # FCB for the next request; None: link not reset yet

    @property
    def address(self):
        """The A-field to talk to: the primary address, or 253 once selected."""
        return F.ADDR_SELECTED if self.secondary is not None else self.primary


class Result:
    """What one read of one device gave. code: OK, NO_ANSWER, BAD, COLLISION or
    APP_ERROR; telegrams: the raw RSP_UD frames as received (also those before a
    failure); app_error: the code after CI 0x70 (0 when the frame has none)."""

    def __init__(self, code, telegrams=None, app_error=None, detail=None):
        self.code = code
        self.telegrams = telegrams if telegrams is not None else []
        self.app_error = app_error
        self.detail = detail
        self.seq = None  # the ring record the scheduler stored it in

    def __repr__(self):
        return "Result(%s, %d telegrams%s)" % (
            self.code, len(self.telegrams), ", " + self.detail if self.detail else "")


def secondary_from_text(text):
    """16 hex digits "IIIIIIIIMMMMVVDD" (ID as printed, manufacturer as its 16-bit
    value, version, medium; F for wildcards) -> the 8 selection bytes."""
    if len(text) != 16:
        raise ValueError("secondary address is 16 hex digits")
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise ValueError("secondary address is 16 hex digits")
    # ID and manufacturer are sent least significant byte first.
    return bytes((raw[3], raw[2], raw[1], raw[0], raw[5], raw[4], raw[6], raw[7]))


def secondary_to_text(sec):
    return "%02X%02X%02X%02X%02X%02X%02X%02X" % (
        sec[3], sec[2], sec[1], sec[0], sec[5], sec[4], sec[6], sec[7])


def secondary_of(telegram):
    """The 8 selection bytes from an RSP_UD with a long header (CI 0x72/0x76),
    else None."""
    if len(telegram) < 17 or telegram[0] != F.START_LONG or telegram[6] not in (0x72, 0x76):
        return None
    return bytes(telegram[7:15])


def _with_digit(sec, position, digit):
    out = bytearray(sec)
    i = 3 - (position >> 1)
    if position & 1 == 0:
        out[i] = (out[i] & 0x0F) | (digit << 4)
    else:
        out[i] = (out[i] & 0xF0) | digit
    return bytes(out)


class Master:
    """The bus master: one exchange at a time (an asyncio.Lock), retries, results.

    retries: repetitions of a failed request (same FCB); max_telegrams: cap on a
    multi-telegram readout; turnaround_ms: idle time between an answer and the next
    request (None: 3 characters, 33 bit times; slow meters may need up to 300 ms)."""

    def __init__(self, uart, baudrate=2400, retries=DEFAULT_RETRIES, max_telegrams=DEFAULT_MAX_TELEGRAMS,
                 turnaround_ms=None):
        self.uart = uart
        self.rx = Receiver(uart, baudrate)
        self.retries = retries
        self.max_telegrams = max_telegrams
        self.turnaround_ms = turnaround_ms
        self._idle_since = None  # ticks_ms when the last answer (or timeout) ended
        self.lock = asyncio.Lock()
        self.requests = 0
        self.bytes_out = 0
        self.bytes_in = 0  # bytes of the answers accepted

    @property
    def baudrate(self):
        return self.rx.baudrate

    def set_baudrate(self, baudrate):
        uart = self.uart
        if hasattr(uart, "init"):
            uart.init(baudrate=baudrate, bits=8, parity=0, stop=1)
        self.rx.set_baudrate(baudrate)

    # -- one exchange ----------------------------------------------------------------

    async def _exchange(self, request):
        """Send one request, wait for one answer. Returns FRAME/NONE/BAD_FRAME/GARBLED."""
        rx = self.rx
        if self._idle_since is not None:
            turnaround = self.turnaround_ms if self.turnaround_ms is not None else rx.wire_ms(_TURNAROUND_CHARS)
            wait = turnaround - rt.ticks_diff(rt.ticks_ms(), self._idle_since)
            if wait > 0:
                await rt.sleep_ms(wait)
        rx.flush()
        await self.uart.write_all(request)
        self.requests += 1
        self.bytes_out += len(request)
        # The answer window starts when the request has left the wire, not the driver.
        result = await rx.answer(rx.answer_ms + rx.wire_ms(len(request)))
        self._idle_since = rt.ticks_ms()
        if result == FRAME:
            self.bytes_in += rx.frame_len
        return result

    async def _ack_exchange(self, request, retries):
        """A request answered by E5. Returns OK, NO_ANSWER, BAD or COLLISION."""
        code = NO_ANSWER
        for _ in range(retries + 1):
            result = await self._exchange(request)
            if result == FRAME:
                if self.rx.frame_len == 1:
                    # Bytes right behind the E5: a second device answering too.
                    return OK if not self.rx.pending() else COLLISION
                code = BAD  # a frame, but not the acknowledgement
            else:
                code = _code_of(result)
        return code

    async def send_nke(self, address):
        """Link reset (SND_NKE) of one address. Returns a result code."""
        async with self.lock:
            return await self._ack_exchange(F.build_short(F.SND_NKE, address), self.retries)

    async def _reset(self, dev):
        if dev.secondary is not None:
            # SND_NKE to 253 resets the selected slave and deselects it: select again after.
            code = await self._select(dev.secondary, self.retries)
            if code == OK:
                code = await self._ack_exchange(F.build_short(F.SND_NKE, F.ADDR_SELECTED), self.retries)
            if code == OK:
                code = await self._select(dev.secondary, self.retries)
        else:
            code = await self._ack_exchange(F.build_short(F.SND_NKE, dev.primary), self.retries)
        if code == OK:
            dev.fcb = 1  # the first request after a link reset carries FCB = 1
        return code

    async def _select(self, sec, retries, settle=False):
        """SND_UD with CI 0x52 to 253. settle: after an E5 listen 3 characters longer
        so that a second device's answer shows as a collision (scans)."""
        request = F.build_long(F.SND_UD, F.ADDR_SELECTED, F.CI_SELECT, sec)
        code = await self._ack_exchange(request, retries)
        if code == OK and settle:
            rx = self.rx
            if not await rx.quiet(_SETTLE_CHARS * rx.wire_ms(1) + rx.gap_ms):
                return COLLISION
        return code

    async def select(self, sec):
        async with self.lock:
            return await self._select(sec, self.retries)

    async def _prepare(self, dev):
        """Link reset if needed, else (re)select a secondary device. Returns a code."""
        if dev.fcb is None:
            return await self._reset(dev)
        if dev.secondary is not None:
            return await self._select(dev.secondary, self.retries)
        return OK

    async def _snd_ud(self, dev, ci, data):
        if data:
            request = F.build_long(F.SND_UD_FCB if dev.fcb else F.SND_UD, dev.address, ci, data)
        else:
            request = F.build_control(F.SND_UD_FCB if dev.fcb else F.SND_UD, dev.address, ci)
        code = await self._ack_exchange(request, self.retries)
        if code == OK:
            dev.fcb ^= 1
        else:
            dev.fcb = None
        return code

    async def snd_ud(self, dev, ci, data=b""):
        """Send user data (SND_UD, CI ci) to a device; E5 expected. Returns a code."""
        async with self.lock:
            code = await self._prepare(dev)
            if code != OK:
                return code
            return await self._snd_ud(dev, ci, data)

    async def application_reset(self, dev, subcode=None):
        """SND_UD with CI 0x50 (optionally with a subcode byte). Returns a code."""
        return await self.snd_ud(dev, F.CI_APP_RESET, bytes((subcode,)) if subcode is not None else b"")

    async def _req_ud2(self, dev):
        """One REQ_UD2 with the device's FCB, repeated (same FCB) on failure.
        Returns (code, raw frame or None)."""
        rx = self.rx
        code = NO_ANSWER
        for _ in range(self.retries + 1):
            request = F.build_short(F.REQ_UD2_FCB if dev.fcb else F.REQ_UD2, dev.address)
            result = await self._exchange(request)
            if result == FRAME:
                telegram = rx.frame_bytes()
                if len(telegram) >= 9 and telegram[4] & F.C_FUNCTION_MASK == F.RSP_UD:
                    dev.fcb ^= 1
                    return OK, telegram
                code = BAD  # E5 or a control frame where data was asked for
                if len(telegram) == 1 and not await rx.quiet(rx.gap_ms):
                    code = COLLISION  # a late second acknowledgement, then more answers
            else:
                code = _code_of(result)
        dev.fcb = None  # the link state is unknown now: reset before the next exchange
        return code, None

    async def read(self, dev):
        """Read a device's data: all telegrams of a multi-telegram answer. Returns a
        Result; its telegrams are the raw frames as received."""
        async with self.lock:
            code = await self._prepare(dev)
            if code != OK:
                dev.fcb = None
                return Result(code, detail=self.rx.last_error)
            telegrams = []
            while True:
                code, telegram = await self._req_ud2(dev)
                if code != OK:
                    return Result(code, telegrams, detail=self.rx.last_error)
                telegrams.append(telegram)
                if telegram[6] == F.CI_APP_ERROR:
                    return Result(APP_ERROR, telegrams, app_error=telegram[7] if len(telegram) > 9 else 0)
                if not more_follow(telegram):
                    return Result(OK, telegrams)
                if len(telegrams) >= self.max_telegrams:
                    return Result(OK, telegrams, detail="telegram cap reached")

    # -- secondary-address scan ------------------------------------------------------

    async def _probe(self, mask):
        """Select with a mask; OK (exactly one device, its 8 bytes), NO_ANSWER, or
        COLLISION (more than one). Returns (code, selection bytes or None)."""
        code = await self._select(mask, 0, settle=True)
        if code == NO_ANSWER:
            return NO_ANSWER, None
        if code == OK:
            # One clean E5: read the header, which also shows two answering at once.
            request = F.build_short(F.REQ_UD2_FCB, F.ADDR_SELECTED)
            result = await self._exchange(request)
            if result == FRAME:
                sec = secondary_of(self.rx.frame_view())
                if sec is not None and await self.rx.quiet(self.rx.gap_ms):
                    return OK, sec
            elif result == NONE:
                return NO_ANSWER, None
        return COLLISION, None

    async def scan(self, mask=b"\xff" * 8, on_probe=None):
        """Depth-first wildcard search over the 8 ID digits (0-9 each), left to right.
        Returns (found, collisions): found is a list of the selection bytes of every
        device found; collisions lists masks with no wildcard left that still had
        more than one answer (two devices with the same ID)."""
        found = []
        collisions = []
        async with self.lock:
            await self._search(bytes(mask), found, collisions, on_probe)
        return found, collisions

    async def _search(self, mask, found, collisions, on_probe):
        code, sec = await self._probe(mask)
        if on_probe is not None:
            on_probe(mask, code)
        if code == NO_ANSWER:
            return
        if code == OK:
            if sec not in found:
                found.append(sec)
            return
        position = -1
        for pos in range(8):
            if _id_digit(mask, pos) == WILDCARD:
                position = pos
                break
        if position < 0:
            collisions.append(mask)
            return
        for digit in range(10):
            await self._search(_with_digit(mask, position, digit), found, collisions, on_probe)


def _code_of(result):
    if result == NONE:
        return NO_ANSWER
    if result == BAD_FRAME:
        return BAD
    return COLLISION
