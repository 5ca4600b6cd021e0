#!/usr/bin/env python3
"""Send authenticated administrative commands to a meter (docs/security.md).

    admin.py --sim OUT COMMAND ...                 the running simulation (its keys and ports)
    admin.py --keys admin-keys.json --to HOST:PORT --meter ID COMMAND ...

    status                      the meter's security status (JSON)
    set-time [--time S]         set the clock (default: now; in the simulation, its calendar)
    read-log NAME [--after N] [--limit N] [--key admin|mep]
    wake [--listen HOST:PORT]   send a wake-up (no reply); wait for the meter to call back,
                                check its HELLO and ask for its status on that connection
    change-key NAME             a new random key for lmn, mep or admin, wrapped under the
                                current one; the key file is updated when the meter confirms

Each command carries a counter kept in <keys dir>/admin-state.json; when the meter answers
"replay:N" (the tool's state was lost) the tool continues above N and retries once.
Keys are never printed.
"""

import argparse
import json
import os
import secrets
import socket
import struct
import sys
import time

import repo_paths  # noqa: F401  (the tree's folders on sys.path under any python: tools/repo_paths.py)

from crypto.keywrap import wrap
from security import keys as K
from security import commands as C

TIMEOUT_S = 10.0


class AdminError(Exception):
    pass


def send_frame(sock, data):
    sock.sendall(struct.pack(">H", len(data)) + data)


def recv_frame(sock):
    head = _recv_exactly(sock, 2)
    return _recv_exactly(sock, struct.unpack(">H", head)[0])


def _recv_exactly(sock, n):
    out = bytearray()
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise AdminError("the meter closed the connection without an answer (wrong key? see its system log)")
        out += chunk
    return bytes(out)


class Target:
    """One meter as the tool sees it: address, keys, counters, its clock."""

    def __init__(self, keys_path, meter, address, sim=None):
        with open(keys_path) as f:
            self.all_keys = json.load(f)
        if meter not in self.all_keys:
            raise AdminError("no keys for meter %s in %s" % (meter, keys_path))
        self.keys_path = keys_path
        self.meter = meter
        self.address = address
        self.sim = sim or {}
        self.state_path = os.path.join(os.path.dirname(os.path.abspath(keys_path)), "admin-state.json")
        try:
            with open(self.state_path) as f:
                self.state = json.load(f)
        except (OSError, ValueError):
            self.state = {}

    def key(self, name):
        try:
            return bytes.fromhex(self.all_keys[self.meter][name])
        except KeyError:
            raise AdminError("no %s key for meter %s" % (name, self.meter))

    def now_s(self):
        """The calendar now: the simulation's (its clock runs `speed` times faster) or the wall's."""
        if self.sim.get("speed"):
            return int(self.sim["start_s"] + (time.time() - self.sim["start_wall"]) * self.sim["speed"])
        return int(time.time())

    def next_counter(self, name, above=0):
        counters = self.state.setdefault(self.meter, {})
        value = max(counters.get(name, 0), above) + 1
        counters[name] = value
        tmp = self.state_path + ".new"
        with open(tmp, "w") as f:
            json.dump(self.state, f)
        os.replace(tmp, self.state_path)
        return value

    def connect(self):
        host, _, port = self.address.rpartition(":")
        return socket.create_connection((host, int(port)), timeout=TIMEOUT_S)

    def exchange(self, sock, name, code, payload=b"", time_s=None):
        """Send one command on sock; (status, payload) of the verified answer."""
        key = self.key(name)
        above = 0
        for _ in range(2):
            counter = self.next_counter(name, above)
            send_frame(sock, C.command(key, name, code, counter, self.now_s() if time_s is None else time_s, payload))
            status, answer = C.open_reply(key, recv_frame(sock), counter)
            if status == C.REFUSED and answer.startswith(b"replay:"):
                above = int(answer[7:])  # our state was behind the meter's: resynchronise
                continue
            return status, answer
        return status, answer

    def call(self, name, code, payload=b"", time_s=None):
        with self.connect() as sock:
            return self.exchange(sock, name, code, payload, time_s)


# What the user can do about a refusal, by its reason (the device sends the reason only).
ADVICE = {
    b"stale": "the meter's clock and this tool's differ by more than the meter's admin.max_age_s (after a "
              "restart its calendar may have resumed from its last checkpoint); set it with an authenticated "
              "`admin.py set-time` (with the same --sim or --to/--keys/--meter), then retry",
    b"drift": "the correction is larger than the meter allows since its last synchronisation (3 % of the "
              "elapsed time); give a time closer to the meter's with --time",
}


def ok(status, answer):
    if status != C.OK:
        advice = ADVICE.get(answer.split(b":")[0])
        raise AdminError("refused: %s%s" % (answer.decode(errors="replace"), "; " + advice if advice else ""))
    return answer


def do_status(t, a):
    print(json.dumps(json.loads(ok(*t.call(a.key or K.ADMIN, C.STATUS))), indent=1))


def do_set_time(t, a):
    new_s = a.time if a.time is not None else t.now_s()
    ok(*t.call(K.ADMIN, C.SET_TIME, time_s=new_s))
    print("clock set to %d" % new_s)


def do_unlock(t, a):
    """The consumer's PIN unlocks the SML info port's details (docs/sml.md); no PIN locks."""
    ok(*t.call(a.key or K.ADMIN, C.UNLOCK, (a.pin or "").encode()))
    print("info port details %s" % ("unlocked" if a.pin else "locked"))


