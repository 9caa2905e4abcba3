/* A tile of the Gram matrix: the Cython kernels' _gram_tile (_cython_kernels.pyx),
 * the Numba kernel's _gram_tile intrinsic in C.
 *
 * NumPy: G[a:a + TA, b:b + 8] += P[:n, a:a + TA].T @ P[:n, b:b + 8], P row-major with
 * `columns` doubles a row and G with `g_columns`; TA = FASTGD_GRAM_TILE_ROWS.
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

#if defined(__AVX512F__)
#include <immintrin.h>
#define FASTGD_GRAM_TILE_ROWS 8

static inline void fastgd_gram_tile(const double *P, ptrdiff_t columns, ptrdiff_t n,
                                    ptrdiff_t a, ptrdiff_t b, double *G,
                                    ptrdiff_t g_columns) {
    __m512d s0 = _mm512_setzero_pd(), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0,
            s6 = s0, s7 = s0;
    for (ptrdiff_t i = 0; i < n; i++) {
        const double *row = P + i * columns;
        __m512d z = _mm512_loadu_pd(row + b);
        s0 = _mm512_fmadd_pd(_mm512_set1_pd(row[a]), z, s0);
        s1 = _mm512_fmadd_pd(_mm512_set1_pd(row[a + 1]), z, s1);
        s2 = _mm512_fmadd_pd(_mm512_set1_pd(row[a + 2]), z, s2);
        s3 = _mm512_fmadd_pd(_mm512_set1_pd(row[a + 3]), z, s3);
        s4 = _mm512_fmadd_pd(_mm512_set1_pd(row[a + 4]), z, s4);
        s5 = _mm512_fmadd_pd(_mm512_set1_pd(row[a + 5]), z, s5);
        s6 = _mm512_fmadd_pd(_mm512_set1_pd(row[a + 6]), z, s6);
        s7 = _mm512_fmadd_pd(_mm512_set1_pd(row[a + 7]), z, s7);
    }
    __m512d sums[8] = {s0, s1, s2, s3, s4, s5, s6, s7};
    for (int r = 0; r < 8; r++) {
        double *target = G + (a + r) * g_columns + b;
        _mm512_storeu_pd(target, _mm512_add_pd(_mm512_loadu_pd(target), sums[r]));
    }
}

#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define FASTGD_GRAM_TILE_ROWS 4

static inline void fastgd_gram_tile(const double *P, ptrdiff_t columns, ptrdiff_t n,
                                    ptrdiff_t a, ptrdiff_t b, double *G,
                                    ptrdiff_t g_columns) {
    __m256d l0 = _mm256_setzero_pd(), h0 = l0, l1 = l0, h1 = l0, l2 = l0, h2 = l0,
            l3 = l0, h3 = l0;
    for (ptrdiff_t i = 0; i < n; i++) {
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

static inline void fastgd_gram_tile(const double *P, ptrdiff_t columns, ptrdiff_t n,
                                    ptrdiff_t a, ptrdiff_t b, double *G,
                                    ptrdiff_t g_columns) {
    double sums[4][8] = {{0}};
    for (ptrdiff_t i = 0; i < n; i++) {
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
