"""The compiled kernels: forward pass, backpropagation, and the training loops.

Every kernel takes only arrays, scalars and integer codes, and is cached on
disk.  Most compile once per dtype.  Two kinds take integer constants that
Numba compiles in (``_jit.specialise``), one version per value:
``tiny_sgd_epoch`` its architecture (sizes, activations and loss), where
keeping the parameters in registers is worth two to three times the speed,
and ``blocked_sgd_epoch`` and ``general_sgd_epoch`` the network's codes
(``network_codes``: its activations and loss), so that a fit compiles the
arithmetic of those alone: each activation's loop inlines its exponential
and vectorises it, and a cold fit used to wait for all seven (the README's
start-up section has the figures).  ``loss_sum`` takes the same constant
(``Ensemble`` runs the fit's own loops); the other kernels are compiled for
``ANY_NETWORK``, every code.
The network's shape arrives as the
*plan* table of ``_layout.py``; the per-unit scratch space as the workspace
``ws``, a ``(4, n_units)`` array whose rows hold, for every unit (inputs
first, then each layer's outputs):

* ``ws[A]``     the activation ``a = f(z)`` (the input sample for layer 0),
* ``ws[D]``     the activation's derivative ``f'(z)``,
* ``ws[DELTA]`` the backpropagated error ``dL/dz``,
* ``ws[Z]``     the pre-activation ``z = W a_prev + b``.

The maths is the textbook chain rule: the output delta is ``dL/dz`` of each
output unit (``losses.output_unit``); each earlier layer's delta is
``f'(z) * (W^T delta_next)``, the sum over every path to the loss; the
gradient of ``W[j, i]`` is ``delta[j] * a_prev[i]`` and of ``b[j]`` is
``delta[j]``; every step is ``optim.sgd_update``.

Which loop trains what:

==========================  ==============================================
``tiny_sgd_epoch``          per-sample SGD (plain), one hidden layer of at
                            most 8 units, at most 4 inputs and 4 outputs
                            (not softmax): compiled per architecture, its
                            parameters in registers
``shallow_sgd_epoch``       per-sample SGD, one hidden layer of at most 16
                            units: the chain of dependent operations from
                            one sample to the next kept short
``blocked_sgd_epoch``       per-sample SGD (plain) with a first layer of
                            more than 4096 weights: its updates applied 64
                            samples at a time by matrix products
``general_sgd_epoch``       every other per-sample SGD (any depth,
                            momentum, weight decay)
``minibatch_epoch``         batches; large networks' gradients by matrix
                            products (``batch_gradient``), small ones'
                            per sample (``accumulate_gradient``)
``predict``                 blocks of 96 samples in panels, a matrix product
                            per layer (``panel_layer``)
==========================  ==============================================

``sgd_epoch`` chooses among the first four (``per_sample_loop``); ``MLP.fit``
calls the chosen one directly, so only it is compiled.

How it is kept fast (issue 3), each rule measured:

* Nothing called once per unit or per parameter takes an array argument.
  Numba increments and decrements the reference count of every array passed
  to a compiled function (atomic operations, ~20 cycles each); at a few per
  unit they cost more than the arithmetic.  The row loops are therefore
  written out in the kernels, and the helpers they call (activation, loss,
  update rule) take scalars; the choice of activation and loss is inlined
  (``_jit.dispatch``, and ``losses.output_unit``, an overload inlined the
  same way) rather than called.
* Array offsets and loop counters are unsigned (``U``): Numba wraps negative
  indices, and with a signed index like ``row + i`` that LLVM cannot prove
  non-negative, it vectorises the loads as gathers, five times slower.
* Inner loops run over contiguous weight rows with their branches hoisted
  out, so LLVM vectorises them; ``fastmath`` lets it reassociate sums and
  fuse multiply-adds, but not assume away NaN or inf (divergence must stay
  visible), and NumPy's error model keeps division checks out of the loops.
* Batched work goes through the register-tiled products of ``_matmul.py``,
  which read each weight once per block of samples: the forward passes of
  ``predict`` and ``batch_gradient`` (samples across 512-bit vectors) at
  about 100 GFLOP/s, the weight gradients (outer products) at about 90, the
  blocked loop's dot products at 30-50 (the core's peak is 120).
* The general per-sample update sweeps each weight row once: the row feeds
  the previous layer's delta and is updated in the same pass, four rows at
  a time where a delta is propagated.  It no longer also computes the next
  sample's first-layer sums from the fresh rows (a look-ahead written for
  first layers larger than the cache, which now take the blocked loop):
  without it, and with the input layer's rows one at a time, an 8-32-32-1
  epoch runs 9 to 24 % faster (AMD Zen 3) and a cold start compiles about
  a quarter less.
* Nothing is allocated per sample: the blocked and batched loops allocate
  their block buffers (64 or 96 samples' units) once per call; float32 models
  keep their arrays and weight loops in float32.  Their tanh and sigmoid
  compute in float32 where ``activate_layer`` and ``activate_in_place``
  apply them (twice the lanes, no table; ``predict``'s 784-256-10 hidden
  layer 1.7 -> 0.33 ns a unit); the other activations, and every
  activation in the tiny and shallow loops (``activate``), compute in
  float64 and round once.
"""

import math

import numpy as np

from numba.extending import overload

from ._jit import (U, among_flags, cast_like, has_avx512, inlined, inlined_kernel, kernel, prefetch_rows, scalar,
                   stack_array)
from ._layout import ACT_CODE, B_OFFSET, FAN_IN, FAN_OUT, IN_OFFSET, OUT_OFFSET, W_OFFSET
from ._matmul import (add_outer_products, add_products, add_row_products, pack_panels, panel_buffer, panel_layer,
                      panel_of, panel_widths, unpack_panels)
from .activations import (EVERY_ACTIVATION, SOFTMAX, activate, activate_for_latency, activate_in_place,
                          activate_layer, activation_set)
from .losses import CROSS_ENTROPY, EVERY_LOSS, batch_scale, loss_set, output_unit
from .optim import scheduled_lr, sgd_update

# The ``among`` of kernels compiled for any network: predict, the batched
# gradients and minibatch epochs, the tiny and shallow loops.
ANY_NETWORK = EVERY_ACTIVATION | EVERY_LOSS

A = 0
D = 1
DELTA = 2
Z = 3
N_WORKSPACE_ROWS = 4

@inlined
def layer_offsets(plan, layer):
    """Layer ``layer``'s fan-in, fan-out, weight, bias, input and output offsets, unsigned."""
    return (U(plan[layer, FAN_IN]), U(plan[layer, FAN_OUT]), U(plan[layer, W_OFFSET]),
            U(plan[layer, B_OFFSET]), U(plan[layer, IN_OFFSET]), U(plan[layer, OUT_OFFSET]))


# ----------------------------------------------------------------- forward

