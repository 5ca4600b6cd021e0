# A-XDR (IEC 61334-6) for the COSEM Data type: a growable, reused output buffer that
# typed values are written into directly (no tree of objects per response), and a
# bounded decoder for what clients send (SET values, ACTION parameters, selectors).
#
# Lengths use the A-XDR form: one byte below 0x80, else 0x8N followed by N bytes.

import struct
from micropython import const

# Data CHOICE tags.
NULL = const(0)
ARRAY = const(1)
STRUCTURE = const(2)
BOOLEAN = const(3)
BIT_STRING = const(4)
INT32 = const(5)  # double-long
UINT32 = const(6)  # double-long-unsigned
OCTET_STRING = const(9)
VISIBLE_STRING = const(10)
UTF8_STRING = const(12)
BCD = const(13)
INT8 = const(15)  # integer
INT16 = const(16)  # long
UINT8 = const(17)  # unsigned
UINT16 = const(18)  # long-unsigned
COMPACT_ARRAY = const(19)
INT64 = const(20)
UINT64 = const(21)
ENUM = const(22)
FLOAT32 = const(23)
FLOAT64 = const(24)
DATE_TIME = const(25)
DATE = const(26)
TIME = const(27)

MAX_DEPTH = const(8)  # nesting a client may send; deeper is refused, not recursed into
_FIXED = {BOOLEAN: 1, INT32: 4, UINT32: 4, INT8: 1, INT16: 2, UINT8: 1, UINT16: 2, INT64: 8, UINT64: 8,
          ENUM: 1, FLOAT32: 4, FLOAT64: 8, DATE_TIME: 12, DATE: 5, TIME: 4, BCD: 1, NULL: 0}
_INT_FORMAT = {INT32: ">i", UINT32: ">I", INT8: ">b", INT16: ">h", UINT8: ">B", UINT16: ">H",
               INT64: ">q", UINT64: ">Q", ENUM: ">B", BCD: ">b"}



def _limits():
    out = {}
    for tag, fmt in _INT_FORMAT.items():
        bits = 8 * _FIXED[tag]
        out[tag] = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if fmt[1] in "bhiq" else (0, (1 << bits) - 1)
    return out


_LIMITS = _limits()  # the range of each integer type, built once


class DataError(ValueError):
    """Bytes that are not a valid A-XDR value: truncated, a lying length, too deep, unknown tag."""


class Writer:
    """An output buffer reused from one APDU to the next; grows (doubling) only when needed."""

    def __init__(self, size=256):
        self.buf = bytearray(size)
        self.n = 0

    def reset(self):
        self.n = 0

    def _room(self, k):
        need = self.n + k
        if need > len(self.buf):
            size = len(self.buf) * 2
            while size < need:
                size *= 2
            grown = bytearray(size)
            grown[: self.n] = memoryview(self.buf)[: self.n]
            self.buf = grown

    def view(self, start=0, end=None):
        return memoryview(self.buf)[start: self.n if end is None else end]

    def byte(self, b):
        self._room(1)
        self.buf[self.n] = b
        self.n += 1

    def raw(self, data):
        k = len(data)
        self._room(k)
        self.buf[self.n: self.n + k] = data
        self.n += k

    def pack(self, fmt, size, value):
        self._room(size)
        struct.pack_into(fmt, self.buf, self.n, value)
        self.n += size

    def length(self, k):
        if k < 0x80:
            self.byte(k)
        elif k < 0x100:
            self.byte(0x81)
            self.byte(k)
        else:
            self.byte(0x82)
            self.pack(">H", 2, k)

    def u16(self, v):
        self.pack(">H", 2, v)

    def u32(self, v):
        self.pack(">I", 4, v)

    # Typed Data values (tag first).
    def null(self):
        self.byte(NULL)

    def boolean(self, v):
        self.byte(BOOLEAN)
        self.byte(1 if v else 0)

    def integer(self, tag, v):
        """Any fixed-size integer type: INT8 .. UINT64, ENUM. ValueError if v does not fit
        (MicroPython's struct would silently keep the low bytes)."""
        low, high = _LIMITS[tag]
        if not low <= v <= high:
            raise ValueError("%d does not fit type %d" % (v, tag))
        self.byte(tag)
        self.pack(_INT_FORMAT[tag], _FIXED[tag], v)

    def octets(self, data):
        self.byte(OCTET_STRING)
        self.length(len(data))
        self.raw(data)

    def visible(self, text):
        data = text.encode() if isinstance(text, str) else text
        self.byte(VISIBLE_STRING)
        self.length(len(data))
        self.raw(data)

    def structure(self, count):
        self.byte(STRUCTURE)
        self.length(count)

    def array(self, count):
        self.byte(ARRAY)
        self.length(count)

    def bit_string(self, bits, nbits):
        """nbits bits, most significant first, from the int `bits`."""
        self.byte(BIT_STRING)
        self.length(nbits)
        nbytes = (nbits + 7) // 8
        bits <<= nbytes * 8 - nbits
        for i in range(nbytes - 1, -1, -1):
            self.byte((bits >> (8 * i)) & 0xFF)

    def scaler_unit(self, scaler, unit):
        self.structure(2)
        self.integer(INT8, scaler)
        self.integer(ENUM, unit)

    def encoded(self, data):
        """A value already A-XDR encoded (tag included)."""
        self.raw(data)


