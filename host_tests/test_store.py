# The power-fail-safe store: atomic records, rings, counters, and damage injected by hand.
import os
import struct
from binascii import crc32

import rt
import store
import support


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _segments(folder):
    return sorted(n for n in os.listdir(folder) if n.endswith(".seg"))


def _folder_bytes(folder):
    return sum(os.stat(folder + "/" + n)[6] for n in os.listdir(folder))


def _payload(i):
    """Deterministic payloads of varied length (0..49 bytes)."""
    return (b"%d:" % i + b"abcdefghij" * 5)[: (i * 37) % 50]


def _filled_ring(folder, count, segment_bytes=4096, segments=4):
    ring = store.Ring(folder, segment_bytes, segments)
    for i in range(1, count + 1):
        assert ring.append(_payload(i)) == i
    ring.close()


# -- AtomicRecord ------------------------------------------------------------------


def test_atomic_record_round_trip_and_reopen():
    d = support.tmpdir("store")
    rec = store.AtomicRecord(d + "/rec")
    assert rec.read() is None
    rec.write(b"first value")
    assert rec.read() == b"first value"
    assert store.AtomicRecord(d + "/rec").read() == b"first value"
    rec.write(b"2")  # shorter than before: nothing of the old value may remain
    assert store.AtomicRecord(d + "/rec").read() == b"2"
    rec.write(b"")
    assert rec.read() == b""
    rec.write(bytearray(b"\x00\xff" * 300))
    assert rec.read() == b"\x00\xff" * 300
    assert os.listdir(d) == ["rec"]
    support.rmtree(d)


def test_atomic_record_json_round_trip():
    d = support.tmpdir("store")
    rec = store.AtomicRecord(d + "/reg")
    assert rec.read_json() is None
    rec.write_json({"import_wh": 12345678901, "export_wh": 0, "tags": ["a", "b"]})
    assert store.AtomicRecord(d + "/reg").read_json() == {
        "import_wh": 12345678901,
        "export_wh": 0,
        "tags": ["a", "b"],
    }
    support.rmtree(d)


def test_atomic_record_layout_is_as_documented():
    d = support.tmpdir("store")
    store.AtomicRecord(d + "/rec").write(b"hello")
    raw = _read(d + "/rec")
    assert raw[:4] == b"AR\x01\x00"
    assert struct.unpack("<II", raw[4:12]) == (5, crc32(b"hello", crc32(raw[:8])))
    assert raw[12:] == b"hello"
    support.rmtree(d)


def test_atomic_record_ignores_and_removes_a_torn_new_file():
    d = support.tmpdir("store")
    rec = store.AtomicRecord(d + "/rec")
    rec.write(b"acknowledged")
    other = store.AtomicRecord(d + "/other")
    other.write(b"the value being written when the power went")
    whole = _read(d + "/other")
    for cut in (0, 3, 12, len(whole) - 1):
        _write(d + "/rec.new", whole[:cut])
        assert store.AtomicRecord(d + "/rec").read() == b"acknowledged"
        assert not _exists(d + "/rec.new")
    # A complete .new beside a valid main file: its write never returned, the old value stands.
    _write(d + "/rec.new", whole)
    assert rec.read() == b"acknowledged"
    assert not _exists(d + "/rec.new")
    rec.write(b"next")
    assert rec.read() == b"next"
    support.rmtree(d)


def test_atomic_record_complete_new_file_without_main_is_promoted():
    # What a crash inside a non-atomic rename (FAT: remove, then rename) leaves behind.
    d = support.tmpdir("store")
    store.AtomicRecord(d + "/other").write(b"newer")
    os.rename(d + "/other", d + "/rec.new")
    rec = store.AtomicRecord(d + "/rec")
    assert rec.read() == b"newer"
    assert _exists(d + "/rec") and not _exists(d + "/rec.new")
    assert rec.read() == b"newer"
    # A torn .new and no main file: the record was never written.
    _write(d + "/fresh.new", b"AR\x01\x00\x05")
    assert store.AtomicRecord(d + "/fresh").read() is None
    assert not _exists(d + "/fresh.new")
    support.rmtree(d)


