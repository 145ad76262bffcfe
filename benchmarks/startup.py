"""Start-up time: import nbprop and finish the first epoch of an 8-32-32-1 fit, in a fresh process.

Each run is a new Python process.  "cold" points ``NUMBA_CACHE_DIR`` at an
empty folder, so the kernels the fit needs are compiled; "warm" runs again
with the folder the cold run filled, so they are loaded from Numba's cache.
Printed per run: the import time, ``History.compile_seconds`` of the fit,
and the wall time from the start of the import to the end of the first epoch.

Usage::

    python benchmarks/startup.py [--runs 3]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

CHILD = """
import json, time
started = time.perf_counter()
import numpy as np
import nbprop
imported = time.perf_counter()
rng = np.random.default_rng(0)
X = rng.normal(size=(1000, 8))
Y = np.sin(X.sum(axis=1, keepdims=True))
net = nbprop.MLP([8, 32, 32, 1], activation="tanh", seed=0)
history = net.fit(X, Y, epochs=1, lr=0.01)
done = time.perf_counter()
print(json.dumps([imported - started, history.compile_seconds, done - started]))
"""


def run(cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    rows = {"cold": [], "warm": []}
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="nbprop-startup-") as cache_dir:
            rows["cold"].append(run(cache_dir))
            rows["warm"].append(run(cache_dir))
    for cache, results in rows.items():
        for imported, compiled, total in results:
            print(f"{cache}: import {imported:.2f} s, compile or load {compiled:.2f} s, "
                  f"import to end of first epoch {total:.2f} s")
    for cache, results in rows.items():
        totals = sorted(r[2] for r in results)
        print(f"{cache}: import to end of first epoch {totals[0]:.2f} to {totals[-1]:.2f} s")


if __name__ == "__main__":
    main()
