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
EPS = np.finfo(np.float64).eps


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


def _elastic_net_case(case):
    """(H, q, weights, ridge, l1, l2) of an elastic-net path of the small problem."""
    rng = np.random.default_rng(3)
    d = 0 if case == "no coefficients" else 12
    A = rng.normal(size=(40, d)) @ np.diag(rng.uniform(0.3, 3, size=d))
    if case == "copied column":
        A[:, 5] = A[:, 2]
    if case == "sign changes":  # strongly correlated columns: coefficients change sign
        A[:, 1] = A[:, 0] + 0.05 * rng.normal(size=40)
        A[:, 3] = -A[:, 0] + 0.05 * rng.normal(size=40)
    y = A[:, :4] @ [2.0, -1.0, 0.5, 1.5] + rng.normal(size=40) if d else np.zeros(40)
    if case == "zero q":
        y = np.zeros(40)
    H, q = A.T @ A / 40, A.T @ y / 40
    weights = rng.uniform(0.5, 2, size=d) if case == "weights" else np.ones(d)
    ridge = weights**2 if case == "weights" else np.ones(d)
    top = max(np.abs(q).max(initial=0.0), 1.0)
    alphas = np.geomspace(2 * top, 2e-4 * top, 60)
    share = 0.1 if case == "mostly ridge" else 0.5
    return H, q, weights, ridge, alphas * share, alphas * (1 - share)


def _elastic_net_conditions(H, q, weights, ridge, l1, l2, path):
    """The largest violation of each point's optimality conditions, relative to its
    L1 weights: c = q - (H + l2 diag(ridge)) u within l1 w where u = 0, and equal to
    l1 w sign(u) where u != 0."""
    worst = 0.0
    for i, u in enumerate(path):
        c = q - (H + np.diag(l2[i] * ridge)) @ u
        bound = l1[i] * weights
        violation = np.where(
            u == 0, np.maximum(np.abs(c) - bound, 0), np.abs(c - bound * np.sign(u))
        )
        worst = max(worst, float(np.max(violation / bound, initial=0.0)))
    return worst


@pytest.mark.parametrize(
    "case",
    [
        "generic",
        "sign changes",
        "copied column",
        "weights",
        "mostly ridge",
        "zero q",
        "no coefficients",
    ],
)
def test_the_compiled_elastic_net_path_is_the_references(case):
    """Both kernels' elastic_net_path against _reference.elastic_net_path (the same
    zeros and solves, the points to rounding; each point optimal), and bit for bit
    against each other."""
    from fastgd import _reference

    H, q, weights, ridge, l1, l2 = _elastic_net_case(case)
    expected_counts = np.zeros(len(l1), dtype=np.int64)
    expected = _reference.elastic_net_path(H, q, weights, ridge, l1, l2, expected_counts)
    assert _elastic_net_conditions(H, q, weights, ridge, l1, l2, expected) < 1e-10
    if case == "sign changes":  # (the case holds what it says)
        signs = np.sign(expected)
        assert np.any(signs[1:] * signs[:-1] < 0) or np.any(expected_counts > 2)
    runs = []
    for name in _backends.COMPILED_BACKENDS:
        if name not in _backends.available_backends():
            continue
        counts = np.full(len(l1), -1, dtype=np.int64)
        path = _backends.get_backend(name).elastic_net_path(H, q, weights, ridge, l1, l2, counts)
        np.testing.assert_array_equal(counts, expected_counts)
        np.testing.assert_array_equal(path == 0, expected == 0)
        # (to rounding: eps times the condition of the least-penalized Hessian)
        condition = np.linalg.cond(H + np.diag(l2[-1] * ridge)) if len(q) else 1.0
        scale = np.max(np.abs(expected), initial=0.0)
        np.testing.assert_allclose(path, expected, rtol=0, atol=64 * EPS * condition * scale)
        assert _elastic_net_conditions(H, q, weights, ridge, l1, l2, path) < 1e-10
        runs.append(path)
    for path in runs[1:]:
        np.testing.assert_array_equal(path, runs[0])
