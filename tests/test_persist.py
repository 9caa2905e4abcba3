"""GDRegressor.save / fastgd.load (fastgd/_persist.py): round trips whose predictions
are equal bit for bit, and files that are damaged, tampered with or hostile, each of
which must give ModelFileError (and never run code, crash or load a wrong model)."""

import io
import json
import os
import zipfile

import numpy as np
import pytest

import fastgd
from fastgd import GDRegressor, ModelFileError

pytest.importorskip("sklearn")

RNG = np.random.default_rng(0)
X = RNG.standard_normal((300, 4)) * [1.0, 5.0, 0.2, 1.0]
COEF = np.array([1.0, -0.5, 3.0, 0.25])
Y = X @ COEF + 2.0 + 0.1 * RNG.standard_normal(300)
Y2 = np.c_[Y, -Y + X[:, 0]]
WEIGHTS = RNG.uniform(0.0, 2.0, 300)

CASES = {
    "default": (dict(tol=1e-10), X, Y, {}),
    "multi-target": (dict(tol=1e-10), X, Y2, {}),
    "float32": (dict(), X.astype(np.float32), Y.astype(np.float32), {}),
    "weights": (dict(tol=1e-10), X, Y, dict(sample_weight=WEIGHTS)),
    "ridge": (dict(penalty="l2", alpha=0.3), X, Y, {}),
    "lasso": (dict(penalty="l1", alpha=0.05), X, Y2, {}),
    "elasticnet-no-intercept": (
        dict(penalty="elasticnet", alpha=0.01, l1_ratio=0.5, fit_intercept=False),
        X,
        Y,
        {},
    ),
    "mini-batch": (dict(batch_size=32, max_iter=3, random_state=1, momentum=0.9), X, Y, {}),
    "gradient-descent": (dict(method="gd", lr=0.05, max_iter=40, schedule="invscaling"), X, Y, {}),
}


def fitted(case):
    params, features, target, fit_kwargs = CASES[case]
    with pytest.warns() if case in ("mini-batch", "gradient-descent") else _nothing():
        return GDRegressor(**params).fit(features, target, **fit_kwargs), features


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def saved(model, tmp_path, name="model.fastgd"):
    path = tmp_path / name
    model.save(path)
    return path


@pytest.mark.parametrize("case", CASES)
def test_round_trip_predicts_the_same_bits(tmp_path, case):
    model, features = fitted(case)
    loaded = fastgd.load(saved(model, tmp_path))
    np.testing.assert_array_equal(loaded.predict(features), model.predict(features))
    assert loaded.predict(features).dtype == model.predict(features).dtype
    assert loaded.get_params() == model.get_params()
    for name in ("coef_", "intercept_", "loss_curve_"):
        got, want = getattr(loaded, name), getattr(model, name)
        assert type(got) is type(want) and np.shape(got) == np.shape(want)
        np.testing.assert_array_equal(got, want)
    for name in (
        "n_iter_",
        "lr_",
        "converged_",
        "backend_",
        "solver_",
        "method_",
        "t_",
        "n_features_in_",
    ):
        assert getattr(loaded, name) == getattr(model, name), name
    for curve in model.history_:
        np.testing.assert_array_equal(loaded.history_[curve], model.history_[curve])
    assert not hasattr(loaded, "feature_names_in_")


def test_feature_names_survive_and_are_checked(tmp_path):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X, columns=["rooms", "area", "age", "floor"])
    model = GDRegressor(tol=1e-10).fit(frame, Y)
    loaded = fastgd.load(saved(model, tmp_path))
    assert list(loaded.feature_names_in_) == ["rooms", "area", "age", "floor"]
    assert loaded.feature_names_in_.dtype == object
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))
    with pytest.raises(ValueError, match="feature names"):
        loaded.predict(frame.rename(columns={"age": "years"}))


def test_the_loaded_model_is_a_working_estimator(tmp_path):
    model, _ = fitted("default")
    loaded = fastgd.load(saved(model, tmp_path))
    assert loaded.score(X, Y) == model.score(X, Y)
    # partial_fit continues from the saved coefficients, with a new optimiser state
    loaded.partial_fit(X, Y)
    assert loaded.n_iter_ == model.n_iter_ + 1
    assert len(loaded.loss_curve_) == len(model.loss_curve_) + 1
    np.testing.assert_allclose(loaded.coef_, COEF, atol=0.05)
    # and a refit of the loaded model equals a refit of the original
    np.testing.assert_array_equal(
        fastgd.load(saved(model, tmp_path, "b")).fit(X, Y).coef_,
        GDRegressor(**model.get_params()).fit(X, Y).coef_,
    )


