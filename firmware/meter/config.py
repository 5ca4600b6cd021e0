# The meter's configuration schema (config.json). Board settings live under "board"
# and are read by the board module; everything else is checked here at boot.

from config import Section, Int, Float, Str, Digits, Bool, List, Optional

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
    # The MEP port (docs/mep.md); the MEP key is "mep" in the key store.
    "mep": Section({
        "enabled": Bool(default=True),
        "frame_timeout_ms": Int(20, 5000, default=250),
        "seq_block": Int(1, 100000, default=64),
        "auth_fail_burst": Int(1, 100, default=5),
        "auth_window_s": Int(1, 3600, default=60),
        "auth_lockout_s": Int(1, 86400, default=30),
        "alert_interval_ms": Int(100, 600000, default=2000),
        "profile_period_s": Int(60, 86400, default=900),
        "profile_depth": Int(4, 10000, default=96),
        "tariff_names": List(Str(min_len=1, max_len=8), min_len=1, max_len=8, default=["day", "night", "peak"]),
        "tariff_prices": List(Float(0.0, 100.0), max_len=8, default=[0.30, 0.20, 0.45]),
        # Host board: a folder where the utility side drops downlink messages (JSON files).
        "inbox_dir": Optional(Str(min_len=1)),
        "status_interval_s": Int(1, 3600, default=10),
    }),
}
