"""Backpropagation by hand, checked by nbprop: two textbook derivations with their numbers.

1. Matt Mazur, "A Step by Step Backpropagation Example": a 2-2-2 sigmoid
   network, one sample, E = 1/2 sum (target - out)^2.  Published:
   dE/dw1 = 0.000438568 and dE/dw5 = 0.082167041.
2. StatQuest, "Neural Networks Pt. 2: Backpropagation": a 1-2-1 network with
   softplus hidden units and a linear output, three doses, SSR loss, where
   dSSR/dw1 = sum -2 (observed - predicted) * w3 * sigmoid(x1) * input.

Then two WRONG versions of dE/dw1, which disagree with the true gradient, and
a finite-difference check of the whole gradient.  Runs in a few seconds:

    python examples/chain_rule.py
"""

import numpy as np

import nbprop
from nbprop.explain import chain_rule, gradcheck, named_params


def mazur_net():
    """Mazur's network; his shared biases b1 = .35 and b2 = .60 go to every unit of a layer."""
    net = nbprop.MLP([2, 2, 2], activation="sigmoid", output_activation="sigmoid", loss="half_sse")
    net.weights[0][...] = [[0.15, 0.20], [0.25, 0.30]]  # w1 w2 / w3 w4
    net.biases[0][...] = 0.35
    net.weights[1][...] = [[0.40, 0.45], [0.50, 0.55]]  # w5 w6 / w7 w8
    net.biases[1][...] = 0.60
    return net


def statquest_net():
    """StatQuest's fitted network (textbook order w1 w2 b1 b2 w3 w4 b3 is the flat order)."""
    net = nbprop.MLP([1, 2, 1], activation="softplus", output_activation="identity", loss="ssr")
    net.params = [3.34, -3.53, -1.43, 0.57, -1.22, -2.30, 2.61]
    return net


def section(title):
    print("\n" + "=" * 78 + "\n" + title + "\n" + "=" * 78)


def compare(label, ours, published, decimals=9):
    agree = round(ours, decimals) == published
    print(f"{label}: nbprop {ours:.12f}, published {published:.{decimals}f}, "
          f"agree to {decimals} decimals: {agree}")


def mazur():
    section("1. Mazur's 2-2-2 network: dE/dw1 (two paths) and dE/dw5 (one path)")
    net = mazur_net()
    x, y = [0.05, 0.10], [0.01, 0.99]
    w1 = chain_rule(net, x, y, "w1")
    print(w1.to_text())
    print()
    compare("dE/dw1", w1.total, 0.000438568)
    print()
    w5 = chain_rule(net, x, y, "w5")
    print(w5.to_text())
    print()
    compare("dE/dw5", w5.total, 0.082167041)
    return net, x, y, w1


def wrong_equations(w1):
    section("2. Two WRONG equations for dE/dw1, and how far off they are")
    true = w1.gradient
    through_o1, through_o2 = (path.product for path in w1.paths)
    w5 = 0.40
    wrong = {
        # h1 reaches E through o1 AND o2; dropping one path drops its share.
        "dL/dw1 = dh1/dw1 * do1/dh1 * dL/do1   (forgets the path through o2)": through_o1,
        # w5 belongs to the path h1 -> o1 only; it is not part of dh1/dw1,
        # which depends on w1, the input and z_h1 alone.
        "dL/dw1 = (dh1/dw1 * w5) * (do1/dh1 * dL/do1 + do2/dh1 * dL/do2)   (w5 inside dh1/dw1)":
            w5 * (through_o1 + through_o2),
    }
    print(f"true (net.gradient):  {true:.9f}")
    for equation, value in wrong.items():
        print(f"WRONG: {equation}")
        print(f"       = {value:.9f}, off by {abs(value - true) / abs(true):.0%}")


def statquest():
    section("3. StatQuest's 1-2-1 softplus network over three doses: dSSR/dw1")
    net = statquest_net()
    dose, observed = np.array([0.0, 0.5, 1.0]), np.array([0.0, 1.0, 0.0])
    trace = chain_rule(net, dose, observed, "w1")
    print("(StatQuest's x1 is z_h1, input is i1, observed is y1 and predicted is o1)")
    print(trace.to_text())
    print()
    print("every derivative of SSR, by name, summed over the doses:")
    gradient = net.gradient(dose, observed)
    for param in named_params(net, numbering="textbook"):
        total = chain_rule(net, dose, observed, param.name).total
        print(f"  dSSR/d{param.name} = {total: .12f}   (net.gradient: {gradient[param.index]: .12f})")


def finite_differences(net, x, y):
    section("4. The whole gradient of the 2-2-2 network against finite differences")
    print(gradcheck(net, x, y, numbering="textbook").to_text())


def main():
    net, x, y, w1 = mazur()
    wrong_equations(w1)
    statquest()
    finite_differences(net, x, y)


if __name__ == "__main__":
    main()
