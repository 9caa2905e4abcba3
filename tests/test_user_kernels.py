"""Kernels for users' own compiled loops: fastgd.kernels (Numba) and
fastgd/cython_kernels.pxd (Cython).

A user-style ``@njit(nogil=True)`` loop and a user's Cython module (the docs'
example, docs/user_guide/kernels.md, and a few more functions, compiled here) call
fastgd's gradient and step with no Python in between, in several Python threads at
once, each on its own workspace. The truth is NumPy: problems whose least-squares solution is known
exactly (fastgd/bench/exact.py), ``_reference.gradient`` and the update written out in
NumPy below.
"""

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from numba import njit

import fastgd
from fastgd import _reference, kernels
from fastgd.bench.exact import exact_problem

from conftest import GRAD_RTOL

KERNELS_PAGE = Path(__file__).resolve().parents[1] / "docs" / "user_guide" / "kernels.md"
N_THREADS = 4
# Max |[W, b] - [W*, b*]| / max |[W*, b*]| after the loops below. float32: the
# float32 data's own solution is within a few float32 roundings of the float64 one.
FIT_RTOL = {np.float64: 1e-12, np.float32: 1e-5}


# The four fits run at once: one per dtype and layout of X.
CASES = [(dtype, layout) for dtype in (np.float64, np.float32) for layout in "CF"]


def case_id(case):
    return f"{np.dtype(case[0]).name}-{case[1]}"


def exact_case(seed, dtype, layout, n_samples=20_000, n_features=16, n_targets=2):
    """A problem with the exact solution (W*, b*), X centred with cond(X.T X) = 4 and
    Hessian eigenvalues in [1/4, 1]: gradient descent with lr = 1 (1/L) gains a factor
    0.75 per iteration, so 150 iterations reach the rounding of the arithmetic."""
    problem = exact_problem(
        n_samples, n_features, cond=4.0, offset=0.0, n_targets=n_targets, seed=seed
    )
    X = np.asarray(problem.X, dtype=dtype, order=layout)
    return problem, X, problem.y.astype(dtype)


LR, N_ITER = 1.0, 150


def run_in_threads(function, arguments):
    """function(*arguments[i]) for every i, in len(arguments) threads that start
    together (a barrier), so that their compiled loops overlap."""
    barrier = threading.Barrier(len(arguments))

    def run(args):
        barrier.wait()
        return function(*args)

    with ThreadPoolExecutor(len(arguments)) as pool:
        return list(pool.map(run, arguments))


def assert_gradient_close(grad_W, grad_b, loss, X, Y, W, b, sample_weight, dtype):
    """The gradient against _reference.gradient, to conftest's GRAD_RTOL relative to the
    scale of the terms summed (|R|.T @ |X| / N)."""
    ref_W, ref_b, ref_loss = _reference.gradient(X, Y, W, b, sample_weight)
    s = np.ones(len(X)) if sample_weight is None else sample_weight.astype(np.float64)
    R = (np.abs(X.astype(np.float64) @ W.T.astype(np.float64)) + np.abs(b) + np.abs(Y)) * s[
        :, None
    ]
    rtol = GRAD_RTOL[dtype]
    np.testing.assert_allclose(
        grad_W, ref_W, rtol=0, atol=rtol * (R.T @ np.abs(X.astype(np.float64))).max() / s.sum()
    )
    np.testing.assert_allclose(grad_b, ref_b, rtol=0, atol=rtol * R.sum(axis=0).max() / s.sum())
    assert loss == pytest.approx(ref_loss, rel=rtol)


def assert_same_as_api(grad_W, grad_b, loss, backend, X, Y, W, b, sample_weight):
    """The numbers of fastgd.gradient on the same backend (which rounds them to X's
    dtype): bit for bit without weights; with them, to the rounding of their total
    (summed in order by the user kernels, pairwise by NumPy in fastgd.gradient)."""
    api_W, api_b, api_loss = fastgd.gradient(
        X, Y, W, b, backend=backend, n_threads=1, sample_weight=sample_weight
    )
    # (a relative difference of N eps in the total, then the rounding to X's dtype)
    rtol = (
        0.0
        if sample_weight is None
        else float(max(4 * len(X) * np.finfo(np.float64).eps, np.finfo(api_W.dtype).eps))
    )
    np.testing.assert_allclose(grad_W.astype(api_W.dtype), api_W, rtol=rtol, atol=0)
    np.testing.assert_allclose(grad_b.astype(api_b.dtype), api_b, rtol=rtol, atol=0)
    assert loss == pytest.approx(api_loss, rel=rtol, abs=0)


