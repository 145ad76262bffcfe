"""nbprop.explain: parameter names, chain-rule traces and gradient checks."""

import math

import numpy as np
import pytest

import naive
import nbprop
from conftest import HEADS, HIDDEN, make_case
from nbprop.explain import (DatasetTrace, GradCheck, Trace, chain_rule, default_step, gradcheck,
                            named_params, param_index)

# Mazur's 2-2-2 example and StatQuest's 1-2-1 example (see test_seed_networks.py).
MAZUR_X, MAZUR_Y = [0.05, 0.10], [0.01, 0.99]
MAZUR_WEIGHTS = [0.15, 0.20, 0.25, 0.30, 0.40, 0.45, 0.50, 0.55]  # his w1..w8
DOSE, OBSERVED = np.array([0.0, 0.5, 1.0]), np.array([0.0, 1.0, 0.0])


def mazur_net():
    net = nbprop.MLP([2, 2, 2], activation="sigmoid", output_activation="sigmoid", loss="half_sse")
    net.weights[0][...] = [[0.15, 0.20], [0.25, 0.30]]
    net.biases[0][...] = 0.35
    net.weights[1][...] = [[0.40, 0.45], [0.50, 0.55]]
    net.biases[1][...] = 0.60
    return net


def statquest_net(b3=2.61):
    net = nbprop.MLP([1, 2, 1], activation="softplus", output_activation="identity", loss="ssr")
    net.params = [3.34, -3.53, -1.43, 0.57, -1.22, -2.30, b3]
    return net


def assert_rounding_close(total, expected, trace):
    """``total`` equals ``expected`` up to rounding of the path products (~1e-13 relative)."""
    terms = sum(abs(p.product) for p in trace.paths) if trace.paths else abs(total)
    assert abs(total - expected) <= 1e-13 * max(abs(expected), terms) + 1e-300, (total, expected)


# ------------------------------------------------------------------ names


def test_named_params_follow_the_flat_layout_and_the_weight_views():
    net = nbprop.MLP([3, 4, 2], seed=0)
    net.params = np.arange(net.n_params, dtype=float)
    named = named_params(net)
    assert [p.index for p in named] == list(range(net.n_params))
    assert [p.value for p in named] == list(net.params)
    for p in named:
        kind, rest = p.name[0], p.name[1:]
        layer, index = rest.split("[")
        where = tuple(int(i) for i in index.rstrip("]").split(","))
        view = net.weights[int(layer)] if kind == "W" else net.biases[int(layer)]
        assert view[where] == p.value, p.name
    # W_l has shape (fan_out, fan_in): W1[j, i] runs from unit i of layer 1's input to unit j
    assert param_index(net, "W1[1, 3]") == 3 * 4 + 4 + 1 * 4 + 3


def test_textbook_names_are_statquests_for_the_1_2_1_network():
    net = statquest_net()
    names = [p.name for p in named_params(net, numbering="textbook")]
    assert names == ["w1", "w2", "b1", "b2", "w3", "w4", "b3"]
    expected = {"w1": "W0[0, 0]", "w2": "W0[1, 0]", "b1": "b0[0]", "b2": "b0[1]",
                "w3": "W1[0, 0]", "w4": "W1[0, 1]", "b3": "b1[0]"}
    for textbook, canonical in expected.items():
        assert param_index(net, textbook, numbering="textbook") == param_index(net, canonical)
    values = {p.name: p.value for p in named_params(net, numbering="textbook")}
    assert values == {"w1": 3.34, "w2": -3.53, "b1": -1.43, "b2": 0.57, "w3": -1.22,
                      "w4": -2.30, "b3": 2.61}


