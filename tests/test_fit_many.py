"""fastgd.fit_many: many independent problems in one call, held to truth.

Oracles: stacks of problems with exact least-squares solutions (fastgd/bench/exact.py:
chosen singular values, residuals orthogonal to [X, 1]) at every scale of y, and
fastgd.fit itself on each problem (fit_many promises fit's result, to tol). Both
compiled backends run the batched kernel; the NumPy backend, and options the kernel
does not take, run fit problem by problem.
"""

import warnings

import numpy as np
import pytest
from test_direct import assert_within_bound
from test_exact import EXTREME_COLUMNS, extreme_column_scale, scaled_error, timestamps

import fastgd
from fastgd.bench.exact import exact_least_squares, exact_problem

from conftest import ALL_BACKENDS, COMPILED_BACKENDS, lstsq

# (n_targets, fit_intercept, weighted)
VARIANTS = ((None, True, False), (3, True, False), (None, False, False), (2, True, True))
VARIANT_IDS = ["K1-b", "K3-b", "K1-nob", "K2-b-w"]


def exact_stack(n_problems, n_samples, n_features, conds, variant, y_scale=1.0, column_scale=1.0):
    """G exact problems of the same shape, cond cycling through ``conds``."""
    n_targets, fit_intercept, weighted = variant
    problems = [
        exact_problem(
            n_samples,
            n_features,
            conds[g % len(conds)],
            r2=0.9,
            y_scale=y_scale,
            n_targets=n_targets,
            fit_intercept=fit_intercept,
            weighted=weighted,
            seed=g,
            column_scale=column_scale,
        )
        for g in range(n_problems)
    ]
    X = np.stack([p.X for p in problems])
    y = np.stack([p.y for p in problems])
    weights = np.stack([p.sample_weight for p in problems]) if weighted else None
    return problems, X, y, weights


def stored_solution(problem):
    """(coef, intercept) of the problem's stored data, exactly (rational arithmetic,
    rounded once): its construction is exact only to about cond * eps."""
    A = (
        np.hstack([problem.X, np.ones((len(problem.X), 1))])
        if problem.fit_intercept
        else problem.X
    )
    theta = np.atleast_2d(exact_least_squares(A, problem.y, problem.sample_weight).T)
    if problem.fit_intercept:
        return theta[:, :-1], theta[:, -1]
    return theta, np.zeros(len(theta))


def assert_certified(result, g, problem):
    """converged=True is a certificate on the problem's own data: every coefficient
    within error_bound of the exact solution of the stored data (_direct.py's meaning)."""
    coef, intercept = stored_solution(problem)
    assert_within_bound(
        result.coef[g],
        result.intercept[g],
        coef,
        intercept,
        problem.X,
        problem.sample_weight,
        problem.fit_intercept,
        result.error_bound[g],
    )


def fit_each(X, y, sample_weight=None, **options):
    """The oracle of fit_many: fastgd.fit on every problem of a stacked X."""
    results = [
        fastgd.fit(
            X[g],
            y[g],
            sample_weight=None if sample_weight is None else sample_weight[g],
            **options,
        )
        for g in range(len(X))
    ]
    return (
        np.stack([r.coef for r in results]),
        np.stack([r.intercept for r in results]),
        np.array([r.converged for r in results]),
    )


@pytest.mark.parametrize("variant", VARIANTS, ids=VARIANT_IDS)
@pytest.mark.parametrize(
    "y_scale", [1e-300, 1e-170, 1e-100, 1.0, 1e100], ids=lambda s: f"y{s:.0e}"
)
@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_every_problem_reaches_its_exact_solution(backend, y_scale, variant):
    problems, X, y, weights = exact_stack(12, 40, 5, (1e1, 1e3, 1e6), variant, y_scale)
    result = fastgd.fit_many(
        X, y, sample_weight=weights, fit_intercept=variant[1], tol=1e-10, backend=backend
    )
    assert result.converged.all() and result.backend == backend
    assert np.all(result.error_bound <= 1e-10)
    for g, problem in enumerate(problems):
        assert problem.relative_error(result.coef[g], result.intercept[g]) < 1e-7, g
        assert_certified(result, g, problem)


