"""Many networks at once: nbprop's Ensemble on 1 and 2 threads against JAX's vmap.

Every system trains the same N networks (default 64 of 8-32-32-1, tanh hidden
layers, identity output, loss 1/2 sum (y - y')^2) by per-sample SGD, for one
epoch over the same n samples, each network in its own sample order:

    for each network, for each sample:  params -= lr * d/dparams [1/2 (y - y')^2]

Rows of the table:

    nbprop Ensemble, T threads   nbprop.parallel.Ensemble.fit(..., n_threads=T): the
                                 networks handed out to T threads, each running
                                 MLP.fit's compiled loop
    nbprop MLP.fit x N (serial)  the N networks trained one after another with MLP.fit
                                 (what the Ensemble must equal bit for bit)
    nbprop MLP.fit, thread pool  the same N fits from a ThreadPoolExecutor (the
                                 kernels release the GIL)
    JAX vmap(scan), default      jax.jit(jax.vmap(epoch)) where epoch is a lax.scan of
                                 per-sample SGD steps with jax.grad; float64; XLA's
                                 default CPU threading
    JAX vmap(scan), 1 core       the same in a process pinned to one CPU (affinity)

Throughput is network-samples per second: N * n / (median seconds per epoch).
"CPU busy" is the process's CPU time over the wall time of the samples used:
about 2.0 when two threads each had a core to themselves.
Compile time is excluded everywhere (each system runs once before timing);
each sample is ``--epochs-per-sample`` epochs, and the median over samples
is reported.  Other processes distort such numbers, so a sample counts only
when the rest of the machine used less than 0.1 core meanwhile (read from
/proc/stat; "clean" in the table is clean/all samples): rows are sampled in
turn until each has ``--repeats`` clean samples or ``--budget`` seconds
pass, and a row with fewer than 3 clean samples reports all of them.
JAX runs in a child process per row (so one can be pinned); the script checks
first that JAX's epoch equals nbprop's (same initial parameters, same orders)
to float64 rounding.

Usage::

    python benchmarks/scaling.py [--networks 64] [--sizes 8,32,32,1] [--samples 1000]
        [--repeats 7] [--threads 1,2] [--no-jax]

The load average is printed before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

LR = 1e-3
CLEAN = 0.1  # a sample is clean when other processes used less than this many cores meanwhile


def make_data(n_samples, n_in, n_out, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_in))
    Y = np.sin(X.sum(axis=1, keepdims=True))[:, :n_out].repeat(n_out, axis=1)
    return X, Y


def cpu_seconds():
    """CPU time of this process so far, all threads, user and system."""
    t = os.times()
    return t.user + t.system


def machine_busy_seconds():
    """CPU seconds used by every process on the machine so far (None without /proc/stat)."""
    try:
        with open("/proc/stat") as stat:
            values = [int(v) for v in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")  # less idle, iowait


def sample(run):
    """Time one ``run()``: wall seconds, this process's CPU seconds, other processes' CPU seconds."""
    machine, own = machine_busy_seconds(), cpu_seconds()
    started = time.perf_counter()
    run()
    wall = time.perf_counter() - started
    own = cpu_seconds() - own
    others = None if machine is None else max(0.0, machine_busy_seconds() - machine - own)
    return wall, own, others


def measure(runs, repeats, budget):
    """Interleaved samples of every ``runs[name]()`` until each has ``repeats`` clean ones.

    A sample is clean when other processes used less than CLEAN cores on
    average while it ran (always, where /proc/stat is missing).  Gives up
    after ``budget`` seconds and then uses every sample, marked contended.
    Returns ``{name: (median seconds, CPU busy, clean samples, all samples)}``.
    """
    samples = {name: [] for name in runs}
    deadline = time.perf_counter() + budget
    while True:
        for name, run in runs.items():
            samples[name].append(sample(run))
        clean = {name: [s for s in got if s[2] is None or s[2] < CLEAN * s[0]]
                 for name, got in samples.items()}
        if all(len(c) >= repeats for c in clean.values()) or time.perf_counter() > deadline:
            break
    result = {}
    for name, got in samples.items():
        use = clean[name] if len(clean[name]) >= min(3, repeats) else got
        result[name] = (statistics.median(s[0] for s in use), sum(s[1] for s in use) / sum(s[0] for s in use),
                        len(clean[name]), len(got))
    return result


# ---------------------------------------------------------------------- nbprop


def nbprop_rows(args, X, Y, sizes):
    import numba

    import nbprop
    from nbprop.parallel import Ensemble

    epochs = args.epochs_per_sample
    ens = Ensemble(sizes, range(args.networks), activation="tanh")
    ens.fit(X[:8], Y[:8], epochs=1, lr=LR)  # compile (or load from the cache)
    nets = [nbprop.MLP(sizes, activation="tanh", seed=s) for s in range(args.networks)]
    for net in nets:
        net.fit(X[:8], Y[:8], epochs=1, lr=LR)
    threads = [t for t in args.threads if t <= numba.config.NUMBA_NUM_THREADS]
    workers = max(threads)
    pool = ThreadPoolExecutor(max_workers=workers)
    runs = {}
    for t in threads:
        runs[f"nbprop Ensemble, {t} thread{'s' if t > 1 else ''}"] = (
            lambda t=t: ens.fit(X, Y, epochs=epochs, lr=LR, n_threads=t))
    runs[f"nbprop MLP.fit x {args.networks} (serial)"] = (
        lambda: [net.fit(X, Y, epochs=epochs, lr=LR) for net in nets])
    runs[f"nbprop MLP.fit, thread pool of {workers}"] = (
        lambda: list(pool.map(lambda net: net.fit(X, Y, epochs=epochs, lr=LR), nets)))
    try:
        result = measure(runs, args.repeats, args.budget)
    finally:
        pool.shutdown()
    return [(name, *values) for name, values in result.items()]


# ------------------------------------------------------------------------- JAX


def jax_worker(args):
    """Runs in a child process: check against nbprop, then time; prints one JSON line."""
    if args.one_core:  # before JAX starts any thread: every thread it makes inherits this
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax import lax

    from nbprop.parallel import Ensemble

    sizes = args.sizes
    X, Y = make_data(args.samples, sizes[0], sizes[-1])
    shapes = list(zip(sizes[:-1], sizes[1:]))

    def unflatten(flat):
        layers, p = [], 0
        for fan_in, fan_out in shapes:
            W = flat[p:p + fan_in * fan_out].reshape(fan_out, fan_in)
            p += fan_in * fan_out
            layers.append((W, flat[p:p + fan_out]))
            p += fan_out
        return layers

    def flatten(layers):
        return jnp.concatenate([jnp.concatenate([W.ravel(), b]) for W, b in layers])

    def loss_fn(layers, x, y):
        a = x
        for k, (W, b) in enumerate(layers):
            z = W @ a + b
            a = jnp.tanh(z) if k < len(layers) - 1 else z
        return 0.5 * jnp.sum((y - a) ** 2)

    grad_fn = jax.value_and_grad(loss_fn)

    def epoch(layers, order, lr, X, Y):
        def step(p, index):
            loss, g = grad_fn(p, X[index], Y[index])
            return jax.tree.map(lambda w, dw: w - lr * dw, p, g), loss

        layers, losses = lax.scan(step, layers, order)
        return layers, jnp.sum(losses)

    run = jax.jit(jax.vmap(epoch, in_axes=(0, 0, 0, None, None)))

    # The same networks and orders as nbprop: check one epoch against Ensemble.fit.
    ens = Ensemble(sizes, range(args.networks), activation="tanh")
    params0 = ens.params
    orders = []
    for member in ens.members:  # each member's first epoch order, drawn from a copy of its generator
        rng = np.random.default_rng()
        rng.bit_generator.state = member._shuffle_rng.bit_generator.state
        orders.append(rng.permutation(args.samples))
    orders = jnp.asarray(np.stack(orders))
    layers = jax.vmap(unflatten)(jnp.asarray(params0))
    lrs = jnp.full(args.networks, LR)
    Xj, Yj = jnp.asarray(X), jnp.asarray(Y)
    started = time.perf_counter()
    out, _ = run(layers, orders, lrs, Xj, Yj)
    jax.block_until_ready(out)
    compile_seconds = time.perf_counter() - started
    ens.fit(X, Y, epochs=1, lr=LR)
    diff = float(np.max(np.abs(np.asarray(jax.vmap(flatten)(out)) - ens.params)))

    def epochs():
        for _ in range(args.epochs_per_sample):
            jax.block_until_ready(run(layers, orders, lrs, Xj, Yj))

    seconds, busy, clean, total = measure({"jax": epochs}, args.repeats, args.budget)["jax"]
    print(json.dumps({"seconds": seconds, "busy": busy, "clean": clean, "total": total,
                      "max_abs_diff": diff, "compile_seconds": compile_seconds,
                      "version": jax.__version__}))


def jax_rows(args, threads_label, one_core):
    command = [sys.executable, __file__, "--jax-worker", "--networks", str(args.networks),
               "--sizes", ",".join(map(str, args.sizes)), "--samples", str(args.samples),
               "--repeats", str(args.repeats), "--budget", str(args.budget),
               "--epochs-per-sample", str(args.epochs_per_sample)] + (["--one-core"] if one_core else [])
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["?"]
        print(f"JAX ({threads_label}) skipped: {tail[0]}")
        return []
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"JAX {result['version']} ({threads_label}): compile {result['compile_seconds']:.2f} s, "
          f"max |params - nbprop's| after one epoch = {result['max_abs_diff']:.2e}")
    return [(f"JAX vmap(scan), {threads_label}", result["seconds"], result["busy"], result["clean"],
             result["total"])]


# ------------------------------------------------------------------------ main


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--networks", type=int, default=64)
    parser.add_argument("--sizes", default="8,32,32,1")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=7, help="clean samples wanted per row")
    parser.add_argument("--epochs-per-sample", type=int, default=3)
    parser.add_argument("--budget", type=float, default=120.0,
                        help="seconds per measurement phase before settling for contended samples")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--no-jax", action="store_true")
    parser.add_argument("--jax-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--one-core", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",")]
    args.threads = [int(t) for t in args.threads.split(",")]
    return args


def main(argv=None):
    args = parse(argv)
    if args.jax_worker:
        return jax_worker(args)
    import numba

    import nbprop

    X, Y = make_data(args.samples, args.sizes[0], args.sizes[-1])
    work = args.networks * args.samples
    print(f"{args.networks} networks of {'-'.join(map(str, args.sizes))} (tanh), per-sample SGD, "
          f"{args.samples} samples, float64, {args.epochs_per_sample} epochs per sample")
    print(f"nbprop {nbprop.__version__}, numba {numba.__version__} ({numba.config.NUMBA_NUM_THREADS} "
          f"threads available), {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average before: {os.getloadavg()[0]:.2f}")
    rows = nbprop_rows(args, X, Y, args.sizes)
    if not args.no_jax:
        rows += jax_rows(args, "default threads", one_core=False)
        if hasattr(os, "sched_setaffinity"):
            rows += jax_rows(args, "pinned to 1 core", one_core=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}\n")

    base = rows[0][1]
    jax_default = next((r[1] for r in rows if r[0].startswith("JAX") and "default" in r[0]), None)
    header = ["system", "s/epoch", "CPU busy", "clean", "network-samples/s", "vs nbprop 1 thread"]
    if jax_default:
        header.append("vs JAX vmap (default)")
    table = []
    for name, seconds, busy, clean, total in rows:
        seconds /= args.epochs_per_sample
        line = [name, f"{seconds:.4f}", f"{busy:.2f}", f"{clean}/{total}", f"{work / seconds:,.0f}",
                f"{base / args.epochs_per_sample / seconds:.2f}x"]
        if jax_default:
            line.append(f"{jax_default / args.epochs_per_sample / seconds:.2f}x")
        table.append(line)
    widths = [max(len(str(r[i])) for r in table + [header]) for i in range(len(header))]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for line in table:
        print("| " + " | ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                                for i, (c, w) in enumerate(zip(line, widths))) + " |")


if __name__ == "__main__":
    main()
