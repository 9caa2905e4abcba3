"""Whole fits: iterates against the plain NumPy loop, convergence to lstsq, stopping,
and divergence (DivergenceError and its 2/L bound).

The compiled backends' agreement with the reference is test_conformance.py's."""

import re
import warnings

import numpy as np
import pytest

import fastgd

from conftest import SHAPES, lstsq, make_problem


def numpy_loop(X, y, lr, n_iter, fit_intercept=True, coef=None, intercept=None):
    """The seeds' vectorised gradient descent, in float64: the oracle for iterates."""
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(y, dtype=np.float64).reshape(X.shape[0], -1)
    W = (
        np.zeros((Y.shape[1], X.shape[1]))
        if coef is None
        else np.array(coef, float).reshape(Y.shape[1], -1)
    )
    b = np.zeros(Y.shape[1]) if intercept is None else np.array(intercept, float).reshape(-1)
    losses = []
    for _ in range(n_iter):
        R = X @ W.T + b - Y
        losses.append(np.sum(R**2) / (2 * len(X)))
        W = W - lr * R.T @ X / len(X)
        if fit_intercept:
            b = b - lr * R.mean(axis=0)
    if np.ndim(y) == 1:
        return W[0], b[0], np.array(losses)
    return W, b, np.array(losses)


def largest_hessian_eigenvalue(X, fit_intercept=True):
    A = np.hstack([X, np.ones((len(X), 1))]) if fit_intercept else X
    A = np.asarray(A, dtype=np.float64)
    return np.linalg.eigvalsh(A.T @ A / len(A))[-1]


