"""Grid search over nbprop's scikit-learn estimators on a real dask.distributed cluster.

Starts a ``LocalCluster`` of two worker processes (one thread each) on the
loopback interface, with an empty Numba cache directory, so that the two
workers compile nbprop's kernels at the same time into the same cache.
Checks that

* ``GridSearchCV`` under ``joblib.parallel_backend("dask")`` gives exactly the
  serial result (best parameters and every cross-validation score);
* each worker compiled (or loaded) each kernel once, not once per task;
* the cache the two workers wrote concurrently is sound: a fresh process
  loads every kernel from it (no recompilation) and gets the same numbers.

The last test runs the same search through Ray's joblib backend on a local
Ray started on 127.0.0.1 (usage statistics off).

Skipped when scikit-learn is not installed; the Dask tests when
dask.distributed is not, the Ray test when ray is not.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("sklearn")
joblib = pytest.importorskip("joblib")

from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402  (after the skips)

from nbprop.sklearn import MLPRegressor  # noqa: E402

try:  # a dependency of distributed and of ray
    import cloudpickle
except ImportError:  # pragma: no cover
    cloudpickle = None
else:
    # The workers cannot import this test file by name: ship its functions by value.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

KERNELS = ("shallow_sgd_epoch", "minibatch_epoch", "predict", "loss_sum")  # what an 8-unit net uses


def data():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(120, 3))
    y = np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2] + 0.05 * rng.normal(size=120)
    return X, y


def search():
    estimator = MLPRegressor(hidden_layer_sizes=(8,), activation="tanh", max_iter=25,
                             random_state=0, tol=0.0, n_iter_no_change=1000)
    grid = {"learning_rate_init": [0.01, 0.05], "batch_size": [1, 10], "alpha": [1e-4, 1e-2]}
    return GridSearchCV(estimator, grid, cv=3, n_jobs=-1, refit=False)


def serial_search():
    """The whole search in one process, one fit after another."""
    X, y = data()
    done = search().set_params(n_jobs=1).fit(X, y)
    return done.best_params_, done.cv_results_


def serial_scores():
    X, y = data()
    return cross_val_score(search().estimator, X, y, cv=4, n_jobs=1)


def kernel_loads():
    """On a worker: how often each kernel dispatcher compiled or loaded each signature."""
    from nbprop import _kernels

    loads = {}
    for name in KERNELS:
        stats = getattr(_kernels, name).stats
        loads[name] = {str(sig): stats.cache_hits.get(sig, 0) + stats.cache_misses.get(sig, 0)
                       for sig in set(stats.cache_hits) | set(stats.cache_misses)}
    return {"pid": os.getpid(), "loads": loads}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("numba_cache"))


@pytest.fixture(scope="module")
def client(cache_dir):
    distributed = pytest.importorskip("dask.distributed")
    env = {"NUMBA_CACHE_DIR": cache_dir}
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  host="127.0.0.1", dashboard_address=None, env=env,
                                  silence_logs=40) as cluster, distributed.Client(cluster) as client:
        client.wait_for_workers(2, timeout=120)
        yield client


def test_workers_use_the_empty_cache_directory(client, cache_dir):
    dirs = client.run(lambda: __import__("numba").config.CACHE_DIR)
    assert sorted(dirs.values()) == [cache_dir, cache_dir]


def test_grid_search_on_the_cluster_equals_the_serial_one(client):
    # The serial reference runs in one worker process too, so that both sides
    # run code compiled into the same (the test's) cache directory.
    best_params, cv_results = client.submit(serial_search, pure=False).result()
    X, y = data()
    with joblib.parallel_backend("dask"):
        distributed_search = search().fit(X, y)
    assert distributed_search.best_params_ == best_params
    compared = [key for key in cv_results
                if key.startswith(("split", "mean_test", "std_test", "rank_test", "param"))]
    assert len(compared) > 8
    for key in compared:
        np.testing.assert_array_equal(np.asarray(distributed_search.cv_results_[key]),
                                      np.asarray(cv_results[key]), err_msg=key)

    # Every task ran on a worker process, and each worker compiled or loaded
    # each kernel signature once, however many of the 24 fits it ran.
    report = client.run(kernel_loads)
    assert len(report) == 2
    used = [worker for worker in report.values() if worker["loads"]["minibatch_epoch"]]
    assert used, "no worker trained anything"
    for worker in report.values():
        for name, per_signature in worker["loads"].items():
            assert all(count == 1 for count in per_signature.values()), (name, per_signature)

    with joblib.parallel_backend("dask"):
        scores = cross_val_score(search().estimator, X, y, cv=4, n_jobs=-1)
    np.testing.assert_array_equal(scores, client.submit(serial_scores, pure=False).result())


def test_the_cache_written_by_concurrent_workers_loads_in_a_fresh_process(client, cache_dir):
    client.run(train_a_little)  # every kernel on both workers, if the grid search did not already
    assert any(name.endswith(".nbi") for name in os.listdir(_cache_subdir(cache_dir)))
    code = (
        "import json, numpy as np, nbprop\n"
        "from nbprop.sklearn import MLPRegressor\n"
        "from nbprop import _kernels\n"
        "rng = np.random.default_rng(0)\n"
        "X = rng.uniform(-1, 1, size=(30, 3)); y = X.sum(axis=1)\n"
        "reg = MLPRegressor(hidden_layer_sizes=(8,), max_iter=2, batch_size=1, random_state=0).fit(X, y)\n"
        "reg.set_params(batch_size=10).fit(X, y).predict(X)\n"
        "nbprop.MLP([3, 2, 1], seed=0).fit(X, y, epochs=1, lr=0.01)\n"
        "stats = {n: [sum(getattr(_kernels, n).stats.cache_hits.values()),\n"
        "             sum(getattr(_kernels, n).stats.cache_misses.values())]\n"
        "         for n in ('shallow_sgd_epoch', 'minibatch_epoch', 'predict', 'tiny_sgd_epoch')}\n"
        "print(json.dumps(stats))\n")
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    stats = json.loads(done.stdout.strip().splitlines()[-1])
    for name, (hits, misses) in stats.items():
        assert (hits, misses) == (1, 0), (name, hits, misses)


def train_a_little():
    X, y = data()
    for batch_size in (1, 10):
        MLPRegressor(hidden_layer_sizes=(8,), max_iter=2, batch_size=batch_size,
                     random_state=0).fit(X, y).predict(X)
    tiny_fit(X, y)


def tiny_fit(X, y):
    """Plain per-sample SGD of a 3-2-1 network: _kernels.tiny_sgd_epoch, compiled for it."""
    import nbprop
    nbprop.MLP([3, 2, 1], seed=0).fit(X, y, epochs=1, lr=0.01)


def _cache_subdir(cache_dir):
    """Numba keeps each package's cache in a subfolder of NUMBA_CACHE_DIR."""
    for root, _, files in os.walk(cache_dir):
        if any(name.startswith("_kernels.") for name in files):
            return root
    raise AssertionError(f"no nbprop kernels cached under {cache_dir}")


def test_the_same_search_through_rays_joblib_backend(monkeypatch):
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")  # no telemetry: this machine talks to itself only
    ray = pytest.importorskip("ray")
    from ray.util.joblib import register_ray

    X, y = data()
    serial = search().set_params(n_jobs=1).fit(X, y)
    ray.init(address="local", _node_ip_address="127.0.0.1", include_dashboard=False, num_cpus=2,
             log_to_driver=False)
    try:
        register_ray()
        with joblib.parallel_backend("ray"):
            on_ray = search().fit(X, y)
    finally:
        ray.shutdown()
    assert on_ray.best_params_ == serial.best_params_
    np.testing.assert_array_equal(on_ray.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"])
