"""The defaults reach the least-squares answer, on public data and on hard problems.

A new user writes ``make_pipeline(StandardScaler(), GDRegressor())`` or
``fastgd.fit(X, y)`` and expects what ``LinearRegression`` gives. Checked here with
certified values (NIST's Longley data), scikit-learn's bundled data sets and the
exact-solution problems up to cond(X.T X) = 1e6; the ConvergenceWarning is an error
in this test run (pyproject.toml), so none may be raised.
"""

import numpy as np
import pytest

import fastgd
from fastgd.bench.exact import exact_problem

from conftest import COMPILED_BACKENDS

sklearn = pytest.importorskip("sklearn")
from sklearn.datasets import load_diabetes, load_linnerud  # noqa: E402
from sklearn.linear_model import LinearRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

# NIST Statistical Reference Datasets, "Longley" (Longley 1967): total employment
# against six economic series, 1947-1962; certified coefficients to 15 digits.
# Columns: GNP deflator, GNP, unemployed, armed forces, population, year.
LONGLEY_X = np.array(
    [
        [83.0, 234289, 2356, 1590, 107608, 1947],
        [88.5, 259426, 2325, 1456, 108632, 1948],
        [88.2, 258054, 3682, 1616, 109773, 1949],
        [89.5, 284599, 3351, 1650, 110929, 1950],
        [96.2, 328975, 2099, 3099, 112075, 1951],
        [98.1, 346999, 1932, 3594, 113270, 1952],
        [99.0, 365385, 1870, 3547, 115094, 1953],
        [100.0, 363112, 3578, 3350, 116219, 1954],
        [101.2, 397469, 2904, 3048, 117388, 1955],
        [104.6, 419180, 2822, 2857, 118734, 1956],
        [108.4, 442769, 2936, 2798, 120445, 1957],
        [110.8, 444546, 4681, 2637, 121950, 1958],
        [112.6, 482704, 3813, 2552, 123366, 1959],
        [114.2, 502601, 3931, 2514, 125368, 1960],
        [115.7, 518173, 4806, 2572, 127852, 1961],
        [116.9, 554894, 4007, 2827, 130081, 1962],
    ]
)
LONGLEY_Y = np.array(
    [
        60323.0,
        61122,
        60171,
        61187,
        63221,
        63639,
        64989,
        63761,
        66019,
        67857,
        68169,
        66513,
        68655,
        69564,
        69331,
        70551,
    ]
)
LONGLEY_COEF = np.array(
    [
        15.0618722713733,
        -0.358191792925910e-01,
        -2.02022980381683,
        -1.03322686717359,
        -0.511041056535807e-01,
        1829.15146461355,
    ]
)
LONGLEY_INTERCEPT = -3482258.63459582


def _r2(model, X, y):
    return model.score(X, y)


@pytest.mark.parametrize("solver", ["auto", "stream", "gram"])
@pytest.mark.parametrize("scaled", [True, False], ids=["StandardScaler", "raw"])
def test_longley_certified_coefficients(compiled_backend, solver, scaled):
    """Near-collinear real data (cond(X.T X) = 1.2e4 standardized, about 1e16 raw):
    the default fit meets NIST's certified values to 1e-7 with the default tol,
    with or without a StandardScaler in front (the direct solve and CG work in
    standardized coordinates either way). Gradient descent stopped 1e-3 away,
    "converged"."""
    model = fastgd.GDRegressor(backend=compiled_backend, solver=solver)
    if scaled:
        pipeline = make_pipeline(StandardScaler(), model).fit(LONGLEY_X, LONGLEY_Y)
        scaler = pipeline[0]
        coef = model.coef_ / scaler.scale_
        intercept = model.intercept_ - coef @ scaler.mean_
    else:
        model.fit(LONGLEY_X, LONGLEY_Y)
        coef, intercept = model.coef_, model.intercept_
    assert model.converged_
    np.testing.assert_allclose(coef, LONGLEY_COEF, rtol=1e-7)
    assert intercept == pytest.approx(LONGLEY_INTERCEPT, rel=1e-7)


