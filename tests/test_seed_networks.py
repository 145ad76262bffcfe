"""The two networks nbprop grew out of, with their published numbers and hand-derived formulas."""

import numpy as np
import pytest

import nbprop

# ---------------------------------------------------------------- 2-2-2 sigmoid
# Matt Mazur, "A Step by Step Backpropagation Example" (2015): inputs 0.05, 0.10;
# w1..w4 = .15 .20 .25 .30, b1 = .35; w5..w8 = .40 .45 .50 .55, b2 = .60;
# targets 0.01, 0.99; E = 1/2 sum (target - out)^2; learning rate 0.5.
# w1: i1->h1, w2: i2->h1, w3: i1->h2, w4: i2->h2; w5: h1->o1, w6: h2->o1, w7: h1->o2, w8: h2->o2.
X222 = np.array([[0.05, 0.10]])
Y222 = np.array([[0.01, 0.99]])


def mazur_net():
    net = nbprop.MLP([2, 2, 2], activation="sigmoid", output_activation="sigmoid", loss="half_sse")
    net.weights[0][...] = [[0.15, 0.20], [0.25, 0.30]]
    net.biases[0][...] = 0.35
    net.weights[1][...] = [[0.40, 0.45], [0.50, 0.55]]
    net.biases[1][...] = 0.60
    return net


def test_2_2_2_forward_and_error_match_published_numbers():
    net = mazur_net()
    np.testing.assert_allclose(net.predict(X222), [[0.75136507, 0.772928465]], rtol=1e-8)
    assert net.loss(X222, Y222) == pytest.approx(0.298371109, rel=1e-8)


def test_2_2_2_hidden_weight_gradient_is_the_sum_over_its_two_paths():
    net = mazur_net()
    w = net.weights
    i1 = X222[0, 0]
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    h1 = sig(w[0][0, 0] * 0.05 + w[0][0, 1] * 0.10 + 0.35)
    h2 = sig(w[0][1, 0] * 0.05 + w[0][1, 1] * 0.10 + 0.35)
    o1 = sig(w[1][0, 0] * h1 + w[1][0, 1] * h2 + 0.60)
    o2 = sig(w[1][1, 0] * h1 + w[1][1, 1] * h2 + 0.60)
    dL_do1, dL_do2 = o1 - 0.01, o2 - 0.99  # d/do of 1/2 (t - o)^2
    do1_dh1 = o1 * (1 - o1) * w[1][0, 0]  # through w5
    do2_dh1 = o2 * (1 - o2) * w[1][1, 0]  # through w7
    dh1_dw1 = h1 * (1 - h1) * i1
    # dL/dw1 = dh1/dw1 * (do1/dh1 * dL/do1 + do2/dh1 * dL/do2)
    by_paths = dh1_dw1 * (do1_dh1 * dL_do1 + do2_dh1 * dL_do2)
    grad = net.gradient(X222, Y222)
    assert grad[0] == pytest.approx(by_paths, rel=1e-14)
    assert grad[0] == pytest.approx(0.000438568, rel=1e-6)  # published dE/dw1
    assert grad[6] == pytest.approx(0.082167041, rel=1e-8)  # published dE/dw5 (W1[0, 0])


def test_2_2_2_one_sgd_step_gives_published_weights():
    net = mazur_net()
    old = net.params.copy()
    grad = net.gradient(X222, Y222)
    net.fit(X222, Y222, epochs=1, lr=0.5, batch_size=1, shuffle=False)
    # new = old - lr * derivative, to the last bit: the fused loop computes
    # old - (lr * delta) * input with one rounding where this has two.
    np.testing.assert_array_max_ulp(net.params, old - 0.5 * grad, maxulp=1)
    # published to 8 or 9 decimals: agree to half a unit in the 8th decimal place
    np.testing.assert_allclose(net.weights[0].ravel(), [0.149780716, 0.19956143, 0.24975114, 0.29950229],
                               rtol=0, atol=5e-9)
    np.testing.assert_allclose(net.weights[1].ravel(), [0.35891648, 0.408666186, 0.511301270, 0.561370121],
                               rtol=0, atol=5e-9)


# ------------------------------------------------------------- 1-2-1 softplus
# StatQuest, "Neural Networks Pt. 2/3: Backpropagation": dosages 0, 0.5, 1 with
# efficacy 0, 1, 0; softplus hidden units, identity output, SSR loss.
# w1, b1 -> hidden 1; w2, b2 -> hidden 2; w3, w4, b3 -> output.
DOSE = np.array([0.0, 0.5, 1.0])
OBSERVED = np.array([0.0, 1.0, 0.0])
W1, B1, W2, B2, W3, W4 = 3.34, -1.43, -3.53, 0.57, -1.22, -2.30


def statquest_net(b3):
    net = nbprop.MLP([1, 2, 1], activation="softplus", output_activation="identity", loss="ssr")
    net.params = [W1, W2, B1, B2, W3, W4, b3]  # [W0 (2x1), b0, W1 (1x2), b1]
    return net


def test_1_2_1_ssr_and_b3_step_match_published_numbers():
    net = statquest_net(b3=0.0)
    assert net.loss(DOSE, OBSERVED) == pytest.approx(20.4, abs=0.05)  # "SSR = 20.4"
    assert net.gradient(DOSE, OBSERVED)[-1] == pytest.approx(-15.7, abs=0.05)  # "dSSR/db3 = -15.7"
    net.fit(DOSE, OBSERVED, epochs=1, lr=0.1, batch_size=None)
    assert net.params[-1] == pytest.approx(1.57, abs=0.005)  # "new b3 = 0 - (-15.7 x 0.1)"


@pytest.mark.parametrize("b3", [0.0, 2.61])
def test_1_2_1_gradient_equals_the_hand_derived_chain_rule(b3):
    net = statquest_net(b3)
    softplus = lambda x: np.log1p(np.exp(x))  # noqa: E731
    sigmoid = lambda x: np.exp(x) / (1 + np.exp(x))  # noqa: E731  (softplus' derivative)
    x1, x2 = W1 * DOSE + B1, W2 * DOSE + B2
    y1, y2 = softplus(x1), softplus(x2)
    predicted = W3 * y1 + W4 * y2 + b3
    r = -2 * (OBSERVED - predicted)  # dSSR/dpredicted per sample
    by_hand = {
        "w1": np.sum(r * W3 * sigmoid(x1) * DOSE),
        "w2": np.sum(r * W4 * sigmoid(x2) * DOSE),
        "b1": np.sum(r * W3 * sigmoid(x1)),
        "b2": np.sum(r * W4 * sigmoid(x2)),
        "w3": np.sum(r * y1),
        "w4": np.sum(r * y2),
        "b3": np.sum(r),
    }
    grad = dict(zip(["w1", "w2", "b1", "b2", "w3", "w4", "b3"], net.gradient(DOSE, OBSERVED)))
    for name, value in by_hand.items():
        # the kernels and the hand formula differ only in rounding: a few ulps
        assert grad[name] == pytest.approx(value, rel=1e-13, abs=1e-14), name
    assert net.loss(DOSE, OBSERVED) == pytest.approx(np.sum((OBSERVED - predicted) ** 2), rel=1e-14)