def test_textbook_names_are_mazurs_for_the_2_2_2_network():
    net = mazur_net()
    # w1: i1->h1, w2: i2->h1, w3: i1->h2, w4: i2->h2, w5: h1->o1, w6: h2->o1, w7: h1->o2, w8: h2->o2
    expected = {"w1": (0, 0, 0), "w2": (0, 0, 1), "w3": (0, 1, 0), "w4": (0, 1, 1),
                "w5": (1, 0, 0), "w6": (1, 0, 1), "w7": (1, 1, 0), "w8": (1, 1, 1)}
    for number, (name, (layer, target, source)) in enumerate(expected.items()):
        index = param_index(net, name)
        assert net.params[index] == net.weights[layer][target, source] == MAZUR_WEIGHTS[number]
    # one bias per unit: Mazur's shared b1 is b1 = b2, his b2 is b3 = b4
    assert [param_index(net, f"b{k}") for k in (1, 2, 3, 4)] == [4, 5, 10, 11]
    assert [net.params[param_index(net, f"b{k}")] for k in (1, 2, 3, 4)] == [0.35, 0.35, 0.60, 0.60]


@pytest.mark.parametrize("spelling", ["W1[0, 1]", "W1[0,1]", " W1[ 0 , 1 ] ", "W1 [0,1]"])
def test_param_index_accepts_both_spellings(spelling):
    net = mazur_net()
    assert param_index(net, spelling) == 7


@pytest.mark.parametrize("name", ["W2[0, 0]", "W0[2, 0]", "W0[0, 2]", "b0[2]", "b2[0]", "W0[0]",
                                  "b0[0, 0]", "w9", "b5", "w0", "x1", "", "W1[-1, 0]"])
def test_unknown_names_raise_a_value_error_naming_them(name):
    net = mazur_net()
    with pytest.raises(ValueError, match=r"name: unknown parameter") as error:
        param_index(net, name)
    assert repr(name) in str(error.value)
    assert "w1..w8" in str(error.value) and "W1 (2, 2)" in str(error.value)


def test_numbering_must_match_the_spelling():
    net = mazur_net()
    with pytest.raises(ValueError, match="'w3' is a textbook name"):
        param_index(net, "w3", numbering="canonical")
    with pytest.raises(ValueError, match="numbering"):
        param_index(net, "w3", numbering="mazur")
    with pytest.raises(ValueError, match="numbering"):
        named_params(net, numbering=None)
    with pytest.raises(TypeError, match="name"):
        param_index(net, 3)


# ------------------------------------------------------------ chain rule


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("hidden", HIDDEN)
def test_every_trace_total_equals_the_gradient(hidden, head):
    for sizes in ([2, 3, 2], [3, 4, 4, 2]):
        net, X, Y = make_case(sizes, hidden, head, n=3)
        grad = net.gradient(X[:1], Y[:1])
        for param in named_params(net):
            trace = chain_rule(net, X[0], Y[0], param.name)
            assert isinstance(trace, Trace)
            assert trace.index == param.index and trace.gradient == grad[param.index]
            assert_rounding_close(trace.total, grad[param.index], trace)
            for path in trace.paths:
                assert path.product == pytest.approx(math.prod(f.value for f in path.factors),
                                                     rel=1e-15, abs=1e-300)


@pytest.mark.parametrize("head", HEADS)
def test_data_set_traces_sum_to_the_gradient_over_all_samples(head):
    # mse is the mean over samples and outputs: the 1/(n K) must be inside each sample's trace
    net, X, Y = make_case([3, 4, 2], "tanh", head, n=5)
    grad = net.gradient(X, Y)
    for param in named_params(net):
        trace = chain_rule(net, X, Y, param.name)
        assert isinstance(trace, DatasetTrace) and len(trace.samples) == 5
        assert trace.gradient == grad[param.index]
        terms = sum(abs(p.product) for s in trace.samples for p in s.paths)
        assert abs(trace.total - grad[param.index]) <= 1e-13 * max(terms, abs(grad[param.index]))


def test_traces_match_the_naive_reference_deltas():
    net, X, Y = make_case([3, 4, 4, 2], "elu", ("tanh", "mse"))
    trace = chain_rule(net, X[0], Y[0], "W0[1, 2]")
    zs, outputs = naive.forward(net.params, net.sizes, net.activations, X[0])
    Ws, _ = naive.unpack(net.params, net.sizes)
    delta = naive.act_jacobian("tanh", zs[2]).T @ (2 * (outputs[-1] - Y[0]) / 2)  # mse, n=1, K=2
    np.testing.assert_allclose(trace.deltas[3], delta, rtol=1e-13)
    for m in (2, 1):
        delta = naive.act_jacobian("elu", zs[m - 1]).T @ (Ws[m].T @ delta)
        np.testing.assert_allclose(trace.deltas[m], delta, rtol=1e-12)
    assert trace.total == pytest.approx(trace.deltas[1][1] * X[0, 2], rel=1e-13)


