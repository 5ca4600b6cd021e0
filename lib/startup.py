# What every board does at boot, and what both applications do first: read and
# check the configuration, pick the application it names, then build the hardware
# and open the logger (console plus the power-fail-safe system log).
#
# The configuration is checked before make_hardware() runs, because that arms the
# hardware watchdog: a bad config.json must stop at a clear message, not reboot the
# board every watchdog period.

import config
import log

APPS = ("meter", "mep_device")
EXIT_BAD_CONFIG = 2


def app_module(name):
    """The application package's app module (meter.app or mep_device.app)."""
    if name not in APPS:
        raise config.ConfigError("app", "must be one of %s, got %r" % (", ".join(APPS), name))
    return getattr(__import__(name + ".app"), "app")


def app_schema(name):
    """The application's configuration schema, <app>.config.SCHEMA."""
    return getattr(__import__(name + ".config").config, "SCHEMA")


def release_schema(name):
    """Forget <app>.config once the configuration is checked: its schema objects are needed
    at boot only (about 6 KB of a 32-bit board's heap for the meter). A later boot in the
    same process imports it again."""
    import sys

    sys.modules.pop(name + ".config", None)
    package = sys.modules.get(name)
    try:
        delattr(package, "config")
    except AttributeError:
        pass


def check_config(raw, schema, board_schema=None):
    """Validate the app's settings against `schema` and the "board" section against the
    board's `board_schema` (None: left unchecked, as for a test's own board).

    Returns the checked config (defaults filled in), or raises config.ConfigError.
    """
    if not isinstance(raw, dict):
        raise config.ConfigError("", "must be a JSON object")
    app_part = {}
    for key in raw:
        if key != "board":
            app_part[key] = raw[key]
    checked = config.validate(app_part, schema)
    board = raw.get("board", {})
    if not isinstance(board, dict):
        raise config.ConfigError("board", "must be an object")
    if board_schema is not None:
        board = config.validate({"board": board}, {"board": board_schema})["board"]
    checked["board"] = board
    return checked


def boot(board, config_path):
    """Load config_path, build the board's hardware, run the app; returns the exit code."""
    try:
        raw = config.read_json(config_path)
        name = raw.get("app") if isinstance(raw, dict) else None
        app = app_module(name)
        cfg = check_config(raw, app_schema(name), board.SCHEMA)
    except config.ConfigError as exc:
        print(exc)
        return EXIT_BAD_CONFIG
    release_schema(name)
    return app.main(board.make_hardware(cfg), cfg)


def open_log(hw, cfg):
    """The application's logger: console lines (JSON for the simulation) and, from warnings
    up, the device's system log (hw.logs, security/logs.py: opened by the board, one writer
    per log; a hardware object without device logs logs to the console only)."""
    console_format = cfg["board"].get("console", "text")
    sinks = [log.JsonSink() if console_format == "json" else log.ConsoleSink()]
    if hw.logs is not None:
        from security.logs import SystemLogSink

        sinks.append(SystemLogSink(hw.logs))
    return log.Log(sinks, log.level_from_name(cfg["log_level"]), clock=hw.clock)
