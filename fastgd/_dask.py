"""Data in Dask collections: fitted where its blocks live.

``fastgd.fit(X, y)`` with a Dask array or DataFrame X (y and sample_weight Dask
collections with the same row blocks, or NumPy arrays) runs the Gram solver over the
blocks, on whatever scheduler Dask is using (a ``distributed.Client``, or its local
threads)::

    each block      -> its factor R_i (backend.compress), on the worker that holds it
    factors, merged MERGE_FAN_IN at a time in a tree fixed by the number of blocks -> R
    the iterations on R's compressed problem, on the client (O(m^2 K) each)
    the certificate: each block's float64 gradient sums, added in block order

What reaches the client is O(m^2) per pass (m = D + 1 + K), plus a few numbers per
block: never the data. Every block's factor and sums are computed the same way on
whichever worker runs them (one thread each: Dask runs the blocks in parallel), and
they are combined in an order fixed by the block layout, so the coefficients are the
same bits for any number of workers and any placement of the blocks, and after a
lost worker's blocks have been recomputed from their source.

Nothing here imports Dask unless the caller's data is already a Dask collection.
"""

import copy
import sys
from dataclasses import dataclass

import numpy as np

from . import _epochs, _reference
from ._backends import COMPRESS_PANEL_ROWS, get_backend
from ._gram import householder_factor_error
from ._validation import _check_dtype

# Threads of a block's kernel: Dask's workers run the blocks in parallel.
BLOCK_THREADS = 1
# Factors merged by one task: the tree of the factor pass is ceil(log_F(blocks)) deep,
# each level a round trip through the scheduler (~10 ms), and a merge of F factors
# of m rows costs F m^3 (microseconds for m = 22).
MERGE_FAN_IN = 8


def is_dask_collection(x):
    """Whether x is a Dask collection (array, DataFrame, Series), without importing
    Dask for anything else."""
    if "dask" not in sys.modules:
        return False  # a Dask collection's module has imported dask
    import dask

    return dask.is_dask_collection(x)


def holds_blocks(*arrays):
    """Whether any of the arrays is read block by block: a Dask collection, or
    files (``_files.Files``)."""
    return any(getattr(a, "holds_blocks", False) is True or is_dask_collection(a)
               for a in arrays)


def is_files(x):
    return getattr(x, "holds_blocks", False) is True


# --------------------------------------------------------------- the caller's data


def _target_dtype(dtype, name):
    """The kernels' dtype for a collection of ``dtype`` (as check_X casts arrays)."""
    _check_dtype(np.empty(0, dtype=dtype), name)  # bool, complex, object: errors
    if dtype.kind == "f" and dtype.itemsize <= 4:
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def _is_frame(x):
    return hasattr(x, "npartitions") and hasattr(x, "dtypes")


def _collection_dtype(x, name):
    if _is_frame(x):
        dtypes = [x.dtypes] if getattr(x, "ndim", 2) == 1 else list(x.dtypes)
        for column, dtype in zip(getattr(x, "columns", [name]), dtypes):
            if not (isinstance(dtype, np.dtype) and dtype.kind in "iuf"):
                raise TypeError(f"{name}'s column {column!r} has dtype {dtype}; fastgd "
                                f"needs numeric columns (integers or floats).")
        return np.result_type(*dtypes)
    return np.dtype(x.dtype)


def _row_blocks(x, name, n_blocks=None, row_chunks=None):
    """x's blocks of rows as a list of Delayed objects (one column block), and the
    rows of each when Dask knows them (None for DataFrames, whose partition lengths
    are known only once they are read)."""
    if _is_frame(x):
        if n_blocks is not None and x.npartitions != n_blocks:
            raise ValueError(f"{name} has {x.npartitions} partitions and X {n_blocks}: "
                             f"they must have the same row partitions (take both from one "
                             f"DataFrame).")
        return list(x.to_delayed()), None
    if x.ndim not in (1, 2):
        raise ValueError(f"{name} must be a 1-D or 2-D Dask array; got {x.ndim}-D.")
    if row_chunks is not None and not _same_chunks(x.chunks[0], row_chunks):
        if _unknown(row_chunks) or _unknown(x.chunks[0]):
            if len(x.chunks[0]) != len(row_chunks):
                raise ValueError(f"{name} and X have different row blocks of unknown "
                                 f"sizes: give both the same row chunks.")
            # the same number of blocks: their rows are compared on the workers
        else:
            if sum(x.chunks[0]) != sum(row_chunks):
                raise ValueError(f"X and {name} have different numbers of samples: X has "
                                 f"{int(sum(row_chunks))} rows, {name} has "
                                 f"{int(sum(x.chunks[0]))}.")
            x = x.rechunk({0: row_chunks})
    if x.ndim == 2 and x.numblocks[1] > 1:
        x = x.rechunk({1: -1})  # a block holds whole rows
    return list(x.to_delayed().ravel()), x.chunks[0]


