"""GDRegressorCV against scikit-learn's LassoCV, ElasticNetCV and RidgeCV on the same
folds (run to a tolerance far below the comparison's): the same grid, mse_path_,
alpha_ and l1_ratio_, and the refit's coefficients; on generated and bundled data,
with sample weights, several targets and float32; the data read once; bad arguments
named."""

import warnings

import numpy as np
import pytest

import fastgd
from fastgd import _backends

from conftest import sklearn_grid

sklearn = pytest.importorskip("sklearn")
from sklearn import datasets, linear_model, model_selection  # noqa: E402

GDRegressorCV = fastgd.GDRegressorCV


def correlated(n=500, d=10, seed=0, n_targets=None):
    rng = np.random.default_rng(seed)
    cov = 0.5 ** np.abs(np.subtract.outer(np.arange(d), np.arange(d)))
    X = rng.multivariate_normal(np.zeros(d), cov, size=n) * np.geomspace(0.2, 5, d) + 1
    coef = rng.normal(size=(d, n_targets or 1)) * (np.arange(d) % 3 == 0)[:, None]
    Y = X @ coef + 2 + rng.normal(size=(n, n_targets or 1))
    return X, Y[:, 0] if n_targets is None else Y


def assert_same_choice(model, reference, coef_atol=1e-8):
    np.testing.assert_allclose(model.alphas_, reference.alphas_, rtol=1e-12)
    np.testing.assert_allclose(model.mse_path_, reference.mse_path_, rtol=1e-8)
    assert model.alpha_ == pytest.approx(reference.alpha_, rel=1e-12)
    assert model.l1_ratio_ == getattr(reference, "l1_ratio_", 1.0)  # (LassoCV has none)
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=0, atol=coef_atol)
    np.testing.assert_allclose(model.intercept_, reference.intercept_, rtol=1e-9)
    assert model.converged_ and 0 <= model.dual_gap_  # (its gap within tol**2 of the objective)
    assert model.best_estimator_.method_ == "path" and model.n_iter_ == 1


TIGHT = dict(tol=1e-14, max_iter=10**6)


@pytest.mark.parametrize("weighted", [False, True])
def test_the_lasso_is_lasso_cvs(weighted):
    X, y = correlated()
    weights = np.random.default_rng(1).uniform(0.2, 3, len(y)) if weighted else None
    model = GDRegressorCV(alphas=40, cv=5).fit(X, y, sample_weight=weights)
    reference = linear_model.LassoCV(cv=5, **sklearn_grid(40), **TIGHT)
    assert_same_choice(model, reference.fit(X, y, sample_weight=weights))


def test_units_near_float64s_limits_choose_the_same_alpha_in_those_units():
    """X 1e-150 and y 1e150 times the data (coefficients near 1e300, whose squares
    overflow): the same choice and coefficients in those units, and a finite gap."""
    X, y = correlated(seed=4)
    model = GDRegressorCV(alphas=20, cv=5).fit(X, y)
    scaled = GDRegressorCV(alphas=20, cv=5).fit(X * 1e-150, y * 1e150)
    assert scaled.alpha_ == pytest.approx(model.alpha_, rel=1e-12)  # (its units: y X)
    np.testing.assert_allclose(scaled.coef_ * 1e-300, model.coef_, rtol=1e-12, atol=1e-14)
    assert scaled.converged_ and np.isfinite(scaled.dual_gap_)


def test_a_target_in_tiny_units_is_not_taken_for_a_constant():
    """y 1e-20 times the data: the same choice in those units (scikit-learn's grid
    takes an alpha_max below 1e-15 for a constant y, and zeroes every coefficient)."""
    X, y = correlated(seed=6)
    model = GDRegressorCV(alphas=20, cv=5).fit(X, y)
    tiny = GDRegressorCV(alphas=20, cv=5).fit(X, y * 1e-20)
    assert tiny.alpha_ == pytest.approx(model.alpha_ * 1e-20, rel=1e-12)
    np.testing.assert_allclose(tiny.coef_ * 1e20, model.coef_, rtol=1e-10, atol=1e-14)
    assert tiny.converged_ and np.count_nonzero(tiny.coef_) == np.count_nonzero(model.coef_)


