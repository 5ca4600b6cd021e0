#!/usr/bin/env python3
# Regenerates the OTA test bundles in this folder (CPython, `cryptography`):
#   python host_tests/data/ota/make.py
# Two throw-away P-256 keys (test-signing.pem: the anchor's, other-signing.pem: not) and
# small application trees whose every file names its version, so a test can tell a mix.

import os

import otatool

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))


def app_files(version):
    """A small application tree: a module naming its version, a package, a larger file and an empty one."""
    filler = ("# version %s\n" % version).encode() * 700  # ~10 KB, spans chunks
    return [
        ("appver.py", ('VERSION = "%s"\n' % version).encode()),
        ("pkg/__init__.py", b""),
        ("pkg/data.py", ('NAME = "data-%s"\n' % version).encode() + filler),
        ("pkg/more.txt", ("more %s\n" % version).encode() * 300),
    ]


BUNDLES = {
    # name: (board, version, security_version, key)
    "v1.ota": ("host", "1.0", 1, "test"),
    "v2.ota": ("host", "2.0", 2, "test"),
    "v3.ota": ("host", "3.0", 2, "test"),
    "v0.ota": ("host", "0.9", 0, "test"),
    "esp32.ota": ("esp32", "2.0", 2, "test"),
    "otherkey.ota": ("host", "2.0", 2, "other"),
}


def image_files():
    """A stand-in firmware image (ESP32 full-image path): 5 blocks and a bit."""
    body = bytes((i * 7 + 3) & 0xFF for i in range(4096 * 5 + 123))
    return [("firmware.bin", b"\xe9" + body[1:])]


def deep_manifest_head(private_key, depth=8000):
    """A signed bundle head whose manifest is `depth` nested lists (issue 12 item 6): valid
    JSON within MANIFEST_MAX that a naive parser spends its heap and seconds on."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    text = b"[" * depth + b"]" * depth
    head = otatool.MAGIC + bytes([otatool.FORMAT, 0]) + len(text).to_bytes(2, "little") + text
    r, s = decode_dss_signature(private_key.sign(head, ec.ECDSA(hashes.SHA256())))
    return head + r.to_bytes(32, "big") + s.to_bytes(32, "big")


def write_deep(keys=None):
    key = (keys or {}).get("test") or otatool.load_private(os.path.join(HERE, "test-signing.pem"))
    with open(os.path.join(HERE, "deep-manifest.ota"), "wb") as f:
        f.write(deep_manifest_head(key))
    print("wrote deep-manifest.ota")


def main():
    keys = {}
    for name in ("test", "other"):
        path = os.path.join(HERE, name + "-signing.pem")
        if not os.path.exists(path):
            otatool.keygen(path, os.path.join(HERE, name + "-anchor.pub"))
        keys[name] = otatool.load_private(path)
    for name, (board, version, sv, key) in BUNDLES.items():
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(otatool.make_bundle(app_files(version), board, version, sv, keys[key]))
        print("wrote", name)
    with open(os.path.join(HERE, "image.ota"), "wb") as f:
        f.write(otatool.make_bundle(image_files(), "esp32", "2.0", 2, keys["test"]))
    print("wrote image.ota")
    write_deep(keys)


if __name__ == "__main__":
    main()
