"""Long fits a person can watch and stop: callback, verbose, Ctrl-C.

The kernels return to Python between bounded segments of work (fastgd._fit's
SEGMENT_WORK); these tests check what happens there, without timing anything: the
SIGINT test only asserts that the fit stopped early and kept what it reached.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest

import fastgd
from fastgd import GDRegressor, _fit

from conftest import COMPILED_BACKENDS, make_problem


@pytest.mark.parametrize("batch_size", [None, 16])
def test_callback_sees_every_epoch_and_can_stop_the_fit(backend, batch_size):
    X, y, _, _ = make_problem(100, 3, 2, seed=0)
    seen = []

    def callback(iteration, coef, intercept, loss):
        seen.append((iteration, coef.copy(), intercept.copy(), loss))
        coef[...] = np.nan  # a copy: writing to it cannot harm the fit
        return iteration < 4

    options = dict(
        lr=0.1, tol=0, batch_size=batch_size, random_state=0, backend=backend, solver="stream"
    )
    stopped = fastgd.fit(X, y, max_iter=50, callback=callback, **options)
    assert [s[0] for s in seen] == [1, 2, 3, 4]
    assert stopped.n_iter == 4 and not stopped.converged
    four = fastgd.fit(X, y, max_iter=4, **options)
    np.testing.assert_array_equal(stopped.coef, four.coef)
    np.testing.assert_array_equal(seen[-1][1], four.coef)
    np.testing.assert_array_equal(seen[-1][2], four.intercept)
    assert [s[3] for s in seen] == list(four.loss_history)


def test_callback_gets_the_users_shapes_with_the_gram_solver():
    X, y, _, _ = make_problem(200, 3, seed=1)
    seen = []
    fastgd.fit(
        X,
        y,
        max_iter=3,
        tol=0,
        lr=0.1,
        solver="gram",
        callback=lambda i, coef, intercept, loss: seen.append((coef, intercept)),
    )
    direct = fastgd.fit(X, y, max_iter=3, tol=0, lr=0.1, solver="stream")
    assert seen[-1][0].shape == (3,) and np.ndim(seen[-1][1]) == 0
    np.testing.assert_allclose(seen[-1][0], direct.coef, rtol=1e-10)


def test_stopping_by_callback_does_not_warn():
    """A fit the user stopped did not fail to converge: no ConvergenceWarning."""
    X, y, _, _ = make_problem(50, 2, seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = GDRegressor(
            max_iter=100, tol=1e-12, method="cg", callback=lambda *args: False
        ).fit(X, y)
    assert model.n_iter_ == 1 and not model.converged_
    assert [w for w in caught if issubclass(w.category, fastgd.ConvergenceWarning)] == []
    # ... where the same fit stopped by max_iter=1 warns.
    with pytest.warns(fastgd.ConvergenceWarning):
        GDRegressor(max_iter=1, tol=1e-12, method="cg").fit(X, y)


def test_verbose_shows_progress_with_the_loss(capfd):
    pytest.importorskip("tqdm")
    X, y, _, _ = make_problem(50, 2, seed=0)
    GDRegressor(max_iter=20, tol=0, verbose=1, method="cg", callback=lambda *a: None).fit(X, y)
    err = capfd.readouterr().err
    assert "fastgd" in err and "20/20" in err and "loss=" in err


def test_verbose_counts_what_the_method_steps_by_and_ends_where_it_stopped(capfd):
    """A CG fit's bar ended at "4/1000 epochs"; the direct solve's steps are passes."""
    pytest.importorskip("tqdm")
    X, y, _, _ = make_problem(500, 3, seed=0)
    result = fastgd.fit(X, y, verbose=1, solver="stream")
    err = capfd.readouterr().err.split("\r")[-1]
    assert result.method == "cg" and f"{result.n_iter}/{result.n_iter} " in err
    assert "iteration" in err and "1000" not in err
    result = fastgd.fit(X, y, verbose=1)
    err = capfd.readouterr().err.split("\r")[-1]
    assert result.method == "qr" and f"{result.n_iter}/{result.n_iter} " in err
    assert "pass" in err


def test_segments_bound_the_work_between_returns_to_python():
    """Each kernel call makes at most SEGMENT_WORK multiply-adds (in the model of
    _fit.updates_per_call), at least one update, and the fit is the same as in one call."""
    assert _fit.updates_per_call(10**7, 0, 100, 1) == 1
    per_sample = _fit.updates_per_call(1, 0, 100, 1)
    assert 1000 < per_sample < _fit.SEGMENT_WORK // 100
    X, y, _, _ = make_problem(400, 8, seed=2)
    options = dict(lr=0.01, max_iter=3, tol=0, batch_size=1, random_state=0, backend="cython")
    whole = fastgd.fit(X, y, **options)
    original = _fit.SEGMENT_WORK
    try:
        _fit.SEGMENT_WORK = 1  # one update per call
        pieces = fastgd.fit(X, y, **options)
    finally:
        _fit.SEGMENT_WORK = original
    assert pieces.coef.tobytes() == whole.coef.tobytes()


LONG_FIT = textwrap.dedent(
    """
    import signal, sys, numpy as np, fastgd
    # Ctrl-C as in a terminal: a process started with SIGINT ignored (an earlier test
    # of the full run leaves it so in pytest's process, and children inherit it) would
    # ignore it too
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from fastgd import GDRegressor
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20_000, 50))
    y = X @ rng.standard_normal(50)
    model = GDRegressor(batch_size=1, max_iter=100_000, tol=0, lr=1e-4, random_state=0,
                        backend=sys.argv[1])
    # every kernel the fit calls compiled, the parallel ones too (an empty cache:
    # seconds of compiling, before the fit's iterations), then the long fit starts
    GDRegressor(batch_size=1, max_iter=1, tol=0, lr=1e-4, backend=sys.argv[1]).fit(
        X[:5000], y[:5000])
    print("fitting", flush=True)
    try:
        model.fit(X, y)
    except fastgd.FitInterrupted as interrupt:
        print("interrupted:", interrupt, flush=True)
        print("n_iter", model.n_iter_, np.isfinite(model.coef_).all(),
              interrupt.result.n_iter, flush=True)
    """
)


@pytest.mark.parametrize("backend", COMPILED_BACKENDS)
def test_ctrl_c_stops_a_long_fit_and_keeps_its_coefficients(backend, tmp_path):
    """A real SIGINT to a process in the middle of a fit that would take hours."""
    script = tmp_path / "long_fit.py"
    script.write_text(LONG_FIT)
    process = subprocess.Popen(
        [sys.executable, str(script), backend],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout.readline().strip() == "fitting"
        time.sleep(1.0)  # well inside the fit: 100000 epochs of 20000 updates
        process.send_signal(signal.SIGINT)
        # A generous bound against a hang, not a measure of latency.
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("interrupted: fit interrupted after ")
    assert "the coefficients reached are in this exception's .result" in lines[0]
    _, n_iter, finite, result_n_iter = lines[1].split()
    assert finite == "True" and n_iter == result_n_iter and int(n_iter) < 100_000


@pytest.mark.parametrize("solver", ["stream", "gram"])
def test_keyboard_interrupt_between_kernel_calls_keeps_the_coefficients(solver):
    """A KeyboardInterrupt raised between two kernel calls (here by the callback, as
    the SIGINT handler would) becomes FitInterrupted carrying the epochs completed."""
    X, y, _, _ = make_problem(100, 3, 2, seed=3)

    def interrupt_at_three(iteration, coef, intercept, loss):
        if iteration == 3:
            raise KeyboardInterrupt

    options = dict(lr=0.1, tol=0, solver=solver)
    with pytest.raises(fastgd.FitInterrupted, match="after 3 of max_iter=50 epochs") as info:
        fastgd.fit(X, y, max_iter=50, callback=interrupt_at_three, **options)
    assert isinstance(info.value, KeyboardInterrupt)
    three = fastgd.fit(X, y, max_iter=3, **options)
    result = info.value.result
    assert result.n_iter == 3 and not result.converged
    np.testing.assert_array_equal(result.coef, three.coef)
    np.testing.assert_array_equal(result.intercept, three.intercept)
    np.testing.assert_array_equal(result.history["loss"], three.history["loss"])
    model = GDRegressor(max_iter=50, callback=interrupt_at_three, **options)
    with pytest.raises(fastgd.FitInterrupted):
        model.fit(X, y)
    assert model.n_iter_ == 3
    np.testing.assert_array_equal(model.coef_, three.coef)


def test_verbose_without_tqdm_prints_plain_lines(monkeypatch, capfd):
    import builtins

    real_import = builtins.__import__

    def no_tqdm(name, *args, **kwargs):
        if name.startswith("tqdm"):
            raise ImportError("no tqdm here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    X, y, _, _ = make_problem(50, 2, seed=0)
    fastgd.fit(X, y, max_iter=5, tol=0, verbose=1, method="cg", callback=lambda *args: None)
    lines = capfd.readouterr().err.splitlines()
    # The first epoch at once, then a line a second at most, and the last one.
    assert lines[0].startswith("fastgd: iteration 1, loss")
    assert lines[-1].startswith("fastgd: iteration 5, loss") and len(lines) <= 3


@pytest.fixture
def python_sigint():
    """Python's own SIGINT handler for the test (see LONG_FIT), the caller's after."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_a_ctrl_c_that_a_callback_swallowed_still_stops_the_fit(python_sigint):
    """A KeyboardInterrupt raised inside a ctypes callback is printed and dropped (as
    llvmlite's, while Numba compiles a kernel on first use): a Ctrl-C then was lost,
    and the fit ran on. fastgd keeps a flag and raises it between kernel calls. Here
    the fit's callback plays the part of the ctypes callback."""
    X, y, _, _ = make_problem(200, 3, seed=1)

    def swallow_a_sigint(iteration, coef, intercept, loss):
        if iteration == 2:
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(1.0)  # (the handler runs here, and raises)
            except KeyboardInterrupt:
                pass  # dropped, as a ctypes callback drops it

    with pytest.raises(fastgd.FitInterrupted, match="after 3 of max_iter=50 epochs"):
        fastgd.fit(X, y, lr=0.01, max_iter=50, tol=0, solver="stream", callback=swallow_a_sigint)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
