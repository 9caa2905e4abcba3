"""``fastgd bench`` itself: the command on a tiny case list, its case selection, the
timer's rounds, the report's ratios and targets and the optional plot.

No figure is checked against a wall-clock bound: what is checked is that the
printed tables say what the run's JSON measured.
"""

import json
import sys
import warnings
from dataclasses import replace

import numpy as np
import pytest

import fastgd
from fastgd import _cli
from fastgd.bench import cases, report, run
from fastgd.bench.timer import (
    TOLERANCE,
    Timing,
    disagreements,
    fmt_spread,
    quantile,
    ratio_spread,
    spread,
    time_calls,
)

TINY = "gradient/4x2/float64/cython,fit/4x2/float32/numba"


def test_fastgd_bench_runs_a_tiny_case_list_and_prints_what_it_measured(tmp_path, capsys):
    _cli.main(["bench", "--cases", TINY, "--out", str(tmp_path)])
    printed = capsys.readouterr().out
    results = json.loads((tmp_path / "bench.json").read_text())
    ran = {(r["kind"], r["dtype"], r["contender"]): r for r in results["results"]}
    # The selected cases, and the baselines of their ratios.
    assert set(ran) == {
        ("gradient", "float64", "numpy"),
        ("gradient", "float64", "cython"),
        ("fit", "float32", "numpy"),
        ("fit", "float32", "numba"),
    }
    assert ran["gradient", "float64", "cython"]["scores"]["error"] <= cases.AGREEMENT["float64"]
    assert ran["fit", "float32", "numba"]["scores"]["error"] <= cases.AGREEMENT["float32"]
    assert ran["fit", "float32", "numba"]["rounds"] == cases.FIT.rounds
    for rec in ran.values():  # every round kept: the figure is their median
        assert len(rec["times"]) == rec["rounds"] and rec["measurements"] >= 1
        assert rec["seconds"] == spread_median(rec["times"]) and rec["best"] == min(rec["times"])
        assert rec["spread"] == spread(rec["times"]) and rec["wall_seconds"] > 0
    # The printed rows carry the JSON's times and their ratios, with their spreads.
    for kind, dtype, name, spec in (
        ("gradient", "float64", "cython", ".2f"),
        ("fit", "float32", "numba", ".3g"),
    ):
        base, rec = ran[kind, dtype, "numpy"], ran[kind, dtype, name]
        assert rec["ratio_spread"] == ratio_spread(base["times"], rec["times"])
        assert f"| {report.fmt_seconds(base)}{report._mark(base)} | " in printed
        assert (
            f"| {report.fmt_ratio(base['seconds'] / rec['seconds'], rec, spec)} "
            f"({report.fmt_seconds(rec)}){report._mark(rec)} |"
        ) in printed
        assert "±" in report.fmt_seconds(rec) and "±" in report.fmt_ratio(1.0, rec)
    assert f"`{results['command']}`" in printed and "--cases " + TINY in results["command"]
    assert (tmp_path / "report.md").read_text().strip() in printed
    assert "Targets" not in printed  # (the developers' checks: benches/update_docs.py)
    # How long it would take, said first; how long it took, said last (and recorded).
    expected, _ = run.expected_seconds(run.select(TINY.split(",")))
    assert printed.startswith(
        f"fastgd bench: 4 cases, expected to take about {run.fmt_duration(expected, up=True)}"
    )
    assert results["expected_seconds"] == expected and results["wall_seconds"] > 0
    assert f"Took {run.fmt_duration(results['wall_seconds'])} (expected about " in printed
    assert len(results["load_average"]["start"]) == 3


def test_cases_match_by_id_prefix_with_wildcards():
    ids = [case.id for case in run.select(["*/1e4x20/float32/cy*"])]
    assert ids == [
        "gradient/1e4x20/float32/numpy",
        "gradient/1e4x20/float32/cython",
        "gradient/1e4x20/float32/cython-1t",
        "fit/1e4x20/float32/numpy",
        "fit/1e4x20/float32/cython",
    ]
    # An untimed kind has no ratios, so no baseline is added.
    assert [c.id for c in run.select(["coldstart/*/*/numba"])] == [
        "coldstart/1e3x10/float64/numba"
    ]
    assert {c.kind.name for c in run.select(["lasso"])} == {"lasso"}


