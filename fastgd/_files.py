"""Columns of Parquet and CSV files, fitted a block at a time.

``fastgd.read_files(paths, target=...)`` reads the files' schemas and nothing else,
and cuts the files into blocks: runs of Parquet row groups, or byte ranges of a CSV
file that end at a line's end, of about ``block_rows`` rows each. A fit (or
``GDRegressor.fit``, ``predict``, ``score``) then reads each block when a pass needs
it, through pyarrow, as one Dask task: ``_data.BlockedData`` runs the Gram solver's
two passes over them on Dask's scheduler (its local threads, or a
``distributed.Client``'s workers, which must see the same paths). Nothing keeps a
block after its task, so the memory a fit takes is a few blocks, whatever the size
of the files (the streaming solver is the exception: it keeps every block, see
``fastgd.fit``'s ``solver``).

Nothing here imports pyarrow or Dask until files are read.
"""

import functools
import io
import os
import re
from dataclasses import dataclass, replace

import numpy as np

from . import _reference
from ._blocks import first_non_finite, non_finite_error
from ._data import BlockedData, BlockSpec

# Rows of a block (a CSV block's bytes are estimated from its first lines): a few
# megabytes of float64 for tens of columns, and one Dask task per block.
BLOCK_ROWS = 1 << 16
CSV_SUFFIXES = (".csv", ".tsv")
PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".zst", ".zip", ".lz4")


def file_kind(path):
    """ "parquet" or "csv", from the name's suffix."""
    name = os.fspath(path).lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    known = (
        f"a Parquet file ({', '.join(PARQUET_SUFFIXES)}) nor a CSV file "
        f"({', '.join(CSV_SUFFIXES)})"
    )
    if name.endswith(COMPRESSED_SUFFIXES):  # blocks are byte ranges: no stream codecs
        raise ValueError(
            f"{os.fspath(path)!r} is a compressed file, neither {known}: "
            f"fastgd reads a CSV file in byte ranges, so decompress it "
            f"first (or convert it to Parquet, which compresses its row "
            f"groups)."
        )
    raise ValueError(f"{os.fspath(path)!r} is neither {known}: fastgd reads those two formats.")


@dataclass(frozen=True)
class Piece:
    """One block of one file: Parquet row groups, or a CSV byte range of whole lines."""

    path: str
    kind: str
    part: tuple  # parquet: the row groups' indices; csv: (first byte, end byte)
    header: bytes = b""  # csv: the header line, put before the block's bytes
    rows: int = -1  # parquet: the rows of its row groups (csv: unknown before a read)
    stamp: tuple = ()  # the file's (size, modification time) when it was cut in blocks


