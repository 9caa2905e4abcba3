"""The conformance matrix: each compiled backend against the NumPy reference.

One parametrised test runs every named option set of ``OPTION_SETS`` through the
public API (``fastgd.fit``, ``GDRegressor.partial_fit`` or ``fastgd.gradient``) on a
compiled backend and on ``backend="numpy"``, with the same data and arguments, and
compares everything the call returns: coefficients, intercept, ``n_iter``,
``converged``, ``lr``, the method and solver that ran, every history array and the
warnings raised (by category). One tolerance table,
``TOLERANCE``, says how close is close enough.

Feature test files keep the tests against outside oracles (lstsq, scikit-learn,
closed forms, the seeds' loops); a compiled-vs-reference comparison belongs here,
as one entry of ``OPTION_SETS``.

How the matrix is cut (the full cross, 54 option sets x 2 backends x 2 dtypes x
3 layouts x 7 shapes, would be some 4,500 tests; this is about a quarter of that):

- backend (numba, cython) x dtype (float64, float32): always all four.
- shapes (``SHAPES``): every option set runs on ``SHAPES_FOR_ALL``, a multi-output
  y within one kernel block and a 1-D y over several blocks. The edge shapes (N = 1,
  D = 1, N = 4), the kernels' parallel path ("threads") and the large shape run
  only with the sets that reach them differently: the plain step (both solvers),
  the default method and the gradient. Per-sample sets run on small shapes only
  (the reference's Python loop makes one step per row).
- layouts (``LAYOUTS``): C and F everywhere; "view" (a read-only X and a read-only,
  non-contiguous y) only with the sets flagged ``views=True`` (the plain step,
  sample weights, per-sample updates, the gradient) on ``SHAPES_FOR_ALL`` and D = 1
  (one row of y is contiguous whatever its strides), since the API makes y one
  contiguous array before any kernel sees it.
- the "large" shape (``SLOW_SHAPES``) is marked slow.
"""

import functools
import warnings
from dataclasses import dataclass

import numpy as np
import pytest

import fastgd

from conftest import COMPILED_BACKENDS as COMPILED
from conftest import make_problem

DTYPES = {"float64": np.float64, "float32": np.float32}

# (n_samples, n_features, n_targets); n_targets None is a 1-D y.
SHAPES = {
    "one-row": (1, 5, None),  # N = 1: every mean is one row
    "one-feature": (7, 1, None),  # D = 1
    "tiny": (4, 2, None),  # fewer rows than some mini-batches
    "3-targets": (37, 5, 3),  # multi-output, within one kernel block of 256 rows
    "blocks": (600, 7, None),  # 3 blocks of 256 rows (the last partial), 5 QR panels
    # N * D * K = 144,000 >= 2**17 multiply-adds: the kernels' parallel path, 12 chunks
    "threads": (3000, 48, None),
    "large": (70_000, 20, 2),  # over 256 blocks: chunks of two blocks (137 of 512 rows)
}
SLOW_SHAPES = {"large"}
# Every option set runs on these two unless it says otherwise: 1-D and multi-output
# y, one block and several.
SHAPES_FOR_ALL = ("3-targets", "blocks")
# The plain step, the default method and the gradient also run on the edge shapes.
EVERY_SHAPE = ("one-row", "one-feature", "tiny") + SHAPES_FOR_ALL + ("threads", "large")

LAYOUTS = ("C", "F", "view")

# Relative tolerance of a compiled result against the reference's, by dtype: the one
# tolerance of the matrix. Arrays are compared elementwise with rtol and with
# atol = rtol * their largest |value| (coefficients and intercept: the model's
# largest |value|), so that entries near zero are held to the scale of the problem,
# not to their own. The backends sum in different orders (blocks of 256 rows,
# chunks, vectorised dot products; the reference calls BLAS), so they agree to a few
# ulps per pass, and the fits here are short or contracting. Measured worst case over
# the matrix: 2e-15 (float64) and 7e-7 (float32, CG on the threads shape): no option
# set needs a tolerance of its own, not even CG and FISTA, whose steps are computed
# from the previous ones' inner products.
TOLERANCE = {np.float64: 1e-11, np.float32: 2e-5}


