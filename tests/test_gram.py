"""The Gram solver: the streaming solver's iterates from one pass over X."""

import functools

import numpy as np
import pytest

import fastgd
from fastgd import _reference
from fastgd._backends import get_backend
from fastgd._gram import MAX_GRAM_SIZE, choose_solver, compressed_problem

from conftest import COMPILED_BACKENDS, lstsq, make_problem


def _fit_both(X, y, **options):
    stream = fastgd.fit(X, y, solver="stream", **options)
    gram = fastgd.fit(X, y, solver="gram", **options)
    assert (stream.solver, gram.solver) == ("stream", "gram")
    return stream, gram


def augmented_data(shape, dtype, layout, weighted):
    """X (columns 1e-3 to 1e3 apart), Y (1e5), b and the weights (or None) of a
    one-pass factor's test, the same for the same shape."""
    n, d, k = shape
    rng = np.random.default_rng(n + d)
    X = np.asarray(
        rng.standard_normal((n, d)) * 10.0 ** rng.uniform(-3, 3, d), dtype=dtype, order=layout
    )
    Y = (rng.standard_normal((n, k)) * 1e5).astype(dtype)
    b = rng.standard_normal(k).astype(dtype)
    weights = rng.uniform(0, 3, n).astype(dtype) if weighted else None
    return X, Y, b, weights


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("n_targets", [None, 3])
def test_gram_iterates_equal_streaming(compiled_backend, layout, fit_intercept, n_targets):
    X, y, _, _ = make_problem(5000, 12, n_targets, layout=layout, seed=1)
    X[:, 3] = 10 + 3 * X[:, 3]  # off-centre and wider: a realistic conditioning
    A = np.hstack([X, np.ones((len(X), 1))]) if fit_intercept else X
    lr = 1.0 / np.linalg.eigvalsh(A.T @ A / len(A))[-1]
    for max_iter in (1, 7, 1000):
        stream, gram = _fit_both(
            X,
            y,
            lr=lr,
            max_iter=max_iter,
            tol=0,
            fit_intercept=fit_intercept,
            backend=compiled_backend,
        )
        np.testing.assert_allclose(gram.coef, stream.coef, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(gram.intercept, stream.intercept, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(gram.loss_history, stream.loss_history, rtol=1e-10)


def test_gram_with_starting_point_and_fixed_intercept(backend):
    X, y, _, _ = make_problem(3000, 5, 2, seed=2)
    coef0 = np.full((2, 5), 0.3)
    options = dict(lr=0.2, max_iter=50, tol=0, backend=backend, coef_init=coef0)
    for fit_intercept, intercept0 in ((True, [1.0, -1.0]), (False, [0.5, 2.0])):
        stream, gram = _fit_both(
            X, y, fit_intercept=fit_intercept, intercept_init=intercept0, **options
        )
        np.testing.assert_allclose(gram.coef, stream.coef, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(gram.intercept, stream.intercept, rtol=1e-10, atol=1e-12)
        if not fit_intercept:
            np.testing.assert_array_equal(gram.intercept, intercept0)


def test_gram_converges_to_lstsq_and_stops_on_tol(backend):
    X, y, _, _ = make_problem(20_000, 20, seed=3)
    result = fastgd.fit(X, y, solver="gram", tol=1e-10, max_iter=100_000, backend=backend)
    assert result.converged
    coef, intercept = lstsq(X, y)
    np.testing.assert_allclose(result.coef, coef, atol=1e-8)
    assert result.intercept == pytest.approx(intercept, abs=1e-8)


def test_gram_float32_accuracy_on_ill_scaled_data(compiled_backend):
    """The Gram matrix is accumulated in float64 whatever X's dtype: on float32 data
    with an off-centre column (mean 10 standard deviations) and scales 16x apart
    (condition number about 3e3), the coefficients reach the float64 least-squares
    solution of the same float32 data to 1e-5. They are returned in float32."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((200_000, 4)) * np.array([0.5, 4.0, 0.25, 1.0])
    X[:, 0] += 5.0
    y = X @ np.array([0.5, -0.1, 3.0, 1.0]) + 2.0 + 0.01 * rng.standard_normal(len(X))
    X32, y32 = X.astype(np.float32), y.astype(np.float32)
    # tol=1e-7: about what float32 arithmetic can certify on this data (the gradient
    # at the returned point is computed by the float32 kernels).
    result = fastgd.fit(
        X32,
        y32,
        solver="gram",
        method="cg",
        tol=1e-7,
        max_iter=1_000_000,
        backend=compiled_backend,
    )
    assert result.converged and result.coef.dtype == np.float32
    coef, intercept = lstsq(X32, y32)
    np.testing.assert_allclose(result.coef, coef, rtol=1e-5)
    assert result.intercept == pytest.approx(intercept, rel=1e-5)


def test_gram_handles_rank_deficient_data(backend):
    """A constant feature beside the intercept: Z.T Z is singular, its square root
    still exists and the iterates still match streaming."""
    X, y, _, _ = make_problem(2000, 4, seed=5)
    X[:, 1] = 2.0
    stream, gram = _fit_both(X, y, lr=0.05, max_iter=200, tol=0, backend=backend)
    np.testing.assert_allclose(gram.coef, stream.coef, rtol=1e-9, atol=1e-10)


def _compress(backend, X, Y, b, fit_intercept, weights):
    x_is_f = X.flags.f_contiguous and not X.flags.c_contiguous
    return get_backend(backend).compress(X, Y, b, fit_intercept, weights, x_is_f)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(1, 3, 1), (5, 8, 2), (300, 7, 1), (5000, 12, 3)])
def test_compress_factors_the_augmented_gram_matrix(
    backend, dtype, layout, fit_intercept, weighted, shape
):
    """R.T @ R = Z.T diag(s) Z, Z = [X, 1, Y] (or [X, Y - b]), to float64 rounding
    relative to the column norms of Z, with R upper triangular; and every backend
    returns the reference's R once the row signs are fixed."""
    n, d, k = shape
    X, Y, b, weights = augmented_data(shape, dtype, layout, weighted)
    R = _compress(backend, X, Y, b, fit_intercept, weights)
    m = d + fit_intercept + k
    assert R.shape == (m, m) and R.dtype == np.float64
    np.testing.assert_array_equal(np.tril(R, -1), 0)
    Z = _reference.augmented_rows(X, Y, b.astype(np.float64), weights, fit_intercept, slice(None))
    scale = np.sqrt(np.sum(Z * Z, axis=0)) + 1e-300
    np.testing.assert_allclose(
        (R.T @ R) / np.outer(scale, scale), (Z.T @ Z) / np.outer(scale, scale), atol=1e-13
    )
    signs = np.where(np.diagonal(R) < 0, -1.0, 1.0)[:, None]
    reference = _reference.compress(X, Y, b.astype(np.float64), weights, fit_intercept)
    ref_signs = np.where(np.diagonal(reference) < 0, -1.0, 1.0)[:, None]
    if np.linalg.matrix_rank(Z) == m:  # a full-rank factor is unique up to row signs
        np.testing.assert_allclose(signs * R / scale, ref_signs * reference / scale, atol=1e-12)


def test_compress_reflects_a_column_of_subnormal_values(backend):
    """A column whose entries below the diagonal are subnormal (the rounding residues
    that a merge of factors under rows of zeros leaves, an empty block's factor among
    them): 1 / (alpha - beta) overflowed, and the factor was NaN."""
    X = np.array([[3e-310], [4e-310]])
    R = get_backend(backend).compress(X, np.ones((2, 1)), np.zeros(1), False, None, False)
    assert np.isfinite(R).all()
    assert abs(R[0, 0]) == pytest.approx(5e-310, rel=1e-9)
    # a factor merged under zero rows: the same Gram matrix, finite
    rng = np.random.default_rng(0)
    for seed in range(8):
        X, y = rng.normal(size=(300, 30)), rng.normal(size=(300, 1))
        part = get_backend(backend).compress(X, y, np.zeros(1), True, None, False)
        stacked = np.vstack([np.zeros_like(part), part])
        merged = get_backend(backend).compress(
            np.ascontiguousarray(stacked[:, :-1]), stacked[:, -1:], np.zeros(1), False, None, False
        )
        assert np.isfinite(merged).all(), seed
        np.testing.assert_allclose(merged.T @ merged, part.T @ part, atol=1e-9 * 300)


def test_compress_is_the_same_for_every_thread_count(compiled_backend, layout):
    X, y, _, _ = make_problem(200_000, 9, 2, layout=layout, seed=8)
    backend = get_backend(compiled_backend)
    x_is_f = layout == "F"
    results = [
        backend.compress(X, y, np.zeros(2), True, None, x_is_f, n_threads)
        for n_threads in (1, 2, 2, None)
    ]
    for R in results[1:]:
        np.testing.assert_array_equal(R, results[0])


def test_gram_problem_has_the_same_loss_and_gradient():
    X, y, _, _ = make_problem(1000, 6, 2, seed=6)
    R = _reference.compress(X, y, np.zeros(2), None, fit_intercept=True)
    Xs, Ys = compressed_problem(R, len(X), 2)
    assert Xs.shape == (9, 7) and Ys.shape == (9, 2)
    W = np.random.default_rng(7).standard_normal((2, 6))
    b = np.array([0.3, -0.2])
    g_W, g_b, loss = fastgd.gradient(X, y, W, b, backend="numpy")
    gs_W, _, loss_s = fastgd.gradient(Xs, Ys, np.hstack([W, b[:, None]]), 0.0, backend="numpy")
    np.testing.assert_allclose(gs_W[:, :6], g_W, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(gs_W[:, 6], g_b, rtol=1e-11, atol=1e-12)
    assert loss_s == pytest.approx(loss, rel=1e-11)


@pytest.mark.parametrize("y_scale", [1e-100, 1e-6, 1.0, 1e6, 1e9, 1e100])
def test_gram_solver_is_exact_whatever_the_scale_of_y(backend, y_scale):
    """The issue's case: y = (X w + 3 + noise) * scale. The solver's coefficients are
    those of lstsq to 1e-9 at every scale (the eigendecomposition of the Gram matrix
    lost 5e-5 at 1e6 and everything at 1e9)."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((5000, 10))
    y = (X @ rng.standard_normal(10) + 3 + 0.1 * rng.standard_normal(5000)) * y_scale
    coef, intercept = lstsq(X, y)
    result = fastgd.fit(X, y, solver="gram", tol=1e-10, max_iter=20_000, backend=backend)
    assert result.converged
    error = np.max(np.abs(np.r_[result.coef - coef, result.intercept - intercept]))
    assert error <= 1e-9 * np.max(np.abs(np.r_[coef, intercept]))


def test_auto_solver_rule():
    assert choose_solver(4, 2, 1, 1000) == "stream"  # nothing to compress: N <= D + 1 + K
    assert choose_solver(10**6, 32, 1, 1000) == "gram"  # the "Gram" case
    assert choose_solver(10**6, 32, 1, 1) == "stream"  # one pass is one pass
    assert choose_solver(10**6, MAX_GRAM_SIZE, 1, 10**6) == "stream"  # G too large
    X, y, _, _ = make_problem(50_000, 8)
    assert fastgd.fit(X, y, tol=1e-3).solver == "gram"
    assert fastgd.fit(X[:8], y[:8], max_iter=3, tol=0).solver == "stream"


def _gram(backend, X, Y, b, fit_intercept, weights, n_threads=None):
    x_is_f = X.flags.f_contiguous and not X.flags.c_contiguous
    return get_backend(backend).gram(X, Y, b, fit_intercept, weights, x_is_f, n_threads)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(1, 3, 1), (5, 8, 2), (300, 7, 1), (5000, 12, 3)])
def test_gram_kernel_is_the_augmented_gram_matrix(
    backend, dtype, layout, fit_intercept, weighted, shape
):
    """``backend.gram``: Z.T diag(s) Z, Z = [X, 1, Y] (or [X, Y - b]), symmetric, each
    entry within its chain's rounding (gamma(chain) |z_j|.|z_l|) of the sums in exact
    arithmetic (math.fsum of the products of the float64 columns)."""
    import math

    n, d, k = shape
    X, Y, b, weights = augmented_data(shape, dtype, layout, weighted)
    G, chain = _gram(backend, X, Y, b, fit_intercept, weights)
    m = d + fit_intercept + k
    assert G.shape == (m, m) and G.dtype == np.float64 and 1 <= chain <= n + 64
    np.testing.assert_array_equal(G, G.T)
    s = np.ones(n) if weights is None else weights.astype(np.float64)
    columns = [X[:, j].astype(np.float64) for j in range(d)]
    if fit_intercept:
        columns += [np.ones(n)] + [Y[:, j].astype(np.float64) for j in range(k)]
    else:
        columns += [Y[:, j].astype(np.float64) - np.float64(b[j]) for j in range(k)]
    for j in range(m):
        for l in range(j, m):
            products = s * columns[j] * columns[l]
            exact = math.fsum(products)
            allowed = gamma_of(chain + 4) * math.fsum(np.abs(products)) * 1.01 + 1e-300
            assert abs(G[j, l] - exact) <= allowed, (j, l, G[j, l], exact)


def gamma_of(n):
    eps = np.finfo(np.float64).eps
    return n * eps / (1 - n * eps)


# (m_pad 16: tiles of 1 and 2 vectors of columns; 48: up to 3, each row of 8 ahead
# of the next panel's rows)
@pytest.mark.parametrize("shape", [(200_000, 9, 2), (20_000, 45, 1)])
def test_gram_kernel_is_the_same_for_every_thread_count_and_backend(layout, shape):
    X, y, _, _ = make_problem(*shape, layout=layout, seed=8)
    weights = np.random.default_rng(9).uniform(0, 2, len(X))
    results = [
        _gram(name, X, y, np.zeros(2), True, weights, n_threads)[0]
        for name in COMPILED_BACKENDS
        for n_threads in (1, 2, None)
    ]
    for G in results[1:]:
        np.testing.assert_array_equal(G, results[0])


@pytest.mark.parametrize("backend", COMPILED_BACKENDS)
def test_gram_kernel_is_within_its_chain_of_the_exact_sums_across_many_chunks(backend):
    """The chain ``gram`` returns bounds its rounding where an entry's sum runs over
    many panels and chunks (20,000 rows: 32 chunks of 10 panels; gamma(chain + 4)
    |z_j|.|z_l| of math.fsum's exact sums, as the small shapes above)."""
    import math

    X, Y, _, _ = make_problem(20_000, 21, 1, seed=3)
    G, chain = _gram(backend, X, Y, np.zeros(1), True, None)
    assert chain < 200  # (a panel's 64 rows, a chunk's panels, the chunks)
    columns = [X[:, j] for j in range(21)] + [np.ones(len(X)), Y[:, 0]]
    for j in range(len(columns)):
        for l in range(j, len(columns)):
            products = columns[j] * columns[l]
            allowed = gamma_of(chain + 4) * math.fsum(np.abs(products)) * 1.01
            assert abs(G[j, l] - math.fsum(products)) <= allowed, (j, l)


def _accurate_sums(backend, X, Y, W, b, weights=None, n_threads=None):
    x_is_f = X.flags.f_contiguous and not X.flags.c_contiguous
    return get_backend(backend).accurate_sums(X, Y, W, b, x_is_f, n_threads, weights)


@functools.cache
def near_solution(shape, dtype, weighted):
    """Data whose residuals at (W, b) cancel to 1e-9 of their terms (a plain float64
    sum would lose 9 digits of them), and the gradient sums there in exact arithmetic
    (fractions): ``(X, Y, W, b, weights, exact, size)``, exact and size (K, D + 2) the
    sums and the sums of the terms' magnitudes."""
    from fractions import Fraction

    n, d, k = shape
    rng = np.random.default_rng(n + d + 1)
    X = (rng.standard_normal((n, d)) * 10.0 ** rng.uniform(-2, 2, d)).astype(dtype)
    W, b = rng.standard_normal((k, d)), rng.standard_normal(k)
    X64 = X.astype(np.float64)
    Y = (X64 @ W.T + b + 1e-9 * rng.standard_normal((n, k))).astype(dtype)
    weights = rng.uniform(0, 3, n).astype(dtype) if weighted else None
    s = [Fraction(1)] * n if weights is None else [Fraction(float(v)) for v in weights]
    x = [[Fraction(float(v)) for v in row] for row in X64]
    exact, size = np.empty((k, d + 2)), np.empty((k, d + 2))
    for t in range(k):
        w = [Fraction(v) for v in W[t]]
        R = [
            s[i]
            * sum((x[i][j] * w[j] for j in range(d)), Fraction(b[t]) - Fraction(float(Y[i, t])))
            for i in range(n)
        ]  # s r_i
        r = [R[i] / s[i] if s[i] else Fraction(0) for i in range(n)]
        columns = [[R[i] * x[i][j] for i in range(n)] for j in range(d)]
        columns += [R, [R[i] * r[i] / 2 for i in range(n)]]
        for j, column in enumerate(columns):
            exact[t, j] = float(sum(column, Fraction(0)))
            size[t, j] = float(sum((abs(term) for term in column), Fraction(0)))
    return X, Y, W, b, weights, exact, size


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(1, 3, 1), (37, 8, 2), (200, 33, 1), (600, 12, 3)])
def test_accurate_sums_are_exact_to_about_eps(backend, dtype, layout, weighted, shape):
    """The gradient sums near the solution (``near_solution``) against their exact
    values: within eps of the value, and the residuals' Dot2 rounding, (D + 2)^2 eps^2
    of each term's magnitude (_reference.accurate_residuals), beside it."""
    X, Y, W, b, weights, exact, size = near_solution(shape, dtype, weighted)
    X = np.asarray(X, order=layout)
    hi, lo = _accurate_sums(backend, X, Y, W, b, weights)
    n, d, k = shape
    assert hi.shape == lo.shape == (k, d + 2)
    eps = np.finfo(np.float64).eps
    gamma = gamma_of
    X64, Y64 = X.astype(np.float64), Y.astype(np.float64)
    # each residual within gamma(D + 3)^2 of its terms, at most a (K,) ...
    a = np.abs(X64).max(axis=0) @ np.abs(W).T + np.abs(b) + np.abs(Y64).max(axis=0)
    # ... which reaches a sum through s_i times |x_ij|, 1, or |r_i| <= a
    through = np.hstack(
        [np.broadcast_to(np.abs(X64).max(axis=0), (k, d)), np.ones((k, 1)), a[:, None]]
    )
    s_max = 1.0 if weights is None else float(np.max(weights))
    allowed = (
        2 * eps * np.abs(exact)
        + gamma(2 * n + 2) ** 2 * size
        + gamma(d + 3) ** 2 * n * s_max * a[:, None] * through
        + 1e-300
    )
    np.testing.assert_array_less(np.abs((hi - exact) + lo), allowed)


def test_accurate_sums_are_the_same_for_every_thread_count_and_backend(layout):
    X, y, _, _ = make_problem(200_003, 9, 2, layout=layout, seed=10)
    W = np.random.default_rng(11).standard_normal((2, 9))
    weights = np.random.default_rng(12).uniform(0, 2, len(X))
    results = [
        _accurate_sums(name, X, y, W, np.array([0.5, -1.0]), weights, n_threads)
        for name in COMPILED_BACKENDS
        for n_threads in (1, 2, None)
    ]
    for hi, lo in results[1:]:
        np.testing.assert_array_equal(hi, results[0][0])
        np.testing.assert_array_equal(lo, results[0][1])
