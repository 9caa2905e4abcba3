"""Every bad argument is refused with the right exception and a message naming it.

One table, ``BAD_ARGUMENTS``: (call, arguments, exception type, the name the message
must contain, a pattern the message must match). The calls are the public entry
points (``fastgd.fit``, ``fastgd.gradient``, ``GDRegressor``'s ``fit``,
``partial_fit``, ``predict``, ``score`` and ``set_params``) on a small good problem
that each row changes in one argument. Accepted-but-unusual inputs (integers,
float32, views, memmaps) are in test_inputs.py.
"""

import functools
import re
from dataclasses import dataclass

import numpy as np
import pytest
import scipy.sparse

import fastgd
from fastgd import GDRegressor

from conftest import ALL_BACKENDS, make_problem


@functools.cache
def _good(n_targets=None):
    """A 6 x 3 problem (y 1-D, or with n_targets columns), read-only so that no row
    can change it for the next."""
    X, y, _, _ = make_problem(6, 3, n_targets, seed=0)
    for array in (X, y):
        array.setflags(write=False)
    return X, y


def _zero_coef(X, y):
    """A zero coef of the right shape for gradient(X, y, coef) when X and y make sense,
    and an arbitrary small one otherwise (the error under test comes first)."""
    n_features = np.shape(X)[1] if np.ndim(X) == 2 else 1
    if np.ndim(y) == 2 and np.shape(y)[1] > 0:
        return np.zeros((np.shape(y)[1], n_features))
    return np.zeros(n_features)


# ------------------------------------------------------------------------------ calls

GOOD = object()  # "the good problem's X (or y)"


def _data(X, y, n_targets=None):
    good_X, good_y = _good(n_targets)
    return (good_X if X is GOOD else X), (good_y if y is GOOD else y)


def call_fit(X=GOOD, y=GOOD, n_targets=None, **kwargs):
    X, y = _data(X, y, n_targets)
    return fastgd.fit(X, y, **{"max_iter": 3, "tol": 0.0, **kwargs})


def call_gradient(X=GOOD, y=GOOD, n_targets=None, coef=GOOD, **kwargs):
    X, y = _data(X, y, n_targets)
    return fastgd.gradient(X, y, _zero_coef(X, y) if coef is GOOD else coef, **kwargs)


def _estimator_call(which, /, X=GOOD, y=GOOD, n_targets=None, **params):
    """GDRegressor(**params) stores its parameters unchecked; the fit checks them and,
    refusing them, leaves the estimator unfitted."""
    X, y = _data(X, y, n_targets)
    model = GDRegressor(**params)
    try:
        getattr(model, which)(X, y)
    except Exception:
        assert not hasattr(model, "coef_"), "a refused fit left fitted attributes"
        raise


@functools.cache
def _fitted(n_targets=None):
    return GDRegressor(max_iter=3000, tol=1e-8, backend="numpy").fit(*_good(n_targets))


def call_predict(X, n_targets=None, fitted=True):
    return (_fitted(n_targets) if fitted else GDRegressor()).predict(X)


def call_score(X=GOOD, y=GOOD, n_targets=None, fitted=True):
    X, y = _data(X, y, n_targets)
    return (_fitted(n_targets) if fitted else GDRegressor()).score(X, y)


def call_set_params(**params):
    return GDRegressor().set_params(**params)


CALLS = {
    "fit": call_fit,
    "gradient": call_gradient,
    "GDRegressor.fit": functools.partial(_estimator_call, "fit"),
    "GDRegressor.partial_fit": functools.partial(_estimator_call, "partial_fit"),
    "predict": call_predict,
    "score": call_score,
    "set_params": call_set_params,
}


@dataclass(frozen=True)
class Lazy:
    """An argument too large to build at collection: built when its row runs."""

    make: object


def _with_nan_deep_inside(order):
    # Large enough that the finite check is more than a trivial loop; the NaN is near
    # the end, so the fast path (a sum) must fall through to the block scan.
    X, _, _, _ = make_problem(3000, 50, seed=0, layout=order)
    X[2500, 37] = np.nan
    return X


def _wide_float32_with_nan():
    # 4096 columns: the finite scan looks at 256 rows at a time, so the NaN in row 550
    # is in the third block, and the reported index must still be the true one.
    X = np.asarray(np.random.default_rng(1).standard_normal((600, 4096)), dtype=np.float32)
    X[550, 4000] = np.nan
    return X