def _unknown(chunks):
    return any(np.isnan(c) for c in chunks)


def _same_chunks(a, b):
    return len(a) == len(b) and all(x == y or (np.isnan(x) and np.isnan(y))
                                    for x, y in zip(a, b))


def _numpy_row_blocks(a, name, row_chunks):
    """A NumPy y or sample_weight beside a Dask X: sliced as X's row blocks."""
    if row_chunks is None or _unknown(row_chunks):
        raise TypeError(f"{name} is a NumPy array and X a Dask collection whose blocks' "
                        f"sizes are unknown: pass {name} as a Dask collection with X's "
                        f"partitions (a column of the same DataFrame).")
    a = np.asarray(a)
    if a.shape[0] != sum(row_chunks):
        raise ValueError(f"X and {name} have different numbers of samples: X has "
                         f"{int(sum(row_chunks))} rows, {name} has {a.shape[0]}.")
    bounds = np.concatenate([[0], np.cumsum(row_chunks)]).astype(int)
    return [a[bounds[i]:bounds[i + 1]] for i in range(len(row_chunks))]


def _n_columns(x, name):
    if _is_frame(x):
        return 1 if getattr(x, "ndim", 2) == 1 else len(x.columns)
    if x.ndim == 1:
        return 1
    if np.isnan(x.shape[1]):
        raise ValueError(f"{name} has an unknown number of columns.")
    return int(x.shape[1])


