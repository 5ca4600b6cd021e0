# Host side of OTA updates (docs/ota.md), used by tools/flash.py keygen / sign / ota:
# signing keys, bundle making and signing (with `cryptography`), and pushing a bundle to a
# running device's update port (TCP) or to a board over serial with mpremote.
#
# The bundle format is the firmware's own (lib/ota/bundle.py: header layout, limits, the
# manifest checks); the importer puts lib/ and host_tests/shims on sys.path (flash.py does).

import hashlib
import json
import os
import socket
import struct
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from ota import bundle

CHUNK_BYTES = 4096


class OtaToolError(Exception):
    """A problem the user can fix (flash.py prints it without a traceback)."""


# ---- keys


def keygen(private_path, public_path):
    """A new P-256 signing key (PEM, mode 0600) and its public key as raw 65 bytes 04||X||Y."""
    if os.path.exists(private_path):
        raise OtaToolError("%s exists: not overwriting a signing key" % private_path)
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    with open(public_path, "wb") as f:
        f.write(public_bytes(key))
    return public_bytes(key)


def load_private(path):
    try:
        with open(path, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise OtaToolError("signing key %s: %s" % (path, exc))
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise OtaToolError("signing key %s: not a P-256 private key" % path)
    return key


def public_bytes(key):
    pub = key.public_key() if hasattr(key, "public_key") else key
    return pub.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def write_anchor(storage_root, public_key):
    """Store the trust anchor as the device expects it: an AtomicRecord of the 65 raw bytes
    at <storage_root>/keys/ota-anchor.pub (what provisioning writes on a board)."""
    from store.atomic import AtomicRecord

    if len(public_key) != 65 or public_key[0] != 4:
        raise OtaToolError("trust anchor must be 65 bytes 04||X||Y")
    AtomicRecord(os.path.join(storage_root, "keys", "ota-anchor.pub")).write(public_key)


# ---- bundles


def collect(folder):
    """(path relative to folder, bytes) of every file under folder, sorted."""
    found = []
    for base, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            full = os.path.join(base, name)
            found.append((os.path.relpath(full, folder).replace(os.sep, "/"), open(full, "rb").read()))
    return found


def make_bundle(files, board, version, security_version, private_key):
    """The bundle bytes: header, manifest, signature, contents (lib/ota/bundle.py)."""
    manifest = {
        "board": board,
        "version": version,
        "security_version": security_version,
        "files": [{"path": p, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()} for p, d in files],
    }
    text = json.dumps(manifest, separators=(",", ":")).encode()
    if len(text) > bundle.MANIFEST_MAX:
        raise OtaToolError("manifest is %d bytes, the device takes at most %d" % (len(text), bundle.MANIFEST_MAX))
    head = bundle.MAGIC + bytes([bundle.FORMAT, 0]) + struct.pack("<H", len(text)) + text
    r, s = decode_dss_signature(private_key.sign(head, ec.ECDSA(hashes.SHA256())))
    return head + r.to_bytes(32, "big") + s.to_bytes(32, "big") + b"".join(d for _, d in files)


def read_manifest(data):
    """The bundle's manifest, checked as the device checks it (lib/ota/bundle.py) but without
    the signature (the device has the trust anchor); OtaToolError says what is wrong."""
    try:
        end = bundle.head_bytes(data)
        if len(data) < end:
            raise bundle.Refused(bundle.TRUNCATED, "%d bytes, the head alone needs %d" % (len(data), end))
        manifest = bundle.parse_manifest(data[:end])
    except bundle.Refused as exc:
        raise OtaToolError("not a valid update bundle: %s" % exc)
    if len(data) != end + bundle.payload_bytes(manifest):
        raise OtaToolError("not a valid update bundle: it is %d bytes, its manifest says %d"
                           % (len(data), end + bundle.payload_bytes(manifest)))
    return manifest


# ---- pushing over TCP (the host board's update port)


class _Conn:
    def __init__(self, host, port, timeout_s):
        try:
            self.sock = socket.create_connection((host, port), timeout=timeout_s)
        except OSError as exc:
            raise OtaToolError("cannot reach the update port %s:%d (%s)" % (host, port, exc))
        self.file = self.sock.makefile("rb")

    def ask(self, line, payload=b""):
        self.sock.sendall(line.encode() + b"\n" + payload)
        reply = self.file.readline().decode().strip()
        if not reply:
            raise OtaToolError("the device closed the connection")
        return reply

    def close(self):
        self.file.close()
        self.sock.close()


def _expect(reply, word):
    if reply.startswith("REFUSED"):
        raise OtaToolError("refused by the device: " + reply[8:])
    if not reply.startswith(word + " "):
        raise OtaToolError("unexpected reply: " + reply)
    return reply[len(word) + 1:]


def device_status(host, port, timeout_s=5):
    conn = _Conn(host, port, timeout_s)
    try:
        return json.loads(_expect(conn.ask("STATUS"), "STATUS"))
    finally:
        conn.close()


def push_tcp(data, host, port, out=print, timeout_s=30, stop_after=None):
    """Send a bundle; returns the version the device switched to. stop_after (tests): leave
    after that many bytes, as a broken link would."""
    bundle_id = hashlib.sha256(data).hexdigest()
    conn = _Conn(host, port, timeout_s)
    try:
        offset = int(_expect(conn.ask("HELLO %s %d" % (bundle_id, len(data))), "OFFSET"))
        if offset:
            out("resuming at byte %d of %d" % (offset, len(data)))
        while offset < len(data):
            if stop_after is not None and offset >= stop_after:
                return None
            chunk = data[offset:offset + CHUNK_BYTES]
            offset = int(_expect(conn.ask("DATA %d %d" % (offset, len(chunk)), chunk), "OFFSET"))
        return _expect(conn.ask("END"), "SWITCHED")
    finally:
        conn.close()


def wait_confirmed(host, port, version, timeout_s, out=print):
    """Poll STATUS until version runs confirmed (True), or the device, having restarted,
    runs another version confirmed (False: reverted), or timeout_s passes (None)."""
    deadline = time.monotonic() + timeout_s
    last = None
    restarted = False
    while time.monotonic() < deadline:
        try:
            status = device_status(host, port)
        except (OtaToolError, OSError, ValueError):
            restarted = True
            time.sleep(0.3)
            continue
        shown = (status["version"], status["trial"])
        if shown != last:
            out("device runs %s%s (slot %s)" % (status["version"], " on trial" if status["trial"] else "",
                                                status["active"]))
            last = shown
        if status["trial"]:
            restarted = True
        elif status["version"] == version:
            return True
        elif restarted:
            return False
        time.sleep(0.3)
    return None
