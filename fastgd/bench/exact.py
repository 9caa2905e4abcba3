"""Least-squares problems whose solution is known exactly: the accuracy oracle.

``exact_problem`` builds X from an orthonormal basis and chosen singular values
(so cond(X.T X) is what is asked, after centring when there is an intercept), picks
the coefficients (W*, b*), and adds a residual r that is orthogonal, in the
(weighted) inner product of the fit, to every column of [X, 1]. Then (W*, b*) is
the least-squares solution by construction, R^2 is what is asked, and the gradient
at any point (W, b) is ``H @ (theta - theta*)`` with H the Hessian: computed from
the difference of the coefficients, without the cancellation of a residual. Used by
tests/test_exact.py (the default test run) and benches/accuracy.py (the docs'
accuracy tables): one definition of the cases for both.
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ExactProblem:
    X: np.ndarray  # (N, D) float64
    y: np.ndarray  # (N,) or (N, K)
    coef: np.ndarray  # W*: (D,) or (K, D)
    intercept: object  # b*: a float or (K,); 0 without an intercept
    sample_weight: object  # None or (N,)
    fit_intercept: bool
    cond: float  # cond(X.T X), of the centred X when fit_intercept

    def relative_error(self, coef, intercept):
        """max |[W, b] - [W*, b*]| / max |[W*, b*]|."""
        got = np.hstack([np.atleast_2d(coef), np.reshape(intercept, (-1, 1))])
        exact = np.hstack([np.atleast_2d(self.coef), np.reshape(self.intercept, (-1, 1))])
        return float(np.max(np.abs(got - exact)) / np.max(np.abs(exact)))

    def standardized_gradient_norm(self, coef, intercept):
        """The gradient at (coef, intercept), in the coordinates of the standardized
        features (each centred when there is an intercept, and divided by its
        weighted standard deviation, or root mean square without an intercept): the
        quantity that ``tol`` bounds for method="cg". Exact up to the rounding of
        H @ delta."""
        A, s = self._design()
        delta = np.hstack(
            [
                np.atleast_2d(coef) - np.atleast_2d(self.coef),
                np.reshape(intercept, (-1, 1)) - np.reshape(self.intercept, (-1, 1)),
            ]
        )
        if not self.fit_intercept:
            delta = delta[:, :-1]
        g = (A.T @ (s[:, None] * (A @ delta.T))).T / s.sum()
        return _scaled_norm(self._standardize(g))

    def standardized_gradient_norm_at_zero(self):
        """The same at the zero model (its reference in tol's bound)."""
        A, s = self._design()
        Y = self.y.reshape(len(self.y), -1)
        g = -(A.T @ (s[:, None] * Y)).T / s.sum()
        return _scaled_norm(self._standardize(g))

    def _design(self):
        n = len(self.X)
        s = np.ones(n) if self.sample_weight is None else self.sample_weight
        A = np.hstack([self.X, np.ones((n, 1))]) if self.fit_intercept else self.X
        return A, s

    def _standardize(self, g):
        _, s = self._design()
        mean = (s @ self.X) / s.sum() if self.fit_intercept else np.zeros(self.X.shape[1])
        # each column's spread divided by its largest deviation first: the squares of a
        # column near 1e-170 or 1e170 would underflow or overflow
        largest = np.abs(self.X - mean).max(axis=0)
        scale = largest * np.sqrt((s @ ((self.X - mean) / largest) ** 2) / s.sum())
        g_u = g.copy()
        d = self.X.shape[1]
        if self.fit_intercept:
            g_u[:, :d] = (g[:, :d] - g[:, d:] * mean) / scale
        else:
            g_u = g / scale
        return g_u


def _scaled_norm(a):
    """np.linalg.norm(a), without the underflow of squares near 1e-300."""
    largest = np.max(np.abs(a))
    return float(largest * np.linalg.norm(a / largest)) if largest > 0 else 0.0


def exact_problem(
    n_samples,
    n_features,
    cond,
    r2=0.9,
    y_scale=1.0,
    n_targets=None,
    fit_intercept=True,
    weighted=False,
    offset=3.0,
    seed=0,
    column_scale=1.0,
):
    """A problem with the exact least-squares solution (see the module docstring).

    ``cond`` is cond(X.T X) (of the centred X with an intercept): singular values
    spread log-uniformly from 1 to ``cond ** -0.5``, in a random orthonormal basis,
    columns then given means of ``offset`` standard deviations (a realistic
    conditioning that centring removes). ``r2`` is R^2 of the exact fit; y is
    multiplied by ``y_scale`` (so are W*, b* and r). X's columns are then multiplied
    by ``column_scale`` (a number, or one per column) and W*'s divided by it: the
    same span, so the same residual r and the same fitted values (``cond`` is then
    that of the problem before this scaling, which standardized coordinates undo).
    """
    rng = np.random.default_rng(seed)
    k = 1 if n_targets is None else n_targets
    s = rng.uniform(0.5, 2.0, n_samples) if weighted else np.ones(n_samples)
    root = np.sqrt(s)

    def orthogonal_to(B, Z):  # Z minus its (weighted) projection on the columns of B
        Q, _ = np.linalg.qr(root[:, None] * B)
        Zw = root[:, None] * Z
        Zw -= Q @ (Q.T @ Zw)
        Zw -= Q @ (Q.T @ Zw)  # twice is enough (Kahan)
        return Zw / root[:, None]

    ones = np.ones((n_samples, 1))
    U = rng.standard_normal((n_samples, n_features))
    if fit_intercept:
        U = orthogonal_to(ones, U)  # weighted-centred columns
    U, _ = np.linalg.qr(root[:, None] * U)
    U /= root[:, None]  # U.T S U = I
    singular = np.logspace(0, -0.5 * np.log10(cond), n_features)
    V, _ = np.linalg.qr(rng.standard_normal((n_features, n_features)))
    X = np.sqrt(s.sum()) * (U * singular) @ V.T
    if fit_intercept:
        X += offset * X.std(axis=0) * rng.choice([-1.0, 1.0], n_features)
    W = rng.standard_normal((k, n_features))
    b = rng.standard_normal(k) if fit_intercept else np.zeros(k)
    signal = X @ W.T + b
    A = np.hstack([X, ones]) if fit_intercept else X
    r = orthogonal_to(A, rng.standard_normal((n_samples, k)))
    centred = signal - (s @ signal) / s.sum() if fit_intercept else signal
    signal_var = (s @ centred**2) / s.sum()
    r_var = (s @ r**2) / s.sum()
    r *= np.sqrt(signal_var * (1 - r2) / r2 / r_var)
    Y = (signal + r) * y_scale
    W, b = W * y_scale, b * y_scale
    X, W = X * column_scale, W / column_scale
    if n_targets is None:
        Y, W, b = Y[:, 0], W[0], b[0]
    return ExactProblem(X, Y, W, b, s if weighted else None, fit_intercept, float(cond))


# ------------------------------------------------------- the exact rational oracle


def _integer_columns(A):
    """A (n, p) float64 as Python integers: column j is ``ints[j] * 2**shift[j]``
    exactly (every finite float is a dyadic rational)."""
    columns, shifts = [], []
    for column in np.asarray(A, dtype=np.float64).T:
        mantissa, exponent = np.frexp(column)  # column = mantissa * 2**exponent
        ints = [int(v) for v in np.ldexp(mantissa, 53).astype(np.int64)]
        low = int(exponent.min()) - 53 if len(column) else 0
        columns.append([m << int(e - 53 - low) for m, e in zip(ints, exponent)])
        shifts.append(low)
    return columns, shifts


def exact_least_squares(A, y, sample_weight=None, l1=0.0, l2=0.0, signs=None):
    """The least-squares solution of ``min sum_i s_i (A_i theta - y_i)^2`` for the
    float64 data as stored, computed exactly (rational arithmetic: the normal
    equations of the exact data, solved by Gauss-Jordan elimination over fractions),
    then rounded once to float64. The oracle of the direct solve's accuracy: it has
    no rounding of its own, so the digits it agrees with are the digits the data
    hold. Small problems only (a few hundred rows, a dozen columns).

    With ``l1``, ``l2`` and ``signs`` (one per column of A: +1 or -1 on the nonzero
    penalized coefficients, 0 on the others; the columns whose coefficient is zero
    are to be left out of A): the solution of the elastic net's optimality conditions
    on that support, ``(A.T S A + sum(s) l2 P) theta = A.T S y - sum(s) l1 signs`` (P
    the penalized columns, those with a sign), the exact penalized solution when
    those are its support and signs. l1 and l2 are taken as the floats given."""
    from fractions import Fraction

    A = np.asarray(A, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(len(A), -1)
    n, p = A.shape
    Z = np.hstack([A, y])
    if sample_weight is not None:  # s_i (A_i theta - y_i)^2 with s_i = w_i exactly
        weights, (shift_w,) = _integer_columns(np.asarray(sample_weight, float)[:, None])
        weights = weights[0]
    else:
        weights, shift_w = [1] * n, 0
    columns, shifts = _integer_columns(Z)

    def entry(a, b):
        total = sum(w * u * v for w, u, v in zip(weights, columns[a], columns[b]))
        return Fraction(total) * Fraction(2) ** (shifts[a] + shifts[b] + shift_w)

    K = Z.shape[1] - p
    G = [[entry(a, b) for b in range(p + K)] for a in range(p)]  # [A^T S A | A^T S y]
    if signs is not None:  # the penalty's terms, exactly
        total = sum(Fraction(w) for w in weights) * Fraction(2) ** shift_w
        for a in range(p):
            if signs[a] != 0:
                G[a][a] += total * Fraction(float(l2))
                for k in range(K):
                    G[a][p + k] -= total * Fraction(float(l1)) * int(np.sign(signs[a]))
    for c in range(p):
        pivot = next((r for r in range(c, p) if G[r][c] != 0), None)
        if pivot is None:
            raise ValueError("exact_least_squares: the columns are linearly dependent")
        G[c], G[pivot] = G[pivot], G[c]
        inverse = 1 / G[c][c]
        G[c] = [v * inverse for v in G[c]]
        for r in range(p):
            if r != c and G[r][c] != 0:
                factor = G[r][c]
                G[r] = [u - factor * v for u, v in zip(G[r], G[c])]
    solution = np.array([[float(G[r][p + k]) for k in range(K)] for r in range(p)])
    return solution[:, 0] if K == 1 else solution


def correct_digits(estimate, exact):
    """The smallest log relative error over the coefficients (the NIST StRD's LRE):
    ``-log10(|estimate - exact| / |exact|)``, or ``-log10|estimate|`` where the exact
    value is 0; capped at 15.9, and 0 for a non-finite estimate."""
    estimate, exact = np.ravel(estimate).astype(float), np.ravel(exact).astype(float)
    if not np.all(np.isfinite(estimate)):
        return 0.0
    error = np.abs(estimate - exact)
    relative = np.where(exact != 0, error / np.where(exact != 0, np.abs(exact), 1.0), error)
    with np.errstate(divide="ignore"):
        digits = -np.log10(relative)
    return float(np.clip(np.min(digits), 0.0, 15.9))


# ------------------------------------------------- polynomial designs in raw units


@dataclass(frozen=True)
class PolynomialProblem:
    """y = sum_k c_k x**k (+ noise), fitted on the columns x, x**2, ..., x**degree in
    their raw units: the classic test of regression software (the NIST StRD's
    Wampler problems are of this kind), and everyday data (calibration curves,
    np.polyfit). ``solution`` is the exact least-squares solution of the stored
    data, intercept first (``exact_least_squares``)."""

    name: str
    X: np.ndarray
    y: np.ndarray
    fit_intercept: bool
    solution: np.ndarray  # [b, w_1, ..., w_degree] (or [w...] without an intercept)

    def digits(self, coef, intercept):
        estimate = np.r_[intercept, coef] if self.fit_intercept else np.ravel(coef)
        return self.digits_of_solution(estimate)

    def digits_of_solution(self, estimate):
        """Correct digits of an estimate in the solution's order (intercept first)."""
        return correct_digits(estimate, self.solution)


def polynomial_problem(
    degree, low, high, n_samples=41, noise=0.0, fit_intercept=True, coefficients="ones", seed=0
):
    """A polynomial design on ``n_samples`` points evenly spaced in [low, high].
    ``coefficients``: "ones" (Wampler1's), or "tenths" (Wampler2's: 0.1**k); ``noise``:
    the standard deviation of Gaussian noise relative to that of the exact y (0: an
    exact fit; 20: R^2 about 0.0025)."""
    x = np.linspace(low, high, n_samples)
    X = x[:, None] ** np.arange(1, degree + 1)
    c = np.ones(degree + 1) if coefficients == "ones" else 0.1 ** np.arange(degree + 1)
    if not fit_intercept:
        c[0] = 0.0
    y = c[0] + X @ c[1:]
    if noise:
        y = y + noise * y.std() * np.random.default_rng(seed).standard_normal(n_samples)
    A = np.hstack([np.ones((n_samples, 1)), X]) if fit_intercept else X
    name = (
        f"deg{degree} x[{low:g},{high:g}] {coefficients}"
        f"{'' if fit_intercept else ' no-b'}{f' noise{noise:g}' if noise else ''}"
    )
    return PolynomialProblem(name, X, y, fit_intercept, exact_least_squares(A, y))


def wampler1():
    """NIST StRD Wampler1: y = 1 + x + x**2 + x**3 + x**4 + x**5 at x = 0, 1, ..., 20:
    an exact fit, every certified coefficient 1 (the example of the exact-direct-path
    issue)."""
    return polynomial_problem(5, 0.0, 20.0, n_samples=21)


def polynomial_problems():
    """The polynomial designs of the accuracy suite (tests/test_direct.py, the docs'
    "correct digits" table): degrees 1 to 10, x near 0 and far from it, exact and
    noisy y (R^2 from about 0.0025 to 1), with and without an intercept."""
    problems = [wampler1(), polynomial_problem(5, 0.0, 20.0, n_samples=21, coefficients="tenths")]
    for degree in range(1, 11):
        for noise in (0.0, 0.01, 1.0, 20.0):
            problems.append(polynomial_problem(degree, 0.0, 10.0, noise=noise, seed=degree))
        problems.append(
            polynomial_problem(degree, 0.0, 10.0, fit_intercept=False, noise=0.01, seed=degree)
        )
    for degree in range(1, 7):
        for noise in (0.0, 1.0):
            problems.append(polynomial_problem(degree, 100.0, 110.0, noise=noise, seed=degree))
    return problems
