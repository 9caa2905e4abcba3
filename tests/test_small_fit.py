"""fit's small arrays in one compiled call (fastgd/_small_fit.py: fit_many's kernel):
the exact least-squares solution, certified, with the result fit's QR path gives; and
every case the kernel must leave to that path."""

import warnings

import numpy as np
import pytest

import fastgd
from fastgd import _small_fit
from fastgd.bench.exact import exact_least_squares

from conftest import make_problem

EPS = np.finfo(np.float64).eps


@pytest.fixture
def answers(monkeypatch):
    """The kernel's answers (None: it declined), one per fit that asked it."""
    calls = []
    solve = _small_fit.solve
    monkeypatch.setattr(_small_fit, "solve", lambda *a: calls.append(solve(*a)) or calls[-1])
    return calls


def fit_by_qr(monkeypatch, X, y, **options):
    """fit's own path (the small kernel turned off)."""
    with monkeypatch.context() as patch:
        patch.setattr(_small_fit, "MAX_SMALL_ROWS", 0)
        return fastgd.fit(X, y, **options)


@pytest.mark.parametrize(
    "case",
    ["plain", "two targets", "no intercept", "weights", "ridge", "shifted columns", "float32"],
)
def test_a_small_fit_is_the_exact_solution_certified(compiled_backend, case, answers, monkeypatch):
    """Against the exact (rational) least-squares solution of the stored data, and the
    QR path's result: the same coefficients to rounding, a bound as tight."""
    X, y, _, _ = make_problem(120, 4, n_targets=3 if case == "two targets" else None, seed=5)
    options = {"backend": compiled_backend}
    weights = None
    if case == "no intercept":
        options["fit_intercept"] = False
    if case == "weights":
        weights = np.random.default_rng(1).uniform(0.1, 3.0, len(X))
        options["sample_weight"] = weights
    if case == "ridge":
        options.update(penalty="l2", alpha=0.3)
    if case == "shifted columns":
        X = X * [1e-3, 1.0, 1e3, 7.0] + [50.0, -3.0, 1e4, 0.0]
    if case == "float32":  # (its coefficients rounded to float32, as the QR path's)
        X, y = X.astype(np.float32), y.astype(np.float32)
    result = fastgd.fit(X, y, **options)
    assert answers and answers[0] is not None  # (the kernel answered)
    assert (result.method, result.solver, result.n_iter, result.stopped) == (
        "qr",
        "gram",
        1,
        "converged",
    )
    own = np.finfo(X.dtype).eps  # (float32 coefficients' rounding is in the bound)
    assert result.converged and result.error_bound <= 1e-12 + own
    assert result.coef.dtype == X.dtype
    assert all(len(column) == 1 for column in result.history.values())
    reference = fit_by_qr(monkeypatch, X, y, **options)
    np.testing.assert_allclose(result.coef, reference.coef, rtol=4 * own, atol=0)
    np.testing.assert_allclose(result.intercept, reference.intercept, rtol=4 * own, atol=1e-300)
    # (the QR path may take a pass more to certify the same point)
    np.testing.assert_allclose(result.loss_history[-1], reference.loss_history[-1], rtol=1e-12)
    if case not in ("ridge", "float32"):  # (the rational oracle of least squares)
        A = X if case == "no intercept" else np.hstack([X, np.ones((len(X), 1))])
        exact = np.atleast_2d(exact_least_squares(A, y, weights).T)
        got = np.atleast_2d(result.coef)
        if case != "no intercept":
            got = np.hstack([got, np.atleast_1d(result.intercept)[:, None]])
        error = np.max(np.abs(got - exact) / np.abs(exact))
        assert error <= result.error_bound, (error, result.error_bound)


def test_a_constant_column_is_held_at_zero_as_fit_holds_it(compiled_backend, answers, monkeypatch):
    X, y, _, _ = make_problem(60, 3, seed=6)
    X[:, 1] = 2.5
    result = fastgd.fit(X, y, backend=compiled_backend)
    assert answers[0] is not None and result.coef[1] == 0 and result.converged
    reference = fit_by_qr(monkeypatch, X, y, backend=compiled_backend)
    np.testing.assert_allclose(result.coef, reference.coef, rtol=4 * EPS, atol=0)
    np.testing.assert_allclose(result.intercept, reference.intercept, rtol=4 * EPS)


@pytest.mark.parametrize(
    "case", ["equal columns", "polynomial", "float32 tol", "fortran", "tol=0", "wide"]
)
def test_what_the_kernel_leaves_to_the_qr_path(compiled_backend, case, answers, monkeypatch):
    """Each gets exactly the QR path's result (and its warnings)."""
    X, y, _, _ = make_problem(60, 3, seed=6)
    options = {"backend": compiled_backend}
    if case == "equal columns":
        X[:, 2] = X[:, 0]
    if case == "polynomial":  # raw units: the normal equations cannot certify it
        x = np.arange(21.0)
        X, y = np.c_[x, x**2, x**3, x**4, x**5], 1 + x + x**2 + x**3 + x**4 + x**5
    if case == "float32 tol":  # (below float32 coefficients' own rounding)
        X, y = X.astype(np.float32), y.astype(np.float32)
        options["tol"] = 1e-9
    if case == "fortran":
        X = np.asfortranarray(X)
    if case == "tol=0":
        options["tol"] = 0
    if case == "wide":
        X, y, _, _ = make_problem(20, 200, seed=6)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        result = fastgd.fit(X, y, **options)
    with warnings.catch_warnings(record=True) as reference_said:
        warnings.simplefilter("always")
        reference = fit_by_qr(monkeypatch, X, y, **options)
    assert all(answer is None for answer in answers)
    np.testing.assert_array_equal(result.coef, reference.coef)
    np.testing.assert_array_equal(result.intercept, reference.intercept)
    assert (result.converged, result.method, result.n_iter) == (
        reference.converged,
        reference.method,
        reference.n_iter,
    )
    assert [str(w.message) for w in said] == [str(w.message) for w in reference_said]


