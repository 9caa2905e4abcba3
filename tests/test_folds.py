"""Cross-validation folds (fastgd/_folds.py): the fold of each row from a ``cv``
argument, as scikit-learn's splitters make them, and each fold's triangular factor
from one pass, against the Gram matrix of the fold's own rows (R.T R = Z.T diag(s) Z,
Z = [X, 1, y]) and, for a training set, of the other folds' rows."""

import numpy as np
import pytest

from fastgd import _backends, _folds
from fastgd._inputs import as_data
from fastgd._validation import Point

from conftest import COMPILED_BACKENDS

BACKENDS = ["numpy", *COMPILED_BACKENDS]


def test_contiguous_folds_are_kfolds_test_sets():
    model_selection = pytest.importorskip("sklearn.model_selection")
    X = np.zeros((23, 2))
    for n_folds in (2, 5, 23):
        labels, n = _folds.fold_labels(n_folds, X)
        assert n == n_folds
        for fold, (_, test) in enumerate(model_selection.KFold(n_folds).split(X)):
            np.testing.assert_array_equal(np.flatnonzero(labels == fold), test)


def test_a_splitter_and_labels_give_the_folds_of_their_test_sets():
    model_selection = pytest.importorskip("sklearn.model_selection")
    X = np.zeros((30, 2))
    splitter = model_selection.KFold(4, shuffle=True, random_state=0)
    labels, n = _folds.fold_labels(splitter, X)
    assert n == 4
    for fold, (_, test) in enumerate(splitter.split(X)):
        np.testing.assert_array_equal(np.flatnonzero(labels == fold), np.sort(test))
    splits = list(splitter.split(X))  # scikit-learn's third kind: the splits themselves
    for given in (splits, iter(splits)):
        np.testing.assert_array_equal(_folds.fold_labels(given, X)[0], labels)
    groups = np.array(["b", "a", "c"] * 10)
    labels, n = _folds.fold_labels(groups, X)
    assert n == 3 and (labels == np.searchsorted(["a", "b", "c"], groups)).all()


class _Overlapping:
    def split(self, X):
        yield np.arange(6, 10), np.arange(0, 6)
        yield np.arange(0, 5), np.arange(5, 10)


@pytest.mark.parametrize(
    "cv, error, match",
    [
        (1, ValueError, "cv must be a number of folds from 2 to the number of rows, n_samples=10"),
        (11, ValueError, "got 11"),
        ("5", TypeError, "cv must be a number of folds, an array"),
        (2.5, TypeError, "cv must be"),
        (True, TypeError, "cv must be"),
        (np.zeros((10, 2)), TypeError, "cv must be"),
        (np.arange(9), ValueError, "one label per row of X \\(10\\); got 9 labels"),
        (np.zeros(10), ValueError, "at least 2 folds; got 1"),
        (_Overlapping(), ValueError, "overlap \\(row 5 is in two of them\\)"),
    ],
)
def test_a_bad_cv_is_named_with_what_was_expected(cv, error, match):
    with pytest.raises(error, match=match):
        _folds.fold_labels(cv, np.zeros((10, 2)))


class _Partial:
    def split(self, X):
        yield np.arange(3, 10), np.arange(0, 3)
        yield np.r_[0:3, 6:10], np.arange(3, 6)


def test_a_splitter_that_leaves_rows_out_is_refused():
    with pytest.raises(ValueError, match="every row exactly once.*row 6 in none of them"):
        _folds.fold_labels(_Partial(), np.zeros((10, 2)))


def _gram(X, y, weights, rows):
    Z = np.c_[X[rows], np.ones(len(rows)), y[rows]].astype(np.float64)
    s = np.ones(len(rows)) if weights is None else weights[rows].astype(np.float64)
    return Z.T @ (s[:, None] * Z)


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shuffled", [False, True])
def test_each_folds_factor_is_its_rows_and_a_training_factor_the_others(
    backend_name, order, weighted, shuffled, monkeypatch
):
    monkeypatch.setattr(_folds, "FOLD_CHUNK_ROWS", 37)  # several chunks, pieces
    rng = np.random.default_rng(3)
    N, D = 250, 4
    X = np.asarray(rng.normal(size=(N, D)) * [1, 10, 100, 1e3] + 5, order=order)
    y = X @ rng.normal(size=D) + rng.normal(size=N)
    weights = rng.uniform(0.5, 2, size=N) if weighted else None
    cv = rng.integers(0, 5, size=N) if shuffled else 5
    labels, n_folds = _folds.fold_labels(cv, X)
    data, _, _ = as_data(X, y, weights, Point(None, None, "coef", "intercept"))
    backend = _backends.get_backend(backend_name)
    X_before = X.copy()
    factors = _folds.fold_factors(data, labels, n_folds, backend, np.zeros(1), True, 2)
    np.testing.assert_array_equal(X, X_before)
    for fold in range(n_folds):
        rows = np.flatnonzero(labels == fold)
        expected = _gram(X, y, weights, rows)
        R = factors[fold].R
        np.testing.assert_allclose(
            R.T @ R, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max()
        )
        total = len(rows) if weights is None else weights[rows].sum()
        assert factors[fold].total_weight == pytest.approx(total, rel=1e-14)
        training = _folds.training_factor(factors, fold, backend.name)
        expected = _gram(X, y, weights, np.flatnonzero(labels != fold))
        np.testing.assert_allclose(
            training.R.T @ training.R, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max()
        )


def test_blocks_fold_runs_are_the_labels_of_each_blocks_rows():
    """Contiguous folds of blocked data are cut from their bounds (no label per row
    on the client); any other cv from its labels; each block's runs decode to its
    rows' folds, empty blocks included."""
    for block_rows, cv in [((3, 4, 5, 1), 3), ((10,), 4), ((2,) * 6, 5), ((7, 0, 6), 2)]:
        block_runs, n_folds = _folds.blocks_fold_runs(cv, block_rows)
        decoded = np.concatenate([np.repeat(*block) for block in block_runs])
        np.testing.assert_array_equal(decoded, _folds.kfold_labels(sum(block_rows), cv))
        assert n_folds == cv and len(block_runs) == len(block_rows)
    labels = np.array([1, 0, 1, 0, 1, 0, 2])
    block_runs, n_folds = _folds.blocks_fold_runs(labels, (3, 0, 4))
    assert n_folds == 3
    np.testing.assert_array_equal(np.concatenate([np.repeat(*b) for b in block_runs]), labels)
    with pytest.raises(ValueError, match="n_samples=13; got 14"):
        _folds.blocks_fold_runs(14, (3, 4, 5, 1))
