"""A fitted GDRegressor saved in one file that loads without pickle.

The file is a ZIP archive (stored, not compressed) of:

- ``model.json``: the format's name and version, the fastgd version that wrote it,
  the estimator's parameters (``get_params``), the fitted scalars (``n_iter_``,
  ``lr_``, ...), the feature names, the target names (the command line's target
  columns), each array's shape and dtype, and the caller's ``extra`` metadata;
- one ``.npy`` file per array (``coef_``, ``intercept_`` and the three curves of
  ``history_``), read back with ``allow_pickle=False``.

Loading runs no code from the file: JSON holds only numbers, strings, lists and
dicts, and NumPy refuses an ``.npy`` that holds Python objects. Every field is then
checked against what a fit produces (names, types, shapes, dtypes, finiteness, the
version); anything else raises ``ModelFileError`` naming the field. Why not
``skops.io``: it serialises any estimator, but its loader refuses fastgd's class
unless the user lists it as trusted, and it is one more dependency for a handful
of arrays whose layout fastgd knows exactly.
"""

import io
import json
import math
import os
import struct
import zipfile

import numpy as np

from . import _version
from ._atomic import written_atomically
from ._spec import ESTIMATOR_PARAMETERS, FIT_PARAMETERS, FitSpec
from ._validation import check_backend

FORMAT = "fastgd-model"
FORMAT_VERSION = 2
METADATA = "model.json"


class Number:
    """The JSON of a float that may be NaN or inf, which JSON holds as the strings
    "nan", "inf" and "-inf" (error_bound_ is NaN for the iterative methods, inf for
    dependent columns)."""

    @staticmethod
    def to_json(value):
        value = float(value)
        return value if np.isfinite(value) else str(value)

    @staticmethod
    def of_json(value):
        if isinstance(value, str) and value in ("nan", "inf", "-inf"):
            return float(value)
        return (
            float(value)
            if isinstance(value, (int, float)) and not isinstance(value, bool)
            else None
        )


# The fitted scalars and the JSON type each must have (bool before int: in Python a
# bool is an int, and n_iter_ must not be True).
FITTED_SCALARS = {
    "n_iter_": int,
    "t_": int,
    "n_features_in_": int,
    "lr_": float,
    "converged_": bool,
    "backend_": str,
    "solver_": str,
    "method_": str,
    "error_bound_": Number,
    "stopped_": str,
}
METADATA_KEYS = {
    "format",
    "format_version",
    "fastgd_version",
    "class",
    "params",
    "fitted",
    "feature_names",
    "target_names",
    "arrays",
    "extra",
}
HISTORY = ("loss", "grad_norm", "lr")
ARRAYS = ("coef_", "intercept_") + tuple(f"history_{name}" for name in HISTORY)
FLOAT_DTYPES = ("float32", "float64")
# No real model's metadata comes near this; a bigger member is not a model file.
MAX_METADATA_BYTES = 1 << 22
NPY_HEADER_BYTES = 4096


class ModelFileError(ValueError):
    """A model file that fastgd cannot load: not one, damaged, or of another version."""


# ------------------------------------------------------------------ save


def save(model, path, extra=None, target_names=None):
    """Write a fitted GDRegressor to ``path`` (see GDRegressor.save); the command
    line also records the target columns' names (``target_names``)."""
    extra = {} if extra is None else extra
    if not isinstance(extra, dict) or not _kept_by_json(extra):
        raise ValueError(
            f"extra must be a dict that JSON keeps as it is (string keys; "
            f"lists, strings, finite numbers, bools, None); got {extra!r}."
        )
    arrays = _arrays(model)
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "fastgd_version": _this_version(),
        "class": type(model).__name__,
        "params": _params(model),
        "fitted": {
            name: (
                Number.to_json(getattr(model, name))
                if kind is Number
                else kind(getattr(model, name))
            )
            for name, kind in FITTED_SCALARS.items()
        },
        "feature_names": _feature_names(model),
        "target_names": None if target_names is None else list(target_names),
        "arrays": {
            name: {"shape": list(array.shape), "dtype": array.dtype.name}
            for name, array in arrays.items()
        },
        "extra": extra,
    }
    _write_atomically(os.fspath(path), json.dumps(metadata, allow_nan=False, indent=1), arrays)


