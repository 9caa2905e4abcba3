"""The direct solve (``method="qr"``): least squares solved, refined and certified.

After one pass has compressed the data to the triangular factor R of ``Z = [X, 1, Y]``
(``_gram.py``), the least-squares problem, or the ridge one, is small: it is solved
exactly rather than iterated on. Three steps, all on the small problem but the
second, which is the fused gradient pass over the data:

1. **Solve in standardized coordinates.** The factor's columns are re-triangularized
   with the intercept's first, which centres the features exactly as in exact
   arithmetic (row 0 holds the weighted means, the rest the factor of the centred
   columns), and each column is divided by its weighted standard deviation (its root
   mean square without an intercept): ``u_j = s_j w_j``, ``u_b = b + m . w``. The
   centred, standardized problem ``A u = C`` (A's columns of norm 1: its Gram matrix
   is the correlation matrix of the features) is solved by the SVD of A (of the
   stacked ``[A; sqrt(l2) diag(1 / s)]`` for ridge), so that a rank deficiency is
   seen (singular values below ``RCOND`` times the largest), and the minimum-norm
   solution taken, and the condition number is known exactly. Constant columns
   (beside the intercept, or all-zero without one) get coefficient 0, as
   scikit-learn's LinearRegression gives them.

2. **Refine with the data's gradient.** The float64 gradient of the objective on the
   data at the solution, ``g``, gives the Newton correction ``H^-1 g`` (H the
   Hessian, from the factor): the exact error of that point, up to the rounding of
   g and of the factor. While the correction is larger than what rounding alone can
   explain, it is applied and the gradient taken again (one more pass each);
   usually no pass or one is needed after the first.

3. **Certify the coefficients.** The error of the point whose gradient was taken
   last is bounded by its correction plus what the rounding of the gradient can
   hide: the rounding of each residual, at most ``gamma(D + 3) (|x_i| |w| + |b| +
   |y_i|)``, through the pseudo-inverse of the design (its norm: 1 / the smallest
   singular value), and the rounding of the sums over the rows, ``LAMBDA sqrt(N) eps
   ||x_j|| ||r||`` per gradient entry (the probabilistic bound of Higham and Mary,
   2019, which holds with probability above 1 - 1e-13 at LAMBDA = 8), through
   ``|H^-1|``. The bound is per coefficient (raw ``w_j`` and ``b``, whose errors are
   those of ``u_j`` and of ``u_b - (m / s) . u``); ``error_bound`` is the largest
   relative error it allows, a coefficient whose interval holds 0 counting
   relative to the largest standardized coefficient (an exact zero, such as in
   ``y = 2 x_1`` with a second feature, is certified as a zero). ``converged`` is
   ``error_bound <= tol``.

The NumPy equivalent of step 1 without the care for constants, ranks and bounds::

    theta = np.linalg.lstsq(np.c_[X, np.ones(N)], y)[0]

which this matches or beats in accuracy (README "Accuracy": polynomial designs in
raw units, against exact rational solutions of the stored data).
"""

import numpy as np

from . import _accelerated, _layout, _steps

EPS = np.finfo(np.float64).eps
# Singular values of the standardized design below RCOND * the largest are taken as
# zero: the columns are then linearly dependent to float64 precision (the factor's
# own rounding is a few eps relative to each column's norm).
RCOND = 64 * EPS
# The probabilistic rounding bound of a sum of n terms, LAMBDA * sqrt(n) * eps
# (Higham & Mary, SIAM J. Sci. Comput. 41(5), 2019, Theorem 3.1: it holds with
# probability at least 1 - 2 exp(-LAMBDA**2 / 2) ~ 1 - 3e-14).
LAMBDA = 8.0
# A correction at most this fraction of the one before it is still converging: a pass
# more is worth it. Above it, the refinement has reached the rounding of the data.
CONTRACTION = 0.5
# The correction of a factor that is exact to rounding bounds the error of the point
# within a factor (1 + rho) / (1 - rho) <= FACTOR_SLACK for rho <= 1/3.
FACTOR_SLACK = 2.0


def gamma(n):
    """Higham's gamma_n = n eps / (1 - n eps): the worst-case relative rounding of n
    sequential operations."""
    return n * EPS / (1 - n * EPS)


