# CRC-16/EN-13757: polynomial 0x3D65, initial value 0, MSB first, final XOR 0xFFFF
# (check value over b"123456789": 0xC2B7). One table of 256 words, built at import.

from array import array
from micropython import const

_POLY = const(0x3D65)


def _make_table():
    table = array("H", bytes(512))
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ _POLY) if crc & 0x8000 else (crc << 1)
        table[byte] = crc & 0xFFFF
    return table


_TABLE = _make_table()


def crc16(data, start=0, end=-1):
    """CRC of data[start:end] (end -1: to the end), without slicing it."""
    if end < 0:
        end = len(data)
    table = _TABLE
    crc = 0
    for i in range(start, end):
        crc = ((crc << 8) & 0xFF00) ^ table[(crc >> 8) ^ data[i]]
    return crc ^ 0xFFFF
