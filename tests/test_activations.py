import warnings

import numba
import numpy as np
import pytest

import naive
from conftest import activate_layer
from nbprop import activations
from nbprop.activations import activate

ELEMENTWISE = list(activations.HIDDEN_ACTIVATIONS)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_value_and_derivative_match_reference(name):
    code = activations.HIDDEN_ACTIVATIONS[name]
    z = np.linspace(-6, 6, 241) + 1e-3  # avoid the kink of relu at exactly 0
    values = np.array([activate(code, v) for v in z])
    np.testing.assert_allclose(values[:, 0], naive.act(name, z), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(values[:, 1], np.diag(naive.act_jacobian(name, z)), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_derivative_matches_central_difference(name):
    code = activations.HIDDEN_ACTIVATIONS[name]
    h = 1e-6
    for z in np.linspace(-4, 4, 33) + 1e-2:
        numeric = (activate(code, z + h)[0] - activate(code, z - h)[0]) / (2 * h)
        # central-difference error ~ h^2 f''' + eps/h ~ 1e-10
        assert abs(activate(code, z)[1] - numeric) < 1e-8


@pytest.mark.parametrize("name", ELEMENTWISE)
@pytest.mark.parametrize("z", [-1e308, -800.0, -50.0, 50.0, 800.0, 1e308])
def test_extreme_inputs_stay_finite_without_warnings(name, z):
    code = activations.HIDDEN_ACTIVATIONS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, slope = activate(code, z)
    assert np.isfinite(value) and np.isfinite(slope)


def test_stable_forms_are_exact_in_the_tails():
    assert activate(activations.SOFTPLUS, 800.0) == (800.0, 1.0)
    assert activate(activations.SIGMOID, -800.0)[0] == 0.0
    assert activate(activations.SIGMOID, 800.0)[0] == 1.0
    assert activate(activations.SOFTPLUS, -40.0)[0] == pytest.approx(np.exp(-40.0), rel=1e-15)
    assert activate(activations.ELU, -800.0) == (-1.0, 0.0)


def ulps(got, ref):
    spacing = np.spacing(np.abs(ref))
    return np.abs(np.asarray(got) - ref) / np.where(spacing == 0, np.spacing(0.0), spacing)


@pytest.mark.parametrize("name,bound", [("exp", 1.02), ("expm1", 2), ("tanh", 4), ("sigmoid", 3), ("softplus", 2.5)])
def test_vectorisable_functions_are_within_a_few_ulps(name, bound):
    # The kernels' own exp and log1p (so activation loops vectorise, and short
    # enough in latency for per-sample SGD) against a long-double reference (64-bit
    # mantissa: its own error is ~1/2000 ulp of a float64), over the whole
    # range and near 0; the bounds are the measured worst cases, rounded up.
    rng = np.random.default_rng(1)
    xs = np.concatenate([rng.uniform(-745, 709, 20000), rng.uniform(-2, 2, 20000),
                         rng.uniform(-1e-6, 1e-6, 2000), [0.0, -0.0, 1e-300, -1e-300],
                         np.linspace(709.77, activations.EXP_OVERFLOW, 200)])  # the top of the range
    if name == "tanh":
        xs = xs[np.abs(xs) < 40]
    wide = xs.astype(np.longdouble)
    reference = {"exp": np.exp, "expm1": np.expm1, "tanh": np.tanh,
                 "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
                 "softplus": lambda x: np.logaddexp(np.longdouble(0), x)}[name](wide)
    function = getattr(activations, name)
    got = np.array([function(x) for x in xs])
    rounded = reference.astype(np.float64)
    normal = np.abs(rounded) >= np.finfo(np.float64).tiny
    error = np.abs(got.astype(np.longdouble) - reference)
    assert (error[normal] / np.spacing(np.abs(rounded[normal]))).max() <= bound
    # Below the normal range: exp keeps subnormals to 1 ulp; sigmoid may flush
    # them to 0 (its exp(-z) overflows), an absolute error under tiny / 4.
    tail_bound = 5e-324 if name == "exp" else np.finfo(np.float64).tiny / 4
    assert error[~normal].max(initial=0.0) <= tail_bound


def test_exp_tables_are_correctly_rounded():
    from fractions import Fraction
    import decimal
    context = decimal.Context(prec=60)
    ln2 = context.ln(decimal.Decimal(2))
    n = activations.EXP_TABLE_SIZE
    for j in range(-n, n + 1):
        exact = Fraction(context.exp(ln2 * j / n))
        pairs = [(activations.EXPM1_TABLE_BITS[j + n], exact - 1)]
        if j >= 0 and j < n:
            pairs.append((activations.EXP_TABLE_BITS[j], exact))
        for bits, value in pairs:
            stored = float(np.int64(bits).view(np.float64))
            assert abs(Fraction(stored) - value) <= Fraction(np.spacing(abs(stored))) / 2


@pytest.mark.parametrize("name", ["exp", "expm1", "tanh", "sigmoid", "softplus"])
def test_nan_and_infinities_behave_as_in_libm(name):
    function = getattr(activations, name)
    assert np.isnan(function(float("nan")))
    expected = {"exp": (np.inf, 0.0), "expm1": (np.inf, -1.0), "tanh": (1.0, -1.0),
                "sigmoid": (1.0, 0.0), "softplus": (np.inf, 0.0)}[name]
    assert (function(np.inf), function(-np.inf)) == expected


def test_exp_handles_subnormal_results():
    import math
    for x in (-708.5, -720.0, -740.0, -744.5):
        assert activations.exp(x) == pytest.approx(math.exp(x), rel=1e-12, abs=5e-324)


def test_accuracy_does_not_depend_on_which_caller_compiled_first(tmp_path):
    # Numba compiles a function with the fastmath flags of the kernel that
    # first calls it, and caches it so; the activations opt out explicitly.
    # This is CI's order: the kernels compile first, in a fresh cache.
    import os
    import subprocess
    import sys
    script = (
        "import math, numpy as np, nbprop\n"
        "from nbprop import activations as act\n"
        "nbprop.MLP([1, 2, 1], activation='tanh', seed=0).fit(np.zeros((4, 1)), np.zeros(4))\n"
        "for x in (636.5, 709.7, -708.5, 1.0, 300.0):\n"
        "    err = abs(act.exp(x) - math.exp(x)) / np.spacing(math.exp(x))\n"
        "    assert err <= 1, (x, err)\n"
        "assert abs(act.tanh(0.3) - math.tanh(0.3)) <= 4 * np.spacing(math.tanh(0.3))\n"
    )
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "softplus", "elu"])
def test_slopes_stay_accurate_where_units_saturate(name):
    # The slopes come from the exponential, not from 1 - tanh^2 or s (1 - s),
    # which cancel where a unit saturates (1e3 times the error at |z| = 4).
    # Reference in long double; bounds are the measured worst cases, rounded up.
    code = activations.HIDDEN_ACTIVATIONS[name]
    z = np.concatenate([np.linspace(-30, 30, 6001), np.random.default_rng(0).uniform(-340, 340, 2000)])
    wide = z.astype(np.longdouble)
    e = np.exp(-np.abs(wide))
    reference = {"sigmoid": np.exp(-wide) / (1 + np.exp(-wide)) ** 2,
                 "tanh": 4 * e * e / (1 + e * e) ** 2,
                 "softplus": 1 / (1 + np.exp(-wide)),
                 "elu": np.where(wide > 0, 1, np.exp(wide))}[name]
    got = np.array([activate(code, v)[1] for v in z]).astype(np.longdouble)
    bound = {"sigmoid": 4, "tanh": 6, "softplus": 3, "elu": 1}[name]
    assert (np.abs(got - reference) / np.spacing(np.abs(reference.astype(np.float64)))).max() <= bound


