# SML type-length encoding (IEC 62056-5-3-8, BSI TR-03109-1): the writer for the meter's
# answers and push, and the bounded parser for what comes in.
#
# A value starts with a type-length (TL) byte: bit 7 "another TL byte follows", bits 6-4
# the type, bits 3-0 the length. Types: 000 octet string, 100 boolean, 101 signed
# integer, 110 unsigned integer, 111 list. For a list the length counts its elements; for
# everything else it counts the value's bytes including the TL bytes themselves. A long
# length continues in the low nibble of further TL bytes (type bits 000), most
# significant nibble first. 0x01 (an octet string of no bytes) stands for an optional
# value that is absent; 0x00 ends a message.
#
# The Writer encodes into one preallocated bytearray: its methods take small ints and
# bytes and allocate nothing (integers up to 64 bits are written from shifts of a small
# int; a 64-bit register that still fits 2**30 never makes a long int).

from micropython import const
from sml.errors import SmlError

T_OCTETS = const(0x00)
T_BOOL = const(0x40)
T_INT = const(0x50)
T_UINT = const(0x60)
T_LIST = const(0x70)
ABSENT = const(0x01)
END_OF_MESSAGE = const(0x00)

# Parser limits: far beyond any request we answer, small enough for a 256 KiB heap.
MAX_DEPTH = const(10)
MAX_ITEMS = const(512)  # values in one message, all levels together
MAX_TL_BYTES = const(4)


class Writer:
    """Appends SML values to a preallocated buffer; `n` is the length so far."""

    def __init__(self, size):
        self.buf = bytearray(size)
        self.n = 0

    def reset(self, n=0):
        self.n = n

    def byte(self, b):
        n = self.n
        if n >= len(self.buf):
            raise SmlError("too_long", "SML buffer of %d bytes full" % len(self.buf))
        self.buf[n] = b
        self.n = n + 1

    def tl(self, kind, length):
        """A TL field; `length` counts elements (list) or the value's bytes without the TL."""
        if kind == T_LIST:
            total = length
            k = 1
            while total >= (1 << (4 * k)):
                k += 1
        else:
            k = 1
            while length + k >= (1 << (4 * k)):
                k += 1
            total = length + k
        shift = 4 * (k - 1)
        first = kind | ((total >> shift) & 0x0F)
        if k > 1:
            first |= 0x80
        self.byte(first)
        while shift:
            shift -= 4
            self.byte((0x80 if shift else 0) | ((total >> shift) & 0x0F))

    def list(self, count):
        self.tl(T_LIST, count)

    def absent(self):
        self.byte(ABSENT)

    def end(self):
        self.byte(END_OF_MESSAGE)

    def octets(self, data):
        """An octet string (bytes, bytearray or str of ASCII); None is the absent value."""
        if data is None:
            self.byte(ABSENT)
            return
        size = len(data)
        self.tl(T_OCTETS, size)
        n = self.n
        if n + size > len(self.buf):
            raise SmlError("too_long", "SML buffer of %d bytes full" % len(self.buf))
        if isinstance(data, str):
            data = data.encode()
        self.buf[n:n + size] = data
        self.n = n + size

    def counter_octets(self, value, width):
        """An octet string of `width` bytes holding value big-endian (transaction ids)."""
        self.tl(T_OCTETS, width)
        shift = 8 * width
        while shift:
            shift -= 8
            self.byte((value >> shift) & 0xFF)

    def boolean(self, value):
        self.byte(T_BOOL | 2)
        self.byte(1 if value else 0)

    def fixed(self, kind, width, value):
        """An integer of `width` bytes (1, 2, 4 or 8), big-endian, two's complement."""
        self.byte(kind | (width + 1))
        shift = 8 * width
        while shift:
            shift -= 8
            # value >> 32 and more is 0 or -1 for a small int: no long arithmetic.
            self.byte((value >> shift) & 0xFF)

    def uint(self, value, width=0):
        """Unsigned; width 0: the smallest of 1, 2, 4, 8 bytes that holds it."""
        if value < 0:
            raise SmlError("out_of_range", "unsigned value %d" % value)
        if not width:
            width = 1 if value < 0x100 else 2 if value < 0x10000 else 4 if value <= 0xFFFFFFFF else 8
        self.fixed(T_UINT, width, value)

    def sint(self, value, width=0):
        """Signed; width 0: the smallest of 1, 2, 4, 8 bytes that holds it."""
        if not width:
            width = 1 if -0x80 <= value < 0x80 else 2 if -0x8000 <= value < 0x8000 else \
                4 if -0x80000000 <= value < 0x80000000 else 8
        self.fixed(T_INT, width, value)


