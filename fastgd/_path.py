"""Regularization paths of the compressed problem (issue 28): the exact solutions of
a grid of penalties on the small problem of one triangular factor.

One pass over the data gives the factor R of ``[X, 1, Y]`` (``_gram.py``); its
compressed problem, standardized once (``_direct.StandardizedProblem``: the
intercept's column taken out exactly, each feature divided by its spread), is a
problem of D + 1 + K rows whatever N, on which every point of a path is solved
exactly, with no tolerance and no iteration count:

- an L1 penalty alone (Lasso): the homotopy walked once down the grid
  (``_direct.lasso_path``), ``l1 ||w||_1 = sum_j (l1 / s_j) |u_j|``;
- an L2 penalty alone (ridge): one SVD of the centred design for the whole grid,
  ``w = V diag(sigma / (sigma^2 + l2)) U.T c``, in the raw coordinates where the
  penalty is ``l2 / 2 ||w||^2``;
- both (elastic net): each point's Lasso with the ridge's Hessian,
  ``H + l2 diag(1 / s^2)``, by its homotopy.

The objective is fastgd's, ``sum_i s_i r_i^2 / (2 sum_i s_i) + l1 ||w||_1 + l2 / 2
||w||^2``: scikit-learn's ``Lasso(alpha)`` is ``l1 = alpha``, ``ElasticNet(alpha,
l1_ratio)`` is ``l1 = alpha l1_ratio, l2 = alpha (1 - l1_ratio)``, ``Ridge(alpha)``
is ``l2 = alpha / N``.
"""

import numpy as np

from ._direct import StandardizedProblem, lasso_path, lasso_solution
from ._gram import compressed_problem


class PathProblem:
    """The small problem of one factor, standardized once, solved at any penalties.

    ``A`` (m, p), ``C`` (m, K): the compressed problem (``_gram.compressed_problem``),
    the intercept's column last in A when ``fit_intercept``; ``constant`` (D,) marks
    the features held at 0 (as the direct solve's)."""

    def __init__(self, A, C, n_features, fit_intercept, constant):
        self.small = StandardizedProblem(A, C, n_features, fit_intercept, 0.0, 0.0, constant)
        # q of the small problem 0.5 u.H u - q.u, per target: diag(1 / s) X_c.T diag(s)
        # Y_c / sum(s) on the kept features (X_c, Y_c centred with an intercept)
        self.cross = self.small.design.T @ self.small.rhs

    @classmethod
    def of_factor(cls, factor, n_features, fit_intercept):
        """The PathProblem of a ``_data.BlockFactor``'s rows (no feature held at 0)."""
        n_targets = factor.R.shape[0] - n_features - (1 if fit_intercept else 0)
        A, C = compressed_problem(factor.R, factor.total_weight, n_targets)
        return cls(A, C, n_features, fit_intercept, np.zeros(n_features, dtype=bool))

    def solutions(self, l1, l2):
        """``(W, b)``, (n, K, D) and (n, K): the exact minimizers at the n points
        ``(l1[i], l2[i])`` of a path, ordered by decreasing penalty (the homotopy
        walks down them)."""
        l1, l2 = np.asarray(l1, dtype=np.float64), np.asarray(l2, dtype=np.float64)
        small = self.small
        s = small.scale[small.kept]
        cross = self.cross
        n_points, n_targets = len(l1), cross.shape[1]
        u = np.zeros((n_points, len(s), n_targets))
        if not len(s):
            pass  # every feature held at 0: only the intercept is fitted
        elif not (l2 > 0).any():
            for k in range(n_targets):
                u[:, :, k] = lasso_path(small.hessian, cross[:, k], 1.0 / s, l1)
        elif not (l1 > 0).any():
            u = self._ridge(l2) * s[None, :, None]
        else:
            for i in range(n_points):
                hessian = small.hessian + np.diag(l2[i] / s**2)
                for k in range(n_targets):
                    u[i, :, k] = lasso_solution(hessian, cross[:, k], l1[i] / s)
        points = [small.coefficients(u[i], small.centre) for i in range(n_points)]
        W = np.stack([W for W, _ in points]) if points else np.zeros((0, n_targets, 0))
        b = np.stack([b for _, b in points]) if points else np.zeros((0, n_targets))
        return W, b

    def _ridge(self, l2):
        # w (n, d, K) in the raw (centred) coordinates: the design's columns times
        # their spreads, B = U diag(sigma) V.T, w = V diag(sigma / (sigma^2 + l2)) U.T c
        small = self.small
        B = small.design * small.scale[small.kept]
        U, sigma, Vt = np.linalg.svd(B, full_matrices=False)
        projected = U.T @ small.rhs  # (r, K)
        shrink = sigma[None, :] / (sigma[None, :] ** 2 + l2[:, None])  # (n, r)
        return np.einsum("jr,nr,rk->njk", Vt.T, shrink, projected)