def do_read_log(t, a):
    payload = C.read_log_payload(a.name, a.after, a.limit)
    for seq, record in json.loads(ok(*t.call(a.key or K.ADMIN, C.READ_LOG, payload))):
        print(json.dumps({"seq": seq, **record}))


def do_wake(t, a):
    listen = a.listen or t.sim.get("call_home")
    if not listen:
        raise AdminError("give --listen HOST:PORT (the meter's admin.connect_to)")
    host, _, port = listen.rpartition(":")
    with socket.create_server((host, int(port))) as server:
        server.settimeout(a.wait)
        key = t.key(K.ADMIN)
        with t.connect() as sock:
            send_frame(sock, C.command(key, K.ADMIN, C.WAKE, t.next_counter(K.ADMIN), t.now_s()))
            sock.settimeout(1.0)
            try:
                if sock.recv(1):
                    raise AdminError("the meter answered a wake-up (it must not)")
            except socket.timeout:
                pass
        try:
            conn, peer = server.accept()
        except socket.timeout:
            raise AdminError("the meter did not call back within %g s" % a.wait)
        with conn:
            conn.settimeout(TIMEOUT_S)
            hello = recv_frame(conn)
            env = C.parse(hello, C.MAX_REPLY_PAYLOAD)
            if env.command != C.HELLO or not env.flags & C.FLAG_REPLY or not C.verify(key, hello, True):
                raise AdminError("the caller's HELLO fails its check")
            print("meter %s called back from %s:%d (hello counter %d)" % (env.payload.decode(), peer[0], peer[1],
                                                                         env.counter))
            status = json.loads(ok(*t.exchange(conn, K.ADMIN, C.STATUS)))
            print(json.dumps(status, indent=1))


def do_change_key(t, a):
    name = a.name
    current = t.key(name)
    device_kcc = json.loads(ok(*t.call(K.ADMIN, C.STATUS))).get("kcc", {}).get(name, 0)
    kcc = t.next_counter("kcc-" + name, above=device_kcc)
    new_key = secrets.token_bytes(16)
    wrapped = wrap(K.change_kek(current, name, kcc), new_key)
    status, answer = t.call(K.ADMIN, C.CHANGE_KEY, C.change_key_payload(name, kcc, wrapped))
    if status != C.OK and answer.startswith(b"old_key_change"):
        raise AdminError("refused: the meter has a newer key-change counter for %s (state lost?)" % name)
    ok(status, answer)
    t.all_keys[t.meter][name] = new_key.hex()
    tmp = t.keys_path + ".new"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(t.all_keys, f, indent=1)
    os.replace(tmp, t.keys_path)
    headend = t.sim.get("headend_keys")
    if name == K.LMN and headend:
        with open(headend) as f:
            table = json.load(f)
        table[t.meter] = {"key": new_key.hex()}
        with open(headend + ".new", "w") as f:
            json.dump(table, f, indent=1)
        os.replace(headend + ".new", headend)
    print("key %s of meter %s changed (counter %d); %s updated" % (name, t.meter, kcc, t.keys_path))


def parser():
    p = argparse.ArgumentParser(prog="admin.py", description=__doc__.split("\n")[0])
    p.add_argument("--sim", metavar="OUT", help="the simulation's --out folder (keys and addresses from there)")
    p.add_argument("--keys", help="admin-keys.json (tools/provision.py admin-keys)")
    p.add_argument("--to", metavar="HOST:PORT", help="the meter's admin listener")
    p.add_argument("--meter", help="the meter id (default: the simulation's)")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("status")
    s.add_argument("--key", choices=(K.ADMIN, K.MEP))
    s.set_defaults(run=do_status)
    s = sub.add_parser("set-time")
    s.add_argument("--time", type=int, help="epoch seconds (default: now)")
    s.set_defaults(run=do_set_time)
    s = sub.add_parser("read-log")
    s.add_argument("name", choices=("system", "consumer", "calibration", "untrusted"))
    s.add_argument("--after", type=int, default=0)
    s.add_argument("--limit", type=int, default=16)
    s.add_argument("--key", choices=(K.ADMIN, K.MEP))
    s.set_defaults(run=do_read_log)
    s = sub.add_parser("unlock")
    s.add_argument("pin", nargs="?", help="the consumer's PIN (sml.pin); none: lock again")
    s.add_argument("--key", choices=(K.ADMIN, K.MEP))
    s.set_defaults(run=do_unlock)
    s = sub.add_parser("wake")
    s.add_argument("--listen", metavar="HOST:PORT")
    s.add_argument("--wait", type=float, default=10.0, help="seconds to wait for the call back")
    s.set_defaults(run=do_wake)
    s = sub.add_parser("change-key")
    s.add_argument("name", choices=K.DEVICE_KEYS)
    s.set_defaults(run=do_change_key)
    return p


def target_from(a):
    sim = {}
    keys_path, address, meter = a.keys, a.to, a.meter
    if a.sim:
        with open(os.path.join(a.sim, "keys", "admin.json")) as f:
            sim = json.load(f)
        keys_path = keys_path or os.path.join(a.sim, "keys", "admin-keys.json")
        address = address or sim["address"]
        meter = meter or sim["meter_id"]
    if not (keys_path and address and meter):
        raise AdminError("give --sim OUT, or --keys, --to and --meter")
    return Target(keys_path, meter, address, sim)


def main(argv=None):
    a = parser().parse_args(argv)
    try:
        a.run(target_from(a), a)
    except (AdminError, C.EnvelopeError, OSError, ValueError) as exc:
        print("admin.py %s: %s" % (a.command, exc), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    import toolenv

    toolenv.ensure()  # under .venv/bin/python, whatever python started it
    sys.exit(main())
