# test: cpython-only (hypothesis)
# The energy registers against an exact rational reference (fractions.Fraction): over any
# powers, signs and periods, every register holds floor(energy) and carries the exact rest,
# import/export and the four quadrants as documented, the tariffs add up, and a float power
# is booked at the milliwatt nearest to the value it holds.
from fractions import Fraction

from hypothesis import given, settings, strategies as st

from metrology.energy import EnergyAccumulator, MWMS_PER_WH, milli

_WH = Fraction(MWMS_PER_WH)
_mw = st.integers(-(10**9), 10**9)  # up to 1 MW either way
_duration_ms = st.one_of(st.integers(0, 2000), st.integers(0, 24 * 3_600_000))
_periods = st.lists(st.tuples(_mw, _mw, _duration_ms, st.integers(0, 2)), min_size=1, max_size=60)


def _reference(periods):
    """Exact energy per register (Fractions of a Wh) and per tariff, booked as documented."""
    energy = [Fraction(0)] * 6
    for p_mw, q_mvar, duration_ms, _ in periods:
        p = Fraction(abs(p_mw) * duration_ms) / _WH
        q = Fraction(abs(q_mvar) * duration_ms) / _WH
        if p_mw >= 0:
            energy[0] += p
            energy[2 + (0 if q_mvar >= 0 else 3)] += q
        else:
            energy[1] += p
            energy[2 + (1 if q_mvar >= 0 else 2)] += q
    return energy


@settings(max_examples=300, deadline=None)
@given(_periods)
def test_registers_equal_the_exact_rational_energy(periods):
    acc = EnergyAccumulator(tariffs=3)
    for p_mw, q_mvar, duration_ms, tariff in periods:
        acc.tariff = tariff
        acc.add_mw(p_mw, q_mvar, duration_ms)
    for k, exact in enumerate(_reference(periods)):
        assert acc.regs[k] == exact.numerator // exact.denominator, (k, acc.regs[k], float(exact))
        assert Fraction(acc.rems[k]) / _WH == exact - acc.regs[k], (k, acc.rems[k])
        assert 0 <= acc.rem_mws[k] < 3_600_000 and 0 <= acc.rem_umws[k] < 1000
    assert sum(acc.tariff_import_wh) == acc.regs[0] and sum(acc.tariff_export_wh) == acc.regs[1]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.floats(-1e6, 1e6), st.integers(0, 3_600_000)), min_size=1, max_size=40))
def test_float_powers_are_booked_at_the_nearest_milliwatt(periods):
    acc = EnergyAccumulator()
    exact = [Fraction(0), Fraction(0)]
    for p_w, duration_ms in periods:
        p_mw = milli(p_w)
        # the milliwatts nearest the float's own value (a double here; float32 on a device)
        assert abs(Fraction(p_mw) - Fraction(p_w) * 1000) <= Fraction(1, 2) + Fraction(1, 10**6), (p_w, p_mw)
        acc.add(p_w, 0.0, duration_ms)
        exact[0 if p_mw >= 0 else 1] += Fraction(abs(p_mw) * duration_ms) / _WH
    for k in (0, 1):
        assert acc.regs[k] + Fraction(acc.rems[k]) / _WH == exact[k]


@given(st.integers(-(10**9), 10**9))
def test_a_power_given_in_whole_milliwatts_comes_back_exactly(p_mw):
    assert milli(p_mw / 1000) == p_mw
