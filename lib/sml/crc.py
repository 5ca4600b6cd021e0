# CRC-16/X-25 (poly 0x1021 reflected, init 0xFFFF, final XOR 0xFFFF), the checksum of
# each SML message and of the transport around a file. On the wire the CRC goes low byte
# first: both checks compare the two bytes read as a big-endian number with the
# byte-swapped CRC, as the readers (libsml, smllib, pysml) do.

from array import array


def _table():
    table = array("H", bytes(512))
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x8408 if c & 1 else c >> 1
        table[i] = c
    return table


TABLE = _table()
INIT = 0xFFFF


def update(crc, buf, start, end):
    """The running register after buf[start:end] (start with INIT); allocates nothing."""
    table = TABLE
    for i in range(start, end):
        crc = (crc >> 8) ^ table[(crc ^ buf[i]) & 0xFF]
    return crc


def crc16(buf, start=0, end=-1):
    """The finished X-25 CRC of buf[start:end] (end -1: to the end)."""
    if end < 0:
        end = len(buf)
    return update(INIT, buf, start, end) ^ 0xFFFF
