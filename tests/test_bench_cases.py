"""The benchmark registry's correctness check: what ``fastgd bench`` times must be right.

Runs every contender of fastgd/bench/cases.py on the quick (small) shapes, untimed,
and scores it with its kind's own ``assess``: those that run the baseline's
iterations must agree with it; the others (scikit-learn SGD, lstsq) must at least
return finite coefficients of the right shape. The Lasso contenders, fastgd's L1
fits and scikit-learn's Lasso, must all reach the solution of a Lasso run to a much
tighter tolerance, with its exact zeros. The SGD contenders must reach the
least-squares objective within SGD's noise floor, and without shuffling fastgd's
per-sample updates must be SGDRegressor's. The processes kinds (cold start, Ctrl-C
latency) are left to tests/test_interrupt.py and the bench itself.
"""

import importlib.util

import numpy as np
import pytest

import fastgd
from fastgd.bench import cases
from fastgd.bench.run import select

from conftest import COMPILED_BACKENDS


def _installed(contender):
    """Whether the modules a contender needs are here (the bench skips it, else)."""
    return all(importlib.util.find_spec(module) for module in contender.requires)


def _results(kind):
    """(shape, dtype, contender, data, result, scores) of every quick case of a kind."""
    for shape in kind.shapes:
        if shape.slow:
            continue
        for dtype in kind.dtypes:
            data = kind.make_data(shape, dtype)
            baseline = kind.baseline.setup(data)()
            for contender in kind.contenders:
                if contender.slow or shape.name in contender.skip or not _installed(contender):
                    continue
                result = contender.setup(data)()
                yield shape, dtype, contender, data, result, kind.assess(data, result, baseline)


@pytest.mark.parametrize("kind", [cases.GRADIENT, cases.FIT], ids=lambda k: k.name)
def test_contenders_agree_with_the_baseline(kind):
    checked = 0
    for shape, dtype, contender, _data, result, scores in _results(kind):
        where = f"{kind.name} {shape.name} {dtype} {contender.name}"
        result = np.asarray(result)
        assert result.shape == (shape.n_features,), where
        assert np.isfinite(result).all(), where
        if contender.same_result:
            assert scores["error"] <= cases.AGREEMENT[dtype], (where, scores)
            checked += 1
    assert checked >= 6


def test_fit_many_contenders_all_return_the_least_squares_solutions():
    kind = cases.MANY
    shape = kind.shapes[0]
    data = kind.make_data(shape, "float64").head(300)  # 300 of the problems: quick
    ones = np.ones((shape.n_samples, 1))
    exact = np.stack(
        [np.linalg.lstsq(np.hstack([X, ones]), y, rcond=None)[0] for X, y in zip(data.X, data.y)]
    )
    baseline = kind.baseline.setup(data)()
    for contender in kind.contenders:
        result = contender.setup(data)()
        assert result.shape == (300, shape.n_features + 1), contender.name
        assert cases.assess_agreement(data, result, exact)["error"] <= 1e-9, contender.name
        assert kind.assess(data, result, baseline)["error"] <= cases.AGREEMENT["float64"]


def test_agreement_measures_the_distance_to_the_baseline():
    baseline = np.array([1.0, -4.0, 2.0])
    assert cases.assess_agreement(None, baseline, baseline)["error"] == 0
    off = baseline + np.array([0.0, 0.04, 0.0])
    assert cases.assess_agreement(None, off, baseline)["error"] == pytest.approx(0.01)
    assert cases.assess_agreement(None, baseline[:2], baseline)["error"] == np.inf
    assert cases.assess_agreement(None, baseline, None)["error"] is None


def test_lasso_contenders_reach_the_tight_lasso_solution():
    pytest.importorskip("sklearn")
    checked = 0
    for shape, dtype, contender, data, fit, scores in _results(cases.LASSO):
        reference, _ = cases.lasso_reference(data)
        where = f"lasso {shape.name} {dtype} {contender.name}"
        assert fit.converged and scores["converged"], where
        # Stopped at LASSO_GAP, FISTA's and Lasso's coefficients are within about
        # 6e-11 of the tight solution on this data: 1e-8 leaves a margin.
        np.testing.assert_allclose(fit.coef, reference.coef, rtol=0, atol=1e-8, err_msg=where)
        assert fit.intercept == pytest.approx(reference.intercept, abs=1e-8), where
        # The same support: exact zeros where the tight solution has them, nowhere else.
        assert scores["same_zeros"], where
        assert 0 < scores["nonzeros"] < shape.n_features, where  # a support to find
        gap = scores["objective"] - scores["reference_objective"]
        assert gap <= 1e-12 * scores["reference_objective"], where
        checked += 1
    assert checked >= 5


