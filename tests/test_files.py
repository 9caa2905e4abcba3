"""Parquet and CSV files fitted a block at a time (fastgd/_files.py).

Oracles: np.linalg.lstsq and the in-memory fit of the same columns (to 1e-12);
the errors name the file, the row and the column; the peak memory of a subprocess
fitting a file does not grow with the file's size.
"""

import io
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastgd
from fastgd.bench.probes import PEAK_MEMORY

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pd = pytest.importorskip("pandas")
pytest.importorskip("dask")

N, D = 5000, 4
FEATURES = [f"x{j}" for j in range(D)]


def make_frame(n=N, n_targets=1, seed=0, weights=False):
    """Columns x0..x3 of different scales, targets y (or y0, y1, ...), weights w."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, D)) * np.logspace(-2, 2, D)
    frame = pd.DataFrame(X, columns=FEATURES)
    coef = rng.standard_normal((n_targets, D))
    Y = X @ coef.T + 3.0 + rng.standard_normal((n, n_targets))
    names = ["y"] if n_targets == 1 else [f"y{k}" for k in range(n_targets)]
    for k, name in enumerate(names):
        frame[name] = Y[:, k]
    if weights:
        frame["w"] = rng.uniform(0.0, 2.0, n)
    return frame, names


def write(frame, directory, kind, parts=1, row_group_size=700):
    """The frame as ``parts`` files of consecutive rows (Parquet: row groups of
    row_group_size rows; CSV: pandas' shortest round-trip repr of each float)."""
    paths = []
    for part, rows in enumerate(np.array_split(np.arange(len(frame)), parts)):
        path = os.path.join(directory, f"part{part}.{kind}")
        piece = frame.iloc[rows]
        if kind == "parquet":
            pq.write_table(
                pa.Table.from_pandas(piece, preserve_index=False),
                path,
                row_group_size=row_group_size,
            )
        else:
            piece.to_csv(path, index=False)
        paths.append(path)
    return paths


def lstsq(X, Y, s=None):
    s = np.ones(len(X)) if s is None else s
    A = np.hstack([X, np.ones((len(X), 1))]) * np.sqrt(s)[:, None]
    solution = np.linalg.lstsq(A, Y * np.sqrt(s)[:, None], rcond=None)[0]
    return solution[:-1].T, solution[-1]


def relative(a, b):
    return np.max(np.abs(np.asarray(a) - b)) / max(np.max(np.abs(b)), 1e-300)


@pytest.mark.parametrize("kind", ["parquet", "csv"])
@pytest.mark.parametrize("parts,block_rows", [(1, 10**6), (3, 1000), (2, 300)])
@pytest.mark.parametrize("n_targets,weights", [(1, False), (1, True), (3, False)])
def test_fit_of_files_is_the_in_memory_fit(tmp_path, kind, parts, block_rows, n_targets, weights):
    frame, targets = make_frame(n_targets=n_targets, weights=weights)
    paths = write(frame, tmp_path, kind, parts)
    target = targets[0] if n_targets == 1 else targets
    files = fastgd.read_files(
        paths, target=target, sample_weight="w" if weights else None, block_rows=block_rows
    )
    expected_blocks = parts if block_rows >= N else None
    if expected_blocks is not None:
        assert len(files.pieces) == expected_blocks
    else:
        assert len(files.pieces) > parts  # the files are cut into blocks
    assert files.features == FEATURES
    result = fastgd.fit(files, tol=1e-12)
    X, Y = frame[FEATURES].to_numpy(), frame[target].to_numpy()
    s = frame["w"].to_numpy() if weights else None
    local = fastgd.fit(X, Y, tol=1e-12, sample_weight=s)
    assert result.converged and result.solver == "gram"
    assert relative(result.coef, local.coef) < 1e-12
    assert relative(result.intercept, local.intercept) < 1e-12
    coef, intercept = lstsq(X, Y.reshape(len(X), -1), s)
    assert relative(result.coef, coef.reshape(np.shape(result.coef))) < 1e-9
    assert relative(np.atleast_1d(result.intercept), intercept) < 1e-9


def test_the_estimator_fits_predicts_and_scores_files(tmp_path):
    frame, _ = make_frame()
    paths = write(frame, tmp_path, "parquet", parts=2)
    files = fastgd.read_files(paths, target="y", block_rows=500)
    model = fastgd.GDRegressor(tol=1e-12).fit(files)
    local = fastgd.GDRegressor(tol=1e-12).fit(frame[FEATURES], frame["y"])
    assert list(model.feature_names_in_) == FEATURES
    assert relative(model.coef_, local.coef_) < 1e-12
    prediction = model.predict(files)
    assert isinstance(prediction, np.ndarray) and prediction.shape == (N,)
    np.testing.assert_allclose(prediction, model.predict(frame[FEATURES]), rtol=1e-13, atol=1e-12)
    assert model.score(files) == pytest.approx(local.score(frame[FEATURES], frame["y"]), rel=1e-12)


def test_partial_fit_of_files_takes_the_blocks_in_order(tmp_path):
    frame, _ = make_frame()
    files = fastgd.read_files(write(frame, tmp_path, "csv", parts=2), target="y", block_rows=800)
    options = dict(batch_size=64, random_state=0)
    model = fastgd.GDRegressor(**options).partial_fit(files)
    by_hand = fastgd.GDRegressor(**options)
    blocks = [
        fastgd._files.read_piece(piece, files.columns, files.dtype) for piece in files.pieces
    ]
    np.testing.assert_array_equal(np.vstack(blocks), frame[FEATURES + ["y"]].to_numpy())
    for block in blocks:  # one partial_fit per block, in the files' order
        by_hand.partial_fit(pd.DataFrame(block[:, :D], columns=FEATURES), block[:, D])
    np.testing.assert_array_equal(model.coef_, by_hand.coef_)
    assert model.intercept_ == by_hand.intercept_


def test_features_choose_and_order_the_columns(tmp_path):
    frame, _ = make_frame()
    frame["id"] = np.arange(N)  # an integer column left out by name
    files = fastgd.read_files(write(frame, tmp_path, "parquet"), target="y", features="x2,x0")
    result = fastgd.fit(files, tol=1e-12)
    local = fastgd.fit(np.ascontiguousarray(frame[["x2", "x0"]]), frame["y"].to_numpy(), tol=1e-12)
    assert relative(result.coef, local.coef) < 1e-12


def test_float32_columns_fit_in_float32(tmp_path):
    frame, _ = make_frame()
    frame = frame.astype(np.float32)
    files = fastgd.read_files(write(frame, tmp_path, "parquet"), target="y")
    assert files.dtype == np.float32
    result = fastgd.fit(files, tol=1e-6)
    local = fastgd.fit(frame[FEATURES].to_numpy(), frame["y"].to_numpy(), tol=1e-6)
    assert result.coef.dtype == np.float32
    assert relative(result.coef, local.coef) < 1e-5


@pytest.mark.parametrize("scale", [1e-100, 1.0, 1e100])
def test_the_scale_of_y_changes_nothing_but_the_scale(tmp_path, scale):
    frame, _ = make_frame()
    frame["y"] *= scale
    result = fastgd.fit(
        fastgd.read_files(write(frame, tmp_path, "csv", 2), target="y", block_rows=900), tol=1e-12
    )
    coef, intercept = lstsq(frame[FEATURES].to_numpy(), frame[["y"]].to_numpy())
    assert relative(result.coef, coef[0]) < 1e-9


# ------------------------------------------------------------------ errors


def test_a_missing_column_is_named_with_the_columns_there(tmp_path):
    paths = write(make_frame()[0], tmp_path, "csv")
    with pytest.raises(ValueError, match=r"has no column 'price'; its columns are x0, x1"):
        fastgd.read_files(paths, target="price")
    with pytest.raises(ValueError, match="has no column 'x9'"):
        fastgd.read_files(paths, target="y", features=["x0", "x9"])


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_a_non_numeric_column_is_named(tmp_path, kind):
    frame, _ = make_frame()
    frame["city"] = "Paris"
    paths = write(frame, tmp_path, kind)
    with pytest.raises(TypeError, match=r"column 'city' of .*part0.* is \w*string, not numeric"):
        fastgd.read_files(paths, target="y")
    fastgd.read_files(paths, target="y", features=FEATURES)  # left out: no error


def test_a_word_far_into_a_csv_file_names_the_file(tmp_path):
    """Past the lines pyarrow infers the types from, a non-number is met by the block
    that reads it."""
    frame, _ = make_frame(n=60_000)
    frame = frame.astype(object)
    frame.loc[59_000, "x1"] = "n/a?"
    path = write(frame, tmp_path, "csv")
    files = fastgd.read_files(path, target="y", block_rows=5000)
    with pytest.raises(
        ValueError,
        match=r"column 'x1' of '.*part0.csv' holds 'n/a\?' at "
        r"row 59000, not a number",
    ):
        fastgd.fit(files)


@pytest.mark.parametrize("kind", ["parquet", "csv"])
@pytest.mark.parametrize("column,value", [("x2", np.nan), ("y", np.inf), ("x0", None)])
def test_nan_or_inf_is_named_by_file_row_and_column(tmp_path, kind, column, value):
    frame, _ = make_frame()
    frame[column] = frame[column].astype(object if value is None else float)
    frame.loc[3333, column] = value  # None: a null in Parquet, an empty field in CSV
    paths = write(frame, tmp_path, kind, parts=2, row_group_size=500)  # 2500 rows a file
    files = fastgd.read_files(paths, target="y", block_rows=600)
    name = "y" if column == "y" else "X"
    shown = "inf" if value == np.inf else "NaN"
    with pytest.raises(
        ValueError,
        match=rf"{name} contains {shown} at row 833 of "
        rf"'.*part1.{kind}', column '{column}'",
    ):
        fastgd.fit(files)


def test_predict_names_the_file_and_row_of_a_nan(tmp_path):
    frame, _ = make_frame()
    model = fastgd.GDRegressor().fit(frame[FEATURES], frame["y"])
    frame.loc[4100, "x3"] = np.nan
    files = fastgd.read_files(
        write(frame, tmp_path, "parquet", parts=2), target=None, features=FEATURES, block_rows=700
    )
    with pytest.raises(
        ValueError,
        match=r"X contains NaN at row 1600 of '.*part1.parquet', "
        r"column 'x3'",
    ):
        model.predict(files)


def test_a_file_rewritten_between_fits_is_read_anew(tmp_path):
    """Each process keeps a Parquet file's footer while the file is unchanged: a
    file written again at the same path (other rows, other row groups) is read as
    it now is."""
    for seed, n_rows, group in ((0, N, 700), (1, N // 2 + 17, 300)):
        frame, _ = make_frame(n=n_rows, seed=seed)
        paths = write(frame, tmp_path, "parquet", row_group_size=group)
        result = fastgd.fit(fastgd.read_files(paths, target="y", block_rows=500), tol=1e-12)
        local = fastgd.fit(frame[FEATURES].to_numpy(), frame["y"].to_numpy(), tol=1e-12)
        np.testing.assert_allclose(result.coef, local.coef, rtol=1e-12)


def test_other_bad_inputs(tmp_path):
    frame, _ = make_frame()
    paths = write(frame, tmp_path, "parquet")
    with pytest.raises(FileNotFoundError, match="no file"):
        fastgd.read_files(tmp_path / "missing.parquet", target="y")
    (tmp_path / "data.txt").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="neither a Parquet file"):
        fastgd.read_files(tmp_path / "data.txt", target="b")
    frame.to_csv(tmp_path / "data.csv.gz", index=False)
    with pytest.raises(ValueError, match="compressed file.*decompress it"):
        fastgd.read_files(tmp_path / "data.csv.gz", target="y")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(ValueError, match="cannot read .*broken.parquet"):
        fastgd.read_files(tmp_path / "broken.parquet", target="y")
    other = tmp_path / "other"
    other.mkdir()
    write(frame.drop(columns="x3"), other, "parquet")
    with pytest.raises(ValueError, match="has no column 'x3'.*the same columns"):
        fastgd.read_files(paths + [str(other / "part0.parquet")], target="y")
    files = fastgd.read_files(paths, target="y")
    with pytest.raises(TypeError, match="y must be None when X is files"):
        fastgd.fit(files, frame["y"].to_numpy())
    with pytest.raises(ValueError, match="no target column"):
        fastgd.fit(fastgd.read_files(paths, target=None))
    with pytest.raises(ValueError, match="block_rows must be a positive integer"):
        fastgd.read_files(paths, target="y", block_rows=0)
    with pytest.raises(ValueError, match="batch_size"):
        fastgd.fit(files, batch_size=32)
    with pytest.raises(ValueError, match="names a column twice"):
        fastgd.read_files(paths, target="y", features="x0,x0")


def test_a_directory_and_a_glob_read_their_files_in_name_order(tmp_path):
    frame, _ = make_frame()
    paths = write(frame, tmp_path, "csv", parts=3)
    assert fastgd.read_files(tmp_path, target="y").paths == paths
    assert fastgd.read_files(str(tmp_path / "part*.csv"), target="y").paths == paths


# ------------------------------------------------------------------ bounded memory

MEASURE = PEAK_MEMORY + textwrap.dedent("""
    import sys
    import numpy as np, fastgd
    fastgd.fit(np.ones((10, 2)) + np.eye(10, 2), np.arange(10.0))  # the kernels loaded
    files = fastgd.read_files(sys.argv[1], target="y", block_rows=16384)
    fastgd.fit(fastgd.read_files(sys.argv[2], target="y"))  # pyarrow and Dask loaded
    before = reset_peak_memory()
    if sys.argv[3] == "whole":  # the control: the whole file read into memory first
        import pyarrow.parquet as pq
        table = pq.read_table(sys.argv[1])
        X = np.column_stack([table.column(f"x{j}").to_numpy() for j in range(20)])
        result = fastgd.fit(X, table.column("y").to_numpy())
    else:
        result = fastgd.fit(files)
    print(peak_memory() - before, result.converged)
""")


def write_large(path, n_rows, n_features=20):
    """A Parquet file of random rows, written 100,000 rows at a time."""
    rng = np.random.default_rng(0)
    writer = None
    for _ in range(n_rows // 100_000):
        X = rng.standard_normal((100_000, n_features))
        table = pa.table(
            {**{f"x{j}": X[:, j] for j in range(n_features)}, "y": X @ np.arange(n_features) + 1.0}
        )
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=16384)
    writer.close()
    return n_rows * (n_features + 1) * 8  # the bytes of its columns as float64


def peak_growth(path, small, how="files"):
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path), str(small), how],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    growth, converged = out.stdout.split()
    assert converged == "True"
    return int(growth)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self")
