"""The generated code: float32 stays float32 in the inner loops, and they use SIMD.

Checked on Numba's LLVM IR (the Cython kernels' C is typed by the fused type
`floating`, so a float kernel has no double in its loops by construction; their
vectorization is measured in benches/).
"""

import re

import numba
import numpy as np
import pytest

from fastgd import _numba_kernels


def _llvm(dispatcher, *args):
    """LLVM IR of the kernel compiled with its own options (Numba does not show the
    IR of functions loaded from its cache, so compile a fresh, uncached copy)."""
    options = {k: v for k, v in dispatcher.targetoptions.items() if k not in ("cache", "nopython")}
    fresh = numba.njit(**options)(dispatcher.py_func)
    fresh(*args)
    ir = fresh.inspect_llvm(fresh.signatures[-1])
    # The kernel's own function comes first; the wrappers that box its result for
    # Python and C (which convert a float32 result to a Python float) follow it.
    return ir.split("\ndefine ")[1]


@pytest.mark.parametrize("dtype, llvm_type", [(np.float32, "float"), (np.float64, "double")])
def test_dot_is_vectorized_in_its_own_precision(dtype, llvm_type):
    x = np.ones(64, dtype=dtype)
    ir = _llvm(_numba_kernels._dot, x, x)
    # Vector multiply-adds on <N x float> (or double) registers ...
    assert re.search(rf"fmul (reassoc )?<\d+ x {llvm_type}>", ir), "dot product not vectorized"
    if dtype == np.float32:
        # ... and no conversion to double anywhere in the float32 dot product.
        assert "fpext" not in ir


# The two factors of the loss term (r_w and r) are converted once per row: in the
# row loop (2), or for each of the 4 rows of a tile and in the loop over the block's
# last rows (10), possibly in several copies of those loops that LLVM made (.us, .peel),
# and, after a tile, one name more where LLVM splits the row loop on `weighted`.
@pytest.mark.parametrize(
    "loop, most", [("_accumulate_block_c", 2), ("_accumulate_tiled_block_c", 11)]
)
def test_float32_block_loop_converts_to_double_once_per_row_at_most(loop, most):
    """The only float -> double conversions of the block loops are the per-row loss
    term (r_w * r is squared in float64, so that float32 residuals above 1.8e19 do not
    overflow), never inside the loops over features."""
    X = np.ones((8, 16), dtype=np.float32)
    Y = np.ones((8, 1), dtype=np.float32)
    W = np.ones((1, 16), dtype=np.float32)
    b = np.ones(1, dtype=np.float32)
    no_weights = np.empty(0, dtype=np.float32)
    ir = _llvm(
        getattr(_numba_kernels, loop),
        X,
        Y,
        W,
        b,
        no_weights,
        0,
        8,
        0,
        np.zeros((1, 1, 16), np.float32),
        np.zeros((1, 1), np.float32),
    )
    converted = re.findall(r"fpext float (%[.\w]+?)(?:\.us\w*|\.peel)* to double", ir)
    vector_conversions = re.findall(r"fpext <\d+ x float>", ir)
    assert vector_conversions == []  # nothing converted across a vector of features
    assert 1 <= len(set(converted)) <= most, converted


def _compile_and_run(tmp_path, program, flag_sets, march=True):
    """The standard output of ``program`` (C, beside the kernels' headers) compiled
    with setup.py's flags for the kernels (no fused multiply-add; -march=native unless
    ``march`` is false) and each set of flags in turn; skips without a C compiler."""
    import pathlib
    import shutil
    import subprocess
    import sysconfig

    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        pytest.skip("no C compiler")
    source = tmp_path / "program.c"
    source.write_text(program)
    header_dir = pathlib.Path(_numba_kernels.__file__).parent
    base = ["-O3", "-ffp-contract=off"] + (["-march=native"] if march else [])
    outputs = []
    for flags in flag_sets:
        binary = tmp_path / f"program{len(outputs)}"
        command = [compiler, *base, *flags, f"-I{header_dir}", str(source), "-o", str(binary)]
        subprocess.run([*command, "-lm"], check=True)
        outputs.append(
            subprocess.run([str(binary)], check=True, capture_output=True, text=True).stdout
        )
    return outputs


