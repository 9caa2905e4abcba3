"""The direct solve (``method="qr"``): least squares, ridge, Lasso and elastic net
solved exactly, refined with the data's gradient, and certified.

After one pass has compressed the data to the triangular factor R of ``Z = [X, 1, Y]``
(``_gram.py``), the problem is small: it is solved exactly rather than iterated on.
Three steps, all on the small problem but the second, which is the fused gradient
pass over the data:

1. **Solve in standardized coordinates.** The factor's columns are re-triangularized
   with the intercept's first, which centres the features exactly as in exact
   arithmetic (row 0 holds the weighted means, the rest the factor of the centred
   columns), and each column is divided by its weighted standard deviation (its root
   mean square without an intercept): ``u_j = s_j w_j``, ``u_b = b + m . w``. The
   centred, standardized design A (columns of norm 1: its Gram matrix is the
   correlation matrix of the features; ``[A; sqrt(l2) diag(1 / s)]`` with an L2
   part) is decomposed by its SVD, so that a rank deficiency is seen (singular values
   below ``RCOND`` times the largest) and the condition number known exactly.
   Without an L1 part the solution is ``A^+ C``, the minimum-norm one when columns
   are dependent. With one, ``l1 ||w||_1 = sum_j (l1 / s_j) |u_j|`` makes the small
   problem a weighted Lasso, ``0.5 u.H u - q.u + sum_j l1_j |u_j|``, solved exactly by
   its homotopy (``lasso_solution``). Constant columns (beside the intercept, or
   all-zero without one) get coefficient 0, as scikit-learn's LinearRegression gives
   them.

2. **Refine with the data's gradient.** The gradient on the data at the point, ``g``,
   computed as if in twice the working precision (``_reference.accurate_sums``: float64
   residuals would limit the coefficients to eps ||r|| of accuracy, and the sums'
   rounding would be amplified by the condition number), gives the correction: the
   Newton step ``H^-1 g``, the exact error of the point up to rounding; with an L1
   part, the step to the solution of the small problem whose smooth part has that
   gradient at the point (``q = H u - g``). While the correction is more than rounding
   can explain, it is applied and the gradient taken again (one more pass each).

3. **Certify the coefficients.** The error of the point whose gradient was taken last
   is bounded by its correction (times ``FACTOR_SLACK``, for the factor's own
   rounding) plus what the rounding of the gradient can hide: the residuals' (pairs,
   within ``gamma(D + 3)^2 (|x_i| |w| + |b| + |y_i|)``), through the design's
   pseudo-inverse (row j of norm ``sqrt(H^-1_jj)``), and the sums' and the float64
   gradient's own rounding, through ``|H^-1|`` (which amplifies it up to cond(H)
   times: float64's limit on nearly collinear columns). The bound is per coefficient
   (raw ``w_j`` and ``b``, whose errors are those of ``u_j`` and of ``u_b - (m / s) .
   u``); ``error_bound`` is the largest relative error it allows, a coefficient whose
   interval holds 0 counting relative to the largest standardized coefficient (an
   exact zero, such as in ``y = 2 x_1`` with a second feature, is certified as a
   zero). With an L1 part, ``H^-1`` is that of the active set, whose zeros are
   certified exact when every inactive gradient stays below its ``l1_j`` by more than
   the errors can move it (strict complementarity), and whose signs when no active
   coefficient's interval holds 0. ``converged`` is ``error_bound <= tol``.

   For least squares and ridge, the point after the correction is certified too,
   before any pass at it: the gradient is ``H (theta - theta*)``, so its error is what
   the gradient's rounding hides plus the factor's error acting on the correction,
   ``H^-1 E delta``, with ``|E| <= error v v.T`` from the factor's backward error
   (``_gram.gram_factor_error``: the Cholesky factor of the Gram matrix, or
   Householder QR's) and the columns' means and spreads (``DirectSolve.factor_reach``).
   One pass then usually certifies the coefficients to within an ulp or two; a pass
   more is taken only while the factor's part of that bound is above the rounding's.
   A factor whose error could contract the point's by more than MAX_CONTRACTION
   certifies nothing before a pass (the Gram's is then replaced by Householder's).

The NumPy equivalent of step 1 without the care for constants, ranks and bounds::

    theta = np.linalg.lstsq(np.c_[X, np.ones(N)], y)[0]

which this matches or beats in accuracy (docs/user_guide/solvers.md, "Accuracy":
polynomial designs in raw units, against exact rational solutions of the stored data).
"""

