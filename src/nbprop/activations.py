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

from numba import njit

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


@njit(cache=True, nogil=True)
def sigmoid(z):
    """Logistic sigmoid ``1 / (1 + exp(-z))`` without overflow for any ``z``."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@njit(cache=True, nogil=True)
def softplus(z):
    """``log(1 + exp(z))`` as ``max(z, 0) + log1p(exp(-|z|))``: no overflow."""
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


@njit(cache=True, nogil=True)
def activate(code, z):
    """Return ``(f(z), f'(z))`` for the elementwise activation ``code``.

    ``softmax`` is not elementwise; the kernels apply it to the whole output
    layer, and this function treats it as the identity.
    """
    if code == SIGMOID:
        s = sigmoid(z)
        return s, s * (1.0 - s)
    if code == TANH:
        t = math.tanh(z)
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
        e = math.exp(-abs(z))
        if z >= 0:
            return z + math.log1p(e), 1.0 / (1.0 + e)
        return math.log1p(e), e / (1.0 + e)
    if code == ELU:
        if z > 0:
            return z, 1.0
        f = ELU_ALPHA * math.expm1(z)
        return f, f + ELU_ALPHA
    return z, 1.0  # IDENTITY, and SOFTMAX before normalisation


def code_of(name, allowed, argument):
    """Integer code of activation ``name``; ``ValueError`` naming ``argument`` if unknown."""
    if not isinstance(name, str) or name not in allowed:
        raise ValueError(
            f"{argument}: unknown activation {name!r}; expected one of {sorted(allowed)}"
        )
    return allowed[name]
