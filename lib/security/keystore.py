# Device keys at rest, encrypted and authenticated under the board secret.
#
# Each key is one AtomicRecord `<folder>/<name>.key` (so a torn write leaves the old key):
#   0   1  format (1)
#   1   4  generation, little-endian (1 for the first key of that name, +1 per change)
#   5  16  IV (random)
#  21  16  the key, AES-128-CBC under K_enc with that IV
#  37  16  AES-CMAC under K_mac of name || bytes 0..36
# K_enc and K_mac are derived from the board secret with AES-CMAC over a label, so the
# secret itself never encrypts data. A record moved to another name or another board,
# or altered, fails its MAC and reads as KeyStoreError; a key is never logged or printed.

import os
import struct
from micropython import const
from crypto.aes import cbc_encrypt, cbc_decrypt, KEY_BYTES
from crypto.cmac import CMAC, equal
from store.atomic import AtomicRecord
from store.fs import StoreError, make_dirs

_FORMAT = const(1)
_RECORD_BYTES = const(53)
_BODY_BYTES = const(37)


class KeyStoreError(Exception):
    """A key is missing, damaged, or was not sealed by this board."""


def _label_key(secret_mac, label):
    return secret_mac.digest(label)


class KeyStore:
    def __init__(self, folder, board_secret):
        if board_secret is None or len(board_secret) != KEY_BYTES:
            raise KeyStoreError("board secret must be 16 bytes")
        self.folder = folder
        make_dirs(folder)
        root = CMAC(board_secret)
        self._k_enc = _label_key(root, b"keystore enc v1")
        self._mac = CMAC(_label_key(root, b"keystore mac v1"))

    def _record(self, name):
        if not name or "/" in name or "." in name:
            raise KeyStoreError("bad key name")
        return AtomicRecord(self.folder + "/" + name + ".key")

    def _tag(self, name, body):
        return self._mac.digest(name.encode() + bytes(body))

    def _open(self, name):
        try:
            data = self._record(name).read()
        except StoreError:
            raise KeyStoreError("key %s damaged" % name)
        if data is None:
            raise KeyStoreError("no key %s" % name)
        if len(data) != _RECORD_BYTES or data[0] != _FORMAT:
            raise KeyStoreError("key %s damaged" % name)
        if not equal(self._tag(name, data[:_BODY_BYTES]), data[_BODY_BYTES:]):
            raise KeyStoreError("key %s fails its check" % name)
        generation = struct.unpack_from("<I", data, 1)[0]
        key = bytes(cbc_decrypt(self._k_enc, data[5:21], data[21:37]))
        return key, generation

    def has(self, name):
        try:
            self._open(name)
            return True
        except KeyStoreError:
            return False

    def get(self, name):
        """The key (16 bytes); KeyStoreError if it is missing or damaged."""
        return self._open(name)[0]

    def generation(self, name):
        """How many times the key was set (0 if it never was)."""
        try:
            return self._open(name)[1]
        except KeyStoreError:
            return 0

    def put(self, name, key):
        """Store a key (replacing any older one) and return its new generation."""
        if len(key) != KEY_BYTES:
            raise KeyStoreError("key must be 16 bytes")
        generation = self.generation(name) + 1
        body = bytearray(_BODY_BYTES)
        body[0] = _FORMAT
        struct.pack_into("<I", body, 1, generation)
        iv = os.urandom(16)
        body[5:21] = iv
        cbc_encrypt(self._k_enc, iv, key, memoryview(body)[21:37])
        self._record(name).write(bytes(body) + self._tag(name, body))
        return generation

    def erase(self, name):
        """Destroy a key for good: overwrite its record with random bytes, then delete it.

        (On flash the overwrite may land in a new block; the record was sealed under the
        board secret anyway, so what stays behind is ciphertext.)"""
        record = self._record(name)
        for path in (record.path, record.path + ".new"):
            try:
                size = os.stat(path)[6]
            except OSError:
                continue
            with open(path, "wb") as f:
                f.write(os.urandom(size))
                f.flush()
            os.remove(path)

    def names(self):
        found = []
        for name in os.listdir(self.folder):
            if name.endswith(".key") and self.has(name[:-4]):
                found.append(name[:-4])
        found.sort()
        return found


def open_board_keys(hw):
    """The board's key store, in <storage_root>/keys, sealed with hw.board_secret."""
    if hw.board_secret is None:
        raise KeyStoreError("this board has no secret to seal keys with")
    return KeyStore(hw.storage_root + "/keys", hw.board_secret)
