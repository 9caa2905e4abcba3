"""fastgd: linear least squares by gradient descent, in compiled kernels.

Public API
----------
fit                 fit W and b by full-batch gradient descent (returns a FitResult)
GDRegressor         the scikit-learn style estimator around fit
gradient            one fused evaluation of the gradient and the loss
available_backends  which of "cython", "numba", "numpy" are installed here

The math (one convention everywhere), for X (N, D), Y (N, K), W (K, D), b (K,)::

    R = X @ W.T + b - Y      L = sum(R**2) / (2N)
    G_W = R.T @ X / N        g_b = R.mean(axis=0)
    W -= lr * G_W            b -= lr * g_b
"""

from ._api import (
    ConvergenceWarning,
    DivergenceError,
    FitInterrupted,
    FitResult,
    fit,
    gradient,
)
from ._backends import available_backends
from ._validation import CopyWarning


def __getattr__(name):
    # The estimator derives from scikit-learn's BaseEstimator when scikit-learn is
    # installed, and importing scikit-learn takes about a second: load it only when
    # GDRegressor is asked for, so that `import fastgd` stays fast.
    if name in ("GDRegressor", "NotFittedError"):
        from . import _estimator

        return getattr(_estimator, name)
    raise AttributeError(f"module 'fastgd' has no attribute {name!r}")

__version__ = "0.1.0"

__all__ = [
    "ConvergenceWarning",
    "CopyWarning",
    "DivergenceError",
    "FitInterrupted",
    "FitResult",
    "GDRegressor",
    "NotFittedError",
    "available_backends",
    "fit",
    "gradient",
]
