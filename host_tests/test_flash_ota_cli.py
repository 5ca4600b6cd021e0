# test: cpython-only (runs tools/flash.py as a process)
# tools/flash.py ota from the user's side: a dry run changes nothing (issue 12 item 7), and
# a damaged bundle is refused with one clear line and exit 1, never a traceback (item 8).

import json
import os
import socket
import subprocess
import sys

from support import REPO, tmpdir, rmtree

FLASH = os.path.join(REPO, "tools", "flash.py")
V1 = os.path.join(REPO, "host_tests", "data", "ota", "v1.ota")


def _flash(*args):
    return subprocess.run([sys.executable, FLASH] + list(args), capture_output=True, text=True, timeout=120,
                          cwd=REPO)


def _sim_folder_with_listener():
    """A simulation --out folder whose meter's update port is a socket this test holds:
    any connection the tool makes waits in its backlog, where the test sees it."""
    out = tmpdir("otadry")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.setblocking(False)
    os.makedirs(os.path.join(out, "meter"))
    with open(os.path.join(out, "meter", "config.json"), "w") as f:
        json.dump({"ota": {"port": listener.getsockname()[1]}}, f)
    return out, listener


def _connections(listener):
    count = 0
    while True:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return count
        conn.close()
        count += 1


def test_ota_dry_run_to_the_simulation_sends_nothing():
    out, listener = _sim_folder_with_listener()
    try:
        done = subprocess.run([sys.executable, FLASH, "ota", "--dry-run", "--sim", out, V1], capture_output=True,
                              text=True, timeout=20, cwd=REPO)
        made = _connections(listener)
    finally:
        listener.close()
        rmtree(out)
    assert made == 0, "a dry run connected to the update port %d time(s)" % made
    assert done.returncode == 0, "dry run failed: %s" % done.stderr
    assert "dry run" in done.stdout and "nothing sent" in done.stdout, "expected a dry-run note: %r" % done.stdout


def _damaged(tag, edit):
    folder = tmpdir(tag)
    with open(V1, "rb") as f:
        data = bytearray(f.read())
    edit(data)
    path = os.path.join(folder, "b.ota")
    with open(path, "wb") as f:
        f.write(data)
    return folder, path


def _flip_in_version_key(data):
    at = data.index(b'"version"')
    data[at + 2] ^= 0x01  # "version" -> "wersion": the device refuses it as bad-format


def test_ota_refuses_a_bundle_with_a_flipped_manifest_byte_without_a_traceback():
    folder, path = _damaged("otaflip", _flip_in_version_key)
    try:
        for where in (["--tcp", "127.0.0.1:9"], ["--port", "/dev/ttyUSB9", "--dry-run"]):
            done = _flash("ota", path, *where)
            assert done.returncode == 1, "expected exit 1 for a damaged bundle, got %d: %s" % (
                done.returncode, done.stderr)
            assert "Traceback" not in done.stderr, done.stderr
            assert "not a valid update bundle" in done.stderr and "bad-format" in done.stderr, done.stderr
            assert not done.stdout.strip(), "nothing should be sent or run: %r" % done.stdout
    finally:
        rmtree(folder)


def test_ota_refuses_truncated_and_foreign_files_clearly():
    cases = [("otatrunc", lambda d: d.__delitem__(slice(len(d) - 10, None)), "its manifest says"),
             ("otamagic", lambda d: d.__setitem__(slice(0, 4), b"JUNK"), "magic"),
             ("otashort", lambda d: d.__delitem__(slice(20, None)), "truncated")]
    for tag, edit, words in cases:
        folder, path = _damaged(tag, edit)
        try:
            done = _flash("ota", path, "--tcp", "127.0.0.1:9")
        finally:
            rmtree(folder)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert words in done.stderr, "expected %r in %r" % (words, done.stderr)
