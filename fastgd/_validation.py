"""Argument checking and casting, done once at the API boundary.

Every function here either returns an array the kernels can take as it is, or raises
a TypeError / ValueError that names the argument and says what was expected.

Copies: X is never copied silently. A float32 or float64 X that is C- or
Fortran-contiguous (read-only included) is used as it is. Any other X (integers,
float16, a strided view, ...) is copied once per call to fit or gradient, and a
``CopyWarning`` says so, with the size and how to avoid it. y, coef_init and
intercept_init are cast to X's dtype (a copy only when their dtype differs); they
are never written to.

NaN and inf in X and y cost no pass of their own: any of them makes every loss the
kernels compute non-finite (x * w is NaN or inf for x = NaN or inf, even for w = 0),
so the API checks the loss the kernel returns anyway, and only when it is not
finite runs ``check_finite`` on X, y and the starting coefficients to name the
culprit (or, if they are all finite, reports an overflow).
"""

import numbers
import os
import sys
import warnings
from dataclasses import dataclass

import numpy as np

from ._backends import BACKENDS
from ._layout import SCHEDULES


class CopyWarning(UserWarning):
    """X had to be copied (converted to float, or made contiguous) before fitting."""


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def user_stacklevel():
    """The ``stacklevel`` for ``warnings.warn`` that points at the first frame outside
    fastgd: the caller's own line, however deep in fastgd the warning is raised (so
    that the default filter shows it once per calling line, and users can filter by
    their module). Call it as the argument of the warn call."""
    frame = sys._getframe(1)  # the function that warns
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
        level += 1
    return level


def _describe(a):
    return f"{a.ndim}-D array of shape {a.shape} and dtype {a.dtype}"


class ComplexDataError(TypeError, ValueError):
    """Complex X or y: a TypeError, and the ValueError scikit-learn's checks expect."""


def _check_dtype(a, name):
    """Raise TypeError unless ``a`` holds real numbers (not bool).

    An object array is accepted if its entries are real numbers (as scikit-learn
    does); the caller then converts it, with a CopyWarning for X."""
    kind = a.dtype.kind
    if kind == "b":
        raise TypeError(
            f"{name} has boolean dtype; expected real numbers (float or integer). "
            f"Convert it explicitly, e.g. {name}.astype(float), if that is intended."
        )
    if kind == "c":
        raise ComplexDataError(
            f"{name} has complex dtype {a.dtype}; Complex data not supported: fastgd fits "
            f"real-valued data only."
        )
    if kind == "O":
        try:
            converted = a.astype(np.float64)
        except (TypeError, ValueError) as error:
            raise TypeError(
                f"{name} has dtype object with an entry that is not a real number: {error}"
            ) from None
        except OverflowError:
            raise ValueError(f"{name} holds an integer beyond the range of float64.") from None
        for value in a.flat:  # astype takes booleans and complex zeros: refuse them
            if isinstance(value, (bool, np.bool_, complex, np.complexfloating)):
                raise TypeError(
                    f"{name} has dtype object holding {type(value).__name__} "
                    f"values; expected real numbers (float or integer)."
                )
        return converted
    if kind not in "fiu":
        raise TypeError(f"{name} has dtype {a.dtype}; expected real numbers (float or integer).")
    return a


