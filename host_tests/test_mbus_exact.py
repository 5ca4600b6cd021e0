# Decoded M-Bus values keep every digit the frame holds (issue 11): a record is an integer
# with its decimal exponent, printed exactly with integer arithmetic, on any interpreter,
# including the 32-bit one whose floats have 24 bits (where 13426156.25 W became 13426156.0
# and 123456.789 m^3 became 123456.7890625 in the old float division). Also: the VIF tables
# are bytes (nothing built at import), the master's more_follow walk allocates nothing,
# and one decode needs a few KiB. No sockets, no files: runs in the 32-bit stage.

import sys
from mbus.decode import decode_frame, decode_user_data, more_follow
from mbus.records import decimal_text

# amt_calec_mb from the libmbus corpus: power as an IEEE 754 single, A0 C8 51 46 (13426.15625)
# with VIF 0x2E (kW): 13426156.25 W exactly.
AMT_CALEC = bytes.fromhex(
    "68383868 08C87209 315403B4 05B004C9 10FFFF03 229A0000 052EA0C8 5146053E B4E3D742 055B90D3"
    " 0743055F 0EAAE741 05639CBC D542046D 100905C5 7716".replace(" ", ""))
_MICROPYTHON = sys.implementation.name == "micropython"


def _one(record_bytes):
    t = decode_user_data(0x78, bytes(record_bytes))
    assert len(t.records) == 1, "expected one record, got %r" % (t.records,)
    return t.records[0]


def test_real_power_keeps_its_quarter_watt():
    power = decode_frame(AMT_CALEC).records[1]
    assert (power.quantity, power.unit) == ("power", "W"), power
    assert power.number() == (1342615625, -2), power.number()
    assert power.decimal() == "13426156.25", "expected 13426156.25 W, got %s" % power.decimal()


def test_scaled_integers_print_every_digit():
    # 04 13: 32-bit integer, volume in litres (10^-3 m^3); 123456789 l = 123456.789 m^3
    r = _one((0x04, 0x13, 0x15, 0xCD, 0x5B, 0x07))
    assert r.number() == (123456789, -3) and r.decimal() == "123456.789", r.decimal()
    # 0C 13: BCD 99999999 l
    assert _one((0x0C, 0x13, 0x99, 0x99, 0x99, 0x99)).decimal() == "99999.999"
    # negative and below one; trailing zeros are digits the frame holds
    assert _one((0x04, 0x13, 0xFB, 0xFF, 0xFF, 0xFF)).decimal() == "-0.005"
    assert _one((0x02, 0x13, 0xE8, 0x03)).decimal() == "1.000"
    # 0E 03: BCD 12 digits in Wh, above 2**30: an exact (long) integer
    r = _one((0x0E, 0x03, 0x12, 0x90, 0x78, 0x56, 0x34, 0x12))
    assert r.value == 123456789012 and r.decimal() == "123456789012", r.decimal()
    # minutes given in seconds: the multiplier is integer arithmetic too
    assert _one((0x02, 0x21, 0x10, 0x27)).number() == (600000, 0)


def test_decimal_text():
    cases = ((0, -3, "0.000"), (5, -1, "0.5"), (-12345, -2, "-123.45"), (7, 2, "700"), (2**40, -5, "10995116.27776"))
    for mantissa, exponent, text in cases:
        assert decimal_text(mantissa, exponent) == text, (mantissa, exponent, decimal_text(mantissa, exponent))


def test_reals_are_exact_binary_values():
    assert _one((0x05, 0x2B, 0x00, 0x00, 0xC0, 0x3F)).decimal() == "1.5"  # W
    assert _one((0x05, 0x2B, 0xCD, 0xCC, 0xCC, 0x3D)).decimal() == "0.100000001490116119384765625"
    assert _one((0x05, 0x2B, 0x00, 0x00, 0x00, 0x4B)).decimal() == "8388608"
    nan = _one((0x05, 0x2B, 0x00, 0x00, 0xC0, 0x7F))
    assert nan.number() is None and nan.value != nan.value


def test_vif_tables_are_bytes():
    from mbus import vif
    for name in ("PRIMARY", "FB", "FD", "FIXED_UNITS"):
        assert isinstance(getattr(vif, name), bytes), "vif.%s must be a bytes literal" % name


def _allocated(fn, *args):
    import gc
    gc.collect()
    gc.disable()
    try:
        before = gc.mem_alloc()
        fn(*args)
        return gc.mem_alloc() - before
    finally:
        gc.enable()


def test_more_follow_walk_allocates_nothing_and_a_decode_a_few_kib():
    assert not more_follow(AMT_CALEC)
    if not _MICROPYTHON:
        return  # CPython has no gc.mem_alloc
    more_follow(AMT_CALEC)  # first call: nothing left to intern
    assert _allocated(more_follow, AMT_CALEC) == 0, "more_follow allocated"
    limit = 4096 if sys.maxsize < 2**32 else 8192  # 32-bit: 1.7 KB measured; 64-bit words are twice as wide
    used = _allocated(decode_frame, AMT_CALEC)
    assert used < limit, "decoding amt_calec_mb took %d bytes, expected under %d" % (used, limit)
