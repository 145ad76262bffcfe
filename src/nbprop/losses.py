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

import math

from numba import njit

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


@njit(cache=True, nogil=True)
def batch_scale(loss_code, n_samples, n_outputs):
    """Factor turning per-sample sums into the loss over ``n_samples`` samples.

    1 for the summed losses, ``1 / (n_samples * n_outputs)`` for ``mse``.
    """
    if loss_code == MSE:
        return 1.0 / (n_samples * n_outputs)
    return 1.0


@njit(cache=True, nogil=True)
def output_loss_and_delta(loss_code, z, a, d, delta, start, n, Y, sample, scale):
    """One sample's unscaled loss; writes ``scale * dL/dz`` into the output layer's delta.

    The output layer occupies ``[start, start + n)`` of the workspace rows
    ``z`` (pre-activations), ``a`` (activations), ``d`` (``f'(z)``) and
    ``delta``; its target is row ``sample`` of ``Y``.
    """
    loss = 0.0
    if loss_code == BCE:
        # -[y log s + (1-y) log(1-s)] with s = sigmoid(z) equals softplus(z) - y z.
        for k in range(n):
            y = Y[sample, k]
            loss += softplus(z[start + k]) - y * z[start + k]
            delta[start + k] = scale * (a[start + k] - y)
    elif loss_code == CROSS_ENTROPY:
        # -sum y log softmax(z) = sum y (logsumexp(z) - z); the delta
        # softmax(z) * sum(y) - y holds for targets that do not sum to one too.
        zmax = z[start]
        for k in range(1, n):
            zmax = max(zmax, z[start + k])
        total = 0.0
        y_sum = 0.0
        for k in range(n):
            total += math.exp(z[start + k] - zmax)
            y_sum += Y[sample, k]
        log_sum_exp = zmax + math.log(total)
        for k in range(n):
            y = Y[sample, k]
            loss += y * (log_sum_exp - z[start + k])
            delta[start + k] = scale * (a[start + k] * y_sum - y)
    else:
        half = loss_code == HALF_SSE
        value_factor = 0.5 if half else 1.0
        slope_factor = 1.0 if half else 2.0
        for k in range(n):
            r = a[start + k] - Y[sample, k]
            loss += value_factor * r * r
            delta[start + k] = scale * slope_factor * r * d[start + k]
    return loss


def code_of(name):
    """Integer code of loss ``name``; ``ValueError`` naming ``loss`` if unknown."""
    if not isinstance(name, str) or name not in LOSSES:
        raise ValueError(f"loss: unknown loss {name!r}; expected one of {sorted(LOSSES)}")
    return LOSSES[name]
