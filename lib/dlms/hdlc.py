# HDLC for DLMS (IEC 62056-46), the server (secondary station) side, without I/O:
# feed() takes received bytes, queues the answer frames in `out` (a Writer the caller
# sends and resets), and hands each complete request APDU to on_apdu(view) -> response.
#
# Frame format type 3:  7E | A0 + S + length(11 bits) | dest | src | control | [HCS | info] | FCS | 7E
# Addresses: client 1 byte (SAP << 1 | 1); server 1, 2 or 4 bytes (upper = logical device,
# lower = physical), answered in the form the client used. FCS-16 (CRC-16/X.25, crc_x25.py)
# over the frame between the flags; HCS is the same over the header.
#
# Link rules kept here: SNRM/UA with negotiation of max information length and window,
# I frames with N(S)/N(R), RR/RNR, segmentation both ways (S bit; the last frame of a
# window carries the final bit, the client's RR asks for the next window), DISC -> UA
# (or DM when not connected), FRMR for a frame it cannot take, the inactivity time-out.
# Bad FCS/HCS or a frame for another address is dropped and counted, as the standard says.

from micropython import const
from crc_x25 import crc16 as fcs16
from dlms.axdr import Writer

FLAG = const(0x7E)
_FORMAT = const(0xA0)
_SNRM = const(0x83)
_DISC = const(0x43)
_UA = const(0x63)
_DM = const(0x0F)
_FRMR = const(0x87)
_UI = const(0x03)
_PF = const(0x10)
_RR = const(0x01)
_RNR = const(0x05)

DEFAULT_INFO = const(128)
MAX_INFO = const(512)  # the most either way this server takes or sends in one frame
MAX_WINDOW = const(7)
MAX_APDU = const(2048)  # a segmented request longer than this is refused (FRMR)
LLC_REQUEST = b"\xe6\xe6\x00"
LLC_RESPONSE = b"\xe6\xe7\x00"

class HdlcError(ValueError):
    pass


def parse_address(buf, pos, end):
    """(value, length) of an HDLC address at buf[pos]: bytes until one with bit 0 set."""
    value = 0
    k = 0
    while pos + k < end:
        b = buf[pos + k]
        value = (value << 7) | (b >> 1)
        k += 1
        if b & 1:
            if k == 3 or k > 4:
                raise HdlcError("address length")
            return value, k
        if k == 4:
            break
    raise HdlcError("address unterminated")


def parse_frame(buf, n):
    """Fields of one frame buf[0:n] (flags included): (dest, dest_len, src, control,
    info_start, info_end, segmented). HdlcError on a bad frame."""
    if n < 9 or buf[0] != FLAG or buf[n - 1] != FLAG:
        raise HdlcError("framing")
    if buf[1] & 0xF0 != _FORMAT:
        raise HdlcError("format type")
    length = ((buf[1] & 0x07) << 8) | buf[2]
    if length != n - 2:
        raise HdlcError("length")
    if fcs16(buf, 1, n - 3) != buf[n - 3] | (buf[n - 2] << 8):
        raise HdlcError("fcs")
    dest, dlen = parse_address(buf, 3, n - 3)
    src, slen = parse_address(buf, 3 + dlen, n - 3)
    if slen != 1:
        raise HdlcError("client address length")
    pos = 3 + dlen + slen
    control = buf[pos]
    pos += 1
    info_start = info_end = pos
    if pos < n - 3:  # an information field: HCS first
        if pos + 2 > n - 3:
            raise HdlcError("length")
        if fcs16(buf, 1, pos) != buf[pos] | (buf[pos + 1] << 8):
            raise HdlcError("hcs")
        info_start = pos + 2
        info_end = n - 3
    return dest, dlen, src, control, info_start, info_end, bool(buf[1] & 0x08)


def _split_server(dest, dlen):
    """(logical, physical) of a server address of 1, 2 or 4 bytes; physical None if absent."""
    if dlen == 1:
        return dest, None
    if dlen == 2:
        return dest >> 7, dest & 0x7F
    return dest >> 14, dest & 0x3FFF


def _snrm_params(buf, start, end):
    """{id: value} of an SNRM/UA parameter field (format 81, group 80)."""
    params = {}
    if start == end:
        return params
    if end - start < 3 or buf[start] != 0x81 or buf[start + 1] != 0x80 or buf[start + 2] != end - start - 3:
        raise HdlcError("snrm parameters")
    pos = start + 3
    while pos < end:
        if pos + 2 > end:
            raise HdlcError("snrm parameters")
        pid, plen = buf[pos], buf[pos + 1]
        if plen > 4 or pos + 2 + plen > end:
            raise HdlcError("snrm parameters")
        value = 0
        for i in range(plen):
            value = (value << 8) | buf[pos + 2 + i]
        params[pid] = value
        pos += 2 + plen
    return params


