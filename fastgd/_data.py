"""The caller's data, as the fit pipeline sees it: in memory, or in blocks.

``Data`` holds validated NumPy arrays; ``BlockedData`` holds blocks of whole rows
that Dask computes where they are (from Dask collections, ``_dask``, or from files,
``_files``), with the same methods, each a pass over the blocks on the workers, the
blocks' sums added on the client in block order::

    data.factor(...)             the triangular factor of [X, 1, Y] (Gram solver)
    data.float64_gradient(...)   the certificate's gradient
    data.accurate_gradient(...)  the direct solve's refinement
    data.column_statistics(...)  the standardized coordinates of CG and FISTA
    data.constant_columns(...), check_finite(), largest_abs()   for messages

What a worker runs on a block (``block_*``) is here too, beside the methods that
send it; the arithmetic itself is ``_blocks``'. Every block's sums are computed the
same way on whichever worker runs them (one thread each: Dask runs the blocks in
parallel) and combined in an order fixed by the block layout, so a fit is the same
bits for any number of workers and any placement of the blocks.

Nothing here imports Dask unless the data are blocked.
"""

import copy
import sys
from dataclasses import dataclass

import numpy as np

from . import _blocks, _epochs, _reference
from ._backends import COMPRESS_PANEL_ROWS, get_backend
from ._blocks import (
    column_extremes,
    column_spread,
    column_statistics,
    column_sums,
    first_non_finite,
    float64_sums,
    non_finite_error,
    unit_and_mean,
)
from ._gram import (
    GRAM_MIN_WORK,
    factor_of_gram,
    gram_factor_error,
    householder_factor_error,
)
from ._validation import _check_dtype, check_finite

# Threads of a block's kernel: Dask's workers run the blocks in parallel.
BLOCK_THREADS = 1
# Factors merged by one task: the tree of the factor pass is ceil(log_F(blocks)) deep,
# each level a round trip through the scheduler, and a merge of F factors of m rows
# costs F m^3 (microseconds for m = 22).
MERGE_FAN_IN = 8