def test_atomic_record_corrupt_main_file_raises_or_falls_back_to_new():
    d = support.tmpdir("store")
    rec = store.AtomicRecord(d + "/rec")
    rec.write(b"value 1")
    good = _read(d + "/rec")
    damaged = [
        good[:-1] + bytes([good[-1] ^ 0x01]),  # a flipped data bit
        good[:6] + b"\x7f" + good[7:],  # a garbled length
        good[:-2],  # short
        good + b"\x00",  # trailing bytes
        b"XR" + good[2:],  # bad magic
        b"",
    ]
    for bad in damaged:
        _write(d + "/rec", bad)
        exc = support.raises(store.StoreError, rec.read)
        assert "corrupt" in str(exc)
    # With a complete .new beside it, the newer value is used and put in place.
    store.AtomicRecord(d + "/other").write(b"value 2")
    os.rename(d + "/other", d + "/rec.new")
    assert rec.read() == b"value 2"
    assert store.AtomicRecord(d + "/rec").read() == b"value 2"
    support.rmtree(d)


def test_atomic_record_write_creates_missing_folders():
    d = support.tmpdir("store")
    rec = store.AtomicRecord(d + "/data/meter/rec")
    assert rec.read() is None
    rec.write(b"x")
    assert store.AtomicRecord(d + "/data/meter/rec").read() == b"x"
    support.rmtree(d)


# -- Ring --------------------------------------------------------------------------


def test_ring_append_and_read_back():
    d = support.tmpdir("store")
    ring = store.Ring(d + "/ring")
    assert ring.last_seq == 0 and list(ring.records()) == []
    for i in range(1, 21):
        assert ring.append(_payload(i)) == i
        assert ring.last_seq == i
    assert list(ring.records()) == [(i, _payload(i)) for i in range(1, 21)]
    assert list(ring.records(after_seq=17)) == [(i, _payload(i)) for i in (18, 19, 20)]
    assert list(ring.records(after_seq=20)) == []
    assert ring.append(b"") == 21  # an empty payload is a record too
    assert list(ring.records(20)) == [(21, b"")]
    ring.close()
    support.rmtree(d)


def test_ring_record_layout_is_as_documented():
    d = support.tmpdir("store")
    ring = store.Ring(d + "/ring")
    ring.append(b"abc")
    ring.append(b"de")
    ring.close()
    assert _segments(d + "/ring") == ["00000001.seg"]
    raw = _read(d + "/ring/00000001.seg")
    first = b"\xa5\x03\x00\x01\x00\x00\x00abc"
    assert raw[:10] == first and raw[10:14] == struct.pack("<I", crc32(first))
    second = b"\xa5\x02\x00\x02\x00\x00\x00de"
    assert raw[14:23] == second and raw[23:] == struct.pack("<I", crc32(second))
    support.rmtree(d)


def test_ring_reopen_continues_the_sequence():
    d = support.tmpdir("store")
    _filled_ring(d + "/ring", 5)
    ring = store.Ring(d + "/ring")
    assert ring.last_seq == 5 and ring.torn_dropped == 0 and ring.corrupt_skipped == 0
    assert ring.append(b"six") == 6
    ring.close()
    ring = store.Ring(d + "/ring")
    assert [s for s, _ in ring.records()] == [1, 2, 3, 4, 5, 6]
    assert list(ring.records(5)) == [(6, b"six")]
    ring.close()
    support.rmtree(d)


def test_ring_wraps_across_segments_with_bounded_disk_usage():
    d = support.tmpdir("store")
    folder = d + "/ring"
    segment_bytes, segments = 256, 4
    ring = store.Ring(folder, segment_bytes, segments)
    largest = 11 + 49  # overhead plus the largest _payload
    for i in range(1, 601):
        assert ring.append(_payload(i)) == i
        assert len(_segments(folder)) <= segments
        assert _folder_bytes(folder) <= segments * segment_bytes
    held = list(ring.records())
    seqs = [s for s, _ in held]
    assert seqs == list(range(seqs[0], 601))  # contiguous up to the newest
    assert seqs[0] > 1  # the oldest were evicted...
    for seq, data in held:
        assert data == _payload(seq)
    # ...but never more than the bound requires: the sealed segments are nearly full.
    assert sum(11 + len(data) for _, data in held) >= (segments - 1) * (segment_bytes - largest)
    assert list(ring.records(590)) == [(i, _payload(i)) for i in range(591, 601)]
    assert list(ring.records(seqs[0] - 5)) == held  # evicted ones asked for: from the oldest on
    ring.close()
    again = store.Ring(folder, segment_bytes, segments)
    assert again.last_seq == 600 and list(again.records()) == held
    assert again.append(b"more") == 601
    again.close()
    support.rmtree(d)