class BlockedData:
    """The caller's data as Dask holds it: blocks of whole rows, each a Delayed (X,
    y, weights) triple, with the methods of ``_fit.Data`` computed block by block on
    the workers. ``n_samples`` and the rows of each block are known after the first
    pass (``factor`` or ``persist``)."""

    def __init__(self, blocks, spec, y_is_1d, weighted, block_rows):
        self.blocks, self.spec, self.y_is_1d, self.weighted = blocks, spec, y_is_1d, weighted
        self.n_features, self.n_targets, self.dtype = spec.n_features, spec.n_targets, spec.dtype
        self.block_rows = block_rows  # None (DataFrames) until a pass has counted them
        self.runner = None  # the persisted blocks (persist)
        self.total_weight = self.targets = None
        self.files = None  # the files the blocks are read from (of_files)

    @classmethod
    def of(cls, X, y, sample_weight):
        """Validate what can be seen without reading the data (dimensions, dtypes,
        partitions); the rest is checked block by block on the workers."""
        if is_files(X):
            return cls.of_files(X, y, sample_weight)
        if y is None:
            raise TypeError("y is None; fastgd needs the targets of a supervised fit.")
        if not is_dask_collection(X):
            raise TypeError("X is a NumPy array and y or sample_weight a Dask collection: "
                            "pass X as a Dask collection too (dask.array.from_array(X, "
                            "chunks=...)), or compute y.")
        if X.ndim != 2:  # (a Dask Series too: one column, as a pandas Series is refused)
            what = "a Dask Series" if _is_frame(X) else f"a {X.ndim}-D Dask array"
            hint = " (X.to_frame() if it is one feature)" if _is_frame(X) else ""
            raise ValueError(f"X must be 2-D, of shape (n_samples, n_features): a Dask "
                             f"array or DataFrame; got {what}{hint}.")
        dtype = _target_dtype(_collection_dtype(X, "X"), "X")
        n_features = _n_columns(X, "X")
        if n_features == 0:
            raise ValueError("X must have at least one feature; found 0 feature(s).")
        if _is_frame(X):
            return cls._of_frames(X, y, sample_weight, n_features, dtype)
        x_blocks, row_chunks = _row_blocks(X, "X")
        y_is_1d = (getattr(y, "ndim", 1) == 1)
        if is_dask_collection(y):
            _target_dtype(_collection_dtype(y, "y"), "y")
            y_blocks, _ = _row_blocks(y, "y", len(x_blocks), row_chunks)
        else:
            y = _check_dtype(np.asarray(y), "y")
            y_is_1d = y.ndim == 1
            if y.ndim not in (1, 2):
                raise ValueError(f"y must be 1-D or 2-D; got {y.ndim}-D.")
            y_blocks = _numpy_row_blocks(y, "y", row_chunks)
        n_targets = _n_columns(y, "y")
        if n_targets == 0:
            raise ValueError("y must have at least one target column.")
        weight_blocks = [None] * len(x_blocks)
        if sample_weight is not None:
            if is_dask_collection(sample_weight):
                if getattr(sample_weight, "ndim", 1) != 1:
                    raise ValueError("sample_weight must be 1-D, one weight per sample.")
                weight_blocks, _ = _row_blocks(sample_weight, "sample_weight",
                                               len(x_blocks), row_chunks)
            else:
                weight_blocks = _numpy_row_blocks(sample_weight, "sample_weight",
                                                  row_chunks)
        blocks = list(zip(x_blocks, y_blocks, weight_blocks))
        known = None if _unknown(row_chunks) else tuple(int(r) for r in row_chunks)
        return cls(blocks, BlockSpec(n_features, n_targets, dtype, False), y_is_1d,
                   sample_weight is not None, known)  # (unknown: counted by the first pass)

    @classmethod
    def _of_frames(cls, X, y, sample_weight, n_features, dtype):
        """A Dask DataFrame X, with y (and the weights) Series or DataFrames: one
        frame of their columns side by side, aligned on the index as pandas aligns
        them, so that a block holds the same rows of each. (Taken apart, each
        column selection of a Parquet read may be partitioned differently.)"""
        import dask.dataframe as dd

        parts = {"y": y} if sample_weight is None else {"y": y, "sample_weight": sample_weight}
        for name, part in parts.items():
            if not (is_dask_collection(part) and _is_frame(part)):
                raise TypeError(f"X is a Dask DataFrame: {name} must be a Dask Series or "
                                f"DataFrame with its rows (a column of the same frame); got "
                                f"{type(part).__name__}.")
            _target_dtype(_collection_dtype(part, name), name)
        y_is_1d = y.ndim == 1
        n_targets = _n_columns(y, "y")
        if n_targets == 0:
            raise ValueError("y must have at least one target column.")
        if sample_weight is not None and sample_weight.ndim != 1:
            raise ValueError("sample_weight must be 1-D, one weight per sample.")
        columns = [X.rename(columns=dict(zip(X.columns, [f"x{j}" for j in range(n_features)])))]
        columns.append(y.to_frame(name="y0") if y_is_1d else
                       y.rename(columns=dict(zip(y.columns, [f"y{k}" for k in range(n_targets)]))))
        if sample_weight is not None:
            columns.append(sample_weight.to_frame(name="weight"))
        try:
            frame = dd.concat(columns, axis=1)
        except ValueError as error:
            raise ValueError(f"X, y and sample_weight must have the same rows (the columns "
                             f"of one DataFrame, or frames with the same index and "
                             f"partitions): {error}") from error
        blocks = [(block, None, None) for block in frame.to_delayed()]
        return cls(blocks, BlockSpec(n_features, n_targets, dtype, True), y_is_1d,
                   sample_weight is not None, None)

    @classmethod
    def of_files(cls, files, y, sample_weight):
        """Files (``_files.Files``): each block one read of its columns, X's, y's
        and the weights' side by side."""
        for name, given in (("y", y), ("sample_weight", sample_weight)):
            if given is not None:
                raise TypeError(f"{name} must be None when X is files: it comes from "
                                f"their columns (fastgd.read_files' target= and "
                                f"sample_weight=).")
        if files.n_targets == 0:
            raise ValueError("the files have no target column: name it, "
                             "fastgd.read_files(paths, target=COLUMN).")
        data = cls([(block, None, None) for block in files.blocks()],
                   BlockSpec(files.n_features, files.n_targets, files.dtype, True),
                   files.y_is_1d, files.weight is not None, None)
        data.files = files
        return data

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
        return list(dask.compute(*[on_source(function, X, Y, w, self.spec, *args)
                                   for X, Y, w in self.blocks]))

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

    def _check_totals(self, total_weight):
        if self.n_samples == 0:
            if self.files is not None:
                raise ValueError(f"X must have at least one sample: "
                                 f"{', '.join(map(repr, self.files.paths))} hold no rows.")
            raise ValueError("X must have at least one sample; its blocks hold none.")
        if self.weighted and not total_weight > 0:
            raise ValueError("sample_weight must have a positive sum (not all zero).")

    def factor(self, backend, b, fit_intercept, n_threads, fast=False):
        """``(R, total_weight, "qr", error)`` (``Data.factor``) in one distributed pass: each block's Householder
        factor where the block is, merged in a tree whose shape depends on the number
        of blocks alone (``fast`` is not taken: the blocks' factors must merge stably).
        Also records the rows of each block."""
        import dask

        spec, name = self.spec, backend.name
        factor_of = dask.delayed(apply_to_block, pure=True)
        merge = dask.delayed(merge_factors, pure=True)
        level = [factor_of(block_factor, X, Y, w, spec, i, b, fit_intercept, name)
                 for i, (X, Y, w) in enumerate(self.blocks)]
        while len(level) > MERGE_FAN_IN:  # groups [0, F), [F, 2F), ...; a last one
            # alone goes up as it is
            level = [merge(name, *level[i:i + MERGE_FAN_IN]) if i + 1 < len(level)
                     else level[i] for i in range(0, len(level), MERGE_FAN_IN)]
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
        return (root.R, root.total_weight, "qr",
                householder_factor_error(sum(self.block_rows), m, COMPRESS_PANEL_ROWS))

    def gradient_sums(self, backend_name, W, b, zero_targets=False):
        """``(sum_W, sum_b, half_sq, total_weight)``: each block's ``partial_gradient``
        on its worker, added on the client in block order (the same bits always)."""
        return in_block_order(self.map_blocks(block_partial_gradient, W, b, zero_targets,
                                              backend_name))

    def float64_gradient(self, backend, coef, intercept, n_threads, with_loss=False):
        """The gradient (G_W, g_b) at (coef, intercept) in float64 arithmetic (and,
        ``with_loss``, the loss there): each block's sums on its worker, added on the
        client in block order."""
        sum_W, sum_b, half_sq, total = in_block_order(
            self.map_blocks(block_gradient_sums, coef, intercept, backend.name))
        gradient = (sum_W / total, sum_b / total)
        return gradient + (half_sq / total,) if with_loss else gradient

    def accurate_gradient(self, backend, coef, intercept, n_threads):
        """``_fit.Data.accurate_gradient`` over the blocks: each block's pairs of sums
        on its worker, added on the client in block order (``_reference.add_double``)."""
        parts = self.map_blocks(block_accurate_sums, coef.astype(np.float64),
                                intercept.astype(np.float64), backend.name)
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
        if self.files is not None:
            where = self.files.where(self.block_rows, block, row, name, column)
            raise non_finite_error(name, value, where)
        row = int(self.offsets()[block] + row)
        index = (row,) if (name == "y" and self.y_is_1d) else (row, column)
        raise non_finite_error(name, value, f"index {index} (block {block})")

    def largest_abs(self):
        results = self._scan()
        return max(r[2] for r in results), max(r[3] for r in results)

    def constant_columns(self, columns):
        """``_fit.Data.constant_columns`` over the blocks: a pass that reads only the
        few columns asked about (they are rare: the factor pass does not spend a
        reduction over every column of every block on them)."""
        parts = self.map_blocks(block_column_extremes, columns)
        low = np.min([part[0] for part in parts], axis=0)
        high = np.max([part[1] for part in parts], axis=0)
        return low >= high

    def column_statistics(self, centred):
        """``_accelerated.column_statistics`` over the blocks: two passes, each
        block's sums on its worker, added in block order."""
        parts = self.map_blocks(block_column_sums, centred)
        largest, sums = parts[0]
        for block_largest, block_sums in parts[1:]:
            largest, sums = np.maximum(largest, block_largest), sums + block_sums
        from ._accelerated import unit_and_mean

        unit, mean = unit_and_mean(largest, sums, self.total_weight, centred)
        (spread,) = in_block_order([(part,) for part in
                                    self.map_blocks(block_column_spread, mean, unit)])
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
    """Stands for Y in the streaming solver over blocks: its shape and dtype (the
    targets themselves are in the blocks). Any other Y given to DistributedBackend
    is a broadcast zero (a Hessian product)."""

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
        futures = [self.client.submit(function, block, *args, pure=False)
                   for block in self.blocks]
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
        """The unnormalised sums over every block (the weights are the blocks'; a Y
        other than X's targets is zero: ``H [W, b]``, the Hessian product)."""
        sum_W, sum_b, half_sq, _ = X.gradient_sums(self.name, W, b, Y is not X.targets)
        return sum_W, sum_b, half_sq

    def gradient(self, X, Y, W, b, x_is_f, n_threads=None, sample_weight=None):
        sum_W, sum_b, half_sq = self.partial_gradient(X, Y, W, b, x_is_f)
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
            return _epochs.fit(self, data, model, options, optimizer.arrays, history,
                               max_updates)


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
        X, Y = frame[:, :D], frame[:, D:D + K]
        weights = frame[:, D + K] if width > D + K else None
    if getattr(X, "dtype", None) == object:  # its entries checked as a local X's are
        X = _check_dtype(np.asarray(X), "X")
    if getattr(Y, "dtype", None) == object:
        Y = _check_dtype(np.asarray(Y), "y")
    X = np.asarray(X, dtype=spec.dtype)
    if not (X.flags.c_contiguous or X.flags.f_contiguous):
        X = np.ascontiguousarray(X)
    n_rows = X.shape[0]
    if X.ndim != 2 or X.shape[1] != spec.n_features:
        raise ValueError(f"X's block has shape {X.shape}; expected ({n_rows}, "
                         f"{spec.n_features}).")
    Y = np.asarray(Y, dtype=spec.dtype)
    if Y.shape[0] != n_rows:
        raise ValueError(f"X and y have different numbers of samples in a block: "
                         f"{n_rows} and {Y.shape[0]} (their row partitions must match).")
    Y = Y.reshape(n_rows, spec.n_targets)
    if weights is not None:
        weights = np.ascontiguousarray(weights, dtype=spec.dtype)
        if weights.shape != (n_rows,):
            raise ValueError(f"sample_weight's block has shape {weights.shape}; expected "
                             f"({n_rows},), one weight per sample of X's block.")
        if not (np.isfinite(weights).all() and (weights >= 0).all()):
            raise ValueError("sample_weight must hold finite, non-negative numbers.")
    x_is_f = X.flags.f_contiguous and not X.flags.c_contiguous
    return X, x_is_f, Y, weights