@dataclass(frozen=True)
class Data:
    """The caller's arrays as validated (before any compression): what the factor of
    the Gram solver and the certificate are computed on, and what error messages
    name. ``BlockedData`` has the same methods for data held in blocks."""

    blocked = False  # (a class attribute: not a field)

    X: np.ndarray
    x_is_f: bool
    Y: np.ndarray
    y_is_1d: bool
    sample_weight: object

    @property
    def dtype(self):
        return self.X.dtype

    @property
    def n_samples(self):
        return self.X.shape[0]

    @property
    def n_features(self):
        return self.X.shape[1]

    @property
    def n_targets(self):
        return self.Y.shape[1]

    @property
    def total_weight(self):
        """N, or the sum of the weights (float64)."""
        return _blocks.total_weight(self.X, self.sample_weight)

    def check_finite(self):
        """Raise ValueError naming the first input that holds NaN or inf."""
        check_finite(self.X, "X")
        check_finite(self.Y[:, 0] if self.y_is_1d else self.Y, "y")  # the caller's indices

    def largest_abs(self):
        """``(max |X|, max |y|)``, for the message of an overflow."""
        return float(np.abs(self.X).max()), float(np.abs(self.Y).max())

    def constant_columns(self, columns, of_targets=False):
        """Whether each of X's ``columns`` (Y's, ``of_targets``) holds one value on the
        rows of positive weight (read only for the few columns asked about)."""
        low, high = column_extremes(self.Y if of_targets else self.X, self.sample_weight, columns)
        return low >= high  # (no row of positive weight: inf >= -inf, constant)

    def factor(self, backend, b, fit_intercept, n_threads, fast=False):
        """``(R, total_weight, kind, error)``: a triangular factor of the augmented
        data, N (or the sum of the weights), and the factor's backward error
        (``_gram.gram_factor_error``). ``kind`` "gram": with ``fast``, on data worth
        it, the Cholesky factor of their Gram matrix (``backend.gram``: half the work,
        in tiles; its error, about cond^2 eps, is for the direct solve's refinement to
        remove), if it is usable (``_gram.factor_of_gram``); else "qr": Householder QR
        (``backend.compress``), stable whatever the data."""
        total = self.total_weight
        m = self.n_features + (1 if fit_intercept else 0) + self.Y.shape[1]
        if fast and self.n_samples * m * m >= GRAM_MIN_WORK:
            G, chain = backend.gram(
                self.X, self.Y, b, fit_intercept, self.sample_weight, self.x_is_f, n_threads
            )
            R = factor_of_gram(G, self.Y.shape[1])
            if R is not None:
                return R, total, "gram", gram_factor_error(chain, m)
        R = backend.compress(
            self.X, self.Y, b, fit_intercept, self.sample_weight, self.x_is_f, n_threads
        )
        return R, total, "qr", householder_factor_error(self.n_samples, m, COMPRESS_PANEL_ROWS)

    def gradient(self, backend, W, b, n_threads):
        """``(G_W, g_b, loss)`` at (W, b) (X's dtype): the backend's fused kernel
        (``fastgd.gradient``); G_W and g_b may be the kernel's buffers, which its next
        call overwrites."""
        return backend.gradient(self.X, self.Y, W, b, self.x_is_f, n_threads, self.sample_weight)

    def accurate_gradient(self, backend, coef, intercept, n_threads):
        """``(G_W, g_b, half_sq)`` at (coef, intercept), as if computed in twice the
        working precision (``_reference.accurate_sums``): what the direct solve
        refines and certifies with."""
        hi, lo = backend.accurate_sums(
            self.X,
            self.Y,
            coef.astype(np.float64),
            intercept.astype(np.float64),
            self.x_is_f,
            n_threads,
            self.sample_weight,
        )
        return _reference.gradient_of_sums(hi, lo, self.total_weight, self.n_features)

    def float64_gradient(self, backend, coef, intercept, n_threads, with_loss=False):
        """The gradient (G_W, g_b) at (coef, intercept) in float64 arithmetic (and,
        ``with_loss``, the loss there): the backend's kernel for float64 X; for
        float32 X, float64 sums a block of rows at a time (float32 residuals cannot
        certify a tight tol)."""
        X, Y, weights = self.X, self.Y, self.sample_weight
        if X.dtype == np.float64:
            grad_W, grad_b, loss = backend.gradient(
                X,
                Y,
                coef.astype(X.dtype),
                intercept.astype(X.dtype),
                self.x_is_f,
                n_threads,
                weights,
            )
            grad_W, grad_b = grad_W.copy(), grad_b.copy()
        else:
            sum_W, sum_b, half_sq = float64_sums(X, Y, coef, intercept, self.x_is_f, weights)
            total = self.total_weight
            grad_W, grad_b, loss = sum_W / total, sum_b / total, half_sq / total
        return (grad_W, grad_b, loss) if with_loss else (grad_W, grad_b)

    def column_statistics(self, centred):
        """``_blocks.column_statistics`` of X, with the weights."""
        return column_statistics(self.X, self.sample_weight, centred)


