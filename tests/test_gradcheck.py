"""The analytic gradient against central finite differences, over generated networks."""

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import naive
from conftest import HEADS, HIDDEN, make_case


@settings(max_examples=150, deadline=None)
@given(
    widths=st.lists(st.integers(1, 4), min_size=2, max_size=4),
    hidden=st.sampled_from(HIDDEN),
    head=st.sampled_from(HEADS),
    n=st.integers(1, 5),
    seed=st.integers(0, 2**16),
)
def test_gradient_matches_central_differences(widths, hidden, head, n, seed):
    net, X, Y = make_case(widths, hidden, head, n=n, seed=seed)
    # Finite differences are meaningless across a kink (relu at 0): keep every
    # pre-activation away from 0 by more than the step can move it.
    for x in X:
        zs, _ = naive.forward(net.params, net.sizes, net.activations, x)
        assume(min(np.abs(z).min() for z in zs) > 1e-3)
    grad = net.gradient(X, Y)
    h = 1e-6
    numeric = np.empty_like(grad)
    params = net.params.copy()
    for k in range(net.n_params):
        bumped = params.copy()
        bumped[k] += h
        net.params = bumped
        up = net.loss(X, Y)
        bumped[k] -= 2 * h
        net.params = bumped
        numeric[k] = (up - net.loss(X, Y)) / (2 * h)
    net.params = params
    # Central differences: truncation ~ h^2 |L'''| and rounding ~ eps |L| / h,
    # ~1e-9 relative to the loss's scale here; 1e-5 leaves ample room.
    scale = max(1.0, np.abs(grad).max(), abs(net.loss(X, Y)))
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-6 * scale)
