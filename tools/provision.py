#!/usr/bin/env python3
"""Factory key files and device provisioning (library and command line; docs/security.md).

    provision.py generate --out F.keys --key-out F.secret --serial 12345678 [--serial ...]
                          [--pair METER:MEPDEV ...] [--ota-key PEM | --ota-key-out PEM]
    provision.py device --keys F.keys --decryption-key F.secret --serial S
                        (--host-storage DIR [--secret-file F] | --port PORT [--factory] [--dry-run])
    provision.py headend --keys F.keys --decryption-key F.secret --out headend-keys.json
    provision.py admin-keys --keys F.keys --decryption-key F.secret --out admin-keys.json

The manufacturer's key file is JSON sealed with AES-256-GCM; its 32-byte decryption key
travels separately (a file of 64 hex digits). Keys come from the OS's random source
(secrets.token_bytes). A device is provisioned with the firmware's own code: a PROVISION
command (security/commands.py) authenticated with the utility key, carrying each device
key wrapped (RFC 3394) under a key derived from the utility key, and the OTA trust anchor.
No key is printed.
"""

import argparse
import json
import os
import secrets
import shlex
import shutil
import subprocess
import sys
import time

import repo_paths  # noqa: F401  (the tree's folders on sys.path under any python: tools/repo_paths.py)

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto.keywrap import wrap
from security import keys as K
from security import commands as C

SEALED_FORMAT = "meter-keys-sealed/1"
PLAIN_FORMAT = "meter-keys/1"
DEVICE_KEY_NAMES = K.DEVICE_KEYS  # lmn, mep, admin


class ProvisionError(Exception):
    """A key file that cannot be opened, a device that refused, a missing serial."""


# ---- the manufacturer's key file


def new_key():
    return secrets.token_bytes(16)


def new_signing_key():
    return ec.generate_private_key(ec.SECP256R1())


def anchor_of(private_key):
    """The 65-byte 04||X||Y public point the device stores as its OTA trust anchor."""
    return private_key.public_key().public_bytes(serialization.Encoding.X962,
                                                 serialization.PublicFormat.UncompressedPoint)


def write_private(path, data):
    """A file only its owner can read, replaced atomically."""
    tmp = path + ".new"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def seal_key_file(plain, decryption_key):
    nonce = secrets.token_bytes(12)
    body = json.dumps(plain, sort_keys=True).encode()
    sealed = AESGCM(decryption_key).encrypt(nonce, body, SEALED_FORMAT.encode())
    return {"format": SEALED_FORMAT, "alg": "AES-256-GCM", "nonce": nonce.hex(), "ciphertext": sealed.hex()}


def open_key_file(path, decryption_key):
    """The plaintext of a sealed manufacturer key file (a dict); ProvisionError if it fails."""
    try:
        with open(path) as f:
            sealed = json.load(f)
        if sealed.get("format") != SEALED_FORMAT:
            raise ProvisionError("%s: not a %s file" % (path, SEALED_FORMAT))
        body = AESGCM(decryption_key).decrypt(bytes.fromhex(sealed["nonce"]), bytes.fromhex(sealed["ciphertext"]),
                                              SEALED_FORMAT.encode())
        plain = json.loads(body)
    except ProvisionError:
        raise
    except Exception as exc:  # InvalidTag, bad hex, bad JSON: one answer, no detail to leak
        raise ProvisionError("%s cannot be opened with this decryption key (%s)" % (path, type(exc).__name__))
    if plain.get("format") != PLAIN_FORMAT:
        raise ProvisionError("%s holds format %r" % (path, plain.get("format")))
    return plain


def read_decryption_key(path):
    with open(path) as f:
        text = f.read().strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise ProvisionError("%s must hold 64 hex digits (an AES-256 key)" % path)
    return key