@dataclass(frozen=True)
class FromData:
    """An argument computed from the problem's X and y (a shape, a weight per row)."""

    make: object


@dataclass(frozen=True)
class OptionSet:
    options: dict
    call: str = "fit"  # "fit", "direct", "partial_fit" (GDRegressor) or "gradient"
    shapes: tuple = SHAPES_FOR_ALL
    views: bool = False  # also run on the "view" layout


def _weights(X, y):
    return np.random.default_rng(0).uniform(0.5, 2.0, len(X))


def _coef_shape(X, y):
    return (X.shape[1],) if y.ndim == 1 else (y.shape[1], X.shape[1])


def _two_point_four_over_L(X, y):
    """A step 1.2 times too large for gradient descent: the loss rises at first."""
    A = np.hstack([X, np.ones((len(X), 1))]).astype(np.float64)
    return 2.4 / np.linalg.eigvalsh(A.T @ A / len(A))[-1]


WEIGHTS = FromData(_weights)
COEF_INIT = FromData(lambda X, y: np.full(_coef_shape(X, y), 0.3))
INTERCEPT_INIT = FromData(lambda X, y: 0.5 if y.ndim == 1 else np.linspace(-1.0, 1.0, y.shape[1]))

GD = dict(lr=0.1, max_iter=25, tol=0, method="gd")
MINIBATCH = dict(
    lr=0.05, max_iter=4, tol=0, sample_weight=WEIGHTS, random_state=7, solver="stream"
)
# test_minibatch.py's cross of batch sizes with three families of options.
MINIBATCH_EXTRAS = {
    "momentum": dict(momentum=0.3),
    "invscaling-l1": dict(schedule="invscaling", penalty="l1", alpha=0.01),
    "early-stopping-adaptive": dict(
        early_stopping=True, schedule="adaptive", n_iter_no_change=2, validation_fraction=0.25
    ),
}
MINIBATCH_SIZES = {"per-sample": 1, "batch7": 7, "batch64": 64, "full-batch": None}

