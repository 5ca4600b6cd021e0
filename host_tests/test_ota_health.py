# The OTA task (ota/health.py): a trial version is confirmed once the other tasks are
# healthy for confirm_s, reverted (and the board reset) when they are not within trial_s;
# a revert note is logged once. And the full-image path (ota/image.py) through a fake
# esp32.Partition.

import json
import hashlib
from support import REPO, tmpdir, rmtree, run, raises
import log
import clock
from store.atomic import AtomicRecord
from store.ring import Ring
from ota import slots, bundle
from ota.bundle import Refused
from ota.health import OtaService, healthy
from ota.receiver import Receiver
from ota.image import ImageReceiver, BLOCK_BYTES

DATA = REPO + "/host_tests/data/ota/"


def _read(name):
    with open(DATA + name, "rb") as f:
        return f.read()


class _Hw:
    def __init__(self, root):
        self.storage_root = root
        self.name = "host"
        self.clock = clock.Clock()
        self.resets = 0
        self.confirm_image = None  # the host board has no bootloader rollback (lib/hardware.py)
        self.logs = None

    def reset(self):
        self.resets += 1


class _Supervisor:
    def __init__(self, good=True):
        self.good = good

    def status(self):
        return {"metrology": {"restarts": 0 if self.good else 2, "last_error": None, "stalled": False, "running": True},
                "ota": {"restarts": 5, "last_error": "x", "stalled": False, "running": True}}


def _on_trial():
    root = tmpdir("otah")
    AtomicRecord(root + "/keys/ota-anchor.pub").write(_read("test-anchor.pub"))
    data = _read("v2.ota")
    rx = Receiver(root, "host")
    offset = rx.begin("h", len(data))
    rx.write(offset, data)
    rx.finish()
    return root


def _service(root, good):
    cfg = {"ota": {"port": 0, "confirm_s": 1, "trial_s": 2, "max_boots": 3}}
    hw = _Hw(root)
    service = OtaService(hw, cfg, _Supervisor(good), log.Log())
    service.poll_ms = 50
    return hw, service


async def _run_for(service, ms):
    import asyncio

    task = asyncio.create_task(service.task(lambda: None))
    import rt

    await rt.sleep_ms(ms)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


def _events(root):
    ring = Ring(root + "/log/system", slots.SYSLOG_SEGMENT_BYTES, slots.SYSLOG_SEGMENTS)
    return [json.loads(p) for _, p in ring.records(0)]


def test_healthy():
    assert healthy(_Supervisor(True).status(), "ota")
    assert not healthy(_Supervisor(False).status(), "ota")


def test_trial_confirmed_when_healthy():
    root = _on_trial()
    hw, service = _service(root, True)
    run(_run_for(service, 1500))
    state = slots.read_state(root)
    assert not state["trial"] and state["version"] == "2.0" and state["floor"] == 2
    assert hw.resets == 0
    assert _events(root)[-1]["event"] == "confirmed"
    rmtree(root)


def test_trial_reverted_when_unhealthy():
    root = _on_trial()
    hw, service = _service(root, False)
    run(_run_for(service, 2600))
    state = slots.read_state(root)
    assert state["active"] == "factory" and state["floor"] == 0 and hw.resets == 1
    assert state["note"]["event"] == "reverted"
    # The next boot logs the note once and clears it.
    hw, service = _service(root, True)
    run(_run_for(service, 100))
    assert slots.read_state(root)["note"] is None
    assert [e["event"] for e in _events(root)].count("reverted") == 1
    rmtree(root)


def test_full_image_confirmed_through_the_board():
    # A full image on trial (ESP32): once healthy, confirmed in the state record and through
    # hw.confirm_image (the bootloader's rollback); lib/ota imports no board module for it.
    import asyncio

    root = tmpdir("otah")
    state = slots.initial_state()
    state.update(active="image", version="2.0", security_version=2, trial=True,
                 previous={"active": "factory", "version": "factory", "security_version": 0})
    slots.write_state(root, state)
    hw, service = _service(root, True)
    confirmed = []
    hw.confirm_image = lambda: confirmed.append(1) or True

    async def until_confirmed():
        task = asyncio.create_task(service.task(lambda: None))
        for _ in range(600):  # a safety stop (30 s) far beyond confirm_s; normally ~1 s
            if confirmed:
                break
            await asyncio.sleep(0.05)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass

    try:
        run(until_confirmed())
        assert confirmed == [1], "hw.confirm_image called once when the image was confirmed"
        assert not slots.read_state(root)["trial"] and hw.resets == 0
    finally:
        rmtree(root)


class FakePartition:
    """esp32.Partition's block interface over a bytearray, counting what is done to it."""

    def __init__(self, blocks):
        erased = b"\xff" * BLOCK_BYTES
        self.data = [bytearray(erased) for _ in range(blocks)]  # no 32 KiB in one piece
        self.blocks = blocks
        self.booted = False
        self.writes = 0

    def ioctl(self, op, arg):
        return {4: self.blocks, 5: BLOCK_BYTES}[op]

    def readblocks(self, n, buf):
        buf[:] = self.data[n]

    def writeblocks(self, n, buf):
        assert len(buf) == BLOCK_BYTES
        self.data[n][:] = buf
        self.writes += 1

    def image(self, size):
        h = hashlib.sha256()
        for block in self.data:
            h.update(block[: min(size, BLOCK_BYTES)])
            size -= BLOCK_BYTES
            if size <= 0:
                break
        return h.digest()

    def set_boot(self):
        self.booted = True


def _image_bundle():
    # A signed image bundle is made on the host (tools/otatool.py); here: one from the data folder.
    return _read("image.ota")


def test_full_image_update_through_fake_partition():
    root = tmpdir("otai")
    AtomicRecord(root + "/keys/ota-anchor.pub").write(_read("test-anchor.pub"))
    data = _image_bundle()
    part = FakePartition(6)
    rx = ImageReceiver(root, "esp32", part)
    offset = rx.begin("i", len(data))
    while offset < len(data):
        offset = rx.write(offset, data[offset: offset + 3000])
    state = rx.finish()
    assert part.booted and state["active"] == "image" and state["trial"]
    manifest = bundle.parse_manifest(data[: bundle.head_bytes(data[:8])])
    size = manifest["files"][0]["size"]
    assert part.image(size) == manifest["files"][0]["digest"]
    assert part.writes == (size + BLOCK_BYTES - 1) // BLOCK_BYTES
    part = rx = None  # freed: a 32-bit board's heap holds one fake partition beside the bundle
    # Tampered image, or too big for the partition: refused, boot partition untouched.
    bad = bytearray(data)
    bad[-5] ^= 1
    part2 = FakePartition(6)
    rx = ImageReceiver(root, "esp32", part2)
    slots.confirm(root, slots.read_state(root))
    offset = rx.begin("j", len(bad))
    exc = raises(Refused, rx.write, offset, bad)
    assert exc.reason == bundle.FILE_HASH and not part2.booted
    bad = part2 = rx = None
    rx = ImageReceiver(root, "esp32", FakePartition(2))
    offset = rx.begin("k", len(data))
    assert raises(Refused, rx.write, offset, data).reason == bundle.FILE_SIZE
    # An application bundle is not an image.
    rx = ImageReceiver(root, "esp32", FakePartition(6))
    esp = _read("esp32.ota")
    offset = rx.begin("l", len(esp))
    assert raises(Refused, rx.write, offset, esp).reason == bundle.BAD_FORMAT
    rmtree(root)
