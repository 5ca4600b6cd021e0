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

_here = __file__ if __file__.startswith("/") else "./" + __file__
_REPO = _here.rsplit("/", 2)[0]
for _path in ("lib", "firmware"):
    if _REPO + "/" + _path not in sys.path:
        sys.path.insert(0, _REPO + "/" + _path)

from metrology.energy import EnergyAccumulator, IMPORT, EXPORT  # noqa: E402
from meter.metrology import Metrology  # noqa: E402

_BLOCK_PAIRS = 400


class CheckError(Exception):
    pass


def read_csv(path):
    """array('i') of v0, i0, v1, i1, ...; a header line "v,i" is allowed."""
    samples = array("i")
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
            samples.append(v)
            samples.append(i)
    if not samples:
        raise CheckError("no samples in " + path)
    return samples


def check(path, rate_hz, v_per_count, i_per_count, calibration=None, skew_us=0):
    samples = read_csv(path)
    low = min(samples)
    high = max(samples)
    twelve_bit = low >= 0 and high < 4096
    energy = EnergyAccumulator()
    periods = []

    met = Metrology(rate_hz, rate_hz, v_per_count, i_per_count, energy, adc_bits=12 if twelve_bit else 24,
                    zero_count=2048 if twelve_bit else 0, skew_us=skew_us, calibration=calibration)
    met.engine.wide = 1  # the CSV is held in 32-bit words whatever the converter
    met.engine.on_period = _keeping(met.engine.on_period, periods)
    pairs = len(samples) >> 1
    view = memoryview(samples)
    at = 0
    while at < pairs:
        n = min(_BLOCK_PAIRS, pairs - at)
        met.add_block(view[2 * at:2 * (at + n)], n)
        at += n
    met.engine.finish()
    whole = [p for p in periods if p[0] == "whole"]
    use = whole if whole else periods
    total = 0
    sums = [0.0] * 6
    f_sum = 0.0
    f_n = 0
    for p in use:
        w = p[1]
        total += w
        for k in range(6):
            sums[k] += p[2 + k] * w
        if p[8] > 0:
            f_sum += p[8]
            f_n += 1
    vrms, irms, p_w, q_var, s_va, _ = [x / total for x in sums]
    return {
        "vrms": vrms,
        "irms": irms,
        "p_w": p_w,
        "q_var": q_var,
        "s_va": s_va,
        "pf": p_w / s_va if s_va > 0 else 0.0,
        "freq_hz": f_sum / f_n if f_n else 0.0,
        "energy_import_wh": energy.exact_wh(IMPORT),
        "energy_export_wh": energy.exact_wh(EXPORT),
    }


def _keeping(chained, periods):
    def keep(r):
        kind = "whole" if r.freq_hz > 0 else "part"
        periods.append((kind, r.pairs, r.vrms, r.irms, r.p_w, r.q_var, r.s_va, r.pf, r.freq_hz))
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
