"""The benchmark registry: every shape, dtype and contender, in one place.

The same registry drives the correctness check (tests/test_bench_registry.py, in the
default test run, small shapes only) and the timings (benches/test_bench.py, run by
``fastgd bench``). A contender is a function ``setup(X, y) -> run`` that does all
preparation before timing; ``run()`` is what is timed and returns what is checked.

Kinds of measurement:

* ``gradient``: one evaluation of the full-batch gradient. The baseline is the
  seeds' vectorised NumPy, ``X.T.dot(X.dot(w) - y) / len(X)``.
* ``fit``: a whole fit of ``FIT_ITERATIONS[shape]`` iterations with a fixed learning
  rate and no intercept (the seeds' model). The baseline is the NumPy loop
  ``w -= lr * X.T.dot(X.dot(w) - y) / len(X)``; fastgd's streaming kernels and its
  Gram solver run the same iterations. scikit-learn's SGDRegressor (the same number
  of epochs, constant step) and ``np.linalg.lstsq`` (the direct solve) are there as
  the tools a user could pick instead: they are timed, and their accuracy is
  reported as the distance to the lstsq solution, but they do not run the same
  iterations, so they are not checked against the baseline.
* ``lasso``: a whole L1-regularised fit, run to convergence, against scikit-learn's
  ``Lasso`` on the same float64 data and the same objective,
  ``||X w + b - y||^2 / (2N) + LASSO_ALPHA * ||w||_1`` with the intercept fitted and
  not penalised. Each contender stops at its own tolerance ``LASSO_TOL`` (see
  ``LASSO_CONTENDERS``), so they are compared by time *and* accuracy: every
  result is scored against a Lasso run to a much tighter tolerance
  (``lasso_reference``) by its objective, its distance to that solution and its
  exact zeros (``setup_lasso_case``'s ``assess``). Its setup is ``setup(X, y) ->
  run`` and ``run()`` returns a ``LassoFit``.
* ``sgd``: stochastic gradient descent against scikit-learn's ``SGDRegressor`` on
  the same float64 data and the same objective, half the MSE with intercept, with
  the same step schedule (``invscaling``: step ``eta0 / (1 + t) ** power_t`` at
  update t) and the same fixed number of epochs ``SGD_EPOCHS`` for everyone (no
  tolerance stops anyone). fastgd runs the per-sample updates that SGDRegressor
  makes (``batch_size=1``; shuffled with another generator, so statistically the
  same, not bitwise) and mini-batches of ``SGD_BATCH_SIZE``, to show what
  mini-batching buys at equal epochs. Every result is scored against the
  least-squares solution (``sgd_reference``, ``np.linalg.lstsq`` with intercept)
  by its objective and its distance to it (``setup_sgd_case``'s ``assess``). Its
  setup is ``setup(X, y) -> run`` and ``run()`` returns an ``SGDFit``.
"""

import functools
import math
from dataclasses import dataclass

import numpy as np

import fastgd


@dataclass(frozen=True)
class Shape:
    name: str
    n_samples: int
    n_features: int
    slow: bool = False  # left out of the quick run

    @property
    def size(self):
        return self.n_samples * self.n_features


# The 4x2 shape is the size of seed 003's worked example (4 samples, 2 features).
GRADIENT_SHAPES = (
    Shape("4x2", 4, 2),
    Shape("100x10", 100, 10),
    Shape("1e4x20", 10_000, 20),
    Shape("1e5x100", 100_000, 100),
    Shape("2e6x32", 2_000_000, 32, slow=True),
)
FIT_SHAPES = (
    Shape("4x2", 4, 2),
    Shape("100x10", 100, 10),
    Shape("1e4x20", 10_000, 20),
    Shape("1e6x32", 1_000_000, 32, slow=True),
)
FIT_ITERATIONS = {"4x2": 1000, "100x10": 1000, "1e4x20": 1000, "1e6x32": 1000}
DTYPES = ("float64", "float32")


