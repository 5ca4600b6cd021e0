# Board secrets for the device boards: 16 bytes that seal the key store (keystore.py).
#
# The stored random part never leaves the board and is mixed with the chip id through
# AES-CMAC, so a copied storage image does not open on another chip (unless the copier
# also reads that chip's id, which is not secret). What protects the random part:
#   ESP32   esp32.NVS (its own flash partition); only flash encryption with the eFuse key
#           (and, better, an eFuse HMAC key) stops someone who reads the flash chip.
#   RP2040  nothing: no secure storage and no fuses for keys; anyone who holds the board
#           can read the flash over SWD or BOOTSEL. The keys are sealed against copies,
#           not against a determined holder of the board. docs/security.md says so.

import os
from crypto.cmac import cmac

SECRET_BYTES = 16
_LABEL = b"board secret v1"


def mix(stored, unique_id):
    """The board secret: AES-CMAC(stored random part, label || chip id)."""
    return cmac(bytes(stored), _LABEL + bytes(unique_id))


def from_nvs(nvs, unique_id):
    """ESP32: the random part in an esp32.NVS namespace, made on first use."""
    buf = bytearray(SECRET_BYTES)
    try:
        got = nvs.get_blob("secret", buf)
    except OSError:
        got = 0
    if got != SECRET_BYTES:
        buf = bytearray(os.urandom(SECRET_BYTES))  # the ESP32's hardware RNG
        nvs.set_blob("secret", buf)
        nvs.commit()
    return mix(buf, unique_id)


def stored_in_file(path):
    """The random part kept in a file, made on first use from the OS's random source
    (written beside and renamed, so a torn write leaves no short secret)."""
    try:
        with open(path, "rb") as f:
            stored = f.read()
        if len(stored) == SECRET_BYTES:
            return stored
    except OSError:
        pass
    stored = os.urandom(SECRET_BYTES)
    with open(path + ".new", "wb") as f:
        f.write(stored)
    os.rename(path + ".new", path)
    return stored


def from_file(path, unique_id):
    """RP2040: the random part in a file on the board's flash, mixed with the chip id."""
    return mix(stored_in_file(path), unique_id)
