"""Many networks at once: a learning-rate sweep and a bagged ensemble in one call each.

``Ensemble`` trains N networks of one shape together, spread over the cores,
each exactly as ``MLP.fit`` would train it alone.  This script

1. sweeps 8 learning rates x 4 seeds (32 networks) on a noisy 2-D function
   and picks the learning rate with the lowest mean validation loss;
2. trains a bagged ensemble of 16 networks, each on its own bootstrap sample
   (``subsets=``), and compares the ensemble's mean prediction with its
   members' on held-out data;
3. checks one member against ``MLP.fit`` bit for bit, and times the sweep on
   1 thread and on all of them.

    python examples/many_networks.py
"""

import time
import warnings

import numba
import numpy as np

import nbprop
from nbprop.parallel import Ensemble

SIZES = [2, 32, 32, 1]


def make_data(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(n, 2))
    y = np.sin(2 * X[:, 0]) * np.exp(-0.3 * X[:, 1] ** 2) + 0.1 * rng.normal(size=n)
    return X, y


def main():
    X, y = make_data(1000, seed=0)
    X_val, y_val = make_data(500, seed=1)

    # 1. Learning-rate sweep: member i has lr rates[i % 8] and seed i // 8.
    rates = np.geomspace(1e-4, 0.1, 8)
    lrs = np.tile(rates, 4)
    seeds = np.repeat(np.arange(4), 8)
    sweep = Ensemble(SIZES, seeds, activation="tanh", loss="mse")
    with warnings.catch_warnings():  # the largest rates diverge: those members stop, the rest go on
        warnings.simplefilter("ignore", nbprop.DivergenceWarning)
        hists = sweep.fit(X, y, epochs=10, lr=lrs, momentum=0.9, validation=(X_val, y_val),
                          on_divergence="stop")
    val = np.array([h.val_loss[-1] if h.stop_reason != "diverged" else np.inf for h in hists])
    per_rate = val.reshape(4, 8).mean(axis=0)
    print("learning rate   mean validation mse over 4 seeds")
    for rate, loss in zip(rates, per_rate):
        print(f"  {rate:9.2e}     " + (f"{loss:.5f}" if np.isfinite(loss) else "diverged"))
    best = rates[int(np.argmin(per_rate))]
    print(f"best learning rate: {best:.2e}\n")

    # 2. Bagging: 16 members, each on a bootstrap sample of the training data.
    rng = np.random.default_rng(42)
    bootstraps = [rng.integers(0, len(X), size=len(X)) for _ in range(16)]
    bag = Ensemble(SIZES, range(100, 116), activation="tanh", loss="mse")
    bag.fit(X, y, epochs=10, lr=best, momentum=0.9, subsets=bootstraps)
    members = bag.loss(X_val, y_val)
    mean_prediction = bag.predict(X_val).ravel()
    ensemble_mse = float(np.mean((mean_prediction - y_val) ** 2))
    print(f"bagged ensemble of 16: validation mse {ensemble_mse:.5f}; members "
          f"{members.min():.5f} to {members.max():.5f} (median {np.median(members):.5f})\n")

    # 3. One member equals MLP.fit on its own bootstrap sample, bit for bit.
    alone = nbprop.MLP(SIZES, activation="tanh", loss="mse", seed=103)
    alone.fit(X[bootstraps[3]], y[bootstraps[3]], epochs=10, lr=best, momentum=0.9)
    print("member 3 == MLP(seed=103).fit on its bootstrap sample:",
          bool((alone.params == bag.members[3].params).all()))

    # Timing: the same sweep, one epoch, on 1 thread and on all of Numba's threads.
    work = len(lrs) * len(X)
    for threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
        timer = Ensemble(SIZES, seeds, activation="tanh", loss="mse")
        timer.fit(X[:4], y[:4], lr=1e-3)  # compile outside the timing
        started = time.perf_counter()
        timer.fit(X, y, epochs=3, lr=1e-3, n_threads=threads)
        seconds = (time.perf_counter() - started) / 3
        print(f"{threads} thread(s): {seconds:.3f} s per epoch of 32 networks, "
              f"{work / seconds:,.0f} network-samples/s")


if __name__ == "__main__":
    main()