def gradient_problem(dtype, layout, weighted, n_samples=700, seed=3):
    rng = np.random.default_rng(seed)
    X = np.asarray(rng.standard_normal((n_samples, 5)), dtype=dtype, order=layout)
    Y = rng.standard_normal((n_samples, 2)).astype(dtype)
    W = rng.standard_normal((2, 5)).astype(dtype)
    b = rng.standard_normal(2).astype(dtype)
    weights = rng.uniform(0, 2, n_samples).astype(dtype) if weighted else None
    return X, Y, W, b, weights


def numpy_step(W, b, grad_W, grad_b, lr, l1=0.0, l2=0.0, fit_intercept=True):
    """The proximal gradient step, in NumPy: (W, b, squared norm of the gradient map)."""
    W, b = W.astype(np.float64), b.astype(np.float64)
    z = W - lr * (grad_W + l2 * W)
    W_new = np.sign(z) * np.maximum(np.abs(z) - lr * l1, 0.0)
    b_new = b - lr * grad_b if fit_intercept else b
    norm2 = np.sum(((W - W_new) / lr) ** 2) + (np.sum(grad_b**2) if fit_intercept else 0.0)
    return W_new, b_new, norm2


STEP_OPTIONS = {
    "plain": {},
    "l2": {"l2": 0.3},
    "l1": {"l1": 0.5},
    "l1 l2, no intercept": {"l1": 0.5, "l2": 0.3, "fit_intercept": False},
}


def assert_step_matches_numpy(step, dtype, options):
    """One step by ``step`` (a kernel's) against numpy_step on the same random point;
    returns the stepped W."""
    rng = np.random.default_rng(4)
    W = rng.standard_normal((2, 6)).astype(dtype)
    b = rng.standard_normal(2).astype(dtype)
    grad_W, grad_b = rng.standard_normal((2, 6)), rng.standard_normal(2)
    W_new, b_new, norm2 = numpy_step(W, b, grad_W, grad_b, 0.2, **options)
    got = step(W, b, grad_W, grad_b, 0.2, **options)
    tol = {np.float64: 1e-15, np.float32: 1e-7}[dtype]
    np.testing.assert_allclose(W, W_new, rtol=tol, atol=tol)
    np.testing.assert_allclose(b, b_new, rtol=tol, atol=tol)
    assert got == pytest.approx(norm2, rel=1e-6 if dtype == np.float32 else 1e-12)
    return W


# --- Numba: fastgd.kernels ----------------------------------------------------------


@njit(nogil=True, cache=True)
def user_fit(X, Y, W, b, lr, n_iter, workspace):
    # A user's loop: plain gradient descent, compiled as a whole with fastgd's kernels
    # (and with Numba's runtime and cache, which the kernels themselves go without).
    loss = np.inf
    for _ in range(n_iter):
        loss = kernels.gradient(X, Y, W, b, workspace)
        kernels.step(W, b, workspace.grad_W, workspace.grad_b, lr)
    return loss


def numba_fit(X, Y):
    n_samples, n_features = X.shape
    W = np.zeros((Y.shape[1], n_features), dtype=X.dtype)
    b = np.zeros(Y.shape[1], dtype=X.dtype)
    workspace = kernels.gradient_workspace(n_samples, n_features, Y.shape[1], X.dtype)
    loss = user_fit(X, Y, W, b, LR, N_ITER, workspace)
    return W, b, loss


def test_numba_user_loop_in_threads():
    problems = [exact_case(seed, *case) for seed, case in enumerate(CASES)]
    for _, X, Y in problems:  # compile each signature before the threads race
        numba_fit(X[:2], Y[:2])
    results = run_in_threads(numba_fit, [(X, Y) for _, X, Y in problems])
    for case, (problem, X, _), (W, b, loss) in zip(CASES, problems, results):
        assert W.dtype == X.dtype and b.dtype == X.dtype
        error = problem.relative_error(W, b)
        assert error < FIT_RTOL[case[0]], f"{case_id(case)}: relative error {error:.1e}"
        # the loss is the one at the last iterate but one: the residual's, to rounding
        residual_loss = np.sum((problem.X @ problem.coef.T + problem.intercept - problem.y) ** 2)
        assert loss == pytest.approx(residual_loss / (2 * len(X)), rel=FIT_RTOL[case[0]] ** 0.5)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_numba_gradient_matches_numpy(case, weighted):
    dtype, layout = case
    X, Y, W, b, weights = gradient_problem(dtype, layout, weighted)
    workspace = kernels.gradient_workspace(*X.shape, 2, dtype)
    loss = kernels.gradient(X, Y, W, b, workspace, weights)
    assert_gradient_close(workspace.grad_W, workspace.grad_b, loss, X, Y, W, b, weights, dtype)
    # ... and they are fastgd.gradient's numbers, bit for bit (with weights, to the
    # rounding of their total, summed in order here and pairwise by NumPy there).
    assert_same_as_api(workspace.grad_W, workspace.grad_b, loss, "numba", X, Y, W, b, weights)


