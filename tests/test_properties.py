"""Hypothesis: the compiled gradient kernels equal the reference on random inputs."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fastgd
from fastgd import _reference

from conftest import COMPILED_BACKENDS, GRAD_RTOL

finite = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, allow_infinity=False)


@st.composite
def problems(draw):
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    n_samples = draw(st.integers(1, 600))
    n_features = draw(st.integers(1, 12))
    n_targets = draw(st.sampled_from([None, 1, 2, 3]))
    k = 1 if n_targets is None else n_targets
    elements = finite.map(lambda v: dtype(v))  # values representable in dtype
    X = draw(hnp.arrays(dtype, (n_samples, n_features), elements=elements))
    y_shape = (n_samples,) if n_targets is None else (n_samples, k)
    y = draw(hnp.arrays(dtype, y_shape, elements=elements))
    coef_shape = (n_features,) if n_targets is None else (k, n_features)
    coef = draw(hnp.arrays(dtype, coef_shape, elements=finite.map(lambda v: dtype(v / 1e3))))
    intercept = draw(finite) if n_targets is None else draw(hnp.arrays(dtype, (k,), elements=elements))
    layout = draw(st.sampled_from("CF"))
    return np.asarray(X, order=layout), y, coef, intercept


@pytest.mark.parametrize("backend", COMPILED_BACKENDS)
@settings(max_examples=60, deadline=None)
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
    np.testing.assert_allclose(np.reshape(g_intercept, ref_b.shape), ref_b, rtol=rtol,
                               atol=rtol * terms.mean(axis=0).max())
    assert loss == pytest.approx(ref_loss, rel=rtol, abs=rtol * (terms**2).mean())
