# Tagged, levelled logger with console, JSON-lines and store-ring sinks.
#
#   log = Log([ConsoleSink()], level=INFO, clock=hw.clock)
#   mlog = log.tagged("metrology")
#   mlog.warn("frequency %d mHz out of range", f_mhz)
#
# An entry is (time_s, level, tag, message). The message is formatted only when
# some sink can take it, so a filtered debug call costs a call and a counter.
# Every call is counted per level (log.counts[ERROR]), also below the level: the
# firmware's rule is that bad input gives a clear, counted error. A sink that
# raises is counted (log.sink_failures) and skipped; logging never takes its
# caller down.

import sys
import io
import json
import struct
from micropython import const
import rt
from clock import iso8601

DEBUG = const(0)
INFO = const(1)
WARN = const(2)
ERROR = const(3)
LEVEL_NAMES = ("debug", "info", "warn", "error")
_LEVEL_LETTERS = "DIWE"

def format_traceback(exc):
    """The exception's traceback as multi-line text, as the REPL prints it."""
    text = io.StringIO()
    rt.print_exception(exc, text)
    return text.getvalue()


def format_exception(exc):
    """`TypeName: message` on one line (`TypeName` alone when there is no message)."""
    message = str(exc)
    name = type(exc).__name__
    return "%s: %s" % (name, message) if message else name


def level_from_name(name):
    """The level for "debug", "info", "warn" or "error" (config files name levels)."""
    return LEVEL_NAMES.index(name)


class Log:
    def __init__(self, sinks=(), level=INFO, clock=None):
        self.sinks = list(sinks)
        self.level = level
        self.clock = clock  # a clock.Clock for calendar time; None: rt.time_s()
        self.counts = [0, 0, 0, 0]  # entries made per level, indexed by DEBUG..ERROR
        self.sink_failures = 0

    def tagged(self, tag):
        return Logger(self, tag)

    def enabled(self, level):
        """True when an entry at `level` would be written (to skip costly arguments)."""
        return level >= self.level

    def write(self, level, tag, fmt, args=()):
        self.counts[level] += 1
        if level < self.level or not self.sinks:
            return
        if args:
            try:
                message = fmt % args
            except (TypeError, ValueError):
                # A bad format string is the caller's bug; keep what we were told.
                message = "%s %r" % (fmt, args)
        else:
            message = fmt
        time_s = self.clock.time_s() if self.clock is not None else rt.time_s()
        entry = (time_s, level, tag, message)
        for sink in self.sinks:
            try:
                sink.write(entry)
            except Exception:  # broad on purpose: a failing sink (full flash, closed console) must
                self.sink_failures += 1  # not fail the caller or the other sinks; counted instead

    def count_by_name(self):
        """{"debug": n, "info": n, "warn": n, "error": n} for status reports."""
        return dict(zip(LEVEL_NAMES, self.counts))


class Logger:
    """A Log seen through one tag: logger.warn("fmt %d", x)."""

    def __init__(self, log, tag):
        self.log = log
        self.tag = tag

    def tagged(self, tag):
        return Logger(self.log, tag)

    def enabled(self, level):
        return level >= self.log.level

    def debug(self, fmt, *args):
        self.log.write(DEBUG, self.tag, fmt, args)

    def info(self, fmt, *args):
        self.log.write(INFO, self.tag, fmt, args)

    def warn(self, fmt, *args):
        self.log.write(WARN, self.tag, fmt, args)

    def error(self, fmt, *args):
        self.log.write(ERROR, self.tag, fmt, args)


def format_line(entry):
    """`2026-11-22T10:00:00Z W supervisor task lmn crashed: ValueError: ...`"""
    time_s, level, tag, message = entry
    return "%s %s %s %s" % (iso8601(time_s), _LEVEL_LETTERS[level], tag, message)


class ConsoleSink:
    """One human-readable line per entry, on stdout unless told otherwise."""

    def __init__(self, stream=None, level=DEBUG):
        self.stream = stream
        self.level = level

    def write(self, entry):
        if entry[1] >= self.level:
            stream = self.stream if self.stream is not None else sys.stdout
            stream.write(format_line(entry))
            stream.write("\n")


class JsonSink:
    """One JSON object per line for the simulation's live view, typed like the
    status lines (lib/status.py) that share the console with it:
    {"kind": "log", "t": 1795341600, "level": "warn", "tag": "supervisor", "msg": "..."}"""

    def __init__(self, stream=None, level=DEBUG):
        self.stream = stream  # None: stdout
        self.level = level

    def write(self, entry):
        time_s, level, tag, message = entry
        if level >= self.level:
            stream = self.stream if self.stream is not None else sys.stdout
            stream.write(
                '{"kind": "log", "t": %d, "level": "%s", "tag": %s, "msg": %s}\n'
                % (time_s, LEVEL_NAMES[level], json.dumps(tag), json.dumps(message))
            )


# Ring record: time_s (u32, big-endian), level (u8), tag length (u8), tag, message (UTF-8).
_HEADER = ">IBB"
_HEADER_BYTES = const(6)


def encode_entry(entry, max_message_bytes=240):
    """The compact record a RingSink stores; a long message is cut at a character edge."""
    time_s, level, tag, message = entry
    tag_bytes = tag.encode()[:255]
    message_bytes = message.encode()
    cut = len(message_bytes)
    if cut > max_message_bytes:
        cut = max_message_bytes
        while cut > 0 and message_bytes[cut] & 0xC0 == 0x80:
            cut -= 1  # do not split a multi-byte character
        message_bytes = message_bytes[:cut]
    return (
        struct.pack(_HEADER, time_s & 0xFFFFFFFF, level, len(tag_bytes)) + tag_bytes + message_bytes
    )


def decode_entry(record):
    """(time_s, level, tag, message) from a RingSink record; ValueError when malformed."""
    record = bytes(record)
    if len(record) < _HEADER_BYTES:
        raise ValueError("log record too short")
    time_s, level, tag_len = struct.unpack(_HEADER, record[:_HEADER_BYTES])
    tag_end = _HEADER_BYTES + tag_len
    if level > ERROR or tag_end > len(record):
        raise ValueError("log record malformed")
    return time_s, level, record[_HEADER_BYTES:tag_end].decode(), record[tag_end:].decode()


class RingSink:
    """Persists entries in a store.Ring (anything with append(bytes)); default warn and up."""

    def __init__(self, ring, level=WARN, max_message_bytes=240):
        self.ring = ring
        self.level = level
        self.max_message_bytes = max_message_bytes

    def write(self, entry):
        if entry[1] >= self.level:
            self.ring.append(encode_entry(entry, self.max_message_bytes))


def read_ring(ring, after_seq=0):
    """Yields (seq, entry) for each stored entry, skipping (not raising on) malformed ones."""
    for seq, record in ring.records(after_seq):
        try:
            yield seq, decode_entry(record)
        except ValueError:  # UnicodeError is a ValueError on both interpreters
            pass
