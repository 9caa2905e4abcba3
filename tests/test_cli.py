"""The ``fastgd fit / predict / info`` commands (fastgd/_cli.py), run as a user runs
them: on CSV and Parquet files written here, their predictions compared with the
in-memory fit's, every error one line on stderr with exit status 1."""

import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import fastgd
from fastgd._cli import main

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pcsv = pytest.importorskip("pyarrow.csv")
pd = pytest.importorskip("pandas")

N, FEATURES = 3000, ["a", "b", "c"]


def make_frame(seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.standard_normal((N, 3)) * [1.0, 10.0, 0.1], columns=FEATURES)
    frame["y"] = frame.to_numpy() @ [1.0, -2.0, 30.0] + 5.0 + rng.standard_normal(N)
    frame["z"] = frame["a"] - frame["c"] + rng.standard_normal(N)
    frame["id"] = np.arange(N)
    return frame


def write(frame, path):
    if str(path).endswith(".parquet"):
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=400)
    else:
        frame.to_csv(path, index=False)
    return str(path)


def read(path):
    path = str(path)
    table = pq.read_table(path) if path.endswith(".parquet") else pcsv.read_csv(path)
    return table.to_pandas()


def run(*argv):
    """main(argv) as the console script runs it: (exit status, stdout, stderr)."""
    try:
        status = main([str(a) for a in argv]) or 0
    except SystemExit as exit:
        status = exit.code
    return status


@pytest.mark.parametrize(
    "data_kind,out_kind", [("csv", "parquet"), ("parquet", "csv"), ("parquet", "parquet")]
)
def test_fit_info_predict_round_trip(tmp_path, capsys, data_kind, out_kind):
    frame = make_frame()
    data = write(frame, tmp_path / f"train.{data_kind}")
    model_path = tmp_path / "model.fastgd"
    assert (
        run(
            "fit",
            data,
            "--target",
            "y",
            "--features",
            "a,b,c",
            "--tol",
            "1e-12",
            "--block-rows",
            "500",
            "--out",
            model_path,
        )
        == 0
    )
    out = capsys.readouterr()
    assert "converged" in out.out and str(model_path) in out.out
    model = fastgd.load(model_path)
    local = fastgd.GDRegressor(tol=1e-12).fit(frame[FEATURES], frame["y"])
    np.testing.assert_allclose(model.coef_, local.coef_, rtol=1e-12)
    np.testing.assert_allclose(model.intercept_, local.intercept_, rtol=1e-12)

    assert run("info", model_path) == 0
    info = capsys.readouterr().out
    for word in (fastgd.__version__, "a", "b", "c", "'y'", "GDRegressor"):
        assert word in info

    new = make_frame(seed=1)
    new_data = write(new, tmp_path / f"new.{data_kind}")
    predictions = tmp_path / f"predicted.{out_kind}"
    assert run("predict", model_path, new_data, "--out", predictions, "--block-rows", "700") == 0
    written = read(predictions)
    assert list(written.columns) == ["prediction"]
    # the saved model's predictions, in the files' row order, to the last bit (CSV
    # holds shortest round-trip decimals)
    np.testing.assert_array_equal(written["prediction"].to_numpy(), model.predict(new[FEATURES]))
    np.testing.assert_allclose(
        written["prediction"], local.predict(new[FEATURES]), rtol=1e-12, atol=1e-12
    )


def test_several_targets_weights_and_fit_options(tmp_path, capsys):
    frame = make_frame()
    frame["w"] = np.linspace(0.0, 2.0, N)
    data = write(frame, tmp_path / "train.parquet")
    model_path = tmp_path / "m.fastgd"
    assert (
        run(
            "fit",
            data,
            "--target",
            "y,z",
            "--features",
            "a,b,c",
            "--weight",
            "w",
            "--penalty",
            "l2",
            "--alpha",
            "0.5",
            "--no-fit-intercept",
            "--tol",
            "1e-12",
            "--quiet",
            "--out",
            model_path,
        )
        == 0
    )
    assert capsys.readouterr().out == ""
    model = fastgd.load(model_path)
    local = fastgd.GDRegressor(penalty="l2", alpha=0.5, fit_intercept=False, tol=1e-12).fit(
        frame[FEATURES], frame[["y", "z"]], sample_weight=frame["w"]
    )
    np.testing.assert_allclose(model.coef_, local.coef_, rtol=1e-11)
    assert model.get_params() == local.get_params()
    out = tmp_path / "p.csv"
    assert run("predict", model_path, data, "--out", out, "--quiet") == 0
    written = read(out)
    assert list(written.columns) == ["prediction_y", "prediction_z"]
    np.testing.assert_array_equal(written.to_numpy(), model.predict(frame[FEATURES]))


