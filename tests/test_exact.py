"""Accuracy against truth: problems whose least-squares solution is known exactly.

``fastgd/bench/exact.py`` builds them (orthonormal basis, chosen singular values, a
residual orthogonal to [X, 1]); the same cases make the docs' accuracy table
(benches/accuracy.py). Two promises are checked here:

* float64 fits are within 1e-8 (relative) of the exact (W*, b*) wherever
  cond(X.T X) <= 1e6, at every scale of y from 1e-100 to 1e100, for both solvers,
  single and multi-output, with and without intercept and sample weights;
* ``converged=True`` of conjugate gradients is never said of a point whose true
  gradient (computed from the distance to the exact solution, in the coordinates
  ``tol`` is defined in) exceeds tol's bound.

The default of tall data, the direct solve, is held to exact rational solutions in
tests/test_direct.py; here it meets the same problems as conjugate gradients.
"""

import numpy as np
import pytest

import fastgd
from fastgd.bench.exact import exact_problem

from conftest import COMPILED_BACKENDS

CONDS = (1e2, 1e4, 1e6, 1e8)
Y_SCALES = (1e-100, 1.0, 1e100)
R2S = (0.5, 0.99999)
# (n_targets, fit_intercept, weighted)
VARIANTS = ((None, True, False), (3, True, False), (None, False, False), (2, True, True))
# The tightest tol float64 certifies on these problems, and one a user might pick.
TIGHT_TOL, LOOSE_TOL = 1e-14, 1e-10


def _fit(problem, **options):
    return fastgd.fit(
        problem.X,
        problem.y,
        fit_intercept=problem.fit_intercept,
        sample_weight=problem.sample_weight,
        **options,
    )


def _assert_certificate_is_honest(problem, result, tol):
    """converged=True only where ||g_u|| <= tol * ||g_u(0)|| holds for the true g."""
    if not result.converged:
        return
    ratio = (
        problem.standardized_gradient_norm(result.coef, result.intercept)
        / problem.standardized_gradient_norm_at_zero()
    )
    assert ratio <= tol, f"converged=True with a true relative gradient of {ratio:.2e}"


@pytest.mark.parametrize(
    "variant",
    VARIANTS,
    ids=lambda v: "K{}-{}-{}".format(v[0] or 1, "b" if v[1] else "nob", "w" if v[2] else "unw"),
)
@pytest.mark.parametrize("r2", R2S)
@pytest.mark.parametrize("y_scale", Y_SCALES, ids=lambda s: f"y{s:.0e}")
@pytest.mark.parametrize("cond", CONDS, ids=lambda c: f"cond{c:.0e}")
@pytest.mark.parametrize("solver", ["stream", "gram"])
@pytest.mark.parametrize("backend", COMPILED_BACKENDS)
def test_conjugate_gradients_reach_the_exact_solution(backend, solver, cond, y_scale, r2, variant):
    n_targets, fit_intercept, weighted = variant
    problem = exact_problem(
        600,
        12,
        cond,
        r2=r2,
        y_scale=y_scale,
        n_targets=n_targets,
        fit_intercept=fit_intercept,
        weighted=weighted,
        seed=int(np.log10(cond)),
    )
    result = _fit(problem, tol=TIGHT_TOL, backend=backend, solver=solver, method="cg")
    assert result.solver == solver and result.method == "cg"
    _assert_certificate_is_honest(problem, result, TIGHT_TOL)
    if cond <= 1e6:
        assert result.converged
        assert problem.relative_error(result.coef, result.intercept) <= 1e-8
    else:  # beyond the promise: still right to about cond * eps, or not converged
        assert (
            not result.converged or problem.relative_error(result.coef, result.intercept) <= 1e-6
        )


def scaled_error(problem, coef, intercept, column_scale):
    """relative_error in the units of the columns before ``column_scale``: a feature
    at 1e-170 has a coefficient near 1e170, which would hide the others' errors."""
    got = np.hstack([np.atleast_2d(coef) * column_scale, np.reshape(intercept, (-1, 1))])
    exact = np.hstack(
        [np.atleast_2d(problem.coef) * column_scale, np.reshape(problem.intercept, (-1, 1))]
    )
    return float(np.max(np.abs(got - exact)) / np.max(np.abs(exact)))


# One feature, or every feature, at the edges of float64: their squares underflow to
# 0 or overflow (a column at 1e-170 was once taken for a constant one, given the
# coefficient 0, and the fit certified converged).
EXTREME_COLUMNS = [
    ("one", 1e-170),
    ("one", 1e-300),
    ("all", 1e-170),
    ("one", 1e170),
    ("all", 1e300),
]


def extreme_column_scale(which, value, n_features):
    if which == "all":
        return np.full(n_features, value)
    return np.r_[value, np.ones(n_features - 1)]


