# COSEM date-time (12 octets): year(2) month day weekday hour minute second hundredths
# deviation(2, minutes, signed) clock_status. The meter keeps UTC: it writes deviation 0.
#
# Reading what clients send: 0xFF (0xFFFF for the year) is "not specified" in any field;
# deviation 0x8000 is "not specified" (taken as UTC, the meter's own time). Gurux and
# dlms-cosem differ here (with and without a deviation), both are accepted.

import struct
from micropython import const
from clock import civil_from_epoch_s, epoch_from_civil

DATE_TIME_BYTES = const(12)
_NO_DEVIATION = const(-0x8000)
_WILD = const(0xFF)


def encode(epoch_s, out=None, status=0):
    """The 12-octet date-time of an epoch second (UTC, deviation 0)."""
    y, mo, d, h, mi, s, wd = civil_from_epoch_s(epoch_s)
    if out is None:
        out = bytearray(DATE_TIME_BYTES)
    struct.pack_into(">HBBBBBBBhB", out, 0, y, mo, d, wd + 1, h, mi, s, 0, 0, status)
    return out


def decode(data, open_value=None):
    """Epoch seconds (UTC) of a 12-octet date-time; open_value where the date is wildcarded
    (a range bound left open). Unspecified time fields count as 0. ValueError if invalid."""
    if len(data) != DATE_TIME_BYTES:
        raise ValueError("date-time is 12 octets")
    y, mo, d, _wd, h, mi, s, _hs, dev, _st = struct.unpack(">HBBBBBBBhB", data)
    if y == 0xFFFF or mo == _WILD or d == _WILD or mo in (0xFD, 0xFE) or d in (0xFD, 0xFE):
        return open_value
    if not (1 <= mo <= 12 and 1 <= d <= 31):
        raise ValueError("date out of range")
    h = 0 if h == _WILD else h
    mi = 0 if mi == _WILD else mi
    s = 0 if s == _WILD else s
    if h > 23 or mi > 59 or s > 59:
        raise ValueError("time out of range")
    t = epoch_from_civil(y, mo, d, h, mi, s)
    # Deviation is local minus UTC in minutes in the standard's 2nd edition sense used by
    # both clients (local = UTC + deviation); unspecified means the meter's time (UTC).
    if dev != _NO_DEVIATION:
        if not -720 <= dev <= 840:
            raise ValueError("deviation out of range")
        t -= dev * 60
    return t