def test_a_constant_target_is_lasso_cvs_intercept_alone_and_certified():
    """y constant: LassoCV's answer (slopes 0, the intercept y's value), certified
    without a warning, by GDRegressorCV and fit_path alike."""
    X, _ = correlated(seed=5)
    y = np.full(len(X), 3.0)
    reference = linear_model.LassoCV(cv=5).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = GDRegressorCV(cv=5).fit(X, y)
        path = fastgd.fit_path(X, y)
    np.testing.assert_array_equal(model.coef_, reference.coef_)
    assert model.intercept_ == pytest.approx(reference.intercept_, rel=1e-15)
    assert model.converged_ and path.converged.all() and not path.coef.any()


def test_the_elastic_net_searches_its_l1_ratios_as_elastic_net_cv():
    X, y = correlated(seed=2)
    cv = model_selection.KFold(4, shuffle=True, random_state=0)
    ratios = [0.1, 0.5, 0.9]
    model = GDRegressorCV(penalty="elasticnet", l1_ratio=ratios, alphas=30, cv=cv).fit(X, y)
    reference = linear_model.ElasticNetCV(l1_ratio=ratios, cv=cv, **sklearn_grid(30), **TIGHT)
    assert_same_choice(model, reference.fit(X, y))
    assert model.alphas_.shape == (3, 30) and model.mse_path_.shape == (3, 30, 4)


def test_bundled_data_and_given_alphas():
    X, y = datasets.load_diabetes(return_X_y=True)
    alphas = np.geomspace(1.0, 1e-4, 25)
    model = GDRegressorCV(alphas=alphas, cv=3).fit(X, y)
    reference = linear_model.LassoCV(alphas=alphas, cv=3, **TIGHT).fit(X, y)
    assert_same_choice(model, reference, coef_atol=1e-6)


def test_the_ridge_is_ridge_cvs_at_the_same_folds():
    """Ridge(a) on n training rows is alpha = a / n: with folds of equal size, one
    fastgd alpha is one Ridge alpha on every fold. RidgeCV scores by R^2 unless told
    otherwise; told the mean squared error, it picks the same alpha."""
    X, y = correlated(n=400, seed=3)
    ridge_alphas = np.geomspace(1e4, 1e-2, 30)
    n_train = 400 * 4 // 5
    model = GDRegressorCV(penalty="l2", alphas=ridge_alphas / n_train, cv=5).fit(X, y)
    reference = linear_model.RidgeCV(
        alphas=ridge_alphas, cv=5, scoring="neg_mean_squared_error"
    ).fit(X, y)
    assert model.alpha_ * n_train == pytest.approx(reference.alpha_, rel=1e-12)
    # the refit is on all the rows: Ridge(alpha_ * N)
    refit = linear_model.Ridge(alpha=model.alpha_ * 400).fit(X, y)
    np.testing.assert_allclose(model.coef_, refit.coef_, rtol=1e-10)
    for i, alpha in enumerate(np.sort(ridge_alphas)[::-1]):  # each fold's error
        errors = [
            np.mean(
                (linear_model.Ridge(alpha=alpha).fit(X[tr], y[tr]).predict(X[te]) - y[te]) ** 2
            )
            for tr, te in model_selection.KFold(5).split(X)
        ]
        np.testing.assert_allclose(model.mse_path_[i], errors, rtol=1e-9)


def test_without_an_intercept_the_folds_fit_the_raw_columns():
    X, y = correlated(seed=10)
    X, y = X - 1, y - 2  # (no offset: a design scikit-learn's descent converges on)
    model = GDRegressorCV(alphas=25, cv=5, fit_intercept=False).fit(X, y)
    reference = linear_model.LassoCV(cv=5, fit_intercept=False, **sklearn_grid(25), **TIGHT)
    assert_same_choice(model, reference.fit(X, y))
    assert model.intercept_ == 0


def test_several_targets_share_one_alpha_and_have_their_own_paths():
    X, Y = correlated(n_targets=2, seed=4)
    model = GDRegressorCV(alphas=20, cv=4).fit(X, Y)
    assert model.coef_.shape == (2, X.shape[1]) and model.intercept_.shape == (2,)
    # each target's validation errors, averaged: the mse_path_ of the pair
    alone = [GDRegressorCV(alphas=model.alphas_, cv=4).fit(X, Y[:, k]) for k in range(2)]
    np.testing.assert_allclose(
        model.mse_path_, (alone[0].mse_path_ + alone[1].mse_path_) / 2, rtol=1e-10
    )
    refit = linear_model.Lasso(alpha=model.alpha_, **TIGHT).fit(X, Y)
    np.testing.assert_allclose(model.coef_, refit.coef_, rtol=0, atol=1e-8)