def apply_to_block(function, X, Y, weights, spec, *args):
    """``function(block_arrays(X, Y, weights, spec), *args)``: a pass that reads the
    blocks from their source."""
    return function(block_arrays(X, Y, weights, spec), *args)


def non_finite_error(name, value, where):
    """The ValueError for NaN or inf in ``name`` at ``where`` (check_finite's words)."""
    return ValueError(f"{name} contains {'NaN' if np.isnan(value) else value} at {where}; "
                      f"fastgd needs finite values (remove or impute missing data first).")


def first_non_finite(X, Y):
    """``(name, row, column, value)`` of the first NaN or inf of X, then of Y, or None."""
    for name, a in (("X", X), ("y", Y)):
        bad = ~np.isfinite(a)
        if bad.any():
            row, column = np.unravel_index(int(np.argmax(bad)), a.shape)
            return name, int(row), int(column), float(a[row, column])
    return None


def _total_weight(X, weights):
    return float(X.shape[0]) if weights is None else float(weights.sum(dtype=np.float64))


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
    R = get_backend(backend_name).compress(X, Y, b, fit_intercept, weights, x_is_f,
                                           BLOCK_THREADS)
    bad = None
    if not np.isfinite(R).all():
        found = first_non_finite(X, Y)
        bad = None if found is None else (index,) + found
    return BlockFactor(R, _total_weight(X, weights), (X.shape[0],), bad)


