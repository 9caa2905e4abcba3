"""The public functions: validate -> cast -> dispatch, once per call.

``fit`` and ``gradient`` check their arguments (``_validation.py``), pick a backend
(``_backends.py``) and call its kernel; all iterations of a fit run inside the
kernel. Nothing here loops over data.
"""

import math
import warnings
from dataclasses import dataclass

import numpy as np

from . import _reference
from ._backends import get_backend
from ._gram import choose_solver, gram_matrix, gram_problem
from ._validation import (
    check_backend,
    check_coef,
    check_finite,
    check_fit_intercept,
    check_intercept,
    check_lr,
    check_max_iter,
    check_momentum,
    check_n_threads,
    check_penalty,
    check_sample_weight,
    check_solver,
    check_tol,
    check_X,
    check_y,
)


class DivergenceError(FloatingPointError):
    """Gradient descent diverged: the learning rate is too large for this data."""


class ConvergenceWarning(UserWarning):
    """The fit stopped at max_iter before meeting its tolerance."""


@dataclass(frozen=True)
class FitResult:
    """What :func:`fastgd.fit` returns.

    Attributes
    ----------
    coef : ndarray of shape (n_features,) or (n_targets, n_features)
        Fitted coefficients W, in X's float dtype.
    intercept : float or ndarray of shape (n_targets,)
        Fitted intercept b (a NumPy scalar for 1-D y), in X's float dtype.
    loss_history : ndarray of shape (n_iter,), float64
        ``loss_history[t]`` is half the mean squared error at the start of
        iteration ``t``, before its update.
    n_iter : int
        Number of iterations run (updates applied).
    converged : bool
        True if the tolerance was met before ``max_iter``.
    backend : str
        The backend that ran the fit.
    lr : float
        The learning rate used (the estimated 1/L when ``lr="auto"``).
    solver : str
        ``"stream"`` or ``"gram"``: the solver that ran (``"auto"`` resolved).
    """

    coef: np.ndarray
    intercept: object
    loss_history: np.ndarray
    n_iter: int
    converged: bool
    backend: str
    lr: float
    solver: str


def _prepare(X, y, coef, intercept, coef_name, intercept_name):
    """Validate and cast the data and coefficients for a kernel call."""
    X, x_is_f = check_X(X)
    Y, y_is_1d = check_y(y, X.shape[0], X.dtype)
    n_targets, n_features = Y.shape[1], X.shape[1]
    W = check_coef(coef, n_targets, n_features, y_is_1d, X.dtype, coef_name)
    b = check_intercept(intercept, n_targets, y_is_1d, X.dtype, intercept_name)
    return X, x_is_f, Y, y_is_1d, W, b


def _check_inputs_finite(X, Y, y_is_1d, **starting_point):
    """Raise ValueError naming the first argument that holds NaN or inf.

    Called only after a kernel returned something non-finite (see _validation.py):
    valid input costs no pass of its own. ``starting_point`` maps argument names
    (coef_init, intercept, ...) to the caller's values."""
    check_finite(X, "X")
    check_finite(Y[:, 0] if y_is_1d else Y, "y")  # indices as the caller's y has them
    for name, value in starting_point.items():
        if value is not None:
            check_finite(np.asarray(value, dtype=np.float64), name)


def _raise_for_non_finite(X, Y, y_is_1d, what, **starting_point):
    """A kernel returned a non-finite ``what``: name the NaN or inf in the inputs
    (the usual cause), else report the overflow."""
    _check_inputs_finite(X, Y, y_is_1d, **starting_point)
    raise FloatingPointError(
        f"the {what} overflowed in {X.dtype} although X and y are finite: their values "
        f"are too large for this dtype (largest |X| = {np.abs(X).max():.3g}, largest |y| = "
        f"{np.abs(Y).max():.3g}); rescale them."
    )


def _shape_like_y(W, b, y_is_1d):
    """(K, D) and (K,) kernel arrays -> the user's shapes (coef (D,), scalar b for 1-D y)."""
    return (W[0], b[0]) if y_is_1d else (W, b)


