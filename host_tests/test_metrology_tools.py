# test: cpython-only (subprocesses, hypothesis)
# tools/metrology_check.py (CPython and --micropython give the same JSON) and
# tools/calibrate.py end to end; the CSV parser under hypothesis.
import json
import math
import os
import subprocess
import sys
from hypothesis import given, settings, strategies as st
import support
import synth
import metrology_run

CHECK = os.path.join(support.REPO, "tools", "metrology_check.py")
CALIBRATE = os.path.join(support.REPO, "tools", "calibrate.py")
KEYS = {"vrms", "irms", "p_w", "q_var", "s_va", "pf", "freq_hz", "energy_import_wh", "energy_export_wh"}


def _csv(folder, buf, header=True):
    path = os.path.join(folder, "samples.csv")
    with open(path, "w") as f:
        if header:
            f.write("v,i\n")
        for k in range(len(buf) // 2):
            f.write("%d,%d\n" % (buf[2 * k], buf[2 * k + 1]))
    return path


def _tool(*args):
    done = subprocess.run([sys.executable] + list(args), capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout


def test_check_prints_one_json_object_the_same_under_both_interpreters():
    folder = support.tmpdir("mchk")
    buf = synth.wave(4000 * 4, bits=12, phi_deg=-36.87, v_dc=30, noise=1, freq_hz=50.4)
    path = _csv(folder, buf)
    args = [CHECK, "--csv", path, "--rate", "4000", "--v-scale", "0.2659", "--i-scale", "0.04883"]
    code, out = _tool(*args)
    assert code == 0
    got = json.loads(out)
    assert set(got) == KEYS
    assert abs(got["vrms"] - 230) < 0.3 and abs(got["irms"] - 5) < 0.01
    assert abs(got["p_w"] - 920) / 920 < 0.003 and got["q_var"] < 0 and abs(got["pf"] - 0.8) < 0.002
    assert abs(got["freq_hz"] - 50.4) < 0.01
    assert abs(got["energy_import_wh"] - 920 * 4 / 3600) / (920 * 4 / 3600) < 0.003
    assert got["energy_export_wh"] == 0
    code, out = _tool(*(args + ["--micropython"]))
    assert code == 0
    again = json.loads(out)
    for key in KEYS:
        assert math.isclose(again[key], got[key], rel_tol=1e-9, abs_tol=1e-9), key
    support.rmtree(folder)


def test_check_rejects_bad_input_with_an_error_object():
    folder = support.tmpdir("mchk")
    path = os.path.join(folder, "bad.csv")
    with open(path, "w") as f:
        f.write("v,i\n1,2\n3,x\n")
    code, out = _tool(CHECK, "--csv", path, "--rate", "4000", "--v-scale", "1", "--i-scale", "1")
    assert code == 1 and "line 3" in json.loads(out)["error"]
    with open(path, "w") as f:
        f.write("v,i\n")
    code, out = _tool(CHECK, "--csv", path, "--rate", "4000", "--v-scale", "1", "--i-scale", "1")
    assert code == 1 and "no samples" in json.loads(out)["error"]
    # No voltage, no current: zeros, not a crash.
    with open(path, "w") as f:
        f.write("0,0\n" * 50)
    code, out = _tool(CHECK, "--csv", path, "--rate", "4000", "--v-scale", "1", "--i-scale", "1", "--micropython")
    assert code == 0 and set(json.loads(out).values()) == {0.0}
    support.rmtree(folder)


def test_calibrate_stores_and_logs_the_solved_constants():
    folder = support.tmpdir("mcal")
    # The real front end reads 2 % low on voltage, 3 % high on current.
    buf = synth.wave(4000 * 3, bits=24, v_rms=230 / 1.02, i_rms=5 * 1.03, phi_deg=60.0)
    path = _csv(folder, buf, header=False)
    store = os.path.join(folder, "store")
    base = [CALIBRATE, "--storage", store, "--csv", path, "--rate", "4000", "--v-scale", "1.432e-4",
            "--i-scale", "1.788e-5", "--ref-v", "230", "--ref-i", "5"]
    code, out = _tool(*(base + ["--ref-pf", "0.5"]))
    assert code == 0, out
    got = json.loads(out)
    assert got["version"] == 1
    assert abs(got["new"]["v_gain"] - 1.02) < 1e-3 and abs(got["new"]["i_gain"] - 1 / 1.03) < 1e-3
    assert abs(got["new"]["phase_deg"]) < 0.05
    code, out = _tool(*(base + ["--ref-p-w", "575"]))
    assert code == 0 and json.loads(out)["version"] == 2
    from metrology.calibration import CalibrationStore

    entries = CalibrationStore(store).log.entries()
    assert [e["version"] for e in entries] == [1, 2] and entries[0]["source"] == "tool"
    code, out = _tool(*(base + ["--ref-pf", "0.0"]))
    assert code == 1 and "error" in json.loads(out)
    support.rmtree(folder)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet="0123456789-, x\t", max_size=12), min_size=1, max_size=8))
def test_csv_parser_gives_samples_or_its_own_error(lines):
    folder = support.tmpdir("mcsv")
    path = os.path.join(folder, "f.csv")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    try:
        samples = metrology_run.read_csv(path)
    except metrology_run.CheckError:
        pass
    else:
        assert len(samples) % 2 == 0 and len(samples) > 0
        for value in samples:
            assert -(1 << 23) <= value < (1 << 23)
    support.rmtree(folder)