@pytest.mark.parametrize("options", STEP_OPTIONS.values(), ids=STEP_OPTIONS.keys())
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_numba_step_matches_numpy(dtype, options):
    W = assert_step_matches_numpy(kernels.step, dtype, options)
    if options.get("l1"):
        assert np.any(W == 0)  # the case tests soft-thresholding


@pytest.mark.parametrize("nesterov", [False, True], ids=["heavy ball", "nesterov"])
def test_numba_momentum_step_matches_numpy(nesterov):
    rng = np.random.default_rng(5)
    W, b = rng.standard_normal((2, 3)), rng.standard_normal(2)
    velocity_W, velocity_b = rng.standard_normal((2, 3)), rng.standard_normal(2)
    grad_W, grad_b = rng.standard_normal((2, 3)), rng.standard_normal(2)
    lr, momentum, l2 = 0.1, 0.9, 0.2
    # NumPy (torch.optim.SGD): v = m v + g; W -= lr * v, or lr * (g + m v) (Nesterov)
    g = np.hstack([grad_W + l2 * W, grad_b[:, None]])
    v = momentum * np.hstack([velocity_W, velocity_b[:, None]]) + g
    theta = np.hstack([W, b[:, None]]) - lr * (g + momentum * v if nesterov else v)
    norm2 = kernels.momentum_step(
        W, b, grad_W, grad_b, lr, velocity_W, velocity_b, momentum, nesterov=nesterov, l2=l2
    )
    np.testing.assert_allclose(np.hstack([W, b[:, None]]), theta, rtol=1e-15)
    np.testing.assert_allclose(np.hstack([velocity_W, velocity_b[:, None]]), v, rtol=1e-15)
    assert norm2 == pytest.approx(np.sum(g**2), rel=1e-14)


USER_MODULE = """
import numpy as np
from numba import njit
from fastgd import kernels


@njit(nogil=True, cache=True)
def fit(X, Y, W, b, lr, n_iter, workspace):
    for _ in range(n_iter):
        kernels.gradient(X, Y, W, b, workspace)
        kernels.step(W, b, workspace.grad_W, workspace.grad_b, lr)


X = np.random.default_rng(0).standard_normal((500, 3))
Y = X @ [[1.0], [-2.0], [0.5]] + 4.0
W, b = np.zeros((1, 3)), np.zeros(1)
fit(X, Y, W, b, 0.5, 200, kernels.gradient_workspace(500, 3))
print(len(fit.stats.cache_hits), np.abs(np.hstack([W[0], b]) - [1.0, -2.0, 0.5, 4.0]).max())
"""


