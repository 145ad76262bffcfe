"""The scikit-learn estimators: scikit-learn's own checks, its steps, and nbprop's MLP underneath."""

import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

from sklearn import neural_network  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import nbprop  # noqa: E402
import nbprop.sklearn as nbsk  # noqa: E402
from nbprop.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

# Every check passes with the default parameters: no expected failures.  The
# checks that scikit-learn itself skips here are skipped, not failed:
# check_array_api_input (needs SCIPY_ARRAY_API=1 and an array-API library),
# check_classifiers_multilabel_output_format_decision_function (there is no
# decision_function, as in scikit-learn's MLPClassifier) and, without pandas,
# the data-frame checks.
@parametrize_with_checks([MLPRegressor(), MLPClassifier()])
def test_scikit_learn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


def data(n=40, d=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d))


def twins(nb_estimator, X, y, **params):
    """Our estimator and scikit-learn's (solver='sgd'), both fitted for one epoch,
    then set to the same weights: the next ``fit`` (warm start) starts from the
    same point with zero momentum in both."""
    params = dict(warm_start=True, random_state=0, max_iter=1, shuffle=False, n_iter_no_change=np.inf,
                  **params)
    ours = nb_estimator(**params)
    theirs = getattr(neural_network, type(ours).__name__)(solver="sgd", **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, y)
        theirs.fit(X, y)
    for mine, other in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        other[...] = mine
    return ours, theirs


def fit_both(ours, theirs, X, y, epochs):
    ours.set_params(max_iter=epochs)
    theirs.set_params(max_iter=epochs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, y)
        theirs.fit(X, y)


def assert_same_params(ours, theirs, rtol=1e-12, atol=1e-14):
    for mine, other in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(mine, other, rtol=rtol, atol=atol)


# Batch sizes that divide the 40 samples: then every step is scikit-learn's step.
STEPS = [
    dict(batch_size=10, momentum=0.9, alpha=0.01),
    dict(batch_size=1, momentum=0.5, nesterovs_momentum=False, alpha=0.05),
    dict(batch_size=40, momentum=0.0, alpha=0.1, learning_rate="invscaling", learning_rate_init=0.1),
    dict(batch_size=40, momentum=0.9, alpha=0.0, learning_rate_init=0.05),
]


@pytest.mark.parametrize("n_outputs", [1, 2])
@pytest.mark.parametrize("step", STEPS)
def test_regressor_takes_scikit_learns_steps_alpha_included(n_outputs, step):
    X = data()
    y = np.sin(X[:, :n_outputs]).squeeze()
    ours, theirs = twins(MLPRegressor, X, y, hidden_layer_sizes=(5, 4), activation="tanh", **step)
    fit_both(ours, theirs, X, y, epochs=15)
    assert ours.n_iter_ == theirs.n_iter_ == 15
    assert_same_params(ours, theirs)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-12, atol=1e-14)
    if step["batch_size"] == 40:  # one batch per epoch: the reported loss is exactly scikit-learn's
        np.testing.assert_allclose(ours.loss_curve_[1:], theirs.loss_curve_[1:], rtol=1e-12)


@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel"])
@pytest.mark.parametrize("step", STEPS[:2] + [dict(batch_size=40, alpha=0.1, learning_rate_init=0.1)])
def test_classifier_takes_scikit_learns_steps(kind, step):
    X = data()
    y = {"binary": (X[:, 0] > 0).astype(int),
         "multiclass": np.digitize(X[:, 0], [-0.5, 0.5]),
         "multilabel": np.c_[X[:, 0] > 0, X[:, 1] > 0].astype(int)}[kind]
    ours, theirs = twins(MLPClassifier, X, y, hidden_layer_sizes=(6,), activation="logistic", **step)
    fit_both(ours, theirs, X, y, epochs=15)
    assert_same_params(ours, theirs)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-12, atol=1e-14)
    assert ours.out_activation_ == theirs.out_activation_
    if step["batch_size"] == 40:
        np.testing.assert_allclose(ours.loss_curve_[1:], theirs.loss_curve_[1:], rtol=1e-12)