def test_ring_torn_tail_is_dropped_counted_and_appends_continue():
    d = support.tmpdir("store")
    record_bytes = 11 + len(_payload(5))
    for cut in (1, 3, 4, 7, 8, record_bytes - 1):
        folder = "%s/ring%d" % (d, cut)
        _filled_ring(folder, 5)
        path = folder + "/00000001.seg"
        raw = _read(path)
        _write(path, raw[:-cut])  # the kill came `cut` bytes before the record was complete
        ring = store.Ring(folder)
        assert ring.torn_dropped == 1, cut
        assert ring.last_seq == 4
        assert list(ring.records()) == [(i, _payload(i)) for i in range(1, 5)]
        assert _read(path) == raw[:-record_bytes]  # the torn bytes are gone from the file
        assert ring.append(b"after the crash") == 5
        ring.close()
        ring = store.Ring(folder)
        assert ring.torn_dropped == 0
        assert list(ring.records(3)) == [(4, _payload(4)), (5, b"after the crash")]
        ring.close()
    support.rmtree(d)


def test_ring_garbage_tail_is_dropped():
    d = support.tmpdir("store")
    tails = (
        b"\xff" * 40,  # erased flash
        b"\x00" * 40,
        b"\xa5\x05\x00\x06\x00\x00\x00ab",  # a header and part of a payload
        b"\xa5\x02\x00\x06\x00\x00\x00ab\x00\x00\x00\x00",  # complete but a wrong CRC
        b"\xa5\x02\x00\x09\x00\x00\x00ab",  # the wrong seq
    )
    for n in range(len(tails)):
        folder = "%s/ring%d" % (d, n)
        _filled_ring(folder, 5)
        path = folder + "/00000001.seg"
        tail = tails[n]
        if n == 4:  # give the wrong-seq record a valid CRC: only its seq is wrong
            tail += struct.pack("<I", crc32(tail))
        _write(path, _read(path) + tail)
        ring = store.Ring(folder)
        assert ring.torn_dropped == 1 and ring.last_seq == 5, n
        assert [s for s, _ in ring.records()] == [1, 2, 3, 4, 5]
        assert ring.append(b"x") == 6
        ring.close()
        assert list(store.Ring(folder).records(5)) == [(6, b"x")]
    support.rmtree(d)


def _record_offsets(raw):
    offsets = []
    pos = 0
    while pos < len(raw):
        offsets.append(pos)
        pos += 11 + (raw[pos + 1] | raw[pos + 2] << 8)
    return offsets


def test_ring_corrupt_record_in_the_middle_is_skipped_not_returned():
    d = support.tmpdir("store")
    folder = d + "/ring"
    _filled_ring(folder, 6)
    path = folder + "/00000001.seg"
    raw = bytearray(_read(path))
    third = _record_offsets(raw)[2]
    raw[third + 8] ^= 0x40  # a payload bit of record 3
    _write(path, raw)
    ring = store.Ring(folder)
    assert ring.corrupt_skipped == 1 and ring.torn_dropped == 0
    assert ring.last_seq == 6
    assert list(ring.records()) == [(i, _payload(i)) for i in (1, 2, 4, 5, 6)]
    assert ring.append(b"seven") == 7
    assert list(ring.records(5)) == [(6, _payload(6)), (7, b"seven")]
    ring.close()
    support.rmtree(d)


