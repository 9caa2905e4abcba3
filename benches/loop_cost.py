"""What the epoch loop costs in Python: why the compiled backends compile it.

fastgd's gradient descent loop is written once in Python over a backend's leaves
(``fastgd/_epochs.py``: ``partial_gradient``, ``update``, ``shuffle``), and once
more, compiled, in each compiled backend (``_numba_kernels.fit`` and its Cython
mirror). This script times the same fit both ways on the same leaves, side by side
in one run, and writes the table of docs/design.md between ``<!-- loop:start -->``
and ``<!-- loop:end -->``::

    python -m benches.loop_cost                # print the table
    python -m benches.loop_cost --update-docs  # and write it into docs/design.md

Both loops make the same updates (tests/test_leaves.py checks it to 1e-10).
"""

import argparse
import platform
import time

import numpy as np

from benches.update_docs import DOCS, splice
from fastgd import _backends, _epochs, _layout
from fastgd.bench.report import fmt_time

# (label, n_samples, n_features, batch_size or None for a full batch, epochs)
CASES = (
    ("full batch", 4, 2, None, 1000),
    ("full batch", 100, 10, None, 1000),
    ("full batch", 10_000, 20, None, 100),
    ("per-sample SGD", 10_000, 20, 1, 2),
    ("mini-batches of 32", 10_000, 20, 32, 5),
)


def _one_fit(backend, X, Y, options, epochs, loop):
    data = _backends.fit_data(
        X, Y, None, False, np.arange(len(X), dtype=np.int64), options.n_train
    )
    model = _layout.Model(np.zeros((1, X.shape[1])), np.zeros(1))
    optimizer = _backends.Optimizer.new(options.lr, 1, X.shape[1], seed=1)
    history = np.empty((epochs, _layout.N_HISTORY))
    start = time.perf_counter()
    if loop == "python":
        _epochs.fit(backend, data, model, options, optimizer.arrays, history, 10**12)
    else:
        workspace = backend.fit_workspace(data, 1, options)
        backend.fit(data, model, options, optimizer, history, 10**12, workspace)
    return time.perf_counter() - start


def best_time(backend, X, Y, options, epochs, loop, repeat=5):
    _one_fit(backend, X, Y, options, epochs, loop)  # warm: compilation, caches
    return min(_one_fit(backend, X, Y, options, epochs, loop) for _ in range(repeat))


def table():
    rows = [
        "| fit | shape | epochs | backend | loop in Python over the leaves | compiled "
        "loop | Python / compiled |",
        "|---|---|---|---|---|---|---|",
    ]
    rng = np.random.default_rng(0)
    for label, n, d, batch, epochs in CASES:
        X = rng.standard_normal((n, d))
        Y = X @ rng.standard_normal((d, 1)) + 0.1 * rng.standard_normal((n, 1))
        batch = n if batch is None else batch
        lr = 0.5 / float(np.linalg.eigvalsh(X.T @ X / n)[-1] + 1) / (4 if batch < n else 1)
        options = _layout.FitOptions.of(lr=lr, n_train=n, batch_size=batch, shuffle=batch < n)
        for name in _backends.COMPILED_BACKENDS:
            backend = _backends.get_backend(name)
            python = best_time(backend, X, Y, options, epochs, "python")
            compiled = best_time(backend, X, Y, options, epochs, "compiled")
            rows.append(
                f"| {label} | {n}×{d} | {epochs} | {name} | {fmt_time(python)} | "
                f"{fmt_time(compiled)} | {python / compiled:.3g}× |"
            )
    return "\n".join(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--update-docs", action="store_true", help="write the table into docs/design.md"
    )
    args = parser.parse_args(argv)
    text = (
        table() + f"\n\nMeasured with `python -m benches.loop_cost` ({platform.machine()}, "
        f"{_cores()} cores, Python {platform.python_version()}): best of 5 fits each, "
        f"both loops over the same compiled leaves, side by side in one run."
    )
    print(text)
    if args.update_docs:
        splice(DOCS / "design.md", text, "loop")


def _cores():
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


if __name__ == "__main__":
    main()
