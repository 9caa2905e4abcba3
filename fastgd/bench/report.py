"""Turn a run's results (``bench.json``) into the tables and the plot.

Rows, labels and targets come from the registry (``fastgd/bench/cases.py``), the
figures and the settings the captions state from the run. Every ratio is "baseline
time / contender time" for the same shape and dtype, from the same run (NumPy for
the gradient and the fit, scikit-learn's ``Lasso`` and ``SGDRegressor`` for the
Lasso and SGD tables). A time is the median of its rounds with their spread
(``fastgd/bench/timer.py``), a ratio that of the medians with the sum of their
spreads; a row whose rounds disagreed in every measurement carries
``FLAG`` and a note under its table that says why. (A run recorded before rounds
were kept shows the fastest round, without a spread.) Nothing in the tables is
typed by hand: the documentation's tables are this module's output, written into
the pages by a developer tool of the source checkout (``benches/update_docs.py``),
not by the installed package, which leaves the developers' targets out.
"""

import json
import math
import re
from collections import defaultdict
from pathlib import Path

from fastgd import _data
from fastgd.bench import cases as registry
from fastgd.bench import probes, timer
from fastgd.bench.timer import TOLERANCE, fmt_spread

FLAG = "⚠"  # marks a figure whose rounds disagreed in every measurement of its row


def write_json(results, path):
    Path(path).write_text(json.dumps(results, indent=1) + "\n")


def index(results):
    """{(kind, shape, dtype): {contender: record}} of a run's records."""
    table = defaultdict(dict)
    for rec in results["results"]:
        table[(rec["kind"], rec["shape"], rec["dtype"])][rec["contender"]] = rec
    return table


def read_bandwidth(table):
    """The run's streaming-read bandwidth in bytes per second (None if not measured)."""
    rates = [
        rec["bytes"] / rec["seconds"]
        for (kind, _, _), row in table.items()
        if kind == registry.BANDWIDTH.name
        for rec in row.values()
    ]
    return max(rates) if rates else None


def fmt_time(seconds):
    """A duration with 3 significant digits and its unit.

    Examples
    --------
    >>> fmt_time(0.0123), fmt_time(7.9e-6), fmt_time(31.2)
    ('12.3 ms', '7.9 µs', '31.2 s')
    """
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def fmt_number(x):
    """1e-08 -> 1e-8: a tolerance or alpha as one would type it."""
    return re.sub(r"e([+-])0+(\d)", r"e\1\2", f"{x:g}")


def fmt_gap(gap):
    # Objectives are evaluated in float64: below about 1e-15 relative, a "gap" is
    # rounding, not a worse solution.
    return "< 1e-15" if gap < 1e-15 else f"{gap:.1e}"


def _rows(table, kind, need_baseline=True):
    """(shape, dtype, row) in registry order, for the shapes and dtypes of the run."""
    for shape in kind.shapes:
        for dtype in kind.dtypes:
            row = table.get((kind.name, shape.name, dtype))
            if row and (kind.baseline.name in row or not need_baseline):
                yield shape, dtype, row


def _columns(kind):
    """A ratio table's columns: every contender but the baseline and the variants."""
    return [c for c in kind.contenders[1:] if not c.variant_of]


def _mark(*records):
    """FLAG after a figure if any of ``records`` (None: not run) was flagged."""
    return f" {FLAG}" if any(rec and rec.get("flag") for rec in records) else ""


def _spread(value):
    return f" {fmt_spread(value)}" if value is not None else ""


def fmt_seconds(rec):
    """A record's time with its rounds' spread: "1.85 µs ±2%" (no spread for a
    single round, or a run that kept no rounds).

    Examples
    --------
    >>> fmt_seconds({"seconds": 1.85e-6, "spread": 0.021, "rounds": 20})
    '1.85 µs ±2%'
    >>> fmt_seconds({"seconds": 8.02, "spread": 0.0, "rounds": 1})
    '8.02 s'
    """
    spread = rec.get("spread") if (rec.get("rounds") or 0) > 1 else None
    return fmt_time(rec["seconds"]) + _spread(spread)


def fmt_ratio(value, rec, spec=".3g"):
    """A ratio with its spread: "1.09× ±3%" (none without one)."""
    spread = rec.get("ratio_spread") if (rec.get("rounds") or 0) > 1 else None
    return f"{value:{spec}}×" + _spread(spread)


def _ratio_cell(row, base, name, spec):
    if name not in row:
        return "–"
    rec = row[name]
    return f"{fmt_ratio(base / rec['seconds'], rec, spec)} ({fmt_seconds(rec)}){_mark(rec)}"


def _base_cell(row, kind):
    rec = row[kind.baseline.name]
    return fmt_seconds(rec) + _mark(rec)