def test_ring_corrupt_length_ends_the_segment_s_valid_part():
    # A garbled length hides where the next record starts: the rest of that segment is
    # lost, later segments are not.
    d = support.tmpdir("store")
    folder = d + "/ring"
    _filled_ring(folder, 40, segment_bytes=256, segments=4)
    names = _segments(folder)
    oldest = folder + "/" + names[0]
    first = int(names[0][:8], 16)
    raw = bytearray(_read(oldest))
    second = _record_offsets(raw)[1]
    raw[second + 1] ^= 0x10
    _write(oldest, raw)
    ring = store.Ring(folder, 256, 4)
    assert ring.torn_dropped == 1 and ring.last_seq == 40
    seqs = [s for s, _ in ring.records()]
    next_first = int(names[1][:8], 16)
    assert seqs == [first] + list(range(next_first, 41))
    assert _read(oldest) == raw  # a sealed segment is never rewritten
    ring.close()
    support.rmtree(d)


def test_ring_rejects_a_record_larger_than_a_segment():
    d = support.tmpdir("store")
    ring = store.Ring(d + "/ring", segment_bytes=64, segments=2)
    ring.append(b"small")
    exc = support.raises(store.StoreError, ring.append, b"x" * 54)
    assert "54" in str(exc)
    assert ring.last_seq == 1
    assert ring.append(b"y" * 53) == 2  # exactly a segment: 11 + 53 bytes
    assert list(ring.records()) == [(1, b"small"), (2, b"y" * 53)]
    ring.close()
    support.raises(ValueError, store.Ring, d + "/bad", 11, 2)
    support.rmtree(d)


def test_ring_trims_the_extra_segment_of_an_interrupted_rotation():
    d = support.tmpdir("store")
    folder = d + "/ring"
    _filled_ring(folder, 40, segment_bytes=256, segments=3)
    names = _segments(folder)
    assert len(names) == 3
    _write(folder + "/%08x.seg" % 41, b"")  # created, but the oldest not yet evicted
    ring = store.Ring(folder, 256, 3)
    assert _segments(folder) == names[1:] + ["00000029.seg"]
    assert ring.last_seq == 40 and ring.torn_dropped == 0
    assert ring.append(b"next") == 41
    assert list(ring.records(39)) == [(40, _payload(40)), (41, b"next")]
    ring.close()
    support.rmtree(d)


def test_ring_keeps_its_sequence_when_only_an_empty_segment_is_left():
    # One segment: moving on deletes all history, but the new segment's name keeps the seq.
    d = support.tmpdir("store")
    folder = d + "/ring"
    ring = store.Ring(folder, segment_bytes=32, segments=1)
    assert ring.append(b"a" * 21) == 1  # fills the segment exactly
    assert ring.append(b"b") == 2
    assert _segments(folder) == ["00000002.seg"]
    ring.close()
    # A crash right after the move: the new segment exists and is empty.
    os.remove(folder + "/00000002.seg")
    _write(folder + "/00000003.seg", b"")
    ring = store.Ring(folder, 32, 1)
    assert ring.last_seq == 2 and list(ring.records()) == []
    assert ring.append(b"c") == 3
    ring.close()
    support.rmtree(d)


def test_ring_removes_a_leftover_repair_file():
    d = support.tmpdir("store")
    folder = d + "/ring"
    _filled_ring(folder, 3)
    _write(folder + "/00000001.seg.new", b"\xa5\x01")
    ring = store.Ring(folder)
    assert os.listdir(folder) == ["00000001.seg"]
    assert ring.last_seq == 3 and ring.torn_dropped == 0
    ring.close()
    support.rmtree(d)


class _FailingFile:
    """Writes the first `good` calls through, then fails as a full disk would."""

    def __init__(self, f, good):
        self.f = f
        self.good = good

    def write(self, data):
        if self.good == 0:
            self.f.write(bytes(data)[:1])  # a partial write, then the error
            raise OSError(28)
        self.good -= 1
        return self.f.write(data)

    def flush(self):
        self.f.flush()

    def close(self):
        self.f.close()


def test_ring_a_failed_append_leaves_no_garbage_for_the_next():
    d = support.tmpdir("store")
    folder = d + "/ring"
    ring = store.Ring(folder)
    ring.append(b"one")
    ring._file = _FailingFile(ring._file, 1)  # header written, payload fails
    support.raises(OSError, ring.append, b"two")
    assert ring.last_seq == 1
    assert ring.append(b"two again") == 2
    ring.close()
    ring = store.Ring(folder)
    assert ring.torn_dropped == 0
    assert list(ring.records()) == [(1, b"one"), (2, b"two again")]
    ring.close()
    support.rmtree(d)


