"""The fit pipeline: prepare the problem, start a method, run segments, finish.

``fit_resumable`` is all of ``fastgd.fit`` and ``GDRegressor.partial_fit``::

    settings = spec.validated()                      # _spec.py: every option, once
    data     = as_data(X, y, ...)                    # _inputs.py: arrays, or blocks
    result   = fit_small(data, settings)             # _small_fit.py: a small array's
                                                     # direct solve, compiled (or None)
    problem  = prepare(data, ..., settings)          # rows, method, solver
    steps    = start(problem, settings, optimizer)   # lr, optimiser, the method
    status   = run_segments(problem, steps, ...)     # kernel calls, Ctrl-C, callback,
                                                     # progress, the certificate
    result   = finish(problem, steps, status, ...)   # errors, warnings, FitResult

Each method (``_KernelSteps`` for gradient descent, ``_accelerated``'s CG and FISTA)
runs ``run(history, max_updates) -> (n_epochs, status)``: at most that many updates,
one history row per epoch, returning to Python between segments of bounded work
(``SEGMENT_WORK``). Nothing here loops over data.
"""

import math
import signal
import threading
from dataclasses import dataclass, replace

import numpy as np

from . import _diagnostics, _layout, _small_fit, _steps
from ._accelerated import (
    ConjugateGradient,
    Fista,
    StandardizedCoordinates,
    hessian_max_eigenvalue,
    scaled_norm,
)
from ._backends import (
    FitOptions,
    Model,
    Optimizer,
    _training_weights,
    fit_data,
    serial_blas,
)
from ._data import DistributedBackend
from ._direct import DirectSolve
from ._gram import MAX_GRAM_SIZE, choose_solver, compressed_problem
from ._inputs import as_data
from ._progress import Progress
from ._validation import Point, check_random_state

# The history is allocated this many rows at first and doubled as a fit needs more,
# so that max_iter=10**9 costs nothing before it is used.
HISTORY_ROWS = 1024

