"""The backends: which exist (``BACKEND_SPECS``), how to load them, and one
calling convention for all.

Every backend offers the same operations on validated, cast arrays (see
``_numba_kernels.py`` for the shapes):

* ``gradient(X, Y, W, b, x_is_f, n_threads, sample_weight) -> (grad_W, grad_b,
  loss)``, gradients in float64;
* ``compress(X, Y, b, fit_intercept, sample_weight, x_is_f, n_threads) -> R``, the
  triangular factor of the augmented data (the Gram solver's one pass);
* ``fit_workspace(data, n_targets, options, n_threads)``, once per fit, then
  ``fit(data, model, options, optimizer, history, max_updates, workspace) ->
  (n_epochs, status)``, called until the fit ends: each call runs at most
  ``max_updates`` updates and ``len(history)`` epochs of ``_epochs.fit``,
  updating the model and the ``Optimizer`` in place and writing one row of
  ``history`` per epoch. ``data`` is a ``_layout.FitData`` (``fit_data`` builds it),
  ``model`` a ``_layout.Model``, ``options`` a ``_layout.FitOptions``.

The compiled backends are loaded on first use, so ``import fastgd`` neither imports
nor compiles Numba.
"""

import contextlib
import functools
import importlib
import importlib.util
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from . import _epochs, _layout, _reference
from ._layout import (  # noqa: F401 (FitOptions and Model: for the API, from here)
    BatchScratch,
    FitData,
    FitOptions,
    FitScratch,
    GradientScratch,
    Model,
    OptimizerArrays,
)

# Rows per block of the compiled kernels: the unit of float32 accumulation (see
# _numba_kernels.py). 256 rows of a few hundred features stay in L2 for the second
# sweep of the Fortran-order kernel.
BLOCK_ROWS = 256
# Rows are grouped into at most this many chunks, the unit of parallel work, each
# with its own float64 partial sums. Chunk sizes depend on N alone, never on the
# thread count: that is what makes results identical for every thread count.
MAX_CHUNKS = 256
# Below this many multiply-adds per gradient (N * D * K), starting threads costs
# more than it saves: the kernels take their serial path.
PARALLEL_MIN_WORK = 1 << 17

# After a parallel pass, the kernels' OpenMP threads spin for a while before they
# sleep; BLAS's own threads, started then by the small dense algebra of the direct
# solve (an SVD, a Cholesky factor of at most this many columns), fight them for the
# cores and made that algebra tens of times slower. It runs on one BLAS thread
# (``serial_blas``): threads gain nothing on matrices this small.
SERIAL_BLAS_COLUMNS = 512

# Mini-batches and validation rows are gathered into C-ordered buffers of at most
# this many bytes (and at least one block of rows) before the fused gradient runs on
# them: small enough to stay in L2, large enough to amortise the per-piece sums.
PIECE_BYTES = 1 << 20

# The compression (``compress``: the triangular factor of [X, 1, Y]) reduces panels
# of this many rows at a time: a panel of m float64 columns stays in L1/L2 while its
# reflections are applied (64 to 256 rows ran equally fast at m = 34 here). Rows are
# grouped into at most COMPRESS_MAX_CHUNKS chunks, each with its own m x m factor
# (and no more than COMPRESS_BYTES of factors and panels in all), merged in chunk
# order: like the gradient's chunks, their sizes depend on the shape alone.
COMPRESS_PANEL_ROWS = 128
COMPRESS_MAX_CHUNKS = 32
COMPRESS_CHUNK_RATIO = 4  # a chunk's rows per column of the factor, at least
COMPRESS_BYTES = 1 << 26

# The Gram matrix of [X, 1, Y] (the direct solve's fast factor: _gram.factor_of_gram)
# is summed a panel of GRAM_PANEL_ROWS rows at a time (row-major, in L1 while its tiles
# stream through it), in chunks as the compression's, of at least GRAM_CHUNK_RATIO
# rows per column of the matrix: a chunk's own matrix is zeroed, written (fresh pages)
# and added to the others', which at a few hundred rows a chunk cost as much as a
# fifth of the pass (1e4 x 100 in 32 chunks).
GRAM_PANEL_ROWS = 64
GRAM_CHUNK_RATIO = 16

# The accurate sums (the direct solve's refinement and certificate, _direct.py) cut
# the rows into at most ACCURATE_MAX_CHUNKS chunks (and no more than COMPRESS_BYTES of
# pairs in all), of sizes fixed by the shape (a multiple of the panel's rows), added
# in chunk order; a chunk holds at least ACCURATE_MIN_CHUNK_ROWS rows (as far as there
# are rows): each chunk costs its setup and the addition of its pairs.
ACCURATE_MAX_CHUNKS = 32
ACCURATE_MIN_CHUNK_ROWS = 4096

