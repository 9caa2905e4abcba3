"""fastgd.gradient's fast path (``_api._fast_gradient``) and the per-thread plans.

Arrays the kernels take as they are skip ``as_data`` (the validation); everything else takes
the validated path. Either way the results are the same, bit for bit, the caller's
arrays are never written, the returned arrays are the caller's own, and bad input
raises the same errors.
"""

import gc
import mmap
import threading
import warnings
import weakref
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import fastgd
from fastgd import _api, _backends, _layout

from conftest import GRAD_RTOL, make_problem

SHAPES = (
    (1, 1, None),
    (4, 2, None),
    (4, 2, 1),
    (37, 5, 3),
    (100, 10, None),
    (300, 7, 2),
    (70_001, 3, None),
)


def validated(monkeypatch, *args, **kwargs):
    """fastgd.gradient through as_data (the fast path switched off)."""
    with monkeypatch.context() as patch:
        patch.setattr(_api, "_fast_gradient", lambda *arguments: None)
        return fastgd.gradient(*args, **kwargs)


@pytest.fixture
def no_validation(monkeypatch):
    """Fail if a call goes through as_data: it must take the fast path."""

    def fail(*args):
        raise AssertionError("as_data ran: the fast path was not taken")

    monkeypatch.setattr(_api, "as_data", fail)


def assert_same_result(fast, slow):
    assert type(fast[0]) is type(slow[0]) and type(fast[1]) is type(slow[1])
    assert type(fast[2]) is float and type(slow[2]) is float
    for a, b in zip(fast, slow):
        assert np.asarray(a).dtype == np.asarray(b).dtype
        assert np.shape(a) == np.shape(b)
        np.testing.assert_array_equal(a, b)  # bitwise (NaN-free)


def intercepts(b, n_targets, dtype):
    """The intercept forms the fast path takes: a float, an int, a 0-d array, and a
    (K,) array for 2-D y."""
    forms = {"float": float(np.ravel(b)[0]), "int": 2, "0-d": np.asarray(np.ravel(b)[0], dtype)}
    if n_targets is not None:
        forms["array"] = np.asarray(b, dtype)
    return forms


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("read_only", [False, True], ids=["writeable", "read-only X, y"])
def test_fast_path_is_the_validated_path_bit_for_bit(
    monkeypatch, compiled_backend, dtype, layout, shape, read_only
):
    X, y, W, b = make_problem(*shape, dtype=dtype, layout=layout)
    coef = np.ascontiguousarray(W, dtype=dtype) * 0.5
    if read_only:
        X.flags.writeable = y.flags.writeable = False
    for intercept in intercepts(b, shape[2], dtype).values():
        for n_threads in (None, 1):
            slow = validated(
                monkeypatch, X, y, coef, intercept, backend=compiled_backend, n_threads=n_threads
            )
            with monkeypatch.context() as patch:
                patch.setattr(_api, "as_data", None)  # the fast path must not need it
                fast = fastgd.gradient(
                    X, y, coef, intercept, backend=compiled_backend, n_threads=n_threads
                )
            assert_same_result(fast, slow)


def _strided(X):
    wide = np.zeros((X.shape[0], 2 * X.shape[1]), dtype=X.dtype)
    wide[:, ::2] = X
    return wide[:, ::2]


