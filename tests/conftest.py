"""The test matrix shared by all test files: backend x dtype x layout x shape.

Every compiled backend is compared with the NumPy reference (fastgd/_reference.py),
the oracle for the math, over the same parameters.
"""

import numpy as np
import pytest

from fastgd._backends import BACKENDS as ALL_BACKENDS  # the one registry
from fastgd._backends import COMPILED_BACKENDS

DTYPES = (np.float64, np.float32)
LAYOUTS = ("C", "F")
# (n_samples, n_features, n_targets); n_targets=None means 1-D y. Includes N=1, D=1,
# N not a multiple of the kernels' row block (256), and several blocks.
SHAPES = (
    (1, 1, None),
    (1, 5, None),
    (7, 1, None),
    (4, 2, None),
    (37, 5, 3),
    (100, 10, None),
    (300, 7, 2),
    (1000, 3, None),
)

# Relative tolerance of a compiled gradient against the float64 reference, measured
# against the scale of the terms summed (|R|.T @ |X| / N): float64 sums are exact to
# a few ulps times the block size; float32 residuals and block sums are rounded in
# float32 (see the accumulation note in fastgd/_numba_kernels.py).
GRAD_RTOL = {np.float64: 1e-12, np.float32: 2e-5}


@pytest.fixture(params=COMPILED_BACKENDS)
def compiled_backend(request):
    return request.param


@pytest.fixture(params=ALL_BACKENDS)
def backend(request):
    return request.param


@pytest.fixture(params=DTYPES, ids=lambda d: np.dtype(d).name)
def dtype(request):
    return request.param


@pytest.fixture(params=LAYOUTS)
def layout(request):
    return request.param


def make_problem(
    n_samples, n_features, n_targets=None, dtype=np.float64, layout="C", seed=0, noise=0.1
):
    """Random regression data: X (N, D) in the requested dtype and layout, y of
    shape (N,) or (N, K), and the true coefficients (W, b) that generated it."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features))
    k = 1 if n_targets is None else n_targets
    W = rng.standard_normal((k, n_features))
    b = rng.standard_normal(k)
    Y = X @ W.T + b + noise * rng.standard_normal((n_samples, k))
    X = np.asarray(X, dtype=dtype, order=layout)
    if n_targets is None:
        return X, Y[:, 0].astype(dtype), W[0], b[0]
    return X, Y.astype(dtype), W, b


def lstsq(X, y, fit_intercept=True):
    """Least-squares (coef, intercept) by np.linalg.lstsq, shaped like fastgd's result."""
    X = np.asarray(X, dtype=np.float64)
    A = np.hstack([X, np.ones((X.shape[0], 1))]) if fit_intercept else X
    solution = np.linalg.lstsq(A, np.asarray(y, dtype=np.float64), rcond=None)[0]
    if fit_intercept:
        coef, intercept = solution[:-1], solution[-1]
    else:
        coef, intercept = solution, np.zeros(solution.shape[1:])
    return coef.T, intercept


def assert_stopped_at_a_plateau(scores, tol, n_iter_no_change):
    """The plateau rule of fastgd.fit's tol, checked on a history: the last
    n_iter_no_change scores did not improve on the best before each, and the one
    before them did (or was the first)."""
    n = len(scores)
    for i in range(n - n_iter_no_change, n):
        assert scores[i] >= (1 - tol) * scores[:i].min()
    i = n - n_iter_no_change - 1
    assert i == 0 or scores[i] < (1 - tol) * scores[:i].min()


def sklearn_grid(n_alphas):
    """scikit-learn's argument for a path's grid of n_alphas (1.7 took it as
    alphas=n, and 1.9 dropped n_alphas)."""
    import sklearn

    if tuple(int(p) for p in sklearn.__version__.split(".")[:2]) >= (1, 7):
        return {"alphas": n_alphas}
    return {"n_alphas": n_alphas}