def test_bad_data_is_still_an_error(compiled_backend):
    X, y, _, _ = make_problem(50, 3, seed=7)
    X[4, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fastgd.fit(X, y, backend=compiled_backend)
    X[4, 1] = 0.0
    with pytest.raises(FloatingPointError):
        fastgd.fit(X, y * 1e155, backend=compiled_backend)


def test_options_it_does_not_run_go_to_fit(compiled_backend, answers):
    """A callback, coef_init, an explicit method, L1 or mini-batches: fit's own path,
    the kernel not asked."""
    X, y, _, _ = make_problem(80, 3, seed=8)
    for options in (
        {"callback": lambda *point: None},
        {"coef_init": np.zeros(3)},
        {"method": "cg"},
        {"penalty": "l1", "alpha": 0.01},
        {"batch_size": 16, "max_iter": 3, "random_state": 0},
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fastgd.fit(X, y, backend=compiled_backend, **options)
    assert answers == []


def _true_error(coef, intercept, X, y, weights):
    A = np.hstack([X.astype(np.float64), np.ones((len(X), 1))])
    exact = exact_least_squares(A, y.astype(np.float64), weights)
    got = np.append(np.asarray(coef, dtype=np.float64), intercept)
    return float(np.max(np.abs(got - exact) / np.abs(exact)))


@pytest.mark.parametrize("case", ["weights 1e-280, y 1e-50", "subnormal weights", "y near 1e-150"])
def test_extreme_scales_stay_within_the_bound(compiled_backend, case):
    """A hostile review's cases: the weighted sums (s y, s r) underflowed to 0 and the
    kernel returned zeros with a bound of 0; the gradient's norms squared to 0 at y
    near 1e-150 (a bound of 2e-28). fit's small path and fit_many, against the exact
    solution."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((40, 3))
    y = X @ [1.0, 2.0, -1.0] + 0.1 * rng.standard_normal(40) + 5
    weights = None
    if case == "weights 1e-280, y 1e-50":
        y, weights = y * 1e-50, np.full(40, 1e-280)
    if case == "subnormal weights":
        weights = np.full(40, 1e-315)
    if case == "y near 1e-150":
        y = y * 1e-150
    result = fastgd.fit(X, y, sample_weight=weights, backend=compiled_backend)
    many = fastgd.fit_many(
        X[None],
        y[None],
        sample_weight=None if weights is None else weights[None],
        backend=compiled_backend,
    )
    for coef, intercept, bound in (
        (result.coef, result.intercept, result.error_bound),
        (many.coef[0], many.intercept[0], many.error_bound[0]),
    ):
        assert _true_error(coef, intercept, X, y, weights) <= bound <= 1e-15


def test_float32_coefficients_out_of_range_are_not_certified(compiled_backend):
    """float32 coefficients beyond float32's range: an error (as the QR path's), not
    inf marked converged; below its smallest normal number: not certified, and said."""
    rng = np.random.default_rng(2)
    X = (rng.standard_normal((40, 2)) * 1e-20).astype(np.float32)
    y = (X.astype(np.float64) @ [1e40, -2e40] + 1.0).astype(np.float32)
    with pytest.raises(FloatingPointError):
        fastgd.fit(X, y, backend=compiled_backend)
    X = (rng.standard_normal((40, 2)) * 1e20).astype(np.float32)
    y = (X.astype(np.float64) @ [1e-40, -2e-40] + 1e-22).astype(np.float32)
    with pytest.warns(fastgd.ConvergenceWarning, match="smallest normal number"):
        result = fastgd.fit(X, y, backend=compiled_backend)
    assert not result.converged
    with pytest.warns(fastgd.ConvergenceWarning):
        many = fastgd.fit_many(X[None], y[None], backend=compiled_backend)
    assert not many.converged[0]
    true = _true_error(many.coef[0], many.intercept[0], X, y, None)
    assert true <= many.error_bound[0]


@pytest.mark.parametrize("scale", [1e-280, 1e-315, 1e280])
def test_weights_of_any_scale_give_the_same_fit_on_either_path(
    compiled_backend, scale, monkeypatch
):
    """Weights times a constant are the same fit: fit's QR path (whose weighted sums
    underflowed at 1e-280 too: a bound of 3e-29 for an error of 2e-15) and the small
    path give, at any scale, the coefficients of the same weights brought into range by
    a power of two, bit for bit, within their bound of the exact solution."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 3))
    y = (X @ [1.0, 2.0, -1.0] + 0.1 * rng.standard_normal(40) + 5) * 1e-50
    weights = rng.uniform(0.5, 2.0, 40) * scale  # (subnormal ones keep fewer bits)
    in_range = np.ldexp(weights, -np.frexp(weights.max())[1])  # (exactly: a power of 2)
    for fit in (fastgd.fit, lambda *a, **k: fit_by_qr(monkeypatch, *a, **k)):
        unit = fit(X, y, sample_weight=in_range, backend=compiled_backend)
        scaled = fit(X, y, sample_weight=weights, backend=compiled_backend)
        np.testing.assert_array_equal(scaled.coef, unit.coef)
        np.testing.assert_array_equal(scaled.intercept, unit.intercept)
        error = _true_error(scaled.coef, scaled.intercept, X, y, weights)
        assert scaled.converged and error <= scaled.error_bound
