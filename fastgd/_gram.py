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
# N * m^2 (the ratio of a compression's time to a streaming pass's, measured by
# fastgd bench's Gram rows; see docs/changelog.md for the figures).
COMPRESS_COST = 0.4
# Largest m = D + 1 + K for which the m x m factor and its iterations are worth it.
MAX_GRAM_SIZE = 4096
# The direct solve takes the Cholesky factor of the Gram matrix when the pass costs at
# least this many multiply-adds (N m^2; below, Householder QR costs under a
# millisecond, and its factor is the more accurate start) ...
GRAM_MIN_WORK = 1 << 22
# ... and when every column's sum of squares is well inside float64's range (the Gram
# matrix's products would otherwise overflow, or lose bits to underflow).
GRAM_SAFE_MIN, GRAM_SAFE_MAX = 2.0**-900, 2.0**900
EPS = np.finfo(np.float64).eps


def gamma(n):
    """Higham's gamma_n = n eps / (1 - n eps): the worst-case relative rounding of n
    sequential operations."""
    return n * EPS / (1 - n * EPS)


def gram_factor_error(chain, n_columns):
    """The backward error of ``factor_of_gram``'s factor R of a Gram matrix whose
    entries are sums of products in which a term's rounding passes through at most
    ``chain`` operations (a summation tree of that depth): ``R.T @ R = Z.T S Z + E`` with
    ``|E_jl| <= error ||z_j|| ||z_l||`` (the weighted columns' norms). The sums' rounding
    is within gamma(chain + 2) |z_j|.|z_l| (Higham, Accuracy and Stability, 3.5; two
    operations more for a row's weight, or the held intercept), Cholesky's within
    gamma(p + 1) |R.T| |R| (Theorem 10.3), whose entries are at most sqrt(G_jj G_ll)."""
    sums = gamma(chain + 4)
    return sums + gamma(n_columns + 1) * (1 + sums)


def householder_factor_error(n_samples, n_columns, panel_rows):
    """The same backward error for Householder QR's factor (``compress``, and the
    blocks' factors merged): each stage (a panel of ``panel_rows`` rows stacked under
    the factor so far, or two factors merged) perturbs each column by at most
    gamma(2 (P + m) m) of its norm (Higham, Theorem 19.4, its constant taken as 2), and
    a column's path has at most two stages per panel; ``R.T R`` then differs from
    ``Z.T S Z`` by at most (2 g + g^2) ||z_j|| ||z_l||."""
    stages = 2 * -(-max(n_samples, 1) // panel_rows) + 1
    g = stages * gamma(2 * (panel_rows + n_columns) * n_columns)
    return 2 * g + g * g


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
    gram = (
        COMPRESS_COST * n_samples * m * m
        + stream_pass
        + max_iter * m * (n_features + 1) * n_targets
    )
    return "gram" if gram < max_iter * stream_pass else "stream"


def factor_of_gram(G, n_targets):
    """An upper-triangular ``R`` (up to its last K rows) with ``R.T @ R = G``, the Gram
    matrix of the augmented data, from the Cholesky factorization of the features'
    block: ``R11 = chol(G11).T``, ``R12 = R11^-T G12``, and last rows of the Schur
    complement ``G22 - R12.T R12`` (its eigenvalues below 0, rounding, set to 0: R22
    serves only the targets' norms). None when it is not usable: a column's sum of
    squares outside (GRAM_SAFE_MIN, GRAM_SAFE_MAX), or G11 not numerically positive
    definite (a column dependent on others, a constant one beside the intercept):
    Householder QR is then the factor. Its error is about cond(G11) eps relative,
    where Householder's is sqrt(cond(G11)) eps: for the direct solve, whose
    refinement removes it, at half the work."""
    m = G.shape[0]
    p = m - n_targets
    squares = np.diagonal(G)
    if not np.isfinite(G).all() or np.any(
        (squares != 0) & ((squares < GRAM_SAFE_MIN) | (squares > GRAM_SAFE_MAX))
    ):
        return None
    try:
        L = np.linalg.cholesky(G[:p, :p])
    except np.linalg.LinAlgError:
        return None
    R = np.zeros((m, m))
    R[:p, :p] = L.T
    R[:p, p:] = np.linalg.solve(L, G[:p, p:])
    schur = G[p:, p:] - R[:p, p:].T @ R[:p, p:]
    values, vectors = np.linalg.eigh((schur + schur.T) / 2)
    R[p:, p:] = np.sqrt(np.maximum(values, 0.0))[:, None] * vectors.T
    return R if np.isfinite(R).all() else None


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