def _kept_by_json(value):
    """True if JSON gives ``value`` back equal (no tuple, no int key, no NaN)."""
    try:
        return json.loads(json.dumps(value, allow_nan=False)) == value
    except (TypeError, ValueError):
        return False


def _params(model):
    params = model.get_params()
    if params["callback"] is not None:
        raise ValueError(
            "callback: a model with a callback cannot be saved (a function "
            "is code, which this format never stores); set callback=None."
        )
    if not (params["random_state"] is None or _is_int(params["random_state"])):
        raise ValueError(
            f"random_state: only None or an int can be saved; got "
            f"{type(params['random_state']).__name__}."
        )
    return {
        name: value.item() if isinstance(value, np.generic) else value
        for name, value in params.items()
    }


def _feature_names(model):
    names = getattr(model, "feature_names_in_", None)
    return None if names is None else [str(name) for name in names]


def _arrays(model):
    arrays = {"coef_": np.asarray(model.coef_), "intercept_": np.asarray(model.intercept_)}
    for name in HISTORY:
        arrays[f"history_{name}"] = np.asarray(model.history_[name], dtype=np.float64)
    return arrays


def _write_atomically(path, text, arrays):
    """The archive in a temporary file beside ``path``, renamed over it at the end:
    an interrupted save never leaves a half-written model at ``path``."""
    with written_atomically(path) as temporary:
        with zipfile.ZipFile(temporary, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr(METADATA, text)
            for name, array in arrays.items():
                buffer = io.BytesIO()
                np.lib.format.write_array(buffer, np.asarray(array, order="C"), allow_pickle=False)
                archive.writestr(f"{name}.npy", buffer.getvalue())


# ------------------------------------------------------------------ load


def build(estimator_class, metadata, arrays):
    """The fitted estimator (``_estimator.GDRegressor``) of a model file's checked
    ``read``."""
    model = estimator_class(**metadata["params"])
    for name, value in metadata["fitted"].items():
        setattr(model, name, value)
    model.coef_, model.intercept_ = arrays["coef_"], intercept_of(arrays["intercept_"])
    model.history_ = {name: arrays[f"history_{name}"] for name in HISTORY}
    model.loss_curve_ = model.history_["loss"]
    if metadata["feature_names"] is not None:
        model.feature_names_in_ = np.array(metadata["feature_names"], dtype=object)
    # The optimiser's state (velocity, shuffling generator) is not saved: a
    # partial_fit after load continues from coef_ and intercept_ with a new one.
    model._optimizer = None
    return model


def read_info(path):
    """What the model file at ``path`` holds, as a dict for ``fastgd info`` (the
    whole file is checked, and no estimator is built)."""
    metadata, arrays = read(path)
    coef = arrays["coef_"]
    info = {
        "file": os.fspath(path),
        "format": f"{FORMAT} {FORMAT_VERSION}",
        "fastgd_version": metadata["fastgd_version"],
        "class": metadata["class"],
        "dtype": coef.dtype.name,
        "n_features": coef.shape[-1],
        "n_targets": 1 if coef.ndim == 1 else coef.shape[0],
        "feature_names": metadata["feature_names"],
        "target_names": metadata["target_names"],
    }
    info.update(metadata["fitted"])
    info["coef_"] = coef.tolist()
    info["intercept_"] = arrays["intercept_"].tolist()
    loss = arrays["history_loss"]
    info["final_loss"] = float(loss[-1]) if len(loss) else None
    info["params"] = metadata["params"]
    info["extra"] = metadata["extra"]
    return info


def intercept_of(array):
    # a fit's intercept_ is a NumPy scalar for one target (as scikit-learn's)
    return array[()] if array.ndim == 0 else array


def read(path):
    """(metadata, arrays) of a model file, each field checked. Memory: at most the
    file's size (its members are stored, not compressed, and read only when their
    declared sizes fit in the file)."""
    path = os.fspath(path)
    if os.path.exists(path) and not os.path.isfile(path):  # a FIFO would block the read
        raise ModelFileError(f"{path} is not a regular file, so not a fastgd model file.")
    with open(path, "rb") as file:  # a missing or unreadable file: its own OSError
        size = os.fstat(file.fileno()).st_size
        try:
            _check_member_count(file, size, path)
            with zipfile.ZipFile(file) as archive:
                members = _members(archive, path, size)
                metadata = _metadata(_read_member(archive, members[METADATA], path), path)
                arrays = {
                    name: _array(archive, members[f"{name}.npy"], metadata, name, path)
                    for name in ARRAYS
                }
        except ModelFileError:
            raise
        except zipfile.BadZipFile as error:
            raise ModelFileError(
                f"{path} is not a fastgd model file, or it is damaged "
                f"(truncated or changed): {error}."
            ) from None
        # what zipfile raises on a damaged archive's offsets, sizes and flags
        except (
            OSError,
            EOFError,
            ValueError,
            OverflowError,
            struct.error,
            MemoryError,
            RecursionError,
            zipfile.LargeZipFile,
            NotImplementedError,
            RuntimeError,
        ) as error:
            raise ModelFileError(
                f"{path} is damaged (truncated or changed): {type(error).__name__}: {error}."
            ) from None
    _check_consistent(metadata, arrays, path)
    return metadata, arrays


# A ZIP file's end-of-central-directory record (without a comment: a model has
# none): its signature, then the disk numbers, the members on this disk and in all,
# the directory's size and offset, and the comment's length.
END_RECORD = struct.Struct("<4s4H2LH")
# More members than a model has are named by ``_members`` (a few cost nothing to list);
# beyond this many, the file is refused before its directory is read.
MAX_MEMBERS = 64


def _check_member_count(file, size, path):
    """Refuse a file whose directory lists more members than a model has, before
    zipfile reads the directory (millions of listed members cost memory far beyond
    the file's size). What the record says is checked again by zipfile itself."""
    if size < END_RECORD.size:
        return  # (zipfile says what is wrong with it)
    file.seek(size - END_RECORD.size)
    signature, _, _, on_disk, total, _, _, _ = END_RECORD.unpack(file.read(END_RECORD.size))
    file.seek(0)
    listed = max(on_disk, total)
    if signature == b"PK\x05\x06" and listed > MAX_MEMBERS:
        raise ModelFileError(
            f"{path} is not a fastgd model file: its directory lists "
            f"{listed} members, where a model has {len(ARRAYS) + 1}."
        )


def _members(archive, path, archive_size):
    infos = archive.infolist()
    members = {info.filename: info for info in infos}
    expected = {METADATA} | {f"{name}.npy" for name in ARRAYS}
    if len(infos) != len(members):  # a name twice: which would be the model?
        raise ModelFileError(f"{path} is not a fastgd model file: a member appears twice.")
    for info in infos:
        # a stored member's bytes are in the file: no member can inflate past it
        if info.compress_type != zipfile.ZIP_STORED or info.file_size > archive_size:
            raise ModelFileError(
                f"{path} is not a fastgd model file: {info.filename} is "
                f"compressed or larger than the file."
            )
    _check_names(members, expected, "not a fastgd model file; its members", path)
    return members


def _read_member(archive, info, path, limit=MAX_METADATA_BYTES):
    if info.file_size > limit:
        raise ModelFileError(
            f"{path}: {info.filename} is {info.file_size} bytes, more "
            f"than a model's {limit}: not a fastgd model file."
        )
    return archive.read(info)  # checks the CRC: a changed byte raises BadZipFile


def _metadata(raw, path):
    def no_constant(name):  # NaN, Infinity: allow_nan=False never writes them
        raise ModelFileError(f"{path}: {METADATA} holds {name}, which a model never has.")

    def unique_keys(pairs):  # a key twice: which one would the model be?
        keys = [key for key, _ in pairs]
        twice = sorted({key for key in keys if keys.count(key) > 1})
        if twice:
            raise ModelFileError(
                f"{path}: {METADATA} has the key {twice[0]!r} twice, which a model never has."
            )
        return dict(pairs)

    try:
        metadata = json.loads(
            raw.decode("utf-8"), parse_constant=no_constant, object_pairs_hook=unique_keys
        )
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFileError(f"{path}: {METADATA} is not valid JSON: {error}.") from None
    _check_type(metadata, dict, METADATA, path)
    _check_format(metadata, path)
    _check_names(metadata, METADATA_KEYS, f"{METADATA}'s keys", path)
    _check_params(metadata.get("params"), path)
    _check_fitted(metadata.get("fitted"), path)
    names = metadata.get("feature_names")
    if names is not None:
        _check_type(names, list, "feature_names", path)
        if not all(isinstance(name, str) for name in names):
            raise ModelFileError(f"{path}: feature_names must be strings.")
    _check_type(metadata.get("arrays"), dict, "arrays", path)
    _check_type(metadata.get("extra"), dict, "extra", path)
    return metadata


def _check_format(metadata, path):
    if metadata.get("format") != FORMAT:
        raise ModelFileError(
            f"{path} is not a fastgd model file (format "
            f"{metadata.get('format')!r}, expected {FORMAT!r})."
        )
    written_by = metadata.get("fastgd_version")
    if not isinstance(written_by, str) or _release(written_by) != _release(_this_version()):
        raise ModelFileError(
            f"{path} was saved by fastgd {written_by}; this is fastgd "
            f"{_this_version()}, which loads models of fastgd "
            f"{'.'.join(_release(_this_version()))}.x only: refit the model "
            f"with this version (or load it with fastgd {written_by})."
        )
    if metadata.get("format_version") != FORMAT_VERSION or metadata.get("class") != "GDRegressor":
        raise ModelFileError(
            f"{path}: format_version {metadata.get('format_version')!r} "
            f"of class {metadata.get('class')!r}; this fastgd reads "
            f"format_version {FORMAT_VERSION} of GDRegressor."
        )


def _check_params(params, path):
    _check_type(params, dict, "params", path)
    _check_names(params, set(ESTIMATOR_PARAMETERS), "params", path)
    for name, value in params.items():
        if not (value is None or isinstance(value, (bool, int, float, str))):
            raise ModelFileError(
                f"{path}: params[{name!r}] is a "
                f"{type(value).__name__}; a saved parameter is a number, "
                f"a string, a bool or null."
            )
    if params["callback"] is not None:
        raise ModelFileError(f"{path}: params['callback'] must be null.")
    options = {name: params[name] for name in FIT_PARAMETERS}
    try:  # the same checks as fit makes: a tampered penalty="l3" fails here
        check_backend(options.pop("backend"))  # the name only: a model of the cython
        FitSpec(**options).validated()  # backend loads where it is not built
    except (TypeError, ValueError) as error:
        raise ModelFileError(f"{path}: params: {error}") from None
    if not (params["random_state"] is None or _is_int(params["random_state"])):
        raise ModelFileError(f"{path}: params['random_state'] must be null or an int.")
    if not isinstance(params["warm_start"], bool):
        raise ModelFileError(f"{path}: params['warm_start'] must be a bool.")


def _check_fitted(fitted, path):
    _check_type(fitted, dict, "fitted", path)
    _check_names(fitted, set(FITTED_SCALARS), "fitted", path)
    for name, kind in FITTED_SCALARS.items():
        value = fitted[name]
        if kind is Number:
            fitted[name] = Number.of_json(value)
            if fitted[name] is None:
                raise ModelFileError(
                    f"{path}: fitted[{name!r}] should be a number; got {value!r}."
                )
            continue
        if kind is float and _is_int(value):
            value = fitted[name] = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ModelFileError(
                f"{path}: fitted[{name!r}] should be a {kind.__name__}; got {value!r}."
            )
        if kind is int and value < 0:
            raise ModelFileError(f"{path}: fitted[{name!r}] is negative ({value}).")


def _array(archive, info, metadata, name, path):
    declared = metadata["arrays"].get(name)
    _check_type(declared, dict, f"arrays[{name!r}]", path)
    shape, dtype = declared.get("shape"), declared.get("dtype")
    if (
        not isinstance(shape, list)
        or len(shape) > 2
        or not all(_is_int(n) and 0 <= n < 1 << 40 for n in shape)
        or dtype not in FLOAT_DTYPES
    ):
        raise ModelFileError(
            f"{path}: arrays[{name!r}] should have a shape of at most "
            f"2 sizes and a dtype in {FLOAT_DTYPES}; got {declared}."
        )
    size = math.prod(shape) * np.dtype(dtype).itemsize
    raw = _read_member(archive, info, path, limit=size + NPY_HEADER_BYTES)
    return _parse_npy(raw, tuple(shape), np.dtype(dtype), f"{path}: {info.filename}")


def _parse_npy(raw, shape, dtype, where):
    """The array of an .npy file's bytes, which must hold ``shape`` and ``dtype`` (in
    either byte order): the header is checked before anything is allocated, and no
    object array (pickle) is ever read."""
    fp = io.BytesIO(raw)
    try:
        version = np.lib.format.read_magic(fp)
        read_header = {
            (1, 0): np.lib.format.read_array_header_1_0,
            (2, 0): np.lib.format.read_array_header_2_0,
        }.get(version)
        if read_header is None:
            raise ValueError(f"npy format version {version}")
        stored_shape, fortran_order, stored_dtype = read_header(
            fp, max_header_size=NPY_HEADER_BYTES
        )
    except (ValueError, SyntaxError, TypeError) as error:  # a bad magic or header
        raise ModelFileError(f"{where} is not a plain array of numbers: {error}.") from None
    if stored_dtype.hasobject or stored_dtype.kind != "f":
        raise ModelFileError(f"{where} is not a plain array of numbers: it holds {stored_dtype}.")
    native = stored_dtype.newbyteorder("=")
    data = raw[fp.tell() :]
    if stored_shape != shape or native != dtype or len(data) != math.prod(shape) * dtype.itemsize:
        raise ModelFileError(
            f"{where} holds a {stored_dtype} array of shape {stored_shape} "
            f"in {len(data)} bytes; model.json says {dtype} {shape}."
        )
    array = np.frombuffer(data, dtype=stored_dtype).reshape(
        shape, order="F" if fortran_order else "C"
    )
    return np.array(array, dtype=native, order="C")  # writable, native, C-ordered


def _check_consistent(metadata, arrays, path):
    """The arrays fit together as one fitted model's do."""
    coef, intercept = arrays["coef_"], arrays["intercept_"]
    n_features = metadata["fitted"]["n_features_in_"]
    targets = () if coef.ndim == 1 else coef.shape[:1]
    problems = []
    if coef.ndim not in (1, 2) or coef.shape[-1] != n_features:
        problems.append(f"coef_ has shape {coef.shape}, for n_features_in_={n_features}")
    if intercept.shape != targets or intercept.dtype != coef.dtype:
        problems.append(
            f"intercept_ is {intercept.dtype} {intercept.shape}, for coef_ "
            f"{coef.dtype} {coef.shape}"
        )
    targets = metadata["target_names"]
    n_targets = 1 if coef.ndim == 1 else coef.shape[0]
    if targets is not None and not (
        isinstance(targets, list)
        and len(targets) == n_targets
        and all(isinstance(name, str) for name in targets)
        and len(set(targets)) == n_targets
    ):
        problems.append(
            f"target_names should name the {n_targets} target(s), distinct; got {targets!r}"
        )
    names = metadata["feature_names"]
    if names is not None and len(names) != n_features:
        problems.append(f"{len(names)} feature_names for n_features_in_={n_features}")
    lengths = {arrays[f"history_{name}"].shape for name in HISTORY}
    if len(lengths) != 1 or len(next(iter(lengths))) != 1:
        problems.append(f"the history_ curves have shapes {sorted(lengths)}")
    if not (np.isfinite(coef).all() and np.isfinite(intercept).all()):
        problems.append("coef_ or intercept_ holds NaN or inf")
    if problems:
        raise ModelFileError(f"{path} is not a consistent fastgd model: {'; '.join(problems)}.")


# ------------------------------------------------------------------ helpers


def _check_names(found, expected, what, path):
    """``found``'s names (a dict's keys, an archive's members) must be ``expected``."""
    if set(found) != set(expected):
        raise ModelFileError(
            f"{path}: {what} should be {sorted(expected)}; missing "
            f"{sorted(set(expected) - set(found))}, unexpected "
            f"{sorted(set(found) - set(expected))}."
        )


def _check_type(value, kind, name, path):
    if not isinstance(value, kind):
        raise ModelFileError(
            f"{path}: {name} should be a {kind.__name__}; got {type(value).__name__}."
        )


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _this_version():
    return _version.__version__


def _release(version):
    """MAJOR.MINOR: the models of one release series load in another of its versions."""
    return tuple(str(version).split(".")[:2])