def read_files(paths, target, *, features=None, sample_weight=None, block_rows=BLOCK_ROWS):
    """Columns of Parquet or CSV files, for a fit that reads them a block at a time.

    Only the files' schemas are read here. ``fastgd.fit(files)``,
    ``GDRegressor().fit(files)``, ``predict(files)`` and ``score(files)`` then read
    each block (a run of Parquet row groups, or a CSV byte range of whole lines)
    when a pass needs it, on Dask's scheduler: its local threads, or the workers of
    a ``distributed.Client`` (which must see the same paths). The memory a fit takes
    is a few blocks, whatever the size of the files.

    Parameters
    ----------
    paths : str, path or list of them
        Files (``.parquet``, ``.pq``, ``.csv``, ``.tsv``), directories (their
        Parquet and CSV files, sorted by name) or glob patterns (a path that exists
        is read as it is). Every file must have the first one's columns, and the
        columns read must be numeric in every file; X is float32 only when they are
        float32 (or narrower floats) in every file. Paths are resolved on the
        calling machine.
    target : str, list of str or None
        The column of y (a list: the columns of a 2-D y, one model per column).
        None for files to predict on only.
    features : str or list of str, optional
        The columns of X, in order (a string: names separated by commas). Default:
        every column but the target, the weights and a stored index (named in the
        file's pandas metadata, pandas' and Dask's ``__index_level_0__`` and
        ``__null_dask_index__``, or a CSV's first column with an empty header, as
        ``DataFrame.to_csv()`` writes it).
    sample_weight : str, optional
        The column of the sample weights.
    block_rows : int, default 65536
        About how many rows a block holds (a Parquet row group larger than that is a
        block of its own).

    Returns
    -------
    fastgd.Files
        What ``fit``, ``GDRegressor.fit`` / ``partial_fit`` / ``predict`` / ``score``
        take in place of X, with y omitted.

    Raises
    ------
    FileNotFoundError
        For a path that does not exist.
    ValueError
        For a missing column (named, with the file's columns) or an unreadable file.
    TypeError
        For a column that is not numeric.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np, pandas as pd, fastgd
    >>> path = os.path.join(tempfile.mkdtemp(), "data.csv")
    >>> x = np.linspace(0.0, 1.0, 50)
    >>> pd.DataFrame({"x": x, "y": 2.0 * x + 1.0}).to_csv(path, index=False)
    >>> result = fastgd.fit(fastgd.read_files(path, target="y"))
    >>> print(np.round(result.coef, 6), round(result.intercept, 6))
    [2.] 1.0
    """
    if not (isinstance(block_rows, (int, np.integer)) and block_rows >= 1):
        raise ValueError(f"block_rows must be a positive integer; got {block_rows!r}.")
    if not (target is None or isinstance(target, (str, list, tuple))):
        raise TypeError(f"target must be a column name or a list of them; got {target!r}.")
    return Files(paths, target, features, sample_weight, int(block_rows))


class Files:
    """The columns of one or more Parquet or CSV files that a fit reads, a block at
    a time (made by :func:`fastgd.read_files`)."""

    holds_blocks = True  # what _inputs.holds_blocks looks for

    def __init__(self, paths, target, features, sample_weight, block_rows):
        _require("pyarrow")
        _require("dask")

        self.paths = expand_paths(paths)
        self.y_is_1d = isinstance(target, str)
        self.targets = (
            [] if target is None else [target] if self.y_is_1d else _names(target, "target")
        )
        stamps = [file_stamp(path) for path in self.paths]
        schemas = self._common_schemas()
        self.weight = sample_weight
        named = self.targets + ([] if sample_weight is None else [sample_weight])
        if features is None:  # (an index stored as a column is not a feature, as in pandas)
            index = index_columns(schemas[0])
            features = [
                name for name in schemas[0].names if name not in named and name not in index
            ]
        self.features = _names(features, "features")
        if not self.features:
            raise ValueError(f"features: no columns left besides the target in {self.paths[0]!r}.")
        both = [name for name in self.features if name in named]
        if both:
            raise ValueError(
                f"features names {both[0]!r}, which is the "
                f"{'target' if both[0] in self.targets else 'sample_weight'}"
                f" column: a column is a feature or the target or the weights."
            )
        self.columns = self.features + named  # a block's array, column by column
        for path, schema in zip(self.paths, schemas):  # every file's, not the first's
            for name in self.columns:
                _check_column(schema, name, path)
        self.dtype = _fit_dtype(
            [schema.field(name).type for schema in schemas for name in self.features]
        )
        self.pieces = [
            replace(piece, stamp=stamp)
            for path, stamp in zip(self.paths, stamps)
            for piece in file_pieces(path, self.columns, block_rows)
        ]
        check_unchanged(self.paths, stamps)  # (not rewritten while it was read)

    def _common_schemas(self):
        """Every file's schema; every file must have the first one's columns, each
        name once."""
        schemas = [file_schema(path) for path in self.paths]
        for path, schema in zip(self.paths, schemas):
            twice = sorted({name for name in schema.names if schema.names.count(name) > 1})
            if twice:
                raise ValueError(
                    f"{path!r} has two columns named {twice[0]!r}: name each column once."
                )
        for path, schema in zip(self.paths[1:], schemas[1:]):
            missing = [name for name in schemas[0].names if name not in schema.names]
            if missing:
                raise ValueError(
                    f"{path!r} has no column {missing[0]!r}, which "
                    f"{self.paths[0]!r} has: the files must have the same "
                    f"columns."
                )
        return schemas

    @property
    def n_features(self):
        return len(self.features)

    @property
    def n_targets(self):
        return len(self.targets)

    @property
    def columns_frame(self):
        """An empty pandas frame of the feature columns: what scikit-learn reads
        feature names from."""
        import pandas

        return pandas.DataFrame(columns=self.features)

    @property
    def block_rows(self):
        """The rows of each block, if the files' metadata say them (Parquet), else
        None (CSV: counted by reading)."""
        if any(piece.rows < 0 for piece in self.pieces):
            return None
        return tuple(piece.rows for piece in self.pieces)

    def blocks(self):
        """Each block as a Delayed read: its (rows, columns) array, in Fortran order."""
        import dask

        read = dask.delayed(read_piece, pure=True)
        return [read(piece, self.columns, self.dtype, self.weight) for piece in self.pieces]

    def where(self, block_rows, block, row, name, column):
        """A block's row in words: the file and the row in it (0-based, the header
        not counted), and the column's name."""
        path = self.pieces[block].path
        before = sum(
            rows for piece, rows in zip(self.pieces[:block], block_rows) if piece.path == path
        )
        names = self.features if name == "X" else self.targets
        return f"row {before + row} of {path!r}, column {names[column]!r}"

    @property
    def empty(self):
        """What an error says of files that hold no rows."""
        return f"{', '.join(map(repr, self.paths))} hold no rows"

    def __repr__(self):
        return (
            f"fastgd.Files({len(self.paths)} file(s), {len(self.pieces)} block(s), "
            f"target={self.targets[0] if self.y_is_1d else self.targets or None!r}, "
            f"{self.n_features} features)"
        )


