"""Kernels for your own compiled loops: fastgd's fused gradient and its update step,
as Numba functions that your ``@njit`` code calls with no Python in between.

``gradient`` is the one-pass kernel behind ``fastgd.gradient`` and ``fastgd.fit``
(the same chunks and blocks, the same order of operations: the same results, bit
for bit, without sample weights), on one thread; ``step`` and ``momentum_step``
are the update of ``fastgd.fit``. They are Numba dispatchers compiled with
``nogil=True`` and ``cache=True``, without Numba's runtime (they never allocate):
call them from your ``@njit`` functions (``cache=True`` and ``nogil=True``
included) or from Python. The parallelism is yours: run your loop in several
Python threads (``nogil=True`` lets them run at once), one workspace per thread.

Shapes are fastgd's convention for K targets: X (N, D), Y (N, K), W (K, D), b (K,),
all in one dtype (float32 or float64), W and b C-contiguous, X C- or
Fortran-contiguous; the gradient is float64. Nothing is checked: a workspace made
for another shape or dtype reads and writes out of bounds. ``import fastgd`` does
not import this module (nor Numba); ``import fastgd.kernels`` does.

The same kernels for Cython code: ``fastgd/cython_kernels.pxd`` (both documented in
docs/user_guide/kernels.md).

Examples
--------
A gradient-descent loop of your own, compiled as a whole:

>>> import numpy as np
>>> from numba import njit
>>> from fastgd import kernels
>>> @njit(nogil=True)
... def fit(X, Y, W, b, lr, n_iter, workspace):
...     for _ in range(n_iter):
...         kernels.gradient(X, Y, W, b, workspace)
...         kernels.step(W, b, workspace.grad_W, workspace.grad_b, lr)
>>> X = np.random.default_rng(0).standard_normal((1000, 3))
>>> Y = X @ [[1.0], [-2.0], [0.5]] + 4.0  # (N, K) with K = 1
>>> W, b = np.zeros((1, 3)), np.zeros(1)
>>> fit(X, Y, W, b, 0.5, 200, kernels.gradient_workspace(1000, 3))
>>> print(W.round(8), b.round(8))
[[ 1.  -2.   0.5]] [4.]
"""

import numpy as np

from . import _backends
from ._numba_kernels import gradient_for_users as gradient
from ._numba_kernels import momentum_step_for_users as momentum_step
from ._numba_kernels import step_for_users as step

# (The kernels are compiled in _numba_kernels, whose cache is invalidated when that file
# changes: see there. Importing it launches Numba's threading layer, which a user's cache=True
# loop over these kernels needs in a fresh process: see the end of _numba_kernels.py.)

__all__ = ["gradient", "gradient_workspace", "momentum_step", "step"]


def gradient_workspace(n_samples, n_features, n_targets=1, dtype=np.float64):
    """The scratch and outputs of ``gradient`` for an X of this shape and dtype.

    Make it once, outside your loop (this allocates; ``gradient`` does not), and one
    per thread: threads must not share a workspace.

    Parameters
    ----------
    n_samples, n_features : int
        X's shape (N, D).
    n_targets : int, default=1
        K, the number of columns of Y (rows of W).
    dtype : {np.float64, np.float32}, default=np.float64
        X's dtype (and Y's, W's, b's).

    Returns
    -------
    GradientScratch
        A namedtuple of arrays that ``gradient`` writes: ``grad_W`` (K, D) and
        ``grad_b`` (K,), float64, hold the gradient of the last call; the other
        fields are the kernel's partial sums, with the chunk and block sizes of
        ``fastgd.gradient`` on one thread (``n_threads`` is 1).

    Examples
    --------
    >>> from fastgd import kernels
    >>> workspace = kernels.gradient_workspace(1000, 3, n_targets=2)
    >>> workspace.grad_W.shape, workspace.grad_b.shape, workspace.n_threads
    ((2, 3), (2,), 1)
    """
    return _backends.serial_gradient_scratch("numba", n_samples, n_features, n_targets, dtype)