@inlined_kernel
def forward_layers(params, plan, first_layer, a, d, z, among):
    """Forward pass through layers ``first_layer, ...`` (their inputs already in ``a``).

    ``among`` (``network_codes``), a compile-time constant, names the
    network's activations: only their loops are compiled (``ANY_NETWORK``:
    every activation's).
    """
    zero = cast_like(0.0, params[0])
    for layer in range(first_layer, plan.shape[0]):
        fan_in, fan_out, w0, b0, i0, o0 = layer_offsets(plan, layer)
        code = plan[layer, ACT_CODE]
        j = U(0)
        while j + U(4) <= fan_out:  # four rows per sweep of the inputs
            r0 = w0 + j * fan_in
            r1, r2, r3 = r0 + fan_in, r0 + U(2) * fan_in, r0 + U(3) * fan_in
            s0, s1, s2, s3 = zero, zero, zero, zero
            for i in range(fan_in):
                x = a[i0 + i]
                s0 += params[r0 + i] * x
                s1 += params[r1 + i] * x
                s2 += params[r2 + i] * x
                s3 += params[r3 + i] * x
            z[o0 + j] = s0 + params[b0 + j]
            z[o0 + j + U(1)] = s1 + params[b0 + j + U(1)]
            z[o0 + j + U(2)] = s2 + params[b0 + j + U(2)]
            z[o0 + j + U(3)] = s3 + params[b0 + j + U(3)]
            j += U(4)
        for j in range(j, fan_out):
            row = w0 + j * fan_in
            s = zero
            for i in range(fan_in):
                s += params[row + i] * a[i0 + i]
            z[o0 + j] = s + params[b0 + j]
        activate_layer(among, code, z, a, d, o0, fan_out)
        apply_softmax(among, code, z, a, o0, fan_out)


@scalar
def softmax_layer(z, a, start, n):
    """``a = exp(z - max z) / sum exp(z - max z)`` over units ``[start, start + n)``."""
    zmax = z[start]
    for k in range(U(1), n):
        zmax = max(zmax, z[start + k])
    total = 0.0
    for k in range(n):
        e = math.exp(z[start + k] - zmax)
        a[start + k] = e
        total += e
    for k in range(n):
        a[start + k] /= total


@inlined
def load_input(X, sample, a):
    """Copy row ``sample`` of ``X`` into the input units."""
    for i in range(U(X.shape[1])):
        a[i] = X[sample, i]


def apply_softmax(among, code, z, a, start, n):
    """``softmax_layer(z, a, start, n)`` if ``code`` is ``SOFTMAX``; left out unless ``among`` holds it.

    Inlined into the caller; ``softmax_layer`` itself is compiled once, with
    ``scalar``'s flags, the same code in every kernel that applies it.
    Compiled code only.
    """
    raise TypeError("apply_softmax is only available inside compiled kernels")


@overload(apply_softmax, prefer_literal=True, inline="always")
def _apply_softmax(among, code, z, a, start, n):
    (has_softmax,) = among_flags(among, [1 << SOFTMAX], "apply_softmax")

    def impl(among, code, z, a, start, n):
        if has_softmax and code == SOFTMAX:
            softmax_layer(z, a, start, n)

    return impl


@inlined
def output_delta(plan, loss_code, Y, sample, scale, a, d, delta, z, among):
    """Set the output layer's delta from ``Y[sample]``; return the sample's unscaled loss.

    ``among``: the network's loss (``network_codes``), a constant, as in ``forward_layers``.
    """
    fan_in, n, w0, b0, i0, o0 = layer_offsets(plan, plan.shape[0] - 1)
    y_sum = 0.0
    log_sum_exp = 0.0
    if loss_code == CROSS_ENTROPY:
        zmax = z[o0]
        for k in range(n):
            zmax = max(zmax, z[o0 + k])
        total = 0.0
        for k in range(n):
            total += math.exp(z[o0 + k] - zmax)
            y_sum += Y[sample, k]
        log_sum_exp = zmax + math.log(total)
    loss = 0.0
    for k in range(n):
        value, slope = output_unit(among, loss_code, z[o0 + k], a[o0 + k], d[o0 + k], Y[sample, k],
                                   y_sum, log_sum_exp)
        loss += value
        delta[o0 + k] = scale * slope
    return loss


# ---------------------------------------------------------------- backward

@inlined_kernel
def backprop_gradient(params, plan, a, d, delta, grad):
    """Backpropagate the output delta; add ``dL/dparams`` of this sample into ``grad``."""
    for layer in range(plan.shape[0] - 1, -1, -1):
        fan_in, fan_out, w0, b0, i0, o0 = layer_offsets(plan, layer)
        propagate = layer > 0  # the input layer needs no delta
        if propagate:
            for i in range(fan_in):
                delta[i0 + i] = 0.0
        for j in range(fan_out):
            dj = delta[o0 + j]
            row = w0 + j * fan_in
            if propagate:
                for i in range(fan_in):
                    delta[i0 + i] += params[row + i] * dj
                    grad[row + i] += dj * a[i0 + i]
            else:
                for i in range(fan_in):
                    grad[row + i] += dj * a[i0 + i]
            grad[b0 + j] += dj
        if propagate:
            for i in range(fan_in):
                delta[i0 + i] *= d[i0 + i]


