"""The compiled gradient kernels against the NumPy reference, over the full matrix."""

import numpy as np
import pytest

import fastgd
from fastgd import _reference
from fastgd._backends import get_backend
from fastgd._validation import check_X

from conftest import GRAD_RTOL, SHAPES, make_problem


def _point(n_features, n_targets, dtype, seed=1):
    rng = np.random.default_rng(seed)
    k = 1 if n_targets is None else n_targets
    coef = rng.standard_normal((k, n_features)).astype(dtype)
    intercept = rng.standard_normal(k).astype(dtype)
    if n_targets is None:
        return coef[0], intercept[0]
    return coef, intercept


def _reference_gradient(X, y, coef, intercept):
    """The oracle, in float64, plus the scale |R|.T @ |X| / N of the sums it makes."""
    X64 = np.asarray(X, dtype=np.float64)
    Y = np.asarray(y, dtype=np.float64).reshape(X.shape[0], -1)
    W = np.asarray(coef, dtype=np.float64).reshape(Y.shape[1], -1)
    b = np.asarray(intercept, dtype=np.float64).reshape(-1)
    grad_W, grad_b, loss = _reference.gradient(X64, Y, W, b)
    R = np.abs(X64 @ W.T) + np.abs(b) + np.abs(Y)  # bounds |each residual term|
    scale_W = (R.T @ np.abs(X64) / X.shape[0]).max()
    scale_b = R.mean(axis=0).max()
    return grad_W, grad_b, loss, max(scale_W, scale_b), (R**2).mean() / 2


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_gradient_matches_reference(compiled_backend, dtype, layout, shape):
    n_samples, n_features, n_targets = shape
    X, y, _, _ = make_problem(n_samples, n_features, n_targets, dtype, layout)
    coef, intercept = _point(n_features, n_targets, dtype)

    g_coef, g_intercept, loss = fastgd.gradient(X, y, coef, intercept, backend=compiled_backend)
    ref_W, ref_b, ref_loss, scale, loss_scale = _reference_gradient(X, y, coef, intercept)

    context = f"backend={compiled_backend} dtype={np.dtype(dtype).name} layout={layout} shape={shape}"
    assert g_coef.dtype == dtype and g_coef.shape == np.shape(coef), context
    assert np.shape(g_intercept) == np.shape(intercept), context
    rtol = GRAD_RTOL[dtype]
    np.testing.assert_allclose(
        np.asarray(g_coef, dtype=np.float64).reshape(ref_W.shape), ref_W,
        rtol=rtol, atol=rtol * scale, err_msg=context,
    )
    np.testing.assert_allclose(
        np.asarray(g_intercept, dtype=np.float64).reshape(ref_b.shape), ref_b,
        rtol=rtol, atol=rtol * scale, err_msg=context,
    )
    assert loss == pytest.approx(ref_loss, rel=rtol, abs=rtol * loss_scale), context


def test_seed_002_single_sample_multi_output(backend):
    """Seed 002: y = Mx + b with L = sum((Mx + b - g)**2) has dL/dM = 2 (Mx + b - g) x^T
    and dL/db = 2 (Mx + b - g). fastgd's objective is that L / (2N) with N = 1."""
    rng = np.random.default_rng(2)
    m, n = 3, 4
    M, b_vec = rng.standard_normal((m, n)), rng.standard_normal(m)
    x, g = rng.standard_normal(n), rng.standard_normal(m)
    error = M @ x + b_vec - g
    g_coef, g_intercept, loss = fastgd.gradient(x[None, :], g[None, :], M, b_vec, backend=backend)
    np.testing.assert_allclose(g_coef, np.outer(2 * error, x) / 2, rtol=1e-13)
    np.testing.assert_allclose(g_intercept, 2 * error / 2, rtol=1e-13)
    assert loss == pytest.approx(np.sum(error**2) / 2, rel=1e-13)


