# test: cpython-only (kills MicroPython unix-port meter processes)
# Power failure at random instants: the meter (host board, MicroPython) runs a
# simulated load and is killed with SIGKILL, again and again on the same store. The
# registers never go backwards and never lose more than the documented bound: the
# energy of one checkpoint interval plus one measurement period (docs/metrology.md).
import json
import os
import random
import signal
import subprocess
import sys
import time
import support
from meter.registers import EnergyRegisters

MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")
MAIN = os.path.join(support.REPO, "boards", "host", "main.py")
SPEED = 100
CHECKPOINT_S = 10  # calendar seconds: 0.1 s of real time at SPEED
PERIOD_MS = 200  # real milliseconds: 20 calendar seconds at SPEED
RUNS = 14


def _config(folder):
    config = {
        "app": "meter",
        "meter_id": "12345678",
        "metrology": {"checkpoint_s": CHECKPOINT_S, "period_ms": PERIOD_MS},
        "report": {"interval_s": 1},
        "board": {"speed": SPEED, "storage_dir": folder + "/store", "watchdog": False, "console": "json",
                  "grid": {"load_profile": None, "i_rms": 20.0, "phase_deg": 20.0}},
    }
    path = folder + "/config.json"
    with open(path, "w") as f:
        json.dump(config, f)
    return path


def _last_import(path):
    last = None
    with open(path) as f:
        for line in f:
            if line.startswith("{") and '"reading"' in line:
                try:
                    last = json.loads(line)["import_wh"]
                except ValueError:
                    pass  # the line the kill cut short
    return last


def test_registers_survive_random_kills_within_the_bound():
    if not os.path.exists(MICROPYTHON):
        support.skip("no MicroPython unix port in the venv")
    folder = support.tmpdir("kill")
    config = _config(folder)
    rng = random.Random(5)
    power_w = 230 * 20.0 * 1.0  # above the real P (cos 20 deg): a safe bound
    period_calendar_s = PERIOD_MS / 1000 * SPEED * 1.1  # whole cycles make a period a little longer
    bound_wh = power_w * (CHECKPOINT_S + period_calendar_s) / 3600 + 1
    recovered = 0
    grew = 0
    for run in range(RUNS):
        out_path = "%s/out%d.txt" % (folder, run)
        with open(out_path, "w") as out:
            proc = subprocess.Popen([MICROPYTHON, "-X", "heapsize=512K", MAIN, "--config", config], stdout=out,
                                    stderr=subprocess.STDOUT)
            time.sleep(rng.uniform(0.4, 2.2))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        seen = _last_import(out_path)
        regs = EnergyRegisters(folder + "/store")
        assert regs.damaged_copies == 0
        assert regs.import_wh >= recovered, "registers went backwards"
        if regs.import_wh > recovered:
            grew += 1
        if seen is not None:
            assert seen - regs.import_wh <= bound_wh, (seen, regs.import_wh, bound_wh)
            assert regs.import_wh >= recovered
        recovered = regs.import_wh
    assert grew >= RUNS // 2  # the meter did register between kills
    support.rmtree(folder)
