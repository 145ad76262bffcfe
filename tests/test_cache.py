"""Same bits whether the kernels were just compiled or loaded from Numba's on-disk cache.

A kernel compiled on its own is also linked, as a copy optimised again, into
every compiled caller; under reassociation a copy may sum in another order,
and which copy a call reaches depends on what the process compiled or loaded
first.  So each case here runs in fresh processes sharing one cache folder:
first empty (everything compiled), then full (everything loaded), then full
with the cases in the opposite order.
"""

import json
import os
import subprocess
import sys

CHILD = r"""
import hashlib, json, sys
import numpy as np
import nbprop

def bits(*arrays):
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]

rng = np.random.default_rng(0)
X = rng.normal(size=(300, 80))
Y = np.sin(X[:, :8].sum(axis=1, keepdims=True))

def per_sample(sizes, activation, dtype, expected_loop, **options):
    from nbprop import _kernels
    net = nbprop.MLP(sizes, activation=activation, seed=0, dtype=dtype)
    momentum, decay = options.get("momentum", 0.0), options.get("weight_decay", 0.0)
    assert _kernels.per_sample_loop(net._plan, momentum, decay) == expected_loop, sizes
    inputs, targets = X[:, :sizes[0]], np.repeat(Y, sizes[-1], axis=1)
    net.fit(inputs, targets, epochs=2, lr=0.01, **options)
    return bits(net.params, net.predict(inputs), np.float64(net.loss(inputs, targets)))

def minibatch(sizes, batched):
    from nbprop import _kernels
    net = nbprop.MLP(sizes, activation="elu", output_activation="softmax", loss="cross_entropy", seed=0)
    assert (net._plan[-1, _kernels.B_OFFSET] > _kernels.BATCHED_GRADIENT_WEIGHTS) == batched, sizes
    inputs = X[:, :sizes[0]]
    labels = (inputs[:, 0] > 0).astype(int) + (inputs[:, 1] > 0)
    gradient = net.gradient(inputs, labels)  # gradient_sum on its own, then inside the minibatch epoch
    net.fit(inputs, labels, epochs=2, lr=0.05, batch_size=8, momentum=0.5)
    return bits(gradient, net.params, net.predict(inputs))

def ensemble():
    inputs = X[:, :8]
    ens = nbprop.Ensemble([8, 32, 32, 1], seeds=[0, 1], activation="tanh")
    ens.fit(inputs, Y, epochs=2, lr=0.01, n_threads=2)
    alone = nbprop.MLP([8, 32, 32, 1], activation="tanh", seed=1)
    alone.fit(inputs, Y, epochs=2, lr=0.01)
    assert (alone.params == ens.members[1].params).all(), "member 1 differs from MLP.fit"
    return bits(ens.params, ens.predict_members(inputs), ens.loss(inputs, Y))

from nbprop._kernels import BLOCKED_LOOP, GENERAL_LOOP, SHALLOW_LOOP, TINY_LOOP
CASES = {
    "tiny loop": lambda: per_sample([2, 4, 1], "tanh", "float64", TINY_LOOP),
    "shallow loop": lambda: per_sample([8, 16, 3], "relu", "float64", SHALLOW_LOOP),
    "blocked loop, float32": lambda: per_sample([80, 64, 1], "sigmoid", "float32", BLOCKED_LOOP),
    "general loop": lambda: per_sample([8, 32, 32, 1], "tanh", "float64", GENERAL_LOOP),
    "general loop, momentum": lambda: per_sample([8, 32, 32, 1], "sigmoid", "float64", GENERAL_LOOP,
                                                 momentum=0.9, weight_decay=1e-3),
    "minibatch, per-sample gradients": lambda: minibatch([8, 16, 3], batched=False),
    "minibatch, batched gradients": lambda: minibatch([8, 64, 64, 3], batched=True),
    "ensemble": ensemble,
}
names = list(CASES) if sys.argv[1] == "forward" else list(reversed(CASES))
print(json.dumps({name: CASES[name]() for name in names}))
"""


def run_child(cache_dir, order):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    done = subprocess.run([sys.executable, "-c", CHILD, order], env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_fits_give_the_same_bits_from_a_cold_and_a_warm_cache(tmp_path):
    cold = run_child(tmp_path, "forward")
    assert any(tmp_path.rglob("*.nbc")), "the first run should have filled the cache"
    warm = run_child(tmp_path, "forward")
    warm_reversed = run_child(tmp_path, "reversed")
    assert warm == cold
    assert warm_reversed == cold


def test_an_edit_of_any_module_invalidates_every_cached_kernel(tmp_path):
    # A kernel's machine code holds code from other modules (inlined or linked
    # in), so the cache must not serve it after any module changed: a copy of
    # the package, a kernel loaded from the cache on the second run, compiled
    # again after an edit of another module (a comment appended to losses.py).
    import shutil
    import nbprop
    package = tmp_path / "src" / "nbprop"
    shutil.copytree(os.path.dirname(nbprop.__file__), package,
                    ignore=shutil.ignore_patterns("__pycache__"))
    child = ("import numpy as np\n"
             "from nbprop import _kernels\n"
             "assert _kernels.__file__.startswith(%r)\n"
             "_kernels.look_ahead_limit(np.zeros(3))\n"
             "stats = _kernels.look_ahead_limit.stats\n"
             "print(len(stats.cache_hits), len(stats.cache_misses))\n") % str(package)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(tmp_path / "src"))

    def hits_and_misses():
        done = subprocess.run([sys.executable, "-c", child], env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    assert hits_and_misses() == ["0", "1"]  # compiled
    assert hits_and_misses() == ["1", "0"]  # loaded
    with open(package / "losses.py", "a") as source:
        source.write("\n# an edit\n")
    assert hits_and_misses() == ["0", "1"]  # compiled again
    assert hits_and_misses() == ["1", "0"]
