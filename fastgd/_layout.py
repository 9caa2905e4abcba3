"""What the kernels, the reference and the API agree on: status codes, the layout of
the optimiser state and of the history, the schedules, and the bundles a fit kernel
takes.

One small module that every backend imports (the Cython kernels read these values
at import), so that a number such as ``DIVERGED`` or ``state[LR]`` has one meaning
everywhere. ``step_size`` and ``end_of_epoch`` are written once here in plain
Python over the state array: the NumPy reference calls them as they are and the
Numba kernels compile them (the Cython kernels mirror them line by line).
"""

from collections import namedtuple
from types import MappingProxyType

import numpy as np

# Status codes returned by every backend's fit (kernels return the same integers).
MAX_ITER = 0
CONVERGED = 1
DIVERGED = 2
# ... and by the methods written in Python (_accelerated.py) and the fit pipeline:
# the iterations met tol, but the gradient computed afresh at the coefficients
# returned did not, MAX_CHECKS times (the limit of the arithmetic on this data).
UNCERTIFIED = 3
MAX_CHECKS = 3
# ... and by fit_many's kernels, for float32 data: the certificate is met at the
# float64 coefficients but not at them rounded to float32 (tol at the limit of what
# float32 coefficients can meet on that problem; kept, not refitted by fit).
ROUNDED = 4
# fit_many's kernels take at most this many passes over a problem's rows for its
# certificate (the solution's, then each refinement's: _direct.py's, on the normal
# equations), stopping sooner when tol is met or a pass does not halve the bound.
MAX_PASSES = 3

# A fit is declared diverged as soon as its loss is not finite or exceeds this many
# times the loss at the starting point. With lr < 2/L gradient descent on a quadratic
# never increases the loss, so crossing this bar is proof of divergence, long before
# the coefficients overflow.
DIVERGENCE_FACTOR = 1e4

# Indices into the optimiser state, a float64 array of N_STATE entries that every
# backend's fit reads and updates. It is what carries a fit from one kernel call to
# the next (the fit returns to Python between calls: see _fit.run_segments) and from
# one partial_fit to the next.
T = 0  # updates made so far: the time of the invscaling schedule
EPOCH = 1  # epochs completed
BATCH = 2  # the next mini-batch of the current epoch (0: a new epoch starts)
LR = 3  # the base step: lr, divided by ADAPTIVE_DIVISOR at each plateau of "adaptive"
FIRST_LOSS = 4  # the loss of the first epoch: the divergence bar's reference (NaN: unset)
THRESHOLD = 5  # squared gradient-norm threshold of the full-batch tol test (< 0: unset)
BEST = 6  # the lowest epoch score so far (training or validation loss)
NO_IMPROVE = 7  # consecutive epochs whose score did not improve on BEST by tol
EPOCH_LOSS = 8  # the current epoch's loss, summed over its mini-batches so far
EPOCH_GRAD_NORM2 = 9  # the current epoch's squared gradient-map norms, summed
N_STATE = 10

# Step-size schedules (the integer the kernels take).
SCHEDULES = ("constant", "invscaling", "adaptive")
CONSTANT, INVSCALING, ADAPTIVE = range(3)
# "adaptive" divides the step by this at each plateau, and stops once it is below
# ADAPTIVE_MIN_RATIO times the starting step (scikit-learn's SGD divides by 5 too).
ADAPTIVE_DIVISOR = 5.0
ADAPTIVE_MIN_RATIO = 1e-6

# The Gram matrix of the direct solve's fast factor is computed in tiles of whole
# vectors of this many columns (one to three vectors wide: _gram.h); its dimension is
# padded to a multiple of it.
GRAM_TILE_COLUMNS = 8

# The accurate sums (the direct solve's gradient, in twice the working precision)
# copy rows into a panel this many at a time, of a C-ordered X and of an F-ordered
# one (whose columns are read a panel's rows at a time: 8 rows are one cache line of
# each of D streams, and 64 rows ran 1.1-1.15x faster; a C-ordered X's rows are
# contiguous, and 8 keep the panel in L1). The kernels' tiles take 8 rows with
# AVX-512, 4 without (the bits are the same); chunks are a multiple of the panel.
ACCURATE_PANEL_ROWS = (8, 64)

# Columns of the history array: one row per epoch.
HISTORY_COLUMNS = ("loss", "grad_norm", "lr", "validation_loss")
N_HISTORY = len(HISTORY_COLUMNS)


def new_state(lr):
    """The optimiser state at the start of a fit with step ``lr``."""
    state = np.zeros(N_STATE)
    state[LR] = lr
    state[FIRST_LOSS] = np.nan
    state[THRESHOLD] = -1.0
    state[BEST] = np.inf
    return state


