"""Speed of per-sample SGD (batch size 1): nbprop against its peers.

Every system trains the same network, from the same initial parameters, on
the same samples in the same order, with the same learning rate, for one
epoch of plain SGD on the loss 1/2 * sum over outputs (y - y')^2:

    for each sample:  params -= lr * d/dparams [1/2 * sum_o (y_o - y'_o)^2]

Systems ("peers"), each in one ``run_<peer>`` function with the same
signature ``(net, params0, X, Y, lr, repeats) -> RunResult``:

    nbprop   the library under test (Numba), net.fit(..., batch_size=1)
    fann     FANN 2.2 (C) through Debian's libfann-dev, fann_train per sample
    jax      jax.jit of a lax.scan over per-sample SGD steps (one call per epoch)
    torch    PyTorch eager, per-sample loop with torch.optim.SGD
    sklearn  MLPRegressor(solver="sgd", batch_size=1), one partial_fit
    numpy    the plain numpy reference trainer, timed as a baseline

Before any speed is reported, every system is run once on the first
``--check-samples`` samples and its final parameters and epoch loss are
compared with the float64 numpy reference (``reference_epoch``).  A mismatch
is printed loudly and marked in the table.

Timing: each system is warmed up first (JIT compilation, the C driver's
build) and that one-off cost is reported separately; the speed is the
median of ``--repeats`` epochs, each from the same initial parameters, with
epochs sized to last about ``--target-seconds``.  Every system runs on one
core (``--cores 1`` pins the process; torch and BLAS get one thread), and
the CPU time / wall time of the timed epochs is printed so that competition
from other processes shows.

Usage::

    python benchmarks/peers.py [--nets 1-2-1,8-32-32-1,64-128-10,784-256-10]
        [--repeats 5] [--dtype float64|float32] [--only nbprop,fann,jax,...]
        [--hidden identity|sigmoid|tanh|relu|leaky_relu|softplus|elu] [--json results.json]
        (--help for the rest)

``--hidden`` gives every net that hidden activation instead of its own (FANN,
as set up here, has only identity, sigmoid and tanh; scikit-learn has no
leaky_relu, softplus or elu).

A peer that is not installed is skipped with a message.  Imports of the
peers are lazy (inside their functions) so that any subset runs.  FANN needs
``apt-get install -y libfann-dev`` and a C compiler; nbprop needs
``pip install -e .``; the others ``pip install jax scikit-learn torch``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# --------------------------------------------------------------------------
# Networks and data
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class NetSpec:
    """A fully connected network: layer sizes and activations."""

    name: str
    sizes: tuple
    hidden: str  # activation of every hidden layer
    output: str  # activation of the output layer

    @property
    def n_params(self):
        return sum(fi * fo + fo for fi, fo in zip(self.sizes[:-1], self.sizes[1:]))

    def with_output(self, output):
        """The same net with another output activation."""
        return dataclasses.replace(self, output=output)


NETS = {
    # The identity output on 1-2-1 lets scikit-learn run it exactly (it has no
    # sigmoid output with the squared loss, see run_sklearn).
    "1-2-1": NetSpec("1-2-1", (1, 2, 1), "sigmoid", "identity"),
    "8-32-32-1": NetSpec("8-32-32-1", (8, 32, 32, 1), "tanh", "identity"),
    "64-128-10": NetSpec("64-128-10", (64, 128, 10), "tanh", "sigmoid"),
    "784-256-10": NetSpec("784-256-10", (784, 256, 10), "tanh", "sigmoid"),
}

PEERS = ("nbprop", "fann", "jax", "torch", "sklearn", "numpy")

# 2**-7: a power of two is exact in float32, which matters because FANN keeps
# its learning rate in a C float.  With 0.01 FANN would really use
# 0.0099999998 and drift from the others by ~1e-8, hiding real errors.
DEFAULT_LR = 2.0**-7

# Most memory one net's data set may take (the fastest systems want millions
# of samples on the small nets; the big nets are slow enough with fewer).
DATA_BYTES_MAX = 256 * 2**20
N_SAMPLES_MAX = 4_000_000

# Tolerances of the check against the float64 numpy reference.  Errors are
# measured relative to the size of the epoch's update, max|p - p_ref| /
# max|p_ref - p0|, which is stricter than relative to the parameters.
#  float64: exact systems differ from the reference only by summation order
#  and fused operations, ~1e-16 per operation, which a few thousand SGD steps
#  grow to ~1e-13 at most; 1e-9 leaves room for that while a wrong formula
#  (missing factor, stale weights, other learning rate) is off by >1e-3.
#  float32: the system rounds at ~6e-8 per operation against a float64
#  reference, so only ~1e-3 can be promised.
TOLERANCE = {"float64": 1e-9, "float32": 1e-3}


def init_params(net, rng):
    """One shared initial flat parameter vector, nbprop's layout.

    Layout ``[W0.ravel(), b0, W1.ravel(), b1, ...]`` with ``W_l`` of shape
    (fan_out, fan_in), row-major.  Weights are uniform with half the Glorot
    bound so that no unit saturates: FANN clips the derivative of tanh above
    |0.98| and of the sigmoid outside [0.01, 0.99] (flat-spot elimination),
    and the check must compare plain SGD with plain SGD.
    """
    parts = []
    for fi, fo in zip(net.sizes[:-1], net.sizes[1:]):
        bound = 0.5 * np.sqrt(6.0 / (fi + fo))
        parts.append(rng.uniform(-bound, bound, size=fi * fo))
        parts.append(rng.uniform(-0.1, 0.1, size=fo))
    return np.concatenate(parts)


def make_data(net, n, rng):
    """Synthetic samples: inputs in [-1, 1], targets in the output's range."""
    X = rng.uniform(-1.0, 1.0, size=(n, net.sizes[0]))
    if net.output == "sigmoid":
        Y = rng.uniform(0.1, 0.9, size=(n, net.sizes[-1]))
    else:
        Y = rng.uniform(-0.5, 0.5, size=(n, net.sizes[-1]))
    return X, Y