def gradient_table(table):
    kind = registry.GRADIENT
    bandwidth = read_bandwidth(table)
    columns = _columns(kind)
    one_thread = {c.variant_of: c.name for c in kind.contenders if c.variant_of}
    lines = [
        f"| shape | dtype | {kind.baseline.label} | "
        + " | ".join(c.label for c in columns)
        + f" | fastgd GB/s | % of read bandwidth | all threads vs 1 ({', '.join(one_thread)}) |",
        "|---|---|---|" + "---|" * len(columns) + "---|---|---|",
    ]
    for shape, dtype, row in _rows(table, kind):
        base = row[kind.baseline.name]["seconds"]
        cells = [_ratio_cell(row, base, c.name, ".2f") for c in columns]
        times = [row[c.name]["seconds"] for c in columns if c.name in row]
        rate = row[kind.baseline.name]["bytes"] / min(times) if times else None
        share = f"{100 * rate / bandwidth:.0f}%" if bandwidth and rate else "–"
        scaling = ", ".join(
            f"{row[single]['seconds'] / row[name]['seconds']:.2f}×{_mark(row[single])}"
            if single in row and name in row
            else "–"
            for name, single in one_thread.items()
        )
        lines.append(
            f"| {shape.name} | {dtype} | {_base_cell(row, kind)} | {' | '.join(cells)} | "
            f"{f'{rate / 1e9:.1f}' if rate else '–'} | {share} | {scaling} |"
        )
    return "\n".join(lines)


def _ratio_table(table, kind, headers, lead):
    """A ratio table: the ``headers`` columns (``lead(shape, dtype, row)`` gives their
    cells), the baseline's time, then each contender's ratio and time."""
    columns = _columns(kind)
    lines = [
        f"| {' | '.join(headers)} | {kind.baseline.label} | "
        + " | ".join(c.label for c in columns)
        + " |",
        "|" + "---|" * (len(headers) + 1 + len(columns)),
    ]
    for shape, dtype, row in _rows(table, kind):
        base = row[kind.baseline.name]["seconds"]
        cells = [_ratio_cell(row, base, c.name, ".3g") for c in columns]
        lines.append(
            f"| {' | '.join(lead(shape, dtype, row))} | {_base_cell(row, kind)} | "
            f"{' | '.join(cells)} |"
        )
    return "\n".join(lines)


def fit_table(table):
    kind = registry.FIT
    return _ratio_table(
        table,
        kind,
        ("shape", "dtype", "iterations"),
        lambda shape, dtype, row: (
            shape.name,
            dtype,
            str(row[kind.baseline.name]["scores"]["iterations"]),
        ),
    )


def direct_table(table):
    """Each fit's ratio to LinearRegression (and time), the worst error of fastgd's
    fits against lstsq, and the floor and the peak measured beside them: fastgd's
    best fit over one read of X, and its Gram pass's multiply-add rate (N m (m + 1) /
    2 for m = D + 2) against the large matrix product's (``GEMM_SIZE`` cubed)."""
    kind = registry.DIRECT
    columns = _columns(kind)
    fits = [c.name for c in columns if c.name in registry.COMPILED_BACKENDS + ("estimator",)]
    lines = [
        f"| shape | dtype | {kind.baseline.label} | "
        + " | ".join(c.label for c in columns)
        + " | fastgd's error | fastgd ÷ one read of X | Gram pass (share of matrix product) |",
        "|---|---|---|" + "---|" * len(columns) + "---|---|---|",
    ]
    for shape, dtype, row in _rows(table, kind):
        base = row[kind.baseline.name]["seconds"]
        cells = [_ratio_cell(row, base, c.name, ".3g") for c in columns]
        errors = [row[name]["scores"]["error"] for name in fits if name in row]
        times = [row[name]["seconds"] for name in fits if name in row]
        read, gram, product = (row.get(name) for name in ("read", "gram-pass", "matmul"))
        over_read = f"{min(times) / read['seconds']:.3g}×{_mark(read)}" if times and read else "–"
        m = shape.n_features + 2
        if gram and product:
            rate = shape.n_samples * m * (m + 1) / 2 / gram["seconds"]
            peak = registry.GEMM_SIZE**3 / product["seconds"]
            pass_cell = (
                f"{rate / 1e9:.3g} GMAC/s ({100 * rate / peak:.0f}% of "
                f"{peak / 1e9:.3g}){_mark(gram, product)}"
            )
        else:
            pass_cell = "–"
        lines.append(
            f"| {shape.name} | {dtype} | {_base_cell(row, kind)} | {' | '.join(cells)} | "
            f"{f'{max(errors):.1e}' if errors else '–'} | {over_read} | {pass_cell} |"
        )
    return "\n".join(lines)


def direct_caption(settings):
    return (
        "**Least squares, defaults** (a fit with an intercept: fastgd's one pass, exact "
        "solve, refinement and certificate; ratio = `LinearRegression` time / contender "
        "time; fastgd's error = max |θ − lstsq| / max |lstsq| over its fits; the last "
        "columns measured in the same run: fastgd's best fit over one parallel read of "
        "X, and its Gram pass's multiply-adds per second against a "
        f"{settings.get('gemm_size', registry.GEMM_SIZE)}² float64 matrix product's):"
    )


