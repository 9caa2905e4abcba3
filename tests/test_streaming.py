"""Streaming and warm starts: partial_fit, warm_start, early stopping.

Oracles: a single fit over the concatenated chunks (partial_fit keeps the optimiser
state, so chunk after chunk is the same computation as mini-batches in order), a
longer fit (warm_start), lstsq, and the half MSE of the held-out rows computed here.
"""

import numpy as np
import pytest

import fastgd
from fastgd import GDRegressor, _fit
from fastgd._validation import check_random_state

from conftest import assert_stopped_at_a_plateau, lstsq, make_problem


@pytest.mark.parametrize("n_targets", [None, 2])
@pytest.mark.parametrize(
    "options",
    [
        dict(),
        dict(momentum=0.7, nesterov=True),
        dict(schedule="invscaling", power_t=0.5, penalty="l1", alpha=0.01),
        dict(batch_size=25, momentum=0.5),
    ],
    ids=["plain", "nesterov", "invscaling-l1", "minibatch-momentum"],
)
def test_partial_fit_over_chunks_equals_one_fit_over_all_rows(
    compiled_backend, dtype, n_targets, options
):
    """Chunks of 100 rows, three passes: the momentum, the schedule's time and the
    step carry over between calls exactly as between mini-batches of one fit."""
    X, y, _, _ = make_problem(400, 5, n_targets, dtype=dtype, seed=1)
    model = GDRegressor(lr=0.05, backend=compiled_backend, shuffle=False, **options)
    for _ in range(3):
        for start in range(0, 400, 100):
            model.partial_fit(X[start : start + 100], y[start : start + 100])
    batch_size = options.get("batch_size", 100)
    expected = fastgd.fit(
        X,
        y,
        lr=0.05,
        max_iter=3,
        tol=0,
        backend=compiled_backend,
        shuffle=False,
        **{**options, "batch_size": batch_size},
    )
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(model.coef_, expected.coef, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(model.intercept_, expected.intercept, rtol=rtol, atol=rtol)
    assert model.n_iter_ == 12 and len(model.loss_curve_) == 12
    assert model.t_ == 3 * 400 // batch_size


def test_partial_fit_streams_to_the_least_squares_solution():
    rng = np.random.default_rng(0)
    true_coef = np.array([1.0, -2.0, 0.5])
    model = GDRegressor(batch_size=16, random_state=0)
    X_seen, y_seen = [], []
    for _ in range(60):
        X = rng.standard_normal((200, 3))
        y = X @ true_coef + 3.0 + 0.1 * rng.standard_normal(200)
        model.partial_fit(X, y)
        X_seen.append(X)
        y_seen.append(y)
    coef, intercept = lstsq(np.vstack(X_seen), np.concatenate(y_seen))
    np.testing.assert_allclose(model.coef_, coef, atol=0.02)
    assert model.intercept_ == pytest.approx(intercept, abs=0.02)


def test_partial_fit_checks_the_width_and_fit_starts_afresh():
    X, y, _, _ = make_problem(100, 4, seed=0)
    model = GDRegressor(lr=0.1).partial_fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but GDRegressor is expecting 4"):
        model.partial_fit(np.ascontiguousarray(X[:, :3]), y)
    model.partial_fit(X, y)
    assert model.n_iter_ == 2 and model.t_ == 2
    model.fit(X, y)
    assert model.t_ == model.n_iter_  # a new optimiser: its time restarted


def test_warm_start_continues_from_the_previous_coefficients(compiled_backend):
    X, y, _, _ = make_problem(200, 4, 2, seed=2)
    options = dict(lr=0.05, tol=0, backend=compiled_backend, solver="stream")
    model = GDRegressor(max_iter=15, warm_start=True, **options).fit(X, y)
    model.fit(X, y)
    straight = fastgd.fit(X, y, max_iter=30, **options)
    np.testing.assert_allclose(model.coef_, straight.coef, rtol=1e-13)
    np.testing.assert_allclose(model.intercept_, straight.intercept, rtol=1e-13)
    cold = GDRegressor(max_iter=15, **options).fit(X, y).fit(X, y)
    np.testing.assert_allclose(cold.coef_, fastgd.fit(X, y, max_iter=15, **options).coef)


@pytest.mark.parametrize("batch_size", [None, 16])
def test_early_stopping_validation_loss_is_the_held_out_half_mse(compiled_backend, batch_size):
    X, y, _, _ = make_problem(500, 6, 2, noise=1.0, seed=3)
    model = GDRegressor(
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=3,
        tol=1e-4,
        batch_size=batch_size,
        random_state=5,
        max_iter=2000,
        backend=compiled_backend,
    ).fit(X, y)
    # a plateau of the validation loss: a stop, not a certificate (converged_ False)
    assert model.stopped_ == "validation loss plateau" and not model.converged_
    assert model.n_iter_ < 2000
    # The held-out rows: ceil(0.2 * 500) = 100 of them, chosen by the seed.
    _, order, n_train = _fit.seed_and_order(5, 500, True, 0.2)
    assert n_train == 400
    held_out = order[n_train:]
    residual = X[held_out] @ model.coef_.T + model.intercept_ - y[held_out]
    assert model.history_["validation_loss"][-1] == pytest.approx(
        np.sum(residual**2) / (2 * len(held_out)), rel=1e-10
    )
    # It stopped because the validation loss did not improve by tol for 3 epochs: none
    # of the last 3 fell below (1 - tol) times the best before it.
    validation = model.history_["validation_loss"]
    assert_stopped_at_a_plateau(validation, tol=1e-4, n_iter_no_change=3)


def test_early_stopping_split_does_not_depend_on_the_backend_or_the_shuffles():
    seed = check_random_state(9)
    _, order, n_train = _fit.seed_and_order(9, 10, True, 0.25)
    assert n_train == 7 and sorted(order) == list(range(10))
    assert list(order[:n_train]) == sorted(order[:n_train])
    assert seed == check_random_state(9)


def test_partial_fit_after_fit_continues_from_its_coefficients_and_state():
    X, y, _, _ = make_problem(200, 3, seed=7)
    options = dict(lr=0.1, tol=0, solver="stream", backend="cython")
    model = GDRegressor(max_iter=10, **options).fit(X, y)
    model.partial_fit(X, y)
    np.testing.assert_allclose(
        model.coef_, fastgd.fit(X, y, max_iter=11, **options).coef, rtol=1e-13
    )
    assert model.n_iter_ == 11 and model.t_ == 11 and len(model.history_["loss"]) == 11
    model._optimizer = None  # as after an interrupted fit: a new optimiser, same point
    model.partial_fit(X, y)
    np.testing.assert_allclose(
        model.coef_, fastgd.fit(X, y, max_iter=12, **options).coef, rtol=1e-13
    )


def test_partial_fit_after_a_gram_fit_carries_its_momentum():
    """The Gram solver's optimiser holds the intercept's velocity in W's last column;
    partial_fit resumes it in the streaming solver's shapes."""
    X, y, _, _ = make_problem(300, 4, 2, seed=8)
    options = dict(lr=0.1, tol=0, momentum=0.6, backend="cython")
    model = GDRegressor(max_iter=5, solver="gram", **options).fit(X, y)
    model.partial_fit(X, y)
    straight = fastgd.fit(X, y, max_iter=6, solver="stream", **options)
    np.testing.assert_allclose(model.coef_, straight.coef, rtol=1e-10)
    np.testing.assert_allclose(model.intercept_, straight.intercept, rtol=1e-10)


def test_partial_fit_sample_weight_equals_repeated_rows(compiled_backend, dtype):
    """Integer weights are repeated rows: the same weighted half MSE, the same
    full-batch update on each chunk."""
    X, y, _, _ = make_problem(120, 3, 2, dtype=dtype, seed=9)
    weights = np.random.default_rng(1).integers(1, 4, 120)
    weighted = GDRegressor(lr=0.05, backend=compiled_backend, momentum=0.5)
    repeated = GDRegressor(lr=0.05, backend=compiled_backend, momentum=0.5)
    for start in range(0, 120, 40):
        rows = slice(start, start + 40)
        weighted.partial_fit(X[rows], y[rows], sample_weight=weights[rows])
        repeated.partial_fit(
            np.repeat(X[rows], weights[rows], axis=0), np.repeat(y[rows], weights[rows], axis=0)
        )
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(weighted.coef_, repeated.coef_, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(weighted.intercept_, repeated.intercept_, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("batch_size", [None, 10])
def test_partial_fit_detects_divergence_across_calls(batch_size):
    X, y, _, _ = make_problem(400, 4, seed=1)
    model = GDRegressor(lr=4.0, batch_size=batch_size, random_state=0)
    with pytest.raises(fastgd.DivergenceError):
        for _ in range(3):
            for start in range(0, 400, 50):
                model.partial_fit(X[start : start + 50], y[start : start + 50])


def test_partial_fit_after_gram_nesterov_l1_keeps_a_fixed_intercept():
    X, y, _, _ = make_problem(300, 4, seed=3)
    model = GDRegressor(
        solver="gram",
        fit_intercept=False,
        momentum=0.5,
        nesterov=True,
        penalty="l1",
        alpha=0.05,
        lr=0.1,
        max_iter=5,
        tol=0,
    )
    model.fit(X, y, intercept_init=5.0)
    assert model.intercept_ == 5.0
    model.partial_fit(X, y)
    assert model.intercept_ == 5.0