def make_key_file(serials, pairs=(), anchor=None, utility_key=None):
    """The plaintext: one utility key; per device lmn, mep, admin and the OTA anchor.

    pairs: (meter serial, MEP device serial): the MEP device gets the meter's MEP key (and
    an admin key of its own, no LMN key).
    """
    anchor = anchor if anchor is not None else anchor_of(new_signing_key())
    devices = {}
    for serial in serials:
        check_serial(serial)
        devices[serial] = {name: new_key().hex() for name in DEVICE_KEY_NAMES}
        devices[serial]["ota_anchor"] = anchor.hex()
    for meter, mep_device in pairs:
        check_serial(mep_device)
        if meter not in devices:
            raise ProvisionError("pair names meter %s that is not in the file" % meter)
        devices[mep_device] = {"mep": devices[meter]["mep"], "admin": new_key().hex(), "ota_anchor": anchor.hex(),
                               "paired_with": meter}
    return {
        "format": PLAIN_FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "utility_key": (utility_key or new_key()).hex(),
        "devices": devices,
    }


def check_serial(serial):
    if not (len(serial) == 8 and serial.isdigit()):
        raise ProvisionError("serial %r must be 8 digits (the meter id)" % (serial,))


def generate(out, key_out, serials, pairs=(), ota_key=None, ota_key_out=None):
    """Factory: write the sealed key file and its decryption key (and an OTA signing key)."""
    if ota_key:
        with open(ota_key, "rb") as f:
            signing = serialization.load_pem_private_key(f.read(), password=None)
    else:
        signing = new_signing_key()
        if ota_key_out:
            write_private(ota_key_out, signing.private_bytes(serialization.Encoding.PEM,
                                                             serialization.PrivateFormat.PKCS8,
                                                             serialization.NoEncryption()))
    plain = make_key_file(serials, pairs, anchor_of(signing))
    decryption_key = secrets.token_bytes(32)
    write_private(key_out, (decryption_key.hex() + "\n").encode())
    write_private(out, json.dumps(seal_key_file(plain, decryption_key), indent=1).encode())
    return plain


def device_entry(plain, serial):
    entry = plain["devices"].get(serial)
    if entry is None:
        raise ProvisionError("serial %s is not in the key file" % serial)
    return entry


# ---- provisioning a device


def provisioning_command(entry, utility_key, counter=1):
    """The PROVISION envelope for one device: keys wrapped under the utility key."""
    wrapped = {}
    for name in DEVICE_KEY_NAMES:
        if name in entry:
            wrapped[name] = wrap(K.provision_kek(utility_key, name), bytes.fromhex(entry[name]))
    payload = C.provision_payload(bytes.fromhex(entry["ota_anchor"]), wrapped)
    return C.command(utility_key, K.UTILITY, C.PROVISION, counter, 0, payload)


def host_device(storage_dir, secret_file=None):
    """The host board's key store, device logs and command handler, as the firmware opens
    them (board.make_store_hardware, security/onboard.py)."""
    import board  # boards/host/board.py
    from security.onboard import open_device

    hw = board.make_store_hardware({"board": {"storage_dir": storage_dir, "secret_file": secret_file}})
    keys, commands = open_device(hw)
    return keys, hw.logs, commands


def provision_host(storage_dir, plain, serial, secret_file=None):
    """Provision a host-board device's storage: the factory step (the utility key) if the
    device is fresh, then the PROVISION command through the firmware's own handler."""
    entry = device_entry(plain, serial)
    utility_key = bytes.fromhex(plain["utility_key"])
    keys, logs, commands = host_device(storage_dir, secret_file)
    try:
        if keys.provisioned:
            raise ProvisionError("%s is already provisioned (its utility key is gone)" % storage_dir)
        if not keys.store.has(K.UTILITY):
            keys.install_utility(utility_key)  # the factory's step, before the device ships
        counter = commands.counters.get(K.UTILITY, 0) + 1
        reply = commands.handle(provisioning_command(entry, utility_key, counter))
        if reply is None:
            raise ProvisionError("device refused the provisioning command (wrong utility key?)")
        status, detail = C.open_reply(utility_key, reply, counter)
        if status != C.OK:
            raise ProvisionError("device refused provisioning: %s" % detail.decode())
    finally:
        logs.close()
    return sorted(n for n in DEVICE_KEY_NAMES if n in entry)