def test_float32_data_fit_float32_coefficients():
    X, y = correlated(seed=5)
    with pytest.warns(fastgd.ConvergenceWarning, match="below what float32 coefficients"):
        model = GDRegressorCV(alphas=20).fit(X.astype(np.float32), y.astype(np.float32))
    exact = GDRegressorCV(alphas=20).fit(
        X.astype(np.float32).astype(np.float64), y.astype(np.float32).astype(np.float64)
    )
    assert model.coef_.dtype == np.float32 and model.alpha_ == exact.alpha_
    np.testing.assert_allclose(model.mse_path_, exact.mse_path_, rtol=1e-10)


def test_x_is_compressed_once_and_the_refit_reads_it_once_to_certify(monkeypatch):
    """The folds' factors come from one pass of compress over X's rows; the refit is
    the solution of their merge (no second compression of X), certified by one
    gradient pass over X."""
    X, y = correlated(n=3000, seed=6)
    rows = []
    original = _backends.CompiledBackend.compress

    def counting(self, X_part, *args, **kwargs):
        if np.shares_memory(X_part, X):  # (not a merge of factors)
            rows.append(X_part.shape[0])
        return original(self, X_part, *args, **kwargs)

    monkeypatch.setattr(_backends.CompiledBackend, "compress", counting)
    model = GDRegressorCV(alphas=10, cv=5, backend="numba").fit(X, y)
    assert sum(rows) == len(y) and model.converged_
    assert model.n_iter_ == 1  # the refit's pass over X


def test_feature_names_and_predict():
    pd = pytest.importorskip("pandas")
    X, y = correlated(seed=7)
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    model = GDRegressorCV(alphas=10).fit(frame, y)
    assert list(model.feature_names_in_) == list(frame.columns)
    np.testing.assert_allclose(model.predict(frame), X @ model.coef_ + model.intercept_)
    with pytest.raises(ValueError, match="feature names"):
        model.predict(frame.rename(columns={"f0": "g"}))


@pytest.mark.parametrize(
    "params, error, words",
    [
        (dict(cv=1), ValueError, "cv must be a number of folds from 2"),
        (dict(cv="5"), TypeError, "cv must be a number of folds"),
        (dict(cv=np.zeros(3)), ValueError, "one label per row"),
        (dict(alphas=-1), ValueError, "alphas must be an integer >= 1"),
        (dict(alphas=[1.0, 0.0]), ValueError, "finite penalties > 0"),
        (dict(penalty="elasticnet", l1_ratio=[0.5, 0.0]), ValueError, "l1_ratio must be in"),
        (dict(penalty="elasticnet", l1_ratio=[]), TypeError, "non-empty list"),
        (dict(penalty=None), ValueError, "penalty must be 'l1', 'l2' or 'elasticnet'"),
        (dict(eps=1.5), ValueError, "eps must be in"),
        (dict(tol=-1), ValueError, "tol must be"),
    ],
)
def test_bad_parameters_are_named(params, error, words):
    X, y = correlated(n=40)
    with pytest.raises(error, match=words):
        GDRegressorCV(**params).fit(X, y)


# ------------------------------------------------ Dask collections and files: one pass


def _frame(n=3000, d=6, seed=8):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * np.geomspace(0.5, 4, d) + 2
    y = X[:, :3] @ [1.0, -0.5, 0.25] + rng.normal(size=n)
    weights = rng.uniform(0.2, 3, n)
    frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(d)]).assign(y=y, w=weights)
    return X, y, weights, frame