import functools

import numpy as np

from . import _accelerated, _layout, _steps
from ._gram import gamma

EPS = np.finfo(np.float64).eps
# Singular values of the standardized design below RCOND * the largest are taken as
# zero: the columns are then linearly dependent to float64 precision (the factor's
# own rounding is a few eps relative to each column's norm).
RCOND = 64 * EPS
# A correction at most this fraction of the one before it is still converging: a pass
# more is worth it. Above it, the refinement has reached the rounding of the data.
CONTRACTION = 0.5
# The correction of a factor whose error contracts the point's by at most rho bounds
# the error of the point within a factor (1 + rho) / (1 - rho) <= FACTOR_SLACK, for rho
# <= MAX_CONTRACTION. Beyond it, the factor from the Gram matrix (about cond(H) eps
# relative) is replaced by Householder QR's, and no point is certified before a pass.
FACTOR_SLACK = 2.0
MAX_CONTRACTION = 1.0 / 3.0


class StandardizedProblem:
    """The compressed problem in the coordinates of the standardized features, solved.

    ``A`` (m, p) and ``C`` (m, K) are the compressed problem (``_gram.compressed_problem``:
    the same loss and gradient as the data, ``m`` rows standing for the total weight);
    the intercept is A's last column when ``fit_intercept``. ``constant`` marks the
    features held at 0 (see the module docstring); ``backend`` solves its Lasso
    (``lasso_solution``)."""

    def __init__(self, A, C, n_features, fit_intercept, l1, l2, constant, backend):
        n_rows = A.shape[0]
        D = n_features
        if fit_intercept:
            # the intercept's column first: row 0 of the new factor is sqrt(m) times
            # the means, the rows below it the factor of the centred columns
            R = np.linalg.qr(np.hstack([A[:, D : D + 1], A[:, :D], C]), mode="r")
            head = R[0, 0] if R[0, 0] != 0 else 1.0  # (0: every weight is 0, refused before)
            self.mean, self.centre = R[0, 1 : D + 1] / head, R[0, D + 1 :] / head
            centred_X, centred_C = R[1 : D + 1, 1 : D + 1], R[1 : D + 1, D + 1 :]
            columns = R[1:, 1:]  # (the centred columns, whole)
        else:
            self.mean, self.centre = np.zeros(D), np.zeros(C.shape[1])
            centred_X, centred_C = A[:, :D], C
            columns = np.hstack([centred_X, C])
        # (norms scaled as LAPACK's dnrm2: a column near 1e-300 or 1e300 is a feature)
        spreads = _accelerated.scaled_norms(columns.T) / np.sqrt(n_rows)
        self.scale, self.spread_y = spreads[:D], spreads[D:]
        # the raw columns' root mean squares (orthogonal transformations keep the
        # columns' norms: rms^2 = mean^2 + spread^2)
        self.rms, self.rms_y = (
            np.hypot(self.mean, self.scale),
            np.hypot(self.centre, self.spread_y),
        )
        # the targets whose spread is within ROUNDING eps of their root mean square
        # (an exactly constant target's factor leaves it below 9 eps): constant to
        # the factor, for its owner to confirm on the data (confirm_constant_targets)
        self.constant_targets = self.spread_y <= _accelerated.ROUNDING * EPS * self.rms_y
        self.kept = ~constant & (self.scale > 0)
        s = self.kept_scale = self.scale[self.kept]
        self.kept_mean = self.mean[self.kept]
        # b = u_b - t . u: the intercept's share of the standardized slopes
        self.t = self.kept_mean / s
        design = centred_X[:, self.kept] / (s * np.sqrt(n_rows))  # columns of norm 1
        rhs = centred_C / np.sqrt(n_rows)
        # (the unpenalized small problem, which a path's points add their penalties to)
        self.design, self.rhs = design, rhs
        if l2 > 0:  # l2 / 2 ||w||^2 = l2 / 2 ||u / s||^2: rows sqrt(l2) / s below
            design = np.vstack([design, np.diag(np.sqrt(l2) / s)])
            rhs = np.vstack([rhs, np.zeros((len(s), rhs.shape[1]))])
        self.penalized_design, self.penalized_rhs = design, rhs
        # The L1 part, l1 ||w||_1 = sum_j (l1 / s_j) |u_j|: the weighted Lasso of the
        # small problem, 0.5 u.H u - q.u + sum_j l1_j |u_j|, H = design.T design and
        # q = design.T rhs (lasso_solution)
        self.l1 = l1 / s if l1 > 0 else None
        self.backend = backend
        self.hessian = design.T @ design
        self.fit_intercept = fit_intercept
        self.n_features = D

    def confirm_constant_targets(self, data):
        """Keep as constant only the targets that hold one value on ``data`` (whose
        rows the factor's are), of those the factor found within rounding of it."""
        targets = np.flatnonzero(self.constant_targets)
        if len(targets):
            self.constant_targets[targets] = data.constant_columns(targets, of_targets=True)

    @functools.cached_property
    def decomposition(self):
        """``(U, singular, Vt, dependent)``: the SVD of the (penalized) standardized
        design, and which of its singular values are taken as 0 (a path's problems,
        which need none of what follows from it, never make it)."""
        design = self.penalized_design
        if design.shape[1]:
            U, singular, Vt = np.linalg.svd(design, full_matrices=False)
        else:  # every feature held at 0: only the intercept is fitted
            U, singular, Vt = np.zeros((design.shape[0], 0)), np.zeros(0), np.zeros((0, 0))
        dependent = singular <= RCOND * (singular[0] if len(singular) else 0.0)
        return U, singular, Vt, dependent

    @functools.cached_property
    def singular(self):
        """The singular values of the (penalized) standardized design, decreasing:
        the decomposition's, or without it (a Lasso's problem, which needs neither U
        nor V unless its columns are dependent) by themselves, for a third of its cost."""
        if self.l1 is None or "decomposition" in self.__dict__:
            return self.decomposition[1]
        design = self.penalized_design
        return np.linalg.svd(design, compute_uv=False) if design.shape[1] else np.zeros(0)

    @property
    def rank_deficient(self):
        singular = self.singular
        return bool(len(singular) and singular[-1] <= RCOND * singular[0])

    @property
    def null_space(self):
        """The combinations of the kept columns that the data do not determine."""
        _, _, Vt, dependent = self.decomposition
        return Vt[dependent]

    @property
    def vt_smallest(self):
        Vt = self.decomposition[2]
        return Vt[-1] if len(Vt) else np.zeros(0)

    @functools.cached_property
    def inverse_singular(self):
        """1 / sigma, 0 for the singular values taken as 0."""
        _, singular, _, dependent = self.decomposition
        return np.where(dependent, 0.0, 1.0 / np.where(dependent, 1.0, singular))

    @functools.cached_property
    def inverse_hessian(self):
        """H^-1 = V diag(1 / sigma^2) V.T, the inverse Hessian of the objective in u
        (per unit of total weight; the pseudo-inverse when columns are dependent):
        without the decomposition, H's inverse where cond(H) <= 1e12 (to 1e-4 at
        worst: it only sizes the factor's reach, ``DirectSolve.factor_reach``)."""
        singular, decomposed = self.singular, "decomposition" in self.__dict__
        if not decomposed and len(singular) and singular[-1] >= 1e-6 * singular[0]:
            return np.linalg.inv(self.hessian)
        Vt = self.decomposition[2]
        return (Vt.T * self.inverse_singular**2) @ Vt

    @functools.cached_property
    def u(self):
        """The solution (d, K): design^+ rhs (the minimum-norm one) without an L1 part,
        each target's Lasso solution with one."""
        if self.l1 is not None:
            cross = self.penalized_design.T @ self.penalized_rhs
            return np.column_stack(
                [
                    lasso_solution(self.hessian, cross[:, k], self.l1, self.backend)
                    for k in range(cross.shape[1])
                ]
            )
        U, _, Vt, _ = self.decomposition
        return Vt.T @ (self.inverse_singular[:, None] * (U.T @ self.penalized_rhs))

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

    def constant_suspects(self, n_rows):
        """The features (indices) whose centred spread over the ``n_rows`` rows is
        within the rounding of their mean (``_accelerated.constant_suspects``)."""
        # (spread and mean in units of a power of two >= both: no overflow in squares)
        unit = np.ldexp(1.0, np.frexp(np.maximum(self.scale, np.abs(self.mean)))[1])
        unit[unit == 0] = 1.0
        variance, mean = (self.scale / unit) ** 2, self.mean / unit
        return _accelerated.constant_suspects(variance, mean, n_rows, self.n_features)

    def units(self):
        """The unit of each coefficient's standardized value (d [+ 1],): the kept
        slopes' spreads (u_j = w_j s_j), and 1 for the intercept."""
        return np.append(self.kept_scale, 1.0) if self.fit_intercept else self.kept_scale

    def u_of(self, W):
        """The standardized slopes (d, K) of the coefficients W (K, D)."""
        return W[:, self.kept].T * self.kept_scale[:, None]

    def perturbation_weights(self):
        """v (d,): a factor whose Hessian differs from the data's by E, ``|E_jl| <=
        error ||z_j|| ||z_l|| / N`` in the raw coordinates (``_gram.gram_factor_error``),
        differs in u by at most ``error v_j v_l`` (the intercept's v is 1): ``v_j =
        (rms_j + |m_j|) / s_j``, through ``w_j = u_j / s_j``, ``b = u_b - (m / s) . u``."""
        k = self.kept
        return (self.rms[k] + np.abs(self.kept_mean)) / self.kept_scale

    def coefficients(self, u, u_b):
        """(W (K, D), b (K,)) of the point u (d, K), u_b (K,): ``w = u / s``,
        ``b = u_b - m . w``. (Its rounding, eps sum_j |m_j w_j| in b, would come back
        at every pass if the refinement iterated on u: it iterates on W and b.)"""
        W = np.zeros((u.shape[1], self.n_features))
        W[:, self.kept] = (u / self.kept_scale[:, None]).T
        b = u_b - W @ self.mean if self.fit_intercept else np.zeros(u.shape[1])
        return W, b

    def gradient_in_u(self, grad_W, grad_b):
        """The gradient (G_W, g_b) in the raw coordinates as ``(g_u (d, K), g_b)``:
        ``dL/du_j = (G_Wj - g_b m_j) / s_j`` and ``dL/du_b = g_b`` (0 without an
        intercept; the centred columns are orthogonal to the intercept's, whose
        Hessian is 1)."""
        k = self.kept
        g_u = ((grad_W[:, k] - grad_b[:, None] * self.kept_mean) / self.kept_scale).T
        return g_u, grad_b if self.fit_intercept else np.zeros_like(grad_b)

    def step(self, u, g_u):
        """``(delta_u, hinv)``: the step from the point u (d, K), whose gradient is
        g_u, to the solution of the small problem with that gradient there, and the
        inverse Hessian it was taken with: without an L1 part, the Newton correction
        ``H^-1 g`` and H^-1 (d, d), every target's; with one, the step to the weighted
        Lasso with ``q = H u - g``, and the inverse of H on each target's active set
        (zeros elsewhere), (d, d, K). Where that Lasso keeps u's zeros and signs, the
        step is the Newton correction on the active set, ``H_SS^-1 (g_S + l1_S
        signs_S)``: as accurate as the gradient (u less the solution from q would
        carry that solve's rounding, relative to H u rather than to g)."""
        n_targets = u.shape[1]
        if self.l1 is None:
            return self.inverse_hessian @ g_u, self.inverse_hessian
        delta_u, hinv = np.zeros_like(u), np.zeros((len(u), len(u), n_targets))
        for k in range(n_targets):  # the Lasso separates the targets
            solution = lasso_solution(
                self.hessian, self.hessian @ u[:, k] - g_u[:, k], self.l1, self.backend
            )
            active = solution != 0
            delta_u[:, k] = u[:, k] - solution
            if not active.any():
                continue
            inverse = np.linalg.inv(self.hessian[np.ix_(active, active)])
            hinv[np.ix_(active, active, [k])] = inverse[:, :, None]
            signs = np.sign(solution)
            if np.array_equal(signs, np.sign(u[:, k])):  # (the same zeros and signs)
                delta_u[:, k] = 0.0
                delta_u[active, k] = inverse @ (g_u[active, k] + self.l1[active] * signs[active])
        return delta_u, hinv