@inlined_kernel
def backprop_sgd(params, velocity, plan, a, d, delta, lr, momentum, nesterov, weight_decay, stop_layer):
    """Backpropagate the output delta and update every parameter in the same sweep.

    Each weight row feeds the previous layer's delta before it is updated, so
    the result equals computing the whole gradient first and then stepping
    with ``sgd_update`` (whose momentum-free case the rows spell out, so that
    they vectorise).  ``velocity`` is None for plain SGD (``momentum`` 0):
    then the momentum rows are not compiled at all.  Layers below
    ``stop_layer`` are left alone (their delta is still set).
    """
    for layer in range(plan.shape[0] - 1, stop_layer - 1, -1):
        fan_in, fan_out, w0, b0, i0, o0 = layer_offsets(plan, layer)
        propagate = layer > 0  # the input layer needs no delta
        if propagate:
            for i in range(fan_in):
                delta[i0 + i] = 0.0
        j = U(0)
        while velocity is None and propagate and j + U(4) <= fan_out:
            # Four rows per sweep: the layer's inputs and deltas are loaded and
            # stored once per four rows, the same updates in fewer memory operations.
            r0 = w0 + j * fan_in
            r1, r2, r3 = r0 + fan_in, r0 + U(2) * fan_in, r0 + U(3) * fan_in
            d0, d1, d2, d3 = delta[o0 + j], delta[o0 + j + U(1)], delta[o0 + j + U(2)], delta[o0 + j + U(3)]
            for i in range(fan_in):
                x = a[i0 + i]
                v0, v1, v2, v3 = params[r0 + i], params[r1 + i], params[r2 + i], params[r3 + i]
                delta[i0 + i] += v0 * d0 + v1 * d1 + v2 * d2 + v3 * d3
                params[r0 + i] = v0 - lr * (d0 * x + weight_decay * v0)
                params[r1 + i] = v1 - lr * (d1 * x + weight_decay * v1)
                params[r2 + i] = v2 - lr * (d2 * x + weight_decay * v2)
                params[r3 + i] = v3 - lr * (d3 * x + weight_decay * v3)
            for k in range(U(4)):
                params[b0 + j + k] -= lr * delta[o0 + j + k]  # sgd_update without momentum
            j += U(4)
        for j in range(j, fan_out):  # the remaining rows, every row of the input layer, and momentum
            dj = delta[o0 + j]
            row = w0 + j * fan_in
            if velocity is not None and momentum != 0.0:
                for i in range(fan_in):
                    w = params[row + i]
                    if propagate:
                        delta[i0 + i] += w * dj
                    g = dj * a[i0 + i] + weight_decay * w
                    params[row + i], velocity[row + i] = sgd_update(
                        w, velocity[row + i], g, lr, momentum, nesterov)
                params[b0 + j], velocity[b0 + j] = sgd_update(
                    params[b0 + j], velocity[b0 + j], dj, lr, momentum, nesterov)
            elif propagate:
                for i in range(fan_in):
                    w = params[row + i]
                    delta[i0 + i] += w * dj
                    params[row + i] = w - lr * (dj * a[i0 + i] + weight_decay * w)
                params[b0 + j] -= lr * dj  # sgd_update without momentum
            else:
                for i in range(fan_in):
                    w = params[row + i]
                    params[row + i] = w - lr * (dj * a[i0 + i] + weight_decay * w)
                params[b0 + j] -= lr * dj
        if propagate:
            for i in range(fan_in):
                delta[i0 + i] *= d[i0 + i]


@inlined_kernel
def apply_gradient(params, velocity, grad, plan, lr, momentum, nesterov, weight_decay):
    """One SGD step from an accumulated gradient; weight decay on weights only."""
    for layer in range(plan.shape[0]):
        fan_in, fan_out, w0, b0, i0, o0 = layer_offsets(plan, layer)
        if momentum == 0.0:  # sgd_update without momentum, spelled out so that it vectorises
            for k in range(w0, b0):
                params[k] -= lr * (grad[k] + weight_decay * params[k])
            for k in range(b0, b0 + fan_out):
                params[k] -= lr * grad[k]
            continue
        for k in range(w0, b0):
            g = grad[k] + weight_decay * params[k]
            params[k], velocity[k] = sgd_update(params[k], velocity[k], g, lr, momentum, nesterov)
        for k in range(b0, b0 + fan_out):
            params[k], velocity[k] = sgd_update(params[k], velocity[k], grad[k], lr, momentum, nesterov)


# ------------------------------------------------------------ entry points

# Per-sample SGD on a network whose first layer has more weights than this
# goes through blocked_sgd_epoch (plain SGD), which reads the largest matrix a
# block of samples at a time.  One hidden layer of at most SHALLOW_MAX_HIDDEN
# units goes through shallow_sgd_epoch, whose short chain of operations per
# sample wins on tiny networks; wider ones vectorise better in the general loop.
LARGE_FIRST_LAYER = 4096
SHALLOW_MAX_HIDDEN = 16
# The largest networks tiny_sgd_epoch is compiled for, one version each.
TINY_MAX_INPUTS, TINY_MAX_HIDDEN, TINY_MAX_OUTPUTS = 4, 8, 4
TINY_MAX_PARAMS = TINY_MAX_HIDDEN * (TINY_MAX_INPUTS + 1) + TINY_MAX_OUTPUTS * (TINY_MAX_HIDDEN + 1)
# Samples per block of blocked_sgd_epoch: the block's inputs and steps stay in
# L1/L2 while the first layer is swept; longer blocks cost more corrections.
SAMPLE_BLOCK = 64
SMALL_BLOCK_BELOW = 256  # inputs; below, half blocks (fewer corrections per sample)
# Without AVX-512, each sample's corrections go through add_row_products (its
# pre-activations in registers, one load of the steps per multiply-add)
# instead of a sweep of z per earlier sample (two loads and a store per
# multiply-add): a 32-sample block of 64-128-10 corrects in 4.0 us instead
# of 8.9 (float64, Zen 3; 784-256-10's block the same, 64 us).
CORRECTIONS_IN_TILES = not has_avx512()
# Per-sample loops visit the rows of X and Y in a shuffled order, which the
# hardware prefetchers cannot guess: on data larger than the caches every
# sample would wait for memory (a shuffled 4 M-sample 1-2-1 epoch took 0.18 s
# in the kernel against 0.04 s in order).  The loops ask for the rows this
# many samples ahead (0.05 s; 32 measured better than 16, as well as 64).
PREFETCH_AHEAD = 32
# The look-ahead of the tiny and shallow loops (the next sample's hidden sums
# from the old rows, corrected by lr d (x . x_next + 1) w f') is used only
# while lr (x . x_next + 1) stays below this: past it, the correction could
# overflow where per-sample SGD does not (inf times a zero delta is NaN), and
# the next sums come from the rows.  Below it, w f' lr (x . x_next + 1)
# overflows only for weights above 1e158 (float32: 3e19).
LOOK_AHEAD_LIMIT, LOOK_AHEAD_LIMIT_32 = 1e150, 1e19
SHALLOW_LOOP, BLOCKED_LOOP, GENERAL_LOOP, TINY_LOOP = 0, 1, 2, 3


@kernel
def look_ahead_limit(params):
    """``LOOK_AHEAD_LIMIT`` in the dtype of ``params`` (float32: ``LOOK_AHEAD_LIMIT_32``)."""
    return cast_like(LOOK_AHEAD_LIMIT if params.itemsize == 8 else LOOK_AHEAD_LIMIT_32, params[0])


@kernel
def per_sample_loop(plan, momentum, weight_decay):
    """Which loop ``sgd_epoch`` runs: ``TINY_LOOP``, ``SHALLOW_LOOP``, ``BLOCKED_LOOP`` or ``GENERAL_LOOP``.

    Callable from Python too, so that ``MLP.fit`` calls (and compiles) only
    the loop it needs.
    """
    large_first_layer = plan[0, FAN_IN] * plan[0, FAN_OUT] > LARGE_FIRST_LAYER
    plain = momentum == 0.0 and weight_decay == 0.0
    if (plan.shape[0] == 2 and plain and plan[0, FAN_IN] <= TINY_MAX_INPUTS
            and plan[0, FAN_OUT] <= TINY_MAX_HIDDEN and plan[1, FAN_OUT] <= TINY_MAX_OUTPUTS
            and plan[1, ACT_CODE] != SOFTMAX):
        return TINY_LOOP
    if plan.shape[0] == 2 and plan[0, FAN_OUT] <= SHALLOW_MAX_HIDDEN:
        return SHALLOW_LOOP
    if plan.shape[0] >= 2 and large_first_layer and plain:
        return BLOCKED_LOOP
    return GENERAL_LOOP

