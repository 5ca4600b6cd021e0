#!/usr/bin/env python3
"""Decode wired M-Bus frames with the firmware's own decoder (lib/mbus).

    python tools/mbus_decode.py [--micropython] FILE...

Each FILE holds the hex text of one frame (whitespace allowed). Prints one JSON
object per line and file:

    {"file": ..., "header": {"id", "manufacturer", "version", "medium",
     "access_no", "status"}, "records": [{"function", "storage", "tariff",
     "subunit", "quantity", "unit", "value"}, ...]}
    {"file": ..., "error": "..."}

With --micropython this same script runs under the MicroPython unix port
(.venv/bin/micropython) and prints the same lines. Floats are printed with 12
significant digits so that both interpreters print the same text. Exit status
1 if any file gave an error.
"""

import sys

import repo_paths  # the tree's folders on sys.path under any python: tools/repo_paths.py
import rt
from mbus.decode import decode_frame, app_error_text
from mbus.errors import MBusError, FrameError

REPO = repo_paths.REPO
_script = REPO + "/tools/mbus_decode.py"
UPY = REPO + "/.venv/bin/micropython"
HEAP = "512K"
_HEADER_KEYS = ("id", "manufacturer", "version", "medium", "access_no", "status")
_RECORD_KEYS = ("function", "storage", "tariff", "subunit", "quantity", "unit", "value")


def _string(s):
    out = ['"']
    for ch in s:
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif ord(ch) < 0x20:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _json(v):
    """JSON text of v, the same under CPython and MicroPython (key order as
    given, UTF-8 text, floats to 12 significant digits)."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            return "null"
        return "%.12g" % v
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_json(x) for x in v) + "]"
    raise TypeError("no JSON for %r" % (v,))


def _object(pairs):
    return "{" + ", ".join(_string(k) + ": " + v for k, v in pairs) + "}"


def read_hex(path):
    with open(path) as f:
        text = f.read()
    try:
        return bytes(int(tok, 16) for tok in text.split())
    except ValueError:
        raise MBusError("bad hex")


def decode_line(path):
    """One output line for one file, and whether the file decoded."""
    line = _decode_line(path)
    return line, ', "header": ' in line


def _decode_line(path):
    try:
        t = decode_frame(read_hex(path))
    except FrameError as exc:
        return _object((("file", _string(path)), ("error", _string("frame: " + exc.reason))))
    except MBusError as exc:
        return _object((("file", _string(path)), ("error", _string("decode: " + exc.reason))))
    except OSError:
        return _object((("file", _string(path)), ("error", _string("read: cannot read the file"))))
    if t.app_error is not None:
        text = "application error %d: %s" % (t.app_error, app_error_text(t.app_error))
        return _object((("file", _string(path)), ("error", _string(text))))
    header = _object([(k, _json(t.header[k])) for k in _HEADER_KEYS])
    records = []
    for r in t.records:
        d = r.as_dict()
        records.append(_object([(k, _json(d[k])) for k in _RECORD_KEYS]))
    return _object((("file", _string(path)), ("header", header),
                    ("records", "[" + ", ".join(records) + "]")))


def _run_micropython(files):
    import subprocess
    return subprocess.call([UPY, "-X", "heapsize=" + HEAP, _script] + files, env=repo_paths.micropython_env())


def main(argv):
    files = [a for a in argv if a != "--micropython"]
    if not files or any(a.startswith("-") for a in files):
        print(__doc__)
        return 2
    if "--micropython" in argv and rt.EMULATED:
        return _run_micropython(files)
    failed = 0
    for path in files:
        line, ok = decode_line(path)
        if not ok:
            failed = 1
        print(line)
    return failed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
