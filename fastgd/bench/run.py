"""Run the registry's cases (``fastgd bench``) and record them.

A case is one contender of one kind on one shape and dtype (``fastgd/bench/cases.py``);
its id, ``kind/shape/dtype/contender`` (``gradient/1e4x20/float64/numba``), is what
``--cases`` matches. The cases of one shape and dtype, a row of the report, share
their data, built once. A timed row's contenders are warmed up, then timed one after
the other, the baseline's rounds split around the others' (``measure_row``); a row
whose rounds disagree is measured again, ``MEASUREMENTS`` times at most, and flagged
in bench.json and the report if they still do. Every result is assessed outside the
timing.
"""

import datetime
import fnmatch
import importlib
import importlib.metadata
import itertools
import math
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import fastgd
from fastgd.bench import cases as registry
from fastgd.bench import probes, quiet, report, timer

QUICK_MAX_TIME = 0.1  # seconds of rounds per timed case, at least 3 rounds
FULL_MAX_TIME = 0.5
WARMUP_ROWS = 1000  # a single-round (slow) case warms up on this many rows
# Fixed rounds of a call whose warm-up took less than this take as many calls per round
# as make a round of the timer's MIN_ROUND_TIME (found by calling it: a few rounds' time)
CALIBRATE_BELOW = 0.01
MEASUREMENTS = 3  # a row whose rounds disagree is measured this many times at most
# The announced time is the recorded one (cases.ESTIMATES) times this: the same run on a
# quiet machine takes a few percent more or less from one time to the next.
ESTIMATE_MARGIN = 1.15
UNRECORDED_CASE_SECONDS = 5.0  # a case the estimates do not hold yet (a new one)


@dataclass(frozen=True)
class Case:
    kind: registry.Kind
    shape: registry.Shape
    dtype: str
    contender: registry.Contender

    @property
    def id(self):
        return f"{self.kind.name}/{self.shape.name}/{self.dtype}/{self.contender.name}"


def matches(case_id, pattern):
    """A pattern names a case or a prefix of its id, with shell wildcards:
    ``fit``, ``gradient/4x2``, ``*/1e4x20/float32``, ``lasso/*/*/gram``."""
    return fnmatch.fnmatchcase(case_id, pattern) or fnmatch.fnmatchcase(case_id, pattern + "/*")


def select(patterns=None, full=False):
    """The cases to run, in registry order: those matching any of ``patterns`` (all
    without), and the baseline of each selected shape and dtype of a timed kind (the
    ratios' denominator). Slow shapes and contenders only with ``full``.

    Examples
    --------
    >>> [case.id for case in select(["gradient/4x2/float64/cython"])]
    ['gradient/4x2/float64/numpy', 'gradient/4x2/float64/cython']
    """
    every = [Case(*c) for c in registry.cases(full=full)]
    chosen = {c.id for c in every if not patterns or any(matches(c.id, p) for p in patterns)}
    if not chosen:
        raise SystemExit(
            f"fastgd bench: no case matches {', '.join(patterns)} (ids are "
            "kind/shape/dtype/contender, e.g. gradient/4x2/float64/numba; "
            f"kinds: {', '.join(registry.KINDS)}; slow shapes need --full)"
        )
    groups = {_group(c) for c in every if c.id in chosen and c.kind.timed}
    return [
        c
        for c in every
        if c.id in chosen or (c.contender is c.kind.baseline and _group(c) in groups)
    ]


def _group(case):
    return case.kind.name, case.shape.name, case.dtype


def unavailable(case):
    """Why a case cannot run here (a backend, or a module its contender or its kind's
    assessment needs, is missing), or None."""
    backend = case.contender.backend
    if backend and backend not in fastgd.available_backends():
        return f"fastgd's {backend} backend is not installed here"
    for module in case.kind.requires + case.contender.requires:
        try:
            importlib.import_module(module)
        except ImportError:
            return (
                f"{module} is not installed (it comes with the bench extra: "
                '`python -m pip install -e ".[bench]"` in fastgd\'s source checkout)'
            )
    return None


def rounds_of(case):
    """The case's fixed number of rounds, or None: as many as the time budget allows."""
    return case.kind.slow_rounds if case.shape.slow else case.kind.rounds


