# The MEP device's configuration schema (config.json); "board" belongs to the board module.

from config import Section, Int, Str
from ota.settings import SECTION as OTA_SECTION

SCHEMA = {
    "app": Str(choices=("mep_device",)),
    "log_level": Str(choices=("debug", "info", "warn", "error"), default="info"),
    "watchdog_ms": Int(1000, 60000, default=8000),
    "report": Section({"interval_s": Int(1, 3600, default=10)}),
    "ota": OTA_SECTION,  # updates (lib/ota, docs/ota.md)
}
