# Hand-built telegrams for what the libmbus corpus lacks, from the EN 13757-3
# layouts: CI 0x7A and 0x78, data codings 0 and 8, every integer, real and BCD
# size, LVAR strings, BCD and binary, date types G, F, I and J, DIFE fields,
# VIFE scaling, the FB/FD tables, plain-text and unknown VIFs, fillers and
# manufacturer data.

from support import raises
from mbus import frame
from mbus.decode import (decode_frame, decode_user_data, status_flags, app_error_text,
                         manufacturer_name)
from mbus.errors import DecodeError, MBusError


def one(record_bytes):
    """The single record of a CI 0x78 telegram holding record_bytes."""
    t = decode_user_data(0x78, bytes(record_bytes))
    assert len(t.records) == 1, t.records
    return t.records[0]


def near(a, b):
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b))


def test_ci_7a_short_header_in_a_frame():
    data = bytes((0x2A, 0x14, 0x00, 0x00, 0x04, 0x13, 0x39, 0x30, 0x00, 0x00))
    t = decode_frame(frame.build_long(frame.RSP_UD, 5, 0x7A, data))
    assert (t.ci, t.c, t.a) == (0x7A, 0x08, 5)
    assert t.header == {"id": None, "manufacturer": None, "version": None, "medium": None,
                        "access_no": 0x2A, "status": 0x14}
    assert t.status == 0x14 and status_flags(t.status) == ["power_low", "temporary_error"]
    r = t.records[0]
    assert (r.quantity, r.unit, r.function) == ("volume", "m^3", "instantaneous")
    assert near(r.value, 12.345)


def test_ci_78_no_header():
    t = decode_user_data(0x78, bytes((0x01, 0xFD, 0x17, 0x05, 0x2F, 0x2F)))
    assert t.header["id"] is None and t.header["status"] is None and t.status == 0
    assert [(r.quantity, r.value) for r in t.records] == [("error_flags", 5)]


def test_ci_72_header_fields():
    head = bytes((0x78, 0x56, 0x34, 0x12, 0x2D, 0x2C, 0x01, 0x07, 0x09, 0x00, 0, 0))
    t = decode_user_data(0x72, head)
    assert t.header == {"id": "12345678", "manufacturer": "KAM", "version": 1, "medium": 7,
                        "access_no": 9, "status": 0}
    assert t.records == [] and not t.more_follow
    assert manufacturer_name(0x0421) == "AAA" and manufacturer_name(0x6B5A) == "ZZZ"


def test_no_data_and_selection_for_readout():
    r = one((0x00, 0x13))
    assert (r.quantity, r.value) == ("volume", None)
    r = one((0x08, 0x06))
    assert (r.quantity, r.unit, r.value) == ("energy", "Wh", None)


def test_integers_all_sizes_signed():
    assert one((0x01, 0x03, 0xFF)).value == -1
    assert one((0x02, 0x03, 0x34, 0x12)).value == 0x1234
    assert one((0x03, 0x03, 0x00, 0x00, 0x80)).value == -(1 << 23)
    assert one((0x04, 0x03, 0xFE, 0xFF, 0xFF, 0xFF)).value == -2
    assert one((0x06, 0x03, 1, 2, 3, 4, 5, 6)).value == 0x060504030201
    assert one((0x06, 0x03, 0, 0, 0, 0, 0, 0x80)).value == -(1 << 47)
    assert one((0x07, 0x03, 1, 0, 0, 0, 0, 0, 0, 0)).value == 1
    assert one((0x07, 0x03, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF)).value == -1


def test_real_scaled():
    # 1.5 as IEEE 754 single, LSB first; VIF 0x2B: W
    r = one((0x05, 0x2B, 0x00, 0x00, 0xC0, 0x3F))
    assert (r.unit, r.value) == ("W", 1.5)


def test_bcd_sizes_and_negative_sign():
    assert one((0x09, 0x03, 0x42)).value == 42
    assert one((0x0A, 0x03, 0x34, 0x12)).value == 1234
    assert one((0x0B, 0x03, 0x56, 0x34, 0x12)).value == 123456
    assert one((0x0C, 0x03, 0x78, 0x56, 0x34, 0x12)).value == 12345678
    assert one((0x0E, 0x03, 0x12, 0x90, 0x78, 0x56, 0x34, 0x12)).value == 123456789012
    assert one((0x0A, 0x03, 0x34, 0xF2)).value == -234
    # a nibble A-E is no digit: the raw bytes as hex
    assert one((0x0A, 0x03, 0x3A, 0x12)).value == "3A 12"