def test_ring_start_up_scan_and_reading_fit_in_less_than_a_segment_of_heap():
    if rt.EMULATED:
        support.skip("the heap is measured under MicroPython")
    import gc

    d = support.tmpdir("store")
    folder = d + "/ring"
    _filled_ring(folder, 420, segment_bytes=4096, segments=4)  # ~15 KiB of records
    # Leave less than one segment of heap: a scan that loaded a segment whole would fail.
    gc.collect()
    reserve = bytearray(3072)  # the only sizeable hole left once it is released
    ballast = [None] * 400  # preallocated: growing the list could itself fail
    held = 0
    size = 16384
    while size >= 16 and held < len(ballast):
        try:
            ballast[held] = bytearray(size)
            held += 1
        except MemoryError:
            size //= 2  # fill the smaller holes too
    del reserve  # releases the hole for the ring below
    gc.collect()
    free = gc.mem_free()
    support.raises(MemoryError, bytearray, 4096)  # a whole segment would not fit
    try:
        ring = store.Ring(folder, 4096, 4)
        count = 0
        for seq, data in ring.records():
            count += 1
        last_seq = ring.last_seq
        ring.close()
    finally:
        ballast = None
        gc.collect()
    assert free < 4096, free
    assert last_seq == 420 and count == 420
    support.rmtree(d)


# -- Counter -----------------------------------------------------------------------


def test_counter_starts_at_one_and_peek_does_not_consume():
    d = support.tmpdir("store")
    ctr = store.Counter(d + "/ctr")
    assert ctr.peek() == 1 and ctr.peek() == 1
    assert [ctr.next() for _ in range(3)] == [1, 2, 3]
    assert ctr.peek() == 4
    assert store.AtomicRecord(d + "/ctr").read() == b"16"  # one block reserved
    support.rmtree(d)


def test_counter_never_repeats_across_reopen():
    d = support.tmpdir("store")
    block = 4
    handed = []
    for run in range(12):
        ctr = store.Counter(d + "/ctr", block=block)
        first = ctr.peek()
        if handed:
            assert handed[-1] < first <= handed[-1] + block  # skipped at most block - 1
        for _ in range(run % 7):
            handed.append(ctr.next())
    assert handed == sorted(set(handed))
    support.rmtree(d)


def test_counter_block_of_one_persists_every_value():
    d = support.tmpdir("store")
    ctr = store.Counter(d + "/ctr", block=1)
    for expected in range(1, 6):
        assert ctr.next() == expected
        assert store.AtomicRecord(d + "/ctr").read() == str(expected).encode()
        assert store.Counter(d + "/ctr", block=1).peek() == expected + 1
    support.raises(ValueError, store.Counter, d + "/bad", 0)
    support.rmtree(d)


def test_counter_start_value():
    d = support.tmpdir("store")
    ctr = store.Counter(d + "/ctr", block=8, start=1000)
    assert ctr.next() == 1000
    assert store.Counter(d + "/ctr", block=8).peek() == 1008  # resumes past the reservation
    assert store.Counter(d + "/ctr", block=8, start=5000).peek() == 5000  # a higher floor wins
    support.rmtree(d)


def test_counter_refuses_to_guess_after_corruption():
    d = support.tmpdir("store")
    store.Counter(d + "/ctr").next()
    raw = _read(d + "/ctr")
    _write(d + "/ctr", raw[:-1] + b"9")
    support.raises(store.StoreError, store.Counter, d + "/ctr")
    store.AtomicRecord(d + "/ctr").write(b"not a number")
    support.raises(store.StoreError, store.Counter, d + "/ctr")
    support.rmtree(d)


# -- Power cuts on LittleFS -------------------------------------------------------
# The device filesystem, run on a RAM block device whose power goes after a given number
# of block programs and erases (the last program optionally torn in half). Every cut point
# of a workload is tried; after each, the surviving bytes are mounted afresh and checked.