def test_a_pattern_that_matches_nothing_says_what_ids_look_like():
    with pytest.raises(SystemExit, match="kind/shape/dtype/contender.*kinds: gradient, fit"):
        run.select(["gradient/3x3"])
    with pytest.raises(SystemExit, match="slow shapes need --full"):
        run.select(["gradient/2e6x32"])


def test_a_case_whose_backend_or_module_is_missing_is_skipped_with_a_note():
    def case(contender, kind=cases.GRADIENT):
        return run.Case(kind, kind.shapes[0], "float64", contender)

    no_backend = replace(cases.GRADIENT.baseline, name="x", backend="no-such-backend")
    assert "no-such-backend backend is not installed" in run.unavailable(case(no_backend))
    needs = replace(cases.GRADIENT.baseline, name="y", requires=("no_such_module_xyz",))
    assert "no_such_module_xyz is not installed" in run.unavailable(case(needs))
    assessed_with = replace(cases.GRADIENT, requires=("no_such_module_xyz",))
    assert "no_such_module_xyz" in run.unavailable(case(cases.GRADIENT.baseline, assessed_with))
    assert run.unavailable(case(cases.GRADIENT.baseline)) is None
    records, notes, _ = run.run_cases([case(cases.GRADIENT.baseline), case(needs)], max_time=0.001)
    assert [r["contender"] for r in records] == ["numpy"]
    assert len(notes) == 1 and "no_such_module_xyz" in notes[0]


def test_the_timer_runs_the_rounds_it_reports():
    calls = []
    timing, result = time_calls(lambda: calls.append(1) or len(calls), rounds=4)
    assert (timing.rounds, timing.number, result, len(calls)) == (4, 1, 4, 4)
    calls.clear()
    timing, result = time_calls(
        lambda: calls.append(1) or len(calls), max_time=0.0, min_rounds=3, min_round_time=1e-3
    )
    assert timing.rounds == 3 and timing.number > 1  # an append takes far under 1 ms
    # Calibration doubles the calls per round up to ``number``: 1 + 2 + ... + number.
    assert len(calls) == result == 3 * timing.number + 2 * timing.number - 1
    assert timing.best <= timing.median


def test_a_rows_baseline_is_timed_before_and_after_its_other_contenders():
    order = []
    runs = {name: (lambda name=name: order.append(name) or name) for name in ("numpy", "a", "b")}
    timed = run.measure_row(runs, "numpy", rounds=5)
    assert order == ["numpy"] * 3 + ["a"] * 5 + ["b"] * 5 + ["numpy"] * 2
    assert {name: (t.rounds, result) for name, (t, result) in timed.items()} == {
        "numpy": (5, "numpy"),
        "a": (5, "a"),
        "b": (5, "b"),
    }
    order.clear()
    run.measure_row(runs, "numpy", rounds=1)  # (one round cannot be split)
    assert order == ["numpy", "a", "b"]
    order.clear()  # Fixed rounds of several calls each: as many as warm_up found.
    timed = run.measure_row(runs, "numpy", rounds=5, numbers={"a": 3})
    assert order.count("a") == 15 and timed["a"][0].number == 3 and order.count("b") == 5
    # warm_up: fixed rounds of a call far shorter than a round's MIN_ROUND_TIME take
    # several calls each; a single round, one.
    instant = replace(cases.FIT.baseline, setup=lambda data: lambda: None)
    fit = run.Case(cases.FIT, cases.FIT.shapes[0], "float64", instant)
    assert run.warm_up(fit, None)[1] > 1
    slow = next(shape for shape in cases.FIT.shapes if shape.slow)
    assert (
        run.warm_up(replace(fit, shape=slow), cases.CaseData(slow, "float64", np.ones((2, 1))))[1]
        == 1
    )
    # Without fixed rounds: each half of the baseline's at least 2 rounds, in as many
    # calls per round as the first half found.
    order.clear()
    timed = run.measure_row(runs, "numpy", max_time=0.0)
    assert timed["numpy"][0].rounds == 4 and order[-1] == "numpy"


