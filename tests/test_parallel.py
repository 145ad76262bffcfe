"""nbprop.parallel: many networks at once on a pool of threads, bit-identical to training each alone."""

import inspect
import pickle
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import pytest

import nbprop
from nbprop import parallel
from nbprop.parallel import Ensemble


def data(n=60, n_in=3, n_out=1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_in))
    Y = np.tanh(X @ rng.normal(size=(n_in, n_out))) + 0.1 * rng.normal(size=(n, n_out))
    return X, Y


def assert_same_state(a, b):
    """Everything fit changes, bit for bit."""
    np.testing.assert_array_equal(a.params, b.params)
    np.testing.assert_array_equal(a._velocity, b._velocity)
    assert (a._step, a._epoch) == (b._step, b._epoch)
    assert a._shuffle_rng.bit_generator.state == b._shuffle_rng.bit_generator.state


def solo_fits(spec, seeds, X, Y, fit_kwargs, per_member=None, subsets=None, calls=1):
    """Each member trained alone by MLP.fit: the reference."""
    nets, hists = [], []
    for i, seed in enumerate(seeds):
        net = nbprop.MLP(**spec, seed=seed)
        kwargs = dict(fit_kwargs)
        for name, values in (per_member or {}).items():
            kwargs[name] = values[i]
        Xi, Yi = (X, Y) if subsets is None else (X[subsets[i]], Y[subsets[i]])
        for _ in range(calls):
            hist = net.fit(Xi, Yi, **kwargs)
        nets.append(net)
        hists.append(hist)
    return nets, hists


CONFIGS = {
    "per-sample": dict(epochs=3, lr=0.05),
    "per-sample momentum": dict(epochs=3, lr=0.02, momentum=0.9),
    "nesterov weight decay": dict(epochs=3, lr=0.02, momentum=0.8, nesterov=True, weight_decay=1e-3),
    "minibatch 7 (short last batch)": dict(epochs=4, lr=0.05, batch_size=7, momentum=0.5),
    "full batch": dict(epochs=5, lr=0.01, batch_size=None),
    "no shuffle": dict(epochs=2, lr=0.05, shuffle=False),
    "inverse scaling": dict(epochs=3, lr=0.05, schedule=nbprop.InverseScaling(1e-3)),
    "step decay minibatch": dict(epochs=4, lr=0.05, batch_size=5, schedule=nbprop.StepDecay(2, 0.5)),
}


@pytest.mark.parametrize("config", sorted(CONFIGS))
@pytest.mark.parametrize("n_threads", [1, 2])
def test_members_are_bit_identical_to_mlp_fit(config, n_threads):
    X, Y = data()
    spec = dict(sizes=[3, 6, 4, 1], activation="tanh")
    seeds = [3, 1, 4, 1, 5]  # a repeated seed is fine: members are still distinct networks
    lrs = [0.01, 0.02, 0.05, 0.03, 0.04]
    fit_kwargs = dict(CONFIGS[config])
    fit_kwargs.pop("lr")
    ens = Ensemble(spec["sizes"], seeds, activation="tanh")
    hists = ens.fit(X, Y, lr=lrs, n_threads=n_threads, **fit_kwargs)
    nets, solo = solo_fits(spec, seeds, X, Y, fit_kwargs, per_member=dict(lr=lrs))
    for member, net, hist, ref in zip(ens.members, nets, hists, solo):
        assert_same_state(member, net)
        assert hist.loss == ref.loss
        assert member.history_ is hist
    np.testing.assert_array_equal(ens.params, np.stack([net.params for net in nets]))


