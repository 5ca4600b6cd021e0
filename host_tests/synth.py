# Synthetic mains waveforms for the metrology tests: interleaved v, i ADC counts,
# quantised (rounded) to a 12-bit unsigned or 24-bit signed converter, clipped at its range.

import math
from array import array

V_PER_COUNT_24 = 1.432e-4
I_PER_COUNT_24 = 1.788e-5
V_PER_COUNT_12 = 0.2659
I_PER_COUNT_12 = 0.04883


def scales(bits):
    return (V_PER_COUNT_12, I_PER_COUNT_12) if bits == 12 else (V_PER_COUNT_24, I_PER_COUNT_24)


def wave(pairs, rate_hz=4000, freq_hz=50.0, v_rms=230.0, i_rms=5.0, phi_deg=0.0, bits=24, v_dc=0, i_dc=0,
         v_harm=(), i_harm=(), skew_us=0.0, t0_s=0.0, noise=0, seed=1):
    """phi_deg: current lags voltage (negative leads); harmonics: (order, fraction, phase_deg).
    skew_us: the current is sampled this long after the voltage. noise: +-counts, uniform."""
    vpc, ipc = scales(bits)
    zero = 2048 if bits == 12 else 0
    low, high = (0, 4095) if bits == 12 else (-(1 << 23), (1 << 23) - 1)
    # From a range: sized once with no temporary (bytes(n) would need the buffer's size twice
    # on a 32-bit board's heap); every element is written below.
    buf = array("H" if bits == 12 else "i", range(2 * pairs))
    va = math.sqrt(2) * v_rms / vpc
    ia = math.sqrt(2) * i_rms / ipc
    phi = math.radians(phi_deg)
    w = 2 * math.pi * freq_hz
    skew = skew_us * 1e-6
    x = seed
    for k in range(pairs):
        t = t0_s + k / rate_hz
        th = w * t
        v = math.sin(th)
        for h in v_harm:
            v += h[1] * math.sin(h[0] * th - math.radians(h[2]))
        th_i = w * (t + skew)
        c = math.sin(th_i - phi)
        for h in i_harm:
            c += h[1] * math.sin(h[0] * th_i - math.radians(h[2]) - h[0] * phi)
        nv = ni = 0
        if noise:
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF
            nv = (x >> 8) % (2 * noise + 1) - noise
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF
            ni = (x >> 8) % (2 * noise + 1) - noise
        cv = int(math.floor(zero + v_dc + va * v + 0.5)) + nv
        ci = int(math.floor(zero + i_dc + ia * c + 0.5)) + ni
        buf[2 * k] = high if cv > high else low if cv < low else cv
        buf[2 * k + 1] = high if ci > high else low if ci < low else ci
    return buf


def run_engine(buf, rate_hz=4000, bits=24, period_ms=200, block_pairs=400, skew_us=0, calibration=None):
    """Feed buf block by block; returns the list of per-period readings dicts plus pairs."""
    from metrology.maths import Engine

    vpc, ipc = scales(bits)
    got = []

    def keep(r):
        d = r.as_dict()
        d["pairs"] = r.pairs
        d["cycles"] = r.cycles
        d["glitches"] = r.glitches
        d["p_exact"] = r.p_w
        d["q_exact"] = r.q_var
        d["f_exact"] = r.freq_hz
        got.append(d)

    eng = Engine(rate_hz, rate_hz * period_ms // 1000, vpc, ipc, adc_bits=bits, zero_count=2048 if bits == 12 else 0,
                 skew_us=skew_us, calibration=calibration, on_period=keep)
    total = len(buf) >> 1
    mv = memoryview(buf)
    at = 0
    while at < total:
        n = min(block_pairs, total - at)
        eng.add_block(mv[2 * at:2 * (at + n)], n)
        at += n
    return got, eng


def blocks(total_pairs, block_pairs=400, rate_hz=4000, **kw):
    """wave() in consecutive blocks (small heaps): yields (buf, pairs) covering total_pairs."""
    at = 0
    while at < total_pairs:
        n = min(block_pairs, total_pairs - at)
        yield wave(n, rate_hz=rate_hz, t0_s=at / rate_hz, seed=at + 1, **kw), n
        at += n


def feed(engine, total_pairs, block_pairs=400, edit=None, **kw):
    """Feed blocks of wave() into engine (an Engine or meter Metrology); edit(buf, first_pair) may alter them."""
    at = 0
    for buf, n in blocks(total_pairs, block_pairs, **kw):
        if edit is not None:
            edit(buf, at)
        engine.add_block(buf, n)
        at += n
