# Host board: the MicroPython unix port (and CPython for tests) with simulated parts.
#
# make_hardware(config) reads these keys of config["board"] (all optional; SCHEMA below
# checks them at boot, so a bad value stops with a message naming it):
#
#   speed            1        calendar clock speed: calendar time runs this many times faster
#   start_s          None     calendar start, epoch seconds (None: the wall clock)
#   start_wall       None     with start_s: the wall time (epoch seconds) at which the calendar read
#                             start_s; it runs on from there at `speed` across restarts, as a
#                             battery-backed real-time clock does (the simulation's calendar)
#   storage_dir      "data"   the power-fail-safe store's directory (created if missing)
#   secret_file      None     the board secret that seals the key store (16 random bytes,
#                             made on first boot); None: <storage_dir>/board.secret
#   unique_id        None     chip id: hex digits -> those bytes, other text -> its bytes;
#                             None: config["meter_id"] as BCD bytes, else b"HOST"
#   mbus_uart        None     wired M-Bus port: "pty:/dev/pts/N", "tcp:127.0.0.1:PORT" or None
#   mep_uart         None     MEP port, the same forms
#   optical_uart     None     optical/info port (SML or DLMS, config optical.protocol), the same forms
#   dlms_uart        None     serial DLMS/HDLC port, the same forms
#   lmn_uart         None     wired LMN port (SML requests from a gateway), the same forms
#   air              None     radio air hub "127.0.0.1:PORT" (None: no radio)
#   watchdog         True     False: no watchdog (debugging)
#   samples          app      run the waveform source: default True for the meter app only
#   rate_hz          4000     sample pairs per real second
#   pairs_per_block  400      pairs per block (100 ms at 4000 Hz)
#   adc_bits         24       24: signed counts around 0 (as an ADS131M02); 12: unsigned
#                             around 2048 (as the RP2040's ADC)
#   v_per_count      None     calibration; None: the defaults below for adc_bits
#   i_per_count      None
#   skew_us          0        the current sampled this long after the voltage (the RP2040's
#                             round robin: 500000 / rate_hz); the metrology corrects it
#   grid             {}       the simulated grid and load, see waveform.GRID_DEFAULTS
#                             (v_rms, i_rms, phase_deg, freq_hz, v_harmonics, i_harmonics,
#                             v_dc_counts, i_dc_counts, noise_counts, load_profile)
#
# and config["watchdog_ms"] (default 8000) from the application's own section.
# ("console" is also under "board" but the application reads it, not the board.)
#
# Exit codes, for the simulation that restarts the process: reset() exits 75, a
# watchdog that was not fed in time 76 (softwdt.py).

import sys
import clock
from hardware import Hardware, wants_samples, open_device_logs
from security import boardsecret
from store.fs import make_dirs
from config import ConfigError, Section, Int, Float, Str, Bool, List, Optional
from micropython import const
from hostuart import HostUART
from hostair import HostAir
from recordingpin import RecordingPin
from softwdt import SoftWatchdog, EXIT_RESET
from waveform import WaveformSource, GRID_DEFAULTS

NAME = "host"

# Buses: the wired M-Bus runs 2400 baud 8E1 (EN 13757-2), the MEP port 9600 8N1.
MBUS_BAUDRATE = const(2400)
MBUS_PARITY = const(0)  # even
MEP_BAUDRATE = const(9600)
OPTICAL_BAUDRATE = const(9600)  # SML push (and DLMS over the optical head, after mode E's switch)
DLMS_BAUDRATE = const(9600)  # HDLC, 8N1
LMN_BAUDRATE = const(9600)  # SML requests from a gateway on a wired LMN

# Calibration defaults, the same as the device boards' front ends so a recording
# from either replays here: 24 bit as boards/esp32 (ADS131M02), 12 bit as boards/rp2.
V_PER_COUNT_24 = 1.432e-4
I_PER_COUNT_24 = 1.788e-5
V_PER_COUNT_12 = 0.2659
I_PER_COUNT_12 = 0.04883

DEFAULT_WATCHDOG_MS = const(8000)


class LinkAddress:
    """A config value naming a host link: "pty:/PATH" or "tcp:HOST:PORT", or with
    with_kind=False a bare "HOST:PORT" (the radio air hub)."""

    def __init__(self, with_kind=True, default=None):
        self.with_kind, self.default = with_kind, default

    def expected(self):
        return '"pty:/PATH" or "tcp:HOST:PORT"' if self.with_kind else '"HOST:PORT"'

    def check(self, value, path):
        text = value if type(value) is str else ""
        if self.with_kind:
            kind, _, text = text.partition(":")
            if kind == "pty" and text.startswith("/"):
                return value
            if kind != "tcp":
                text = ""
        host, _, port = text.rpartition(":")
        if not (host and port.isdigit() and 0 < int(port) < 65536):
            raise ConfigError(path, "must be %s, got %r" % (self.expected(), value))
        return value


_HARMONIC = List(Float(), min_len=3, max_len=3)  # [order, fraction of the fundamental, phase_deg]