def step_size(state, schedule, power_t):
    """The step of the next update: ``LR``, or ``LR / (1 + T) ** power_t`` (invscaling)."""
    if schedule == INVSCALING:
        return state[LR] / (1.0 + state[T]) ** power_t
    return state[LR]


def end_of_epoch(state, score, lr, schedule, tol, n_iter_no_change, plateau_stops):
    """The plateau test at the end of an epoch; True if the fit must stop.

    An epoch improves when its score (the training loss, or the validation loss with
    early stopping) is below ``(1 - tol) * BEST``. After ``n_iter_no_change``
    epochs in a row without improvement, "adaptive" divides the step by
    ADAPTIVE_DIVISOR (and stops once it is below ADAPTIVE_MIN_RATIO * lr); the
    other schedules stop if ``plateau_stops``.
    """
    if score < (1.0 - tol) * state[BEST]:
        state[NO_IMPROVE] = 0.0
    else:
        state[NO_IMPROVE] += 1.0
    state[BEST] = min(state[BEST], score)
    if state[NO_IMPROVE] >= n_iter_no_change:
        if schedule == ADAPTIVE:
            state[NO_IMPROVE] = 0.0
            state[LR] /= ADAPTIVE_DIVISOR
            return state[LR] < ADAPTIVE_MIN_RATIO * lr
        return plateau_stops
    return False


# The kernel interface: the entry points that both compiled kernel modules
# (_numba_kernels.py, _cython_kernels.pyx) export, with these parameters, and all
# that _backends.CompiledBackend calls of them (tests/test_kernel_interface.py checks
# both modules against it). Arrays are preallocated by the backend; the kernels write
# into them and return at most a number.
KERNEL_INTERFACE = {
    # the threads a parallel loop may use here
    "max_threads": (),
    # gradient's scratch as the module's gradient takes it (a GradientScratch and its
    # two flat buffers), what it takes for no weights, and gradient bound to a
    # workspace: run(X, Y, W, b, weights, total_weight, x_is_f) -> loss, the call of
    # fastgd.gradient's plans, without the dispatch of a call of gradient itself
    "gradient_workspace": ("scratch", "buffers"),
    "no_weights": ("dtype",),
    "gradient_runner": ("workspace",),
    # one pass over X: the gradient sums and the loss
    "gradient": ("X", "Y", "W", "b", "weights", "total_weight", "x_is_f", "workspace"),
    # fastgd.gradient on arrays the kernels take as they are (None: take the
    # validated path); plans is the backend's _backends.GradientPlans
    "gradient_fast_path": ("X", "y", "coef", "intercept", "n_threads", "plans"),
    # one pass over X: the triangular factor, the Gram matrix, the accurate sums
    "compress": (
        "X",
        "Y",
        "b",
        "weights",
        "fit_intercept",
        "x_is_f",
        "chunk_rows",
        "n_threads",
        "R",
        "panel",
    ),
    "gram": (
        "X",
        "Y",
        "b",
        "weights",
        "fit_intercept",
        "x_is_f",
        "chunk_rows",
        "n_threads",
        "G",
        "panel",
    ),
    "accurate_sums": (
        "X",
        "Y",
        "W",
        "b",
        "weights",
        "chunk_rows",
        "n_threads",
        "sums",
        "pairs",
        "partials",
        "residuals",
        "panel",
    ),
    # a step, a shuffle, a segment of a fit, a range of fit_many's problems
    "update": ("model", "grad_W", "grad_b", "lr", "options", "optimizer"),
    "shuffle": ("order", "n", "rng_state"),
    "fit": ("data", "model", "options", "optimizer", "scratch", "history", "max_updates"),
    "fit_many": ("data", "options", "scratch", "result", "first", "last", "slot"),
    # the small problem's Lasso at many penalties: one walk down its homotopy
    "lasso_path": ("H", "q", "weights", "scales", "scratch", "solutions", "events"),
    "elastic_net_path": (
        "H",
        "q",
        "weights",
        "ridge",
        "l1",
        "l2",
        "scratch",
        "solutions",
        "counts",
    ),
}

# The bundles a fit kernel takes: fit(data, model, options, optimizer, scratch,
# history, max_updates), the same on every backend (and _epochs.fit, the loop in
# Python, over a backend). They are namedtuples, which Numba takes as they are and
# the Cython kernels unpack once per call; their shapes and dtypes are in
# _numba_kernels.py's header.

