# Energy registers: integer accounting with carried remainders, quadrants, tariffs (TOU
# schedule and the MEP override rule), persistence, never backwards, old records.

import rt
import support
from metrology.energy import EnergyAccumulator, MWMS_PER_WH, milli
from metrology.tariff import TariffSchedule
from meter.registers import EnergyRegisters
from store import AtomicRecord

DAY_S = 86400


def test_remainders_carry_so_nothing_is_lost_to_rounding():
    acc = EnergyAccumulator()
    for _ in range(3600):
        acc.add(0.3, 0.0, 1000)  # 0.3 W for an hour in 1 s steps: 0.3 Wh, all in the remainder
    assert acc.import_wh == 0 and acc.rems[0] == MWMS_PER_WH * 3 // 10
    for _ in range(7 * 3600):
        acc.add(0.1, 0.0, 1000)
    assert acc.import_wh == 1 and acc.rems[0] == 0  # 0.3 + 0.7 Wh: exactly one


def test_quadrants():
    acc = EnergyAccumulator()
    for p, q in ((1800.0, 3600.0), (-1800.0, 3600.0), (-1800.0, -3600.0), (1800.0, -3600.0)):
        acc.add(p, q, 3_600_000)  # one hour each
    assert acc.regs == [3600, 3600, 3600, 3600, 3600, 3600]
    support.raises(ValueError, acc.add, 1.0, 0.0, -1)


def test_a_float_power_is_booked_at_the_milliwatt_it_holds():
    # 1234.567 W for an hour in 1 s periods is 1234.567 Wh exactly (1234 Wh and 0.567 Wh,
    # 2,041,200,000 mWms, carried). W x 1000 x ms in float32 rounds each second's
    # 1,234,567,000 mWms to 1,234,567,040 (a 128 mWms grid): 144,000 mWms off in the hour.
    acc = EnergyAccumulator()
    for _ in range(3600):
        acc.add(1234.567, -0.25, 1000)
    assert acc.import_wh == 1234, "expected 1234 Wh, got %d" % acc.import_wh
    assert acc.rems[0] == 2_041_200_000, "expected 2041200000 mWms carried, got %d" % acc.rems[0]
    assert acc.regs[5] == 0 and acc.rems[5] == 250 * 3_600_000, "Q4 carries 0.25 var for an hour, got %r" % (
        acc.rems[5],)


def test_powers_above_float32_precision_stay_exact():
    # 16777.217 W: the float32 holds 16777.216796875, so 16777217 mW (old: x 1000 first,
    # a float32 product above 2**24 whose last mW is gone). 20 kW for a day in 1 s steps.
    assert milli(16777.217) == 16777217 and milli(-16777.217) == -16777217, milli(16777.217)
    assert milli(0.0005) == 1 and milli(-0.0005) == -1 and milli(0.0004) == 0, "halves away from zero"
    assert milli(3) == 3000 and milli(-2) == -2000
    acc = EnergyAccumulator()
    for _ in range(86400):
        acc.add_mw(20_000_001, 0, 1000)
    total_mwms = 20_000_001 * 1000 * 86400
    assert acc.import_wh == total_mwms // MWMS_PER_WH, acc.import_wh
    assert acc.rems[0] == total_mwms % MWMS_PER_WH, acc.rems[0]
    support.raises(TypeError, acc.add, 1.0, 0.0, 0.5)  # durations are integer ms


def test_tariff_registers_add_up_to_the_totals():
    acc = EnergyAccumulator(tariffs=3)
    for k in range(30):
        acc.tariff = k % 3
        acc.add(123.4 if k % 4 else -77.7, 10.0, 600_000)
    assert sum(acc.tariff_import_wh) == acc.import_wh
    assert sum(acc.tariff_export_wh) == acc.export_wh
    support.raises(ValueError, EnergyAccumulator, 0)