class StandardizedProblem:
    """The compressed problem in the coordinates of the standardized features, solved.

    ``A`` (m, p) and ``C`` (m, K) are the compressed problem (``_gram.compressed_problem``:
    the same loss and gradient as the data, ``m`` rows standing for the total weight);
    the intercept is A's last column when ``fit_intercept``. ``constant`` marks the
    features held at 0 (see the module docstring)."""

    def __init__(self, A, C, n_features, fit_intercept, l2, constant):
        n_rows = A.shape[0]
        D = n_features
        if fit_intercept:
            # the intercept's column first: row 0 of the new factor is sqrt(m) times
            # the means, the rows below it the factor of the centred columns
            R = np.linalg.qr(np.hstack([A[:, D:D + 1], A[:, :D], C]), mode="r")
            head = R[0, 0] if R[0, 0] != 0 else 1.0  # (0: every weight is 0, refused before)
            self.mean, self.centre = R[0, 1:D + 1] / head, R[0, D + 1:] / head
            centred_X, centred_C = R[1:D + 1, 1:D + 1], R[1:D + 1, D + 1:]
        else:
            self.mean, self.centre = np.zeros(D), np.zeros(C.shape[1])
            centred_X, centred_C = A[:, :D], C
        # (norms scaled as LAPACK's dnrm2: a column near 1e-300 or 1e300 is a feature)
        self.scale = _accelerated.scaled_norms(centred_X.T) / np.sqrt(n_rows)
        self.kept = ~constant & (self.scale > 0)
        s = self.scale[self.kept]
        design = centred_X[:, self.kept] / (s * np.sqrt(n_rows))  # columns of norm 1
        rhs = centred_C / np.sqrt(n_rows)
        if l2 > 0:  # l2 / 2 ||w||^2 = l2 / 2 ||u / s||^2: rows sqrt(l2) / s below
            design = np.vstack([design, np.diag(np.sqrt(l2) / s)])
            rhs = np.vstack([rhs, np.zeros((len(s), rhs.shape[1]))])
        if len(s):
            U, self.singular, Vt = np.linalg.svd(design, full_matrices=False)
        else:  # every feature held at 0: only the intercept is fitted
            U, self.singular, Vt = np.zeros((design.shape[0], 0)), np.zeros(0), np.zeros((0, 0))
        dependent = self.singular <= RCOND * (self.singular[0] if len(s) else 0.0)
        self.rank_deficient = bool(dependent.any())
        # the combinations of the kept columns that the data do not determine
        self.null_space = Vt[dependent]
        self.vt_smallest = Vt[-1] if len(s) else np.zeros(0)
        inverse = np.where(dependent, 0.0, 1.0 / np.where(dependent, 1.0, self.singular))
        # u = design^+ rhs (the minimum-norm solution); H^-1 = V diag(1 / sigma^2) V.T,
        # the inverse Hessian of the objective in u (per unit of total weight)
        self.u = Vt.T @ (inverse[:, None] * (U.T @ rhs))
        self.inverse_hessian = (Vt.T * inverse**2) @ Vt
        self.fit_intercept = fit_intercept
        self.n_features = D
        self.rms = _accelerated.scaled_norms(A[:, :D].T) / np.sqrt(n_rows)  # raw columns
        self.rms_y = _accelerated.scaled_norms(C.T) / np.sqrt(n_rows)

    @property
    def condition(self):
        """cond(A) of the standardized design (its square is that of the correlation
        matrix): inf when its columns are linearly dependent."""
        if not len(self.singular):
            return 1.0
        smallest = self.singular[-1]
        return np.inf if smallest <= RCOND * self.singular[0] else self.singular[0] / smallest

    def collinear_columns(self):
        """The columns of X (indices) most involved in the smallest singular value's
        direction (every one in a linear dependence, when there is one)."""
        kept = np.flatnonzero(self.kept)
        if not len(kept):
            return []
        directions = self.null_space if self.rank_deficient else self.vt_smallest[None]
        weights = np.max(np.abs(directions), axis=0)
        return [int(j) for j in kept[weights >= 0.1 * weights.max()]]

    def coefficients(self, u, u_b):
        """(W (K, D), b (K,)) of the point u (d, K), u_b (K,): ``w = u / s``,
        ``b = u_b - m . w``. (Its rounding, eps sum_j |m_j w_j| in b, would come back
        at every pass if the refinement iterated on u: it iterates on W and b.)"""
        W = np.zeros((u.shape[1], self.n_features))
        W[:, self.kept] = (u / self.scale[self.kept, None]).T
        b = u_b - W @ self.mean if self.fit_intercept else np.zeros(u.shape[1])
        return W, b

    def correction(self, grad_W, grad_b):
        """The Newton correction ``H^-1 g`` in u (d, K) and u_b (K,), from the
        gradient (G_W, g_b) in the raw coordinates: ``dL/du_j = (G_Wj - g_b m_j) / s_j``
        and ``dL/du_b = g_b`` (the centred columns are orthogonal to the intercept's,
        whose Hessian is 1)."""
        k = self.kept
        g_u = ((grad_W[:, k] - grad_b[:, None] * self.mean[k]) / self.scale[k]).T
        return self.inverse_hessian @ g_u, (grad_b if self.fit_intercept
                                           else np.zeros_like(grad_b))


