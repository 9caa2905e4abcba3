"""Keep what the libraries the bench runs say out of its output, while it runs only.

Dask's and pandas' deprecations (dask-ml sets a Dask option Dask has renamed, for
one), distributed's "Sending large graph" (the bench persists NumPy arrays on its
own cluster, on purpose) and distributed's logging below errors tell a user of
``fastgd bench`` nothing they can act on, and they fill the terminal between the
progress bar and the tables. ``quiet_dependencies`` turns them off for the run:
warnings filters in a ``warnings.catch_warnings`` block and the levels of
distributed's loggers, all restored when it ends. Importing fastgd changes no
filter and no logger; fastgd's own warnings (``ConvergenceWarning``) still show.
"""

import contextlib
import logging
import warnings

# Every deprecation, whoever raises it: fastgd raises none, so all of them come from
# the libraries the contenders run (pandas' own classes derive from these).
DEPRECATIONS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)
# Any warning Dask, distributed or dask-ml attribute to their own modules.
NOISY_MODULES = r"(dask|distributed|dask_ml|dask_glm)(\.|$)"
# distributed configures these (each with its own handler) when it is imported.
NOISY_LOGGERS = ("distributed", "bokeh", "tornado")

_active = []  # the quieting function of the run in progress, if any


def _is_noisy(name):
    return any(name == root or name.startswith(root + ".") for root in NOISY_LOGGERS)


@contextlib.contextmanager
def quiet_dependencies():
    """Within the block: no deprecation of any library, no warning of Dask's or
    distributed's modules, distributed's loggers at ERROR. Everything is restored
    when it ends.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     with quiet_dependencies():
    ...         warnings.warn("renamed", FutureWarning)
    ...     warnings.warn("renamed", FutureWarning)
    >>> len(caught)
    1
    """
    levels = {}

    def quiet_loggers():
        for name, logger in list(logging.root.manager.loggerDict.items()):
            if isinstance(logger, logging.Logger) and _is_noisy(name) and name not in levels:
                levels[name] = logger.level
                logger.setLevel(max(logger.level, logging.ERROR))

    with warnings.catch_warnings():
        for category in DEPRECATIONS:
            warnings.filterwarnings("ignore", category=category)
        warnings.filterwarnings("ignore", module=NOISY_MODULES)
        quiet_loggers()
        _active.append(quiet_loggers)
        try:
            yield
        finally:
            _active.remove(quiet_loggers)
            for name, level in levels.items():
                logging.getLogger(name).setLevel(level)


def loggers_configured():
    """Quiet the loggers a library just configured (``probes.dask_client`` calls it
    once distributed is imported: its import sets their levels), if a run is in
    progress."""
    for quiet_loggers in _active:
        quiet_loggers()


def quiet_worker():
    """In a worker process of the bench's own cluster (``client.run``): no
    deprecations, no Dask warnings (its logging is the cluster's ``silence_logs``)."""
    for category in DEPRECATIONS:
        warnings.filterwarnings("ignore", category=category)
    warnings.filterwarnings("ignore", module=NOISY_MODULES)