def lasso_solution(H, q, weights, backend):
    """The minimizer u of ``0.5 u.H u - q.u + sum_j weights_j |u_j|`` (H positive
    definite, weights > 0): the backend's homotopy (``_reference.lasso_path``) walked
    down to t = 1, exact."""
    return backend.lasso_path(H, q, weights, np.ones(1))[0]


class DirectSolve:
    """``method="qr"``, with the calling convention of ``_accelerated``'s methods:
    ``run(history, max_updates) -> (n_epochs, status)``, one pass over the data (a
    gradient) per epoch, the best certified point written into the problem's W.

    ``problem`` is the ``_fit.Problem`` after ``compress`` (X and Y the compressed
    problem, W (K, p) with the intercept as its last column). ``refactor()`` returns
    ``(X, Y, factor_error)``, the compressed problem of the data's Householder factor,
    for when the problem's is the Gram's and too far from the data's: from then on,
    this solve's X, Y and factor_error are the Householder factor's, and the
    problem's (the Gram's) are not read again."""

    name = "qr"

    def __init__(self, problem, settings, optimizer, refactor):
        p, s = problem, settings
        self.problem, self.settings, self.optimizer = p, s, optimizer
        D, fit_intercept = p.n_features, p.user_fit_intercept
        self.X, self.Y, self.factor_error = p.X, p.Y, p.factor_error
        self.small = StandardizedProblem(
            self.X, self.Y, D, fit_intercept, s.l1, s.l2, np.zeros(D, dtype=bool), p.backend
        )
        if p.factor_kind == "gram" and (
            self.small.rank_deficient or self.factor_reach()[2] > MAX_CONTRACTION
        ):
            # the Gram's factor is too far from the data's to refine quickly, or to
            # judge a rank: Householder QR's (refactor())
            self.X, self.Y, self.factor_error = refactor()
            self.small = StandardizedProblem(
                self.X, self.Y, D, fit_intercept, s.l1, s.l2, np.zeros(D, dtype=bool), p.backend
            )
        if fit_intercept:  # constant columns: their spread is the rounding of their mean
            suspects = self.small.constant_suspects(p.data.n_samples)
            found = np.zeros(D, dtype=bool)
            if len(suspects):
                found[suspects] = p.data.constant_columns(suspects)
            if found.any():
                self.small = StandardizedProblem(
                    self.X, self.Y, D, fit_intercept, s.l1, s.l2, found, p.backend
                )
        if fit_intercept:
            self.small.confirm_constant_targets(p.data)
        self.W, self.b = self.small.coefficients(self.small.u, self.small.centre)
        self.reach = self.factor_reach()
        # least squares and ridge: the next point is certified before its pass
        self.next_certified = (
            self.small.l1 is None
            and not self.small.rank_deficient
            and self.reach[2] <= MAX_CONTRACTION
        )
        self.error_bound = np.inf  # of the point returned (the best certified one)
        self.previous_size = np.inf
        self.first_step = 1.0  # each refinement is a Newton step: FitResult.lr
        self.cut_short = False  # max_iter stopped a refinement that was still converging
        self.support_uncertain = False  # an L1 zero pattern that rounding decides

    def run(self, history, max_updates):
        p, s, small = self.problem, self.settings, self.small
        for row in range(min(len(history), max_updates)):
            coef, intercept = self.returned(self.W, self.b)
            grad_W, grad_b, half_sq = p.data.accurate_gradient(
                p.backend, coef, intercept, s.n_threads
            )
            loss = float(np.sum(half_sq))
            if not np.isfinite(loss):
                history[row] = (loss, np.nan, np.nan, np.nan)
                return row + 1, _layout.DIVERGED  # overflow: the API names it
            grad_W = grad_W + s.l2 * coef.astype(np.float64)  # the L2 term's gradient
            g_u, delta_b = small.gradient_in_u(grad_W, grad_b)
            u = small.u_of(coef.astype(np.float64))
            delta_u, hinv = small.step(u, g_u)
            bound, refinable, rounding = self.bound(
                coef, intercept, grad_W, grad_b, g_u, half_sq, delta_u, delta_b, hinv
            )
            if bound < self.error_bound or row + self.optimizer.n_epochs == 0:
                self.error_bound = bound
                self.publish(coef, intercept)
            step_W, step_b = small.coefficients(delta_u, delta_b)
            if self.next_certified:
                next_coef, next_intercept = self.returned(self.W - step_W, self.b - step_b)
                next_bound, refinable = self.next_bound(
                    next_coef, next_intercept, delta_u, delta_b, rounding
                )
                if next_bound < self.error_bound:
                    self.error_bound = next_bound
                    self.publish(next_coef, next_intercept)
            size = _accelerated.scaled_norm(delta_u.ravel(), delta_b)
            objective = loss + _steps.penalty(coef.astype(np.float64), s.l1, s.l2, p.n_features)
            history[row] = (objective, size, self.first_step, np.nan)
            self.optimizer.count_update()
            converging = size <= CONTRACTION * self.previous_size
            self.previous_size = size
            self.W, self.b = self.W - step_W, self.b - step_b
            if small.l1 is not None:  # the Lasso's zeros exactly: W from its solution
                self.W = small.coefficients(u - delta_u, self.b)[0]
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
        with np.errstate(over="ignore"):  # (beyond float32: inf, which the fit reports)
            return W.astype(dtype), intercept.astype(dtype)

    def publish(self, coef, intercept):
        """The point into the compressed problem's W (the intercept its last column)."""
        p = self.problem
        p.W[:, : p.n_features] = coef
        if p.user_fit_intercept:
            p.W[:, p.n_features] = intercept

    def factor_reach(self):
        """``(hv, v, rho, error)``: how far the factor's error moves a correction. The
        Hessian of the factor differs from the data's by E, ``|E| <= error v v.T`` in u
        (``StandardizedProblem.perturbation_weights``; ``error``: the factor's backward
        error, and the small problem's own rounding, normwise within gamma(4 m^2) (1 +
        2 sigma_max^2) <= that times v_j v_l as v >= 1), so a correction delta taken
        with it is off by at most ``error |H~^-1| v (v . |delta|)``: hv = |H~^-1| v
        (with the intercept's row, 1), and rho = error max(hv) sum(v) the most it can
        contract an error."""
        small = self.small
        v = small.perturbation_weights()
        hv = np.abs(small.inverse_hessian) @ v
        if small.fit_intercept:
            v, hv = np.concatenate((v, [1.0])), np.concatenate((hv, [1.0]))
        m = self.X.shape[1] + self.Y.shape[1]
        sigma = small.singular[0] if len(small.singular) else 0.0
        error = self.factor_error + gamma(4 * m * m) * (1 + 2 * sigma**2)
        return hv, v, error * hv.max(initial=0.0) * v.sum(), error

    def bound(self, coef, intercept, grad_W, grad_b, g_u, half_sq, delta_u, delta_b, hinv):
        """``(error_bound, refinable, rounding)`` of the point (coef, intercept): the
        largest relative error of a coefficient that its correction and the rounding of
        its gradient allow (module docstring), whether its correction is more than
        that rounding (a pass more may then improve it), and that rounding's bound per
        coefficient (``coefficient_errors``)."""
        small = self.small
        if small.rank_deficient and small.l1 is None:
            return np.inf, False, None
        values, correction, rounding, g_rounding = coefficient_errors(
            small,
            coef,
            intercept,
            grad_W,
            grad_b,
            half_sq,
            delta_u,
            delta_b,
            hinv,
            self.problem.data.n_samples,
        )
        d = len(delta_u)
        errors = with_own_rounding(
            values, FACTOR_SLACK * correction + rounding, coef.dtype, small.units()
        )
        # a pass more may help if a correction is above what rounding explains and
        # would move a coefficient by more than half its last bit (in coef's dtype)
        refinable = bool(
            (correction.max(axis=0, initial=0.0) > rounding.max(axis=0, initial=0.0)).any()
            and (correction > half_ulp(values, coef.dtype)).any()
        )
        if small.l1 is not None:
            active = values[:d] > 0
            changing = bool(np.any((delta_u != 0) & ~active))  # a pass more may settle it
            self.support_uncertain = changing or not support_certified(
                small, values[:d], errors[:d], g_u, g_rounding, active
            )
            if self.support_uncertain:
                return np.inf, changing or refinable, rounding
        return (
            relative_error(values, errors, scale_of(values, d, small)),
            refinable,
            rounding,
        )

    def next_bound(self, coef, intercept, delta_u, delta_b, rounding):
        """``(error_bound, refinable)`` of the next point (coef, intercept), the point
        less its correction delta, before a pass at it. For least squares and ridge the
        gradient is ``H (theta - theta*)``, so the next point's error is ``H^-1 e +
        H^-1 E delta``: e the gradient's rounding (within ``rounding``, the point's),
        and the factor's error E (``factor_reach``), within FACTOR_SLACK error |H~^-1| v
        (v . |delta|); with an ulp for the step's own rounding. A pass more helps only
        where that second part is above the first."""
        small, (hv, v, _, error), k = self.small, self.reach, self.small.kept
        d, n_targets = delta_u.shape
        shape = (d + 1 if small.fit_intercept else d, n_targets)
        delta, values, factor_part = np.empty(shape), np.empty(shape), np.empty(shape)
        delta[:d] = np.abs(delta_u)
        values[:d] = np.abs(coef[:, k].astype(np.float64) * small.kept_scale).T
        if small.fit_intercept:
            delta[d] = np.abs(delta_b)
            values[d] = np.abs(intercept.astype(np.float64))
        reach = FACTOR_SLACK * error * (v @ delta)  # (K,)
        factor_part[:d] = hv[:d, None] * reach
        if small.fit_intercept:  # b = u_b - t . u
            factor_part[d] = (1.0 + np.abs(small.t) @ hv[:d]) * reach
        errors = with_own_rounding(
            values, rounding + factor_part + EPS * values, coef.dtype, small.units()
        )
        refinable = bool(
            (factor_part.max(axis=0, initial=0.0) > rounding.max(axis=0, initial=0.0)).any()
            and (factor_part > half_ulp(values, coef.dtype)).any()
        )
        return relative_error(values, errors, scale_of(values, d, small)), refinable


