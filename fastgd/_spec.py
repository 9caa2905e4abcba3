"""The fit's parameters: one list, with their defaults, and their validation.

``FitSpec`` is the one place that says which options a fit takes and what they
default to: ``fastgd.fit``'s keyword arguments and ``GDRegressor``'s constructor
parameters are these fields (tests/test_spec.py holds both signatures, and both
docstrings, to it), and ``GDRegressor`` forwards exactly ``FIT_PARAMETERS``.
``FitSpec.validated()`` checks every value once (``_validation.py``, whose errors
name the parameter) and returns the ``Settings`` the fit pipeline (``_fit.py``)
runs with. The data of a call (X, y, sample_weight, coef_init, intercept_init)
are not options: they are validated with the arrays.
"""

from typing import NamedTuple

from ._backends import get_backend
from ._validation import (
    check_backend,
    check_batch_size,
    check_callback,
    check_early_stopping,
    check_fit_intercept,
    check_lr,
    check_max_iter,
    check_method,
    check_momentum,
    check_n_threads,
    check_penalty,
    check_schedule,
    check_shuffle,
    check_solver,
    check_tol,
    check_verbose,
)


class FitSpec(NamedTuple):
    """The options of a fit, as the caller gave them (see ``fastgd.fit``). A
    NamedTuple, not a frozen dataclass: built on every fit, it costs a tuple's
    construction, not 23 ``object.__setattr__`` calls."""

    lr: object = "auto"
    max_iter: int = 1000
    tol: float = 1e-6
    fit_intercept: bool = True
    backend: str = "auto"
    n_threads: object = None
    solver: str = "auto"
    method: str = "auto"
    penalty: object = None
    alpha: float = 1e-4
    l1_ratio: float = 0.15
    momentum: float = 0.0
    nesterov: bool = False
    batch_size: object = None
    shuffle: bool = True
    random_state: object = None
    schedule: str = "constant"
    power_t: float = 0.25
    early_stopping: bool = False
    validation_fraction: float = 0.1
    n_iter_no_change: int = 5
    callback: object = None
    verbose: int = 0

    def validated(self):
        """Every option checked once: the ``Settings`` a fit runs with. Raises
        ValueError or TypeError naming the first bad option."""
        checked = dict(
            lr=check_lr(self.lr),
            max_iter=check_max_iter(self.max_iter),
            tol=check_tol(self.tol),
            fit_intercept=check_fit_intercept(self.fit_intercept),
            n_threads=check_n_threads(self.n_threads),
            solver=check_solver(self.solver),
            method=check_method(self.method),
        )
        checked["l1"], checked["l2"] = check_penalty(self.penalty, self.alpha, self.l1_ratio)
        checked["momentum"], checked["nesterov"] = check_momentum(self.momentum, self.nesterov)
        checked["batch_size"] = check_batch_size(self.batch_size)
        checked["shuffle"] = check_shuffle(self.shuffle)
        checked["schedule"], checked["power_t"] = check_schedule(self.schedule, self.power_t)
        (
            checked["early_stopping"],
            checked["validation_fraction"],
            checked["n_iter_no_change"],
        ) = check_early_stopping(
            self.early_stopping, self.validation_fraction, self.n_iter_no_change
        )
        return Settings(
            **checked,
            random_state=self.random_state,
            callback=check_callback(self.callback),
            verbose=check_verbose(self.verbose),
            backend=get_backend(check_backend(self.backend)),
        )


# The names of the options, in order: what GDRegressor forwards to the fit.
FIT_PARAMETERS = FitSpec._fields
# GDRegressor's parameters: the fit's options and its own (what a model file saves;
# read here so that `fastgd info` need not import scikit-learn).
ESTIMATOR_PARAMETERS = FIT_PARAMETERS + ("warm_start",)


class Settings(NamedTuple):
    """A fit's options after validation: the penalty as its L1 and L2 strengths, the
    schedule as ``_layout``'s integer, the backend loaded. ``random_state`` is
    checked when the seed is drawn (a partial_fit that resumes draws none)."""

    lr: object
    max_iter: int
    tol: float
    fit_intercept: bool
    n_threads: object
    solver: str
    method: str
    l1: float
    l2: float
    momentum: float
    nesterov: bool
    batch_size: object
    shuffle: bool
    random_state: object
    schedule: int
    power_t: float
    early_stopping: bool
    validation_fraction: float
    n_iter_no_change: int
    callback: object
    verbose: int
    backend: object