@pytest.mark.parametrize("columns", EXTREME_COLUMNS, ids=lambda c: f"{c[0]}{c[1]:.0e}")
@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_features_at_the_edges_of_float64_reach_the_exact_solution(backend, columns):
    """Beyond the range where the kernel's plain products are safe, a problem is
    refitted by fit (its factor and coordinates scaled): right, and certified."""
    scale = extreme_column_scale(*columns, 5)
    problems, X, y, _ = exact_stack(6, 40, 5, (1e1, 1e3), VARIANTS[0], column_scale=scale)
    result = fastgd.fit_many(X, y, tol=1e-10, backend=backend)
    assert result.converged.all()
    for g, problem in enumerate(problems):
        assert scaled_error(problem, result.coef[g], result.intercept[g], scale) < 1e-7, g


@pytest.mark.parametrize("value", [0.0, 1.0, 3.7, 0.1, -2.5e6])
@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_a_constant_column_with_an_intercept_gets_coefficient_zero(backend, value):
    problems, X, y, weights = exact_stack(8, 40, 4, (1e1, 1e3), VARIANTS[3])
    X = np.insert(X, 1, value, axis=2)
    result = fastgd.fit_many(X, y, sample_weight=weights, tol=1e-10, backend=backend)
    assert result.converged.all() and np.all(result.coef[:, :, 1] == 0.0)
    for g, problem in enumerate(problems):
        assert (
            problem.relative_error(np.delete(result.coef[g], 1, axis=1), result.intercept[g])
            < 1e-7
        ), g


@pytest.mark.parametrize("backend", COMPILED_BACKENDS)
def test_a_column_that_varies_little_beside_its_mean_is_fitted(backend):
    X, y = zip(*(timestamps(2000, seed=g) for g in range(4)))
    X, y = np.stack(X), np.stack(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fastgd.ConvergenceWarning)
        result = fastgd.fit_many(X, y, backend=backend)
    for g in range(4):
        centred = X[g, :, 0] - X[g, :, 0].mean()
        slope = (centred @ (y[g] - y[g].mean())) / (centred @ centred)
        assert abs(result.coef[g, 0] - slope) <= 1e-4 * abs(slope), g


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize(
    "options",
    [{}, {"penalty": "l2", "alpha": 0.3}, {"fit_intercept": False}, {"max_iter": 3, "tol": 0.0}],
    ids=["default", "l2", "no-intercept", "max_iter3"],
)
@pytest.mark.parametrize("backend", COMPILED_BACKENDS)
def test_batched_kernel_matches_fit_on_each_problem(backend, options, dtype):
    rng = np.random.default_rng(1)
    X = (rng.standard_normal((30, 25, 4)) * [1.0, 10.0, 0.1, 3.0] + 2.0).astype(dtype)
    y = (
        np.einsum("gnd,gd->gn", X, rng.standard_normal((30, 4))) + rng.standard_normal((30, 25))
    ).astype(dtype)
    # (float32 coefficients are certified to about 6e-8 at best: their own rounding)
    options = {"tol": 1e-10 if dtype == np.float64 else 1e-6, **options}
    result = fastgd.fit_many(X, y, backend=backend, **options)
    coef, intercept, converged = fit_each(X, y, backend=backend, **options)
    assert result.coef.dtype == dtype and result.coef.shape == (30, 4)
    assert result.intercept.shape == (30,)
    np.testing.assert_array_equal(result.converged, converged)
    # The same exact solution, from the normal equations instead of fit's QR factor,
    # both refined with the rows' gradient: the same coefficients up to rounding
    rtol = 1e-12 if dtype == np.float64 else 2e-7
    scale = np.abs(coef).max()
    np.testing.assert_allclose(result.coef, coef, rtol=rtol, atol=rtol * scale)
    np.testing.assert_allclose(
        result.intercept, intercept, rtol=rtol, atol=rtol * np.abs(intercept).max()
    )


