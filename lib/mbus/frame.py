# EN 13757-2 link-layer frames (FT1.2): build and check one frame.
#
#   single character  E5
#   short             10 C A CS 16
#   control           68 03 03 68 C A CI CS 16
#   long              68 L L 68 C A CI data... CS 16
#
# L counts C..last data byte; CS is the sum of the same bytes mod 256. The
# master builds and parses one frame per exchange, so both sides stay to one
# allocation each (the built frame; the parsed frame's data).

from micropython import const
from mbus.errors import FrameError

# Single character and start/stop bytes.
ACK = const(0xE5)
START_SHORT = const(0x10)
START_LONG = const(0x68)
STOP = const(0x16)

# C-field, master -> slave (bit 6 PRM = 1; bit 5 FCB, bit 4 FCV).
SND_NKE = const(0x40)
SND_UD = const(0x53)        # FCB 0, FCV 1
SND_UD_FCB = const(0x73)    # FCB 1
REQ_UD1 = const(0x5A)
REQ_UD1_FCB = const(0x7A)
REQ_UD2 = const(0x5B)
REQ_UD2_FCB = const(0x7B)
C_FCB = const(0x20)
C_FCV = const(0x10)
C_PRM = const(0x40)
# C-field, slave -> master (bit 5 ACD, bit 4 DFC).
RSP_UD = const(0x08)
RSP_UD_DFC = const(0x18)
RSP_UD_ACD = const(0x28)
RSP_UD_ACD_DFC = const(0x38)
C_ACD = const(0x20)
C_DFC = const(0x10)
C_FUNCTION_MASK = const(0x0F)

# A-field special addresses.
ADDR_UNCONFIGURED = const(0)
ADDR_MAX_PRIMARY = const(250)
ADDR_SELECTED = const(253)     # the slave selected by secondary address
ADDR_BROADCAST_REPLY = const(254)
ADDR_BROADCAST = const(255)

# CI field, master -> slave.
CI_APP_RESET = const(0x50)
CI_DATA_SEND = const(0x51)
CI_SELECT = const(0x52)
CI_SYNC = const(0x54)
CI_DESELECT = const(0x56)
CI_BAUD_300 = const(0xB8)      # 0xB8..0xBF: 300 .. 38400 baud
CI_BAUD_2400 = const(0xBB)
CI_BAUD_9600 = const(0xBD)
# CI field, slave -> master.
CI_APP_ERROR = const(0x70)
CI_ALARM = const(0x71)
CI_RSP_LONG = const(0x72)      # variable data, 12-byte header
CI_RSP_FIXED = const(0x73)     # legacy fixed data structure
CI_RSP_NONE = const(0x78)      # variable data, no header
CI_RSP_SHORT = const(0x7A)     # variable data, 4-byte header

MAX_LONG_L = const(255)
MAX_FRAME_LEN = const(261)     # L = 255 plus six framing bytes


class Frame:
    """One checked frame. kind is 'ack', 'short', 'control' or 'long'; c, a and
    ci are None where the frame has no such field; data is the user data after
    CI without checksum and stop byte (b"" for ack, short and control)."""

    def __init__(self, kind, c, a, ci, data):
        self.kind = kind
        self.c = c
        self.a = a
        self.ci = ci
        self.data = data

    def __repr__(self):
        return "Frame(%s c=%r a=%r ci=%r data=%d bytes)" % (
            self.kind, self.c, self.a, self.ci, len(self.data))


def checksum(buf, start, end):
    """Sum of buf[start:end] mod 256."""
    total = 0
    for i in range(start, end):
        total += buf[i]
    return total & 0xFF


def build_short(c, a):
    return bytes((START_SHORT, c, a, (c + a) & 0xFF, STOP))


def build_control(c, a, ci):
    return bytes((START_LONG, 3, 3, START_LONG, c, a, ci, (c + a + ci) & 0xFF, STOP))


def build_long(c, a, ci, data):
    n = len(data)
    if n > MAX_LONG_L - 3:
        raise FrameError("data too long")
    out = bytearray(n + 9)
    out[0] = START_LONG
    out[1] = out[2] = n + 3
    out[3] = START_LONG
    out[4] = c
    out[5] = a
    out[6] = ci
    out[7:7 + n] = data
    out[7 + n] = checksum(out, 4, 7 + n)
    out[8 + n] = STOP
    return bytes(out)


