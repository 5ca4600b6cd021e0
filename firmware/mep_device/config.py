# The MEP device's configuration schema (config.json); "board" belongs to the board module.

from config import Section, Int, Float, Str, List, Optional
from ota.settings import SECTION as OTA_SECTION

SCHEMA = {
    "app": Str(choices=("mep_device",)),
    "log_level": Str(choices=("debug", "info", "warn", "error"), default="info"),
    "watchdog_ms": Int(1000, 60000, default=8000),
    "report": Section({"interval_s": Int(1, 3600, default=10)}),
    "ota": OTA_SECTION,  # updates (lib/ota, docs/ota.md)
    # The link master (docs/mep.md section 12). Times are real (wire) milliseconds.
    "mep": Section({
        "poll_ms": Int(100, 600000, default=1000),
        "timeout_ms": Int(50, 60000, default=1000),
        "retries": Int(0, 10, default=3),
        "backoff_ms": Int(10, 60000, default=200),
        "registers_every": Int(1, 1000, default=10),  # read BT23 every this many polls
        "buffer_depth": Int(1, 64, default=8),  # downlink items kept per sleeping application
    }),
    # The in-home display: console lines, and a web page where the board has a network.
    "display": Section({
        "console_interval_s": Int(1, 3600, default=10),
        "http_port": Optional(Int(1, 65535)),  # null: no web page
        "http_host": Str(min_len=1, default="0.0.0.0"),
    }),
    # The thermostat controller: set point = base + offset of the active tariff.
    "thermostat": Section({
        "base_c": Float(5.0, 30.0, default=21.0),
        "tariff_offsets_c": List(Float(-10.0, 10.0), max_len=8, default=[0.0, -1.0, -3.0]),
        "wake_s": Int(0, 86400, default=0),  # calendar seconds between wake-ups (0: always awake)
    }),
}
