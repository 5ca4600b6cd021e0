# Authenticated commands (security/commands.py): MAC, counter, freshness, permissions,
# set-time with the 3 % drift rule, wake-up without reply, key change, status, log reads.

import json
import os
from support import tmpdir, rmtree
from security import keys as K
from security import commands as C
from secfix import Device, HeadEnd, provisioned, T0


def _system(device, kind=None, log="system"):
    found = [r for _, r in device.logs.get(log).records(0, 32)]
    return [r for r in found if kind is None or r["kind"] == kind]


def test_status_needs_a_valid_mac_and_a_fresh_counter():
    d = tmpdir("adm")
    try:
        device, head = provisioned(d)
        frame, counter = head.command(K.ADMIN, C.STATUS, T0)
        status, payload = head.answer(K.ADMIN, device.commands.handle(frame), counter)
        assert status == C.OK
        fields = json.loads(payload)
        assert fields["provisioned"] is True
        assert fields["generations"] == {"lmn": 1, "mep": 1, "admin": 1, "dlms_ek": 1, "dlms_ak": 1}
        # The same bytes again: a replay, refused with an authenticated answer.
        status, payload = head.answer(K.ADMIN, device.commands.handle(frame), counter)
        assert status == C.REFUSED and payload == b"replay:%d" % counter
        # An older counter too.
        frame2, c2 = head.command(K.ADMIN, C.STATUS, T0, counter=counter - 1 if counter > 1 else 0)
        status, payload = head.answer(K.ADMIN, device.commands.handle(frame2), c2)
        assert payload.startswith(b"replay:")
        # A flipped bit anywhere: dropped without a word.
        for i in range(len(frame)):
            bad = bytearray(frame)
            bad[i] ^= 0x10
            assert device.commands.handle(bytes(bad)) is None
        assert device.commands.rejected["replay"] == 2
        assert device.commands.rejected["bad_mac"] + device.commands.rejected.get("malformed", 0) \
            + device.commands.rejected.get("unknown_command", 0) + device.commands.rejected.get("unknown_key", 0) \
            + device.commands.rejected.get("not_permitted", 0) + device.commands.rejected.get("no_key", 0) \
            + device.commands.rejected.get("utility_disabled", 0) == len(frame)
        # Anyone can send these: the untrusted log's, never the system log's.
        assert _system(device, "rejected", "untrusted") and not _system(device, "rejected")
        device.close()
        # The counter survives a restart.
        again = Device(d)
        status, payload = head.answer(K.ADMIN, again.commands.handle(frame), counter)
        assert payload == b"replay:%d" % counter
        again.close()
    finally:
        rmtree(d)


def test_stale_and_future_timestamps_are_refused():
    d = tmpdir("adm")
    try:
        device, head = provisioned(d)
        for t in (T0 - 3600, T0 + 3600):
            frame, counter = head.command(K.ADMIN, C.STATUS, t)
            status, payload = head.answer(K.ADMIN, device.commands.handle(frame), counter)
            assert (status, payload) == (C.REFUSED, b"stale")
        frame, counter = head.command(K.ADMIN, C.STATUS, T0 + 10)
        assert head.answer(K.ADMIN, device.commands.handle(frame), counter)[0] == C.OK
        device.close()
    finally:
        rmtree(d)


def test_wrong_key_or_permission_gets_no_answer():
    d = tmpdir("adm")
    try:
        device, head = provisioned(d)
        # The LMN key may not set the time; the utility key is disabled; a stranger's key fails the MAC.
        assert device.commands.handle(head.command(K.LMN, C.SET_TIME, T0)[0]) is None
        assert device.commands.handle(head.command(K.UTILITY, C.STATUS, T0)[0]) is None
        assert device.commands.handle(head.provisioning()[0]) is None
        other = HeadEnd()
        assert device.commands.handle(other.command(K.ADMIN, C.STATUS, T0)[0]) is None
        r = device.commands.rejected
        assert r["not_permitted"] == 1 and r["utility_disabled"] == 2 and r["bad_mac"] == 1
        # The MEP key reads status but may not change keys or read the system log.
        frame, counter = head.command(K.MEP, C.STATUS, T0)
        assert head.answer(K.MEP, device.commands.handle(frame), counter)[0] == C.OK
        assert device.commands.handle(head.change(K.LMN, os.urandom(16), 1, T0)[0]) is not None  # admin: fine
        frame, counter = head.command(K.MEP, C.READ_LOG, T0, C.read_log_payload("system", 0, 8))
        assert head.answer(K.MEP, device.commands.handle(frame), counter) == (C.REFUSED, b"not_permitted")
        device.close()
    finally:
        rmtree(d)


