# test: cpython-only (hypothesis)
# Whatever JSON sits in the registers' and calibration's records, start-up never
# crashes: a record is either used (and sane) or counted as damaged.
from hypothesis import given, settings, strategies as st
import support
from store import AtomicRecord
from meter.registers import EnergyRegisters
from metrology.calibration import CalibrationStore

_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 1 << 40), st.floats(allow_nan=True),
                     st.text(max_size=4))
_values = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                         st.dictionaries(st.text(max_size=6), inner, max_size=5)),
                       max_leaves=12)
_names = st.sampled_from(["generation", "import_wh", "export_wh", "import_rem_mwms", "export_rem_mwms", "q_varh",
                          "q_rem_mwms", "tariff_import_wh", "tariff_export_wh", "v_gain", "i_gain", "phase_deg",
                          "version"])
_records = st.one_of(_values, st.dictionaries(_names, st.one_of(_values, st.lists(st.integers(0, 99), max_size=5)),
                                              max_size=10))


@settings(max_examples=200, deadline=None)
@given(_records, st.integers(1, 3))
def test_any_stored_registers_record_loads_or_counts_as_damaged(record, tariffs):
    folder = support.tmpdir("rfz")
    AtomicRecord(folder + "/registers.0").write_json(record)
    regs = EnergyRegisters(folder, tariffs=tariffs)
    if regs.damaged_copies == 0:
        assert all(isinstance(v, int) and v >= 0 for v in regs.regs + regs.rems)
        assert sum(regs.tariff_import_wh) == regs.import_wh and sum(regs.tariff_export_wh) == regs.export_wh
    regs.add(100.0, -5.0, 1000)
    regs.checkpoint()
    support.rmtree(folder)


@settings(max_examples=200, deadline=None)
@given(st.one_of(_records, st.fixed_dictionaries({"v_gain": st.floats(0.4, 2.1), "i_gain": st.floats(0.4, 2.1),
                                                  "phase_deg": st.floats(-30, 30),
                                                  "version": st.one_of(st.integers(-3, 9), st.floats())})))
def test_any_stored_calibration_record_loads_or_counts_as_damaged(record):
    folder = support.tmpdir("cfz")
    AtomicRecord(folder + "/calibration").write_json(record)
    store = CalibrationStore(folder)
    cal = store.calibration
    assert 0.5 <= cal.v_gain <= 2.0 and 0.5 <= cal.i_gain <= 2.0 and -20 <= cal.phase_deg <= 20
    if store.damaged:
        assert store.version == 0
    else:
        assert type(store.version) is int and store.version >= 0
    support.rmtree(folder)