# The board module builds the parts onboarding needs (storage, board secret, device logs)
# and hands them to security/onboard.py, which never imports a board module itself.
_ONBOARD = "import board, security.onboard as o; "


def board_provision_argv(port, envelope, utility_key=None):
    """mpremote commands that provision a board running this firmware (security/onboard.py)."""
    argv = []
    if utility_key is not None:
        argv.append(["mpremote", "connect", port, "exec",
                     _ONBOARD + "o.factory(board.make_store_hardware(), %r)" % utility_key.hex()])
    argv.append(["mpremote", "connect", port, "exec",
                 _ONBOARD + "o.provision(board.make_store_hardware(), %r)" % envelope.hex()])
    return argv


def provision_board(port, plain, serial, factory=False, dry_run=False):
    entry = device_entry(plain, serial)
    utility_key = bytes.fromhex(plain["utility_key"])
    envelope = provisioning_command(entry, utility_key)
    for argv in board_provision_argv(port, envelope, utility_key if factory else None):
        shown = argv[:4] + ["<%d-byte script>" % len(argv[4])]  # the script carries key material: never shown
        if dry_run:
            print("would run:", " ".join(shlex.quote(a) for a in shown))
            continue
        if shutil.which("mpremote") is None and not os.path.exists(os.path.join(os.path.dirname(sys.executable),
                                                                                "mpremote")):
            raise ProvisionError("mpremote not found (make setup installs it)")
        done = subprocess.run(argv, capture_output=True, text=True)
        out = done.stdout.strip().splitlines()
        if done.returncode != 0 or not out or not out[-1].startswith("onboard: ok"):
            raise ProvisionError("board answered: %s" % (out[-1] if out else done.stderr.strip()[-200:]))


# ---- key files for the head-end and the admin tools


def headend_keys(plain):
    """{"<meter id>": {"key": "<32 hex>"}}: the LMN keys a head-end decrypts with."""
    return {serial: {"key": entry["lmn"]} for serial, entry in sorted(plain["devices"].items()) if "lmn" in entry}


def admin_keys(plain):
    """{"<serial>": {"admin", "mep", "lmn": hex}}: what tools/admin.py signs and wraps with."""
    out = {}
    for serial, entry in sorted(plain["devices"].items()):
        out[serial] = {name: entry[name] for name in ("admin", "mep", "lmn", "dlms_ek", "dlms_ak") if name in entry}
    return out


def write_json_private(path, value):
    write_private(path, (json.dumps(value, indent=1) + "\n").encode())


# ---- the simulation


def _fresh_storage(storage_dir):
    """Sim only: forget a device's keys and security state (re-commissioning a host device)."""
    for sub in ("keys", "security", "log"):
        shutil.rmtree(os.path.join(storage_dir, sub), ignore_errors=True)


def provision_sim(out_dir, meter_storage, mep_storage, meter_id, mep_id="87654321"):
    """Generate every key of the simulation and provision both host devices.

    Leaves in out_dir: headend-keys.json (the LMN key, what a head-end is given), and in
    out_dir/keys: manufacturer.keys (sealed) and manufacturer.secret (its decryption key),
    admin-keys.json (for tools/admin.py) and ota-signing.pem (the OTA signing key whose
    public half is each device's trust anchor). Kept across runs: a device already
    provisioned from this key file is left as it is. Returns the key file's plaintext.
    """
    keys_dir = os.path.join(out_dir, "keys")
    key_file = os.path.join(keys_dir, "manufacturer.keys")
    secret_file = os.path.join(keys_dir, "manufacturer.secret")
    if os.path.exists(key_file) and os.path.exists(secret_file):
        plain = open_key_file(key_file, read_decryption_key(secret_file))
        if meter_id in plain["devices"] and all(
                _is_provisioned(s) for s in (meter_storage, mep_storage)):
            return plain
    os.makedirs(keys_dir, exist_ok=True)
    plain = generate(key_file, secret_file, [meter_id], [(meter_id, mep_id)],
                     ota_key_out=os.path.join(keys_dir, "ota-signing.pem"))
    for storage, serial in ((meter_storage, meter_id), (mep_storage, mep_id)):
        _fresh_storage(storage)
        provision_host(storage, plain, serial)
    write_json_private(os.path.join(out_dir, "headend-keys.json"), headend_keys(plain))
    write_json_private(os.path.join(keys_dir, "admin-keys.json"), admin_keys(plain))
    return plain


