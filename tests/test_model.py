"""MLP behaviour: determinism, continuation, input normalisation, copies, history."""

import numpy as np
import pytest

import nbprop
from conftest import make_case
from nbprop import _kernels


def trained(seed=3, **fit):
    net, X, Y = make_case([3, 8, 8, 2], "tanh", ("identity", "mse"), n=40)
    net = nbprop.MLP([3, 8, 8, 2], activation="tanh", loss="mse", seed=seed)
    hist = net.fit(X, Y, epochs=3, lr=0.05, **fit)
    return net, hist


@pytest.mark.parametrize("fit", [dict(), dict(batch_size=4, momentum=0.9), dict(batch_size=None)])
def test_same_seed_same_call_gives_bit_identical_parameters(fit):
    a, ha = trained(**fit)
    b, hb = trained(**fit)
    np.testing.assert_array_equal(a.params, b.params)
    assert ha.loss == hb.loss
    c, _ = trained(seed=4, **fit)
    assert not np.array_equal(a.params, c.params)


def test_initial_weights_depend_only_on_seed_and_biases_start_at_zero():
    a = nbprop.MLP([4, 5, 3], seed=9)
    b = nbprop.MLP([4, 5, 3], seed=9)
    np.testing.assert_array_equal(a.params, b.params)
    assert all((bias == 0).all() for bias in a.biases)
    limit = np.sqrt(6 / (4 + 5))  # Glorot-uniform bound for the sigmoid layer
    assert np.abs(a.weights[0]).max() <= limit and np.abs(a.weights[0]).std() > 0.1 * limit


def test_two_fits_continue_like_one_longer_fit():
    net, X, Y = make_case([2, 4, 1], "tanh", ("identity", "half_sse"), n=10)
    twin = net.copy()
    schedule = nbprop.InverseScaling(decay=0.01)
    net.fit(X, Y, epochs=2, lr=0.05, momentum=0.9, schedule=schedule)
    net.fit(X, Y, epochs=3, lr=0.05, momentum=0.9, schedule=schedule)
    twin.fit(X, Y, epochs=5, lr=0.05, momentum=0.9, schedule=schedule)
    np.testing.assert_array_equal(net.params, twin.params)


def test_inputs_of_any_layout_flags_or_number_type_give_identical_results_and_one_compile():
    net, X, Y = make_case([3, 4, 2], "tanh", ("identity", "half_sse"), n=12)
    X = np.round(X * 4)  # integer-valued so int input is the same data
    reference = net.copy()
    reference.fit(X, Y, epochs=2, lr=0.05, seed=1)
    expected = reference.predict(X)  # (compiles predict, if this process has not yet)
    readonly = X.copy()
    readonly.flags.writeable = False
    variants = [readonly, np.asfortranarray(X), X.astype(np.int32), X.astype(np.float32),
                X.tolist(), np.repeat(X, 2, axis=0)[::2]]
    loops = (_kernels.shallow_sgd_epoch, _kernels.blocked_sgd_epoch, _kernels.general_sgd_epoch,
             _kernels.predict)
    before = [len(loop.signatures) for loop in loops]
    for variant in variants:
        twin = net.copy()
        twin.fit(variant, Y, epochs=2, lr=0.05, seed=1)
        np.testing.assert_array_equal(twin.params, reference.params)
        np.testing.assert_array_equal(twin.predict(variant), expected)
    assert [len(loop.signatures) for loop in loops] == before
    assert X.flags.writeable and readonly.flags.writeable is False


def test_fit_never_writes_into_the_callers_arrays():
    net, X, Y = make_case([3, 4, 2], "tanh", ("identity", "half_sse"), n=12)
    X0, Y0 = X.copy(), Y.copy()
    net.fit(X, Y, epochs=2, lr=0.1)
    net.gradient(X, Y)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(Y, Y0)


