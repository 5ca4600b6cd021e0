# Authenticated commands: one envelope for provisioning, time, wake-up, key changes, status
# and log reads, whatever carries it (the host admin TCP port, the MEP, the LMN downlink).
#
# Envelope (big-endian), 30 + n bytes:
#   0  1  version (1)
#   1  1  key id (keys.KEY_IDS: 1 utility, 2 admin, 3 mep, 4 lmn)
#   2  1  command (below)
#   3  1  flags: bit 0 set in a reply (the device's answer)
#   4  4  counter: > the last one accepted from that key (persisted); a reply echoes it
#   8  4  time, calendar epoch seconds (the sender's clock)
#  12  2  payload length n (<= MAX_PAYLOAD)
#  14  n  payload
#  14+n 16 AES-CMAC over bytes 0 .. 13+n under AES-CMAC(key, "command") for commands and
#          AES-CMAC(key, "reply") for replies (a reply can never pass as a command)
#
# Checked in this order, before anything else is done: length and version; the key id is
# known and may do this command (keys.PERMISSIONS); the MAC; the counter is fresh (strict >,
# written back to flash before acting); the time is within max_age_s of the device clock
# (except set-time, whose time is the new clock, checked by the 3 % drift rule, and
# provisioning, which comes before the clock was ever set). A command that fails the MAC is
# dropped without a word; later failures get an authenticated error reply. Every rejection
# is counted and logged with its reason: in the untrusted log (through the limiter) before
# the counter is spent, since anyone can send garbage or replay a captured command; in the
# system log after.
#
# A wake-up gets no reply at all, accepted or not: it only makes the device connect to its
# preconfigured address (on_wake).

import json
import struct
from micropython import const
from crypto.cmac import CMAC, equal
from store.atomic import AtomicRecord
from store.fs import StoreError
from security import keys as K
from security.logs import LOG_IDS, UNTRUSTED_PER_MINUTE
from security.keystore import KeyStoreError

VERSION = const(1)
HEADER_BYTES = const(14)
TAG_BYTES = const(16)
MAX_PAYLOAD = const(1024)
MAX_REPLY_PAYLOAD = const(4096)
FLAG_REPLY = const(1)

PROVISION = const(1)
SET_TIME = const(2)
WAKE = const(3)
CHANGE_KEY = const(4)
STATUS = const(5)
READ_LOG = const(6)
HELLO = const(7)  # sent by the device after a wake-up, on the connection it made
UNLOCK = const(8)  # payload: the consumer's PIN unlocks the info port's details; empty: lock

ACTIONS = {
    PROVISION: K.PROVISION,
    SET_TIME: K.SET_TIME,
    WAKE: K.WAKE,
    CHANGE_KEY: K.CHANGE_KEY,
    STATUS: K.READ_STATUS,
    UNLOCK: K.UNLOCK_DISPLAY,
}

# Reply status byte (first byte of a reply's payload).
OK = const(0)
REFUSED = const(1)

DRIFT_PERCENT = const(3)
# Rejections before the counter is spent (malformed, bad MAC, replays, stale commands) can
# be caused by anyone: they go to the untrusted log through the logs' one limiter (at most
# this many a calendar minute, the rest counted and summed in one `suppressed` record), so
# a flood of garbage can neither wear out the flash nor rotate the system log.
REJECTIONS_LOGGED_PER_MINUTE = UNTRUSTED_PER_MINUTE
DEFAULT_MAX_AGE_S = const(300)


class EnvelopeError(ValueError):
    """Bytes that are no envelope, or one whose MAC does not check."""


class Envelope:
    def __init__(self, key_id, command, counter, time_s, payload=b"", flags=0):
        self.key_id = key_id
        self.command = command
        self.counter = counter
        self.time_s = time_s
        self.payload = payload
        self.flags = flags

    @property
    def key_name(self):
        return K.KEY_IDS.get(self.key_id)


def mac_key(key, reply):
    return K.derive(key, b"reply" if reply else b"command")


def seal(key, env):
    """The envelope's bytes, MAC'd under `key` (the raw key named by env.key_id)."""
    n = len(env.payload)
    if n > MAX_REPLY_PAYLOAD:
        raise EnvelopeError("payload of %d bytes too big" % n)
    head = struct.pack(">BBBBIIH", VERSION, env.key_id, env.command, env.flags, env.counter,
                       env.time_s & 0xFFFFFFFF, n)
    body = head + bytes(env.payload)
    return body + CMAC(mac_key(key, env.flags & FLAG_REPLY)).digest(body)