# The rows: X (N, D), Y (N, K), the weights (N,) or empty, whether X is Fortran
# ordered, ``order`` (N,) int64 listing the training rows first, and the float64
# totals of the training and validation rows' weights (their counts without weights).
FitData = namedtuple("FitData", "X Y weights x_is_f order train_weight val_weight")
# The coefficients W (K, D) and b (K,), in X's dtype, updated in place.
Model = namedtuple("Model", "W b")
# What carries a fit over from one call to the next: the state (N_STATE,) float64,
# the momentum velocities (K, D) and (K, 1) float64, the generator's (1,) uint64.
OptimizerArrays = namedtuple("OptimizerArrays", "state velocity_W velocity_b rng_state")
# The compiled kernels' scratch (sized by _backends.CompiledBackend): the chunking,
# the float64 gradient and its partial sums, the gather buffers of mini-batches.
GradientScratch = namedtuple(
    "GradientScratch",
    "chunk_rows n_threads grad_W grad_b chunk_W chunk_b chunk_sq block_W block_b resid",
)


# The arrays of a GradientScratch are cut from two flat buffers, one float64 and one
# in X's dtype, so that a call of the gradient kernel from Python hands over two
# arrays instead of eight (each costs the Numba dispatcher a typing and Cython a
# buffer acquisition). For C chunks, K targets, D features and blocks of B rows:
def gradient_buffer_sizes(n_chunks, n_targets, n_features, block_rows):
    """(entries of the float64 buffer, entries of the buffer in X's dtype): what
    ``gradient_views`` cuts, in its order."""
    C, K, D, B = n_chunks, n_targets, n_features, block_rows
    return K * D + K + C * K * D + C * K + C, C * K * D + C * K + C * K * B


def gradient_views(scratch64, scratchx, n_chunks, n_targets, n_features, block_rows):
    """The arrays of a GradientScratch, as C-contiguous views of its two flat buffers
    (sized by ``gradient_buffer_sizes``): grad_W (K, D), grad_b (K,), chunk_W (C, K,
    D), chunk_b (C, K), chunk_sq (C,) from the float64 ``scratch64``; block_W (C, K,
    D), block_b (C, K), resid (C, K, B) from ``scratchx``. Plain slicing: the
    backends call it as it is, the Numba kernels compile it."""
    C, K, D, B = n_chunks, n_targets, n_features, block_rows
    grad_W = scratch64[: K * D].reshape((K, D))
    at = K * D
    grad_b = scratch64[at : at + K]
    at += K
    chunk_W = scratch64[at : at + C * K * D].reshape((C, K, D))
    at += C * K * D
    chunk_b = scratch64[at : at + C * K].reshape((C, K))
    at += C * K
    chunk_sq = scratch64[at : at + C]
    block_W = scratchx[: C * K * D].reshape((C, K, D))
    at = C * K * D
    block_b = scratchx[at : at + C * K].reshape((C, K))
    at += C * K
    resid = scratchx[at : at + C * K * B].reshape((C, K, B))
    return grad_W, grad_b, chunk_W, chunk_b, chunk_sq, block_W, block_b, resid


BatchScratch = namedtuple("BatchScratch", "sum_W sum_b batch_X batch_Y batch_w")


class FitOptions(
    namedtuple(
        "FitOptions",
        (
            "lr schedule power_t tol n_iter_no_change early_stopping ref_grad_norm2 "
            "fit_intercept l1 l2 n_penalized momentum nesterov n_train batch_size shuffle"
        ),
    )
):
    """What a fit tells the kernels, fixed from its first update to its last (see
    ``_epochs.fit`` for each one's meaning; ``schedule`` is one of CONSTANT,
    INVSCALING, ADAPTIVE, ``lr`` the starting step).

    ``FitOptions.of(**values)`` gives every field its one Python type, so that a
    compiled kernel is specialized once, not once per mix of int and float."""

    __slots__ = ()
    # Each field's one type, and the defaults of all but lr (read-only mappings).
    _TYPES = MappingProxyType(
        {
            "lr": float,
            "schedule": int,
            "power_t": float,
            "tol": float,
            "n_iter_no_change": int,
            "early_stopping": bool,
            "ref_grad_norm2": float,
            "fit_intercept": bool,
            "l1": float,
            "l2": float,
            "n_penalized": int,
            "momentum": float,
            "nesterov": bool,
            "n_train": int,
            "batch_size": int,
            "shuffle": bool,
        }
    )
    _DEFAULTS = MappingProxyType(
        {
            "schedule": CONSTANT,
            "power_t": 0.25,
            "tol": 0.0,
            "n_iter_no_change": 5,
            "early_stopping": False,
            "ref_grad_norm2": 0.0,
            "fit_intercept": True,
            "l1": 0.0,
            "l2": 0.0,
            "n_penalized": 0,
            "momentum": 0.0,
            "nesterov": False,
            "n_train": 0,
            "batch_size": 0,
            "shuffle": False,
        }
    )

    @classmethod
    def of(cls, **values):
        values = {**cls._DEFAULTS, **values}
        return cls(**{name: cls._TYPES[name](values[name]) for name in cls._fields})


