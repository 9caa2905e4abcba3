"""Determinism: bitwise the same results for every thread count, run and alignment."""

import numpy as np
import pytest

import fastgd
from fastgd._backends import get_backend

from conftest import make_problem

# Large enough for the parallel path (N * D * K >= 2**17) and many chunks.
SHAPES = [(70_001, 6, None), (20_000, 9, 3)]


def _same_bits(a, b):
    for x, y in zip(a, b):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_gradient_bitwise_identical_across_thread_counts(compiled_backend, dtype, layout, shape):
    X, y, W, b = make_problem(*shape, dtype=dtype, layout=layout)
    backend = get_backend(compiled_backend)
    assert backend.threads_for(X, W.reshape(-1, shape[1]).shape[0], None) >= 2 or (
        backend.kernels.max_threads() == 1
    )
    results = [
        fastgd.gradient(X, y, W * 0.5, b, backend=compiled_backend, n_threads=n)
        for n in (1, 2, None, 1, 2)
    ]
    for other in results[1:]:
        _same_bits(results[0], other)


def test_fit_bitwise_identical_across_thread_counts(compiled_backend, dtype):
    X, y, _, _ = make_problem(50_000, 5, 2, dtype=dtype)
    fits = [
        fastgd.fit(X, y, max_iter=30, tol=0, backend=compiled_backend, n_threads=n)
        for n in (1, 2, 1)
    ]
    for other in fits[1:]:
        _same_bits(
            (fits[0].coef, fits[0].intercept, fits[0].loss_history, fits[0].lr),
            (other.coef, other.intercept, other.loss_history, other.lr),
        )


def test_result_does_not_depend_on_alignment(compiled_backend, dtype, layout):
    """The same values at a different address (so a different offset from a SIMD
    boundary) give the same bits: no loop's order depends on alignment."""
    X, y, W, b = make_problem(3001, 13, None, dtype=dtype, layout=layout)
    itemsize = np.dtype(dtype).itemsize
    results = []
    for shift in range(4):
        raw = np.empty(X.size + 16, dtype=dtype)
        Xs = raw[shift : shift + X.size].reshape(X.shape, order=layout)
        Xs[...] = X
        results.append(fastgd.gradient(Xs, y, W, b, backend=compiled_backend))
        assert (Xs.ctypes.data // itemsize) % 8 == (raw.ctypes.data // itemsize + shift) % 8
    for other in results[1:]:
        _same_bits(results[0], other)


def test_backends_agree_to_rounding(dtype, layout):
    X, y, W, b = make_problem(5000, 37, 2, dtype=dtype, layout=layout)
    numba_result = fastgd.gradient(X, y, W, b, backend="numba")
    cython_result = fastgd.gradient(X, y, W, b, backend="cython")
    rtol = 1e-13 if dtype == np.float64 else 1e-5
    for a, c in zip(numba_result, cython_result):
        np.testing.assert_allclose(a, c, rtol=rtol, atol=rtol * np.max(np.abs(c)))


def test_tiny_problems_take_the_serial_path(compiled_backend):
    backend = get_backend(compiled_backend)
    assert backend.threads_for(np.empty((100, 10)), 1, None) == 1
    assert backend.threads_for(np.empty((100, 10)), 1, 2) == 1


def test_n_threads_is_capped_at_what_is_available(compiled_backend):
    backend = get_backend(compiled_backend)
    X = np.empty((1_000_000, 8))
    assert backend.threads_for(X, 1, 10_000) == backend.kernels.max_threads()
    assert backend.threads_for(X, 1, 1) == 1


def test_cython_threads_respect_threadpoolctl_limits():
    """threadpoolctl limits OpenMP (our Cython extension's runtime), so a fit inside
    `threadpool_limits(1)` runs the Cython kernels on one thread, as it would NumPy's
    BLAS: no oversubscription when fastgd runs inside a limited section."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    backend = get_backend("cython")
    X = np.empty((1_000_000, 8))
    with threadpoolctl.threadpool_limits(limits=1):
        assert backend.threads_for(X, 1, None) == 1
    assert backend.threads_for(X, 1, None) == backend.kernels.max_threads()


def _fit_in_child(backend, X, y, queue):
    result = fastgd.fit(
        X, y, backend=backend, n_threads=2, solver="stream", max_iter=3, tol=0, method="gd"
    )
    queue.put(result.coef)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_a_child_forked_after_a_parallel_fit_fits(compiled_backend):
    """GNU OpenMP cannot run a parallel region in a forked child of a process that ran
    one (the Cython kernels hung, Numba aborted): the child runs the serial path, and
    gets the same bits (results do not depend on the thread count)."""
    import multiprocessing

    X, y, _, _ = make_problem(200_000, 20)
    backend = get_backend(compiled_backend)
    if backend.kernels.max_threads() < 2:
        pytest.skip("one thread: no parallel region to inherit")
    parent = fastgd.fit(
        X,
        y,
        backend=compiled_backend,
        n_threads=2,
        solver="stream",
        max_iter=3,
        tol=0,
        method="gd",
    )
    assert backend.threads_for(X, 1, 2) == 2  # the parent did run in parallel
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_fit_in_child, args=(compiled_backend, X, y, queue))
    child.start()
    try:
        coef = queue.get(timeout=120)  # a hang would stop here
    finally:
        child.join(10)
        if child.is_alive():
            child.kill()
    assert child.exitcode == 0
    np.testing.assert_array_equal(coef, parent.coef)


def _blas_threads():
    """The thread counts of the BLAS libraries fastgd limits (those loaded when its
    controller was made: a library imported later, such as SciPy's, is not used by
    the direct solve's NumPy algebra)."""
    from threadpoolctl import ThreadpoolController

    from fastgd import _backends

    if not _backends._blas_controller:
        _backends._blas_controller.append(ThreadpoolController())
    return [
        pool["num_threads"]
        for pool in _backends._blas_controller[0].info()
        if pool["user_api"] == "blas"
    ]


def test_a_large_fit_runs_its_small_algebra_on_one_blas_thread_and_restores_them():
    """The direct solve's SVD and Cholesky run after the kernels' parallel passes,
    whose OpenMP threads still spin: BLAS is held to one thread while a large fit runs
    (every pass and the small algebra between them: the callback sees it), and the
    caller's BLAS threads are what they were after it, error or not."""
    X, y, _, _ = make_problem(70_001, 6)
    before = _blas_threads()
    seen = []
    fastgd.fit(X, y, callback=lambda *args: seen.append(_blas_threads()))
    assert seen and all(threads == [1] * len(before) for threads in seen)
    assert _blas_threads() == before
    with pytest.raises(ValueError):
        fastgd.fit(X, y[:-1])
    assert _blas_threads() == before
    small = []  # a small fit, and a mini-batch one (no dense algebra), leave BLAS alone
    fastgd.fit(X[:100], y[:100], callback=lambda *args: small.append(_blas_threads()))
    fastgd.fit(
        X,
        y,
        batch_size=1000,
        max_iter=2,
        tol=0,
        callback=lambda *args: small.append(_blas_threads()),
    )
    assert len(small) > 2 and all(threads == before for threads in small)
