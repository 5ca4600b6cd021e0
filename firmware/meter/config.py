# The meter's configuration schema (config.json). Board settings live under "board"
# and are read by the board module; everything else is checked here at boot.

from config import Section, Int, Float, Str, Digits, Bool

LEVELS = ("debug", "info", "warn", "error")


class LinkSection(Section):
    """The lmn section: its fields, then the link rules across them (duty cycle, T1 format A)."""

    def check(self, value, path):
        checked = Section.check(self, value, path)
        from meter.lmn import check_config

        check_config(checked)
        return checked

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
    # The wireless M-Bus link (firmware/meter/lmn.py checks the duty cycle at boot).
    "lmn": LinkSection(
        {
            "enabled": Bool(default=True),
            "mode": Int(choices=(5, 7), default=7),  # OMS security mode (7: counter + CMAC)
            "format": Str(choices=("A", "B"), default="A"),  # frame format (T1: A only)
            "radio_mode": Str(choices=("T1", "C1"), default="T1"),
            "interval_s": Int(2, 86400, default=60),
            "jitter_s": Int(0, 3600, default=5),
            "manufacturer": Str(min_len=3, max_len=3, chars="ABCDEFGHIJKLMNOPQRSTUVWXYZ", default="QQQ"),
            "version": Int(0, 255, default=1),
            "ell": Bool(default=True),  # send the short ELL (CI 8C) before the AFL
        }
    ),
}