# A fit kernel's scratch: the gradient's, and the mini-batches' gather buffers.
FitScratch = namedtuple("FitScratch", "gradient batch")

# fit_many (_many.py): G independent problems in one call. Problem g's rows are
# ``order[offsets[g]:offsets[g + 1]]`` of X (N, D), Y (N, K) and weights (N,) or
# empty; with an empty order, rows ``offsets[g]`` to ``offsets[g + 1]`` themselves.
ManyData = namedtuple("ManyData", "X Y weights order offsets")
# What every problem is fitted with (``ManyOptions.of`` fixes the types, as FitOptions').
ManyOptions = namedtuple("ManyOptions", "fit_intercept l2 tol max_iter")
# (max_iter beyond MAX_PASSES, which no problem makes, would overflow a C integer: 10**20
# is a user's "no limit")
ManyOptions.of = staticmethod(
    lambda fit_intercept, l2, tol, max_iter: ManyOptions(
        bool(fit_intercept), float(l2), float(tol), int(min(max_iter, MAX_PASSES))
    )
)
# Per slot c (one per thread), float64, with D + K columns [X, Y]: their centred Gram matrix
# ``gram`` (C, D + K, D + K) (the features' block standardized in place, then its
# Cholesky factor in its lower triangle), their means ``mean`` (C, D + K), the features'
# inverse scales ``inverse`` (C, D), a panel of rows transposed ``panel`` (C, D + K + 1,
# PANEL) (the weights in its last row) and the same centred ``centred`` (C, max(D + K + 1,
# 4), PANEL) (the roots of the weights last; then the residuals, as pairs); the point
# ``theta`` (W and b: C, K, P), P = D + 1, the gradient there in the standardized
# coordinates ``grad`` (the low parts of its sums in ``low``) and the Newton step from it
# ``step`` (C, K, P); a vector ``work`` (C, P); and the smallest and largest value of
# each column of [X, Y] ``extremes`` (C, 2, D + K).
ManyScratch = namedtuple(
    "ManyScratch", "gram mean inverse panel centred theta grad low step work extremes"
)
# Per problem: coefficients W (G, K, D) and intercepts b (G, K) in float64, the objective
# at them ``loss`` (G,), the passes ``n_iter`` and the status (G,) int64, and the
# certified bound on the coefficients' relative error, ``bound`` (G,).
ManyResult = namedtuple("ManyResult", "W b loss n_iter status bound")

# The Lasso homotopy (_reference.lasso_path; the kernels' lasso_path) takes at most
# this many steps per coefficient (a join or a drop each; typically about one per
# nonzero coefficient).
HOMOTOPY_STEPS = 20
# An elastic-net point of a path (_reference.elastic_net_path; the kernels'
# elastic_net_path) takes at most this many active-set solves before its homotopy is
# walked from 0 instead (each solve adds the coefficients that violate the optimality
# conditions, or drops those that changed sign; one or two, warm-started down a grid).
ACTIVE_SET_STEPS = 30
# The compiled homotopy's scratch, for d coefficients (``HomotopyScratch.of``): the
# Cholesky factor of the active columns' H ``factor`` (d, d) float64 (its lower
# triangle, rows in the order the columns joined), that order ``order`` (d,) int64,
# per column whether it is ``active`` or found ``dependent`` on the active ones (d,)
# int64 and its ``signs`` (d,); per active column (in join order) the piece's
# ``a`` and ``v`` (u_S(t) = a - t v), per column the correlations ``c0`` and
# ``slopes`` (c(t) = c0 + t slopes), and a vector ``work`` (d,), all float64; and an
# elastic-net point's Hessian with its ridge part, ``hessian`` (d, d).
HomotopyScratch = namedtuple(
    "HomotopyScratch", "factor order active dependent signs a v c0 slopes work hessian"
)
HomotopyScratch.of = staticmethod(
    lambda d: HomotopyScratch(
        np.empty((d, d)),
        np.empty(d, dtype=np.int64),
        np.empty(d, dtype=np.int64),
        np.empty(d, dtype=np.int64),
        *(np.empty(d) for _ in range(6)),
        np.empty((d, d)),
    )
)