_LANES_PROGRAM = r"""
#include <stdio.h>
#include "_lanes.h"
int main(void) {
    static double x[4][41], w[41], out[4];
    static float xf[4][41], wf[41], outf[4];
    unsigned state = 12345u;
    for (int j = 0; j < 41; j++) {
        state = state * 1103515245u + 12345u;
        w[j] = (double)(state >> 8) / 16777216.0 - 0.5;
        wf[j] = (float)w[j];
        for (int r = 0; r < 4; r++) {
            state = state * 1103515245u + 12345u;
            x[r][j] = (double)(state >> 8) / 16777216.0 - 0.5;
            xf[r][j] = (float)x[r][j];
        }
    }
    for (int n = 0; n <= 41; n++) {
        fastgd_dot4_d(x[0], x[1], x[2], x[3], w, n, out);
        fastgd_dot4_f(xf[0], xf[1], xf[2], xf[3], wf, n, outf);
        for (int r = 0; r < 4; r++)
            printf("%a %a\n", out[r], (double)outf[r]);
    }
    return 0;
}
"""


def test_the_explicit_lanes_sum_in_the_order_of_their_scalar_fallback(tmp_path):
    """_lanes.h (the Cython kernels' tile): the vector-extension dot products and the
    plain scalar loops of other compilers give the same bits, for every length
    (every remainder mod 8), in float64 and float32; and they are dot products."""
    outputs = _compile_and_run(tmp_path, _LANES_PROGRAM, ([], ["-DFASTGD_SCALAR_LANES"]))
    assert outputs[0] == outputs[1]
    values = np.array(
        [[float.fromhex(v) for v in line.split()] for line in outputs[0].split("\n") if line]
    )
    state, x, w = 12345, np.zeros((4, 41)), np.zeros(41)
    for j in range(41):  # the program's generator
        state = (state * 1103515245 + 12345) % 2**32
        w[j] = (state >> 8) / 16777216.0 - 0.5
        for r in range(4):
            state = (state * 1103515245 + 12345) % 2**32
            x[r, j] = (state >> 8) / 16777216.0 - 0.5
    expected = np.array([x[r, :n] @ w[:n] for n in range(42) for r in range(4)])
    np.testing.assert_allclose(values[:, 0], expected, rtol=0, atol=1e-13)
    np.testing.assert_allclose(values[:, 1], expected, rtol=0, atol=2e-5)


_ACCURATE_PROGRAM = r"""
#include <stdio.h>
#include "_accurate.h"
enum { R = FASTGD_ACCURATE_TILE_ROWS, COLUMNS = 24 };
int main(void) {
    static double P[8][COLUMNS], w[COLUMNS], hi[16], lo[16], rh[8], rl[8];
    static double g_hi[COLUMNS], g_lo[COLUMNS];
    unsigned state = 12345u;
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < COLUMNS; j++) {
            state = state * 1103515245u + 12345u;
            P[i][j] = ((double)(state >> 8) / 16777216.0 - 0.5) * (1 << (j % 7));
        }
    for (int j = 0; j < COLUMNS; j++)
        w[j] = 1.0 / (j + 3.0);
    for (int i = 0; i < 8; i++) {
        rh[i] = 1.0 / (i + 7.0);
        rl[i] = rh[i] * 1e-17;
    }
    /* 8 rows: 8 / R tiles, whatever R is here */
    for (int t = 0; t < 8; t += R) {
        fastgd_dot2_tile(&P[t][0], COLUMNS, w, hi + t, lo + t, (const char *)0, 0);
        fastgd_add_products_tile(&P[t][0], COLUMNS, rh + t, rl + t, g_hi, g_lo);
    }
    for (int r = 0; r < 8; r++)
        printf("%a %a\n", hi[r], lo[r]);
    for (int j = 0; j < COLUMNS; j++)
        printf("%a %a\n", g_hi[j], g_lo[j]);
    return 0;
}
"""


