"""See inside backpropagation: parameter names, chain-rule traces and gradient checks.

Three tools for learning (and debugging) what :meth:`nbprop.MLP.gradient`
computes:

* :func:`named_params` and :func:`param_index` give every parameter a stable
  name and its position in the flat array :attr:`nbprop.MLP.params`;
* :func:`chain_rule` writes out ``dL/dparameter`` for one sample (or summed
  over a data set) as a sum over every path from the parameter to the loss,
  each path a product of named factors with their numbers, the way the
  textbook derivations write it;
* :func:`gradcheck` compares the analytic gradient with central finite
  differences of the loss, parameter by parameter.

Parameter names
---------------
Layers of weights are counted from 0.  ``W_l`` has shape ``(fan_out, fan_in)``
(as ``torch.nn.Linear.weight``), so the *canonical* name ``W1[j, i]`` is the
weight from unit ``i`` of layer 1's input to unit ``j`` of its output, and
``b0[j]`` is the bias of unit ``j`` of layer 0's output.  Both spellings
``"W1[0, 1]"`` and ``"W1[0,1]"`` are accepted.

The optional *textbook* numbering names the same parameters ``w1, w2, ...``
and ``b1, b2, ...`` in the order a diagram is read: weights are numbered
layer by layer, within a layer by target unit, then by source unit (which is
also their order in ``params``); biases are numbered layer by layer, unit by
unit.  This reproduces the published derivations exactly:

==========  =================  =========================================
network     textbook           canonical
==========  =================  =========================================
1-2-1       w1, w2             ``W0[0, 0]``, ``W0[1, 0]`` (input -> h1, h2)
(StatQuest) b1, b2             ``b0[0]``, ``b0[1]`` (hidden biases)
            w3, w4             ``W1[0, 0]``, ``W1[0, 1]`` (h1, h2 -> output)
            b3                 ``b1[0]`` (output bias)
2-2-2       w1, w2, w3, w4     ``W0[0, 0]`` i1->h1, ``W0[0, 1]`` i2->h1,
(Mazur)                        ``W0[1, 0]`` i1->h2, ``W0[1, 1]`` i2->h2
            w5, w6, w7, w8     ``W1[0, 0]`` h1->o1, ``W1[0, 1]`` h2->o1,
                               ``W1[1, 0]`` h1->o2, ``W1[1, 1]`` h2->o2
            b1, b2 / b3, b4    ``b0[0]``, ``b0[1]`` / ``b1[0]``, ``b1[1]``
==========  =================  =========================================

Mazur's network shares one bias per layer (his ``b1`` for both hidden units,
``b2`` for both outputs); nbprop has one bias per unit, so his ``b1`` is
nbprop's ``b1`` and ``b2`` set equal, and his ``b2`` is ``b3`` and ``b4``.

Units and factors
-----------------
In a trace, inputs are ``i1, i2, ...``, outputs ``o1, o2, ...``, targets
``y1, y2, ...``, and hidden units ``h1, h2, ...`` (``h1_1, h1_2, ..., h2_1,
...`` when there are several hidden layers).  Unit ``u`` has pre-activation
``z_u = sum(w * input) + b`` and output ``u = f(z_u)``; StatQuest writes
``x1`` for ``z_h1`` and Mazur ``net_h1``.  The loss is ``L`` (``SSR`` for
``loss="ssr"``).  With ``bce`` (sigmoid output) and ``cross_entropy``
(softmax output) the loss and the output activation are differentiated
together: the output factor is ``dL/dz_o = o - y`` (``o sum(y) - y`` for
softmax), as nbprop's kernels compute it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from . import activations, losses
from ._validation import as_inputs, as_targets

_NUMBERINGS = ("canonical", "textbook")
_MAX_SAMPLE_LINES = 20  # per-sample lines shown by DatasetTrace.to_text

# Symbol of each loss in the derivations: StatQuest calls the sum of squared
# residuals SSR; every other loss is L.
_LOSS_SYMBOL = {"ssr": "SSR"}

# f'(z_u) of each activation, written with the unit's own names; "{u}" is the
# unit's output, "{z}" its pre-activation.  Every formula is safe as one
# factor of a product.
_SLOPE_FORMULA = {
    activations.IDENTITY: "1",
    activations.SIGMOID: "{u} * (1 - {u})",
    activations.TANH: "(1 - {u}^2)",
    activations.RELU: "[{z} > 0]",
    activations.LEAKY_RELU: f"(1 if {{z}} > 0 else {activations.LEAKY_RELU_SLOPE})",
    activations.SOFTPLUS: "sigmoid({z})",
    activations.ELU: "(1 if {z} > 0 else {u} + 1)",
}

# Activations whose derivative jumps at z = 0, where finite differences fail.
_KINKED = (activations.RELU, activations.LEAKY_RELU)


# ---------------------------------------------------------------------------
# Parameter names


class NamedParam(NamedTuple):
    """One parameter: its name, its index in ``net.params`` and its value.

    Examples
    --------
    >>> import nbprop
    >>> from nbprop.explain import named_params
    >>> net = nbprop.MLP([1, 2, 1], seed=0)
    >>> first = named_params(net)[0]
    >>> first.name, first.index
    ('W0[0, 0]', 0)
    """

    name: str
    index: int
    value: float


@dataclass(frozen=True)
class _Slot:
    """Where one parameter sits: layer, kind ("W" or "b"), row, column, flat index, names."""

    layer: int
    kind: str
    row: int
    col: int | None
    index: int
    canonical: str
    textbook: str

    def name(self, numbering):
        return self.textbook if numbering == "textbook" else self.canonical


@lru_cache(maxsize=64)
def _slots(sizes):
    """Every parameter of a network with layer ``sizes`` (a tuple), in flat order."""
    slots, index, n_weights, n_biases = [], 0, 0, 0
    for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        for row in range(fan_out):
            for col in range(fan_in):
                n_weights += 1
                slots.append(_Slot(layer, "W", row, col, index, f"W{layer}[{row}, {col}]",
                                   f"w{n_weights}"))
                index += 1
        for row in range(fan_out):
            n_biases += 1
            slots.append(_Slot(layer, "b", row, None, index, f"b{layer}[{row}]", f"b{n_biases}"))
            index += 1
    return tuple(slots)


@lru_cache(maxsize=64)
def _slot_by_name(sizes):
    """Both names of every parameter -> its slot."""
    table = {}
    for slot in _slots(sizes):
        table[slot.canonical] = slot
        table[slot.textbook] = slot
    return table


def _check_numbering(numbering, allow_auto):
    allowed = _NUMBERINGS + ((None,) if allow_auto else ())
    if numbering not in allowed:
        raise ValueError(f"numbering: expected one of {allowed}, got {numbering!r}")


def named_params(net, numbering="canonical"):
    """Every parameter of ``net`` with its name, flat index and value.

    Parameters
    ----------
    net : nbprop.MLP
        The network.
    numbering : {"canonical", "textbook"}, default "canonical"
        ``"canonical"`` names are ``W1[j, i]`` (weight from unit ``i`` of
        layer 1's input to unit ``j`` of its output, ``W_l`` having shape
        ``(fan_out, fan_in)``) and ``b0[j]``; ``"textbook"`` names are
        ``w1, w2, ...`` and ``b1, b2, ...`` numbered as the derivations do
        (see the module documentation).

    Returns
    -------
    list of NamedParam
        ``(name, index, value)`` in the order of ``net.params``, so
        ``[p.value for p in named_params(net)]`` equals ``list(net.params)``.
        ``dict((p.name, p.value) for p in ...)`` gives a name -> value map.

    Examples
    --------
    StatQuest's 1-2-1 network: the textbook names are exactly his.

    >>> import nbprop
    >>> from nbprop.explain import named_params
    >>> net = nbprop.MLP([1, 2, 1], activation="softplus", loss="ssr")
    >>> net.params = [3.34, -3.53, -1.43, 0.57, -1.22, -2.30, 2.61]
    >>> for p in named_params(net, numbering="textbook"):
    ...     print(p.name, p.index, p.value)
    w1 0 3.34
    w2 1 -3.53
    b1 2 -1.43
    b2 3 0.57
    w3 4 -1.22
    w4 5 -2.3
    b3 6 2.61
    >>> [p.name for p in named_params(net)][:3]
    ['W0[0, 0]', 'W0[1, 0]', 'b0[0]']
    """
    _check_numbering(numbering, allow_auto=False)
    values = net.params
    return [NamedParam(slot.name(numbering), slot.index, float(values[slot.index]))
            for slot in _slots(tuple(net.sizes))]


_CANONICAL = re.compile(r"\s*([Wb])\s*(\d+)\s*\[\s*(\d+)\s*(?:,\s*(\d+)\s*)?\]\s*")
_TEXTBOOK = re.compile(r"\s*([wb])(\d+)\s*")


def _naming_hint(sizes):
    slots = _slots(tuple(sizes))
    n_weights = sum(slot.kind == "W" for slot in slots)
    shapes = ", ".join(f"W{layer} {(fan_out, fan_in)}"
                       for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])))
    return (f"a {list(sizes)} network has weights {shapes} named like 'W0[0, 1]' "
            f"and biases like 'b0[1]', or textbook names w1..w{n_weights} and "
            f"b1..b{len(slots) - n_weights}")


def _find_slot(net, name, numbering=None):
    """The slot named ``name``, and the numbering its spelling belongs to."""
    _check_numbering(numbering, allow_auto=True)
    if not isinstance(name, str):
        raise TypeError(f"name: expected a parameter name such as 'W0[0, 1]' or 'w1', "
                        f"got {type(name).__name__} {name!r}")
    sizes = tuple(net.sizes)
    canonical = _CANONICAL.fullmatch(name)
    textbook = _TEXTBOOK.fullmatch(name)
    if canonical:
        kind, layer, row, col = canonical.groups()
        key = f"{kind}{int(layer)}[{int(row)}" + (f", {int(col)}]" if col is not None else "]")
        style = "canonical"
    elif textbook:
        key, style = f"{textbook.group(1)}{int(textbook.group(2))}", "textbook"
    else:
        raise ValueError(f"name: unknown parameter {name!r}; {_naming_hint(sizes)}")
    if numbering is not None and numbering != style:
        raise ValueError(f"name: {name!r} is a {style} name but numbering={numbering!r}; "
                         f"pass numbering={style!r} or None")
    slot = _slot_by_name(sizes).get(key)
    if slot is None:
        raise ValueError(f"name: unknown parameter {name!r}; {_naming_hint(sizes)}")
    return slot, style


def param_index(net, name, numbering=None):
    """Index in ``net.params`` of the parameter called ``name``.

    Parameters
    ----------
    net : nbprop.MLP
        The network.
    name : str
        A canonical name such as ``"W1[0, 1]"`` (spaces optional:
        ``"W1[0,1]"``) or ``"b0[1]"``, or a textbook name such as ``"w3"``
        or ``"b2"`` (see :func:`named_params`).
    numbering : {None, "canonical", "textbook"}, default None
        ``None`` recognises the numbering from the spelling (canonical names
        have brackets, textbook names do not); a value insists on it.

    Returns
    -------
    int

    Raises
    ------
    ValueError
        If no parameter of ``net`` has that name; the message names it and
        lists the valid names.

    Examples
    --------
    Mazur's 2-2-2 network: ``w5`` is the weight from ``h1`` to ``o1``.

    >>> import nbprop
    >>> from nbprop.explain import param_index
    >>> net = nbprop.MLP([2, 2, 2])
    >>> param_index(net, "W1[0, 0]"), param_index(net, "W1[0,0]")
    (6, 6)
    >>> param_index(net, "w5", numbering="textbook")
    6
    >>> param_index(net, "W2[0, 0]")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: name: unknown parameter 'W2[0, 0]'; a [2, 2, 2] network has weights W0 (2, 2), ...
    """
    return _find_slot(net, name, numbering)[0].index


# ---------------------------------------------------------------------------
# Forward pass and loss head, in plain NumPy (float64)


def _unit_name(sizes, m, k):
    """Name of unit ``k`` of layer ``m`` (0: inputs, len(sizes) - 1: outputs)."""
    last = len(sizes) - 1
    if m == 0:
        return f"i{k + 1}"
    if m == last:
        return f"o{k + 1}"
    return f"h{k + 1}" if last == 2 else f"h{m}_{k + 1}"


@dataclass
class _Pass:
    """One sample through the network: per unit layer ``m``, outputs, pre-activations, f'."""

    outputs: list  # outputs[0] is the input sample
    pre: list  # pre[m] for m >= 1 (pre[0] is None)
    slopes: list  # f'(pre[m]) from activations.activate