def warm_up(case, data):
    """The case's ``run``, warmed up (compiled, caches warm, outside any timing), and
    the calls per round of its fixed rounds: enough that a round lasts the timer's
    ``MIN_ROUND_TIME`` (None for rounds by time budget: the timer finds them)."""
    run = case.contender.setup(data)
    rounds = rounds_of(case)
    if rounds == 1:
        # One round of seconds: warm up (compile Numba, should this case run on its
        # own) on a slice of the same data, not on a whole round.
        case.contender.setup(data.head(WARMUP_ROWS))()
        return run, 1
    if case.contender.warmed_by_setup and rounds is not None:
        return run, 1  # (its setup made the same call: seconds, most likely)
    start = time.perf_counter()
    run()  # compilation itself is the coldstart kind's measurement
    if rounds is None or time.perf_counter() - start > CALIBRATE_BELOW:
        return run, None if rounds is None else 1
    return run, timer.calls_per_round(run)[0]  # (the first call is no guide: 8x slower)


def prepare(case, data):
    """The case's ``run``, warmed up (``warm_up``)."""
    return warm_up(case, data)[0]


@dataclass(frozen=True)
class RowTiming:
    """A row's contenders timed: what ``time_row`` kept."""

    timings: dict  # contender name -> Timing
    results: dict  # contender name -> what its last call returned
    reasons: dict  # contender name -> why its rounds disagree, in every measurement
    measurements: int  # how many times the row was measured


