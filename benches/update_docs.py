"""Write a benchmark run's tables into the documentation: a developer tool of the
source checkout, not part of the installed package.

    fastgd bench --full --out fastgd-bench       # the run: bench.json, speedup.png
    python -m benches.update_docs fastgd-bench   # its tables into the docs

From the run's ``bench.json`` it writes:

* ``docs/benchmarks.md``, between ``<!-- bench:start -->`` and ``<!-- bench:end -->``:
  every table of the run, as ``fastgd bench`` printed them (``fastgd.bench.report``),
  and the developers' targets (issue 10) met and missed, which ``fastgd bench``
  leaves out of a user's report;
* ``README.md``, between ``<!-- summary:start -->`` and ``<!-- summary:end -->``: one
  summary table, a row per kind of fit (``summary``);
* ``docs/speedup.png``: the run's plot (drawn again from the JSON if the run wrote
  none, which needs matplotlib);
* ``docs/_data/bench.json``: the run itself, from which ``tests/test_docs.py``
  renders the tables again to check that the pages hold exactly them.

``python -m benches.update_docs --estimates RUN [RUN ...]`` writes something else: the
seconds each case of the runs took, into ``fastgd/bench/estimates.json``, from which
``fastgd bench`` says how long it will take before it starts (``cases.ESTIMATES``),
and the benchmarks page's sentence on how long the runs take, between its
``estimate`` markers. A quick run records the quick run's estimates, a ``--full`` run
the full one's (their time budgets differ); a run of some cases replaces only theirs.
Record them from runs on a quiet machine.

``python -m benches.update_docs --targets RUN`` prints the targets of any run (a
quick one, or some cases only) and writes nothing.

``python -m benches.update_docs docs/_data/bench.json`` renders the stored run again
(after a change of the tables' format), keeping its plot.

``splice`` is also what ``benches/accuracy.py --update-docs`` and
``benches/loop_cost.py --update-docs`` write their tables with.
"""

import argparse
import json
import re
import shutil
from pathlib import Path

from fastgd.bench import cases as registry
from fastgd.bench import report

ROOT = Path(__file__).resolve().parents[1]  # the source checkout
README = ROOT / "README.md"
DOCS = ROOT / "docs"
BENCHMARKS_PAGE = DOCS / "benchmarks.md"
PLOT = DOCS / "speedup.png"
RUN = DOCS / "_data" / "bench.json"
ESTIMATES = ROOT / "fastgd" / "bench" / "estimates.json"


def splice(path, text, name):
    """Replace what lies between ``<!-- name:start -->`` and ``<!-- name:end -->`` in
    the file at ``path`` with ``text``."""
    content = Path(path).read_text()
    pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.DOTALL)
    if not pattern.search(content):
        raise SystemExit(f"{path} has no <!-- {name}:start --> / <!-- {name}:end --> markers")
    Path(path).write_text(
        pattern.sub(lambda m: m.group(1) + text.rstrip("\n") + "\n" + m.group(2), content)
    )


def between(path, name):
    """The text between a file's ``name`` markers (what ``splice`` wrote there)."""
    match = re.search(
        rf"<!-- {name}:start -->\n(.*?)\n?<!-- {name}:end -->", Path(path).read_text(), re.DOTALL
    )
    if not match:
        raise ValueError(f"{path} has no <!-- {name}:start --> / <!-- {name}:end --> markers")
    return match.group(1)


# The README's summary: per kind, the contender shown (fastgd's default backend, or
# the default solver) and what the row says it is. The shape is the largest of the
# kind that the run measured in float64; the ratio is against the kind's baseline.
SUMMARY = (
    (registry.GRADIENT, "cython", "one gradient evaluation (`fastgd.gradient`)"),
    (registry.DIRECT, "cython", "a least-squares fit, defaults (exact solve, certified)"),
    (
        registry.LASSO,
        "gram",
        f"a Lasso fit to a relative duality gap of {report.fmt_number(registry.LASSO_GAP)}",
    ),
    (
        registry.CV,
        "fastgd-lassocv",
        f"a Lasso's alpha by {registry.CV_FOLDS}-fold cross-validation over "
        f"{registry.CV_ALPHAS} alphas (`GDRegressorCV`)",
    ),
    (registry.SGD, "cython", f"per-sample SGD, the same {registry.SGD_EPOCHS} epochs"),
    (registry.MANY, "cython", "many small fits in one call (`fastgd.fit_many`)"),
)