class DirectSolve:
    """``method="qr"``, with the calling convention of ``_accelerated``'s methods:
    ``run(history, max_updates) -> (n_epochs, status)``, one pass over the data (a
    gradient) per epoch, the best certified point written into the problem's W.

    ``problem`` is the ``_fit.Problem`` after ``compress`` (X and Y the compressed
    problem, W (K, p) with the intercept as its last column)."""

    name = "qr"

    def __init__(self, problem, settings, optimizer):
        p, s = problem, settings
        self.problem, self.settings, self.optimizer = p, s, optimizer
        D, fit_intercept = p.n_features, p.user_fit_intercept
        self.small = StandardizedProblem(p.X, p.Y, D, fit_intercept, s.l2,
                                         np.zeros(D, dtype=bool))
        if fit_intercept:  # constant columns: their spread is the rounding of their mean
            # (spread and mean in units of a power of two >= both: no overflow in squares)
            small = self.small
            unit = np.ldexp(1.0, np.frexp(np.maximum(small.scale, np.abs(small.mean)))[1])
            unit[unit == 0] = 1.0
            found = _accelerated.constant_columns((small.scale / unit) ** 2,
                                                  small.mean / unit, p.data)
            if found.any():
                self.small = StandardizedProblem(p.X, p.Y, D, fit_intercept, s.l2, found)
        self.W, self.b = self.small.coefficients(self.small.u, self.small.centre)
        self.error_bound = np.inf  # of the point returned (the best certified one)
        self.previous_size = np.inf
        self.first_step = 1.0  # each refinement is a Newton step: FitResult.lr
        self.cut_short = False  # max_iter stopped a refinement that was still converging

    def run(self, history, max_updates):
        p, s, small = self.problem, self.settings, self.small
        for row in range(min(len(history), max_updates)):
            coef, intercept = self.returned(self.W, self.b)
            grad_W, grad_b, half_sq = p.data.accurate_gradient(p.backend, coef, intercept,
                                                               s.n_threads)
            loss = float(np.sum(half_sq))
            if not np.isfinite(loss):
                history[row] = (loss, np.nan, np.nan, np.nan)
                return row + 1, _layout.DIVERGED  # overflow: the API names it
            grad_W = grad_W + s.l2 * coef.astype(np.float64)  # the L2 term's gradient
            delta_u, delta_b = small.correction(grad_W, grad_b)
            bound, refinable = self.bound(coef, intercept, grad_W, grad_b, half_sq,
                                          delta_u, delta_b)
            if bound < self.error_bound or row + self.optimizer.n_epochs == 0:
                self.error_bound = bound
                self.publish(coef, intercept)
            size = _accelerated.scaled_norm(delta_u, delta_b)
            objective = loss + _steps.penalty(coef.astype(np.float64), 0.0, s.l2,
                                              p.n_features)
            history[row] = (objective, size, self.first_step, np.nan)
            self.optimizer.count_update()
            converging = size <= CONTRACTION * self.previous_size
            self.previous_size = size
            step_W, step_b = small.coefficients(delta_u, delta_b)
            self.W, self.b = self.W - step_W, self.b - step_b
            if not (converging and refinable) or self.optimizer.n_epochs >= s.max_iter:
                self.cut_short = converging and refinable
                converged = s.tol > 0 and self.error_bound <= s.tol
                return row + 1, _layout.CONVERGED if converged else _layout.UNCERTIFIED
        return min(len(history), max_updates), _layout.MAX_ITER

    def returned(self, W, b):
        """The point as the fit returns it: in X's dtype (float32 X: the coefficients'
        rounding is part of the bound), the intercept held fixed when it is not fitted."""
        p = self.problem
        dtype = p.user_b.dtype
        intercept = b if p.user_fit_intercept else p.user_b
        return W.astype(dtype), intercept.astype(dtype)

    def publish(self, coef, intercept):
        """The point into the compressed problem's W (the intercept its last column)."""
        p = self.problem
        p.W[:, :p.n_features] = coef
        if p.user_fit_intercept:
            p.W[:, p.n_features] = intercept

    def bound(self, coef, intercept, grad_W, grad_b, half_sq, delta_u, delta_b):
        """``(error_bound, refinable)`` of the point (coef, intercept): the largest
        relative error of a coefficient that its correction and the rounding of its
        gradient allow (module docstring), and whether its correction is more than
        that rounding (a pass more may then improve it)."""
        small = self.small
        if small.rank_deficient:
            return np.inf, False
        values, correction, rounding = coefficient_errors(
            small, coef, intercept, grad_W, grad_b, half_sq, delta_u, delta_b,
            self.problem.data.n_samples)
        scale = np.max(values[:small.u.shape[0]], axis=0, initial=0.0)
        if small.fit_intercept:  # no slope: the intercept is the scale
            scale = np.where(scale > 0, scale, values[-1])
        errors = FACTOR_SLACK * correction + rounding
        if coef.dtype != np.float64:  # the returned coefficients' own rounding
            errors = errors + values * (0.5 * np.finfo(coef.dtype).eps) * (1 + EPS)
        # a pass more may help if a correction is above what rounding explains and
        # would move a coefficient by more than half its last bit
        refinable = bool(np.any(np.max(correction, axis=0, initial=0.0)
                                > np.max(rounding, axis=0, initial=0.0))
                         and np.any(correction > 0.5 * EPS * values))
        return relative_error(values, errors, scale), refinable


