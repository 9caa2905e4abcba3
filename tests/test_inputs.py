"""Inputs that are legal but unusual are accepted, and no input is modified.

Integer, float32 and object data, strided views, read-only arrays and memmaps, and
finite data whose sum overflows are used (copied, with a CopyWarning, only when
they must be); the caller's arrays are never written to. Bad inputs are refused in
test_bad_arguments.py.
"""

import warnings

import numpy as np
import pytest

import fastgd

from conftest import make_problem


def call_fit(X, y, **kwargs):
    kwargs.setdefault("max_iter", 3)
    kwargs.setdefault("tol", 0.0)
    return fastgd.fit(X, y, **kwargs)


def _good(n_samples=6, n_features=3, n_targets=None, seed=0):
    X, y, _, _ = make_problem(n_samples, n_features, n_targets, seed=seed)
    return X, y


def test_finite_X_whose_sum_overflows_is_accepted():
    # Every entry is finite but their float64 sum overflows to inf: the fast finite
    # check must fall through to the exact one and accept the data.
    X = np.full((8, 3), 1e308)
    y = np.full(8, 0.25)
    with np.errstate(over="ignore"):
        assert np.isinf(np.add.reduce(X, axis=None))  # the fast check's sum overflows
    with warnings.catch_warnings(), np.errstate(over="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        grad_coef, grad_intercept, loss = fastgd.gradient(X, y, np.zeros(3), backend="numpy")
    assert grad_coef.shape == (3,)
    assert np.isfinite(loss)  # R = -y: the loss does not involve X at coef = 0


@pytest.mark.parametrize("int_dtype", [np.int64, np.int32, np.uint8])
def test_integer_X_is_converted_to_float64_with_copy_warning(backend, int_dtype):
    X = np.arange(24).reshape(8, 3).astype(int_dtype) % 5
    y = np.arange(8.0)
    with pytest.warns(fastgd.CopyWarning, match=r"X was copied.*to float64"):
        result = fastgd.fit(X, y, max_iter=3, tol=0.0, backend=backend)
    assert result.coef.dtype == np.float64
    assert result.intercept.dtype == np.float64
    with pytest.warns(fastgd.CopyWarning):
        grad_coef, _, _ = fastgd.gradient(X, y, np.zeros(3), backend=backend)
    assert grad_coef.dtype == np.float64
    # Same numbers as a float64 X given directly.
    expected = fastgd.fit(X.astype(np.float64), y, max_iter=3, tol=0.0, backend=backend)
    np.testing.assert_array_equal(result.coef, expected.coef)


def test_integer_y_is_accepted_without_warning(backend):
    X, _ = _good()
    y = np.arange(6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = fastgd.fit(X, y, max_iter=3, tol=0.0, backend=backend)
    assert result.coef.dtype == np.float64


@pytest.mark.parametrize("layout", ["C", "F"])
def test_float32_X_stays_float32_without_warning(backend, layout):
    X, y, _, _ = make_problem(20, 3, dtype=np.float32, layout=layout)
    y64 = y.astype(np.float64)  # y is cast to X's dtype silently
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = fastgd.fit(X, y64, max_iter=3, tol=0.0, backend=backend)
        grad_coef, grad_intercept, _ = fastgd.gradient(X, y64, np.zeros(3), backend=backend)
    assert result.coef.dtype == np.float32
    assert np.asarray(result.intercept).dtype == np.float32
    assert grad_coef.dtype == np.float32
    assert np.asarray(grad_intercept).dtype == np.float32


@pytest.mark.parametrize("layout", ["C", "F"])
def test_contiguous_float64_X_gives_no_warning(backend, layout):
    X, y, _, _ = make_problem(20, 3, layout=layout)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fastgd.fit(X, y, max_iter=3, tol=0.0, backend=backend)
        fastgd.gradient(X, y, np.zeros(3), backend=backend)


def test_strided_view_X_is_copied_with_warning(backend):
    X, y = _good(20, 3)
    view = X[::2]
    assert not (view.flags.c_contiguous or view.flags.f_contiguous)
    with pytest.warns(fastgd.CopyWarning, match=r"X was copied.*contiguous"):
        result = fastgd.fit(view, y[::2], max_iter=5, tol=0.0, backend=backend)
    with pytest.warns(fastgd.CopyWarning):
        fastgd.gradient(view, y[::2], np.zeros(3), backend=backend)
    expected = fastgd.fit(np.ascontiguousarray(view), y[::2], max_iter=5, tol=0.0, backend=backend)
    np.testing.assert_allclose(result.coef, expected.coef, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("lr", [0.1, 1, np.float32(0.1), np.int64(1), "auto"])
def test_lr_accepted(lr):
    X, y = _good()
    result = call_fit(X, y, lr=lr, max_iter=1)
    assert isinstance(result.lr, float)


def test_max_iter_numpy_integer_accepted():
    X, y = _good()
    assert call_fit(X, y, max_iter=np.int64(4), method="cg").n_iter == 4


def test_fit_intercept_numpy_bool_accepted():
    X, y = _good()
    result = call_fit(X, y, fit_intercept=np.False_)
    assert result.intercept == 0.0


def test_intercept_init_scalar_broadcasts_over_targets():
    X, y = _good(n_targets=2)
    result = call_fit(X, y, intercept_init=1.5, max_iter=1, fit_intercept=False)
    np.testing.assert_array_equal(result.intercept, [1.5, 1.5])


# --------------------------------------------------------------- inputs are not mutated


@pytest.mark.parametrize("n_targets", [None, 2], ids=["y1d", "y2d"])
@pytest.mark.parametrize("layout", ["C", "F"])
def test_fit_does_not_mutate_inputs(backend, n_targets, layout):
    X, y, _, _ = make_problem(30, 4, n_targets, layout=layout, seed=3)
    rng = np.random.default_rng(4)
    if n_targets is None:
        coef_init, intercept_init = rng.standard_normal(4), np.float64(0.3)
    else:
        coef_init, intercept_init = rng.standard_normal((2, 4)), rng.standard_normal(2)
    saved = [a.copy() for a in (X, y, coef_init, intercept_init)]
    result = fastgd.fit(
        X,
        y,
        coef_init=coef_init,
        intercept_init=intercept_init,
        max_iter=20,
        tol=0.0,
        backend=backend,
    )
    for before, after in zip(saved, (X, y, coef_init, intercept_init)):
        np.testing.assert_array_equal(after, before)
    # The result does not alias the inputs.
    assert not np.shares_memory(result.coef, coef_init)
    assert not np.shares_memory(np.asarray(result.intercept), np.asarray(intercept_init))


def test_gradient_does_not_mutate_inputs(backend):
    X, y, _, _ = make_problem(30, 4, 2, seed=3)
    coef, intercept = np.ones((2, 4)), np.ones(2)
    saved = [a.copy() for a in (X, y, coef, intercept)]
    fastgd.gradient(X, y, coef, intercept, backend=backend)
    for before, after in zip(saved, (X, y, coef, intercept)):
        np.testing.assert_array_equal(after, before)


@pytest.mark.parametrize("n_targets", [None, 2], ids=["y1d", "y2d"])
@pytest.mark.parametrize("layout", ["C", "F"])
def test_read_only_inputs_are_accepted(backend, n_targets, layout):
    X, y, _, _ = make_problem(30, 4, n_targets, layout=layout, seed=5)
    coef_init = np.full((4,) if n_targets is None else (2, 4), 0.1)
    intercept_init = np.float64(0.2) if n_targets is None else np.array([0.2, -0.2])
    expected = fastgd.fit(
        X,
        y,
        coef_init=coef_init,
        intercept_init=intercept_init,
        max_iter=20,
        tol=0.0,
        backend=backend,
    )
    for a in (X, y, coef_init, intercept_init):
        if isinstance(a, np.ndarray):
            a.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", fastgd.CopyWarning)
        result = fastgd.fit(
            X,
            y,
            coef_init=coef_init,
            intercept_init=intercept_init,
            max_iter=20,
            tol=0.0,
            backend=backend,
        )
        grad = fastgd.gradient(X, y, coef_init, intercept_init, backend=backend)
    np.testing.assert_array_equal(result.coef, expected.coef)
    np.testing.assert_array_equal(result.intercept, expected.intercept)
    assert np.all(np.isfinite(grad[0]))
    # The returned coefficients are fresh, writable arrays.
    assert result.coef.flags.writeable


@pytest.mark.parametrize("layout", ["C", "F"])
def test_read_only_memmap_X(backend, tmp_path, layout):
    X, y, _, _ = make_problem(300, 6, layout=layout, seed=7)
    path = tmp_path / "X.dat"
    out = np.memmap(path, dtype=np.float64, mode="w+", shape=X.shape, order=layout)
    out[...] = X
    out.flush()
    del out
    X_mm = np.memmap(path, dtype=np.float64, mode="r", shape=X.shape, order=layout)
    assert not X_mm.flags.writeable
    with warnings.catch_warnings():
        warnings.simplefilter("error", fastgd.CopyWarning)  # a memmap is used as it is
        result = fastgd.fit(X_mm, y, max_iter=50, tol=0.0, backend=backend)
        grad = fastgd.gradient(X_mm, y, np.ones(6), 0.5, backend=backend)
    expected = fastgd.fit(X, y, max_iter=50, tol=0.0, backend=backend)
    expected_grad = fastgd.gradient(X, y, np.ones(6), 0.5, backend=backend)
    np.testing.assert_allclose(result.coef, expected.coef, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(result.intercept, expected.intercept, rtol=1e-12, atol=1e-14)
    for got, want in zip(grad, expected_grad):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    assert type(result.coef) is np.ndarray


def test_np_load_mmap_X(backend, tmp_path):
    X, y, _, _ = make_problem(100, 4, seed=8)
    np.save(tmp_path / "X.npy", X)
    X_mm = np.load(tmp_path / "X.npy", mmap_mode="r")
    result = fastgd.fit(X_mm, y, max_iter=30, tol=0.0, backend=backend)
    expected = fastgd.fit(X, y, max_iter=30, tol=0.0, backend=backend)
    np.testing.assert_allclose(result.coef, expected.coef, rtol=1e-12, atol=1e-14)


def test_object_arrays_of_numbers_are_converted(backend):
    """As scikit-learn: an object array of numbers is data (X copied, with a warning)."""
    X, y = _good()
    expected = fastgd.fit(X, y, max_iter=5, tol=0, backend=backend)
    with pytest.warns(fastgd.CopyWarning, match="converted from object to float64"):
        got = fastgd.fit(X.astype(object), y.astype(object), max_iter=5, tol=0, backend=backend)
    np.testing.assert_array_equal(got.coef, expected.coef)


# ----------------------------------------------------- DataFrames and big numbers


def test_a_dataframe_with_bool_columns_is_fitted_as_scikit_learn_fits_it():
    """bool columns were refused ('X has dtype object holding bool values'), where
    scikit-learn takes them as 0 and 1."""
    pd = pytest.importorskip("pandas")
    linear_model = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.standard_normal(50), "flag": rng.random(50) < 0.5})
    y = 2 * frame.a + 3 * frame.flag + 1
    result = fastgd.fit(frame, y)
    reference = linear_model.LinearRegression().fit(frame, y)
    np.testing.assert_allclose(result.coef, reference.coef_, rtol=1e-12)
    np.testing.assert_allclose(
        fastgd.GDRegressor().fit(frame, y).coef_, reference.coef_, rtol=1e-12
    )


@pytest.mark.parametrize("column, dtype", [("colour", "category"), ("name", "str")])
def test_a_column_that_is_not_numbers_is_named(column, dtype):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": np.arange(6.0), column: pd.Series(list("abcabc"), dtype=dtype)})
    for fit in (
        lambda: fastgd.fit(frame, np.arange(6.0)),
        lambda: fastgd.GDRegressor().fit(frame, np.arange(6.0)),
    ):
        with pytest.raises(TypeError, match=f"X's column '{column}' has dtype .*Encode it"):
            fit()


def test_numbers_beyond_float64_are_a_value_error_naming_the_argument():
    """intercept=10**400 gave a raw OverflowError."""
    X, y = np.ones((3, 2)), np.ones(3)
    with pytest.raises(ValueError, match="intercept is an integer of 401 digits"):
        fastgd.gradient(X, y, np.zeros(2), 10**400)
    with pytest.raises(ValueError, match="coef_init holds an integer beyond"):
        fastgd.fit(X, y, coef_init=[10**400, 1])


def test_a_dask_series_as_x_is_refused_as_a_pandas_series_is():
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    series = dd.from_pandas(pd.Series(np.arange(10.0)), npartitions=2)
    with pytest.raises(ValueError, match="X must be 2-D.*got a Dask Series"):
        fastgd.fit(series, series)
