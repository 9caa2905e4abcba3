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


def gradient(X, Y, W, b, sample_weight=None):
    """Gradient of half the (weighted) MSE and the loss, in float64.

    With weights s (N,), the objective is ``sum(s_i * ||R_i||^2) / (2 * sum(s))``:
    ``G_W = (s * R).T @ X / sum(s)`` and ``g_b = (s * R).sum(0) / sum(s)``; no
    weights is s = 1. Returns ``(grad_W, grad_b, loss)`` with ``grad_W`` of shape
    (K, D), ``grad_b`` of shape (K,) (both float64) and ``loss`` a Python float.
    """
    X64 = X.astype(np.float64, copy=False)
    R = X64 @ W.T.astype(np.float64) + b.astype(np.float64) - Y.astype(np.float64)
    if sample_weight is None:
        s, total = np.ones(X.shape[0]), X.shape[0]
    else:
        s = sample_weight.astype(np.float64)
        total = s.sum()
    weighted_R = s[:, None] * R
    grad_W = weighted_R.T @ X64 / total
    grad_b = weighted_R.sum(axis=0) / total
    loss = float(np.sum(weighted_R * R) / (2 * total))
    return grad_W, grad_b, loss


def penalty(W, l1, l2, n_penalized):
    """The penalty ``l1 * ||P||_1 + l2 / 2 * ||P||_2^2`` of ``P = W[:, :n_penalized]``."""
    P = W[:, :n_penalized].astype(np.float64)
    return float(l1 * np.abs(P).sum() + 0.5 * l2 * (P * P).sum())


def soft_threshold(x, threshold):
    """The proximal operator of ``threshold * |x|``: shrink towards 0, exactly to 0."""
    return np.where(np.abs(x) > threshold, x - threshold * np.sign(x), 0.0)


def proximal_step(W, grad_W, lr, l1, l2, n_penalized):
    """One proximal gradient step on ``W`` (float64 in and out), and its gradient map.

    The smooth part of the objective has gradient ``G_W + l2 * P`` on the penalized
    columns P; the L1 part is handled by its proximal operator, soft-thresholding
    by ``lr * l1``, so that coefficients become exactly zero. Returns
    ``(W_new, mapping)`` with ``mapping = (W - W_new) / lr``, written without
    cancellation: the smooth gradient plus ``l1 * sign`` where the coefficient
    survives, ``W / lr`` where it is set to zero. With no penalty, ``mapping`` is
    ``G_W`` itself and ``W_new = W - lr * G_W``.
    """
    smooth = grad_W.copy()
    smooth[:, :n_penalized] += l2 * W[:, :n_penalized]
    step = W - lr * smooth
    mapping = smooth
    if l1 > 0:
        s = step[:, :n_penalized]
        survives = np.abs(s) > lr * l1
        sign = np.sign(s)
        mapping[:, :n_penalized] = np.where(survives, smooth[:, :n_penalized] + l1 * sign,
                                            W[:, :n_penalized] / lr)
        step[:, :n_penalized] = np.where(survives, s - lr * l1 * sign, 0.0)
    return step, mapping


def fit(X, Y, W, b, lr, max_iter, tol, fit_intercept, ref_grad_norm2=0.0,
        l1=0.0, l2=0.0, n_penalized=None, momentum=0.0, nesterov=False,
        sample_weight=None):
    """Full-batch (proximal) gradient descent; updates ``W`` and ``b`` in place.

    The objective is the half MSE plus ``penalty(W, l1, l2, n_penalized)`` (the
    first ``n_penalized`` columns of W, all of them by default; never b). Iteration
    ``t`` (0-based) evaluates the gradient and the objective at the current
    coefficients, records the objective in ``loss_history[t]``, applies the step of
    ``proximal_step`` (``W -= lr * G_W`` without penalty) and ``b -= lr * g_b`` when
    ``fit_intercept``, then stops with CONVERGED if ``tol > 0`` and
    ``||g_t|| <= tol * max(||g_0||, ||g_ref||)``: Euclidean norms over all fitted
    coefficients of the gradient map (the gradient itself without L1), ``g_0`` at
    the starting point and ``||g_ref||**2 = ref_grad_norm2`` given by the caller
    (the zero model's: see ``_api.fit``).

    With ``momentum > 0`` the step follows torch.optim.SGD: the velocity
    ``v = momentum * v + g`` (g the smooth gradient, v = 0 at the start) and the
    direction ``d = v``, or ``d = g + momentum * v`` with ``nesterov``, for W and b
    alike; the L1 proximal step then applies to ``W - lr * d``. The stopping test
    still uses the gradient map at the current point, as without momentum.

    Stops with DIVERGED, before applying the update, when the objective is not
    finite or exceeds ``DIVERGENCE_FACTOR`` times the first one.

    Returns ``(n_iter, status, loss_history)`` where ``n_iter`` is the number of
    iterations run (``len(loss_history)``).
    """
    if n_penalized is None:
        n_penalized = W.shape[1]
    loss_history = np.empty(max_iter, dtype=np.float64)
    threshold = 0.0
    velocity_W, velocity_b = np.zeros(W.shape), np.zeros(b.shape)
    for it in range(max_iter):
        grad_W, grad_b, loss = gradient(X, Y, W, b, sample_weight)
        loss_history[it] = loss + penalty(W, l1, l2, n_penalized)
        if not loss_history[it] <= DIVERGENCE_FACTOR * max(loss_history[0],
                                                           np.finfo(np.float64).tiny):
            return it + 1, DIVERGED, loss_history[: it + 1]
        # The step is taken in float64 and rounded once to the coefficients' dtype,
        # as the kernels do.
        W_new, mapping = proximal_step(W.astype(np.float64), grad_W, lr, l1, l2, n_penalized)
        grad_norm2 = np.sum(mapping * mapping)
        if fit_intercept:
            grad_norm2 += np.sum(grad_b * grad_b)
        if it == 0:
            threshold = tol * tol * max(grad_norm2, ref_grad_norm2)
        direction_b = grad_b
        if momentum > 0:
            smooth = grad_W.copy()
            smooth[:, :n_penalized] += l2 * W[:, :n_penalized]
            velocity_W[...] = momentum * velocity_W + smooth
            velocity_b[...] = momentum * velocity_b + grad_b
            direction_W = smooth + momentum * velocity_W if nesterov else velocity_W.copy()
            direction_b = grad_b + momentum * velocity_b if nesterov else velocity_b
            W_new = W - lr * direction_W
            W_new[:, :n_penalized] = soft_threshold(W_new[:, :n_penalized], lr * l1)
        W[...] = W_new
        if fit_intercept:
            b[...] = b - lr * direction_b
        if tol > 0 and grad_norm2 <= threshold:
            return it + 1, CONVERGED, loss_history[: it + 1]
    return max_iter, MAX_ITER, loss_history
