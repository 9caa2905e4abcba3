"""The direct solve (method="qr", the default full-batch least-squares and ridge fit)
against truth: exact rational solutions of the stored data (fastgd/bench/exact.py's
oracle), the classic polynomial designs in raw units, np.linalg.lstsq and
statsmodels' OLS.

Promises checked here:

* on polynomial designs of degree 1 to 10 (exact and noisy, with and without an
  intercept), at least as many correct digits as lstsq and statsmodels, and every
  digit float64 holds wherever the design allows it;
* ``error_bound`` is never below the true error of a coefficient (a sweep over
  conditioning, scales of y, weights, targets), so ``converged=True`` (the bound met
  tol) is a certificate of the coefficients themselves;
* what cannot be certified says why: linearly dependent columns, or float64's limit.
"""

import itertools
import warnings

import numpy as np
import pytest

import fastgd
from fastgd import _data, _reference, _small_fit
from fastgd._backends import get_backend
from fastgd._gram import factor_of_gram
from fastgd.bench.exact import (
    correct_digits,
    exact_least_squares,
    exact_problem,
    polynomial_problems,
    wampler1,
)

from conftest import COMPILED_BACKENDS

BACKENDS = COMPILED_BACKENDS + ("numpy",)
POLYNOMIALS = polynomial_problems()


