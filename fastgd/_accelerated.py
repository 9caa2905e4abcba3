"""The accelerated full-batch methods: conjugate gradients and FISTA with restarts.

``method="cg"`` and ``method="fista"`` (what a full-batch fit with ``lr="auto"``
runs by default: see ``fit``'s ``method``) are written once, here, in Python, over
the backends' fused gradient kernel: an iteration costs one pass over X (or over the
compressed problem of the Gram solver) and a few vector operations on the (K, D)
coefficients, so Python's share is a few microseconds per iteration. Both have the
calling convention of ``backend.fit`` (``run(history, max_updates) -> (n_epochs,
status)``, W and b updated in place, the optimiser's EPOCH and T counted), so the
API drives every method with the same loop (Ctrl-C, callback, progress bar).

Why these two (measured in ``benches/accuracy.py``; docs/user_guide/solvers.md,
"Accuracy"): on the quadratic least-squares objective, conjugate gradients choose
the step and the momentum of every iteration exactly (the minimum of the objective
over the Krylov space reached so far), need no estimate of L and no parameter, and
converge in at most D + 1 iterations in exact arithmetic; in practice in a small
multiple of sqrt(cond) or of D, whichever is smaller. FISTA (Beck & Teboulle 2009)
with the gradient restart of O'Donoghue & Candes (2015) handles the L1 part of a
penalty, which CG cannot, at a step 1/L.

Both stop as the full-batch ``tol`` says: when the gradient (map) norm is at most
``tol`` times the larger of its value at the start and at the zero model; and both
check that bound with a freshly computed gradient at the coefficients they return
(CG's gradient is otherwise a recurrence, FISTA's is taken at an extrapolated
point), continuing from it if the check fails. Norms are computed with a scale
(``scaled_norm``) and CG's directions are normalised before their Hessian product,
so nothing overflows or underflows before the data themselves do.
"""

import numpy as np

from . import _layout, _steps
from ._blocks import column_statistics, column_sums, unit_and_mean

# When the largest magnitude is within (_SMALL, _BIG), the plain sum of squares can
# neither overflow (for fewer than 1e20 entries) nor lose anything to underflow (an
# entry whose square underflows is below eps times the largest).
_SMALL, _BIG = 1e-140, 1e140


def scaled_norms(a):
    """The 2-norms of the rows of ``a`` (a 2-D array), without overflow or
    underflow in the squares (as LAPACK's dnrm2): ``||a_k|| = s_k * ||a_k / s_k||``
    with ``s_k = max |a_k|``, when a row's largest entry is outside (1e-140, 1e140)
    (each row on its own: one near 1e-170 among rows near 1 is not 0)."""
    a = np.asarray(a, dtype=np.float64)
    norms = np.sqrt(np.einsum("ij,ij->i", a, a))  # (einsum raises no overflow warning)
    if _SMALL < norms.min(initial=_BIG) and norms.max(initial=0.0) < _BIG:
        return norms  # (then so is every row's largest entry: the squares were safe)
    magnitudes = np.abs(a)
    scale = magnitudes.max(axis=1, initial=0.0)
    if np.all(((_SMALL < scale) & (scale < _BIG)) | (scale == 0.0)):
        return norms
    safe = np.where((scale > 0) & np.isfinite(scale), scale, 1.0)
    with np.errstate(invalid="ignore", over="ignore"):
        norms = safe * np.sqrt(np.sum((a / safe[:, None]) ** 2, axis=1))
    return np.where((scale > 0) & np.isfinite(scale), norms, scale)


def scaled_norm(*arrays):
    """The 2-norm of all the entries of ``arrays`` together (see ``scaled_norms``)."""
    flat = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays])
    return float(scaled_norms(flat[None, :])[0])


