# test: cpython-only (hypothesis)
# The command envelope and its payload parsers under arbitrary input: bad input is counted
# and refused, never raised, and never changes a key or the clock.

import os
from hypothesis import given, settings, strategies as st, HealthCheck
from support import tmpdir, rmtree
from security import keys as K
from security import commands as C
from secfix import Device, HeadEnd, provisioned, T0

_D = tmpdir("fuzz")
DEVICE, HEAD = provisioned(_D + "/a")
KEYS_BEFORE = {n: DEVICE.store.get(n) for n in K.DEVICE_KEYS}
FRESH = Device(_D + "/b")
FRESH_HEAD = HeadEnd()
FRESH.keys.install_utility(FRESH_HEAD.keys[K.UTILITY])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=120))
def test_random_bytes_are_dropped(data):
    assert DEVICE.commands.handle(data) is None


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 200), st.integers(0, 255))
def test_mutated_frames_never_pass(position, mask):
    frame, _ = HEAD.command(K.ADMIN, C.STATUS, T0)
    bad = bytearray(frame)
    if mask == 0 or position >= len(bad):
        bad = bad[:position % len(bad)]  # truncated instead
    else:
        bad[position] ^= mask
    assert DEVICE.commands.handle(bytes(bad)) is None


@settings(max_examples=200, deadline=None)
@given(st.sampled_from((C.CHANGE_KEY, C.READ_LOG, C.SET_TIME, C.STATUS)), st.binary(max_size=60))
def test_authentic_commands_with_garbage_payloads_are_refused_cleanly(code, payload):
    frame, counter = HEAD.command(K.ADMIN, code, T0, payload)
    reply = DEVICE.commands.handle(frame)
    assert reply is not None
    status, _ = HEAD.answer(K.ADMIN, reply, counter)
    if code == C.CHANGE_KEY:
        assert status == C.REFUSED  # a random payload never unwraps
    for name in K.DEVICE_KEYS:
        assert DEVICE.store.get(name) == KEYS_BEFORE[name]


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200))
def test_provisioning_payload_garbage_never_provisions(payload):
    frame, counter = FRESH_HEAD.command(K.UTILITY, C.PROVISION, 0, payload)
    status, _ = FRESH_HEAD.answer(K.UTILITY, FRESH.commands.handle(frame), counter)
    assert status == C.REFUSED
    assert not FRESH.keys.provisioned
    assert FRESH.store.names() == ["utility"]


def test_zz_cleanup():
    DEVICE.close()
    FRESH.close()
    rmtree(_D)
    assert not os.path.exists(_D)
