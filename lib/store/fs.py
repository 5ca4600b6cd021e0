# The store's error type and the few filesystem helpers MicroPython's os lacks.

import os

_S_IFDIR = 0x4000  # directory bit of st_mode, the same on every port


class StoreError(Exception):
    """Stored data fails validation, or a request cannot be stored (record too large).

    Filesystem failures (full disk, missing medium) pass through as OSError.
    """


def size_of(path):
    """The file's size in bytes, or -1 if there is no such file."""
    try:
        return os.stat(path)[6]
    except OSError:
        return -1


def remove_quietly(path):
    try:
        os.remove(path)
    except OSError:
        pass


def make_dirs(path):
    """Create path and any missing parents (os.makedirs is CPython-only)."""
    try:
        mode = os.stat(path)[0]
    except OSError:
        parent = path.rstrip("/").rsplit("/", 1)[0]
        if parent and parent != path:
            make_dirs(parent)
        os.mkdir(path)
        return
    if not mode & _S_IFDIR:
        raise StoreError("not a directory: " + path)
