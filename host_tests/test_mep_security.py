# MEP security: every kind of bad input is rejected with its response code (or not
# answered at all), counted, and leaves the meter's stored state as it was.
# Runs under CPython and MicroPython.

import os
import struct
import support
import mep_support as M
from mep import tables as T
from mep.frame import FRAME, BAD
from mep.secure import LinkKeys, UP, DOWN


def _request(keys, seq, code=T.READ_FULL, args=struct.pack(">H", T.IDENT), direction=UP):
    body = bytearray(1 + len(args) + 12)
    body[0] = code
    body[1:1 + len(args)] = args
    struct.pack_into(">I", body, 1 + len(args), seq)
    keys.sign_into(direction, body)
    return bytes(struct.pack(">H", len(body)) + body)


def _parse(frame):
    keys = LinkKeys(M.KEY)
    body = memoryview(frame)[2:]
    assert keys.verify_down(body), "response digest must verify with the meter's key"
    n = body[2] << 8 | body[3]
    seq = struct.unpack(">I", bytes(body[4 + n:8 + n]))[0]
    return body[0], bytes(body[4:4 + n]), seq


def _exchange(mep, raw, t=0):
    """Feed raw bytes to the meter's receiver; the parsed responses (code, data, seq)."""
    r = mep.server.receiver
    r.feed(raw)
    out = []
    for _ in range(200):
        event = r.poll(t)
        if event is None:
            if r.pending < 2:
                break
            t += 300  # let a torn frame time out
            continue
        kind, body = event
        if kind == FRAME or kind == BAD:
            resp = mep.server.handle(kind, body, t)
            if resp is not None:
                out.append(_parse(resp))
    return out


def _snapshot(root):
    found = {}
    for name in sorted(os.listdir(root)):
        path = root + "/" + name
        try:
            os.listdir(path)
        except OSError:
            with open(path, "rb") as f:
                found[path] = f.read()
            continue
        found.update(_snapshot(path))
    return found


def _meter():
    root = support.tmpdir("msec")
    mep = M.make_meter_mep(root)
    keys = LinkKeys(M.KEY)
    # Warm up: one accepted request reserves the next seq_block numbers on flash, so the
    # rejected requests below must not (and do not) write anything.
    assert _exchange(mep, _request(keys, 1))[0][0] == T.OK
    return root, mep, keys


def test_wrong_digest_is_refused_and_counted():
    root, mep, keys = _meter()
    before = _snapshot(root)
    frame = bytearray(_request(keys, 2))
    frame[-3] ^= 0x40
    assert _exchange(mep, frame) == [(T.ERR_AUTH, b"", 2)]
    assert mep.server.auth_failures == 1 and mep.server.requests == 1
    assert _snapshot(root) == before
    support.rmtree(root)


def test_wrong_key_and_wrong_direction_key_are_refused():
    root, mep, keys = _meter()
    before = _snapshot(root)
    assert _exchange(mep, _request(LinkKeys(M.OTHER_KEY), 2))[0][0] == T.ERR_AUTH
    assert _exchange(mep, _request(keys, 3, direction=DOWN))[0][0] == T.ERR_AUTH
    assert mep.server.auth_failures == 2
    assert _snapshot(root) == before
    support.rmtree(root)


def test_replayed_frame_and_old_sequence_get_the_expected_value():
    root, mep, keys = _meter()
    frame = _request(keys, 5)
    assert _exchange(mep, frame)[0][0] == T.OK
    before = _snapshot(root)
    code, data, seq = _exchange(mep, frame)[0]
    assert (code, struct.unpack(">I", data)[0], seq) == (T.ERR_SEQUENCE, 6, 5)
    code, data, _ = _exchange(mep, _request(keys, 3))[0]
    assert code == T.ERR_SEQUENCE and struct.unpack(">I", data)[0] == 6
    assert mep.server.bad_sequence == 2 and mep.window.last == 5
    assert _snapshot(root) == before
    support.rmtree(root)


def test_replay_is_refused_after_a_restart():
    root, mep, keys = _meter()
    frame = _request(keys, 4)
    assert _exchange(mep, frame)[0][0] == T.OK
    again = M.make_meter_mep(root)
    code, data, _ = _exchange(again, frame)[0]
    assert code == T.ERR_SEQUENCE and struct.unpack(">I", data)[0] > 4
    support.rmtree(root)


