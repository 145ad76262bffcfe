"""A hyper-parameter search over nbprop networks on a Dask cluster.

The search is ordinary scikit-learn: ``GridSearchCV`` over
``nbprop.sklearn.MLPRegressor``.  Running it on a cluster takes one line,
``with joblib.parallel_backend("dask"):``, which sends every (parameters,
fold) fit to a Dask worker.  By default the script starts a ``LocalCluster``
of worker processes on this machine; give it a scheduler address to use a
real cluster instead, with the same code:

    python examples/sweep_dask.py                                # local cluster, 2 workers
    python examples/sweep_dask.py --workers 8                    # local cluster, 8 workers
    python examples/sweep_dask.py --scheduler tcp://host:8786    # an existing cluster
    python examples/sweep_dask.py --measure [--cold-cache]       # what a worker's first task costs

(start one with ``dask scheduler`` on one machine and ``dask worker
tcp://host:8786 --nthreads 1`` on each of the others; every worker needs
nbprop, scikit-learn and the same Python packages as the client:
``pip install "nbprop[dask]"``).

What a worker pays
------------------
``--measure`` first sends three identical small fits to every worker, one
after another, and prints what each cost.  The first task on a fresh worker
process pays for importing nbprop (and Numba and scikit-learn) and for
loading the compiled kernels from Numba's on-disk cache, or compiling them
when the cache is empty (a few seconds per kernel signature); every later
task in that process reuses the kernels already in memory and pays nothing
for them.  ``--warm-up`` registers a worker plugin that does that work when
each worker starts, so no task pays it.

Numba's cache on a cluster
--------------------------
* The cache lives in ``__pycache__`` next to nbprop's sources, or in
  ``NUMBA_CACHE_DIR`` when set.  Workers of one machine share it; writes are
  atomic (temporary file, then rename), so workers compiling at once do not
  corrupt it and each loads what the other wrote.
* A cache entry records the CPU model and features it was compiled for; on
  another CPU model it is not used (it is recompiled, and the new entry is
  added).  Machines of different CPU models that share one cache directory
  over a network file system therefore each compile once.  Give each machine
  its own ``NUMBA_CACHE_DIR`` on local disk, or set ``NUMBA_CPU_NAME=generic``
  everywhere for one portable (somewhat slower) build, or warm the cache once
  per machine type when building the worker image
  (``python examples/sweep_dask.py --warm-up-only``).

Ray instead of Dask
-------------------
Ray provides a joblib backend too (not tested with nbprop here)::

    import ray
    from ray.util.joblib import register_ray
    ray.init(address="auto")            # or ray.init() for a local Ray
    register_ray()
    with joblib.parallel_backend("ray"):
        search.fit(X, y)
"""

import argparse
import os
import time
import warnings

import joblib
import numpy as np
from sklearn.model_selection import GridSearchCV

GRID = {
    "hidden_layer_sizes": [(16,), (32, 32)],
    "learning_rate_init": [0.003, 0.01, 0.03],
    "alpha": [1e-4, 1e-2],
}


def make_data(n=1500, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(n, 4))
    y = np.sin(2 * X[:, 0]) * np.cos(X[:, 1]) + 0.3 * X[:, 2] * X[:, 3] + 0.1 * rng.normal(size=n)
    return X, y


def estimator():
    from nbprop.sklearn import MLPRegressor

    return MLPRegressor(activation="tanh", batch_size=20, max_iter=40, momentum=0.9,
                        random_state=0, tol=0.0, n_iter_no_change=1000)


def quiet():
    """Silence scikit-learn's "maximum iterations reached" warnings (max_iter is small on purpose)."""
    from sklearn.exceptions import ConvergenceWarning

    warnings.filterwarnings("ignore", category=ConvergenceWarning)


def timed_task():
    """One small fit on a worker, timed in parts: imports, kernel loading, training."""
    started = time.perf_counter()
    import nbprop.sklearn  # noqa: F401  (free after the first task in this process)

    imported = time.perf_counter()
    X, y = make_data(300)
    model = estimator().set_params(max_iter=3).fit(X, y)
    done = time.perf_counter()
    compile_seconds = model.model_.history_.compile_seconds  # of the last epoch's fit call
    return {"pid": os.getpid(), "import": imported - started, "fit": done - imported,
            "total": done - started, "last_compile": compile_seconds}


def warm_up():
    """Import nbprop and compile (or load) the kernels the search uses."""
    started = time.perf_counter()
    X, y = make_data(40)
    estimator().set_params(max_iter=1).fit(X, y).score(X, y)
    return time.perf_counter() - started


class WarmUp:
    """A Dask worker plugin: run :func:`warm_up` when a worker starts."""

    name = "nbprop-warm-up"

    def setup(self, worker):
        warm_up()


def measure(client):
    print("cost of three identical small fits per worker, one after another (seconds):")
    print(f"  {'worker':<28} {'task':>4} {'import':>8} {'fit':>8} {'total':>8}")
    for address in sorted(client.scheduler_info()["workers"]):
        for task in range(3):
            result = client.submit(timed_task, pure=False, workers=[address]).result()
            print(f"  {address:<28} {task + 1:>4} {result['import']:8.3f} {result['fit']:8.3f} "
                  f"{result['total']:8.3f}")
    print()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scheduler", help="address of a running scheduler, e.g. tcp://host:8786 "
                                            "(default: start a LocalCluster on this machine)")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes")
    parser.add_argument("--measure", action="store_true", help="time first and later tasks per worker")
    parser.add_argument("--warm-up", action="store_true", help="compile on worker start, not in tasks")
    parser.add_argument("--serial", action="store_true", help="also run the search serially and compare")
    parser.add_argument("--cold-cache", action="store_true",
                        help="LocalCluster workers start with an empty Numba cache (to measure compiling)")
    parser.add_argument("--warm-up-only", action="store_true",
                        help="fill this machine's Numba cache and exit (for worker images)")
    args = parser.parse_args()
    if args.warm_up_only:
        print(f"kernels compiled or loaded in {warm_up():.2f} s")
        return

    from dask.distributed import Client, LocalCluster

    if args.scheduler:
        cluster, client = None, Client(args.scheduler)
    else:
        env = {}
        if args.cold_cache:
            import tempfile

            env["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="nbprop-cold-cache-")
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None, env=env)
        client = Client(cluster)
    try:
        print(f"cluster: {client.scheduler_info()['address']} with "
              f"{len(client.scheduler_info()['workers'])} workers")
        quiet()
        client.run(quiet)
        if args.warm_up:
            client.register_plugin(WarmUp())
        if args.measure:
            measure(client)

        X, y = make_data()
        search = GridSearchCV(estimator(), GRID, cv=3, n_jobs=-1)
        started = time.perf_counter()
        with joblib.parallel_backend("dask"):
            search.fit(X, y)
        seconds = time.perf_counter() - started
        n_fits = len(search.cv_results_["params"]) * 3
        print(f"grid search: {n_fits} fits on the cluster in {seconds:.1f} s")
        print(f"best parameters: {search.best_params_}, cross-validated R^2 {search.best_score_:.4f}")
        if args.serial:
            started = time.perf_counter()
            serial = GridSearchCV(estimator(), GRID, cv=3, n_jobs=1).fit(X, y)
            print(f"serial search in this process: {time.perf_counter() - started:.1f} s; same best "
                  f"parameters: {serial.best_params_ == search.best_params_}; largest score "
                  f"difference: {np.max(np.abs(serial.cv_results_['mean_test_score'] - search.cv_results_['mean_test_score'])):.1e}")
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


if __name__ == "__main__":
    main()
