"""nbprop: multilayer perceptrons trained by backpropagation in Numba kernels."""

from .explain import gradcheck
from .io import load, save
from .model import MLP
from .optim import InverseScaling, Schedule, StepDecay
from .parallel import Ensemble
from .training import DivergenceError, DivergenceWarning, History

__version__ = "0.1.0"
__all__ = ["MLP", "History", "load", "save", "Schedule", "InverseScaling", "StepDecay",
           "DivergenceError", "DivergenceWarning", "gradcheck", "Ensemble"]
