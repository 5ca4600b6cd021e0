# The meter application: configuration at boot, metrology maths, energy registers,
# and the whole app running its tasks on the host board.
import io
import math
from array import array

import board
import rt
import store
import support
from log import Log, ConsoleSink
from meter import app
from metrology.maths import Engine
from meter.registers import EnergyRegisters


def sine_block(pairs, rate_hz, freq_hz, v_peak, i_peak, phase_rad, start_pair, v_dc=0, i_dc=0):
    block = array("i", bytes(8 * pairs))
    w = 2 * math.pi * freq_hz / rate_hz
    for k in range(pairs):
        n = start_pair + k
        block[2 * k] = int(round(v_dc + v_peak * math.sin(w * n)))
        block[2 * k + 1] = int(round(i_dc + i_peak * math.sin(w * n - phase_rad)))
    return block


def test_metrology_readings_from_an_ideal_wave_with_dc_offset():
    rate_hz, pairs = 4000, 400
    m = Engine(rate_hz, 4000, 0.01, 0.001, adc_bits=16, wide=1)
    n = 0
    while m.readings.periods < 3:  # the crossing level is settled from the second period on
        # 230 V rms and 5 A rms at 60 degrees lag on a 50 Hz grid, offsets the sums must remove.
        block = sine_block(pairs, rate_hz, 50.0, 230 * 2**0.5 / 0.01, 5 * 2**0.5 / 0.001, math.pi / 3, n, 2048, -300)
        n += pairs
        m.add_block(block)
    r = m.readings
    assert abs(r.vrms - 230) < 0.01
    assert abs(r.irms - 5) < 0.001
    assert abs(r.p_w - 575) < 0.5  # 230 * 5 * cos 60
    assert abs(r.pf - 0.5) < 0.001
    assert abs(r.freq_hz - 50) < 0.01
    assert r.pairs == 4000


def test_registers_carry_the_remainder_and_persist():
    folder = support.tmpdir("reg")
    regs = EnergyRegisters(folder)
    for _ in range(7200):
        regs.add_power(1000.0, 1000)  # 1 kW for 1 s, 7200 times: exactly 2 kWh
    regs.add_power(-360.0, 10_000)  # 1 Wh export
    assert regs.import_wh == 2000
    assert regs.export_wh == 1
    regs.add_power(1.0, 1800_000)  # half a Wh: carried, not lost
    assert regs.import_wh == 2000
    regs.checkpoint()
    again = EnergyRegisters(folder)
    again.add_power(1.0, 1800_000)  # the other half, after a restart
    assert again.import_wh == 2001
    assert again.export_wh == 1
    support.rmtree(folder)


def test_registers_refuse_to_checkpoint_a_smaller_value_or_a_negative_duration():
    folder = support.tmpdir("reg")
    regs = EnergyRegisters(folder)
    regs.add_power(3600.0, 10_000)
    regs.checkpoint()
    support.raises(ValueError, regs.add_power, 100.0, -1)
    regs.import_wh -= 1
    support.raises(ValueError, regs.checkpoint)
    support.rmtree(folder)


def test_a_damaged_copy_costs_at_most_one_checkpoint():
    folder = support.tmpdir("reg")
    regs = EnergyRegisters(folder)
    for wh in (1, 2, 3):
        regs.add_power(3600.0, 1000)  # 1 Wh
        regs.checkpoint()  # generations 1, 2, 3: copy 1 holds 3 Wh, copy 0 holds 2 Wh
    with open(folder + "/registers.1", "r+b") as f:
        f.seek(14)
        f.write(b"\xff")  # a flipped byte in the newest copy
    again = EnergyRegisters(folder)
    assert again.damaged_copies == 1
    assert again.import_wh == 2  # the older copy: one checkpoint lost, not everything
    again.add_power(3600.0, 2000)
    again.checkpoint()  # overwrites the damaged copy with generation 3
    third = EnergyRegisters(folder)
    assert third.damaged_copies == 0 and third.import_wh == 4 and third.generation == 3
    # Both copies unreadable: start from zero, and say so.
    for name in ("/registers.0", "/registers.1"):
        with open(folder + name, "wb") as f:
            f.write(b"garbage")
    lost = EnergyRegisters(folder)
    assert lost.damaged_copies == 2 and lost.import_wh == 0
    support.rmtree(folder)