class _FullBatchMethod:
    """What CG and FISTA share: the problem, the data term's gradient at a point,
    the threshold of the ``tol`` test, the check of a converged point and the
    bookkeeping of an epoch.

    ``problem`` is ``(backend, X, Y, x_is_f, sample_weight, n_threads)``; W (K, D)
    and b (K,), in X's dtype, are the caller's working coefficients, updated in
    place after every iteration (b only when ``fit_intercept``)."""

    measure = "gradient norm"  # what tol bounds, for the ConvergenceWarning

    def __init__(self, problem, W, b, optimizer, options, ref_grad_norm):
        self.backend, self.X, self.Y, self.x_is_f, self.weights, self.n_threads = problem
        self.W, self.b, self.optimizer, self.options = W, b, optimizer, options
        self.ref_grad_norm = ref_grad_norm
        self.threshold = None  # tol * max(||g_0||, ref_grad_norm), set at the first iteration
        self.failed_checks = 0
        self.check_ratio = None  # the last failed check's gradient norm / threshold
        self.theta_W = W.astype(np.float64)
        self.theta_b = b.astype(np.float64)

    def gradient(self, theta_W, theta_b, hessian=False):
        """The data term's gradient ``(G_W, g_b)`` in float64 and the objective (loss
        plus penalty) at (theta_W, theta_b); with ``hessian``, the Hessian product
        ``H_data [theta_W, theta_b]`` instead (``backend.hessian_product``; see
        ConjugateGradient). ``g_b`` is zero when the intercept is not fitted."""
        o = self.options
        grad_W, grad_b, loss = self.data_term(theta_W, theta_b, hessian)
        grad_W = grad_W.copy()  # the kernel's buffers are reused by its next call
        grad_b = grad_b.copy() if o.fit_intercept else np.zeros_like(grad_b)
        if not hessian:
            loss += _steps.penalty(theta_W, o.l1, o.l2, o.n_penalized)
        return grad_W, grad_b, loss

    def data_term(self, W, b, hessian):
        """The backend's ``(G_W, g_b, loss)`` of the data term at (W, b), cast to X's
        dtype, or with ``hessian`` its Hessian product (``backend.hessian_product``):
        the kernel's buffers, which its next call reuses."""
        W, b = W.astype(self.X.dtype), b.astype(self.X.dtype)
        if hessian:
            return self.backend.hessian_product(
                self.X, W, b, self.x_is_f, self.n_threads, self.weights
            )
        return self.backend.gradient(
            self.X, self.Y, W, b, self.x_is_f, self.n_threads, self.weights
        )

    def add_l2(self, grad_W, theta_W):
        """``grad_W + l2 P``: the gradient of the L2 term on the penalized columns."""
        o = self.options
        if o.l2 > 0:
            grad_W[:, : o.n_penalized] += o.l2 * theta_W[:, : o.n_penalized]
        return grad_W

    def is_met(self, grad_norm):
        """The tol test (``tol > 0``), the threshold fixed at the first call."""
        if self.threshold is None:
            self.threshold = self.options.tol * max(grad_norm, self.ref_grad_norm)
        return self.options.tol > 0 and grad_norm <= self.threshold

    def check(self, grad_norm):
        """The check of a point the iterations found converged: CONVERGED, None (go
        on from it), or UNCERTIFIED at the MAX_CHECKS-th miss."""
        if self.is_met(grad_norm):
            return _layout.CONVERGED
        self.failed_checks += 1
        self.check_ratio = grad_norm / max(self.threshold, np.finfo(float).tiny)
        return _layout.UNCERTIFIED if self.failed_checks == _layout.MAX_CHECKS else None

    def publish(self):
        """Write the current point into the caller's W and b (X's dtype)."""
        self.W[...] = self.theta_W
        if self.options.fit_intercept:
            self.b[...] = self.theta_b

    def end_epoch(self, history, row, loss, grad_norm, step):
        history[row] = (loss, grad_norm, step, np.nan)
        self.optimizer.count_update()


def constant_columns(variance, mean, data):
    """The columns of the data (rows of weight 0 aside) whose values are all equal:
    held fixed, not divided by their computed spread, which is the rounding error of
    their mean (a column of 1s had its noise amplified by 1e16, and the fit failed).
    Only the columns whose variance is within that rounding error (Chan, Golub &
    LeVeque's bound, as scikit-learn's StandardScaler uses) are read again
    (``data.constant_columns``); a column that varies, however little beside its
    mean (timestamps near 1.7e18 a few milliseconds apart), is a feature like any
    other."""
    suspects = constant_suspects(variance, mean, data.n_samples, data.n_features)
    constant = np.zeros(len(variance), dtype=bool)
    if len(suspects):
        constant[suspects] = data.constant_columns(suspects)
    return constant


