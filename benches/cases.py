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
"""

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


def cases(kind, include_slow=False):
    """Yield (shape, dtype, contender) for a kind ("gradient" or "fit")."""
    shapes = GRADIENT_SHAPES if kind == "gradient" else FIT_SHAPES
    contenders = GRADIENT_CONTENDERS if kind == "gradient" else FIT_CONTENDERS
    for shape in shapes:
        if shape.slow and not include_slow:
            continue
        for dtype in DTYPES:
            for name in contenders:
                if (name, shape.name) not in FIT_SKIP:
                    yield shape, dtype, name


def setup_case(kind, shape, dtype, name):
    """Return (run, checked): the timed callable, and whether its result must equal
    the NumPy baseline's."""
    X, y = make_data(shape, dtype)
    if kind == "gradient":
        return GRADIENT_CONTENDERS[name](X, y), True
    setup, checked = FIT_CONTENDERS[name]
    return setup(X, y, FIT_ITERATIONS[shape.name]), checked


def tolerance(dtype):
    """Agreement required with the NumPy baseline, relative to the result's scale."""
    return 1e-9 if dtype == "float64" else 2e-3