@inlined_kernel
def forward_block(params, plan, m, n_units, act, pre, slope, panels, among):
    """Forward pass of ``m`` samples whose units sit at ``b * n_units`` in flat buffers.

    ``act`` holds the inputs on entry and every layer's activations on exit,
    ``pre`` the pre-activations and ``slope`` the ``f'(z)``.  Each layer is
    one matrix product, ``Z = A W^T + b``, in the panel layout of
    ``panel_layer`` (``panels``, a ``panel_buffer`` for ``m`` samples): the
    inputs are packed into it once, each layer's ``Z`` unpacked from it and
    its activations packed back for the next layer.  The transposes cost a
    few percent of what the panel product saves over ``add_products``.
    ``among``: the network's activations, a constant, as in ``forward_layers``.
    """
    rows = U(act.shape[0]) // n_units
    acts, pres = act.reshape((rows, n_units)), pre.reshape((rows, n_units))
    pack_panels(acts, U(0), U(0), U(plan[0, FAN_IN]), m, panels, n_units, U(0), False)
    for layer in range(plan.shape[0]):
        fan_in, fan_out, w0, b0, i0, o0 = layer_offsets(plan, layer)
        panel_layer(params, w0, b0, fan_in, fan_out, panels, i0, o0, m, n_units)
        unpack_panels(panels, n_units, o0, fan_out, m, pres, U(0), o0)
        code = plan[layer, ACT_CODE]
        for b in range(m):
            activate_layer(among, code, pre, act, slope, b * n_units + o0, fan_out)
            apply_softmax(among, code, pre, act, b * n_units + o0, fan_out)
        if layer < plan.shape[0] - 1:
            pack_panels(acts, U(0), o0, fan_out, m, panels, n_units, o0, False)


PREDICT_BLOCK = 96  # samples per block of predict: 4 full panels in float64, 2 in float32


@kernel
def predict(params, plan, X, out, ws):
    """Batch forward pass: ``out[s] = network(X[s])`` for every row of ``X``.

    Samples go a block at a time, each layer of the block one matrix product
    (``panel_layer``) that reads every weight once per block.  The block
    lives in the panel layout of that product (a unit of a panel's samples
    contiguous), packed once from ``X``: each layer's outputs land where the
    next layer reads its inputs, and only the last layer's are unpacked into
    ``out``.  Every output is a chain of multiply-adds in the order of its
    terms, so it does not depend on the sample's place in the block.

    Returns whether every input was finite (checked while packing).
    """
    n_units = U(ws.shape[1])
    lanes, wide = panel_widths(ws)
    n, n_in = U(X.shape[0]), U(X.shape[1])
    block = panel_buffer(min(U(PREDICT_BLOCK), n), n_units, ws)
    column = np.empty(n_units, dtype=ws.dtype)  # one sample's units, for softmax
    check = 0.0  # 0 while the inputs are finite, then NaN
    last = plan.shape[0] - 1
    o_last, n_out = U(plan[last, OUT_OFFSET]), U(plan[last, FAN_OUT])
    for start in range(U(0), n, U(PREDICT_BLOCK)):
        m = min(U(PREDICT_BLOCK), n - start)
        check += pack_panels(X, start, U(0), n_in, m, block, n_units, U(0), True)
        for layer in range(plan.shape[0]):
            fan_in, fan_out, w0, b0, i0, o0 = layer_offsets(plan, layer)
            panel_layer(params, w0, b0, fan_in, fan_out, block, i0, o0, m, n_units)
            code = plan[layer, ACT_CODE]
            s = U(0)
            while s < m:
                w = panel_of(s, m, wide, lanes)[1]
                real = min(w, m - s)
                if real == w:  # the layer's units, one contiguous run
                    activate_in_place(ANY_NETWORK, code, block, s * n_units + o0 * w, fan_out * w)
                else:  # a padded panel (a single sample, say): only the real lanes
                    for j in range(fan_out):
                        activate_in_place(ANY_NETWORK, code, block, s * n_units + (o0 + j) * w, real)
                if code == SOFTMAX:  # over each sample's units: gathered, as softmax_layer reads them
                    for b in range(real):
                        for j in range(fan_out):
                            column[j] = block[s * n_units + (o0 + j) * w + b]
                        softmax_layer(column, column, U(0), fan_out)
                        for j in range(fan_out):
                            block[s * n_units + (o0 + j) * w + b] = column[j]
                s += w
        unpack_panels(block, n_units, o_last, n_out, m, out, start, U(0))
    return check == 0.0


@kernel
def loss_sum(params, plan, loss_code, X, Y, ws, among):
    """Sum over the rows of ``X`` of each sample's unscaled loss.

    Compiled for ``among`` (``network_codes``), as the loop that trained the
    network was: a fit's validation losses compile nothing more.
    """
    a, d, delta, z = ws[A], ws[D], ws[DELTA], ws[Z]
    total = 0.0
    for s in range(U(X.shape[0])):
        load_input(X, s, a)
        forward_layers(params, plan, np.int64(0), a, d, z, among)
        total += output_delta(plan, loss_code, Y, s, 1.0, a, d, delta, z, among)
    return total


@inlined_kernel
def accumulate_gradient(params, plan, loss_code, X, Y, order, start, stop, grad, ws):
    """Add the gradient of the loss over samples ``order[start:stop]`` into ``grad``.

    Returns the samples' unscaled loss sum.
    """
    a, d, delta, z = ws[A], ws[D], ws[DELTA], ws[Z]
    scale = batch_scale(loss_code, stop - start, plan[plan.shape[0] - 1, FAN_OUT])
    total = 0.0
    for s in range(start, stop):
        sample = U(order[s])
        load_input(X, sample, a)
        forward_layers(params, plan, np.int64(0), a, d, z, ANY_NETWORK)
        total += output_delta(plan, loss_code, Y, sample, scale, a, d, delta, z, ANY_NETWORK)
        backprop_gradient(params, plan, a, d, delta, grad)
    return total


GRADIENT_BLOCK = 64  # samples per pass of batch_gradient


