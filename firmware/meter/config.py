# The meter's configuration schema (config.json). Board settings live under "board"
# and are read by the board module; everything else is checked here at boot.

from config import Section, Int, Float, Str, Digits, List

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
            # Starting current and no-load (creep) rule: energy only from start_ma up, and
            # P (Q) only when its magnitude reaches creep_w (creep_var). docs/metrology.md
            "start_ma": Int(0, 100000, default=20),
            "creep_w": Float(0.0, 1000.0, default=1.0),
            "creep_var": Float(0.0, 1000.0, default=1.0),
            # Pulse LED: imp/kWh of active energy (import + export) and pulse width.
            "pulse_imp_per_kwh": Int(1, 100000, default=1000),
            "pulse_width_ms": Int(2, 500, default=30),
            # Tariffs: how many, and the daily time-of-use schedule of switch points
            # [minute_of_day (UTC), tariff index]; empty: tariff 0 unless commanded.
            "tariffs": Int(1, 8, default=1),
            "tou": List(List(Int(0, 1439), min_len=2, max_len=2), max_len=48, default=[]),
        }
    ),
    "report": Section({"interval_s": Int(1, 3600, default=10)}),
}
