import numpy as np
import pytest

import naive
import nbprop
from conftest import HEADS, make_targets


@pytest.mark.parametrize("output,loss", HEADS)
def test_loss_matches_reference_definition(output, loss):
    net = nbprop.MLP([3, 4, 3], activation="tanh", output_activation=output, loss=loss, seed=2)
    rng = np.random.default_rng(5)
    X = rng.normal(size=(9, 3))
    Y = make_targets(rng, loss, 9, 3)
    A = naive.predict(net.params, net.sizes, net.activations, X)
    expected = {
        "half_sse": lambda: 0.5 * np.sum((Y - A) ** 2),
        "ssr": lambda: np.sum((Y - A) ** 2),
        "mse": lambda: np.mean((Y - A) ** 2),
        "bce": lambda: -np.sum(Y * np.log(A) + (1 - Y) * np.log(1 - A)),
        "cross_entropy": lambda: -np.sum(Y * np.log(A)),
    }[loss]()
    assert net.loss(X, Y) == pytest.approx(expected, rel=1e-12)


def test_fused_deltas_stay_finite_when_outputs_saturate():
    # z = +-800: the sigmoid output is exactly 0 or 1 and log(y') would be -inf;
    # the fused form still gives the exact loss |z| and gradient y' - y.
    net = nbprop.MLP([1, 1], output_activation="sigmoid", loss="bce")
    net.params = [800.0, 0.0]
    assert net.loss([1.0], [0.0]) == pytest.approx(800.0)
    np.testing.assert_allclose(net.gradient([1.0], [0.0]), [1.0, 1.0])
    ce = nbprop.MLP([1, 2], loss="cross_entropy")
    ce.params = [800.0, -800.0, 0.0, 0.0]
    assert ce.loss([1.0], [[0.0, 1.0]]) == pytest.approx(1600.0)
    np.testing.assert_allclose(ce.gradient([1.0], [[0.0, 1.0]]), [1.0, -1.0, 1.0, -1.0])