@inlined_kernel
def batch_gradient(params, plan, loss_code, X, Y, order, start, stop, grad, ws):
    """``accumulate_gradient`` through matrix products, a block of samples at a time.

    For a block of ``m`` samples each layer's forward pass is ``Z = A W^T + b``,
    its weight gradient ``Delta^T A`` and the previous layer's delta
    ``(Delta W) * f'``: three matrix products that read each weight once per
    block rather than once per sample.  The blocks' rows live in flat buffers,
    sample ``b``'s units at ``b * n_units`` as in the workspace; the forward
    product runs in panels (``forward_block``), the two backward products
    sum over short ranges (the block's samples, a layer's outputs) and take
    the outer-product form.
    """
    n_units = U(ws.shape[1])
    block = U(GRADIENT_BLOCK)
    one = cast_like(1.0, params[0])
    pre = np.empty(block * n_units, dtype=ws.dtype)
    act = np.empty(block * n_units, dtype=ws.dtype)
    slope = np.empty(block * n_units, dtype=ws.dtype)
    delta = np.empty(block * n_units, dtype=ws.dtype)
    panels = panel_buffer(block, n_units, ws)
    scale = batch_scale(loss_code, stop - start, plan[plan.shape[0] - 1, FAN_OUT])
    n_in = U(X.shape[1])
    total = 0.0
    for first in range(start, stop, GRADIENT_BLOCK):
        m = U(min(GRADIENT_BLOCK, stop - first))
        for b in range(m):
            for i in range(n_in):
                act[b * n_units + i] = X[U(order[first + b]), i]
        forward_block(params, plan, m, n_units, act, pre, slope, panels, ANY_NETWORK)
        for b in range(m):
            row = b * n_units
            total += output_delta(plan, loss_code, Y, U(order[first + b]), scale,
                                  act[row:row + n_units], slope[row:row + n_units],
                                  delta[row:row + n_units], pre[row:row + n_units], ANY_NETWORK)
        for layer in range(plan.shape[0] - 1, -1, -1):
            fan_in, fan_out, w0, b0, i0, o0 = layer_offsets(plan, layer)
            # dL/dW += Delta^T A: rows j of W, a term per sample of the block
            add_outer_products(delta, o0, U(1), n_units, fan_out, act, i0, n_units, fan_in, m,
                               grad, w0, fan_in, one)
            for j in range(fan_out):
                g = grad[b0 + j]
                for b in range(m):
                    g += delta[b * n_units + o0 + j]
                grad[b0 + j] = g
            if layer > 0:  # the previous layer's delta, (Delta W) * f': the input layer needs none
                for b in range(m):
                    for i in range(fan_in):
                        delta[b * n_units + i0 + i] = 0.0
                add_outer_products(delta, o0, n_units, U(1), m, params, w0, fan_in, fan_in, fan_out,
                                   delta, i0, n_units, one)
                for b in range(m):
                    for i in range(fan_in):
                        delta[b * n_units + i0 + i] *= slope[b * n_units + i0 + i]
    return total


# Networks with more weights than this take their batch gradients through
# matrix products (batch_gradient); below it the per-sample sums are faster.
BATCHED_GRADIENT_WEIGHTS = 4096


@kernel
def gradient_sum(params, plan, loss_code, X, Y, order, start, stop, grad, ws):
    """Add the gradient over samples ``order[start:stop]`` into ``grad``; return the unscaled loss sum.

    ``batch_gradient`` for large networks, ``accumulate_gradient`` for small ones.

    The one kernel with sums that another kernel (``minibatch_epoch``) calls
    without inlining it (``_jit.inlined_kernel``): ``MLP.gradient`` and the
    minibatch epoch share this compile of every activation, which inlined
    would cost some 8 s more.  Its copy inside ``minibatch_epoch`` and this
    one give the same bits (``tests/test_cache.py`` checks both gradient
    paths after a ``gradient`` call).
    """
    if stop - start > 1 and plan[plan.shape[0] - 1, B_OFFSET] > BATCHED_GRADIENT_WEIGHTS:
        return batch_gradient(params, plan, loss_code, X, Y, order, start, stop, grad, ws)
    return accumulate_gradient(params, plan, loss_code, X, Y, order, start, stop, grad, ws)


