import numpy as np

import nbprop
from nbprop._layout import FAN_IN, FAN_OUT, IN_OFFSET, OUT_OFFSET, make_plan


def test_flat_layout_is_weights_then_biases_per_layer_row_major():
    net = nbprop.MLP([3, 4, 2], seed=0)
    net.params = np.arange(net.n_params, dtype=float)
    W0 = np.arange(12.0).reshape(4, 3)  # (fan_out, fan_in), row-major
    np.testing.assert_array_equal(net.weights[0], W0)
    np.testing.assert_array_equal(net.biases[0], np.arange(12.0, 16.0))
    np.testing.assert_array_equal(net.weights[1], np.arange(16.0, 24.0).reshape(2, 4))
    np.testing.assert_array_equal(net.biases[1], [24.0, 25.0])
    assert net.n_params == 3 * 4 + 4 + 4 * 2 + 2


def test_views_share_memory_with_params():
    net = nbprop.MLP([2, 3, 1], seed=0)
    net.weights[1][0, 2] = 7.5
    net.biases[0][1] = -2.0
    assert net.params[3 * 2 + 3 + 2] == 7.5
    assert net.params[6 + 1] == -2.0
    net.params = np.zeros(net.n_params)
    assert net.weights[1][0, 2] == 0.0


def test_plan_workspace_offsets_chain_layers():
    plan, n_params, n_units = make_plan([3, 4, 5, 2], [1, 1, 0])
    assert n_params == 3 * 4 + 4 + 4 * 5 + 5 + 5 * 2 + 2
    assert n_units == 3 + 4 + 5 + 2
    assert list(plan[:, FAN_IN]) == [3, 4, 5] and list(plan[:, FAN_OUT]) == [4, 5, 2]
    # each layer reads exactly what the previous layer wrote
    assert list(plan[1:, IN_OFFSET]) == list(plan[:-1, OUT_OFFSET])
    assert plan[0, IN_OFFSET] == 0 and plan[0, OUT_OFFSET] == 3