def test_many_files_and_a_glob(tmp_path, capsys):
    frame = make_frame()
    for part, rows in enumerate(np.array_split(np.arange(N), 3)):
        write(frame.iloc[rows], tmp_path / f"part{part}.csv")
    model_path = tmp_path / "m.fastgd"
    assert (
        run(
            "fit",
            tmp_path / "part*.csv",
            "--target",
            "y",
            "--features",
            "a,b,c",
            "--tol",
            "1e-12",
            "--quiet",
            "--out",
            model_path,
        )
        == 0
    )
    local = fastgd.GDRegressor(tol=1e-12).fit(frame[FEATURES], frame["y"])
    np.testing.assert_allclose(fastgd.load(model_path).coef_, local.coef_, rtol=1e-12)
    out = tmp_path / "p.parquet"
    assert (
        run(
            "predict",
            model_path,
            tmp_path / "part0.csv",
            tmp_path / "part1.csv",
            tmp_path / "part2.csv",
            "--out",
            out,
            "--quiet",
        )
        == 0
    )
    assert len(read(out)) == N


def test_the_progress_bar_and_the_summary(tmp_path, capsys):
    data = write(make_frame(), tmp_path / "train.parquet")
    assert (
        run("fit", data, "--target", "y", "--block-rows", "400", "--out", tmp_path / "m.fastgd")
        == 0
    )
    out = capsys.readouterr()
    assert "fastgd pass 1" in out.err  # tqdm's bar over the first pass's tasks
    # every task drawn, the last too (a pass of fast blocks stayed at "0% 0/4")
    first_pass = [line for line in out.err.split("\r") if "fastgd pass 1" in line]
    total = first_pass[0].split("/")[1].split()[0]
    assert any(f"{total}/{total} " in line for line in first_pass), first_pass
    assert "fastgd: fitted 5 features of 1 file(s)" in out.out  # a, b, c, z and id


def test_on_a_dask_scheduler(tmp_path, capsys):
    distributed = pytest.importorskip("distributed")
    frame = make_frame()
    data = write(frame, tmp_path / "train.parquet")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as cluster:
        assert (
            run(
                "fit",
                data,
                "--target",
                "y",
                "--features",
                "a,b,c",
                "--tol",
                "1e-12",
                "--scheduler",
                cluster.scheduler_address,
                "--block-rows",
                "500",
                "--out",
                tmp_path / "m.fastgd",
            )
            == 0
        )
        assert (
            run(
                "predict",
                tmp_path / "m.fastgd",
                data,
                "--scheduler",
                cluster.scheduler_address,
                "--out",
                tmp_path / "p.parquet",
            )
            == 0
        )
    local = fastgd.GDRegressor(tol=1e-12).fit(frame[FEATURES], frame["y"])
    model = fastgd.load(tmp_path / "m.fastgd")
    np.testing.assert_allclose(model.coef_, local.coef_, rtol=1e-12)
    np.testing.assert_array_equal(
        read(tmp_path / "p.parquet")["prediction"], model.predict(frame[FEATURES])
    )


# ------------------------------------------------------------------ errors


def one_line_error(capsys, command):
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"fastgd {command}: error: "), err
    return lines[0]


@pytest.fixture
def trained(tmp_path):
    frame = make_frame()
    data = write(frame, tmp_path / "train.csv")
    model_path = tmp_path / "model.fastgd"
    assert (
        run("fit", data, "--target", "y", "--features", "a,b,c", "--quiet", "--out", model_path)
        == 0
    )
    return frame, data, model_path