@kernel
def shallow_sgd_epoch(params, velocity, plan, loss_code, X, Y, order,
                      lr, schedule, p1, p2, step, epoch, momentum, nesterov, weight_decay, ws, total):
    """``sgd_epoch`` for one hidden layer of at most ``SHALLOW_MAX_HIDDEN`` units (tiny networks).

    The same steps as the general loop with the two layers spelled out: no
    loop over layers and no plan lookups per sample.  On a tiny network
    per-sample SGD is a chain of dependent operations (each sample waits
    for the previous update), so the loop is arranged to keep that chain
    short:

    * The backward pass goes hidden unit by hidden unit: unit ``j``'s delta
      is summed from the output weights of column ``j`` as they are
      updated, then its own weights are updated at once, with no sum
      accumulated through memory.
    * Under plain SGD the next sample's hidden pre-activation does not wait
      for the hidden weights' update.  With ``W' = W - lr d_j x^T`` and
      ``b' = b - lr d_j``, ``W' x_next + b' = (W x_next + b) - d_j lr (x .
      x_next + 1)``: the bracket is computed from the old row while the
      delta is still on its way, and the delta needs one multiply-add more.
      This is exact per-sample SGD, equal to updating first up to rounding;
      it starts afresh (from the updated row) at every ``SAMPLE_BLOCK``-th
      sample, so slices of whole blocks give the same bits as one call.

    It trains a 1-2-1 network about eight times as fast as the general loop
    does (measured under plain SGD, which on 1-2-1 is now ``tiny_sgd_epoch``'s).
    """
    a, d, delta, z = ws[A], ws[D], ws[DELTA], ws[Z]
    n_in, n_hidden, w0, b0, i0, h0 = layer_offsets(plan, np.int64(0))
    _, n_out, w1, b1, _, o0 = layer_offsets(plan, np.int64(1))
    hidden_code, output_code = plan[0, ACT_CODE], plan[1, ACT_CODE]
    scale = batch_scale(loss_code, np.int64(1), plan[1, FAN_OUT])
    plain = momentum == 0.0 and weight_decay == 0.0
    zero = cast_like(0.0, params[0])
    one = cast_like(1.0, params[0])
    last_delta = zero
    n = U(order.shape[0])
    ahead = False  # whether z holds this sample's hidden pre-activations already (plain SGD)
    limit = look_ahead_limit(params)
    for s in range(n):
        sample = U(order[s])
        prefetch_rows(X, Y, order, s + U(PREFETCH_AHEAD))
        if not ahead:
            for j in range(n_hidden):
                row = w0 + j * n_in
                acc = params[b0 + j]
                for i in range(n_in):
                    acc += params[row + i] * X[sample, i]
                z[h0 + j] = acc
        first_output = params[b1]  # output unit 0's sum, kept in a register
        for j in range(n_hidden):
            aj, dj = activate(hidden_code, z[h0 + j])
            a[h0 + j], d[h0 + j] = aj, dj
            first_output += params[w1 + j] * aj
        for k in range(n_out):
            acc = first_output
            if k > 0:
                row = w1 + k * n_hidden
                acc = params[b1 + k]
                for j in range(n_hidden):
                    acc += params[row + j] * a[h0 + j]
            if loss_code == CROSS_ENTROPY:
                z[o0 + k] = acc
            else:  # the unit's delta straight from registers
                ak, dk = activate(output_code, acc)
                # scale * (r f') as r (f' scale): the late factor r last.  (bce's
                # slope uses no f', and its scale, like every loss's but mse's, is 1.)
                value, slope = output_unit(ANY_NETWORK, loss_code, acc, ak, dk * scale, Y[sample, k], 0.0, 0.0)
                total += value
                delta[o0 + k] = slope
                last_delta = slope
        if loss_code == CROSS_ENTROPY:  # softmax output, a function of the whole layer
            softmax_layer(z, a, o0, n_out)
            total += output_delta(plan, loss_code, Y, sample, scale, a, d, delta, z, ANY_NETWORK)
            last_delta = delta[o0 + n_out - U(1)]
        lr_t = cast_like(scheduled_lr(schedule, lr, p1, p2, step, epoch), lr)
        ahead = plain and s + U(1) < n and (s + U(1)) % U(SAMPLE_BLOCK) != U(0)
        following = U(order[s + U(1)]) if ahead else sample
        shared = one  # x . x_next + 1, what both of a row's updates add to its next sum
        for i in range(n_in):
            shared += X[sample, i] * X[following, i]
        rate_shared = lr_t * shared
        ahead = ahead and abs(rate_shared) < limit  # see LOOK_AHEAD_LIMIT
        # Each product below is grouped so that the factors known early meet
        # first and the late delta comes last: the chain from one sample's
        # output to the next sample's input layer is what the loop waits on.
        for j in range(n_hidden):
            aj, slope_j = a[h0 + j], d[h0 + j]
            rate_aj = lr_t * aj
            dj = zero  # f'(z_j) sum_k W1[k, j] delta_k, each weight taken before its update
            correction = zero  # -lr dj (x . x_next + 1), summed term by term as dj is
            for k in range(n_out):
                weight = w1 + k * n_hidden + j
                w = params[weight]
                dk = last_delta if k == n_out - U(1) else delta[o0 + k]
                dj += (w * slope_j) * dk
                correction -= (w * slope_j * rate_shared) * dk
                if plain:
                    params[weight] = w - rate_aj * dk
                else:
                    params[weight], velocity[weight] = sgd_update(
                        w, velocity[weight], dk * aj + weight_decay * w, lr_t, momentum, nesterov)
            row = w0 + j * n_in
            if plain:  # one sweep: the old row's sum for the next sample, and the update
                old_sum = params[b0 + j]
                if n_in == U(1):
                    # The textbook 1-H-1 network: the vector loop's set-up (trip
                    # count and aliasing checks) would cost more than its one
                    # input; without it a 1-2-1 epoch runs 8% faster.
                    w = params[row]
                    old_sum += w * X[following, 0]
                    params[row] = w - (lr_t * X[sample, 0]) * dj
                else:
                    for i in range(n_in):
                        w = params[row + i]
                        old_sum += w * X[following, i]
                        params[row + i] = w - (lr_t * X[sample, i]) * dj
                params[b0 + j] -= lr_t * dj
                z[h0 + j] = old_sum + correction
            else:
                for i in range(n_in):
                    w = params[row + i]
                    params[row + i], velocity[row + i] = sgd_update(
                        w, velocity[row + i], dj * X[sample, i] + weight_decay * w, lr_t, momentum, nesterov)
                params[b0 + j], velocity[b0 + j] = sgd_update(
                    params[b0 + j], velocity[b0 + j], dj, lr_t, momentum, nesterov)
        for k in range(n_out):
            if plain:
                params[b1 + k] -= lr_t * delta[o0 + k]
            else:
                params[b1 + k], velocity[b1 + k] = sgd_update(
                    params[b1 + k], velocity[b1 + k], delta[o0 + k], lr_t, momentum, nesterov)
        step += 1
    return total, step


def network_codes(plan, loss_code):
    """The network's activation codes and its loss code as one integer: the kernels' ``among``.

    ``activations.activation_set`` of the layers' codes, with the loss's bit
    (``losses.loss_set``): kernels compiled for it compile the arithmetic of
    these codes, and of no others.
    """
    return activation_set(plan[:, ACT_CODE]) | loss_set(loss_code)


def loop_constants(loop, plan, loss_code):
    """The constants per-sample loop ``loop`` (a ``per_sample_loop`` code) takes after ``total``.

    ``tiny_sgd_epoch`` takes the ``tiny_architecture``, ``blocked_sgd_epoch``
    and ``general_sgd_epoch`` the ``network_codes``; pass them with
    ``_jit.specialise``.  ``shallow_sgd_epoch`` takes none.
    """
    if loop == TINY_LOOP:
        return (tiny_architecture(plan, loss_code),)
    if loop == SHALLOW_LOOP:
        return ()
    return (network_codes(plan, loss_code),)


def loop_velocity(loop, velocity, momentum):
    """The ``velocity`` per-sample loop ``loop`` takes: None where the loop needs none.

    The blocked loop never uses momentum, and the general loop without it
    has no use for a velocity: given None, they compile no momentum rows
    (``backprop_sgd``), a shorter cold start.  The tiny and shallow loops,
    compiled for every option, take the array.
    """
    if loop == BLOCKED_LOOP or (loop == GENERAL_LOOP and momentum == 0.0):
        return None
    return velocity


def tiny_architecture(plan, loss_code):
    """The integer naming a ``TINY_LOOP`` network, for ``tiny_sgd_epoch``'s ``architecture``.

    Sizes and codes four bits each: ``n_in, n_hidden, n_out, hidden activation,
    output activation, loss``, the first one highest.
    """
    fields = (plan[0, FAN_IN], plan[0, FAN_OUT], plan[1, FAN_OUT], plan[0, ACT_CODE], plan[1, ACT_CODE],
              loss_code)
    architecture = 0
    for field in fields:
        architecture = architecture * 16 + int(field)
    return architecture


