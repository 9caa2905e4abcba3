"""Measurements that are not a call of fastgd: the machine's read bandwidth, and what
fresh processes see (cold start, Ctrl-C latency, a pass over a Parquet file).

Each process measurement runs in a new interpreter of this Python (NumPy is imported
first and not counted), so it works from any installation and any directory.
"""

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time

from numba import njit, prange


@njit(parallel=True, fastmath=True, cache=True)
def stream_sum(a):
    """The simplest kernel that reads every byte of ``a`` once, on every thread: a
    parallel sum (vectorized, order irrelevant). bytes / its time is the bandwidth."""
    total = 0.0
    for i in prange(a.shape[0]):
        total += a[i]
    return total


FIRST_FIT = """
import time, json, numpy as np
t0 = time.perf_counter()
import fastgd
t1 = time.perf_counter()
X = np.random.default_rng(0).standard_normal(({n}, {d})); y = X.sum(axis=1)
fastgd.fit(X, y, backend={backend!r}, max_iter=10, tol=0, solver="stream")
t2 = time.perf_counter()
print(json.dumps({{"import_s": t1 - t0, "first_fit_s": t2 - t1}}))
"""


def _median_of(results, key):
    """The result whose ``key`` is the median of ``results`` (the upper one of two)."""
    return sorted(results, key=lambda result: result[key])[len(results) // 2]


def first_fit(backend, shape, repeats, empty_cache=False):
    """``import fastgd`` and a first 10-iteration fit on ``shape`` in fresh processes:
    {"import_s", "first_fit_s"} of the process of median fit time, and every
    process's ("import_all", "first_fit_all", in the order they ran). With
    ``empty_cache``, every process starts from an empty Numba cache (Numba compiles
    its kernels on first use and caches them on disk)."""
    env = dict(os.environ)
    results = []
    with tempfile.TemporaryDirectory() as cache_dir:
        for _ in range(repeats):
            if empty_cache:
                env["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(dir=cache_dir)
            code = FIRST_FIT.format(backend=backend, n=shape.n_samples, d=shape.n_features)
            out = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
            )
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {
        **_median_of(results, "first_fit_s"),
        "import_all": [result["import_s"] for result in results],
        "first_fit_all": [result["first_fit_s"] for result in results],
    }


# (The child sets Python's own SIGINT handler: a child of a process that ignores
# SIGINT, as a shell's background job does, inherits the ignoring, and its fit would
# run on for hours.)
INTERRUPTED_FIT = """
import signal, sys, numpy as np, fastgd
signal.signal(signal.SIGINT, signal.default_int_handler)
backend, n, d, order, batch_size = sys.argv[1:]
batch_size = None if batch_size == "None" else int(batch_size)
rng = np.random.default_rng(0)
X = np.asarray(rng.standard_normal((int(n), int(d))), order=order)
y = X @ rng.standard_normal(int(d))
options = dict(backend=backend, batch_size=batch_size, tol=0, solver="stream", lr=1e-4)
fastgd.fit(X, y, max_iter=1, **options)  # compile every kernel the fit uses, warm up
print("fitting", flush=True)
try:
    fastgd.fit(X, y, max_iter=10**6, **options)
except fastgd.FitInterrupted as interrupted:
    print("interrupted after", interrupted.result.n_iter, "epochs", flush=True)
"""


# Seconds an interrupted fit has to report before the probe gives up on it.
REPORT_TIMEOUT = 60


def interrupt_latencies(backend, shape, delays):
    """Seconds from SIGINT to the interrupted fit's report, one per delay: each starts
    a fit on ``shape`` (its order and batch size) that would run for minutes in a
    fresh process, sends it SIGINT after the delay, and times the signal to the line
    the process prints when ``fastgd.FitInterrupted`` reaches it."""
    args = [
        sys.executable,
        "-c",
        INTERRUPTED_FIT,
        backend,
        str(shape.n_samples),
        str(shape.n_features),
        shape.order,
        str(shape.batch_size),
    ]
    measured = []
    for delay in delays:
        process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        try:
            if process.stdout.readline().strip() != "fitting":
                raise RuntimeError(f"the fitting process failed: {args[3:]}")
            time.sleep(delay)
            start = time.perf_counter()
            process.send_signal(signal.SIGINT)
            if not select.select([process.stdout], [], [], REPORT_TIMEOUT)[0]:
                raise RuntimeError(f"no report {REPORT_TIMEOUT} s after SIGINT: {args[3:]}")
            line = process.stdout.readline()
            measured.append(time.perf_counter() - start)
            if not line.startswith("interrupted after"):
                raise RuntimeError(f"the fit did not report FitInterrupted: {line!r}")
            process.wait(timeout=REPORT_TIMEOUT)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    return measured


# ------------------------------------------------------------- Parquet files

# A child process's peak memory over a stretch of its run, for the scripts below and
# tests/test_files.py. Not getrusage's ru_maxrss: Linux carries it over fork and exec,
# so a child of a large process reports its parent's peak. /proc/self/status's VmHWM
# is the peak of this process's own memory, and writing 5 to /proc/self/clear_refs
# resets it to the current RSS (Linux >= 4.0).
PEAK_MEMORY = """
def _status_bytes(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024

def reset_peak_memory():
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")
    return _status_bytes("VmRSS")

def peak_memory():
    return _status_bytes("VmHWM")
"""

_peak_memory = {}
exec(PEAK_MEMORY, _peak_memory)  # (the same functions in this process)


def client_growth(function):
    """``(function(), growth)``: its result, and this process's peak RSS while it ran
    over its RSS before (bytes; Linux's VmHWM, reset first)."""
    start = _peak_memory["reset_peak_memory"]()
    result = function()
    return result, _peak_memory["peak_memory"]() - start


# One way of going through a Parquet file, in a fresh process: warmed up on a small
# file (pyarrow, Dask and the kernels loaded), then timed on the large one, with the
# peak RSS of the process and its growth over the warmed-up process.
FILE_PASS = (
    PEAK_MEMORY
    + """
import json, sys, time
import numpy as np
mode, path, small = sys.argv[1:]

def pyarrow_read(path):  # every column of every row group as NumPy arrays
    import pyarrow.parquet as pq
    file = pq.ParquetFile(path)
    for group in range(file.num_row_groups):
        table = file.read_row_group(group)
        arrays = [column.to_numpy() for column in table.columns]
    return {}

def fastgd_files(path):  # a block at a time
    import fastgd
    result = fastgd.fit(fastgd.read_files(path, target="y"))
    return {"coef": result.coef.tolist(), "intercept": float(result.intercept),
            "converged": result.converged}

def in_memory(path):  # the whole file as arrays, then the fit of the arrays
    import pyarrow.parquet as pq, fastgd
    table = pq.read_table(path)
    X = np.column_stack([table.column(name).to_numpy() for name in table.column_names
                         if name != "y"])
    result = fastgd.fit(X, table.column("y").to_numpy())
    return {"coef": result.coef.tolist(), "intercept": float(result.intercept),
            "converged": result.converged}

def cv_files(path):  # the Lasso's penalty by 5-fold cross-validation, a block at a time
    import fastgd
    model = fastgd.GDRegressorCV(penalty="l1", cv=5).fit(fastgd.read_files(path, target="y"))
    return {"alpha": float(model.alpha_), "converged": model.converged_}

run = {"pyarrow": pyarrow_read, "fastgd": fastgd_files, "in-memory": in_memory,
       "cv": cv_files}[mode]
run(small)
start_rss = reset_peak_memory()
start = time.perf_counter()
measured = run(path)
seconds = time.perf_counter() - start
peak = peak_memory()
print(json.dumps({"seconds": seconds, "peak_rss": peak, "rss_growth": peak - start_rss,
                  **measured}))
"""
)


def file_pass(mode, path, small_path, repeats):
    """The process of median time among ``repeats`` fresh processes that go through
    the Parquet file at ``path`` as ``mode`` says ("pyarrow": read alone; "fastgd":
    fastgd.fit of fastgd.read_files; "in-memory": pyarrow.parquet.read_table, then the
    fit of the arrays; "cv": GDRegressorCV's Lasso of fastgd.read_files): {"seconds",
    "peak_rss", "rss_growth"} (bytes) and the fit's result, and every process's
    seconds ("all_seconds", in the order they ran)."""
    results = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", FILE_PASS, mode, path, small_path],
            capture_output=True,
            text=True,
            check=True,
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {
        **_median_of(results, "seconds"),
        "all_seconds": [result["seconds"] for result in results],
    }


# ------------------------------------------------------------- a Dask cluster

_dask_clusters = {}


def dask_client(n_workers):
    """A ``distributed.Client`` of a LocalCluster of ``n_workers`` worker processes of
    one thread each, started on first use and kept for the cases that follow (one
    cluster at a time: asking for another size closes the current one; the last is
    closed at exit). It is Dask's default client: dask.compute runs on it."""
    import atexit
    import logging

    import distributed

    from fastgd.bench import quiet

    quiet.loggers_configured()  # (importing distributed set its loggers' levels)
    if n_workers not in _dask_clusters:
        close_dask_clusters()
        # Its scheduler's and workers' logging off but for the critical, their warnings
        # off: a task that fails reaches the client as the fit's exception, and what
        # they log besides is their own business (closing a cluster, a worker may log
        # an error because its heartbeat found the scheduler gone).
        cluster = distributed.LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.CRITICAL,
        )
        if not _dask_clusters:
            atexit.register(close_dask_clusters)
        client = distributed.Client(cluster)
        client.run(quiet.quiet_worker)
        _dask_clusters[n_workers] = cluster, client
    return _dask_clusters[n_workers][1]  # (a new Client is Dask's default one)