@pytest.mark.parametrize("backend", COMPILED_BACKENDS)
def test_sgd_per_sample_updates_are_sgdregressors_without_shuffling(backend):
    """The settings of the per-sample contenders with shuffle=False: the same updates
    in the same order, so the same coefficients up to the rounding of each step."""
    pytest.importorskip("sklearn")
    data = cases.make_sgd_data(cases.Shape("2e3x5", 2000, 5))
    sklearn_fit, fastgd_fit = cases.unshuffled_sgd_fits(data.X, data.y, backend)
    assert (fastgd_fit.n_epochs, fastgd_fit.n_updates) == (
        sklearn_fit.n_epochs,
        sklearn_fit.n_updates,
    )
    assert fastgd_fit.last_step == pytest.approx(sklearn_fit.last_step, rel=1e-12)
    np.testing.assert_allclose(fastgd_fit.coef, sklearn_fit.coef, rtol=1e-10, atol=1e-12)
    assert fastgd_fit.intercept == pytest.approx(sklearn_fit.intercept, rel=1e-10)


def test_sgd_contenders_reach_the_least_squares_objective():
    pytest.importorskip("sklearn")
    checked = 0
    for shape, dtype, contender, _data, fit, scores in _results(cases.SGD):
        where = f"sgd {shape.name} {dtype} {contender.name}"
        assert np.isfinite(fit.coef).all() and fit.coef.shape == (shape.n_features,), where
        assert fit.n_epochs == cases.SGD_EPOCHS, where
        # SGD with a step of eta per row ends in a noise ball around the optimum: its
        # expected excess objective is about eta * tr(H) / 2 times the optimum
        # (H = [X, 1].T [X, 1] / N, of trace D + 1 on standardised data), eta the last
        # steps' per-row size. On 1e5 x 20 after 7 epochs that is 3.6e-3 for the
        # per-sample contenders and 8.6e-3 for batches of 32 (last step / 32); they
        # measure 4.3e-3 (fastgd), 5.0e-3 (SGDRegressor: the same updates in another
        # order) and 1.0e-2. A bound of 3e-2 leaves room for the spread of a random
        # endpoint, while a fit far from converged (the gap is 63 at w = 0) or a step
        # that does not decay (a constant 0.01 per row ends at 0.16) fails it.
        gap = (scores["objective"] - scores["optimal_objective"]) / scores["optimal_objective"]
        assert -1e-12 <= gap <= 3e-2, (where, gap)
        checked += 1
    assert checked >= 5


def test_sgd_batch_lr_is_a_stable_step():
    """The mini-batch contenders' linearly scaled step is below 1/L_B, what
    lr="auto" picks for batches of that size on the quick shape's data."""
    shape = next(s for s in cases.SGD.shapes if not s.slow)
    data = cases.make_sgd_data(shape)
    auto = fastgd.fit(
        data.X,
        data.y,
        batch_size=cases.SGD_BATCH_SIZE,
        lr="auto",
        max_iter=1,
        tol=0,
        random_state=0,
        backend="cython",
    ).lr
    assert cases.SGD_BATCH_LR < auto


def test_direct_contenders_return_the_least_squares_solution():
    """Every fit of the direct kind returns [intercept, coef] of lstsq's solution (to
    float32's rounding on float32 data); the measurements (a read of X, the Gram pass,
    the matrix product) return nothing to score."""
    pytest.importorskip("sklearn")
    checked = 0
    for shape, dtype, contender, _data, result, scores in _results(cases.DIRECT):
        where = f"direct {shape.name} {dtype} {contender.name}"
        if contender.variant_of == "measurement":
            assert result is None and scores == {}, where
            continue
        assert result.shape == (shape.n_features + 1,), where
        ours = contender.name in fastgd.available_backends() or contender.name == "estimator"
        # (Ridge's alpha moves its solution by about 1e-11; the others' float32
        # arithmetic loses more than fastgd's, whose sums are float64)
        allowed = {"float64": 1e-12 if ours else 1e-9, "float32": 1e-6 if ours else 1e-4}
        assert scores["error"] <= allowed[dtype], (where, scores)
        checked += 1
    assert checked >= 2 * 3 * 6


def test_a_target_against_another_contender_reads_its_time():
    from fastgd.bench import report

    target = cases.Target(
        "t", "direct", "1e5x20", ("float64",), ("cython",), "speedup", 2, against="sklearn-ridge"
    )
    row = {
        "sklearn-lr": {"seconds": 10.0},
        "sklearn-ridge": {"seconds": 3.0},
        "cython": {"seconds": 1.0},
    }
    assert report._target_measured(
        target, {("direct", "1e5x20", "float64"): row}, None, "float64"
    ) == (3.0, "3×")


