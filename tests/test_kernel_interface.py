"""Both compiled kernel modules export the entry points of ``_layout.KERNEL_INTERFACE``
with its parameters, by name and in order: one interface, declared once, that
``_backends.CompiledBackend`` drives for both."""

import inspect

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
def test_kernel_for_gives_a_callable_of_each_entry_point(dtype):
    import numpy as np

    for backend in COMPILED_BACKENDS:
        kernels = _backends.get_backend(backend).kernels
        for name in ("gradient", "compress", "gram", "accurate_sums"):
            assert callable(kernels.kernel_for(name, np.dtype(dtype)))