def many_table(table):
    return _ratio_table(
        table,
        registry.MANY,
        ("problems", "shape", "dtype"),
        lambda shape, dtype, row: (
            f"{registry.MANY_PROBLEMS[shape.name]:,}",
            f"{shape.n_samples}×{shape.n_features}",
            dtype,
        ),
    )


def many_caption(settings):
    return (
        "**Many small fits in one call** (`fastgd.fit_many` on stacked problems, each "
        f"with an intercept, tol={fmt_number(settings.get('tol', registry.MANY_TOL))}; "
        "ratio = batched `np.linalg.solve` time / contender time):"
    )


def _contender_rows(table, kind):
    """(shape, dtype, contender, record, ratio to the baseline) in registry order."""
    for shape, dtype, row in _rows(table, kind, need_baseline=False):
        base = row.get(kind.baseline.name)
        for contender in kind.contenders:
            if contender.name in row:
                rec = row[contender.name]
                ratio = fmt_ratio(base["seconds"] / rec["seconds"], rec) if base else "–"
                yield shape, dtype, contender, rec, ratio


def lasso_table(table):
    """One row per shape and contender: time, ratio to Lasso, and accuracy.

    The objective gap is relative to the lowest objective found for the shape: by
    any contender of this run or by the tightly converged reference Lasso."""
    header = (
        "| shape, dtype | contender | time | `Lasso` time / time | iterations "
        "| objective gap | max \\|w − w_ref\\| | nonzeros (w_ref's) | same zeros as w_ref |"
    )
    lines = [header, "|---|---|---|---|---|---|---|---|---|"]
    best = {}
    for shape, dtype, row in _rows(table, registry.LASSO, need_baseline=False):
        best[shape.name, dtype] = min(
            [r["scores"]["objective"] for r in row.values()]
            + [r["scores"]["reference_objective"] for r in row.values()]
        )
    for shape, dtype, contender, rec, ratio in _contender_rows(table, registry.LASSO):
        s = rec["scores"]
        lowest = best[shape.name, dtype]
        converged = "" if s["converged"] else " (not converged)"
        lines.append(
            f"| {shape.name} {dtype} | {contender.label} | {fmt_seconds(rec)}{_mark(rec)} | "
            f"{ratio} | {s['n_iter']}{converged} | "
            f"{fmt_gap((s['objective'] - lowest) / lowest)} | "
            f"{s['coef_error']:.1e} | {s['nonzeros']} ({s['reference_nonzeros']}) | "
            f"{'yes' if s['same_zeros'] else '**no**'} |"
        )
    return "\n".join(lines)


def lasso_caption(settings):
    alpha, gap, reference_tol = (
        fmt_number(settings[key]) for key in ("alpha", "gap", "reference_tol")
    )
    return (
        f"**A Lasso fit** run to convergence: every contender minimises "
        f"‖Xw + b − y‖²/(2N) + {alpha}·‖w‖₁ (scikit-learn's `Lasso(alpha={alpha})`; "
        "intercept fitted, not penalised) on the same float64 data (features "
        "correlated 0.5^|i−j|, 10 true coefficients nonzero, noise σ = 1; see "
        "`fastgd/bench/cases.py`), until its duality gap, a bound on the distance to "
        f"the optimal objective, is ≤ {gap} times the zero model's objective "
        "‖y − ȳ‖²/(2N), each at its own tol for it. scikit-learn's coordinate descent "
        "checks its gap once its largest update is small (an iteration is an epoch "
        "over the features; `precompute=True` runs them on the Gram matrix). fastgd's "
        'FISTA with adaptive restart (`penalty="l1"` with `solver="stream"`: steps of '
        "1/L in the standardized features' coordinates, whose power iteration is in the "
        "time) checks it with one pass at the point it returns (an iteration is a "
        'step: one pass over X); fastgd\'s default, `solver="gram"` here, solves the '
        "compressed problem by its homotopy and certifies the result. Objective gap: "
        "relative to the lowest objective found, by any contender or by `Lasso` run to "
        f"tol = {reference_tol}, whose solution is w_ref:"
    )