def test_set_time_first_sync_then_three_percent_rule():
    d = tmpdir("adm")
    try:
        device, head = provisioned(d)
        clock = device.clock
        # First synchronisation: any correction (the factory clock is not trusted).
        frame, counter = head.command(K.ADMIN, C.SET_TIME, T0 + 5000)
        assert head.answer(K.ADMIN, device.commands.handle(frame), counter)[0] == C.OK
        assert abs(clock.time_s() - (T0 + 5000)) <= 1
        # 10 000 s later (on the device's own clock): 3 % is 300 s.
        clock.set_time_s(T0 + 15000)
        frame, counter = head.command(K.ADMIN, C.SET_TIME, T0 + 15000 + 290)
        assert head.answer(K.ADMIN, device.commands.handle(frame), counter)[0] == C.OK
        synced = clock.time_s()
        clock.set_time_s(synced + 1000)  # 1000 s later: 30 s allowed
        frame, counter = head.command(K.ADMIN, C.SET_TIME, synced + 1000 + 40)
        status, payload = head.answer(K.ADMIN, device.commands.handle(frame), counter)
        assert (status, payload) == (C.REFUSED, b"drift")
        assert abs(clock.time_s() - (synced + 1000)) <= 1  # untouched
        assert _system(device, "time_refused")
        frame, counter = head.command(K.ADMIN, C.SET_TIME, synced + 1000 - 25)
        assert head.answer(K.ADMIN, device.commands.handle(frame), counter)[0] == C.OK
        kinds = [r["kind"] for r in _system(device)]
        assert kinds.count("time_set") == 3
        device.close()
    finally:
        rmtree(d)


def test_clock_lost_behind_last_sync_accepts_only_a_later_time():
    d = tmpdir("adm")
    try:
        device, head = provisioned(d)
        frame, counter = head.command(K.ADMIN, C.SET_TIME, T0 + 100000)
        assert head.answer(K.ADMIN, device.commands.handle(frame), counter)[0] == C.OK
        device.close()
        again = Device(d, start_s=T0)  # restarted with its clock back at T0
        frame, counter = head.command(K.ADMIN, C.SET_TIME, T0 + 50000)
        assert head.answer(K.ADMIN, again.commands.handle(frame), counter)[1] == b"drift"
        frame, counter = head.command(K.ADMIN, C.SET_TIME, T0 + 100500)
        assert head.answer(K.ADMIN, again.commands.handle(frame), counter)[0] == C.OK
        again.close()
    finally:
        rmtree(d)


def test_a_clock_set_another_channel_authorised_follows_the_same_rules():
    # DLMS's management association (HLS-GMAC) sets the clock through set_time_authorised:
    # the same drift rule, persisted sync and events, which name the channel.
    d = tmpdir("adm")
    try:
        device, head = provisioned(d)
        clock = device.commands.clock
        device.commands.set_time_authorised(T0 + 5000, "dlms")  # first sync: any correction
        assert abs(clock.time_s() - (T0 + 5000)) <= 1, "the first synchronisation sets the clock"
        clock.set_time_s(T0 + 15000)  # 10 000 s later: 300 s allowed
        try:
            device.commands.set_time_authorised(T0 + 15000 + 400, "dlms")
            raise AssertionError("a 400 s correction after 10 000 s was expected to be refused")
        except K.SecurityError as exc:
            assert exc.reason == "drift", exc
        assert abs(clock.time_s() - (T0 + 15000)) <= 1, "a refused set leaves the clock alone"
        device.commands.set_time_authorised(T0 + 15000 + 290, "dlms")
        events = [(r["kind"], r.get("by")) for r in _system(device) if r["kind"].startswith("time_")]
        assert events == [("time_set", "dlms"), ("time_refused", "dlms"), ("time_set", "dlms")], events
        device.close()
        again = Device(d, start_s=T0)  # the synchronisation is persisted: behind it is refused
        try:
            again.commands.set_time_authorised(T0 + 10000, "dlms")
            raise AssertionError("a time before the last synchronisation was expected to be refused")
        except K.SecurityError:
            pass
        again.close()
    finally:
        rmtree(d)


