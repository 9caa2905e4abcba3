"""The documentation site (docs/): it builds with warnings as errors, the code of its
pages runs as written, and its tables are what the developer tools write.

* The build: ``sphinx-build -W --keep-going`` (the test extra installs the docs
  extra, so a missing Sphinx is a failure here, not a skip).
* The examples: the python blocks of "Fitting options" (on a small problem: X, y and
  weights w), "Many small fits", "Data on a Dask cluster" and "Files, the command line
  and saved models" (its shell commands too). The Numba and Cython examples of
  "Kernels for your own compiled loops" run in tests/test_user_kernels.py.
* The tables: the benchmarks page and the README's summary hold exactly what
  benches/update_docs.py renders from the stored run, docs/_data/bench.json.
"""

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benches import update_docs
from fastgd.bench import report

from conftest import make_problem

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
GUIDE = DOCS / "user_guide"


def python_blocks(path):
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.DOTALL)


def test_the_site_builds_without_a_warning(tmp_path):
    """The API reference from the docstrings, every page, every cross-reference."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            "-d",
            str(tmp_path / "doctrees"),
            str(DOCS),
            str(tmp_path / "html"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    html = (tmp_path / "html" / "api.html").read_text()
    for name in (
        "fastgd.fit",
        "fastgd.gradient",
        "fastgd.fit_many",
        "fastgd.read_files",
        "fastgd.load",
        "fastgd.GDRegressor",
        "fastgd.FitResult",
        "fastgd.available_backends",
        "fastgd.ConvergenceWarning",
        "fastgd.DivergenceError",
        "fastgd.FitInterrupted",
        "fastgd.ModelFileError",
        "fastgd.kernels.gradient",
        "fastgd.kernels.step",
    ):
        assert f'id="{name}"' in html, name
    # The design page's module map, generated from the sources.
    assert "fastgd/_fit.py" in (tmp_path / "html" / "design.html").read_text()


def test_the_module_map_has_a_line_for_every_source_file():
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        import modulemap
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    rows = dict(modulemap.rows())
    assert {
        "fastgd/_fit.py",
        "fastgd/_cython_kernels.pyx",
        "fastgd/_lanes.h",
        "fastgd/cython_kernels.pxd",
        "benches/update_docs.py",
    } <= set(rows)
    assert all(rows.values()), [name for name, about in rows.items() if not about]


@pytest.mark.filterwarnings("ignore::fastgd.ConvergenceWarning")
def test_fitting_options_examples_run():
    pytest.importorskip("sklearn")
    import fastgd

    X, y, _, _ = make_problem(3000, 5, seed=0)
    w = np.random.default_rng(0).uniform(0.5, 2.0, len(X))
    blocks = python_blocks(GUIDE / "fitting.md")
    assert len(blocks) >= 9
    for i, block in enumerate(blocks):
        exec(
            compile(block, f"docs fitting options example {i}", "exec"),
            {"fastgd": fastgd, "np": np, "X": X, "y": y, "w": w},
        )


@pytest.mark.filterwarnings("ignore::fastgd.ConvergenceWarning")
def test_paths_examples_run(tmp_path, monkeypatch):
    """The Python blocks of "Regularization paths and cross-validation", on a small
    problem (the plot written to a temporary directory)."""
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    import fastgd

    monkeypatch.chdir(tmp_path)
    X, y, _, _ = make_problem(600, 6, seed=1, noise=1.0)
    w = np.random.default_rng(1).uniform(0.5, 2.0, len(X))
    blocks = python_blocks(GUIDE / "paths.md")
    assert len(blocks) == 3
    for i, block in enumerate(blocks):
        exec(
            compile(block, f"docs paths example {i}", "exec"),
            {"fastgd": fastgd, "np": np, "X": X, "y": y, "w": w},
        )
    assert (tmp_path / "cv_curve.png").stat().st_size > 10_000


def test_many_small_fits_example_runs():
    blocks = python_blocks(GUIDE / "many.md")
    assert len(blocks) == 1  # its asserts check the coefficients it fits
    exec(compile(blocks[0], "docs many small fits", "exec"), {})


def test_dask_example_runs():
    pytest.importorskip("distributed")
    blocks = python_blocks(GUIDE / "dask.md")
    assert len(blocks) == 1  # its asserts check the fit (a cluster of worker processes)
    exec(compile(blocks[0], "docs dask", "exec"), {"__name__": "__main__"})


def test_files_example_and_its_commands_run(tmp_path, monkeypatch):
    """The page's Python block, then its shell commands (through fastgd._cli.main,
    as the console script runs them) on the files the block wrote."""
    pytest.importorskip("pyarrow")
    pytest.importorskip("sklearn")
    from fastgd._cli import main

    monkeypatch.chdir(tmp_path)
    page = GUIDE / "files.md"
    blocks = python_blocks(page)
    assert len(blocks) == 1  # its asserts check the fit and the round trip
    exec(compile(blocks[0], "docs files", "exec"), {})
    commands = re.findall(r"```sh\n(.*?)```", page.read_text(), flags=re.DOTALL)[0].splitlines()
    assert [line.split()[:2] for line in commands] == [
        ["fastgd", "fit"],
        ["fastgd", "info"],
        ["fastgd", "predict"],
    ]
    for line in commands:
        assert main(shlex.split(line)[1:]) == 0, line
    import pyarrow.csv as pcsv

    import fastgd

    predicted = pcsv.read_csv("predicted.csv").column("prediction").to_numpy()
    houses = __import__("pandas").read_parquet("houses.parquet")
    expected = fastgd.load("price.fastgd").predict(houses[["rooms", "area", "age"]])
    np.testing.assert_array_equal(predicted, expected)


# --- The tables: written by benches/update_docs.py, never typed --------------------


def test_the_benchmark_tables_are_the_stored_runs():
    results = json.loads(update_docs.RUN.read_text())
    assert update_docs.between(
        update_docs.BENCHMARKS_PAGE, "bench"
    ) == update_docs.benchmarks_page(results)
    assert update_docs.between(update_docs.README, "summary") == update_docs.summary(results)
    assert update_docs.PLOT.read_bytes()[:4] == b"\x89PNG"


def test_the_benchmarks_page_says_how_long_the_runs_take_as_fastgd_bench_does():
    estimates = json.loads(update_docs.ESTIMATES.read_text())
    text = update_docs.between(update_docs.BENCHMARKS_PAGE, "estimate")
    assert text == update_docs.estimates_text(estimates)
    assert "the quick shapes about" in text


def test_every_table_of_the_docs_is_between_markers_a_tool_writes():
    """The markers each tool splices between are where the tool looks for them."""
    for path, name in (
        (update_docs.BENCHMARKS_PAGE, "bench"),
        (update_docs.README, "summary"),
        (GUIDE / "solvers.md", "accuracy"),
        (DOCS / "design.md", "loop"),
    ):
        assert update_docs.between(path, name).strip(), (path, name)
    for tool, page in (("accuracy", 'user_guide" / "solvers.md'), ("loop_cost", "design.md")):
        assert f'splice(DOCS / "{page}"' in (ROOT / "benches" / f"{tool}.py").read_text()


def test_splice_replaces_only_the_text_between_the_markers(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("intro\n<!-- bench:start -->\nold\ntables\n<!-- bench:end -->\nrest\n")
    update_docs.splice(page, "new tables", "bench")
    assert (
        page.read_text() == "intro\n<!-- bench:start -->\nnew tables\n<!-- bench:end -->\nrest\n"
    )
    empty = tmp_path / "empty.md"
    empty.write_text("<!-- summary:start -->\n<!-- summary:end -->\n")
    update_docs.splice(empty, "| a |\n", "summary")
    assert empty.read_text() == "<!-- summary:start -->\n| a |\n<!-- summary:end -->\n"
    with pytest.raises(SystemExit, match="no <!-- loop:start -->"):
        update_docs.splice(page, "x", "loop")


def test_update_writes_the_run_into_a_checkout(tmp_path):
    """The benchmarks page, the README's summary, the plot and the stored run."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "benchmarks.md").write_text(
        "# B\n<!-- bench:start -->\nold\n<!-- bench:end -->\n"
    )
    (tmp_path / "README.md").write_text("# R\n<!-- summary:start -->\n<!-- summary:end -->\n")
    run = tmp_path / "fastgd-bench"
    run.mkdir()
    (run / "bench.json").write_text(update_docs.RUN.read_text())
    (run / "speedup.png").write_bytes(b"\x89PNG run")
    update_docs.update(run, root=tmp_path)
    results = json.loads(update_docs.RUN.read_text())
    assert update_docs.between(tmp_path / "docs" / "benchmarks.md", "bench") == (
        update_docs.benchmarks_page(results)
    )
    assert update_docs.between(tmp_path / "README.md", "summary") == update_docs.summary(results)
    assert (tmp_path / "docs" / "speedup.png").read_bytes() == b"\x89PNG run"
    assert (tmp_path / "docs" / "_data" / "bench.json").read_text() == update_docs.RUN.read_text()


