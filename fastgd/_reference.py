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

from ._layout import (
    BATCH,
    CONVERGED,
    DIVERGED,
    DIVERGENCE_FACTOR,
    EPOCH,
    EPOCH_GRAD_NORM2,
    EPOCH_LOSS,
    FIRST_LOSS,
    MAX_ITER,
    THRESHOLD,
    T,
    end_of_epoch,
    step_size,
)

_MASK64 = (1 << 64) - 1


def gradient(X, Y, W, b, sample_weight=None):
    """Gradient of half the (weighted) MSE and the loss, in float64.

    With weights s (N,), the objective is ``sum(s_i * ||R_i||^2) / (2 * sum(s))``:
    ``G_W = (s * R).T @ X / sum(s)`` and ``g_b = (s * R).sum(0) / sum(s)``; no
    weights is s = 1. Returns ``(grad_W, grad_b, loss)`` with ``grad_W`` of shape
    (K, D), ``grad_b`` of shape (K,) (both float64) and ``loss`` a Python float.
    """
    sum_W, sum_b, half_sq = rows_gradient(X, Y, W, b, sample_weight, slice(None))
    total = X.shape[0] if sample_weight is None else sample_weight.astype(np.float64).sum()
    return sum_W / total, sum_b / total, float(half_sq / total)


def augmented_rows(X, Y, b, weights, fit_intercept, rows):
    """The rows ``rows`` of ``Z = [X, 1, Y]`` in float64, each scaled by the square
    root of its weight; ``[X, Y - b]`` when the intercept ``b`` is held fixed
    (``fit_intercept=False``). The least-squares objective depends on the data only
    through ``Z.T @ diag(s) @ Z`` (see ``_gram.py``)."""
    Xr = X[rows].astype(np.float64)
    Yr = Y[rows].astype(np.float64)
    columns = [Xr, np.ones((len(Xr), 1)), Yr] if fit_intercept else [Xr, Yr - b]
    Z = np.hstack(columns)
    if weights is not None and len(weights):
        Z *= np.sqrt(weights[rows].astype(np.float64))[:, None]
    return Z


def compress(X, Y, b, weights, fit_intercept, block_rows=1 << 14):
    """An upper-triangular ``R`` with ``R.T @ R = Z.T @ diag(s) @ Z`` (see
    ``augmented_rows``), in one pass over X: the Householder QR of Z's rows, a block at
    a time (``R = qr([R; Z_block])``, tall-skinny QR), so that each column's rounding
    is relative to that column's own norm, whatever the scales of X and Y."""
    m = X.shape[1] + (1 if fit_intercept else 0) + Y.shape[1]
    R = np.zeros((0, m))
    for start in range(0, X.shape[0], block_rows):
        Z = augmented_rows(X, Y, b, weights, fit_intercept, slice(start, start + block_rows))
        R = np.linalg.qr(np.vstack([R, Z]), mode="r")
    return np.vstack([R, np.zeros((m - R.shape[0], m))])  # m rows even when N < m


def penalty(W, l1, l2, n_penalized):
    """The penalty ``l1 * ||P||_1 + l2 / 2 * ||P||_2^2`` of ``P = W[:, :n_penalized]``."""
    P = W[:, :n_penalized].astype(np.float64)
    return float(l1 * np.abs(P).sum() + 0.5 * l2 * (P * P).sum())


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
    return np.where(survives, z - lr * l1 * sign, 0.0), np.where(survives,
                                                                 gradient + l1 * sign, W / lr)


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