# config["board"] on the host board; startup.boot checks it before make_hardware runs.
SCHEMA = {
    "speed": Int(1, 10_000_000, default=1),
    "start_s": Optional(Int(0)),
    "start_wall": Optional(Float()),
    "storage_dir": Str(min_len=1, default="data"),
    "secret_file": Optional(Str(min_len=1)),
    "unique_id": Optional(Str(min_len=1, max_len=32)),
    "mbus_uart": Optional(LinkAddress()),
    "mep_uart": Optional(LinkAddress()),
    "optical_uart": Optional(LinkAddress()),
    "dlms_uart": Optional(LinkAddress()),
    "lmn_uart": Optional(LinkAddress()),
    "air": Optional(LinkAddress(with_kind=False)),
    "watchdog": Bool(default=True),
    "samples": Optional(Bool()),
    "rate_hz": Int(500, 32000, default=4000),
    "pairs_per_block": Int(16, 8000, default=400),
    "adc_bits": Int(choices=(12, 24), default=24),
    "v_per_count": Optional(Float(0.0)),
    "i_per_count": Optional(Float(0.0)),
    "skew_us": Int(0, 10000, default=0),
    "console": Str(choices=("text", "json"), default="text"),
    "grid": Section({
        "v_rms": Float(0.0, 1000.0, default=GRID_DEFAULTS["v_rms"]),
        "i_rms": Float(0.0, 1000.0, default=GRID_DEFAULTS["i_rms"]),
        "phase_deg": Float(-180.0, 180.0, default=GRID_DEFAULTS["phase_deg"]),
        "freq_hz": Float(40.0, 70.0, default=GRID_DEFAULTS["freq_hz"]),
        "v_harmonics": List(_HARMONIC, max_len=20, default=[]),
        "i_harmonics": List(_HARMONIC, max_len=20, default=[]),
        "v_dc_counts": Int(default=0),
        "i_dc_counts": Int(default=0),
        "noise_counts": Optional(Int(0, 1 << 20)),
        "load_profile": Optional(List(Float(0.0, 100.0), min_len=24, max_len=24),
                                 default=list(GRID_DEFAULTS["load_profile"])),
    }),
}


def resetter(exit=None):
    """hw.reset: the process ends with 75 and the simulation starts it again, as a reboot."""

    def reset():
        print("reset: exiting with code %d" % EXIT_RESET)
        (exit or sys.exit)(EXIT_RESET)

    return reset


def unique_id_from(config):
    board = config.get("board") or {}
    text = board.get("unique_id") or config.get("meter_id")
    if not text:
        return b"HOST"
    text = str(text)
    try:
        return bytes.fromhex(text)
    except ValueError:
        return text.encode()


def storage_root(path):
    """The store's directory, created with its parents if missing."""
    make_dirs(path)
    return path


def board_secret(path):
    """The host board's secret: a file standing in for a chip's secure storage, made from
    the OS's random source on first boot, as a factory would fuse it."""
    return boardsecret.stored_in_file(path)


def make_samples(board, cal_clock):
    bits = board.get("adc_bits", 24)
    return WaveformSource(
        cal_clock,
        grid=board.get("grid"),
        rate_hz=board.get("rate_hz", 4000),
        pairs_per_block=board.get("pairs_per_block", 400),
        adc_bits=bits,
        v_per_count=board.get("v_per_count") or (V_PER_COUNT_12 if bits == 12 else V_PER_COUNT_24),
        i_per_count=board.get("i_per_count") or (I_PER_COUNT_12 if bits == 12 else I_PER_COUNT_24),
        skew_us=board.get("skew_us", 0),
    )


def make_uart(spec, baudrate, parity=None):
    """A HostUART on the configured link, or None where the config names none."""
    return HostUART(spec, baudrate=baudrate, parity=parity) if spec else None


def calendar_start_s(board):
    """The calendar now: start_s, run on since start_wall at speed when both are given."""
    start_s = board.get("start_s")
    if start_s is None or board.get("start_wall") is None:
        return start_s
    import time

    return start_s + int((time.time() - board["start_wall"]) * board.get("speed", 1))


def make_hardware(config, exit=None):
    """Build the host board's parts from config; exit replaces sys.exit (tests)."""
    board = config.get("board") or {}
    cal_clock = clock.Clock(speed=board.get("speed", 1), start_s=calendar_start_s(board))
    air = board.get("air")
    root = storage_root(board.get("storage_dir", "data"))
    watchdog = None
    if board.get("watchdog", True):
        watchdog = SoftWatchdog(config.get("watchdog_ms", DEFAULT_WATCHDOG_MS), exit=exit)
    samples = make_samples(board, cal_clock) if wants_samples(config) else None
    led = RecordingPin("metrology led")
    pulser = None
    if samples is not None:
        from metrology.pulse import CountingPulser  # only a meter pulses: other apps keep the heap

        pulser = CountingPulser(led)  # metrology pulses: the recording pin counts them at once
    return Hardware(
        name=NAME,
        unique_id=unique_id_from(config),
        clock=cal_clock,
        samples=samples,
        mbus_uart=make_uart(board.get("mbus_uart"), MBUS_BAUDRATE, MBUS_PARITY),
        mep_uart=make_uart(board.get("mep_uart"), MEP_BAUDRATE),
        optical_uart=make_uart(board.get("optical_uart"), OPTICAL_BAUDRATE),
        dlms_uart=make_uart(board.get("dlms_uart"), DLMS_BAUDRATE),
        lmn_uart=make_uart(board.get("lmn_uart"), LMN_BAUDRATE),
        radio=HostAir(air) if air else None,
        led=led,
        pulser=pulser,
        storage_root=root,
        watchdog=watchdog,
        reset=resetter(exit),
        board_secret=board_secret(board.get("secret_file") or root + "/board.secret"),
        logs=open_device_logs(root, cal_clock),
    )


def make_store_hardware(config=None):
    """The parts provisioning needs (security/onboard.py): clock, store, board secret, device
    logs; no watchdog, ports or sampling, so nothing runs or resets meanwhile."""
    config = config or {}
    board = config.get("board") or {}
    cal_clock = clock.Clock(speed=1)
    root = storage_root(board.get("storage_dir", "data"))
    return Hardware(name=NAME, unique_id=unique_id_from(config), clock=cal_clock, storage_root=root,
                    reset=resetter(), board_secret=board_secret(board.get("secret_file") or root + "/board.secret"),
                    logs=open_device_logs(root, cal_clock))