def _with(array, index, value):
    array = np.array(array)
    array[index] = value
    return array


# ------------------------------------------------------------------------------ the table


@dataclass(frozen=True)
class Bad:
    call: str
    arguments: dict
    error: type
    name: str  # the argument the message names
    match: str  # a regular expression the message must match (re.search)


def on_fit_and_gradient(arguments, error, name, match):
    return [
        Bad("fit", arguments, error, name, match),
        Bad("gradient", arguments, error, name, match),
    ]


def _label(value):
    return "NaN" if np.isnan(value) else re.escape(str(value))


BAD_DTYPES = {
    "complex": lambda a: a.astype(np.complex128),
    "object-str": lambda a: np.where(a > 0, "a", "b").astype(object),
    "object-bool": lambda a: (a > 0).astype(object),
    "str": lambda a: a.astype(str),
    "bool": lambda a: a > 0,
}
X6, Y6 = _good()
X6_2, Y6_2 = _good(2)

BAD_ARGUMENTS = [
    # ---- X and y: shapes
    *[
        row
        for X in (np.arange(6.0), np.zeros((6, 2, 2)), np.float64(3.0))
        for row in on_fit_and_gradient(
            dict(X=X, y=np.zeros(6)), ValueError, "X", r"^X must be a 2-D array"
        )
    ],
    *on_fit_and_gradient(
        dict(X=np.arange(6.0), y=np.zeros(6)), ValueError, "X", r"reshape\(-1, 1\)"
    ),
    *[
        row
        for y in (np.zeros((6, 2, 1)), np.float64(1.0))
        for row in on_fit_and_gradient(dict(y=y), ValueError, "y", r"^y must be a 1-D array")
    ],
    *[
        row
        for n_y in (5, 7, 1)
        for y in (np.zeros(n_y), np.zeros((n_y, 2)))
        for row in on_fit_and_gradient(
            dict(y=y), ValueError, "X and y", r"X and y have different numbers of samples"
        )
    ],
    *on_fit_and_gradient(
        dict(X=np.zeros((0, 3)), y=np.zeros(0)),
        ValueError,
        "X",
        r"^X must have at least one sample",
    ),
    *on_fit_and_gradient(
        dict(X=np.zeros((5, 0)), y=np.zeros(5)),
        ValueError,
        "X",
        r"^X must have at least one sample and one feature",
    ),
    *on_fit_and_gradient(
        dict(y=np.zeros((6, 0))), ValueError, "y", r"^y must have at least one target column"
    ),
    Bad("fit", dict(y=None), TypeError, "y", r"y is None"),
    Bad(
        "GDRegressor.fit",
        dict(y=None),
        ValueError,
        "y",
        r"requires y to be passed, but the target y is None",
    ),  # scikit-learn's words
    # ---- X and y: non-finite values, named with their index
    *[
        row
        for bad in (np.nan, np.inf, -np.inf)
        for row in on_fit_and_gradient(
            dict(X=_with(X6, (4, 1), bad)),
            ValueError,
            "X",
            rf"^X contains {_label(bad)} at index \(4, 1\)",
        )
    ],
    *[
        row
        for bad in (np.nan, np.inf, -np.inf)
        for y, index, n_targets in ((Y6, (3,), None), (Y6_2, (3, 1), 2))
        for row in on_fit_and_gradient(
            dict(y=_with(y, index, bad), n_targets=n_targets),
            ValueError,
            "y",
            rf"^y contains .* at index {re.escape(str(index))}",
        )
    ],
    *[
        row
        for order in ("C", "F")
        for row in on_fit_and_gradient(
            dict(X=Lazy(functools.partial(_with_nan_deep_inside, order)), y=np.zeros(3000)),
            ValueError,
            "X",
            r"^X contains NaN at index \(2500, 37\)",
        )
    ],
    Bad(
        "gradient",
        dict(X=Lazy(_wide_float32_with_nan), y=np.zeros(600, np.float32), backend="numpy"),
        ValueError,
        "X",
        r"^X contains NaN at index \(550, 4000\)",
    ),
    *on_fit_and_gradient(
        dict(
            X=Lazy(lambda: make_problem(3000, 50, seed=0)[0]),
            y=_with(np.zeros((3000, 3)), (2999, 2), np.inf),
            n_targets=3,
        ),
        ValueError,
        "y",
        r"^y contains inf at index \(2999, 2\)",
    ),
    # ---- X and y: types
    *[
        row
        for make in BAD_DTYPES.values()
        for row in on_fit_and_gradient(dict(X=make(X6)), TypeError, "X", r"^X has")
    ],
    *[
        row
        for make in BAD_DTYPES.values()
        for y, n_targets in ((Y6, None), (Y6_2, 2))
        for row in on_fit_and_gradient(
            dict(y=make(y), n_targets=n_targets), TypeError, "y", r"^y has"
        )
    ],
    Bad(
        "fit",
        dict(X=np.array([[1.0, 2.0], [True, 4.0], [5.0, 6.0]], dtype=object), y=np.zeros(3)),
        TypeError,
        "X",
        r"X has dtype object holding bool",
    ),
    *[
        row
        for fmt in ("csr_matrix", "csc_matrix", "coo_matrix", "csr_array")
        for row in on_fit_and_gradient(
            dict(X=getattr(scipy.sparse, fmt)(X6)), TypeError, "X", r"^X is a scipy\.sparse"
        )
    ],
    Bad(
        "fit",
        dict(y=scipy.sparse.csr_matrix(Y6[:, None])),
        TypeError,
        "y",
        r"^y is a scipy\.sparse",
    ),
    # ---- hyper-parameters of fit
    *[
        Bad("fit", dict(lr=v), ValueError, "lr", r"^lr must be")
        for v in (0.0, -0.1, -np.inf, np.nan, np.inf, "fast", "AUTO", "")
    ],
    *[
        Bad("fit", dict(lr=v), TypeError, "lr", r"^lr must be a real number")
        for v in ([0.1], True, False, None, np.True_, 1j)
    ],
    *[
        Bad("fit", dict(max_iter=v), ValueError, "max_iter", r"^max_iter must be")
        for v in (0, -1, np.int64(0))
    ],
    *[
        Bad("fit", dict(max_iter=v), TypeError, "max_iter", r"^max_iter must be an integer")
        for v in (2.5, 3.0, True, "10", None)
    ],
    *[
        Bad("fit", dict(tol=v), ValueError, "tol", r"^tol must be")
        for v in (-1e-3, -np.inf, np.nan, np.inf)
    ],
    *[
        Bad("fit", dict(tol=v), TypeError, "tol", r"^tol must be a real number")
        for v in ("x", None, [1e-3], True)
    ],
    *[
        Bad(
            "fit",
            dict(fit_intercept=v),
            TypeError,
            "fit_intercept",
            r"^fit_intercept must be True or False",
        )
        for v in (1, 0, "True", None, 1.0)
    ],
    *[
        row
        for v in ("cuda", "Numba", "", None, 3)
        for row in on_fit_and_gradient(
            dict(backend=v), ValueError, "backend", r"^backend must be one of"
        )
    ],
    *[
        row
        for v, error in (
            (0, ValueError),
            (-1, ValueError),
            (1.5, TypeError),
            (True, TypeError),
            ("2", TypeError),
        )
        for row in on_fit_and_gradient(
            dict(n_threads=v), error, "n_threads", r"^n_threads must be None or an integer >= 1"
        )
    ],
    Bad("fit", dict(solver="newton"), ValueError, "solver", r"^solver must be"),
    Bad("fit", dict(method="newton"), ValueError, "method", r"^method must be one of"),
    Bad(
        "fit",
        dict(penalty="l3"),
        ValueError,
        "penalty",
        r"^penalty must be None, 'l2', 'l1' or 'elasticnet'",
    ),
    Bad("fit", dict(penalty="l2", alpha=-1.0), ValueError, "alpha", r"^alpha must be"),
    Bad("fit", dict(penalty="l2", alpha=np.nan), ValueError, "alpha", r"^alpha must be"),
    Bad("fit", dict(penalty="l2", alpha="big"), TypeError, "alpha", r"^alpha must be"),
    Bad(
        "fit",
        dict(penalty="elasticnet", l1_ratio=1.5),
        ValueError,
        "l1_ratio",
        r"^l1_ratio must be between 0 and 1",
    ),
    Bad("fit", dict(momentum=1.0), ValueError, "momentum", r"^momentum must be in \[0, 1\)"),
    Bad("fit", dict(momentum=-0.1), ValueError, "momentum", r"^momentum must be in \[0, 1\)"),
    Bad("fit", dict(momentum="x"), TypeError, "momentum", r"^momentum must be a real number"),
    Bad("fit", dict(nesterov=True), ValueError, "nesterov", r"^nesterov=True needs a momentum"),
    Bad(
        "fit",
        dict(momentum=0.5, nesterov=1),
        TypeError,
        "nesterov",
        r"^nesterov must be True or False",
    ),
    Bad(
        "fit",
        dict(batch_size=0),
        ValueError,
        "batch_size",
        r"^batch_size must be None or an integer >= 1",
    ),
    Bad(
        "fit",
        dict(batch_size=2.5),
        TypeError,
        "batch_size",
        r"^batch_size must be None or an integer",
    ),
    Bad("fit", dict(shuffle="yes"), TypeError, "shuffle", r"^shuffle must be True or False"),
    Bad(
        "fit",
        dict(random_state=-1),
        ValueError,
        "random_state",
        r"^random_state must be None, an int >= 0",
    ),
    Bad(
        "fit",
        dict(random_state="seed"),
        TypeError,
        "random_state",
        r"^random_state must be None, an int",
    ),
    Bad("fit", dict(schedule="optimal"), ValueError, "schedule", r"^schedule must be one of"),
    Bad(
        "fit", dict(power_t=-1.0), ValueError, "power_t", r"^power_t must be a finite number >= 0"
    ),
    Bad("fit", dict(power_t="half"), TypeError, "power_t", r"^power_t must be a real number"),
    Bad(
        "fit",
        dict(early_stopping=1),
        TypeError,
        "early_stopping",
        r"^early_stopping must be True or False",
    ),
    Bad(
        "fit",
        dict(validation_fraction=1.0),
        ValueError,
        "validation_fraction",
        r"^validation_fraction must be in \(0, 1\)",
    ),
    Bad(
        "fit",
        dict(n_iter_no_change=0),
        ValueError,
        "n_iter_no_change",
        r"^n_iter_no_change must be an integer >= 1",
    ),
    Bad(
        "fit",
        dict(X=np.zeros((1, 2)), y=np.zeros(1), early_stopping=True),
        ValueError,
        "validation_fraction",
        r"^early_stopping needs at least one training row",
    ),
    Bad("fit", dict(callback=3), TypeError, "callback", r"^callback must be None or a callable"),
    Bad("fit", dict(verbose=-1), ValueError, "verbose", r"^verbose must be"),
    # ---- options that cannot be combined
    Bad(
        "fit",
        dict(batch_size=2, solver="gram"),
        ValueError,
        "batch_size",
        r"solver='gram'.*batch_size",
    ),
    Bad(
        "fit",
        dict(early_stopping=True, solver="gram"),
        ValueError,
        "early_stopping",
        r"solver='gram'.*early_stopping",
    ),
    *[
        Bad(
            "fit",
            dict(method=method, **options),
            ValueError,
            "method",
            rf"^method='{method}' cannot be combined with {re.escape(what)}",
        )
        for method, options, what in (
            ("cg", dict(penalty="l1", alpha=0.1), "an L1 penalty"),
            ("cg", dict(lr=0.1), "a float lr"),
            ("fista", dict(lr=0.1), "a float lr"),
            ("cg", dict(momentum=0.5), "momentum"),
            ("fista", dict(momentum=0.5), "momentum"),
            ("cg", dict(batch_size=2), "mini-batches"),
            ("fista", dict(early_stopping=True), "mini-batches or early_stopping"),
            ("cg", dict(schedule="invscaling"), "a schedule"),
        )
    ],
    Bad(
        "GDRegressor.partial_fit",
        dict(method="cg"),
        ValueError,
        "method",
        r"^partial_fit makes gradient-descent steps: method must be",
    ),
    # ---- sample_weight
    *[
        row
        for weights, error, match in (
            (np.ones(5), ValueError, r"^sample_weight must have shape \(6,\)"),
            (-np.ones(6), ValueError, r"^sample_weight must hold finite, non-negative"),
            (np.full(6, np.nan), ValueError, r"^sample_weight must hold finite"),
            (np.zeros(6), ValueError, r"^sample_weight must have a positive sum"),
            (np.array(["a"] * 6), TypeError, r"^sample_weight has"),
        )
        for row in on_fit_and_gradient(dict(sample_weight=weights), error, "sample_weight", match)
    ],
    # Two rows, one weighing nothing: whichever the seed holds out (seeds 0 and 1 hold
    # out different rows), the training or the validation side weighs nothing.
    *[
        Bad(
            "fit",
            dict(
                X=X6[:2],
                y=Y6[:2],
                early_stopping=True,
                validation_fraction=0.5,
                sample_weight=np.array([0.0, 1.0]),
                random_state=seed,
            ),
            ValueError,
            "sample_weight",
            r"^sample_weight is zero on every (training|validation)",
        )
        for seed in range(4)
    ],
    # ---- starting points
    *[
        Bad(
            "fit",
            dict(coef_init=np.zeros(shape), n_targets=n_targets),
            ValueError,
            "coef_init",
            r"^coef_init must have shape",
        )
        for n_targets, shape in (
            (None, (4,)),
            (None, (1, 3)),
            (None, (3, 1)),
            (None, ()),
            (2, (3,)),
            (2, (3, 2)),
            (2, (1, 3)),
            (2, (2, 3, 1)),
        )
    ],
    *[
        Bad(
            "fit",
            dict(coef_init=_with(np.zeros(shape), (..., 1), bad), n_targets=n_targets),
            ValueError,
            "coef_init",
            r"^coef_init contains",
        )
        for bad in (np.nan, np.inf)
        for n_targets, shape in ((None, (3,)), (2, (2, 3)))
    ],
    Bad(
        "fit",
        dict(coef_init=np.zeros(3, dtype=complex)),
        TypeError,
        "coef_init",
        r"^coef_init has",
    ),
    *[
        Bad(
            "fit",
            dict(intercept_init=value, n_targets=n_targets),
            ValueError,
            "intercept_init",
            r"^intercept_init must be",
        )
        for n_targets, value in (
            (None, np.zeros(1)),
            (None, np.zeros(3)),
            (2, np.zeros(3)),
            (2, np.zeros((2, 1))),
            (2, np.zeros(1)),
        )
    ],
    *[
        Bad(
            "fit",
            dict(intercept_init=value, n_targets=n_targets),
            ValueError,
            "intercept_init",
            r"^intercept_init contains",
        )
        for n_targets, value in ((None, np.nan), (2, np.array([0.0, np.inf])))
    ],
    # A NaN start with the intercept held fixed made the Gram matrix NaN, and the error
    # told the user to rescale X and y: every backend and solver blames the start.
    *[
        Bad(
            "fit",
            dict(
                intercept_init=np.nan, fit_intercept=fit_intercept, solver=solver, backend=backend
            ),
            ValueError,
            "intercept_init",
            r"^intercept_init contains NaN",
        )
        for backend in ALL_BACKENDS
        for solver in ("stream", "gram")
        for fit_intercept in (True, False)
    ],
    *[
        Bad(
            "fit",
            dict(coef_init=np.array([0.0, np.inf, 0.0]), solver=solver, backend=backend),
            ValueError,
            "coef_init",
            r"^coef_init contains inf",
        )
        for backend in ALL_BACKENDS
        for solver in ("stream", "gram")
    ],
    # ---- gradient's point
    Bad("gradient", dict(coef=None), TypeError, "coef", r"^coef is required"),
    *[
        Bad(
            "gradient",
            dict(coef=np.zeros(shape), n_targets=n_targets),
            ValueError,
            "coef",
            r"^coef must have shape",
        )
        for n_targets, shape in ((None, (4,)), (None, (1, 3)), (2, (3,)), (2, (3, 2)))
    ],
    Bad(
        "gradient",
        dict(coef=np.array([0.0, np.nan, 0.0])),
        ValueError,
        "coef",
        r"^coef contains NaN",
    ),
    *[
        Bad(
            "gradient",
            dict(intercept=value, n_targets=n_targets),
            ValueError,
            "intercept",
            r"^intercept must be",
        )
        for n_targets, value in ((None, np.zeros(1)), (2, np.zeros(3)))
    ],
    # ---- the estimator: parameters are checked by fit, not by the constructor
    Bad("GDRegressor.fit", dict(lr=-1), ValueError, "lr", r"^lr must be"),
    Bad("GDRegressor.fit", dict(max_iter=0), ValueError, "max_iter", r"^max_iter\b"),
    Bad("GDRegressor.fit", dict(tol="x"), TypeError, "tol", r"^tol\b"),
    Bad("GDRegressor.fit", dict(fit_intercept=1), TypeError, "fit_intercept", r"^fit_intercept\b"),
    Bad("GDRegressor.fit", dict(backend="gpu"), ValueError, "backend", r"^backend\b"),
    Bad("set_params", dict(learning_rate=0.1), ValueError, "learning_rate", r"Invalid parameter"),
    # ---- predict and score
    Bad("predict", dict(X=X6, fitted=False), fastgd.NotFittedError, "fit", r"fit"),
    Bad("score", dict(fitted=False), fastgd.NotFittedError, "fit", r"fit"),
    *[
        Bad(
            "predict",
            dict(X=np.zeros((4, width)), n_targets=n_targets),
            ValueError,
            "X",
            r"X has \d+ features",
        )
        for n_targets in (None, 3)
        for width in (2, 5)
    ],
    Bad("predict", dict(X=np.zeros(3)), ValueError, "X", r"^X must be a 2-D array"),
    Bad("predict", dict(X=np.array([[0.0, np.nan, 1.0]])), ValueError, "X", r"^X contains NaN"),
    Bad("predict", dict(X=np.array([[1j, 0, 0]])), TypeError, "X", r"^X has"),
]


