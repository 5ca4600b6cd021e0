# Status lines (lib/status.py): one JSON object per line, written piece by piece so a long
# line (every task's health) never needs a line-sized block of a fragmented heap.
import io
import json

import rt
import support
import status


def _tasks():
    names = ("metrology", "registers", "pulses", "lmn", "report", "mbus", "admin", "mep", "mep_profile")
    return {name: {"restarts": 0, "last_error": None, "stalled": False, "running": True} for name in names}


def test_each_status_is_one_json_object_on_its_own_line():
    out = io.StringIO()
    status.emit("tasks", {"tasks": _tasks()}, out)
    status.emit("reading", {"p_w": 12}, out)
    lines = out.getvalue().split("\n")
    assert len(lines) == 3 and lines[2] == "", "expected two lines and a final newline, got %r" % lines
    first, second = json.loads(lines[0]), json.loads(lines[1])
    assert first["kind"] == "tasks" and first["tasks"]["mbus"]["running"] is True, first
    assert second == {"p_w": 12, "kind": "reading"}, second


def test_a_tasks_line_is_written_without_building_it_as_one_string():
    if rt.EMULATED:
        support.skip("measures MicroPython's heap (io.StringIO(n) preallocates there)")
    import gc

    fields = {"tasks": _tasks()}
    status.emit("tasks", fields, io.StringIO(2048))  # first call: interned names, caches
    out = io.StringIO(2048)
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    status.emit("tasks", fields, out)
    used = gc.mem_alloc() - before
    gc.enable()
    line = len(out.getvalue())
    assert line > 600, "expected a long tasks line, got %d bytes" % line
    assert used < line // 4, "expected the %d-byte line written piece by piece, but %d bytes were allocated" % (
        line, used)
