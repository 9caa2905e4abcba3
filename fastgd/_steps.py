"""The update step on coefficient arrays, in NumPy: the penalty, its proximal step,
momentum, and the step of gradient descent that combines them.

Small arrays only ((K, D) coefficients and gradients): this is the NumPy backend's
``update`` leaf, what the methods written in Python (``_accelerated.py``) and the fit
pipeline use at run time, and part of the oracle (``_reference.py`` re-exports it)
that the compiled kernels' ``_update`` is tested against.
"""

import numpy as np


def penalty(W, l1, l2, n_penalized):
    """The penalty ``l1 * ||P||_1 + l2 / 2 * ||P||_2^2`` of ``P = W[:, :n_penalized]``."""
    P = W[:, :n_penalized].astype(np.float64)
    value = 0.0  # a term only when its weight is not 0: 0 * inf would be NaN
    if l1 != 0:
        value += l1 * np.abs(P).sum()
    if l2 != 0:
        value += 0.5 * l2 * (P * P).sum()
    return float(value)


def prox_l1(W, gradient, lr, l1):
    """The L1 proximal step from ``W`` along ``gradient``, and the step it took.

    ``z = W - lr * gradient`` is soft-thresholded by ``lr * l1`` (exact zeros).
    Returns ``(W_new, taken)`` with ``taken = (W - W_new) / lr`` written without
    cancellation: ``gradient + l1 * sign(z)`` where the coefficient survives, ``W /
    lr`` where it is set to zero.
    """
    z = W - lr * gradient
    survives = np.abs(z) > lr * l1
    sign = np.sign(z)
    return np.where(survives, z - lr * l1 * sign, 0.0), np.where(
        survives, gradient + l1 * sign, W / lr
    )


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
        p = n_penalized
        step[:, :p], mapping[:, :p] = prox_l1(W[:, :p], smooth[:, :p], lr, l1)
    return step, mapping


def momentum_step(W, grad_W, mapping, grad_b, lr, options, velocity_W, velocity_b):
    """The momentum step from W (float64); updates the velocities in place and
    returns ``(W_new, direction_b)`` (b moves by ``-lr * direction_b``).

    Without an L1 penalty, both are torch.optim.SGD's: ``v = momentum * v + g`` (g the
    smooth gradient) and the step ``-lr * v``, or ``-lr * (g + momentum * v)`` with
    ``nesterov``. With L1 the momentum must act on the proximal step, or the optimum
    would not be a fixed point (the velocity would carry the smooth gradient, which is
    not zero there). Heavy ball: ``W_new = prox(W - lr * (g + momentum * v))`` and
    ``v = (W - W_new) / lr``, the step taken (iPiano, Ochs et al. 2014): torch's ``v``
    plus the L1 correction, so W_new is exactly sparse. Nesterov: torch's step with
    the gradient map ``mapping`` (``(W - prox(W - lr * g)) / lr``) in place of g,
    which is FISTA with a constant momentum; its iterates are extrapolated points,
    so the fit returns the proximal point of the last one (``_api``).
    """
    o, p = options, options.n_penalized
    smooth = grad_W.copy()
    smooth[:, :p] += o.l2 * W[:, :p]
    if o.nesterov:
        velocity_W[...] = o.momentum * velocity_W + mapping
        W_new = W - lr * (mapping + o.momentum * velocity_W)
    else:
        direction = smooth + o.momentum * velocity_W
        W_new = W - lr * direction
        velocity_W[...] = direction
        if o.l1 > 0:
            W_new[:, :p], velocity_W[:, :p] = prox_l1(W[:, :p], direction[:, :p], lr, o.l1)
    direction_b = grad_b
    if o.fit_intercept:  # an intercept held fixed keeps no velocity
        velocity_b[:, 0] = o.momentum * velocity_b[:, 0] + grad_b
        direction_b = grad_b + o.momentum * velocity_b[:, 0] if o.nesterov else velocity_b[:, 0]
    return W_new, direction_b


def update(model, grad_W, grad_b, step, o, optimizer):
    """The (proximal, momentum) step, taken in float64 and rounded once to the
    coefficients' dtype, as the kernels do; returns the squared gradient-map norm."""
    W, b = model
    W_new, mapping = proximal_step(W.astype(np.float64), grad_W, step, o.l1, o.l2, o.n_penalized)
    grad_norm2 = float(np.sum(mapping * mapping))
    if o.fit_intercept:
        grad_norm2 += float(np.sum(grad_b * grad_b))
    direction_b = grad_b
    if o.momentum > 0:
        W_new, direction_b = momentum_step(
            W.astype(np.float64),
            grad_W,
            mapping,
            grad_b,
            step,
            o,
            optimizer.velocity_W,
            optimizer.velocity_b,
        )
    W[...] = W_new
    if o.fit_intercept:
        b[...] = b - step * direction_b
    return grad_norm2
