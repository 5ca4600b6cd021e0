# Chunked, resumable download of a bundle into the inactive slot, then the switch.
#
#   rx = Receiver(root, "host")
#   offset = rx.begin(bundle_id, total)      # where to (re)start sending
#   offset = rx.write(offset, chunk)         # repeat, chunks of any size in order
#   state = rx.finish()                      # verified and switched: reset to run it
#
# Order of checks: the head (header, manifest, signature) is buffered (at most
# bundle.MANIFEST_MAX + 72 bytes) and its signature verified under the trust anchor, then
# board and security version, before a single byte is written to the slot. File bytes go
# straight to the slot through a streaming SHA-256, each file compared at its end; finish()
# reads every file back and hashes it again before the one atomic write that switches.
# Any failure is a bundle.Refused with a reason: logged, the download dropped, the running
# version untouched (it is never written).
#
# Resuming: after every chunk the offset is recorded (AtomicRecord <root>/ota/progress);
# begin() with the same bundle id and size continues from the start of the file that was
# being written (the head is re-read and re-verified; the partial file is rewritten).

import os
import hashlib
from micropython import const
from store.atomic import AtomicRecord
from store.fs import make_dirs, remove_quietly, StoreError
from ota import bundle, slots
from ota.bundle import Refused

ANCHOR_PATH = "/keys/ota-anchor.pub"
_READ_BYTES = const(1024)  # read-back buffer
_BUNDLE_ID_MAX = const(64)


def load_anchor(root):
    """The trust anchor (x, y) from <root>/keys/ota-anchor.pub; Refused(NO_ANCHOR) if absent or bad."""
    from crypto import ecdsa  # imported on the first update, not at boot: the G table is ~7 KB of heap
    try:
        raw = AtomicRecord(root + ANCHOR_PATH).read()
    except (OSError, StoreError) as exc:  # a damaged anchor is not an absent one: say which
        raise Refused(bundle.NO_ANCHOR, "stored OTA trust anchor unreadable: %s" % exc)
    if raw is None:
        raise Refused(bundle.NO_ANCHOR, "no OTA trust anchor provisioned")
    try:
        return ecdsa.public_point(raw)
    except ecdsa.ECDSAError:
        raise Refused(bundle.NO_ANCHOR, "stored OTA trust anchor is not a P-256 point")


