# The C-level kernels of _cython_kernels.pyx that users' Cython code can cimport,
# exported through the extension's __pyx_capi__ (as scipy.linalg.cython_blas does).
# Users cimport them from fastgd/cython_kernels.pxd, the public name; their
# documentation is in the last section of _cython_kernels.pyx and in
# docs/user_guide/kernels.md ("Kernels for your own compiled loops").

cdef class GradientWorkspace:
    # The gradient's outputs, written by gradient_float64 / gradient_float32:
    cdef readonly double[:, ::1] grad_W  # (K, D)
    cdef readonly double[::1] grad_b  # (K,)
    # The kernel's scratch (_layout.GradientScratch, made by _backends), in float64
    # and in the dtype the workspace was made for (the other dtype's views are None):
    cdef readonly object dtype
    cdef Py_ssize_t chunk_rows
    cdef int n_threads
    cdef double[:, :, ::1] chunk_W
    cdef double[:, ::1] chunk_b
    cdef double[::1] chunk_sq
    cdef double[:, :, ::1] block_W_float64
    cdef double[:, ::1] block_b_float64
    cdef double[:, :, ::1] resid_float64
    cdef float[:, :, ::1] block_W_float32
    cdef float[:, ::1] block_b_float32
    cdef float[:, :, ::1] resid_float32
    # gradient_fast_path's view of its plan's intercept buffer (acquired once), and
    # that buffer:
    cdef object fast_b
    cdef const double[::1] b_float64
    cdef const float[::1] b_float32

cdef double gradient_float64(
    const double[:, :] X, const double[:, :] Y, const double[:, ::1] W,
    const double[::1] b, GradientWorkspace workspace,
    const double[::1] sample_weight=*) noexcept nogil
cdef double gradient_float32(
    const float[:, :] X, const float[:, :] Y, const float[:, ::1] W,
    const float[::1] b, GradientWorkspace workspace,
    const float[::1] sample_weight=*) noexcept nogil
cdef double step_float64(
    double[:, ::1] W, double[::1] b, const double[:, ::1] grad_W, const double[::1] grad_b,
    double lr, double l1=*, double l2=*, bint fit_intercept=*) noexcept nogil
cdef double step_float32(
    float[:, ::1] W, float[::1] b, const double[:, ::1] grad_W, const double[::1] grad_b,
    double lr, double l1=*, double l2=*, bint fit_intercept=*) noexcept nogil
