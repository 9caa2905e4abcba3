"""The benchmark registry: every kind, shape, dtype, contender and target, in one place.

``fastgd bench`` times it (``fastgd/bench/run.py``), the report names its rows and
checks its targets from it (``fastgd/bench/report.py``), and the default test run
checks that every contender computes what it claims (``tests/test_bench_cases.py``).

One convention for every contender: ``setup(data) -> run``, where ``data`` is the
kind's :class:`CaseData` for one shape and dtype; ``setup`` does all preparation,
``run()`` is what is timed (or, for a kind that is not timed, what measures) and
returns what the kind's ``assess(data, result, baseline) -> dict`` scores, outside
the timing (``baseline`` is the result of the kind's first contender on the same
data). Ratios are "baseline time / contender time".

Kinds of measurement:

* ``gradient``: one evaluation of the full-batch gradient. The baseline is the
  seeds' vectorised NumPy, ``X.T.dot(X.dot(w) - y) / len(X)``.
* ``fit``: a whole fit of ``FIT_ITERATIONS[shape]`` iterations with a fixed learning
  rate and no intercept (the seeds' model). The baseline is the NumPy loop
  ``w -= lr * X.T.dot(X.dot(w) - y) / len(X)``; fastgd's streaming kernels and its
  Gram solver run the same iterations. scikit-learn's SGDRegressor (the same number
  of epochs, constant step) and ``np.linalg.lstsq`` (the direct solve) are there as
  the tools a user could pick instead: they are timed, but they do not run the same
  iterations, so they are not checked against the baseline (``same_result=False``).
* ``direct``: a default least-squares fit with an intercept (fastgd's direct solve,
  ``method="auto"``: the one pass, the exact solve of the compressed problem and its
  refinement and certificate), against scikit-learn's ``LinearRegression`` (the
  baseline), ``Ridge(solver="cholesky")`` with a negligible penalty and the normal
  equations in NumPy (``np.linalg.solve(A.T @ A, A.T @ y)``, ``A = [X, 1]``): what
  a user would run instead. Every result is scored against ``np.linalg.lstsq`` on
  the float64 data (``direct_reference``). The same run measures the floor under a
  fit, one read of X (the parallel sum of ``bandwidth``), fastgd's Gram pass alone
  (``backend.gram``, N m (m + 1) / 2 multiply-adds for m = D + 2) and a large
  float64 matrix product (``GEMM_SIZE`` cubed multiply-adds), the machine's
  practical multiply-add rate: the report puts the pass's rate beside it.
* ``lasso``: a whole L1-regularised fit, run to convergence, against scikit-learn's
  ``Lasso`` on the same float64 data and the same objective,
  ``||X w + b - y||^2 / (2N) + LASSO_ALPHA * ||w||_1`` with the intercept fitted and
  not penalised. Each contender stops when its duality gap is at most ``LASSO_GAP``
  (relative; each at its own tol for it), so they are compared by time *and* accuracy: every result
  is scored against a Lasso run to a much tighter tolerance (``lasso_reference``) by
  its objective, its distance to that solution and its exact zeros
  (``assess_lasso``). ``run()`` returns a ``LassoFit``.
* ``sgd``: stochastic gradient descent against scikit-learn's ``SGDRegressor`` on
  the same float64 data and the same objective, half the MSE with intercept, with
  the same step schedule (``invscaling``: step ``eta0 / (1 + t) ** power_t`` at
  update t) and the same fixed number of epochs ``SGD_EPOCHS`` for everyone (no
  tolerance stops anyone). fastgd runs the per-sample updates that SGDRegressor
  makes (``batch_size=1``; shuffled with another generator, so statistically the
  same, not bitwise) and mini-batches of ``SGD_BATCH_SIZE``, to show what
  mini-batching buys at equal epochs. Every result is scored against the
  least-squares solution (``sgd_reference``) by its objective and its distance to it
  (``assess_sgd``). ``run()`` returns an ``SGDFit``.
* ``many``: ``fastgd.fit_many`` on ``MANY_PROBLEMS[shape]`` independent problems of
  the shape, stacked (G, N, D), each with an intercept, against what a user could
  run instead: batched normal equations with ``np.linalg.solve`` (the fastest, the
  baseline), a Python loop of ``np.linalg.lstsq`` and one of scikit-learn's
  ``LinearRegression``. All return the (G, D + 1) least-squares solutions.
* ``dask``: a fit of Dask arrays persisted on a ``distributed.LocalCluster`` of
  worker processes: fastgd's default on 2 and 1 workers and on the same NumPy arrays
  in one process, against dask-ml's ``LinearRegression`` solvers, each run at the
  fewest iterations of a ladder that reach the relative objective gap ``DASK_GAP``
  to the least-squares optimum (``assess_dask`` scores every result against it).
  ``run()`` returns a ``DaskFit``.
* ``files``: a pass over a Parquet file in fresh processes: fastgd's fit of
  ``fastgd.read_files`` (a block at a time) against pyarrow reading the same row
  groups into NumPy arrays and nothing else (the limit), and against reading the
  whole file and fitting the arrays; rows per second and the peak memory of each
  process (``assess_file_pass``). Not timed: ``run()`` measures and returns them.
* ``bandwidth``: the machine's streaming-read bandwidth, measured in the same run
  (``fastgd.bench.probes.stream_sum``): the floor under a memory-bound gradient.
* ``coldstart``: ``import fastgd`` and the first fit in a fresh process, with
  Numba's on-disk cache present and (``--full``) empty. Not timed: ``run()``
  measures in child processes and returns the seconds.
* ``interrupt``: seconds from a SIGINT to ``fastgd.FitInterrupted`` in a fitting
  child process, per-sample SGD to full passes over an 800 MB X. Not timed either.
"""

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

import fastgd
from fastgd._backends import BACKENDS, COMPILED_BACKENDS
from fastgd.bench import probes


@dataclass(frozen=True)
class Shape:
    name: str
    n_samples: int
    n_features: int
    slow: bool = False  # left out of the quick run (``fastgd bench --full`` runs it)
    order: str = "C"  # X's memory layout (the interrupt kind varies it)
    batch_size: int = None  # the fit's batch size (the interrupt kind varies it)

    @property
    def size(self):
        return self.n_samples * self.n_features


@dataclass(frozen=True)
class CaseData:
    """What a kind's contenders receive: one shape and dtype, and its arrays (None
    for the kinds that measure in child processes)."""

    shape: Shape
    dtype: str
    X: np.ndarray = None
    y: np.ndarray = None
    files: object = None  # the files kind: its FileData (paths and the exact solution)

    def head(self, n_rows):
        """The first rows of the same data: a cheap warm-up for a slow case."""
        return replace(self, X=self.X[:n_rows], y=None if self.y is None else self.y[:n_rows])


@dataclass(frozen=True)
class Contender:
    name: str  # in case ids and the JSON
    label: str  # in the report's tables
    setup: Callable  # setup(data) -> run
    same_result: bool = True  # returns the baseline's result, to rounding (checked)
    backend: str = None  # the fastgd backend it needs (skipped with a note if absent)
    requires: tuple = ()  # modules it needs (skipped with a note if absent)
    # The contender it measures under other conditions: the report puts it in that
    # one's row (the gradient's 1-thread column, the cold start's empty-cache column).
    variant_of: str = None
    slow: bool = False  # left out of the quick run
    skip: frozenset = frozenset()  # shape names it is not run on (too slow there)
    warmed_by_setup: bool = False  # its setup calls what run() calls: no warm-up call


@dataclass(frozen=True, eq=False)
class Kind:
    name: str
    shapes: tuple
    dtypes: tuple
    contenders: tuple  # the first is the baseline of the kind's ratios
    make_data: Callable  # make_data(shape, dtype) -> CaseData
    assess: Callable  # assess(data, result, baseline) -> dict (JSON), outside timing
    timed: bool = True  # False: run() measures (in child processes) and returns it
    requires: tuple = ()  # modules its assess needs (its cases are skipped without them)
    rounds: int = None  # rounds per case; None: as many as the time budget allows
    slow_rounds: int = None  # the same, for slow shapes
    # Its contenders are all set up and warmed up before its row is timed (False: each
    # is set up and timed before the next, for contenders whose setup would undo the
    # one before's)
    warm_up_together: bool = True
    # check(medians: contender name -> seconds) -> {name: why its time is implausible}:
    # a row it finds implausible is measured again, and flagged if it still is
    check: Callable = None
    settings: dict = field(default_factory=dict)  # the constants the captions state

    @property
    def baseline(self):
        return self.contenders[0]