def test_lvar_text_bcd_binary():
    # text is sent last character first
    r = one((0x0D, 0xFD, 0x11, 0x03, ord("C"), ord("B"), ord("A")))
    assert (r.quantity, r.value) == ("customer", "ABC")
    r = one((0x0D, 0x13, 0xC1, 0x34, 0x12))
    assert near(r.value, 1.234)
    r = one((0x0D, 0x13, 0xD1, 0x34, 0x12))
    assert near(r.value, -1.234)
    assert one((0x0D, 0xFD, 0x0E, 0xE3, 0x01, 0x02, 0x03)).value == "01 02 03"
    r = one((0x0D, 0xFD, 0x0E, 0xF0) + tuple(range(16)))
    assert r.value.split()[0] == "00" and len(r.value.split()) == 16
    assert one((0x0D, 0xFD, 0x11, 0x00)).value == ""
    assert raises(DecodeError, decode_user_data, 0x78, bytes((0x0D, 0x13, 0xF7))).reason == "reserved LVAR"


def test_date_types_g_f_i_j():
    # G: 2024-03-15 -> d0 = day | year_lo << 5, d1 = month | year_hi << 4; year 24 = 0b0011000
    g = (15 | ((24 & 7) << 5), 3 | ((24 >> 3) << 4))
    r = one((0x02, 0x6C) + g)
    assert (r.quantity, r.value) == ("date", "2024-03-15")
    # F: 2024-03-15 13:45
    r = one((0x04, 0x6D, 45, 13) + g)
    assert (r.quantity, r.value) == ("datetime", "2024-03-15T13:45:00")
    assert one((0x04, 0x6D, 45 | 0x80, 13) + g).value == "invalid"
    # I: 2024-03-15 13:45:30 (48-bit DIF)
    r = one((0x06, 0x6D, 30, 45, 13) + g + (0,))
    assert r.value == "2024-03-15T13:45:30"
    # J: time only 13:45:30 (24-bit DIF)
    assert one((0x03, 0x6D, 30, 45, 13)).value == "13:45:30"
    assert one((0x02, 0x6C, 0, 0)).value == "invalid"
    # FD 70: battery change date, type G
    assert one((0x02, 0xFD, 0x70) + g).value == "2024-03-15"


def test_dife_storage_tariff_subunit_across_difes():
    # DIF bit 6 = storage bit 0; DIFE1: subunit 1, tariff 2, storage 0x5; DIFE2: storage 0x3, tariff 1
    r = one((0xC4, 0xE5, 0x13, 0x06, 1, 0, 0, 0))
    assert (r.storage, r.tariff, r.subunit) == (1 | (5 << 1) | (3 << 5), 2 | (1 << 2), 1)
    assert r.dife == bytes((0xE5, 0x13))


def test_functions():
    assert [one((f | 0x01, 0x03, 1)).function for f in (0x00, 0x10, 0x20, 0x30)] == [
        "instantaneous", "maximum", "minimum", "error"]


def test_vife_scaling_and_manufacturer_vifes():
    # 0x83 + VIFE 0x74: Wh x 10^(4-6)
    assert near(one((0x02, 0x83, 0x74, 100, 0)).value, 1.0)
    # 0x83 + VIFE 0x7D: x 1000
    assert one((0x01, 0x83, 0x7D, 2)).value == 2000
    # VIFE 0xFF: manufacturer-specific VIFEs follow and are not interpreted
    r = one((0x01, 0x83, 0xFF, 0xF4, 0x01, 7))
    assert r.value == 7 and r.vife == bytes((0xFF, 0xF4, 0x01))
    # error VIFE (0x15..0x1C) is kept raw, value unchanged
    assert one((0x01, 0x83, 0x18, 9)).value == 9
    # more than 10 VIFEs
    exc = raises(DecodeError, decode_user_data, 0x78, bytes((0x01, 0x83) + (0x80,) * 10 + (0, 1)))
    assert exc.reason == "too many VIFEs"


def test_fb_and_fd_tables():
    r = one((0x01, 0xFB, 0x01, 3))
    assert (r.quantity, r.unit, r.value) == ("energy", "Wh", 3000000)
    r = one((0x02, 0xFD, 0x48, 0x30, 0x75))   # 30000 x 10^(8-9) V
    assert (r.quantity, r.unit) == ("voltage", "V") and near(r.value, 3000.0)
    r = one((0x01, 0xFB, 0x1A, 55))
    assert (r.quantity, r.unit) == ("relative_humidity", "%") and near(r.value, 5.5)
    r = one((0x01, 0xFD, 0x3A, 1))
    assert (r.quantity, r.unit, r.value) == ("dimensionless", "", 1)


