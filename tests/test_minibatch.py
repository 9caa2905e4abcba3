"""Mini-batch and stochastic gradient descent: batch_size, shuffle, random_state.

Oracles: the seeds' per-sample loop (seed 000, "len(x)=1"), scikit-learn's
SGDRegressor (the same per-sample update), a replay of the updates and
np.linalg.lstsq. The compiled backends' agreement with the reference, with the same
sample order, is test_conformance.py's; here, that all three draw the same
permutations.
"""

import numpy as np
import pytest

import fastgd
from fastgd import _backends, _layout, _reference

from conftest import assert_stopped_at_a_plateau, lstsq, make_problem


def test_every_backend_draws_the_same_permutations():
    """The kernels' SplitMix64 + Fisher-Yates is the reference's, draw for draw:
    after three epochs of shuffling, the row order is the same everywhere."""
    X, y, _, _ = make_problem(50, 2, seed=0)
    orders = {}
    for name in ("numpy", "numba", "cython"):
        backend = _backends.get_backend(name)
        W, b = np.zeros((1, 2)), np.zeros(1)
        order = np.arange(50, dtype=np.int64)
        options = _backends.FitOptions.of(
            lr=0.01, n_train=50, batch_size=10, shuffle=True, n_penalized=2
        )
        optimizer = _backends.Optimizer.new(0.01, 1, 2, seed=12345)
        data = _backends.fit_data(X, y[:, None], None, False, order, 50)
        workspace = backend.fit_workspace(data, 1, options)
        history = np.empty((3, _layout.N_HISTORY))
        n_epochs, _ = backend.fit(
            data, _backends.Model(W, b), options, optimizer, history, 10**6, workspace
        )
        assert n_epochs == 3
        orders[name] = order
    expected = np.arange(50)
    rng_state = np.array([12345], dtype=np.uint64)
    for _ in range(3):
        _reference.shuffle(expected, 50, rng_state)
    for name, order in orders.items():
        np.testing.assert_array_equal(order, expected, err_msg=name)
    assert not np.array_equal(expected, np.arange(50))


def test_same_seed_is_bitwise_reproducible_for_every_thread_count(compiled_backend):
    # Batches of 4096 x 64 are large enough to run on several threads.
    X, y, _, _ = make_problem(20_000, 64, seed=4)
    options = dict(
        lr=0.01, max_iter=2, tol=0, batch_size=4096, random_state=11, backend=compiled_backend
    )
    first = fastgd.fit(X, y, n_threads=1, **options)
    for n_threads in (1, 2, None):
        again = fastgd.fit(X, y, n_threads=n_threads, **options)
        assert again.coef.tobytes() == first.coef.tobytes()
        assert again.history["loss"].tobytes() == first.history["loss"].tobytes()
    other_seed = fastgd.fit(X, y, **{**options, "random_state": 12})
    assert other_seed.coef.tobytes() != first.coef.tobytes()


def test_random_state_instances_advance_as_in_scikit_learn():
    X, y, _, _ = make_problem(100, 3, seed=0)
    options = dict(lr=0.05, max_iter=2, tol=0, batch_size=8)
    rng = np.random.default_rng(0)
    first = fastgd.fit(X, y, random_state=rng, **options)
    second = fastgd.fit(X, y, random_state=rng, **options)
    assert not np.array_equal(first.coef, second.coef)
    again = fastgd.fit(X, y, random_state=np.random.default_rng(0), **options)
    np.testing.assert_array_equal(again.coef, first.coef)