def constant_suspects(variance, mean, n_rows, n_features):
    """The indices of the first ``n_features`` columns (not the intercept's) whose
    variance over ``n_rows`` rows is within the rounding error of their mean (Chan,
    Golub & LeVeque's bound): constant, or indistinguishable from it."""
    eps = np.finfo(np.float64).eps
    suspects = np.flatnonzero(variance <= n_rows * eps * variance + (n_rows * eps * mean) ** 2)
    return suspects[suspects < n_features]


class StandardizedCoordinates:
    """The coordinates in which CG iterates: those of the standardized features.

    ``theta = theta_0 + T u``, with ``theta`` a row ``[W_k, b_k]`` per target and u
    the coefficients of the features centred (when there is an intercept) and
    divided by their standard deviation, as scikit-learn's StandardScaler would
    make them: ``w_j = u_j / s_j`` and ``b = u_b - sum_j m_j u_j / s_j`` (m_j, s_j
    the weighted mean and standard deviation of feature j; without an intercept,
    m_j = 0 and s_j the root mean square). The gradient in u is ``T.T g``. So CG and
    its ``tol`` do not depend on the units or the offsets of the features: a column
    a million times smaller, or with a mean far from 0, costs neither iterations
    nor accuracy. A constant column (s_j = 0) keeps its starting coefficient. With
    the Gram solver the intercept is a column of the compressed problem
    (``intercept``: its index in the row; None without one), whose inner products
    are those of the data.
    """

    def __init__(self, mean, scale, intercept):
        self.mean = mean
        self.inverse = np.where(scale > 0, 1.0 / np.where(scale > 0, scale, 1.0), 0.0)
        self.shift = mean * self.inverse  # m_j / s_j
        self.intercept = intercept

    @classmethod
    @np.errstate(invalid="ignore", over="ignore")  # NaN or inf in X: the API names them
    def of(cls, X, fit_intercept, intercept_column, data, compressed):
        """For the working problem: X (N, p) with an implicit column of ones when
        ``fit_intercept``, or, with ``intercept_column``, X's own column of that index
        standing for it. ``data``: the caller's (``_data.Data`` or ``BlockedData``),
        whose columns say which are constant; X is its own (its statistics are the
        data's, with their weights), or, ``compressed``, the Gram solver's compressed
        problem (rows already weighted). Rows are a block at a time: no N-sized
        temporary."""
        n_samples, p = X.shape
        centred = fit_intercept or intercept_column is not None
        if intercept_column is None:
            unit, mean, spread, total = (
                column_statistics(X, None, centred)
                if compressed
                else data.column_statistics(centred)
            )
        else:  # centred by the projection on the intercept's column
            X64 = X.astype(np.float64)
            ones = X64[:, intercept_column]
            unit, _ = unit_and_mean(column_sums(X, None, False)[0], np.zeros(p), 1.0, False)
            mean = (ones @ X64) / (ones @ ones)
            spread = np.sum(((X64 - ones[:, None] * mean) / unit) ** 2, axis=0)
            total = n_samples
        variance = spread / total  # in units of unit**2
        if centred:  # a constant column's centred values are the rounding of its mean
            variance[constant_columns(variance, mean / unit, data)] = 0.0
        # A row of theta: W's p columns, then b (scale 0: held fixed, unless fitted).
        intercept = p if fit_intercept else intercept_column
        full_mean, full_scale = np.zeros(p + 1), np.zeros(p + 1)
        full_mean[:p], full_scale[:p] = mean, unit * np.sqrt(variance)
        if intercept is not None:
            full_mean[intercept], full_scale[intercept] = 0.0, 1.0
        return cls(full_mean, full_scale, intercept)

    def to_theta(self, u):
        """T u: a step in u as a step in theta."""
        step = u * self.inverse
        if self.intercept is not None:
            step[:, self.intercept] = u[:, self.intercept] - u @ self.shift
        return step

    def gradient(self, g):
        """T.T g: a gradient in theta as a gradient in u."""
        g_u = g * self.inverse
        if self.intercept is not None:
            g_u -= g[:, self.intercept, None] * self.shift
            g_u[:, self.intercept] = g[:, self.intercept]
        return g_u


