# The sampling hot loop in plain Python: the reference twin of the viper kernel
# (metrology/viperk.py). Both implement exactly the same integer algorithm on the same
# state array, so tests can compare them bit for bit; lib/metrology/kernel.py picks one.
#
# run(buf, start, stop, state, wide) folds sample pairs buf[2j], buf[2j+1] for
# start <= j < stop into `state` (an array("i"), layout in metrology/kernel.py) and
# returns the pair index it stopped at: `stop`, or earlier when the measurement period
# ended (state[_DONE] = 1) on a confirmed rising zero crossing of the voltage, so a
# period holds whole mains cycles. `wide` is 1 for signed 24-bit counts in 32-bit
# words, 0 for unsigned 16-bit words.
#
# Every sum is kept as lo + hi * 2**24 with lo normalised into [0, 2**24) after each
# sample. The centred voltage is at most 2**14 in magnitude (24-bit counts are shifted
# down by state[_SHIFT]); the current keeps every bit (small currents need them) and is
# split as ih * 2**10 + il, so v*ih, v*il, ih*ih, ih*il, il*il all stay below 2**28 and
# no intermediate exceeds 2**29: small ints on every port, no allocation.

from micropython import const

_N = const(0)
_TARGET = const(1)
_LIMIT = const(2)
_ZERO = const(3)
_SHIFT = const(4)
_PV = const(5)
_PI = const(6)
_SV = const(9)
_SI = const(11)
_SVV = const(13)
_SIHH = const(15)
_SIHL = const(17)
_SILL = const(19)
_SVIH = const(21)
_SVIL = const(23)
_SVIMH = const(25)
_SVIML = const(27)
_SVMIH = const(29)
_SVMIL = const(31)
_OFFSET = const(33)
_HYST = const(34)
_MINGAP = const(35)
_ARMED = const(36)
_CAND = const(37)
_CA = const(38)
_CB = const(39)
_SINCE = const(40)
_CYCLES = const(41)
_A1 = const(44)
_B1 = const(45)
_WHOLE = const(46)
_GLITCHES = const(48)
_DONE = const(49)
_PERSIST = const(3)  # samples at or above the level that confirm a rising crossing
_LO_MASK = const(0xFFFFFF)
_IL_BITS = const(10)  # the current is split as ih * 2**10 + il, 0 <= il < 2**10
_IL_MASK = const(0x3FF)


