"""Train different models at the same time from Python threads.

nbprop's kernels release the GIL while they run, so a plain
``concurrent.futures.ThreadPoolExecutor`` trains several models on several
cores at once: here four networks with different widths and learning rates
(things an ``Ensemble`` cannot mix, since its members share one shape).  The
script trains them one after another, then in a pool of threads, checks that
every parameter came out the same, and prints both times.

    python examples/threads.py [--threads 2] [--samples 20000] [--epochs 3]

One model may be trained by one thread at a time (a second ``fit`` on a model
that is training raises ``RuntimeError``); give each thread its own model, or
``model.copy()``.  For many networks of one shape, ``nbprop.parallel.Ensemble``
does the same with less Python overhead per network.
"""

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import nbprop

CONFIGS = [  # (hidden widths, learning rate): four different models
    ((32, 32), 0.002),
    ((64,), 0.001),
    ((16, 16, 16), 0.004),
    ((48, 24), 0.002),
]


def make_data(n, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(n, 8))
    y = np.sin(X[:, 0]) * np.cos(X[:, 1]) + 0.1 * X[:, 2:].sum(axis=1)
    return X, y


def train(config, X, y, epochs):
    hidden, lr = config
    net = nbprop.MLP([8, *hidden, 1], activation="tanh", loss="mse", seed=0)
    net.fit(X, y, epochs=epochs, lr=lr, momentum=0.9)
    return net


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--samples", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    X, y = make_data(args.samples)

    for config in CONFIGS:  # compile (or load from the cache) outside the timings
        train(config, X[:10], y[:10], 1)

    started = time.perf_counter()
    serial = [train(config, X, y, args.epochs) for config in CONFIGS]
    serial_seconds = time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.threads) as pool:
        threaded = list(pool.map(lambda config: train(config, X, y, args.epochs), CONFIGS))
    threaded_seconds = time.perf_counter() - started

    for (hidden, lr), a, b in zip(CONFIGS, serial, threaded):
        same = bool((a.params == b.params).all())
        print(f"8-{'-'.join(map(str, hidden))}-1  lr={lr:<6} final mse {a.history_.loss[-1]:.5f}"
              f"  threaded == serial: {same}")
        assert same, "a threaded fit differed from the serial one"
    print(f"\nserial:            {serial_seconds:6.2f} s")
    print(f"{args.threads} threads:         {threaded_seconds:6.2f} s  "
          f"({serial_seconds / threaded_seconds:.2f}x faster, {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