def cv_table(table):
    """One row per shape and contender: time, each fastgd contender's ratio to its
    scikit-learn counterpart, the alpha (and l1_ratio) chosen, the cross-validated
    error there, and the coefficients against the exact fit at that alpha."""
    header = (
        "| shape, dtype | contender | time | counterpart's time / time | alpha chosen "
        "| l1_ratio | mean CV error | max \\|w − w_exact(alpha)\\| | nonzeros |"
    )
    lines = [header, "|---|---|---|---|---|---|---|---|---|"]
    for shape, dtype, row in _rows(table, registry.CV, need_baseline=False):
        for contender in registry.CV.contenders:
            if contender.name not in row:
                continue
            rec, s = row[contender.name], row[contender.name]["scores"]
            counterpart = row.get(registry.CV_COUNTERPARTS.get(contender.name))
            ratio = fmt_ratio(counterpart["seconds"] / rec["seconds"], rec) if counterpart else "–"
            lines.append(
                f"| {shape.name} {dtype} | {contender.label} | {fmt_seconds(rec)}{_mark(rec)} | "
                f"{ratio} | {s['alpha']:.6g} | {s['l1_ratio']:g} | {s['cv_error']:.10g} | "
                f"{s['coef_error']:.1e} | {s['nonzeros']} |"
            )
    return "\n".join(lines)


def cv_caption(settings):
    ratios = ", ".join(fmt_number(r) for r in settings["l1_ratios"])
    low, high = (fmt_number(a) for a in settings["ridge_alphas"])
    return (
        f"**Cross-validated regularization paths**: the penalty of a Lasso, an elastic "
        f"net (l1_ratio among {ratios}) and a ridge chosen by {settings['folds']}-fold "
        f"cross-validation (contiguous folds) over {settings['n_alphas']} alphas, then "
        "refitted on all the rows, on the Lasso table's data. scikit-learn's `LassoCV` "
        "and `ElasticNetCV` at their defaults (their grid: from the alpha that zeroes "
        "every coefficient down to 1e-3 times it) and `RidgeCV` (alphas from "
        f"{high} to {low} times the training rows, in `Ridge`'s units; scored by the "
        "mean squared error as the others) against `fastgd.GDRegressorCV` on the same "
        "grids and folds: one pass makes every fold's triangular factor, every path "
        "and validation error is then exact on small problems, and the refit starts "
        "from their merge and is certified on the data. Each fastgd row's ratio is to "
        "its scikit-learn counterpart; w_exact(alpha) is the exact fit at the alpha "
        "(and l1_ratio) the row chose (`ElasticNet` on the Gram matrix at tol 1e-12, or "
        "`Ridge`):"
    )


def sgd_table(table):
    """One row per shape and contender: time, ratio to SGDRegressor, and accuracy
    against the least-squares solution (objectives in float64)."""
    header = (
        "| shape, dtype | contender | time | `SGDRegressor` time / time "
        "| epochs (updates) | last step per row | objective | gap to lstsq optimum "
        "| ‖w − w_lstsq‖ |"
    )
    lines = [header, "|---|---|---|---|---|---|---|---|---|"]
    for shape, dtype, contender, rec, ratio in _contender_rows(table, registry.SGD):
        s = rec["scores"]
        optimum = s["optimal_objective"]
        lines.append(
            f"| {shape.name} {dtype} | {contender.label} | {fmt_seconds(rec)}{_mark(rec)} | "
            f"{ratio} | {s['n_epochs']} ({s['n_updates']:,}) | {s['last_step_per_row']:.2g} | "
            f"{s['objective']:.6g} | {fmt_gap((s['objective'] - optimum) / optimum)} | "
            f"{s['coef_distance']:.1e} |"
        )
    return "\n".join(lines)


def sgd_caption(settings):
    epochs, batch_size = settings["epochs"], settings["batch_size"]
    eta0, power_t, batch_lr = (
        fmt_number(settings[key]) for key in ("eta0", "power_t", "batch_lr")
    )
    return (
        f"**Stochastic gradient descent**, {epochs} epochs for every contender: all "
        "minimise half the MSE with intercept, ‖Xw + b − y‖²/(2N), on the same float64 "
        "data (standardised features, y = Xw + 2 + noise of σ = 0.5; see "
        "`fastgd/bench/cases.py`) with the same schedule, step "
        f"lr/(1 + t)^{power_t} at update t. Nothing but the epoch count stops them "
        "(scikit-learn `tol=None`, fastgd `tol=0`). scikit-learn's "
        f'`SGDRegressor(penalty=None, learning_rate="invscaling", eta0={eta0}, '
        f"power_t={power_t})` and fastgd's `batch_size=1, lr={eta0}` make the same "
        "per-sample updates (the same coefficients to rounding without shuffling, as "
        "`tests/test_bench_cases.py` checks); here both shuffle every epoch, each "
        "with its own generator, so their results are statistically, not bitwise, "
        f"the same. fastgd's mini-batches of {batch_size} take lr = {batch_size} × "
        f"{eta0} = {batch_lr} (linear scaling: the per-sample start), so they make "
        f"{batch_size}× fewer updates per epoch and their schedule, which counts "
        "updates, ends at a larger step per row (the last update's step divided by "
        "the batch size): SGD's noise floor, the objective gap it ends at, grows with "
        "that step. Gap: (objective − optimum) / optimum, the optimum and w_lstsq "
        "from `np.linalg.lstsq` on [X, 1]:"
    )


