"""What a fit says when it cannot return a right answer: every error and warning
message of the fit pipeline, and the tests that tell their causes apart.

A fit that stops on something non-finite raises, in this order: a ValueError naming
NaN or inf in the inputs (the kernels see them only as non-finite losses, and
check nothing themselves: see _validation.py); a FloatingPointError naming the
value that overflowed although the inputs are finite; else a DivergenceError
giving 2/L. A fit that stops short of its tolerance warns (ConvergenceWarning).
"""

import warnings

import numpy as np

from ._accelerated import hessian_max_eigenvalue
from ._validation import user_stacklevel


class DivergenceError(FloatingPointError):
    """Gradient descent diverged: the learning rate is too large for this data."""


class ConvergenceWarning(UserWarning):
    """The fit stopped at max_iter before meeting its tolerance."""


class FitInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a fit; ``result`` (a FitResult) holds where it got to.

    A KeyboardInterrupt, so code that does not know fastgd still stops."""

    def __init__(self, message, result):
        super().__init__(message)
        self.result = result


def interrupted(result, max_iter, n_updates):
    """The FitInterrupted for a fit stopped by Ctrl-C at ``result``."""
    loss = f", loss {result.loss_history[-1]:.6g}" if result.n_iter else ""
    return FitInterrupted(
        f"fit interrupted after {result.n_iter} of max_iter={max_iter} epochs "
        f"({n_updates} updates{loss}); the coefficients reached are in this exception's "
        f".result.",
        result,
    )


def check_inputs_finite(data):
    """Raise ValueError naming the first input that holds NaN or inf (``data``: a
    ``_data.Data``). Called only after a kernel returned something non-finite:
    valid input costs no pass of its own."""
    data.check_finite()


def raise_for_non_finite(data, what):
    """A computation returned a non-finite ``what``: name the NaN or inf in the inputs
    (the usual cause), else report the overflow."""
    check_inputs_finite(data)
    largest_X, largest_y = data.largest_abs()
    raise FloatingPointError(
        f"the {what} overflowed in {data.dtype} although X and y are finite: their values "
        f"are too large for this dtype (largest |X| = {largest_X:.3g}, largest |y| = "
        f"{largest_y:.3g}); rescale them."
    )


def loss_rose(loss_history):
    """True if the loss clearly rose from its minimum: proof of an unstable lr.

    With lr < 2/L the loss of gradient descent on a quadratic never increases, up to
    rounding. A rise to twice the lowest loss that is also more than 1e-6 of the
    starting loss is far above any rounding noise (the second condition covers fits
    whose lowest loss is itself rounding noise, as on noise-free data).
    """
    lowest = loss_history.min()
    rise = loss_history[-1] - lowest
    return loss_history[-1] > 2 * lowest and rise > 1e-6 * loss_history[0]


def _divergence_error(problem, step, loss_history, l2):
    L = (
        hessian_max_eigenvalue(
            problem.backend,
            problem.X,
            problem.x_is_f,
            problem.fit_intercept,
            rtol=1e-10,
            max_iter=500,
            upper=True,
            sample_weight=problem.sample_weight,
        )
        + l2
    )
    error = DivergenceError(
        f"gradient descent diverged at iteration {len(loss_history)} with lr={step:.6g}: the "
        f"loss went from {loss_history[0]:.6g} (lowest {np.nanmin(loss_history):.6g}) to "
        f"{loss_history[-1]:.6g}. The largest stable learning rate for this data is "
        f"2/L = {2 / L:.6g} (L = {L:.6g}, the largest eigenvalue of the Hessian). Use a "
        f"smaller lr, lr='auto', or standardise the features."
    )
    if problem.n_batches > 1:
        error = DivergenceError(
            f"{error} With mini-batches of {problem.batch_size} rows the stable step is "
            f"smaller still (about 1 / max ||[x_i, 1]||^2 for single rows); lr='auto' "
            f"takes that into account."
        )
    return error


def raise_for_failure(problem, history, optimizer, step, settings):
    """The fit stopped on something non-finite or on a blow-up: raise what it was
    (see the module's docstring for the order)."""
    check_inputs_finite(problem.data)
    last = history[-1]
    overflowed = None
    # The objective at the starting point: the first epoch's loss for a full batch;
    # mini-batches move during their first epoch, and it was taken before it.
    first_loss = history[0, 0] if problem.n_batches == 1 else optimizer.first_loss
    if not np.isfinite(first_loss):
        overflowed = "loss at the starting point"
    elif np.isinf(last[1]) and np.isfinite(last[0]):  # (a divergence's row has NaN there)
        overflowed = "gradient norm"
    elif settings.early_stopping and not np.isfinite(last[3]):
        overflowed = "validation loss"
    elif problem.method != "gd":  # CG and FISTA cannot diverge: only overflow stops them
        overflowed = "loss"
    if overflowed:
        raise_for_non_finite(problem.data, overflowed)
    raise _divergence_error(problem, step, history[:, 0], settings.l2)


def warn_not_converged(
    settings, full_batch, certificate_ratio, solver, dtype, measure="gradient norm"
):
    """The ConvergenceWarning of a fit that stopped short of its tolerance: at
    max_iter, or (``certificate_ratio``) with a certificate that failed. ``measure``:
    what tol bounds ("gradient norm", or FISTA's "duality gap")."""
    tol = settings.tol
    if certificate_ratio is not None and measure == "duality gap":
        message = (
            f"fastgd.fit stopped: the duality gap at the coefficients returned, computed "
            f"on the data, is {certificate_ratio:.3g} times the bound of tol={tol:g} (tol**2 "
            f"times the zero model's objective) and is down to the rounding of its "
            f"{dtype} arithmetic: tol is below what that arithmetic can certify on this "
            f"data (see fit's tol). Use a larger tol."
        )
    elif certificate_ratio is not None:
        message = (
            f"fastgd.fit stopped with the tol={tol:g} bound met by the iterations"
            f"{' on the compressed problem' if solver == 'gram' else ''}, but the "
            f"gradient norm computed on the data at the coefficients returned is "
            f"{certificate_ratio:.3g} times that bound: tol is at or below the accuracy "
            f"that {dtype} arithmetic on this data can certify (see fit's tol). Use a "
            f"larger tol."
        )
    else:
        rule = (
            (
                "the duality gap is still above tol**2 (tol={tol:g}) times the zero "
                "model's objective"
                if measure == "duality gap"
                else "the gradient norm is still above tol={tol:g} times its reference value"
            )
            if full_batch
            else "the epoch score still improved by more than tol={tol:g} (relative) within "
            "the last n_iter_no_change epochs"
        ).format(tol=tol)
        message = (
            f"fastgd.fit did not converge in max_iter={settings.max_iter} epochs: "
            f"{rule} (see fit's tol). Increase max_iter or tol, or standardise the "
            f"features."
        )
    warnings.warn(message, ConvergenceWarning, stacklevel=user_stacklevel())


def warn_uncertified_coefficients(
    tol,
    error_bound,
    condition,
    columns,
    rank_deficient,
    dtype,
    max_iter=None,
    support_uncertain=False,
    subnormal=False,
):
    """The ConvergenceWarning of a direct solve (method="qr") whose coefficients are
    not certified to tol: linearly dependent columns, an L1 penalty's zero pattern at
    a tie, float32 coefficients (``subnormal``: some below float32's smallest normal
    number), the refinement cut short by ``max_iter``, or float64's limit on
    ill-conditioned data."""
    named = ", ".join(str(j) for j in columns)
    float32_eps = float(np.finfo(np.float32).eps)
    if support_uncertain:
        message = (
            "fastgd.fit: the zero pattern of the L1 penalty's solution is not certified: a "
            "coefficient is at the edge of the active set (its gradient is within "
            "rounding of the penalty's weight, or its value within its error of 0), so "
            "which coefficients are exactly zero is decided by rounding at this alpha. "
            "The objective is optimal to rounding; use a slightly different alpha for a "
            "certified zero pattern."
        )
    elif rank_deficient:
        message = (
            f"fastgd.fit: the columns {named} of X are linearly dependent (to float64 "
            f"precision, after the constant columns and the intercept): their "
            f"coefficients are not unique, and the minimum-norm ones (in the units of "
            f"the standardized features) are returned; the fitted values are those of "
            f"the least-squares solution. Drop one of them, or add penalty='l2'."
        )
    elif subnormal:
        message = (
            f"fastgd.fit: the coefficients are not certified: X is float32, and so are the "
            f"coefficients, some of which are below float32's smallest normal number "
            f"({np.finfo(np.float32).tiny:.2g}), where float32 holds too few bits to "
            f"bound their error. Fit float64 data (X.astype(np.float64)), or rescale X "
            f"and y so that the coefficients are nearer 1."
        )
    elif dtype == np.float32 and error_bound <= 4 * float32_eps:
        message = (
            f"fastgd.fit: the coefficients are certified to a relative error of "
            f"{error_bound:.2g}, above tol={tol:g}: X is float32, and so are the "
            f"coefficients, whose own rounding is {float32_eps / 2:.1e} (relative). Fit "
            f"float64 data (X.astype(np.float64)) to certify a smaller tol."
        )
    elif max_iter is not None:
        message = (
            f"fastgd.fit: the coefficients are certified to a relative error of "
            f"{error_bound:.2g}, above tol={tol:g}, when max_iter={max_iter} passes of "
            f"refinement were done (each a pass over the data); increase max_iter."
        )
    else:
        message = (
            f"fastgd.fit: the coefficients are certified to a relative error of "
            f"{error_bound:.2g}, above tol={tol:g}: float64 arithmetic on this data cannot "
            f"determine them more closely (the condition number of the standardized "
            f"features is {condition:.3g}; the columns most involved: {named}). Use a "
            f"larger tol, drop or combine nearly collinear columns, or add penalty='l2'."
        )
    warnings.warn(message, ConvergenceWarning, stacklevel=user_stacklevel())


def method_conflict(method, what):
    return ValueError(
        f"method={method!r} cannot be combined with {what}; use method='gd' or 'auto'."
    )
