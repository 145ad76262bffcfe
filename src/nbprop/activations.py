"""Activation functions: names, integer codes, and the scalar maths.

Kernels receive activations as integer codes (never Python callables) so that
each kernel compiles once per dtype.  Every function here is written in the
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
"""

import math

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from ._jit import scalar

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
# an exp written as plain arithmetic: e^x = 2^k e^r with k = round(x / ln 2),
# |r| <= ln(2)/2, e^r by its Taylor series to degree 13 (truncation < 1e-17),
# 2^k assembled from its bits.  Compiled as ``_jit.scalar``, never with the
# kernels' reassociation, which would undo the two-part ln 2 (a 100-ulp
# error near x = 700) or multiply the two halves of 2^k first (a spurious
# overflow).  Measured
# against libm over 300,000 points:
# exp within 1 ulp, sigmoid 2, expm1 and tanh 4 (9e-16 relative, where
# exp(x) - 1 cancels just outside the series' range); NaN and inf behave as
# in libm.

LOG2_E = 1.4426950408889634
LN2_HIGH = 6.93147180369123816490e-01  # ln 2 split so that k * LN2_HIGH is exact
LN2_LOW = 1.90821492927058770002e-10
HALF_LN2 = 0.34657359027997264


@intrinsic
def _float64_from_bits(typingctx, bits):
    """The float64 whose IEEE-754 bit pattern is the int64 ``bits``."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def _fma(typingctx, a, b, c):
    """``a * b + c`` rounded once (``llvm.fma``), which fastmath never rewrites."""

    def codegen(context, builder, signature, args):
        double = ir.DoubleType()
        function = builder.module.declare_intrinsic(
            "llvm.fma", [double], ir.FunctionType(double, [double, double, double]))
        return builder.call(function, [context.cast(builder, value, ty, types.float64)
                                       for value, ty in zip(args, signature.args)])

    return types.float64(a, b, c), codegen


@scalar
def _exp_reduced(r):
    """e^r for |r| <= ln(2)/2: Taylor series to degree 13, by Horner's rule."""
    p = 1.0 / 6227020800.0
    for inverse_factorial in (1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0,
                              1.0 / 362880.0, 1.0 / 40320.0, 1.0 / 5040.0, 1.0 / 720.0,
                              1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0):
        p = _fma(p, r, inverse_factorial)
    return p


@scalar
def exp(x):
    """``e**x`` to about 1 ulp, in arithmetic a loop can vectorise.

    Examples
    --------
    >>> from nbprop.activations import exp
    >>> import math
    >>> abs(exp(1.0) - math.e) <= math.ulp(math.e), exp(-1000.0), exp(1000.0)
    (True, 0.0, inf)
    """
    y = 710.0 if x > 710.0 else x  # NaN compares false and passes through
    y = -746.0 if y < -746.0 else y
    k = math.floor(_fma(y, LOG2_E, 0.5))
    r = _fma(-k, LN2_LOW, _fma(-k, LN2_HIGH, y))  # y - k ln 2, ln 2 in two parts
    n = int(k)
    half = n >> 1  # two scalings: 2^n alone under- or overflows the exponent field
    result = (_exp_reduced(r) * _float64_from_bits((half + 1023) << 52)
              * _float64_from_bits((n - half + 1023) << 52))
    return result if x == x else x


@scalar
def expm1(x):
    """``e**x - 1``, accurate near 0 too (no cancellation), in vectorisable arithmetic.

    Examples
    --------
    >>> from nbprop.activations import expm1
    >>> expm1(1e-10)
    1.00000000005e-10
    """
    series = 1.0 / 6227020800.0  # sum_{n=1}^{13} x^n / n! for |x| <= ln(2)/2
    for inverse_factorial in (1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0,
                              1.0 / 362880.0, 1.0 / 40320.0, 1.0 / 5040.0, 1.0 / 720.0,
                              1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0):
        series = _fma(series, x, inverse_factorial)
    series *= x
    return series if abs(x) < HALF_LN2 else exp(x) - 1.0


# ----------------------------------------------------- scalar activations

@scalar
def sigmoid(z):
    """Logistic sigmoid ``1 / (1 + exp(-z))`` without overflow for any ``z``.

    Examples
    --------
    >>> from nbprop.activations import sigmoid
    >>> sigmoid(0.0), sigmoid(-1000.0), sigmoid(1000.0)
    (0.5, 0.0, 1.0)
    """
    e = exp(-abs(z))
    return 1.0 / (1.0 + e) if z >= 0 else e / (1.0 + e)


@scalar
def tanh(z):
    """``tanh(z) = -expm1(-2|z|) / (2 + expm1(-2|z|))`` with the sign of ``z``.

    Examples
    --------
    >>> from nbprop.activations import tanh
    >>> tanh(0.5) == 0.46211715726000974, tanh(-1000.0)
    (True, -1.0)
    """
    em = expm1(-2.0 * abs(z))
    return math.copysign(-em / (2.0 + em), z)


@scalar
def softplus(z):
    """``log(1 + exp(z))`` as ``max(z, 0) + log1p(exp(-|z|))``: no overflow.

    Examples
    --------
    >>> from nbprop.activations import softplus
    >>> softplus(0.0) == 0.6931471805599453, softplus(1000.0)
    (True, 1000.0)
    """
    return max(z, 0.0) + math.log1p(exp(-abs(z)))


@scalar
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
        s = sigmoid(z)
        return s, s * (1.0 - s)
    if code == TANH:
        t = tanh(z)
        return t, 1.0 - t * t
    if code == RELU:
        if z > 0:
            return z, 1.0
        return 0.0 * z, 0.0
    if code == LEAKY_RELU:
        if z > 0:
            return z, 1.0
        return LEAKY_RELU_SLOPE * z, LEAKY_RELU_SLOPE
    if code == SOFTPLUS:
        # One exponential serves both: with e = exp(-|z|), the value is
        # max(z, 0) + log1p(e) and the derivative sigmoid(z) is 1/(1+e) or e/(1+e).
        e = exp(-abs(z))
        if z >= 0:
            return z + math.log1p(e), 1.0 / (1.0 + e)
        return math.log1p(e), e / (1.0 + e)
    if code == ELU:
        if z > 0:
            return z, 1.0
        f = ELU_ALPHA * expm1(z)
        return f, f + ELU_ALPHA
    return z, 1.0  # IDENTITY, and SOFTMAX before normalisation


@scalar
def activate_layer(code, z, a, d, start, n):
    """``a = f(z)``, ``d = f'(z)`` for the units ``[start, start + n)``.

    The dispatch on ``code`` sits outside the loops, so the common
    activations vectorise; the others go unit by unit through ``activate``.
    """
    if code == TANH:
        for u in range(n):
            t = tanh(z[start + u])
            a[start + u] = t
            d[start + u] = 1.0 - t * t
    elif code == SIGMOID:
        for u in range(n):
            s = sigmoid(z[start + u])
            a[start + u] = s
            d[start + u] = s * (1.0 - s)
    elif code == IDENTITY or code == SOFTMAX:
        for u in range(n):
            a[start + u] = z[start + u]
            d[start + u] = 1.0
    else:
        for u in range(n):
            a[start + u], d[start + u] = activate(code, z[start + u])


def code_of(name, allowed, argument):
    """Integer code of activation ``name``; ``ValueError`` naming ``argument`` if unknown."""
    if not isinstance(name, str) or name not in allowed:
        raise ValueError(
            f"{argument}: unknown activation {name!r}; expected one of {sorted(allowed)}"
        )
    return allowed[name]
