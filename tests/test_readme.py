"""The README's code runs: its quickstart, its "Many small fits", "Data on a Dask
cluster" and "Files, the command line and saved models" examples as written (the
latter's shell commands too), and every example of its "Fitting options" section on a
small problem (X, y and weights w)."""

import re
from pathlib import Path

import numpy as np
import pytest

from conftest import make_problem

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(text):
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def section(text, title):
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start:end]


def test_quickstart_runs():
    blocks = python_blocks(section(README.read_text(), "Quickstart"))
    assert blocks
    for block in blocks:
        exec(compile(block, "README quickstart", "exec"), {})


def test_many_small_fits_example_runs():
    blocks = python_blocks(section(README.read_text(), "Many small fits"))
    assert len(blocks) == 1  # its asserts check the coefficients it fits
    exec(compile(blocks[0], "README many small fits", "exec"), {})


def test_dask_example_runs():
    pytest.importorskip("distributed")
    blocks = python_blocks(section(README.read_text(), "Data on a Dask cluster"))
    assert len(blocks) == 1  # its asserts check the fit (a cluster of worker processes)
    exec(compile(blocks[0], "README dask", "exec"), {"__name__": "__main__"})


@pytest.mark.filterwarnings("ignore::fastgd.ConvergenceWarning")
def test_fitting_options_examples_run():
    pytest.importorskip("sklearn")
    import fastgd

    X, y, _, _ = make_problem(3000, 5, seed=0)
    w = np.random.default_rng(0).uniform(0.5, 2.0, len(X))
    blocks = python_blocks(section(README.read_text(), "Fitting options"))
    assert len(blocks) >= 9
    for i, block in enumerate(blocks):
        exec(compile(block, f"README fitting options example {i}", "exec"),
             {"fastgd": fastgd, "np": np, "X": X, "y": y, "w": w})


def test_files_example_and_its_commands_run(tmp_path, monkeypatch):
    """The section's Python block, then its shell commands (through fastgd._cli.main,
    as the console script runs them) on the files the block wrote."""
    import shlex

    pytest.importorskip("pyarrow")
    pytest.importorskip("sklearn")
    from fastgd._cli import main

    monkeypatch.chdir(tmp_path)
    text = section(README.read_text(), "Files, the command line and saved models")
    blocks = python_blocks(text)
    assert len(blocks) == 1  # its asserts check the fit and the round trip
    exec(compile(blocks[0], "README files", "exec"), {})
    commands = re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL)[0].splitlines()
    assert [line.split()[:2] for line in commands] == [
        ["fastgd", "fit"], ["fastgd", "info"], ["fastgd", "predict"]]
    for line in commands:
        assert main(shlex.split(line)[1:]) == 0, line
    import pyarrow.csv as pcsv

    import fastgd

    predicted = pcsv.read_csv("predicted.csv").column("prediction").to_numpy()
    houses = __import__("pandas").read_parquet("houses.parquet")
    expected = fastgd.load("price.fastgd").predict(houses[["rooms", "area", "age"]])
    np.testing.assert_array_equal(predicted, expected)