class Reader:
    """Reads from a bytes-like object within [pos, end); every read is bounds-checked."""

    def __init__(self, data, pos=0, end=None):
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def left(self):
        return self.end - self.pos

    def byte(self):
        if self.pos >= self.end:
            raise DataError("truncated")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def take(self, k):
        if k < 0 or self.pos + k > self.end:
            raise DataError("truncated")
        chunk = bytes(self.data[self.pos: self.pos + k])
        self.pos += k
        return chunk

    def unpack(self, fmt, size):
        if self.pos + size > self.end:
            raise DataError("truncated")
        value = struct.unpack_from(fmt, self.data, self.pos)[0]
        self.pos += size
        return value

    def u16(self):
        return self.unpack(">H", 2)

    def u32(self):
        return self.unpack(">I", 4)

    def length(self):
        b = self.byte()
        if b < 0x80:
            return b
        k = b & 0x7F
        if k == 0 or k > 2:
            raise DataError("length form")
        n = 0
        for _ in range(k):
            n = (n << 8) | self.byte()
        return n


def decode(r, depth=0):
    """One Data value as (tag, value); structure/array values are lists of (tag, value)."""
    tag = r.byte()
    if tag == STRUCTURE or tag == ARRAY:
        if depth >= MAX_DEPTH:
            raise DataError("nested too deep")
        count = r.length()
        if count > r.left():  # every element takes at least one byte: a lying count
            raise DataError("count beyond data")
        return tag, [decode(r, depth + 1) for _ in range(count)]
    if tag == OCTET_STRING or tag == VISIBLE_STRING or tag == UTF8_STRING:
        return tag, r.take(r.length())
    if tag == BIT_STRING:
        nbits = r.length()
        return tag, (nbits, r.take((nbits + 7) // 8))
    if tag in _INT_FORMAT:
        return tag, r.unpack(_INT_FORMAT[tag], _FIXED[tag])
    if tag == BOOLEAN:
        return tag, r.byte() != 0
    if tag == NULL:
        return tag, None
    if tag == DATE_TIME or tag == DATE or tag == TIME or tag == FLOAT32 or tag == FLOAT64:
        return tag, r.take(_FIXED[tag])
    raise DataError("unknown tag %d" % tag)


def decode_bytes(data):
    """A whole buffer holding exactly one value."""
    r = Reader(data)
    value = decode(r)
    if r.left():
        raise DataError("trailing bytes")
    return value
