"""Speed of batched work: nbprop's ``predict`` and minibatch SGD against PyTorch CPU.

Both systems run the same network (the nets of ``peers.py``), from the same
initial parameters, on the same samples:

    predict    the forward pass over all samples, outputs written to an array
    minibatch  one epoch of SGD in batches of ``--batch`` samples, in order,
               on the loss 1/2 * sum (y - y')^2 summed over each batch:
               for each batch:  params -= lr * d/dparams [batch loss]

Before anything is timed, each system's outputs and its parameters after one
epoch on the first ``--check-samples`` samples are compared with a float64
NumPy reference; a mismatch is printed loudly and marked with ``!``.

Timing: every system is warmed up first (nbprop compiles its kernels;
PyTorch sets up its allocator and kernels); the figure is the median of
``--repeats`` timed runs, in samples per second.  One thread each by default
(``--threads``): torch.set_num_threads, and nbprop's kernels are
single-threaded.  PyTorch's minibatch loop is the one a user writes: slices
of pre-made tensors, ``loss.backward()``, ``optimizer.step()``.

Usage::

    python benchmarks/batched.py [--nets 64-128-10,784-256-10] [--batch 32]
        [--repeats 5] [--dtype float64|float32] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import NETS, init_params, make_data, torch_network, unflatten  # noqa: E402

LR = 2.0**-7
TOLERANCE = {"float64": 1e-9, "float32": 1e-3}  # relative, as in peers.py


def forward_reference(net, params, X):
    """Float64 outputs of the network, plain NumPy."""
    acts = {"identity": lambda z: z, "sigmoid": lambda z: 1 / (1 + np.exp(-z)), "tanh": np.tanh}
    layers = unflatten(np.asarray(params, np.float64), net)
    names = [net.hidden] * (len(layers) - 1) + [net.output]
    a = np.asarray(X, np.float64)
    for (W, b), name in zip(layers, names):
        a = acts[name](a @ W.T + b)
    return a


def minibatch_reference(net, params0, X, Y, batch):
    """Float64 parameters after one epoch of minibatch SGD, plain NumPy."""
    slopes = {"identity": lambda a: np.ones_like(a), "sigmoid": lambda a: a * (1 - a),
              "tanh": lambda a: 1 - a * a}
    acts = {"identity": lambda z: z, "sigmoid": lambda z: 1 / (1 + np.exp(-z)), "tanh": np.tanh}
    params = np.array(params0, np.float64)
    layers = unflatten(params, net)
    names = [net.hidden] * (len(layers) - 1) + [net.output]
    X, Y = np.asarray(X, np.float64), np.asarray(Y, np.float64)
    for start in range(0, len(X), batch):
        a = [X[start:start + batch]]
        for (W, b), name in zip(layers, names):
            a.append(acts[name](a[-1] @ W.T + b))
        delta = (a[-1] - Y[start:start + batch]) * slopes[names[-1]](a[-1])
        grads = []
        for l in range(len(layers) - 1, -1, -1):
            W, _ = layers[l]
            grads.append((delta.T @ a[l], delta.sum(axis=0)))
            if l > 0:
                delta = (delta @ W) * slopes[names[l - 1]](a[l])
        for (W, b), (gW, gb) in zip(layers, reversed(grads)):
            W -= LR * gW
            b -= LR * gb
    return params


def median_rate(n, seconds):
    return n / statistics.median(seconds)


def run_nbprop(net, params0, X, Y, batch, repeats):
    import nbprop

    mlp = nbprop.MLP(list(net.sizes), activation=net.hidden, output_activation=net.output,
                     loss="half_sse", dtype=X.dtype.name, seed=0)
    mlp.params = params0
    started = time.perf_counter()
    mlp.predict(X[:batch])
    mlp.fit(X[:2 * batch], Y[:2 * batch], epochs=1, lr=LR, batch_size=batch, shuffle=False)
    compile_seconds = time.perf_counter() - started

    def predict():
        return mlp.predict(X)

    def train():
        mlp.params = params0
        return mlp.fit(X, Y, epochs=1, lr=LR, batch_size=batch, shuffle=False)

    def check(Xc, Yc):
        mlp.params = params0
        out = mlp.predict(Xc)
        mlp.fit(Xc, Yc, epochs=1, lr=LR, batch_size=batch, shuffle=False)
        return out, np.array(mlp.params, np.float64)

    return predict, train, check, compile_seconds


def run_torch(net, params0, X, Y, batch, repeats):
    import torch

    model, load, flat = torch_network(net, X.dtype)
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)

    def predict():
        with torch.no_grad():
            return model(Xt).numpy()

    def epoch(Xe, Ye):
        for start in range(0, Xe.shape[0], batch):
            optimizer.zero_grad()
            out = model(Xe[start:start + batch])
            loss = 0.5 * ((out - Ye[start:start + batch]) ** 2).sum()
            loss.backward()
            optimizer.step()

    def train():
        load(params0)
        epoch(Xt, Yt)

    def check(Xc, Yc):
        load(params0)
        with torch.no_grad():
            out = model(torch.from_numpy(Xc)).numpy()
        epoch(torch.from_numpy(Xc), torch.from_numpy(Yc))
        return out, flat()

    started = time.perf_counter()
    load(params0)
    predict()
    epoch(Xt[:2 * batch], Yt[:2 * batch])
    return predict, train, check, time.perf_counter() - started


SYSTEMS = {"nbprop": run_nbprop, "torch": run_torch}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nets", default="64-128-10,784-256-10")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    ap.add_argument("--samples", type=int, default=None, help="samples per run (default: by net)")
    ap.add_argument("--check-samples", type=int, default=256)
    args = ap.parse_args(argv)
    os.environ.setdefault("NUMBA_CACHE_DIR", tempfile.mkdtemp(prefix="nbprop-bench-numba-"))
    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        print("torch not installed: pip install torch==2.13.0 (only nbprop is timed)")
        SYSTEMS.pop("torch")
    rows = []
    for name in args.nets.split(","):
        net = NETS[name]
        rng = np.random.default_rng(0)
        params0 = init_params(net, rng)
        n = args.samples or max(args.batch * 8, min(200_000, int(4e9 / net.n_params)))
        n -= n % args.batch
        X, Y = make_data(net, n, rng)
        X, Y = X.astype(args.dtype), Y.astype(args.dtype)
        params0 = params0.astype(args.dtype)
        k = args.check_samples - args.check_samples % args.batch
        expected_out = forward_reference(net, params0, X[:k])
        expected_params = minibatch_reference(net, params0, X[:k], Y[:k], args.batch)
        update = np.abs(expected_params - params0).max()
        print(f"{name}: {n} samples, batch {args.batch}, {args.dtype}")
        result = {}
        for system, make in SYSTEMS.items():
            predict, train, check, compile_seconds = make(net, params0, X, Y, args.batch, args.repeats)
            out, params = check(X[:k], Y[:k])
            out_err = np.abs(out - expected_out).max() / np.abs(expected_out).max()
            par_err = np.abs(params - expected_params).max() / update
            ok = max(out_err, par_err) <= TOLERANCE[args.dtype]
            times = {}
            for what, call in (("predict", predict), ("minibatch", train)):
                seconds = []
                for _ in range(args.repeats):
                    started = time.perf_counter()
                    call()
                    seconds.append(time.perf_counter() - started)
                times[what] = median_rate(n, seconds)
            mark = "" if ok else " !"
            print(f"  {system:7s} predict {times['predict']:>12,.0f}/s  minibatch {times['minibatch']:>10,.0f}/s"
                  f"  warm-up {compile_seconds:.2f} s  check: outputs {out_err:.1e}, params {par_err:.1e}{mark}")
            if not ok:
                print(f"  !!! {system} does not match the reference on {name}")
            result[system] = (times, ok)
        rows.append((name, result))
    print()
    print(f"| net | nbprop predict | torch predict | nbprop minibatch {args.batch} | torch minibatch {args.batch} |")
    print("|---|---|---|---|---|")
    for name, result in rows:
        cells = []
        for what in ("predict", "minibatch"):
            for system in ("nbprop", "torch"):
                if system in result:
                    times, ok = result[system]
                    cells.append(f"{times[what]:,.0f}" + ("" if ok else " !"))
                else:
                    cells.append("-")
        print(f"| {name} | {cells[0]} | {cells[1]} | {cells[2]} | {cells[3]} |")
    if "torch" in SYSTEMS:
        print()
        for name, result in rows:
            (tn, _), (tt, _) = result["nbprop"], result["torch"]
            print(f"{name}: nbprop / torch = {tn['predict'] / tt['predict']:.2f}x predict, "
                  f"{tn['minibatch'] / tt['minibatch']:.2f}x minibatch")


if __name__ == "__main__":
    main()