def test_adaptive_learning_rate_and_stopping_follow_scikit_learn():
    X = data()
    y = np.sin(X[:, 0])
    ours, theirs = twins(MLPRegressor, X, y, hidden_layer_sizes=(5,), activation="tanh", batch_size=20,
                         momentum=0.0, learning_rate="adaptive", learning_rate_init=0.2, tol=1e-3)
    ours.set_params(n_iter_no_change=2)
    theirs.set_params(n_iter_no_change=2)
    fit_both(ours, theirs, X, y, epochs=300)
    assert ours.n_iter_ == theirs.n_iter_ < 300
    assert ours._learning_rate == theirs._optimizer.learning_rate < 1e-6
    assert_same_params(ours, theirs)


@pytest.mark.parametrize("loss, batch_size", [("squared_error", 8), ("squared_error", 1), ("mse", 6),
                                              ("half_sse", 8), ("ssr", 40)])
def test_regressor_is_mlp_fit_with_the_documented_mapping(loss, batch_size):
    X = data()
    Y = np.c_[np.sin(X[:, 0]), X[:, 1] * X[:, 2]]
    lr, alpha, K, epochs = 0.05, 0.01, Y.shape[1], 12
    reg = MLPRegressor(hidden_layer_sizes=(7,), activation="softplus", loss=loss, batch_size=batch_size,
                       learning_rate_init=lr, alpha=alpha, momentum=0.8, max_iter=epochs,
                       n_iter_no_change=np.inf, random_state=3).fit(X, Y)
    if loss == "squared_error":
        args = dict(lr=lr * (K / 2.0), weight_decay=alpha / ((K / 2.0) * batch_size))
    elif loss == "mse":
        args = dict(lr=lr, weight_decay=alpha / batch_size)
    else:
        args = dict(lr=lr / batch_size, weight_decay=alpha)
    net = nbprop.MLP([3, 7, 2], activation="softplus", loss="mse" if loss == "squared_error" else loss,
                     seed=3)
    hist = net.fit(X, Y, epochs=epochs, batch_size=batch_size, momentum=0.8, nesterov=True, **args)
    assert np.array_equal(reg.predict(X), net.predict(X))
    assert np.array_equal(reg.model_.params, net.params)
    scale = {"squared_error": 0.5, "mse": 1.0}.get(loss, 1 / len(X))
    assert reg.loss_curve_[0] >= scale * hist.loss[0]  # the data part plus a non-negative L2 term


def test_classifier_is_mlp_fit_with_the_documented_mapping():
    X = data(n=30)
    y = np.digitize(X[:, 0], [-0.5, 0.5])
    clf = MLPClassifier(hidden_layer_sizes=(5,), activation="elu", batch_size=10, learning_rate_init=0.3,
                        alpha=0.02, momentum=0.0, max_iter=8, n_iter_no_change=np.inf,
                        random_state=1).fit(X, y)
    net = nbprop.MLP([3, 5, 3], activation="elu", loss="cross_entropy", seed=1)
    net.fit(X, y, epochs=8, lr=0.3 / 10, batch_size=10, weight_decay=0.02)
    assert clf.model_.loss_name == "cross_entropy" and clf.out_activation_ == "softmax"
    assert np.array_equal(clf.predict_proba(X), net.predict(X))
    assert np.array_equal(clf.predict(X), net.predict(X).argmax(axis=1))


def test_fitted_attributes_are_scikit_learns():
    X = data()
    y = X[:, 0] ** 2
    reg = MLPRegressor(hidden_layer_sizes=(4, 3), activation=["tanh", "relu"], max_iter=5,
                       random_state=0)
    with pytest.warns(ConvergenceWarning):
        reg.fit(X, y)
    assert [c.shape for c in reg.coefs_] == [(3, 4), (4, 3), (3, 1)]
    assert [b.shape for b in reg.intercepts_] == [(4,), (3,), (1,)]
    assert all(np.shares_memory(c, reg.model_.params) for c in reg.coefs_ + reg.intercepts_)
    assert reg.model_.activations == ["tanh", "relu", "identity"]
    assert reg.n_iter_ == 5 and reg.t_ == 5 * len(X) and len(reg.loss_curve_) == 5
    assert reg.loss_ == reg.loss_curve_[-1] and reg.best_loss_ == min(reg.loss_curve_)
    assert reg.validation_scores_ is None and reg.best_validation_score_ is None
    assert reg.n_features_in_ == 3 and reg.n_outputs_ == 1 and reg.n_layers_ == 4
    assert reg.out_activation_ == "identity"


