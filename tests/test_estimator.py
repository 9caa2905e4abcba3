"""GDRegressor: the scikit-learn style estimator around fastgd.fit."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import fastgd
from fastgd import GDRegressor

from conftest import lstsq, make_problem

TARGETS = pytest.mark.parametrize("n_targets", [None, 3], ids=["y1d", "y2d"])


# ------------------------------------------------------------------- constructor / params


def test_constructor_only_stores_params():
    model = GDRegressor(lr=-1, max_iter=0, tol="x", fit_intercept=3, backend="nope")
    assert model.lr == -1
    assert model.max_iter == 0
    assert model.tol == "x"
    assert model.fit_intercept == 3
    assert model.backend == "nope"
    assert not hasattr(model, "coef_")


def test_default_params():
    assert GDRegressor().get_params() == {
        "lr": "auto",
        "max_iter": 1000,
        "tol": 1e-6,
        "fit_intercept": True,
        "backend": "auto",
        "n_threads": None,
        "solver": "auto",
        "method": "auto",
        "penalty": None,
        "alpha": 1e-4,
        "l1_ratio": 0.15,
        "momentum": 0.0,
        "nesterov": False,
        "batch_size": None,
        "shuffle": True,
        "random_state": None,
        "schedule": "constant",
        "power_t": 0.25,
        "early_stopping": False,
        "validation_fraction": 0.1,
        "n_iter_no_change": 5,
        "warm_start": False,
        "verbose": 0,
        "callback": None,
    }


def test_get_params_set_params_round_trip():
    params = {
        "lr": 0.05,
        "max_iter": 77,
        "tol": 1e-4,
        "fit_intercept": False,
        "backend": "numpy",
        "n_threads": 1,
        "solver": "stream",
        "method": "gd",
        "penalty": "l1",
        "alpha": 0.5,
        "l1_ratio": 0.3,
        "momentum": 0.5,
        "nesterov": True,
        "batch_size": 16,
        "shuffle": False,
        "random_state": 3,
        "schedule": "adaptive",
        "power_t": 0.5,
        "early_stopping": True,
        "validation_fraction": 0.2,
        "n_iter_no_change": 3,
        "warm_start": True,
        "verbose": 1,
        "callback": print,
    }
    model = GDRegressor(**params)
    assert model.get_params() == params
    assert GDRegressor(**model.get_params()).get_params() == params
    other = GDRegressor()
    assert other.set_params(**params) is other
    assert other.get_params() == params
    other.set_params(max_iter=5)
    assert other.max_iter == 5 and other.get_params()["max_iter"] == 5


def test_clone_gives_unfitted_estimator_with_equal_params():
    X, y, _, _ = make_problem(50, 3)
    model = GDRegressor(max_iter=3000, tol=1e-8, backend="numpy").fit(X, y)
    copy = clone(model)
    assert copy is not model
    assert type(copy) is GDRegressor
    assert copy.get_params() == model.get_params()
    for attribute in ("coef_", "intercept_", "n_iter_", "loss_curve_", "n_features_in_"):
        assert not hasattr(copy, attribute)
    with pytest.raises(fastgd.NotFittedError):
        copy.predict(X)


def test_repr_mentions_params():
    assert "max_iter=7" in repr(GDRegressor(max_iter=7))


# ------------------------------------------------------------------------ fitted attributes


@TARGETS
def test_fit_returns_self_and_sets_attributes(backend, n_targets):
    X, y, _, _ = make_problem(60, 4, n_targets)
    model = GDRegressor(max_iter=3000, tol=1e-8, backend=backend)
    assert model.fit(X, y) is model
    assert isinstance(model.n_iter_, (int, np.integer)) and model.n_iter_ >= 1
    assert model.loss_curve_.shape == (model.n_iter_,)
    assert model.n_features_in_ == 4
    assert isinstance(model.converged_, (bool, np.bool_)) and model.converged_
    assert isinstance(model.lr_, float) and model.lr_ > 0
    assert model.backend_ == backend
    if n_targets is None:
        assert model.coef_.shape == (4,)
        assert np.ndim(model.intercept_) == 0
        assert model.predict(X).shape == (60,)
    else:
        assert model.coef_.shape == (n_targets, 4)
        assert np.shape(model.intercept_) == (n_targets,)
        assert model.predict(X).shape == (60, n_targets)


def test_auto_backend_is_recorded():
    X, y, _, _ = make_problem(30, 2)
    model = GDRegressor(max_iter=2000, tol=1e-8).fit(X, y)
    assert model.backend_ == fastgd.available_backends()[0]


def test_refit_replaces_attributes():
    X, y, _, _ = make_problem(40, 3)
    X2, y2, _, _ = make_problem(40, 5, 2, seed=1)
    model = GDRegressor(max_iter=3000, tol=1e-8, backend="numpy").fit(X, y)
    model.fit(X2, y2)
    assert model.n_features_in_ == 5
    assert model.coef_.shape == (2, 5)


# --------------------------------------------------------------------- against references


@TARGETS
def test_matches_lstsq_and_sklearn(backend, n_targets):
    X, y, _, _ = make_problem(500, 8, n_targets)
    model = GDRegressor(max_iter=20000, tol=1e-12, backend=backend).fit(X, y)
    coef, intercept = lstsq(X, y)
    np.testing.assert_allclose(model.coef_, coef, rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(model.intercept_, intercept, rtol=1e-7, atol=1e-7)
    assert model.converged_

    reference = LinearRegression().fit(X, y)
    np.testing.assert_allclose(model.predict(X), reference.predict(X), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(
        model.score(X, y), r2_score(y, model.predict(X)), rtol=0, atol=1e-12
    )
    np.testing.assert_allclose(model.score(X, y), reference.score(X, y), rtol=0, atol=1e-6)


@TARGETS
def test_score_matches_r2_score_on_new_data(n_targets):
    X, y, _, _ = make_problem(200, 4, n_targets)
    X_test, y_test, _, _ = make_problem(50, 4, n_targets, seed=9)  # other coefficients
    model = GDRegressor(max_iter=5000, tol=1e-10, backend="numpy").fit(X, y)
    score = model.score(X_test, y_test)
    assert score < 0.9  # a poor fit: the score must still be the r2_score one (can be < 0)
    np.testing.assert_allclose(score, r2_score(y_test, model.predict(X_test)), atol=1e-12)


def test_score_with_sample_weight_matches_r2_score():
    X, y, _, _ = make_problem(100, 3)
    weights = np.random.default_rng(2).uniform(0.1, 2.0, 100)
    model = GDRegressor(max_iter=5000, tol=1e-10, backend="numpy").fit(X[:60], y[:60])
    np.testing.assert_allclose(
        model.score(X, y, sample_weight=weights),
        r2_score(y, model.predict(X), sample_weight=weights),
        atol=1e-12,
    )


def test_fit_intercept_false_matches_lstsq(backend):
    X, y, _, _ = make_problem(300, 5)
    model = GDRegressor(max_iter=20000, tol=1e-12, fit_intercept=False, backend=backend)
    model.fit(X, y)
    coef, _ = lstsq(X, y, fit_intercept=False)
    np.testing.assert_allclose(model.coef_, coef, rtol=1e-7, atol=1e-7)
    assert model.intercept_ == 0.0


@TARGETS
def test_float32_X_gives_float32_coef_and_predictions(backend, n_targets):
    X, y, _, _ = make_problem(200, 5, n_targets, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", fastgd.CopyWarning)
        model = GDRegressor(max_iter=2000, tol=1e-4, backend=backend).fit(X, y)
        prediction = model.predict(X)
    assert model.coef_.dtype == np.float32
    assert np.asarray(model.intercept_).dtype == np.float32
    assert prediction.dtype == np.float32
    coef, intercept = lstsq(X, y)
    np.testing.assert_allclose(model.coef_, coef, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(model.intercept_, intercept, rtol=1e-3, atol=1e-3)


def test_float64_model_predicts_float32_X_in_float32():
    X, y, _, _ = make_problem(100, 3)
    model = GDRegressor(max_iter=3000, tol=1e-8, backend="numpy").fit(X, y)
    prediction = model.predict(X.astype(np.float32))
    assert prediction.dtype == np.float32
    np.testing.assert_allclose(prediction, model.predict(X), rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------------------ predict


def test_not_fitted_error_hierarchy():
    assert issubclass(fastgd.NotFittedError, ValueError)
    assert issubclass(fastgd.NotFittedError, AttributeError)


def test_predict_accepts_lists():
    X, y, _, _ = make_problem(40, 3)
    model = GDRegressor(max_iter=3000, tol=1e-8, backend="numpy").fit(X, y)
    rows = [[0.5, -1.0, 2.0], [1.0, 0.0, 0.0]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fastgd.CopyWarning)
        got = model.predict(rows)
    np.testing.assert_allclose(got, np.array(rows) @ model.coef_ + model.intercept_, rtol=1e-12)


# ----------------------------------------------------------------------- scikit-learn glue


@TARGETS
def test_in_pipeline_with_standard_scaler(backend, n_targets):
    X, y, _, _ = make_problem(300, 6, n_targets, seed=11)
    X = X * np.array([1.0, 10.0, 0.1, 100.0, 1.0, 5.0]) + 50.0  # badly scaled features
    pipeline = make_pipeline(StandardScaler(), GDRegressor(max_iter=5000, tol=1e-10))
    pipeline.set_params(gdregressor__backend=backend)
    pipeline.fit(X, y)
    reference = LinearRegression().fit(X, y)
    np.testing.assert_allclose(pipeline.score(X, y), reference.score(X, y), rtol=0, atol=1e-6)
    np.testing.assert_allclose(pipeline.predict(X), reference.predict(X), rtol=1e-6, atol=1e-6)
    assert pipeline[-1].backend_ == backend


def test_clone_of_pipeline():
    pipeline = make_pipeline(StandardScaler(), GDRegressor(max_iter=123))
    copy = clone(pipeline)
    assert copy.get_params()["gdregressor__max_iter"] == 123


# ---------------------------------------------------------------------------- warm start


@TARGETS
def test_warm_start_at_the_solution_converges_at_once(backend, n_targets):
    X, y, _, _ = make_problem(500, 8, n_targets)
    coef, intercept = lstsq(X, y)
    model = GDRegressor(max_iter=1000, tol=1e-6, backend=backend)
    model.fit(X, y, coef_init=coef, intercept_init=intercept)
    assert model.converged_
    assert model.n_iter_ <= 5
    np.testing.assert_allclose(model.coef_, coef, rtol=0, atol=1e-10)
    np.testing.assert_allclose(model.intercept_, intercept, rtol=0, atol=1e-10)


@TARGETS
def test_warm_start_near_the_solution_stays_there(backend, n_targets):
    # Same start, but tol=0 so the fit never reports; the iterate must not move.
    X, y, _, _ = make_problem(500, 8, n_targets)
    coef, intercept = lstsq(X, y)
    model = GDRegressor(max_iter=50, tol=0.0, backend=backend)
    model.fit(X, y, coef_init=coef, intercept_init=intercept)
    np.testing.assert_allclose(model.coef_, coef, rtol=0, atol=1e-10)
    np.testing.assert_allclose(model.intercept_, intercept, rtol=0, atol=1e-10)


def test_warm_start_inputs_not_modified():
    X, y, _, _ = make_problem(100, 3)
    coef_init, intercept_init = np.ones(3), np.float64(2.0)
    saved = coef_init.copy()
    GDRegressor(max_iter=3000, tol=1e-8, backend="numpy").fit(
        X, y, coef_init=coef_init, intercept_init=intercept_init
    )
    np.testing.assert_array_equal(coef_init, saved)
