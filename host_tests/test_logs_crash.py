# test: cpython-only (starts and SIGKILLs MicroPython log writer processes)
# Power-fail test of the device logs: a MicroPython process appends to a rotating consumer
# log and to the calibration log and acknowledges each record once append() returned; it
# is killed with SIGKILL at random instants, many times. After every kill the logs are
# reopened here (same lib code, CPython): nothing acknowledged is lost (the calibration log
# keeps all of it; the consumer log everything not rotated out, and its newest record),
# sequence numbers stay gapless, and the next writer continues after the last record.
# Reproduce with LOG_CRASH_SEED=<seed printed>.

import os
import random
import signal
import subprocess
import sys
import time

import log_writer
import repo_paths
from support import tmpdir, rmtree

HERE = os.path.dirname(os.path.abspath(__file__))
KILLS = 30


def _micropython():
    path = os.path.join(os.path.dirname(sys.executable), "micropython")
    assert os.access(path, os.X_OK), "MicroPython unix port not found (make setup)"
    return path


def _run_once(folder, start, seed, delay_s):
    proc = subprocess.Popen([_micropython(), "-X", "heapsize=512K", os.path.join(HERE, "log_writer.py"), folder,
                             str(start), str(seed)], stdout=subprocess.PIPE, env=repo_paths.micropython_env())
    time.sleep(delay_s)
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate()
    acked = {"c": {}, "k": {}}
    for line in out.decode().split("\n")[:-1]:  # the last piece lacks its newline if cut
        parts = line.split()
        if parts and parts[0] in acked and len(parts) == 3:
            acked[parts[0]][int(parts[1])] = int(parts[2])
    return acked


def test_killed_log_writers_lose_nothing_acknowledged():
    seed = int(os.environ.get("LOG_CRASH_SEED", random.randrange(1 << 30)))
    print("LOG_CRASH_SEED=%d" % seed)
    rng = random.Random(seed)
    d = tmpdir("logcrash")
    all_c, all_k = {}, {}
    n = 0
    try:
        for round_ in range(KILLS):
            acked = _run_once(d, n, rng.randrange(1 << 30), rng.uniform(0.05, 0.4))
            all_c.update(acked["c"])
            all_k.update(acked["k"])
            c, k = log_writer.open_logs(d)
            try:
                kept_c = {seq: r["n"] for seq, r in _all(c)}
                kept_k = {seq: r["n"] for seq, r in _all(k)}
                # Gapless, and what was acknowledged is there with its content.
                assert sorted(kept_c) == list(range(min(kept_c), c.last_seq + 1)) if kept_c else True
                assert sorted(kept_k) == list(range(1, k.last_seq + 1))
                for seq, value in all_k.items():
                    assert kept_k.get(seq) == value, (round_, "calibration", seq)
                first = min(kept_c) if kept_c else 1
                for seq, value in all_c.items():
                    if seq >= first:
                        assert kept_c.get(seq) == value, (round_, "consumer", seq)
                if all_c:
                    assert max(all_c) in kept_c  # the newest acknowledged is never the one lost
                # Records that made it to flash without their acknowledgement are kept too;
                # the next writer numbers on from the highest value stored.
                n = max(list(kept_c.values()) + list(kept_k.values()) + [n - 1]) + 1
            finally:
                c.close()
                k.close()
        assert len(all_k) > 50 and max(all_c) > 300, (len(all_k), max(all_c))  # the kills hit a busy writer
    finally:
        rmtree(d)


def _all(log):
    out = []
    after = 0
    while True:
        chunk = log.records(after, 32)
        if not chunk:
            return out
        out += chunk
        after = chunk[-1][0]
