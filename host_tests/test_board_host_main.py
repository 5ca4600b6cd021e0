# test: cpython-only (runs the MicroPython unix port as a subprocess)
# boards/host/main.py and the host board's exit codes, as the simulation sees them.
import json
import os
import signal
import subprocess
import sys
import time
import repo_paths
import support

MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")
MAIN = os.path.join(support.REPO, "boards", "host", "main.py")


def upy(args, **kwargs):
    if not os.path.exists(MICROPYTHON):
        support.skip("no MicroPython unix port in the venv")
    return subprocess.run([MICROPYTHON, "-X", "heapsize=512K"] + args, capture_output=True, text=True,
                          timeout=30, **kwargs)


def write_config(folder, config):
    path = os.path.join(folder, "config.json")
    with open(path, "w") as f:
        json.dump(config, f)
    return path


def test_main_needs_a_config_and_a_known_app():
    done = upy([MAIN])
    assert done.returncode == 2 and "usage" in done.stdout
    folder = support.tmpdir("main")
    done = upy([MAIN, "--config", write_config(folder, {"app": "toaster", "board": {"storage_dir": folder}})])
    assert done.returncode == 2 and "config: app: must be one of meter, mep_device" in done.stdout
    support.rmtree(folder)


def test_bad_configuration_stops_with_a_message_naming_the_key_or_file():
    folder = support.tmpdir("main")
    missing = os.path.join(folder, "nope.json")
    cases = [
        (missing, "config: %s: cannot read the file" % missing),
        (write_text(folder, "broken.json", '{"app": "meter",'), "broken.json: not valid JSON"),
        (write_text(folder, "a.json", json.dumps({"app": "meter", "meter_id": "1234"})), "config: meter_id: "),
        (write_text(folder, "b.json", json.dumps({"app": "meter", "meter_id": "12345678",
                                                  "metrology": {"period_ms": 5}})), "config: metrology.period_ms: "),
        (write_text(folder, "c.json", json.dumps({"app": "mep_device", "reprot": {}})), "config: reprot: unknown key"),
    ]
    # The board's own section is checked too, before make_hardware arms the watchdog.
    meter = {"app": "meter", "meter_id": "12345678"}
    for n, (board, message) in enumerate([
        ({"rate_hz": "4000"}, "config: board.rate_hz: must be an integer"),
        ({"speed": 0}, "config: board.speed: must be an integer from 1"),
        ({"adc_bits": 16}, "config: board.adc_bits: must be one of 12, 24"),
        ({"mbus_uart": "pty:dev"}, "config: board.mbus_uart: must be"),
        ({"air": "localhost"}, "config: board.air: must be"),
        ({"grid": {"load_profile": [1.0, 2.0]}}, "config: board.grid.load_profile: must be a list of 24"),
        ({"grid": {"frequency": 50}}, "config: board.grid.frequency: unknown key"),
        ({"storage_dirr": folder}, "config: board.storage_dirr: unknown key"),
    ]):
        cases.append((write_text(folder, "board%d.json" % n, json.dumps(dict(meter, board=board))), message))
    for path, message in cases:
        done = upy([MAIN, "--config", path])
        assert done.returncode == 2, (path, done.stdout, done.stderr)
        assert message in done.stdout, (message, done.stdout)
        assert "Traceback" not in done.stdout + done.stderr
    support.rmtree(folder)


def write_text(folder, name, text):
    path = os.path.join(folder, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def test_main_runs_the_app_until_ctrl_c():
    if not os.path.exists(MICROPYTHON):
        support.skip("no MicroPython unix port in the venv")
    folder = support.tmpdir("main")
    config = {"app": "mep_device", "watchdog_ms": 2000, "report": {"interval_s": 1},
              "board": {"speed": 10, "storage_dir": folder + "/data", "console": "json"}}
    child = subprocess.Popen([MICROPYTHON, "-X", "heapsize=512K", MAIN, "--config", write_config(folder, config)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd="/")
    time.sleep(2.5)  # longer than the watchdog's timeout: the app feeds it
    child.send_signal(signal.SIGINT)
    out, _ = child.communicate(timeout=10)
    assert child.returncode == 0, out
    assert '"kind": "device"' in out
    assert os.path.isdir(folder + "/data")
    support.rmtree(folder)


_STARVE = r"""
import asyncio
import board
hw = board.make_hardware({"watchdog_ms": 200, "board": {"storage_dir": %(folder)r}})

async def main():
    await asyncio.sleep_ms(2000)  # never feeds
    print("not reached")

asyncio.run(main())
"""


def test_watchdog_that_is_never_fed_ends_the_process_with_76():
    folder = support.tmpdir("main")
    done = upy(["-c", _STARVE % {"folder": folder}], env=repo_paths.micropython_env())
    assert done.returncode == 76, done.stdout + done.stderr
    assert "watchdog: not fed" in done.stdout and "not reached" not in done.stdout
    support.rmtree(folder)


def test_reset_ends_the_process_with_75():
    folder = support.tmpdir("main")
    script = "import board\nboard.make_hardware(%r).reset()\n" % {"board": {"storage_dir": folder, "watchdog": False}}
    done = upy(["-c", script], env=repo_paths.micropython_env())
    assert done.returncode == 75 and "reset" in done.stdout
    support.rmtree(folder)


def test_ctrl_c_checkpoints_the_meter_registers_on_the_way_out():
    if not os.path.exists(MICROPYTHON):
        support.skip("no MicroPython unix port in the venv")
    folder = support.tmpdir("main")
    # A checkpoint period longer than the run: only the stop itself can write the registers.
    config = {"app": "meter", "meter_id": "12345678", "metrology": {"checkpoint_s": 86400},
              "report": {"interval_s": 60}, "board": {"speed": 600, "storage_dir": folder + "/data",
                                                      "console": "json"}}
    child = subprocess.Popen([MICROPYTHON, "-X", "heapsize=512K", MAIN, "--config", write_config(folder, config)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd="/")
    time.sleep(3)
    assert not os.path.exists(folder + "/data/registers.1")
    child.send_signal(signal.SIGINT)
    out, _ = child.communicate(timeout=10)
    assert child.returncode == 0, out
    with open(folder + "/data/registers.1", "rb") as f:  # the first checkpoint: generation 1
        body = f.read()
    saved = json.loads(body[12:])  # AtomicRecord: 12-byte header, then the JSON
    assert saved["import_wh"] > 0, saved  # 3 s at x600 of a few hundred watts
    support.rmtree(folder)
