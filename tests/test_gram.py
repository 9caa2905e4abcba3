"""The Gram solver: the streaming solver's iterates from one pass over X."""

import numpy as np
import pytest

import fastgd
from fastgd._gram import MAX_GRAM_SIZE, choose_solver, gram_matrix, gram_problem

from conftest import lstsq, make_problem


def _fit_both(X, y, **options):
    stream = fastgd.fit(X, y, solver="stream", **options)
    gram = fastgd.fit(X, y, solver="gram", **options)
    assert (stream.solver, gram.solver) == ("stream", "gram")
    return stream, gram


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("n_targets", [None, 3])
def test_gram_iterates_equal_streaming(compiled_backend, layout, fit_intercept, n_targets):
    X, y, _, _ = make_problem(5000, 12, n_targets, layout=layout, seed=1)
    X[:, 3] = 10 + 3 * X[:, 3]  # off-centre and wider: a realistic conditioning
    A = np.hstack([X, np.ones((len(X), 1))]) if fit_intercept else X
    lr = 1.0 / np.linalg.eigvalsh(A.T @ A / len(A))[-1]
    for max_iter in (1, 7, 1000):
        stream, gram = _fit_both(X, y, lr=lr, max_iter=max_iter, tol=0,
                                 fit_intercept=fit_intercept, backend=compiled_backend)
        np.testing.assert_allclose(gram.coef, stream.coef, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(gram.intercept, stream.intercept, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(gram.loss_history, stream.loss_history, rtol=1e-10)


def test_gram_with_starting_point_and_fixed_intercept(backend):
    X, y, _, _ = make_problem(3000, 5, 2, seed=2)
    coef0 = np.full((2, 5), 0.3)
    options = dict(lr=0.2, max_iter=50, tol=0, backend=backend, coef_init=coef0)
    for fit_intercept, intercept0 in ((True, [1.0, -1.0]), (False, [0.5, 2.0])):
        stream, gram = _fit_both(X, y, fit_intercept=fit_intercept, intercept_init=intercept0,
                                 **options)
        np.testing.assert_allclose(gram.coef, stream.coef, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(gram.intercept, stream.intercept, rtol=1e-10, atol=1e-12)
        if not fit_intercept:
            np.testing.assert_array_equal(gram.intercept, intercept0)


def test_gram_converges_to_lstsq_and_stops_on_tol(backend):
    X, y, _, _ = make_problem(20_000, 20, seed=3)
    result = fastgd.fit(X, y, solver="gram", tol=1e-10, max_iter=100_000, backend=backend)
    assert result.converged
    coef, intercept = lstsq(X, y)
    np.testing.assert_allclose(result.coef, coef, atol=1e-8)
    assert result.intercept == pytest.approx(intercept, abs=1e-8)


def test_gram_float32_accuracy_on_ill_scaled_data(compiled_backend):
    """The Gram matrix is accumulated in float64 whatever X's dtype: on float32 data
    with an off-centre column (mean 10 standard deviations) and scales 16x apart
    (condition number about 3e3), the coefficients reach the float64 least-squares
    solution of the same float32 data to 1e-5. They are returned in float32."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((200_000, 4)) * np.array([0.5, 4.0, 0.25, 1.0])
    X[:, 0] += 5.0
    y = X @ np.array([0.5, -0.1, 3.0, 1.0]) + 2.0 + 0.01 * rng.standard_normal(len(X))
    X32, y32 = X.astype(np.float32), y.astype(np.float32)
    result = fastgd.fit(X32, y32, solver="gram", tol=1e-9, max_iter=1_000_000,
                        backend=compiled_backend)
    assert result.converged and result.coef.dtype == np.float32
    coef, intercept = lstsq(X32, y32)
    np.testing.assert_allclose(result.coef, coef, rtol=1e-5)
    assert result.intercept == pytest.approx(intercept, rel=1e-5)


def test_gram_handles_rank_deficient_data(backend):
    """A constant feature beside the intercept: Z.T Z is singular, its square root
    still exists and the iterates still match streaming."""
    X, y, _, _ = make_problem(2000, 4, seed=5)
    X[:, 1] = 2.0
    stream, gram = _fit_both(X, y, lr=0.05, max_iter=200, tol=0, backend=backend)
    np.testing.assert_allclose(gram.coef, stream.coef, rtol=1e-9, atol=1e-10)


def test_gram_problem_has_the_same_loss_and_gradient():
    X, y, _, _ = make_problem(1000, 6, 2, seed=6)
    Xs, Ys = gram_problem(gram_matrix(X, y, np.zeros(2), fit_intercept=True), len(X), 2)
    assert Xs.shape == (9, 7) and Ys.shape == (9, 2)
    W = np.random.default_rng(7).standard_normal((2, 6))
    b = np.array([0.3, -0.2])
    g_W, g_b, loss = fastgd.gradient(X, y, W, b, backend="numpy")
    gs_W, _, loss_s = fastgd.gradient(Xs, Ys, np.hstack([W, b[:, None]]), 0.0, backend="numpy")
    np.testing.assert_allclose(gs_W[:, :6], g_W, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(gs_W[:, 6], g_b, rtol=1e-11, atol=1e-12)
    assert loss_s == pytest.approx(loss, rel=1e-11)


def test_auto_solver_rule():
    assert choose_solver(4, 2, 1, 1000) == "stream"  # nothing to compress: N <= D + 1 + K
    assert choose_solver(10**6, 32, 1, 1000) == "gram"  # the "Gram" case
    assert choose_solver(10**6, 32, 1, 1) == "stream"  # one pass is one pass
    assert choose_solver(10**6, MAX_GRAM_SIZE, 1, 10**6) == "stream"  # G too large
    X, y, _, _ = make_problem(50_000, 8)
    assert fastgd.fit(X, y, tol=1e-3).solver == "gram"
    assert fastgd.fit(X[:8], y[:8], max_iter=3, tol=0).solver == "stream"


def test_bad_solver():
    with pytest.raises(ValueError, match="solver"):
        fastgd.fit(np.eye(3), np.ones(3), solver="newton")
