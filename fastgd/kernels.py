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

The same kernels for Cython code: ``fastgd/cython_kernels.pxd`` (README: "Kernels
for your own compiled loops").

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

from collections import namedtuple

import numpy as np

from . import _backends
from ._layout import Model
from ._numba_kernels import _gradient, _kernel, _update

# (Importing _numba_kernels launches Numba's threading layer, which a user's cache=True
# loop over these kernels needs in a fresh process: see the end of _numba_kernels.py.)

__all__ = ["gradient", "gradient_workspace", "momentum_step", "step"]

# What _update reads of a fit's FitOptions and OptimizerArrays: built in the
# kernels below, so that users pass plain numbers and arrays.
_StepOptions = namedtuple("_StepOptions", "l1 l2 n_penalized momentum nesterov fit_intercept")
_Velocities = namedtuple("_Velocities", "velocity_W velocity_b")


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


@_kernel
def gradient(X, Y, W, b, workspace, sample_weight=None):
    """The gradient of the (weighted) half mean squared error and the loss, in one
    pass over X.

    With R = X @ W.T + b - Y and s = sample_weight (1 without weights), writes
    ``G_W = (s R).T @ X / sum(s)`` into ``workspace.grad_W`` and
    ``g_b = (s R).sum(0) / sum(s)`` into ``workspace.grad_b`` (float64), and returns
    ``sum(s R**2) / (2 sum(s))``: ``fastgd.gradient``'s numbers (with weights, to
    the rounding of sum(s), summed here in order).

    Parameters
    ----------
    X : ndarray (N, D), float32 or float64, C- or Fortran-contiguous
    Y : ndarray (N, K), X's dtype, any strides
    W : ndarray (K, D), X's dtype, C-contiguous
    b : ndarray (K,), X's dtype
    workspace : GradientScratch
        From ``gradient_workspace(N, D, K, X.dtype)``; this thread's own.
    sample_weight : ndarray (N,), X's dtype, optional

    Returns
    -------
    float
        The loss at (W, b).

    Examples
    --------
    >>> import numpy as np
    >>> from fastgd import kernels
    >>> X = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    >>> Y = np.array([[1.0], [2.0], [4.0]])
    >>> W, b = np.zeros((1, 2)), np.zeros(1)
    >>> workspace = kernels.gradient_workspace(3, 2)
    >>> kernels.gradient(X, Y, W, b, workspace)
    3.5
    >>> workspace.grad_W, workspace.grad_b  # NumPy: (X @ W.T + b - Y).T @ X / 3, ...
    (array([[ -9.        , -11.33333333]]), array([-2.33333333]))
    """
    if sample_weight is None:
        weights = workspace.block_b[0, :0]  # empty, in X's dtype: no weights
        total_weight = np.float64(X.shape[0])
    else:
        weights = sample_weight
        total_weight = 0.0  # NumPy: sample_weight.sum(dtype=np.float64)
        for i in range(sample_weight.shape[0]):
            total_weight += sample_weight[i]
    x_is_f = X.strides[1] != X.itemsize
    s = workspace
    return _gradient(X, Y, W, b, weights, total_weight, x_is_f, s.chunk_rows, s.n_threads,
                     s.grad_W, s.grad_b, s.chunk_W, s.chunk_b, s.chunk_sq, s.block_W,
                     s.block_b, s.resid)


@_kernel
def step(W, b, grad_W, grad_b, lr, l1=0.0, l2=0.0, fit_intercept=True):
    """One step of (proximal) gradient descent on W and b, in place.

    ``W -= lr * (grad_W + l2 * W)``, then soft-thresholding by ``lr * l1`` (exact
    zeros) when ``l1 > 0``; ``b -= lr * grad_b`` if ``fit_intercept`` (b is not
    penalized). In float64, rounded once to W's dtype: ``fastgd.fit``'s update.

    Parameters
    ----------
    W : ndarray (K, D), float32 or float64, C-contiguous
    b : ndarray (K,), W's dtype
    grad_W : ndarray (K, D), float64
    grad_b : ndarray (K,), float64
        The gradient of the data term (``gradient``'s ``workspace.grad_W``, ...).
    lr : float
        The step size.
    l1, l2 : float, default=0.0
        The penalty ``l1 * |W|.sum() + l2 / 2 * (W**2).sum()``.
    fit_intercept : bool, default=True
        Whether b is updated.

    Returns
    -------
    float
        The squared norm of the gradient map ``(old - new) / lr`` over the
        coefficients updated: 0 exactly at the optimum, a stopping test.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgd import kernels
    >>> W, b = np.array([[1.0, -0.05]]), np.array([2.0])
    >>> kernels.step(W, b, np.array([[0.5, 0.0]]), np.array([1.0]), 0.1, l1=1.0)
    3.5
    >>> W, b  # 1 - 0.1 * 0.5 - 0.1 * 1, an exact zero, 2 - 0.1 * 1
    (array([[0.85, 0.  ]]), array([1.9]))

    The gradient map is (1.5, -0.5) for W and 1 for b: 1.5**2 + 0.5**2 + 1**2 = 3.5.
    """
    no_velocity = grad_W[:0]  # no momentum: _update does not read the velocities
    options = _StepOptions(float(l1), float(l2), W.shape[1], 0.0, False, fit_intercept)
    return _update(Model(W, b), grad_W, grad_b, lr, options,
                   _Velocities(no_velocity, no_velocity))


@_kernel
def momentum_step(W, b, grad_W, grad_b, lr, velocity_W, velocity_b, momentum,
                  nesterov=False, l1=0.0, l2=0.0, fit_intercept=True):
    """``step`` with momentum (torch.optim.SGD's), in place on W, b and the velocities.

    Heavy ball: ``v = momentum * v + g; W -= lr * v`` with g = grad_W + l2 * W (then
    the soft-thresholding of ``step``, v being the step taken / lr); Nesterov:
    ``W -= lr * (g + momentum * v)`` with g the gradient map (FISTA's step). The
    same for b and ``velocity_b`` (not penalized). ``fastgd.fit``'s update with
    ``momentum``, ``nesterov``.

    Parameters
    ----------
    W, b, grad_W, grad_b, lr, l1, l2, fit_intercept
        As in ``step``.
    velocity_W : ndarray (K, D), float64, C-contiguous
    velocity_b : ndarray (K,), float64, C-contiguous
        The velocities, zeros at the start of a fit, updated in place.
    momentum : float
        In [0, 1).
    nesterov : bool, default=False

    Returns
    -------
    float
        The squared norm of the gradient map at the current point (see ``step``).

    Examples
    --------
    >>> import numpy as np
    >>> from fastgd import kernels
    >>> W, b = np.array([[1.0]]), np.array([0.0])
    >>> velocity_W, velocity_b = np.array([[2.0]]), np.zeros(1)
    >>> kernels.momentum_step(W, b, np.array([[1.0]]), np.array([0.0]), 0.1,
    ...                       velocity_W, velocity_b, 0.5)
    1.0
    >>> velocity_W, W  # 0.5 * 2 + 1, 1 - 0.1 * 2
    (array([[2.]]), array([[0.8]]))
    """
    options = _StepOptions(float(l1), float(l2), W.shape[1], float(momentum), nesterov,
                           fit_intercept)
    # _update keeps fastgd's (K, 1) velocity of b: the same memory, viewed so
    velocities = _Velocities(velocity_W, velocity_b.reshape((velocity_b.shape[0], 1)))
    return _update(Model(W, b), grad_W, grad_b, lr, options, velocities)