def next_random(rng_state):
    """SplitMix64 (Steele, Lea and Flood, 2014): the next 64-bit random integer.

    ``rng_state`` is a uint64 array of one element, advanced in place. The compiled
    kernels run the same integer arithmetic (wrapping at 2**64), so a seed gives the
    same sequence on every backend.
    """
    s = (int(rng_state[0]) + 0x9E3779B97F4A7C15) & _MASK64
    rng_state[0] = s
    z = ((s ^ (s >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def shuffle(order, n, rng_state):
    """Shuffle ``order[:n]`` in place (Fisher-Yates, drawing from ``next_random``).

    ``r % (i + 1)`` has a bias of at most (i + 1) / 2**64: nothing any test of a
    permutation of fewer than 2**40 rows can see.
    """
    for i in range(n - 1, 0, -1):
        j = next_random(rng_state) % (i + 1)
        order[i], order[j] = order[j], order[i]



def rows_gradient(X, Y, W, b, weights, rows):
    """Unnormalised sums over ``rows``: ``((s R).T @ X, (s R).sum(0), (s R * R).sum() / 2)``.

    With one target the products are matrix-vector ones, ``X.dot(w)`` and
    ``X.T.dot(r)``, as in the seeds' loop ``w += lr * X.T.dot(y - X.dot(w)) / len(X)``:
    so ``fit(X, y, lr=lr, fit_intercept=False, tol=0, backend="numpy")`` reproduces
    it bit for bit (negating R and the step is exact; tests/test_defaults.py)."""
    Xr = X[rows].astype(np.float64, copy=False)
    W64, Yr = W.astype(np.float64), Y[rows].astype(np.float64)
    scores = Xr.dot(W64[0])[:, None] if W.shape[0] == 1 else Xr @ W64.T
    R = scores + b.astype(np.float64) - Yr
    s = np.ones(R.shape[0]) if weights is None or not len(weights) else \
        weights[rows].astype(np.float64)
    sR = s[:, None] * R
    sum_W = Xr.T.dot(sR[:, 0])[None, :] if W.shape[0] == 1 else sR.T @ Xr
    return sum_W, sR.sum(axis=0), float(np.sum(sR * R)) / 2


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


def fit(data, model, options, optimizer, scratch, history, max_updates):
    """(Mini-batch, proximal) gradient descent; updates W, b and the state in place.

    The bundles are those of ``_layout`` (``scratch`` is unused here). The training
    rows are ``order[:n_train]`` (all rows, in order, unless early stopping holds
    out ``order[n_train:]`` for validation); ``train_weight`` and ``val_weight`` are
    the float64 totals of their weights (their counts without weights), as
    ``_backends._training_weights`` computes them. An epoch cuts them into
    ``ceil(n_train / batch_size)`` mini-batches of ``batch_size`` consecutive
    entries of ``order`` (the last may be smaller), after shuffling
    ``order[:n_train]`` when ``shuffle`` and there is more than one batch.
    Each mini-batch B makes one update with the unbiased estimate of the full
    gradient ``sum_B s_i r_i x_i / (|B| * mean(s))`` (s = weights, 1 without them;
    the mean is over the training rows): a full batch gives the exact gradient
    ``(s R).T @ X / sum(s)``.

    The update at point (W, b) with step ``step_size(...)`` is that of
    ``proximal_step`` (``W -= step * G_W`` without penalty) and ``b -= step * g_b``
    when ``fit_intercept``; with ``momentum`` it follows torch.optim.SGD (velocity
    ``v = momentum * v + g``, direction ``v``, or ``g + momentum * v`` with
    ``nesterov``), with the L1 penalty as ``momentum_step`` says.

    The epoch's loss is the objective (half the weighted MSE plus
    ``penalty(W, l1, l2, n_penalized)``) of each mini-batch at the point where its
    update started, weighted by the batch's share of the rows: the exact objective
    at the start of the epoch for a full batch. Its gradient norm is the root mean
    square of the updates' gradient-map norms. One history row per epoch: loss,
    gradient norm, the step of its last update, and the validation loss (half the
    weighted MSE of ``order[n_train:]`` at the end of the epoch; NaN without early
    stopping).

    Stopping, at the end of each epoch:

    * DIVERGED, before the epoch's last update, when its loss is not finite or
      exceeds DIVERGENCE_FACTOR times the first epoch's; and after it, when the
      epoch's gradient norm or (with early stopping) its validation loss is not
      finite (the API then tells NaN in the data from overflow and divergence);
    * CONVERGED, with a full batch and no early stopping, when ``tol > 0`` and the
      gradient-map norm is at most ``tol * max(||g_0||, ||g_ref||)``: ``g_0`` at the
      first update of the fit, ``||g_ref||**2 = ref_grad_norm2`` given by the caller
      (the zero model's, see ``_api.fit_resumable``);
    * CONVERGED at a plateau (``end_of_epoch``), with early stopping, or with
      mini-batches when ``tol > 0``.

    At most ``max_updates`` updates and ``len(history)`` epochs run in this call;
    the state then holds where to resume. Returns ``(n_epochs, status)``: the
    number of epochs completed in this call (rows of history written).
    """
    o, state = options, optimizer.state
    n_batches = -(-o.n_train // o.batch_size)
    epochs = 0
    for _ in range(max_updates):
        if epochs == len(history):
            break
        batch = int(state[BATCH])
        if batch == 0:
            if o.shuffle and n_batches > 1:
                shuffle(data.order, o.n_train, optimizer.rng_state)
            state[EPOCH_LOSS] = state[EPOCH_GRAD_NORM2] = 0.0
        grad_W, grad_b = _batch_gradient(data, model, o, state, batch)
        last = batch == n_batches - 1
        if last and _loss_diverged(state):
            history[epochs] = (state[EPOCH_LOSS], np.nan, np.nan, np.nan)
            return epochs + 1, DIVERGED
        step = step_size(state, o.schedule, o.power_t)
        grad_norm2 = _update(model, grad_W, grad_b, step, o, optimizer)
        state[T] += 1
        state[EPOCH_GRAD_NORM2] += grad_norm2
        state[BATCH] = batch + 1
        if not last:
            continue
        state[BATCH] = 0
        epochs, status = _end_epoch(data, model, o, state, history, epochs, step, grad_norm2,
                                    n_batches)
        if status != MAX_ITER:
            return epochs, status
    return epochs, MAX_ITER


def _batch_rows(data, options, batch):
    """The rows of mini-batch ``batch``: a slice for a full batch of every row in
    order (X[rows] is then a view, not a copy of X)."""
    if options.batch_size >= data.X.shape[0]:
        return slice(None), data.X.shape[0]
    rows = data.order[batch * options.batch_size:
                      min((batch + 1) * options.batch_size, options.n_train)]
    return rows, len(rows)


def _batch_gradient(data, model, o, state, batch):
    """The mini-batch's unbiased gradient estimate; adds its share of the objective
    to the epoch's loss."""
    rows, batch_rows = _batch_rows(data, o, batch)
    sum_W, sum_b, half_sq = rows_gradient(data.X, data.Y, model.W, model.b, data.weights, rows)
    scale = batch_rows * data.train_weight / o.n_train
    state[EPOCH_LOSS] += half_sq / data.train_weight + batch_rows / o.n_train * penalty(
        model.W, o.l1, o.l2, o.n_penalized)
    return sum_W / scale, sum_b / scale


def _loss_diverged(state):
    """At an epoch's last batch: is its loss non-finite or above the divergence bar?"""
    epoch_loss = state[EPOCH_LOSS]
    if np.isnan(state[FIRST_LOSS]):
        state[FIRST_LOSS] = epoch_loss
    # NaN fails "<=", and inf fails the cap even when the first loss overflowed
    bar = DIVERGENCE_FACTOR * max(state[FIRST_LOSS], np.finfo(np.float64).tiny)
    return not epoch_loss <= min(bar, np.finfo(np.float64).max)


def _update(model, grad_W, grad_b, step, o, optimizer):
    """The (proximal, momentum) step, taken in float64 and rounded once to the
    coefficients' dtype, as the kernels do; returns the squared gradient-map norm."""
    W, b = model
    W_new, mapping = proximal_step(W.astype(np.float64), grad_W, step, o.l1, o.l2,
                                   o.n_penalized)
    grad_norm2 = float(np.sum(mapping * mapping))
    if o.fit_intercept:
        grad_norm2 += float(np.sum(grad_b * grad_b))
    direction_b = grad_b
    if o.momentum > 0:
        W_new, direction_b = momentum_step(W.astype(np.float64), grad_W, mapping, grad_b,
                                           step, o, optimizer.velocity_W, optimizer.velocity_b)
    W[...] = W_new
    if o.fit_intercept:
        b[...] = b - step * direction_b
    return grad_norm2


def _end_epoch(data, model, o, state, history, epochs, step, grad_norm2, n_batches):
    """The epoch's history row and its stopping tests; returns (epochs, status)."""
    validation_loss = np.nan
    if o.early_stopping:
        validation_loss = rows_gradient(data.X, data.Y, model.W, model.b, data.weights,
                                        data.order[o.n_train:])[2] / data.val_weight
    epoch_loss = state[EPOCH_LOSS]
    history[epochs] = (epoch_loss, np.sqrt(state[EPOCH_GRAD_NORM2] / n_batches), step,
                       validation_loss)
    epochs += 1
    state[EPOCH] += 1  # after its history row: the epoch is complete
    if not (np.isfinite(state[EPOCH_GRAD_NORM2])
            and (np.isfinite(validation_loss) or not o.early_stopping)):
        # An overflowing gradient norm would pass any tol test, and a NaN in the
        # held-out rows would pass as a plateau: stop, the API names the cause.
        return epochs, DIVERGED
    exact = n_batches == 1 and not o.early_stopping
    if exact:
        if state[THRESHOLD] < 0:
            state[THRESHOLD] = o.tol * o.tol * max(grad_norm2, o.ref_grad_norm2)
        if o.tol > 0 and grad_norm2 <= state[THRESHOLD]:
            return epochs, CONVERGED
    score = validation_loss if o.early_stopping else epoch_loss
    # Full-batch gradient descent with a stable step decreases the loss at every
    # iteration: there, only a loss that does not decrease at all is a plateau
    # (the sign of too large a step), whatever tol says about the gradient.
    plateau_stops = o.early_stopping or (n_batches > 1 and o.tol > 0)
    if end_of_epoch(state, score, o.lr, o.schedule, 0.0 if exact else o.tol,
                    o.n_iter_no_change, plateau_stops):
        return epochs, CONVERGED
    return epochs, MAX_ITER
