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
# sample; centred samples are at most 2**14 in magnitude (24-bit counts are shifted
# down by state[_SHIFT]), so no intermediate exceeds 2**29: small ints on every port,
# no allocation.

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
_SII = const(15)
_SVI = const(17)
_SVIM = const(19)
_SVMI = const(21)
_OFFSET = const(23)
_HYST = const(24)
_MINGAP = const(25)
_ARMED = const(26)
_CAND = const(27)
_CA = const(28)
_CB = const(29)
_SINCE = const(30)
_CYCLES = const(31)
_A1 = const(34)
_B1 = const(35)
_WHOLE = const(36)
_GLITCHES = const(38)
_DONE = const(39)
_PERSIST = const(3)  # samples at or above the level that confirm a rising crossing
_LO_MASK = const(0xFFFFFF)


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
    sii_l = state[_SII]
    sii_h = state[_SII + 1]
    svi_l = state[_SVI]
    svi_h = state[_SVI + 1]
    svim_l = state[_SVIM]
    svim_h = state[_SVIM + 1]
    svmi_l = state[_SVMI]
    svmi_h = state[_SVMI + 1]
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
    while j < stop:
        rv = buf[2 * j]
        ri = buf[2 * j + 1]
        if wide:
            rv = ((rv & 0xFFFFFF) ^ 0x800000) - 0x800000
            ri = ((ri & 0xFFFFFF) ^ 0x800000) - 0x800000
        v = (rv - zero + half) >> shift
        i = (ri - zero + half) >> shift
        sv_l += v
        sv_h += sv_l >> 24
        sv_l &= _LO_MASK
        si_l += i
        si_h += si_l >> 24
        si_l &= _LO_MASK
        svv_l += v * v
        svv_h += svv_l >> 24
        svv_l &= _LO_MASK
        sii_l += i * i
        sii_h += sii_l >> 24
        sii_l &= _LO_MASK
        svi_l += v * i
        svi_h += svi_l >> 24
        svi_l &= _LO_MASK
        svim_l += v * pi
        svim_h += svim_l >> 24
        svim_l &= _LO_MASK
        svmi_l += pv * i
        svmi_h += svmi_l >> 24
        svmi_l &= _LO_MASK
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
    state[_SII] = sii_l
    state[_SII + 1] = sii_h
    state[_SVI] = svi_l
    state[_SVI + 1] = svi_h
    state[_SVIM] = svim_l
    state[_SVIM + 1] = svim_h
    state[_SVMI] = svmi_l
    state[_SVMI + 1] = svmi_h
    state[_ARMED] = armed
    state[_CAND] = cand
    state[_CA] = ca
    state[_CB] = cb
    state[_SINCE] = since
    state[_CYCLES] = cycles
    state[_GLITCHES] = glitches
    state[_DONE] = done
    return j
