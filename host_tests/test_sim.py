# test: cpython-only (starts the simulation: MicroPython processes, ptys, a TCP hub)
# The host simulation as a user runs it: `tools/sim.py --seconds 20 --speed 1440 --out DIR`.
import json
import os
import subprocess
import sys
import time

import support

SIM = os.path.join(support.REPO, "tools", "sim.py")


def run_sim(out, seconds, speed, *extra):
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, SIM, "--seconds", str(seconds), "--speed", str(speed), "--out", out] + list(extra),
        capture_output=True, text=True, timeout=seconds + 60,
    )
    return done, time.monotonic() - started


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def test_sim_runs_for_the_given_seconds_and_leaves_its_outputs():
    out = support.tmpdir("sim")
    done, wall_s = run_sim(out, 20, 1440)
    assert done.returncode == 0, done.stdout + done.stderr
    assert 19 <= wall_s < 40
    for name in ("meter.log", "mep_device.log", "readings.jsonl", "events.jsonl", "telegrams.hex", "summary.json"):
        assert os.path.exists(os.path.join(out, name)), name

    readings = read_jsonl(os.path.join(out, "readings.jsonl"))
    assert len(readings) >= 10
    last = readings[-1]
    # The host board's default grid: about 230 V, 50 Hz, a load drawing current.
    assert 200 < last["vrms"] < 260
    assert 49.5 < last["freq_hz"] < 50.5
    assert last["irms"] > 0
    # At x1440, 20 s of wall time is about 8 simulated hours: energy accumulates.
    assert last["import_wh"] > readings[0]["import_wh"]
    # Calendar time in the readings runs about 1440 times faster than the wall.
    span_s = readings[-1]["t"] - readings[0]["t"]
    assert span_s > 1440 * 10

    summary = json.load(open(os.path.join(out, "summary.json")))
    assert summary["devices"]["meter"]["starts"] == 1, summary  # no crash, no watchdog reset
    assert summary["devices"]["mep_device"]["starts"] == 1, summary

    # Registers persist: a second run continues from the checkpoint of the first.
    done, _ = run_sim(out, 5, 1440)
    assert done.returncode == 0, done.stdout + done.stderr
    again = read_jsonl(os.path.join(out, "readings.jsonl"))[len(readings):]
    assert again and again[0]["import_wh"] >= last["import_wh"]
    support.rmtree(out)


def test_sim_refuses_a_speed_below_one():
    done = subprocess.run([sys.executable, SIM, "--speed", "0"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "--speed" in done.stderr
