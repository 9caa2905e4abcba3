"""The direct solve of a small array in one compiled call.

On a problem of a few thousand entries, ``fit``'s direct solve spends ten times its
arithmetic in Python: the QR factor's small algebra, the certificate's bookkeeping.
The kernel of ``fit_many`` (``_many.py``) does the same job for one problem in
compiled code: the centred Gram matrix and its Cholesky solve, a pass for the
gradient on the rows as if in twice the working precision, which certifies the
solution, and the Newton step from it, certified before its pass (the same steps as
``_direct.py``'s, on the normal equations instead of a QR factor). ``fit`` takes its
answer when that certificate is at most ``tol`` after that one pass, and tight
(``MAX_SMALL_BOUND``); otherwise (the normal equations square the condition number;
constant or dependent columns; float32 coefficients) it goes on with the QR factor.
``batchable`` says which options the kernel runs, for ``fit_many`` too.
"""

from typing import NamedTuple

import numpy as np

from . import _layout
from ._accelerated import scaled_norm
from ._direct import half_ulp

# The largest problem solved here: N (D + K)^2 + (D + K)^3 multiply-adds (the Gram
# matrix, its factor) in the kernel's one thread, where fit's own path runs in
# parallel but pays about half a millisecond before its first pass (a 1e4 x 30 fit
# costs about the same either way; 3e4 x 20 took 1.7 times longer in the kernel).
MAX_SMALL_WORK = 10_000_000
MAX_SMALL_ROWS = 10_000
# The normal equations' bound is normwise: on columns of very different spreads, or
# means far from 0, it is looser than the QR factor's per-coefficient bound (both are
# of the same, exact, coefficients). Above this (beyond float32 coefficients' own
# rounding, for float32 X), fit reports the QR factor's.
MAX_SMALL_BOUND = 1e-12


class SmallFit(NamedTuple):
    """The kernel's certified answer: W (K, D), b (K,) (float64, holding float32
    values for float32 X), the objective, the bound on the coefficients' relative
    error, and the norm of the gradient of the pass (in the standardized coordinates)."""

    W: object
    b: object
    objective: float
    error_bound: float
    grad_norm: float


def batchable(settings):
    """Whether ``fit``'s choice for these options is the direct solve of least squares
    or ridge, which the kernel of ``fit_many`` runs (``_fit.resolve_method``)."""
    s = settings
    return (
        s.lr == "auto"
        and s.method == "auto"
        and s.l1 == 0
        and s.momentum == 0
        and s.schedule == _layout.CONSTANT
        and s.batch_size is None
        and not s.early_stopping
        and s.verbose == 0
        and s.solver in ("auto", "gram")
    )


def unit_weights(weights, offsets, order):
    """The weights of each problem (rows ``order[offsets[g]:offsets[g + 1]]``, or those
    rows themselves with an empty order) times a power of two that brings its largest
    into [1/2, 1): the same fit, exactly, but the kernel's weighted sums (s y, s r) stay
    in float64's range whatever the weights' own scale (1e-280 underflowed them)."""
    if not len(weights):
        return weights
    rows = order if len(order) else np.arange(len(weights))
    largest = np.maximum.reduceat(weights[rows], offsets[:-1]) if len(rows) else weights[:0]
    exponents = np.repeat(np.frexp(largest)[1], np.diff(offsets))
    scaled = np.empty_like(weights)
    scaled[rows] = np.ldexp(weights[rows], -exponents)
    return scaled


def applies(data, settings):
    """Whether ``solve`` may answer for fit: a small C-ordered array, a compiled
    backend, fit's default options, a tol to certify and no callback."""
    N, D, K = data.n_samples, data.n_features, data.n_targets
    m = D + K
    return (
        not data.blocked
        and batchable(settings)
        and settings.tol > 0
        and settings.callback is None
        and hasattr(settings.backend, "fit_many")
        and N <= MAX_SMALL_ROWS
        and N * m * m + m**3 <= MAX_SMALL_WORK
        and data.X.flags.c_contiguous
    )


def solve(data, settings):
    """The kernel's ``SmallFit`` of the data, if one pass certified it to ``tol`` and
    ``MAX_SMALL_BOUND``; else None (fit's own path then runs)."""
    N, D, K = data.n_samples, data.n_features, data.n_targets
    weights = data.sample_weight
    offsets, order = np.array([0, N], dtype=np.int64), np.empty(0, dtype=np.int64)
    problems = _layout.ManyData(
        data.X,
        data.Y,
        np.empty(0, dtype=data.dtype)
        if weights is None
        else unit_weights(weights, offsets, order),
        order,
        offsets,
    )
    options = _layout.ManyOptions.of(
        settings.fit_intercept, settings.l2, settings.tol, settings.max_iter
    )
    result = _layout.ManyResult(
        np.zeros((1, K, D)),
        np.zeros((1, K)),
        np.zeros(1),
        np.zeros(1, dtype=np.int64),
        np.zeros(1, dtype=np.int64),
        np.full(1, np.nan),
    )
    scratch = settings.backend.fit_many(problems, options, result, 0, 1, 1)
    bound = float(result.bound[0])
    if result.status[0] != _layout.CONVERGED or result.n_iter[0] != 1:
        return None
    if not (np.isfinite(result.W).all() and np.isfinite(result.b).all()):
        return None  # (the kernel says DIVERGED first: a check of what fit returns)
    # (float32 coefficients' own rounding, as the QR path's bound holds it)
    own_rounding = float(half_ulp(1.0, data.dtype)) if data.dtype.itemsize == 4 else 0.0
    if not bound <= MAX_SMALL_BOUND + own_rounding:
        return None
    return SmallFit(
        result.W[0],
        result.b[0],
        float(result.loss[0]),
        bound,
        scaled_norm(scratch.grad[0].ravel()),
    )
