"""Finite data too large for float64 or float32: a right answer or a
FloatingPointError naming what overflowed; never "converged" at a wrong point,
never a ZeroDivisionError."""

import warnings

import numpy as np
import pytest

import fastgd

from conftest import ALL_BACKENDS, COMPILED_BACKENDS, lstsq


def _data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((200, 3))
    return X, X @ np.array([1.0, 2.0, 3.0]) + 0.1 * rng.standard_normal(200)


@pytest.mark.parametrize("method", ["auto", "gd", "fista"])
@pytest.mark.parametrize("solver", ["stream", "gram"])
def test_a_loss_beyond_float64_is_a_floating_point_error(backend, solver, method):
    """y x 1e155: the loss (y^2 / 2) is beyond float64. It was 'converged' at
    coef / 1e155 = [0.65, 1.83, 2.20] after one iteration."""
    X, y = _data()
    with pytest.raises(FloatingPointError, match="overflowed") as error:
        fastgd.fit(X, y * 1e155, solver=solver, method=method, backend=backend)
    assert not isinstance(error.value, fastgd.DivergenceError)
    assert "largest |y| = " in str(error.value)


@pytest.mark.parametrize(
    "x_scale, y_scale",
    [(1e80, 1.0), (1e-80, 1.0), (1e150, 1e150), (1e-150, 1e-150), (1.0, 1e100), (1.0, 1e-100)],
)
@pytest.mark.parametrize("solver", ["stream", "gram"])
def test_the_default_fit_is_right_at_any_scale(backend, solver, x_scale, y_scale):
    """Power iteration and CG work with scaled norms and normalised directions, and
    CG's coordinates are the standardized features': X x 1e80 (once a
    ZeroDivisionError), X and y x 1e150 (once 'converged' at 8.8e299) and the
    others fit to the lstsq solution scaled accordingly."""
    X, y = _data(1)
    coef, intercept = lstsq(X, y)
    result = fastgd.fit(X * x_scale, y * y_scale, solver=solver, backend=backend, tol=1e-10)
    assert result.converged
    np.testing.assert_allclose(result.coef * x_scale / y_scale, coef, rtol=1e-8)
    assert result.intercept / y_scale == pytest.approx(intercept, rel=1e-8)


@pytest.mark.parametrize("x_scale", [1e80, 1e150])
def test_gradient_descent_at_large_scales_is_right_or_an_error(backend, x_scale):
    """Gradient descent squares its gradient norm in the kernels: where that
    overflows it says so; elsewhere lr='auto' (1/L from a scaled power iteration)
    fits."""
    X, y = _data(2)
    coef, _ = lstsq(X, y)
    try:
        result = fastgd.fit(
            X * x_scale,
            y * x_scale,
            method="gd",
            solver="stream",
            backend=backend,
            tol=1e-8,
            max_iter=10_000,
        )
    except FloatingPointError as error:
        assert "gradient norm overflowed" in str(error)
        return
    assert result.converged
    np.testing.assert_allclose(result.coef, coef, rtol=1e-6)


@pytest.mark.parametrize("backend", COMPILED_BACKENDS)
def test_float32_losses_are_summed_in_float64_on_every_backend(backend):
    """float32 residuals of 1e20 square to 1e40, beyond float32 but not float64: the
    compiled kernels squared them in float32 (inf) while the reference did not."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, 4)).astype(np.float32)
    y = (1e20 * rng.standard_normal(300)).astype(np.float32)
    _, _, loss = fastgd.gradient(X, y, np.zeros(4, np.float32), backend=backend)
    _, _, reference = fastgd.gradient(X, y, np.zeros(4, np.float32), backend="numpy")
    assert np.isfinite(loss) and loss == pytest.approx(reference, rel=1e-6)
    result = fastgd.fit(X, y, backend=backend, solver="stream", tol=1e-4)
    expected = fastgd.fit(X, y, backend="numpy", solver="stream", tol=1e-4)
    assert result.converged and expected.converged
    np.testing.assert_allclose(result.loss_history[0], expected.loss_history[0], rtol=1e-6)
    np.testing.assert_allclose(result.coef, expected.coef, rtol=1e-3)


def test_no_zero_division_for_any_scale():
    X, y = _data(4)
    for x_scale in (1e-300, 1e-160, 1e160, 1e300):
        try:
            fastgd.fit(X * x_scale, y, method="gd")
        except FloatingPointError:
            pass  # overflow named: allowed; a ZeroDivisionError would fail the test


def test_finite_y_whose_loss_overflows_says_overflow_not_nan():
    # Every y is finite but the loss (sum of y**2 at coef = 0) overflows: the error
    # must say so, not claim that y holds NaN or inf, and no inf is returned.
    X, _ = _data()
    y = np.full(len(X), 1.5e308)
    with warnings.catch_warnings(), np.errstate(over="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        for backend in ALL_BACKENDS:
            with pytest.raises(FloatingPointError, match="overflowed.*finite.*largest"):
                fastgd.gradient(X, y, np.zeros(3), backend=backend)