def check_finite(a, name):
    """Raise ValueError if ``a`` holds NaN or +-inf. No N-sized temporary."""
    if a.size <= 4096 and np.isfinite(a).all():  # small arrays: the cheapest check
        return
    # Fast path: one pass, no temporary; a NaN or inf anywhere makes the sum non-finite.
    with np.errstate(over="ignore", invalid="ignore"):
        total = np.add.reduce(a, axis=None, dtype=np.float64)
    if np.isfinite(total):
        return
    # Either non-finite entries or an overflowing (but finite) sum: look, a row block
    # at a time so the boolean temporary stays small.
    flat = a.reshape(a.shape[0], -1) if a.ndim > 1 else a.reshape(-1, 1)
    step = max(1, 2**20 // max(1, flat.shape[1]))
    for start in range(0, flat.shape[0], step):
        block = flat[start : start + step]
        bad = ~np.isfinite(block)
        if bad.any():
            index = np.unravel_index(start * flat.shape[1] + int(np.argmax(bad)), a.shape)
            value = a[index]
            raise ValueError(
                f"{name} contains {'NaN' if np.isnan(value) else value} at index "
                f"{tuple(int(i) for i in index)}; fastgd needs finite values "
                f"(remove or impute missing data first)."
            )


def _reject_unsupported_container(x, name):
    module = type(x).__module__
    if module.startswith("scipy.sparse"):
        raise TypeError(
            f"{name} is a scipy.sparse matrix; fastgd needs a dense array "
            f"({name}.toarray() if it fits in memory)."
        )


def _frame_as_numbers(X, name):
    """A pandas DataFrame's columns as numbers: bool columns as 0 and 1 (as
    scikit-learn's check_array takes them), and a TypeError naming a column that holds
    something else (a category, a string), with what to do. Other X: as it is."""
    dtypes = getattr(X, "dtypes", None)
    if dtypes is None or not hasattr(dtypes, "items") or not hasattr(X, "columns"):
        return X
    booleans = []
    for column, dtype in dtypes.items():
        kind = getattr(dtype, "kind", "O")
        if kind == "b":
            booleans.append(column)
        elif kind not in "fiu" and (
            kind != "O" or str(dtype) != "object" or not _all_numbers(X[column])
        ):
            raise TypeError(
                f"{name}'s column {column!r} has dtype {dtype}, not numbers: fastgd fits "
                f"real numbers. Encode it first (pandas.get_dummies, or scikit-learn's "
                f"OneHotEncoder or OrdinalEncoder), or leave it out."
            )
    return X.astype({column: np.float64 for column in booleans}) if booleans else X


def _all_numbers(column):
    try:
        np.asarray(column, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return True


def check_X(X, name="X"):
    """Return ``(X, x_is_f)``: X as a float32/float64, C- or F-contiguous 2-D array."""
    _reject_unsupported_container(X, name)
    X = np.asarray(_frame_as_numbers(X, name))
    if X.dtype.kind == "O":
        original_dtype = X.dtype
        X = _check_dtype(X, name)  # float64 now: a copy, reported below
        warnings.warn(
            f"{name} was copied ({X.size * 8 / 1e6:.3g} MB): converted from {original_dtype} "
            f"to float64. Pass a float64 or float32 array to avoid the copy.",
            CopyWarning,
            stacklevel=user_stacklevel(),
        )
    _check_dtype(X, name)
    if X.ndim != 2:
        hint = (
            f" (Reshape your data: {name}.reshape(-1, 1) if it has a single feature, "
            f"{name}.reshape(1, -1) if it is a single sample)"
            if X.ndim == 1
            else ""
        )
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_samples, n_features); "
            f"got a {_describe(X)}{hint}."
        )
    if X.shape[0] == 0 or X.shape[1] == 0:
        missing = "sample(s)" if X.shape[0] == 0 else "feature(s)"
        raise ValueError(
            f"{name} must have at least one sample and one feature; found 0 {missing} "
            f"(shape={X.shape}) while a minimum of 1 is required."
        )
    if X.dtype.char in "fd" and X.dtype.isnative:  # float32, float64
        target = X.dtype
    elif X.dtype.kind == "f" and X.dtype.itemsize < 4:
        target = np.dtype(np.float32)
    elif X.dtype.kind == "f" and X.dtype.itemsize == 4:  # float32, non-native byte order
        target = np.dtype(np.float32)
    else:  # integers, longdouble, float64 in non-native byte order
        target = np.dtype(np.float64)
    flags = X.flags
    c_order, f_order = flags.c_contiguous, flags.f_contiguous
    if X.dtype is not target or not (c_order or f_order):
        reason = (
            f"converted from {X.dtype} to {target}"
            if X.dtype != target
            else "made contiguous (it was a strided view)"
        )
        warnings.warn(
            f"{name} was copied ({X.size * target.itemsize / 1e6:.3g} MB): {reason}. "
            f"Pass a C- or Fortran-contiguous float64 or float32 array to avoid the copy.",
            CopyWarning,
            stacklevel=user_stacklevel(),
        )
        X = np.asarray(X, dtype=target, order="F" if f_order and not c_order else "C")
        c_order, f_order = X.flags.c_contiguous, X.flags.f_contiguous
    return X, f_order and not c_order


def check_y(y, n_samples, dtype, name="y"):
    """Return ``(Y, y_is_1d)``: y as an (N, K) array of ``dtype`` (a view when it can)."""
    _reject_unsupported_container(y, name)
    if y is None:
        raise TypeError(f"{name} is None; fastgd needs the targets of a supervised fit.")
    y = _check_dtype(np.asarray(y), name)  # object arrays of numbers become float64
    if y.ndim not in (1, 2):
        raise ValueError(
            f"{name} must be a 1-D array of shape (n_samples,) or a 2-D array of shape "
            f"(n_samples, n_targets); got a {_describe(y)}."
        )
    if y.shape[0] != n_samples:
        raise ValueError(
            f"X and {name} have different numbers of samples: X has {n_samples} rows, "
            f"{name} has {y.shape[0]}."
        )
    if y.ndim == 2 and y.shape[1] == 0:
        raise ValueError(f"{name} must have at least one target column; got shape {y.shape}.")
    y = y.astype(dtype, copy=False)
    return (y[:, None] if y.ndim == 1 else y), y.ndim == 1


