# The OTA bundle: one byte string, streamed front to back.
#
#   0   4  magic b"MOTA"
#   4   1  format version (1)
#   5   1  reserved (0)
#   6   2  manifest length m, little-endian (1 .. MANIFEST_MAX)
#   8   m  manifest, UTF-8 JSON (below)
#   8+m 64 ECDSA P-256 signature r||s over SHA-256 of bytes 0 .. 8+m-1 (header and manifest)
#   ... the files' contents, concatenated in manifest order, nothing between or after
#
# Manifest: {"board": "host", "version": "1.2.0", "security_version": 3,
#            "files": [{"path": "crypto/ecdsa.py", "size": 1234, "sha256": "<64 hex>"}, ...]}
# The signature covers the manifest, and the manifest the SHA-256 of every file, so one
# signature check plus one hash per file authenticates every byte of the bundle.

import sys
import json
import hashlib
from binascii import unhexlify
from micropython import const

# MicroPython's json.loads parses a buffer in place (and refuses bad UTF-8 in a string):
# no 2 KB copy of the manifest in a fragmented heap while an update runs. CPython's takes bytes.
_JSON_IN_PLACE = sys.implementation.name == "micropython"

MAGIC = b"MOTA"
FORMAT = const(1)
HEADER_BYTES = const(8)
SIGNATURE_BYTES = const(64)
MANIFEST_MAX = const(16384)  # bounds what a device holds in RAM before the signature check
FILES_MAX = const(512)
# The manifest's shape is bounded before json.loads ever sees it (a parser's stack and heap
# grow with nesting and item count): an object, its file list, the file objects.
MANIFEST_DEPTH_MAX = const(3)
MANIFEST_ITEMS_MAX = const(4 * FILES_MAX + 8)  # values in all lists and objects together
FILE_MAX = const(1048576)
PATH_MAX = const(96)
VERSION_MAX = const(32)
SECURITY_VERSION_MAX = const(0x7FFFFFFF)
_PATH_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-."

# Refusal reasons: short, stable words that go to the system log and over the wire.
BAD_FORMAT = "bad-format"
BAD_SIGNATURE = "bad-signature"
NO_ANCHOR = "no-anchor"
WRONG_BOARD = "wrong-board"
DOWNGRADE = "downgrade"
FILE_SIZE = "file-size"
FILE_HASH = "file-hash"
TRUNCATED = "truncated"
BUSY = "trial-pending"
OUT_OF_ORDER = "out-of-order"
STORAGE = "storage"


class Refused(Exception):
    """An update refused: reason is one of the words above, detail says more."""

    def __init__(self, reason, detail=""):
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail

    def __str__(self):
        return self.reason + (": " + self.detail if self.detail else "")


def manifest_length(header):
    """The manifest length from the 8-byte header; raises Refused if it is not a bundle."""
    if len(header) < HEADER_BYTES or bytes(header[0:4]) != MAGIC:
        raise Refused(BAD_FORMAT, "not an update bundle (magic)")
    if header[4] != FORMAT:
        raise Refused(BAD_FORMAT, "bundle format %d not supported" % header[4])
    length = header[6] | header[7] << 8
    if not 0 < length <= MANIFEST_MAX:
        raise Refused(BAD_FORMAT, "manifest length %d" % length)
    return length


def head_bytes(header):
    """Bytes from the start of the bundle to the end of the signature."""
    return HEADER_BYTES + manifest_length(header) + SIGNATURE_BYTES


def signed_digest(head):
    """SHA-256 of header and manifest: what the signature signs."""
    return hashlib.sha256(memoryview(head)[: len(head) - SIGNATURE_BYTES]).digest()


