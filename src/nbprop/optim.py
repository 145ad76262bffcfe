"""The SGD update rule and learning-rate schedules.

Every training step is ``params -= lr_t * step`` where, with gradient ``g``
(plus ``weight_decay * w`` on weights, never on biases):

* plain SGD: ``step = g``;
* momentum ``mu``: ``v = mu v + g``, ``step = v``;
* Nesterov momentum: ``v = mu v + g``, ``step = g + mu v``.

This is the formulation of ``torch.optim.SGD`` (dampening 0), so nbprop and
PyTorch take the same steps from the same state.  The learning rate ``lr_t``
follows a schedule; ``t`` counts parameter updates made by this model so far
and ``epoch`` counts completed epochs.
"""

import math

from ._jit import inlined, scalar

CONSTANT = 0
INVERSE_SCALING = 1
STEP_DECAY = 2


class Schedule:
    """Base class of learning-rate schedules (constant learning rate).

    Examples
    --------
    >>> import nbprop
    >>> nbprop.Schedule().learning_rate(0.1, step=100, epoch=3)
    0.1
    """

    code = CONSTANT

    def _kernel_args(self):
        """``(code, p1, p2)``: the schedule as the kernels receive it."""
        return self.code, 0.0, 0.0

    def learning_rate(self, lr, step, epoch):
        """The learning rate of update number ``step`` (0-based) during ``epoch``.

        Examples
        --------
        >>> import nbprop
        >>> nbprop.InverseScaling(decay=1.0).learning_rate(0.5, step=3, epoch=0)
        0.125
        """
        code, p1, p2 = self._kernel_args()
        return scheduled_lr(code, float(lr), p1, p2, step, epoch)

    def __repr__(self):
        return "Schedule()"

    def __eq__(self, other):
        return type(self) is type(other) and self._kernel_args() == other._kernel_args()


class InverseScaling(Schedule):
    """``lr_t = lr / (1 + decay * t)``, ``t`` the number of updates made so far.

    Parameters
    ----------
    decay : float
        Non-negative decay rate per update.

    Examples
    --------
    >>> import nbprop
    >>> nbprop.InverseScaling(decay=0.5).learning_rate(1.0, step=2, epoch=0)
    0.5
    """

    code = INVERSE_SCALING

    def __init__(self, decay):
        self.decay = _non_negative(decay, "decay")

    def _kernel_args(self):
        return self.code, self.decay, 0.0

    def __repr__(self):
        return f"InverseScaling(decay={self.decay!r})"


class StepDecay(Schedule):
    """``lr_t = lr * factor ** (epoch // every)``: drop by ``factor`` every ``every`` epochs.

    Parameters
    ----------
    every : int
        Number of epochs between drops, at least 1.
    factor : float
        Multiplier applied at each drop, in ``(0, 1]``.

    Examples
    --------
    >>> import nbprop
    >>> nbprop.StepDecay(every=10, factor=0.5).learning_rate(1.0, step=0, epoch=25)
    0.25
    """

    code = STEP_DECAY

    def __init__(self, every, factor=0.1):
        if isinstance(every, bool) or not isinstance(every, (int,)) or every < 1:
            raise ValueError(f"every: expected a whole number of epochs >= 1, got {every!r}")
        factor = _non_negative(factor, "factor")
        if not 0.0 < factor <= 1.0:
            raise ValueError(f"factor: expected a number in (0, 1], got {factor!r}")
        self.every = int(every)
        self.factor = factor

    def _kernel_args(self):
        return self.code, float(self.every), self.factor

    def __repr__(self):
        return f"StepDecay(every={self.every!r}, factor={self.factor!r})"


def _non_negative(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not value >= 0.0 or value == float("inf"):
        raise ValueError(f"{name}: expected a finite number >= 0, got {value!r}")
    return value


def as_schedule(schedule):
    """Normalise the ``schedule`` argument of ``fit`` to a :class:`Schedule`."""
    if schedule is None or schedule == "constant":
        return Schedule()
    if isinstance(schedule, Schedule):
        return schedule
    raise ValueError(
        f"schedule: expected None, 'constant', InverseScaling(decay) or "
        f"StepDecay(every, factor), got {schedule!r}"
    )


@inlined  # no sum to reorder, so the caller's flags give the same bits; one compile fewer
def scheduled_lr(code, lr, p1, p2, step, epoch):
    """Learning rate of update ``step`` in ``epoch`` under schedule ``code``."""
    if code == INVERSE_SCALING:
        return lr / (1.0 + p1 * step)
    if code == STEP_DECAY:
        # floor(epoch / every) is epoch // every for any epoch below 2^53 (the
        # division is correctly rounded), and pow of two floats is C's pow,
        # as Python's factor ** k is (Numba's float ** int multiplies, and
        # rounds differently); the integer forms (//, int(), float ** int)
        # were three more functions for Numba to compile, 0.13 s of a cold
        # start.  Each kernel call has one epoch, so nothing here varies
        # inside a kernel's loop for its flags to rearrange.
        return lr * math.pow(p2, float(math.floor(epoch / p1)))
    return lr


@scalar
def sgd_update(w, v, g, lr, momentum, nesterov):
    """One SGD step of a parameter ``w`` with momentum buffer ``v`` and gradient ``g``.

    Returns the new ``(w, v)``.  Scalars only, so that kernels can call it
    once per parameter without touching any array's reference count.
    """
    if momentum != 0.0:
        v = momentum * v + g
        g = g + momentum * v if nesterov else v
    return w - lr * g, v
