"""GDRegressor: the scikit-learn style estimator around :func:`fastgd.fit`."""

import inspect

import numpy as np

from ._api import fit as _fit
from ._validation import check_finite, check_X

try:  # scikit-learn is optional: with it, GDRegressor is a full scikit-learn citizen
    from sklearn.base import BaseEstimator as _Base
    from sklearn.base import RegressorMixin as _Mixin
except ImportError:  # pragma: no cover - exercised in environments without sklearn

    class _Base:
        """get_params / set_params as scikit-learn defines them, for flat estimators."""

        @classmethod
        def _get_param_names(cls):
            signature = inspect.signature(cls.__init__)
            return sorted(p.name for p in signature.parameters.values() if p.name != "self")

        def get_params(self, deep=True):
            return {name: getattr(self, name) for name in self._get_param_names()}

        def set_params(self, **params):
            valid = self._get_param_names()
            for name, value in params.items():
                if name not in valid:
                    raise ValueError(
                        f"Invalid parameter {name!r} for {type(self).__name__}; "
                        f"valid parameters are {valid}."
                    )
                setattr(self, name, value)
            return self

        def __repr__(self):
            params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
            return f"{type(self).__name__}({params})"

    class _Mixin:
        pass


class NotFittedError(ValueError, AttributeError):
    """The estimator is used before ``fit`` (as scikit-learn's NotFittedError)."""