def check_coef(coef, n_targets, n_features, y_is_1d, dtype, name="coef_init"):
    """Return a fresh C-contiguous (K, D) copy of ``coef`` in ``dtype`` (zeros if None)."""
    expected = (n_features,) if y_is_1d else (n_targets, n_features)
    if coef is None:
        return np.zeros((n_targets, n_features), dtype=dtype)
    coef = np.asarray(coef)
    _check_dtype(coef, name)
    if coef.shape != expected:
        raise ValueError(
            f"{name} must have shape {expected} (the shape of coef for this X and y); "
            f"got shape {coef.shape}."
        )
    return np.array(coef.reshape(n_targets, n_features), dtype=dtype, order="C", copy=True)


def check_intercept(intercept, n_targets, y_is_1d, dtype, name="intercept_init"):
    """Return a fresh (K,) copy of ``intercept`` in ``dtype`` (zeros if None).

    A number is accepted for any number of targets (it is broadcast); an array
    must have shape (K,) and goes with 2-D y only.
    """
    if intercept is None:
        return np.zeros(n_targets, dtype=dtype)
    if isinstance(intercept, (int, float)) and not isinstance(intercept, bool):
        b = np.empty(n_targets, dtype=dtype)  # fast path for the common plain number
        try:
            b.fill(intercept)
        except OverflowError:  # an int beyond float64's range
            raise ValueError(
                f"{name} is an integer of {len(str(abs(intercept)))} digits, "
                f"beyond the range of {np.dtype(dtype).name}."
            ) from None
        return b
    intercept = np.asarray(intercept)
    _check_dtype(intercept, name)
    if intercept.ndim != 0 and (y_is_1d or intercept.shape != (n_targets,)):
        expected = "a number" if y_is_1d else f"a number or an array of shape ({n_targets},)"
        raise ValueError(f"{name} must be {expected}; got shape {intercept.shape}.")
    if intercept.ndim == 0:
        return np.full(n_targets, intercept, dtype=dtype)
    return np.array(intercept, dtype=dtype, copy=True)


def _check_real(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{name} must be a real number; got {value!r} of type {type(value).__name__}."
        )
    return float(value)


def check_lr(lr):
    """Return "auto" or lr as a positive finite float."""
    if isinstance(lr, str):
        if lr != "auto":
            raise ValueError(f"lr must be 'auto' or a positive float; got {lr!r}.")
        return lr
    value = _check_real(lr, "lr")
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"lr must be 'auto' or a positive finite float; got {lr!r}.")
    return value


def check_max_iter(max_iter):
    return _check_int(max_iter, "max_iter", 1)


def check_tol(tol):
    value = _check_real(tol, "tol")
    if not (np.isfinite(value) and value >= 0):
        raise ValueError(f"tol must be a finite number >= 0; got {tol!r}.")
    return value


def check_backend(backend):
    if not isinstance(backend, str) or (backend != "auto" and backend not in BACKENDS):
        raise ValueError(f"backend must be one of {('auto',) + BACKENDS}; got {backend!r}.")
    return backend


def check_penalty(penalty, alpha, l1_ratio):
    """Return the weights (l1, l2) of ``l1 * ||W||_1 + l2 / 2 * ||W||_2^2``."""
    if penalty not in (None, "l2", "l1", "elasticnet"):
        raise ValueError(f"penalty must be None, 'l2', 'l1' or 'elasticnet'; got {penalty!r}.")
    alpha = _check_real(alpha, "alpha")
    if not (np.isfinite(alpha) and alpha >= 0):
        raise ValueError(f"alpha must be a finite number >= 0; got {alpha!r}.")
    l1_ratio = _check_real(l1_ratio, "l1_ratio")
    if not 0 <= l1_ratio <= 1:
        raise ValueError(f"l1_ratio must be between 0 and 1; got {l1_ratio!r}.")
    if penalty is None:
        return 0.0, 0.0
    if penalty == "l2":
        return 0.0, alpha
    if penalty == "l1":
        return alpha, 0.0
    return alpha * l1_ratio, alpha * (1 - l1_ratio)


