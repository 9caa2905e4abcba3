"""The ``fastgd`` command.

    fastgd bench                      the quick shapes (a minute or two)
    fastgd bench --full               every shape, including 2e6 x 32 and 1e6 x 32 (minutes)
    fastgd bench --cases fit,lasso    the cases whose id (kind/shape/dtype/contender)
                                      starts with one of these (wildcards allowed)

It prints the tables and writes ``bench.json``, ``report.md`` and ``speedup.png`` to
``--out`` (default: ./fastgd-bench). It runs from any installation: install the
extras first (``pip install "fastgd[bench]"``: scikit-learn's contenders, the
progress bar, the plot). In a source checkout (an editable install),
``--update-readme`` also writes the tables into README.md.
"""

import argparse


def _case_patterns(text):
    return [pattern for pattern in text.split(",") if pattern]


def parser():
    top = argparse.ArgumentParser(prog="fastgd", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = top.add_subparsers(dest="command", required=True)
    bench = commands.add_parser("bench", help="run the benchmark suite and print its tables")
    bench.add_argument("--full", action="store_true",
                       help="also the large (slow) shapes and the empty-cache cold start")
    bench.add_argument("--cases", type=_case_patterns, metavar="PATTERN[,PATTERN...]",
                       help="only these cases, e.g. gradient/4x2 or '*/1e4x20/float32' "
                            "(the baselines of their ratios are added)")
    bench.add_argument("--out", default="fastgd-bench", help="directory for the results")
    bench.add_argument("--update-readme", action="store_true",
                       help="write the tables into README.md (a source checkout only)")
    return top


def main(argv=None):
    args = parser().parse_args(argv)
    if args.command == "bench":
        from fastgd.bench import run  # numba and the registry: only for this command

        run.main(args)


if __name__ == "__main__":
    main()