def _forward(net, x):
    outputs, pre, slopes = [np.asarray(x, dtype=np.float64)], [None], [None]
    for W, b, name in zip(net.weights, net.biases, net.activations):
        code = activations.OUTPUT_ACTIVATIONS[name]
        z = _affine(W, b, outputs[-1])
        pairs = [activations.activate(code, float(value)) for value in z]
        a = np.array([value for value, _ in pairs])
        slope = np.array([derivative for _, derivative in pairs])
        if code == activations.SOFTMAX:  # not elementwise: normalise the whole layer
            e = np.exp(z - z.max())
            a = e / e.sum()
        outputs.append(a)
        pre.append(z)
        slopes.append(slope)
    return _Pass(outputs, pre, slopes)


def _affine(W, b, a):
    """``z = W a + b`` in float64, each sum taken left to right and the bias added last.

    That is the kernels' order, so ``z`` agrees with theirs to the last bit
    and a trace differs from ``net.gradient`` only by the rounding of its
    products, even where ``f'(z)`` amplifies a change in ``z`` (tanh near 1).
    """
    a = [float(value) for value in a]
    return np.array([sum(float(w) * v for w, v in zip(row, a)) + float(bias)
                     for row, bias in zip(W, b)])


def _is_fused(net):
    """True when the loss is differentiated together with the output activation."""
    return net.loss_name in ("bce", "cross_entropy")


def _loss_definition(net, n_samples):
    symbol = _LOSS_SYMBOL.get(net.loss_name, "L")
    over = "sum_s " if n_samples > 1 else ""
    n_outputs = net.sizes[-1]
    return {
        "half_sse": f"{symbol} = 1/2 {over}sum_k (y_k - o_k)^2",
        "ssr": f"{symbol} = {over}sum_k (y_k - o_k)^2",
        "mse": (f"{symbol} = 1/(n K) sum_s sum_k (y_k - o_k)^2 with n = {n_samples} "
                f"sample(s), K = {n_outputs} output(s)"),
        "bce": f"{symbol} = -{over}sum_k y_k log o_k + (1 - y_k) log(1 - o_k), o = sigmoid(z_o)",
        "cross_entropy": f"{symbol} = -{over}sum_k y_k log o_k, o = softmax(z_o)",
    }[net.loss_name]


# ---------------------------------------------------------------------------
# Traces


