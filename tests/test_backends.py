"""Backend discovery, lazy loading, the missing-extension path and the main job."""

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

import fastgd
from fastgd import _backends


def test_available_backends_lists_all_three_here():
    # The test environment installs fastgd from source with a C compiler: all three
    # backends must be there (a silently missing Cython build is a failure here).
    assert fastgd.available_backends() == ("cython", "numba", "numpy")


def test_auto_picks_first_available():
    X = np.ones((3, 2))
    result = fastgd.fit(X, [1.0, 2.0, 3.0], max_iter=2, tol=0)
    assert result.backend == fastgd.available_backends()[0]


def test_import_does_not_import_numba():
    code = (
        "import sys, fastgd; fastgd.available_backends(); "
        "assert 'numba' not in sys.modules, 'numba imported'; "
        "fastgd.fit([[1.0], [2.0]], [1.0, 2.0], backend='numpy', max_iter=3, tol=0); "
        "assert 'numba' not in sys.modules; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


@pytest.fixture
def cython_missing(monkeypatch):
    """Make the Cython extension look uninstalled, as after a failed build."""
    cython = _backends._SPECS["cython"]
    missing = dataclasses.replace(cython, module="fastgd._no_such_extension")
    specs = tuple(missing if spec is cython else spec for spec in _backends.BACKEND_SPECS)
    monkeypatch.setattr(_backends, "BACKEND_SPECS", specs)
    monkeypatch.setitem(_backends._SPECS, "cython", missing)
    monkeypatch.setattr(_backends, "_loaded", {})


def test_missing_cython_raises_import_error_saying_how(cython_missing):
    assert fastgd.available_backends() == ("numba", "numpy")
    with pytest.raises(ImportError, match=r"backend='cython' is not available.*pip install"):
        fastgd.fit(np.ones((3, 2)), np.ones(3), backend="cython")
    # ... and everything else works on the Numba backend.
    result = fastgd.fit(np.eye(3), [1.0, 2.0, 3.0], max_iter=50, tol=0)
    assert result.backend == "numba"


def test_cython_is_built_with_openmp():
    # The test environment builds with GCC, which has OpenMP: an extension built
    # without it would run every fit on one thread (max_threads() == 1) in silence.
    from fastgd import _cython_kernels

    assert _cython_kernels.OPENMP is True


def test_registry_lists_every_backend_once_in_auto_order():
    names = [spec.name for spec in _backends.BACKEND_SPECS]
    assert names == list(_backends.BACKENDS) and len(set(names)) == len(names)
    assert names[-1] == "numpy"  # the reference: always there, tried last
    assert set(_backends.COMPILED_BACKENDS) == set(names) - {"numpy"}


def test_main_job_runs_every_backend():
    out = subprocess.run(
        [sys.executable, "-m", "fastgd", "--samples", "2000", "--features", "5"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    table = lines[next(i for i, line in enumerate(lines) if set(line) == {"-"}) + 1 :]
    rows = {line.split()[0]: line.split() for line in table}  # (after the header's rule)
    assert set(rows) == set(fastgd.available_backends())
    for row in rows.values():
        assert float(row[-1]) < 1e-6  # distance to the lstsq solution
