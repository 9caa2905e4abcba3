"""The compiled gradient kernels against the NumPy reference, over the full matrix."""

import numpy as np
import pytest

import fastgd
from fastgd import _reference


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