@dataclass(frozen=True)
class Factor:
    """One factor of a chain-rule path: a partial derivative, its formula and value.

    Attributes
    ----------
    name : str
        The partial derivative, e.g. ``"dh1/dz_h1"``; the fused output factor
        says so, e.g. ``"dL/dz_o1 (fused sigmoid + bce)"``.
    formula : str
        What it equals in the network's own names, e.g. ``"h1 * (1 - h1)"``
        or ``"w5"``.
    value : float

    Examples
    --------
    >>> from nbprop.explain import Factor
    >>> Factor("dz_o1/dh1", "w5", 0.4)
    Factor(name='dz_o1/dh1', formula='w5', value=0.4)
    """

    name: str
    formula: str
    value: float


@dataclass(frozen=True)
class Path:
    """One path from a parameter to the loss and the product of its factors.

    Attributes
    ----------
    units : tuple of str
        The parameter, the units the path passes, and the loss symbol, e.g.
        ``("w1", "h1", "o1", "L")``.
    factors : tuple of Factor
        In the order backpropagation multiplies them, loss first:
        ``dL/do1, do1/dz_o1, dz_o1/dh1, dh1/dz_h1, dz_h1/dw1``.
    product : float
        Their product: this path's share of ``dL/dparameter``.

    Examples
    --------
    >>> import nbprop
    >>> from nbprop.explain import chain_rule
    >>> net = nbprop.MLP([2, 2, 2], activation="sigmoid", output_activation="sigmoid")
    >>> path = chain_rule(net, [0.05, 0.10], [0.01, 0.99], "w1").paths[0]
    >>> path.units
    ('w1', 'h1', 'o1', 'L')
    >>> [f.name for f in path.factors]
    ['dL/do1', 'do1/dz_o1', 'dz_o1/dh1', 'dh1/dz_h1', 'dz_h1/dw1']
    """

    units: tuple
    factors: tuple
    product: float

    def formula(self, skip_identity=True):
        """The product written with the factors' formulas, e.g. ``"(o1 - y1) * w5 * ..."``.

        Factors equal to 1 because a unit is linear (``identity``) are left
        out when ``skip_identity`` is true, as the textbooks do.

        Examples
        --------
        >>> import nbprop
        >>> from nbprop.explain import chain_rule
        >>> net = nbprop.MLP([1, 2, 1], activation="softplus", loss="ssr")
        >>> chain_rule(net, [0.5], [1.0], "w1").paths[0].formula()
        '-2 (y1 - o1) * w3 * sigmoid(z_h1) * i1'
        """
        return " * ".join(f.formula for f in self._shown(skip_identity))

    def _shown(self, skip_identity):
        """The factors to print: all, or all but the slopes of linear units."""
        return [f for f in self.factors if not (skip_identity and _is_linear_slope(f))]


def _is_linear_slope(factor):
    """True for ``du/dz_u = 1`` of an identity unit (and only that: ``dz_u/db`` is kept)."""
    return factor.formula == "1" and "/dz_" in factor.name


@dataclass(frozen=True)
class _Node:
    """A unit-level factor ``d top / d bottom`` and the sum over the paths continuing it."""

    top: str
    bottom: str
    value: float
    children: tuple = ()


def _fmt(value, digits=6):
    """A number as a factor of a product: negative numbers in parentheses."""
    text = f"{value:.{digits}g}"
    return f"({text})" if value < 0 else text


class _TextStyle:
    times, open, close, plus = " * ", "(", ")", " + "

    @staticmethod
    def partial(top, bottom):
        return f"d{top}/d{bottom}"

    @staticmethod
    def number(value):
        return _fmt(value)


class _LatexStyle:
    times, open, close, plus = r" \, ", r"\left(", r"\right)", " + "

    @staticmethod
    def partial(top, bottom):
        return rf"\frac{{\partial {_tex(top)}}}{{\partial {_tex(bottom)}}}"

    @staticmethod
    def number(value):
        text = f"{value:.6g}"
        if "e" in text:
            mantissa, exponent = text.split("e")
            text = rf"{mantissa} \times 10^{{{int(exponent)}}}"
        return rf"\left({text}\right)" if value < 0 else text


def _tex(name):
    """LaTeX for a unit, parameter or loss name.

    ``h1`` -> ``h_{1}``, ``h1_2`` -> ``h^{(1)}_{2}``, ``z_h1`` -> ``z_{h_{1}}``,
    ``W1[0, 1]`` -> ``W^{(1)}_{0,1}``, ``SSR`` -> ``\\mathrm{SSR}``.
    """
    patterns = [
        (r"z_(.+)", lambda m: f"z_{{{_tex(m[1])}}}"),
        (r"([ihoywb])(\d+)", lambda m: f"{m[1]}_{{{m[2]}}}"),
        (r"h(\d+)_(\d+)", lambda m: f"h^{{({m[1]})}}_{{{m[2]}}}"),
        (r"W(\d+)\[(\d+), (\d+)\]", lambda m: f"W^{{({m[1]})}}_{{{m[2]},{m[3]}}}"),
        (r"b(\d+)\[(\d+)\]", lambda m: f"b^{{({m[1]})}}_{{{m[2]}}}"),
        (r"[A-Z]{2,}", lambda m: rf"\mathrm{{{m[0]}}}"),
    ]
    for pattern, replace in patterns:
        match = re.fullmatch(pattern, name)
        if match:
            return replace(match)
    return name


def _render_symbols(node, style):
    """``node`` as a nested product of partial derivatives, the shared factor first."""
    head = style.partial(node.top, node.bottom)
    if not node.children:
        return head
    return head + style.times + _render_sum(node.children, style, _render_symbols)


def _render_numbers(node, style):
    head = style.number(node.value)
    if not node.children:
        return head
    return head + style.times + _render_sum(node.children, style, _render_numbers)


def _render_sum(children, style, render):
    terms = [render(child, style) for child in children]
    if len(terms) == 1:
        return terms[0]
    return style.open + style.plus.join(terms) + style.close


def _node_value(node):
    """The grouped evaluation of a node: its factor times the sum over its continuations."""
    if not node.children:
        return node.value
    return node.value * sum(_node_value(child) for child in node.children)