def _shape_text(shape):
    """'1e6x100' as 1,000,000 × 100; fit_many's '1e4x50x5' as 10,000 problems of 50×5."""
    if shape.name in registry.MANY_PROBLEMS:
        rows, columns = shape.name.split("x")[1:]
        return f"{registry.MANY_PROBLEMS[shape.name]:,} problems of {rows}×{columns}"
    return f"{shape.n_samples:,} × {shape.n_features}"


def summary(results):
    """The README's table: one row per kind of ``SUMMARY`` that the run measured."""
    table = report.index(results)
    lines = ["| task | data | fastgd | against | its time ÷ fastgd's |", "|---|---|---|---|---|"]
    for kind, name, task in SUMMARY:
        rows = [
            (shape, row)
            for shape, dtype, row in report._rows(table, kind)
            if dtype == "float64" and name in row
        ]
        if not rows:
            continue
        shape, row = max(rows, key=lambda item: item[0].size)
        contender = next(c for c in kind.contenders if c.name == name)
        base, ours = row[kind.baseline.name]["seconds"], row[name]["seconds"]
        label = (
            contender.label
            if contender.label.startswith("fastgd")
            else (f"fastgd {contender.label}")
        )
        lines.append(
            f"| {task} | {_shape_text(shape)} float64 | {label}: "
            f"{report.fmt_time(ours)} | {kind.baseline.label}: "
            f"{report.fmt_time(base)} | {base / ours:.3g}× |"
        )
    machine = results["machine"]
    lines += [
        "",
        f"One run of `{results['command']}` on {machine['cpu']}, {machine['cores']} "
        f"cores, {results['datetime'][:10]}; every table, both backends, the "
        "targets met and missed: [Benchmarks](docs/benchmarks.md).",
    ]
    return "\n".join(lines)


def read_run(path):
    """The run's results, from its bench.json or the directory that holds it."""
    path = Path(path)
    json_path = path / "bench.json" if path.is_dir() else path
    results = json.loads(json_path.read_text())
    if "--cases" in results["command"]:
        raise SystemExit(
            f"{json_path} is a run of some cases only ({results['command']}): "
            "the documentation's tables come from a whole run, "
            "fastgd bench --full"
        )
    return json_path, results


def benchmarks_page(results):
    """What the benchmarks page holds between its markers: the report, targets included."""
    return report.markdown(results, targets=True)


def targets(run_path):
    """The targets table of any run (its bench.json or --out directory)."""
    path = Path(run_path)
    results = json.loads((path / "bench.json" if path.is_dir() else path).read_text())
    table = report.targets_table(report.index(results))
    return table or f"No target's case ran in `{results['command']}`."


def estimates_from(results):
    """(the run's mode, {"measured", "cases", "data"}): each case's seconds and each
    row's seconds of building its data, as the run recorded them."""
    cases = {
        f"{r['kind']}/{r['shape']}/{r['dtype']}/{r['contender']}": round(r["wall_seconds"], 3)
        for r in results["results"]
        if r.get("wall_seconds") is not None
    }
    if not cases:
        raise SystemExit(
            f"`{results['command']}` of {results['datetime'][:10]} recorded no "
            "case's seconds (fastgd bench records them since issue 27)"
        )
    machine, load = results["machine"], results.get("load_average")
    measured = f"{machine['cpu']}, {machine['cores']} cores, {results['datetime'][:10]}" + (
        f", load average {load['start'][0]:.2f} at the start" if load else ""
    )
    data = {row: round(seconds, 3) for row, seconds in results.get("data_seconds", {}).items()}
    mode = "full" if "--full" in results["command"] else "quick"
    return mode, {"measured": measured, "cases": cases, "data": data}


