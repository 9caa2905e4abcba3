"""What pandas reads is what fastgd fits: file variants written here, each read by
``fastgd.read_files`` and by pandas. For every variant either the features are the
columns pandas reads (its index and the target aside) and the fit is the in-memory
fit of pandas' values, or there is one ValueError or TypeError that names the file.
The same through the command line: a model, or one line on stderr naming the file.
"""

import os

import numpy as np
import pytest

import fastgd
from fastgd._cli import main

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pd = pytest.importorskip("pandas")
pytest.importorskip("dask")

N = 1500


def frame(seed=0):
    rng = np.random.default_rng(seed)
    data = pd.DataFrame(rng.standard_normal((N, 3)) * [1.0, 100.0, 0.01], columns=["a", "b", "c"])
    data["y"] = data @ [1.0, 0.5, -20.0] + 2.0 + rng.standard_normal(N)
    return data


def csv_text(data, **options):
    return data.to_csv(index=False, **options)


# name -> (write(directory) -> path or paths, read(paths) -> the frame pandas reads)
def _csv(name, text_of, **read_options):
    def write(directory):
        path = directory / name
        text = text_of(frame())
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_bytes(text.encode())
        return [path]

    return write, lambda paths: pd.read_csv(paths[0], **read_options)


def _parquet(name, data_of, **write_options):
    def write(directory):
        path = directory / name
        data_of(frame()).to_parquet(path, **write_options)
        return [path]

    return write, lambda paths: pd.read_parquet(paths[0])


def _two(kind, first_of, second_of):
    def write(directory):
        data = frame()
        paths = [directory / f"a.{kind}", directory / f"b.{kind}"]
        for path, part in zip(paths, (first_of(data.iloc[:700]), second_of(data.iloc[700:]))):
            (
                part.to_parquet(path, index=False)
                if kind == "parquet"
                else part.to_csv(path, index=False)
            )
        return paths

    read = pd.read_parquet if kind == "parquet" else pd.read_csv
    return write, lambda paths: pd.concat([read(p) for p in paths], ignore_index=True)


VARIANTS = {
    "csv": _csv("d.csv", csv_text),
    "csv-crlf": _csv("d.csv", lambda d: csv_text(d, lineterminator="\r\n")),
    "csv-cr": _csv("d.csv", lambda d: csv_text(d).replace("\n", "\r")),
    "csv-bom": _csv("d.csv", lambda d: "\ufeff" + csv_text(d)),
    "csv-quoted": _csv("d.csv", lambda d: csv_text(d, quoting=1)),
    "csv-index": _csv("d.csv", lambda d: d.to_csv(), index_col=0),
    "csv-blank-lines": _csv("d.csv", lambda d: "\n\n" + csv_text(d)),
    "csv-no-newline-at-end": _csv("d.csv", lambda d: csv_text(d).rstrip("\n")),
    "csv-integers": _csv("d.csv", lambda d: csv_text(d.assign(a=np.arange(N)))),
    "csv-bool": _csv("d.csv", lambda d: csv_text(d.assign(a=d.a > 0))),
    "csv-word": _csv(
        "d.csv", lambda d: csv_text(d.assign(a=d.a.astype(object).where(d.index != 1400, "abc")))
    ),
    "csv-empty": _csv("d.csv", lambda d: b""),
    "csv-header-only": _csv("d.csv", lambda d: "a,b,c,y\n"),
    "csv-duplicate-names": _csv("d.csv", lambda d: csv_text(d).replace("a,b", "a,a", 1)),
    "csv-comment-line": _csv("d.csv", lambda d: "# written by a logger\n" + csv_text(d)),
    "csv-utf16": _csv("d.csv", lambda d: csv_text(d).encode("utf-16")),
    "tsv": _csv("d.tsv", lambda d: csv_text(d, sep="\t"), sep="\t"),
    "parquet": _parquet("d.parquet", lambda d: d, index=False),
    "parquet-index": _parquet("d.parquet", lambda d: d[d.a > -0.5]),
    "parquet-named-index": _parquet("d.parquet", lambda d: d.rename_axis("id")),
    "parquet-float32": _parquet("d.parquet", lambda d: d.astype(np.float32), index=False),
    "parquet-int8": _parquet(
        "d.parquet", lambda d: d.assign(a=(d.a * 10).astype(np.int8)), index=False
    ),
    "parquet-bool": _parquet("d.parquet", lambda d: d.assign(a=d.a > 0), index=False),
    "parquet-string": _parquet("d.parquet", lambda d: d.assign(a=d.a.astype(str)), index=False),
    "parquet-timestamp": _parquet(
        "d.parquet",
        lambda d: d.assign(a=pd.Timestamp("2026-01-01") + pd.to_timedelta(np.arange(N), unit="s")),
        index=False,
    ),
    "parquet-nullable": _parquet(
        "d.parquet", lambda d: d.assign(a=pd.array(np.arange(N), dtype="Int64")), index=False
    ),
    "parquet-empty": _parquet("d.parquet", lambda d: d.iloc[:0], index=False),
    "two-parquet-float32-then-64": _two("parquet", lambda d: d.astype(np.float32), lambda d: d),
    "two-parquet-bool-later": _two("parquet", lambda d: d, lambda d: d.assign(a=d.a > 0)),
    "two-csv-word-later": _two(
        "csv", lambda d: d, lambda d: d.assign(a=d.a.astype(object).where(d.index != 1000, "abc"))
    ),
}


