"""Every kernel against the slow reference in naive.py."""

import numpy as np
import pytest

import naive
import nbprop
from conftest import ARCHITECTURES, HEADS, HIDDEN, TOL, activate_in_place, activate_layer, make_case, spec
from nbprop import _kernels, _matmul, activations
from nbprop._jit import call_specialised


@pytest.mark.parametrize("sizes", ARCHITECTURES)
@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("head", HEADS)
def test_forward_loss_and_gradient_match_reference(sizes, hidden, head, dtype):
    net, X, Y = make_case(sizes, hidden, head, dtype)
    sizes, acts, loss = spec(net)
    np.testing.assert_allclose(net.predict(X), naive.predict(net.params, sizes, acts, X), **TOL[dtype])
    expected_loss, expected_grad = naive.loss_and_gradient(net.params, sizes, acts, loss, X, Y)
    assert net.loss(X, Y) == pytest.approx(expected_loss, rel=TOL[dtype]["rtol"])
    grad = net.gradient(X, Y)
    assert grad.dtype == net.dtype
    scale = max(1.0, np.abs(expected_grad).max())
    np.testing.assert_allclose(grad, expected_grad, rtol=TOL[dtype]["rtol"], atol=TOL[dtype]["atol"] * scale)


SCHEDULES = {
    "constant": (None, lambda lr: None),
    "inverse": (nbprop.InverseScaling(decay=0.3), lambda lr: lambda t, e: lr / (1 + 0.3 * t)),
    "step": (nbprop.StepDecay(every=2, factor=0.5), lambda lr: lambda t, e: lr * 0.5 ** (e // 2)),
}
OPTIONS = {
    "plain": {},
    "momentum": dict(momentum=0.9),
    "nesterov": dict(momentum=0.8, nesterov=True),
    "weight_decay": dict(weight_decay=0.1, momentum=0.5),
}
TRAIN_CASES = [([1, 2, 1], "softplus", ("identity", "ssr")),
               ([2, 2, 2], "sigmoid", ("sigmoid", "bce")),
               ([3, 5, 4, 3], "tanh", ("softmax", "cross_entropy")),
               ([3, 4, 2], "elu", ("identity", "mse")),
               ([2, 6, 1], "leaky_relu", ("identity", "half_sse"))]


@pytest.mark.parametrize("sizes,hidden,head", TRAIN_CASES)
@pytest.mark.parametrize("batch_size", [1, 3, None])
@pytest.mark.parametrize("option", sorted(OPTIONS))
@pytest.mark.parametrize("schedule", sorted(SCHEDULES))
def test_training_matches_reference(sizes, hidden, head, batch_size, option, schedule, dtype):
    net, X, Y = make_case(sizes, hidden, head, dtype, n=8)
    start = net.params.astype(np.float64)
    lr, epochs, seed = 0.05, 4, 11
    schedule_obj, lr_at = SCHEDULES[schedule]
    hist = net.fit(X, Y, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                   schedule=schedule_obj, **OPTIONS[option])
    rng = np.random.default_rng(seed)  # fit(seed=s) shuffles with default_rng(s), one permutation per epoch
    orders = [rng.permutation(len(X)) for _ in range(epochs)]
    expected, expected_losses = naive.train(start, *spec(net), X, Y, orders, batch_size, lr,
                                            lr_at=lr_at(lr), **OPTIONS[option])
    tol = dict(rtol=1e-8, atol=1e-10) if dtype == "float64" else dict(rtol=2e-3, atol=2e-4)
    np.testing.assert_allclose(net.params, expected, **tol)
    np.testing.assert_allclose(hist.loss, expected_losses, **tol)


def test_unshuffled_epochs_visit_samples_in_order():
    net, X, Y = make_case([2, 3, 1], "tanh", ("identity", "half_sse"), n=6)
    start = net.params.copy()
    net.fit(X, Y, epochs=2, lr=0.1, shuffle=False)
    expected, _ = naive.train(start, *spec(net), X, Y, [np.arange(6)] * 2, 1, 0.1)
    np.testing.assert_allclose(net.params, expected, rtol=1e-10)


@pytest.mark.parametrize("option", sorted(OPTIONS))
def test_fused_per_sample_epoch_equals_minibatch_of_one(option, dtype):
    # The fused loop reads each weight row into the previous layer's delta
    # before updating it, so it must take the steps of "gradient, then
    # update".  The two code paths fuse different multiply-adds (fastmath
    # "contract"), so they may differ by a rounding or two per operation: a
    # few ulps of values of order 1.  A wrong order of read and update would
    # differ by lr * gradient ~ 1e-2.
    net, X, Y = make_case([3, 5, 4, 2], "softplus", ("identity", "ssr"), dtype, n=9)
    twin = net.copy()
    opts = OPTIONS[option]
    cast = net.dtype.type
    order = np.random.default_rng(0).permutation(9)
    args = (cast(0.05), 0, 0.0, 0.0, 0, 0, cast(opts.get("momentum", 0.0)),
            opts.get("nesterov", False), cast(opts.get("weight_decay", 0.0)))
    Xr, Yr = net._data(X, Y)
    fused_loss, _ = call_specialised(_kernels.sgd_epoch, net._params, net._velocity, net._plan, net._loss_code,
                                     Xr, Yr, order, *args, net._workspace, 0.0,
                                     constants=(_kernels.network_codes(net._plan, net._loss_code), None))
    batch_loss, _ = _kernels.minibatch_epoch(twin._params, twin._velocity, twin._grad, twin._plan,
                                             twin._loss_code, Xr, Yr, order, 1, *args, twin._workspace, 0.0)
    ulps = 64 * float(np.finfo(net.dtype).eps)  # 9 samples x a handful of roundings each
    np.testing.assert_allclose(net.params, twin.params, rtol=ulps, atol=ulps)
    assert fused_loss == pytest.approx(batch_loss, rel=ulps)


def test_full_batch_step_is_old_minus_lr_times_gradient(dtype):
    net, X, Y = make_case([3, 4, 2], "tanh", ("identity", "mse"), dtype)
    old = net.params.copy()
    grad = net.gradient(X, Y)
    net.fit(X, Y, epochs=1, lr=0.3, batch_size=None)
    np.testing.assert_allclose(net.params, old - net.dtype.type(0.3) * grad, **TOL[dtype])


@pytest.mark.parametrize("sizes", [[2, 6, 1], [4, 8, 4], [5, 12, 2], [3, 20, 2], [65, 64, 2], [70, 70, 3]])
@pytest.mark.parametrize("option", sorted(OPTIONS))
def test_every_per_sample_loop_matches_reference(sizes, option, dtype):
    # Each of the four per-sample loops must be SGD: tiny_sgd_epoch ([2, 6, 1]
    # and [4, 8, 4] under plain SGD, compiled for each), shallow_sgd_epoch (those
    # two otherwise, and [5, 12, 2]), blocked_sgd_epoch (the wide ones under
    # plain SGD) and general_sgd_epoch.  [70, 70, 3]: the outer-product tiles'
    # full, one-vector and one-by-one columns.
    plain = option == "plain"
    wide = sizes[0] * sizes[1] > _kernels.LARGE_FIRST_LAYER
    tiny = sizes[0] <= 4 and sizes[1] <= 8 and sizes[2] <= 4
    expected_loop = (_kernels.TINY_LOOP if plain and tiny else
                     _kernels.SHALLOW_LOOP if sizes[1] <= _kernels.SHALLOW_MAX_HIDDEN else
                     _kernels.BLOCKED_LOOP if plain and wide else _kernels.GENERAL_LOOP)
    net, X, Y = make_case(sizes, "tanh", ("identity", "half_sse"), dtype, n=150)
    assert _kernels.per_sample_loop(net._plan, OPTIONS[option].get("momentum", 0.0),
                                    OPTIONS[option].get("weight_decay", 0.0)) == expected_loop
    net.params = net.params * 0.2
    lr = 0.01 if sizes[0] < 10 else 0.0005
    start = net.params.astype(np.float64)
    hist = net.fit(X, Y, epochs=2, lr=lr, seed=3, **OPTIONS[option])
    rng = np.random.default_rng(3)
    orders = [rng.permutation(len(X)) for _ in range(2)]
    expected, losses = naive.train(start, *spec(net), X, Y, orders, 1, lr, **OPTIONS[option])
    tol = dict(rtol=1e-8, atol=1e-10) if dtype == "float64" else dict(rtol=2e-3, atol=2e-4)
    np.testing.assert_allclose(net.params, expected, **tol)
    np.testing.assert_allclose(hist.loss, losses, **tol)


TINY_CASES = ([([3, 5, 2], hidden, head) for hidden in HIDDEN for head in HEADS if head[1] != "cross_entropy"]
              + [([1, 2, 1], "sigmoid", ("identity", "ssr")), ([4, 8, 4], "tanh", ("sigmoid", "bce")),
                 ([1, 1, 1], "relu", ("identity", "half_sse"))])


@pytest.mark.parametrize("sizes,hidden,head", TINY_CASES)
def test_tiny_loop_matches_reference_for_every_activation_and_loss(sizes, hidden, head, dtype):
    # tiny_sgd_epoch is compiled for each architecture: its sizes, activations
    # and loss are constants in it, so each combination is its own code; the
    # largest tiny network and the smallest one, too.
    net, X, Y = make_case(sizes, hidden, head, dtype, n=100)
    assert _kernels.per_sample_loop(net._plan, 0.0, 0.0) == _kernels.TINY_LOOP
    start = net.params.astype(np.float64)
    hist = net.fit(X, Y, epochs=2, lr=0.02, seed=5)
    rng = np.random.default_rng(5)
    orders = [rng.permutation(len(X)) for _ in range(2)]
    expected, losses = naive.train(start, *spec(net), X, Y, orders, 1, 0.02)
    tol = dict(rtol=1e-8, atol=1e-10) if dtype == "float64" else dict(rtol=2e-3, atol=2e-4)
    np.testing.assert_allclose(net.params, expected, **tol)
    np.testing.assert_allclose(hist.loss, losses, **tol)


@pytest.mark.parametrize("sizes", [[1, 1, 1], [5, 12, 1]])
def test_look_ahead_overflow_alone_is_no_divergence(sizes, dtype):
    # The tiny and shallow loops take the next sample's hidden sums from the
    # old rows plus lr d (x . x_next + 1) w f'; with inputs this large that
    # factor overflows, and times a zero delta (relu units off) it is NaN,
    # where per-sample SGD leaves the rows alone and stays finite.
    net = nbprop.MLP(sizes, activation="relu", dtype=dtype, seed=0)
    assert _kernels.per_sample_loop(net._plan, 0.0, 0.0) in (_kernels.TINY_LOOP, _kernels.SHALLOW_LOOP)
    net.params = np.full(net.n_params, -0.5)  # every hidden unit off for positive inputs
    X = np.full((10, sizes[0]), 1e200 if dtype == "float64" else 1e20)
    Y = np.ones((10, 1))
    start = net.params.astype(np.float64)
    hist = net.fit(X, Y, epochs=1, lr=0.1, shuffle=False, on_divergence="raise")
    expected, losses = naive.train(start, *spec(net), X.astype(np.float64), Y, [np.arange(10)], 1, 0.1)
    np.testing.assert_allclose(net.params, expected, **TOL[dtype])
    np.testing.assert_allclose(hist.loss, losses, **TOL[dtype])


@pytest.mark.parametrize("head", [("sigmoid", "bce"), ("softmax", "cross_entropy"), ("identity", "mse")])
def test_batched_gradient_of_a_large_network_matches_reference(head, dtype):
    # Above BATCHED_GRADIENT_WEIGHTS the gradient goes through matrix products
    # (_kernels.batch_gradient), 64 samples a pass: 150 samples end on a short pass.
    net, X, Y = make_case([70, 66, 4, 3], "elu", head, dtype, n=150)
    net.params = net.params * 0.15  # 70 inputs: keep the units (and naive's logs) out of saturation
    assert net._plan[-1, 3] > _kernels.BATCHED_GRADIENT_WEIGHTS
    expected_loss, expected_grad = naive.loss_and_gradient(net.params, *spec(net), X, Y)
    np.testing.assert_allclose(net.gradient(X, Y), expected_grad, **TOL[dtype])
    np.testing.assert_allclose(net.loss(X, Y), expected_loss, **TOL[dtype])
    start = net.params.astype(np.float64)
    hist = net.fit(X, Y, epochs=2, lr=0.001, batch_size=40, seed=2, momentum=0.5)
    rng = np.random.default_rng(2)
    orders = [rng.permutation(len(X)) for _ in range(2)]
    expected, losses = naive.train(start, *spec(net), X, Y, orders, 40, 0.001, momentum=0.5)
    tol = dict(rtol=1e-8, atol=1e-10) if dtype == "float64" else dict(rtol=2e-3, atol=2e-4)
    np.testing.assert_allclose(net.params, expected, **tol)
    np.testing.assert_allclose(hist.loss, losses, **tol)


@pytest.mark.parametrize("sizes", [[300, 17, 3], [4100, 17, 1], [65, 65, 65, 3], [129, 33, 7]])
@pytest.mark.parametrize("batch_size", [1, 7, None])
def test_matrix_product_edges_match_reference(sizes, batch_size, dtype):
    # Shapes whose rows, columns and blocks are no multiple of the 4 x 4 dot
    # tiles, the 8 x 24 (8 x 48 in float32) outer-product tiles or the 8-row
    # tiles and 24-sample panels of the panel products, through
    # every loop that uses them: blocked per-sample SGD (full blocks from 256
    # inputs, half blocks below), batched gradients, predict.
    if batch_size == 1:
        assert _kernels.per_sample_loop(make_case(sizes)[0]._plan, 0.0, 0.0) == _kernels.BLOCKED_LOOP
    net, X, Y = make_case(sizes, "tanh", ("identity", "half_sse"), dtype, n=133)
    net.params = net.params * (0.5 / np.sqrt(max(sizes)))
    start = net.params.astype(np.float64)
    hist = net.fit(X, Y, epochs=2, lr=0.002, batch_size=batch_size, seed=3)
    rng = np.random.default_rng(3)
    orders = [rng.permutation(len(X)) for _ in range(2)]
    expected, losses = naive.train(start, *spec(net), X, Y, orders, batch_size, 0.002)
    update = np.abs(expected - start).max()
    tol = TOL[dtype]["rtol"]
    assert np.abs(net.params - expected).max() <= tol * update
    np.testing.assert_allclose(hist.loss, losses, rtol=tol)
    np.testing.assert_allclose(net.predict(X), naive.predict(net.params.astype(np.float64), net.sizes,
                                                             net.activations, X), **TOL[dtype])


def to_panels(A, n_units):
    """Sample-major ``A`` (rows of ``n_units``) in the panel layout of ``add_panel_products``, padded."""
    n = A.shape[0]
    lanes, wide = _matmul.panel_lanes(A.dtype), _matmul.panel_width(A.dtype)
    T = np.full(-(-n // lanes) * lanes * n_units, np.nan, A.dtype)  # NaN: reads of unset memory show
    for b in range(-(-n // lanes) * lanes):
        s, w = _matmul.panel_of(np.uint64(b), np.uint64(n), np.uint64(wide), np.uint64(lanes))
        T[s * n_units + np.arange(n_units) * w + b - s] = A[b] if b < n else 0.0
    return T


def from_panels(T, n, n_units, dtype):
    lanes, wide = _matmul.panel_lanes(dtype), _matmul.panel_width(dtype)
    A = np.empty((n, n_units), dtype)
    for b in range(n):
        s, w = _matmul.panel_of(np.uint64(b), np.uint64(n), np.uint64(wide), np.uint64(lanes))
        A[b] = T[s * n_units + np.arange(n_units) * w + b - s]
    return A


# (samples, terms, rows of W): samples across no, one and several full panels
# and edge panels, terms across passes of PANEL_DEPTH (one term, one pass, a
# pass plus one), rows across no, one and several full tiles.
PANEL_SHAPES = [(1, 1, 1), (7, 3, 5), (8, 1, 9), (23, 17, 8), (24, 256, 16), (25, 257, 7),
                (49, 784, 10), (96, 130, 17), (101, 600, 3), (130, 513, 1)]


@pytest.mark.parametrize("n,k,m", PANEL_SHAPES)
def test_panel_products_match_numpy(n, k, m, dtype):
    rng = np.random.default_rng(n * 1000 + k + m)
    n_units = k + m + 3  # inputs, a gap, outputs, a gap: only the outputs may change
    A = rng.normal(size=(n, n_units)).astype(dtype)
    w_start, w_row = 5, k + 2  # W's rows with gaps between them
    W = rng.normal(size=w_start + m * w_row).astype(dtype)
    rows = np.array([W[w_start + r * w_row:w_start + r * w_row + k] for r in range(m)], np.float64)
    T = to_panels(A, n_units)
    c_unit = k + 1
    _matmul.add_panel_products(W, np.uint64(w_start), np.uint64(w_row), np.uint64(m), np.uint64(k), T,
                               np.uint64(0), np.uint64(n), np.uint64(n_units), np.uint64(c_unit))
    got = from_panels(T, n, n_units, dtype)
    expected = A.astype(np.float64)
    expected[:, c_unit:c_unit + m] += expected[:, :k] @ rows.T
    # float64: sums of k terms of size ~1 err by ~k eps; float32 likewise with its eps.
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(got, expected, rtol=0, atol=8 * eps * np.sqrt(k) * np.abs(expected).max())
    untouched = np.r_[0:c_unit, c_unit + m:n_units]
    np.testing.assert_array_equal(got[:, untouched], A[:, untouched])


@pytest.mark.parametrize("head", [("sigmoid", "bce"), ("softmax", "cross_entropy")])
def test_predict_of_a_sample_does_not_depend_on_its_place_in_the_block(head, dtype):
    # Samples land in full panels, edge panels and padded edge panels of the
    # first and the last block; each output must be the same bits wherever.
    net, X, _ = make_case([70, 33, 9, 4], "tanh", head, dtype, n=133)
    out = net.predict(X)
    np.testing.assert_allclose(out, naive.predict(net.params.astype(np.float64), net.sizes,
                                                  net.activations, X), **TOL[dtype])
    for shift in (1, 8, 25, 37):
        np.testing.assert_array_equal(net.predict(X[shift:]), out[shift:])
    for s in (0, 23, 24, 95, 96, 132):
        np.testing.assert_array_equal(net.predict(X[s:s + 1]), out[s:s + 1])


@pytest.mark.parametrize("code", sorted(activations.NAMES))
def test_activate_in_place_gives_activate_layers_values(code, dtype):
    rng = np.random.default_rng(code)
    z = np.r_[rng.normal(scale=4.0, size=197), [0.0, -0.0, 30.0, -30.0, 800.0, -800.0]].astype(dtype)
    a, d = np.empty_like(z), np.empty_like(z)
    activate_layer(code, z, a, d, np.uint64(3), np.uint64(len(z) - 5))
    inplace = z.copy()
    activate_in_place(code, inplace, np.uint64(3), np.uint64(len(z) - 5))
    expected = z.copy()
    expected[3:-2] = a[3:-2]
    np.testing.assert_array_equal(inplace, expected)


@pytest.mark.parametrize("n", [1, 7, 8, 23, 24, 25, 49, 96])
def test_pack_and_unpack_panels_are_the_layout_of_add_panel_products(n, dtype):
    rng = np.random.default_rng(n)
    n_units, unit0, count = 11, 3, 6
    src = rng.normal(size=(n + 2, n_units + 1)).astype(dtype)  # rows and a column around the samples
    full = np.zeros((n, n_units), dtype)
    full[:, unit0:unit0 + count] = src[2:, 1:1 + count]
    expected = to_panels(full, n_units)
    panels = np.full(expected.shape, np.nan, dtype)
    u = np.uint64
    assert _matmul.pack_panels(src, u(2), u(1), u(count), u(n), panels, u(n_units), u(unit0), True) == 0
    written = ~np.isnan(panels)
    assert np.array_equal(written, from_mask(expected.shape, n, n_units, unit0, count, dtype))
    np.testing.assert_array_equal(panels[written], expected[written])  # padded lanes: zeros
    dst = np.full((n + 1, n_units), np.nan, dtype)
    _matmul.unpack_panels(panels, u(n_units), u(unit0), u(count), u(n), dst, u(1), u(0))
    np.testing.assert_array_equal(dst[1:, :count], src[2:, 1:1 + count])
    assert np.isnan(dst[0]).all() and np.isnan(dst[:, count:]).all()


def from_mask(shape, n, n_units, unit0, count, dtype):
    """Where ``pack_panels`` writes: units ``unit0 ...`` of every lane, padded ones included."""
    mask = np.zeros(shape, bool)
    lanes, wide = _matmul.panel_lanes(dtype), _matmul.panel_width(dtype)
    for b in range(-(-n // lanes) * lanes):
        s, w = _matmul.panel_of(np.uint64(b), np.uint64(n), np.uint64(wide), np.uint64(lanes))
        mask[s * n_units + (unit0 + np.arange(count)) * w + b - s] = True
    return mask


# (rows of C, columns of C, terms): across full tiles, vector edges and the scalar columns
OUTER_SHAPES = [(1, 1, 1), (3, 7, 2), (8, 24, 32), (9, 25, 1), (17, 49, 33), (256, 790, 32), (5, 100, 64)]


@pytest.mark.parametrize("m,n,k", OUTER_SHAPES)
def test_outer_products_match_numpy(m, n, k, dtype):
    rng = np.random.default_rng(m * 7 + n + k)
    a_row, a_step = 1, m + 3  # A's rows across, its terms down: as a block of deltas
    A = rng.normal(size=2 + (k - 1) * a_step + m).astype(dtype)
    B = rng.normal(size=1 + k * (n + 2)).astype(dtype)
    C = rng.normal(size=4 + m * (n + 5)).astype(dtype)
    u = np.uint64
    Am = np.array([[A[2 + r * a_row + p * a_step] for p in range(k)] for r in range(m)], np.float64)
    Bm = np.array([B[1 + p * (n + 2):1 + p * (n + 2) + n] for p in range(k)], np.float64)
    expected = C.astype(np.float64)
    rows = expected[4:].reshape(m, n + 5)
    rows[:, :n] += -0.5 * (Am @ Bm)
    _matmul.add_outer_products(A, u(2), u(a_row), u(a_step), u(m), B, u(1), u(n + 2), u(n), u(k),
                               C, u(4), u(n + 5), np.dtype(dtype).type(-0.5))
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(C, expected, rtol=0, atol=8 * eps * np.sqrt(k) * np.abs(expected).max())


@pytest.mark.parametrize("n,k", [(1, 1), (7, 0), (31, 5), (64, 3), (128, 31), (200, 64)])
def test_row_products_match_numpy(n, k, dtype):
    rng = np.random.default_rng(n + k)
    a_step, b_step = 2, n + 3
    A = rng.normal(size=3 + k * a_step).astype(dtype)
    B = rng.normal(size=1 + k * b_step + n).astype(dtype)
    C = rng.normal(size=5 + n).astype(dtype)
    u = np.uint64
    a = np.array([A[3 + p * a_step] for p in range(k)], np.float64)
    Bm = np.array([B[1 + p * b_step:1 + p * b_step + n] for p in range(k)], np.float64).reshape(k, n)
    expected = C.astype(np.float64)
    expected[5:] += -0.5 * (a @ Bm)
    _matmul.add_row_products(A, u(3), u(a_step), B, u(1), u(b_step), u(n), u(k), C, u(5),
                             np.dtype(dtype).type(-0.5))
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(C, expected, rtol=0, atol=8 * eps * np.sqrt(k + 1) * np.abs(expected).max())


# (rows of A, rows of B, terms): edges of the dot tiles in both directions,
# sums shorter than a vector and with a few terms past the last whole vector.
DOT_SHAPES = [(1, 1, 1), (2, 4, 3), (3, 5, 8), (5, 9, 17), (7, 3, 64), (64, 13, 785), (9, 256, 31)]


@pytest.mark.parametrize("m,n,k", DOT_SHAPES)
def test_products_match_numpy(m, n, k, dtype):
    rng = np.random.default_rng(m * 7 + n + k)
    a_stride, b_stride, c_stride = k + 3, k + 1, n + 5
    A = rng.normal(size=2 + m * a_stride).astype(dtype)
    B = rng.normal(size=1 + n * b_stride).astype(dtype)
    C = rng.normal(size=4 + m * c_stride).astype(dtype)
    u = np.uint64
    Am = np.array([A[2 + r * a_stride:2 + r * a_stride + k] for r in range(m)], np.float64)
    Bm = np.array([B[1 + c * b_stride:1 + c * b_stride + k] for c in range(n)], np.float64)
    expected = C.astype(np.float64)
    rows = expected[4:].reshape(m, c_stride)
    rows[:, :n] += -0.5 * (Am @ Bm.T)
    _matmul.add_products(A, u(2), u(a_stride), u(m), B, u(1), u(b_stride), u(n), u(k), C, u(4), u(c_stride),
                         np.dtype(dtype).type(-0.5))
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(C, expected, rtol=0, atol=8 * eps * np.sqrt(k) * np.abs(expected).max())


def test_a_fit_compiles_only_its_networks_activations_and_loss(tmp_path):
    # The general and blocked loops are compiled for the network's codes
    # (network_codes, a constant): in a fresh process with an empty cache, a
    # tanh / identity / half_sse fit must compile tanh and no other activation
    # or loss (of those below), and a relu / sigmoid / bce fit after it must add
    # just those.  Neither compiles the momentum rows (loop_velocity gives the
    # general loop no velocity under plain SGD); a fit with momentum does.
    # The layer loops' forms of tanh, sigmoid and elu depend on the machine
    # (activations._in_precision).
    import os
    import subprocess
    import sys
    script = (
        "import numba, numpy as np, nbprop\n"
        "from nbprop import _kernels, activations as act, losses, optim\n"
        "def compiled():\n"
        "    tanh, sigmoid, _, elu = act._in_precision(numba.typeof(np.zeros(1)))  # the float64 layer forms\n"
        "    functions = dict(tanh=tanh, sigmoid=sigmoid, relu=act.relu_and_slope,\n"
        "                     leaky_relu=act.leaky_relu_and_slope, elu=elu,\n"
        "                     softplus=act._softplus_from_exp, bce=losses._bce_unit,\n"
        "                     cross_entropy=losses._cross_entropy_unit, momentum=optim.sgd_update)\n"
        "    return sorted(name for name, f in functions.items() if f.signatures)\n"
        "X = np.random.default_rng(0).normal(size=(50, 8))\n"
        "net = nbprop.MLP([8, 32, 32, 1], activation='tanh', seed=0)\n"
        "assert _kernels.per_sample_loop(net._plan, 0.0, 0.0) == _kernels.GENERAL_LOOP\n"
        "net.fit(X, np.sin(X[:, :1]), epochs=1, lr=0.01)\n"
        "print(compiled())\n"
        "nbprop.MLP([8, 32, 32, 1], activation='relu', loss='bce', seed=0).fit(X, X[:, :1] > 0, epochs=1, lr=0.01)\n"
        "print(compiled())\n"
        "net.fit(X, np.sin(X[:, :1]), epochs=1, lr=0.01, momentum=0.9)\n"
        "print(compiled())\n"
    )
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    # bce's unit is softplus(z) - y z, which compiles softplus's arithmetic
    assert result.stdout.split("\n")[:3] == ["['tanh']", "['bce', 'relu', 'sigmoid', 'softplus', 'tanh']",
                                             "['bce', 'momentum', 'relu', 'sigmoid', 'softplus', 'tanh']"]


def test_kernels_refuse_a_set_of_codes_that_is_not_a_constant():
    net, X, Y = make_case([3, 4, 2], "tanh")
    ws = net._workspace
    with pytest.raises(Exception, match="among must be a compile-time constant"):
        _kernels.forward_layers(net._params, net._plan, 0, ws[0], ws[1], ws[3],
                                _kernels.network_codes(net._plan, net._loss_code))