# Inputs the fast path leaves to the validated path: (label, how to change X, y, coef,
# intercept, keywords), with the warning the validated path gives, if any.
FALLBACKS = (
    ("strided X", lambda X, y, c, b: (_strided(X), y, c, b, {}), fastgd.CopyWarning),
    (
        "integer X",
        lambda X, y, c, b: (X.round().astype(np.int64), y, c, b, {}),
        fastgd.CopyWarning,
    ),
    ("list X", lambda X, y, c, b: (X.tolist(), y, c, b, {}), None),
    ("y of another dtype", lambda X, y, c, b: (X, y.astype(np.float16), c, b, {}), None),
    ("strided coef", lambda X, y, c, b: (X, y, np.repeat(c, 2, axis=-1)[..., ::2], b, {}), None),
    ("read-only coef", lambda X, y, c, b: (X, y, _read_only(c), b, {}), None),
    ("coef of another dtype", lambda X, y, c, b: (X, y, c.astype(np.float16), b, {}), None),
    (
        "intercept list, or float32 scalar for 1-D y",
        lambda X, y, c, b: (X, y, c, np.ravel(b).tolist() if np.ndim(b) else np.float32(b), {}),
        None,
    ),
    ("intercept of another dtype", lambda X, y, c, b: (X, y, c, np.float16(0.5), {}), None),
    ("sample_weight", lambda X, y, c, b: (X, y, c, b, {"sample_weight": np.ones(len(X))}), None),
    ("n_threads numpy int", lambda X, y, c, b: (X, y, c, b, {"n_threads": np.int64(1)}), None),
    (
        "byte-swapped X",
        lambda X, y, c, b: (X.astype(X.dtype.newbyteorder()), y, c, b, {}),
        fastgd.CopyWarning,
    ),
    ("masked y", lambda X, y, c, b: (X, np.ma.masked_array(y), c, b, {}), None),
    (
        "byte-swapped coef",
        lambda X, y, c, b: (X, y, c.astype(c.dtype.newbyteorder()), b, {}),
        None,
    ),
)


def _read_only(a):
    a = a.copy()
    a.flags.writeable = False
    return a


@pytest.mark.parametrize("change", FALLBACKS, ids=lambda c: c[0])
@pytest.mark.parametrize("shape", [(4, 2, None), (37, 5, 3)], ids=str)
def test_other_inputs_take_the_validated_path(monkeypatch, compiled_backend, dtype, shape, change):
    _, make, warning = change
    X, y, W, b = make_problem(*shape, dtype=dtype)
    X, y, coef, intercept, keywords = make(X, y, W.astype(dtype), b)
    calls = []
    validate = _api.as_data
    monkeypatch.setattr(_api, "as_data", lambda *a: calls.append(1) or validate(*a))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fast = fastgd.gradient(X, y, coef, intercept, backend=compiled_backend, **keywords)
        slow = validated(monkeypatch, X, y, coef, intercept, backend=compiled_backend, **keywords)
    assert calls == [1, 1]  # both went through as_data
    assert [w.category for w in caught] == ([warning] * 2 if warning else [])
    assert_same_result(fast, slow)


@pytest.mark.parametrize("n_targets", [None, 3])
def test_the_callers_arrays_are_not_written(
    compiled_backend, dtype, layout, n_targets, no_validation
):
    X, y, W, b = make_problem(300, 7, n_targets, dtype=dtype, layout=layout)
    coef = np.ascontiguousarray(W, dtype=dtype)
    intercept = np.asarray(b, dtype=dtype)
    before = [a.copy() for a in (X, y, coef, intercept)]
    for _ in range(3):
        fastgd.gradient(X, y, coef, intercept, backend=compiled_backend)
    for a, original in zip((X, y, coef, intercept), before):
        np.testing.assert_array_equal(a, original)
        assert a.flags.writeable


def test_returned_arrays_are_not_overwritten_by_the_next_call(
    compiled_backend, dtype, no_validation
):
    # The promise of fastgd.gradient: fresh arrays in X's dtype, the caller's to keep.
    X, y, W, b = make_problem(37, 5, 3, dtype=dtype)
    first = fastgd.gradient(X, y, W.astype(dtype), b.astype(dtype), backend=compiled_backend)
    kept = [np.copy(a) for a in first[:2]]
    second = fastgd.gradient(X, y, 2 * W.astype(dtype), b.astype(dtype), backend=compiled_backend)
    assert not np.array_equal(first[0], second[0])
    for a, copy in zip(first[:2], kept):
        np.testing.assert_array_equal(a, copy)
        assert a.dtype == dtype and a.flags.writeable
    plan = _backends.get_backend(compiled_backend).gradient_plan(37, 5, 3, np.dtype(dtype), None)
    for a in first[:2] + second[:2]:
        assert not np.shares_memory(a, plan.scratch.grad_W)
        assert not np.shares_memory(a, plan.scratch.grad_b)