def coefficient_errors(small, coef, intercept, grad_W, grad_b, half_sq, delta_u, delta_b,
                       n_samples):
    """``(values, correction, rounding)``, each (d [+ 1], K): the magnitudes of the
    standardized slopes u (and of the intercept b), the magnitudes of their Newton
    correction, and the bound on what the rounding of the gradient can hide in each
    (module docstring, step 3). Units: those of y. ``half_sq``: half the mean
    squared residual of each target; (grad_W, grad_b): the gradient there."""
    k = small.kept
    coef64, b64 = coef.astype(np.float64), intercept.astype(np.float64)
    rms_residual = np.sqrt(np.maximum(2.0 * half_sq, 0.0))  # (K,)
    # the residuals' rounding, per unit of total weight: each residual (a pair, and
    # its weighted value a pair) within gamma(D + 3)^2 a_i + 2 eps^2 |r_i|, with
    # ||a|| <= sum_l |w_l| rms_l + |b| + rms_y (rms: the root mean squares)
    a = np.abs(coef64) @ small.rms + np.abs(b64) + small.rms_y
    residual_rounding = 2 * EPS**2 * rms_residual + gamma(small.n_features + 3) ** 2 * a
    # the gradient's rounding, per entry in u, (G_Wj - g_b m_j) / s_j: the sums' beyond
    # eps |g|, gamma(2 N)^2 ||x_j|| ||r|| (with the intercept's share |m_j| ||r||), and
    # the rounding of the float64 gradient itself and of the correction's products,
    # (d + 3) eps (|G_Wj| + |g_b m_j|): small beside g, but H^-1 amplifies it up to
    # cond(H) times (the limit of float64 on nearly collinear columns)
    sum_rounding = gamma(2 * n_samples) ** 2 * rms_residual  # (K,)
    absolute_g = (np.abs(grad_W[:, k]) + np.outer(np.abs(grad_b), np.abs(small.mean[k])))
    gradient_rounding = (np.outer((small.rms[k] + np.abs(small.mean[k])), sum_rounding)
                         + (len(small.scale) + 3) * EPS * absolute_g.T) / small.scale[k, None]
    hinv = small.inverse_hessian
    through_hinv = np.abs(hinv) @ gradient_rounding  # (d, K)
    # the residuals' rounding through the design's pseudo-inverse, whose row j has
    # norm sqrt(H^-1_jj)
    values = [np.abs(coef64[:, k] * small.scale[k]).T]
    correction = [np.abs(delta_u)]
    rounding = [np.sqrt(np.diag(hinv))[:, None] * residual_rounding + through_hinv]
    if small.fit_intercept:  # b = u_b - t . u
        t = small.mean[k] / small.scale[k]
        values.append(np.abs(b64)[None])
        correction.append(np.abs(delta_b - t @ delta_u)[None])
        rounding.append((np.sqrt(1.0 + t @ hinv @ t) * residual_rounding + sum_rounding
                         + 2 * EPS * np.abs(grad_b) + np.abs(t) @ through_hinv)[None])
    return np.vstack(values), np.vstack(correction), np.vstack(rounding)


def relative_error(values, errors, scale):
    """max over the coefficients (rows) and targets (columns) of ``error / (|value| -
    error)``, or ``error / scale`` (the target's largest standardized coefficient)
    for a coefficient whose interval ``value +- error`` holds 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(values <= errors, errors / scale, errors / (values - errors))
        relative = np.where(errors == 0, 0.0, relative)
    return float(np.max(relative, initial=0.0))
