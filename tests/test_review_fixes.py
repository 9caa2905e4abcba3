"""Edge cases of the mini-batch, streaming and momentum machinery that a review of
issue 4 turned up: each test fails on the code before its fix."""

import numpy as np
import pytest

import fastgd
from fastgd import GDRegressor

from conftest import make_problem


def test_a_minibatch_fit_diverging_in_its_first_epoch_raises():
    # The bar's reference is the objective at the start, not the first epoch's loss
    # (which already includes the blow-up).
    X, y, _, _ = make_problem(200, 4, seed=0)
    with pytest.raises(fastgd.DivergenceError):
        fastgd.fit(X, y, batch_size=10, lr=4.0, max_iter=1, random_state=0)


@pytest.mark.parametrize("batch_size", [None, 10])
def test_partial_fit_detects_divergence_across_calls(batch_size):
    X, y, _, _ = make_problem(400, 4, seed=1)
    model = GDRegressor(lr=4.0, batch_size=batch_size, random_state=0)
    with pytest.raises(fastgd.DivergenceError):
        for _ in range(3):
            for start in range(0, 400, 50):
                model.partial_fit(X[start:start + 50], y[start:start + 50])


def test_early_stopping_with_zero_weight_on_one_side_is_refused():
    X, y, _, _ = make_problem(2, 2, seed=2)
    weights = np.array([0.0, 1.0])
    for seed in range(20):  # whichever row is held out, one side weighs nothing
        with pytest.raises(ValueError, match="sample_weight is zero on every"):
            fastgd.fit(X, y, early_stopping=True, validation_fraction=0.5,
                       sample_weight=weights, random_state=seed)


def test_partial_fit_after_gram_nesterov_l1_keeps_a_fixed_intercept():
    X, y, _, _ = make_problem(300, 4, seed=3)
    model = GDRegressor(solver="gram", fit_intercept=False, momentum=0.5, nesterov=True,
                        penalty="l1", alpha=0.05, lr=0.1, max_iter=5, tol=0)
    model.fit(X, y, intercept_init=5.0)
    assert model.intercept_ == 5.0
    model.partial_fit(X, y)
    assert model.intercept_ == 5.0


def test_object_arrays_with_a_boolean_anywhere_are_refused():
    X = np.array([[1.0, 2.0], [True, 4.0], [5.0, 6.0]], dtype=object)
    with pytest.raises(TypeError, match="X has dtype object holding bool"):
        fastgd.fit(X, np.zeros(3))


def test_adaptive_partial_fit_reports_and_keeps_its_starting_step():
    X, y, _, _ = make_problem(200, 3, seed=4)
    model = GDRegressor(lr=0.05, schedule="adaptive", batch_size=20, random_state=0)
    for _ in range(3):
        model.partial_fit(X, y)
    assert model.lr_ == 0.05
    assert model._optimizer.lr == 0.05


def test_gram_solver_tol_reference_with_intercept_init_only():
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
    gram = fastgd.fit(X, y, solver="gram", **options)
    assert abs(stream.n_iter - gram.n_iter) <= 2
