"""Argument checking at the API boundary (fastgd.fit and fastgd.gradient).

Every bad input must raise the right exception type with a message that names the
offending argument; legal but unusual inputs (integer, float32, strided views,
read-only arrays, memmaps, finite data whose sum overflows) must be accepted; and
no input array may be modified. Also: DivergenceError for a learning rate that is
too large, and its message's 2/L bound.
"""

import re
import warnings

import numpy as np
import pytest
import scipy.sparse

import fastgd
from conftest import ALL_BACKENDS, make_problem

# --------------------------------------------------------------------------- helpers


def _coef_like(X, y):
    """A zero coef of the right shape for gradient(X, y, coef) when X, y make sense,
    and an arbitrary small one otherwise (the error under test comes first)."""
    n_features = np.shape(X)[1] if np.ndim(X) == 2 else 1
    if np.ndim(y) == 2 and np.shape(y)[1] > 0:
        return np.zeros((np.shape(y)[1], n_features))
    return np.zeros(n_features)


def call_fit(X, y, **kwargs):
    kwargs.setdefault("max_iter", 3)
    kwargs.setdefault("tol", 0.0)
    return fastgd.fit(X, y, **kwargs)


def call_gradient(X, y, **kwargs):
    return fastgd.gradient(X, y, _coef_like(X, y), **kwargs)


@pytest.fixture(params=[call_fit, call_gradient], ids=["fit", "gradient"])
def entry(request):
    """Both public entry points that take X and y."""
    return request.param


def _good(n_samples=6, n_features=3, n_targets=None, seed=0):
    X, y, _, _ = make_problem(n_samples, n_features, n_targets, seed=seed)
    return X, y


# ------------------------------------------------------------------------ X and y shapes

X_ONLY_BAD_NDIM = {
    "X-1d": np.arange(6.0),
    "X-3d": np.zeros((6, 2, 2)),
    "X-0d": np.float64(3.0),
}


@pytest.mark.parametrize("X", list(X_ONLY_BAD_NDIM.values()), ids=list(X_ONLY_BAD_NDIM))
def test_X_not_2d(entry, X):
    y = np.zeros(6)
    with pytest.raises(ValueError, match=r"^X must be a 2-D array"):
        entry(X, y)


def test_X_1d_message_hints_reshape(entry):
    with pytest.raises(ValueError, match=r"reshape\(-1, 1\)"):
        entry(np.arange(6.0), np.zeros(6))


@pytest.mark.parametrize(
    "y", [np.zeros((6, 2, 1)), np.float64(1.0)], ids=["y-3d", "y-0d"]
)
def test_y_not_1d_or_2d(entry, y):
    X, _ = _good()
    with pytest.raises(ValueError, match=r"^y must be a 1-D array"):
        entry(X, y)


@pytest.mark.parametrize("n_y", [5, 7, 1])
@pytest.mark.parametrize("y_ndim", [1, 2])
def test_n_samples_mismatch(entry, n_y, y_ndim):
    X, _ = _good()
    y = np.zeros(n_y) if y_ndim == 1 else np.zeros((n_y, 2))
    with pytest.raises(ValueError, match=r"X and y have different numbers of samples"):
        entry(X, y)


def test_zero_samples(entry):
    with pytest.raises(ValueError, match=r"^X must have at least one sample"):
        entry(np.zeros((0, 3)), np.zeros(0))


def test_zero_features(entry):
    with pytest.raises(ValueError, match=r"^X must have at least one sample and one feature"):
        entry(np.zeros((5, 0)), np.zeros(5))


def test_y_zero_columns(entry):
    X, _ = _good()
    with pytest.raises(ValueError, match=r"^y must have at least one target column"):
        entry(X, np.zeros((6, 0)))


# ----------------------------------------------------------------------- non-finite data


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "+inf", "-inf"])
def test_X_non_finite(entry, bad):
    X, y = _good()
    X = X.copy()
    X[4, 1] = bad
    label = "NaN" if np.isnan(bad) else re.escape(str(bad))
    with pytest.raises(ValueError, match=rf"^X contains {label} at index \(4, 1\)"):
        entry(X, y)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "+inf", "-inf"])
