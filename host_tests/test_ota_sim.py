# test: cpython-only (runs the simulation and the host tools as processes)
# End to end, as a user would: start the simulation, sign a bundle with flash.py sign,
# update the running meter with flash.py ota --sim, see the new version confirmed; then a
# bundle signed with another key and a downgrade, each refused with the version untouched
# and the reason in the meter's system log.

import json
import os
import signal
import subprocess
import sys
import time

from support import REPO, tmpdir, rmtree
from store.ring import Ring

PY = sys.executable
FLASH = os.path.join(REPO, "tools", "flash.py")


def _flash(*args, timeout=120):
    return subprocess.run([PY, FLASH] + list(args), capture_output=True, text=True, timeout=timeout, cwd=REPO)


def _admin_status(out, check=True):
    """tools/admin.py --sim OUT status: the parsed status (check), or the finished process."""
    deadline = time.monotonic() + 60
    while True:
        done = subprocess.run([PY, os.path.join(REPO, "tools", "admin.py"), "--sim", out, "status"],
                              capture_output=True, text=True, timeout=60, cwd=REPO)
        if not check:
            return done
        if done.returncode == 0:
            return json.loads(done.stdout)
        # Before the meter's admin port is up: connection refused; wait for it.
        assert "refused:" not in done.stderr and time.monotonic() < deadline, done.stderr
        time.sleep(0.3)


def _system_log(out, name="system"):
    ring = Ring(os.path.join(out, "meter", "data", "log", name), 4096, 4)
    return [json.loads(p) for _, p in ring.records(0)]


def test_sign_and_update_running_simulation():
    out = tmpdir("otasim")
    keys = tmpdir("otakeys")
    sim = subprocess.Popen([PY, os.path.join(REPO, "tools", "sim.py"), "--seconds", "90", "--out", out,
                            "--no-mep-device", "--ota-confirm-s", "2"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        key = os.path.join(out, "keys", "ota-signing.pem")
        deadline = time.monotonic() + 30
        while not os.path.exists(os.path.join(out, "meter", "config.json")) and time.monotonic() < deadline:
            time.sleep(0.2)
        # Let the calendar run well ahead of the wall (20 s at x60): a restart that lost it
        # would be 20 simulated minutes off, far beyond the admin port's 300 s freshness.
        before = _admin_status(out)
        while before["time_s"] - time.time() < 1200:
            time.sleep(1)
            before = _admin_status(out)
        bundle = os.path.join(keys, "new.ota")
        done = _flash("sign", "--board", "host", "--key", key, "--version", "2.1.0", "--security-version", "3",
                      "--out", bundle)
        assert done.returncode == 0, done.stderr
        done = _flash("ota", "--sim", out, bundle, "--timeout", "60")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "version 2.1.0 confirmed" in done.stdout
        # The calendar continued across the update's restart (issue 12 item 9): no stale refusal.
        admin = _admin_status(out, check=False)
        assert admin.returncode == 0, "admin status after the OTA restart: " + admin.stderr
        after = json.loads(admin.stdout)
        assert after["clock_synchronised"] is True, admin.stdout
        assert after["time_s"] >= before["time_s"], "the calendar went back across the restart: %d, then %d" % (
            before["time_s"], after["time_s"])

        # Another signing key: refused.
        assert _flash("keygen", "--out", keys).returncode == 0
        other = os.path.join(keys, "other.ota")
        assert _flash("sign", "--board", "host", "--key", os.path.join(keys, "ota-signing.pem"), "--version", "6.6.6",
                      "--security-version", "9", "--out", other).returncode == 0
        done = _flash("ota", "--sim", out, other)
        assert done.returncode == 1 and "bad-signature" in done.stderr, done.stdout + done.stderr
        # A downgrade: refused.
        old = os.path.join(keys, "old.ota")
        assert _flash("sign", "--board", "host", "--key", key, "--version", "1.0.0", "--security-version", "2",
                      "--out", old).returncode == 0
        done = _flash("ota", "--sim", out, old)
        assert done.returncode == 1 and "downgrade" in done.stderr, done.stdout + done.stderr
        # Still running the confirmed version.
        import otatool

        with open(os.path.join(out, "meter", "config.json")) as f:
            port = json.load(f)["ota"]["port"]
        status = otatool.device_status("127.0.0.1", port)
        assert status["version"] == "2.1.0" and not status["trial"]
    finally:
        sim.send_signal(signal.SIGINT)
        try:
            sim.wait(20)
        except subprocess.TimeoutExpired:
            sim.kill()
            sim.wait()
    events = [(e["event"], e.get("reason")) for e in _system_log(out) if e["kind"] == "ota"]
    assert ("switched", None) in events and ("confirmed", None) in events
    # Anyone who reaches the update port can cause a refusal: the untrusted log's, rate-limited.
    refused = [(e["event"], e.get("reason")) for e in _system_log(out, "untrusted") if e["kind"] == "ota"]
    assert ("refused", "bad-signature") in refused and ("refused", "downgrade") in refused, refused
    assert not [e for e in events if e[0] == "refused"], events
    rmtree(out)
    rmtree(keys)


def test_ota_over_serial_dry_run_names_the_mpremote_steps():
    done = _flash("ota", "--port", "/dev/ttyUSB9", os.path.join(REPO, "host_tests", "data", "ota", "v1.ota"),
                  "--dry-run")
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("$ ")]
    assert any("fs cp" in line and ":/data/ota/incoming.bundle" in line for line in lines)
    assert any("exec" in line and "install_file" in line for line in lines)
    assert lines[-1].endswith("reset")


def test_sign_refuses_a_key_that_is_not_p256():
    folder = tmpdir("otabadkey")
    path = os.path.join(folder, "bad.pem")
    with open(path, "w") as f:
        f.write("not a key\n")
    done = _flash("sign", "--board", "host", "--key", path, "--version", "1", "--security-version", "1",
                  "--out", os.path.join(folder, "x.ota"), "--from", folder)
    assert done.returncode == 1 and "signing key" in done.stderr
    rmtree(folder)


def test_deploy_ota_reset_forgets_the_state():
    folder = tmpdir("otadeploy")
    done = _flash("deploy", "--board", "esp32", "--port", "/dev/ttyUSB0", "--app", "meter", "--dry-run",
                  "--out", os.path.join(folder, "b"), "--ota-reset")
    rmtree(folder)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("$ ")]
    assert lines[-2].endswith("fs rm :/data/ota/state") and lines[-1].endswith("reset")
