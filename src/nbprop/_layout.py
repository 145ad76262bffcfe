"""Where each layer's weights, biases and activations live in the flat arrays.

The flat parameter layout is ``[W0.ravel(), b0, W1.ravel(), b1, ...]`` with
``W_l`` of shape ``(fan_out, fan_in)`` in row-major order, the same as
``torch.nn.Linear.weight``.  The kernels receive the layout as one small
integer table, the *plan*, with one row per layer; the Python layer uses the
same table to build views.
"""

import numpy as np

# Columns of the plan table.  Kernels index the plan with these names so the
# table reads like a struct.
FAN_IN = 0
FAN_OUT = 1
W_OFFSET = 2  # start of W_l in the flat parameter array
B_OFFSET = 3  # start of b_l in the flat parameter array
IN_OFFSET = 4  # start of layer l's inputs in the unit workspace
OUT_OFFSET = 5  # start of layer l's outputs in the unit workspace
ACT_CODE = 6  # activation code of layer l (see activations.py)
N_COLUMNS = 7


def make_plan(sizes, act_codes):
    """Build the layer table for a network.

    Parameters
    ----------
    sizes : sequence of int
        Units per layer, input first, e.g. ``[1, 2, 1]``.
    act_codes : sequence of int
        Activation code of each non-input layer, ``len(sizes) - 1`` of them.

    Returns
    -------
    plan : ndarray of int64, shape (len(sizes) - 1, 7)
        One row per layer: fan-in, fan-out, weight offset, bias offset,
        input and output offsets in the unit workspace, activation code.
    n_params : int
        Length of the flat parameter array.
    n_units : int
        Total number of units, input layer included: the length of each row
        of the unit workspace, which holds the input sample at ``[0, sizes[0])``
        followed by every layer's outputs.
    """
    n_layers = len(sizes) - 1
    plan = np.zeros((n_layers, N_COLUMNS), dtype=np.int64)
    p = 0
    u = 0
    for layer in range(n_layers):
        fan_in, fan_out = int(sizes[layer]), int(sizes[layer + 1])
        plan[layer] = (fan_in, fan_out, p, p + fan_in * fan_out, u, u + fan_in, act_codes[layer])
        p += fan_in * fan_out + fan_out
        u += fan_in
    return plan, p, u + int(sizes[-1])


def weight_views(params, plan):
    """Writable views ``W_l`` of shape ``(fan_out, fan_in)`` into ``params``."""
    return [
        params[w : w + fo * fi].reshape(fo, fi)
        for fi, fo, w in zip(plan[:, FAN_IN], plan[:, FAN_OUT], plan[:, W_OFFSET])
    ]


def bias_views(params, plan):
    """Writable views ``b_l`` of shape ``(fan_out,)`` into ``params``."""
    return [params[b : b + fo] for fo, b in zip(plan[:, FAN_OUT], plan[:, B_OFFSET])]
