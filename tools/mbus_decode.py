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
(.venv/bin/micropython) and prints the same lines. Scaled integers are printed
exactly, with every digit the frame holds (561.08, 1.000, and a real's exact
binary value: 13426156.25; integer arithmetic, no float division). A line is written piece by piece, so a frame needs a few KiB of heap
(the 32-bit MicroPython runs the corpus in 150 KiB). Exit status 1 if any file
gave an error.
"""

import sys

import repo_paths  # the tree's folders on sys.path under any python: tools/repo_paths.py
from binascii import unhexlify

import rt
from mbus.decode import decode_frame, app_error_text
from mbus.errors import MBusError, FrameError

REPO = repo_paths.REPO
_script = REPO + "/tools/mbus_decode.py"
UPY = REPO + "/.venv/bin/micropython"
HEAP = "512K"
_HEADER_KEYS = ("id", "manufacturer", "version", "medium", "access_no", "status")


def _string(s):
    for ch in s:
        if ch == '"' or ch == "\\" or ord(ch) < 0x20:
            break
    else:
        return '"' + s + '"'  # the common case: nothing to escape
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


def _record(r, write):
    write('{"function": ' + _string(r.function))
    write(', "storage": %d, "tariff": %d, "subunit": %d' % (r.storage, r.tariff, r.subunit))
    write(', "quantity": ' + _string(r.quantity) + ', "unit": ' + _string(r.unit) + ', "value": ')
    write(_json(r.value) if r.number() is None else r.decimal())
    write("}")


_WHITESPACE = b" \t\r\n\x0b\x0c"
_HEX_DIGITS = b"0123456789abcdefABCDEF"


def parse_hex(text):
    """The bytes of hex text written any way: "68 03 03 68", "68030368", or lines of
    either; any whitespace, anywhere between digits. MBusError says what is wrong."""
    digits = bytearray()
    for at, ch in enumerate(text):
        if ch in _WHITESPACE:
            continue
        if ch not in _HEX_DIGITS:
            raise MBusError("bad hex: byte 0x%02x at offset %d is not a hex digit" % (ch, at))
        digits.append(ch)
    if len(digits) % 2:
        raise MBusError("bad hex: an odd number of hex digits (%d)" % len(digits))
    return unhexlify(digits)


def read_hex(path):
    with open(path, "rb") as f:
        return parse_hex(f.read())


def decode_line(path):
    """One output line for one file (without the newline), and whether the file decoded."""
    parts = []
    ok = write_line(path, parts.append)
    return "".join(parts), ok


def write_line(path, write):
    """Write the output line of one file through write(text), in pieces (one record at a
    time: no line-sized string is built); True if the file decoded."""
    try:
        t = decode_frame(read_hex(path))
    except FrameError as exc:
        write(_object((("file", _string(path)), ("error", _string("frame: " + exc.reason)))))
        return False
    except MBusError as exc:
        write(_object((("file", _string(path)), ("error", _string("decode: " + exc.reason)))))
        return False
    except OSError:
        write(_object((("file", _string(path)), ("error", _string("read: cannot read the file")))))
        return False
    if t.app_error is not None:
        text = "application error %d: %s" % (t.app_error, app_error_text(t.app_error))
        write(_object((("file", _string(path)), ("error", _string(text)))))
        return False
    write('{"file": ' + _string(path) + ', "header": ')
    write(_object([(k, _json(t.header[k])) for k in _HEADER_KEYS]))
    write(', "records": [')
    first = True
    for r in t.records:
        if not first:
            write(", ")
        first = False
        _record(r, write)
    write("]}")
    return True


def _run_micropython(files):
    import os
    import subprocess

    if not os.path.exists(UPY):
        print("mbus_decode: --micropython needs the MicroPython unix port at %s (make setup installs it)" % UPY,
              file=sys.stderr)
        return 2
    return subprocess.call([UPY, "-X", "heapsize=" + HEAP, _script] + files, env=repo_paths.micropython_env())


def main(argv):
    files = [a for a in argv if a != "--micropython"]
    if not files or any(a.startswith("-") for a in files):
        print(__doc__)
        return 2
    if "--micropython" in argv and rt.EMULATED:
        return _run_micropython(files)
    failed = 0
    write = sys.stdout.write
    for path in files:
        if not write_line(path, write):
            failed = 1
        write("\n")
    return failed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
