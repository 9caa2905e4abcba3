"""Cold start: the time of ``import fastgd`` and of the first fit in a fresh process.

Each measurement runs in a new interpreter (NumPy is imported first and not
counted). Numba compiles its kernels on first use and caches them on disk
(``cache=True``); the first fit is reported with that cache present ("warm", the
usual case after the first run) and with an empty cache ("cold", a fresh install).

Run as ``python -m benches.coldstart [--json FILE]``.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

PROBE = """
import time, json, numpy as np
t0 = time.perf_counter()
import fastgd
t1 = time.perf_counter()
X = np.random.default_rng(0).standard_normal((1000, 10)); y = X.sum(axis=1)
fastgd.fit(X, y, backend={backend!r}, max_iter=10, tol=0, solver="stream")
t2 = time.perf_counter()
print(json.dumps({{"import_s": t1 - t0, "first_fit_s": t2 - t1}}))
"""


def measure(backend, cache_dir=None, repeats=3):
    """Best of ``repeats`` fresh processes: (import seconds, first-fit seconds)."""
    env = dict(os.environ)
    best = None
    for _ in range(repeats):
        if cache_dir is not None:  # every repeat starts from an empty cache
            env["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(dir=cache_dir)
        out = subprocess.run([sys.executable, "-c", PROBE.format(backend=backend)],
                             capture_output=True, text=True, env=env, check=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        if best is None or result["first_fit_s"] < best["first_fit_s"]:
            best = result
    return best


def run_all(warm_only=False):
    import fastgd

    rows = []
    for backend in fastgd.available_backends():
        measure(backend, repeats=1)  # make sure the on-disk cache exists
        warm = measure(backend)
        row = {"backend": backend, "import_s": warm["import_s"],
               "first_fit_warm_s": warm["first_fit_s"]}
        if backend == "numba" and not warm_only:
            with tempfile.TemporaryDirectory() as cache_dir:
                row["first_fit_cold_s"] = measure(backend, cache_dir, repeats=1)["first_fit_s"]
        rows.append(row)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--warm-only", action="store_true",
                        help="skip the empty-cache Numba measurement (about 15 s)")
    args = parser.parse_args(argv)
    rows = run_all(args.warm_only)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