OPTION_SETS = {
    # Plain gradient descent with a float lr: the seeds' loop (test_fit.py checks the
    # reference against it), on every shape and layout.
    "gd-float-lr": OptionSet(dict(GD, solver="stream"), shapes=EVERY_SHAPE, views=True),
    "gd-float-lr-gram": OptionSet(dict(GD, solver="gram"), shapes=EVERY_SHAPE),
    "gd-auto-lr": OptionSet(dict(max_iter=25, tol=0, method="gd", solver="stream")),
    "gd-no-intercept": OptionSet(dict(GD, fit_intercept=False, solver="stream")),
    "gd-coef-init": OptionSet(
        dict(GD, coef_init=COEF_INIT, intercept_init=INTERCEPT_INIT, solver="stream")
    ),
    "gd-fixed-intercept-gram": OptionSet(
        dict(
            GD,
            coef_init=COEF_INIT,
            intercept_init=INTERCEPT_INIT,
            fit_intercept=False,
            solver="gram",
        )
    ),
    "gd-weighted": OptionSet(dict(GD, sample_weight=WEIGHTS, solver="stream"), views=True),
    "gd-weighted-gram": OptionSet(dict(GD, sample_weight=WEIGHTS, solver="gram")),
    # The default method of tall data: the direct solve, refined and certified (the
    # same coefficients; how many refinement passes it takes is decided by rounding,
    # so the call "direct" compares the end, not the path).
    "qr": OptionSet(dict(), call="direct", shapes=SHAPES_FOR_ALL + ("threads", "large")),
    "qr-weighted": OptionSet(dict(sample_weight=WEIGHTS), call="direct"),
    "qr-no-intercept": OptionSet(dict(fit_intercept=False), call="direct"),
    "qr-fixed-intercept": OptionSet(
        dict(fit_intercept=False, intercept_init=INTERCEPT_INIT), call="direct"
    ),
    "qr-ridge": OptionSet(dict(penalty="l2", alpha=0.05), call="direct"),
    "qr-lasso": OptionSet(dict(penalty="l1", alpha=0.05), call="direct"),
    "qr-elasticnet": OptionSet(
        dict(penalty="elasticnet", alpha=0.05, l1_ratio=0.5, sample_weight=WEIGHTS), call="direct"
    ),
    # Conjugate gradients, to convergence: the same iterations and certificate (the
    # default where the data do not compress: solver="stream").
    "cg": OptionSet(dict(tol=1e-4, max_iter=500, solver="stream"), shapes=EVERY_SHAPE),
    "cg-gram": OptionSet(
        dict(tol=1e-4, max_iter=500, solver="gram", method="cg"),
        shapes=SHAPES_FOR_ALL + ("large",),
    ),
    "cg-weighted": OptionSet(dict(tol=1e-4, max_iter=500, sample_weight=WEIGHTS, solver="stream")),
    "cg-no-intercept": OptionSet(
        dict(tol=1e-4, max_iter=500, fit_intercept=False, solver="stream")
    ),
    "cg-coef-init": OptionSet(
        dict(
            tol=1e-4,
            max_iter=500,
            coef_init=COEF_INIT,
            intercept_init=INTERCEPT_INIT,
            solver="stream",
        )
    ),
    # FISTA with restarts: the default with an L1 penalty where the data do not compress.
    "fista-l1": OptionSet(
        dict(penalty="l1", alpha=0.05, tol=1e-4, max_iter=2000, solver="stream")
    ),
    "fista-l1-gram": OptionSet(
        dict(penalty="l1", alpha=0.05, tol=1e-4, max_iter=2000, solver="gram", method="fista")
    ),
    # Penalties with plain steps (proximal gradient for the L1 part).
    "l2": OptionSet(dict(GD, penalty="l2", alpha=0.05, max_iter=60, solver="stream")),
    "l1": OptionSet(dict(GD, penalty="l1", alpha=0.05, max_iter=60, solver="stream")),
    "elasticnet": OptionSet(
        dict(GD, penalty="elasticnet", alpha=0.05, l1_ratio=0.5, max_iter=60, solver="stream")
    ),
    "elasticnet-gram": OptionSet(
        dict(GD, penalty="elasticnet", alpha=0.05, l1_ratio=0.5, max_iter=60, solver="gram")
    ),
    # Momentum (torch.optim.SGD's definitions; test_momentum.py checks them).
    "momentum-elasticnet": OptionSet(
        dict(
            GD,
            momentum=0.8,
            penalty="elasticnet",
            alpha=0.05,
            l1_ratio=0.5,
            max_iter=50,
            solver="stream",
        )
    ),
    "nesterov-elasticnet": OptionSet(
        dict(
            GD,
            momentum=0.8,
            nesterov=True,
            penalty="elasticnet",
            alpha=0.05,
            l1_ratio=0.5,
            max_iter=50,
            solver="stream",
        )
    ),
    "nesterov-l1": OptionSet(
        dict(
            GD, momentum=0.7, nesterov=True, penalty="l1", alpha=0.05, max_iter=50, solver="stream"
        )
    ),
    "momentum-gram": OptionSet(dict(GD, momentum=0.9, max_iter=50, solver="gram")),
    "nesterov-l1-gram": OptionSet(
        dict(GD, momentum=0.7, nesterov=True, penalty="l1", alpha=0.05, max_iter=50, solver="gram")
    ),
    # Schedules with a full batch.
    "invscaling": OptionSet(
        dict(lr=0.2, schedule="invscaling", power_t=0.4, max_iter=20, tol=0, solver="stream")
    ),
    "adaptive-rescue": OptionSet(
        dict(
            lr=FromData(_two_point_four_over_L),
            schedule="adaptive",
            n_iter_no_change=3,
            max_iter=30,
            tol=0,
            solver="stream",
        )
    ),
    # Mini-batches: shuffled by the same generator everywhere, so the same rows.
    # Per-sample updates run on small shapes: the reference makes one Python step per
    # row, and a single row never spans a kernel block.
    **{
        f"{size}-{extra}": OptionSet(
            dict(MINIBATCH, batch_size=batch_size, **options),
            views=size == "per-sample",
            shapes=("one-feature", "3-targets") if batch_size == 1 else SHAPES_FOR_ALL,
        )
        for size, batch_size in MINIBATCH_SIZES.items()
        for extra, options in MINIBATCH_EXTRAS.items()
    },
    "batch16-no-shuffle": OptionSet(
        dict(lr=0.05, max_iter=4, tol=0, batch_size=16, shuffle=False, solver="stream")
    ),
    "batch10-invscaling": OptionSet(
        dict(
            lr=0.2,
            schedule="invscaling",
            power_t=0.4,
            max_iter=6,
            tol=0,
            batch_size=10,
            random_state=0,
        )
    ),
    "batch16-plateau": OptionSet(dict(batch_size=16, max_iter=300, tol=1e-3, random_state=0)),
    # Early stopping to convergence: the same held-out rows and the same stopping epoch.
    "early-stopping": OptionSet(
        dict(
            early_stopping=True,
            validation_fraction=0.2,
            n_iter_no_change=3,
            tol=1e-4,
            random_state=5,
            max_iter=2000,
        )
    ),
    "batch16-early-stopping": OptionSet(
        dict(
            early_stopping=True,
            validation_fraction=0.2,
            n_iter_no_change=3,
            tol=1e-4,
            batch_size=16,
            random_state=5,
            max_iter=2000,
        )
    ),
    # Streaming: GDRegressor.partial_fit over three chunks, twice (state carried over).
    "partial-fit-nesterov": OptionSet(
        dict(lr=0.05, momentum=0.7, nesterov=True), call="partial_fit"
    ),
    "partial-fit-batch8-l1": OptionSet(
        dict(
            lr=0.05,
            batch_size=8,
            momentum=0.5,
            schedule="invscaling",
            penalty="l1",
            alpha=0.01,
            random_state=0,
            sample_weight=WEIGHTS,
        ),
        call="partial_fit",
    ),
    # fastgd.gradient itself, at a point away from the solution.
    "gradient": OptionSet(dict(), call="gradient", shapes=EVERY_SHAPE, views=True),
    "gradient-weighted": OptionSet(
        dict(sample_weight=WEIGHTS),
        call="gradient",
        shapes=SHAPES_FOR_ALL + ("threads",),
        views=True,
    ),
}