def merge_factors(backend_name, *parts):
    """The factor of consecutive subtrees' rows: the triangular factor of their
    factors stacked (the backend's compress of those rows, so the same kernel
    always merges); their totals added, in order."""
    m = parts[0].R.shape[0]
    stacked = np.vstack([part.R for part in parts])
    # compress's augmented rows with the intercept held at 0 are [X, Y - 0]: stacked itself
    R = get_backend(backend_name).compress(
        np.ascontiguousarray(stacked[:, :m - 1]), np.ascontiguousarray(stacked[:, m - 1:]),
        np.zeros(1), False, None, False, BLOCK_THREADS)
    total = parts[0].total_weight
    for part in parts[1:]:
        total += part.total_weight
    bad = [part.bad for part in parts if part.bad is not None]
    return BlockFactor(R, total, sum((part.block_rows for part in parts), ()),
                       bad[0] if bad else None)


def block_summary(arrays):
    """A persisted block's rows, total weight and first non-finite entry (or None)."""
    X, _, Y, weights = arrays
    bad = None if np.isfinite(X).all() and np.isfinite(Y).all() else first_non_finite(X, Y)
    return X.shape[0], _total_weight(X, weights), bad


def block_column_extremes(arrays, columns):
    """A block's ``_fit.column_extremes`` of ``columns``."""
    from ._fit import column_extremes

    X, _, _, weights = arrays
    return column_extremes(X, weights, columns)


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
        X, Y, W, b, x_is_f, BLOCK_THREADS, weights)
    return sum_W.copy(), sum_b.copy(), float(half_sq), _total_weight(X, weights)