def test_the_memory_of_a_fit_does_not_grow_with_the_file(tmp_path):
    """A fit of a 1e6-row file (168 MB as float64) and of one 8 times smaller: the
    peak RSS grows by a few blocks' worth in both, the same within a margin, where
    reading the whole file first (the control: the measurement sees memory) takes
    more than the data."""
    small = tmp_path / "small.parquet"
    write_large(small, 100_000)
    big = tmp_path / "big.parquet"
    data_bytes = write_large(big, 1_000_000)
    tiny = tmp_path / "tiny.parquet"
    write_large(tiny, 100_000, n_features=2)
    growth_big = peak_growth(big, tiny)
    growth_small = peak_growth(small, tiny)
    assert growth_big < 0.5 * data_bytes, (growth_big, data_bytes)
    # Seen here: 43-52 MB for either file, whatever its size (1e5, 1e6 and 3e6 rows),
    # once as low as 16 MB for the small one and once 77 MB for the large one in a
    # full test run; a fit that kept the blocks would grow by the 168 MB of the large
    # file's columns.
    assert growth_big < growth_small + 0.25 * data_bytes, (growth_big, growth_small)
    assert peak_growth(big, tiny, how="whole") > data_bytes


# ------------------------------------------ what pandas reads is what fastgd fits