@dataclass(frozen=True, repr=False)
class Trace:
    """``dL/dparameter`` for one sample, written as a sum over paths.

    Returned by :func:`chain_rule` for a single sample.

    Attributes
    ----------
    parameter : str
        The parameter's name as asked for (canonical or textbook).
    canonical : str
        Its canonical name, e.g. ``"W0[0, 0]"``.
    index : int
        Its index in ``net.params``.
    loss : str
        The loss symbol, ``"L"`` or ``"SSR"``.
    n_paths : int
        Number of paths from the parameter to the loss: the product of the
        widths of the layers after the parameter's own unit.
    paths : tuple of Path
        Every path, or ``()`` when ``summarised``.
    summarised : bool
        True when ``n_paths`` exceeded ``max_paths``: the trace then gives
        the per-layer delta vectors instead of the paths.
    deltas : dict of int -> ndarray
        For every unit layer ``m`` from the parameter's own to the output,
        ``dL/dz`` of its units: each entry is the sum over all paths from
        that unit to the loss (backpropagation's delta).
    total : float
        ``dL/dparameter``: the sum of the path products (or delta times
        input when summarised).
    gradient : float or None
        ``net.gradient(x, y)[index]``, for comparison (``None`` inside a
        :class:`DatasetTrace`).
    x, y : tuple of float
        The sample and its target.

    Examples
    --------
    >>> import nbprop
    >>> from nbprop.explain import chain_rule
    >>> net = nbprop.MLP([2, 2, 2], activation="sigmoid", output_activation="sigmoid")
    >>> net.params = [.15, .20, .25, .30, .35, .35, .40, .45, .50, .55, .60, .60]
    >>> trace = chain_rule(net, [0.05, 0.10], [0.01, 0.99], "w1")
    >>> trace.n_paths, round(trace.total, 9)
    (2, 0.000438568)
    >>> trace
    Trace(dL/dw1 = 0.000438567734, 2 paths)
    """

    parameter: str
    canonical: str
    index: int
    loss: str
    n_paths: int
    paths: tuple
    summarised: bool
    deltas: dict
    total: float
    gradient: float | None
    x: tuple = ()
    y: tuple = ()
    _tree: _Node = field(default=None, compare=False)
    _header: tuple = field(default=(), compare=False)

    def __repr__(self):
        how = f"{self.n_paths} path{'s' if self.n_paths != 1 else ''}"
        if self.summarised:
            how += ", summarised per layer"
        return f"Trace(d{self.loss}/d{self.parameter} = {self.total:.9g}, {how})"

    @property
    def grouped(self):
        """The derivation with shared factors taken out, e.g. ``dL/dw1 = dh1/dw1 * (...)``.

        Examples
        --------
        >>> import nbprop
        >>> from nbprop.explain import chain_rule
        >>> net = nbprop.MLP([2, 2, 2], activation="sigmoid", output_activation="sigmoid")
        >>> chain_rule(net, [0.05, 0.10], [0.01, 0.99], "w1").grouped
        'dL/dw1 = dh1/dw1 * (do1/dh1 * dL/do1 + do2/dh1 * dL/do2)'
        """
        lhs = _TextStyle.partial(self.loss, self.parameter)
        return f"{lhs} = {_render_symbols(self._tree, _TextStyle)}"

    @property
    def grouped_numbers(self):
        """:attr:`grouped` with every factor's value filled in.

        Examples
        --------
        >>> import nbprop
        >>> from nbprop.explain import chain_rule
        >>> net = nbprop.MLP([1, 1], activation="identity", loss="ssr")
        >>> net.params = [2.0, 1.0]
        >>> chain_rule(net, [1.0], [2.0], "w1").grouped_numbers
        '1 * 2'
        """
        return _render_numbers(self._tree, _TextStyle)

    def to_text(self):
        """The derivation as a textbook writes it, with the numbers filled in.

        Examples
        --------
        >>> import nbprop
        >>> from nbprop.explain import chain_rule
        >>> net = nbprop.MLP([1, 1], activation="identity", loss="ssr")
        >>> net.params = [2.0, 1.0]
        >>> print(chain_rule(net, [1.0], [2.0], "w1").to_text())
        dSSR/dw1 for one sample (w1 = W0[0, 0], params[0])
          loss ssr: SSR = sum_k (y_k - o_k)^2
          units: i = inputs, z_u = pre-activation of unit u, u = f(z_u), o = outputs, y = targets
          linear (identity) units have du/dz_u = 1; those factors are left out below
          1 path from w1 to SSR
        <BLANKLINE>
        dSSR/dw1 = do1/dw1 * dSSR/do1
                 = 1 * 2
                 = 2
        <BLANKLINE>
        path 1: w1 -> o1 -> SSR
            dSSR/do1 * dz_o1/dw1
          = -2 (y1 - o1) * i1
          = 2 * 1
          = 2
        <BLANKLINE>
        total over 1 path:    dSSR/dw1 = 2
        net.gradient(x, y)[0]          = 2  (relative difference 0)
        """
        lhs = _TextStyle.partial(self.loss, self.parameter)
        pad = " " * len(lhs)
        lines = list(self._header)
        lines += ["", f"{self.grouped}", f"{pad} = {self.grouped_numbers}",
                  f"{pad} = {_node_value(self._tree):.9g}"]
        if self.summarised:
            lines += ["", *self._delta_lines()]
        for number, path in enumerate(self.paths, start=1):
            shown = path._shown(skip_identity=True)
            lines += ["", f"path {number}: {' -> '.join(path.units)}",
                      "    " + " * ".join(f.name for f in shown),
                      "  = " + " * ".join(f.formula for f in shown),
                      "  = " + " * ".join(_fmt(f.value) for f in shown),
                      f"  = {path.product:.9g}"]
        lines += ["", *self._total_lines(lhs)]
        return "\n".join(lines)

    def _total_lines(self, lhs):
        """The sum over paths, and ``net.gradient`` under it for comparison."""
        if self.summarised:
            how = "by the deltas"
        else:
            how = f"over {self.n_paths} path{'s' * (self.n_paths != 1)}"
        rows = [(f"total {how}:    {lhs}", f"{self.total:.12g}")]
        if self.gradient is not None:
            rows.append((f"net.gradient(x, y)[{self.index}]", f"{self.gradient:.12g}  "
                         f"(relative difference {_relative(self.total, self.gradient):.2g})"))
        width = max(len(label) for label, _ in rows)
        return [f"{label:<{width}} = {value}" for label, value in rows]

    def _delta_lines(self):
        lines = ["delta vectors dL/dz per layer (each entry sums every path from that unit):"]
        for m in sorted(self.deltas, reverse=True):
            values = self.deltas[m]
            shown = ", ".join(f"{v:.6g}" for v in values[:8]) + (", ..." if len(values) > 8 else "")
            lines.append(f"  layer {m} ({len(values)} units): [{shown}]")
        return lines

    def to_latex(self):
        """The grouped derivation as a LaTeX ``aligned`` block.

        Examples
        --------
        >>> import nbprop
        >>> from nbprop.explain import chain_rule
        >>> net = nbprop.MLP([1, 1], activation="identity", loss="ssr")
        >>> net.params = [2.0, 1.0]
        >>> print(chain_rule(net, [1.0], [2.0], "w1").to_latex())
        \\begin{aligned}
        \\frac{\\partial \\mathrm{SSR}}{\\partial w_{1}} &= \\frac{\\partial o_{1}}{\\partial w_{1}} \\, \\frac{\\partial \\mathrm{SSR}}{\\partial o_{1}} \\\\
        &= 1 \\, 2 \\\\
        &= 2
        \\end{aligned}
        """
        lhs = _LatexStyle.partial(self.loss, self.parameter)
        return "\n".join([
            r"\begin{aligned}",
            f"{lhs} &= {_render_symbols(self._tree, _LatexStyle)} \\\\",
            f"&= {_render_numbers(self._tree, _LatexStyle)} \\\\",
            f"&= {_LatexStyle.number(self.total)}",
            r"\end{aligned}",
        ])


