# EN 13757-2 frame codec: building, checking and parsing single character,
# short, control and long frames, and each rejection reason.

from support import raises
from mbus import frame
from mbus.errors import FrameError, MBusError


def test_build_short_matches_reference_examples():
    # SND_NKE and REQ_UD2 to 254 (ABB A43/A44 manual p. 251)
    assert frame.build_short(frame.SND_NKE, 0xFE) == bytes((0x10, 0x40, 0xFE, 0x3E, 0x16))
    assert frame.build_short(frame.REQ_UD2_FCB, 0xFE) == bytes((0x10, 0x7B, 0xFE, 0x79, 0x16))


def test_build_control_set_baud_rate():
    assert frame.build_control(frame.SND_UD, 1, frame.CI_BAUD_2400) == bytes(
        (0x68, 0x03, 0x03, 0x68, 0x53, 0x01, 0xBB, 0x0F, 0x16))


def test_build_long_and_parse_round_trip():
    sel = bytes((0x78, 0x56, 0x34, 0x12, 0xFF, 0xFF, 0xFF, 0xFF))
    buf = frame.build_long(frame.SND_UD, frame.ADDR_SELECTED, frame.CI_SELECT, sel)
    assert buf[:4] == bytes((0x68, 0x0B, 0x0B, 0x68)) and buf[-1] == 0x16
    assert buf[-2] == frame.checksum(buf, 4, len(buf) - 2)
    f = frame.parse(buf)
    assert (f.kind, f.c, f.a, f.ci, f.data) == ("long", 0x53, 253, 0x52, sel)


def test_parse_each_kind():
    assert frame.parse(bytes((0xE5,))).kind == "ack"
    f = frame.parse(frame.build_short(0x5B, 7))
    assert (f.kind, f.c, f.a, f.ci, f.data) == ("short", 0x5B, 7, None, b"")
    f = frame.parse(frame.build_control(0x08, 1, 0x70))
    assert (f.kind, f.c, f.a, f.ci, f.data) == ("control", 0x08, 1, 0x70, b"")


def test_parse_accepts_bytearray_and_memoryview():
    buf = frame.build_long(0x08, 3, 0x78, b"\x01\x13\x05")
    assert frame.parse(bytearray(buf)).data == b"\x01\x13\x05"
    assert frame.parse(memoryview(buf)).data == b"\x01\x13\x05"


def _reason(buf):
    exc = raises(FrameError, frame.parse, buf)
    assert isinstance(exc, MBusError) and isinstance(exc, ValueError)
    return exc.reason


def test_rejection_reasons():
    good = frame.build_long(0x08, 1, 0x72, bytes(range(20)))
    assert _reason(b"") == "truncated"
    assert _reason(good[:-1]) == "truncated"
    assert _reason(good[:3]) == "truncated"
    assert _reason(bytes((0x10, 0x40, 0xFE, 0x3E))) == "truncated"
    assert _reason(good + b"\x16") == "L-field mismatch"
    bad = bytearray(good)
    bad[2] ^= 1
    assert _reason(bad) == "L-field mismatch"
    bad = bytearray(good)
    bad[3] = 0x69
    assert _reason(bad) == "bad start"
    assert _reason(b"\x00\x10\x40") == "bad start"
    bad = bytearray(good)
    bad[-2] ^= 0xFF
    assert _reason(bad) == "bad checksum"
    bad = bytearray(good)
    bad[-1] = 0x17
    assert _reason(bad) == "bad stop byte"
    assert _reason(bytes((0x10, 0x40, 0xFE, 0x3F, 0x16))) == "bad checksum"
    assert _reason(bytes((0x10, 0x40, 0xFE, 0x3E, 0x17))) == "bad stop byte"
    assert _reason(bytes((0xE5, 0xE5))) == "trailing bytes"
    assert _reason(bytes((0x68, 2, 2, 0x68, 8, 1, 9, 0x16))) == "L-field mismatch"


def test_build_long_refuses_oversize_data():
    assert raises(FrameError, frame.build_long, 8, 1, 0x72, bytes(253)).reason == "data too long"
    assert len(frame.build_long(8, 1, 0x72, bytes(252))) == frame.MAX_FRAME_LEN


def test_frame_length_from_first_bytes():
    buf = frame.build_long(0x08, 1, 0x72, bytes(12))
    assert frame.frame_length(buf, 0) == 0
    assert frame.frame_length(buf, 1) == 0
    assert frame.frame_length(buf, 2) == len(buf)
    assert frame.frame_length(b"\xe5", 1) == 1
    assert frame.frame_length(b"\x10", 1) == 5
    assert frame.frame_length(b"\x42", 1) == -1


def test_check_does_not_copy_and_names_the_kind():
    buf = frame.build_long(0x08, 9, 0x7A, bytes(8))
    assert frame.check(buf) == (frame.KIND_LONG, 0x08, 9, 0x7A)
    assert frame.check(b"\xe5") == (frame.KIND_ACK, None, None, None)
