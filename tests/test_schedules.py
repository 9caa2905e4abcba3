"""Step-size schedules and the per-epoch history.

Oracles: the schedules' formulas evaluated here, fastgd.gradient and plain NumPy
for the gradient norms, lstsq for where the fits end.
"""

import numpy as np
import pytest

import fastgd
from fastgd import GDRegressor

from conftest import lstsq, make_problem


def test_constant_schedule_records_one_step_and_exact_gradient_norms(backend):
    X, y, _, _ = make_problem(120, 4, seed=0)
    result = fastgd.fit(X, y, lr=0.1, max_iter=5, tol=0, backend=backend, solver="stream")
    np.testing.assert_array_equal(result.history["lr"], 0.1)
    np.testing.assert_array_equal(result.history["loss"], result.loss_history)
    # Epoch 0's gradient norm is that of the gradient at the start (W = 0, b = 0).
    g_coef, g_intercept, loss = fastgd.gradient(X, y, np.zeros(4), 0.0, backend="numpy")
    assert result.history["grad_norm"][0] == pytest.approx(
        np.sqrt(np.sum(g_coef**2) + g_intercept**2), rel=1e-12
    )
    assert result.history["loss"][0] == pytest.approx(loss, rel=1e-12)
    assert set(result.history) == {"loss", "grad_norm", "lr"}


@pytest.mark.parametrize("batch_size", [None, 10])
def test_invscaling_step_is_lr_over_one_plus_t_to_the_power_t(compiled_backend, batch_size):
    X, y, _, _ = make_problem(100, 3, 2, seed=1)
    result = fastgd.fit(
        X,
        y,
        lr=0.2,
        schedule="invscaling",
        power_t=0.4,
        max_iter=6,
        tol=0,
        batch_size=batch_size,
        random_state=0,
        backend=compiled_backend,
    )
    n_batches = 1 if batch_size is None else 10
    # The last update of epoch e is update t = (e + 1) * n_batches - 1.
    t = np.arange(1, 7) * n_batches - 1
    np.testing.assert_allclose(result.history["lr"], 0.2 / (1 + t) ** 0.4, rtol=1e-14)


def test_adaptive_schedule_rescues_a_too_large_step(compiled_backend):
    """lr = 2.4 / L makes plain gradient descent diverge; "adaptive" sees the loss
    rise for n_iter_no_change epochs, divides the step by 5 (0.48 / L, stable)
    and goes on to the least-squares solution."""
    X, y, _, _ = make_problem(300, 5, seed=2)
    L = fastgd.fit(X, y, max_iter=1, tol=0, method="gd").lr ** -1
    with pytest.raises(fastgd.DivergenceError):
        fastgd.fit(X, y, lr=2.4 / L, max_iter=500, backend=compiled_backend)
    result = fastgd.fit(
        X,
        y,
        lr=2.4 / L,
        schedule="adaptive",
        n_iter_no_change=3,
        max_iter=2000,
        tol=1e-8,
        backend=compiled_backend,
        solver="stream",
    )
    steps = np.unique(result.history["lr"])
    np.testing.assert_allclose(np.sort(steps)[::-1], 2.4 / L / 5.0 ** np.arange(len(steps)))
    assert len(steps) == 2 and result.converged
    coef, intercept = lstsq(X, y)
    np.testing.assert_allclose(result.coef, coef, rtol=1e-6)


def test_adaptive_schedule_stops_when_the_step_is_a_millionth(compiled_backend):
    """SGD with a constant step has a noise floor; "adaptive" divides the step at
    each plateau and stops once it is below 1e-6 times the start."""
    X, y, _, _ = make_problem(200, 3, noise=1.0, seed=3)
    result = fastgd.fit(
        X,
        y,
        lr=0.05,
        schedule="adaptive",
        batch_size=4,
        tol=0,
        n_iter_no_change=2,
        max_iter=5000,
        random_state=0,
        backend=compiled_backend,
    )
    # a stop of a stochastic fit, not a certificate of the point (converged is False)
    assert result.stopped == "small step" and not result.converged and result.n_iter < 5000
    assert result.history["lr"][-1] == pytest.approx(0.05 / 5**8)  # 5**-9 < 1e-6 < 5**-8
    coef, intercept = lstsq(X, y)
    np.testing.assert_allclose(result.coef, coef, atol=0.01)


def test_estimator_history_and_loss_curve():
    X, y, _, _ = make_problem(200, 3, seed=4)
    model = GDRegressor(batch_size=20, max_iter=7, tol=0, random_state=0).fit(X, y)
    assert set(model.history_) == {"loss", "grad_norm", "lr"}
    assert all(len(values) == 7 for values in model.history_.values())
    np.testing.assert_array_equal(model.loss_curve_, model.history_["loss"])
    assert model.n_iter_ == 7 and model.t_ == 70


def test_adaptive_partial_fit_reports_and_keeps_its_starting_step():
    X, y, _, _ = make_problem(200, 3, seed=4)
    model = GDRegressor(lr=0.05, schedule="adaptive", batch_size=20, random_state=0)
    for _ in range(3):
        model.partial_fit(X, y)
    assert model.lr_ == 0.05
    assert model._optimizer.lr == 0.05