def test_the_spread_is_half_the_interquartile_range_over_the_median():
    assert spread([1.0]) == 0
    assert spread([0.9, 1.0, 1.1]) == pytest.approx(0.05)  # quartiles 0.95 and 1.05
    assert spread([1.0, 1.0, 1.0, 1.0, 50.0]) == 0  # a stray round moves nothing
    assert fmt_spread(0.05) == "±5%" and fmt_spread(0.004) == "±0.4%"
    base, ours = [1.0, 1.2, 1.0, 1.2], [0.5, 0.5, 0.5, 0.5]
    assert ratio_spread(base, ours) == spread(base) + spread(ours)  # (a quotient's)


# Rounds (seconds per call) of rows of two contenders. One row disagrees; the others
# agree, one of them with a stray round.
AGREEING = {
    "steady": {"numpy": [1.00, 1.01, 0.99, 1.00, 1.02], "cython": [0.50, 0.51, 0.50, 0.49, 0.50]},
    "stray round": {
        "numpy": [1.00, 1.01, 0.99, 1.00, 1.02],
        "cython": [0.50, 0.50, 5.0, 0.50, 0.51],
    },
}


def test_exactly_the_row_whose_rounds_disagree_is_flagged():
    rows = {
        **AGREEING,
        "disagrees": {
            "numpy": [1.00, 1.01, 0.99, 1.00, 1.02],
            "numba": [0.05, 0.50, 0.06, 0.52, 0.30],
        },
        # Load that came while the row was measured: the baseline's rounds after
        # the other contenders' are slower than those before.
        "load came": {"numpy": [1.0, 1.0, 1.01, 2.0, 2.02, 1.98], "numba": [0.5] * 5},
    }
    flagged = {row: disagreements(times) for row, times in rows.items()}
    assert {row for row, why in flagged.items() if why} == {"disagrees", "load came"}
    assert flagged["disagrees"] == {"numba": "its rounds spread ±73%"}
    assert flagged["load came"] == {"numpy": "its rounds spread ±33%"}
    assert all(spread(t) <= TOLERANCE for row in AGREEING.values() for t in row.values())


def test_a_row_whose_rounds_disagree_is_measured_again_then_flagged(monkeypatch, tmp_path):
    """Synthetic rounds in place of the clock: the first row agrees at once, the
    second never does (flagged after MEASUREMENTS), the third agrees when measured
    again. The run records it, and the report marks exactly the second row."""
    scripted = [
        AGREEING["steady"],  # 4x2
        *[{"numpy": [1.00, 1.01, 0.99, 1.00, 1.02], "cython": [0.05, 0.50, 0.06, 0.52, 0.30]}]
        * run.MEASUREMENTS,  # 100x10: disagrees every time
        {"numpy": [1.0, 3.0, 1.0, 2.0, 1.5], "cython": [0.5, 0.5, 0.5, 0.5, 0.5]},  # 1e4x20
        AGREEING["stray round"],  # 1e4x20 measured again: agrees
    ]
    calls = []

    def rounds_from_the_script(runs, baseline=None, rounds=None, max_time=None, numbers=None):
        times = scripted[len(calls)]
        calls.append(list(runs))
        return {name: (Timing(tuple(times[name]), 1), run()) for name, run in runs.items()}

    monkeypatch.setattr(run, "measure_row", rounds_from_the_script)
    selected = run.select(
        [f"gradient/{shape}/float64/cython" for shape in ("4x2", "100x10", "1e4x20")]
    )
    records, notes, data_seconds = run.run_cases(selected)
    assert calls == [["numpy", "cython"]] * len(scripted)
    measured = {(r["shape"], r["contender"]): r for r in records}
    assert {key: (r["measurements"], r["flag"]) for key, r in measured.items()} == {
        ("4x2", "numpy"): (1, None),
        ("4x2", "cython"): (1, None),
        ("100x10", "numpy"): (3, None),
        ("100x10", "cython"): (3, "its rounds spread ±73%"),
        ("1e4x20", "numpy"): (2, None),
        ("1e4x20", "cython"): (2, None),
    }
    assert set(data_seconds) == {f"gradient/{s}/float64" for s in ("4x2", "100x10", "1e4x20")}
    results = run.results_json(records, notes, selected, "fastgd bench --cases x", data_seconds)
    report.write_json(results, tmp_path / "bench.json")  # the flag is in bench.json
    saved = json.loads((tmp_path / "bench.json").read_text())["results"]
    assert [(r["shape"], r["flag"]) for r in saved if r["flag"]] == [
        ("100x10", "its rounds spread ±73%")
    ]
    text = report.markdown(results)
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert [line.split(" | ")[0] for line in rows if report.FLAG in line] == ["| 100x10"]
    assert "| 1 s ±0.5% | 3.33× ±74% (300 ms ±73%) ⚠ |" in text  # (±0.5% + ±73%)
    note = next(line for line in text.splitlines() if line.startswith(report.FLAG))
    assert "100x10 float64, cython: its rounds spread ±73%" in note
    assert "in each of 3 measurements of their row" in note
    assert "`fastgd bench --cases gradient/100x10/float64/cython`" in note


