# The key model (security/keys.py): provisioning disables the utility key for good,
# permissions are enforced, key changes are wrapped and bound to a counter.

import os
from support import tmpdir, rmtree, raises
from crypto.keywrap import wrap
from security import keys as K
from secfix import Device, HeadEnd, provisioned, ANCHOR


def test_provisioning_installs_keys_and_anchor_and_erases_the_utility_key():
    d = tmpdir("sec")
    try:
        device, head = provisioned(d)
        assert device.keys.provisioned
        for name in K.DEVICE_KEYS:
            assert device.store.get(name) == head.keys[name]
            assert device.store.generation(name) == 1
        assert device.keys.anchor() == ANCHOR
        assert not device.store.has(K.UTILITY)
        assert "utility.key" not in os.listdir(d + "/keys")
        # The anchor sits where the OTA stream reads it.
        from store import AtomicRecord
        assert AtomicRecord(d + "/keys/ota-anchor.pub").read() == ANCHOR
        device.close()
        # Reopened: still provisioned, the utility key gone and refused.
        again = Device(d)
        assert again.keys.provisioned
        exc = raises(K.SecurityError, again.keys.authorize, K.UTILITY, K.PROVISION)
        assert exc.reason == "utility_disabled"
        raises(K.SecurityError, again.keys.install_utility, head.keys[K.UTILITY])
        again.close()
    finally:
        rmtree(d)


def test_utility_key_left_behind_by_a_crash_is_erased_at_open():
    d = tmpdir("sec")
    try:
        device, head = provisioned(d)
        # As if the power failed between recording "provisioned" and erasing the key.
        device.store.put(K.UTILITY, head.keys[K.UTILITY])
        device.close()
        again = Device(d)
        assert not again.store.has(K.UTILITY)
        again.close()
    finally:
        rmtree(d)


def test_permissions_table_is_enforced():
    d = tmpdir("sec")
    try:
        device = Device(d)
        keys = device.keys
        assert keys.allowed(K.UTILITY, K.PROVISION)
        for action in (K.OTA_UPDATE, K.SET_TIME, K.CHANGE_KEY, K.READ_SYSTEM_LOG, K.READ_STATUS, K.WAKE):
            assert not keys.allowed(K.UTILITY, action)
            assert raises(K.SecurityError, keys.authorize, K.UTILITY, action).reason == "not_permitted"
        for name in K.PERMISSIONS:
            assert not keys.allowed(name, K.OTA_UPDATE)  # only the anchor's signature updates firmware
        assert not keys.allowed(K.LMN, K.SET_TIME)
        assert not keys.allowed(K.MEP, K.CHANGE_KEY)
        assert not keys.allowed(K.MEP, K.READ_SYSTEM_LOG)
        assert keys.allowed(K.MEP, K.READ_CONSUMER_LOG)
        assert keys.allowed(K.ADMIN, K.CHANGE_KEY)
        assert raises(K.SecurityError, keys.authorize, "nobody", K.WAKE).reason == "unknown_key"
        device.close()
    finally:
        rmtree(d)


def test_key_change_is_bound_to_its_counter_and_replay_refused():
    d = tmpdir("sec")
    try:
        device, head = provisioned(d)
        keys = device.keys
        new = os.urandom(16)
        wrapped = wrap(K.change_kek(head.keys[K.LMN], K.LMN, 1), new)
        assert keys.change_key(K.LMN, 1, wrapped) == 2
        assert device.store.get(K.LMN) == new
        # The same change again: the counter is spent.
        assert raises(K.SecurityError, keys.change_key, K.LMN, 1, wrapped).reason == "old_key_change"
        # A change wrapped for counter 2 but sent as 3 fails the unwrap (bound to its counter).
        newer = os.urandom(16)
        w2 = wrap(K.change_kek(new, K.LMN, 2), newer)
        assert raises(K.SecurityError, keys.change_key, K.LMN, 3, w2).reason == "unwrap_failed"
        # Wrapped under the old key: refused.
        w_old = wrap(K.change_kek(head.keys[K.LMN], K.LMN, 4), newer)
        assert raises(K.SecurityError, keys.change_key, K.LMN, 4, w_old).reason == "unwrap_failed"
        assert device.store.get(K.LMN) == new
        assert keys.change_key(K.LMN, 5, wrap(K.change_kek(new, K.LMN, 5), newer)) == 3
        assert device.store.get(K.LMN) == newer
        device.close()
        again = Device(d)
        assert again.keys.kcc(K.LMN) == 5
        assert raises(K.SecurityError, again.keys.change_key, K.LMN, 5,
                      wrap(K.change_kek(newer, K.LMN, 5), new)).reason == "old_key_change"
        assert raises(K.SecurityError, again.keys.change_key, K.UTILITY, 9, w2).reason == "bad_payload"
        again.close()
    finally:
        rmtree(d)


def test_provisioning_refuses_bad_input_and_writes_nothing():
    d = tmpdir("sec")
    try:
        device = Device(d)
        head = HeadEnd()
        device.keys.install_utility(head.keys[K.UTILITY])
        good = {K.LMN: wrap(K.provision_kek(head.keys[K.UTILITY], K.LMN), head.keys[K.LMN])}
        assert raises(K.SecurityError, device.keys.provision, b"\x03" + ANCHOR[1:], good, 0).reason == "bad_anchor"
        wrong = {K.LMN: wrap(K.provision_kek(os.urandom(16), K.LMN), head.keys[K.LMN])}
        assert raises(K.SecurityError, device.keys.provision, ANCHOR, wrong, 0).reason == "unwrap_failed"
        assert raises(K.SecurityError, device.keys.provision, ANCHOR, {}, 0).reason == "bad_payload"
        assert not device.keys.provisioned
        assert not device.store.has(K.LMN)
        assert device.store.has(K.UTILITY)
        device.close()
    finally:
        rmtree(d)


def test_damaged_state_record_counts_as_provisioned():
    d = tmpdir("sec")
    try:
        device = Device(d)
        device.keys.install_utility(os.urandom(16))
        device.close()
        with open(d + "/keys/state", "wb") as f:
            f.write(b"garbage")
        again = Device(d)
        assert again.keys.provisioned  # never lets the utility key back in
        assert not again.store.has(K.UTILITY)
        again.close()
    finally:
        rmtree(d)
