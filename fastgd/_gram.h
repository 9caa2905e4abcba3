/* A tile of the Gram matrix: the Cython kernels' _gram_tile (_cython_kernels.pyx),
 * the Numba kernel's _gram_tile intrinsic in C.
 *
 * NumPy: G[a:a + TA, b:b + TB] += P[:n, a:a + TA].T @ P[:n, b:b + TB], P row-major
 * with `columns` doubles a row and G with `g_columns`; TA = FASTGD_GRAM_TILE_ROWS,
 * TB = 8 * n_vectors, n_vectors from 1 to FASTGD_GRAM_TILE_VECTORS. While its rows
 * stream through, the tile asks for the n_ahead cache lines from `ahead` on, one a
 * row: the next panel's rows, trickled among the multiply-adds, so that their misses
 * overlap the arithmetic (a gather that waits on them, or a burst of hints that fills
 * the core's miss buffers, does not). No effect on any result.
 *
 * Every entry is summed over the rows in order, each term one fused multiply-add
 * (fma(P[i, a + r], P[i, b + l], sum)): so the bits are the same whatever the vector
 * width (8 doubles in one AVX-512 register, 4 in each of two AVX2 ones, or scalar
 * fma() without either), and the same as the Numba kernel's. The sums stay in vector
 * registers while the rows stream through them; GCC, left to loops, spilled them and
 * shuffled its vectors (2.0 GMAC/s here, against 11 for these intrinsics).
 */
#ifndef FASTGD_GRAM_H
#define FASTGD_GRAM_H

#include <math.h>
#include <stddef.h>

#include "_prefetch.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#define FASTGD_GRAM_TILE_ROWS 8
/* A tile takes up to 3 vectors of columns: 24 sums in registers, each of a row's 8
 * values loaded once for 3 vectors' multiply-adds. (A tile of one vector loads 9 values
 * for 8 multiply-adds, and its 8 independent sums barely cover the latency of two
 * multiply-add units: see the changelog for what each gives.) */
#define FASTGD_GRAM_TILE_VECTORS 3

#if defined(__GNUC__) || defined(__clang__)
#define FASTGD_GRAM_INLINE __attribute__((always_inline)) static inline
#else
#define FASTGD_GRAM_INLINE static inline
#endif

FASTGD_GRAM_INLINE void fastgd_gram_tile_of(
    const double *P, ptrdiff_t columns, ptrdiff_t n, ptrdiff_t a, ptrdiff_t b,
    const int n_vectors, double *G, ptrdiff_t g_columns, const char *ahead,
    ptrdiff_t n_ahead) {
    /* n_vectors a constant where this is inlined: the loops over r and v unrolled, the
     * sums in registers */
    __m512d sums[8][FASTGD_GRAM_TILE_VECTORS];
    for (int r = 0; r < 8; r++)
        for (int v = 0; v < n_vectors; v++) sums[r][v] = _mm512_setzero_pd();
    for (ptrdiff_t i = 0; i < n; i++) {
        if (i < n_ahead)
            FASTGD_PREFETCH_LINE(ahead + 64 * i);
        const double *row = P + i * columns;
        __m512d z[FASTGD_GRAM_TILE_VECTORS];
        for (int v = 0; v < n_vectors; v++) z[v] = _mm512_loadu_pd(row + b + 8 * v);
        for (int r = 0; r < 8; r++) {
            __m512d x = _mm512_set1_pd(row[a + r]);
            for (int v = 0; v < n_vectors; v++)
                sums[r][v] = _mm512_fmadd_pd(x, z[v], sums[r][v]);
        }
    }
    for (int r = 0; r < 8; r++)
        for (int v = 0; v < n_vectors; v++) {
            double *target = G + (a + r) * g_columns + b + 8 * v;
            _mm512_storeu_pd(target, _mm512_add_pd(_mm512_loadu_pd(target), sums[r][v]));
        }
}

