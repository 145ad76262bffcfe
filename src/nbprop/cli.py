"""The ``nbprop`` command line: ``python -m nbprop demo``."""

import argparse
import sys

import numpy as np


def ascii_plot(x, curves, width=64, height=15):
    """Draw ``curves`` (a list of ``(symbol, y)``) over ``x`` as lines of text."""
    ys = np.concatenate([y for _, y in curves])
    low, high = float(ys.min()), float(ys.max())
    grid = [[" "] * width for _ in range(height)]
    columns = np.linspace(0, width - 1, len(x)).round().astype(int)
    for symbol, y in curves:
        rows = ((high - y) / (high - low) * (height - 1)).round().astype(int)
        for row, column in zip(rows, columns):
            grid[row][column] = "o" if grid[row][column] not in (" ", symbol) else symbol
    lines = ["".join(row).rstrip() for row in grid]
    lines[0] = f"{lines[0]:<{width}} {high:+.2f}"
    lines[-1] = f"{lines[-1]:<{width}} {low:+.2f}"
    return "\n".join("  |" + line for line in lines)


def demo(epochs=20, seed=0, out=None):
    """Train a 1-16-1 tanh network on a noisy sine and show loss, speed and what it learned."""
    import nbprop

    out = out or sys.stdout

    rng = np.random.default_rng(seed)
    X = rng.uniform(-3, 3, size=(512, 1))
    Y = np.sin(X) + rng.normal(scale=0.05, size=X.shape)
    net = nbprop.MLP([1, 16, 1], activation="tanh", output_activation="identity", loss="mse", seed=seed)
    print(f"nbprop {nbprop.__version__} demo: {net}", file=out)
    schedule = nbprop.InverseScaling(decay=1e-3)
    print(f"learning y = sin(x) from {len(X)} noisy samples by per-sample SGD "
          f"(lr 0.01, momentum 0.9, {schedule})\n", file=out)
    hist = net.fit(X, Y, epochs=epochs, lr=0.01, momentum=0.9, schedule=schedule, seed=seed)
    print(f"JIT compile or cache load: {hist.compile_seconds:.2f} s (not part of the epoch times)", file=out)
    for epoch, (loss, speed) in enumerate(zip(hist.loss, hist.samples_per_second), start=1):
        print(f"epoch {epoch:3d}   loss (mse) {loss:.5f}   {speed:12,.0f} samples/s", file=out)
    print(f"\nspeed: {np.median(hist.samples_per_second):,.0f} samples/s "
          f"(median over epochs; forward + backward + update per sample)", file=out)
    grid = np.linspace(-3, 3, 9)
    predicted = net.predict(grid).ravel()
    print("\n     x    sin(x)   network", file=out)
    for x, p in zip(grid, predicted):
        print(f"{x:+6.2f}  {np.sin(x):+7.3f}  {p:+8.3f}", file=out)
    dense = np.linspace(-3, 3, 64)
    print("\nwhat it learned ('.' sin(x), '*' network, 'o' both):", file=out)
    print(ascii_plot(dense, [(".", np.sin(dense)), ("*", net.predict(dense).ravel())]), file=out)
    return net, hist


def main(argv=None):
    """Entry point of ``python -m nbprop`` and the ``nbprop`` console script."""
    parser = argparse.ArgumentParser(prog="nbprop", description="Fast backpropagation for small MLPs.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser("demo", help="train a small network and show what it learned")
    demo_parser.add_argument("--epochs", type=int, default=20, help="training epochs (default 20)")
    demo_parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        if args.epochs < 1:
            parser.error(f"--epochs: expected a whole number >= 1, got {args.epochs}")
        demo(epochs=args.epochs, seed=args.seed)
    return 0