def test_a_parallel_kernel_far_slower_than_on_one_thread_is_flagged(monkeypatch):
    """Rounds that agree, all slow: every call of the kernel on 2 threads waited for a
    core another program held (0.01x NumPy, where quiet runs measure 1x). The
    gradient's check compares it with the same kernel on one thread."""
    tight = [1.0, 1.01, 0.99, 1.0]
    measured = {
        "numpy": [50e-6 * t for t in tight],
        "cython": [5.7e-3 * t for t in tight],
        "cython-1t": [80e-6 * t for t in tight],
    }
    calls = []

    def measure_row(runs, baseline=None, rounds=None, max_time=None, numbers=None):
        calls.append(1)
        return {name: (Timing(tuple(measured[name]), 1), None) for name in runs}

    monkeypatch.setattr(run, "measure_row", measure_row)
    row = run.time_row(dict.fromkeys(measured), "numpy", check=cases.GRADIENT.check)
    assert len(calls) == run.MEASUREMENTS and row.measurements == run.MEASUREMENTS
    assert row.reasons == {
        "cython": "on all threads 71.2× slower than on one: other programs "
        "held a core, most likely"
    }
    measured["cython"] = [60e-6 * t for t in tight]  # quiet again: 1.33x faster than 1 thread
    calls.clear()
    assert run.time_row(dict.fromkeys(measured), "numpy", check=cases.GRADIENT.check).reasons == {}
    assert len(calls) == 1


def test_the_dependencies_warnings_and_logging_are_off_while_the_bench_runs():
    """Inside the run: no deprecation (Dask's, pandas'), no warning of Dask's modules
    (distributed's "Sending large graph"), distributed's loggers at ERROR; fastgd's
    own warnings still show, and everything is as before once the run ends."""
    import logging

    client_log = logging.getLogger("distributed.client")
    before = client_log.level
    seen = {}

    def noisy(data):
        def run():
            warnings.warn(
                "Dask configuration key 'fuse_ave_width' has been deprecated",
                FutureWarning,
                stacklevel=2,
            )
            warnings.warn("a pandas deprecation", DeprecationWarning, stacklevel=2)
            warnings.warn_explicit(
                "Sending large graph of size 61.04 MiB.",
                UserWarning,
                "distributed/client.py",
                3429,
                module="distributed.client",
            )
            warnings.warn("did not converge", fastgd.ConvergenceWarning, stacklevel=2)
            seen["client log at warning"] = client_log.isEnabledFor(logging.WARNING)
            return np.zeros(data.X.shape[1])

        return run

    kind = cases.GRADIENT
    case = run.Case(kind, kind.shapes[0], "float64", replace(kind.baseline, setup=noisy))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run.run_cases([case], max_time=0.0)
        assert {str(w.message) for w in caught} == {"did not converge"}
        assert seen == {"client log at warning": False}
        warnings.warn("after the run", FutureWarning, stacklevel=2)
    assert str(caught[-1].message) == "after the run"
    assert client_log.level == before


