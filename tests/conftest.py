"""Shared builders for the tests: networks with matching random data."""

import os
import sys

import numba
import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))  # so tests can `import naive`

import nbprop  # noqa: E402
from nbprop import activations  # noqa: E402
from nbprop.activations import EVERY_ACTIVATION  # noqa: E402  (a global: Numba compiles it in)

HIDDEN = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "softplus", "elu"]
# (output activation, loss) pairs covering every loss and the fused deltas.
HEADS = [("identity", "half_sse"), ("identity", "ssr"), ("tanh", "mse"),
         ("softplus", "ssr"), ("elu", "half_sse"), ("sigmoid", "bce"),
         ("softmax", "cross_entropy")]
ARCHITECTURES = [[1, 2, 1], [2, 2, 2], [3, 5, 4, 2], [4, 3]]

# Tolerances against the float64 reference.  float64: the kernels and the
# reference differ only in summation order, relative error ~ n * eps ~ 1e-14
# for these widths; 1e-9 is far above that and far below any formula error.
# float32: eps = 1.2e-7; a few layers of sums of <= 10 terms stay < 1e-5
# relative, so 2e-4 / 2e-5 leaves a factor of 10 to 20.
TOL = {"float64": dict(rtol=1e-9, atol=1e-11), "float32": dict(rtol=2e-4, atol=2e-5)}


@numba.njit
def activate_layer(code, z, a, d, start, n):
    """``activations.activate_layer`` compiled for every activation, to call from Python."""
    activations.activate_layer(EVERY_ACTIVATION, code, z, a, d, start, n)


@numba.njit
def activate_in_place(code, a, start, n):
    """``activations.activate_in_place`` compiled for every activation, to call from Python."""
    activations.activate_in_place(EVERY_ACTIVATION, code, a, start, n)


def make_targets(rng, loss, n, k):
    """Targets suited to ``loss``: reals, [0, 1] values, or probability rows."""
    if loss == "bce":
        return rng.uniform(0, 1, size=(n, k))
    if loss == "cross_entropy":
        p = rng.uniform(0.1, 1, size=(n, k))
        return p / p.sum(axis=1, keepdims=True)
    return rng.normal(size=(n, k))


def make_case(sizes, hidden="tanh", head=("identity", "half_sse"), dtype="float64", n=7, seed=0):
    """A network with non-trivial parameters (biases too) and data for it."""
    output, loss = head
    if output == "softmax" and sizes[-1] < 2:
        sizes = sizes[:-1] + [2]
    net = nbprop.MLP(sizes, activation=hidden, output_activation=output, loss=loss,
                     dtype=dtype, seed=seed)
    rng = np.random.default_rng(seed + 1)
    net.params = rng.normal(scale=0.8, size=net.n_params)
    X = rng.normal(size=(n, sizes[0]))
    Y = make_targets(rng, loss, n, sizes[-1])
    return net, X, Y


def spec(net):
    """``(sizes, activations, loss)`` for the naive reference."""
    return net.sizes, net.activations, net.loss_name


@pytest.fixture(params=["float64", "float32"])
def dtype(request):
    return request.param
