# The calendar never goes backwards across a restart (issue 12 item 9): the registers'
# checkpoint records its calendar time; a meter that starts with its clock behind it (no
# real-time clock, or one that lost power, or the simulation's restart) resumes from the
# checkpoint, marked unsynchronised, and an authenticated set-time forward is accepted
# without the drift rule and marks it synchronised again.

import io

import board
import support
from clock import Clock
from log import Log, ConsoleSink
from meter import app
from meter.registers import EnergyRegisters
from security import commands as C
from security import keys as K
from secfix import T0, Device, provisioned
from startup import check_config
from meter.config import SCHEMA


def test_registers_checkpoint_keeps_its_calendar_time():
    folder = support.tmpdir("cal")
    try:
        regs = EnergyRegisters(folder, clock=Clock(start_s=T0 + 10000))
        regs.checkpoint()
        again = EnergyRegisters(folder, clock=Clock(start_s=T0))
        assert again.saved_s is not None and abs(again.saved_s - (T0 + 10000)) <= 1, (
            "expected the checkpoint's calendar time %d, got %r" % (T0 + 10000, again.saved_s))
    finally:
        support.rmtree(folder)


def test_clock_resumes_only_forward_and_is_unsynchronised_until_set():
    clock = Clock(start_s=T0)
    assert clock.synchronised
    assert not clock.resume_s(T0 - 50), "a clock ahead of the checkpoint must be left alone"
    assert clock.synchronised and clock.time_s() < T0 + 5
    assert clock.resume_s(T0 + 10000)
    assert clock.time_s() >= T0 + 10000 and not clock.synchronised, "expected resumed and unsynchronised"
    clock.set_time_s(T0 + 20000)
    assert clock.synchronised, "an explicit set-time synchronises the clock"


def _meter_config(folder, start_s):
    return {"app": "meter", "meter_id": "12345678", "metrology": {"period_ms": 200, "checkpoint_s": 10},
            # No waveform: the registers' checkpoint is what this is about (and the heap stays small).
            "board": {"storage_dir": folder, "speed": 1, "watchdog": False, "start_s": start_s, "samples": False}}


def test_meter_restarted_with_its_clock_behind_the_checkpoint_resumes_from_it():
    folder = support.tmpdir("calm")
    try:
        first = board.make_hardware(_meter_config(folder, T0 + 10000))
        meter = app.Meter(first, check_config(_meter_config(folder, T0 + 10000), SCHEMA), Log([ConsoleSink(io.StringIO())]))
        meter.registers.checkpoint()  # what a clean stop (the OTA reset) does
        meter.logs.close()
        # Restarted with the calendar 2.8 hours behind (the simulation's restart before the fix).
        config = _meter_config(folder, T0 + 10000 - 10080)
        hw = board.make_hardware(config)
        out = io.StringIO()
        meter = app.Meter(hw, check_config(config, SCHEMA), Log([ConsoleSink(out)]))
        meter.logs.close()
        assert hw.clock.time_s() >= T0 + 10000, "the calendar went back to %d, below the checkpoint %d" % (
            hw.clock.time_s(), T0 + 10000)
        assert not hw.clock.synchronised, "a resumed calendar must be marked unsynchronised"
        assert "resumed from the last checkpoint" in out.getvalue(), out.getvalue()
    finally:
        support.rmtree(folder)


def test_set_time_on_a_resumed_clock_skips_the_drift_rule_but_not_the_past():
    d = support.tmpdir("calset")
    try:
        device, head = provisioned(d)
        frame, counter = head.command(K.ADMIN, C.SET_TIME, T0 + 100000)
        assert head.answer(K.ADMIN, device.commands.handle(frame), counter)[0] == C.OK
        device.close()
        # Restarted behind, resumed from a checkpoint 100 s after the sync; it was down a day.
        again = Device(d, start_s=T0)
        assert again.clock.resume_s(T0 + 100100)
        frame, counter = head.command(K.ADMIN, C.STATUS, T0 + 100100)
        status, payload = head.answer(K.ADMIN, again.commands.handle(frame), counter)
        assert status == C.OK and b'"clock_synchronised": false' in payload, payload
        frame, counter = head.command(K.ADMIN, C.SET_TIME, T0 + 50000)
        assert head.answer(K.ADMIN, again.commands.handle(frame), counter)[1] == b"drift", (
            "a time before the last synchronisation must still be refused")
        frame, counter = head.command(K.ADMIN, C.SET_TIME, T0 + 100100 + 86400)
        status, payload = head.answer(K.ADMIN, again.commands.handle(frame), counter)
        assert status == C.OK, "expected a day's correction accepted on an unsynchronised clock, got %r" % payload
        assert again.clock.synchronised and again.clock.time_s() >= T0 + 100100 + 86400
        again.close()
    finally:
        support.rmtree(d)


@support.cpython_only
def test_admin_tool_says_what_to_do_about_a_stale_refusal():
    import admin

    error = support.raises(admin.AdminError, admin.ok, C.REFUSED, b"stale")
    assert "set-time" in str(error) and "refused: stale" in str(error), (
        "expected the refusal to name set-time as the remedy: %s" % error)

