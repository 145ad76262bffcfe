"""The compiled kernels: forward pass, backpropagation, and the training loops.

Every kernel takes only arrays, scalars and integer codes, so each compiles
once per dtype and is cached on disk.  The network's shape arrives as the
*plan* table of ``_layout.py``; the per-unit scratch space as the workspace
``ws``, a ``(4, n_units)`` array whose rows hold, for every unit (inputs
first, then each layer's outputs):

* ``ws[A]``     the activation ``a = f(z)`` (the input sample for layer 0),
* ``ws[D]``     the activation's derivative ``f'(z)``,
* ``ws[DELTA]`` the backpropagated error ``dL/dz``,
* ``ws[Z]``     the pre-activation ``z = W a_prev + b``.

Nothing is allocated per sample.  The maths is the textbook chain rule: the
output delta comes from ``losses.output_loss_and_delta``; each earlier layer's
delta is ``f'(z) * (W^T delta_next)``, the sum over every path to the loss;
the gradient of ``W[j, i]`` is ``delta[j] * a_prev[i]`` and of ``b[j]`` is
``delta[j]``.
"""

import math

from numba import njit

from ._layout import ACT_CODE, B_OFFSET, FAN_IN, FAN_OUT, IN_OFFSET, OUT_OFFSET, W_OFFSET
from .activations import SOFTMAX, activate
from .losses import batch_scale, output_loss_and_delta
from .optim import scheduled_lr, sgd_step

A = 0
D = 1
DELTA = 2
Z = 3
N_WORKSPACE_ROWS = 4


@njit(cache=True, nogil=True)
def softmax_layer(z, a):
    """``a = exp(z - max z) / sum exp(z - max z)``: softmax without overflow."""
    zmax = z[0]
    for k in range(1, z.shape[0]):
        zmax = max(zmax, z[k])
    total = 0.0
    for k in range(z.shape[0]):
        e = math.exp(z[k] - zmax)
        a[k] = e
        total += e
    for k in range(z.shape[0]):
        a[k] /= total


@njit(cache=True, nogil=True)
def forward_sample(params, plan, x, ws):
    """Forward pass of one sample ``x``; fills the workspace rows A, D and Z."""
    a, d, z = ws[A], ws[D], ws[Z]
    for i in range(x.shape[0]):
        a[i] = x[i]
    for layer in range(plan.shape[0]):
        fan_in, fan_out = plan[layer, FAN_IN], plan[layer, FAN_OUT]
        w0, b0 = plan[layer, W_OFFSET], plan[layer, B_OFFSET]
        i0, o0 = plan[layer, IN_OFFSET], plan[layer, OUT_OFFSET]
        code = plan[layer, ACT_CODE]
        for j in range(fan_out):
            row = w0 + j * fan_in
            s = 0.0
            for i in range(fan_in):
                s += params[row + i] * a[i0 + i]
            s += params[b0 + j]
            z[o0 + j] = s
            a[o0 + j], d[o0 + j] = activate(code, s)
        if code == SOFTMAX:
            softmax_layer(z[o0 : o0 + fan_out], a[o0 : o0 + fan_out])


@njit(cache=True, nogil=True)
def output_delta(plan, loss_code, y, scale, ws):
    """Set the output layer's delta from target ``y``; return the sample's unscaled loss."""
    last = plan.shape[0] - 1
    o0 = plan[last, OUT_OFFSET]
    o1 = o0 + plan[last, FAN_OUT]
    return output_loss_and_delta(
        loss_code, ws[Z, o0:o1], ws[A, o0:o1], ws[D, o0:o1], y, ws[DELTA, o0:o1], scale
    )


@njit(cache=True, nogil=True)
def backprop_gradient(params, plan, ws, grad):
    """Backpropagate the output delta in ``ws[DELTA]``; add ``dL/dparams`` into ``grad``."""
    a, d, delta = ws[A], ws[D], ws[DELTA]
    for layer in range(plan.shape[0] - 1, -1, -1):
        fan_in, fan_out = plan[layer, FAN_IN], plan[layer, FAN_OUT]
        w0, b0 = plan[layer, W_OFFSET], plan[layer, B_OFFSET]
        i0, o0 = plan[layer, IN_OFFSET], plan[layer, OUT_OFFSET]
        propagate = layer > 0  # the input layer needs no delta
        if propagate:
            for i in range(fan_in):
                delta[i0 + i] = 0.0
        for j in range(fan_out):
            dj = delta[o0 + j]
            row = w0 + j * fan_in
            for i in range(fan_in):
                if propagate:
                    delta[i0 + i] += params[row + i] * dj
                grad[row + i] += dj * a[i0 + i]
            grad[b0 + j] += dj
        if propagate:
            for i in range(fan_in):
                delta[i0 + i] *= d[i0 + i]