@dataclass(frozen=True, repr=False)
class DatasetTrace:
    """``dL/dparameter`` over several samples: the sum of one :class:`Trace` per sample.

    Returned by :func:`chain_rule` when given more than one sample.

    Attributes
    ----------
    parameter, canonical, index, loss
        As in :class:`Trace`.
    samples : tuple of Trace
        One trace per sample (``mse``'s ``1/(n K)`` already inside each).
    total : float
        The sum of the samples' totals.
    gradient : float
        ``net.gradient(X, Y)[index]``, for comparison.

    Examples
    --------
    StatQuest's ``dSSR/db3`` at ``b3 = 0``: "-15.7".

    >>> import nbprop
    >>> from nbprop.explain import chain_rule
    >>> net = nbprop.MLP([1, 2, 1], activation="softplus", loss="ssr")
    >>> net.params = [3.34, -3.53, -1.43, 0.57, -1.22, -2.30, 0.0]
    >>> trace = chain_rule(net, [0.0, 0.5, 1.0], [0.0, 1.0, 0.0], "b3")
    >>> len(trace.samples), round(trace.total, 1)
    (3, -15.7)
    """

    parameter: str
    canonical: str
    index: int
    loss: str
    samples: tuple
    total: float
    gradient: float
    _header: tuple = field(default=(), compare=False)

    def __repr__(self):
        return (f"DatasetTrace(d{self.loss}/d{self.parameter} = {self.total:.9g}, "
                f"{len(self.samples)} samples)")

    @property
    def _single_path(self):
        """True when every sample has one path: then the path formula is the derivation."""
        return all(s.n_paths == 1 and not s.summarised for s in self.samples)

    @property
    def formula(self):
        """The per-sample term, summed over the samples ``s``.

        With one path per sample this is the path's product of formulas,
        loss first (``-2 (y1 - o1) * w3 * sigmoid(z_h1) * i1``); otherwise the
        grouped sum over paths.

        Examples
        --------
        >>> import nbprop
        >>> from nbprop.explain import chain_rule
        >>> net = nbprop.MLP([1, 2, 1], activation="softplus", loss="ssr")
        >>> chain_rule(net, [0.0, 0.5, 1.0], [0.0, 1.0, 0.0], "w1").formula
        'dSSR/dw1 = sum_s -2 (y1 - o1) * w3 * sigmoid(z_h1) * i1'
        """
        first = self.samples[0]
        lhs = _TextStyle.partial(self.loss, self.parameter)
        if self._single_path:
            return f"{lhs} = sum_s {first.paths[0].formula()}"
        return f"{lhs} = sum_s {_render_symbols(first._tree, _TextStyle)}"

    def _sample_numbers(self, trace):
        if self._single_path:
            return " * ".join(_fmt(f.value) for f in trace.paths[0]._shown(True))
        return trace.grouped_numbers

    def to_text(self):
        """The summed derivation with every sample's numbers filled in.

        Examples
        --------
        >>> import nbprop
        >>> from nbprop.explain import chain_rule
        >>> net = nbprop.MLP([1, 1], activation="identity", loss="ssr")
        >>> net.params = [2.0, 1.0]
        >>> print(chain_rule(net, [0.0, 1.0], [1.0, 2.0], "w1").to_text())
        dSSR/dw1 summed over 2 samples (w1 = W0[0, 0], params[0])
          loss ssr: SSR = sum_s sum_k (y_k - o_k)^2
          units: i = inputs, z_u = pre-activation of unit u, u = f(z_u), o = outputs, y = targets
          linear (identity) units have du/dz_u = 1; those factors are left out below
          1 path from w1 to SSR per sample
        <BLANKLINE>
        dSSR/dw1 = sum_s dSSR/do1 * dz_o1/dw1
                 = sum_s -2 (y1 - o1) * i1
          s=1: x = [0], y = [1]:  0 * 0 = 0
          s=2: x = [1], y = [2]:  2 * 1 = 2
                 = 2
        net.gradient(X, Y)[0] = 2  (relative difference 0)
        """
        lhs = _TextStyle.partial(self.loss, self.parameter)
        pad = " " * len(lhs)
        first = self.samples[0]
        if self._single_path:
            names = " * ".join(f.name for f in first.paths[0]._shown(True))
            lines = [*self._header, "", f"{lhs} = sum_s {names}",
                     f"{pad} = sum_s {first.paths[0].formula()}"]
        else:
            lines = [*self._header, "", self.formula]
        for s, trace in enumerate(self.samples[:_MAX_SAMPLE_LINES], start=1):
            x, y = _row_text(trace.x), _row_text(trace.y)
            numbers = self._sample_numbers(trace)
            lines.append(f"  s={s}: x = {x}, y = {y}:  {numbers} = {trace.total:.6g}")
        if len(self.samples) > _MAX_SAMPLE_LINES:
            lines.append(f"  ... ({len(self.samples) - _MAX_SAMPLE_LINES} more samples)")
        lines += [f"{pad} = {self.total:.12g}",
                  f"net.gradient(X, Y)[{self.index}] = {self.gradient:.12g}  "
                  f"(relative difference {_relative(self.total, self.gradient):.2g})"]
        return "\n".join(lines)

    def to_latex(self):
        """The summed derivation as a LaTeX ``aligned`` block.

        Examples
        --------
        >>> import nbprop
        >>> from nbprop.explain import chain_rule
        >>> net = nbprop.MLP([1, 1], activation="identity", loss="ssr")
        >>> net.params = [2.0, 1.0]
        >>> print(chain_rule(net, [0.0, 1.0], [1.0, 2.0], "w1").to_latex())
        \\begin{aligned}
        \\frac{\\partial \\mathrm{SSR}}{\\partial w_{1}} &= \\sum_s \\frac{\\partial o_{1}}{\\partial w_{1}} \\, \\frac{\\partial \\mathrm{SSR}}{\\partial o_{1}} \\\\
        &= 0 \\, 0 + 1 \\, 2 \\\\
        &= 2
        \\end{aligned}
        """
        lhs = _LatexStyle.partial(self.loss, self.parameter)
        shown = self.samples[:_MAX_SAMPLE_LINES]
        terms = " + ".join(_render_numbers(trace._tree, _LatexStyle) for trace in shown)
        if len(self.samples) > _MAX_SAMPLE_LINES:
            terms += r" + \dots"
        return "\n".join([
            r"\begin{aligned}",
            f"{lhs} &= \\sum_s {_render_symbols(self.samples[0]._tree, _LatexStyle)} \\\\",
            f"&= {terms} \\\\",
            f"&= {_LatexStyle.number(self.total)}",
            r"\end{aligned}",
        ])


def _relative(a, b):
    scale = max(abs(a), abs(b))
    return abs(a - b) / scale if scale > 0 else 0.0


class _Context:
    """What a trace needs to know about the network, computed once per call."""

    def __init__(self, net, slot, numbering, n_samples, max_paths):
        self.net = net
        self.sizes = list(net.sizes)
        self.last = len(self.sizes) - 1  # the output unit layer
        self.codes = [None] + [activations.OUTPUT_ACTIVATIONS[a] for a in net.activations]
        self.weights = [W.astype(np.float64) for W in net.weights]
        self.slot = slot
        self.numbering = numbering
        self.param = slot.name(numbering)
        self.loss = _LOSS_SYMBOL.get(net.loss_name, "L")
        self.fused = _is_fused(net)
        self.n_samples = n_samples
        # mse is a mean over samples and outputs; every other loss a sum
        self.scale = losses.batch_scale.py_func(losses.LOSSES[net.loss_name], n_samples, self.sizes[-1])
        self.max_paths = max_paths
        self.unit_layer = slot.layer + 1  # the layer of the unit the parameter feeds
        self.n_paths = math.prod(self.sizes[self.unit_layer + 1:])

    def unit(self, m, k):
        return _unit_name(self.sizes, m, k)

    def weight_name(self, layer, row, col):
        """``W_layer[row, col]`` in the trace's numbering (``w5`` or ``W1[0, 0]``)."""
        slot = _slot_by_name(tuple(self.sizes))[f"W{layer}[{row}, {col}]"]
        return slot.name(self.numbering)

    def header(self, what):
        slot = self.slot
        also = f"{self.param} = {slot.canonical}, " if self.param != slot.canonical else ""
        lines = [f"d{self.loss}/d{self.param} {what} ({also}params[{slot.index}])",
                 f"  loss {self.net.loss_name}: {_loss_definition(self.net, self.n_samples)}",
                 "  units: i = inputs, z_u = pre-activation of unit u, u = f(z_u), "
                 "o = outputs, y = targets"]
        if self.fused:
            output = self.net.output_activation
            rule = "o_k sum(y) - y_k" if output == "softmax" else "o_k - y_k"
            lines.append(f"  {output} + {self.net.loss_name} are differentiated together: "
                         f"the output factor is dL/dz_o_k = {rule} (fused)")
        if activations.IDENTITY in self.codes[self.unit_layer:]:
            lines.append("  linear (identity) units have du/dz_u = 1; those factors are left out below")
        per = " per sample" if self.n_samples > 1 else ""
        paths = f"{self.n_paths} path{'s' * (self.n_paths != 1)} from {self.param} to {self.loss}{per}"
        if self.n_paths > self.max_paths:
            paths += (f": more than max_paths={self.max_paths}, so they are summarised per layer "
                      f"by the delta vectors dL/dz = f'(z) * (W^T delta_next)")
        lines.append("  " + paths)
        return lines