@dataclass(frozen=True)
class Target:
    """A promise about one case: ``measure`` of the best of ``contenders`` is at
    least (or at most) ``bound``. Measures: ``"speedup"`` (baseline time / time),
    ``"bandwidth"`` (bytes of X / time, as a share of the run's bandwidth) and
    ``"seconds"``. ``text`` may name ``{dtype}``."""

    text: str
    kind: str
    shape: str
    dtypes: tuple
    contenders: tuple
    measure: str
    bound: float
    at_most: bool = False
    against: str = None  # "speedup" over this contender (default: the kind's baseline)


def make_data(shape, dtype, seed=0):
    """Deterministic regression data: X (N, D) C-ordered, y = X w + noise."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((shape.n_samples, shape.n_features)).astype(dtype)
    w = rng.standard_normal(shape.n_features)
    y = (X @ w.astype(dtype) + 0.1 * rng.standard_normal(shape.n_samples)).astype(dtype)
    return CaseData(shape, dtype, X, y)


def stable_lr(X):
    """A fixed learning rate 1/L (L exactly, from X.T X / N), the same for everyone."""
    X64 = X.astype(np.float64)
    return 1.0 / np.linalg.eigvalsh(X64.T @ X64 / len(X))[-1]


# How closely a same_result contender must match its baseline, relative to the
# result's scale (tests/test_bench_cases.py checks it; the JSON records the error).
AGREEMENT = {"float64": 1e-9, "float32": 2e-3}


def assess_agreement(data, result, baseline):
    """{"error": max |result - baseline| / max |baseline|} (None without a baseline)."""
    if baseline is None:
        return {"error": None}
    got = np.asarray(result, dtype=np.float64)
    expected = np.asarray(baseline, dtype=np.float64)
    if got.shape != expected.shape:
        return {"error": math.inf}
    scale = max(float(np.abs(expected).max()), np.finfo(np.float64).tiny)
    return {"error": float(np.abs(got - expected).max() / scale)}


# ----------------------------------------------------------------------- gradient


def numpy_gradient(data):
    X, y = data.X, data.y
    w = np.zeros(X.shape[1], dtype=X.dtype)

    def run():
        return X.T.dot(X.dot(w) - y) / len(X)

    return run


def fastgd_gradient(backend, n_threads=None):
    def setup(data):
        X, y = data.X, data.y
        w = np.zeros(X.shape[1], dtype=X.dtype)

        def run():
            return fastgd.gradient(X, y, w, backend=backend, n_threads=n_threads)[0]

        return run

    return setup


def check_threads(medians, slower=2.0):
    """A kernel on every thread more than ``slower`` times slower than the same
    kernel on one: another program held a core, and every call waited for it (a
    2-core machine measured 0.01x NumPy this way where quiet runs measure about 1x).

    Examples
    --------
    >>> check_threads({"cython": 9e-3, "cython-1t": 8e-5, "numba": 5e-5, "numba-1t": 8e-5})
    {'cython': 'on all threads 112× slower than on one: other programs held a core, most likely'}
    """
    reasons = {}
    for name in COMPILED_BACKENDS:
        every, one = medians.get(name), medians.get(f"{name}-1t")
        if every and one and every > slower * one:
            reasons[name] = (
                f"on all threads {every / one:.3g}× slower than on one: other "
                "programs held a core, most likely"
            )
    return reasons


DTYPES = ("float64", "float32")
# The 4x2 shape is the size of seed 003's worked example (4 samples, 2 features).
GRADIENT = Kind(
    "gradient",
    shapes=(
        Shape("4x2", 4, 2),
        Shape("100x10", 100, 10),
        Shape("1e4x20", 10_000, 20),
        Shape("1e5x100", 100_000, 100),
        Shape("2e6x32", 2_000_000, 32, slow=True),
    ),
    dtypes=DTYPES,
    contenders=(
        Contender("numpy", "NumPy", numpy_gradient),
        *(
            Contender(name, name, fastgd_gradient(name), backend=name)
            for name in COMPILED_BACKENDS
        ),
        # The same kernels on one thread: the report's thread-scaling column.
        *(
            Contender(
                f"{name}-1t",
                f"{name}, 1 thread",
                fastgd_gradient(name, n_threads=1),
                backend=name,
                variant_of=name,
            )
            for name in COMPILED_BACKENDS
        ),
    ),
    make_data=make_data,
    assess=assess_agreement,
    check=check_threads,
)

# ---------------------------------------------------------------------------- fit

FIT_ITERATIONS = {"4x2": 1000, "100x10": 1000, "1e4x20": 1000, "1e6x32": 1000}


def numpy_fit(data):
    X, y, n_iter = data.X, data.y, FIT_ITERATIONS[data.shape.name]
    lr = stable_lr(X)

    def run():
        w = np.zeros(X.shape[1], dtype=X.dtype)
        for _ in range(n_iter):
            w -= lr * X.T.dot(X.dot(w) - y) / len(X)
        return w

    return run


def fastgd_fit(backend, solver):
    def setup(data):
        X, y, n_iter = data.X, data.y, FIT_ITERATIONS[data.shape.name]
        lr = stable_lr(X)

        def run():
            return fastgd.fit(
                X,
                y,
                lr=lr,
                max_iter=n_iter,
                tol=0,
                fit_intercept=False,
                backend=backend,
                solver=solver,
            ).coef

        return run

    return setup


def sklearn_sgd(data):
    from sklearn.linear_model import SGDRegressor

    X, y, n_iter = data.X, data.y, FIT_ITERATIONS[data.shape.name]
    lr = stable_lr(X)

    def run():
        model = SGDRegressor(
            max_iter=n_iter,
            tol=None,
            fit_intercept=False,
            penalty=None,
            learning_rate="constant",
            eta0=lr / 10,
            shuffle=False,
            random_state=0,
        )
        return model.fit(X, y).coef_

    return run


def lstsq_fit(data):
    X, y = data.X, data.y

    def run():
        return np.linalg.lstsq(X, y, rcond=None)[0]

    return run


def assess_fit(data, result, baseline):
    return {
        **assess_agreement(data, result, baseline),
        "iterations": FIT_ITERATIONS[data.shape.name],
    }


FIT = Kind(
    "fit",
    shapes=(
        Shape("4x2", 4, 2),
        Shape("100x10", 100, 10),
        Shape("1e4x20", 10_000, 20),
        Shape("1e6x32", 1_000_000, 32, slow=True),
    ),
    dtypes=DTYPES,
    contenders=(
        Contender("numpy", "NumPy loop", numpy_fit),
        *(
            Contender(name, name, fastgd_fit(name, "stream"), backend=name)
            for name in COMPILED_BACKENDS
        ),
        Contender("gram", "gram", fastgd_fit("auto", "gram")),
        # Seconds per round on 1e6 x 32: left out there.
        Contender(
            "sklearn-sgd",
            "sklearn-sgd",
            sklearn_sgd,
            same_result=False,
            requires=("sklearn",),
            skip=frozenset({"1e6x32"}),
        ),
        Contender("lstsq", "lstsq", lstsq_fit, same_result=False),
    ),
    make_data=make_data,
    assess=assess_fit,
    rounds=5,
    slow_rounds=1,
)

# ------------------------------------------------------------------------- direct

GEMM_SIZE = 2048  # the large matrix product whose rate is the machine's practical peak
_direct_references = {}


def direct_reference(data):
    """``[intercept, coef...]`` by ``np.linalg.lstsq`` on the float64 data, once per case."""
    key = (data.shape, data.dtype)
    if key not in _direct_references:
        X = data.X.astype(np.float64)
        A = np.hstack([np.ones((len(X), 1)), X])
        _direct_references[key] = np.linalg.lstsq(A, data.y.astype(np.float64), rcond=None)[0]
    return _direct_references[key]


def _solution(coef, intercept):
    return np.concatenate([[float(intercept)], np.asarray(coef, dtype=np.float64)])


def sklearn_linear_regression(data):
    from sklearn.linear_model import LinearRegression

    def run():
        model = LinearRegression().fit(data.X, data.y)
        return _solution(model.coef_, model.intercept_)

    return run


def sklearn_ridge_cholesky(data):
    from sklearn.linear_model import Ridge

    def run():  # (alpha: negligible beside X.T X, so the solution is least squares')
        model = Ridge(alpha=1e-9, solver="cholesky").fit(data.X, data.y)
        return _solution(model.coef_, model.intercept_)

    return run


def normal_equations(data):
    def run():
        A = np.hstack([data.X, np.ones((len(data.X), 1), dtype=data.X.dtype)])
        theta = np.linalg.solve(A.T @ A, A.T @ data.y)
        return _solution(theta[:-1], theta[-1])

    return run


def fastgd_default(backend):
    def setup(data):
        def run():
            result = fastgd.fit(data.X, data.y, backend=backend)
            return _solution(result.coef, result.intercept)

        return run

    return setup


def fastgd_estimator(data):
    def run():
        model = fastgd.GDRegressor().fit(data.X, data.y)
        return _solution(model.coef_, model.intercept_)

    return run


def read_of_x(data):
    flat = data.X.reshape(-1)

    def run():
        probes.stream_sum(flat)

    return run


def gram_pass(data):
    from fastgd._backends import get_backend

    backend = get_backend("cython" if "cython" in fastgd.available_backends() else "numba")
    Y, b = data.y[:, None], np.zeros(1)

    def run():
        backend.gram(data.X, Y, b, True, None, False)

    return run


def large_product(data):
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((2, GEMM_SIZE, GEMM_SIZE))

    def run():
        A @ B

    return run


def assess_direct(data, result, baseline):
    """{"error": max |theta - lstsq| / max |lstsq|} (the measurements: {})."""
    if result is None:
        return {}
    reference = direct_reference(data)
    return {"error": float(np.abs(result - reference).max() / np.abs(reference).max())}


DIRECT_SMALL = ("200x4", "1e3x10")
DIRECT_TALL = ("1e5x20", "1e6x50", "1e6x100", "1e6x200")
DIRECT = Kind(
    "direct",
    shapes=(
        Shape("200x4", 200, 4),
        Shape("1e3x10", 1000, 10),
        Shape("1e5x20", 100_000, 20),
        Shape("1e6x50", 1_000_000, 50, slow=True),
        Shape("1e6x100", 1_000_000, 100, slow=True),
        Shape("1e6x200", 1_000_000, 200, slow=True),
    ),
    dtypes=DTYPES,
    contenders=(
        Contender(
            "sklearn-lr",
            "scikit-learn `LinearRegression`",
            sklearn_linear_regression,
            requires=("sklearn",),
        ),
        Contender(
            "sklearn-ridge",
            '`Ridge(solver="cholesky")`',
            sklearn_ridge_cholesky,
            requires=("sklearn",),
        ),
        Contender("normal-equations", "normal equations (NumPy)", normal_equations),
        *(
            Contender(name, f"fastgd {name}", fastgd_default(name), backend=name)
            for name in COMPILED_BACKENDS
        ),
        Contender("estimator", "`GDRegressor()`", fastgd_estimator),
        # The floor and the peak: not fits (the report reads them in its own columns)
        Contender("read", "one read of X", read_of_x, same_result=False, variant_of="measurement"),
        Contender(
            "gram-pass",
            "fastgd's Gram pass",
            gram_pass,
            same_result=False,
            variant_of="measurement",
        ),
        Contender(
            "matmul",
            f"{GEMM_SIZE}² matrix product",
            large_product,
            same_result=False,
            variant_of="measurement",
        ),
    ),
    make_data=make_data,
    assess=assess_direct,
    requires=("sklearn",),
    slow_rounds=3,
    settings={"gemm_size": GEMM_SIZE},
)

# -------------------------------------------------------------------------- lasso

LASSO_ALPHA = 0.05  # keeps the 10 true coefficients and zeroes the other 90
# Every contender stops when its duality gap, a bound on the objective's distance to
# the optimum, is at most LASSO_GAP times the objective of the zero model
# (||y - mean(y)||^2 / (2N)): scikit-learn's Lasso at tol = LASSO_GAP / 2 (its gap is
# relative to ||y - mean(y)||^2 / N), fastgd at tol = sqrt(LASSO_GAP) (its tol is
# the square root of that relative gap: see fit's tol).
LASSO_GAP = 1e-10
LASSO_MAX_ITER = 100_000  # far above what LASSO_GAP needs: the gap stops everyone
# The reference solution's tolerance: its objective is the optimum to float64
# rounding on these shapes (1e-14 gives the same objective, bit for bit).
LASSO_REFERENCE_TOL = 1e-12


def make_lasso_data(shape, dtype):
    """Deterministic sparse regression data, X C-ordered and read-only.

    Features are standard normal with correlation ``0.5 ** |i - j|`` (an AR(1)
    design: correlated enough that the solvers need more than a few passes, as
    real Lasso data does), 10 true coefficients are nonzero (magnitudes 0.5 to 2,
    random signs), the intercept is 2 and the noise has standard deviation 1.
    """
    rng = np.random.default_rng(0)
    rho = 0.5
    X = rng.standard_normal((shape.n_samples, shape.n_features))
    for j in range(1, shape.n_features):
        X[:, j] = rho * X[:, j - 1] + np.sqrt(1 - rho**2) * X[:, j]
    w = np.zeros(shape.n_features)
    support = rng.choice(shape.n_features, 10, replace=False)
    w[support] = rng.choice([-1.0, 1.0], 10) * rng.uniform(0.5, 2.0, 10)
    y = X @ w + 2.0 + rng.standard_normal(shape.n_samples)
    return _read_only(CaseData(shape, dtype, X.astype(dtype), y.astype(dtype)))


def _read_only(data):
    # The arrays are shared by every contender of the shape, so none may change them
    # (scikit-learn's Lasso centres a copy of X, as copy_X=True asks).
    data.X.flags.writeable = False
    data.y.flags.writeable = False
    return data


@dataclass(frozen=True)
class LassoFit:
    coef: np.ndarray
    intercept: float
    n_iter: int  # fastgd: FISTA (proximal gradient) steps; Lasso: coordinate-descent epochs
    converged: bool


def lasso_objective(X, y, coef, intercept):
    """The objective every contender minimises, evaluated in float64."""
    residual = X.astype(np.float64, copy=False) @ coef + intercept - y
    return float(residual @ residual / (2 * len(X)) + LASSO_ALPHA * np.abs(coef).sum())


def fastgd_lasso(backend, solver):
    def setup(data):
        X, y = data.X, data.y

        def run():
            # lr="auto" is what a user would pass: the power iteration that estimates
            # the step is timed with the fit, as Lasso's own preparation is.
            result = fastgd.fit(
                X,
                y,
                penalty="l1",
                alpha=LASSO_ALPHA,
                lr="auto",
                tol=LASSO_GAP**0.5,
                max_iter=LASSO_MAX_ITER,
                fit_intercept=True,
                backend=backend,
                solver=solver,
            )
            return LassoFit(result.coef, float(result.intercept), result.n_iter, result.converged)

        return run

    return setup


def _sklearn_lasso(X, y, tol, precompute=False):
    from sklearn.linear_model import Lasso

    model = Lasso(
        alpha=LASSO_ALPHA,
        fit_intercept=True,
        tol=tol,
        max_iter=LASSO_MAX_ITER,
        precompute=precompute,
    ).fit(X, y)
    return LassoFit(
        model.coef_, float(model.intercept_), int(model.n_iter_), model.n_iter_ < LASSO_MAX_ITER
    )


def sklearn_lasso(precompute):
    def setup(data):
        def run():
            return _sklearn_lasso(data.X, data.y, LASSO_GAP / 2, precompute)

        return run

    return setup


def skglm_lasso(data):
    """skglm's Lasso (working sets and Anderson-accelerated coordinate descent), at
    a tol on its optimality violation that reaches LASSO_GAP here (its gap is scored
    by assess_lasso like everyone's)."""
    from skglm import Lasso

    def run():
        model = Lasso(alpha=LASSO_ALPHA, fit_intercept=True, tol=SKGLM_TOL, max_iter=1000)
        model.fit(data.X, data.y)
        return LassoFit(model.coef_, float(model.intercept_), int(model.n_iter_), True)

    return run


# skglm's tol bounds the violation of the optimality conditions, not the gap: this one
# leaves its objective within LASSO_GAP of the optimum on these data (the report's
# objective gap column shows where it landed).
SKGLM_TOL = 1e-8

_lasso_references = {}


def lasso_reference(data):
    """Lasso run to LASSO_REFERENCE_TOL on the case's data: (LassoFit, objective)."""
    key = (data.shape, data.dtype)
    if key not in _lasso_references:
        fit = _sklearn_lasso(data.X, data.y, LASSO_REFERENCE_TOL)
        _lasso_references[key] = fit, lasso_objective(data.X, data.y, fit.coef, fit.intercept)
    return _lasso_references[key]


def assess_lasso(data, fit, baseline):
    """Scores a LassoFit against ``lasso_reference`` (the baseline is not needed)."""
    reference, reference_objective = lasso_reference(data)
    return {
        "objective": lasso_objective(data.X, data.y, fit.coef, fit.intercept),
        "reference_objective": reference_objective,
        "coef_error": float(np.abs(fit.coef - reference.coef).max()),
        "intercept_error": abs(fit.intercept - reference.intercept),
        "nonzeros": int(np.count_nonzero(fit.coef)),
        "reference_nonzeros": int(np.count_nonzero(reference.coef)),
        "same_zeros": bool(np.array_equal(fit.coef == 0, reference.coef == 0)),
        "n_iter": int(fit.n_iter),
        "converged": bool(fit.converged),
    }


# What stops each: its duality gap (LASSO_GAP above): fastgd's FISTA checks it with
# one pass at the point it returns; Lasso once its largest coordinate update is at
# most its tol times max |w|.
# fastgd's NumPy reference backend is not a contender: it runs
# the compiled kernels' iterates but copies the rows of X at every step, and took
# about 2 s per fit on 1e4 x 100 here, too long for the quick run.
LASSO = Kind(
    "lasso",
    shapes=(Shape("1e4x100", 10_000, 100), Shape("1e6x100", 1_000_000, 100, slow=True)),
    # float64 only: LASSO_GAP is below what float32 rounding lets either solver certify.
    dtypes=("float64",),
    contenders=(
        Contender(
            "sklearn-lasso",
            "scikit-learn `Lasso`",
            sklearn_lasso(precompute=False),
            requires=("sklearn",),
        ),  # Lasso's default
        # Coordinate descent on the precomputed Gram matrix: the counterpart of fastgd's gram.
        Contender(
            "sklearn-lasso-gram",
            "scikit-learn `Lasso(precompute=True)`",
            sklearn_lasso(precompute=True),
            requires=("sklearn",),
        ),
        *(
            Contender(name, f"fastgd {name}", fastgd_lasso(name, "stream"), backend=name)
            for name in COMPILED_BACKENDS
        ),
        # solver="auto" picks gram here: fastgd's default for these shapes.
        Contender("gram", 'fastgd `solver="gram"`', fastgd_lasso("auto", "gram")),
        Contender("skglm", "skglm `Lasso`", skglm_lasso, requires=("skglm",)),
    ),
    make_data=make_lasso_data,
    assess=assess_lasso,
    requires=("sklearn",),  # the reference solution is scikit-learn's Lasso
    slow_rounds=1,
    settings={"alpha": LASSO_ALPHA, "gap": LASSO_GAP, "reference_tol": LASSO_REFERENCE_TOL},
)

# ----------------------------------------------------------------------------- cv

CV_ALPHAS = 100
CV_FOLDS = 5  # contiguous folds (KFold without shuffling), every library's default
CV_L1_RATIOS = (0.1, 0.5, 0.9)
# RidgeCV's grid, in fastgd's units (Ridge(a) on n training rows is alpha = a / n)
CV_RIDGE_ALPHAS = np.geomspace(10.0, 1e-5, CV_ALPHAS)
# The references: each contender's coefficients against the exact fit at the alpha it
# chose (scikit-learn's ElasticNet on the Gram matrix at this tol, or Ridge's solve)
CV_REFERENCE_TOL = 1e-12


@dataclass(frozen=True)
class CVFit:
    penalty: str
    alpha: float  # in fastgd's units (scikit-learn's Lasso and ElasticNet ones)
    l1_ratio: float
    cv_error: float  # the mean over the folds of the validation MSE at alpha
    coef: np.ndarray
    intercept: float


def _sklearn_grid(n_alphas):
    # scikit-learn's argument for a grid of n alphas (1.7 took alphas=n; 1.9 dropped
    # n_alphas)
    import sklearn

    if tuple(int(p) for p in sklearn.__version__.split(".")[:2]) >= (1, 7):
        return {"alphas": n_alphas}
    return {"n_alphas": n_alphas}


def _n_train(data):
    return data.shape.n_samples - data.shape.n_samples // CV_FOLDS


def sklearn_cv(penalty):
    """scikit-learn's LassoCV, ElasticNetCV (CV_L1_RATIOS) or RidgeCV (CV_RIDGE_ALPHAS,
    scored by the mean squared error as the others), at their defaults otherwise."""

    def setup(data):
        from sklearn import linear_model

        def run():
            if penalty == "l2":
                model = linear_model.RidgeCV(
                    alphas=CV_RIDGE_ALPHAS * _n_train(data),
                    cv=CV_FOLDS,
                    scoring="neg_mean_squared_error",
                ).fit(data.X, data.y)
                alpha, l1_ratio, error = model.alpha_ / _n_train(data), 0.0, -model.best_score_
            else:
                if penalty == "l1":
                    model = linear_model.LassoCV(cv=CV_FOLDS, **_sklearn_grid(CV_ALPHAS))
                else:
                    model = linear_model.ElasticNetCV(
                        l1_ratio=list(CV_L1_RATIOS), cv=CV_FOLDS, **_sklearn_grid(CV_ALPHAS)
                    )
                model.fit(data.X, data.y)
                alpha, l1_ratio = model.alpha_, getattr(model, "l1_ratio_", 1.0)
                error = float(np.min(model.mse_path_.mean(axis=-1)))
            return CVFit(penalty, alpha, l1_ratio, error, model.coef_, float(model.intercept_))

        return run

    return setup


def fastgd_cv(penalty):
    """fastgd.GDRegressorCV with the same grid and folds as scikit-learn's."""

    def setup(data):
        options = {
            "l1": {"penalty": "l1", "alphas": CV_ALPHAS},
            "elasticnet": {
                "penalty": "elasticnet",
                "l1_ratio": list(CV_L1_RATIOS),
                "alphas": CV_ALPHAS,
            },
            "l2": {"penalty": "l2", "alphas": CV_RIDGE_ALPHAS},
        }[penalty]

        def run():
            model = fastgd.GDRegressorCV(cv=CV_FOLDS, **options).fit(data.X, data.y)
            error = float(np.min(model.mse_path_.mean(axis=-1)))
            return CVFit(
                penalty, model.alpha_, model.l1_ratio_, error, model.coef_, float(model.intercept_)
            )

        return run

    return setup


def cv_reference(data, fit):
    """The exact coefficients at the fit's own alpha and l1_ratio, on all the rows."""
    from sklearn import linear_model

    if fit.penalty == "l2":
        model = linear_model.Ridge(alpha=fit.alpha * data.shape.n_samples, solver="cholesky")
    else:
        model = linear_model.ElasticNet(
            alpha=fit.alpha,
            l1_ratio=fit.l1_ratio,
            tol=CV_REFERENCE_TOL,
            max_iter=LASSO_MAX_ITER,
            precompute=True,
        )
    model.fit(data.X, data.y)
    return model.coef_


def assess_cv(data, fit, baseline):
    """The alpha (and l1_ratio) a contender chose, its cross-validated error there,
    and its coefficients against the exact fit at that alpha (``cv_reference``)."""
    return {
        "penalty": fit.penalty,
        "alpha": float(fit.alpha),
        "l1_ratio": float(fit.l1_ratio),
        "cv_error": fit.cv_error,
        "coef_error": float(np.abs(fit.coef - cv_reference(data, fit)).max()),
        "nonzeros": int(np.count_nonzero(fit.coef)),
    }


# Each fastgd contender's ratio is to its scikit-learn counterpart (CV_COUNTERPARTS).
CV = Kind(
    "cv",
    shapes=(Shape("1e4x100", 10_000, 100), Shape("1e6x100", 1_000_000, 100, slow=True)),
    dtypes=("float64",),
    contenders=(
        Contender(
            "sklearn-lassocv", "scikit-learn `LassoCV`", sklearn_cv("l1"), requires=("sklearn",)
        ),
        Contender(
            "fastgd-lassocv",
            'fastgd `GDRegressorCV(penalty="l1")`',
            fastgd_cv("l1"),
            requires=("sklearn",),
        ),
        Contender(
            "sklearn-enetcv",
            "scikit-learn `ElasticNetCV`",
            sklearn_cv("elasticnet"),
            requires=("sklearn",),
        ),
        Contender(
            "fastgd-enetcv",
            'fastgd `GDRegressorCV(penalty="elasticnet")`',
            fastgd_cv("elasticnet"),
            requires=("sklearn",),
        ),
        Contender(
            "sklearn-ridgecv", "scikit-learn `RidgeCV`", sklearn_cv("l2"), requires=("sklearn",)
        ),
        Contender(
            "fastgd-ridgecv",
            'fastgd `GDRegressorCV(penalty="l2")`',
            fastgd_cv("l2"),
            requires=("sklearn",),
        ),
    ),
    make_data=make_lasso_data,
    assess=assess_cv,
    requires=("sklearn",),
    slow_rounds=1,
    settings={
        "n_alphas": CV_ALPHAS,
        "folds": CV_FOLDS,
        "l1_ratios": list(CV_L1_RATIOS),
        "ridge_alphas": [float(CV_RIDGE_ALPHAS[0]), float(CV_RIDGE_ALPHAS[-1])],
    },
)
CV_COUNTERPARTS = {
    "fastgd-lassocv": "sklearn-lassocv",
    "fastgd-enetcv": "sklearn-enetcv",
    "fastgd-ridgecv": "sklearn-ridgecv",
}

# ---------------------------------------------------------------------------- sgd

# What SGDRegressor's defaults (tol=1e-3, n_iter_no_change=5) run on this data,
# quick and slow shape alike: a user's number of epochs.
SGD_EPOCHS = 7
SGD_ETA0 = 0.01  # SGDRegressor's default eta0 and power_t
SGD_POWER_T = 0.25
SGD_BATCH_SIZE = 32
# Linear scaling (Goyal et al., 2017, "Accurate, large minibatch SGD"): a mini-batch
# update averages SGD_BATCH_SIZE rows' gradients, so this step moves it as far as
# that many per-sample updates at SGD_ETA0 would: the same start for everyone, with
# no tuning on the data. It is below 1/L_B, fastgd's stable step for such batches
# (lr="auto": 0.34 on 1e5x20; tests/test_bench_cases.py checks it), and a fixed
# number leaves lr="auto"'s power iteration out of the time.
SGD_BATCH_LR = SGD_BATCH_SIZE * SGD_ETA0
SGD_RANDOM_STATE = 0


def make_sgd_data(shape, dtype="float64"):
    """Deterministic standardised regression data, X C-ordered and read-only.

    Each column of X is standardised exactly (mean 0, variance 1, as a user would
    before SGD); y = X w + 2 + noise, w standard normal, noise standard deviation 0.5.
    """
    rng = np.random.default_rng(0)
    X = rng.standard_normal((shape.n_samples, shape.n_features))
    X -= X.mean(axis=0)
    X /= X.std(axis=0)
    w = rng.standard_normal(shape.n_features)
    y = X @ w + 2.0 + 0.5 * rng.standard_normal(shape.n_samples)
    X, y = X.astype(dtype, copy=False), y.astype(dtype, copy=False)
    return _read_only(CaseData(shape, dtype, X, y))


@dataclass(frozen=True)
class SGDFit:
    coef: np.ndarray
    intercept: float
    n_epochs: int
    n_updates: int
    last_step: float  # the step of the last update: what the schedule came down to
    batch_size: int


def half_mse(X, y, coef, intercept):
    """The objective every contender minimises, evaluated in float64."""
    residual = X.astype(np.float64, copy=False) @ coef + intercept - y
    return float(residual @ residual / (2 * len(X)))


def _sklearn_sgd_regressor(X, y, shuffle):
    from sklearn.linear_model import SGDRegressor

    model = SGDRegressor(
        loss="squared_error",
        penalty=None,
        alpha=0.0,
        learning_rate="invscaling",
        eta0=SGD_ETA0,
        power_t=SGD_POWER_T,
        max_iter=SGD_EPOCHS,
        tol=None,
        shuffle=shuffle,
        random_state=SGD_RANDOM_STATE,
        average=False,
    ).fit(X, y)
    # t_ starts at 1 and counts the updates made: update t's step is eta0 / t ** power_t.
    n_updates = int(model.t_) - 1
    return SGDFit(
        model.coef_,
        float(model.intercept_[0]),
        int(model.n_iter_),
        n_updates,
        SGD_ETA0 / n_updates**SGD_POWER_T,
        batch_size=1,
    )


def _fastgd_sgd(X, y, backend, batch_size, lr, shuffle):
    result = fastgd.fit(
        X,
        y,
        batch_size=batch_size,
        shuffle=shuffle,
        random_state=SGD_RANDOM_STATE,
        schedule="invscaling",
        power_t=SGD_POWER_T,
        lr=lr,
        max_iter=SGD_EPOCHS,
        tol=0,
        fit_intercept=True,
        backend=backend,
    )
    n_updates = result.n_iter * math.ceil(len(X) / batch_size)
    return SGDFit(
        result.coef,
        float(result.intercept),
        result.n_iter,
        n_updates,
        float(result.history["lr"][-1]),
        batch_size,
    )


def sklearn_sgd_regressor(data):
    def run():
        return _sklearn_sgd_regressor(data.X, data.y, shuffle=True)

    return run


def fastgd_sgd(backend, batch_size, lr):
    def setup(data):
        def run():
            return _fastgd_sgd(data.X, data.y, backend, batch_size, lr, shuffle=True)

        return run

    return setup


def unshuffled_sgd_fits(X, y, backend):
    """(SGDRegressor, fastgd batch_size=1) with shuffle=False and otherwise the
    per-sample contenders' settings: the same updates in the same order, so the
    same coefficients to rounding (tests/test_bench_cases.py checks this)."""
    return (
        _sklearn_sgd_regressor(X, y, shuffle=False),
        _fastgd_sgd(X, y, backend, 1, SGD_ETA0, shuffle=False),
    )


_sgd_references = {}


def sgd_reference(data):
    """The least-squares solution by np.linalg.lstsq on [X, 1]: (coef, intercept,
    objective), the optimum every contender's objective is measured against."""
    key = (data.shape, data.dtype)
    if key not in _sgd_references:
        X, y = data.X, data.y
        A = np.hstack([X.astype(np.float64, copy=False), np.ones((len(X), 1))])
        solution = np.linalg.lstsq(A, y.astype(np.float64), rcond=None)[0]
        del A
        coef, intercept = solution[:-1], float(solution[-1])
        _sgd_references[key] = coef, intercept, half_mse(X, y, coef, intercept)
    return _sgd_references[key]


def assess_sgd(data, fit, baseline):
    """Scores an SGDFit against the least-squares solution (the baseline is not needed)."""
    coef, intercept, optimum = sgd_reference(data)
    return {
        "objective": half_mse(data.X, data.y, fit.coef, fit.intercept),
        "optimal_objective": optimum,
        "coef_distance": float(np.linalg.norm(fit.coef - coef)),
        "intercept_error": abs(fit.intercept - intercept),
        "n_epochs": fit.n_epochs,
        "n_updates": fit.n_updates,
        "last_step": fit.last_step,
        # An update averages its batch's gradients: its step per row. SGD's noise
        # floor, the objective gap it ends at, grows with it.
        "last_step_per_row": fit.last_step / fit.batch_size,
    }


def _sgd_batches(backend):
    return Contender(
        f"{backend}-batch{SGD_BATCH_SIZE}",
        f"fastgd {backend}, mini-batch of {SGD_BATCH_SIZE}",
        fastgd_sgd(backend, SGD_BATCH_SIZE, SGD_BATCH_LR),
        backend=backend,
    )


# All run SGD_EPOCHS epochs with tol=None / tol=0: nothing else stops them.
SGD = Kind(
    "sgd",
    shapes=(Shape("1e5x20", 100_000, 20), Shape("1e6x50", 1_000_000, 50, slow=True)),
    # float64 only: SGDRegressor computes in float64 and would convert float32 data (a
    # copy, timed), so float32 would not compare the same work.
    dtypes=("float64",),
    contenders=(
        Contender(
            "sklearn-sgd",
            "scikit-learn `SGDRegressor`",
            sklearn_sgd_regressor,
            requires=("sklearn",),
        ),
        *(
            Contender(
                name, f"fastgd {name}, per sample", fastgd_sgd(name, 1, SGD_ETA0), backend=name
            )
            for name in COMPILED_BACKENDS
        ),
        *(_sgd_batches(name) for name in COMPILED_BACKENDS),
    ),
    make_data=make_sgd_data,
    assess=assess_sgd,
    slow_rounds=1,
    settings={
        "epochs": SGD_EPOCHS,
        "eta0": SGD_ETA0,
        "power_t": SGD_POWER_T,
        "batch_size": SGD_BATCH_SIZE,
        "batch_lr": SGD_BATCH_LR,
    },
)

# ----------------------------------------------------------------------- fit_many

# Problems per shape: G independent regressions of n_samples x n_features each.
MANY_PROBLEMS = {"1e4x50x5": 10_000}
# Every contender solves each problem to float64 accuracy: fastgd's tol is set tight
# enough that its coefficients agree with the direct solves to AGREEMENT.
MANY_TOL = 1e-10


def make_many_data(shape, dtype):
    """G stacked problems, X (G, N, D) C-ordered, y = X w_g + 1 + noise, read-only."""
    rng = np.random.default_rng(0)
    n_problems = MANY_PROBLEMS[shape.name]
    X = rng.standard_normal((n_problems, shape.n_samples, shape.n_features))
    w = rng.standard_normal((n_problems, shape.n_features))
    y = np.einsum("gnd,gd->gn", X, w) + 1.0 + 0.1 * rng.standard_normal(X.shape[:2])
    return _read_only(CaseData(shape, dtype, X.astype(dtype), y.astype(dtype)))


def _stacked_solution(coef, intercept):
    return np.hstack(
        [np.asarray(coef, dtype=np.float64), np.asarray(intercept, dtype=np.float64)[:, None]]
    )


def numpy_normal_equations(data):
    """Batched normal equations: A_g = [X_g, 1], solve (A_g.T A_g) x = A_g.T y_g at once."""
    X, y = data.X, data.y

    def run():
        A = np.concatenate([X, np.ones(X.shape[:2] + (1,), dtype=X.dtype)], axis=2)
        At = A.transpose(0, 2, 1)
        return np.linalg.solve(At @ A, (At @ y[..., None]))[..., 0]

    return run


def lstsq_loop(data):
    X, y = data.X, data.y

    def run():
        ones = np.ones((X.shape[1], 1), dtype=X.dtype)
        return np.stack(
            [np.linalg.lstsq(np.hstack([X[g], ones]), y[g], rcond=None)[0] for g in range(len(X))]
        )

    return run


def sklearn_loop(data):
    from sklearn.linear_model import LinearRegression

    X, y = data.X, data.y

    def run():
        models = [LinearRegression().fit(X[g], y[g]) for g in range(len(X))]
        return _stacked_solution([m.coef_ for m in models], [m.intercept_ for m in models])

    return run


def fastgd_many(backend):
    def setup(data):
        def run():
            result = fastgd.fit_many(data.X, data.y, tol=MANY_TOL, backend=backend)
            return _stacked_solution(result.coef, result.intercept)

        return run

    return setup


MANY = Kind(
    "many",
    shapes=(Shape("1e4x50x5", 50, 5),),
    # float64 only: lstsq and LinearRegression compute in float64.
    dtypes=("float64",),
    contenders=(
        # The fastest of the three alternatives (the baseline of the ratios).
        Contender("numpy-solve", "batched `np.linalg.solve`", numpy_normal_equations),
        Contender("lstsq-loop", "loop of `np.linalg.lstsq`", lstsq_loop),
        # Seconds per call (4.5 s here): a fifth of the quick run for one cell, so full only.
        Contender(
            "sklearn-loop",
            "loop of `LinearRegression`",
            sklearn_loop,
            requires=("sklearn",),
            slow=True,
        ),
        *(
            Contender(name, f"fastgd {name}", fastgd_many(name), backend=name)
            for name in COMPILED_BACKENDS
        ),
    ),
    make_data=make_many_data,
    assess=assess_agreement,
    rounds=3,
    settings={"problems": MANY_PROBLEMS, "tol": MANY_TOL},
)

# --------------------------------------------------------------------------- dask

DASK_BLOCKS = 8
DASK_GAP = 1e-8  # the relative objective gap to the lstsq optimum every contender reaches
# dask-ml's iteration counts tried, lowest first: a solver's time is that of the first
# count whose fit reaches DASK_GAP (found in setup, not timed)
DASK_ML_ITERATIONS = (3, 5, 10, 20, 50, 100, 200, 500, 1000)
DASK_ML_C = 1e12  # dask-ml's L2 penalty is 1/C: negligible, as the others have none


@dataclass(frozen=True)
class DaskFit:
    coef: np.ndarray
    intercept: float
    n_iter: int  # fastgd: CG iterations (on the compressed problem, or passes); dask-ml: max_iter
    n_workers: int  # 0: in the client's process, on NumPy arrays
    block_seconds: float = None  # one block's factor on one worker thread (fastgd)
    scheduling_seconds: float = None  # the fit's two passes with no-op tasks (fastgd)
    client_growth: int = None  # the client's peak RSS over its RSS before the fit (fastgd)
    alpha: float = None  # a cross-validated fit's chosen penalty (its objective is not lstsq's)


def dask_arrays(data, n_workers):
    """The case's X and y as Dask arrays of DASK_BLOCKS row blocks, persisted on a
    LocalCluster of ``n_workers`` processes: the data lives on the workers, as a
    user's would (not timed)."""
    import dask.array as da
    import distributed

    client = probes.dask_client(n_workers)
    rows = -(-data.shape.n_samples // DASK_BLOCKS)
    X = client.persist(da.from_array(data.X, chunks=(rows, data.X.shape[1])))
    y = client.persist(da.from_array(data.y, chunks=rows))
    distributed.wait([X, y])
    return client, X, y


def fastgd_on_dask(n_workers, solver="auto"):
    def setup(data):
        client, X, y = dask_arrays(data, n_workers)
        block_seconds = probes.block_factor_seconds(client, X.blocks[0])
        scheduling_seconds = probes.dask_scheduling_seconds(X, y)

        def run():
            result, growth = probes.client_growth(lambda: fastgd.fit(X, y, solver=solver))
            return DaskFit(
                result.coef,
                float(result.intercept),
                result.n_iter,
                n_workers,
                block_seconds,
                scheduling_seconds,
                growth,
            )

        return run

    return setup


def fastgd_cv_on_dask(n_workers):
    """GDRegressorCV's Lasso (5 contiguous folds, 100 alphas) of the Dask arrays: one
    pass makes the folds' factors on the workers, one more certifies the refit."""

    def setup(data):
        _, X, y = dask_arrays(data, n_workers)

        def run():
            model, growth = probes.client_growth(
                lambda: fastgd.GDRegressorCV(penalty="l1", cv=CV_FOLDS).fit(X, y)
            )
            return DaskFit(
                model.coef_,
                float(model.intercept_),
                2,
                n_workers,
                None,
                None,
                growth,
                model.alpha_,
            )

        return run

    return setup


def fastgd_in_process(data):
    def run():
        result = fastgd.fit(data.X, data.y)
        return DaskFit(result.coef, float(result.intercept), result.n_iter, 0)

    return run


def dask_ml_solver(solver):
    def setup(data):
        from dask_ml.linear_model import LinearRegression

        _, X, y = dask_arrays(data, 2)

        def fit(max_iter):
            model = LinearRegression(solver=solver, C=DASK_ML_C, max_iter=max_iter, tol=1e-14).fit(
                X, y
            )
            return DaskFit(np.asarray(model.coef_), float(model.intercept_), max_iter, 2)

        for max_iter in DASK_ML_ITERATIONS:  # the fewest iterations that reach DASK_GAP
            if objective_gap(data, fit(max_iter)) <= DASK_GAP:
                break
        return lambda: fit(max_iter)

    return setup


def objective_gap(data, fit):
    _, _, optimum = sgd_reference(data)
    return (half_mse(data.X, data.y, fit.coef, fit.intercept) - optimum) / optimum


def assess_dask(data, fit, baseline):
    coef, intercept, _ = sgd_reference(data)
    gap = None if fit.alpha is not None else objective_gap(data, fit)
    return {
        "objective_gap": gap,
        "reached": gap is None or bool(gap <= DASK_GAP),
        "alpha": fit.alpha,
        "client_growth": fit.client_growth,
        "coef_distance": float(np.linalg.norm(fit.coef - coef)),
        "n_iter": fit.n_iter,
        "n_workers": fit.n_workers,
        "block_seconds": fit.block_seconds,
        "scheduling_seconds": fit.scheduling_seconds,
        "block_rows": -(-data.shape.n_samples // DASK_BLOCKS),
    }


# A Dask array's fit on a LocalCluster of worker processes (one thread each), the
# arrays persisted on the workers: fastgd's default (the Gram solver's distributed
# factor) against dask-ml's LinearRegression solvers, each at the fewest iterations
# that reach the same accuracy, and fastgd's fit of the same NumPy arrays in one
# process. The first contender is the reference of the report's ratios.
# (The 2 GB shape runs fastgd's fit and its cross-validated path alone: dask-ml's
# solvers take minutes there, and the one-worker cluster would hold it all.)
DASK_LARGE = "2.5e6x100"
DASK = Kind(
    "dask",
    shapes=(Shape("4e5x20", 400_000, 20), Shape(DASK_LARGE, 2_500_000, 100, slow=True)),
    dtypes=("float64",),
    contenders=(
        Contender(
            "fastgd-2-workers", "fastgd, 2 workers", fastgd_on_dask(2), requires=("distributed",)
        ),
        Contender(
            "fastgd-cv-2-workers",
            'fastgd `GDRegressorCV(penalty="l1")` (5 folds, 100 alphas), 2 workers',
            fastgd_cv_on_dask(2),
            same_result=False,
            requires=("distributed",),
        ),
        Contender(
            "fastgd-stream-2-workers",
            'fastgd `solver="stream"`, 2 workers',
            fastgd_on_dask(2, "stream"),
            requires=("distributed",),
            skip=frozenset({DASK_LARGE}),
        ),
        Contender(
            "fastgd-local",
            "fastgd, NumPy arrays in one process",
            fastgd_in_process,
            skip=frozenset({DASK_LARGE}),
        ),
        # (Their setup's last fit is run()'s: 3.3 s for gradient_descent.)
        *(
            Contender(
                f"dask-ml-{solver}",
                f'dask-ml `LinearRegression(solver="{solver}")`',
                dask_ml_solver(solver),
                same_result=False,
                requires=("dask_ml",),
                warmed_by_setup=True,
                skip=frozenset({DASK_LARGE}),
            )
            for solver in ("lbfgs", "admm", "gradient_descent")
        ),
        # Last: it closes the 2-worker cluster and starts a 1-worker one.
        Contender(
            "fastgd-1-worker",
            "fastgd, 1 worker",
            fastgd_on_dask(1),
            requires=("distributed",),
            skip=frozenset({DASK_LARGE}),
        ),
    ),
    make_data=make_sgd_data,
    assess=assess_dask,
    requires=("distributed",),
    rounds=3,
    warm_up_together=False,  # (each setup starts the cluster it needs, closing the last)
    settings={
        "blocks": DASK_BLOCKS,
        "gap": DASK_GAP,
        "dask_ml_C": DASK_ML_C,
        "large": DASK_LARGE,
    },
)

# -------------------------------------------------------------------------- files

FILE_ROW_GROUP = 1 << 16  # rows per row group of the files written (fastgd's block_rows)
FILE_REPEATS = 3  # fresh processes per contender; the one of median time is reported


@dataclass(frozen=True, eq=False)
class FileData:
    """The files kind's Parquet files (in a temporary directory that is removed when
    this is collected) and the least-squares solution of the large one."""

    directory: object  # a tempfile.TemporaryDirectory
    path: str
    small_path: str  # for each process's warm-up
    coef: np.ndarray
    intercept: float


def _write_parquet(path, X, y):
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {f"x{j}": X[:, j] for j in range(X.shape[1])}
    pq.write_table(pa.table({**columns, "y": y}), path, row_group_size=FILE_ROW_GROUP)


def make_file_data(shape, dtype):
    """A Parquet file of the shape's rows, columns x0, x1, ... and y = X w + 2 +
    noise (float64), in row groups of FILE_ROW_GROUP, and its lstsq solution."""
    import tempfile

    data = make_sgd_data(shape)
    directory = tempfile.TemporaryDirectory(prefix="fastgd-bench-")
    path = f"{directory.name}/data.parquet"
    small_path = f"{directory.name}/small.parquet"
    _write_parquet(path, data.X, data.y)
    _write_parquet(small_path, data.X[:1000], data.y[:1000])
    coef, intercept, _ = sgd_reference(data)
    return CaseData(shape, dtype, files=FileData(directory, path, small_path, coef, intercept))


def file_pass(mode):
    def setup(data):
        def run():
            return probes.file_pass(mode, data.files.path, data.files.small_path, FILE_REPEATS)

        return run

    return setup


def assess_file_pass(data, result, baseline):
    """Rows per second, memory, and for a fit its distance to the lstsq solution."""
    import os

    shape = data.shape
    scores = {
        "seconds": result["seconds"],
        "rows_per_second": shape.n_samples / result["seconds"],
        "peak_rss": result["peak_rss"],
        "rss_growth": result["rss_growth"],
        "file_bytes": os.path.getsize(data.files.path),
        "column_bytes": shape.n_samples * (shape.n_features + 1) * 8,
        "all_seconds": result["all_seconds"],
    }
    if "alpha" in result:
        scores["alpha"], scores["converged"] = result["alpha"], result["converged"]
    if "coef" in result:
        exact = np.append(data.files.coef, data.files.intercept)
        fitted = np.append(result["coef"], result["intercept"])
        scores["coef_error"] = float(np.linalg.norm(fitted - exact) / np.linalg.norm(exact))
        scores["converged"] = result["converged"]
    return scores


# A fit of a Parquet file (fastgd.read_files: a block at a time, on Dask's threads)
# against reading the file with pyarrow alone (the limit), and against reading it
# whole and fitting the arrays; each in fresh processes, from the page cache.
FILES = Kind(
    "files",
    shapes=(Shape("2e6x20", 2_000_000, 20), Shape("1e7x20", 10_000_000, 20, slow=True)),
    dtypes=("float64",),
    contenders=(
        Contender(
            "pyarrow-read",
            "pyarrow alone: every row group to NumPy arrays",
            file_pass("pyarrow"),
            requires=("pyarrow",),
        ),
        Contender(
            "fastgd-files",
            'fastgd: `fit(read_files(path, target="y"))`',
            file_pass("fastgd"),
            requires=("pyarrow", "dask"),
        ),
        Contender(
            "read-whole-then-fit",
            "`pyarrow.parquet.read_table`, then `fit(X, y)`",
            file_pass("in-memory"),
            requires=("pyarrow",),
        ),
        Contender(
            "fastgd-files-cv",
            'fastgd: `GDRegressorCV(penalty="l1").fit(read_files(path, target="y"))` '
            "(5 folds, 100 alphas)",
            file_pass("cv"),
            requires=("pyarrow", "dask"),
        ),
    ),
    make_data=make_file_data,
    assess=assess_file_pass,
    timed=False,
    requires=("pyarrow",),
    settings={"row_group": FILE_ROW_GROUP, "repeats": FILE_REPEATS, "statistic": "median"},
)

# ------------------------------------------------------------------------- probes


def make_probe_data(shape, dtype):
    """An array of shape.size elements, written once (pages mapped before timing)."""
    return CaseData(shape, dtype, np.ones(shape.size, dtype=dtype))


def stream_sum(data):
    def run():
        return probes.stream_sum(data.X)

    return run


def assess_nothing(data, result, baseline):
    return {}


# A full-batch gradient must read X once, so bytes(X) / bandwidth is a floor on its
# time once X is larger than the caches.
BANDWIDTH = Kind(
    "bandwidth",
    shapes=(Shape("256MB", (256 << 20) // 8, 1), Shape("512MB", (512 << 20) // 8, 1, slow=True)),
    dtypes=("float64",),
    contenders=(Contender("parallel-sum", "parallel sum (Numba)", stream_sum),),
    make_data=make_probe_data,
    assess=assess_nothing,
)


def no_data(shape, dtype):
    return CaseData(shape, dtype)


def assess_measured(data, result, baseline):
    return dict(result)


COLDSTART_REPEATS = 3


def coldstart(backend, empty_cache=False):
    def setup(data):
        if not empty_cache:
            probes.first_fit(backend, data.shape, repeats=1)  # the on-disk cache exists

        def run():
            repeats = 1 if empty_cache else COLDSTART_REPEATS
            return probes.first_fit(backend, data.shape, repeats, empty_cache=empty_cache)

        return run

    return setup


COLDSTART = Kind(
    "coldstart",
    shapes=(Shape("1e3x10", 1000, 10),),
    dtypes=("float64",),
    contenders=(
        *(Contender(name, name, coldstart(name), backend=name) for name in BACKENDS),
        # Numba compiles every kernel the fit needs: about 15 s.
        Contender(
            "numba-empty-cache",
            "numba, empty Numba cache",
            coldstart("numba", empty_cache=True),
            backend="numba",
            variant_of="numba",
            slow=True,
        ),
    ),
    make_data=no_data,
    assess=assess_measured,
    timed=False,
    settings={"repeats": COLDSTART_REPEATS, "statistic": "median"},
)

INTERRUPT_DELAYS = (1.0, 1.37, 1.74)  # seconds of fitting before the SIGINT


def interrupt(backend):
    def setup(data):
        def run():
            return {"latencies": probes.interrupt_latencies(backend, data.shape, INTERRUPT_DELAYS)}

        return run

    return setup


# Per-sample SGD, mini-batches gathered from a Fortran-ordered X (the slowest
# gather), full-batch passes over 800 MB (one pass is never split: the largest X
# sets the worst case).
INTERRUPT = Kind(
    "interrupt",
    shapes=(
        Shape("2e4x50-C-batch1", 20_000, 50, batch_size=1),
        Shape("1e6x20-F-batch32", 1_000_000, 20, slow=True, order="F", batch_size=32),
        Shape("1e6x100-C-full", 1_000_000, 100, slow=True),
        Shape("1e6x100-F-full", 1_000_000, 100, slow=True, order="F"),
    ),
    dtypes=("float64",),
    contenders=(
        *(Contender(name, name, interrupt(name), backend=name) for name in COMPILED_BACKENDS),
    ),
    make_data=no_data,
    assess=assess_measured,
    timed=False,
    settings={"delays": INTERRUPT_DELAYS},
)

KINDS = {
    kind.name: kind
    for kind in (
        GRADIENT,
        FIT,
        DIRECT,
        LASSO,
        CV,
        SGD,
        MANY,
        BANDWIDTH,
        COLDSTART,
        INTERRUPT,
        DASK,
        FILES,
    )
}

# How long each case took, as recorded from runs on a quiet machine by
# ``python -m benches.update_docs --estimates RUN`` (never typed): for the quick run
# and the full one (its time budgets differ), seconds per case id and seconds of
# building each row's data, by kind/shape/dtype. ``fastgd bench`` adds them up to say
# how long it will take before it starts.
ESTIMATES_PATH = Path(__file__).with_name("estimates.json")


def _estimates():
    try:
        return json.loads(ESTIMATES_PATH.read_text())
    except (OSError, ValueError):  # (missing or unreadable: no estimate, not no bench)
        return {}


ESTIMATES = _estimates()


# The targets of issue 10, checked against every run, for each compiled backend on
# its own ("both backends"): the report marks each one met or missed.
def _per_backend(text, kind, shape, dtypes, measure, bound, contender="{backend}"):
    return tuple(
        Target(
            f"{text} ({name})",
            kind,
            shape,
            dtypes,
            (contender.format(backend=name),),
            measure,
            bound,
        )
        for name in COMPILED_BACKENDS
    )


TARGETS = (
    *(
        target
        for shape in ("4x2", "100x10", "1e5x100")
        for target in _per_backend(
            f"{shape} {{dtype}} gradient ≥ 1× NumPy", "gradient", shape, DTYPES, "speedup", 1.0
        )
    ),
    *_per_backend(
        "1e4x20 {dtype} gradient ≥ 2× NumPy", "gradient", "1e4x20", DTYPES, "speedup", 2
    ),
    *_per_backend(
        "2e6×32 {dtype} gradient ≥ 1.8× NumPy", "gradient", "2e6x32", DTYPES, "speedup", 1.8
    ),
    *_per_backend(
        "2e6×32 {dtype} gradient ≥ 85% of read bandwidth",
        "gradient",
        "2e6x32",
        DTYPES,
        "bandwidth",
        0.85,
    ),
    *_per_backend(
        "4x2 {dtype} fit, 1000 iterations, ≥ 100× NumPy loop", "fit", "4x2", DTYPES, "speedup", 100
    ),
    *_per_backend(
        "100x10 {dtype} fit, 1000 iterations, ≥ 30× NumPy loop",
        "fit",
        "100x10",
        DTYPES,
        "speedup",
        30,
    ),
    *_per_backend(
        "1e4x20 {dtype} streaming fit, 1000 iterations, ≥ 2× NumPy loop",
        "fit",
        "1e4x20",
        DTYPES,
        "speedup",
        2,
    ),
    *(
        target
        for shape in ("1e5x20", "1e6x50")
        for target in _per_backend(
            f"per-sample SGD {shape}, 7 epochs, ≥ 2× SGDRegressor",
            "sgd",
            shape,
            ("float64",),
            "speedup",
            2,
        )
    ),
    Target(
        "Gram 1e6×32 {dtype}, 1000 iterations, ≥ 50× NumPy loop",
        "fit",
        "1e6x32",
        DTYPES,
        ("gram",),
        "speedup",
        50,
    ),
    *_per_backend(
        "fit_many, 1e4 problems of 50×5, ≥ 10× the fastest alternative",
        "many",
        "1e4x50x5",
        ("float64",),
        "speedup",
        10,
    ),
    # issue 25: the default least-squares fit
    *(
        target
        for shape in DIRECT_SMALL
        for target in (
            *_per_backend(
                f"{shape} {{dtype}} default fit ≥ 1× LinearRegression",
                "direct",
                shape,
                DTYPES,
                "speedup",
                1,
            ),
            Target(
                f"{shape} {{dtype}} GDRegressor().fit ≥ 1× LinearRegression",
                "direct",
                shape,
                DTYPES,
                ("estimator",),
                "speedup",
                1,
            ),
        )
    ),
    *(
        target
        for shape in DIRECT_TALL
        for target in (
            *_per_backend(
                f"{shape} {{dtype}} default fit ≥ 25× LinearRegression",
                "direct",
                shape,
                DTYPES,
                "speedup",
                25,
            ),
            *(
                Target(
                    f'{shape} {{dtype}} default fit ≥ 2× Ridge(solver="cholesky") ({name})',
                    "direct",
                    shape,
                    DTYPES,
                    (name,),
                    "speedup",
                    2,
                    against="sklearn-ridge",
                )
                for name in COMPILED_BACKENDS
            ),
        )
    ),
)


# issue 28: cross-validated paths, and a single Lasso fit against skglm
CV_TARGETS = (
    Target(
        "LassoCV 1e4×100, 100 alphas, 5 folds ≥ 3× LassoCV",
        "cv",
        "1e4x100",
        ("float64",),
        ("fastgd-lassocv",),
        "speedup",
        3,
    ),
    Target(
        "LassoCV 1e6×100, 100 alphas, 5 folds ≥ 10× LassoCV",
        "cv",
        "1e6x100",
        ("float64",),
        ("fastgd-lassocv",),
        "speedup",
        10,
    ),
    Target(
        "ElasticNetCV 1e6×100, 3 l1_ratios ≥ 10× ElasticNetCV",
        "cv",
        "1e6x100",
        ("float64",),
        ("fastgd-enetcv",),
        "speedup",
        10,
        against="sklearn-enetcv",
    ),
    Target(
        "RidgeCV 1e6×100, 100 alphas, 5 folds ≥ 5× RidgeCV",
        "cv",
        "1e6x100",
        ("float64",),
        ("fastgd-ridgecv",),
        "speedup",
        5,
        against="sklearn-ridgecv",
    ),
    Target(
        "Lasso CV (5 folds, 100 alphas) of a 2 GB Dask array, 2 workers, "
        "≤ 1.5× one fit (time of the fit / time ≥ 0.667)",
        "dask",
        DASK_LARGE,
        ("float64",),
        ("fastgd-cv-2-workers",),
        "speedup",
        1 / 1.5,
    ),
    Target(
        "Lasso CV (5 folds, 100 alphas) of a 1.7 GB Parquet file ≤ 1.5× one fit "
        "(time of the fit / time ≥ 0.667)",
        "files",
        "1e7x20",
        ("float64",),
        ("fastgd-files-cv",),
        "speedup",
        1 / 1.5,
        against="fastgd-files",
    ),
    *(
        Target(
            f"Lasso {shape} ≥ {bound}× skglm's Lasso",
            "lasso",
            shape,
            ("float64",),
            ("cython", "numba", "gram"),
            "speedup",
            bound,
            against="skglm",
        )
        for shape, bound in (("1e4x100", 2), ("1e6x100", 5))
    ),
)
TARGETS += CV_TARGETS


def cases(kinds=None, full=False):
    """Yield (kind, shape, dtype, contender) in registry order.

    Parameters
    ----------
    kinds : iterable of str, optional
        Kind names (default: all of ``KINDS``).
    full : bool
        Include the slow shapes and contenders (``fastgd bench --full``).

    Examples
    --------
    >>> [c.name for _, shape, dtype, c in cases(["fit"]) if shape.name == "4x2"
    ...  and dtype == "float64"]
    ['numpy', 'cython', 'numba', 'gram', 'sklearn-sgd', 'lstsq']
    """
    for kind in (KINDS[name] for name in (kinds or KINDS)):
        for shape in kind.shapes:
            if shape.slow and not full:
                continue
            for dtype in kind.dtypes:
                for contender in kind.contenders:
                    if (contender.slow and not full) or shape.name in contender.skip:
                        continue
                    yield kind, shape, dtype, contender
