# Store worker process for the crash test and benchmark, run under the MicroPython unix port
# (MICROPYPATH=$(python3 tools/repo_paths.py micropython) before each command below).
#
#   micropython store_writer.py write DIR SEED   loop: ring appends, record writes, counter
#                                                 values, one acknowledgement line after each
#   micropython store_writer.py check DIR        print what the store holds, then exit
#   micropython store_writer.py bench DIR [N]    time the operations and count LittleFS flash
#                                                 operations per call; print one JSON line
#
# Lines are written with one sys.stdout.write each: the unix port writes straight to the
# file descriptor, so a line is either all there or (killed mid-write) lacks its newline.
# (Under CPython run it with -u.)

import sys
import os

import hashlib
import random
from binascii import hexlify
import store

# The store the crash test drives: small segments so the ring moves on (and evicts) often.
SEGMENT_BYTES = 512
SEGMENTS = 4
MAX_PAYLOAD = 63  # payloads are 0..63 bytes
CTR_BLOCK = 4
REC_PAD_MAX = 255  # the record's JSON carries 0..255 bytes of padding


def digest(data):
    """The payload hash an acknowledgement carries (first 8 bytes of SHA-256, hex)."""
    return hexlify(hashlib.sha256(data).digest()[:8]).decode()


def open_store(folder):
    ring = store.Ring(folder + "/ring", SEGMENT_BYTES, SEGMENTS)
    rec = store.AtomicRecord(folder + "/rec")
    ctr = store.Counter(folder + "/ctr", block=CTR_BLOCK)
    return ring, rec, ctr


def _summary(ring, n, ctr):
    """last_seq torn_dropped corrupt_skipped record-value counter-peek"""
    fields = (ring.last_seq, ring.torn_dropped, ring.corrupt_skipped, n, ctr.peek())
    return "%d %d %d %d %d" % fields


def write(folder, seed):
    out = sys.stdout.write
    random.seed(seed)
    ring, rec, ctr = open_store(folder)
    saved = rec.read_json()
    n = saved["n"] if saved else 0
    out("start %s\n" % _summary(ring, n, ctr))
    while True:
        op = random.getrandbits(2)
        if op < 2:
            payload = os.urandom(random.getrandbits(6))
            seq = ring.append(payload)
            out("ring %d %s\n" % (seq, digest(payload)))
        elif op == 2:
            n += 1
            rec.write_json({"n": n, "pad": "p" * random.getrandbits(8)})
            out("rec %d\n" % n)
        else:
            out("ctr %d\n" % ctr.next())


def check(folder):
    out = sys.stdout.write
    ring, rec, ctr = open_store(folder)
    for seq, data in ring.records():
        out("ring %d %s\n" % (seq, digest(data)))
    saved = rec.read_json()
    out("end %s\n" % _summary(ring, saved["n"] if saved else 0, ctr))
    ring.close()


def _median_us(samples):
    samples.sort()
    return samples[len(samples) // 2]


def bench(folder, count):
    import time
    import gc
    import json

    ticks_us, ticks_diff = time.ticks_us, time.ticks_diff
    payload = b"x" * 32
    result = {"count": count, "payload_bytes": len(payload)}
    result.update(flash_costs(count, payload))  # first, while the heap has room for the flash

    ring = store.Ring(folder + "/ring", 4096, 4)
    times = []
    for _ in range(count):
        t0 = ticks_us()
        ring.append(payload)
        times.append(ticks_diff(ticks_us(), t0))
    result["ring_append_us"] = _median_us(times)
    for _ in range(3000):  # fill the ring to its bound for the open and read timings
        ring.append(payload)
    ring.close()

    gc.collect()
    before = gc.mem_alloc()
    t0 = ticks_us()
    ring = store.Ring(folder + "/ring", 4096, 4)
    result["ring_open_full_us"] = ticks_diff(ticks_us(), t0)
    result["ring_open_alloc_bytes"] = gc.mem_alloc() - before
    t0 = ticks_us()
    held = 0
    for _ in ring.records():
        held += 1
    result["ring_read_all_us"] = ticks_diff(ticks_us(), t0)
    result["ring_records_held"] = held
    ring.append(payload)  # opens the segment file
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(10):
        ring.append(payload)
    result["ring_append_alloc_bytes"] = (gc.mem_alloc() - before) // 10
    ring.close()

    rec = store.AtomicRecord(folder + "/rec")
    times = []
    for _ in range(count):
        t0 = ticks_us()
        rec.write(payload)
        times.append(ticks_diff(ticks_us(), t0))
    result["record_write_us"] = _median_us(times)
    times = []
    for _ in range(count):
        t0 = ticks_us()
        rec.read()
        times.append(ticks_diff(ticks_us(), t0))
    result["record_read_us"] = _median_us(times)

    for block in (1, 16):
        ctr = store.Counter(folder + "/ctr%d" % block, block=block)
        times = []
        for _ in range(count):
            t0 = ticks_us()
            ctr.next()
            times.append(ticks_diff(ticks_us(), t0))
        result["counter_next_block%d_us" % block] = _median_us(times)
    print(json.dumps(result))


def flash_costs(count, payload):
    """Block programs and erases per call on LittleFS over emulated 4 KiB-block flash."""
    import vfs
    import test_store  # its RamFlash block device

    flash = test_store.RamFlash(bytearray(32 * 4096), 4096)  # mkfs erases what it uses
    vfs.VfsLfs2.mkfs(flash)
    vfs.mount(vfs.VfsLfs2(flash), "/bench-lfs")
    costs = {}
    try:
        ring = store.Ring("/bench-lfs/ring", 4096, 4)
        rec = store.AtomicRecord("/bench-lfs/rec")
        ctr1 = store.Counter("/bench-lfs/ctr1", block=1)
        ctr16 = store.Counter("/bench-lfs/ctr16", block=16)
        for name, call in (
            ("ring_append", lambda: ring.append(payload)),
            ("record_write", lambda: rec.write(payload)),
            ("counter_next_block1", ctr1.next),
            ("counter_next_block16", ctr16.next),
        ):
            programs, erases = flash.programs, flash.erases
            for _ in range(count):
                call()
            costs["lfs_%s_programs" % name] = (flash.programs - programs) / count
            costs["lfs_%s_erases" % name] = (flash.erases - erases) / count
        ring.close()
    finally:
        vfs.umount("/bench-lfs")
    return costs


def main(args):
    if len(args) >= 3 and args[0] == "write":
        write(args[1], int(args[2]))
    elif len(args) == 2 and args[0] == "check":
        check(args[1])
    elif len(args) >= 2 and args[0] == "bench":
        bench(args[1], int(args[2]) if len(args) > 2 else 300)
    else:
        print("usage: store_writer.py write DIR SEED | check DIR | bench DIR [N]")
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv[1:])
