"""Plain NumPy reference: the source of truth for fastgd's math.

Every compiled kernel is tested against the functions here, and the ``"numpy"``
backend runs them directly. They are written for clarity, not speed: each line is
the formula of "The math" (docs/user_guide/solvers.md).

Shapes (the API layer has already validated and cast everything):

* ``X`` (N, D), ``Y`` (N, K), ``W`` (K, D), ``b`` (K,), all of one float dtype.

Model, residual, objective and gradient::

    R   = X @ W.T + b - Y                   # (N, K)
    L   = sum(R ** 2) / (2 N)               # half the mean squared error
    G_W = R.T @ X / N                       # (K, D)
    g_b = R.mean(axis=0)                    # (K,)
"""

import numpy as np

# The update math (penalty, proximal and momentum steps) lives in _steps.py, which
# the Python methods also run; it is part of this oracle. The epoch loop that
# combines these functions is _epochs.fit.
from ._layout import ACTIVE_SET_STEPS, HOMOTOPY_STEPS
from ._steps import momentum_step, penalty, prox_l1, proximal_step, update  # noqa: F401

_MASK64 = (1 << 64) - 1
EPS = np.finfo(np.float64).eps


def gradient(X, Y, W, b, sample_weight=None):
    """Gradient of half the (weighted) MSE and the loss, in float64.

    With weights s (N,), the objective is ``sum(s_i * ||R_i||^2) / (2 * sum(s))``:
    ``G_W = (s * R).T @ X / sum(s)`` and ``g_b = (s * R).sum(0) / sum(s)``; no
    weights is s = 1. Returns ``(grad_W, grad_b, loss)`` with ``grad_W`` of shape
    (K, D), ``grad_b`` of shape (K,) (both float64) and ``loss`` a Python float.
    """
    sum_W, sum_b, half_sq = rows_gradient(X, Y, W, b, sample_weight, slice(None))
    total = X.shape[0] if sample_weight is None else sample_weight.astype(np.float64).sum()
    return sum_W / total, sum_b / total, float(half_sq / total)


def augmented_rows(X, Y, b, weights, fit_intercept, rows):
    """The rows ``rows`` of ``Z = [X, 1, Y]`` in float64, each scaled by the square
    root of its weight; ``[X, Y - b]`` when the intercept ``b`` is held fixed
    (``fit_intercept=False``). The least-squares objective depends on the data only
    through ``Z.T @ diag(s) @ Z`` (see ``_gram.py``)."""
    Xr = X[rows].astype(np.float64)
    Yr = Y[rows].astype(np.float64)
    columns = [Xr, np.ones((len(Xr), 1)), Yr] if fit_intercept else [Xr, Yr - b]
    Z = np.hstack(columns)
    if weights is not None and len(weights):
        Z *= np.sqrt(weights[rows].astype(np.float64))[:, None]
    return Z


def compress(X, Y, b, weights, fit_intercept, block_rows=1 << 14):
    """An upper-triangular ``R`` with ``R.T @ R = Z.T @ diag(s) @ Z`` (see
    ``augmented_rows``), in one pass over X: the Householder QR of Z's rows, a block at
    a time (``R = qr([R; Z_block])``, tall-skinny QR), so that each column's rounding
    is relative to that column's own norm, whatever the scales of X and Y."""
    m = X.shape[1] + (1 if fit_intercept else 0) + Y.shape[1]
    R = np.zeros((0, m))
    for start in range(0, X.shape[0], block_rows):
        Z = augmented_rows(X, Y, b, weights, fit_intercept, slice(start, start + block_rows))
        R = np.linalg.qr(np.vstack([R, Z]), mode="r")
    return np.vstack([R, np.zeros((m - R.shape[0], m))])  # m rows even when N < m


# Rows of X per block of predictions: a block's columns (a copy, for C-ordered X)
# stay in L2 while they are added.
PREDICT_ROWS = 2048