def hessian_max_eigenvalue(backend, X, x_is_f, fit_intercept, rtol=1e-4, max_iter=100,
                           upper=False, n_threads=None, sample_weight=None):
    """Estimate L, the largest eigenvalue of the Hessian of the half-MSE objective.

    The Hessian is ``H = A.T @ A / N`` with ``A = [X, 1]`` (``A = X`` without an
    intercept); it is the same for every target. Power iteration needs only
    products ``H @ v``, and the fused gradient kernel computes exactly that when
    called with ``Y = 0``, ``W = v`` and ``b = v_b``: ``G_W = (X v + v_b).T X / N``
    and ``g_b = mean(X v + v_b)``. The zero target is a stride-0 view: no N-sized
    array is allocated.

    The Rayleigh quotient ``v.H v`` of power iteration never overestimates L and
    increases monotonically to it; iterations stop when it changes by less than
    ``rtol`` or after ``max_iter`` products. For ``lr="auto"`` a rough estimate is
    enough (1/L_estimate stays below 2/L while the estimate is above L/2). With
    ``upper=True`` the result is the Rayleigh quotient plus the residual norm
    ``||H v - (v.H v) v||``, which bounds the eigenvalue that v approximates from
    above: the conservative value to report as a stability limit.
    """
    n_samples, n_features = X.shape
    dtype = X.dtype
    zeros_y = np.broadcast_to(np.zeros((1, 1), dtype=dtype), (n_samples, 1))
    rng = np.random.default_rng(0)  # fixed start: the estimate is reproducible
    v = rng.standard_normal(n_features + 1)
    if not fit_intercept:
        v[-1] = 0.0
    estimate = residual = 0.0
    for _ in range(max_iter):
        norm = np.linalg.norm(v)
        if norm == 0.0:
            return 0.0  # H v = 0: X is all zeros (and no intercept)
        v /= norm
        W = v[None, :-1].astype(dtype)
        b = v[-1:].astype(dtype)
        grad_W, grad_b, _ = backend.gradient(X, zeros_y, W, b, x_is_f, n_threads,
                                             sample_weight)
        hv = np.concatenate([grad_W[0], grad_b if fit_intercept else [0.0]])
        with np.errstate(invalid="ignore", over="ignore"):  # non-finite data: see below
            previous, estimate = estimate, float(v @ hv)
        if not np.isfinite(estimate):
            return estimate  # non-finite data: the caller finds out which
        residual = float(np.linalg.norm(hv - estimate * v))
        if abs(estimate - previous) <= rtol * estimate:
            break
        v = hv
    return estimate + residual if upper else estimate


def _divergence_error(backend, X, x_is_f, fit_intercept, lr, n_iter, loss_history, l2=0.0,
                      sample_weight=None):
    L = hessian_max_eigenvalue(
        backend, X, x_is_f, fit_intercept, rtol=1e-10, max_iter=500, upper=True,
        sample_weight=sample_weight,
    ) + l2
    return DivergenceError(
        f"gradient descent diverged at iteration {n_iter} with lr={lr:.6g}: the loss went "
        f"from {loss_history[0]:.6g} (lowest {np.nanmin(loss_history):.6g}) to "
        f"{loss_history[-1]:.6g}. The largest stable learning rate for this data is "
        f"2/L = {2 / L:.6g} (L = {L:.6g}, the largest eigenvalue of the Hessian). Use a "
        f"smaller lr, lr='auto', or standardise the features."
    )


def _loss_rose(loss_history):
    """True if the loss clearly rose from its minimum: proof of an unstable lr.

    With lr < 2/L the loss of gradient descent on a quadratic never increases, up to
    rounding. A rise to twice the lowest loss that is also more than 1e-6 of the
    starting loss is far above any rounding noise (the second condition covers fits
    whose lowest loss is itself rounding noise, as on noise-free data).
    """
    lowest = loss_history.min()
    rise = loss_history[-1] - lowest
    return loss_history[-1] > 2 * lowest and rise > 1e-6 * loss_history[0]