def fit_quietly(X, y, **options):
    """fastgd.fit, and the ConvergenceWarning it gave (or None)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", fastgd.ConvergenceWarning)
        result = fastgd.fit(X, y, **options)
    warned = [w for w in caught if issubclass(w.category, fastgd.ConvergenceWarning)]
    return result, (str(warned[0].message) if warned else None)


def whole_digits(digits):
    """Correct digits as whole digits (the NIST StRD's LRE to the digit below): the
    last tenth of a digit of a float64 answer is its rounding, not its method."""
    return int(np.floor(digits + 1e-9))


def lstsq_digits(problem):
    A = (
        np.hstack([np.ones((len(problem.X), 1)), problem.X])
        if problem.fit_intercept
        else problem.X
    )
    return correct_digits(np.linalg.lstsq(A, problem.y, rcond=None)[0], problem.solution)


def statsmodels_digits(problem):
    sm = pytest.importorskip("statsmodels.api")
    A = (
        np.hstack([np.ones((len(problem.X), 1)), problem.X])
        if problem.fit_intercept
        else problem.X
    )
    return correct_digits(sm.OLS(problem.y, A).fit().params, problem.solution)


def assert_within_bound(
    coef, intercept, exact_coef, exact_intercept, X, sample_weight, fit_intercept, error_bound
):
    """Every coefficient within ``error_bound`` of the exact one, relative to it (for
    the slopes in the units of the standardized features), or, for a coefficient
    whose bound holds 0, relative to the largest standardized slope: the meaning of
    FitResult.error_bound (fastgd/_direct.py)."""
    s = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, float)
    mean = s @ X / s.sum() if fit_intercept else np.zeros(X.shape[1])
    spread = np.sqrt(s @ (X - mean) ** 2 / s.sum())
    got, exact = np.atleast_2d(coef) * spread, np.atleast_2d(exact_coef) * spread
    scale = np.max(np.abs(exact), axis=1, keepdims=True)
    if fit_intercept:
        got = np.hstack([got, np.reshape(intercept, (-1, 1))])
        exact = np.hstack([exact, np.reshape(exact_intercept, (-1, 1))])
    # (the oracle's solution is exact, then rounded once to float64: half an ulp)
    allowed = (
        error_bound * np.maximum(np.abs(exact), scale) * (1 + 1e-9)
        + 0.5 * np.spacing(np.abs(exact))
        + 1e-300
    )
    error = np.abs(got - exact)
    assert np.all(error <= allowed), (
        f"a coefficient's error {np.max(error / allowed) * error_bound:.3g} (relative) is "
        f"above error_bound={error_bound:.3g}"
    )


@pytest.mark.parametrize("problem", POLYNOMIALS, ids=[p.name for p in POLYNOMIALS])
@pytest.mark.parametrize("backend", BACKENDS)
def test_polynomial_designs_against_their_exact_solutions(backend, problem):
    result, warned = fit_quietly(
        problem.X, problem.y, fit_intercept=problem.fit_intercept, backend=backend
    )
    assert result.method == "qr" and result.solver == "gram"
    digits = problem.digits(result.coef, result.intercept)
    references = (lstsq_digits(problem), statsmodels_digits(problem))
    # at least as many correct digits as lstsq and statsmodels' OLS, on every problem
    assert whole_digits(digits) >= max(whole_digits(d) for d in references)
    exact = problem.solution
    coef, intercept = (exact[1:], exact[0]) if problem.fit_intercept else (exact, 0.0)
    assert_within_bound(
        result.coef,
        result.intercept,
        coef,
        intercept,
        problem.X,
        None,
        problem.fit_intercept,
        result.error_bound,
    )
    if result.converged:
        assert warned is None and result.error_bound <= 1e-6
    else:  # what stops it is said
        assert warned is not None and "certified to a relative error" in warned


def test_wampler1_is_solved_exactly(compiled_backend):
    """NIST's Wampler1 (the example of the issue: the old default returned no correct
    digit, marked converged): every coefficient is 1 to the last bit."""
    problem = wampler1()
    result = fastgd.fit(problem.X, problem.y, backend=compiled_backend)
    assert result.converged and result.method == "qr"
    assert np.all(result.coef == 1.0) and result.intercept == 1.0


def test_polynomial_digits_where_float64_holds_them():
    """Every degree up to 10 on [0, 10], exact or noisy, and up to 4 on [100, 110]
    (whose centred design is a thousand times worse conditioned): at least 10 correct
    digits, and certified (lstsq gets 4 to 15 there, statsmodels the same)."""
    for problem in POLYNOMIALS:
        degree = problem.X.shape[1]
        near_zero = problem.X[0, 0] < 50
        if not (near_zero or degree <= 4):
            continue
        result = fastgd.fit(problem.X, problem.y, fit_intercept=problem.fit_intercept)
        assert problem.digits(result.coef, result.intercept) >= 10, problem.name
        assert result.converged, problem.name


CONDS = (1e2, 1e6, 1e10, 1e12)
Y_SCALES = (1e-100, 1.0, 1e100)
# (n_targets, fit_intercept, weighted)
VARIANTS = ((None, True, False), (3, True, False), (None, False, False), (2, True, True))


@pytest.mark.parametrize(
    "variant",
    VARIANTS,
    ids=lambda v: "K{}-{}-{}".format(v[0] or 1, "b" if v[1] else "nob", "w" if v[2] else "unw"),
)
@pytest.mark.parametrize("r2", (0.5, 0.999999))
@pytest.mark.parametrize("y_scale", Y_SCALES, ids=lambda s: f"y{s:.0e}")
@pytest.mark.parametrize("cond", CONDS, ids=lambda c: f"cond{c:.0e}")
@pytest.mark.parametrize("factor", ("qr", "gram", "small"))
def test_the_bound_is_never_below_the_true_error(
    compiled_backend, cond, y_scale, r2, variant, factor, monkeypatch
):
    """Against the exact solution of the stored data (fastgd/bench/exact.py's problems are
    exact only up to the rounding of their construction, about cond * eps), from
    Householder QR's factor, from the Gram matrix's (taken here on small data too;
    where its error is too large to certify with, Householder's replaces it), and from
    the small arrays' compiled solve (_small_fit: fit_many's kernel), where it answers."""
    grams, answered = [], []
    if factor != "small":
        monkeypatch.setattr(_small_fit, "MAX_SMALL_ROWS", 0)
    else:
        solve = _small_fit.solve
        monkeypatch.setattr(
            _small_fit, "solve", lambda *a: answered.append(solve(*a)) or answered[-1]
        )
    if factor == "gram":
        monkeypatch.setattr(_data, "GRAM_MIN_WORK", 0)
        monkeypatch.setattr(
            _data, "factor_of_gram", lambda G, K: grams.append(factor_of_gram(G, K)) or grams[-1]
        )
    n_targets, fit_intercept, weighted = variant
    problem = exact_problem(
        300,
        6,
        cond,
        r2=r2,
        y_scale=y_scale,
        n_targets=n_targets,
        fit_intercept=fit_intercept,
        weighted=weighted,
        seed=11,
    )
    A = np.hstack([problem.X, np.ones((300, 1))]) if fit_intercept else problem.X
    exact = exact_least_squares(A, problem.y, problem.sample_weight).T
    exact = np.atleast_2d(exact)
    exact_coef, exact_intercept = (
        (exact[:, :-1], exact[:, -1]) if fit_intercept else (exact, np.zeros(len(exact)))
    )
    result, warned = fit_quietly(
        problem.X,
        problem.y,
        fit_intercept=fit_intercept,
        sample_weight=problem.sample_weight,
        backend=compiled_backend,
    )
    assert result.method == "qr"
    assert_within_bound(
        result.coef,
        result.intercept,
        exact_coef,
        exact_intercept,
        problem.X,
        problem.sample_weight,
        fit_intercept,
        result.error_bound,
    )
    if cond <= 1e10:  # the refinement reaches float64's limit, and certifies it
        assert result.converged and result.error_bound <= 1e-11 + cond * 1e-15
    assert result.converged == (warned is None)
    if factor == "gram" and cond <= 1e6 and y_scale == 1.0:  # (usable: it was taken)
        assert grams and grams[0] is not None
    if factor == "small" and cond <= 1e2 and not variant[2]:  # (it answered, exactly)
        assert answered and answered[0] is not None
    if cond <= 1e2:  # the point after the first correction is certified: one pass
        assert result.n_iter == 1


@pytest.mark.parametrize("error", (1e-9, 1e-7))
@pytest.mark.parametrize("cond", (1e1, 1e3))
def test_a_factor_as_poor_as_its_backward_error_still_certifies_honestly(
    compiled_backend, cond, error, monkeypatch
):
    """The Gram matrix perturbed by ``error`` sqrt(G_jj G_ll) (random signs) and that
    error declared (_gram.gram_factor_error): the point after each correction, which
    is certified before a pass at it, is within its bound of the exact solution."""
    rng = np.random.default_rng(int(cond))

    def perturbed(G, K):
        scale = np.sqrt(np.outer(np.diagonal(G), np.diagonal(G)))
        E = np.triu(error * scale * rng.choice([-1.0, 1.0], G.shape))
        return factor_of_gram(G + E + np.triu(E, 1).T, K)

    monkeypatch.setattr(_data, "GRAM_MIN_WORK", 0)
    monkeypatch.setattr(_data, "factor_of_gram", perturbed)
    monkeypatch.setattr(_data, "gram_factor_error", lambda chain, m: error)
    problem = exact_problem(400, 6, cond, r2=0.9, seed=3)
    exact = exact_least_squares(np.hstack([problem.X, np.ones((400, 1))]), problem.y)
    for max_iter in (1, 2, 100):
        result, _ = fit_quietly(problem.X, problem.y, max_iter=max_iter, backend=compiled_backend)
        assert_within_bound(
            result.coef,
            result.intercept,
            exact[:-1],
            exact[-1],
            problem.X,
            None,
            True,
            result.error_bound,
        )
        assert result.error_bound < 1e-3


def test_linearly_dependent_columns_are_named_and_not_certified(compiled_backend):
    """A column repeated (or a sum of others): the coefficients are not unique. The
    fit returns the minimum-norm least-squares solution in standardized units (the
    repeated column's two coefficients equal), its fitted values those of lstsq, and
    says which columns, with converged=False."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((200, 4))
    X = np.hstack([X, X[:, [1]], X[:, [0]] + X[:, [2]]])  # columns 4 = 1, 5 = 0 + 2
    y = X[:, :4] @ [1.0, 2.0, -1.0, 0.5] + 3.0 + 0.1 * rng.standard_normal(200)
    with pytest.warns(
        fastgd.ConvergenceWarning,
        match=r"columns 0, 1, 2, 4, 5 of X are "
        r"linearly dependent",
    ):
        result = fastgd.fit(X, y, backend=compiled_backend)
    assert not result.converged and result.error_bound == np.inf
    assert result.coef[1] == pytest.approx(result.coef[4], rel=1e-10)
    A = np.hstack([X, np.ones((200, 1))])
    fitted = X @ result.coef + result.intercept
    np.testing.assert_allclose(fitted, A @ np.linalg.lstsq(A, y, rcond=None)[0], rtol=1e-10)


def test_ridge_is_the_exact_ridge_solution(compiled_backend):
    """penalty="l2": the exact solution of the augmented least-squares problem
    ``[A; sqrt(N alpha) P] theta = [y; 0]`` (the intercept not penalized), and
    scikit-learn's Ridge(alpha * N)."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((150, 5)) * [1.0, 10.0, 0.1, 1.0, 3.0] + 2.0
    y = X @ [1.0, -0.5, 4.0, 0.0, 2.0] + 1.0 + rng.standard_normal(150)
    alpha = 0.3
    result = fastgd.fit(X, y, penalty="l2", alpha=alpha, backend=compiled_backend)
    assert result.method == "qr" and result.converged
    A = np.vstack(
        [
            np.hstack([X, np.ones((150, 1))]),
            np.hstack([np.sqrt(150 * alpha) * np.eye(5), np.zeros((5, 1))]),
        ]
    )
    exact = exact_least_squares(A, np.r_[y, np.zeros(5)])
    assert_within_bound(
        result.coef, result.intercept, exact[:5], exact[5], X, None, True, result.error_bound
    )
    assert result.error_bound <= 1e-12
    sklearn = pytest.importorskip("sklearn.linear_model")
    ridge = sklearn.Ridge(alpha=alpha * 150).fit(X, y)
    np.testing.assert_allclose(result.coef, ridge.coef_, rtol=1e-10)


def test_float32_coefficients_count_their_own_rounding(compiled_backend):
    problem = wampler1()
    X, y = problem.X.astype(np.float32), problem.y.astype(np.float32)
    result = fastgd.fit(X, y, backend=compiled_backend)
    assert result.coef.dtype == np.float32 and result.converged
    assert 0.5 * np.finfo(np.float32).eps <= result.error_bound <= 1e-6
    result, warned = fit_quietly(X, y, backend=compiled_backend, tol=1e-9)
    assert not result.converged and "certified to a relative error" in warned


@pytest.mark.parametrize(
    "options, what",
    [
        ({"lr": 0.1}, "a float lr"),
        ({"batch_size": 10}, "mini-batches"),
        ({"solver": "stream"}, "solver='stream'"),
        ({"momentum": 0.5}, "momentum"),
    ],
)
def test_what_the_direct_solve_cannot_run_is_refused(options, what):
    X = np.random.default_rng(0).standard_normal((50, 3))
    with pytest.raises(ValueError, match=f"method='qr' cannot be combined with {what}"):
        fastgd.fit(X, X.sum(axis=1), method="qr", **options)


def test_the_defaults_solve_directly_and_iterate_where_iteration_is_the_tool():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((500, 8))
    y = X @ np.arange(8.0) + 1.0
    assert fastgd.fit(X, y).method == "qr"
    assert fastgd.fit(X, y, penalty="l2").method == "qr"
    assert fastgd.fit(X, y, penalty="l1").method == "qr"
    assert fastgd.fit(X, y, penalty="l1", solver="stream").method == "fista"
    assert fastgd.fit(X, y, lr=0.01, max_iter=5, tol=0).method == "gd"
    assert fastgd.fit(X, y, solver="stream").method == "cg"
    assert fastgd.fit(X[:5], y[:5], penalty="l2").method == "cg"  # more columns than rows


# ------------------------------------------------------------------- L1 penalties


def test_lasso_on_raw_unit_macroeconomic_data_is_scikit_learns_exactly():
    """The exact-direct-path issue's case (statsmodels' macrodata: real consumption on
    real GDP, investment, CPI and unemployment in their own units, cond(X.T X) about
    4e7): the old default, FISTA without preconditioning, said converged=True at more
    than twice the optimal objective. The direct solve's homotopy in standardized
    coordinates gives scikit-learn's Lasso(tol=1e-12) solution, zeros included."""
    sm = pytest.importorskip("statsmodels.api")
    linear_model = pytest.importorskip("sklearn.linear_model")
    data = sm.datasets.macrodata.load_pandas().data
    X = data[["realgdp", "realinv", "cpi", "unemp"]].to_numpy()
    y = data["realcons"].to_numpy()
    for alpha in (1.0, 10.0, 100.0):  # at 100, unemployment's coefficient is 0
        result = fastgd.fit(X, y, penalty="l1", alpha=alpha)
        reference = linear_model.Lasso(alpha=alpha, tol=1e-12, max_iter=10**7).fit(X, y)
        assert result.method == "qr" and result.converged
        objective = lasso_objective(X, y, result.coef, result.intercept, alpha)
        best = lasso_objective(X, y, reference.coef_, reference.intercept_, alpha)
        assert objective <= best * (1 + 1e-12)
        np.testing.assert_array_equal(result.coef == 0, reference.coef_ == 0)
        np.testing.assert_allclose(result.coef, reference.coef_, rtol=1e-7)