def test_one_d_y_gives_a_scalar_intercept_gradient_in_xs_dtype(
    compiled_backend, dtype, no_validation
):
    X, y, W, _ = make_problem(4, 2, dtype=dtype)
    grad_coef, grad_intercept, loss = fastgd.gradient(
        X, y, W.astype(dtype), 0.5, backend=compiled_backend
    )
    assert grad_coef.shape == (2,) and grad_coef.dtype == dtype
    assert type(grad_intercept) is np.dtype(dtype).type and type(loss) is float


def test_plans_are_per_thread(compiled_backend, dtype):
    # Threads calling at once, with different shapes (two threads per shape): each
    # gets its own plan, and the right answer every time.
    shapes = [(4, 2, None), (37, 5, 3), (300, 7, 2), (1000, 3, None)] * 2
    problems = [make_problem(*shape, dtype=dtype, seed=i) for i, shape in enumerate(shapes)]
    expected = [fastgd.gradient(X, y, W, b, backend="numpy") for X, y, W, b in problems]
    serial = [
        fastgd.gradient(X, y, W.astype(dtype), b, backend=compiled_backend)
        for X, y, W, b in problems
    ]
    barrier = threading.Barrier(len(problems))

    def loop(i):
        X, y, W, b = problems[i]
        barrier.wait()
        results = [
            fastgd.gradient(X, y, W.astype(dtype), b, backend=compiled_backend) for _ in range(200)
        ]
        plan = _backends.get_backend(compiled_backend).gradient_plan(
            X.shape[0], X.shape[1], 1 if y.ndim == 1 else y.shape[1], X.dtype, None
        )
        return results, plan

    with ThreadPoolExecutor(len(problems)) as pool:
        outcomes = list(pool.map(loop, range(len(problems))))
    plans = [plan for _, plan in outcomes]
    assert len({id(plan) for plan in plans}) == len(plans)  # one per thread
    for (results, _), same, reference in zip(outcomes, serial, expected):
        for result in results:
            assert_same_result(result, same)
        rtol = GRAD_RTOL[dtype] * 10
        for a, b in zip(same, reference):
            np.testing.assert_allclose(
                np.asarray(a, np.float64),
                np.asarray(b, np.float64),
                rtol=rtol,
                atol=rtol * max(1.0, np.abs(b).max()),
            )


def test_a_thread_keeps_at_most_max_plans(compiled_backend):
    backend = _backends.get_backend(compiled_backend)

    def count():
        for n in range(1, _backends.MAX_PLANS + 5):
            fastgd.gradient(np.ones((n, 2)), np.ones(n), np.zeros(2), backend=compiled_backend)
        return len(backend.plans.of_thread())

    with ThreadPoolExecutor(1) as pool:  # a fresh thread: no plans yet
        assert pool.submit(count).result() == _backends.MAX_PLANS


def test_arrays_changed_in_place_between_calls_give_their_new_gradient(
    compiled_backend, dtype, no_validation
):
    # A loop over the same arrays, changed in place between calls: every call sees
    # what the caller wrote since (no view or plan keeps a stale copy).
    X, y, W, b = make_problem(37, 5, None, dtype=dtype)
    coef = np.ascontiguousarray(W, dtype=dtype)
    other_X = (X * 2).astype(dtype)
    for step in range(4):
        for data in (X, other_X, X):  # and another X of the same shape in between
            got = fastgd.gradient(data, y, coef, 0.5, backend=compiled_backend)
            residual = data.astype(float) @ coef + 0.5 - y  # NumPy, in float64
            expected = (
                residual @ data / len(y),
                residual.mean(),
                residual @ residual / (2 * len(y)),
            )
            rtol = GRAD_RTOL[dtype]
            np.testing.assert_allclose(
                got[0], expected[0], rtol=rtol, atol=rtol * np.abs(expected[0]).max()
            )
            assert got[1] == pytest.approx(expected[1], rel=rtol, abs=rtol * abs(expected[1]))
            assert got[2] == pytest.approx(expected[2], rel=rtol)
        coef -= np.asarray(0.1 * got[0], dtype)  # the loop a user writes
        X[step, :] += 1
        y[step] -= 1