class BlockedData:
    """The caller's data in blocks of whole rows, each a Delayed (X, y, weights)
    triple that Dask computes where it is, with the methods of ``Data`` computed
    block by block on the workers. Made by ``_dask.blocked_data`` (Dask collections)
    and ``_files.blocked_data`` (files: their ``source``, which names a file and
    row in messages). ``n_samples`` and the rows of each block are known after the
    first pass (``factor`` or ``persist``)."""

    blocked = True

    def __init__(self, blocks, spec, y_is_1d, weighted, block_rows, source=None):
        self.blocks, self.spec, self.y_is_1d, self.weighted = blocks, spec, y_is_1d, weighted
        self.n_features, self.n_targets, self.dtype = spec.n_features, spec.n_targets, spec.dtype
        self.block_rows = block_rows  # None (DataFrames) until a pass has counted them
        self.runner = None  # the persisted blocks (persist)
        self.total_weight = self.targets = None
        # What the blocks are read from, if it locates a row better than "block i,
        # row r": ``where(block_rows, block, row, name, column)`` and ``empty``.
        self.source = source

    @property
    def n_samples(self):
        return None if self.block_rows is None else sum(self.block_rows)

    @property
    def shape(self):
        """(N, D): the data stands for X in the streaming solver (``persist``)."""
        return self.n_samples, self.n_features

    def offsets(self):
        return np.concatenate([[0], np.cumsum(self.block_rows)]).astype(np.int64)

    def map_blocks(self, function, *args):
        """``[function(arrays, *args) for each block]`` in block order, ``arrays`` a
        block's ``block_arrays``: on the persisted blocks (``persist``), else on
        blocks computed from their source, on Dask's scheduler."""
        if self.runner is not None:
            return self.runner.map(function, *args)
        import dask

        on_source = dask.delayed(apply_to_block, pure=True)
        return list(
            dask.compute(
                *[on_source(function, X, Y, w, self.spec, *args) for X, Y, w in self.blocks]
            )
        )

    def persist(self):
        """Compute the blocks' kernel arrays once and keep them where they are (the
        workers' memory, on a distributed client): every pass of the streaming solver
        reads them. Records the rows and the total weight, and raises for NaN or inf,
        in the same pass."""
        import dask

        arrays_of = dask.delayed(block_arrays, pure=True)
        self.runner = BlockRunner([arrays_of(X, Y, w, self.spec) for X, Y, w in self.blocks])
        summaries = self.runner.map(block_summary)
        self.block_rows = tuple(summary[0] for summary in summaries)
        (self.total_weight,) = in_block_order([(summary[1],) for summary in summaries])
        self._check_totals(self.total_weight)
        for block, summary in enumerate(summaries):
            if summary[2] is not None:
                self._raise_bad((block,) + summary[2])
        self.targets = BlockedTargets((self.n_samples, self.n_targets), self.dtype)

    def count_rows(self):
        """The rows of each block: known from the collection (a Dask array's chunks,
        Parquet files' metadata), or counted by a pass over the blocks."""
        if self.block_rows is None:
            self.block_rows = tuple(self.map_blocks(block_row_count))
        return self.block_rows

    def record_total_weight(self, total_weight):
        """Keep (and check) the total weight a pass over every block found."""
        self._check_totals(total_weight)
        self.total_weight = total_weight

    def _check_totals(self, total_weight):
        if self.n_samples == 0:
            if self.source is not None:
                raise ValueError(f"X must have at least one sample: {self.source.empty}.")
            raise ValueError("X must have at least one sample; its blocks hold none.")
        if self.weighted and not total_weight > 0:
            raise ValueError("sample_weight must have a positive sum (not all zero).")

    def factor(self, backend, b, fit_intercept, n_threads, fast=False):
        """``(R, total_weight, "qr", error)`` (``Data.factor``) in one distributed
        pass: each block's Householder factor where the block is, merged in a tree whose
        shape depends on the number of blocks alone (``fast`` is not taken: the blocks'
        factors must merge stably). Also records the rows of each block."""
        import dask

        spec, name = self.spec, backend.name
        factor_of = dask.delayed(apply_to_block, pure=True)
        merge = dask.delayed(merge_factors, pure=True)
        level = [
            factor_of(block_factor, X, Y, w, spec, i, b, fit_intercept, name)
            for i, (X, Y, w) in enumerate(self.blocks)
        ]
        while len(level) > MERGE_FAN_IN:  # groups [0, F), [F, 2F), ...; a last one
            # alone goes up as it is
            level = [
                merge(name, *level[i : i + MERGE_FAN_IN]) if i + 1 < len(level) else level[i]
                for i in range(0, len(level), MERGE_FAN_IN)
            ]
        # The root's merge on the client: at most F factors reach it, and a round trip
        # through the scheduler is saved (the same kernel on the same inputs: the
        # same bits as on a worker).
        top = dask.compute(*level)
        root = merge_factors(name, *top) if len(top) > 1 else top[0]
        self.block_rows = root.block_rows
        self._check_totals(root.total_weight)
        if root.bad is not None:
            self._raise_bad(root.bad)
        m = root.R.shape[1]
        return (
            root.R,
            root.total_weight,
            "qr",
            householder_factor_error(sum(self.block_rows), m, COMPRESS_PANEL_ROWS),
        )

    def gradient_sums(self, backend_name, W, b, zero_targets=False):
        """``(sum_W, sum_b, half_sq, total_weight)``: each block's ``partial_gradient``
        on its worker, added on the client in block order (the same bits always);
        with ``zero_targets``, of the problem with Y = 0 (the Hessian's product)."""
        return in_block_order(
            self.map_blocks(block_partial_gradient, W, b, zero_targets, backend_name)
        )

    def gradient(self, backend, W, b, n_threads):
        """``Data.gradient`` over the blocks: each block's sums on its worker, added
        on the client in block order."""
        sum_W, sum_b, half_sq, total = self.gradient_sums(backend.name, W, b)
        if self.weighted and not total > 0:
            raise ValueError("sample_weight must have a positive sum (not all zero).")
        return sum_W / total, sum_b / total, half_sq / total

    def float64_gradient(self, backend, coef, intercept, n_threads, with_loss=False):
        """The gradient (G_W, g_b) at (coef, intercept) in float64 arithmetic (and,
        ``with_loss``, the loss there): each block's sums on its worker, added on the
        client in block order."""
        sum_W, sum_b, half_sq, total = in_block_order(
            self.map_blocks(block_gradient_sums, coef, intercept, backend.name)
        )
        gradient = (sum_W / total, sum_b / total)
        return gradient + (half_sq / total,) if with_loss else gradient

    def accurate_gradient(self, backend, coef, intercept, n_threads):
        """``Data.accurate_gradient`` over the blocks: each block's pairs of sums
        on its worker, added on the client in block order (``_reference.add_double``)."""
        parts = self.map_blocks(
            block_accurate_sums,
            coef.astype(np.float64),
            intercept.astype(np.float64),
            backend.name,
        )
        hi, lo, total = parts[0]
        for part_hi, part_lo, part_total in parts[1:]:
            hi, lo = _reference.add_double(hi, lo, part_hi, part_lo)
            total = total + part_total
        return _reference.gradient_of_sums(hi, lo, total, self.n_features)

    def _scan(self):
        """One pass: (rows, first non-finite entry or None, max |X|, max |y|) per block."""
        results = self.map_blocks(block_scan)
        self.block_rows = tuple(r[0] for r in results)
        return results

    def check_finite(self):
        """Raise ValueError naming the first NaN or inf of X or y (global indices)."""
        for block, (_, bad, _, _) in enumerate(self._scan()):
            if bad is not None:
                self._raise_bad((block,) + bad)

    def _raise_bad(self, bad):
        block, name, row, column, value = bad
        if self.source is not None:
            where = self.source.where(self.block_rows, block, row, name, column)
            raise non_finite_error(name, value, where)
        row = int(self.offsets()[block] + row)
        index = (row,) if (name == "y" and self.y_is_1d) else (row, column)
        raise non_finite_error(name, value, f"index {index} (block {block})")

    def largest_abs(self):
        results = self._scan()
        return max(r[2] for r in results), max(r[3] for r in results)

    def constant_columns(self, columns, of_targets=False):
        """``Data.constant_columns`` over the blocks: a pass that reads only the
        few columns asked about (they are rare: the factor pass does not spend a
        reduction over every column of every block on them)."""
        parts = self.map_blocks(block_column_extremes, columns, of_targets)
        low = np.min([part[0] for part in parts], axis=0)
        high = np.max([part[1] for part in parts], axis=0)
        return low >= high

    def column_statistics(self, centred):
        """``Data.column_statistics`` over the blocks: two passes, each
        block's sums on its worker, added in block order."""
        parts = self.map_blocks(block_column_sums, centred)
        largest, sums = parts[0]
        for block_largest, block_sums in parts[1:]:
            largest, sums = np.maximum(largest, block_largest), sums + block_sums
        unit, mean = unit_and_mean(largest, sums, self.total_weight, centred)
        (spread,) = in_block_order(
            [(part,) for part in self.map_blocks(block_column_spread, mean, unit)]
        )
        return unit, mean, spread, self.total_weight