def fit_of_frame(frame, target="y"):
    features = [name for name in frame.columns if name != target]
    return fastgd.fit(frame[features].to_numpy(np.float64), frame[target].to_numpy(), tol=1e-12)


def assert_fits_the_frame(files, frame):
    """The files' features are the frame's columns (as pandas reads them, the target
    aside) and the fit is the in-memory fit of those columns."""
    assert files.features == [name for name in frame.columns if name != "y"]
    result, local = fastgd.fit(files, tol=1e-12), fit_of_frame(frame)
    np.testing.assert_allclose(result.coef, local.coef, rtol=1e-12)
    assert result.intercept == pytest.approx(local.intercept, rel=1e-12)


def test_an_existing_path_with_glob_characters_is_that_file(tmp_path):
    """``sales[1].csv`` was read as a pattern: "no Parquet or CSV file", or the fit
    of sales1.csv when that existed."""
    frame, _ = make_frame(seed=1)
    other, _ = make_frame(seed=2)
    frame.to_csv(tmp_path / "sales[1].csv", index=False)
    other.to_csv(tmp_path / "sales1.csv", index=False)
    files = fastgd.read_files(str(tmp_path / "sales[1].csv"), target="y")
    assert files.paths == [str(tmp_path / "sales[1].csv")]
    assert_fits_the_frame(files, pd.read_csv(tmp_path / "sales[1].csv"))
    # a pattern that names no existing file is still a pattern
    assert fastgd.read_files(str(tmp_path / "sales?.csv"), target="y").paths == [
        str(tmp_path / "sales1.csv")
    ]