@pytest.mark.parametrize("n_rows", [10, 1 << 16])
def test_the_callers_arrays_are_not_kept_after_the_call(compiled_backend, n_rows):
    # No view of X, y or coef outlives the call: they are freed when the caller drops
    # them, an array that owns its data can be resized, and a memory map closed.
    X, y, coef = np.ones((n_rows, 4)), np.ones(n_rows), np.zeros(4)
    fastgd.gradient(X, y, coef, backend=compiled_backend)
    refs = [weakref.ref(a) for a in (X, y, coef)]
    del X, y, coef
    gc.collect()
    assert [ref() for ref in refs] == [None] * 3

    X = np.ones((n_rows, 4))
    fastgd.gradient(X, np.ones(n_rows), np.zeros(4), backend=compiled_backend)
    X.resize((n_rows + 1, 4))  # ValueError if anything still referenced it
    mapped = mmap.mmap(-1, 8 * 4 * n_rows)
    X = np.frombuffer(mapped, np.float64).reshape(n_rows, 4)
    fastgd.gradient(X, np.ones(n_rows), np.zeros(4), backend=compiled_backend)
    del X
    mapped.close()  # BufferError if a buffer of it were still exported


def _nan_at(a, index, value=np.nan):
    a = np.array(a, copy=True)
    a[index] = value
    return a


NON_FINITE = (
    ("NaN in X", lambda X, y, c, b: (_nan_at(X, (1, 0)), y, c, b)),
    ("inf in X", lambda X, y, c, b: (_nan_at(X, (2, 1), np.inf), y, c, b)),
    ("NaN in y", lambda X, y, c, b: (X, _nan_at(y, 3), c, b)),
    ("inf in coef", lambda X, y, c, b: (X, y, _nan_at(c, 1, -np.inf), b)),
    ("NaN intercept", lambda X, y, c, b: (X, y, c, float("nan"))),
    (
        "overflow",
        lambda X, y, c, b: (np.full_like(X, np.finfo(X.dtype).max), y, np.ones_like(c), b),
    ),
)


@pytest.mark.parametrize("change", NON_FINITE, ids=lambda c: c[0])
def test_non_finite_inputs_raise_as_on_the_validated_path(
    monkeypatch, compiled_backend, dtype, change
):
    X, y, W, b = make_problem(5, 2, dtype=dtype)
    arguments = change[1](X, y, W.astype(dtype), float(b))
    with pytest.raises((ValueError, FloatingPointError)) as slow:
        validated(monkeypatch, *arguments, backend=compiled_backend)
    with np.errstate(over="ignore"), pytest.raises(slow.type) as fast:
        fastgd.gradient(*arguments, backend=compiled_backend)
    assert str(fast.value) == str(slow.value)


def test_gradient_views_cut_the_two_buffers_exactly():
    # The views tile each buffer in order, without gaps or overlaps, C-contiguous.
    n_chunks, n_targets, n_features, block_rows = 3, 2, 5, 7
    sizes = _layout.gradient_buffer_sizes(n_chunks, n_targets, n_features, block_rows)
    buffers = np.arange(sizes[0], dtype=np.float64), np.arange(sizes[1], dtype=np.float32)
    views = _layout.gradient_views(*buffers, n_chunks, n_targets, n_features, block_rows)
    shapes = [(2, 5), (2,), (3, 2, 5), (3, 2), (3,), (3, 2, 5), (3, 2), (3, 2, 7)]
    assert [v.shape for v in views] == shapes
    for buffer, part in ((buffers[0], views[:5]), (buffers[1], views[5:])):
        assert all(v.flags.c_contiguous and v.base is buffer for v in part)
        np.testing.assert_array_equal(np.concatenate([v.ravel() for v in part]), buffer)