def test_tabulated_tanh_is_within_a_few_ulps_of_tanh_and_its_slope():
    # tanh_and_slope_tabulated (the tiny loop's tanh) against long double:
    # the table's range, its ends, the interval edges at odd multiples of
    # 1/64, near 0 (relative accuracy), and past the table, where it is
    # tanh_and_slope.  Bounds: the measured worst cases, rounded up.
    from nbprop.activations import TANH_TABLE_END, tanh_and_slope_tabulated
    rng = np.random.default_rng(3)
    edges = np.arange(-8, 8, 1 / 64)
    z = np.concatenate([rng.uniform(-9, 9, 40000), rng.uniform(-1 / 64, 1 / 64, 5000),
                        10.0 ** rng.uniform(-300, -2, 2000), edges, np.nextafter(edges, 9), np.nextafter(edges, -9),
                        rng.uniform(-40, 40, 5000), [0.0, 5e-324, -5e-324, TANH_TABLE_END, -TANH_TABLE_END]])
    got = np.array([tanh_and_slope_tabulated(v) for v in z])
    wide = z.astype(np.longdouble)
    e = np.exp(-2 * np.abs(wide))
    references = (np.tanh(wide), 4 * e / (1 + e) ** 2)
    in_table = np.abs(z) < TANH_TABLE_END
    for column, reference, table_bound, outside_bound in ((0, references[0], 1.3, 2.6), (1, references[1], 1.5, 6)):
        ulps_off = np.abs(got[:, column] - reference) / np.spacing(np.abs(reference.astype(np.float64)))
        assert ulps_off[in_table].max() <= table_bound
        assert ulps_off[~in_table].max() <= outside_bound
    assert np.all(np.signbit(got[:, 0]) == np.signbit(z))