def test_relative_paths_are_the_callers_files_wherever_they_are_read(tmp_path, monkeypatch):
    """The blocks are read when a pass needs them, by Dask workers that may run in
    another directory: a relative path named the worker's own file there (fitted,
    reported converged, with the caller's path in the model)."""
    frame, _ = make_frame(seed=3)
    other, _ = make_frame(seed=4)
    (tmp_path / "mine").mkdir()
    (tmp_path / "theirs").mkdir()
    frame.to_parquet(tmp_path / "mine" / "d.parquet", index=False)
    other.to_parquet(tmp_path / "theirs" / "d.parquet", index=False)
    monkeypatch.chdir(tmp_path / "mine")
    files = fastgd.read_files("d.parquet", target="y")
    assert files.paths == [str(tmp_path / "mine" / "d.parquet")]
    monkeypatch.chdir(tmp_path / "theirs")  # where the reads happen
    assert_fits_the_frame(files, frame)


def test_a_stored_index_is_not_a_feature(tmp_path):
    """A pandas index written with the rows (a filtered frame's, or a named one) and
    Dask's, and the index column of ``to_csv()``: pandas reads them as the index (or
    with ``index_col=0``), and fastgd does not fit them as features."""
    dd = pytest.importorskip("dask.dataframe")
    frame, _ = make_frame(n=600, seed=5)
    kept = frame[frame.x0 > -0.01]  # a filtered frame: its index is not a range
    kept.to_parquet(tmp_path / "kept.parquet")
    named = frame.rename_axis("id")
    named.to_parquet(tmp_path / "named.parquet")
    kept.to_csv(tmp_path / "kept.csv")
    dd.from_pandas(frame, npartitions=1).to_parquet(tmp_path / "dask")
    cases = [
        (tmp_path / "kept.parquet", pd.read_parquet(tmp_path / "kept.parquet")),
        (tmp_path / "named.parquet", pd.read_parquet(tmp_path / "named.parquet")),
        (tmp_path / "kept.csv", pd.read_csv(tmp_path / "kept.csv", index_col=0)),
    ]
    dask_files = sorted((tmp_path / "dask").glob("*.parquet"))
    cases.append((dask_files, pd.concat([pd.read_parquet(p) for p in dask_files])))
    for path, read in cases:
        assert_fits_the_frame(fastgd.read_files(path, target="y"), read)