def test_wake_up_never_answers_and_only_calls_on_wake_when_valid():
    d = tmpdir("adm")
    try:
        woken = []
        device, head = provisioned(d, on_wake=lambda: woken.append(1))
        frame, _ = head.command(K.ADMIN, C.WAKE, T0)
        assert device.commands.handle(frame) is None
        assert woken == [1]
        assert device.commands.handle(frame) is None  # replay: silently refused
        assert device.commands.handle(head.command(K.ADMIN, C.WAKE, T0 - 7200)[0]) is None  # stale
        bad = bytearray(head.command(K.ADMIN, C.WAKE, T0)[0])
        bad[-1] ^= 1
        assert device.commands.handle(bytes(bad)) is None
        assert woken == [1]
        r = device.commands.rejected
        assert r["replay"] == 1 and r["stale"] == 1 and r["bad_mac"] == 1
        device.close()
    finally:
        rmtree(d)


def test_key_change_command_and_its_replay():
    d = tmpdir("adm")
    try:
        device, head = provisioned(d)
        new = os.urandom(16)
        frame, counter = head.change(K.MEP, new, 1, T0)
        assert head.answer(K.ADMIN, device.commands.handle(frame), counter)[0] == C.OK
        assert device.store.get(K.MEP) == new
        # Replayed with a fresh envelope counter: the key-change counter is spent.
        old_mep = head.keys[K.MEP]
        head.keys[K.MEP] = new
        replay, c2 = head.command(K.ADMIN, C.CHANGE_KEY, T0, C.parse(frame).payload)
        assert head.answer(K.ADMIN, device.commands.handle(replay), c2) == (C.REFUSED, b"old_key_change")
        assert device.store.get(K.MEP) == new
        assert old_mep != new
        # Changing the admin key itself: later commands need the new one.
        new_admin = os.urandom(16)
        frame, counter = head.change(K.ADMIN, new_admin, 1, T0)
        assert head.answer(K.ADMIN, device.commands.handle(frame), counter)[0] == C.OK
        assert device.commands.handle(head.command(K.ADMIN, C.STATUS, T0)[0]) is None
        head.keys[K.ADMIN] = new_admin
        frame, counter = head.command(K.ADMIN, C.STATUS, T0)
        assert head.answer(K.ADMIN, device.commands.handle(frame), counter)[0] == C.OK
        changed = _system(device, "key_changed")
        assert [r["name"] for r in changed] == ["mep", "admin"]
        device.close()
    finally:
        rmtree(d)


def test_read_logs_by_key_and_consumer_access_is_recorded():
    d = tmpdir("adm")
    try:
        device, head = provisioned(d)
        device.logs.calibration.append("calibration", {"v_per_count": 0.5})
        frame, counter = head.command(K.ADMIN, C.READ_LOG, T0, C.read_log_payload("system", 0, 4))
        status, payload = head.answer(K.ADMIN, device.commands.handle(frame), counter)
        assert status == C.OK
        records = json.loads(payload)
        assert records[0][0] == 1 and records[0][1]["kind"] == "provisioned"
        frame, counter = head.command(K.MEP, C.READ_LOG, T0, C.read_log_payload("calibration", 0, 4))
        status, payload = head.answer(K.MEP, device.commands.handle(frame), counter)
        assert json.loads(payload)[0][1]["v_per_count"] == 0.5
        frame, counter = head.command(K.ADMIN, C.READ_LOG, T0, C.read_log_payload("consumer", 0, 4))
        assert head.answer(K.ADMIN, device.commands.handle(frame), counter)[0] == C.OK
        access = device.logs.consumer.records(0, 4)
        assert access[-1][1]["by"] == "admin"
        frame, counter = head.command(K.ADMIN, C.READ_LOG, T0, b"\x09\x00\x00\x00\x00\x04")
        assert head.answer(K.ADMIN, device.commands.handle(frame), counter) == (C.REFUSED, b"bad_payload")
        device.close()
    finally:
        rmtree(d)


