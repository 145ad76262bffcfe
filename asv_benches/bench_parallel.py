"""asv benchmarks of many networks at once: ``nbprop.parallel.Ensemble`` on 1, 2, ... threads.

The workload of ``benchmarks/scaling.py``: 64 networks of 8-32-32-1 (tanh),
per-sample SGD, one epoch over 1000 samples, float64.  ``setup`` compiles
(or loads) the kernels with a call on a few samples, so the timed call is
training only.  ``track_speedup`` reports the n-thread time over the
1-thread time measured in the same setup, the number the scaling target
(>= 1.8x on 2 cores) is about.
"""

import os
import time

import numpy as np

from nbprop.parallel import Ensemble

N_NETWORKS = 64
SIZES = [8, 32, 32, 1]
N_SAMPLES = 1000
LR = 1e-3


def make_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N_SAMPLES, SIZES[0]))
    Y = np.sin(X.sum(axis=1, keepdims=True))
    return X, Y


class EnsembleEpoch:
    """One epoch of 64 networks in one ``fit`` call, members handed out to ``n_threads`` threads."""

    params = ([1, 2, 4],)
    param_names = ["n_threads"]
    timeout = 300

    def setup(self, n_threads):
        if n_threads > (os.cpu_count() or 1):
            raise NotImplementedError(f"only {os.cpu_count()} cores here")
        self.X, self.Y = make_data()
        self.ensemble = Ensemble(SIZES, range(N_NETWORKS), activation="tanh")
        self.ensemble.fit(self.X[:8], self.Y[:8], epochs=1, lr=LR, n_threads=n_threads)

    def time_epoch(self, n_threads):
        self.ensemble.fit(self.X, self.Y, epochs=1, lr=LR, n_threads=n_threads)

    def track_network_samples_per_second(self, n_threads):
        started = time.perf_counter()
        self.ensemble.fit(self.X, self.Y, epochs=1, lr=LR, n_threads=n_threads)
        return N_NETWORKS * N_SAMPLES / (time.perf_counter() - started)

    track_network_samples_per_second.unit = "network-samples/s"

    def track_speedup(self, n_threads):
        times = {}
        for threads in (1, n_threads):
            samples = []
            for _ in range(3):
                started = time.perf_counter()
                self.ensemble.fit(self.X, self.Y, epochs=1, lr=LR, n_threads=threads)
                samples.append(time.perf_counter() - started)
            times[threads] = float(np.median(samples))
        return times[1] / times[n_threads]

    track_speedup.unit = "x vs 1 thread"


class SerialFits:
    """The same 64 networks trained one after another with ``MLP.fit`` (the baseline)."""

    timeout = 300

    def setup(self):
        self.X, self.Y = make_data()
        self.ensemble = Ensemble(SIZES, range(N_NETWORKS), activation="tanh")
        for member in self.ensemble.members:
            member.fit(self.X[:8], self.Y[:8], epochs=1, lr=LR)

    def time_epoch(self):
        for member in self.ensemble.members:
            member.fit(self.X, self.Y, epochs=1, lr=LR)


class EnsemblePredict:
    """Every member's prediction on 10 000 samples."""

    params = ([1, 2],)
    param_names = ["n_threads"]

    def setup(self, n_threads):
        if n_threads > (os.cpu_count() or 1):
            raise NotImplementedError(f"only {os.cpu_count()} cores here")
        self.X = np.random.default_rng(1).normal(size=(10_000, SIZES[0]))
        self.ensemble = Ensemble(SIZES, range(N_NETWORKS), activation="tanh")
        self.ensemble.predict_members(self.X[:4], n_threads=n_threads)

    def time_predict_members(self, n_threads):
        self.ensemble.predict_members(self.X, n_threads=n_threads)