@pytest.mark.parametrize("sizes", [[2, 6, 1], [70, 66, 1]])
@pytest.mark.parametrize("config", ["per-sample", "per-sample momentum", "inverse scaling"])
def test_each_per_sample_loop_is_bit_identical_in_an_ensemble(sizes, config):
    # [2, 6, 1] trains through _kernels.shallow_sgd_epoch, [70, 66, 1] (plain
    # SGD) through blocked_sgd_epoch, whose blocks must fall where MLP.fit's do.
    X, Y = data(n=300, n_in=sizes[0])
    fit_kwargs = dict(CONFIGS[config], lr=0.002)
    ens = Ensemble(sizes, range(3), activation="tanh")
    hists = ens.fit(X, Y, **fit_kwargs)
    nets, solo = solo_fits(dict(sizes=sizes, activation="tanh"), range(3), X, Y, fit_kwargs)
    for member, net, hist, ref in zip(ens.members, nets, hists, solo):
        assert_same_state(member, net)
        assert hist.loss == ref.loss


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("head", [("identity", "mse"), ("sigmoid", "bce"), ("softmax", "cross_entropy")])
def test_heads_dtypes_and_per_member_momentum_and_decay(dtype, head):
    output, loss = head
    n_out = 3 if output == "softmax" else 2
    X, Y = data(n=40, n_out=n_out, seed=1)
    if loss == "bce":
        Y = (Y > 0).astype(float)
    if loss == "cross_entropy":
        Y = np.argmax(Y, axis=1)
    spec = dict(sizes=[3, 5, n_out], activation=["relu"], output_activation=output, loss=loss, dtype=dtype)
    seeds = range(4)
    per = dict(lr=[0.05, 0.01, 0.1, 0.02], momentum=[0.0, 0.9, 0.5, 0.0], weight_decay=[0, 1e-2, 0, 1e-3])
    ens = Ensemble(spec.pop("sizes"), seeds, **spec)
    hists = ens.fit(X, Y, epochs=3, batch_size=4, **per)
    nets, solo = solo_fits(dict(sizes=[3, 5, n_out], **spec), seeds, X, Y, dict(epochs=3, batch_size=4),
                           per_member=per)
    assert ens.params.dtype == np.dtype(dtype)
    for member, net, hist, ref in zip(ens.members, nets, hists, solo):
        assert_same_state(member, net)
        assert hist.loss == ref.loss


@pytest.mark.parametrize("batch_size", [1, 4, None])
def test_subsets_train_each_member_on_its_rows(batch_size):
    X, Y = data(n=50)
    rng = np.random.default_rng(5)
    subsets = [rng.integers(0, 50, size=50),            # a bootstrap sample, with repeats
               np.arange(50)[np.arange(50) % 5 != 0],  # a cross-validation fold
               np.array([7]),                          # a single sample
               np.arange(3, 30)]
    spec = dict(sizes=[3, 4, 1], activation="sigmoid")
    ens = Ensemble(spec["sizes"], range(4), activation="sigmoid")
    hists = ens.fit(X, Y, epochs=3, lr=0.1, batch_size=batch_size, momentum=0.3, subsets=subsets)
    nets, solo = solo_fits(spec, range(4), X, Y, dict(epochs=3, lr=0.1, batch_size=batch_size, momentum=0.3),
                           subsets=subsets)
    for member, net, hist, ref in zip(ens.members, nets, hists, solo):
        assert_same_state(member, net)
        assert hist.loss == ref.loss


def test_continuing_and_members_with_different_histories():
    X, Y = data()
    spec = dict(sizes=[3, 5, 1], activation="tanh")
    nets = [nbprop.MLP(**spec, seed=s) for s in range(3)]
    nets[1].fit(X, Y, epochs=2, lr=0.01, momentum=0.9)  # a head start: its own counters and velocity
    refs = [net.copy() for net in nets]
    ens = Ensemble.from_members(nets)
    assert ens.members[1] is nets[1]
    schedule = nbprop.StepDecay(every=2, factor=0.5)
    ens.fit(X, Y, epochs=2, lr=0.02, momentum=0.9, schedule=schedule)
    ens.fit(X, Y, epochs=1, lr=0.02, momentum=0.9, schedule=schedule)
    for ref in refs:
        ref.fit(X, Y, epochs=2, lr=0.02, momentum=0.9, schedule=schedule)
        ref.fit(X, Y, epochs=1, lr=0.02, momentum=0.9, schedule=schedule)
    for member, ref in zip(ens.members, refs):
        assert_same_state(member, ref)


