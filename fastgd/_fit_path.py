"""The public function ``fit_path``: a regularization path from one pass over the
data.

One pass reduces the data (NumPy arrays, a Dask collection or files) to the
triangular factor of ``[X, 1, Y]`` (``Data.factor``); the whole grid is then solved
exactly on its small problem and each point certified by its duality gap there
(``_path.PathProblem``). Nothing here loops over data.
"""

import warnings
from dataclasses import dataclass

import numpy as np

from ._backends import get_backend, serial_blas
from ._data import BlockFactor
from ._diagnostics import ConvergenceWarning, raise_for_non_finite
from ._inputs import as_data
from ._path import PathProblem, alpha_grid
from ._validation import (
    Point,
    check_alphas,
    check_backend,
    check_eps,
    check_fit_intercept,
    check_n_threads,
    check_path_penalty,
    check_tol,
)


@dataclass(frozen=True)
class PathResult:
    """What :func:`fastgd.fit_path` returns: the path's points, in the order of
    ``alphas`` (decreasing).

    Attributes
    ----------
    alphas : ndarray of shape (n_alphas,)
        The penalties, decreasing.
    coef : ndarray of shape (n_alphas, n_features) or (n_alphas, n_targets, n_features)
        The coefficients at each alpha (the second form for 2-D y).
    intercept : ndarray of shape (n_alphas,) or (n_alphas, n_targets)
    converged : ndarray of bool, shape (n_alphas,)
        Whether each point is certified: its duality gap, for every target, is at
        most ``tol ** 2`` times the objective of the zero model (the intercept at its
        best).
    duality_gap : ndarray of shape (n_alphas,) or (n_alphas, n_targets)
        An upper bound on how far each point's objective is above its minimum.
    n_iter : ndarray of int, shape (n_alphas,) or (n_alphas, n_targets)
        The linear solves each point took beyond the point before it: the Lasso
        homotopy's events (changes of the active set) between them, an elastic-net
        point's active-set solves, 1 for a ridge point (closed form).
    penalty : str
    l1_ratio : float
        The L1 share of the penalty (1 for "l1", 0 for "l2").
    """

    alphas: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    converged: np.ndarray
    duality_gap: np.ndarray
    n_iter: np.ndarray
    penalty: str
    l1_ratio: float