def test_a_missing_column_is_named(tmp_path, capsys, trained):
    _, data, _ = trained
    assert run("fit", data, "--target", "price", "--out", tmp_path / "m") == 1
    line = one_line_error(capsys, "fit")
    assert "has no column 'price'; its columns are a, b, c, y, z, id" in line
    assert not (tmp_path / "m").exists()


def test_a_non_numeric_column_is_named(tmp_path, capsys):
    frame = make_frame()
    frame["city"] = "Lyon"
    data = write(frame, tmp_path / "train.csv")
    assert run("fit", data, "--target", "y", "--out", tmp_path / "m") == 1
    assert "column 'city' of" in one_line_error(capsys, "fit")
    assert run("fit", data, "--target", "city", "--out", tmp_path / "m") == 1
    assert "not numeric" in one_line_error(capsys, "fit")


def test_nan_in_a_row_names_the_row_and_the_file(tmp_path, capsys):
    frame = make_frame()
    frame.loc[1234, "b"] = np.nan
    data = write(frame, tmp_path / "train.parquet")
    assert (
        run(
            "fit", data, "--target", "y", "--block-rows", "400", "--out", tmp_path / "m", "--quiet"
        )
        == 1
    )
    line = one_line_error(capsys, "fit")
    assert "X contains NaN at row 1234 of" in line and "train.parquet" in line
    assert "column 'b'" in line


def test_predict_errors(tmp_path, capsys, trained):
    frame, data, model_path = trained
    write(frame.drop(columns="b"), tmp_path / "nob.csv")
    assert run("predict", model_path, tmp_path / "nob.csv", "--out", tmp_path / "p.csv") == 1
    assert "has no column 'b'" in one_line_error(capsys, "predict")
    assert run("predict", tmp_path / "nothing.fastgd", data, "--out", tmp_path / "p.csv") == 1
    one_line_error(capsys, "predict")
    (tmp_path / "junk.fastgd").write_bytes(b"\x80\x04junk")
    assert run("predict", tmp_path / "junk.fastgd", data, "--out", tmp_path / "p.csv") == 1
    one_line_error(capsys, "predict")
    assert run("predict", model_path, data, "--out", tmp_path / "p.txt") == 1
    assert "neither a Parquet file" in one_line_error(capsys, "predict")
    assert not (tmp_path / "p.csv").exists()