def dask_table(table):
    """One row per contender: time, its time over fastgd's on 2 workers, accuracy."""
    kind = registry.DASK
    header = (
        "| shape | contender | time | time / fastgd's on 2 workers | iterations "
        "| objective gap to lstsq | client's memory growth |"
    )
    lines = [header, "|---|---|---|---|---|---|---|"]
    for shape, dtype, row in _rows(table, kind, need_baseline=False):
        base = row.get(kind.baseline.name)
        for contender in kind.contenders:
            if contender.name not in row:
                continue
            rec = row[contender.name]
            s = rec["scores"]
            ratio = fmt_ratio(rec["seconds"] / base["seconds"], rec) if base else "–"
            gap = (
                f"– (alpha_ = {s['alpha']:.3g})"
                if s.get("objective_gap") is None
                else fmt_gap(s["objective_gap"])
            )
            growth = s.get("client_growth")
            lines.append(
                f"| {shape.n_samples:,} × {shape.n_features} {dtype} | "
                f"{contender.label} | {fmt_seconds(rec)}{_mark(rec)} | {ratio} | "
                f"{s['n_iter']}{'' if s['reached'] else ' (gap not reached)'} | {gap} | "
                f"{'–' if growth is None else fmt_bytes(growth)} |"
            )
    return "\n".join(lines + ["", *dask_scheduling(table), *dask_on_paper(table)])


def dask_scheduling(table):
    """What Dask's scheduling alone costs the fit on 2 workers in this run, against
    the local fit's whole time (a paragraph under the table)."""
    kind = registry.DASK
    for _, _, row in _rows(table, kind, need_baseline=False):
        rec, local = row.get(kind.baseline.name), row.get("fastgd-local")
        seconds = rec and rec["scores"].get("scheduling_seconds")
        if not (seconds and local):
            continue
        return [
            f"Dask's scheduling alone, measured in the same run: the fit's two passes "
            f"(one `dask.compute` of one task per block each) with every task a no-op "
            f"took {fmt_time(seconds)} on the 2 workers (the fastest of "
            f"{probes.SCHEDULING_REPEATS}), "
            f"{seconds / local['seconds']:.2g}× the local fit's whole time, against "
            f"{fmt_time(rec['seconds'])} for the fit itself.",
            "",
        ]
    return []


def dask_on_paper(table):
    """What a pass over 10^10 rows on 100 workers would cost, from this run's
    per-block figures (on paper: a sentence under the table)."""
    kind = registry.DASK
    for shape, _, row in _rows(table, kind, need_baseline=False):
        rec = row.get(kind.baseline.name)
        if not rec or rec["scores"]["block_seconds"] is None:
            continue
        s = rec["scores"]
        per_row = s["block_seconds"] / s["block_rows"]
        rows_per_worker = 1e10 / 100
        blocks = 1e10 / s["block_rows"]
        levels = math.ceil(math.log(blocks, _data.MERGE_FAN_IN))
        return [
            f"On paper, from this run: a block's factor took {fmt_time(s['block_seconds'])} "
            f"for {s['block_rows']:,} rows on one worker thread ({1e9 * per_row:.0f} ns a "
            f"row). 10¹⁰ such rows on 100 workers of one thread are {rows_per_worker:.0e} "
            f"rows ({blocks:.0e} blocks) each: {rows_per_worker * per_row:.0f} s of factors "
            f"per worker, then {levels} levels of merges of {_data.MERGE_FAN_IN} factors "
            f"(each a scheduler round trip and microseconds of work), a second pass of "
            f"gradient sums for the certificate (a fraction of the first: no m² work per "
            f"row), and the iterations on the client on the {shape.n_features + 2}-row "
            f"compressed problem, whatever the number of rows. What reaches the client per "
            f"pass is one (D + 2) × (D + 2) factor and a few numbers per block."
        ]
    return []


def dask_caption(settings):
    return (
        f"**A fit on a Dask cluster**: a `distributed.LocalCluster` of worker processes "
        f"(one thread each) on this machine, X and y Dask arrays of {settings['blocks']} "
        f"row blocks persisted on the workers (standardised features, y = Xw + 2 + "
        f"noise; half the MSE with intercept). fastgd's default, `fastgd.fit(X, y)`, "
        f"computes each block's factor on its worker and iterates on the client "
        f"(iterations: CG's, on the compressed problem); its streaming solver makes "
        f"every CG iteration a pass over the persisted blocks, one task per block; "
        f"dask-ml's `LinearRegression` (C = {fmt_number(settings['dask_ml_C'])}: its "
        f"L2 penalty 1/C is negligible) runs each solver at the fewest iterations of a "
        f"ladder that reach the same accuracy as fastgd's default: a relative objective "
        f"gap of at most {fmt_number(settings['gap'])} to `np.linalg.lstsq`'s optimum. "
        f'`GDRegressorCV(penalty="l1")` chooses the Lasso\'s penalty by 5-fold '
        f"cross-validation over 100 alphas on the same arrays (each block's folds' "
        f"factors made on its worker in one pass, one more pass to certify the refit). "
        f"The client's memory growth is its peak RSS during the fit over its RSS "
        f"before."
        + (
            f" The {settings['large']} shape (2 GB) runs fastgd's two alone:"
            if "large" in settings
            else ":"
        )
    )


