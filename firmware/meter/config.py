# The meter's configuration schema (config.json). Board settings live under "board"
# and are read by the board module; everything else is checked here at boot.

from config import Section, Int, Float, Str, Digits, Bool, List, Optional, ConfigError, REQUIRED
from ota.settings import SECTION as OTA_SECTION

LEVELS = ("debug", "info", "warn", "error")

# -- wired M-Bus master (docs/mbus-master.md) --------------------------------------

MBUS_EVERY = ("hourly", "daily", "weekly", "monthly", "yearly")  # as mbus.schedule.EVERY
MBUS_MEDIA = ("gas", "water", "warm_water", "heat", "cooling", "electricity", "other")


class MBusAddress:
    """A primary address (0-250, or 254 on a bus with this one device) or a secondary
    address as 16 hex digits: ID as printed, manufacturer as its 16-bit value, version,
    medium ("1208205830E24003")."""

    default = REQUIRED

    def expected(self):
        return "a primary address 0-250 or 254, or 16 hex digits"

    def check(self, value, path):
        if type(value) is int:
            if 0 <= value <= 250 or value == 254:
                return value
        elif type(value) is str and len(value) == 16:
            for char in value:
                if char not in "0123456789abcdefABCDEF":
                    break
            else:
                return value.upper()
        raise ConfigError(path, "must be %s, got %r" % (self.expected(), value))


MBUS_SCHEDULE = Section({
    "every": Str(choices=MBUS_EVERY, default="daily"),
    "minute": Int(0, 59, default=0),
    "hour": Int(0, 23, default=0),
    "weekday": Int(0, 6, default=0),  # 0 = Monday
    "day": Int(1, 31, default=1),  # beyond the month's end: its last day
    "month": Int(1, 12, default=1),
})

MBUS = Section({
    "baud": Int(choices=(300, 2400, 9600), default=2400),
    "retries": Int(0, 5, default=2),
    "max_telegrams": Int(1, 15, default=8),
    # Idle line between an answer and the next request; null: 3 characters (33 bit times).
    "turnaround_ms": Optional(Int(0, 2000)),
    # Secondary scan at installation (once; what it finds is kept in the store).
    "discover": Bool(default=False),
    "discover_schedule": MBUS_SCHEDULE,
    "devices": List(Section({
        "address": MBusAddress(),
        "name": Optional(Str(min_len=1, max_len=16)),
        "medium": Str(choices=MBUS_MEDIA, default="other"),
        "schedule": MBUS_SCHEDULE,
        "status_interval_s": Int(0, 7 * 86400, default=3600),  # 0: no status reads
    }), max_len=4, default=[]),
    # Data sets as received, all devices in one ring: segments x segment_bytes on flash.
    "ring_segments": Int(2, 64, default=8),
    "ring_segment_bytes": Int(4096, 65536, default=4096),
})


class LinkSection(Section):
    """The lmn section: its fields, then the link rules across them (duty cycle, T1 format A)."""

    def check(self, value, path):
        checked = Section.check(self, value, path)
        from meter.lmn import check_config

        check_config(checked)
        return checked

# DLMS/COSEM (docs/dlms.md): HDLC on the board's DLMS port, the TCP wrapper where there is
# a network ("HOST:PORT"; the host board on loopback), the profiles' depth in flash.
DLMS = Section({
    "enabled": Bool(default=True),
    "tcp": Optional(Str(min_len=3)),
    "physical_address": Int(16, 0x3FFD, default=17),
    "max_info": Int(32, 512, default=512),
    # Frames the meter sends per HDLC window (the client may ask for fewer). 1 by default:
    # Gurux's Python reader acknowledges every frame, which a longer window turns into resends.
    "window": Int(1, 7, default=1),
    "inactivity_s": Int(10, 3600, default=120),
    "manufacturer": Str(min_len=3, max_len=3, default="QQQ"),
    "optical_mode_e": Bool(default=True),  # on the optical port: the IEC 62056-21 mode E opening first
    "load_profile_days": Int(1, 60, default=10),
    "daily_profile_days": Int(1, 400, default=62),
    "event_log_depth": Int(1, 1000, default=100),
})
DLMS_DEFAULTS = DLMS.check({}, "dlms")

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
    "mbus": MBUS,
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
    # Authenticated commands (firmware/meter/admin.py, docs/security.md).
    "admin": Section({
        "listen": Optional(Str(min_len=3)),  # host board: "HOST:PORT" of the command listener
        "connect_to": Optional(Str(min_len=3)),  # where a wake-up makes the meter connect
        "max_age_s": Int(10, 86400, default=300),  # a command's time may differ this much from the clock
    }),
    # Updates (lib/ota, docs/ota.md): update port, trial confirmation and revert.
    "ota": OTA_SECTION,
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
    # The optical info port: one protocol on it (hw.optical_uart; docs/sml.md, docs/dlms.md).
    "optical": Section({"protocol": Str(choices=("sml", "dlms", "none"), default="sml")}),
    # SML (firmware/meter/sml.py, docs/sml.md): the push and its unlock rule, the LMN requests.
    "sml": Section({
        "push_s": Int(1, 3600, default=1),
        "detail": Str(choices=("pin", "always"), default="pin"),  # pin: withheld until unlocked
        "pin": Optional(Digits(4)),  # the consumer's PIN; null: the details cannot be unlocked
        "unlock_s": Int(10, 86400, default=600),
        "pin_tries": Int(1, 10, default=3),
        "pin_lockout_s": Int(10, 86400, default=900),
        "lmn": Bool(default=True),  # answer requests on the wired LMN port where the board has one
    }),
    "dlms": DLMS,
}