# fit_many reads each problem's rows a panel of at most this many rows at a time,
# transposed into scratch that stays in L1 (a problem of this many rows or fewer is
# gathered once for all its passes).
MANY_PANEL_ROWS = 128


@dataclass
class Optimizer:
    """What carries a fit from one kernel call to the next, and one partial_fit to
    the next: the state array (``_layout.N_STATE`` entries), the momentum
    velocities (float64, ``(K, D)`` and ``(K, 1)``) and the random generator's
    uint64 state."""

    state: np.ndarray
    velocity_W: np.ndarray
    velocity_b: np.ndarray
    rng_state: np.ndarray
    lr: float  # the starting step (the state's LR is the current one)
    # The W to resume from when the fit returned other coefficients than its iterate
    # (Nesterov with L1 returns the proximal point of its last, extrapolated, iterate).
    iterate: np.ndarray = None

    @classmethod
    def new(cls, lr, n_targets, n_features, seed):
        return cls(
            _layout.new_state(lr),
            np.zeros((n_targets, n_features)),
            np.zeros((n_targets, 1)),
            np.array([seed], dtype=np.uint64),
            lr,
        )

    # The entries of the state the fit pipeline reads, by name (_layout has the layout).
    @property
    def n_updates(self):
        return int(self.state[_layout.T])

    @property
    def n_epochs(self):
        return int(self.state[_layout.EPOCH])

    @property
    def first_loss(self):
        """The divergence bar's reference, the objective at the start (NaN: unset)."""
        return self.state[_layout.FIRST_LOSS]

    @first_loss.setter
    def first_loss(self, value):
        self.state[_layout.FIRST_LOSS] = value

    @property
    def tol_threshold(self):
        """The gradient norm the full-batch tol test stops at (0 until it is set)."""
        return float(np.sqrt(max(self.state[_layout.THRESHOLD], 0.0)))

    def start_segment(self):
        """A new call (partial_fit) starts a new epoch at its first mini-batch."""
        self.state[_layout.BATCH] = 0.0

    def count_update(self):
        """One full-batch update, one epoch (the methods written in Python)."""
        self.state[_layout.T] += 1
        self.state[_layout.EPOCH] += 1

    @property
    def arrays(self):
        """The kernels' view: state, velocities and generator (``_layout.OptimizerArrays``)."""
        return OptimizerArrays(self.state, self.velocity_W, self.velocity_b, self.rng_state)


def fit_data(X, Y, sample_weight, x_is_f, order, n_train):
    """The rows of a fit as its kernels take them (``_layout.FitData``)."""
    weights, train_weight, val_weight = _training_weights(X, sample_weight, order, n_train)
    return FitData(X, Y, weights, bool(x_is_f), order, train_weight, val_weight)


def _training_weights(X, sample_weight, order, n_train):
    """(weights, train_weight, val_weight): the kernels' weights (an empty array for
    none) and the total weights of the training rows ``order[:n_train]`` and the
    validation rows after them (all rows train when ``n_train`` is N)."""
    n_samples = X.shape[0]
    if sample_weight is None:
        return np.empty(0, dtype=X.dtype), float(n_train), float(n_samples - n_train)
    if n_train == n_samples:
        return sample_weight, float(np.sum(sample_weight, dtype=np.float64)), 0.0
    train_weight = float(np.sum(sample_weight[order[:n_train]], dtype=np.float64))
    val_weight = float(np.sum(sample_weight[order[n_train:]], dtype=np.float64))
    return sample_weight, train_weight, val_weight


class HessianProduct:
    """The Hessian's product, a leaf of every backend. The Hessian of the half-MSE
    objective is ``H = A.T @ A / N`` with ``A = [X, 1]`` (``X`` without an intercept),
    the same for every target; ``H [W, b]`` is the gradient at (W, b) of the problem
    with Y = 0: ``G_W = (X W.T + b).T X / N``, ``g_b = mean(X W.T + b)``, which the
    fused gradient kernel computes with Y a stride-0 view of zeros (no N-sized
    array). Returns ``(H_W, h_b, [W, b].H [W, b] / 2)``."""

    def hessian_product(self, X, W, b, x_is_f, n_threads=None, sample_weight=None):
        zeros = zero_targets(X.shape[0], W.shape[0], X.dtype)
        return self.gradient(X, zeros, W, b, x_is_f, n_threads, sample_weight)