class ConjugateGradient(_FullBatchMethod):
    """Linear conjugate gradients on the normal equations, in standardized coordinates.

    With ``theta = [W, b]`` per target, the gradient ``g = H theta - c`` (``H =
    A.T diag(s) A / sum(s) + l2 P``, A = [X, 1]); CG runs on u, ``theta = theta_0 +
    T u`` (``StandardizedCoordinates``: Jacobi and centring preconditioning), whose
    gradient is ``g_u = T.T g``. Per target k and iteration::

        d_hat = d / ||d||                  # a unit direction: no overflow in H d
        v = T d_hat                        # the same direction in theta
        q = T.T H v                        # one pass: backend.hessian_product
        alpha = -(g_u . d_hat) / (d_hat . q)   # the exact minimum along d
        theta += alpha v;  g_u += alpha q
        beta = ||g_u new||^2 / ||g_u||^2;  d = -g_u new + beta d

    ``H v`` is the backend's ``hessian_product`` leaf: the gradient at W = v_W,
    b = v_b of the problem with Y = 0, one pass over X (over Dask blocks, each
    block's on its worker).
    The targets are independent problems with the same H, all advanced by the same
    pass. The loss is carried along exactly by the same recurrence (``f += alpha
    (g_u . d_hat) + alpha^2 / 2 (d_hat . q)``). ``tol`` bounds ``||g_u||``, relative
    to its value at the start or at the zero model. When the recurrence says that
    tol is met, the gradient and the loss are computed afresh at theta: if the
    bound holds there, the fit has converged; if not, CG restarts from that true
    gradient.
    """

    name = "cg"

    def __init__(self, problem, W, b, optimizer, options, coordinates, zero_reference):
        super().__init__(problem, W, b, optimizer, options, 0.0)
        self.coordinates = coordinates
        self.grad = self.direction = None  # (K, D + 1) each, in u: [W part, b part]
        self.norms = None  # the gradient's norm per target
        self.first_step = np.nan
        if zero_reference and options.tol > 0:
            zero_W = np.zeros_like(self.theta_W)
            zero_b = np.zeros_like(self.theta_b) if options.fit_intercept else self.theta_b
            self.ref_grad_norm = self.gradient_norm(*self.gradient(zero_W, zero_b)[:2], zero_W)

    def gradient_norm(self, grad_W, grad_b, theta_W):
        """The norm tol bounds: ``||T.T g||`` (the L2 term's gradient included)."""
        g = np.hstack([self.add_l2(grad_W.copy(), theta_W), grad_b[:, None]])
        return scaled_norm(self.coordinates.gradient(g))

    def true_gradient(self):
        grad_W, grad_b, loss = self.gradient(self.theta_W, self.theta_b)
        g = np.hstack([self.add_l2(grad_W, self.theta_W), grad_b[:, None]])
        return self.coordinates.gradient(g), loss

    def restart(self):
        """From the gradient computed afresh at theta: the steepest direction."""
        self.grad, self.loss = self.true_gradient()
        self.norms = scaled_norms(self.grad)  # per target
        self.direction = -self.grad

    @np.errstate(invalid="ignore", over="ignore")  # non-finite data: the API names it
    def run(self, history, max_updates):
        n_features = self.theta_W.shape[1]
        for row in range(min(len(history), max_updates)):
            if self.grad is None:
                self.restart()
            grad_norm = scaled_norm(self.norms)
            if not (np.isfinite(self.loss) and np.isfinite(grad_norm)):
                history[row] = (self.loss, grad_norm, np.nan, np.nan)
                return row + 1, _layout.DIVERGED  # overflow: the API names it
            self.is_met(grad_norm)  # sets the threshold at the first iteration
            lengths = scaled_norms(self.direction)
            moving = lengths > 0
            lengths[~moving] = 1.0
            unit = self.direction / lengths[:, None]
            v = self.coordinates.to_theta(unit)
            v_W = v[:, :n_features]
            q_W, q_b, _ = self.gradient(v_W, v[:, n_features], hessian=True)
            q_W = self.add_l2(q_W, v_W)
            q = self.coordinates.gradient(np.hstack([q_W, q_b[:, None]]))
            curvature = np.einsum("ij,ij->i", unit, q)
            slope = np.einsum("ij,ij->i", self.grad, unit)
            alpha = np.where(moving & (curvature > 0), -slope, 0.0) / np.where(
                curvature > 0, curvature, 1.0
            )
            loss_before = self.loss
            self.theta_W += alpha[:, None] * v_W
            if self.options.fit_intercept:
                self.theta_b += alpha * v[:, n_features]
            self.grad += alpha[:, None] * q
            self.loss = loss_before + float(alpha @ (slope + 0.5 * alpha * curvature))
            previous, self.norms = self.norms, scaled_norms(self.grad)
            ratio = np.where(previous > 0, self.norms / np.where(previous > 0, previous, 1.0), 0)
            self.direction = (ratio * ratio)[:, None] * self.direction - self.grad
            self.publish()
            step = float(np.mean(alpha / lengths))  # along d itself
            if np.isnan(self.first_step):
                self.first_step = step
            self.end_epoch(history, row, loss_before, grad_norm, step)
            if self.is_met(scaled_norm(self.norms)):
                # The recurrence says converged: check with the gradient itself.
                self.restart()
                status = self.check(scaled_norm(self.norms))
                if status is not None:
                    return row + 1, status
        return min(len(history), max_updates), _layout.MAX_ITER


