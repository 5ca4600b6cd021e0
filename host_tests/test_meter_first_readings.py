# What a fresh meter reports first (issue 12, new-user items): no reading before the
# metrology has a valid one (the first was all zeros, the second had freq_hz 0.0), and the
# calibration recorded at first boot holds the constants in use, not the config's 0 ("the
# board's default").

import io

import board
import support
from log import Log, ConsoleSink
from meter import app
from meter.config import SCHEMA
from startup import check_config


def test_a_reading_is_reported_only_once_it_is_valid():
    # Issue 12: the first reading was all zeros and the second had freq_hz 0.0.
    from metrology.maths import Readings

    r = Readings()
    assert not app.reading_valid(r), "no period measured yet: no reading"
    r.periods, r.vrms, r.freq_hz = 1, 230.0, 0.0
    assert not app.reading_valid(r), "a voltage without its frequency yet: no reading"
    r.freq_hz = 50.0
    assert app.reading_valid(r)
    r.periods, r.vrms, r.freq_hz = 1, 0.0, 0.0
    assert app.reading_valid(r), "an outage (no voltage) is a valid reading"
    r.periods, r.vrms, r.freq_hz = 3, 230.0, 0.0
    assert app.reading_valid(r), "after the start-up periods a zero frequency is what was measured"


def test_first_boot_records_the_calibration_constants_in_use():
    folder = support.tmpdir("calrec")
    try:
        config = {"app": "meter", "meter_id": "12345678",
                  "board": {"storage_dir": folder, "watchdog": False, "adc_bits": 24}}
        hw = board.make_hardware(config)
        out = io.StringIO()
        meter = app.Meter(hw, check_config(config, SCHEMA), Log([ConsoleSink(out)]))
        meter.build()
        cal = meter.logs.calibration
        record = cal.records(cal.last_seq - 1, 1)[0][1]
        meter.logs.close()
        assert record["v_per_count"] == hw.samples.v_per_count > 0, record
        assert record["i_per_count"] == hw.samples.i_per_count > 0, record
        assert "'v_per_count': 0.0," not in out.getvalue(), out.getvalue()
    finally:
        support.rmtree(folder)