def test_save_refuses_what_it_cannot_store(tmp_path):
    with pytest.raises(fastgd.NotFittedError, match="not fitted"):
        GDRegressor().save(tmp_path / "m")
    model = GDRegressor(callback=lambda *state: None).fit(X, Y)
    with pytest.raises(ValueError, match="callback"):
        model.save(tmp_path / "m")
    model = GDRegressor(batch_size=50, random_state=np.random.default_rng(0), max_iter=2)
    with pytest.warns(fastgd.ConvergenceWarning):
        model.fit(X, Y)
    with pytest.raises(ValueError, match="random_state"):
        model.save(tmp_path / "m")
    model, _ = fitted("default")
    with pytest.raises(ValueError, match="extra"):
        model.save(tmp_path / "m", extra={"when": object()})
    assert os.listdir(tmp_path) == []  # nothing, not even a temporary file, left behind


def test_extra_metadata_and_overwrite(tmp_path):
    model, _ = fitted("default")
    path = tmp_path / "m.fastgd"
    path.write_bytes(b"an older file")
    model.save(path, extra={"target": "price", "rows": 300})
    from fastgd._persist import read_info

    info = read_info(path)
    assert info["extra"] == {"target": "price", "rows": 300}
    assert info["fastgd_version"] == fastgd.__version__ and info["n_features"] == 4
    assert info["coef_"] == model.coef_.tolist()


# ------------------------------------------------------------------ hostile files


@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory):
    model, _ = fitted("multi-target")
    return saved(model, tmp_path_factory.mktemp("model")).read_bytes()


def load_bytes(tmp_path, data):
    path = tmp_path / "tampered.fastgd"
    path.write_bytes(data)
    return fastgd.load(path)


def test_every_truncation_is_a_model_file_error(tmp_path, model_bytes):
    for length in range(len(model_bytes)):
        with pytest.raises(ModelFileError):
            load_bytes(tmp_path, model_bytes[:length])


def test_every_changed_byte_is_an_error_or_the_same_model(tmp_path, model_bytes):
    """A byte changed anywhere: ModelFileError, or (a byte zipfile does not read, as
    a timestamp) a model that predicts exactly as the original."""
    original = load_bytes(tmp_path, model_bytes).predict(X)
    for position in range(len(model_bytes)):
        data = bytearray(model_bytes)
        data[position] ^= 0x5A
        try:
            model = load_bytes(tmp_path, bytes(data))
        except ModelFileError:
            continue
        np.testing.assert_array_equal(model.predict(X), original, err_msg=str(position))


def rewritten(
    model_bytes, change_metadata=None, members=None, compression=zipfile.ZIP_STORED, duplicate=None
):
    """The archive with model.json changed by ``change_metadata``, members replaced
    (or removed, for None) by ``members``, written with ``compression``, and the
    member ``duplicate`` = (name, bytes) added a second time."""
    with zipfile.ZipFile(io.BytesIO(model_bytes)) as archive:
        contents = {name: archive.read(name) for name in archive.namelist()}
    if change_metadata is not None:
        metadata = json.loads(contents["model.json"])
        change_metadata(metadata)
        contents["model.json"] = json.dumps(metadata).encode()
    for name, data in (members or {}).items():
        if data is None:
            contents.pop(name)
        else:
            contents[name] = data
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in contents.items():
            archive.writestr(name, data)
        if duplicate is not None:
            with pytest.warns(UserWarning, match="Duplicate name"):
                archive.writestr(*duplicate)
    return buffer.getvalue()


def npy(array, allow_pickle=False):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


class Boom:
    """Unpickling this runs code: the test fails if it ever does."""

    def __reduce__(self):
        return (os.system, ("touch pickle-ran",))


def test_a_pickle_inside_executes_nothing(tmp_path, model_bytes, monkeypatch):
    monkeypatch.chdir(tmp_path)
    payload = npy(np.array([Boom(), 1.0], dtype=object), allow_pickle=True)
    data = rewritten(model_bytes, members={"coef_.npy": payload})
    with pytest.raises(ModelFileError, match="not a plain array"):
        load_bytes(tmp_path, data)
    data = rewritten(
        model_bytes,
        lambda m: m["arrays"]["coef_"].update(dtype="object"),
        members={"coef_.npy": payload},
    )
    with pytest.raises(ModelFileError, match="dtype"):
        load_bytes(tmp_path, data)
    assert not (tmp_path / "pickle-ran").exists()