def parse(data, max_payload=MAX_PAYLOAD):
    """The Envelope in data, MAC not yet checked; EnvelopeError if it is malformed."""
    if len(data) < HEADER_BYTES + TAG_BYTES:
        raise EnvelopeError("envelope of %d bytes too short" % len(data))
    version, key_id, command, flags, counter, time_s, n = struct.unpack_from(">BBBBIIH", data, 0)
    if version != VERSION:
        raise EnvelopeError("envelope version %d" % version)
    if n > max_payload or len(data) != HEADER_BYTES + n + TAG_BYTES:
        raise EnvelopeError("envelope length does not match its payload length %d" % n)
    return Envelope(key_id, command, counter, time_s, bytes(data[HEADER_BYTES:HEADER_BYTES + n]), flags)


def verify(key, data, reply=False):
    """True if data's MAC checks under key (commands or replies)."""
    end = len(data) - TAG_BYTES
    return equal(CMAC(mac_key(key, reply)).digest(memoryview(data)[:end]), memoryview(data)[end:])


def open_reply(key, data, counter):
    """(status, payload) of the device's reply to the command with this counter."""
    env = parse(data, MAX_REPLY_PAYLOAD)
    if not env.flags & FLAG_REPLY or env.counter != counter or not verify(key, data, True):
        raise EnvelopeError("reply fails its check")
    if not env.payload:
        raise EnvelopeError("empty reply")
    return env.payload[0], env.payload[1:]


# ---- payloads


def provision_payload(anchor, wrapped):
    """anchor (65) || repeated [key id (1) || wrapped key (24)]."""
    out = bytearray(anchor)
    for name in wrapped:
        out.append(K.KEY_ID_OF[name])
        out += wrapped[name]
    return bytes(out)


def change_key_payload(name, kcc, wrapped):
    return struct.pack(">BI", K.KEY_ID_OF[name], kcc) + bytes(wrapped)


def read_log_payload(log_name, after_seq, limit):
    for log_id in LOG_IDS:
        if LOG_IDS[log_id] == log_name:
            return struct.pack(">BIB", log_id, after_seq, limit)
    raise EnvelopeError("no log %r" % (log_name,))


