"""GDRegressor as a scikit-learn and pandas citizen.

scikit-learn's own estimator checks, the meta-estimators (Pipeline, GridSearchCV,
cross_val_score, clone) against scikit-learn's linear models as oracles, and
feature names from pandas dataframes, whose every warning and error must be the
one scikit-learn's LinearRegression gives in the same situation (also when
scikit-learn is not installed, in a subprocess that cannot import it).
"""

import inspect
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn", minversion="1.6")  # the tag API and expected_failed_checks
pd = pytest.importorskip("pandas")

from sklearn.base import clone, is_regressor
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import (
    check_dataframe_column_names_consistency,
    parametrize_with_checks,
)

import fastgd
from fastgd import GDRegressor

from conftest import make_problem

# ---------------------------------------------------------------- scikit-learn's checks

# Every check passes. A check expected to fail would need an entry here, its name
# mapped to the written reason; the xfail being strict, the entry must go as soon as
# the check passes.
EXPECTED_FAILED_CHECKS = {}

# xfail_strict arrived in scikit-learn 1.8; with older versions the xfails are lax.
_STRICT = (
    {"xfail_strict": True}
    if "xfail_strict" in inspect.signature(parametrize_with_checks).parameters
    else {}
)


# Default parameters, as users get them. Three of scikit-learn's checks
# (check_fit_idempotent, check_fit_check_is_fitted, check_n_features_in) fit
# unscaled X ~ N(100, 1), whose Hessian has a condition number near 1e8: no
# gradient-descent setting converges there in a reasonable number of iterations, and
# the ConvergenceWarning that pyproject turns into an error is then the right
# answer, not a bug. The checks test the API contract, not convergence (fits on
# well-scaled data are checked against references below and in test_estimator.py).
# Integer and other non-float X in the checks are copied on purpose: CopyWarning too.
@pytest.mark.filterwarnings("ignore::fastgd.ConvergenceWarning")
@pytest.mark.filterwarnings("ignore::fastgd.CopyWarning")
@parametrize_with_checks(
    [GDRegressor(), fastgd.GDRegressorCV()],
    expected_failed_checks=lambda _: EXPECTED_FAILED_CHECKS,
    **_STRICT,
)
def test_sklearn_check_estimator(estimator, check):
    check(estimator)


@pytest.mark.filterwarnings("ignore::fastgd.ConvergenceWarning")
def test_sklearn_check_dataframe_column_names_consistency():
    # Not part of check_estimator's list; scikit-learn runs it on its own estimators.
    check_dataframe_column_names_consistency("GDRegressor", GDRegressor())


