"""Activation functions: names, integer codes, and the scalar maths.

Kernels receive activations as integer codes (never Python callables) so that
they compile once per dtype, or once per set of codes (``activation_set``)
where they take one as a constant.  Every function here is written in the
numerically stable form: no overflow for large ``|z|``, and the derivative
comes out of the same exponential as the value where the two share one.

==============  =====================================  ==============================
name            f(z)                                   f'(z)
==============  =====================================  ==============================
``identity``    z                                      1
``sigmoid``     1 / (1 + exp(-z))                      f (1 - f)
``tanh``        tanh(z)                                1 - f^2
``relu``        max(z, 0)                              1 if z > 0 else 0
``leaky_relu``  z if z > 0 else 0.01 z                 1 if z > 0 else 0.01
``softplus``    log(1 + exp(z))                        sigmoid(z)
``elu``         z if z > 0 else exp(z) - 1             1 if z > 0 else f + 1
``softmax``     exp(z_k) / sum_j exp(z_j)              (output layer, cross_entropy only)
==============  =====================================  ==============================

The constants match PyTorch's defaults (``negative_slope=0.01``, ``alpha=1``).

Sections, in order: ``exp`` and ``expm1``, then ``log1p`` (plain arithmetic,
so that loops over a layer vectorise, and built for latency); the scalar
activations and their slopes; a tanh from tabulated polynomials for the
tiny per-sample loop, where latency is all; float32 forms of tanh and
sigmoid; float64 forms without a table for the loops over a layer
(``expm1_and_exp_no_table``: they vectorise without gathers); the
dispatch by code (``activate``, ``activate_for_latency``) and the loops
over a layer's units (``activate_layer``, ``activate_in_place``,
compiled for the activations of a set of codes, ``among``).
"""

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

from ._jit import SCALAR_OPTIONS, among_flags, cast_like, dispatch, has_avx512, inlined, scalar

IDENTITY = 0
SIGMOID = 1
TANH = 2
RELU = 3
LEAKY_RELU = 4
SOFTPLUS = 5
ELU = 6
SOFTMAX = 7

HIDDEN_ACTIVATIONS = {
    "identity": IDENTITY,
    "sigmoid": SIGMOID,
    "tanh": TANH,
    "relu": RELU,
    "leaky_relu": LEAKY_RELU,
    "softplus": SOFTPLUS,
    "elu": ELU,
}
OUTPUT_ACTIVATIONS = dict(HIDDEN_ACTIVATIONS, softmax=SOFTMAX)
NAMES = {code: name for name, code in OUTPUT_ACTIVATIONS.items()}

LEAKY_RELU_SLOPE = 0.01
ELU_ALPHA = 1.0


# ------------------------------------------------------------ exp, expm1
# libm's exp and tanh are opaque calls that keep a loop from vectorising (and
# pip's llvmlite has no vector maths library), so the activations are built on
# an exp written as plain arithmetic.  Per-sample SGD on a small network is a
# chain of dependent activations, so the exp is also built for latency:
#
#   e^x = 2^(k/64) e^r,  k = round(64 x / ln 2),  |r| <= ln(2)/128,
#
# 2^(k/64) = 2^(k >> 6) * TABLE[k & 63], and e^r = 1 + q.  For exp, q = r +
# r^2 P(r), P a cubic fitted at Chebyshev nodes (1 + q within 5e-18, 1/50 ulp,
# of e^r); expm1 needs q itself to 1e-19 (its result can be as small as q),
# and takes the degree-6 Taylor polynomial.  Both are in Estrin's form, three
# multiply-adds deep.
# k comes from the rounding shifter (adding 1.5 * 2^52 leaves k in the low
# bits), not from floor; ln 2 / 64 is split in two so that k * LN2_HIGH is
# exact.  Nothing on the way from x to the result is a clamp or a branch:
# where 2^(k >> 6) is a normal number it is added into the table entry's
# exponent bits, and the other inputs (subnormal results, overflow, NaN) are
# chosen among at the end, from tests on x that run alongside.  There the
# scale is applied in two halves, so that a subnormal result rounds once.
# Compiled as ``_jit.scalar``, never with the kernels' reassociation, which
# would undo the two-part ln 2.  Measured against long double (and mpmath)
# over millions of points: exp within 1.02 ulp, expm1 2, tanh 4, sigmoid 3
# where the result is a normal number; NaN and inf behave as in libm.

EXP_TABLE_SIZE = 64


def _power_of_two_tables():
    """Bit patterns of 2^(j/64), j = 0..63, and of 2^(j/64) - 1, j = -64..64, correctly rounded."""
    import decimal

    context = decimal.Context(prec=60)
    ln2 = context.ln(decimal.Decimal(2))

    def bits(values):
        return np.array([float(v) for v in values], dtype=np.float64).view(np.int64)

    powers = [context.exp(ln2 * j / EXP_TABLE_SIZE) for j in range(-EXP_TABLE_SIZE, EXP_TABLE_SIZE + 1)]
    return bits(powers[EXP_TABLE_SIZE:2 * EXP_TABLE_SIZE]), bits(p - 1 for p in powers)


EXP_TABLE_BITS, EXPM1_TABLE_BITS = _power_of_two_tables()
ONE_BITS = EXP_TABLE_BITS[0]  # the bit pattern of 1.0
ROUNDING_SHIFTER = 6755399441055744.0  # 1.5 * 2^52: x + it rounds x to an integer
SIXTYFOUR_OVER_LN2 = EXP_TABLE_SIZE / math.log(2.0)
LN2_HIGH_WHOLE = 6.93147180369123816490e-01  # ln 2 in two parts, the first with 32 bits
LN2_LOW_WHOLE = 1.90821492927058770002e-10
LN2_HIGH = LN2_HIGH_WHOLE / EXP_TABLE_SIZE  # ln 2 / 64 in two parts (exactly: 64 is a power of 2)
LN2_LOW = LN2_LOW_WHOLE / EXP_TABLE_SIZE
EXP_OVERFLOW = 709.782712893384  # about the largest x with a finite e^x
EXP_NORMAL = (-708.39, 709.77)  # 2^(k >> 6) is a normal number in this range of x
EXP_UNDERFLOW = -746.0  # e^x rounds to 0 below this
# P(r) = (e^r - 1 - r) / r^2 on |r| <= ln(2)/128: the cubic through its values
# at the four Chebyshev nodes (computed with mpmath at 50 digits).
EXP_P0 = 0.4999999999998506
EXP_P1 = 0.16666666666664534
EXP_P2 = 0.041666707403338075
EXP_P3 = 0.008333339152857227


