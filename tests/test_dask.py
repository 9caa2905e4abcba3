"""Dask collections fitted on a real distributed cluster (fastgd/_dask.py).

Oracles: np.linalg.lstsq and the local fit of the same arrays (to 1e-12); 1 and 2
worker processes give the same bits; a worker killed in the middle of a fit changes
no bit; nothing larger than the factor reaches the client.
"""

import os
import sys

import numpy as np
import pytest

import fastgd
from fastgd.bench.probes import PEAK_MEMORY

da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
pd = pytest.importorskip("pandas")

N, D = 6000, 6
BLOCK_ROWS = 700  # 9 blocks, the last one short


def make_problem(n=N, d=D, n_targets=None, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((n, d)) * np.logspace(-1, 1, d)).astype(dtype)
    coef = rng.standard_normal((d,) if n_targets is None else (n_targets, d))
    y = X @ coef.T + 3.0 + rng.standard_normal(n if n_targets is None else (n, n_targets))
    return X, y.astype(dtype)


def as_dask(a, rows=BLOCK_ROWS):
    return da.from_array(a, chunks=(rows,) + a.shape[1:])


@pytest.fixture(scope="module")
def client():
    """Two workers in this process (threads): quick to start, each block on a
    worker thread; the process-based clusters are started by the tests that need
    them."""
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def lstsq(X, y, sample_weight=None):
    """The weighted least-squares solution with an intercept, from np.linalg.lstsq."""
    X, y = X.astype(np.float64), y.astype(np.float64)
    s = np.ones(len(X)) if sample_weight is None else sample_weight
    A = np.hstack([X, np.ones((len(X), 1))]) * np.sqrt(s)[:, None]
    target = y * (np.sqrt(s) if y.ndim == 1 else np.sqrt(s)[:, None])
    solution = np.linalg.lstsq(A, target, rcond=None)[0]
    return solution[:-1].T, solution[-1]


# tol=1e-12 (and gradient descent to 1e-8): both fits reach the solution, whose
# rounding is all that differs (at a looser tol, one may stop an iteration earlier than
# the other, and they then agree to within tol's bound, not to 1e-12).
OPTIONS = {
    "default": {"tol": 1e-12},
    "weights": {"sample_weight": True, "tol": 1e-12},
    "l2": {"penalty": "l2", "alpha": 0.5, "tol": 1e-12},
    # (the direct solve certifies every coefficient, the smallest nonzero ones of an L1
    # penalty included: to about 1e-12 here, so a tol of 1e-10)
    "l1": {"penalty": "l1", "alpha": 0.05, "tol": 1e-10},
    "elasticnet": {"penalty": "elasticnet", "alpha": 0.05, "l1_ratio": 0.5, "tol": 1e-10},
    "fixed-intercept": {"fit_intercept": False, "intercept_init": 2.5, "tol": 1e-12},
    "start": {"coef_init": 0.5, "intercept_init": -1.0, "tol": 1e-12},
    "default-tol": {},
    "gd": {"method": "gd", "tol": 1e-8, "max_iter": 100_000},
    "momentum": {"lr": "auto", "method": "gd", "momentum": 0.9, "tol": 1e-8, "max_iter": 100_000},
}


def _options(name, X, y):
    options = dict(OPTIONS[name])
    if options.pop("sample_weight", False):
        options["sample_weight"] = np.random.default_rng(1).uniform(0, 3, len(X))
    if "coef_init" in options:
        options["coef_init"] = np.full(
            (X.shape[1],) if y.ndim == 1 else (y.shape[1], X.shape[1]), options["coef_init"]
        )
    return options