def test_validation_losses_match_fit():
    X, Y = data()
    Xv, Yv = data(n=20, seed=9)
    ens = Ensemble([3, 4, 1], [0, 1], activation="tanh")
    hists = ens.fit(X, Y, epochs=3, lr=0.05, validation=(Xv, Yv))
    _, solo = solo_fits(dict(sizes=[3, 4, 1], activation="tanh"), [0, 1], X, Y,
                        dict(epochs=3, lr=0.05, validation=(Xv, Yv)))
    for hist, ref in zip(hists, solo):
        assert hist.val_loss == ref.val_loss and len(hist.val_loss) == 3


def test_predict_and_loss_match_each_member():
    X, Y = data(n=33, n_out=2)
    ens = Ensemble([3, 7, 2], range(5), activation="elu")
    ens.fit(X, Y, epochs=1, lr=0.01)
    per_member = ens.predict_members(X)
    assert per_member.shape == (5, 33, 2)
    for m, member in enumerate(ens.members):
        np.testing.assert_array_equal(per_member[m], member.predict(X))
    np.testing.assert_array_equal(ens.predict(X), per_member.mean(axis=0))
    np.testing.assert_array_equal(ens.loss(X, Y), [member.loss(X, Y) for member in ens.members])
    np.testing.assert_array_equal(ens.predict(X, n_threads=1), ens.predict(X))


def test_params_setter_copies_in_and_refuses_bad_shapes():
    ens = Ensemble([2, 3, 1], range(3))
    stacked = np.arange(3 * ens.n_params, dtype=float).reshape(3, -1) / 100
    ens.params = stacked
    np.testing.assert_array_equal(ens.members[2].params, stacked[2])
    before = ens.params
    bad = stacked.copy()
    bad[1, 4] = np.nan
    with pytest.raises(ValueError, match=r"^params: expected finite .* index \(1, 4\)"):
        ens.params = bad
    with pytest.raises(ValueError, match=r"^params: expected shape \(3, 13\)"):
        ens.params = stacked[:2]
    np.testing.assert_array_equal(ens.params, before)


def test_pickle_round_trip_continues_exactly():
    X, Y = data()
    ens = Ensemble([3, 4, 1], range(2), activation="tanh")
    ens.fit(X, Y, epochs=1, lr=0.05, momentum=0.9)
    twin = pickle.loads(pickle.dumps(ens))
    ens.fit(X, Y, epochs=2, lr=0.05, momentum=0.9)
    twin.fit(X, Y, epochs=2, lr=0.05, momentum=0.9)
    np.testing.assert_array_equal(ens.params, twin.params)


# ------------------------------------------------------------------- threads

def thread_counts_record(monkeypatch):
    """Record the thread count of every hand-out of members to threads."""
    seen = []
    run_members = parallel._run_members

    def recording(task, members, n_threads):
        seen.append(n_threads)
        return run_members(task, members, n_threads)

    monkeypatch.setattr(parallel, "_run_members", recording)
    return seen


def test_thread_count_follows_n_threads_and_numba_setting(monkeypatch):
    X, Y = data()
    seen = thread_counts_record(monkeypatch)
    ens = Ensemble([3, 4, 1], range(4))
    before = numba.get_num_threads()
    ens.fit(X, Y, epochs=1, n_threads=1)
    assert set(seen) == {1} and numba.get_num_threads() == before
    seen.clear()
    ens.fit(X, Y, epochs=1)
    assert set(seen) == {before}
    seen.clear()
    numba.set_num_threads(1)
    try:
        ens.fit(X, Y, epochs=1, validation=(X, Y))
        ens.predict(X)
        ens.loss(X, Y)
        assert set(seen) == {1}
        seen.clear()
        ens.fit(X, Y, epochs=1, n_threads=3)
        ens.predict(X, n_threads=3)
        assert set(seen) == {3} and numba.get_num_threads() == 1
    finally:
        numba.set_num_threads(before)