def in_block_order(parts):
    """The element-wise sums of the blocks' tuples of sums, added in block order: a
    fixed order of the floating-point additions, so the same bits for any number of
    workers and any placement of the blocks."""
    total = tuple(parts[0])
    for part in parts[1:]:
        total = tuple(a + b for a, b in zip(total, part))
    return total


class BlockedTargets:
    """Stands for Y in the streaming solver over blocks (the targets themselves are
    in the blocks): its shape and dtype."""

    def __init__(self, shape, dtype):
        self.shape, self.dtype = shape, dtype


def current_client():
    """The distributed Client Dask computes on, or None (Dask's local schedulers)."""
    if "distributed" not in sys.modules:
        return None
    from distributed import default_client

    try:
        return default_client()
    except ValueError:
        return None


class BlockRunner:
    """Blocks computed once and kept: as futures on a distributed client's workers
    (each call of ``map`` submits one task per block, where the block is; a lost
    worker's blocks are recomputed by Dask from their source), or, on Dask's local
    schedulers, as arrays in this process."""

    def __init__(self, delayed_blocks):
        import dask

        self.client = current_client()
        if self.client is None:
            self.blocks = list(dask.compute(*delayed_blocks))
        else:
            self.blocks = self.client.compute(delayed_blocks)

    def map(self, function, *args):
        """``[function(block, *args) for each block]``, in block order."""
        if self.client is None:
            return [function(block, *args) for block in self.blocks]
        futures = [self.client.submit(function, block, *args, pure=False) for block in self.blocks]
        return self.client.gather(futures)


