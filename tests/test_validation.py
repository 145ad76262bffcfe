"""Bad input at every entry point: a clear error naming the argument, and the model unchanged."""

import numpy as np
import pytest

import nbprop

GOOD_X = np.arange(12.0).reshape(4, 3) / 10
GOOD_Y = np.arange(8.0).reshape(4, 2) / 10


def model():
    return nbprop.MLP([3, 4, 2], activation="tanh", seed=0)


CONSTRUCTOR = [
    (dict(sizes=[3]), ValueError, "sizes"),
    (dict(sizes=[3, 0, 2]), ValueError, "sizes"),
    (dict(sizes=[3, -1, 2]), ValueError, "sizes"),
    (dict(sizes=[3, 2.5, 2]), TypeError, "sizes"),
    (dict(sizes="3,2"), TypeError, "sizes"),
    (dict(sizes=7), TypeError, "sizes"),
    (dict(sizes=[3, True]), TypeError, "sizes"),
    (dict(sizes=[3, 2], activation="swish"), ValueError, "activation"),
    (dict(sizes=[3, 4, 4, 2], activation=["tanh"]), ValueError, "activation"),
    (dict(sizes=[3, 4, 2], activation=["softmax"]), ValueError, "activation"),
    (dict(sizes=[3, 4, 2], activation=3), TypeError, "activation"),
    (dict(sizes=[3, 2], output_activation="swish"), ValueError, "output_activation"),
    (dict(sizes=[3, 2], loss="hinge"), ValueError, "loss"),
    (dict(sizes=[3, 2], loss="bce", output_activation="identity"), ValueError, "output_activation"),
    (dict(sizes=[3, 2], loss="mse", output_activation="softmax"), ValueError, "loss"),
    (dict(sizes=[3, 2], dtype="float16"), ValueError, "dtype"),
    (dict(sizes=[3, 2], dtype="complex128"), ValueError, "dtype"),
    (dict(sizes=[3, 2], dtype="nonsense"), ValueError, "dtype"),
    (dict(sizes=[3, 2], seed=-1), ValueError, "seed"),
    (dict(sizes=[3, 2], seed=1.5), TypeError, "seed"),
]


@pytest.mark.parametrize("kwargs,error,name", CONSTRUCTOR)
def test_constructor_rejects(kwargs, error, name):
    with pytest.raises(error, match=name):
        nbprop.MLP(**kwargs)


BAD_X = [
    ("X", "abc", TypeError),
    ("X", np.ones((4, 3), dtype=complex), TypeError),
    ("X", np.array([["a", "b", "c"]] * 4), TypeError),
    ("X", np.ones((4, 5)), ValueError),
    ("X", np.ones((0, 3)), ValueError),
    ("X", np.ones((4, 3, 1)), ValueError),
    ("X", np.ones(5), ValueError),
    ("X", 3.0, ValueError),
    ("X", [[1, 2, 3], [4, 5]], ValueError),
    ("X", np.where(np.eye(4, 3) > 0, np.nan, 0.0), ValueError),
    ("X", np.full((4, 3), np.inf), ValueError),
]
BAD_Y = [
    ("Y", np.ones((3, 2)), ValueError),
    ("Y", np.ones((4, 3)), ValueError),
    ("Y", np.ones(4), ValueError),
    ("Y", np.full((4, 2), np.nan), ValueError),
    ("Y", np.ones((4, 2), dtype=complex), TypeError),
    ("Y", "targets", TypeError),
]


def check_unchanged(call, error, name):
    net = model()
    before = net.params.copy()
    with pytest.raises(error, match=f"^{name}"):
        call(net)
    np.testing.assert_array_equal(net.params, before)


DATA_CASES = [(entry, *case) for entry in ["predict", "loss", "gradient", "fit"]
              for case in [c for c in BAD_X if c[2]] + BAD_Y
              if not (entry == "predict" and case[0] == "Y")]  # predict takes no targets


@pytest.mark.parametrize("entry,name,value,error", DATA_CASES)
def test_data_entry_points_reject_bad_arrays_and_change_nothing(entry, name, value, error):
    X, Y = (value, GOOD_Y) if name == "X" else (GOOD_X, value)
    call = {
        "predict": lambda net: net.predict(X),
        "loss": lambda net: net.loss(X, Y),
        "gradient": lambda net: net.gradient(X, Y),
        "fit": lambda net: net.fit(X, Y, epochs=2, lr=0.1),
    }[entry]
    check_unchanged(call, error, name)