def test_path_counts():
    net = mazur_net()
    counts = {name: chain_rule(net, MAZUR_X, MAZUR_Y, name).n_paths for name in ("w1", "b2", "w5", "b4")}
    assert counts == {"w1": 2, "b2": 2, "w5": 1, "b4": 1}
    assert len(chain_rule(net, MAZUR_X, MAZUR_Y, "w1").paths) == 2
    net, X, Y = make_case([3, 4, 4, 2])
    for name, expected in [("W0[0, 0]", 4 * 2), ("b0[3]", 8), ("W1[2, 3]", 2), ("W2[1, 0]", 1)]:
        trace = chain_rule(net, X[0], Y[0], name)
        assert trace.n_paths == len(trace.paths) == expected, name
        assert len({p.units for p in trace.paths}) == expected  # all different


def test_many_paths_are_summarised_per_layer():
    net, X, Y = make_case([2, 8, 8, 8, 2], "sigmoid", ("sigmoid", "bce"))
    trace = chain_rule(net, X[0], Y[0], "W0[3, 1]")
    assert trace.n_paths == 8 * 8 * 2 and trace.summarised and trace.paths == ()
    assert_rounding_close(trace.total, net.gradient(X[:1], Y[:1])[param_index(net, "W0[3, 1]")], trace)
    text = trace.to_text()
    assert "128 paths from W0[3, 1] to L: more than max_paths=64, so they are summarised" in text
    assert "dL/dW0[3, 1] = dz_h1_4/dW0[3, 1] * dL/dz_h1_4" in text
    assert set(trace.deltas) == {1, 2, 3, 4}
    # the same parameter with a higher limit lists every path, and agrees
    full = chain_rule(net, X[0], Y[0], "W0[3, 1]", max_paths=128)
    assert not full.summarised and len(full.paths) == 128
    assert full.total == pytest.approx(trace.total, rel=1e-13)
    with pytest.raises(ValueError, match="max_paths"):
        chain_rule(net, X[0], Y[0], "W0[3, 1]", max_paths=0)


def test_mazur_trace_has_the_published_numbers_and_the_textbook_structure():
    net = mazur_net()
    trace = chain_rule(net, MAZUR_X, MAZUR_Y, "w1")
    assert trace.total == pytest.approx(0.000438568, rel=1e-6)  # published dE/dw1
    assert chain_rule(net, MAZUR_X, MAZUR_Y, "w5").total == pytest.approx(0.082167041, rel=1e-8)
    through_o1, through_o2 = trace.paths
    assert through_o1.units == ("w1", "h1", "o1", "L") and through_o2.units == ("w1", "h1", "o2", "L")
    assert [f.name for f in through_o1.factors] == [
        "dL/do1", "do1/dz_o1", "dz_o1/dh1", "dh1/dz_h1", "dz_h1/dw1"]
    assert [f.formula for f in through_o2.factors] == [
        "(o2 - y2)", "o2 * (1 - o2)", "w7", "h1 * (1 - h1)", "i1"]
    # Mazur's intermediate numbers: dE/dout_o1, dout_o1/dnet_o1, dout_h1/dnet_h1, w5, i1
    values = [f.value for f in through_o1.factors]
    np.testing.assert_allclose(values, [0.74136507, 0.186815602, 0.4, 0.241300709, 0.05], rtol=1e-8)
    # dE/dout_h1 = dE_o1/dout_h1 + dE_o2/dout_h1 = 0.036350306
    dE_dh1 = sum(p.product for p in trace.paths) / (0.241300709 * 0.05)
    assert dE_dh1 == pytest.approx(0.036350306, rel=1e-8)

    text = trace.to_text()
    assert "dL/dw1 = dh1/dw1 * (do1/dh1 * dL/do1 + do2/dh1 * dL/do2)" in text
    assert "       = 0.012065 * (0.0747262 * 0.741365 + 0.087755 * (-0.217072))" in text
    assert "path 1: w1 -> h1 -> o1 -> L" in text and "path 2: w1 -> h1 -> o2 -> L" in text
    assert "  = (o1 - y1) * o1 * (1 - o1) * w5 * h1 * (1 - h1) * i1" in text
    assert "total over 2 paths:    dL/dw1 = 0.000438567734" in text
    assert "net.gradient(x, y)[0]         = 0.000438567734" in text