def test_activation_names_of_scikit_learn_and_nbprop():
    X = data()
    y = X[:, 0]
    for name, expected in [("logistic", "sigmoid"), ("identity", "identity"), ("softplus", "softplus"),
                           ("leaky_relu", "leaky_relu")]:
        reg = MLPRegressor(hidden_layer_sizes=(3,), activation=name, max_iter=1).fit(X, y)
        assert reg.model_.activations[0] == expected


def test_feature_names_are_recorded_and_checked():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(data(), columns=["a", "b", "c"])
    reg = MLPRegressor(hidden_layer_sizes=(3,), max_iter=2).fit(frame, frame["a"])
    assert list(reg.feature_names_in_) == ["a", "b", "c"]
    with pytest.warns(UserWarning, match="feature names"):
        reg.predict(frame.to_numpy())


def test_early_stopping_keeps_the_best_validation_parameters():
    X = data(n=200, d=2, seed=1)
    y = np.where(X[:, 0] * X[:, 1] > 0, "same", "diff")
    clf = MLPClassifier(hidden_layer_sizes=(16,), activation="tanh", learning_rate_init=0.5, batch_size=20,
                        early_stopping=True, validation_fraction=0.2, n_iter_no_change=5, max_iter=200,
                        random_state=0).fit(X, y)
    assert clf.best_loss_ is None and len(clf.validation_scores_) == clf.n_iter_ < 200
    assert clf.best_validation_score_ == max(clf.validation_scores_) > 0.8
    # The kept parameters are the best epoch's: its validation accuracy is reproduced.
    from sklearn.model_selection import train_test_split
    _, X_val, _, y_val = train_test_split(X, y, random_state=np.random.RandomState(0), test_size=0.2,
                                          stratify=y)
    assert clf.score(X_val, y_val) == clf.best_validation_score_


def test_partial_fit_is_one_epoch_and_continues():
    X = data()
    y = np.digitize(X[:, 0], [0.0])
    clf = MLPClassifier(hidden_layer_sizes=(4,), batch_size=10, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[:20], y[:20], classes=[0, 1])
    model = clf.model_
    clf.partial_fit(X[20:], y[20:])
    assert clf.model_ is model and clf.n_iter_ == 1 and clf.t_ == 40 and len(clf.loss_curve_) == 2
    with pytest.raises(ValueError, match="not the same as on last call"):
        clf.partial_fit(X, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="early_stopping"):
        clf.set_params(early_stopping=True).partial_fit(X, y)


def test_warm_start_continues_and_a_new_fit_restarts():
    X = data()
    y = X[:, 0]
    cold = MLPRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0, learning_rate_init=0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        first = cold.fit(X, y).model_.params.copy()
        assert np.array_equal(cold.fit(X, y).model_.params, first)  # a fit without warm start restarts
        warm = clone(cold).set_params(warm_start=True).fit(X, y)
        warm.fit(X, y)
    assert not np.array_equal(warm.model_.params, first) and len(warm.loss_curve_) == 6
    with pytest.raises(ValueError, match="same classes"):
        clf = MLPClassifier(hidden_layer_sizes=(2,), max_iter=1, warm_start=True).fit(X, y > 0)
        clf.fit(X, np.digitize(y, [-1, 0, 1]))


def test_pickle_round_trip_predicts_and_trains_on_identically():
    X = data()
    y = np.digitize(X[:, 0], [-0.5, 0.5])
    clf = MLPClassifier(hidden_layer_sizes=(5,), batch_size=8, random_state=0, max_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    twin = pickle.loads(pickle.dumps(clf))
    assert np.array_equal(twin.predict_proba(X), clf.predict_proba(X))
    clf.partial_fit(X, y)
    twin.partial_fit(X, y)  # momentum and shuffling state travelled too
    assert np.array_equal(twin.model_.params, clf.model_.params)
    assert all(np.shares_memory(c, twin.model_.params) for c in twin.coefs_)


def test_a_pickled_mlp_keeps_its_weights_as_views_of_params():
    net = pickle.loads(pickle.dumps(nbprop.MLP([2, 3, 1], seed=0)))
    net.params[:] = 1.0
    assert (net.weights[0] == 1.0).all() and (net.biases[1] == 1.0).all()


def test_pipeline_grid_search_and_cross_validation():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(8,), activation="tanh",
                                                         learning_rate_init=0.1, batch_size=10,
                                                         max_iter=60, random_state=0))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.mean() > 0.85
    search = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 1e-2],
                                 "mlpclassifier__hidden_layer_sizes": [(4,), (8,)]}, cv=3)
    search.fit(X, y)
    assert search.best_score_ > 0.85
    assert isinstance(search.best_estimator_[-1].model_, nbprop.MLP)


