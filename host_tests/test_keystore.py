# Keys at rest: sealed under the board secret, bound to their name, never readable
# on another board, and never written in the clear.

import os
import support
from support import raises
from security.keystore import KeyStore, KeyStoreError


def test_put_get_generation_and_names():
    folder = support.tmpdir("ks")
    try:
        store = KeyStore(folder, bytes(range(16)))
        assert store.names() == []
        assert raises(KeyStoreError, store.get, "lmn")
        assert store.generation("lmn") == 0
        key = bytes(range(100, 116))
        assert store.put("lmn", key) == 1
        assert store.get("lmn") == key
        assert store.put("lmn", bytes(16)) == 2
        assert store.get("lmn") == bytes(16)
        store.put("mep", key)
        assert store.names() == ["lmn", "mep"]
        again = KeyStore(folder, bytes(range(16)))  # after a reboot
        assert again.get("mep") == key and again.generation("lmn") == 2
    finally:
        support.rmtree(folder)


def test_key_not_in_clear_and_other_board_cannot_read():
    folder = support.tmpdir("ks")
    try:
        key = b"\xA5" * 8 + b"\x5A" * 8
        KeyStore(folder, bytes(16)).put("admin", key)
        with open(folder + "/admin.key", "rb") as f:
            raw = f.read()
        assert raw.find(key) < 0
        assert raises(KeyStoreError, KeyStore(folder, b"\x01" * 16).get, "admin")
    finally:
        support.rmtree(folder)


def test_tampered_or_renamed_record_is_refused():
    folder = support.tmpdir("ks")
    try:
        store = KeyStore(folder, bytes(16))
        store.put("lmn", bytes(range(16)))
        os.rename(folder + "/lmn.key", folder + "/mep.key")  # moved to another name
        assert raises(KeyStoreError, store.get, "mep")
        store.put("lmn", bytes(range(16)))
        with open(folder + "/lmn.key", "rb") as f:
            raw = bytearray(f.read())
        raw[-20] ^= 1
        with open(folder + "/lmn.key", "wb") as f:
            f.write(raw)
        assert raises(KeyStoreError, store.get, "lmn")
        assert raises(KeyStoreError, store.get, "../x")
        assert raises(KeyStoreError, store.put, "lmn", b"short")
        assert raises(KeyStoreError, KeyStore, folder, b"short")
    finally:
        support.rmtree(folder)


def test_host_board_secret_made_once_and_opens_keys():
    support.needs_host_board()
    import board as host_board
    from security.keystore import open_board_keys

    folder = support.tmpdir("ks")
    try:
        config = {"app": "mep_device", "board": {"storage_dir": folder, "watchdog": False}}
        hw = host_board.make_hardware(config)
        assert len(hw.board_secret) == 16
        open_board_keys(hw).put("mep", b"k" * 16)
        hw2 = host_board.make_hardware(config)
        assert hw2.board_secret == hw.board_secret
        assert open_board_keys(hw2).get("mep") == b"k" * 16
    finally:
        support.rmtree(folder)