def test_unprovisioned_device_answers_only_provisioning():
    d = tmpdir("adm")
    try:
        device = Device(d)
        head = HeadEnd()
        device.keys.install_utility(head.keys[K.UTILITY])
        assert device.commands.handle(head.command(K.ADMIN, C.STATUS, T0)[0]) is None
        assert device.commands.rejected["no_key"] == 1
        # Provisioning with a truncated payload: refused, the device stays as it was.
        frame, counter = head.command(K.UTILITY, C.PROVISION, T0, b"\x04" * 70)
        assert head.answer(K.UTILITY, device.commands.handle(frame), counter)[1] == b"bad_payload"
        assert not device.keys.provisioned
        frame, counter = head.provisioning(names=(K.MEP,))
        assert head.answer(K.UTILITY, device.commands.handle(frame), counter)[0] == C.OK
        assert device.store.names() == ["mep"]
        device.close()
    finally:
        rmtree(d)


def test_garbage_is_counted_never_raised():
    d = tmpdir("adm")
    try:
        device, head = provisioned(d)
        for data in (b"", b"\x01", b"\x00" * 30, b"\x01\x02\x05\x00" + b"\x00" * 8 + b"\xff\xff" + b"\x00" * 16,
                     os.urandom(200)):
            assert device.commands.handle(data) is None
        assert device.commands.rejected["malformed"] >= 4
        device.close()
    finally:
        rmtree(d)


def test_a_flood_of_rejections_is_counted_but_logged_within_a_budget():
    d = tmpdir("adm")
    try:
        device, head = provisioned(d)
        system_before = device.logs.system.last_seq
        for _ in range(C.REJECTIONS_LOGGED_PER_MINUTE + 30):
            device.commands.handle(b"\x01" * 40)
        assert device.commands.rejected["malformed"] == C.REJECTIONS_LOGGED_PER_MINUTE + 30
        untrusted = device.logs.untrusted
        assert untrusted.last_seq == C.REJECTIONS_LOGGED_PER_MINUTE, "the budget, then nothing"
        device.clock.set_time_s(device.clock.time_s() + 120)  # the next minute
        device.commands.handle(b"\x01" * 40)
        records = [r for _, r in untrusted.records(untrusted.last_seq - 2, 2)]
        assert [r["kind"] for r in records] == ["suppressed", "rejected"]
        assert records[0]["count"] == 30 and records[0]["what"] == {"malformed": 30}, records[0]
        assert device.logs.system.last_seq == system_before, "a flood writes nothing to the system log"
        device.close()
    finally:
        rmtree(d)


def test_an_hour_of_flood_never_rotates_a_security_record_out():
    # Issue 12 item 3: at 20 records a minute an endless flood would still rotate a shared
    # log within minutes; the system log takes none of it.
    d = tmpdir("adm")
    try:
        device, head = provisioned(d)
        frame, counter = head.command(K.ADMIN, C.SET_TIME, T0 + 5)
        assert head.answer(K.ADMIN, device.commands.handle(frame), counter)[0] == C.OK
        security = [r["kind"] for r in _system(device)]
        assert security == ["provisioned", "time_set"], security
        replayed = frame  # a captured genuine command, replayed: authentic but not fresh
        for minute in range(60):
            device.clock.set_time_s(T0 + 60 * (minute + 1))
            for i in range(50):
                device.commands.handle(replayed if i % 5 == 0 else os.urandom(40))
        assert [r["kind"] for r in _system(device)] == security, "the system log holds what it held"
        per_minute = {}
        for _, r in device.logs.untrusted.records(device.logs.untrusted.last_seq - 32, 32):
            if r["kind"] == "rejected":
                per_minute[r["t"] // 60] = per_minute.get(r["t"] // 60, 0) + 1
        assert max(per_minute.values()) <= C.REJECTIONS_LOGGED_PER_MINUTE, per_minute
        device.close()
    finally:
        rmtree(d)


def test_a_failing_flash_is_refused_not_raised():
    d = tmpdir("adm")
    try:
        device, head = provisioned(d)

        def broken(*args):
            raise OSError(28)  # ENOSPC

        device.keys.store.put = broken
        new = os.urandom(16)
        frame, counter = head.change(K.LMN, new, 1, T0)
        assert head.answer(K.ADMIN, device.commands.handle(frame), counter) == (C.REFUSED, b"storage")
        assert device.commands.rejected["storage"] == 1
        device.close()
    finally:
        rmtree(d)
