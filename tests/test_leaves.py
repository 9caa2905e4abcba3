"""Every backend's leaves (partial_gradient, update, shuffle) against the reference,
and the one Python epoch loop (fastgd/_epochs.py) over compiled leaves against the
compiled loop: what a new backend, or a distributed engine, must provide."""

import numpy as np
import pytest

from fastgd import _backends, _epochs, _layout, _reference

from conftest import COMPILED_BACKENDS, GRAD_RTOL, make_problem


def _block_sums(backend, X, Y, W, b, weights, block_rows):
    """partial_gradient over consecutive blocks of rows, added in block order."""
    total = None
    for start in range(0, X.shape[0], block_rows):
        rows = slice(start, start + block_rows)
        block_weights = None if weights is None else weights[rows]
        Xb = np.asfortranarray(X[rows]) if X.flags.f_contiguous and X.ndim == 2 else X[rows]
        part = backend.partial_gradient(
            Xb, Y[rows], W, b, not Xb.flags.c_contiguous, None, block_weights
        )
        part = (part[0].copy(), part[1].copy(), part[2])  # the leaf's buffers are reused
        total = part if total is None else tuple(t + p for t, p in zip(total, part))
    return total


@pytest.mark.parametrize("name", _backends.BACKENDS)
@pytest.mark.parametrize("weighted", [False, True])
def test_partial_gradient_blocks_add_up_to_the_unnormalised_sums(name, weighted, dtype, layout):
    X, Y, _, _ = make_problem(700, 6, 2, dtype=dtype, layout=layout, seed=3)
    rng = np.random.default_rng(4)
    W = rng.standard_normal((2, 6)).astype(dtype)
    b = rng.standard_normal(2).astype(dtype)
    weights = rng.uniform(0, 2, 700).astype(dtype) if weighted else None
    backend = _backends.get_backend(name)
    sum_W, sum_b, half_sq = _block_sums(backend, X, Y, W, b, weights, 256)
    ref_W, ref_b, ref_half_sq = _reference.rows_gradient(X, Y, W, b, weights, slice(None))
    # Scale of the terms summed, as conftest's GRAD_RTOL is defined against.
    R = np.abs(X.astype(np.float64) @ W.T.astype(np.float64)) + np.abs(b) + np.abs(Y)
    scale_W = (R.T @ np.abs(X.astype(np.float64))).max()
    rtol = GRAD_RTOL[dtype]
    np.testing.assert_allclose(sum_W, ref_W, rtol=0, atol=rtol * scale_W)
    np.testing.assert_allclose(sum_b, ref_b, rtol=0, atol=rtol * R.sum(axis=0).max())
    assert half_sq == pytest.approx(ref_half_sq, rel=rtol)
    # ... and the gradient is those sums over the total weight.
    grad_W, _, loss = backend.gradient(X, Y, W, b, not X.flags.c_contiguous, None, weights)
    total = 700 if weights is None else float(weights.sum(dtype=np.float64))
    np.testing.assert_allclose(grad_W, ref_W / total, rtol=0, atol=rtol * scale_W / total)
    assert loss == pytest.approx(ref_half_sq / total, rel=rtol)


UPDATE_OPTIONS = {
    "plain": {},
    "no intercept": {"fit_intercept": False},
    "l2": {"l2": 0.3},
    "l1": {"l1": 0.5},
    "elasticnet, 2 of 3 columns penalized": {"l1": 0.2, "l2": 0.1, "n_penalized": 2},
    "momentum": {"momentum": 0.9},
    "momentum, l1": {"momentum": 0.9, "l1": 0.5},
    "nesterov": {"momentum": 0.9, "nesterov": True},
    "nesterov, l1": {"momentum": 0.9, "nesterov": True, "l1": 0.5},
}


