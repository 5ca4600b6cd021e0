# AtomicRecord: one small value replaced as a whole, never seen half-written.
#
# File layout (little-endian), 12-byte header then the data:
#   0  2  magic b"AR"
#   2  1  format version (1)
#   3  1  reserved (0)
#   4  4  data length in bytes
#   8  4  CRC-32 of bytes 0..7 and the data
# write() puts header and data in `path + ".new"`, flushes and closes it, then renames it
# over `path`; the rename is atomic on POSIX and LittleFS, so `path` always holds a whole
# old or a whole new value.

import os
import json
import struct
from binascii import crc32
from micropython import const
from store.fs import StoreError, make_dirs, remove_quietly

_MAGIC = b"AR\x01\x00"
_HEADER_BYTES = const(12)

# _load() outcomes
_MISSING = const(0)
_VALID = const(1)
_CORRUPT = const(2)


def _load(path):
    """(outcome, data): the file's data if its header, length and CRC check out."""
    try:
        f = open(path, "rb")
    except OSError:
        return _MISSING, None
    try:
        size = f.seek(0, 2)
        f.seek(0)
        header = f.read(_HEADER_BYTES)
        if len(header) < _HEADER_BYTES or header[:4] != _MAGIC:
            return _CORRUPT, None
        length, crc = struct.unpack_from("<II", header, 4)
        if _HEADER_BYTES + length != size:  # short, or trailing bytes: not what write() made
            return _CORRUPT, None  # (checked before reading: a garbled length must not allocate)
        data = f.read(length)
        if len(data) != length:
            return _CORRUPT, None
        if crc32(data, crc32(memoryview(header)[:8])) != crc:
            return _CORRUPT, None
        return _VALID, data
    finally:
        f.close()


class AtomicRecord:
    def __init__(self, path):
        self.path = path
        self._new_path = path + ".new"

    def read(self):
        """The last value written (bytes), or None if the record was never written.

        A valid main file wins. If it is missing or corrupt, a complete `.new` (a write
        interrupted between its flush and its rename, or, on FAT, inside the rename) is
        the newer value: it is renamed into place and returned. A torn `.new` is deleted.
        Raises StoreError if the main file is corrupt and there is nothing to fall back to:
        guessing (say, returning None) could send an energy register back to zero.
        """
        outcome, data = _load(self.path)
        if outcome == _VALID:
            remove_quietly(self._new_path)  # stale: its write never reached the rename
            return data
        new_outcome, new_data = _load(self._new_path)
        if new_outcome == _VALID:
            os.rename(self._new_path, self.path)
            return new_data
        remove_quietly(self._new_path)
        if outcome == _MISSING:
            return None
        raise StoreError("corrupt record " + self.path)

    def write(self, data):
        """Replace the value with data (bytes-like); when this returns it survives a crash."""
        header = bytearray(_MAGIC + b"\x00" * 8)
        struct.pack_into("<I", header, 4, len(data))
        struct.pack_into("<I", header, 8, crc32(data, crc32(memoryview(header)[:8])))
        try:
            f = open(self._new_path, "wb")
        except OSError:
            # First write into a folder that does not exist yet; any other cause fails again below.
            make_dirs(self.path.rsplit("/", 1)[0] if "/" in self.path else ".")
            f = open(self._new_path, "wb")
        try:
            f.write(header)
            f.write(data)
            f.flush()  # the unix port fsyncs here; LittleFS commits at close
        finally:
            f.close()
        os.rename(self._new_path, self.path)

    def read_json(self):
        """The JSON value last written with write_json, or None if never written."""
        data = self.read()
        return None if data is None else json.loads(data)

    def write_json(self, value):
        self.write(json.dumps(value).encode())