def block_gradient_sums(arrays, coef, intercept, backend_name):
    """A block's unnormalised float64 gradient sums (with half its weighted sum of
    squared residuals) and its total weight."""
    from ._fit import float64_sums

    X, x_is_f, Y, weights = arrays
    total = _total_weight(X, weights)
    if X.shape[0] == 0:
        return np.zeros(coef.shape), np.zeros(coef.shape[0]), 0.0, total
    if X.dtype == np.float64:
        sum_W, sum_b, half_sq = get_backend(backend_name).partial_gradient(
            X, Y, coef.astype(X.dtype), intercept.astype(X.dtype), x_is_f, BLOCK_THREADS,
            weights)
        return sum_W.copy(), sum_b.copy(), half_sq, total
    sum_W, sum_b, half_sq = float64_sums(X, Y, coef, intercept, x_is_f, weights)
    return sum_W, sum_b, half_sq, total


def block_accurate_sums(arrays, coef, intercept, backend_name):
    """A block's accurate gradient sums (``_reference.accurate_sums``) and its total
    weight."""
    X, x_is_f, Y, weights = arrays
    total = _total_weight(X, weights)
    if X.shape[0] == 0:
        zeros = np.zeros((coef.shape[0], coef.shape[1] + 2))
        return zeros, zeros.copy(), total
    hi, lo = get_backend(backend_name).accurate_sums(X, Y, coef, intercept, x_is_f,
                                                     BLOCK_THREADS, weights)
    return hi.copy(), lo.copy(), total


def block_column_sums(arrays, centred):
    """A block's share of ``_accelerated.column_statistics``' first pass."""
    from ._accelerated import column_sums

    X, _, _, weights = arrays
    return column_sums(X, weights, centred)


def block_column_spread(arrays, mean, unit):
    """A block's share of ``_accelerated.column_statistics``' second pass."""
    from ._accelerated import column_spread

    X, _, _, weights = arrays
    return column_spread(X, weights, mean, unit)