def test_mazur_trace_in_canonical_names():
    trace = chain_rule(mazur_net(), MAZUR_X, MAZUR_Y, "W0[0, 0]")
    assert trace.parameter == trace.canonical == "W0[0, 0]"
    assert trace.grouped == "dL/dW0[0, 0] = dh1/dW0[0, 0] * (do1/dh1 * dL/do1 + do2/dh1 * dL/do2)"
    assert [f.formula for f in trace.paths[1].factors][2] == "W1[1, 0]"  # the weight h1 -> o2


def test_a_wrong_equation_disagrees_with_the_gradient():
    net = mazur_net()
    trace = chain_rule(net, MAZUR_X, MAZUR_Y, "w1")
    one_path = trace.paths[0].product  # forgets that h1 also reaches L through o2
    assert abs(one_path - trace.gradient) > 0.5 * abs(trace.gradient)
    assert abs(trace.total - trace.gradient) < 1e-15


def test_statquest_data_set_trace():
    net = statquest_net()
    trace = chain_rule(net, DOSE, OBSERVED, "w1")
    assert trace.formula == "dSSR/dw1 = sum_s -2 (y1 - o1) * w3 * sigmoid(z_h1) * i1"
    sigmoid = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    x1 = 3.34 * DOSE - 1.43
    predicted = net.predict(DOSE)[:, 0]
    by_hand = -2 * (OBSERVED - predicted) * -1.22 * sigmoid(x1) * DOSE
    np.testing.assert_allclose([s.total for s in trace.samples], by_hand, rtol=1e-13, atol=1e-16)
    assert trace.total == pytest.approx(net.gradient(DOSE, OBSERVED)[0], rel=1e-13)
    text = trace.to_text()
    assert "dSSR/dw1 = sum_s dSSR/do1 * dz_o1/dh1 * dh1/dz_h1 * dz_h1/dw1" in text
    assert "         = sum_s -2 (y1 - o1) * w3 * sigmoid(z_h1) * i1" in text
    assert "  s=3: x = [1], y = [0]:  (-0.00973927) * (-1.22) * 0.871019 * 1 = 0.0103494" in text
    # StatQuest's dSSR/db3 = -15.7 at b3 = 0
    assert chain_rule(statquest_net(0.0), DOSE, OBSERVED, "b3").total == pytest.approx(-15.7, abs=0.05)


def test_fused_output_factors_say_so():
    net, X, Y = make_case([2, 3, 2], "tanh", ("sigmoid", "bce"))
    path = chain_rule(net, X[0], Y[0], "W0[0, 0]").paths[0]
    out = net.predict(X[:1])[0]
    assert path.factors[0].name == "dL/dz_o1 (fused sigmoid + bce)"
    assert path.factors[0].value == pytest.approx(out[0] - Y[0, 0], rel=1e-14)
    assert path.factors[1].name == "dz_o1/dh1"  # no separate do1/dz_o1 factor
    net, X, Y = make_case([2, 3, 2], "tanh", ("softmax", "cross_entropy"))
    trace = chain_rule(net, X[0], Y[0], "W1[1, 2]")
    assert trace.paths[0].factors[0].name == "dL/dz_o2 (fused softmax + cross_entropy)"
    assert trace.grouped == "dL/dW1[1, 2] = dz_o2/dW1[1, 2] * dL/dz_o2"
    assert "dL/dz_o_k = o_k sum(y) - y_k (fused)" in trace.to_text()