def test_every_files_columns_are_checked_and_all_choose_the_dtype(tmp_path):
    """Only the first file's schema was checked, and its dtype chosen: a later bool
    column was fitted as 0/1, a later float64 file cast to float32 (converged=True,
    an error of 2e-3)."""
    frame, _ = make_frame(seed=6)
    first, second = frame.iloc[:2000], frame.iloc[2000:]
    first.astype(np.float32).to_parquet(tmp_path / "a.parquet", index=False)
    second.to_parquet(tmp_path / "b.parquet", index=False)
    files = fastgd.read_files([tmp_path / "a.parquet", tmp_path / "b.parquet"], target="y")
    assert files.dtype == np.float64
    both = pd.concat(
        [pd.read_parquet(tmp_path / "a.parquet"), pd.read_parquet(tmp_path / "b.parquet")]
    )
    assert_fits_the_frame(files, both)
    for bad in (second.assign(x1=second.x1 > 0), second.assign(x1=second.x1.astype(str))):
        bad.to_parquet(tmp_path / "c.parquet", index=False)
        with pytest.raises(TypeError, match="column 'x1' of .*c.parquet.* not numeric"):
            fastgd.read_files([tmp_path / "a.parquet", tmp_path / "c.parquet"], target="y")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_fifo_is_refused_not_waited_on(tmp_path):
    os.mkfifo(tmp_path / "data.csv")
    with pytest.raises(ValueError, match="data.csv' is not a regular file"):
        fastgd.read_files(tmp_path / "data.csv", target="y")


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_a_file_changed_after_read_files_is_an_error_not_a_fit_of_old_rows(tmp_path, kind):
    """Rows appended after read_files were ignored (the blocks were cut before; the fit
    said converged on the old rows), and a rewrite that moved the lines gave a raw
    ArrowInvalid. Now: one error naming the file, for a fit and for a predict."""
    frame, _ = make_frame(seed=7)
    (path,) = write(frame, tmp_path, kind)
    files = fastgd.read_files(path, target="y", block_rows=1000)
    model = fastgd.GDRegressor().fit(files)
    more, _ = make_frame(n=100, seed=8)
    if kind == "csv":
        more.to_csv(path, mode="a", header=False, index=False)
    else:
        pq.write_table(pa.Table.from_pandas(pd.concat([frame, more]), preserve_index=False), path)
    for run in (lambda: fastgd.fit(files), lambda: model.predict(files)):
        with pytest.raises(ValueError, match=f"{kind}' changed after fastgd.read_files"):
            run()
    os.remove(path)
    with pytest.raises(ValueError, match="cannot be read any more"):
        fastgd.fit(files)
    fresh = pd.concat([frame, more])
    fresh.to_csv(path, index=False) if kind == "csv" else fresh.to_parquet(path, index=False)
    assert_fits_the_frame(fastgd.read_files(path, target="y"), fresh)