def close_dask_clusters():
    for cluster, client in _dask_clusters.values():
        client.close()
        cluster.close()
    _dask_clusters.clear()


def block_factor_seconds(client, X_block, repeats=5):
    """The fastest of ``repeats`` timings of one block's factor (the Gram solver's
    per-block work, ``fastgd._data.block_factor``) on a worker, in seconds."""

    def timed(block):
        import numpy as np

        from fastgd._backends import get_backend
        from fastgd._data import BLOCK_THREADS

        backend = get_backend(fastgd_default_backend())
        zeros = np.zeros((len(block), 1))
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            backend.compress(block, zeros, np.zeros(1), True, None, False, BLOCK_THREADS)
            best = min(best, time.perf_counter() - start)
        return best

    return client.submit(timed, client.compute(X_block), pure=False).result()


def fastgd_default_backend():
    import fastgd

    return fastgd.available_backends()[0]


SCHEDULING_REPEATS = 21  # dask_scheduling_seconds' timings (the report says how many)


def dask_scheduling_seconds(X, y, repeats=SCHEDULING_REPEATS):
    """The fastest of ``repeats`` timings of Dask's scheduling alone for a Gram fit of
    the Dask arrays X and y: the fit's two passes (one ``dask.compute`` of one task per
    block of X and y each), with every task a no-op. What no work in the tasks can
    bring the fit below."""
    import dask

    task = dask.delayed(_no_op, pure=False)
    blocks = list(zip(X.to_delayed().ravel(), y.to_delayed().ravel()))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(2):
            dask.compute(*[task(X_block, y_block) for X_block, y_block in blocks])
        best = min(best, time.perf_counter() - start)
    return best


def _no_op(*blocks):
    return None
