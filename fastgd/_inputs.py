"""Where the kind of the caller's data is decided: NumPy arrays, Dask collections or
files (``fastgd.read_files``).

``as_data(X, y, sample_weight)`` returns ``_data.Data`` (validated arrays) or
``_data.BlockedData`` (blocks, from ``_dask`` or ``_files``); the fit pipeline works
on what it returns and never asks again. The estimator's predict and score of
blocked data come here too. Nothing here imports Dask unless the data are Dask
collections or files.
"""

import numpy as np

from . import _dask, _data, _files
from ._validation import check_sample_weight, check_X, check_y


def is_files(x):
    """Whether x is files (``_files.Files``, made by ``fastgd.read_files``)."""
    return getattr(x, "holds_blocks", False) is True


def holds_blocks(*arrays):
    """Whether any of the arrays is read block by block: a Dask collection, or files."""
    return any(is_files(a) or _dask.is_dask_collection(a) for a in arrays)


def as_data(X, y, sample_weight, point):
    """``(data, W, b)``: the caller's data as ``_data.Data`` (NumPy arrays, validated
    and cast: see ``_validation``) or ``_data.BlockedData`` (Dask collections or
    files: what can be seen without reading them is validated, the rest on the
    workers), and the caller's ``point`` (a ``_validation.Point``) checked for it."""
    if holds_blocks(X, y, sample_weight):
        data = blocked_data(X, y, sample_weight)
        return (data, *point.checked(data.n_targets, data.n_features, data.y_is_1d, data.dtype))
    X, x_is_f = check_X(X)
    Y, y_is_1d = check_y(y, X.shape[0], X.dtype)
    W, b = point.checked(Y.shape[1], X.shape[1], y_is_1d, X.dtype)
    sample_weight = check_sample_weight(sample_weight, X.shape[0], X.dtype)
    return _data.Data(X, x_is_f, Y, y_is_1d, sample_weight), W, b


def blocked_data(X, y, sample_weight):
    """Dask collections or files as ``_data.BlockedData``."""
    if is_files(X):
        return _files.blocked_data(X, y, sample_weight)
    return _dask.blocked_data(X, y, sample_weight)


def named_like(X):
    """What scikit-learn reads column names from: a Dask DataFrame's empty pandas
    frame of the same columns, the feature columns of files; any other X as it is."""
    if is_files(X):
        return X.columns_frame
    return _dask.frame_meta(X) if _dask.is_dask_collection(X) else X


def n_columns(X):
    """The number of features of blocked X, without reading it."""
    return X.n_features if is_files(X) else _dask.n_columns(X)


def predict(X, coef, intercept):
    """``X @ coef.T + intercept`` of blocked X: a Dask array computed block by block
    on the workers for a Dask collection; for files, a NumPy array, read and computed
    a few blocks at a time."""
    if is_files(X):
        return np.concatenate(
            [prediction for _, prediction in _files.iter_predictions(X, coef, intercept)]
        )
    return _dask.predict(X, coef, intercept)


def r2_score(X, y, sample_weight, coef, intercept):
    """scikit-learn's R² of blocked data (``_data.r2_score``)."""
    return _data.r2_score(blocked_data(X, y, sample_weight), coef, intercept)


def partial_fit_blocks(estimator, X, y, sample_weight):
    """``estimator.partial_fit`` on each block of blocked data in order
    (``_data.partial_fit_blocks``)."""
    return _data.partial_fit_blocks(estimator, blocked_data(X, y, sample_weight))
