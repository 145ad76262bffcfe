"""scikit-learn estimators trained by nbprop: :class:`MLPRegressor` and :class:`MLPClassifier`.

They take scikit-learn's parameter names with scikit-learn's meanings, work
in ``Pipeline``, ``GridSearchCV`` and ``cross_val_score``, and train an
:class:`nbprop.MLP` (kept as ``model_``) through :meth:`nbprop.MLP.fit`, one
epoch per iteration, while the estimator runs scikit-learn's loop around it:
``tol`` and ``n_iter_no_change``, ``early_stopping`` on a validation split,
the ``'invscaling'`` and ``'adaptive'`` learning rates, ``warm_start`` and
``partial_fit``.  scikit-learn is imported by this module only.

What one step does
------------------
scikit-learn's ``solver='sgd'`` updates, for every batch ``B`` of ``b``
samples,

.. code-block:: text

    params -= lr_t * (mean over B of the per-sample loss gradient + (alpha / b) * W)

(the L2 term ``alpha / (2 b) * ||W||^2`` on weights, never on intercepts;
momentum as below).  The per-sample loss is ``1/2 sum_k (y_k - y'_k)^2`` for
``loss='squared_error'`` and the log-loss summed over outputs for the
classifier.  nbprop's losses over a batch are sums, except ``mse``, which is
a mean, so the estimator passes :meth:`nbprop.MLP.fit` the learning rate and
weight decay that make the two steps equal (``K`` outputs):

===========================================  =================  ================  ===================
estimator                                    ``model_`` loss    ``lr``            ``weight_decay``
===========================================  =================  ================  ===================
``MLPRegressor``, ``loss='squared_error'``   ``mse``            ``lr_t * K / 2``  ``2 alpha / (K b)``
``MLPRegressor``, ``loss='mse'``             ``mse``            ``lr_t``          ``alpha / b``
``MLPRegressor``, ``'half_sse'``, ``'ssr'``  as named           ``lr_t / b``      ``alpha``
``MLPClassifier``, 2 classes, multilabel     ``bce``            ``lr_t / b``      ``alpha``
``MLPClassifier``, 3 or more classes         ``cross_entropy``  ``lr_t / b``      ``alpha``
===========================================  =================  ================  ===================

The classifier's outputs are sigmoids for two classes and multilabel
targets, a softmax for three or more classes.  With nbprop's own
regression losses the per-sample loss is that loss on one sample
(``half_sse``: ``1/2 sum_k``, ``ssr``: ``sum_k``, ``mse``: mean over
outputs), averaged over the batch as above.  ``loss_curve_`` reports what
scikit-learn reports: the mean over the epoch's samples of the per-sample
loss, each taken before its batch's update (for ``squared_error`` also
averaged over outputs, as scikit-learn does), plus ``alpha / (2 n)`` times
``||W||^2`` once per batch.

Where it differs from scikit-learn's ``MLPClassifier(solver='sgd')``
--------------------------------------------------------------------
* Initial weights are nbprop's (Glorot-uniform, He-uniform for relu-like
  layers, zero intercepts), drawn from ``random_state``.
* The shorter last batch of an epoch (when ``b`` does not divide the number
  of samples) is stepped with the full batch's ``b`` in the table above:
  with the ``mse`` losses its data gradient is still the batch mean and only
  the L2 term is ``alpha / b`` instead of ``alpha / b_last``; with the summed
  losses the whole step is ``b_last / b`` times scikit-learn's.  Choose a
  batch size that divides the data, or ``batch_size=1``, for identical steps.
* ``loss_curve_`` takes ``||W||^2`` at the start of the epoch for every batch
  (exact for one batch per epoch).
* Momentum is the PyTorch formulation (see :mod:`nbprop.optim`): the same
  steps as scikit-learn's while the learning rate is constant, but when
  ``'invscaling'`` or ``'adaptive'`` changes the rate between epochs, nbprop
  applies the carried velocity at the new rate and scikit-learn at the rates
  it was built with.
* ``'invscaling'`` is scikit-learn's (``lr_t = learning_rate_init / (t + 1) **
  power_t`` with ``t`` the samples seen, updated after every epoch), not
  :class:`nbprop.InverseScaling` (per update, power 1).
* A diverging fit (a NaN or infinite loss or weight) raises
  :class:`nbprop.DivergenceError` (a ``FloatingPointError``) with ``model_``
  at the end of its last finite epoch; scikit-learn raises ``ValueError``.
* ``solver`` is ``'sgd'`` only, and ``sample_weight`` is not supported.
* ``dtype='float32'`` trains and predicts in single precision.

Examples
--------
>>> import numpy as np
>>> from nbprop.sklearn import MLPRegressor
>>> X = np.linspace(-1, 1, 40).reshape(-1, 1)
>>> reg = MLPRegressor(hidden_layer_sizes=(8,), activation="tanh", learning_rate_init=0.1,
...                    max_iter=300, random_state=0).fit(X, X.ravel() ** 2)
>>> bool(reg.score(X, X.ravel() ** 2) > 0.9)
True
"""

