"""Turn a benchmark run into the README's tables and a speedup plot.

Input: the pytest-benchmark JSON of benches/test_bench.py (and optionally the JSON of
benches/coldstart.py). Output: markdown (printed, written to a file, and optionally
spliced into README.md between ``<!-- bench:start -->`` and ``<!-- bench:end -->``)
and a PNG of speedup against problem size. Nothing in the tables is typed by hand.

Every ratio is "NumPy time / contender time" for the same shape and dtype, from the
same run (in the Lasso table, "scikit-learn Lasso time / contender time"; in the SGD
table, "scikit-learn SGDRegressor time / contender time"); times are
the minimum over rounds (the least disturbed by other load).

    python -m benches.report bench.json [--coldstart cold.json] [--md out.md]
                             [--png out.png] [--readme README.md] [--command "..."]
"""

import argparse
import json
import platform
import re
from collections import defaultdict
from pathlib import Path

GRADIENT_COLUMNS = ("numba", "cython")
FIT_COLUMNS = ("numba", "cython", "gram", "sklearn-sgd", "lstsq")
# The Lasso table's rows, in order (the first is the baseline of its ratio column).
LASSO_ROWS = {
    "sklearn-lasso": "scikit-learn `Lasso`",
    "sklearn-lasso-gram": "scikit-learn `Lasso(precompute=True)`",
    "numba": "fastgd numba",
    "cython": "fastgd cython",
    "gram": 'fastgd `solver="gram"`',
}
# The SGD table's rows, in order (the first is the baseline of its ratio column); the
# mini-batch rows are found by their prefix (their name carries the batch size).
SGD_ROWS = {
    "sklearn-sgd": "scikit-learn `SGDRegressor`",
    "numba": "fastgd numba, per sample",
    "cython": "fastgd cython, per sample",
    "numba-batch": "fastgd numba, mini-batch",
    "cython-batch": "fastgd cython, mini-batch",
}


def _fmt_time(seconds):
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def load(path):
    """{(kind, shape, dtype): {contender: (min seconds, extra_info)}}, bandwidth, meta."""
    data = json.loads(Path(path).read_text())
    table = defaultdict(dict)
    bandwidth = None
    for bench in data["benchmarks"]:
        info = bench["extra_info"]
        best = bench["stats"]["min"]
        if info["kind"] == "bandwidth":
            rate = info["bytes"] / best
            bandwidth = rate if bandwidth is None else max(bandwidth, rate)
            continue
        table[(info["kind"], info["shape"], info["dtype"])][info["contender"]] = (best, info)
    return table, bandwidth, data


def _shape_order(key):
    kind, shape, dtype = key
    return (kind != "gradient", _size(shape), dtype != "float64")


def _size(shape):
    n, d = shape.split("x")
    return float(n) * float(d)