def fit(
    X,
    y,
    *,
    lr="auto",
    max_iter=1000,
    tol=1e-6,
    fit_intercept=True,
    coef_init=None,
    intercept_init=None,
    backend="auto",
    n_threads=None,
    solver="auto",
    penalty=None,
    alpha=1e-4,
    l1_ratio=0.15,
    momentum=0.0,
    nesterov=False,
    sample_weight=None,
):
    """Fit a linear model by full-batch gradient descent on half the mean squared error.

    Minimises ``L(W, b) = sum((X @ W.T + b - Y) ** 2) / (2 N)`` with the update
    ``W -= lr * G_W``, ``b -= lr * g_b``, where ``R = X @ W.T + b - Y``,
    ``G_W = R.T @ X / N`` and ``g_b = R.mean(axis=0)``. All iterations run inside
    compiled code; each reads X once.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Training data. float32 and float64 are used as they are (C or Fortran
        order, read-only arrays and memmaps included); integers are converted to
        float64 and other inputs copied, with a ``fastgd.CopyWarning``.
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
        Targets, cast to X's dtype.
    lr : "auto" or float, default="auto"
        Learning rate. ``"auto"`` uses ``1 / L`` where L is the largest eigenvalue of
        the Hessian (``X.T @ X / N``, with the intercept column when
        ``fit_intercept``), estimated by power iteration; with it the fit cannot
        diverge. A float is used as given; a fit is stable only for ``lr < 2 / L``.
    max_iter : int, default=1000
        Maximum number of iterations (full passes over X).
    tol : float, default=1e-6
        Stop after the first iteration ``t`` whose gradient norm
        ``sqrt(||G_W||^2 + ||g_b||^2)`` (over the fitted coefficients) is at most
        ``tol`` times the larger of the gradient norms at the starting point and at
        the zero model (W = 0, b = 0); without coef_init and intercept_init the two
        are the same point. Since the gradient norm never increases along a
        stable gradient-descent path on this quadratic, the returned coefficients
        satisfy the bound too. ``tol=0`` runs all ``max_iter`` iterations and never
        warns.
    fit_intercept : bool, default=True
        Whether to fit b. When False, b stays at ``intercept_init`` (default 0).
    coef_init : array-like of shape (n_features,) or (n_targets, n_features), optional
        Starting coefficients (default zeros). Never modified.
    intercept_init : float or array-like of shape (n_targets,), optional
        Starting intercept (default 0). Never modified.
    backend : {"auto", "numba", "cython", "numpy"}, default="auto"
        Which kernels run the fit. ``"auto"`` takes the first of
        :func:`fastgd.available_backends`.
    n_threads : int, optional
        Threads for the compiled kernels. None uses all that are allowed: Numba's
        ``numba.get_num_threads()`` (NUMBA_NUM_THREADS, ``numba.set_num_threads``)
        or OpenMP's ``omp_get_max_threads()`` (OMP_NUM_THREADS, threadpoolctl's
        limits); a larger number is capped at that. Problems under about 10^5
        multiply-adds per iteration run on one thread. Results are bitwise the same
        for every thread count.
    solver : {"auto", "stream", "gram"}, default="auto"
        ``"stream"`` reads X once per iteration with the fused kernel. ``"gram"``
        reads X once, forms the Gram matrix of ``[X, 1, y]`` in float64 and runs
        every iteration on an equivalent problem of D + 1 + K rows (same loss and
        gradient, O((D + K)^2 K) per iteration; see ``fastgd/_gram.py``). The
        iterates are the same up to rounding; forming the Gram matrix squares the
        condition number, as the normal equations do. ``"auto"`` picks gram when
        its estimated cost, one pass plus the small iterations, is below
        ``max_iter`` streaming passes (``fastgd._gram.choose_solver``).
    penalty : {None, "l2", "l1", "elasticnet"}, default=None
        Adds ``alpha * (l1_ratio * ||W||_1 + (1 - l1_ratio) / 2 * ||W||_2^2)`` to
        the objective (``l1_ratio`` is 1 for "l1" and 0 for "l2"); the intercept
        is never penalised. The scaling is scikit-learn's ElasticNet / Lasso /
        SGDRegressor one, so their ``alpha`` means the same here; ``Ridge(alpha=a)``
        is ``penalty="l2", alpha=a / N``. The L1 part is applied by its proximal
        step (soft-thresholding), so coefficients become exactly zero; ``tol`` then
        applies to the gradient map ``(W_t - W_t+1) / lr``, which is zero exactly
        at the optimum, and ``loss_history`` records the whole objective.
    alpha : float, default=1e-4
        Strength of the penalty (ignored when ``penalty=None``).
    l1_ratio : float, default=0.15
        The L1 share of an "elasticnet" penalty.
    momentum : float in [0, 1), default=0.0
        Heavy-ball momentum, as torch.optim.SGD: ``v = momentum * v + g`` and the
        step ``-lr * v``. On ill-conditioned data it cuts the number of iterations
        by up to the square root of the condition number (with momentum close to
        ``(sqrt(kappa) - 1) / (sqrt(kappa) + 1)``). The stopping test still uses
        the gradient at the current point. With momentum the loss may rise for a
        while, so only the kernel's non-finite / 1e4-fold bar detects divergence.
    nesterov : bool, default=False
        Nesterov's variant: the step ``-lr * (g + momentum * v)``.
    sample_weight : array-like of shape (n_samples,), optional
        Non-negative weights s: the objective becomes the weighted half MSE
        ``sum_i s_i ||x_i W.T + b - y_i||^2 / (2 sum(s))`` (integer weights are the
        same as repeating rows). Cast to X's dtype; never modified.

    Returns
    -------
    FitResult
        ``coef``, ``intercept``, ``loss_history``, ``n_iter``, ``converged``,
        ``backend`` and ``lr``.

    Raises
    ------
    DivergenceError
        If the loss becomes non-finite or blows up (lr too large). The message
        gives the iteration and the largest stable learning rate, 2/L.

    Warns
    -----
    ConvergenceWarning
        If ``tol > 0`` and the tolerance is not met within ``max_iter``.

    Examples
    --------
    >>> import numpy as np
    >>> import fastgd
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [2.0, 1.0]])
    >>> y = X @ np.array([2.0, -1.0]) + 0.5
    >>> result = fastgd.fit(X, y, max_iter=5000, tol=1e-10)
    >>> np.round(result.coef, 6), round(float(result.intercept), 6), result.converged
    (array([ 2., -1.]), 0.5, True)
    """
    lr = check_lr(lr)
    max_iter = check_max_iter(max_iter)
    tol = check_tol(tol)
    fit_intercept = check_fit_intercept(fit_intercept)
    n_threads = check_n_threads(n_threads)
    solver = check_solver(solver)
    l1, l2 = check_penalty(penalty, alpha, l1_ratio)
    momentum, nesterov = check_momentum(momentum, nesterov)
    backend = get_backend(check_backend(backend))
    X, x_is_f, Y, y_is_1d, W, b = _prepare(
        X, y, coef_init, intercept_init, "coef_init", "intercept_init"
    )
    n_penalized = X.shape[1]  # W's own columns, never the intercept (even in gram mode)
    sample_weight = check_sample_weight(sample_weight, X.shape[0], X.dtype)
    if solver == "auto":
        solver = choose_solver(X.shape[0], X.shape[1], Y.shape[1], max_iter)
    user_X, user_Y, user_W, user_b, user_fit_intercept = X, Y, W, b, fit_intercept
    if solver == "gram":
        # The same iterations on the compressed problem, the intercept as its last
        # coefficient (see _gram.py); from here on, X, Y, W, b are that problem's.
        G = gram_matrix(X, Y, b, fit_intercept, sample_weight)
        if not np.isfinite(G).all():
            _raise_for_non_finite(X, Y, y_is_1d, "Gram matrix")
        total_weight = X.shape[0] if sample_weight is None else sample_weight.sum(dtype=float)
        X, Y = gram_problem(G, total_weight, Y.shape[1])
        sample_weight = None  # absorbed into the compressed problem
        x_is_f = False
        W = np.hstack([W, b[:, None]] if fit_intercept else [W]).astype(np.float64)
        b = np.zeros(Y.shape[1])
        fit_intercept = False

    step = lr
    if lr == "auto":
        L = hessian_max_eigenvalue(backend, X, x_is_f, fit_intercept, n_threads=n_threads,
                                   sample_weight=sample_weight)
        if not np.isfinite(L):
            _raise_for_non_finite(user_X, user_Y, y_is_1d, "largest eigenvalue of the Hessian")
        L += l2  # the L2 term adds l2 to the Hessian's W block: a safe bound
        step = 1.0 / L if L > 0 else 1.0

    ref_grad_norm2 = 0.0
    if tol > 0 and (coef_init is not None or (fit_intercept and intercept_init is not None)):
        # tol is relative to the larger of the gradient norms at the start and at the
        # zero model (W = 0, and b = 0 when it is fitted): a fit started at or near the
        # solution then still has a meaningful scale. One extra pass over X.
        zero_W = np.zeros_like(W)
        zero_b = np.zeros_like(b) if fit_intercept else b
        grad_W, grad_b, _ = backend.gradient(X, Y, zero_W, zero_b, x_is_f, n_threads,
                                             sample_weight)
        _, mapping = _reference.proximal_step(zero_W.astype(np.float64), grad_W, step,
                                              l1, l2, n_penalized)
        ref_grad_norm2 = float(np.sum(mapping**2) + (np.sum(grad_b**2) if fit_intercept else 0.0))

    n_iter, status, loss_history = backend.fit(
        X, Y, W, b, x_is_f, step, max_iter, tol, ref_grad_norm2, fit_intercept, n_threads,
        l1, l2, n_penalized, momentum, nesterov, sample_weight,
    )

    diverged = status == _reference.DIVERGED or not (
        np.isfinite(W).all() and np.isfinite(b).all()
    )
    # A float lr a little above 2/L can grow the loss too slowly to trip the kernel's
    # bar within max_iter; a clear rise of the loss is proof enough.
    # (Momentum lets the loss rise and fall: there, only the kernel's bar counts.)
    diverged = diverged or (
        status == _reference.MAX_ITER and momentum == 0 and _loss_rose(loss_history)
    )
    if diverged:
        # NaN or inf in the inputs look like divergence to the kernel.
        _check_inputs_finite(user_X, user_Y, y_is_1d, coef_init=coef_init,
                             intercept_init=intercept_init)
        raise _divergence_error(backend, X, x_is_f, fit_intercept, step, n_iter, loss_history,
                                l2, sample_weight)

    converged = status == _reference.CONVERGED
    if not converged and tol > 0:
        warnings.warn(
            f"fastgd.fit did not converge in max_iter={max_iter} iterations: the gradient "
            f"norm is still above tol={tol:g} times its reference value (see fit's tol). "
            f"Increase max_iter or tol, or standardise the features.",
            ConvergenceWarning,
            stacklevel=2,
        )
    if solver == "gram":
        n_features = user_W.shape[1]
        user_W[...] = W[:, :n_features]
        if user_fit_intercept:
            user_b[...] = W[:, n_features]
        W, b = user_W, user_b
    coef, intercept = _shape_like_y(W, b, y_is_1d)
    return FitResult(
        coef, intercept, loss_history, n_iter, converged, backend.name, step, solver
    )