def predictions(X, coef, intercept):
    """``X @ coef.T + intercept`` in X's dtype, each row's sum made in one fixed order
    (the intercept, then the features in column order, each term a product then an
    add), so that a row's prediction has the same bits whatever block of rows it is
    computed in and whatever X's memory layout: a file read a block at a time, a Dask
    array of any chunks and the array in memory give the same predictions. (BLAS's
    matrix-vector products round a row by where it falls in its block.)"""
    coef = np.asarray(coef, dtype=X.dtype)
    weights = np.atleast_2d(coef)  # (K, D)
    out = np.empty((X.shape[0], weights.shape[0]), dtype=X.dtype)
    for start in range(0, X.shape[0], PREDICT_ROWS):
        block = np.asfortranarray(X[start : start + PREDICT_ROWS])
        total = out[start : start + len(block)]
        total[...] = intercept
        for j in range(X.shape[1]):
            total += block[:, j, None] * weights[:, j]
    return out[:, 0] if coef.ndim == 1 else out


def gram(X, Y, b, weights, fit_intercept, block_rows=1 << 14):
    """``Z.T @ diag(s) @ Z`` (see ``augmented_rows``) in float64, a block of rows at a
    time: the direct solve's fast factor is its Cholesky factor (``_gram.py``)."""
    m = X.shape[1] + (1 if fit_intercept else 0) + Y.shape[1]
    G = np.zeros((m, m))
    for start in range(0, X.shape[0], block_rows):
        Z = augmented_rows(X, Y, b, weights, fit_intercept, slice(start, start + block_rows))
        G += Z.T @ Z
    return G