def test_backends_agree_and_threads_do_not_change_a_bit():
    _, X, y, weights = exact_stack(300, 30, 6, (1e2, 1e4), VARIANTS[3])
    results = {
        (backend, threads): fastgd.fit_many(
            X, y, sample_weight=weights, tol=1e-12, backend=backend, n_threads=threads
        )
        for backend in COMPILED_BACKENDS
        for threads in (1, 2)
    }
    for backend in COMPILED_BACKENDS:
        one, two = results[backend, 1], results[backend, 2]
        np.testing.assert_array_equal(one.coef, two.coef)
        np.testing.assert_array_equal(one.intercept, two.intercept)
        np.testing.assert_array_equal(one.n_iter, two.n_iter)
    first, *others = [results[backend, 1] for backend in COMPILED_BACKENDS]
    for other in others:
        # (the two backends round differently: they agree to the tol they both met)
        np.testing.assert_allclose(other.coef, first.coef, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_groups_of_rows_match_the_stacked_problems(backend):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((7, 20, 3))
    y = np.einsum("gnd,gd->gn", X, rng.standard_normal((7, 3))) + rng.standard_normal((7, 20))
    stacked = fastgd.fit_many(X, y, backend=backend)
    # the same rows in a random order, labelled by strings, with X in Fortran order
    labels = np.repeat(np.array([f"site-{g}" for g in range(7)]), 20)
    shuffled = rng.permutation(140)
    rows_X, rows_y = X.reshape(140, 3)[shuffled], y.reshape(140)[shuffled]
    by_label = fastgd.fit_many(
        np.asfortranarray(rows_X), rows_y, groups=labels[shuffled], backend=backend
    )
    assert list(by_label.groups) == [f"site-{g}" for g in range(7)]
    np.testing.assert_allclose(by_label.coef, stacked.coef, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(by_label.intercept, stacked.intercept, rtol=1e-9, atol=1e-12)


def test_groups_of_unequal_sizes_match_lstsq():
    rng = np.random.default_rng(3)
    sizes = [1, 2, 9, 130, 300, 7]  # one row, fewer rows than columns, several panels
    labels = np.repeat(np.arange(len(sizes)) * 10, sizes)
    X = rng.standard_normal((sum(sizes), 4))
    y = X @ [1.0, -2.0, 3.0, 0.5] + 4.0 + 0.01 * rng.standard_normal(len(X))
    result = fastgd.fit_many(X, y, groups=labels, tol=1e-12)
    assert result.converged.all()
    np.testing.assert_array_equal(result.groups, np.arange(len(sizes)) * 10)
    for g, label in enumerate(result.groups):
        rows = labels == label
        if rows.sum() > 5:  # a unique least-squares solution
            coef, intercept = lstsq(X[rows], y[rows])
            np.testing.assert_allclose(result.coef[g], coef, rtol=1e-8, atol=1e-10)
            np.testing.assert_allclose(result.intercept[g], intercept, rtol=1e-8)
        else:  # what fit says, to tol
            one = fastgd.fit(X[rows], y[rows], tol=1e-12)
            np.testing.assert_allclose(result.coef[g], one.coef, atol=1e-8)


@pytest.mark.parametrize("backend", COMPILED_BACKENDS)
def test_an_ill_conditioned_problem_is_refitted_and_right(backend, monkeypatch):
    # cond(X.T X) = 1e13: the normal equations cannot certify it; fit's QR factor can.
    problems, X, y, _ = exact_stack(4, 200, 5, (1e2, 1e13), VARIANTS[0])
    refitted = []
    fit = fastgd._many.fit
    monkeypatch.setattr(
        fastgd._many, "fit", lambda X, *a, **k: refitted.append(X) or fit(X, *a, **k)
    )
    result = fastgd.fit_many(X, y, tol=1e-8, backend=backend)
    assert result.converged.all() and len(refitted) == 2  # the two of cond 1e13
    for g, problem in enumerate(problems):
        assert_certified(result, g, problem)


@pytest.mark.parametrize("backend", COMPILED_BACKENDS)
def test_textbook_polynomials_are_exact_or_refitted_never_wrong(backend):
    """The issue's polynomial (every coefficient 1) and NIST's Wampler1: the normal
    equations cannot certify them (the old batched CG returned no correct digit,
    marked converged); fit's direct solve, to which they go, solves them exactly."""
    from fastgd.bench.exact import wampler1

    x = np.arange(21.0)
    X = np.c_[x, x**2, x**3, x**4, x**5]
    y = 1 + X.sum(axis=1)
    wampler = wampler1()
    result = fastgd.fit_many(np.stack([X, wampler.X]), np.stack([y, wampler.y]), backend=backend)
    assert result.converged.all()
    np.testing.assert_array_equal(result.coef, 1.0)
    np.testing.assert_array_equal(result.intercept, 1.0)


@pytest.mark.parametrize(
    "options",
    [
        {"lr": 0.05, "max_iter": 5000, "tol": 1e-8},
        {"penalty": "l1", "alpha": 0.05},
        {"batch_size": 8, "random_state": 0, "tol": 0.0, "max_iter": 5},
    ],
    ids=["float-lr", "l1", "minibatch"],
)
def test_other_options_fit_each_problem_with_fit(options):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((5, 40, 3))
    y = np.einsum("gnd,gd->gn", X, rng.standard_normal((5, 3)))
    result = fastgd.fit_many(X, y, **options)
    coef, intercept, converged = fit_each(X, y, **options)
    np.testing.assert_array_equal(result.coef, coef)
    np.testing.assert_array_equal(result.intercept, intercept)
    np.testing.assert_array_equal(result.converged, converged)


def test_loss_is_the_objective_at_the_coefficients():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((6, 30, 3))
    y = rng.standard_normal((6, 30, 2))
    for options in ({}, {"penalty": "l2", "alpha": 0.5}):
        result = fastgd.fit_many(X, y, **options)
        assert result.coef.shape == (6, 2, 3) and result.intercept.shape == (6, 2)
        for g in range(6):
            R = X[g] @ result.coef[g].T + result.intercept[g] - y[g]
            expected = (R**2).sum() / 60 + 0.5 * options.get("alpha", 0) * (
                result.coef[g] ** 2
            ).sum()
            np.testing.assert_allclose(result.loss[g], expected, rtol=1e-12)


def test_the_callers_arrays_are_not_written():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((4, 10, 2))
    y = rng.standard_normal((4, 10))
    weights = rng.uniform(0.5, 1.0, (4, 10))
    copies = X.copy(), y.copy(), weights.copy()
    X.flags.writeable = y.flags.writeable = weights.flags.writeable = False
    fastgd.fit_many(X, y, sample_weight=weights)
    for array, copy in zip((X, y, weights), copies):
        np.testing.assert_array_equal(array, copy)


def test_unconverged_problems_warn_once_and_say_which():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((5, 30, 6)) * np.logspace(0, 3, 6)
    y = rng.standard_normal((5, 30))
    # (a bound below float64's rounding of the coefficients: never met)
    with pytest.warns(fastgd.ConvergenceWarning, match=r"5 of 5 problems .*\(groups 0, 1, "):
        result = fastgd.fit_many(X, y, max_iter=1, tol=1e-20)
    assert not result.converged.any() and (result.n_iter == 1).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fastgd.fit_many(X, y, max_iter=1, tol=0.0)  # tol=0 never warns


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_a_problem_with_nan_is_named_at_its_index_in_the_callers_array(backend):
    X = np.random.default_rng(8).standard_normal((3, 10, 2))
    y = np.ones((3, 10))
    X[1, 4, 0] = np.nan
    with pytest.raises(
        ValueError,
        match=r"problem 1 of fit_many: X contains NaN at index "
        r"\(1, 4, 0\)",
    ):
        fastgd.fit_many(X, y, backend=backend)
    # with groups, the row of the 2-D X (not the row within its problem)
    X2, y2 = X.reshape(30, 2).copy(), np.ones((30, 2))
    X2[14] = 0.0  # (X[1, 4]: its NaN would be named first)
    y2[17, 1] = -np.inf
    labels = np.arange(30) % 3  # row 17 is row 5 of problem 2
    with pytest.raises(
        ValueError,
        match=r"problem 2 of fit_many: y contains inf at index "
        r"\(17, 1\)",
    ):
        fastgd.fit_many(X2, y2, groups=labels, backend=backend)


def test_float32_below_its_limit_is_reported_not_refitted(monkeypatch):
    """float32 coefficients cannot meet tol=1e-8 (their own rounding is 6e-8): the
    kernel's float64 solutions, which meet it, are kept (fit would round them the
    same) and the warning says why, not "increase max_iter"."""
    problems, X, y, _ = exact_stack(20, 50, 5, (1e1, 1e3), VARIANTS[0])
    X32, y32 = X.astype(np.float32), y.astype(np.float32)
    calls = []
    fit = fastgd._many.fit
    monkeypatch.setattr(fastgd._many, "fit", lambda *a, **k: calls.append(1) or fit(*a, **k))
    with pytest.warns(fastgd.ConvergenceWarning, match="rounded to float32"):
        result = fastgd.fit_many(X32, y32, tol=1e-8)
    assert not result.converged.any() and not calls
    for g, problem in enumerate(problems):  # still float32's best
        assert problem.relative_error(result.coef[g], result.intercept[g]) < 1e-5, g


def test_a_warning_of_two_causes_names_both():
    """float32 problems at float32's limit beside problems that cannot be certified
    (two equal columns: fastgd.fit refits them, and says why)."""
    easy, X, y, _ = exact_stack(3, 100, 5, (1.0,), VARIANTS[0])
    hard, X2, y2, _ = exact_stack(3, 100, 5, (1e4,), VARIANTS[0])
    X2[:, :, 4] = X2[:, :, 3]
    X = np.concatenate([X, X2]).astype(np.float32)
    y = np.concatenate([y, y2]).astype(np.float32)
    with pytest.warns(fastgd.ConvergenceWarning) as caught:
        result = fastgd.fit_many(X, y, tol=1e-9, max_iter=3)
    message = str(caught[0].message)
    assert not result.converged.any()
    assert "rounded to float32" in message and "The other" in message, message


def test_a_huge_max_iter_is_no_limit():
    """max_iter=10**20 (a user's "no limit") overflowed the kernel's C integer."""
    X = np.random.default_rng(4).standard_normal((3, 30, 2))
    result = fastgd.fit_many(X, X[:, :, 0] + 1, max_iter=10**20)
    assert result.converged.all()


def test_the_warning_says_what_fit_said():
    X = np.random.default_rng(3).standard_normal((4, 30, 3))
    with pytest.warns(
        fastgd.ConvergenceWarning,
        match="fastgd.fit said of problem 0: fastgd.fit did not converge",
    ):
        fastgd.fit_many(X, X[:, :, 0] + 1, lr=0.01, max_iter=2, tol=1e-9)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda X, y: fastgd.fit_many(X[0], y[0]), ValueError, "3-D array .* groups="),
        (lambda X, y: fastgd.fit_many(X, y[:, :5]), ValueError, r"y must have shape \(3, 10\)"),
        (
            lambda X, y: fastgd.fit_many(X[0], y[0], groups=[1, 2]),
            ValueError,
            r"groups must have shape \(10,\)",
        ),
        (
            lambda X, y: fastgd.fit_many(X, y, sample_weight=np.ones(10)),
            ValueError,
            r"sample_weight must have shape \(3, 10\)",
        ),
        (
            lambda X, y: fastgd.fit_many(X[0], y[0], groups=[0.0] * 9 + [np.nan]),
            ValueError,
            "groups contains NaN",
        ),
        (
            lambda X, y: fastgd.fit_many(
                X, y, sample_weight=np.r_[np.ones((2, 10)), np.zeros((1, 10))]
            ),
            ValueError,
            "problem 2 of fit_many: sample_weight must have a positive sum",
        ),
        (lambda X, y: fastgd.fit_many(X, y, callback=print), TypeError, "callback"),
        (lambda X, y: fastgd.fit_many(X, y, coef_init=np.zeros(2)), TypeError, "coef_init"),
        (
            lambda X, y: fastgd.fit_many(X, y, learning_rate=0.1),
            TypeError,
            r"unexpected keyword arguments \['learning_rate'\]",
        ),
        (lambda X, y: fastgd.fit_many(X, y, tol=-1), ValueError, "tol"),
        (lambda X, y: fastgd.fit_many(X, None), TypeError, "y is None"),
        (lambda X, y: fastgd.fit_many(X[:, :0], y[:, :0]), ValueError, "at least one"),
    ],
)
def test_bad_arguments_are_named(call, error, match):
    X = np.zeros((3, 10, 2))
    y = np.zeros((3, 10))
    with pytest.raises(error, match=match):
        call(X, y)