def test_the_stored_run_is_rendered_again_with_its_plot(tmp_path):
    """After a change of the tables' format: the stored run's tables are written
    again, its plot and JSON are left as they are."""
    (tmp_path / "docs" / "_data").mkdir(parents=True)
    (tmp_path / "docs" / "benchmarks.md").write_text("<!-- bench:start -->\n<!-- bench:end -->\n")
    (tmp_path / "README.md").write_text("<!-- summary:start -->\n<!-- summary:end -->\n")
    (tmp_path / "docs" / "speedup.png").write_bytes(b"\x89PNG stored")
    stored = tmp_path / "docs" / "_data" / "bench.json"
    stored.write_text(update_docs.RUN.read_text())
    update_docs.update(stored, root=tmp_path)
    assert (tmp_path / "docs" / "speedup.png").read_bytes() == b"\x89PNG stored"
    assert stored.read_text() == update_docs.RUN.read_text()
    assert update_docs.between(tmp_path / "docs" / "benchmarks.md", "bench").strip()


def test_the_targets_are_the_developers_not_the_users(tmp_path, capsys):
    """The benchmarks page shows the targets met and missed; a user's report of the
    same run (fastgd bench's) does not; --targets prints them for any run."""
    results = json.loads(update_docs.RUN.read_text())
    page, users = update_docs.benchmarks_page(results), report.markdown(results)
    assert "**Targets** (issue 10)" in page and "Targets" not in users
    table = report.targets_table(report.index(results))
    assert table in page and "| 1e4x20 float64 gradient ≥ 2× NumPy (cython) |" in table
    # (an untimed kind's, its processes' seconds: the files kind's cross-validation)
    assert "Lasso CV (5 folds, 100 alphas) of a 1.7 GB Parquet file" in table
    results["command"] = "fastgd bench --cases gradient"  # (any run: no refusal)
    (tmp_path / "bench.json").write_text(json.dumps(results))
    update_docs.main(["--targets", str(tmp_path)])
    assert capsys.readouterr().out == table + "\n"