def set_key(*keys_and_value):
    *keys, value = keys_and_value

    def change(metadata):
        target = metadata
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return change


TAMPERED = {
    "another version": (set_key("fastgd_version", "9.3.0"), "9.3.0.*" + fastgd.__version__),
    "no version": (set_key("fastgd_version", None), "saved by fastgd None"),
    "another format": (set_key("format", "pickle"), "not a fastgd model file"),
    "format version 1": (set_key("format_version", 1), "format_version 1"),
    "format version 3": (set_key("format_version", 3), "format_version 3"),
    "error_bound_ a word": (set_key("fitted", "error_bound_", "small"), "error_bound_"),
    "error_bound_ a bool": (set_key("fitted", "error_bound_", True), "error_bound_"),
    "another class": (set_key("class", "SGDRegressor"), "SGDRegressor"),
    "unknown parameter": (set_key("params", "evil", 1), "unexpected \\['evil'\\]"),
    "bad parameter value": (set_key("params", "penalty", "l3"), "penalty"),
    "a callback": (set_key("params", "callback", "os.system"), "callback"),
    "a list parameter": (set_key("params", "alpha", [1, 2]), "alpha"),
    "n_iter_ a string": (set_key("fitted", "n_iter_", "5"), "n_iter_"),
    "n_iter_ negative": (set_key("fitted", "n_iter_", -1), "negative"),
    "converged_ a number": (set_key("fitted", "converged_", 1), "converged_"),
    "wrong n_features_in_": (set_key("fitted", "n_features_in_", 3), "n_features_in_=3"),
    "feature names of another width": (set_key("feature_names", ["a"]), "feature_names"),
    "feature names not strings": (set_key("feature_names", [1, 2, 3, 4]), "strings"),
    "declared shape differs": (set_key("arrays", "coef_", "shape", [4, 2]), "model.json says"),
    "declared dtype differs": (set_key("arrays", "coef_", "dtype", "float32"), "model.json says"),
    "huge declared shape": (set_key("arrays", "coef_", "shape", [1 << 50]), "shape"),
    "extra not a dict": (set_key("extra", [1]), "extra"),
    "a key missing": (lambda m: m.pop("target_names"), "missing \\['target_names'\\]"),
    "a key added": (set_key("code", "import os"), "unexpected \\['code'\\]"),
    "target names of another width": (set_key("target_names", ["y"]), "target_names"),
    "target names twice": (set_key("target_names", ["y", "y"]), "distinct"),
}


@pytest.mark.parametrize("case", TAMPERED)
def test_tampered_metadata_is_named(tmp_path, model_bytes, case):
    change, message = TAMPERED[case]
    with pytest.raises(ModelFileError, match=message):
        load_bytes(tmp_path, rewritten(model_bytes, change))


def test_tampered_members(tmp_path, model_bytes):
    cases = {
        "missing": ({"coef_.npy": None}, "missing \\['coef_.npy'\\]"),
        "extra member": ({"run.py": b"import os"}, "unexpected \\['run.py'\\]"),
        "NaN coefficients": ({"coef_.npy": npy(np.full((2, 4), np.nan))}, "NaN"),
        "intercept of another dtype": (
            {"intercept_.npy": npy(np.zeros(2, np.float32))},
            "model.json says",
        ),
        "not npy": ({"coef_.npy": b"\x93NUMPY garbage"}, "not a plain array"),
        "history of another length": ({"history_lr.npy": npy(np.zeros(2))}, "model.json says"),
        "metadata not JSON": ({"model.json": b"{'format': "}, "not valid JSON"),
        "metadata not UTF-8": ({"model.json": b"\xff\xfe"}, "not valid JSON"),
        "NaN in metadata": ({"model.json": b'{"format": NaN}'}, "NaN"),
        "metadata a list": ({"model.json": b"[]"}, "model.json should be a dict"),
        "a key twice": ({"model.json": b'{"format": 1, "format": 2}'}, "the key 'format' twice"),
        "huge metadata": ({"model.json": b" " * (5 << 20)}, "bytes"),
    }
    for members, message in cases.values():
        with pytest.raises(ModelFileError, match=message):
            load_bytes(tmp_path, rewritten(model_bytes, members=members))


