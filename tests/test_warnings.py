"""Every warning fastgd raises points at the caller's line, not at fastgd's files:
so the default filter shows it once per calling line, and users can filter by their
own module (warnings.filterwarnings(..., module="mypackage"))."""

import os
import warnings

import numpy as np
import pytest

import fastgd

from conftest import make_problem


def _caught(action, category):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        action()
    found = [w for w in caught if issubclass(w.category, category)]
    assert found, f"no {category.__name__} raised"
    return found


def _assert_points_here(found):
    for w in found:
        assert w.filename == __file__, (w.filename, w.lineno, str(w.message))


X, y, _, _ = make_problem(300, 4, seed=0)
X_int = np.rint(X * 10).astype(np.int64)


@pytest.mark.parametrize("method", ["cg", "gd"])
def test_convergence_warning_from_fit_and_the_estimator(method):
    _assert_points_here(
        _caught(
            lambda: fastgd.fit(X, y, max_iter=1, tol=1e-12, method=method),
            fastgd.ConvergenceWarning,
        )
    )
    _assert_points_here(
        _caught(
            lambda: fastgd.GDRegressor(max_iter=1, tol=1e-12, method=method).fit(X, y),
            fastgd.ConvergenceWarning,
        )
    )


def test_copy_warnings_from_every_entry_point():
    model = fastgd.GDRegressor().fit(X, y)
    for action in (
        lambda: fastgd.fit(X_int, y),
        lambda: fastgd.gradient(X_int, y, np.zeros(4)),
        lambda: fastgd.GDRegressor().fit(X[:, ::2], y),
        lambda: model.predict(X_int),
    ):
        _assert_points_here(_caught(action, fastgd.CopyWarning))


def test_feature_name_warnings():
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame(X, columns=["a", "b", "c", "d"])
    model = fastgd.GDRegressor().fit(frame, y)
    _assert_points_here(_caught(lambda: model.predict(X), UserWarning))
    unnamed = fastgd.GDRegressor().fit(X, y)
    _assert_points_here(_caught(lambda: unnamed.predict(frame), UserWarning))


def test_through_a_pipeline_the_warning_points_outside_fastgd():
    sklearn_pipeline = pytest.importorskip("sklearn.pipeline")
    pipeline = sklearn_pipeline.make_pipeline(
        fastgd.GDRegressor(max_iter=1, tol=1e-12, method="cg")
    )
    package = os.path.dirname(fastgd.__file__) + os.sep
    for w in _caught(lambda: pipeline.fit(X, y), fastgd.ConvergenceWarning):
        assert not w.filename.startswith(package), w.filename
