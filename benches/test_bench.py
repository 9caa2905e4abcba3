"""Timings, driven by the registry in cases.py: ``fastgd bench`` runs this file.

Each benchmark records in ``extra_info`` what the report needs (kind, shape, dtype,
contender, bytes of X; for lasso and sgd, also the accuracy of the timed fit), and groups
are named ``kind|shape|dtype`` so that pytest-benchmark's own table compares
contenders side by side.
"""

import numpy as np
import pytest

from benches import cases
from benches.bandwidth import probe_array, stream_sum


def _params(kind):
    return [
        pytest.param(shape, dtype, name, id=f"{shape.name}-{dtype}-{name}",
                     marks=[pytest.mark.slow] if shape.slow else [])
        for shape, dtype, name in cases.cases(kind, include_slow=True)
    ]


def _record(benchmark, kind, shape, dtype, name):
    benchmark.group = f"{kind}|{shape.name}|{dtype}"
    benchmark.extra_info.update(
        kind=kind, shape=shape.name, n_samples=shape.n_samples,
        n_features=shape.n_features, dtype=dtype, contender=name,
        bytes=shape.size * np.dtype(dtype).itemsize,
    )


@pytest.mark.parametrize("shape, dtype, name", _params("gradient"))
def test_gradient(benchmark, shape, dtype, name):
    run, _ = cases.setup_case("gradient", shape, dtype, name)
    run()  # compile / warm caches outside the timing (compile time: cold-start report)
    _record(benchmark, "gradient", shape, dtype, name)
    benchmark(run)


@pytest.mark.parametrize("shape, dtype, name", _params("fit"))
def test_fit(benchmark, shape, dtype, name):
    run, _ = cases.setup_case("fit", shape, dtype, name)
    if not shape.slow:
        run()  # warm-up; a slow shape's single round is long enough to dwarf it
    _record(benchmark, "fit", shape, dtype, name)
    benchmark.extra_info["iterations"] = cases.FIT_ITERATIONS[shape.name]
    benchmark.pedantic(run, rounds=1 if shape.slow else 5, iterations=1)


def _time_and_assess(benchmark, kind, shape, dtype, name, setup_case, make_data, contenders):
    """Time a case whose result is scored (lasso, sgd) and return the scores."""
    run, assess = setup_case(shape, dtype, name)
    _record(benchmark, kind, shape, dtype, name)
    if shape.slow:
        # Seconds per round: warm up (and compile Numba, should this case run on its
        # own) on a slice of the same data, then time one round.
        X, y = make_data(shape, dtype)
        contenders[name](X[:1000], y[:1000])()
        fit = benchmark.pedantic(run, rounds=1, iterations=1)
    else:
        run()  # compile / warm caches outside the timing
        # Rounds of a few to a few hundred ms: as many as --benchmark-max-time allows,
        # at least --benchmark-min-rounds, so that the minimum escapes other load.
        fit = benchmark(run)
    # Scored after the timing; the report prints the accuracy next to the time.
    return assess(fit)


@pytest.mark.parametrize("shape, dtype, name", _params("lasso"))
def test_lasso(benchmark, shape, dtype, name):
    scores = _time_and_assess(benchmark, "lasso", shape, dtype, name, cases.setup_lasso_case,
                              cases.make_lasso_data, cases.LASSO_CONTENDERS)
    benchmark.extra_info.update(scores, alpha=cases.LASSO_ALPHA, tol=cases.LASSO_TOL,
                                reference_tol=cases.LASSO_REFERENCE_TOL)


@pytest.mark.parametrize("shape, dtype, name", _params("sgd"))
def test_sgd(benchmark, shape, dtype, name):
    scores = _time_and_assess(benchmark, "sgd", shape, dtype, name, cases.setup_sgd_case,
                              cases.make_sgd_data, cases.SGD_CONTENDERS)
    benchmark.extra_info.update(scores, epochs=cases.SGD_EPOCHS, eta0=cases.SGD_ETA0,
                                power_t=cases.SGD_POWER_T, batch_size=cases.SGD_BATCH_SIZE,
                                batch_lr=cases.SGD_BATCH_LR)


@pytest.mark.parametrize("n_bytes", [
    pytest.param(256 << 20, id="256MB"),
    pytest.param(512 << 20, id="512MB", marks=pytest.mark.slow),
])
def test_stream_read_bandwidth(benchmark, n_bytes):
    a = probe_array(n_bytes)
    stream_sum(a)
    benchmark.group = "bandwidth"
    benchmark.extra_info.update(kind="bandwidth", bytes=a.nbytes)
    benchmark(stream_sum, a)
