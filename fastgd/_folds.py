"""Cross-validation folds, and each fold's triangular factor from one pass over X.

The least-squares loss of a set of rows, at any coefficients, is that of the
triangular factor R of their ``Z = [X, 1, Y]`` (``R.T R = Z.T diag(s) Z``: see
``_gram.py``), and the factor of a union of row sets is the triangular factor of
their factors stacked (``_data.merge_factors``). So one pass over the rows gives
every fold's factor, and then every fold's training problem (the merge of the other
folds' factors) and validation error (its own factor) are small problems of
``D + 1 + K`` rows, whatever N: what ``fit_path`` and ``GDRegressorCV`` (issue 28)
solve a grid of penalties on.

``fold_labels`` turns a ``cv`` argument (a number of contiguous folds, as
scikit-learn's ``KFold`` without shuffling; an array of fold labels; or a
scikit-learn splitter whose test sets partition the rows) into one fold index per
row. ``fold_factors`` makes the folds' factors of in-memory data, a chunk of rows at
a time: a fold's rows that are consecutive in X are compressed where they are, others
are gathered a chunk at a time (no copy of X).
"""

import numbers

import numpy as np

from . import _blocks
from ._backends import get_backend
from ._data import BLOCK_THREADS, BlockFactor, Data, apply_to_block, merge_factors
from ._diagnostics import raise_for_non_finite

# scikit-learn's number of folds for cv=None
DEFAULT_FOLDS = 5
# Rows read per step of fold_factors: a gathered piece of a fold is at most this many
# rows (a few MB at D = 100), and each step's factors are merged into the folds'.
FOLD_CHUNK_ROWS = 1 << 16


def kfold_labels(n_samples, n_folds):
    """Contiguous folds as scikit-learn's ``KFold(n_folds)`` without shuffling makes
    them: the first ``n_samples % n_folds`` folds one row longer than the others.

    >>> kfold_labels(7, 3)
    array([0, 0, 0, 1, 1, 2, 2])
    """
    return np.repeat(np.arange(n_folds, dtype=np.int64), _kfold_sizes(n_samples, n_folds))