def test_a_strided_stack_is_copied_with_a_warning():
    X = np.random.default_rng(9).standard_normal((10, 4, 3)).transpose(1, 0, 2)
    y = np.ones((4, 10))
    with pytest.warns(fastgd.CopyWarning, match="C-contiguous"):
        result = fastgd.fit_many(X, y)
    assert result.coef.shape == (4, 3)


@pytest.mark.parametrize(
    "labels",
    [
        np.array([1.0, np.nan, 2.0, 1.0] * 5, dtype=object),
        np.array([1, None, 2, 1] * 5, dtype=object),
        np.array(["2026-01-01", "NaT", "2026-01-02", "2026-01-01"] * 5, dtype="datetime64[D]"),
    ],
    ids=["object-nan", "object-none", "nat"],
)
def test_missing_group_labels_are_refused(labels):
    X = np.random.default_rng(10).standard_normal((20, 2))
    with pytest.raises(ValueError, match="groups contains NaN"):
        fastgd.fit_many(X, np.ones(20), groups=labels)


@pytest.mark.parametrize("backend", COMPILED_BACKENDS)
def test_huge_coefficients_have_a_finite_loss(backend):
    # |coef| ~ 1e160: coef**2 overflows, and 0 * inf made the unpenalized loss NaN
    rng = np.random.default_rng(11)
    X = (rng.standard_normal((2, 20, 3)) + 1) * 1e-100
    y = np.einsum("gnd,gd->gn", X * 1e100, rng.standard_normal((2, 3))) * 1e60 + 1e60
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = fastgd.fit_many(X, y, backend=backend)
    assert np.isfinite(result.loss).all() and result.converged.all()


