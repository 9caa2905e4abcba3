"""Numba kernels: the fused one-pass gradient and the whole-fit loop.

This file and ``_cython_kernels.pyx`` are mirrors: same functions, same loops, same
order of floating-point operations, so a reader of one can read the other line by
line. The math is defined by ``_reference.py``; the tests hold both files to it.

Conventions shared by both backends (the API layer guarantees them, nothing here
checks them):

* ``X`` (N, D) is C- or Fortran-contiguous, possibly read-only; ``x_is_f`` says
  which. ``Y`` (N, K) has any strides. ``W`` (K, D) and ``b`` (K,) are C-contiguous
  and share X's dtype (float32 or float64).
* ``grad_W`` (K, D) and ``grad_b`` (K,) are float64 outputs.
* Scratch: ``block_W`` (K, D) and ``block_b`` (K,) in X's dtype, ``resid`` (K, B) in
  X's dtype. ``B = resid.shape[1]`` is the row-block size.

Accumulation precision (pinned by tests/test_kernels.py::test_float32_accuracy):
rows are processed in blocks of B rows. Within a block, residuals and the block's
partial gradient are computed in X's dtype (float32 stays float32 in the inner
loops); each block's partial sums are then added to float64 totals, and the loss is
summed in float64. The float32 rounding error therefore grows with B, not with N.

Both layouts compute every residual as ``(b[k] - Y[i, k]) + X[i, 0] W[k, 0] + ...``
in that order and accumulate rows in increasing order within a block, so C and F
inputs give bitwise identical results.
"""

import numpy as np
from numba import njit

from ._reference import CONVERGED, DIVERGED, DIVERGENCE_FACTOR, MAX_ITER

_TINY = np.finfo(np.float64).tiny

_kernel = njit(cache=True, nogil=True, boundscheck=False)


@_kernel
def _accumulate_block_c(X, Y, W, b, start, stop, block_W, block_b):
    # NumPy: R = X[start:stop] @ W.T + b - Y[start:stop]
    #        block_W += R.T @ X[start:stop]; block_b += R.sum(0); return (R**2).sum()
    # Row by row: the row of X is read from memory once and reused from L1 for the
    # residual and the update of every target.
    n_targets, n_features = W.shape
    sq_sum = 0.0
    for i in range(start, stop):
        for k in range(n_targets):
            r = b[k] - Y[i, k]
            for j in range(n_features):
                r += X[i, j] * W[k, j]
            sq_sum += r * r
            block_b[k] += r
            for j in range(n_features):
                block_W[k, j] += r * X[i, j]
    return sq_sum


@_kernel
def _accumulate_block_f(X, Y, W, b, start, stop, block_W, block_b, resid):
    # Same result as _accumulate_block_c, bit for bit, for a Fortran-ordered X:
    # columns are contiguous, so sweep the block column by column (the block, B rows
    # by D columns, stays in cache for the second sweep).
    n_targets, n_features = W.shape
    n_rows = stop - start
    # resid[:, :n_rows] = (X[start:stop] @ W.T + b - Y[start:stop]).T
    for k in range(n_targets):
        for i in range(n_rows):
            resid[k, i] = b[k] - Y[start + i, k]
    for j in range(n_features):
        for k in range(n_targets):
            w_kj = W[k, j]
            for i in range(n_rows):
                resid[k, i] += X[start + i, j] * w_kj
    sq_sum = 0.0
    for i in range(n_rows):
        for k in range(n_targets):
            r = resid[k, i]
            sq_sum += r * r
            block_b[k] += r
    # block_W += resid[:, :n_rows] @ X[start:stop]
    for j in range(n_features):
        for k in range(n_targets):
            acc = block_W[k, j]
            for i in range(n_rows):
                acc += resid[k, i] * X[start + i, j]
            block_W[k, j] = acc
    return sq_sum


@_kernel
def gradient(X, Y, W, b, x_is_f, grad_W, grad_b, block_W, block_b, resid):
    """Write G_W = R.T @ X / N into grad_W and mean(R, 0) into grad_b; return the
    loss sum(R**2) / (2N). One pass over X."""
    n_samples = X.shape[0]
    n_targets, n_features = W.shape
    block_rows = resid.shape[1]
    grad_W[:, :] = 0.0
    grad_b[:] = 0.0
    sq_sum = 0.0
    n_blocks = (n_samples + block_rows - 1) // block_rows
    for block in range(n_blocks):
        start = block * block_rows
        stop = min(start + block_rows, n_samples)
        block_W[:, :] = 0.0
        block_b[:] = 0.0
        if x_is_f:
            sq_sum += _accumulate_block_f(X, Y, W, b, start, stop, block_W, block_b, resid)
        else:
            sq_sum += _accumulate_block_c(X, Y, W, b, start, stop, block_W, block_b)
        for k in range(n_targets):
            grad_b[k] += block_b[k]
            for j in range(n_features):
                grad_W[k, j] += block_W[k, j]
    for k in range(n_targets):
        grad_b[k] /= n_samples
        for j in range(n_features):
            grad_W[k, j] /= n_samples
    return sq_sum / (2 * n_samples)


@_kernel
def fit(X, Y, W, b, x_is_f, lr, tol, ref_grad_norm2, fit_intercept, loss_history,
        grad_W, grad_b, block_W, block_b, resid):
    """Run len(loss_history) iterations of gradient descent at most, updating W and
    b in place; return (n_iter, status). Stopping rules: _reference.fit."""
    n_targets, n_features = W.shape
    max_iter = loss_history.shape[0]
    threshold = 0.0
    for it in range(max_iter):
        loss = gradient(X, Y, W, b, x_is_f, grad_W, grad_b, block_W, block_b, resid)
        loss_history[it] = loss
        # "not <=" so that NaN counts as divergence.
        if not loss <= DIVERGENCE_FACTOR * max(loss_history[0], _TINY):
            return it + 1, DIVERGED
        grad_norm2 = 0.0
        for k in range(n_targets):
            for j in range(n_features):
                grad_norm2 += grad_W[k, j] * grad_W[k, j]
            if fit_intercept:
                grad_norm2 += grad_b[k] * grad_b[k]
        if it == 0:
            threshold = tol * tol * max(grad_norm2, ref_grad_norm2)
        # W -= lr * G_W; b -= lr * g_b (in float64, rounded once to W's dtype)
        for k in range(n_targets):
            for j in range(n_features):
                W[k, j] = W[k, j] - lr * grad_W[k, j]
            if fit_intercept:
                b[k] = b[k] - lr * grad_b[k]
        if tol > 0 and grad_norm2 <= threshold:
            return it + 1, CONVERGED
    return max_iter, MAX_ITER