@pytest.mark.parametrize("n_targets", [None, 2], ids=["y1d", "y2d"])
def test_y_non_finite(entry, bad, n_targets):
    X, y = _good(n_targets=n_targets)
    y = y.copy()
    index = (3,) if n_targets is None else (3, 1)
    y[index] = bad
    with pytest.raises(ValueError, match=rf"^y contains .* at index {re.escape(str(index))}"):
        entry(X, y)


@pytest.mark.parametrize("order", ["C", "F"])
def test_X_single_nan_deep_inside_large_array(entry, order):
    # Large enough that the finite check is more than a trivial loop; the NaN is
    # near the end, so the fast path (sum) must fall through to the block scan.
    X, y = _good(3000, 50)
    X = np.asarray(X, order=order).copy(order=order)
    X[2500, 37] = np.nan
    with pytest.raises(ValueError, match=r"^X contains NaN at index \(2500, 37\)"):
        entry(X, y)


@pytest.mark.parametrize("order", ["C", "F"])
def test_X_nan_index_reported_across_several_scan_blocks(order):
    # 4096 columns -> the finite scan looks at 256 rows at a time: the NaN in row 550
    # is in the third block, and the reported index must still be the true one.
    rng = np.random.default_rng(1)
    X = np.asarray(rng.standard_normal((600, 4096)), dtype=np.float32, order=order)
    X[550, 4000] = np.nan
    y = np.zeros(600, dtype=np.float32)
    with pytest.raises(ValueError, match=r"^X contains NaN at index \(550, 4000\)"):
        fastgd.gradient(X, y, np.zeros(4096, dtype=np.float32), backend="numpy")


def test_y_single_inf_deep_inside_large_array(entry):
    X, y = _good(3000, 50, n_targets=3)
    y = y.copy()
    y[2999, 2] = np.inf
    with pytest.raises(ValueError, match=r"^y contains inf at index \(2999, 2\)"):
        entry(X, y)


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