def _require(module):
    """ImportError naming the extra that brings ``module``, before any file is read."""
    import importlib

    try:
        importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"fastgd.read_files needs {module}: the files extra, python -m "
            f"pip install -e '.[files]' in fastgd's source checkout",
            name=module,
        ) from error


def expand_paths(paths):
    """Paths, directories (their files, sorted) and glob patterns -> absolute paths of
    regular files. An existing path is that path, whatever characters it holds
    (``sales[1].csv``); only one that does not exist is a glob pattern. The paths are
    made absolute here, on the client: a Dask worker started in another directory
    reads the same files."""
    import glob

    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    found = []
    for path in map(os.fspath, paths):
        if os.path.isdir(path):
            found += sorted(
                os.path.join(path, name)
                for name in os.listdir(path)
                if name.lower().endswith(PARQUET_SUFFIXES + CSV_SUFFIXES)
            )
        elif os.path.exists(path):
            found.append(path)
        elif glob.has_magic(path):
            found += sorted(glob.glob(path))
        else:
            raise FileNotFoundError(f"no file {path!r}.")
    if not found:
        raise FileNotFoundError(f"no Parquet or CSV file in {list(paths)!r}.")
    for path in found:
        if not os.path.isfile(path):  # a FIFO or a device would block the reads
            raise ValueError(
                f"{path!r} is not a regular file: fastgd reads Parquet and CSV files."
            )
    return [os.path.abspath(path) for path in found]


# The names pandas and Dask give an index they store as a column when it has none.
UNNAMED_INDEX = re.compile(r"__index_level_\d+__|__null_dask_index__")


def index_columns(schema):
    """The columns of a file that hold a pandas or Dask index, not data: those that
    the file's pandas metadata names as its index, those named as pandas and Dask
    name an unnamed index, and a CSV's first column when its header is empty (what
    ``DataFrame.to_csv()`` writes for the index)."""
    metadata = schema.pandas_metadata or {}
    named = [
        column for column in metadata.get("index_columns", []) if isinstance(column, str)
    ]  # (a RangeIndex is not stored: a dict)
    unnamed = [name for name in schema.names if UNNAMED_INDEX.fullmatch(name)]
    first = schema.names[:1] if schema.names[:1] == [""] else []
    return set(named + unnamed + first)


