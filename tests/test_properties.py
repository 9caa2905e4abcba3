"""Hypothesis: the compiled gradient kernels equal the reference on random inputs."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastgd
from fastgd import _reference

from conftest import COMPILED_BACKENDS, GRAD_RTOL


@st.composite
def problems(draw):
    """Random shapes, scales, layouts and dtypes; values from a seeded generator (whole
    arrays drawn element by element by Hypothesis exceed its data budget), with
    Hypothesis free to zero out rows and columns and to pick extreme scales."""
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    n_samples = draw(st.integers(1, 700))
    n_features = draw(st.integers(1, 16))
    n_targets = draw(st.sampled_from([None, 1, 2, 3]))
    k = 1 if n_targets is None else n_targets
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x_scale = 10.0 ** draw(st.integers(-3, 3))
    y_scale = 10.0 ** draw(st.integers(-3, 3))
    X = x_scale * rng.standard_normal((n_samples, n_features))
    X[:, draw(st.integers(0, n_features - 1))] += draw(st.sampled_from([0.0, 1.0, 1e3]))
    if draw(st.booleans()):
        X[draw(st.integers(0, n_samples - 1))] = 0.0
    Y = y_scale * rng.standard_normal((n_samples, k))
    W = rng.standard_normal((k, n_features)) * y_scale / x_scale
    b = y_scale * rng.standard_normal(k)
    X = np.asarray(X, dtype=dtype, order=draw(st.sampled_from("CF")))
    if n_targets is None:
        return X, Y[:, 0].astype(dtype), W[0].astype(dtype), dtype(b[0])
    return X, Y.astype(dtype), W.astype(dtype), b.astype(dtype)


@pytest.mark.parametrize("backend", COMPILED_BACKENDS)
@settings(max_examples=80, deadline=None)
@given(problem=problems())
def test_gradient_equals_reference(backend, problem):
    X, y, coef, intercept = problem
    g_coef, g_intercept, loss = fastgd.gradient(X, y, coef, intercept, backend=backend)

    X64 = X.astype(np.float64)
    Y = y.astype(np.float64).reshape(len(X), -1)
    W = coef.astype(np.float64).reshape(Y.shape[1], -1)
    b = np.asarray(intercept, dtype=X.dtype).astype(np.float64).reshape(-1)
    ref_W, ref_b, ref_loss = _reference.gradient(X64, Y, W, b)
    # Error bound: rtol times the sum of absolute values of the terms summed.
    terms = np.abs(X64) @ np.abs(W.T) + np.abs(b) + np.abs(Y)
    rtol = GRAD_RTOL[X.dtype.type]
    atol = rtol * (terms.T @ np.abs(X64) / len(X)).max() + np.finfo(X.dtype).tiny
    np.testing.assert_allclose(np.reshape(g_coef, ref_W.shape), ref_W, rtol=rtol, atol=atol)
    np.testing.assert_allclose(
        np.reshape(g_intercept, ref_b.shape),
        ref_b,
        rtol=rtol,
        atol=rtol * terms.mean(axis=0).max(),
    )
    assert loss == pytest.approx(ref_loss, rel=rtol, abs=rtol * (terms**2).mean())