def support_certified(small, values_u, errors_u, g_u, g_rounding, active):
    """Whether the zero pattern and the signs of the point are the solution's: every
    active coefficient's interval excludes 0, and every inactive gradient stays below
    its weight l1_j by more than the active coefficients' errors (through H) and its
    own rounding can move it (then the point corrected on its active set satisfies
    the optimality conditions strictly, so it is the solution: the Lasso's objective
    is convex)."""
    moved = np.abs(small.hessian) @ np.where(active, errors_u, 0.0)
    strictly_inside = np.abs(g_u) + moved + g_rounding < small.l1[:, None]
    return bool(np.all(np.where(active, values_u > errors_u, strictly_inside)))


def coefficient_errors(
    small, coef, intercept, grad_W, grad_b, half_sq, delta_u, delta_b, hinv, n_samples
):
    """``(values, correction, rounding, g_rounding)``: the magnitudes of the
    standardized slopes u (and of the intercept b), of their correction, and the bound
    on what the rounding of the gradient can hide in each (module docstring, step 3),
    each (d [+ 1], K), in the units of y; and the bound on the rounding of the
    gradient in u itself, (d, K). ``half_sq``: half the mean squared residual of each
    target; (grad_W, grad_b): the gradient there; hinv: the inverse Hessian of each
    target's correction, (d, d, K), or (d, d) when every target's is the same."""
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
    absolute_mean = np.abs(small.kept_mean)
    absolute_g = np.abs(grad_W[:, k]) + np.abs(grad_b)[:, None] * absolute_mean
    gradient_rounding = (
        (small.rms[k] + absolute_mean)[:, None] * sum_rounding
        + (len(small.scale) + 3) * EPS * absolute_g.T
    ) / small.kept_scale[:, None]
    if hinv.ndim == 2:  # (every target's: its products as matrix products)
        through_hinv = np.abs(hinv) @ gradient_rounding  # (d, K)
        hinv_diagonal = np.diagonal(hinv)[:, None]
    else:
        through_hinv = np.einsum("jlk,lk->jk", np.abs(hinv), gradient_rounding)
        hinv_diagonal = np.einsum("jjk->jk", hinv)
    # the residuals' rounding through the design's pseudo-inverse, whose row j has
    # norm sqrt(H^-1_jj)
    d, n_targets = delta_u.shape
    shape = (d + 1 if small.fit_intercept else d, n_targets)
    values, correction, rounding = np.empty(shape), np.empty(shape), np.empty(shape)
    values[:d] = np.abs(coef64[:, k] * small.kept_scale).T
    correction[:d] = np.abs(delta_u)
    diagonal = np.sqrt(np.maximum(hinv_diagonal, 0.0))
    rounding[:d] = diagonal * residual_rounding + through_hinv
    if small.fit_intercept:  # b = u_b - t . u
        t = small.t
        values[d] = np.abs(b64)
        correction[d] = np.abs(delta_b - t @ delta_u)
        t_hinv_t = t @ hinv @ t if hinv.ndim == 2 else np.einsum("j,jlk,l->k", t, hinv, t)
        rounding[d] = (
            np.sqrt(1.0 + np.maximum(t_hinv_t, 0.0)) * residual_rounding
            + sum_rounding
            + 2 * EPS * np.abs(grad_b)
            + np.abs(t) @ through_hinv
        )
    # the gradient in u's own rounding: the residuals' (through a unit column) and the rest
    g_rounding = gradient_rounding + residual_rounding[None, :]
    return values, correction, rounding, g_rounding