def estimates_text(estimates):
    """The benchmarks page's sentence on how long the runs take, from the estimates
    (what ``fastgd bench`` announces), between the page's ``estimate`` markers."""
    from fastgd.bench import run

    parts = []
    for full, what in ((False, "the quick shapes"), (True, "every shape (`--full`)")):
        entry = estimates.get(run.run_mode(full))
        if not entry:
            parts.append(f"{what}: not recorded yet")
            continue
        seconds, unrecorded = run.expected_seconds(run.select(full=full), full, estimates)
        missing = f", {len(unrecorded)} cases not recorded" if unrecorded else ""
        parts.append(
            f"{what} about {run.fmt_duration(seconds, up=True)} (recorded on "
            f"{entry['measured']}{missing})"
        )
    return (
        "Before it starts, `fastgd bench` says how long it will take, adding up the "
        "seconds each of its cases took when they were recorded "
        "(`fastgd/bench/estimates.json`, written by `python -m benches.update_docs "
        f"--estimates RUN` from a run on a quiet machine): {'; '.join(parts)}. A busy or "
        "slower machine takes longer, and so does the first run after installing, while "
        "Numba compiles its kernels."
    )


def update_estimates(run_paths, path=ESTIMATES, page=None):
    """Merge the runs' seconds into the estimates file at ``path``: each run replaces
    the entries of the cases it ran, in its mode. With ``page``, write the sentence on
    how long the runs take there (``estimates_text``)."""
    path = Path(path)
    estimates = json.loads(path.read_text()) if path.is_file() else {}
    for run_path in run_paths:
        run = Path(run_path)
        results = json.loads((run / "bench.json" if run.is_dir() else run).read_text())
        mode, recorded = estimates_from(results)
        load, cores = results.get("load_average"), results["machine"]["cores"]
        if load and max(load["start"][0], load["end"][0]) > 0.5 * cores:
            print(
                f"{run_path}: the machine was busy (load average {load['start'][0]:.2f} at "
                f"the start, {load['end'][0]:.2f} at the end, {cores} cores): its seconds "
                "are longer than a quiet machine's"
            )
        entry = estimates.setdefault(mode, {"measured": "", "cases": {}, "data": {}})
        entry["measured"] = recorded["measured"]
        entry["cases"].update(recorded["cases"])
        entry["data"].update(recorded["data"])
    path.write_text(json.dumps(estimates, indent=1, sort_keys=True) + "\n")
    if page:
        splice(page, estimates_text(estimates), "estimate")


def update(run_path, root=ROOT):
    """Write the run's tables, plot and JSON into the checkout at ``root``."""
    json_path, results = read_run(run_path)
    docs = Path(root) / "docs"
    splice(docs / BENCHMARKS_PAGE.name, benchmarks_page(results), "bench")
    splice(Path(root) / README.name, summary(results), "summary")
    png = json_path.parent / "speedup.png"
    stored = json_path.resolve() == (docs / "_data" / RUN.name).resolve()
    if png.is_file():
        shutil.copyfile(png, docs / PLOT.name)
    elif not (stored and (docs / PLOT.name).is_file()):  # (the stored run's plot is there)
        report.plot(results, docs / PLOT.name)  # needs matplotlib (the bench extra)
    (docs / "_data").mkdir(exist_ok=True)
    if not stored:
        shutil.copyfile(json_path, docs / "_data" / RUN.name)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", nargs="+", help="fastgd bench's --out directory, or its bench.json")
    what = parser.add_mutually_exclusive_group()
    what.add_argument(
        "--targets",
        action="store_true",
        help="print the run's targets met and missed, write nothing",
    )
    what.add_argument(
        "--estimates",
        action="store_true",
        help=f"write the runs' seconds per case into {ESTIMATES.relative_to(ROOT)} "
        "(fastgd bench's estimate), not the docs",
    )
    args = parser.parse_args(argv)
    if args.estimates:
        update_estimates(args.run, page=BENCHMARKS_PAGE)
        print(
            f"Written: {ESTIMATES.relative_to(ROOT)}, {BENCHMARKS_PAGE.relative_to(ROOT)} "
            "(how long the runs take)"
        )
        return
    if len(args.run) > 1:
        parser.error("the docs are written from one run")
    if args.targets:
        print(targets(args.run[0]))
        return
    update(args.run[0])
    print(
        f"Written: {BENCHMARKS_PAGE.relative_to(ROOT)}, {README.name} (summary), "
        f"{PLOT.relative_to(ROOT)}, {RUN.relative_to(ROOT)}"
    )


if __name__ == "__main__":
    main()
