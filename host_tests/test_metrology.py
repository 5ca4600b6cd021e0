# The metrology hot loop and per-period maths, under both interpreters: kernel choice,
# viper against twin, no allocation under heap_lock, exact integer sums at full scale,
# a representative set of accuracy points, frequency, glitches, skew correction,
# quadrants, starting current and no-load (the full sweep: test_metrology_accuracy.py).

import math
from array import array
import micropython
import rt
import support
import synth
from metrology import kernel as K
from metrology.maths import Engine
from metrology.energy import EnergyAccumulator
from meter.metrology import Metrology

IB_A = 10.0  # basic current of the tests: a 10(60) A meter


def energy_error(got, expected_w):
    """Relative error of the energy over all periods but the first (crossing level unknown)."""
    periods = got[1:]
    energy = sum(g["p_exact"] * g["pairs"] for g in periods)
    pairs = sum(g["pairs"] for g in periods)
    return (energy / pairs - expected_w) / expected_w


def test_kernel_choice_is_explicit():
    if rt.EMULATED:
        assert K.NAME == "twin" and list(K.KERNELS) == ["twin"]
    else:
        assert K.NAME == "viper" and "viper" in K.KERNELS
    before = K.NAME
    K.use("twin")
    assert K.run is K.KERNELS["twin"] and K.NAME == "twin"
    K.use(before)
    support.raises(KeyError, K.use, "fortran")


def _with_kernel(name, function):
    before = K.NAME
    K.use(name)
    try:
        return function()
    finally:
        K.use(before)


def test_viper_kernel_and_twin_agree_bit_for_bit():
    if "viper" not in K.KERNELS:
        support.skip("no viper emitter here (CPython): the twin is the only kernel")
    cases = (
        synth.wave(1999, bits=24, phi_deg=40, v_dc=-7000, i_dc=300, noise=40, freq_hz=47.3),
        synth.wave(1999, bits=12, phi_deg=-30, v_dc=25, i_dc=-3, noise=2, freq_hz=61.1),
        synth.wave(1200, bits=24, v_rms=330, i_rms=140, phi_deg=10),  # clipped at full scale
    )
    for bits, buf in zip((24, 12, 24), cases):
        results = []
        for name in ("twin", "viper"):
            # Odd block lengths, so periods end inside blocks.
            got, eng = _with_kernel(name, lambda: synth.run_engine(buf, bits=bits, period_ms=100, block_pairs=137))
            results.append((got, list(eng.state), list(eng.snap)))
        assert results[0] == results[1]


def test_hot_loop_allocates_nothing():
    if rt.EMULATED:
        support.skip("heap_lock is MicroPython's")
    _with_kernel("twin", lambda: None)  # load the twin too
    for bits in (24, 12):
        buf = synth.wave(800, bits=bits, v_rms=400, i_rms=200, noise=3)  # clipped: extreme counts
        for name in ("viper", "twin"):
            run = K.KERNELS[name]
            eng = Engine(4000, 200, 1e-4, 1e-5, adc_bits=bits, zero_count=2048 if bits == 12 else 0)
            state = eng.state
            wide = eng.wide
            micropython.heap_lock()
            try:
                at = 0
                for _ in range(8):
                    at = 0
                    while at < 800:
                        at = run(buf, at, 800, state, wide)
                        state[K.DONE] = 0
                        state[K.N] = 0
            finally:
                micropython.heap_unlock()
            assert at == 800


