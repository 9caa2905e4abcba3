"""Plain NumPy reference: the source of truth for fastgd's math.

Every compiled kernel is tested against the functions here, and the ``"numpy"``
backend runs them directly. They are written for clarity, not speed: each line is
the formula of the README's "The math" section.

Shapes (the API layer has already validated and cast everything):

* ``X`` (N, D), ``Y`` (N, K), ``W`` (K, D), ``b`` (K,), all of one float dtype.

Model, residual, objective and gradient::

    R   = X @ W.T + b - Y                   # (N, K)
    L   = sum(R ** 2) / (2 N)               # half the mean squared error
    G_W = R.T @ X / N                       # (K, D)
    g_b = R.mean(axis=0)                    # (K,)
"""

import numpy as np

# Status codes returned by every backend's fit (kernels return the same integers).
MAX_ITER = 0
CONVERGED = 1
DIVERGED = 2

# A fit is declared diverged as soon as its loss is not finite or exceeds this many
# times the loss at the starting point. With lr < 2/L gradient descent on a quadratic
# never increases the loss, so crossing this bar is proof of divergence, long before
# the coefficients overflow. The compiled kernels use the same constant.
DIVERGENCE_FACTOR = 1e4


def gradient(X, Y, W, b):
    """Gradient of half the MSE and the loss, in float64.

    Returns ``(grad_W, grad_b, loss)`` with ``grad_W`` of shape (K, D), ``grad_b``
    of shape (K,) (both float64) and ``loss`` a Python float.
    """
    X64 = X.astype(np.float64, copy=False)
    R = X64 @ W.T.astype(np.float64) + b.astype(np.float64) - Y.astype(np.float64)
    n_samples = X.shape[0]
    grad_W = R.T @ X64 / n_samples
    grad_b = R.mean(axis=0)
    loss = float(np.sum(R * R) / (2 * n_samples))
    return grad_W, grad_b, loss


def fit(X, Y, W, b, lr, max_iter, tol, fit_intercept, ref_grad_norm2=0.0):
    """Full-batch gradient descent; updates ``W`` and ``b`` in place.

    Iteration ``t`` (0-based) evaluates the gradient and loss at the current
    coefficients, records the loss in ``loss_history[t]``, applies the update
    ``W -= lr * G_W`` (and ``b -= lr * g_b`` when ``fit_intercept``), then stops
    with CONVERGED if ``tol > 0`` and ``||g_t|| <= tol * max(||g_0||, ||g_ref||)``:
    Euclidean norms of the gradient over all fitted coefficients, ``g_0`` at the
    starting point and ``||g_ref||**2 = ref_grad_norm2`` given by the caller (the
    gradient of the zero model: see ``_api.fit``).

    Stops with DIVERGED, before applying the update, when the loss is not finite
    or exceeds ``DIVERGENCE_FACTOR`` times the first loss.

    Returns ``(n_iter, status, loss_history)`` where ``n_iter`` is the number of
    iterations run (``len(loss_history)``).
    """
    loss_history = np.empty(max_iter, dtype=np.float64)
    threshold = 0.0
    for it in range(max_iter):
        grad_W, grad_b, loss = gradient(X, Y, W, b)
        loss_history[it] = loss
        if not loss <= DIVERGENCE_FACTOR * max(loss_history[0], np.finfo(np.float64).tiny):
            return it + 1, DIVERGED, loss_history[: it + 1]
        grad_norm2 = np.sum(grad_W * grad_W)
        if fit_intercept:
            grad_norm2 += np.sum(grad_b * grad_b)
        if it == 0:
            threshold = tol * tol * max(grad_norm2, ref_grad_norm2)
        # The step is taken in float64 and rounded once to the coefficients' dtype,
        # as the kernels do.
        W[...] = W - lr * grad_W
        if fit_intercept:
            b[...] = b - lr * grad_b
        if tol > 0 and grad_norm2 <= threshold:
            return it + 1, CONVERGED, loss_history[: it + 1]
    return max_iter, MAX_ITER, loss_history