def unflatten(flat, net):
    """Views (W_l, b_l) into a flat parameter vector."""
    out, p = [], 0
    for fi, fo in zip(net.sizes[:-1], net.sizes[1:]):
        W = flat[p : p + fi * fo].reshape(fo, fi)
        b = flat[p + fi * fo : p + fi * fo + fo]
        out.append((W, b))
        p += fi * fo + fo
    return out


# --------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------


class PeerUnavailable(Exception):
    """The peer cannot run here (not installed, or cannot express the net)."""


@dataclasses.dataclass
class RunResult:
    """What one system returns after ``repeats`` epochs from ``params0``.

    params: final flat parameters after one epoch (nbprop's layout, float64 copy)
    loss: 1/2 * sum over samples and outputs of (y - y')^2, each sample's
        loss taken before its own update
    seconds: wall time of each timed epoch, compilation excluded
    compile_seconds: one-off cost before the first epoch (JIT compilation,
        building the C driver), None where there is none
    net_used: the net the system really trained, when it had to differ
        (scikit-learn cannot put a sigmoid on the output)
    """

    params: np.ndarray
    loss: float
    seconds: list
    compile_seconds: float | None = None
    net_used: NetSpec | None = None
    note: str = ""
    cores: float | None = None  # CPU time / wall time of the timed epochs


class EpochClock:
    """Wall and CPU time of each timed epoch.

    CPU time is ``time.process_time()``, all threads of this process, so
    cpu / wall tells how many cores a system kept busy: about 1 for the
    single-threaded loops, less when other processes took the CPU, more
    when a runtime (XLA) spread its work over several cores (see --cores).
    """

    def __init__(self):
        self.wall, self.cpu = [], []

    @contextlib.contextmanager
    def epoch(self):
        w, c = time.perf_counter(), time.process_time()
        yield
        self.wall.append(time.perf_counter() - w)
        self.cpu.append(time.process_time() - c)

    @property
    def cores(self):
        return statistics.median(self.cpu) / statistics.median(self.wall) if self.wall else None


# --------------------------------------------------------------------------
# The reference: plain numpy, float64
# --------------------------------------------------------------------------

ACTIVATIONS_NP = {
    # name: (f(z), f'(z) written in terms of y = f(z))
    "identity": (lambda z: z, lambda y: np.ones_like(y)),
    "sigmoid": (lambda z: 1.0 / (1.0 + np.exp(-z)), lambda y: y * (1.0 - y)),
    "tanh": (np.tanh, lambda y: 1.0 - y * y),
    "relu": (lambda z: np.maximum(z, 0.0), lambda y: (y > 0.0).astype(y.dtype)),
    "leaky_relu": (lambda z: np.where(z > 0.0, z, 0.01 * z), lambda y: np.where(y > 0.0, 1.0, 0.01)),
    # y = log(1 + e^z): f' = sigmoid(z) = 1 - e^-y
    "softplus": (lambda z: np.logaddexp(0.0, z), lambda y: -np.expm1(-y)),
    # y = e^z - 1 for z <= 0: f' = e^z = y + 1
    "elu": (lambda z: np.where(z > 0.0, z, np.expm1(np.minimum(z, 0.0))), lambda y: np.where(y > 0.0, 1.0, y + 1.0)),
}


def reference_epoch(net, params0, X, Y, lr, stats=None, dtype=np.float64):
    """One epoch of per-sample SGD in plain numpy; returns (params, loss).

    Written for clarity, not speed: it is the definition every system is
    checked against.  If ``stats`` is a dict it receives, per activation
    function, the (lowest, highest) value it produced, to tell whether FANN's
    derivative clipping could have been hit.  ``dtype`` is float64 for the
    reference; run_numpy passes the benchmark's dtype.
    """
    for name in (net.hidden, net.output):
        if name not in ACTIVATIONS_NP:
            raise ValueError(f"reference has no activation {name!r}")
    params = np.array(params0, dtype=dtype)
    layers = unflatten(params, net)
    names = [net.hidden] * (len(layers) - 1) + [net.output]
    acts = [ACTIVATIONS_NP[name] for name in names]
    ranges = {name: (np.inf, -np.inf) for name in names}
    loss = 0.0
    for x, y in zip(np.asarray(X, dtype), np.asarray(Y, dtype)):
        # forward, keeping every layer's output
        a = [x]
        for (W, b), (f, _) in zip(layers, acts):
            a.append(f(W @ a[-1] + b))
        diff = a[-1] - y
        loss += 0.5 * float(diff @ diff)
        # backward: delta = dL/dz of the current layer; the previous layer's
        # delta uses W before this step's update of W
        delta = diff * acts[-1][1](a[-1])
        for l in range(len(layers) - 1, -1, -1):
            W, b = layers[l]
            grad_W = np.outer(delta, a[l])
            grad_b = delta
            if l > 0:
                delta = (W.T @ delta) * acts[l - 1][1](a[l])
            W -= lr * grad_W
            b -= lr * grad_b
        if stats is not None:
            for name, out in zip(names, a[1:]):
                lo, hi = ranges[name]
                ranges[name] = (min(lo, float(out.min())), max(hi, float(out.max())))
    if stats is not None:
        stats.update(ranges)
    return params, loss