class HdlcServer:
    """One HDLC link (one client at a time, as on a serial line)."""

    def __init__(self, on_apdu, logical=1, physical=None, max_info=MAX_INFO, inactivity_ms=120000,
                 on_disconnect=None, max_window=MAX_WINDOW):
        self.on_apdu = on_apdu  # (view of the request APDU, client SAP) -> response bytes or None
        self.on_disconnect = on_disconnect
        self.logical = logical
        self.physical = physical  # None: any physical address (or none) is ours
        self.max_info_limit = max_info
        self.max_window = max_window  # frames we send before the client's RR (see docs/dlms.md)
        self.inactivity_ms = inactivity_ms
        self.out = Writer(max_info + 32)
        self.rx = bytearray(max_info + 32)  # one frame being received
        self.rx_n = 0
        self.apdu = Writer(256)  # request APDU being reassembled from segments
        self.txw = Writer(256)  # LLC + response APDU being sent, in segments if long
        self.connected = False
        self.counts = {"frames": 0, "bad_fcs": 0, "bad_frame": 0, "other_address": 0, "frmr": 0,
                       "timeouts": 0, "apdus": 0}
        self._reset_link()

    def _reset_link(self):
        self.vs = 0  # next N(S) we send
        self.vr = 0  # next N(S) we expect
        self.max_tx = DEFAULT_INFO  # info bytes per frame to the client
        self.max_rx = DEFAULT_INFO
        self.window_tx = 1
        self.window_rx = 1
        self.tx = None  # response being sent in segments (memoryview)
        self.tx_off = 0  # offset of its first unacknowledged byte
        self.tx_ns = 0  # N(S) of that frame
        self.apdu.reset()
        self.client = 0
        self.dest = 0
        self.dest_len = 1

    # ---- receiving
    def feed(self, data):
        """Take received bytes (any split); answers go to self.out."""
        rx = self.rx
        for b in data:
            n = self.rx_n
            if n == 0:
                if b == FLAG:
                    rx[0] = b
                    self.rx_n = 1
                continue
            if n == 1 and b == FLAG:
                continue  # flags between frames (or a shared flag)
            if n >= len(rx):
                self.counts["bad_frame"] += 1
                self.rx_n = 0
                continue
            rx[n] = b
            n += 1
            self.rx_n = n
            if n == 3 and (rx[1] & 0xF0 != _FORMAT or (((rx[1] & 7) << 8) | rx[2]) + 2 > len(rx)):
                self.counts["bad_frame"] += 1
                self.rx_n = 1 if b == FLAG else 0
                continue
            if n > 3 and n == (((rx[1] & 7) << 8) | rx[2]) + 2:
                self.rx_n = 0
                if b != FLAG:
                    self.counts["bad_frame"] += 1
                    continue
                self._frame(n)

    def abandon_partial(self):
        """The inter-octet time-out: a half-received frame is dropped."""
        if self.rx_n > 1:
            self.counts["bad_frame"] += 1
        self.rx_n = 0

    def partial(self):
        return self.rx_n > 1

    def timeout(self):
        """No frame for inactivity_ms: the link falls back to disconnected (no answer sent)."""
        if self.connected:
            self.counts["timeouts"] += 1
            self._drop()

    def _drop(self):
        was = self.connected
        self.connected = False
        self._reset_link()
        if was and self.on_disconnect is not None:
            self.on_disconnect()

    def _frame(self, n):
        rx = self.rx
        try:
            dest, dlen, src, control, i0, i1, segmented = parse_frame(rx, n)
        except HdlcError as exc:
            self.counts["bad_fcs" if str(exc) in ("fcs", "hcs") else "bad_frame"] += 1
            return
        logical, physical = _split_server(dest, dlen)
        if logical != self.logical or (self.physical is not None and physical is not None
                                       and physical != self.physical):
            self.counts["other_address"] += 1
            return
        self.counts["frames"] += 1
        poll = control & _PF
        kind = control & ~_PF
        if kind == _SNRM:
            self._snrm(dest, dlen, src, i0, i1)
        elif kind == _DISC:
            if self.connected:
                self.dest, self.dest_len, self.client = dest, dlen, src
                self._send_u(_UA | _PF)
                self._drop()
            else:
                self.dest, self.dest_len, self.client = dest, dlen, src
                self._send_u(_DM | _PF)
        elif not self.connected or src != self.client:
            # Anything but SNRM/DISC before the link is up: disconnected mode.
            if poll:
                self.dest, self.dest_len, self.client = dest, dlen, src
                self._send_u(_DM | _PF)
        elif control & 1 == 0:
            self._info(control, i0, i1, segmented)
        elif kind & 0x0F == _RR or kind & 0x0F == _RNR:
            self._ack(control >> 5)
            if kind & 0x0F == _RR and poll:
                self._continue()
        elif kind == _UI:
            pass  # no unnumbered information service above us
        else:
            self._frmr(control, 0x01)  # W: control field undefined

    def _snrm(self, dest, dlen, src, i0, i1):
        try:
            params = _snrm_params(self.rx, i0, i1)
        except HdlcError:
            self.dest, self.dest_len, self.client = dest, dlen, src
            self._frmr(_SNRM | _PF, 0x02)
            return
        if self.connected:
            self._drop()  # a new SNRM restarts the link (and the association above it)
        self._reset_link()
        self.dest, self.dest_len, self.client = dest, dlen, src
        limit = self.max_info_limit
        # The client's transmit side is our receive side and the other way round.
        self.max_tx = max(32, min(params.get(6, DEFAULT_INFO), limit))
        self.max_rx = max(32, min(params.get(5, DEFAULT_INFO), limit))
        self.window_tx = max(1, min(params.get(8, 1), self.max_window))
        self.window_rx = max(1, min(params.get(7, 1), MAX_WINDOW))
        self.connected = True
        info = (0x81, 0x80, 20, 0x05, 2, self.max_tx >> 8, self.max_tx & 0xFF, 0x06, 2, self.max_rx >> 8,
                self.max_rx & 0xFF, 0x07, 4, 0, 0, 0, self.window_tx, 0x08, 4, 0, 0, 0, self.window_rx)
        self._send_u(_UA | _PF, bytes(info))

    def _info(self, control, i0, i1, segmented):
        ns = (control >> 1) & 7
        self._ack(control >> 5)
        if ns != self.vr:
            # Out of sequence (a repeat after a lost answer): ask again from what we expect.
            self._send_s(_RR)
            return
        self.vr = (self.vr + 1) & 7
        chunk = memoryview(self.rx)[i0:i1]
        if self.apdu.n + len(chunk) > MAX_APDU:
            self.apdu.reset()
            self._frmr(control, 0x04)  # Y: information field too long
            return
        self.apdu.raw(chunk)
        if segmented:
            if control & _PF:
                self._send_s(_RR)
            return
        request = self.apdu.view()
        self.apdu.reset()
        if len(request) < 3 or request[0] != 0xE6 or request[1] != 0xE6:
            self._frmr(control, 0x01)
            return
        self.counts["apdus"] += 1
        response = self.on_apdu(request[3:], self.client)
        if response is None:
            self._send_s(_RR)
            return
        txw = self.txw
        txw.reset()
        txw.raw(LLC_RESPONSE)
        txw.raw(response)
        self.tx = txw.view()
        self.tx_off = 0
        self.tx_ns = self.vs
        self._send_window()

    def _ack(self, nr):
        """The client's N(R) acknowledges our I frames up to nr - 1."""
        if self.tx is None:
            return
        acked = (nr - self.tx_ns) & 7
        sent = self._frames_sent()
        if 0 < acked <= sent:
            self.tx_off += acked * self.max_tx
            self.tx_ns = nr
            if self.tx_off >= len(self.tx):
                self.tx = None

    def _frames_sent(self):
        return (self.vs - self.tx_ns) & 7

    def _continue(self):
        if self.tx is not None:
            self._send_window()
        else:
            self._send_s(_RR)

    def _send_window(self):
        # Go-back-N: (re)send from the first unacknowledged frame, up to one window.
        self.vs = self.tx_ns
        off = self.tx_off
        total = len(self.tx)
        for k in range(self.window_tx):
            end = min(off + self.max_tx, total)
            last = end >= total
            final = last or k == self.window_tx - 1
            self._send_i(self.tx[off:end], not last, final)
            off = end
            if last:
                break

    # ---- sending
    def _header(self, info_len, control, segmented=False):
        out = self.out
        start = out.n
        addr = self._dest_bytes()
        length = 2 + len(addr) + 1 + 1 + 2 + (info_len + 2 if info_len else 0)
        out.byte(FLAG)
        out.byte(_FORMAT | (0x08 if segmented else 0) | (length >> 8))
        out.byte(length & 0xFF)
        out.byte((self.client << 1) | 1)  # to the client
        out.raw(addr)  # from us, as addressed
        out.byte(control)
        return start

    def _dest_bytes(self):
        # Our address as the client addressed us (1, 2 or 4 bytes).
        dest, k = self.dest, self.dest_len
        b = bytearray(k)
        for i in range(k - 1, -1, -1):
            b[i] = (dest & 0x7F) << 1
            dest >>= 7
        b[k - 1] |= 1
        return b

    def _crc(self, start):
        out = self.out
        crc = fcs16(out.buf, start + 1, out.n)
        out.byte(crc & 0xFF)
        out.byte(crc >> 8)

    def _send_u(self, control, info=b""):
        start = self._header(len(info), control)
        if info:
            self._crc(start)
            self.out.raw(info)
        self._crc(start)
        self.out.byte(FLAG)

    def _send_s(self, kind):
        self._send_u(kind | _PF | (self.vr << 5))

    def _send_i(self, info, segmented, final):
        control = (self.vr << 5) | (_PF if final else 0) | (self.vs << 1)
        self.vs = (self.vs + 1) & 7
        start = self._header(len(info), control, segmented)
        self._crc(start)
        self.out.raw(info)
        self._crc(start)
        self.out.byte(FLAG)

    def _frmr(self, control, reason):
        # FRMR information: the rejected control field, V(S)/V(R), the reason bits (W X Y Z).
        self.counts["frmr"] += 1
        self._send_u(_FRMR | _PF, bytes((control, (self.vr << 5) | (self.vs << 1), reason)))