def _loss_factor(ctx, forward, y, k):
    """The last factor of every path ending at output ``k``: dL/do_k, or dL/dz_o_k when fused."""
    o = forward.outputs[-1]
    unit = ctx.unit(ctx.last, k)
    loss, name = ctx.loss, ctx.net.loss_name
    if name == "bce":
        return Factor(f"d{loss}/dz_{unit} (fused sigmoid + bce)", f"({unit} - y{k + 1})", o[k] - y[k])
    if name == "cross_entropy":
        return Factor(f"d{loss}/dz_{unit} (fused softmax + cross_entropy)",
                      f"({unit} * sum(y) - y{k + 1})", o[k] * y.sum() - y[k])
    if name == "half_sse":
        return Factor(f"d{loss}/d{unit}", f"({unit} - y{k + 1})", o[k] - y[k])
    if name == "ssr":
        return Factor(f"d{loss}/d{unit}", f"-2 (y{k + 1} - {unit})", 2.0 * (o[k] - y[k]))
    n_k = ctx.n_samples * ctx.sizes[-1]  # mse: 2/(n K) (o - y)
    return Factor(f"d{loss}/d{unit}", f"2/{n_k} ({unit} - y{k + 1})", ctx.scale * 2.0 * (o[k] - y[k]))


def _slope_factor(ctx, forward, m, k):
    """``du/dz_u = f'(z_u)`` for unit ``k`` of layer ``m``."""
    unit = ctx.unit(m, k)
    formula = _SLOPE_FORMULA[ctx.codes[m]].format(u=unit, z=f"z_{unit}")
    return Factor(f"d{unit}/dz_{unit}", formula, float(forward.slopes[m][k]))


def _has_slope(ctx, m):
    """Whether a path through layer ``m`` has a separate ``du/dz_u`` factor (not the fused output)."""
    return not (m == ctx.last and ctx.fused)


def _deltas(ctx, forward, loss_factors):
    """``dL/dz`` of every unit layer from the parameter's own to the output."""
    last = ctx.last
    output = np.array([f.value for f in loss_factors])
    deltas = {last: output if ctx.fused else output * forward.slopes[last]}
    for m in range(last - 1, ctx.unit_layer - 1, -1):
        deltas[m] = forward.slopes[m] * (ctx.weights[m].T @ deltas[m + 1])
    return deltas


def _source(ctx, forward):
    """``dz_u/dparameter``: the input the weight multiplies, or 1 for a bias."""
    slot = ctx.slot
    if slot.kind == "b":
        return "1", 1.0
    return ctx.unit(slot.layer, slot.col), float(forward.outputs[slot.layer][slot.col])


def _unit_sequences(ctx):
    """Every path as the unit index it takes in each layer, parameter's unit first."""
    sequences = [[ctx.slot.row]]
    for m in range(ctx.unit_layer + 1, ctx.last + 1):
        sequences = [seq + [k] for seq in sequences for k in range(ctx.sizes[m])]
    return sequences


def _path(ctx, forward, loss_factors, sequence):
    """The factors along one path, multiplied loss first as backpropagation does."""
    source_formula, source_value = _source(ctx, forward)
    first = ctx.unit(ctx.unit_layer, sequence[0])
    factors = [Factor(f"dz_{first}/d{ctx.param}", source_formula, source_value)]
    units = [ctx.param]
    for step, k in enumerate(sequence):
        m = ctx.unit_layer + step
        unit = ctx.unit(m, k)
        units.append(unit)
        if _has_slope(ctx, m):
            factors.append(_slope_factor(ctx, forward, m, k))
        if m < ctx.last:
            k_next = sequence[step + 1]
            factors.append(Factor(f"dz_{ctx.unit(m + 1, k_next)}/d{unit}",
                                  ctx.weight_name(m, k_next, k), float(ctx.weights[m][k_next, k])))
    factors.append(loss_factors[sequence[-1]])
    factors.reverse()
    product = 1.0
    for factor in factors:
        product *= factor.value
    return Path(tuple(units + [ctx.loss]), tuple(factors), product)


def _tree(ctx, forward, loss_factors, m, k, bottom, edge_value):
    """The unit-level node ``d u / d bottom`` (u = unit k of layer m) and all its continuations.

    A unit-level factor merges the weight (or input) with the unit's own
    slope, as the textbooks write ``do1/dh1 = w5 * o1 (1 - o1)``; at a fused
    output it stops at ``z_o``.
    """
    unit = ctx.unit(m, k)
    if _has_slope(ctx, m):
        top, value = unit, edge_value * forward.slopes[m][k]
    else:
        top, value = f"z_{unit}", edge_value
    if m == ctx.last:
        children = (_Node(ctx.loss, top, loss_factors[k].value),)
    else:
        children = tuple(_tree(ctx, forward, loss_factors, m + 1, k2, unit, ctx.weights[m][k2, k])
                         for k2 in range(ctx.sizes[m + 1]))
    return _Node(top, bottom, float(value), children)


def _summary_tree(ctx, deltas, source_value):
    """``dL/dparameter = dz_u/dparameter * dL/dz_u`` with ``dL/dz_u`` the unit's delta."""
    pre = f"z_{ctx.unit(ctx.unit_layer, ctx.slot.row)}"
    delta = float(deltas[ctx.unit_layer][ctx.slot.row])
    return _Node(pre, ctx.param, source_value, (_Node(ctx.loss, pre, delta),))


def _sample_trace(ctx, x, y, gradient, header):
    forward = _forward(ctx.net, x)
    loss_factors = [_loss_factor(ctx, forward, y, k) for k in range(ctx.sizes[-1])]
    deltas = _deltas(ctx, forward, loss_factors)
    _, source_value = _source(ctx, forward)
    if ctx.n_paths > ctx.max_paths:
        paths = ()
        tree = _summary_tree(ctx, deltas, source_value)
        total = source_value * float(deltas[ctx.unit_layer][ctx.slot.row])
    else:
        paths = tuple(_path(ctx, forward, loss_factors, seq) for seq in _unit_sequences(ctx))
        tree = _tree(ctx, forward, loss_factors, ctx.unit_layer, ctx.slot.row, ctx.param, source_value)
        total = math.fsum(p.product for p in paths)
    return Trace(ctx.param, ctx.slot.canonical, ctx.slot.index, ctx.loss, ctx.n_paths, paths,
                 ctx.n_paths > ctx.max_paths, deltas, total, gradient,
                 tuple(map(float, x)), tuple(map(float, y)), tree, tuple(header))


def _as_samples(net, X, Y):
    """``X`` and ``Y`` validated as the model does, as float64 rows."""
    X = np.atleast_1d(X) if np.ndim(X) == 0 else X  # a bare number is one sample of a 1-input net
    Y = np.atleast_1d(Y) if np.ndim(Y) == 0 else Y
    X = as_inputs(X, net.sizes[0], net.dtype)
    Y = as_targets(Y, X.shape[0], net.sizes[-1], net.dtype, losses.LOSSES[net.loss_name])
    return X.astype(np.float64), Y.astype(np.float64)


def _row_text(row):
    return "[" + ", ".join(f"{v:.6g}" for v in row) + "]"


