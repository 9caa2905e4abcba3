"""GDRegressorCV: the penalty chosen by cross-validation over a path, from one pass.

scikit-learn's ``LassoCV``, ``ElasticNetCV`` and ``RidgeCV`` (with ``cv``) fit every
fold's path on its training rows, reading X again for each fold. Here one pass over X
gives each fold's triangular factor (``_folds.fold_factors``); every training set's
path and every validation error are then exact on small problems
(``_crossval.FoldProblems``), and the model at the chosen penalty is the exact
solution of the merge of all the folds' factors, certified on the data by its
duality gap from one more pass. Needs scikit-learn, as ``GDRegressor``.
"""

import warnings

import numpy as np

from . import _inputs, _steps
from ._accelerated import duality_gap
from ._backends import serial_blas
from ._crossval import FoldProblems, cross_validated_path
from ._diagnostics import ConvergenceWarning
from ._estimator import (
    GDRegressor,
    LinearPredictor,
    _check_feature_names,
    _get_feature_names,
)
from ._fit import FitResult, shape_like_y
from ._folds import folds_of
from ._path import PathProblem
from ._spec import FitSpec
from ._validation import (
    Point,
    check_alphas,
    check_eps,
    check_path_penalty,
)


class GDRegressorCV(LinearPredictor):
    """A Lasso, elastic net or ridge whose ``alpha`` (and ``l1_ratio``) is chosen by
    cross-validation, from one pass over the data.

    scikit-learn's ``LassoCV`` (``penalty="l1"``), ``ElasticNetCV``
    (``"elasticnet"``) and ``RidgeCV`` with ``cv`` (``"l2"``), with their objective
    and attributes: each fold's path is solved on the other folds' rows, its mean
    squared error measured on the fold's, and the alpha (and l1_ratio) of least
    mean error over the folds chosen; the model is then refitted on all the rows at
    it. Where scikit-learn reads X again for every fold and every alpha, one pass
    here reduces each fold's rows to a small triangular factor: every path and every
    validation error is then exact on problems of ``n_features + 1 + n_targets``
    rows, and the refit is the exact solution of the merge of the folds' factors,
    certified on the data by its duality gap from one pass (``dual_gap_``).

    Parameters
    ----------
    penalty : {"l1", "l2", "elasticnet"}, default="l1"
        ``alpha * (l1_ratio * ||w||_1 + (1 - l1_ratio) / 2 * ||w||^2)`` added to half
        the mean squared error: scikit-learn's ``Lasso`` / ``ElasticNet`` alpha;
        ``Ridge(alpha=a)`` on n training rows is ``alpha = a / n`` here.
    alphas : int or array-like, default=100
        The number of penalties of scikit-learn's grid (from the smallest alpha that
        makes every coefficient 0 on all the rows, log-spaced down to ``eps`` times
        it; a ridge's as an elastic net's of l1_ratio 1e-3, as glmnet's), or the
        penalties themselves (positive).
    l1_ratio : float or list of float, default=0.5
        The L1 share of an "elasticnet" penalty, in (0, 1]; a list is searched too
        (``ElasticNetCV``'s), each with its own grid.
    cv : int, array-like, scikit-learn splitter or splits, default=5
        The folds: a number of contiguous folds (scikit-learn's ``KFold`` without
        shuffling, as ``LassoCV``'s default; None is 5), an array of one fold label
        per row (for groups: the group of each row, as ``LeaveOneGroupOut``), a
        splitter that needs no groups (``KFold(shuffle=True)``, ``StratifiedKFold``
        ...), or a list of ``(train, test)`` index arrays (``list(GroupKFold(4).split(X,
        y, groups))``): each test set a fold, taking every row exactly once, each
        train set all the other rows. A fold whose rows, or whose training rows, weigh
        0 in all is an error.
    eps : float in (0, 1), default=1e-3
        The grid's smallest alpha over its largest.
    fit_intercept : bool, default=True
    tol : float, default=1e-6
        The refit is ``converged_`` when its duality gap on the data is at most
        ``tol ** 2`` times the zero model's objective (as :func:`fastgd.fit_path`'s
        points; the coefficients do not depend on it).
    backend : {"auto", "numba", "cython", "numpy"}, default="auto"
    n_threads : int, optional
        Threads for the compiled kernels (None: all allowed).

    Attributes
    ----------
    alpha_ : float
        The chosen penalty.
    l1_ratio_ : float
        The chosen L1 share (1 for "l1", 0 for "l2").
    alphas_ : ndarray of shape (n_alphas,) or (n_l1_ratio, n_alphas)
        The grid (decreasing), one per l1_ratio when a list is given.
    mse_path_ : ndarray of shape (n_alphas, n_folds) or (n_l1_ratio, n_alphas, n_folds)
        Each fold's validation mean squared error (weighted, averaged over the
        targets) at each alpha.
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
    intercept_ : float or ndarray of shape (n_targets,)
    n_iter_ : int
        The refit's passes over the data: 1, its certificate.
    converged_ : bool
        Whether the refit is certified within ``tol``.
    dual_gap_ : float
        The refit's duality gap on the data: a bound on how far its objective is
        above the minimum (scikit-learn's ``dual_gap_``, in fastgd's objective).
    best_estimator_ : GDRegressor
        The refit as a fitted :class:`fastgd.GDRegressor` at ``alpha_`` and
        ``l1_ratio_`` (the same coefficients; its ``method_`` is ``"path"``), which
        ``save`` writes to a model file.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,), dtype object
        Defined when X was a dataframe with string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgd import GDRegressorCV
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(500, 10))
    >>> y = X[:, :3] @ [2.0, -1.0, 0.5] + rng.normal(size=500)
    >>> model = GDRegressorCV(cv=5).fit(X, y)
    >>> model.mse_path_.shape, bool(model.converged_)
    ((100, 5), True)
    >>> np.flatnonzero(np.abs(model.coef_) > 0.1)
    array([0, 1, 2])
    """

    def __init__(
        self,
        penalty="l1",
        alphas=100,
        l1_ratio=0.5,
        cv=5,
        eps=1e-3,
        fit_intercept=True,
        tol=1e-6,
        backend="auto",
        n_threads=None,
    ):
        self.penalty = penalty
        self.alphas = alphas
        self.l1_ratio = l1_ratio
        self.cv = cv
        self.eps = eps
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.backend = backend
        self.n_threads = n_threads

    def fit(self, X, y=None, sample_weight=None):
        """Choose the penalty by cross-validation and refit at it; return self.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Or a Dask array or DataFrame (each block's folds' factors made on its
            worker), or files from :func:`fastgd.read_files` (read a block at a
            time): one pass over the rows for all the folds, and one more to
            certify the refit. Contiguous folds of a Dask DataFrame or CSV files, whose
            numbers of rows no metadata give, take a pass more to count them.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Each target has its own path; the error of a penalty is the mean over
            the targets (one alpha for all). None when X is files.
        sample_weight : array-like of shape (n_samples,), optional
            Weights of the training objective and of the validation errors (as
            ``ElasticNetCV``'s).
        """
        self._check_y_is_given(X, y)
        _get_feature_names(_inputs.named_like(X))  # before the work: unusable names fail here
        n_alphas, given = check_alphas(self.alphas)
        eps = check_eps(self.eps)
        shares = check_path_penalty(self.penalty, self.l1_ratio)
        shares = shares if isinstance(shares, tuple) else (shares,)
        # the refit's options, checked before the pass: its penalty is set afterwards
        spec = FitSpec(
            tol=self.tol,
            fit_intercept=self.fit_intercept,
            backend=self.backend,
            n_threads=self.n_threads,
            penalty=self.penalty,
        )
        settings = spec.validated()
        data, W, b = _inputs.as_data(X, y, sample_weight, Point(None, None, "coef", "intercept"))
        backend, fit_intercept = settings.backend, settings.fit_intercept
        with serial_blas(None if data.blocked else data.X, True):
            factors, _ = folds_of(data, self.cv, backend, b, fit_intercept, settings.n_threads)
            folds = FoldProblems(factors, data.n_features, fit_intercept, backend.name)
            paths = [cross_validated_path(folds, share, given, n_alphas, eps) for share in shares]
            self._choose(paths, shares)
            self._refit(data, spec, folds, X)
        return self

    def _choose(self, paths, shares):
        # the penalty (and l1_ratio) of the least mean validation error, and the curves
        mean_errors = np.array([path.mse_path.mean(axis=1) for path in paths])
        best_share, best_alpha = np.unravel_index(np.argmin(mean_errors), mean_errors.shape)
        self.l1_ratio_ = shares[best_share]
        self.alpha_ = float(paths[best_share].alphas[best_alpha])
        self.alphas_ = np.array([path.alphas for path in paths])
        self.mse_path_ = np.array([path.mse_path for path in paths])
        if len(shares) == 1:
            self.alphas_, self.mse_path_ = self.alphas_[0], self.mse_path_[0]

    def _refit(self, data, spec, folds, X):
        # The refit: the exact solution at alpha_ of the whole data's small problem
        # (the merge of the folds' factors), certified on the data by its duality gap
        # from one pass (_accelerated.duality_gap: the gradient, the loss).
        settings = spec._replace(alpha=self.alpha_, l1_ratio=self.l1_ratio_).validated()
        l1, l2 = settings.l1, settings.l2
        whole = PathProblem.of_factor(
            folds.whole_factor, data.n_features, settings.fit_intercept, settings.backend, data
        )
        W, b = whole.solutions([l1], [l2])
        W, b = W[0].astype(data.dtype), b[0].astype(data.dtype)  # (the point returned)
        backend, n_threads = settings.backend, settings.n_threads
        grad_W, grad_b, loss = data.float64_gradient(backend, W, b, n_threads, with_loss=True)
        if not settings.fit_intercept:
            grad_b = np.zeros_like(grad_b)
        small, eps = whole.small, float(np.finfo(data.dtype).eps)
        gap, rounding = duality_gap(
            W.astype(np.float64),
            grad_W - grad_b[:, None] * small.mean,
            loss,
            grad_b,
            l1,
            l2,
            eps,
            eps * np.sqrt(2 * loss) * small.rms,  # (a gradient entry's rounding)
        )
        threshold = float(whole.gap_thresholds(settings.tol).sum())
        self.dual_gap_ = gap
        self.converged_ = bool(gap <= threshold)
        if not self.converged_:
            warnings.warn(
                f"GDRegressorCV: the refit's duality gap on the data, {gap:.3g}, is above "
                f"tol ** 2 times the zero model's objective ({threshold:.3g})"
                + (
                    f": below what {data.dtype.name} coefficients and sums certify"
                    if rounding >= threshold
                    else ": rounding on nearly collinear columns"
                ),
                ConvergenceWarning,
                stacklevel=3,
            )
        objective = loss + _steps.penalty(W, l1, l2, data.n_features)
        coef, intercept = shape_like_y(W, b, data.y_is_1d)
        result = FitResult(
            coef=coef,
            intercept=intercept,
            loss_history=np.array([objective]),
            history={
                "loss": np.array([objective]),
                "grad_norm": np.array([gap]),
                "lr": np.ones(1),
            },
            n_iter=1,
            converged=self.converged_,
            backend=backend.name,
            lr=1.0,
            solver="gram",
            method="path",
            error_bound=np.nan,
            stopped="converged" if self.converged_ else "uncertified",
        )
        regressor = GDRegressor(
            **spec._replace(alpha=self.alpha_, l1_ratio=self.l1_ratio_)._asdict()
        )
        regressor._store(result, None, X, append=False)
        self.best_estimator_ = regressor
        self.coef_, self.intercept_, self.n_iter_ = regressor.coef_, regressor.intercept_, 1
        # as scikit-learn's validate_data(reset=True) sets them, after the fit
        _check_feature_names(self, _inputs.named_like(X), reset=True)
        self.n_features_in_ = data.n_features
