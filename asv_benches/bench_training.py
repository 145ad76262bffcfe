"""asv benchmarks of nbprop's hot loops.

Every benchmark compiles its kernels in ``setup`` (a call on a few samples),
so the timed call measures training, never compilation; compilation from a
cold cache is timed on its own in ``timeraw_cold_start``.  The nets are the
ones of the speed table in the README.
"""

import numpy as np

import nbprop

NETS = {
    "1-2-1": ([1, 2, 1], "sigmoid", "sigmoid", 200_000),
    "8-32-32-1": ([8, 32, 32, 1], "tanh", "identity", 20_000),
    "64-128-10": ([64, 128, 10], "tanh", "sigmoid", 4_000),
    "784-256-10": ([784, 256, 10], "tanh", "sigmoid", 500),
}
DTYPES = ["float64", "float32"]


def make(name, dtype):
    """A network of the table and data for it, compiled for every entry point."""
    sizes, hidden, output, n = NETS[name]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, sizes[0]))
    Y = rng.uniform(0.1, 0.9, size=(n, sizes[-1]))
    net = nbprop.MLP(sizes, activation=hidden, output_activation=output, loss="half_sse",
                     dtype=dtype, seed=0)
    net.fit(X[:4], Y[:4], epochs=1, lr=1e-3, batch_size=1)
    net.fit(X[:4], Y[:4], epochs=1, lr=1e-3, batch_size=2)
    net.predict(X[:4])
    net.gradient(X[:4], Y[:4])
    return net, X, Y


class PerSampleEpoch:
    """One epoch of per-sample SGD (``batch_size=1``): the fused hot loop."""

    params = (list(NETS), DTYPES)
    param_names = ["net", "dtype"]

    def setup(self, name, dtype):
        self.net, self.X, self.Y = make(name, dtype)

    def time_epoch(self, name, dtype):
        self.net.fit(self.X, self.Y, epochs=1, lr=1e-3, shuffle=False)

    def track_samples_per_second(self, name, dtype):
        return self.net.fit(self.X, self.Y, epochs=1, lr=1e-3, shuffle=False).samples_per_second[0]

    track_samples_per_second.unit = "samples/s"


class TinyActivations:
    """Per-sample SGD on 1-2-1 with each hidden activation: ``tiny_sgd_epoch``, compiled per architecture."""

    params = (["identity", "sigmoid", "tanh", "relu", "leaky_relu", "softplus", "elu"],)
    param_names = ["hidden"]

    def setup(self, hidden):
        rng = np.random.default_rng(0)
        self.X = rng.normal(size=(200_000, 1))
        self.Y = np.sin(self.X)
        self.net = nbprop.MLP([1, 2, 1], activation=hidden, seed=0)
        self.net.fit(self.X[:4], self.Y[:4], epochs=1, lr=1e-3)

    def time_epoch(self, hidden):
        self.net.fit(self.X, self.Y, epochs=1, lr=1e-3, shuffle=False)


class LayerActivations:
    """Per-sample SGD on 64-128-10 with each hidden activation: the vectorised loops over a layer's units."""

    params = (["identity", "sigmoid", "tanh", "relu", "leaky_relu", "softplus", "elu"],)
    param_names = ["hidden"]

    def setup(self, hidden):
        rng = np.random.default_rng(0)
        self.X = rng.normal(size=(4_000, 64))
        self.Y = rng.uniform(0.1, 0.9, size=(4_000, 10))
        self.net = nbprop.MLP([64, 128, 10], activation=hidden, output_activation="sigmoid", seed=0)
        self.net.fit(self.X[:4], self.Y[:4], epochs=1, lr=1e-3)

    def time_epoch(self, hidden):
        self.net.fit(self.X, self.Y, epochs=1, lr=1e-3, shuffle=False)


class ShuffledPerSampleEpoch:
    """Per-sample SGD in a shuffled order over data larger than L2: the loops' prefetch of rows ahead."""

    params = (["1-2-1", "8-32-32-1"],)
    param_names = ["net"]

    def setup(self, name):
        sizes, hidden, output, _ = NETS[name]
        n = 2_000_000 if name == "1-2-1" else 200_000  # 32 MB and 14 MB of samples
        rng = np.random.default_rng(0)
        self.X = rng.normal(size=(n, sizes[0]))
        self.Y = rng.uniform(0.1, 0.9, size=(n, sizes[-1]))
        self.net = nbprop.MLP(sizes, activation=hidden, output_activation=output, seed=0)
        self.net.fit(self.X[:4], self.Y[:4], epochs=1, lr=1e-3)

    def time_epoch(self, name):
        self.net.fit(self.X, self.Y, epochs=1, lr=1e-3, shuffle=True, seed=0)


class MinibatchEpoch:
    """One epoch of minibatch SGD with batches of 32."""

    params = (list(NETS), DTYPES)
    param_names = ["net", "dtype"]

    def setup(self, name, dtype):
        self.net, self.X, self.Y = make(name, dtype)

    def time_epoch(self, name, dtype):
        self.net.fit(self.X, self.Y, epochs=1, lr=1e-3, batch_size=32, shuffle=False)


class Predict:
    """The batch forward pass."""

    params = (list(NETS), DTYPES)
    param_names = ["net", "dtype"]

    def setup(self, name, dtype):
        self.net, self.X, self.Y = make(name, dtype)

    def time_predict(self, name, dtype):
        self.net.predict(self.X)


class Gradient:
    """The gradient of the loss over the whole data set."""

    params = (list(NETS), DTYPES)
    param_names = ["net", "dtype"]

    def setup(self, name, dtype):
        self.net, self.X, self.Y = make(name, dtype)

    def time_gradient(self, name, dtype):
        self.net.gradient(self.X, self.Y)


def timeraw_cold_start():
    """Import nbprop and finish one epoch with an empty Numba cache, in a fresh interpreter."""
    return """
import os, tempfile
os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp()
import numpy as np
import nbprop
net = nbprop.MLP([8, 32, 32, 1], activation="tanh", seed=0)
net.fit(np.zeros((100, 8)), np.zeros(100), epochs=1, lr=0.01)
"""


timeraw_cold_start.repeat = 1
timeraw_cold_start.number = 1
timeraw_cold_start.timeout = 300
