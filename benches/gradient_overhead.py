"""What one ``fastgd.gradient`` call costs, against NumPy's own expression for it.

Times, side by side in one run, for each shape and dtype: the NumPy expression of
the gradient (``R = X @ W.T + b - Y; G = R.T @ X / N; g = R.mean(0); loss = (R *
R).sum() / (2 N)``), ``fastgd.gradient(X, y, coef, intercept)`` on each compiled
backend (already valid arrays: the fast path of ``fastgd/_api.py``), and the bare
kernel of that backend (the call its ``GradientPlan`` makes), so that the Python
overhead is the difference of the last two::

    python -m benches.gradient_overhead            # print the markdown table
    python -m benches.gradient_overhead --repeat 9

Each figure is the best of ``--repeat`` timeit runs, each of enough calls to last
about 0.2 s. No thresholds: the bench registry (``fastgd bench``) holds the targets.
"""

import argparse
import platform
import timeit

import numpy as np

import fastgd
from fastgd import _backends
from fastgd.bench.report import fmt_time

SHAPES = ((4, 2), (100, 10), (10_000, 20))
DTYPES = (np.float64, np.float32)


def best_time(call, repeat):
    """The best time of one call over ``repeat`` timeit runs of about 0.2 s each."""
    call()  # warm: compilation, the plan
    number, _ = timeit.Timer(call).autorange()
    return min(timeit.repeat(call, number=number, repeat=repeat)) / number


def contenders(X, y, coef, intercept):
    """{name: callable}: the NumPy expression, then fastgd.gradient and the bare
    kernel per compiled backend."""
    n_samples = X.shape[0]
    Y, W, b = y[:, None], coef[None], np.full(1, intercept, dtype=X.dtype)

    def numpy_expression():
        R = X @ W.T + b - Y
        return R.T @ X / n_samples, R.mean(0), (R * R).sum() / (2 * n_samples)

    calls = {"NumPy": numpy_expression}
    for name in _backends.COMPILED_BACKENDS:
        if name not in fastgd.available_backends():
            continue
        calls[f"{name}: fastgd.gradient"] = lambda name=name: fastgd.gradient(
            X, y, coef, intercept, backend=name
        )
        plan = _backends.get_backend(name).gradient_plan(*X.shape, 1, X.dtype, None)
        calls[f"{name}: kernel"] = lambda plan=plan: plan.run(
            X, Y, W, b, plan.no_weights, float(n_samples), False
        )
    return calls


def table(repeat):
    rng = np.random.default_rng(0)
    rows = []
    for n_samples, n_features in SHAPES:
        for dtype in DTYPES:
            X = rng.standard_normal((n_samples, n_features)).astype(dtype)
            y = rng.standard_normal(n_samples).astype(dtype)
            coef = rng.standard_normal(n_features).astype(dtype)
            times = {
                name: best_time(call, repeat) for name, call in contenders(X, y, coef, 0.5).items()
            }
            rows.append((f"{n_samples}×{n_features}", np.dtype(dtype).name, times))
    names = list(rows[0][2])
    gradients = [name for name in names if name.endswith("fastgd.gradient")]
    header = ["shape", "dtype"] + names + [f"NumPy / {name.split(':')[0]}" for name in gradients]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for shape, dtype, times in rows:
        cells = [shape, dtype] + [fmt_time(times[name]) for name in names]
        cells += [f"{times['NumPy'] / times[name]:.2g}×" for name in gradients]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    print(table(args.repeat))
    print(
        f"\nMeasured with `python -m benches.gradient_overhead --repeat {args.repeat}` "
        f"({platform.machine()}, {_cores()} cores, Python {platform.python_version()}, "
        f"NumPy {np.__version__}): best of {args.repeat} timeit runs, 1-D y, a float "
        f"intercept; the compiled kernels take their serial path below 2**17 "
        f"multiply-adds and all allowed threads above."
    )


def _cores():
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


if __name__ == "__main__":
    main()