class DistributedBackend:
    """A backend's calling convention over persisted blocks (``BlockedData`` as X,
    its ``targets`` as Y): every gradient is one task per block on its worker, the
    sums added on the client in block order; the steps are the local backend's, on
    the client. What the streaming solver (CG, FISTA, full-batch gradient descent
    through ``_epochs.fit``) runs on."""

    def __init__(self, local):
        self.local, self.name = local, local.name

    def partial_gradient(self, X, Y, W, b, x_is_f, n_threads=None, sample_weight=None):
        """The unnormalised sums over every block (the targets and the weights are the
        blocks')."""
        sum_W, sum_b, half_sq, _ = X.gradient_sums(self.name, W, b)
        return sum_W, sum_b, half_sq

    def gradient(self, X, Y, W, b, x_is_f, n_threads=None, sample_weight=None):
        sum_W, sum_b, half_sq, _ = X.gradient_sums(self.name, W, b)
        total = X.total_weight
        return sum_W / total, sum_b / total, float(half_sq / total)

    def hessian_product(self, X, W, b, x_is_f, n_threads=None, sample_weight=None):
        """``H [W, b]`` over every block (``_backends.HessianProduct``)."""
        sum_W, sum_b, half_sq, _ = X.gradient_sums(self.name, W, b, zero_targets=True)
        total = X.total_weight
        return sum_W / total, sum_b / total, float(half_sq / total)

    def update(self, model, grad_W, grad_b, lr, options, optimizer):
        return self.local.update(model, grad_W, grad_b, lr, options, optimizer)

    def shuffle(self, order, n, rng_state):
        self.local.shuffle(order, n, rng_state)

    def fit_workspace(self, data, n_targets, options, n_threads=None):
        return None

    def fit(self, data, model, options, optimizer, history, max_updates, workspace=None):
        """Full-batch gradient descent: ``_epochs.fit`` over these leaves (the
        weights, and so the total, are the blocks')."""
        data = data._replace(train_weight=data.X.total_weight)
        with np.errstate(over="ignore", invalid="ignore"):
            return _epochs.fit(self, data, model, options, optimizer.arrays, history, max_updates)


# ------------------------------------------------------------ what a worker runs


@dataclass(frozen=True)
class BlockSpec:
    """What a worker needs to turn a block into the kernels' arrays."""

    n_features: int
    n_targets: int
    dtype: np.dtype
    packed: bool  # a block is one frame of X's, y's and the weights' columns (X is it)


