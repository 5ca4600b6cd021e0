# Log writer for the power-fail test of security/logs.py, run under the MicroPython unix port:
#
#   micropython log_writer.py DIR START SEED
#
# Appends records numbered START, START+1, ... to the consumer log (small, rotating) and
# every third one to the calibration log (never rotates), printing one line per record
# once append() returned ("c SEQ N" / "k SEQ N"), until it is killed.

import sys
import os

_script = __file__ if __file__.startswith("/") else os.getcwd() + "/" + __file__
_REPO = _script.rsplit("/", 2)[0]
sys.path.insert(0, _REPO + "/lib")
try:
    import micropython  # noqa: F401
except ImportError:
    sys.path.insert(0, _REPO + "/host_tests/shims")

import random  # noqa: E402
from security.logs import DeviceLog  # noqa: E402

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