def fmt_bytes(n):
    """Bytes in MB or GB, 3 significant digits.

    Examples
    --------
    >>> fmt_bytes(3.36e8), fmt_bytes(1.7e9)
    ('336 MB', '1.7 GB')
    """
    return f"{n / 1e9:.3g} GB" if n >= 1e9 else f"{n / 1e6:.3g} MB"


def _processes_spread(seconds):
    """The spread of fresh processes' seconds (None without them, or for one)."""
    return timer.spread(seconds) if seconds and len(seconds) > 1 else None


def files_table(table):
    """One row per contender and file: rows per second, time over pyarrow's, memory."""
    kind = registry.FILES
    lines = [
        "| file | contender | rows / s | time | time / pyarrow's | peak RSS | RSS "
        "growth | coefficients vs lstsq |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for shape, _, row in _rows(table, kind, need_baseline=False):
        base = row.get(kind.baseline.name)
        for contender in kind.contenders:
            if contender.name not in row:
                continue
            s = row[contender.name]["scores"]
            spread = _processes_spread(s.get("all_seconds"))
            ratio = "–"
            if contender is kind.baseline:
                ratio = "1×"
            elif base:
                b = base["scores"]
                both = (
                    None
                    if spread is None or "all_seconds" not in b
                    else spread + _processes_spread(b["all_seconds"])
                )
                ratio = f"{s['seconds'] / b['seconds']:.3g}×{_spread(both)}"
            error = (
                f"– (alpha_ = {s['alpha']:.3g})"
                if "alpha" in s
                else "–"
                if "coef_error" not in s
                else (f"{s['coef_error']:.1e}" + ("" if s["converged"] else " (not converged)"))
            )
            lines.append(
                f"| {shape.n_samples:,} × {shape.n_features} + y "
                f"({fmt_bytes(s['file_bytes'])} file, {fmt_bytes(s['column_bytes'])} "
                f"as float64) | {contender.label} | {s['rows_per_second']:.3g} | "
                f"{fmt_time(s['seconds'])}{_spread(spread)} | {ratio} | "
                f"{fmt_bytes(s['peak_rss'])} | "
                f"{fmt_bytes(s['rss_growth'])} | {error} |"
            )
    return "\n".join(lines)


def files_caption(settings):
    return (
        f"**A fit of a Parquet file** (written by the run in row groups of "
        f"{settings['row_group']:,} rows, read from the page cache; "
        f"{_of_processes(settings, each=' each')}, every one warmed up on a small "
        f"file first): fastgd's fit of `fastgd.read_files` reads a block at a time "
        f"on Dask's threads, against pyarrow reading every row group into NumPy "
        f"arrays and doing nothing else (the limit), and against reading the whole "
        f"file and fitting the arrays; and fastgd's cross-validated Lasso of the same "
        f"file (5 contiguous folds, 100 alphas: one pass makes every fold's factor, one "
        f"more certifies the refit). Peak RSS is the process's; its growth is over "
        f"the warmed-up process (pyarrow, Dask and the kernels loaded). Coefficients: "
        f"relative distance of [w, b] to `np.linalg.lstsq`'s (the cross-validated "
        f"fit's alpha_ instead):"
    )


def _measured_seconds(record):
    """A case's time: the timer's, or what its processes measured (an untimed kind's,
    in its scores)."""
    seconds = record["seconds"]
    return record["scores"]["seconds"] if seconds is None else seconds


def _target_measured(target, table, bandwidth, dtype):
    """(value, as printed) of a target on this run, or None if it did not run."""
    row = table.get((target.kind, target.shape, dtype), {})
    times = [_measured_seconds(row[name]) for name in target.contenders if name in row]
    if not times:
        return None
    best = min(times)
    if target.measure == "seconds":
        return best, fmt_time(best)
    if target.measure == "speedup":
        base = row.get(target.against or registry.KINDS[target.kind].baseline.name)
        if not base:
            return None
        ratio = _measured_seconds(base) / best
        return ratio, f"{ratio:.3g}×"
    if target.measure == "bandwidth" and bandwidth:
        share = next(iter(row.values()))["bytes"] / best / bandwidth
        return share, f"{100 * share:.0f}%"
    return None


def targets_table(table, targets=registry.TARGETS):
    """The targets against this run's figures (best of each target's contenders)."""
    bandwidth = read_bandwidth(table)
    rows = []
    for target in targets:
        for dtype in target.dtypes:
            measured = _target_measured(target, table, bandwidth, dtype)
            if measured is not None:
                value, printed = measured
                met = value <= target.bound if target.at_most else value >= target.bound
                rows.append(
                    f"| {target.text.format(dtype=dtype)} | {printed} | "
                    f"{'met' if met else '**missed**'} |"
                )
    return "\n".join(["| target | measured | |", "|---|---|---|"] + rows) if rows else ""


def coldstart_table(table):
    kind = registry.COLDSTART
    empty_cache = {c.variant_of: c.name for c in kind.contenders if c.variant_of}
    lines = [
        (
            "| backend | `import fastgd` | first fit, fresh process "
            "| first fit, empty Numba cache |"
        ),
        "|---|---|---|---|",
    ]
    for _, _, row in _rows(table, kind, need_baseline=False):
        for contender in kind.contenders:
            warm, cold = row.get(contender.name), row.get(empty_cache.get(contender.name))
            if contender.variant_of or not (warm or cold):
                continue
            cells = [
                fmt_time(warm["scores"][key])
                + _spread(_processes_spread(warm["scores"].get(every)))
                if warm
                else "–"
                for key, every in (("import_s", "import_all"), ("first_fit_s", "first_fit_all"))
            ]
            cells.append(fmt_time(cold["scores"]["first_fit_s"]) if cold else "–")
            lines.append(f"| {contender.label} | {' | '.join(cells)} |")
    return "\n".join(lines)


def interrupt_table(table):
    kind = registry.INTERRUPT
    lines = [
        "| X | batch_size | " + " | ".join(c.label for c in kind.contenders) + " |",
        "|---|---|" + "---|" * len(kind.contenders),
    ]
    for shape, _, row in _rows(table, kind, need_baseline=False):
        cells = [
            ", ".join(f"{1e3 * s:.0f}" for s in row[c.name]["scores"]["latencies"]) + " ms"
            if c.name in row
            else "–"
            for c in kind.contenders
        ]
        lines.append(
            f"| {shape.n_samples:,} × {shape.n_features}, {shape.order} order | "
            f"{shape.batch_size or 'all rows'} | {' | '.join(cells)} |"
        )
    return "\n".join(lines)


def flag_note(table, kind, measurements):
    """The note under a table on its flagged figures: which, why, and the command
    that measures them again (empty if none is flagged)."""
    flagged = [
        (shape, dtype, contender, row[contender.name])
        for shape, dtype, row in _rows(table, kind, need_baseline=False)
        for contender in kind.contenders
        if contender.name in row and row[contender.name].get("flag")
    ]
    if not flagged:
        return []
    which = "; ".join(
        f"{shape.name} {dtype}, {contender.label}: {rec['flag']}"
        for shape, dtype, contender, rec in flagged
    )
    ids = ",".join(
        f"{kind.name}/{shape.name}/{dtype}/{contender.name}"
        for shape, dtype, contender, _ in flagged
    )
    return [
        f"{FLAG} Not to be relied on, nor the ratios they enter, in each of "
        f"{measurements} measurements of their row: {which}. Other work on the machine "
        "is the usual cause (the load average is under the tables); measure them again "
        f"on a quiet machine: `fastgd bench --cases {ids}`.",
        "",
    ]


def legend(results):
    """How the figures were taken: medians and spreads, or (a run that kept no
    rounds) the fastest round."""
    records = [rec for rec in results["results"] if rec.get("seconds") is not None]
    if not records:
        return []
    if not any("times" in rec for rec in records):
        return [
            "Times are the fastest of each case's rounds (this run kept no rounds, so no spread)."
        ]
    tolerance = fmt_spread(results.get("tolerance", TOLERANCE))
    return [
        "Times are the median of a case's rounds, ± half their interquartile range over "
        "the median (a time without ± is a single round); a ratio is that of two medians, "
        "± the sum of their spreads. A row's contenders are timed one after the other, its "
        "baseline's rounds half before and half after the others' (load that changes "
        "during the row widens their spread). A row whose rounds disagree (a spread over "
        f"{tolerance}), or whose kernel on all threads is more than twice as slow as on "
        f"one, is measured again, {results.get('measurements', 3)} times at most; {FLAG} "
        "marks what failed every time."
    ]


def load_note(results):
    """The load average while the run ran, against the machine's cores."""
    load = results.get("load_average")
    if not load:
        return []
    cores = results["machine"]["cores"]
    busy = max(load["start"][0], load["end"][0]) > 0.5 * cores
    return [
        f"Load average (1 min) at the start of the run {load['start'][0]:.2f}, at its end "
        f"{load['end'][0]:.2f}, on {cores} cores"
        + (
            ": other programs were running beside it, and its figures measure them too."
            if busy
            else "."
        )
    ]


def machine_note(results, bandwidth):
    machine = results["machine"]
    parts = [
        (
            f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['system']}; "
            f"Python {machine['python']}."
        ),
        "Versions: " + ", ".join(f"{k} {v}" for k, v in results["versions"].items()) + ".",
        f"Threads: {results['threads']}.",
    ]
    if bandwidth:
        smallest = min(
            rec["bytes"] for rec in results["results"] if rec["kind"] == registry.BANDWIDTH.name
        )
        parts.append(
            f"Streaming-read bandwidth measured in the same run: "
            f"{bandwidth / 1e9:.1f} GB/s (parallel sum of a {smallest >> 20} MB+ array)."
        )
    parts.append(f"Run on {results['datetime'][:19]} with `{results['command']}`.")
    return " ".join(parts + load_note(results) + results.get("notes", []))


