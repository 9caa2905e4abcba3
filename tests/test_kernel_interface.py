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
