"""pytest-benchmark timings of the registry's timed cases, for developers who want
pytest-benchmark's statistics and its comparison of saved runs::

    python -m pytest benches/test_bench.py -m "slow or not slow" --benchmark-autosave
    python -m pytest benches/test_bench.py --benchmark-compare

``fastgd bench`` runs the same cases (fastgd/bench/cases.py) with its own plain timer
and prints the report (benches/update_docs.py writes its tables into the docs); it does
not need this file. Groups are named ``kind|shape|dtype`` so that pytest-benchmark's
table compares contenders side by side; ``extra_info`` holds the case's id and its
scores (fastgd/bench/run.py's warm-up and rounds, the kind's ``assess``).
"""

import functools

import pytest

from fastgd.bench import cases, run

TIMED = [case for case in run.select(full=True) if case.kind.timed]


@functools.lru_cache(maxsize=1)  # one shape's data, reused by its contenders in turn
def _data(kind, shape, dtype):
    return cases.KINDS[kind].make_data(shape, dtype)


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(
            case,
            id=case.id,
            marks=[pytest.mark.slow] if case.shape.slow or case.contender.slow else [],
        )
        for case in TIMED
    ],
)
def test_case(benchmark, case):
    reason = run.unavailable(case)
    if reason:
        pytest.skip(reason)
    data = _data(case.kind.name, case.shape, case.dtype)
    timed = run.prepare(case, data)
    benchmark.group = f"{case.kind.name}|{case.shape.name}|{case.dtype}"
    rounds = run.rounds_of(case)
    if rounds is None:
        result = benchmark(timed)
    else:
        result = benchmark.pedantic(timed, rounds=rounds, iterations=1)
    # Scored after the timing, without the baseline's result (not run here).
    benchmark.extra_info.update(case=case.id, scores=case.kind.assess(data, result, None))
