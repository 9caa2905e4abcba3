"""GDRegressor: the scikit-learn estimator around :func:`fastgd.fit`.

It needs scikit-learn (the sklearn extra: ``python -m pip install -e ".[sklearn]"`` in
fastgd's source checkout): importing this module
without it raises one ImportError that says so. ``import fastgd`` and
``fastgd.fit`` never import scikit-learn (``fastgd/__init__.py`` loads this module
on first use of ``fastgd.GDRegressor``).
"""

import copy
import warnings

import numpy as np

from . import _inputs, _persist, _reference
from ._diagnostics import FitInterrupted
from ._fit import fit_resumable
from ._spec import FIT_PARAMETERS, FitSpec
from ._validation import check_finite, check_X, user_stacklevel

try:
    from sklearn.base import BaseEstimator, RegressorMixin
    from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

    # Feature-name and width checks exactly as scikit-learn's own estimators make
    # them (validate_data's parts, applied around fastgd's own array validation).
    from sklearn.utils.validation import _check_feature_names as _sklearn_check_names
    from sklearn.utils.validation import _check_n_features
    from sklearn.utils.validation import _get_feature_names as _sklearn_feature_names
except ImportError as error:  # the one place that needs scikit-learn
    raise ImportError(
        "fastgd.GDRegressor needs scikit-learn >= 1.6: install it with "
        '`python -m pip install -e ".[sklearn]"` in fastgd\'s source checkout (the '
        "sklearn extra; fastgd.fit and fastgd.gradient work "
        f"without it). ({error})",
        name="sklearn",
    ) from error


def _get_feature_names(X):
    """scikit-learn's _get_feature_names: None for a NumPy array, without its checks
    of every kind of data frame (tens of microseconds of a small fit)."""
    return None if type(X) is np.ndarray else _sklearn_feature_names(X)


def _check_feature_names(estimator, X, reset):
    """scikit-learn's _check_feature_names; for a NumPy array fitted (reset) what it
    does, without its checks of every kind of data frame."""
    if reset and type(X) is np.ndarray:
        estimator.__dict__.pop("feature_names_in_", None)
        return
    _sklearn_check_names(estimator, X, reset=reset)


class NotFittedError(_SklearnNotFittedError):
    """The estimator is used before ``fit``: scikit-learn's NotFittedError (a
    ValueError and an AttributeError), which scikit-learn's tools catch."""


