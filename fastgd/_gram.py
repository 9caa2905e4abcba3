"""The Gram solver: one pass over X, then every iteration in O((D + K)^2 K).

For least squares, the loss and the gradient depend on the data only through the
Gram matrix of ``Z = [X, 1, Y]`` (without the column of ones when the intercept is
not fitted, and with Y - b when it is held fixed)::

    G = Z.T @ Z                      # (m, m), m = D + 1 + K
    R = X @ W.T + b - Y = Z @ M      # M = [W.T; b; -I]
    L = ||Z M||^2 / (2N) = trace(M.T G M) / (2N)
    G_W, g_b = (Z.T Z M)[:D+1] / N = (G M)[:D+1] / N

So any ``S`` with ``S.T @ S = G`` defines a problem with m rows instead of N and the
same loss and gradient at every point: with ``c = sqrt(m / N)`` (the kernels divide
by their own number of rows), ``X_small = c S[:, :p]`` and ``Y_small = c S[:, p:]``,
where p = D + 1 (the intercept becomes an ordinary coefficient) or D. The streaming
kernels then run the same iterations on it; only rounding differs. ``S`` comes from
the eigendecomposition ``G = V diag(e) V.T`` as ``diag(sqrt(e)) V.T``, which exists
even when Z is rank-deficient (a constant feature beside the intercept, say).

Forming G squares the condition number, as the normal equations do: in float64 the
Gram iterates match the streaming ones to about 1e-10 on reasonably conditioned
data (tests/test_gram.py). G is always accumulated in float64, a row chunk at a time
(BLAS on a cache-sized copy), whatever X's dtype.
"""

import numpy as np

# Cost model for solver="auto", in units of one multiply-add of the memory-bound
# streaming kernel. BLAS forms Z.T @ Z from cache-sized chunks about this many times
# faster per multiply-add than the streaming pass reads X (measured on AVX-512:
# benches/, "gram" rows).
BLAS_SPEEDUP = 8.0
# Largest m = D + 1 + K for which G (m^2 float64) and its eigendecomposition (m^3)
# are worth it.
MAX_GRAM_SIZE = 4096


def choose_solver(n_samples, n_features, n_targets, max_iter):
    """``solver="auto"``: "gram" if its estimated cost is lower than streaming.

    stream: max_iter passes over X, ``max_iter * N * D * K`` multiply-adds.
    gram:   one pass forming G, ``N * m^2 / 2 / BLAS_SPEEDUP``, its
            eigendecomposition ``m^3``, and ``max_iter * m * (D + 1) * K`` for the
            iterations on the compressed problem (m = D + 1 + K).
    Gram also needs N > m (else there is nothing to compress) and m <= 4096.
    """
    m = n_features + 1 + n_targets
    if n_samples <= m or m > MAX_GRAM_SIZE:
        return "stream"
    stream = max_iter * n_samples * n_features * n_targets
    gram = n_samples * m * m / 2 / BLAS_SPEEDUP + m**3 + max_iter * m * (n_features + 1) * n_targets
    return "gram" if gram < stream else "stream"


def gram_matrix(X, Y, b, fit_intercept, sample_weight=None, chunk_bytes=8 << 20):
    """``G = Z.T @ diag(s) @ Z`` in float64, in one pass over X (module docstring;
    s = sample_weight, or 1).

    ``b`` is the intercept, used only when it is held fixed (not fitted).
    """
    n_samples, n_features = X.shape
    n_targets = Y.shape[1]
    p = n_features + 1 if fit_intercept else n_features
    m = p + n_targets
    G = np.zeros((m, m))
    rows = max(256, chunk_bytes // (8 * m))
    Z = np.empty((min(rows, n_samples), m))
    for start in range(0, n_samples, rows):
        stop = min(start + rows, n_samples)
        Zc = Z[: stop - start]
        # Zc = [X[start:stop], 1, Y[start:stop]] (or [X, Y - b] with a fixed b)
        Zc[:, :n_features] = X[start:stop]
        if fit_intercept:
            Zc[:, n_features] = 1.0
            Zc[:, p:] = Y[start:stop]
        else:
            Zc[:, p:] = Y[start:stop] - b.astype(np.float64)
        if sample_weight is not None:  # rows scaled by sqrt(s): Zc.T Zc = Z.T diag(s) Z
            Zc *= np.sqrt(sample_weight[start:stop].astype(np.float64))[:, None]
        with np.errstate(invalid="ignore", over="ignore"):  # NaN or inf: the caller names it
            G += Zc.T @ Zc
    return G


def gram_problem(G, total_weight, n_targets):
    """Return ``(X_small, Y_small)``, float64 C-contiguous, of shapes (m, p) and
    (m, K), whose loss and gradient equal those of the N-row problem behind G
    (``total_weight``: N, or the sum of the sample weights)."""
    m = G.shape[0]
    p = m - n_targets
    eigenvalues, V = np.linalg.eigh(G)
    S = np.sqrt(np.clip(eigenvalues, 0.0, None))[:, None] * V.T  # S.T @ S == G
    S *= np.sqrt(m / total_weight)
    return np.ascontiguousarray(S[:, :p]), np.ascontiguousarray(S[:, p:])
