"""Data in Dask collections: turned into blocked data (``_data.BlockedData``), and
predicted block by block.

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

import sys

import numpy as np

from . import _reference
from ._blocks import first_non_finite, non_finite_error
from ._data import BlockedData, BlockSpec
from ._validation import _check_dtype


def is_dask_collection(x):
    """Whether x is a Dask collection (array, DataFrame, Series), without importing
    Dask for anything else."""
    if "dask" not in sys.modules:
        return False  # a Dask collection's module has imported dask
    import dask

    return dask.is_dask_collection(x)


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
                raise TypeError(
                    f"{name}'s column {column!r} has dtype {dtype}; fastgd "
                    f"needs numeric columns (integers or floats)."
                )
        return np.result_type(*dtypes)
    return np.dtype(x.dtype)


def _row_blocks(x, name, n_blocks=None, row_chunks=None):
    """x's blocks of rows as a list of Delayed objects (one column block), and the
    rows of each when Dask knows them (None for DataFrames, whose partition lengths
    are known only once they are read)."""
    if _is_frame(x):
        if n_blocks is not None and x.npartitions != n_blocks:
            raise ValueError(
                f"{name} has {x.npartitions} partitions and X {n_blocks}: "
                f"they must have the same row partitions (take both from one "
                f"DataFrame)."
            )
        return list(x.to_delayed()), None
    if x.ndim not in (1, 2):
        raise ValueError(f"{name} must be a 1-D or 2-D Dask array; got {x.ndim}-D.")
    if row_chunks is not None and not _same_chunks(x.chunks[0], row_chunks):
        if _unknown(row_chunks) or _unknown(x.chunks[0]):
            if len(x.chunks[0]) != len(row_chunks):
                raise ValueError(
                    f"{name} and X have different row blocks of unknown "
                    f"sizes: give both the same row chunks."
                )
            # the same number of blocks: their rows are compared on the workers
        else:
            if sum(x.chunks[0]) != sum(row_chunks):
                raise ValueError(
                    f"X and {name} have different numbers of samples: X has "
                    f"{int(sum(row_chunks))} rows, {name} has "
                    f"{int(sum(x.chunks[0]))}."
                )
            x = x.rechunk({0: row_chunks})
    if x.ndim == 2 and x.numblocks[1] > 1:
        x = x.rechunk({1: -1})  # a block holds whole rows
    return list(x.to_delayed().ravel()), x.chunks[0]


def _unknown(chunks):
    return any(np.isnan(c) for c in chunks)


def _same_chunks(a, b):
    return len(a) == len(b) and all(x == y or (np.isnan(x) and np.isnan(y)) for x, y in zip(a, b))


def _numpy_row_blocks(a, name, row_chunks):
    """A NumPy y or sample_weight beside a Dask X: sliced as X's row blocks."""
    if row_chunks is None or _unknown(row_chunks):
        raise TypeError(
            f"{name} is a NumPy array and X a Dask collection whose blocks' "
            f"sizes are unknown: pass {name} as a Dask collection with X's "
            f"partitions (a column of the same DataFrame)."
        )
    a = np.asarray(a)
    if a.shape[0] != sum(row_chunks):
        raise ValueError(
            f"X and {name} have different numbers of samples: X has "
            f"{int(sum(row_chunks))} rows, {name} has {a.shape[0]}."
        )
    bounds = np.concatenate([[0], np.cumsum(row_chunks)]).astype(int)
    return [a[bounds[i] : bounds[i + 1]] for i in range(len(row_chunks))]


def _n_columns(x, name):
    if _is_frame(x):
        return 1 if getattr(x, "ndim", 2) == 1 else len(x.columns)
    if x.ndim == 1:
        return 1
    if np.isnan(x.shape[1]):
        raise ValueError(f"{name} has an unknown number of columns.")
    return int(x.shape[1])


def blocked_data(X, y, sample_weight):
    """Dask collections as ``_data.BlockedData``. Validates what can be seen without
    reading the data (dimensions, dtypes, partitions); the rest is checked block by
    block on the workers."""
    if y is None:
        raise TypeError("y is None; fastgd needs the targets of a supervised fit.")
    if not is_dask_collection(X):
        raise TypeError(
            "X is a NumPy array and y or sample_weight a Dask collection: "
            "pass X as a Dask collection too (dask.array.from_array(X, "
            "chunks=...)), or compute y."
        )
    if X.ndim != 2:  # (a Dask Series too: one column, as a pandas Series is refused)
        what = "a Dask Series" if _is_frame(X) else f"a {X.ndim}-D Dask array"
        hint = " (X.to_frame() if it is one feature)" if _is_frame(X) else ""
        raise ValueError(
            f"X must be 2-D, of shape (n_samples, n_features): a Dask "
            f"array or DataFrame; got {what}{hint}."
        )
    dtype = _target_dtype(_collection_dtype(X, "X"), "X")
    n_features = _n_columns(X, "X")
    if n_features == 0:
        raise ValueError("X must have at least one feature; found 0 feature(s).")
    if _is_frame(X):
        return _of_frames(X, y, sample_weight, n_features, dtype)
    x_blocks, row_chunks = _row_blocks(X, "X")
    y_is_1d = getattr(y, "ndim", 1) == 1
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
            weight_blocks, _ = _row_blocks(
                sample_weight, "sample_weight", len(x_blocks), row_chunks
            )
        else:
            weight_blocks = _numpy_row_blocks(sample_weight, "sample_weight", row_chunks)
    blocks = list(zip(x_blocks, y_blocks, weight_blocks))
    known = None if _unknown(row_chunks) else tuple(int(r) for r in row_chunks)
    return BlockedData(
        blocks,
        BlockSpec(n_features, n_targets, dtype, False),
        y_is_1d,
        sample_weight is not None,
        known,
    )  # (unknown: counted by the first pass)


