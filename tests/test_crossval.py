"""Cross-validated paths from one pass (fastgd/_crossval.py) against scikit-learn's
LassoCV and ElasticNetCV on the same folds, with and without sample weights: the
same grid, the same validation errors (mse_path_, weighted means with weights) and
the same chosen alpha."""

import numpy as np
import pytest

from fastgd import _backends, _folds
from fastgd._crossval import FoldProblems, cross_validated_path
from fastgd._inputs import as_data
from fastgd._validation import Point

from conftest import sklearn_grid

sklearn = pytest.importorskip("sklearn")
from sklearn import linear_model, model_selection  # noqa: E402


def _data(N=400, D=8, seed=0):
    rng = np.random.default_rng(seed)
    cov = 0.5 ** np.abs(np.subtract.outer(np.arange(D), np.arange(D)))
    X = rng.multivariate_normal(np.zeros(D), cov, size=N) * np.geomspace(0.1, 10, D) + 3
    y = X @ (rng.normal(size=D) * (np.arange(D) % 3 == 0)) + 2 + rng.normal(size=N)
    return X, y


def _path(X, y, cv, l1_ratio, weights=None, **grid):
    labels, n_folds = _folds.fold_labels(cv, X)
    data, _, _ = as_data(X, y, weights, Point(None, None, "coef", "intercept"))
    backend = _backends.get_backend("numpy")
    zero_b = np.zeros(1)
    factors = _folds.fold_factors(data, labels, n_folds, backend, zero_b, True, 1)
    folds = FoldProblems(factors, X.shape[1], True, "numpy")
    options = {"alphas": None, "n_alphas": 30, "eps": 1e-3, **grid}
    return cross_validated_path(folds, l1_ratio, **options)


@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
@pytest.mark.parametrize("shuffled", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_the_cross_validated_path_is_scikit_learns(l1_ratio, shuffled, weighted):
    X, y = _data()
    weights = np.random.default_rng(5).uniform(0.2, 3, size=len(y)) if weighted else None
    cv = model_selection.KFold(5, shuffle=shuffled, random_state=0 if shuffled else None)
    found = _path(X, y, cv, l1_ratio, weights)
    model = linear_model.ElasticNetCV(
        l1_ratio=l1_ratio, eps=1e-3, cv=cv, tol=1e-14, max_iter=10**6, **sklearn_grid(30)
    ).fit(X, y, sample_weight=weights)
    np.testing.assert_allclose(found.alphas, model.alphas_, rtol=1e-12)
    np.testing.assert_allclose(found.mse_path, model.mse_path_, rtol=1e-9)
    assert found.alphas[found.best_index] == pytest.approx(model.alpha_, rel=1e-12)


def test_given_alphas_are_the_grid():
    X, y = _data(seed=1)
    alphas = np.geomspace(1.0, 1e-3, 7)
    found = _path(X, y, 4, 1.0, alphas=alphas)
    model = linear_model.LassoCV(alphas=alphas, cv=4, tol=1e-14, max_iter=10**6).fit(X, y)
    np.testing.assert_array_equal(found.alphas, alphas)
    np.testing.assert_allclose(found.mse_path, model.mse_path_, rtol=1e-9)


@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
def test_a_column_constant_in_a_training_set_is_held_at_zero_there(l1_ratio):
    """A one-hot column set only in fold 0's rows, and a column constant outside
    them: constant in fold 0's training set, where scikit-learn's centring gives them
    coefficient 0; the validation errors stay scikit-learn's."""
    rng = np.random.default_rng(2)
    N = 200
    X = rng.normal(size=(N, 5))
    X[:, 3] = 0.0
    X[:40, 3] = 1.0
    X[:, 4] = 7.0
    X[:40, 4] = rng.normal(size=40)
    y = X[:, :3] @ [1, -2, 0.5] + 3 * X[:, 3] + rng.normal(size=N)
    found = _path(X, y, 5, l1_ratio, n_alphas=20)
    model = linear_model.ElasticNetCV(
        l1_ratio=l1_ratio,
        eps=1e-3,
        cv=5,
        tol=1e-14,
        max_iter=10**6,
        **sklearn_grid(20),
    ).fit(X, y)
    np.testing.assert_allclose(found.mse_path, model.mse_path_, rtol=1e-8)
    assert found.alphas[found.best_index] == pytest.approx(model.alpha_, rel=1e-12)