# Work the kernel does per call before it returns to Python, in multiply-adds: a
# fraction of a second on one core (mini-batches gathered from a Fortran-ordered X
# are the slowest per unit), so that Ctrl-C, callbacks and the progress bar act
# promptly, while the return to Python stays a negligible share of the call. An update
# counts its multiply-adds, the gather of its rows, and a fixed overhead of about
# UPDATE_OVERHEAD multiply-adds (zeroing and adding the partial sums, the step):
# what dominates a per-sample update. (One update is never split: a full-batch
# pass over a huge X returns only when it is done.)
SEGMENT_WORK = 1 << 24
UPDATE_OVERHEAD = 500


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
        True if the coefficients returned are certified on the data: the direct
        solve's ``error_bound`` or a full-batch method's gradient met ``tol`` (see
        :func:`fastgd.fit`). A stochastic fit (mini-batches, early stopping) is never
        certified: it stops at a plateau of its loss, which ``stopped`` names.
    backend : str
        The backend that ran the fit.
    lr : float
        The learning rate used (the estimated 1/L when ``lr="auto"``; with
        ``method="cg"``, the step of its first iteration along the gradient).
    solver : str
        ``"stream"`` or ``"gram"``: the solver that ran (``"auto"`` resolved).
    method : str
        ``"qr"``, ``"cg"``, ``"fista"`` or ``"gd"``: the method that ran (``"auto"``
        resolved); ``"path"`` for :class:`fastgd.GDRegressorCV`'s refit (the exact
        solution of the folds' merged factor, certified by its duality gap).
    error_bound : float
        With ``method="qr"``: a bound on the relative error of every coefficient
        against the exact least-squares (or ridge) solution of the data as given
        (see ``fastgd/_direct.py``); ``converged`` is ``error_bound <= tol``. inf
        when the coefficients are not unique (linearly dependent columns). NaN for
        the iterative methods, whose ``tol`` bounds a gradient instead.
    stopped : str
        Why the fit ended: ``"converged"`` (certified), ``"max_iter"``,
        ``"uncertified"`` (the certificate is not met, at the limit of the
        arithmetic: a ConvergenceWarning says why), ``"refined"`` (the direct solve
        with ``tol=0``: refined to the rounding of the data), ``"loss plateau"`` or
        ``"validation loss plateau"`` (mini-batches, early stopping: no improvement
        by ``tol`` for ``n_iter_no_change`` epochs), ``"small step"`` (the
        ``"adaptive"`` schedule's step fell below 1e-6 lr), ``"callback"`` or
        ``"interrupted"`` (Ctrl-C: FitInterrupted's result).
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
    error_bound: float
    stopped: str


@dataclass(frozen=True, kw_only=True)
class Problem:
    """What the iterations run on: made once by ``prepare`` (and ``compress``, which
    makes the Gram solver's). With the Gram solver, X, Y, W and b are the compressed
    problem's (the intercept as W's last column, see _gram.py); ``data`` and the
    ``user_*`` fields keep the caller's. W and b are the working coefficients, which
    the methods update in place."""

    data: object  # _data.Data or _data.BlockedData
    backend: object
    X: object  # an array, or (the streaming solver over blocks) the BlockedData
    Y: object
    W: np.ndarray
    b: np.ndarray
    x_is_f: bool
    sample_weight: object
    fit_intercept: bool
    order: np.ndarray
    n_train: int
    batch_size: int
    method: str
    solver: str
    seed: int
    user_fit_intercept: bool
    user_b: np.ndarray
    n_features: int  # the caller's D: W's own columns, the penalized ones
    factor_kind: str = "qr"  # the compressed problem's factor: "qr" or "gram" ...
    factor_error: float = 0.0  # ... and its backward error (_gram.gram_factor_error)

    @property
    def n_batches(self):
        return -(-self.n_train // self.batch_size)

    def full_batch_tol(self, settings):
        """Whether tol is the full-batch gradient test (else the plateau test)."""
        return self.n_batches == 1 and not settings.early_stopping

    def user_coefficients(self):
        """The working W, b as the caller's (K, D) coef and (K,) intercept (copies)."""
        if self.solver != "gram":
            return self.W.copy(), self.b.copy()
        coef = self.W[:, : self.n_features].astype(self.user_b.dtype)
        intercept = self.W[:, self.n_features] if self.user_fit_intercept else self.user_b
        return coef, intercept.astype(self.user_b.dtype)

    def caller_coefficients(self):
        """``user_coefficients`` in the shapes of the caller's y (1-D y: coef (D,))."""
        return shape_like_y(*self.user_coefficients(), self.data.y_is_1d)


def shape_like_y(W, b, y_is_1d):
    """(K, D) and (K,) kernel arrays -> the user's shapes (coef (D,), scalar b for 1-D y)."""
    return (W[0], b[0]) if y_is_1d else (W, b)


def fit_resumable(
    X, y, spec, *, coef_init=None, intercept_init=None, sample_weight=None, optimizer=None
):
    """fastgd.fit, resuming from (and returning) an ``Optimizer``: GDRegressor.partial_fit.

    ``spec`` is a ``_spec.FitSpec``. With ``optimizer`` (from an earlier call on data
    of the same width), the step, the schedule's time, the momentum and the random
    generator carry on from where they were; its divergence reference is reset (each
    call sees new data). Returns ``(FitResult, optimizer)``; the optimizer is None
    after a CG or FISTA fit (nothing of theirs carries over to gradient-descent steps).
    """
    settings = spec.validated()
    # The point is small: checked here for NaN and inf, so that no kernel's non-finite
    # loss blames X or y for them (a NaN intercept_init held fixed made the Gram
    # solver say "rescale X and y").
    data, W, b = as_data(
        X, y, sample_weight, Point(coef_init, intercept_init, "coef_init", "intercept_init")
    )
    zero_reference = settings.tol > 0 and (
        coef_init is not None or (settings.fit_intercept and intercept_init is not None)
    )
    if coef_init is None and intercept_init is None and optimizer is None:
        small = fit_small(data, settings)
        if small is not None:
            return small, None
    X = data.X if not data.blocked else None
    # (mini-batch fits do no dense algebra)
    with serial_blas(X, settings.batch_size is None and not settings.early_stopping), Interrupts():
        problem = prepare(data, W, b, settings, optimizer is not None)
        steps = start(problem, settings, optimizer, zero_reference)
        history, n_iter, status, stopped = run_segments(problem, steps, settings)
        return finish(problem, steps, settings, history[:n_iter], status, stopped)


def fit_small(data, settings):
    """The FitResult of a small array's direct solve in one compiled call
    (``_small_fit``), where fit's own choice is the direct solve and the call
    certifies it; else None."""
    if not _small_fit.applies(data, settings):
        return None
    N, D, K = data.n_samples, data.n_features, data.n_targets
    method = resolve_method(settings, True, False, direct_applies(settings, N, D, K))
    if method != "qr" or resolve_solver(settings, True, N, D, K, method) != "gram":
        return None
    small = _small_fit.solve(data, settings)
    if small is None:
        return None
    coef, intercept = shape_like_y(
        small.W.astype(data.dtype), small.b.astype(data.dtype), data.y_is_1d
    )
    loss = np.array([small.objective])
    history = {"loss": loss, "grad_norm": np.array([small.grad_norm]), "lr": np.ones(1)}
    return FitResult(
        coef=coef,
        intercept=intercept,
        loss_history=loss.copy(),
        history=history,
        n_iter=1,
        converged=True,
        backend=settings.backend.name,
        lr=1.0,
        solver="gram",
        method="qr",
        error_bound=small.error_bound,
        stopped="converged",
    )


def prepare(data, W, b, settings, resuming):
    """Split the rows, choose the method and the solver, and compress the data for
    the Gram solver: the Problem the iterations run on."""
    if data.blocked:
        check_blocked_options(settings, resuming)
    problem = (prepare_blocked if data.blocked else prepare_arrays)(data, W, b, settings, resuming)
    if problem.solver == "gram":
        return compress(problem, settings.n_threads)
    check_total_weights(problem, settings.early_stopping)
    return problem


def prepare_arrays(data, W, b, settings, resuming):
    """``prepare``'s Problem for data in NumPy arrays (``_data.Data``)."""
    n_samples, n_features, n_targets = data.n_samples, data.n_features, data.n_targets
    # Resuming (partial_fit), the optimiser has its generator: do not draw a seed from
    # the caller's Generator or RandomState for nothing.
    seed, order, n_train = seed_and_order(
        0 if resuming else settings.random_state,
        n_samples,
        settings.early_stopping,
        settings.validation_fraction,
    )
    batch_size = n_train if settings.batch_size is None else min(settings.batch_size, n_train)
    full_batch = batch_size == n_samples  # every row, in order: the Gram solver applies
    method = resolve_method(
        settings, full_batch, resuming, direct_applies(settings, n_samples, n_features, n_targets)
    )
    solver = resolve_solver(settings, full_batch, n_samples, n_features, n_targets, method)
    if order is None and solver != "gram":  # (compress gives the Gram solver its own)
        order = np.arange(n_samples, dtype=np.int64)
    return Problem(
        data=data,
        backend=settings.backend,
        X=data.X,
        Y=data.Y,
        W=W,
        b=b,
        x_is_f=data.x_is_f,
        sample_weight=data.sample_weight,
        fit_intercept=settings.fit_intercept,
        order=order,
        n_train=n_train,
        batch_size=batch_size,
        method=method,
        solver=solver,
        seed=seed,
        user_fit_intercept=settings.fit_intercept,
        user_b=b,
        n_features=n_features,
    )


def prepare_blocked(data, W, b, settings, resuming):
    """``prepare``'s Problem for data in blocks (``_data.BlockedData``). The Gram
    solver computes its factor where the blocks are, and every iteration then runs on
    the client; the streaming solver persists the blocks on the workers and makes
    every pass there (``_data.DistributedBackend``)."""
    K, D = data.n_targets, data.n_features
    # (the number of rows may be unknown before the first pass: blocks are many rows)
    method = resolve_method(settings, True, resuming, direct_applies(settings, np.inf, D, K))
    # Gram unless asked otherwise, or too wide: a pass over the cluster costs a round
    # trip through the scheduler, and the Gram solver makes two in all.
    solver = settings.solver
    if solver == "auto":
        solver = "gram" if D + 1 + K <= MAX_GRAM_SIZE else "stream"
    check_direct_solver(method, solver)
    seed = check_random_state(settings.random_state)
    backend, X, Y, n_rows = settings.backend, None, None, 0
    if solver == "stream":
        data.persist()
        backend, X, Y, n_rows = (
            DistributedBackend(settings.backend),
            data,
            data.targets,
            data.n_samples,
        )
    return Problem(
        data=data,
        backend=backend,
        X=X,
        Y=Y,
        W=W,
        b=b,
        x_is_f=False,
        sample_weight=None,
        fit_intercept=settings.fit_intercept,
        order=np.arange(0),
        n_train=n_rows,
        batch_size=n_rows,
        method=method,
        solver=solver,
        seed=seed,
        user_fit_intercept=settings.fit_intercept,
        user_b=b,
        n_features=D,
    )


def check_blocked_options(settings, resuming):
    """Raise ValueError for what a fit of Dask collections does not run."""
    s = settings
    unsupported = [
        (resuming, "an optimiser resumed"),
        (s.batch_size is not None, "batch_size (mini-batches)"),
        (s.early_stopping, "early_stopping"),
    ]
    for conflict, what in unsupported:
        if conflict:
            raise ValueError(
                f"fastgd.fit fits Dask collections with full-batch iterations (the Gram "
                f"solver's distributed factor, or the streaming solver's distributed "
                f"passes), which cannot run {what}. For mini-batch SGD over the blocks, "
                f"call GDRegressor(batch_size=...).partial_fit(X, y) once per epoch: it "
                f"takes the blocks in order, each on its worker."
            )


def compress(problem, n_threads):
    """The same iterations on the compressed problem, the intercept as its last
    coefficient (see _gram.py): the Problem whose X, Y, W, b are its (the sample
    weights absorbed into it)."""
    p = problem
    X, Y, kind, error = compressed_factor(p, n_threads, fast=p.method == "qr")
    W = np.hstack([p.W, p.b[:, None]] if p.fit_intercept else [p.W]).astype(np.float64)
    return replace(
        p,
        X=X,
        Y=Y,
        W=W,
        b=np.zeros(Y.shape[1]),
        x_is_f=False,
        sample_weight=None,
        fit_intercept=False,
        order=np.arange(X.shape[0], dtype=np.int64),
        n_train=X.shape[0],
        batch_size=X.shape[0],
        factor_kind=kind,
        factor_error=error,
    )


def compressed_factor(problem, n_threads, fast):
    """``(X, Y, kind, error)``: the compressed problem (``_gram.compressed_problem``)
    of the data's factor (``Data.factor``; ``fast``: the Gram's, if usable), its kind
    and its backward error."""
    p, data = problem, problem.data
    R, total_weight, kind, error = data.factor(
        p.backend, p.user_b, p.user_fit_intercept, n_threads, fast
    )
    if not np.isfinite(R).all():
        _diagnostics.raise_for_non_finite(data, "triangular factor of [X, 1, y]")
    X, Y = compressed_problem(R, total_weight, p.W.shape[0])
    return X, Y, kind, error


# The direct solve's small work is O(p^3) in the p = D + 1 coefficients (an SVD):
# method="auto" takes it when that is small beside the compression, O(N m^2), or small
# in itself (p <= DIRECT_ALWAYS_P); conjugate gradients otherwise.
DIRECT_ALWAYS_P = 256
DIRECT_ROWS_PER_COEFFICIENT = 10


def direct_applies(settings, n_samples, n_features, n_targets):
    """Whether method="auto" may solve directly: the data compress (the Gram solver,
    more rows than columns of [X, 1, Y]) to a factor small enough to solve exactly."""
    m, p = n_features + 1 + n_targets, n_features + 1
    return (
        settings.solver != "stream"
        and m <= MAX_GRAM_SIZE
        and n_samples > m
        and (p <= DIRECT_ALWAYS_P or n_samples >= DIRECT_ROWS_PER_COEFFICIENT * p)
    )


def resolve_method(settings, full_batch, resuming, direct):
    """method="auto" -> the method that runs (``direct``: whether the direct solve
    applies to the data, ``direct_applies``); an explicit one checked against the
    options it cannot honour."""
    s, method = settings, settings.method
    plain = full_batch and not resuming
    accelerable = plain and s.lr == "auto" and s.momentum == 0 and s.schedule == _layout.CONSTANT
    if method == "auto":
        if not accelerable:
            return "gd"
        if direct:
            return "qr"
        return "fista" if s.l1 > 0 else "cg"
    if method == "gd":
        return method
    conflicts = [
        (resuming, "partial_fit (which makes gradient-descent steps)"),
        (not full_batch, "mini-batches or early_stopping (it runs full-batch iterations)"),
        (
            s.lr != "auto",
            "a float lr (it chooses its own steps)"
            if method in ("cg", "qr")
            else "a float lr (it steps by 1/L, lr='auto')",
        ),
        (s.momentum > 0, "momentum (it has its own)"),
        (s.schedule != _layout.CONSTANT, "a schedule other than 'constant'"),
        (method == "cg" and s.l1 > 0, "an L1 penalty (use method='fista' or 'qr')"),
        (
            method == "qr" and s.solver == "stream",
            "solver='stream' (it solves the compressed problem of solver='gram')",
        ),
    ]
    for conflict, what in conflicts:
        if conflict:
            raise _diagnostics.method_conflict(method, what)
    return method


def resolve_solver(settings, full_batch, n_samples, n_features, n_targets, method):
    """solver="auto" -> "stream" or "gram" (by their estimated costs; "gram" for the
    direct solve, which solves its compressed problem)."""
    if settings.solver == "auto":
        if not full_batch:
            return "stream"
        if method == "qr":
            check_direct_solver(
                method, "gram" if n_features + 1 + n_targets <= MAX_GRAM_SIZE else "stream"
            )
            return "gram"
        return choose_solver(n_samples, n_features, n_targets, settings.max_iter)
    if settings.solver == "gram" and not full_batch:
        raise ValueError(
            "solver='gram' runs full-batch iterations on all rows: it cannot be combined "
            "with batch_size or early_stopping; use solver='stream' or 'auto'."
        )
    return settings.solver


def check_direct_solver(method, solver):
    """Raise ValueError for method="qr" on data too wide to compress."""
    if method == "qr" and solver != "gram":
        raise ValueError(
            f"method='qr' solves the compressed problem of solver='gram', which needs at "
            f"most {MAX_GRAM_SIZE} columns in [X, 1, y]: use method='cg' (or 'auto') for "
            f"wider data."
        )


def seed_and_order(random_state, n_samples, early_stopping, validation_fraction):
    """The generator's seed, the row order (training rows first; None for the rows
    in their own order, without early stopping) and n_train."""
    seed = check_random_state(random_state)
    if not early_stopping:
        return seed, None, n_samples
    order = np.arange(n_samples, dtype=np.int64)
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


def check_total_weights(problem, early_stopping):
    """Raise ValueError if the training (or validation) rows weigh nothing."""
    p = problem
    if p.sample_weight is None:
        return
    _, train_weight, val_weight = _training_weights(p.X, p.sample_weight, p.order, p.n_train)
    if train_weight <= 0 or (early_stopping and val_weight <= 0):
        part = "training" if train_weight <= 0 else "validation"
        raise ValueError(
            f"sample_weight is zero on every {part} row of the early_stopping split "
            f"(validation_fraction of the rows, drawn with random_state): use another "
            f"random_state or validation_fraction, or fewer zero weights."
        )


def training_rows_weights(problem):
    """sample_weight (None: all ones) with zeros on the validation rows, for a
    gradient over the training rows alone; sample_weight itself without them."""
    p = problem
    if p.n_train == p.X.shape[0]:
        return p.sample_weight
    weights = (
        np.ones(p.X.shape[0], p.X.dtype) if p.sample_weight is None else p.sample_weight.copy()
    )
    weights[p.order[p.n_train :]] = 0
    return weights


# ------------------------------------------------------------------------- start


@dataclass
class Steps:
    """A started method: its stepper (``run(history, max_updates)``), the optimiser
    it updates, its step (NaN for CG, which chooses its own) and the updates per
    kernel call."""

    stepper: object
    optimizer: Optimizer
    step: float
    max_updates: int
    first_epoch: int  # the optimiser's epoch count when this call began


def start(problem, settings, optimizer, zero_reference):
    """The step (lr, or 1/L for lr="auto"), the optimiser (new, or resumed), the
    reference gradient norm of tol, and the method's stepper."""
    p, s = problem, settings
    if optimizer is None:
        step = s.lr
        if p.method in ("cg", "qr", "fista"):
            step = np.nan  # CG chooses every step, FISTA its own 1/L; qr takes Newton steps
        elif s.lr == "auto":
            step = auto_lr(p, s)
        optimizer = Optimizer.new(step, p.Y.shape[1], p.W.shape[1], p.seed)
    else:  # partial_fit: carry on where the previous call stopped
        optimizer.start_segment()
        step = optimizer.lr
        if optimizer.iterate is not None:
            p.W[...] = optimizer.iterate  # the iterate, not the point returned
    if np.isnan(optimizer.first_loss) and p.batch_size < p.n_train:
        # The divergence bar's reference is the objective at the starting point. A
        # full batch's first epoch is that point; mini-batches move during their first
        # epoch, so take it here (one more pass over X, on the training rows).
        loss = p.backend.gradient(
            p.X, p.Y, p.W, p.b, p.x_is_f, s.n_threads, training_rows_weights(p)
        )[2]
        optimizer.first_loss = loss + _steps.penalty(p.W, s.l1, s.l2, p.n_features)
    # tol is relative to the larger of the gradient norms at the start and at the zero
    # model: a fit started at or near the solution then still has a meaningful scale.
    # (CG and FISTA measure theirs in their own coordinates.)
    ref_grad_norm = 0.0
    if zero_reference and p.method == "gd":
        ref_grad_norm = zero_model_gradient_norm(p, s, step)
    options = FitOptions.of(
        lr=step,
        schedule=s.schedule,
        power_t=s.power_t,
        tol=s.tol,
        n_iter_no_change=s.n_iter_no_change,
        early_stopping=s.early_stopping,
        ref_grad_norm2=ref_grad_norm**2,
        fit_intercept=p.fit_intercept,
        l1=s.l1,
        l2=s.l2,
        n_penalized=p.n_features,
        momentum=s.momentum,
        nesterov=s.nesterov,
        n_train=p.n_train,
        batch_size=p.batch_size,
        shuffle=s.shuffle,
    )
    stepper, max_updates = make_stepper(p, s, optimizer, options, zero_reference)
    return Steps(stepper, optimizer, step, max_updates, optimizer.n_epochs)


def make_stepper(problem, settings, optimizer, options, zero_reference):
    """The method's stepper and how many updates one call of it may make."""
    p = problem
    if p.method == "qr":  # one pass over the data per call

        def refactor():  # Householder QR's factor, if the Gram's is not good enough
            X, Y, _, error = compressed_factor(p, settings.n_threads, fast=False)
            return X, Y, error

        return DirectSolve(p, settings, optimizer, refactor), 1
    if p.method == "gd":
        stepper = KernelSteps(p, options, optimizer, settings.n_threads)
        return stepper, updates_per_call(
            p.batch_size, (p.X.shape[0] - p.n_train) / p.n_batches, p.X.shape[1], p.Y.shape[1]
        )
    arrays = (p.backend, p.X, p.Y, p.x_is_f, p.sample_weight, settings.n_threads)
    intercept_column = p.n_features if p.solver == "gram" and p.user_fit_intercept else None
    coordinates = StandardizedCoordinates.of(
        p.X, p.fit_intercept, intercept_column, p.data, compressed=p.solver == "gram"
    )
    method = ConjugateGradient if p.method == "cg" else Fista
    stepper = method(arrays, p.W, p.b, optimizer, options, coordinates, zero_reference)
    return stepper, 1  # one pass per call: each returns to Python anyway


class KernelSteps:
    """Gradient descent (method="gd"): the backend's compiled fit kernel, driven
    with the calling convention of _accelerated's methods."""

    measure = "gradient norm"  # what tol bounds, for the ConvergenceWarning

    def __init__(self, problem, options, optimizer, n_threads):
        p = problem
        self.data = fit_data(p.X, p.Y, p.sample_weight, p.x_is_f, p.order, options.n_train)
        self.model = Model(p.W, p.b)
        self.options, self.optimizer, self.backend = options, optimizer, p.backend
        self.workspace = p.backend.fit_workspace(self.data, p.W.shape[0], options, n_threads)
        self.check_ratio = None  # the failed certificate's gradient norm / its bound

    def run(self, history, max_updates):
        return self.backend.fit(
            self.data,
            self.model,
            self.options,
            self.optimizer,
            history,
            max_updates,
            self.workspace,
        )


def updates_per_call(batch_rows, validation_rows_per_update, n_features, n_targets):
    """Updates per kernel call: about SEGMENT_WORK multiply-adds of work."""
    row_work = n_features * (n_targets + 1)  # the multiply-adds and the gather of a row
    work = (batch_rows + validation_rows_per_update) * row_work + 8 * n_features * n_targets
    return max(1, int(SEGMENT_WORK // (work + UPDATE_OVERHEAD)))


def zero_model_gradient_norm(problem, settings, step):
    """The gradient-map norm at the zero model (W = 0, and b = 0 when fitted): one
    more pass over X."""
    p, s = problem, settings
    zero_W = np.zeros_like(p.W)
    zero_b = np.zeros_like(p.b) if p.fit_intercept else p.b
    grad_W, grad_b, _ = p.backend.gradient(
        p.X, p.Y, zero_W, zero_b, p.x_is_f, s.n_threads, p.sample_weight
    )
    return gradient_map_norm(zero_W, grad_W, grad_b, step, s, p.n_features, p.fit_intercept)


def minibatch_smoothness(X, fit_intercept, sample_weight):
    """L_max = max_i s_i / mean(s) * ||[x_i, 1]||^2: the largest curvature of one
    sample's term of the objective (1 stands for the intercept column)."""
    sq_norms = np.einsum("ij,ij->i", X, X, dtype=np.float64) + (1.0 if fit_intercept else 0.0)
    if sample_weight is not None:
        sq_norms *= sample_weight / np.mean(sample_weight, dtype=np.float64)
    return float(sq_norms.max())


def auto_lr(problem, settings, upper=False):
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
    p = problem
    L = hessian_max_eigenvalue(
        p.backend,
        p.X,
        p.x_is_f,
        p.fit_intercept,
        n_threads=settings.n_threads,
        sample_weight=p.sample_weight,
        upper=upper,
    )
    if not np.isfinite(L):
        _diagnostics.raise_for_non_finite(p.data, "largest eigenvalue of the Hessian")
    if p.batch_size < p.n_train:
        L_max = minibatch_smoothness(p.X, p.fit_intercept, p.sample_weight)
        B, n = p.batch_size, p.n_train
        L = n * (B - 1) / (B * (n - 1)) * L + (n - B) / (B * (n - 1)) * L_max
    L += settings.l2  # the L2 term adds l2 to the Hessian's W block: a safe bound
    if L == 0:
        return 1.0  # X is all zeros: any step is stable
    step = 1.0 / L
    if not np.isfinite(step):
        raise FloatingPointError(
            f"the learning rate 1/L overflowed: the largest eigenvalue of the Hessian is "
            f"L = {L:.3g} (largest |X| = {p.data.largest_abs()[0]:.3g}); rescale X."
        )
    return step


def gradient_map_norm(W, grad_W, grad_b, step, settings, n_penalized, fit_intercept):
    """The norm of the gradient map at W, given the data's gradient there: the
    quantity tol bounds for gradient descent and FISTA (the gradient itself, plus
    the L2 term, without L1; see _steps.proximal_step)."""
    _, mapping = _steps.proximal_step(
        W.astype(np.float64), grad_W, step, settings.l1, settings.l2, n_penalized
    )
    return scaled_norm(mapping, grad_b if fit_intercept else [])


# ----------------------------------------------------------------- run segments


def run_segments(problem, steps, settings):
    """Call the method until it stops, and certify what it returns: returns
    ``(history, n_iter, status, stopped_by_callback)``. Ctrl-C raises FitInterrupted
    with the coefficients reached."""
    unit = (
        "pass"
        if problem.method == "qr"
        else "epoch"
        if problem.n_batches > 1 or settings.early_stopping
        else "iteration"
    )
    progress = Progress(settings.max_iter, settings.verbose, unit)
    history = np.empty((min(settings.max_iter, HISTORY_ROWS), _layout.N_HISTORY))
    n_iter, retries = 0, 0
    try:
        while True:
            history, n_iter, status, stopped = run_epochs(
                problem, steps, settings, history, n_iter, progress
            )
            if status == _layout.DIVERGED or not coefficients_finite(problem):
                break
            return_proximal_point(problem, steps, settings, history, n_iter)
            status, retry = certify(problem, steps, settings, status, retries, n_iter)
            if not retry:
                break
            retries += 1
    except KeyboardInterrupt as interrupt:
        # With the compiled kernels the signal is handled between two kernel calls: W
        # and b hold the last completed update, and the state knows how many epochs
        # it completed. (The NumPy reference can be stopped anywhere, even between
        # its updates of W and of b.)
        progress.close()
        optimizer = steps.optimizer
        n_iter = optimizer.n_epochs - steps.first_epoch  # rows written
        result = make_result(problem, steps, settings, history[:n_iter], False, "interrupted")
        raise _diagnostics.interrupted(
            result, settings.max_iter, optimizer.n_updates
        ) from interrupt
    progress.close()
    return history, n_iter, status, stopped


def run_epochs(problem, steps, settings, history, n_iter, progress):
    """Call the stepper until it stops, max_iter epochs are done, or the callback says
    stop; return ``(history, n_iter, status, stopped_by_callback)``. ``history`` is
    grown as the fit runs, not sized by max_iter."""
    max_iter, callback = settings.max_iter, settings.callback
    epochs_per_call = 1 if callback is not None else max_iter
    status = _layout.MAX_ITER
    while n_iter < max_iter and status == _layout.MAX_ITER:
        if n_iter == len(history):
            history = np.concatenate([history, np.empty_like(history)])[:max_iter]
        n_epochs, status = steps.stepper.run(
            history[n_iter : min(len(history), n_iter + epochs_per_call)], steps.max_updates
        )
        n_iter += n_epochs
        Interrupts.raise_pending()
        if n_epochs == 0 or status == _layout.DIVERGED:
            continue
        loss = float(history[n_iter - 1, 0])
        progress.update(n_iter, loss)
        if (
            callback is not None
            and callback(n_iter, *problem.caller_coefficients(), loss) is False
        ):
            return history, n_iter, status, True
    return history, n_iter, status, False


class Interrupts:
    """Ctrl-C while a fit runs: Python's KeyboardInterrupt, as always, and a flag,
    checked between two kernel calls. A KeyboardInterrupt raised inside a ctypes
    callback (llvmlite's, while Numba compiles a kernel on its first use) is printed
    and dropped: a Ctrl-C during that compile was lost, and the fit ran on for as long
    as max_iter said. Only in the main thread, and only over Python's own SIGINT
    handler (a caller's handler is left as it is)."""

    pending = False

    def __enter__(self):
        self.installed = (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        )
        if self.installed:
            Interrupts.pending = False
            signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc):
        if self.installed:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            Interrupts.pending = False

    @staticmethod
    def _handle(signum, frame):
        Interrupts.pending = True
        raise KeyboardInterrupt

    @staticmethod
    def raise_pending():
        """Raise the KeyboardInterrupt of a Ctrl-C that a callback dropped."""
        if Interrupts.pending:
            Interrupts.pending = False
            raise KeyboardInterrupt


def coefficients_finite(problem):
    return np.isfinite(problem.W).all() and np.isfinite(problem.b).all()


def return_proximal_point(problem, steps, settings, history, n_iter):
    """Nesterov's iterates with L1 (method="gd") are FISTA's extrapolated points, not
    exactly sparse: put the proximal point of the last one in W (one more gradient, on
    the training rows), and keep the iterate for partial_fit to resume from (b is the
    same in both)."""
    p, s, optimizer = problem, settings, steps.optimizer
    optimizer.iterate = None
    if not (p.method == "gd" and s.nesterov and s.l1 > 0 and n_iter > 0):
        return
    optimizer.iterate = p.W.copy()
    grad_W, _, _ = p.backend.gradient(
        p.X, p.Y, p.W, p.b, p.x_is_f, s.n_threads, training_rows_weights(p)
    )
    prox_W, _ = _steps.proximal_step(
        p.W.astype(np.float64), grad_W, history[n_iter - 1, 2], s.l1, s.l2, p.n_features
    )
    p.W[...] = prox_W


def certify(problem, steps, settings, status, retries, n_iter):
    """The certificate of a converged full-batch fit: the gradient on the data at the
    coefficients returned (one pass over X, in float64 arithmetic) meets tol's bound.
    Returns ``(status, retry)``: momentum may miss a bound its iterate met, and goes
    on a few times; any other miss is the limit of the arithmetic (UNCERTIFIED)."""
    p, s, stepper = problem, settings, steps.stepper
    if not (
        status == _layout.CONVERGED
        and p.full_batch_tol(s)
        and p.method != "qr"
        and (p.method == "gd" or p.solver == "gram" or p.data.dtype != np.float64)
    ):
        # CG and FISTA on float64 data check the point they return; qr certifies its own
        return status, False
    ratio = certificate_ratio(p, steps, s)
    if ratio <= 1:
        return status, False
    if (
        not (p.method == "gd" and s.momentum > 0)
        or retries == _layout.MAX_CHECKS
        or n_iter == s.max_iter
    ):
        stepper.check_ratio = ratio
        return _layout.UNCERTIFIED, False
    if steps.optimizer.iterate is not None:
        p.W[...] = steps.optimizer.iterate  # back to the iterate, from its proximal point
    return _layout.MAX_ITER, True


def certificate_ratio(problem, steps, settings):
    """The data's gradient norm at the coefficients returned, over tol's bound."""
    p, stepper = problem, steps.stepper
    threshold = stepper.threshold if p.method != "gd" else steps.optimizer.tol_threshold
    coef, intercept = p.user_coefficients()
    grad_W, grad_b, loss = p.data.float64_gradient(
        p.backend, coef, intercept, settings.n_threads, with_loss=True
    )
    if p.method in ("cg", "fista"):  # in their coordinates, W and b as the working problem's
        if p.solver == "gram":
            grad_W = np.hstack([grad_W, grad_b[:, None]]) if p.user_fit_intercept else grad_W
            grad_b = np.zeros(p.Y.shape[1])
        if p.method == "fista":
            return stepper.data_ratio(grad_W, grad_b, loss, p.W.astype(np.float64))
        norm = stepper.gradient_norm(grad_W, grad_b, p.W.astype(np.float64))
    else:
        norm = gradient_map_norm(
            coef, grad_W, grad_b, steps.step, settings, p.n_features, p.user_fit_intercept
        )
    return norm / max(threshold, np.finfo(float).tiny)


# ------------------------------------------------------------------------ finish


def finish(problem, steps, settings, history, status, stopped_by_callback):
    """Raise for a failed fit, warn for an unconverged one, and return ``(FitResult,
    optimizer)``."""
    p, s = problem, settings
    if (
        status == _layout.DIVERGED
        or not coefficients_finite(p)
        or (
            # A float lr a little above 2/L can grow the loss too slowly to trip the
            # kernel's bar within max_iter; a clear rise of the loss is proof enough.
            # (Momentum, the adaptive schedule and mini-batches let the loss rise and
            # fall: there, only the kernel's bar counts.)
            p.method == "gd"
            and status == _layout.MAX_ITER
            and s.momentum == 0
            and p.n_batches == 1
            and s.schedule != _layout.ADAPTIVE
            and _diagnostics.loss_rose(history[:, 0])
        )
    ):
        _diagnostics.raise_for_failure(p, history, steps.optimizer, steps.step, s)
    # Mini-batches and early stopping stop at a plateau of their loss: a stop, not a
    # certificate of the point returned (converged is False; stopped says why).
    converged = status == _layout.CONVERGED and p.full_batch_tol(s)
    stopped = stop_reason(p, s, status, stopped_by_callback)
    if status != _layout.CONVERGED and not stopped_by_callback and (s.tol > 0 or s.early_stopping):
        if p.method == "qr":
            stepper = steps.stepper
            _diagnostics.warn_uncertified_coefficients(
                s.tol,
                stepper.error_bound,
                stepper.small.condition,
                stepper.small.collinear_columns(),
                stepper.small.rank_deficient,
                p.user_b.dtype,
                s.max_iter if stepper.cut_short else None,
                stepper.support_uncertain,
                subnormal_float32(p.user_coefficients()[0]),
            )
        else:
            ratio = steps.stepper.check_ratio if status == _layout.UNCERTIFIED else None
            _diagnostics.warn_not_converged(
                s, p.full_batch_tol(s), ratio, p.solver, p.data.dtype, steps.stepper.measure
            )
    optimizer = steps.optimizer
    if p.method != "gd":
        optimizer = None
    elif p.solver == "gram":
        optimizer = stream_optimizer(optimizer, p.n_features, p.user_fit_intercept)
    return make_result(p, steps, s, history, converged, stopped), optimizer


def subnormal_float32(coef):
    """Whether float32 coefficients hold a value below float32's smallest normal number."""
    if coef.dtype != np.float32:
        return False
    magnitudes = np.abs(coef)
    return bool(np.any((magnitudes > 0) & (magnitudes < np.finfo(np.float32).tiny)))


def stop_reason(problem, settings, status, stopped_by_callback):
    """FitResult.stopped: why the fit ended (see FitResult)."""
    p, s = problem, settings
    if stopped_by_callback:
        return "callback"
    if status == _layout.MAX_ITER:
        return "max_iter"
    if status == _layout.UNCERTIFIED:
        return "refined" if p.method == "qr" and s.tol == 0 else "uncertified"
    if p.full_batch_tol(s):
        return "converged"
    if s.schedule == _layout.ADAPTIVE:
        return "small step"
    return "validation loss plateau" if s.early_stopping else "loss plateau"


def make_result(problem, steps, settings, history, converged, stopped):
    p = problem
    coef, intercept = p.caller_coefficients()
    lr_used = steps.stepper.first_step if p.method != "gd" else steps.step
    error_bound = steps.stepper.error_bound if p.method == "qr" else np.nan
    return FitResult(
        coef,
        intercept,
        history[:, 0].copy(),
        history_dict(history, settings.early_stopping),
        len(history),
        converged,
        p.backend.name,
        lr_used,
        p.solver,
        p.method,
        error_bound,
        stopped,
    )


def stream_optimizer(optimizer, n_features, fit_intercept):
    """A Gram-solver fit's optimiser in the streaming solver's shapes (its intercept
    is W's last column there), for a partial_fit to resume from."""
    velocity_W = optimizer.velocity_W
    velocity_b = (
        velocity_W[:, n_features:] if fit_intercept else np.zeros_like(optimizer.velocity_b)
    )
    iterate = optimizer.iterate
    if iterate is not None:  # the intercept's column goes: partial_fit starts from intercept_
        iterate = iterate[:, :n_features].copy()
    return Optimizer(
        optimizer.state,
        velocity_W[:, :n_features].copy(),
        velocity_b.copy(),
        optimizer.rng_state,
        optimizer.lr,
        iterate,
    )


def history_dict(history, early_stopping):
    """The kernel's history rows as a dict of 1-D arrays (validation_loss only with
    early stopping)."""
    columns = {name: history[:, i].copy() for i, name in enumerate(_layout.HISTORY_COLUMNS)}
    if not early_stopping:
        del columns["validation_loss"]
    return columns