class Fista(_FullBatchMethod):
    """FISTA (accelerated proximal gradient) with adaptive restart, in the
    standardized coordinates u of ``StandardizedCoordinates`` (as CG), step 1/L_u.

    With x the point returned and y the extrapolated one where gradients are taken,
    and ``g_u = T.T g`` the data term's gradient in u::

        x_new = prox(y - g_u(y) / L_u)             # soft-thresholding, per column
        if (y - x_new) . (x_new - x) > 0:          # the step turns against the
            t = 1; y = x_new                       # momentum: restart (O'Donoghue-Candes)
        else:
            t_new = (1 + sqrt(1 + 4 t^2)) / 2
            y = x_new + (t - 1) / t_new * (x_new - x)

    The penalty stays on the coefficients, ``W_j = W0_j + u_j / s_j`` (s_j the
    feature's spread), so column j's proximal step is the one in W with the step
    ``1 / (L_u s_j^2)``: ``w = soft(W0 + z / s, l1 / (L_u s^2)) / (1 + l2 / (L_u
    s^2))``, ``u = s (w - W0)``. In u the Hessian has a unit diagonal: L_u is at most
    the number of coordinates, and the iterations do not depend on the features'
    units or offsets (raw-unit data took FISTA in W 480,000 iterations).

    ``tol`` bounds the duality gap (``duality_gap``), which bounds the objective's
    distance to its minimum: converged when the gap at the coefficients returned
    is at most ``tol**2`` times the larger of the objectives at the start and at the
    zero model (the intercept at its best, in both). Without a penalty there is no
    dual to measure, and ``||g_u||^2 / 2`` stands for the gap (tol then bounds
    ``||g_u||`` as CG's does). The test runs on the gradient at y, which every
    iteration computes; once it holds there, the gap at x_new (one more pass) decides.
    """

    name = "fista"

    def __init__(self, problem, W, b, optimizer, options, coordinates, zero_reference):
        super().__init__(problem, W, b, optimizer, options, 0.0)
        self.coordinates = coordinates
        self.start_W, self.start_b = self.theta_W.copy(), self.theta_b.copy()
        n_targets, n_features = W.shape
        self.x = np.zeros((n_targets, n_features + 1))  # u of the point returned
        self.y = self.x.copy()  # u of the extrapolated point
        self.t = 1.0
        inverse = coordinates.inverse
        self.spread = np.where(inverse > 0, 1.0 / np.where(inverse > 0, inverse, 1.0), 0.0)
        self.penalized = np.arange(n_features + 1) < options.n_penalized
        self.column_rms = np.hypot(self.spread, coordinates.mean)[:-1]
        if options.l1 > 0 or options.l2 > 0:
            self.measure = "duality gap"
        self.step = self.first_step = 1.0 / self.lipschitz()
        self.at_y = None  # (x_new, certificate, objective) from y, when already known
        self.reference = 0.0
        if zero_reference and options.tol > 0:
            zero_W = np.zeros_like(self.theta_W)
            zero_b = np.zeros_like(self.theta_b) if options.fit_intercept else self.theta_b
            g, loss = self.data_gradient(zero_W, zero_b)
            self.reference = self.scale_of(g, loss, zero_W)

    def theta(self, u):
        """``(W, b)``, float64, at the point u."""
        step = self.coordinates.to_theta(u)
        W = self.start_W + step[:, :-1]
        b = self.start_b + step[:, -1] if self.options.fit_intercept else self.start_b
        return W, b

    def data_gradient(self, W, b, hessian=False):
        """``(g, loss)``: the data term's gradient ``[G_W, g_b]`` (K, D + 1), float64,
        and its loss; with ``hessian``, the Hessian product instead."""
        grad_W, grad_b, loss = self.data_term(W, b, hessian)
        g = np.hstack([grad_W, grad_b[:, None]])
        if not self.options.fit_intercept:
            g[:, -1] = 0.0
        return g, loss

    def lipschitz(self):
        """L_u, the largest eigenvalue of the Hessian in u: power iteration's Rayleigh
        quotient plus its residual, at most the trace (the number of coordinates
        whose spread is not 0, each a unit diagonal entry)."""
        active = self.coordinates.inverse > 0
        fit_intercept = self.options.fit_intercept

        def product(v):  # H_u v = T.T H T v, one pass (backend.hessian_product)
            direction = self.coordinates.to_theta(v[None, :])
            b = direction[:, -1] if fit_intercept else np.zeros(1)
            return self.coordinates.gradient(
                self.data_gradient(direction[:, :-1], b, hessian=True)[0]
            )[0]

        start = np.random.default_rng(0).standard_normal(len(active)) * active
        estimate = largest_eigenvalue(product, start, rtol=1e-4, max_iter=100, upper=True)
        return min(estimate, float(np.sum(active))) if estimate > 0 else 1.0

    def proximal_step(self, u, g_u):
        """``prox(u - step g_u)`` in u (the penalty on W's penalized columns)."""
        o, step = self.options, self.step
        z = u - step * g_u
        if o.l1 == 0 and o.l2 == 0:
            return z
        columns = self.penalized & (self.spread > 0)
        s = self.spread[columns]
        shrink = step * self.coordinates.inverse[columns] ** 2  # the step in W's units
        start = self.start_W[:, columns[:-1]]
        w = start + z[:, columns] / s
        w = np.sign(w) * np.maximum(np.abs(w) - shrink * o.l1, 0.0) / (1.0 + shrink * o.l2)
        z[:, columns] = (w - start) * s
        return z

    def scale_of(self, g, loss, W):
        """What the certificate is relative to, at a point: the objective with the
        intercept at its best (without a penalty, ``||g_u||^2 / 2``)."""
        o = self.options
        if o.l1 == 0 and o.l2 == 0:
            return self.half_square_gradient(g)
        g_intercept = self.intercept_gradient(g)
        return (
            loss
            - 0.5 * float(g_intercept @ g_intercept)
            + _steps.penalty(W, o.l1, o.l2, o.n_penalized)
        )

    def half_square_gradient(self, g):
        """``||g_u||^2 / 2`` (inf, not an OverflowError, beyond float64)."""
        return 0.5 * np.square(scaled_norm(self.coordinates.gradient(g)))

    def intercept_gradient(self, g):
        """The gradient along the intercept (zeros without one)."""
        column = self.coordinates.intercept
        return g[:, column] if column is not None else np.zeros(len(g))

    def certificate(self, g, loss, W):
        """``(gap, rounding)``: the duality gap at W (``duality_gap``), and the rounding
        error of its computation in X's dtype; without a penalty, ``||g_u||^2 / 2`` and
        that of a gradient whose residuals are rounded."""
        o = self.options
        eps = float(np.finfo(self.X.dtype).eps)
        if o.l1 == 0 and o.l2 == 0:
            # (each entry of g_u off by about ROUNDING eps times the residuals' rms)
            return self.half_square_gradient(g), g.shape[1] * (ROUNDING * eps) ** 2 * loss
        g_intercept = self.intercept_gradient(g)
        centred = g - g_intercept[:, None] * self.coordinates.mean
        columns = self.penalized[:-1]
        # A gradient entry is off by about eps times rms(residual) * rms(column).
        gradient_error = eps * np.sqrt(2 * loss) * self.column_rms[columns]
        return duality_gap(
            W[:, columns],
            centred[:, :-1][:, columns],
            loss,
            g_intercept,
            o.l1,
            o.l2,
            eps,
            gradient_error,
        )

    def from_point(self, u):
        """One pass at u: ``(x_new, (certificate, its rounding), objective)``, x_new the
        proximal step from u."""
        W, b = self.theta(u)
        g, loss = self.data_gradient(W, b)
        new = self.proximal_step(u, self.coordinates.gradient(g))
        objective = loss + _steps.penalty(
            W, self.options.l1, self.options.l2, self.options.n_penalized
        )
        if self.threshold is None:  # the start: tol's scale, with the zero model's
            self.reference = max(self.reference, self.scale_of(g, loss, W))
            self.threshold = self.options.tol**2 * self.reference
        return new, self.certificate(g, loss, W), objective

    def ratio(self, certificate):
        return certificate[0] / max(self.threshold, np.finfo(float).tiny)

    def publish(self):
        self.theta_W, self.theta_b = self.theta(self.x)
        super().publish()

    @np.errstate(invalid="ignore", over="ignore")  # non-finite data: the API names it
    def run(self, history, max_updates):
        tol = self.options.tol
        for row in range(min(len(history), max_updates)):
            new, (certificate, rounding), objective = self.at_y or self.from_point(self.y)
            self.at_y = None
            if not (np.isfinite(objective) and np.isfinite(certificate)):
                history[row] = (objective, np.nan, np.nan, np.nan)
                return row + 1, _layout.DIVERGED  # overflow: the API names it
            if np.sum((self.y - new) * (new - self.x)) > 0:
                t_new, momentum = 1.0, 0.0
            else:
                t_new = (1.0 + np.sqrt(1.0 + 4.0 * self.t * self.t)) / 2.0
                momentum = (self.t - 1.0) / t_new
            mapping_norm = scaled_norm(self.y - new) / self.step  # the gradient map's
            self.y = new + momentum * (new - self.x)
            self.x, self.t = new, t_new
            self.publish()
            self.end_epoch(history, row, objective, mapping_norm, self.step)
            if tol > 0 and certificate <= max(self.threshold, rounding):
                # Met at y, or y's gap is rounding: decide at the point returned, x
                # (one more pass). A gap that is only rounding but above tol's bound
                # MAX_CHECKS times: tol is beyond what the arithmetic can certify.
                self.at_y = self.from_point(self.x)
                self.check_ratio = self.ratio(self.at_y[1])
                if self.check_ratio <= 1:
                    return row + 1, _layout.CONVERGED
                if self.at_y[1][0] <= self.at_y[1][1]:
                    self.failed_checks += 1
                    if self.failed_checks == _layout.MAX_CHECKS:
                        return row + 1, _layout.UNCERTIFIED
                self.y, self.t = self.x.copy(), 1.0  # go on from x, momentum restarted
        return min(len(history), max_updates), _layout.MAX_ITER

    def data_ratio(self, grad_W, grad_b, loss, W):
        """The certificate computed on the data (working layout), over its bound."""
        g = np.hstack([grad_W, grad_b[:, None]])
        if not self.options.fit_intercept:
            g[:, -1] = 0.0
        return self.ratio(self.certificate(g, loss, W))