import numbers
import sys
import warnings

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import LabelBinarizer
    from sklearn.utils import check_random_state, column_or_1d
    from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as error:  # pragma: no cover - exercised only without scikit-learn
    if "pytest" in sys.modules:
        # ``pytest --doctest-modules`` over nbprop without scikit-learn: skip this module's doctests.
        import pytest

        pytest.skip("nbprop.sklearn needs scikit-learn", allow_module_level=True)
    raise ImportError("nbprop.sklearn needs scikit-learn >= 1.6: pip install scikit-learn") from error

from .model import MLP

__all__ = ["MLPRegressor", "MLPClassifier"]

# scikit-learn's activation names, and nbprop's own, as nbprop names.
_ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu",
               "sigmoid": "sigmoid", "leaky_relu": "leaky_relu", "softplus": "softplus", "elu": "elu"}
# scikit-learn's names of the output activations.
_SKLEARN_OUTPUT_NAMES = {"identity": "identity", "sigmoid": "logistic", "softmax": "softmax"}
_REGRESSION_LOSSES = ("squared_error", "half_sse", "ssr", "mse")
_LEARNING_RATES = ("constant", "invscaling", "adaptive")
_DTYPES = ("float64", "float32")


class _BaseMLP(BaseEstimator):
    """What the regressor and the classifier share: parameters, the training loop, views."""

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="sgd", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001,
                 power_t=0.5, max_iter=200, shuffle=True, random_state=None, tol=1e-4,
                 verbose=False, warm_start=False, momentum=0.9, nesterovs_momentum=True,
                 early_stopping=False, validation_fraction=0.1, n_iter_no_change=10,
                 dtype="float64"):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.dtype = dtype

    # -------------------------------------------------------- fitted views

    @property
    def coefs_(self):
        """Weight matrices in scikit-learn's orientation ``(fan_in, fan_out)``.

        ``coefs_[l]`` is ``model_.weights[l].T``: a live, writable view into
        ``model_.params``.

        Examples
        --------
        >>> import numpy as np
        >>> from nbprop.sklearn import MLPRegressor
        >>> reg = MLPRegressor(hidden_layer_sizes=(3,), max_iter=2, random_state=0)
        >>> reg = reg.fit(np.zeros((4, 2)), np.zeros(4))
        >>> [c.shape for c in reg.coefs_]
        [(2, 3), (3, 1)]
        """
        check_is_fitted(self, "model_")
        return [W.T for W in self.model_.weights]

    @property
    def intercepts_(self):
        """Bias vectors, one per layer: live, writable views into ``model_.params``.

        Examples
        --------
        >>> import numpy as np
        >>> from nbprop.sklearn import MLPRegressor
        >>> reg = MLPRegressor(hidden_layer_sizes=(3,), max_iter=2, random_state=0)
        >>> reg = reg.fit(np.zeros((4, 2)), np.zeros(4))
        >>> [b.shape for b in reg.intercepts_]
        [(3,), (1,)]
        """
        check_is_fitted(self, "model_")
        return list(self.model_.biases)

    # ------------------------------------------------------------ training

    def _fit(self, X, y, incremental):
        settings = self._check_params()
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        first_pass = not hasattr(self, "model_") or (not self.warm_start and not incremental)
        X, Y = self._validate_input(X, y, incremental, reset=first_pass, dtype=settings["dtype"])
        random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(Y, X.shape[1], settings, random_state)
        elif Y.shape[1] != self.n_outputs_:
            raise ValueError(f"y: expected {self.n_outputs_} output column(s) as in the previous fit, "
                             f"got {Y.shape[1]}")
        if not incremental or not hasattr(self, "_learning_rate"):
            # A new optimiser, as scikit-learn makes on every fit: the initial
            # learning rate and zero momentum (a fresh MLP with the same parameters).
            self._learning_rate = float(self.learning_rate_init)
            if not first_pass:
                fresh = MLP(**self._model_spec, seed=self._model_seed(random_state))
                fresh.params = self.model_.params
                self.model_ = fresh
        self._fit_epochs(X, Y, incremental, random_state)
        return self

    def _initialize(self, Y, n_features, settings, random_state):
        """Build ``model_`` and reset every fitted attribute (scikit-learn's ``_initialize``)."""
        self.n_outputs_ = Y.shape[1]
        loss, output = self._loss_and_output()
        self.out_activation_ = _SKLEARN_OUTPUT_NAMES[output]
        sizes = [n_features, *settings["hidden"], self.n_outputs_]
        self.n_layers_ = len(sizes)
        self._model_spec = dict(sizes=sizes, activation=settings["activation"],
                                output_activation=output, loss=loss, dtype=settings["dtype"])
        self.model_ = MLP(**self._model_spec, seed=self._model_seed(random_state))
        self.n_iter_ = 0
        self.t_ = 0
        self.loss_curve_ = []
        self._no_improvement_count = 0
        self._best_params = self.model_.params.copy()
        if self.early_stopping:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.best_validation_score_ = None

    def _model_seed(self, random_state):
        """``random_state`` itself when it is a whole number (so ``MLP(seed=random_state)``
        starts from the same weights), otherwise a number drawn from it."""
        if isinstance(self.random_state, numbers.Integral) and not isinstance(self.random_state, bool):
            return int(self.random_state)
        return int(random_state.randint(np.iinfo(np.int32).max))

    def _fit_epochs(self, X, Y, incremental, random_state):
        """scikit-learn's ``_fit_stochastic`` loop, one :meth:`MLP.fit` epoch per iteration."""
        early_stopping = self.early_stopping
        if early_stopping:
            stratify = Y if self._stratify_validation() else None
            X, X_val, Y, Y_val = train_test_split(X, Y, random_state=random_state,
                                                  test_size=self.validation_fraction, stratify=stratify)
            if X_val.shape[0] < 2:
                raise ValueError("The validation set is too small. Increase 'validation_fraction' "
                                 "or the size of your dataset.")
            y_val = self._validation_targets(Y_val)
        else:
            X_val = y_val = None

        n_samples = X.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. "
                              "It is going to be clipped", stacklevel=4)
            batch_size = int(np.clip(self.batch_size, 1, n_samples))
        n_batches = -(-n_samples // batch_size)
        momentum = float(self.momentum)

        try:
            self.n_iter_ = 0
            for _ in range(self.max_iter):
                lr, weight_decay = self._step_arguments(self._learning_rate, batch_size)
                squared_weights = sum(float(np.dot(W.ravel(), W.ravel())) for W in self.model_.weights)
                history = self.model_.fit(
                    X, Y, epochs=1, lr=lr, batch_size=batch_size, shuffle=bool(self.shuffle),
                    momentum=momentum, nesterov=bool(self.nesterovs_momentum) and momentum > 0,
                    weight_decay=weight_decay)
                self.n_iter_ += 1
                self.t_ += n_samples
                self.loss_ = (self._reported_loss(history.loss[-1], n_samples)
                              + 0.5 * self.alpha * n_batches * squared_weights / n_samples)
                self.loss_curve_.append(self.loss_)
                if self.verbose:
                    print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))
                self._update_no_improvement_count(early_stopping, X_val, y_val)
                if self.learning_rate == "invscaling":
                    self._learning_rate = float(self.learning_rate_init) / (self.t_ + 1) ** self.power_t
                if self._no_improvement_count > self.n_iter_no_change:
                    if early_stopping:
                        message = ("Validation score did not improve more than tol=%f for %d "
                                   "consecutive epochs." % (self.tol, self.n_iter_no_change))
                    else:
                        message = ("Training loss did not improve more than tol=%f for %d "
                                   "consecutive epochs." % (self.tol, self.n_iter_no_change))
                    if self._trigger_stopping(message):
                        break
                    self._no_improvement_count = 0
                if incremental:
                    break
                if self.n_iter_ == self.max_iter:
                    warnings.warn("Stochastic Optimizer: Maximum iterations (%d) reached and the "
                                  "optimization hasn't converged yet." % self.max_iter, ConvergenceWarning,
                                  stacklevel=4)
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.", stacklevel=4)
        if early_stopping:
            self.model_.params = self._best_params

    def _step_arguments(self, lr_t, batch_size):
        """``(lr, weight_decay)`` for :meth:`MLP.fit` giving scikit-learn's step (module docs)."""
        alpha = float(self.alpha)
        if self._model_spec["loss"] == "mse":
            scale = self._loss_scale()  # the per-sample loss is `scale` times nbprop's mse on it
            return lr_t * scale, alpha / (scale * batch_size)
        return lr_t / batch_size, alpha

    def _loss_scale(self):
        return 1.0

    def _reported_loss(self, epoch_loss, n_samples):
        """Mean per-sample loss, as scikit-learn reports it, from :attr:`History.loss`."""
        return epoch_loss / n_samples

    def _update_no_improvement_count(self, early_stopping, X_val, y_val):
        if early_stopping:
            score = self._validation_score(X_val, y_val)
            self.validation_scores_.append(score)
            if self.verbose:
                print("Validation score: %f" % score)
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_params = self.model_.params.copy()
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    def _trigger_stopping(self, message):
        """Stop, or with ``learning_rate='adaptive'`` divide the learning rate by 5."""
        if self.learning_rate != "adaptive":
            if self.verbose:
                print(message + " Stopping.")
            return True
        if self._learning_rate <= 1e-6:
            if self.verbose:
                print(message + " Learning rate too small. Stopping.")
            return True
        self._learning_rate /= 5.0
        if self.verbose:
            print(message + " Setting learning rate to %f" % self._learning_rate)
        return False

    def _validation_score(self, X_val, y_val):
        predicted = self._predict_validated(X_val)
        if np.issubdtype(predicted.dtype, np.floating) and not np.isfinite(predicted).all():
            return np.nan
        return self._score_function(y_val, predicted)

    def _validated(self, X):
        """``X`` checked against the fitted model, in its dtype."""
        check_is_fitted(self, "model_")
        return validate_data(self, X, reset=False, dtype=self.model_.dtype.type, order="C")

    # ---------------------------------------------------------- parameters

    def _check_params(self):
        """Every hyper-parameter checked; returns the normalised network settings."""
        hidden = self.hidden_layer_sizes
        if isinstance(hidden, numbers.Integral) and not isinstance(hidden, bool):
            hidden = [hidden]
        elif isinstance(hidden, (str, bytes)) or not hasattr(hidden, "__iter__"):
            raise ValueError("hidden_layer_sizes: expected a whole number or a sequence of whole "
                             f"numbers >= 1, got {self.hidden_layer_sizes!r}")
        hidden = list(hidden)
        if not all(isinstance(h, numbers.Integral) and not isinstance(h, bool) and h >= 1 for h in hidden):
            raise ValueError("hidden_layer_sizes: every hidden layer needs a whole number >= 1 of units, "
                             f"got {self.hidden_layer_sizes!r}")
        hidden = [int(h) for h in hidden]

        names = self.activation
        if isinstance(names, str):
            names = [names] * len(hidden)
        elif isinstance(names, (list, tuple)):
            if len(names) != len(hidden):
                raise ValueError(f"activation: expected one name per hidden layer ({len(hidden)}), "
                                 f"got {len(names)}: {self.activation!r}")
        else:
            raise ValueError(f"activation: expected a name or a list of names, got {self.activation!r}")
        for name in list(names) + ([self.activation] if isinstance(self.activation, str) else []):
            if not isinstance(name, str) or name not in _ACTIVATIONS:
                raise ValueError(f"activation: unknown activation {name!r}; expected one of "
                                 f"{sorted(_ACTIVATIONS)} or a list of them, one per hidden layer")
        activation = [_ACTIVATIONS[name] for name in names]

        if self.solver != "sgd":
            raise ValueError(f"solver: nbprop trains by stochastic gradient descent only, "
                             f"expected 'sgd', got {self.solver!r}")
        _check_real(self.alpha, "alpha", low=0.0)
        if not (isinstance(self.batch_size, str) and self.batch_size == "auto"):
            _check_int(self.batch_size, "batch_size", "'auto' or ")
        if self.learning_rate not in _LEARNING_RATES:
            raise ValueError(f"learning_rate: expected one of {_LEARNING_RATES}, got {self.learning_rate!r}")
        _check_real(self.learning_rate_init, "learning_rate_init", low=0.0, low_open=True)
        _check_real(self.power_t, "power_t", low=0.0)
        _check_int(self.max_iter, "max_iter")
        _check_real(self.tol, "tol", low=0.0)
        _check_real(self.momentum, "momentum", low=0.0, high=1.0)
        if not (self.n_iter_no_change == np.inf and not isinstance(self.n_iter_no_change, bool)):
            _check_int(self.n_iter_no_change, "n_iter_no_change", suffix=" or numpy.inf")
        _check_real(self.validation_fraction, "validation_fraction", low=0.0, high=1.0, low_open=True)
        for name in ("shuffle", "warm_start", "nesterovs_momentum", "early_stopping"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"{name}: expected True or False, got {getattr(self, name)!r}")
        if not isinstance(self.verbose, (numbers.Integral, np.bool_)) or self.verbose < 0:
            raise ValueError(f"verbose: expected True, False or a whole number, got {self.verbose!r}")
        dtype = self.dtype
        try:
            dtype = np.dtype(dtype).name
        except TypeError:
            pass
        if dtype not in _DTYPES:
            raise ValueError(f"dtype: expected 'float64' or 'float32', got {self.dtype!r}")
        return dict(hidden=hidden, activation=activation, dtype=dtype)


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multilayer perceptron regressor trained by nbprop, with scikit-learn's interface.

    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(100,)
        Units of each hidden layer; ``()`` is a linear model.
    activation : str or list of str, default='relu'
        Hidden activation: scikit-learn's ``'identity'``, ``'logistic'``,
        ``'tanh'``, ``'relu'`` or nbprop's ``'sigmoid'``, ``'leaky_relu'``,
        ``'softplus'``, ``'elu'``; or a list with one name per hidden layer.
    loss : {'squared_error', 'half_sse', 'ssr', 'mse'}, default='squared_error'
        Per-sample loss, averaged over each batch: scikit-learn's
        ``1/2 sum_k (y_k - y'_k)^2`` or nbprop's loss of that name on one
        sample (see the module documentation for how each maps to
        :meth:`nbprop.MLP.fit`).
    solver : {'sgd'}, default='sgd'
        Only stochastic gradient descent.
    alpha : float, default=0.0001
        L2 strength: ``alpha / (2 b) * ||W||^2`` is added to the loss of
        every batch of ``b`` samples, as in scikit-learn.
    batch_size : int or 'auto', default='auto'
        Minibatch size; ``'auto'`` is ``min(200, n_samples)``; larger than
        the data is clipped with a warning; 1 is per-sample SGD (nbprop's
        fused loop).
    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        scikit-learn's schedules: constant; ``learning_rate_init / (t + 1) **
        power_t`` after each epoch, ``t`` the samples seen; or divided by 5
        whenever ``n_iter_no_change`` epochs pass without improvement.
    learning_rate_init : float, default=0.001
        Initial learning rate.
    power_t : float, default=0.5
        Exponent of ``'invscaling'``.
    max_iter : int, default=200
        Maximum number of epochs.
    shuffle : bool, default=True
        Shuffle the samples every epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the shuffling and the validation split.
        An int is passed on as ``MLP(seed=random_state)``.
    tol : float, default=1e-4
        Improvement of the training loss (or validation score with
        ``early_stopping``) below which an epoch counts as no improvement.
    verbose : bool, default=False
        Print the loss after every epoch.
    warm_start : bool, default=False
        Let :meth:`fit` continue from the previous solution.
    momentum : float, default=0.9
        Momentum in ``[0, 1)``.
    nesterovs_momentum : bool, default=True
        Nesterov momentum (when ``momentum > 0``).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data, stop when its R^2 stops
        improving and keep the best parameters.
    validation_fraction : float, default=0.1
        Share of the data held out with ``early_stopping``.
    n_iter_no_change : int or numpy.inf, default=10
        Epochs without improvement before stopping (or dividing the rate).
    dtype : {'float64', 'float32'}, default='float64'
        Floating-point type of ``model_`` and of training.

    Attributes
    ----------
    model_ : nbprop.MLP
        The trained network.
    coefs_ : list of ndarray
        Weights, shape ``(fan_in, fan_out)``: views of ``model_.weights[l].T``.
    intercepts_ : list of ndarray
        Biases, views of ``model_.biases``.
    loss_ : float
        Loss of the last epoch.
    loss_curve_ : list of float
        Loss of every epoch.
    best_loss_ : float or None
        Lowest training loss (None with ``early_stopping``).
    validation_scores_ : list of float or None
        Validation R^2 after every epoch with ``early_stopping``.
    best_validation_score_ : float or None
        Best validation R^2 with ``early_stopping``.
    n_iter_ : int
        Epochs run by the last :meth:`fit` (1 after :meth:`partial_fit`).
    t_ : int
        Training samples seen, over all calls since initialisation.
    n_features_in_ : int
        Number of input features.
    feature_names_in_ : ndarray of str
        Column names, when ``X`` had string column names.
    n_layers_ : int
        Layers, input and output included.
    n_outputs_ : int
        Number of outputs.
    out_activation_ : str
        ``'identity'``.

    See Also
    --------
    MLPClassifier, nbprop.MLP

    Examples
    --------
    >>> import numpy as np
    >>> from nbprop.sklearn import MLPRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-1, 1, size=(100, 2))
    >>> y = X[:, 0] - 2 * X[:, 1]
    >>> reg = MLPRegressor(hidden_layer_sizes=(8,), activation="tanh", batch_size=10,
    ...                    learning_rate_init=0.05, max_iter=100, random_state=0).fit(X, y)
    >>> reg.predict(X[:3]).shape
    (3,)
    >>> bool(reg.score(X, y) > 0.95)
    True
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, loss="squared_error",
                 solver="sgd", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=10, dtype="float64"):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver, alpha=alpha,
            batch_size=batch_size, learning_rate=learning_rate, learning_rate_init=learning_rate_init,
            power_t=power_t, max_iter=max_iter, shuffle=shuffle, random_state=random_state, tol=tol,
            verbose=verbose, warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, n_iter_no_change=n_iter_no_change, dtype=dtype)
        self.loss = loss

    def fit(self, X, y):
        """Train on ``X, y`` for up to ``max_iter`` epochs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.

        Returns
        -------
        self : MLPRegressor

        Examples
        --------
        >>> import numpy as np
        >>> from nbprop.sklearn import MLPRegressor
        >>> reg = MLPRegressor(hidden_layer_sizes=(4,), max_iter=5, random_state=0)
        >>> reg.fit(np.eye(3), [0.0, 1.0, 2.0]).n_iter_
        5
        """
        return self._fit(X, y, incremental=False)

    def partial_fit(self, X, y):
        """One epoch over ``X, y``, continuing from the current state.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)

        Returns
        -------
        self : MLPRegressor

        Examples
        --------
        >>> import numpy as np
        >>> from nbprop.sklearn import MLPRegressor
        >>> reg = MLPRegressor(hidden_layer_sizes=(4,), random_state=0)
        >>> for _ in range(3):
        ...     reg = reg.partial_fit(np.eye(3), [0.0, 1.0, 2.0])
        >>> reg.t_, len(reg.loss_curve_)
        (9, 3)
        """
        return self._fit(X, y, incremental=True)

    def predict(self, X):
        """Network outputs for ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_outputs)
            1-D when there is a single output.

        Examples
        --------
        >>> import numpy as np
        >>> from nbprop.sklearn import MLPRegressor
        >>> reg = MLPRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
        >>> reg.fit(np.eye(3), np.eye(3)).predict(np.eye(3)).shape
        (3, 3)
        """
        return self._predict_validated(self._validated(X))

    def _predict_validated(self, X):
        out = self.model_.predict(X)
        return out.ravel() if out.shape[1] == 1 else out

    def _check_params(self):
        if self.loss not in _REGRESSION_LOSSES:
            raise ValueError(f"loss: expected one of {_REGRESSION_LOSSES}, got {self.loss!r}")
        return super()._check_params()

    def _validate_input(self, X, y, incremental, reset, dtype):
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=np.dtype(dtype).type,
                             order="C", reset=reset)
        Y = np.ascontiguousarray(y.reshape(len(y), -1), dtype=dtype)
        return X, Y

    def _loss_and_output(self):
        return ("mse" if self.loss == "squared_error" else self.loss), "identity"

    def _loss_scale(self):
        # scikit-learn's per-sample loss 1/2 sum_k r_k^2 is K/2 times nbprop's mse on one sample.
        return self.n_outputs_ / 2.0 if self.loss == "squared_error" else 1.0

    def _reported_loss(self, epoch_loss, n_samples):
        if self.loss == "squared_error":
            return 0.5 * epoch_loss  # scikit-learn reports 1/2 the mean over samples and outputs
        if self.loss == "mse":
            return epoch_loss
        return epoch_loss / n_samples

    def _stratify_validation(self):
        return False

    def _validation_targets(self, Y_val):
        return Y_val

    def _score_function(self, y_true, y_pred):
        return r2_score(y_true, y_pred)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multilayer perceptron classifier trained by nbprop, with scikit-learn's interface.

    Two classes and multilabel targets train sigmoid outputs on the binary
    cross-entropy (``model_`` loss ``'bce'``); three or more classes train a
    softmax output on the categorical cross-entropy (``'cross_entropy'``).
    Both are scikit-learn's log-loss, averaged over each batch.

    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(100,)
        Units of each hidden layer; ``()`` is logistic regression.
    activation : str or list of str, default='relu'
        Hidden activation: scikit-learn's ``'identity'``, ``'logistic'``,
        ``'tanh'``, ``'relu'`` or nbprop's ``'sigmoid'``, ``'leaky_relu'``,
        ``'softplus'``, ``'elu'``; or a list with one name per hidden layer.
    solver : {'sgd'}, default='sgd'
        Only stochastic gradient descent.
    alpha : float, default=0.0001
        L2 strength: ``alpha / (2 b) * ||W||^2`` per batch of ``b`` samples.
    batch_size : int or 'auto', default='auto'
        Minibatch size; ``'auto'`` is ``min(200, n_samples)``.
    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        As in :class:`MLPRegressor`.
    learning_rate_init : float, default=0.001
        Initial learning rate.
    power_t : float, default=0.5
        Exponent of ``'invscaling'``.
    max_iter : int, default=200
        Maximum number of epochs.
    shuffle : bool, default=True
        Shuffle the samples every epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the shuffling and the validation split.
    tol : float, default=1e-4
        Minimum improvement of the loss (or validation accuracy).
    verbose : bool, default=False
        Print the loss after every epoch.
    warm_start : bool, default=False
        Let :meth:`fit` continue from the previous solution (same classes).
    momentum : float, default=0.9
        Momentum in ``[0, 1)``.
    nesterovs_momentum : bool, default=True
        Nesterov momentum (when ``momentum > 0``).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data (stratified for two
        classes), stop when its accuracy stops improving, keep the best.
    validation_fraction : float, default=0.1
        Share of the data held out with ``early_stopping``.
    n_iter_no_change : int or numpy.inf, default=10
        Epochs without improvement before stopping (or dividing the rate).
    dtype : {'float64', 'float32'}, default='float64'
        Floating-point type of ``model_`` and of training.

    Attributes
    ----------
    classes_ : ndarray
        Class labels (for multilabel targets, ``0 .. n_labels - 1``).
    model_ : nbprop.MLP
        The trained network.
    coefs_, intercepts_ : list of ndarray
        Views of the weights (``(fan_in, fan_out)``) and biases.
    loss_, loss_curve_, best_loss_ : float, list of float, float or None
        Mean log-loss per sample plus the L2 term: last, every epoch, best.
    validation_scores_, best_validation_score_ : list of float or None, float or None
        Validation accuracy with ``early_stopping``.
    n_iter_, t_, n_features_in_, feature_names_in_, n_layers_, n_outputs_
        As in :class:`MLPRegressor`.
    out_activation_ : str
        ``'logistic'`` or ``'softmax'``.

    See Also
    --------
    MLPRegressor, nbprop.MLP

    Examples
    --------
    >>> import numpy as np
    >>> from nbprop.sklearn import MLPClassifier
    >>> X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]] * 10, dtype=float)
    >>> y = np.array(["no", "yes", "yes", "no"] * 10)
    >>> clf = MLPClassifier(hidden_layer_sizes=(8,), activation="tanh", batch_size=4,
    ...                     learning_rate_init=0.5, max_iter=200, random_state=0).fit(X, y)
    >>> clf.predict([[0, 1], [1, 1]]).tolist()
    ['yes', 'no']
    >>> clf.predict_proba([[0, 1]]).shape
    (1, 2)
    """

    def fit(self, X, y):
        """Train on ``X, y`` for up to ``max_iter`` epochs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a binary indicator matrix for multilabel.

        Returns
        -------
        self : MLPClassifier

        Examples
        --------
        >>> from nbprop.sklearn import MLPClassifier
        >>> clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
        >>> clf.fit([[0.0], [1.0], [2.0]], ["a", "b", "c"]).classes_.tolist()
        ['a', 'b', 'c']
        """
        return self._fit(X, y, incremental=False)

    def partial_fit(self, X, y, classes=None):
        """One epoch over ``X, y``, continuing from the current state.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
        classes : array-like, optional
            Every class of all the calls; required on the first call (not
            for multilabel targets given as an indicator matrix).

        Returns
        -------
        self : MLPClassifier

        Examples
        --------
        >>> from nbprop.sklearn import MLPClassifier
        >>> clf = MLPClassifier(hidden_layer_sizes=(4,), random_state=0)
        >>> clf = clf.partial_fit([[0.0], [1.0]], [0, 1], classes=[0, 1, 2])
        >>> clf = clf.partial_fit([[2.0]], [2])
        >>> clf.predict_proba([[0.0]]).shape
        (1, 3)
        """
        first_call = False
        if getattr(self, "classes_", None) is None and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        if classes is not None:
            if getattr(self, "classes_", None) is not None:
                if not np.array_equal(self.classes_, unique_labels(classes)):
                    raise ValueError(f"`classes={classes!r}` is not the same as on last call "
                                     f"to partial_fit, was: {self.classes_!r}")
            else:
                self.classes_ = unique_labels(classes)
                first_call = True
        if first_call:
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, incremental=True)

    def predict(self, X):
        """Predicted class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_labels)

        Examples
        --------
        >>> from nbprop.sklearn import MLPClassifier
        >>> clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
        >>> clf.fit([[0.0], [1.0]], [3, 7]).predict([[0.0]]).shape
        (1,)
        """
        return self._predict_validated(self._validated(X))

    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            For two classes ``[1 - p, p]``; for multilabel, one independent
            probability per label.

        Examples
        --------
        >>> from nbprop.sklearn import MLPClassifier
        >>> clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
        >>> proba = clf.fit([[0.0], [1.0], [2.0]], [0, 1, 2]).predict_proba([[0.5]])
        >>> proba.shape, bool(abs(proba.sum() - 1) < 1e-12)
        ((1, 3), True)
        """
        X = self._validated(X)
        out = self.model_.predict(X)
        if out.shape[1] == 1:
            p = out.ravel()
            return np.vstack([1 - p, p]).T
        return out

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)

        Examples
        --------
        >>> from nbprop.sklearn import MLPClassifier
        >>> clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
        >>> clf.fit([[0.0], [1.0]], [0, 1]).predict_log_proba([[0.0]]).shape
        (1, 2)
        """
        proba = self.predict_proba(X)
        return np.log(proba, out=proba)

    def _predict_validated(self, X):
        out = self.model_.predict(X)
        if self.n_outputs_ == 1:
            out = out.ravel()
        return self._label_binarizer.inverse_transform(out)

    def _validate_input(self, X, y, incremental, reset, dtype):
        X, y = validate_data(self, X, y, multi_output=True, dtype=np.dtype(dtype).type, order="C",
                             reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError("warm_start can only be used where `y` has the same classes as "
                                     f"in the previous call to fit. Previously got {self.classes_}, "
                                     f"`y` has {classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has "
                                 f"{self.classes_}. 'y' has {classes}.")
        Y = np.ascontiguousarray(self._label_binarizer.transform(y), dtype=dtype)
        return X, Y

    def _loss_and_output(self):
        if self._label_binarizer.y_type_ == "multiclass":
            return "cross_entropy", "softmax"
        return "bce", "sigmoid"

    def _stratify_validation(self):
        return self.n_outputs_ == 1

    def _validation_targets(self, Y_val):
        return self._label_binarizer.inverse_transform(Y_val)

    def _score_function(self, y_true, y_pred):
        return accuracy_score(y_true, y_pred)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


def _check_int(value, name, prefix="", suffix=""):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name}: expected {prefix}a whole number >= 1{suffix}, got {value!r}")


def _check_real(value, name, low, high=np.inf, low_open=False):
    """``value`` must be a real number in ``[low, high)`` (``(low, high)`` if ``low_open``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name}: expected a real number, got {value!r}")
    above = value > low if low_open else value >= low
    if not (np.isfinite(value) and above and value < high):
        interval = ("(" if low_open else "[") + f"{low:g}, {high:g})"
        raise ValueError(f"{name}: expected a finite number in {interval}, got {value!r}")
