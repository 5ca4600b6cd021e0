# The sampling hot loop as a @micropython.viper kernel: the same integer algorithm as
# metrology/twin.py (read its header), line for line, in machine words. Loaded only on
# MicroPython (metrology/kernel.py chooses); mpy-cross needs -march to compile it.
#
# Viper specifics: samples are read through ptr16/ptr32 (a ptr32 load is zero-extended
# on 64-bit ports, so 24-bit counts are sign-extended by the xor trick, which is right
# on any word size); the state array is read with int(state[k]) and written back as
# small ints, which keeps signs right on 32- and 64-bit ports and allocates nothing.
# Every value stays below 2**30, so 32-bit machine arithmetic never wraps.

import micropython
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



@micropython.viper
def run(buf, start: int, stop: int, state, wide: int) -> int:
    b16 = ptr16(buf)
    b32 = ptr32(buf)
    n = int(state[_N])
    target = int(state[_TARGET])
    limit = int(state[_LIMIT])
    zero = int(state[_ZERO])
    shift = int(state[_SHIFT])
    half = (1 << shift) >> 1
    pv = int(state[_PV])
    pi = int(state[_PI])
    sv_l = int(state[_SV])
    sv_h = int(state[_SV + 1])
    si_l = int(state[_SI])
    si_h = int(state[_SI + 1])
    svv_l = int(state[_SVV])
    svv_h = int(state[_SVV + 1])
    sii_l = int(state[_SII])
    sii_h = int(state[_SII + 1])
    svi_l = int(state[_SVI])
    svi_h = int(state[_SVI + 1])
    svim_l = int(state[_SVIM])
    svim_h = int(state[_SVIM + 1])
    svmi_l = int(state[_SVMI])
    svmi_h = int(state[_SVMI + 1])
    offset = int(state[_OFFSET])
    hyst = int(state[_HYST])
    mingap = int(state[_MINGAP])
    armed = int(state[_ARMED])
    cand = int(state[_CAND])
    ca = int(state[_CA])
    cb = int(state[_CB])
    since = int(state[_SINCE])
    cycles = int(state[_CYCLES])
    glitches = int(state[_GLITCHES])
    done = 0
    j = start
    while j < stop:
        if wide:
            rv = ((int(b32[2 * j]) & 0xFFFFFF) ^ 0x800000) - 0x800000
            ri = ((int(b32[2 * j + 1]) & 0xFFFFFF) ^ 0x800000) - 0x800000
        else:
            rv = int(b16[2 * j])
            ri = int(b16[2 * j + 1])
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
