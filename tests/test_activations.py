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


def ulps(got, ref):
    spacing = np.spacing(np.abs(ref))
    return np.abs(np.asarray(got) - ref) / np.where(spacing == 0, np.spacing(0.0), spacing)


@pytest.mark.parametrize("name,bound", [("exp", 1), ("expm1", 4), ("tanh", 4), ("sigmoid", 2)])
def test_vectorisable_functions_are_within_a_few_ulps_of_libm(name, bound):
    # The kernels' own exp (so activation loops vectorise) against libm, over
    # the whole range and near 0; the bounds are the measured worst cases.
    import math
    rng = np.random.default_rng(1)
    xs = np.concatenate([rng.uniform(-745, 709, 20000), rng.uniform(-2, 2, 20000),
                         rng.uniform(-1e-6, 1e-6, 2000), [0.0, -0.0, 1e-300, -1e-300]])
    if name == "tanh":
        xs = xs[np.abs(xs) < 40]
    reference = {"exp": math.exp, "expm1": math.expm1, "tanh": math.tanh,
                 "sigmoid": lambda x: 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))}[name]
    function = getattr(activations, name)
    got = np.array([function(x) for x in xs])
    assert ulps(got, np.array([reference(x) for x in xs])).max() <= bound


@pytest.mark.parametrize("name", ["exp", "expm1", "tanh", "sigmoid", "softplus"])
def test_nan_and_infinities_behave_as_in_libm(name):
    function = getattr(activations, name)
    assert np.isnan(function(float("nan")))
    expected = {"exp": (np.inf, 0.0), "expm1": (np.inf, -1.0), "tanh": (1.0, -1.0),
                "sigmoid": (1.0, 0.0), "softplus": (np.inf, 0.0)}[name]
    assert (function(np.inf), function(-np.inf)) == expected


def test_exp_handles_subnormal_results():
    import math
    for x in (-708.5, -720.0, -740.0, -744.5):
        assert activations.exp(x) == pytest.approx(math.exp(x), rel=1e-12, abs=5e-324)


def test_accuracy_does_not_depend_on_which_caller_compiled_first(tmp_path):
    # Numba compiles a function with the fastmath flags of the kernel that
    # first calls it, and caches it so; the activations opt out explicitly.
    # This is CI's order: the kernels compile first, in a fresh cache.
    import os
    import subprocess
    import sys
    script = (
        "import math, numpy as np, nbprop\n"
        "from nbprop import activations as act\n"
        "nbprop.MLP([1, 2, 1], activation='tanh', seed=0).fit(np.zeros((4, 1)), np.zeros(4))\n"
        "for x in (636.5, 709.7, -708.5, 1.0, 300.0):\n"
        "    err = abs(act.exp(x) - math.exp(x)) / np.spacing(math.exp(x))\n"
        "    assert err <= 1, (x, err)\n"
        "assert abs(act.tanh(0.3) - math.tanh(0.3)) <= 4 * np.spacing(math.tanh(0.3))\n"
    )
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
