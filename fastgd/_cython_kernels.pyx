# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
# (Set FASTGD_CYTHON_DEBUG=1 when building to turn bounds checks back on: setup.py.)
"""Cython kernels: the fused one-pass gradient and the whole-fit loop.

This file mirrors ``_numba_kernels.py`` function for function and loop for loop;
read that file's docstring for the shared conventions (shapes, dtypes, scratch
buffers, threads, determinism, accumulation precision). Where the Numba kernels take
_layout's bundles, these take a FitRun (the fit loop's typed views) or structs of
pointers (fit_many's ManySlot and ManyOut). The one difference in the loops is how X
is read: here X arrives as a generic 2-D memoryview and the loops index its data
pointer with the leading dimension ``ldx`` (``X[i, j]`` is ``x[i * ldx + j]`` for C
order and ``x[i + j * ldx]`` for Fortran order), so that one typed function serves
both layouts and the C compiler sees unit-stride inner loops.
"""

from cython cimport floating
from cython.parallel cimport prange

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define FASTGD_OPENMP 1
    static int omp_max_threads(void) { return omp_get_max_threads(); }
    #else
    #define FASTGD_OPENMP 0
    static int omp_max_threads(void) { return 1; }
    #endif
    """
    int FASTGD_OPENMP
    int omp_max_threads() nogil

cdef extern from "_prefetch.h" nogil:
    # a read, kept briefly (the arguments of Numba's llvm.prefetch in the mirror)
    void FASTGD_PREFETCH "FASTGD_PREFETCH_LINE"(const void* address)

# Rows of a shuffled epoch are gathered this many rows ahead of their prefetch hint
# (see _prefetch_row); the Numba kernel uses the same distance.
cdef Py_ssize_t PREFETCH_ROWS_AHEAD = 4

# Whether this extension was compiled with OpenMP (setup.py probes the compiler).
OPENMP = bool(FASTGD_OPENMP)


def max_threads():
    """Threads a prange may use here: omp_get_max_threads() (OMP_NUM_THREADS, and
    threadpoolctl's limits on OpenMP), or 1 without OpenMP."""
    return omp_max_threads()

from libc.stddef cimport ptrdiff_t
from libc.float cimport DBL_EPSILON, DBL_MAX, DBL_MIN, FLT_EPSILON
from libc.math cimport INFINITY, NAN, fabs, fma, isnan, pow, sqrt
from libc.stdint cimport int64_t, uint64_t

from . import _layout

# Status codes, the divergence rule, the state's layout and the schedules come from
# _layout, the one definition.
cdef int MAX_ITER = _layout.MAX_ITER
cdef int CONVERGED = _layout.CONVERGED
cdef int DIVERGED = _layout.DIVERGED
cdef int UNCERTIFIED = _layout.UNCERTIFIED
cdef int ROUNDED = _layout.ROUNDED
cdef Py_ssize_t MAX_PASSES = _layout.MAX_PASSES
cdef double DIVERGENCE_FACTOR = _layout.DIVERGENCE_FACTOR
cdef Py_ssize_t HOMOTOPY_STEPS = _layout.HOMOTOPY_STEPS
cdef Py_ssize_t ACTIVE_SET_STEPS = _layout.ACTIVE_SET_STEPS
cdef double TINY = DBL_MIN  # np.finfo(np.float64).tiny
cdef double HUGE = DBL_MAX  # np.finfo(np.float64).max
# Half an ulp of float32, relative (with float64's rounding of the product): what
# rounding a float64 coefficient to float32 adds to its relative error
cdef double HALF_ULP32 = 0.5 * FLT_EPSILON * (1.0 + DBL_EPSILON)
cdef Py_ssize_t T = _layout.T
cdef Py_ssize_t EPOCH = _layout.EPOCH
cdef Py_ssize_t BATCH = _layout.BATCH
cdef Py_ssize_t LR = _layout.LR
cdef Py_ssize_t FIRST_LOSS = _layout.FIRST_LOSS
cdef Py_ssize_t THRESHOLD = _layout.THRESHOLD
cdef Py_ssize_t BEST = _layout.BEST
cdef Py_ssize_t NO_IMPROVE = _layout.NO_IMPROVE
cdef Py_ssize_t EPOCH_LOSS = _layout.EPOCH_LOSS
cdef Py_ssize_t EPOCH_GRAD_NORM2 = _layout.EPOCH_GRAD_NORM2
cdef int INVSCALING = _layout.INVSCALING
cdef int ADAPTIVE = _layout.ADAPTIVE
cdef double ADAPTIVE_DIVISOR = _layout.ADAPTIVE_DIVISOR
cdef double ADAPTIVE_MIN_RATIO = _layout.ADAPTIVE_MIN_RATIO


# _layout.FitOptions as a C struct (Cython builds it from the namedtuple's _asdict()).
cdef struct FitOptions:
    double lr
    int schedule
    double power_t
    double tol
    Py_ssize_t n_iter_no_change
    bint early_stopping
    double ref_grad_norm2
    bint fit_intercept
    double l1
    double l2
    Py_ssize_t n_penalized
    double momentum
    bint nesterov
    Py_ssize_t n_train
    Py_ssize_t batch_size
    bint shuffle


cdef inline floating _dot(const floating* x, const floating* y, Py_ssize_t n) noexcept nogil:
    # NumPy: x @ y, with 8 interleaved partial sums combined in a fixed tree. A single
    # running sum is a chain of dependent additions that cannot use SIMD; 8 independent
    # ones can (GCC vectorizes them), without letting the compiler reassociate.
    cdef floating a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0
    cdef Py_ssize_t j, n8 = n - n % 8
    for j in range(0, n8, 8):
        a0 += x[j] * y[j]
        a1 += x[j + 1] * y[j + 1]
        a2 += x[j + 2] * y[j + 2]
        a3 += x[j + 3] * y[j + 3]
        a4 += x[j + 4] * y[j + 4]
        a5 += x[j + 5] * y[j + 5]
        a6 += x[j + 6] * y[j + 6]
        a7 += x[j + 7] * y[j + 7]
    for j in range(n8, n):
        a0 += x[j] * y[j]
    return ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))


cdef extern from "_lanes.h" nogil:
    # four rows' dot products, each bit for bit _dot's (see the header)
    void fastgd_dot4_d(const double* x0, const double* x1, const double* x2,
                       const double* x3, const double* w, ptrdiff_t n, double* out)
    void fastgd_dot4_f(const float* x0, const float* x1, const float* x2,
                       const float* x3, const float* w, ptrdiff_t n, float* out)


cdef inline void _dot4(const floating* x0, const floating* x1, const floating* x2,
                       const floating* x3, const floating* w, Py_ssize_t n,
                       floating* out) noexcept nogil:
    # NumPy: out[:4] = np.stack([x0, x1, x2, x3]) @ w, in explicit SIMD lanes
    if floating is float:
        fastgd_dot4_f(x0, x1, x2, x3, w, n, out)
    else:
        fastgd_dot4_d(x0, x1, x2, x3, w, n, out)


cdef inline double _accumulate_block_c(
    const floating* x, Py_ssize_t ldx, const floating[:, :] Y,
    const floating[:, ::1] W, const floating[::1] b, const floating[::1] weights,
    Py_ssize_t start, Py_ssize_t stop, Py_ssize_t c,
    floating[:, :, ::1] block_W, floating[:, ::1] block_b,
) noexcept nogil:
    # NumPy: R = X[start:stop] @ W.T + b - Y[start:stop]; S = s * R (s = weights,
    #        or 1 when weights is empty)
    #        block_W[c] += S.T @ X[start:stop]; block_b[c] += S.sum(0)
    #        return (S * R).sum()
    # A tile of 4 rows at a time, then the block's last rows one by one: the tile's
    # rows are read from memory once and reused from L1 for the residuals and the
    # update of every target. Their dot products run in 4 independent chains of
    # vector multiply-adds (_dot4), and their 4 terms are added to block_W in one sweep (a quarter of the
    # loads and stores of block_W), in the order of the rows: the gradient is the
    # row-by-row loop's, bit for bit (the loss too for one target; with several, its
    # sum is taken target by target).
    cdef Py_ssize_t n_targets = W.shape[0], n_features = W.shape[1]
    cdef Py_ssize_t i, j, k, t
    cdef const floating* x_row
    cdef const floating* x1
    cdef const floating* x2
    cdef const floating* x3
    cdef floating* block_W_k
    cdef floating r, r_w
    cdef floating dots[4]
    cdef floating rs[4]
    cdef bint weighted = weights.shape[0] > 0
    cdef double sq_sum = 0.0
    cdef Py_ssize_t tiled_stop = start + (stop - start) - (stop - start) % 4
    for i in range(start, tiled_stop, 4):
        x_row = x + i * ldx
        x1 = x_row + ldx
        x2 = x1 + ldx
        x3 = x2 + ldx
        for k in range(n_targets):
            _dot4(x_row, x1, x2, x3, &W[k, 0], n_features, dots)
            for t in range(4):
                r = (b[k] - Y[i + t, k]) + dots[t]
                r_w = r * weights[i + t] if weighted else r
                sq_sum += <double>r_w * r  # in float64: float32 squares overflow at 1.8e19
                block_b[c, k] += r_w
                rs[t] = r_w
            block_W_k = &block_W[c, k, 0]
            for j in range(n_features):
                block_W_k[j] = (((block_W_k[j] + rs[0] * x_row[j]) + rs[1] * x1[j])
                                + rs[2] * x2[j]) + rs[3] * x3[j]
    for i in range(tiled_stop, stop):
        x_row = x + i * ldx
        for k in range(n_targets):
            r = (b[k] - Y[i, k]) + _dot(x_row, &W[k, 0], n_features)
            r_w = r * weights[i] if weighted else r
            sq_sum += <double>r_w * r  # in float64: float32 squares overflow at 1.8e19
            block_b[c, k] += r_w
            block_W_k = &block_W[c, k, 0]
            for j in range(n_features):
                block_W_k[j] += r_w * x_row[j]
    return sq_sum


cdef inline double _accumulate_block_f(
    const floating* x, Py_ssize_t ldx, const floating[:, :] Y,
    const floating[:, ::1] W, const floating[::1] b, const floating[::1] weights,
    Py_ssize_t start, Py_ssize_t stop, Py_ssize_t c,
    floating[:, :, ::1] block_W, floating[:, ::1] block_b, floating[:, :, ::1] resid,
) noexcept nogil:
    # Same as _accumulate_block_c for a Fortran-ordered X: columns are contiguous, so
    # sweep the block column by column (the block, B rows by D columns, stays in
    # cache for the second sweep).
    cdef Py_ssize_t n_targets = W.shape[0], n_features = W.shape[1]
    cdef Py_ssize_t n_rows = stop - start
    cdef Py_ssize_t i, j, k
    cdef const floating* x_col
    cdef floating* resid_k
    cdef floating r, r_w, w_kj
    cdef bint weighted = weights.shape[0] > 0
    cdef double sq_sum = 0.0
    # resid[c, :, :n_rows] = (X[start:stop] @ W.T + b - Y[start:stop]).T
    for k in range(n_targets):
        for i in range(n_rows):
            resid[c, k, i] = b[k] - Y[start + i, k]
    for j in range(n_features):
        x_col = x + j * ldx + start
        for k in range(n_targets):
            w_kj = W[k, j]
            resid_k = &resid[c, k, 0]
            for i in range(n_rows):
                resid_k[i] += x_col[i] * w_kj
    for k in range(n_targets):
        for i in range(n_rows):
            r = resid[c, k, i]
            r_w = r * weights[start + i] if weighted else r
            sq_sum += <double>r_w * r  # in float64: float32 squares overflow at 1.8e19
            block_b[c, k] += r_w
            resid[c, k, i] = r_w  # the weighted residual, for the sweep below
    # block_W[c] += resid[c, :, :n_rows] @ X[start:stop]
    for j in range(n_features):
        x_col = x + j * ldx + start
        for k in range(n_targets):
            block_W[c, k, j] += _dot(&resid[c, k, 0], x_col, n_rows)
    return sq_sum


cdef double _accumulate_chunk(
    const floating[:, :] X, const floating[:, :] Y,
    const floating[:, ::1] W, const floating[::1] b, const floating[::1] weights,
    bint x_is_f, Py_ssize_t start, Py_ssize_t stop, Py_ssize_t c,
    double[:, :, ::1] chunk_W, double[:, ::1] chunk_b,
    floating[:, :, ::1] block_W, floating[:, ::1] block_b, floating[:, :, ::1] resid,
) noexcept nogil:
    # Rows [start, stop) in blocks of resid.shape[2] rows: each block's sums are made
    # in X's dtype (block_W[c], block_b[c]), then added to the chunk's float64 totals
    # (chunk_W[c], chunk_b[c]). Arrays are indexed with c rather than sliced: a slice
    # per call costs more than a whole iteration of a small problem.
    cdef Py_ssize_t n_targets = W.shape[0], n_features = W.shape[1]
    cdef Py_ssize_t block_rows = resid.shape[2]
    cdef Py_ssize_t n_blocks, block, block_start, block_stop, j, k
    cdef const floating* x = &X[0, 0]
    # Leading dimension, in elements. 64-bit (Py_ssize_t) like every index here, so
    # that i * ldx does not overflow when N * D > 2**31.
    cdef Py_ssize_t ldx = (X.strides[1] if x_is_f else X.strides[0]) // sizeof(floating)
    cdef double sq_sum = 0.0
    for k in range(n_targets):
        chunk_b[c, k] = 0.0
        for j in range(n_features):
            chunk_W[c, k, j] = 0.0
    n_blocks = (stop - start + block_rows - 1) // block_rows
    for block in range(n_blocks):
        block_start = start + block * block_rows
        block_stop = min(block_start + block_rows, stop)
        for k in range(n_targets):
            block_b[c, k] = 0.0
            for j in range(n_features):
                block_W[c, k, j] = 0.0
        if x_is_f:
            sq_sum += _accumulate_block_f(x, ldx, Y, W, b, weights, block_start,
                                          block_stop, c, block_W, block_b, resid)
        else:
            sq_sum += _accumulate_block_c(x, ldx, Y, W, b, weights, block_start,
                                          block_stop, c, block_W, block_b)
        for k in range(n_targets):
            chunk_b[c, k] += block_b[c, k]
            for j in range(n_features):
                chunk_W[c, k, j] += block_W[c, k, j]
    return sq_sum


cdef void _accumulate_chunks_in_parallel(
    const floating[:, :] X, const floating[:, :] Y,
    const floating[:, ::1] W, const floating[::1] b, const floating[::1] weights,
    bint x_is_f, Py_ssize_t chunk_rows, int n_threads, double[:, :, ::1] chunk_W,
    double[:, ::1] chunk_b, double[::1] chunk_sq, floating[:, :, ::1] block_W,
    floating[:, ::1] block_b, floating[:, :, ::1] resid,
) noexcept nogil:
    # The one parallel loop (mirrors the Numba kernel's parallel=True function).
    cdef Py_ssize_t n_samples = X.shape[0]
    cdef Py_ssize_t c, start
    for c in prange(chunk_W.shape[0], num_threads=n_threads, schedule="static"):
        start = c * chunk_rows
        chunk_sq[c] = _accumulate_chunk(
            X, Y, W, b, weights, x_is_f, start, min(start + chunk_rows, n_samples), c,
            chunk_W, chunk_b, block_W, block_b, resid)


cdef void _chunk_sums(
    const floating[:, :] X, const floating[:, :] Y,
    const floating[:, ::1] W, const floating[::1] b, const floating[::1] weights,
    bint x_is_f, Py_ssize_t chunk_rows, int n_threads, double[:, :, ::1] chunk_W,
    double[:, ::1] chunk_b, double[::1] chunk_sq, floating[:, :, ::1] block_W,
    floating[:, ::1] block_b, floating[:, :, ::1] resid,
) noexcept nogil:
    # The gradient's chunk sums; _add_chunks adds them up. Rows are cut into chunks of
    # chunk_rows (a multiple of the block size, fixed by the shape alone); chunk c's
    # sums go to chunk_W[c], chunk_b[c], chunk_sq[c], and the chunks are added in
    # order 0, 1, ... at the end. The result is therefore the same, bit for bit,
    # whether the chunks run on one thread or many.
    if n_threads > 1:
        _accumulate_chunks_in_parallel(X, Y, W, b, weights, x_is_f, chunk_rows, n_threads,
                                       chunk_W, chunk_b, chunk_sq, block_W, block_b, resid)
    else:
        _serial_chunk_sums(X, Y, W, b, weights, x_is_f, chunk_rows, chunk_W, chunk_b,
                           chunk_sq, block_W, block_b, resid)


cdef void _serial_chunk_sums(
    const floating[:, :] X, const floating[:, :] Y,
    const floating[:, ::1] W, const floating[::1] b, const floating[::1] weights,
    bint x_is_f, Py_ssize_t chunk_rows, double[:, :, ::1] chunk_W,
    double[:, ::1] chunk_b, double[::1] chunk_sq, floating[:, :, ::1] block_W,
    floating[:, ::1] block_b, floating[:, :, ::1] resid,
) noexcept nogil:
    # _chunk_sums on one thread, the chunks one after the other, without starting
    # threads.
    cdef Py_ssize_t n_samples = X.shape[0]
    cdef Py_ssize_t c, start
    for c in range(chunk_W.shape[0]):
        start = c * chunk_rows
        chunk_sq[c] = _accumulate_chunk(
            X, Y, W, b, weights, x_is_f, start, min(start + chunk_rows, n_samples), c,
            chunk_W, chunk_b, block_W, block_b, resid)


cdef inline double _add_chunks(
    double total_weight, double[:, ::1] grad_W, double[::1] grad_b,
    const double[:, :, ::1] chunk_W, const double[:, ::1] chunk_b,
    const double[::1] chunk_sq,
) noexcept nogil:
    # NumPy: grad_W = chunk_W.sum(0) / N, summed in chunk order; returns the loss
    cdef Py_ssize_t n_targets = grad_W.shape[0], n_features = grad_W.shape[1]
    cdef Py_ssize_t c, j, k
    cdef double sq_sum = 0.0
    for k in range(n_targets):
        grad_b[k] = 0.0
        for j in range(n_features):
            grad_W[k, j] = 0.0
    for c in range(chunk_W.shape[0]):
        sq_sum += chunk_sq[c]
        for k in range(n_targets):
            grad_b[k] += chunk_b[c, k]
            for j in range(n_features):
                grad_W[k, j] += chunk_W[c, k, j]
    for k in range(n_targets):
        grad_b[k] /= total_weight
        for j in range(n_features):
            grad_W[k, j] /= total_weight
    return sq_sum / (2 * total_weight)


