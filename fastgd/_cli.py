"""The ``fastgd`` command. ``fastgd bench`` runs the benchmark suite of a source
checkout (benches/) and prints its report.

    fastgd bench            quick shapes (under a minute)
    fastgd bench --full     every shape, including 2e6 x 32 and 1e6 x 32 (minutes)

It writes ``bench.json`` (pytest-benchmark), ``coldstart.json``, ``report.md`` and
``speedup.png`` to ``--out`` (default: benches/results/), and with
``--update-readme`` puts the tables into README.md. Install the extras first:
``pip install -e ".[bench]"``.
"""

import argparse
import subprocess
import sys
from pathlib import Path


def _source_root():
    root = Path(__file__).resolve().parent.parent
    if not (root / "benches" / "test_bench.py").is_file():
        raise SystemExit(
            "fastgd bench runs the benchmark suite of a source checkout (benches/ next "
            "to fastgd/); this fastgd is installed without it. Clone the repository and "
            'run `pip install -e ".[bench]"` there.'
        )
    return root


def bench(args):
    root = _source_root()
    out = Path(args.out) if args.out else root / "benches" / "results"
    out.mkdir(parents=True, exist_ok=True)
    command = "fastgd bench" + (" --full" if args.full else "")
    pytest_args = [
        sys.executable, "-m", "pytest", "benches/test_bench.py", "-q", "-p", "no:cacheprovider",
        "-o", "addopts=", "-m", "slow or not slow" if args.full else "not slow",
        f"--benchmark-json={out / 'bench.json'}",
        f"--benchmark-max-time={0.5 if args.full else 0.2}",
        "--benchmark-min-rounds=3", "--benchmark-columns=min,median,rounds",
        "--benchmark-sort=name",
    ]
    print(f"$ {' '.join(pytest_args[1:])}", flush=True)
    subprocess.run(pytest_args, cwd=root, check=True,
                   stdout=None if args.verbose else subprocess.DEVNULL)
    cold_args = [sys.executable, "-m", "benches.coldstart", "--json", str(out / "coldstart.json")]
    if not args.full:
        cold_args.append("--warm-only")
    subprocess.run(cold_args, cwd=root, check=True, stdout=subprocess.DEVNULL)

    sys.path.insert(0, str(root))
    from benches import report

    report_args = [str(out / "bench.json"), "--coldstart", str(out / "coldstart.json"),
                   "--md", str(out / "report.md"), "--png", str(out / "speedup.png"),
                   "--command", command]
    if args.update_readme:
        report_args += ["--readme", str(root / "README.md")]
    report.main(report_args)
    if args.update_readme:  # the README shows the plot of the run it tabulates
        (root / "docs").mkdir(exist_ok=True)
        (root / "docs" / "speedup.png").write_bytes((out / "speedup.png").read_bytes())
    print(f"\nWritten to {out}: bench.json, coldstart.json, report.md, speedup.png")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="fastgd", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    bench_parser = commands.add_parser("bench", help="run the benchmark suite")
    size = bench_parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small shapes only (default)")
    size.add_argument("--full", action="store_true", help="also the large (slow) shapes")
    bench_parser.add_argument("--out", help="directory for the results")
    bench_parser.add_argument("--update-readme", action="store_true",
                              help="write the tables into README.md")
    bench_parser.add_argument("--verbose", action="store_true",
                              help="show pytest-benchmark's own tables too")
    args = parser.parse_args(argv)
    if args.command == "bench":
        bench(args)


if __name__ == "__main__":
    main()