def _names(names, what):
    if isinstance(names, str):
        names = names.split(",")
    names = list(names)
    if not all(isinstance(name, str) and name for name in names):
        raise TypeError(f"{what} must be column names (strings); got {names!r}.")
    if len(set(names)) != len(names):
        raise ValueError(f"{what} names a column twice: {names!r}.")
    return names


def _check_column(schema, name, path):
    import pyarrow as pa

    if name not in schema.names:
        raise ValueError(
            f"{path!r} has no column {name!r}; its columns are {', '.join(schema.names)}."
        )
    kind = schema.field(name).type
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_null(kind)):
        raise TypeError(
            f"column {name!r} of {path!r} is {kind}, not numeric: fastgd needs "
            f"numbers (integers or floats)."
        )


def _fit_dtype(types):
    """float32 when every feature column is float32 or narrower, else float64 (as a
    frame of those columns is cast)."""
    import pyarrow as pa

    narrow = all(pa.types.is_floating(kind) and kind.bit_width <= 32 for kind in types)
    return np.dtype(np.float32 if narrow else np.float64)


# -------------------------------------------------------------- a file's blocks


def file_schema(path):
    """The file's columns and their types (a CSV's inferred from its first lines)."""
    import pyarrow as pa

    try:
        if file_kind(path) == "parquet":
            import pyarrow.parquet as pq

            return pq.read_schema(path)
        import pyarrow.csv as pcsv

        with pcsv.open_csv(path, parse_options=_csv_parse(path)) as reader:
            return reader.schema
    except (pa.ArrowInvalid, OSError) as error:
        raise ValueError(f"cannot read {path!r}: {error}") from None


def _csv_parse(path):
    import pyarrow.csv as pcsv

    return pcsv.ParseOptions(delimiter="\t" if path.lower().endswith(".tsv") else ",")


def file_pieces(path, columns, block_rows):
    if file_kind(path) == "parquet":
        return parquet_pieces(path, block_rows)
    return csv_pieces(path, len(columns), block_rows)


def parquet_pieces(path, block_rows):
    """Consecutive row groups of about block_rows rows (a larger group alone)."""
    import pyarrow.parquet as pq

    metadata = pq.ParquetFile(path).metadata
    pieces, groups, rows = [], [], 0
    for group in range(metadata.num_row_groups):
        groups.append(group)
        rows += metadata.row_group(group).num_rows
        if rows >= block_rows:
            pieces.append(Piece(path, "parquet", tuple(groups), rows=rows))
            groups, rows = [], 0
    if groups or not pieces:
        pieces.append(Piece(path, "parquet", tuple(groups), rows=rows))
    return pieces