def test_float32_trains_and_predicts_in_single_precision():
    X = data()
    reg = MLPRegressor(hidden_layer_sizes=(4,), dtype="float32", max_iter=3).fit(X, X[:, 0])
    assert reg.model_.dtype == np.float32 and reg.predict(X).dtype == np.float32


def test_verbose_prints_every_epoch(capsys):
    X = data()
    MLPRegressor(hidden_layer_sizes=(2,), max_iter=3, verbose=True, tol=10.0, n_iter_no_change=1,
                 early_stopping=True, validation_fraction=0.25).fit(X, X[:, 0])
    out = capsys.readouterr().out
    assert "Iteration 1, loss = " in out and "Validation score:" in out and "Stopping." in out


def test_keyboard_interrupt_ends_training_with_a_warning(monkeypatch):
    class Interrupted(nbprop.MLP):
        calls = 0

        def fit(self, *args, **kwargs):  # Ctrl-C during the third epoch
            Interrupted.calls += 1
            if Interrupted.calls == 3:
                raise KeyboardInterrupt
            return super().fit(*args, **kwargs)

    monkeypatch.setattr(nbsk, "MLP", Interrupted)
    X = data()
    with pytest.warns(UserWarning, match="interrupted"):
        reg = MLPRegressor(hidden_layer_sizes=(2,), max_iter=10).fit(X, X[:, 0])
    assert reg.n_iter_ == 2 and np.isfinite(reg.predict(X)).all()


def test_divergence_raises_nbprops_error_and_keeps_the_last_finite_epoch():
    X = data() * 1e3
    reg = MLPRegressor(hidden_layer_sizes=(3,), learning_rate_init=10.0, momentum=0.0, max_iter=50)
    with pytest.raises(nbprop.DivergenceError, match="diverged"):
        with np.errstate(all="ignore"):
            reg.fit(X, X[:, 0] * 1e3)
    assert np.isfinite(reg.model_.params).all()


def test_unfitted_estimators_raise_not_fitted():
    with pytest.raises(NotFittedError):
        MLPClassifier().predict_proba([[0.0]])
    with pytest.raises(NotFittedError):
        _ = MLPRegressor().coefs_


@pytest.mark.parametrize("params, match", [
    (dict(solver="adam"), "solver: .*'sgd'"),
    (dict(activation="swish"), "activation: unknown activation 'swish'"),
    (dict(activation=["tanh", "relu"]), "one name per hidden layer"),
    (dict(hidden_layer_sizes=(4, 0)), "hidden_layer_sizes"),
    (dict(alpha=-1.0), "alpha"),
    (dict(batch_size=0), "batch_size: expected 'auto' or a whole number"),
    (dict(learning_rate="cyclic"), "learning_rate"),
    (dict(learning_rate_init=0.0), "learning_rate_init"),
    (dict(momentum=1.0), r"momentum: .*\[0, 1\)"),
    (dict(max_iter=0), "max_iter"),
    (dict(n_iter_no_change=0), "n_iter_no_change"),
    (dict(validation_fraction=1.0), "validation_fraction"),
    (dict(shuffle="yes"), "shuffle"),
    (dict(dtype="float16"), "dtype"),
    (dict(loss="huber"), "loss"),
])
def test_bad_parameters_are_named_in_the_error(params, match):
    with pytest.raises(ValueError, match=match):
        MLPRegressor(**params).fit(data(), data()[:, 0])


def test_classifier_rejects_continuous_targets():
    with pytest.raises(ValueError, match="Unknown label type"):
        MLPClassifier().fit(data(), data()[:, 0])


def test_a_shorter_last_batch_still_steps_with_its_mean_gradient_for_squared_error():
    X = data()  # 40 samples in batches of 16, 16 and 8
    y = np.sin(X[:, 0])
    ours, theirs = twins(MLPRegressor, X, y, hidden_layer_sizes=(5,), activation="tanh", batch_size=16,
                         momentum=0.9, alpha=0.0)
    fit_both(ours, theirs, X, y, epochs=10)
    assert_same_params(ours, theirs)
