"""Plain NumPy reference: the source of truth for fastgd's math.

Every compiled kernel is tested against the functions here, and the ``"numpy"``
backend runs them directly. They are written for clarity, not speed: each line is
the formula of the README's "The math" section.

Shapes (the API layer has already validated and cast everything):

* ``X`` (N, D), ``Y`` (N, K), ``W`` (K, D), ``b`` (K,), all of one float dtype.

Model, residual, objective and gradient::

    R   = X @ W.T + b - Y                   # (N, K)
    L   = sum(R ** 2) / (2 N)               # half the mean squared error
    G_W = R.T @ X / N                       # (K, D)
    g_b = R.mean(axis=0)                    # (K,)
"""

import numpy as np

# The update math (penalty, proximal and momentum steps) lives in _steps.py, which
# the Python methods also run; it is part of this oracle. The epoch loop that
# combines these functions is _epochs.fit.
from ._steps import momentum_step, penalty, prox_l1, proximal_step, update  # noqa: F401

_MASK64 = (1 << 64) - 1


def gradient(X, Y, W, b, sample_weight=None):
    """Gradient of half the (weighted) MSE and the loss, in float64.

    With weights s (N,), the objective is ``sum(s_i * ||R_i||^2) / (2 * sum(s))``:
    ``G_W = (s * R).T @ X / sum(s)`` and ``g_b = (s * R).sum(0) / sum(s)``; no
    weights is s = 1. Returns ``(grad_W, grad_b, loss)`` with ``grad_W`` of shape
    (K, D), ``grad_b`` of shape (K,) (both float64) and ``loss`` a Python float.
    """
    sum_W, sum_b, half_sq = rows_gradient(X, Y, W, b, sample_weight, slice(None))
    total = X.shape[0] if sample_weight is None else sample_weight.astype(np.float64).sum()
    return sum_W / total, sum_b / total, float(half_sq / total)


def augmented_rows(X, Y, b, weights, fit_intercept, rows):
    """The rows ``rows`` of ``Z = [X, 1, Y]`` in float64, each scaled by the square
    root of its weight; ``[X, Y - b]`` when the intercept ``b`` is held fixed
    (``fit_intercept=False``). The least-squares objective depends on the data only
    through ``Z.T @ diag(s) @ Z`` (see ``_gram.py``)."""
    Xr = X[rows].astype(np.float64)
    Yr = Y[rows].astype(np.float64)
    columns = [Xr, np.ones((len(Xr), 1)), Yr] if fit_intercept else [Xr, Yr - b]
    Z = np.hstack(columns)
    if weights is not None and len(weights):
        Z *= np.sqrt(weights[rows].astype(np.float64))[:, None]
    return Z


def compress(X, Y, b, weights, fit_intercept, block_rows=1 << 14):
    """An upper-triangular ``R`` with ``R.T @ R = Z.T @ diag(s) @ Z`` (see
    ``augmented_rows``), in one pass over X: the Householder QR of Z's rows, a block at
    a time (``R = qr([R; Z_block])``, tall-skinny QR), so that each column's rounding
    is relative to that column's own norm, whatever the scales of X and Y."""
    m = X.shape[1] + (1 if fit_intercept else 0) + Y.shape[1]
    R = np.zeros((0, m))
    for start in range(0, X.shape[0], block_rows):
        Z = augmented_rows(X, Y, b, weights, fit_intercept, slice(start, start + block_rows))
        R = np.linalg.qr(np.vstack([R, Z]), mode="r")
    return np.vstack([R, np.zeros((m - R.shape[0], m))])  # m rows even when N < m


def next_random(rng_state):
    """SplitMix64 (Steele, Lea and Flood, 2014): the next 64-bit random integer.

    ``rng_state`` is a uint64 array of one element, advanced in place. The compiled
    kernels run the same integer arithmetic (wrapping at 2**64), so a seed gives the
    same sequence on every backend.
    """
    s = (int(rng_state[0]) + 0x9E3779B97F4A7C15) & _MASK64
    rng_state[0] = s
    z = ((s ^ (s >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def shuffle(order, n, rng_state):
    """Shuffle ``order[:n]`` in place (Fisher-Yates, drawing from ``next_random``).

    ``r % (i + 1)`` has a bias of at most (i + 1) / 2**64: nothing any test of a
    permutation of fewer than 2**40 rows can see.
    """
    for i in range(n - 1, 0, -1):
        j = next_random(rng_state) % (i + 1)
        order[i], order[j] = order[j], order[i]



def rows_gradient(X, Y, W, b, weights, rows):
    """Unnormalised sums over ``rows``: ``((s R).T @ X, (s R).sum(0), (s R * R).sum() / 2)``.

    With one target the products are matrix-vector ones, ``X.dot(w)`` and
    ``X.T.dot(r)``, as in the seeds' loop ``w += lr * X.T.dot(y - X.dot(w)) / len(X)``:
    so ``fit(X, y, lr=lr, fit_intercept=False, tol=0, backend="numpy")`` reproduces
    it bit for bit (negating R and the step is exact; tests/test_defaults.py)."""
    Xr = X[rows].astype(np.float64, copy=False)
    W64, Yr = W.astype(np.float64), Y[rows].astype(np.float64)
    scores = Xr.dot(W64[0])[:, None] if W.shape[0] == 1 else Xr @ W64.T
    R = scores + b.astype(np.float64) - Yr
    s = np.ones(R.shape[0]) if weights is None or not len(weights) else \
        weights[rows].astype(np.float64)
    sR = s[:, None] * R
    sum_W = Xr.T.dot(sR[:, 0])[None, :] if W.shape[0] == 1 else sR.T @ Xr
    return sum_W, sR.sum(axis=0), float(np.sum(sR * R)) / 2