def test_float32_model_rejects_values_that_overflow_float32():
    net = nbprop.MLP([3, 4, 2], dtype="float32", seed=0)
    with pytest.raises(ValueError, match="^X: expected finite numbers in float32"):
        net.predict(np.full((4, 3), 1e300))


FIT_ARGS = [
    (dict(epochs=0), ValueError, "epochs"),
    (dict(epochs=2.0), TypeError, "epochs"),
    (dict(lr=0.0), ValueError, "lr"),
    (dict(lr=-0.1), ValueError, "lr"),
    (dict(lr=float("nan")), ValueError, "lr"),
    (dict(lr="fast"), TypeError, "lr"),
    (dict(batch_size=0), ValueError, "batch_size"),
    (dict(batch_size=2.5), TypeError, "batch_size"),
    (dict(shuffle="yes"), TypeError, "shuffle"),
    (dict(momentum=1.0), ValueError, "momentum"),
    (dict(momentum=-0.5), ValueError, "momentum"),
    (dict(nesterov=True), ValueError, "nesterov"),
    (dict(nesterov=1, momentum=0.9), TypeError, "nesterov"),
    (dict(weight_decay=-1.0), ValueError, "weight_decay"),
    (dict(weight_decay=float("inf")), ValueError, "weight_decay"),
    (dict(schedule="cosine"), ValueError, "schedule"),
    (dict(seed=-3), ValueError, "seed"),
]


@pytest.mark.parametrize("kwargs,error,name", FIT_ARGS)
def test_fit_rejects_bad_options_and_changes_nothing(kwargs, error, name):
    check_unchanged(lambda net: net.fit(GOOD_X, GOOD_Y, **kwargs), error, name)


@pytest.mark.parametrize("make,error,name", [
    (lambda: nbprop.InverseScaling(decay=-1), ValueError, "decay"),
    (lambda: nbprop.InverseScaling(decay="x"), TypeError, "decay"),
    (lambda: nbprop.StepDecay(every=0), ValueError, "every"),
    (lambda: nbprop.StepDecay(every=2, factor=1.5), ValueError, "factor"),
    (lambda: nbprop.StepDecay(every=2, factor=0), ValueError, "factor"),
])
def test_schedules_reject_bad_parameters(make, error, name):
    with pytest.raises(error, match=name):
        make()


@pytest.mark.parametrize("value,error", [
    (np.ones(5), ValueError),
    (np.ones((26, 1)), ValueError),
    (np.full(26, np.nan), ValueError),
    (np.r_[np.ones(25), np.inf], ValueError),
    ("weights", TypeError),
    (np.ones(26, dtype=complex), TypeError),
])
def test_params_setter_rejects_and_changes_nothing(value, error):
    def assign(net):
        net.params = value
    check_unchanged(assign, error, "params")


def test_label_and_range_checks_for_classification_losses():
    ce = nbprop.MLP([2, 3], loss="cross_entropy", seed=0)
    with pytest.raises(ValueError, match="^Y: class labels"):
        ce.fit([[0, 1], [1, 0]], np.array([0, 3]))
    with pytest.raises(ValueError, match="^Y: loss='cross_entropy' needs non-negative"):
        ce.loss([[0, 1]], [[-0.5, 1.0, 0.5]])
    bce = nbprop.MLP([2, 1], loss="bce", seed=0)
    with pytest.raises(ValueError, match=r"^Y: loss='bce' needs targets in \[0, 1\]"):
        bce.fit([[0, 1], [1, 0]], [0.0, 2.0])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", [(0, 0), (95, 3), (96, 0), (130, 4), (132, 4)])
def test_predict_finds_a_non_finite_input_in_any_block_and_lane(bad, where, dtype):
    # predict's kernel checks the inputs as it packs them (full panels, edge
    # panels, the padded last one); the message is validation's own.
    net = nbprop.MLP([5, 4, 2], dtype=dtype, seed=0)
    X = np.random.default_rng(0).normal(size=(133, 5))
    X[where] = bad
    with pytest.raises(ValueError, match=rf"^X: expected finite numbers in {dtype}, found .* at index \({where[0]}, {where[1]}\)"):
        net.predict(X)
    X[where] = 0.0
    assert np.isfinite(net.predict(X)).all()