def half_ulp(values, dtype):
    """About half a unit in the last place of each value in ``dtype``: a correction
    below it does not change the coefficients returned."""
    return (0.5 * EPS if dtype == np.float64 else 0.5 * np.finfo(dtype).eps) * values


def with_own_rounding(values, errors, dtype, units):
    """The errors of coefficients returned in ``dtype``: float32's rounding added, half
    an ulp of each value; inf for a coefficient below float32's smallest normal
    number (a subnormal one's rounding is not relative, and the point's own error
    there was seen to exceed it: it is not certified). ``units``: each row's unit of
    the values (the slopes' spreads, 1 for the intercept: the values are
    standardized slopes, w_j s_j)."""
    if dtype == np.float64:
        return errors
    subnormal = (values > 0) & (values < np.finfo(dtype).tiny * units[:, None])
    relative = values * (0.5 * np.finfo(dtype).eps) * (1 + EPS)
    return np.where(subnormal, np.inf, errors + relative)


def scale_of(values, d, small):
    """Each target's largest standardized slope; the intercept where there is none,
    or where the target is constant (``StandardizedProblem.constant_targets``, one
    value on the data: the intercept's model is exact, and its slopes rounding)."""
    scale = values[:d].max(axis=0, initial=0.0)
    if small.fit_intercept:
        scale = np.where((scale > 0) & ~small.constant_targets, scale, values[-1])
    return scale


def relative_error(values, errors, scale):
    """max over the coefficients (rows) and targets (columns) of ``error / (|value| -
    error)``, or ``error / scale`` (the target's largest standardized coefficient)
    for a coefficient whose interval ``value +- error`` holds 0."""
    denominators = np.where(values <= errors, scale, values - errors)
    if denominators.min(initial=np.inf) > 0:  # (values - errors is, where it is used)
        return float((errors / denominators).max(initial=0.0))
    with np.errstate(divide="ignore", invalid="ignore"):  # a scale of 0 (or NaN)
        relative = np.where(errors == 0, 0.0, errors / denominators)
    return float(relative.max(initial=0.0))
