# Full-image updates into a firmware partition: the ESP32 path (esp32.Partition, ESP-IDF's
# own A/B "ota_0"/"ota_1" slots and rollback). The bundle is the same format with one file,
# "firmware.bin"; it is written in 4 KiB blocks into the next update partition, read back
# and hashed again, then set_boot() makes the bootloader start it on trial: ESP-IDF rolls
# back at the next reset unless the new image calls mark_app_valid_cancel_rollback()
# (health.py does, through confirm()).
#
# `partition` is anything with esp32.Partition's interface: ioctl(4, 0) (block count),
# ioctl(5, 0) (block size), readblocks(n, buf), writeblocks(n, buf), set_boot(); the host
# tests give a fake one.

import hashlib
from micropython import const
from ota import bundle, slots
from ota.bundle import Refused
from ota.receiver import Receiver

IMAGE_NAME = "firmware.bin"
BLOCK_BYTES = const(4096)
_IOCTL_BLOCK_COUNT = const(4)
_IOCTL_BLOCK_SIZE = const(5)


class ImageReceiver(Receiver):
    """Receiver for a full firmware image; target is the next update partition."""

    def __init__(self, root, board_name, partition, clock=None):
        super().__init__(root, board_name, clock)
        self.partition = partition
        self._block = bytearray(BLOCK_BYTES)
        self._fill = 0
        self._block_no = 0

    def check_manifest(self, manifest):
        files = manifest["files"]
        if len(files) != 1 or files[0]["path"] != IMAGE_NAME:
            self._refuse(bundle.BAD_FORMAT, "an image bundle holds one file, " + IMAGE_NAME)
        if self.partition.ioctl(_IOCTL_BLOCK_SIZE, 0) != BLOCK_BYTES:
            self._refuse(bundle.BAD_FORMAT, "partition blocks are not 4096 bytes")
        if files[0]["size"] > self.partition.ioctl(_IOCTL_BLOCK_COUNT, 0) * BLOCK_BYTES:
            self._refuse(bundle.FILE_SIZE, "image larger than the update partition")

    def prepare_target(self):
        self.slot = "image"
        self._fill = 0
        self._block_no = 0

    def _resume_at(self, recorded):
        # Blocks are not re-hashed from flash: an image download starts again after its head.
        self.offset = self.head_len
        self.prepare_target()
        self._file_index = 0
        self._open_file()
        return self.offset

    def _open_file(self):
        if self._file_index >= len(self.manifest["files"]):
            self._file = None
            return
        self._file = True  # the partition, written through _block
        self._hash = hashlib.sha256()
        self._file_left = self.manifest["files"][0]["size"]

    def _flush_block(self):
        block = self._block
        for i in range(self._fill, BLOCK_BYTES):
            block[i] = 0xFF  # erased flash
        self.partition.writeblocks(self._block_no, block)
        self._block_no += 1
        self._fill = 0

    def _write_files(self, view):
        while len(view):
            if self._file is None:
                self._refuse(bundle.BAD_FORMAT, "data after the image")
            take = min(self._file_left, len(view), BLOCK_BYTES - self._fill)
            part = view[:take]
            self._block[self._fill: self._fill + take] = part
            self._hash.update(part)
            self._fill += take
            self._file_left -= take
            self.offset += take
            view = view[take:]
            if self._fill == BLOCK_BYTES or not self._file_left:
                self._flush_block()
            if not self._file_left:
                self._file = None
                entry = self.manifest["files"][0]
                if self._hash.digest() != entry["digest"]:
                    self._refuse(bundle.FILE_HASH, IMAGE_NAME)
                self._file_index = 1

    def abort(self):
        self._file = None
        super().abort()

    def finish(self):
        if self.bundle_id is None:
            raise Refused(bundle.OUT_OF_ORDER, "no download begun")
        if self.manifest is None or self.offset != self.total or self._file_index < 1:
            self._refuse(bundle.TRUNCATED, "received %d of %d bytes" % (self.offset, self.total))
        entry = self.manifest["files"][0]
        h = hashlib.sha256()
        left = entry["size"]
        block = self._block
        n = 0
        while left > 0:
            self.partition.readblocks(n, block)
            take = min(left, BLOCK_BYTES)
            h.update(memoryview(block)[:take])
            left -= take
            n += 1
        if h.digest() != entry["digest"]:
            self._refuse(bundle.FILE_HASH, IMAGE_NAME + " (read back)")
        self.partition.set_boot()
        state = slots.read_state(self.root)
        manifest = self.manifest
        new = slots.switch(self.root, state, "image", manifest, self.max_boots)
        self.abort()
        self.log({"event": "switched", "slot": "image", "version": new["version"],
                  "security_version": new["security_version"], "from_version": state["version"]})
        return new