# ------------------------------------------------------------------------- the data


@functools.cache
def _problem(shape_name, dtype_name, layout):
    """X and y of a shape in a dtype and layout ("view": a read-only C-ordered X and
    a read-only, non-contiguous y), the same for every backend."""
    n_samples, n_features, n_targets = SHAPES[shape_name]
    dtype = DTYPES[dtype_name]
    X, y, _, _ = make_problem(
        n_samples,
        n_features,
        n_targets,
        dtype=dtype,
        layout="C" if layout == "view" else layout,
        seed=n_samples,
    )
    if layout == "view":
        holder = np.empty((n_samples, 2) + y.shape[1:], dtype=dtype)
        holder[:, 0] = y
        y = holder[:, 0]  # every other row of the holder: strided
        assert not y.flags.c_contiguous and not y.flags.f_contiguous
        for array in (X, y):
            array.setflags(write=False)  # no backend may write to them
    return X, y


def _arguments(options, X, y):
    return {
        name: value.make(X, y) if isinstance(value, FromData) else value
        for name, value in options.items()
    }


# --------------------------------------------------------------------------- the calls


def _fit(X, y, backend, options):
    result = fastgd.fit(X, y, backend=backend, **options)
    return dict(
        coef=result.coef,
        intercept=result.intercept,
        lr=result.lr,
        n_iter=int(result.n_iter),
        converged=bool(result.converged),
        method=result.method,
        solver=result.solver,
        loss_history=result.loss_history,
        **{f"history[{name}]": values for name, values in result.history.items()},
    )


