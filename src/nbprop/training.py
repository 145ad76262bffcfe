"""The training loop around the kernels: epochs, safety, validation, checkpoints.

``MLP.fit`` validates its arguments into a :class:`FitOptions` and calls
:func:`train`.  Each epoch runs as a few kernel calls over consecutive slices
of the epoch's sample order, each about ``CHUNK_SECONDS`` long, so Python gets
control back often enough to honour Ctrl-C; the kernels carry the running
loss and step count across slices, so the result is bit-identical to one
call.  Each epoch starts from a snapshot of the model's state; an exception
or Ctrl-C inside the epoch, or a non-finite loss or parameter at its end,
restores the snapshot, so the model always holds the end of its last
completed, finite epoch.
"""

import math
import numbers
import time
import warnings
from dataclasses import dataclass

import numpy as np

from . import _kernels
from ._jit import specialise
from ._validation import positive_int, real_number
from .optim import Schedule, as_schedule

# Wall-clock target for one kernel call: short enough that Ctrl-C lands within
# a fraction of a second, long enough that the call overhead (microseconds) is
# unmeasurable.
CHUNK_SECONDS = 0.1
FIRST_CHUNK_SAMPLES = 256


class DivergenceError(FloatingPointError):
    """Training produced a non-finite loss or parameter.

    The model keeps the parameters of its last finite epoch.

    Examples
    --------
    >>> import nbprop
    >>> net = nbprop.MLP([1, 4, 1], activation="identity", loss="ssr", seed=0)
    >>> try:
    ...     net.fit([[1.0], [2.0]], [1e6, -1e6], epochs=100, lr=10.0)
    ... except nbprop.DivergenceError as error:
    ...     print(error.history.epochs == error.epoch, bool((abs(net.params) < float("inf")).all()))
    True True

    Attributes
    ----------
    epoch : int
        The model's epoch count at which training diverged (0-based).
    history : History
        The epochs completed in this call before the divergence.
    """

    def __init__(self, message, epoch, history):
        super().__init__(message)
        self.epoch = epoch
        self.history = history


class DivergenceWarning(RuntimeWarning):
    """Training stopped early on divergence (``fit(..., on_divergence="stop")``).

    Examples
    --------
    >>> import warnings, nbprop
    >>> net = nbprop.MLP([1, 4, 1], activation="identity", loss="ssr", seed=0)
    >>> with warnings.catch_warnings(record=True):
    ...     hist = net.fit([[1.0], [2.0]], [1e6, -1e6], epochs=100, lr=10.0, on_divergence="stop")
    >>> hist.stop_reason
    'diverged'
    """


