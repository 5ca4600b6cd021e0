# Ring: a bounded, append-only sequence of records spread over a few segment files.
#
# Folder layout: one file per segment, named by the sequence number its first record
# gets, as 8 hex digits: "00000001.seg", "0000002a.seg", ... The newest segment takes
# the appends; when a record does not fit, a new segment file is created and then the
# oldest beyond `segments` is deleted, so the folder never holds more than
# segments * segment_bytes bytes of records.
#
# Record layout (little-endian), 11 bytes of overhead:
#   0  1  magic 0xA5
#   1  2  payload length n
#   3  4  sequence number (the segment's first seq, plus one per record)
#   7  n  payload
#   7+n 4 CRC-32 of bytes 0 .. 6+n
# The start-up scan validates every record; a torn or corrupt tail of the newest segment
# is cut off by rewriting its valid prefix (there is no truncate) and renaming it over.
#
# Heap: an append allocates nothing (the CRC is computed into the record's own tail
# buffer, store/crc.py; seqs are small ints below 2**30) except when it starts a segment
# (the file name, the open file). Tested under heap_lock on the 32-bit port (test_store).

import os
import struct
from micropython import const
from store.crc import crc32_into
from store.fs import StoreError, make_dirs, remove_quietly

_MAGIC = const(0xA5)
_HEAD = const(7)
_TAIL = const(4)
_OVERHEAD = const(11)
_MAX_PAYLOAD = const(0xFFFF)
_MAX_SEQ = const(0xFFFFFFFF)
_CHUNK = const(64)  # read buffer: CRC-checks a payload without holding it
_SUFFIX = ".seg"
_NAME_LEN = const(12)  # 8 hex digits + ".seg"


def _seq_of(name):
    """The first seq a segment file's name carries, or None if it is no segment file."""
    if len(name) != _NAME_LEN or not name.endswith(_SUFFIX):
        return None
    try:
        return int(name[:8], 16)
    except ValueError:
        return None


class _Reader:
    """Validates records one at a time, with its own small preallocated buffers."""

    def __init__(self):
        self.head = bytearray(_HEAD)
        self.tail = bytearray(_TAIL)
        self.crc = bytearray(_TAIL)  # the CRC computed, compared with the tail read
        self.chunk = memoryview(bytearray(_CHUNK))
        self.length = -1  # payload length of the last record looked at, -1 if unreadable
        self.data = None  # its payload, when asked for
        self.skipped = 0  # corrupt records stepped over by walk()
        self.end = 0  # offset just past the last valid record, after walk() finished
        self.next_seq = 0  # seq the next record would have, after walk() finished
        self.size = 0  # the segment file's size, after walk() finished

    def check(self, f, seq, want_data, room):
        """The size of the valid record with this seq at f's position; 0 at the end of
        the file; -1 if the record is invalid.

        room: bytes from here to the end of the file, so a garbled length never makes us
        allocate (or read) more than the file holds.
        """
        head = self.head
        self.length = -1
        self.data = None
        got = f.readinto(head)
        if not got:
            return 0
        if got < _HEAD or head[0] != _MAGIC:
            return -1
        length = head[1] | head[2] << 8
        self.length = length
        if _OVERHEAD + length > room:
            return -1
        crc = self.crc
        crc[0] = crc[1] = crc[2] = crc[3] = 0
        crc32_into(crc, head, _HEAD)
        if want_data:
            data = f.read(length)
            if len(data) < length:
                return -1
            crc32_into(crc, data, length)
        else:
            chunk = self.chunk
            left = length
            while left:
                view = chunk if left >= _CHUNK else chunk[:left]  # one slice per record at most
                n = f.readinto(view)
                if not n:
                    return -1
                crc32_into(crc, view, n)
                left -= n
        tail = self.tail
        if f.readinto(tail) < _TAIL:
            return -1
        if tail != crc:
            return -1
        if head[3] | head[4] << 8 | head[5] << 16 | head[6] << 24 != seq:
            return -1
        if want_data:
            self.data = data
        return _OVERHEAD + length

    def walk(self, f, first_seq, after_seq):
        """Yields (seq, payload) for the valid records of one segment with seq > after_seq.

        A record that fails its check but whose successor (found through its length field)
        is valid was damaged in place: it is skipped and counted. Anything else ends the
        segment's valid part; self.end and self.next_seq say where it ended.
        """
        size = f.seek(0, 2)
        f.seek(0)
        pos = 0
        seq = first_seq
        self.skipped = 0
        while True:
            want = seq > after_seq
            n = self.check(f, seq, want, size - pos)
            if n > 0:
                pos += n
                seq += 1
                if want:
                    yield seq - 1, self.data
                continue
            if n < 0 and self.length >= 0:
                successor = pos + _OVERHEAD + self.length
                f.seek(successor)
                if self.check(f, seq + 1, False, size - successor) > 0:
                    self.skipped += 1
                    pos = successor
                    seq += 1
                    f.seek(pos)
                    continue
            break
        self.end = pos
        self.next_seq = seq
        self.size = size


