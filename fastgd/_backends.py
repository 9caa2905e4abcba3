"""The backends: which exist, how to load them, and one calling convention for all.

Every backend offers the same two operations on validated, cast arrays (see
``_numba_kernels.py`` for the shapes):

* ``gradient(X, Y, W, b, x_is_f) -> (grad_W, grad_b, loss)``, gradients in float64;
* ``fit(X, Y, W, b, x_is_f, lr, max_iter, tol, ref_grad_norm2, fit_intercept)
  -> (n_iter, status, loss_history)``, updating ``W`` and ``b`` in place.

The compiled backends are loaded on first use, so ``import fastgd`` neither imports
nor compiles Numba.
"""

import importlib
import importlib.util

import numpy as np

from . import _reference

# Rows per block of the compiled kernels. It fixes the order of the floating-point
# sums (so results do not depend on anything but the data) and bounds the float32
# accumulation error (see _numba_kernels.py). 256 rows of a few hundred features
# stay in L2 for the second sweep of the Fortran-order kernel.
BLOCK_ROWS = 256

BACKENDS = ("numba", "cython", "numpy")
# backend="auto" takes the first available of these. Cython comes first: it is
# compiled ahead of time, so the first fit in a process pays no JIT compilation.
AUTO_ORDER = ("cython", "numba", "numpy")

_MODULES = {"numba": "fastgd._numba_kernels", "cython": "fastgd._cython_kernels"}
_HOW_TO_GET = {
    "numba": "install it with `pip install numba`",
    "cython": (
        "it is built when fastgd is installed from source with a C compiler present: "
        "reinstall with `pip install --force-reinstall --no-cache-dir -e .` and read "
        "the build log for the error"
    ),
}


class NumpyBackend:
    """The plain NumPy reference (``_reference.py``): oracle and fallback."""

    name = "numpy"

    def gradient(self, X, Y, W, b, x_is_f):
        return _reference.gradient(X, Y, W, b)

    def fit(self, X, Y, W, b, x_is_f, lr, max_iter, tol, ref_grad_norm2, fit_intercept):
        return _reference.fit(X, Y, W, b, lr, max_iter, tol, fit_intercept, ref_grad_norm2)


class CompiledBackend:
    """A kernel module (Numba or Cython) behind the common calling convention.

    This is the only place that allocates the kernels' outputs and scratch.
    """

    def __init__(self, name, kernels):
        self.name = name
        self.kernels = kernels

    @staticmethod
    def _workspace(X, n_targets):
        n_samples, n_features = X.shape
        block_rows = min(BLOCK_ROWS, n_samples)
        return (
            np.empty((n_targets, n_features), dtype=np.float64),  # grad_W
            np.empty(n_targets, dtype=np.float64),  # grad_b
            np.empty((n_targets, n_features), dtype=X.dtype),  # block_W
            np.empty(n_targets, dtype=X.dtype),  # block_b
            np.empty((n_targets, block_rows), dtype=X.dtype),  # resid
        )

    def gradient(self, X, Y, W, b, x_is_f):
        work = self._workspace(X, W.shape[0])
        loss = self.kernels.gradient(X, Y, W, b, x_is_f, *work)
        return work[0], work[1], loss

    def fit(self, X, Y, W, b, x_is_f, lr, max_iter, tol, ref_grad_norm2, fit_intercept):
        loss_history = np.empty(max_iter, dtype=np.float64)
        work = self._workspace(X, W.shape[0])
        n_iter, status = self.kernels.fit(
            X, Y, W, b, x_is_f, lr, tol, ref_grad_norm2, fit_intercept, loss_history, *work
        )
        return n_iter, status, loss_history[:n_iter]


_loaded = {"numpy": NumpyBackend()}


def _is_installed(name):
    return name in _loaded or importlib.util.find_spec(_MODULES[name]) is not None


def available_backends():
    """Names of the backends installed here, fastest first.

    Finding a backend does not import it: Numba is only imported (and its kernels
    compiled, or loaded from its cache) the first time the numba backend runs.

    Returns
    -------
    tuple of str
        A subset of ``("cython", "numba", "numpy")``; ``"numpy"`` is always there.

    Examples
    --------
    >>> import fastgd
    >>> "numpy" in fastgd.available_backends()
    True
    """
    return tuple(name for name in AUTO_ORDER if _is_installed(name))


def get_backend(name):
    """Return the loaded backend called ``name`` (already validated), loading it once.

    ``"auto"`` resolves to the first installed backend of ``AUTO_ORDER``. A backend
    that is asked for by name but is not installed raises an ImportError that says
    how to get it.
    """
    if name == "auto":
        name = available_backends()[0]
    backend = _loaded.get(name)
    if backend is None:
        try:
            kernels = importlib.import_module(_MODULES[name])
        except ImportError as exc:
            raise ImportError(
                f"backend={name!r} is not available ({exc}); {_HOW_TO_GET[name]}. "
                f"Installed backends: {available_backends()}."
            ) from exc
        backend = _loaded[name] = CompiledBackend(name, kernels)
    return backend