_LFS_BLOCK_BYTES = 512
_LFS_BLOCKS = 64  # 32 KiB: the image and its working copy fit a 32-bit board's heap beside the test
_LFS_SEGMENT_BYTES = 512
_LFS_SEGMENTS = 4
_LFS_CTR_BLOCK = 4
_LFS_MOUNT = "/store-power-cut"


class RamFlash:
    """Block device protocol of MicroPython's vfs (extended interface) over a bytearray.

    At the cut the device dies: that program (or erase) and every later one fail with EIO,
    and nothing more reaches the bytes. (vfs turns an exception raised here into an error
    code anyway; returning one allocates nothing, which matters when a GC finaliser closes
    a file the dead filesystem left open.) The benchmark uses it to count flash operations.
    """

    def __init__(self, data, block_bytes=_LFS_BLOCK_BYTES):
        self.data = data
        self.block_bytes = block_bytes
        self.budget = -1  # programs and erases left before the cut; -1: no cut
        self.tear = False  # the program the cut lands in writes its first half
        self.programs = 0
        self.erases = 0
        self.dead = False

    @property
    def ops(self):
        return self.programs + self.erases

    def _spend(self):
        if self.budget == 0:
            self.dead = True
            return False
        if self.budget > 0:
            self.budget -= 1
        return True

    def readblocks(self, block, buf, offset=0):
        if self.dead:
            return -5
        start = block * self.block_bytes + offset
        buf[:] = self.data[start : start + len(buf)]
        return 0

    def writeblocks(self, block, buf, offset=0):
        if self.dead:
            return -5
        start = block * self.block_bytes + offset
        if not self._spend():
            if self.tear:
                half = len(buf) // 2
                self.data[start : start + half] = buf[:half]
            return -5
        self.programs += 1
        self.data[start : start + len(buf)] = buf
        return 0

    def ioctl(self, op, arg):
        if op == 4:  # block count
            return len(self.data) // self.block_bytes
        if op == 5:  # block size
            return self.block_bytes
        if op == 6:  # erase
            if self.dead or not self._spend():
                return -5
            self.erases += 1
            start = arg * self.block_bytes
            self.data[start : start + self.block_bytes] = b"\xff" * self.block_bytes
        return 0


def _lfs_payload(seq):
    return (b"%d;" % seq) * ((seq * 7) % 13)  # 0..60 bytes, known from the seq alone


def _lfs_open():
    root = _LFS_MOUNT
    ring = store.Ring(root + "/ring", _LFS_SEGMENT_BYTES, _LFS_SEGMENTS)
    rec = store.AtomicRecord(root + "/rec")
    return ring, rec, store.Counter(root + "/ctr", block=_LFS_CTR_BLOCK)


def _lfs_workload(acked, ops):
    """Ring appends, record writes and counter values; `acked` notes each one completed."""
    ring, rec, ctr = _lfs_open()
    try:
        for i in range(ops):
            kind = i % 4
            if kind < 2:
                acked["ring"] = ring.append(_lfs_payload(ring.last_seq + 1))
            elif kind == 2:
                rec.write(b"%d" % (acked["rec"] + 1))
                acked["rec"] += 1
            else:
                acked["ctr"] = ctr.next()
    finally:
        try:
            ring.close()
        except OSError:
            pass  # the power is gone


def _lfs_check(acked):
    ring, rec, ctr = _lfs_open()
    assert ring.corrupt_skipped == 0
    assert acked["ring"] <= ring.last_seq <= acked["ring"] + 1
    held = list(ring.records())
    seqs = [seq for seq, _ in held]
    assert seqs == list(range(seqs[0], ring.last_seq + 1))
    for seq, data in held:
        assert data == _lfs_payload(seq), seq
    retained = sum(11 + len(data) for _, data in held)
    assert seqs[0] == 1 or retained >= (_LFS_SEGMENTS - 1) * (_LFS_SEGMENT_BYTES - 11 - 60)
    assert int(rec.read()) in (acked["rec"], acked["rec"] + 1)
    assert acked["ctr"] < ctr.peek() <= acked["ctr"] + 1 + _LFS_CTR_BLOCK
    # The store goes on working after the cut.
    seq = ring.append(b"after the cut")
    ring.close()
    again, _, _ = _lfs_open()
    assert list(again.records(seq - 1)) == [(seq, b"after the cut")]
    again.close()
    return ring.torn_dropped