@kernel
def tiny_sgd_epoch(params, velocity, plan, loss_code, X, Y, order,
                   lr, schedule, p1, p2, step, epoch, momentum, nesterov, weight_decay, ws, total,
                   architecture):
    """``sgd_epoch`` for a tiny network, compiled for its ``architecture`` (``tiny_architecture``).

    One hidden layer of at most ``TINY_MAX_HIDDEN`` units, at most
    ``TINY_MAX_INPUTS`` inputs and ``TINY_MAX_OUTPUTS`` outputs, an
    elementwise output activation, plain SGD; ``velocity``, ``plan``,
    ``loss_code``, ``momentum``, ``nesterov``, ``weight_decay`` and ``ws``
    are not used.  Called with ``architecture`` a compile-time constant
    (``_jit.specialise``), every size and code in it is a constant:
    the loops below have constant lengths and are unrolled, the activation
    and loss are chosen at compile time, and the parameters, copied into a
    stack array, live in registers for the whole call, not in memory that
    each sample's update must go through.  The maths is the textbook
    step, written as such: forward, output deltas, then for each hidden unit
    its delta (from the output weights before their update) and the updates;
    the next sample's hidden sums come from the old rows, corrected by the
    delta, as in ``shallow_sgd_epoch`` (and restart at every
    ``SAMPLE_BLOCK``-th sample, so that slices of whole blocks give the same
    bits as one call).  Its activations are ``activate_for_latency``'s:
    a tanh from tabulated polynomials, some 20 cycles shorter on the chain
    than the exponential's.
    """
    n_in, n_hidden, n_out = U(architecture >> 20), U((architecture >> 16) & 15), U((architecture >> 12) & 15)
    hidden_code, output_code, loss = (architecture >> 8) & 15, (architecture >> 4) & 15, architecture & 15
    w0, b0 = U(0), n_hidden * n_in
    w1 = b0 + n_hidden
    b1 = w1 + n_out * n_hidden
    n_params = b1 + n_out
    p = stack_array(TINY_MAX_PARAMS, params)
    h = stack_array(TINY_MAX_HIDDEN, params)  # hidden activations
    slope = stack_array(TINY_MAX_HIDDEN, params)  # their f'(z)
    out_delta = stack_array(TINY_MAX_OUTPUTS, params)
    z = stack_array(TINY_MAX_HIDDEN, params)  # hidden pre-activations
    for q in range(n_params):
        p[q] = params[q]
    scale = batch_scale(loss, np.int64(1), n_out)
    zero, one = cast_like(0.0, lr), cast_like(1.0, lr)
    n = U(order.shape[0])
    fresh = True  # whether z must come from the rows, not from the look-ahead
    limit = look_ahead_limit(params)
    for s in range(n):
        sample = U(order[s])
        prefetch_rows(X, Y, order, s + U(PREFETCH_AHEAD))
        if fresh or s % U(SAMPLE_BLOCK) == U(0):
            for j in range(n_hidden):
                acc = p[b0 + j]
                for i in range(n_in):
                    acc += p[w0 + j * n_in + i] * X[sample, i]
                z[j] = acc
        for j in range(n_hidden):
            h[j], slope[j] = activate_for_latency(hidden_code, z[j])
        for k in range(n_out):
            acc = p[b1 + k]
            for j in range(n_hidden):
                acc += p[w1 + k * n_hidden + j] * h[j]
            ak, dk = activate_for_latency(output_code, acc)
            value, out_delta[k] = output_unit(ANY_NETWORK, loss, acc, ak, dk * scale, Y[sample, k], 0.0, 0.0)
            total += value
        lr_t = cast_like(scheduled_lr(schedule, lr, p1, p2, step, epoch), lr)
        following = U(order[s + U(1)]) if s + U(1) < n else sample
        rate_shared = one  # lr (x . x_next + 1), as in shallow_sgd_epoch
        for i in range(n_in):
            rate_shared += X[sample, i] * X[following, i]
        rate_shared *= lr_t
        fresh = not abs(rate_shared) < limit
        for j in range(n_hidden):
            # The next sample's sum: through the row before its update, then
            # the correction, one multiply-add per output after its delta.
            next_z = p[b0 + j]
            for i in range(n_in):
                next_z += p[w0 + j * n_in + i] * X[following, i]
            dj = zero  # f'(z_j) sum_k W1[k, j] delta_k, each weight before its update
            for k in range(n_out):
                weight = w1 + k * n_hidden + j
                dj += (p[weight] * slope[j]) * out_delta[k]
                next_z -= (p[weight] * slope[j] * rate_shared) * out_delta[k]
                p[weight] -= (lr_t * h[j]) * out_delta[k]
            for i in range(n_in):
                p[w0 + j * n_in + i] -= (lr_t * X[sample, i]) * dj
            p[b0 + j] -= lr_t * dj
            z[j] = next_z
        for k in range(n_out):
            p[b1 + k] -= lr_t * out_delta[k]
        step += 1
    for q in range(n_params):
        params[q] = p[q]
    return total, step