def lasso_objective(X, y, coef, intercept, alpha, l1_ratio=1.0):
    residual = X @ coef + intercept - y
    return residual @ residual / (2 * len(y)) + alpha * (
        l1_ratio * np.abs(coef).sum() + (1 - l1_ratio) / 2 * coef @ coef
    )


@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
@pytest.mark.parametrize("column_scale", [1.0, "raw"])
@pytest.mark.parametrize("cond", [1e2, 1e5, 1e8], ids=lambda c: f"cond{c:.0e}")
def test_l1_penalties_reach_the_exact_solution_of_their_support(
    compiled_backend, cond, column_scale, l1_ratio
):
    """Lasso and elastic net on standardized and raw-unit designs (columns 1 to 1e4
    apart, cond(X.T X) up to 1e8): the coefficients within error_bound of the exact
    solution of the optimality conditions on their own support and signs (rational
    arithmetic), every zero strictly inside its subgradient interval (so that support
    is the solution's), and the objective no worse than scikit-learn's at tol=1e-12."""
    scale = np.logspace(0, 4, 6) if column_scale == "raw" else 1.0
    problem = exact_problem(300, 6, cond, r2=0.9, seed=int(np.log10(cond)), column_scale=scale)
    X, y = problem.X, problem.y
    alpha_max = np.max(np.abs((X - X.mean(axis=0)).T @ (y - y.mean()))) / len(y) / l1_ratio
    alpha = 0.05 * alpha_max
    result = fastgd.fit(
        X, y, penalty="elasticnet", alpha=alpha, l1_ratio=l1_ratio, backend=compiled_backend
    )
    assert result.method == "qr" and result.converged
    l1, l2 = alpha * l1_ratio, alpha * (1 - l1_ratio)
    support = result.coef != 0
    assert 0 < support.sum() < 6 or l1_ratio < 1  # a real support: some zeros
    A = np.hstack([X[:, support], np.ones((300, 1))])
    signs = np.r_[np.sign(result.coef[support]), 0.0]
    exact = exact_least_squares(A, y, l1=l1, l2=l2, signs=signs)
    exact_coef = np.zeros(6)
    exact_coef[support] = exact[:-1]
    assert_within_bound(
        result.coef, result.intercept, exact_coef, exact[-1], X, None, True, result.error_bound
    )
    # the zeros' optimality: |gradient| < l1 at the exact point, with a margin
    gradient = (X.T @ (X @ exact_coef + exact[-1] - y)) / 300 + l2 * exact_coef
    assert np.all(np.abs(gradient[~support]) < l1 * (1 - 1e-9))
    linear_model = pytest.importorskip("sklearn.linear_model")
    reference = linear_model.ElasticNet(
        alpha=alpha, l1_ratio=l1_ratio, tol=1e-12, max_iter=10**6
    ).fit(X, y)
    ours = lasso_objective(X, y, result.coef, result.intercept, alpha, l1_ratio)
    theirs = lasso_objective(X, y, reference.coef_, reference.intercept_, alpha, l1_ratio)
    assert ours <= theirs * (1 + 1e-12)


