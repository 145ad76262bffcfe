"""The training loop's guarantees: divergence, interruption, checkpoints, validation, threads."""

import os
import signal
import threading
import time
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nbprop
from nbprop import training


def data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, np.tanh(X @ [[0.5, -1.0], [1.0, 0.3], [-0.2, 0.8]])


def net(seed=1, **kwargs):
    return nbprop.MLP([3, 8, 2], activation="tanh", seed=seed, **kwargs)


# ------------------------------------------------------------------ divergence

def test_divergence_raises_and_keeps_the_last_finite_epoch():
    X, Y = data()
    model = net()
    Y_big = Y * 1e3
    with pytest.raises(nbprop.DivergenceError, match=r"diverged in epoch \d+ .*smaller learning rate") as info:
        model.fit(X, Y_big, epochs=50, lr=5.0, momentum=0.9)
    error = info.value
    assert isinstance(error, FloatingPointError)
    assert np.isfinite(model.params).all()
    completed = error.history.epochs
    assert error.epoch == completed and model.history_ is error.history
    twin = net()
    twin.fit(X, Y_big, epochs=completed, lr=5.0, momentum=0.9) if completed else None
    np.testing.assert_array_equal(model.params, twin.params)


def test_divergence_can_warn_and_stop_instead():
    X, Y = data()
    model = net()
    with pytest.warns(nbprop.DivergenceWarning, match="diverged"):
        hist = model.fit(X, Y * 1e3, epochs=50, lr=5.0, momentum=0.9, on_divergence="stop")
    assert hist.stop_reason == "diverged" and hist.epochs < 50
    assert np.isfinite(model.params).all()


@settings(max_examples=40, deadline=None)
@given(lr=st.floats(1e-3, 1e3), seed=st.integers(0, 1000),
       hidden=st.sampled_from(["sigmoid", "tanh", "relu", "softplus", "elu", "identity"]),
       batch=st.sampled_from([1, 5, None]))
def test_training_never_leaves_a_silent_nan(lr, seed, hidden, batch):
    X, Y = data(n=20, seed=seed)
    model = nbprop.MLP([3, 6, 2], activation=hidden, loss="ssr", seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nbprop.DivergenceWarning)
        hist = model.fit(X, Y * 10, epochs=5, lr=lr, batch_size=batch, on_divergence="stop")
    assert np.isfinite(model.params).all() and np.isfinite(hist.loss).all()
    assert np.isfinite(model.predict(X)).all() or hidden in ("identity", "relu", "elu", "softplus")


# ---------------------------------------------------------------- interruption

def test_ctrl_c_mid_epoch_leaves_the_last_completed_epoch_and_resumes_exactly(monkeypatch):
    monkeypatch.setattr(training, "CHUNK_SECONDS", 0.01)
    X, Y = data(n=400_000)
    # Compile first: llvmlite's callbacks swallow a SIGINT that arrives while
    # Numba compiles (with a cold cache, the fit would then run to the end).
    net().fit(X[:64], Y[:64], epochs=1, lr=0.001, momentum=0.5)
    model = net()
    killer = threading.Timer(0.6, os.kill, args=(os.getpid(), signal.SIGINT))
    killer.start()
    started = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, Y, epochs=1000, lr=0.001, momentum=0.5)
    latency = time.perf_counter() - started - 0.6
    killer.join()
    done = model.history_.epochs
    assert latency < 1.0, f"Ctrl-C took {latency:.2f} s to be honoured"
    reference = net()
    if done:
        reference.fit(X, Y, epochs=done, lr=0.001, momentum=0.5)
    np.testing.assert_array_equal(model.params, reference.params)
    model.fit(X, Y, epochs=1, lr=0.001, momentum=0.5)  # continues from there
    reference.fit(X, Y, epochs=1, lr=0.001, momentum=0.5)
    np.testing.assert_array_equal(model.params, reference.params)


def test_an_exception_in_a_callback_keeps_completed_epochs():
    X, Y = data()
    model = net()

    def explode(epoch, history, model):
        if epoch == 2:
            raise RuntimeError("user code failed")

    with pytest.raises(RuntimeError, match="user code failed"):
        model.fit(X, Y, epochs=10, lr=0.05, callbacks=[explode])
    assert model.history_.epochs == 3
    reference = net()
    reference.fit(X, Y, epochs=3, lr=0.05)
    np.testing.assert_array_equal(model.params, reference.params)