def chain_rule(net, X, Y, name, numbering=None, max_paths=64):
    """Write ``dL/dname`` out by the chain rule, path by path, with the numbers.

    For one sample, ``dL/dparameter`` is the sum over every path from the
    parameter to the loss of the product of the partial derivatives along
    it: ``dL/dw1 = dh1/dw1 * (do1/dh1 * dL/do1 + do2/dh1 * dL/do2)`` for
    the first weight of a 2-2-2 network.  Over several samples it is the sum
    of the per-sample values.  Forward values come from a plain NumPy pass
    in float64 and slopes from :func:`nbprop.activations.activate`, so the
    trace is independent of the compiled kernels; its ``total`` equals
    ``net.gradient(X, Y)[param_index(net, name)]`` to rounding.

    Parameters
    ----------
    net : nbprop.MLP
        The network.
    X : array_like
        One sample (a 1-D row, or a number for a 1-input network), or
        several as rows; read as :meth:`nbprop.MLP.predict` reads it.
    Y : array_like
        The matching targets (class labels are accepted with
        ``cross_entropy``).
    name : str
        The parameter: ``"W0[0, 1]"``, ``"b1[0]"`` or a textbook name such as
        ``"w5"`` (see :func:`param_index`).  The trace uses the same
        numbering for the weights on the paths.
    numbering : {None, "canonical", "textbook"}, default None
        ``None`` recognises the numbering from the spelling of ``name``.
    max_paths : int, default 64
        Above this many paths per sample the trace is summarised per layer
        (delta vectors) instead of listing every path.

    Returns
    -------
    Trace or DatasetTrace
        A :class:`Trace` for one sample; a :class:`DatasetTrace` (one
        :class:`Trace` per sample, summed) for several.  Both have
        ``.total``, ``.gradient``, ``.to_text()`` and ``.to_latex()``.

    Examples
    --------
    Mazur's 2-2-2 example (inputs 0.05, 0.10, targets 0.01, 0.99):

    >>> import nbprop
    >>> from nbprop.explain import chain_rule
    >>> net = nbprop.MLP([2, 2, 2], activation="sigmoid", output_activation="sigmoid")
    >>> net.params = [.15, .20, .25, .30, .35, .35, .40, .45, .50, .55, .60, .60]
    >>> trace = chain_rule(net, [0.05, 0.10], [0.01, 0.99], "w1")
    >>> print(trace.grouped)
    dL/dw1 = dh1/dw1 * (do1/dh1 * dL/do1 + do2/dh1 * dL/do2)
    >>> print(trace.grouped_numbers)
    0.012065 * (0.0747262 * 0.741365 + 0.087755 * (-0.217072))
    >>> round(trace.total, 9), round(trace.gradient, 9)
    (0.000438568, 0.000438568)
    >>> for path in trace.paths:
    ...     print(" * ".join(f.name for f in path.factors), "=", f"{path.product:.6g}")
    dL/do1 * do1/dz_o1 * dz_o1/dh1 * dh1/dz_h1 * dz_h1/dw1 = 0.000668396
    dL/do2 * do2/dz_o2 * dz_o2/dh1 * dh1/dz_h1 * dz_h1/dw1 = -0.000229828
    """
    slot, style = _find_slot(net, name, numbering)
    if isinstance(max_paths, bool) or not isinstance(max_paths, (int, np.integer)) or max_paths < 1:
        raise ValueError(f"max_paths: expected a whole number >= 1, got {max_paths!r}")
    X, Y = _as_samples(net, X, Y)
    n = X.shape[0]
    ctx = _Context(net, slot, style, n, int(max_paths))
    gradient = float(net.gradient(X, Y)[slot.index])
    if n == 1:
        return _sample_trace(ctx, X[0], Y[0], gradient, ctx.header("for one sample"))
    samples = tuple(_sample_trace(ctx, x, y, None, ctx.header(f"for sample s={s} of {n}"))
                    for s, (x, y) in enumerate(zip(X, Y), start=1))
    total = math.fsum(trace.total for trace in samples)
    return DatasetTrace(ctx.param, slot.canonical, slot.index, ctx.loss, samples, total, gradient,
                        tuple(ctx.header(f"summed over {n} samples")))


# ---------------------------------------------------------------------------
# Gradient checks


class ParamError(NamedTuple):
    """One parameter's analytic and numeric derivatives and their relative error.

    Examples
    --------
    >>> from nbprop.explain import ParamError
    >>> ParamError("W0[0, 0]", 0, 0.5, 0.5000001, 2e-7).error
    2e-07
    """

    name: str
    index: int
    analytic: float
    numeric: float
    error: float


# Default pass marks for GradCheck.ok.  With the default step, a correct
# gradient typically checks to ~1e-9 in float64 and ~3e-4 in float32; a
# derivative near the floor can reach ~eps**(1/3) (6e-6 in float64, 5e-3 in
# float32) from rounding in the loss alone.  A wrong formula errs by far more.
_DEFAULT_TOL = {"float64": 1e-5, "float32": 2e-2}


@dataclass(frozen=True, repr=False)
class GradCheck:
    """The result of :func:`gradcheck`: analytic against finite-difference derivatives.

    Attributes
    ----------
    names : tuple of str
        Every parameter's name, in flat order.
    analytic, numeric : ndarray
        ``net.gradient(X, Y)`` and the central differences of ``net.loss``.
    errors : ndarray
        Per parameter ``|analytic - numeric| / max(|analytic|, |numeric|, floor)``,
        where ``floor`` (see :func:`gradcheck`) keeps derivatives that are
        zero up to rounding from dividing by nearly nothing.
    steps : ndarray
        The finite-difference step used for each parameter.
    tol : float
        The pass mark for :attr:`ok`.
    near_kinks : int
        (sample, unit) pairs of relu / leaky_relu units whose pre-activation
        lies within reach of the kink at 0, where finite differences are
        unreliable.

    Examples
    --------
    >>> import nbprop
    >>> from nbprop.explain import gradcheck
    >>> net = nbprop.MLP([2, 3, 1], activation="tanh", seed=0)
    >>> result = gradcheck(net, [[0.1, 0.2], [0.3, -0.4]], [0.5, -0.5])
    >>> result.ok, result.max_error < 1e-7
    (True, True)
    """

    names: tuple
    layers: tuple
    analytic: np.ndarray
    numeric: np.ndarray
    errors: np.ndarray
    steps: np.ndarray
    tol: float
    near_kinks: int = 0

    @property
    def max_error(self):
        """The largest relative error over all parameters.

        Examples
        --------
        >>> import nbprop
        >>> from nbprop.explain import gradcheck
        >>> net = nbprop.MLP([1, 1], activation="identity", loss="ssr")
        >>> gradcheck(net, [1.0], [2.0]).max_error < 1e-9
        True
        """
        return float(self.errors.max())

    @property
    def ok(self):
        """True when :attr:`max_error` is at most :attr:`tol`.

        Examples
        --------
        >>> import nbprop
        >>> from nbprop.explain import gradcheck
        >>> net = nbprop.MLP([1, 1], activation="identity", loss="ssr")
        >>> gradcheck(net, [1.0], [2.0]).ok
        True
        """
        return self.max_error <= self.tol

    @property
    def per_layer(self):
        """The largest relative error of each layer's weights and biases, ``{layer: error}``.

        Examples
        --------
        >>> import nbprop
        >>> from nbprop.explain import gradcheck
        >>> net = nbprop.MLP([2, 3, 1], seed=0)
        >>> sorted(gradcheck(net, [0.1, 0.2], [0.5]).per_layer)
        [0, 1]
        """
        layers = np.asarray(self.layers)
        return {int(layer): float(self.errors[layers == layer].max()) for layer in np.unique(layers)}

    @property
    def per_param(self):
        """Every parameter's relative error, ``{name: error}`` in flat order.

        Examples
        --------
        >>> import nbprop
        >>> from nbprop.explain import gradcheck
        >>> net = nbprop.MLP([1, 1], activation="identity", loss="ssr")
        >>> list(gradcheck(net, [1.0], [2.0]).per_param)
        ['W0[0, 0]', 'b0[0]']
        """
        return dict(zip(self.names, map(float, self.errors)))

    @property
    def worst(self):
        """The five parameters with the largest errors, worst first, as :class:`ParamError`.

        Examples
        --------
        >>> import nbprop
        >>> from nbprop.explain import gradcheck
        >>> net = nbprop.MLP([2, 3, 1], seed=0)
        >>> len(gradcheck(net, [0.1, 0.2], [0.5]).worst)
        5
        """
        order = np.argsort(-self.errors, kind="stable")[:5]
        return [ParamError(self.names[k], int(k), float(self.analytic[k]), float(self.numeric[k]),
                           float(self.errors[k])) for k in order]

    def __repr__(self):
        return (f"GradCheck(max_error={self.max_error:.2g}, ok={self.ok}, tol={self.tol:g}, "
                f"worst={self.worst[0].name!r})")

    def to_text(self):
        """A readable report: verdict, worst error per layer, the worst parameters.

        Examples
        --------
        >>> import nbprop
        >>> from nbprop.explain import gradcheck
        >>> net = nbprop.MLP([1, 1], activation="identity", loss="ssr")
        >>> print(gradcheck(net, [1.0], [2.0]).to_text().splitlines()[0])  # doctest: +ELLIPSIS
        gradient check: OK, max relative error ... <= tol 1e-05 over 2 parameters
        """
        verdict = "OK" if self.ok else "FAILED"
        relation = "<=" if self.ok else ">"
        lines = [f"gradient check: {verdict}, max relative error {self.max_error:.2g} "
                 f"{relation} tol {self.tol:g} over {len(self.names)} parameters",
                 "worst relative error per layer:"]
        lines += [f"  layer {layer}: {error:.2g}" for layer, error in self.per_layer.items()]
        worst = self.worst
        width = max(len("parameter"), *(len(p.name) for p in worst))
        lines += ["worst parameters:",
                  f"  {'parameter':<{width}}  {'analytic':>16}  {'numeric':>16}  error"]
        lines += [f"  {p.name:<{width}}  {p.analytic:>16.9g}  {p.numeric:>16.9g}  {p.error:.2g}"
                  for p in worst]
        if self.near_kinks:
            lines.append(f"note: {self.near_kinks} relu/leaky_relu pre-activation(s) lie within a "
                         f"step of the kink at 0, where finite differences are unreliable")
        return "\n".join(lines)


