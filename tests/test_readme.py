"""The README is a front door that works as written: at most 200 lines, its two
commands where .ci/run reads them, a quickstart that runs with what the main command
installs (no extra), links that resolve, and no install hint that names a package
index where fastgd has no release. The docs' examples run in tests/test_docs.py."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

# What `python -m pip install -e .` does not install: every module of the extras.
NOT_IN_THE_MAIN_INSTALL = (
    "sklearn",
    "dask",
    "distributed",
    "pyarrow",
    "pandas",
    "tqdm",
    "matplotlib",
    "statsmodels",
    "dask_ml",
)


# Makes those modules look not installed: their imports fail, as without the extras.
NOT_INSTALLED = """import sys


class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {names!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)


sys.meta_path.insert(0, NotInstalled())
"""


def python_blocks(text):
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def section(text, title):
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def command(name):
    """The shell block after ``<!-- name -->``, as .ci/run's awk reads it."""
    match = re.search(rf"<!-- {name} -->\n```sh\n(.*?)\n```", README.read_text(), re.DOTALL)
    assert match, f"no <!-- {name} --> block"
    return match.group(1)


def test_the_readme_is_a_front_door():
    assert len(README.read_text().splitlines()) <= 200


def test_the_two_commands_are_there_and_install_what_they_use():
    assert command("main-command") == "python -m pip install -e . && python -m fastgd"
    test_command = command("test-command")
    assert test_command == 'python -m pip install -e ".[test]" && python -m pytest'
    # The test extra brings what the tests need (the docs build included), and no
    # user extra brings a test tool.
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert {"fastgd[docs]", "fastgd[files]"} <= set(extras["test"])
    test_tools = {
        "pytest",
        "hypothesis",
        "pytest-benchmark",
        "statsmodels",
        "cython",
        "setuptools",
        "fastgd[test]",
    }
    for extra, requirements in extras.items():
        if extra != "test":
            names = {re.split(r"[<>=\[ ]", r)[0].lower() for r in requirements}
            assert not names & test_tools, (extra, names & test_tools)
            assert "fastgd[test]" not in requirements, extra
    # .ci/run reads the test command from the README with this awk program.
    awk = (ROOT / ".ci" / "run").read_text()
    assert "<!-- test-command -->" in awk


def test_quickstart_runs_with_the_main_commands_install(tmp_path):
    """Its first block in a process where no extra is importable (the main command
    installs none); the GDRegressor block, which says it needs the sklearn extra,
    after it with scikit-learn."""
    blocks = python_blocks(section(README.read_text(), "Quickstart"))
    assert len(blocks) == 2
    script = tmp_path / "quickstart.py"
    script.write_text(NOT_INSTALLED.format(names=NOT_IN_THE_MAIN_INSTALL) + blocks[0])
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=600
    )
    assert out.returncode == 0, out.stderr
    assert "True" in out.stdout  # converged
    assert 'pip install -e ".[sklearn]"' in section(README.read_text(), "Quickstart")
    pytest.importorskip("sklearn")
    namespace = {}
    exec(compile(blocks[0], "README quickstart", "exec"), namespace)
    exec(compile(blocks[1], "README quickstart, GDRegressor", "exec"), namespace)
    assert namespace["model"].score(namespace["X"], namespace["y"]) > 0.999


def github_anchor(heading):
    """The anchor GitHub (and MyST's heading anchors) give a Markdown heading."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path):
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.DOTALL)
    return {github_anchor(h) for h in re.findall(r"^#{1,6} (.+)$", text, flags=re.MULTILINE)}


def relative_links(path):
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.DOTALL)
    return [
        target
        for target in re.findall(r"\]\(([^)\s]+)\)", text)
        if not re.match(r"[a-z]+:", target)
    ]


def test_every_relative_link_of_the_readme_resolves():
    links = relative_links(README)
    assert len(links) >= 10
    for link in links:
        target, _, anchor = link.partition("#")
        path = (README.parent / target) if target else README
        assert path.exists(), link
        if anchor:
            assert anchor in anchors(path), f"{link}: no heading with that anchor"


def test_the_summary_table_is_generated():
    """Between its markers, as benches/update_docs.py writes it (tests/test_docs.py
    checks it is the stored run's)."""
    text = README.read_text()
    summary = re.search(r"<!-- summary:start -->\n(.*?)<!-- summary:end -->", text, re.DOTALL)
    assert summary and summary.group(1).startswith("| task |")
    assert "(docs/speedup.png)" in text


def test_no_install_hint_names_a_package_index():
    """fastgd has no release on a package index: ``pip install "fastgd[files]"`` fails.
    The hints say to install from the checkout (``pip install -e ".[files]"``)."""
    index_hint = re.compile(r"""pip install ["']?fastgd\[""")
    paths = [
        README,
        *sorted((ROOT / "docs").rglob("*.md")),
        *sorted((ROOT / "fastgd").rglob("*.py")),
        ROOT / "fastgd" / "_cython_kernels.pyx",
    ]
    found = {
        path.relative_to(ROOT).as_posix() for path in paths if index_hint.search(path.read_text())
    }
    assert not found, found


def test_the_main_job_says_its_first_fit_compiles(capsys):
    import fastgd
    from fastgd.__main__ import main

    main(["--samples", "2000", "--features", "5"])
    printed = capsys.readouterr().out
    assert "'first fit' is the warm-up" in printed and "compiles its kernels" in printed
    lines = printed.splitlines()
    rows = [line.split()[0] for line in lines[lines.index("-" * len(lines[3])) + 1 :]]
    assert rows == list(fastgd.available_backends())
