"""The ``MLP`` class: validation, buffers, and calls into the kernels."""

import numbers
import threading
from contextlib import contextmanager

import numpy as np

from . import _kernels, activations, losses, training
from ._jit import call_specialised
from ._layout import ACT_CODE, bias_views, make_plan, weight_views
from ._validation import as_inputs, as_targets, positive_int, real_array
from .training import History  # noqa: F401  (documented as nbprop.model.History too)

DTYPES = {"float64": np.float64, "float32": np.float32}
# Layers whose activation is zero or linear for negative inputs get He
# initialisation; the saturating ones get Glorot's.
HE_INIT = {activations.RELU, activations.LEAKY_RELU, activations.ELU}


class MLP:
    """A multilayer perceptron trained by backpropagation in compiled kernels.

    Parameters
    ----------
    sizes : sequence of int
        Units per layer, input first: ``[1, 2, 1]`` is one input, two hidden
        units and one output.  At least two entries, each at least 1.
    activation : str or sequence of str, default "sigmoid"
        Hidden-layer activation, one name for all hidden layers or one per
        hidden layer: ``identity``, ``sigmoid``, ``tanh``, ``relu``,
        ``leaky_relu``, ``softplus``, ``elu``.
    output_activation : str, optional
        Output-layer activation: any hidden activation or ``softmax``.  By
        default ``sigmoid`` for ``loss="bce"``, ``softmax`` for
        ``loss="cross_entropy"`` and ``identity`` otherwise.
    loss : str, default "half_sse"
        ``half_sse`` (1/2 sum of squared errors), ``ssr`` (sum of squared
        residuals), ``mse`` (mean over samples and outputs), ``bce`` (binary
        cross-entropy with a sigmoid output) or ``cross_entropy`` (with a
        softmax output).  Sums run over samples and outputs.
    dtype : {"float64", "float32"}, default "float64"
        Floating-point type of the parameters and of all computation.
    seed : int, optional
        Seeds the initial weights and the shuffling in :meth:`fit`.  The same
        seed, data and calls give bit-identical parameters.

    Attributes
    ----------
    params : ndarray
        The flat parameters ``[W0.ravel(), b0, W1.ravel(), b1, ...]``.
    weights, biases : tuple of ndarray
        Writable views ``W_l`` of shape ``(sizes[l+1], sizes[l])`` and ``b_l``
        of shape ``(sizes[l+1],)`` into ``params``.
    n_params : int
        Number of parameters.

    Notes
    -----
    Weights start Glorot-uniform (He-uniform for relu, leaky_relu and elu
    layers), biases at zero.

    Examples
    --------
    >>> import nbprop
    >>> net = nbprop.MLP([1, 2, 1], activation="softplus", loss="ssr", seed=0)
    >>> net.n_params
    7
    >>> net.predict([0.0, 1.0]).shape
    (2, 1)
    """

    def __init__(self, sizes, activation="sigmoid", output_activation=None, loss="half_sse",
                 dtype="float64", seed=None):
        sizes = _check_sizes(sizes)
        hidden = _check_hidden_activations(activation, len(sizes) - 2)
        loss_code = losses.code_of(loss)
        if output_activation is None:
            output_activation = losses.DEFAULT_OUTPUT.get(loss, "identity")
        output_code = activations.code_of(output_activation, activations.OUTPUT_ACTIVATIONS,
                                          "output_activation")
        _check_loss_output(loss_code, output_code)
        dtype = _check_dtype(dtype)
        if seed is not None:
            seed = positive_int(seed, "seed", minimum=0)

        init_seed, shuffle_seed = np.random.SeedSequence(seed).spawn(2)
        self._setup(sizes, hidden + [output_activation], loss, dtype, seed)
        self._shuffle_rng = np.random.default_rng(shuffle_seed)
        self._initialise(np.random.default_rng(init_seed))

    def _setup(self, sizes, activation_names, loss, dtype, seed):
        """Allocate parameters, views, workspace and optimiser state."""
        self.sizes = list(sizes)
        self.activations = list(activation_names)
        self.loss_name = loss
        self.dtype = np.dtype(dtype)
        self.seed = seed
        self._loss_code = losses.LOSSES[loss]
        codes = [activations.OUTPUT_ACTIVATIONS[name] for name in activation_names]
        self._plan, self.n_params, n_units = make_plan(self.sizes, codes)
        self._params = np.zeros(self.n_params, dtype=self.dtype)
        self._weights = tuple(weight_views(self._params, self._plan))
        self._biases = tuple(bias_views(self._params, self._plan))
        self._workspace = np.zeros((_kernels.N_WORKSPACE_ROWS, n_units), dtype=self.dtype)
        self._grad = np.zeros(self.n_params, dtype=self.dtype)
        self._velocity = np.zeros(self.n_params, dtype=self.dtype)
        self._step = 0  # parameter updates made so far (drives InverseScaling)
        self._epoch = 0  # completed epochs (drives StepDecay)
        self._busy = threading.Lock()  # held while fit runs: one trainer per model
        self.history_ = None

    def _initialise(self, rng):
        for W, code in zip(self._weights, self._plan[:, ACT_CODE]):
            fan_out, fan_in = W.shape
            limit = np.sqrt(6.0 / fan_in) if code in HE_INIT else np.sqrt(6.0 / (fan_in + fan_out))
            W[...] = rng.uniform(-limit, limit, size=W.shape)

    # ------------------------------------------------------------------ views

    @property
    def params(self):
        """The flat parameter array (live: writing into it changes the model).

        Assigning copies a 1-D array of length ``n_params`` in; a wrong length
        or a non-finite value raises ``ValueError`` and changes nothing.

        Examples
        --------
        >>> import nbprop
        >>> net = nbprop.MLP([1, 1], activation="identity")
        >>> net.params = [2.0, 1.0]            # W0 = [[2]], b0 = [1]
        >>> net.params, net.predict([3.0]).item()
        (array([2., 1.]), 7.0)
        """
        return self._params

    @params.setter
    def params(self, flat):
        array = real_array(flat, "params")
        if array.shape != (self.n_params,):
            raise ValueError(f"params: expected a 1-D array of length {self.n_params}, got shape {array.shape}")
        with np.errstate(over="ignore"):
            converted = array.astype(self.dtype)
        if not np.isfinite(converted).all():
            raise ValueError(f"params: expected finite numbers in {self.dtype.name}, "
                             f"got a non-finite value at index {int(np.argmin(np.isfinite(converted)))}")
        with self._exclusive("params"):
            self._params[...] = converted

    @property
    def weights(self):
        """Writable views ``W_l``, shape ``(sizes[l+1], sizes[l])``, into ``params``.

        Examples
        --------
        >>> import nbprop
        >>> net = nbprop.MLP([3, 2, 1], seed=0)
        >>> [W.shape for W in net.weights]
        [(2, 3), (1, 2)]
        >>> net.weights[1][0, 1] = 0.5         # writes straight into net.params
        >>> float(net.params[3 * 2 + 2 + 1])
        0.5
        """
        return self._weights

    @property
    def biases(self):
        """Writable views ``b_l``, shape ``(sizes[l+1],)``, into ``params``.

        Examples
        --------
        >>> import nbprop
        >>> net = nbprop.MLP([3, 2, 1], seed=0)
        >>> [b.shape for b in net.biases]
        [(2,), (1,)]
        """
        return self._biases

    @property
    def output_activation(self):
        """Name of the output layer's activation.

        Examples
        --------
        >>> import nbprop
        >>> nbprop.MLP([2, 1], loss="bce").output_activation
        'sigmoid'
        """
        return self.activations[-1]

    # -------------------------------------------------------------- inference

    def predict(self, X):
        """Network outputs for the samples in ``X``.

        Parameters
        ----------
        X : array_like, shape (n, sizes[0]) or (n,)
            Samples.  A 1-D ``X`` is ``n`` samples when ``sizes[0] == 1`` and
            one sample otherwise.

        Returns
        -------
        ndarray, shape (n, sizes[-1])

        Examples
        --------
        >>> import nbprop
        >>> net = nbprop.MLP([2, 3, 1], seed=0)
        >>> net.predict([0.5, -0.5]).shape
        (1, 1)
        """
        # The kernel checks the inputs are finite as it packs them: a separate
        # pass of np.isfinite over a large X would read it from memory once
        # more (a tenth of the time on 784-256-10).
        inputs = as_inputs(X, self.sizes[0], self.dtype, check_finite=False)
        out = np.empty((inputs.shape[0], self.sizes[-1]), dtype=self.dtype)
        if not _kernels.predict(self._params, self._plan, inputs, out, self._new_workspace()):
            as_inputs(X, self.sizes[0], self.dtype)  # raises, naming the first non-finite input
        return out

    def loss(self, X, Y):
        """The loss over the samples ``X`` with targets ``Y`` (see ``loss`` in the class docs).

        Examples
        --------
        >>> import nbprop
        >>> net = nbprop.MLP([1, 1], activation="identity", loss="ssr")
        >>> net.params = [2.0, 1.0]          # y' = 2 x + 1
        >>> net.loss([0.0, 1.0], [1.0, 2.0])  # residuals 0 and -1
        1.0
        """
        X, Y = self._data(X, Y)
        total = call_specialised(_kernels.loss_sum, self._params, self._plan, self._loss_code, X, Y,
                                 self._new_workspace(), constants=(_kernels.network_codes(self._plan, self._loss_code),))
        return float(total * self._normaliser(X.shape[0]))

    def gradient(self, X, Y):
        """Gradient of :meth:`loss` over ``X, Y`` with respect to :attr:`params`.

        Returns
        -------
        ndarray, shape (n_params,)
            Same layout as :attr:`params`.

        Examples
        --------
        >>> import nbprop
        >>> net = nbprop.MLP([1, 1], activation="identity", loss="ssr")
        >>> net.params = [2.0, 1.0]
        >>> net.gradient([1.0], [2.0])       # d/dw (2x+1-y)^2 = 2 r x, d/db = 2 r, r = 1
        array([2., 2.])
        """
        X, Y = self._data(X, Y)
        grad = np.zeros(self.n_params, dtype=self.dtype)
        order = np.arange(X.shape[0], dtype=np.int64)
        _kernels.gradient_sum(self._params, self._plan, self._loss_code, X, Y, order,
                              0, X.shape[0], grad, self._new_workspace())
        return grad

    # --------------------------------------------------------------- training

    def fit(self, X, Y, epochs=1, lr=0.01, batch_size=1, shuffle=True, momentum=0.0,
            nesterov=False, weight_decay=0.0, schedule=None, seed=None, *, validation=None,
            early_stopping=False, patience=10, tol=0.0, callbacks=(), progress=False,
            on_divergence="raise", checkpoint=None, checkpoint_every=1):
        """Train by stochastic gradient descent.

        Every step is ``params -= lr_t * step`` with the gradient of the loss
        over that step's samples (see :mod:`nbprop.optim` for momentum).

        Parameters
        ----------
        X : array_like, shape (n, sizes[0])
            Training inputs.
        Y : array_like, shape (n, sizes[-1])
            Targets; 1-D for a single output, or integer class labels with
            ``loss="cross_entropy"``.
        epochs : int, default 1
            Passes over the data.
        lr : float, default 0.01
            Learning rate, > 0.
        batch_size : int or None, default 1
            1: per-sample SGD, forward, backward and update fused per sample.
            k: minibatch SGD (the last batch of an epoch may be smaller).
            None: full-batch gradient descent, one step per epoch.
        shuffle : bool, default True
            Visit samples in a new random order each epoch; ``False`` visits
            them in order.
        momentum : float, default 0
            Momentum coefficient in [0, 1).
        nesterov : bool, default False
            Use Nesterov momentum (needs ``momentum > 0``).
        weight_decay : float, default 0
            L2 penalty coefficient: adds ``weight_decay * w`` to the gradient
            of every weight (biases are not decayed).
        schedule : None, "constant" or Schedule
            Learning-rate schedule: :class:`nbprop.InverseScaling` or
            :class:`nbprop.StepDecay`.  Its step and epoch counters run over
            the model's whole life, so two calls of ``fit`` continue where
            the first stopped.
        seed : int, optional
            Reseeds the model's shuffling generator before training; by
            default the generator seeded by the constructor continues.
        validation : (X_val, Y_val) or float, optional
            Validation data, or the fraction of ``X`` to hold out for it;
            its loss after each epoch is recorded in ``History.val_loss``.
        early_stopping : bool, default False
            Stop when the validation loss has not improved by more than
            ``tol`` for ``patience`` epochs, and restore the parameters of
            the best epoch.  Needs ``validation``.
        patience, tol : int, float
            See ``early_stopping``.
        callbacks : callable or sequence of callables
            Each called after every epoch as ``f(epoch, history, model)``;
            returning ``True`` stops training.
        progress : bool, default False
            Show a tqdm progress bar (epoch, loss, samples per second).
        on_divergence : {"raise", "stop"}
            When the loss or a parameter becomes NaN or infinite, restore the
            last finite epoch and raise :class:`nbprop.DivergenceError`, or
            warn (:class:`nbprop.DivergenceWarning`) and stop.
        checkpoint : path, optional
            Save the model and its optimiser state there (atomically) every
            ``checkpoint_every`` epochs; :func:`nbprop.load` resumes exactly.
        checkpoint_every : int, default 1

        Returns
        -------
        History
            Also kept as ``model.history_``, which holds the completed epochs
            even when the fit is interrupted.

        Notes
        -----
        Ctrl-C (or an exception from a callback) leaves the model at the end
        of its last completed epoch; calling ``fit`` again continues exactly.
        A model may be trained by one thread at a time; different models
        train in parallel threads (the kernels release the GIL).  ``X`` and
        ``Y`` must not share memory with the model's own parameters (views
        of ``params``, ``weights`` or ``biases``): ``ValueError``, since fit
        overwrites them as it reads the data; pass copies.

        Examples
        --------
        >>> import nbprop
        >>> net = nbprop.MLP([2, 2, 1], activation="tanh", seed=0)
        >>> X = [[0, 0], [0, 1], [1, 0], [1, 1]]
        >>> hist = net.fit(X, [0, 1, 1, 0], epochs=5, lr=0.1)
        >>> hist.epochs
        5
        """
        X, Y = self._data(X, Y)
        for name, data in (("X", X), ("Y", Y)):
            # The kernels are compiled on the promise that their arrays do not
            # overlap (_jit.kernel); fit writes into params as it reads X and Y.
            if np.may_share_memory(data, self._params):
                raise ValueError(f"{name}: shares memory with this model's parameters (params, weights or "
                                 f"biases), which fit overwrites as it reads {name}; pass a copy, "
                                 f"e.g. {name}.copy()")
        options = training.fit_options(
            epochs, lr, batch_size, shuffle, momentum, nesterov, weight_decay, schedule, seed,
            on_divergence, checkpoint, checkpoint_every, early_stopping, patience, tol,
            callbacks, progress)
        if early_stopping and validation is None:
            raise ValueError("early_stopping: needs validation data, e.g. validation=0.1")
        with self._exclusive("fit"):
            if options.seed is not None:
                self._shuffle_rng = np.random.default_rng(options.seed)
            X, Y, X_val, Y_val = training.split_validation(self, X, Y, validation)
            return training.train(self, X, Y, options, X_val, Y_val)

    # ---------------------------------------------------------------- helpers

    def _data(self, X, Y, names=("X", "Y")):
        X = as_inputs(X, self.sizes[0], self.dtype, names[0])
        Y = as_targets(Y, X.shape[0], self.sizes[-1], self.dtype, self._loss_code, names[1])
        return X, Y

    def _new_workspace(self):
        """Scratch space for one read-only call, so such calls are thread-safe."""
        return np.empty_like(self._workspace)

    @contextmanager
    def _exclusive(self, what):
        if not self._busy.acquire(blocking=False):
            raise RuntimeError(f"{what}: this model is being trained by another thread; a model "
                               f"may be trained by one thread at a time (use copy() for another)")
        try:
            yield
        finally:
            self._busy.release()

    def _snapshot(self):
        """Everything an epoch changes: parameters, optimiser state, shuffling state."""
        return (self._params.copy(), self._velocity.copy(), self._step, self._epoch,
                self._shuffle_rng.bit_generator.state)

    def _restore(self, snapshot):
        params, velocity, self._step, self._epoch, rng_state = snapshot
        self._params[...] = params
        self._velocity[...] = velocity
        self._shuffle_rng.bit_generator.state = rng_state

    def _state(self):
        """The whole model as plain values and arrays: for copy, pickle and files."""
        return {
            "sizes": list(self.sizes),
            "activations": list(self.activations),
            "loss": self.loss_name,
            "dtype": self.dtype.name,
            "seed": self.seed,
            "params": self._params.copy(),
            "velocity": self._velocity.copy(),
            "step": self._step,
            "epoch": self._epoch,
            "shuffle_rng": self._shuffle_rng.bit_generator.state,
        }

    @classmethod
    def _from_state(cls, state):
        """Rebuild a model from :meth:`_state`, validating every field."""
        model = cls(state["sizes"], activation=state["activations"][:-1],
                    output_activation=state["activations"][-1], loss=state["loss"],
                    dtype=state["dtype"], seed=state["seed"])
        model.params = state["params"]
        velocity = real_array(state["velocity"], "velocity")
        if velocity.shape != (model.n_params,) or not np.isfinite(velocity).all():
            raise ValueError(f"velocity: expected {model.n_params} finite numbers, got shape {velocity.shape}")
        model._velocity[...] = velocity
        for name in ("step", "epoch"):
            setattr(model, "_" + name, positive_int(state[name], name, minimum=0))
        try:
            model._shuffle_rng.bit_generator.state = state["shuffle_rng"]
        except (TypeError, ValueError, KeyError) as error:
            raise ValueError(f"shuffle_rng: not a valid PCG64 generator state ({error!r})") from None
        return model

    def __getstate__(self):
        return self._state()

    def __setstate__(self, state):
        self.__dict__.update(MLP._from_state(state).__dict__)

    def _normaliser(self, n_samples):
        """Turns a kernel's unscaled loss sum over ``n_samples`` into the loss."""
        # the kernels' own function, run by Python (compiling it would cost a cold fit 50 ms)
        return losses.batch_scale.py_func(self._loss_code, n_samples, self.sizes[-1])

    def copy(self):
        """An independent copy: parameters, optimiser state and shuffling state.

        Examples
        --------
        >>> import nbprop
        >>> net = nbprop.MLP([1, 2, 1], seed=0)
        >>> twin = net.copy()
        >>> bool((twin.params == net.params).all()) and twin.params is not net.params
        True
        """
        return MLP._from_state(self._state())

    # ---------------------------------------------------------- explanation

    def named_params(self, numbering="canonical"):
        """Every parameter's name, flat index and value (see :func:`nbprop.explain.named_params`).

        Examples
        --------
        >>> import nbprop
        >>> net = nbprop.MLP([1, 2, 1], activation="softplus", loss="ssr", seed=0)
        >>> [p.name for p in net.named_params("textbook")]
        ['w1', 'w2', 'b1', 'b2', 'w3', 'w4', 'b3']
        """
        from . import explain

        return explain.named_params(self, numbering)

    def param_index(self, name, numbering=None):
        """Flat index of the parameter called ``name``, e.g. ``"W1[0, 1]"`` or ``"w3"``.

        Examples
        --------
        >>> import nbprop
        >>> nbprop.MLP([2, 2, 2], seed=0).param_index("W1[0, 1]")
        7
        """
        from . import explain

        return explain.param_index(self, name, numbering)

    def chain_rule(self, X, Y, name, numbering=None, max_paths=64):
        """Every chain-rule path from parameter ``name`` to the loss, with numbers.

        See :func:`nbprop.explain.chain_rule`.  The trace's ``total`` equals
        ``gradient(X, Y)[param_index(name)]`` to rounding.

        Examples
        --------
        >>> import nbprop
        >>> net = nbprop.MLP([2, 2, 2], activation="sigmoid", output_activation="sigmoid", seed=0)
        >>> trace = net.chain_rule([0.05, 0.10], [0.01, 0.99], "w1")
        >>> trace.n_paths
        2
        """
        from . import explain

        return explain.chain_rule(self, X, Y, name, numbering=numbering, max_paths=max_paths)

    def save(self, path):
        """Write the model and its optimiser state to ``path`` (see :func:`nbprop.save`).

        Examples
        --------
        >>> import nbprop, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "net.npz")
        >>> nbprop.MLP([2, 1], seed=0).save(path)
        >>> nbprop.load(path).sizes
        [2, 1]
        """
        from .io import save

        save(self, path)

    def __repr__(self):
        hidden = self.activations[:-1]
        act = hidden[0] if hidden and len(set(hidden)) == 1 else hidden
        return (f"MLP(sizes={self.sizes}, activation={act!r}, "
                f"output_activation={self.output_activation!r}, loss={self.loss_name!r}, "
                f"dtype={self.dtype.name!r})")


