"""``fit_many``: thousands of independent small fits in one call.

Each problem is fitted as ``fastgd.fit`` would fit it alone, with the same options.
For the options of fit's default path (the direct solve: full batch, ``method="auto"``,
``penalty`` None or ``"l2"``), a compiled kernel fits every problem without returning
to Python, the problems in parallel (``fit_many`` in ``_numba_kernels.py`` and
``_cython_kernels.pyx``): per problem, one pass for the means and one for the centred
Gram matrix of its rows (in float64), the Cholesky solve of that standardized
(D + 1)-sized system, and ``fit``'s refinement and certificate (``_direct.py``): the
gradient on the problem's own rows, as if in twice the working precision, bounds the
solution's relative error through the factor's inverse, and the Newton step from it
gives the exact solution to rounding, whose bound is known before a pass of its own
(more passes while the bound is above tol and halves). The problems it cannot
certify (the normal equations square the condition number; ``fit``'s direct solve
works on a QR factor instead, and says why it cannot certify a problem) are fitted
again by ``fastgd.fit`` itself. Any other option (an explicit method, a float lr, L1,
momentum, mini-batches, ...) runs a loop of ``fastgd.fit`` over the problems: the same
answers, at the speed of that loop. (``fit`` itself answers a small array with this
kernel: ``_small_fit``.)
"""

import warnings
from dataclasses import dataclass

import numpy as np

from . import _layout, _steps
from ._api import fit, gradient
from ._diagnostics import ConvergenceWarning
from ._fit import SEGMENT_WORK, UPDATE_OVERHEAD
from ._small_fit import batchable, unit_weights
from ._spec import FitSpec
from ._validation import (
    CopyWarning,
    check_sample_weight,
    check_X,
    check_y,
    user_stacklevel,
)

# The options of fastgd.fit that fit_many does not take: the data and starting points
# of one problem, and the per-fit hooks.
_NOT_OPTIONS = ("coef_init", "intercept_init", "callback")


@dataclass(frozen=True)
class FitManyResult:
    """What :func:`fastgd.fit_many` returns: the problems' results stacked, problem
    ``g`` first.

    Attributes
    ----------
    coef : ndarray of shape (n_problems, n_features) or (n_problems, n_targets, n_features)
        The coefficients of each problem, in X's float dtype.
    intercept : ndarray of shape (n_problems,) or (n_problems, n_targets)
    loss : ndarray of shape (n_problems,), float64
        The objective (half the mean squared error, plus the penalty) at them.
    n_iter : ndarray of shape (n_problems,), int64
    converged : ndarray of shape (n_problems,), bool
        As ``FitResult.converged``: for the direct solve, ``error_bound <= tol``.
    error_bound : ndarray of shape (n_problems,), float64
        As ``FitResult.error_bound``: the certified bound on the relative error of
        each problem's coefficients (NaN for the methods that do not bound it).
    groups : ndarray of shape (n_problems,)
        The label of each problem: the sorted distinct values of ``groups``, or
        ``0 ... G - 1`` for a 3-D X.
    backend : str
    """

    coef: np.ndarray
    intercept: np.ndarray
    loss: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray
    error_bound: np.ndarray
    groups: np.ndarray
    backend: str