def make_data(shape, dtype, seed=0):
    """Deterministic regression data: X (N, D) C-ordered, y = X w + noise."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((shape.n_samples, shape.n_features)).astype(dtype)
    w = rng.standard_normal(shape.n_features)
    y = (X @ w.astype(dtype) + 0.1 * rng.standard_normal(shape.n_samples)).astype(dtype)
    return X, y


def stable_lr(X):
    """A fixed learning rate 1/L (L exactly, from X.T X / N), the same for everyone."""
    X64 = X.astype(np.float64)
    return 1.0 / np.linalg.eigvalsh(X64.T @ X64 / len(X))[-1]


# ----------------------------------------------------------------------- gradient


def numpy_gradient(X, y):
    w = np.zeros(X.shape[1], dtype=X.dtype)

    def run():
        return X.T.dot(X.dot(w) - y) / len(X)

    return run


def fastgd_gradient(backend, n_threads=None):
    def setup(X, y):
        w = np.zeros(X.shape[1], dtype=X.dtype)

        def run():
            return fastgd.gradient(X, y, w, backend=backend, n_threads=n_threads)[0]

        return run

    return setup


GRADIENT_CONTENDERS = {
    "numpy": numpy_gradient,
    "numba": fastgd_gradient("numba"),
    "cython": fastgd_gradient("cython"),
    # The same kernels on one thread: the report's thread-scaling column.
    "numba-1t": fastgd_gradient("numba", n_threads=1),
    "cython-1t": fastgd_gradient("cython", n_threads=1),
}

# ---------------------------------------------------------------------------- fit


def numpy_fit(X, y, n_iter):
    lr = stable_lr(X)

    def run():
        w = np.zeros(X.shape[1], dtype=X.dtype)
        for _ in range(n_iter):
            w -= lr * X.T.dot(X.dot(w) - y) / len(X)
        return w

    return run


def fastgd_fit(backend, solver):
    def setup(X, y, n_iter):
        lr = stable_lr(X)

        def run():
            return fastgd.fit(X, y, lr=lr, max_iter=n_iter, tol=0, fit_intercept=False,
                              backend=backend, solver=solver).coef

        return run

    return setup


def sklearn_sgd(X, y, n_iter):
    from sklearn.linear_model import SGDRegressor

    lr = stable_lr(X)

    def run():
        model = SGDRegressor(max_iter=n_iter, tol=None, fit_intercept=False, penalty=None,
                             learning_rate="constant", eta0=lr / 10, shuffle=False,
                             random_state=0)
        return model.fit(X, y).coef_

    return run


def lstsq_fit(X, y, n_iter):
    def run():
        return np.linalg.lstsq(X, y, rcond=None)[0]

    return run


# name -> (setup, runs the same iterates as the NumPy loop)
FIT_CONTENDERS = {
    "numpy": (numpy_fit, True),
    "numba": (fastgd_fit("numba", "stream"), True),
    "cython": (fastgd_fit("cython", "stream"), True),
    "gram": (fastgd_fit("auto", "gram"), True),
    "sklearn-sgd": (sklearn_sgd, False),
    "lstsq": (lstsq_fit, False),
}
# Contenders too slow to time on a shape (seconds per round): left out there.
FIT_SKIP = {("sklearn-sgd", "1e6x32")}


# -------------------------------------------------------------------------- lasso

LASSO_SHAPES = (
    Shape("1e4x100", 10_000, 100),
    Shape("1e6x100", 1_000_000, 100, slow=True),
)
# float64 only: LASSO_TOL is below what float32 rounding lets either solver certify.
LASSO_DTYPES = ("float64",)
LASSO_ALPHA = 0.05  # keeps the 10 true coefficients and zeroes the other 90
LASSO_TOL = 1e-8
LASSO_MAX_ITER = 100_000  # far above what LASSO_TOL needs: the tolerance stops everyone
# The reference solution's tolerance: its objective is the optimum to float64
# rounding on these shapes (1e-14 gives the same objective, bit for bit).
LASSO_REFERENCE_TOL = 1e-12


@functools.lru_cache(maxsize=1)  # one shape's data, reused by its contenders in turn
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
    X, y = X.astype(dtype), y.astype(dtype)
    # Read-only: the arrays are shared by every contender of the shape, so none may
    # change them (scikit-learn's Lasso centres a copy of X, as copy_X=True asks).
    X.flags.writeable = False
    y.flags.writeable = False
    return X, y


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
    def setup(X, y):
        def run():
            # lr="auto" is what a user would pass: the power iteration that estimates
            # the step is timed with the fit, as Lasso's own preparation is.
            result = fastgd.fit(X, y, penalty="l1", alpha=LASSO_ALPHA, lr="auto",
                                tol=LASSO_TOL, max_iter=LASSO_MAX_ITER, fit_intercept=True,
                                backend=backend, solver=solver)
            return LassoFit(result.coef, float(result.intercept), result.n_iter,
                            result.converged)

        return run

    return setup


def _sklearn_lasso(X, y, tol, precompute=False):
    from sklearn.linear_model import Lasso

    model = Lasso(alpha=LASSO_ALPHA, fit_intercept=True, tol=tol, max_iter=LASSO_MAX_ITER,
                  precompute=precompute).fit(X, y)
    return LassoFit(model.coef_, float(model.intercept_), int(model.n_iter_),
                    model.n_iter_ < LASSO_MAX_ITER)


def sklearn_lasso(precompute):
    def setup(X, y):
        def run():
            return _sklearn_lasso(X, y, LASSO_TOL, precompute)

        return run

    return setup


# What stops each: fastgd when the norm of its gradient map (W_t - W_t+1) / lr is at
# most LASSO_TOL times its value at the zero model (fastgd.fit's tol); Lasso when its
# largest coordinate update is at most LASSO_TOL times max |w| and then its duality
# gap, a bound on the objective's distance to the optimum, is at most LASSO_TOL times
# ||y - mean(y)||^2 / N. The first contender is the report's baseline.
LASSO_CONTENDERS = {
    "sklearn-lasso": sklearn_lasso(precompute=False),  # Lasso's default
    # Coordinate descent on the precomputed Gram matrix: the counterpart of fastgd's gram.
    "sklearn-lasso-gram": sklearn_lasso(precompute=True),
    "numba": fastgd_lasso("numba", "stream"),
    "cython": fastgd_lasso("cython", "stream"),
    # solver="auto" picks gram here: fastgd's default for these shapes.
    "gram": fastgd_lasso("auto", "gram"),
}
# fastgd's NumPy reference backend is not a contender: it runs the compiled kernels'
# iterates (tests/test_penalty.py checks that) but copies the rows of X at every step,
# and took about 2 s per fit on 1e4 x 100 here, too long for the quick run.


_lasso_references = {}


def lasso_reference(shape, dtype):
    """Lasso run to LASSO_REFERENCE_TOL on the shape's data: (LassoFit, objective)."""
    key = (shape, dtype)
    if key not in _lasso_references:
        X, y = make_lasso_data(shape, dtype)
        fit = _sklearn_lasso(X, y, LASSO_REFERENCE_TOL)
        _lasso_references[key] = fit, lasso_objective(X, y, fit.coef, fit.intercept)
    return _lasso_references[key]


