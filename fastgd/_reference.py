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
# ... and by the methods written in Python (_accelerated.py) and the API: the
# iterations met tol, but the gradient computed afresh at the coefficients returned
# did not, MAX_CHECKS times (the limit of the arithmetic on this data).
UNCERTIFIED = 3
MAX_CHECKS = 3

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


# Indices into the optimiser state, a float64 array of N_STATE entries that every
# backend's fit reads and updates. It is what carries a fit from one kernel call to
# the next (the API returns to Python between calls: see _api.fit_resumable) and from one
# partial_fit to the next.
T = 0  # updates made so far: the time of the invscaling schedule
EPOCH = 1  # epochs completed
BATCH = 2  # the next mini-batch of the current epoch (0: a new epoch starts)
LR = 3  # the base step: lr, divided by ADAPTIVE_DIVISOR at each plateau of "adaptive"
FIRST_LOSS = 4  # the loss of the first epoch: the divergence bar's reference (NaN: unset)
THRESHOLD = 5  # squared gradient-norm threshold of the full-batch tol test (< 0: unset)
BEST = 6  # the lowest epoch score so far (training or validation loss)
NO_IMPROVE = 7  # consecutive epochs whose score did not improve on BEST by tol
EPOCH_LOSS = 8  # the current epoch's loss, summed over its mini-batches so far
EPOCH_GRAD_NORM2 = 9  # the current epoch's squared gradient-map norms, summed
N_STATE = 10

# Step-size schedules (the integer the kernels take).
SCHEDULES = ("constant", "invscaling", "adaptive")
CONSTANT, INVSCALING, ADAPTIVE = range(3)
# "adaptive" divides the step by this at each plateau, and stops once it is below
# ADAPTIVE_MIN_RATIO times the starting step (scikit-learn's SGD divides by 5 too).
ADAPTIVE_DIVISOR = 5.0
ADAPTIVE_MIN_RATIO = 1e-6

# Columns of the history array: one row per epoch.
HISTORY_COLUMNS = ("loss", "grad_norm", "lr", "validation_loss")
N_HISTORY = len(HISTORY_COLUMNS)

_MASK64 = (1 << 64) - 1


def new_state(lr):
    """The optimiser state at the start of a fit with step ``lr``."""
    state = np.zeros(N_STATE)
    state[LR] = lr
    state[FIRST_LOSS] = np.nan
    state[THRESHOLD] = -1.0
    state[BEST] = np.inf
    return state


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


def step_size(state, schedule, power_t):
    """The step of the next update: ``LR``, or ``LR / (1 + T) ** power_t`` (invscaling)."""
    if schedule == INVSCALING:
        return state[LR] / (1.0 + state[T]) ** power_t
    return state[LR]


def end_of_epoch(state, score, lr, schedule, tol, n_iter_no_change, plateau_stops):
    """The plateau test at the end of an epoch; True if the fit must stop.

    An epoch improves when its score (the training loss, or the validation loss with
    early stopping) is below ``(1 - tol) * BEST``. After ``n_iter_no_change``
    epochs in a row without improvement, "adaptive" divides the step by
    ADAPTIVE_DIVISOR (and stops once it is below ADAPTIVE_MIN_RATIO * lr); the
    other schedules stop if ``plateau_stops``.
    """
    if score < (1.0 - tol) * state[BEST]:
        state[NO_IMPROVE] = 0.0
    else:
        state[NO_IMPROVE] += 1.0
    state[BEST] = min(state[BEST], score)
    if state[NO_IMPROVE] >= n_iter_no_change:
        if schedule == ADAPTIVE:
            state[NO_IMPROVE] = 0.0
            state[LR] /= ADAPTIVE_DIVISOR
            return state[LR] < ADAPTIVE_MIN_RATIO * lr
        return plateau_stops
    return False


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
    s = np.ones(R.shape[0]) if weights is None else weights[rows].astype(np.float64)
    sR = s[:, None] * R
    sum_W = Xr.T.dot(sR[:, 0])[None, :] if W.shape[0] == 1 else sR.T @ Xr
    return sum_W, sR.sum(axis=0), float(np.sum(sR * R)) / 2


def momentum_step(W, grad_W, mapping, grad_b, lr, l1, l2, n_penalized, momentum, nesterov,
                  velocity_W, velocity_b, fit_intercept=True):
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
    p = n_penalized
    smooth = grad_W.copy()
    smooth[:, :p] += l2 * W[:, :p]
    if nesterov:
        velocity_W[...] = momentum * velocity_W + mapping
        W_new = W - lr * (mapping + momentum * velocity_W)
    else:
        direction = smooth + momentum * velocity_W
        W_new = W - lr * direction
        velocity_W[...] = direction
        if l1 > 0:
            W_new[:, :p], velocity_W[:, :p] = prox_l1(W[:, :p], direction[:, :p], lr, l1)
    direction_b = grad_b
    if fit_intercept:  # an intercept held fixed keeps no velocity
        velocity_b[:, 0] = momentum * velocity_b[:, 0] + grad_b
        direction_b = grad_b + momentum * velocity_b[:, 0] if nesterov else velocity_b[:, 0]
    return W_new, direction_b