class Commands:
    """The device side: verify an envelope, act on it, and answer (or not)."""

    def __init__(self, device_keys, logs, clock, state_folder, max_age_s=DEFAULT_MAX_AGE_S, on_wake=None,
                 status=None):
        self.keys = device_keys
        self.logs = logs
        self.clock = clock
        self.max_age_s = max_age_s
        self.on_wake = on_wake  # called after an accepted wake-up: connect to the preconfigured address
        self.status = status  # returns a dict of application fields for STATUS (no keys, no consumption)
        self._counters = AtomicRecord(state_folder + "/counters")
        self._sync = AtomicRecord(state_folder + "/time-sync")
        try:
            self.counters = self._counters.read_json() or {}
        except (StoreError, ValueError):
            # Cannot prove where the counters stood: refuse everything until provisioning
            # tools resynchronise (better than accepting a replay).
            self.counters = {"damaged": True}
        try:
            self.last_sync_s = (self._sync.read_json() or {}).get("t")
        except (StoreError, ValueError):
            self.last_sync_s = None
        self.accepted = 0
        self.rejected = {}  # reason -> count
        self.notify = None  # notify(reason, fields) after each rejection that was logged
        self.authentic = False  # whether the last frame handled passed its MAC check
        self.on_unlock = None  # on_unlock(pin, key_name) for UNLOCK (the SML info port); raises SecurityError

    # -- helpers

    def reject(self, reason, env=None, detail="", spent=False):
        """Count a rejection and log it: in the system log once the command's counter is
        spent (only a key holder's fresh command gets that far), otherwise in the
        untrusted log through the limiter. Transports call it for what they refuse
        themselves (an oversize frame, an idle connection)."""
        self.rejected[reason] = self.rejected.get(reason, 0) + 1
        fields = {"reason": reason}
        if env is not None:
            fields["key"] = env.key_name or env.key_id
            fields["command"] = env.command
            fields["counter"] = env.counter
        if detail:
            fields["detail"] = detail[:80]
        if spent:
            self.logs.event("rejected", fields)
        elif not self.logs.untrusted_event("rejected", fields):
            return  # suppressed: counted, summed in the limiter's next summary
        if self.notify is not None:
            self.notify(reason, fields)

    def _reply(self, key, env, status, payload=b""):
        reply = Envelope(env.key_id, env.command, env.counter, self.clock.time_s(), bytes([status]) + payload,
                         FLAG_REPLY)
        return seal(key, reply)

    # -- the one entry point

    def handle(self, data):
        """The reply's bytes for a command's bytes, or None (wake-up, or no valid MAC).
        Afterwards `authentic` says whether the bytes passed the MAC check."""
        self.authentic = False
        try:
            env = parse(data)
        except EnvelopeError as exc:
            self.reject("malformed", None, str(exc))
            return None
        name = env.key_name
        if env.flags & FLAG_REPLY:
            self.reject("malformed", env, "a reply sent as a command")
            return None
        action = ACTIONS.get(env.command)
        if env.command == READ_LOG:
            action = K.READ_STATUS  # refined below, once the payload names the log
        if action is None or name is None:
            self.reject("unknown_command", env)
            return None
        try:
            key = self.keys.key(name, action)
        except K.SecurityError as exc:
            self.reject(exc.reason, env, str(exc))
            return None
        if not verify(key, data):
            self.reject("bad_mac", env)
            return None
        # Authentic from here: failures get an authenticated answer (not for a wake-up).
        self.authentic = True
        if self.counters.get("damaged"):
            return self._refuse(key, env, "counters_damaged", "")
        last = self.counters.get(name, 0)
        if env.counter <= last:
            # The authenticated answer names the last counter accepted: the sender's
            # resynchronisation path (it continues above it).
            return self._refuse(key, env, "replay", "counter %d <= %d" % (env.counter, last), b":%d" % last)
        now_s = self.clock.time_s()
        if env.command not in (SET_TIME, PROVISION):
            age_s = now_s - env.time_s
            if age_s > self.max_age_s or -age_s > self.max_age_s:
                return self._refuse(key, env, "stale", "time %d, device %d" % (env.time_s, now_s))
        self.counters[name] = env.counter
        self._counters.write_json(self.counters)  # spent before acting: never replayable
        # From here a refusal is a key holder's fresh command: the system log's.
        try:
            return self._act(key, env, now_s)
        except K.SecurityError as exc:
            return self._refuse(key, env, exc.reason, str(exc), spent=True)
        except (ValueError, IndexError, KeyError, TypeError) as exc:
            return self._refuse(key, env, "bad_payload", str(exc), spent=True)
        except (OSError, StoreError, KeyStoreError) as exc:  # LogError is a StoreError
            # The flash failed under us: say so; the counter is spent, the sender retries.
            return self._refuse(key, env, "storage", str(exc), spent=True)

    def _refuse(self, key, env, reason, detail, extra=b"", spent=False):
        self.reject(reason, env, detail, spent)
        if env.command == WAKE:
            return None
        return self._reply(key, env, REFUSED, reason.encode() + extra)

    def _act(self, key, env, now_s):
        command = env.command
        payload = env.payload
        name = env.key_name
        if command == WAKE:
            self.accepted += 1
            self.logs.event("wake", {"key": name})
            if self.on_wake is not None:
                self.on_wake()
            return None
        if command == SET_TIME:
            self._set_time(env.time_s, now_s)
        elif command == PROVISION:
            self._provision(payload, now_s)
        elif command == CHANGE_KEY:
            if len(payload) != 5 + K.WRAPPED_BYTES:
                raise ValueError("change-key payload of %d bytes" % len(payload))
            target = K.KEY_IDS.get(payload[0])
            kcc = struct.unpack_from(">I", payload, 1)[0]
            generation = self.keys.change_key(target, kcc, payload[5:])
            self.logs.event("key_changed", {"name": target, "kcc": kcc, "generation": generation, "by": name})
        elif command == UNLOCK:
            if self.on_unlock is None:
                raise K.SecurityError("unsupported", "no info interface to unlock")
            self.on_unlock(payload, name)
        elif command == STATUS:
            self.accepted += 1
            return self._reply(key, env, OK, json.dumps(self._status(now_s)).encode())
        elif command == READ_LOG:
            self.accepted += 1
            return self._reply(key, env, OK, self._read_log(name, payload))
        self.accepted += 1
        return self._reply(key, env, OK)

    def set_time_authorised(self, new_s, by):
        """Set the clock for a request another channel has authenticated and authorised
        itself (by names it, e.g. "dlms" for the HLS-GMAC management association): the
        same 3 % drift rule, persisted synchronisation and time_set/time_refused events
        (with "by") as SET_TIME. Raises keys.SecurityError("drift", ...) when refused."""
        self._set_time(new_s, self.clock.time_s(), by)

    def _set_time(self, new_s, now_s, by=None):
        last = self.last_sync_s
        correction_s = new_s - now_s
        fields = {"from": now_s, "to": new_s}
        if by is not None:
            fields["by"] = by
        if last is not None and now_s >= last and self.clock.synchronised:
            elapsed_s = now_s - last
            if abs(correction_s) * 100 > DRIFT_PERCENT * elapsed_s:
                fields["elapsed_s"] = elapsed_s
                self.logs.event("time_refused", fields)
                raise K.SecurityError("drift", "correction %d s after %d s since the last sync" % (
                    correction_s, elapsed_s))
        elif last is not None:
            # The clock is behind its own last synchronisation (lost over a power cut), or was
            # resumed from a checkpoint after one (unsynchronised: it lost the time it was down):
            # only a time past that synchronisation can be right.
            if new_s < last:
                self.logs.event("time_refused", fields)
                raise K.SecurityError("drift", "time before the last synchronisation")
            fields["recovered"] = True
        self.clock.set_time_s(new_s)
        self.last_sync_s = new_s
        self._sync.write_json({"t": new_s})
        self.logs.event("time_set", fields)

    def _provision(self, payload, now_s):
        if len(payload) < K.ANCHOR_BYTES + 1 + K.WRAPPED_BYTES:
            raise ValueError("provisioning payload of %d bytes" % len(payload))
        anchor = payload[:K.ANCHOR_BYTES]
        wrapped = {}
        pos = K.ANCHOR_BYTES
        while pos < len(payload):
            if pos + 1 + K.WRAPPED_BYTES > len(payload):
                raise ValueError("provisioning payload ends inside a key")
            target = K.KEY_IDS.get(payload[pos])
            if target is None or target in wrapped:
                raise ValueError("provisioning payload names key id %d" % payload[pos])
            wrapped[target] = payload[pos + 1:pos + 1 + K.WRAPPED_BYTES]
            pos += 1 + K.WRAPPED_BYTES
        installed = self.keys.provision(anchor, wrapped, now_s)
        self.logs.event("provisioned", {"keys": installed, "utility_key": "erased"})

    def _status(self, now_s):
        fields = {
            "time_s": now_s,
            "last_sync_s": self.last_sync_s,
            "clock_synchronised": self.clock.synchronised,
            "provisioned": self.keys.provisioned,
            "generations": self.keys.generations(),
            "kcc": self.keys.state.get("kcc", {}),
            "accepted": self.accepted,
            "rejected": self.rejected,
            "suppressed": self.logs.limiter.dropped,
            "log_seq": {name: self.logs.by_name[name].last_seq for name in self.logs.by_name},
        }
        if self.status is not None:
            fields["app"] = self.status()
        return fields

    def _read_log(self, name, payload):
        if len(payload) != 6:
            raise ValueError("read-log payload of %d bytes" % len(payload))
        log_name = LOG_IDS.get(payload[0])
        if log_name is None:
            raise ValueError("no log id %d" % payload[0])
        self.keys.authorize(name, K.READ_LOG[log_name])
        after_seq = struct.unpack_from(">I", payload, 1)[0]
        records = self.logs.get(log_name).records(after_seq, payload[5])
        if log_name == "consumer" and name != K.MEP:
            # The utility reading the customer's access log is itself an access.
            self.logs.consumer.append("access", {"by": name, "what": "consumer log"})
        out = json.dumps([[seq, record] for seq, record in records]).encode()
        while len(out) > MAX_REPLY_PAYLOAD - 1 and records:
            records = records[:-1]  # fewer records, never a cut one; the reader asks again
            out = json.dumps([[seq, record] for seq, record in records]).encode()
        return out


def command(key, key_name, command_code, counter, time_s, payload=b""):
    """The bytes of a command from the head-end (tools, tests, the MEP device) under key."""
    return seal(key, Envelope(K.KEY_ID_OF[key_name], command_code, counter, time_s, payload))
