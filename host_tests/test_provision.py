# test: cpython-only (tools/provision.py uses `cryptography` for the key file and the OTA key)
# The manufacturer's key file, provisioning of host devices, and the files for the head-end.

import json
import os
import subprocess
import sys

import provision
from support import REPO, tmpdir, rmtree, raises
from security import keys as K
from security.keystore import KeyStore
import board as host_board


def _generate(d):
    return provision.generate(d + "/m.keys", d + "/m.secret", ["12345678", "12345679"], [("12345678", "87654321")],
                              ota_key_out=d + "/ota.pem")


def test_generated_file_is_sealed_and_opens_only_with_its_key():
    d = tmpdir("prov")
    try:
        plain = _generate(d)
        assert set(plain["devices"]) == {"12345678", "12345679", "87654321"}
        meter, other, mep_dev = (plain["devices"][s] for s in ("12345678", "12345679", "87654321"))
        keys = [meter[n] for n in K.DEVICE_KEYS] + [other[n] for n in K.DEVICE_KEYS] + [mep_dev["admin"]]
        assert len(set(keys)) == len(keys)  # every key its own (one meter's says nothing of another's)
        assert mep_dev["mep"] == meter["mep"] and "lmn" not in mep_dev
        assert len(bytes.fromhex(meter["ota_anchor"])) == 65
        with open(d + "/m.keys") as f:
            sealed = f.read()
        for key in keys + [plain["utility_key"]]:
            assert key not in sealed and key.upper() not in sealed
        assert oct(os.stat(d + "/m.secret").st_mode & 0o777) == "0o600"
        secret = provision.read_decryption_key(d + "/m.secret")
        assert provision.open_key_file(d + "/m.keys", secret) == plain
        raises(provision.ProvisionError, provision.open_key_file, d + "/m.keys", os.urandom(32))
        # A flipped bit in the ciphertext: refused.
        doc = json.loads(sealed)
        ct = bytearray.fromhex(doc["ciphertext"])
        ct[5] ^= 1
        doc["ciphertext"] = ct.hex()
        with open(d + "/bad.keys", "w") as f:
            json.dump(doc, f)
        raises(provision.ProvisionError, provision.open_key_file, d + "/bad.keys", secret)
    finally:
        rmtree(d)


def test_provision_host_device_then_refuse_a_second_time():
    d = tmpdir("prov")
    try:
        plain = _generate(d)
        names = provision.provision_host(d + "/meter", plain, "12345678")
        assert names == ["admin", "dlms_ak", "dlms_ek", "lmn", "mep"]
        store = KeyStore(d + "/meter/keys", host_board.board_secret(d + "/meter/board.secret"))
        keys = K.DeviceKeys(store)
        assert keys.provisioned and not store.has(K.UTILITY)
        for name in K.DEVICE_KEYS:
            assert store.get(name).hex() == plain["devices"]["12345678"][name]
        assert keys.anchor().hex() == plain["devices"]["12345678"]["ota_anchor"]
        raises(provision.ProvisionError, provision.provision_host, d + "/meter", plain, "12345678")
        raises(provision.ProvisionError, provision.provision_host, d + "/x", plain, "99999999")
        # The MEP device gets the meter's MEP key and no LMN key.
        assert provision.provision_host(d + "/mepdev", plain, "87654321") == ["admin", "mep"]
    finally:
        rmtree(d)


def test_headend_and_admin_files():
    d = tmpdir("prov")
    try:
        plain = _generate(d)
        head = provision.headend_keys(plain)
        assert head == {s: {"key": plain["devices"][s]["lmn"]} for s in ("12345678", "12345679")}
        for entry in head.values():
            assert len(entry["key"]) == 32 and int(entry["key"], 16) >= 0
        admin = provision.admin_keys(plain)
        assert admin["87654321"] == {"admin": plain["devices"]["87654321"]["admin"],
                                     "mep": plain["devices"]["12345678"]["mep"]}
    finally:
        rmtree(d)