def test_a_column_named_twice_is_refused_by_name(tmp_path):
    """The target among the features gave pyarrow's 'Field "y" exists 2 times'; a
    header naming a column twice read one of them silently."""
    frame, _ = make_frame(n=100)
    (path,) = write(frame, tmp_path, "csv")
    with pytest.raises(ValueError, match="features names 'y', which is the target column"):
        fastgd.read_files(path, target="y", features=["x0", "y"])
    with pytest.raises(ValueError, match="features names 'x1', which is the sample_weight"):
        fastgd.read_files(path, target="y", features=["x0", "x1"], sample_weight="x1")
    text = open(path).read().replace("x0,x1", "x0,x0", 1)
    (tmp_path / "twice.csv").write_text(text)
    with pytest.raises(ValueError, match="twice.csv' has two columns named 'x0'"):
        fastgd.read_files(tmp_path / "twice.csv", target="y")


@pytest.mark.parametrize("kind", ["parquet", "csv"])
@pytest.mark.parametrize("value", [np.nan, -1.0])
def test_a_bad_weight_is_named_by_file_and_row(tmp_path, kind, value):
    frame, _ = make_frame(weights=True)
    frame.loc[3217, "w"] = value
    more = tmp_path / "more"
    more.mkdir()
    paths = write(frame.iloc[:2000], tmp_path, kind) + write(frame.iloc[2000:], more, kind)
    files = fastgd.read_files(paths, target="y", sample_weight="w", block_rows=500)
    with pytest.raises(
        ValueError, match=f"column 'w' holds {value} at row 1217 of .*more.*part0.{kind}"
    ):
        fastgd.fit(files)


def test_the_rows_before_a_bad_block_are_counted_in_bounded_reads(tmp_path):
    """A word in the last line of a 1.5 GB CSV took the peak memory from 205 MB to
    1.6 GB: the rows before its block were counted in one read of everything before
    it. They are counted a chunk at a time (and still right)."""
    from fastgd import _files

    frame, _ = make_frame(n=20_000)
    frame["x2"] = frame["x2"].astype(object)
    frame.loc[19_990, "x2"] = "abc"
    (path,) = write(frame, tmp_path, "csv")
    reads = []

    class Recorded(io.FileIO):
        def read(self, size=-1):
            reads.append(size)
            return super().read(size)

    with Recorded(path, "r") as file:
        end = os.path.getsize(path) - 100
        expected = open(path, "rb").read(end).count(b"\n")
        assert _files.lines_before(file, end, chunk_bytes=1 << 16) == expected
        assert file.tell() == end
    assert 0 < max(reads) <= 1 << 16
    files = fastgd.read_files(path, target="y", block_rows=1000)
    with pytest.raises(ValueError, match="'x2' of .* holds 'abc' at row 19990"):
        fastgd.fit(files)