class History:
    """What one call of ``MLP.fit`` did, epoch by epoch.

    Attributes
    ----------
    loss : list of float
        Per epoch, the loss over the epoch's samples, each sample (or batch)
        taken before its own update, as FANN and scikit-learn report it.
    val_loss : list of float
        Per epoch, the loss over the validation data after the epoch (empty
        without validation data).
    seconds : list of float
        Per epoch, the wall-clock time of the training loop.
    samples_per_second : list of float
        Per epoch, training samples divided by ``seconds``.
    compile_seconds : float
        Time spent compiling (or loading from the cache) the training kernel
        before the first epoch; kept out of ``seconds``.
    best_epoch : int or None
        With validation data, the index of the epoch with the lowest
        ``val_loss``.
    stop_reason : str
        ``"epochs"``, ``"early_stopping"``, ``"callback"`` or ``"diverged"``.

    Examples
    --------
    >>> import nbprop
    >>> net = nbprop.MLP([1, 2, 1], seed=0)
    >>> hist = net.fit([[0.0], [1.0]], [0.0, 1.0], epochs=3, lr=0.1)
    >>> hist.epochs, sorted(hist.as_dict())[:3]
    (3, ['best_epoch', 'compile_seconds', 'loss'])
    """

    def __init__(self):
        self.loss = []
        self.val_loss = []
        self.seconds = []
        self.samples_per_second = []
        self.compile_seconds = 0.0
        self.best_epoch = None
        self.stop_reason = "epochs"

    @property
    def epochs(self):
        """Number of completed epochs (see the class example)."""
        return len(self.loss)

    def _record(self, loss, seconds, n_samples):
        self.loss.append(loss)
        self.seconds.append(seconds)
        self.samples_per_second.append(n_samples / seconds if seconds > 0 else math.inf)

    def _truncate(self, epochs):
        for values in (self.loss, self.seconds, self.samples_per_second, self.val_loss):
            del values[epochs:]

    def as_dict(self):
        """The history as a dict of plain Python values (JSON-serialisable).

        Examples
        --------
        >>> import json, nbprop
        >>> hist = nbprop.MLP([1, 1], seed=0).fit([[0.0], [1.0]], [0.0, 1.0], epochs=2)
        >>> sorted(json.loads(json.dumps(hist.as_dict())))
        ['best_epoch', 'compile_seconds', 'loss', 'samples_per_second', 'seconds', 'stop_reason', 'val_loss']
        """
        return {
            "loss": list(self.loss),
            "val_loss": list(self.val_loss),
            "seconds": list(self.seconds),
            "samples_per_second": list(self.samples_per_second),
            "compile_seconds": self.compile_seconds,
            "best_epoch": self.best_epoch,
            "stop_reason": self.stop_reason,
        }

    def plot(self, ax=None):
        """Draw the training (and validation) loss per epoch with matplotlib.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw; a new figure by default.

        Returns
        -------
        matplotlib Axes

        Examples
        --------
        >>> import nbprop
        >>> hist = nbprop.MLP([1, 1], seed=0).fit([[0.0], [1.0]], [0.0, 1.0], epochs=3,
        ...                                       validation=([[0.5]], [0.5]))
        >>> ax = hist.plot()                   # doctest: +SKIP
        >>> ax.figure.savefig("loss.png")      # doctest: +SKIP
        """
        try:
            import matplotlib.pyplot as plt
        except ImportError:
            raise ImportError("History.plot needs matplotlib: pip install 'nbprop[plot]'") from None
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        epochs = np.arange(1, self.epochs + 1)
        ax.plot(epochs, self.loss, label="training loss")
        if self.val_loss:
            ax.plot(epochs, self.val_loss, label="validation loss")
        if self.best_epoch is not None:
            ax.axvline(self.best_epoch + 1, color="grey", linestyle=":", label="best epoch")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        if min(self.loss + self.val_loss, default=1.0) > 0:
            ax.set_yscale("log")
        ax.legend()
        return ax

    def __repr__(self):
        last = f", last loss={self.loss[-1]:.6g}" if self.loss else ""
        return f"History(epochs={self.epochs}{last}, stop_reason={self.stop_reason!r})"


@dataclass(frozen=True)
class FitOptions:
    """The validated settings of one ``fit`` call (see ``MLP.fit`` for meanings)."""

    epochs: int
    lr: float
    batch_size: object  # int, or None for full batch
    shuffle: bool
    momentum: float
    nesterov: bool
    weight_decay: float
    schedule: Schedule
    seed: object
    on_divergence: str
    checkpoint: object
    checkpoint_every: int
    early_stopping: bool
    patience: int
    tol: float
    callbacks: tuple
    progress: bool


def fit_options(epochs, lr, batch_size, shuffle, momentum, nesterov, weight_decay, schedule, seed,
                on_divergence, checkpoint, checkpoint_every, early_stopping, patience, tol,
                callbacks, progress):
    """Check every ``fit`` option; errors name the argument.  Returns :class:`FitOptions`."""
    momentum = real_number(momentum, "momentum", high=1.0)
    nesterov = _flag(nesterov, "nesterov")
    if nesterov and momentum == 0.0:
        raise ValueError("nesterov: Nesterov momentum needs momentum > 0, got momentum=0")
    if on_divergence not in ("raise", "stop"):
        raise ValueError(f"on_divergence: expected 'raise' or 'stop', got {on_divergence!r}")
    if checkpoint is not None and not isinstance(checkpoint, (str, bytes)) and not hasattr(checkpoint, "__fspath__"):
        raise TypeError(f"checkpoint: expected a file path, got {type(checkpoint).__name__} {checkpoint!r}")
    if callable(callbacks):
        callbacks = (callbacks,)
    callbacks = tuple(callbacks or ())
    for callback in callbacks:
        if not callable(callback):
            raise TypeError(f"callbacks: expected callables f(epoch, history, model), got {callback!r}")
    if _flag(progress, "progress"):
        try:
            import tqdm  # noqa: F401
        except ImportError:
            raise ImportError("progress: progress=True needs tqdm: pip install 'nbprop[progress]'") from None
    return FitOptions(
        epochs=positive_int(epochs, "epochs"),
        lr=real_number(lr, "lr", low_open=True),
        batch_size=None if batch_size is None else positive_int(batch_size, "batch_size"),
        shuffle=_flag(shuffle, "shuffle"),
        momentum=momentum,
        nesterov=nesterov,
        weight_decay=real_number(weight_decay, "weight_decay"),
        schedule=as_schedule(schedule),
        seed=None if seed is None else positive_int(seed, "seed", minimum=0),
        on_divergence=on_divergence,
        checkpoint=checkpoint,
        checkpoint_every=positive_int(checkpoint_every, "checkpoint_every"),
        early_stopping=_flag(early_stopping, "early_stopping"),
        patience=positive_int(patience, "patience"),
        tol=real_number(tol, "tol"),
        callbacks=callbacks,
        progress=_flag(progress, "progress"),
    )