def test_the_estimate_adds_up_the_recorded_seconds_and_says_what_it_lacks(monkeypatch):
    chosen = run.select(["gradient/4x2/float64/cython", "fit/4x2/float64/numba"])
    recorded = {
        "quick": {
            "measured": "a quiet machine, 2026-01-01",
            "cases": {case.id: 2.0 for case in chosen[:3]},
            "data": {"gradient/4x2/float64": 0.5, "fit/4x2/float64": 0.25},
        },
        "full": {"cases": {}, "data": {}},
    }
    monkeypatch.setattr(cases, "ESTIMATES", recorded)
    seconds, unrecorded = run.expected_seconds(chosen)
    assert seconds == pytest.approx(
        run.ESTIMATE_MARGIN * (3 * 2.0 + run.UNRECORDED_CASE_SECONDS + 0.75)
    )
    assert unrecorded == ["fit/4x2/float64/numba"]
    text = run.announcement(chosen, False, load=[0.1, 0.1, 0.1])
    assert text.splitlines() == [
        f"fastgd bench: 4 cases, expected to take about {run.fmt_duration(seconds, up=True)} "
        "(each case's time as recorded on a quiet machine, 2026-01-01; more on a busy or "
        "slower machine, and on the first run after installing, when Numba compiles its "
        "kernels).",
        "(1 of them have no recorded time yet: counted as 5 s each.)",
    ]
    # The full run's estimates are the full run's own.
    assert run.expected_seconds(chosen, full=True)[1] == [case.id for case in chosen]
    # A busy machine is named before the run starts.
    busy = run.announcement(chosen, False, load=[8.0, 8.0, 8.0])
    assert "The load average is 8.00 on" in busy and "measured again" in busy


def spread_median(times):
    return quantile(times, 0.5)


def _results(records, **extra):
    return {
        "command": "fastgd bench",
        "datetime": "2026-01-01T00:00:00",
        "machine": {"cpu": "cpu", "cores": 2, "system": "Linux", "python": "3.11"},
        "versions": {"fastgd": "0"},
        "threads": "numba 2",
        "settings": {},
        "notes": [],
        "results": records,
        **extra,
    }


def _record(kind, shape, dtype, contender, seconds, **scores):
    return {
        "kind": kind,
        "shape": shape,
        "dtype": dtype,
        "contender": contender,
        "bytes": 64,
        "seconds": seconds,
        "scores": scores,
    }


def test_each_backend_meets_or_misses_its_targets_on_its_own():
    table = report.index(
        _results(
            [
                _record("gradient", "1e4x20", "float64", "numpy", 1.0),
                _record("gradient", "1e4x20", "float64", "numba", 0.6),  # 1.67x: missed
                _record("gradient", "1e4x20", "float64", "cython", 0.4),  # 2.5x: met
                _record("gradient", "1e4x20", "float32", "numpy", 1.0),
                _record("gradient", "1e4x20", "float32", "numba", 0.6),  # 1.67x: missed
                _record("gradient", "4x2", "float64", "numpy", 1e-6),
                _record("gradient", "4x2", "float64", "cython", 11e-6),  # 0.0909x: missed
            ]
        )
    )
    lines = report.targets_table(table).splitlines()
    assert "| 1e4x20 float64 gradient ≥ 2× NumPy (cython) | 2.5× | met |" in lines
    assert "| 1e4x20 float64 gradient ≥ 2× NumPy (numba) | 1.67× | **missed** |" in lines
    assert "| 1e4x20 float32 gradient ≥ 2× NumPy (numba) | 1.67× | **missed** |" in lines
    assert "| 4x2 float64 gradient ≥ 1× NumPy (cython) | 0.0909× | **missed** |" in lines
    assert len(lines) == 2 + 4  # header, and only the targets whose cases ran


def test_the_plot_is_skipped_with_a_note_without_matplotlib(tmp_path, monkeypatch, capsys):
    results = _results(
        [
            _record("gradient", "4x2", "float64", "numpy", 2e-6),
            _record("gradient", "4x2", "float64", "numba", 1e-6),
        ]
    )
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib fails
    assert report.plot_or_note(results, tmp_path / "speedup.png") is None
    assert "No speedup.png: matplotlib is not installed" in capsys.readouterr().out
    assert not (tmp_path / "speedup.png").exists()


