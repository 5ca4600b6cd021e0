# The sampling hot loop as a viper kernel: the same integer algorithm as
# metrology/twin.py (read its header), line for line, in machine words. Loaded only on
# MicroPython (metrology/kernel.py chooses); mpy-cross needs -march to compile it.
# Generated from twin.py by hand-checked rules; keep the two in step (tests compare them).
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
    sihh_l = int(state[_SIHH])
    sihh_h = int(state[_SIHH + 1])
    sihl_l = int(state[_SIHL])
    sihl_h = int(state[_SIHL + 1])
    sill_l = int(state[_SILL])
    sill_h = int(state[_SILL + 1])
    svih_l = int(state[_SVIH])
    svih_h = int(state[_SVIH + 1])
    svil_l = int(state[_SVIL])
    svil_h = int(state[_SVIL + 1])
    svimh_l = int(state[_SVIMH])
    svimh_h = int(state[_SVIMH + 1])
    sviml_l = int(state[_SVIML])
    sviml_h = int(state[_SVIML + 1])
    svmih_l = int(state[_SVMIH])
    svmih_h = int(state[_SVMIH + 1])
    svmil_l = int(state[_SVMIL])
    svmil_h = int(state[_SVMIL + 1])
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
    k = 2 * start
    while j < stop:
        if wide:
            rv = ((int(b32[k]) & 0xFFFFFF) ^ 0x800000) - 0x800000
            ri = ((int(b32[k + 1]) & 0xFFFFFF) ^ 0x800000) - 0x800000
        else:
            rv = int(b16[k])
            ri = int(b16[k + 1])
        k += 2
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