def test_a_valid_record_with_wrong_contents_counts_as_damaged():
    folder = support.tmpdir("reg")
    store.AtomicRecord(folder + "/registers.0").write_json({"generation": 1, "import_wh": "lots"})
    regs = EnergyRegisters(folder)
    assert regs.damaged_copies == 1 and regs.import_wh == 0
    support.rmtree(folder)


def host_config(folder, **metrology):
    return {
        "app": "meter",
        "meter_id": "12345678",
        "metrology": dict({"period_ms": 200, "checkpoint_s": 10}, **metrology),
        "report": {"interval_s": 1},
        "board": {"storage_dir": folder, "speed": 100, "watchdog": False, "pairs_per_block": 200},
    }


def test_bad_configuration_names_the_key_and_starts_nothing():
    from config import ConfigError
    from startup import check_config
    from meter.config import SCHEMA

    folder = support.tmpdir("cfg")
    config = host_config(folder, period_ms="fast")
    assert support.raises(ConfigError, check_config, config, SCHEMA).key == "metrology.period_ms"
    config = host_config(folder)
    config["meter_idd"] = "1"
    assert support.raises(ConfigError, check_config, config, SCHEMA).key == "meter_idd"
    del config["meter_idd"]
    del config["meter_id"]
    assert support.raises(ConfigError, check_config, config, SCHEMA).key == "meter_id"
    support.rmtree(folder)


def test_meter_tasks_measure_register_and_checkpoint_on_the_host_board():
    folder = support.tmpdir("meter")
    config = host_config(folder)
    hw = board.make_hardware(config)
    from startup import check_config
    from meter.config import SCHEMA

    cfg = check_config(config, SCHEMA)
    out = io.StringIO()
    meter = app.Meter(hw, cfg, Log([ConsoleSink(out)]))
    sup = meter.build()

    async def set_the_clock_back_a_day():
        await rt.sleep_ms(700)
        hw.clock.set_time_s(hw.clock.time_s() - 86400)

    async def run_and_set_clock():
        import asyncio

        setter = asyncio.create_task(set_the_clock_back_a_day())
        await support.run_for(sup, 1500)
        await setter

    support.run(run_and_set_clock())
    r = meter.metrology.readings
    assert meter.periods >= 3
    assert 200 < r.vrms < 260 and 45 < r.freq_hz < 55 and r.p_w > 0
    # 1.5 s at x100 of the power measured, whatever the clock did in between (setting it
    # back a day must not add a day of energy). The simulated load follows the time of
    # day, so the bound follows the power, with half a second to spare.
    assert 0 < meter.registers.import_wh < r.p_w * 2.0 * 100 / 3600
    status = sup.status()
    assert all(s["restarts"] == 0 for s in status.values()), status
    # Stopping checkpointed the registers: a new meter on the same storage resumes them.
    resumed = EnergyRegisters(folder)
    assert resumed.import_wh == meter.registers.import_wh
    support.rmtree(folder)


def test_the_readme_example_configurations_are_valid():
    import json
    from startup import check_config
    from meter.config import SCHEMA

    with open(support.REPO + "/README.md") as f:
        text = f.read()
    blocks = [part.split("```", 1)[0] for part in text.split("```json\n")[1:]]
    assert len(blocks) >= 2
    for block in blocks:
        checked = check_config(json.loads(block), SCHEMA)
        assert checked["meter_id"] == "12345678"


def test_a_meter_without_a_front_end_runs_its_other_tasks_and_says_why():
    from startup import check_config
    from meter.config import SCHEMA

    folder = support.tmpdir("nofe")
    config = host_config(folder)
    config["board"]["samples"] = False
    cfg = check_config(config, SCHEMA)
    hw = board.make_hardware(cfg)
    assert hw.samples is None
    out = io.StringIO()
    meter = app.Meter(hw, cfg, Log([ConsoleSink(out)]))
    sup = meter.build()
    assert "no metering front end" in out.getvalue()

    support.run(support.run_for(sup, 300))
    status = sup.status()
    # No DLMS port on this board (no dlms_uart, no TCP wrapper): the DLMS tasks stay out.
    assert sorted(status) == ["admin", "registers", "report"], sorted(status)
    assert all(s["restarts"] == 0 for s in status.values())
    support.rmtree(folder)