def hash_file(path, buf):
    """SHA-256 and size of a file, read through buf."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(memoryview(buf)[:n])
            size += n
    return h.digest(), size


class Receiver:
    def __init__(self, root, board_name, clock=None, max_boots=slots.DEFAULT_MAX_BOOTS):
        self.system_log = None  # the app's system log, when it runs in one (OtaService sets it)
        self.root = root
        self.board_name = board_name
        self.clock = clock
        self.max_boots = max_boots
        self._progress = AtomicRecord(root + "/ota/progress")
        self._head_record = AtomicRecord(root + "/ota/head")
        self.notify = None  # notify(fields): each logged event, for the console (health.py)
        self.log_failures = 0  # events the system log did not take (full or failing flash)
        self.resume_failures = 0  # downloads started over because their progress was unreadable
        self._reset()

    def _reset(self):
        self.bundle_id = None
        self.total = 0
        self.offset = 0
        self.head = None  # bytearray while the head arrives
        self.head_len = 0
        self.manifest = None
        self.slot = None
        self._file_index = 0
        self._file_left = 0
        self._file = None
        self._hash = None

    # ---- logging and refusal

    def _now(self):
        return self.clock.time_s() if self.clock is not None else 0

    def log(self, fields):
        error = slots.log_event(self.root, self._now(), fields, self.system_log)
        if error is not None:
            self.log_failures += 1
        if self.notify is not None:
            self.notify(fields)
            if error is not None:
                self.notify({"event": "log-failed", "detail": str(error), "version": fields.get("version")})

    def _refuse(self, reason, detail=""):
        """Drop the download, log why, raise Refused."""
        version = self.manifest["version"] if self.manifest else None
        self.abort()
        self.log({"event": "refused", "reason": reason, "detail": detail, "version": version})
        raise Refused(reason, detail)

    def abort(self):
        """Forget the download in progress (its partial slot is wiped at the next begin)."""
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
        remove_quietly(self.root + "/ota/progress")
        remove_quietly(self.root + "/ota/head")
        self._reset()

    # ---- protocol steps

    def status(self):
        state = slots.read_state(self.root)
        return {"active": state["active"], "version": state["version"],
                "security_version": state["security_version"], "trial": state["trial"]}

    def begin(self, bundle_id, total):
        """Start (or resume) the download of a bundle of total bytes; returns the offset to send from."""
        if not isinstance(bundle_id, str) or not 0 < len(bundle_id) <= _BUNDLE_ID_MAX:
            raise Refused(bundle.BAD_FORMAT, "bundle id")
        max_total = bundle.HEADER_BYTES + bundle.MANIFEST_MAX + bundle.SIGNATURE_BYTES + bundle.FILES_MAX * bundle.FILE_MAX
        if not isinstance(total, int) or not bundle.HEADER_BYTES < total <= max_total:
            raise Refused(bundle.BAD_FORMAT, "bundle size %r" % (total,))
        state = slots.read_state(self.root)
        if state["trial"]:
            # The revert target must stay intact until the running version is confirmed.
            self._refuse(bundle.BUSY, "version %s is on trial" % state["version"])
        if self._file is not None:
            self._file.close()
        self._reset()
        progress = self._resume_record(self._progress, True)
        if type(progress) is dict and progress.get("id") == bundle_id and progress.get("total") == total:
            head = self._resume_record(self._head_record, False)
            if head is not None:
                self.bundle_id = bundle_id
                self.total = total
                self.slot = slots.inactive_slot(state)
                self._accept_head(bytearray(head), state, fresh=False)
                try:
                    return self._resume_at(progress["offset"])
                except (OSError, StoreError) as exc:
                    self._refuse(bundle.STORAGE, "reopening slot %s: %s" % (self.slot, exc))
        self.abort()
        self.bundle_id = bundle_id
        self.total = total
        self.head = bytearray()
        return 0

    def write(self, offset, data):
        """Take the bytes at offset (the offset begin()/write() returned); returns the next offset."""
        if self.bundle_id is None:
            raise Refused(bundle.OUT_OF_ORDER, "no download begun")
        if offset != self.offset:
            raise Refused(bundle.OUT_OF_ORDER, "expected offset %d, got %d" % (self.offset, offset))
        if self.offset + len(data) > self.total:
            self._refuse(bundle.BAD_FORMAT, "more data than the announced size")
        view = memoryview(data)
        while self.manifest is None and len(view):
            want = self.head_len or bundle.HEADER_BYTES
            take = min(want - len(self.head), len(view))
            self.head.extend(view[:take])
            view = view[take:]
            self.offset += take
            if len(self.head) < want:
                break
            if not self.head_len:
                try:
                    self.head_len = bundle.head_bytes(self.head)
                except Refused as exc:
                    self._refuse(exc.reason, exc.detail)
            else:
                self._accept_head(self.head, slots.read_state(self.root), fresh=True)
        if len(view):
            try:
                self._write_files(view)
            except (OSError, StoreError) as exc:  # full or failing filesystem: nothing switched
                self._refuse(bundle.STORAGE, "writing the slot: %s" % exc)
        self._progress.write_json({"id": self.bundle_id, "total": self.total, "offset": self.offset})
        return self.offset

    def finish(self):
        """All bytes sent: read every file back, check it, switch. Returns the new state."""
        if self.bundle_id is None:
            raise Refused(bundle.OUT_OF_ORDER, "no download begun")
        if self.manifest is None or self.offset != self.total or self._file_index < len(self.manifest["files"]):
            self._refuse(bundle.TRUNCATED, "received %d of %d bytes" % (self.offset, self.total))
        folder = slots.slot_dir(self.root, self.slot)
        buf = bytearray(_READ_BYTES)
        for entry in self.manifest["files"]:
            try:
                digest, size = hash_file(folder + "/" + entry["path"], buf)
            except OSError:
                self._refuse(bundle.TRUNCATED, "missing " + entry["path"])
            if size != entry["size"]:
                self._refuse(bundle.FILE_SIZE, entry["path"])
            if digest != entry["digest"]:
                self._refuse(bundle.FILE_HASH, entry["path"] + " (read back)")
        state = slots.read_state(self.root)
        manifest = self.manifest
        new = slots.switch(self.root, state, self.slot, manifest, self.max_boots)
        self.abort()
        self.log({"event": "switched", "slot": new["active"], "version": new["version"],
                  "security_version": new["security_version"], "from_version": state["version"]})
        return new

    # ---- internals

    def _resume_record(self, record, is_json):
        """A download record for resuming, or None; an unreadable one (damaged flash) only costs
        the resume, so it is counted and logged and the download starts over."""
        try:
            return record.read_json() if is_json else record.read()
        except (OSError, ValueError, StoreError) as exc:  # ValueError: not JSON
            self.resume_failures += 1
            self.log({"event": "resume-dropped", "detail": "%s: %s" % (record.path, exc)})
            return None

    def _accept_head(self, head, state, fresh):
        """Verify the head, check the policy, prepare the slot (fresh) or reopen it."""
        try:
            anchor = load_anchor(self.root)
            manifest = bundle.verify(head, anchor)
        except Refused as exc:
            self._refuse(exc.reason, exc.detail)
        self.manifest = manifest
        if manifest["board"] != self.board_name:
            self._refuse(bundle.WRONG_BOARD, "bundle for %s, this is %s" % (manifest["board"], self.board_name))
        if manifest["security_version"] < state["floor"]:
            self._refuse(bundle.DOWNGRADE, "security version %d is below %d" % (manifest["security_version"], state["floor"]))
        self.head_len = len(head)
        if self.total != self.head_len + bundle.payload_bytes(manifest):
            self._refuse(bundle.BAD_FORMAT, "announced size does not match the manifest")
        self.head = None
        self.check_manifest(manifest)
        if fresh:
            self.slot = slots.inactive_slot(state)
            try:
                self.prepare_target()
                self._head_record.write(head)
                self._file_index = 0
                self._open_file()
            except (OSError, StoreError) as exc:
                self._refuse(bundle.STORAGE, "preparing slot %s: %s" % (self.slot, exc))
            self.log({"event": "download", "version": manifest["version"],
                      "security_version": manifest["security_version"], "slot": self.slot})

    def check_manifest(self, manifest):
        """Further checks of a verified manifest (ImageReceiver: one image file)."""

    def prepare_target(self):
        """Empty the inactive slot for a fresh download."""
        folder = slots.slot_dir(self.root, self.slot)
        slots.remove_tree(folder)
        make_dirs(folder)

    def _resume_at(self, recorded):
        """Position at the start of the file that holds offset `recorded`; returns that offset."""
        start = self.head_len
        index = 0
        files = self.manifest["files"]
        # Files wholly before `recorded` were closed and checked; a file still open there
        # (or an empty one exactly at it) is written again from its start.
        while index < len(files):
            size = files[index]["size"]
            if start + size > recorded or (not size and start == recorded):
                break
            start += size
            index += 1
        self.offset = start
        self._file_index = index
        self._open_file()
        self.log({"event": "resumed", "version": self.manifest["version"], "offset": start})
        return start

    def _open_file(self):
        """Open the next file to fill; empty files are created (and checked) at once."""
        files = self.manifest["files"]
        folder = slots.slot_dir(self.root, self.slot)
        while self._file_index < len(files):
            entry = files[self._file_index]
            path = folder + "/" + entry["path"]
            if "/" in entry["path"]:
                make_dirs(path.rsplit("/", 1)[0])
            self._file = open(path, "wb")
            self._hash = hashlib.sha256()
            self._file_left = entry["size"]
            if self._file_left:
                return
            self._close_file(entry)
        self._file = None

    def _close_file(self, entry):
        self._file.flush()
        self._file.close()
        self._file = None
        if self._hash.digest() != entry["digest"]:
            self._refuse(bundle.FILE_HASH, entry["path"])
        self._file_index += 1

    def _write_files(self, view):
        files = self.manifest["files"]
        while len(view):
            if self._file is None:
                self._refuse(bundle.BAD_FORMAT, "data after the last file")
            take = min(self._file_left, len(view))
            part = view[:take]
            self._file.write(part)
            self._hash.update(part)
            self._file_left -= take
            self.offset += take
            view = view[take:]
            if not self._file_left:
                self._close_file(files[self._file_index])
                self._open_file()
        if self._file is not None:
            self._file.flush()


def install_file(root, board_name, path, chunk_bytes=4096, clock=None):
    """Install a bundle already on the device's filesystem (the mpremote transport)."""
    size = os.stat(path)[6]
    rx = Receiver(root, board_name, clock)
    offset = rx.begin("file:%d" % size, size)
    buf = bytearray(chunk_bytes)
    with open(path, "rb") as f:
        f.seek(offset)
        while offset < size:
            n = f.readinto(buf)
            if not n:
                break
            offset = rx.write(offset, memoryview(buf)[:n])
    return rx.finish()
