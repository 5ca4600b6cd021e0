# Calibration: solving constants from a reference load, the checksummed store and the
# append-only calibration log that never rotates.

import support
import synth
from metrology import calibration as C
from metrology.maths import Calibration


def _measure(cal, v_gain_true=1.0, i_gain_true=1.0, skew_us=0.0):
    # The "true" front end differs from the board's nominal counts by these gains.
    buf = synth.wave(4400, bits=24, v_rms=230.0 / v_gain_true, i_rms=5.0 / i_gain_true, phi_deg=60,
                     skew_us=skew_us)
    got, eng = synth.run_engine(buf, bits=24, period_ms=500, calibration=cal)
    return eng.readings


def test_solve_brings_a_miscalibrated_meter_to_the_reference():
    cal = Calibration()
    r = _measure(cal, 1.02, 0.97, skew_us=300)
    assert abs(r.p_w - 575) > 5
    new = C.solve(r, cal, 230.0, 5.0, ref_pf=0.5)
    r = _measure(new, 1.02, 0.97, skew_us=300)
    assert abs(r.vrms - 230) < 0.05 and abs(r.irms - 5) < 0.002
    assert abs(r.p_w - 575) / 575 < 0.001
    assert abs(new.phase_deg - 300e-6 * 50 * 360) < 0.05
    # The same from the reference power instead of the power factor.
    again = C.solve(_measure(cal, 1.02, 0.97, skew_us=300), cal, 230.0, 5.0, ref_p_w=575.0)
    assert abs(again.phase_deg - new.phase_deg) < 0.01


def test_solve_refuses_nonsense():
    cal = Calibration()
    r = _measure(cal)
    support.raises(C.CalibrationError, C.solve, r, cal, 0.0, 5.0, 1.0)
    support.raises(C.CalibrationError, C.solve, r, cal, 230.0, 5.0)
    support.raises(C.CalibrationError, C.solve, r, cal, 230.0, 5.0, None, 5000.0)
    support.raises(C.CalibrationError, C.solve, r, cal, 480.0, 5.0, 0.5)  # gain 2.0+ is no calibration
    support.raises(C.CalibrationError, C.check, Calibration(1.0, float("nan"), 0.0))


def test_store_logs_every_change_and_survives_a_restart():
    root = support.tmpdir("cal")
    store = C.CalibrationStore(root)
    assert store.version == 0 and store.calibration.v_gain == 1.0
    shared = store.calibration
    store.change(Calibration(1.01, 0.99, 0.5), "tool", 1000)
    store.change(Calibration(1.02, 0.98, 0.25), "mep", 2000)
    assert shared.v_gain == 1.02  # engines holding the object see the change
    again = C.CalibrationStore(root)
    assert again.version == 2 and again.calibration.as_dict() == {"v_gain": 1.02, "i_gain": 0.98, "phase_deg": 0.25}
    entries = again.log.entries()
    assert [e["version"] for e in entries] == [1, 2]
    assert entries[1]["old"]["v_gain"] == 1.01 and entries[1]["source"] == "mep" and entries[1]["t"] == 2000
    # A corrupted constants record is detected (checksum), not used.
    with open(root + "/calibration", "r+b") as f:
        f.seek(14)
        f.write(b"9")
    damaged = C.CalibrationStore(root)
    assert damaged.damaged and damaged.calibration.v_gain == 1.0
    support.rmtree(root)


def test_the_log_refuses_rather_than_rotating():
    root = support.tmpdir("cal")
    saved = C.LOG_SEGMENTS
    C.LOG_SEGMENTS = 2
    try:
        store = C.CalibrationStore(root)
        changes = 0
        try:
            for k in range(100):
                store.change(Calibration(1.0 + k * 1e-4, 1.0, 0.0), "tool", k)
                changes += 1
        except C.CalibrationError as exc:
            assert "full" in str(exc)
        assert 10 < changes < 100 and store.log.refused == 1
        assert store.version == changes  # the refused change was not applied
        entries = C.CalibrationStore(root).log.entries()
        assert len(entries) == changes and entries[0]["version"] == 1  # nothing rotated out
    finally:
        C.LOG_SEGMENTS = saved
    support.rmtree(root)
