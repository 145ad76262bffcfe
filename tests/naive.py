"""Slow, obviously-correct backpropagation in plain NumPy: the reference for every test.

Nothing here is shared with nbprop's kernels.  Parameters are unpacked into
lists of matrices; each sample goes forward layer by layer, and backward by
the chain rule written with whole matrices and, for softmax and binary
cross-entropy, the full Jacobian instead of the fused ``y' - y`` shortcut.
Everything is computed in float64.
"""

import numpy as np

SLOPE = 0.01  # leaky_relu
ALPHA = 1.0  # elu


def act(name, z):
    """Activation ``name`` applied to the vector ``z``."""
    if name == "identity":
        return z.copy()
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.where(z > 0, z, 0.0)
    if name == "leaky_relu":
        return np.where(z > 0, z, SLOPE * z)
    if name == "softplus":
        return np.log(1.0 + np.exp(z))
    if name == "elu":
        return np.where(z > 0, z, ALPHA * (np.exp(np.minimum(z, 0)) - 1.0))
    if name == "softmax":
        e = np.exp(z - z.max())
        return e / e.sum()
    raise ValueError(name)


def act_jacobian(name, z):
    """Jacobian matrix ``da/dz`` of activation ``name`` at ``z``."""
    if name == "softmax":
        p = act("softmax", z)
        return np.diag(p) - np.outer(p, p)
    if name == "identity":
        d = np.ones_like(z)
    elif name == "sigmoid":
        s = act("sigmoid", z)
        d = s * (1 - s)
    elif name == "tanh":
        d = 1 - np.tanh(z) ** 2
    elif name == "relu":
        d = (z > 0).astype(float)
    elif name == "leaky_relu":
        d = np.where(z > 0, 1.0, SLOPE)
    elif name == "softplus":
        d = act("sigmoid", z)  # d/dz log(1 + e^z) = e^z / (1 + e^z)
    elif name == "elu":
        d = np.where(z > 0, 1.0, ALPHA * np.exp(np.minimum(z, 0)))
    else:
        raise ValueError(name)
    return np.diag(d)


def sample_loss(loss, a, y):
    """One sample's loss contribution (before the ``mse`` mean) and ``dL/da``."""
    if loss == "half_sse":
        return 0.5 * np.sum((y - a) ** 2), a - y
    if loss in ("ssr", "mse"):
        return np.sum((y - a) ** 2), 2 * (a - y)
    if loss == "bce":
        return -np.sum(y * np.log(a) + (1 - y) * np.log(1 - a)), -(y / a - (1 - y) / (1 - a))
    if loss == "cross_entropy":
        return -np.sum(y * np.log(a)), -y / a
    raise ValueError(loss)


def unpack(params, sizes):
    """Lists of weight matrices ``(fan_out, fan_in)`` and bias vectors from the flat layout."""
    params = np.asarray(params, dtype=np.float64)
    Ws, bs, p = [], [], 0
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        Ws.append(params[p : p + fan_in * fan_out].reshape(fan_out, fan_in))
        p += fan_in * fan_out
        bs.append(params[p : p + fan_out])
        p += fan_out
    assert p == params.size
    return Ws, bs


def pack(Ws, bs):
    """The flat layout ``[W0.ravel(), b0, W1.ravel(), b1, ...]``."""
    return np.concatenate([part for W, b in zip(Ws, bs) for part in (W.ravel(), b)])


def forward(params, sizes, acts, x):
    """Pre-activations ``zs`` and activations ``as_`` (input first) for one sample."""
    Ws, bs = unpack(params, sizes)
    as_, zs = [np.asarray(x, dtype=np.float64)], []
    for W, b, name in zip(Ws, bs, acts):
        z = W @ as_[-1] + b
        zs.append(z)
        as_.append(act(name, z))
    return zs, as_


def predict(params, sizes, acts, X):
    """Outputs for every row of ``X``."""
    return np.array([forward(params, sizes, acts, x)[1][-1] for x in np.atleast_2d(X)])


def loss_and_gradient(params, sizes, acts, loss, X, Y):
    """The loss over all rows of ``X`` and its gradient in the flat layout."""
    X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    Ws, _ = unpack(params, sizes)
    gWs = [np.zeros_like(W) for W in Ws]
    gbs = [np.zeros(W.shape[0]) for W in Ws]
    total = 0.0
    scale = 1.0 / (len(X) * sizes[-1]) if loss == "mse" else 1.0
    for x, y in zip(X, Y):
        zs, as_ = forward(params, sizes, acts, x)
        value, dL_da = sample_loss(loss, as_[-1], y)
        total += value
        delta = act_jacobian(acts[-1], zs[-1]).T @ (scale * dL_da)
        for layer in range(len(Ws) - 1, -1, -1):
            gWs[layer] += np.outer(delta, as_[layer])
            gbs[layer] += delta
            if layer > 0:
                delta = act_jacobian(acts[layer - 1], zs[layer - 1]).T @ (Ws[layer].T @ delta)
    return total * scale, pack(gWs, gbs)


def weight_mask(sizes):
    """1 for every weight, 0 for every bias, in the flat layout."""
    return pack([np.ones((b, a)) for a, b in zip(sizes[:-1], sizes[1:])],
                [np.zeros(b) for b in sizes[1:]])


def train(params, sizes, acts, loss, X, Y, orders, batch_size, lr, momentum=0.0,
          nesterov=False, weight_decay=0.0, lr_at=None):
    """SGD over the given per-epoch sample orders, one gradient step per batch.

    ``lr_at(step, epoch)`` gives the learning rate of each update (default
    constant ``lr``).  The update is torch.optim.SGD's: ``v = mu v + g``,
    ``step = g + mu v`` (Nesterov) or ``v``, ``params -= lr_t * step``.
    Returns the final parameters and the loss of each epoch (each batch's loss
    taken before its update, normalised over the epoch as the loss defines).
    """
    params = np.array(params, dtype=np.float64)
    X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    velocity = np.zeros_like(params)
    mask = weight_mask(sizes)
    lr_at = lr_at or (lambda step, epoch: lr)
    step, losses = 0, []
    for epoch, order in enumerate(orders):
        epoch_loss = 0.0
        size = batch_size or len(order)
        for start in range(0, len(order), size):
            batch = order[start : start + size]
            value, g = loss_and_gradient(params, sizes, acts, loss, X[batch], Y[batch])
            epoch_loss += value * (len(batch) if loss == "mse" else 1)
            g = g + weight_decay * mask * params
            if momentum:
                velocity = momentum * velocity + g
                g = g + momentum * velocity if nesterov else velocity
            params = params - lr_at(step, epoch) * g
            step += 1
        losses.append(epoch_loss / len(order) if loss == "mse" else epoch_loss)
    return params, losses
