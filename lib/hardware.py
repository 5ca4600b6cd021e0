# The hardware contract: what every board's make_hardware() returns to the applications
# (docs/architecture.md lists each part's interface). A part a board lacks is None.


class Hardware:
    def __init__(self, name, unique_id, clock, samples, mbus_uart, mep_uart, radio, led, storage_root, watchdog,
                 reset, board_secret=None):
        self.name = name  # "esp32", "rp2" or "host"
        self.unique_id = unique_id  # bytes
        self.clock = clock  # clock.Clock: calendar time
        self.samples = samples  # voltage/current sample source
        self.mbus_uart = mbus_uart
        self.mep_uart = mep_uart
        self.radio = radio
        self.led = led  # metrology pulse LED
        self.storage_root = storage_root  # folder of the power-fail-safe store
        self.watchdog = watchdog  # feed()
        self.reset = reset  # reboot
        # 16 bytes that seal the key store (security/keystore.py), from the board's own
        # secret storage; None where the board has none yet (then no keys can be kept).
        self.board_secret = board_secret


def wants_samples(config):
    """Only a meter has a metering front end, unless the board section says otherwise."""
    choice = (config.get("board") or {}).get("samples")  # None: absent, or null in the config
    return config.get("app") == "meter" if choice is None else choice
