# The logger: level filter, per-level counts, line and JSON formats, sink failures, ring records.
import io
import json
import log
from log import Log, Logger, ConsoleSink, JsonSink, RingSink, DEBUG, INFO, WARN, ERROR
import support

_T_S = 1795341600  # 2026-11-22T10:00:00Z


class FixedClock:
    def time_s(self):
        return _T_S


class ListSink:
    def __init__(self):
        self.entries = []

    def write(self, entry):
        self.entries.append(entry)


class BrokenSink:
    def write(self, entry):
        raise OSError(28)  # a full disk


class FakeRing:
    """store.Ring's surface: append(bytes) -> seq, records(after_seq) -> (seq, bytes)."""

    def __init__(self):
        self.stored = []

    def append(self, data):
        self.stored.append(bytes(data))
        return len(self.stored)

    def records(self, after_seq=0):
        for i, data in enumerate(self.stored):
            if i + 1 > after_seq:
                yield i + 1, data


def test_level_filters_and_every_call_is_counted():
    sink = ListSink()
    base = Log([sink], level=WARN, clock=FixedClock())
    meter = base.tagged("meter")
    meter.debug("d %d", 1)
    meter.info("i")
    meter.warn("w %d", 2)
    meter.error("e %s", "x")
    assert sink.entries == [(_T_S, WARN, "meter", "w 2"), (_T_S, ERROR, "meter", "e x")]
    assert base.counts == [1, 1, 1, 1]
    assert base.count_by_name() == {"debug": 1, "info": 1, "warn": 1, "error": 1}
    assert not meter.enabled(INFO) and meter.enabled(ERROR)
    base.level = DEBUG
    meter.debug("now %s", "shown")
    assert sink.entries[-1] == (_T_S, DEBUG, "meter", "now shown")


def test_filtered_entry_is_not_formatted():
    class Exploding:
        def __repr__(self):
            raise AssertionError("formatted although filtered")

    base = Log([ListSink()], level=ERROR)
    base.tagged("x").info("%r", Exploding())
    assert base.counts[INFO] == 1


def test_logger_class_and_retagging():
    sink = ListSink()
    base = Log([sink], level=DEBUG, clock=FixedClock())
    Logger(base, "a").info("one")
    Logger(base, "a").tagged("b").info("two")
    assert [e[2] for e in sink.entries] == ["a", "b"]


def test_without_clock_uses_wall_time():
    sink = ListSink()
    Log([sink]).tagged("t").info("x")
    assert 1_700_000_000 < sink.entries[0][0] < 4_000_000_000


def test_bad_format_keeps_the_text():
    sink = ListSink()
    Log([sink], clock=FixedClock()).tagged("t").info("%d items", "many")
    assert sink.entries[0][3].startswith("%d items")
    assert "many" in sink.entries[0][3]


def test_console_line_format():
    out = io.StringIO()
    base = Log([ConsoleSink(out)], level=DEBUG, clock=FixedClock())
    base.tagged("supervisor").warn("task %s crashed: %s", "lmn", "ValueError: bad")
    base.tagged("metrology").error("x")
    lines = out.getvalue().split("\n")
    assert lines[0] == "2026-11-22T10:00:00Z W supervisor task lmn crashed: ValueError: bad"
    assert lines[1] == "2026-11-22T10:00:00Z E metrology x"
    assert lines[2] == ""


def test_sink_level():
    out = io.StringIO()
    base = Log([ConsoleSink(out, level=ERROR)], level=DEBUG, clock=FixedClock())
    base.tagged("t").warn("hidden")
    base.tagged("t").error("shown")
    assert out.getvalue() == "2026-11-22T10:00:00Z E t shown\n"


def test_json_lines():
    out = io.StringIO()
    base = Log([JsonSink(out)], level=DEBUG, clock=FixedClock())
    base.tagged("lmn").warn('quote " and\nnewline\tand é')
    base.tagged("lmn").info("two")
    lines = out.getvalue().split("\n")
    assert len(lines) == 3 and lines[2] == ""
    first = json.loads(lines[0])
    assert first == {"kind": "log", "t": _T_S, "level": "warn", "tag": "lmn", "msg": 'quote " and\nnewline\tand é'}
    assert json.loads(lines[1])["level"] == "info"


def test_failing_sink_is_counted_and_others_still_write():
    sink = ListSink()
    base = Log([BrokenSink(), sink], level=DEBUG, clock=FixedClock())
    base.tagged("t").error("one")
    base.tagged("t").info("two")
    assert len(sink.entries) == 2
    assert base.sink_failures == 2
    assert base.counts[ERROR] == 1


def test_format_exception_one_line():
    try:
        raise ValueError("bad frame length 7")
    except ValueError as exc:
        assert log.format_exception(exc) == "ValueError: bad frame length 7"
    assert log.format_exception(KeyError()) == "KeyError"


def test_format_traceback_is_multi_line():
    def inner():
        raise TypeError("deep")

    try:
        inner()
    except TypeError as exc:
        text = log.format_traceback(exc)
    assert text.startswith("Traceback")
    assert "inner" in text
    assert text.rstrip().endswith("TypeError: deep")


def test_level_from_name():
    assert log.level_from_name("warn") == WARN
    support.raises(ValueError, log.level_from_name, "loud")


def test_ring_sink_round_trip():
    ring = FakeRing()
    base = Log([RingSink(ring, level=INFO)], level=DEBUG, clock=FixedClock())
    base.tagged("mbus").debug("not stored")
    base.tagged("mbus").info("device %d answered", 3)
    base.tagged("supervisor").error("task lmn crashed: ValueError: é")
    assert len(ring.stored) == 2
    assert len(ring.stored[0]) == 6 + len("mbus") + len("device 3 answered")  # compact
    entries = list(log.read_ring(ring))
    assert entries == [
        (1, (_T_S, INFO, "mbus", "device 3 answered")),
        (2, (_T_S, ERROR, "supervisor", "task lmn crashed: ValueError: é")),
    ]
    assert list(log.read_ring(ring, after_seq=1)) == [entries[1]]


def test_ring_message_is_cut_at_a_character_edge():
    record = log.encode_entry((_T_S, WARN, "t", "ab" + "é" * 10), max_message_bytes=5)
    assert log.decode_entry(record) == (_T_S, WARN, "t", "abé")  # 4 bytes: the next é does not fit


def test_malformed_ring_records_are_rejected():
    support.raises(ValueError, log.decode_entry, b"\x00\x01")
    support.raises(ValueError, log.decode_entry, b"\x00\x00\x00\x01\x09\x00")  # level 9
    support.raises(ValueError, log.decode_entry, b"\x00\x00\x00\x01\x01\x05ab")  # tag overruns
    support.raises(ValueError, log.decode_entry, b"\x00\x00\x00\x01\x01\x01a\xff")  # not UTF-8
    ring = FakeRing()
    ring.append(b"junk")
    ring.append(log.encode_entry((_T_S, INFO, "t", "ok")))
    assert list(log.read_ring(ring)) == [(2, (_T_S, INFO, "t", "ok"))]
    assert log.decode_entry(memoryview(ring.stored[1])) == (_T_S, INFO, "t", "ok")
