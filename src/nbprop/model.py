"""The ``MLP`` class: validation, buffers, and calls into the kernels."""

import numbers
import time

import numpy as np

from . import _kernels, activations, losses
from ._layout import ACT_CODE, bias_views, make_plan, weight_views
from ._validation import as_inputs, as_targets, positive_int, real_array, real_number
from .optim import as_schedule

DTYPES = {"float64": np.float64, "float32": np.float32}
# Layers whose activation is zero or linear for negative inputs get He
# initialisation; the saturating ones get Glorot's.
HE_INIT = {activations.RELU, activations.LEAKY_RELU, activations.ELU}


class History:
    """What one call of :meth:`MLP.fit` did, epoch by epoch.

    Attributes
    ----------
    loss : list of float
        Per epoch, the loss over the epoch's samples, each sample (or batch)
        taken before its own update, as FANN and scikit-learn report it.
    seconds : list of float
        Per epoch, the wall-clock time of the compiled training loop.
    samples_per_second : list of float
        Per epoch, samples processed divided by ``seconds``.
    compile_seconds : float
        Time spent compiling (or loading from the cache) the training kernel
        before the first epoch; kept out of ``seconds``.

    Examples
    --------
    >>> import nbprop
    >>> net = nbprop.MLP([1, 2, 1], seed=0)
    >>> hist = net.fit([[0.0], [1.0]], [0.0, 1.0], epochs=3, lr=0.1)
    >>> len(hist.loss), len(hist.seconds)
    (3, 3)
    """

    def __init__(self):
        self.loss = []
        self.seconds = []
        self.samples_per_second = []
        self.compile_seconds = 0.0

    @property
    def epochs(self):
        """Number of completed epochs."""
        return len(self.loss)

    def __repr__(self):
        last = f", last loss={self.loss[-1]:.6g}" if self.loss else ""
        return f"History(epochs={self.epochs}{last})"


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
        self._step = 0
        self._epoch = 0

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
        self._params[...] = converted

    @property
    def weights(self):
        """Writable views ``W_l``, shape ``(sizes[l+1], sizes[l])``, into ``params``."""
        return self._weights

    @property
    def biases(self):
        """Writable views ``b_l``, shape ``(sizes[l+1],)``, into ``params``."""
        return self._biases

    @property
    def output_activation(self):
        """Name of the output layer's activation."""
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
        X = as_inputs(X, self.sizes[0], self.dtype)
        out = np.empty((X.shape[0], self.sizes[-1]), dtype=self.dtype)
        _kernels.predict(self._params, self._plan, X, out, self._workspace)
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
        total = _kernels.loss_sum(self._params, self._plan, self._loss_code, X, Y, self._workspace)
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
        _kernels.accumulate_gradient(self._params, self._plan, self._loss_code, X, Y, order,
                                     0, X.shape[0], grad, self._workspace)
        return grad

    # --------------------------------------------------------------- training

    def fit(self, X, Y, epochs=1, lr=0.01, batch_size=1, shuffle=True, momentum=0.0,
            nesterov=False, weight_decay=0.0, schedule=None, seed=None):
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
            Seeds this call's shuffling; by default the model's own generator
            (seeded by the constructor's ``seed``) continues.

        Returns
        -------
        History

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
        epochs = positive_int(epochs, "epochs")
        lr = real_number(lr, "lr", low_open=True)
        if batch_size is not None:
            batch_size = positive_int(batch_size, "batch_size")
        if not isinstance(shuffle, (bool, np.bool_)):
            raise TypeError(f"shuffle: expected True or False, got {shuffle!r}")
        momentum = real_number(momentum, "momentum", high=1.0)
        if not isinstance(nesterov, (bool, np.bool_)):
            raise TypeError(f"nesterov: expected True or False, got {nesterov!r}")
        if nesterov and momentum == 0.0:
            raise ValueError("nesterov: Nesterov momentum needs momentum > 0, got momentum=0")
        weight_decay = real_number(weight_decay, "weight_decay")
        schedule_code, p1, p2 = as_schedule(schedule)._kernel_args()
        if seed is not None:
            seed = positive_int(seed, "seed", minimum=0)
        rng = np.random.default_rng(seed) if seed is not None else self._shuffle_rng

        n = X.shape[0]
        dtype = self.dtype.type
        lr, momentum, weight_decay = dtype(lr), dtype(momentum), dtype(weight_decay)
        nesterov = bool(nesterov)

        def run_epoch(order):
            if batch_size == 1:
                return _kernels.sgd_epoch(
                    self._params, self._velocity, self._plan, self._loss_code, X, Y, order,
                    lr, schedule_code, p1, p2, self._step, self._epoch,
                    momentum, nesterov, weight_decay, self._workspace)
            return _kernels.minibatch_epoch(
                self._params, self._velocity, self._grad, self._plan, self._loss_code, X, Y,
                order, n if batch_size is None else batch_size,
                lr, schedule_code, p1, p2, self._step, self._epoch,
                momentum, nesterov, weight_decay, self._workspace)

        history = History()
        started = time.perf_counter()
        run_epoch(np.empty(0, dtype=np.int64))  # compiles (or loads) the kernel, trains nothing
        history.compile_seconds = time.perf_counter() - started

        normaliser = self._normaliser(n)
        for _ in range(epochs):
            order = rng.permutation(n) if shuffle else np.arange(n, dtype=np.int64)
            started = time.perf_counter()
            total, self._step = run_epoch(order)
            seconds = time.perf_counter() - started
            self._epoch += 1
            history.loss.append(float(total * normaliser))
            history.seconds.append(seconds)
            history.samples_per_second.append(n / seconds if seconds > 0 else float("inf"))
        return history

    # ---------------------------------------------------------------- helpers

    def _data(self, X, Y):
        X = as_inputs(X, self.sizes[0], self.dtype)
        Y = as_targets(Y, X.shape[0], self.sizes[-1], self.dtype, self._loss_code)
        return X, Y

    def _normaliser(self, n_samples):
        """Turns a kernel's unscaled loss sum over ``n_samples`` into the loss."""
        return losses.batch_scale(self._loss_code, n_samples, self.sizes[-1])

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
        twin = MLP.__new__(MLP)
        twin._setup(self.sizes, self.activations, self.loss_name, self.dtype, self.seed)
        twin._params[...] = self._params
        twin._velocity[...] = self._velocity
        twin._step, twin._epoch = self._step, self._epoch
        twin._shuffle_rng = np.random.default_rng()
        twin._shuffle_rng.bit_generator.state = self._shuffle_rng.bit_generator.state
        return twin

    def save(self, path):
        """Write the model to ``path`` as ``.npz`` (see :func:`nbprop.save`)."""
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
