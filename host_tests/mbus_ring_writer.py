# Child process of test_mbus_ring_crash.py (run under the MicroPython unix port): the
# poll scheduler reading the in-memory simulated slaves on demand, storing every data
# set in the ring, and acknowledging each stored one on stdout:
#   ack <seq> <device index> <crc32 of the telegrams, hex>
# It is killed with SIGKILL at random instants; the parent checks the ring after each kill.
# (MICROPYPATH from tools/repo_paths.py: micropython_env())
import sys

import asyncio
from binascii import crc32
import store
from clock import Clock
from mbus.master import Master, Device
from mbus.schedule import Scheduler, Entry
from mbus_memlink import MemoryUART, default_bus

# Small segments so that the ring rotates and evicts while being killed.
SEGMENT_BYTES = 1024
SEGMENTS = 3


def digest(telegrams):
    c = 0
    for t in telegrams:
        c = crc32(t, c)
    return c


async def main(folder):
    uart = MemoryUART(default_bus(), time_scale=0.0)
    master = Master(uart, 9600)
    master.rx.answer_ms = 40
    ring = store.Ring(folder, SEGMENT_BYTES, SEGMENTS)
    entries = [Entry(Device(a), {"every": "daily"}) for a in (1, 2, 3, 4)]
    sched = Scheduler(master, entries, Clock(), ring, emit=lambda kind, fields: None)
    print("start %d %d" % (ring.last_seq, ring.torn_dropped))
    i = 0
    while True:
        result = await sched.request_read(i % 4)
        if result.seq is not None:
            print("ack %d %d %08x" % (result.seq, i % 4, digest(result.telegrams)))
        i += 1


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