def _flag(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected True or False, got {value!r}")
    return bool(value)


def split_validation(model, X, Y, validation):
    """``(X, Y, Xv, Yv)``: validation data given as a pair, a fraction, or None.

    A fraction holds out that share of the samples, chosen with the model's
    shuffling generator (so it is reproducible from the seed).
    """
    if validation is None:
        return X, Y, None, None
    if isinstance(validation, numbers.Real) and not isinstance(validation, bool):
        fraction = real_number(validation, "validation", low_open=True, high=1.0)
        n_val = int(math.ceil(fraction * X.shape[0]))
        if n_val >= X.shape[0]:
            raise ValueError(f"validation: a fraction of {fraction} leaves no training samples "
                             f"out of {X.shape[0]}")
        order = model._shuffle_rng.permutation(X.shape[0])
        val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
        return X[train], Y[train], X[val], Y[val]
    if isinstance(validation, (tuple, list)) and len(validation) == 2:
        Xv, Yv = model._data(validation[0], validation[1], names=("validation[0]", "validation[1]"))
        return X, Y, Xv, Yv
    raise TypeError(f"validation: expected (X_val, Y_val) or a fraction in (0, 1), got {validation!r}")


class _Chunks:
    """Slice lengths for the kernel calls of an epoch, adapted to the measured speed."""

    def __init__(self, unit, n):
        self.unit = unit  # a whole number of batches, so no batch is ever split
        self.n = n
        self.size = self._round(FIRST_CHUNK_SAMPLES)

    def _round(self, samples):
        return max(self.unit, int(samples) // self.unit * self.unit)

    def observe(self, samples, seconds):
        if seconds > 0:
            self.size = self._round(min(self.n, samples / seconds * CHUNK_SECONDS))


def train(model, X, Y, options, Xv=None, Yv=None):
    """Run ``options.epochs`` epochs of SGD on ``model``; see the module docstring."""
    history = History()
    model.history_ = history
    n = X.shape[0]
    batch = n if options.batch_size is None else min(options.batch_size, n)
    # Whole batches per slice; per-sample slices in whole blocks of blocked_sgd_epoch,
    # so that where a slice ends never changes the result.
    chunks = _Chunks(_kernels.SAMPLE_BLOCK if batch == 1 else batch, n)
    started = time.perf_counter()
    run = _kernel_runner(model, X, Y, options, batch)
    run(np.empty(0, dtype=np.int64), model._step, model._epoch, 0.0)  # compiles or loads the kernel; trains nothing
    history.compile_seconds = time.perf_counter() - started

    normaliser = model._normaliser(n)
    best_loss, best_state, waited = math.inf, None, 0
    bar = _progress_bar(options)
    try:
        for _ in range(options.epochs):
            # Everything up to and including the epoch's bookkeeping is one unit:
            # Ctrl-C may land between any two bytecodes, and must find either the
            # epoch fully recorded or fully undone.
            snapshot, recorded = model._snapshot(), history.epochs
            try:
                # int64 on every platform: the kernel was compiled for it (specialise)
                order = (model._shuffle_rng.permutation(n).astype(np.int64, copy=False) if options.shuffle
                         else np.arange(n, dtype=np.int64))
                started = time.perf_counter()
                total, step, start = 0.0, model._step, 0
                while start < n:  # slices of adaptive length, back to back
                    stop = min(n, start + chunks.size)
                    chunk_started = time.perf_counter()
                    total, step = run(order[start:stop], step, model._epoch, total)
                    chunks.observe(stop - start, time.perf_counter() - chunk_started)
                    start = stop
                seconds = time.perf_counter() - started
                finite = math.isfinite(total) and bool(np.isfinite(model._params).all())
                if finite:
                    model._step = step
                    model._epoch += 1
                    history._record(float(total * normaliser), seconds, n)
            except BaseException:
                model._restore(snapshot)
                history._truncate(recorded)
                raise
            if not finite:
                model._restore(snapshot)
                _diverged(model, history, options)
                break

            if Xv is not None:
                val_loss = model.loss(Xv, Yv)
                history.val_loss.append(val_loss)
                if val_loss < best_loss - options.tol:
                    best_loss, waited = val_loss, 0
                    history.best_epoch = history.epochs - 1
                    best_state = model._snapshot()
                else:
                    waited += 1
            if options.checkpoint is not None and model._epoch % options.checkpoint_every == 0:
                from .io import save

                save(model, options.checkpoint)
            if bar is not None:
                postfix = dict(loss=f"{history.loss[-1]:.4g}", samples_s=f"{history.samples_per_second[-1]:,.0f}")
                if history.val_loss:
                    postfix["val_loss"] = f"{history.val_loss[-1]:.4g}"
                bar.set_postfix(postfix, refresh=False)
                bar.update(1)
            if options.early_stopping and waited >= options.patience:
                history.stop_reason = "early_stopping"
                break
            if any([callback(history.epochs - 1, history, model) is True for callback in options.callbacks]):
                history.stop_reason = "callback"
                break
    finally:
        if bar is not None:
            bar.close()
    if options.early_stopping and best_state is not None:
        model._params[...] = best_state[0]
        model._velocity[...] = best_state[1]
    return history


def _kernel_runner(model, X, Y, options, batch):
    """``run(order_slice, step, epoch, total) -> (total, step)`` for this fit's settings."""
    return epoch_runner(model._params, model._velocity, model._grad, model._workspace, model._plan,
                        model._loss_code, X, Y, options.lr, options.momentum, options.weight_decay,
                        options.nesterov, options.schedule, batch)


def epoch_runner(params, velocity, grad, workspace, plan, loss_code, X, Y, lr, momentum, weight_decay,
                 nesterov, schedule, batch, entries=None):
    """The compiled epoch ``MLP.fit`` runs, bound to one network's arrays and options.

    Returns ``run(order, step, epoch, total) -> (total, step)``, which trains
    on ``X[order], Y[order]`` (per sample if ``batch`` is 1, else in batches
    of ``batch``) and carries the running loss ``total`` and the update
    counter ``step`` from slice to slice.  ``Ensemble.fit`` binds one per
    member, so that its members run the very compiled functions ``MLP.fit``
    runs, with arguments of the same types; it passes one dict as
    ``entries`` to all of them, where the compiled loops are kept by loop
    and constants (the members' arrays have the same types), so that only
    the first member pays for looking them up.
    """
    cast = params.dtype.type
    lr, momentum, weight_decay = cast(lr), cast(momentum), cast(weight_decay)
    schedule, p1, p2 = schedule._kernel_args()

    # The loop sgd_epoch would choose, called directly (only it is compiled),
    # with what it compiles in: the tiny loop its architecture, the blocked and
    # general loops the network's codes (activations and loss).
    # per_sample_loop's Python form: the same choice without a compile.
    loop = _kernels.per_sample_loop.py_func(plan, momentum, weight_decay)
    per_sample = _kernels.PER_SAMPLE_LOOPS[loop]
    loop_velocity = _kernels.loop_velocity(loop, velocity, momentum)

    def per_sample_args(order, step, epoch, total):
        return (params, loop_velocity, plan, loss_code, X, Y, order, lr, schedule, p1, p2, step, epoch,
                momentum, nesterov, weight_decay, workspace, total)

    constants = _kernels.loop_constants(loop, plan, loss_code)
    if batch == 1 and constants:  # every call passes arguments of these types
        entries = {} if entries is None else entries
        if (loop, constants) not in entries:
            entries[loop, constants] = specialise(
                per_sample, *per_sample_args(np.empty(0, dtype=np.int64), 0, 0, 0.0), constants=constants)
        per_sample = entries[loop, constants]

    def run(order, step, epoch, total):
        if batch == 1:
            return per_sample(*per_sample_args(order, step, epoch, total))
        return _kernels.minibatch_epoch(params, velocity, grad, plan, loss_code, X, Y, order, batch, lr,
                                        schedule, p1, p2, step, epoch, momentum, nesterov, weight_decay,
                                        workspace, total)

    return run


def _diverged(model, history, options):
    message = (f"training diverged in epoch {model._epoch} (0-based): the loss or a parameter "
               f"became NaN or infinite at lr={options.lr}; the model keeps the parameters of "
               f"its last finite epoch. Try a smaller learning rate (e.g. lr={options.lr / 10:g})"
               + (" or less momentum" if options.momentum else "") + ".")
    history.stop_reason = "diverged"
    if options.on_divergence == "raise":
        raise DivergenceError(message, model._epoch, history)
    warnings.warn(message, DivergenceWarning, stacklevel=4)


def _progress_bar(options):
    if not options.progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        raise ImportError("progress=True needs tqdm: pip install 'nbprop[progress]'") from None
    return tqdm(total=options.epochs, unit="epoch", mininterval=0.25, leave=True)