def test_seed_000_gradient_formula(backend):
    """Seed 000: grad of the MSE/2 is X.T @ (score - y) / len(X), score = X @ w."""
    X, y, _, _ = make_problem(50, 4, seed=3)
    w = np.random.default_rng(4).standard_normal(4)
    g_coef, _, _ = fastgd.gradient(X, y, w, backend=backend)
    np.testing.assert_allclose(g_coef, X.T.dot(X.dot(w) - y) / len(X), rtol=1e-12)


def test_float32_accuracy(compiled_backend, layout):
    """float32 X: residuals and per-block sums are float32, block totals are float64,
    so the error does not grow with N. On 200 000 rows with a column of mean 1e3, one
    running float32 sum over all rows is off by 8e-6 of the gradient's scale; the
    blocked sums must stay within 1e-6 (they reach about 1e-8, the float32 rounding
    of the result itself)."""
    rng = np.random.default_rng(5)
    n_samples = 200_000
    X64 = rng.standard_normal((n_samples, 4))
    X64[:, 0] = 1e3 + X64[:, 0]
    y64 = X64 @ np.array([1e-3, 2.0, -1.0, 0.5]) + 3.0
    X32 = np.asarray(X64, dtype=np.float32, order=layout)
    y32 = y64.astype(np.float32)
    coef = np.zeros(4, dtype=np.float32)
    g32, gb32, loss32 = fastgd.gradient(X32, y32, coef, 0.0, backend=compiled_backend)
    ref_W, ref_b, ref_loss = _reference.gradient(
        X32.astype(np.float64), y32.astype(np.float64)[:, None], np.zeros((1, 4)), np.zeros(1)
    )
    scale = np.abs(ref_W).max()
    np.testing.assert_allclose(g32, ref_W[0], rtol=1e-6, atol=1e-6 * scale)
    assert gb32 == pytest.approx(ref_b[0], rel=1e-6)
    assert loss32 == pytest.approx(ref_loss, rel=1e-6)


def test_readonly_and_broadcast_inputs(compiled_backend, dtype):
    """Read-only X and a stride-0 y (as the lr estimator passes) are legal kernel inputs."""
    X, y, _, _ = make_problem(300, 4, dtype=dtype)
    X.setflags(write=False)
    Xc, x_is_f = check_X(X)
    assert Xc is X
    zeros = np.broadcast_to(np.zeros((1, 1), dtype=dtype), (300, 1))
    W = np.ones((1, 4), dtype=dtype)
    b = np.ones(1, dtype=dtype)
    grad_W, grad_b, loss = get_backend(compiled_backend).gradient(X, zeros, W, b, x_is_f)
    ref_W, ref_b, ref_loss = _reference.gradient(X, np.zeros((300, 1)), W, b)
    rtol = GRAD_RTOL[dtype]
    np.testing.assert_allclose(grad_W, ref_W, rtol=rtol, atol=rtol * np.abs(ref_W).max())
    np.testing.assert_allclose(grad_b, ref_b, rtol=rtol, atol=rtol)


@pytest.mark.slow
def test_index_arithmetic_is_64_bit(compiled_backend):
    """N * D > 2**31: a 32-bit row offset i * D would wrap around. 8.6 GB of float32."""
    n_samples, n_features = 1_100_000, 2000
    assert n_samples * n_features > 2**31
    X = np.zeros((n_samples, n_features), dtype=np.float32)
    X[-1, -1] = 1.0  # the only non-zero: found only if the last row is addressed right
    X[-1, 0] = 2.0
    y = np.zeros(n_samples, dtype=np.float32)
    y[-1] = 1.0
    coef = np.zeros(n_features, dtype=np.float32)
    g_coef, g_intercept, _ = fastgd.gradient(X, y, coef, 0.0, backend=compiled_backend)
    expected = np.zeros(n_features)
    expected[0], expected[-1] = -2.0 / n_samples, -1.0 / n_samples
    np.testing.assert_allclose(g_coef, expected, rtol=1e-6)
    assert g_intercept == pytest.approx(-1.0 / n_samples, rel=1e-6)