def fit_many(X, y, groups=None, *, sample_weight=None, **fit_options):
    """Fit many independent linear models at once: per group, per pixel, per series.

    Problem ``g`` is ``fastgd.fit(X_g, y_g, **fit_options)``, and its result is the
    same to the precision of ``tol``; the problems run in compiled code, in parallel,
    with no Python between them, when the options are those of fit's default path.

    Parameters
    ----------
    X : array-like of shape (n_problems, n_samples, n_features), or (n_rows, n_features)
        with ``groups``
        The data of every problem: stacked (problem g is ``X[g]``), or all rows in one
        array, each row's problem given by ``groups``. float32 and float64 are used as
        they are; a stacked X must be C-contiguous (else it is copied, with a
        ``fastgd.CopyWarning``).
    y : array-like of shape (n_problems, n_samples) or (n_problems, n_samples, n_targets),
        or (n_rows,) or (n_rows, n_targets) with ``groups``
        The targets, cast to X's dtype.
    groups : array-like of shape (n_rows,), optional
        The label of each row's problem (any sortable values; the rows of a problem
        need not be adjacent). Only with a 2-D X.
    sample_weight : array-like of shape (n_problems, n_samples), or (n_rows,) with
        ``groups``, optional
        Per-row weights, as ``fastgd.fit``'s.
    **fit_options
        The keyword arguments of :func:`fastgd.fit` (``lr``, ``max_iter``, ``tol``,
        ``fit_intercept``, ``penalty``, ``alpha``, ``backend``, ``n_threads``, ...),
        applied to every problem; all but ``coef_init``, ``intercept_init`` and
        ``callback``. The compiled batch runs for full-batch fits with ``lr="auto"``,
        ``method="auto"``, ``penalty`` None or "l2" (or an elastic net with
        ``l1_ratio=0``), no momentum, no ``verbose``, ``solver`` "auto" or "gram", on the
        cython or numba backend; any other option fits the problems one by one with
        ``fastgd.fit``.

    Returns
    -------
    FitManyResult
        ``coef``, ``intercept``, ``loss``, ``n_iter``, ``converged``, ``error_bound``,
        ``groups``, ``backend``.

    Raises
    ------
    ValueError
        For bad arrays or options (as ``fastgd.fit``), and for a problem whose data
        are not finite, naming it.

    Warns
    -----
    ConvergenceWarning
        Once, if some problems are not certified to ``tol`` within ``max_iter``,
        saying how many, which, and why: a problem whose columns are linearly
        dependent has no unique coefficients; it gets ``fastgd.fit``'s (the
        minimum-norm ones in the standardized features' units), ``converged`` False
        and ``error_bound`` inf, and the warning names its dependent columns.

    Examples
    --------
    >>> import numpy as np, fastgd
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((1000, 50, 3))            # 1000 problems of 50 x 3
    >>> true_coef = rng.standard_normal((1000, 3))
    >>> y = np.einsum("gnd,gd->gn", X, true_coef) + 2.0
    >>> result = fastgd.fit_many(X, y, tol=1e-10)
    >>> result.coef.shape, bool(result.converged.all()), bool(result.error_bound.max() < 1e-10)
    ((1000, 3), True, True)
    >>> bool(np.allclose(result.coef, true_coef) and np.allclose(result.intercept, 2.0))
    True
    """
    for name in _NOT_OPTIONS:
        if name in fit_options:
            raise TypeError(
                f"fit_many() does not take {name}: it fits every problem "
                f"from zero, without callbacks; use fastgd.fit for that."
            )
    try:
        spec = FitSpec(**fit_options)
    except TypeError:
        unknown = sorted(set(fit_options) - set(FitSpec._fields))
        raise TypeError(
            f"fit_many() got unexpected keyword arguments {unknown}; it takes "
            f"fastgd.fit's options: {', '.join(FitSpec._fields)}."
        ) from None
    settings = spec.validated()
    problems = Problems.of(X, y, groups, sample_weight)
    backend = settings.backend
    if batchable(settings) and hasattr(backend, "fit_many"):
        result, fit_said = _fit_batched(problems, settings, fit_options)
    else:
        result, fit_said = _fit_each(
            problems, range(problems.n_problems), settings, fit_options, _empty_result(problems)
        )
    if settings.tol > 0:
        _warn_not_converged(problems, result, settings, fit_said)
    return problems.shaped(result, backend.name)