def test_mse_output_factor_carries_the_mean():
    net, X, Y = make_case([2, 3, 2], "tanh", ("tanh", "mse"), n=3)
    out = net.predict(X)
    one = chain_rule(net, X[0], Y[0], "b1[0]").paths[0].factors[0]
    assert one.formula == "2/2 (o1 - y1)" and one.value == pytest.approx(out[0, 0] - Y[0, 0])
    three = chain_rule(net, X, Y, "b1[0]").samples[0].paths[0].factors[0]
    assert three.formula == "2/6 (o1 - y1)" and three.value == pytest.approx((out[0, 0] - Y[0, 0]) / 3)


def test_inputs_are_read_like_predict_and_nothing_changes():
    net = statquest_net()
    before = net.params.copy()
    single = chain_rule(net, 0.5, 1.0, "w1")  # a bare number is one dose
    assert isinstance(single, Trace)
    assert single.total == pytest.approx(net.gradient([0.5], [1.0])[0], rel=1e-14)
    np.testing.assert_array_equal(net.params, before)
    net, X, _ = make_case([2, 3, 3], "tanh", ("softmax", "cross_entropy"), n=4)
    labels = np.array([0, 2, 1, 1])
    trace = chain_rule(net, X, labels, "b0[1]")  # class labels with cross_entropy
    assert trace.total == pytest.approx(net.gradient(X, labels)[param_index(net, "b0[1]")], rel=1e-13)
    with pytest.raises(ValueError, match="X: "):
        chain_rule(net, [1.0, 2.0, 3.0], [1, 0, 0], "b0[1]")
    with pytest.raises(ValueError, match="name: unknown parameter 'b9'"):
        chain_rule(net, X, labels, "b9")


def test_latex_rendering():
    trace = chain_rule(mazur_net(), MAZUR_X, MAZUR_Y, "w1")
    latex = trace.to_latex()
    assert latex.startswith(r"\begin{aligned}") and latex.endswith(r"\end{aligned}")
    assert (r"\frac{\partial L}{\partial w_{1}} &= \frac{\partial h_{1}}{\partial w_{1}} \, \left("
            r"\frac{\partial o_{1}}{\partial h_{1}} \, \frac{\partial L}{\partial o_{1}} + ") in latex
    net, X, Y = make_case([3, 4, 4, 2])
    deep = chain_rule(net, X, Y, "W0[1, 2]").to_latex()
    assert r"\sum_s \frac{\partial h^{(1)}_{2}}{\partial W^{(0)}_{1,2}}" in deep


def test_reprs():
    net = mazur_net()
    assert repr(chain_rule(net, MAZUR_X, MAZUR_Y, "w5")) == "Trace(dL/dw5 = 0.0821670406, 1 path)"
    trace = chain_rule(statquest_net(), DOSE, OBSERVED, "b3")
    assert repr(trace).startswith("DatasetTrace(dSSR/db3 = ") and repr(trace).endswith("3 samples)")


# --------------------------------------------------------- gradient check


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("hidden", HIDDEN)
def test_gradcheck_passes_for_every_activation_and_loss(hidden, head):
    net, X, Y = make_case([3, 4, 4, 2], hidden, head)
    result = gradcheck(net, X, Y)
    assert result.near_kinks == 0  # these cases keep relu away from its kink
    assert result.ok and result.max_error < 1e-5, result.to_text()
    assert set(result.per_layer) == {0, 1, 2}
    assert max(result.per_layer.values()) == result.max_error


@pytest.mark.parametrize("hidden", ["sigmoid", "tanh", "softplus", "elu"])
def test_gradcheck_float32_has_a_larger_but_sensible_error(hidden):
    errors = {}
    for dtype in ("float64", "float32"):
        net, X, Y = make_case([3, 4, 2], hidden, ("identity", "half_sse"), dtype=dtype)
        result = gradcheck(net, X, Y)
        assert result.ok, result.to_text()
        errors[dtype] = result.max_error
        assert result.steps == pytest.approx(default_step(dtype) * np.maximum(1, np.abs(net.params)))
    assert errors["float64"] < 1e-6
    assert 10 * errors["float64"] < errors["float32"] < 2e-2


