"""Training speed: scikit-learn's MLPClassifier (solver='sgd') against nbprop's, same everything.

Same data (scikit-learn's digits, standardised: 1797 samples, 64 features,
10 classes), same architecture (64-64-10, relu, softmax, log-loss), same
optimiser settings (SGD, Nesterov momentum 0.9, alpha 1e-4, learning rate
0.01, or 0.001 for batch_size 1: the estimators take the same steps) and the
same number of epochs (``n_iter_no_change=inf`` makes both run them all).  Each
configuration is timed a few times and the median reported as samples per
second (samples x epochs / wall time of ``fit``, input checks included).
nbprop's JIT compilation (or loading it from the cache) happens once per
process, is timed first and kept out of the comparison.

Run:  python examples/vs_sklearn.py [--epochs 2] [--repeats 3] [--batch-sizes 1,32,200]
"""

import argparse
import time
import warnings

import numpy as np
import sklearn
from sklearn import neural_network
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

import nbprop
import nbprop.sklearn


def settings(batch_size, epochs, seed):
    """The parameters both estimators get; per-sample steps need a smaller learning rate."""
    learning_rate = 0.001 if batch_size == 1 else 0.01
    return dict(hidden_layer_sizes=(64,), activation="relu", batch_size=batch_size,
                learning_rate_init=learning_rate,
                momentum=0.9, nesterovs_momentum=True, alpha=1e-4, max_iter=epochs, n_iter_no_change=np.inf,
                random_state=seed)


def timed_fit(estimator, X, y):
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X, y)
    return time.perf_counter() - started, estimator


def compile_seconds(X, y):
    """Time nbprop's one-off JIT compilation (or cache load) of both training kernels."""
    net = nbprop.MLP([X.shape[1], 64, 10], activation="relu", loss="cross_entropy", seed=0)
    per_sample = net.fit(X[:2], y[:2], epochs=1, batch_size=1).compile_seconds
    minibatch = net.fit(X[:2], y[:2], epochs=1, batch_size=2).compile_seconds
    started = time.perf_counter()
    net.predict(X[:2])
    return per_sample + minibatch + time.perf_counter() - started


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-sizes", default="1,32,200")
    args = parser.parse_args(argv)
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]

    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    print(f"data: scikit-learn digits, {X.shape[0]} samples x {X.shape[1]} features, 10 classes")
    print(f"network: 64-64-10, relu, softmax, log-loss; SGD (lr 0.01, 0.001 at batch_size 1), "
          f"Nesterov momentum 0.9, alpha 1e-4; {args.epochs} epochs; median of {args.repeats} runs")
    print(f"versions: scikit-learn {sklearn.__version__}, nbprop {nbprop.__version__}")
    print(f"nbprop JIT compile or cache load: {compile_seconds(X, y):.2f} s, once per process "
          f"(excluded below)\n")

    print(f"{'batch_size':>10}  {'scikit-learn':>16}  {'nbprop':>16}  {'nbprop / scikit-learn':>21}")
    n_seen = X.shape[0] * args.epochs
    for batch_size in batch_sizes:
        speeds = {"scikit-learn": [], "nbprop": []}
        losses = {}
        for repeat in range(args.repeats):
            ours = nbprop.sklearn.MLPClassifier(**settings(batch_size, args.epochs, repeat))
            theirs = neural_network.MLPClassifier(solver="sgd", **settings(batch_size, args.epochs, repeat))
            for name, estimator in (("scikit-learn", theirs), ("nbprop", ours)):
                seconds, fitted = timed_fit(estimator, X, y)
                assert fitted.n_iter_ == args.epochs
                speeds[name].append(n_seen / seconds)
                losses[name] = fitted.loss_
        sk, nb = np.median(speeds["scikit-learn"]), np.median(speeds["nbprop"])
        print(f"{batch_size:>10}  {sk:>12,.0f} /s  {nb:>12,.0f} /s  {nb / sk:>20.2f}x"
              f"   (last loss: scikit-learn {losses['scikit-learn']:.3f}, nbprop {losses['nbprop']:.3f})")
    print("\nsamples/s = samples x epochs / seconds of fit; higher is faster.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
