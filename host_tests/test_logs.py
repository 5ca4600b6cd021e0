# Device logs (security/logs.py): the record convention, sequence numbers, reads, bounds,
# the calibration log that never rotates, and reopening after a restart.

import json
from support import tmpdir, rmtree, raises
from clock import Clock
from store import Ring
from security.logs import Logs, DeviceLog, LogError, LogFull, LOG_IDS


def test_records_follow_the_convention():
    d = tmpdir("logs")
    try:
        logs = Logs(d, Clock(start_s=1_700_000_000))
        assert logs.system.append("boot", {"version": "1"}) == 1
        assert logs.system.append("rejected", {"reason": "bad_mac"}) == 2
        logs.close()
        ring = Ring(d + "/log/system")
        got = [(seq, json.loads(p)) for seq, p in ring.records()]
        ring.close()
        assert got[0][0] == 1 and got[1][0] == 2
        assert got[0][1]["kind"] == "boot" and got[0][1]["version"] == "1"
        assert 1_700_000_000 <= got[0][1]["t"] < 1_700_000_100
    finally:
        rmtree(d)


def test_records_after_seq_and_limit():
    d = tmpdir("logs")
    try:
        log = DeviceLog(d + "/c", "consumer", Clock(start_s=0))
        for i in range(10):
            log.append("access", {"i": i})
        got = log.records(3, 4)
        assert [seq for seq, _ in got] == [4, 5, 6, 7]
        assert [r["i"] for _, r in got] == [3, 4, 5, 6]
        assert log.records(10, 5) == []
        raises(LogError, log.records, 0, 0)
        raises(LogError, log.records, 0, 1000)
        raises(LogError, log.records, -1, 4)
        log.close()
        again = DeviceLog(d + "/c", "consumer")
        assert again.last_seq == 10
        assert again.append("access", {"i": 10}) == 11
        again.close()
    finally:
        rmtree(d)


def test_system_log_is_bounded_and_rotates():
    d = tmpdir("logs")
    try:
        log = DeviceLog(d + "/s", "system", Clock(start_s=0), segment_bytes=256, segments=2)
        for i in range(100):
            log.append("event", {"i": i})
        kept = log.records(0, 32)
        assert kept[0][0] > 1  # the oldest went
        assert log.last_seq == 100
        log.close()
    finally:
        rmtree(d)


def test_calibration_log_never_rotates_and_refuses_when_full():
    d = tmpdir("logs")
    try:
        log = DeviceLog(d + "/cal", "calibration", Clock(start_s=0), segment_bytes=256, segments=2, keep_all=True)
        n = 0
        while True:
            try:
                log.append("calibration", {"v_per_count": 0.0001, "n": n})
            except LogFull:
                break
            n += 1
            assert n < 100
        assert n > 4
        assert log.refused == 1
        assert log.records(0, 1)[0][0] == 1  # the first change is still there
        assert len(log.records(0, 32)) == n
        log.close()
    finally:
        rmtree(d)


def test_bad_records_are_refused_with_a_log_error():
    d = tmpdir("logs")
    try:
        log = DeviceLog(d + "/s", "system", Clock(start_s=0), segment_bytes=128, segments=2)
        raises(LogError, log.append, "big", {"text": "x" * 200})
        raises(LogError, log.append, "obj", {"thing": object()})
        assert log.refused == 2
        assert log.last_seq == 0
        log.close()
    finally:
        rmtree(d)


def test_log_ids_and_get():
    d = tmpdir("logs")
    try:
        logs = Logs(d)
        assert sorted(LOG_IDS.values()) == ["calibration", "consumer", "system", "untrusted"]
        assert logs.get("calibration") is logs.calibration
        raises(LogError, logs.get, "secret")
        assert logs.event("boot") == 1
        logs.close()
    finally:
        rmtree(d)


def test_system_log_sink_takes_errors_within_a_budget_and_warnings_as_untrusted():
    from log import Log, INFO
    from security.logs import SystemLogSink, UNTRUSTED_PER_MINUTE

    d = tmpdir("logs")
    try:
        clock = Clock(start_s=1_700_000_040)
        logs = Logs(d, clock)
        sink = SystemLogSink(logs, per_minute=5)
        app = Log([sink], INFO, clock=clock)
        app.tagged("mbus").info("not this one")
        app.tagged("mbus").warn("no answer from %d", 5)
        app.tagged("admin").warn("already a record of its own")
        for i in range(10):
            app.tagged("lmn").error("radio %d", i)
        got = [r for _, r in logs.system.records(0, 32)]
        assert got[0] == {"t": got[0]["t"], "kind": "log", "level": "error", "tag": "lmn", "msg": "radio 0"}
        assert len(got) == 5 and sink.dropped == 5
        # Warnings (input, the world outside) share the untrusted log's limiter.
        for i in range(UNTRUSTED_PER_MINUTE + 5):
            app.tagged("mep").warn("link: no response %d", i)
        warned = [r for _, r in logs.untrusted.records(0, 32)]
        assert warned[0] == {"t": warned[0]["t"], "kind": "log", "level": "warn", "tag": "mbus",
                             "msg": "no answer from 5"}, warned[0]
        assert len(warned) == UNTRUSTED_PER_MINUTE and logs.limiter.dropped == 6, (len(warned), logs.limiter.dropped)
        assert len(logs.system.records(0, 32)) == 5, "no warning in the system log"
        logs.close()
    finally:
        rmtree(d)
