# Host board boot, as main.py on a device: check the config, build the hardware, run the app.
#
#   micropython boards/host/main.py --config FILE
#
# Exits with the application's code (2: bad configuration), 75 on reset(), 76 when the
# watchdog was not fed.

import os
import sys

_main = __file__ if __file__.startswith("/") else os.getcwd() + "/" + __file__
_repo = _main.rsplit("/", 3)[0]
for _path in ("lib", "firmware", "boards/host"):
    sys.path.insert(0, _repo + "/" + _path)

# Updates (lib/ota): the active slot, if any, replaces the source tree's code on sys.path.
if len(sys.argv) == 3:
    import ota.boot

    _root = ota.boot.storage_dir_of(sys.argv[2], "data")
    if _root is not None:
        ota.boot.select(_root, [_repo + "/" + _p for _p in ("lib", "firmware", "boards/host")])
    del ota
    import gc

    gc.collect()  # the selector's garbage, before the application's imports need the heap

import board
import startup

if len(sys.argv) != 3 or sys.argv[1] != "--config":
    print("usage: micropython boards/host/main.py --config FILE")
    sys.exit(startup.EXIT_BAD_CONFIG)
sys.exit(startup.boot(board, sys.argv[2]))
