"""The epoch loop of gradient descent, written once in Python over a backend's leaves.

A backend's leaves are ``partial_gradient`` (the unnormalised sums of a block of
rows: the unit a distributed engine computes where the blocks live), ``update``
(the step on the coefficients) and ``shuffle``. This loop, with the NumPy
reference's leaves, is the "numpy" backend's fit and the definition of the
algorithm and its stopping rules; it runs as well over the leaves of any backend.
The compiled backends run the same loop compiled (``_numba_kernels.fit`` and its
Cython mirror), because returning to Python for each update would cost what a
small update costs many times over (docs/design.md, "Backends and their leaves").
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
from ._steps import penalty


def fit(leaves, data, model, options, optimizer, history, max_updates):
    """(Mini-batch, proximal) gradient descent; updates W, b and the state in place.

    ``leaves`` is a backend (its ``partial_gradient``, ``update`` and ``shuffle``);
    the other bundles are ``_layout``'s (``optimizer``: an OptimizerArrays). The training
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
                leaves.shuffle(data.order, o.n_train, optimizer.rng_state)
            state[EPOCH_LOSS] = state[EPOCH_GRAD_NORM2] = 0.0
        grad_W, grad_b = _batch_gradient(leaves, data, model, o, state, batch)
        last = batch == n_batches - 1
        if last and _loss_diverged(state):
            history[epochs] = (state[EPOCH_LOSS], np.nan, np.nan, np.nan)
            return epochs + 1, DIVERGED
        step = step_size(state, o.schedule, o.power_t)
        grad_norm2 = leaves.update(model, grad_W, grad_b, step, o, optimizer)
        state[T] += 1
        state[EPOCH_GRAD_NORM2] += grad_norm2
        state[BATCH] = batch + 1
        if not last:
            continue
        state[BATCH] = 0
        epochs, status = _end_epoch(
            leaves, data, model, o, state, history, epochs, step, grad_norm2, n_batches
        )
        if status != MAX_ITER:
            return epochs, status
    return epochs, MAX_ITER


def _batch_rows(data, options, batch):
    """The rows of mini-batch ``batch``: a slice for a full batch of every row in
    order (X[rows] is then a view, not a copy of X)."""
    if options.batch_size >= data.X.shape[0]:
        return slice(None), data.X.shape[0]
    rows = data.order[
        batch * options.batch_size : min((batch + 1) * options.batch_size, options.n_train)
    ]
    return rows, len(rows)


def _rows_sums(leaves, data, model, rows):
    """The leaf's unnormalised sums over ``rows`` (a slice of every row, or entries
    of ``order``, gathered: a copy, as the compiled kernels' gather buffers)."""
    X, Y, weights, x_is_f = data.X, data.Y, data.weights, data.x_is_f
    if not isinstance(rows, slice):
        X, Y, x_is_f = np.ascontiguousarray(X[rows]), Y[rows], False
        weights = weights[rows] if len(weights) else weights
    return leaves.partial_gradient(X, Y, model.W, model.b, x_is_f, None, weights)


def _batch_gradient(leaves, data, model, o, state, batch):
    """The mini-batch's unbiased gradient estimate; adds its share of the objective
    to the epoch's loss."""
    rows, batch_rows = _batch_rows(data, o, batch)
    sum_W, sum_b, half_sq = _rows_sums(leaves, data, model, rows)
    scale = batch_rows * data.train_weight / o.n_train
    state[EPOCH_LOSS] += half_sq / data.train_weight + batch_rows / o.n_train * penalty(
        model.W, o.l1, o.l2, o.n_penalized
    )
    return sum_W / scale, sum_b / scale


def _loss_diverged(state):
    """At an epoch's last batch: is its loss non-finite or above the divergence bar?"""
    epoch_loss = state[EPOCH_LOSS]
    if np.isnan(state[FIRST_LOSS]):
        state[FIRST_LOSS] = epoch_loss
    # NaN fails "<=", and inf fails the cap even when the first loss overflowed
    bar = DIVERGENCE_FACTOR * max(state[FIRST_LOSS], np.finfo(np.float64).tiny)
    return not epoch_loss <= min(bar, np.finfo(np.float64).max)


def _end_epoch(leaves, data, model, o, state, history, epochs, step, grad_norm2, n_batches):
    """The epoch's history row and its stopping tests; returns (epochs, status)."""
    validation_loss = np.nan
    if o.early_stopping:
        validation_loss = (
            _rows_sums(leaves, data, model, data.order[o.n_train :])[2] / data.val_weight
        )
    epoch_loss = state[EPOCH_LOSS]
    history[epochs] = (
        epoch_loss,
        np.sqrt(state[EPOCH_GRAD_NORM2] / n_batches),
        step,
        validation_loss,
    )
    epochs += 1
    state[EPOCH] += 1  # after its history row: the epoch is complete
    if not (
        np.isfinite(state[EPOCH_GRAD_NORM2])
        and (np.isfinite(validation_loss) or not o.early_stopping)
    ):
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
    if end_of_epoch(
        state, score, o.lr, o.schedule, 0.0 if exact else o.tol, o.n_iter_no_change, plateau_stops
    ):
        return epochs, CONVERGED
    return epochs, MAX_ITER