def test_the_plot_is_written_with_matplotlib(tmp_path):
    pytest.importorskip("matplotlib")
    results = _results(
        [
            _record("gradient", "4x2", "float64", "numpy", 2e-6),
            _record("gradient", "4x2", "float64", "numba", 1e-6),
        ]
    )
    path = report.plot_or_note(results, tmp_path / "speedup.png")
    assert path == tmp_path / "speedup.png" and path.read_bytes()[:4] == b"\x89PNG"


def test_the_installed_command_writes_no_documentation(tmp_path):
    """--update-readme left fastgd bench: the tables reach the docs through a developer
    tool of the checkout (benches/update_docs.py, tested in tests/test_docs.py)."""
    with pytest.raises(SystemExit):
        _cli.main(["bench", "--update-readme", "--out", str(tmp_path)])
    assert not hasattr(report, "update_readme") and not hasattr(report, "splice")


def test_fresh_processes_show_their_median_and_spread():
    """The files and cold-start kinds time fresh processes, not rounds: their tables
    show the median process with the processes' spread (a run recorded before they
    were kept shows the fastest, as its caption says)."""
    file_scores = dict(
        rows_per_second=1e6, peak_rss=2e8, rss_growth=1e8, file_bytes=4e8, column_bytes=3e8
    )

    def process_record(contender, **scores):  # (not timed: its seconds are scores)
        return {**_record("files", "2e6x20", "float64", contender, None), "scores": scores}

    table = report.index(
        _results(
            [
                process_record(
                    "pyarrow-read", seconds=0.30, all_seconds=[0.31, 0.30, 0.29], **file_scores
                ),
                process_record(
                    "fastgd-files",
                    seconds=0.80,
                    all_seconds=[0.80, 1.2, 0.79],
                    coef_error=1e-15,
                    converged=True,
                    **file_scores,
                ),
                _record(
                    "coldstart",
                    "1e3x10",
                    "float64",
                    "cython",
                    None,
                    import_s=0.065,
                    first_fit_s=0.011,
                    import_all=[0.064, 0.065, 0.07],
                    first_fit_all=[0.011, 0.011, 0.012],
                ),
            ]
        )
    )
    files = report.files_table(table)
    fastgd_spread = fmt_spread(spread([0.80, 1.2, 0.79]))
    ratio_spread = fmt_spread(spread([0.80, 1.2, 0.79]) + spread([0.31, 0.30, 0.29]))
    assert f"| 800 ms {fastgd_spread} | 2.67× {ratio_spread} |" in files
    assert f"| 300 ms {fmt_spread(spread([0.31, 0.30, 0.29]))} | 1× |" in files  # (itself)
    assert (
        f"| cython | 65 ms {fmt_spread(spread([0.064, 0.065, 0.07]))} | "
        f"11 ms {fmt_spread(spread([0.011, 0.011, 0.012]))} | – |"
    ) in report.coldstart_table(table)
    assert "the median of 3 fresh processes" in report.files_caption(
        {"row_group": 1, "repeats": 3, "statistic": "median"}
    )
    assert (
        report.coldstart_caption({"repeats": 3}) == "**Cold start** (best of 3 fresh processes):"
    )


def test_the_dask_table_says_what_the_scheduling_alone_costs():
    """The sentence under the Dask table comes from the run's records: the no-op
    passes' time, its ratio to the local fit, and the fit's own time."""
    scores = dict(
        n_iter=3,
        reached=True,
        objective_gap=1e-12,
        block_seconds=0.005,
        block_rows=50_000,
        scheduling_seconds=0.05,
    )
    table = report.index(
        _results(
            [
                _record("dask", "4e5x20", "float64", "fastgd-2-workers", 0.09, **scores),
                _record(
                    "dask",
                    "4e5x20",
                    "float64",
                    "fastgd-local",
                    0.025,
                    **dict(scores, block_seconds=None, scheduling_seconds=None),
                ),
            ]
        )
    )
    text = report.dask_table(table)
    assert (
        "with every task a no-op took 50 ms on the 2 workers (the fastest of 21), "
        "2× the local fit's whole time, against 90 ms for the fit itself."
    ) in text
    del table[("dask", "4e5x20", "float64")]["fastgd-local"]
    assert "no-op" not in report.dask_table(table)  # (no local fit: no sentence)
