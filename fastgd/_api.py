"""The public functions: validate -> cast -> dispatch.

``fit`` and ``gradient`` check their arguments (``_validation.py``) once, pick a
backend (``_backends.py``) and call its kernel. Every update of a fit runs inside the
kernel, which returns to Python between segments of bounded work
(``SEGMENT_WORK``) for the callback, the progress bar and Ctrl-C, and resumes from
its state. Nothing here loops over data.
"""

import math
import warnings
from dataclasses import dataclass

import numpy as np

from . import _reference
from ._accelerated import ConjugateGradient, Fista, StandardizedCoordinates, scaled_norm
from ._backends import FitOptions, Optimizer, _training_weights, get_backend
from ._gram import choose_solver, compressed_problem
from ._validation import (
    check_backend,
    check_batch_size,
    check_callback,
    check_early_stopping,
    check_random_state,
    check_schedule,
    check_shuffle,
    check_verbose,
    check_coef,
    check_finite,
    check_fit_intercept,
    check_intercept,
    check_lr,
    check_max_iter,
    check_method,
    check_momentum,
    check_n_threads,
    check_penalty,
    check_sample_weight,
    check_solver,
    check_tol,
    check_X,
    check_y,
    user_stacklevel,
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
        ``loss_history[t]`` is the objective at the start of iteration ``t``,
        before its update (with mini-batches: the epoch's loss, see
        ``history``).
    history : dict of ndarray of shape (n_iter,)
        One entry per epoch: ``"loss"`` (``loss_history``: the objective; with
        mini-batches, that of each mini-batch at the point its update started,
        weighted by its share of the rows), ``"grad_norm"`` (the norm of the
        gradient map; with mini-batches, the root mean square over the epoch's
        updates), ``"lr"`` (the step of the epoch's last update) and, with
        early stopping, ``"validation_loss"`` (at the end of the epoch).
    n_iter : int
        Number of epochs run (iterations, with a full batch).
    converged : bool
        True if the tolerance was met before ``max_iter``.
    backend : str
        The backend that ran the fit.
    lr : float
        The learning rate used (the estimated 1/L when ``lr="auto"``; with
        ``method="cg"``, the step of its first iteration along the gradient).
    solver : str
        ``"stream"`` or ``"gram"``: the solver that ran (``"auto"`` resolved).
    method : str
        ``"cg"``, ``"fista"`` or ``"gd"``: the method that ran (``"auto"`` resolved).
    """

    coef: np.ndarray
    intercept: object
    loss_history: np.ndarray
    history: dict
    n_iter: int
    converged: bool
    backend: str
    lr: float
    solver: str
    method: str


def _prepare(X, y, coef, intercept, coef_name, intercept_name):
    """Validate and cast the data and coefficients for a kernel call."""
    X, x_is_f = check_X(X)
    Y, y_is_1d = check_y(y, X.shape[0], X.dtype)
    n_targets, n_features = Y.shape[1], X.shape[1]
    W = check_coef(coef, n_targets, n_features, y_is_1d, X.dtype, coef_name)
    b = check_intercept(intercept, n_targets, y_is_1d, X.dtype, intercept_name)
    return X, x_is_f, Y, y_is_1d, W, b


def _check_point_finite(W, b, y_is_1d, coef_name, intercept_name):
    """Raise ValueError naming NaN or inf in the (cast) starting point or point of
    evaluation, indexed as the caller's arrays are."""
    coef, intercept = _shape_like_y(W, b, y_is_1d)
    check_finite(coef, coef_name)
    check_finite(np.atleast_1d(intercept), intercept_name)


def _check_inputs_finite(data):
    """Raise ValueError naming the first input that holds NaN or inf (``data``: a
    ``_Data``, or anything with its X, Y and y_is_1d).

    Called only after a kernel returned something non-finite (see _validation.py):
    valid input costs no pass of its own. (The starting point and the weights are
    small and are checked when they are validated.)"""
    check_finite(data.X, "X")
    check_finite(data.Y[:, 0] if data.y_is_1d else data.Y, "y")  # indices as the caller's y


def _raise_for_non_finite(data, what):
    """A computation returned a non-finite ``what``: name the NaN or inf in the inputs
    (the usual cause), else report the overflow."""
    _check_inputs_finite(data)
    X, Y = data.X, data.Y
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
        norm = scaled_norm(v)  # v ~ L**k unnormalised: a norm that cannot overflow
        if norm == 0.0:
            return 0.0  # H v = 0: X is all zeros (and no intercept)
        if not np.isfinite(norm):
            return norm  # non-finite data: the caller finds out which
        v /= norm
        W = v[None, :-1].astype(dtype)
        b = v[-1:].astype(dtype)
        grad_W, grad_b, _ = backend.gradient(X, zeros_y, W, b, x_is_f, n_threads,
                                             sample_weight)
        hv = np.concatenate([grad_W[0], grad_b if fit_intercept else [0.0]])
        with np.errstate(invalid="ignore", over="ignore"):  # non-finite data: see below
            previous, estimate = estimate, float(v @ hv)
        if not np.isfinite(estimate):
            return estimate  # non-finite data (or X above ~1e154): the caller says which
        residual = scaled_norm(hv - estimate * v)
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
    method="auto",
    penalty=None,
    alpha=1e-4,
    l1_ratio=0.15,
    momentum=0.0,
    nesterov=False,
    sample_weight=None,
    batch_size=None,
    shuffle=True,
    random_state=None,
    schedule="constant",
    power_t=0.25,
    early_stopping=False,
    validation_fraction=0.1,
    n_iter_no_change=5,
    callback=None,
    verbose=0,
):
    """Fit a linear model by gradient methods on half the mean squared error.

    Minimises ``L(W, b) = sum((X @ W.T + b - Y) ** 2) / (2 N)``, where ``R = X @ W.T
    + b - Y``, ``G_W = R.T @ X / N`` and ``g_b = R.mean(axis=0)``. By default
    (full batch, ``lr="auto"``) with conjugate gradients, which choose every step
    themselves (``method``); with a float ``lr``, by plain gradient descent ``W -=
    lr * G_W``, ``b -= lr * g_b``, exactly as given; over mini-batches with
    ``batch_size``. Each iteration reads X once (or, with the Gram solver, a small
    compressed problem), in compiled code that returns to Python at least every
    ~0.1 s of work (so Ctrl-C, ``callback`` and ``verbose`` act within a fraction of
    a second).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Training data. float32 and float64 are used as they are (C or Fortran
        order, read-only arrays and memmaps included); integers are converted to
        float64 and other inputs copied, with a ``fastgd.CopyWarning``.
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
        Targets, cast to X's dtype.
    lr : "auto" or float, default="auto"
        Learning rate of gradient descent (and FISTA). ``"auto"`` uses ``1 / L``
        where L is the largest eigenvalue of the Hessian (``X.T @ X / N``, with the
        intercept column when ``fit_intercept``), estimated by power iteration; with
        it the fit cannot diverge. A float is used as given, and selects plain
        gradient descent (``method="auto"``); it is stable only for ``lr < 2 / L``.
        Conjugate gradients need no lr.
    max_iter : int, default=1000
        Maximum number of epochs (passes over the training rows; with a full batch,
        an epoch is one iteration).
    tol : float, default=1e-6
        The stopping tolerance; ``tol=0`` runs all ``max_iter`` epochs (unless
        ``early_stopping`` or the ``"adaptive"`` schedule stops the fit) and never
        warns. Its meaning depends on what a test
        can see:

        *Full batch, no early stopping* (the default): the fit has converged when
        the gradient norm ``sqrt(||G_W||^2 + ||g_b||^2)`` (over the fitted
        coefficients; with an L1 penalty, of the gradient map) *at the coefficients
        returned, computed on the data* is at most ``tol`` times the larger of the
        gradient norms at the starting point and at the zero model (W = 0, b = 0);
        without coef_init and intercept_init the two are the same point. The
        iterations stop when their own gradient meets the bound; then the gradient
        at the point returned is computed afresh from X (one more pass; CG and
        FISTA continue if it fails), so ``converged=True`` is a certificate. It
        bounds the error: the objective is within ``tol**2 * cond`` (relative) of
        its minimum and the coefficients within about ``tol * cond`` (cond: the
        condition number of the Hessian), down to float64's own limit (a tol of
        about 1e-15 cannot be certified on most data, and says so with a
        ConvergenceWarning).

        *Mini-batches, or early stopping*: a plateau test, as scikit-learn's SGD
        but relative (so independent of the scale of y). After each epoch, its
        score (the epoch's training loss, or with ``early_stopping`` the
        validation loss) *improves* if it is below ``(1 - tol)`` times the lowest
        score of the epochs before it; the fit stops after ``n_iter_no_change`` epochs in a row
        without improvement. (scikit-learn's ``tol`` is an absolute decrease of
        the loss, so the same number means different things in the two.)
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
        reads X once to compute, in float64, the triangular factor R of the QR
        factorization of ``[X, 1, y]`` (tall-skinny Householder QR: stable whatever
        the scales of X and y), and runs every iteration on that equivalent problem
        of D + 1 + K rows (same loss and gradient, O((D + K)^2 K) per iteration;
        see ``fastgd/_gram.py``); one more pass checks convergence on X itself.
        The iterates are the same up to rounding. ``"auto"`` picks gram when its
        estimated cost is below ``max_iter`` streaming passes
        (``fastgd._gram.choose_solver``).
    method : {"auto", "cg", "fista", "gd"}, default="auto"
        How a full batch iterates. ``"cg"``: conjugate gradients on the normal
        equations, every step and momentum chosen exactly for this quadratic (no
        lr, no parameter; at most about D + 1 iterations in exact arithmetic, a few
        times sqrt(cond) at most in practice); not with an L1 penalty. ``"fista"``:
        accelerated proximal gradient with adaptive restart (O'Donoghue & Candes
        2015) at the step 1/L; any penalty. ``"gd"``: (mini-batch) gradient descent
        with ``lr``, ``schedule`` and ``momentum``. ``"auto"`` runs "cg" (or
        "fista" with an L1 penalty) for a full batch with ``lr="auto"``, no
        momentum and the constant schedule, else "gd": so a float lr runs plain
        gradient descent, as given. See ``fastgd/_accelerated.py`` for why.
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
        Nesterov's variant: the step ``-lr * (g + momentum * v)``. With an L1
        penalty, momentum acts on the proximal step so that the solution stays a
        fixed point: heavy ball steps to ``prox(W - lr * (g + momentum * v))``
        (iPiano), Nesterov uses the gradient map in place of g (FISTA) and returns
        the proximal point of its last iterate, so that coefficients are exactly
        zero (``_reference.momentum_step``).
    sample_weight : array-like of shape (n_samples,), optional
        Non-negative weights s: the objective becomes the weighted half MSE
        ``sum_i s_i ||x_i W.T + b - y_i||^2 / (2 sum(s))`` (integer weights are the
        same as repeating rows). Cast to X's dtype; never modified.
    batch_size : int, optional
        None: full-batch gradient descent. An int: mini-batch gradient descent,
        one update per ``batch_size`` training rows (the last batch of an epoch
        may be smaller; 1 is the per-sample update of stochastic gradient
        descent). A mini-batch B updates with ``sum_B s_i r_i x_i / (|B| *
        mean(s))``, the unbiased estimate of the full gradient. A value of at
        least the number of training rows is a full batch.
    shuffle : bool, default=True
        With mini-batches, shuffle the training rows before each epoch (the same
        generator on every backend, seeded by ``random_state``).
    random_state : None, int, numpy.random.Generator or RandomState, optional
        Seeds the shuffling and the early-stopping split. An int gives bitwise
        the same result on every run, for every ``n_threads``; the compiled and
        NumPy backends then visit the rows in the same order and agree to
        rounding. None draws a fresh seed.
    schedule : {"constant", "invscaling", "adaptive"}, default="constant"
        The step of update ``t`` (t = 0, 1, ... counts updates, mini-batches
        included): ``"constant"``: ``lr``; ``"invscaling"``: ``lr / (1 + t) **
        power_t``; ``"adaptive"``: ``lr`` divided by 5 each time the epoch score
        (training or validation loss) has not improved for ``n_iter_no_change``
        epochs, the fit stopping once it is below ``1e-6 * lr``. "Improved" is in
        ``tol``'s sense with mini-batches or early stopping; with a full batch,
        whose loss decreases at every iteration of a stable step, it is any
        decrease (so the step shrinks only when it is too large). ``lr="auto"``
        gives the starting step in every case.
    power_t : float, default=0.25
        The exponent of ``"invscaling"`` (scikit-learn's SGD default).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows (chosen at random with
        ``random_state``), fit on the rest, and stop when the validation loss
        (half the weighted MSE) has not improved for ``n_iter_no_change`` epochs
        (see ``tol``). The returned coefficients are the last ones, and
        ``history["validation_loss"]`` records the validation loss per epoch.
    validation_fraction : float in (0, 1), default=0.1
        The held-out share, ``ceil(validation_fraction * n_samples)`` rows.
    n_iter_no_change : int, default=5
        Epochs without improvement before stopping (or, with ``"adaptive"``,
        before dividing the step).
    callback : callable, optional
        ``callback(iteration, coef, intercept, loss)`` is called after each epoch
        (the kernel returns to Python for it) with the number of epochs done,
        copies of the current coefficients and that epoch's loss; returning
        ``False`` stops the fit there (no warning; ``converged`` is False).
    verbose : int, default=0
        1 or more: a progress bar (tqdm, if installed; plain lines on stderr
        otherwise) with the epoch and the current loss.

    Returns
    -------
    FitResult
        ``coef``, ``intercept``, ``loss_history``, ``history``, ``n_iter``,
        ``converged``, ``backend``, ``lr``, ``solver`` and ``method``.

    Raises
    ------
    DivergenceError
        If the loss becomes non-finite or blows up (lr too large). The message
        gives the iteration and the largest stable learning rate, 2/L.
    FitInterrupted
        On Ctrl-C (a KeyboardInterrupt), within a fraction of a second: its
        ``result`` holds the coefficients reached and how far the fit got.

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
    result, _ = fit_resumable(
        X=X, y=y, lr=lr, max_iter=max_iter, tol=tol, fit_intercept=fit_intercept,
        coef_init=coef_init, intercept_init=intercept_init, backend=backend,
        n_threads=n_threads, solver=solver, method=method, penalty=penalty, alpha=alpha,
        l1_ratio=l1_ratio, momentum=momentum, nesterov=nesterov, sample_weight=sample_weight,
        batch_size=batch_size, shuffle=shuffle, random_state=random_state, schedule=schedule,
        power_t=power_t, early_stopping=early_stopping,
        validation_fraction=validation_fraction, n_iter_no_change=n_iter_no_change,
        callback=callback, verbose=verbose)
    return result


def _seed_and_order(random_state, n_samples, early_stopping, validation_fraction):
    """The generator's seed, the row order (training rows first) and n_train."""
    seed = check_random_state(random_state)
    order = np.arange(n_samples, dtype=np.int64)
    if not early_stopping:
        return seed, order, n_samples
    n_val = math.ceil(validation_fraction * n_samples)
    n_train = n_samples - n_val
    if n_train < 1:
        raise ValueError(
            f"early_stopping needs at least one training row: validation_fraction="
            f"{validation_fraction} of {n_samples} samples leaves none; use more samples "
            f"or a smaller validation_fraction."
        )
    # The split comes from its own stream of the seed: the shuffles draw from another.
    held_out = np.random.default_rng([seed, 1]).permutation(n_samples)[:n_val]
    is_val = np.zeros(n_samples, dtype=bool)
    is_val[held_out] = True
    # Sorted within each part: the full-batch gather then reads X front to back.
    return seed, np.concatenate([order[~is_val], order[is_val]]), n_train


def _minibatch_smoothness(X, fit_intercept, sample_weight):
    """L_max = max_i s_i / mean(s) * ||[x_i, 1]||^2: the largest curvature of one
    sample's term of the objective (1 stands for the intercept column)."""
    sq_norms = np.einsum("ij,ij->i", X, X, dtype=np.float64) + (1.0 if fit_intercept else 0.0)
    if sample_weight is not None:
        sq_norms *= sample_weight / np.mean(sample_weight, dtype=np.float64)
    return float(sq_norms.max())


def _auto_lr(backend, X, x_is_f, fit_intercept, n_threads, sample_weight, l2, batch_size,
             n_train, data, upper=False):
    """1 / L_B, L_B the expected smoothness of the mini-batch objective.

    Full batch: L, the largest eigenvalue of the Hessian (power iteration), so the
    fit cannot diverge; with ``upper`` (FISTA, whose step must not exceed 1/L) the
    estimate plus its residual, an upper bound. Mini-batches of size B drawn
    without replacement from n rows (Gower et al., 2019, "SGD: general analysis and
    improved rates", Prop. 3.8):
    ``L_B = n (B - 1) / (B (n - 1)) L + (n - B) / (B (n - 1)) L_max``, between L
    (B = n) and L_max (B = 1, where a step of 1/L_max moves at most onto each
    sample's least-squares hyperplane: the normalised LMS step).
    """
    L = hessian_max_eigenvalue(backend, X, x_is_f, fit_intercept, n_threads=n_threads,
                               sample_weight=sample_weight, upper=upper)
    if not np.isfinite(L):
        _raise_for_non_finite(data, "largest eigenvalue of the Hessian")
    if batch_size < n_train:
        L_max = _minibatch_smoothness(X, fit_intercept, sample_weight)
        B, n = batch_size, n_train
        L = n * (B - 1) / (B * (n - 1)) * L + (n - B) / (B * (n - 1)) * L_max
    L += l2  # the L2 term adds l2 to the Hessian's W block: a safe bound
    if L == 0:
        return 1.0  # X is all zeros: any step is stable
    step = 1.0 / L
    if not np.isfinite(step):
        raise FloatingPointError(
            f"the learning rate 1/L overflowed: the largest eigenvalue of the Hessian is "
            f"L = {L:.3g} (largest |X| = {np.abs(data.X).max():.3g}); rescale X.")
    return step


# Work the kernel does per call before it returns to Python, in multiply-adds:
# 0.005 to 0.1 s on one core here (mini-batches gathered from a Fortran-ordered X
# are the slowest per unit), so that Ctrl-C, callbacks and the progress bar act
# within a fraction of a second, while a return (~10 us) costs under 0.5%. An update
# counts its multiply-adds, the gather of its rows, and a fixed overhead of about
# UPDATE_OVERHEAD multiply-adds (zeroing and adding the partial sums, the step):
# what dominates a per-sample update. (One update is never split: a full-batch
# pass over a huge X returns only when it is done.)
SEGMENT_WORK = 1 << 24
UPDATE_OVERHEAD = 500


def _updates_per_call(batch_rows, validation_rows_per_update, n_features, n_targets):
    row_work = n_features * (n_targets + 1)  # the multiply-adds and the gather of a row
    work = (batch_rows + validation_rows_per_update) * row_work + 8 * n_features * n_targets
    return max(1, int(SEGMENT_WORK // (work + UPDATE_OVERHEAD)))


class FitInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a fit; ``result`` (a FitResult) holds where it got to.

    A KeyboardInterrupt, so code that does not know fastgd still stops."""

    def __init__(self, message, result):
        super().__init__(message)
        self.result = result


class _Progress:
    """verbose=1: a tqdm progress bar over the epochs, or plain lines without tqdm."""

    def __init__(self, max_iter, verbose):
        self.bar = self.last_line = None
        if not verbose:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            self.last_line = 0.0
            return
        self.bar = tqdm(total=max_iter, unit="epoch", desc="fastgd", leave=True)

    def update(self, n_done, loss):
        if self.bar is not None:
            self.bar.update(n_done - self.bar.n)
            self.bar.set_postfix(loss=f"{loss:.6g}", refresh=False)
        elif self.last_line is not None:
            import time

            self.pending = (n_done, loss)
            now = time.monotonic()
            if now - self.last_line >= 1.0:  # a line a second at most
                self.last_line = now
                self._print()

    def _print(self):
        import sys

        n_done, loss = self.pending
        self.pending = None
        print(f"fastgd: epoch {n_done}, loss {loss:.6g}", file=sys.stderr)

    def close(self):
        if self.bar is not None:
            self.bar.close()
        elif self.last_line is not None and getattr(self, "pending", None):
            self._print()  # the last epoch, whenever the previous line was


def fit_resumable(*, X, y, lr, max_iter, tol, fit_intercept, coef_init, intercept_init,
                  backend, n_threads, solver, method, penalty, alpha, l1_ratio, momentum,
                  nesterov, sample_weight, batch_size, shuffle, random_state, schedule,
                  power_t, early_stopping, validation_fraction, n_iter_no_change, callback,
                  verbose, optimizer=None):
    """fit, resuming from (and returning) an ``Optimizer``: GDRegressor.partial_fit.

    With ``optimizer`` (from an earlier call on data of the same width), the step,
    the schedule's time, the momentum and the random generator carry on from where
    they were; its divergence reference is reset (each call sees new data).
    Returns ``(FitResult, optimizer)``; the optimizer is None after a CG or FISTA fit
    (nothing of theirs carries over to gradient-descent steps).
    """
    lr = check_lr(lr)
    max_iter = check_max_iter(max_iter)
    tol = check_tol(tol)
    fit_intercept = check_fit_intercept(fit_intercept)
    n_threads = check_n_threads(n_threads)
    solver = check_solver(solver)
    method = check_method(method)
    l1, l2 = check_penalty(penalty, alpha, l1_ratio)
    momentum, nesterov = check_momentum(momentum, nesterov)
    batch_size = check_batch_size(batch_size)
    shuffle = check_shuffle(shuffle)
    schedule, power_t = check_schedule(schedule, power_t)
    early_stopping, validation_fraction, n_iter_no_change = check_early_stopping(
        early_stopping, validation_fraction, n_iter_no_change)
    callback = check_callback(callback)
    verbose = check_verbose(verbose)
    backend = get_backend(check_backend(backend))
    X, x_is_f, Y, y_is_1d, W, b = _prepare(
        X, y, coef_init, intercept_init, "coef_init", "intercept_init"
    )
    # Small: checked here, so that no kernel's non-finite loss blames X or y for them
    # (a NaN intercept_init held fixed made the Gram solver say "rescale X and y").
    _check_point_finite(W, b, y_is_1d, "coef_init", "intercept_init")
    n_samples, n_features = X.shape
    n_targets = Y.shape[1]
    n_penalized = n_features  # W's own columns, never the intercept (even in gram mode)
    sample_weight = check_sample_weight(sample_weight, n_samples, X.dtype)
    # Resuming (partial_fit), the optimiser has its generator: do not draw a seed from
    # the caller's Generator or RandomState for nothing.
    seed, order, n_train = _seed_and_order(random_state if optimizer is None else 0,
                                           n_samples, early_stopping, validation_fraction)
    batch_size = n_train if batch_size is None else min(batch_size, n_train)
    full_batch = batch_size == n_samples  # every row, in order: the Gram solver applies
    method = _resolve_method(method, full_batch, lr, momentum, schedule, l1,
                             optimizer is not None)
    if solver == "auto":
        solver = choose_solver(n_samples, n_features, n_targets, max_iter) if full_batch \
            else "stream"
    elif solver == "gram" and not full_batch:
        raise ValueError(
            "solver='gram' runs full-batch iterations on all rows: it cannot be combined "
            "with batch_size or early_stopping; use solver='stream' or 'auto'."
        )
    data = _Data(X, x_is_f, Y, y_is_1d, sample_weight)
    user_W, user_b, user_fit_intercept = W, b, fit_intercept
    if solver == "gram":
        # The same iterations on the compressed problem, the intercept as its last
        # coefficient (see _gram.py); from here on, X, Y, W, b are that problem's.
        R = backend.compress(X, Y, b, fit_intercept, sample_weight, x_is_f, n_threads)
        if not np.isfinite(R).all():
            _raise_for_non_finite(data, "triangular factor of [X, 1, y]")
        total_weight = n_samples if sample_weight is None else sample_weight.sum(dtype=float)
        X, Y = compressed_problem(R, total_weight, n_targets)
        sample_weight = None  # absorbed into the compressed problem
        x_is_f = False
        W = np.hstack([W, b[:, None]] if fit_intercept else [W]).astype(np.float64)
        b = np.zeros(n_targets)
        fit_intercept = False
        order = np.arange(X.shape[0], dtype=np.int64)
        n_train = batch_size = X.shape[0]

    def user_coefficients(W, b):
        """The working W, b as the caller's (K, D) coef and (K,) intercept (copies)."""
        if solver != "gram":
            return W.copy(), b.copy()
        coef = W[:, :n_features].astype(user_W.dtype)
        intercept = (W[:, n_features] if user_fit_intercept else user_b).astype(user_b.dtype)
        return coef, intercept

    _check_total_weights(X, sample_weight, order, n_train, early_stopping)
    if optimizer is None:
        step = lr
        if method == "cg":
            step = np.nan  # CG chooses every step itself
        elif lr == "auto":
            step = _auto_lr(backend, X, x_is_f, fit_intercept, n_threads, sample_weight, l2,
                            batch_size, n_train, data, upper=method == "fista")
        optimizer = Optimizer.new(step, n_targets, W.shape[1], seed)
    else:  # partial_fit: carry on where the previous call stopped
        optimizer.state[_reference.BATCH] = 0.0
        step = optimizer.lr
        if optimizer.iterate is not None:
            W[...] = optimizer.iterate  # the iterate, not the point returned
    if np.isnan(optimizer.state[_reference.FIRST_LOSS]) and batch_size < n_train:
        # The divergence bar's reference is the objective at the starting point. A
        # full batch's first epoch is that point; mini-batches move during their first
        # epoch, so take it here (one more pass over X, on the training rows).
        optimizer.state[_reference.FIRST_LOSS] = backend.gradient(
            X, Y, W, b, x_is_f, n_threads, _training_rows_weights(X, sample_weight, order,
                                                                  n_train))[2] + \
            _reference.penalty(W, l1, l2, n_penalized)

    # tol is relative to the larger of the gradient norms at the start and at the
    # zero model (W = 0, and b = 0 when it is fitted): a fit started at or near the
    # solution then still has a meaningful scale. One extra pass over X.
    zero_reference = tol > 0 and (coef_init is not None
                                  or (user_fit_intercept and intercept_init is not None))
    ref_grad_norm = 0.0
    if zero_reference and method != "cg":  # (CG measures it in its own coordinates)
        zero_W = np.zeros_like(W)
        zero_b = np.zeros_like(b) if fit_intercept else b
        grad_W, grad_b, _ = backend.gradient(X, Y, zero_W, zero_b, x_is_f, n_threads,
                                             sample_weight)
        ref_grad_norm = _gradient_map_norm(zero_W, grad_W, grad_b, step, l1, l2, n_penalized,
                                           fit_intercept)

    options = FitOptions(
        lr=step, schedule=schedule, power_t=power_t, tol=tol,
        n_iter_no_change=n_iter_no_change, early_stopping=early_stopping,
        ref_grad_norm2=ref_grad_norm**2, fit_intercept=fit_intercept, l1=l1, l2=l2,
        n_penalized=n_penalized, momentum=momentum, nesterov=nesterov, n_train=n_train,
        batch_size=batch_size, shuffle=shuffle,
    )
    n_batches = -(-n_train // batch_size)
    if method == "gd":
        stepper = _KernelSteps(backend, X, Y, W, b, x_is_f, sample_weight, order, options,
                               optimizer, n_threads)
        max_updates = _updates_per_call(batch_size, (X.shape[0] - n_train) / n_batches,
                                        X.shape[1], n_targets)
    elif method == "cg":
        coordinates = StandardizedCoordinates.of(
            X, sample_weight, fit_intercept,
            n_features if solver == "gram" and user_fit_intercept else None)
        stepper = ConjugateGradient((backend, X, Y, x_is_f, sample_weight, n_threads), W, b,
                                    optimizer, options, coordinates, zero_reference)
    else:
        stepper = Fista((backend, X, Y, x_is_f, sample_weight, n_threads), W, b, optimizer,
                        options, ref_grad_norm)
    if method != "gd":
        max_updates = 1  # one pass per call: each returns to Python anyway
    history = np.empty((min(max_iter, _HISTORY_ROWS), _reference.N_HISTORY))
    n_iter, status, stopped_by_callback = 0, _reference.MAX_ITER, False
    first_epoch = int(optimizer.state[_reference.EPOCH])
    full_batch_tol = n_batches == 1 and not early_stopping
    progress = _Progress(max_iter, verbose)
    retries = 0
    while True:
        try:
            history, n_iter, status, stopped_by_callback = _run_epochs(
                stepper, max_updates, history, n_iter, max_iter, callback, progress,
                lambda: _shape_like_y(*user_coefficients(W, b), y_is_1d))
        except KeyboardInterrupt as interrupt:
            # With the compiled kernels the signal is handled between two kernel calls: W
            # and b hold the last completed update, and the state knows how many epochs
            # it completed. (The NumPy reference can be stopped anywhere, even between
            # its updates of W and of b.)
            progress.close()
            n_iter = int(optimizer.state[_reference.EPOCH]) - first_epoch  # rows written
            coef, intercept = _shape_like_y(*user_coefficients(W, b), y_is_1d)
            result = FitResult(coef, intercept, history[:n_iter, 0].copy(),
                               _history_dict(history[:n_iter], early_stopping), n_iter, False,
                               backend.name, step, solver, method)
            raise FitInterrupted(
                f"fit interrupted after {n_iter} of max_iter={max_iter} epochs "
                f"({int(optimizer.state[_reference.T])} updates"
                + (f", loss {history[n_iter - 1, 0]:.6g}" if n_iter else "")
                + "); the coefficients reached are in this exception's .result.",
                result,
            ) from interrupt
        if status == _reference.DIVERGED or not (np.isfinite(W).all() and np.isfinite(b).all()):
            break
        _return_proximal_point(method, nesterov, l1, n_iter, optimizer, backend, X, Y, W, b,
                               x_is_f, n_threads, _training_rows_weights(X, sample_weight,
                                                                         order, n_train),
                               history, l2, n_penalized)
        if not (status == _reference.CONVERGED and full_batch_tol
                and (method == "gd" or solver == "gram" or data.X.dtype != np.float64)):
            break  # CG and FISTA on float64 data check the point they return themselves
        # The certificate: the gradient on the data, at the coefficients returned (one
        # pass over X, in float64 arithmetic), meets tol's bound.
        threshold = (stepper.threshold if method != "gd"
                     else np.sqrt(max(optimizer.state[_reference.THRESHOLD], 0.0)))
        coef, intercept = user_coefficients(W, b)
        grad_W, grad_b = _float64_gradient(backend, data, coef, intercept, n_threads)
        if method == "cg":  # in CG's coordinates, with W and b as the working problem has them
            if solver == "gram":
                grad_W = np.hstack([grad_W, grad_b[:, None]]) if user_fit_intercept else grad_W
                grad_b = np.zeros(n_targets)
            data_grad_norm = stepper.gradient_norm(grad_W, grad_b, W.astype(np.float64))
        else:
            data_grad_norm = _gradient_map_norm(coef, grad_W, grad_b, step, l1, l2, n_penalized,
                                                user_fit_intercept)
        certificate_ratio = data_grad_norm / max(threshold, np.finfo(float).tiny)
        if certificate_ratio <= 1:
            break
        # Momentum lets the returned point miss a bound that the iterate met: go on, a
        # few times at most. Any other miss is the limit of the arithmetic: reported.
        if not (method == "gd" and momentum > 0) or retries == _reference.MAX_CHECKS \
                or n_iter == max_iter:
            status = _reference.UNCERTIFIED
            stepper.check_ratio = certificate_ratio
            break
        retries += 1
        status = _reference.MAX_ITER
        if optimizer.iterate is not None:
            W[...] = optimizer.iterate  # back to the iterate, from its proximal point
    progress.close()
    history = history[:n_iter]

    if status == _reference.DIVERGED or not (np.isfinite(W).all() and np.isfinite(b).all()) or (
        # A float lr a little above 2/L can grow the loss too slowly to trip the
        # kernel's bar within max_iter; a clear rise of the loss is proof enough.
        # (Momentum, the adaptive schedule and mini-batches let the loss rise and
        # fall: there, only the kernel's bar counts.)
        method == "gd" and status == _reference.MAX_ITER and momentum == 0 and n_batches == 1
        and schedule != _reference.ADAPTIVE and _loss_rose(history[:, 0])
    ):
        _raise_for_failure(data, history, method, early_stopping, optimizer, backend, X,
                           x_is_f, fit_intercept, step, l2, sample_weight, n_batches,
                           batch_size)
    converged = status == _reference.CONVERGED
    if not converged and not stopped_by_callback and (tol > 0 or early_stopping):
        _warn_not_converged(max_iter, tol, full_batch_tol,
                            stepper.check_ratio if status == _reference.UNCERTIFIED else None,
                            solver, data.X.dtype)
    coef, intercept = _shape_like_y(*user_coefficients(W, b), y_is_1d)
    if method != "gd":
        optimizer = None
    elif solver == "gram":
        optimizer = _stream_optimizer(optimizer, n_features, user_fit_intercept)
    lr_used = stepper.first_step if method == "cg" else step
    result = FitResult(coef, intercept, history[:, 0].copy(),
                       _history_dict(history, early_stopping), n_iter, converged,
                       backend.name, lr_used, solver, method)
    return result, optimizer


def _run_epochs(stepper, max_updates, history, n_iter, max_iter, callback, progress,
                current_coefficients):
    """Call the stepper until it stops, max_iter epochs are done, or the callback says
    stop; return ``(history, n_iter, status, stopped_by_callback)``. ``history`` is
    grown as the fit runs, not sized by max_iter."""
    epochs_per_call = 1 if callback is not None else max_iter
    status = _reference.MAX_ITER
    while n_iter < max_iter and status == _reference.MAX_ITER:
        if n_iter == len(history):
            history = np.concatenate([history, np.empty_like(history)])[:max_iter]
        n_epochs, status = stepper.run(
            history[n_iter:min(len(history), n_iter + epochs_per_call)], max_updates)
        n_iter += n_epochs
        if n_epochs == 0 or status == _reference.DIVERGED:
            continue
        loss = float(history[n_iter - 1, 0])
        progress.update(n_iter, loss)
        if callback is not None and callback(n_iter, *current_coefficients(), loss) is False:
            return history, n_iter, status, True
    return history, n_iter, status, False


def _return_proximal_point(method, nesterov, l1, n_iter, optimizer, backend, X, Y, W, b,
                           x_is_f, n_threads, training_weights, history, l2, n_penalized):
    """Nesterov's iterates with L1 (method="gd") are FISTA's extrapolated points, not
    exactly sparse: put the proximal point of the last one in W (one more gradient, on
    the training rows), and keep the iterate for partial_fit to resume from (b is the
    same in both)."""
    optimizer.iterate = None
    if not (method == "gd" and nesterov and l1 > 0 and n_iter > 0):
        return
    optimizer.iterate = W.copy()
    grad_W, _, _ = backend.gradient(X, Y, W, b, x_is_f, n_threads, training_weights)
    prox_W, _ = _reference.proximal_step(W.astype(np.float64), grad_W, history[n_iter - 1, 2],
                                         l1, l2, n_penalized)
    W[...] = prox_W


# The history is allocated this many rows at first and doubled as a fit needs more,
# so that max_iter=10**9 costs nothing before it is used.
_HISTORY_ROWS = 1024


@dataclass(frozen=True)
class _Data:
    """The caller's data as validated (before any compression): what a certificate
    is computed on and what error messages name."""

    X: np.ndarray
    x_is_f: bool
    Y: np.ndarray
    y_is_1d: bool
    sample_weight: object


class _KernelSteps:
    """Gradient descent (method="gd"): the backend's compiled fit kernel, driven
    with the calling convention of _accelerated's methods."""

    def __init__(self, backend, X, Y, W, b, x_is_f, sample_weight, order, options, optimizer,
                 n_threads):
        self.arguments = (X, Y, W, b, x_is_f, sample_weight, order, options, optimizer)
        self.backend = backend
        self.workspace = backend.fit_workspace(X, W.shape[0], sample_weight, order, options,
                                               n_threads)
        self.check_ratio = None  # the failed certificate's gradient norm / its bound

    def run(self, history, max_updates):
        return self.backend.fit(*self.arguments, history, max_updates, self.workspace)


def _resolve_method(method, full_batch, lr, momentum, schedule, l1, resuming):
    """method="auto" -> the method that runs; an explicit one checked against the
    options it cannot honour."""
    plain = full_batch and not resuming
    accelerable = plain and lr == "auto" and momentum == 0 and schedule == _reference.CONSTANT
    if method == "auto":
        if not accelerable:
            return "gd"
        return "fista" if l1 > 0 else "cg"
    if method == "gd":
        return method
    conflicts = [
        (resuming, "partial_fit (which makes gradient-descent steps)"),
        (not full_batch, "mini-batches or early_stopping (it runs full-batch iterations)"),
        (lr != "auto", "a float lr (it chooses its own steps)" if method == "cg"
         else "a float lr (it steps by 1/L, lr='auto')"),
        (momentum > 0, "momentum (it has its own)"),
        (schedule != _reference.CONSTANT, "a schedule other than 'constant'"),
        (method == "cg" and l1 > 0, "an L1 penalty (use method='fista')"),
    ]
    for conflict, what in conflicts:
        if conflict:
            raise ValueError(f"method={method!r} cannot be combined with {what}; use "
                             f"method='gd' or 'auto'.")
    return method


def _float64_gradient(backend, data, coef, intercept, n_threads):
    """The data's gradient (G_W, g_b) at (coef, intercept) in float64 arithmetic: the
    backend's kernel for float64 X; for float32 X, the reference's float64 sums a block
    of rows at a time (float32 residuals cannot certify a tight tol)."""
    X, Y, weights = data.X, data.Y, data.sample_weight
    if X.dtype == np.float64:
        grad_W, grad_b, _ = backend.gradient(X, Y, coef.astype(X.dtype),
                                             intercept.astype(X.dtype), data.x_is_f,
                                             n_threads, weights)
        return grad_W.copy(), grad_b.copy()
    sum_W, sum_b = 0.0, 0.0
    for start in range(0, X.shape[0], 1 << 14):
        rows = slice(start, start + (1 << 14))
        block_W, block_b, _ = _reference.rows_gradient(X, Y, coef, intercept, weights, rows)
        sum_W, sum_b = sum_W + block_W, sum_b + block_b
    total = X.shape[0] if weights is None else float(np.sum(weights, dtype=np.float64))
    return sum_W / total, sum_b / total


def _gradient_map_norm(W, grad_W, grad_b, step, l1, l2, n_penalized, fit_intercept):
    """The norm of the gradient map at W, given the data's gradient there: the
    quantity tol bounds for gradient descent and FISTA (the gradient itself, plus
    the L2 term, without L1; see _reference.proximal_step)."""
    _, mapping = _reference.proximal_step(W.astype(np.float64), grad_W, step, l1, l2,
                                          n_penalized)
    return scaled_norm(mapping, grad_b if fit_intercept else [])


def _warn_not_converged(max_iter, tol, full_batch, certificate_ratio, solver, dtype):
    if certificate_ratio is not None:
        message = (
            f"fastgd.fit stopped with the tol={tol:g} bound met by the iterations"
            f"{' on the compressed problem' if solver == 'gram' else ''}, but the "
            f"gradient norm computed on the data at the coefficients returned is "
            f"{certificate_ratio:.3g} times that bound: tol is at or below the accuracy "
            f"that {dtype} arithmetic on this data can certify (see fit's tol). Use a "
            f"larger tol."
        )
    else:
        rule = ("the gradient norm is still above tol={tol:g} times its reference value"
                if full_batch else
                "the epoch score still improved by more than tol={tol:g} (relative) within "
                "the last n_iter_no_change epochs").format(tol=tol)
        message = (f"fastgd.fit did not converge in max_iter={max_iter} epochs: {rule} (see "
                   f"fit's tol). Increase max_iter or tol, or standardise the features.")
    warnings.warn(message, ConvergenceWarning, stacklevel=user_stacklevel())


def _raise_for_failure(data, history, method, early_stopping, optimizer, backend, X, x_is_f,
                       fit_intercept, step, l2, sample_weight, n_batches, batch_size):
    """The fit stopped on something non-finite or on a blow-up: raise what it was.

    In this order: NaN or inf in the inputs (a ValueError naming them; the kernels
    see them only as non-finite losses, see _validation.py); a value of the fit that
    overflowed float64 although the inputs are finite (FloatingPointError naming it);
    else the divergence of gradient descent (DivergenceError, with 2/L)."""
    _check_inputs_finite(data)
    last = history[-1]
    overflowed = None
    # The objective at the starting point: the first epoch's loss for a full batch;
    # mini-batches move during their first epoch, and it was taken before it.
    first_loss = history[0, 0] if n_batches == 1 else optimizer.state[_reference.FIRST_LOSS]
    if not np.isfinite(first_loss):
        overflowed = "loss at the starting point"
    elif np.isinf(last[1]) and np.isfinite(last[0]):  # (a divergence's row has NaN there)
        overflowed = "gradient norm"
    elif early_stopping and not np.isfinite(last[3]):
        overflowed = "validation loss"
    elif method != "gd":  # CG and FISTA cannot diverge: only overflow stops them
        overflowed = "loss"
    if overflowed:
        _raise_for_non_finite(data, overflowed)
    error = _divergence_error(backend, X, x_is_f, fit_intercept, step, len(history),
                              history[:, 0], l2, sample_weight)
    if n_batches > 1:
        error = DivergenceError(
            f"{error} With mini-batches of {batch_size} rows the stable step is smaller "
            f"still (about 1 / max ||[x_i, 1]||^2 for single rows); lr='auto' takes "
            f"that into account."
        )
    raise error


def _training_rows_weights(X, sample_weight, order, n_train):
    """sample_weight (None: all ones) with zeros on the validation rows, for a
    gradient over the training rows alone; sample_weight itself without them."""
    if n_train == X.shape[0]:
        return sample_weight
    weights = np.ones(X.shape[0], X.dtype) if sample_weight is None else sample_weight.copy()
    weights[order[n_train:]] = 0
    return weights


def _check_total_weights(X, sample_weight, order, n_train, early_stopping):
    """Raise ValueError if the training (or validation) rows weigh nothing."""
    if sample_weight is None:
        return
    _, train_weight, val_weight = _training_weights(X, sample_weight, order, n_train)
    if train_weight <= 0 or (early_stopping and val_weight <= 0):
        part = "training" if train_weight <= 0 else "validation"
        raise ValueError(
            f"sample_weight is zero on every {part} row of the early_stopping split "
            f"(validation_fraction of the rows, drawn with random_state): use another "
            f"random_state or validation_fraction, or fewer zero weights."
        )


def _stream_optimizer(optimizer, n_features, fit_intercept):
    """A Gram-solver fit's optimiser in the streaming solver's shapes (its intercept
    is W's last column there), for a partial_fit to resume from."""
    velocity_W = optimizer.velocity_W
    velocity_b = velocity_W[:, n_features:] if fit_intercept else np.zeros_like(
        optimizer.velocity_b)
    iterate = optimizer.iterate
    if iterate is not None:  # the intercept's column goes: partial_fit starts from intercept_
        iterate = iterate[:, :n_features].copy()
    return Optimizer(optimizer.state, velocity_W[:, :n_features].copy(), velocity_b.copy(),
                     optimizer.rng_state, optimizer.lr, iterate)


def _history_dict(history, early_stopping):
    """The kernel's history rows as a dict of 1-D arrays (validation_loss only with
    early stopping)."""
    columns = {name: history[:, i].copy() for i, name in enumerate(_reference.HISTORY_COLUMNS)}
    if not early_stopping:
        del columns["validation_loss"]
    return columns


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
    if not math.isfinite(loss):  # (checked only now: valid input costs no pass)
        _check_point_finite(W, b, y_is_1d, "coef", "intercept")
        _raise_for_non_finite(_Data(X, x_is_f, Y, y_is_1d, sample_weight), "loss")
    grad_coef, grad_intercept = _shape_like_y(grad_W.astype(X.dtype), grad_b.astype(X.dtype), y_is_1d)
    return grad_coef, grad_intercept, float(loss)