def test_csv_layouts_pandas_reads_are_fitted_or_named(tmp_path):
    """A header and no rows, CR-only line endings and blank lines before the header:
    an IndexError, an IndexError and an ArrowKeyError on a file of several blocks.
    Now "no sample" as for an empty Parquet file, an error naming the line endings
    (pandas reads them; convert them), and the fit pandas' reading gives."""
    (tmp_path / "header.csv").write_text("x0,x1,y\n")
    with pytest.raises(ValueError, match="at least one sample"):
        fastgd.fit(fastgd.read_files(tmp_path / "header.csv", target="y"))
    frame, _ = make_frame(n=3000)
    text = frame.to_csv(index=False)
    (tmp_path / "cr.csv").write_text(text.replace("\n", "\r"))
    with pytest.raises(ValueError, match="cr.csv' ends its lines with a carriage return"):
        fastgd.read_files(tmp_path / "cr.csv", target="y")
    (tmp_path / "blank.csv").write_text("\n\r\n" + text)
    files = fastgd.read_files(tmp_path / "blank.csv", target="y", block_rows=300)
    assert len(files.pieces) > 1
    assert_fits_the_frame(files, pd.read_csv(tmp_path / "blank.csv"))


def test_a_worker_in_another_directory_reads_the_callers_file(tmp_path, monkeypatch):
    """The issue's case with real worker processes: started in a directory holding a
    d.parquet of its own, they fitted theirs (converged) for a relative path."""
    distributed = pytest.importorskip("distributed")
    frame, _ = make_frame(seed=9)
    other, _ = make_frame(seed=10)
    for where, data in (("workers", other), ("caller", frame)):
        (tmp_path / where).mkdir()
        data.to_parquet(tmp_path / where / "d.parquet", index=False)
    monkeypatch.chdir(tmp_path / "workers")  # the worker processes start here
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster),
    ):
        monkeypatch.chdir(tmp_path / "caller")
        files = fastgd.read_files("d.parquet", target="y", block_rows=1000)
        assert_fits_the_frame(files, frame)


def test_processes_saving_to_one_path_never_lose_the_model(tmp_path):
    script = textwrap.dedent("""
        import sys, numpy as np, fastgd
        X = np.random.default_rng(int(sys.argv[2])).standard_normal((50, 3))
        model = fastgd.GDRegressor().fit(X, X @ [1.0, 2.0, 3.0])
        for _ in range(20):
            model.save(sys.argv[1])
    """)
    path = tmp_path / "model.fastgd"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(path), str(seed)], stderr=subprocess.PIPE, text=True
        )
        for seed in (1, 2)
    ]
    errors = [process.communicate(timeout=300)[1] for process in processes]
    assert [process.returncode for process in processes] == [0, 0], errors
    np.testing.assert_allclose(fastgd.load(path).coef_, [1.0, 2.0, 3.0], rtol=1e-9)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.fastgd"]


BAD_WORD_AT_THE_END = PEAK_MEMORY + textwrap.dedent("""
    import sys
    import numpy as np, fastgd
    fastgd.fit(fastgd.read_files(sys.argv[2], target="y"))  # pyarrow and Dask loaded
    before = reset_peak_memory()
    try:
        fastgd.fit(fastgd.read_files(sys.argv[1], target="y", block_rows=16384))
    except ValueError as error:
        print(peak_memory() - before, "holds 'abc'" in str(error), repr(str(error)))
""")


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self")
def test_a_bad_word_at_the_end_of_a_large_csv_costs_no_more_memory(tmp_path):
    """One word in the last line of a 1.5 GB CSV took the peak from 205 MB to 1.6 GB
    (the lines before its block counted in one read). Here 200 MB: the error is
    named with a few blocks' memory."""
    rng = np.random.default_rng(0)
    path = tmp_path / "large.csv"
    with open(path, "w") as file:
        file.write(",".join(FEATURES + ["y"]) + "\n")
        for _ in range(20):
            np.savetxt(file, rng.standard_normal((100_000, D + 1)), delimiter=",")
        file.write("1,2,3,abc,5\n")
    size = os.path.getsize(path)
    small = tmp_path / "small.csv"
    make_frame(n=100)[0].to_csv(small, index=False)
    out = subprocess.run(
        [sys.executable, "-c", BAD_WORD_AT_THE_END, str(path), str(small)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    growth, named, message = out.stdout.split(maxsplit=2)
    assert named == "True" and int(growth) < size / 4, (int(growth), size, message)
