"""Ctrl-C latency: how long a fit takes to stop after a SIGINT.

Each measurement starts a fit that would run for minutes in a fresh process, sends
it SIGINT at a varying moment, and times the signal to the line the process prints
when ``fastgd.FitInterrupted`` reaches it. The kernels return to Python after a
bounded amount of work (``fastgd._fit.SEGMENT_WORK``), which bounds this latency;
one full-batch pass over X is never split, so the largest X sets the worst case.

Run as ``python -m benches.interrupt``; it prints one line per case.
"""

import signal
import subprocess
import sys
import time

CHILD = """
import sys, numpy as np, fastgd
backend, n, d, order, batch_size = sys.argv[1:]
batch_size = None if batch_size == "None" else int(batch_size)
rng = np.random.default_rng(0)
X = np.asarray(rng.standard_normal((int(n), int(d))), order=order)
y = X @ rng.standard_normal(int(d))
options = dict(backend=backend, batch_size=batch_size, tol=0, solver="stream", lr=1e-4)
fastgd.fit(X[:1000].copy(order=order), y[:1000], max_iter=2, **options)  # compile, warm up
print("fitting", flush=True)
try:
    fastgd.fit(X, y, max_iter=10**6, **options)
except fastgd.FitInterrupted as interrupted:
    print("interrupted after", interrupted.result.n_iter, "epochs", flush=True)
"""

# (n_samples, n_features, layout, batch_size): per-sample SGD, mini-batches gathered
# from a Fortran-ordered X (the slowest gather), full-batch passes over 800 MB.
CASES = (
    (20_000, 50, "C", "1"),
    (1_000_000, 20, "F", "32"),
    (1_000_000, 100, "C", "None"),
    (1_000_000, 100, "F", "None"),
)


def latencies(backend, n, d, order, batch_size, delays=(1.0, 1.37, 1.74)):
    """Seconds from SIGINT to the interrupted fit's report, one per delay."""
    measured = []
    for delay in delays:
        process = subprocess.Popen(
            [sys.executable, "-c", CHILD, backend, str(n), str(d), order, batch_size],
            stdout=subprocess.PIPE, text=True,
        )
        try:
            assert process.stdout.readline().strip() == "fitting"
            time.sleep(delay)
            start = time.perf_counter()
            process.send_signal(signal.SIGINT)
            line = process.stdout.readline()
            measured.append(time.perf_counter() - start)
            assert line.startswith("interrupted after"), line
            process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
    return measured


def main():
    for backend in ("cython", "numba"):
        for n, d, order, batch_size in CASES:
            ms = " ".join(f"{1e3 * s:.0f}" for s in latencies(backend, n, d, order, batch_size))
            print(f"{backend:6} X {n}x{d} {order}-order, batch_size={batch_size}: "
                  f"SIGINT to FitInterrupted in {ms} ms", flush=True)


if __name__ == "__main__":
    main()
