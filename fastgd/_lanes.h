/* Four rows' dot products at once, in explicit SIMD lanes: the tile of the Cython
 * kernels' fused pass (_cython_kernels.pyx, _accumulate_block_c).
 *
 * NumPy: out[:4] = np.stack([x0, x1, x2, x3]) @ w.
 *
 * Each row's sum is _dot's, bit for bit: 8 partial sums, partial sum l taking the
 * elements j = l (mod 8) of the first n - n % 8, the rest added to partial sum 0,
 * then ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)). Here the 8 partial sums are
 * the lanes of vectors (one of 8 floats, or two of 4 doubles: 32 bytes each, AVX),
 * and four rows make four independent chains of vector multiply-adds (not fused: the
 * kernels are built with -ffp-contract=off, see setup.py). One row alone is a
 * single chain that waits on its own additions at every step; and GCC, left to
 * itself, vectorized _dot's loop of 8 scalar sums with interleaving permutes.
 *
 * GCC and Clang vector extensions; any other compiler gets the same sums in plain
 * scalar loops (the same order, so the same bits; -DFASTGD_SCALAR_LANES forces them).
 */
#ifndef FASTGD_LANES_H
#define FASTGD_LANES_H

#include <stddef.h>
#include <string.h>

#if (defined(__GNUC__) || defined(__clang__)) && !defined(FASTGD_SCALAR_LANES)

typedef double fastgd_d4 __attribute__((vector_size(32)));
typedef float fastgd_f8 __attribute__((vector_size(32)));

static inline fastgd_d4 fastgd_load_d4(const double *p) {
    fastgd_d4 v;
    memcpy(&v, p, sizeof v); /* an unaligned load */
    return v;
}

static inline fastgd_f8 fastgd_load_f8(const float *p) {
    fastgd_f8 v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)), with a0 += the tail first */
static inline double fastgd_tree_d(fastgd_d4 lo, fastgd_d4 hi, const double *x,
                                   const double *w, ptrdiff_t n8, ptrdiff_t n) {
    double a0 = lo[0];
    for (ptrdiff_t j = n8; j < n; j++)
        a0 += x[j] * w[j];
    return ((a0 + lo[1]) + (lo[2] + lo[3])) + ((hi[0] + hi[1]) + (hi[2] + hi[3]));
}

static inline float fastgd_tree_f(fastgd_f8 a, const float *x, const float *w,
                                  ptrdiff_t n8, ptrdiff_t n) {
    float a0 = a[0];
    for (ptrdiff_t j = n8; j < n; j++)
        a0 += x[j] * w[j];
    return ((a0 + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

static inline void fastgd_dot4_d(const double *x0, const double *x1, const double *x2,
                                 const double *x3, const double *w, ptrdiff_t n,
                                 double *out) {
    fastgd_d4 l0 = {0}, h0 = {0}, l1 = {0}, h1 = {0}, l2 = {0}, h2 = {0}, l3 = {0},
              h3 = {0};
    ptrdiff_t n8 = n - n % 8;
    for (ptrdiff_t j = 0; j < n8; j += 8) {
        fastgd_d4 wl = fastgd_load_d4(w + j), wh = fastgd_load_d4(w + j + 4);
        l0 += fastgd_load_d4(x0 + j) * wl;
        h0 += fastgd_load_d4(x0 + j + 4) * wh;
        l1 += fastgd_load_d4(x1 + j) * wl;
        h1 += fastgd_load_d4(x1 + j + 4) * wh;
        l2 += fastgd_load_d4(x2 + j) * wl;
        h2 += fastgd_load_d4(x2 + j + 4) * wh;
        l3 += fastgd_load_d4(x3 + j) * wl;
        h3 += fastgd_load_d4(x3 + j + 4) * wh;
    }
    out[0] = fastgd_tree_d(l0, h0, x0, w, n8, n);
    out[1] = fastgd_tree_d(l1, h1, x1, w, n8, n);
    out[2] = fastgd_tree_d(l2, h2, x2, w, n8, n);
    out[3] = fastgd_tree_d(l3, h3, x3, w, n8, n);
}

static inline void fastgd_dot4_f(const float *x0, const float *x1, const float *x2,
                                 const float *x3, const float *w, ptrdiff_t n,
                                 float *out) {
    fastgd_f8 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    ptrdiff_t n8 = n - n % 8;
    for (ptrdiff_t j = 0; j < n8; j += 8) {
        fastgd_f8 wv = fastgd_load_f8(w + j);
        a0 += fastgd_load_f8(x0 + j) * wv;
        a1 += fastgd_load_f8(x1 + j) * wv;
        a2 += fastgd_load_f8(x2 + j) * wv;
        a3 += fastgd_load_f8(x3 + j) * wv;
    }
    out[0] = fastgd_tree_f(a0, x0, w, n8, n);
    out[1] = fastgd_tree_f(a1, x1, w, n8, n);
    out[2] = fastgd_tree_f(a2, x2, w, n8, n);
    out[3] = fastgd_tree_f(a3, x3, w, n8, n);
}

#else /* the same sums, scalar */

#define FASTGD_SCALAR_DOT4(NAME, T)                                                     \
    static inline void NAME(const T *x0, const T *x1, const T *x2, const T *x3,         \
                            const T *w, ptrdiff_t n, T *out) {                          \
        const T *rows[4] = {x0, x1, x2, x3};                                            \
        ptrdiff_t n8 = n - n % 8;                                                       \
        for (int r = 0; r < 4; r++) {                                                   \
            T a[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                          \
            for (ptrdiff_t j = 0; j < n8; j += 8)                                       \
                for (int l = 0; l < 8; l++)                                             \
                    a[l] += rows[r][j + l] * w[j + l];                                  \
            for (ptrdiff_t j = n8; j < n; j++)                                          \
                a[0] += rows[r][j] * w[j];                                              \
            out[r] = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7])); \
        }                                                                               \
    }
FASTGD_SCALAR_DOT4(fastgd_dot4_d, double)
FASTGD_SCALAR_DOT4(fastgd_dot4_f, float)

#endif
#endif