def gradient_caption(settings):
    return (
        "**One gradient evaluation** (ratio = NumPy time / fastgd time; NumPy is "
        "`X.T.dot(X.dot(w) - y) / len(X)`; fastgd is the public `fastgd.gradient` call):"
    )


def fit_caption(settings):
    return (
        "**A whole fit**, the same iterations everywhere (fixed lr = 1/L, no intercept; "
        "ratio = NumPy loop time / contender time; scikit-learn's SGDRegressor runs the "
        "same number of epochs and lstsq is the direct solve, for reference):"
    )


def coldstart_caption(settings):
    return f"**Cold start** ({_of_processes(settings, best='best')}):"


def _of_processes(settings, best="the fastest", each=""):
    """Which of a kind's fresh processes its tables show: the median one, with their
    spread (a run recorded before: the fastest)."""
    if settings.get("statistic") == "median":
        return f"the median of {settings['repeats']} fresh processes{each}, ± their spread"
    return f"{best} of {settings['repeats']} fresh processes{each}"


def interrupt_caption(settings):
    delays = ", ".join(fmt_number(delay) for delay in settings["delays"])
    return (
        "**Ctrl-C latency**: milliseconds from a SIGINT to `fastgd.FitInterrupted` in a "
        f"fitting process, sent after {delays} s of fitting (one full-batch pass over X "
        "is never split, so the largest X sets the worst case):"
    )