def _fifo(directory):
    os.mkfifo(directory / "d.csv")
    return [directory / "d.csv"]


if hasattr(os, "mkfifo"):
    VARIANTS["fifo"] = (_fifo, None)  # (never read: a FIFO blocks the reader)


def fastgd_or_error(paths):
    """(features, dtype, coef, intercept) of fastgd's fit of the files, or its error."""
    try:
        files = fastgd.read_files([str(p) for p in paths], target="y", block_rows=400)
        result = fastgd.fit(files, tol=TOL[files.dtype])
    except (ValueError, TypeError) as error:
        return error
    return files.features, files.dtype, result.coef, result.intercept


TOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-6}


@pytest.mark.parametrize("variant", VARIANTS)
def test_read_files_fits_what_pandas_reads_or_names_the_file(tmp_path, variant):
    write, read = VARIANTS[variant]
    paths = write(tmp_path)
    got = fastgd_or_error(paths)
    if isinstance(got, Exception):
        assert any(os.path.basename(p) in str(got) for p in paths), (variant, str(got))
        return
    features, dtype, coef, intercept = got
    expected = read(paths)
    assert features == [name for name in expected.columns if name != "y"], variant
    # X in the dtype pandas' columns make (float32 only when every feature is float32)
    X = expected[features].to_numpy()
    assert dtype == (np.float32 if X.dtype == np.float32 else np.float64), variant
    local = fastgd.fit(X.astype(dtype), expected["y"].to_numpy(dtype), tol=TOL[dtype])
    rtol = 1e-9 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(coef, local.coef, rtol=rtol, err_msg=variant)
    assert intercept == pytest.approx(local.intercept, rel=rtol), variant


@pytest.mark.parametrize(
    "variant", ["csv", "csv-cr", "csv-word", "parquet-string", "two-parquet-bool-later"]
)
def test_the_command_line_fits_or_names_the_file_in_one_line(tmp_path, capsys, variant):
    paths = VARIANTS[variant][0](tmp_path)
    try:
        status = (
            main(
                [
                    "fit",
                    *map(str, paths),
                    "--target",
                    "y",
                    "--quiet",
                    "--out",
                    str(tmp_path / "m.fastgd"),
                ]
            )
            or 0
        )
    except SystemExit as exit:
        status = exit.code
    err = capsys.readouterr().err
    if status == 0:
        assert err == "" and (tmp_path / "m.fastgd").exists()
    else:
        assert status == 1 and len(err.strip().splitlines()) == 1
        assert any(os.path.basename(p) in err for p in map(str, paths)), err
