"""The MEP parts of the host simulation (used by tools/sim.py, CPython only).

- SocatLink: the MEP cable between the meter and the MEP device, a pty pair made by
  socat (Debian's `socat`), started and stopped with the simulation.
- provision_mep_key: puts one MEP key in two key stores (tests and the bench; the
  simulation provisions every key through tools/provision.py)
- UtilityDemo / write_inbox: the utility side. The meter reads downlink messages from
  a folder (its config's mep.inbox_dir); the demo changes the tariff now and then and
  sends an urgent and a non-urgent message, and tools/mep_utility.py sends any by hand.
"""

import asyncio
import json
import os
import shutil
import socket
import subprocess
import time
import tty

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

LINK_WAIT_S = 5.0
INBOX = "utility-inbox"


class SocatLink:
    """A pty pair joined by socat; a_path for the meter, b_path for the MEP device.

    The simulation holds both slave ends open (without reading), so a device that
    restarts never makes socat see a hang-up and exit."""

    bytes_a_to_b = bytes_b_to_a = dropped_a_to_b = dropped_b_to_a = None  # socat does not say

    def __init__(self, folder, preexec_fn=None):
        os.makedirs(folder, exist_ok=True)
        self.a_path = os.path.join(folder, "mep-meter.pty")
        self.b_path = os.path.join(folder, "mep-device.pty")
        for path in (self.a_path, self.b_path):
            if os.path.lexists(path):
                os.remove(path)
        self.proc = subprocess.Popen(
            ["socat", "pty,raw,echo=0,link=" + self.a_path, "pty,raw,echo=0,link=" + self.b_path],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=preexec_fn,
        )
        deadline = time.monotonic() + LINK_WAIT_S
        while not (os.path.exists(self.a_path) and os.path.exists(self.b_path)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                raise OSError("socat did not make the MEP pty pair")
            time.sleep(0.02)
        self._held = []
        for path in (self.a_path, self.b_path):
            fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
            tty.setraw(fd)
            self._held.append(fd)

    def start(self, loop):
        pass

    def close(self, loop=None):
        for fd in self._held:
            os.close(fd)
        self._held = []
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def make_link(folder, fallback, preexec_fn=None):
    """The MEP link: socat's pty pair if socat is installed, else the fallback relay."""
    if shutil.which("socat"):
        return SocatLink(folder, preexec_fn)
    print("sim: socat not found; the MEP link is relayed by the simulation instead", flush=True)
    return fallback("mep")


def provision_mep_key(storage_dirs):
    """One MEP key in every device's key store ("mep"), made with os.urandom if the
    stores do not already share one. Prints nothing about the key."""
    from board import board_secret  # boards/host: makes the board secret as a first boot would
    from security.keystore import KeyStore, KeyStoreError

    stores = []
    for folder in storage_dirs:
        os.makedirs(folder, exist_ok=True)
        stores.append(KeyStore(os.path.join(folder, "keys"), board_secret(os.path.join(folder, "board.secret"))))
    try:
        keys = [s.get("mep") for s in stores]
        if all(k == keys[0] for k in keys):
            return False
    except KeyStoreError:
        pass
    key = os.urandom(16)
    for s in stores:
        s.put("mep", key)
    return True


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_inbox(inbox_dir, message):
    """Drop one downlink message for the meter (see firmware/meter/mep_inbox.py Inbox.apply);
    returns its path (the meter removes the file once it has taken the message)."""
    os.makedirs(inbox_dir, exist_ok=True)
    name = "%d-%s.json" % (time.time_ns(), os.urandom(3).hex())
    tmp = os.path.join(inbox_dir, name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(message, f)
    os.rename(tmp, os.path.join(inbox_dir, name))  # the meter never sees half a file
    return os.path.join(inbox_dir, name)


def meter_section(out_dir, speed):
    return {"inbox_dir": os.path.join(out_dir, INBOX), "alert_interval_ms": 1000,
            "status_interval_s": 5, "profile_period_s": 900}


def device_sections(http_port, speed):
    return {
        "mep": {"poll_ms": 1000, "timeout_ms": 1000, "retries": 3, "backoff_ms": 200},
        "display": {"console_interval_s": min(3600, max(1, 5 * speed)), "http_port": http_port, "http_host": "127.0.0.1"},
        "thermostat": {"base_c": 21.0, "tariff_offsets_c": [0.0, -1.0, -3.0], "wake_s": 6 * speed},
    }


class UtilityDemo:
    """What a utility might send during a run: a welcome note (non-urgent) at once, an
    urgent notice after a few seconds, and a tariff change every tariff_every_s."""

    def __init__(self, inbox_dir, tariff_every_s, tariffs=3):
        self.inbox_dir = inbox_dir
        self.tariff_every_s = tariff_every_s
        self.tariffs = tariffs
        self.sent = 0

    def send(self, message):
        write_inbox(self.inbox_dir, message)
        self.sent += 1

    async def run(self):
        self.send({"nonurgent": [{"app": 1, "text": "Welcome: prices follow the day/night/peak tariff"},
                                 {"app": 2, "json": {"offset_c": 0.0, "duration_s": 60}}]})
        await asyncio.sleep(4)
        self.send({"urgent": {"app": 1, "text": "Grid notice: peak tariff expected this evening"}})
        if self.tariff_every_s <= 0:
            return
        tariff = 0
        await asyncio.sleep(4)
        while True:
            tariff = (tariff + 1) % self.tariffs
            self.send({"tariff": tariff})
            await asyncio.sleep(self.tariff_every_s)