# (kind, caption(the kind's settings), table(the run's index)), in the report's order.
SECTIONS = (
    ("gradient", gradient_caption, gradient_table),
    ("fit", fit_caption, fit_table),
    ("direct", direct_caption, direct_table),
    ("lasso", lasso_caption, lasso_table),
    ("cv", cv_caption, cv_table),
    ("sgd", sgd_caption, sgd_table),
    ("many", many_caption, many_table),
    ("dask", dask_caption, dask_table),
    ("files", files_caption, files_table),
    ("coldstart", coldstart_caption, coldstart_table),
    ("interrupt", interrupt_caption, interrupt_table),
)


def markdown(results, targets=False):
    """The report of a run: its tables with their captions, a note under a table on
    its flagged figures, how the figures were taken, and the footnote (machine,
    versions, threads, command, load, notes). ``targets``: the developers' targets
    after the speed tables (``benches/update_docs.py`` writes them into the docs;
    ``fastgd bench`` leaves them out of a user's report)."""
    table = index(results)
    kinds_run = {kind for kind, _, _ in table}
    settings = results.get("settings", {})
    measurements = results.get("measurements")
    parts = []
    for name, caption, make_table in SECTIONS:
        if name in kinds_run:
            parts += [
                caption(settings.get(name, {})),
                "",
                make_table(table),
                "",
                *flag_note(table, registry.KINDS[name], measurements),
            ]
        if targets and name == "many" and targets_table(table):
            parts += ["**Targets** (issue 10) against this run:", "", targets_table(table), ""]
    return "\n".join(
        parts
        + legend(results)
        + [""] * bool(legend(results))
        + [machine_note(results, read_bandwidth(table))]
    )


def plot(results, path):
    """The gradient's speedup over NumPy against problem size, as a PNG (matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kind = registry.GRADIENT
    table = index(results)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for contender, marker in zip(_columns(kind), "os^vD"):
        for dtype, style in zip(kind.dtypes, ("-", "--", ":")):
            points = [
                (shape.size, row[kind.baseline.name]["seconds"] / row[contender.name]["seconds"])
                for shape, dt, row in _rows(table, kind)
                if dt == dtype and contender.name in row
            ]
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, style, marker=marker, label=f"{contender.label} {dtype}")
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("problem size N·D")
    ax.set_ylabel("speedup over NumPy (one gradient)")
    ax.set_title("fastgd.gradient vs X.T.dot(X.dot(w) - y) / len(X)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_or_note(results, path):
    """Write the plot and return its path; without gradient cases or matplotlib,
    say why on the terminal and return None."""
    if not any(rec["kind"] == registry.GRADIENT.name for rec in results["results"]):
        return None
    try:
        import matplotlib  # noqa: F401  (only the bench extra installs it)
    except ImportError:
        print(
            f"\nNo {Path(path).name}: matplotlib is not installed (it comes with the "
            'bench extra: python -m pip install -e ".[bench]" in fastgd\'s source checkout).'
        )
        return None
    plot(results, path)
    return Path(path)