def test_a_callback_returning_true_stops_training():
    X, Y = data()
    seen = []
    hist = net().fit(X, Y, epochs=10, lr=0.05,
                     callbacks=lambda epoch, history, model: seen.append(epoch) or epoch == 3)
    assert seen == [0, 1, 2, 3] and hist.epochs == 4 and hist.stop_reason == "callback"


@pytest.mark.parametrize("batch_size,momentum,width", [(1, 0.9, 3), (1, 0.0, 3), (7, 0.9, 3), (None, 0.9, 3),
                                                     (1, 0.0, 70), (1, 0.9, 70)])
def test_chunked_epochs_are_bit_identical_to_whole_ones(monkeypatch, batch_size, momentum, width):
    # width 3: 3-8-2 trains through _kernels.shallow_sgd_epoch, whose plain-SGD
    # look-ahead restarts every SAMPLE_BLOCK samples.  Width 70: a first layer
    # of 70 x 70 weights, which plain per-sample SGD trains a block of samples
    # at a time (_kernels.blocked_sgd_epoch).
    X, Y = data(n=3000)
    X = np.tile(X, (1, -(-width // 3)))[:, :width]
    lr = 0.01 if width == 3 else 0.0005

    def net():
        return nbprop.MLP([width, 70 if width > 3 else 8, 2], activation="tanh", seed=1)

    monkeypatch.setattr(training, "FIRST_CHUNK_SAMPLES", 10**9)  # one kernel call per epoch
    whole = net()
    h_whole = whole.fit(X, Y, epochs=3, lr=lr, batch_size=batch_size, momentum=momentum)
    assert whole._step == 3 * (3000 if batch_size == 1 else -(-3000 // (batch_size or 3000)))
    for first, seconds in [(1, 1e-9), (1, 1e-5), (5, 1e-4)]:  # fixed, and adapting, slice lengths
        monkeypatch.setattr(training, "FIRST_CHUNK_SAMPLES", first)
        monkeypatch.setattr(training, "CHUNK_SECONDS", seconds)
        chunked = net()
        h_chunked = chunked.fit(X, Y, epochs=3, lr=lr, batch_size=batch_size, momentum=momentum)
        assert chunked._step == whole._step
        np.testing.assert_array_equal(chunked.params, whole.params)
        assert h_chunked.loss == h_whole.loss


# ------------------------------------------------------------- validation

def test_validation_loss_is_recorded_each_epoch():
    X, Y = data()
    Xv, Yv = data(n=16, seed=9)
    losses = []
    hist = net().fit(X, Y, epochs=4, lr=0.05, validation=(Xv, Yv),
                     callbacks=lambda e, h, m: losses.append(m.loss(Xv, Yv)))
    assert hist.val_loss == losses
    hist = net().fit(X, Y, epochs=2, lr=0.05, validation=0.25)
    assert len(hist.val_loss) == 2 and hist.samples_per_second[0] == 48 / hist.seconds[0]


def test_early_stopping_restores_the_best_epoch():
    X, Y = data(n=40)
    Xv, Yv = data(n=40, seed=3)
    Yv = -Yv  # validation loss gets worse as training fits Y
    params_after = []
    model = net()
    hist = model.fit(X, Y, epochs=100, lr=0.05, validation=(Xv, Yv), early_stopping=True, patience=3,
                     callbacks=lambda e, h, m: params_after.append(m.params.copy()))
    assert hist.stop_reason == "early_stopping"
    assert hist.epochs == hist.best_epoch + 4
    np.testing.assert_array_equal(model.params, params_after[hist.best_epoch])
    assert model.loss(Xv, Yv) == min(hist.val_loss)


def test_validation_arguments_are_checked():
    X, Y = data()
    with pytest.raises(ValueError, match="^early_stopping: needs validation"):
        net().fit(X, Y, early_stopping=True)
    with pytest.raises(ValueError, match="^validation"):
        net().fit(X, Y, validation=1.0)
    with pytest.raises(ValueError, match=r"^validation\[0\]"):
        net().fit(X, Y, validation=(np.ones((3, 4)), np.ones((3, 2))))
    with pytest.raises(TypeError, match="^validation"):
        net().fit(X, Y, validation="10%")
    with pytest.raises(TypeError, match="^callbacks"):
        net().fit(X, Y, callbacks=[1])
    with pytest.raises(ValueError, match="^on_divergence"):
        net().fit(X, Y, on_divergence="ignore")


# ----------------------------------------------------------------- checkpoints

def test_checkpoint_then_crash_then_resume_is_bit_identical(tmp_path):
    X, Y = data()
    kwargs = dict(lr=0.05, momentum=0.9, schedule=nbprop.StepDecay(every=2, factor=0.5))
    straight = net()
    straight.fit(X, Y, epochs=6, **kwargs)
    path = tmp_path / "ckpt.npz"

    def crash(epoch, history, model):
        if epoch == 4:
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError):
        net().fit(X, Y, epochs=6, checkpoint=path, checkpoint_every=2, callbacks=crash, **kwargs)
    resumed = nbprop.load(path)  # written after epoch 4 (epochs 2 and 4 are multiples of 2)
    assert resumed._epoch == 4
    resumed.fit(X, Y, epochs=2, **kwargs)
    np.testing.assert_array_equal(resumed.params, straight.params)
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.npz"]


def test_progress_bar_reports_epochs(capsys):
    pytest.importorskip("tqdm")
    X, Y = data()
    net().fit(X, Y, epochs=3, lr=0.05, progress=True)
    err = capsys.readouterr().err
    assert "3/3" in err and "samples_s" in err


def test_history_as_dict_and_plot(tmp_path):
    X, Y = data()
    hist = net().fit(X, Y, epochs=3, lr=0.05, validation=0.2)
    record = hist.as_dict()
    assert record["loss"] == hist.loss and record["val_loss"] == hist.val_loss
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    ax = hist.plot()
    assert [line.get_label() for line in ax.get_lines()][:2] == ["training loss", "validation loss"]
    ax.figure.savefig(tmp_path / "history.png")


# --------------------------------------------------------------------- threads

def test_two_models_in_two_threads_match_serial_training():
    X, Y = data(n=2000)
    serial = [net(seed=s) for s in (1, 2)]
    for model in serial:
        model.fit(X, Y, epochs=3, lr=0.01)
    parallel = [net(seed=s) for s in (1, 2)]
    threads = [threading.Thread(target=m.fit, args=(X, Y), kwargs=dict(epochs=3, lr=0.01)) for m in parallel]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for a, b in zip(serial, parallel):
        np.testing.assert_array_equal(a.params, b.params)


def test_one_model_fitted_from_two_threads_is_refused():
    X, Y = data(n=200_000)
    model = net()
    worker = threading.Thread(target=model.fit, args=(X, Y), kwargs=dict(epochs=2, lr=0.001))
    worker.start()
    while not model._busy.locked() and worker.is_alive():
        time.sleep(0.001)
    before_error = None
    try:
        with pytest.raises(RuntimeError, match="^fit: this model is being trained by another thread"):
            model.fit(X, Y, epochs=1, lr=0.001)
        with pytest.raises(RuntimeError, match="^params: this model is being trained"):
            model.params = np.zeros(model.n_params)
    finally:
        worker.join()
    assert before_error is None and model.history_.epochs == 2


def test_step_decay_takes_python_s_powers_and_drops_on_python_s_epochs():
    # C's pow of two floats, as Python's factor ** k; epoch // every, as in Python.
    for factor in (0.1, 0.3, 0.7, 0.5):
        schedule = nbprop.StepDecay(every=1, factor=factor)
        for k in range(50):
            assert schedule.learning_rate(1.0, step=0, epoch=k) == factor ** k
    for every in (1, 3, 7, 49, 1000):
        schedule = nbprop.StepDecay(every=every, factor=0.5)
        for epoch in list(range(200)) + [10**6 + 1, 2**40 + 3]:
            assert schedule.learning_rate(1.0, step=0, epoch=epoch) == 0.5 ** (epoch // every)