def _reinterpret(source, target):
    """An intrinsic that reads the IEEE-754 bits of a ``source`` value as a ``target`` (same width)."""

    @intrinsic
    def reinterpret(typingctx, value):
        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], context.get_value_type(target))

        return target(source), codegen

    reinterpret.__doc__ = f"The {target} with the bit pattern of the {source} ``value``."
    return reinterpret


_float64_from_bits = _reinterpret(types.int64, types.float64)
_bits_of_float64 = _reinterpret(types.float64, types.int64)
_float32_from_bits = _reinterpret(types.int32, types.float32)  # an int64 argument is truncated first
_bits_of_float32 = _reinterpret(types.float32, types.int32)


@intrinsic
def _fma(typingctx, a, b, c):
    """``a * b + c`` rounded once (``llvm.fma``), which fastmath never rewrites.

    In float32 when all three are float32, else in float64.
    """
    precision = types.float32 if all(arg == types.float32 for arg in (a, b, c)) else types.float64

    def codegen(context, builder, signature, args):
        real = context.get_value_type(precision)
        function = builder.module.declare_intrinsic("llvm.fma", [real], ir.FunctionType(real, [real] * 3))
        return builder.call(function, [context.cast(builder, value, ty, precision)
                                       for value, ty in zip(args, signature.args)])

    return precision(a, b, c), codegen


@inlined
def _exp_reduction(y):
    """``(k, r)`` with ``y = k ln(2) / 64 + r``, ``|r| <= ln(2) / 128``, for finite ``|y| < 750``.

    For larger or non-finite ``y`` the results are meaningless (but harmless:
    ``k & 63`` is still a table index); callers test ``y`` themselves.
    """
    shifted = _fma(y, SIXTYFOUR_OVER_LN2, ROUNDING_SHIFTER)
    k = _bits_of_float64(shifted) - _bits_of_float64(ROUNDING_SHIFTER)
    kf = shifted - ROUNDING_SHIFTER
    return k, _fma(-kf, LN2_LOW, _fma(-kf, LN2_HIGH, y))  # y - k ln(2) / 64


@inlined
def _exp_polynomial(r):
    """``q`` with ``1 + q = e^r`` to 5e-18 relative, for ``|r| <= ln(2) / 128``."""
    r2 = r * r
    return _fma(r2, _fma(r2, _fma(r, EXP_P3, EXP_P2), _fma(r, EXP_P1, EXP_P0)), r)


@inlined
def _expm1_polynomial(r):
    """``q = e^r - 1`` to 3e-20 relative (Taylor to degree 6), for ``|r| <= ln(2) / 128``."""
    r2 = r * r
    low = _fma(r2, _fma(r, 1.0 / 6.0, 0.5), r)  # r + r^2/2 + r^3/6
    high = _fma(r2, 1.0 / 720.0, _fma(r, 1.0 / 120.0, 1.0 / 24.0))  # 1/24 + r/120 + r^2/720
    return _fma(r2 * r2, high, low)


@inlined
def _times_power_of_two(bits, power):
    """The float64 of bit pattern ``bits`` (a table entry, in [1, 2)) times ``2^power``.

    One integer add into the exponent field: exact while the result is a
    normal number, ``-1022 <= power <= 1023``.
    """
    return _float64_from_bits(bits + (power << 52))


@inlined
def _exp_tail(x, k, q, bits):
    """``e**x = 2^(k/64) (1 + q)`` outside ``EXP_NORMAL``: subnormal results, 0, inf and NaN.

    ``bits`` is the table entry of ``2^((k & 63) / 64)``.  ``2^(k >> 6)`` alone
    under- or overflows the exponent field at the ends of the range, so it
    is applied in two halves, the second after ``1 + q``: a subnormal
    result rounds once, not twice.
    """
    power = k >> 6
    half = power >> 1
    scaled = _times_power_of_two(bits, half)
    tail = _fma(scaled, q, scaled) * _times_power_of_two(ONE_BITS, power - half)
    if x < EXP_UNDERFLOW:
        tail = 0.0
    if x > EXP_OVERFLOW:
        tail = math.inf
    return tail if x == x else x


@scalar
def exp(x):
    """``e**x`` to about 1 ulp (worst measured 1.02), in arithmetic a loop can vectorise.

    Examples
    --------
    >>> from nbprop.activations import exp
    >>> import math
    >>> abs(exp(1.0) - math.e) <= math.ulp(math.e), exp(-1000.0), exp(1000.0)
    (True, 0.0, inf)
    """
    k, r = _exp_reduction(x)
    q = _exp_polynomial(r)
    bits = EXP_TABLE_BITS[k & 63]
    power = _times_power_of_two(bits, k >> 6)
    result = _fma(power, q, power)
    if EXP_NORMAL[0] <= x <= EXP_NORMAL[1]:  # False for NaN
        return result
    return _exp_tail(x, k, q, bits)


@scalar
def expm1_and_exp(x):
    """``(e**x - 1, e**x)`` from one range reduction, both without cancellation.

    With ``e^x = s (1 + q)``, ``s = 2^(k/64)``: for ``|k| <= 64`` (``|x|`` up to
    about ln 2), where ``e^x - 1`` would inherit the rounding error of ``e^x``
    magnified, it is ``(s - 1) + s q`` with ``s - 1`` correctly rounded from
    its own table (for ``|x| < ln(2)/128``, ``q`` itself); further out it is
    ``e^x - 1``, which cancels at most one bit.  Outside ``EXP_NORMAL`` the
    exponential comes from ``exp``'s tail (subnormal, inf or NaN) and
    ``e^x - 1`` from it.
    """
    k, r = _exp_reduction(x)
    q = _expm1_polynomial(r)
    bits = EXP_TABLE_BITS[k & 63]
    power = _times_power_of_two(bits, k >> 6)
    e = _fma(power, q, power)
    near = -EXP_TABLE_SIZE <= k <= EXP_TABLE_SIZE
    index = k + EXP_TABLE_SIZE if near else 0
    e_minus_1 = _fma(power, q, _float64_from_bits(EXPM1_TABLE_BITS[index])) if near else e - 1.0
    if EXP_NORMAL[0] <= x <= EXP_NORMAL[1]:  # False for NaN
        return e_minus_1, e
    tail = _exp_tail(x, k, q, bits)
    return tail - 1.0, tail