def test_every_target_names_cases_of_the_registry():
    """A target whose kind, shape, dtype or contender is renamed would silently drop
    out of the report's targets table."""
    every = {case.id for case in select(full=True)}
    for target in cases.TARGETS:
        for dtype in target.dtypes:
            for name in target.contenders:
                assert f"{target.kind}/{target.shape}/{dtype}/{name}" in every, target.text


def test_quick_run_leaves_out_slow_shapes_and_skipped_contenders():
    quick = {case.id for case in select()}
    full = {case.id for case in select(full=True)}
    assert quick < full
    slow = {
        f"{kind.name}/{shape.name}/"
        for kind in cases.KINDS.values()
        for shape in kind.shapes
        if shape.slow
    }
    assert not any(case_id.startswith(tuple(slow)) for case_id in quick)
    assert "fit/1e6x32/float64/gram" in full
    assert "fit/1e6x32/float64/sklearn-sgd" not in full  # skipped on that shape
    assert "coldstart/1e3x10/float64/numba-empty-cache" in full - quick  # a slow contender


def test_file_contenders_fit_the_file_they_time(monkeypatch):
    """The files kind's processes (one each) on a small Parquet file: the fits reach
    lstsq's solution, the cross-validated Lasso chooses LassoCV's alpha on the file's
    rows (read by pandas), every contender reports its rows per second and memory."""
    pytest.importorskip("pyarrow")
    pytest.importorskip("dask")
    pandas = pytest.importorskip("pandas")
    linear_model = pytest.importorskip("sklearn.linear_model")
    monkeypatch.setattr(cases, "FILE_REPEATS", 1)
    kind = cases.FILES
    data = kind.make_data(cases.Shape("2e4x5", 20_000, 5), "float64")
    baseline = None
    for contender in kind.contenders:
        result = contender.setup(data)()
        baseline = baseline or result
        scores = kind.assess(data, result, baseline)
        assert scores["rows_per_second"] > 0 and scores["peak_rss"] > scores["rss_growth"] >= 0
        if contender is kind.baseline:
            assert "coef_error" not in scores
        elif "alpha" in scores:
            frame = pandas.read_parquet(data.files.path)
            expected = linear_model.LassoCV(cv=5, alphas=100).fit(frame.drop(columns="y"), frame.y)
            assert scores["converged"], contender.name
            assert scores["alpha"] == pytest.approx(expected.alpha_, rel=1e-12), contender.name
        else:
            assert scores["converged"] and scores["coef_error"] < 1e-6, contender.name


def test_the_dask_cross_validation_contender_chooses_lasso_cvs_alpha():
    """The dask kind's GDRegressorCV on a 2-worker LocalCluster: LassoCV's alpha on the
    same rows, and the client's memory growth recorded; the 2 GB shape runs fastgd's
    two contenders alone."""
    pytest.importorskip("distributed")
    linear_model = pytest.importorskip("sklearn.linear_model")
    from fastgd.bench import probes

    data = cases.make_sgd_data(cases.Shape("4e4x6", 40_000, 6))
    try:
        fit = cases.fastgd_cv_on_dask(2)(data)()
    finally:
        probes.close_dask_clusters()
    expected = linear_model.LassoCV(cv=5, alphas=100).fit(data.X, data.y)
    assert fit.alpha == pytest.approx(expected.alpha_, rel=1e-12)
    assert fit.client_growth >= 0 and fit.n_workers == 2
    large = {
        contender.name
        for contender in cases.DASK.contenders
        if cases.DASK_LARGE not in contender.skip
    }
    assert large == {"fastgd-2-workers", "fastgd-cv-2-workers"}


def test_cv_contenders_choose_scikit_learns_alpha_and_fit_it_exactly():
    """Every cross-validation contender's refit is the exact fit at the alpha it
    chose, and fastgd chooses scikit-learn's alpha (and l1_ratio) on the same grid
    and folds, at a cross-validated error that differs only by scikit-learn's
    tolerance."""
    pytest.importorskip("sklearn")
    chosen = {}
    for shape, dtype, contender, _data, _fit, scores in _results(cases.CV):
        where = f"cv {shape.name} {dtype} {contender.name}"
        exact = 1e-9 if contender.name.startswith("fastgd") else 1e-3
        assert scores["coef_error"] <= exact, (where, scores)
        chosen[contender.name] = scores
    for ours, theirs in cases.CV_COUNTERPARTS.items():
        assert chosen[ours]["alpha"] == pytest.approx(chosen[theirs]["alpha"], rel=1e-12)
        assert chosen[ours]["l1_ratio"] == chosen[theirs]["l1_ratio"]
        assert chosen[ours]["cv_error"] == pytest.approx(chosen[theirs]["cv_error"], rel=1e-4)