def test_the_accurate_tiles_give_the_same_bits_at_every_vector_width(tmp_path):
    """_accurate.h (the certificate pass's tiles): AVX-512 (where the machine has it),
    AVX2 and the scalar fma() fallback, with their different tile heights, give the
    same bits; and each row's Dot2 pair (its lanes' pairs added) is its exact dot
    product to about eps squared."""
    from fractions import Fraction

    flag_sets = (["-march=native"], ["-mavx2", "-mfma", "-mno-avx512f"], [])
    outputs = _compile_and_run(tmp_path, _ACCURATE_PROGRAM, flag_sets, march=False)
    assert outputs[0] == outputs[1] == outputs[2]
    pairs = [[float.fromhex(v) for v in line.split()] for line in outputs[0].split("\n") if line]
    state, columns = 12345, 24
    P = np.zeros((8, columns))
    for i in range(8):  # the program's generator
        for j in range(columns):
            state = (state * 1103515245 + 12345) % 2**32
            P[i, j] = ((state >> 8) / 16777216.0 - 0.5) * (1 << (j % 7))
    w = 1.0 / (np.arange(columns) + 3.0)
    for i in range(8):
        exact = sum(Fraction(P[i, j]) * Fraction(w[j]) for j in range(columns))
        hi, lo = pairs[i]
        assert abs(Fraction(hi) + Fraction(lo) - exact) <= 1e-28 * sum(abs(P[i] * w))
    r = [Fraction(1.0 / (i + 7.0)) + Fraction(1.0 / (i + 7.0) * 1e-17) for i in range(8)]
    for j in range(columns):
        exact = sum(Fraction(P[i, j]) * r[i] for i in range(8))
        hi, lo = pairs[8 + j]
        assert abs(Fraction(hi) + Fraction(lo) - exact) <= 1e-28 * sum(abs(P[:, j]))


_GRAM_PROGRAM = r"""
#include <stdio.h>
#include "_gram.h"
enum { ROWS = 37, M = 40 };  /* strips of 5, 4, 3, 2 and 1 vectors of 8 columns */
int main(void) {
    static double P[ROWS][M], G[M][M];
    unsigned state = 12345u;
    for (int i = 0; i < ROWS; i++)
        for (int j = 0; j < M; j++) {
            state = state * 1103515245u + 12345u;
            P[i][j] = ((double)(state >> 8) / 16777216.0 - 0.5) * (1 << (j % 7));
        }
    /* the kernels' loop over a panel's tiles (_gram_panel) */
    for (int a = 0; a < M; a += FASTGD_GRAM_TILE_ROWS)
        for (int b = a - a % 8; b < M;) {
            int n_vectors = (M - b) / 8;
            if (n_vectors > FASTGD_GRAM_TILE_VECTORS)
                n_vectors = FASTGD_GRAM_TILE_VECTORS;
            fastgd_gram_tile(&P[0][0], M, ROWS, a, b, n_vectors, &G[0][0], M, (const char *)0, 0);
            b += 8 * n_vectors;
        }
    for (int a = 0; a < M; a++)
        for (int b = a - a % 8; b < M; b++)
            printf("%d %d %a\n", a, b, G[a][b]);
    return 0;
}
"""


def test_the_gram_tiles_give_the_same_bits_at_every_vector_width(tmp_path):
    """_gram.h (the Gram pass's tiles): AVX-512's tiles of 1 to 3 vectors of columns
    (where the machine has it), AVX2's and the scalar fma() fallback's give the same
    bits, each entry its column products' sum to within its rounding."""
    flag_sets = (["-march=native"], ["-mavx2", "-mfma", "-mno-avx512f"], [])
    outputs = _compile_and_run(tmp_path, _GRAM_PROGRAM, flag_sets, march=False)
    assert outputs[0] == outputs[1] == outputs[2]
    state, rows, m = 12345, 37, 40
    P = np.zeros((rows, m))
    for i in range(rows):  # the program's generator
        for j in range(m):
            state = (state * 1103515245 + 12345) % 2**32
            P[i, j] = ((state >> 8) / 16777216.0 - 0.5) * (1 << (j % 7))
    entries = [line.split() for line in outputs[0].split("\n") if line]
    assert len(entries) == sum(m - (a - a % 8) for a in range(m))
    for a, b, value in entries:
        a, b = int(a), int(b)
        bound = rows * np.finfo(float).eps * np.abs(P[:, a] * P[:, b]).sum()
        assert abs(float.fromhex(value) - P[:, a] @ P[:, b]) <= bound
