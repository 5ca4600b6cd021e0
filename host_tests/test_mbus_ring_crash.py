# test: cpython-only (starts and SIGKILLs MicroPython processes)
# Data sets survive a power cut while they are being stored: the scheduler (under the
# MicroPython unix port, host_tests/mbus_ring_writer.py) stores data sets read from the
# simulated slaves and acknowledges each; it is killed with SIGKILL at random instants,
# and after every kill the ring is opened here and every acknowledged data set that the
# ring's bound still covers must be there, whole, as acknowledged.
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from binascii import crc32

import repo_paths
import store
from mbus.schedule import unpack_record
import mbus_ring_writer as writer

HERE = os.path.dirname(os.path.abspath(__file__))
WRITER = os.path.join(HERE, "mbus_ring_writer.py")
KILLS = 25
# The largest data set here (the heat meter's two telegrams) and the ring's guarantee:
# what was acknowledged stays until SEGMENTS - 1 newer segments were sealed after it.
LARGEST = 9 + 2 * (2 + 72)
KEPT_BYTES = (writer.SEGMENTS - 1) * (writer.SEGMENT_BYTES - (11 + LARGEST))


def test_killed_while_storing_loses_nothing_acknowledged():
    micropython = os.path.join(os.path.dirname(sys.executable), "micropython")
    seed = int(os.environ.get("MBUS_CRASH_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    work = tempfile.mkdtemp(prefix="mbus-ring-crash-")
    folder = os.path.join(work, "ring")
    acked = {}  # seq -> (index, digest)
    sizes = {}  # seq -> stored record size
    unacked = set()  # stored but never acknowledged: each was in flight when its writer was killed
    checked = 0
    try:
        for kill in range(KILLS):
            proc = subprocess.Popen([micropython, "-X", "heapsize=512K", WRITER, folder], stdout=subprocess.PIPE,
                                    text=True, env=repo_paths.micropython_env())
            first = proc.stdout.readline()
            assert first.startswith("start"), (seed, first)
            # Let it store a few data sets first (a condition, so a loaded machine still kills
            # it while storing), then kill it at a random instant.
            lines = [proc.stdout.readline() for _ in range(rng.randint(1, 3))]
            time.sleep(rng.uniform(0.0, 0.05))
            proc.kill()
            out, _ = proc.communicate()
            for line in lines + out.splitlines():
                if line.startswith("ack "):
                    _, seq, index, dig = line.split()
                    acked[int(seq)] = (int(index), int(dig, 16))
            # Check a copy (the next writer repairs the original, as a rebooted meter would).
            copy = os.path.join(work, "copy")
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(folder, copy)
            ring = store.Ring(copy, writer.SEGMENT_BYTES, writer.SEGMENTS)
            found = {}
            for seq, data in ring.records():
                index, kind, code, _, frames = unpack_record(data)
                dig = 0
                for f in frames:
                    dig = crc32(f, dig)
                found[seq] = (index, dig)
                sizes[seq] = len(data) + 11
            ring.close()
            seqs = sorted(found)
            assert seqs == list(range(seqs[0], seqs[-1] + 1)) if seqs else True, (
                "seed %d: the ring's sequence numbers have a gap: %r" % (seed, seqs))
            # Each writer may leave one record stored but not acknowledged (killed between the
            # two); such records stay, so the ring may hold several past the newest ack, one per kill.
            in_flight = [s for s in seqs if s not in acked and s not in unacked]
            assert len(in_flight) <= 1, "seed %d: %d unacknowledged records from one writer: %r" % (
                seed, len(in_flight), in_flight)
            unacked.update(in_flight)
            for seq, want in acked.items():
                if seq in found:
                    assert found[seq] == want, "seed %d: record %d differs from what was acknowledged" % (seed, seq)
                    checked += 1
                else:
                    # Only eviction may take it: newer records must fill the retained bytes.
                    newer = sum(sizes.get(s, 0) for s in seqs if s > seq)
                    assert newer >= KEPT_BYTES, (
                        "seed %d: acknowledged record %d is gone with only %d newer bytes (%d kept)" % (
                            seed, seq, newer, KEPT_BYTES))
        print("seed %d: %d data sets acknowledged, %d checked present" % (seed, len(acked), checked))
        assert len(acked) > 20, "seed %d: only %d acks: the kills landed at start-up" % (seed, len(acked))
    finally:
        shutil.rmtree(work, ignore_errors=True)