def test_truncated_frame_is_dropped_and_the_next_one_answered():
    root, mep, keys = _meter()
    before = _snapshot(root)
    assert _exchange(mep, _request(keys, 2)[:9]) == []
    assert mep.server.receiver.timeouts >= 1
    assert _snapshot(root) == before
    assert _exchange(mep, _request(keys, 3), t=10000)[0][0] == T.OK
    support.rmtree(root)


def test_oversized_length_and_garbage_between_frames():
    root, mep, keys = _meter()
    before = _snapshot(root)
    assert _exchange(mep, b"\x7f\xff" + bytes(40)) == []
    assert mep.server.receiver.garbage_bytes >= 2
    assert _snapshot(root) == before
    mep.server.receiver.garbage_bytes = mep.server.receiver.timeouts = 0
    stream = b"\x01\x02\x03zz" + _request(keys, 7) + b"\x05\x00\xff noise" + _request(keys, 8) + b"\x00"
    answers = _exchange(mep, stream, t=20000)
    assert [(code, seq) for code, _, seq in answers] == [(T.OK, 7), (T.OK, 8)]
    r = mep.server.receiver
    # Each garbage byte skipped (a length-like pair by timeout), with the last zero of the
    # run of zeros above, which waited for a second byte.
    assert r.garbage_bytes + r.timeouts == 1 + 5 + 9
    support.rmtree(root)


def test_write_to_a_read_only_table_is_refused():
    root, mep, keys = _meter()
    before = _snapshot(root)
    for seq, table in ((2, T.TARIFF), (3, T.REALTIME), (4, T.NONURGENT), (5, T.URGENT), (6, T.SECURITY)):
        args = struct.pack(">HH", table, 1)
        assert _exchange(mep, _request(keys, seq, T.WRITE_FULL, args + b"\x01"))[0][0] == T.ERR_PERMISSION
    assert _exchange(mep, _request(keys, 7, T.READ_FULL, struct.pack(">H", T.SECURITY)))[0][0] == T.ERR_PERMISSION
    assert mep.server.denied == 6
    assert _snapshot(root) == before
    assert mep.tariffs.active == 0
    support.rmtree(root)


def test_malformed_requests_get_unrecognised():
    root, mep, keys = _meter()
    for seq, code, args in ((2, 0x77, b"\x00\x01"), (3, T.READ_FULL, b"\x00"), (4, T.WRITE_FULL, b"\x08\x15\x00\x09ab")):
        assert _exchange(mep, _request(keys, seq, code, args))[0][0] == T.ERR_UNRECOGNISED
    support.rmtree(root)


def test_failed_digests_lock_the_port_for_a_while():
    root, mep, keys = _meter()
    from security.logs import Logs

    logs = Logs(root, mep.clock)  # the meter's device logs: failures go to the untrusted log
    mep.server.on_untrusted = logs.untrusted_event
    bad = bytearray(_request(keys, 2))
    bad[-1] ^= 1
    codes = [c for c, _, _ in _exchange(mep, bytes(bad) * 8, t=1000)]
    assert codes == [T.ERR_AUTH] * 5  # burst 5; then silence
    assert mep.server.lockouts == 1 and mep.server.locked_drops == 2
    assert _exchange(mep, _request(keys, 3), t=2000) == []  # a good frame too, while locked
    assert _exchange(mep, _request(keys, 4), t=100000)[0][0] == T.OK
    kinds = [r["kind"] for _, r in logs.untrusted.records(0, 32)]
    assert kinds == ["mep_auth_failed"] * 6 + ["mep_lockout"], kinds
    assert not list(mep.events.records()), "an attacker's lock-out is not the device's event (BT76)"
    logs.close()
    support.rmtree(root)


