"""The backends: which exist, how to load them, and one calling convention for all.

Every backend offers the same two operations on validated, cast arrays (see
``_numba_kernels.py`` for the shapes):

* ``gradient(X, Y, W, b, x_is_f, n_threads, sample_weight) -> (grad_W, grad_b,
  loss)``, gradients in float64;
* ``fit(X, Y, W, b, x_is_f, lr, max_iter, tol, ref_grad_norm2, fit_intercept,
  n_threads, l1, l2, n_penalized, momentum, nesterov) -> (n_iter, status,
  loss_history)``, updating ``W`` and ``b`` in place (l1, l2: penalty weights on the
  first n_penalized columns; momentum, nesterov: as torch.optim.SGD; sample_weight:
  None or (N,) in X's dtype).

The compiled backends are loaded on first use, so ``import fastgd`` neither imports
nor compiles Numba.
"""

import importlib
import importlib.util
import threading

import numpy as np

from . import _reference

# Rows per block of the compiled kernels: the unit of float32 accumulation (see
# _numba_kernels.py). 256 rows of a few hundred features stay in L2 for the second
# sweep of the Fortran-order kernel.
BLOCK_ROWS = 256
# Rows are grouped into at most this many chunks, the unit of parallel work, each
# with its own float64 partial sums. Chunk sizes depend on N alone, never on the
# thread count: that is what makes results identical for every thread count.
MAX_CHUNKS = 256
# Below this many multiply-adds per gradient (N * D * K), starting threads costs
# more than it saves: the kernels take their serial path.
PARALLEL_MIN_WORK = 1 << 17

BACKENDS = ("numba", "cython", "numpy")
# backend="auto" takes the first available of these. Cython comes first: it is
# compiled ahead of time, so the first fit in a process pays no JIT compilation.
AUTO_ORDER = ("cython", "numba", "numpy")

_MODULES = {"numba": "fastgd._numba_kernels", "cython": "fastgd._cython_kernels"}
_HOW_TO_GET = {
    "numba": "install it with `pip install numba`",
    "cython": (
        "it is built when fastgd is installed from source with a C compiler present: "
        "reinstall with `pip install --force-reinstall --no-cache-dir -e .` and read "
        "the build log for the error"
    ),
}


class NumpyBackend:
    """The plain NumPy reference (``_reference.py``): oracle and fallback."""

    name = "numpy"

    def gradient(self, X, Y, W, b, x_is_f, n_threads=None, sample_weight=None):
        return _reference.gradient(X, Y, W, b, sample_weight)

    def fit(self, X, Y, W, b, x_is_f, lr, max_iter, tol, ref_grad_norm2, fit_intercept,
            n_threads=None, l1=0.0, l2=0.0, n_penalized=None, momentum=0.0, nesterov=False,
            sample_weight=None):
        return _reference.fit(X, Y, W, b, lr, max_iter, tol, fit_intercept, ref_grad_norm2,
                              l1, l2, n_penalized, momentum, nesterov, sample_weight)