class Ring:
    def __init__(self, folder, segment_bytes=4096, segments=4):
        if segments < 1 or segment_bytes <= _OVERHEAD:
            raise ValueError("a ring needs a segment of more than %d bytes" % _OVERHEAD)
        self.folder = folder
        self.segment_bytes = segment_bytes
        self.segments = segments
        self.max_payload = min(segment_bytes - _OVERHEAD, _MAX_PAYLOAD)
        self.last_seq = 0
        # What the start-up scan found: segments whose torn or corrupt tail it dropped, and
        # damaged records inside a segment it stepped over.
        self.torn_dropped = 0
        self.corrupt_skipped = 0
        self._head = bytearray(_HEAD)  # append's buffers: no allocation per record
        self._tail = bytearray(_TAIL)
        self._file = None  # the newest segment, open for appending
        self._size = 0  # its valid bytes
        self._damaged = False  # a failed append may have left a partial record behind
        self._firsts = []  # first seq of each segment file, oldest first
        self._open()

    def _path(self, first_seq):
        return "%s/%08x%s" % (self.folder, first_seq, _SUFFIX)

    def _open(self):
        make_dirs(self.folder)
        firsts = []
        for name in os.listdir(self.folder):
            if name.endswith(".new"):
                # A repair cut short: the segment it was made from is still intact.
                remove_quietly(self.folder + "/" + name)
                continue
            seq = _seq_of(name)
            if seq is not None:
                firsts.append(seq)
        firsts.sort()
        # One segment too many: a crash came between creating one and evicting the oldest.
        while len(firsts) > self.segments:
            os.remove(self._path(firsts.pop(0)))
        if not firsts:
            firsts.append(1)
            self._create(1)
        self._firsts = firsts
        reader = _Reader()
        newest = len(firsts) - 1
        for i in range(len(firsts)):
            path = self._path(firsts[i])
            f = open(path, "rb")
            try:
                for _ in reader.walk(f, firsts[i], _MAX_SEQ):
                    pass  # validate only; nothing is yielded past _MAX_SEQ
            finally:
                f.close()
            self.corrupt_skipped += reader.skipped
            if reader.end < reader.size:
                self.torn_dropped += 1
                if i == newest:
                    # Appends would land behind the garbage: keep only the valid prefix.
                    self._rewrite_prefix(path, reader.end, reader.chunk)
        self.last_seq = reader.next_seq - 1  # the newest segment's
        self._size = reader.end

    def _create(self, first_seq):
        open(self._path(first_seq), "wb").close()

    def _rewrite_prefix(self, path, length, chunk):
        """Replace the file by its first `length` bytes: copy, flush, rename over."""
        new_path = path + ".new"
        src = open(path, "rb")
        try:
            dst = open(new_path, "wb")
            try:
                left = length
                while left:
                    n = src.readinto(chunk if left >= _CHUNK else chunk[:left])
                    if not n:
                        raise StoreError("segment shrank while being repaired: " + path)
                    dst.write(chunk[:n])
                    left -= n
                dst.flush()
            finally:
                dst.close()
        finally:
            src.close()
        os.rename(new_path, path)

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def would_evict(self, length):
        """True if appending a record of `length` bytes would delete the oldest segment
        (a log that must keep everything refuses the append instead)."""
        return self._size + _OVERHEAD + length > self.segment_bytes and len(self._firsts) >= self.segments

    def append(self, data):
        """Store data (bytes-like) as the next record; returns its seq once it is on disk."""
        length = len(data)
        if length > self.max_payload:
            limit = self.max_payload
            raise StoreError("record of %d bytes exceeds the ring's %d" % (length, limit))
        seq = self.last_seq + 1
        if seq > _MAX_SEQ:
            raise StoreError("ring sequence numbers exhausted")
        if self._damaged:
            self.close()
            chunk = memoryview(bytearray(_CHUNK))
            self._rewrite_prefix(self._path(self._firsts[-1]), self._size, chunk)
            self._damaged = False
        if self._size + _OVERHEAD + length > self.segment_bytes:
            self._next_segment(seq)
        f = self._file
        if f is None:
            f = self._file = open(self._path(self._firsts[-1]), "ab")
        head = self._head
        head[0] = _MAGIC
        struct.pack_into("<HI", head, 1, length, seq)
        tail = self._tail
        tail[0] = tail[1] = tail[2] = tail[3] = 0
        crc32_into(tail, head, _HEAD)
        crc32_into(tail, data, length)
        try:
            f.write(head)
            f.write(data)
            f.write(tail)
            f.flush()  # acknowledged from here: the unix port fsyncs, LittleFS commits
        except OSError:
            self._damaged = True  # the next append cuts the partial record off first
            self.close()
            raise
        self._size += _OVERHEAD + length
        self.last_seq = seq
        return seq

    def _next_segment(self, first_seq):
        """Start a segment for first_seq, then evict the oldest beyond the bound.

        Creating before evicting: a crash in between leaves one segment too many (trimmed
        at start-up), never a folder that has forgotten the last seq.
        """
        self.close()
        self._create(first_seq)
        self._firsts.append(first_seq)
        while len(self._firsts) > self.segments:
            remove_quietly(self._path(self._firsts.pop(0)))
        self._size = 0

    def records(self, after_seq=0):
        """Yields (seq, payload bytes) for every stored record with seq > after_seq, oldest first.

        Reads one record at a time. Finish the iteration (or close the generator) before
        appending past a segment boundary: eviction deletes the oldest segment file.
        """
        firsts = self._firsts[:]
        start = 0
        for i in range(len(firsts)):
            if firsts[i] <= after_seq + 1:
                start = i  # earlier segments hold only seqs <= after_seq
        reader = _Reader()
        for i in range(start, len(firsts)):
            try:
                f = open(self._path(firsts[i]), "rb")
            except OSError:
                continue  # evicted since we took the list
            try:
                for record in reader.walk(f, firsts[i], after_seq):
                    yield record
            finally:
                f.close()
