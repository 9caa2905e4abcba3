"""Momentum and Nesterov acceleration: torch.optim.SGD's update, scikit-learn's Lasso
with L1, the iteration count on an ill-conditioned problem."""

import numpy as np
import pytest

import fastgd

from conftest import lstsq, make_problem


def torch_sgd_loop(X, y, lr, n_iter, momentum, nesterov):
    """torch.optim.SGD's update on half the MSE, written out in NumPy (the oracle)."""
    A = np.hstack([X, np.ones((len(X), 1))])
    theta = np.zeros(A.shape[1])
    velocity = np.zeros_like(theta)
    for _ in range(n_iter):
        g = A.T @ (A @ theta - y) / len(X)
        velocity = momentum * velocity + g
        theta = theta - lr * (g + momentum * velocity if nesterov else velocity)
    return theta[:-1], theta[-1]


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("solver", ["stream", "gram"])
def test_momentum_iterates_equal_torch_sgd(backend, nesterov, solver):
    X, y, _, _ = make_problem(300, 5, seed=1)
    coef, intercept = torch_sgd_loop(X, y, 0.1, 80, 0.9, nesterov)
    result = fastgd.fit(
        X,
        y,
        lr=0.1,
        max_iter=80,
        tol=0,
        momentum=0.9,
        nesterov=nesterov,
        backend=backend,
        solver=solver,
    )
    np.testing.assert_allclose(result.coef, coef, rtol=1e-10, atol=1e-12)
    assert result.intercept == pytest.approx(intercept, rel=1e-10)


def test_nesterov_beats_plain_gd_on_an_ill_conditioned_problem(compiled_backend):
    """Condition number ~1e4: plain GD needs ~kappa * log(1/tol) iterations, Nesterov
    with momentum (sqrt(kappa) - 1) / (sqrt(kappa) + 1) about sqrt(kappa) times fewer."""
    rng = np.random.default_rng(3)
    n_samples, n_features = 2000, 8
    Q, _ = np.linalg.qr(rng.standard_normal((n_features, n_features)))
    scales = np.logspace(0, 2, n_features)  # singular values 1..100: kappa = 1e4
    X = rng.standard_normal((n_samples, n_features)) @ np.diag(scales) @ Q
    X -= X.mean(axis=0)
    y = X @ rng.standard_normal(n_features) + 0.1 * rng.standard_normal(n_samples)
    H = np.hstack([X, np.ones((n_samples, 1))])
    eigenvalues = np.linalg.eigvalsh(H.T @ H / n_samples)
    kappa = eigenvalues[-1] / eigenvalues[0]
    assert 3e3 < kappa < 3e4
    momentum = (np.sqrt(kappa) - 1) / (np.sqrt(kappa) + 1)
    # Iteration counts are the method's, not the solver's: on the compressed problem
    # (solver="gram") plain GD's 1e5 iterations cost O(D^2) each, not a pass over X.
    options = dict(
        tol=1e-8, max_iter=400_000, backend=compiled_backend, solver="gram", method="gd"
    )
    plain = fastgd.fit(X, y, **options)
    fast = fastgd.fit(X, y, momentum=momentum, nesterov=True, **options)
    assert plain.converged and fast.converged
    assert fast.n_iter * 10 < plain.n_iter, (fast.n_iter, plain.n_iter)
    # ||g|| <= 1e-8 ||g_0|| bounds the distance to the optimum by about
    # kappa * 1e-8 relative: 1e-4.
    coef, intercept = lstsq(X, y)
    np.testing.assert_allclose(fast.coef, coef, rtol=1e-4)
    np.testing.assert_allclose(plain.coef, coef, rtol=1e-4)


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("batch_size", [None, 64])
def test_momentum_with_l1_reaches_the_lasso_solution_with_exact_zeros(
    compiled_backend, nesterov, batch_size
):
    """The optimum must be a fixed point of the momentum step with L1 (heavy ball:
    iPiano; Nesterov: FISTA), or the fit converges to a weaker penalty's solution."""
    sklearn = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(4)
    X = rng.standard_normal((500, 12))
    true_coef = np.zeros(12)
    true_coef[:4] = [2.0, -1.5, 1.0, 0.5]
    y = X @ true_coef + 1.0 + 0.3 * rng.standard_normal(500)
    lasso = sklearn.Lasso(alpha=0.1, tol=1e-12, max_iter=100_000).fit(X, y)
    assert 0 < np.count_nonzero(lasso.coef_) < 12
    if batch_size is None:
        options = dict(tol=1e-10, max_iter=20_000)
    else:  # SGD with decreasing steps: close to, not at, the solution
        options = dict(
            tol=0,
            max_iter=300,
            batch_size=batch_size,
            schedule="invscaling",
            power_t=0.6,
            random_state=0,
        )
    result = fastgd.fit(
        X,
        y,
        penalty="l1",
        alpha=0.1,
        momentum=0.8,
        nesterov=nesterov,
        backend=compiled_backend,
        **options,
    )
    atol = 1e-7 if batch_size is None else 2e-2
    np.testing.assert_allclose(result.coef, lasso.coef_, atol=atol)
    assert result.intercept == pytest.approx(lasso.intercept_, abs=atol)
    if batch_size is None:
        assert result.converged
        np.testing.assert_array_equal(result.coef == 0, lasso.coef_ == 0)


def test_nesterov_l1_returns_the_proximal_point_and_resumes_from_its_iterate():
    X, y, _, _ = make_problem(300, 6, seed=5)
    options = dict(
        penalty="l1",
        alpha=0.3,
        momentum=0.7,
        nesterov=True,
        lr=0.2,
        solver="stream",
        backend="cython",
    )
    model = fastgd.GDRegressor(max_iter=10, tol=0, **options)
    model.partial_fit(X, y)
    model.partial_fit(X, y)
    straight = fastgd.fit(X, y, max_iter=2, tol=0, **options)
    np.testing.assert_array_equal(model.coef_, straight.coef)
    assert np.any(straight.coef == 0)
