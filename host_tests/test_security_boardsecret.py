# Board secrets of the device boards (security/boardsecret.py): made once, kept, bound to
# the chip id. The ESP32's NVS is stood in for by a dict with the esp32.NVS blob interface.

import os
from support import tmpdir, rmtree
from security import boardsecret


class FakeNVS:
    def __init__(self):
        self.blobs = {}
        self.commits = 0

    def get_blob(self, name, buf):
        if name not in self.blobs:
            raise OSError(-4354)  # ESP_ERR_NVS_NOT_FOUND
        data = self.blobs[name]
        buf[:len(data)] = data
        return len(data)

    def set_blob(self, name, data):
        self.blobs[name] = bytes(data)

    def commit(self):
        self.commits += 1


def test_nvs_secret_is_made_once_and_bound_to_the_chip():
    nvs = FakeNVS()
    first = boardsecret.from_nvs(nvs, b"\x01\x02\x03\x04\x05\x06")
    assert len(first) == 16 and nvs.commits == 1
    assert boardsecret.from_nvs(nvs, b"\x01\x02\x03\x04\x05\x06") == first
    assert nvs.commits == 1
    assert boardsecret.from_nvs(nvs, b"\x01\x02\x03\x04\x05\x07") != first  # another chip
    assert nvs.blobs["secret"] != first  # the stored part is not the secret itself
    nvs.blobs["secret"] = b"\x00" * 5  # damaged: a new random part
    assert boardsecret.from_nvs(nvs, b"\x01\x02\x03\x04\x05\x06") != first


def test_file_secret_is_made_once_and_bound_to_the_chip():
    d = tmpdir("bsec")
    try:
        path = d + "/board.secret"
        first = boardsecret.from_file(path, b"chip-a")
        assert len(first) == 16
        assert boardsecret.from_file(path, b"chip-a") == first
        assert boardsecret.from_file(path, b"chip-b") != first
        with open(path, "rb") as f:
            assert f.read() != first
        assert not [n for n in os.listdir(d) if n.endswith(".new")]
    finally:
        rmtree(d)