def gradient_table(table, bandwidth):
    lines = [
        "| shape | dtype | NumPy | numba | cython | fastgd GB/s | % of read bandwidth "
        "| 2 threads vs 1 (numba, cython) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key in sorted(table, key=_shape_order):
        kind, shape, dtype = key
        if kind != "gradient" or "numpy" not in table[key]:
            continue
        row = table[key]
        base = row["numpy"][0]
        cells = []
        for name in GRADIENT_COLUMNS:
            cells.append(f"{base / row[name][0]:.2f}× ({_fmt_time(row[name][0])})"
                         if name in row else "–")
        best = min(row[name][0] for name in GRADIENT_COLUMNS if name in row)
        rate = row["numpy"][1]["bytes"] / best
        share = f"{100 * rate / bandwidth:.0f}%" if bandwidth else "–"
        scaling = ", ".join(
            f"{row[name + '-1t'][0] / row[name][0]:.2f}×" if name + "-1t" in row else "–"
            for name in GRADIENT_COLUMNS
        )
        lines.append(f"| {shape} | {dtype} | {_fmt_time(base)} | {' | '.join(cells)} | "
                     f"{rate / 1e9:.1f} | {share} | {scaling} |")
    return "\n".join(lines)


def _ratio(table, kind, shape, dtype, name, of="numpy"):
    row = table.get((kind, shape, dtype), {})
    if name not in row or of not in row:
        return None
    return row[of][0] / row[name][0]


def _best_ratio(table, kind, shape, dtype, names=GRADIENT_COLUMNS):
    ratios = [r for r in (_ratio(table, kind, shape, dtype, n) for n in names) if r]
    return max(ratios) if ratios else None


def targets_table(table, bandwidth):
    """The issue's targets against this run's figures (best compiled backend)."""
    rows = []

    def add(target, measured, met):
        if measured is not None:
            rows.append(f"| {target} | {measured} | {'met' if met else '**missed**'} |")

    for dtype in ("float64", "float32"):
        r = _best_ratio(table, "gradient", "2e6x32", dtype)
        add(f"2e6×32 {dtype} gradient ≥ 1.8× NumPy", r and f"{r:.2f}×", r and r >= 1.8)
        row = table.get(("gradient", "2e6x32", dtype), {})
        times = [row[n][0] for n in GRADIENT_COLUMNS if n in row]
        if times and bandwidth:
            share = row["numpy"][1]["bytes"] / min(times) / bandwidth
            add(f"2e6×32 {dtype} gradient ≥ 85% of read bandwidth", f"{100 * share:.0f}%",
                share >= 0.85)
    for shape in ("1e4x20", "1e5x100"):
        for dtype in ("float64", "float32"):
            r = _best_ratio(table, "gradient", shape, dtype)
            add(f"{shape} {dtype} gradient ≥ 2× NumPy", r and f"{r:.2f}×", r and r >= 2)
    for shape in ("4x2", "100x10"):
        for dtype in ("float64", "float32"):
            r = _best_ratio(table, "fit", shape, dtype)
            add(f"{shape} {dtype} fit, 1000 iterations, ≥ 100× NumPy loop",
                r and f"{r:.3g}×", r and r >= 100)
    row = table.get(("gradient", "4x2", "float64"), {})
    calls = [row[n][0] for n in GRADIENT_COLUMNS if n in row]
    if calls:
        add("one `fastgd.gradient` call on 4×2 ≤ 10 µs (kernel included)",
            _fmt_time(min(calls)), min(calls) <= 10e-6)
    for dtype in ("float64", "float32"):
        r = _ratio(table, "fit", "1e6x32", dtype, "gram")
        add(f"Gram 1e6×32 {dtype}, 1000 iterations, ≥ 50× NumPy loop", r and f"{r:.3g}×",
            r and r >= 50)
    if not rows:
        return ""
    return "\n".join(["| target | measured | |", "|---|---|---|"] + rows)


def fit_table(table):
    header = " | ".join(FIT_COLUMNS)
    lines = [f"| shape | dtype | iterations | NumPy loop | {header} |",
             "|---|---|---|---|" + "---|" * len(FIT_COLUMNS)]
    for key in sorted(table, key=_shape_order):
        kind, shape, dtype = key
        if kind != "fit" or "numpy" not in table[key]:
            continue
        row = table[key]
        base, info = row["numpy"]
        cells = [f"{base / row[name][0]:.3g}× ({_fmt_time(row[name][0])})" if name in row
                 else "–" for name in FIT_COLUMNS]
        lines.append(f"| {shape} | {dtype} | {info['iterations']} | {_fmt_time(base)} | "
                     f"{' | '.join(cells)} |")
    return "\n".join(lines)


def _fmt_number(x):
    """1e-08 -> 1e-8: a tolerance or alpha as one would type it."""
    return re.sub(r"e([+-])0+(\d)", r"e\1\2", f"{x:g}")


def _fmt_gap(gap):
    # Objectives are evaluated in float64: below about 1e-15 relative, a "gap" is
    # rounding, not a worse solution.
    return "< 1e-15" if gap < 1e-15 else f"{gap:.1e}"


def lasso_table(table):
    """One row per shape and contender: time, ratio to Lasso, and accuracy.

    The objective gap is relative to the lowest objective found for the shape: by
    any contender of this run or by the tightly converged reference Lasso."""
    header = ("| shape, dtype | contender | time | `Lasso` time / time | iterations "
              "| objective gap | max \\|w − w_ref\\| | nonzeros (w_ref's) | same zeros as w_ref |")
    lines = [header, "|---|---|---|---|---|---|---|---|---|"]
    baseline = next(iter(LASSO_ROWS))
    for key in sorted(table, key=_shape_order):
        kind, shape, dtype = key
        if kind != "lasso":
            continue
        row = table[key]
        best = min([info["objective"] for _, info in row.values()]
                   + [info["reference_objective"] for _, info in row.values()])
        for name, label in LASSO_ROWS.items():
            if name not in row:
                continue
            seconds, info = row[name]
            ratio = f"{row[baseline][0] / seconds:.3g}×" if baseline in row else "–"
            converged = "" if info["converged"] else " (not converged)"
            lines.append(
                f"| {shape} {dtype} | {label} | {_fmt_time(seconds)} | {ratio} | "
                f"{info['n_iter']}{converged} | "
                f"{_fmt_gap((info['objective'] - best) / best)} | {info['coef_error']:.1e} | "
                f"{info['nonzeros']} ({info['reference_nonzeros']}) | "
                f"{'yes' if info['same_zeros'] else '**no**'} |"
            )
    return "\n".join(lines)


def _settings(table, kind, names):
    """The settings the run's cases of ``kind`` recorded, for their table's caption
    (None if the run has none)."""
    for (case_kind, _, _), row in table.items():
        if case_kind == kind:
            info = next(iter(row.values()))[1]
            return {name: info[name] for name in names}
    return None


def lasso_caption(alpha, tol, reference_tol):
    alpha, tol, reference_tol = (_fmt_number(x) for x in (alpha, tol, reference_tol))
    return (
        f"**A Lasso fit** run to convergence: every contender minimises "
        f"‖Xw + b − y‖²/(2N) + {alpha}·‖w‖₁ (scikit-learn's `Lasso(alpha={alpha})`; "
        "intercept fitted, not penalised) on the same float64 data (features "
        "correlated 0.5^|i−j|, 10 true coefficients nonzero, noise σ = 1; see "
        f"`benches/cases.py`), until its own tolerance {tol} stops it. scikit-learn's "
        f"coordinate descent stops when its duality gap, a bound on the distance to the "
        f"optimal objective, is ≤ {tol}·‖y − ȳ‖²/N (an iteration is an epoch over the "
        "features; `precompute=True` runs them on the Gram matrix). fastgd's default "
        'for an L1 penalty, FISTA with adaptive restart (`penalty="l1"`, `lr="auto"`: '
        "step 1/L, whose power iteration is in the time), stops when the norm of its "
        f"gradient map at the point it returns is ≤ {tol} times its value at w = 0 (an "
        "iteration is a step: one pass over X, or over the compressed problem with "
        '`solver="gram"`). Objective gap: relative to the lowest objective found, '
        f"by any contender or by `Lasso` run to tol = {reference_tol}, whose solution "
        "is w_ref:"
    )


def _sgd_rows(row):
    """(label, name) of the contenders in row, in SGD_ROWS's order."""
    for prefix, label in SGD_ROWS.items():
        for name in row:
            if name == prefix or (prefix.endswith("-batch") and name.startswith(prefix)):
                size = name[len(prefix):]
                yield (f"{label} of {size}" if size else label), name


def sgd_table(table):
    """One row per shape and contender: time, ratio to SGDRegressor, and accuracy
    against the least-squares solution (objectives in float64)."""
    header = ("| shape, dtype | contender | time | `SGDRegressor` time / time "
              "| epochs (updates) | last step per row | objective | gap to lstsq optimum "
              "| ‖w − w_lstsq‖ |")
    lines = [header, "|---|---|---|---|---|---|---|---|---|"]
    baseline = next(iter(SGD_ROWS))
    for key in sorted(table, key=_shape_order):
        kind, shape, dtype = key
        if kind != "sgd":
            continue
        row = table[key]
        for label, name in _sgd_rows(row):
            seconds, info = row[name]
            ratio = f"{row[baseline][0] / seconds:.3g}×" if baseline in row else "–"
            optimum = info["optimal_objective"]
            lines.append(
                f"| {shape} {dtype} | {label} | {_fmt_time(seconds)} | {ratio} | "
                f"{info['n_epochs']} ({info['n_updates']:,}) | {info['last_step_per_row']:.2g} | "
                f"{info['objective']:.6g} | {_fmt_gap((info['objective'] - optimum) / optimum)} | "
                f"{info['coef_distance']:.1e} |"
            )
    return "\n".join(lines)


def sgd_caption(epochs, eta0, power_t, batch_size, batch_lr):
    eta0, power_t, batch_lr = (_fmt_number(x) for x in (eta0, power_t, batch_lr))
    return (
        f"**Stochastic gradient descent**, {epochs} epochs for every contender: all "
        "minimise half the MSE with intercept, ‖Xw + b − y‖²/(2N), on the same float64 "
        "data (standardised features, y = Xw + 2 + noise of σ = 0.5; see "
        "`benches/cases.py`) with the same schedule, step "
        f"lr/(1 + t)^{power_t} at update t. Nothing but the epoch count stops them "
        "(scikit-learn `tol=None`, fastgd `tol=0`). scikit-learn's "
        f'`SGDRegressor(penalty=None, learning_rate="invscaling", eta0={eta0}, '
        f"power_t={power_t})` and fastgd's `batch_size=1, lr={eta0}` make the same "
        "per-sample updates (the same coefficients to rounding without shuffling, as "
        "`tests/test_bench_registry.py` checks); here both shuffle every epoch, each "
        "with its own generator, so their results are statistically, not bitwise, "
        f"the same. fastgd's mini-batches of {batch_size} take lr = {batch_size} × "
        f"{eta0} = {batch_lr} (linear scaling: the per-sample start), so they make "
        f"{batch_size}× fewer updates per epoch and their schedule, which counts "
        "updates, ends at a larger step per row (the last update's step divided by "
        "the batch size): SGD's noise floor, the objective gap it ends at, grows with "
        "that step. Gap: (objective − optimum) / optimum, the optimum and w_lstsq "
        "from `np.linalg.lstsq` on [X, 1]:"
    )


def coldstart_table(rows):
    lines = ["| backend | `import fastgd` | first fit, fresh process | first fit, empty Numba cache |",
             "|---|---|---|---|"]
    for row in rows:
        cold = _fmt_time(row["first_fit_cold_s"]) if "first_fit_cold_s" in row else "–"
        lines.append(f"| {row['backend']} | {_fmt_time(row['import_s'])} | "
                     f"{_fmt_time(row['first_fit_warm_s'])} | {cold} |")
    return "\n".join(lines)


def machine_note(data, bandwidth, command):
    info = data.get("machine_info", {})
    cpu = info.get("cpu", {}).get("brand_raw") or platform.processor() or info.get("machine")
    versions = data.get("versions", {})
    parts = [
        f"Machine: {cpu}, {info.get('cpu', {}).get('count', '?')} cores, "
        f"{info.get('system', platform.system())}; Python {info.get('python_version', '?')}.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".",
        f"Threads: {data.get('threads', '?')}.",
    ]
    if bandwidth:
        parts.append(f"Streaming-read bandwidth measured in the same run: "
                     f"{bandwidth / 1e9:.1f} GB/s (parallel sum of a 256 MB+ array).")
    parts.append(f"Run on {data.get('datetime', '?')[:19]} with `{command}`.")
    return " ".join(parts)


def markdown(table, bandwidth, data, coldstart=None, command="fastgd bench"):
    parts = [
        "**One gradient evaluation** (ratio = NumPy time / fastgd time; NumPy is "
        "`X.T.dot(X.dot(w) - y) / len(X)`; fastgd is the public `fastgd.gradient` call):",
        "",
        gradient_table(table, bandwidth),
        "",
        "**A whole fit**, the same iterations everywhere (fixed lr = 1/L, no intercept; "
        "ratio = NumPy loop time / contender time; scikit-learn's SGDRegressor runs the "
        "same number of epochs and lstsq is the direct solve, for reference):",
        "",
        fit_table(table),
    ]
    lasso = _settings(table, "lasso", ("alpha", "tol", "reference_tol"))
    if lasso:
        parts += ["", lasso_caption(**lasso), "", lasso_table(table)]
    sgd = _settings(table, "sgd", ("epochs", "eta0", "power_t", "batch_size", "batch_lr"))
    if sgd:
        parts += ["", sgd_caption(**sgd), "", sgd_table(table)]
    targets = targets_table(table, bandwidth)
    if targets:
        parts += ["", "**Targets** (issue 3) against this run:", "", targets]
    if coldstart:
        parts += ["", "**Cold start** (best of 3 fresh processes):", "", coldstart_table(coldstart)]
    parts += ["", machine_note(data, bandwidth, command)]
    return "\n".join(parts)


def plot(table, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, marker in (("numba", "o"), ("cython", "s")):
        for dtype, style in (("float64", "-"), ("float32", "--")):
            points = sorted(
                (_size(shape), row["numpy"][0] / row[name][0])
                for (kind, shape, dt), row in table.items()
                if kind == "gradient" and dt == dtype and name in row and "numpy" in row
            )
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, style, marker=marker, label=f"{name} {dtype}")
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("problem size N·D")
    ax.set_ylabel("speedup over NumPy (one gradient)")
    ax.set_title("fastgd.gradient vs X.T.dot(X.dot(w) - y) / len(X)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def splice_readme(readme, text):
    content = Path(readme).read_text()
    pattern = re.compile(r"(<!-- bench:start -->\n).*?(\n<!-- bench:end -->)", re.S)
    if not pattern.search(content):
        raise SystemExit(f"{readme} has no <!-- bench:start --> / <!-- bench:end --> markers")
    Path(readme).write_text(pattern.sub(lambda m: m.group(1) + text + m.group(2), content))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("json")
    parser.add_argument("--coldstart")
    parser.add_argument("--md")
    parser.add_argument("--png")
    parser.add_argument("--readme")
    parser.add_argument("--command", default="fastgd bench")
    args = parser.parse_args(argv)
    table, bandwidth, data = load(args.json)
    coldstart = json.loads(Path(args.coldstart).read_text()) if args.coldstart else None
    text = markdown(table, bandwidth, data, coldstart, args.command)
    print(text)
    if args.md:
        Path(args.md).write_text(text + "\n")
    if args.png:
        plot(table, args.png)
    if args.readme:
        splice_readme(args.readme, text)


if __name__ == "__main__":
    main()
