"""The Gram solver: one pass over X, then every iteration in O((D + K)^2 K).

For least squares, the loss and the gradient depend on the data only through the
Gram matrix of ``Z = [X, 1, Y]`` (rows scaled by the square roots of the sample
weights; without the column of ones when the intercept is not fitted, and with
Y - b when it is held fixed)::

    G = Z.T @ Z                      # (m, m), m = D + 1 + K
    R = X @ W.T + b - Y = Z @ M      # M = [W.T; b; -I]
    L = ||Z M||^2 / (2N) = trace(M.T G M) / (2N)
    G_W, g_b = (Z.T Z M)[:D+1] / N = (G M)[:D+1] / N

So any ``S`` with ``S.T @ S = G`` defines a problem with m rows instead of N and the
same loss and gradient at every point: with ``c = sqrt(m / N)`` (the kernels divide
by their own number of rows), ``X_small = c S[:, :p]`` and ``Y_small = c S[:, p:]``,
where p = D + 1 (the intercept becomes an ordinary coefficient) or D. The iterations
then run on it; only rounding differs.

``S`` is the triangular factor R of the QR factorization of Z itself (``compress``
in every backend: Householder reflections, a panel of rows at a time, merged as in
tall-skinny QR), never a square root of a computed G. Householder QR is column-wise
backward stable: each column of R carries rounding relative to the norm of that
column of Z, so a y a million times larger than X, or nearly in the span of X
(R^2 close to 1), costs the coefficients nothing; and R^T R = Z^T Z holds without
squaring the condition number. (A square root of G from its eigendecomposition,
this solver's first version, has an absolute error of eps * ||G||, which ||y||^2
dominates: 5e-5 relative error on the coefficients at y x 1e6, over 100% at 1e9.)
R's last K x K block holds the least-squares residuals: its column norms are the
residual norms of each target, so the loss keeps its precision too. The factor is
formed in float64 whatever X's dtype. The diagonal of R is made non-negative here,
so that every backend's factor is the same matrix up to rounding.
"""

import numpy as np

# Cost model for solver="auto", in units of one multiply-add of the memory-bound
# streaming kernel: the compression costs about COMPRESS_COST of them per entry of
# N * m^2 (measured here: 1e6 x 34 in 0.1 s on two cores, a streaming pass over
# 1e6 x 32 in 8 ms).
COMPRESS_COST = 0.4
# Largest m = D + 1 + K for which the m x m factor and its iterations are worth it.
MAX_GRAM_SIZE = 4096


def choose_solver(n_samples, n_features, n_targets, max_iter):
    """``solver="auto"``: "gram" if its estimated cost is lower than streaming.

    stream: max_iter passes over X, ``max_iter * N * D * K`` multiply-adds.
    gram:   one pass compressing the data, ``COMPRESS_COST * N * m^2``, one
            streaming pass for the certificate of convergence, and ``max_iter * m *
            (D + 1) * K`` for the iterations on the compressed problem (m = D + 1 + K).
    Gram also needs N > m (else there is nothing to compress) and m <= 4096.
    """
    m = n_features + 1 + n_targets
    if n_samples <= m or m > MAX_GRAM_SIZE:
        return "stream"
    stream_pass = n_samples * n_features * n_targets
    gram = (COMPRESS_COST * n_samples * m * m + stream_pass
            + max_iter * m * (n_features + 1) * n_targets)
    return "gram" if gram < max_iter * stream_pass else "stream"


def compressed_problem(R, total_weight, n_targets):
    """Return ``(X_small, Y_small)``, float64 C-contiguous, of shapes (m, p) and
    (m, K), whose loss and gradient equal those of the N-row problem that R
    compresses (``R.T @ R = Z.T @ diag(s) @ Z``; ``total_weight``: N, or the sum of
    the sample weights)."""
    m = R.shape[0]
    p = m - n_targets
    signs = np.where(np.diagonal(R) < 0, -1.0, 1.0)  # the same R from every backend
    S = R * (signs * np.sqrt(m / total_weight))[:, None]
    return np.ascontiguousarray(S[:, :p]), np.ascontiguousarray(S[:, p:])
