# Shared by the security tests (both interpreters): a factory-fresh device and a provisioned
# one on the host, and the head-end's side of the command envelope.

import os
from clock import Clock
from store.fs import make_dirs
from crypto.keywrap import wrap
from security.keystore import KeyStore
from security import keys as K
from security import commands as C
from security.logs import Logs

ANCHOR = b"\x04" + bytes(range(64))
T0 = 1_750_000_000


class Device:
    def __init__(self, root, start_s=T0, on_wake=None):
        self.root = root
        make_dirs(root)
        self.secret_path = root + "/board.secret"
        try:
            with open(self.secret_path, "rb") as f:
                secret = f.read()
        except OSError:
            secret = os.urandom(16)
            with open(self.secret_path, "wb") as f:
                f.write(secret)
        self.clock = Clock(start_s=start_s)
        self.store = KeyStore(root + "/keys", secret)
        self.keys = K.DeviceKeys(self.store)
        self.logs = Logs(root, self.clock)
        self.commands = C.Commands(self.keys, self.logs, self.clock, root + "/security", on_wake=on_wake)

    def close(self):
        self.logs.close()


class HeadEnd:
    """What the utility's tools hold for one device."""

    def __init__(self, utility=None):
        self.keys = {K.UTILITY: utility or os.urandom(16)}
        for name in K.DEVICE_KEYS:
            self.keys[name] = os.urandom(16)
        self.counter = {}

    def next_counter(self, name):
        self.counter[name] = self.counter.get(name, 0) + 1
        return self.counter[name]

    def command(self, name, code, time_s, payload=b"", counter=None):
        if counter is None:
            counter = self.next_counter(name)
        return C.command(self.keys[name], name, code, counter, time_s, payload), counter

    def provisioning(self, time_s=0, names=K.DEVICE_KEYS, anchor=ANCHOR):
        wrapped = {}
        for name in names:
            wrapped[name] = wrap(K.provision_kek(self.keys[K.UTILITY], name), self.keys[name])
        return self.command(K.UTILITY, C.PROVISION, time_s, C.provision_payload(anchor, wrapped))

    def change(self, name, new_key, kcc, time_s):
        wrapped = wrap(K.change_kek(self.keys[name], name, kcc), new_key)
        return self.command(K.ADMIN, C.CHANGE_KEY, time_s, C.change_key_payload(name, kcc, wrapped))

    def answer(self, name, reply, counter):
        return C.open_reply(self.keys[name], reply, counter)


def provisioned(root, start_s=T0, on_wake=None):
    device = Device(root, start_s, on_wake)
    head = HeadEnd()
    device.keys.install_utility(head.keys[K.UTILITY])
    frame, counter = head.provisioning()
    status, _ = head.answer(K.UTILITY, device.commands.handle(frame), counter)
    assert status == C.OK
    return device, head
