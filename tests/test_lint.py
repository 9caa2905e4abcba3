"""The linter and the formatter pass on the whole checkout ([tool.ruff] in
pyproject.toml): what `ruff check .` and `ruff format --check .` say in CI, the test
command runs too, so that a change that breaks either fails where it is made."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _ruff(*args):
    pytest.importorskip("ruff", reason="ruff comes with the test extra")
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args, "--no-cache", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )


def test_ruff_finds_nothing():
    result = _ruff("check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_code_is_formatted_as_ruff_formats_it():
    result = _ruff("format", "--check")
    assert result.returncode == 0, (
        "ruff format would change these files (run `ruff format .`):\n"
        + result.stdout
        + result.stderr
    )