@njit(cache=True, nogil=True)
def backprop_sgd(params, velocity, plan, ws, lr, momentum, nesterov, weight_decay):
    """Backpropagate the output delta and update every parameter in the same sweep.

    Each weight row feeds the previous layer's delta before it is updated, so
    the result equals computing the whole gradient first and then stepping.
    """
    a, d, delta = ws[A], ws[D], ws[DELTA]
    for layer in range(plan.shape[0] - 1, -1, -1):
        fan_in, fan_out = plan[layer, FAN_IN], plan[layer, FAN_OUT]
        w0, b0 = plan[layer, W_OFFSET], plan[layer, B_OFFSET]
        i0, o0 = plan[layer, IN_OFFSET], plan[layer, OUT_OFFSET]
        propagate = layer > 0
        if propagate:
            for i in range(fan_in):
                delta[i0 + i] = 0.0
        for j in range(fan_out):
            dj = delta[o0 + j]
            row = w0 + j * fan_in
            for i in range(fan_in):
                w = params[row + i]
                if propagate:
                    delta[i0 + i] += w * dj
                g = dj * a[i0 + i] + weight_decay * w
                sgd_step(params, velocity, row + i, g, lr, momentum, nesterov)
            sgd_step(params, velocity, b0 + j, dj, lr, momentum, nesterov)
        if propagate:
            for i in range(fan_in):
                delta[i0 + i] *= d[i0 + i]


@njit(cache=True, nogil=True)
def apply_gradient(params, velocity, grad, plan, lr, momentum, nesterov, weight_decay):
    """One SGD step from an accumulated gradient; weight decay on weights only."""
    for layer in range(plan.shape[0]):
        w0, b0 = plan[layer, W_OFFSET], plan[layer, B_OFFSET]
        b1 = b0 + plan[layer, FAN_OUT]
        for k in range(w0, b0):
            sgd_step(params, velocity, k, grad[k] + weight_decay * params[k], lr, momentum, nesterov)
        for k in range(b0, b1):
            sgd_step(params, velocity, k, grad[k], lr, momentum, nesterov)


@njit(cache=True, nogil=True)
def predict(params, plan, X, out, ws):
    """Batch forward pass: ``out[s] = network(X[s])`` for every row of ``X``."""
    last = plan.shape[0] - 1
    o0 = plan[last, OUT_OFFSET]
    for s in range(X.shape[0]):
        forward_sample(params, plan, X[s], ws)
        for k in range(out.shape[1]):
            out[s, k] = ws[A, o0 + k]


@njit(cache=True, nogil=True)
def loss_sum(params, plan, loss_code, X, Y, ws):
    """Sum over the rows of ``X`` of each sample's unscaled loss."""
    total = 0.0
    for s in range(X.shape[0]):
        forward_sample(params, plan, X[s], ws)
        total += output_delta(plan, loss_code, Y[s], 1.0, ws)
    return total


@njit(cache=True, nogil=True)
def accumulate_gradient(params, plan, loss_code, X, Y, order, start, stop, grad, ws):
    """Add the gradient of the loss over samples ``order[start:stop]`` into ``grad``.

    Returns the samples' unscaled loss sum.
    """
    scale = batch_scale(loss_code, stop - start, plan[plan.shape[0] - 1, FAN_OUT])
    total = 0.0
    for s in range(start, stop):
        sample = order[s]
        forward_sample(params, plan, X[sample], ws)
        total += output_delta(plan, loss_code, Y[sample], scale, ws)
        backprop_gradient(params, plan, ws, grad)
    return total


@njit(cache=True, nogil=True)
def sgd_epoch(params, velocity, plan, loss_code, X, Y, order,
              lr, schedule, p1, p2, step, epoch, momentum, nesterov, weight_decay, ws, total):
    """Per-sample SGD over ``X[order]``: forward, backward and update fused per sample.

    Returns ``total`` plus the sum of each sample's unscaled loss, taken
    before its own update, and the update counter after these samples.  An
    epoch may be run in several calls over consecutive slices of its order:
    passing the running ``total`` and ``step`` along gives the same bits as
    one call.
    """
    scale = batch_scale(loss_code, 1, plan[plan.shape[0] - 1, FAN_OUT])
    for s in range(order.shape[0]):
        sample = order[s]
        forward_sample(params, plan, X[sample], ws)
        total += output_delta(plan, loss_code, Y[sample], scale, ws)
        lr_t = scheduled_lr(schedule, lr, p1, p2, step, epoch)
        backprop_sgd(params, velocity, plan, ws, lr_t, momentum, nesterov, weight_decay)
        step += 1
    return total, step


@njit(cache=True, nogil=True)
def minibatch_epoch(params, velocity, grad, plan, loss_code, X, Y, order, batch_size,
                    lr, schedule, p1, p2, step, epoch, momentum, nesterov, weight_decay, ws, total):
    """Minibatch SGD over ``X[order]`` in batches of ``batch_size`` (the last may be short).

    With ``batch_size >= len(order)`` this is one full-batch gradient-descent
    step.  Returns ``total`` plus the unscaled loss sum, each batch's loss
    taken before its update, and the update counter; like ``sgd_epoch`` it
    may be called over consecutive slices that are multiples of ``batch_size``.
    """
    n = order.shape[0]
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        grad[:] = 0.0
        total += accumulate_gradient(params, plan, loss_code, X, Y, order, start, stop, grad, ws)
        lr_t = scheduled_lr(schedule, lr, p1, p2, step, epoch)
        apply_gradient(params, velocity, grad, plan, lr_t, momentum, nesterov, weight_decay)
        step += 1
    return total, step
