# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
# (Set FASTGD_CYTHON_DEBUG=1 when building to turn bounds checks back on: setup.py.)
"""Cython kernels: the fused one-pass gradient and the whole-fit loop.

This file mirrors ``_numba_kernels.py`` function for function and loop for loop;
read that file's docstring for the shared conventions (shapes, dtypes, scratch
buffers, accumulation precision). The one difference is how X is read: here X
arrives as a generic 2-D memoryview and the loops index its data pointer with the
leading dimension ``ldx`` (``X[i, j]`` is ``x[i * ldx + j]`` for C order and
``x[i + j * ldx]`` for Fortran order), so that one typed function serves both
layouts and the C compiler sees unit-stride inner loops.
"""

from cython cimport floating

cdef extern from *:
    """
    #ifdef _OPENMP
    #define FASTGD_OPENMP 1
    #else
    #define FASTGD_OPENMP 0
    #endif
    """
    int FASTGD_OPENMP

# Whether this extension was compiled with OpenMP (setup.py probes the compiler).
OPENMP = bool(FASTGD_OPENMP)

from libc.float cimport DBL_MIN

from . import _reference

# Status codes and the divergence rule come from the reference, the one definition.
cdef int MAX_ITER = _reference.MAX_ITER
cdef int CONVERGED = _reference.CONVERGED
cdef int DIVERGED = _reference.DIVERGED
cdef double DIVERGENCE_FACTOR = _reference.DIVERGENCE_FACTOR
cdef double TINY = DBL_MIN  # np.finfo(np.float64).tiny


cdef double _accumulate_block_c(
    const floating* x, Py_ssize_t ldx, const floating[:, :] Y,
    const floating[:, ::1] W, const floating[::1] b,
    Py_ssize_t start, Py_ssize_t stop,
    floating[:, ::1] block_W, floating[::1] block_b,
) noexcept nogil:
    # NumPy: R = X[start:stop] @ W.T + b - Y[start:stop]
    #        block_W += R.T @ X[start:stop]; block_b += R.sum(0); return (R**2).sum()
    # Row by row: the row of X is read from memory once and reused from L1 for the
    # residual and the update of every target.
    cdef Py_ssize_t n_targets = W.shape[0], n_features = W.shape[1]
    cdef Py_ssize_t i, j, k
    cdef const floating* x_row
    cdef floating r
    cdef double sq_sum = 0.0
    for i in range(start, stop):
        x_row = x + i * ldx
        for k in range(n_targets):
            r = b[k] - Y[i, k]
            for j in range(n_features):
                r += x_row[j] * W[k, j]
            sq_sum += r * r
            block_b[k] += r
            for j in range(n_features):
                block_W[k, j] += r * x_row[j]
    return sq_sum


cdef double _accumulate_block_f(
    const floating* x, Py_ssize_t ldx, const floating[:, :] Y,
    const floating[:, ::1] W, const floating[::1] b,
    Py_ssize_t start, Py_ssize_t stop,
    floating[:, ::1] block_W, floating[::1] block_b, floating[:, ::1] resid,
) noexcept nogil:
    # Same result as _accumulate_block_c, bit for bit, for a Fortran-ordered X:
    # columns are contiguous, so sweep the block column by column (the block, B rows
    # by D columns, stays in cache for the second sweep).
    cdef Py_ssize_t n_targets = W.shape[0], n_features = W.shape[1]
    cdef Py_ssize_t n_rows = stop - start
    cdef Py_ssize_t i, j, k
    cdef const floating* x_col
    cdef floating r, w_kj, acc
    cdef double sq_sum = 0.0
    # resid[:, :n_rows] = (X[start:stop] @ W.T + b - Y[start:stop]).T
    for k in range(n_targets):
        for i in range(n_rows):
            resid[k, i] = b[k] - Y[start + i, k]
    for j in range(n_features):
        x_col = x + j * ldx + start
        for k in range(n_targets):
            w_kj = W[k, j]
            for i in range(n_rows):
                resid[k, i] += x_col[i] * w_kj
    for i in range(n_rows):
        for k in range(n_targets):
            r = resid[k, i]
            sq_sum += r * r
            block_b[k] += r
    # block_W += resid[:, :n_rows] @ X[start:stop]
    for j in range(n_features):
        x_col = x + j * ldx + start
        for k in range(n_targets):
            acc = block_W[k, j]
            for i in range(n_rows):
                acc += resid[k, i] * x_col[i]
            block_W[k, j] = acc
    return sq_sum