def frame_length(buf, n):
    """Total length of the frame that starts at buf[0], judged from its first
    n bytes: the byte count, 0 if more bytes are needed to tell, -1 if buf[0]
    starts no frame. For a receiver that reads exactly one frame."""
    if n < 1:
        return 0
    b = buf[0]
    if b == ACK:
        return 1
    if b == START_SHORT:
        return 5
    if b != START_LONG:
        return -1
    if n < 2:
        return 0
    return buf[1] + 6


KIND_ACK = const(0)
KIND_SHORT = const(1)
KIND_CONTROL = const(2)
KIND_LONG = const(3)
KINDS = ("ack", "short", "control", "long")


def check(buf):
    """Check buf as exactly one complete frame without copying it: returns
    (kind, c, a, ci) with kind one of KIND_*, None for absent fields. Raises
    FrameError: 'truncated', 'bad start', 'L-field mismatch', 'bad checksum',
    'bad stop byte', 'trailing bytes'."""
    n = len(buf)
    if n == 0:
        raise FrameError("truncated")
    b = buf[0]
    if b == ACK:
        if n != 1:
            raise FrameError("trailing bytes")
        return KIND_ACK, None, None, None
    if b == START_SHORT:
        if n < 5:
            raise FrameError("truncated")
        if n > 5:
            raise FrameError("trailing bytes")
        if buf[4] != STOP:
            raise FrameError("bad stop byte")
        if (buf[1] + buf[2]) & 0xFF != buf[3]:
            raise FrameError("bad checksum")
        return KIND_SHORT, buf[1], buf[2], None
    if b != START_LONG:
        raise FrameError("bad start")
    if n < 4:
        raise FrameError("truncated")
    length = buf[1]
    if buf[2] != length or length < 3:
        raise FrameError("L-field mismatch")
    if buf[3] != START_LONG:
        raise FrameError("bad start")
    if n < length + 6:
        raise FrameError("truncated")
    if n > length + 6:
        raise FrameError("L-field mismatch")
    if buf[n - 1] != STOP:
        raise FrameError("bad stop byte")
    if checksum(buf, 4, n - 2) != buf[n - 2]:
        raise FrameError("bad checksum")
    return (KIND_CONTROL if length == 3 else KIND_LONG), buf[4], buf[5], buf[6]


def is_request(buf):
    """True if buf is exactly one complete, correct master-to-slave frame (a short,
    control or long frame with the PRM bit)."""
    try:
        kind, c, a, ci = check(buf)
    except FrameError:
        return False
    return kind != KIND_ACK and bool(c & C_PRM)


# Secondary addresses: 8 selection bytes, ID (4 BCD bytes, LSB first), manufacturer (2,
# LSB first), version, medium. A selection mask has wildcard nibbles F in the ID and
# wildcard bytes FF elsewhere.
WILDCARD = const(0xF)


def id_digit(sec, position):
    """ID digit `position` (0 = leftmost as printed) of selection bytes."""
    byte = sec[3 - (position >> 1)]
    return byte >> 4 if position & 1 == 0 else byte & 0xF


def matches(mask, sec):
    """Does the selection mask select the device with these 8 selection bytes?"""
    for pos in range(8):
        d = id_digit(mask, pos)
        if d != WILDCARD and d != id_digit(sec, pos):
            return False
    if not (mask[4] == 0xFF and mask[5] == 0xFF) and (mask[4] != sec[4] or mask[5] != sec[5]):
        return False
    for i in (6, 7):
        if mask[i] != 0xFF and mask[i] != sec[i]:
            return False
    return True


def parse(buf):
    """Check buf as exactly one complete frame (see check) and return it as a
    Frame; data is a copy of the user data after CI."""
    kind, c, a, ci = check(buf)
    data = bytes(buf[7:len(buf) - 2]) if kind == KIND_LONG else b""
    return Frame(KINDS[kind], c, a, ci, data)