class Value:
    """A parsed SML value with its type (ints are ambiguous between signed and unsigned)."""

    __slots__ = ("kind", "value")

    def __init__(self, kind, value):
        self.kind = kind
        self.value = value


def read_tl(buf, pos, end):
    """(kind, length, position after the TL bytes) at pos; length as in Writer.tl."""
    if pos >= end:
        raise SmlError("truncated", "TL field past the end at %d" % pos)
    b = buf[pos]
    kind = b & 0x70
    length = b & 0x0F
    pos += 1
    count = 1
    while b & 0x80:
        if count >= MAX_TL_BYTES:
            raise SmlError("bad_tl", "more than %d TL bytes" % MAX_TL_BYTES)
        if pos >= end:
            raise SmlError("truncated", "TL field past the end at %d" % pos)
        b = buf[pos]
        if b & 0x70:
            raise SmlError("bad_tl", "TL continuation byte 0x%02x" % b)
        length = (length << 4) | (b & 0x0F)
        pos += 1
        count += 1
    if kind != T_LIST:
        length -= count
        if length < 0:
            raise SmlError("bad_tl", "length shorter than its TL field")
    return kind, length, pos


class Parser:
    """Parses one message's values from buf[pos:end], bounded in depth and item count.

    Values come back as Python objects: list, bytes, int, bool, None (absent); integers
    as `Value(T_INT/T_UINT, n)` only where the caller asks for kinds (`keep_kinds`)."""

    def __init__(self, buf, pos, end, keep_kinds=False):
        self.buf = buf
        self.pos = pos
        self.end = end
        self.items = 0
        self.keep_kinds = keep_kinds

    def value(self, depth=0):
        buf = self.buf
        self.items += 1
        if self.items > MAX_ITEMS:
            raise SmlError("too_many", "more than %d values in a message" % MAX_ITEMS)
        start = self.pos
        if start >= self.end:
            raise SmlError("truncated", "value past the end at %d" % start)
        if buf[start] == END_OF_MESSAGE:
            raise SmlError("bad_value", "end of message inside a value at %d" % start)
        kind, length, pos = read_tl(buf, start, self.end)
        if kind == T_LIST:
            if depth >= MAX_DEPTH:
                raise SmlError("too_deep", "lists nested deeper than %d" % MAX_DEPTH)
            if length > MAX_ITEMS:
                raise SmlError("too_many", "list of %d elements" % length)
            self.pos = pos
            out = []
            for _ in range(length):
                out.append(self.value(depth + 1))
            return out
        stop = pos + length
        if stop > self.end:
            raise SmlError("truncated", "value of %d bytes past the end at %d" % (length, start))
        self.pos = stop
        if kind == T_OCTETS:
            if length == 0 and stop - start == 1:
                return None  # 0x01: the absent optional value
            return bytes(buf[pos:stop])
        if kind == T_BOOL:
            if length != 1:
                raise SmlError("bad_value", "boolean of %d bytes" % length)
            return buf[pos] != 0
        if kind == T_INT or kind == T_UINT:
            if not 1 <= length <= 8:
                raise SmlError("bad_value", "integer of %d bytes" % length)
            n = 0
            for i in range(pos, stop):
                n = (n << 8) | buf[i]
            if kind == T_INT and buf[pos] & 0x80:
                n -= 1 << (8 * length)
            return Value(kind, n) if self.keep_kinds else n
        raise SmlError("bad_tl", "unknown SML type 0x%02x at %d" % (kind, start))