@pytest.mark.parametrize(
    "variant",
    VARIANTS,
    ids=lambda v: "K{}-{}-{}".format(v[0] or 1, "b" if v[1] else "nob", "w" if v[2] else "unw"),
)
@pytest.mark.parametrize("columns", EXTREME_COLUMNS, ids=lambda c: f"{c[0]}{c[1]:.0e}")
@pytest.mark.parametrize("solver", ["stream", "gram"])
@pytest.mark.parametrize("backend", COMPILED_BACKENDS + ("numpy",))
def test_features_at_the_edges_of_float64_reach_the_exact_solution(
    backend, solver, columns, variant
):
    n_targets, fit_intercept, weighted = variant
    scale = extreme_column_scale(*columns, 6)
    problem = exact_problem(
        300,
        6,
        1e3,
        n_targets=n_targets,
        fit_intercept=fit_intercept,
        weighted=weighted,
        seed=4,
        column_scale=scale,
    )
    result = _fit(problem, tol=LOOSE_TOL, backend=backend, solver=solver)
    # the default: the direct solve where the data compress, conjugate gradients else
    assert result.converged and result.method == ("qr" if solver == "gram" else "cg")
    assert np.isfinite(result.loss_history).all()  # (no 0 * inf penalty near 1e300)
    if result.method == "cg":
        _assert_certificate_is_honest(problem, result, LOOSE_TOL)
    assert scaled_error(problem, result.coef, result.intercept, scale) <= 1e-8


def with_constant_column(problem, value, position=1):
    """The problem with a column of ``value`` inserted at ``position``, and its
    answer: with an intercept the column is in the intercept's span, so the fitted
    values do not change, and its coefficient is 0 (scikit-learn's convention: a
    constant feature has no spread to standardize); without one, the column is the
    intercept, and its coefficient b* / value."""
    n = len(problem.X)
    X = np.insert(problem.X, position, np.full(n, value), axis=1)
    coef = np.insert(np.atleast_2d(problem.coef), position, 0.0, axis=1)
    if problem.y.ndim == 1:
        coef = coef[0]
    return X, coef


@pytest.mark.parametrize("value", [0.0, 1.0, 3.7, 0.1, -2.5e6])
@pytest.mark.parametrize(
    "variant", VARIANTS[:2] + VARIANTS[3:], ids=["K1-b-unw", "K3-b-unw", "K2-b-w"]
)
@pytest.mark.parametrize("solver", ["stream", "gram"])
@pytest.mark.parametrize("backend", COMPILED_BACKENDS + ("numpy",))
def test_a_constant_column_with_an_intercept_gets_coefficient_zero(
    backend, solver, variant, value
):
    """A column of 1s beside the intercept made the fit fail (its centred values,
    the rounding of its mean, were divided by their own tiny spread: coefficients of
    1e15, converged=False)."""
    n_targets, fit_intercept, weighted = variant
    problem = exact_problem(300, 5, 1e3, n_targets=n_targets, weighted=weighted, seed=5)
    X, coef = with_constant_column(problem, value)
    result = fastgd.fit(
        X,
        problem.y,
        sample_weight=problem.sample_weight,
        tol=LOOSE_TOL,
        backend=backend,
        solver=solver,
    )
    assert result.converged
    assert np.all(np.atleast_2d(result.coef)[:, 1] == 0.0)
    exact = np.hstack([np.atleast_2d(coef), np.reshape(problem.intercept, (-1, 1))])
    got = np.hstack([np.atleast_2d(result.coef), np.reshape(result.intercept, (-1, 1))])
    assert np.max(np.abs(got - exact)) <= 1e-8 * np.max(np.abs(exact))


def timestamps(n_samples, seed=0):
    """Nanosecond timestamps near 1.7e18 over 20 ms (distinct values, a spread of 6e6
    beside a mean 3e11 times larger) and a target linear in them."""
    rng = np.random.default_rng(seed)
    t = 1.7e18 + rng.uniform(0.0, 2e7, n_samples)
    return t[:, None], (t - 1.7e18) * 1e-6 + 0.01 * rng.standard_normal(n_samples)


@pytest.mark.parametrize("solver", ["stream", "gram"])
@pytest.mark.parametrize("backend", COMPILED_BACKENDS + ("numpy",))
def test_a_column_that_varies_little_beside_its_mean_is_fitted(backend, solver):
    """Its variance is within the worst-case rounding bound of a constant column's,
    but its values differ: a feature, fitted (it was once given coefficient 0 and the
    fit certified converged), to what float64 data of 3e11 times their spread hold."""
    import warnings

    X, y = timestamps(20_000)
    centred = X[:, 0] - X[:, 0].mean()
    slope = (centred @ (y - y.mean())) / (centred @ centred)  # scikit-learn's way
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fastgd.ConvergenceWarning)  # honest, if it is
        result = fastgd.fit(X, y, backend=backend, solver=solver)
    assert abs(result.coef[0] - slope) <= 1e-4 * abs(slope)