def test_tou_schedule_and_the_mep_override_rule():
    # Tariff 1 from 07:00, tariff 0 from 22:00 (UTC).
    sched = TariffSchedule([[1320, 0], [420, 1]], tariffs=2)
    day = 20000 * DAY_S
    assert sched.tariff_at(day + 3 * 3600) == 0  # before 07:00: yesterday's 22:00 point
    assert sched.tariff_at(day + 8 * 3600) == 1
    assert sched.tariff_at(day + 23 * 3600) == 0
    # A command at 08:00 holds until the next switch point (22:00), then the schedule rules.
    sched.set(0, "mep", day + 8 * 3600)
    assert sched.tariff_at(day + 8 * 3600 + 60) == 0 and sched.source == "mep"
    assert sched.tariff_at(day + 21 * 3600 + 3599) == 0
    assert sched.tariff_at(day + 22 * 3600 + 60) == 0 and sched.source == "schedule"
    assert sched.tariff_at(day + DAY_S + 8 * 3600) == 1  # the override did not come back
    support.raises(ValueError, sched.set, 2, "mep", day)
    support.raises(ValueError, TariffSchedule, [[1440, 0]], 2)
    support.raises(ValueError, TariffSchedule, [[10, 5]], 2)
    assert TariffSchedule().tariff_at(day + 5) == 0


def test_the_remembered_slot_gives_the_schedule_at_any_time():
    # tariff_at() keeps the slot it found and its bounds; times jump back and forth over
    # switch points, midnight and days: always the schedule's own answer.
    sched = TariffSchedule([[1320, 0], [420, 1], [720, 2]], tariffs=3)
    base = 1_780_000_000 - 1_780_000_000 % DAY_S
    x = 12345
    for _ in range(400):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        t = base + (x % (3 * DAY_S)) - DAY_S
        for step in (0, 1, 59, 3600):
            assert sched.tariff_at(t + step) == sched.slot(t + step)[1], (t + step, sched.slot(t + step))
    assert TariffSchedule().tariff_at(base) == 0


def test_registers_persist_every_register_and_never_go_backwards():
    folder = support.tmpdir("reg")
    regs = EnergyRegisters(folder, tariffs=2, schedule=TariffSchedule([[0, 0], [720, 1]], 2))
    regs.update_tariff(10 * DAY_S + 13 * 3600)
    assert regs.tariff == 1
    regs.add(1000.0, 500.0, 3_600_000)
    regs.set_tariff(0, "mep", 10 * DAY_S + 13 * 3600)
    regs.add(-200.0, -100.0, 1_800_000)
    regs.add(0.5, 0.0, 1000)  # a remainder to carry
    regs.checkpoint()
    again = EnergyRegisters(folder, tariffs=2)
    assert again.regs == regs.regs and again.rems == regs.rems
    assert again.tariff_import_wh == [0, 1000] and again.tariff_export_wh == [100, 0]
    assert again.as_dict()["q1_varh"] == 500 and again.as_dict()["q3_varh"] == 50
    again.regs[1] -= 1
    support.raises(ValueError, again.checkpoint)
    support.rmtree(folder)


def test_a_record_from_before_quadrants_and_tariffs_still_loads():
    folder = support.tmpdir("reg")
    AtomicRecord(folder + "/registers.1").write_json(
        {"generation": 1, "import_wh": 42, "export_wh": 3, "import_rem_mwms": 5, "export_rem_mwms": 0})
    regs = EnergyRegisters(folder, tariffs=2)
    assert regs.import_wh == 42 and regs.export_wh == 3 and regs.rems[0] == 5
    assert regs.tariff_import_wh == [42, 0] and regs.damaged_copies == 0
    support.rmtree(folder)