def check_path_penalty(penalty, l1_ratio):
    """The L1 share of a path's penalty ("l1": 1, "l2": 0, "elasticnet": ``l1_ratio``,
    a number in (0, 1], or for cross-validation a list of them, returned as a tuple)."""
    if penalty not in ("l1", "l2", "elasticnet"):
        raise ValueError(f"penalty must be 'l1', 'l2' or 'elasticnet'; got {penalty!r}.")
    if penalty != "elasticnet":
        return 1.0 if penalty == "l1" else 0.0
    if isinstance(l1_ratio, numbers.Real) and not isinstance(l1_ratio, (bool, np.bool_)):
        return _check_l1_share(l1_ratio)
    if isinstance(l1_ratio, (str, bytes)) or np.ndim(l1_ratio) != 1 or not len(l1_ratio):
        raise TypeError(
            f"l1_ratio must be a number in (0, 1], or a non-empty list of them; got {l1_ratio!r}."
        )
    return tuple(_check_l1_share(value) for value in l1_ratio)


def _check_l1_share(l1_ratio):
    value = _check_real(l1_ratio, "l1_ratio")
    if not 0 < value <= 1:
        raise ValueError(
            f"l1_ratio must be in (0, 1] with penalty='elasticnet' (penalty='l2' for a "
            f"ridge path); got {l1_ratio!r}."
        )
    return value


def check_alphas(alphas):
    """``(n_alphas, None)`` for a number of grid points (an int >= 1), or ``(n,
    alphas)``: the given penalties, positive and finite, sorted decreasing."""
    if isinstance(alphas, numbers.Integral) and not isinstance(alphas, (bool, np.bool_)):
        return _check_int(alphas, "alphas", 1), None
    if isinstance(alphas, (str, bytes, bool, np.bool_)) or np.ndim(alphas) != 1:
        raise TypeError(
            f"alphas must be a number of grid points or a 1-D array of penalties; got {alphas!r}."
        )
    try:
        values = np.array(alphas, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"alphas must hold real numbers; got {alphas!r}.") from None
    if not len(values) or not (np.isfinite(values) & (values > 0)).all():
        raise ValueError(
            f"alphas must be a non-empty array of finite penalties > 0; got {alphas!r}."
        )
    return len(values), np.sort(values)[::-1].copy()


def check_eps(eps):
    """The ratio of a grid's smallest alpha to its largest, in (0, 1)."""
    value = _check_real(eps, "eps")
    if not 0 < value < 1:
        raise ValueError(
            f"eps must be in (0, 1): the smallest alpha over the largest; got {eps!r}."
        )
    return value


def check_momentum(momentum, nesterov):
    momentum = _check_real(momentum, "momentum")
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum must be in [0, 1); got {momentum!r}.")
    nesterov = _check_bool(nesterov, "nesterov")
    if nesterov and momentum == 0:
        raise ValueError("nesterov=True needs a momentum > 0 (as torch.optim.SGD).")
    return momentum, nesterov


@dataclass(frozen=True)
class Point:
    """The caller's coefficients and intercept (None: zeros), checked once the data's
    shape and dtype are known: X and y first, then the point, then the weights, in
    the order of the caller's arguments. ``finite``: NaN and inf are errors here (a
    starting point); else the caller checks them if the loss is not finite."""

    coef: object
    intercept: object
    coef_name: str
    intercept_name: str
    finite: bool = True

    def checked(self, n_targets, n_features, y_is_1d, dtype):
        """``(W, b)``: (K, D) and (K,) fresh copies in ``dtype``."""
        W = check_coef(self.coef, n_targets, n_features, y_is_1d, dtype, self.coef_name)
        b = check_intercept(self.intercept, n_targets, y_is_1d, dtype, self.intercept_name)
        if self.finite:
            check_point_finite(W, b, y_is_1d, self.coef_name, self.intercept_name)
        return W, b


def check_point_finite(W, b, y_is_1d, coef_name, intercept_name):
    """Raise ValueError naming NaN or inf in the (cast) starting point or point of
    evaluation, indexed as the caller's arrays are (coef (D,) for 1-D y)."""
    check_finite(W[0] if y_is_1d else W, coef_name)
    check_finite(b, intercept_name)


# Weights whose largest is beyond 2**+-WEIGHT_EXPONENT are scaled by a power of two.
WEIGHT_EXPONENT = 64