# The rounding error of a duality gap or a squared gradient is taken as this many
# units of rounding of the terms it sums (the gradient's sums are blocked: their
# error grows far slower than with the number of rows).
ROUNDING = 16


def duality_gap(W, centred, loss, g_intercept, l1, l2, eps, gradient_error):
    """An upper bound on the objective's distance to its minimum, at W (the penalized
    columns), for ``loss(W, b) + l1 ||W||_1 + l2 / 2 ||W||^2``; ``centred``: the
    loss's gradient in W with the residuals centred (``G_W - g_b mean(X)``, G_W
    itself without an intercept), ``g_intercept`` its gradient along the intercept.

    The intercept's share is ``g_b^2 / 2`` (the loss falls by that much when b moves
    to its best; the Hessian's intercept entry is 1). For the rest, the primal value
    minus a dual one (Fenchel), with the centred residuals r_c (R2 = mean r_c^2,
    ``g = X_c.T r_c / N``) scaled as a dual point:

    * ``c = min(1, l1 / max |g + l2 W|)`` (scikit-learn's Lasso and ElasticNet gap,
      ``enet_coordinate_descent``): ``(1 - c)^2 R2 / 2 + l1 ||W||_1 + c g.W
      + l2 (1 + c^2) / 2 ||W||^2``;
    * with l2 > 0 the residuals themselves (no scaling needed: the dual has no
      constraint): ``sum_j h(W_j) + h*(-g_j) + g_j W_j``, ``h(w) = l1 |w| + l2 w^2 / 2``,
      ``h*(v) = max(|v| - l1, 0)^2 / (2 l2)``; this one is 0 at the optimum, the
      first only as l2 -> 0.

    Both are valid; the smaller is returned, with its rounding error: ``ROUNDING *
    eps`` times the magnitudes of the terms it cancels, and the error of the
    gradient's entries (``gradient_error``, per column) times |W|."""
    intercept_part = 0.5 * float(g_intercept @ g_intercept)
    R2 = max(2.0 * loss - 2.0 * intercept_part, 0.0)
    absolute, inner = np.abs(W).sum(), float(np.sum(centred * W))
    # (without an L2 part, no ||W||^2: near float64's largest coefficients it overflows)
    square = float(np.sum(W * W)) if l2 > 0 else 0.0
    largest = float(np.max(np.abs(centred + l2 * W), initial=0.0))
    c = 1.0 if largest <= l1 else l1 / largest
    products = float(np.sum(np.abs(centred * W)))
    terms = (0.5 * (1 - c) ** 2 * R2, l1 * absolute, c * inner, 0.5 * l2 * (1 + c * c) * square)
    gap, magnitude = sum(terms), sum(abs(t) for t in terms[:3]) + terms[3]
    if l2 > 0:
        excess = np.maximum(np.abs(centred) - l1, 0.0)
        terms = (
            l1 * absolute,
            0.5 * l2 * square,
            inner,
            float(np.sum(excess * excess)) / (2.0 * l2),
        )
        if sum(terms) < gap:
            gap, magnitude = sum(terms), l1 * absolute + 0.5 * l2 * square + products
    rounding = ROUNDING * (eps * magnitude + float(np.sum(np.abs(W) * gradient_error)))
    return intercept_part + max(gap, 0.0), rounding


