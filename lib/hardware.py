# The hardware contract: what every board's make_hardware() returns to the applications
# (docs/architecture.md lists each part's interface). Every part is an attribute from the
# start; a part a board lacks is None, so applications test `hw.x is None`, never probe.
# Nothing in lib/ or firmware/ imports a board module: what they need from the board
# (storage, the board secret, image confirmation, the device logs) comes through here.


class Hardware:
    def __init__(self, name, unique_id, clock, storage_root, reset, samples=None, mbus_uart=None, mep_uart=None,
                 optical_uart=None, dlms_uart=None, lmn_uart=None, radio=None, led=None, pulser=None, watchdog=None,
                 board_secret=None, confirm_image=None, logs=None):
        self.name = name  # "esp32", "rp2" or "host"
        self.unique_id = unique_id  # bytes
        self.clock = clock  # clock.Clock: calendar time
        self.storage_root = storage_root  # folder of the power-fail-safe store
        self.reset = reset  # reboot
        self.samples = samples  # voltage/current sample source
        self.mbus_uart = mbus_uart  # wired M-Bus master port
        self.mep_uart = mep_uart  # MEP port
        self.optical_uart = optical_uart  # optical/info port (one protocol: config optical.protocol)
        self.dlms_uart = dlms_uart  # serial DLMS/HDLC port
        self.lmn_uart = lmn_uart  # wired LMN port: SML requests from a gateway
        self.radio = radio  # wireless M-Bus radio
        self.led = led  # metrology pulse LED
        self.pulser = pulser  # metrology pulse driver timed by the board (PIO, RMT, counting pin)
        self.watchdog = watchdog  # feed()
        # 16 bytes that seal the key store (security/keystore.py), from the board's own
        # secret storage; None where the board has none yet (then no keys can be kept).
        self.board_secret = board_secret
        # confirm_image(): tell the bootloader a full-image update is good (ESP32 rollback).
        self.confirm_image = confirm_image
        # The device logs (security.logs.Logs: system, consumer, calibration), one writer
        # each for the whole application: opened by make_hardware (open_device_logs below).
        self.logs = logs


def wants_samples(config):
    """Only a meter has a metering front end, unless the board section says otherwise."""
    return wants_part(config, "samples")


def wants_part(config, key):
    """A part the meter uses and other applications leave off: the board section's `key`
    (true/false) decides, absent or null: only for the meter."""
    choice = (config.get("board") or {}).get(key)  # None: absent, or null in the config
    return config.get("app") == "meter" if choice is None else choice


def open_device_logs(storage_root, clock):
    """The device logs on a board's store (security/logs.py), opened once per boot."""
    from security.logs import Logs  # not at the top: boot order (config checked first)

    return Logs(storage_root, clock)
