# OTA errors that must not stop an update or a boot are still counted and logged, never
# swallowed: a damaged resume record, a damaged trust anchor, a system log that refuses an
# event, a damaged state record at the service check.
import json
import clock
import log
from support import REPO, tmpdir, rmtree, raises
from store.atomic import AtomicRecord
from store.fs import StoreError
from store.ring import Ring
from ota import bundle, slots
from ota.bundle import Refused
from ota.receiver import Receiver, load_anchor

DATA = REPO + "/host_tests/data/ota/"


def _read(name):
    with open(DATA + name, "rb") as f:
        return f.read()


def _device():
    root = tmpdir("otae")
    AtomicRecord(root + "/keys/ota-anchor.pub").write(_read("test-anchor.pub"))
    return root


def _damage(path):
    with open(path, "rb") as f:
        raw = bytearray(f.read())
    raw[-1] ^= 0xFF
    with open(path, "wb") as f:
        f.write(raw)


def _ota_events(root):
    ring = Ring(root + "/log/system", slots.SYSLOG_SEGMENT_BYTES, slots.SYSLOG_SEGMENTS)
    return [json.loads(p) for _, p in ring.records(0)]


def test_damaged_progress_record_starts_over_counted_and_logged():
    data = _read("v2.ota")
    root = _device()
    try:
        rx = Receiver(root, "host")
        rx.write(rx.begin("r", len(data)), data[:9000])
        _damage(root + "/ota/progress")
        rx = Receiver(root, "host")
        seen = []
        rx.notify = seen.append
        assert rx.begin("r", len(data)) == 0, "an unreadable progress record: the download starts over"
        assert rx.resume_failures == 1, "the dropped resume is counted"
        dropped = [e for e in _ota_events(root) if e["event"] == "resume-dropped"]
        assert len(dropped) == 1 and "progress" in dropped[0]["detail"], _ota_events(root)
        assert seen and seen[0]["event"] == "resume-dropped", "and reported to the console"
    finally:
        rmtree(root)


def test_damaged_anchor_is_refused_as_unreadable_not_absent():
    root = _device()
    try:
        _damage(root + "/keys/ota-anchor.pub")
        exc = raises(Refused, load_anchor, root)
        assert exc.reason == bundle.NO_ANCHOR and "unreadable" in exc.detail, exc.detail
    finally:
        rmtree(root)


class _FullLog:
    def append(self, kind, fields, t):
        raise StoreError("system log full")


class _Lines:
    def __init__(self):
        self.lines = []

    def write(self, entry):
        self.lines.append(entry)


class _Hw:
    def __init__(self, root):
        self.storage_root = root
        self.name = "host"
        self.clock = clock.Clock()
        self.confirm_image = None
        self.logs = None


def test_an_event_the_system_log_refuses_is_counted_and_logged():
    from ota.health import OtaService

    root = tmpdir("otae")
    try:
        sink = _Lines()
        service = OtaService(_Hw(root), {"ota": {"port": 0, "confirm_s": 1, "trial_s": 2, "max_boots": 3}},
                             None, log.Log([sink]), system_log=_FullLog())
        service.event({"event": "confirmed", "version": "2.0"})
        assert service.log_failures == 1, "the refused event is counted"
        messages = [str(e) for e in sink.lines]
        assert any("not in the system log" in m for m in messages), messages
        rx = service.receiver
        rx.log({"event": "download", "version": "2.0"})
        assert rx.log_failures == 1, "the receiver counts its own"
        messages = [str(e) for e in sink.lines]
        assert any("log-failed" in m for m in messages), messages
    finally:
        rmtree(root)


def test_damaged_state_record_asks_for_the_service_that_reports_it():
    from ota.settings import service_needed

    root = tmpdir("otae")
    try:
        slots.write_state(root, slots.initial_state())
        assert not service_needed(root, {"port": 0})
        _damage(root + "/ota/state")
        assert service_needed(root, {"port": 0}), "a damaged record starts the OTA task, which logs it"
    finally:
        rmtree(root)