def _warn_not_converged(problems, result, settings, fit_said):
    """One ConvergenceWarning: how many problems missed tol, which, and why
    (``fit_said``: None, or the label of a problem fastgd.fit fitted and the
    ConvergenceWarning it gave)."""
    rounded = result.status == _layout.ROUNDED
    missed = np.flatnonzero(result.status != _layout.CONVERGED)
    if not len(missed):
        return
    labels = ", ".join(repr(problems.labels[g].item()) for g in missed[:5])
    more = ", ..." if len(missed) > 5 else ""
    why = []
    n_rounded = int(rounded.sum())
    if n_rounded:
        why.append(
            f"{n_rounded} of them met tol at their float64 coefficients, but not at "
            f"them rounded to float32: tol is at the limit of what float32 "
            f"coefficients can meet on these problems (fastgd.fit's, float32 too, "
            f"land inside or outside it by rounding). Use a larger tol, or float64 X."
        )
    if len(missed) > n_rounded:
        others = f"The other {len(missed) - n_rounded}: " if n_rounded else ""
        if fit_said is not None:
            why.append(f"{others}fastgd.fit said of problem {fit_said[0]!r}: {fit_said[1]}")
        else:
            advice = "increase max_iter or tol, or fit one of them with fastgd.fit to see why."
            why.append(f"{others}{advice}" if others else advice.capitalize())
    why = " ".join(why)
    warnings.warn(
        f"{len(missed)} of {problems.n_problems} problems are not certified to "
        f"tol={settings.tol} within max_iter={settings.max_iter} (groups {labels}{more}; "
        f"FitManyResult.converged says which). {why}",
        ConvergenceWarning,
        stacklevel=user_stacklevel(),
    )


@dataclass(frozen=True)
class Problems:
    """The validated data of fit_many: X (n_rows, D), Y (n_rows, K) and weights as the
    kernels take them (``_layout.ManyData``), the problems' labels, and the shapes to
    return."""

    data: _layout.ManyData
    weights: object  # the (n_rows,) weights or None
    labels: np.ndarray
    y_is_1d: bool
    n_samples: int  # the rows of each problem of a stacked X; 0 with groups

    @property
    def n_problems(self):
        return len(self.labels)

    @classmethod
    def of(cls, X, y, groups, sample_weight):
        if groups is None:
            X, Y, y_is_1d, weights, offsets = _stacked(X, y, sample_weight)
            order = np.empty(0, dtype=np.int64)
            labels = np.arange(len(offsets) - 1)
        else:
            X, _ = check_X(X)
            Y, y_is_1d = check_y(y, X.shape[0], X.dtype)
            weights = check_sample_weight(sample_weight, X.shape[0], X.dtype)
            labels, order, offsets = _group_rows(groups, X.shape[0])
        kernel_weights = (
            np.empty(0, dtype=X.dtype)
            if weights is None
            else unit_weights(weights, offsets, order)
        )
        n_samples = 0 if groups is not None else int(offsets[1])
        return cls(
            _layout.ManyData(X, Y, kernel_weights, order, offsets),
            weights,
            labels,
            y_is_1d,
            n_samples,
        )

    def rows(self, g):
        """The indices (or slice) of problem g's rows."""
        lo, hi = self.data.offsets[g], self.data.offsets[g + 1]
        return self.data.order[lo:hi] if len(self.data.order) else slice(lo, hi)

    def shaped(self, result, backend_name):
        """The FitManyResult, in the caller's shapes and X's dtype."""
        dtype = self.data.X.dtype
        coef, intercept = result.W.astype(dtype), result.b.astype(dtype)
        if self.y_is_1d:
            coef, intercept = coef[:, 0], intercept[:, 0]
        return FitManyResult(
            coef,
            intercept,
            result.loss,
            result.n_iter,
            result.status == _layout.CONVERGED,
            result.bound,
            self.labels,
            backend_name,
        )


def _stacked(X, y, sample_weight):
    """A stacked X (G, N, D) as its (G * N, D) rows: a view of a C-contiguous X."""
    X = np.asarray(X)
    if X.ndim != 3:
        raise ValueError(
            f"X must be a 3-D array of shape (n_problems, n_samples, n_features), or a 2-D "
            f"array of all rows with groups= giving each row's problem; got shape {X.shape}."
        )
    n_problems, n_samples, n_features = X.shape
    if 0 in X.shape:
        raise ValueError(
            f"X must have at least one problem, sample and feature; got shape {X.shape}."
        )
    if not X.flags.c_contiguous:
        warnings.warn(
            f"X was copied ({X.size * X.dtype.itemsize / 1e6:.3g} MB): a stacked X must be "
            f"C-contiguous (np.ascontiguousarray). Pass it so to avoid the copy.",
            CopyWarning,
            stacklevel=user_stacklevel(),
        )
        X = np.ascontiguousarray(X)
    rows, _ = check_X(X.reshape(n_problems * n_samples, n_features))
    if y is None:
        raise TypeError("y is None; fastgd needs the targets of a supervised fit.")
    y = np.asarray(y)
    if y.ndim not in (2, 3) or y.shape[:2] != (n_problems, n_samples):
        raise ValueError(
            f"y must have shape ({n_problems}, {n_samples}) or ({n_problems}, {n_samples}, "
            f"n_targets), the leading shape of X {X.shape}; got shape {y.shape}."
        )
    Y, y_is_1d = check_y(y.reshape((n_problems * n_samples,) + y.shape[2:]), len(rows), rows.dtype)
    weights = None
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight)
        if sample_weight.shape != (n_problems, n_samples):
            raise ValueError(
                f"sample_weight must have shape ({n_problems}, {n_samples}), "
                f"one weight per row of each problem; got shape "
                f"{sample_weight.shape}."
            )
        weights = check_sample_weight(sample_weight.reshape(-1), len(rows), rows.dtype)
    offsets = np.arange(n_problems + 1, dtype=np.int64) * n_samples
    return rows, Y, y_is_1d, weights, offsets