@pytest.mark.parametrize("bad, error, message", [
    (0, ValueError, r"^n_threads: expected a whole number >= 1, got 0"),
    (1.5, TypeError, r"^n_threads: expected a whole number"),
    ("2", TypeError, r"^n_threads: expected a whole number"),
])
def test_bad_thread_counts_are_refused(bad, error, message):
    ens = Ensemble([1, 2, 1], range(2))
    with pytest.raises(error, match=message):
        ens.fit([[0.0], [1.0]], [0.0, 1.0], n_threads=bad)
    with pytest.raises(error, match=message):
        ens.predict([[0.0]], n_threads=bad)
    with pytest.raises(error, match=message):
        ens.loss([[0.0]], [0.0], n_threads=bad)


def test_more_threads_than_members_or_cores_give_the_same_bits():
    X, Y = data(n=200)
    runs = []
    for n_threads in (1, 2, 16):
        ens = Ensemble([3, 8, 1], range(3), activation="tanh")
        ens.fit(X, Y, epochs=2, lr=0.02, n_threads=n_threads)
        runs.append(ens.params)
    np.testing.assert_array_equal(runs[0], runs[1])
    np.testing.assert_array_equal(runs[0], runs[2])


def test_handing_out_members_waits_for_running_tasks_before_raising():
    """An error (or Ctrl-C) while members run: none is still writing, none starts, once the call ends."""
    started, finished = [], []

    def task(m):
        started.append(m)
        if m == 0:
            raise KeyboardInterrupt
        time.sleep(0.05)
        finished.append(m)

    with pytest.raises(KeyboardInterrupt):
        parallel._run_members(task, range(50), 2)
    done = list(finished)
    assert set(done) == set(started) - {0}  # every task that started has finished
    assert len(started) < 50  # the rest were cancelled
    time.sleep(0.1)
    assert finished == done  # and nothing ran afterwards


needs_signals = pytest.mark.skipif(
    not hasattr(signal, "pthread_kill") or threading.current_thread() is not threading.main_thread(),
    reason="sends SIGINT to the main thread")


@needs_signals
@pytest.mark.parametrize("caller_busy", [False, True])
def test_ctrl_c_waits_for_the_running_tasks_then_raises(caller_busy):
    """SIGINT arrives while a helper runs a task: the caller waiting for it, or in a task of its own."""
    main = threading.main_thread()
    helper_took, finished = threading.Event(), []

    def task(m):
        if threading.current_thread() is main:
            assert helper_took.wait(10)
            if caller_busy:
                time.sleep(0.3)
            return
        helper_took.set()
        time.sleep(0.1)
        signal.pthread_kill(main.ident, signal.SIGINT)
        time.sleep(0.3)
        finished.append(m)

    with pytest.raises(KeyboardInterrupt):
        parallel._run_members(task, range(6), 2)
    assert len(finished) == 1  # the helper's task had ended; no member started after the signal
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_helpers_error_is_raised_when_the_caller_has_finished_its_share():
    main = threading.main_thread()
    helper_took = threading.Event()

    def task(m):
        if threading.current_thread() is main:
            assert helper_took.wait(10)
            return
        helper_took.set()
        time.sleep(0.2)
        raise ValueError(f"member {m} failed")

    with pytest.raises(ValueError, match=r"^member \d failed"):
        parallel._run_members(task, range(2), 2)


def test_handing_out_members_runs_every_member_once():
    seen = []
    parallel._run_members(seen.append, range(40), 2)
    assert sorted(seen) == list(range(40))
    seen.clear()
    parallel._run_members(seen.append, [5, 3, 9], 1)
    assert seen == [5, 3, 9]  # one thread: in order, on the calling thread


