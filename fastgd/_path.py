"""Regularization paths of the compressed problem (issue 28): the exact solutions of
a grid of penalties on the small problem of one triangular factor.

One pass over the data gives the factor R of ``[X, 1, Y]`` (``_gram.py``); its
compressed problem, standardized once (``_direct.StandardizedProblem``: the
intercept's column taken out exactly, each feature divided by its spread), is a
problem of D + 1 + K rows whatever N, on which every point of a path is solved
exactly, with no tolerance:

- an L1 penalty alone (Lasso): the homotopy walked once down the grid
  (``_reference.lasso_path``, compiled in each backend), ``l1 ||w||_1 = sum_j (l1 / s_j) |u_j|``;
- an L2 penalty alone (ridge): one SVD of the centred design for the whole grid,
  ``w = V diag(sigma / (sigma^2 + l2)) U.T c``, in the raw coordinates where the
  penalty is ``l2 / 2 ||w||^2``;
- both (elastic net): each point's weighted Lasso with the ridge's Hessian, ``H +
  l2 diag(1 / s^2)``, solved on its active set from the point before's
  (``_reference.elastic_net_path``, compiled in each backend).

Each point is then certified by its duality gap on the small problem
(``PathProblem.gaps``), which is the data's: the small problem's objective is the
data's at every point.

The objective is fastgd's, ``sum_i s_i r_i^2 / (2 sum_i s_i) + l1 ||w||_1 + l2 / 2
||w||^2``: scikit-learn's ``Lasso(alpha)`` is ``l1 = alpha``, ``ElasticNet(alpha,
l1_ratio)`` is ``l1 = alpha l1_ratio, l2 = alpha (1 - l1_ratio)``, ``Ridge(alpha)``
is ``l2 = alpha / N``.
"""

from typing import NamedTuple

import numpy as np

from ._accelerated import ROUNDING
from ._direct import EPS, StandardizedProblem
from ._gram import compressed_problem

# A ridge path's grid is made as an elastic net's of this L1 share would be (glmnet's
# convention: a ridge has no alpha at which every coefficient is 0).
RIDGE_GRID_L1_RATIO = 1e-3


def alpha_grid(path, l1_ratio, n_alphas, eps):
    """scikit-learn's grid of a Lasso or elastic-net path on the problem ``path`` (a
    ``PathProblem``): ``n_alphas`` values log-spaced from ``alpha_max``, the smallest
    alpha at which every coefficient is 0, ``max_jk |X_c[:, j].T diag(s) Y_c[:, k]| /
    (sum(s) l1_ratio)`` (X_c, Y_c centred with an intercept), down to ``eps *
    alpha_max``; a ridge's (``l1_ratio`` 0) as with ``RIDGE_GRID_L1_RATIO``."""
    small = path.small
    # X_c.T diag(s) Y_c / sum(s) on the kept features: the cross term times s
    cross = path.cross * small.scale[small.kept, None]
    alpha_max = np.abs(cross).max(initial=0.0) / (l1_ratio or RIDGE_GRID_L1_RATIO)
    if alpha_max == 0 or small.constant_targets.all():
        # nothing to fit (the targets constant to float64): scikit-learn's grid then
        # (its test is alpha_max <= resolution, whatever the units of X and y)
        return np.full(n_alphas, np.finfo(np.float64).resolution)
    return np.geomspace(alpha_max, alpha_max * eps, n_alphas)


class PathPoints(NamedTuple):
    """The solutions of a path in the standardized coordinates of a ``PathProblem``."""

    u: np.ndarray  # (n, d, K): the kept features' standardized slopes at each point
    n_iter: np.ndarray  # (n, K): the linear solves each point took beyond the one before


