# The configuration checker: defaults, and errors that name the full key path.
import config
from config import ConfigError, Int, Float, Str, Bool, Section, List, Hex, Digits, validate
import support

SCHEMA = {
    "metrology": {
        "period_ms": Int(100, 60000, default=1000),
        "voltage_gain": Float(0.5, 2.0, default=1.0),
    },
    "lmn": {
        "key": Hex(16),
        "mode": Str(choices=("T1", "C1"), default="C1"),
        "enabled": Bool(default=True),
    },
    "mbus": Section({
        "devices": List({"address": Int(0, 250), "id": Digits(8)}, max_len=4, default=[]),
    }),
    "name": Str(min_len=1, max_len=16, default="meter"),
}

_KEY_HEX = "000102030405060708090a0b0c0d0e0F"


def minimal():
    return {"lmn": {"key": _KEY_HEX}}


def error_of(data, schema=SCHEMA):
    return support.raises(ConfigError, validate, data, schema)


def test_defaults_are_filled_in():
    checked = validate(minimal(), SCHEMA)
    assert checked == {
        "metrology": {"period_ms": 1000, "voltage_gain": 1.0},
        "lmn": {"key": bytes(range(16)), "mode": "C1", "enabled": True},
        "mbus": {"devices": []},
        "name": "meter",
    }


def test_given_values_are_kept():
    data = minimal()
    data["metrology"] = {"period_ms": 250, "voltage_gain": 1}
    data["mbus"] = {"devices": [{"address": 5, "id": "00012345"}]}
    checked = validate(data, SCHEMA)
    assert checked["metrology"] == {"period_ms": 250, "voltage_gain": 1.0}
    assert type(checked["metrology"]["voltage_gain"]) is float
    assert checked["mbus"]["devices"] == [{"address": 5, "id": "00012345"}]


def test_defaults_are_not_shared_between_results():
    first = validate(minimal(), SCHEMA)
    first["mbus"]["devices"].append("x")
    assert validate(minimal(), SCHEMA)["mbus"]["devices"] == []


def test_error_names_the_dotted_key_and_the_value():
    data = minimal()
    data["metrology"] = {"period_ms": "fast"}
    exc = error_of(data)
    assert exc.key == "metrology.period_ms"
    assert str(exc) == 'config: metrology.period_ms: must be an integer from 100 to 60000, got "fast"'


def test_out_of_range():
    data = minimal()
    data["metrology"] = {"period_ms": 99}
    assert "got 99" in str(error_of(data))
    data["metrology"] = {"voltage_gain": 2.5}
    exc = error_of(data)
    assert exc.key == "metrology.voltage_gain"
    assert "a number from 0.5 to 2.0" in str(exc)


def test_bool_is_not_an_int_and_int_is_not_a_bool():
    data = minimal()
    data["metrology"] = {"period_ms": True}
    assert str(error_of(data)).endswith("got true")
    data["metrology"] = {"voltage_gain": False}
    assert error_of(data).key == "metrology.voltage_gain"
    data = minimal()
    data["lmn"]["enabled"] = 1
    exc = error_of(data)
    assert str(exc) == "config: lmn.enabled: must be true or false, got 1"


def test_float_is_not_an_int_and_infinity_is_not_a_number():
    exc = error_of({"n": 100.0}, {"n": Int()})
    assert str(exc) == "config: n: must be an integer, got 100.0"
    error_of({"x": float("inf")}, {"x": Float()})
    error_of({"x": float("nan")}, {"x": Float()})
    assert validate({"x": -3}, {"x": Float()}) == {"x": -3.0}


def test_open_ranges_are_described():
    assert "an integer >= 0" in str(error_of({"n": -1}, {"n": Int(min=0)}))
    assert "an integer <= 9" in str(error_of({"n": 10}, {"n": Int(max=9)}))


def test_list_index_in_the_path():
    data = minimal()
    good = {"address": 1, "id": "12345678"}
    data["mbus"] = {"devices": [good, good, {"address": 251, "id": "12345678"}]}
    exc = error_of(data)
    assert exc.key == "mbus.devices[2].address"
    assert str(exc).startswith("config: mbus.devices[2].address: must be an integer from 0 to 250")
    data["mbus"] = {"devices": [good, {"address": 1}]}
    exc = error_of(data)
    assert exc.key == "mbus.devices[1].id"
    assert "missing" in str(exc)


def test_list_length_and_type():
    data = minimal()
    data["mbus"] = {"devices": [{"address": 1, "id": "12345678"}] * 5}
    exc = error_of(data)
    assert exc.key == "mbus.devices"
    assert "a list of 0 to 4 items" in str(exc)
    data["mbus"] = {"devices": {"address": 1}}
    assert error_of(data).key == "mbus.devices"
    assert validate({"l": [1, 2]}, {"l": List(Int(), min_len=1)}) == {"l": [1, 2]}
    assert "at least 1 items" in str(error_of({"l": []}, {"l": List(Int(), min_len=1)}))