def block_arrays(X, Y, weights, spec):
    """A block (NumPy arrays or pandas frames) as the kernels' arrays: ``(X, x_is_f, Y,
    weights)``, X C- or F-contiguous in the fit's dtype, Y of shape (n, K). The
    block's own copy when it must be cast (a block, never the whole data)."""
    if spec.packed:  # a pandas frame (Dask's), or a Fortran array (a file's block)
        D, K, width = spec.n_features, spec.n_targets, X.shape[1]
        frame = X.iloc if hasattr(X, "iloc") else X
        X, Y = frame[:, :D], frame[:, D : D + K]
        weights = frame[:, D + K] if width > D + K else None
    if getattr(X, "dtype", None) == np.dtype(object):  # its entries checked as a local X's are
        X = _check_dtype(np.asarray(X), "X")
    if getattr(Y, "dtype", None) == np.dtype(object):
        Y = _check_dtype(np.asarray(Y), "y")
    X = np.asarray(X, dtype=spec.dtype)
    if not (X.flags.c_contiguous or X.flags.f_contiguous):
        X = np.ascontiguousarray(X)
    n_rows = X.shape[0]
    if X.ndim != 2 or X.shape[1] != spec.n_features:
        raise ValueError(f"X's block has shape {X.shape}; expected ({n_rows}, {spec.n_features}).")
    Y = np.asarray(Y, dtype=spec.dtype)
    if Y.shape[0] != n_rows:
        raise ValueError(
            f"X and y have different numbers of samples in a block: "
            f"{n_rows} and {Y.shape[0]} (their row partitions must match)."
        )
    Y = Y.reshape(n_rows, spec.n_targets)
    if weights is not None:
        weights = np.ascontiguousarray(weights, dtype=spec.dtype)
        if weights.shape != (n_rows,):
            raise ValueError(
                f"sample_weight's block has shape {weights.shape}; expected "
                f"({n_rows},), one weight per sample of X's block."
            )
        if not (np.isfinite(weights).all() and (weights >= 0).all()):
            raise ValueError("sample_weight must hold finite, non-negative numbers.")
    x_is_f = X.flags.f_contiguous and not X.flags.c_contiguous
    return X, x_is_f, Y, weights


def apply_to_block(function, X, Y, weights, spec, *args):
    """``function(block_arrays(X, Y, weights, spec), *args)``: a pass that reads the
    blocks from their source."""
    return function(block_arrays(X, Y, weights, spec), *args)


@dataclass(frozen=True)
class BlockFactor:
    """A block's (or a subtree's) part of the factor pass."""

    R: np.ndarray  # (m, m), float64 upper triangular
    total_weight: float
    block_rows: tuple  # rows of each block, in block order
    bad: object  # (block, name, row, column, value) of the first non-finite entry, or None


def block_factor(arrays, index, b, fit_intercept, backend_name):
    """A block's triangular factor (``backend.compress``) and what the client checks."""
    X, x_is_f, Y, weights = arrays
    n_features, n_targets = X.shape[1], Y.shape[1]
    m = n_features + (1 if fit_intercept else 0) + n_targets
    if X.shape[0] == 0:  # an empty partition: nothing to add
        return BlockFactor(np.zeros((m, m)), 0.0, (0,), None)
    R = get_backend(backend_name).compress(X, Y, b, fit_intercept, weights, x_is_f, BLOCK_THREADS)
    bad = None
    if not np.isfinite(R).all():
        found = first_non_finite(X, Y)
        bad = None if found is None else (index,) + found
    return BlockFactor(R, _blocks.total_weight(X, weights), (X.shape[0],), bad)


def merge_factors(backend_name, *parts):
    """The factor of consecutive subtrees' rows: the triangular factor of their
    factors stacked (the backend's compress of those rows, so the same kernel
    always merges); their totals added, in order."""
    m = parts[0].R.shape[0]
    stacked = np.vstack([part.R for part in parts])
    # compress's augmented rows with the intercept held at 0 are [X, Y - 0]: stacked itself
    R = get_backend(backend_name).compress(
        np.ascontiguousarray(stacked[:, : m - 1]),
        np.ascontiguousarray(stacked[:, m - 1 :]),
        np.zeros(1),
        False,
        None,
        False,
        BLOCK_THREADS,
    )
    total = parts[0].total_weight
    for part in parts[1:]:
        total += part.total_weight
    bad = [part.bad for part in parts if part.bad is not None]
    return BlockFactor(
        R, total, sum((part.block_rows for part in parts), ()), bad[0] if bad else None
    )


