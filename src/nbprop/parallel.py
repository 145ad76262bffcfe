"""Many networks at once: :class:`Ensemble` trains N networks of one shape on every core.

``nbprop.Ensemble`` is the same class.

The networks are handed out one at a time to a few threads,
and each runs the compiled epoch of :meth:`nbprop.MLP.fit` itself: the same
machine code (the kernels release the GIL) on the same numbers in the same
order, so member ``i`` ends bit-identical to ``MLP(..., seed=seeds[i])``
trained alone with ``fit`` on the same data, learning rate and options.
Nothing is shared between networks while they train, so there is no
synchronisation inside an epoch and the work scales with the cores.

Why threads calling ``MLP.fit``'s kernels rather than one compiled call with
a ``prange`` over the members (this module's first design): a compiled
caller gets its own copy of every kernel it calls, optimised again inside
it, and under reassociation a copy may round differently, so the members
could differ from ``MLP.fit`` in the last bits depending on which copy the
process happened to compile or load first; and that caller was a second
compile of every per-network loop, about 30 s with an empty cache.  The
price is a Python call per member per slice of an epoch (microseconds,
against slices of about 0.1 s).

Why a class and not a function: training many networks is rarely one call.
An :class:`Ensemble` keeps every member's state (parameters, momentum,
update and epoch counters, shuffling generator) between calls, so ``fit``
can be called again to continue exactly; it predicts (the mean over members,
or every member's output); and each member is a plain :class:`nbprop.MLP`
that can be saved, copied, or trained on alone.

Threads: as many as :func:`numba.get_num_threads` says (by default all the
cores Numba sees, ``NUMBA_NUM_THREADS``; change it with
:func:`numba.set_num_threads`), or the ``n_threads`` argument of
:meth:`Ensemble.fit`, :meth:`Ensemble.predict` and :meth:`Ensemble.loss` for
that call only.  Different models can also be trained from a
:class:`concurrent.futures.ThreadPoolExecutor` of one's own.

This module imports only NumPy and Numba; running many fits on a Dask or Ray
cluster goes through the scikit-learn estimators and joblib (see the README).
"""

import contextlib
import math
import signal
import threading
import time
import warnings

import numba
import numpy as np

from . import _kernels, training
from ._jit import call_specialised
from ._validation import as_inputs, positive_int, real_array, real_number
from .model import MLP
from .training import DivergenceError, DivergenceWarning, History

__all__ = ["Ensemble"]


# Members' rows in the stacked arrays start at least this many bytes apart, on
# a boundary of that size, so that two threads never write into one cache line
# (nor into the pair of lines that x86 prefetchers fetch together).
_ROW_ALIGN = 128


