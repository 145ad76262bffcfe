"""Regression: learn y = sin(x) from noisy samples, then plot what the network learned.

A 1-32-1 tanh network with a linear output is trained by plain per-sample SGD
on the mean squared error, from 256 noisy samples on [-pi, pi].  The
plot (sine.png in the working directory) needs matplotlib; without it the
example still trains and says the plot was skipped.

Run:  python examples/sine.py [--epochs 100] [--out sine.png]
"""

import argparse

import numpy as np

import nbprop


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="sine.png", help="where to save the plot (default sine.png)")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    X = rng.uniform(-np.pi, np.pi, size=(256, 1))
    Y = np.sin(X) + rng.normal(scale=0.1, size=X.shape)

    net = nbprop.MLP([1, 32, 1], activation="tanh", output_activation="identity", loss="mse", seed=args.seed)
    hist = net.fit(X, Y, epochs=args.epochs, lr=0.01, batch_size=1)
    print(f"{net}: {args.epochs} epochs of per-sample SGD (lr 0.01) on {len(X)} noisy samples")
    print(f"JIT compile or cache load: {hist.compile_seconds:.2f} s (not in the speed below)")
    for epoch in sorted({1, 2, 5, 10, args.epochs // 2, args.epochs}):
        print(f"  epoch {epoch:4d}   training loss (mse) {hist.loss[epoch - 1]:.5f}")

    grid = np.linspace(-np.pi, np.pi, 200)
    learned = net.predict(grid).ravel()
    error = float(np.mean((learned - np.sin(grid)) ** 2))
    print(f"mean squared distance from sin(x) on a grid: {error:.5f} (the noise variance is 0.01)")
    print(f"speed: {np.median(hist.samples_per_second):,.0f} samples/s (median over epochs)")

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: plot skipped (pip install matplotlib)")
        return 0
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.scatter(X.ravel(), Y.ravel(), s=8, color="0.6", label="noisy samples")
    left.plot(grid, np.sin(grid), "k--", label="sin(x)")
    left.plot(grid, learned, color="tab:red", linewidth=2, label="network")
    left.set(xlabel="x", ylabel="y", title="What the 1-32-1 network learned")
    left.legend()
    right.semilogy(np.arange(1, args.epochs + 1), hist.loss, color="tab:blue")
    right.set(xlabel="epoch", ylabel="training loss (mse)", title="Training loss")
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    print(f"plot saved to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
