"""``python -m fastgd``: fit one synthetic problem with every installed backend.

Prints, per backend, the time of the first fit in this process, the best time of
three more fits after it, the final loss, and the distance of the coefficients to the
np.linalg.lstsq solution. The first fit is a warm-up, timed on its own: on the numba
backend it compiles the kernels (about 10 s on 2 cores when Numba's cache is empty;
later runs read the cache), so only "best of 3" is the speed of a fit.
"""

import argparse
import platform
import time

import numpy as np

import fastgd


def make_problem(n_samples, n_features, seed=0):
    """A well-posed regression problem y = X w + b + noise (float64, C order)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features))
    X[:, 0] *= 3.0  # a little anisotropy, so the iteration count is not trivial
    w = rng.standard_normal(n_features)
    y = X @ w + 0.5 + 0.1 * rng.standard_normal(n_samples)
    return X, y


def lstsq_solution(X, y):
    A = np.hstack([X, np.ones((X.shape[0], 1))])
    solution = np.linalg.lstsq(A, y, rcond=None)[0]
    return solution[:-1], solution[-1]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m fastgd", description=__doc__)
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--max-iter", type=int, default=1000)
    parser.add_argument("--tol", type=float, default=1e-8)
    args = parser.parse_args(argv)

    X, y = make_problem(args.samples, args.features)
    coef_ls, intercept_ls = lstsq_solution(X, y)
    print(
        f"fastgd {fastgd.__version__} on {platform.machine()} with NumPy {np.__version__}: "
        f"X {X.shape[0]}x{X.shape[1]} float64, lr='auto', max_iter={args.max_iter}, "
        f"tol={args.tol:g}"
    )
    print(
        "'first fit' is the warm-up: the numba backend's first fit compiles its kernels "
        "(about 10 s when\nNumba's cache is empty, then read from the cache); 'best of 3' "
        "is timed after it."
    )
    header = (
        f"{'backend':8} {'first fit':>10} {'best of 3':>10} {'iters':>6} "
        f"{'final loss':>13} {'|coef - lstsq|':>15}"
    )
    print(header)
    print("-" * len(header))
    for backend in fastgd.available_backends():
        options = dict(backend=backend, max_iter=args.max_iter, tol=args.tol)
        print(f"{backend:8} ", end="", flush=True)  # the name while the first fit runs
        start = time.perf_counter()
        result = fastgd.fit(X, y, **options)
        first = time.perf_counter() - start
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            result = fastgd.fit(X, y, **options)
            best = min(best, time.perf_counter() - start)
        distance = np.sqrt(
            np.sum((result.coef - coef_ls) ** 2) + (result.intercept - intercept_ls) ** 2
        )
        print(
            f"{first:9.3f}s {best:9.3f}s {result.n_iter:6d} "
            f"{result.loss_history[-1]:13.6e} {distance:15.3e}"
        )


if __name__ == "__main__":
    main()