@kernel
def blocked_sgd_epoch(params, velocity, plan, loss_code, X, Y, order,
                      lr, schedule, p1, p2, step, epoch, momentum, nesterov, weight_decay, ws, total, among):
    """``sgd_epoch`` with the first layer's updates applied a block of samples at a time.

    Plain SGD only (no momentum, no weight decay), for a large first layer.
    Sample ``t`` of a block sees the first layer exactly as per-sample SGD
    leaves it, ``W_t = W - sum_{s<t} u_s x_s^T`` and ``b_t = b - sum_{s<t} u_s``
    with ``u_s = lr_s delta_s``, so its pre-activation is

        ``W_t x_t + b_t = (W x_t + b) - sum_{s<t} u_s (x_s . x_t + 1)``:

    ``W x_t + b`` for the whole block is one matrix product with ``W`` as it
    was at the block's start, the dot products ``x_s . x_t`` another, and at
    the block's end ``W -= U^T X_block`` a third.  The largest matrix is read
    twice per block of ``SAMPLE_BLOCK`` samples (half that with fewer than
    ``SMALL_BLOCK_BELOW`` inputs, where the corrections would cost more than
    the products save) instead of twice per sample, by register-tiled
    products that run at 30-50 GFLOP/s; the result equals per-sample SGD up
    to rounding.  Blocks start at the slice's start, which is why the
    callers' slices come in whole blocks.  The later layers are small and
    are updated per sample by ``backprop_sgd`` as in the general loop, and
    ``among`` is as in the general loop.
    """
    a, d, delta, z = ws[A], ws[D], ws[DELTA], ws[Z]
    n_in, n_hidden, w0, b0, _, h0 = layer_offsets(plan, np.int64(0))
    code = plan[0, ACT_CODE]
    scale = batch_scale(loss_code, np.int64(1), plan[plan.shape[0] - 1, FAN_OUT])
    one = cast_like(1.0, params[0])
    block = U(SAMPLE_BLOCK if n_in >= U(SMALL_BLOCK_BELOW) else SAMPLE_BLOCK // 2)
    inputs = np.empty(block * n_in, dtype=ws.dtype)  # the block's samples, one per row
    pre = np.empty(block * n_hidden, dtype=ws.dtype)  # W x_t + b, W as at the block's start
    gram = np.empty(block * block, dtype=ws.dtype)  # x_s . x_t + 1
    steps = np.empty(block * n_hidden, dtype=ws.dtype)  # u_t = lr_t delta_t, one row per sample
    n = U(order.shape[0])
    for start in range(U(0), n, block):
        m = min(block, n - start)
        for t in range(m):
            row = U(order[start + t])
            for i in range(n_in):
                inputs[t * n_in + i] = X[row, i]
            for j in range(n_hidden):
                pre[t * n_hidden + j] = params[b0 + j]
            for s in range(m):
                gram[t * block + s] = one
        add_products(inputs, U(0), n_in, m, params, w0, n_in, n_hidden, n_in, pre, U(0), n_hidden, one)
        for r in range(U(0), m, U(4)):  # rows r.. of x_t . x_s, for s < r + 4 only (s < t is used)
            add_products(inputs, r * n_in, n_in, min(U(4), m - r), inputs, U(0), n_in, min(r + U(4), m),
                         n_in, gram, r * block, block, one)
        for t in range(m):
            sample = U(order[start + t])
            for j in range(n_hidden):
                z[h0 + j] = pre[t * n_hidden + j]
            if CORRECTIONS_IN_TILES:
                add_row_products(gram, t * block, U(1), steps, U(0), n_hidden, n_hidden, t, z, h0, -one)
            else:
                for s in range(t):
                    g = gram[t * block + s]
                    for j in range(n_hidden):
                        z[h0 + j] -= g * steps[s * n_hidden + j]
            activate_layer(among, code, z, a, d, h0, n_hidden)
            forward_layers(params, plan, np.int64(1), a, d, z, among)
            total += output_delta(plan, loss_code, Y, sample, scale, a, d, delta, z, among)
            lr_t = cast_like(scheduled_lr(schedule, lr, p1, p2, step, epoch), lr)
            backprop_sgd(params, velocity, plan, a, d, delta, lr_t, momentum, nesterov, weight_decay,
                         np.int64(1))
            for j in range(n_hidden):
                steps[t * n_hidden + j] = lr_t * delta[h0 + j]
            step += 1
        add_outer_products(steps, U(0), U(1), n_hidden, n_hidden, inputs, U(0), n_in, n_in, m,
                           params, w0, n_in, -one)
        for t in range(m):
            for j in range(n_hidden):
                params[b0 + j] -= steps[t * n_hidden + j]
    return total, step


@kernel
def sgd_epoch(params, velocity, plan, loss_code, X, Y, order,
              lr, schedule, p1, p2, step, epoch, momentum, nesterov, weight_decay, ws, total,
              among, architecture=None):
    """Per-sample SGD over ``X[order]``: forward, backward and update fused per sample.

    Returns ``total`` plus the sum of each sample's unscaled loss, taken
    before its own update, and the update counter after these samples.  An
    epoch may be run in several calls over consecutive slices of its order:
    passing the running ``total`` and ``step`` along gives the same bits as
    one call as long as every slice but the last is a multiple of
    ``SAMPLE_BLOCK`` samples long.

    The one-call form, for the tests: ``MLP.fit`` and ``Ensemble`` call the
    chosen loop directly (``training.epoch_runner``), since this kernel links
    its own copies of the loops (see ``_jit.inlined_kernel``).

    ``among``, the ``network_codes``, is a compile-time constant: the blocked
    and general loops compile the activations and loss it names, and no
    others (the tiny loop has them in its architecture, the shallow loop
    compiles every one).

    Four loops share the work, chosen by ``per_sample_loop``:
    ``tiny_sgd_epoch`` for a tiny network under plain SGD (given its
    ``architecture``, ``tiny_architecture(plan, loss_code)``, as a
    compile-time constant; without it ``shallow_sgd_epoch`` stands in),
    ``shallow_sgd_epoch`` for one narrow hidden layer, ``blocked_sgd_epoch``
    for a large first layer under plain SGD, and ``general_sgd_epoch`` for
    the rest.
    """
    loop = per_sample_loop(plan, momentum, weight_decay)
    if architecture is not None:  # decided at compile time
        if loop == TINY_LOOP:
            return tiny_sgd_epoch(params, velocity, plan, loss_code, X, Y, order, lr, schedule, p1, p2,
                                  step, epoch, momentum, nesterov, weight_decay, ws, total, architecture)
    if loop == SHALLOW_LOOP or loop == TINY_LOOP:
        return shallow_sgd_epoch(params, velocity, plan, loss_code, X, Y, order, lr, schedule,
                                 p1, p2, step, epoch, momentum, nesterov, weight_decay, ws, total)
    if loop == BLOCKED_LOOP:
        return blocked_sgd_epoch(params, velocity, plan, loss_code, X, Y, order, lr, schedule,
                                 p1, p2, step, epoch, momentum, nesterov, weight_decay, ws, total, among)
    return general_sgd_epoch(params, velocity, plan, loss_code, X, Y, order, lr, schedule,
                             p1, p2, step, epoch, momentum, nesterov, weight_decay, ws, total, among)


@kernel
def general_sgd_epoch(params, velocity, plan, loss_code, X, Y, order,
                      lr, schedule, p1, p2, step, epoch, momentum, nesterov, weight_decay, ws, total, among):
    """``sgd_epoch`` for any network and options: forward, backward and update fused per sample.

    Compiled for ``among`` (``network_codes``), a constant, and for
    ``velocity`` None (plain SGD, see ``loop_velocity``) or an array.
    """
    a, d, delta, z = ws[A], ws[D], ws[DELTA], ws[Z]
    # np.int64(...) rather than a literal: Numba compiles a callee once per
    # literal argument value, and compile time is start-up time.
    scale = batch_scale(loss_code, np.int64(1), plan[plan.shape[0] - 1, FAN_OUT])
    for s in range(order.shape[0]):
        prefetch_rows(X, Y, order, s + PREFETCH_AHEAD)
        load_input(X, U(order[s]), a)
        forward_layers(params, plan, np.int64(0), a, d, z, among)
        total += output_delta(plan, loss_code, Y, U(order[s]), scale, a, d, delta, z, among)
        lr_t = cast_like(scheduled_lr(schedule, lr, p1, p2, step, epoch), lr)
        backprop_sgd(params, velocity, plan, a, d, delta, lr_t, momentum, nesterov, weight_decay, np.int64(0))
        step += 1
    return total, step


@kernel
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
        total += gradient_sum(params, plan, loss_code, X, Y, order, start, stop, grad, ws)
        lr_t = cast_like(scheduled_lr(schedule, lr, p1, p2, step, epoch), lr)
        apply_gradient(params, velocity, grad, plan, lr_t, momentum, nesterov, weight_decay)
        step += 1
    return total, step


# The per-sample loops by their per_sample_loop code, for callers in Python.
PER_SAMPLE_LOOPS = (shallow_sgd_epoch, blocked_sgd_epoch, general_sgd_epoch, tiny_sgd_epoch)