def test_the_loop_path_on_fortran_rows_copies_nothing_of_the_callers():
    X = np.asfortranarray(np.random.default_rng(12).standard_normal((40, 3)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no CopyWarning per problem
        fastgd.fit_many(X, X.sum(axis=1), groups=np.repeat(np.arange(4), 10), lr=0.1)


def test_segments_cover_every_problem_once_in_order():
    from fastgd import _many

    sizes = np.random.default_rng(13).integers(1, 3000, 400)
    labels = np.repeat(np.arange(400), sizes)
    problems = _many.Problems.of(np.zeros((len(labels), 6)), np.zeros(len(labels)), labels, None)
    segments = _many._segments(problems.data, 1000)
    assert len(segments) > 1 and segments[0][0] == 0 and segments[-1][1] == 400
    assert all(a[1] == b[0] for a, b in zip(segments, segments[1:]))


def test_a_problem_whose_coefficients_are_not_unique_is_named():
    """A rank-deficient group: the minimum-norm coefficients (as fit's), not certified,
    and the warning names the group and the dependent columns, as fit does."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5, 30, 3))
    X[2, :, 2] = 2 * X[2, :, 0]
    y = rng.standard_normal((5, 30))
    with pytest.warns(
        fastgd.ConvergenceWarning,
        match=r"1 of 5 problems are not certified .*\(groups 2;.*columns 0, 2 "
        r"of X are linearly dependent.*minimum-norm",
    ):
        result = fastgd.fit_many(X, y)
    assert result.converged.tolist() == [True, True, False, True, True]
    assert result.error_bound[2] == np.inf
    with pytest.warns(fastgd.ConvergenceWarning):
        alone = fastgd.fit(X[2], y[2])
    np.testing.assert_array_equal(result.coef[2], alone.coef)
