"""The generated code: float32 stays float32 in the inner loops, and they use SIMD.

Checked on Numba's LLVM IR (the Cython kernels' C is typed by the fused type
`floating`, so a float kernel has no double in its loops by construction; their
vectorization is measured in benches/).
"""

import re

import numba
import numpy as np
import pytest

from fastgd import _numba_kernels


def _llvm(dispatcher, *args):
    """LLVM IR of the kernel compiled with its own options (Numba does not show the
    IR of functions loaded from its cache, so compile a fresh, uncached copy)."""
    options = {k: v for k, v in dispatcher.targetoptions.items()
               if k not in ("cache", "nopython")}
    fresh = numba.njit(**options)(dispatcher.py_func)
    fresh(*args)
    ir = fresh.inspect_llvm(fresh.signatures[-1])
    # The kernel's own function comes first; the wrappers that box its result for
    # Python and C (which convert a float32 result to a Python float) follow it.
    return ir.split("\ndefine ")[1]


@pytest.mark.parametrize("dtype, llvm_type", [(np.float32, "float"), (np.float64, "double")])
def test_dot_is_vectorized_in_its_own_precision(dtype, llvm_type):
    x = np.ones(64, dtype=dtype)
    ir = _llvm(_numba_kernels._dot, x, x)
    # Vector multiply-adds on <N x float> (or double) registers ...
    assert re.search(rf"fmul (reassoc )?<\d+ x {llvm_type}>", ir), "dot product not vectorized"
    if dtype == np.float32:
        # ... and no conversion to double anywhere in the float32 dot product.
        assert "fpext" not in ir


def test_float32_row_kernel_converts_to_double_once_per_row_at_most():
    """_accumulate_block_c: the only float -> double conversions are the per-row loss
    term (r_w * r is squared in float64, so that float32 residuals above 1.8e19 do not
    overflow), never inside the loops over features."""
    X = np.ones((8, 16), dtype=np.float32)
    Y = np.ones((8, 1), dtype=np.float32)
    W = np.ones((1, 16), dtype=np.float32)
    b = np.ones(1, dtype=np.float32)
    no_weights = np.empty(0, dtype=np.float32)
    ir = _llvm(_numba_kernels._accumulate_block_c, X, Y, W, b, no_weights, 0, 8, 0,
               np.zeros((1, 1, 16), np.float32), np.zeros((1, 1), np.float32))
    converted = re.findall(r"fpext float (%[.\w]+?)(?:\.us\w*|\.peel)* to double", ir)
    vector_conversions = re.findall(r"fpext <\d+ x float>", ir)
    assert vector_conversions == []  # nothing converted across a vector of features
    # The two factors of the loss term (r_w and r) are converted, possibly in several
    # copies of the row loop that LLVM made (names suffixed .us, .peel).
    assert 1 <= len(set(converted)) <= 2, converted