@pytest.mark.parametrize("solver", ["stream", "gram"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_k_iterations_match_numpy_loop(dtype, layout, shape, solver):
    """The reference's plain gradient descent is the loop's; the compiled backends'
    is the reference's (test_conformance.py, "gd-float-lr" and "gd-float-lr-gram")."""
    backend = "numpy"
    X, y, _, _ = make_problem(*shape, dtype=dtype, layout=layout)
    lr = 0.5 / largest_hessian_eigenvalue(X)
    k = 25
    result = fastgd.fit(X, y, lr=lr, max_iter=k, tol=0, backend=backend, solver=solver)
    assert result.solver == solver
    W, b, losses = numpy_loop(X, y, lr, k)

    context = (
        f"backend={backend} dtype={np.dtype(dtype).name} layout={layout} shape={shape} "
        f"solver={solver}"
    )
    assert result.n_iter == k and not result.converged, context
    assert result.coef.dtype == dtype and result.coef.shape == W.shape, context
    assert np.asarray(result.intercept).dtype == dtype, context
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    scale = max(np.abs(W).max(), np.abs(b).max())
    np.testing.assert_allclose(result.coef, W, rtol=rtol, atol=rtol * scale, err_msg=context)
    np.testing.assert_allclose(result.intercept, b, rtol=rtol, atol=rtol * scale, err_msg=context)
    np.testing.assert_allclose(
        result.loss_history, losses, rtol=rtol, atol=rtol * losses[0], err_msg=context
    )


@pytest.mark.parametrize("learning_rate", [0.0001, 0.05])
def test_seed_001_loop_reproduced(backend, learning_rate):
    """Seed 001's loop, verbatim, is fit(lr=learning_rate, fit_intercept=False, tol=0)."""
    x, y, _, _ = make_problem(200, 6, seed=7)
    w = np.zeros(6)
    for _ in range(300):
        score = x.dot(w)
        error = y - score
        gradient = x.T.dot(error) / len(x)
        w += learning_rate * gradient
    result = fastgd.fit(
        x, y, lr=learning_rate, max_iter=300, fit_intercept=False, tol=0, backend=backend
    )
    np.testing.assert_allclose(result.coef, w, rtol=1e-12, atol=1e-14)
    assert result.intercept == 0.0


def test_seed_000_single_sample_update(backend):
    """Seed 000, len(x) = 1: one step is w + lr * x.T (y - x w)."""
    x = np.array([[0.5, -1.0, 2.0]])
    y = np.array([3.0])
    w0 = np.array([0.1, 0.2, 0.3])
    lr = 0.01
    result = fastgd.fit(
        x, y, lr=lr, max_iter=1, tol=0, fit_intercept=False, coef_init=w0, backend=backend
    )
    np.testing.assert_allclose(result.coef, w0 + lr * x.T.dot(y - x.dot(w0)), rtol=1e-15)


def test_worked_4x2_example(backend):
    """A 4 x 2 problem as in seed 003's worked example (bias 0 at the start), run
    step by step against the loop and then to the exact solution."""
    X = np.array([[1.0, 2.0], [2.0, 1.0], [3.0, 4.0], [4.0, 3.0]])
    y = np.array([5.0, 4.0, 11.0, 10.0])  # = X @ [1, 2] exactly, bias 0
    W, b, _ = numpy_loop(X, y, 0.01, 3)
    three = fastgd.fit(X, y, lr=0.01, max_iter=3, tol=0, backend=backend)
    np.testing.assert_allclose(three.coef, W, rtol=1e-13)
    assert three.intercept == pytest.approx(b, rel=1e-13)
    solved = fastgd.fit(X, y, max_iter=100_000, tol=1e-12, backend=backend)
    assert solved.converged
    np.testing.assert_allclose(solved.coef, [1.0, 2.0], atol=1e-8)
    assert solved.intercept == pytest.approx(0.0, abs=1e-8)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("n_targets", [None, 3])
def test_auto_lr_reaches_lstsq(backend, dtype, layout, fit_intercept, n_targets):
    X, y, _, _ = make_problem(400, 6, n_targets, dtype, layout, seed=11)
    X = X * np.array([1.0, 2.0, 0.5, 1.0, 3.0, 1.0], dtype=dtype)  # some anisotropy
    result = fastgd.fit(
        X,
        y,
        max_iter=20_000,
        tol=1e-10 if dtype == np.float64 else 1e-5,
        fit_intercept=fit_intercept,
        backend=backend,
    )
    assert result.converged
    coef, intercept = lstsq(X, y, fit_intercept)
    tol = 1e-7 if dtype == np.float64 else 1e-3
    np.testing.assert_allclose(result.coef, coef, atol=tol)
    np.testing.assert_allclose(result.intercept, intercept, atol=tol)
    # With lr = 1/L the loss never increases (up to rounding).
    assert np.all(np.diff(result.loss_history) <= 1e-6 * result.loss_history[0])


def test_auto_lr_is_inverse_largest_eigenvalue(backend):
    X, y, _, _ = make_problem(500, 8, seed=3)
    X[:, 2] *= 10
    for fit_intercept in (True, False):
        result = fastgd.fit(
            X, y, max_iter=1, tol=0, fit_intercept=fit_intercept, backend=backend, method="gd"
        )
        L = largest_hessian_eigenvalue(X, fit_intercept)
        assert result.lr == pytest.approx(1 / L, rel=1e-3)


def test_tolerance_certifies_gradient_norm(backend):
    """An iterative method's tol (conjugate gradients here): the gradient norm."""
    X, y, _, _ = make_problem(300, 5, 2, seed=4)
    tol = 1e-6
    result = fastgd.fit(X, y, tol=tol, max_iter=10_000, backend=backend, method="cg")
    assert result.converged and result.n_iter < 10_000
    g0_W, g0_b, _ = fastgd.gradient(X, y, np.zeros((2, 5)), np.zeros(2), backend="numpy")
    g_W, g_b, _ = fastgd.gradient(X, y, result.coef, result.intercept, backend="numpy")
    norm = np.sqrt(np.sum(g_W**2) + np.sum(g_b**2))
    assert norm <= tol * np.sqrt(np.sum(g0_W**2) + np.sum(g0_b**2))
    # ... and it stopped at the first iteration that met it, not later: iteration t
    # checks the point reached after t updates, and the last one run met the bound,
    # so the point after n_iter - 2 updates did not.
    shorter = fastgd.fit(X, y, tol=0, max_iter=result.n_iter - 2, backend=backend, method="cg")
    g_W, g_b, _ = fastgd.gradient(X, y, shorter.coef, shorter.intercept, backend="numpy")
    assert np.sqrt(np.sum(g_W**2) + np.sum(g_b**2)) > tol * np.sqrt(
        np.sum(g0_W**2) + np.sum(g0_b**2)
    )


def test_tol_reference_with_intercept_init_only_is_the_same_for_both_solvers():
    """tol is relative to the larger of the starting and zero-model gradient norms,
    with either solver (the Gram solver skipped the zero model when only
    intercept_init was given)."""
    # y barely depends on X, so starting at its mean is starting near the solution:
    # only the zero model gives tol a meaningful scale.
    rng = np.random.default_rng(5)
    X = rng.standard_normal((500, 4))
    y = 3.0 + 0.01 * X[:, 0] + 0.001 * rng.standard_normal(500)
    options = dict(tol=1e-6, intercept_init=float(np.mean(y)), max_iter=20_000)
    stream = fastgd.fit(X, y, solver="stream", **options)
    gram = fastgd.fit(X, y, solver="gram", method="cg", **options)
    assert abs(stream.n_iter - gram.n_iter) <= 2


def test_tol_zero_runs_every_iteration_silently(backend):
    X, y, _, _ = make_problem(50, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = fastgd.fit(X, y, tol=0, max_iter=777, backend=backend, method="cg")
    assert result.n_iter == 777 and len(result.loss_history) == 777 and not result.converged


def test_not_converging_warns(backend):
    X, y, _, _ = make_problem(100, 4)
    with pytest.warns(fastgd.ConvergenceWarning, match="max_iter=3"):
        result = fastgd.fit(X, y, max_iter=3, backend=backend, method="cg")
    assert result.n_iter == 3 and not result.converged


def test_fixed_intercept_when_not_fitted(backend):
    """fit_intercept=False keeps b at intercept_init and fits W around it."""
    X, y, W_true, b_true = make_problem(300, 4, noise=0.0)
    result = fastgd.fit(
        X, y, fit_intercept=False, intercept_init=b_true, max_iter=5000, tol=1e-12, backend=backend
    )
    assert result.intercept == b_true
    np.testing.assert_allclose(result.coef, W_true, atol=1e-8)


def test_warm_start_from_solution_stops_at_once(backend):
    X, y, _, _ = make_problem(200, 4, seed=8)
    coef, intercept = lstsq(X, y)
    result = fastgd.fit(X, y, coef_init=coef, intercept_init=intercept, tol=1e-6, backend=backend)
    assert result.n_iter <= 2
    np.testing.assert_allclose(result.coef, coef, atol=1e-10)


def test_diverging_lr_raises(backend):
    X, y, _, _ = make_problem(200, 5)
    with pytest.raises(fastgd.DivergenceError, match=r"iteration \d+.*2/L = "):
        fastgd.fit(X, y, lr=100.0, backend=backend)


@pytest.mark.parametrize("max_iter", [10**9, 10**20])
@pytest.mark.parametrize("method", ["auto", "gd"])
def test_a_huge_max_iter_costs_nothing_until_it_is_used(max_iter, method):
    """The history grows as the fit runs: max_iter=10**9 asked numpy for 29.8 GiB
    up front (MemoryError) and 10**20 for an impossible dimension."""
    X, y, _, _ = make_problem(300, 4, seed=12)
    result = fastgd.fit(X, y, max_iter=max_iter, tol=1e-8, method=method)
    assert result.converged and result.n_iter < 10_000
    assert len(result.loss_history) == result.n_iter
    assert all(len(column) == result.n_iter for column in result.history.values())


def test_the_history_grows_past_its_first_allocation():
    """Past _HISTORY_ROWS epochs the history is doubled, and every row is kept."""
    X, y, _, _ = make_problem(300, 4, seed=13)
    n_iter = 3 * 1024 + 5
    result = fastgd.fit(X, y, lr=1e-4, max_iter=n_iter, tol=0, method="gd", solver="stream")
    assert result.n_iter == n_iter == len(result.loss_history)
    assert np.all(np.diff(result.loss_history) <= 0)  # a stable step: never rises


# ------------------------------------------------------------------------ DivergenceError


def _two_over_L(X, fit_intercept=True):
    return 2.0 / largest_hessian_eigenvalue(X, fit_intercept)


def test_divergence_error_is_a_floating_point_error():
    assert issubclass(fastgd.DivergenceError, FloatingPointError)


def test_divergence_error_message(backend):
    X, y, _, _ = make_problem(200, 5)
    with pytest.raises(fastgd.DivergenceError) as info:
        fastgd.fit(X, y, lr=1e3, backend=backend)
    message = str(info.value)
    assert "iteration" in message
    assert "2/L" in message
    match = re.search(r"2/L = ([0-9.eE+-]+)", message)
    assert match, message
    reported = float(match.group(1).rstrip("."))
    np.testing.assert_allclose(reported, _two_over_L(X), rtol=1e-2)


def test_divergence_error_message_without_intercept(backend):
    X, y, _, _ = make_problem(200, 5)
    X = X + 3.0  # an intercept column would change L a lot
    with pytest.raises(fastgd.DivergenceError) as info:
        fastgd.fit(X, y, lr=1e3, fit_intercept=False, backend=backend)
    reported = float(re.search(r"2/L = ([0-9.eE+-]+)", str(info.value)).group(1).rstrip("."))
    np.testing.assert_allclose(reported, _two_over_L(X, fit_intercept=False), rtol=1e-2)


@pytest.mark.parametrize("n_targets", [None, 2], ids=["y1d", "y2d"])
def test_lr_slightly_above_two_over_L_raises(backend, n_targets):
    X, y, _, _ = make_problem(200, 5, n_targets)
    with pytest.raises(fastgd.DivergenceError):
        fastgd.fit(X, y, lr=1.1 * _two_over_L(X), max_iter=2000, tol=0.0, backend=backend)


@pytest.mark.parametrize("n_targets", [None, 2], ids=["y1d", "y2d"])
def test_lr_slightly_below_two_over_L_is_stable(backend, n_targets):
    X, y, _, _ = make_problem(200, 5, n_targets)
    result = fastgd.fit(X, y, lr=0.95 * _two_over_L(X), max_iter=2000, tol=0.0, backend=backend)
    assert result.n_iter == 2000
    assert np.all(np.isfinite(result.coef))
    assert np.all(np.isfinite(result.intercept))
    # Below 2/L the loss never increases (up to rounding).
    assert np.all(np.diff(result.loss_history) <= 1e-12 * result.loss_history[:-1])


def test_lr_a_hair_above_two_over_L_does_not_return_a_blown_up_result(backend):
    # lr = 1.0001 * 2/L is unstable: the loss grows by (1.0001)**2 per iteration
    # along the top eigenvector. The kernel's 1e4 bar is not reached in 20000
    # iterations, so the API's fallback must decide; it must not hand back
    # coefficients whose loss is far above where the fit started.
    X, y, _, _ = make_problem(200, 5)
    try:
        result = fastgd.fit(
            X, y, lr=1.0001 * _two_over_L(X), max_iter=20000, tol=0.0, backend=backend
        )
    except fastgd.DivergenceError:
        return
    history = result.loss_history
    assert history[-1] <= history[0], (
        f"silent divergence: loss went from {history[0]:.6g} (min {history.min():.6g}) "
        f"to {history[-1]:.6g} without DivergenceError"
    )
