#!/usr/bin/env python3
"""Calibrate a meter from a recording of a reference load.

  python tools/calibrate.py --storage DIR --csv FILE --rate HZ --v-scale V_PER_COUNT \\
      --i-scale A_PER_COUNT --ref-v VOLTS --ref-i AMPS (--ref-pf PF | --ref-p-w WATTS) \\
      [--skew-us US] [--source NAME] [--dry-run]

The recording (columns v,i as for tools/metrology_check.py) is measured with the
meter's present constants from DIR (the meter's storage folder: board storage_dir),
through the firmware's own metrology; the new gains and phase that bring it to the
reference load are solved (metrology/calibration.py), checked against their limits,
logged to DIR/log/calibration and stored in DIR/calibration. --ref-pf is signed:
positive for a lagging (inductive) current. --skew-us is the converter's current-after-
voltage delay (RP2040 round robin: 500000 / rate). Prints one JSON object
{"old", "new", "version", "measured"}; exit 1 with {"error": ...} on bad input or a
refused change (for example a full calibration log).
"""

import argparse
import json
import sys
import time

import repo_paths  # noqa: F401  (the tree's folders on sys.path under any python: tools/repo_paths.py)

import metrology_run
from metrology.calibration import CalibrationStore, CalibrationError, solve
from store import StoreError


class _Measured:
    def __init__(self, d):
        self.vrms, self.irms, self.p_w, self.q_var = d["vrms"], d["irms"], d["p_w"], d["q_var"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--storage", required=True)
    ap.add_argument("--csv", required=True)
    ap.add_argument("--rate", required=True, type=int)
    ap.add_argument("--v-scale", required=True, type=float)
    ap.add_argument("--i-scale", required=True, type=float)
    ap.add_argument("--ref-v", required=True, type=float)
    ap.add_argument("--ref-i", required=True, type=float)
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--ref-pf", type=float)
    group.add_argument("--ref-p-w", type=float)
    ap.add_argument("--skew-us", type=float, default=0.0)
    ap.add_argument("--source", default="tool")
    ap.add_argument("--dry-run", action="store_true", help="solve and print, change nothing")
    args = ap.parse_args(argv)
    try:
        store = CalibrationStore(args.storage)
        old = store.calibration.as_dict()
        measured = metrology_run.check(args.csv, args.rate, args.v_scale, args.i_scale, store.calibration,
                                       args.skew_us)
        new = solve(_Measured(measured), store.calibration, args.ref_v, args.ref_i, args.ref_pf, args.ref_p_w)
        version = store.version
        if not args.dry_run:
            version = store.change(new, args.source, int(time.time()))
    except (CalibrationError, metrology_run.CheckError, StoreError, OSError, ValueError) as exc:
        print(json.dumps({"error": str(exc)}))
        return 1
    print(json.dumps({"old": old, "new": new.as_dict(), "version": version, "measured": measured}))
    return 0


if __name__ == "__main__":
    import toolenv

    toolenv.ensure()  # under .venv/bin/python, whatever python started it
    sys.exit(main())