def fit_path(
    X,
    y=None,
    *,
    penalty="l1",
    alphas=100,
    l1_ratio=0.5,
    eps=1e-3,
    fit_intercept=True,
    sample_weight=None,
    tol=1e-6,
    backend="auto",
    n_threads=None,
):
    """The regularization path of a Lasso, elastic net or ridge: its exact solutions
    over a grid of penalties, from one pass over the data.

    Minimises, at each ``alpha`` of the grid, ``sum((X @ W.T + b - Y) ** 2) / (2 N)
    + alpha * (l1_ratio * ||W||_1 + (1 - l1_ratio) / 2 * ||W||_2^2)`` (weighted as
    :func:`fastgd.fit`'s; the intercept unpenalized): the objective of scikit-learn's
    ``Lasso`` and ``ElasticNet``, so that their ``alpha`` means the same here;
    ``Ridge(alpha=a)`` is ``penalty="l2", alpha=a / N``. One pass reduces the data
    to the triangular factor of ``[X, 1, y]`` (a problem of ``n_features + 1 +
    n_targets`` rows, whatever N), on which every point is solved exactly: the
    Lasso by its homotopy walked once down the grid, a ridge from one SVD, an
    elastic net point by point from the one before; each point is then certified by
    its duality gap. Each target has its own path (as ``Lasso`` on 2-D y).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data; see :func:`fastgd.fit` (NumPy arrays, Dask collections, or files from
        :func:`fastgd.read_files`).
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
        Targets (None when X is files).
    penalty : {"l1", "l2", "elasticnet"}, default="l1"
        The penalty of the path.
    alphas : int or array-like, default=100
        A number of penalties: scikit-learn's grid (``lasso_path``'s), log-spaced
        from ``alpha_max``, the smallest alpha at which every coefficient is 0, down
        to ``eps * alpha_max`` (for "l2", which zeroes no coefficient, the grid of
        an elastic net of ``l1_ratio=1e-3``, as glmnet makes it); or the penalties
        themselves (positive), solved in decreasing order.
    l1_ratio : float in (0, 1], default=0.5
        The L1 share of an "elasticnet" penalty (1 is the Lasso).
    eps : float in (0, 1), default=1e-3
        The grid's smallest alpha over its largest.
    fit_intercept : bool, default=True
        Whether to fit an (unpenalized) intercept.
    sample_weight : array-like of shape (n_samples,), optional
        Non-negative weights; see :func:`fastgd.fit`.
    tol : float, default=1e-6
        A point is ``converged`` when its duality gap is at most ``tol ** 2`` times
        the objective of the zero model (relative, as :func:`fastgd.fit`'s FISTA).
        The points do not depend on it: they are exact up to rounding.
    backend : {"auto", "numba", "cython", "numpy"}, default="auto"
        Which kernels make the factor.
    n_threads : int, optional
        Threads for the compiled kernels; see :func:`fastgd.fit`.

    Returns
    -------
    PathResult
        ``alphas``, ``coef``, ``intercept``, ``converged``, ``duality_gap``,
        ``n_iter``, ``penalty`` and ``l1_ratio``.

    Warns
    -----
    ConvergenceWarning
        If a point's duality gap is above its tolerance (rounding on nearly
        collinear columns, or a tol below what float64 certifies, about 1e-7).

    Examples
    --------
    >>> import numpy as np
    >>> import fastgd
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 5))
    >>> y = X @ [3.0, 0.0, 0.0, -2.0, 0.0] + rng.normal(size=200)
    >>> path = fastgd.fit_path(X, y, alphas=5)
    >>> path.coef.shape, bool(path.converged.all())
    ((5, 5), True)
    >>> (path.coef != 0).sum(axis=1)  # the grid starts where every coefficient is 0
    array([0, 2, 2, 5, 5])
    """
    n_alphas, given = check_alphas(alphas)
    eps = check_eps(eps)
    l1_share = check_path_penalty(penalty, l1_ratio)
    if isinstance(l1_share, tuple):
        raise TypeError(f"l1_ratio of fit_path must be one number; got {l1_ratio!r}.")
    fit_intercept = check_fit_intercept(fit_intercept)
    tol = check_tol(tol)
    n_threads = check_n_threads(n_threads)
    backend = get_backend(check_backend(backend))
    data, _, _ = as_data(X, y, sample_weight, Point(None, None, "coef", "intercept"))
    with serial_blas(None if data.blocked else data.X, True):
        problem = whole_problem(data, backend, fit_intercept, n_threads)
        grid = alpha_grid(problem, l1_share, n_alphas, eps) if given is None else given
        l1, l2 = grid * l1_share, grid * (1 - l1_share)
        points = problem.solve(l1, l2)
        gaps = problem.gaps(points.u, l1, l2)
    converged = (gaps <= problem.gap_thresholds(tol)).all(axis=1)
    if not converged.all():
        warnings.warn(
            f"fit_path: the duality gap of {int((~converged).sum())} of the {len(grid)} "
            f"points is above tol ** 2 = {tol**2:.3g} times the zero model's objective "
            f"(the largest, relative: {(gaps / problem.null_objectives()).max():.3g}): "
            "rounding on nearly collinear columns, or a tol below float64's reach.",
            ConvergenceWarning,
            stacklevel=2,
        )
    W, b = problem.coefficients(points.u)
    return PathResult(
        alphas=grid,
        coef=(W[:, 0] if data.y_is_1d else W).astype(data.dtype),
        intercept=(b[:, 0] if data.y_is_1d else b).astype(data.dtype),
        converged=converged,
        duality_gap=gaps[:, 0] if data.y_is_1d else gaps,
        n_iter=points.n_iter[:, 0] if data.y_is_1d else points.n_iter,
        penalty=penalty,
        l1_ratio=l1_share,
    )


def whole_problem(data, backend, fit_intercept, n_threads):
    """The ``PathProblem`` of all the rows of ``data`` (``_data.Data`` or
    ``BlockedData``): its factor from one pass, constant columns held at 0."""
    R, total_weight, _, _ = data.factor(
        backend, np.zeros(data.n_targets, dtype=data.dtype), fit_intercept, n_threads
    )
    if not np.isfinite(R).all():
        raise_for_non_finite(data, "triangular factor of [X, 1, y]")
    factor = BlockFactor(R, total_weight, (data.n_samples,), None)
    return PathProblem.of_factor(factor, data.n_features, fit_intercept, backend, data)
