"""XOR with the smallest network that can learn it: 2 inputs, 2 hidden units, 1 output.

No straight line separates XOR's two classes, so a network without a hidden
layer cannot learn it; two hidden units are enough.  Training is per-sample
SGD on the binary cross-entropy.  A 2-2-1 net can also settle in a local
minimum from an unlucky start (about half of random starts do); the script
then says so and starts again from the next seed.

Run:  python examples/xor.py [--seed 0] [--epochs 1000] [--lr 0.5]
"""

import argparse

import numpy as np

import nbprop

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
Y = np.array([0, 1, 1, 0], dtype=float)


def train(seed, epochs, lr):
    net = nbprop.MLP([2, 2, 1], activation="tanh", output_activation="sigmoid", loss="bce", seed=seed)
    hist = net.fit(X, Y, epochs=epochs, lr=lr, batch_size=1)
    return net, hist


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--lr", type=float, default=0.5)
    args = parser.parse_args(argv)

    for seed in range(args.seed, args.seed + 10):
        net, hist = train(seed, args.epochs, args.lr)
        predicted = net.predict(X).ravel()
        if np.array_equal(predicted > 0.5, Y > 0.5):
            break
        print(f"seed {seed}: stuck in a local minimum (loss {hist.loss[-1]:.3f}); trying seed {seed + 1}")
    print(f"{net}, seed {seed}: {args.epochs} epochs of per-sample SGD, lr {args.lr}")
    for epoch in (1, args.epochs // 4, args.epochs // 2, args.epochs):
        print(f"  epoch {epoch:5d}   loss (bce, summed over the 4 samples) {hist.loss[epoch - 1]:.5f}")
    print("\n  x1  x2   XOR   network")
    for (x1, x2), target, p in zip(X, Y, predicted):
        print(f"  {x1:.0f}   {x2:.0f}    {target:.0f}     {p:.4f}")
    learned = np.array_equal(predicted > 0.5, Y > 0.5)
    print("\nlearned XOR: " + ("yes, all four cases right" if learned else "no"))
    return 0 if learned else 1


if __name__ == "__main__":
    raise SystemExit(main())
