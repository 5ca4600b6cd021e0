# test: cpython-only (hypothesis)
# Property tests of the M-Bus receiver: any bytes, cut anywhere, give only frames or
# counted errors; a frame behind garbage that holds no start byte is always found.
from hypothesis import given, settings, strategies as st
from mbus import receiver as R
from mbus.receiver import Receiver
from mbus_memlink import frame

GOOD = [frame("LGB_G350"), frame("SEN_Sensus-PolluStat-E"), b"\xe5",
        bytes((0x68, 4, 4, 0x68, 0x08, 0x01, 0x70, 0x08, 0x81, 0x16))]
_STARTS = (0x68, 0x10, 0xE5)


def run_scan(data, cuts):
    rx = Receiver(None)
    got = []
    pos = 0
    for cut in sorted(set(cuts)) + [len(data)]:
        piece = data[pos:cut]
        pos = max(pos, cut)
        while piece:
            taken = rx.feed(piece)
            piece = piece[taken:]
            while True:
                r = rx.scan()
                assert r in (R.FRAME, R.BAD_FRAME, R.NONE)
                if r == R.NONE:
                    break
                got.append(rx.frame_bytes() if r == R.FRAME else None)
            assert 0 <= rx.start <= rx.end <= len(rx.buf)
    return rx, got


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=700), st.lists(st.integers(0, 700), max_size=12))
def test_random_bytes_never_crash(data, cuts):
    rx, got = run_scan(data, cuts)
    for f in got:
        # Whatever passes is a well-formed slave frame (E5 or a checked long frame).
        assert f is None or f == b"\xe5" or (f[0] == 0x68 and f[-1] == 0x16 and not f[4] & 0x40)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.sampled_from(GOOD), st.binary(max_size=40),
       st.lists(st.integers(0, 700), max_size=8))
def test_frame_behind_garbage_is_found(garbage, good, tail, cuts):
    garbage = bytes(b for b in garbage if b not in _STARTS)
    rx, got = run_scan(garbage + good + tail, cuts)
    assert good in got
    assert rx.garbage_bytes >= len(garbage)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(GOOD[:2]), st.integers(0, 200), st.integers(1, 255))
def test_one_damaged_byte_never_passes(good, where, xor):
    bad = bytearray(good)
    bad[where % len(bad)] ^= xor
    rx, got = run_scan(bytes(bad), [])
    assert bytes(bad) not in got or bytes(bad) == good
    assert good not in got