class GDRegressor(_Mixin, _Base):
    """Linear least squares fitted by full-batch gradient descent in compiled code.

    A scikit-learn style estimator around :func:`fastgd.fit`: it minimises half
    the mean squared error ``sum((X @ coef_.T + intercept_ - y) ** 2) / (2 N)``.
    The constructor only stores its parameters; they are checked in :meth:`fit`.

    Parameters
    ----------
    lr : "auto" or float, default="auto"
        Learning rate; ``"auto"`` is 1/L, L the largest eigenvalue of the Hessian.
    max_iter : int, default=1000
        Maximum number of iterations.
    tol : float, default=1e-6
        Stop when the gradient norm falls to ``tol`` times its value at the start
        (or at the zero model, if larger); 0 runs all iterations. See
        :func:`fastgd.fit`.
    fit_intercept : bool, default=True
        Whether to fit the intercept.
    backend : {"auto", "numba", "cython", "numpy"}, default="auto"
        Which kernels run the fit.
    n_threads : int, optional
        Threads for the compiled kernels (None: all allowed). Results do not
        depend on it.
    solver : {"auto", "stream", "gram"}, default="auto"
        Streaming passes over X, or one pass to form the Gram matrix and cheap
        iterations after it; see :func:`fastgd.fit`.
    penalty : {None, "l2", "l1", "elasticnet"}, default=None
        Regularisation of coef_ (never of intercept_), scaled as in scikit-learn's
        ElasticNet: ``alpha * (l1_ratio * ||w||_1 + (1 - l1_ratio) / 2 * ||w||^2)``
        added to half the mean squared error. L1 by a proximal step: exact zeros.
    alpha : float, default=1e-4
        Strength of the penalty.
    l1_ratio : float, default=0.15
        L1 share of the "elasticnet" penalty.
    momentum : float in [0, 1), default=0.0
        Heavy-ball momentum (torch.optim.SGD's); see :func:`fastgd.fit`.
    nesterov : bool, default=False
        Nesterov's accelerated variant of the momentum step.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
    intercept_ : float or ndarray of shape (n_targets,)
    n_iter_ : int
        Iterations run.
    loss_curve_ : ndarray of shape (n_iter_,)
        Loss at the start of each iteration.
    n_features_in_ : int
    lr_ : float
        The learning rate used.
    converged_ : bool
    backend_ : str
        The backend that ran the fit.
    solver_ : str
        The solver that ran the fit ("stream" or "gram").

    Examples
    --------
    >>> import numpy as np
    >>> from fastgd import GDRegressor
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [2.0, 1.0]])
    >>> y = X @ np.array([2.0, -1.0]) + 0.5
    >>> model = GDRegressor(max_iter=5000, tol=1e-10).fit(X, y)
    >>> np.round(model.predict([[3.0, 1.0]]), 6)
    array([5.5])
    >>> round(model.score(X, y), 6)
    1.0
    """

    def __init__(self, lr="auto", max_iter=1000, tol=1e-6, fit_intercept=True, backend="auto",
                 n_threads=None, solver="auto", penalty=None, alpha=1e-4, l1_ratio=0.15,
                 momentum=0.0, nesterov=False):
        self.lr = lr
        self.max_iter = max_iter
        self.tol = tol
        self.fit_intercept = fit_intercept
        self.backend = backend
        self.n_threads = n_threads
        self.solver = solver
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.momentum = momentum
        self.nesterov = nesterov

    def fit(self, X, y, coef_init=None, intercept_init=None, sample_weight=None):
        """Fit the model; return self.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
        coef_init : array-like of shape (n_features,) or (n_targets, n_features), optional
            Starting coefficients (as in scikit-learn's SGDRegressor.fit).
        intercept_init : float or array-like of shape (n_targets,), optional
            Starting intercept.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights of the weighted half MSE (see :func:`fastgd.fit`).
        """
        result = _fit(
            X,
            y,
            lr=self.lr,
            max_iter=self.max_iter,
            tol=self.tol,
            fit_intercept=self.fit_intercept,
            coef_init=coef_init,
            intercept_init=intercept_init,
            backend=self.backend,
            n_threads=self.n_threads,
            solver=self.solver,
            penalty=self.penalty,
            alpha=self.alpha,
            l1_ratio=self.l1_ratio,
            sample_weight=sample_weight,
            momentum=self.momentum,
            nesterov=self.nesterov,
        )
        self.coef_ = result.coef
        self.intercept_ = result.intercept
        self.n_iter_ = result.n_iter
        self.loss_curve_ = result.loss_history
        self.lr_ = result.lr
        self.converged_ = result.converged
        self.backend_ = result.backend
        self.solver_ = result.solver
        self.n_features_in_ = result.coef.shape[-1]
        return self

    def predict(self, X):
        """Predict ``X @ coef_.T + intercept_``.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_targets), in X's float dtype
        """
        if not hasattr(self, "coef_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet; call fit(X, y) "
                f"before predict or score."
            )
        X, _ = check_X(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} was fitted with "
                f"{self.n_features_in_} features."
            )
        # Computed in X's dtype: casting the small coefficients, never the large X.
        coef = np.asarray(self.coef_, dtype=X.dtype)
        intercept = np.asarray(self.intercept_, dtype=X.dtype)
        prediction = X @ coef.T + intercept
        if not np.isfinite(prediction).all():
            check_finite(X, "X")  # NaN or inf in X (checked only now: no extra pass)
        return prediction

    def score(self, X, y, sample_weight=None):
        """Coefficient of determination R² of the prediction (averaged over targets).

        Uses :func:`sklearn.metrics.r2_score` semantics: 1 is a perfect fit, 0 is
        the constant prediction of the mean of y, and it can be negative.
        """
        y = np.asarray(y, dtype=np.float64)
        y_pred = np.asarray(self.predict(X), dtype=np.float64)
        if y_pred.shape != y.shape:
            raise ValueError(f"y must have shape {y_pred.shape}; got {y.shape}.")
        weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        residual = np.average((y - y_pred) ** 2, axis=0, weights=weights)
        total = np.average((y - np.average(y, axis=0, weights=weights)) ** 2, axis=0, weights=weights)
        # A constant target: R² is 1 for a perfect prediction and 0 otherwise (scikit-learn).
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = np.where(total > 0, 1 - residual / total, np.where(residual == 0, 1.0, 0.0))
        return float(np.mean(r2))