def check_sample_weight(sample_weight, n_samples, dtype):
    """Return None or the weights as an (N,) array of ``dtype``, non-negative and
    finite, with a positive sum; scaled by a power of two (a copy) if their largest is
    beyond 2**+-64: every fit is the same with weights times a constant, and that
    power of two changes no bit of it, but the weighted sums (s y, s r^2) of weights
    near 1e-280 underflowed to 0 (a bound of 3e-29 for an error of 2e-15)."""
    if sample_weight is None:
        return None
    weights = np.asarray(sample_weight)
    _check_dtype(weights, "sample_weight")
    if weights.shape != (n_samples,):
        raise ValueError(
            f"sample_weight must have shape ({n_samples},), one weight per sample; "
            f"got shape {weights.shape}."
        )
    weights = np.ascontiguousarray(weights, dtype=dtype)
    if not (np.isfinite(weights).all() and (weights >= 0).all()):
        raise ValueError("sample_weight must hold finite, non-negative numbers.")
    if not weights.sum(dtype=np.float64) > 0:
        raise ValueError("sample_weight must have a positive sum (not all zero).")
    exponent = int(np.frexp(weights.max())[1])
    if abs(exponent) > WEIGHT_EXPONENT:
        weights = np.ldexp(weights, -exponent).astype(dtype, copy=False)
    return weights


def check_solver(solver):
    if not isinstance(solver, str) or solver not in ("auto", "stream", "gram"):
        raise ValueError(f"solver must be 'auto', 'stream' or 'gram'; got {solver!r}.")
    return solver


METHODS = ("auto", "qr", "cg", "fista", "gd")


def check_method(method):
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}.")
    return method


def check_n_threads(n_threads):
    return _check_int(n_threads, "n_threads", 1, allow_none=True)


def _check_int(value, name, low, allow_none=False):
    if allow_none and value is None:
        return None
    expected = f"{'None or ' if allow_none else ''}an integer >= {low}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be {expected}; got {value!r}.")
    if value < low:
        raise ValueError(f"{name} must be {expected}; got {value}.")
    return int(value)


def _check_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {value!r}.")
    return bool(value)


def check_batch_size(batch_size):
    """None (full batch) or an integer >= 1."""
    return _check_int(batch_size, "batch_size", 1, allow_none=True)


def check_shuffle(shuffle):
    return _check_bool(shuffle, "shuffle")


def check_schedule(schedule, power_t):
    """Return the kernels' schedule code and power_t as a float."""
    if not isinstance(schedule, str) or schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}; got {schedule!r}.")
    power_t = _check_real(power_t, "power_t")
    if not (np.isfinite(power_t) and power_t >= 0):
        raise ValueError(f"power_t must be a finite number >= 0; got {power_t!r}.")
    return SCHEDULES.index(schedule), power_t


def check_early_stopping(early_stopping, validation_fraction, n_iter_no_change):
    early_stopping = _check_bool(early_stopping, "early_stopping")
    validation_fraction = _check_real(validation_fraction, "validation_fraction")
    if not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in (0, 1); got {validation_fraction!r}.")
    return early_stopping, validation_fraction, _check_int(n_iter_no_change, "n_iter_no_change", 1)


def check_random_state(random_state):
    """Return a seed for the kernels' generator (uint64 as a Python int).

    As scikit-learn's random_state: None draws fresh entropy (results vary from
    run to run), an int gives the same seed every time, a numpy Generator or
    RandomState is drawn from (so two fits with the same instance differ).
    """
    if random_state is None:  # (fresh entropy, as np.random.SeedSequence() draws)
        return int.from_bytes(os.urandom(8), "little")
    if isinstance(random_state, (numbers.Integral, np.integer)) and not isinstance(
        random_state, (bool, np.bool_)
    ):
        if random_state < 0:
            raise ValueError(
                f"random_state must be None, an int >= 0 or a numpy "
                f"Generator / RandomState; got {random_state}."
            )
        return int(np.random.SeedSequence(int(random_state)).generate_state(1, np.uint64)[0])
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**64, dtype=np.uint64))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**63, dtype=np.int64))
    raise TypeError(
        f"random_state must be None, an int >= 0 or a numpy Generator / RandomState; "
        f"got {random_state!r}."
    )


def check_callback(callback):
    if callback is not None and not callable(callback):
        raise TypeError(
            f"callback must be None or a callable (iteration, coef, intercept, loss); "
            f"got {callback!r}."
        )
    return callback


def check_verbose(verbose):
    if isinstance(verbose, (bool, np.bool_)):
        return int(verbose)
    return _check_int(verbose, "verbose", 0)


def check_fit_intercept(fit_intercept):
    return _check_bool(fit_intercept, "fit_intercept")