def block_row_count(arrays):
    """A block's number of rows."""
    return arrays[0].shape[0]


def block_summary(arrays):
    """A persisted block's rows, total weight and first non-finite entry (or None)."""
    X, _, Y, weights = arrays
    bad = None if np.isfinite(X).all() and np.isfinite(Y).all() else first_non_finite(X, Y)
    return X.shape[0], _blocks.total_weight(X, weights), bad


def block_column_extremes(arrays, columns, of_targets=False):
    """A block's ``_blocks.column_extremes`` of X's ``columns`` (Y's, ``of_targets``)."""
    X, _, Y, weights = arrays
    return column_extremes(Y if of_targets else X, weights, columns)


def block_partial_gradient(arrays, W, b, zero_targets, backend_name):
    """A block's unnormalised gradient sums ``((s R).T X, (s R).sum(0), (s R R).sum() /
    2)`` (the backend's ``partial_gradient``), with Y = 0 when ``zero_targets``, and
    its total weight."""
    X, x_is_f, Y, weights = arrays
    if zero_targets:
        Y = np.broadcast_to(np.zeros((1, W.shape[0]), dtype=X.dtype), (X.shape[0], W.shape[0]))
    if X.shape[0] == 0:
        return np.zeros(W.shape), np.zeros(W.shape[0]), 0.0, 0.0
    sum_W, sum_b, half_sq = get_backend(backend_name).partial_gradient(
        X, Y, W, b, x_is_f, BLOCK_THREADS, weights
    )
    return sum_W.copy(), sum_b.copy(), float(half_sq), _blocks.total_weight(X, weights)


def block_gradient_sums(arrays, coef, intercept, backend_name):
    """A block's unnormalised float64 gradient sums (with half its weighted sum of
    squared residuals) and its total weight."""
    X, x_is_f, Y, weights = arrays
    total = _blocks.total_weight(X, weights)
    if X.shape[0] == 0:
        return np.zeros(coef.shape), np.zeros(coef.shape[0]), 0.0, total
    if X.dtype == np.float64:
        sum_W, sum_b, half_sq = get_backend(backend_name).partial_gradient(
            X, Y, coef.astype(X.dtype), intercept.astype(X.dtype), x_is_f, BLOCK_THREADS, weights
        )
        return sum_W.copy(), sum_b.copy(), half_sq, total
    sum_W, sum_b, half_sq = float64_sums(X, Y, coef, intercept, x_is_f, weights)
    return sum_W, sum_b, half_sq, total


def block_accurate_sums(arrays, coef, intercept, backend_name):
    """A block's accurate gradient sums (``_reference.accurate_sums``) and its total
    weight."""
    X, x_is_f, Y, weights = arrays
    total = _blocks.total_weight(X, weights)
    if X.shape[0] == 0:
        zeros = np.zeros((coef.shape[0], coef.shape[1] + 2))
        return zeros, zeros.copy(), total
    hi, lo = get_backend(backend_name).accurate_sums(
        X, Y, coef, intercept, x_is_f, BLOCK_THREADS, weights
    )
    return hi.copy(), lo.copy(), total


def block_column_sums(arrays, centred):
    """A block's share of ``Data.column_statistics``' first pass."""
    X, _, _, weights = arrays
    return column_sums(X, weights, centred)


def block_column_spread(arrays, mean, unit):
    """A block's share of ``Data.column_statistics``' second pass."""
    X, _, _, weights = arrays
    return column_spread(X, weights, mean, unit)


def block_scan(arrays):
    """A block's rows, first non-finite entry (or None) and largest |X| and |y|."""
    X, _, Y, _ = arrays
    if X.shape[0] == 0:
        return 0, None, 0.0, 0.0
    with np.errstate(invalid="ignore"):
        return (X.shape[0], first_non_finite(X, Y), float(np.abs(X).max()), float(np.abs(Y).max()))