def _group_rows(groups, n_rows):
    """(labels, order, offsets): the distinct labels, sorted, and each one's rows
    ``order[offsets[g]:offsets[g + 1]]`` (order empty when they already are in order)."""
    groups = np.asarray(groups)
    if groups.shape != (n_rows,):
        raise ValueError(
            f"groups must have shape ({n_rows},), one label per row of X; got "
            f"shape {groups.shape}."
        )
    if _has_missing(groups):  # (before np.unique, which mis-sorts NaN in object arrays)
        raise ValueError(
            "groups contains NaN (or NaT, or None): every row needs the label of its problem."
        )
    try:
        labels, inverse = np.unique(groups, return_inverse=True)
    except TypeError as exc:
        raise TypeError(f"groups must hold sortable labels (numbers or strings): {exc}") from None
    inverse = inverse.reshape(-1)
    offsets = np.zeros(len(labels) + 1, dtype=np.int64)
    np.cumsum(np.bincount(inverse, minlength=len(labels)), out=offsets[1:])
    if np.all(inverse[1:] >= inverse[:-1]):
        return labels, np.empty(0, dtype=np.int64), offsets
    return labels, np.argsort(inverse, kind="stable").astype(np.int64), offsets


def _has_missing(labels):
    """Whether the labels hold a missing value, which np.unique neither sorts nor merges
    consistently (NaN in an object array)."""
    if labels.dtype.kind in "fc":
        return bool(np.isnan(labels).any())
    if labels.dtype.kind in "mM":
        return bool(np.isnat(labels).any())
    if labels.dtype.kind == "O":
        return any(
            label is None or (isinstance(label, float) and label != label) for label in labels
        )
    return False


def _empty_result(problems):
    data = problems.data
    n_problems, n_features, n_targets = problems.n_problems, data.X.shape[1], data.Y.shape[1]
    return _layout.ManyResult(
        np.zeros((n_problems, n_targets, n_features)),
        np.zeros((n_problems, n_targets)),
        np.zeros(n_problems),
        np.zeros(n_problems, dtype=np.int64),
        np.zeros(n_problems, dtype=np.int64),
        np.full(n_problems, np.nan),
    )


def _fit_batched(problems, settings, fit_options):
    """The compiled batch, then fastgd.fit on the problems it could not certify (not
    the ROUNDED ones of float32 data, certified at their float64 coefficients: fit's
    float32 coefficients are at the same limit).
    Returns ``(result, fit_said)`` as _fit_each."""
    result = _empty_result(problems)
    options = _layout.ManyOptions.of(
        settings.fit_intercept, settings.l2, settings.tol, settings.max_iter
    )
    for first, last in _segments(problems.data, settings.max_iter):
        settings.backend.fit_many(problems.data, options, result, first, last, settings.n_threads)
    refit = np.flatnonzero(
        (result.status == _layout.UNCERTIFIED) | (result.status == _layout.DIVERGED)
    )
    return _fit_each(problems, refit, settings, fit_options, result)


