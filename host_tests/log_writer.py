# Log writer for the power-fail test of security/logs.py, run under the MicroPython unix port:
#
#   MICROPYPATH=$(python3 tools/repo_paths.py micropython) micropython host_tests/log_writer.py DIR START SEED
#
# Appends records numbered START, START+1, ... to the consumer log (small, rotating) and
# every third one to the calibration log (never rotates), printing one line per record
# once append() returned ("c SEQ N" / "k SEQ N"), until it is killed.

import sys

import random
from security.logs import DeviceLog

CONSUMER = (512, 3, False)  # segment_bytes, segments, keep_all
CALIBRATION = (1024, 64, True)


def open_logs(folder):
    c = DeviceLog(folder + "/consumer", "consumer", None, *CONSUMER)
    k = DeviceLog(folder + "/calibration", "calibration", None, *CALIBRATION)
    return c, k


def main():
    folder, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    random.seed(seed)
    c, k = open_logs(folder)
    sys.stdout.write("open %d %d\n" % (c.last_seq, k.last_seq))
    while True:
        seq = c.append("access", {"n": n, "pad": "x" * random.getrandbits(5)})
        sys.stdout.write("c %d %d\n" % (seq, n))
        if n % 3 == 0:
            seq = k.append("calibration", {"n": n})
            sys.stdout.write("k %d %d\n" % (seq, n))
        n += 1


if __name__ == "__main__":
    main()