def test_sums_are_exact_at_full_scale():
    # Extreme counts of both converters: every sum equals the exact big-integer one.
    for bits, values in ((24, (-(1 << 23), (1 << 23) - 1, 12345, -1, 0)), (12, (0, 4095, 2048, 1, 4094))):
        pairs = 300
        buf = array("i" if bits == 24 else "H", bytes((8 if bits == 24 else 4) * pairs))
        for k in range(2 * pairs):
            buf[k] = values[(k * 7 + k // 5) % len(values)]
        eng = Engine(4000, 100000, 1.0, 1.0, adc_bits=bits, zero_count=2048 if bits == 12 else 0)
        eng.add_block(buf)
        s = eng.state
        zero = 2048 if bits == 12 else 0
        shift = eng.shift
        half = (1 << shift) >> 1
        sv = si = svv = sii = svi = 0
        for k in range(pairs):
            v = (buf[2 * k] - zero + half) >> shift
            i = buf[2 * k + 1] - zero
            sv += v
            si += i
            svv += v * v
            sii += i * i
            svi += v * i
        hi = 1 << K.IL_BITS
        assert K.total(s, K.SV) == sv and K.total(s, K.SI) == si and K.total(s, K.SVV) == svv
        got_sii = (K.total(s, K.SIHH) * hi + 2 * K.total(s, K.SIHL)) * hi + K.total(s, K.SILL)
        assert got_sii == sii
        assert K.total(s, K.SVIH) * hi + K.total(s, K.SVIL) == svi
        for k in range(K.STATE_WORDS):
            assert -(1 << 30) < s[k] < (1 << 30)  # small ints on a 32-bit port


def test_active_energy_accuracy_representative_points():
    # 24 bit: the algorithm's own error under 0.1 % (PF 1) and 0.2 % (PF 0.5 L, 0.8 C).
    for frac, phi, limit in ((0.05, 0.0, 0.001), (0.1, 60.0, 0.002), (1.0, -36.87, 0.002), (6.0, 0.0, 0.001)):
        buf = synth.wave(4400, bits=24, i_rms=IB_A * frac, phi_deg=phi, v_dc=3000, i_dc=-50)
        got, _ = synth.run_engine(buf, bits=24)
        expected = 230 * IB_A * frac * math.cos(math.radians(phi))
        assert abs(energy_error(got, expected)) < limit, (frac, phi, energy_error(got, expected))
        buf = got = None  # free before the next (a 32-bit board's heap holds one at a time)
    # 12 bit, with a count of noise: 0.1 % at Ib.
    buf = synth.wave(4400, bits=12, i_rms=IB_A, v_dc=30, i_dc=-4, noise=1)
    got, _ = synth.run_engine(buf, bits=12)
    assert abs(energy_error(got, 230 * IB_A)) < 0.001


def _periods(total_pairs, period_ms=1000, bits=24, edit=None, **kw):
    got = []
    vpc, ipc = synth.scales(bits)
    eng = Engine(4000, 4 * period_ms, vpc, ipc, adc_bits=bits, zero_count=2048 if bits == 12 else 0,
                 on_period=lambda r: got.append((r.freq_hz, r.cycles, r.glitches)))
    synth.feed(eng, total_pairs, edit=edit, bits=bits, **kw)
    return got


def test_frequency_at_the_range_ends():
    for freq in (45.0, 65.0):
        got = _periods(12400, freq_hz=freq, noise=30)
        assert len(got) >= 3  # the first two: crossing level not yet settled
        for f, cycles, _ in got[2:]:
            assert abs(f - freq) < 0.01, (freq, f)
            assert cycles >= 45


def test_glitch_filter_keeps_the_frequency():
    def spikes(buf, first):
        # Spikes through zero in the negative half cycles (a switching transient).
        for k in range(len(buf) // 2):
            if (first + k) % 173 == 30 and buf[2 * k] < -1_000_000:
                buf[2 * k] = 1_500_000

    got = _periods(12400, edit=spikes, freq_hz=50.0)
    assert len(got) >= 3
    for f, _, _ in got[2:]:
        assert abs(f - 50.0) < 0.01, f
    assert sum(g[2] for g in got) >= 10  # each spike rejected and counted


def test_sampling_skew_is_corrected():
    # RP2040 round robin at 4 kS/s: the current is sampled 125 us after the voltage.
    buf = synth.wave(4400, bits=12, phi_deg=60, skew_us=125, noise=1)
    expected = 230 * 5 * 0.5
    got, _ = synth.run_engine(buf, bits=12, skew_us=125)
    assert abs(energy_error(got, expected)) < 0.003
    got, _ = synth.run_engine(buf, bits=12, skew_us=0)
    assert energy_error(got, expected) > 0.03  # uncorrected: the 2.25 degrees show


def test_quadrants_signs():
    for phi, p_sign, q_sign in ((30, 1, 1), (-30, 1, -1), (150, -1, 1), (-150, -1, -1)):
        buf = synth.wave(2400, bits=24, phi_deg=phi)
        got, _ = synth.run_engine(buf, bits=24)
        g = got[-2]
        assert g["p_exact"] * p_sign > 0 and g["q_exact"] * q_sign > 0, (phi, g)
        assert abs(abs(g["q_exact"]) - 230 * 5 * 0.5) < 1.5
        buf = got = None  # free before the next (a 32-bit board's heap holds one at a time)


def _metrology_energy(total_pairs, bits, seconds_per_pair=None, settings=None, **kw):
    acc = EnergyAccumulator()
    vpc, ipc = synth.scales(bits)
    met = Metrology(4000, 4000, vpc, ipc, acc, settings, adc_bits=bits, zero_count=2048 if bits == 12 else 0,
                    calendar_ms_per_pair=seconds_per_pair and seconds_per_pair * 1000)
    synth.feed(met, total_pairs, bits=bits, **kw)
    met.finish()
    return acc, met


def test_starting_current_registers_and_no_load_does_not():
    # 0.4 % of Ib at PF 1 registers; each pair stands for 1 s so a few seconds of samples
    # make Wh quickly (the maths does not care).
    acc, met = _metrology_energy(12000, 24, seconds_per_pair=1.0, i_rms=0.004 * IB_A, noise=100)
    expected_wh = 230 * 0.04 * 12000 / 3600
    assert abs(acc.exact_wh(0) - expected_wh) / expected_wh < 0.05
    # No current at 115 % voltage, with converter noise: nothing, in all six registers.
    acc, met = _metrology_energy(12000, 24, seconds_per_pair=1.0, v_rms=230 * 1.15, i_rms=0.0, noise=100)
    assert acc.regs == [0] * 6 and acc.rems == [0] * 6
    assert met.idle_periods == met.periods > 0
    acc, met = _metrology_energy(12000, 12, seconds_per_pair=1.0, v_rms=230 * 1.15, i_rms=0.0, noise=1)
    assert acc.regs == [0] * 6 and acc.rems == [0] * 6


def test_export_is_registered_as_export():
    acc, _ = _metrology_energy(12000, 24, seconds_per_pair=1.0, i_rms=5.0, phi_deg=180 - 25)
    assert acc.import_wh == 0 and acc.rems[0] == 0
    expected_wh = 230 * 5 * math.cos(math.radians(25)) * 12000 / 3600
    assert abs(acc.exact_wh(1) - expected_wh) / expected_wh < 0.002
    assert acc.regs[3] > 0 and acc.regs[2] == acc.regs[4] == acc.regs[5] == 0  # Q2: export, Q > 0


def test_host_waveform_source_with_rp2_skew_is_corrected_by_the_meter():
    import clock
    from waveform import WaveformSource

    src = WaveformSource(clock.Clock(speed=1), {"phase_deg": 60.0, "load_profile": None}, 4000, 400, 12,
                         synth.V_PER_COUNT_12, synth.I_PER_COUNT_12, skew_us=125)
    acc = EnergyAccumulator()
    met = Metrology(4000, 800, src.v_per_count, src.i_per_count, acc, adc_bits=12, zero_count=src.zero_count,
                    skew_us=src.skew_us)

    async def main():
        src.start()
        for _ in range(9):
            met.add_block(await src.read_block(), 400)
        src.stop()

    support.run(main())
    r = met.readings
    assert r.periods >= 3
    assert abs(r.p_w - 575) / 575 < 0.005 and abs(r.pf - 0.5) < 0.003, (r.p_w, r.pf)
