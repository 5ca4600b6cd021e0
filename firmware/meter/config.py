# The meter's configuration schema (config.json). Board settings live under "board"
# and are read by the board module; everything else is checked here at boot.

from config import Section, Int, Float, Str, Digits
from ota.settings import SECTION as OTA_SECTION

LEVELS = ("debug", "info", "warn", "error")

SCHEMA = {
    "app": Str(choices=("meter",)),
    "meter_id": Digits(8),
    "log_level": Str(choices=LEVELS, default="info"),
    "watchdog_ms": Int(1000, 60000, default=8000),
    "metrology": Section(
        {
            # A measurement period is a whole number of sample blocks of about this length.
            "period_ms": Int(200, 10000, default=1000),
            # Calibration: 0 means the board's default volts and amps per ADC count.
            "v_per_count": Float(0.0, 10.0, default=0.0),
            "i_per_count": Float(0.0, 10.0, default=0.0),
            "checkpoint_s": Int(10, 86400, default=300),
        }
    ),
    "report": Section({"interval_s": Int(1, 3600, default=10)}),
    # Updates (lib/ota, docs/ota.md): update port, trial confirmation and revert.
    "ota": OTA_SECTION,
}