def _padded(n_rows, n_cols, dtype):
    """Zeros of shape ``(n_rows, stride)``, ``stride >= n_cols``, rows 128-byte aligned and apart.

    Use ``array[m, :n_cols]`` for row ``m``.
    """
    itemsize = np.dtype(dtype).itemsize
    per_block = _ROW_ALIGN // itemsize
    stride = -(-n_cols // per_block) * per_block
    raw = np.zeros(n_rows * stride + per_block, dtype=dtype)
    skip = (-raw.ctypes.data % _ROW_ALIGN) // itemsize
    return raw[skip:skip + n_rows * stride].reshape(n_rows, stride)


def _run_members(task, members, n_threads):
    """``task(m)`` for every ``m`` in ``members``, on up to ``n_threads`` threads, the calling one included.

    The threads (started for the call) take the members one at a time, so
    every thread stays busy when members differ in work (``subsets`` of
    different sizes) or a core is shared with another process.  With one
    thread (or one member) the calling thread runs them in order.  If a
    task raises, or the caller is interrupted (Ctrl-C), no further member is
    started and the running ones finish before the first error is raised:
    nothing writes into the caller's arrays once this has returned or raised.
    """
    members = list(members)
    n_threads = min(n_threads, len(members))
    if n_threads <= 1:
        for m in members:
            task(m)
        return
    pending = iter(members)
    lock = threading.RLock()  # re-entrant: the Ctrl-C handler may run while its thread holds it
    done = threading.Condition(lock)
    state = dict(stopped=False, running=0)  # under the lock; running: tasks under way in helpers
    errors = []

    def take():
        """The next member to train, or _NO_MEMBER once stopped or all are taken."""
        with lock:
            if state["stopped"]:
                return _NO_MEMBER
            m = next(pending, _NO_MEMBER)
            if m is not _NO_MEMBER and threading.current_thread() is not caller:
                state["running"] += 1
            return m

    def stop(error):
        errors.append(error)
        with lock:
            state["stopped"] = True

    def helper():
        while (m := take()) is not _NO_MEMBER:
            try:
                task(m)
            except BaseException as error:
                stop(error)
            finally:
                with lock:
                    state["running"] -= 1
                    done.notify_all()

    caller = threading.current_thread()
    with _interrupts_recorded(lambda: stop(KeyboardInterrupt())):
        try:
            for _ in range(n_threads - 1):
                threading.Thread(target=helper, name="nbprop-ensemble", daemon=True).start()
            while (m := take()) is not _NO_MEMBER:
                task(m)
        except BaseException as error:  # a task's error, or a thread that could not start
            stop(error)
        with lock:  # stop handing out members, then wait for the helpers' running tasks
            state["stopped"] = True
            while state["running"]:
                done.wait()
    if errors:
        raise errors[0]


_NO_MEMBER = object()


@contextlib.contextmanager
def _interrupts_recorded(on_interrupt):
    """Inside: Ctrl-C calls ``on_interrupt()`` instead of raising where the main thread happens to be.

    An exception raised between any two bytecodes of the code that waits for
    the helpers could leave one of them running after the caller has gone;
    with the handler recording it, the caller stops handing out members,
    waits, and raises ``KeyboardInterrupt`` from ``_run_members`` itself.
    Only in the main thread, and only over Python's own handler (a handler
    the program installed stays in place).
    """
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return
    signal.signal(signal.SIGINT, lambda signum, frame: on_interrupt())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _whole(rounds, unit):
    """``rounds`` rounded down to a positive multiple of ``unit``."""
    return max(unit, rounds // unit * unit)


def _member_losses(first, params, workspaces, X, Y, members, n_threads):
    """Unscaled loss sums over ``X, Y`` of the networks ``params[m]``, ``m`` in ``members`` (NaN for the rest).

    Each is ``MLP.loss``'s kernel call (``first``: any member, for the
    architecture and loss), on its own workspace ``workspaces[m]``.
    """
    among = _kernels.network_codes(first._plan, first._loss_code)
    totals = np.full(len(params), np.nan)

    def loss(m):
        totals[m] = call_specialised(_kernels.loss_sum, params[m], first._plan, first._loss_code, X, Y,
                                     workspaces[m], constants=(among,))

    _run_members(loss, members, n_threads)
    return totals


def _thread_count(n_threads):
    """``n_threads`` checked, or by default Numba's current setting (``numba.get_num_threads``)."""
    if n_threads is None:
        return numba.get_num_threads()
    return positive_int(n_threads, "n_threads")


# -------------------------------------------------------------------- Ensemble


class Ensemble:
    """N networks of one architecture, trained together on every core.

    Member ``i`` is ``MLP(sizes, activation, output_activation, loss, dtype,
    seed=seeds[i])``.  :meth:`fit` trains all members, handed out to a few threads, each
    running the compiled epoch ``MLP.fit`` runs, and leaves each
    one exactly where :meth:`nbprop.MLP.fit` would have left it.

    Parameters
    ----------
    sizes : sequence of int
        Units per layer, input first, as for :class:`nbprop.MLP`.
    seeds : sequence of int
        One seed per member (``range(64)`` makes 64 members); the number of
        seeds is the number of members.  ``None`` entries draw fresh
        entropy, as ``MLP(seed=None)`` does.
    activation, output_activation, loss, dtype
        As for :class:`nbprop.MLP`, shared by every member.

    Attributes
    ----------
    members : list of MLP
        The networks.  Each is an ordinary :class:`nbprop.MLP`, and training
        one of them alone keeps the ensemble consistent (the ensemble reads
        its members' state at every call).
    params : ndarray, shape (n_members, n_params)
        The members' flat parameters stacked (a copy; assign to copy in).
    n_members, n_params : int
    history_ : list of History or None
        What the last :meth:`fit` did, one :class:`nbprop.History` per member.

    See Also
    --------
    Ensemble.from_members : wrap networks that already exist.

    Notes
    -----
    Equivalence with ``MLP.fit``: for the same seeds, data, subset and
    options, every member's parameters, momentum buffer, counters and
    shuffling generator equal, bit for bit, those of the same ``MLP``
    trained alone by ``fit`` (without ``seed=`` reseeding), whatever the
    number of threads.  The two calls draw each epoch's sample order from
    the member's own generator in the same way and run the same kernel.

    Examples
    --------
    >>> import numpy as np, nbprop
    >>> from nbprop.parallel import Ensemble
    >>> X = np.linspace(-1, 1, 32).reshape(-1, 1)
    >>> ens = Ensemble([1, 8, 1], seeds=range(4), activation="tanh")
    >>> hists = ens.fit(X, X ** 2, epochs=20, lr=[0.01, 0.02, 0.05, 0.1])
    >>> ens.params.shape, len(hists), hists[0].epochs
    ((4, 25), 4, 20)
    >>> alone = nbprop.MLP([1, 8, 1], activation="tanh", seed=2)
    >>> _ = alone.fit(X, X ** 2, epochs=20, lr=0.05)
    >>> bool((alone.params == ens.members[2].params).all())
    True
    >>> ens.predict(X).shape, ens.predict_members(X).shape
    ((32, 1), (4, 32, 1))
    """

    def __init__(self, sizes, seeds, activation="sigmoid", output_activation=None,
                 loss="half_sse", dtype="float64"):
        if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__len__"):
            raise TypeError(f"seeds: expected a sequence with one seed per member, such as "
                            f"range(8), got {seeds!r}")
        seeds = list(seeds)
        if not seeds:
            raise ValueError("seeds: expected at least one seed (one member), got an empty sequence")
        for i, seed in enumerate(seeds):
            if seed is not None:
                positive_int(seed, f"seeds[{i}]", minimum=0)
        members = [MLP(sizes, activation=activation, output_activation=output_activation,
                       loss=loss, dtype=dtype, seed=seed) for seed in seeds]
        self._adopt(members)

    @classmethod
    def from_members(cls, members):
        """An ensemble of existing networks (not copies: training changes them).

        Parameters
        ----------
        members : sequence of MLP
            Distinct networks with the same sizes, activations, loss and
            dtype.  Their state (parameters, momentum, counters, shuffling)
            is used as it is.

        Returns
        -------
        Ensemble

        Examples
        --------
        >>> import nbprop
        >>> from nbprop.parallel import Ensemble
        >>> nets = [nbprop.MLP([2, 3, 1], seed=s) for s in (7, 8)]
        >>> ens = Ensemble.from_members(nets)
        >>> ens.members[1] is nets[1], ens.n_members
        (True, 2)
        """
        ensemble = cls.__new__(cls)
        ensemble._adopt(members)
        return ensemble

    def _adopt(self, members):
        if isinstance(members, MLP) or not hasattr(members, "__len__"):
            raise TypeError(f"members: expected a sequence of nbprop.MLP, got {type(members).__name__}")
        members = list(members)
        if not members:
            raise ValueError("members: expected at least one MLP, got an empty sequence")
        first = members[0]
        seen = {}
        for i, member in enumerate(members):
            if not isinstance(member, MLP):
                raise TypeError(f"members[{i}]: expected an nbprop.MLP, got {type(member).__name__}")
            if id(member) in seen:
                raise ValueError(f"members[{i}]: the same MLP as members[{seen[id(member)]}]; "
                                 f"use .copy() for an independent one")
            seen[id(member)] = i
            for what in ("sizes", "activations", "loss_name", "dtype"):
                if getattr(member, what) != getattr(first, what):
                    raise ValueError(f"members[{i}]: every member needs the same {what} as "
                                     f"members[0], {getattr(first, what)!r}; got "
                                     f"{getattr(member, what)!r}")
        self.members = members
        self.history_ = None

    # ---------------------------------------------------------------- views

    @property
    def n_members(self):
        """Number of networks.

        Examples
        --------
        >>> from nbprop.parallel import Ensemble
        >>> Ensemble([2, 3, 1], seeds=range(5)).n_members
        5
        """
        return len(self.members)

    @property
    def n_params(self):
        """Parameters per network.

        Examples
        --------
        >>> from nbprop.parallel import Ensemble
        >>> Ensemble([2, 3, 1], seeds=range(5)).n_params   # 2*3 + 3 + 3*1 + 1
        13
        """
        return self.members[0].n_params

    @property
    def sizes(self):
        """Units per layer, input first.

        Examples
        --------
        >>> from nbprop.parallel import Ensemble
        >>> Ensemble([2, 3, 1], seeds=range(5)).sizes
        [2, 3, 1]
        """
        return list(self.members[0].sizes)

    @property
    def dtype(self):
        """The members' floating-point type.

        Examples
        --------
        >>> from nbprop.parallel import Ensemble
        >>> Ensemble([2, 3, 1], seeds=[0], dtype="float32").dtype
        dtype('float32')
        """
        return self.members[0].dtype

    @property
    def params(self):
        """The members' flat parameters as one ``(n_members, n_params)`` array (a copy).

        Assigning an array of that shape copies row ``i`` into member ``i``;
        a wrong shape or a non-finite value raises ``ValueError`` and
        changes nothing.

        Examples
        --------
        >>> import numpy as np, nbprop
        >>> from nbprop.parallel import Ensemble
        >>> ens = Ensemble([1, 1], seeds=[0, 1], activation="identity")
        >>> ens.params = [[2.0, 1.0], [3.0, 0.0]]
        >>> ens.members[0].params
        array([2., 1.])
        """
        return np.stack([member._params for member in self.members])

    @params.setter
    def params(self, stacked):
        array = real_array(stacked, "params")
        shape = (self.n_members, self.n_params)
        if array.shape != shape:
            raise ValueError(f"params: expected shape {shape} (n_members, n_params), got {array.shape}")
        with np.errstate(over="ignore"):
            converted = array.astype(self.dtype)
        if not np.isfinite(converted).all():
            row, col = (int(i) for i in np.argwhere(~np.isfinite(converted))[0])
            raise ValueError(f"params: expected finite numbers in {self.dtype.name}, got a "
                             f"non-finite value at index ({row}, {col})")
        with self._exclusive("params"):
            for member, row in zip(self.members, converted):
                member._params[...] = row

    def __len__(self):
        return len(self.members)

    def __repr__(self):
        return f"Ensemble(n_members={self.n_members}, {self.members[0]!r})"

    # ------------------------------------------------------------ inference

    def predict_members(self, X, n_threads=None):
        """Every member's outputs for ``X``, members computed in parallel.

        Parameters
        ----------
        X : array_like, shape (n, sizes[0]) or (n,)
            Samples, as for :meth:`nbprop.MLP.predict`.
        n_threads : int, optional
            Threads for this call; by default Numba's current setting.

        Returns
        -------
        ndarray, shape (n_members, n, sizes[-1])
            Row ``m`` equals ``members[m].predict(X)`` bit for bit.

        Examples
        --------
        >>> import nbprop
        >>> from nbprop.parallel import Ensemble
        >>> ens = Ensemble([2, 4, 1], seeds=range(3))
        >>> ens.predict_members([[0.0, 1.0], [1.0, 0.0]]).shape
        (3, 2, 1)
        """
        n_threads = _thread_count(n_threads)
        first = self.members[0]
        X = as_inputs(X, first.sizes[0], self.dtype)
        out = np.empty((self.n_members, X.shape[0], first.sizes[-1]), dtype=self.dtype)

        def predict(m):  # MLP.predict's kernel call
            member = self.members[m]
            _kernels.predict(member._params, member._plan, X, out[m], member._new_workspace())

        _run_members(predict, range(self.n_members), n_threads)
        return out

    def predict(self, X, n_threads=None):
        """The ensemble's prediction: the mean over members of their outputs.

        For classifiers (softmax or sigmoid outputs) this averages the
        members' probabilities.

        Parameters
        ----------
        X : array_like, shape (n, sizes[0]) or (n,)
        n_threads : int, optional
            Threads for this call; by default Numba's current setting.

        Returns
        -------
        ndarray, shape (n, sizes[-1])

        Examples
        --------
        >>> import nbprop
        >>> from nbprop.parallel import Ensemble
        >>> ens = Ensemble([1, 1], seeds=[0, 1], activation="identity")
        >>> ens.params = [[2.0, 0.0], [4.0, 0.0]]
        >>> ens.predict([1.0, 2.0])
        array([[3.],
               [6.]])
        """
        return self.predict_members(X, n_threads=n_threads).mean(axis=0)

    def loss(self, X, Y, n_threads=None):
        """Every member's loss over ``X, Y`` (see :meth:`nbprop.MLP.loss`).

        Parameters
        ----------
        X : array_like, shape (n, sizes[0]) or (n,)
            Samples, as for :meth:`nbprop.MLP.loss`.
        Y : array_like, shape (n, sizes[-1])
            Targets, as for :meth:`nbprop.MLP.loss`.
        n_threads : int, optional
            Threads for this call; by default Numba's current setting.

        Returns
        -------
        ndarray, shape (n_members,)
            Entry ``m`` equals ``members[m].loss(X, Y)``.

        Examples
        --------
        >>> import nbprop
        >>> from nbprop.parallel import Ensemble
        >>> ens = Ensemble([1, 1], seeds=[0, 1], activation="identity", loss="ssr")
        >>> ens.params = [[2.0, 1.0], [1.0, 1.0]]
        >>> ens.loss([0.0, 1.0], [1.0, 2.0])
        array([1., 0.])
        """
        n_threads = _thread_count(n_threads)
        first = self.members[0]
        X, Y = first._data(X, Y)
        params = [member._params for member in self.members]
        workspaces = [member._new_workspace() for member in self.members]
        totals = _member_losses(first, params, workspaces, X, Y, range(self.n_members), n_threads)
        return totals * first._normaliser(X.shape[0])

    def _workspaces(self):
        """One workspace per member, of the shape ``MLP`` uses, in padded rows (see ``_padded``)."""
        rows, units = self.members[0]._workspace.shape
        stacked = _padded(self.n_members, rows * units, self.dtype)
        return [stacked[m, :rows * units].reshape(rows, units) for m in range(self.n_members)]

    # ------------------------------------------------------------- training

    def fit(self, X, Y, epochs=1, lr=0.01, batch_size=1, shuffle=True, momentum=0.0,
            nesterov=False, weight_decay=0.0, schedule=None, *, subsets=None, validation=None,
            on_divergence="raise", n_threads=None):
        """Train every member, members in parallel, each exactly as ``MLP.fit`` would.

        Parameters
        ----------
        X : array_like, shape (n, sizes[0])
            Training inputs, shared by all members.
        Y : array_like, shape (n, sizes[-1])
            Targets, as for :meth:`nbprop.MLP.fit`.
        epochs : int, default 1
            Passes over each member's data.
        lr : float or sequence of float, default 0.01
            Learning rate, one for all or one per member, each > 0.
        batch_size : int or None, default 1
            As for :meth:`nbprop.MLP.fit`: 1 is per-sample SGD, k minibatch
            SGD, None full-batch gradient descent (per member's data).
        shuffle : bool, default True
            Each member visits its samples in a new order every epoch,
            drawn from its own generator, as ``MLP.fit`` draws it.
        momentum : float or sequence of float, default 0
            One for all or one per member, each in [0, 1).
        nesterov : bool, default False
            Nesterov momentum (every member then needs momentum > 0).
        weight_decay : float or sequence of float, default 0
            L2 coefficient on weights, one for all or one per member, >= 0.
        schedule : None, "constant" or Schedule
            Learning-rate schedule shared by all members; each member's own
            update and epoch counters drive it.
        subsets : sequence of array_like of int, optional
            One array of row indices of ``X`` per member: member ``m``
            trains on ``X[subsets[m]]`` (repeats allowed, e.g. bootstrap
            samples or cross-validation folds), exactly as
            ``fit(X[subsets[m]], Y[subsets[m]])`` would.
        validation : (X_val, Y_val), optional
            Validation data; each member's loss on it after every epoch is
            recorded in its ``History.val_loss``.
        on_divergence : {"raise", "stop"}
            When a member's loss or a parameter becomes NaN or infinite, that
            member goes back to its last finite epoch and trains no more;
            the other members complete the epoch.  Then ``"raise"`` raises
            :class:`nbprop.DivergenceError` (its ``history`` is the list of
            histories, its ``epoch`` the 0-based epoch in which the first
            of those members diverged, as ``MLP.fit`` reports it) and
            ``"stop"`` warns and carries on with the rest.
        n_threads : int, optional
            Threads for this call; by default Numba's current setting
            (:func:`numba.get_num_threads`).

        Returns
        -------
        list of History
            One per member, also kept as ``history_`` and as each member's
            ``history_``.  ``seconds`` is the wall time of the whole
            ensemble's epoch, so ``samples_per_second`` is one member's share.

        Notes
        -----
        Ctrl-C (or any exception) leaves every member at the end of its last
        completed epoch, as with ``MLP.fit``; each epoch runs as kernel calls
        over slices of about 0.1 s.  The members are trained in working
        copies and receive their new state when the call returns or stops.
        Every member is locked for the call: a member being trained by
        another thread is refused.

        Examples
        --------
        >>> import numpy as np, nbprop
        >>> from nbprop.parallel import Ensemble
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(40, 3)); Y = X.sum(axis=1)
        >>> ens = Ensemble([3, 5, 1], seeds=range(3), activation="tanh")
        >>> folds = [np.arange(40)[np.arange(40) % 3 != k] for k in range(3)]
        >>> hists = ens.fit(X, Y, epochs=5, lr=0.01, momentum=0.9, subsets=folds)
        >>> [h.epochs for h in hists]
        [5, 5, 5]
        """
        first = self.members[0]
        X, Y = first._data(X, Y)
        n_threads = _thread_count(n_threads)
        n = self.n_members
        lrs = _per_member(lr, "lr", n, low_open=True)
        momenta = _per_member(momentum, "momentum", n, high=1.0)
        decays = _per_member(weight_decay, "weight_decay", n)
        if isinstance(nesterov, (bool, np.bool_)) and nesterov and not all(momenta):
            bad = [i for i, value in enumerate(momenta) if value == 0.0]
            raise ValueError(f"nesterov: Nesterov momentum needs momentum > 0, got momentum=0 for "
                             f"member(s) {bad}")
        options = training.fit_options(
            epochs=epochs, lr=lrs[0], batch_size=batch_size, shuffle=shuffle, momentum=momenta[0],
            nesterov=nesterov, weight_decay=decays[0], schedule=schedule, seed=None,
            on_divergence=on_divergence, checkpoint=None, checkpoint_every=1, early_stopping=False,
            patience=10, tol=0.0, callbacks=(), progress=False)
        rows = _check_subsets(subsets, n, X.shape[0])
        Xv = Yv = None
        if validation is not None:
            if not (isinstance(validation, (tuple, list)) and len(validation) == 2):
                raise TypeError(f"validation: expected a pair (X_val, Y_val), got {validation!r}")
            Xv, Yv = first._data(validation[0], validation[1], names=("validation[0]", "validation[1]"))
        with self._exclusive("fit"):
            return self._train(X, Y, rows, options, lrs, momenta, decays, Xv, Yv, n_threads)

    def _train(self, X, Y, rows, options, lrs, momenta, decays, Xv, Yv, n_threads):
        members, n = self.members, self.n_members
        first = members[0]
        dtype = self.dtype
        lengths = np.array([X.shape[0] if r is None else r.shape[0] for r in rows], dtype=np.int64)
        batches = lengths.copy() if options.batch_size is None else np.minimum(lengths, options.batch_size)
        n_rounds = int(max(-(-lengths // batches)))  # batches in the longest member's epoch

        # Working copies of every member's state, in padded rows (see _padded);
        # the members get them back when the call ends, however it ends.
        P = self.n_params
        params, velocity, grad = (_padded(n, P, dtype) for _ in range(3))
        for m, member in enumerate(members):
            params[m, :P] = member._params
            velocity[m, :P] = member._velocity
        steps = np.array([member._step for member in members], dtype=np.int64)
        epoch_of = np.array([member._epoch for member in members], dtype=np.int64)
        rngs = [member._shuffle_rng for member in members]
        workspaces = self._workspaces()
        orders = np.zeros((n, int(lengths.max())), dtype=np.int64)
        totals = np.zeros(n, dtype=np.float64)
        active = np.ones(n, dtype=np.bool_)  # members still training (not diverged)
        normalisers = [first._normaliser(int(length)) for length in lengths]

        histories = [History() for _ in members]
        self.history_ = histories
        for member, history in zip(members, histories):
            member.history_ = history
        started = time.perf_counter()
        # Each member's epoch, bound to its rows of the working copies: the
        # compiled functions MLP.fit would run for it, with arguments of the
        # same types (compiled or loaded by the first member that needs them).
        entries = {}
        runners = [training.epoch_runner(params[m, :P], velocity[m, :P], grad[m, :P], workspaces[m],
                                         first._plan, first._loss_code, X, Y, lrs[m], momenta[m], decays[m],
                                         options.nesterov, options.schedule, int(batches[m]), entries)
                   for m in range(n)]
        for m in range(n):  # compiles what the creation did not (the minibatch epoch); trains nothing
            runners[m](orders[m, :0], int(steps[m]), int(epoch_of[m]), 0.0)
        compile_seconds = time.perf_counter() - started
        for history in histories:
            history.compile_seconds = compile_seconds

        def run(first_round, last_round):
            """Batches ``[first_round, last_round)`` of the current epoch of every active member."""
            def train_member(m):
                batch = int(batches[m])
                start, stop = first_round * batch, min(last_round * batch, int(lengths[m]))
                if start < stop:
                    totals[m], steps[m] = runners[m](orders[m, start:stop], int(steps[m]), int(epoch_of[m]),
                                                     float(totals[m]))

            _run_members(train_member, np.flatnonzero(active), n_threads)

        # Slices of the epoch, counted in batches, adapted to about
        # training.CHUNK_SECONDS per call so that Ctrl-C is honoured promptly.
        # Per-sample members take slices in whole blocks of _kernels.blocked_sgd_epoch,
        # so that where a slice ends never changes the result (see MLP.fit).
        unit = _kernels.SAMPLE_BLOCK if int(batches.min()) == 1 else 1
        slice_rounds = _whole(max(1, 256 // int(batches.max())), unit)
        saved = tuple(np.empty_like(array) for array in (params, velocity, steps, epoch_of)) + ({},)
        try:
            for _ in range(options.epochs):
                live = np.flatnonzero(active)
                if live.size == 0:
                    break
                # As in MLP.fit, the epoch is all or nothing: any exception (Ctrl-C
                # included) puts every member back to its state before the epoch.
                for copy, array in zip(saved, (params, velocity, steps, epoch_of)):
                    copy[...] = array
                saved[4].clear()
                saved[4].update({m: rngs[m].bit_generator.state for m in live})
                recorded = [history.epochs for history in histories]
                try:
                    for m in live:
                        length = int(lengths[m])
                        perm = (rngs[m].permutation(length) if options.shuffle
                                else np.arange(length, dtype=np.int64))
                        orders[m, :length] = perm if rows[m] is None else rows[m][perm]
                    totals[:] = 0.0
                    started = time.perf_counter()
                    start = 0
                    while start < n_rounds:
                        stop = min(n_rounds, start + slice_rounds)
                        slice_started = time.perf_counter()
                        run(start, stop)
                        elapsed = time.perf_counter() - slice_started
                        if elapsed > 0:
                            slice_rounds = _whole(min(n_rounds, int((stop - start) / elapsed
                                                                    * training.CHUNK_SECONDS)), unit)
                        start = stop
                    seconds = time.perf_counter() - started
                    finite = np.isfinite(totals) & np.isfinite(params[:, :P]).all(axis=1)
                    done, diverged = live[finite[live]], live[~finite[live]]
                    epoch_of[done] += 1
                    for m in done:
                        histories[m]._record(float(totals[m] * normalisers[m]), seconds, int(lengths[m]))
                    for m in diverged:  # back to the start of the epoch, and out
                        params[m], velocity[m] = saved[0][m], saved[1][m]
                        steps[m] = saved[2][m]
                        rngs[m].bit_generator.state = saved[4][m]
                    active[diverged] = False
                    if Xv is not None and done.size:
                        losses = _member_losses(first, [params[m, :P] for m in range(n)], workspaces,
                                                Xv, Yv, done, n_threads)
                        for m in done:
                            histories[m].val_loss.append(float(losses[m] * first._normaliser(Xv.shape[0])))
                except BaseException:
                    params[...], velocity[...], steps[...], epoch_of[...] = saved[:4]
                    for m, state in saved[4].items():
                        rngs[m].bit_generator.state = state
                    for history, epochs in zip(histories, recorded):
                        history._truncate(epochs)
                    raise
                if diverged.size:
                    self._diverged([int(m) for m in diverged], [int(epoch_of[m]) for m in diverged],
                                   lrs, momenta, options, histories)
        finally:
            for m, member in enumerate(members):
                member._params[...] = params[m, :P]
                member._velocity[...] = velocity[m, :P]
                member._step = int(steps[m])
                member._epoch = int(epoch_of[m])
        return histories

    def _diverged(self, diverged, epochs, lrs, momenta, options, histories):
        """Mark, then warn or raise for, the members ``diverged`` in their 0-based ``epochs``.

        The members' own counters are written back only when ``fit`` ends, so
        the epochs come from the working copies.
        """
        for m in diverged:
            histories[m].stop_reason = "diverged"
        rates = sorted({lrs[m] for m in diverged})
        where = (f"epoch {epochs[0]}" if len(set(epochs)) == 1
                 else f"epochs {epochs} respectively")
        message = (f"training diverged for member(s) {diverged} in {where} (0-based): the "
                   f"loss or a parameter became NaN or infinite at lr={rates[0] if len(rates) == 1 else rates}; "
                   f"they keep the parameters of their last finite epoch and train no more, the "
                   f"other members went on. Try a smaller learning rate"
                   + (" or less momentum" if any(momenta[m] for m in diverged) else "") + ".")
        if options.on_divergence == "raise":
            raise DivergenceError(message, epochs[0], histories)
        warnings.warn(message, DivergenceWarning, stacklevel=4)

    @contextlib.contextmanager
    def _exclusive(self, what):
        """Hold every member's training lock (refusing members busy in another thread)."""
        with contextlib.ExitStack() as stack:
            for i, member in enumerate(self.members):
                try:
                    stack.enter_context(member._exclusive(what))
                except RuntimeError as error:
                    raise RuntimeError(f"members[{i}]: {error}") from None
            yield


def _per_member(value, name, n, low=0.0, high=math.inf, low_open=False):
    """One float per member from a scalar or a sequence of ``n``; errors name ``name[i]``."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        return [real_number(value, name, low=low, high=high, low_open=low_open)] * n
    values = value.tolist() if isinstance(value, np.ndarray) else list(value)
    if len(values) != n or any(hasattr(v, "__len__") for v in values):
        raise ValueError(f"{name}: expected a number, or a sequence of {n} numbers (one per "
                         f"member), got {value!r}")
    return [real_number(v, f"{name}[{i}]", low=low, high=high, low_open=low_open)
            for i, v in enumerate(values)]


def _check_subsets(subsets, n_members, n_samples):
    """One int64 index array per member (or None for all of ``X``); errors name ``subsets[i]``."""
    if subsets is None:
        return [None] * n_members
    if isinstance(subsets, (str, bytes)) or not hasattr(subsets, "__len__"):
        raise TypeError(f"subsets: expected one array of row indices per member, got {subsets!r}")
    if len(subsets) != n_members:
        raise ValueError(f"subsets: expected {n_members} index arrays (one per member), got {len(subsets)}")
    rows = []
    for i, subset in enumerate(subsets):
        name = f"subsets[{i}]"
        array = real_array(subset, name)
        if array.ndim != 1 or array.dtype.kind not in "iu":
            raise TypeError(f"{name}: expected a 1-D array of integer row indices of X, got "
                            f"dtype {array.dtype} shape {array.shape}")
        if array.shape[0] == 0:
            raise ValueError(f"{name}: expected at least one row index, got none")
        if array.min() < 0 or array.max() >= n_samples:
            raise ValueError(f"{name}: row indices must lie in [0, {n_samples}) (X has {n_samples} "
                             f"rows), got values in [{array.min()}, {array.max()}]")
        rows.append(np.ascontiguousarray(array, dtype=np.int64))
    return rows
