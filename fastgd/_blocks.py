"""Arithmetic on one block of rows, in NumPy: what the fit pipeline computes on the
caller's arrays, and a Dask worker on each block of blocked data (``_data``).

Every function takes a block's kernel arrays (X, C- or F-ordered; Y (n, K); the
weights or None) and returns small sums, so that a pass over blocks is these
functions on each block, added in block order. Nothing here knows where a block
comes from, and nothing imports more of fastgd than the backends.
"""

import numpy as np

from ._backends import get_backend

# Rows of X converted to float64 at a time: a few MB, whatever N is.
FLOAT64_ROWS = 1 << 14


def total_weight(X, weights):
    """N, or the sum of the weights, as a float."""
    return float(X.shape[0]) if weights is None else float(weights.sum(dtype=np.float64))


def float64_row_blocks(X, weights):
    """``(float64 rows, their weights as a column or None)``, FLOAT64_ROWS at a time."""
    for start in range(0, X.shape[0], FLOAT64_ROWS):
        rows = slice(start, start + FLOAT64_ROWS)
        yield X[rows].astype(np.float64), None if weights is None else weights[rows, None]


def column_extremes(X, weights, columns):
    """``(low, high)``: the smallest and largest value of each of X's ``columns`` over
    the rows of positive weight (inf and -inf where there is none), in float64."""
    rows = slice(None) if weights is None else weights > 0
    low, high = np.full(len(columns), np.inf), np.full(len(columns), -np.inf)
    for i, j in enumerate(columns):
        column = X[rows, j]
        if column.size:
            low[i], high[i] = column.min(), column.max()
    return low, high


def column_sums(X, weights, centred):
    """``(max_i |x_ij|, sum_i s_i x_ij)`` per column (the sums only when ``centred``)."""
    sums, largest = np.zeros(X.shape[1]), np.zeros(X.shape[1])
    for block, block_weights in float64_row_blocks(X, weights):
        largest = np.maximum(largest, np.abs(block).max(axis=0, initial=0.0))
        if centred:
            sums += (block if block_weights is None else block * block_weights).sum(axis=0)
    return largest, sums


def unit_and_mean(largest, sums, total, centred):
    """Each column's unit, the power of two 2**e >= max |x_j|, and its mean."""
    unit = np.ldexp(1.0, np.frexp(np.where(np.isfinite(largest) & (largest > 0), largest, 1.0))[1])
    return unit, (sums / total if centred else np.zeros(len(sums)))


def column_spread(X, weights, mean, unit):
    """``sum_i s_i ((x_ij - mean_j) / unit_j)^2`` per column."""
    spread = np.zeros(X.shape[1])
    for block, block_weights in float64_row_blocks(X, weights):
        values = ((block - mean) / unit) ** 2
        spread += (values if block_weights is None else values * block_weights).sum(axis=0)
    return spread


def column_statistics(X, weights, centred):
    """``(unit, mean, spread, total)`` of X's columns: ``unit_j`` a power of two >=
    max |x_j|, the weighted ``mean_j`` (0 unless ``centred``), ``spread_j = sum_i s_i
    ((x_ij - mean_j) / unit_j)^2`` and the total weight, in two passes over X (the
    standardized coordinates of CG and FISTA).

    The spread is scaled by a power of two (exact to divide by, as LAPACK's dnrm2
    scales): the squares of a feature near 1e-160 would underflow to 0, and one near
    1e160 overflow, each making it a "constant" column held at its start, and that
    fit certified converged."""
    total = total_weight(X, weights)
    largest, sums = column_sums(X, weights, centred)
    unit, mean = unit_and_mean(largest, sums, total, centred)
    return unit, mean, column_spread(X, weights, mean, unit), total


def float64_sums(X, Y, coef, intercept, x_is_f, weights):
    """The unnormalised gradient sums ``((s R).T @ X, (s R).sum(0), (s R * R).sum() /
    2)`` in float64 arithmetic whatever X's dtype: the NumPy reference's sums (in
    float64 for any X), FLOAT64_ROWS at a time."""
    numpy = get_backend("numpy")
    sum_W, sum_b, half_sq = 0.0, 0.0, 0.0
    for start in range(0, X.shape[0], FLOAT64_ROWS):
        rows = slice(start, start + FLOAT64_ROWS)
        block_W, block_b, block_sq = numpy.partial_gradient(
            X[rows],
            Y[rows],
            coef,
            intercept,
            x_is_f,
            None,
            None if weights is None else weights[rows],
        )
        sum_W, sum_b, half_sq = sum_W + block_W, sum_b + block_b, half_sq + block_sq
    return sum_W, sum_b, half_sq


def first_non_finite(X, Y):
    """``(name, row, column, value)`` of the first NaN or inf of X, then of Y, or None."""
    for name, a in (("X", X), ("y", Y)):
        bad = ~np.isfinite(a)
        if bad.any():
            row, column = np.unravel_index(int(np.argmax(bad)), a.shape)
            return name, int(row), int(column), float(a[row, column])
    return None


def non_finite_error(name, value, where):
    """The ValueError for NaN or inf in ``name`` at ``where`` (check_finite's words)."""
    return ValueError(
        f"{name} contains {'NaN' if np.isnan(value) else value} at {where}; "
        f"fastgd needs finite values (remove or impute missing data first)."
    )