def next_random(rng_state):
    """SplitMix64 (Steele, Lea and Flood, 2014): the next 64-bit random integer.

    ``rng_state`` is a uint64 array of one element, advanced in place. The compiled
    kernels run the same integer arithmetic (wrapping at 2**64), so a seed gives the
    same sequence on every backend.
    """
    s = (int(rng_state[0]) + 0x9E3779B97F4A7C15) & _MASK64
    rng_state[0] = s
    z = ((s ^ (s >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def shuffle(order, n, rng_state):
    """Shuffle ``order[:n]`` in place (Fisher-Yates, drawing from ``next_random``).

    ``r % (i + 1)`` has a bias of at most (i + 1) / 2**64: nothing any test of a
    permutation of fewer than 2**40 rows can see.
    """
    for i in range(n - 1, 0, -1):
        j = next_random(rng_state) % (i + 1)
        order[i], order[j] = order[j], order[i]


def rows_gradient(X, Y, W, b, weights, rows):
    """Unnormalised sums over ``rows``: ``((s R).T @ X, (s R).sum(0), (s R * R).sum() / 2)``.

    With one target the products are matrix-vector ones, ``X.dot(w)`` and
    ``X.T.dot(r)``, as in the seeds' loop ``w += lr * X.T.dot(y - X.dot(w)) / len(X)``:
    so ``fit(X, y, lr=lr, fit_intercept=False, tol=0, backend="numpy")`` reproduces
    it bit for bit (negating R and the step is exact; tests/test_defaults.py)."""
    Xr = X[rows].astype(np.float64, copy=False)
    W64, Yr = W.astype(np.float64), Y[rows].astype(np.float64)
    scores = Xr.dot(W64[0])[:, None] if W.shape[0] == 1 else Xr @ W64.T
    R = scores + b.astype(np.float64) - Yr
    s = (
        np.ones(R.shape[0])
        if weights is None or not len(weights)
        else weights[rows].astype(np.float64)
    )
    sR = s[:, None] * R
    sum_W = Xr.T.dot(sR[:, 0])[None, :] if W.shape[0] == 1 else sR.T @ Xr
    return sum_W, sR.sum(axis=0), float(np.sum(sR * R)) / 2


# ------------------------------------------------------ the accurate gradient sums
#
# The direct solve (_direct.py) refines and certifies its coefficients with the
# gradient on the data, which must then be exact to the last bits: in float64, the
# gradient's rounding (about sqrt(N) eps ||x_j|| ||r|| per entry) is amplified by the
# condition number of the Hessian. So the residuals and the sums over the rows are
# computed as if in twice the working precision ("Dot2", Ogita, Rump & Oishi, SIAM J.
# Sci. Comput. 26(6), 2005): every product's rounding error and every sum's are kept
# (the error-free transformations below) and added in a second float64. The result
# is a pair (hi, lo), hi + lo within about eps |sum| + n^2 eps^2 sum |terms| of the
# exact sum.


def two_sum(a, b):
    """``(s, e)`` with ``s = fl(a + b)`` and ``a + b = s + e`` exactly (Knuth)."""
    s = a + b
    b_virtual = s - a
    return s, (a - (s - b_virtual)) + (b - b_virtual)


def _split(a):
    """``(high, low)``, ``a = high + low`` exactly, each of at most 26 significant
    bits, so that products of parts are exact (Dekker's split, by frexp: no overflow
    near the largest floats)."""
    mantissa, exponent = np.frexp(a)
    high = np.ldexp(np.round(np.ldexp(mantissa, 26)), exponent - 26)
    return high, a - high


def two_product(a, b):
    """``(p, e)`` with ``p = fl(a * b)`` and ``a * b = p + e`` exactly (Dekker; the
    compiled kernels use a fused multiply-add: ``e = fma(a, b, -p)``)."""
    p = a * b
    a_high, a_low = _split(a)
    b_high, b_low = _split(b)
    return p, ((a_high * b_high - p) + a_high * b_low + a_low * b_high) + a_low * b_low


def add_double(hi, lo, other_hi, other_lo):
    """The pair sum ``(hi, lo) + (other_hi, other_lo)``, as a pair: how the kernels'
    chunks, and Dask's blocks, are added in their fixed order."""
    s, e = two_sum(hi, other_hi)
    return two_sum(s, e + (lo + other_lo))


def _pairwise_sum(hi, lo):
    """The pair sum over axis 0 of the pairs (hi, lo): halved level by level with
    two_sum (the errors of each level added into lo)."""
    while hi.shape[0] > 1:
        if hi.shape[0] % 2:
            hi = np.concatenate([hi, np.zeros_like(hi[:1])])
            lo = np.concatenate([lo, np.zeros_like(lo[:1])])
        s, e = two_sum(hi[0::2], hi[1::2])
        hi, lo = s, lo[0::2] + lo[1::2] + e
    return hi[0], lo[0]


def gradient_of_sums(sums_hi, sums_lo, total_weight, n_features):
    """``(G_W, g_b, half_sq)`` from accurate sums (pairs of (K, D + 2): ``accurate_sums``):
    the gradient and half the weighted mean squared residual of each target, each
    within about eps of its exact value."""
    sums = (sums_hi + sums_lo) / total_weight
    return sums[:, :n_features], sums[:, n_features], sums[:, n_features + 1]


def accurate_residuals(X, Y, W, b):
    """``R = X @ W.T + b - Y`` (N, K) as pairs ``(R_hi, R_lo)``, each sum within
    (D + 2)^2 eps^2 (sum_j |x_ij w_kj| + |b_k| + |y_ik|) of the exact value: a Dot2
    over the row, not rounded to one float64 (that rounding, eps |R|, would limit
    the coefficients to eps ||r|| of accuracy, which the low part keeps)."""
    X64, Y64, W64 = X.astype(np.float64), Y.astype(np.float64), W.astype(np.float64)
    n_targets = W.shape[0]
    R_hi, R_lo = np.empty((X.shape[0], n_targets)), np.empty((X.shape[0], n_targets))
    for k in range(n_targets):
        hi, lo = two_sum(np.full(len(X), b[k]), -Y64[:, k])
        for j in range(X.shape[1]):
            p, e = two_product(X64[:, j], W64[k, j])
            hi, error = two_sum(hi, p)
            lo += error + e
        R_hi[:, k], R_lo[:, k] = two_sum(hi, lo)
    return R_hi, R_lo


def accurate_sums(X, Y, W, b, weights, block_rows=1 << 14):
    """``(hi, lo)``, each (K, D + 2): the unnormalised gradient sums ``(s R).T @ X``,
    ``(s R).sum(0)`` and half the weighted sum of squared residuals, ``(s R * R).sum(0)
    / 2``, as pairs whose sum is within about eps of each exact value (the residuals
    themselves pairs: ``accurate_residuals``; the squares from their high parts), in
    float64 whatever X's dtype. Rows a block at a time; the blocks' pairs added in
    order."""
    n_samples, n_features = X.shape
    n_targets = W.shape[0]
    total_hi = np.zeros((n_targets, n_features + 2))
    total_lo = np.zeros_like(total_hi)
    for start in range(0, n_samples, block_rows):
        rows = slice(start, start + block_rows)
        R_hi, R_lo = accurate_residuals(X[rows], Y[rows], W, b)
        sR_hi, sR_lo = R_hi, R_lo
        if weights is not None and len(weights):
            s = weights[rows].astype(np.float64)[:, None]
            sR_hi, error = two_product(R_hi, s)
            sR_lo = error + R_lo * s
        X64 = X[rows].astype(np.float64)
        terms = np.concatenate(
            [
                X64[:, None, :] * np.ones((1, n_targets, 1)),
                np.ones((len(R_hi), n_targets, 1)),
                0.5 * R_hi[:, :, None],
            ],
            axis=2,
        )
        p, e = two_product(terms, sR_hi[:, :, None])
        e += terms * sR_lo[:, :, None]
        hi, lo = _pairwise_sum(p, e)
        total_hi, total_lo = add_double(total_hi, total_lo, hi, lo)
    return total_hi, total_lo


# ------------------------------------------------------------ the Lasso homotopy


def lasso_path(H, q, weights, scales, events=None):
    """The minimizers of ``0.5 u.H u - q.u + t sum_j weights_j |u_j|`` (H positive
    semi-definite, weights > 0) for each t of ``scales`` (decreasing, positive), as
    rows of a ``(len(scales), d)`` array, by the homotopy of the Lasso (LARS with the
    Lasso modification: Efron, Hastie, Johnstone & Tibshirani, 2004; Osborne, Presnell
    & Turlach, 2000). The solution is 0 for ``t >= max_j |q_j| / weights_j`` and
    piecewise linear in t below, ``u_S = H_SS^-1 (q_S - t weights_S signs_S)`` on its
    active set S, which changes where an inactive ``|q_j - (H u)_j|`` reaches ``t
    weights_j`` (a join) or an active u_j reaches 0 (a drop). One walk down it solves
    every t exactly on the active set and signs of the piece that holds it: no
    tolerance, no iteration count. A column whose join would make H_SS singular (its
    pivot, the inverse of H_SS^-1's diagonal entry, below 64 eps ||H_SS||_inf: it
    depends on the active ones) is left out until the active set loses a column.
    ``events``, if given (int, ``len(scales)``), receives the number of the homotopy's
    events (joins, drops and left-out joins) above each t."""
    events = np.zeros(len(scales), dtype=np.int64) if events is None else events
    events[:] = 0
    scales = np.asarray(scales, dtype=np.float64)
    d = len(q)
    solutions = np.zeros((len(scales), d))
    active, signs = np.zeros(d, dtype=bool), np.zeros(d)
    dependent = np.zeros(d, dtype=bool)
    ratio = np.abs(q) / weights
    t = float(np.max(ratio, initial=0.0))
    at = int(np.sum(scales >= t))  # scales[:at] have the solution 0
    if at == len(scales):
        return solutions
    floor = float(scales[-1])
    changed = int(np.argmax(ratio))  # the index of the last event, not its next one at t
    active[changed], signs[changed] = True, np.sign(q[changed])
    joined = True  # (whether the last event was a join: `changed`'s is then checked)
    for n_events in range(1, HOMOTOPY_STEPS * d + 10):
        S = np.flatnonzero(active)
        H_SS = H[np.ix_(S, S)]
        weighted_signs = weights[S] * signs[S]
        # u_S(t') = a - t' v on this piece; after a join, the joined column of H_SS^-1
        # too, whose diagonal entry is 1 / (the joined column's distance to the span
        # of the others, in H's metric): near 0, it depends on them
        rhs = np.zeros((len(S), 3))
        rhs[:, 0], rhs[:, 1] = q[S], weighted_signs
        position = int(np.searchsorted(S, changed))
        if joined:
            rhs[position, 2] = 1.0
        try:
            solved = np.linalg.solve(H_SS, rhs)
            independent = not joined or len(S) == 1
            independent = independent or (
                0 < solved[position, 2] * 64 * EPS * np.abs(H_SS).sum(axis=1).max() < 1.0
            )
        except np.linalg.LinAlgError:  # (exactly singular: the joined column is a copy)
            independent = False
        if not independent:
            active[changed], signs[changed] = False, 0.0  # dependent on the active
            dependent[changed] = True
            joined = False
            continue
        a, v = solved[:, 0], solved[:, 1]
        c0e = H[:, S] @ solved[:, :2]
        c0 = q - c0e[:, 0]  # the correlations c(t') = q - H u(t') = c0 + t' e
        e = c0e[:, 1]
        # the next event below t: the largest t' in (floor, t] (the index that just
        # changed only strictly below t, where rounding cannot bring it back)
        ceiling = np.full(d, t)
        ceiling[changed] = t * (1 - 1e-9)
        # a column at its bound at t (to rounding: a tie) or past it (rounding put its
        # crossing above t, where it would be lost: t only falls) is decided on that
        # side by its direction alone: it joins at t if |c_j| - t' weights_j grows as
        # t' falls, never there if it shrinks
        side = np.sign(c0 + t * e)
        at_bound = np.abs(c0 + t * e) >= t * weights * (1 - 64 * EPS)
        at_bound[changed] = False
        outward = side * e < weights
        next_t, event = floor, None
        with np.errstate(divide="ignore", invalid="ignore"):
            for sign in (1.0, -1.0):  # joins: c0_j + t' e_j = sign t' weights_j
                hits = c0 / (sign * weights - e)
                decided = at_bound & (side == sign)
                hits = np.where(decided, np.where(outward, t, -np.inf), hits)
                usable = ~active & ~dependent & (hits <= ceiling) & (hits > next_t)
                if usable.any():
                    j = int(np.argmax(np.where(usable, hits, -np.inf)))
                    next_t, event = float(hits[j]), ("join", j)
            # drops: u_j(t') = 0, where |u_j| falls as t' does (signs_j v_j < 0; a
            # column that joined at t with another starts at 0 there, and grows), at t
            # for one at 0 there to rounding or past it
            drops = a / v
            falling = signs[S] * v < 0
            at_zero = signs[S] * (a - t * v) <= 4 * EPS * (np.abs(a) + t * np.abs(v))
            drops = np.where(at_zero & falling & (S != changed), t, drops)
            usable = (drops <= ceiling[S]) & (drops > next_t) & falling
            if usable.any():
                i = int(np.argmax(np.where(usable, drops, -np.inf)))
                next_t, event = float(drops[i]), ("drop", int(S[i]))
        events[at:] = n_events
        at = _solve_on_piece(H_SS, q[S], weighted_signs, S, scales, next_t, at, solutions)
        t = next_t
        if event is None:  # no event above the floor: every scale is solved
            break
        kind, changed = event
        joined = kind == "join"
        if joined:
            active[changed] = True
            signs[changed] = np.sign(c0[changed] + t * e[changed])
        else:
            active[changed], signs[changed] = False, 0.0
            dependent[:] = False  # (the active columns changed)
    # (Out of steps, which the budget makes unheard of: the last piece's active set.)
    S = np.flatnonzero(active)
    events[at:] = n_events
    _solve_on_piece(H[np.ix_(S, S)], q[S], weights[S] * signs[S], S, scales, 0.0, at, solutions)
    return solutions


def _solve_on_piece(H_SS, q_S, weighted_signs, S, scales, bottom, at, solutions):
    """Solve at the scales from ``at`` on that are at least ``bottom`` (the piece of
    the path down to ``bottom``, active set S), into their rows of ``solutions``
    (one solve for all of them); return the index of the first scale left."""
    end = at
    while end < len(scales) and scales[end] >= bottom:
        end += 1
    if end > at and len(S):
        rhs = q_S[:, None] - weighted_signs[:, None] * scales[None, at:end]
        solutions[at:end, S] = np.linalg.solve(H_SS, rhs).T
    return end


def elastic_net_path(H, q, weights, ridge, l1, l2, counts=None):
    """The minimizers of ``0.5 u.H u - q.u + l1_i sum_j weights_j |u_j| + l2_i / 2
    sum_j ridge_j u_j^2`` at each point ``(l1[i], l2[i])`` of a path (ordered by
    decreasing penalty, each l2_i > 0: the Hessian ``H + l2_i diag(ridge)`` positive
    definite), as rows of a ``(len(l1), d)`` array. Each point starts from the active
    set and signs of the point before (none for the first): solved exactly on the
    active set, then the optimality conditions checked; the coefficients whose sign
    the solve flips leave the set, else the inactive ones whose correlation exceeds
    their weight join it, until none does. After ``ACTIVE_SET_STEPS`` solves, the
    homotopy from 0 (``lasso_path``) instead. ``counts``, if given (int,
    ``len(l1)``), receives each point's solves (``ACTIVE_SET_STEPS + 1`` for a
    homotopy)."""
    n, d = len(l1), len(q)
    counts = np.zeros(n, dtype=np.int64) if counts is None else counts
    solutions = np.zeros((n, d))
    start = np.zeros(d)
    for i in range(n):
        hessian = H + np.diag(l2[i] * ridge)
        start, counts[i] = _elastic_net_point(hessian, q, l1[i] * weights, start)
        if counts[i] > ACTIVE_SET_STEPS:
            start = lasso_path(hessian, q, weights, np.array([l1[i]]))[0]
        solutions[i] = start
    return solutions


def _elastic_net_point(H, q, weights, start):
    """``(u, n_solves)``: the minimizer of ``0.5 u.H u - q.u + sum_j weights_j |u_j|``
    (H positive definite) by active-set solves from the active set and signs of
    ``start``, or ``(start, ACTIVE_SET_STEPS + 1)`` when they do not settle."""
    active, signs = start != 0, np.sign(start)
    for n_solves in range(1, ACTIVE_SET_STEPS + 1):
        S = np.flatnonzero(active)
        u = np.zeros(len(q))
        if len(S):
            u[S] = np.linalg.solve(H[np.ix_(S, S)], q[S] - weights[S] * signs[S])
        flipped = S[np.sign(u[S]) != signs[S]]
        if len(flipped):
            active[flipped], signs[flipped] = False, 0.0
            continue
        correlation = q - H @ u
        # (a tie, |c_j| = weights_j within rounding, is not a violation)
        joining = ~active & (np.abs(correlation) > weights * (1 + 1e-12))
        if not joining.any():
            return u, n_solves
        active |= joining
        signs[joining] = np.sign(correlation[joining])
    return start, ACTIVE_SET_STEPS + 1
