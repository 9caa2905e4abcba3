"""The public functions ``fit`` and ``gradient``: their signatures and documentation.

``fit`` gathers its options into a ``_spec.FitSpec`` and runs the fit pipeline
(``_fit.py``: prepare, start, run segments, finish); ``gradient`` validates its
arrays and calls the backend's kernel once. Nothing here loops over data.
"""

import math

from ._backends import get_backend, loaded_compiled_backend
from ._diagnostics import (
    ConvergenceWarning,
    DivergenceError,
    FitInterrupted,
    raise_for_non_finite,
)
from ._fit import FitResult, fit_resumable, shape_like_y
from ._inputs import as_data
from ._spec import FitSpec
from ._validation import Point, check_backend, check_n_threads, check_point_finite

__all__ = [
    "ConvergenceWarning",
    "DivergenceError",
    "FitInterrupted",
    "FitResult",
    "fit",
    "gradient",
]


def fit(
    X,
    y=None,
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
    """Fit a linear model on half the mean squared error: solved exactly where the
    math allows, by gradient methods where they are the tool.

    Minimises ``L(W, b) = sum((X @ W.T + b - Y) ** 2) / (2 N)``, where ``R = X @ W.T
    + b - Y``, ``G_W = R.T @ X / N`` and ``g_b = R.mean(axis=0)``, plus a penalty. By
    default (full batch, ``lr="auto"``, data that compress) directly: one pass reduces
    the data to a small triangular factor, whose problem is solved exactly (with an L1
    penalty, by the Lasso's homotopy), then refined with the data's own gradient until
    the coefficients are as accurate as the data allow, and certified (``method="qr"``,
    ``FitResult.error_bound``); on data too wide to compress by conjugate gradients, or
    with an L1 penalty FISTA (``method``); with a float ``lr``, by plain gradient
    descent ``W -= lr * G_W``, ``b -= lr * g_b``, exactly as given; over mini-batches
    with ``batch_size``. Each iteration reads X once (or, with the Gram solver, a small
    compressed problem), in compiled code that returns to Python at least every ~0.1 s
    of work (so Ctrl-C, ``callback`` and ``verbose`` act within a fraction of a
    second).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Training data. float32 and float64 are used as they are (C or Fortran
        order, read-only arrays and memmaps included); integers are converted to
        float64 and other inputs copied, with a ``fastgd.CopyWarning``. A Dask array
        or DataFrame is fitted where its blocks are, on Dask's scheduler (y and
        sample_weight then Dask collections with the same rows, or NumPy arrays
        beside a Dask array): see ``fastgd/_dask.py``. Files from
        :func:`fastgd.read_files` are read a block at a time, with y and
        sample_weight their columns.
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
        Targets, cast to X's dtype (None when X is files).
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
        The stopping tolerance: what it bounds depends on the method.
        ``tol=0`` runs all ``max_iter`` epochs (unless ``early_stopping`` or the
        ``"adaptive"`` schedule stops the fit, or the direct solve reaches the
        rounding of the data) and never warns. Its meaning depends on what a test
        can see:

        *The direct solve* (``method="qr"``, the default of tall data): the fit has
        converged when ``error_bound``, a bound on the relative error of every
        coefficient against the exact least-squares (or ridge) solution of the data
        as given, is at most tol (a coefficient that is zero within its bound is
        measured against the largest coefficient of the standardized features; the
        slopes of a target that holds one value, against its intercept).
        The coefficients returned do not depend on tol: they are refined until
        the data's rounding stops them.

        *FISTA* (an L1 or elastic-net penalty on data that do not compress, or
        ``method="fista"``): the fit has converged when the duality gap (as
        scikit-learn's Lasso and ElasticNet compute it: a bound on how far the
        objective is above its minimum) *at the coefficients returned, computed on
        the data*, is at most ``tol**2`` times the larger of the objectives at the
        starting point and at the zero model, each with the intercept at its best
        (so the default leaves the objective within 1e-12 of its minimum, relative).
        Without a penalty, the gradient norm in standardized coordinates is bounded
        as for CG. float64 certifies a gap down to about 1e-15 of the objective (a
        tol near 3e-8); below, the fit says so with a ConvergenceWarning.

        *Other full-batch iterative methods, no early stopping*: the fit has
        converged when the gradient norm *at the coefficients returned, computed on
        the data* is at most ``tol`` times the larger of the gradient norms at the
        starting point and at the zero model (W = 0, b = 0); without coef_init and
        intercept_init the two are the same point. The norm is CG's in the
        standardized features' coordinates; gradient descent's is the raw
        ``sqrt(||G_W||^2 + ||g_b||^2)`` (over the fitted coefficients; with an L1
        penalty, of the gradient map). The iterations stop when their own gradient
        meets the bound; then the gradient at the point returned is computed afresh
        from X (one more pass; CG continues if it fails), so ``converged=True`` is a
        certificate. It bounds the error: the objective is within ``tol**2 * cond``
        (relative) of its minimum and the coefficients within about ``tol * cond``
        (cond: the condition number of the Hessian), down to float64's own limit (a
        tol of about 1e-15 cannot be certified on most data, and says so with a
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
        How a full batch reads the data: every iteration a pass over X, or one pass
        and the iterations on the compressed problem. ``"stream"`` reads X once per
        iteration with the fused kernel. ``"gram"``
        reads X once to compute, in float64, the triangular factor R of the QR
        factorization of ``[X, 1, y]`` (tall-skinny Householder QR: stable whatever
        the scales of X and y), and solves (``method="qr"``) or runs every iteration
        on that equivalent problem of D + 1 + K rows (same loss and gradient,
        O((D + K)^2 K) per iteration; see ``fastgd/_gram.py``); the passes after it
        refine and certify on X itself. ``"auto"`` picks gram for the direct solve,
        and otherwise when its estimated cost is below ``max_iter`` streaming passes
        (``fastgd._gram.choose_solver``).
    method : {"auto", "qr", "cg", "fista", "gd"}, default="auto"
        How a full batch is solved. ``"qr"``: directly, from the Gram solver's
        factor, in the coordinates of the standardized features (an SVD of the
        small factor: linearly dependent columns are seen, named in a
        ConvergenceWarning, and given the minimum-norm coefficients), then refined
        with the data's gradient computed as if in twice the working precision,
        and certified (``tol``, ``FitResult.error_bound``; ``fastgd/_direct.py``);
        with an L1 penalty, the small problem is a weighted Lasso solved exactly by
        its homotopy, and the zero pattern is certified too; each epoch is a pass
        over the data. ``"cg"``: conjugate
        gradients on the normal
        equations, every step and momentum chosen exactly for this quadratic (no
        lr, no parameter; at most about D + 1 iterations in exact arithmetic, a few
        times sqrt(cond) at most in practice); not with an L1 penalty. ``"fista"``:
        accelerated proximal gradient with adaptive restart (O'Donoghue & Candes
        2015) in the standardized features' coordinates, at the step 1/L there, and
        certified by its duality gap; any penalty. ``"gd"``: (mini-batch) gradient descent
        with ``lr``, ``schedule`` and ``momentum``. ``"auto"`` runs "qr" for a full
        batch with ``lr="auto"``, no momentum and the constant schedule, on data
        that compress (more rows than columns of [X, 1, y], at most 4096 of them; up
        to 256 coefficients, or 10 rows per coefficient), "cg" on other such data
        ("fista" with an L1 penalty), else "gd": so a float lr runs
        plain gradient descent, as given. See ``fastgd/_accelerated.py`` for why.
    penalty : {None, "l2", "l1", "elasticnet"}, default=None
        Adds ``alpha * (l1_ratio * ||W||_1 + (1 - l1_ratio) / 2 * ||W||_2^2)`` to
        the objective (``l1_ratio`` is 1 for "l1" and 0 for "l2"); the intercept
        is never penalised. The scaling is scikit-learn's ElasticNet / Lasso /
        SGDRegressor one, so their ``alpha`` means the same here; ``Ridge(alpha=a)``
        is ``penalty="l2", alpha=a / N``. The L1 part makes coefficients exactly
        zero: the direct solve's homotopy finds them (and certifies them, with a
        ConvergenceWarning at a tie it cannot decide), the iterative methods apply
        it by its proximal step (soft-thresholding), FISTA's ``tol`` then bounding
        the duality gap, gradient descent's the gradient map ``(W_t - W_t+1) / lr``
        (zero exactly at the optimum); ``loss_history`` records the whole objective.
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
        zero (``fastgd/_steps.py``).
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
        otherwise) with the current loss, counting what the method steps by (the
        direct solve's passes over the data, a full batch's iterations, or epochs of
        mini-batches) up to max_iter, or to where the fit stopped.

    Returns
    -------
    FitResult
        ``coef``, ``intercept``, ``loss_history``, ``history``, ``n_iter``,
        ``converged``, ``backend``, ``lr``, ``solver``, ``method`` and
        ``error_bound``.

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
        If ``tol > 0`` and the tolerance is not met within ``max_iter``, or the
        direct solve cannot certify it (saying why: linearly dependent columns,
        float32 coefficients, or float64's limit on nearly collinear ones).

    Examples
    --------
    NIST's Wampler1, a polynomial in raw units (columns from 20 to 3.2e6), whose
    every coefficient is 1:

    >>> import numpy as np
    >>> import fastgd
    >>> x = np.arange(21.0)
    >>> X = np.c_[x, x**2, x**3, x**4, x**5]
    >>> result = fastgd.fit(X, 1 + X.sum(axis=1))
    >>> result.coef, float(result.intercept), result.method, result.converged
    (array([1., 1., 1., 1., 1.]), 1.0, 'qr', True)
    """
    spec = FitSpec(
        lr=lr,
        max_iter=max_iter,
        tol=tol,
        fit_intercept=fit_intercept,
        backend=backend,
        n_threads=n_threads,
        solver=solver,
        method=method,
        penalty=penalty,
        alpha=alpha,
        l1_ratio=l1_ratio,
        momentum=momentum,
        nesterov=nesterov,
        batch_size=batch_size,
        shuffle=shuffle,
        random_state=random_state,
        schedule=schedule,
        power_t=power_t,
        early_stopping=early_stopping,
        validation_fraction=validation_fraction,
        n_iter_no_change=n_iter_no_change,
        callback=callback,
        verbose=verbose,
    )
    result, _ = fit_resumable(
        X, y, spec, coef_init=coef_init, intercept_init=intercept_init, sample_weight=sample_weight
    )
    return result


def gradient(X, y, coef, intercept=0.0, *, backend="auto", n_threads=None, sample_weight=None):
    """Gradient and loss of half the mean squared error at one point, in one pass over X.

    With ``R = X @ coef.T + intercept - y``: ``grad_coef = R.T @ X / N``,
    ``grad_intercept = R.mean(axis=0)`` and ``loss = sum(R ** 2) / (2 N)``. The
    building block for writing your own optimisation loop.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data; see :func:`fastgd.fit` for accepted dtypes and layouts (a Dask array
        or DataFrame: each block's sums on its worker, added in block order).
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
    result = _fast_gradient(X, y, coef, intercept, backend, n_threads, sample_weight)
    if result is not None:  # (NumPy arrays only: a Dask collection goes on below)
        return result
    if coef is None:
        raise TypeError("coef is required: the point at which to evaluate the gradient.")
    n_threads = check_n_threads(n_threads)
    backend = get_backend(check_backend(backend))
    data, W, b = as_data(
        X, y, sample_weight, Point(coef, intercept, "coef", "intercept", finite=False)
    )
    grad_W, grad_b, loss = data.gradient(backend, W, b, n_threads)
    if not math.isfinite(loss):  # (checked only now: valid input costs no pass)
        check_point_finite(W, b, data.y_is_1d, "coef", "intercept")
        raise_for_non_finite(data, "loss")
    grad_coef, grad_intercept = shape_like_y(
        grad_W.astype(data.dtype), grad_b.astype(data.dtype), data.y_is_1d
    )
    return grad_coef, grad_intercept, float(loss)


def _fast_gradient(X, y, coef, intercept, backend, n_threads, sample_weight):
    """``gradient`` without ``as_data`` (the validation), for arguments the kernels
    take as they are, on a loaded compiled backend (its kernels'
    ``gradient_fast_path``), ``n_threads`` None or an int >= 1 and no sample_weight;
    None for anything else, and for a non-finite loss: the validated path then runs,
    with its conversions, warnings and errors. It reads the caller's arrays and
    writes none of them."""
    if sample_weight is not None or not (
        n_threads is None or (type(n_threads) is int and n_threads >= 1)
    ):
        return None
    backend = loaded_compiled_backend(backend)
    if backend is None:
        return None
    return backend.kernels.gradient_fast_path(X, y, coef, intercept, n_threads, backend.plans)