def setup_lasso_case(shape, dtype, name):
    """Return (run, assess): the timed callable, and ``assess(fit) -> dict`` that
    scores its result against ``lasso_reference`` (outside the timing)."""
    X, y = make_lasso_data(shape, dtype)
    run = LASSO_CONTENDERS[name](X, y)

    def assess(fit):
        reference, reference_objective = lasso_reference(shape, dtype)
        return {
            "objective": lasso_objective(X, y, fit.coef, fit.intercept),
            "reference_objective": reference_objective,
            "coef_error": float(np.abs(fit.coef - reference.coef).max()),
            "intercept_error": abs(fit.intercept - reference.intercept),
            "nonzeros": int(np.count_nonzero(fit.coef)),
            "reference_nonzeros": int(np.count_nonzero(reference.coef)),
            "same_zeros": bool(np.array_equal(fit.coef == 0, reference.coef == 0)),
            "n_iter": int(fit.n_iter),
            "converged": bool(fit.converged),
        }

    return run, assess


# ---------------------------------------------------------------------------- sgd

SGD_SHAPES = (
    Shape("1e5x20", 100_000, 20),
    Shape("1e6x50", 1_000_000, 50, slow=True),
)
# float64 only: SGDRegressor computes in float64 and would convert float32 data (a
# copy, timed), so float32 would not compare the same work.
SGD_DTYPES = ("float64",)
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
# (lr="auto": 0.34 on 1e5x20; tests/test_bench_registry.py checks it), and a fixed
# number leaves lr="auto"'s power iteration out of the time.
SGD_BATCH_LR = SGD_BATCH_SIZE * SGD_ETA0
SGD_RANDOM_STATE = 0


@functools.lru_cache(maxsize=1)  # one shape's data, reused by its contenders in turn
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
    # Read-only: the arrays are shared by every contender of the shape.
    X.flags.writeable = False
    y.flags.writeable = False
    return X, y


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

    model = SGDRegressor(loss="squared_error", penalty=None, alpha=0.0,
                         learning_rate="invscaling", eta0=SGD_ETA0, power_t=SGD_POWER_T,
                         max_iter=SGD_EPOCHS, tol=None, shuffle=shuffle,
                         random_state=SGD_RANDOM_STATE, average=False).fit(X, y)
    # t_ starts at 1 and counts the updates made: update t's step is eta0 / t ** power_t.
    n_updates = int(model.t_) - 1
    return SGDFit(model.coef_, float(model.intercept_[0]), int(model.n_iter_), n_updates,
                  SGD_ETA0 / n_updates**SGD_POWER_T, batch_size=1)