cdef inline double _gradient_into(
    const floating[:, :] X, const floating[:, :] Y, const floating[:, ::1] W,
    const floating[::1] b, const floating[::1] weights, double total_weight, bint x_is_f,
    GradientWorkspace s,
    floating[:, :, ::1] block_W, floating[:, ::1] block_b, floating[:, :, ::1] resid,
) noexcept nogil:
    # The gradient on the scratch of the workspace s, given its arrays in X's dtype.
    _chunk_sums(X, Y, W, b, weights, x_is_f, s.chunk_rows, s.n_threads, s.chunk_W,
                s.chunk_b, s.chunk_sq, block_W, block_b, resid)
    return _add_chunks(total_weight, s.grad_W, s.grad_b, s.chunk_W, s.chunk_b, s.chunk_sq)


def gradient(
    const floating[:, :] X, const floating[:, :] Y,
    const floating[:, ::1] W, const floating[::1] b, const floating[::1] weights,
    double total_weight, bint x_is_f, GradientWorkspace workspace not None,
):
    """Write G_W = (s R).T @ X / sum(s) into workspace.grad_W and (s R).sum(0) /
    sum(s) into workspace.grad_b; return the loss sum(s R**2) / (2 sum(s)). s =
    weights (N,), or 1 when weights is empty or None; total_weight = sum(s) (N
    without weights). One pass over X. ``workspace`` holds the scratch as typed
    memoryviews (``gradient_workspace``, made once per shape), so that a call acquires no
    buffer of it (and none for weights=None)."""
    cdef GradientWorkspace s = workspace
    cdef double loss
    with nogil:
        if floating is float:
            if weights is None:
                weights = s.block_b_float32[0, :0]
            loss = _gradient_into(X, Y, W, b, weights, total_weight, x_is_f, s,
                                  s.block_W_float32, s.block_b_float32, s.resid_float32)
        else:
            if weights is None:
                weights = s.block_b_float64[0, :0]
            loss = _gradient_into(X, Y, W, b, weights, total_weight, x_is_f, s,
                                  s.block_W_float64, s.block_b_float64, s.resid_float64)
    return loss


# Sums of squares inside (SAFE_MIN, SAFE_MAX) lose nothing to underflow or overflow;
# outside, the norm of a reflector is recomputed with a scale (as LAPACK's dnrm2).
cdef double SAFE_MIN = DBL_MIN / DBL_EPSILON
cdef double SAFE_MAX = DBL_EPSILON / DBL_MIN
# fit_many forms its Gram matrix by plain products: a column of X or Y whose largest
# magnitude is outside (2**-500, 2**500) could underflow to a "constant" column, or overflow.
# Such a problem goes to fastgd.fit, whose factor and coordinates are scaled.
cdef double PRODUCT_MIN = 2.0 ** -500
cdef double PRODUCT_MAX = 2.0 ** 500


cdef inline double _reflector_norm(double alpha, const double* v, Py_ssize_t n_rows) noexcept nogil:
    # NumPy: np.hypot(alpha, np.linalg.norm(v[:n_rows])), 0 when v is zero or
    # negligible beside alpha (nothing to annihilate), without overflow or underflow.
    # (A column near 1e-170 has squares that underflow to 0: it is zero only if its
    # largest entry is.)
    cdef double sq = _dot(v, v, n_rows), total, scale, largest = 0.0
    cdef Py_ssize_t i
    total = alpha * alpha + sq
    if SAFE_MIN < total < SAFE_MAX:
        return sqrt(total) if sq > 0.0 else 0.0
    for i in range(n_rows):
        largest = max(largest, fabs(v[i]))
    if largest == 0.0 and sq == 0.0:  # (a NaN, which max may skip, stays in sq)
        return 0.0
    scale = max(fabs(alpha), largest)
    total = (alpha / scale) * (alpha / scale)
    for i in range(n_rows):
        total += (v[i] / scale) * (v[i] / scale)
    return scale * sqrt(total)


cdef void _reflect_rows(double[:, :, ::1] R, double[:, :, ::1] panel, Py_ssize_t c,
                        Py_ssize_t n_rows) noexcept nogil:
    # NumPy: R[c] = np.linalg.qr(np.vstack([R[c], panel[c, :, :n_rows].T]), mode="r"),
    # up to the signs of its rows: Householder reflections annihilate the panel's rows
    # (stored transposed, panel[c, l, i] = row i's entry l, so the loops below run over
    # contiguous memory) into the upper-triangular R[c], column by column. The stacked
    # matrix's column j has nonzeros only in R[c, j, j] and the panel, so reflector j
    # touches row j of R[c] and the panel alone. R[c].T @ R[c] grows by the Gram
    # matrix of the panel's rows, with every column's rounding relative to that
    # column's own norm (Householder QR is column-wise backward stable).
    cdef Py_ssize_t m = R.shape[1]
    cdef Py_ssize_t i, j, l
    cdef double alpha, norm, beta, tau, scale, w
    cdef double* v
    cdef double* column
    for j in range(m):
        alpha = R[c, j, j]
        v = &panel[c, j, 0]
        norm = _reflector_norm(alpha, v, n_rows)
        if norm == 0.0:
            continue
        beta = -norm if alpha >= 0 else norm
        tau = (beta - alpha) / beta
        if fabs(alpha - beta) >= SAFE_MIN:
            scale = 1.0 / (alpha - beta)
            for i in range(n_rows):  # the reflector's vector v = [1; panel[c, j] / (alpha - beta)]
                v[i] *= scale
        else:  # subnormal rounding residues (a merge of factors): 1 / (alpha - beta) overflows
            for i in range(n_rows):
                v[i] /= alpha - beta
        R[c, j, j] = beta
        for l in range(j + 1, m):  # NumPy: [R[c, j, l]; panel[c, l]] -= tau * v * (v @ it)
            column = &panel[c, l, 0]
            w = tau * (R[c, j, l] + _dot(v, column, n_rows))
            R[c, j, l] -= w
            for i in range(n_rows):
                column[i] -= w * v[i]


cdef inline void _gather_augmented_rows(
    const floating* x, Py_ssize_t ldx, bint x_is_f, Py_ssize_t n_features,
    const floating[:, :] Y, const floating[::1] b, const floating[::1] weights,
    bint fit_intercept, Py_ssize_t start, Py_ssize_t n_rows, Py_ssize_t c,
    double[:, :, ::1] panel,
) noexcept nogil:
    # NumPy: panel[c, :, :n_rows] = (sqrt(s) * Z[start:start + n_rows]).T in float64,
    # Z = [X, 1, Y], or [X, Y - b] when the intercept b is held fixed (_reference.augmented_rows)
    cdef Py_ssize_t p = n_features + 1 if fit_intercept else n_features
    cdef Py_ssize_t i, j, k, row
    cdef bint weighted = weights.shape[0] > 0
    cdef double s
    if x_is_f:  # X's part, in the loop order that reads X's memory contiguously
        for j in range(n_features):
            for i in range(n_rows):
                panel[c, j, i] = x[start + i + j * ldx]  # X[start + i, j]
    else:
        for i in range(n_rows):
            for j in range(n_features):
                panel[c, j, i] = x[(start + i) * ldx + j]
    for i in range(n_rows):
        row = start + i
        s = 1.0
        if weighted:
            s = sqrt(<double>weights[row])
            for j in range(n_features):
                panel[c, j, i] *= s
        if fit_intercept:
            panel[c, n_features, i] = s
            for k in range(Y.shape[1]):
                panel[c, p + k, i] = s * Y[row, k]
        else:
            for k in range(Y.shape[1]):
                panel[c, p + k, i] = s * (<double>Y[row, k] - b[k])


cdef void _compress_chunk(
    const floating* x, Py_ssize_t ldx, bint x_is_f, Py_ssize_t n_features,
    const floating[:, :] Y, const floating[::1] b, const floating[::1] weights,
    bint fit_intercept, Py_ssize_t start, Py_ssize_t stop, Py_ssize_t c,
    double[:, :, ::1] R, double[:, :, ::1] panel,
) noexcept nogil:
    # R[c] = the triangular factor of the augmented rows [start, stop), a panel of
    # panel.shape[2] rows at a time.
    cdef Py_ssize_t m = R.shape[1], panel_rows = panel.shape[2]
    cdef Py_ssize_t i, j, piece, n_rows
    for i in range(m):
        for j in range(m):
            R[c, i, j] = 0.0
    piece = start
    while piece < stop:  # NumPy: for piece in range(start, stop, panel_rows)
        n_rows = min(panel_rows, stop - piece)
        _gather_augmented_rows(x, ldx, x_is_f, n_features, Y, b, weights, fit_intercept,
                               piece, n_rows, c, panel)
        _reflect_rows(R, panel, c, n_rows)
        piece += n_rows


cdef void _compress_chunks_in_parallel(
    const floating* x, Py_ssize_t ldx, bint x_is_f, Py_ssize_t n_samples,
    Py_ssize_t n_features, const floating[:, :] Y, const floating[::1] b,
    const floating[::1] weights, bint fit_intercept, Py_ssize_t chunk_rows, int n_threads,
    double[:, :, ::1] R, double[:, :, ::1] panel,
) noexcept nogil:
    cdef Py_ssize_t c, start
    for c in prange(R.shape[0], num_threads=n_threads, schedule="static"):
        start = c * chunk_rows
        _compress_chunk(x, ldx, x_is_f, n_features, Y, b, weights, fit_intercept, start,
                        min(start + chunk_rows, n_samples), c, R, panel)


def compress(
    const floating[:, :] X, const floating[:, :] Y, const floating[::1] b,
    const floating[::1] weights, bint fit_intercept, bint x_is_f, Py_ssize_t chunk_rows,
    int n_threads, double[:, :, ::1] R, double[:, :, ::1] panel,
):
    """Write into R[0] an upper-triangular factor of the augmented data: R[0].T @ R[0]
    = Z.T @ diag(s) @ Z with Z = [X, 1, Y] (or [X, Y - b] when the intercept b is held
    fixed) and s = weights (1 when weights is empty), in one pass over X, in float64.
    Chunks, then their merge in chunk order: see the Numba kernel."""
    cdef Py_ssize_t n_samples = X.shape[0], n_features = X.shape[1]
    cdef Py_ssize_t n_chunks = R.shape[0], m = R.shape[1], panel_rows = panel.shape[2]
    cdef Py_ssize_t c, start, first, n_rows, i, l
    cdef const floating* x = &X[0, 0]
    cdef Py_ssize_t ldx = (X.strides[1] if x_is_f else X.strides[0]) // sizeof(floating)
    with nogil:
        if n_threads > 1:
            _compress_chunks_in_parallel(x, ldx, x_is_f, n_samples, n_features, Y, b, weights,
                                         fit_intercept, chunk_rows, n_threads, R, panel)
        else:
            for c in range(n_chunks):
                start = c * chunk_rows
                _compress_chunk(x, ldx, x_is_f, n_features, Y, b, weights, fit_intercept,
                                start, min(start + chunk_rows, n_samples), c, R, panel)
        # NumPy: R[0] = qr(vstack([R[0], R[1], ...]), mode="r"): each chunk's factor goes
        # through panel 0 as m more rows, a panel at a time
        for c in range(1, n_chunks):
            first = 0
            while first < m:  # NumPy: for first in range(0, m, panel_rows)
                n_rows = min(panel_rows, m - first)
                for i in range(n_rows):
                    for l in range(m):
                        panel[0, l, i] = R[c, first + i, l]
                _reflect_rows(R, panel, 0, n_rows)
                first += n_rows


# ----------------------------------------------------------------------- the Gram
#
# The Gram matrix of the direct solve's fast factor, in tiles: see the Numba kernel,
# which this mirrors (its _gram_tile intrinsic is _gram.h here).

cdef Py_ssize_t GRAM_TILE_COLUMNS = _layout.GRAM_TILE_COLUMNS

cdef extern from "_gram.h" nogil:
    const Py_ssize_t GRAM_TILE_ROWS "FASTGD_GRAM_TILE_ROWS"
    const Py_ssize_t GRAM_TILE_VECTORS "FASTGD_GRAM_TILE_VECTORS"
    void fastgd_gram_tile(const double* P, ptrdiff_t columns, ptrdiff_t n, ptrdiff_t a,
                          ptrdiff_t b, ptrdiff_t n_vectors, double* G, ptrdiff_t g_columns,
                          const char* ahead, ptrdiff_t n_ahead)


cdef inline void _gram_tile(double[:, :, ::1] panel, Py_ssize_t c, Py_ssize_t n_rows,
                            Py_ssize_t a, Py_ssize_t b, Py_ssize_t n_vectors,
                            double[:, :, ::1] G, const char* ahead,
                            Py_ssize_t n_ahead) noexcept nogil:
    # NumPy: G[c, a:a + TA, b:b + TB] += panel[c, :n_rows, a:a + TA].T @
    # panel[c, :n_rows, b:b + TB], each entry summed over the rows in order, each term
    # one fused multiply-add (TA = GRAM_TILE_ROWS, TB = GRAM_TILE_COLUMNS * n_vectors;
    # _gram.h), asking for the n_ahead cache lines from `ahead` on, one a row
    fastgd_gram_tile(&panel[c, 0, 0], panel.shape[2], n_rows, a, b, n_vectors, &G[c, 0, 0],
                     G.shape[2], ahead, n_ahead)


cdef inline void _gather_gram_rows(
    const floating[:, :] X, const floating[:, :] Y, const double[::1] b,
    const floating[::1] weights, bint fit_intercept, Py_ssize_t start, Py_ssize_t n_rows,
    Py_ssize_t c, double[:, :, ::1] panel,
) noexcept nogil:
    # NumPy: panel[c, :n_rows, :m] = sqrt(s) * Z[start:start + n_rows] in float64, row
    # by row, Z = [X, 1, Y] or [X, Y - b] (_reference.augmented_rows); the columns past
    # m stay 0
    cdef Py_ssize_t n_features = X.shape[1], n_targets = Y.shape[1]
    cdef Py_ssize_t p = n_features + 1 if fit_intercept else n_features
    cdef bint weighted = weights.shape[0] > 0
    cdef Py_ssize_t i, j, k, row
    cdef double s
    cdef const floating* x_row
    cdef double* panel_row
    for i in range(n_rows):
        row = start + i
        s = sqrt(<double>weights[row]) if weighted else 1.0
        panel_row = &panel[c, i, 0]
        if X.strides[1] == sizeof(floating):  # (a row of unit stride: GCC vectorizes it)
            x_row = &X[row, 0]
            if weighted:
                for j in range(n_features):
                    panel_row[j] = s * <double>x_row[j]
            else:
                for j in range(n_features):
                    panel_row[j] = <double>x_row[j]
        elif weighted:
            for j in range(n_features):
                panel_row[j] = s * <double>X[row, j]
        else:
            for j in range(n_features):
                panel_row[j] = <double>X[row, j]
        if fit_intercept:
            panel[c, i, n_features] = s
            for k in range(n_targets):
                panel[c, i, p + k] = s * <double>Y[row, k]
        else:
            for k in range(n_targets):
                panel[c, i, p + k] = s * (<double>Y[row, k] - b[k])


cdef inline Py_ssize_t _lines_of_rows(const floating[:, :] X, Py_ssize_t n_rows) noexcept nogil:
    # the cache lines of n_rows rows of a C-contiguous X (one run of bytes), which the
    # tiles ask for; 0 for other layouts: see the Numba kernel's _lines_of_rows
    if X.strides[1] == sizeof(floating) and X.strides[0] == X.shape[1] * sizeof(floating):
        return (n_rows * X.strides[0] + 63) // 64
    return 0


cdef inline (Py_ssize_t, Py_ssize_t) _tile_share(Py_ssize_t tile, Py_ssize_t n_lines,
                                                 Py_ssize_t n_tiles) noexcept nogil:
    # (first, count): the lines tile `tile` of n_tiles asks for: see the Numba kernel's
    # _tile_share
    cdef Py_ssize_t per_tile = (n_lines + n_tiles - 1) // n_tiles
    cdef Py_ssize_t first = min(n_lines, tile * per_tile)
    cdef Py_ssize_t count = min(per_tile, n_lines - first)
    return (first if count > 0 else 0), count


cdef inline Py_ssize_t _gram_tiles_of_panel(Py_ssize_t m_pad) noexcept nogil:
    # how many tiles _gram_panel runs
    cdef Py_ssize_t a = 0, n_tiles = 0, n_vectors
    while a < m_pad:  # NumPy: for a in range(0, m_pad, GRAM_TILE_ROWS)
        n_vectors = (m_pad - (a - a % GRAM_TILE_COLUMNS)) // GRAM_TILE_COLUMNS
        n_tiles += (n_vectors + GRAM_TILE_VECTORS - 1) // GRAM_TILE_VECTORS
        a += GRAM_TILE_ROWS
    return n_tiles


