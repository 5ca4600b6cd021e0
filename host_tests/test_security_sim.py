# test: cpython-only (runs the simulation and tools/admin.py as processes)
# The simulation end to end: it provisions both devices, the admin tool talks to the
# running meter (status, set-time, a refused drift, wake-up with call-back, key changes),
# and then EVERY file the run left behind and everything printed is scanned for every key
# it provisioned or changed to (raw bytes, lower- and upper-case hex). Only the two files
# whose job is to hand keys to the head-end and the admin tool are exempt.

import json
import os
import signal
import subprocess
import sys
import time

import provision
from support import REPO, tmpdir, rmtree

EXEMPT = ("headend-keys.json", os.path.join("keys", "admin-keys.json"))


def _admin(out, *args):
    return subprocess.run([sys.executable, "tools/admin.py", "--sim", out] + list(args), capture_output=True,
                          text=True, cwd=REPO, timeout=60)


def _wait_for_listener(out, deadline_s):
    while time.time() < deadline_s:
        if os.path.exists(os.path.join(out, "keys", "admin.json")):
            r = _admin(out, "status")
            if r.returncode == 0:
                return r
        time.sleep(0.5)
    raise AssertionError("the meter's admin listener never answered")


def test_simulation_admin_session_and_no_key_in_any_output():
    d = tmpdir("simsec")
    out = os.path.join(d, "out")
    sim = subprocess.Popen([sys.executable, "tools/sim.py", "--seconds", "90", "--speed", "60", "--out", out],
                           cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    printed = []
    try:
        r = _wait_for_listener(out, time.time() + 20)
        printed.append(r.stdout + r.stderr)
        status = json.loads(r.stdout)
        assert status["provisioned"] is True and status["generations"] == {"lmn": 1, "mep": 1, "admin": 1, "dlms_ek": 1, "dlms_ak": 1}
        plain = provision.open_key_file(os.path.join(out, "keys", "manufacturer.keys"),
                                        provision.read_decryption_key(os.path.join(out, "keys", "manufacturer.secret")))
        steps = [
            ("set-time",), ("set-time", "--time", "1000"), ("wake",), ("change-key", "lmn"), ("change-key", "admin"),
            ("status",), ("read-log", "system", "--limit", "32"), ("read-log", "consumer", "--key", "mep"),
        ]
        results = []
        for step in steps:
            r = _admin(out, *step)
            printed.append(r.stdout + r.stderr)
            results.append(r)
        assert results[0].returncode == 0, results[0].stderr
        assert results[1].returncode == 1 and "drift" in results[1].stderr
        assert results[2].returncode == 0 and "called back" in results[2].stdout, results[2].stderr
        assert results[3].returncode == 0 and results[4].returncode == 0, results[3].stderr + results[4].stderr
        final = json.loads(results[5].stdout)
        assert final["generations"] == {"lmn": 2, "mep": 1, "admin": 2, "dlms_ek": 1, "dlms_ak": 1}
        assert final["rejected"].get("drift") == 1
        kinds = [json.loads(line)["kind"] for line in results[6].stdout.splitlines()]
        for kind in ("provisioned", "boot", "time_set", "time_refused", "rejected", "wake", "connected",
                     "key_changed"):
            assert kind in kinds, kind
        with open(os.path.join(out, "keys", "admin-keys.json")) as f:
            changed = json.load(f)["12345678"]
        with open(os.path.join(out, "headend-keys.json")) as f:
            assert json.load(f)["12345678"]["key"] == changed["lmn"]
    finally:
        sim.send_signal(signal.SIGINT)  # a clean stop, as Ctrl-C
        rest, _ = sim.communicate(timeout=60)
        printed.append(rest)
    assert sim.returncode == 0, rest[-2000:]

    secrets = [bytes.fromhex(plain["utility_key"])]
    for entry in plain["devices"].values():
        secrets += [bytes.fromhex(entry[n]) for n in ("lmn", "mep", "admin", "dlms_ek", "dlms_ak") if n in entry]
    secrets += [bytes.fromhex(changed[n]) for n in ("lmn", "admin")]
    secrets = set(secrets)
    assert len(secrets) == 9  # utility; lmn, mep (shared with the MEP device), two admin keys; the two new keys; dlms_ek, dlms_ak
    needles = []
    for key in secrets:
        needles += [key, key.hex().encode(), key.hex().upper().encode()]
    scanned = 0
    for folder, _, files in os.walk(out):
        for name in files:
            path = os.path.join(folder, name)
            if os.path.relpath(path, out) in EXEMPT:
                continue
            with open(path, "rb") as f:
                data = f.read()
            scanned += 1
            for needle in needles:
                assert needle not in data, "a key in %s" % path
    text = "\n".join(printed).encode()
    for needle in needles:
        assert needle not in text, "a key in a tool's or the simulation's output"
    # The store files that hold sealed keys were among them.
    assert scanned > 20
    rmtree(d)