cdef double _gradient(
    const floating[:, :] X, const floating[:, :] Y,
    const floating[:, ::1] W, const floating[::1] b, bint x_is_f,
    double[:, ::1] grad_W, double[::1] grad_b,
    floating[:, ::1] block_W, floating[::1] block_b, floating[:, ::1] resid,
) noexcept nogil:
    cdef Py_ssize_t n_samples = X.shape[0]
    cdef Py_ssize_t n_targets = W.shape[0], n_features = W.shape[1]
    cdef Py_ssize_t block_rows = resid.shape[1]
    cdef Py_ssize_t n_blocks, block, start, stop, j, k
    cdef const floating* x = &X[0, 0]
    # Leading dimension, in elements. 64-bit (Py_ssize_t) like every index here, so
    # that i * ldx does not overflow when N * D > 2**31.
    cdef Py_ssize_t ldx = (X.strides[1] if x_is_f else X.strides[0]) // sizeof(floating)
    cdef double sq_sum = 0.0
    grad_W[:, :] = 0.0
    grad_b[:] = 0.0
    n_blocks = (n_samples + block_rows - 1) // block_rows
    for block in range(n_blocks):
        start = block * block_rows
        stop = min(start + block_rows, n_samples)
        block_W[:, :] = 0.0
        block_b[:] = 0.0
        if x_is_f:
            sq_sum += _accumulate_block_f(x, ldx, Y, W, b, start, stop, block_W, block_b, resid)
        else:
            sq_sum += _accumulate_block_c(x, ldx, Y, W, b, start, stop, block_W, block_b)
        for k in range(n_targets):
            grad_b[k] += block_b[k]
            for j in range(n_features):
                grad_W[k, j] += block_W[k, j]
    for k in range(n_targets):
        grad_b[k] /= n_samples
        for j in range(n_features):
            grad_W[k, j] /= n_samples
    return sq_sum / (2 * n_samples)


def gradient(
    const floating[:, :] X, const floating[:, :] Y,
    const floating[:, ::1] W, const floating[::1] b, bint x_is_f,
    double[:, ::1] grad_W, double[::1] grad_b,
    floating[:, ::1] block_W, floating[::1] block_b, floating[:, ::1] resid,
):
    """Write G_W = R.T @ X / N into grad_W and mean(R, 0) into grad_b; return the
    loss sum(R**2) / (2N). One pass over X."""
    cdef double loss
    with nogil:
        loss = _gradient(X, Y, W, b, x_is_f, grad_W, grad_b, block_W, block_b, resid)
    return loss


def fit(
    const floating[:, :] X, const floating[:, :] Y,
    floating[:, ::1] W, floating[::1] b, bint x_is_f,
    double lr, double tol, double ref_grad_norm2, bint fit_intercept,
    double[::1] loss_history,
    double[:, ::1] grad_W, double[::1] grad_b,
    floating[:, ::1] block_W, floating[::1] block_b, floating[:, ::1] resid,
):
    """Run len(loss_history) iterations of gradient descent at most, updating W and
    b in place; return (n_iter, status). Stopping rules: _reference.fit."""
    cdef Py_ssize_t n_targets = W.shape[0], n_features = W.shape[1]
    cdef Py_ssize_t max_iter = loss_history.shape[0]
    cdef Py_ssize_t it, j, k
    cdef Py_ssize_t n_iter = max_iter
    cdef int status = MAX_ITER
    cdef double loss, grad_norm2, threshold = 0.0
    with nogil:
        for it in range(max_iter):
            loss = _gradient(X, Y, W, b, x_is_f, grad_W, grad_b, block_W, block_b, resid)
            loss_history[it] = loss
            # "not <=" so that NaN counts as divergence.
            if not loss <= DIVERGENCE_FACTOR * max(loss_history[0], TINY):
                n_iter, status = it + 1, DIVERGED
                break
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
                    W[k, j] = <floating>(W[k, j] - lr * grad_W[k, j])
                if fit_intercept:
                    b[k] = <floating>(b[k] - lr * grad_b[k])
            if tol > 0 and grad_norm2 <= threshold:
                n_iter, status = it + 1, CONVERGED
                break
    return n_iter, status