def test_batch_size_one_is_the_seeds_per_sample_update(backend):
    """Seed 000: ``gradient = x.T.dot(error) / len(x)  # here, len(x)=1``, one sample
    at a time, in order (shuffle=False), no intercept."""
    X, y, _, _ = make_problem(40, 3, seed=5)
    lr = 0.05
    w = np.zeros(3)
    for _ in range(4):
        for i in range(len(X)):
            x = X[i : i + 1]
            error = y[i : i + 1] - x.dot(w)
            w += lr * x.T.dot(error) / len(x)
    result = fastgd.fit(
        X,
        y,
        lr=lr,
        max_iter=4,
        tol=0,
        batch_size=1,
        shuffle=False,
        fit_intercept=False,
        backend=backend,
    )
    np.testing.assert_allclose(result.coef, w, rtol=1e-12, atol=1e-14)


def test_per_sample_updates_equal_scikit_learn_sgdregressor(backend):
    """SGDRegressor with no penalty, a constant step and no shuffling makes exactly
    the per-sample update of batch_size=1 (intercept included)."""
    sklearn = pytest.importorskip("sklearn.linear_model")
    X, y, _, _ = make_problem(60, 4, seed=6)
    sgd = sklearn.SGDRegressor(
        penalty=None,
        alpha=0.0,
        learning_rate="constant",
        eta0=0.02,
        shuffle=False,
        max_iter=5,
        tol=None,
    ).fit(X, y)
    result = fastgd.fit(
        X, y, lr=0.02, max_iter=5, tol=0, batch_size=1, shuffle=False, backend=backend
    )
    np.testing.assert_allclose(result.coef, sgd.coef_, rtol=1e-10)
    np.testing.assert_allclose(result.intercept, sgd.intercept_[0], rtol=1e-10)


def test_batch_size_of_all_rows_is_full_batch(compiled_backend):
    X, y, _, _ = make_problem(100, 4, seed=0)
    options = dict(lr=0.1, max_iter=20, tol=0, backend=compiled_backend, solver="stream")
    full = fastgd.fit(X, y, **options)
    for batch_size in (100, 1000):
        same = fastgd.fit(X, y, batch_size=batch_size, **options)
        assert same.coef.tobytes() == full.coef.tobytes()


def test_minibatch_converges_to_lstsq_on_noise_free_data(compiled_backend, dtype):
    """Without noise every sample is fitted exactly at the solution, so constant-step
    SGD converges to it (no noise floor): compare with lstsq."""
    X, y, _, _ = make_problem(500, 5, 2, dtype=dtype, noise=0.0, seed=8)
    result = fastgd.fit(
        X, y, batch_size=16, max_iter=200, tol=1e-6, random_state=0, backend=compiled_backend
    )
    coef, intercept = lstsq(X, y)
    atol = 1e-5 if dtype == np.float64 else 1e-3
    np.testing.assert_allclose(result.coef, coef, atol=atol)
    np.testing.assert_allclose(result.intercept, intercept, atol=atol)
    # a plateau of the loss, not a certificate: converged says nothing it cannot show
    assert result.stopped == "loss plateau" and not result.converged and result.n_iter < 200


def test_sgd_with_decreasing_steps_approaches_lstsq(compiled_backend):
    """With noise, invscaling steps shrink the SGD noise ball around the solution."""
    X, y, _, _ = make_problem(2000, 5, noise=0.5, seed=9)
    coef, intercept = lstsq(X, y)
    errors = []
    for max_iter in (2, 50):
        result = fastgd.fit(
            X,
            y,
            batch_size=8,
            schedule="invscaling",
            power_t=0.5,
            max_iter=max_iter,
            tol=0,
            random_state=0,
            backend=compiled_backend,
        )
        errors.append(np.linalg.norm(result.coef - coef) + abs(result.intercept - intercept))
    assert errors[1] < errors[0] / 3
    assert errors[1] < 0.02


