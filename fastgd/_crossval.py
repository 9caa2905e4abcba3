"""Cross-validated regularization paths from one pass over the data (issue 28).

One pass gives each fold's triangular factor (``_folds.fold_factors``). Then, with
no more reading of X: the grid of penalties comes from the merge of all the folds'
factors (the whole data, as scikit-learn's ``LassoCV`` makes its grid), each fold's
path is solved exactly on the merge of the other folds' factors
(``_path.PathProblem``), and its validation error at every point of the path is
exact from the fold's own factor: for the rows of fold f, ``sum_i s_i r_i^2 = ||R_f
theta||^2`` with ``theta = [w, b, -1]`` (``R_f.T R_f = Z_f.T diag(s) Z_f``, ``Z =
[X, 1, Y]``).
"""

from dataclasses import dataclass

import numpy as np

from ._backends import get_backend
from ._folds import training_factor, whole_factor
from ._path import PathProblem, alpha_grid


@dataclass(frozen=True)
class CrossValidatedPath:
    """What ``cross_validated_path`` found."""

    alphas: np.ndarray  # (n_alphas,), decreasing
    mse_path: np.ndarray  # (n_alphas, n_folds): each fold's validation mean squared error
    best_index: int  # the alpha of least mean validation error (the first, on a tie)


def validation_mse(factor, W, b, fit_intercept):
    """The mean squared error of the rows of ``factor`` at each point of a path, W
    (n, K, D) and b (n, K): ``||R theta||^2 / sum(s)`` per target, averaged over the
    targets, (n,)."""
    n_points, n_targets, _ = W.shape
    columns = [W]
    if fit_intercept:
        columns.append(b[:, :, None])
    # theta for target k: [w_k, b_k, -e_k] (its own column of Y)
    minus_Y = -np.broadcast_to(np.eye(n_targets), (n_points, n_targets, n_targets))
    theta = np.concatenate([*columns, minus_Y], axis=2)  # (n, K, m)
    residuals = np.einsum("ij,nkj->nki", factor.R, theta)
    return np.sum(residuals**2, axis=(1, 2)) / (factor.total_weight * n_targets)


class FoldProblems:
    """The folds' factors (``_folds.fold_factors``) and the small problems made of
    them: the whole data's (``whole``: its factor ``whole_factor``, the merge of all
    the folds') and each fold's training set's (``training[f]``, the merge of the
    other folds'), each standardized once for every penalty solved on it."""

    def __init__(self, factors, n_features, fit_intercept, backend_name):
        D = n_features
        self.factors, self.fit_intercept = factors, fit_intercept
        self.whole_factor = whole_factor(factors, backend_name)
        backend = get_backend(backend_name)
        self.whole = PathProblem.of_factor(self.whole_factor, D, fit_intercept, backend)
        self.training = [
            PathProblem.of_factor(
                training_factor(factors, fold, backend_name), D, fit_intercept, backend
            )
            for fold in range(len(factors))
        ]

    def mse_path(self, alphas, l1_ratio):
        """Each fold's validation mean squared error at each alpha of its training
        set's path (``l1_ratio``: the penalty's L1 share), (n_alphas, n_folds)."""
        mse_path = np.empty((len(alphas), len(self.factors)))
        for fold, path in enumerate(self.training):
            W, b = path.solutions(alphas * l1_ratio, alphas * (1 - l1_ratio))
            mse_path[:, fold] = validation_mse(self.factors[fold], W, b, self.fit_intercept)
        return mse_path


def cross_validated_path(folds, l1_ratio, alphas, n_alphas, eps):
    """The cross-validated path of an elastic-net penalty (``l1_ratio`` 1: the Lasso;
    0: a ridge) on ``folds`` (``FoldProblems``): ``alphas`` given (decreasing) or
    scikit-learn's grid on the whole data (``_path.alpha_grid``)."""
    if alphas is None:
        alphas = alpha_grid(folds.whole, l1_ratio, n_alphas, eps)
    alphas = np.asarray(alphas, dtype=np.float64)
    mse_path = folds.mse_path(alphas, l1_ratio)
    return CrossValidatedPath(alphas, mse_path, int(np.argmin(mse_path.mean(axis=1))))