def _check_path(path):
    if not isinstance(path, str) or not 0 < len(path) <= PATH_MAX:
        return False
    for part in path.split("/"):
        if not part or part == "." or part == "..":
            return False
        for ch in part:
            if ch not in _PATH_CHARS:
                return False
    return True


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def check_shape(text):
    """Refuse (BAD_FORMAT, not retryable: the same bytes always fail) manifest bytes nested
    deeper than MANIFEST_DEPTH_MAX or with more than MANIFEST_ITEMS_MAX values, in one pass
    that allocates nothing, so the parser only ever gets a manifest of a bounded shape."""
    depth = 0
    items = 0
    in_string = False
    escaped = False
    for c in text:
        if in_string:
            if escaped:
                escaped = False
            elif c == 0x5C:  # backslash
                escaped = True
            elif c == 0x22:
                in_string = False
        elif c == 0x22:
            in_string = True
        elif c == 0x5B or c == 0x7B:  # [ {
            depth += 1
            items += 1
            if depth > MANIFEST_DEPTH_MAX:
                raise Refused(BAD_FORMAT, "manifest nested deeper than %d levels" % MANIFEST_DEPTH_MAX)
        elif c == 0x5D or c == 0x7D:  # ] }
            depth -= 1
        elif c == 0x2C:  # a comma: one more value
            items += 1
            if items > MANIFEST_ITEMS_MAX:
                raise Refused(BAD_FORMAT, "manifest has more than %d values" % MANIFEST_ITEMS_MAX)


def parse_manifest(head):
    """The checked manifest (a dict) of a bundle head (header, manifest, signature).

    Raises Refused(BAD_FORMAT) for anything but the documented shape: the device never
    acts on a field it did not check. The signature is not checked here (verify() does).
    """
    length = manifest_length(head)
    if len(head) != HEADER_BYTES + length + SIGNATURE_BYTES:
        raise Refused(BAD_FORMAT, "head is %d bytes, expected %d" % (len(head), HEADER_BYTES + length + SIGNATURE_BYTES))
    text = memoryview(head)[HEADER_BYTES: HEADER_BYTES + length]
    check_shape(text)
    try:
        manifest = json.loads(text if _JSON_IN_PLACE else bytes(text).decode())
    except (ValueError, UnicodeError):
        raise Refused(BAD_FORMAT, "manifest is not UTF-8 JSON")
    if not isinstance(manifest, dict):
        raise Refused(BAD_FORMAT, "manifest is not an object")
    for key in manifest:
        if key not in ("board", "version", "security_version", "files"):
            raise Refused(BAD_FORMAT, "unknown manifest key %r" % (key,))
    board = manifest.get("board")
    version = manifest.get("version")
    sv = manifest.get("security_version")
    files = manifest.get("files")
    if not isinstance(board, str) or not 0 < len(board) <= 16:
        raise Refused(BAD_FORMAT, "board")
    if not isinstance(version, str) or not 0 < len(version) <= VERSION_MAX:
        raise Refused(BAD_FORMAT, "version")
    if not _is_int(sv) or not 0 <= sv <= SECURITY_VERSION_MAX:
        raise Refused(BAD_FORMAT, "security_version")
    if not isinstance(files, list) or not 0 < len(files) <= FILES_MAX:
        raise Refused(BAD_FORMAT, "files")
    seen = set()
    for entry in files:
        if not isinstance(entry, dict) or len(entry) != 3:
            raise Refused(BAD_FORMAT, "file entry")
        path = entry.get("path")
        size = entry.get("size")
        digest = entry.get("sha256")
        if not _check_path(path) or path in seen:
            raise Refused(BAD_FORMAT, "file path %r" % (path,))
        seen.add(path)
        if not _is_int(size) or not 0 <= size <= FILE_MAX:
            raise Refused(BAD_FORMAT, "file size of " + path)
        if not isinstance(digest, str) or len(digest) != 64:
            raise Refused(BAD_FORMAT, "file sha256 of " + path)
        try:
            entry["digest"] = unhexlify(digest)
        except (ValueError, TypeError):
            raise Refused(BAD_FORMAT, "file sha256 of " + path)
    return manifest


def payload_bytes(manifest):
    """Total size of the files' contents."""
    total = 0
    for entry in manifest["files"]:
        total += entry["size"]
    return total


def verify(head, anchor_point):
    """Check the head's signature against the trust anchor ((x, y) from ecdsa.public_point),
    before the manifest is parsed: no field of an unsigned manifest is ever looked at.

    Raises Refused(BAD_SIGNATURE) unless it verifies; returns the checked manifest.
    """
    from crypto import ecdsa

    length = manifest_length(head)
    if len(head) != HEADER_BYTES + length + SIGNATURE_BYTES:
        raise Refused(BAD_FORMAT, "head is %d bytes" % len(head))
    signature = memoryview(head)[len(head) - SIGNATURE_BYTES:]
    if not ecdsa.verify_point(anchor_point[0], anchor_point[1], signed_digest(head), signature):
        raise Refused(BAD_SIGNATURE, "manifest signature does not verify under the trust anchor")
    return parse_manifest(head)
