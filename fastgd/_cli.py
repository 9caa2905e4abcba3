"""fastgd: fit linear models on Parquet and CSV files, predict, inspect, benchmark.

  fastgd fit DATA... --target COL --out MODEL     fit Parquet / CSV files, save the model
  fastgd predict MODEL DATA... --out PREDICTIONS  predict, written as Parquet or CSV
  fastgd info MODEL                               what a saved model holds
  fastgd bench                                    the benchmark suite (fastgd bench -h)

Files are read a block at a time (memory: a few blocks, whatever their size), on
this machine's threads or, with --scheduler ADDRESS, on a running Dask cluster (its
workers must see the same paths). Models are saved without pickle: loading one
runs no code. Errors are one line on stderr and exit status 1.

examples:
  fastgd fit sales/*.parquet --target price --out price.fastgd
  fastgd fit data.csv --target y --features a,b,c --penalty l1 --alpha 0.01 --out m.fastgd
  fastgd fit data.parquet --target y --penalty l1 --cv 5 --alphas 100 --out m.fastgd
  fastgd predict price.fastgd new.csv --out predicted.parquet
  fastgd info price.fastgd
"""

import argparse
import os
import re
import signal
import sys
import threading
import time
import warnings

import numpy as np

from ._spec import FIT_PARAMETERS, FitSpec

# Options of fastgd.fit that a fit of files does not take: mini-batches and early
# stopping run on one process's arrays (GDRegressor.partial_fit takes the blocks
# instead), and the Python-only ones (a callback; verbose is --verbose).
NOT_FOR_FILES = (
    "batch_size",
    "shuffle",
    "early_stopping",
    "validation_fraction",
    "n_iter_no_change",
    "callback",
    "verbose",
    "random_state",
)
FILE_FIT_OPTIONS = tuple(name for name in FIT_PARAMETERS if name not in NOT_FOR_FILES)


class CommandError(Exception):
    """An error the command reports in one line (no traceback)."""


