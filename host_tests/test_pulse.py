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
    logic = PulseLogic(1000, energy_mwms=5 * MWMS_PER_WH + 7)
    assert logic.due(5 * MWMS_PER_WH + 8) == 0
    assert logic.due(8 * MWMS_PER_WH) == 3
    assert logic.due(8 * MWMS_PER_WH) == 0
    support.raises(ValueError, PulseLogic, 0)


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