@pytest.mark.parametrize("solver", ["stream", "gram"])
@pytest.mark.parametrize("backend", COMPILED_BACKENDS + ("numpy",))
def test_without_an_intercept_a_constant_column_is_one(backend, solver):
    problem = exact_problem(300, 5, 1e3, n_targets=2, seed=6)
    X, _ = with_constant_column(problem, 4.0, position=5)
    result = fastgd.fit(
        X, problem.y, fit_intercept=False, tol=LOOSE_TOL, backend=backend, solver=solver
    )
    exact = np.hstack([problem.coef, problem.intercept[:, None] / 4.0])
    assert result.converged
    assert np.max(np.abs(result.coef - exact)) <= 1e-8 * np.max(np.abs(exact))


@pytest.mark.parametrize("cond", CONDS, ids=lambda c: f"cond{c:.0e}")
@pytest.mark.parametrize("solver", ["stream", "gram"])
@pytest.mark.parametrize("backend", COMPILED_BACKENDS + ("numpy",))
def test_a_loose_tol_is_honest_and_bounds_the_error(backend, solver, cond):
    """With tol=1e-10 the coefficients are within about cond * tol; and converged
    is still a certificate."""
    problem = exact_problem(600, 12, cond, r2=0.9, n_targets=2, seed=7)
    result = _fit(problem, tol=LOOSE_TOL, backend=backend, solver=solver)
    assert result.converged
    _assert_certificate_is_honest(problem, result, LOOSE_TOL)
    assert problem.relative_error(result.coef, result.intercept) <= 10 * cond * LOOSE_TOL


@pytest.mark.parametrize("method", ["gd", "fista"])
@pytest.mark.parametrize("solver", ["stream", "gram"])
def test_gradient_descent_and_fista_certificates_are_honest(compiled_backend, solver, method):
    """Their tol bounds the raw gradient (map) norm, relative to the zero model's."""
    problem = exact_problem(600, 6, 1e2, r2=0.9, seed=3, offset=0.0)
    tol = 1e-9
    result = _fit(
        problem, tol=tol, max_iter=100_000, backend=compiled_backend, solver=solver, method=method
    )
    assert result.converged and result.method == method
    A = np.hstack([problem.X, np.ones((len(problem.X), 1))])
    delta = np.r_[result.coef - problem.coef, result.intercept - problem.intercept]
    true_gradient = A.T @ (A @ delta) / len(A)
    zero_gradient = A.T @ problem.y / len(A)
    assert np.linalg.norm(true_gradient) <= tol * np.linalg.norm(zero_gradient)
    assert problem.relative_error(result.coef, result.intercept) <= 1e-6


@pytest.mark.parametrize("cond", (1e2, 1e4))
@pytest.mark.parametrize("solver", ["stream", "gram"])
def test_float32_reaches_the_float32_datas_solution(compiled_backend, solver, cond):
    """float32 X: the coefficients are float32, so the gradient at them (taken in
    float64 by the certificate) cannot be below about 1e-7 of its scale, more with
    cond: tol=1e-6 is certified by both solvers (the Gram solver's compression and
    iterations are float64, streaming is float32 arithmetic), and the error is then
    within about cond * tol."""
    problem = exact_problem(1000, 8, cond, seed=2)
    X, y = problem.X.astype(np.float32), problem.y.astype(np.float32)
    A = np.hstack([X.astype(np.float64), np.ones((len(X), 1))])
    solution = np.linalg.lstsq(A, y.astype(np.float64), rcond=None)[0]
    tol = 1e-6
    result = fastgd.fit(X, y, tol=tol, backend=compiled_backend, solver=solver)
    assert result.converged and result.coef.dtype == np.float32
    error = np.max(np.abs(np.r_[result.coef, result.intercept] - solution))
    assert error <= max(10 * cond * tol, 1e-6) * np.max(np.abs(solution))


@pytest.mark.parametrize(
    "method, message",
    [("cg", "float32 arithmetic on this data"), ("qr", "X is float32, and so are the coef")],
)
def test_a_tol_below_what_the_arithmetic_can_certify_is_reported(
    compiled_backend, method, message
):
    """float32 data cannot certify a relative gradient, or coefficients, of 1e-12: the
    fit says so (converged=False, a ConvergenceWarning saying why), whatever its
    iterations on the compressed problem claimed."""
    problem = exact_problem(1000, 8, 1e2, seed=2)
    X, y = problem.X.astype(np.float32), problem.y.astype(np.float32)
    with pytest.warns(fastgd.ConvergenceWarning, match=message):
        result = fastgd.fit(
            X, y, tol=1e-12, backend=compiled_backend, solver="gram", method=method
        )
    assert not result.converged