def rewrite_metadata(path, change):
    """The model file with its model.json changed by ``change`` (the arrays kept)."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    metadata = json.loads(members["model.json"])
    change(metadata)
    members["model.json"] = json.dumps(metadata).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_a_model_of_another_version_is_refused(tmp_path, capsys, trained):
    _, data, model_path = trained
    rewrite_metadata(model_path, lambda m: m.update(fastgd_version="9.3.0"))
    for command in (
        ["info", model_path],
        ["predict", model_path, data, "--out", tmp_path / "p.csv"],
    ):
        assert run(*command) == 1
        line = one_line_error(capsys, command[0])
        assert "9.3.0" in line and fastgd.__version__ in line


def test_bad_options_name_the_option(tmp_path, capsys, trained):
    _, data, _ = trained
    assert run("fit", data, "--target", "y", "--penalty", "l3", "--out", tmp_path / "m") == 1
    assert "penalty" in one_line_error(capsys, "fit")
    assert run("fit", data, "--target", "y", "--max-iter", "0", "--out", tmp_path / "m") == 1
    assert "max_iter" in one_line_error(capsys, "fit")
    assert run("fit", tmp_path / "none.csv", "--target", "y", "--out", tmp_path / "m") == 1
    assert "no file" in one_line_error(capsys, "fit")
    # what argparse itself refuses: one line and status 1 too (it printed its usage and
    # exited with 2, where the README promises one line and 1)
    assert run("fit", data, "--out", tmp_path / "m") == 1
    assert "--target" in one_line_error(capsys, "fit")
    assert run("fit", data, "--target", "y", "--max-iter", "1e3.5", "--out", tmp_path / "m") == 1
    assert "--max-iter" in one_line_error(capsys, "fit")


def test_numbers_are_read_as_written(tmp_path, capsys, trained):
    """``--max-iter 1e3`` was refused, ``--lr -1e-3`` taken for an option."""
    _, data, _ = trained
    assert (
        run("fit", data, "--target", "y", "--max-iter", "1e3", "--quiet", "--out", tmp_path / "m")
        == 0
    )
    assert fastgd.load(tmp_path / "m").max_iter == 1000
    assert run("fit", data, "--target", "y", "--lr", "-1e-3", "--out", tmp_path / "m") == 1
    assert "lr must be 'auto' or a positive" in one_line_error(capsys, "fit")


def test_out_in_a_missing_directory_is_refused_before_the_work(tmp_path, capsys, trained):
    _, data, model_path = trained
    out = tmp_path / "missing" / "m.fastgd"
    assert run("fit", data, "--target", "y", "--out", out) == 1
    assert "does not exist" in one_line_error(capsys, "fit")
    assert run("predict", model_path, data, "--out", tmp_path / "missing" / "p.csv") == 1
    assert "does not exist" in one_line_error(capsys, "predict")


def test_predictions_to_a_tsv_file_are_tab_separated(tmp_path, capsys):
    frame = make_frame()
    data = write(frame, tmp_path / "train.csv")
    model_path = tmp_path / "two.fastgd"
    assert (
        run("fit", data, "--target", "y,z", "--features", "a,b,c", "--quiet", "--out", model_path)
        == 0
    )
    assert run("predict", model_path, data, "--quiet", "--out", tmp_path / "p.tsv") == 0
    written = pd.read_csv(tmp_path / "p.tsv", sep="\t")
    expected = fastgd.load(model_path).predict(frame[FEATURES])
    np.testing.assert_allclose(written[["prediction_y", "prediction_z"]], expected, rtol=1e-12)


def test_info_escapes_control_characters(tmp_path, capsys, trained):
    """A crafted model's strings cleared the screen and printed fake lines."""
    _, _, model_path = trained
    rewrite_metadata(
        model_path, lambda m: m["fitted"].update(stopped_="converged\x1b[2J\nfake: line")
    )
    assert run("info", model_path) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\\x1b[2J\\nfake" in out and "\nfake" not in out


def test_info_into_a_closed_pipe_says_nothing(trained):
    """``fastgd info model | head -1`` printed "error: [Errno 32] Broken pipe" (here
    the reader, ``true``, closes the pipe before anything is written)."""
    _, _, model_path = trained
    script = "import sys; from fastgd._cli import main; sys.exit(main())"
    process = subprocess.run(
        f"'{sys.executable}' -c '{script}' info '{model_path}' | true; echo ${{PIPESTATUS[0]}}",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.stderr == "" and process.stdout.strip() in ("0", "1")


def test_help_has_examples(capsys):
    for command in (["--help"], ["fit", "--help"], ["predict", "--help"]):
        with pytest.raises(SystemExit) as exit:
            main(command)
        assert exit.value.code == 0
        text = capsys.readouterr().out
        assert "examples:" in text and "fastgd " in text
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    text = capsys.readouterr().out
    for flag in ("--lr", "--max-iter", "--penalty", "--alpha", "--solver", "--scheduler"):
        assert flag in text


def test_the_installed_command_prints_no_traceback(tmp_path):
    """The console script, in a fresh process (`fastgd` is fastgd._cli:main)."""
    script = "import sys; from fastgd._cli import main; sys.exit(main())"
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            "fit",
            str(tmp_path / "x.csv"),
            "--target",
            "y",
            "--out",
            str(tmp_path / "m"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 1
    assert out.stderr.startswith("fastgd fit: error: no file") and "Traceback" not in out.stderr
    assert os.listdir(tmp_path) == []


def test_a_diverging_fit_is_one_line(tmp_path, capsys, trained):
    _, data, _ = trained
    assert (
        run(
            "fit",
            data,
            "--target",
            "y",
            "--method",
            "gd",
            "--lr",
            "1e6",
            "--max-iter",
            "50",
            "--quiet",
            "--out",
            tmp_path / "m",
        )
        == 1
    )
    assert "diverged" in one_line_error(capsys, "fit")
    assert not (tmp_path / "m").exists()


def test_out_never_overwrites_an_input(tmp_path, capsys, trained):
    _, data, model_path = trained
    before = open(data, "rb").read()
    assert run("fit", data, "--target", "y", "--quiet", "--out", data) == 1
    assert "is one of the inputs" in one_line_error(capsys, "fit")
    assert run("predict", model_path, data, "--quiet", "--out", data) == 1
    assert "is one of the inputs" in one_line_error(capsys, "predict")
    assert open(data, "rb").read() == before
    assert fastgd.load(model_path).n_features_in_ == 3


def test_predict_an_empty_file_and_a_model_saved_from_python(tmp_path, capsys):
    frame = make_frame()
    model = fastgd.GDRegressor().fit(frame[FEATURES], frame[["y", "z"]])
    model.save(tmp_path / "two.fastgd")  # no target names: prediction_0, prediction_1
    data = write(frame, tmp_path / "d.parquet")
    empty = write(frame.iloc[:0], tmp_path / "empty.parquet")
    out = tmp_path / "p.csv"
    assert run("predict", tmp_path / "two.fastgd", data, empty, "--quiet", "--out", out) == 0
    written = read(out)
    assert list(written.columns) == ["prediction_0", "prediction_1"]
    np.testing.assert_array_equal(written.to_numpy(), model.predict(frame[FEATURES]))
    assert run("info", tmp_path / "two.fastgd") == 0
    assert "target_names    None" in capsys.readouterr().out


def test_predict_with_features_for_a_model_fitted_on_arrays(tmp_path, capsys, trained):
    frame, data, model_path = trained
    arrays_model = fastgd.GDRegressor().fit(frame[FEATURES].to_numpy(), frame["y"])
    arrays_model.save(tmp_path / "arrays.fastgd")
    out = tmp_path / "p.parquet"
    assert run("predict", tmp_path / "arrays.fastgd", data, "--out", out, "--quiet") == 1
    assert "--features" in one_line_error(capsys, "predict")
    assert (
        run(
            "predict",
            tmp_path / "arrays.fastgd",
            data,
            "--features",
            "a,b,c",
            "--out",
            out,
            "--quiet",
        )
        == 0
    )
    np.testing.assert_array_equal(
        read(out)["prediction"], arrays_model.predict(frame[FEATURES].to_numpy())
    )
    assert (
        run(
            "predict",
            tmp_path / "arrays.fastgd",
            data,
            "--features",
            "a,b",
            "--out",
            out,
            "--quiet",
        )
        == 1
    )
    assert "the model takes 3 columns" in one_line_error(capsys, "predict")
    assert run("predict", model_path, data, "--features", "c,b,a", "--out", out, "--quiet") == 1
    assert "the model takes a,b,c" in one_line_error(capsys, "predict")


def test_info_shortens_long_lists(tmp_path, capsys):
    frame = pd.DataFrame(
        np.random.default_rng(0).standard_normal((500, 40)), columns=[f"c{j}" for j in range(40)]
    )
    frame["y"] = frame.sum(axis=1)
    data = write(frame, tmp_path / "wide.parquet")
    assert run("fit", data, "--target", "y", "--quiet", "--out", tmp_path / "w") == 0
    capsys.readouterr()
    assert run("info", tmp_path / "w") == 0
    lines = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines())
    assert lines["feature_names"].startswith("['c0', 'c1',")
    assert "... (40 in all) ..." in lines["feature_names"] and "'c39']" in lines["feature_names"]
    assert lines["coef_"].count(",") == 16 and lines["class"] == "GDRegressor"


def test_sigterm_during_predict_leaves_no_temporary_file(tmp_path, capsys, trained, monkeypatch):
    """SIGTERM left ``*.part<pid>`` behind (Ctrl-C did not): it now unwinds as Ctrl-C
    does, with the status of a terminated process."""
    import signal

    from fastgd import _files

    _, data, model_path = trained
    blocks = _files.iter_predictions

    def terminated_midway(*args, **kwargs):
        for k, block in enumerate(blocks(*args, **kwargs)):
            if k == 1:
                os.kill(os.getpid(), signal.SIGTERM)
            yield block

    monkeypatch.setattr(_files, "iter_predictions", terminated_midway)
    assert (
        run(
            "predict",
            model_path,
            data,
            "--block-rows",
            "500",
            "--quiet",
            "--out",
            tmp_path / "p.parquet",
        )
        == 128 + signal.SIGTERM
    )
    assert "terminated" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["model.fastgd", "train.csv"]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the caller's, back


def test_info_and_predict_import_only_what_they_need(tmp_path, trained):
    """Every command took 3-4 s to start: scikit-learn was imported for `info` and
    `predict` too (and Dask for `info`)."""
    _, data, model_path = trained
    for command, unused in (
        (["info", model_path], "('sklearn', 'dask')"),
        (["predict", model_path, data, "--quiet", "--out", tmp_path / "p.csv"], "('sklearn',)"),
    ):
        script = (
            f"import sys; from fastgd._cli import main; main(sys.argv[1:]); "
            f"print(any(name in sys.modules for name in {unused}))"
        )
        out = subprocess.run(
            [sys.executable, "-c", script, *map(str, command)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0 and out.stdout.strip().endswith("False"), out.stderr


def test_fit_help_describes_each_option_in_whole_sentences(capsys):
    """``--schedule``'s help was cut mid-sentence ("(t = 0, 1, ; one of ..."), ``--solver``
    described only "stream", and options the command does not take were offered."""
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(t = 0, 1, ... counts updates" in text
    assert "--solver SOLVER How a full batch reads the data" in text
    assert "--random-state" not in text and "early-stopping split" not in text


def test_a_missing_extra_is_one_message(tmp_path, trained):
    """Without scikit-learn, the error was two messages pasted together."""
    _, data, _ = trained
    script = (
        "import sys; sys.modules['sklearn'] = None; from fastgd._cli import main; "
        "main(sys.argv[1:])"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, "fit", data, "--target", "y", "--out", str(tmp_path / "m")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1
    assert out.stderr == (
        "fastgd fit: error: sklearn is not installed: the fit command "
        "needs the files extra: python -m pip install -e '.[files]' in "
        "fastgd's source checkout\n"
    )


def test_fit_with_cv_chooses_alpha_as_gdregressorcv_and_info_shows_the_curve(tmp_path, capsys):
    frame = make_frame(seed=3)
    data = write(frame, tmp_path / "data.parquet")
    out = tmp_path / "m.fastgd"
    argv = ["fit", data, "--target", "y", "--features", "a,b,c", "--penalty", "l1"]
    assert run(*argv, "--cv", 4, "--alphas", 30, "--out", out) == 0
    assert "chosen by 4-fold cv; converged" in capsys.readouterr().out
    expected = fastgd.GDRegressorCV(alphas=30, cv=4).fit(frame[FEATURES], frame["y"])
    model = fastgd.load(out)
    assert model.alpha == pytest.approx(expected.alpha_, rel=1e-12)
    np.testing.assert_allclose(model.coef_, expected.coef_, rtol=1e-12)
    assert run("info", out) == 0
    printed = capsys.readouterr().out
    curve = printed[printed.index("cross_validation") :].splitlines()
    assert f"alpha {expected.alpha_:.6g} (of 30)" in curve[0] and "4 folds" in curve[0]
    (chosen,) = [line for line in curve if line.endswith("*")]
    alpha, mean, _ = (float(value) for value in chosen.split()[:3])
    best = int(np.argmin(expected.mse_path_.mean(axis=1)))
    assert alpha == pytest.approx(expected.alpha_, rel=1e-5)
    assert mean == pytest.approx(expected.mse_path_[best].mean(), rel=1e-5)
    # given alphas, and what --cv does not take: one line each, before any reading
    assert run(*argv, "--cv", 4, "--alphas", "1,0.1,0.01", "--quiet", "--out", out) == 0
    assert fastgd.load(out).alpha in (1.0, 0.1, 0.01)
    for extra, words in [
        (["--alpha", "0.1"], "--alpha is not taken with --cv"),
        (["--lr", "0.1"], "--lr is not taken with --cv"),
        (["--alphas", "0"], "alphas must be an integer >= 1"),
        (["--cv", "1"], "cv must be a number of folds from 2"),
    ]:
        options = extra if "--cv" in extra else ["--cv", "4", *extra]
        assert run(*argv, *options, "--out", out) == 1
        assert words in one_line_error(capsys, "fit")
    assert run("fit", data, "--target", "y", "--cv", 4, "--out", out) == 1
    assert "--cv needs --penalty" in one_line_error(capsys, "fit")