def default_step(dtype):
    """The relative finite-difference step for ``dtype``: the cube root of its machine epsilon.

    Central differences err by ``~h^2`` (truncation) plus ``~eps / h``
    (rounding of the loss); ``h = eps**(1/3)`` balances the two.

    Examples
    --------
    >>> from nbprop.explain import default_step
    >>> f"{default_step('float64'):.2g}", f"{default_step('float32'):.2g}"
    ('6.1e-06', '0.0049')
    """
    return float(np.cbrt(np.finfo(np.dtype(dtype)).eps))


def gradcheck(net, X, Y, eps=None, tol=None, numbering="canonical"):
    """Compare ``net.gradient(X, Y)`` with central finite differences of ``net.loss``.

    For every parameter ``p`` (step ``h = eps * max(1, |p|)``) the numeric
    derivative is ``(loss(p + h) - loss(p - h)) / (2 h)``, with ``2 h`` the
    difference actually represented in the model's dtype.  The parameters
    are restored bit for bit afterwards, also when an error interrupts.

    Parameters
    ----------
    net : nbprop.MLP
        The network; its parameters are changed during the check and restored.
    X, Y : array_like
        Samples and targets, as :meth:`nbprop.MLP.loss` takes them.
    eps : float, optional
        Relative step; by default :func:`default_step` of the model's dtype
        (6e-6 for float64, 5e-3 for float32).
    tol : float, optional
        Pass mark for :attr:`GradCheck.ok`; by default 1e-5 for float64 and
        2e-2 for float32.
    numbering : {"canonical", "textbook"}, default "canonical"
        How the report names parameters.

    Returns
    -------
    GradCheck

    Notes
    -----
    The relative error of parameter ``k`` is
    ``|a_k - n_k| / max(|a_k|, |n_k|, floor)`` with
    ``floor = eps * max(1, |loss|, max_k |a_k|)``: a derivative much smaller
    than the check's own resolution is compared in absolute terms.

    Examples
    --------
    >>> import nbprop
    >>> from nbprop.explain import gradcheck
    >>> net = nbprop.MLP([2, 2, 2], activation="sigmoid", output_activation="sigmoid")
    >>> net.params = [.15, .20, .25, .30, .35, .35, .40, .45, .50, .55, .60, .60]
    >>> result = gradcheck(net, [0.05, 0.10], [0.01, 0.99], numbering="textbook")
    >>> result.ok
    True
    >>> result.worst[0].name in result.per_param
    True
    """
    _check_numbering(numbering, allow_auto=False)
    dtype = net.dtype
    eps = default_step(dtype) if eps is None else _positive(eps, "eps")
    tol = _DEFAULT_TOL[dtype.name] if tol is None else _positive(tol, "tol")
    analytic = np.asarray(net.gradient(X, Y), dtype=np.float64)
    numeric, steps = _central_differences(net, X, Y, eps)
    loss = net.loss(X, Y)
    floor = eps * max(1.0, abs(loss), float(np.abs(analytic).max()))
    denominator = np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), floor)
    errors = np.abs(analytic - numeric) / denominator
    slots = _slots(tuple(net.sizes))
    return GradCheck(tuple(s.name(numbering) for s in slots), tuple(s.layer for s in slots),
                     analytic, numeric, errors, steps, float(tol),
                     _count_near_kinks(net, X, Y, float(steps.max())))


def _positive(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
            or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name}: expected a finite number > 0, got {value!r}")
    return float(value)


def _central_differences(net, X, Y, eps):
    """``d loss / d params`` by central differences; ``net.params`` restored exactly."""
    params = net.params  # the live array: writing into it changes the model
    original = params.copy()
    numeric = np.empty(params.size, dtype=np.float64)
    steps = np.empty(params.size, dtype=np.float64)
    try:
        for k in range(params.size):
            p = original[k]
            h = eps * max(1.0, abs(float(p)))
            params[k] = p + h
            up_step = float(params[k]) - float(p)  # the step the dtype can represent
            loss_up = net.loss(X, Y)
            params[k] = p - h
            down_step = float(p) - float(params[k])
            loss_down = net.loss(X, Y)
            params[k] = p
            numeric[k] = (loss_up - loss_down) / (up_step + down_step)
            steps[k] = h
    finally:
        params[...] = original
    return numeric, steps


def _count_near_kinks(net, X, Y, step):
    """relu / leaky_relu pre-activations within ``10 * step`` of the kink at 0.

    A step ``h`` in a weight moves its unit's pre-activation by ``h`` times
    the input; ten steps is a rough reach that covers inputs of a few units.
    """
    codes = [activations.OUTPUT_ACTIVATIONS[a] for a in net.activations]
    if not any(code in _KINKED for code in codes):
        return 0
    X, _ = _as_samples(net, X, Y)
    count = 0
    for x in X:
        forward = _forward(net, x)
        for m, code in enumerate(codes, start=1):
            if code in _KINKED:
                count += int(np.sum(np.abs(forward.pre[m]) <= 10 * step))
    return count
