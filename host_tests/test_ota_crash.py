# test: cpython-only (drives MicroPython processes)
# Power loss during updates: a device process (host_tests/ota_crash_device.py, MicroPython
# unix port) boots, confirms, downloads the next bundle, verifies and switches, again and
# again; it is killed (SIGKILL) at random points of each phase: start-up and first (trial)
# boot, signature check (after BEGIN), download, read-back verification, switch. After every kill the store is copied and
# checked under CPython: the state record names a slot holding exactly the files of the
# version it names (and so does the revert target during a trial): never a mix. Every boot
# the device itself checks the code it selected. OTA_CRASH_SEED=<n> repeats the choices.

import hashlib
import json
import os
import random
import select
import shutil
import signal
import subprocess
import time

import repo_paths
from support import REPO, tmpdir, rmtree
from store.atomic import AtomicRecord

bundles_make = repo_paths.module_at("host_tests/data/ota/make.py", "ota_bundles_make")

UPY = os.path.join(REPO, ".venv", "bin", "micropython")
DEVICE = os.path.join(REPO, "host_tests", "ota_crash_device.py")
DATA = os.path.join(REPO, "host_tests", "data", "ota")
KILLS = int(os.getenv("OTA_CRASH_KILLS", "300"))
PHASES = ("start", "BOOT", "BEGIN", "ACK", "VERIFY", "trial")


def _expected():
    """version -> {path: sha256} of every version the device may run."""
    versions = {"factory": {p: hashlib.sha256(d).digest() for p, d in bundles_make.app_files("factory")}}
    for name in ("v2.ota", "v3.ota"):
        data = open(os.path.join(DATA, name), "rb").read()
        length = int.from_bytes(data[6:8], "little")
        manifest = json.loads(data[8:8 + length])
        versions[manifest["version"]] = {f["path"]: bytes.fromhex(f["sha256"]) for f in manifest["files"]}
    return versions


def _tree(folder):
    found = {}
    for base, _, files in os.walk(folder):
        for name in files:
            full = os.path.join(base, name)
            found[os.path.relpath(full, folder)] = hashlib.sha256(open(full, "rb").read()).digest()
    return found


def _check(root, factory, expected):
    copy = root + ".check"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(root, copy)
    try:
        state = AtomicRecord(copy + "/ota/state").read_json()
        if state is None:
            return "factory"
        targets = [(state["active"], state["version"])]
        if state["trial"] and state["previous"]:
            targets.append((state["previous"]["active"], state["previous"]["version"]))
        for slot, version in targets:
            folder = factory if slot == "factory" else os.path.join(copy, "slots", slot)
            got = _tree(folder)
            assert got == expected[version], "slot %s does not hold exactly version %s" % (slot, version)
        return state["version"] + (" trial" if state["trial"] else "")
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def _start(root, factory):
    return subprocess.Popen([UPY, "-X", "heapsize=512K", DEVICE, root, factory, DATA],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=REPO, env=_device_env(factory))


def _device_env(factory):
    """A device's import path: its factory code first (the slot selection swaps it), then lib."""
    return repo_paths.micropython_env(first=(factory,))


def _lines_until(proc, want, deadline, seen):
    """Read lines until one starts with want (True), the process ends or the deadline (False)."""
    buf = b""
    fd = proc.stdout.fileno()
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if not ready:
            if proc.poll() is not None:
                return False
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            return False
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            text = line.decode(errors="replace")
            seen.append(text)
            if text.startswith("MIX") or text.startswith("Traceback"):
                raise AssertionError("device: %s" % text)
            if text.startswith(want):
                return True
    return False


def test_kill_anywhere_always_boots_one_whole_version():
    seed = int(os.getenv("OTA_CRASH_SEED", str(random.getrandbits(32))))
    rnd = random.Random(seed)
    root = tmpdir("otacrash")
    factory = tmpdir("otafactory")
    try:
        for path, data in bundles_make.app_files("factory"):
            os.makedirs(os.path.dirname(os.path.join(factory, path)), exist_ok=True)
            with open(os.path.join(factory, path), "wb") as f:
                f.write(data)
        AtomicRecord(root + "/keys/ota-anchor.pub").write(open(os.path.join(DATA, "test-anchor.pub"), "rb").read())
        expected = _expected()
        hit = dict((p, 0) for p in PHASES)
        switched = 0
        for i in range(KILLS):
            phase = PHASES[i % len(PHASES)]
            seen = []
            proc = _start(root, factory)
            deadline = time.monotonic() + 10
            if phase == "start":
                time.sleep(rnd.uniform(0, 0.03))
                reached = True
            elif phase == "trial":
                reached = _lines_until(proc, "BOOT", deadline, seen) and "trial" in seen[-1]
            elif phase == "ACK":
                reached = all(_lines_until(proc, "ACK", deadline, seen) for _ in range(rnd.randint(1, 12)))
            else:
                reached = _lines_until(proc, phase, deadline, seen)
            if reached:
                time.sleep(rnd.uniform(0, 0.004))
                hit[phase] += 1
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            seen.append((proc.stdout.read() or b"").decode(errors="replace"))
            proc.stdout.close()
            text = "\n".join(seen)
            assert "MIX" not in text and "Traceback" not in text, (seed, i, text)
            switched += text.count("SWITCHED")
            _check(root, factory, expected)
        # Finally let it run: it boots, checks and confirms what it switched to, and updates again.
        for _ in range(2):
            out = subprocess.run([UPY, "-X", "heapsize=512K", DEVICE, root, factory, DATA], capture_output=True,
                                 text=True, timeout=60, cwd=REPO, env=_device_env(factory)).stdout
            assert "CHECK" in out and "SWITCHED" in out, (seed, out)
            _check(root, factory, expected)
        print("seed %d: kills per phase %s, %d switches seen" % (seed, hit, switched))
        assert all(hit[p] > 0 for p in PHASES), (seed, hit)
    finally:
        rmtree(root)
        rmtree(factory)
