"""Least-squares problems whose solution is known exactly: the accuracy oracle.

``exact_problem`` builds X from an orthonormal basis and chosen singular values
(so cond(X.T X) is what is asked, after centring when there is an intercept), picks
the coefficients (W*, b*), and adds a residual r that is orthogonal, in the
(weighted) inner product of the fit, to every column of [X, 1]. Then (W*, b*) is
the least-squares solution by construction, R^2 is what is asked, and the gradient
at any point (W, b) is ``H @ (theta - theta*)`` with H the Hessian: computed from
the difference of the coefficients, without the cancellation of a residual. Used by
tests/test_exact.py (the default test run) and benches/accuracy.py (the README's
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
        delta = np.hstack([np.atleast_2d(coef) - np.atleast_2d(self.coef),
                           np.reshape(intercept, (-1, 1)) - np.reshape(self.intercept, (-1, 1))])
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


def exact_problem(n_samples, n_features, cond, r2=0.9, y_scale=1.0, n_targets=None,
                  fit_intercept=True, weighted=False, offset=3.0, seed=0, column_scale=1.0):
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