@functools.lru_cache(maxsize=16)
def zero_targets(n_samples, n_targets, dtype):
    """Y = 0 of shape (N, K): a read-only stride-0 view of K zeros, made once per shape
    (CG and FISTA take a Hessian product every iteration)."""
    return np.broadcast_to(np.zeros((1, n_targets), dtype=dtype), (n_samples, n_targets))


class NumpyBackend(HessianProduct):
    """The plain NumPy reference (``_reference.py``): oracle and fallback. Like the
    compiled kernels, it returns non-finite values silently (the API names them).
    Its fit is the epoch loop of ``_epochs.py`` over its own leaves."""

    name = "numpy"

    @np.errstate(over="ignore", invalid="ignore")
    def gradient(self, X, Y, W, b, x_is_f, n_threads=None, sample_weight=None):
        return _reference.gradient(X, Y, W, b, sample_weight)

    @np.errstate(over="ignore", invalid="ignore")
    def partial_gradient(self, X, Y, W, b, x_is_f, n_threads=None, sample_weight=None):
        return _reference.rows_gradient(X, Y, W, b, sample_weight, slice(None))

    @np.errstate(over="ignore", invalid="ignore")
    def accurate_sums(self, X, Y, W, b, x_is_f, n_threads=None, sample_weight=None):
        return _reference.accurate_sums(X, Y, W, b, sample_weight)

    def update(self, model, grad_W, grad_b, lr, options, optimizer):
        return _reference.update(model, grad_W, grad_b, lr, options, optimizer)

    def shuffle(self, order, n, rng_state):
        _reference.shuffle(order, n, rng_state)

    @np.errstate(over="ignore", invalid="ignore")
    def compress(self, X, Y, b, fit_intercept, sample_weight, x_is_f, n_threads=None):
        return _reference.compress(X, Y, b.astype(np.float64), sample_weight, fit_intercept)

    @np.errstate(over="ignore", invalid="ignore")
    def gram(self, X, Y, b, fit_intercept, sample_weight, x_is_f, n_threads=None):
        return (
            _reference.gram(X, Y, b.astype(np.float64), sample_weight, fit_intercept),
            X.shape[0],
        )

    def fit_workspace(self, data, n_targets, options, n_threads=None):
        return None

    def lasso_path(self, H, q, weights, scales, events=None):
        return _reference.lasso_path(H, q, weights, scales, events)

    def elastic_net_path(self, H, q, weights, ridge, l1, l2, counts=None):
        return _reference.elastic_net_path(H, q, weights, ridge, l1, l2, counts)

    @np.errstate(over="ignore", invalid="ignore")
    def fit(self, data, model, options, optimizer, history, max_updates, workspace=None):
        return _epochs.fit(self, data, model, options, optimizer.arrays, history, max_updates)


# Gradient plans kept per thread and backend (a user's loop over a few shapes,
# e.g. mini-batches and a last, smaller one, keeps all of them).
MAX_PLANS = 8


class GradientPlan:
    """Everything one thread's gradient calls of one shape and dtype need, made once:
    the kernel's specialization, its scratch as the kernel takes it, the thread
    count, and the buffers the API fills (the intercept of a number, no weights).
    ``run`` is then one kernel call (``CompiledBackend.gradient_plan`` keeps them)."""

    __slots__ = ("intercept", "n_threads", "no_weights", "run", "scratch", "workspace")

    def __init__(self, kernels, scratch, buffers):
        dtype = buffers[1].dtype
        self.scratch = scratch  # its grad_W and grad_b: the gradient of the last run
        self.n_threads = scratch.n_threads
        # the scratch as the kernel takes it, made once (the Cython kernels' acquires
        # no buffer of the scratch in a call)
        self.workspace = kernels.gradient_workspace(scratch, buffers)
        # run(X, Y, W, b, weights, total_weight, x_is_f) -> loss: one kernel call, on X
        # of the plan's shape and dtype
        self.run = kernels.gradient_runner(self.workspace)
        self.intercept = np.empty(scratch.grad_b.shape[0], dtype=dtype)
        self.no_weights = kernels.no_weights(dtype)


