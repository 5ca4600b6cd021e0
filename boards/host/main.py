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


def storage_dir_of(config_path):
    """The store folder config_path's "board" section names ("data" by default, as board.py),
    or None for a config that does not read: startup.boot reads it again and says what is wrong."""
    import json

    try:
        with open(config_path) as f:
            raw = json.load(f)
    except (OSError, ValueError):  # missing, or not JSON
        return None
    board = raw.get("board", {}) if type(raw) is dict else None
    folder = board.get("storage_dir", "data") if type(board) is dict else None
    return folder if type(folder) is str and folder else None


# Updates (lib/ota): the active slot, if any, replaces the source tree's code on sys.path.
if len(sys.argv) == 3:
    import ota.boot

    _root = storage_dir_of(sys.argv[2])
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