def run(buf, start, stop, state, wide):
    n = state[_N]
    target = state[_TARGET]
    limit = state[_LIMIT]
    zero = state[_ZERO]
    shift = state[_SHIFT]
    half = (1 << shift) >> 1
    pv = state[_PV]
    pi = state[_PI]
    sv_l = state[_SV]
    sv_h = state[_SV + 1]
    si_l = state[_SI]
    si_h = state[_SI + 1]
    svv_l = state[_SVV]
    svv_h = state[_SVV + 1]
    sihh_l = state[_SIHH]
    sihh_h = state[_SIHH + 1]
    sihl_l = state[_SIHL]
    sihl_h = state[_SIHL + 1]
    sill_l = state[_SILL]
    sill_h = state[_SILL + 1]
    svih_l = state[_SVIH]
    svih_h = state[_SVIH + 1]
    svil_l = state[_SVIL]
    svil_h = state[_SVIL + 1]
    svimh_l = state[_SVIMH]
    svimh_h = state[_SVIMH + 1]
    sviml_l = state[_SVIML]
    sviml_h = state[_SVIML + 1]
    svmih_l = state[_SVMIH]
    svmih_h = state[_SVMIH + 1]
    svmil_l = state[_SVMIL]
    svmil_h = state[_SVMIL + 1]
    offset = state[_OFFSET]
    hyst = state[_HYST]
    mingap = state[_MINGAP]
    armed = state[_ARMED]
    cand = state[_CAND]
    ca = state[_CA]
    cb = state[_CB]
    since = state[_SINCE]
    cycles = state[_CYCLES]
    glitches = state[_GLITCHES]
    done = 0
    j = start
    k = 2 * start
    while j < stop:
        rv = buf[k]
        ri = buf[k + 1]
        k += 2
        if wide:
            rv = ((rv & 0xFFFFFF) ^ 0x800000) - 0x800000
            ri = ((ri & 0xFFFFFF) ^ 0x800000) - 0x800000
        v = (rv - zero + half) >> shift
        i = ri - zero
        ih = i >> _IL_BITS
        il = i & _IL_MASK
        pih = pi >> _IL_BITS
        pil = pi & _IL_MASK
        sv_l += v
        sv_h += sv_l >> 24
        sv_l &= _LO_MASK
        si_l += i
        si_h += si_l >> 24
        si_l &= _LO_MASK
        svv_l += v * v
        svv_h += svv_l >> 24
        svv_l &= _LO_MASK
        sihh_l += ih * ih
        sihh_h += sihh_l >> 24
        sihh_l &= _LO_MASK
        sihl_l += ih * il
        sihl_h += sihl_l >> 24
        sihl_l &= _LO_MASK
        sill_l += il * il
        sill_h += sill_l >> 24
        sill_l &= _LO_MASK
        svih_l += v * ih
        svih_h += svih_l >> 24
        svih_l &= _LO_MASK
        svil_l += v * il
        svil_h += svil_l >> 24
        svil_l &= _LO_MASK
        svimh_l += v * pih
        svimh_h += svimh_l >> 24
        svimh_l &= _LO_MASK
        sviml_l += v * pil
        sviml_h += sviml_l >> 24
        sviml_l &= _LO_MASK
        svmih_l += pv * ih
        svmih_h += svmih_l >> 24
        svmih_l &= _LO_MASK
        svmil_l += pv * il
        svmil_h += svmil_l >> 24
        svmil_l &= _LO_MASK
        x = v - offset
        px = pv - offset
        pv = v
        pi = i
        n += 1
        since += 1
        j += 1
        # Rising zero crossing with hysteresis (armed below -hyst) and persistence
        # (PERSIST samples at or above the level), then a minimum spacing: spikes and
        # noise near zero are counted as glitches, not cycles.
        if cand:
            if x >= 0:
                cand += 1
                if cand == _PERSIST:
                    cand = 0
                    armed = 0
                    if since >= mingap:
                        since = 0
                        cycles += 1
                        state[_A1] = ca
                        state[_B1] = cb
                        if n >= target:
                            done = 1
                            state[_WHOLE] = 1
                            break
                    else:
                        glitches += 1
            else:
                cand = 0
                glitches += 1
        elif armed:
            if x >= 0:
                cand = 1
                ca = px
                cb = x
        elif x < -hyst:
            armed = 1
        if n >= limit:
            done = 1
            state[_WHOLE] = 0
            break
    state[_N] = n
    state[_PV] = pv
    state[_PI] = pi
    state[_SV] = sv_l
    state[_SV + 1] = sv_h
    state[_SI] = si_l
    state[_SI + 1] = si_h
    state[_SVV] = svv_l
    state[_SVV + 1] = svv_h
    state[_SIHH] = sihh_l
    state[_SIHH + 1] = sihh_h
    state[_SIHL] = sihl_l
    state[_SIHL + 1] = sihl_h
    state[_SILL] = sill_l
    state[_SILL + 1] = sill_h
    state[_SVIH] = svih_l
    state[_SVIH + 1] = svih_h
    state[_SVIL] = svil_l
    state[_SVIL + 1] = svil_h
    state[_SVIMH] = svimh_l
    state[_SVIMH + 1] = svimh_h
    state[_SVIML] = sviml_l
    state[_SVIML + 1] = sviml_h
    state[_SVMIH] = svmih_l
    state[_SVMIH + 1] = svmih_h
    state[_SVMIL] = svmil_l
    state[_SVMIL + 1] = svmil_h
    state[_ARMED] = armed
    state[_CAND] = cand
    state[_CA] = ca
    state[_CB] = cb
    state[_SINCE] = since
    state[_CYCLES] = cycles
    state[_GLITCHES] = glitches
    state[_DONE] = done
    return j