class LinearPredictor(RegressorMixin, BaseEstimator):
    """What every fitted fastgd linear model does with ``coef_`` and ``intercept_``:
    predict and score (NumPy arrays, Dask collections or files), with scikit-learn's
    checks of X against what ``fit`` saw. Its subclasses' ``fit`` sets ``coef_``,
    ``intercept_``, ``n_features_in_`` and ``feature_names_in_``."""

    def predict(self, X):
        """Predict ``X @ coef_.T + intercept_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_in_)
            With the column names seen in ``fit``, if it had any: other names raise
            ValueError, and names on only one side warn (as in scikit-learn).

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_targets), in X's float dtype
            A Dask array when X is a Dask array or DataFrame, computed block by
            block where X's blocks are.

        Raises
        ------
        NotFittedError
            Before ``fit``.
        """
        if _inputs.holds_blocks(X):  # a Dask array (or files), block by block
            self._check_blocks_as_fitted(X)
            return _inputs.predict(X, self.coef_, self.intercept_)
        X = self._check_X_as_fitted(X)
        # Computed in X's dtype: casting the small coefficients, never the large X.
        coef = np.asarray(self.coef_, dtype=X.dtype)
        intercept = np.asarray(self.intercept_, dtype=X.dtype)
        prediction = _reference.predictions(X, coef, intercept)
        if not np.isfinite(prediction).all():
            check_finite(X, "X")  # NaN or inf in X (checked only now: no extra pass)
        return prediction

    def score(self, X, y=None, sample_weight=None):
        """Coefficient of determination R² of the prediction (averaged over targets).

        Uses :func:`sklearn.metrics.r2_score` semantics: 1 is a perfect fit, 0 is
        the constant prediction of the mean of y, and it can be negative. X is
        checked as in :meth:`predict`. With Dask collections, each block's sums are
        computed on its worker and combined on the client.
        """
        self._check_y_is_given(X, y)
        if _inputs.holds_blocks(X, y, sample_weight):  # sums per block, on the workers
            self._check_blocks_as_fitted(X)
            return _inputs.r2_score(X, y, sample_weight, self.coef_, self.intercept_)
        y = np.asarray(y, dtype=np.float64)
        y_pred = np.asarray(self.predict(X), dtype=np.float64)
        if y_pred.shape != y.shape:
            raise ValueError(f"y must have shape {y_pred.shape}; got {y.shape}.")
        weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        residual = np.average((y - y_pred) ** 2, axis=0, weights=weights)
        total = np.average(
            (y - np.average(y, axis=0, weights=weights)) ** 2, axis=0, weights=weights
        )
        # A constant target: R² is 1 for a perfect prediction and 0 otherwise (scikit-learn).
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = np.where(total > 0, 1 - residual / total, np.where(residual == 0, 1.0, 0.0))
        return float(np.mean(r2))

    # -------------------------------------------------------------- scikit-learn glue
    # X itself is validated by check_X only (no copy of a float array); its feature
    # names and width are checked as scikit-learn's validate_data checks them.

    def __sklearn_tags__(self):
        # Called by scikit-learn >= 1.6 only, so BaseEstimator's method is there.
        tags = super().__sklearn_tags__()
        # y may be 2-D, (n_samples, n_targets): one linear model per column of y.
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        # X: a dense 2-D array of finite real numbers (check_X).
        tags.input_tags.two_d_array = True
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        tags.input_tags.positive_only = False
        return tags

    def _check_y_is_given(self, X, y):
        """Raise ValueError if y is None (scikit-learn's wording for regressors),
        unless X is files (fastgd.read_files), whose columns hold y."""
        if y is None and not _inputs.is_files(X):
            raise ValueError(
                f"This {type(self).__name__} estimator requires y to be passed, but the "
                f"target y is None."
            )

    def _check_fitted(self):
        if not hasattr(self, "coef_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet; call fit(X, y) "
                f"before predict or score."
            )

    def _check_blocks_as_fitted(self, X):
        """_check_X_as_fitted for a Dask collection: names and width, nothing read."""
        self._check_fitted()
        self._check_feature_names(X)
        n_features = _inputs.n_columns(X)
        if n_features != self.n_features_in_:
            raise ValueError(
                f"X has {n_features} features, but {type(self).__name__} is "
                f"expecting {self.n_features_in_} features as input."
            )

    def _check_X_as_fitted(self, X):
        """Return X validated by check_X for a fitted model: names and width as at fit.

        Raises NotFittedError before fit. The order is scikit-learn's: feature names
        (on X as given: a UserWarning when only one side had names, ValueError when
        they differ), then the array, then its number of features.
        """
        self._check_fitted()
        self._check_feature_names(X)
        X, _ = check_X(X)
        _check_n_features(self, X, reset=False)
        return X

    def _check_feature_names(self, X):
        """scikit-learn's check of X's column names against ``feature_names_in_``,
        its warnings (names on one side only, in its words) pointing at the caller's
        line rather than inside scikit-learn; differing names raise there."""
        X = _inputs.named_like(X)
        fitted, given = hasattr(self, "feature_names_in_"), _get_feature_names(X) is not None
        if fitted == given:
            _check_feature_names(self, X, reset=False)  # ValueError if they differ
            return
        name = type(self).__name__
        message = (
            f"X has feature names, but {name} was fitted without feature names"
            if given
            else f"X does not have valid feature names, but {name} was fitted with feature names"
        )
        warnings.warn(message, UserWarning, stacklevel=user_stacklevel())


