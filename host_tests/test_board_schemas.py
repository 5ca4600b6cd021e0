# test: cpython-only (loads the device boards' board.py with stand-in machine/rp2 modules)
# Every board checks its "board" section at boot with its own SCHEMA: defaults fill in,
# and a bad value is named before make_hardware arms the watchdog.
import importlib.util
import json
import sys
import types

import startup
import support
from meter.config import SCHEMA as METER_SCHEMA


class _Part:
    OUT = IN = IRQ_FALLING = 1

    def __init__(self, *args, **kwargs):
        pass


def load_board(name):
    """boards/<name>/board.py as a module of its own, with stand-ins for the chip modules."""
    machine = types.ModuleType("machine")
    for part in ("Pin", "SPI", "UART", "ADC", "WDT"):
        setattr(machine, part, _Part)
    machine.mem32 = {}
    machine.unique_id = lambda: b"\x01"
    machine.reset = lambda: None
    saved = {key: sys.modules.get(key) for key in ("machine", "rp2", "esp32")}
    sys.modules.update(machine=machine, rp2=types.ModuleType("rp2"), esp32=types.ModuleType("esp32"))
    folder = support.REPO + "/boards/" + name
    sys.path.insert(0, folder)
    try:
        spec = importlib.util.spec_from_file_location(name + "_board", folder + "/board.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(folder)
        for key, value in saved.items():
            if value is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = value


def check(board, settings):
    return startup.check_config({"app": "meter", "meter_id": "12345678", "board": settings}, METER_SCHEMA,
                                board.SCHEMA)


def bad_key(board, settings):
    from config import ConfigError

    return support.raises(ConfigError, check, board, settings).key


def test_esp32_board_section():
    board = load_board("esp32")
    assert check(board, {})["board"]["rate_hz"] == 2000
    assert check(board, {"rate_hz": 4000, "i_gain": 64})["board"]["i_gain"] == 64
    assert bad_key(board, {"rate_hz": 3000}) == "board.rate_hz"  # not CLKIN/2/OSR
    assert bad_key(board, {"v_gain": 3}) == "board.v_gain"
    assert bad_key(board, {"led_pin": 40}) == "board.led_pin"
    assert bad_key(board, {"radoi": False}) == "board.radoi"


def test_rp2_board_section():
    board = load_board("rp2")
    assert check(board, {})["board"]["rate_hz"] == 4000
    assert check(board, {"led_pin": None})["board"]["led_pin"] is None
    assert bad_key(board, {"rate_hz": 300000}) == "board.rate_hz"  # the ADC tops out at 500 kS/s
    assert bad_key(board, {"radio": 1}) == "board.radio"
    assert bad_key(board, {"led_pin": "LED"}) == "board.led_pin"


def test_every_board_takes_the_readme_examples():
    with open(support.REPO + "/README.md") as f:
        blocks = [part.split("```", 1)[0] for part in f.read().split("```json\n")[1:]]
    board = load_board("esp32")  # the README's fuller example sets ADS131M02 gains
    for block in blocks:
        startup.check_config(json.loads(block), METER_SCHEMA, board.SCHEMA)


def _with_module(name, **attrs):
    """Put a stand-in module `name` in sys.modules; returns the one it replaced (or None)."""
    saved = sys.modules.get(name)
    module = types.ModuleType(name)
    for key, value in attrs.items():
        setattr(module, key, value)
    sys.modules[name] = module
    return saved


def _restore(name, saved):
    if saved is None:
        sys.modules.pop(name, None)
    else:
        sys.modules[name] = saved


def test_rp2_optical_and_dlms_ports_are_pio_uarts_for_the_meter():
    board = load_board("rp2")
    made = []

    class PioUart:  # the agreed constructor: PioUart(sm_id, tx_pin, rx_pin, baudrate)
        def __init__(self, sm_id, tx_pin, rx_pin, baudrate):
            made.append((sm_id, tx_pin, rx_pin, baudrate))

    saved = _with_module("pio_uart", PioUart=PioUart)
    try:
        meter = check(board, {})
        port = board.make_pio_uart(meter, "optical_uart", board.OPTICAL_SM_ID, board.OPTICAL_TX_PIN,
                                   board.OPTICAL_RX_PIN, board.OPTICAL_BAUDRATE)
        assert isinstance(port, PioUart) and made == [(0, 8, 9, 9600)], made
        off = check(board, {"dlms_uart": False})
        assert board.make_pio_uart(off, "dlms_uart", board.DLMS_SM_ID, 12, 13, 9600) is None, "not fitted: None"
        device = {"app": "mep_device", "board": {}}
        assert board.make_pio_uart(device, "optical_uart", 0, 8, 9, 9600) is None, "only the meter has one"
        assert len(made) == 1
        assert bad_key(board, {"optical_uart": "yes"}) == "board.optical_uart"
    finally:
        _restore("pio_uart", saved)


def test_esp32_confirms_a_full_image_through_the_hardware_object():
    board = load_board("esp32")
    calls = []
    saved = _with_module("otaimage", confirm=lambda: calls.append(1) or True)
    try:
        assert board.confirm_image() is True and calls == [1], "hw.confirm_image calls otaimage.confirm"
    finally:
        _restore("otaimage", saved)


def test_device_boards_build_their_pulse_driver_from_the_meter_config():
    for name, module, cls in (("esp32", "pulse_rmt", "RMTPulser"), ("rp2", "pulse_pio", "PIOPulser")):
        board = load_board(name)
        made = []
        saved = _with_module(module, **{cls: lambda led, width_ms: made.append((led, width_ms)) or "pulser"})
        try:
            assert board.make_pulser({"metrology": {"pulse_width_ms": 50}}, "led") == "pulser"
            assert made == [("led", 50)], (name, made)
        finally:
            _restore(module, saved)


def test_the_shipped_example_configurations_pass_their_boards_checks():
    # The README deploys examples/my-meter.json to an ESP32 and examples/my-device.json to an
    # RP2040; `flash.py build/deploy --app APP` takes firmware/APP/config_default.json.
    from mep_device.config import SCHEMA as DEVICE_SCHEMA

    schemas = {"meter": METER_SCHEMA, "mep_device": DEVICE_SCHEMA}
    cases = [("examples/my-meter.json", "esp32"), ("examples/my-device.json", "rp2"),
             ("firmware/meter/config_default.json", "esp32"), ("firmware/meter/config_default.json", "rp2"),
             ("firmware/mep_device/config_default.json", "rp2"), ("firmware/mep_device/config_default.json", "esp32")]
    for path, name in cases:
        with open(support.REPO + "/" + path) as f:
            raw = json.load(f)
        checked = startup.check_config(raw, schemas[raw["app"]], load_board(name).SCHEMA)
        assert checked["app"] == raw["app"], (path, checked)
    with open(support.REPO + "/README.md") as f:
        readme = f.read()
    for path in ("examples/my-meter.json", "examples/my-device.json"):
        assert "--config " + path in readme, "the README should deploy %s" % path