cdef void _gram_panel(
    const floating[:, :] X, Py_ssize_t next_first, Py_ssize_t next_rows, Py_ssize_t c,
    Py_ssize_t n_rows, double[:, :, ::1] G, double[:, :, ::1] panel,
) noexcept nogil:
    # G[c] += the upper triangle (in tiles) of panel[c, :n_rows].T @ panel[c, :n_rows],
    # while X's rows [next_first, next_first + next_rows) are asked for: see the Numba
    # kernel's _gram_panel, which this mirrors
    cdef Py_ssize_t m_pad = G.shape[1], a = 0, column, n_vectors, tile = 0, first_line, n_ahead
    cdef Py_ssize_t n_parts = (m_pad + GRAM_TILE_ROWS - 1) // GRAM_TILE_ROWS
    cdef Py_ssize_t n_lines = _lines_of_rows(X, next_rows)
    cdef Py_ssize_t n_tiles = _gram_tiles_of_panel(m_pad)
    cdef const char* ahead = <const char*>&X[0, 0] + next_first * X.strides[0]
    while a < m_pad:
        if n_lines == 0:
            _prefetch_rows_part(X, next_first, next_rows, a // GRAM_TILE_ROWS, n_parts)
        column = a - a % GRAM_TILE_COLUMNS
        while column < m_pad:
            n_vectors = min(GRAM_TILE_VECTORS, (m_pad - column) // GRAM_TILE_COLUMNS)
            first_line, n_ahead = _tile_share(tile, n_lines, n_tiles)
            _gram_tile(panel, c, n_rows, a, column, n_vectors, G, ahead + 64 * first_line,
                       n_ahead)
            column += n_vectors * GRAM_TILE_COLUMNS
            tile += 1
        a += GRAM_TILE_ROWS


cdef void _gram_chunk(
    const floating[:, :] X, const floating[:, :] Y, const double[::1] b,
    const floating[::1] weights, bint fit_intercept, Py_ssize_t start, Py_ssize_t stop,
    Py_ssize_t c, double[:, :, ::1] G, double[:, :, ::1] panel,
) noexcept nogil:
    # G[c] = the upper triangle (in tiles) of Z.T Z over the rows [start, stop), a panel
    # of panel.shape[1] rows at a time (the next panel's rows asked for while this
    # one's tiles run)
    cdef Py_ssize_t m_pad = G.shape[1], panel_rows = panel.shape[1]
    cdef Py_ssize_t i, j, first, n_rows
    for i in range(m_pad):
        for j in range(m_pad):
            G[c, i, j] = 0.0
    for i in range(panel_rows):
        for j in range(m_pad):
            panel[c, i, j] = 0.0
    first = start
    while first < stop:  # NumPy: for first in range(start, stop, panel_rows)
        n_rows = min(panel_rows, stop - first)
        _gather_gram_rows(X, Y, b, weights, fit_intercept, first, n_rows, c, panel)
        _gram_panel(X, first + n_rows, min(panel_rows, stop - first - n_rows), c, n_rows, G,
                    panel)
        first += n_rows


cdef void _gram_chunks_in_parallel(
    const floating[:, :] X, const floating[:, :] Y, const double[::1] b,
    const floating[::1] weights, bint fit_intercept, Py_ssize_t chunk_rows, int n_threads,
    double[:, :, ::1] G, double[:, :, ::1] panel,
) noexcept nogil:
    cdef Py_ssize_t n_samples = X.shape[0]
    cdef Py_ssize_t c, start
    for c in prange(G.shape[0], num_threads=n_threads, schedule="static"):
        start = c * chunk_rows
        _gram_chunk(X, Y, b, weights, fit_intercept, start, min(start + chunk_rows, n_samples),
                    c, G, panel)


def gram(
    const floating[:, :] X, const floating[:, :] Y, const double[::1] b,
    const floating[::1] weights, bint fit_intercept, bint x_is_f, Py_ssize_t chunk_rows,
    int n_threads, double[:, :, ::1] G, double[:, :, ::1] panel,
):
    """Write into G[0] the upper triangle of Z.T @ diag(s) @ Z: see the Numba kernel."""
    cdef Py_ssize_t n_samples = X.shape[0]
    cdef Py_ssize_t c, start, i, j
    with nogil:
        if n_threads > 1:
            _gram_chunks_in_parallel(X, Y, b, weights, fit_intercept, chunk_rows, n_threads,
                                     G, panel)
        else:
            for c in range(G.shape[0]):
                start = c * chunk_rows
                _gram_chunk(X, Y, b, weights, fit_intercept, start,
                            min(start + chunk_rows, n_samples), c, G, panel)
        for c in range(1, G.shape[0]):  # NumPy: G[0] = G.sum(axis=0), in chunk order
            for i in range(G.shape[1]):
                for j in range(G.shape[2]):
                    G[0, i, j] += G[c, i, j]


# ------------------------------------------------------------- the accurate sums
#
# The gradient sums of _reference.accurate_sums, as if computed in twice the working
# precision (Dot2): see the Numba kernel, which this mirrors (its _dot2_tile and
# _add_products_tile intrinsics are _accurate.h here).

cdef extern from "_accurate.h" nogil:
    const Py_ssize_t ACCURATE_TILE_ROWS "FASTGD_ACCURATE_TILE_ROWS"
    void fastgd_dot2_tile(const double* P, ptrdiff_t columns, const double* w,
                          double* partial_hi, double* partial_lo, const char* ahead,
                          ptrdiff_t n_ahead)
    void fastgd_add_products_tile(const double* P, ptrdiff_t columns, const double* rh,
                                  const double* rl, double* g_hi, double* g_lo)


cdef inline (double, double) _two_sum(double a, double b) noexcept nogil:
    # a + b = s + e exactly (Knuth): _reference.two_sum
    cdef double s = a + b
    cdef double virtual = s - a
    return s, (a - (s - virtual)) + (b - virtual)


cdef inline (double, double) _add_two_product(double hi, double lo, double a,
                                              double b) noexcept nogil:
    # NumPy: the pair (hi, lo) += a * b, both rounding errors into lo: a step of a Dot2
    cdef double p = a * b
    cdef double p_error = fma(a, b, -p)
    cdef double s, s_error
    s, s_error = _two_sum(hi, p)
    return s, lo + (s_error + p_error)


cdef inline (double, double) _add_pair(double hi, double lo, double other_hi,
                                       double other_lo) noexcept nogil:
    # the pair (hi, lo) + (other_hi, other_lo): _reference.add_double
    cdef double s, error
    s, error = _two_sum(hi, other_hi)
    return _two_sum(s, error + (lo + other_lo))


cdef inline void _dot2_tile(double[:, :, ::1] panel, Py_ssize_t c, Py_ssize_t t,
                            const double[:, ::1] W, Py_ssize_t k,
                            double[:, :, ::1] partials, const char* ahead,
                            Py_ssize_t n_ahead) noexcept nogil:
    # NumPy: for r < ACCURATE_TILE_ROWS, the pair (partials[c, 0, r], partials[c, 1, r])
    # = panel[c, t + r] @ W[k] as a Dot2 (8 lanes, added in lane order), asking for
    # the n_ahead cache lines from `ahead` on (_accurate.h)
    fastgd_dot2_tile(&panel[c, t, 0], panel.shape[2], &W[k, 0], &partials[c, 0, 0],
                     &partials[c, 1, 0], ahead, n_ahead)


cdef inline void _add_products_tile(double[:, :, ::1] panel, Py_ssize_t c, Py_ssize_t t,
                                    double[:, :, ::1] residuals, double[:, :, :, ::1] pairs,
                                    Py_ssize_t k) noexcept nogil:
    # NumPy: (pairs[c, 0, k], pairs[c, 1, k]) += panel[c, t:t + TR].T @ (residuals[c, 2,
    # :TR] + residuals[c, 3, :TR]) as pairs, each column's taking the rows in order
    # (TR = ACCURATE_TILE_ROWS; _accurate.h)
    fastgd_add_products_tile(&panel[c, t, 0], panel.shape[2], &residuals[c, 2, 0],
                             &residuals[c, 3, 0], &pairs[c, 0, k, 0], &pairs[c, 1, k, 0])


cdef void _accurate_panel(
    const floating[:, :] X, const floating[:, :] Y, const double[:, ::1] W,
    const double[::1] b, const floating[::1] weights, Py_ssize_t first, Py_ssize_t n,
    Py_ssize_t next_rows, Py_ssize_t c, double[:, :, :, ::1] pairs, double[:, :, ::1] partials,
    double[:, :, ::1] residuals, double[:, :, ::1] panel,
) noexcept nogil:
    # Rows [first, first + n), n <= panel.shape[1]: see the Numba kernel's
    # _accurate_panel, which this mirrors
    cdef Py_ssize_t n_features = X.shape[1]
    cdef bint weighted = weights.shape[0] > 0
    cdef Py_ssize_t k, i, j, t, r, l, h, row, rows, n_tiled
    cdef double hi, lo, error, offset, offset_error, s
    cdef const floating* x_row
    cdef double* panel_row
    cdef Py_ssize_t n_lines = _lines_of_rows(X, next_rows)
    cdef Py_ssize_t n_tiles = (n + ACCURATE_TILE_ROWS - 1) // ACCURATE_TILE_ROWS
    cdef const char* ahead = <const char*>&X[0, 0] + (first + n) * X.strides[0]
    cdef Py_ssize_t first_line, n_ahead
    if X.strides[0] == sizeof(floating):  # (columns of unit stride: a column's rows at a time)
        for j in range(n_features):
            for i in range(n):
                panel[c, i, j] = <double>X[first + i, j]
    elif X.strides[1] == sizeof(floating):  # (rows of unit stride: a loop GCC vectorizes)
        for i in range(n):
            x_row, panel_row = &X[first + i, 0], &panel[c, i, 0]
            for j in range(n_features):
                panel_row[j] = <double>x_row[j]
    else:
        for i in range(n):
            for j in range(n_features):
                panel[c, i, j] = <double>X[first + i, j]
    for i in range(n):
        panel[c, i, n_features] = 1.0
    n_tiled = (n + ACCURATE_TILE_ROWS - 1) // ACCURATE_TILE_ROWS * ACCURATE_TILE_ROWS
    for i in range(n, n_tiled):
        for j in range(n_features + 2):
            panel[c, i, j] = 0.0
    t = 0
    while t < n_tiled:  # NumPy: for t in range(0, n_tiled, ACCURATE_TILE_ROWS)
        rows = min(ACCURATE_TILE_ROWS, n - t)
        for r in range(rows, ACCURATE_TILE_ROWS):
            for h in range(4):
                residuals[c, h, r] = 0.0
        first_line, n_ahead = _tile_share(t // ACCURATE_TILE_ROWS, n_lines, n_tiles)
        for k in range(W.shape[0]):
            _dot2_tile(panel, c, t, W, k, partials, ahead + 64 * first_line,
                       n_ahead if k == 0 else 0)
            for r in range(rows):
                hi, lo = partials[c, 0, r], partials[c, 1, r]
                row = first + t + r
                offset, offset_error = _two_sum(b[k], -<double>Y[row, k])
                hi, error = _two_sum(hi, offset)
                hi, lo = _two_sum(hi, lo + (error + offset_error))
                residuals[c, 0, r] = hi
                residuals[c, 1, r] = lo
                residuals[c, 2, r] = hi
                residuals[c, 3, r] = lo
                if weighted:
                    s = <double>weights[row]
                    residuals[c, 2, r] = hi * s
                    residuals[c, 3, r] = fma(hi, s, -residuals[c, 2, r]) + lo * s
                panel[c, t + r, n_features + 1] = 0.5 * hi
            _add_products_tile(panel, c, t, residuals, pairs, k)
        t += ACCURATE_TILE_ROWS


cdef void _accurate_chunk(
    const floating[:, :] X, const floating[:, :] Y, const double[:, ::1] W,
    const double[::1] b, const floating[::1] weights, Py_ssize_t start, Py_ssize_t stop,
    Py_ssize_t c, double[:, :, :, ::1] sums, double[:, :, :, ::1] pairs,
    double[:, :, ::1] partials, double[:, :, ::1] residuals, double[:, :, ::1] panel,
) noexcept nogil:
    # sums[c] = the pairs of the rows [start, stop): panels of panel.shape[1] rows
    cdef Py_ssize_t h, k, j, i, first, n
    for h in range(2):
        for k in range(pairs.shape[2]):
            for j in range(pairs.shape[3]):
                pairs[c, h, k, j] = 0.0
    for i in range(panel.shape[1]):  # (the columns past D + 2 stay 0)
        for j in range(panel.shape[2]):
            panel[c, i, j] = 0.0
    first = start
    while first < stop:  # NumPy: for first in range(start, stop, panel.shape[1])
        n = min(panel.shape[1], stop - first)
        _accurate_panel(X, Y, W, b, weights, first, n, min(panel.shape[1], stop - first - n),
                        c, pairs, partials, residuals, panel)
        first += panel.shape[1]
    for h in range(2):
        for k in range(pairs.shape[2]):
            for j in range(sums.shape[3]):
                sums[c, h, k, j] = pairs[c, h, k, j]


cdef void _accurate_chunks_in_parallel(
    const floating[:, :] X, const floating[:, :] Y, const double[:, ::1] W,
    const double[::1] b, const floating[::1] weights, Py_ssize_t chunk_rows, int n_threads,
    double[:, :, :, ::1] sums, double[:, :, :, ::1] pairs, double[:, :, ::1] partials,
    double[:, :, ::1] residuals, double[:, :, ::1] panel,
) noexcept nogil:
    cdef Py_ssize_t n_samples = X.shape[0]
    cdef Py_ssize_t c, start
    for c in prange(sums.shape[0], num_threads=n_threads, schedule="static"):
        start = c * chunk_rows
        _accurate_chunk(X, Y, W, b, weights, start, min(start + chunk_rows, n_samples), c,
                        sums, pairs, partials, residuals, panel)


cdef void _add_chunk_pairs(double[:, :, :, ::1] sums) noexcept nogil:
    # NumPy: sums[0] = the pairs of every chunk, added in chunk order (_reference.add_double)
    cdef Py_ssize_t c, k, j
    for c in range(1, sums.shape[0]):
        for k in range(sums.shape[2]):
            for j in range(sums.shape[3]):
                sums[0, 0, k, j], sums[0, 1, k, j] = _add_pair(
                    sums[0, 0, k, j], sums[0, 1, k, j], sums[c, 0, k, j], sums[c, 1, k, j])


def accurate_sums(
    const floating[:, :] X, const floating[:, :] Y, const double[:, ::1] W,
    const double[::1] b, const floating[::1] weights, Py_ssize_t chunk_rows, int n_threads,
    double[:, :, :, ::1] sums, double[:, :, :, ::1] pairs, double[:, :, ::1] partials,
    double[:, :, ::1] residuals, double[:, :, ::1] panel,
):
    """Write into sums[0] the gradient sums as pairs: see the Numba kernel."""
    cdef Py_ssize_t n_samples = X.shape[0]
    cdef Py_ssize_t c, start
    with nogil:
        if n_threads > 1:
            _accurate_chunks_in_parallel(X, Y, W, b, weights, chunk_rows, n_threads, sums,
                                         pairs, partials, residuals, panel)
        else:
            for c in range(sums.shape[0]):
                start = c * chunk_rows
                _accurate_chunk(X, Y, W, b, weights, start,
                                min(start + chunk_rows, n_samples), c, sums, pairs, partials,
                                residuals, panel)
        _add_chunk_pairs(sums)


cdef inline double _penalty(
    const floating[:, ::1] W, double l1, double l2, Py_ssize_t n_penalized,
) noexcept nogil:
    # NumPy: _reference.penalty: l1 * |P|.sum() + l2 / 2 * (P**2).sum(), P = W[:, :p]
    cdef Py_ssize_t j, k
    cdef double w, total = 0.0
    if l1 > 0 or l2 > 0:
        for k in range(W.shape[0]):
            for j in range(n_penalized):
                w = W[k, j]
                total += l1 * fabs(w) + 0.5 * l2 * w * w
    return total


cdef inline (double, double) _prox_l1(double w, double gradient, double lr,
                                      double l1) noexcept nogil:
    # NumPy: _reference.prox_l1 for one coefficient: (w_new, (w - w_new) / lr)
    cdef double z = w - lr * gradient
    cdef double threshold = lr * l1
    if z > threshold:
        return z - threshold, gradient + l1
    if z < -threshold:
        return z + threshold, gradient - l1
    return 0.0, w / lr


cdef inline double _direction(
    double gradient, double[:, ::1] velocity, Py_ssize_t k, Py_ssize_t j,
    double momentum, bint nesterov,
) noexcept nogil:
    # torch.optim.SGD: v = momentum * v + g; d = v, or g + momentum * v (Nesterov)
    cdef double v = momentum * velocity[k, j] + gradient
    velocity[k, j] = v
    return gradient + momentum * v if nesterov else v


cdef inline double _update(
    floating[:, ::1] W, floating[::1] b, const double[:, ::1] grad_W,
    const double[::1] grad_b, double lr, FitOptions o, double[:, ::1] velocity_W,
    double[:, ::1] velocity_b,
) noexcept nogil:
    # NumPy: _steps.update (proximal_step, or momentum_step). Without penalty
    # and momentum this is W -= lr * grad_W; b -= lr * grad_b. In float64, rounded
    # once to W's dtype. Returns the squared norm of the gradient map at the current
    # point over the fitted coefficients (the stopping test). o: the FitOptions.
    cdef Py_ssize_t n_targets = W.shape[0], n_features = W.shape[1]
    cdef Py_ssize_t j, k
    cdef bint penalized
    cdef double w, smooth, step, mapping, direction, grad_norm2 = 0.0
    for k in range(n_targets):
        for j in range(n_features):
            w = W[k, j]
            penalized = j < o.n_penalized
            smooth = grad_W[k, j]
            if penalized:
                smooth += o.l2 * w
            step = w - lr * smooth
            mapping = smooth
            if o.l1 > 0 and penalized:  # soft-thresholding: exact zeros
                step, mapping = _prox_l1(w, smooth, lr, o.l1)
            grad_norm2 += mapping * mapping
            if o.momentum > 0 and o.nesterov:
                # torch's Nesterov step with the gradient map: FISTA, whose optimum is
                # a fixed point (_reference.momentum_step)
                step = w - lr * _direction(mapping, velocity_W, k, j, o.momentum, True)
            elif o.momentum > 0:
                # heavy ball, then the proximal step; v = the step taken / lr (iPiano)
                direction = smooth + o.momentum * velocity_W[k, j]
                step = w - lr * direction
                if o.l1 > 0 and penalized:
                    step, direction = _prox_l1(w, direction, lr, o.l1)
                velocity_W[k, j] = direction
            W[k, j] = <floating>step
        if o.fit_intercept:
            grad_norm2 += grad_b[k] * grad_b[k]
            direction = grad_b[k]
            if o.momentum > 0:
                direction = _direction(grad_b[k], velocity_b, k, 0, o.momentum, o.nesterov)
            b[k] = <floating>(b[k] - lr * direction)
    return grad_norm2


cdef inline void _prefetch_rows_part(
    const floating[:, :] X, Py_ssize_t first, Py_ssize_t n_rows, Py_ssize_t part,
    Py_ssize_t n_parts,
) noexcept nogil:
    # Ask for part `part` (of n_parts) of X's rows [first, first + n_rows): see the
    # Numba kernel's _prefetch_rows_part, which this mirrors
    cdef Py_ssize_t per_line = 64 // sizeof(floating)
    cdef Py_ssize_t lines, q, i, line, j
    if X.strides[1] == sizeof(floating):
        lines = (X.shape[1] + per_line - 1) // per_line  # a row's
        for q in range(n_rows * lines * part // n_parts, n_rows * lines * (part + 1) // n_parts):
            i, line = q // lines, q % lines
            FASTGD_PREFETCH(&X[first + i, line * per_line])
    elif X.strides[0] == sizeof(floating):
        lines = (n_rows + per_line - 1) // per_line  # a column's
        for q in range(X.shape[1] * lines * part // n_parts,
                       X.shape[1] * lines * (part + 1) // n_parts):
            j, line = q // lines, q % lines
            FASTGD_PREFETCH(&X[first + line * per_line, j])


cdef inline void _prefetch_row(
    const floating* x, Py_ssize_t ldx, bint x_is_f, Py_ssize_t n_features,
    const floating[:, :] Y, Py_ssize_t row,
) noexcept nogil:
    # Ask for row `row` of X and Y before it is gathered: the rows of a shuffled epoch
    # are scattered over memory, and waiting for each one's miss would cost more than
    # a small update itself. One hint per cache line of a C-ordered row, one per
    # element of a Fortran-ordered one.
    cdef Py_ssize_t j = 0
    if x_is_f:
        for j in range(n_features):
            FASTGD_PREFETCH(x + row + j * ldx)
    else:
        while j < n_features:  # for j in range(0, n_features, elements per cache line)
            FASTGD_PREFETCH(x + row * ldx + j)
            j += 64 // sizeof(floating)
    FASTGD_PREFETCH(&Y[row, 0])


# The fit loop's arrays, those of _layout's bundles (FitData, Model, OptimizerArrays,
# FitScratch), held as typed memoryviews by one FitRun per call of fit, of X's dtype:
# the Cython form of the bundles the Numba kernel passes, so that the loop's
# functions take the run where the Numba kernel takes its bundles. An attribute
# passed on to a kernel costs no acquisition of its buffer; a local view assigned
# from it would (atomic operations: a fifth of the time of a per-sample update).
cdef class FitRun:
    # What does not depend on X's dtype: the rows' order, layout and total weights,
    cdef int64_t[::1] order
    cdef bint x_is_f
    cdef Py_ssize_t ldx  # X's leading dimension, in elements (see _accumulate_chunk)
    cdef double train_weight, val_weight
    # the OptimizerArrays,
    cdef double[::1] state
    cdef double[:, ::1] velocity_W, velocity_b
    cdef uint64_t[::1] rng_state
    # and the float64 scratch: the gradient's (GradientScratch) and the batch's sums.
    cdef Py_ssize_t chunk_rows
    cdef int n_threads
    cdef double[:, ::1] grad_W
    cdef double[::1] grad_b
    cdef double[:, :, ::1] chunk_W
    cdef double[:, ::1] chunk_b
    cdef double[::1] chunk_sq
    cdef double[:, ::1] sum_W
    cdef double[::1] sum_b


cdef class FitRun64(FitRun):
    # The rows, the model and the scratch in X's dtype. The gathered rows are typed
    # const, and without their contiguity, as the kernels they go to take them (a
    # view converts to another type only by an assignment); the gather writes them
    # through pointers.
    cdef const double[:, :] X, Y
    cdef const double[::1] weights
    cdef double[:, ::1] W
    cdef double[::1] b
    cdef double[:, :, ::1] block_W, resid
    cdef double[:, ::1] block_b
    cdef const double[:, :] batch_X, batch_Y
    cdef const double[::1] batch_w


cdef class FitRun32(FitRun):
    # FitRun64's, in float32
    cdef const float[:, :] X, Y
    cdef const float[::1] weights
    cdef float[:, ::1] W
    cdef float[::1] b
    cdef float[:, :, ::1] block_W, resid
    cdef float[:, ::1] block_b
    cdef const float[:, :] batch_X, batch_Y
    cdef const float[::1] batch_w


ctypedef fused AnyFitRun:
    FitRun32
    FitRun64


cdef _take_run(AnyFitRun run, data, model, optimizer, scratch):
    # The bundles' arrays as the run's typed views (acquired here, once per call).
    # The gathered rows' views are const (see FitRun64) and written through pointers
    # as C-contiguous rows: the buffers must be the backend's own (_backends makes
    # them with np.empty), never a caller's array.
    s, batch = scratch.gradient, scratch.batch
    for buffer in (batch.batch_X, batch.batch_Y, batch.batch_w):
        if not (buffer.flags.writeable and buffer.flags.c_contiguous):
            raise ValueError("the gather buffers must be writable C-contiguous arrays")
    run.X, run.Y, run.weights, run.order = data.X, data.Y, data.weights, data.order
    run.x_is_f = data.x_is_f
    run.ldx = data.X.strides[1 if data.x_is_f else 0] // data.X.itemsize
    run.train_weight, run.val_weight = data.train_weight, data.val_weight
    run.W, run.b = model.W, model.b
    run.state, run.rng_state = optimizer.state, optimizer.rng_state
    run.velocity_W, run.velocity_b = optimizer.velocity_W, optimizer.velocity_b
    run.chunk_rows, run.n_threads = s.chunk_rows, s.n_threads
    run.grad_W, run.grad_b = s.grad_W, s.grad_b
    run.chunk_W, run.chunk_b, run.chunk_sq = s.chunk_W, s.chunk_b, s.chunk_sq
    run.block_W, run.block_b, run.resid = s.block_W, s.block_b, s.resid
    run.sum_W, run.sum_b = batch.sum_W, batch.sum_b
    run.batch_X, run.batch_Y, run.batch_w = batch.batch_X, batch.batch_Y, batch.batch_w


cdef inline bint _gather_piece(
    const floating[:, :] X, const floating[:, :] Y, const floating[::1] weights,
    bint x_is_f, Py_ssize_t ldx, const int64_t[::1] order, Py_ssize_t piece_lo,
    Py_ssize_t n_rows, Py_ssize_t order_end, Py_ssize_t block_rows,
    const floating[:, :] batch_X, const floating[:, :] batch_Y,
    const floating[::1] batch_w,
) noexcept nogil:
    # NumPy: batch_X[:n_rows] = X[order[piece_lo:piece_lo + n_rows]] (and Y, the
    # weights), unless the rows are one block of consecutive rows of X (a single row
    # always is, and so are the batches of an unshuffled epoch), read where they are:
    # returns whether they are. Each row asks for the row PREFETCH_ROWS_AHEAD entries
    # further in order[:order_end] (into the next batch, if need be). The gathered
    # rows are C-contiguous buffers of the backend's, written through pointers.
    cdef Py_ssize_t n_features = X.shape[1], n_targets = Y.shape[1]
    cdef Py_ssize_t i, j, k, row, ahead
    cdef Py_ssize_t first = order[piece_lo]
    cdef bint in_place = n_rows <= block_rows
    cdef bint weighted = weights.shape[0] > 0
    cdef const floating* x = &X[0, 0]
    cdef const floating* x_row
    cdef floating* batch_row
    cdef floating* batch_y = <floating*>&batch_Y[0, 0]
    cdef floating* batch_weight = <floating*>&batch_w[0] if weighted else NULL
    for i in range(1, n_rows if in_place else 0):
        if order[piece_lo + i] != first + i:
            in_place = False
            break
    for i in range(n_rows):
        ahead = piece_lo + i + PREFETCH_ROWS_AHEAD
        if ahead < order_end:
            _prefetch_row(x, ldx, x_is_f, n_features, Y, order[ahead])
        if in_place:
            continue
        row = order[piece_lo + i]
        batch_row = <floating*>&batch_X[i, 0]
        if x_is_f:  # X[row, j] is x[row + j * ldx]
            x_row = x + row
            for j in range(n_features):
                batch_row[j] = x_row[j * ldx]
        else:  # a contiguous copy the compiler vectorizes
            x_row = x + row * ldx
            for j in range(n_features):
                batch_row[j] = x_row[j]
        for k in range(n_targets):
            batch_y[i * n_targets + k] = Y[row, k]  # batch_Y[i, k]
        if weighted:
            batch_weight[i] = weights[row]  # batch_w[i]
    return in_place


cdef inline double _block_sums(AnyFitRun r, Py_ssize_t first, Py_ssize_t n_rows,
                               bint in_place) noexcept nogil:
    # One block (every small mini-batch): its sums without the chunk bookkeeping of
    # the gradient, which would add them to zeroed float64 totals and divide by 1 and
    # 2: the same numbers, bit for bit, at a fraction of the cost of a per-sample
    # update. Adds them to r.sum_W, r.sum_b; returns sum(s R R) / 2.
    cdef Py_ssize_t n_targets = r.W.shape[0], n_features = r.W.shape[1]
    cdef Py_ssize_t j, k
    cdef double sq_sum
    for k in range(n_targets):
        r.block_b[0, k] = 0.0
        for j in range(n_features):
            r.block_W[0, k, j] = 0.0
    if not in_place:
        sq_sum = _accumulate_block_c(&r.batch_X[0, 0], n_features, r.batch_Y, r.W, r.b,
                                     r.batch_w, 0, n_rows, 0, r.block_W, r.block_b)
    elif r.x_is_f:
        sq_sum = _accumulate_block_f(&r.X[0, 0], r.ldx, r.Y, r.W, r.b, r.weights, first,
                                     first + n_rows, 0, r.block_W, r.block_b, r.resid)
    else:
        sq_sum = _accumulate_block_c(&r.X[0, 0], r.ldx, r.Y, r.W, r.b, r.weights, first,
                                     first + n_rows, 0, r.block_W, r.block_b)
    for k in range(n_targets):
        r.sum_b[k] += r.block_b[0, k]
        for j in range(n_features):
            r.sum_W[k, j] += r.block_W[0, k, j]
    return 0.5 * sq_sum


cdef inline double _rows_gradient(AnyFitRun r, Py_ssize_t lo, Py_ssize_t hi,
                                  Py_ssize_t order_end) noexcept nogil:
    # NumPy: _reference.rows_gradient(X, Y, W, b, weights, order[lo:hi]): unnormalised
    # sums (s R).T @ X[rows] into r.sum_W, (s R).sum(0) into r.sum_b; returns
    # sum(s R R) / 2. The rows are gathered, batch_X.shape[0] at a time, into
    # C-ordered buffers that stay in cache, and each piece goes through the fused
    # gradient with a total weight of 1 (dividing by 1 and by 2 is exact: the sums
    # come back unscaled).
    cdef Py_ssize_t n_targets = r.W.shape[0], n_features = r.W.shape[1]
    cdef Py_ssize_t piece_rows = r.batch_X.shape[0]
    cdef Py_ssize_t block_rows = r.resid.shape[2]
    cdef Py_ssize_t piece_lo, n_rows, j, k
    cdef bint in_place
    cdef double half_sq = 0.0
    for k in range(n_targets):
        r.sum_b[k] = 0.0
        for j in range(n_features):
            r.sum_W[k, j] = 0.0
    piece_lo = lo
    while piece_lo < hi:  # NumPy: for piece_lo in range(lo, hi, piece_rows)
        n_rows = min(piece_rows, hi - piece_lo)
        in_place = _gather_piece(r.X, r.Y, r.weights, r.x_is_f, r.ldx, r.order, piece_lo,
                                 n_rows, order_end, block_rows, r.batch_X, r.batch_Y,
                                 r.batch_w)
        if n_rows <= block_rows:
            half_sq += _block_sums(r, r.order[piece_lo], n_rows, in_place)
        else:
            # (The gathered rows are C-ordered; the weights stay empty when unweighted.)
            _chunk_sums(r.batch_X[:n_rows], r.batch_Y[:n_rows], r.W, r.b,
                        r.batch_w[:n_rows], False, r.chunk_rows, r.n_threads, r.chunk_W,
                        r.chunk_b, r.chunk_sq, r.block_W, r.block_b, r.resid)
            half_sq += _add_chunks(1.0, r.grad_W, r.grad_b, r.chunk_W, r.chunk_b,
                                   r.chunk_sq)
            for k in range(n_targets):
                r.sum_b[k] += r.grad_b[k]
                for j in range(n_features):
                    r.sum_W[k, j] += r.grad_W[k, j]
        piece_lo += n_rows
    return half_sq


cdef inline uint64_t _next_random(uint64_t[::1] rng_state) noexcept nogil:
    # _reference.next_random: SplitMix64, in uint64 arithmetic that wraps at 2**64
    cdef uint64_t s = rng_state[0] + 0x9E3779B97F4A7C15ULL
    rng_state[0] = s
    cdef uint64_t z = (s ^ (s >> 30)) * 0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL
    return z ^ (z >> 31)


cdef void _shuffle(int64_t[::1] order, Py_ssize_t n, uint64_t[::1] rng_state) noexcept nogil:
    # _reference.shuffle: Fisher-Yates on order[:n]
    cdef Py_ssize_t i, j
    cdef int64_t swap
    for i in range(n - 1, 0, -1):
        j = <Py_ssize_t>(_next_random(rng_state) % <uint64_t>(i + 1))
        swap = order[i]
        order[i] = order[j]
        order[j] = swap


cdef inline double _step_size(double[::1] state, int schedule, double power_t) noexcept nogil:
    # _layout.step_size
    if schedule == INVSCALING:
        return state[LR] / pow(1.0 + state[T], power_t)
    return state[LR]


cdef bint _end_of_epoch(
    double[::1] state, double score, double lr, int schedule, double tol,
    Py_ssize_t n_iter_no_change, bint plateau_stops,
) noexcept nogil:
    # _layout.end_of_epoch: the plateau test; True if the fit must stop
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


def update(model, const double[:, ::1] grad_W, const double[::1] grad_b, double lr,
           options, optimizer):
    """The step of gradient descent on the model (W, b), in place: the backends'
    ``update`` leaf (_reference.update); returns the squared gradient-map norm.
    The bundles are _layout's Model, FitOptions and OptimizerArrays."""
    cdef FitOptions o = options._asdict()  # (Cython builds the struct from a dict)
    if model.W.dtype.itemsize == 4:
        return _update_model[float](model.W, model.b, grad_W, grad_b, lr, o,
                                    optimizer.velocity_W, optimizer.velocity_b)
    return _update_model[double](model.W, model.b, grad_W, grad_b, lr, o,
                                 optimizer.velocity_W, optimizer.velocity_b)


cdef double _update_model(
    floating[:, ::1] W, floating[::1] b, const double[:, ::1] grad_W,
    const double[::1] grad_b, double lr, FitOptions o, double[:, ::1] velocity_W,
    double[:, ::1] velocity_b,
):
    with nogil:
        return _update(W, b, grad_W, grad_b, lr, o, velocity_W, velocity_b)


def shuffle(int64_t[::1] order, Py_ssize_t n, uint64_t[::1] rng_state):
    """The backends' ``shuffle`` leaf: _reference.shuffle of order[:n], in place."""
    with nogil:
        _shuffle(order, n, rng_state)


def fit(data, model, options, optimizer, scratch, double[:, ::1] history,
        Py_ssize_t max_updates):
    """Run at most max_updates updates and len(history) epochs of (mini-batch)
    gradient descent, updating the model (W, b) and the optimiser in place; return
    (n_epochs, status). The bundles are _layout's (FitData, Model, FitOptions,
    OptimizerArrays, FitScratch); the algorithm, its stopping rules and the
    state: _epochs.fit. The bundles' arrays are taken here, once per call, into a
    FitRun of X's dtype, which the nogil loop takes."""
    cdef FitOptions o = options._asdict()  # (Cython builds the struct from a dict)
    cdef FitRun32 run32
    cdef FitRun64 run64
    if data.X.dtype.itemsize == 4:
        run32 = FitRun32.__new__(FitRun32)
        _take_run(run32, data, model, optimizer, scratch)
        return _fit(run32, o, history, max_updates)
    run64 = FitRun64.__new__(FitRun64)
    _take_run(run64, data, model, optimizer, scratch)
    return _fit(run64, o, history, max_updates)


cdef inline void _batch_gradient(AnyFitRun r, FitOptions o, Py_ssize_t batch) noexcept nogil:
    # NumPy: _epochs._batch_gradient: the batch's gradient (the unbiased estimate
    # with mini-batches) into r.grad_W, r.grad_b; adds the batch's share of the
    # objective to the epoch's loss.
    cdef Py_ssize_t n_samples = r.X.shape[0]
    cdef Py_ssize_t lo, hi, batch_rows, j, k
    cdef double loss, half_sq, scale
    if o.batch_size >= n_samples:  # direct: every row, in order, no gather
        batch_rows = n_samples
        _chunk_sums(r.X, r.Y, r.W, r.b, r.weights, r.x_is_f, r.chunk_rows, r.n_threads,
                    r.chunk_W, r.chunk_b, r.chunk_sq, r.block_W, r.block_b, r.resid)
        loss = _add_chunks(r.train_weight, r.grad_W, r.grad_b, r.chunk_W, r.chunk_b,
                           r.chunk_sq)
    else:
        lo = batch * o.batch_size
        hi = min(lo + o.batch_size, o.n_train)
        batch_rows = hi - lo
        half_sq = _rows_gradient(r, lo, hi, o.n_train)
        # NumPy: grad_W = sum_W / (|B| * mean(s)): the unbiased estimate
        scale = batch_rows * r.train_weight / o.n_train
        for k in range(r.W.shape[0]):
            r.grad_b[k] = r.sum_b[k] / scale
            for j in range(r.W.shape[1]):
                r.grad_W[k, j] = r.sum_W[k, j] / scale
        loss = half_sq / r.train_weight
    r.state[EPOCH_LOSS] += loss + (<double>batch_rows / o.n_train
                                   * _penalty(r.W, o.l1, o.l2, o.n_penalized))


cdef inline bint _loss_diverged(double[::1] state) noexcept nogil:
    # _epochs._loss_diverged. "not <=" so that NaN counts, and the cap so that inf
    # does (even when the first loss itself overflowed): the API names the cause.
    if isnan(state[FIRST_LOSS]):
        state[FIRST_LOSS] = state[EPOCH_LOSS]
    cdef double bar = min(DIVERGENCE_FACTOR * max(state[FIRST_LOSS], TINY), HUGE)
    return not state[EPOCH_LOSS] <= bar


cdef inline (Py_ssize_t, int) _end_epoch(
    AnyFitRun r, FitOptions o, double[:, ::1] history, Py_ssize_t epochs, double step,
    double grad_norm2, Py_ssize_t n_batches,
) noexcept nogil:
    # _epochs._end_epoch: the epoch's history row and its stopping tests
    cdef Py_ssize_t n_samples = r.X.shape[0]
    cdef double validation_loss = NAN, score
    cdef bint exact, plateau_stops
    if o.early_stopping:
        validation_loss = _rows_gradient(r, o.n_train, n_samples, n_samples) / r.val_weight
    history[epochs, 0] = r.state[EPOCH_LOSS]
    history[epochs, 1] = sqrt(r.state[EPOCH_GRAD_NORM2] / n_batches)
    history[epochs, 2] = step
    history[epochs, 3] = validation_loss
    epochs += 1
    r.state[EPOCH] += 1.0  # after its history row: the epoch is complete
    if not r.state[EPOCH_GRAD_NORM2] <= HUGE or (o.early_stopping
                                                 and not validation_loss <= HUGE):
        # An overflowing gradient norm would pass any tol test, and a NaN in the
        # held-out rows would pass as a plateau: stop, the API names the cause.
        return epochs, DIVERGED
    exact = n_batches == 1 and not o.early_stopping
    if exact:
        if r.state[THRESHOLD] < 0:
            r.state[THRESHOLD] = o.tol * o.tol * max(grad_norm2, o.ref_grad_norm2)
        if o.tol > 0 and grad_norm2 <= r.state[THRESHOLD]:
            return epochs, CONVERGED
    score = validation_loss if o.early_stopping else r.state[EPOCH_LOSS]
    # A full batch: only a loss that does not decrease at all is a plateau.
    plateau_stops = o.early_stopping or (n_batches > 1 and o.tol > 0)
    if _end_of_epoch(r.state, score, o.lr, o.schedule, 0.0 if exact else o.tol,
                     o.n_iter_no_change, plateau_stops):
        return epochs, CONVERGED
    return epochs, MAX_ITER


cdef _fit(AnyFitRun r, FitOptions o, double[:, ::1] history, Py_ssize_t max_updates):
    # fit, on the run's typed views
    cdef Py_ssize_t n_batches = (o.n_train + o.batch_size - 1) // o.batch_size
    cdef Py_ssize_t epochs = 0, update, batch, column
    cdef int status = MAX_ITER
    cdef bint last
    cdef double step, grad_norm2
    with nogil:
        for update in range(max_updates):
            if epochs == history.shape[0]:
                break
            batch = <Py_ssize_t>r.state[BATCH]
            if batch == 0:
                if o.shuffle and n_batches > 1:
                    _shuffle(r.order, o.n_train, r.rng_state)
                r.state[EPOCH_LOSS] = 0.0
                r.state[EPOCH_GRAD_NORM2] = 0.0
            _batch_gradient(r, o, batch)
            last = batch == n_batches - 1
            if last and _loss_diverged(r.state):
                history[epochs, 0] = r.state[EPOCH_LOSS]
                for column in range(1, history.shape[1]):
                    history[epochs, column] = NAN
                epochs += 1
                status = DIVERGED
                break
            step = _step_size(r.state, o.schedule, o.power_t)
            grad_norm2 = _update(r.W, r.b, r.grad_W, r.grad_b, step, o, r.velocity_W,
                                 r.velocity_b)
            r.state[T] += 1.0
            r.state[EPOCH_GRAD_NORM2] += grad_norm2
            r.state[BATCH] = batch + 1
            if not last:
                continue
            r.state[BATCH] = 0.0
            epochs, status = _end_epoch(r, o, history, epochs, step, grad_norm2, n_batches)
            if status != MAX_ITER:
                break
    return epochs, status


# ---------------------------------------------------------------------------------
# fit_many: G independent small problems (_layout.ManyData), each fitted as fit's
# default (the direct solve, on the Cholesky factor of its centred, standardized Gram
# matrix), certified and refined on its own rows (see _many.py). Mirrors the fit_many section
# of _numba_kernels.py; here chunk c's slot of the scratch is a struct of pointers
# (ManySlot), row-major as the (C, ...) arrays it points into.
# ---------------------------------------------------------------------------------

cdef struct ManyOptions:
    bint fit_intercept
    double l2
    double tol
    Py_ssize_t max_iter


cdef struct ManyOut:
    # _layout.ManyResult's arrays, as pointers to their first problem's (problem g's W
    # is the K * D doubles from W + g * K * D)
    double* W
    double* b
    double* loss
    int64_t* n_iter
    int64_t* status
    double* bound


cdef struct ManySlot:
    Py_ssize_t n_features, n_targets, n_columns, n_coords, stride, panel_rows
    double* gram       # (M, M), M = n_columns = D + K
    double* mean       # (M,)
    double* inverse    # (D,)
    double* panel      # (M + 1, panel_rows)
    double* centred    # (max(M + 1, 4), panel_rows)
    double* theta      # (K, stride), stride = D + 1: W and b
    double* grad       # (K, stride)
    double* low        # (K, stride)
    double* step       # (K, stride)
    double* work       # (stride,)
    double* extremes   # (2, M): each column's smallest value, then its largest


cdef void _gather_rows(const floating[:, :] X, const floating[:, :] Y,
                       const floating[::1] weights, const int64_t[::1] order, Py_ssize_t lo,
                       Py_ssize_t first, Py_ssize_t n_rows, ManySlot* s) noexcept nogil:
    # NumPy: panel[:, :n_rows] = [Xg, Yg, sg][first:first + n_rows].T in float64: the
    # rows of a panel transposed, so that every sum over them is a contiguous dot.
    cdef Py_ssize_t i, j, k, row
    cdef bint ordered = order.shape[0] > 0
    cdef double* panel = s.panel
    cdef Py_ssize_t n = s.panel_rows
    for j in range(s.n_features):
        for i in range(n_rows):
            row = order[lo + first + i] if ordered else lo + first + i
            panel[j * n + i] = X[row, j]
    for k in range(s.n_targets):
        for i in range(n_rows):
            row = order[lo + first + i] if ordered else lo + first + i
            panel[(s.n_features + k) * n + i] = Y[row, k]
    for i in range(n_rows):
        row = order[lo + first + i] if ordered else lo + first + i
        panel[s.n_columns * n + i] = weights[row] if weights.shape[0] > 0 else 1.0


cdef inline void _centre_rows(ManySlot* s, Py_ssize_t n_rows) noexcept nogil:
    # NumPy: centred[:-1, :n_rows] = sqrt(sg) * (panel[:-1, :n_rows] - mean[:, None]),
    # and the roots of the weights sg in centred's last row
    cdef Py_ssize_t i, j, n = s.panel_rows
    cdef double* root = s.centred + s.n_columns * n
    for i in range(n_rows):
        root[i] = sqrt(s.panel[s.n_columns * n + i])
    for j in range(s.n_columns):
        for i in range(n_rows):
            s.centred[j * n + i] = root[i] * (s.panel[j * n + i] - s.mean[j])


cdef inline void _residuals(ManySlot* s, const double* W, double b, Py_ssize_t k,
                            Py_ssize_t n_rows) noexcept nogil:
    # NumPy: R = Xg @ W[k] + b - Yg[:, k] and sR = sg * R over the panel's rows, each a
    # pair (a Dot2): R in rows 0 and 1 of centred, sR in rows 2 and 3
    cdef Py_ssize_t i, j, n = s.panel_rows
    cdef double w, x, p, p_error, sum_, s_error, hi, lo, weight
    cdef double* r0 = s.centred
    cdef double* r1 = s.centred + n
    cdef double* r2 = s.centred + 2 * n
    cdef double* r3 = s.centred + 3 * n
    for i in range(n_rows):
        sum_, s_error = _two_sum(b, -s.panel[(s.n_features + k) * n + i])
        r0[i] = sum_
        r1[i] = s_error
    for j in range(s.n_features):
        w = W[j]
        for i in range(n_rows):
            r0[i], r1[i] = _add_two_product(r0[i], r1[i], s.panel[j * n + i], w)
    for i in range(n_rows):
        hi, lo = _two_sum(r0[i], r1[i])
        weight = s.panel[s.n_columns * n + i]
        r0[i], r1[i] = hi, lo
        r2[i] = weight * hi
        r3[i] = fma(weight, hi, -r2[i]) + weight * lo


cdef inline double _add_weighted_sums(ManySlot* s, Py_ssize_t n_rows) noexcept nogil:
    # NumPy: mean += panel[:-1, :n_rows] @ panel[-1, :n_rows]; returns the weights' sum
    cdef Py_ssize_t j, n = s.panel_rows
    cdef double* weights = s.panel + s.n_columns * n
    cdef double total = 0.0
    cdef Py_ssize_t i
    for j in range(s.n_columns):
        s.mean[j] += _dot(s.panel + j * n, weights, n_rows)
    for i in range(n_rows):
        total += weights[i]
    return total


cdef inline void _add_extremes(ManySlot* s, Py_ssize_t n_rows) noexcept nogil:
    # NumPy: extremes[0] = np.minimum(extremes[0], panel[:-1, :n_rows].min(axis=1)), and
    # extremes[1] likewise with the maximum
    cdef Py_ssize_t i, j, n = s.panel_rows, m = s.n_columns
    cdef double low, high
    for j in range(m):
        low = s.extremes[j]
        high = s.extremes[m + j]
        for i in range(n_rows):
            low = min(low, s.panel[j * n + i])
            high = max(high, s.panel[j * n + i])
        s.extremes[j] = low
        s.extremes[m + j] = high


cdef inline void _add_gram(ManySlot* s, Py_ssize_t n_rows) noexcept nogil:
    # NumPy: gram += centred[:-1, :n_rows] @ centred[:-1, :n_rows].T, upper triangle
    cdef Py_ssize_t j, l, n = s.panel_rows
    for j in range(s.n_columns):
        for l in range(j, s.n_columns):
            s.gram[j * s.n_columns + l] += _dot(s.centred + j * n, s.centred + l * n, n_rows)


cdef inline double _add_residual_sums(ManySlot* s, Py_ssize_t k, Py_ssize_t n_rows) noexcept nogil:
    # Numba's _add_residual_sums: the pairs (grad[k], low[k]) += [panel[:D], 1] @ sR,
    # each rounding error kept; returns R @ sR (the pairs R and sR in rows 0 to 3 of
    # centred)
    cdef Py_ssize_t i, j, n = s.panel_rows
    cdef double* r0 = s.centred
    cdef double* r2 = s.centred + 2 * n
    cdef double* r3 = s.centred + 3 * n
    cdef double* grad = s.grad + k * s.stride
    cdef double* low = s.low + k * s.stride
    cdef double b_hi, b_lo, a, p, p_error, sum_, s_error, sq = 0.0
    for i in range(n_rows):
        b_hi = r2[i]
        b_lo = r3[i]
        for j in range(s.n_features + 1):
            a = s.panel[j * n + i] if j < s.n_features else 1.0
            p = a * b_hi
            p_error = fma(a, b_hi, -p) + a * b_lo
            sum_, s_error = _two_sum(grad[j], p)
            grad[j] = sum_
            low[j] += s_error + p_error
    for i in range(n_rows):
        sq += r0[i] * r2[i]
    return sq


cdef double _problem_means(const floating[:, :] X, const floating[:, :] Y,
                           const floating[::1] weights, const int64_t[::1] order,
                           Py_ssize_t lo, Py_ssize_t hi, bint fit_intercept,
                           ManySlot* s) noexcept nogil:
    # NumPy: total = sg.sum(); mean = sg @ [Xg, Yg] / total (zeros without an
    # intercept), and the extremes of each column, [Xg, Yg].min(axis=0) and .max(axis=0).
    # Returns total.
    cdef Py_ssize_t j, first, n_rows
    cdef double total = 0.0
    for j in range(s.n_columns):
        s.mean[j] = 0.0
        s.extremes[j] = INFINITY
        s.extremes[s.n_columns + j] = -INFINITY
    first = 0
    while first < hi - lo:  # for first in range(0, hi - lo, panel_rows)
        n_rows = min(s.panel_rows, hi - lo - first)
        _gather_rows(X, Y, weights, order, lo, first, n_rows, s)
        total += _add_weighted_sums(s, n_rows)
        _add_extremes(s, n_rows)
        first += s.panel_rows
    for j in range(s.n_columns):
        s.mean[j] = s.mean[j] / total if fit_intercept else 0.0
    return total


cdef void _centred_gram(const floating[:, :] X, const floating[:, :] Y,
                        const floating[::1] weights, const int64_t[::1] order, Py_ssize_t lo,
                        Py_ssize_t hi, double total, ManySlot* s) noexcept nogil:
    # NumPy, with Zc = sqrt(sg) * ([Xg, Yg] - mean): gram = Zc.T @ Zc / total (no gather
    # when the problem is one panel)
    cdef Py_ssize_t j, l, first, n_rows, m = s.n_columns
    for j in range(m * m):
        s.gram[j] = 0.0
    first = 0
    while first < hi - lo:  # for first in range(0, hi - lo, panel_rows)
        n_rows = min(s.panel_rows, hi - lo - first)
        if hi - lo > s.panel_rows:
            _gather_rows(X, Y, weights, order, lo, first, n_rows, s)
        _centre_rows(s, n_rows)
        _add_gram(s, n_rows)
        first += s.panel_rows
    for j in range(m):
        for l in range(j, m):
            s.gram[j * m + l] /= total
            s.gram[l * m + j] = s.gram[j * m + l]


cdef inline bint _standardize(ManySlot* s, double l2, Py_ssize_t n_rows) noexcept nogil:
    # StandardizedCoordinates: inverse = 1 / std of each feature (0 for a constant
    # one, whose values are all equal: _accelerated.constant_columns); the Hessian in
    # u, inverse * gram * inverse + l2 diag(inverse**2), and the cross products
    # inverse * gram[:D, D:], both in place. Returns False (fastgd.fit is to fit the
    # problem) if a column's largest magnitude is outside the range of plain products,
    # or a feature's variance is within the rounding of its mean although its values
    # differ.
    cdef Py_ssize_t j, l, k, m = s.n_columns
    cdef double variance, bound, largest
    cdef bint constant, suspect
    cdef bint scalable = True
    for j in range(m):
        largest = max(fabs(s.extremes[j]), fabs(s.extremes[m + j]))
        scalable &= largest == 0.0 or PRODUCT_MIN < largest < PRODUCT_MAX
    for j in range(s.n_features):
        variance = s.gram[j * m + j]
        bound = n_rows * DBL_EPSILON * s.mean[j]
        suspect = variance <= n_rows * DBL_EPSILON * variance + bound * bound
        constant = suspect and s.extremes[j] == s.extremes[m + j]
        scalable &= constant or not suspect
        s.inverse[j] = 0.0 if constant else 1.0 / sqrt(variance)
    for j in range(s.n_features):
        for l in range(s.n_features):
            s.gram[j * m + l] *= s.inverse[j] * s.inverse[l]
        s.gram[j * m + j] += l2 * s.inverse[j] * s.inverse[j]
        for k in range(s.n_targets):
            s.gram[j * m + s.n_features + k] *= s.inverse[j]
    return scalable


cdef inline bint _cholesky(ManySlot* s) noexcept nogil:
    # NumPy: L = np.linalg.cholesky(H) in place in gram[:D, :D] (its lower triangle; H
    # the standardized Gram matrix with its L2 term, _standardize), with an identity
    # row for a constant feature (inverse 0: its row and column of H are 0), whose
    # coordinate then stays 0. Returns False at a pivot that is not positive: the
    # features are dependent to the normal equations' precision (_many.py refits).
    cdef Py_ssize_t j, l, t, m = s.n_columns
    cdef double acc
    for j in range(s.n_features):
        if s.inverse[j] == 0.0:
            for t in range(j):
                s.gram[j * m + t] = 0.0
            s.gram[j * m + j] = 1.0
            continue
        for l in range(j + 1):
            acc = s.gram[j * m + l]
            for t in range(l):
                acc -= s.gram[j * m + t] * s.gram[l * m + t]
            if l < j:
                s.gram[j * m + l] = acc / s.gram[l * m + l]
            elif acc > 0.0:
                s.gram[j * m + j] = sqrt(acc)
            else:  # (NaN too)
                return False
    return True


cdef inline void _solve(ManySlot* s) noexcept nogil:
    # NumPy: work[:D] = H^-1 work[:D], by the factor in gram (L z = x, L.T x = z)
    cdef Py_ssize_t j, t, m = s.n_columns
    cdef double acc
    for j in range(s.n_features):
        acc = s.work[j]
        for t in range(j):
            acc -= s.gram[j * m + t] * s.work[t]
        s.work[j] = acc / s.gram[j * m + j]
    for j in range(s.n_features - 1, -1, -1):
        acc = s.work[j]
        for t in range(j + 1, s.n_features):
            acc -= s.gram[t * m + j] * s.work[t]
        s.work[j] = acc / s.gram[j * m + j]


cdef inline (double, double) _factor_norms(ManySlot* s) noexcept nogil:
    # (trace(H^-1), trace(H)) from the factor: ||L^-1||_F^2, a column of L^-1 at a time
    # (L z = e_j, in work), and ||L||_F^2
    cdef Py_ssize_t j, l, t, m = s.n_columns
    cdef double acc, inverse_trace = 0.0, trace = 0.0
    for j in range(s.n_features):
        for l in range(j, s.n_features):
            acc = 1.0 if l == j else 0.0
            for t in range(j, l):
                acc -= s.gram[l * m + t] * s.work[t]
            s.work[l] = acc / s.gram[l * m + l]
            inverse_trace += s.work[l] * s.work[l]
        for t in range(j + 1):
            trace += s.gram[j * m + t] * s.gram[j * m + t]
    return inverse_trace, trace


cdef inline void _solution(ManySlot* s, bint fit_intercept) noexcept nogil:
    # Numba's _solution: u = H^-1 cross[:, k], u_b = the mean of y, into theta = T u
    cdef Py_ssize_t j, k, D = s.n_features
    cdef double b, w
    for k in range(s.n_targets):
        for j in range(D):
            s.work[j] = s.gram[j * s.n_columns + D + k]
        _solve(s)
        b = s.mean[D + k] if fit_intercept else 0.0
        for j in range(D):
            w = s.inverse[j] * s.work[j]
            s.theta[k * s.stride + j] = w
            b -= s.mean[j] * w if fit_intercept else 0.0
        s.theta[k * s.stride + D] = b


cdef inline void _newton_step(ManySlot* s) noexcept nogil:
    # Numba's _newton_step: step = H^-1 g_u, and g_b on the intercept's coordinate
    cdef Py_ssize_t j, k, D = s.n_features
    for k in range(s.n_targets):
        for j in range(D):
            s.work[j] = s.grad[k * s.stride + j]
        _solve(s)
        for j in range(D):
            s.step[k * s.stride + j] = s.work[j]
        s.step[k * s.stride + D] = s.grad[k * s.stride + D]


cdef inline void _refine(ManySlot* s, bint fit_intercept) noexcept nogil:
    # Numba's _refine: theta less the Newton step, in theta's coordinates
    cdef Py_ssize_t j, k, D = s.n_features
    cdef double b_step, w_step
    for k in range(s.n_targets):
        b_step = s.step[k * s.stride + D] if fit_intercept else 0.0
        for j in range(D):
            w_step = s.inverse[j] * s.step[k * s.stride + j]
            s.theta[k * s.stride + j] -= w_step
            b_step -= s.mean[j] * w_step if fit_intercept else 0.0
        s.theta[k * s.stride + D] -= b_step


cdef inline void _coefficients(ManySlot* s, double* W, double* b, bint single) noexcept nogil:
    # Numba's _coefficients: theta into (W, b), rounded to float32 when X is (single)
    cdef Py_ssize_t j, k, D = s.n_features
    cdef double w, intercept
    for k in range(s.n_targets):
        for j in range(D):
            w = s.theta[k * s.stride + j]
            W[k * D + j] = <double><float>w if single else w
        intercept = s.theta[k * s.stride + D]
        b[k] = <double><float>intercept if single else intercept


cdef double _residual_sums(const floating[:, :] X, const floating[:, :] Y,
                           const floating[::1] weights, const int64_t[::1] order,
                           Py_ssize_t lo, Py_ssize_t hi, ManySlot* s, const double* W,
                           const double* b) noexcept nogil:
    # The gradient's sums on the problem's own rows at (W, b), as if in twice the
    # working precision, then rounded (see the Numba kernel), a panel at a time.
    # Returns sg @ r**2.
    cdef Py_ssize_t j, k, first, n_rows
    cdef double sq = 0.0
    for k in range(s.n_targets):
        for j in range(s.n_features + 1):
            s.grad[k * s.stride + j] = 0.0
            s.low[k * s.stride + j] = 0.0
    first = 0
    while first < hi - lo:  # for first in range(0, hi - lo, panel_rows)
        n_rows = min(s.panel_rows, hi - lo - first)
        if hi - lo > s.panel_rows:
            _gather_rows(X, Y, weights, order, lo, first, n_rows, s)
        for k in range(s.n_targets):
            _residuals(s, W + k * s.n_features, b[k], k, n_rows)
            sq += _add_residual_sums(s, k, n_rows)
        first += s.panel_rows
    for k in range(s.n_targets):
        for j in range(s.n_features + 1):
            s.grad[k * s.stride + j] += s.low[k * s.stride + j]
    return sq


cdef (double, double) _certificate(
        const floating[:, :] X, const floating[:, :] Y, const floating[::1] weights,
        const int64_t[::1] order, Py_ssize_t lo, Py_ssize_t hi, ManyOptions o, double total,
        ManySlot* s, double* W, double* b) noexcept nogil:
    # At (W, b): the gradient on the problem's own rows, in u (T.T g: g_u = inverse *
    # (G_W + l2 w - g_b mean), and g_b), into grad; returns (sg @ r**2, the squared norm
    # of W).
    cdef Py_ssize_t j, k, D = s.n_features
    cdef double penalty = 0.0, g_b, w, sums
    cdef double* grad
    sums = _residual_sums(X, Y, weights, order, lo, hi, s, W, b)
    for k in range(s.n_targets):
        grad = s.grad + k * s.stride
        g_b = grad[D] / total if o.fit_intercept else 0.0
        for j in range(D):
            w = W[k * D + j]
            penalty += w * w
            grad[j] = (grad[j] / total + o.l2 * w - g_b * s.mean[j]) * s.inverse[j]
        grad[D] = g_b
    return sums, penalty


cdef inline double _gamma(double n) noexcept nogil:
    # Higham's gamma_n: the worst-case relative rounding of n sequential operations
    return n * DBL_EPSILON / (1.0 - n * DBL_EPSILON)


cdef inline double _scaled_norm(const double* values, Py_ssize_t n) noexcept nogil:
    # Numba's _scaled_norm: the norm of values[:n], in units of its largest entry
    cdef Py_ssize_t j
    cdef double largest = 0.0, total = 0.0
    for j in range(n):
        largest = max(largest, fabs(values[j]))
    if not largest > 0.0:  # (0, or NaN)
        return largest
    for j in range(n):
        total += (values[j] / largest) ** 2
    return largest * sqrt(total)


cdef inline double _single_rounding(ManySlot* s) noexcept nogil:
    # Numba's _single_rounding: the largest relative rounding of theta to float32
    cdef Py_ssize_t j, k
    cdef double value, worst = 0.0
    for k in range(s.n_targets):
        for j in range(s.n_features + 1):
            value = s.theta[k * s.stride + j]
            if value != 0.0:
                worst = max(worst, fabs(<double><float>value - value) / fabs(value))
    return worst


cdef inline double _relative(double value, double e, double scale) noexcept nogil:
    # Numba's _relative: e / (|value| - e), or against the others' scale
    if e == 0.0:
        return 0.0
    if value > e:
        return e / (value - e)
    return e / scale if scale > 0 else INFINITY


cdef double _target_bound(ManyOptions o, ManySlot* s, const double* W, const double* b,
                          Py_ssize_t k, double error, bint step) noexcept nogil:
    # Numba's _target_bound: target k's largest relative error, now or (step) next
    cdef Py_ssize_t j, D = s.n_features
    cdef double shift2 = 0.0, scale = 0.0, own = 2.0 * DBL_EPSILON if step else 0.0
    cdef double intercept = b[k], t, u, worst = 0.0
    for j in range(D):
        if s.inverse[j] > 0:
            t = fabs(s.mean[j]) * s.inverse[j]
            shift2 += t * t
            u = W[k * D + j] / s.inverse[j] - (s.step[k * s.stride + j] if step else 0.0)
            scale = max(scale, fabs(u))
            if step and o.fit_intercept:
                intercept += s.mean[j] * s.inverse[j] * s.step[k * s.stride + j]
    if step and o.fit_intercept:
        intercept -= s.step[k * s.stride + D]
    if scale == 0.0:
        scale = fabs(intercept)
    if o.fit_intercept:
        worst = _relative(fabs(intercept), error * (1.0 + sqrt(shift2)) + own * fabs(intercept),
                          scale)
    for j in range(D):
        if s.inverse[j] > 0:
            u = fabs(W[k * D + j] / s.inverse[j] - (s.step[k * s.stride + j] if step else 0.0))
            worst = max(worst, _relative(u, error + own * u, scale))
    return worst


cdef (double, double) _coefficient_bound(
        ManyOptions o, double total, ManySlot* s, const double* W, const double* b,
        Py_ssize_t n_rows, double loss, double inverse_trace, double trace) noexcept nogil:
    # (now, next): the largest relative error of a coefficient at (W, b), and at the
    # next point, less the Newton step: see the Numba kernel, which this mirrors.
    cdef Py_ssize_t j, k, D = s.n_features, m = s.n_columns
    cdef double root = sqrt(total)
    cdef double v2 = 0.0, reach2 = 0.0, t, rho, residual_norm
    cdef double a, g_norm, own_norm, own, step_norm, rms_j, sums, rounding, error, following
    cdef double worst_now = 0.0, worst_next = 0.0
    cdef double* grad
    for j in range(D):
        if s.inverse[j] > 0:
            t = fabs(s.mean[j]) * s.inverse[j]
            v2 += 1.0 + t * t
            reach2 += (sqrt(1.0 + t * t) + t) ** 2
    rho = inverse_trace * (_gamma(n_rows + 4) * D + _gamma(n_rows) ** 2 * v2
                           + _gamma(D + 1) * trace)
    if not rho < 0.5:
        return INFINITY, INFINITY
    residual_norm = sqrt(max(loss, 0.0))
    for k in range(s.n_targets):
        grad = s.grad + k * s.stride
        a = root * (fabs(b[k]) + sqrt(s.gram[(D + k) * m + D + k] + s.mean[D + k] ** 2))
        for j in range(D):
            if s.inverse[j] > 0:
                rms_j = sqrt(1.0 / (s.inverse[j] * s.inverse[j]) + s.mean[j] ** 2)
            else:
                rms_j = fabs(s.mean[j])
            a += root * fabs(W[k * D + j]) * rms_j
        g_norm = _scaled_norm(grad, s.n_coords)
        step_norm = _scaled_norm(s.step + k * s.stride, s.n_coords)
        for j in range(s.n_coords):
            own = fabs(grad[j])
            if j < D:
                own += 2 * s.inverse[j] * (fabs(o.l2 * W[k * D + j]) + fabs(grad[D] * s.mean[j]))
            s.work[j] = own
        own_norm = _scaled_norm(s.work, s.n_coords)
        sums = (_gamma(D + 2) ** 2 * a + _gamma(n_rows + 2) ** 2 * residual_norm) / root
        rounding = (sums * sqrt(reach2 + (1.0 if o.fit_intercept else 0.0))
                    + 4 * DBL_EPSILON * own_norm)
        error = max(inverse_trace, 1.0) * (g_norm + rounding) / (1.0 - rho)
        following = (rho * error + max(inverse_trace, 1.0) * rounding / (1.0 - rho)
                     + 4 * DBL_EPSILON * step_norm)
        worst_now = max(worst_now, _target_bound(o, s, W, b, k, error, False))
        worst_next = max(worst_next, _target_bound(o, s, W, b, k, following, True))
    return worst_now, worst_next


cdef (double, double) _certify(
        const floating[:, :] X, const floating[:, :] Y, const floating[::1] weights,
        const int64_t[::1] order, Py_ssize_t lo, Py_ssize_t hi, ManyOptions o, double total,
        ManySlot* s, double* W, double* b, double* loss, bint single,
        (double, double) norms) noexcept nogil:
    # theta into (W, b), its gradient on the rows (into grad) and the Newton step from
    # it (into step), the objective there into loss; returns the coefficient bounds
    # (now, next) (norms: the factor's, _factor_norms)
    cdef double sums, penalty
    _coefficients(s, W, b, single)
    sums, penalty = _certificate(X, Y, weights, order, lo, hi, o, total, s, W, b)
    loss[0] = sums / (2.0 * total)
    if o.l2 > 0:  # (0 * inf is NaN: coefficients beyond 1e154 are no penalty without one)
        loss[0] += 0.5 * o.l2 * penalty
    if not loss[0] <= HUGE:
        return INFINITY, INFINITY
    _newton_step(s)
    return _coefficient_bound(o, total, s, W, b, hi - lo, sums, norms[0], norms[1])


cdef (int, Py_ssize_t) _direct_solve(
        const floating[:, :] X, const floating[:, :] Y, const floating[::1] weights,
        const int64_t[::1] order, Py_ssize_t lo, Py_ssize_t hi, ManyOptions o, double total,
        ManySlot* s, double* W, double* b, double* loss, double* bound_out) noexcept nogil:
    # _direct.DirectSolve on the normal equations of the problem: see the Numba kernel.
    cdef bint single = sizeof(floating) == 4
    cdef bint stepped
    cdef double bound, following, previous = INFINITY
    cdef Py_ssize_t done = 0, passes = min(max(o.max_iter, 1), MAX_PASSES)
    cdef int status = UNCERTIFIED
    cdef (double, double) norms = _factor_norms(s)
    _solution(s, o.fit_intercept)
    while done < passes:
        done += 1
        bound, following = _certify(X, Y, weights, order, lo, hi, o, total, s, W, b, loss,
                                    False, norms)
        if not loss[0] <= HUGE:
            bound_out[0] = bound
            return DIVERGED, done
        stepped = following < bound
        if stepped:  # the next point, certified before its pass
            _refine(s, o.fit_intercept)
            _coefficients(s, W, b, False)
            bound = following
        if single:  # float32 coefficients: their own rounding (at least half an ulp)
            bound_out[0] = bound + max(HALF_ULP32, _single_rounding(s)) * (1.0 + bound)
        else:
            bound_out[0] = bound
        if o.tol > 0 and bound_out[0] <= o.tol:
            status = CONVERGED
            break
        if done == passes or not bound < 0.5 * previous:
            status = ROUNDED if single and o.tol > 0 and bound <= o.tol else UNCERTIFIED
            break
        previous = bound
        if not stepped:
            _refine(s, o.fit_intercept)
    if single:  # the coefficients returned, and the objective at them
        _certify(X, Y, weights, order, lo, hi, o, total, s, W, b, loss, True, norms)
        if not loss[0] <= HUGE:  # (beyond float32's range)
            bound_out[0] = INFINITY
            return DIVERGED, done
    return (MAX_ITER if o.tol == 0 else status), done


cdef void _fit_problems(const floating[:, :] X, const floating[:, :] Y,
                        const floating[::1] weights, const int64_t[::1] order,
                        const int64_t[::1] offsets, ManyOptions o, ManySlot s,
                        ManyOut out, Py_ssize_t first, Py_ssize_t last) noexcept nogil:
    # Problems [first, last), one after the other, in the slot s.
    cdef Py_ssize_t g, lo, hi
    cdef Py_ssize_t n_coefficients = s.n_targets * s.n_features
    cdef double total
    for g in range(first, last):
        lo = offsets[g]
        hi = offsets[g + 1]
        total = _problem_means(X, Y, weights, order, lo, hi, o.fit_intercept, &s)
        _centred_gram(X, Y, weights, order, lo, hi, total, &s)
        if not (_standardize(&s, o.l2, hi - lo) and _cholesky(&s)):
            # not to be trusted, or dependent: _many.py refits it with fastgd.fit
            out.n_iter[g] = 0
            out.status[g] = UNCERTIFIED
            continue
        out.status[g], out.n_iter[g] = _direct_solve(
            X, Y, weights, order, lo, hi, o, total, &s, out.W + g * n_coefficients,
            out.b + g * s.n_targets, out.loss + g, out.bound + g)


cdef ManySlot _slot(double[:, :, ::1] gram, double[:, ::1] mean, double[:, ::1] inverse,
                    double[:, :, ::1] panel, double[:, :, ::1] centred,
                    double[:, :, ::1] theta, double[:, :, ::1] grad, double[:, :, ::1] low,
                    double[:, :, ::1] step, double[:, ::1] work, double[:, :, ::1] extremes,
                    Py_ssize_t n_features, bint fit_intercept, Py_ssize_t c) noexcept nogil:
    # Chunk c's slot of the scratch (_layout.ManyScratch), as pointers.
    cdef ManySlot s
    s.n_features = n_features
    s.n_targets = theta.shape[1]
    s.n_columns = n_features + s.n_targets
    s.n_coords = n_features + 1 if fit_intercept else n_features
    s.stride = theta.shape[2]
    s.panel_rows = panel.shape[2]
    s.gram = &gram[c, 0, 0]
    s.mean = &mean[c, 0]
    s.inverse = &inverse[c, 0]
    s.panel = &panel[c, 0, 0]
    s.centred = &centred[c, 0, 0]
    s.theta = &theta[c, 0, 0]
    s.grad = &grad[c, 0, 0]
    s.low = &low[c, 0, 0]
    s.step = &step[c, 0, 0]
    s.work = &work[c, 0]
    s.extremes = &extremes[c, 0, 0]
    return s


def fit_many(data, options, scratch, result, Py_ssize_t first, Py_ssize_t last,
             Py_ssize_t slot):
    """Fit problems [first, last) of data (_layout.ManyData) into result
    (_layout.ManyResult), one after the other, in the scratch's slot (a
    _layout.ManyScratch), without the GIL: the backend runs ranges of problems in
    threads of its own. The bundles are unpacked here into typed views."""
    if data.X.dtype.itemsize == 4:
        _fit_many[float](data.X, data.Y, data.weights, data, options, scratch, result,
                         first, last, slot)
    else:
        _fit_many[double](data.X, data.Y, data.weights, data, options, scratch, result,
                          first, last, slot)


cdef _fit_many(const floating[:, :] X, const floating[:, :] Y, const floating[::1] weights,
               data, options, scratch, result, Py_ssize_t first, Py_ssize_t last,
               Py_ssize_t slot):
    cdef const int64_t[::1] order = data.order
    cdef const int64_t[::1] offsets = data.offsets
    cdef ManyOptions o = ManyOptions(options.fit_intercept, options.l2, options.tol,
                                     options.max_iter)
    cdef double[:, :, ::1] gram = scratch.gram, panel = scratch.panel
    cdef double[:, :, ::1] centred = scratch.centred, theta = scratch.theta
    cdef double[:, :, ::1] grad = scratch.grad, low = scratch.low, step = scratch.step
    cdef double[:, ::1] mean = scratch.mean, inverse = scratch.inverse, work = scratch.work
    cdef double[:, :, ::1] extremes = scratch.extremes
    cdef double[:, :, ::1] W = result.W
    cdef double[:, ::1] b = result.b
    cdef double[::1] loss = result.loss, bound = result.bound
    cdef int64_t[::1] n_iter = result.n_iter, status = result.status
    cdef ManySlot s = _slot(gram, mean, inverse, panel, centred, theta, grad, low, step, work,
                            extremes, X.shape[1], o.fit_intercept, slot)
    cdef ManyOut out = ManyOut(&W[0, 0, 0], &b[0, 0], &loss[0], &n_iter[0], &status[0],
                               &bound[0])
    with nogil:
        _fit_problems(X, Y, weights, order, offsets, o, s, out, first, last)


# ---------------------------------------------------------------------------------
# The Lasso homotopy: _reference.lasso_path compiled. Mirrors the section of
# _numba_kernels.py; here the scratch (_layout.HomotopyScratch) is a struct of
# pointers (Homotopy), the factor row-major (its entry [p, r] at factor[p * d + r]).
# ---------------------------------------------------------------------------------

cdef struct Homotopy:
    Py_ssize_t d
    double* factor     # (d, d): the Cholesky factor of H_SS, rows in join order
    int64_t* order     # (d,): the active columns, in join order
    int64_t* active    # (d,)
    int64_t* dependent # (d,)
    double* signs      # (d,)
    double* a          # (d,): u_S(t) = a - t v, per active column in join order
    double* v          # (d,)
    double* c0         # (d,): c(t) = c0 + t slopes, per column
    double* slopes     # (d,)
    double* work       # (d,)


cdef Homotopy _homotopy_of(scratch, Py_ssize_t d):
    # The scratch (_layout.HomotopyScratch of d > 0) as pointers: its arrays outlive
    # the struct (the caller holds the scratch)
    cdef double[:, ::1] factor = scratch.factor
    cdef int64_t[::1] order = scratch.order, active = scratch.active
    cdef int64_t[::1] dependent = scratch.dependent
    cdef double[::1] signs = scratch.signs, a = scratch.a, v = scratch.v
    cdef double[::1] c0 = scratch.c0, slopes = scratch.slopes, work = scratch.work
    cdef Homotopy s
    s.d = d
    s.factor, s.order, s.active, s.dependent = &factor[0, 0], &order[0], &active[0], &dependent[0]
    s.signs, s.a, s.v = &signs[0], &a[0], &v[0]
    s.c0, s.slopes, s.work = &c0[0], &slopes[0], &work[0]
    return s


cdef inline double _sign(double x) noexcept nogil:
    # np.sign(x)
    return 1.0 if x > 0 else (-1.0 if x < 0 else 0.0)


cdef bint _homotopy_append(const double[:, ::1] H, Homotopy* s, Py_ssize_t n_active,
                           Py_ssize_t column) noexcept nogil:
    # Extend the factor of the first n_active columns of s.order by `column`, if it is
    # independent of them; return whether it is. NumPy:
    #   l = solve(L, H[S, column]); pivot = H[column, column] - l @ l
    #   independent = pivot > 64 eps max(abs(H[S + [column]][:, S + [column]]).sum(axis=1))
    cdef double* L = s.factor
    cdef double* l = s.work
    cdef Py_ssize_t p, r, row, d = s.d
    cdef double value, pivot, largest, total
    for p in range(n_active):
        value = H[s.order[p], column]
        for r in range(p):
            value -= L[p * d + r] * l[r]
        l[p] = value / L[p * d + p]
    pivot = H[column, column]
    for p in range(n_active):
        pivot -= l[p] * l[p]
    largest = 0.0
    for p in range(n_active + 1):
        row = s.order[p] if p < n_active else column
        total = fabs(H[row, column])
        for r in range(n_active):
            total += fabs(H[row, s.order[r]])
        largest = max(largest, total)
    if not pivot > 64.0 * DBL_EPSILON * largest:
        return False
    for p in range(n_active):
        L[n_active * d + p] = l[p]
    L[n_active * d + n_active] = sqrt(pivot)
    return True


cdef Py_ssize_t _homotopy_refactor(const double[:, ::1] H, Homotopy* s, Py_ssize_t n_active,
                                   Py_ssize_t dropped) noexcept nogil:
    # The factor of the active columns but `dropped`, rebuilt in their join order;
    # returns how many there are (a column that has become dependent is left out).
    cdef Py_ssize_t p, column, kept = 0
    for p in range(n_active):
        column = s.order[p]
        if column == dropped:
            continue
        if _homotopy_append(H, s, kept, column):
            s.order[kept] = column
            kept += 1
        else:
            s.active[column], s.signs[column], s.dependent[column] = 0, 0.0, 1
    return kept


cdef void _homotopy_piece(const double[:, ::1] H, const double[::1] q,
                          const double[::1] weights, Homotopy* s,
                          Py_ssize_t n_active) noexcept nogil:
    # The piece u_S(t) = a - t v, c(t) = q - H u(t) = c0 + t slopes. NumPy (S in join
    # order): a, v = solve(H_SS, [q_S, weights_S signs_S]) (L L.T: forward, then back
    # substitution); c0 = q - H[:, S] @ a; slopes = H[:, S] @ v
    cdef double* L = s.factor
    cdef double* a = s.a
    cdef double* v = s.v
    cdef Py_ssize_t p, r, j, column, d = s.d
    cdef double x, y, c0, slope, h
    for p in range(n_active):
        column = s.order[p]
        x, y = q[column], weights[column] * s.signs[column]
        for r in range(p):
            x -= L[p * d + r] * a[r]
            y -= L[p * d + r] * v[r]
        a[p], v[p] = x / L[p * d + p], y / L[p * d + p]
    for p in range(n_active - 1, -1, -1):
        x, y = a[p], v[p]
        for r in range(p + 1, n_active):
            x -= L[r * d + p] * a[r]
            y -= L[r * d + p] * v[r]
        a[p], v[p] = x / L[p * d + p], y / L[p * d + p]
    for j in range(q.shape[0]):
        c0, slope = q[j], 0.0
        for p in range(n_active):
            h = H[j, s.order[p]]
            c0 -= h * a[p]
            slope += h * v[p]
        s.c0[j], s.slopes[j] = c0, slope


cdef Py_ssize_t _homotopy_next_event(const double[::1] weights, Homotopy* s,
                                     Py_ssize_t n_active, double t, double floor,
                                     Py_ssize_t changed, double* next_t,
                                     bint* joins) noexcept nogil:
    # The next event below t: the largest t' in (floor, t] where an inactive,
    # independent column joins (c0_j + t' slopes_j = +-t' weights_j; one at its bound
    # at t to rounding, or past it, at t if it moves out, never on that side if it
    # moves in) or an active one drops (a_p - t' v_p = 0, where |u_p| falls as t'
    # does; at t if at 0 then to rounding, or past it), the column that changed last
    # only strictly below t (where rounding cannot bring it back). Returns its
    # column, -1 for none (every scale above the floor is on this piece), with t' in
    # next_t and is_join in joins.
    cdef Py_ssize_t h, j, p, column, event = -1
    cdef double sign, ceiling, hit, correlation
    cdef bint falling
    next_t[0], joins[0] = floor, False
    for h in range(2):
        sign = 1.0 - 2.0 * h
        for j in range(weights.shape[0]):
            if s.active[j] or s.dependent[j]:
                continue
            ceiling = t * (1.0 - 1e-9) if j == changed else t
            hit = s.c0[j] / (sign * weights[j] - s.slopes[j])
            correlation = s.c0[j] + t * s.slopes[j]
            if (j != changed and _sign(correlation) == sign
                    and fabs(correlation) >= t * weights[j] * (1.0 - 64.0 * DBL_EPSILON)):
                # at or past its bound at t on this side: its direction decides
                hit = t if sign * s.slopes[j] < weights[j] else -INFINITY
            if hit <= ceiling and hit > next_t[0]:
                next_t[0], event, joins[0] = hit, j, True
    for p in range(n_active):
        column = s.order[p]
        ceiling = t * (1.0 - 1e-9) if column == changed else t
        hit = s.a[p] / s.v[p]
        falling = s.signs[column] * s.v[p] < 0
        if (falling and column != changed and s.signs[column] * (s.a[p] - t * s.v[p])
                <= 4.0 * DBL_EPSILON * (fabs(s.a[p]) + t * fabs(s.v[p]))):
            hit = t  # (at 0 at t to rounding, or past it: it drops now)
        if falling and hit <= ceiling and hit > next_t[0]:
            next_t[0], event, joins[0] = hit, column, False
    return event


cdef Py_ssize_t _homotopy_solve(const double[::1] q, const double[::1] weights,
                                const double[::1] scales, Homotopy* s, Py_ssize_t n_active,
                                double bottom, Py_ssize_t at,
                                double[:, ::1] solutions) noexcept nogil:
    # u at the scales from `at` on that are >= bottom, on this piece: rows of
    # solutions (its other entries stay 0); returns the index of the first scale left.
    # NumPy: u_S = solve(H_SS, q_S - t weights_S signs_S) at each t (not a - t v, whose
    # difference cancels where u is small beside a)
    cdef double* L = s.factor
    cdef double* x = s.work
    cdef Py_ssize_t p, r, column, d = s.d, end = at
    cdef double t, value
    while end < scales.shape[0] and scales[end] >= bottom:
        t = scales[end]
        for p in range(n_active):
            column = s.order[p]
            value = q[column] - t * weights[column] * s.signs[column]
            for r in range(p):
                value -= L[p * d + r] * x[r]
            x[p] = value / L[p * d + p]
        for p in range(n_active - 1, -1, -1):
            value = x[p]
            for r in range(p + 1, n_active):
                value -= L[r * d + p] * x[r]
            x[p] = value / L[p * d + p]
            solutions[end, s.order[p]] = x[p]
        end += 1
    return end


def lasso_path(const double[:, ::1] H, const double[::1] q, const double[::1] weights,
               const double[::1] scales, scratch, double[:, ::1] solutions,
               int64_t[::1] events):
    """Write into solutions (n, d) the minimizers of ``0.5 u.H u - q.u + t sum_j
    weights_j |u_j|`` at each t of scales (n,), decreasing and positive, and into
    events (n,) int64 the homotopy's events above each t: _reference.lasso_path, on
    H (d, d) C-contiguous, q and weights (d,) float64, scratch a
    _layout.HomotopyScratch of d."""
    cdef Homotopy s
    s.d = q.shape[0]
    if s.d == 0:
        _homotopy(H, q, weights, scales, &s, solutions, events)
        return
    s = _homotopy_of(scratch, q.shape[0])
    with nogil:
        _homotopy(H, q, weights, scales, &s, solutions, events)


cdef void _homotopy(const double[:, ::1] H, const double[::1] q, const double[::1] weights,
                    const double[::1] scales, Homotopy* s, double[:, ::1] solutions,
                    int64_t[::1] events) noexcept nogil:
    # The kernel's loop: Numba's lasso_path
    cdef Py_ssize_t d = q.shape[0], n = scales.shape[0]
    cdef Py_ssize_t i, j, at, changed, n_active, step, n_events, event
    cdef double t, ratio, floor, next_t
    cdef bint joined, joins
    for i in range(n):
        events[i] = 0
        for j in range(d):
            solutions[i, j] = 0.0
    t, changed = 0.0, 0
    for j in range(d):
        s.active[j], s.dependent[j], s.signs[j] = 0, 0, 0.0
        ratio = fabs(q[j]) / weights[j]
        if ratio > t:
            t, changed = ratio, j
    at = 0
    while at < n and scales[at] >= t:
        at += 1  # (the solution is 0 down to t)
    if at == n:
        return
    floor = scales[n - 1]
    s.active[changed], s.signs[changed] = 1, _sign(q[changed])
    n_active, joined, n_events = 0, True, 0
    for step in range(1, HOMOTOPY_STEPS * d + 10):
        n_events = step
        if joined:
            if not _homotopy_append(H, s, n_active, changed):
                s.active[changed], s.signs[changed], s.dependent[changed] = 0, 0.0, 1
                joined = False
                continue
            s.order[n_active] = changed
            n_active += 1
        _homotopy_piece(H, q, weights, s, n_active)
        event = _homotopy_next_event(weights, s, n_active, t, floor, changed, &next_t, &joins)
        for i in range(at, n):
            events[i] = step
        at = _homotopy_solve(q, weights, scales, s, n_active, next_t, at, solutions)
        t = next_t
        if event < 0:
            return
        changed, joined = event, joins
        if joins:
            s.active[event] = 1
            s.signs[event] = _sign(s.c0[event] + t * s.slopes[event])
        else:
            s.active[event], s.signs[event] = 0, 0.0
            for j in range(d):
                s.dependent[j] = 0  # (the active columns changed)
            n_active = _homotopy_refactor(H, s, n_active, event)
    # (Out of steps, which the budget makes unheard of: the last piece, down to 0.)
    for i in range(at, n):
        events[i] = n_events
    _homotopy_solve(q, weights, scales, s, n_active, 0.0, at, solutions)


# ---------------------------------------------------------------------------------
# Elastic-net paths: _reference.elastic_net_path compiled. Mirrors the section of
# _numba_kernels.py (the point's Hessian is the scratch's `hessian`).
# ---------------------------------------------------------------------------------

cdef void _elastic_net_hessian(const double[:, ::1] H, const double[::1] ridge, double l2,
                               double[:, ::1] hessian) noexcept nogil:
    # NumPy: hessian = H + l2 * diag(ridge)
    cdef Py_ssize_t j, l
    for j in range(H.shape[0]):
        for l in range(H.shape[1]):
            hessian[j, l] = H[j, l]
        hessian[j, j] += l2 * ridge[j]


cdef Py_ssize_t _active_set_factor(const double[:, ::1] hessian, Homotopy* s,
                                   Py_ssize_t n_active) noexcept nogil:
    # Numba's _active_set_factor: the Cholesky factor of H_SS, a column at a time;
    # returns the position of the first dependent column, or n_active
    cdef double* L = s.factor
    cdef double* column = s.work
    cdef Py_ssize_t p, r, i, k, d = s.d
    cdef double largest = 0.0, total, below
    for p in range(n_active):
        total = 0.0
        for r in range(n_active):
            total += fabs(hessian[s.order[p], s.order[r]])
        largest = max(largest, total)
        for r in range(p + 1):
            L[p * d + r] = hessian[s.order[p], s.order[r]]
    for k in range(n_active):
        if not L[k * d + k] > 64.0 * DBL_EPSILON * largest:
            return k
        L[k * d + k] = sqrt(L[k * d + k])
        for i in range(k + 1, n_active):
            L[i * d + k] /= L[k * d + k]
            column[i] = L[i * d + k]
        for i in range(k + 1, n_active):
            below = column[i]
            for r in range(k + 1, i + 1):
                L[i * d + r] -= below * column[r]
    return n_active


cdef bint _active_set_solve(const double[:, ::1] hessian, const double[::1] q,
                            const double[::1] weights, const double[::1] scale,
                            Homotopy* s, double[:, ::1] u) noexcept nogil:
    # Numba's _active_set_solve: u (1, d) on the active set, the flipped signs out
    cdef Py_ssize_t j, p, column, dependent, n_active = 0
    cdef bint flipped = False
    for j in range(q.shape[0]):
        u[0, j] = 0.0
        if s.active[j]:
            s.order[n_active] = j
            n_active += 1
    dependent = _active_set_factor(hessian, s, n_active)
    while dependent < n_active:
        column = s.order[dependent]
        s.active[column], s.signs[column] = 0, 0.0
        for p in range(dependent, n_active - 1):
            s.order[p] = s.order[p + 1]
        n_active -= 1
        dependent = _active_set_factor(hessian, s, n_active)
    _homotopy_solve(q, weights, scale, s, n_active, scale[0], 0, u)
    for p in range(n_active):
        column = s.order[p]
        if _sign(u[0, column]) != s.signs[column]:
            s.active[column], s.signs[column] = 0, 0.0
            flipped = True
    return flipped


cdef bint _joining(const double[:, ::1] hessian, const double[::1] q,
                   const double[::1] weights, double l1, Homotopy* s,
                   double[:, ::1] u) noexcept nogil:
    # Numba's _joining: the inactive columns past their bound at u join S
    # NumPy: c = q - H @ u; joining = ~active & (|c| > l1 weights (1 + 1e-12))
    cdef Py_ssize_t j, l
    cdef double correlation
    cdef bint joined = False
    for j in range(q.shape[0]):
        if s.active[j]:
            continue
        correlation = q[j]
        for l in range(q.shape[0]):
            if s.active[l]:
                correlation -= hessian[j, l] * u[0, l]
        if fabs(correlation) > l1 * weights[j] * (1.0 + 1e-12):
            s.active[j], s.signs[j] = 1, _sign(correlation)
            joined = True
    return joined


def elastic_net_path(const double[:, ::1] H, const double[::1] q, const double[::1] weights,
                     const double[::1] ridge, const double[::1] l1, const double[::1] l2,
                     scratch, double[:, ::1] solutions, int64_t[::1] counts):
    """Write into solutions (n, d) each point's minimizer and into counts (n,) its
    solves: _reference.elastic_net_path; see the Numba kernel."""
    cdef double[:, ::1] hessian = scratch.hessian
    cdef Homotopy s
    if q.shape[0] == 0:
        counts[:] = 1
        return
    s = _homotopy_of(scratch, q.shape[0])
    with nogil:
        _elastic_net_path(H, q, weights, ridge, l1, l2, &s, hessian, solutions, counts)


cdef void _elastic_net_path(const double[:, ::1] H, const double[::1] q,
                            const double[::1] weights, const double[::1] ridge,
                            const double[::1] l1, const double[::1] l2, Homotopy* s,
                            double[:, ::1] hessian, double[:, ::1] solutions,
                            int64_t[::1] counts) noexcept nogil:
    # The kernel's loop: Numba's elastic_net_path
    cdef Py_ssize_t d = q.shape[0]
    cdef Py_ssize_t i, j, n_solves
    for j in range(d):
        s.active[j], s.signs[j], s.dependent[j] = 0, 0.0, 0
    for i in range(l1.shape[0]):
        _elastic_net_hessian(H, ridge, l2[i], hessian)
        counts[i] = ACTIVE_SET_STEPS + 1
        for n_solves in range(1, ACTIVE_SET_STEPS + 1):
            if _active_set_solve(hessian, q, weights, l1[i:i + 1], s, solutions[i:i + 1]):
                continue
            if not _joining(hessian, q, weights, l1[i], s, solutions[i:i + 1]):
                counts[i] = n_solves
                break
        if counts[i] > ACTIVE_SET_STEPS:  # the homotopy from 0, and its signs
            _homotopy(hessian, q, weights, l1[i:i + 1], s, solutions[i:i + 1],
                      counts[i:i + 1])
            counts[i] = ACTIVE_SET_STEPS + 1
            for j in range(d):
                s.active[j] = solutions[i, j] != 0
                s.signs[j], s.dependent[j] = _sign(solutions[i, j]), 0


# ---------------------------------------------------------------------------------
# Kernels for users' own compiled loops. Declared in _cython_kernels.pxd, so that
# Cython exports them through this module's __pyx_capi__ and users' Cython code
# cimports them (from fastgd/cython_kernels.pxd). They call the kernels above.
# ---------------------------------------------------------------------------------

from cython.view cimport array as cython_array
from libc.string cimport memset

# The velocities of a step without momentum, which _update does not read.
cdef double[:, ::1] NO_VELOCITY = cython_array(shape=(1, 1), itemsize=sizeof(double),
                                               format="d")


cdef class GradientWorkspace:
    """GradientWorkspace(n_samples, n_features, n_targets=1, dtype="float64")

    The scratch of ``gradient_float64`` / ``gradient_float32`` for an X of this shape
    and dtype, and their outputs: the Cython mirror of
    ``fastgd.kernels.gradient_workspace``, for users' Cython code (cimported from
    fastgd/cython_kernels.pxd; docs/user_guide/kernels.md).

    Make one per thread, outside the loop (it allocates; the kernels do not), with
    the GIL. Its chunk and block sizes are those of ``fastgd.gradient``
    (``_backends.CompiledBackend.gradient_scratch``) on one thread. (``fastgd.gradient``
    itself passes one to ``gradient``, made by ``gradient_workspace`` for its thread
    count.)

    Parameters
    ----------
    n_samples, n_features : int
        X's shape (N, D).
    n_targets : int, default=1
        K, the number of columns of Y (rows of W).
    dtype : {"float64", "float32"} or a NumPy dtype, default="float64"
        X's dtype: call ``gradient_float64`` or ``gradient_float32`` with it.

    Attributes
    ----------
    grad_W : double[:, ::1] (K, D)
    grad_b : double[::1] (K,)
        The gradient of the last call (``np.asarray`` views them from Python).
    dtype : numpy.dtype
    """

    def __init__(self, n_samples, n_features, n_targets=1, dtype="float64"):
        from . import _backends

        _take_scratch(self, _backends.serial_gradient_scratch("cython", n_samples, n_features,
                                                              n_targets, dtype))


def gradient_workspace(scratch, buffers):
    """What ``gradient`` takes as its ``workspace``, made once per shape: a
    GradientWorkspace holding the arrays of ``scratch`` (a ``_layout.GradientScratch``,
    any thread count, cut from ``buffers``) as typed memoryviews."""
    cdef GradientWorkspace workspace = GradientWorkspace.__new__(GradientWorkspace)
    _take_scratch(workspace, scratch)
    return workspace


def no_weights(dtype):
    """What ``gradient`` takes for no weights: None, which costs no buffer acquisition."""
    return None


def gradient_runner(GradientWorkspace workspace):
    """``gradient`` bound to ``workspace``: ``run(X, Y, W, b, weights, total_weight,
    x_is_f) -> loss``, calling the specialization of the workspace's dtype without
    the fused dispatch."""
    kernel = gradient["float" if workspace.dtype.itemsize == 4 else "double"]

    def run(X, Y, W, b, weights, total_weight, x_is_f):
        return kernel(X, Y, W, b, weights, total_weight, x_is_f, workspace)

    return run


cdef _take_scratch(GradientWorkspace workspace, scratch):
    # The workspace's typed memoryviews of the scratch's arrays (acquired here, once).
    workspace.dtype = scratch.block_W.dtype
    workspace.grad_W = scratch.grad_W
    workspace.grad_b = scratch.grad_b
    workspace.chunk_rows = scratch.chunk_rows
    workspace.n_threads = scratch.n_threads
    workspace.chunk_W = scratch.chunk_W
    workspace.chunk_b = scratch.chunk_b
    workspace.chunk_sq = scratch.chunk_sq
    if workspace.dtype.itemsize == 4:
        workspace.block_W_float32 = scratch.block_W
        workspace.block_b_float32 = scratch.block_b
        workspace.resid_float32 = scratch.resid
    else:
        workspace.block_W_float64 = scratch.block_W
        workspace.block_b_float64 = scratch.block_b
        workspace.resid_float64 = scratch.resid


cdef double _total_weight(const floating[::1] sample_weight) noexcept nogil:
    # NumPy: sample_weight.sum(dtype=np.float64)
    cdef double total = 0.0
    cdef Py_ssize_t i
    for i in range(sample_weight.shape[0]):
        total += sample_weight[i]
    return total


cdef inline double _user_gradient(
    const floating[:, :] X, const floating[:, :] Y, const floating[:, ::1] W,
    const floating[::1] b, GradientWorkspace workspace, const floating[::1] sample_weight,
    floating[:, :, ::1] block_W, floating[:, ::1] block_b, floating[:, :, ::1] resid,
) noexcept nogil:
    # gradient_float64 / gradient_float32, given the workspace's scratch in X's dtype.
    cdef bint x_is_f = X.strides[1] != sizeof(floating)
    cdef double total_weight = X.shape[0]
    cdef const floating[::1] weights
    if sample_weight is None:
        weights = block_b[0, :0]  # empty, in X's dtype: no weights
    else:
        weights = sample_weight
        total_weight = _total_weight(sample_weight)
    return _gradient_into(X, Y, W, b, weights, total_weight, x_is_f, workspace, block_W,
                          block_b, resid)


cdef double gradient_float64(
    const double[:, :] X, const double[:, :] Y, const double[:, ::1] W,
    const double[::1] b, GradientWorkspace workspace,
    const double[::1] sample_weight=None) noexcept nogil:
    """Write G_W = (s R).T @ X / sum(s) into workspace.grad_W and (s R).sum(0) /
    sum(s) into workspace.grad_b, R = X @ W.T + b - Y; return the loss
    sum(s R**2) / (2 sum(s)) (s = sample_weight, or 1). One pass over X, float64.

    X (N, D) C- or Fortran-contiguous (other strides give wrong numbers); Y (N, K)
    any strides; W (K, D) and b (K,) C-contiguous; sample_weight (N,) or None;
    workspace made for (N, D, K, float64). Nothing is checked.
    """
    return _user_gradient(X, Y, W, b, workspace, sample_weight, workspace.block_W_float64,
                          workspace.block_b_float64, workspace.resid_float64)


cdef double gradient_float32(
    const float[:, :] X, const float[:, :] Y, const float[:, ::1] W,
    const float[::1] b, GradientWorkspace workspace,
    const float[::1] sample_weight=None) noexcept nogil:
    """gradient_float64 for float32 X, Y, W, b and sample_weight (the gradient and
    the loss are float64): a workspace made for float32."""
    return _user_gradient(X, Y, W, b, workspace, sample_weight, workspace.block_W_float32,
                          workspace.block_b_float32, workspace.resid_float32)


cdef inline FitOptions _step_options(double l1, double l2, Py_ssize_t n_features,
                                     bint fit_intercept) noexcept nogil:
    # The options _update reads for a plain step, every feature penalized.
    cdef FitOptions o
    memset(&o, 0, sizeof(o))
    o.l1 = l1
    o.l2 = l2
    o.n_penalized = n_features
    o.fit_intercept = fit_intercept
    return o


cdef double step_float64(
    double[:, ::1] W, double[::1] b, const double[:, ::1] grad_W, const double[::1] grad_b,
    double lr, double l1=0.0, double l2=0.0, bint fit_intercept=True) noexcept nogil:
    """One step of (proximal) gradient descent on W (K, D) and b (K,), in place:
    W -= lr * (grad_W + l2 * W), then soft-thresholding by lr * l1 (exact zeros);
    b -= lr * grad_b if fit_intercept. Returns the squared norm of the gradient
    map (W - W_new, b - b_new) / lr (0 at the optimum: a stopping test)."""
    return _update(W, b, grad_W, grad_b, lr, _step_options(l1, l2, W.shape[1], fit_intercept),
                   NO_VELOCITY, NO_VELOCITY)


cdef double step_float32(
    float[:, ::1] W, float[::1] b, const double[:, ::1] grad_W, const double[::1] grad_b,
    double lr, double l1=0.0, double l2=0.0, bint fit_intercept=True) noexcept nogil:
    """step_float64 on float32 W and b (the step is made in float64, rounded once)."""
    return _update(W, b, grad_W, grad_b, lr, _step_options(l1, l2, W.shape[1], fit_intercept),
                   NO_VELOCITY, NO_VELOCITY)


# ------------------------------------------------------- fastgd.gradient's fast path
# fastgd.gradient on arrays the kernel takes as they are, checked and dispatched in C:
# the same tests as _fast_path._kernel_arrays and _kernel_intercept (one source: those
# say what passes; this is their compiled form, tested against them), then the plan
# of this shape (_backends.GradientPlans) and one kernel call. In Python these steps
# cost more than the whole gradient of a small problem
# (benches/gradient_overhead.py measures both).
import numpy as np

cimport numpy as cnp

cnp.import_array()

cdef extern from "numpy/arrayobject.h":
    object PyArray_Scalar(void* data, cnp.dtype descr, object base)

cdef int _CARRAY = cnp.NPY_ARRAY_C_CONTIGUOUS | cnp.NPY_ARRAY_ALIGNED | cnp.NPY_ARRAY_WRITEABLE


cdef inline bint _plain_array(object a, int typenum):
    # an ndarray (no subclass) of this dtype, in native byte order
    return (type(a) is cnp.ndarray and cnp.PyArray_TYPE(<cnp.ndarray>a) == typenum
            and cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>a))


cdef inline void _fill(cnp.ndarray buffer, int typenum, double value) noexcept:
    # NumPy: buffer[...] = value (buffer: (K,) C-contiguous, of typenum)
    cdef Py_ssize_t k, n = cnp.PyArray_DIM(buffer, 0)
    for k in range(n):
        if typenum == cnp.NPY_DOUBLE:
            (<double*>cnp.PyArray_DATA(buffer))[k] = value
        else:
            (<float*>cnp.PyArray_DATA(buffer))[k] = <float>value


cdef inline bint _fill_intercept(object intercept, cnp.ndarray buffer, int typenum,
                                 bint y_is_1d) except -1:
    # _fast_path._kernel_intercept: a number, or an ndarray of X's dtype, 0-d or (K,) with
    # 2-D y, written into the plan's buffer; False for anything else
    if type(intercept) is float:
        _fill(buffer, typenum, <double>intercept)
        return True
    if isinstance(intercept, (int, float)) and not isinstance(intercept, bool):
        try:
            buffer.fill(intercept)  # (an int of any size, as NumPy converts it)
        except OverflowError:  # beyond float64: check_intercept names it
            return False
        return True
    if _plain_array(intercept, typenum) and (
            cnp.PyArray_NDIM(<cnp.ndarray>intercept) == 0
            or (not y_is_1d and cnp.PyArray_NDIM(<cnp.ndarray>intercept) == 1
                and cnp.PyArray_DIM(<cnp.ndarray>intercept, 0) == cnp.PyArray_DIM(buffer, 0))):
        np.copyto(buffer, intercept)
        return True
    return False


cdef object _plain_gradient(floating zero, object X_object, object y, object coef,
                            object b_object, bint y_is_1d, bint x_is_f, GradientWorkspace s,
                            int typenum):
    # The kernel on X, y (N,) or (N, K), coef (D,) or (K, D); then the gradient in
    # X's dtype, in the user's shapes (_fit.shape_like_y), and the loss; None if the
    # loss is not finite (the validated path names the cause). zero: 0 in X's dtype,
    # which picks the specialization.
    cdef const floating[:, :] X
    cdef const floating[:, ::1] W
    cdef const floating[::1] b
    # (A memoryview attribute is not None before its first assignment but empty, so
    # the buffer viewed is kept beside the view, and compared.)
    if s.fast_b is not b_object:  # the plan's intercept buffer, viewed once
        s.fast_b = b_object
        if floating is float:
            s.b_float32 = b_object
        else:
            s.b_float64 = b_object
    if floating is float:
        b = s.b_float32
    else:
        b = s.b_float64
    cdef const floating[:] y_1d
    cdef const floating[:, :] Y
    # The caller's arrays are viewed for this call only: a view kept for the next one
    # would keep them alive and their buffers exported (no resize, no mmap.close),
    # and would not see a change of strides.
    X = X_object
    if y_is_1d:  # NumPy: y[:, None], coef[None] (a memoryview's [None, :] is not
        y_1d = y  # typed C-contiguous)
        Y = y_1d[:, None]
        W = coef[None]
    else:
        Y = y
        W = coef
    cdef double loss
    cdef double total_weight = X.shape[0]
    with nogil:
        if floating is float:
            loss = _gradient_into(X, Y, W, b, s.block_b_float32[0, :0], total_weight,
                                  x_is_f, s, s.block_W_float32, s.block_b_float32,
                                  s.resid_float32)
        else:
            loss = _gradient_into(X, Y, W, b, s.block_b_float64[0, :0], total_weight,
                                  x_is_f, s, s.block_W_float64, s.block_b_float64,
                                  s.resid_float64)
    if not (loss - loss == 0.0):  # NaN or inf
        return None
    cdef Py_ssize_t n_targets = W.shape[0], n_features = W.shape[1], j, k
    cdef cnp.npy_intp dims[2]
    dims[0], dims[1] = n_targets, n_features
    cdef cnp.ndarray grad_coef = (cnp.PyArray_EMPTY(1, &dims[1], typenum, 0) if y_is_1d
                                  else cnp.PyArray_EMPTY(2, dims, typenum, 0))
    cdef floating* out = <floating*>cnp.PyArray_DATA(grad_coef)
    for k in range(n_targets):
        for j in range(n_features):
            out[k * n_features + j] = <floating>s.grad_W[k, j]
    cdef floating intercept_value
    if y_is_1d:  # a NumPy scalar of X's dtype
        intercept_value = <floating>s.grad_b[0]
        grad_intercept = PyArray_Scalar(&intercept_value, cnp.PyArray_DescrFromType(typenum), None)
    else:
        grad_intercept = cnp.PyArray_EMPTY(1, dims, typenum, 0)
        out = <floating*>cnp.PyArray_DATA(grad_intercept)
        for k in range(n_targets):
            out[k] = <floating>s.grad_b[k]
    return grad_coef, grad_intercept, loss


def gradient_fast_path(X, y, coef, intercept, n_threads, plans):
    """``fastgd.gradient(X, y, coef, intercept, n_threads=n_threads)`` for X, y, coef
    that ``_fast_path._kernel_arrays`` passes and an intercept that
    ``_kernel_intercept`` passes (the checks of ``_fast_path.gradient_fast_path``, made
    here in C): ``(grad_coef, grad_intercept, loss)``; None for anything else, and for
    a non-finite loss (the validated path then runs). ``plans``: the backend's
    ``_backends.GradientPlans``. Reads the caller's arrays, writes none."""
    if type(X) is not cnp.ndarray:
        return None
    cdef cnp.ndarray x = <cnp.ndarray>X
    cdef int typenum = cnp.PyArray_TYPE(x)
    if typenum != cnp.NPY_DOUBLE and typenum != cnp.NPY_FLOAT:
        return None
    if not (_plain_array(X, typenum) and _plain_array(y, typenum)
            and _plain_array(coef, typenum)):
        return None
    cdef int flags = cnp.PyArray_FLAGS(x)
    if (cnp.PyArray_NDIM(x) != 2 or cnp.PyArray_SIZE(x) == 0
            or not flags & (cnp.NPY_ARRAY_C_CONTIGUOUS | cnp.NPY_ARRAY_F_CONTIGUOUS)
            or cnp.PyArray_FLAGS(<cnp.ndarray>coef) & _CARRAY != _CARRAY):
        return None
    cdef bint x_is_f = not flags & cnp.NPY_ARRAY_C_CONTIGUOUS
    cdef Py_ssize_t n_samples = cnp.PyArray_DIM(x, 0), n_features = cnp.PyArray_DIM(x, 1)
    cdef Py_ssize_t n_targets
    cdef cnp.ndarray y_array = <cnp.ndarray>y, coef_array = <cnp.ndarray>coef
    cdef bint y_is_1d = cnp.PyArray_NDIM(y_array) == 1
    if y_is_1d:
        n_targets = 1
        if (cnp.PyArray_DIM(y_array, 0) != n_samples or cnp.PyArray_NDIM(coef_array) != 1
                or cnp.PyArray_DIM(coef_array, 0) != n_features):
            return None
    elif cnp.PyArray_NDIM(y_array) == 2 and cnp.PyArray_NDIM(coef_array) == 2:
        n_targets = cnp.PyArray_DIM(y_array, 1)
        if (cnp.PyArray_DIM(y_array, 0) != n_samples or n_targets == 0
                or cnp.PyArray_DIM(coef_array, 0) != n_targets
                or cnp.PyArray_DIM(coef_array, 1) != n_features):
            return None
    else:
        return None
    # (GradientPlans.plan's key, looked up here in this thread's plans; plan() on a miss)
    of_thread = getattr(plans.local, "plans", None)
    plan = None if of_thread is None else (<dict>of_thread).get(
        (n_samples, n_features, n_targets, typenum, n_threads,
         plans.fork_state["serial_only"]))
    if plan is None:
        plan = plans.plan(n_samples, n_features, n_targets, x.dtype, n_threads)
    cdef cnp.ndarray b = plan.intercept
    if not _fill_intercept(intercept, b, typenum, y_is_1d):
        return None
    cdef GradientWorkspace workspace = plan.workspace
    if typenum == cnp.NPY_DOUBLE:
        return _plain_gradient(<double>0, X, y, coef, b, y_is_1d, x_is_f, workspace, typenum)
    return _plain_gradient(<float>0, X, y, coef, b, y_is_1d, x_is_f, workspace, typenum)
