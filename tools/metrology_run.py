# The core of tools/metrology_check.py, runnable under CPython and the MicroPython
# unix port alike: a CSV of integer v,i samples through the firmware's own metrology
# (meter.metrology.Metrology with its start/creep rules, metrology.energy for energy).
#
#   micropython tools/metrology_run.py FILE RATE_HZ V_PER_COUNT I_PER_COUNT
#
# prints one JSON object (format: tools/metrology_check.py).

import sys
import json
from array import array

import repo_paths  # noqa: F401  (the tree's folders on sys.path under any python: tools/repo_paths.py)

from metrology.energy import EnergyAccumulator, IMPORT, EXPORT
from meter.metrology import Metrology

_BLOCK_PAIRS = 400


class CheckError(Exception):
    pass


def pairs_of(path):
    """Yields (v, i) per CSV row; a header line "v,i" is allowed; CheckError names a bad line."""
    line_no = 0
    with open(path) as f:
        for line in f:
            line_no += 1
            text = line.strip()
            if not text or (line_no == 1 and text.replace(" ", "").lower() == "v,i"):
                continue
            parts = text.split(",")
            if len(parts) != 2:
                raise CheckError("line %d: want two integers v,i" % line_no)
            try:
                v = int(parts[0])
                i = int(parts[1])
            except ValueError:
                raise CheckError("line %d: want two integers v,i" % line_no)
            if not (-(1 << 23) <= v < (1 << 23) and -(1 << 23) <= i < (1 << 23)):
                raise CheckError("line %d: sample outside 24-bit range" % line_no)
            yield v, i


def read_csv(path):
    """array('i') of v0, i0, v1, i1, ... (small files and tests; check() streams)."""
    samples = array("i")
    for v, i in pairs_of(path):
        samples.append(v)
        samples.append(i)
    if not samples:
        raise CheckError("no samples in " + path)
    return samples


def check(path, rate_hz, v_per_count, i_per_count, calibration=None, skew_us=0):
    # Two passes over the file, so a long recording never has to fit in the heap: the
    # first finds the converter's range, the second feeds blocks.
    low = high = None
    for v, i in pairs_of(path):
        a, b = (v, i) if v <= i else (i, v)
        low = a if low is None or a < low else low
        high = b if high is None or b > high else high
    if low is None:
        raise CheckError("no samples in " + path)
    twelve_bit = low >= 0 and high < 4096
    energy = EnergyAccumulator()
    # Running sums, pair-weighted: [pairs, vrms, irms, p, q, s, freq] for the whole periods
    # (index 0) and for all of them (index 1).
    periods = ([0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])

    met = Metrology(rate_hz, rate_hz, v_per_count, i_per_count, energy, adc_bits=12 if twelve_bit else 24,
                    zero_count=2048 if twelve_bit else 0, skew_us=skew_us, calibration=calibration)
    met.engine.wide = 1  # the CSV is held in 32-bit words whatever the converter
    met.engine.on_period = _keeping(met.engine.on_period, periods)
    block = array("i", bytes(8 * _BLOCK_PAIRS))
    n = 0
    for v, i in pairs_of(path):
        block[2 * n] = v
        block[2 * n + 1] = i
        n += 1
        if n == _BLOCK_PAIRS:
            met.add_block(block, n)
            n = 0
    if n:
        met.add_block(block, n)
    met.engine.finish()
    # Whole periods (a measured frequency) when there are any, else every period.
    acc = periods[0] if periods[0][0] else periods[1]
    total = acc[0]
    vrms, irms, p_w, q_var, s_va = [x / total for x in acc[1:6]]
    f_n = periods[0][0]
    return {
        "vrms": vrms,
        "irms": irms,
        "p_w": p_w,
        "q_var": q_var,
        "s_va": s_va,
        "pf": p_w / s_va if s_va > 0 else 0.0,
        "freq_hz": periods[0][6] / f_n if f_n else 0.0,
        "energy_import_wh": energy.exact_wh(IMPORT),
        "energy_export_wh": energy.exact_wh(EXPORT),
    }


def _keeping(chained, periods):
    def keep(r):
        w = r.pairs
        for acc in (periods[0], periods[1]) if r.freq_hz > 0 else (periods[1],):
            acc[0] += w
            acc[1] += r.vrms * w
            acc[2] += r.irms * w
            acc[3] += r.p_w * w
            acc[4] += r.q_var * w
            acc[5] += r.s_va * w
        if r.freq_hz > 0:
            periods[0][6] += r.freq_hz * w
        chained(r)

    return keep


def main(argv):
    if len(argv) != 5:
        print("usage: metrology_run.py FILE RATE_HZ V_PER_COUNT I_PER_COUNT")
        return 2
    try:
        result = check(argv[1], int(argv[2]), float(argv[3]), float(argv[4]))
    except (CheckError, OSError, ValueError) as exc:
        print(json.dumps({"error": str(exc)}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