def test_longley_to_the_limit_of_float64(compiled_backend):
    """A tight tol on the raw data: NIST's 15 certified digits, to the last one or two
    (lstsq itself is 1.5e-12 away): the direct solve refines with the data's gradient
    in twice the working precision, and certifies 1e-13."""
    model = fastgd.GDRegressor(tol=1e-13, backend=compiled_backend).fit(LONGLEY_X, LONGLEY_Y)
    assert model.converged_ and model.method_ == "qr"
    np.testing.assert_allclose(model.coef_, LONGLEY_COEF, rtol=1e-14)
    assert model.intercept_ == pytest.approx(LONGLEY_INTERCEPT, rel=1e-14)


@pytest.mark.parametrize("loader", [load_diabetes, load_linnerud], ids=["diabetes", "linnerud"])
def test_pipeline_defaults_match_linear_regression_on_bundled_data(compiled_backend, loader):
    X, y = loader(return_X_y=True)
    ours = make_pipeline(StandardScaler(), fastgd.GDRegressor(backend=compiled_backend)).fit(X, y)
    theirs = make_pipeline(StandardScaler(), LinearRegression()).fit(X, y)
    assert ours[-1].converged_
    assert _r2(ours, X, y) == pytest.approx(_r2(theirs, X, y), rel=1e-6)
    np.testing.assert_allclose(
        ours.predict(X), theirs.predict(X), rtol=1e-5, atol=1e-6 * np.abs(y).max()
    )


@pytest.mark.parametrize("n_targets", [None, 2])
@pytest.mark.parametrize("cond", [1e2, 1e4, 1e6], ids=lambda c: f"cond{c:.0e}")
def test_pipeline_defaults_reach_the_least_squares_r2(compiled_backend, cond, n_targets):
    problem = exact_problem(2000, 20, cond, r2=0.6, n_targets=n_targets, seed=11)
    X, y = problem.X, problem.y
    ours = make_pipeline(StandardScaler(), fastgd.GDRegressor(backend=compiled_backend)).fit(X, y)
    theirs = make_pipeline(StandardScaler(), LinearRegression()).fit(X, y)
    assert ours[-1].converged_ and ours[-1].method_ == "qr"
    assert _r2(ours, X, y) == pytest.approx(_r2(theirs, X, y), rel=1e-6)


@pytest.mark.parametrize("backend", ["numpy"] + list(COMPILED_BACKENDS))
def test_a_float_lr_still_runs_plain_gradient_descent(backend):
    """The seeds' loop is one parameter away: a float lr (momentum 0) runs plain
    gradient descent, bit for bit the loop on the NumPy reference with the streaming
    solver, and to rounding on the compiled kernels (which sum in their own order)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.standard_normal(50)
    lr, w = 0.1, np.zeros(3)
    for _ in range(200):
        w += lr * X.T.dot(y - X.dot(w)) / len(X)
    result = fastgd.fit(
        X, y, lr=lr, fit_intercept=False, tol=0, max_iter=200, solver="stream", backend=backend
    )
    assert result.method == "gd"
    if backend == "numpy":
        np.testing.assert_array_equal(result.coef, w)
    else:
        np.testing.assert_allclose(result.coef, w, rtol=1e-13)


def test_gram_and_stream_iterates_agree_on_longley(compiled_backend):
    """Standardized Longley, fixed lr: the compressed problem's iterates are the
    data's to 1e-12 (with the Gram matrix's eigh they differed by 5e-3 after 100)."""
    X = StandardScaler().fit_transform(LONGLEY_X)
    lr = fastgd.fit(X, LONGLEY_Y, method="gd", max_iter=1, tol=0).lr
    for max_iter in (100, 10_000):
        options = dict(lr=lr, max_iter=max_iter, tol=0, backend=compiled_backend)
        stream = fastgd.fit(X, LONGLEY_Y, solver="stream", **options)
        gram = fastgd.fit(X, LONGLEY_Y, solver="gram", **options)
        np.testing.assert_allclose(gram.coef, stream.coef, rtol=1e-12)
        assert gram.intercept == pytest.approx(stream.intercept, rel=1e-12)
