"""``fastgd.gradient``'s fast path, in Python: arrays the kernels take as they are
skip the validation. The Numba kernels export it as their ``gradient_fast_path``;
the Cython kernels have its compiled mirror (``_cython_kernels.gradient_fast_path``),
which makes the same checks in C."""

import math

import numpy as np


def gradient_fast_path(X, y, coef, intercept, n_threads, plans):
    """``fastgd.gradient(X, y, coef, intercept, n_threads=n_threads)`` for arguments
    the kernels take as they are (``_kernel_arrays``, ``_kernel_intercept``):
    ``(grad_coef, grad_intercept, loss)``; None for anything else, and for a
    non-finite loss (the validated path then runs). ``plans``: the backend's
    ``_backends.GradientPlans``, whose plan for the shape this call runs. Reads the
    caller's arrays, writes none."""
    arrays = _kernel_arrays(X, y, coef)
    if arrays is None:
        return None
    x_is_f, Y, W, y_is_1d = arrays
    n_samples, n_features = X.shape
    plan = plans.plan(n_samples, n_features, W.shape[0], X.dtype, n_threads)
    b = _kernel_intercept(intercept, plan.intercept, y_is_1d, X.dtype)
    if b is None:
        return None
    loss = plan.run(X, Y, W, b, plan.no_weights, float(n_samples), x_is_f)
    if not math.isfinite(loss):
        return None
    # (copies: the plan's grad_W and grad_b are overwritten by the next call)
    grad_W, grad_b = plan.scratch.grad_W.astype(X.dtype), plan.scratch.grad_b.astype(X.dtype)
    if y_is_1d:  # the caller's shapes: coef (D,), a scalar intercept
        return grad_W[0], grad_b[0], loss
    return grad_W, grad_b, loss


_FLOAT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))


def _kernel_arrays(X, y, coef):
    """``(x_is_f, Y, W, y_is_1d)``, views of X, y, coef as the validated path would make
    them, if these are ndarrays of one float dtype (native byte order) that need no
    copy: X 2-D, not empty, C- or F-contiguous; y (N,) or (N, K); coef of the matching
    shape, C-contiguous, aligned and writeable (as the validated fresh copy is, so
    that a compiled kernel sees the same types); else None."""
    if type(X) is not np.ndarray or type(y) is not np.ndarray or type(coef) is not np.ndarray:
        return None
    dtype = X.dtype
    if dtype not in _FLOAT_DTYPES or y.dtype != dtype or coef.dtype != dtype:
        return None
    x_flags = X.flags
    # (forc: C- or F-contiguous; carray: C-contiguous, aligned and writeable)
    if X.ndim != 2 or X.size == 0 or not x_flags.forc or not coef.flags.carray:
        return None
    x_is_f = x_flags.fnc  # F-contiguous and not C-contiguous
    n_samples, n_features = X.shape
    if y.shape == (n_samples,) and coef.shape == (n_features,):
        return x_is_f, y[:, None], coef[None], True
    if (
        y.ndim == 2
        and y.shape[0] == n_samples
        and y.shape[1] > 0
        and coef.shape == (y.shape[1], n_features)
    ):
        return x_is_f, y, coef, False
    return None


def _kernel_intercept(intercept, buffer, y_is_1d, dtype):
    """The intercept as the kernels' (K,) array, written into ``buffer`` (the plan's
    own): for a number (as check_intercept fills its copy), or an ndarray of X's dtype,
    0-d or (K,) with 2-D y; else None."""
    if type(intercept) is float or (
        isinstance(intercept, (int, float)) and not isinstance(intercept, bool)
    ):
        try:
            buffer.fill(intercept)
        except OverflowError:  # an int beyond float64: check_intercept names it
            return None
    elif (
        type(intercept) is np.ndarray
        and intercept.dtype == dtype
        and (intercept.ndim == 0 or (not y_is_1d and intercept.shape == buffer.shape))
    ):
        np.copyto(buffer, intercept)
    else:
        return None
    return buffer
