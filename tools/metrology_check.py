#!/usr/bin/env python3
"""Feed recorded samples through the firmware's own metrology and print the results.

  python tools/metrology_check.py --csv FILE --rate HZ --v-scale VOLTS_PER_COUNT \\
      --i-scale AMPS_PER_COUNT [--micropython]

FILE holds integer ADC samples, columns v,i (taken at the same instant), one row per
sample pair at HZ; a "v,i" header line is allowed. Prints one JSON object:
{"vrms", "irms", "p_w", "q_var", "s_va", "pf", "freq_hz", "energy_import_wh",
"energy_export_wh"}: averages weighted by samples over the whole measurement periods
(whole mains cycles between measured crossings, about 1 s each; with none, as without a
voltage, over every period) and energy over the whole file, with the meter's
starting-current and no-load rules. The file is read twice and never held in memory. Counts from 0 to 4095 are taken as a 12-bit converter around 2048,
anything else as signed 24-bit. --micropython runs the same code under the MicroPython
unix port (.venv/bin/micropython, or $MICROPYTHON). Exit 1 with {"error": ...} on bad input.
"""

import argparse
import os
import subprocess
import sys

import repo_paths

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--csv", required=True, help="v,i integer samples, one pair per line")
    ap.add_argument("--rate", required=True, type=int, help="sample pairs per second")
    ap.add_argument("--v-scale", required=True, type=float, help="volts per count")
    ap.add_argument("--i-scale", required=True, type=float, help="amps per count")
    ap.add_argument("--micropython", action="store_true", help="run under the MicroPython unix port")
    args = ap.parse_args(argv)
    if args.rate <= 0 or args.v_scale <= 0 or args.i_scale <= 0:
        ap.error("--rate, --v-scale and --i-scale must be positive")
    run_args = [args.csv, str(args.rate), repr(args.v_scale), repr(args.i_scale)]
    if args.micropython:
        upy = os.environ.get("MICROPYTHON") or os.path.join(REPO, ".venv", "bin", "micropython")
        proc = subprocess.run([upy, "-X", "heapsize=4M", os.path.join(HERE, "metrology_run.py")] + run_args,
                              env=repo_paths.micropython_env())
        return proc.returncode
    import metrology_run

    return metrology_run.main(["metrology_run.py"] + run_args)


if __name__ == "__main__":
    import toolenv

    toolenv.ensure()  # under .venv/bin/python, whatever python started it
    sys.exit(main())