def csv_pieces(path, n_columns, block_rows):
    """Byte ranges of whole lines, of about block_rows rows each (the bytes a row
    takes measured on the first lines)."""
    size = os.path.getsize(path)
    with open(path, "rb") as file:
        header = file.readline()
        while header.strip(b"\r\n") == b"" and header:  # blank lines before it, as pandas
            header = file.readline()
        if b"\r" in header.rstrip(b"\r\n"):
            raise ValueError(
                f"{path!r} ends its lines with a carriage return alone (old Mac "
                f"line endings): convert them to LF or CRLF, or the file to "
                f"Parquet."
            )
        start = file.tell()
        sample = file.read(1 << 16)
        lines = max(1, sample.count(b"\n"))
        block_bytes = max(1 << 12, len(sample) * block_rows // lines)
        bounds = [start]
        while bounds[-1] < size:
            file.seek(min(bounds[-1] + block_bytes, size))
            file.readline()  # on to the end of the line it is in
            bounds.append(min(file.tell(), size))
    if len(bounds) == 1:  # a header and no rows: one empty block, as an empty Parquet file
        bounds.append(size)
    return [Piece(path, "csv", (a, b), header) for a, b in zip(bounds[:-1], bounds[1:])]


def file_stamp(path):
    """What says a file is unchanged: its size and modification time."""
    stat = os.stat(path)
    return stat.st_size, stat.st_mtime_ns


def check_unchanged(paths, stamps):
    """Raise ValueError for a file changed since its stamp: its blocks (row groups,
    byte ranges) were cut from what it held then."""
    for path, stamp in zip(paths, stamps):
        try:
            now = file_stamp(path)
        except OSError as error:
            raise ValueError(
                f"{path!r} cannot be read any more since fastgd.read_files "
                f"read it: {error.strerror}."
            ) from None
        if now != stamp:
            raise ValueError(
                f"{path!r} changed after fastgd.read_files cut it into blocks (its size "
                f"or modification time differ): rows appended or rewritten since would "
                f"be missed or misread. Call read_files again once the file is written."
            )


def read_piece(piece, columns, dtype, weight=None):
    """A block's columns as one (rows, columns) array in Fortran order: X, y and
    the weights (``weight``: their column, the last) are then contiguous slices of
    it, with no copy. Raises ValueError if the file changed since it was cut in
    blocks, or for a weight that is not a finite, non-negative number (naming its row
    and file)."""
    import pyarrow as pa

    if piece.stamp:
        check_unchanged([piece.path], [piece.stamp])

    try:
        table = (
            _read_parquet(piece, columns) if piece.kind == "parquet" else _read_csv(piece, columns)
        )
    except (pa.ArrowInvalid, OSError) as error:
        if piece.kind == "csv":
            _raise_for_a_word(piece, columns)
        raise ValueError(f"cannot read {piece.path!r}: {error}") from None
    block = np.empty((table.num_rows, len(columns)), dtype=dtype, order="F")
    for j, name in enumerate(columns):
        start = 0
        for chunk in table.column(name).chunks:  # chunk by chunk: no concatenated copy
            # nulls (a CSV's empty fields) become NaN: the fit names their row and file
            block[start : start + len(chunk), j] = chunk.to_numpy(zero_copy_only=False)
            start += len(chunk)
    if weight is not None:
        bad = ~(np.isfinite(block[:, -1]) & (block[:, -1] >= 0))
        if bad.any():
            row = int(np.argmax(bad))
            raise ValueError(
                f"sample_weight column {weight!r} holds {block[row, -1]} at "
                f"row {rows_before(piece) + row} of {piece.path!r}: weights "
                f"must be finite, non-negative numbers."
            )
    return block


def rows_before(piece):
    """The data rows of the piece's file before the piece (an error path)."""
    if piece.kind == "parquet":
        first = piece.part[0] if piece.part else 0
        metadata = _parquet_metadata(piece.path, *file_stamp(piece.path)[::-1])
        return sum(metadata.row_group(group).num_rows for group in range(first))
    with open(piece.path, "rb") as file:
        return lines_before(file, piece.part[0]) - 1  # (the header's line aside)


def lines_before(file, offset, chunk_bytes=1 << 20):
    """The line ends in the file's first ``offset`` bytes, read a chunk at a time
    (the block may be the last of a file of many GB). Leaves the file at ``offset``."""
    file.seek(0)
    count = 0
    while file.tell() < offset:
        count += file.read(min(chunk_bytes, offset - file.tell())).count(b"\n")
    return count


def _read_parquet(piece, columns):
    import pyarrow.parquet as pq

    # Column chunk by column chunk (pre_buffer=False holds less of the row group), on
    # one thread: Dask runs the blocks in parallel. The footer is parsed once per
    # file and process, not once per block (its cost grows with columns x row groups).
    stat = os.stat(piece.path)
    metadata = _parquet_metadata(piece.path, stat.st_mtime_ns, stat.st_size)
    return pq.ParquetFile(piece.path, metadata=metadata, pre_buffer=False).read_row_groups(
        list(piece.part), columns=columns, use_threads=False
    )


@functools.lru_cache(maxsize=64)
def _parquet_metadata(path, mtime_ns, size):
    """A Parquet file's footer, for as long as the file is unchanged (the key holds
    its modification time and size)."""
    import pyarrow.parquet as pq

    return pq.read_metadata(path)


def _read_csv(piece, columns):
    import pyarrow as pa
    import pyarrow.csv as pcsv

    start, end = piece.part
    with open(piece.path, "rb") as file:
        file.seek(start)
        text = piece.header + file.read(end - start)
    convert = pcsv.ConvertOptions(
        include_columns=columns, column_types={name: pa.float64() for name in columns}
    )
    return pcsv.read_csv(
        io.BytesIO(text),
        parse_options=_csv_parse(piece.path),
        convert_options=convert,
        read_options=pcsv.ReadOptions(use_threads=False),
    )


def _raise_for_a_word(piece, columns):
    """A CSV block that does not convert to numbers: find the first field that is
    not one, and raise naming its column, row and file (an error path: slow is
    fine)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    start, end = piece.part
    before = rows_before(piece)
    with open(piece.path, "rb") as file:
        file.seek(start)
        text = piece.header + file.read(end - start)
    convert = pcsv.ConvertOptions(
        include_columns=columns, column_types={name: pa.string() for name in columns}
    )
    table = pcsv.read_csv(
        io.BytesIO(text), parse_options=_csv_parse(piece.path), convert_options=convert
    )
    for row in range(table.num_rows):
        for name in columns:
            value = table.column(name)[row].as_py()
            try:
                float(value if value else "nan")
            except ValueError:
                raise ValueError(
                    f"column {name!r} of {piece.path!r} holds {value!r} at "
                    f"row {before + row}, not a number: fastgd needs numbers "
                    f"(integers or floats)."
                ) from None


# -------------------------------------------------------------- predictions


def iter_predictions(files, coef, intercept, window=4):
    """Each block's ``X @ coef.T + intercept``, in file order, ``window`` blocks at
    a time on Dask's scheduler (memory: a window's blocks). Raises ValueError naming
    the file and row of a NaN or inf in X."""
    import dask

    coef = np.asarray(coef, dtype=files.dtype)
    intercept = np.asarray(intercept, dtype=files.dtype)
    task = dask.delayed(predict_piece, pure=True)
    rows = []
    for start in range(0, len(files.pieces), window):
        pieces = files.pieces[start : start + window]
        for piece, (prediction, bad) in zip(
            pieces,
            dask.compute(
                *[task(piece, files.features, files.dtype, coef, intercept) for piece in pieces]
            ),
        ):
            rows.append(len(prediction))
            if bad is not None:
                _, row, column, value = bad
                where = files.where(rows, len(rows) - 1, row, "X", column)
                raise non_finite_error("X", value, where)
            yield piece, prediction


def predict_piece(piece, features, dtype, coef, intercept):
    """A block's predictions, and its first non-finite X entry (or None)."""
    X = read_piece(piece, features, dtype)
    prediction = _reference.predictions(X, coef, intercept)
    bad = None
    if not np.isfinite(prediction).all():
        bad = first_non_finite(X, np.zeros((X.shape[0], 0)))
    return prediction, bad


# -------------------------------------------------------------- fits


def blocked_data(files, y, sample_weight):
    """Files as ``_data.BlockedData``: each block one read of its columns, X's, y's
    and the weights' side by side."""
    for name, given in (("y", y), ("sample_weight", sample_weight)):
        if given is not None:
            raise TypeError(
                f"{name} must be None when X is files: it comes from "
                f"their columns (fastgd.read_files' target= and "
                f"sample_weight=)."
            )
    if files.n_targets == 0:
        raise ValueError(
            "the files have no target column: name it, fastgd.read_files(paths, target=COLUMN)."
        )
    return BlockedData(
        [(block, None, None) for block in files.blocks()],
        BlockSpec(files.n_features, files.n_targets, files.dtype, True),
        files.y_is_1d,
        files.weight is not None,
        files.block_rows,
        source=files,
    )