def test_command_line_flash_provision_and_dry_run_board():
    d = tmpdir("prov")
    try:
        py = sys.executable
        run = lambda *a: subprocess.run([py] + list(a), capture_output=True, text=True, cwd=REPO)  # noqa: E731
        r = run("tools/provision.py", "generate", "--out", d + "/m.keys", "--key-out", d + "/m.secret",
                "--serial", "12345678", "--ota-key-out", d + "/ota.pem")
        assert r.returncode == 0, r.stderr
        plain = provision.open_key_file(d + "/m.keys", provision.read_decryption_key(d + "/m.secret"))
        r = run("tools/flash.py", "provision", "--keys", d + "/m.keys", "--decryption-key", d + "/m.secret",
                "--serial", "12345678", "--host-storage", d + "/meter")
        assert r.returncode == 0, r.stderr
        assert "utility key disabled" in r.stdout
        r = run("tools/flash.py", "provision", "--keys", d + "/m.keys", "--decryption-key", d + "/m.secret",
                "--serial", "12345678", "--port", "/dev/ttyUSB9", "--factory", "--dry-run")
        assert r.returncode == 0, r.stderr
        assert r.stdout.count("mpremote connect /dev/ttyUSB9 exec") == 2
        r2 = run("tools/flash.py", "provision", "--keys", d + "/m.keys", "--decryption-key", d + "/ota.pem",
                 "--serial", "12345678", "--host-storage", d + "/m2")
        assert r2.returncode == 1 and "64 hex digits" in r2.stderr
        r3 = run("tools/provision.py", "headend", "--keys", d + "/m.keys", "--decryption-key", d + "/m.secret",
                 "--out", d + "/headend-keys.json")
        assert r3.returncode == 0
        with open(d + "/headend-keys.json") as f:
            assert json.load(f) == {"12345678": {"key": plain["devices"]["12345678"]["lmn"]}}
        everything = r.stdout + r.stderr + r2.stdout + r2.stderr + r3.stdout + r3.stderr
        for name in K.DEVICE_KEYS:
            key = plain["devices"]["12345678"][name]
            assert key not in everything and key.upper() not in everything
        assert plain["utility_key"] not in everything
    finally:
        rmtree(d)


def test_board_commands_run_the_onboard_module():
    envelope = b"\x01" * 40
    argv = provision.board_provision_argv("/dev/ttyACM0", envelope, b"\x02" * 16)
    assert argv[0][:4] == ["mpremote", "connect", "/dev/ttyACM0", "exec"]
    assert "security.onboard" in argv[0][4] and "factory(board.make_store_hardware()" in argv[0][4]
    assert "provision(board.make_store_hardware(), %r)" % envelope.hex() in argv[1][4]


def test_onboard_module_provisions_a_board_with_its_own_secret():
    # security/onboard.py as mpremote runs it on a board: each call gets a fresh hardware object
    # from board.make_store_hardware() (here the host board's) with the board's own secret;
    # onboard imports no board module.
    import io
    import contextlib

    d = tmpdir("prov")
    try:
        plain = _generate(d)

        def store_hardware():
            return host_board.make_store_hardware({"board": {"storage_dir": d + "/flash"}})

        first = store_hardware()
        secret = first.board_secret  # made on first boot, the same ever after
        first.logs.close()

        sys.modules.pop("security.onboard", None)
        from security import onboard

        utility = bytes.fromhex(plain["utility_key"])
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            onboard.factory(store_hardware(), utility.hex())
            onboard.provision(store_hardware(), provision.provisioning_command(plain["devices"]["12345678"], utility).hex())
            onboard.provision(store_hardware(),
                              provision.provisioning_command(plain["devices"]["12345678"], utility, 2).hex())
            onboard.factory(store_hardware(), utility.hex())
        lines = out.getvalue().splitlines()
        assert lines[0] == "onboard: ok factory" and lines[1] == "onboard: ok provisioned", lines
        assert lines[2].startswith("onboard: refused") and lines[3] == "onboard: refused utility_disabled", lines
        store = KeyStore(d + "/flash/keys", secret)
        assert store.get("lmn").hex() == plain["devices"]["12345678"]["lmn"]
        assert utility.hex() not in out.getvalue()
    finally:
        sys.modules.pop("security.onboard", None)
        rmtree(d)


def test_garbage_key_files_give_a_provision_error():
    from hypothesis import given, settings, strategies as st

    d = tmpdir("prov")
    key = os.urandom(32)
    path = d + "/k.keys"
    json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                               lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                                             max_size=4), max_leaves=10)

    @settings(max_examples=150, deadline=None)
    @given(st.one_of(st.binary(max_size=200).map(lambda b: b.decode("latin-1")), json_values.map(json.dumps),
                     st.fixed_dictionaries({"format": st.just(provision.SEALED_FORMAT), "nonce": st.text(max_size=30),
                                            "ciphertext": st.text(max_size=60)}).map(json.dumps)))
    def check(text):
        with open(path, "w", encoding="latin-1") as f:
            f.write(text)
        raises(provision.ProvisionError, provision.open_key_file, path, key)

    try:
        check()
    finally:
        rmtree(d)