BLAS_THREADS = 1  # set from --blas-threads


def blas_threads():
    """Limit numpy's BLAS to BLAS_THREADS threads for the block (threadpoolctl).

    Per-sample work is a chain of tiny matrix-vector products; a
    multi-threaded BLAS only adds synchronisation (scikit-learn ran 784-256-10
    4x slower with OpenBLAS's 2 threads than with 1 here), and every other
    system timed here runs its loop on one thread.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        print("  note: threadpoolctl not installed; BLAS threads not limited")
        return contextlib.nullcontext()
    return threadpool_limits(limits=BLAS_THREADS, user_api="blas")


def run_numpy(net, params0, X, Y, lr, repeats):
    """The numpy reference trainer, timed: what a from-scratch loop costs."""
    clock = EpochClock()
    for _ in range(repeats):
        with blas_threads(), clock.epoch():
            params, loss = reference_epoch(net, params0, X, Y, lr, dtype=X.dtype)
    return RunResult(params.astype(np.float64), loss, clock.wall, cores=clock.cores)


# --------------------------------------------------------------------------
# nbprop
# --------------------------------------------------------------------------


def run_nbprop(net, params0, X, Y, lr, repeats):
    """nbprop: ``MLP.fit(X, Y, epochs=1, lr, batch_size=1, shuffle=False)``.

    Timed epochs are ``hist.seconds``: nbprop's own clock around its
    compiled epoch loop, the same scope as the other systems' timings (FANN's
    C loop, JAX's compiled call).  The wall time of the whole ``fit`` call,
    which adds argument checks and the conversion of X and Y, goes in the
    note.  Compile time is ``hist.compile_seconds`` of the first ``fit`` in
    this process; main() points NUMBA_CACHE_DIR at an empty temp dir so that
    is a real compilation, not a load from Numba's on-disk cache.
    """
    try:
        import nbprop
    except ImportError as e:
        repo = Path(__file__).resolve().parents[1]
        raise PeerUnavailable(f"nbprop not importable ({e}); pip install -e {repo}") from e
    mlp = nbprop.MLP(list(net.sizes), activation=net.hidden, output_activation=net.output,
                     loss="half_sse", dtype=X.dtype.name, seed=0)
    if mlp.n_params != len(params0):
        raise RuntimeError(f"nbprop has {mlp.n_params} parameters, expected {len(params0)}")
    # warm-up on two samples: compiles the kernels (first call in the process)
    mlp.params = params0
    compile_seconds = mlp.fit(X[:2], Y[:2], epochs=1, lr=lr, batch_size=1, shuffle=False).compile_seconds
    seconds, clock = [], EpochClock()
    for _ in range(repeats):
        mlp.params = params0
        with clock.epoch():
            hist = mlp.fit(X, Y, epochs=1, lr=lr, batch_size=1, shuffle=False)
        seconds.append(hist.seconds[0])
    note = f"whole fit() call: {len(X) / statistics.median(clock.wall):,.0f} samples/s"
    # hist.loss is documented as the epoch's half-SSE, summed over the samples
    return RunResult(np.array(mlp.params, dtype=np.float64), float(hist.loss[0]), seconds,
                     compile_seconds, note=note, cores=clock.cores)


# --------------------------------------------------------------------------
# FANN 2.2 (C)
# --------------------------------------------------------------------------

FANN_SOURCE = Path(__file__).with_name("fann_driver.c")
FANN_CODES = {"identity": 0, "sigmoid": 1, "tanh": 2}
_fann_binaries = {}  # dtype -> (path of the compiled driver, seconds to build it)
_fann_warned = set()  # learning rates already warned about


def _build_fann_driver(dtype):
    """Compile fann_driver.c once per dtype into a temp dir.

    Returns (executable, seconds spent building it now): 0 when it was
    already built in this process, like a JIT that compiled earlier.
    """
    if dtype in _fann_binaries:
        return _fann_binaries[dtype][0], 0.0
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise PeerUnavailable("no C compiler (cc) on PATH")
    header = "doublefann.h" if dtype == "float64" else "floatfann.h"
    if not any(Path(d, header).exists() for d in ("/usr/include", "/usr/local/include")):
        raise PeerUnavailable(f"FANN headers ({header}) not found; apt-get install -y libfann-dev")
    out_dir = Path(tempfile.mkdtemp(prefix="nbprop-fann-"))
    exe = out_dir / f"fann_driver_{dtype}"
    # libfann.so is FANN's float build; the double build is libdoublefann.
    flags = ["-DNB_DOUBLE", "-ldoublefann"] if dtype == "float64" else ["-lfloatfann"]
    cmd = [cc, "-O2", str(FANN_SOURCE), "-o", str(exe), flags[-1], "-lm"] + flags[:-1]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    build_seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise PeerUnavailable(f"building the FANN driver failed ({' '.join(cmd)}):\n{proc.stderr.strip()}")
    _fann_binaries[dtype] = (exe, build_seconds)
    return exe, build_seconds


def _fann_call(exe, net, params0, X, Y, lr, repeats):
    """Run the C driver once; returns (params, loss, seconds per timed epoch, cores)."""
    dtype = X.dtype
    with tempfile.TemporaryDirectory(prefix="nbprop-fann-run-") as d:
        sizes = " ".join(str(s) for s in net.sizes)
        meta = (f"{len(net.sizes)} {sizes}\n{FANN_CODES[net.hidden]} {FANN_CODES[net.output]}\n"
                f"{lr!r}\n{len(X)}\n{repeats}\n")
        Path(d, "meta.txt").write_text(meta)
        np.ascontiguousarray(params0, dtype).tofile(Path(d, "params.bin"))
        np.ascontiguousarray(X, dtype).tofile(Path(d, "X.bin"))
        np.ascontiguousarray(Y, dtype).tofile(Path(d, "Y.bin"))
        proc = subprocess.run([str(exe), d], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"FANN driver failed: {proc.stderr.strip()}")
        lines = dict(line.split(" ", 1) for line in Path(d, "result.txt").read_text().splitlines())
        seconds = [float(s) for s in lines["seconds"].split()]
        cpu = [float(s) for s in lines["cpu_seconds"].split()]
        loss = float(lines["loss"])
        params = np.fromfile(Path(d, "params_out.bin"), dtype=dtype).astype(np.float64)
    cores = statistics.median(cpu) / statistics.median(seconds) if seconds else None
    return params, loss, seconds, cores


def run_fann(net, params0, X, Y, lr, repeats):
    """FANN 2.2: a C loop of ``fann_train`` per sample, timed with clock_gettime.

    Set up so one ``fann_train`` is exactly one plain SGD step on the half
    squared error (momentum 0, linear error function, sigmoid steepness 0.5;
    see fann_driver.c).  The driver first runs one untimed epoch that sums
    the loss in double (FANN's own MSE is a float) and then the timed ones,
    and checks they end with the same weights.  Compile time is the one-off
    ``cc`` build of the driver.
    """
    if net.hidden not in FANN_CODES or net.output not in ("identity", "sigmoid"):
        raise PeerUnavailable("FANN (as set up here) does identity/sigmoid/tanh hidden and "
                              "identity/sigmoid output only (it halves the error of a tanh output)")
    if float(np.float32(lr)) != lr and lr not in _fann_warned:
        _fann_warned.add(lr)
        print(f"  warning: lr={lr!r} is not exact in float32; FANN will use {float(np.float32(lr))!r}")
    exe, build_seconds = _build_fann_driver(X.dtype.name)
    params, loss, seconds, cores = _fann_call(exe, net, params0, X, Y, lr, repeats)
    return RunResult(params, loss, seconds, build_seconds, note="compile = cc build of the driver",
                     cores=cores)


# --------------------------------------------------------------------------
# JAX
# --------------------------------------------------------------------------


def run_jax(net, params0, X, Y, lr, repeats):
    """JAX: ``jax.jit`` of one epoch = ``lax.scan`` over per-sample SGD steps.

    The whole epoch is one compiled XLA call.  Compile time is the
    ``lower().compile()`` for this epoch length; one untimed call follows so
    that first-execution costs stay out of the timing.
    """
    try:
        import jax
    except ImportError as e:
        raise PeerUnavailable(f"jax not installed ({e})") from e
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax import lax

    acts_by_name = {"identity": lambda z: z, "sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh, "relu": jax.nn.relu,
                    "leaky_relu": lambda z: jax.nn.leaky_relu(z, 0.01), "softplus": jax.nn.softplus,
                    "elu": jax.nn.elu}
    n_layers = len(net.sizes) - 1
    acts = [acts_by_name[net.hidden]] * (n_layers - 1) + [acts_by_name[net.output]]
    dtype = X.dtype

    def sample_loss(params, x, y):
        a = x
        for (W, b), f in zip(params, acts):
            a = f(W @ a + b)
        return 0.5 * jnp.sum((y - a) ** 2)

    loss_and_grad = jax.value_and_grad(sample_loss)

    def epoch(params, X, Y):
        def step(carry, xy):
            params, total = carry
            loss, grads = loss_and_grad(params, *xy)
            params = jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads)
            return (params, total + loss), None

        (params, total), _ = lax.scan(step, (params, jnp.zeros((), dtype)), (X, Y))
        return params, total

    def to_jax(flat):
        return [(jnp.asarray(W), jnp.asarray(b)) for W, b in unflatten(np.asarray(flat, dtype), net)]

    Xj, Yj = jnp.asarray(X), jnp.asarray(Y)
    t0 = time.perf_counter()
    compiled = jax.jit(epoch).lower(to_jax(params0), Xj, Yj).compile()
    compile_seconds = time.perf_counter() - t0
    jax.block_until_ready(compiled(to_jax(params0), Xj, Yj))  # first execution, untimed
    clock = EpochClock()
    for _ in range(repeats):
        p = jax.block_until_ready(to_jax(params0))  # host->device copy kept out of the timing
        with clock.epoch():
            params, total = jax.block_until_ready(compiled(p, Xj, Yj))
    flat = np.concatenate([np.concatenate([np.ravel(W), np.ravel(b)]) for W, b in params])
    return RunResult(flat.astype(np.float64), float(total), clock.wall, compile_seconds, cores=clock.cores)


# --------------------------------------------------------------------------
# PyTorch
# --------------------------------------------------------------------------

TORCH_THREADS = 1  # set from --torch-threads


def torch_network(net, dtype):
    """``(model, load, flat_params)``: ``net`` as a ``torch.nn.Sequential`` of ``dtype``.

    ``load(flat)`` copies nbprop-layout parameters in; ``flat_params()``
    returns the model's parameters in that layout, as float64.
    """
    import torch

    tdtype = {"float64": torch.float64, "float32": torch.float32}[np.dtype(dtype).name]
    acts_by_name = {"identity": torch.nn.Identity, "sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh,
                    "relu": torch.nn.ReLU, "leaky_relu": lambda: torch.nn.LeakyReLU(0.01),
                    # torch's Softplus is z itself past z = 20 by default; the exact one:
                    "softplus": lambda: torch.nn.Softplus(threshold=1e300), "elu": torch.nn.ELU}
    modules, linears = [], []
    for l, (fi, fo) in enumerate(zip(net.sizes[:-1], net.sizes[1:])):
        lin = torch.nn.Linear(fi, fo, dtype=tdtype)
        linears.append(lin)
        last = l == len(net.sizes) - 2
        modules += [lin, acts_by_name[net.output if last else net.hidden]()]

    def load(flat):
        with torch.no_grad():
            for lin, (W, b) in zip(linears, unflatten(np.asarray(flat, dtype), net)):
                lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(W)))
                lin.bias.copy_(torch.from_numpy(np.ascontiguousarray(b)))

    def flat_params():
        return np.concatenate([np.concatenate([lin.weight.detach().numpy().ravel(),
                                               lin.bias.detach().numpy()])
                               for lin in linears]).astype(np.float64)

    return torch.nn.Sequential(*modules), load, flat_params


def run_torch(net, params0, X, Y, lr, repeats):
    """PyTorch eager: per-sample forward, ``backward``, ``torch.optim.SGD.step``.

    The loop is what a user writes by hand (a DataLoader would only add
    overhead): the rows are split into tensors beforehand, outside the timing,
    and ``loss.item()`` collects each sample's loss.  One untimed warm-up
    epoch on a few samples lets PyTorch set up its kernels and allocator.
    Threads: ``--torch-threads`` (default 1, fastest for batch-size-1 work
    on this 2-core machine, where per-op overhead dominates).
    """
    try:
        import torch
    except ImportError as e:
        raise PeerUnavailable(f"torch not installed ({e}); pip install torch==2.13.0") from e
    torch.set_num_threads(TORCH_THREADS)
    model, load, flat_params = torch_network(net, X.dtype)

    def epoch(rows):
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.0)
        total = 0.0
        for x, y in rows:
            loss = 0.5 * ((y - model(x)) ** 2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
        return total

    rows = list(zip(torch.from_numpy(X).unbind(0), torch.from_numpy(Y).unbind(0)))
    load(params0)
    t0 = time.perf_counter()
    epoch(rows[:8])
    warm = time.perf_counter() - t0
    clock = EpochClock()
    for _ in range(repeats):
        load(params0)
        with clock.epoch():
            total = epoch(rows)
    return RunResult(flat_params(), total, clock.wall, warm, cores=clock.cores,
                     note=f"{TORCH_THREADS} thread(s); compile = 8-sample warm-up")


# --------------------------------------------------------------------------
# scikit-learn
# --------------------------------------------------------------------------


def run_sklearn(net, params0, X, Y, lr, repeats):
    """scikit-learn: ``MLPRegressor(solver="sgd", batch_size=1, momentum=0)``, one ``partial_fit``.

    Why no learning-rate scaling: sklearn reports its squared loss as
    1/2 * mean over outputs, but its backprop uses delta = y' - y divided by
    the batch size only (not by the number of outputs), so with batch_size=1
    each step is exactly params -= lr * grad of 1/2 * sum_o (y - y')^2.
    MLPRegressor's output is always the identity (MLPClassifier's sigmoid
    output comes with log loss), so a sigmoid-output net is run with an
    identity output instead and checked against the matching reference; the
    output activation is a negligible part of the work.  BLAS is limited to
    --blas-threads (default 1) during the timed epochs, see blas_threads().
    """
    try:
        from sklearn.neural_network import MLPRegressor
    except ImportError as e:
        raise PeerUnavailable(f"scikit-learn not installed ({e})") from e
    import warnings

    used = net if net.output == "identity" else net.with_output("identity")
    act = {"tanh": "tanh", "sigmoid": "logistic", "identity": "identity", "relu": "relu"}.get(net.hidden)
    if act is None:
        raise PeerUnavailable(f"scikit-learn's MLPRegressor has no {net.hidden} activation")
    reg = MLPRegressor(hidden_layer_sizes=net.sizes[1:-1], activation=act, solver="sgd",
                       alpha=0.0, batch_size=1, learning_rate="constant", learning_rate_init=lr,
                       momentum=0.0, nesterovs_momentum=False, shuffle=False,
                       early_stopping=False, max_iter=1, random_state=0)
    layers = unflatten(np.asarray(params0, X.dtype), net)

    def load():
        # sklearn stores W transposed: coefs_[l] has shape (fan_in, fan_out)
        for l, (W, b) in enumerate(layers):
            reg.coefs_[l][...] = W.T
            reg.intercepts_[l][...] = b

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        reg.partial_fit(X[:2], Y[:2])  # builds coefs_, the optimizer, the dtype checks
        warm = time.perf_counter() - t0
        clock = EpochClock()
        for _ in range(repeats):
            load()
            with blas_threads(), clock.epoch():
                reg.partial_fit(X, Y)
    flat = np.concatenate([np.concatenate([c.T.ravel(), b]) for c, b in zip(reg.coefs_, reg.intercepts_)])
    # reg.loss_ = mean over samples of 1/2 * mean over outputs -> back to the sum
    loss = float(reg.loss_) * len(X) * net.sizes[-1]
    note = "identity output (sklearn has no sigmoid output with squared loss)" if used is not net else ""
    return RunResult(flat.astype(np.float64), loss, clock.wall, warm, note=note, cores=clock.cores,
                     net_used=used if used is not net else None)


RUNNERS = {"nbprop": run_nbprop, "fann": run_fann, "jax": run_jax, "torch": run_torch,
           "sklearn": run_sklearn, "numpy": run_numpy}


# --------------------------------------------------------------------------
# Checking and timing
# --------------------------------------------------------------------------


@dataclasses.dataclass
class Check:
    """Outcome of comparing one system's epoch with the numpy reference."""

    param_err: float  # max|p - p_ref| / max|p_ref - p0|
    loss_err: float  # |loss - loss_ref| / |loss_ref|
    ok: bool


def compare(result, ref_params, ref_loss, params0, tol):
    """Relative errors of a result against the reference; ok if both <= tol."""
    step = np.max(np.abs(ref_params - params0))
    param_err = float(np.max(np.abs(result.params - ref_params)) / step)
    loss_err = float(abs(result.loss - ref_loss) / abs(ref_loss))
    ok = bool(np.isfinite(param_err) and np.isfinite(loss_err) and param_err <= tol and loss_err <= tol)
    return Check(param_err, loss_err, ok)


def epoch_length(run, net, params0, X, Y, args, n, seconds):
    """Samples per timed epoch so that one epoch takes about --target-seconds.

    A rate measured on a short epoch overstates fixed per-call costs, so the
    length grows by probing (one epoch each, not reported) until an epoch
    takes at least a third of the target, then is scaled to the target.
    Capped by the data set's size.
    """
    n_max = len(X)
    while seconds < args.target_seconds / 3 and n < n_max:
        n = min(n_max, int(n * min(16.0, max(2.0, args.target_seconds / 2 / max(seconds, 1e-6)))))
        seconds = run(net, params0, X[:n], Y[:n], args.lr, 1).seconds[0]
    return int(min(n_max, max(n, n * args.target_seconds / max(seconds, 1e-9))))


def bench_net(net, peers, args, dtype, log):
    """Check then time every peer on one net; returns {peer: row dict}."""
    rng = np.random.default_rng(12345)
    params0_64 = init_params(net, rng)
    n_max = int(min(N_SAMPLES_MAX, DATA_BYTES_MAX // (8 * (net.sizes[0] + net.sizes[-1]))))
    X64, Y64 = make_data(net, n_max, rng)
    # every system gets the data and weights in the benchmark dtype; the
    # reference works in float64 on exactly those (rounded) values
    params0 = params0_64.astype(dtype)
    X, Y = X64.astype(dtype), Y64.astype(dtype)
    p0_ref = params0.astype(np.float64)
    n_check = min(args.check_samples, n_max)
    tol = TOLERANCE[dtype]

    refs = {}

    def reference(spec):
        if spec not in refs:
            stats = {}
            refs[spec] = reference_epoch(spec, p0_ref, X[:n_check].astype(np.float64),
                                         Y[:n_check].astype(np.float64), args.lr, stats) + (stats,)
        return refs[spec]

    _, ref_loss, ranges = reference(net)
    log(f"\n== {net.name}  ({'-'.join(map(str, net.sizes))}, {net.hidden} hidden, {net.output} output, "
        f"{net.n_params} params, lr={args.lr!r}, {dtype})")
    log(f"   reference: {n_check} samples, loss {ref_loss:.10g}, activations "
        + ", ".join(f"{name} in [{lo:.4f}, {hi:.4f}]" for name, (lo, hi) in ranges.items()))
    # FANN clips y before computing f'(y): tanh to [-0.98, 0.98], sigmoid to [0.01, 0.99]
    lo, hi = ranges.get("tanh", (0.0, 0.0))
    clipped = max(-lo, hi) > 0.98
    lo, hi = ranges.get("sigmoid", (0.5, 0.5))
    clipped |= lo < 0.01 or hi > 0.99
    if clipped:
        log("   note: activations reach FANN's derivative-clipping range; FANN will differ")

    rows = {}
    for peer in peers:
        run = RUNNERS[peer]
        row = rows[peer] = {"peer": peer}
        # 1. correctness: one epoch on the check samples against the reference
        #    (its time is the first guess for sizing the timed epochs)
        try:
            res = run(net, params0, X[:n_check], Y[:n_check], args.lr, 1)
        except PeerUnavailable as e:
            log(f"   {peer:8s} SKIPPED: {e}")
            row["skipped"] = str(e)
            continue
        except Exception as e:  # a peer that crashes must not stop the others
            log(f"   {peer:8s} FAILED: {type(e).__name__}: {e}")
            row["failed"] = f"{type(e).__name__}: {e}"
            continue
        ref_p, ref_l, _ = reference(res.net_used or net)
        chk = compare(res, ref_p, ref_l, p0_ref, tol)
        # the compile cost of the first call in the process is the one a user pays
        row.update(param_err=chk.param_err, loss_err=chk.loss_err, check_ok=chk.ok,
                   check_samples=n_check, compile_seconds=res.compile_seconds,
                   net_used=(res.net_used or net).name + f" ({(res.net_used or net).output} output)")
        verdict = "ok" if chk.ok else f"MISMATCH (> {tol:g})"
        log(f"   {peer:8s} check: param err {chk.param_err:.2e}, loss err {chk.loss_err:.2e} -> {verdict}"
            + (f"  [{res.note}]" if res.net_used else ""))
        if not chk.ok:
            log(f"   !!!!!!!! {peer} does NOT reproduce the reference SGD epoch on {net.name}: "
                f"loss {res.loss:.10g} vs reference {ref_l:.10g} (ratio {res.loss / ref_l:.6g}) !!!!!!!!")

        # 2. timing: epochs of about --target-seconds, median of --repeats
        try:
            n = epoch_length(run, net, params0, X, Y, args, n_check, res.seconds[0])
            res = run(net, params0, X[:n], Y[:n], args.lr, args.repeats)
        except Exception as e:
            log(f"   {peer:8s} timing FAILED: {type(e).__name__}: {e}")
            row["failed"] = f"{type(e).__name__}: {e}"
            continue
        med = statistics.median(res.seconds)
        row.update(samples=n, seconds=res.seconds, median_seconds=med, samples_per_s=n / med,
                   timed_loss=res.loss, cores=res.cores, note=res.note)
        comp = "" if row["compile_seconds"] is None else f", compile {row['compile_seconds']:.3f}s"
        cores = "" if res.cores is None else f", {res.cores:.2f} cores busy"
        log(f"   {peer:8s} timed: {n} samples x {args.repeats}, median {med:.4f}s "
            f"-> {n / med:,.0f} samples/s{comp}{cores}" + (f"  ({res.note})" if res.note else ""))
    return rows


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def fmt_rate(row):
    if row is None:
        return "-"
    if "skipped" in row:
        return "skipped"
    if "samples_per_s" not in row:
        return "failed"
    mark = "" if row.get("check_ok") else " !"
    return f"{row['samples_per_s']:,.0f}{mark}"


def print_tables(results, peers, out):
    """Samples/s per net and peer, nbprop/peer ratios, compile times, checks."""
    nets = list(results)
    w0 = max(12, *(len(n) for n in nets)) + 2
    w = 14

    def table(title, cell):
        out(f"\n{title}")
        out("net".ljust(w0) + "".join(p.rjust(w) for p in peers))
        for net in nets:
            out(net.ljust(w0) + "".join(cell(net, p).rjust(w) for p in peers))

    table("samples/s (median of repeats; ! = failed the correctness check)",
          lambda n, p: fmt_rate(results[n].get(p)))

    def ratio(n, p):
        a, b = results[n].get("nbprop") or {}, results[n].get(p) or {}
        if "samples_per_s" not in a or "samples_per_s" not in b:
            return "-"
        return f"{a['samples_per_s'] / b['samples_per_s']:.2f}x"

    table("nbprop / peer (samples/s ratio; >1 = nbprop faster)", ratio)

    def comp(n, p):
        row = results[n].get(p) or {}
        c = row.get("compile_seconds")
        return "-" if c is None else f"{c:.3f}s"

    table("one-off cost of the first call (JIT compile / cc build / warm-up), seconds", comp)

    def chk(n, p):
        row = results[n].get(p) or {}
        if "param_err" not in row:
            return "-"
        return f"{max(row['param_err'], row['loss_err']):.1e}" + ("" if row["check_ok"] else "!")

    def cores(n, p):
        c = (results[n].get(p) or {}).get("cores")
        return "-" if c is None else f"{c:.2f}"

    table("cores busy during the timed epochs (process CPU time / wall time)", cores)

    table("max relative error vs the float64 numpy reference (params: rel. to the epoch's update; loss)", chk)


def _source_version():
    """The repository's commit, and whether src/ has uncommitted changes."""
    repo = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--", "src"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head + (" + uncommitted changes in src/" if dirty else "")


def main(argv=None):
    """Parse the command line, run the checks and timings, print the tables."""
    global TORCH_THREADS, BLAS_THREADS
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nets", default=",".join(NETS), help=f"comma list of {', '.join(NETS)}")
    ap.add_argument("--hidden", choices=sorted(ACTIVATIONS_NP),
                    help="hidden activation for every net (default: each net's own, as in the table above)")
    ap.add_argument("--repeats", type=int, default=5, help="timed epochs per system (median reported)")
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    ap.add_argument("--only", default=",".join(PEERS), help=f"comma list of {', '.join(PEERS)}")
    ap.add_argument("--lr", type=float, default=DEFAULT_LR, help="learning rate (default 2**-7)")
    ap.add_argument("--check-samples", type=int, default=4000,
                    help="samples in the correctness-check epoch (default 4000)")
    ap.add_argument("--target-seconds", type=float, default=0.5,
                    help="aim for timed epochs of about this long (default 0.5)")
    ap.add_argument("--torch-threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    ap.add_argument("--blas-threads", type=int, default=1,
                    help="BLAS threads for sklearn and numpy, via threadpoolctl (default 1)")
    ap.add_argument("--cores", type=int, default=1,
                    help="pin the benchmark (and the FANN driver it starts) to this many CPUs, "
                         "0 = no pinning (default 1: every system gets one core; XLA would "
                         "otherwise spread JAX's work over the machine's cores when they are idle)")
    ap.add_argument("--json", help="also write all results to this JSON file")
    args = ap.parse_args(argv)
    TORCH_THREADS, BLAS_THREADS = args.torch_threads, args.blas_threads

    nets = [n.strip() for n in args.nets.split(",") if n.strip()]
    peers = [p.strip() for p in args.only.split(",") if p.strip()]
    for n in nets:
        if n not in NETS:
            ap.error(f"unknown net {n!r}; choose from {', '.join(NETS)}")
    for p in peers:
        if p not in RUNNERS:
            ap.error(f"unknown peer {p!r}; choose from {', '.join(PEERS)}")
    if "nbprop" in peers:  # nbprop first: the ratios are relative to it
        peers.remove("nbprop")
        peers.insert(0, "nbprop")

    def log(msg):
        print(msg, flush=True)

    # Pin before any peer starts its threads (they inherit the mask), so a
    # multi-threaded runtime cannot use more cores than the single-threaded
    # loops it is compared with.
    if args.cores > 0 and hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))[-args.cores:]
        os.sched_setaffinity(0, cpus)
        log(f"pinned to CPU(s) {cpus}")

    # nbprop's kernels are cached on disk by Numba; an empty cache dir makes
    # the reported compile time a real compilation (and keeps the benchmark
    # from writing cache files into the source tree).
    own_cache = "NUMBA_CACHE_DIR" not in os.environ
    if own_cache:
        os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="nbprop-bench-numba-")
    else:
        log(f"NUMBA_CACHE_DIR={os.environ['NUMBA_CACHE_DIR']}: nbprop's compile time may be a cache load")

    log(f"per-sample SGD benchmark: python {sys.version.split()[0]}, {os.cpu_count()} cpus, "
        f"dtype {args.dtype}, repeats {args.repeats}, check tolerance {TOLERANCE[args.dtype]:g}")
    # other work on the machine shows up in the timings: say how busy it was
    log("load average at start: %.2f %.2f %.2f" % os.getloadavg())
    if "nbprop" in peers:
        log(f"nbprop source: {_source_version()}")
    results = {}
    for n in nets:
        spec = NETS[n] if args.hidden is None else dataclasses.replace(NETS[n], hidden=args.hidden)
        results[n] = bench_net(spec, peers, args, args.dtype, log)
    if own_cache:
        shutil.rmtree(os.environ["NUMBA_CACHE_DIR"], ignore_errors=True)
    print_tables(results, peers, log)
    log("\nload average at end: %.2f %.2f %.2f" % os.getloadavg())
    # Every loop timed here is single-threaded apart from XLA's, so a system
    # that kept less than ~0.9 of a core busy was waiting for the CPU.
    starved = [(n, p, r["cores"]) for n in results for p, r in results[n].items()
               if r.get("cores") is not None and r["cores"] < 0.9]
    if starved:
        log("\nWARNING: other processes competed for the CPU; these timings are too low: "
            + ", ".join(f"{p} on {n} ({c:.2f} cores)" for n, p, c in starved)
            + ". Rerun on an idle machine.")
    bad = [(n, p) for n in results for p, r in results[n].items() if r.get("check_ok") is False]
    if bad:
        log("\n!!! CORRECTNESS MISMATCH: " + ", ".join(f"{p} on {n}" for n, p in bad) + " !!!")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": results}, indent=1, default=str))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