# ------------------------------------------------------------ partial_fit


def partial_fit_blocks(estimator, data):
    """``estimator.partial_fit`` on each block in order, each a task on the worker
    that holds the block (Dask places a task where its largest input is): a chain
    whose only travelling value is the small estimator. Returns the estimator after
    the last block (a copy; the caller's is not touched)."""
    import dask

    step = dask.delayed(partial_fit_block, pure=True)
    model = estimator
    for block, (X_block, Y_block, w_block) in enumerate(data.blocks):
        model = step(model, X_block, Y_block, w_block, data.spec, data.y_is_1d, block)
    (model,) = dask.compute(model)
    return model


def partial_fit_block(model, X, Y, weights, spec, y_is_1d, block):
    """One block's ``partial_fit`` (an empty block leaves the model as it is)."""
    X, _, Y, weights = block_arrays(X, Y, weights, spec)
    if X.shape[0] == 0:
        return model
    model = copy.deepcopy(model)  # a task's inputs are not changed (Dask may rerun it)
    try:
        return model.partial_fit(X, Y[:, 0] if y_is_1d else Y, sample_weight=weights)
    except ValueError as error:  # name the block: its rows are not the caller's indices
        raise ValueError(f"in block {block}: {error}") from error


# ------------------------------------------------------------ score


def r2_score(data, coef, intercept):
    """scikit-learn's R² (averaged over targets) of ``X @ coef.T + intercept`` against
    y: each block's weight, mean, sum of squares about its mean and residual sum of
    squares on its worker (the blocks of X, y and the weights as a fit takes them),
    combined on the client in block order (Chan, Golub and LeVeque's pairwise
    update: no cancellation beside a large mean)."""
    expected = 1 if np.ndim(coef) == 1 else np.shape(coef)[0]
    if data.n_targets != expected or data.y_is_1d != (np.ndim(coef) == 1):
        raise ValueError(
            f"y must have {'1 dimension' if np.ndim(coef) == 1 else f'{expected} columns'} "
            f"(the model's targets); got {data.n_targets} column(s)."
        )
    coef = np.asarray(coef, dtype=np.float64).reshape(data.n_targets, data.n_features)
    intercept = np.asarray(intercept, dtype=np.float64).reshape(data.n_targets)
    moments = data.map_blocks(block_moments, coef, intercept)
    total, mean, spread, residual = moments[0]
    for weight, block_mean, block_spread, block_residual in moments[1:]:
        both = total + weight
        delta = block_mean - mean
        share = np.divide(weight, both, out=np.zeros_like(both), where=both > 0)
        mean = mean + delta * share
        spread = spread + block_spread + delta**2 * total * share
        total, residual = both, residual + block_residual
    if not np.all(total > 0):
        raise ValueError(
            "sample_weight must have a positive sum (not all zero)."
            if data.weighted
            else "X must have at least one sample."
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(spread > 0, 1 - residual / spread, np.where(residual == 0, 1.0, 0.0))
    return float(np.mean(r2))


def block_moments(arrays, coef, intercept):
    """Per target, over the block: the total weight, the weighted mean of y, the
    weighted sum of squares of y about that mean and the weighted residual sum of
    squares of the prediction (in X's dtype, as predict computes it)."""
    X, _, Y, weights = arrays
    prediction = (X @ coef.T.astype(X.dtype) + intercept.astype(X.dtype)).astype(np.float64)
    Y = Y.astype(np.float64)
    w = np.ones((len(Y), 1)) if weights is None else weights.astype(np.float64)[:, None]
    total = np.broadcast_to(w.sum(axis=0), (Y.shape[1],)).astype(np.float64)
    mean = np.divide((w * Y).sum(axis=0), total, out=np.zeros_like(total), where=total > 0)
    spread = (w * (Y - mean) ** 2).sum(axis=0)
    residual = (w * (Y - prediction) ** 2).sum(axis=0)
    return total, mean, spread, residual