def assert_same_fit(model, expected):
    # (the same to rounding: the blocks' factors are merged in another order)
    np.testing.assert_allclose(model.alphas_, expected.alphas_, rtol=1e-12)
    np.testing.assert_allclose(model.mse_path_, expected.mse_path_, rtol=1e-12)
    assert model.alpha_ == pytest.approx(expected.alpha_, rel=1e-12) and model.converged_
    np.testing.assert_allclose(model.coef_, expected.coef_, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kind, counted", [("parquet", False), ("csv", True)])
def test_files_are_read_once_for_the_folds_and_then_only_to_certify(
    tmp_path, monkeypatch, kind, counted
):
    """Each block of the files is read once for all the folds' factors (and once more
    before, to count the rows of CSV files, which no metadata give), then once for
    the refit's certificate: never once per fold or per alpha."""
    pytest.importorskip("pyarrow")
    from fastgd import _files

    X, y, weights, frame = _frame()
    path = tmp_path / f"data.{kind}"
    if kind == "parquet":
        frame.to_parquet(path, row_group_size=300)
    else:
        frame.to_csv(path, index=False)
    files = fastgd.read_files(path, target="y", sample_weight="w", block_rows=300)
    reads = {}
    original = _files.read_piece

    def counting(piece, *args):
        reads[piece.part] = reads.get(piece.part, 0) + 1
        return original(piece, *args)

    monkeypatch.setattr(_files, "read_piece", counting)
    model = GDRegressorCV(alphas=20, cv=5).fit(files)
    assert len(reads) == len(files.pieces) > 3
    assert set(reads.values()) == {2 + counted} and model.n_iter_ == 1
    assert_same_fit(model, GDRegressorCV(alphas=20, cv=5).fit(X, y, sample_weight=weights))


def test_dask_collections_on_one_or_two_workers_give_the_arrays_fit_bitwise():
    da = pytest.importorskip("dask.array")
    dd = pytest.importorskip("dask.dataframe")
    distributed = pytest.importorskip("distributed")
    X, y, weights, frame = _frame(seed=9)
    expected = GDRegressorCV(alphas=15, cv=4).fit(X, y, sample_weight=weights)
    fits = []
    for n_workers in (1, 2):
        with (
            distributed.LocalCluster(
                n_workers=n_workers, threads_per_worker=1, processes=False, dashboard_address=":0"
            ) as cluster,
            distributed.Client(cluster),
        ):
            arrays = (
                da.from_array(X, chunks=(450, X.shape[1])),
                da.from_array(y, chunks=450),
                da.from_array(weights, chunks=450),
            )
            ddf = dd.from_pandas(frame, npartitions=5)
            features = [column for column in frame.columns if column.startswith("x")]
            for model_input in (arrays, (ddf[features], ddf["y"], ddf["w"])):
                model = GDRegressorCV(alphas=15, cv=4).fit(*model_input[:2], model_input[2])
                assert_same_fit(model, expected)
                fits.append(model)
    for one, two in ((fits[0], fits[2]), (fits[1], fits[3])):  # bitwise, 1 or 2 workers
        np.testing.assert_array_equal(one.alphas_, two.alphas_)
        np.testing.assert_array_equal(one.mse_path_, two.mse_path_)
        np.testing.assert_array_equal(one.coef_, two.coef_)


def test_zero_weight_folds_and_splits_that_train_on_fewer_rows_are_errors():
    """A fold of zero total weight (leave-one-out with a zero weight) made every
    validation error NaN and chose alpha_max silently; a split whose train set is
    not the rest of the rows was fitted on the rest anyway. Both are refused."""
    X, y = correlated(n=30, d=3, seed=11)
    weights = np.ones(30)
    weights[5] = 0.0
    with pytest.raises(ValueError, match="rows of fold 5 have a total sample_weight of 0"):
        GDRegressorCV(cv=30).fit(X, y, sample_weight=weights)
    weights[15:] = 0.0
    with pytest.raises(ValueError, match="training rows of fold 0 .* sample_weight of 0"):
        GDRegressorCV(cv=2).fit(X, y, sample_weight=weights)
    splits = [(train[2:], test) for train, test in model_selection.KFold(3).split(X)]
    with pytest.raises(ValueError, match="split 0 of the given splits does not train on every"):
        GDRegressorCV(cv=splits).fit(X, y)
    groups = np.repeat([0, 1, 2], 10)  # groups: their labels, or GroupKFold's splits
    by_groups = list(model_selection.GroupKFold(3).split(X, y, groups))
    one, two = GDRegressorCV(cv=groups).fit(X, y), GDRegressorCV(cv=by_groups).fit(X, y)
    assert one.alpha_ == pytest.approx(two.alpha_, rel=1e-12)  # (folds in another order)
    assert GDRegressorCV(cv=None).fit(X, y).mse_path_.shape[1] == 5