def _is_provisioned(storage_dir):
    keys, logs, _ = host_device(storage_dir)
    logs.close()
    return keys.provisioned


# ---- command line


def _plain_from(a):
    return open_key_file(a.keys, read_decryption_key(a.decryption_key))


def add_device_args(p):
    p.add_argument("--keys", required=True, help="the manufacturer's sealed key file")
    p.add_argument("--decryption-key", required=True, metavar="FILE", help="its decryption key (64 hex digits)")
    p.add_argument("--serial", required=True, help="the device's 8-digit serial (meter id)")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--host-storage", metavar="DIR", help="a host-board device's storage_dir")
    where.add_argument("--port", help="a board's serial port (mpremote)")
    p.add_argument("--secret-file", help="host board: its board.secret (default DIR/board.secret)")
    p.add_argument("--factory", action="store_true",
                   help="board: install the utility key first (factory line only: it crosses the USB link)")
    p.add_argument("--dry-run", action="store_true", help="board: show the mpremote commands, run nothing")


def run_device(a):
    plain = _plain_from(a)
    if a.host_storage:
        names = provision_host(a.host_storage, plain, a.serial, a.secret_file)
        print("provisioned %s in %s: keys %s, OTA anchor; utility key disabled" % (a.serial, a.host_storage,
                                                                                     ", ".join(names)))
    else:
        provision_board(a.port, plain, a.serial, factory=a.factory, dry_run=a.dry_run)
        if not a.dry_run:
            print("provisioned %s on %s; utility key disabled" % (a.serial, a.port))


def main(argv=None):
    p = argparse.ArgumentParser(prog="provision.py", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="factory: a sealed key file of new device keys")
    g.add_argument("--out", required=True)
    g.add_argument("--key-out", required=True, help="where the decryption key goes (keep it apart)")
    g.add_argument("--serial", action="append", required=True)
    g.add_argument("--pair", action="append", default=[], metavar="METER:MEPDEV")
    g.add_argument("--ota-key", help="PEM of the OTA signing key whose public key is the anchor")
    g.add_argument("--ota-key-out", help="write a new OTA signing key here")
    add_device_args(sub.add_parser("device", help="provision one device (host storage or a board)"))
    for name, text in (("headend", "the head-end's key file"), ("admin-keys", "the admin tool's key file")):
        h = sub.add_parser(name, help=text)
        h.add_argument("--keys", required=True)
        h.add_argument("--decryption-key", required=True, metavar="FILE")
        h.add_argument("--out", required=True)
    a = p.parse_args(argv)
    try:
        if a.command == "generate":
            if not a.ota_key and not a.ota_key_out:
                p.error("give --ota-key or --ota-key-out")
            pairs = [tuple(x.split(":", 1)) for x in a.pair]
            plain = generate(a.out, a.key_out, a.serial, pairs, a.ota_key, a.ota_key_out)
            print("wrote %s (%d devices) and its decryption key %s" % (a.out, len(plain["devices"]), a.key_out))
        elif a.command == "device":
            run_device(a)
        else:
            plain = _plain_from(a)
            write_json_private(a.out, headend_keys(plain) if a.command == "headend" else admin_keys(plain))
            print("wrote %s" % a.out)
    except (ProvisionError, OSError) as exc:
        print("provision.py %s: %s" % (a.command, exc), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    import toolenv

    toolenv.ensure()  # under .venv/bin/python, whatever python started it
    sys.exit(main())