def measure_row(runs, baseline=None, rounds=None, max_time=QUICK_MAX_TIME, numbers=None):
    """One measurement of a row (contender name -> warmed-up run): each contender's
    rounds in a row, one contender after the other. The baseline's rounds are split,
    half before the others and half after them: load that comes or goes while the
    row is measured widens the baseline's spread, so the ratios' (``timer``).
    ``numbers``: calls per round of fixed rounds, by name (``warm_up``'s). Returns
    {name: (Timing, what its last call returned)}, the baseline first."""
    numbers = numbers or {}

    def timed(name, run, **budget):
        if rounds is None:
            return timer.time_calls(run, **{"max_time": max_time, **budget})
        return timer.time_calls(run, **{"rounds": rounds, "number": numbers.get(name), **budget})

    others = {name: run for name, run in runs.items() if name != baseline}
    if baseline not in runs or not others or rounds == 1:
        return {name: timed(name, run) for name, run in runs.items()}
    base = runs[baseline]
    if rounds is None:
        before, _ = timed(baseline, base, max_time=max_time / 2, min_rounds=2)
        rest = {name: timed(name, run) for name, run in others.items()}
        after, result = timed(
            baseline, base, max_time=max_time / 2, min_rounds=2, number=before.number
        )
    else:
        before, _ = timed(baseline, base, rounds=(rounds + 1) // 2)
        rest = {name: timed(name, run) for name, run in others.items()}
        after, result = timed(baseline, base, rounds=rounds // 2)
    return {baseline: (timer.Timing(before.times + after.times, before.number), result), **rest}


def time_row(
    runs,
    baseline=None,
    rounds=None,
    max_time=QUICK_MAX_TIME,
    retrying=None,
    numbers=None,
    check=None,
):
    """Time a row (``measure_row``); while some of its rounds disagree
    (``timer.disagreements``), or its kind's ``check`` of the medians finds them
    implausible, measure it again, at most ``MEASUREMENTS`` times in all. Kept: the
    first measurement that passes, or the one of least spread. ``retrying(measurement,
    reasons)`` is told before each new measurement (the progress bar says so)."""
    kept = None
    for measurement in range(1, MEASUREMENTS + 1):
        timed = measure_row(runs, baseline, rounds, max_time, numbers)
        times = {name: timing.times for name, (timing, _) in timed.items()}
        reasons = timer.disagreements(times)
        if check:
            medians = {name: timing.median for name, (timing, _) in timed.items()}
            reasons = {**check(medians), **reasons}
        worst = max(timer.spread(each) for each in times.values())
        if kept is None or worst < kept[0]:
            kept = worst, timed, reasons
        if not reasons:
            break
        if measurement < MEASUREMENTS and retrying:
            retrying(measurement + 1, reasons)
    _, timed, reasons = kept
    return RowTiming(
        {name: timing for name, (timing, _) in timed.items()},
        {name: result for name, (_, result) in timed.items()},
        reasons,
        measurement,
    )


def record(case, scores, timing=None, row=None, base=None, wall=None):
    """One case's entry in the results' JSON (``timing``: its Timing in ``row``, the
    RowTiming it was measured in; ``base``: the baseline's Timing, for the ratio)."""
    shape = case.shape
    name = case.contender.name
    entry = {
        "kind": case.kind.name,
        "shape": shape.name,
        "n_samples": shape.n_samples,
        "n_features": shape.n_features,
        "dtype": case.dtype,
        "contender": name,
        "bytes": shape.size * np.dtype(case.dtype).itemsize,
        # Seconds per call (None: not timed): the median of the rounds (the report's
        # figure), the fastest round, and every round's.
        "seconds": None,
        "best": None,
        "times": None,
        "rounds": None,
        "number": None,
        "spread": None,  # of the rounds: half their interquartile range / the median
        "ratio_spread": None,  # of "baseline time / this time": the two spreads' sum
        "measurements": None,  # how many times the row was measured
        "flag": None,  # why its rounds disagree after every measurement, or None
        "wall_seconds": wall,  # of the run spent on this case (its estimate's source)
        "scores": scores,
    }
    if timing is not None:
        entry.update(
            seconds=timing.median,
            best=timing.best,
            times=list(timing.times),
            rounds=timing.rounds,
            number=timing.number,
            spread=timing.spread,
            measurements=row.measurements,
            flag=row.reasons.get(name),
        )
        if base is not None and name != case.kind.baseline.name:
            entry["ratio_spread"] = timer.ratio_spread(base.times, timing.times)
    return entry


class Progress:
    """A tqdm bar over the cases when tqdm is installed, else one line per step."""

    def __init__(self, total):
        self.total, self.done = total, 0
        try:
            from tqdm import tqdm
        except ImportError:
            self.bar = None
        else:
            self.bar = tqdm(total=total, unit="case", file=sys.stderr, dynamic_ncols=True)

    def start(self, label):
        if self.bar is None:
            print(f"[{self.done + 1}/{self.total}] {label}", file=sys.stderr, flush=True)
        else:
            self.bar.set_postfix_str(label)

    def finish(self, cases=1):
        self.done += cases
        if self.bar is not None:
            self.bar.update(cases)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def run_cases(cases, max_time=QUICK_MAX_TIME):
    """Run ``cases`` in order: (records, notes on what was not run and why, seconds
    spent building each row's data by ``kind/shape/dtype``)."""
    records, skipped, data_seconds = [], {}, {}
    progress = Progress(len(cases))
    with quiet.quiet_dependencies():  # (what Dask, distributed and pandas say: not ours)
        try:
            for _, group in itertools.groupby(cases, key=_group):
                records += _run_group(list(group), max_time, progress, skipped, data_seconds)
        finally:
            progress.close()
            probes.close_dask_clusters()  # (their shutdown is as quiet as their run)
    notes = [f"Not run, as {why}: {', '.join(names)}." for why, names in skipped.items()]
    return records, notes, data_seconds


def group_id(case):
    return "/".join(_group(case))


def _run_group(group, max_time, progress, skipped, data_seconds):
    """The cases of one kind, shape and dtype, on data built once; adds the
    contenders that cannot run to ``skipped`` (reason -> names)."""
    first = group[0]
    kind = first.kind
    start = time.perf_counter()
    data = kind.make_data(first.shape, first.dtype)
    data_seconds[group_id(first)] = time.perf_counter() - start
    runnable = []
    for case in group:
        reason = unavailable(case)
        if reason:
            names = skipped.setdefault(reason, [])
            name = f"{case.kind.name}/{case.contender.name}"
            if name not in names:
                names.append(name)
            progress.finish()
        else:
            runnable.append(case)
    if not kind.timed:
        return [_measured(case, data, progress) for case in runnable]
    if kind.warm_up_together:
        return _row(runnable, data, max_time, progress)
    return _one_by_one(runnable, data, max_time, progress)


def _measured(case, data, progress):
    """A case of a kind that is not timed: one call, which measures and returns."""
    progress.start(case.id)
    start = time.perf_counter()
    result = case.contender.setup(data)()
    scores = case.kind.assess(data, result, None)
    progress.finish()
    return record(case, scores, wall=time.perf_counter() - start)


def _retrying(progress, label):
    def tell(measurement, reasons):
        progress.start(
            f"{label}: rounds disagree ({', '.join(reasons)}), "
            f"measuring again ({measurement} of {MEASUREMENTS})"
        )

    return tell


def _row(cases, data, max_time, progress):
    """Warm every contender up, time the row, then assess each (the baseline first:
    the others' agreement is measured against its result)."""
    if not cases:
        return []
    kind, baseline = cases[0].kind, cases[0].kind.baseline.name
    runs, numbers, wall = {}, {}, {}
    for case in cases:
        progress.start(f"{case.id}: warm-up")
        start = time.perf_counter()
        name = case.contender.name
        runs[name], numbers[name] = warm_up(case, data)
        wall[case] = time.perf_counter() - start
    label = group_id(cases[0])
    progress.start(f"{label}: timing {len(cases)} contenders")
    start = time.perf_counter()
    row = time_row(
        runs,
        baseline,
        rounds_of(cases[0]),
        max_time,
        retrying=_retrying(progress, label),
        numbers=numbers,
        check=kind.check,
    )
    timing_seconds = time.perf_counter() - start
    # Each case's share of the row's timing: in proportion to its rounds' seconds.
    timed = {name: sum(t.times) * t.number for name, t in row.timings.items()}
    total = sum(timed.values()) or 1.0
    base_result = row.results.get(baseline)
    records = []
    for case in cases:
        name = case.contender.name
        start = time.perf_counter()
        scores = kind.assess(data, row.results[name], base_result)
        wall[case] += time.perf_counter() - start + timing_seconds * timed[name] / total
        records.append(
            record(case, scores, row.timings[name], row, row.timings.get(baseline), wall[case])
        )
    progress.finish(len(cases))
    return records


def _one_by_one(cases, data, max_time, progress):
    """A kind whose contenders cannot all be set up before the row is timed (Dask's: a
    contender's setup may close the cluster of the one before): each is prepared,
    timed (and measured again while its own rounds disagree) before the next."""
    records, base, base_result = [], None, None
    for case in cases:
        progress.start(case.id)
        start = time.perf_counter()
        name = case.contender.name
        run, number = warm_up(case, data)
        row = time_row(
            {name: run},
            None,
            rounds_of(case),
            max_time,
            retrying=_retrying(progress, case.id),
            numbers={name: number},
        )
        timing, result = row.timings[name], row.results[name]
        if case.contender is case.kind.baseline:
            base, base_result = timing, result
        scores = case.kind.assess(data, result, base_result)
        records.append(record(case, scores, timing, row, base, time.perf_counter() - start))
        progress.finish()
    return records


def run_mode(full):
    """The estimates' key: the quick run and the full one have different budgets."""
    return "full" if full else "quick"


def expected_seconds(cases, full=False, estimates=None):
    """How long running ``cases`` should take: the seconds recorded for each case and
    each row's data (``cases.ESTIMATES``), times ``ESTIMATE_MARGIN``; and the ids of
    the cases without a record (counted as ``UNRECORDED_CASE_SECONDS`` each).

    Examples
    --------
    >>> chosen = select(["gradient/4x2/float64/cython"])
    >>> recorded = {"quick": {"cases": {"gradient/4x2/float64/numpy": 1.0},
    ...                       "data": {"gradient/4x2/float64": 0.2}}}
    >>> seconds, unrecorded = expected_seconds(chosen, estimates=recorded)
    >>> round(seconds / ESTIMATE_MARGIN, 6), unrecorded
    (6.2, ['gradient/4x2/float64/cython'])
    """
    recorded = (registry.ESTIMATES if estimates is None else estimates).get(run_mode(full), {})
    per_case, per_row = recorded.get("cases", {}), recorded.get("data", {})
    unrecorded = [case.id for case in cases if case.id not in per_case]
    seconds = sum(per_case.get(case.id, UNRECORDED_CASE_SECONDS) for case in cases)
    seconds += sum(per_row.get(row, 0.0) for row in {group_id(case) for case in cases})
    return seconds * ESTIMATE_MARGIN, unrecorded


def fmt_duration(seconds, up=False):
    """Minutes and seconds; ``up``: rounded up, to 10 s under 10 minutes, to the
    minute above (an estimate).

    Examples
    --------
    >>> fmt_duration(41.3), fmt_duration(41.3, up=True), fmt_duration(110.2, up=True)
    ('41 s', '50 s', '2 min')
    >>> fmt_duration(101.7), fmt_duration(1261, up=True)
    ('1 min 42 s', '22 min')
    """
    step = (60 if seconds > 600 else 10) if up else 1
    whole = step * math.ceil(seconds / step) if up else round(seconds)
    minutes, rest = divmod(whole, 60)
    if not minutes:
        return f"{rest} s"
    return f"{minutes} min" + (f" {rest} s" if rest else "")


def load_average():
    """The 1, 5 and 15 minute load averages (None where the system has none)."""
    try:
        return list(os.getloadavg())
    except (AttributeError, OSError):
        return None


def announcement(cases, full, load):
    """What ``fastgd bench`` says before it starts: how long it will take, and
    whether the machine is busy."""
    seconds, unrecorded = expected_seconds(cases, full)
    recorded = registry.ESTIMATES.get(run_mode(full), {})
    where = recorded.get("measured")
    lines = [
        f"fastgd bench: {len(cases)} cases, expected to take about "
        f"{fmt_duration(seconds, up=True)}"
        + (
            f" (each case's time as recorded on {where}; more on a busy or slower "
            "machine, and on the first run after installing, when Numba compiles its "
            "kernels)."
            if where
            else "."
        )
    ]
    if unrecorded:
        lines.append(
            f"({len(unrecorded)} of them have no recorded time yet: counted as "
            f"{UNRECORDED_CASE_SECONDS:g} s each.)"
        )
    cores = os.cpu_count() or 1
    if load and load[0] > 0.5 * cores:
        lines.append(
            f"The load average is {load[0]:.2f} on {cores} cores: other programs are "
            "running (or were, in the last minute). They slow the run down and enter "
            "its figures; rows whose rounds disagree are measured again "
            f"({MEASUREMENTS} times at most) and flagged {report.FLAG}."
        )
    return "\n".join(lines)


def environment():
    """What the report's footnote says about the machine, versions and threads."""
    import numba

    versions = {"fastgd": fastgd.__version__, "numpy": np.__version__, "numba": numba.__version__}
    try:  # without importing it (a second or more), for a run without its contenders
        versions["scikit-learn"] = importlib.metadata.version("scikit-learn")
    except importlib.metadata.PackageNotFoundError:
        pass
    versions["python"] = platform.python_version()
    return {
        "machine": {
            "cpu": _cpu_name(),
            "cores": os.cpu_count(),
            "system": platform.system(),
            "python": platform.python_version(),
        },
        "versions": versions,
        "threads": _threads(numba.get_num_threads()),
    }


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _threads(numba_threads):
    try:
        import threadpoolctl
    except ImportError:
        return f"numba {numba_threads} (threadpoolctl is not installed: OpenMP and BLAS unknown)"
    libraries = threadpoolctl.threadpool_info()

    def of(api):
        return (
            ", ".join(
                f"{lib['prefix']} {lib['version'] or ''}".rstrip()
                + f" ({lib['num_threads']} threads)"
                for lib in libraries
                if lib["user_api"] == api
            )
            or "none loaded"
        )

    # OpenMP is what the Cython kernels' prange runs on, once they have been loaded.
    return f"numba {numba_threads}, OpenMP: {of('openmp')}, NumPy's BLAS: {of('blas')}"


def results_json(records, notes, selected, command, data_seconds=None, timing=None):
    """The run as written to bench.json: every record, and what the report needs
    (``timing``: the run's expected and actual seconds and its load averages)."""
    kinds = {case.kind.name: case.kind for case in selected}
    return {
        "command": command,
        "datetime": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        **environment(),
        **(timing or {}),
        "settings": {name: kind.settings for name, kind in kinds.items() if kind.settings},
        "tolerance": timer.TOLERANCE,  # the largest spread of rounds that agree
        "measurements": MEASUREMENTS,  # times a row whose rounds disagree is measured
        "notes": notes,
        "data_seconds": data_seconds or {},  # building each row's data, by kind/shape/dtype
        "results": records,
    }


def command_line(args):
    parts = ["fastgd bench"] + (["--full"] if args.full else [])
    if args.cases:
        parts.append(f"--cases {','.join(args.cases)}")
    return " ".join(parts)


def main(args):
    """``fastgd bench`` with the parsed arguments of ``fastgd._cli``."""
    selected = select(args.cases, args.full)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start_load = load_average()
    print(announcement(selected, args.full, start_load), flush=True)
    start = time.perf_counter()
    records, notes, data_seconds = run_cases(
        selected, FULL_MAX_TIME if args.full else QUICK_MAX_TIME
    )
    took = time.perf_counter() - start
    expected, _ = expected_seconds(selected, args.full)
    timing = {
        "expected_seconds": expected,
        "wall_seconds": took,
        "load_average": start_load and {"start": start_load, "end": load_average()},
    }
    results = results_json(records, notes, selected, command_line(args), data_seconds, timing)
    report.write_json(results, out / "bench.json")
    text = report.markdown(results)
    (out / "report.md").write_text(text + "\n")
    print(f"\n{text}")
    written = ["bench.json", "report.md"]
    png = report.plot_or_note(results, out / "speedup.png")
    if png:
        written.append(png.name)
    print(
        f"\nTook {fmt_duration(took)} (expected about {fmt_duration(expected, up=True)}). "
        f"Written to {out}: {', '.join(written)}"
    )