class GradientPlans:
    """A backend's gradient plans, kept per thread (threads must not share scratch)
    by shape: ``gradient()`` is called in users' loops, and its plans are kept for the
    next calls of the same shapes (the MAX_PLANS made last, per thread). What the
    kernels' ``gradient_fast_path`` takes: the Cython kernels' looks a plan up in C,
    in ``local.plans`` by ``key``'s tuple, and calls ``plan`` for a shape without one."""

    def __init__(self, backend):
        self.backend = backend
        self.local = threading.local()  # its ``plans``: this thread's, by key
        self.fork_state = _fork_state  # (in the key: a forked child's plans are serial)

    def plan(self, n_samples, n_features, n_targets, dtype, n_threads):
        """This thread's ``GradientPlan`` for an X of this shape and dtype, made on
        its first use."""
        key = (n_samples, n_features, n_targets, dtype.num, n_threads, _fork_state["serial_only"])
        plans = self.of_thread()
        plan = plans.get(key)
        if plan is None:
            if len(plans) >= MAX_PLANS:
                del plans[next(iter(plans))]  # the oldest
            scratch, buffers = self.backend.gradient_scratch(
                n_samples, n_features, n_targets, dtype, n_threads
            )
            plan = plans[key] = GradientPlan(self.backend.kernels, scratch, buffers)
        return plan

    def of_thread(self):
        """This thread's plans, by key."""
        plans = getattr(self.local, "plans", None)
        if plans is None:
            plans = self.local.plans = {}
        return plans


# Fork safety. GNU OpenMP (libgomp, under the Cython kernels and Numba's "omp"
# threading layer) cannot run a parallel region in a child forked from a process that
# has run one: the Cython kernels hang and Numba aborts ("fork() called from a process
# already using GNU OpenMP"). Fork is multiprocessing's default start method on Linux
# up to Python 3.13, so a child forked after a parallel fit runs every kernel on its
# serial path, which never enters the OpenMP runtime (tests/test_threads.py).
_fork_state = {"parallel_used": False, "serial_only": False}


def _after_fork_in_child():
    if _fork_state["parallel_used"]:
        _fork_state["serial_only"] = True


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)


