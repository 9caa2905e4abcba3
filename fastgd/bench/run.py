"""Run the registry's cases (``fastgd bench``) and record them.

A case is one contender of one kind on one shape and dtype (``fastgd/bench/cases.py``);
its id, ``kind/shape/dtype/contender`` (``gradient/1e4x20/float64/numba``), is what
``--cases`` matches. The cases of one shape and dtype share their data, built once;
the baseline runs first, and every result is assessed outside the timing.
"""

import datetime
import fnmatch
import importlib
import importlib.metadata
import itertools
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import fastgd
from fastgd.bench import cases as registry
from fastgd.bench import report
from fastgd.bench.timer import time_calls

QUICK_MAX_TIME = 0.2  # seconds of rounds per timed case, at least 3 rounds
FULL_MAX_TIME = 0.5
WARMUP_ROWS = 1000  # a single-round (slow) case warms up on this many rows


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
        raise SystemExit(f"fastgd bench: no case matches {', '.join(patterns)} (ids are "
                         "kind/shape/dtype/contender, e.g. gradient/4x2/float64/numba; "
                         f"kinds: {', '.join(registry.KINDS)}; slow shapes need --full)")
    groups = {_group(c) for c in every if c.id in chosen and c.kind.timed}
    return [c for c in every if c.id in chosen
            or (c.contender is c.kind.baseline and _group(c) in groups)]


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
            return (f"{module} is not installed (it comes with the bench extra: "
                    "`python -m pip install -e \".[bench]\"` in fastgd's source checkout)")
    return None


def rounds_of(case):
    """The case's fixed number of rounds, or None: as many as the time budget allows."""
    return case.kind.slow_rounds if case.shape.slow else case.kind.rounds


def prepare(case, data):
    """The case's ``run``, warmed up: compiled, caches warm, outside any timing."""
    run = case.contender.setup(data)
    if rounds_of(case) == 1:
        # One round of seconds: warm up (compile Numba, should this case run on its
        # own) on a slice of the same data, not on a whole round.
        case.contender.setup(data.head(WARMUP_ROWS))()
    else:
        run()  # compilation itself is the coldstart kind's measurement
    return run


def measure(case, data, max_time):
    """(Timing or None, result) of one case: the timer on the warmed-up ``run``
    (timed kinds), or one call that measures and returns its measurement (the others)."""
    if not case.kind.timed:
        return None, case.contender.setup(data)()
    return time_calls(prepare(case, data), rounds=rounds_of(case), max_time=max_time)


def record(case, timing, scores):
    """One case's entry in the results' JSON."""
    shape = case.shape
    return {
        "kind": case.kind.name, "shape": shape.name, "n_samples": shape.n_samples,
        "n_features": shape.n_features, "dtype": case.dtype, "contender": case.contender.name,
        "bytes": shape.size * np.dtype(case.dtype).itemsize,
        # Seconds per call: the minimum and the median over rounds (None: not timed).
        "seconds": None if timing is None else timing.best,
        "median": None if timing is None else timing.median,
        "rounds": None if timing is None else timing.rounds,
        "number": None if timing is None else timing.number,
        "scores": scores,
    }


class Progress:
    """A tqdm bar over the cases when tqdm is installed, else one line per case."""

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

    def finish(self):
        self.done += 1
        if self.bar is not None:
            self.bar.update()

    def close(self):
        if self.bar is not None:
            self.bar.close()


def run_cases(cases, max_time=QUICK_MAX_TIME):
    """Run ``cases`` in order: (records, notes on what was not run and why)."""
    records, skipped = [], {}
    progress = Progress(len(cases))
    try:
        for _, group in itertools.groupby(cases, key=_group):
            records += _run_group(list(group), max_time, progress, skipped)
    finally:
        progress.close()
    return records, [f"Not run, as {why}: {', '.join(names)}." for why, names in skipped.items()]


def _run_group(group, max_time, progress, skipped):
    """The cases of one kind, shape and dtype, on data built once, the baseline
    first; adds the contenders that cannot run to ``skipped`` (reason -> names)."""
    first = group[0]
    data = first.kind.make_data(first.shape, first.dtype)
    baseline, records = None, []
    for case in group:
        progress.start(case.id)
        reason = unavailable(case)
        if reason:
            names = skipped.setdefault(reason, [])
            name = f"{case.kind.name}/{case.contender.name}"
            if name not in names:
                names.append(name)
        else:
            timing, result = measure(case, data, max_time)
            if case.contender is case.kind.baseline:
                baseline = result
            records.append(record(case, timing, case.kind.assess(data, result, baseline)))
        progress.finish()
    return records


def environment():
    """What the report's footnote says about the machine, versions and threads."""
    import numba

    versions = {"fastgd": fastgd.__version__, "numpy": np.__version__,
                "numba": numba.__version__}
    try:  # without importing it (a second or more), for a run without its contenders
        versions["scikit-learn"] = importlib.metadata.version("scikit-learn")
    except importlib.metadata.PackageNotFoundError:
        pass
    versions["python"] = platform.python_version()
    return {
        "machine": {"cpu": _cpu_name(), "cores": os.cpu_count(), "system": platform.system(),
                    "python": platform.python_version()},
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
        return ", ".join(f"{lib['prefix']} {lib['version'] or ''}".rstrip()
                         + f" ({lib['num_threads']} threads)"
                         for lib in libraries if lib["user_api"] == api) or "none loaded"

    # OpenMP is what the Cython kernels' prange runs on, once they have been loaded.
    return f"numba {numba_threads}, OpenMP: {of('openmp')}, NumPy's BLAS: {of('blas')}"


def results_json(records, notes, selected, command):
    """The run as written to bench.json: every record, and what the report needs."""
    kinds = {case.kind.name: case.kind for case in selected}
    return {
        "command": command,
        "datetime": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        **environment(),
        "settings": {name: kind.settings for name, kind in kinds.items() if kind.settings},
        "notes": notes,
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
    records, notes = run_cases(selected, FULL_MAX_TIME if args.full else QUICK_MAX_TIME)
    results = results_json(records, notes, selected, command_line(args))
    report.write_json(results, out / "bench.json")
    text = report.markdown(results)
    (out / "report.md").write_text(text + "\n")
    print(text)
    written = ["bench.json", "report.md"]
    png = report.plot_or_note(results, out / "speedup.png")
    if png:
        written.append(png.name)
    print(f"\nWritten to {out}: {', '.join(written)}")
