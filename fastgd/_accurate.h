/* The tiles of the accurate sums: the Cython kernels' _dot2_tile and _add_products_tile
 * (_cython_kernels.pyx), the Numba kernel's intrinsics of the same names in C.
 *
 * NumPy, for P row-major with `columns` doubles a row (a multiple of 8) and R =
 * FASTGD_ACCURATE_TILE_ROWS of its rows:
 *   fastgd_dot2_tile:         for each row r, the pair (partial_hi[r], partial_lo[r])
 *                             = P[r] @ w as a Dot2: the pairs of its 8 lanes
 *                             (P[r, l::8] @ w[l::8]) added in lane order, the tile's
 *                             rows in the lanes of one vector; asking for the n_ahead
 *                             cache lines from `ahead` on, one a step (the next
 *                             panel's rows: see _gram.h)
 *   fastgd_add_products_tile: (g_hi, g_lo)[j] += P[:R, j] @ (rh + rl)[:R] as pairs,
 *                             the rows in order
 * each step with its rounding errors kept (a product's by a fused multiply-add, a
 * sum's by Knuth's two_sum) and added into the pair's low part, in the order the
 * Numba kernel's comments give. Every lane is its own chain, so the bits are the same
 * whatever the vector width (one AVX-512 register of 8 doubles, two AVX2 ones of 4,
 * or scalar fma() without either) and the number of rows a tile takes (which decides
 * only speed: 8 rows keep their sums in AVX-512's 32 registers, 4 in AVX2's 16).
 */
#ifndef FASTGD_ACCURATE_H
#define FASTGD_ACCURATE_H

#include <math.h>
#include <stddef.h>

#include "_prefetch.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#define FASTGD_ACCURATE_TILE_ROWS 8
typedef __m512d fastgd_v8;
static inline fastgd_v8 fastgd_v8_load(const double *p) { return _mm512_loadu_pd(p); }
static inline void fastgd_v8_store(double *p, fastgd_v8 a) { _mm512_storeu_pd(p, a); }
static inline fastgd_v8 fastgd_v8_splat(double a) { return _mm512_set1_pd(a); }
static inline fastgd_v8 fastgd_v8_add(fastgd_v8 a, fastgd_v8 b) { return _mm512_add_pd(a, b); }
static inline fastgd_v8 fastgd_v8_sub(fastgd_v8 a, fastgd_v8 b) { return _mm512_sub_pd(a, b); }
static inline fastgd_v8 fastgd_v8_mul(fastgd_v8 a, fastgd_v8 b) { return _mm512_mul_pd(a, b); }
/* a * b - c, rounded once */
static inline fastgd_v8 fastgd_v8_fms(fastgd_v8 a, fastgd_v8 b, fastgd_v8 c) {
    return _mm512_fmsub_pd(a, b, c);
}

#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define FASTGD_ACCURATE_TILE_ROWS 4
typedef struct { __m256d low, high; } fastgd_v8;
static inline fastgd_v8 fastgd_v8_load(const double *p) {
    fastgd_v8 v = {_mm256_loadu_pd(p), _mm256_loadu_pd(p + 4)};
    return v;
}
static inline void fastgd_v8_store(double *p, fastgd_v8 a) {
    _mm256_storeu_pd(p, a.low);
    _mm256_storeu_pd(p + 4, a.high);
}
static inline fastgd_v8 fastgd_v8_splat(double a) {
    fastgd_v8 v = {_mm256_set1_pd(a), _mm256_set1_pd(a)};
    return v;
}
#define FASTGD_V8_OP(name, op)                                              \
    static inline fastgd_v8 fastgd_v8_##name(fastgd_v8 a, fastgd_v8 b) {   \
        fastgd_v8 v = {op(a.low, b.low), op(a.high, b.high)};              \
        return v;                                                          \
    }
FASTGD_V8_OP(add, _mm256_add_pd)
FASTGD_V8_OP(sub, _mm256_sub_pd)
FASTGD_V8_OP(mul, _mm256_mul_pd)
static inline fastgd_v8 fastgd_v8_fms(fastgd_v8 a, fastgd_v8 b, fastgd_v8 c) {
    fastgd_v8 v = {_mm256_fmsub_pd(a.low, b.low, c.low), _mm256_fmsub_pd(a.high, b.high, c.high)};
    return v;
}

#else /* the same steps on 8 doubles, with scalar fma() */
#define FASTGD_ACCURATE_TILE_ROWS 4
typedef struct { double v[8]; } fastgd_v8;
static inline fastgd_v8 fastgd_v8_load(const double *p) {
    fastgd_v8 a;
    for (int l = 0; l < 8; l++) a.v[l] = p[l];
    return a;
}
static inline void fastgd_v8_store(double *p, fastgd_v8 a) {
    for (int l = 0; l < 8; l++) p[l] = a.v[l];
}
static inline fastgd_v8 fastgd_v8_splat(double a) {
    fastgd_v8 v;
    for (int l = 0; l < 8; l++) v.v[l] = a;
    return v;
}
#define FASTGD_V8_OP(name, expression)                                     \
    static inline fastgd_v8 fastgd_v8_##name(fastgd_v8 a, fastgd_v8 b) {   \
        fastgd_v8 v;                                                       \
        for (int l = 0; l < 8; l++) v.v[l] = expression;                   \
        return v;                                                          \
    }
