"""Loss functions: names, integer codes, per-sample values and output deltas.

Every loss is a sum over the samples it is given and over the outputs, except
``mse``, which is the mean over both:

=================  ====================================  ===========================
name               loss over samples s, outputs k        output activation
=================  ====================================  ===========================
``half_sse``       1/2 sum (y - y')^2                    any elementwise
``ssr``            sum (y - y')^2                        any elementwise
``mse``            1/(n K) sum (y - y')^2                any elementwise
``bce``            -sum y log y' + (1 - y) log(1 - y')   ``sigmoid``
``cross_entropy``  -sum y log y'                         ``softmax``
=================  ====================================  ===========================

The output delta is ``dL/dz`` at the output layer.  For ``bce`` with sigmoid
and ``cross_entropy`` with softmax the kernels use the fused form
``y' - y`` (times ``sum_k y_k`` for softmax), computed from the
pre-activation ``z`` so that neither ``log(0)`` nor ``0/0`` can occur.
"""

from numba.extending import overload

from ._jit import among_flags, inlined, scalar

from .activations import NAMES as ACTIVATION_NAMES
from .activations import SIGMOID, SOFTMAX, softplus

HALF_SSE = 0
SSR = 1
MSE = 2
BCE = 3
CROSS_ENTROPY = 4

LOSSES = {"half_sse": HALF_SSE, "ssr": SSR, "mse": MSE, "bce": BCE, "cross_entropy": CROSS_ENTROPY}
NAMES = {code: name for name, code in LOSSES.items()}

# The output activation each loss needs (None: any elementwise activation).
REQUIRED_OUTPUT = {BCE: SIGMOID, CROSS_ENTROPY: SOFTMAX}
# The output activation used when the user names none.
DEFAULT_OUTPUT = {"bce": "sigmoid", "cross_entropy": "softmax"}


@inlined  # no sum to reorder, so the caller's flags give the same bits; one compile fewer
def batch_scale(loss_code, n_samples, n_outputs):
    """Factor turning per-sample sums into the loss over ``n_samples`` samples.

    1 for the summed losses, ``1 / (n_samples * n_outputs)`` for ``mse``.
    """
    if loss_code == MSE:
        return 1.0 / (n_samples * n_outputs)
    return 1.0


@scalar
def _bce_unit(z, a, y):
    # -[y log s + (1-y) log(1-s)] with s = sigmoid(z) equals softplus(z) - y z,
    # and its derivative in z is s - y: no log of 0, no division.
    return softplus(z) - y * z, a - y


@scalar
def _cross_entropy_unit(z, a, y, y_sum, log_sum_exp):
    # -y log softmax(z) = y (logsumexp(z) - z); summed over the layer the
    # derivative is softmax(z) * sum(y) - y, also for targets not summing to 1.
    return y * (log_sum_exp - z), a * y_sum - y


@scalar
def _half_squared_unit(a, d, y):
    r = a - y
    return 0.5 * r * r, r * d


@scalar
def _squared_unit(a, d, y):
    r = a - y
    return r * r, 2.0 * r * d  # ssr, and mse before the caller's scaling


# A kernel compiles the losses in its ``among`` (as ``activations.activate_layer``
# compiles its activations): bit ``LOSS_SHIFT + c`` for loss code ``c``,
# above the activations' bits.
LOSS_SHIFT = 8
assert max(ACTIVATION_NAMES) < LOSS_SHIFT


def loss_set(code):
    """Loss ``code`` as an ``among``, the form ``output_unit`` takes.

    Examples
    --------
    >>> from nbprop.losses import BCE, loss_set
    >>> loss_set(BCE) == 1 << (8 + BCE)
    True
    """
    return 1 << (LOSS_SHIFT + int(code))


EVERY_LOSS = sum(loss_set(code) for code in NAMES)


def output_unit(among, loss_code, z, a, d, y, y_sum, log_sum_exp):
    """One output unit's unscaled loss and ``dL/dz``.

    ``z``, ``a``, ``d`` are the unit's pre-activation, activation and
    ``f'(z)``; ``y`` its target.  ``y_sum`` and ``log_sum_exp`` (of the
    targets and pre-activations of the whole output layer) are used by
    ``cross_entropy`` only.  Scalars only, so kernels call it per unit
    without reference counting.  ``loss_code`` must be in ``among``
    (``loss_set``), a constant of the compiled caller: only the losses in
    it are compiled (a code outside it gets the squared loss, or the one
    loss ``among`` holds).  Compiled code only.
    """
    raise TypeError("output_unit is only available inside compiled kernels")


_ONE_LOSS = {
    HALF_SSE: lambda among, loss_code, z, a, d, y, y_sum, log_sum_exp: _half_squared_unit(a, d, y),
    SSR: lambda among, loss_code, z, a, d, y, y_sum, log_sum_exp: _squared_unit(a, d, y),
    MSE: lambda among, loss_code, z, a, d, y, y_sum, log_sum_exp: _squared_unit(a, d, y),
    BCE: lambda among, loss_code, z, a, d, y, y_sum, log_sum_exp: _bce_unit(z, a, y),
    CROSS_ENTROPY: lambda among, loss_code, z, a, d, y, y_sum, log_sum_exp: _cross_entropy_unit(
        z, a, y, y_sum, log_sum_exp),
}
"""``output_unit`` for an ``among`` that holds one loss, by its code."""


@overload(output_unit, prefer_literal=True, inline="always")
def _output_unit(among, loss_code, z, a, d, y, y_sum, log_sum_exp):
    # The choice by code, inlined into the caller (as _jit.dispatch is), with
    # the losses outside among left out (_jit.among_flags).
    has_bce, has_cross_entropy, has_half_sse = among_flags(
        among, [loss_set(code) for code in (BCE, CROSS_ENTROPY, HALF_SSE)], "output_unit")
    only = [code for code in NAMES if among.literal_value & loss_set(code)]
    if len(only) == 1:  # a network's own loss: no choice, and no fallback to compile
        return _ONE_LOSS[only[0]]

    def impl(among, loss_code, z, a, d, y, y_sum, log_sum_exp):
        if has_bce and loss_code == BCE:
            return _bce_unit(z, a, y)
        if has_cross_entropy and loss_code == CROSS_ENTROPY:
            return _cross_entropy_unit(z, a, y, y_sum, log_sum_exp)
        if has_half_sse and loss_code == HALF_SSE:
            return _half_squared_unit(a, d, y)
        return _squared_unit(a, d, y)  # ssr and mse

    return impl


def code_of(name):
    """Integer code of loss ``name``; ``ValueError`` naming ``loss`` if unknown."""
    if not isinstance(name, str) or name not in LOSSES:
        raise ValueError(f"loss: unknown loss {name!r}; expected one of {sorted(LOSSES)}")
    return LOSSES[name]