def test_client_ignores_forged_and_replayed_responses():
    root = support.tmpdir("msec")

    async def main():
        a, b = M.port_pair()
        c = M.make_client(root, b, timeout_ms=150, retries=0)
        mep = M.make_meter_mep(root, a)
        # A genuine exchange, recorded, to replay later.
        await M.with_server(mep, lambda: c.read(T.IDENT))
        old_response = bytes(a.sent)
        forged = M.make_meter_mep(support.tmpdir("msec"), key=M.OTHER_KEY)

        async def fake_meter(respond):
            buf = bytearray(64)
            n = await a.read_some(buf)
            body = memoryview(buf)[2:n]
            seq = struct.unpack(">I", bytes(body[len(body) - 12:len(body) - 8]))[0]
            await a.write_all(respond(seq))

        import asyncio
        outcomes = []
        for respond in (lambda seq: forged.server.response(T.OK, seq, b"x"), lambda seq: old_response):
            task = asyncio.create_task(fake_meter(respond))
            try:
                await c.read(T.IDENT)
                outcomes.append("accepted")
            except Exception as exc:
                outcomes.append(type(exc).__name__)
            await task
        return outcomes, c.bad_digests, c.stale

    outcomes, bad_digests, stale = support.run(main())
    assert outcomes == ["LinkTimeout", "LinkTimeout"]
    assert bad_digests >= 1 and stale >= 1
    support.rmtree(root)


def _poll_under_noise(mep, keys, seconds, noise_bytes_per_s, seed, first_seq):
    """Polls answered OK in `seconds` of a simulated line, on an injected tick clock (1 ms
    steps, so a loaded machine changes nothing): the device sends one poll a second (the
    real-time read) and waits up to a second for its answer; between its frames the line
    carries `noise_bytes_per_s` random bytes a second (a seeded xorshift: reproducible)."""
    server = mep.server
    r = server.receiver
    state = seed
    step_ms = 1000 // noise_bytes_per_s if noise_bytes_per_s else 0
    seq = first_seq
    waiting = None
    answered = 0
    one = bytearray(1)
    for t in range(seconds * 1000):
        if t % 1000 == 0:
            waiting = seq
            r.feed(_request(keys, seq, T.READ_FULL, struct.pack(">H", T.REALTIME)))
            seq += 1
        elif step_ms and t % step_ms == 0:
            state ^= (state << 13) & 0xFFFFFFFF
            state ^= state >> 17
            state ^= (state << 5) & 0xFFFFFFFF
            one[0] = state & 0xFF
            r.feed(one)
        while True:
            event = r.poll(t)
            if event is None:
                break
            kind, body = event
            if kind != FRAME and kind != BAD:
                continue
            out = server.handle(kind, body, t)
            if out is not None and waiting is not None:
                code, _, got = _parse(out)
                if code == T.OK and got == waiting:
                    answered += 1
                    waiting = None
    return answered


def test_line_noise_is_no_authentication_failure_and_the_device_keeps_polling():
    # Issue 12 item 5: about 1 KB/s of noise on the MEP line locked the device out (2 polls
    # in 30 s instead of 30): framing noise counted as failed digests.
    seconds = 30
    root, mep, keys = _meter()
    baseline = _poll_under_noise(mep, keys, seconds, 0, 1, 2)
    assert baseline == seconds, "without noise every poll is answered: %d of %d" % (baseline, seconds)
    support.rmtree(root)
    for seed in (0x1234567, 0x2468ACE, 0x0BADC0DE):
        root, mep, keys = _meter()
        answered = _poll_under_noise(mep, keys, seconds, 1000, seed, 2)
        s = mep.server
        assert answered * 100 >= baseline * 80, "seed %x: %d of %d polls answered under noise (%r)" % (
            seed, answered, baseline, s.counters())
        assert s.lockouts == 0 and s.auth_failures == 0, "noise is no authentication failure: %r" % s.counters()
        assert s.receiver.bad > 0, "the noise did make digest-failing candidates (seed %x)" % seed
        support.rmtree(root)


def test_well_formed_frames_with_a_bad_digest_still_lock_the_port_under_noise():
    # What does count: a frame with a request's shape whose digest fails, noise or not.
    root, mep, keys = _meter()
    bad = bytearray(_request(keys, 2))
    bad[-1] ^= 1
    noise = bytes((i * 151 + 7) & 0xFF for i in range(60))
    codes = []
    for raw, t in ((noise, 1000), (bytes(bad) * 3, 3000), (noise, 5000), (bytes(bad) * 5, 7000)):
        codes += [c for c, _, _ in _exchange(mep, raw, t)]
        assert mep.server.receiver.pending < 2, "the noise was read and dropped"
    assert codes == [T.ERR_AUTH] * 5, codes
    assert mep.server.lockouts == 1 and mep.server.auth_failures == 6, mep.server.counters()
    support.rmtree(root)