class CompiledBackend(HessianProduct):
    """A kernel module (Numba or Cython) behind the common calling convention.

    This is the only place that allocates the kernels' outputs and scratch, and
    that decides how many threads they use.
    """

    def __init__(self, name, kernels):
        self.name = name
        self.kernels = kernels  # the entry points of _layout.KERNEL_INTERFACE
        self.plans = GradientPlans(self)

    def threads_for(self, X, n_targets, n_threads):
        """Threads for a gradient: 1 for tiny problems, else n_threads (None = all allowed)."""
        n_samples, n_features = X.shape
        n_chunks = -(-n_samples // self.chunk_rows(n_samples))
        return self._threads(n_samples * n_features * n_targets, n_chunks, n_threads)

    def _threads(self, work, n_chunks, n_threads):
        """Threads for ``work`` multiply-adds in ``n_chunks`` independent chunks."""
        if work < PARALLEL_MIN_WORK or _fork_state["serial_only"]:
            return 1  # (before max_threads: in a forked child, Numba's would abort)
        available = self.kernels.max_threads()
        wanted = available if n_threads is None else min(n_threads, available)
        threads = max(1, min(wanted, n_chunks))
        if threads > 1:
            _fork_state["parallel_used"] = True
        return threads

    @staticmethod
    def chunk_rows(n_samples):
        n_blocks = -(-n_samples // BLOCK_ROWS)
        return BLOCK_ROWS * -(-n_blocks // MAX_CHUNKS)

    def gradient_scratch(self, n_samples, n_features, n_targets, dtype, n_threads):
        """The gradient kernel's scratch for an X of this shape and dtype: a
        ``_layout.GradientScratch`` and its two flat buffers (``_layout.gradient_views``)."""
        chunk_rows = self.chunk_rows(n_samples)
        n_chunks = -(-n_samples // chunk_rows)
        block_rows = min(BLOCK_ROWS, n_samples)
        sizes = _layout.gradient_buffer_sizes(n_chunks, n_targets, n_features, block_rows)
        buffers = np.empty(sizes[0], dtype=np.float64), np.empty(sizes[1], dtype=dtype)
        threads = self._threads(n_samples * n_features * n_targets, n_chunks, n_threads)
        views = _layout.gradient_views(*buffers, n_chunks, n_targets, n_features, block_rows)
        return GradientScratch(chunk_rows, threads, *views), buffers

    def gradient(self, X, Y, W, b, x_is_f, n_threads=None, sample_weight=None):
        """The returned grad_W and grad_b are overwritten by this thread's next call
        with the same shapes: copy them to keep them."""
        weights, total_weight, _ = _training_weights(X, sample_weight, None, X.shape[0])
        return self._gradient_kernel(X, Y, W, b, x_is_f, n_threads, weights, total_weight)

    def accurate_sums(self, X, Y, W, b, x_is_f, n_threads=None, sample_weight=None):
        """The gradient sums as pairs (hi, lo) of (K, D + 2), as if in twice the
        working precision (``_reference.accurate_sums``), for float64 W and b, in one
        pass over X."""
        n_samples, n_features = X.shape
        n_targets, panel_rows = W.shape[0], _layout.ACCURATE_PANEL_ROWS[bool(x_is_f)]
        # (the tiles' SIMD lanes take 8 columns at a time, of X's, the intercept's 1 and
        # the loss's R / 2)
        padded = -(-(n_features + 2) // 8) * 8
        n_panels = -(-n_samples // panel_rows)
        by_memory = COMPRESS_BYTES // (16 * n_targets * (padded + n_features + 2))
        by_size = n_panels // (ACCURATE_MIN_CHUNK_ROWS // panel_rows)
        n_chunks = max(1, min(ACCURATE_MAX_CHUNKS, n_panels, by_memory, by_size))
        chunk_rows = panel_rows * -(-n_panels // n_chunks)
        n_chunks = -(-n_samples // chunk_rows)
        sums = np.empty((n_chunks, 2, n_targets, n_features + 2))
        pairs = np.empty((n_chunks, 2, n_targets, padded))
        partials = np.empty((n_chunks, 2, 8))  # (a tile's rows' residual pairs)
        residuals = np.empty((n_chunks, 4, 8))
        panel = np.empty((n_chunks, panel_rows, padded))
        W_padded = np.zeros((n_targets, padded))
        W_padded[:, :n_features] = W
        weights, _, _ = _training_weights(X, sample_weight, None, n_samples)
        threads = self._threads(n_samples * n_features * n_targets * 8, n_chunks, n_threads)
        scratch = (sums, pairs, partials, residuals, panel)
        self.kernels.accurate_sums(X, Y, W_padded, b, weights, chunk_rows, threads, *scratch)
        return sums[0, 0].copy(), sums[0, 1].copy()

    def partial_gradient(self, X, Y, W, b, x_is_f, n_threads=None, sample_weight=None):
        """The unnormalised sums ``((s R).T @ X, (s R).sum(0), (s R * R).sum() / 2)``
        over X's rows: the gradient kernel with a total weight of 1 (dividing by 1
        and by 2 is exact). Overwritten by the next call, as gradient's."""
        no_weights = sample_weight is None or not len(sample_weight)
        weights = np.empty(0, dtype=X.dtype) if no_weights else sample_weight
        return self._gradient_kernel(X, Y, W, b, x_is_f, n_threads, weights, 1.0)

    def _gradient_kernel(self, X, Y, W, b, x_is_f, n_threads, weights, total_weight):
        n_samples, n_features = X.shape
        plan = self.gradient_plan(n_samples, n_features, W.shape[0], X.dtype, n_threads)
        loss = plan.run(X, Y, W, b, weights, total_weight, bool(x_is_f))
        return plan.scratch.grad_W, plan.scratch.grad_b, loss

    def gradient_plan(self, n_samples, n_features, n_targets, dtype, n_threads):
        """This thread's ``GradientPlan`` for an X of this shape and dtype (``plans``)."""
        return self.plans.plan(n_samples, n_features, n_targets, dtype, n_threads)

    def update(self, model, grad_W, grad_b, lr, options, optimizer):
        """The kernels' step on the model (``_update``); returns the squared norm of
        the gradient map. ``optimizer``: an OptimizerArrays."""
        return self.kernels.update(model, grad_W, grad_b, lr, options, optimizer)

    def shuffle(self, order, n, rng_state):
        self.kernels.shuffle(order, n, rng_state)

    def compress(self, X, Y, b, fit_intercept, sample_weight, x_is_f, n_threads=None):
        """The (m, m) float64 upper-triangular factor R of the augmented data
        (``_reference.compress``, up to the signs of its rows), in one pass over X."""
        n_samples, n_features = X.shape
        m = n_features + (1 if fit_intercept else 0) + Y.shape[1]
        # (a chunk of at least COMPRESS_CHUNK_RATIO m rows: merging its m x m factor
        # into the others', about 2 m^3 multiply-adds, costs at most a quarter of
        # compressing its rows, 2 rows m^2; 32 chunks of one panel each doubled the
        # work of 2,000 rows of 100 columns)
        chunk_rows, n_chunks = pass_chunks(
            n_samples, COMPRESS_PANEL_ROWS, m, min_rows=COMPRESS_CHUNK_RATIO * m
        )
        R = np.empty((n_chunks, m, m))
        panel = np.empty((n_chunks, m, min(COMPRESS_PANEL_ROWS, max(n_samples, m))))
        weights, _, _ = _training_weights(X, sample_weight, None, n_samples)
        threads = self._threads(n_samples * m * m, n_chunks, n_threads)
        self.kernels.compress(
            X, Y, b, weights, fit_intercept, x_is_f, chunk_rows, threads, R, panel
        )
        return R[0].copy()

    def gram(self, X, Y, b, fit_intercept, sample_weight, x_is_f, n_threads=None):
        """``(G, chain)``: the (m, m) float64 Gram matrix ``Z.T @ diag(s) @ Z`` of the
        augmented data (``_reference.gram``), in one pass over X: each entry a sum over
        the rows in order, in chunks of sizes fixed by the shape added in chunk order;
        and the depth of an entry's summation: the most operations a product's rounding
        passes through (for ``_gram.gram_factor_error``)."""
        n_samples, n_features = X.shape
        m = n_features + (1 if fit_intercept else 0) + Y.shape[1]
        m_pad = _layout.GRAM_TILE_COLUMNS * -(-m // _layout.GRAM_TILE_COLUMNS)
        chunk_rows, n_chunks = pass_chunks(
            n_samples, GRAM_PANEL_ROWS, m_pad, GRAM_CHUNK_RATIO * m_pad
        )
        G = np.empty((n_chunks, m_pad, m_pad))
        panel = np.empty((n_chunks, min(GRAM_PANEL_ROWS, n_samples), m_pad))
        weights, _, _ = _training_weights(X, sample_weight, None, n_samples)
        threads = self._threads(n_samples * m * m // 2, n_chunks, n_threads)
        self.kernels.gram(
            X,
            Y,
            b.astype(np.float64),
            weights,
            fit_intercept,
            x_is_f,
            chunk_rows,
            threads,
            G,
            panel,
        )
        upper = np.triu(G[0, :m, :m])
        # (an entry: a panel's chain of products, added to its chunk's panel by panel,
        # the chunks added in order)
        chain = min(GRAM_PANEL_ROWS, n_samples) + -(-chunk_rows // GRAM_PANEL_ROWS) + n_chunks
        return upper + np.triu(upper, 1).T, chain

    def lasso_path(self, H, q, weights, scales, events=None):
        """The minimizers at each t of ``scales`` of the small problem's Lasso, rows of
        an (n, d) array, in one walk down its homotopy (``_reference.lasso_path``);
        ``events``, if given ((n,) int64), receives its events above each t."""
        n, d = len(scales), len(q)
        solutions = np.empty((n, d))
        events = np.empty(n, dtype=np.int64) if events is None else events
        self.kernels.lasso_path(
            np.ascontiguousarray(H, dtype=np.float64),
            np.ascontiguousarray(q, dtype=np.float64),
            np.ascontiguousarray(weights, dtype=np.float64),
            np.ascontiguousarray(scales, dtype=np.float64),
            _layout.HomotopyScratch.of(d),
            solutions,
            events,
        )
        return solutions

    def elastic_net_path(self, H, q, weights, ridge, l1, l2, counts=None):
        """The minimizers at each point ``(l1[i], l2[i])`` of an elastic-net path of
        the small problem, rows of an (n, d) array, each from the active set of the
        point before (``_reference.elastic_net_path``); ``counts``, if given ((n,)
        int64), receives each point's solves."""
        n, d = len(l1), len(q)
        solutions = np.empty((n, d))
        counts = np.empty(n, dtype=np.int64) if counts is None else counts
        as_float = functools.partial(np.ascontiguousarray, dtype=np.float64)
        self.kernels.elastic_net_path(
            *map(as_float, (H, q, weights, ridge, l1, l2)),
            _layout.HomotopyScratch.of(d),
            solutions,
            counts,
        )
        return solutions

    def fit_many(self, data, options, result, first, last, n_threads=None):
        """Fit problems [first, last) of data (``_layout.ManyData``) into result
        (``_layout.ManyResult``), in Python threads that each take a contiguous range
        of them (the kernels release the GIL) with a slot of the scratch of its own
        (``_layout.ManyScratch``): no parallel=True function for Numba to compile, no
        OpenMP region. One problem is computed by one thread alone, so the results are
        the same for every thread count. Returns the scratch (on one thread, slot 0
        holds the last problem's gradient, in its standardized coordinates)."""
        n_rows = int(data.offsets[last] - data.offsets[first])
        n_features, n_targets = data.X.shape[1], data.Y.shape[1]
        n_coords, n_columns = n_features + 1, n_features + n_targets
        threads = self._threads(n_rows * n_columns**2, last - first, n_threads)
        panel_rows = min(MANY_PANEL_ROWS, int(np.max(np.diff(data.offsets[first : last + 1]))))
        scratch = _layout.ManyScratch(
            np.empty((threads, n_columns, n_columns)),  # gram
            np.empty((threads, n_columns)),  # mean
            np.empty((threads, n_features)),  # inverse
            np.empty((threads, n_columns + 1, panel_rows)),  # panel
            np.empty((threads, max(n_columns + 1, 4), panel_rows)),  # centred
            np.empty((threads, n_targets, n_coords)),  # theta
            np.empty((threads, n_targets, n_coords)),  # grad
            np.empty((threads, n_targets, n_coords)),  # low
            np.empty((threads, n_targets, n_coords)),  # step
            np.empty((threads, n_coords)),  # work
            np.empty((threads, 2, n_columns)),  # extremes
        )
        kernel = self.kernels.fit_many  # (Cython's picks its specialization from X's dtype)
        if threads == 1:
            kernel(data, options, scratch, result, first, last, 0)
            return scratch
        bounds = [first + (last - first) * t // threads for t in range(threads + 1)]
        with ThreadPoolExecutor(max_workers=threads) as pool:
            for done in [
                pool.submit(kernel, data, options, scratch, result, bounds[t], bounds[t + 1], t)
                for t in range(threads)
            ]:
                done.result()
        return scratch

    @staticmethod
    def piece_rows(n_features, n_targets, itemsize, batch_size):
        """Rows of the gather buffers: a whole mini-batch if it fits in PIECE_BYTES."""
        row_bytes = (n_features + n_targets + 1) * itemsize
        return max(1, min(batch_size, max(BLOCK_ROWS, PIECE_BYTES // row_bytes)))

    def fit_workspace(self, data, n_targets, options, n_threads=None):
        """The kernel's scratch for one fit (``_layout.FitScratch``): sized for X on
        the direct path (a full batch of every row in order), else for a gathered
        piece of rows."""
        X = data.X
        n_samples, n_features = X.shape
        if options.batch_size >= n_samples:  # direct: no gather buffers
            rows, batch_rows = X, 0
        else:
            batch_rows = self.piece_rows(
                n_features, n_targets, X.dtype.itemsize, options.batch_size
            )
            rows = np.empty((batch_rows, n_features), dtype=X.dtype)
        batch = BatchScratch(
            np.empty((n_targets, n_features)),  # sum_W
            np.empty(n_targets),  # sum_b
            rows if batch_rows else np.empty((0, n_features), dtype=X.dtype),  # batch_X
            np.empty((batch_rows, n_targets), dtype=X.dtype),  # batch_Y
            np.empty(batch_rows if data.weights.shape[0] else 0, dtype=X.dtype),  # batch_w
        )
        scratch, _ = self.gradient_scratch(*rows.shape, n_targets, X.dtype, n_threads)
        return FitScratch(scratch, batch)

    def fit(self, data, model, options, optimizer, history, max_updates, workspace):
        return self.kernels.fit(
            data, model, options, optimizer.arrays, workspace, history, max_updates
        )


@dataclass(frozen=True)
class BackendSpec:
    """One backend: its name, the module of its kernels (None: the NumPy reference,
    always there), the class that drives them, and what to do when it is missing."""

    name: str
    module: str
    driver: type
    how_to_get: str = ""


# Every backend, in the order backend="auto" tries them: the one list the API, the
# tests and the benchmarks iterate over. Cython comes first: it is compiled ahead of
# time, so the first fit in a process pays no JIT compilation.
BACKEND_SPECS = (
    BackendSpec(
        "cython",
        "fastgd._cython_kernels",
        CompiledBackend,
        (
            "it is built when fastgd is installed from source with a C compiler present: "
            "reinstall with `pip install --force-reinstall --no-cache-dir -e .` and read "
            "the build log for the error"
        ),
    ),
    BackendSpec(
        "numba", "fastgd._numba_kernels", CompiledBackend, "install it with `pip install numba`"
    ),
    BackendSpec("numpy", None, NumpyBackend),
)
BACKENDS = tuple(spec.name for spec in BACKEND_SPECS)
COMPILED_BACKENDS = tuple(spec.name for spec in BACKEND_SPECS if spec.module)
_SPECS = {spec.name: spec for spec in BACKEND_SPECS}
_loaded = {}


def _is_installed(spec):
    return (
        spec.name in _loaded
        or spec.module is None
        or importlib.util.find_spec(spec.module) is not None
    )


def available_backends():
    """Names of the backends installed here, fastest first.

    Finding a backend does not import it: Numba is only imported (and its kernels
    compiled, or loaded from its cache) the first time the numba backend runs.

    Returns
    -------
    tuple of str
        A subset of ``("cython", "numba", "numpy")``; ``"numpy"`` is always there.

    Examples
    --------
    >>> import fastgd
    >>> "numpy" in fastgd.available_backends()
    True
    """
    return tuple(spec.name for spec in BACKEND_SPECS if _is_installed(spec))


def get_backend(name):
    """Return the loaded backend called ``name`` (already validated), loading it once.

    ``"auto"`` resolves to the first installed backend of ``BACKEND_SPECS``. A
    backend that is asked for by name but is not installed raises an ImportError
    that says how to get it.
    """
    backend = _loaded.get(name)
    if backend is None:
        resolved = available_backends()[0] if name == "auto" else name
        backend = _loaded.get(resolved) or _load(_SPECS[resolved])
        # "auto" too, resolved once: available_backends() looks for the modules on disk.
        _loaded[resolved] = _loaded[name] = backend
    return backend


def loaded_compiled_backend(name):
    """The compiled backend called ``name`` ("auto" included) if it is loaded, else
    None (anything else: a backend not loaded yet, the NumPy one, a wrong name): the
    API's fast path, which leaves loading and errors to get_backend."""
    backend = _loaded.get(name) if type(name) is str else None
    return backend if isinstance(backend, CompiledBackend) else None


def _load(spec):
    if spec.module is None:
        return spec.driver()
    try:
        kernels = importlib.import_module(spec.module)
    except ImportError as exc:
        raise ImportError(
            f"backend={spec.name!r} is not available ({exc}); {spec.how_to_get}. "
            f"Installed backends: {available_backends()}."
        ) from exc
    return spec.driver(spec.name, kernels)


def serial_gradient_scratch(backend_name, n_samples, n_features, n_targets, dtype):
    """The gradient kernel's scratch (a ``GradientScratch``) for an X of this shape
    and dtype, on one thread: ``CompiledBackend.gradient_scratch``'s, for the kernels that
    users call from their own compiled loops (``fastgd.kernels``, the Cython
    ``GradientWorkspace``), whose parallelism is the users' own threads."""
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64; got {dtype}.")
    for name, value in (
        ("n_samples", n_samples),
        ("n_features", n_features),
        ("n_targets", n_targets),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1; got {value!r}.")
    scratch, _ = get_backend(backend_name).gradient_scratch(
        int(n_samples), int(n_features), int(n_targets), dtype, 1
    )
    return scratch


# The OpenMP runtime reads OMP_NUM_THREADS once, when it is loaded, and distributed's
# Nanny sets OMP_NUM_THREADS=1 in its own process's environment before it starts a
# worker (LocalCluster(processes=True) does), for the worker to inherit. Loaded after
# that, the runtime would run every local fit of the client's process on one thread.
# So the Cython kernels, which link it, are loaded with fastgd (which costs little:
# the extension is compiled ahead of time).
try:
    get_backend("cython")
except ImportError:
    pass  # not built: backend="auto" finds the next one


def pass_chunks(n_samples, panel_rows, width, min_rows=1):
    """``(chunk_rows, n_chunks)`` of a one-pass factor (``compress``, ``gram``): whole
    panels per chunk, at least ``min_rows`` rows each (as far as there are rows), at
    most COMPRESS_MAX_CHUNKS chunks and COMPRESS_BYTES of (width, width) partial
    results and panels; fixed by the shape alone, never by the thread count (the
    result is then the same bits for every thread count)."""
    n_panels = -(-n_samples // panel_rows)
    by_memory = COMPRESS_BYTES // (8 * width * (width + panel_rows))
    by_size = n_panels // -(-min_rows // panel_rows)
    n_chunks = max(1, min(COMPRESS_MAX_CHUNKS, n_panels, by_memory, by_size))
    chunk_rows = panel_rows * -(-n_panels // n_chunks)
    return chunk_rows, -(-n_samples // chunk_rows)


_blas_controller = []  # threadpoolctl's controller, made at the first large fit


@contextlib.contextmanager
def serial_blas(X, full_batch):
    """BLAS on one thread while a ``full_batch`` fit of X runs, if X is a large enough
    array for the kernels' passes to be parallel and narrow enough for its small dense
    algebra to gain nothing from threads (``SERIAL_BLAS_COLUMNS``); else nothing
    changes."""
    shape = getattr(X, "shape", ())
    local = type(X).__module__.split(".")[0] in ("numpy", "pandas")  # (not Dask's blocks)
    if not (
        full_batch
        and local
        and len(shape) == 2
        and shape[1] <= SERIAL_BLAS_COLUMNS
        and shape[0] * shape[1] >= PARALLEL_MIN_WORK
    ):
        yield
        return
    if not _blas_controller:
        from threadpoolctl import ThreadpoolController

        _blas_controller.append(ThreadpoolController())
    with _blas_controller[0].limit(limits=1, user_api="blas"):
        yield