def main(argv=None):
    argv = joined_negative_values(sys.argv[1:] if argv is None else list(argv))
    args = parser().parse_args(argv)
    if args.command == "bench":
        from fastgd.bench import run  # numba and the registry: only for this command

        return run.main(args)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    try:  # (with SIGTERM raising Terminated, temporary files go as on Ctrl-C)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            status = COMMANDS[args.command](args)
            sys.stdout.flush()  # (a closed pipe is found here, in the handler below)
        for warning in caught:
            print(f"fastgd: warning: {warning.message}", file=sys.stderr)
        return status
    except KeyboardInterrupt:
        print("fastgd: interrupted", file=sys.stderr)
        sys.exit(130)
    except Terminated:
        print("fastgd: terminated", file=sys.stderr)
        sys.exit(128 + signal.SIGTERM)
    except BrokenPipeError:  # (fastgd info model | head): the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except ImportError as error:  # an extra that is not installed: one message
        missing = f"{error.name} is not installed" if error.name else str(error)
        print(
            f"fastgd {args.command}: error: {missing}: the {args.command} command needs "
            f"the files extra: python -m pip install -e '.[files]' in fastgd's source "
            f"checkout",
            file=sys.stderr,
        )
        sys.exit(1)
    except (CommandError, ValueError, TypeError, OSError, ArithmeticError) as error:
        # the library's errors name the argument and what was expected: one line
        # (ArithmeticError: DivergenceError, an overflow named by the fit)
        print(f"fastgd {args.command}: error: {error}", file=sys.stderr)
        sys.exit(1)
    except Exception as error:  # a Dask worker lost for good, memory, ...: one line too
        print(f"fastgd {args.command}: error: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
    finally:
        if previous is not None:  # (None: not set from Python, or not the main thread)
            signal.signal(signal.SIGTERM, previous)


class Terminated(BaseException):
    """SIGTERM, raised where the command is, so that its temporary files go as they do
    on Ctrl-C (a BaseException: no ``except Exception`` on the way swallows it)."""


def _terminate(signum, frame):
    raise Terminated()


def joined_negative_values(argv):
    """``--lr -1e-3`` as ``--lr=-1e-3``: argparse takes a value that starts with '-'
    for an option unless it looks like a plain negative number (not ``-1e-3``), and
    the command then said "expected one argument" of an option given one."""
    joined, rest = [], list(argv)
    while rest:
        token = rest.pop(0)
        if (
            token.startswith("--")
            and "=" not in token
            and rest
            and re.fullmatch(r"-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", rest[0])
        ):
            token = f"{token}={rest.pop(0)}"
        joined.append(token)
    return joined


# ------------------------------------------------------------------ the commands


def fit_command(args):
    from . import _persist
    from ._estimator import GDRegressor
    from ._files import read_files

    options = {name: getattr(args, name) for name in FILE_FIT_OPTIONS}
    options["verbose"] = int(args.verbose)
    FitSpec(**options).validated()  # option errors before any file is read
    if args.cv is not None:
        _check_cv_options(options)
    _check_out_directory(args.out)
    files = read_files(
        args.data,
        target=_target(args.target),
        features=args.features,
        sample_weight=args.weight,
        block_rows=args.block_rows,
    )
    _refuse_to_overwrite(args.out, files.paths)
    extra = {"trained_on": [os.path.abspath(p) for p in files.paths]}
    start = time.perf_counter()
    with _scheduler(args.scheduler), _progress(args):
        if args.cv is None:
            model = GDRegressor(**options).fit(files)
        else:
            model, extra["cross_validation"] = _cross_validated(files, args, options)
    seconds = time.perf_counter() - start
    _persist.save(model, args.out, target_names=files.targets, extra=extra)
    if not args.quiet:
        chosen = (
            "" if args.cv is None else f"alpha {model.alpha:.4g} chosen by {args.cv}-fold cv; "
        )
        print(
            f"fastgd: fitted {files.n_features} features of {len(files.paths)} file(s) "
            f"in {seconds:.2f} s: {chosen}{_outcome(model)} ({model.solver_}, "
            f"{model.method_}); model written to {args.out}"
        )
    return 0


# The fit options a cross-validated fit takes (the refit's); the others must be left
# at their defaults (it solves directly: no lr, no schedule), and alpha is chosen.
CV_OPTIONS = ("tol", "fit_intercept", "backend", "n_threads", "penalty", "l1_ratio")


def _check_cv_options(options):
    """Raise CommandError for an option a cross-validated fit does not take."""
    for name, value in options.items():
        if name not in CV_OPTIONS + ("verbose",) and value != FitSpec._field_defaults[name]:
            flag = "--" + name.replace("_", "-")
            why = (
                "the alpha is chosen (give --alphas)" if name == "alpha" else "it solves directly"
            )
            raise CommandError(f"{flag} is not taken with --cv: {why}.")
    if options["penalty"] is None:
        raise CommandError("--cv needs --penalty l1, l2 or elasticnet: the penalty to choose.")


def _cross_validated(files, args, options):
    """``--cv K``: GDRegressorCV on the files; its refit (a GDRegressor, which the
    model file holds) and the cross-validation's record for ``fastgd info``."""
    from ._estimator_cv import GDRegressorCV

    chosen = GDRegressorCV(
        alphas=args.alphas,
        cv=args.cv,
        eps=args.eps,
        **{name: options[name] for name in CV_OPTIONS},
    ).fit(files)
    mse = chosen.mse_path_.reshape(-1, chosen.mse_path_.shape[-1])  # (n_alphas, n_folds)
    record = {
        "n_folds": int(mse.shape[1]),
        "penalty": options["penalty"],
        "alpha": chosen.alpha_,
        "l1_ratio": chosen.l1_ratio_,
        "alphas": chosen.alphas_.reshape(-1).tolist(),
        "mse_mean": mse.mean(axis=1).tolist(),
        "mse_std_error": (mse.std(axis=1, ddof=1) / np.sqrt(mse.shape[1])).tolist(),
    }
    return chosen.best_estimator_, record


def _outcome(model):
    """What the fit's summary line says of how it ended."""
    if model.method_ == "qr":
        state = (
            f"converged: coefficients certified to {model.error_bound_:.1g}"
            if model.converged_
            else f"did NOT converge ({model.stopped_})"
        )
        return f"{state}, {model.n_iter_} pass(es) over the data after the factor's"
    state = "converged" if model.converged_ else f"did NOT converge ({model.stopped_})"
    if model.method_ == "path":  # GDRegressorCV's refit: the gap from one pass
        return f"{state}: duality gap {model.history_['grad_norm'][-1]:.1g} on the data"
    return f"{state} in {model.n_iter_} iterations"


def predict_command(args):
    from . import _persist
    from ._files import file_kind, iter_predictions, read_files

    file_kind(args.out)  # an output format fastgd cannot write fails before any work
    _check_out_directory(args.out)
    # the model's arrays as saved (no estimator: predict imports no scikit-learn)
    metadata, arrays = _persist.read(args.model)
    coef, intercept = arrays["coef_"], _persist.intercept_of(arrays["intercept_"])
    features = _features(metadata["feature_names"], coef.shape[-1], args.features)
    files = read_files(args.data, target=None, features=features, block_rows=args.block_rows)
    _refuse_to_overwrite(args.out, files.paths + [args.model])
    names = prediction_columns(metadata["target_names"], coef.shape)
    with _scheduler(args.scheduler), _progress(args, total=len(files.pieces)) as bar:
        blocks = iter_predictions(files, coef, intercept)
        rows = write_table(args.out, names, blocks, bar)
    if not args.quiet:
        print(f"fastgd: {rows} predictions written to {args.out}")
    return 0


def info_command(args):
    from . import _persist

    info = _persist.read_info(args.model)
    defaults = {**FitSpec._field_defaults, "warm_start": False}  # (no scikit-learn import)
    changed = [
        f"{name}={value!r}" for name, value in info["params"].items() if value != defaults[name]
    ]
    info["params"] = (
        ", ".join(changed) + " (the others at their defaults)"
        if changed
        else "all at their defaults"
    )
    record = info["extra"].pop("cross_validation", None)
    width = max(len(key) for key in info)
    for key, value in info.items():
        print(f"{key:<{width}}  {brief(value)}")
    if record is not None:
        print(cv_curve(record))
    return 0


def cv_curve(record, rows=20):
    """The cross-validation a model's alpha was chosen by: the chosen alpha, and the
    mean validation error (with its standard error over the folds) along the grid,
    at most ``rows`` lines of it, the chosen one always among them (marked *)."""
    alphas, mean, error = record["alphas"], record["mse_mean"], record["mse_std_error"]
    best = min(range(len(alphas)), key=lambda i: (alphas[i] != record["alpha"], i))
    shown = sorted(set(range(0, len(alphas), -(-len(alphas) // rows))) | {best, len(alphas) - 1})
    lines = [
        f"cross_validation  {record['n_folds']} folds, penalty {record['penalty']!r}, "
        f"l1_ratio {record['l1_ratio']:g}: alpha {record['alpha']:.6g} (of {len(alphas)})",
        f"  {'alpha':>12}  {'mean MSE':>12}  {'std error':>10}",
    ]
    for i in shown:
        mark = " *" if i == best else ""
        lines.append(f"  {alphas[i]:>12.6g}  {mean[i]:>12.6g}  {error[i]:>10.3g}{mark}")
    return "\n".join(lines)


def brief(value, shown=8):
    """A list of more than 2 * shown items as its first and last ``shown`` and its
    length (a model of 10,000 features prints on one screen); lists of lists too.
    Control characters are escaped: a model's strings cannot move the cursor, clear
    the screen or print lines of their own."""
    if not isinstance(value, list):
        return re.sub(r"[\x00-\x1f\x7f-\x9f]", lambda m: repr(m.group())[1:-1], str(value))
    items = [brief(item, shown) if isinstance(item, list) else repr(item) for item in value]
    if len(items) > 2 * shown:
        items = items[:shown] + [f"... ({len(value)} in all) ..."] + items[-shown:]
    return "[" + ", ".join(items) + "]"


COMMANDS = {"fit": fit_command, "predict": predict_command, "info": info_command}


def _features(names, n_features, given):
    """The columns predict reads: the model's feature names (None: it has none), or
    --features (which, for a model that has names, must be those names)."""
    names = list(names or [])
    if given is None:
        if not names:
            raise CommandError(
                f"the model was fitted on {n_features} unnamed columns: "
                f"name the data's columns, in order, with --features "
                f"COL,COL,..."
            )
        return names
    columns = given.split(",")
    if len(columns) != n_features or (names and columns != names):
        expected = ",".join(names) if names else f"{n_features} columns"
        raise CommandError(f"--features {given}: the model takes {expected}.")
    return columns


def _target(text):
    names = text.split(",")
    return names[0] if len(names) == 1 else names


def prediction_columns(targets, coef_shape):
    """'prediction' for one target; 'prediction_<target>' for each of several
    (numbered from 0 for a model saved without its targets' names)."""
    if len(coef_shape) == 1:
        return ["prediction"]
    names = targets if targets is not None else range(coef_shape[0])
    return [f"prediction_{name}" for name in names]


def _check_out_directory(out):
    """--out's directory must exist before the work, not be found missing after it."""
    directory = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(directory):
        raise CommandError(f"--out {out}: the directory {directory} does not exist.")


def _refuse_to_overwrite(out, inputs):
    """--out must not be one of the command's own inputs."""
    for path in inputs:
        if os.path.exists(out) and os.path.samefile(out, path):
            raise CommandError(f"--out {out} is one of the inputs: choose another file.")


def write_table(path, names, blocks, bar=None):
    """Write each block's predictions (in order) to a Parquet or CSV file, through
    a temporary file renamed at the end: an interrupted run leaves no half file."""
    import pyarrow as pa

    from ._atomic import written_atomically
    from ._files import file_kind

    kind = file_kind(path)
    writer, rows = None, 0
    with written_atomically(path) as temporary:
        try:
            for _, prediction in blocks:
                columns = prediction.reshape(len(prediction), len(names)).T
                table = pa.table(dict(zip(names, columns)))
                writer = writer or _writer(kind, temporary, table.schema, path)
                writer.write_table(table)
                rows += len(prediction)
                if bar is not None:
                    bar.update(1)
            if writer is None:  # no blocks: an empty table of the columns
                writer = _writer(
                    kind, temporary, pa.schema([(name, pa.float64()) for name in names]), path
                )
        finally:
            if writer is not None:
                writer.close()
    return rows


def _writer(kind, path, schema, final):
    """The writer of a Parquet or CSV file at ``path`` (the temporary file of
    ``final``, whose suffix says the format)."""
    if kind == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetWriter(path, schema)
    import pyarrow.csv as pcsv

    tab = os.fspath(final).lower().endswith(".tsv")  # a .tsv file is tab-separated
    return pcsv.CSVWriter(
        path, schema, write_options=pcsv.WriteOptions(delimiter="\t" if tab else ",")
    )


class _scheduler:
    """``--scheduler ADDRESS``: a distributed Client for the command's duration."""

    def __init__(self, address):
        self.address, self.client = address, None

    def __enter__(self):
        if self.address:
            from distributed import Client

            try:
                self.client = Client(self.address, timeout="10s")
            except OSError as error:
                raise CommandError(
                    f"--scheduler: cannot connect to {self.address}: {error}"
                ) from None
        return self.client

    def __exit__(self, *exc):
        if self.client is not None:
            self.client.close()


class _progress:
    """``_progress.BlockProgress`` unless --quiet (and on a cluster: its dashboard
    shows the tasks)."""

    def __init__(self, args, total=None):
        self.show = not args.quiet and not args.scheduler
        self.total, self.bar = total, None

    def __enter__(self):
        if not self.show:
            return None
        from ._progress import BlockProgress

        self.bar = BlockProgress(self.total)
        return self.bar

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()


# ------------------------------------------------------------------ the parser


class Parser(argparse.ArgumentParser):
    """Option errors as every other error: one line on stderr, exit status 1."""

    def error(self, message):
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(1)


def parser():
    top = Parser(
        prog="fastgd", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_fit(commands)
    _add_predict(commands)
    info = _command(
        commands,
        "info",
        "print what a saved model holds",
        "Print a saved model's metadata: the fastgd version that wrote it, "
        "its parameters, features, targets and fit.",
        ["fastgd info model.fastgd"],
    )
    info.add_argument("model", metavar="MODEL")
    _add_bench(commands)
    return top


def _command(commands, name, summary, description, examples):
    """A sub-command's parser: its line in ``fastgd --help``, its description, and
    its examples under ``fastgd NAME --help``."""
    return commands.add_parser(
        name,
        help=summary,
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n" + "\n".join(f"  {example}" for example in examples),
    )


def _add_fit(commands):
    fit = _command(
        commands,
        "fit",
        "fit Parquet / CSV files and save the model",
        "Fit a linear model on the columns of Parquet or CSV files, read a block at a "
        "time, and save it (no pickle).",
        [
            "fastgd fit data.parquet --target y --out model.fastgd",
            "fastgd fit 'parts/*.csv' --target y --features a,b --weight w --out model.fastgd",
            "fastgd fit data.parquet --target y1,y2 --penalty l2 --alpha 0.1 --out model.fastgd",
            "fastgd fit data.parquet --target y --penalty l1 --cv 5 --alphas 100 --out m.fastgd",
            "fastgd fit data.parquet --target y --scheduler tcp://10.0.0.1:8786 "
            "--out model.fastgd",
        ],
    )
    _add_data(fit)
    fit.add_argument(
        "--target",
        required=True,
        metavar="COL[,COL...]",
        help="the target column (several, comma-separated: one model each)",
    )
    fit.add_argument(
        "--features",
        metavar="COL[,COL...]",
        help="the feature columns (default: every other column)",
    )
    fit.add_argument("--weight", metavar="COL", help="a column of sample weights")
    fit.add_argument("--out", required=True, metavar="MODEL", help="the model file to write")
    fit.add_argument("--verbose", action="store_true", help="a progress bar over the iterations")
    options = fit.add_argument_group("fit options (those of fastgd.fit; see its docstring)")
    documented = parameter_help()
    for name in FILE_FIT_OPTIONS:
        _add_option(options, name, FitSpec._field_defaults[name], documented.get(name, ""))
    cv = fit.add_argument_group(
        "cross-validation (fastgd.GDRegressorCV: the penalty's alpha chosen from one pass)"
    )
    cv.add_argument(
        "--cv",
        type=integer,
        metavar="K",
        help="choose alpha by K-fold cross-validation (contiguous folds) over --alphas, "
        "with --penalty l1, l2 or elasticnet (--l1-ratio); fastgd info shows the curve",
    )
    cv.add_argument(
        "--alphas",
        type=alphas_option,
        default=100,
        metavar="N|A,A,...",
        help="the number of alphas of the grid, or the alphas (default: %(default)s)",
    )
    cv.add_argument(
        "--eps",
        type=float,
        default=1e-3,
        metavar="EPS",
        help="the grid's smallest alpha over its largest (default: %(default)s)",
    )


def _add_predict(commands):
    predict = _command(
        commands,
        "predict",
        "predict from Parquet / CSV files with a saved model",
        "Predict with a saved model from the model's feature columns of Parquet or CSV "
        "files, a block at a time, in the files' row order. The output has one column, "
        "'prediction' (or 'prediction_<target>' for each target).",
        [
            "fastgd predict model.fastgd new.parquet --out predicted.parquet",
            "fastgd predict model.fastgd a.csv b.csv --out predicted.csv",
            "fastgd predict numpy_model.fastgd new.csv --features a,b,c --out p.csv",
        ],
    )
    predict.add_argument("model", metavar="MODEL")
    _add_data(predict)
    predict.add_argument(
        "--features",
        metavar="COL[,COL...]",
        help="the data's columns for the model's features, in order "
        "(default: the model's feature names)",
    )
    predict.add_argument(
        "--out", required=True, metavar="PREDICTIONS", help="the file to write (.parquet or .csv)"
    )


def _add_data(command):
    command.add_argument(
        "data",
        nargs="+",
        metavar="DATA",
        help="Parquet or CSV files, directories or glob patterns",
    )
    command.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="a Dask scheduler to run on (its workers read the files)",
    )
    command.add_argument(
        "--block-rows",
        type=int,
        default=1 << 16,
        metavar="N",
        help="rows read at a time per block (default: %(default)s)",
    )
    command.add_argument("--quiet", action="store_true", help="no progress bar, no summary line")


def _add_option(group, name, default, help_text):
    flag = "--" + name.replace("_", "-")
    if isinstance(default, bool):
        group.add_argument(
            flag, action=argparse.BooleanOptionalAction, default=default, help=help_text
        )
        return
    kind = (
        integer if type(default) is int else float if type(default) is float else _number_or_word
    )
    group.add_argument(
        flag,
        type=kind,
        default=default,
        metavar=name.upper(),
        help=f"{help_text} (default: {default})",
    )


def integer(text):
    """An integer option: ``1000`` or ``1e3`` (a float that is a whole number)."""
    try:
        return int(text)
    except ValueError:
        value = float(text)  # (a ValueError: argparse says "invalid value")
        if not value.is_integer():
            raise ValueError(text) from None
        return int(value)


def alphas_option(text):
    """``--alphas``: a number of grid points (``100``) or the alphas (``1,0.1,0.01``)."""
    if "," not in text:
        return integer(text)
    return [float(value) for value in text.split(",")]


def _number_or_word(text):
    """An option that takes a number or a word (lr: 'auto' or 0.1)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return None if text.lower() == "none" else text


def parameter_help():
    """Each fit option's first sentence in fastgd.fit's docstring: one text for both."""
    from ._api import fit

    section = fit.__doc__.split("Parameters\n    ----------\n", 1)[1]
    entries = re.findall(
        r"^    (\w+) : ([^\n]*)\n((?:        [^\n]*\n)+)", section, flags=re.MULTILINE
    )
    helps = {}
    for name, kind, text in entries:
        text = re.sub(r":\w+:`([^`]*)`", r"\1", " ".join(text.split()).replace("``", ""))
        first = first_sentence(text)
        choices = re.match(r"\{[^}]*\}", kind)  # {"auto", "numba", ...}
        helps[name] = first + (f"; one of {choices.group(0)}" if choices else "")
    return helps


def first_sentence(text):
    """Up to the first full stop that ends a sentence: not one of "...", "e.g." or
    "i.e.", nor inside parentheses (``(t = 0, 1, ...)`` was cut in the middle)."""
    depth = 0
    for k, char in enumerate(text):
        depth += (char == "(") - (char == ")")
        if (
            char == "."
            and depth == 0
            and (k + 1 == len(text) or text[k + 1] == " ")
            and not text[: k + 1].endswith(("..", "e.g.", "i.e."))
        ):
            return text[:k]
    return text.rstrip(".")


def _case_patterns(text):
    return [pattern for pattern in text.split(",") if pattern]


def _add_bench(commands):
    bench = _command(
        commands,
        "bench",
        "run the benchmark suite and print its tables",
        "Run the benchmark suite. It prints the tables and writes bench.json, report.md "
        "and speedup.png to --out. Its contenders and plot come with the bench extra: "
        "python -m pip install -e '.[bench]' in fastgd's source checkout.",
        [
            "fastgd bench                      the quick shapes (it says how long, first)",
            "fastgd bench --full               every shape (longer: it says how long)",
            "fastgd bench --cases fit,lasso    the cases whose id starts so",
        ],
    )
    bench.add_argument(
        "--full",
        action="store_true",
        help="also the large (slow) shapes and the empty-cache cold start",
    )
    bench.add_argument(
        "--cases",
        type=_case_patterns,
        metavar="PATTERN[,PATTERN...]",
        help="only these cases, e.g. gradient/4x2 or '*/1e4x20/float32' "
        "(the baselines of their ratios are added)",
    )
    bench.add_argument("--out", default="fastgd-bench", help="directory for the results")


if __name__ == "__main__":
    main()