def block_scan(arrays):
    """A block's rows, first non-finite entry (or None) and largest |X| and |y|."""
    X, _, Y, _ = arrays
    if X.shape[0] == 0:
        return 0, None, 0.0, 0.0
    with np.errstate(invalid="ignore"):
        return (X.shape[0], first_non_finite(X, Y), float(np.abs(X).max()),
                float(np.abs(Y).max()))


# ------------------------------------------------------------ partial_fit


def partial_fit_blocks(estimator, X, y, sample_weight):
    """``estimator.partial_fit`` on each block in order, each a task on the worker
    that holds the block (Dask places a task where its largest input is): a chain
    whose only travelling value is the small estimator. Returns the estimator after
    the last block (a copy; the caller's is not touched)."""
    import dask

    data = BlockedData.of(X, y, sample_weight)
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


# ------------------------------------------------------------ predict and score


def as_row_blocks_array(X):
    """A Dask array or DataFrame X as a Dask array with one column block (a
    DataFrame's partition lengths stay unknown: nothing is read)."""
    if _is_frame(X):
        X = X.to_dask_array()
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D Dask array of shape (n_samples, n_features); "
                         f"got a {X.ndim}-D one.")
    return X.rechunk({1: -1}) if X.numblocks[1] > 1 else X


def named_like(X):
    """What scikit-learn reads column names from: a Dask DataFrame's empty pandas
    frame of the same columns (``_meta``), the feature columns of files; any other X
    as it is."""
    if is_files(X):
        return X.columns_frame
    return X._meta if is_dask_collection(X) and _is_frame(X) else X


def n_columns(X):
    return X.n_features if is_files(X) else _n_columns(X, "X")


def predict(X, coef, intercept):
    """``X @ coef.T + intercept`` as a Dask array, block by block on the workers, in
    X's float dtype (coef of shape (D,) gives 1-D predictions). For files, a NumPy
    array, read and computed a few blocks at a time."""
    if is_files(X):
        from ._files import iter_predictions

        parts = [prediction for _, prediction in iter_predictions(X, coef, intercept)]
        return np.concatenate(parts)
    dtype = _target_dtype(_collection_dtype(X, "X"), "X")
    X = as_row_blocks_array(X)
    coef, intercept = np.asarray(coef, dtype=dtype), np.asarray(intercept, dtype=dtype)
    if coef.ndim == 1:
        return X.map_blocks(predict_block, coef, intercept, dtype, dtype=dtype, drop_axis=1)
    return X.map_blocks(predict_block, coef, intercept, dtype, dtype=dtype,
                        chunks=(X.chunks[0], (coef.shape[0],)))


def predict_block(X, coef, intercept, dtype, block_info=None):
    X = np.asarray(X, dtype=dtype)
    prediction = _reference.predictions(X, coef, intercept)
    if not np.isfinite(prediction).all():
        bad = first_non_finite(X, np.zeros((X.shape[0], 0)))
        if bad is not None:
            _, row, column, value = bad
            first_row = np.nan if block_info is None else block_info[0]["array-location"][0][0]
            where = (f"index {(int(first_row) + row, column)}" if not np.isnan(first_row)
                     else f"row {row} of block {block_info[0]['chunk-location'][0]}, "
                          f"column {column}")  # (a DataFrame's partitions: sizes unknown)
            raise non_finite_error("X", value, where)
    return prediction


def r2_score(X, y, sample_weight, coef, intercept):
    """scikit-learn's R² (averaged over targets) of ``X @ coef.T + intercept`` against
    y: each block's weight, mean, sum of squares about its mean and residual sum of
    squares on its worker (the blocks of X, y and the weights as a fit takes them),
    combined on the client in block order (Chan, Golub and LeVeque's pairwise
    update: no cancellation beside a large mean)."""
    data = BlockedData.of(X, y, sample_weight)
    expected = 1 if np.ndim(coef) == 1 else np.shape(coef)[0]
    if data.n_targets != expected or data.y_is_1d != (np.ndim(coef) == 1):
        raise ValueError(f"y must have {'1 dimension' if np.ndim(coef) == 1 else f'{expected} columns'} "
                         f"(the model's targets); got {data.n_targets} column(s).")
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
        raise ValueError("sample_weight must have a positive sum (not all zero)." if
                         data.weighted else "X must have at least one sample.")
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
