# The hot-loop kernel, chosen at import: the @micropython.viper kernel where the
# runtime compiles viper (MicroPython with a native emitter), else the pure-Python twin.
# The choice is explicit and testable: NAME says which one `run` is, KERNELS holds every
# kernel available here (tests run both on the same input), and use(name) switches.
#
# The state array (array("i"), STATE_WORDS words) is shared by both kernels; indices:
#   N 0            pairs folded into the period so far
#   TARGET 1       the period ends at the first confirmed rising crossing from here on
#   LIMIT 2        ... or here regardless (no voltage, no crossings)
#   ZERO 3         the converter's nominal zero count
#   SHIFT 4        right shift applied to centred counts (24-bit counts -> 15 bits)
#   PV 5, PI 6     previous centred v and i (carried across blocks and periods)
#   PV0 7, PI0 8   the same at the start of the period (for exact lagged means)
#   SV 9 .. SVMI 21  sums, each as lo (<2**24), hi at +1: Σv, Σi, Σv², Σi², Σv·i,
#                  Σv[n]·i[n-1] (SVIM), Σv[n-1]·i[n] (SVMI)
#   OFFSET 23, HYST 24, MINGAP 25   crossing level, hysteresis (centred counts), minimum
#                  spacing of crossings (pairs); set by the per-period maths
#   ARMED 26, CAND 27, CA 28, CB 29   crossing detector: armed, candidate's confirmation
#                  count, the two samples around the candidate (relative to OFFSET)
#   SINCE 30       pairs since the last accepted crossing
#   CYCLES 31      crossings accepted in this period (= whole cycles when WHOLE)
#   A0 32, B0 33   the crossing that started the period; A1 34, B1 35 the one that ended it
#   WHOLE 36       the period ended on a crossing; STARTX 37 it also started on one
#   GLITCHES 38    crossings rejected by the glitch filter; DONE 39 period complete

import rt
from metrology import twin

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
SII = 15
SVI = 17
SVIM = 19
SVMI = 21
OFFSET = 23
HYST = 24
MINGAP = 25
ARMED = 26
CAND = 27
CA = 28
CB = 29
SINCE = 30
CYCLES = 31
A0 = 32
B0 = 33
A1 = 34
B1 = 35
WHOLE = 36
STARTX = 37
GLITCHES = 38
DONE = 39
STATE_WORDS = 40
PERSIST = 3  # as in the kernels: a crossing's boundary is PERSIST samples after it
SUMS = (SV, SI, SVV, SII, SVI, SVIM, SVMI)

KERNELS = {"twin": twin.run}
if not rt.EMULATED:
    try:
        from metrology import viperk

        KERNELS["viper"] = viperk.run
    except (ImportError, SyntaxError, ValueError, NotImplementedError):
        pass  # a build without the native emitter: the twin does the work

NAME = "viper" if "viper" in KERNELS else "twin"
run = KERNELS[NAME]


def use(name):
    """Select a kernel by name ("viper" or "twin"); KeyError if not available here."""
    global NAME, run
    run = KERNELS[name]
    NAME = name


def total(state, index):
    """A sum's value, lo + hi * 2**24, as a float (once per period: may allocate)."""
    return state[index + 1] * 16777216.0 + state[index]