class GDRegressor(LinearPredictor):
    """Linear least squares, solved directly or by gradient methods in compiled code.

    A scikit-learn style estimator around :func:`fastgd.fit`: it minimises half
    the mean squared error ``sum((X @ coef_.T + intercept_ - y) ** 2) / (2 N)``
    (weighted, plus a penalty, if asked): by default exactly (the direct solve,
    refined and certified: ``error_bound_``), or by full-batch or mini-batch gradient
    methods. y may be 2-D (one linear model per column). The constructor only
    stores its parameters; they are checked in :meth:`fit`. Every option runs on
    both compiled backends, in float32 and float64, for single and multiple
    outputs; :func:`fastgd.fit` gives the exact formulas.

    Parameters
    ----------
    lr : "auto" or float, default="auto"
        Learning rate of gradient descent (the starting step of a schedule).
        ``"auto"``: 1/L, L the largest eigenvalue of the Hessian (full batch), or
        the mini-batch smoothness constant between L and ``max ||x_i||^2``
        (mini-batches); and for a full batch, the direct solve or conjugate
        gradients, which need no lr (``method``). A float runs plain gradient
        descent with it.
    max_iter : int, default=1000
        Maximum number of epochs (iterations, with a full batch).
    tol : float, default=1e-6
        The direct solve (the default): converged when every coefficient is
        certified within ``tol`` (relative) of the exact least-squares solution
        (``error_bound_``). FISTA (L1 on data that do not compress): converged when
        the duality gap at the returned coefficients, computed on the data, is at
        most ``tol**2`` times the zero model's objective. Other iterative full-batch
        methods: converged when the gradient norm at the returned coefficients,
        computed on the data, is at most ``tol`` times its value at the start (or at
        the zero model, if larger): a certificate (``converged_``); the coefficients
        are then within about ``tol`` times the condition number of the solution.
        Mini-batches or early
        stopping: stop when the epoch's training (or validation) loss has not
        fallen below ``(1 - tol)`` times its best for ``n_iter_no_change``
        epochs. 0 runs all epochs. See :func:`fastgd.fit`.
    fit_intercept : bool, default=True
        Whether to fit the intercept.
    backend : {"auto", "numba", "cython", "numpy"}, default="auto"
        Which kernels run the fit.
    n_threads : int, optional
        Threads for the compiled kernels (None: all allowed). Results do not
        depend on it.
    solver : {"auto", "stream", "gram"}, default="auto"
        Streaming passes over X, or (full batch only) one pass to compress X and y
        to a small triangular problem and cheap iterations after it; see
        :func:`fastgd.fit`.
    method : {"auto", "qr", "cg", "fista", "gd"}, default="auto"
        The direct solve (the default for a full batch with ``lr="auto"`` on data
        that compress, any penalty), conjugate gradients (on wider data), FISTA with
        restarts (on wider data with an L1 penalty), or gradient descent (the
        default with a float lr, momentum, a schedule or mini-batches; and what
        ``partial_fit`` runs); see :func:`fastgd.fit`.
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
    batch_size : int, optional
        None: full batch. An int: mini-batch gradient descent (1: per-sample SGD).
    shuffle : bool, default=True
        Shuffle the training rows before each epoch of mini-batches.
    random_state : None, int, numpy Generator or RandomState, optional
        Seeds the shuffling and the validation split; an int gives bitwise the
        same fit every time.
    schedule : {"constant", "invscaling", "adaptive"}, default="constant"
        Step of update t: ``lr``, ``lr / (1 + t) ** power_t``, or ``lr`` divided
        by 5 whenever the epoch loss stalls for ``n_iter_no_change`` epochs.
    power_t : float, default=0.25
        The exponent of "invscaling".
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows and stop when their loss
        stops improving.
    validation_fraction : float, default=0.1
        The held-out share for early stopping.
    n_iter_no_change : int, default=5
        Epochs without improvement before stopping (or dividing the step).
    warm_start : bool, default=False
        ``fit`` starts from the previous ``coef_`` and ``intercept_`` (with a
        fresh optimiser state: zero momentum, the schedule at t = 0).
    verbose : int, default=0
        1: a progress bar (tqdm) with the current loss.
    callback : callable, optional
        ``callback(iteration, coef, intercept, loss)`` after each epoch; returning
        False stops the fit.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
    intercept_ : float or ndarray of shape (n_targets,)
    n_iter_ : int
        Epochs run (by fit, or by all partial_fit calls since the first).
    loss_curve_ : ndarray of shape (n_iter_,)
        The loss of each epoch (``history_["loss"]``).
    history_ : dict of ndarray of shape (n_iter_,)
        Per epoch: ``"loss"``, ``"grad_norm"``, ``"lr"`` (the step), and with
        early stopping ``"validation_loss"``; see :class:`fastgd.FitResult`.
    t_ : int
        Updates made (mini-batches, or iterations): the schedule's time.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,), dtype object
        Column names of X seen in ``fit``, defined only when X was a dataframe whose
        column names are all strings. ``predict`` and ``score`` then check the names
        of their X as scikit-learn does: a UserWarning when only one of the two has
        names, a ValueError when the names differ.
    lr_ : float
        The starting step used (for conjugate gradients, their first step).
    converged_ : bool
    backend_ : str
        The backend that ran the fit.
    solver_ : str
        The solver that ran the fit ("stream" or "gram").
    method_ : str
        The method that ran the fit ("qr", "cg", "fista" or "gd").
    error_bound_ : float
        With the direct solve: the certified bound on the relative error of every
        coefficient (:class:`fastgd.FitResult`); NaN for the iterative methods.
    stopped_ : str
        Why the fit ended (:class:`fastgd.FitResult`): "converged", "max_iter",
        "loss plateau" (mini-batches: ``converged_`` is then False), ...

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

    def __init__(
        self,
        lr="auto",
        max_iter=1000,
        tol=1e-6,
        fit_intercept=True,
        backend="auto",
        n_threads=None,
        solver="auto",
        method="auto",
        penalty=None,
        alpha=1e-4,
        l1_ratio=0.15,
        momentum=0.0,
        nesterov=False,
        batch_size=None,
        shuffle=True,
        random_state=None,
        schedule="constant",
        power_t=0.25,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
        warm_start=False,
        verbose=0,
        callback=None,
    ):
        self.lr = lr
        self.max_iter = max_iter
        self.tol = tol
        self.fit_intercept = fit_intercept
        self.backend = backend
        self.n_threads = n_threads
        self.solver = solver
        self.method = method
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.momentum = momentum
        self.nesterov = nesterov
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.random_state = random_state
        self.schedule = schedule
        self.power_t = power_t
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.warm_start = warm_start
        self.verbose = verbose
        self.callback = callback

    def fit(self, X, y=None, coef_init=None, intercept_init=None, sample_weight=None):
        """Fit the model; return self.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Or files from :func:`fastgd.read_files`, read a block at a time (y and
            sample_weight are then their columns).
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
        coef_init : array-like of shape (n_features,) or (n_targets, n_features), optional
            Starting coefficients (as in scikit-learn's SGDRegressor.fit). With
            ``warm_start=True`` and a fitted model, the default is ``coef_``.
        intercept_init : float or array-like of shape (n_targets,), optional
            Starting intercept (``intercept_`` with ``warm_start``).
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights of the weighted half MSE (see :func:`fastgd.fit`).

        Raises
        ------
        fastgd.FitInterrupted
            On Ctrl-C: the model then holds the coefficients reached (``n_iter_``
            says how many epochs ran) and the exception's message says how far it got.
        """
        self._check_y_is_given(X, y)
        _get_feature_names(_inputs.named_like(X))  # before the work: unusable names fail here
        if self.warm_start and hasattr(self, "coef_"):
            coef_init = self.coef_ if coef_init is None else coef_init
            intercept_init = self.intercept_ if intercept_init is None else intercept_init
        self._run(
            X,
            y,
            X,
            append=False,
            coef_init=coef_init,
            intercept_init=intercept_init,
            sample_weight=sample_weight,
            optimizer=None,
        )
        return self

    def partial_fit(self, X, y=None, sample_weight=None):
        """One epoch over ``(X, y)``, continuing from the current state; return self.

        For data that arrives in chunks (read from disk, say): each call makes one
        pass over its chunk in mini-batches of ``batch_size`` (the whole chunk when
        None), starting from ``coef_`` and ``intercept_`` and keeping the optimiser's
        state from the previous call: the step (``lr="auto"`` is estimated on the
        first chunk), the schedule's time ``t_``, the momentum velocity and the
        shuffling generator. ``max_iter``, ``tol`` and ``early_stopping`` do not
        apply: the caller decides when to stop. ``fit`` starts afresh.

        A Dask array or DataFrame is taken one block at a time, in order, each on
        the worker that holds it (the model travels, the data stays): the same as
        calling ``partial_fit`` on its blocks as NumPy arrays, one epoch per block.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The chunk; after the first call, with ``n_features_in_`` columns (and
            the same column names).
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
        sample_weight : array-like of shape (n_samples,), optional

        Examples
        --------
        >>> import numpy as np
        >>> from fastgd import GDRegressor
        >>> rng = np.random.default_rng(0)
        >>> model = GDRegressor(batch_size=32, random_state=0)
        >>> for _ in range(100):  # chunks as they arrive
        ...     X = rng.standard_normal((256, 3))
        ...     model = model.partial_fit(X, X @ [1.0, 2.0, 3.0] + 4.0)
        >>> np.round(model.coef_, 3), round(float(model.intercept_), 3), model.n_iter_
        (array([1., 2., 3.]), 4.0, 100)
        """
        self._check_y_is_given(X, y)
        if self.method not in ("auto", "gd"):
            raise ValueError(
                f"partial_fit makes gradient-descent steps: method must be "
                f"'auto' or 'gd'; got {self.method!r}."
            )
        if _inputs.holds_blocks(X, y, sample_weight):
            return self._partial_fit_blocks(X, y, sample_weight)
        fitted = hasattr(self, "coef_")
        X_given = X
        if fitted:  # continue: same features, from the coefficients and state reached
            X = self._check_X_as_fitted(X)
            coef_init, intercept_init = self.coef_, self.intercept_
            optimizer = self._optimizer
        else:
            _get_feature_names(_inputs.named_like(X))  # before the work: unusable names fail here
            coef_init = intercept_init = optimizer = None
        self._run(
            X,
            y,
            X_given,
            append=fitted,
            coef_init=coef_init,
            intercept_init=intercept_init,
            sample_weight=sample_weight,
            optimizer=optimizer,
            max_iter=1,
            tol=0.0,
            early_stopping=False,
            solver="stream",
            method="gd",
        )
        return self

    def _partial_fit_blocks(self, X, y, sample_weight):
        """partial_fit on each block of Dask collections in turn, on the worker that
        holds it: the model (coefficients and optimiser state, O(D K)) travels from
        block to block, the data stays where it is. The same as calling partial_fit
        on the blocks as NumPy arrays, in order."""
        if hasattr(self, "coef_"):
            self._check_blocks_as_fitted(X)
        else:
            _get_feature_names(_inputs.named_like(X))  # before the work
        names = getattr(self, "feature_names_in_", None)
        traveller = copy.copy(self)
        traveller.__dict__.pop("feature_names_in_", None)  # the blocks are NumPy arrays
        fitted = _inputs.partial_fit_blocks(traveller, X, y, sample_weight)
        self.__dict__.update(fitted.__dict__)
        if names is None:
            _check_feature_names(self, _inputs.named_like(X), reset=True)
        else:
            self.feature_names_in_ = names
        return self

    def _run(
        self,
        X,
        y,
        X_given,
        append,
        optimizer,
        coef_init,
        intercept_init,
        sample_weight,
        **overrides,
    ):
        """Run fastgd's fit with this estimator's parameters (and ``overrides``) and
        store what it returns; on Ctrl-C, store what it got to and re-raise. ``X_given``
        is X as the caller gave it (its column names are recorded)."""
        options = {name: getattr(self, name) for name in FIT_PARAMETERS}
        spec = FitSpec(**{**options, **overrides})
        try:
            result, optimizer = fit_resumable(
                X,
                y,
                spec,
                coef_init=coef_init,
                intercept_init=intercept_init,
                sample_weight=sample_weight,
                optimizer=optimizer,
            )
        except FitInterrupted as interrupted:
            self._store(interrupted.result, None, X_given, append)
            raise
        self._store(result, optimizer, X_given, append)

    def _store(self, result, optimizer, X_given, append):
        """Set the fitted attributes from a FitResult (appending the history of a
        partial_fit to that of the previous calls)."""
        history = result.history
        if append:
            history = {
                name: np.concatenate([self.history_[name], values])
                for name, values in history.items()
            }
        self.coef_ = result.coef
        self.intercept_ = result.intercept
        self.n_iter_ = (self.n_iter_ if append else 0) + result.n_iter
        self.history_ = history
        self.loss_curve_ = history["loss"]
        self.lr_ = result.lr
        self.converged_ = result.converged
        self.backend_ = result.backend
        self.solver_ = result.solver
        self.method_ = result.method
        self.error_bound_ = result.error_bound
        self.stopped_ = result.stopped
        # The optimiser state that partial_fit resumes from (None after an interrupt
        # or a CG / FISTA fit: the next partial_fit starts from the coefficients
        # reached, with a new one).
        self._optimizer = optimizer
        self.t_ = optimizer.n_updates if optimizer is not None else result.n_iter
        # n_features_in_ and feature_names_in_ as scikit-learn's validate_data(reset=True)
        # sets them, after the fit: a fit that fails leaves those of the previous one.
        _check_feature_names(self, _inputs.named_like(X_given), reset=True)
        self.n_features_in_ = result.coef.shape[-1]

    def save(self, path, extra=None):
        """Write the fitted model to one file that :func:`fastgd.load` reads back.

        No pickle: the parameters, the fitted attributes and the feature names are
        JSON, the arrays ``.npy``, in one ZIP archive, and loading runs no code from
        the file. ``predict`` of the loaded model equals this one's bit for bit.
        The file is written to a temporary name and renamed: an interrupted save
        leaves no half-written model.

        Parameters
        ----------
        path : str or os.PathLike
            The file to write (replaced if it exists).
        extra : dict, optional
            Your own metadata, stored as JSON (numbers, strings, lists, dicts).

        Raises
        ------
        NotFittedError
            Before ``fit``.
        ValueError
            With a ``callback`` or a ``random_state`` generator (code and objects are
            never stored: set them to None or an int), or ``extra`` that is not JSON.

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np
        >>> import fastgd
        >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [2.0, 1.0]])
        >>> model = fastgd.GDRegressor(tol=1e-10).fit(X, X @ [2.0, -1.0] + 0.5)
        >>> path = os.path.join(tempfile.mkdtemp(), "model.fastgd")
        >>> model.save(path)
        >>> loaded = fastgd.load(path)
        >>> bool((loaded.predict(X) == model.predict(X)).all())
        True
        """
        self._check_fitted()
        _persist.save(self, path, extra=extra)