def test_fit_refuses_inputs_that_share_memory_with_the_parameters():
    # The kernels are compiled on the promise that their arrays do not overlap.
    net = nbprop.MLP([4, 2, 1], seed=0)  # 13 parameters
    before = net.params.copy()
    with pytest.raises(ValueError, match=r"^X: shares memory with this model's parameters"):
        net.fit(net.params[:12].reshape(3, 4), [0.0, 1.0, 0.0])
    with pytest.raises(ValueError, match=r"^Y: shares memory with this model's parameters"):
        net.fit(np.zeros((2, 4)), net.biases[0])
    np.testing.assert_array_equal(net.params, before)
    assert net._epoch == 0
    net.fit(net.params[:12].reshape(3, 4).copy(), [0.0, 1.0, 0.0])  # a copy is fine
    assert net._epoch == 1


def test_one_dimensional_inputs_and_integer_labels():
    net = nbprop.MLP([3, 4, 2], seed=0)
    assert net.predict([0.1, 0.2, 0.3]).shape == (1, 2)  # 1-D X: one sample when sizes[0] > 1
    single = nbprop.MLP([1, 3, 1], seed=0)
    assert single.predict([0.1, 0.2, 0.3, 0.4]).shape == (4, 1)  # n samples of one feature
    ce = nbprop.MLP([2, 3, 3], loss="cross_entropy", seed=0)
    X = np.array([[0.0, 1.0], [1.0, 0.0]])
    assert ce.loss(X, np.array([2, 0])) == ce.loss(X, [[0, 0, 1], [1, 0, 0]])
    np.testing.assert_allclose(ce.predict(X).sum(axis=1), 1.0)


def test_gradient_and_loss_leave_parameters_alone():
    net, X, Y = make_case([3, 4, 2], "tanh", ("identity", "half_sse"))
    before = net.params.copy()
    net.gradient(X, Y)
    net.loss(X, Y)
    net.predict(X)
    np.testing.assert_array_equal(net.params, before)


def test_history_reports_loss_time_and_speed_per_epoch():
    net, hist = trained()
    assert hist.epochs == 3 and len(hist.seconds) == 3 and len(hist.samples_per_second) == 3
    assert all(s > 0 for s in hist.seconds) and hist.compile_seconds >= 0
    np.testing.assert_allclose(hist.samples_per_second, [40 / s for s in hist.seconds])
    assert hist.loss[-1] < hist.loss[0]
    assert "epochs=3" in repr(hist)


def test_copy_is_independent_and_identical():
    net, X, Y = make_case([2, 3, 1], "tanh", ("identity", "half_sse"), n=8)
    twin = net.copy()
    net.fit(X, Y, epochs=2, lr=0.1)
    twin.fit(X, Y, epochs=2, lr=0.1)
    np.testing.assert_array_equal(net.params, twin.params)
    twin.params = np.zeros(twin.n_params)
    assert np.abs(net.params).sum() > 0
    assert twin.weights[0].base is not None and np.shares_memory(twin.weights[0], twin.params)


def test_float32_model_computes_in_float32():
    net = nbprop.MLP([3, 4, 2], dtype="float32", seed=0)
    X = np.ones((5, 3))
    assert net.params.dtype == np.float32 and net.predict(X).dtype == np.float32
    assert net.gradient(X, np.zeros((5, 2))).dtype == np.float32
    assert nbprop.MLP([3, 2], dtype=np.float32).dtype == np.float32


def test_repr_names_the_architecture():
    net = nbprop.MLP([1, 2, 1], activation="softplus", output_activation="identity", loss="ssr")
    assert repr(net) == ("MLP(sizes=[1, 2, 1], activation='softplus', output_activation='identity', "
                         "loss='ssr', dtype='float64')")
    mixed = nbprop.MLP([1, 2, 3, 1], activation=["tanh", "relu"])
    assert "activation=['tanh', 'relu']" in repr(mixed)


def test_training_learns_xor():
    net = nbprop.MLP([2, 8, 1], activation="tanh", output_activation="sigmoid", loss="bce", seed=0)
    X = [[0, 0], [0, 1], [1, 0], [1, 1]]
    Y = [0, 1, 1, 0]
    net.fit(X, Y, epochs=2000, lr=0.1, momentum=0.9)
    np.testing.assert_array_equal(net.predict(X).ravel() > 0.5, [False, True, True, False])
