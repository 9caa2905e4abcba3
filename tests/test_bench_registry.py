"""The benchmark registry's correctness check: what benches/ times must be right.

Runs every contender of benches/cases.py on the quick (small) shapes and checks
those that run the NumPy baseline's iterations against it; the others (scikit-learn
SGD, lstsq) must at least return finite coefficients of the right shape. No timing.
"""

import numpy as np
import pytest

from benches import cases


def _baseline(kind, shape, dtype):
    return cases.setup_case(kind, shape, dtype, "numpy")[0]()


@pytest.mark.parametrize("kind", ["gradient", "fit"])
def test_registry_contenders_agree_with_numpy_baseline(kind):
    checked = 0
    for shape, dtype, name in cases.cases(kind):
        expected = np.asarray(_baseline(kind, shape, dtype), dtype=np.float64)
        run, same_iterates = cases.setup_case(kind, shape, dtype, name)
        got = np.asarray(run(), dtype=np.float64)
        assert got.shape == expected.shape, (kind, shape, dtype, name)
        assert np.isfinite(got).all(), (kind, shape, dtype, name)
        if same_iterates:
            rtol = cases.tolerance(dtype)
            np.testing.assert_allclose(got, expected, rtol=rtol,
                                       atol=rtol * np.abs(expected).max(),
                                       err_msg=f"{kind} {shape.name} {dtype} {name}")
            checked += 1
    assert checked >= 6


def test_registry_covers_the_issue_shapes():
    names = {s.name for s in cases.GRADIENT_SHAPES} | {s.name for s in cases.FIT_SHAPES}
    assert {"4x2", "100x10", "1e4x20", "1e5x100", "2e6x32", "1e6x32"} <= names
    assert set(cases.DTYPES) == {"float32", "float64"}
