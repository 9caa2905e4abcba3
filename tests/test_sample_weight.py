"""sample_weight: the weighted half MSE, against weighted lstsq and repeated rows."""

import numpy as np
import pytest

import fastgd

from conftest import make_problem


def weighted_lstsq(X, y, weights):
    """argmin sum_i s_i (x_i w + b - y_i)^2: lstsq on rows scaled by sqrt(s)."""
    A = np.hstack([X, np.ones((len(X), 1))]) * np.sqrt(weights)[:, None]
    target = np.asarray(y, dtype=float).reshape(len(X), -1) * np.sqrt(weights)[:, None]
    solution = np.linalg.lstsq(A, target, rcond=None)[0]
    coef, intercept = solution[:-1].T, solution[-1]
    return (coef[0], intercept[0]) if np.ndim(y) == 1 else (coef, intercept)


@pytest.mark.parametrize("solver", ["stream", "gram"])
@pytest.mark.parametrize("n_targets", [None, 2])
def test_weighted_fit_matches_weighted_lstsq(backend, layout, solver, n_targets):
    X, y, _, _ = make_problem(400, 5, n_targets, layout=layout, seed=1)
    weights = np.random.default_rng(2).uniform(0.0, 3.0, len(X))
    result = fastgd.fit(
        X, y, sample_weight=weights, tol=1e-12, max_iter=100_000, backend=backend, solver=solver
    )
    assert result.converged
    coef, intercept = weighted_lstsq(X, y, weights)
    np.testing.assert_allclose(result.coef, coef, atol=1e-9)
    np.testing.assert_allclose(result.intercept, intercept, atol=1e-9)


def test_integer_weights_equal_repeated_rows(backend):
    X, y, _, _ = make_problem(150, 4, seed=3)
    counts = np.random.default_rng(4).integers(0, 4, len(X))
    options = dict(lr=0.3, max_iter=40, tol=0, backend=backend, solver="stream")
    weighted = fastgd.fit(X, y, sample_weight=counts, **options)
    repeated = fastgd.fit(np.repeat(X, counts, axis=0), np.repeat(y, counts), **options)
    np.testing.assert_allclose(weighted.coef, repeated.coef, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(weighted.loss_history, repeated.loss_history, rtol=1e-12)


def test_unit_weights_change_nothing(compiled_backend, dtype, layout):
    X, y, _, _ = make_problem(700, 6, 2, dtype=dtype, layout=layout, seed=5)
    coef = np.full((2, 6), 0.1, dtype=dtype)
    plain = fastgd.gradient(X, y, coef, backend=compiled_backend)
    unit = fastgd.gradient(X, y, coef, sample_weight=np.ones(len(X)), backend=compiled_backend)
    for a, b in zip(plain, unit):
        np.testing.assert_array_equal(a, b)  # s * r with s = 1 is r exactly


def test_zero_weights_drop_rows(backend):
    X, y, _, _ = make_problem(300, 3, seed=9)
    weights = np.ones(len(X))
    weights[::3] = 0.0
    kept = weights > 0
    options = dict(tol=1e-12, max_iter=100_000, backend=backend)
    dropped = fastgd.fit(X[kept], y[kept], **options)
    zeroed = fastgd.fit(X, y, sample_weight=weights, **options)
    np.testing.assert_allclose(zeroed.coef, dropped.coef, atol=1e-9)


def test_estimator_sample_weight_and_score():
    X, y, _, _ = make_problem(200, 3, seed=10)
    weights = np.linspace(0.1, 2.0, len(X))
    model = fastgd.GDRegressor(tol=1e-12, max_iter=100_000).fit(X, y, sample_weight=weights)
    coef, _ = weighted_lstsq(X, y, weights)
    np.testing.assert_allclose(model.coef_, coef, atol=1e-9)


def test_sample_weight_is_not_modified(backend):
    X, y, _, _ = make_problem(50, 2)
    weights = np.linspace(1, 2, 50)
    saved = weights.copy()
    fastgd.fit(X, y, sample_weight=weights, max_iter=5, tol=0, backend=backend)
    np.testing.assert_array_equal(weights, saved)