def _kfold_sizes(n_samples, n_folds):
    sizes = np.full(n_folds, n_samples // n_folds, dtype=np.int64)
    sizes[: n_samples % n_folds] += 1
    return sizes


def fold_labels(cv, X):
    """``(labels, n_folds)``: the fold of each of X's rows (int64, 0 to n_folds - 1),
    from ``cv``: an int (contiguous folds, ``kfold_labels``), an array of one label
    per row (any values: the folds are its distinct values, in sorted order), a
    scikit-learn splitter (an object with ``split(X)``) or an iterable of ``(train,
    test)`` index arrays, whose test sets take every row exactly once. Raise a
    ValueError or TypeError naming ``cv`` otherwise."""
    n_samples = X.shape[0]
    cv = DEFAULT_FOLDS if cv is None else cv  # (scikit-learn's None: 5 folds)
    if _is_count(cv):
        check_n_folds(cv, n_samples)
        return kfold_labels(n_samples, int(cv)), int(cv)
    text = isinstance(cv, (str, bytes))
    if hasattr(cv, "split") and not text:  # (a str has a split method too)
        return _test_set_labels(cv.split(X), n_samples, repr(cv))
    if not text and hasattr(cv, "__iter__") and not isinstance(cv, np.ndarray):
        cv = list(cv)  # (a generator of splits is read once)
        if _holds_splits(cv):
            return _test_set_labels(cv, n_samples, "the given splits")
    if text or isinstance(cv, bool) or cv is None or np.ndim(cv) != 1:
        raise TypeError(
            "cv must be a number of folds, an array of one fold label per row, a "
            "scikit-learn splitter (an object with a split method) or (train, test) "
            f"splits; got {cv!r}."
        )
    values = np.asarray(cv)
    if values.shape[0] != n_samples:
        raise ValueError(
            f"cv as fold labels must have one label per row of X ({n_samples}); got "
            f"{values.shape[0]} labels."
        )
    folds, labels = np.unique(values, return_inverse=True)
    if len(folds) < 2:
        raise ValueError(f"cv as fold labels must name at least 2 folds; got {len(folds)}.")
    return labels.astype(np.int64).reshape(-1), len(folds)


def _indices(rows):
    rows = np.asarray(rows)
    return np.flatnonzero(rows) if rows.dtype == bool else rows


def _is_count(cv):
    # cv as a number of contiguous folds (a bool is not one)
    return isinstance(cv, numbers.Integral) and not isinstance(cv, bool)


def check_n_folds(cv, n_samples):
    """Raise ValueError unless the number of folds ``cv`` is from 2 to n_samples."""
    if not 2 <= cv <= n_samples:
        raise ValueError(
            f"cv must be a number of folds from 2 to the number of rows, "
            f"n_samples={n_samples}; got {cv}."
        )


def _holds_splits(cv):
    # A list of (train, test) pairs of index arrays (scikit-learn's third kind of
    # cv), not of labels.
    first = cv[0] if len(cv) else None
    return isinstance(first, (tuple, list)) and len(first) == 2 and np.ndim(first[1]) == 1


def _test_set_labels(splits, n_samples, what):
    # The fold of each row: the index of the split whose test set holds it; each
    # split's train set must be the other rows (a fold trains on all of them).
    labels = np.full(n_samples, -1, dtype=np.int64)
    n_folds = 0
    for train, test in splits:
        train, test = (_indices(rows) for rows in (train, test))
        if (labels[test] >= 0).any() or len(np.unique(test)) != len(test):
            raise ValueError(
                f"cv: the test sets of {what} overlap (row "
                f"{int(test[np.argmax(labels[test] >= 0)])} is in two of them): a "
                "splitter's test sets must take every row exactly once."
            )
        in_train = np.zeros(n_samples, dtype=bool)
        in_train[train] = True
        if in_train[test].any() or in_train.sum() != n_samples - len(np.unique(test)):
            raise ValueError(
                f"cv: split {n_folds} of {what} does not train on every row outside its "
                "test set: each fold's path is fitted on all the other folds' rows (give "
                "fold labels, or splits whose train set is the complement of the test set)."
            )
        labels[test] = n_folds
        n_folds += 1
    if n_folds < 2 or (labels < 0).any():
        missing = np.flatnonzero(labels < 0)
        raise ValueError(
            f"cv: the test sets of {what} must take every row exactly once, in at "
            f"least 2 splits; got {n_folds} splits"
            + (f", row {int(missing[0])} in none of them." if len(missing) else ".")
        )
    return labels, n_folds


def folds_of(data, cv, backend, b, fit_intercept, n_threads):
    """``(factors, n_folds)``: the factor of each fold of ``cv`` (``fold_labels``) of
    ``data``, a ``_data.Data`` (``fold_factors``) or ``BlockedData``
    (``blocked_fold_factors``), from one pass over the rows (and one more to count
    the rows of blocked data whose metadata do not say them: Dask DataFrames, CSV
    files). Raises for NaN or inf in the data, naming where."""
    if data.blocked:
        block_runs, n_folds = blocks_fold_runs(cv, data.count_rows())
        factors = blocked_fold_factors(data, block_runs, n_folds, backend.name, b, fit_intercept)
    else:
        labels, n_folds = fold_labels(cv, data.X)
        factors = fold_factors(data, labels, n_folds, backend, b, fit_intercept, n_threads)
    if not all(np.isfinite(factor.R).all() for factor in factors):
        raise_for_non_finite(data, "triangular factor of [X, 1, y]")
    check_fold_weights(factors)
    if data.blocked:
        data.record_total_weight(sum(factor.total_weight for factor in factors))
    return factors, n_folds


def check_fold_weights(factors):
    """Raise ValueError naming a fold whose rows, or whose training rows (the other
    folds'), weigh 0 in all: its validation error, or its path, is undefined."""
    totals = [factor.total_weight for factor in factors]
    for fold, total in enumerate(totals):
        if not total > 0:
            raise ValueError(
                f"cv: the rows of fold {fold} have a total sample_weight of 0: their "
                "validation error is undefined (give them weight, or other folds)."
            )
        if not sum(totals) - total > 0:
            raise ValueError(
                f"cv: the training rows of fold {fold} (every other fold's) have a total "
                "sample_weight of 0: its path is undefined."
            )


def blocks_fold_runs(cv, block_rows):
    """``(block_runs, n_folds)``: each block's rows' folds as ``runs``, for blocks of
    ``block_rows`` rows. Contiguous folds (an int ``cv``) are cut from their bounds,
    with no label per row on the client; other ``cv`` from ``fold_labels``."""
    offsets = np.concatenate([[0], np.cumsum(block_rows)]).astype(np.int64)
    n_samples = int(offsets[-1])
    if not _is_count(cv):
        # (splitters need only the number of rows: a stand-in X of no columns)
        labels, n_folds = fold_labels(cv, np.empty((n_samples, 0)))
        return [runs(labels[lo:hi]) for lo, hi in zip(offsets[:-1], offsets[1:])], n_folds
    check_n_folds(cv, n_samples)
    bounds = np.concatenate([[0], np.cumsum(_kfold_sizes(n_samples, cv))])
    block_runs = []
    for lo, hi in zip(offsets[:-1], offsets[1:]):
        folds = np.flatnonzero((bounds[:-1] < hi) & (bounds[1:] > lo))
        lengths = np.minimum(hi, bounds[folds + 1]) - np.maximum(lo, bounds[folds])
        block_runs.append((folds.astype(np.int64), lengths.astype(np.int64)))
    return block_runs, int(cv)


def blocked_fold_factors(data, block_runs, n_folds, backend_name, b, fit_intercept):
    """``fold_factors`` of blocked data (``_data.BlockedData``): each block's folds'
    factors on its worker, from its rows' folds (``block_runs``, ``runs`` each); each
    fold's merged on the client, in block order (the same bits for any number of
    workers)."""
    import dask

    on_block = dask.delayed(apply_to_block, pure=True)
    parts = dask.compute(
        *[
            on_block(
                block_fold_factors,
                X,
                Y,
                weights,
                data.spec,
                block_runs[i],
                n_folds,
                b,
                fit_intercept,
                backend_name,
            )
            for i, (X, Y, weights) in enumerate(data.blocks)
        ]
    )
    return [merged(backend_name, *(part[fold] for part in parts)) for fold in range(n_folds)]


def runs(labels):
    """``(values, lengths)``: the runs of equal labels, what a block's task carries
    (a contiguous fold is one run: a few numbers, not a label per row in the graph)."""
    starts = np.flatnonzero(np.diff(labels, prepend=labels[:1] - 1))
    return labels[starts], np.diff(np.append(starts, len(labels))).astype(np.int64)


def block_fold_factors(arrays, label_runs, n_folds, b, fit_intercept, backend_name):
    """A block's ``fold_factors`` (its arrays as ``_data.block_arrays`` makes them,
    ``label_runs`` its rows' labels as ``runs``)."""
    labels = np.repeat(*label_runs)
    X, x_is_f, Y, weights = arrays
    block = Data(X, x_is_f, Y, False, weights)
    backend = get_backend(backend_name)
    return fold_factors(block, labels, n_folds, backend, b, fit_intercept, BLOCK_THREADS)


def fold_factors(data, labels, n_folds, backend, b, fit_intercept, n_threads):
    """The factor of each fold's rows of ``data`` (an in-memory ``_data.Data``), as a
    list of ``_data.BlockFactor`` in fold order, from one pass over the rows, a chunk
    of ``FOLD_CHUNK_ROWS`` at a time. ``b``, ``fit_intercept``: as ``Data.factor``'s.
    A fold's factor is that of its rows in the order of X (the merges' tree depends on
    the labels and the chunking alone, so it is the same bits for any thread count)."""
    m = data.n_features + (1 if fit_intercept else 0) + data.Y.shape[1]
    factors = [BlockFactor(np.zeros((m, m)), 0.0, (0,), None) for _ in range(n_folds)]
    for lo in range(0, data.n_samples, FOLD_CHUNK_ROWS):
        hi = min(lo + FOLD_CHUNK_ROWS, data.n_samples)
        chunk = labels[lo:hi]
        for fold in np.unique(chunk):
            rows = lo + np.flatnonzero(chunk == fold)
            part = _rows_factor(data, rows, backend, b, fit_intercept, n_threads)
            factors[fold] = merged(backend.name, factors[fold], part)
    return factors


def merged(backend_name, *parts):
    """``_data.merge_factors`` of the parts that hold rows (a fold with none in a
    block or a chunk has an empty part: no merge with its zeros)."""
    holding = [part for part in parts if sum(part.block_rows)] or parts[:1]
    return holding[0] if len(holding) == 1 else merge_factors(backend_name, *holding)


def _rows_factor(data, rows, backend, b, fit_intercept, n_threads):
    # The factor of data's rows `rows` (increasing): where they are, if consecutive
    # (a view), else gathered (a copy of those rows only).
    if rows[-1] - rows[0] + 1 == len(rows):
        where = slice(int(rows[0]), int(rows[-1]) + 1)
    else:
        where = rows
    X, Y = data.X[where], data.Y[where]
    weights = None if data.sample_weight is None else data.sample_weight[where]
    # The kernels read X C- or F-contiguous: a C-ordered X's rows are (a view); a
    # Fortran-ordered X's are not, unless they are all of X, and are copied a chunk
    # at a time (a gathered piece is C-ordered already: no second copy).
    x_is_f = X.flags.f_contiguous and not X.flags.c_contiguous
    if not x_is_f:
        X = np.ascontiguousarray(X)
    R = backend.compress(X, Y, b, fit_intercept, weights, x_is_f, n_threads)
    return BlockFactor(R, _blocks.total_weight(X, weights), (len(rows),), None)


def training_factor(factors, fold, backend_name):
    """The factor of every fold's rows but ``fold``'s: the merge of the others'
    factors, in fold order."""
    return merged(backend_name, *(f for k, f in enumerate(factors) if k != fold))


def whole_factor(factors, backend_name):
    """The factor of every fold's rows: the merge of all the folds' factors."""
    return merged(backend_name, *factors)
