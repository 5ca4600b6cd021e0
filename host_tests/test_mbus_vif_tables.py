# test: cpython-only
# The VIF tables in lib/mbus/vif.py are bytes literals generated from the readable
# definitions in tools/mbus_vif_tables.py: they must be what the generator writes.

import support
import mbus_vif_tables as gen


def test_vif_py_is_what_the_generator_writes():
    with open(support.REPO + "/lib/mbus/vif.py", encoding="utf-8") as f:
        text = f.read()
    assert gen.rewritten(text) == text, "lib/mbus/vif.py is out of date: run tools/mbus_vif_tables.py"


def test_tables_are_bytes_not_built_at_import():
    from mbus import vif
    for name in ("PRIMARY", "FB", "FD", "FIXED_UNITS"):
        assert isinstance(getattr(vif, name), bytes), name
    assert len(vif.PRIMARY) == len(vif.FB) == len(vif.FD) == 512 and len(vif.FIXED_UNITS) == 256