def test_finite_y_whose_loss_overflows_says_overflow_not_nan():
    # Every y is finite but the loss (sum of y**2 at coef = 0) overflows: the error
    # must say so, not claim that y holds NaN or inf, and no inf is returned.
    X, _ = _good()
    y = np.full(6, 1.5e308)
    with warnings.catch_warnings(), np.errstate(over="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        for backend in ALL_BACKENDS:
            with pytest.raises(FloatingPointError, match="overflowed.*finite.*largest"):
                fastgd.gradient(X, y, np.zeros(3), backend=backend)


# --------------------------------------------------------------------------------- dtypes

BAD_DTYPE_VALUES = {
    "complex": lambda a: a.astype(np.complex128),
    "object-str": lambda a: np.where(a > 0, "a", "b").astype(object),
    "object-bool": lambda a: (a > 0).astype(object),
    "str": lambda a: a.astype(str),
    "bool": lambda a: a > 0,
}


@pytest.mark.parametrize("make", list(BAD_DTYPE_VALUES.values()), ids=list(BAD_DTYPE_VALUES))
def test_X_bad_dtype(entry, make):
    X, y = _good()
    with pytest.raises(TypeError, match=r"^X has"):
        entry(make(X), y)


@pytest.mark.parametrize("make", list(BAD_DTYPE_VALUES.values()), ids=list(BAD_DTYPE_VALUES))
@pytest.mark.parametrize("n_targets", [None, 2], ids=["y1d", "y2d"])
def test_y_bad_dtype(entry, make, n_targets):
    X, y = _good(n_targets=n_targets)
    with pytest.raises(TypeError, match=r"^y has"):
        entry(X, make(y))


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
    expected = fastgd.fit(np.ascontiguousarray(view), y[::2], max_iter=5, tol=0.0,
                          backend=backend)
    np.testing.assert_allclose(result.coef, expected.coef, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("fmt", ["csr_matrix", "csc_matrix", "coo_matrix", "csr_array"])
def test_sparse_X_rejected(entry, fmt):
    X, y = _good()
    sparse = getattr(scipy.sparse, fmt)(X)
    with pytest.raises(TypeError, match=r"^X is a scipy\.sparse"):
        entry(sparse, y)


def test_sparse_y_rejected():
    X, y = _good()
    with pytest.raises(TypeError, match=r"^y is a scipy\.sparse"):
        call_fit(X, scipy.sparse.csr_matrix(y[:, None]))


# ----------------------------------------------------------------- hyper-parameters of fit


# (argument, bad value, exception, start of the message)
BAD_HYPER_PARAMETERS = [
    *[("lr", v, ValueError, "lr must be")
      for v in (0.0, -0.1, -np.inf, np.nan, np.inf, "fast", "AUTO", "")],
    *[("lr", v, TypeError, "lr must be a real number")
      for v in ([0.1], True, False, None, np.True_, 1j)],
    *[("max_iter", v, ValueError, "max_iter must be") for v in (0, -1, np.int64(0))],
    *[("max_iter", v, TypeError, "max_iter must be an integer")
      for v in (2.5, 3.0, True, "10", None)],
    *[("tol", v, ValueError, "tol must be") for v in (-1e-3, -np.inf, np.nan, np.inf)],
    *[("tol", v, TypeError, "tol must be a real number") for v in ("x", None, [1e-3], True)],
    *[("fit_intercept", v, TypeError, "fit_intercept must be True or False")
      for v in (1, 0, "True", None, 1.0)],
]


@pytest.mark.parametrize("argument, value, error, message", BAD_HYPER_PARAMETERS,
                         ids=[f"{a}={v!r}" for a, v, _, _ in BAD_HYPER_PARAMETERS])
def test_bad_hyper_parameter(argument, value, error, message):
    X, y = _good()
    with pytest.raises(error, match="^" + re.escape(message)):
        call_fit(X, y, **{argument: value})


@pytest.mark.parametrize("lr", [0.1, 1, np.float32(0.1), np.int64(1), "auto"])
def test_lr_accepted(lr):
    X, y = _good()
    result = call_fit(X, y, lr=lr, max_iter=1)
    assert isinstance(result.lr, float)


def test_max_iter_numpy_integer_accepted():
    X, y = _good()
    assert call_fit(X, y, max_iter=np.int64(4)).n_iter == 4


def test_fit_intercept_numpy_bool_accepted():
    X, y = _good()
    result = call_fit(X, y, fit_intercept=np.False_)
    assert result.intercept == 0.0


@pytest.mark.parametrize("backend_name", ["cuda", "Numba", "", None, 3])
def test_unknown_backend(entry, backend_name):
    X, y = _good()
    with pytest.raises(ValueError, match=r"^backend must be one of"):
        entry(X, y, backend=backend_name)


# --------------------------------------------------------------- starting coefficients


@pytest.mark.parametrize(
    "n_targets, shape",
    [(None, (4,)), (None, (1, 3)), (None, (3, 1)), (None, ()),
     (2, (3,)), (2, (3, 2)), (2, (1, 3)), (2, (2, 3, 1))],
)
def test_coef_init_wrong_shape(n_targets, shape):
    X, y = _good(n_targets=n_targets)
    with pytest.raises(ValueError, match=r"^coef_init must have shape"):
        call_fit(X, y, coef_init=np.zeros(shape))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("n_targets", [None, 2], ids=["y1d", "y2d"])
def test_coef_init_non_finite(n_targets, bad):
    X, y = _good(n_targets=n_targets)
    coef = np.zeros(3) if n_targets is None else np.zeros((2, 3))
    coef[..., 1] = bad
    with pytest.raises(ValueError, match=r"^coef_init contains"):
        call_fit(X, y, coef_init=coef)


def test_coef_init_bad_dtype():
    X, y = _good()
    with pytest.raises(TypeError, match=r"^coef_init has"):
        call_fit(X, y, coef_init=np.zeros(3, dtype=complex))


@pytest.mark.parametrize(
    "n_targets, value",
    [(None, np.zeros(1)), (None, np.zeros(3)), (2, np.zeros(3)), (2, np.zeros((2, 1))),
     (2, np.zeros(1))],
)
def test_intercept_init_wrong_shape(n_targets, value):
    X, y = _good(n_targets=n_targets)
    with pytest.raises(ValueError, match=r"^intercept_init must be"):
        call_fit(X, y, intercept_init=value)


@pytest.mark.parametrize("n_targets, value", [(None, np.nan), (2, np.array([0.0, np.inf]))])
def test_intercept_init_non_finite(n_targets, value):
    X, y = _good(n_targets=n_targets)
    with pytest.raises(ValueError, match=r"^intercept_init contains"):
        call_fit(X, y, intercept_init=value)


@pytest.mark.parametrize("solver", ["stream", "gram"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_a_non_finite_starting_point_is_blamed_on_itself(backend, solver, fit_intercept):
    """intercept_init=NaN with the intercept held fixed made the Gram matrix NaN,
    and the error told the user to rescale X and y."""
    X, y = _good()
    with pytest.raises(ValueError, match=r"^intercept_init contains NaN"):
        call_fit(X, y, intercept_init=np.nan, fit_intercept=fit_intercept, solver=solver,
                 backend=backend)
    with pytest.raises(ValueError, match=r"^coef_init contains inf"):
        call_fit(X, y, coef_init=np.array([0.0, np.inf, 0.0]), solver=solver, backend=backend)


@pytest.mark.parametrize("batch_size", [None, 16])
def test_nan_in_the_held_out_rows_of_early_stopping_raises(backend, batch_size):
    """The validation rows are not in the training loss: a NaN there made every
    validation loss NaN, which passed as a plateau ("converged" after 5 epochs at
    [0.27, 0.78, 1.05] for a true [1, 2, 3]). Every row is tried."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((200, 3))
    y = X @ [1.0, 2.0, 3.0]
    for row in range(0, 200, 7):
        for column, target in ((1, False), (0, True)):
            Xi, yi = X.copy(), y.copy()
            if target:
                yi[row] = np.inf
            else:
                Xi[row, column] = np.nan
            name = r"y contains inf" if target else r"X contains NaN"
            with pytest.raises(ValueError, match=name):
                fastgd.fit(Xi, yi, early_stopping=True, random_state=0, lr=0.1, tol=1e-3,
                           batch_size=batch_size, backend=backend)


def test_intercept_init_scalar_broadcasts_over_targets():
    X, y = _good(n_targets=2)
    result = call_fit(X, y, intercept_init=1.5, max_iter=1, fit_intercept=False)
    np.testing.assert_array_equal(result.intercept, [1.5, 1.5])


def test_gradient_coef_none():
    X, y = _good()
    with pytest.raises(TypeError, match=r"^coef is required"):
        fastgd.gradient(X, y, None)


@pytest.mark.parametrize(
    "n_targets, shape", [(None, (4,)), (None, (1, 3)), (2, (3,)), (2, (3, 2))]
)
def test_gradient_coef_wrong_shape(n_targets, shape):
    X, y = _good(n_targets=n_targets)
    with pytest.raises(ValueError, match=r"^coef must have shape"):
        fastgd.gradient(X, y, np.zeros(shape))


def test_gradient_coef_non_finite():
    X, y = _good()
    with pytest.raises(ValueError, match=r"^coef contains NaN"):
        fastgd.gradient(X, y, np.array([0.0, np.nan, 0.0]))


@pytest.mark.parametrize("n_targets, value", [(None, np.zeros(1)), (2, np.zeros(3))])
def test_gradient_intercept_wrong_shape(n_targets, value):
    X, y = _good(n_targets=n_targets)
    with pytest.raises(ValueError, match=r"^intercept must be"):
        call_gradient(X, y, intercept=value)


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
    result = fastgd.fit(X, y, coef_init=coef_init, intercept_init=intercept_init,
                        max_iter=20, tol=0.0, backend=backend)
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
    expected = fastgd.fit(X, y, coef_init=coef_init, intercept_init=intercept_init,
                          max_iter=20, tol=0.0, backend=backend)
    for a in (X, y, coef_init, intercept_init):
        if isinstance(a, np.ndarray):
            a.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", fastgd.CopyWarning)
        result = fastgd.fit(X, y, coef_init=coef_init, intercept_init=intercept_init,
                            max_iter=20, tol=0.0, backend=backend)
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


# ------------------------------------------------------------------------ DivergenceError


def _two_over_L(X, fit_intercept=True):
    A = np.hstack([X, np.ones((X.shape[0], 1))]) if fit_intercept else X
    return 2.0 / np.linalg.eigvalsh(A.T @ A / X.shape[0]).max()


def test_divergence_error_is_a_floating_point_error():
    assert issubclass(fastgd.DivergenceError, FloatingPointError)


def test_divergence_error_message(backend):
    X, y, _, _ = make_problem(200, 5)
    with pytest.raises(fastgd.DivergenceError) as info:
        fastgd.fit(X, y, lr=1e3, backend=backend)
    message = str(info.value)
    assert "iteration" in message
    assert "2/L" in message
    match = re.search(r"2/L = ([0-9.eE+-]+)", message)
    assert match, message
    reported = float(match.group(1).rstrip("."))
    np.testing.assert_allclose(reported, _two_over_L(X), rtol=1e-2)


def test_divergence_error_message_without_intercept(backend):
    X, y, _, _ = make_problem(200, 5)
    X = X + 3.0  # an intercept column would change L a lot
    with pytest.raises(fastgd.DivergenceError) as info:
        fastgd.fit(X, y, lr=1e3, fit_intercept=False, backend=backend)
    reported = float(re.search(r"2/L = ([0-9.eE+-]+)", str(info.value)).group(1).rstrip("."))
    np.testing.assert_allclose(reported, _two_over_L(X, fit_intercept=False), rtol=1e-2)


@pytest.mark.parametrize("n_targets", [None, 2], ids=["y1d", "y2d"])
def test_lr_slightly_above_two_over_L_raises(backend, n_targets):
    X, y, _, _ = make_problem(200, 5, n_targets)
    with pytest.raises(fastgd.DivergenceError):
        fastgd.fit(X, y, lr=1.1 * _two_over_L(X), max_iter=2000, tol=0.0, backend=backend)


@pytest.mark.parametrize("n_targets", [None, 2], ids=["y1d", "y2d"])
def test_lr_slightly_below_two_over_L_is_stable(backend, n_targets):
    X, y, _, _ = make_problem(200, 5, n_targets)
    result = fastgd.fit(X, y, lr=0.95 * _two_over_L(X), max_iter=2000, tol=0.0,
                        backend=backend)
    assert result.n_iter == 2000
    assert np.all(np.isfinite(result.coef))
    assert np.all(np.isfinite(result.intercept))
    # Below 2/L the loss never increases (up to rounding).
    assert np.all(np.diff(result.loss_history) <= 1e-12 * result.loss_history[:-1])


def test_lr_a_hair_above_two_over_L_does_not_return_a_blown_up_result(backend):
    # lr = 1.0001 * 2/L is unstable: the loss grows by (1.0001)**2 per iteration
    # along the top eigenvector. The kernel's 1e4 bar is not reached in 20000
    # iterations, so the API's fallback must decide; it must not hand back
    # coefficients whose loss is far above where the fit started.
    X, y, _, _ = make_problem(200, 5)
    try:
        result = fastgd.fit(X, y, lr=1.0001 * _two_over_L(X), max_iter=20000, tol=0.0,
                            backend=backend)
    except fastgd.DivergenceError:
        return
    history = result.loss_history
    assert history[-1] <= history[0], (
        f"silent divergence: loss went from {history[0]:.6g} (min {history.min():.6g}) "
        f"to {history[-1]:.6g} without DivergenceError"
    )


def test_object_arrays_of_numbers_are_converted(backend):
    """As scikit-learn: an object array of numbers is data (X copied, with a warning)."""
    X, y = _good()
    expected = fastgd.fit(X, y, max_iter=5, tol=0, backend=backend)
    with pytest.warns(fastgd.CopyWarning, match="converted from object to float64"):
        got = fastgd.fit(X.astype(object), y.astype(object), max_iter=5, tol=0, backend=backend)
    np.testing.assert_array_equal(got.coef, expected.coef)


def test_y_none_is_named():
    X, _ = _good()
    with pytest.raises(TypeError, match="y is None"):
        fastgd.fit(X, None)