def test_gradcheck_catches_a_corrupted_gradient(monkeypatch):
    net, X, Y = make_case([3, 4, 2], "tanh", ("identity", "half_sse"))
    true = net.gradient
    index = param_index(net, "W1[1, 2]")

    def one_percent_off(X, Y):
        grad = true(X, Y)
        grad[index] *= 1.01
        return grad

    monkeypatch.setattr(net, "gradient", one_percent_off)
    result = gradcheck(net, X, Y)
    assert not result.ok
    assert result.max_error == pytest.approx(0.01 / 1.01, rel=1e-4)
    assert result.worst[0].name == "W1[1, 2]" and result.worst[0].index == index
    assert result.per_layer[1] == result.max_error and result.per_layer[0] < 1e-6
    assert result.per_param["W1[1, 2]"] == result.max_error
    assert "gradient check: FAILED" in result.to_text()


def test_gradcheck_catches_a_missing_mean(monkeypatch):
    # a gradient that forgets mse's 1/(n K) is wrong by the factor n K = 14 everywhere
    net, X, Y = make_case([3, 4, 2], "sigmoid", ("tanh", "mse"))
    original = nbprop.MLP.gradient
    monkeypatch.setattr(nbprop.MLP, "gradient",
                        lambda self, X, Y: original(self, X, Y) * (len(X) * self.sizes[-1]))
    result = gradcheck(net, X, Y)
    assert not result.ok and result.max_error == pytest.approx(13 / 14, rel=1e-5)


def test_gradcheck_restores_parameters_exactly_even_on_error(monkeypatch):
    net, X, Y = make_case([3, 4, 2], "tanh", ("identity", "half_sse"))
    before = net.params.copy()
    live = net.params
    gradcheck(net, X, Y)
    assert net.params is live
    np.testing.assert_array_equal(net.params, before)

    calls = []
    loss = net.loss

    def failing_loss(X, Y):
        calls.append(1)
        if len(calls) == 7:
            raise RuntimeError("interrupted")
        return loss(X, Y)

    monkeypatch.setattr(net, "loss", failing_loss)
    with pytest.raises(RuntimeError, match="interrupted"):
        gradcheck(net, X, Y)
    np.testing.assert_array_equal(net.params, before)


def test_gradcheck_report_and_arguments():
    net = mazur_net()
    result = gradcheck(net, MAZUR_X, MAZUR_Y, numbering="textbook")
    assert isinstance(result, GradCheck)
    assert list(result.per_param) == ["w1", "w2", "w3", "w4", "b1", "b2",
                                      "w5", "w6", "w7", "w8", "b3", "b4"]
    assert len(result.worst) == 5
    assert result.worst[0].error == result.max_error
    assert [w.error for w in result.worst] == sorted((w.error for w in result.worst), reverse=True)
    text = result.to_text()
    assert text.startswith("gradient check: OK, max relative error")
    assert "layer 0:" in text and "layer 1:" in text and "parameter" in text
    assert repr(result).startswith("GradCheck(max_error=") and "ok=True" in repr(result)
    assert not gradcheck(net, MAZUR_X, MAZUR_Y, tol=1e-20).ok
    for bad in (0, -1e-6, float("nan"), "1e-6"):
        with pytest.raises(ValueError, match="eps"):
            gradcheck(net, MAZUR_X, MAZUR_Y, eps=bad)
        with pytest.raises(ValueError, match="tol"):
            gradcheck(net, MAZUR_X, MAZUR_Y, tol=bad)


def test_gradcheck_flags_relu_units_at_their_kink():
    net = nbprop.MLP([1, 2, 1], activation="relu", loss="ssr")
    net.params = [1.0, -1.0, 0.0, 0.0, 1.0, 1.0, 0.0]  # both hidden units sit at z = 0 for x = 0
    result = gradcheck(net, [0.0, 1.0], [1.0, 0.5])
    assert result.near_kinks == 2
    assert "kink" in result.to_text()
