"""Regularization paths of the compressed problem (fastgd/_path.py), point by point
against scikit-learn's Lasso, ElasticNet and Ridge (their objectives scaled as
fastgd's: module docstring), run to a tolerance far below the comparison's, on one
factor of the data; with an intercept, sample weights and two targets."""

import numpy as np
import pytest

from fastgd import _backends
from fastgd._gram import compressed_problem
from fastgd._path import PathProblem

linear_model = pytest.importorskip("sklearn.linear_model")

N, D = 300, 6


def _data(weighted, n_targets=1, seed=0):
    rng = np.random.default_rng(seed)
    cov = 0.5 ** np.abs(np.subtract.outer(np.arange(D), np.arange(D)))
    X = rng.multivariate_normal(np.zeros(D), cov, size=N) * [1, 3, 10, 0.1, 1, 5] + 2
    coef = rng.normal(size=(D, n_targets)) * (np.arange(D) < 3)[:, None]
    Y = X @ coef + 4 + rng.normal(size=(N, n_targets))
    weights = rng.uniform(0.2, 3, size=N) if weighted else None
    return X, Y, weights


def _path_problem(X, Y, weights):
    R = _backends.get_backend("numpy").compress(X, Y, np.zeros(Y.shape[1]), True, weights, False)
    total = N if weights is None else weights.sum()
    A, C = compressed_problem(R, total, Y.shape[1])
    return PathProblem(A, C, D, True, np.zeros(D, dtype=bool), _backends.get_backend("numpy"))


def _sklearn(model, X, Y, weights):
    model.fit(X, Y, sample_weight=weights)
    return np.atleast_2d(model.coef_), np.atleast_1d(model.intercept_)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
def test_lasso_and_elastic_net_paths_are_scikit_learns(weighted, l1_ratio):
    X, Y, weights = _data(weighted, n_targets=2)
    s = np.ones(N) if weights is None else weights
    mean_X, mean_Y = s @ X / s.sum(), s @ Y / s.sum()
    # the smallest alpha at which every coefficient is 0 (scikit-learn's alpha_max)
    alpha_max = np.abs((X - mean_X).T @ (s[:, None] * (Y - mean_Y))).max() / s.sum() / l1_ratio
    alphas = np.geomspace(1.001 * alpha_max, 1e-4 * alpha_max, 12)
    W, b = _path_problem(X, Y, weights).solutions(alphas * l1_ratio, alphas * (1 - l1_ratio))
    assert W.shape == (12, 2, D) and b.shape == (12, 2)
    for i, alpha in enumerate(alphas):
        model = linear_model.ElasticNet(alpha=alpha, l1_ratio=l1_ratio, tol=1e-15, max_iter=10**6)
        coef, intercept = _sklearn(model, X, Y, weights)
        np.testing.assert_allclose(W[i], coef, rtol=0, atol=1e-8)
        np.testing.assert_allclose(b[i], intercept, rtol=0, atol=1e-7)
        np.testing.assert_array_equal(W[i] == 0, coef == 0)  # the same zeros
    assert (W[0] == 0).all() and (W[1] != 0).any() and (W[-1] != 0).sum() >= 2 * 3


@pytest.mark.parametrize("weighted", [False, True])
def test_a_ridge_path_is_the_closed_form_of_each_alpha(weighted):
    X, Y, weights = _data(weighted)
    total = N if weights is None else weights.sum()
    l2 = np.geomspace(10.0, 1e-6, 9)
    W, b = _path_problem(X, Y, weights).solutions(np.zeros(9), l2)
    for i in range(9):
        # Ridge(alpha) minimizes ||sqrt(s) r||^2 + alpha ||w||^2: fastgd's l2 times the
        # total weight
        model = linear_model.Ridge(alpha=l2[i] * total, solver="cholesky")
        coef, intercept = _sklearn(model, X, Y, weights)
        np.testing.assert_allclose(W[i], coef, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(b[i], intercept, rtol=1e-10)


def test_an_unpenalized_point_is_least_squares():
    X, Y, weights = _data(True)
    W, b = _path_problem(X, Y, weights).solutions([0.0], [1e-300])
    A = np.c_[X, np.ones(N)] * np.sqrt(weights)[:, None]
    solution = np.linalg.lstsq(A, Y * np.sqrt(weights)[:, None], rcond=None)[0]
    np.testing.assert_allclose(W[0], solution[:D].T, rtol=1e-10)
    np.testing.assert_allclose(b[0], solution[D], rtol=1e-10)