def largest_eigenvalue(product, v, rtol, max_iter, upper):
    """Power iteration for the largest eigenvalue of a symmetric positive semidefinite
    matrix given by ``product(v)``, from ``v``: its Rayleigh quotient, which never
    overestimates it and grows monotonically to it, until it changes by less than
    ``rtol`` or after ``max_iter`` products; with ``upper``, plus the residual norm
    ``||H v - (v.H v) v||``, which bounds from above the eigenvalue that v
    approximates. Non-finite products (non-finite data) return the non-finite value
    for the caller to name."""
    estimate = residual = 0.0
    for _ in range(max_iter):
        norm = scaled_norm(v)  # v ~ L**k unnormalised: a norm that cannot overflow
        if norm == 0.0:
            return 0.0  # H v = 0
        if not np.isfinite(norm):
            return norm
        v = v / norm
        hv = product(v)
        with np.errstate(invalid="ignore", over="ignore"):
            previous, estimate = estimate, float(v @ hv)
        if not np.isfinite(estimate):
            return estimate
        residual = scaled_norm(hv - estimate * v)
        if abs(estimate - previous) <= rtol * estimate:
            break
        v = hv
    return estimate + residual if upper else estimate


def hessian_max_eigenvalue(
    backend,
    X,
    x_is_f,
    fit_intercept,
    rtol=1e-4,
    max_iter=100,
    upper=False,
    n_threads=None,
    sample_weight=None,
):
    """Estimate L, the largest eigenvalue of the Hessian of the half-MSE objective.

    The Hessian is ``H = A.T @ A / N`` with ``A = [X, 1]`` (``A = X`` without an
    intercept); it is the same for every target. Power iteration needs only
    products ``H @ v``: ``backend.hessian_product``, one pass over X.

    The Rayleigh quotient ``v.H v`` of power iteration never overestimates L and
    increases monotonically to it; iterations stop when it changes by less than
    ``rtol`` or after ``max_iter`` products. For ``lr="auto"`` a rough estimate is
    enough (1/L_estimate stays below 2/L while the estimate is above L/2). With
    ``upper=True`` the result is the Rayleigh quotient plus the residual norm
    ``||H v - (v.H v) v||``, which bounds the eigenvalue that v approximates from
    above: the conservative value to report as a stability limit.
    """
    n_features, dtype = X.shape[1], X.dtype

    def product(v):
        grad_W, grad_b, _ = backend.hessian_product(
            X, v[None, :-1].astype(dtype), v[-1:].astype(dtype), x_is_f, n_threads, sample_weight
        )
        return np.concatenate([grad_W[0], grad_b if fit_intercept else [0.0]])

    v = np.random.default_rng(0).standard_normal(n_features + 1)  # reproducible
    if not fit_intercept:
        v[-1] = 0.0
    return largest_eigenvalue(product, v, rtol, max_iter, upper)
