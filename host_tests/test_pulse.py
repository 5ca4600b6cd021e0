# The pulse output: pulses counted over a simulated hour equal the register change.

import asyncio
import rt
import support
import synth
from recordingpin import RecordingPin
from metrology.energy import EnergyAccumulator, MWMS_PER_WH
from metrology.pulse import PulseLogic, PinPulser, CountingPulser
from meter.metrology import Metrology


def _hour(imp_per_kwh, i_rms, phi_deg, start_wh=0):
    # One second of samples standing for one hour (each pair for 0.9 s of calendar time).
    acc = EnergyAccumulator()
    acc.regs[0] = start_wh
    pin = RecordingPin()
    vpc, ipc = synth.scales(24)
    met = Metrology(4000, 400, vpc, ipc, acc, {"pulse_imp_per_kwh": imp_per_kwh}, adc_bits=24,
                    calendar_ms_per_pair=900.0, pulses=CountingPulser(pin))
    buf = synth.wave(4000, bits=24, i_rms=i_rms, phi_deg=phi_deg)
    view = memoryview(buf)
    for at in range(0, 4000, 400):
        met.add_block(view[2 * at:2 * at + 800], 400)
    met.finish()
    return acc, pin, start_wh


def test_pulses_over_a_simulated_hour_equal_the_register_change():
    # 1000 imp/kWh: one pulse per Wh, so the count is the register change exactly.
    acc, pin, start = _hour(1000, 8.0, 20.0, start_wh=12345)
    assert acc.import_wh - start > 1500
    assert pin.pulses == acc.import_wh - start
    # 10000 imp/kWh on export: one pulse per 0.1 Wh of the register's own energy.
    acc, pin, _ = _hour(10000, 3.0, 170.0)
    energy_mwms = acc.export_wh * MWMS_PER_WH + acc.rems[1]
    assert pin.pulses == energy_mwms * 10000 // 3_600_000_000_000
    assert abs(pin.pulses / 10 - acc.export_wh) <= 1


def test_pulse_logic_resumes_from_the_registers_without_replaying():
    acc = EnergyAccumulator()
    acc.regs[0] = 5
    acc.set_rem_mwms(0, 7)
    logic = PulseLogic(1000, acc)
    acc.set_rem_mwms(0, 8)
    assert logic.due(acc) == 0
    acc.regs[0] = 8
    acc.set_rem_mwms(0, 0)
    assert logic.due(acc) == 3
    assert logic.due(acc) == 0
    support.raises(ValueError, PulseLogic, 0)


def test_pulse_logic_counts_floor_of_energy_times_k_for_every_k():
    # k dividing 3.6e9 (whole mWs per pulse) and k that do not (7, 51200): the count is
    # always floor(energy_mwms * k / 3.6e12) less the start's, period after period.
    for k in (1, 7, 1000, 1600, 10000, 51200, 100000):
        acc = EnergyAccumulator()
        acc.add_mw(1234567, 0, 999)  # a start inside a quantum
        start = acc.active_mwms() * k // (MWMS_PER_WH * 1000)
        logic = PulseLogic(k, acc)
        issued = 0
        for n in range(60):
            acc.add_mw(-987654 if n % 3 else 3456789, 0, 1000 + n)
            issued += logic.due(acc)
            expected = acc.active_mwms() * k // (MWMS_PER_WH * 1000) - start
            assert issued == expected, (k, n, issued, expected)


def test_pin_pulser_gives_pulses_of_the_configured_width():
    pin = RecordingPin()
    pulser = PinPulser(pin, width_ms=5, max_pending=4)
    pulser.emit(3)
    pulser.emit(3)  # two over the queue's bound: dropped and counted
    assert pulser.dropped == 2

    async def main():
        task = asyncio.create_task(pulser.run())
        await rt.sleep_ms(150)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass

    support.run(main())
    assert pin.pulses == 4 and pulser.emitted == 4 and pulser.pending == 0 and pin.state == 0


def test_the_meter_app_pulses_match_its_registers_over_a_simulated_hour():
    support.needs_host_board()
    import board
    from log import Log, ConsoleSink
    from meter import app
    from startup import check_config
    from meter.config import SCHEMA
    import io

    folder = support.tmpdir("pulse")
    config = {
        "app": "meter",
        "meter_id": "12345678",
        "metrology": {"period_ms": 200, "checkpoint_s": 60, "pulse_imp_per_kwh": 1000, "tariffs": 2,
                      "tou": [[0, 0], [500, 1]]},  # the load starts at 08:00, tariff 1 from 08:20
        "report": {"interval_s": 600},
        # x3600: 1.2 s of samples stand for 72 minutes of a 2.3 kW load.
        "board": {"storage_dir": folder, "speed": 3600, "watchdog": False, "pairs_per_block": 200,
                  "start_s": 1_800_000_000, "grid": {"load_profile": None, "i_rms": 10.0, "phase_deg": 0.0}},
    }
    # The x3600 calendar runs on wall time, so how many periods fall before the 08:20 switch
    # depends on how fast the machine starts the meter. Record the tariff in force at each
    # period instead, and check each tariff's register against the periods booked to it.
    from meter.registers import EnergyRegisters
    update_tariff = EnergyRegisters.update_tariff
    in_force = []

    def recording_update_tariff(self, calendar_s):
        in_force.append(update_tariff(self, calendar_s))
        return in_force[-1]

    EnergyRegisters.update_tariff = recording_update_tariff
    try:
        hw = board.make_hardware(config)
        meter = app.Meter(hw, check_config(config, SCHEMA), Log([ConsoleSink(io.StringIO())]))
        support.run(support.run_for(meter.build(), 1200))
    finally:
        EnergyRegisters.update_tariff = update_tariff
    regs = meter.registers
    assert regs.import_wh > 2000, regs.import_wh  # over an hour's worth of a 2.3 kW load
    assert hw.led.pulses == regs.import_wh and regs.export_wh == 0, (
        "pulses %d for import %d Wh (export %d Wh, tariffs %r)" % (
            hw.led.pulses, regs.import_wh, regs.export_wh, regs.tariff_import_wh))
    assert sum(regs.tariff_import_wh) == regs.import_wh, (
        "tariff registers %r should add up to import %d Wh" % (regs.tariff_import_wh, regs.import_wh))
    # 1.2 s of wall time is 72 calendar minutes from 08:00: tariff 1 (from 08:20) always comes.
    assert 1 in in_force, "tariff 1 never in force; tariffs per period %r" % (in_force,)
    # Every period books ~460 Wh (12 calendar minutes of 2.3 kW): a tariff has energy exactly
    # when some period ran under it.
    booked = [k for k in range(2) if regs.tariff_import_wh[k] > 0]
    assert booked == sorted(set(in_force)), "energy in tariffs %r (%r Wh), periods ran under %r" % (
        booked, regs.tariff_import_wh, in_force)
    support.rmtree(folder)
