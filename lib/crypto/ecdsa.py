# ECDSA P-256 (secp256r1) signature verification over SHA-256, in plain Python integers.
#
#   verify(public_key, digest, signature) -> True / False
#   public_key: 65 bytes 04 || X || Y;  digest: 32 bytes (SHA-256 of the message);
#   signature: 64 bytes r || s, big-endian (not DER).
#
# Speed matters on a device (MicroPython long ints allocate on every operation), so:
# - u1*G + u2*Q in one interleaved double-and-add chain (Shamir's trick) over width-w NAF
#   digits: 256 doublings shared by both scalars, one addition per non-zero digit;
# - G's odd multiples come from a table computed offline (crypto/p256_table.py, one bytes
#   literal: flash, not heap, on a device; a point is decoded when it is added), Q's are
#   computed per call and made affine with one inversion, so every addition is "mixed"
#   (Jacobian + affine: 8 multiplications instead of 12 + 4);
# - Jacobian coordinates with the a = -3 doubling formula (3M + 5S), values reduced only
#   after multiplications;
# - no inversion at the end: x(R) = X / Z^2 is compared as r * Z^2 == X (mod p).

from micropython import const
from crypto.p256_table import G_WINDOW, G_POINTS

P = const(0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF)
N = const(0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551)
B = const(0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B)
GX = const(0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296)
GY = const(0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5)

PUBLIC_KEY_BYTES = const(65)
SIGNATURE_BYTES = const(64)
DIGEST_BYTES = const(32)
_Q_WINDOW = const(5)  # Q's odd multiples 1Q .. 15Q: 7 additions to make, ~43 to use


class ECDSAError(ValueError):
    """A public key that is not a point of P-256, or inputs of the wrong length."""


def _int(b):
    return int.from_bytes(b, "big")


def _inverse(a, m):
    """a^-1 mod m (m prime)."""
    return pow(a, m - 2, m)


def public_point(public_key):
    """(x, y) of a 65-byte uncompressed P-256 public key; raises ECDSAError unless on the curve."""
    if len(public_key) != PUBLIC_KEY_BYTES or public_key[0] != 4:
        raise ECDSAError("public key must be 65 bytes 04||X||Y")
    x = _int(public_key[1:33])
    y = _int(public_key[33:65])
    if x >= P or y >= P or (y * y - (x * x * x - 3 * x + B)) % P:
        raise ECDSAError("public key is not a point of P-256")
    return x, y


def _wnaf(k, w):
    """Width-w NAF digits of k, least significant first, as a list of 257 small ints.

    Windows are read from k's bytes with small-int arithmetic (no long-int work per bit).
    """
    b = k.to_bytes(35, "little")  # 257 digits, and 2 bytes of room for the last window
    digits = [0] * 257
    mask = (1 << w) - 1
    half = 1 << (w - 1)
    carry = 0
    i = 0
    while i < 257:
        j = i >> 3
        if (b[j] >> (i & 7)) & 1 == carry:
            i += 1
            continue
        window = (((b[j] | b[j + 1] << 8 | b[j + 2] << 16) >> (i & 7)) & mask) + carry
        if window > half:
            digits[i] = window - (1 << w)
            carry = 1
        else:
            digits[i] = window
            carry = 0
        i += w
    return digits


def g_point(k):
    """(x, y) of table point k, (2k+1)G: two long ints decoded from the bytes table."""
    g = memoryview(G_POINTS)
    o = k << 6
    return _int(g[o:o + 32]), _int(g[o + 32:o + 64])


def _odd_multiples(x, y, count):
    """Affine (xs, ys, neg_ys) of 1, 3, 5 .. (2*count - 1) times the point (x, y).

    Jacobian additions of 2P, then one inversion for all of them (Montgomery's trick).
    """
    p = P
    X2, Y2, Z2 = _double(x, y, 1)
    xs_j = [x]
    ys_j = [y]
    zs_j = [1]
    X, Y, Z = x, y, 1
    for _ in range(count - 1):
        X, Y, Z = _add(X2, Y2, Z2, X, Y, Z)
        xs_j.append(X)
        ys_j.append(Y)
        zs_j.append(Z)
    # Batch inversion of the Zs.
    prefix = [1] * count
    acc = 1
    for i in range(count):
        prefix[i] = acc
        acc = acc * zs_j[i] % p
    if acc == 0:
        raise ECDSAError("public key of small order")
    inv = _inverse(acc, p)
    xs = [0] * count
    ys = [0] * count
    neg = [0] * count
    for i in range(count - 1, -1, -1):
        zi = inv * prefix[i] % p  # 1 / Z_i
        inv = inv * zs_j[i] % p
        zi2 = zi * zi % p
        xs[i] = xs_j[i] * zi2 % p
        yy = ys_j[i] * zi2 * zi % p
        ys[i] = yy
        neg[i] = p - yy
    return xs, ys, neg