def test_numba_user_loop_cached_in_a_fresh_process(tmp_path):
    # A user's cache=True function that calls the kernels is saved to Numba's cache by
    # one process and loaded from it by the next.
    (tmp_path / "user_module.py").write_text(USER_MODULE)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])),
    }
    runs = [
        subprocess.run(
            [sys.executable, "-c", "import user_module"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            check=False,
        )
        for _ in range(2)
    ]
    for run in runs:
        assert run.returncode == 0, run.stderr
    (hits_first, error_first), (hits_second, error_second) = (run.stdout.split() for run in runs)
    assert (hits_first, hits_second) == ("0", "1")
    assert float(error_first) < 1e-12 and float(error_second) < 1e-12


# --- Cython: fastgd/cython_kernels.pxd ----------------------------------------------

# The user's module: the docs' example (fit, float64), then the rest of the API.
CYTHON_TEST_FUNCTIONS = """

from fastgd.cython_kernels cimport gradient_float32, step_float32


def fit_float32(const float[:, :] X, const float[:, :] Y, float[:, ::1] W, float[::1] b,
                double lr, int n_iter):
    cdef GradientWorkspace workspace = GradientWorkspace(X.shape[0], X.shape[1], W.shape[0],
                                                         "float32")
    cdef double loss = 0.0
    cdef int i
    with nogil:
        for i in range(n_iter):
            loss = gradient_float32(X, Y, W, b, workspace)
            step_float32(W, b, workspace.grad_W, workspace.grad_b, lr)
    return loss


def gradient_weighted_float64(const double[:, :] X, const double[:, :] Y,
                              const double[:, ::1] W, const double[::1] b,
                              const double[::1] sample_weight):
    cdef GradientWorkspace workspace = GradientWorkspace(X.shape[0], X.shape[1], W.shape[0])
    cdef double loss
    with nogil:
        loss = gradient_float64(X, Y, W, b, workspace, sample_weight)
    return np.asarray(workspace.grad_W), np.asarray(workspace.grad_b), loss


def gradient_weighted_float32(const float[:, :] X, const float[:, :] Y,
                              const float[:, ::1] W, const float[::1] b,
                              const float[::1] sample_weight):
    cdef GradientWorkspace workspace = GradientWorkspace(X.shape[0], X.shape[1], W.shape[0],
                                                         "float32")
    cdef double loss
    with nogil:
        loss = gradient_float32(X, Y, W, b, workspace, sample_weight)
    return np.asarray(workspace.grad_W), np.asarray(workspace.grad_b), loss


def step(W, b, const double[:, ::1] grad_W, const double[::1] grad_b, double lr,
         double l1=0.0, double l2=0.0, bint fit_intercept=True):
    cdef double[:, ::1] W64
    cdef double[::1] b64
    cdef float[:, ::1] W32
    cdef float[::1] b32
    cdef double norm2
    if W.dtype == np.float32:
        W32, b32 = W, b
        with nogil:
            norm2 = step_float32(W32, b32, grad_W, grad_b, lr, l1, l2, fit_intercept)
    else:
        W64, b64 = W, b
        with nogil:
            norm2 = step_float64(W64, b64, grad_W, grad_b, lr, l1, l2, fit_intercept)
    return norm2
"""


def page_blocks(language):
    """The code blocks in ``language`` of the docs' page on these kernels."""
    return re.findall(rf"```{language}\n(.*?)```", KERNELS_PAGE.read_text(), flags=re.DOTALL)


def c_compiler():
    """The path of the C compiler setuptools would call, or None."""
    command = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    return shutil.which(command.split()[0])


@pytest.fixture(scope="module")
def user_cython_module(tmp_path_factory):
    """The user's Cython module, compiled once per session as a user would: cythonize
    with fastgd.get_include() on the include path, and setuptools' build_ext."""
    if c_compiler() is None:
        pytest.skip("no C compiler to build a Cython module with")
    from Cython.Build import cythonize
    from setuptools import Distribution, Extension

    directory = tmp_path_factory.mktemp("user_cython")
    source = directory / "user_loop.pyx"
    source.write_text(
        page_blocks("cython")[0]
        + "\nimport numpy as np\n"
        + textwrap.dedent(CYTHON_TEST_FUNCTIONS)
    )
    extensions = cythonize(
        [Extension("user_loop", [str(source)])],
        include_path=[fastgd.get_include()],
        build_dir=str(directory),
        quiet=True,
    )
    distribution = Distribution(
        {
            "ext_modules": extensions,
            "script_args": [
                "build_ext",
                "--build-lib",
                str(directory),
                "--build-temp",
                str(directory / "build"),
            ],
        }
    )
    distribution.parse_command_line()
    distribution.run_commands()
    path = distribution.get_command_obj("build_ext").get_ext_fullpath("user_loop")
    spec = importlib.util.spec_from_file_location("user_loop", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cython_fit(module, X, Y):
    W = np.zeros((Y.shape[1], X.shape[1]), dtype=X.dtype)
    b = np.zeros(Y.shape[1], dtype=X.dtype)
    fit = module.fit if X.dtype == np.float64 else module.fit_float32
    loss = fit(X, Y, W, b, LR, N_ITER)
    return W, b, loss


def test_cython_user_loop_in_threads(user_cython_module):
    problems = [exact_case(seed, *case) for seed, case in enumerate(CASES)]
    results = run_in_threads(
        lambda X, Y: cython_fit(user_cython_module, X, Y), [(X, Y) for _, X, Y in problems]
    )
    for case, (problem, _, _), (W, b, _) in zip(CASES, problems, results):
        error = problem.relative_error(W, b)
        assert error < FIT_RTOL[case[0]], f"{case_id(case)}: relative error {error:.1e}"


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_cython_gradient_matches_numpy(user_cython_module, case):
    dtype, layout = case
    X, Y, W, b, weights = gradient_problem(dtype, layout, weighted=True)
    gradient = (
        user_cython_module.gradient_weighted_float64
        if dtype == np.float64
        else user_cython_module.gradient_weighted_float32
    )
    grad_W, grad_b, loss = gradient(X, Y, W, b, weights)
    assert_gradient_close(grad_W, grad_b, loss, X, Y, W, b, weights, dtype)
    assert_same_as_api(grad_W, grad_b, loss, "cython", X, Y, W, b, weights)


@pytest.mark.parametrize("options", STEP_OPTIONS.values(), ids=STEP_OPTIONS.keys())
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_cython_step_matches_numpy(user_cython_module, dtype, options):
    assert_step_matches_numpy(user_cython_module.step, dtype, options)


def test_docs_numba_example_runs():
    blocks = page_blocks("python")
    assert blocks  # the first is the Numba example (the second, a setup.py)
    exec(compile(blocks[0], "docs numba kernels example", "exec"), {})