def _mount(data):
    import vfs

    flash = RamFlash(data)
    vfs.mount(vfs.VfsLfs2(flash), _LFS_MOUNT)
    return flash


def _umount():
    import vfs

    vfs.umount(_LFS_MOUNT)


def littlefs_power_cut_sweep(ops):
    """Cut the power at every block program/erase of an `ops`-operation workload and check
    the store after each; returns the number of cut points tried (the benchmark calls it)."""
    import vfs

    base = bytearray(_LFS_BLOCKS * _LFS_BLOCK_BYTES)  # erased (0xff) a block at a time: no image-sized temporary
    erased = b"\xff" * _LFS_BLOCK_BYTES
    for at in range(0, len(base), _LFS_BLOCK_BYTES):
        base[at : at + _LFS_BLOCK_BYTES] = erased
    vfs.VfsLfs2.mkfs(RamFlash(base))
    acked_base = {"ring": 0, "rec": 0, "ctr": 0}
    _mount(base)
    try:
        _lfs_workload(acked_base, 150)  # the ring is full: the cuts also hit eviction
    finally:
        _umount()
    work = bytearray(len(base))
    work[:] = base
    flash = _mount(work)
    try:
        _lfs_workload(dict(acked_base), ops)
    finally:
        _umount()
    program_ops = flash.ops
    assert program_ops > ops  # at least one program per operation
    for cut in range(program_ops + 1):
        work[:] = base
        acked = dict(acked_base)
        flash = _mount(work)
        flash.budget = cut
        flash.tear = cut % 2 == 1
        try:
            _lfs_workload(acked, ops)
        except OSError:
            assert flash.dead  # the cut, seen by the store as an I/O error
        finally:
            _umount()
        assert flash.dead or cut == program_ops  # only the last "cut" comes after the workload
        _mount(work)  # the surviving bytes, as the next boot finds them
        try:
            _lfs_check(acked)
        except AssertionError as exc:
            where = "cut after %d of %d block operations" % (cut, program_ops)
            raise AssertionError("%s: %r" % (where, exc))
        finally:
            _umount()
    return program_ops + 1


def test_every_power_cut_point_on_littlefs_keeps_what_was_acknowledged():
    try:
        import vfs

        vfs.VfsLfs2
    except (ImportError, AttributeError):
        support.skip("needs MicroPython's LittleFS (vfs.VfsLfs2)")
    assert littlefs_power_cut_sweep(24) > 24


def test_a_ring_append_allocates_nothing():
    # On a 32-bit port a CRC-32 of 2**30 or more is a long int on the heap: the old append
    # (binascii.crc32 twice) allocated one or two per record, three records in four.
    if rt.EMULATED:
        support.skip("needs MicroPython's heap")
    import gc
    import micropython

    folder = support.tmpdir("alloc")
    ring = store.Ring(folder, 4096, 2)
    try:
        payloads = [bytes((k * 37 + i) & 0xFF for i in range(40)) for k in range(24)]
        ring.append(payloads[0])  # opens the segment file (allocates: a file object, once)
        gc.collect()
        before = gc.mem_alloc()
        micropython.heap_lock()  # any allocation raises MemoryError
        try:
            for k in range(1, 24):  # 24 x 51 bytes: all in the first segment
                ring.append(payloads[k])
        finally:
            micropython.heap_unlock()
        assert gc.mem_alloc() == before, "expected no allocation, %d bytes" % (gc.mem_alloc() - before)
        ring.close()
        held = list(store.Ring(folder, 4096, 2).records())
        assert [data for _, data in held] == payloads and held[-1][0] == 24, held[-1]
        with open(folder + "/00000001.seg", "rb") as f:  # the CRCs are binascii's
            raw = f.read()
        assert struct.unpack_from("<I", raw, 47)[0] == crc32(raw[:47]), "record 1's CRC-32"
    finally:
        ring.close()
        support.rmtree(folder)