def test_tanh_table_polynomials_match_tanh_in_long_double():
    # The table's polynomials themselves, evaluated in long double, so that
    # only the table is tested: the economised series is within 1e-19 of
    # tanh and sech^2, and rounding its coefficients to float64 costs up to
    # half an ulp in the constant term and a little in the others (measured
    # worst: 0.77 and 0.88 ulp).  A wrong recurrence or change of basis is
    # off by far more.
    from nbprop.activations import TANH_TABLE, TANH_TABLE_STEP
    wide = np.longdouble
    t = np.linspace(-TANH_TABLE_STEP / 2, TANH_TABLE_STEP / 2, 65).astype(wide)
    powers = t[:, None] ** np.arange(TANH_TABLE.shape[1] // 2)
    for i, row in enumerate(TANH_TABLE.astype(wide)):
        x = wide(i) * wide(TANH_TABLE_STEP) + t
        for column, reference in ((0, np.tanh(x)), (1, 1 / np.cosh(x) ** 2)):
            polynomial = powers @ row[column::2]
            assert (np.abs(polynomial - reference) / np.spacing(np.abs(reference.astype(np.float64)))).max() <= 0.9


@pytest.mark.parametrize("z", [np.nan, np.inf, -np.inf, 1e308, -1e308, 0.0, -0.0])
def test_tabulated_tanh_at_the_ends_behaves_as_tanh_and_slope(z):
    from nbprop.activations import tanh_and_slope, tanh_and_slope_tabulated
    got, expected = tanh_and_slope_tabulated(z), tanh_and_slope(z)
    np.testing.assert_array_equal(got, expected)
    assert np.signbit(got[0]) == np.signbit(expected[0])


# ------------------------------------------------------------------ float32

FLOAT32_CODES = {"tanh": activations.TANH, "sigmoid": activations.SIGMOID}


def float32_inputs():
    """float32 inputs over the whole range: random bit patterns (every binade), dense near 0 and in the bend."""
    rng = np.random.default_rng(3)
    bits = rng.integers(0, 2**32, size=400000, dtype=np.uint64).astype(np.uint32)
    z = np.concatenate([bits.view(np.float32),
                        rng.uniform(-20, 20, 400000).astype(np.float32),
                        rng.uniform(-1e-3, 1e-3, 20000).astype(np.float32),
                        np.float32([0.0, -0.0, 1e-45, -1e-45, 1e-38, -1e-38, 3.4e38, -3.4e38])])
    return z[np.isfinite(z)]


def float32_layer(name, z):
    """``activate_layer``'s values and slopes over float32 ``z``."""
    a, d = np.empty_like(z), np.empty_like(z)
    activate_layer(FLOAT32_CODES[name], z, a, d, np.uint64(0), np.uint64(len(z)))
    return a, d


def float32_reference(name, z):
    """Values and slopes in float64 (its rounding is 1/64 of a float32 ulp's 1e-7) from ``e = e^-|z|``."""
    wide = z.astype(np.float64)
    if name == "tanh":
        e = np.exp(-2 * np.abs(wide))
        return np.tanh(wide), 4 * e / (1 + e) ** 2
    e = np.exp(-np.abs(wide))
    return np.where(wide >= 0, 1, e) / (1 + e), e / (1 + e) ** 2


def float32_ulps(got, reference):
    """Errors in float32 ulps of the reference where it is a normal float32, and the largest absolute error elsewhere."""
    tiny = np.finfo(np.float32).tiny
    normal = np.abs(reference) >= tiny
    error = np.abs(got.astype(np.float64) - reference)
    spacing = np.spacing(np.abs(reference[normal]).astype(np.float32)).astype(np.float64)
    return error[normal] / spacing, error[~normal].max(initial=0.0)


@pytest.mark.parametrize("name,bounds", [("tanh", (2.5, 5.25)), ("sigmoid", (2.5, 4.25))])
def test_float32_activations_are_within_a_few_ulps(name, bounds):
    # float32 arrays compute tanh and sigmoid in float32; values and slopes
    # against float64 over every binade, near 0 and where units saturate.
    # The bounds are the worst cases measured over every finite float32,
    # rounded up.  Below the normal range results may flush, by under
    # tiny / 4 (sigmoid's value, slopes) absolutely.
    z = float32_inputs()
    got = float32_layer(name, z)
    assert all(g.dtype == np.float32 for g in got)
    for g, r, bound in zip(got, float32_reference(name, z), bounds):
        ulps, tail = float32_ulps(g, r)
        assert ulps.max() <= bound
        assert tail <= np.finfo(np.float32).tiny / 4


def test_float32_exp_is_within_an_ulp():
    x = -np.abs(float32_inputs()[::20])
    pairs = np.array([activations.expm1_and_exp_float32(v) for v in x], dtype=np.float32)
    wide = x.astype(np.float64)
    for got, reference, bound in ((pairs[:, 0], np.expm1(wide), 1.05), (pairs[:, 1], np.exp(wide), 1.09)):
        ulps, tail = float32_ulps(got, reference)
        assert ulps.max() <= bound and tail <= 2.0**-149


def test_float32_exp_coefficients():
    # The quartic through (e^r - 1 - r) / r^2 = sum_n r^n / (n + 2)! at the
    # five Chebyshev nodes of |r| <= (1 + 1e-4) ln(2)/2, rounded to float32
    # (each coefficient is at least 0.01 ulp from a rounding boundary, so
    # float64 suffices here).
    import math
    half_width = (1 + 1e-4) * math.log(2) / 2
    nodes = half_width * np.cos((2 * np.arange(5) + 1) * np.pi / 10)
    values = sum(nodes**n / math.factorial(n + 2) for n in range(20))
    coefficients = np.linalg.solve(np.vander(nodes, 5, increasing=True), values)
    stored = [activations.EXP32_P0, activations.EXP32_P1, activations.EXP32_P2, activations.EXP32_P3,
              activations.EXP32_P4]
    np.testing.assert_array_equal(np.float32(stored), coefficients.astype(np.float32))


@pytest.mark.parametrize("name", FLOAT32_CODES)
def test_float32_special_values(name):
    z = np.float32([np.nan, np.inf, -np.inf, 3.4e38, -3.4e38, 1e30, -1e30, 100.0, -100.0, 0.0, -0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            a, d = float32_layer(name, z)
    assert np.isnan(a[0]) and np.isnan(d[0])
    assert np.isfinite(a[1:]).all() and np.isfinite(d[1:]).all()
    expected = {"tanh": [1, -1, 1, -1, 1, -1, 1, -1, 0, -0.0],
                "sigmoid": [1, 0, 1, 0, 1, 0, 1, np.exp(-100.0), 0.5, 0.5]}[name]  # e^-100: a subnormal
    np.testing.assert_array_equal(a[1:], np.float32(expected))
    assert np.signbit(a[-1]) == (name == "tanh")  # tanh(-0) = -0
    np.testing.assert_array_equal(d[1:7], 0)


@pytest.mark.parametrize("name", FLOAT32_CODES)
def test_float32_slopes_stay_accurate_where_units_saturate(name):
    # As test_slopes_stay_accurate_where_units_saturate, in float32: the slope
    # from e^-|z|, not 1 - tanh^2 (which would be 0 or off by 1e6 ulp here).
    z = np.concatenate([np.linspace(-30, 30, 6001), np.random.default_rng(0).uniform(-44, 44, 2000)])
    z = z.astype(np.float32)
    ulps, _ = float32_ulps(float32_layer(name, z)[1], float32_reference(name, z)[1])
    assert ulps.max() <= {"tanh": 5.25, "sigmoid": 3.5}[name]


def test_float64_activation_loops_run_the_float64_functions():
    # Choosing by dtype (and, for float64, by the machine's vectors) leaves
    # float64 loops running exactly one of the scalar float64 forms.
    z = np.r_[np.random.default_rng(4).normal(scale=5, size=500), 0.0, -0.0, 800.0, -800.0]
    if activations.FLOAT64_LAYERS_FROM_TABLE:
        forms = (activations.tanh_and_slope, activations.sigmoid_and_slope, activations.softplus_and_slope,
                 activations.elu_and_slope)
    else:
        forms = (activations.tanh_and_slope_no_table, activations.sigmoid_and_slope_no_table,
                 activations.softplus_and_slope_no_table, activations.elu_and_slope_no_table)
    for code, function in zip((activations.TANH, activations.SIGMOID, activations.SOFTPLUS, activations.ELU), forms):
        a, d = np.empty_like(z), np.empty_like(z)
        activate_layer(code, z, a, d, np.uint64(0), np.uint64(len(z)))
        np.testing.assert_array_equal(np.array([a, d]).T, [function(v) for v in z])


# ------------------------------------------------- float64 without a table
# The forms float64 layer loops run without AVX-512, called directly here (in
# a loop like the layer's), so that every machine tests them.

NO_TABLE = {"tanh": activations.tanh_and_slope_no_table, "sigmoid": activations.sigmoid_and_slope_no_table,
            "softplus": activations.softplus_and_slope_no_table, "elu": activations.elu_and_slope_no_table,
            "expm1_and_exp": activations.expm1_and_exp_no_table}


def _loop_over(function):
    @numba.njit
    def loop(z):
        a, d = np.empty_like(z), np.empty_like(z)
        for u in range(len(z)):
            a[u], d[u] = function(z[u])
        return a, d
    return loop


LOOPS = {name: _loop_over(function) for name, function in NO_TABLE.items()}


def float64_inputs():
    """float64 inputs over the whole range: random bit patterns (every binade), dense near 0, in the bend and at the bottom of exp's range."""
    rng = np.random.default_rng(5)
    z = np.concatenate([rng.integers(0, 2**64, size=400000, dtype=np.uint64).view(np.float64),
                        rng.uniform(-800, 800, 200000), rng.uniform(-40, 40, 400000), rng.uniform(-1, 1, 200000),
                        rng.uniform(-1e-6, 1e-6, 20000), np.linspace(-746, -700, 20000),
                        [0.0, -0.0, 5e-324, -5e-324, 1e-300, -1e-300, 1e308, -1e308]])
    return z[np.isfinite(z)]


def float64_reference(name, z):
    """Values and slopes in long double (64-bit mantissa: its error is about 1/2000 of a float64 ulp)."""
    wide = z.astype(np.longdouble)
    e = np.exp(-np.abs(wide))
    if name == "expm1_and_exp":
        return np.expm1(wide), np.exp(wide)
    if name == "tanh":
        e2 = e * e
        return np.tanh(wide), 4 * e2 / (1 + e2) ** 2
    sigmoid = np.where(wide >= 0, 1, e) / (1 + e)
    if name == "sigmoid":
        return sigmoid, e / (1 + e) ** 2
    if name == "softplus":
        return np.maximum(wide, 0) + np.log1p(e), sigmoid
    return np.where(wide > 0, wide, np.expm1(np.minimum(wide, 0))), np.where(wide > 0, 1, np.exp(np.minimum(wide, 0)))


def float64_ulps(got, reference):
    """Errors in ulps of the reference where it rounds to a normal float64, and the largest absolute error elsewhere."""
    rounded = reference.astype(np.float64)
    normal = np.abs(rounded) >= np.finfo(np.float64).tiny
    error = np.abs(got.astype(np.longdouble) - reference)
    return error[normal] / np.spacing(np.abs(rounded[normal])), error[~normal].max(initial=0.0)


# Worst cases measured over 37 million inputs (as float64_inputs, eleven
# seeds), rounded up: e^x 1.023 ulp, e^x - 1 1.212 (at x near -ln(2)/2,
# where k changes); tanh 2.602 (slope 5.067), sigmoid 2.339 (4.124),
# softplus 1.932 (2.339), elu 1.210 (1.005).  Results below the normal range
# are within 1.5e-323, three of the smallest subnormals.
@pytest.mark.parametrize("name,bounds", [("expm1_and_exp", (1.25, 1.05)), ("tanh", (2.75, 5.25)),
                                         ("sigmoid", (2.5, 4.25)), ("softplus", (2.0, 2.5)),
                                         ("elu", (1.25, 1.05))])
def test_table_free_float64_forms_are_within_a_few_ulps(name, bounds):
    z = float64_inputs()
    if name == "expm1_and_exp":
        z = -np.abs(z)  # its range: x <= 0
    for got, reference, bound in zip(LOOPS[name](z), float64_reference(name, z), bounds):
        ulps_off, tail = float64_ulps(got, reference)
        assert ulps_off.max() <= bound
        assert tail <= 1.5e-323


def test_float64_exp_coefficients():
    # The degree-10 polynomial through (e^r - 1 - r) / r^2 = sum_n r^n / (n + 2)!
    # at the eleven Chebyshev nodes of |r| <= (1 + 1e-4) ln(2)/2, in mpmath at
    # 50 digits, rounded to float64.
    import mpmath
    with mpmath.workdps(50):
        half_width = (1 + mpmath.mpf("1e-4")) * mpmath.log(2) / 2
        nodes = [half_width * mpmath.cos((2 * j + 1) * mpmath.pi / 22) for j in range(11)]
        values = [mpmath.fsum(r**n / mpmath.factorial(n + 2) for n in range(60)) for r in nodes]
        coefficients = mpmath.lu_solve(mpmath.matrix([[r**n for n in range(11)] for r in nodes]), values)
        assert [float(c) for c in coefficients] == list(activations.EXP_NO_TABLE_P)


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "softplus", "elu"])
def test_table_free_special_values(name):
    z = np.array([np.nan, np.inf, -np.inf, 1e308, -1e308, 800.0, -800.0, 0.0, -0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            a, d = LOOPS[name](z)
    assert np.isnan(a[0]) and np.isnan(d[0]) != (name == "elu")  # elu's slope at NaN is 1, as elu_and_slope's
    expected = {"tanh": ([1, -1, 1, -1, 1, -1, 0, -0.0], [0, 0, 0, 0, 0, 0, 1, 1]),
                "sigmoid": ([1, 0, 1, 0, 1, 0, 0.5, 0.5], [0, 0, 0, 0, 0, 0, 0.25, 0.25]),
                "softplus": ([np.inf, 0, 1e308, 0, 800, 0, np.log(2), np.log(2)], [1, 0, 1, 0, 1, 0, 0.5, 0.5]),
                "elu": ([np.inf, -1, 1e308, -1, 800, -1, 0, -0.0], [1, 0, 1, 0, 1, 0, 1, 1])}[name]
    np.testing.assert_array_equal(a[1:], expected[0])
    np.testing.assert_array_equal(d[1:], expected[1])
    assert np.signbit(a[-1]) == (name == "tanh")  # tanh(-0) = -0; elu(-0) is +0, as elu_and_slope's
    # expm1_and_exp's ends: -inf, below the clamp, subnormal results (e^-745
    # is within 5e-324 of 0 or of the smallest subnormal), -tiny and -0.
    x = np.array([np.nan, -np.inf, -1000.0, -746.0, -745.2, -745.0, -744.0, -1e-320, -0.0])
    m, e = LOOPS["expm1_and_exp"](x)
    assert np.isnan(m[0]) and np.isnan(e[0])
    np.testing.assert_array_equal(m[1:], [-1, -1, -1, -1, -1, -1, -1e-320, 0])
    np.testing.assert_array_equal(e[[1, 2, 3, 4, 6, 7, 8]], [0, 0, 0, 0, np.exp(-744.0), 1, 1])
    assert e[5] in (0.0, 5e-324)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "softplus", "elu"])
def test_table_free_slopes_stay_accurate_where_units_saturate(name):
    # As test_slopes_stay_accurate_where_units_saturate, for the forms without
    # a table; the bounds are their measured worst cases, rounded up.
    z = np.concatenate([np.linspace(-30, 30, 6001), np.random.default_rng(0).uniform(-340, 340, 2000)])
    ulps_off, _ = float64_ulps(LOOPS[name](z)[1], float64_reference(name, z)[1])
    assert ulps_off.max() <= {"sigmoid": 4.25, "tanh": 5.25, "softplus": 2.5, "elu": 1.05}[name]