@pytest.mark.parametrize("backend", fastgd.available_backends())
@pytest.mark.parametrize("name", OPTIONS)
@pytest.mark.parametrize("n_targets", [None, 3])
def test_a_dask_fit_is_the_local_fit(client, backend, name, n_targets):
    X, y = make_problem(n_targets=n_targets)
    options = _options(name, X, y)
    weights = options.pop("sample_weight", None)
    local = fastgd.fit(X, y, backend=backend, sample_weight=weights, **options)
    blocked = fastgd.fit(
        as_dask(X),
        as_dask(y),
        backend=backend,
        sample_weight=None if weights is None else as_dask(weights),
        **options,
    )
    assert blocked.converged and local.converged
    # the direct solve (the default without an L1 penalty or a method asked for):
    # the same refinement from each block's factor, so the same point to rounding
    direct = "method" not in options
    assert (blocked.method == "qr") == direct
    if name == "default-tol" and not direct:  # both within tol's bound of the solution
        np.testing.assert_allclose(blocked.coef, local.coef, rtol=1e-4)
        return
    assert (blocked.solver, blocked.method) == (local.solver, local.method)
    scale = np.abs(local.coef).max()
    np.testing.assert_allclose(blocked.coef, local.coef, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(
        blocked.intercept,
        local.intercept,
        rtol=0,
        atol=1e-12 * max(1.0, np.abs(local.intercept).max()),
    )
    assert blocked.coef.dtype == X.dtype and np.shape(blocked.intercept) == np.shape(
        local.intercept
    )


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("n_targets", [None, 3])
def test_the_solution_is_lstsq(client, weighted, n_targets):
    X, y = make_problem(n_targets=n_targets)
    weights = np.random.default_rng(1).uniform(0, 3, N) if weighted else None
    blocked = fastgd.fit(
        as_dask(X),
        as_dask(y),
        tol=1e-10,
        sample_weight=None if weights is None else as_dask(weights),
    )
    coef, intercept = lstsq(X, y, weights)
    assert blocked.converged
    np.testing.assert_allclose(blocked.coef, coef, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(blocked.intercept, intercept, rtol=1e-8, atol=1e-10)


# The streaming solver: every pass on the workers. CG to a tight tol, and a fixed
# number of FISTA and gradient-descent steps (the same iterates as the local fit's).
STREAM_OPTIONS = {
    "default": {"tol": 1e-12},
    "weights": {"sample_weight": True, "tol": 1e-12},
    "l2": {"penalty": "l2", "alpha": 0.5, "tol": 1e-12},
    "fixed-intercept": {"fit_intercept": False, "intercept_init": 2.5, "tol": 1e-12},
    "start": {"coef_init": 0.5, "intercept_init": -1.0, "tol": 1e-12},
    "l1-steps": {"penalty": "l1", "alpha": 0.05, "max_iter": 20, "tol": 0},
    "elasticnet-steps": {
        "penalty": "elasticnet",
        "alpha": 0.05,
        "sample_weight": True,
        "max_iter": 20,
        "tol": 0,
    },
    "gd-steps": {"lr": 0.002, "max_iter": 30, "tol": 0},
    "nesterov-steps": {
        "lr": 0.002,
        "momentum": 0.9,
        "nesterov": True,
        "penalty": "l1",
        "alpha": 0.01,
        "max_iter": 30,
        "tol": 0,
    },
}


@pytest.mark.parametrize("backend", fastgd.available_backends())
@pytest.mark.parametrize("name", STREAM_OPTIONS)
@pytest.mark.parametrize("n_targets", [None, 3])
def test_a_streaming_dask_fit_is_the_local_one(client, backend, name, n_targets):
    X, y = make_problem(n_targets=n_targets)
    options = dict(STREAM_OPTIONS[name])
    if options.pop("sample_weight", False):
        options["sample_weight"] = np.random.default_rng(1).uniform(0, 3, len(X))
    if "coef_init" in options:
        options["coef_init"] = np.full(
            (D,) if n_targets is None else (n_targets, D), options["coef_init"]
        )
    weights = options.pop("sample_weight", None)
    local = fastgd.fit(X, y, backend=backend, solver="stream", sample_weight=weights, **options)
    blocked = fastgd.fit(
        as_dask(X),
        as_dask(y),
        backend=backend,
        solver="stream",
        sample_weight=None if weights is None else as_dask(weights),
        **options,
    )
    assert (blocked.solver, blocked.method, blocked.n_iter, blocked.converged) == (
        local.solver,
        local.method,
        local.n_iter,
        local.converged,
    )
    scale = np.abs(local.coef).max()
    np.testing.assert_allclose(blocked.coef, local.coef, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(
        blocked.intercept,
        local.intercept,
        rtol=0,
        atol=1e-12 * max(1.0, np.abs(local.intercept).max()),
    )
    np.testing.assert_allclose(blocked.loss_history, local.loss_history, rtol=1e-12)


@pytest.mark.parametrize("n_targets", [None, 2])
def test_gradient_of_dask_collections(client, n_targets):
    X, y = make_problem(n_targets=n_targets)
    weights = np.random.default_rng(4).uniform(0, 2, N)
    coef = np.full((D,) if n_targets is None else (n_targets, D), 0.25)
    intercept = 0.5
    for w in (None, weights):
        expected = fastgd.gradient(X, y, coef, intercept, sample_weight=w)
        got = fastgd.gradient(
            as_dask(X),
            as_dask(y),
            coef,
            intercept,
            sample_weight=None if w is None else as_dask(w),
        )
        for g, e in zip(got, expected):
            np.testing.assert_allclose(g, e, rtol=1e-12)
        assert np.shape(got[1]) == np.shape(expected[1])
    bad = X.copy()
    bad[17, 1] = np.inf
    with pytest.raises(ValueError, match=r"X contains inf at index \(17, 1\)"):
        fastgd.gradient(as_dask(bad), as_dask(y), coef)


@pytest.mark.parametrize(
    "options",
    [
        {"batch_size": 32, "random_state": 0},
        {"batch_size": 1, "lr": 0.0005, "random_state": 1, "momentum": 0.5},
        {
            "batch_size": 100,
            "penalty": "l1",
            "alpha": 0.01,
            "schedule": "invscaling",
            "random_state": 2,
        },
    ],
)
def test_partial_fit_takes_the_blocks_in_order_on_their_workers(client, options):
    X, y = make_problem(n_targets=2)
    weights = np.random.default_rng(5).uniform(0, 2, N)
    blocked = fastgd.GDRegressor(**options)
    local = fastgd.GDRegressor(**options)
    bounds = np.arange(0, N + BLOCK_ROWS, BLOCK_ROWS)
    for _ in range(2):  # epochs
        blocked.partial_fit(as_dask(X), as_dask(y), sample_weight=as_dask(weights))
        for start, stop in zip(bounds[:-1], bounds[1:]):
            local.partial_fit(X[start:stop], y[start:stop], sample_weight=weights[start:stop])
    assert blocked.coef_.tobytes() == local.coef_.tobytes()
    assert blocked.intercept_.tobytes() == local.intercept_.tobytes()
    assert (blocked.n_iter_, blocked.t_) == (local.n_iter_, local.t_)
    np.testing.assert_array_equal(blocked.loss_curve_, local.loss_curve_)


def test_partial_fit_of_dataframes_keeps_the_feature_names(client):
    X, y = make_problem()
    names = [f"x{j}" for j in range(D)]
    frame = dd.from_pandas(pd.DataFrame(X, columns=names).assign(t=y), npartitions=4)
    model = fastgd.GDRegressor(batch_size=50, random_state=0)
    model.partial_fit(frame[names], frame["t"]).partial_fit(frame[names], frame["t"])
    assert list(model.feature_names_in_) == names and model.n_iter_ == 8
    assert model.score(frame[names], frame["t"]) > 0.9
    with pytest.raises(ValueError, match="feature names"):
        model.partial_fit(frame[names[::-1]], frame["t"])


def test_float32_blocks(client):
    X, y = make_problem(dtype=np.float32)
    local = fastgd.fit(X, y)
    blocked = fastgd.fit(as_dask(X), as_dask(y))
    assert blocked.coef.dtype == np.float32 and blocked.converged
    np.testing.assert_allclose(blocked.coef, local.coef, rtol=1e-6)
    coef, _ = lstsq(X, y)
    np.testing.assert_allclose(blocked.coef, coef, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("scale", [1e-100, 1e-10, 1.0, 1e10, 1e100])
def test_y_at_every_scale(client, scale):
    X, y = make_problem()
    blocked = fastgd.fit(as_dask(X), as_dask(y * scale), tol=1e-10)
    coef, intercept = lstsq(X, y)
    np.testing.assert_allclose(blocked.coef / scale, coef, rtol=1e-6)
    np.testing.assert_allclose(blocked.intercept / scale, intercept, rtol=1e-6)


def test_the_block_layout_changes_only_rounding(client):
    X, y = make_problem()
    fits = [fastgd.fit(as_dask(X, rows), as_dask(y, rows)) for rows in (N, 1000, 313)]
    for other in fits[1:]:
        np.testing.assert_allclose(other.coef, fits[0].coef, rtol=1e-12)


def test_a_numpy_y_and_weights_beside_a_dask_x(client):
    X, y = make_problem()
    weights = np.random.default_rng(3).uniform(0.5, 2, N)
    blocked = fastgd.fit(as_dask(X), y, sample_weight=weights)
    local = fastgd.fit(X, y, sample_weight=weights)
    np.testing.assert_allclose(blocked.coef, local.coef, rtol=1e-12)


def test_dask_dataframes_from_parquet(client, tmp_path):
    X, y = make_problem()
    frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(D)]).assign(target=y)
    dd.from_pandas(frame, npartitions=5).to_parquet(tmp_path / "data")
    data = dd.read_parquet(tmp_path / "data")
    features = [f"x{j}" for j in range(D)]
    blocked = fastgd.fit(data[features], data["target"])
    np.testing.assert_allclose(blocked.coef, fastgd.fit(X, y).coef, rtol=1e-12)
    model = fastgd.GDRegressor().fit(data[features], data["target"])
    assert list(model.feature_names_in_) == features
    expected = fastgd.GDRegressor().fit(X, y).predict(X)
    np.testing.assert_allclose(
        model.predict(data[features]).compute(),
        expected,
        rtol=0,
        atol=1e-12 * np.abs(expected).max(),
    )
    assert model.score(data[features], data["target"]) == pytest.approx(
        fastgd.GDRegressor().fit(X, y).score(X, y), rel=1e-12
    )


@pytest.mark.parametrize("n_targets", [None, 2])
def test_predict_and_score_are_dask_computations(client, n_targets):
    X, y = make_problem(n_targets=n_targets)
    weights = np.random.default_rng(2).uniform(0, 2, N)
    model = fastgd.GDRegressor().fit(as_dask(X), as_dask(y))
    local = fastgd.GDRegressor().fit(X, y)
    prediction = model.predict(as_dask(X))
    assert isinstance(prediction, da.Array) and prediction.chunks[0] == as_dask(X).chunks[0]
    np.testing.assert_allclose(prediction.compute(), local.predict(X), rtol=1e-12, atol=1e-12)
    for w in (None, weights):
        assert model.score(as_dask(X), as_dask(y), sample_weight=w) == pytest.approx(
            local.score(X, y, sample_weight=w), rel=1e-12
        )


def test_score_keeps_its_precision_beside_a_large_mean(client):
    X, y = make_problem()
    model = fastgd.GDRegressor().fit(X, y + 1e9)
    assert model.score(as_dask(X), as_dask(y + 1e9)) == pytest.approx(
        model.score(X, y + 1e9), rel=1e-9
    )


def test_what_reaches_the_client_is_the_size_of_the_factor(client, monkeypatch):
    """No block of X or y is pulled into the client: every result Dask returns is
    O(m^2) or a few numbers per block, and converting X to NumPy raises."""
    import dask

    X, y = make_problem(n=40_000)
    received = []
    compute = dask.compute

    def recording_compute(*args, **kwargs):
        results = compute(*args, **kwargs)
        received.append(_nbytes(results))
        return results

    def no_conversion(self, *args, **kwargs):
        raise AssertionError("a Dask array was converted to NumPy on the client")

    runner_map = fastgd._data.BlockRunner.map

    def recording_map(self, function, *args):
        results = runner_map(self, function, *args)
        received.append(_nbytes(results))
        return results

    monkeypatch.setattr(dask, "compute", recording_compute)
    monkeypatch.setattr(fastgd._data.BlockRunner, "map", recording_map)
    monkeypatch.setattr(da.Array, "__array__", no_conversion)
    result = fastgd.fit(as_dask(X, 4000), as_dask(y, 4000))
    # the factor, then the direct solve's passes (each refines and certifies)
    assert result.converged and result.method == "qr" and len(received) == 1 + result.n_iter
    m, n_blocks = D + 2, 10
    assert max(received) < 8 * (m * m + 10 * m) + 2000 and X.nbytes > 100 * max(received)
    received.clear()
    result = fastgd.fit(as_dask(X, 4000), as_dask(y, 4000), solver="stream")
    assert result.converged and len(received) > result.n_iter  # a pass per iteration or more
    # (the persisted blocks stay on the workers: client.compute returns futures)
    assert max(received) < n_blocks * 8 * (4 * m + 10) + 2000


def _nbytes(value):
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, (tuple, list)):
        return sum(_nbytes(v) for v in value)
    if hasattr(value, "__dataclass_fields__"):
        return sum(_nbytes(getattr(value, f)) for f in value.__dataclass_fields__)
    return 8


def test_errors_name_the_argument_and_the_global_index(client):
    X, y = make_problem()
    bad = X.copy()
    bad[4321, 2] = np.nan
    with pytest.raises(ValueError, match=r"X contains NaN at index \(4321, 2\)"):
        fastgd.fit(as_dask(bad), as_dask(y))
    bad_y = y.copy()
    bad_y[5999] = np.inf
    with pytest.raises(ValueError, match=r"y contains inf at index \(5999,\)"):
        fastgd.fit(as_dask(X), as_dask(bad_y))
    with pytest.raises(ValueError, match="non-negative"):
        fastgd.fit(as_dask(X), as_dask(y), sample_weight=as_dask(-np.ones(N)))
    with pytest.raises(ValueError, match="positive sum"):
        fastgd.fit(as_dask(X), as_dask(y), sample_weight=as_dask(np.zeros(N)))
    with pytest.raises(ValueError, match="different numbers of samples"):
        fastgd.fit(as_dask(X), y[:-1])
    with pytest.raises(TypeError, match="pass X as a Dask collection"):
        fastgd.fit(X, as_dask(y))
    with pytest.raises(ValueError, match="X must be 2-D.*got a 1-D Dask array"):
        fastgd.fit(as_dask(X[:, 0]), as_dask(y))
    with pytest.raises(TypeError, match="boolean"):
        fastgd.fit(as_dask(X > 0), as_dask(y))
    frame = dd.from_pandas(pd.DataFrame({"a": X[:, 0], "b": ["x"] * N}), npartitions=3)
    with pytest.raises(TypeError, match="column 'b'"):
        fastgd.fit(frame, as_dask(y))
    with pytest.raises(TypeError, match="Dask Series"):
        fastgd.fit(frame[["a"]], as_dask(y))
    for options in ({"batch_size": 32}, {"early_stopping": True}):
        with pytest.raises(ValueError, match="full-batch iterations.*partial_fit"):
            fastgd.fit(as_dask(X), as_dask(y), **options)


def test_extreme_scales_of_x_give_the_local_answer(client):
    X, y = make_problem()
    for scale in (1e-300, 1e300):
        np.testing.assert_allclose(
            fastgd.fit(as_dask(X * scale), as_dask(y)).coef,
            fastgd.fit(X * scale, y).coef,
            rtol=1e-10,
        )


def test_a_dask_array_without_a_cluster_runs_on_dask_threads():
    X, y = make_problem()
    np.testing.assert_allclose(
        fastgd.fit(as_dask(X), as_dask(y)).coef, fastgd.fit(X, y).coef, rtol=1e-12
    )


# --------------------------------------------- worker processes: bits and failures


def _slow_identity(block, delay):
    import time

    time.sleep(delay)
    return block


def _dies_once(block, flag, block_info=None):
    """The identity, except that the first time block 3 is computed the worker
    process running it dies (a killed worker in the middle of the fit)."""
    if block_info[0]["chunk-location"][0] == 3 and not os.path.exists(flag):
        open(flag, "w").close()
        os._exit(1)
    return block


def _cluster(n_workers):
    return distributed.LocalCluster(
        n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=":0"
    )


def test_one_and_two_worker_processes_give_the_same_bits():
    X, y = make_problem(n_targets=2)
    fits = []
    for n_workers in (1, 2):
        with _cluster(n_workers) as cluster, distributed.Client(cluster):
            fits.append(fastgd.fit(as_dask(X), as_dask(y), penalty="l2", alpha=0.1))
    assert fits[0].method == "qr" and fits[0].n_iter == fits[1].n_iter
    assert fits[0].coef.tobytes() == fits[1].coef.tobytes()
    assert fits[0].intercept.tobytes() == fits[1].intercept.tobytes()


def test_a_worker_killed_in_the_middle_of_a_streaming_fit_changes_no_bit():
    """The streaming solver's blocks persisted on a worker that dies between two
    iterations are recomputed from their source by Dask: the same bits."""
    import signal

    X, y = make_problem()
    with _cluster(2) as cluster, distributed.Client(cluster) as client:
        undisturbed = fastgd.fit(as_dask(X), as_dask(y), solver="stream")
        pids = list(client.run(os.getpid).values())
        killed = []

        def kill_a_worker(iteration, coef, intercept, loss):
            if iteration == 2:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(iteration)

        survived = fastgd.fit(as_dask(X), as_dask(y), solver="stream", callback=kill_a_worker)
        assert killed and survived.n_iter == undisturbed.n_iter > 2
    assert survived.coef.tobytes() == undisturbed.coef.tobytes()


def test_a_worker_killed_in_the_middle_of_a_fit_changes_no_bit(tmp_path):
    X, y = make_problem()
    with _cluster(2) as cluster, distributed.Client(cluster) as client:
        undisturbed = fastgd.fit(as_dask(X), as_dask(y))
        flag = str(tmp_path / "died")
        dying = as_dask(X).map_blocks(_dies_once, flag, dtype=X.dtype)
        survived = fastgd.fit(dying, as_dask(y))
        assert os.path.exists(flag)  # the worker did die
        assert len(client.scheduler_info()["workers"]) >= 1
    assert survived.coef.tobytes() == undisturbed.coef.tobytes()
    assert np.float64(survived.intercept).tobytes() == np.float64(undisturbed.intercept).tobytes()


# The client's own peak memory (not getrusage's ru_maxrss, which a child process of
# a large pytest inherits: fastgd.bench.probes.PEAK_MEMORY).
CLIENT_MEMORY = (
    PEAK_MEMORY
    + """
import json, sys
import numpy as np, dask.array as da, distributed, fastgd

if __name__ == "__main__":
    n, solver = int(sys.argv[1]), sys.argv[2]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \\
            distributed.Client(cluster):
        X = da.random.default_rng(0).standard_normal((n, 20), chunks=(n // 8, 20))
        y = X @ np.arange(20.0) + 1.0
        fastgd.fit(X[:1000], y[:1000], solver="gram")  # imports and first calls
        before = reset_peak_memory()
        if solver == "pull":  # the control: what pulling X into the client costs
            X, y = np.asarray(X), np.asarray(y)
            solver = "gram"
        result = fastgd.fit(X, y, solver=solver)
        print(json.dumps({"growth": peak_memory() - before, "bytes": n * 20 * 8,
                          "converged": bool(result.converged)}))
"""
)


def client_memory(tmp_path, solver):
    import json
    import subprocess
    import sys

    script = tmp_path / "client_memory.py"
    script.write_text(CLIENT_MEMORY)
    out = subprocess.run(
        [sys.executable, str(script), "1000000", solver],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    measured = json.loads(out.stdout.strip().splitlines()[-1])
    assert measured["converged"]
    return measured


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self")
@pytest.mark.parametrize("solver", ["gram", "stream"])
def test_the_clients_memory_does_not_grow_with_the_data(tmp_path, solver):
    """The issue's symptom: a Dask array pulled into the client raised its peak memory
    by twice the array's size. Here X (160 MB) is made on the workers, and the
    client's peak resident memory grows by less than 5% of it during the fit; pulled
    into the client first (the control: the measurement sees memory), by more than X."""
    measured = client_memory(tmp_path, solver)
    assert measured["growth"] < 0.05 * measured["bytes"], measured
    if solver == "gram":
        pulled = client_memory(tmp_path, "pull")
        assert pulled["growth"] > pulled["bytes"], pulled


@pytest.mark.slow
@pytest.mark.parametrize("solver", ["gram", "stream"])
def test_a_large_fit_on_worker_processes(solver):
    """2e6 x 50 (800 MB) in 40 blocks on two worker processes: the factor tree merges
    the 40 factors 8 at a time into 5 on the workers, and those on the client; the
    local fit's answer."""
    X, y = make_problem(n=2_000_000, d=50, seed=7)
    with _cluster(2) as cluster, distributed.Client(cluster):
        blocked = fastgd.fit(as_dask(X, 50_000), as_dask(y, 50_000), solver=solver, tol=1e-12)
    local = fastgd.fit(X, y, solver=solver, tol=1e-12)
    np.testing.assert_allclose(
        blocked.coef, local.coef, rtol=0, atol=1e-12 * np.abs(local.coef).max()
    )
    coef, intercept = lstsq(X, y)
    np.testing.assert_allclose(blocked.coef, coef, rtol=1e-9, atol=1e-11)


def test_blocks_of_unknown_sizes(client):
    """Boolean indexing (or a DataFrame's .values) leaves the row chunks unknown: the
    first pass counts them."""
    X, y = make_problem()
    keep = as_dask(X)[:, 0] > -100
    for solver in ("gram", "stream"):
        blocked = fastgd.fit(as_dask(X)[keep], as_dask(y)[keep], solver=solver, tol=1e-12)
        np.testing.assert_allclose(blocked.coef, fastgd.fit(X, y, tol=1e-12).coef, rtol=1e-12)
    bad = X.copy()
    bad[4000, 1] = np.nan
    with pytest.raises(ValueError, match=r"X contains NaN at index \(4000, 1\)"):
        fastgd.fit(as_dask(bad)[keep], as_dask(y)[keep])


def test_more_errors_name_what_is_wrong(client):
    X, y = make_problem()
    with pytest.raises(ValueError, match="X has 6000 rows, y has 5999"):
        fastgd.fit(as_dask(X), as_dask(y[:-1]))
    model = fastgd.GDRegressor().fit(as_dask(X), as_dask(y))
    with pytest.raises(ValueError, match="positive sum"):
        model.score(as_dask(X), as_dask(y), sample_weight=as_dask(np.zeros(N)))
    with pytest.raises(ValueError, match="y must have 1 dimension"):
        model.score(as_dask(X), as_dask(np.stack([y, y], 1)))
    bad = X.copy()
    bad[333, 2] = np.nan
    frame = dd.from_pandas(pd.DataFrame(bad), npartitions=3)
    model = fastgd.GDRegressor().fit(as_dask(X), as_dask(y))
    # (a DataFrame's partition sizes may be unknown: then the block and its row)
    with pytest.raises(
        ValueError,
        match=r"NaN at (index \(333, 2\)|row 333 of block 0, "
        r"column 2)",
    ):
        model.predict(frame).compute()


@pytest.mark.parametrize("weighted", [False, True])
def test_constant_columns_of_a_streaming_dask_fit_are_the_local_ones(client, weighted):
    """The streaming solver holds a constant column fixed (a column of 1s, and one
    whose rows of positive weight are all 5) and fits one that varies little beside
    its mean like any other: the Dask fit finds them by a pass over those columns of
    the blocks, as the local fit does; the two agree, and agree with lstsq on the
    columns that vary."""
    X, y = make_problem()
    weights = np.random.default_rng(2).uniform(0.5, 2.0, len(X)) if weighted else None
    X[:, 1] = 1.0
    X[:, 3] = 5.0
    X[:, 4] += 1e3
    if weighted:
        weights[::7] = 0.0
        X[::7, 3] = 1.0  # only on rows of weight 0: still constant
    blocks = [None if a is None else as_dask(a) for a in (X, y, weights)]
    local = fastgd.fit(X, y, solver="stream", tol=1e-8, sample_weight=weights)
    blocked = fastgd.fit(blocks[0], blocks[1], solver="stream", tol=1e-8, sample_weight=blocks[2])
    assert local.converged and blocked.converged and local.n_iter == blocked.n_iter
    np.testing.assert_allclose(blocked.coef, local.coef, rtol=1e-12, atol=1e-12)
    assert blocked.coef[1] == blocked.coef[3] == 0.0  # held at the start
    varying = [0, 2, 4, 5]
    coef, _ = lstsq(X[:, varying], y, weights)
    np.testing.assert_allclose(blocked.coef[varying], coef, rtol=1e-6)
    from fastgd._inputs import blocked_data

    data = blocked_data(*blocks)
    np.testing.assert_array_equal(data.constant_columns([1, 3, 4, 0]), [True, True, False, False])


def test_local_fits_keep_their_threads_after_a_local_cluster_starts():
    """distributed's Nanny sets OMP_NUM_THREADS=1 in the client's environment when it
    starts a worker process: fastgd's OpenMP runtime, loaded with fastgd, has read the
    environment before, and local fits keep the threads they had without a cluster."""
    if "cython" not in fastgd.available_backends():
        pytest.skip("the cython backend (OpenMP) is not built")
    count = (
        "import fastgd, {extra}; from fastgd._backends import get_backend; "
        "{start}print(get_backend('cython').kernels.max_threads())"
    )
    start = (
        "c = distributed.LocalCluster(n_workers=1, threads_per_worker=1, "
        "processes=True, dashboard_address=':0'); import os; "
        "assert os.environ['OMP_NUM_THREADS'] == '1'; "
    )
    import subprocess

    def threads(code):
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return int(done.stdout.split()[-1])

    alone = threads(count.format(extra="os", start=""))
    with_cluster = threads(
        "if __name__ == '__main__':\n    "
        + count.format(extra="distributed", start=start).replace("; ", "\n    ")
    )
    assert with_cluster == alone


def test_the_scheduling_probe_times_the_fits_two_passes_of_no_ops(client):
    """fastgd bench's floor for the dask kind (probes.dask_scheduling_seconds): two
    dask.compute calls of one task per block, each given its blocks and doing
    nothing (Dask's task stream counts them)."""
    from fastgd.bench import probes

    X, y = make_problem()
    with distributed.get_task_stream(client) as stream:
        seconds = probes.dask_scheduling_seconds(as_dask(X), as_dask(y), repeats=2)
    assert seconds > 0
    no_ops = [task for task in stream.data if "_no_op" in str(task["key"])]
    assert len(no_ops) == 2 * 2 * -(-N // BLOCK_ROWS)  # repeats x passes x blocks


def test_an_object_array_of_booleans_is_refused_as_it_is_locally():
    """It was refused as a NumPy array and fitted as 0/1 as a Dask array."""
    X = np.array([[True, False], [False, True], [True, True], [False, False]] * 10, dtype=object)
    y = np.arange(40.0)
    for data in ((X, y), (da.from_array(X, chunks=20), da.from_array(y, chunks=20))):
        with pytest.raises(TypeError, match="X has dtype object holding bool values"):
            fastgd.fit(*data)