def test_auto_lr_is_stable_for_per_sample_updates(compiled_backend):
    """lr="auto" with batch_size=1 uses 1 / L_max (L_max = max ||[x_i, 1]||^2), a
    step a badly scaled row cannot turn into divergence."""
    X, y, _, _ = make_problem(300, 4, seed=10)
    X[:, 0] *= 30.0
    result = fastgd.fit(
        X, y, batch_size=1, max_iter=30, tol=0, random_state=0, backend=compiled_backend
    )
    L_max = np.max(np.sum(X**2, axis=1) + 1)
    assert result.lr == pytest.approx(1 / L_max)
    assert np.all(np.diff(result.history["loss"][5:]) < result.history["loss"][0])
    assert np.isfinite(result.coef).all()


def test_minibatch_loss_is_the_rows_losses_as_they_were_seen():
    """history["loss"] with mini-batches: sum over batches of the batch's half squared
    error at the point where its update started, over all rows (shuffle=False lets
    the test replay the updates)."""
    X, y, _, _ = make_problem(30, 2, seed=2)
    lr = 0.05
    result = fastgd.fit(
        X, y, lr=lr, max_iter=1, tol=0, batch_size=10, shuffle=False, backend="cython"
    )
    w, b, loss = np.zeros(2), 0.0, 0.0
    for start in range(0, 30, 10):
        r = X[start : start + 10] @ w + b - y[start : start + 10]
        loss += np.sum(r**2) / (2 * 30)
        w, b = w - lr * r @ X[start : start + 10] / 10, b - lr * r.mean()
    assert result.history["loss"][0] == pytest.approx(loss, rel=1e-12)
    np.testing.assert_allclose(result.coef, w, rtol=1e-12)


def test_minibatch_plateau_stops_and_tol_zero_runs_every_epoch():
    X, y, _, _ = make_problem(300, 3, noise=0.3, seed=1)
    stopped = fastgd.fit(
        X, y, batch_size=4, max_iter=500, tol=1e-3, random_state=0, backend="cython"
    )
    assert stopped.stopped == "loss plateau" and stopped.n_iter < 500
    assert not stopped.converged  # stochastic: a stop, not a certificate
    assert_stopped_at_a_plateau(stopped.history["loss"], tol=1e-3, n_iter_no_change=5)
    full = fastgd.fit(X, y, batch_size=4, max_iter=40, tol=0, random_state=0, backend="cython")
    assert full.n_iter == 40 and not full.converged and full.stopped == "max_iter"


def test_the_readme_example_is_not_called_converged():
    """The exact-direct-path issue: `fit(X, y, batch_size=32, random_state=0,
    max_iter=20)` said converged=True with coefficients 0.37 from the least-squares
    answer. A plateau of a stochastic loss is not a certificate."""
    X, y, _, _ = make_problem(2000, 5, noise=0.5, seed=3)
    result = fastgd.fit(X, y, batch_size=32, random_state=0, max_iter=100)
    assert not result.converged and result.stopped == "loss plateau"
    exact = fastgd.fit(X, y)
    assert exact.converged and exact.stopped == "converged" and exact.method == "qr"


def test_minibatches_choose_the_streaming_solver():
    """solver="auto" with mini-batches streams (the Gram solver needs a full batch;
    asking for it is refused, test_bad_arguments.py)."""
    X, y, _, _ = make_problem(50, 3, seed=0)
    assert fastgd.fit(X, y, batch_size=10, max_iter=3, tol=0).solver == "stream"


def test_minibatch_divergence_is_reported_with_the_minibatch_bound():
    X, y, _, _ = make_problem(200, 4, seed=11)
    with pytest.raises(fastgd.DivergenceError, match="With mini-batches of 1 rows"):
        fastgd.fit(X, y, lr=5.0, batch_size=1, max_iter=50, random_state=0)


def test_a_minibatch_fit_diverging_in_its_first_epoch_raises():
    # The bar's reference is the objective at the start, not the first epoch's loss
    # (which already includes the blow-up).
    X, y, _, _ = make_problem(200, 4, seed=0)
    with pytest.raises(fastgd.DivergenceError):
        fastgd.fit(X, y, batch_size=10, lr=4.0, max_iter=1, random_state=0)
