import warnings

import numpy as np
import pytest

import naive
from nbprop import activations
from nbprop.activations import activate

ELEMENTWISE = list(activations.HIDDEN_ACTIVATIONS)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_value_and_derivative_match_reference(name):
    code = activations.HIDDEN_ACTIVATIONS[name]
    z = np.linspace(-6, 6, 241) + 1e-3  # avoid the kink of relu at exactly 0
    values = np.array([activate(code, v) for v in z])
    np.testing.assert_allclose(values[:, 0], naive.act(name, z), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(values[:, 1], np.diag(naive.act_jacobian(name, z)), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_derivative_matches_central_difference(name):
    code = activations.HIDDEN_ACTIVATIONS[name]
    h = 1e-6
    for z in np.linspace(-4, 4, 33) + 1e-2:
        numeric = (activate(code, z + h)[0] - activate(code, z - h)[0]) / (2 * h)
        # central-difference error ~ h^2 f''' + eps/h ~ 1e-10
        assert abs(activate(code, z)[1] - numeric) < 1e-8


@pytest.mark.parametrize("name", ELEMENTWISE)
@pytest.mark.parametrize("z", [-1e308, -800.0, -50.0, 50.0, 800.0, 1e308])
def test_extreme_inputs_stay_finite_without_warnings(name, z):
    code = activations.HIDDEN_ACTIVATIONS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, slope = activate(code, z)
    assert np.isfinite(value) and np.isfinite(slope)


def test_stable_forms_are_exact_in_the_tails():
    assert activate(activations.SOFTPLUS, 800.0) == (800.0, 1.0)
    assert activate(activations.SIGMOID, -800.0)[0] == 0.0
    assert activate(activations.SIGMOID, 800.0)[0] == 1.0
    assert activate(activations.SOFTPLUS, -40.0)[0] == pytest.approx(np.exp(-40.0), rel=1e-15)
    assert activate(activations.ELU, -800.0) == (-1.0, 0.0)
