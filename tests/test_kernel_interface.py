"""Both compiled kernel modules export the entry points of ``_layout.KERNEL_INTERFACE``
with its parameters, by name and in order: one interface, declared once, that
``_backends.CompiledBackend`` drives for both."""

import ast
import inspect
import re
from pathlib import Path

import pytest

from fastgd import _backends, _layout

from conftest import COMPILED_BACKENDS


def parameters(function):
    """The names of a Python function's, a Numba dispatcher's or a Cython def
    function's parameters (a fused one's, as each of its specializations has them)."""
    function = getattr(function, "py_func", function)
    return tuple(inspect.signature(function).parameters)


@pytest.mark.parametrize("name", sorted(_layout.KERNEL_INTERFACE))
def test_both_modules_export_the_entry_point_as_declared(name):
    expected = _layout.KERNEL_INTERFACE[name]
    for backend in COMPILED_BACKENDS:
        kernels = _backends.get_backend(backend).kernels
        assert callable(getattr(kernels, name, None)), (backend, name)
        assert parameters(getattr(kernels, name)) == expected, backend


def test_the_backends_call_the_kernels_through_the_interface_alone():
    """CompiledBackend is the one driver of both modules: no subclass adapts one."""
    drivers = {spec.driver for spec in _backends.BACKEND_SPECS if spec.module}
    assert drivers == {_backends.CompiledBackend}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_a_bound_gradient_is_the_gradient(dtype, n_threads):
    """gradient_runner(workspace)(...) is gradient(..., workspace), bit for bit."""
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 40)).astype(dtype)  # above the parallel threshold
    Y, W = rng.standard_normal((3000, 2)).astype(dtype), np.zeros((2, 40), dtype)
    b = np.ones(2, dtype)
    for backend in COMPILED_BACKENDS:
        driver = _backends.get_backend(backend)
        kernels = driver.kernels
        scratch, buffers = driver.gradient_scratch(3000, 40, 2, np.dtype(dtype), n_threads)
        workspace = kernels.gradient_workspace(scratch, buffers)
        weights = kernels.no_weights(np.dtype(dtype))
        loss = kernels.gradient(X, Y, W, b, weights, 3000.0, False, workspace)
        grad_W = scratch.grad_W.copy()
        bound = kernels.gradient_runner(workspace)(X, Y, W, b, weights, 3000.0, False)
        assert bound == loss and np.array_equal(scratch.grad_W, grad_W), backend


MAX_PARAMETERS = 14
SOURCE = Path(__file__).resolve().parents[1] / "fastgd"
KERNEL_SOURCES = {"numba": SOURCE / "_numba_kernels.py", "cython": SOURCE / "_cython_kernels.pyx"}


def _python_parameters(source):
    """{(function, line): number of parameters} of every function of a Python module,
    nested ones included."""
    counts = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef):
            a = node.args
            n = len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs)
            counts[node.name, node.lineno] = n + (a.vararg is not None) + (a.kwarg is not None)
    return counts


def _without_comments_and_strings(source):
    """The Cython source with its comments and string literals blanked out, line for
    line (so that their commas and parentheses are not counted)."""
    strings = r"\"\"\"[\s\S]*?\"\"\"|'[^'\n]*'|\"[^\"\n]*\""
    source = re.sub(strings, lambda m: re.sub(r"[^\n]", " ", m.group()), source)
    return re.sub(r"#[^\n]*", "", source)


def _cython_parameters(source):
    """{(function, line): number of parameters} of every def/cdef/cpdef function of a
    .pyx file, methods included: the commas at the top level of its parenthesised
    parameter list (a memoryview's brackets and a ctuple's parentheses hold commas of
    their own)."""
    source = _without_comments_and_strings(source)
    counts = {}
    header = (
        r"^[ \t]*(?:cdef|cpdef|def)\b(?!\s+class\b)"  # a function, not a class
        r"(?:\s+inline)?(?:\s*\([^)\n]*\))?"  # inline, a ctuple returned
        r"[^(\n=:]*?(\w+)\s*\("  # the return type, the name
    )
    for match in re.finditer(header, source, re.M):
        depth, end = 1, match.end()
        while depth and end < len(source):
            depth += (source[end] in "([") - (source[end] in ")]")
            end += 1
        text = re.sub(r"\[[^\]]*\]", "", source[match.end() : end - 1])
        while re.search(r"\([^()]*\)", text):  # nested parentheses, innermost first
            text = re.sub(r"\([^()]*\)", "", text)
        line = source.count("\n", 0, match.start()) + 1
        counts[match.group(1), line] = len([p for p in text.split(",") if p.strip()])
    return counts


def test_the_parameter_counter_reads_both_kinds_of_signature():
    python = "def f(a, /, b, *args, c, **kw):\n    def g(x):\n        pass\n"
    assert _python_parameters(python) == {("f", 1): 5, ("g", 2): 1}
    pyx = (
        "cdef inline (double, int) g(\n"
        "    double[:, ::1] a,  # (a comment, with a parenthesis\n"
        "    (double, double) n, c='x,y', d=h(1, (2, 3)),\n"
        "):\n"
        "cdef class Run(Base):\n"
        "    cdef double method (self, int i) noexcept nogil:\n"
    )
    assert _cython_parameters(pyx) == {("g", 1): 4, ("method", 6): 2}


def test_no_kernel_function_takes_more_than_a_few_bundles():
    """A kernel takes a few bundles (the house style): the fit loop's arrays as
    _layout's bundles (Numba) or a FitRun (Cython), fit_many's as a slot and an out."""
    counts = {
        "numba": _python_parameters(KERNEL_SOURCES["numba"].read_text()),
        "cython": _cython_parameters(KERNEL_SOURCES["cython"].read_text()),
    }
    assert len(counts["numba"]) > 50 and len(counts["cython"]) > 50  # it read them
    too_many = {
        (backend, *where): n
        for backend, found in counts.items()
        for where, n in found.items()
        if n > MAX_PARAMETERS
    }
    assert too_many == {}