def _short(value):
    if isinstance(value, Lazy):
        return "large"
    if isinstance(value, np.ndarray) or scipy.sparse.issparse(value):
        return f"{type(value).__name__}{value.shape}{value.dtype}"
    return repr(value)[:20]


def _id(bad):
    return f"{bad.call}-" + ",".join(f"{k}={_short(v)}" for k, v in bad.arguments.items())


@pytest.mark.parametrize("bad", BAD_ARGUMENTS, ids=[_id(bad) for bad in BAD_ARGUMENTS])
def test_a_bad_argument_is_refused_naming_it(bad):
    arguments = {k: v.make() if isinstance(v, Lazy) else v for k, v in bad.arguments.items()}
    with pytest.raises(bad.error, match=bad.match) as info:
        CALLS[bad.call](**arguments)
    assert bad.name in str(info.value), f"{str(info.value)!r} does not name {bad.name!r}"


@pytest.mark.parametrize("batch_size", [None, 16])
def test_nan_in_the_held_out_rows_of_early_stopping_is_named(backend, batch_size):
    """The validation rows are not in the training loss: a NaN there made every
    validation loss NaN, which passed as a plateau ("converged" after 5 epochs at
    [0.27, 0.78, 1.05] for a true [1, 2, 3]). Every seventh row is tried, so that
    some are held out, whichever rows the seed holds out."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((200, 3))
    y = X @ [1.0, 2.0, 3.0]
    for row in range(0, 200, 7):
        for column, target in ((1, False), (0, True)):
            Xi, yi = X.copy(), y.copy()
            if target:
                yi[row] = np.inf
            else:
                Xi[row, column] = np.nan
            name = r"y contains inf" if target else r"X contains NaN"
            with pytest.raises(ValueError, match=name):
                fastgd.fit(
                    Xi,
                    yi,
                    early_stopping=True,
                    random_state=0,
                    lr=0.1,
                    tol=1e-3,
                    batch_size=batch_size,
                    backend=backend,
                )


@pytest.mark.parametrize("solver", ["auto", "gram", "stream"])
@pytest.mark.parametrize("n_samples", [4, 10, 300])
def test_nan_in_a_small_x_is_named_not_a_zero_division(backend, solver, n_samples):
    """Numba's default error model raised ZeroDivisionError from the Gram solver's
    reflections on a 10 x 2 X with one NaN; the kernels now divide as C does and the
    API names the NaN."""
    X = np.random.default_rng(8).standard_normal((n_samples, 2))
    X[n_samples // 2, 0] = np.nan
    with pytest.raises(ValueError, match=r"X contains NaN at index"):
        fastgd.fit(X, np.ones(n_samples), solver=solver, backend=backend)