def gradient(X, y, coef, intercept=0.0, *, backend="auto", n_threads=None,
             sample_weight=None):
    """Gradient and loss of half the mean squared error at one point, in one pass over X.

    With ``R = X @ coef.T + intercept - y``: ``grad_coef = R.T @ X / N``,
    ``grad_intercept = R.mean(axis=0)`` and ``loss = sum(R ** 2) / (2 N)``. The
    building block for writing your own optimisation loop.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data; see :func:`fastgd.fit` for accepted dtypes and layouts.
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
        Targets.
    coef : array-like of shape (n_features,) or (n_targets, n_features)
        Point at which to evaluate (the shape of ``fit(...).coef``).
    intercept : float or array-like of shape (n_targets,), default=0.0
        Intercept at which to evaluate.
    backend : {"auto", "numba", "cython", "numpy"}, default="auto"
        Which kernels compute it.
    n_threads : int, optional
        Threads for the compiled kernels; see :func:`fastgd.fit`.
    sample_weight : array-like of shape (n_samples,), optional
        Weights of the weighted half MSE; see :func:`fastgd.fit`.

    Returns
    -------
    grad_coef : ndarray, same shape as coef, in X's float dtype
    grad_intercept : scalar for 1-D y, else ndarray of shape (n_targets,)
    loss : float
        Accumulated in float64 whatever X's dtype.

    Examples
    --------
    >>> import numpy as np
    >>> import fastgd
    >>> X = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> y = np.array([1.0, 2.0])
    >>> g_coef, g_intercept, loss = fastgd.gradient(X, y, np.zeros(2))
    >>> g_coef, float(g_intercept), loss
    (array([-3.5, -5. ]), -1.5, 1.25)
    """
    if coef is None:
        raise TypeError("coef is required: the point at which to evaluate the gradient.")
    n_threads = check_n_threads(n_threads)
    backend = get_backend(check_backend(backend))
    X, x_is_f, Y, y_is_1d, W, b = _prepare(X, y, coef, intercept, "coef", "intercept")
    sample_weight = check_sample_weight(sample_weight, X.shape[0], X.dtype)
    grad_W, grad_b, loss = backend.gradient(X, Y, W, b, x_is_f, n_threads, sample_weight)
    if not math.isfinite(loss):
        _raise_for_non_finite(X, Y, y_is_1d, "loss", coef=coef, intercept=intercept)
    grad_coef, grad_intercept = _shape_like_y(grad_W.astype(X.dtype), grad_b.astype(X.dtype), y_is_1d)
    return grad_coef, grad_intercept, float(loss)