@scalar
def expm1(x):
    """``e**x - 1``, accurate near 0 too (no cancellation), in vectorisable arithmetic.

    Examples
    --------
    >>> from nbprop.activations import expm1
    >>> expm1(1e-10)
    1.00000000005e-10
    """
    return expm1_and_exp(x)[0]


# ------------------------------------------------------------ log1p
# softplus needs log(1 + e) for 0 <= e <= 1; libm's log1p is an opaque call
# that keeps a layer's loop from vectorising (and costs 16 ns a unit), so it
# is built here from arithmetic.  With w = 1 + e rounded, 1 + e = w (1 + c/w)
# exactly to first order, c = e - (w - 1) the rounding error (w - 1 is exact).
# w is brought into [sqrt(1/2), sqrt(2)] as 2^k (1 + f), k in {0, 1}, f exact;
# then log(1 + f) = 2 atanh(s), s = f / (2 + f), |s| <= 0.1716, written as
# f - (f^2/2 - s (f^2/2 + R)) with R = 2 s^2/3 + 2 s^4/5 + ...: f is exact and
# the bracket is at most a fifth of it, so R needs only 2e-15 relative, which
# its Taylor series in s^2 gives at 9 terms (0.0295^9 / 21 * 3 < 2e-15).

SQRT2 = math.sqrt(2.0)


@inlined
def _log1p_of_fraction(e, one_plus_e, reciprocal):
    """``log(1 + e)`` for ``0 <= e <= 1``, given ``1 + e`` rounded and its reciprocal to 1e-15; within about 1 ulp.

    NaN gives NaN.  Written without branches (both of the choices below are
    selects), so that a loop over it vectorises.  The reciprocal only scales
    the correction, a few ulp at most, so any close one does: the caller's
    slope has one at hand, and a second division would cost more than the
    rest of the function.
    """
    w = one_plus_e
    correction = (e - (w - 1.0)) * reciprocal  # log(1 + e) = log(w) + correction, to 1e-32
    halve = w > SQRT2
    f = (0.5 * w if halve else w) - 1.0  # exact
    k = 1.0 if halve else 0.0
    s = f / (2.0 + f)
    z = s * s
    z2 = z * z
    z4 = z2 * z2
    series = _fma(z4, _fma(z4, 2.0 / 19.0, _fma(z2, _fma(z, 2.0 / 17.0, 2.0 / 15.0), _fma(z, 2.0 / 13.0, 2.0 / 11.0))),
                  _fma(z2, _fma(z, 2.0 / 9.0, 2.0 / 7.0), _fma(z, 2.0 / 5.0, 2.0 / 3.0)))
    r = z * series  # R
    half_f_squared = 0.5 * f * f
    log_1_plus_f = f - (half_f_squared - s * (half_f_squared + r))
    return k * LN2_HIGH_WHOLE + (log_1_plus_f + _fma(k, LN2_LOW_WHOLE, correction))


# ----------------------------------------------------- scalar activations
# Each derivative is computed from the exponential, not from the value:
# ``1 - tanh^2`` and ``s (1 - s)`` cancel where the unit saturates, and
# would carry the value's rounding error magnified a thousandfold there.

@scalar
def sigmoid_and_slope(z):
    """``(s, s')`` of the logistic sigmoid: ``s = 1 / (1 + E)``, ``s' = s^2 E``, ``E = e^-z``.

    ``s`` has one exponential and one division on its path from ``z``, the
    shortest there is: per-sample SGD on a small network waits on it at
    every layer.  For ``z < 0`` the slope is ``s (1 - s)``, where ``1 - s``
    does not cancel (and ``E`` may be inf).
    """
    big = exp(-z)
    s = 1.0 / (1.0 + big)
    return s, (s * s * big if z >= 0 else s - s * s)


@scalar
def sigmoid(z):
    """Logistic sigmoid ``1 / (1 + exp(-z))``, for every ``z`` without overflow or NaN.

    For very negative ``z``, ``exp(-z)`` overflows to inf and the result to
    0, within 6e-309 of the true value; wherever the result is a normal
    number it is within 3 ulp.

    Examples
    --------
    >>> from nbprop.activations import sigmoid
    >>> sigmoid(0.0), sigmoid(-1000.0), sigmoid(1000.0)
    (0.5, 0.0, 1.0)
    """
    return sigmoid_and_slope(z)[0]


@inlined
def _tanh_and_slope_from(m, e, z):
    """``(t, 1 - t^2)``: ``t = -m / (2 + m)`` with the sign of ``z``, ``1 - t^2 = 4 e / (2 + m)^2``.

    Here ``m = e^(-2|z|) - 1`` and ``e = e^(-2|z|)``, in the precision of ``m``.
    """
    denominator = cast_like(2.0, m) + m
    return math.copysign(-m / denominator, z), cast_like(4.0, m) * e / (denominator * denominator)


@scalar
def tanh_and_slope(z):
    """``(tanh z, 1 - tanh^2 z)`` from ``m = e^(-2|z|) - 1`` and ``e^(-2|z|)``, one range reduction.

    ``tanh z = -m / (2 + m)`` with the sign of ``z``: no cancellation near 0,
    where ``m`` is an ``expm1``, and no overflow; the slope, ``4 e / (2 + m)^2``,
    keeps its relative accuracy where the unit saturates.
    """
    m, e = expm1_and_exp(-2.0 * abs(z))
    return _tanh_and_slope_from(m, e, z)


@scalar
def tanh(z):
    """``tanh(z) = -expm1(-2|z|) / (2 + expm1(-2|z|))`` with the sign of ``z``.

    Examples
    --------
    >>> from nbprop.activations import tanh
    >>> tanh(0.5) == 0.46211715726000974, tanh(-1000.0)
    (True, -1.0)
    """
    return tanh_and_slope(z)[0]


@scalar
def softplus(z):
    """``log(1 + exp(z))`` as ``max(z, 0) + log1p(exp(-|z|))``: no overflow.

    Examples
    --------
    >>> from nbprop.activations import softplus
    >>> softplus(0.0) == 0.6931471805599453, softplus(1000.0)
    (True, 1000.0)
    """
    return softplus_and_slope(z)[0]


@scalar
def relu_and_slope(z):
    """``(max(z, 0), 1 if z > 0 else 0)``; ``0 * z`` keeps NaN a NaN."""
    if z > 0:
        return z, 1.0
    return 0.0 * z, 0.0


@scalar
def leaky_relu_and_slope(z):
    """``(z, 1)`` for ``z > 0``, else ``(0.01 z, 0.01)``."""
    if z > 0:
        return z, 1.0
    return LEAKY_RELU_SLOPE * z, LEAKY_RELU_SLOPE