def _segments(data, max_iter):
    """Ranges of problems of about SEGMENT_WORK multiply-adds each (_fit's unit of work
    between two returns to Python), so that Ctrl-C acts within a fraction of a second:
    a problem of n rows costs about n (D + K)^2 for its Gram matrix, D^3 for its
    factor, and n (D + 1) K per pass of its certificate (at most MAX_PASSES)."""
    n_features, n_targets = data.X.shape[1], data.Y.shape[1]
    rows = np.diff(data.offsets)
    passes = min(max(max_iter, 1), _layout.MAX_PASSES)
    work = np.cumsum(
        rows * (n_features + n_targets) ** 2
        + n_features**3
        + passes * rows * (n_features + 1) * n_targets
        + UPDATE_OVERHEAD
    )
    bounds = np.searchsorted(work, np.arange(SEGMENT_WORK, work[-1], SEGMENT_WORK))
    edges = [0, *(int(b) + 1 for b in bounds), len(rows)]
    return [(lo, hi) for lo, hi in zip(edges, edges[1:]) if hi > lo]


def _fit_each(problems, which, settings, fit_options, result):
    """fastgd.fit on the problems ``which``, one by one, into ``result``. Returns
    ``(result, fit_said)``: fit_said is None, or (label, message) of the first
    ConvergenceWarning fit gave."""
    data = problems.data
    fit_said = None
    for g in which:
        rows = problems.rows(g)
        # One problem's rows, contiguous (a slice of a Fortran-ordered X is not): a copy
        # of one small problem, not of the caller's array.
        X, Y = np.ascontiguousarray(data.X[rows]), data.Y[rows]
        weights = None if problems.weights is None else problems.weights[rows]
        try:
            with warnings.catch_warnings(record=True) as caught:  # fit_many warns once
                warnings.simplefilter("always", ConvergenceWarning)
                one = fit(X, Y, sample_weight=weights, **fit_options)
        except (ValueError, FloatingPointError) as exc:
            message = _non_finite(problems, g) or str(exc)
            raise type(exc)(
                f"problem {problems.labels[g].item()!r} of fit_many: {message}"
            ) from exc
        for warning in caught:
            if not issubclass(warning.category, ConvergenceWarning):
                warnings.warn_explicit(
                    warning.message, warning.category, warning.filename, warning.lineno
                )
            elif fit_said is None:
                fit_said = (problems.labels[g].item(), str(warning.message))
        result.W[g] = one.coef
        result.b[g] = one.intercept
        result.n_iter[g] = one.n_iter
        result.bound[g] = one.error_bound
        result.status[g] = _layout.CONVERGED if one.converged else _layout.MAX_ITER
        result.loss[g] = _objective(one, X, Y, weights, settings)
    return result, fit_said


def _non_finite(problems, g):
    """ "X contains NaN at index (g, i, j)" for problem g's first non-finite value,
    at its index in the caller's array (stacked, or of all rows); None if none."""
    rows = problems.rows(g)
    arrays = (("X", problems.data.X), ("y", problems.data.Y), ("sample_weight", problems.weights))
    for name, array in arrays:
        if array is None:
            continue
        part = array[rows]  # (a copy with groups: gathered once)
        bad = np.argwhere(~np.isfinite(part))
        if not len(bad):
            continue
        i, *rest = (int(n) for n in bad[0])
        value = part[tuple(bad[0])]
        row = int(rows.start + i if isinstance(rows, slice) else rows[i])
        if name == "y" and problems.y_is_1d:
            rest = []
        index = (*(divmod(row, problems.n_samples) if problems.n_samples else (row,)), *rest)
        kind = "NaN" if np.isnan(value) else "inf"
        return f"{name} contains {kind} at index {index[0] if len(index) == 1 else index}."
    return None


def _objective(one, X, Y, weights, settings):
    """The objective at a fit's coefficients, in float64 (for FitManyResult.loss)."""
    W = np.asarray(one.coef, dtype=np.float64).reshape(Y.shape[1], X.shape[1])
    b = np.asarray(one.intercept, dtype=np.float64).reshape(Y.shape[1])
    loss = gradient(
        X.astype(np.float64), Y.astype(np.float64), W, b, backend="numpy", sample_weight=weights
    )[2]
    return loss + _steps.penalty(W, settings.l1, settings.l2, X.shape[1])
