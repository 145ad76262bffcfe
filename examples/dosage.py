"""The 1-2-1 softplus "dosage" network, fitted to three points and drawn as a curve.

Dosages 0, 0.5 and 1 have efficacies 0, 1 and 0: low and high doses do
nothing, a middle dose works.  Two softplus hidden units and a linear output
(StatQuest, "Neural Networks Pt. 2: Backpropagation") can bend a curve
through all three points.  Training is full-batch gradient descent on the
sum of squared residuals, new = old - learning_rate * dSSR/dparameter, from
weights 2.74, -1.13 (dosage to hidden) and 0.36, 0.63 (hidden to output) and
zero biases.  The plot (dosage.png) needs matplotlib; without it the example
still trains and says the plot was skipped.

Run:  python examples/dosage.py [--epochs 1000] [--lr 0.1] [--out dosage.png]
"""

import argparse

import numpy as np

import nbprop

DOSE = np.array([0.0, 0.5, 1.0])
EFFICACY = np.array([0.0, 1.0, 0.0])
# The fitted values StatQuest publishes: w1, b1 (hidden 1), w2, b2 (hidden 2), w3, w4, b3 (output).
PUBLISHED = {"w1": 3.34, "b1": -1.43, "w2": -3.53, "b2": 0.57, "w3": -1.22, "w4": -2.30, "b3": 2.61}


def network(w1, b1, w2, b2, w3, w4, b3):
    net = nbprop.MLP([1, 2, 1], activation="softplus", output_activation="identity", loss="ssr")
    net.params = [w1, w2, b1, b2, w3, w4, b3]  # flat layout [W0 (2x1), b0, W1 (1x2), b1]
    return net


def named(net):
    (w1, w2), (b1, b2) = net.weights[0].ravel(), net.biases[0]
    (w3, w4), (b3,) = net.weights[1].ravel(), net.biases[1]
    return {"w1": w1, "b1": b1, "w2": w2, "b2": b2, "w3": w3, "w4": w4, "b3": b3}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--out", default="dosage.png", help="where to save the plot (default dosage.png)")
    args = parser.parse_args(argv)

    net = network(w1=2.74, b1=0.0, w2=-1.13, b2=0.0, w3=0.36, w4=0.63, b3=0.0)
    print(f"{net}\nstart: SSR = {net.loss(DOSE, EFFICACY):.4f}")
    hist = net.fit(DOSE, EFFICACY, epochs=args.epochs, lr=args.lr, batch_size=None, shuffle=False)
    for epoch in sorted({1, 10, 100, args.epochs // 2, args.epochs}):
        print(f"  step {epoch:5d}   SSR before the step {hist.loss[epoch - 1]:.3g}")
    ssr = net.loss(DOSE, EFFICACY)
    print(f"after {args.epochs} gradient-descent steps (lr {args.lr}): SSR = {ssr:.3g}")

    published = network(**PUBLISHED)
    print("\nparameter   fitted   StatQuest")
    for name, value in named(net).items():
        print(f"  {name}       {value:+.2f}    {PUBLISHED[name]:+.2f}")
    print(f"  (StatQuest's rounded values give SSR = {published.loss(DOSE, EFFICACY):.2g})")
    print("\ndosage   efficacy   predicted")
    for dose, efficacy, p in zip(DOSE, EFFICACY, net.predict(DOSE).ravel()):
        print(f"  {dose:.1f}        {efficacy:.0f}       {p:+.4f}")
    print("fits all three points: " + ("yes" if ssr < 1e-6 else "no"))

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: plot skipped (pip install matplotlib)")
        return 0
    dense = np.linspace(0, 1, 201)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(dense, net.predict(dense).ravel(), color="tab:green", linewidth=2, label="fitted network")
    ax.plot(dense, published.predict(dense).ravel(), "k:", label="StatQuest's published values")
    ax.scatter(DOSE, EFFICACY, s=60, color="tab:red", zorder=3, label="observed")
    ax.set(xlabel="dosage", ylabel="efficacy", title="1-2-1 softplus network through three doses")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    print(f"plot saved to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
