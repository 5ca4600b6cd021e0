# The hot-loop kernel, chosen at import: the viper-emitted kernel where the
# runtime compiles viper (MicroPython with a native emitter), else the pure-Python twin.
# The choice is explicit and testable: NAME says which one `run` is, KERNELS holds the
# kernels loaded here, and use(name) switches (loading the twin on demand, so a device
# running the viper kernel does not spend heap on it; tests run both on the same input).
#
# The state array (array("i"), STATE_WORDS words) is shared by both kernels; indices:
#   N 0            pairs folded into the period so far
#   TARGET 1       the period ends at the first confirmed rising crossing from here on
#   LIMIT 2        ... or here regardless (no voltage, no crossings)
#   ZERO 3         the converter's nominal zero count
#   SHIFT 4        right shift applied to the centred voltage (24-bit counts -> 15 bits)
#   PV 5, PI 6     previous centred v (shifted) and i (all bits), carried across blocks
#   PV0 7, PI0 8   the same at the start of the period (for exact lagged means)
#   SV 9 .. SVMIL 31  sums, each as lo (<2**24), hi at +1, with i = ih * 2**10 + il:
#                  Σv, Σi, Σv², Σih², Σih·il, Σil², Σv·ih, Σv·il, Σv[n]·ih[n-1],
#                  Σv[n]·il[n-1], Σv[n-1]·ih[n], Σv[n-1]·il[n]
#   OFFSET 33, HYST 34, MINGAP 35   crossing level, hysteresis (centred counts), minimum
#                  spacing of crossings (pairs); set by the per-period maths
#   ARMED 36, CAND 37, CA 38, CB 39   crossing detector: armed, candidate's confirmation
#                  count, the two samples around the candidate (relative to OFFSET)
#   SINCE 40       pairs since the last accepted crossing
#   CYCLES 41      crossings accepted in this period (= whole cycles when WHOLE)
#   A0 42, B0 43   the crossing that started the period; A1 44, B1 45 the one that ended it
#   WHOLE 46       the period ended on a crossing; STARTX 47 it also started on one
#   GLITCHES 48    crossings rejected by the glitch filter; DONE 49 period complete

import rt

N = 0
TARGET = 1
LIMIT = 2
ZERO = 3
SHIFT = 4
PV = 5
PI = 6
PV0 = 7
PI0 = 8
SV = 9
SI = 11
SVV = 13
SIHH = 15
SIHL = 17
SILL = 19
SVIH = 21
SVIL = 23
SVIMH = 25
SVIML = 27
SVMIH = 29
SVMIL = 31
OFFSET = 33
HYST = 34
MINGAP = 35
ARMED = 36
CAND = 37
CA = 38
CB = 39
SINCE = 40
CYCLES = 41
A0 = 42
B0 = 43
A1 = 44
B1 = 45
WHOLE = 46
STARTX = 47
GLITCHES = 48
DONE = 49
STATE_WORDS = 50
PERSIST = 3  # as in the kernels: a crossing's boundary is PERSIST samples after it
IL_BITS = 10  # as in the kernels: i = ih * 2**IL_BITS + il
SUMS = (SV, SI, SVV, SIHH, SIHL, SILL, SVIH, SVIL, SVIMH, SVIML, SVMIH, SVMIL)

KERNELS = {}
if not rt.EMULATED:
    try:
        from metrology import viperk

        KERNELS["viper"] = viperk.run
    except (ImportError, SyntaxError, ValueError, NotImplementedError):
        pass  # a build without the native emitter: the twin does the work
if not KERNELS:
    from metrology import twin

    KERNELS["twin"] = twin.run

NAME = "viper" if "viper" in KERNELS else "twin"
run = KERNELS[NAME]


def use(name):
    """Select a kernel by name ("viper" or "twin"); KeyError if not available here.

    The twin is loaded on first use where the viper kernel runs (it costs heap)."""
    global NAME, run
    if name == "twin" and name not in KERNELS:
        from metrology import twin

        KERNELS["twin"] = twin.run
    run = KERNELS[name]
    NAME = name


def total(state, index):
    """A sum's value, lo + hi * 2**24, as a float (once per period: may allocate)."""
    return state[index + 1] * 16777216.0 + state[index]
