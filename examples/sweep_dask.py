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
``--measure`` first sends a small fit to every worker at once, then the same
fit twice more, and prints what each cost on the worker and from the client
(submission to result).  The first task on a fresh worker process pays for
importing scikit-learn, Numba and nbprop and for loading the compiled kernels
from Numba's on-disk cache, or compiling them when the cache is empty
(``--cold-cache``: several seconds); every later task in that process reuses
the modules and kernels already in memory and pays nothing for them, only
Dask's few milliseconds per task.  ``--warm-up`` registers a worker plugin
that does that work when each worker starts, so no task pays it.

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
Ray provides a joblib backend too, and the same search runs on it unchanged
(``tests/test_dask.py`` checks that its results equal the serial search on a
local Ray; ``pip install "nbprop[ray]"``)::

    import ray
    from ray.util.joblib import register_ray
    ray.init(address="auto")            # a running Ray cluster; ray.init() starts a local one
    register_ray()
    with joblib.parallel_backend("ray"):
        search.fit(X, y)
"""

import argparse
import os
import shutil
import tempfile
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
    """One small fit on a worker, timed in parts: imports, then the fit (kernels included)."""
    started = time.perf_counter()
    import nbprop.sklearn  # noqa: F401  (scikit-learn, Numba, nbprop: free after the first task)

    imported = time.perf_counter()
    X, y = make_data(300)
    with warnings.catch_warnings():
        quiet()
        estimator().set_params(max_iter=3).fit(X, y)
    done = time.perf_counter()
    return {"pid": os.getpid(), "import": imported - started, "fit": done - imported,
            "total": done - started}


def warm_up():
    """Import nbprop and compile (or load) the kernels the search uses."""
    started = time.perf_counter()
    X, y = make_data(40)
    with warnings.catch_warnings():
        quiet()
        estimator().set_params(max_iter=1).fit(X, y).score(X, y)
    return time.perf_counter() - started


def warm_up_plugin():
    """A Dask worker plugin that runs :func:`warm_up` when a worker starts (and on those running)."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class WarmUp(WorkerPlugin):
        name = "nbprop-warm-up"

        def setup(self, worker):
            warm_up()

    return WarmUp()


def measure(client, rounds=3):
    """Time ``rounds`` identical small tasks per worker, the first on every worker at once.

    Returns ``{worker address: [timings of task 1, task 2, ...]}``, each
    timing as from :func:`timed_task` plus ``"round_trip"``, the seconds from
    submission to result seen by the client.
    """
    workers = sorted(client.scheduler_info()["workers"])
    results = {address: [] for address in workers}
    for _ in range(rounds):
        started = time.perf_counter()
        futures = {address: client.submit(timed_task, pure=False, workers=[address])
                   for address in workers}
        for address, future in futures.items():
            result = future.result()
            result["round_trip"] = time.perf_counter() - started
            results[address].append(result)
    print("cost of identical small fits per worker, the first on every worker at once (seconds):")
    print(f"  {'worker':<28} {'task':>4} {'import':>8} {'fit':>8} {'on worker':>10} {'round trip':>11}")
    for address, timings in results.items():
        for task, result in enumerate(timings, start=1):
            print(f"  {address:<28} {task:>4} {result['import']:8.3f} {result['fit']:8.3f} "
                  f"{result['total']:10.3f} {result['round_trip']:11.3f}")
    print()
    return results


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

    cold_cache = None
    if args.scheduler:
        cluster, client = None, Client(args.scheduler)
    else:
        env = {}
        if args.cold_cache:
            cold_cache = tempfile.mkdtemp(prefix="nbprop-cold-cache-")
            env["NUMBA_CACHE_DIR"] = cold_cache
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None, env=env)
        client = Client(cluster)
    try:
        client.wait_for_workers(1 if cluster is None else args.workers, timeout=120)
        print(f"cluster: {client.scheduler_info()['address']} with "
              f"{len(client.scheduler_info()['workers'])} workers")
        if args.warm_up:
            client.register_plugin(warm_up_plugin())
        if args.measure:  # before anything else runs on the workers
            measure(client)
        quiet()
        client.run(quiet)

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
        if cold_cache is not None:
            shutil.rmtree(cold_cache, ignore_errors=True)


if __name__ == "__main__":
    main()
