"""Regularisation: L2 against the closed form, L1 and elastic net against scikit-learn."""

import numpy as np
import pytest

import fastgd

from conftest import make_problem


def _sparse_problem(n_samples=400, n_features=10, n_targets=None, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features))
    k = 1 if n_targets is None else n_targets
    W = rng.standard_normal((k, n_features)) * (rng.random((k, n_features)) < 0.4)
    Y = X @ W.T + 2.0 + 0.3 * rng.standard_normal((n_samples, k))
    return X, (Y[:, 0] if n_targets is None else Y)


def ridge_closed_form(X, y, alpha, fit_intercept=True):
    """argmin ||X w + b - y||^2 / (2N) + alpha / 2 ||w||^2, by centring and solving."""
    Y = y.reshape(len(X), -1)
    if fit_intercept:
        x_mean, y_mean = X.mean(axis=0), Y.mean(axis=0)
    else:
        x_mean, y_mean = np.zeros(X.shape[1]), np.zeros(Y.shape[1])
    Xc, Yc = X - x_mean, Y - y_mean
    A = Xc.T @ Xc / len(X) + alpha * np.eye(X.shape[1])
    W = np.linalg.solve(A, Xc.T @ Yc / len(X)).T
    b = y_mean - W @ x_mean
    return (W[0], b[0]) if y.ndim == 1 else (W, b)


@pytest.mark.parametrize("solver", ["stream", "gram"])
@pytest.mark.parametrize("n_targets", [None, 2])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_l2_matches_closed_form_ridge(backend, solver, n_targets, fit_intercept):
    X, y, _, _ = make_problem(300, 6, n_targets, seed=3)
    alpha = 0.3
    result = fastgd.fit(X, y, penalty="l2", alpha=alpha, tol=1e-12, max_iter=100_000,
                        fit_intercept=fit_intercept, backend=backend, solver=solver)
    assert result.converged
    coef, intercept = ridge_closed_form(X, y, alpha, fit_intercept)
    np.testing.assert_allclose(result.coef, coef, atol=1e-9)
    if fit_intercept:
        np.testing.assert_allclose(result.intercept, intercept, atol=1e-9)


def test_l2_matches_sklearn_ridge_with_alpha_times_n(backend):
    from sklearn.linear_model import Ridge

    X, y, _, _ = make_problem(250, 5, seed=4)
    result = fastgd.fit(X, y, penalty="l2", alpha=0.1, tol=1e-12, max_iter=100_000,
                        backend=backend)
    ridge = Ridge(alpha=0.1 * len(X)).fit(X, y)
    np.testing.assert_allclose(result.coef, ridge.coef_, atol=1e-8)
    assert result.intercept == pytest.approx(ridge.intercept_, abs=1e-8)


@pytest.mark.parametrize("solver", ["stream", "gram"])
@pytest.mark.parametrize("penalty, l1_ratio", [("l1", 1.0), ("elasticnet", 0.5)])
def test_l1_and_elasticnet_match_sklearn(backend, solver, penalty, l1_ratio):
    from sklearn.linear_model import ElasticNet

    X, y = _sparse_problem()
    alpha = 0.1
    result = fastgd.fit(X, y, penalty=penalty, alpha=alpha, l1_ratio=l1_ratio, tol=1e-12,
                        max_iter=200_000, backend=backend, solver=solver)
    assert result.converged
    reference = ElasticNet(alpha=alpha, l1_ratio=l1_ratio, tol=1e-14, max_iter=1_000_000)
    reference.fit(X, y)
    np.testing.assert_allclose(result.coef, reference.coef_, atol=1e-7)
    assert result.intercept == pytest.approx(reference.intercept_, abs=1e-7)
    # The proximal step makes coefficients exactly zero, where the optimum has them.
    zeros = reference.coef_ == 0
    assert zeros.any() and (~zeros).any()
    np.testing.assert_array_equal(result.coef[zeros], 0.0)
    assert np.all(result.coef[~zeros] != 0.0)


def test_lasso_multi_output_matches_per_target_lasso(compiled_backend):
    from sklearn.linear_model import Lasso

    X, Y = _sparse_problem(n_targets=3, seed=1)
    result = fastgd.fit(X, Y, penalty="l1", alpha=0.05, tol=1e-12, max_iter=200_000,
                        backend=compiled_backend)
    for k in range(3):
        lasso = Lasso(alpha=0.05, tol=1e-14, max_iter=1_000_000).fit(X, Y[:, k])
        np.testing.assert_allclose(result.coef[k], lasso.coef_, atol=1e-7)
        assert result.intercept[k] == pytest.approx(lasso.intercept_, abs=1e-7)


def test_intercept_is_never_penalised(backend):
    X, y, _, _ = make_problem(200, 4, seed=6)
    y = y + 5.0
    for solver in ("stream", "gram"):
        result = fastgd.fit(X, y, penalty="l1", alpha=100.0, tol=1e-12, max_iter=10_000,
                            backend=backend, solver=solver)
        np.testing.assert_array_equal(result.coef, 0.0)  # everything shrunk to zero ...
        assert result.intercept == pytest.approx(y.mean(), abs=1e-10)  # ... but b


def test_loss_history_records_the_whole_objective(backend):
    X, y, _, _ = make_problem(100, 3, seed=7)
    coef0 = np.array([0.5, -1.0, 2.0])
    result = fastgd.fit(X, y, penalty="elasticnet", alpha=0.2, l1_ratio=0.25, max_iter=1,
                        tol=0, coef_init=coef0, backend=backend, solver="stream")
    half_mse = np.sum((X @ coef0 - y) ** 2) / (2 * len(X))
    penalty = 0.2 * (0.25 * np.abs(coef0).sum() + 0.75 / 2 * (coef0**2).sum())
    assert result.loss_history[0] == pytest.approx(half_mse + penalty, rel=1e-12)


def test_estimator_passes_the_penalty_through():
    X, y = _sparse_problem(seed=2)
    model = fastgd.GDRegressor(penalty="l1", alpha=0.2, tol=1e-10, max_iter=100_000).fit(X, y)
    assert np.any(model.coef_ == 0.0)