def test_sklearn_check_array_api_input():
    # check_estimator skips this check unless SCIPY_ARRAY_API=1 was set before
    # scipy was imported: run it in a fresh interpreter that sets it.
    code = textwrap.dedent(
        """
        import warnings
        from sklearn.utils.estimator_checks import check_estimator
        from fastgd import GDRegressor

        warnings.simplefilter("ignore")
        results = check_estimator(GDRegressor(), on_fail=None, on_skip=None)
        [result] = [r for r in results if r["check_name"] == "check_array_api_input"]
        print(result["status"], result["exception"])
        """
    )
    env = {**os.environ, "SCIPY_ARRAY_API": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=_fastgd_root()
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "passed None"


def test_tags():
    tags = get_tags(GDRegressor())
    assert is_regressor(GDRegressor())
    assert tags.estimator_type == "regressor"
    assert tags.target_tags.required
    assert tags.target_tags.multi_output and tags.target_tags.single_output
    assert tags.input_tags.two_d_array
    assert not tags.input_tags.sparse
    assert not tags.input_tags.allow_nan
    assert tags.requires_fit
    assert not tags.regressor_tags.poor_score


def test_not_fitted_error_is_sklearns():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        GDRegressor().predict(np.zeros((2, 3)))


# ----------------------------------------------------------------------- meta-estimators


def _badly_scaled_problem(n_samples=60, n_features=20, seed=3, noise=3.0):
    """Noisy data with features of very different scales and offsets."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features)) * rng.uniform(0.1, 10, n_features)
    X += rng.uniform(-50, 50, n_features)
    y = X @ rng.standard_normal(n_features) / 10 + noise * rng.standard_normal(n_samples)
    return X, y


def _gd_pipeline(**params):
    return Pipeline(
        [("scale", StandardScaler()), ("gd", GDRegressor(max_iter=20000, tol=1e-12, **params))]
    )


@pytest.mark.parametrize("n_targets", [None, 3], ids=["y1d", "y2d"])
def test_pipeline_matches_ridge_in_the_same_pipeline(n_targets):
    X, y, _, _ = make_problem(80, 6, n_targets, seed=5)
    X = X * np.array([1.0, 10.0, 0.1, 100.0, 1.0, 5.0]) + 50.0
    ridge_alpha = 3.0
    # Ridge(alpha=a) minimises N times the objective of penalty="l2", alpha=a / N.
    pipeline = _gd_pipeline(penalty="l2", alpha=ridge_alpha / len(X)).fit(X, y)
    reference = Pipeline([("scale", StandardScaler()), ("ridge", Ridge(ridge_alpha))]).fit(X, y)
    np.testing.assert_allclose(pipeline.predict(X), reference.predict(X), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(pipeline[-1].coef_, reference[-1].coef_, rtol=1e-9, atol=1e-9)
    assert pipeline.score(X, y) == pytest.approx(reference.score(X, y), abs=1e-12)


def test_pipeline_with_dataframe_output_records_feature_names():
    X, y = _badly_scaled_problem(n_features=4)
    frame = pd.DataFrame(X, columns=["age", "height", "weight", "income"])
    scaler = StandardScaler().set_output(transform="pandas")  # the estimator sees a frame
    pipeline = Pipeline([("scale", scaler), ("gd", GDRegressor(max_iter=20000, tol=1e-12))])
    pipeline.fit(frame, y)
    reference = Pipeline(
        [("scale", StandardScaler().set_output(transform="pandas")), ("ols", LinearRegression())]
    ).fit(frame, y)
    np.testing.assert_array_equal(pipeline[-1].feature_names_in_, frame.columns)
    np.testing.assert_array_equal(pipeline.feature_names_in_, frame.columns)
    np.testing.assert_allclose(
        pipeline.predict(frame), reference.predict(frame), rtol=1e-9, atol=1e-9
    )


def test_grid_search_picks_what_ridge_picks():
    X, y = _badly_scaled_problem()
    cv = KFold(5, shuffle=True, random_state=0)
    n_train = len(X) - len(X) // 5  # every training fold has 48 rows
    ridge_alphas = [0.01, 0.1, 1.0, 10.0, 100.0, 1000.0]
    reference = GridSearchCV(
        Pipeline([("scale", StandardScaler()), ("ridge", Ridge())]),
        {"ridge__alpha": ridge_alphas},
        cv=cv,
    ).fit(X, y)
    search = GridSearchCV(
        _gd_pipeline(penalty="l2"), {"gd__alpha": [a / n_train for a in ridge_alphas]}, cv=cv
    ).fit(X, y)
    # An inner optimum: the choice depends on the fits, not on the grid's edges.
    assert 0 < reference.best_index_ < len(ridge_alphas) - 1
    assert search.best_index_ == reference.best_index_
    np.testing.assert_allclose(
        search.cv_results_["mean_test_score"],
        reference.cv_results_["mean_test_score"],
        rtol=0,
        atol=1e-9,
    )
    # Refitted on all 60 rows with the chosen alpha: Ridge(alpha * 60).
    best_alpha = search.best_params_["gd__alpha"]
    assert search.best_estimator_[-1].alpha == best_alpha
    refit = Pipeline([("scale", StandardScaler()), ("ridge", Ridge(best_alpha * len(X)))])
    np.testing.assert_allclose(search.predict(X), refit.fit(X, y).predict(X), rtol=1e-9, atol=1e-9)


def test_cross_val_score_matches_linear_regression():
    X, y = _badly_scaled_problem(n_samples=100, n_features=5, noise=0.5)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(5)])
    cv = KFold(4, shuffle=True, random_state=1)
    scores = cross_val_score(_gd_pipeline(), frame, y, cv=cv)
    reference = cross_val_score(
        Pipeline([("scale", StandardScaler()), ("ols", LinearRegression())]), frame, y, cv=cv
    )
    assert scores.shape == (4,)
    np.testing.assert_allclose(scores, reference, rtol=0, atol=1e-9)
    mse = cross_val_score(_gd_pipeline(), frame, y, cv=cv, scoring="neg_mean_squared_error")
    mse_reference = cross_val_score(
        Pipeline([("scale", StandardScaler()), ("ols", LinearRegression())]),
        frame,
        y,
        cv=cv,
        scoring="neg_mean_squared_error",
    )
    np.testing.assert_allclose(mse, mse_reference, rtol=1e-9)


def test_clone_of_dataframe_fit_is_unfitted_with_same_params():
    X, y, _, _ = make_problem(50, 3)
    model = GDRegressor(max_iter=3000, tol=1e-8, penalty="l1", alpha=0.01)
    model.fit(pd.DataFrame(X, columns=["a", "b", "c"]), y)
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    assert not hasattr(copy, "feature_names_in_") and not hasattr(copy, "n_features_in_")
    copy.set_params(alpha=0.5)
    assert copy.alpha == 0.5 and model.alpha == 0.01


# ------------------------------------------------------------------------ feature names


def test_dataframe_fit_records_feature_names():
    X, y, _, _ = make_problem(50, 3, 2)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    model = GDRegressor(max_iter=5000, tol=1e-10).fit(frame, y)
    assert isinstance(model.feature_names_in_, np.ndarray)
    assert model.feature_names_in_.dtype == object
    assert model.feature_names_in_.tolist() == ["a", "b", "c"]
    assert model.n_features_in_ == 3
    # The same fit as on the array, and the same frame predicts without a warning.
    on_array = GDRegressor(max_iter=5000, tol=1e-10).fit(X, y)
    np.testing.assert_array_equal(model.coef_, on_array.coef_)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(model.predict(frame), on_array.predict(X))
        model.score(frame, y)


def test_refit_without_names_forgets_them():
    X, y, _, _ = make_problem(50, 3)
    model = GDRegressor(max_iter=5000, tol=1e-10).fit(pd.DataFrame(X, columns=list("abc")), y)
    model.fit(X, y)
    assert not hasattr(model, "feature_names_in_")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.predict(X)


def test_failed_refit_keeps_the_previous_names():
    X, y, _, _ = make_problem(50, 3)
    model = GDRegressor(max_iter=5000, tol=1e-10).fit(pd.DataFrame(X, columns=list("abc")), y)
    with pytest.raises(ValueError, match="^lr"):
        model.set_params(lr=-1.0).fit(pd.DataFrame(X, columns=list("xyz")), y)
    assert model.feature_names_in_.tolist() == ["a", "b", "c"]


def _frame(X, columns):
    return pd.DataFrame(X, columns=columns)


_NAMES = [f"col_{i}" for i in range(8)]
# (id, X at fit, X at predict / score, what scikit-learn does): X is (40, 8) float64.
FEATURE_NAME_CASES = [
    ("same-names", lambda X: _frame(X, _NAMES), lambda X: _frame(X, _NAMES), "ok"),
    ("frame-then-array", lambda X: _frame(X, _NAMES), lambda X: X, "warns"),
    ("array-then-frame", lambda X: X, lambda X: _frame(X, _NAMES), "warns"),
    ("reordered", lambda X: _frame(X, _NAMES), lambda X: _frame(X, _NAMES[::-1]), "raises"),
    (
        "renamed",
        lambda X: _frame(X, _NAMES),
        lambda X: _frame(X, [f"other_{i}" for i in range(8)]),
        "raises",
    ),  # > 5 names: "..."
    (
        "some-renamed",
        lambda X: _frame(X, _NAMES),
        lambda X: _frame(X, _NAMES[:6] + ["new", "newer"]),
        "raises",
    ),
    (
        "fewer-columns",
        lambda X: _frame(X, _NAMES),
        lambda X: _frame(X[:, :5], _NAMES[:5]),
        "raises",
    ),
    ("fewer-columns-array", lambda X: X, lambda X: X[:, :5], "raises"),
    ("int-names", lambda X: _frame(X, range(8)), lambda X: _frame(X, range(8)), "ok"),
    ("int-names-then-str", lambda X: _frame(X, range(8)), lambda X: _frame(X, _NAMES), "warns"),
    ("int-names-then-array", lambda X: _frame(X, range(8)), lambda X: X, "ok"),
    ("mixed-names-at-fit", lambda X: _frame(X, _NAMES[:4] + [4, 5, 6, 7]), lambda X: X, "raises"),
    (
        "mixed-names-at-predict",
        lambda X: _frame(X, _NAMES),
        lambda X: _frame(X, _NAMES[:4] + [4, 5, 6, 7]),
        "raises",
    ),
]


def _feature_name_inputs():
    X, y, _, _ = make_problem(40, 8, seed=2)
    return [
        (case_id, make_fit(X), make_predict(X), y)
        for case_id, make_fit, make_predict, _ in FEATURE_NAME_CASES
    ]


def _outcome(estimator, X_fit, X_predict, y, method):
    """What fit(X_fit, y) then ``method`` on X_predict does: ("ok", None, ""),
    ("warns", class, message) or ("raises", class, message), with the estimator's
    class name in the message replaced by <name>. Classes by qualified name, so that
    outcomes can come back from a subprocess."""
    name = type(estimator).__name__
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            estimator.fit(X_fit, y)
            if method == "score":
                estimator.score(X_predict, y)
            else:
                estimator.predict(X_predict)
        except Exception as error:  # noqa: BLE001 - the outcome is the point
            return ("raises", type(error).__qualname__, str(error).replace(name, "<name>"))
    messages = [(w.category.__qualname__, str(w.message).replace(name, "<name>")) for w in caught]
    if not messages:
        return ("ok", None, "")
    assert len(messages) == 1, messages
    return ("warns", *messages[0])


def _reference_outcomes(method):
    return {
        case_id: _outcome(LinearRegression(), X_fit, X_predict, y, method)
        for case_id, X_fit, X_predict, y in _feature_name_inputs()
    }


@pytest.mark.parametrize("method", ["predict", "score"])
def test_feature_names_behave_as_in_sklearn(method):
    expected = _reference_outcomes(method)
    gd = GDRegressor(max_iter=5000, tol=1e-10)
    for (case_id, X_fit, X_predict, y), (_, _, _, kind) in zip(
        _feature_name_inputs(), FEATURE_NAME_CASES
    ):
        assert expected[case_id][0] == kind, (case_id, expected[case_id])  # the oracle
        assert _outcome(gd, X_fit, X_predict, y, method) == expected[case_id], case_id


_WITHOUT_SKLEARN = """
import sys
sys.modules["sklearn"] = None  # any import of scikit-learn now raises ImportError
import fastgd
result = fastgd.fit([[0.0], [1.0], [2.0]], [1.0, 3.0, 5.0], tol=1e-12)
assert abs(result.coef[0] - 2.0) < 1e-9, result  # the fit needs no scikit-learn
try:
    fastgd.GDRegressor
except ImportError as error:
    print(error)
else:
    raise AssertionError("GDRegressor without scikit-learn")
"""


def _fastgd_root():
    """The directory holding the imported fastgd package, for subprocesses."""
    return str(Path(fastgd.__file__).resolve().parents[1])


def test_without_sklearn_fit_works_and_the_estimator_says_what_it_needs():
    out = subprocess.run(
        [sys.executable, "-c", _WITHOUT_SKLEARN],
        capture_output=True,
        text=True,
        cwd=_fastgd_root(),
    )
    assert out.returncode == 0, out.stderr
    assert "fastgd.GDRegressor needs scikit-learn >= 1.6" in out.stdout
    assert 'python -m pip install -e ".[sklearn]"' in out.stdout


def test_import_fastgd_imports_neither_sklearn_nor_pandas():
    code = (
        "import sys, fastgd; "
        "print(sorted({'sklearn', 'pandas'} & {m.split('.')[0] for m in sys.modules}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=_fastgd_root()
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