def test_unknown_key_is_named():
    data = minimal()
    data["metrology"] = {"perod_ms": 500}
    exc = error_of(data)
    assert exc.key == "metrology.perod_ms"
    assert "unknown key" in str(exc)
    assert "period_ms" in str(exc)  # the expected keys help spot the typo
    exc = error_of({"lmn": {"key": _KEY_HEX}, "extra": 1})
    assert exc.key == "extra"


def test_missing_required_key_is_named():
    exc = error_of({})
    assert exc.key == "lmn.key"
    assert str(exc) == "config: lmn.key: missing: must be a string of 32 hex digits"


def test_wrong_container_types():
    exc = error_of({"lmn": [1]})
    assert exc.key == "lmn"
    assert str(exc) == "config: lmn: must be an object, got [1]"
    exc = error_of([1, 2])
    assert exc.key == ""
    assert str(exc) == "config: must be an object, got [1, 2]"


def test_strings():
    data = minimal()
    data["lmn"]["mode"] = "S1"
    assert str(error_of(data)) == 'config: lmn.mode: must be one of "T1", "C1", got "S1"'
    data = minimal()
    data["name"] = ""
    assert "a string of 1 to 16 characters" in str(error_of(data))
    data["name"] = 7
    assert error_of(data).key == "name"
    word = {"w": Str(chars="abc", max_len=3)}
    assert validate({"w": "cab"}, word) == {"w": "cab"}
    assert 'from "abc"' in str(error_of({"w": "cad"}, word))


def test_long_values_are_shortened_in_messages():
    exc = error_of({"w": "x" * 60}, {"w": Str(max_len=3)})
    assert str(exc).endswith("x...")
    assert len(str(exc)) < 120


def test_digits_and_hex():
    ids = {"id": Digits(8)}
    assert validate({"id": "00000001"}, ids) == {"id": "00000001"}
    assert str(error_of({"id": 12345678}, ids)) == (
        "config: id: must be a string of 8 decimal digits, got 12345678")
    error_of({"id": "1234567"}, ids)
    error_of({"id": "1234567a"}, ids)
    keys = {"k": Hex(2)}
    assert validate({"k": "aB01"}, keys) == {"k": b"\xab\x01"}
    error_of({"k": "ab0"}, keys)
    assert error_of({"k": "ab0g"}, keys).key == "k"


def test_section_options():
    required = {"s": Section({"a": Int(default=1)}, default=config.REQUIRED)}
    assert "missing" in str(error_of({}, required))
    given = {"s": Section({"a": Int()}, default={"a": 5})}
    assert validate({}, given) == {"s": {"a": 5}}
    assert validate({}, {"s": Section({"a": Int(default=2)})}) == {"s": {"a": 2}}


def _write(text):
    folder = support.tmpdir("config")
    path = folder + "/config.json"
    with open(path, "w") as file:
        file.write(text)
    return folder, path


def test_load_reads_and_validates():
    folder, path = _write('{"lmn": {"key": "%s", "mode": "T1"}}' % _KEY_HEX)
    try:
        assert config.load(path, SCHEMA)["lmn"]["mode"] == "T1"
    finally:
        support.rmtree(folder)


def test_load_missing_file_names_it():
    folder = support.tmpdir("config")
    try:
        exc = support.raises(ConfigError, config.load, folder + "/absent.json", SCHEMA)
        assert exc.key == folder + "/absent.json"
        assert str(exc).startswith("config: %s/absent.json: cannot read the file" % folder)
    finally:
        support.rmtree(folder)


def test_load_broken_json_names_the_file():
    folder, path = _write('{"lmn": {"key": ')
    try:
        exc = support.raises(ConfigError, config.load, path, SCHEMA)
        assert exc.key == path
        assert str(exc).startswith("config: %s: not valid JSON" % path)
    finally:
        support.rmtree(folder)


def test_load_reports_schema_errors_by_key():
    folder, path = _write('{"lmn": {"key": "%s", "mode": 1}}' % _KEY_HEX)
    try:
        assert support.raises(ConfigError, config.load, path, SCHEMA).key == "lmn.mode"
    finally:
        support.rmtree(folder)


def test_optional_takes_null_or_the_spec_and_int_choices():
    from config import Optional, Int, validate, ConfigError

    schema = {"air": Optional(Int(1, 9)), "bits": Int(choices=(12, 24), default=24)}
    assert validate({"air": None}, schema) == {"air": None, "bits": 24}
    assert validate({"air": 3, "bits": 12}, schema) == {"air": 3, "bits": 12}
    assert validate({}, schema) == {"air": None, "bits": 24}
    error = support.raises(ConfigError, validate, {"air": 10}, schema)
    assert error.key == "air" and "an integer from 1 to 9 or null" in str(error)
    error = support.raises(ConfigError, validate, {"bits": 16}, schema)
    assert error.key == "bits" and "one of 12, 24" in str(error)