def _run_with_seconds(command, seconds, load=0.1):
    """A run's bench.json holding only what the estimates are made of."""
    results = {
        "command": command,
        "datetime": "2026-01-01T00:00:00",
        "machine": {"cpu": "cpu", "cores": 2},
        "data_seconds": {"fit/4x2/float64": 0.25},
        "load_average": {"start": [load] * 3, "end": [load] * 3},
        "results": [
            {
                "kind": "fit",
                "shape": "4x2",
                "dtype": "float64",
                "contender": name,
                "wall_seconds": s,
            }
            for name, s in seconds.items()
        ],
    }
    return results


def test_the_estimates_are_each_cases_seconds_in_its_runs_mode(tmp_path, capsys):
    quick, full, some = (tmp_path / name for name in ("quick.json", "full.json", "some.json"))
    quick.write_text(json.dumps(_run_with_seconds("fastgd bench", {"numpy": 1.0, "numba": 2.0})))
    full.write_text(json.dumps(_run_with_seconds("fastgd bench --full", {"numpy": 3.0})))
    some.write_text(
        json.dumps(
            _run_with_seconds(
                "fastgd bench --cases fit/4x2/float64/numba",
                {"numpy": 1.5, "numba": 2.5},
                load=3.0,
            )
        )
    )
    path, page = tmp_path / "estimates.json", tmp_path / "page.md"
    page.write_text("<!-- estimate:start -->\n<!-- estimate:end -->\n")
    update_docs.update_estimates([quick, full], path, page)
    estimates = json.loads(path.read_text())
    assert update_docs.between(page, "estimate") == update_docs.estimates_text(estimates)
    assert estimates["quick"] == {
        "measured": "cpu, 2 cores, 2026-01-01, load average 0.10 at the start",
        "cases": {"fit/4x2/float64/numpy": 1.0, "fit/4x2/float64/numba": 2.0},
        "data": {"fit/4x2/float64": 0.25},
    }
    assert estimates["full"]["cases"] == {"fit/4x2/float64/numpy": 3.0}
    update_docs.update_estimates([some], path)  # replaces its cases' seconds only
    assert json.loads(path.read_text())["quick"]["cases"] == {
        "fit/4x2/float64/numpy": 1.5,
        "fit/4x2/float64/numba": 2.5,
    }
    assert "the machine was busy (load average 3.00" in capsys.readouterr().out
    untimed = _run_with_seconds("fastgd bench", {"numpy": 1.0})  # (a run from before
    del untimed["results"][0]["wall_seconds"]  # the bench recorded each case's seconds)
    with pytest.raises(SystemExit, match="recorded no case's seconds"):
        update_docs.estimates_from(untimed)


def test_a_run_of_some_cases_is_refused(tmp_path):
    results = json.loads(update_docs.RUN.read_text())
    results["command"] = "fastgd bench --cases fit"
    (tmp_path / "bench.json").write_text(json.dumps(results))
    with pytest.raises(SystemExit, match="some cases only.*fastgd bench --full"):
        update_docs.update(tmp_path, root=tmp_path)
