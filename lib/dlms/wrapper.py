# The DLMS/COSEM TCP wrapper (IEC 62056-47): every APDU behind an 8-byte header
#   version (0x0001) | source wPort | destination wPort | length     (all 16-bit big-endian)
# A client's wPort is its SAP (16 public, 1 management); the server's is the logical
# device (1, the management logical device).

import struct
from micropython import const

HEADER_BYTES = const(8)
_VERSION = const(1)


class WrapperError(ValueError):
    pass


def parse_header(hdr, max_length):
    """(source wPort, destination wPort, length) of a header; WrapperError if unusable."""
    if len(hdr) != HEADER_BYTES:
        raise WrapperError("short header")
    version, src, dst, length = struct.unpack(">HHHH", hdr)
    if version != _VERSION:
        raise WrapperError("version %d" % version)
    if length == 0 or length > max_length:
        raise WrapperError("length %d" % length)
    return src, dst, length


def header(src, dst, length, out=None):
    if out is None:
        out = bytearray(HEADER_BYTES)
    struct.pack_into(">HHHH", out, 0, _VERSION, src, dst, length)
    return out