static inline void fastgd_gram_tile(const double *P, ptrdiff_t columns, ptrdiff_t n,
                                    ptrdiff_t a, ptrdiff_t b, ptrdiff_t n_vectors,
                                    double *G, ptrdiff_t g_columns, const char *ahead,
                                    ptrdiff_t n_ahead) {
    if (n_vectors == 3)
        fastgd_gram_tile_of(P, columns, n, a, b, 3, G, g_columns, ahead, n_ahead);
    else if (n_vectors == 2)
        fastgd_gram_tile_of(P, columns, n, a, b, 2, G, g_columns, ahead, n_ahead);
    else
        fastgd_gram_tile_of(P, columns, n, a, b, 1, G, g_columns, ahead, n_ahead);
}

#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define FASTGD_GRAM_TILE_ROWS 4
#define FASTGD_GRAM_TILE_VECTORS 1 /* (8 sums in 16 registers) */

static inline void fastgd_gram_tile(const double *P, ptrdiff_t columns, ptrdiff_t n,
                                    ptrdiff_t a, ptrdiff_t b, ptrdiff_t n_vectors,
                                    double *G, ptrdiff_t g_columns, const char *ahead,
                                    ptrdiff_t n_ahead) {
    (void)n_vectors; /* always 1: FASTGD_GRAM_TILE_VECTORS */
    __m256d l0 = _mm256_setzero_pd(), h0 = l0, l1 = l0, h1 = l0, l2 = l0, h2 = l0,
            l3 = l0, h3 = l0;
    for (ptrdiff_t i = 0; i < n; i++) {
        if (i < n_ahead)
            FASTGD_PREFETCH_LINE(ahead + 64 * i);
        const double *row = P + i * columns;
        __m256d zl = _mm256_loadu_pd(row + b), zh = _mm256_loadu_pd(row + b + 4);
        __m256d z0 = _mm256_set1_pd(row[a]), z1 = _mm256_set1_pd(row[a + 1]),
                z2 = _mm256_set1_pd(row[a + 2]), z3 = _mm256_set1_pd(row[a + 3]);
        l0 = _mm256_fmadd_pd(z0, zl, l0);
        h0 = _mm256_fmadd_pd(z0, zh, h0);
        l1 = _mm256_fmadd_pd(z1, zl, l1);
        h1 = _mm256_fmadd_pd(z1, zh, h1);
        l2 = _mm256_fmadd_pd(z2, zl, l2);
        h2 = _mm256_fmadd_pd(z2, zh, h2);
        l3 = _mm256_fmadd_pd(z3, zl, l3);
        h3 = _mm256_fmadd_pd(z3, zh, h3);
    }
    __m256d lows[4] = {l0, l1, l2, l3}, highs[4] = {h0, h1, h2, h3};
    for (int r = 0; r < 4; r++) {
        double *target = G + (a + r) * g_columns + b;
        _mm256_storeu_pd(target, _mm256_add_pd(_mm256_loadu_pd(target), lows[r]));
        _mm256_storeu_pd(target + 4, _mm256_add_pd(_mm256_loadu_pd(target + 4), highs[r]));
    }
}

#else /* the same sums, with scalar fma() */
#define FASTGD_GRAM_TILE_ROWS 4
#define FASTGD_GRAM_TILE_VECTORS 1

static inline void fastgd_gram_tile(const double *P, ptrdiff_t columns, ptrdiff_t n,
                                    ptrdiff_t a, ptrdiff_t b, ptrdiff_t n_vectors,
                                    double *G, ptrdiff_t g_columns, const char *ahead,
                                    ptrdiff_t n_ahead) {
    (void)n_vectors; /* always 1: FASTGD_GRAM_TILE_VECTORS */
    double sums[4][8] = {{0}};
    for (ptrdiff_t i = 0; i < n; i++) {
        if (i < n_ahead)
            FASTGD_PREFETCH_LINE(ahead + 64 * i);
        const double *row = P + i * columns;
        for (int r = 0; r < 4; r++)
            for (int l = 0; l < 8; l++)
                sums[r][l] = fma(row[a + r], row[b + l], sums[r][l]);
    }
    for (int r = 0; r < 4; r++)
        for (int l = 0; l < 8; l++)
            G[(a + r) * g_columns + b + l] += sums[r][l];
}

#endif
#endif