def _fastgd_sgd(X, y, backend, batch_size, lr, shuffle):
    result = fastgd.fit(X, y, batch_size=batch_size, shuffle=shuffle,
                        random_state=SGD_RANDOM_STATE, schedule="invscaling",
                        power_t=SGD_POWER_T, lr=lr, max_iter=SGD_EPOCHS, tol=0,
                        fit_intercept=True, backend=backend)
    n_updates = result.n_iter * math.ceil(len(X) / batch_size)
    return SGDFit(result.coef, float(result.intercept), result.n_iter, n_updates,
                  float(result.history["lr"][-1]), batch_size)


def sklearn_sgd_regressor(X, y):
    def run():
        return _sklearn_sgd_regressor(X, y, shuffle=True)

    return run


def fastgd_sgd(backend, batch_size, lr):
    def setup(X, y):
        def run():
            return _fastgd_sgd(X, y, backend, batch_size, lr, shuffle=True)

        return run

    return setup


# All run SGD_EPOCHS epochs with tol=None / tol=0: nothing else stops them. The first
# contender is the report's baseline.
SGD_CONTENDERS = {
    "sklearn-sgd": sklearn_sgd_regressor,
    "numba": fastgd_sgd("numba", 1, SGD_ETA0),
    "cython": fastgd_sgd("cython", 1, SGD_ETA0),
    f"numba-batch{SGD_BATCH_SIZE}": fastgd_sgd("numba", SGD_BATCH_SIZE, SGD_BATCH_LR),
    f"cython-batch{SGD_BATCH_SIZE}": fastgd_sgd("cython", SGD_BATCH_SIZE, SGD_BATCH_LR),
}


def unshuffled_sgd_fits(X, y, backend):
    """(SGDRegressor, fastgd batch_size=1) with shuffle=False and otherwise the
    per-sample contenders' settings: the same updates in the same order, so the
    same coefficients to rounding (the registry test checks this)."""
    return (_sklearn_sgd_regressor(X, y, shuffle=False),
            _fastgd_sgd(X, y, backend, 1, SGD_ETA0, shuffle=False))


_sgd_references = {}


def sgd_reference(shape, dtype):
    """The least-squares solution by np.linalg.lstsq on [X, 1]: (coef, intercept,
    objective), the optimum every contender's objective is measured against."""
    key = (shape, dtype)
    if key not in _sgd_references:
        X, y = make_sgd_data(shape, dtype)
        A = np.hstack([X.astype(np.float64, copy=False), np.ones((len(X), 1))])
        solution = np.linalg.lstsq(A, y.astype(np.float64), rcond=None)[0]
        del A
        coef, intercept = solution[:-1], float(solution[-1])
        _sgd_references[key] = coef, intercept, half_mse(X, y, coef, intercept)
    return _sgd_references[key]


def setup_sgd_case(shape, dtype, name):
    """Return (run, assess): the timed callable, and ``assess(fit) -> dict`` that
    scores its result against the least-squares solution (outside the timing)."""
    X, y = make_sgd_data(shape, dtype)
    run = SGD_CONTENDERS[name](X, y)

    def assess(fit):
        coef, intercept, optimum = sgd_reference(shape, dtype)
        return {
            "objective": half_mse(X, y, fit.coef, fit.intercept),
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

    return run, assess


# ------------------------------------------------------------------------ registry

# kind -> (shapes, dtypes, contenders, (contender, shape name) pairs left out)
KINDS = {
    "gradient": (GRADIENT_SHAPES, DTYPES, GRADIENT_CONTENDERS, set()),
    "fit": (FIT_SHAPES, DTYPES, FIT_CONTENDERS, FIT_SKIP),
    "lasso": (LASSO_SHAPES, LASSO_DTYPES, LASSO_CONTENDERS, set()),
    "sgd": (SGD_SHAPES, SGD_DTYPES, SGD_CONTENDERS, set()),
}


def cases(kind, include_slow=False):
    """Yield (shape, dtype, contender) for a kind ("gradient", "fit", "lasso" or "sgd")."""
    shapes, dtypes, contenders, skip = KINDS[kind]
    for shape in shapes:
        if shape.slow and not include_slow:
            continue
        for dtype in dtypes:
            for name in contenders:
                if (name, shape.name) not in skip:
                    yield shape, dtype, name


def setup_case(kind, shape, dtype, name):
    """Return (run, checked): the timed callable, and whether its result must equal
    the NumPy baseline's ("gradient" and "fit"; for "lasso" and "sgd", see
    setup_lasso_case and setup_sgd_case)."""
    X, y = make_data(shape, dtype)
    if kind == "gradient":
        return GRADIENT_CONTENDERS[name](X, y), True
    setup, checked = FIT_CONTENDERS[name]
    return setup(X, y, FIT_ITERATIONS[shape.name]), checked


def tolerance(dtype):
    """Agreement required with the NumPy baseline, relative to the result's scale."""
    return 1e-9 if dtype == "float64" else 2e-3
