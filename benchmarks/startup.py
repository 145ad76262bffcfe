"""Start-up time: import nbprop and finish the first epoch of an 8-32-32-1 fit, in a fresh process.

Each run is a new Python process.  "cold" points ``NUMBA_CACHE_DIR`` at an
empty folder, so the kernels the fit needs are compiled; "warm" runs again
with the folder the cold run filled, so they are loaded from Numba's cache.
Printed per run: the import time, ``History.compile_seconds`` of the fit,
and the wall time from the start of the import to the end of the first epoch.

``--against DIR`` alternates every run with the nbprop source in ``DIR``
(a checkout of another commit, e.g. ``git worktree add /tmp/old HEAD~3``),
so that both are measured side by side in one session: the machine's speed
drifts too much for figures from different hours to compare.

Usage::

    python benchmarks/startup.py [--runs 3] [--against DIR]
"""

import argparse
import json
import os
import statistics
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


def run(cache_dir, source=None):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    if source is not None:  # this tree's nbprop ahead of the installed one
        env["PYTHONPATH"] = os.path.join(source, "src")
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--against", metavar="DIR", help="also time the nbprop source tree in DIR, alternating")
    args = parser.parse_args(argv)
    sources = {"this": None}
    if args.against:
        sources["against"] = os.path.abspath(args.against)
    rows = {(name, cache): [] for name in sources for cache in ("cold", "warm")}
    for _ in range(args.runs):
        for name, source in sources.items():
            with tempfile.TemporaryDirectory(prefix="nbprop-startup-") as cache_dir:
                rows[name, "cold"].append(run(cache_dir, source))
                rows[name, "warm"].append(run(cache_dir, source))
    for (name, cache), results in rows.items():
        label = cache if len(sources) == 1 else f"{name} {cache}"
        for imported, compiled, total in results:
            print(f"{label}: import {imported:.2f} s, compile or load {compiled:.2f} s, "
                  f"import to end of first epoch {total:.2f} s")
    for (name, cache), results in rows.items():
        label = cache if len(sources) == 1 else f"{name} {cache}"
        totals = sorted(r[2] for r in results)
        print(f"{label}: import to end of first epoch {totals[0]:.2f} to {totals[-1]:.2f} s "
              f"(median {statistics.median(totals):.2f})")


if __name__ == "__main__":
    main()