def test_not_a_model_file(tmp_path):
    for data in (b"", b"\x80\x04\x95junk", b"PK\x03\x04" + bytes(100)):
        with pytest.raises(ModelFileError, match="not a fastgd model file"):
            load_bytes(tmp_path, data)
    with pytest.raises(FileNotFoundError):
        fastgd.load(tmp_path / "absent.fastgd")
    assert issubclass(ModelFileError, ValueError)


def npy_header_only(shape, dtype="<f8"):
    """An .npy file's header that declares ``shape``, and no data."""
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def test_files_that_would_take_memory_are_refused_before_it_is_taken(tmp_path, model_bytes):
    # a header declaring 8 TiB (model.json agreeing): no allocation, an error
    huge = (1 << 20, 1 << 20)
    data = rewritten(
        model_bytes,
        set_key("arrays", "coef_", "shape", list(huge)),
        members={"coef_.npy": npy_header_only(huge)},
    )
    with pytest.raises(ModelFileError):
        load_bytes(tmp_path, data)
    data = rewritten(model_bytes, members={"coef_.npy": npy_header_only((2, 4))})
    with pytest.raises(ModelFileError, match="in 0 bytes"):
        load_bytes(tmp_path, data)
    # a compressed member (a zip bomb inflates to far more than the file)
    bomb = npy(np.zeros(1 << 22))
    data = rewritten(
        model_bytes,
        set_key("arrays", "coef_", "shape", [1 << 22]),
        members={"coef_.npy": bomb},
        compression=zipfile.ZIP_DEFLATED,
    )
    assert len(data) < len(bomb) / 100
    with pytest.raises(ModelFileError, match="compressed"):
        load_bytes(tmp_path, data)


def test_a_member_twice_is_refused(tmp_path, model_bytes):
    other = npy(np.full((2, 4), 100.0))
    with pytest.raises(ModelFileError, match="twice"):
        load_bytes(tmp_path, rewritten(model_bytes, duplicate=("coef_.npy", other)))


def test_arrays_of_the_other_byte_order_load_as_the_same_numbers(tmp_path):
    model, _ = fitted("multi-target")
    data = saved(model, tmp_path).read_bytes()
    swapped = {name: npy(getattr(model, name).astype(">f8")) for name in ("coef_", "intercept_")}
    loaded = load_bytes(
        tmp_path,
        rewritten(data, members={f"{name}.npy": array for name, array in swapped.items()}),
    )
    assert loaded.coef_.dtype == np.float64 and loaded.coef_.dtype.isnative
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


@pytest.mark.parametrize("extra", [[1, 2], {1: 2}, {"a": (1, 2)}, {"x": float("nan")}])
def test_extra_that_json_would_change_is_refused(tmp_path, extra):
    model, _ = fitted("default")
    with pytest.raises(ValueError, match="extra must be a dict"):
        model.save(tmp_path / "m", extra=extra)
    assert os.listdir(tmp_path) == []


def test_a_directory_of_many_members_is_refused_before_zipfile_reads_it(tmp_path, model_bytes):
    """A directory listing millions of members cost ~1 GB before the model was refused:
    the count in the end record is checked first."""
    buffer = io.BytesIO(model_bytes)
    with zipfile.ZipFile(buffer, "a") as archive:
        for k in range(3000):
            archive.writestr(f"padding{k}", b"")
    with pytest.raises(ModelFileError, match="lists 3006 members, where a model has 6"):
        load_bytes(tmp_path, buffer.getvalue())


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_fifo_is_not_a_model_file_and_is_not_waited_on(tmp_path):
    os.mkfifo(tmp_path / "model.fastgd")
    with pytest.raises(ModelFileError, match="not a regular file"):
        fastgd.load(tmp_path / "model.fastgd")


def test_threads_saving_to_one_path_never_lose_the_model(tmp_path):
    """Every save wrote to the same temporary name, {path}.part{pid}: threads renamed
    one another's files away (FileNotFoundError) or half-written (a file that did not
    load). Each save now writes its own temporary file and renames it whole."""
    import threading

    first, _ = fitted("multi-target")
    second = GDRegressor(tol=1e-3).fit(*CASES["multi-target"][1:3])
    path = tmp_path / "model.fastgd"
    errors = []

    def save(model):
        try:
            for _ in range(30):
                model.save(path)
        except Exception as error:  # what a lost race raised
            errors.append(error)

    for _ in range(5):
        threads = [threading.Thread(target=save, args=(m,)) for m in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        loaded = fastgd.load(path)  # one whole model or the other
        assert any(np.array_equal(loaded.coef_, m.coef_) for m in (first, second))
    assert errors == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.fastgd"]  # no leftovers