def test_a_zero_pattern_at_a_tie_is_not_certified():
    """At alpha = alpha_max (the largest |X_c.T y_c| / N) the first coefficient is at the
    edge of entering: which coefficients are zero is decided by rounding. The fit
    returns the optimum (all zero, to rounding) and says the zero pattern is not
    certified, rather than certifying a pattern the data cannot decide."""
    rng = np.random.default_rng(6)
    X = rng.standard_normal((100, 4))
    y = X @ [1.0, 0.5, 0.0, -2.0] + 0.5 * rng.standard_normal(100)
    correlations = (X - X.mean(axis=0)).T @ (y - y.mean()) / 100
    alpha = float(np.max(np.abs(correlations)))
    with pytest.warns(fastgd.ConvergenceWarning, match="zero pattern .* not certified"):
        result = fastgd.fit(X, y, penalty="l1", alpha=alpha)
    assert not result.converged and result.stopped == "uncertified"
    assert np.max(np.abs(result.coef)) <= 1e-12


@pytest.mark.parametrize("options", [{}, {"penalty": "l2", "alpha": 0.1}], ids=["ols", "ridge"])
def test_a_constant_target_is_its_intercept_certified(compiled_backend, options):
    """y constant (to float64): its stored values are the intercept's model exactly
    (LinearRegression's answer: slopes 0, the intercept y's value); the slopes are
    rounding, certified relative to the intercept, with no warning."""
    X = np.random.default_rng(3).standard_normal((200, 5)) * [1, 10, 0.1, 3, 1] + 5
    y = np.full(200, 3.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = fastgd.fit(X, y, backend=compiled_backend, **options)
    assert result.converged and result.error_bound < 1e-15
    assert result.intercept == pytest.approx(3.0, rel=1e-15)
    assert np.abs(result.coef * X.std(axis=0)).max() < 1e-15 * 3.0


def test_the_lasso_path_of_the_small_problem_is_scikit_learns(backend):
    """Each backend's lasso_path, one walk down the homotopy, at scikit-learn's grid:
    the Lasso path of centred data (H = X.T X / N, q = X.T y / N, unit weights),
    against lasso_path's coordinate descent run to a tight tolerance, and each point
    against lasso_solution at that alpha alone."""
    sklearn_linear = pytest.importorskip("sklearn.linear_model")
    from fastgd._direct import lasso_solution

    driver = get_backend(backend)

    rng = np.random.default_rng(0)
    N, D = 200, 12
    cov = 0.6 ** np.abs(np.subtract.outer(np.arange(D), np.arange(D)))
    X = rng.multivariate_normal(np.zeros(D), cov, size=N)
    X -= X.mean(axis=0)
    coef = np.where(np.arange(D) < 4, rng.normal(size=D) * 3, 0.0)
    y = X @ coef + rng.normal(size=N)
    y -= y.mean()
    H, q = X.T @ X / N, X.T @ y / N
    alpha_max = np.abs(q).max()  # scikit-learn's grid: from the first join down
    alphas = np.geomspace(alpha_max, 1e-3 * alpha_max, 30)
    _, expected, _ = sklearn_linear.lasso_path(X, y, alphas=alphas, tol=1e-14, max_iter=10**6)
    path = driver.lasso_path(H, q, np.ones(D), alphas)
    np.testing.assert_allclose(path, expected.T, rtol=0, atol=1e-9 * np.abs(expected).max())
    supports = [int((point != 0).sum()) for point in path]
    assert supports[0] == 0 and supports[-1] >= D - 2 and len(set(supports)) > 5
    for alpha, point in zip(alphas[::7], path[::7]):
        alone = lasso_solution(H, q, np.full(D, alpha), driver)  # (solved beside others:
        np.testing.assert_allclose(point, alone, atol=1e-14 * np.abs(alone).max())  # rounding)
        np.testing.assert_array_equal(point == 0, alone == 0)


def _homotopy_case(case):
    """(H, q, weights, scales) of a small Lasso whose homotopy has what ``case`` says:
    correlated columns with drops on the way (0.9^|i-j|, seed 10: two), a column
    copied (exactly singular at its join), a column of zeros, weights per column, a q
    of zeros (every point 0), no coefficients at all."""
    rng = np.random.default_rng(10)
    D = 0 if case == "no coefficients" else 10
    cov = 0.9 ** np.abs(np.subtract.outer(np.arange(D), np.arange(D)))
    X = rng.multivariate_normal(np.zeros(D), cov, size=60) if D else np.zeros((60, 0))
    y = X @ rng.normal(size=D) + rng.normal(size=60)
    if case == "copied column":
        X[:, 3] = X[:, 1]
    if case == "zero column":
        X[:, 4] = 0.0
    if case == "zero q":
        y = np.zeros(60)
    H, q = X.T @ X / 60, X.T @ y / 60
    weights = rng.uniform(0.5, 2.0, size=D) if case == "weights" else np.ones(D)
    top = float(np.max(np.abs(q) / weights, initial=1.0)) or 1.0
    return H, q, weights, np.geomspace(1.5 * top, 1e-4 * top, 200)


def test_a_target_that_varies_by_ulps_is_not_taken_for_a_constant(compiled_backend):
    """y varying by a few ulps on nearly collinear columns (a hostile review's
    generator; its 43rd problem certified slopes of the wrong sign relative to the
    intercept, as a constant target's): every one within the bound of the exact
    solution of the stored data, or not converged."""
    rng = np.random.default_rng(0)
    for _ in range(43):
        X = rng.standard_normal((30, 3))
        X[:, 1] = X[:, 0] + 10.0 ** rng.uniform(-13, -9) * rng.standard_normal(30)
        c = 10.0 ** rng.uniform(0, 8)
        y = c + c * 10.0 ** rng.uniform(-16, -13) * rng.standard_normal(30)
        if len(np.unique(y)) == 1:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", fastgd.ConvergenceWarning)  # (if it says so)
            result = fastgd.fit(X, y, backend=compiled_backend)
        if not result.converged:
            continue
        exact = exact_least_squares(np.c_[X, np.ones(30)], y)
        assert_within_bound(
            result.coef, result.intercept, exact[:-1], exact[-1], X, None, True, result.error_bound
        )


def _lasso_conditions(H, q, weights, scales, path):
    """The largest violation of the Lasso's optimality conditions along a path,
    relative to the terms of q - H u (its rounding): |q - H u| <= t w where u = 0
    (to rounding: a tied column held at 0 may be left at 1e-17 of either sign),
    q - H u = t w sign(u) elsewhere."""
    worst = 0.0
    for t, u in zip(scales, path):
        c, zero = q - H @ u, np.abs(u) <= 1e-12 * np.abs(u).max(initial=0.0)
        violation = np.where(
            zero,
            np.maximum(np.abs(c) - t * weights, 0.0),
            np.abs(c - t * weights * np.sign(u)),
        )
        terms = np.abs(q).max(initial=0.0) + np.abs(H).max(initial=0.0) * np.abs(u).sum()
        worst = max(worst, float(violation.max(initial=0.0)) / (terms or 1.0))
    return worst


@pytest.mark.parametrize(
    "rho, d, alternating", [(0.0, 2, False), (0.5, 3, False), (0.5, 5, False), (0.9, 3, True)]
)
def test_columns_that_tie_join_together(backend, rho, d, alternating):
    """Equicorrelated columns whose correlations tie at every event (found by a hostile
    review: the compiled homotopy dropped a column that had joined at the same t as
    another, and joined it again, until its steps ran out; or lost a tie's join to a
    crossing computed just above t): every point satisfies the Lasso's conditions,
    with one event per column."""
    H = np.full((d, d), rho) + (1 - rho) * np.eye(d)
    q = np.array([(-1.0) ** j if alternating else 1.0 for j in range(d)])
    weights = np.ones(d)
    scales = np.concatenate([2.0 ** -np.arange(12), np.geomspace(1, 1e-6, 15)])
    scales = np.sort(scales)[::-1]
    events = np.zeros(len(scales), dtype=np.int64)
    path = get_backend(backend).lasso_path(H, q, weights, scales, events)
    assert _lasso_conditions(H, q, weights, scales, path) < 1e-14
    assert events[-1] == d


@pytest.mark.parametrize(
    "H, q, expected",
    [
        (  # a column tied at its bound but moving in joined anyway, with the wrong sign
            [[5, 1, -1, -1], [1, 5, 3, -1], [-1, 3, 5, -3], [-1, -1, -3, 5]],
            [0, -8, -12, 6],
            [-0.5, 0, -2.625, -0.375],
        ),
        (  # three columns tie, and a drop computed just above t was lost
            [[4, -2, 2, 2], [-2, 4, 0, 0], [2, 0, 4, 0], [2, 0, 0, 4]],
            [-3, 3, -3, -1],
            [0, 0.625, -0.625, -0.125],
        ),
    ],
    ids=["moving-in", "drop-above-t"],
)
def test_ties_at_the_bound_are_decided_by_their_direction(backend, H, q, expected):
    """Well-conditioned problems whose ties a second hostile review found decided by
    rounding: a tied column joins (or an active one at 0 drops) at t only if it moves
    out (its |u| falls); the point at t = 0.5 is the Lasso's, by its conditions."""
    H, q = np.array(H, dtype=float), np.array(q, dtype=float)
    scales = np.array([2.0, 1.0, 0.75, 0.5])
    path = get_backend(backend).lasso_path(H, q, np.ones(4), scales)
    np.testing.assert_allclose(path[-1], expected, rtol=0, atol=1e-14)
    assert _lasso_conditions(H, q, np.ones(4), scales, path) < 1e-14


def test_a_tie_of_a_factorial_design_is_scikit_learns_lasso(compiled_backend):
    """A 2^3 factorial design (orthogonal columns), y = x0 + x1: the two effects tie
    all the way down; Lasso(alpha=0.5) keeps both, as scikit-learn's."""
    linear_model = pytest.importorskip("sklearn.linear_model")
    X = np.array(list(itertools.product([-1.0, 1.0], repeat=3)))
    y = X[:, 0] + X[:, 1]
    for alpha in (0.5, 0.2):
        expected = linear_model.Lasso(alpha=alpha, tol=1e-12).fit(X, y)
        result = fastgd.fit(X, y, penalty="l1", alpha=alpha, backend=compiled_backend)
        assert result.converged
        np.testing.assert_allclose(result.coef, expected.coef_, rtol=1e-12, atol=1e-15)


def test_a_crossing_just_above_t_still_joins():
    """Two columns 1e-6 apart (cond(H) near 1e12, found by a hostile review): a
    column whose crossing rounding put just above the current t was left out for
    good. The compiled path's conditions hold at every point."""
    rng = np.random.default_rng(1)
    for _ in range(17):  # (the review's generator; its 17th problem)
        n, d = rng.integers(10, 50), rng.integers(3, 12)
        X, y = rng.standard_normal((n, d)), rng.standard_normal(n)
        for _ in range(rng.integers(1, 3)):
            i, j = rng.choice(d, 2, replace=False)
            X[:, j] = X[:, i] + 10.0 ** rng.uniform(-6, -3) * rng.standard_normal(n)
    H, q, weights = X.T @ X / n, X.T @ y / n, np.ones(d)
    scales = np.geomspace(np.abs(q).max(), np.abs(q).max() * 1e-9, 40)
    for name in COMPILED_BACKENDS:
        path = get_backend(name).lasso_path(H, q, weights, scales)
        assert _lasso_conditions(H, q, weights, scales, path) < 1e-12, name


@pytest.mark.parametrize(
    "case",
    ["drops", "copied column", "zero column", "weights", "zero q", "no coefficients"],
)
def test_the_compiled_homotopy_is_the_references(case):
    """Both kernels' lasso_path against _reference.lasso_path (the same events above
    every scale, the points to rounding), and bit for bit against each other."""
    H, q, weights, scales = _homotopy_case(case)
    expected_events = np.zeros(len(scales), dtype=np.int64)
    expected = _reference.lasso_path(H, q, weights, scales, expected_events)
    if case == "drops":  # (the case holds what it says)
        assert np.sum(np.diff((expected != 0).sum(axis=1)) < 0) == 2
    runs = []
    for name in COMPILED_BACKENDS:
        events = np.full(len(scales), -1, dtype=np.int64)
        path = get_backend(name).lasso_path(H, q, weights, scales, events)
        np.testing.assert_array_equal(events, expected_events)
        np.testing.assert_array_equal(path == 0, expected == 0)
        scale = np.max(np.abs(expected), initial=0.0)
        np.testing.assert_allclose(path, expected, rtol=0, atol=1e-13 * scale)
        runs.append(path)
    for path in runs[1:]:
        np.testing.assert_array_equal(path, runs[0])


def test_the_lasso_path_of_weighted_penalties_solves_each_of_its_problems(backend):
    """Per-coefficient weights (a standardized problem's l1 / s_j): each point is
    optimal by the Lasso's conditions, |q - H u| <= t w where u = 0 and q - H u = t w
    sign(u) where not."""
    rng = np.random.default_rng(1)
    D = 8
    A = rng.normal(size=(40, D))
    H, q = A.T @ A / 40, A.T @ rng.normal(size=40) / 40
    weights = rng.uniform(0.5, 2.0, size=D)
    scales = np.geomspace(np.max(np.abs(q) / weights) * 1.5, 1e-4, 25)
    for t, u in zip(scales, get_backend(backend).lasso_path(H, q, weights, scales)):
        c = q - H @ u
        zero = u == 0
        assert np.all(np.abs(c[zero]) <= t * weights[zero] * (1 + 1e-12))
        np.testing.assert_allclose(c[~zero], t * weights[~zero] * np.sign(u[~zero]), atol=1e-12)