def fit(X, Y, W, b, weights, train_weight, val_weight, order, n_train, batch_size,
        shuffle_rows, rng_state,
        lr, schedule, power_t, tol, n_iter_no_change, early_stopping, ref_grad_norm2,
        fit_intercept, l1, l2, n_penalized, momentum, nesterov,
        state, velocity_W, velocity_b, history, max_updates):
    """(Mini-batch, proximal) gradient descent; updates W, b and the state in place.

    The training rows are ``order[:n_train]`` (all rows, in order, unless early
    stopping holds out ``order[n_train:]`` for validation); ``train_weight`` and
    ``val_weight`` are the float64 totals of their weights (their counts without
    weights), as ``_backends._training_weights`` computes them. An epoch cuts them into
    ``ceil(n_train / batch_size)`` mini-batches of ``batch_size`` consecutive
    entries of ``order`` (the last may be smaller), after shuffling
    ``order[:n_train]`` when ``shuffle_rows`` and there is more than one batch.
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
    n_samples = X.shape[0]
    direct = batch_size >= n_samples  # a full batch of every row in order
    n_batches = -(-n_train // batch_size)
    epochs = 0
    for _ in range(max_updates):
        if epochs == len(history):
            break
        batch = int(state[BATCH])
        if batch == 0:
            if shuffle_rows and n_batches > 1:
                shuffle(order, n_train, rng_state)
            state[EPOCH_LOSS] = state[EPOCH_GRAD_NORM2] = 0.0
        # A slice for the full batch: X[rows] is then a view, not a copy of X.
        rows = slice(None) if direct else order[batch * batch_size:
                                                min((batch + 1) * batch_size, n_train)]
        batch_rows = n_samples if direct else len(rows)
        sum_W, sum_b, half_sq = rows_gradient(X, Y, W, b, weights, rows)
        scale = batch_rows * train_weight / n_train
        grad_W, grad_b = sum_W / scale, sum_b / scale
        state[EPOCH_LOSS] += half_sq / train_weight + batch_rows / n_train * penalty(
            W, l1, l2, n_penalized)
        last = batch == n_batches - 1
        epoch_loss = state[EPOCH_LOSS]
        if last:
            if np.isnan(state[FIRST_LOSS]):
                state[FIRST_LOSS] = epoch_loss
            # NaN fails "<=", and inf fails the cap even when the first loss overflowed
            bar = DIVERGENCE_FACTOR * max(state[FIRST_LOSS], np.finfo(np.float64).tiny)
            if not epoch_loss <= min(bar, np.finfo(np.float64).max):
                history[epochs] = (epoch_loss, np.nan, np.nan, np.nan)
                return epochs + 1, DIVERGED
        step = step_size(state, schedule, power_t)
        # The step is taken in float64 and rounded once to the coefficients' dtype,
        # as the kernels do.
        W_new, mapping = proximal_step(W.astype(np.float64), grad_W, step, l1, l2,
                                       n_penalized)
        grad_norm2 = float(np.sum(mapping * mapping))
        if fit_intercept:
            grad_norm2 += float(np.sum(grad_b * grad_b))
        direction_b = grad_b
        if momentum > 0:
            W_new, direction_b = momentum_step(W.astype(np.float64), grad_W, mapping, grad_b,
                                               step, l1, l2, n_penalized, momentum, nesterov,
                                               velocity_W, velocity_b, fit_intercept)
        W[...] = W_new
        if fit_intercept:
            b[...] = b - step * direction_b
        state[T] += 1
        state[EPOCH_GRAD_NORM2] += grad_norm2
        state[BATCH] = batch + 1
        if not last:
            continue
        state[BATCH] = 0
        validation_loss = np.nan
        if early_stopping:
            validation_loss = rows_gradient(X, Y, W, b, weights, order[n_train:])[2] / val_weight
        history[epochs] = (epoch_loss, np.sqrt(state[EPOCH_GRAD_NORM2] / n_batches), step,
                           validation_loss)
        epochs += 1
        state[EPOCH] += 1  # after its history row: the epoch is complete
        if not (np.isfinite(state[EPOCH_GRAD_NORM2])
                and (np.isfinite(validation_loss) or not early_stopping)):
            # An overflowing gradient norm would pass any tol test, and a NaN in the
            # held-out rows would pass as a plateau: stop, the API names the cause.
            return epochs, DIVERGED
        if n_batches == 1 and not early_stopping:
            if state[THRESHOLD] < 0:
                state[THRESHOLD] = tol * tol * max(grad_norm2, ref_grad_norm2)
            if tol > 0 and grad_norm2 <= state[THRESHOLD]:
                return epochs, CONVERGED
        score = validation_loss if early_stopping else epoch_loss
        # Full-batch gradient descent with a stable step decreases the loss at every
        # iteration: there, only a loss that does not decrease at all is a plateau
        # (the sign of too large a step), whatever tol says about the gradient.
        exact = n_batches == 1 and not early_stopping
        plateau_stops = early_stopping or (n_batches > 1 and tol > 0)
        if end_of_epoch(state, score, lr, schedule, 0.0 if exact else tol, n_iter_no_change,
                        plateau_stops):
            return epochs, CONVERGED
    return epochs, MAX_ITER