def _direct_fit(X, y, backend, options):
    """The direct solve: its end, not its path (the number of refinement passes, each
    correction at the rounding level, differs with the rounding of the factor)."""
    result = fastgd.fit(X, y, backend=backend, **options)
    return dict(
        coef=result.coef,
        intercept=result.intercept,
        lr=result.lr,
        converged=bool(result.converged),
        method=result.method,
        solver=result.solver,
        loss=result.loss_history[-1],
    )


def _partial_fit(X, y, backend, options):
    """Three chunks of rows, in X's layout, twice: the optimiser's state crosses calls."""
    weights = options.pop("sample_weight", None)
    model = fastgd.GDRegressor(backend=backend, **options)
    order = "F" if X.flags.f_contiguous and not X.flags.c_contiguous else "C"
    bounds = np.linspace(0, len(X), 4).astype(int)
    for _ in range(2):
        for rows in (slice(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a):
            model.partial_fit(
                np.asarray(X[rows], order=order),
                y[rows],
                sample_weight=None if weights is None else weights[rows],
            )
    return dict(
        coef=model.coef_,
        intercept=model.intercept_,
        n_iter=int(model.n_iter_),
        t=int(model.t_),
        lr=model.lr_,
        **{f"history[{name}]": values for name, values in model.history_.items()},
    )


def _gradient(X, y, backend, options):
    rng = np.random.default_rng(1)
    coef = rng.standard_normal(_coef_shape(X, y)).astype(X.dtype)
    intercept = np.asarray(rng.standard_normal(np.shape(y)[1:]), dtype=X.dtype)
    grad_coef, grad_intercept, loss = fastgd.gradient(
        X, y, coef, intercept, backend=backend, **options
    )
    # Copies: the kernels reuse their output buffers for the next call of this shape.
    return dict(coef=np.copy(grad_coef), intercept=np.copy(grad_intercept), loss=loss)


CALLS = {"fit": _fit, "direct": _direct_fit, "partial_fit": _partial_fit, "gradient": _gradient}


def _run(name, backend, shape_name, dtype_name, layout):
    """What the call returns, and the categories of the warnings it raised."""
    option_set = OPTION_SETS[name]
    X, y = _problem(shape_name, dtype_name, layout)
    options = _arguments(option_set.options, X, y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outputs = CALLS[option_set.call](X, y, backend, options)
    outputs["warnings"] = sorted({w.category.__name__ for w in caught})
    return outputs


@functools.cache
def _reference(name, shape_name, dtype_name, layout):
    """The NumPy reference's outputs, computed once for both compiled backends."""
    return _run(name, "numpy", shape_name, dtype_name, layout)


# ---------------------------------------------------------------------- the comparison


def assert_conforms(got, want, rtol, context):
    """Every output of the reference is there, exactly for integers, booleans and
    names, within rtol (scaled as TOLERANCE says) for numbers, in the same dtype."""
    assert sorted(got) == sorted(want), context
    model_scale = max(
        np.max(np.abs(want[name]), initial=0.0) for name in ("coef", "intercept") if name in want
    )
    for name, expected in want.items():
        actual = got[name]
        where = f"{name}: {context}"
        if isinstance(expected, (str, bool, int, list)):
            assert actual == expected, where
            continue
        actual, expected = np.asarray(actual), np.asarray(expected)
        assert actual.dtype == expected.dtype and actual.shape == expected.shape, where
        scale = (
            model_scale if name in ("coef", "intercept") else np.max(np.abs(expected), initial=0.0)
        )
        np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale, err_msg=where)


def _cases():
    for name, option_set in OPTION_SETS.items():
        for shape_name in option_set.shapes:
            views = option_set.views and shape_name in SHAPES_FOR_ALL + ("one-feature",)
            for layout in LAYOUTS if views else LAYOUTS[:2]:
                marks = [pytest.mark.slow] if shape_name in SLOW_SHAPES else []
                yield pytest.param(
                    name, shape_name, layout, marks=marks, id=f"{name}-{shape_name}-{layout}"
                )


@pytest.mark.parametrize("dtype_name", list(DTYPES))
@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("name, shape_name, layout", list(_cases()))
def test_compiled_backend_conforms_to_the_reference(name, shape_name, layout, backend, dtype_name):
    want = _reference(name, shape_name, dtype_name, layout)
    got = _run(name, backend, shape_name, dtype_name, layout)
    rtol = TOLERANCE[DTYPES[dtype_name]]
    context = (
        f"option set {name!r}, backend={backend}, dtype={dtype_name}, "
        f"layout={layout}, shape={SHAPES[shape_name]}"
    )
    assert_conforms(got, want, rtol, context)


# The fused pass takes a tile of 4 rows at a time, each row's dot product in 8
# lanes (the Cython kernel's _lanes.h): every remainder of N mod 4 (within a block of
# 256 rows, and after one) and D mod 8, with and without weights, both layouts.
TILE_SHAPES = [(n, d, k) for n in (4, 5, 6, 7, 259) for d in (1, 7, 8, 9, 17) for k in (None, 3)]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("layout", ["C", "F"])
@pytest.mark.parametrize("dtype_name", list(DTYPES))
@pytest.mark.parametrize("backend", COMPILED)
def test_gradient_at_every_tile_remainder_conforms(backend, dtype_name, layout, weighted):
    dtype = DTYPES[dtype_name]
    for n, d, k in TILE_SHAPES:
        X, y, W, b = make_problem(n, d, k, dtype=dtype, layout=layout, seed=n * d)
        W, b = (0.5 * np.asarray(W)).astype(dtype), (0.5 * np.asarray(b)).astype(dtype)
        weights = np.linspace(0.5, 2.0, n).astype(dtype) if weighted else None
        want = fastgd.gradient(X, y, W, b, backend="numpy", sample_weight=weights)
        got = fastgd.gradient(X, y, W, b, backend=backend, sample_weight=weights)
        rtol = TOLERANCE[dtype]
        for name, actual, expected in zip(("grad_W", "grad_b", "loss"), got, want):
            actual, expected = np.asarray(actual), np.asarray(expected)
            assert actual.dtype == expected.dtype and actual.shape == expected.shape
            np.testing.assert_allclose(
                actual,
                expected,
                rtol=rtol,
                atol=rtol * np.max(np.abs(expected)),
                err_msg=f"{name}: {backend} {layout} {(n, d, k)}",
            )


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype_name", list(DTYPES))
def test_the_two_backends_tiles_give_the_same_bits(dtype_name, weighted):
    """The 4-row tile is written out lane by lane in both backends (_lanes.h and
    _numba_kernels._dot4_lanes): where every row is in a tile (N a multiple of 4, X
    C-ordered), the two compiled backends give the same gradient, bit for bit. (The
    rows after the last tile still take each backend's own _dot.)"""
    dtype = DTYPES[dtype_name]
    for n, d, k in [
        (n, d, k) for n in (4, 256, 1028) for d in (1, 7, 8, 9, 20, 33) for k in (None, 2)
    ]:
        X, y, W, b = make_problem(n, d, k, dtype=dtype, seed=n + d)
        W, b = (0.5 * np.asarray(W)).astype(dtype), (0.5 * np.asarray(b)).astype(dtype)
        weights = np.linspace(0.5, 2.0, n).astype(dtype) if weighted else None
        numba, cython = (
            fastgd.gradient(X, y, W, b, backend=backend, n_threads=1, sample_weight=weights)
            for backend in COMPILED
        )
        assert np.array_equal(numba[0], cython[0]) and np.array_equal(numba[1], cython[1]), (
            n,
            d,
            k,
        )
