"""Checks and normalisation at the boundary between users and kernels.

Every array that reaches a kernel passes through here once: converted to the
model's dtype, C-contiguous, finite, and handed over as a read-only view so
that the kernels compile exactly once per dtype whatever the caller's flags,
and can never write into the caller's data.  Each error names the argument,
what was received and what was expected.
"""

import numbers

import numpy as np

from .losses import BCE, CROSS_ENTROPY


def readonly(array):
    """A read-only view of ``array`` (no copy)."""
    view = array.view()
    view.flags.writeable = False
    return view


def real_array(value, name):
    """``value`` as an ndarray of real numbers, or a ``TypeError``/``ValueError`` naming ``name``."""
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name}: expected an array of real numbers, got {type(value).__name__} {value!r}")
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{name}: could not be read as a rectangular array of numbers ({error})") from None
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"{name}: expected real numbers (bool, int or float), got an array of dtype {array.dtype}"
        )
    return array


def finite_array(array, name, dtype, check=True):
    """C-contiguous copy-if-needed of ``array`` in ``dtype``; ``ValueError`` if not finite there.

    ``check=False`` skips the check, for a caller whose kernel checks as it
    reads and calls again with ``check=True`` to raise.
    """
    with np.errstate(over="ignore"):  # an overflow to inf on casting is reported just below
        converted = np.ascontiguousarray(array, dtype=dtype)
    if check and not np.isfinite(converted).all():
        bad = np.argwhere(~np.isfinite(converted))[0]
        where = tuple(int(i) for i in bad)
        raise ValueError(
            f"{name}: expected finite numbers in {np.dtype(dtype).name}, "
            f"found {array[where]!r} at index {where}"
        )
    return converted


def as_inputs(X, n_features, dtype, name="X", check_finite=True):
    """Inputs as a read-only C-contiguous ``(n, n_features)`` array of ``dtype``.

    A 1-D ``X`` is ``n`` samples of one feature when ``n_features == 1`` and
    one sample otherwise.  ``check_finite=False``: see ``finite_array``.
    """
    array = real_array(X, name)
    if array.ndim == 1:
        if n_features == 1:
            array = array.reshape(-1, 1)
        elif array.shape[0] == n_features:
            array = array.reshape(1, -1)
        else:
            raise ValueError(
                f"{name}: a 1-D input is one sample and needs {n_features} features, "
                f"got length {array.shape[0]}"
            )
    if array.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array (n_samples, {n_features}), got shape {array.shape}")
    if array.shape[1] != n_features:
        raise ValueError(
            f"{name}: expected {n_features} features per sample (shape (n, {n_features})), "
            f"got shape {array.shape}"
        )
    if array.shape[0] == 0:
        raise ValueError(f"{name}: expected at least one sample, got shape {array.shape}")
    return readonly(finite_array(array, name, dtype, check_finite))


def as_targets(Y, n_samples, n_outputs, dtype, loss_code, name="Y"):
    """Targets as a read-only C-contiguous ``(n_samples, n_outputs)`` array of ``dtype``.

    1-D targets are accepted for single-output networks, for a single sample,
    and, with ``cross_entropy``, as integer class labels that are one-hot
    encoded here.
    """
    array = real_array(Y, name)
    if array.ndim == 1:
        if n_outputs == 1:
            array = array.reshape(-1, 1)
        elif n_samples == 1 and array.shape[0] == n_outputs:
            array = array.reshape(1, -1)
        elif loss_code == CROSS_ENTROPY and array.dtype.kind in "iu":
            array = one_hot(array, n_outputs, name)
        else:
            raise ValueError(
                f"{name}: expected shape ({n_samples}, {n_outputs}), got 1-D shape {array.shape}"
                + (" (integer class labels are accepted with loss='cross_entropy')" if n_outputs > 1 else "")
            )
    if array.ndim != 2 or array.shape[1] != n_outputs:
        raise ValueError(f"{name}: expected shape ({n_samples}, {n_outputs}), got shape {array.shape}")
    if array.shape[0] != n_samples:
        raise ValueError(
            f"{name}: expected {n_samples} target rows, one per sample of X, got {array.shape[0]}"
        )
    array = finite_array(array, name, dtype)
    if loss_code == BCE and ((array < 0).any() or (array > 1).any()):
        raise ValueError(f"{name}: loss='bce' needs targets in [0, 1], got values in "
                         f"[{array.min()!r}, {array.max()!r}]")
    if loss_code == CROSS_ENTROPY and (array < 0).any():
        raise ValueError(f"{name}: loss='cross_entropy' needs non-negative targets "
                         f"(one-hot or probabilities), got minimum {array.min()!r}")
    return readonly(array)


def one_hot(labels, n_classes, name):
    """``(n, n_classes)`` one-hot rows for integer ``labels`` in ``[0, n_classes)``."""
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(
            f"{name}: class labels must lie in [0, {n_classes}), got values in "
            f"[{labels.min()}, {labels.max()}]"
        )
    encoded = np.zeros((labels.shape[0], n_classes))
    encoded[np.arange(labels.shape[0]), labels] = 1.0
    return encoded


def positive_int(value, name, minimum=1):
    """``value`` as an ``int >= minimum``; ``TypeError``/``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected a whole number >= {minimum}, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name}: expected a whole number >= {minimum}, got {value!r}")
    return int(value)


def real_number(value, name, low=0.0, high=float("inf"), low_open=False, high_open=True):
    """``value`` as a finite float in the stated interval; errors name ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    above = value > low if low_open else value >= low
    below = value < high if high_open else value <= high
    if not (np.isfinite(value) and above and below):
        interval = ("(" if low_open else "[") + f"{low}, {high}" + (")" if high_open else "]")
        raise ValueError(f"{name}: expected a finite number in {interval}, got {value!r}")
    return value