@dispatch
def softplus_and_slope(z):
    """``(log(1 + e^z), sigmoid(z))`` from the one exponential ``e = exp(-|z|)``.

    Two functions, not one, so that LLVM inlines both into a loop over a
    layer (together they are more code than it inlines), and the loop
    vectorises; this one holds no arithmetic of its own.
    """
    return _softplus_from_exp(z, exp(-abs(z)))


@scalar
def _softplus_from_exp(z, e):
    """``softplus_and_slope(z)`` given ``e = exp(-|z|)``: ``max(z, 0) + log1p(e)``, and ``1 / (1 + e)`` or ``e / (1 + e)``.

    No branch (the choices are selects), so that a loop over it vectorises.
    """
    one_plus_e = 1.0 + e
    slope = (1.0 if z >= 0 else e) / one_plus_e
    reciprocal = slope if z >= 0 else 1.0 - slope  # 1 / (1 + e): 1 - slope >= 1/2 does not cancel
    return (z if z > 0 else 0.0) + _log1p_of_fraction(e, one_plus_e, reciprocal), slope  # NaN: NaN + 0


@scalar
def elu_and_slope(z):
    """``(z, 1)`` for ``z > 0``, else ``(alpha (e^z - 1), alpha e^z)`` (the slope without cancelling).

    The exponential is taken for every ``z`` (of ``min(z, 0)``) and the
    result chosen after: a branch around it, taken at random on a layer's
    units, would keep the loop from vectorising (14 ns a unit, against 2).
    """
    negative = z <= 0  # False for NaN, which goes on as z
    f, e = expm1_and_exp(z if negative else 0.0)
    return (ELU_ALPHA * f if negative else z), (ELU_ALPHA * e if negative else 1.0)


# ------------------------------------------------ tanh for latency
# Per-sample SGD on a tiny network waits, sample after sample, on each hidden
# unit's tanh: the exp, the division and the selects above are about 60 cycles
# deep (measured as a chain of dependent calls), ``tanh_and_slope_tabulated``
# about 40: |z| is split at the nearest
# multiple of 1/32, c + t with |t| <= 1/64, and tanh and its slope sech^2 come
# from two degree-7 polynomials in t stored for that c, in Estrin's form (three
# multiply-adds deep) with their constant terms added last.  The interval's
# index is the low byte of |z| + 1.5 * 2^47 (which also rounds |z| to c), so
# a load follows four integer operations.  Where |z| is past the table
# (about 8), and for NaN, it is ``tanh_and_slope``.  The tables' loads and
# multiply-adds are too many for a vectorised loop over a layer, where
# ``tanh_and_slope`` stays the faster: only ``activate_for_latency``'s callers
# (the tiny loop) use it.

TANH_TABLE_STEP = 1.0 / 32.0  # distance between the centres c
TANH_TABLE_SIZE = 256  # centres 0, 1/32, ..., 255/32
TANH_TABLE_DEGREE = 7
TANH_TABLE_END = (TANH_TABLE_SIZE - 0.5) * TANH_TABLE_STEP  # |z| below this is in the table
TANH_ROUNDING_SHIFTER = 1.5 * 2.0 ** 52 * TANH_TABLE_STEP  # |z| + it: |z| rounded to a multiple of 1/32