def test_damaged_or_invalid_copy_falls_back_to_the_other():
    folder = support.tmpdir("reg")
    regs = EnergyRegisters(folder)
    regs.add(3600.0, 0.0, 3_600_000)
    regs.checkpoint()  # generation 1 -> copy 1
    regs.add(3600.0, 0.0, 3_600_000)
    regs.checkpoint()  # generation 2 -> copy 0
    with open(folder + "/registers.0", "r+b") as f:
        f.seek(12)
        f.write(b"\xff\xff")
    again = EnergyRegisters(folder)
    assert again.import_wh == 3600 and again.damaged_copies == 1
    AtomicRecord(folder + "/registers.0").write_json({"generation": 9, "import_wh": -1, "export_wh": 0,
                                                       "import_rem_mwms": 0, "export_rem_mwms": 0})
    again = EnergyRegisters(folder)
    assert again.import_wh == 3600 and again.damaged_copies == 1
    support.rmtree(folder)


def _heap_or_skip():
    if rt.EMULATED:
        support.skip("needs MicroPython's heap")
    import gc
    import micropython

    return gc, micropython


def test_a_period_of_integer_bookkeeping_allocates_nothing():
    # Registers (integer mW), pulses and the tariff of a period: no long int, no float.
    # On a 32-bit port the old code made long ints here (W x 1000 x ms products, 3.6e9
    # mWms per Wh, pulses in mWms) on every period.
    gc, micropython = _heap_or_skip()
    from metrology.pulse import PulseLogic

    acc = EnergyAccumulator(tariffs=2)
    acc.regs[0] = 12_345_678  # a meter some years in
    sched = TariffSchedule([[1320, 0], [420, 1]], tariffs=2)
    start_s = 1_780_000_000 - 1_780_000_000 % DAY_S + 8 * 3600  # 08:00: tariff 1 until 22:00
    times = [start_s + k for k in range(60)]  # made before the heap is locked
    powers = [(k * 7919) % 23_000_000 - 3_000_000 for k in range(60)]  # mW, both directions
    logic = PulseLogic(1000, acc)
    sched.tariff_at(start_s)
    pulses = 0
    gc.collect()
    micropython.heap_lock()  # any allocation raises MemoryError
    try:
        for k in range(60):
            acc.tariff = sched.tariff_at(times[k])
            acc.add_mw(powers[k], -powers[k] // 3, 1000)
            pulses += logic.due(acc)
    finally:
        micropython.heap_unlock()
    assert acc.tariff == 1 and pulses == acc.import_wh + acc.export_wh - 12_345_678, (acc.tariff, pulses)


def test_a_metrology_period_allocates_no_more_than_documented():
    # docs/metrology.md: a period allocates about 1.7 KB on a 32-bit port (1760 B measured;
    # the old code 2460 B), all of it floats: the readings' arithmetic and the two mW
    # conversions; no long ints. Bound: 118 GC blocks (16 B on 32-bit ports, 32 B on 64-bit).
    gc, micropython = _heap_or_skip()
    import sys
    import clock
    import synth
    from meter.metrology import Metrology

    block_bytes = 32 if sys.maxsize > 1 << 32 else 16
    regs = EnergyRegisters(support.tmpdir("alloc"), tariffs=2, schedule=TariffSchedule([[1320, 0], [420, 1]], 2))
    vpc, ipc = synth.scales(24)
    met = Metrology(4000, 4000, vpc, ipc, regs, adc_bits=24, clock=clock.Clock(start_s=1_780_000_000))
    buf = synth.wave(4000, bits=24, i_rms=7.3, phi_deg=20)
    views = [memoryview(buf)[800 * k:800 * (k + 1)] for k in range(10)]  # blocks of 400 pairs
    for _ in range(2):  # settle: frequency, crossing level
        for k in range(10):
            met.add_block(views[k], 400)
    periods = met.periods
    gc.collect()
    gc.disable()
    try:
        before = gc.mem_alloc()
        for _ in range(4):
            for k in range(10):
                met.add_block(views[k], 400)
        allocated = gc.mem_alloc() - before
    finally:
        gc.enable()
    assert met.periods - periods == 4, (periods, met.periods)
    per_period = allocated // 4
    assert per_period <= 118 * block_bytes, "a period allocated %d bytes, documented <= %d" % (
        per_period, 118 * block_bytes)
    print("metrology period: %d bytes allocated (%d-byte GC blocks)" % (per_period, block_bytes))