class PathProblem:
    """The small problem of one factor, standardized once, solved at any penalties.

    ``A`` (m, p), ``C`` (m, K): the compressed problem (``_gram.compressed_problem``),
    the intercept's column last in A when ``fit_intercept``; ``constant`` (D,) marks
    the features held at 0 (as the direct solve's); ``backend`` walks its Lasso
    homotopies (``_reference.lasso_path``)."""

    def __init__(self, A, C, n_features, fit_intercept, constant, backend):
        self.small = StandardizedProblem(
            A, C, n_features, fit_intercept, 0.0, 0.0, constant, backend
        )
        # q of the small problem 0.5 u.H u - q.u, per target: diag(1 / s) X_c.T diag(s)
        # Y_c / sum(s) on the kept features (X_c, Y_c centred with an intercept)
        self.cross = self.small.design.T @ self.small.rhs

    @classmethod
    def of_factor(cls, factor, n_features, fit_intercept, backend, data=None):
        """The PathProblem of a ``_data.BlockFactor``'s rows. A feature whose spread
        on them is within the rounding of its mean is held at 0: if ``data`` (whose
        rows the factor's are) says it is constant, or always without ``data``."""
        n_targets = factor.R.shape[0] - n_features - (1 if fit_intercept else 0)
        A, C = compressed_problem(factor.R, factor.total_weight, n_targets)
        constant = np.zeros(n_features, dtype=bool)
        problem = cls(A, C, n_features, fit_intercept, constant, backend)
        if fit_intercept:
            suspects = problem.small.constant_suspects(sum(factor.block_rows))
            if len(suspects):
                constant[suspects] = True if data is None else data.constant_columns(suspects)
            if constant.any():
                problem = cls(A, C, n_features, fit_intercept, constant, backend)
            if data is not None:  # (without data, the factor's word)
                problem.small.confirm_constant_targets(data)
        return problem

    def solutions(self, l1, l2):
        """``(W, b)``, (n, K, D) and (n, K): the exact minimizers at the n points
        ``(l1[i], l2[i])`` of a path, ordered by decreasing penalty."""
        return self.coefficients(self.solve(l1, l2).u)

    def solve(self, l1, l2):
        """The ``PathPoints`` of the n points ``(l1[i], l2[i])``, ordered by decreasing
        penalty (the homotopy walks down them, each elastic-net point starts from the
        one before)."""
        l1, l2 = np.asarray(l1, dtype=np.float64), np.asarray(l2, dtype=np.float64)
        small = self.small
        s = small.scale[small.kept]
        cross = self.cross
        n_points, n_targets = len(l1), cross.shape[1]
        u = np.zeros((n_points, len(s), n_targets))
        n_iter = np.zeros((n_points, n_targets), dtype=np.int64)
        if not len(s):
            pass  # every feature held at 0: only the intercept is fitted
        elif not (l2 > 0).any():
            events = np.zeros(n_points, dtype=np.int64)
            for k in range(n_targets):
                u[:, :, k] = small.backend.lasso_path(
                    small.hessian, cross[:, k], 1.0 / s, l1, events
                )
                n_iter[:, k] = np.diff(events, prepend=0)
        elif not (l1 > 0).any():
            u = self._ridge(l2) * s[None, :, None]
            n_iter[:] = 1
        else:
            counts = np.zeros(n_points, dtype=np.int64)
            for k in range(n_targets):
                u[:, :, k] = small.backend.elastic_net_path(
                    small.hessian, cross[:, k], 1.0 / s, 1.0 / s**2, l1, l2, counts
                )
                n_iter[:, k] = counts
        return PathPoints(u, n_iter)

    def coefficients(self, u):
        """``(W, b)``, (n, K, D) and (n, K): the raw coefficients of the points u."""
        small, (n_points, _, n_targets) = self.small, u.shape
        W, b = np.zeros((n_points, n_targets, small.n_features)), np.zeros((n_points, n_targets))
        for i in range(n_points):
            W[i], b[i] = small.coefficients(u[i], small.centre)
        return W, b

    def gaps(self, u, l1, l2):
        """The duality gap of each point u (n, d, K) of the penalties (l1, l2) (n,),
        (n, K): the objective minus that of a feasible point of the dual, as
        scikit-learn's ElasticNet computes it (its ridge part as rows ``sqrt(l2_j)
        e_j`` below the design): 0 at the solution, and with an L1 part an upper
        bound on how far the objective is above its minimum. (A ridge's dual has no
        box: its gap is ``-u . gradient``, the Newton decrement's first-order part.)"""
        small = self.small
        s = small.scale[small.kept]
        design, rhs = small.design, small.rhs  # (m, d), (m, K)
        l1_j = np.asarray(l1, dtype=np.float64)[:, None, None] / s[None, :, None]
        l2_j = np.asarray(l2, dtype=np.float64)[:, None, None] / s[None, :, None] ** 2
        residual = rhs[None] - np.einsum("md,ndk->nmk", design, u)  # (n, m, K)
        # the squares of the residuals, the ridge's rows' (l2_j u^2) among them, (n, K)
        squares = np.sum(residual**2, axis=1) + np.sum(l2_j * u**2, axis=1)
        primal = 0.5 * squares + np.sum(l1_j * np.abs(u), axis=1)
        # the dual point: the augmented residual scaled into the dual's box,
        # |correlation_j| <= l1_j (no box without an L1 part)
        correlation = np.einsum("md,nmk->ndk", design, residual) - l2_j * u
        outside = (l1_j > 0) & (np.abs(correlation) > l1_j)
        with np.errstate(divide="ignore", invalid="ignore"):
            room = np.where(outside, l1_j / np.abs(correlation), 1.0)
        scale = np.min(room, axis=1, initial=1.0)  # (n, K)
        dual = scale * np.einsum("mk,nmk->nk", rhs, residual) - 0.5 * scale**2 * squares
        return primal - dual

    def null_objectives(self):
        """The objective of each target at the zero model (its intercept at its best,
        with one), (K,): what a path's gaps are measured against."""
        return 0.5 * np.sum(self.small.rhs**2, axis=0)

    def objective_rounding(self):
        """The rounding of the targets' values in the objective, per target (K,):
        ``0.5 (ROUNDING eps rms_y)^2``. A zero model's objective below it is rounding:
        the targets are constant to float64."""
        return 0.5 * (ROUNDING * EPS * self.small.rms_y) ** 2

    def gap_thresholds(self, tol):
        """The largest duality gap of a point certified to ``tol``, per target (K,):
        ``tol^2`` times the zero model's objective, and no less than the objective's
        rounding (``objective_rounding``)."""
        return np.maximum(tol**2 * self.null_objectives(), self.objective_rounding())

    def _ridge(self, l2):
        # w (n, d, K) in the raw (centred) coordinates: the design's columns times
        # their spreads, B = U diag(sigma) V.T, w = V diag(sigma / (sigma^2 + l2)) U.T c
        small = self.small
        B = small.design * small.scale[small.kept]
        U, sigma, Vt = np.linalg.svd(B, full_matrices=False)
        projected = U.T @ small.rhs  # (r, K)
        shrink = sigma[None, :] / (sigma[None, :] ** 2 + l2[:, None])  # (n, r)
        return np.einsum("jr,nr,rk->njk", Vt.T, shrink, projected)