class CompiledBackend:
    """A kernel module (Numba or Cython) behind the common calling convention.

    This is the only place that allocates the kernels' outputs and scratch, and
    that decides how many threads they use.
    """

    def __init__(self, name, kernels):
        self.name = name
        self.kernels = kernels
        # gradient() is called in users' loops: its workspace is kept for the next
        # call of the same shape, per thread (threads must not share scratch).
        self._cache = threading.local()

    def threads_for(self, X, n_targets, n_threads):
        """Threads to use: 1 for tiny problems, else n_threads (None = all allowed)."""
        n_samples, n_features = X.shape
        if n_samples * n_features * n_targets < PARALLEL_MIN_WORK:
            return 1
        n_chunks = -(-n_samples // self.chunk_rows(n_samples))
        available = self.kernels.max_threads()
        wanted = available if n_threads is None else min(n_threads, available)
        return max(1, min(wanted, n_chunks))

    @staticmethod
    def chunk_rows(n_samples):
        n_blocks = -(-n_samples // BLOCK_ROWS)
        return BLOCK_ROWS * -(-n_blocks // MAX_CHUNKS)

    def _kernel(self, name, dtype):
        # Cython: the specialization for this dtype, skipping the fused dispatch.
        return getattr(self.kernels, name)["float" if dtype == np.float32 else "double"]

    def _workspace(self, X, n_targets, n_threads):
        n_samples, n_features = X.shape
        chunk_rows = self.chunk_rows(n_samples)
        n_chunks = -(-n_samples // chunk_rows)
        block_rows = min(BLOCK_ROWS, n_samples)
        return (
            chunk_rows,
            self.threads_for(X, n_targets, n_threads),
            np.empty((n_targets, n_features), dtype=np.float64),  # grad_W
            np.empty(n_targets, dtype=np.float64),  # grad_b
            np.empty((n_chunks, n_targets, n_features), dtype=np.float64),  # chunk_W
            np.empty((n_chunks, n_targets), dtype=np.float64),  # chunk_b
            np.empty(n_chunks, dtype=np.float64),  # chunk_sq
            np.empty((n_chunks, n_targets, n_features), dtype=X.dtype),  # block_W
            np.empty((n_chunks, n_targets), dtype=X.dtype),  # block_b
            np.empty((n_chunks, n_targets, block_rows), dtype=X.dtype),  # resid
        )

    def _call(self, kernel, threads, *args):
        # Cython's prange takes the thread count as an argument (in args).
        return kernel(*args)

    @staticmethod
    def _weights(X, sample_weight):
        """The kernels' (weights, total_weight): an empty array means unweighted."""
        if sample_weight is None:
            return np.empty(0, dtype=X.dtype), float(X.shape[0])
        return sample_weight, float(np.sum(sample_weight, dtype=np.float64))

    def gradient(self, X, Y, W, b, x_is_f, n_threads=None, sample_weight=None):
        """The returned grad_W and grad_b are overwritten by this thread's next call
        with the same shapes: copy them to keep them."""
        key = (X.shape, X.dtype, W.shape[0], n_threads)
        cached = getattr(self._cache, "gradient", None)
        if cached is None or cached[0] != key:
            kernel = self._kernel("gradient", X.dtype)
            cached = self._cache.gradient = (key, kernel, self._workspace(X, W.shape[0], n_threads))
        _, kernel, work = cached
        weights, total_weight = self._weights(X, sample_weight)
        loss = self._call(kernel, work[1], X, Y, W, b, weights, total_weight, x_is_f, *work)
        return work[2], work[3], loss

    def fit(self, X, Y, W, b, x_is_f, lr, max_iter, tol, ref_grad_norm2, fit_intercept,
            n_threads=None, l1=0.0, l2=0.0, n_penalized=None, momentum=0.0, nesterov=False,
            sample_weight=None):
        loss_history = np.empty(max_iter, dtype=np.float64)
        weights, total_weight = self._weights(X, sample_weight)
        chunk_rows, threads, *buffers = self._workspace(X, W.shape[0], n_threads)
        n_penalized = W.shape[1] if n_penalized is None else n_penalized
        velocity_W = np.zeros(W.shape)  # momentum state, float64
        velocity_b = np.zeros((W.shape[0], 1))
        n_iter, status = self._call(
            self._kernel("fit", X.dtype), threads, X, Y, W, b, weights, total_weight, x_is_f,
            chunk_rows, threads,
            lr, tol, ref_grad_norm2, fit_intercept, l1, l2, n_penalized, momentum, nesterov,
            velocity_W, velocity_b, loss_history, *buffers
        )
        return n_iter, status, loss_history[:n_iter]


class NumbaBackend(CompiledBackend):
    """Numba's prange uses the calling thread's numba.set_num_threads setting: set it
    for the call and restore it (a jitted set_num_threads would stop Numba from
    caching the kernel)."""

    def _kernel(self, name, dtype):
        return getattr(self.kernels, name)  # one dispatcher, specialized on first call

    def _call(self, kernel, threads, *args):
        import numba

        if threads <= 1:
            return kernel(*args)
        before = numba.get_num_threads()
        numba.set_num_threads(threads)
        try:
            return kernel(*args)
        finally:
            numba.set_num_threads(before)


_loaded = {"numpy": NumpyBackend()}


def _is_installed(name):
    return name in _loaded or importlib.util.find_spec(_MODULES[name]) is not None


def available_backends():
    """Names of the backends installed here, fastest first.

    Finding a backend does not import it: Numba is only imported (and its kernels
    compiled, or loaded from its cache) the first time the numba backend runs.

    Returns
    -------
    tuple of str
        A subset of ``("cython", "numba", "numpy")``; ``"numpy"`` is always there.

    Examples
    --------
    >>> import fastgd
    >>> "numpy" in fastgd.available_backends()
    True
    """
    return tuple(name for name in AUTO_ORDER if _is_installed(name))


def get_backend(name):
    """Return the loaded backend called ``name`` (already validated), loading it once.

    ``"auto"`` resolves to the first installed backend of ``AUTO_ORDER``. A backend
    that is asked for by name but is not installed raises an ImportError that says
    how to get it.
    """
    if name == "auto":
        name = available_backends()[0]
    backend = _loaded.get(name)
    if backend is None:
        try:
            kernels = importlib.import_module(_MODULES[name])
        except ImportError as exc:
            raise ImportError(
                f"backend={name!r} is not available ({exc}); {_HOW_TO_GET[name]}. "
                f"Installed backends: {available_backends()}."
            ) from exc
        backend_class = NumbaBackend if name == "numba" else CompiledBackend
        backend = _loaded[name] = backend_class(name, kernels)
    return backend
