# startup: the application's configuration schema is needed at boot only; once the
# configuration is checked it is released (6 KB of a 32-bit board's heap for the meter)
# and a later boot in the same process imports it again.
import sys

import startup


def _raw():
    return {"app": "meter", "meter_id": "12345678", "board": {}}


def test_the_schema_is_released_once_the_config_is_checked_and_comes_back_for_the_next_boot():
    first = startup.check_config(_raw(), startup.app_schema("meter"))
    startup.release_schema("meter")
    assert "meter.config" not in sys.modules, "expected meter.config released after the check"
    assert "config" not in sys.modules["meter"].__dict__, "expected the package to forget its config module"
    again = startup.check_config(_raw(), startup.app_schema("meter"))
    startup.release_schema("meter")
    assert again == first, "expected the same checked configuration from the re-imported schema"
    assert first["metrology"]["period_ms"] == 1000, first["metrology"]