def _check_sizes(sizes):
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__len__"):
        raise TypeError(f"sizes: expected a sequence of layer widths such as [1, 2, 1], got {sizes!r}")
    sizes = list(sizes)
    if len(sizes) < 2:
        raise ValueError(f"sizes: expected at least 2 layers (input and output), got {sizes!r}")
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, numbers.Integral):
            raise TypeError(f"sizes: expected whole numbers, got {type(size).__name__} {size!r} in {sizes!r}")
        if size < 1:
            raise ValueError(f"sizes: every layer needs at least 1 unit, got {sizes!r}")
    return [int(size) for size in sizes]


def _check_hidden_activations(activation, n_hidden):
    if isinstance(activation, str):
        names = [activation] * n_hidden
    elif isinstance(activation, (list, tuple)):
        names = list(activation)
        if len(names) != n_hidden:
            raise ValueError(f"activation: expected one name per hidden layer ({n_hidden}), "
                             f"got {len(names)}: {names!r}")
    else:
        raise TypeError(f"activation: expected a name or a list of names, got {activation!r}")
    for name in names:
        activations.code_of(name, activations.HIDDEN_ACTIVATIONS, "activation")
    if isinstance(activation, str):  # validate the name even when there is no hidden layer
        activations.code_of(activation, activations.HIDDEN_ACTIVATIONS, "activation")
    return names


def _check_loss_output(loss_code, output_code):
    required = losses.REQUIRED_OUTPUT.get(loss_code)
    loss_name = losses.NAMES[loss_code]
    output_name = activations.NAMES[output_code]
    if required is not None and output_code != required:
        raise ValueError(f"output_activation: loss={loss_name!r} needs "
                         f"output_activation={activations.NAMES[required]!r}, got {output_name!r}")
    if output_code == activations.SOFTMAX and loss_code != losses.CROSS_ENTROPY:
        raise ValueError(f"loss: output_activation='softmax' needs loss='cross_entropy', "
                         f"got {loss_name!r}")


def _check_dtype(dtype):
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in DTYPES:
        raise ValueError(f"dtype: expected 'float64' or 'float32', got {dtype!r}")
    return DTYPES[name]
