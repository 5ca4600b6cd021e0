# The hardware seam stays closed (docs/architecture.md, "The hardware contract"): lib/ and
# firmware/ never import a board module or the chip modules, never probe the hardware object
# with getattr/hasattr, and never read the host board's settings; the boards set every part in
# Hardware(...) instead of attaching one afterwards; the contract, its table in the docs and
# the host board agree.
import os
from support import REPO, tmpdir, rmtree

CHIP_MODULES = ("machine", "esp32", "rp2", "network")
PROBES = ("getattr(hw", "hasattr(hw", "getattr(self.hw", "hasattr(self.hw", "getattr(meter.hw",
          "getattr(log, \"logs\"", "getattr(meter, \"logs\"", "storage_dir")


def _is_dir(path):
    return os.stat(path)[0] & 0x4000 != 0


def _python_files(folder):
    for name in sorted(os.listdir(folder)):
        path = folder + "/" + name
        if _is_dir(path):
            yield from _python_files(path)
        elif name.endswith(".py"):
            yield path


def _code_lines(path):
    """(line number, code without its comment) of a source file."""
    with open(path) as f:
        for number, line in enumerate(f, 1):
            code = line.split("#", 1)[0].strip()
            if code:
                yield number, code


def _board_modules():
    names = set()
    for board in os.listdir(REPO + "/boards"):
        for name in os.listdir(REPO + "/boards/" + board):
            if name.endswith(".py"):
                names.add(name[:-3])
    return names


def _imported(code):
    """The top-level module names an import line names (empty for other lines)."""
    words = code.replace(",", " ").split()
    if words[:1] == ["from"] and len(words) > 1:
        return [words[1].split(".")[0]]
    if words[:1] == ["import"]:
        return [w.split(".")[0] for w in words[1:] if w != "as"]
    return []


def test_lib_and_firmware_import_no_board_module_and_probe_no_part():
    forbidden = _board_modules() | set(CHIP_MODULES)
    assert "board" in forbidden and "otaimage" in forbidden, "the boards' modules were not found"
    found = []
    for top in ("lib", "firmware"):
        for path in _python_files(REPO + "/" + top):
            for number, code in _code_lines(path):
                for name in _imported(code):
                    if name in forbidden:
                        found.append("%s:%d imports %s" % (path[len(REPO) + 1:], number, name))
                for probe in PROBES:
                    if probe in code:
                        found.append("%s:%d probes: %s" % (path[len(REPO) + 1:], number, code))
    assert not found, "the hardware seam leaks (parts come through lib/hardware.py):\n" + "\n".join(found)


def test_boards_attach_no_part_after_construction():
    found = []
    for board in sorted(os.listdir(REPO + "/boards")):
        path = REPO + "/boards/" + board + "/board.py"
        for number, code in _code_lines(path):
            head = code.split("=", 1)[0] if "=" in code and "==" not in code else ""
            if head.startswith("hw.") or head.startswith("hardware."):
                found.append("%s:%d %s" % (path[len(REPO) + 1:], number, code))
    assert not found, "parts must be arguments of Hardware(...), not attached afterwards:\n" + "\n".join(found)


def _documented_parts():
    with open(REPO + "/docs/architecture.md") as f:
        text = f.read()
    table = text.split("## The hardware contract", 1)[1].split("\n## ", 1)[0]
    parts = set()
    for line in table.splitlines():
        if line.startswith("| `"):
            for cell in line.split("|")[1].split(","):
                parts.add(cell.strip().strip("`").split("(")[0])
    return parts


def _contract_parts():
    from hardware import Hardware

    hw = Hardware(name="t", unique_id=b"", clock=None, storage_root="", reset=None)
    return set(hw.__dict__)


def test_every_part_is_declared_and_documented():
    declared, documented = _contract_parts(), _documented_parts()
    assert declared == documented, "lib/hardware.py declares %s, docs/architecture.md lists %s" % (
        sorted(declared), sorted(documented))
    from hardware import Hardware

    hw = Hardware(name="t", unique_id=b"", clock=None, storage_root="", reset=None)
    absent = [name for name in ("samples", "mbus_uart", "mep_uart", "optical_uart", "dlms_uart", "radio", "led",
                                "pulser", "watchdog", "board_secret", "confirm_image", "logs")
              if getattr(hw, name) is not None]
    assert not absent, "optional parts not None by default: %s" % absent


def test_host_board_sets_every_part_at_construction():
    import board

    folder = tmpdir("seam")
    meter = mep_device = None
    try:
        meter = board.make_hardware({"app": "meter", "board": {"storage_dir": folder, "watchdog": False}})
        assert set(meter.__dict__) == _contract_parts(), sorted(meter.__dict__)
        assert meter.pulser is not None and meter.samples is not None, "a meter's host board pulses"
        assert meter.confirm_image is None, "the host board has no bootloader to confirm an image with"
        assert meter.logs is not None and meter.logs.system is not None, "the board opens the device logs"
        assert meter.optical_uart is None and meter.dlms_uart is None, "no port configured: None"
        mep_device = board.make_hardware({"app": "mep_device", "board": {"storage_dir": folder, "watchdog": False}})
        assert mep_device.pulser is None and mep_device.samples is None, "only a meter samples and pulses"
    finally:
        for hw in (meter, mep_device):
            if hw is not None:
                hw.logs.close()
        rmtree(folder)