def _of_frames(X, y, sample_weight, n_features, dtype):
    """A Dask DataFrame X, with y (and the weights) Series or DataFrames: one
    frame of their columns side by side, aligned on the index as pandas aligns
    them, so that a block holds the same rows of each. (Taken apart, each
    column selection of a Parquet read may be partitioned differently.)"""
    import dask.dataframe as dd

    parts = {"y": y} if sample_weight is None else {"y": y, "sample_weight": sample_weight}
    for name, part in parts.items():
        if not (is_dask_collection(part) and _is_frame(part)):
            raise TypeError(
                f"X is a Dask DataFrame: {name} must be a Dask Series or "
                f"DataFrame with its rows (a column of the same frame); got "
                f"{type(part).__name__}."
            )
        _target_dtype(_collection_dtype(part, name), name)
    y_is_1d = y.ndim == 1
    n_targets = _n_columns(y, "y")
    if n_targets == 0:
        raise ValueError("y must have at least one target column.")
    if sample_weight is not None and sample_weight.ndim != 1:
        raise ValueError("sample_weight must be 1-D, one weight per sample.")
    columns = [X.rename(columns=dict(zip(X.columns, [f"x{j}" for j in range(n_features)])))]
    columns.append(
        y.to_frame(name="y0")
        if y_is_1d
        else y.rename(columns=dict(zip(y.columns, [f"y{k}" for k in range(n_targets)])))
    )
    if sample_weight is not None:
        columns.append(sample_weight.to_frame(name="weight"))
    try:
        frame = dd.concat(columns, axis=1)
    except ValueError as error:
        raise ValueError(
            f"X, y and sample_weight must have the same rows (the columns "
            f"of one DataFrame, or frames with the same index and "
            f"partitions): {error}"
        ) from error
    blocks = [(block, None, None) for block in frame.to_delayed()]
    return BlockedData(
        blocks,
        BlockSpec(n_features, n_targets, dtype, True),
        y_is_1d,
        sample_weight is not None,
        None,
    )


# ------------------------------------------------------------ predict


def as_row_blocks_array(X):
    """A Dask array or DataFrame X as a Dask array with one column block (a
    DataFrame's partition lengths stay unknown: nothing is read)."""
    if _is_frame(X):
        X = X.to_dask_array()
    if X.ndim != 2:
        raise ValueError(
            f"X must be a 2-D Dask array of shape (n_samples, n_features); got a {X.ndim}-D one."
        )
    return X.rechunk({1: -1}) if X.numblocks[1] > 1 else X


def frame_meta(X):
    """What scikit-learn reads column names from: a Dask DataFrame's empty pandas
    frame of the same columns (``_meta``); a Dask array as it is."""
    return X._meta if _is_frame(X) else X


def n_columns(X):
    return _n_columns(X, "X")


def predict(X, coef, intercept):
    """``X @ coef.T + intercept`` as a Dask array, block by block on the workers, in
    X's float dtype (coef of shape (D,) gives 1-D predictions)."""
    dtype = _target_dtype(_collection_dtype(X, "X"), "X")
    X = as_row_blocks_array(X)
    coef, intercept = np.asarray(coef, dtype=dtype), np.asarray(intercept, dtype=dtype)
    if coef.ndim == 1:
        return X.map_blocks(predict_block, coef, intercept, dtype, dtype=dtype, drop_axis=1)
    return X.map_blocks(
        predict_block, coef, intercept, dtype, dtype=dtype, chunks=(X.chunks[0], (coef.shape[0],))
    )


def predict_block(X, coef, intercept, dtype, block_info=None):
    X = np.asarray(X, dtype=dtype)
    prediction = _reference.predictions(X, coef, intercept)
    if not np.isfinite(prediction).all():
        bad = first_non_finite(X, np.zeros((X.shape[0], 0)))
        if bad is not None:
            _, row, column, value = bad
            first_row = np.nan if block_info is None else block_info[0]["array-location"][0][0]
            where = (
                f"index {(int(first_row) + row, column)}"
                if not np.isnan(first_row)
                else f"row {row} of block {block_info[0]['chunk-location'][0]}, column {column}"
            )  # (a DataFrame's partitions: sizes unknown)
            raise non_finite_error("X", value, where)
    return prediction