def test_plain_text_unknown_and_manufacturer_vif():
    r = one((0x01, 0x7C, 0x03, ord("t"), ord("c"), ord("p"), 42))
    assert (r.quantity, r.unit, r.text, r.value) == ("plain_text", "pct", "pct", 42)
    r = one((0x02, 0x6F, 0x01, 0x02))
    assert (r.quantity, r.unit, r.value) == ("unknown", "", "01 02")
    r = one((0x02, 0x7B, 0x01, 0x02))
    assert (r.quantity, r.value) == ("unknown", "01 02")
    r = one((0x01, 0x7F, 5))
    assert (r.quantity, r.unit, r.value) == ("manufacturer_specific", "", 5)


def test_filler_and_manufacturer_data():
    t = decode_user_data(0x78, bytes((0x2F, 0x01, 0x03, 1, 0x2F, 0x0F, 0xAA, 0x2F, 0x01)))
    assert len(t.records) == 2 and not t.more_follow
    assert (t.records[1].function, t.records[1].value) == ("manufacturer_specific", "AA 2F 01")
    t = decode_user_data(0x78, bytes((0x01, 0x03, 1, 0x1F)))
    assert t.more_follow and t.records[1].function == "more_records_follow"
    assert t.records[1].value == ""


def test_application_error_frames():
    t = decode_frame(bytes((0x68, 0x03, 0x03, 0x68, 0x08, 0x01, 0x70, 0x79, 0x16)))
    assert t.app_error == 0 and app_error_text(t.app_error) == "unspecified error"
    t = decode_frame(frame.build_long(0x08, 1, 0x70, b"\x08"))
    assert t.app_error == 8 and app_error_text(8) == "application busy"


def test_malformed_input_raises_decode_error():
    cases = (
        (0x72, bytes(11), "header too short"),
        (0x7A, bytes(3), "header too short"),
        (0x78, bytes((0x04, 0x13, 1, 2)), "premature end of data"),
        (0x78, bytes((0x84,)), "premature end at DIFE"),
        (0x78, bytes((0x04,)), "premature end at VIF"),
        (0x78, bytes((0x84,) + (0x80,) * 10 + (0x00, 0x13, 0, 0, 0, 0)), "too many DIFEs"),
        (0x78, bytes((0x01, 0x7C, 0xC0)), "plain-text VIF too long"),
        (0x78, bytes((0x01, 0x7C, 0x05, 0x41)), "premature end at plain-text VIF"),
        (0x78, bytes((0x3F,)), "reserved DIF"),
        (0x71, b"", "unsupported CI"),
        (0x73, bytes(10), "fixed data length"),
    )
    for ci, data, reason in cases:
        exc = raises(DecodeError, decode_user_data, ci, data)
        assert exc.reason == reason, (ci, data, exc.reason)
        assert isinstance(exc, MBusError)


def test_master_to_slave_frame_rejected():
    exc = raises(DecodeError, decode_frame, frame.build_long(frame.SND_UD, 1, 0x51, b"\x01\x7a\x08"))
    assert exc.reason == "not a slave response"
    assert raises(DecodeError, decode_frame, frame.build_short(0x5B, 1)).reason == "not a long frame"


def test_as_dict_for_the_tool():
    t = decode_user_data(0x78, bytes((0x01, 0x03, 1)))
    assert t.as_dict()["records"] == [{"function": "instantaneous", "storage": 0, "tariff": 0,
                                       "subunit": 0, "quantity": "energy", "unit": "Wh",
                                       "value": 1}]


def test_every_quantity_and_unit_is_documented():
    from support import REPO
    from mbus import vif
    with open(REPO + "/docs/mbus.md") as f:
        doc = f.read()
    for name in vif.QUANTITIES + ("plain_text", "manufacturer_specific"):
        if name not in ("extension_fb", "extension_fd"):   # replaced by the table entry
            assert "`%s`" % name in doc, name
    for unit in vif.UNITS:
        assert "`%s`" % unit in doc or (unit == "" and '`""`' in doc), unit
    # (QUANTITIES and UNITS include those of the fixed structure's table)


def test_table_lookup():
    from mbus import vif
    assert vif.lookup(vif.PRIMARY, 0x06) == ("energy", "Wh", 1, 3, vif.NUMBER)
    assert vif.lookup(vif.PRIMARY, 0xA2) == ("on_time", "s", 3600, 0, vif.NUMBER)
    assert vif.lookup(vif.FD, 0x33) == ("tariff_duration", "s", 86400, 0, vif.NUMBER)
    assert vif.lookup(vif.FB, 0x09) == ("energy", "J", 1, 9, vif.NUMBER)
    assert vif.lookup(vif.FD, 0x7C)[0] == "unknown"