def _tanh_tables(taylor_degree=16):
    """Coefficients ``(n, 2 (degree + 1))``: row ``i`` holds ``[T0, S0, T1, S1, ...]`` for the centre ``i/32``.

    ``sum_k T_k t^k`` is tanh and ``sum_k S_k t^k`` is sech^2 at ``i/32 + t``.
    Each is the Chebyshev economisation, on ``|t| <= 1/64``, of the Taylor
    series about the centre, to within 1e-19 relative.  The series come from
    the ODE of ``G = 1 - tanh``, ``G' = G^2 - 2 G``, and ``sech^2 = -G'``: it
    keeps their relative accuracy where tanh is close to 1, and it is
    computed in long double.  At the centre 0 the series is odd, and the
    polynomial with it, so tanh stays accurate relative to z near 0.
    """
    wide = np.longdouble
    centres = np.arange(TANH_TABLE_SIZE, dtype=wide) * wide(TANH_TABLE_STEP)
    g = np.zeros((taylor_degree + 2, TANH_TABLE_SIZE), dtype=wide)  # Taylor coefficients of G
    g[0] = 2 / (1 + np.exp(2 * centres))
    for n in range(taylor_degree + 1):
        g[n + 1] = (sum(g[k] * g[n - k] for k in range(n + 1)) - 2 * g[n]) / (n + 1)
    tanh_series = -g[:-1]
    tanh_series[0] = 1 - g[0]
    slope_series = -np.arange(1, taylor_degree + 2, dtype=wide)[:, None] * g[1:]
    # In s = t / (1/64), s^n = 2^(1-n) sum_k binom(n, k) T_(n-2k)(s), the term
    # in T_0 halved: the series in Chebyshev polynomials, cut after degree 7,
    # then back to powers of s with T_n = 2 s T_(n-1) - T_(n-2).
    powers = (wide(TANH_TABLE_STEP) / 2) ** np.arange(taylor_degree + 1, dtype=wide)
    to_chebyshev = np.zeros((taylor_degree + 1, taylor_degree + 1), dtype=wide)
    for n in range(taylor_degree + 1):
        for k in range(n // 2 + 1):
            weight = wide(math.comb(n, k)) / wide(2) ** max(n - 1, 0)
            to_chebyshev[n - 2 * k, n] += weight / 2 if n - 2 * k == 0 < n else weight
    degree = TANH_TABLE_DEGREE
    to_powers = np.zeros((degree + 1, degree + 1), dtype=wide)
    to_powers[0, 0] = to_powers[1, 1] = 1
    for n in range(2, degree + 1):
        to_powers[1:, n] = 2 * to_powers[:-1, n - 1]
        to_powers[:, n] -= to_powers[:, n - 2]
    table = np.empty((TANH_TABLE_SIZE, 2 * (degree + 1)))
    for column, series in enumerate((tanh_series, slope_series)):
        chebyshev = to_chebyshev @ (series * powers[:, None])
        table[:, column::2] = ((to_powers @ chebyshev[:degree + 1]) / powers[:degree + 1, None]).T
    return table


TANH_TABLE = _tanh_tables()


@inlined
def _tabulated_polynomial(row, column, t, t2, t4):
    """``sum_k row[2k + column] t^k``, k = 0..7: Estrin's form, the constant term added last."""
    low = _fma(t2, _fma(row[column + 6], t, row[column + 4]), row[column + 2] * t)
    high = _fma(t2, _fma(row[column + 14], t, row[column + 12]), _fma(row[column + 10], t, row[column + 8]))
    return row[column] + _fma(t4, high, low)


@scalar
def _tanh_and_slope_in_table(z):
    """``tanh_and_slope_tabulated`` where ``|z| < TANH_TABLE_END``; any other ``z`` gives meaningless numbers.

    Apart from its caller, so that LLVM inlines each: together they are more
    code than it inlines into a loop.
    """
    a = abs(z)
    shifted = a + TANH_ROUNDING_SHIFTER
    t = a - (shifted - TANH_ROUNDING_SHIFTER)  # exact
    # The shifter's low mantissa bits are zero, so the low byte of shifted's
    # bits is the centre's index (and any byte is a row: no bounds to check).
    row = TANH_TABLE[np.uint64(_bits_of_float64(shifted)) & np.uint64(TANH_TABLE_SIZE - 1)]
    t2 = t * t
    t4 = t2 * t2
    return math.copysign(_tabulated_polynomial(row, 0, t, t2, t4), z), _tabulated_polynomial(row, 1, t, t2, t4)


@dispatch
def tanh_and_slope_tabulated(z):
    """``(tanh(z), 1 - tanh(z)^2)`` from ``TANH_TABLE``: about 20 cycles sooner than ``tanh_and_slope``.

    Within 1.3 ulp and 1.5 ulp (measured against long double) where
    ``|z| < TANH_TABLE_END``; ``tanh_and_slope`` (2.6 and 5 ulp) further out
    and for NaN.

    Examples
    --------
    >>> from nbprop.activations import tanh_and_slope_tabulated
    >>> tanh_and_slope_tabulated(0.0), tanh_and_slope_tabulated(-1000.0)
    ((0.0, 1.0), (-1.0, 0.0))
    """
    if abs(z) < TANH_TABLE_END:  # False for NaN
        return _tanh_and_slope_in_table(z)
    return tanh_and_slope(z)


# -------------------------------------------------- float32 sigmoid and tanh
# float32 models compute these two in float32 where their loops vectorise
# (``activate_layer``, ``activate_in_place``): 16 lanes per 512-bit vector
# instead of 8, and no table gather (a gather of 2^(j/64) per lane costs
# more than the polynomial it saves).  The reduction is
#
#   e^x = 2^k e^r = 2^k (1 + q),  k = round(x / ln 2),  |r| <= ln(2)/2,
#
# with k from the rounding shifter (1.5 * 2^23), r = x - k ln 2 with ln 2 in
# two float32 parts (with the fused multiply-add, x - k LN2_HIGH is exact),
# and q = r + r^2 P(r), P a quartic: 1 + q is within 1.1e-8 (0.2 ulp) of e^r,
# where a cubic would be 4e-7 (7 ulp) off.  The same 2^k and q give
# e^x = 2^k + 2^k q and e^x - 1 = (2^k - 1) + 2^k q, each one rounding, and
# 2^k - 1 is exact for -24 <= k <= 0, so expm1 needs no table either.
# sigmoid and tanh only need x = -|z| or -2|z| <= 0: no overflow, and
# 2^k is put into the exponent bits as 2^(k + 64), then scaled by 2^-64, so
# that below 2^-126 it becomes the exact subnormal (or 0) rather than wrap.
# Measured against float64 over every float32, in float32 ulps where the
# result is a normal number: e^x 1.09 and e^x - 1 1.05 (x <= 0), tanh 2.50
# (slope 5.22), sigmoid 2.41 (slope 4.22); smaller results within 4e-45.

EXP32_SHIFTER = np.float32(1.5 * 2.0**23)  # x + it rounds x to an integer
EXP32_LOG2E = np.float32(1.0 / math.log(2.0))
EXP32_LN2_HIGH = np.float32(math.log(2.0))
EXP32_LN2_LOW = np.float32(math.log(2.0) - float(EXP32_LN2_HIGH))
EXP32_LOWEST = np.float32(-104.0)  # e^x rounds to 0 below -103.98; 2^(k + 64) stays normal
EXP32_TWO_TO_MINUS_64 = np.float32(2.0**-64)
EXP32_ONE_BITS = int(np.float32(1.0).view(np.int32))
# P(r) = (e^r - 1 - r) / r^2 on |r| <= (1 + 1e-4) ln(2)/2: the quartic through
# its values at the five Chebyshev nodes (mpmath at 50 digits, rounded to
# float32; test_float32_exp_coefficients recomputes them).
EXP32_P0 = np.float32(0.5)
EXP32_P1 = np.float32(0.16666576)
EXP32_P2 = np.float32(0.041666556)
EXP32_P3 = np.float32(0.008363179)
EXP32_P4 = np.float32(0.0013926184)


@inlined
def _exp_polynomial_float32(r):
    """``q`` with ``1 + q = e^r`` to 1.1e-8 relative, for float32 ``|r| <= ln(2) / 2``."""
    r2 = r * r
    p = _fma(r2, _fma(r2, EXP32_P4, _fma(r, EXP32_P3, EXP32_P2)), _fma(r, EXP32_P1, EXP32_P0))
    return _fma(r2, p, r)


@scalar
def expm1_and_exp_float32(x):
    """``(e**x - 1, e**x)`` in float32, for a float32 ``x <= 0``: one range reduction, no table.

    Parameters
    ----------
    x : float32
        At most 0 (the activations need ``e^-|z|`` and ``e^-2|z|``), or NaN.
        Positive ``x`` are outside its range.

    Returns
    -------
    (float32, float32)
        ``e^x - 1`` without cancellation near 0, and ``e^x`` down to the
        smallest subnormal.  ``-inf`` gives ``(-1, 0)`` and NaN ``(NaN, NaN)``.

    Examples
    --------
    >>> import numpy as np
    >>> from nbprop.activations import expm1_and_exp_float32
    >>> bool(expm1_and_exp_float32(np.float32(-1e-5))[0] == np.expm1(np.float32(-1e-5)))
    True
    """
    x = EXP32_LOWEST if x < EXP32_LOWEST else x  # NaN stays NaN
    shifted = _fma(x, EXP32_LOG2E, EXP32_SHIFTER)
    kf = shifted - EXP32_SHIFTER
    r = _fma(-kf, EXP32_LN2_LOW, _fma(-kf, EXP32_LN2_HIGH, x))  # x - k ln 2
    k = _bits_of_float32(shifted) - _bits_of_float32(EXP32_SHIFTER)
    power = _float32_from_bits(EXP32_ONE_BITS + ((k + 64) << 23)) * EXP32_TWO_TO_MINUS_64  # 2^k
    q = _exp_polynomial_float32(r)
    return _fma(power, q, power - cast_like(1.0, x)), _fma(power, q, power)


@inlined
def _sigmoid_and_slope_from(z, e):
    """``(1 / (1 + e)`` for ``z >= 0``, else ``e / (1 + e)``; ``e / (1 + e)^2)``, in the precision of ``e = e^-|z|``."""
    one = cast_like(1.0, e)
    denominator = one + e
    return (one if z >= 0 else e) / denominator, e / (denominator * denominator)


@scalar
def sigmoid_and_slope_float32(z):
    """``(s, s')`` of the logistic sigmoid in float32, from ``e = e^-|z|``.

    ``s = 1 / (1 + e)`` for ``z >= 0`` and ``e / (1 + e)`` below, ``s' = e /
    (1 + e)^2`` on both sides: ``e <= 1`` never overflows, nothing cancels,
    and for ``z < 0`` the value keeps its relative accuracy down to the
    subnormals.  (``sigmoid_and_slope``, ``1 / (1 + e^-z)``, needs ``e^-z`` up
    to overflow.)

    Examples
    --------
    >>> import numpy as np
    >>> from nbprop.activations import sigmoid_and_slope_float32
    >>> sigmoid_and_slope_float32(np.float32(0.0))
    (0.5, 0.25)
    """
    return _sigmoid_and_slope_from(z, expm1_and_exp_float32(-abs(z))[1])


@scalar
def tanh_and_slope_float32(z):
    """``(tanh z, 1 - tanh^2 z)`` in float32: ``tanh_and_slope``'s form on ``expm1_and_exp_float32``.

    Examples
    --------
    >>> import numpy as np
    >>> from nbprop.activations import tanh_and_slope_float32
    >>> tanh_and_slope_float32(np.float32(0.0)), tanh_and_slope_float32(np.float32(-np.inf))
    ((0.0, 1.0), (-1.0, 0.0))
    """
    m, e = expm1_and_exp_float32(cast_like(-2.0, z) * abs(z))
    return _tanh_and_slope_from(m, e, z)


# ------------------------------------- float64 layer loops without a table
# ``exp`` and ``expm1_and_exp`` take 2^(j/64) from a 64-entry table: a loop
# over a layer vectorises that only with a gather per vector, which LLVM's
# cost model for AMD Zen 3 (AVX2) refuses, so there the tanh, sigmoid,
# softplus and elu loops ran one unit at a time (forcing the gathers, with
# the Skylake cost model, still took 3.35 ns a tanh unit).  The float32
# form's reduction needs no table:
#
#   e^x = 2^k (1 + q),  k = round(x / ln 2),  |r| <= ln(2)/2,  q = e^r - 1,
#
# r = x - k ln 2 with ln 2 in two parts (``LN2_HIGH_WHOLE`` has 32 bits, so
# k ln 2's first part is exact), and q = r + r^2 P(r), P of degree 10 fitted
# at Chebyshev nodes: q within 9e-19 relative of e^r - 1 (degree 9 would be
# 4e-17, a third of an ulp).  Then e^x = 2^k + 2^k q and e^x - 1 =
# (2^k - 1) + 2^k q, one rounding each; 2^k - 1 is exact for -53 <= k <= 0,
# and below that within half an ulp of -1.  The activations need only
# x <= 0 (e^-|z|, e^-2|z|, e^min(z, 0)): no overflow, and x is clamped at
# -746 (where e^x rounds to 0) so that 2^(k + 64) is a normal number whose
# exponent bits are set directly, then scaled by 2^-64: below 2^-1022 that
# is the exact subnormal, or 0, not a wrapped exponent.  No branch: the clamp
# and the activations' choices are selects, and the loops vectorise four
# lanes to a ymm register.  The latency is longer than the table's (degree
# 12 against 6), which is why ``activate`` (per-sample loops that wait on
# each unit) keeps the table forms.
#
# Measured over a layer of 128 units on AMD EPYC Zen 3 (AVX2, pinned to one
# core), ns a unit with the table / without: tanh 5.0-5.3 / 2.0, sigmoid
# 2.7 / 1.7, softplus 5.3 / 4.0, elu 3.4-3.8 / 1.35: the forms below win for
# all four, so float64 layer loops run them wherever there is no AVX-512.
# With AVX-512 they keep the table forms, as before (``has_avx512``): those
# were measured fast on Sapphire Rapids, where a gather is cheap, and this
# choice is untested there.  Against long double over every binade of
# x <= 0 (37 million inputs), where the result is a normal number: e^x
# within 1.03 ulp, e^x - 1 1.22; tanh 2.61 (slope 5.07), sigmoid 2.34
# (4.13), softplus 1.94 (2.34), elu 1.21 (1.01); results below the normal
# range within 1.5e-323.

LOG2_E = 1.0 / math.log(2.0)
EXP_NO_TABLE_LOWEST = -746.0  # e^x rounds to 0 below -745.14; 2^(k + 64) stays normal
TWO_TO_MINUS_64 = 2.0**-64
# P(r) = (e^r - 1 - r) / r^2 on |r| <= (1 + 1e-4) ln(2)/2: the degree-10
# polynomial through its values at the eleven Chebyshev nodes (mpmath at 50
# digits, rounded to float64; test_float64_exp_coefficients recomputes them).
EXP_NO_TABLE_P = (
    0.5,
    0.1666666666666667,
    0.04166666666666667,
    0.008333333333326136,
    0.0013888888888883748,
    0.00019841269874820627,
    2.4801587325547743e-05,
    2.7557255400206422e-06,
    2.75572736431103e-07,
    2.5105217004720745e-08,
    2.0914686968086876e-09,
)


@inlined
def _exp_polynomial_no_table(r):
    """``q`` with ``1 + q = e^r`` to 9e-19 relative, for ``|r| <= ln(2) / 2``: ``r + r^2 P(r)``, Estrin's form."""
    c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10 = EXP_NO_TABLE_P
    r2 = r * r
    r4 = r2 * r2
    low = _fma(r2, _fma(r, c3, c2), _fma(r, c1, c0))  # c0 + ... + c3 r^3
    middle = _fma(r2, _fma(r, c7, c6), _fma(r, c5, c4))  # c4 + ... + c7 r^3
    high = _fma(r2, c10, _fma(r, c9, c8))  # c8 + c9 r + c10 r^2
    p = _fma(r4 * r4, high, _fma(r4, middle, low))
    return _fma(r2, p, r)


@scalar
def expm1_and_exp_no_table(x):
    """``(e**x - 1, e**x)`` for float64 ``x <= 0``: one range reduction, no table, so that a loop vectorises.

    Parameters
    ----------
    x : float64
        At most 0 (the activations need ``e^-|z|``, ``e^-2|z|`` and
        ``e^min(z, 0)``), or NaN.  Positive ``x`` are outside its range.

    Returns
    -------
    (float64, float64)
        ``e^x - 1`` without cancellation near 0, and ``e^x`` down to the
        smallest subnormal.  ``-inf`` gives ``(-1, 0)`` and NaN ``(NaN, NaN)``.

    Examples
    --------
    >>> import math
    >>> from nbprop.activations import expm1_and_exp_no_table
    >>> expm1_and_exp_no_table(-1e-10)[0] == math.expm1(-1e-10), expm1_and_exp_no_table(-math.inf)
    (True, (-1.0, 0.0))
    """
    x = EXP_NO_TABLE_LOWEST if x < EXP_NO_TABLE_LOWEST else x  # NaN stays NaN
    shifted = _fma(x, LOG2_E, ROUNDING_SHIFTER)
    kf = shifted - ROUNDING_SHIFTER
    r = _fma(-kf, LN2_LOW_WHOLE, _fma(-kf, LN2_HIGH_WHOLE, x))  # x - k ln 2
    k = _bits_of_float64(shifted) - _bits_of_float64(ROUNDING_SHIFTER)
    power = _times_power_of_two(ONE_BITS, k + 64) * TWO_TO_MINUS_64  # 2^k
    q = _exp_polynomial_no_table(r)
    return _fma(power, q, power - 1.0), _fma(power, q, power)


@scalar
def tanh_and_slope_no_table(z):
    """``tanh_and_slope`` on ``expm1_and_exp_no_table``: the form a float64 layer's loop vectorises without gathers.

    Examples
    --------
    >>> import math
    >>> from nbprop.activations import tanh_and_slope_no_table
    >>> tanh_and_slope_no_table(0.0), tanh_and_slope_no_table(-math.inf)
    ((0.0, 1.0), (-1.0, 0.0))
    """
    m, e = expm1_and_exp_no_table(-2.0 * abs(z))
    return _tanh_and_slope_from(m, e, z)


@scalar
def sigmoid_and_slope_no_table(z):
    """``(s, s')`` of the logistic sigmoid from ``e = e^-|z|`` (``expm1_and_exp_no_table``): the float32 form.

    ``s = 1 / (1 + e)`` for ``z >= 0`` and ``e / (1 + e)`` below, ``s' = e /
    (1 + e)^2``: ``e <= 1`` needs no overflow handling, and for ``z < 0``
    the value keeps its relative accuracy down to the subnormals.

    Examples
    --------
    >>> from nbprop.activations import sigmoid_and_slope_no_table
    >>> sigmoid_and_slope_no_table(0.0), sigmoid_and_slope_no_table(1000.0)
    ((0.5, 0.25), (1.0, 0.0))
    """
    return _sigmoid_and_slope_from(z, expm1_and_exp_no_table(-abs(z))[1])


@dispatch
def softplus_and_slope_no_table(z):
    """``softplus_and_slope`` with ``e = e^-|z|`` from ``expm1_and_exp_no_table``.

    Examples
    --------
    >>> from nbprop.activations import softplus_and_slope_no_table
    >>> softplus_and_slope_no_table(0.0) == (0.6931471805599453, 0.5), softplus_and_slope_no_table(1000.0)
    (True, (1000.0, 1.0))
    """
    return _softplus_from_exp(z, expm1_and_exp_no_table(-abs(z))[1])


@scalar
def elu_and_slope_no_table(z):
    """``elu_and_slope`` on ``expm1_and_exp_no_table``: the exponential of ``min(z, 0)``, chosen among after.

    Examples
    --------
    >>> from nbprop.activations import elu_and_slope_no_table
    >>> elu_and_slope_no_table(2.0), elu_and_slope_no_table(-1000.0)
    ((2.0, 1.0), (-1.0, 0.0))
    """
    negative = z <= 0  # False for NaN, which goes on as z
    f, e = expm1_and_exp_no_table(z if negative else 0.0)
    return (ELU_ALPHA * f if negative else z), (ELU_ALPHA * e if negative else 1.0)


# Whether float64 layer loops use the table forms (AVX-512) or the ones above.
FLOAT64_LAYERS_FROM_TABLE = has_avx512()


def _in_precision(array):
    """``(tanh_and_slope, sigmoid_and_slope, softplus_and_slope, elu_and_slope)`` for a loop over ``array``.

    float32 arrays: tanh and sigmoid in float32 (``tanh_and_slope_float32``,
    ``sigmoid_and_slope_float32``), softplus and elu in float64.  float64
    (and any other) arrays: the table forms ``activate`` uses where the
    machine has AVX-512, else the ``_no_table`` forms.  Chosen when the
    caller is compiled (Numba compiles it once per dtype), so a loop pays
    no branch for it.
    """
    if FLOAT64_LAYERS_FROM_TABLE:
        float64_forms = (tanh_and_slope, sigmoid_and_slope, softplus_and_slope, elu_and_slope)
    else:
        float64_forms = (tanh_and_slope_no_table, sigmoid_and_slope_no_table, softplus_and_slope_no_table,
                         elu_and_slope_no_table)
    if array.dtype == types.float32:
        return (tanh_and_slope_float32, sigmoid_and_slope_float32) + float64_forms[2:]
    return float64_forms


@dispatch
def activate(code, z):
    """Return ``(f(z), f'(z))`` for the elementwise activation ``code``.

    ``softmax`` is not elementwise; the kernels apply it to the whole output
    layer, and this function treats it as the identity.

    Examples
    --------
    >>> from nbprop.activations import TANH, activate
    >>> activate(TANH, 0.0)
    (0.0, 1.0)
    """
    if code == SIGMOID:
        return sigmoid_and_slope(z)
    if code == TANH:
        return tanh_and_slope(z)
    if code == RELU:
        return relu_and_slope(z)
    if code == LEAKY_RELU:
        return leaky_relu_and_slope(z)
    if code == SOFTPLUS:
        return softplus_and_slope(z)
    if code == ELU:
        return elu_and_slope(z)
    return z, 1.0  # IDENTITY, and SOFTMAX before normalisation


@dispatch
def activate_for_latency(code, z):
    """``activate``, with tanh from ``tanh_and_slope_tabulated``: for loops that wait on each unit.

    A per-sample loop over a tiny network (``tiny_sgd_epoch``) is one chain
    of dependent operations from sample to sample, and tanh is the longest
    link in it.  Loops over whole layers vectorise ``activate``'s tanh, and
    keep it.
    """
    if code == TANH:
        return tanh_and_slope_tabulated(z)
    return activate(code, z)


# One loop per activation, each with its function inlined and no choice
# inside: that is what lets LLVM vectorise them (relu through ``activate``'s
# dispatch, one unit at a time, takes 1.7 ns a unit, in its own loop 0.3).
# Passing the function as an argument to one loop would say this once, but
# Numba cannot cache a caller of such a loop.
#
# The loops compiled are those of the activations in ``among``, a constant
# of the caller's: each loop inlines its activation's arithmetic, and the
# first fit of a network waits for every loop its kernels contain (the
# README's start-up section has the figures); ``_jit.among_flags`` says how
# the overloads below leave the others out.

EVERY_ACTIVATION = sum(1 << code for code in NAMES)


def activation_set(codes):
    """The activation codes ``codes`` as one integer, bit ``c`` for code ``c``: an ``among``.

    Examples
    --------
    >>> from nbprop.activations import IDENTITY, TANH, activation_set
    >>> activation_set([TANH, TANH, IDENTITY]) == (1 << TANH) | (1 << IDENTITY)
    True
    """
    return sum(1 << int(code) for code in set(int(code) for code in codes))


def _loops_among(among, function):
    """Which activations' loops ``function`` compiles for ``among``: flags for tanh, sigmoid, relu, leaky_relu, softplus, elu."""
    return among_flags(among, [1 << code for code in (TANH, SIGMOID, RELU, LEAKY_RELU, SOFTPLUS, ELU)], function)


def activate_layer(among, code, z, a, d, start, n):
    """``a = f(z)``, ``d = f'(z)`` for the units ``[start, start + n)``, in a loop that vectorises.

    ``code`` must be in the set ``among`` (``activation_set``), a constant
    of the compiled caller: only the loops of its activations are compiled
    (``identity``'s always, which a code outside the set runs).  ``tanh``
    and ``sigmoid`` compute in the arrays' precision (float32 arrays:
    ``tanh_and_slope_float32``, ``sigmoid_and_slope_float32``), the others
    in float64; float64's exponential is the table-free one
    (``expm1_and_exp_no_table``) where the machine has no AVX-512 (see
    ``_in_precision``).  Compiled code only.
    """
    raise TypeError("activate_layer is only available inside compiled kernels")


@overload(activate_layer, prefer_literal=True, jit_options=SCALAR_OPTIONS)
def _activate_layer(among, code, z, a, d, start, n):
    # Constant flags: Numba drops the branches they rule out before typing them.
    has_tanh, has_sigmoid, has_relu, has_leaky_relu, has_softplus, has_elu = _loops_among(among, "activate_layer")
    tanh_here, sigmoid_here, softplus_here, elu_here = _in_precision(z)

    def impl(among, code, z, a, d, start, n):
        if has_tanh and code == TANH:
            for u in range(n):
                a[start + u], d[start + u] = tanh_here(z[start + u])
        elif has_sigmoid and code == SIGMOID:
            for u in range(n):
                a[start + u], d[start + u] = sigmoid_here(z[start + u])
        elif has_relu and code == RELU:
            for u in range(n):
                a[start + u], d[start + u] = relu_and_slope(z[start + u])
        elif has_leaky_relu and code == LEAKY_RELU:
            for u in range(n):
                a[start + u], d[start + u] = leaky_relu_and_slope(z[start + u])
        elif has_softplus and code == SOFTPLUS:
            for u in range(n):
                a[start + u], d[start + u] = softplus_here(z[start + u])
        elif has_elu and code == ELU:
            for u in range(n):
                a[start + u], d[start + u] = elu_here(z[start + u])
        else:  # IDENTITY, and SOFTMAX before normalisation
            for u in range(n):
                a[start + u], d[start + u] = z[start + u], 1.0

    return impl


def activate_in_place(among, code, a, start, n):
    """``a = f(a)`` for the units ``[start, start + n)``: the values alone, as ``predict`` needs.

    The same arithmetic as ``activate_layer``'s values, bit for bit, in each
    dtype (the slope's arithmetic is dead code here), and the same ``among``.
    One array read and written at the same index vectorises;
    ``activate_layer`` called with ``z`` and ``a`` the same array would not
    (its runtime check for overlapping arrays sends it down the scalar
    loop).  A code outside ``among`` leaves ``a`` as it is (identity).
    Compiled code only.
    """
    raise TypeError("activate_in_place is only available inside compiled kernels")


@overload(activate_in_place, prefer_literal=True, jit_options=SCALAR_OPTIONS)
def _activate_in_place(among, code, a, start, n):
    has_tanh, has_sigmoid, has_relu, has_leaky_relu, has_softplus, has_elu = _loops_among(among, "activate_in_place")
    tanh_here, sigmoid_here, softplus_here, elu_here = _in_precision(a)

    def impl(among, code, a, start, n):
        if has_tanh and code == TANH:
            for u in range(n):
                a[start + u] = tanh_here(a[start + u])[0]
        elif has_sigmoid and code == SIGMOID:
            for u in range(n):
                a[start + u] = sigmoid_here(a[start + u])[0]
        elif has_relu and code == RELU:
            for u in range(n):
                a[start + u] = relu_and_slope(a[start + u])[0]
        elif has_leaky_relu and code == LEAKY_RELU:
            for u in range(n):
                a[start + u] = leaky_relu_and_slope(a[start + u])[0]
        elif has_softplus and code == SOFTPLUS:
            for u in range(n):
                a[start + u] = softplus_here(a[start + u])[0]
        elif has_elu and code == ELU:
            for u in range(n):
                a[start + u] = elu_here(a[start + u])[0]

    return impl


def code_of(name, allowed, argument):
    """Integer code of activation ``name``; ``ValueError`` naming ``argument`` if unknown."""
    if not isinstance(name, str) or name not in allowed:
        raise ValueError(
            f"{argument}: unknown activation {name!r}; expected one of {sorted(allowed)}"
        )
    return allowed[name]