def _double(X, Y, Z):
    """2 * (X, Y, Z) in Jacobian coordinates, a = -3 (infinity, Z = 0, stays infinity)."""
    p = P
    d = Z * Z % p
    g = Y * Y % p
    b = X * g % p
    a = 3 * (X - d) * (X + d) % p
    X3 = (a * a - 8 * b) % p
    return X3, (a * (4 * b - X3) - 8 * g * g) % p, 2 * Y * Z % p


def _add(X1, Y1, Z1, X2, Y2, Z2):
    """(X1, Y1, Z1) + (X2, Y2, Z2), both Jacobian; handles infinity and equal points."""
    p = P
    if not Z1:
        return X2, Y2, Z2
    if not Z2:
        return X1, Y1, Z1
    z1z1 = Z1 * Z1 % p
    z2z2 = Z2 * Z2 % p
    u1 = X1 * z2z2 % p
    u2 = X2 * z1z1 % p
    s1 = Y1 * Z2 * z2z2 % p
    s2 = Y2 * Z1 * z1z1 % p
    h = (u2 - u1) % p
    r = (s2 - s1) % p
    if not h:
        if r:
            return 1, 1, 0
        return _double(X1, Y1, Z1)
    hh = h * h % p
    hhh = h * hh % p
    v = u1 * hh % p
    X3 = (r * r - hhh - 2 * v) % p
    return X3, (r * (v - X3) - s1 * hhh) % p, Z1 * Z2 * h % p


def verify(public_key, digest, signature):
    """True if signature (r||s) is a valid ECDSA P-256 signature of digest under public_key.

    Raises ECDSAError for a malformed public key or wrong lengths (a caller error, not a bad
    signature); a signature that does not verify, including r or s out of range, is False.
    """
    if len(signature) != SIGNATURE_BYTES:
        raise ECDSAError("signature must be 64 bytes r||s")
    if len(digest) != DIGEST_BYTES:
        raise ECDSAError("digest must be 32 bytes (SHA-256)")
    qx, qy = public_point(public_key)
    return verify_point(qx, qy, digest, signature)


def verify_point(qx, qy, digest, signature):
    """verify() for a public key already checked by public_point()."""
    p = P
    n = N
    r = _int(signature[0:32])
    s = _int(signature[32:64])
    if not (0 < r < n and 0 < s < n):
        return False
    e = _int(digest) % n
    w = _inverse(s, n)
    d1 = _wnaf(e * w % n, G_WINDOW)
    d2 = _wnaf(r * w % n, _Q_WINDOW)
    qxs, qys, qneg = _odd_multiples(qx, qy, 1 << (_Q_WINDOW - 2))
    gpts = memoryview(G_POINTS)  # (2k+1)G: x at 64k, y at 64k + 32
    X = Y = 1
    Z = 0
    started = False
    i = 256
    while i >= 0:
        if started:
            # Doubling, a = -3 (inlined: it runs 256 times).
            d = Z * Z % p
            g = Y * Y % p
            b = X * g % p
            a = 3 * (X - d) * (X + d) % p
            Z = 2 * Y * Z % p
            X = (a * a - 8 * b) % p
            Y = (a * (4 * b - X) - 8 * g * g) % p
        for k in (0, 1):
            digit = d1[i] if k == 0 else d2[i]
            if not digit:
                continue
            if k == 0:
                o = (digit if digit > 0 else -digit) >> 1 << 6
                x2 = _int(gpts[o:o + 32])
                y2 = _int(gpts[o + 32:o + 64])
                if digit < 0:
                    y2 = p - y2
            else:
                if digit > 0:
                    x2 = qxs[digit >> 1]
                    y2 = qys[digit >> 1]
                else:
                    x2 = qxs[-digit >> 1]
                    y2 = qneg[-digit >> 1]
            if not Z:
                X = x2
                Y = y2
                Z = 1
                started = True
                continue
            # Mixed addition (Jacobian + affine).
            z1z1 = Z * Z % p
            h = (x2 * z1z1 - X) % p
            rr = (y2 * Z * z1z1 - Y) % p
            if not h:
                if rr:
                    X = Y = 1
                    Z = 0  # R = -P: infinity
                    continue
                X, Y, Z = _double(X, Y, Z)
                continue
            hh = h * h % p
            hhh = h * hh % p
            v = X * hh % p
            Z = Z * h % p
            X = (rr * rr - hhh - 2 * v) % p
            Y = (rr * (v - X) - Y * hhh) % p
        i -= 1
    if not Z:
        return False
    zz = Z * Z % p
    if r * zz % p == X:
        return True
    # x(R) may be in [n, p): then r = x(R) - n.
    return r + n < p and (r + n) * zz % p == X