def test_models_fitted_in_a_thread_pool_equal_serial_fits():
    X, Y = data(n=3000, n_in=8)
    spec = dict(sizes=[8, 16, 1], activation="tanh")

    def train(seed):
        net = nbprop.MLP(**spec, seed=seed)
        net.fit(X, Y, epochs=2, lr=0.01, momentum=0.5)
        return net

    serial = [train(seed) for seed in range(4)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        threaded = list(pool.map(train, range(4)))
    for a, b in zip(serial, threaded):
        assert_same_state(a, b)


def test_two_ensembles_in_two_threads_equal_serial_training():
    X, Y = data(n=500)

    def train(seed):
        ens = Ensemble([3, 8, 1], [seed, seed + 10, seed + 20], activation="tanh")
        ens.fit(X, Y, epochs=2, lr=0.02)
        return ens.params

    serial = [train(seed) for seed in (1, 2)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        threaded = list(pool.map(train, (1, 2)))
    for a, b in zip(serial, threaded):
        np.testing.assert_array_equal(a, b)


def test_a_member_busy_in_another_thread_is_refused():
    X, Y = data()
    ens = Ensemble([3, 4, 1], range(3))
    before = ens.params
    with ens.members[1]._busy:  # as if another thread were fitting it
        with pytest.raises(RuntimeError, match=r"^members\[1\]: fit: this model is being trained"):
            ens.fit(X, Y, epochs=1)
    assert not any(member._busy.locked() for member in ens.members)
    np.testing.assert_array_equal(ens.params, before)


# ---------------------------------------------------- divergence, interruption

def test_a_diverging_member_stops_alone_with_stop():
    X, Y = data(n=80)
    lrs = [0.001, 1e6, 0.002]
    ens = Ensemble([3, 4, 1], range(3), activation="relu")
    with pytest.warns(nbprop.DivergenceWarning, match=r"member\(s\) \[1\] in epoch 0"):
        hists = ens.fit(X, Y, epochs=3, lr=lrs, on_divergence="stop")
    assert hists[1].stop_reason == "diverged" and hists[1].epochs == 0
    np.testing.assert_array_equal(ens.members[1].params, nbprop.MLP([3, 4, 1], activation="relu", seed=1).params)
    for m in (0, 2):
        ref = nbprop.MLP([3, 4, 1], activation="relu", seed=m)
        ref.fit(X, Y, epochs=3, lr=lrs[m])
        assert_same_state(ens.members[m], ref)
        assert hists[m].epochs == 3 and hists[m].stop_reason == "epochs"


def test_a_diverging_member_raises_after_the_others_finish_the_epoch():
    X, Y = data(n=80)
    ens = Ensemble([3, 4, 1], range(2), activation="relu")
    with pytest.raises(nbprop.DivergenceError, match=r"member\(s\) \[0\]") as caught:
        ens.fit(X, Y, epochs=3, lr=[1e6, 0.001])
    assert isinstance(caught.value.history, list) and caught.value.history[1].epochs == 1
    ref = nbprop.MLP([3, 4, 1], activation="relu", seed=1)
    ref.fit(X, Y, epochs=1, lr=0.001)
    assert_same_state(ens.members[1], ref)


def test_divergence_in_a_later_epoch_reports_the_epoch_mlp_fit_reports():
    # A linear unit with a rate just past stability: its error doubles with
    # every sample, so it overflows only after a few epochs.
    X = np.linspace(0.5, 1, 200).reshape(-1, 1)
    Y = X.ravel()
    alone = nbprop.MLP([1, 1], activation="identity", seed=0)
    with pytest.raises(nbprop.DivergenceError) as reference:
        alone.fit(X, Y, epochs=20, lr=1.5, shuffle=False)
    assert reference.value.epoch >= 2  # the point of the test: not the first epoch
    ens = Ensemble([1, 1], [0, 1], activation="identity")
    with pytest.raises(nbprop.DivergenceError,
                       match=rf"member\(s\) \[0\] in epoch {reference.value.epoch} \(0-based\)") as caught:
        ens.fit(X, Y, epochs=20, lr=[1.5, 0.01], shuffle=False)
    assert caught.value.epoch == reference.value.epoch
    assert caught.value.history[0].epochs == reference.value.history.epochs
    assert_same_state(ens.members[0], alone)
    assert ens.members[1]._epoch == reference.value.epoch + 1  # finished the epoch member 0 failed in


def test_members_diverging_in_different_epochs_are_each_named_with_their_epoch():
    X = np.linspace(0.5, 1, 200).reshape(-1, 1)
    Y = X.ravel()
    ahead = nbprop.MLP([1, 1], activation="identity", seed=0)
    ahead.fit(X, Y, epochs=2, lr=0.01, shuffle=False)
    ens = Ensemble.from_members([nbprop.MLP([1, 1], activation="identity", seed=0), ahead])
    with pytest.warns(nbprop.DivergenceWarning, match=r"member\(s\) \[0, 1\] in epochs \[0, 2\] respectively"):
        hists = ens.fit(X, Y, epochs=1, lr=100.0, shuffle=False, on_divergence="stop")
    assert [h.stop_reason for h in hists] == ["diverged", "diverged"]
    assert [m._epoch for m in ens.members] == [0, 2]


def test_interrupt_mid_epoch_leaves_the_last_epoch_and_resumes_exactly(monkeypatch):
    X, Y = data(n=400)
    ref = Ensemble([3, 8, 1], range(3), activation="tanh")
    ref.fit(X, Y, epochs=3, lr=0.01, momentum=0.9)

    ens = Ensemble([3, 8, 1], range(3), activation="tanh")
    epoch_starts = []
    run_members = parallel._run_members

    def interrupted(task, members, n_threads):
        run_members(task, members, n_threads)
        if task.__name__ == "train_member" and inspect.getclosurevars(task).nonlocals["first_round"] == 0:
            epoch_starts.append(1)
            if len(epoch_starts) == 2:  # Ctrl-C after the first slice of epoch 1
                raise KeyboardInterrupt

    monkeypatch.setattr(parallel, "_run_members", interrupted)
    monkeypatch.setattr(nbprop.training, "CHUNK_SECONDS", 1e-6)  # many slices per epoch
    with pytest.raises(KeyboardInterrupt):
        ens.fit(X, Y, epochs=3, lr=0.01, momentum=0.9)
    assert all(member._epoch == 1 and member.history_.epochs == 1 for member in ens.members)
    monkeypatch.setattr(parallel, "_run_members", run_members)
    ens.fit(X, Y, epochs=2, lr=0.01, momentum=0.9)
    np.testing.assert_array_equal(ens.params, ref.params)
    for a, b in zip(ens.members, ref.members):
        assert_same_state(a, b)


# ------------------------------------------------------------------- errors

def test_members_must_share_one_architecture_and_be_distinct():
    a = nbprop.MLP([2, 3, 1], seed=0)
    with pytest.raises(ValueError, match=r"^members\[1\]: every member needs the same sizes"):
        Ensemble.from_members([a, nbprop.MLP([2, 4, 1])])
    with pytest.raises(ValueError, match=r"^members\[1\]: every member needs the same activations"):
        Ensemble.from_members([a, nbprop.MLP([2, 3, 1], activation="tanh")])
    with pytest.raises(ValueError, match=r"^members\[1\]: every member needs the same dtype"):
        Ensemble.from_members([a, nbprop.MLP([2, 3, 1], dtype="float32")])
    with pytest.raises(ValueError, match=r"^members\[2\]: the same MLP as members\[0\]"):
        Ensemble.from_members([a, a.copy(), a])
    with pytest.raises(TypeError, match=r"^members\[1\]: expected an nbprop.MLP"):
        Ensemble.from_members([a, "b"])
    with pytest.raises(ValueError, match=r"^members: expected at least one"):
        Ensemble.from_members([])
    with pytest.raises(TypeError, match=r"^members: expected a sequence"):
        Ensemble.from_members(a)


def test_constructor_errors_name_the_argument():
    with pytest.raises(TypeError, match=r"^seeds: expected a sequence"):
        Ensemble([2, 1], 4)
    with pytest.raises(ValueError, match=r"^seeds: expected at least one"):
        Ensemble([2, 1], [])
    with pytest.raises(ValueError, match=r"^seeds\[1\]: expected a whole number >= 0"):
        Ensemble([2, 1], [0, -1])
    with pytest.raises(ValueError, match=r"^activation: "):
        Ensemble([2, 3, 1], [0], activation="swish")


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(lr=[0.1, 0.1]), ValueError, r"^lr: expected a number, or a sequence of 3 numbers"),
    (dict(lr=[0.1, -0.1, 0.1]), ValueError, r"^lr\[1\]: expected a finite number in \(0.0, inf\)"),
    (dict(lr=np.array([0.1, 0.2, np.nan])), ValueError, r"^lr\[2\]: expected a finite number"),
    (dict(lr="fast"), TypeError, r"^lr: expected a real number"),
    (dict(lr=0.0), ValueError, r"^lr: expected a finite number in \(0.0, inf\)"),
    (dict(momentum=[0.5, 1.0, 0.5]), ValueError, r"^momentum\[1\]: expected a finite number in \[0.0, 1.0\)"),
    (dict(weight_decay=[0, 0, -1]), ValueError, r"^weight_decay\[2\]: "),
    (dict(momentum=[0.9, 0.0, 0.9], nesterov=True), ValueError, r"^nesterov: .*momentum=0 for member\(s\) \[1\]"),
    (dict(epochs=0), ValueError, r"^epochs: "),
    (dict(batch_size=0), ValueError, r"^batch_size: "),
    (dict(shuffle="yes"), TypeError, r"^shuffle: "),
    (dict(on_divergence="ignore"), ValueError, r"^on_divergence: "),
    (dict(schedule="cosine"), ValueError, r"^schedule: "),
    (dict(subsets=[np.arange(3)] * 2), ValueError, r"^subsets: expected 3 index arrays"),
    (dict(subsets=[np.arange(3), np.arange(3), np.array([0, 12])]), ValueError,
     r"^subsets\[2\]: row indices must lie in \[0, 12\)"),
    (dict(subsets=[np.arange(3), np.array([0.0, 1.0]), np.arange(3)]), TypeError,
     r"^subsets\[1\]: expected a 1-D array of integer row indices"),
    (dict(subsets=[np.arange(3), np.arange(0), np.arange(3)]), ValueError, r"^subsets\[1\]: expected at least one"),
    (dict(validation=0.2), TypeError, r"^validation: expected a pair"),
    (dict(validation=(np.zeros((2, 5)), np.zeros(2))), ValueError, r"^validation\[0\]: expected 2 features"),
])
def test_fit_errors_name_the_argument_and_change_nothing(kwargs, error, message):
    X, Y = data(n=12, n_in=2)
    ens = Ensemble([2, 3, 1], range(3))
    before = ens.params
    with pytest.raises(error, match=message):
        ens.fit(X, Y, **kwargs)
    np.testing.assert_array_equal(ens.params, before)
    assert all(member._epoch == 0 for member in ens.members)


def test_data_errors_name_the_argument():
    ens = Ensemble([2, 3, 1], range(2))
    with pytest.raises(ValueError, match=r"^X: expected 2 features"):
        ens.fit(np.zeros((4, 3)), np.zeros(4))
    with pytest.raises(ValueError, match=r"^Y: expected 4 target rows"):
        ens.fit(np.zeros((4, 2)), np.zeros((5, 1)))
    with pytest.raises(ValueError, match=r"^X: expected 2 features"):
        ens.predict(np.zeros((4, 3)))


# ------------------------------------------------------------------- imports

def test_the_core_imports_no_cluster_engine():
    """dask, distributed and ray are optional extras: importing nbprop (Ensemble included) never loads them."""
    code = ("import sys, nbprop, nbprop.parallel\n"
            "assert nbprop.Ensemble is nbprop.parallel.Ensemble\n"
            "engines = ('dask', 'distributed', 'ray', 'joblib')\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in engines))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_padded_rows_never_share_a_cache_line(dtype):
    stacked = parallel._padded(5, 13, dtype)
    assert stacked.shape[0] == 5 and stacked.shape[1] >= 13 and stacked.flags.c_contiguous
    for row in stacked:
        assert row.ctypes.data % 128 == 0
    assert not stacked.any()
