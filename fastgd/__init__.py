"""fastgd: linear least squares by gradient descent, in compiled kernels.

Public API
----------
fit                 fit W and b by full-batch gradient descent (returns a FitResult)
fit_path            a Lasso, elastic-net or ridge path from one pass (PathResult)
fit_many            many independent small fits in one call (per group, per pixel)
GDRegressor         the scikit-learn style estimator around fit
GDRegressorCV       its alpha (and l1_ratio) chosen by cross-validation, from one pass
gradient            one fused evaluation of the gradient and the loss
read_files          columns of Parquet / CSV files, fitted a block at a time (Files)
load                a model saved by GDRegressor.save (no pickle: loading runs no code)
available_backends  which of "cython", "numba", "numpy" are installed here
kernels             the gradient and the step for your own @njit loops (imports Numba)
get_include         the directory for Cython's include path: cimport fastgd.cython_kernels

The math (one convention everywhere), for X (N, D), Y (N, K), W (K, D), b (K,)::

    R = X @ W.T + b - Y      L = sum(R**2) / (2N)
    G_W = R.T @ X / N        g_b = R.mean(axis=0)
    W -= lr * G_W            b -= lr * g_b
"""

import os as _os

from . import _persist
from ._api import (
    ConvergenceWarning,
    DivergenceError,
    FitInterrupted,
    FitResult,
    fit,
    gradient,
)
from ._backends import available_backends
from ._files import Files, read_files
from ._fit_path import PathResult, fit_path
from ._many import FitManyResult, fit_many
from ._persist import ModelFileError
from ._validation import CopyWarning
from ._version import __version__ as __version__


def __getattr__(name):
    # The estimator derives from scikit-learn's BaseEstimator when scikit-learn is
    # installed, and importing scikit-learn takes about a second: load it only when
    # GDRegressor is asked for, so that `import fastgd` stays fast.
    if name in ("GDRegressor", "NotFittedError"):
        from . import _estimator

        return getattr(_estimator, name)
    if name == "GDRegressorCV":
        from . import _estimator_cv

        return _estimator_cv.GDRegressorCV
    # fastgd.kernels imports Numba: only when it is asked for (import fastgd.kernels,
    # or this attribute).
    if name == "kernels":
        import importlib

        return importlib.import_module(".kernels", __name__)
    raise AttributeError(f"module 'fastgd' has no attribute {name!r}")


def load(path):
    """Load a model written by :meth:`GDRegressor.save`, running no code from the file.

    Every field is checked (its name, type, shape, dtype, that coefficients are
    finite, the fastgd version that wrote it); the optimiser's internal state is
    not saved, so a ``partial_fit`` after ``load`` continues from ``coef_`` and
    ``intercept_`` with a new one (a fresh momentum and shuffling state).

    Parameters
    ----------
    path : str or os.PathLike
        The model file.

    Returns
    -------
    GDRegressor
        Fitted: ``predict`` equals the saved model's bit for bit.

    Raises
    ------
    fastgd.ModelFileError
        (a ValueError) for a file that is not a fastgd model, is truncated or
        changed, or was written by another fastgd release (MAJOR.MINOR).
    OSError
        When the file cannot be read.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import fastgd
    >>> X = np.arange(8.0).reshape(4, 2)
    >>> path = os.path.join(tempfile.mkdtemp(), "m.fastgd")
    >>> fastgd.GDRegressor().fit(X, X @ [1.0, 1.0]).save(path)
    >>> fastgd.load(path).n_features_in_
    2
    """
    metadata, arrays = _persist.read(path)  # (checked before scikit-learn is imported)
    from ._estimator import GDRegressor

    return _persist.build(GDRegressor, metadata, arrays)


def get_include():
    """The directory to put on Cython's include path to ``cimport`` fastgd's kernels.

    ``from fastgd.cython_kernels cimport gradient_float64, ...`` in your .pyx needs
    it (docs/user_guide/kernels.md); no C header is needed.

    Returns
    -------
    str
        The directory that holds the ``fastgd`` package (and its .pxd files).

    Examples
    --------
    >>> import os, fastgd
    >>> os.path.isfile(os.path.join(fastgd.get_include(), "fastgd", "cython_kernels.pxd"))
    True
    """
    return _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))


__all__ = [
    "ConvergenceWarning",
    "CopyWarning",
    "DivergenceError",
    "FitInterrupted",
    "FitManyResult",
    "FitResult",
    "Files",
    "PathResult",
    "ModelFileError",
    "GDRegressor",
    "GDRegressorCV",
    "NotFittedError",
    "available_backends",
    "fit",
    "fit_many",
    "fit_path",
    "get_include",
    "gradient",
    "load",
    "read_files",
]