FASTGD_V8_OP(add, a.v[l] + b.v[l])
FASTGD_V8_OP(sub, a.v[l] - b.v[l])
FASTGD_V8_OP(mul, a.v[l] * b.v[l])
static inline fastgd_v8 fastgd_v8_fms(fastgd_v8 a, fastgd_v8 b, fastgd_v8 c) {
    fastgd_v8 v;
    for (int l = 0; l < 8; l++) v.v[l] = fma(a.v[l], b.v[l], -c.v[l]);
    return v;
}
#endif

/* (hi, lo) += p + p_error: hi + p = s + e exactly (two_sum), e and p_error into lo */
static inline void fastgd_v8_add_to_pair(fastgd_v8 *hi, fastgd_v8 *lo, fastgd_v8 p,
                                         fastgd_v8 p_error) {
    fastgd_v8 s = fastgd_v8_add(*hi, p);
    fastgd_v8 virtual_ = fastgd_v8_sub(s, *hi);
    fastgd_v8 e = fastgd_v8_add(fastgd_v8_sub(*hi, fastgd_v8_sub(s, virtual_)),
                                fastgd_v8_sub(p, virtual_));
    *hi = s;
    *lo = fastgd_v8_add(*lo, fastgd_v8_add(e, p_error));
}

static inline void fastgd_dot2_tile(const double *P, ptrdiff_t columns, const double *w,
                                    double *partial_hi, double *partial_lo,
                                    const char *ahead, ptrdiff_t n_ahead) {
    enum { R = FASTGD_ACCURATE_TILE_ROWS };
    fastgd_v8 hi[R], lo[R];
    for (int r = 0; r < R; r++)
        hi[r] = lo[r] = fastgd_v8_splat(0.0);
    for (ptrdiff_t j = 0; j < columns; j += 8) {
        fastgd_v8 w_j = fastgd_v8_load(w + j);
        for (int r = 0; r < R; r++) {
            if ((j / 8) * R + r < n_ahead)
                FASTGD_PREFETCH_LINE(ahead + 64 * ((j / 8) * R + r));
            fastgd_v8 x = fastgd_v8_load(P + r * columns + j);
            fastgd_v8 p = fastgd_v8_mul(x, w_j);
            fastgd_v8_add_to_pair(&hi[r], &lo[r], p, fastgd_v8_fms(x, w_j, p));
        }
    }
    /* each row's 8 lanes added in lane order, the tile's rows in the lanes of one chain
     * (transposed through memory: lanes[l][r] is row r's lane l) */
    double lanes_hi[8][8] = {{0}}, lanes_lo[8][8] = {{0}};
    for (int r = 0; r < R; r++) {
        double row_hi[8], row_lo[8];
        fastgd_v8_store(row_hi, hi[r]);
        fastgd_v8_store(row_lo, lo[r]);
        for (int l = 0; l < 8; l++) {
            lanes_hi[l][r] = row_hi[l];
            lanes_lo[l][r] = row_lo[l];
        }
    }
    fastgd_v8 sum_hi = fastgd_v8_load(lanes_hi[0]), sum_lo = fastgd_v8_load(lanes_lo[0]);
    for (int l = 1; l < 8; l++)
        fastgd_v8_add_to_pair(&sum_hi, &sum_lo, fastgd_v8_load(lanes_hi[l]),
                              fastgd_v8_load(lanes_lo[l]));
    fastgd_v8_store(partial_hi, sum_hi);
    fastgd_v8_store(partial_lo, sum_lo);
}

static inline void fastgd_add_products_tile(const double *P, ptrdiff_t columns,
                                            const double *rh, const double *rl,
                                            double *g_hi, double *g_lo) {
    enum { R = FASTGD_ACCURATE_TILE_ROWS };
    fastgd_v8 r_hi[R], r_lo[R];
    for (int r = 0; r < R; r++) {
        r_hi[r] = fastgd_v8_splat(rh[r]);
        r_lo[r] = fastgd_v8_splat(rl[r]);
    }
    for (ptrdiff_t j = 0; j < columns; j += 8) {
        fastgd_v8 hi = fastgd_v8_load(g_hi + j), lo = fastgd_v8_load(g_lo + j);
        for (int r = 0; r < R; r++) {
            fastgd_v8 x = fastgd_v8_load(P + r * columns + j);
            fastgd_v8 p = fastgd_v8_mul(x, r_hi[r]);
            fastgd_v8 p_error =
                fastgd_v8_add(fastgd_v8_fms(x, r_hi[r], p), fastgd_v8_mul(x, r_lo[r]));
            fastgd_v8_add_to_pair(&hi, &lo, p, p_error);
        }
        fastgd_v8_store(g_hi + j, hi);
        fastgd_v8_store(g_lo + j, lo);
    }
}

#endif