@pytest.mark.parametrize("name", COMPILED_BACKENDS)
@pytest.mark.parametrize("case", UPDATE_OPTIONS)
def test_update_is_the_references_step(name, case, dtype):
    values = {"lr": 0.1, "n_penalized": 3, **UPDATE_OPTIONS[case]}
    options = _layout.FitOptions.of(**values)
    rng = np.random.default_rng(5)
    W0 = rng.standard_normal((2, 3)).astype(dtype)
    b0 = rng.standard_normal(2).astype(dtype)
    grad_W, grad_b = rng.standard_normal((2, 3)), rng.standard_normal(2)
    results = []
    for backend in (_backends.get_backend("numpy"), _backends.get_backend(name)):
        model = _layout.Model(W0.copy(), b0.copy())
        optimizer = _backends.Optimizer.new(0.1, 2, 3, seed=1)
        optimizer.velocity_W[...] = 0.5  # a velocity to carry on from
        optimizer.velocity_b[...] = -0.5
        norm2 = backend.update(model, grad_W, grad_b, 0.1, options, optimizer.arrays)
        for _ in range(3):  # and a few more steps, the velocities carrying over
            norm2 = backend.update(model, grad_W, grad_b, 0.1, options, optimizer.arrays)
        results.append((model.W, model.b, optimizer.velocity_W, optimizer.velocity_b, norm2))
    eps = np.finfo(dtype).eps
    for got, expected in zip(results[1][:4], results[0][:4]):
        np.testing.assert_allclose(got, expected, rtol=8 * eps, atol=8 * eps, err_msg=case)
    assert results[1][4] == pytest.approx(results[0][4], rel=1e-12)
    assert not np.array_equal(results[0][0], W0)  # the step moved W


@pytest.mark.parametrize("name", COMPILED_BACKENDS)
def test_shuffle_draws_the_references_permutation(name):
    expected = np.arange(1000, dtype=np.int64)
    reference_state = np.array([2**63 + 12345], dtype=np.uint64)
    got = expected.copy()
    state = reference_state.copy()
    for _ in range(3):
        _reference.shuffle(expected, 900, reference_state)
        _backends.get_backend(name).shuffle(got, 900, state)
    np.testing.assert_array_equal(got, expected)
    assert state[0] == reference_state[0]
    np.testing.assert_array_equal(got[900:], np.arange(900, 1000))  # order[n:] untouched
    assert not np.array_equal(got, np.arange(1000))


LOOP_OPTIONS = {
    "full batch": dict(batch_size=600, n_train=600),
    "mini-batches, shuffled, momentum": dict(
        batch_size=64, n_train=600, shuffle=True, momentum=0.5
    ),
    "per sample, invscaling, l1": dict(
        batch_size=1,
        n_train=600,
        shuffle=True,
        schedule=_layout.INVSCALING,
        l1=1e-3,
        n_penalized=5,
    ),
    "early stopping, adaptive": dict(
        batch_size=50,
        n_train=500,
        shuffle=True,
        early_stopping=True,
        schedule=_layout.ADAPTIVE,
        tol=1e-3,
        n_iter_no_change=2,
    ),
}


@pytest.mark.parametrize("name", COMPILED_BACKENDS)
@pytest.mark.parametrize("case", LOOP_OPTIONS)
def test_python_loop_over_compiled_leaves_is_the_compiled_loop(name, case):
    X, Y, _, _ = make_problem(600, 5, 2, seed=6)
    options = _layout.FitOptions.of(lr=0.01, **LOOP_OPTIONS[case])
    backend = _backends.get_backend(name)
    runs = []
    for loop in ("python", "compiled"):
        order = np.arange(600, dtype=np.int64)
        data = _backends.fit_data(X, Y, None, False, order, options.n_train)
        model = _layout.Model(np.zeros((2, 5)), np.zeros(2))
        optimizer = _backends.Optimizer.new(0.01, 2, 5, seed=7)
        history = np.empty((6, _layout.N_HISTORY))
        if loop == "python":
            n_epochs, status = _epochs.fit(
                backend, data, model, options, optimizer.arrays, history, 10**6
            )
        else:
            workspace = backend.fit_workspace(data, 2, options)
            n_epochs, status = backend.fit(
                data, model, options, optimizer, history, 10**6, workspace
            )
        runs.append((n_epochs, status, model.W, model.b, history[:n_epochs], order))
    (n0, s0, W0, b0, h0, o0), (n1, s1, W1, b1, h1, o1) = runs
    assert (n0, s0) == (n1, s1)
    np.testing.assert_array_equal(o0, o1)  # the same shuffles
    np.testing.assert_allclose(W0, W1, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b0, b1, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(h0, h1, rtol=1e-10, atol=1e-14)
    assert n0 > 1 and h0[-1, 0] < h0[0, 0]  # the fit ran, and moved
