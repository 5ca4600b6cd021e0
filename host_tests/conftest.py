# pytest set-up for CPython: the same import paths a device has, plus the
# CPython-only shims (the `micropython` module) that are never deployed.
import sys
import os

_HERE = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.dirname(_HERE)
for _path in ("lib", "firmware", "boards/host", "host_tests/shims", "host_tests", "tools"):
    _full = os.path.join(_REPO, _path)
    if _full in sys.path:  # ahead of site-packages: pysml's top-level "sml" must not shadow lib/sml
        sys.path.remove(_full)
    sys.path.insert(0, _full)
