"""Numba kernels: the fused one-pass gradient and the whole-fit loop.

This file and ``_cython_kernels.pyx`` are mirrors: same functions, same loops, same
order of floating-point operations, so a reader of one can read the other line by
line. The math is defined by ``_reference.py``; the tests hold both files to it.

Conventions shared by both backends (the API layer guarantees them, nothing here
checks them):

* ``X`` (N, D) is C- or Fortran-contiguous, possibly read-only; ``x_is_f`` says
  which. ``Y`` (N, K) has any strides. ``W`` (K, D) and ``b`` (K,) are C-contiguous
  and share X's dtype (float32 or float64).
* ``grad_W`` (K, D) and ``grad_b`` (K,) are float64 outputs.
* Work is cut into C chunks of ``chunk_rows`` rows, each chunk into blocks of
  ``B = resid.shape[2]`` rows. Per chunk, float64 partial sums ``chunk_W`` (C, K, D),
  ``chunk_b`` (C, K), ``chunk_sq`` (C,), and scratch in X's dtype ``block_W``
  (C, K, D), ``block_b`` (C, K), ``resid`` (C, K, B). Chunks are independent, so
  they run in parallel (``n_threads > 1``), and they are added in a fixed order.

Determinism: the chunk and block sizes depend only on the shape of X and every sum
is made in an order fixed at compile time, so results are bitwise identical for
every thread count, from run to run and whatever the alignment of X
(tests/test_threads.py). The two backends agree bit for bit on the gradient pass's
4-row tiles (_dot4_lanes, the Cython kernel's _lanes.h); elsewhere they vectorize
their dot products differently (see _dot) and agree to rounding.

Accumulation precision (pinned by the conformance tests' float32 tolerance against
the float64 reference, tests/conftest.py's GRAD_RTOL):
within a block, residuals and the block's partial gradient are computed in X's dtype
(float32 stays float32 in the inner loops); each block's sums are then added to
float64 totals, and the loss is summed in float64. The float32 rounding error
therefore grows with B, not with N.
"""

from collections import namedtuple

import numpy as np
from llvmlite import binding as _llvm
from llvmlite import ir as _ir
from numba import get_num_threads, njit, prange, set_num_threads, types
from numba.core import cgutils
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic, overload

from . import _layout
from ._fast_path import gradient_fast_path  # noqa: F401 (an entry point, written in Python)
from ._layout import (
    BATCH,
    CONVERGED,
    DIVERGED,
    DIVERGENCE_FACTOR,
    EPOCH,
    EPOCH_GRAD_NORM2,
    EPOCH_LOSS,
    FIRST_LOSS,
    MAX_ITER,
    MAX_PASSES,
    ROUNDED,
    THRESHOLD,
    UNCERTIFIED,
    FitData,
    Model,
    T,
)

_TINY = np.finfo(np.float64).tiny
_HUGE = np.finfo(np.float64).max
_EPS = np.finfo(np.float64).eps
# Half an ulp of float32, relative (with float64's rounding of the product): what
# rounding a float64 coefficient to float32 adds to its relative error
_HALF_ULP32 = 0.5 * np.finfo(np.float32).eps * (1.0 + np.finfo(np.float64).eps)
# SplitMix64's constants (see _reference.next_random), as uint64 so that Numba's
# arithmetic on them wraps at 2**64 instead of promoting to float.
_GOLDEN_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)

# Rows of a shuffled epoch are gathered this many rows ahead of their prefetch hint
# (see _prefetch_row): enough to cover a miss to memory (~100 ns) at a per-sample
# update's pace. The Cython kernel uses the same distance.
PREFETCH_ROWS_AHEAD = 4
# The LLVM name of the prefetch intrinsic: typed pointers before LLVM 15.
_PREFETCH_NAME = "llvm.prefetch.p0" if _llvm.llvm_version_info >= (15,) else "llvm.prefetch.p0i8"

# No fastmath (but in _dot): the compiler must not reorder sums behind our back.
# _nrt=False: the kernels never allocate (the backend passes every buffer), so they
# need none of Numba's reference counting, whose atomic increments and decrements,
# for each array taken out of a bundle, made a 4 x 2 fit 1.6x slower; without the
# runtime an allocation in a kernel is a compile error, which enforces the rule.
# (A private flag of njit's options, numba.core.options; the parallel kernel keeps
# the runtime, which parfors need.)
# error_model="numpy": a division by zero gives inf or NaN, as in C and NumPy, which the
# API then names (NaN in X); Numba's default raised ZeroDivisionError from the Gram
# solver's reflections on data with a NaN.
_OPTIONS = {"cache": True, "nogil": True, "boundscheck": False, "error_model": "numpy"}
_kernel = njit(**_OPTIONS, _nrt=False)
_parallel_kernel = njit(**_OPTIONS, parallel=True)
# The functions of a mini-batch update: inlined into fit at Numba's level, so that
# the reference counts of their many array arguments (atomic increments and
# decrements, every call) are pruned; otherwise they cost more than a per-sample update.
_inlined_kernel = njit(**_OPTIONS, inline="always", _nrt=False)


@njit(**_OPTIONS, fastmath={"reassoc"})
def _dot(x, y):
    # NumPy: x @ y. A single running sum is a chain of dependent additions that cannot
    # use SIMD. The Cython kernel writes 8 partial sums by hand, which GCC vectorizes;
    # LLVM does not vectorize that pattern (Numba's index wraparound checks stand in
    # its way), so here reassociation is allowed in this one loop: LLVM splits the sum
    # into a fixed number of vector partial sums chosen at compile time. The order is
    # still fixed (it does not depend on data, alignment or threads), but it is not
    # the Cython kernel's: the two backends agree to rounding, not bit for bit.
    acc = x.dtype.type(0)
    for j in range(x.shape[0]):
        acc += x[j] * y[j]
    return acc


@intrinsic
def _dot4_lanes(typingctx, X, i, w):
    """``X[i:i + 4] @ w`` for a 2-D X whose rows have unit element stride and a
    contiguous w: the Cython kernel's _lanes.h, in LLVM vector types. Each row's 8
    partial sums (partial sum l takes the elements j = l mod 8 of the first n - n % 8,
    the rest go to partial sum 0) are the lanes of vectors (8 floats, or 2 x 4
    doubles), each a multiply then an add (not fused, as the Cython kernels, built
    with -ffp-contract=off), then ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)):
    an order written out, so that no compiler choice (vector width, the context it is
    inlined in) changes a bit, in four independent chains. (Numba compiles with LLVM's
    SLP vectorizer off, and a loop written with 8 scalar partial sums stays scalar.)"""
    if not (isinstance(X, types.Array) and X.ndim == 2 and X.layout == "C"
            and isinstance(w, types.Array) and w.ndim == 1 and w.layout == "C"
            and X.dtype == w.dtype and X.dtype in (types.float32, types.float64)
            and isinstance(i, types.Integer)):
        return None  # (a typing error: the lanes read rows of unit stride)
    dtype = X.dtype
    lanes = 8 if dtype == types.float32 else 4
    n_vectors = 8 // lanes

    def codegen(context, builder, signature, args):
        X_arg, i_arg, w_arg = args
        intp = context.get_value_type(types.intp)
        ftype = context.get_value_type(dtype)
        vtype = _ir.VectorType(ftype, lanes)
        size = context.get_abi_sizeof(ftype)
        x_arr = context.make_array(signature.args[0])(context, builder, X_arg)
        w_arr = context.make_array(signature.args[2])(context, builder, w_arg)
        row = context.cast(builder, i_arg, signature.args[1], types.intp)
        row_bytes = builder.extract_value(x_arr.strides, 0)
        n = builder.extract_value(w_arr.shape, 0)
        byte_ptr = _ir.IntType(8).as_pointer()
        x_base = builder.bitcast(x_arr.data, byte_ptr)
        rows = [builder.bitcast(
                    builder.gep(x_base, [builder.mul(builder.add(row, intp(r)), row_bytes)]),
                    ftype.as_pointer())
                for r in range(4)]
        w_data = w_arr.data
        n8 = builder.sub(n, builder.srem(n, intp(8)))
        zero_vector = _ir.Constant(vtype, [0.0] * lanes)
        acc = [[cgutils.alloca_once_value(builder, zero_vector) for _ in range(n_vectors)]
               for _ in range(4)]

        def load_vector(pointer, offset):
            address = builder.bitcast(builder.gep(pointer, [offset]), vtype.as_pointer())
            return builder.load(address, align=size)

        with cgutils.for_range_slice(builder, intp(0), n8, intp(8), intp=intp) as (j, _):
            for v in range(n_vectors):
                offset = builder.add(j, intp(v * lanes))
                w_vector = load_vector(w_data, offset)
                for r in range(4):
                    x_vector = load_vector(rows[r], offset)
                    product = builder.fmul(x_vector, w_vector)
                    builder.store(builder.fadd(builder.load(acc[r][v]), product), acc[r][v])
        sums = []
        for r in range(4):
            partial = [builder.extract_element(builder.load(acc[r][l // lanes]), intp(l % lanes))
                       for l in range(8)]
            first = cgutils.alloca_once_value(builder, partial[0])
            with cgutils.for_range_slice(builder, n8, n, intp(1), intp=intp) as (j, _):
                x_j = builder.load(builder.gep(rows[r], [j]))
                w_j = builder.load(builder.gep(w_data, [j]))
                builder.store(builder.fadd(builder.load(first), builder.fmul(x_j, w_j)), first)
            partial[0] = builder.load(first)
            add = builder.fadd
            sums.append(add(add(add(partial[0], partial[1]), add(partial[2], partial[3])),
                            add(add(partial[4], partial[5]), add(partial[6], partial[7]))))
        return context.make_tuple(builder, signature.return_type, sums)

    return types.UniTuple(dtype, 4)(X, i, w), codegen


@intrinsic
def _prefetch(typingctx, array, offset):
    """Hint the CPU to load the cache line holding ``array``'s element at ``offset``
    elements from its data pointer (a read, kept briefly): GCC's __builtin_prefetch,
    which the Cython kernel calls. No effect on any result."""
    if not isinstance(array, types.Array) or not isinstance(offset, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        byte_pointer = _ir.IntType(8).as_pointer()
        int32 = _ir.IntType(32)
        function = cgutils.get_or_insert_function(
            builder.module, _ir.FunctionType(_ir.VoidType(), [byte_pointer, int32, int32, int32]),
            _PREFETCH_NAME)
        address = builder.bitcast(builder.gep(data, [args[1]]), byte_pointer)
        # rw = 0 (read), locality = 1 (low), cache type = 1 (data)
        builder.call(function, [address, int32(0), int32(1), int32(1)])
        return context.get_dummy_value()

    return types.void(array, offset), codegen


def _line_asker(context, builder, x_type, x_value, ahead, n_ahead):
    # LLVM IR for the tiles that ask for the next panel's rows: a function of i (intp)
    # that asks for line i of the n_ahead cache lines from X's element `ahead` on, if
    # i < n_ahead, as _prefetch does (_prefetch.h's FASTGD_PREFETCH_LINE in the Cython
    # kernel). ahead and n_ahead: intp values.
    intp = context.get_value_type(types.intp)
    byte_pointer = _ir.IntType(8).as_pointer()
    int32 = _ir.IntType(32)
    function = cgutils.get_or_insert_function(
        builder.module, _ir.FunctionType(_ir.VoidType(), [byte_pointer] + [int32] * 3),
        _PREFETCH_NAME)
    data = context.make_array(x_type)(context, builder, x_value).data
    start = builder.bitcast(builder.gep(data, [ahead]), byte_pointer)

    def ask_for(i):
        with builder.if_then(builder.icmp_signed("<", i, n_ahead)):
            line = builder.gep(start, [builder.mul(i, intp(64))])
            builder.call(function, [line, int32(0), int32(1), int32(1)])

    return ask_for


@intrinsic
def _fma(typingctx, a, b, c):
    """``a * b + c`` rounded once (a fused multiply-add: LLVM's llvm.fma, one
    instruction where the CPU has it): the C library's fma(), which the Cython kernel
    calls. Only the accurate sums use it (every other product and sum is rounded
    separately, as in the Cython kernels, built with -ffp-contract=off)."""
    if not (a == b == c == types.float64):
        return None

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return types.float64(a, b, c), codegen


def _retyping(layout):
    """An intrinsic that returns its array argument as it is, typed read-only (and
    with ``layout``, if given: "A", any strides)."""
    @intrinsic
    def retype(typingctx, array):
        if not isinstance(array, types.Array):
            return None
        target = array.copy(layout=layout or array.layout, readonly=True)

        def codegen(context, builder, signature, args):
            # the same struct (an array's data model depends on its ndim alone);
            # borrowed: a reference more where Numba's runtime counts them
            return impl_ret_borrowed(context, builder, signature.return_type, args[0])

        return target(array), codegen
    return retype


# Numba compiles a function once per tuple of argument types, and an array's type
# holds its layout and whether it is writable: the same fit on a read-only X, on a
# y column of a DataFrame (strided) or a 1-D y (contiguous) compiled three times
# over, ~2.5 s each. Each entry point below therefore retypes its inputs before
# the work: X read-only in its own layout (C or F: the loops over a contiguous row
# or column need it to vectorize), Y and the weights read-only with any strides
# (read one element at a time). Every call then reaches one compiled body per
# dtype and layout of X.
_read_only = _retyping(None)
_any_strides = _retyping("A")


@_inlined_kernel
def _prefetch_row(X, Y, row):
    # Ask for row `row` of X and Y before it is gathered: the rows of a shuffled epoch
    # are scattered over memory, and waiting for each one's miss would cost more than
    # a small update itself. One hint per cache line of a C-ordered row, one per
    # element of a Fortran-ordered one.
    row_step = X.strides[0] // X.itemsize
    column_step = X.strides[1] // X.itemsize
    if column_step == 1:
        for j in range(0, X.shape[1], 64 // X.itemsize):
            _prefetch(X, row * row_step + j)
    else:
        for j in range(X.shape[1]):
            _prefetch(X, row * row_step + j * column_step)
    _prefetch(Y, row * (Y.strides[0] // Y.itemsize))


@_inlined_kernel
def _prefetch_rows_part(X, first, n_rows, part, n_parts):
    # Ask for part `part` (of n_parts) of X's rows [first, first + n_rows), a hint per
    # cache line: of each row of a C-ordered X, of each column's rows of an F-ordered
    # one (no hints for other strides). NumPy: nothing (no effect on any result).
    row_step = X.strides[0] // X.itemsize
    column_step = X.strides[1] // X.itemsize
    per_line = 64 // X.itemsize
    if column_step == 1:
        lines = -(-X.shape[1] // per_line)  # a row's
        for q in range(n_rows * lines * part // n_parts, n_rows * lines * (part + 1) // n_parts):
            i, line = divmod(q, lines)
            _prefetch(X, (first + i) * row_step + line * per_line)
    elif row_step == 1:
        lines = -(-n_rows // per_line)  # a column's
        n_features = X.shape[1]
        for q in range(n_features * lines * part // n_parts,
                       n_features * lines * (part + 1) // n_parts):
            j, line = divmod(q, lines)
            _prefetch(X, first + line * per_line + j * column_step)


@_inlined_kernel
def _accumulate_block_c(X, Y, W, b, weights, start, stop, c, block_W, block_b):
    # NumPy: R = X[start:stop] @ W.T + b - Y[start:stop]; S = s * R (s = weights,
    #        or 1 when weights is empty)
    #        block_W[c] += S.T @ X[start:stop]; block_b[c] += S.sum(0)
    #        return (S * R).sum()
    # Row by row: the row of X is read from memory once and reused from L1 for the
    # residual and the update of every target. (A 4-row tile, as the Cython kernel's,
    # with explicit vector lanes made the kernels that inline this loop take 50-75%
    # longer to compile: see docs/design.md.)
    n_targets, n_features = W.shape
    weighted = weights.shape[0] > 0
    sq_sum = 0.0
    for i in range(start, stop):
        x_row = X[i]
        for k in range(n_targets):
            r = (b[k] - Y[i, k]) + _dot(x_row, W[k])
            r_w = r * weights[i] if weighted else r
            sq_sum += np.float64(r_w) * r  # in float64: float32 squares overflow at 1.8e19
            block_b[c, k] += r_w
            for j in range(n_features):
                block_W[c, k, j] += r_w * x_row[j]
    return sq_sum


@_kernel
def _accumulate_tiles(X, Y, W, b, weights, start, stop, c, block_W, block_b):
    # _accumulate_block_c on rows [start, stop), stop - start a multiple of 4, for a
    # C-ordered X: a tile of 4 rows at a time, as the Cython kernel's. The tile's rows
    # are read from memory once and reused from L1 for the residuals and the update
    # of every target; their dot products run in 4 independent chains (_dot4_lanes),
    # and their 4 terms are added to block_W in one sweep, in the order of the rows.
    # Only _accumulate_chunk takes tiles (fit's mini-batches, _block_sums, keep the row
    # loop), and calls this once per block rather than inlining it: an inlined copy
    # is typed anew in its caller, ~1 s more of compilation (a call costs nothing
    # beside a block of 256 rows).
    n_targets, n_features = W.shape
    weighted = weights.shape[0] > 0
    sq_sum = 0.0
    for i in range(start, stop, 4):
        for k in range(n_targets):
            d0, d1, d2, d3 = _dot4_lanes(X, i, W[k])
            r0 = (b[k] - Y[i, k]) + d0
            r1 = (b[k] - Y[i + 1, k]) + d1
            r2 = (b[k] - Y[i + 2, k]) + d2
            r3 = (b[k] - Y[i + 3, k]) + d3
            s0, s1, s2, s3 = r0, r1, r2, r3
            if weighted:
                s0, s1 = r0 * weights[i], r1 * weights[i + 1]
                s2, s3 = r2 * weights[i + 2], r3 * weights[i + 3]
            # in float64: float32 squares overflow at 1.8e19
            sq_sum += np.float64(s0) * r0
            sq_sum += np.float64(s1) * r1
            sq_sum += np.float64(s2) * r2
            sq_sum += np.float64(s3) * r3
            block_b[c, k] += s0
            block_b[c, k] += s1
            block_b[c, k] += s2
            block_b[c, k] += s3
            for j in range(n_features):
                block_W[c, k, j] = (((block_W[c, k, j] + s0 * X[i, j]) + s1 * X[i + 1, j])
                                    + s2 * X[i + 2, j]) + s3 * X[i + 3, j]
    return sq_sum


@_inlined_kernel
def _accumulate_tiled_block_c(X, Y, W, b, weights, start, stop, c, block_W, block_b):
    # _accumulate_block_c in tiles of 4 rows, then the block's last rows one by one.
    tiled_stop = stop - (stop - start) % 4
    sq_sum = _accumulate_tiles(X, Y, W, b, weights, start, tiled_stop, c, block_W, block_b)
    return sq_sum + _accumulate_block_c(X, Y, W, b, weights, tiled_stop, stop, c, block_W,
                                        block_b)


@_inlined_kernel
def _accumulate_block_f(X, Y, W, b, weights, start, stop, c, block_W, block_b, resid):
    # Same as _accumulate_block_c for a Fortran-ordered X: columns are contiguous, so
    # sweep the block column by column (the block, B rows by D columns, stays in
    # cache for the second sweep).
    n_targets, n_features = W.shape
    n_rows = stop - start
    # resid[c, :, :n_rows] = (X[start:stop] @ W.T + b - Y[start:stop]).T
    for k in range(n_targets):
        for i in range(n_rows):
            resid[c, k, i] = b[k] - Y[start + i, k]
    for j in range(n_features):
        for k in range(n_targets):
            w_kj = W[k, j]
            for i in range(n_rows):
                resid[c, k, i] += X[start + i, j] * w_kj
    weighted = weights.shape[0] > 0
    sq_sum = 0.0
    for k in range(n_targets):
        for i in range(n_rows):
            r = resid[c, k, i]
            r_w = r * weights[start + i] if weighted else r
            sq_sum += np.float64(r_w) * r  # in float64: float32 squares overflow at 1.8e19
            block_b[c, k] += r_w
            resid[c, k, i] = r_w  # the weighted residual, for the sweep below
    # block_W[c] += resid[c, :, :n_rows] @ X[start:stop]
    for j in range(n_features):
        x_col = X[start:stop, j]
        for k in range(n_targets):
            block_W[c, k, j] += _dot(resid[c, k, :n_rows], x_col)
    return sq_sum


def _accumulate_block(X, Y, W, b, weights, start, stop, c, block_W, block_b, resid, x_is_f):
    """_accumulate_block_f if X is Fortran-ordered (x_is_f), else _accumulate_block_c:
    compiled code only (the overload below)."""
    raise NotImplementedError("a Numba overload: call it from compiled code")


def _accumulate_tiled_block(X, Y, W, b, weights, start, stop, c, block_W, block_b, resid,
                            x_is_f):
    """_accumulate_block, with _accumulate_tiled_block_c for a C-ordered X."""
    raise NotImplementedError("a Numba overload: call it from compiled code")


def _block_loop_of_layout(c_loop):
    """The overload of a block loop whose C-ordered loop is c_loop.

    It picks the loop from X's type, when it is compiled: a kernel compiled for a
    C-ordered X holds no Fortran loop, and the other way round (the runtime x_is_f
    agrees, as the API gives it: Fortran-ordered and not C-ordered). Both loops were
    in every kernel, for ~0.6 s of compilation each. (The Cython kernels test
    x_is_f, at no cost: they are compiled ahead of time.)"""
    def of_layout(X, Y, W, b, weights, start, stop, c, block_W, block_b, resid, x_is_f):
        if X.layout == "C":
            return (lambda X, Y, W, b, weights, start, stop, c, block_W, block_b, resid,
                    x_is_f: c_loop(X, Y, W, b, weights, start, stop, c, block_W, block_b))
        if X.layout == "F":
            return (lambda X, Y, W, b, weights, start, stop, c, block_W, block_b, resid,
                    x_is_f: _accumulate_block_f(X, Y, W, b, weights, start, stop, c, block_W,
                                                block_b, resid))

        def either(X, Y, W, b, weights, start, stop, c, block_W, block_b, resid, x_is_f):
            # (an X of any strides, from a user's own loop: fastgd.kernels)
            if x_is_f:
                return _accumulate_block_f(X, Y, W, b, weights, start, stop, c, block_W,
                                           block_b, resid)
            return _accumulate_block_c(X, Y, W, b, weights, start, stop, c, block_W, block_b)
        return either
    return of_layout


_BLOCK_LOOP_OPTIONS = {"inline": "always", "jit_options": dict(_OPTIONS, _nrt=False)}
overload(_accumulate_block, **_BLOCK_LOOP_OPTIONS)(_block_loop_of_layout(_accumulate_block_c))
overload(_accumulate_tiled_block, **_BLOCK_LOOP_OPTIONS)(
    _block_loop_of_layout(_accumulate_tiled_block_c))


@_kernel
def _accumulate_chunk(X, Y, W, b, weights, x_is_f, start, stop, c, chunk_W, chunk_b,
                      block_W, block_b, resid):
    # Rows [start, stop) in blocks of resid.shape[2] rows: each block's sums are made
    # in X's dtype (block_W[c], block_b[c]), then added to the chunk's float64 totals
    # (chunk_W[c], chunk_b[c]). Arrays are indexed with c rather than sliced: a slice
    # per call costs more than a whole iteration of a small problem.
    n_targets, n_features = W.shape
    block_rows = resid.shape[2]
    for k in range(n_targets):
        chunk_b[c, k] = 0.0
        for j in range(n_features):
            chunk_W[c, k, j] = 0.0
    sq_sum = 0.0
    n_blocks = (stop - start + block_rows - 1) // block_rows
    for block in range(n_blocks):
        block_start = start + block * block_rows
        block_stop = min(block_start + block_rows, stop)
        for k in range(n_targets):
            block_b[c, k] = 0.0
            for j in range(n_features):
                block_W[c, k, j] = 0.0
        sq_sum += _accumulate_tiled_block(X, Y, W, b, weights, block_start, block_stop, c,
                                          block_W, block_b, resid, x_is_f)
        for k in range(n_targets):
            chunk_b[c, k] += block_b[c, k]
            for j in range(n_features):
                chunk_W[c, k, j] += block_W[c, k, j]
    return sq_sum


@_parallel_kernel
def _accumulate_chunks_in_parallel(X, Y, W, b, weights, x_is_f, chunk_rows, chunk_W,
                                   chunk_b, chunk_sq, block_W, block_b, resid):
    # The caller has set numba's thread count (see _on_threads). This is
    # the only parallel=True function: calling one costs microseconds even when it
    # would not start threads, so the serial path stays outside it.
    n_samples = X.shape[0]
    for chunk in prange(chunk_W.shape[0]):
        c = np.int64(chunk)  # (prange's index is unsigned: _accumulate_chunk's int64 c)
        start = c * chunk_rows
        chunk_sq[c] = _accumulate_chunk(
            X, Y, W, b, weights, x_is_f, start, min(start + chunk_rows, n_samples), c,
            chunk_W, chunk_b, block_W, block_b, resid)


@_inlined_kernel
def _retyped_rows(X, Y, weights):
    # The rows as the kernels behind the entry points take them: read-only, Y and the
    # weights with any strides (see _retyping).
    return _read_only(X), _any_strides(Y), _any_strides(weights)


@_inlined_kernel
def _retyped_inputs(X, Y, W, b, weights):
    # The gradient's inputs as _chunk_sums and _serial_chunk_sums take them.
    X, Y, weights = _retyped_rows(X, Y, weights)
    return X, Y, _read_only(W), _read_only(b), weights


@_kernel
def _chunk_sums(X, Y, W, b, weights, x_is_f, chunk_rows, n_threads, chunk_W, chunk_b,
                chunk_sq, block_W, block_b, resid):
    # (X, Y, W, b, weights retyped by _retyped_inputs.)
    # The gradient's chunk sums, with the scratch's arrays one by one, in
    # _layout.GradientScratch's order (_gradient_into takes the bundle); _add_chunks
    # adds them up. The hot path takes arrays, not bundles: each array taken out of a
    # bundle in a function that is not inlined costs an atomic reference-count
    # increment and decrement, which made a small fit's iteration 0.3 us slower. Rows
    # are cut into chunks of chunk_rows (a multiple of the block size, fixed by the
    # shape alone); chunk c's sums go to chunk_W[c], chunk_b[c], chunk_sq[c], and the
    # chunks are added in order 0, 1, ... at the end. The result is therefore the
    # same, bit for bit, whether the chunks run on one thread or many.
    if n_threads > 1:
        _accumulate_chunks_in_parallel(X, Y, W, b, weights, x_is_f, chunk_rows, chunk_W,
                                       chunk_b, chunk_sq, block_W, block_b, resid)
    else:
        _serial_chunk_sums(X, Y, W, b, weights, x_is_f, chunk_rows, chunk_W, chunk_b,
                           chunk_sq, block_W, block_b, resid)


@_kernel
def _serial_chunk_sums(X, Y, W, b, weights, x_is_f, chunk_rows, chunk_W, chunk_b, chunk_sq,
                       block_W, block_b, resid):
    # _chunk_sums on one thread, the chunks one after the other: what serial_gradient
    # runs without reaching the parallel loop (which Numba would otherwise compile,
    # 4 s per specialization, in a process that never uses it).
    n_samples = X.shape[0]
    for c in range(chunk_W.shape[0]):
        start = c * chunk_rows
        chunk_sq[c] = _accumulate_chunk(
            X, Y, W, b, weights, x_is_f, start, min(start + chunk_rows, n_samples), c,
            chunk_W, chunk_b, block_W, block_b, resid)


@_inlined_kernel
def _add_chunks(total_weight, grad_W, grad_b, chunk_W, chunk_b, chunk_sq):
    # NumPy: grad_W = chunk_W.sum(0) / N, summed in chunk order; returns the loss
    n_targets, n_features = grad_W.shape
    sq_sum = 0.0
    for k in range(n_targets):
        grad_b[k] = 0.0
        for j in range(n_features):
            grad_W[k, j] = 0.0
    for c in range(chunk_W.shape[0]):
        sq_sum += chunk_sq[c]
        for k in range(n_targets):
            grad_b[k] += chunk_b[c, k]
            for j in range(n_features):
                grad_W[k, j] += chunk_W[c, k, j]
    for k in range(n_targets):
        grad_b[k] /= total_weight
        for j in range(n_features):
            grad_W[k, j] /= total_weight
    return sq_sum / (2 * total_weight)


# The scratch's arrays, cut from its two flat buffers (written once, in _layout).
# (Numba keys a cached kernel to its own file: after editing _layout.py's compiled
# functions, touch this file, or the cached kernels keep the old code.)
_gradient_views = _inlined_kernel(_layout.gradient_views)


@_kernel
def parallel_gradient(X, Y, W, b, weights, total_weight, x_is_f, chunk_rows, n_threads,
                      block_rows, scratch64, scratchx):
    """Write G_W = (s R).T @ X / sum(s) into the scratch's grad_W and (s R).sum(0) /
    sum(s) into its grad_b; return the loss sum(s R**2) / (2 sum(s)). s = weights
    (N,), or 1 when weights is empty; total_weight = sum(s) (N without weights). One
    pass over X. The scratch is its two flat buffers, cut here by
    _layout.gradient_views into the arrays of a GradientScratch (whose chunk_rows,
    n_threads and resid.shape[2] are the ints): what _backends passes, as the
    dispatcher types two arrays faster than eight."""
    n_targets, n_features = W.shape
    n_chunks = (X.shape[0] + chunk_rows - 1) // chunk_rows
    grad_W, grad_b, chunk_W, chunk_b, chunk_sq, block_W, block_b, resid = _gradient_views(
        scratch64, scratchx, n_chunks, n_targets, n_features, block_rows)
    X, Y, W, b, weights = _retyped_inputs(X, Y, W, b, weights)
    _chunk_sums(X, Y, W, b, weights, x_is_f, chunk_rows, n_threads, chunk_W, chunk_b,
                chunk_sq, block_W, block_b, resid)
    return _add_chunks(total_weight, grad_W, grad_b, chunk_W, chunk_b, chunk_sq)


@_kernel
def serial_gradient(X, Y, W, b, weights, total_weight, x_is_f, chunk_rows, n_threads,
                    block_rows, scratch64, scratchx):
    """parallel_gradient on one thread (n_threads is 1): a kernel of its own, so that a process
    whose gradients all run on one thread never compiles the parallel loop."""
    n_targets, n_features = W.shape
    n_chunks = (X.shape[0] + chunk_rows - 1) // chunk_rows
    grad_W, grad_b, chunk_W, chunk_b, chunk_sq, block_W, block_b, resid = _gradient_views(
        scratch64, scratchx, n_chunks, n_targets, n_features, block_rows)
    X, Y, W, b, weights = _retyped_inputs(X, Y, W, b, weights)
    _serial_chunk_sums(X, Y, W, b, weights, x_is_f, chunk_rows, chunk_W, chunk_b, chunk_sq,
                       block_W, block_b, resid)
    return _add_chunks(total_weight, grad_W, grad_b, chunk_W, chunk_b, chunk_sq)


@_inlined_kernel
def _gradient_into(X, Y, W, b, weights, total_weight, x_is_f, s):
    # The gradient (parallel_gradient) with the arrays of the GradientScratch s,
    # taken out here: in the caller, into which this is inlined.
    X, Y, W, b, weights = _retyped_inputs(X, Y, W, b, weights)
    _chunk_sums(X, Y, W, b, weights, x_is_f, s.chunk_rows, s.n_threads, s.chunk_W,
                s.chunk_b, s.chunk_sq, s.block_W, s.block_b, s.resid)
    return _add_chunks(total_weight, s.grad_W, s.grad_b, s.chunk_W, s.chunk_b, s.chunk_sq)


# Sums of squares inside (_SAFE_MIN, _SAFE_MAX) lose nothing to underflow or overflow;
# outside, the norm of a reflector is recomputed with a scale (as LAPACK's dnrm2).
_SAFE_MIN = np.finfo(np.float64).tiny / np.finfo(np.float64).eps
_SAFE_MAX = 1.0 / _SAFE_MIN
# fit_many forms its Gram matrix by plain products: a column of X or Y whose largest
# magnitude is outside (2**-500, 2**500) could underflow to a "constant" column, or overflow.
# Such a problem goes to fastgd.fit, whose factor and coordinates are scaled.
_PRODUCT_MIN, _PRODUCT_MAX = 2.0 ** -500, 2.0 ** 500


@njit(**_OPTIONS, fastmath={"reassoc"})
def _dot_panel(panel, c, j, l, n_rows):
    # NumPy: panel[c, j, :n_rows] @ panel[c, l, :n_rows] (vectorized as _dot)
    acc = 0.0
    for i in range(n_rows):
        acc += panel[c, j, i] * panel[c, l, i]
    return acc


@_inlined_kernel
def _reflector_norm(alpha, panel, c, j, n_rows):
    # NumPy: np.hypot(alpha, np.linalg.norm(panel[c, j, :n_rows])), 0 when the panel's
    # part is zero or negligible beside alpha (nothing to annihilate), without overflow
    # or underflow. (A column near 1e-170 has squares that underflow to 0: it is zero
    # only if its largest entry is.)
    sq = _dot_panel(panel, c, j, j, n_rows)
    total = alpha * alpha + sq
    if _SAFE_MIN < total < _SAFE_MAX:
        return np.sqrt(total) if sq > 0.0 else 0.0
    largest = 0.0
    for i in range(n_rows):
        largest = max(largest, abs(panel[c, j, i]))
    if largest == 0.0 and sq == 0.0:  # (a NaN, which max may skip, stays in sq)
        return 0.0
    scale = max(abs(alpha), largest)
    total = (alpha / scale) ** 2
    for i in range(n_rows):
        total += (panel[c, j, i] / scale) ** 2
    return scale * np.sqrt(total)


@_kernel
def _reflect_rows(R, panel, c, n_rows):
    # NumPy: R[c] = np.linalg.qr(np.vstack([R[c], panel[c, :, :n_rows].T]), mode="r"),
    # up to the signs of its rows: Householder reflections annihilate the panel's rows
    # (stored transposed, panel[c, l, i] = row i's entry l, so the loops below run over
    # contiguous memory) into the upper-triangular R[c], column by column. The stacked
    # matrix's column j has nonzeros only in R[c, j, j] and the panel, so reflector j
    # touches row j of R[c] and the panel alone. R[c].T @ R[c] grows by the Gram
    # matrix of the panel's rows, with every column's rounding relative to that
    # column's own norm (Householder QR is column-wise backward stable).
    m = R.shape[1]
    for j in range(m):
        alpha = R[c, j, j]
        norm = _reflector_norm(alpha, panel, c, j, n_rows)
        if norm == 0.0:
            continue
        beta = -norm if alpha >= 0 else norm
        tau = (beta - alpha) / beta
        if abs(alpha - beta) >= _SAFE_MIN:
            scale = 1.0 / (alpha - beta)
            for i in range(n_rows):  # the reflector's vector v = [1; panel[c, j] / (alpha - beta)]
                panel[c, j, i] *= scale
        else:  # subnormal rounding residues (a merge of factors): 1 / (alpha - beta) overflows
            for i in range(n_rows):
                panel[c, j, i] /= alpha - beta
        R[c, j, j] = beta
        for l in range(j + 1, m):  # NumPy: [R[c, j, l]; panel[c, l]] -= tau * v * (v @ it)
            w = tau * (R[c, j, l] + _dot_panel(panel, c, j, l, n_rows))
            R[c, j, l] -= w
            for i in range(n_rows):
                panel[c, l, i] -= w * panel[c, j, i]


@_inlined_kernel
def _gather_augmented_rows(X, Y, b, weights, fit_intercept, x_is_f, start, n_rows, c, panel):
    # NumPy: panel[c, :, :n_rows] = (sqrt(s) * Z[start:start + n_rows]).T in float64,
    # Z = [X, 1, Y], or [X, Y - b] when the intercept b is held fixed (_reference.augmented_rows)
    n_features = X.shape[1]
    p = n_features + 1 if fit_intercept else n_features
    weighted = weights.shape[0] > 0
    if x_is_f:  # X's part, in the loop order that reads X's memory contiguously
        for j in range(n_features):
            for i in range(n_rows):
                panel[c, j, i] = X[start + i, j]
    else:
        for i in range(n_rows):
            for j in range(n_features):
                panel[c, j, i] = X[start + i, j]
    for i in range(n_rows):
        row = start + i
        s = 1.0
        if weighted:
            s = np.sqrt(np.float64(weights[row]))
            for j in range(n_features):
                panel[c, j, i] *= s
        if fit_intercept:
            panel[c, n_features, i] = s
            for k in range(Y.shape[1]):
                panel[c, p + k, i] = s * Y[row, k]
        else:
            for k in range(Y.shape[1]):
                panel[c, p + k, i] = s * (np.float64(Y[row, k]) - b[k])


@_kernel
def _compress_chunk(X, Y, b, weights, fit_intercept, x_is_f, start, stop, c, R, panel):
    # R[c] = the triangular factor of the augmented rows [start, stop), a panel of
    # panel.shape[2] rows at a time.
    m = R.shape[1]
    for i in range(m):
        for j in range(m):
            R[c, i, j] = 0.0
    panel_rows = panel.shape[2]
    for piece in range(start, stop, panel_rows):
        n_rows = min(panel_rows, stop - piece)
        _gather_augmented_rows(X, Y, b, weights, fit_intercept, x_is_f, piece, n_rows, c,
                               panel)
        _reflect_rows(R, panel, c, n_rows)


@_parallel_kernel
def _compress_chunks_in_parallel(X, Y, b, weights, fit_intercept, x_is_f, chunk_rows, R,
                                 panel):
    n_samples = X.shape[0]
    for chunk in prange(R.shape[0]):
        c = np.int64(chunk)  # (prange's index is unsigned: _compress_chunk's int64 c)
        start = c * chunk_rows
        _compress_chunk(X, Y, b, weights, fit_intercept, x_is_f, start,
                        min(start + chunk_rows, n_samples), c, R, panel)


@_kernel
def parallel_compress(X, Y, b, weights, fit_intercept, x_is_f, chunk_rows, n_threads, R,
                      panel):
    """Write into R[0] an upper-triangular factor of the augmented data: R[0].T @ R[0]
    = Z.T @ diag(s) @ Z with Z = [X, 1, Y] (or [X, Y - b] when the intercept b is held
    fixed) and s = weights (1 when weights is empty), in one pass over X, in float64.

    Tall-skinny QR: chunk c (rows [c * chunk_rows, ...), a size fixed by the shape
    alone) is reduced to its own factor R[c] by Householder reflections, a panel of
    rows at a time; the chunks' factors are then merged into R[0] in chunk order. So
    the result is the same, bit for bit, for every thread count. Diagonal signs are
    arbitrary (the API makes them non-negative).

    On n_threads > 1 threads (numba.set_num_threads: ``compress``, the entry point,
    sets it), and serial_compress on one, so that neither compiles the other's loop.
    """
    X, Y, weights = _retyped_rows(X, Y, weights)
    _compress_chunks_in_parallel(X, Y, _read_only(b), weights, fit_intercept, x_is_f,
                                 chunk_rows, R, panel)
    _merge_chunk_factors(R, panel)


@_kernel
def serial_compress(X, Y, b, weights, fit_intercept, x_is_f, chunk_rows, n_threads, R, panel):
    """parallel_compress on one thread (n_threads is 1): a kernel of its own, so that a process
    that compresses on one thread never compiles the parallel loop."""
    X, Y, weights = _retyped_rows(X, Y, weights)
    _serial_compress(X, Y, _read_only(b), weights, fit_intercept, x_is_f, chunk_rows, R, panel)


@_kernel
def _serial_compress(X, Y, b, weights, fit_intercept, x_is_f, chunk_rows, R, panel):
    # (Inputs retyped by the entry points.)
    n_samples = X.shape[0]
    for c in range(R.shape[0]):
        start = c * chunk_rows
        _compress_chunk(X, Y, b, weights, fit_intercept, x_is_f, start,
                        min(start + chunk_rows, n_samples), c, R, panel)
    _merge_chunk_factors(R, panel)


@_kernel
def _merge_chunk_factors(R, panel):
    # NumPy: R[0] = qr(vstack([R[0], R[1], ...]), mode="r"): each chunk's factor goes
    # through panel 0 as m more rows, a panel at a time
    n_chunks, m = R.shape[0], R.shape[1]
    panel_rows = panel.shape[2]
    for c in range(1, n_chunks):
        for first in range(0, m, panel_rows):
            n_rows = min(panel_rows, m - first)
            for i in range(n_rows):
                for l in range(m):
                    panel[0, l, i] = R[c, first + i, l]
            _reflect_rows(R, panel, np.int64(0), n_rows)  # (int64: a literal 0 would
            # compile _reflect_rows once more)


# ----------------------------------------------------------------------- the Gram

# The Gram matrix's tiles: GRAM_TILE_ROWS rows of G by 1 to GRAM_TILE_VECTORS vectors of
# GRAM_TILE_COLUMNS (8 doubles) at a time, their sums in vector registers while the
# panel's rows stream through. 8 rows by up to 3 vectors with AVX-512's 32 vector
# registers (each row's 8 values loaded once for 3 vectors' multiply-adds), 4 rows by
# one vector with AVX2's 16 (the sums of each entry are the same whatever the tile: the
# tile decides only speed). _gram.h in the Cython kernel.
GRAM_TILE_COLUMNS = _layout.GRAM_TILE_COLUMNS
GRAM_TILE_ROWS = 8 if _llvm.get_host_cpu_features().get("avx512f") else 4
GRAM_TILE_VECTORS = 3 if GRAM_TILE_ROWS == 8 else 1


def _gram_tile_of(n_vectors):
    """The tile of n_vectors vectors of columns, an intrinsic."""
    @intrinsic
    def gram_tile(typingctx, panel, c, n_rows, a, b, G, X, ahead, n_ahead):
        """NumPy: G[c, a:a + TA, b:b + TB] += panel[c, :n_rows, a:a + TA].T @
        panel[c, :n_rows, b:b + TB] (TA = GRAM_TILE_ROWS, TB = GRAM_TILE_COLUMNS *
        n_vectors), each entry summed over the rows in order, each term one fused
        multiply-add, asking for the n_ahead cache lines from X's element `ahead` on, one
        a row: the Cython kernel's _gram.h, in LLVM vector types (a vector of 8 doubles;
        AVX2 splits it in two)."""
        if not (isinstance(panel, types.Array) and panel.ndim == 3 and panel.layout == "C"
                and panel.dtype == types.float64 and isinstance(G, types.Array)
                and G.ndim == 3 and G.layout == "C" and G.dtype == types.float64
                and isinstance(X, types.Array)):
            return None
        signature = types.void(panel, c, n_rows, a, b, G, X, ahead, n_ahead)
        return signature, _gram_tile_codegen(n_vectors)
    return gram_tile


def _gram_tile_codegen(n_vectors):
    rows_of_tile, width = GRAM_TILE_ROWS, GRAM_TILE_COLUMNS

    def codegen(context, builder, signature, args):
        intp = context.get_value_type(types.intp)
        f64 = context.get_value_type(types.float64)
        vector = _ir.VectorType(f64, width)
        index = _ir.IntType(32)
        fma = cgutils.get_or_insert_function(
            builder.module, _ir.FunctionType(vector, [vector] * 3), f"llvm.fma.v{width}f64")
        p = context.make_array(signature.args[0])(context, builder, args[0])
        g = context.make_array(signature.args[5])(context, builder, args[5])
        kinds = signature.args
        c, n, a, b, ahead, n_ahead = (
            context.cast(builder, value, kind, types.intp)
            for value, kind in zip(args[1:5] + args[7:9], kinds[1:5] + kinds[7:9]))
        ask_for = _line_asker(context, builder, kinds[6], args[6], ahead, n_ahead)
        _, rows, columns = cgutils.unpack_tuple(builder, p.shape, 3)
        _, g_rows, g_columns = cgutils.unpack_tuple(builder, g.shape, 3)
        base = builder.gep(p.data, [builder.mul(c, builder.mul(rows, columns))])

        def vector_at(pointer, offset):
            return builder.bitcast(builder.gep(pointer, [offset]), vector.as_pointer())

        sums = [[cgutils.alloca_once_value(builder, _ir.Constant(vector, [0.0] * width))
                 for _ in range(n_vectors)] for _ in range(rows_of_tile)]
        undefined = _ir.Constant(vector, _ir.Undefined)
        splat = _ir.Constant(_ir.VectorType(index, width), [0] * width)
        with cgutils.for_range(builder, n, intp=intp) as loop:
            ask_for(loop.index)
            row = builder.gep(base, [builder.mul(loop.index, columns)])
            z_b = [builder.load(vector_at(row, builder.add(b, intp(width * v))), align=8)
                   for v in range(n_vectors)]
            for r in range(rows_of_tile):
                z_a = builder.load(builder.gep(row, [builder.add(a, intp(r))]))
                z_a = builder.shuffle_vector(
                    builder.insert_element(undefined, z_a, index(0)), undefined, splat)
                for v in range(n_vectors):
                    builder.store(builder.call(fma, [z_a, z_b[v], builder.load(sums[r][v])]),
                                  sums[r][v])
        g_base = builder.gep(g.data, [builder.mul(c, builder.mul(g_rows, g_columns))])
        for r in range(rows_of_tile):
            for v in range(n_vectors):
                offset = builder.add(builder.mul(builder.add(a, intp(r)), g_columns),
                                     builder.add(b, intp(width * v)))
                target = vector_at(g_base, offset)
                builder.store(builder.fadd(builder.load(target, align=8),
                                           builder.load(sums[r][v])), target, align=8)
        return context.get_dummy_value()

    return codegen


_gram_tile_1, _gram_tile_2, _gram_tile_3 = (_gram_tile_of(v) for v in (1, 2, 3))


@_inlined_kernel
def _gram_tile(panel, c, n_rows, a, b, n_vectors, G, X, ahead, n_ahead):
    # the tile of n_vectors (1 to GRAM_TILE_VECTORS) vectors of columns
    if n_vectors == 3:
        _gram_tile_3(panel, c, n_rows, a, b, G, X, ahead, n_ahead)
    elif n_vectors == 2:
        _gram_tile_2(panel, c, n_rows, a, b, G, X, ahead, n_ahead)
    else:
        _gram_tile_1(panel, c, n_rows, a, b, G, X, ahead, n_ahead)


@_inlined_kernel
def _gather_gram_rows(X, Y, b, weights, fit_intercept, start, n_rows, c, panel):
    # NumPy: panel[c, :n_rows, :m] = sqrt(s) * Z[start:start + n_rows] in float64, row
    # by row, Z = [X, 1, Y] or [X, Y - b] (_reference.augmented_rows); the columns past
    # m stay 0
    n_features, n_targets = X.shape[1], Y.shape[1]
    p = n_features + 1 if fit_intercept else n_features
    weighted = weights.shape[0] > 0
    for i in range(n_rows):
        row = start + i
        s = np.sqrt(np.float64(weights[row])) if weighted else 1.0
        for j in range(n_features):
            panel[c, i, j] = s * np.float64(X[row, j]) if weighted else np.float64(X[row, j])
        if fit_intercept:
            panel[c, i, n_features] = s
            for k in range(n_targets):
                panel[c, i, p + k] = s * np.float64(Y[row, k])
        else:
            for k in range(n_targets):
                panel[c, i, p + k] = s * (np.float64(Y[row, k]) - b[k])


@_inlined_kernel
def _lines_of_rows(X, n_rows):
    # The cache lines of n_rows rows of a C-contiguous X (one run of bytes), which the
    # tiles ask for, each its share (_tile_share), one line a row or step of theirs:
    # trickled among the multiply-adds, the misses overlap them (a burst of hints fills
    # the core's miss buffers). 0 for other layouts, asked for otherwise.
    if X.strides[1] == X.itemsize and X.strides[0] == X.shape[1] * X.itemsize:
        return -(-n_rows * X.strides[0] // 64)
    return 0


@_inlined_kernel
def _tile_share(tile, n_lines, n_tiles):
    # (first, count): the lines tile `tile` of n_tiles asks for, of n_lines (first 0
    # where it asks for none: no offset past X, for the last rows' tiles)
    per_tile = -(-n_lines // n_tiles)
    first = min(n_lines, tile * per_tile)
    count = min(per_tile, n_lines - first)
    return (first if count > 0 else 0), count


@_inlined_kernel
def _gram_tiles_of_panel(m_pad):
    # how many tiles _gram_panel runs
    n_tiles = 0
    for a in range(0, m_pad, GRAM_TILE_ROWS):
        n_vectors = (m_pad - (a - a % GRAM_TILE_COLUMNS)) // GRAM_TILE_COLUMNS
        n_tiles += -(-n_vectors // GRAM_TILE_VECTORS)
    return n_tiles


@_kernel
def _gram_panel(X, next_first, next_rows, c, n_rows, G, panel):
    # G[c] += the upper triangle (in tiles) of panel[c, :n_rows].T @ panel[c, :n_rows],
    # while X's rows [next_first, next_first + next_rows) are asked for, so that their
    # gather waits less on memory: from inside the tiles (_lines_of_rows), or for
    # other layouts a strip of tiles' part at a time (_prefetch_rows_part)
    m_pad = G.shape[1]
    n_parts = -(-m_pad // GRAM_TILE_ROWS)
    n_lines = _lines_of_rows(X, next_rows)
    n_tiles = _gram_tiles_of_panel(m_pad)
    ahead = next_first * X.shape[1]  # (an element offset, used when n_lines > 0)
    tile = 0
    for a in range(0, m_pad, GRAM_TILE_ROWS):
        if n_lines == 0:
            _prefetch_rows_part(X, next_first, next_rows, a // GRAM_TILE_ROWS, n_parts)
        column = a - a % GRAM_TILE_COLUMNS
        while column < m_pad:
            n_vectors = min(GRAM_TILE_VECTORS, (m_pad - column) // GRAM_TILE_COLUMNS)
            first_line, n_ahead = _tile_share(tile, n_lines, n_tiles)
            _gram_tile(panel, c, n_rows, a, column, n_vectors, G, X,
                       ahead + first_line * (64 // X.itemsize), n_ahead)
            column += n_vectors * GRAM_TILE_COLUMNS
            tile += 1


@_kernel
def _gram_chunk(X, Y, b, weights, fit_intercept, start, stop, c, G, panel):
    # G[c] = the upper triangle (in tiles) of Z.T Z over the rows [start, stop), a panel
    # of panel.shape[1] rows at a time (the next panel's rows asked for while this
    # one's tiles run)
    m_pad, panel_rows = G.shape[1], panel.shape[1]
    for i in range(m_pad):
        for j in range(m_pad):
            G[c, i, j] = 0.0
    for i in range(panel_rows):
        for j in range(m_pad):
            panel[c, i, j] = 0.0
    for first in range(start, stop, panel_rows):
        n_rows = min(panel_rows, stop - first)
        _gather_gram_rows(X, Y, b, weights, fit_intercept, first, n_rows, c, panel)
        _gram_panel(X, first + n_rows, min(panel_rows, stop - first - n_rows), c, n_rows, G,
                    panel)


@_parallel_kernel
def _gram_chunks_in_parallel(X, Y, b, weights, fit_intercept, chunk_rows, G, panel):
    n_samples = X.shape[0]
    for chunk in prange(G.shape[0]):
        c = np.int64(chunk)  # (prange's index is unsigned)
        start = c * chunk_rows
        _gram_chunk(X, Y, b, weights, fit_intercept, start, min(start + chunk_rows, n_samples),
                    c, G, panel)


@_kernel
def _add_chunk_grams(G):
    # NumPy: G[0] = G.sum(axis=0), added in chunk order
    for c in range(1, G.shape[0]):
        for i in range(G.shape[1]):
            for j in range(G.shape[2]):
                G[0, i, j] += G[c, i, j]


@_kernel
def parallel_gram(X, Y, b, weights, fit_intercept, x_is_f, chunk_rows, n_threads, G, panel):
    """Write into G[0] the upper triangle of Z.T @ diag(s) @ Z (Z = [X, 1, Y], or [X, Y
    - b] when the intercept b is held fixed; s = weights, 1 when empty), in one pass
    over X, in float64: chunks of chunk_rows rows (on n_threads > 1 threads, as
    compress; serial_gram on one), each a panel of panel.shape[1] rows at a time, in
    tiles (_gram_tile), the chunks' matrices added in chunk order: the same bits for
    every thread count. G (C, m_pad, m_pad), m_pad a multiple of GRAM_TILE_COLUMNS;
    panel (C, P, m_pad). The direct solve's fast factor (_gram.factor_of_gram)."""
    X, Y, weights = _retyped_rows(X, Y, weights)
    _gram_chunks_in_parallel(X, Y, _read_only(b), weights, fit_intercept, chunk_rows, G,
                             panel)
    _add_chunk_grams(G)


@_kernel
def serial_gram(X, Y, b, weights, fit_intercept, x_is_f, chunk_rows, n_threads, G, panel):
    """gram on one thread: a kernel of its own, which never compiles prange."""
    X, Y, weights = _retyped_rows(X, Y, weights)
    _serial_gram(X, Y, _read_only(b), weights, fit_intercept, chunk_rows, G, panel)


@_kernel
def _serial_gram(X, Y, b, weights, fit_intercept, chunk_rows, G, panel):
    n_samples = X.shape[0]
    for c in range(G.shape[0]):
        start = c * chunk_rows
        _gram_chunk(X, Y, b, weights, fit_intercept, start, min(start + chunk_rows, n_samples),
                    c, G, panel)
    _add_chunk_grams(G)


# ------------------------------------------------------------- the accurate sums
#
# The gradient sums of _reference.accurate_sums, as if computed in twice the working
# precision (Dot2): every product's and every sum's rounding error is kept, with a
# fused multiply-add and Knuth's two_sum, and added into a second float64. Rows are
# copied into a float64 panel (_layout.ACCURATE_PANEL_ROWS of them at a time: an
# F-ordered X is read a column's rows at a time, one stream), each row padded with
# zeros to a multiple of 8 columns (and so is W) after two columns of its own: the
# intercept's 1 and the loss's R / 2. Tiles of ACCURATE_TILE_ROWS rows of the panel
# go through two loops in SIMD lanes (_accurate.h in the Cython kernel): each row's
# residual as 8 lanes of Dot2s over the columns (_dot2_tile), whose pairs are then
# added in lane order; and the gradient sums, a pair per column, each taking the
# tile's rows in order (_add_products_tile). Every sum is a chain over the chunk's
# rows in order, the chunks' pairs added in chunk order: the same bits for every
# thread count and tile height. The direct solve (_direct.py) refines and certifies
# with them.

ACCURATE_TILE_ROWS = 8 if _llvm.get_host_cpu_features().get("avx512f") else 4


@_inlined_kernel
def _two_sum(a, b):
    # a + b = s + e exactly (Knuth): _reference.two_sum
    s = a + b
    virtual = s - a
    return s, (a - (s - virtual)) + (b - virtual)


@_inlined_kernel
def _add_two_product(hi, lo, a, b):
    # NumPy: the pair (hi, lo) += a * b, the product's rounding error by a fused
    # multiply-add (_reference.two_product) and the sum's by _two_sum, both into lo: a
    # step of a Dot2
    p = a * b
    p_error = _fma(a, b, -p)
    s, s_error = _two_sum(hi, p)
    return s, lo + (s_error + p_error)


@_inlined_kernel
def _add_pair(hi, lo, other_hi, other_lo):
    # the pair (hi, lo) + (other_hi, other_lo): _reference.add_double
    s, error = _two_sum(hi, other_hi)
    return _two_sum(s, error + (lo + other_lo))


def _v8_add_to_pair(builder, hi, lo, p, p_error):
    # LLVM IR of (hi, lo) += p + p_error on vectors (pointers hi and lo): hi + p = s + e
    # exactly (_two_sum), e and p_error into lo (_accurate.h's fastgd_v8_add_to_pair)
    old = builder.load(hi)
    s = builder.fadd(old, p)
    virtual = builder.fsub(s, old)
    error = builder.fadd(builder.fsub(old, builder.fsub(s, virtual)), builder.fsub(p, virtual))
    builder.store(s, hi)
    builder.store(builder.fadd(builder.load(lo), builder.fadd(error, p_error)), lo)


def _panel_tile(context, builder, signature, args):
    # The LLVM IR the tiles below share, whose first three arguments are (panel, c, t):
    # (intp, <8 x double>, load(pointer, offset) of one, llvm.fma on it, the address of
    # panel[c, t, 0], panel's row length)
    intp = context.get_value_type(types.intp)
    vector = _ir.VectorType(context.get_value_type(types.float64), 8)
    fma = cgutils.get_or_insert_function(
        builder.module, _ir.FunctionType(vector, [vector] * 3), "llvm.fma.v8f64")

    def load(pointer, offset):
        address = builder.bitcast(builder.gep(pointer, [offset]), vector.as_pointer())
        return builder.load(address, align=8)

    p = context.make_array(signature.args[0])(context, builder, args[0])
    c, t = (context.cast(builder, args[i], signature.args[i], types.intp) for i in (1, 2))
    _, rows, columns = cgutils.unpack_tuple(builder, p.shape, 3)
    base = builder.gep(p.data, [builder.mul(builder.add(builder.mul(c, rows), t), columns)])
    return intp, vector, load, fma, base, columns


def _is_c_float64(*arrays):
    return all(isinstance(a, types.Array) and a.layout == "C" and a.dtype == types.float64
               for a in arrays)


@intrinsic
def _dot2_tile(typingctx, panel, c, t, W, k, partials, X, ahead, n_ahead):
    """NumPy: for r < ACCURATE_TILE_ROWS, the pair (partials[c, 0, r], partials[c, 1, r])
    = panel[c, t + r] @ W[k] as a Dot2, in 8 lanes (panel[c, t + r, l::8] @ W[k, l::8])
    whose pairs are then added in lane order, the tile's rows in the lanes of one
    vector: each step ``p = x * w`` with its error ``fma(x, w, -p)``, then ``(hi, lo) +=
    p + error`` (_v8_add_to_pair), asking for the n_ahead cache lines from X's element
    `ahead` on, one a step. The Cython kernel's _accurate.h, in LLVM vector types.
    panel (C, P, d_pad) and W (K, d_pad), d_pad a multiple of 8; partials (C, 2, 8)."""
    if not (_is_c_float64(panel, W, partials) and panel.ndim == 3 and W.ndim == 2
            and partials.ndim == 3 and isinstance(X, types.Array)):
        return None
    rows_of_tile = ACCURATE_TILE_ROWS

    def codegen(context, builder, signature, args):
        intp, vector, load, fma, base, columns = _panel_tile(context, builder, signature,
                                                             args)
        w = context.make_array(signature.args[3])(context, builder, args[3])
        q = context.make_array(signature.args[5])(context, builder, args[5])
        c, k, ahead, n_ahead = (context.cast(builder, args[i], signature.args[i], types.intp)
                                for i in (1, 4, 7, 8))
        ask_for = _line_asker(context, builder, signature.args[6], args[6], ahead, n_ahead)
        w_row = builder.gep(w.data, [builder.mul(k, columns)])
        zero = _ir.Constant(vector, [0.0] * 8)
        his = [cgutils.alloca_once_value(builder, zero) for _ in range(rows_of_tile)]
        los = [cgutils.alloca_once_value(builder, zero) for _ in range(rows_of_tile)]
        with cgutils.for_range_slice(builder, intp(0), columns, intp(8), intp=intp) as (j, _):
            w_j = load(w_row, j)
            step = builder.mul(builder.udiv(j, intp(8)), intp(rows_of_tile))
            for r in range(rows_of_tile):
                ask_for(builder.add(step, intp(r)))
                x = load(base, builder.add(builder.mul(intp(r), columns), j))
                product = builder.fmul(x, w_j)
                error = builder.call(fma, [x, w_j, builder.fneg(product)])
                _v8_add_to_pair(builder, his[r], los[r], product, error)
        # each row's lanes added in lane order, the rows in the lanes of one chain:
        # lane l of every row gathered into one vector (a transpose), then added
        index = _ir.IntType(32)
        lanes = []
        for h, sums in enumerate((his, los)):
            rows = [builder.load(sums[r]) for r in range(rows_of_tile)]
            lanes.append([])
            for lane in range(8):
                gathered = zero
                for r in range(rows_of_tile):
                    value = builder.extract_element(rows[r], index(lane))
                    gathered = builder.insert_element(gathered, value, index(r))
                lanes[h].append(gathered)
        row_hi = cgutils.alloca_once_value(builder, lanes[0][0])
        row_lo = cgutils.alloca_once_value(builder, lanes[1][0])
        for lane in range(1, 8):
            _v8_add_to_pair(builder, row_hi, row_lo, lanes[0][lane], lanes[1][lane])
        out = builder.gep(q.data, [builder.mul(c, intp(16))])  # (partials[c], (2, 8))
        for h, sums in enumerate((row_hi, row_lo)):
            target = builder.bitcast(builder.gep(out, [intp(8 * h)]), vector.as_pointer())
            builder.store(builder.load(sums), target, align=8)
        return context.get_dummy_value()

    return types.void(panel, c, t, W, k, partials, X, ahead, n_ahead), codegen


@intrinsic
def _add_products_tile(typingctx, panel, c, t, residuals, pairs, k):
    """NumPy: (pairs[c, 0, k], pairs[c, 1, k]) += panel[c, t:t + TR].T @ (residuals[c, 2,
    :TR] + residuals[c, 3, :TR]) as pairs (TR = ACCURATE_TILE_ROWS), each column's pair
    taking the rows in order, each step ``p = x * r_hi`` with its error ``fma(x, r_hi,
    -p) + x * r_lo``, then ``(hi, lo) += p + error`` (_v8_add_to_pair). The Cython
    kernel's _accurate.h, in LLVM vector types. residuals (C, 4, n), n >= TR; pairs
    (C, 2, K, d_pad), panel (C, P, d_pad)."""
    if not (_is_c_float64(panel, residuals, pairs) and panel.ndim == 3
            and residuals.ndim == 3 and pairs.ndim == 4):
        return None
    rows_of_tile = ACCURATE_TILE_ROWS

    def codegen(context, builder, signature, args):
        intp, vector, load, fma, base, columns = _panel_tile(context, builder, signature,
                                                             args)
        rs = context.make_array(signature.args[3])(context, builder, args[3])
        g = context.make_array(signature.args[4])(context, builder, args[4])
        c, k = (context.cast(builder, args[i], signature.args[i], types.intp) for i in (1, 5))
        _, _, n_targets, _ = cgutils.unpack_tuple(builder, g.shape, 4)
        _, _, n_lanes = cgutils.unpack_tuple(builder, rs.shape, 3)
        r_base = builder.gep(rs.data, [builder.mul(c, builder.mul(n_lanes, intp(4)))])
        undefined = _ir.Constant(vector, _ir.Undefined)
        splat = _ir.Constant(_ir.VectorType(_ir.IntType(32), 8), [0] * 8)

        def splatted(row, r):  # residuals[c, row, r] in every lane
            value = builder.load(builder.gep(r_base, [builder.add(builder.mul(n_lanes, intp(row)),
                                                                  intp(r))]))
            return builder.shuffle_vector(
                builder.insert_element(undefined, value, _ir.IntType(32)(0)), undefined, splat)

        r_his = [splatted(2, r) for r in range(rows_of_tile)]
        r_los = [splatted(3, r) for r in range(rows_of_tile)]
        row_hi = builder.add(builder.mul(builder.mul(c, intp(2)), n_targets), k)
        g_hi = builder.gep(g.data, [builder.mul(row_hi, columns)])
        g_lo = builder.gep(g.data, [builder.mul(builder.add(row_hi, n_targets), columns)])
        hi = cgutils.alloca_once(builder, vector)
        lo = cgutils.alloca_once(builder, vector)
        with cgutils.for_range_slice(builder, intp(0), columns, intp(8), intp=intp) as (j, _):
            builder.store(load(g_hi, j), hi)
            builder.store(load(g_lo, j), lo)
            for r in range(rows_of_tile):
                x = load(base, builder.add(builder.mul(intp(r), columns), j))
                product = builder.fmul(x, r_his[r])
                error = builder.fadd(builder.call(fma, [x, r_his[r], builder.fneg(product)]),
                                     builder.fmul(x, r_los[r]))
                _v8_add_to_pair(builder, hi, lo, product, error)
            for pointer, value in ((g_hi, hi), (g_lo, lo)):
                target = builder.bitcast(builder.gep(pointer, [j]), vector.as_pointer())
                builder.store(builder.load(value), target, align=8)
        return context.get_dummy_value()

    return types.void(panel, c, t, residuals, pairs, k), codegen


@_kernel
def _accurate_panel(X, Y, W, b, weights, first, n, next_rows, c, pairs, partials, residuals,
                    panel):
    # Rows [first, first + n), n <= panel.shape[1], row first + i in the panel's row i,
    # in tiles of ACCURATE_TILE_ROWS rows (a tile past n: rows of zeros, which add 0),
    # the first target's Dot2 tiles asking for the next next_rows rows of a C-contiguous
    # X, each tile its share of their lines (as _gram_panel does).
    # NumPy: panel[c, :n, :D + 2] = [X[rows], 1, R / 2] in float64 (W is 0 past D, so
    #        the last two columns add 0 to R); for each tile and target:
    #        R = X[rows] @ W.T + b - Y[rows] (_reference.accurate_residuals: a pair in
    #        residuals[c, 0:2]: _dot2_tile's 8 lanes added in lane order, then b - y);
    #        sR = s * R (a pair in residuals[c, 2:4]);
    #        pairs[c, :, k, :D + 2] += panel[c, tile].T @ sR (_add_products_tile): the
    #        sums X.T @ sR, sR.sum(0) and (R * sR).sum(0) / 2
    n_features = X.shape[1]
    weighted = weights.shape[0] > 0
    n_lines = _lines_of_rows(X, next_rows)
    n_tiles = -(-n // ACCURATE_TILE_ROWS)
    ahead = (first + n) * n_features  # (an element offset, used when n_lines > 0)
    if X.strides[0] == X.itemsize:  # (columns of unit stride: a column's rows at a time)
        for j in range(n_features):
            for i in range(n):
                panel[c, i, j] = np.float64(X[first + i, j])
    else:
        for i in range(n):
            for j in range(n_features):
                panel[c, i, j] = np.float64(X[first + i, j])
    for i in range(n):
        panel[c, i, n_features] = 1.0
    n_tiled = (n + ACCURATE_TILE_ROWS - 1) // ACCURATE_TILE_ROWS * ACCURATE_TILE_ROWS
    for i in range(n, n_tiled):
        for j in range(n_features + 2):
            panel[c, i, j] = 0.0
    for t in range(0, n_tiled, ACCURATE_TILE_ROWS):
        rows = min(ACCURATE_TILE_ROWS, n - t)
        for r in range(rows, ACCURATE_TILE_ROWS):
            for h in range(4):
                residuals[c, h, r] = 0.0
        first_line, n_ahead = _tile_share(t // ACCURATE_TILE_ROWS, n_lines, n_tiles)
        for k in range(W.shape[0]):
            _dot2_tile(panel, c, t, W, k, partials, X, ahead + first_line * (64 // X.itemsize),
                       n_ahead if k == 0 else 0)
            for r in range(rows):
                hi, lo = partials[c, 0, r], partials[c, 1, r]
                row = first + t + r
                offset, offset_error = _two_sum(b[k], -np.float64(Y[row, k]))
                hi, error = _two_sum(hi, offset)
                hi, lo = _two_sum(hi, lo + (error + offset_error))
                residuals[c, 0, r] = hi
                residuals[c, 1, r] = lo
                residuals[c, 2, r] = hi
                residuals[c, 3, r] = lo
                if weighted:
                    s = np.float64(weights[row])
                    residuals[c, 2, r] = hi * s
                    residuals[c, 3, r] = _fma(hi, s, -residuals[c, 2, r]) + lo * s
                panel[c, t + r, n_features + 1] = 0.5 * hi
            _add_products_tile(panel, c, t, residuals, pairs, k)


@_kernel
def _accurate_chunk(X, Y, W, b, weights, start, stop, c, sums, pairs, partials, residuals,
                    panel):
    # sums[c] = the pairs of the rows [start, stop): panels of panel.shape[1] rows
    for h in range(2):
        for k in range(pairs.shape[2]):
            for j in range(pairs.shape[3]):
                pairs[c, h, k, j] = 0.0
    for i in range(panel.shape[1]):  # (the columns past D + 2 stay 0)
        for j in range(panel.shape[2]):
            panel[c, i, j] = 0.0
    for first in range(start, stop, panel.shape[1]):
        n = min(panel.shape[1], stop - first)
        _accurate_panel(X, Y, W, b, weights, first, n, min(panel.shape[1], stop - first - n),
                        c, pairs, partials, residuals, panel)
    for h in range(2):
        for k in range(pairs.shape[2]):
            for j in range(sums.shape[3]):
                sums[c, h, k, j] = pairs[c, h, k, j]


@_parallel_kernel
def _accurate_chunks_in_parallel(X, Y, W, b, weights, chunk_rows, sums, pairs, partials,
                                 residuals, panel):
    n_samples = X.shape[0]
    for chunk in prange(sums.shape[0]):
        c = np.int64(chunk)  # (prange's index is unsigned)
        start = c * chunk_rows
        _accurate_chunk(X, Y, W, b, weights, start, min(start + chunk_rows, n_samples), c,
                        sums, pairs, partials, residuals, panel)


@_kernel
def _add_chunk_pairs(sums):
    # NumPy: sums[0] = the pairs of every chunk, added in chunk order (_reference.add_double)
    for c in range(1, sums.shape[0]):
        for k in range(sums.shape[2]):
            for j in range(sums.shape[3]):
                sums[0, 0, k, j], sums[0, 1, k, j] = _add_pair(
                    sums[0, 0, k, j], sums[0, 1, k, j], sums[c, 0, k, j], sums[c, 1, k, j])


@_kernel
def parallel_accurate_sums(X, Y, W, b, weights, chunk_rows, n_threads, sums, pairs, partials,
                           residuals, panel):
    """Write into sums[0] (2, K, D + 2) the gradient sums ``(s R).T @ X``, ``(s R).sum(0)``
    and ``(s R * R).sum(0) / 2`` as pairs (sums[0, 0] + sums[0, 1] within about eps of
    each exact value: _reference.accurate_sums), for W (K, d_pad: the coefficients, 0
    past D) and b (K,) in float64, whatever X's dtype. Chunks of ``chunk_rows`` rows
    (on n_threads > 1 threads, as compress; serial_accurate_sums on one), their pairs
    added in chunk order. d_pad: D + 2 rounded up to a multiple of 8. Scratch: sums (C, 2,
    K, D + 2), pairs (C, 2, K, d_pad), partials (C, 2, 8), residuals (C, 4, 8) and
    panel (C, P, d_pad), P a multiple of 8."""
    X, Y, weights = _retyped_rows(X, Y, weights)
    _accurate_chunks_in_parallel(X, Y, _read_only(W), _read_only(b), weights, chunk_rows,
                                 sums, pairs, partials, residuals, panel)
    _add_chunk_pairs(sums)


@_kernel
def serial_accurate_sums(X, Y, W, b, weights, chunk_rows, n_threads, sums, pairs, partials,
                         residuals, panel):
    """accurate_sums on one thread: a kernel of its own, which never compiles prange."""
    X, Y, weights = _retyped_rows(X, Y, weights)
    _serial_accurate_sums(X, Y, _read_only(W), _read_only(b), weights, chunk_rows, sums,
                          pairs, partials, residuals, panel)


@_kernel
def _serial_accurate_sums(X, Y, W, b, weights, chunk_rows, sums, pairs, partials, residuals,
                          panel):
    n_samples = X.shape[0]
    for c in range(sums.shape[0]):
        start = c * chunk_rows
        _accurate_chunk(X, Y, W, b, weights, start, min(start + chunk_rows, n_samples), c,
                        sums, pairs, partials, residuals, panel)
    _add_chunk_pairs(sums)


@_inlined_kernel
def _penalty(W, l1, l2, n_penalized):
    # NumPy: _reference.penalty: l1 * |P|.sum() + l2 / 2 * (P**2).sum(), P = W[:, :p]
    total = 0.0
    if l1 > 0 or l2 > 0:
        for k in range(W.shape[0]):
            for j in range(n_penalized):
                w = np.float64(W[k, j])
                total += l1 * abs(w) + 0.5 * l2 * w * w
    return total


@_inlined_kernel
def _prox_l1(w, gradient, lr, l1):
    # NumPy: _reference.prox_l1 for one coefficient: (w_new, (w - w_new) / lr)
    z = w - lr * gradient
    threshold = lr * l1
    if z > threshold:
        return z - threshold, gradient + l1
    if z < -threshold:
        return z + threshold, gradient - l1
    return 0.0, w / lr


@_inlined_kernel
def _direction(gradient, velocity, k, j, momentum, nesterov):
    # torch.optim.SGD: v = momentum * v + g; d = v, or g + momentum * v (Nesterov)
    v = momentum * velocity[k, j] + gradient
    velocity[k, j] = v
    return gradient + momentum * v if nesterov else v


@_inlined_kernel
def _update(model, grad_W, grad_b, lr, o, optimizer):
    # NumPy: _steps.update (proximal_step, or momentum_step). Without penalty
    # and momentum this is W -= lr * grad_W; b -= lr * grad_b. In float64, rounded
    # once to W's dtype. Returns the squared norm of the gradient map at the current
    # point over the fitted coefficients (the stopping test). o: the FitOptions.
    W, b = model.W, model.b
    velocity_W, velocity_b = optimizer.velocity_W, optimizer.velocity_b
    n_targets, n_features = W.shape
    grad_norm2 = 0.0
    for k in range(n_targets):
        for j in range(n_features):
            w = np.float64(W[k, j])
            penalized = j < o.n_penalized
            smooth = grad_W[k, j]
            if penalized:
                smooth += o.l2 * w
            step = w - lr * smooth
            mapping = smooth
            if o.l1 > 0 and penalized:  # soft-thresholding: exact zeros
                step, mapping = _prox_l1(w, smooth, lr, o.l1)
            grad_norm2 += mapping * mapping
            if o.momentum > 0 and o.nesterov:
                # torch's Nesterov step with the gradient map: FISTA, whose optimum is
                # a fixed point (_reference.momentum_step)
                step = w - lr * _direction(mapping, velocity_W, k, j, o.momentum, True)
            elif o.momentum > 0:
                # heavy ball, then the proximal step; v = the step taken / lr (iPiano)
                direction = smooth + o.momentum * velocity_W[k, j]
                step = w - lr * direction
                if o.l1 > 0 and penalized:
                    step, direction = _prox_l1(w, direction, lr, o.l1)
                velocity_W[k, j] = direction
            W[k, j] = step
        if o.fit_intercept:
            grad_norm2 += grad_b[k] * grad_b[k]
            direction = grad_b[k]
            if o.momentum > 0:
                direction = _direction(grad_b[k], velocity_b, k, 0, o.momentum, o.nesterov)
            b[k] = b[k] - lr * direction
    return grad_norm2


@_inlined_kernel
def _gather_piece(data, piece_lo, n_rows, order_end, block_rows, batch):
    # NumPy: batch.batch_X[:n_rows] = X[order[piece_lo:piece_lo + n_rows]] (and Y, the
    # weights), unless the rows are one block of consecutive rows of X (a single row
    # always is, and so are the batches of an unshuffled epoch), read where they are:
    # returns whether they are. Each row asks for the row PREFETCH_ROWS_AHEAD entries
    # further in order[:order_end] (into the next batch, if need be).
    X, Y, weights, order = data.X, data.Y, data.weights, data.order
    first = order[piece_lo]
    in_place = n_rows <= block_rows
    for i in range(1, n_rows if in_place else 0):
        if order[piece_lo + i] != first + i:
            in_place = False
            break
    for i in range(n_rows):
        ahead = piece_lo + i + PREFETCH_ROWS_AHEAD
        if ahead < order_end:
            _prefetch_row(X, Y, order[ahead])
        if in_place:
            continue
        row = order[piece_lo + i]
        # (x_is_f is for the Cython mirror, which reads X through a raw pointer;
        # Numba's X[row, j] follows X's strides in either layout.)
        for j in range(X.shape[1]):
            batch.batch_X[i, j] = X[row, j]
        for k in range(Y.shape[1]):
            batch.batch_Y[i, k] = Y[row, k]
        if weights.shape[0] > 0:
            batch.batch_w[i] = weights[row]
    return in_place


@_inlined_kernel
def _block_sums(data, W, b, first, n_rows, in_place, s, batch):
    # One block (every small mini-batch): its sums without the chunk bookkeeping of
    # gradient(), which would add them to zeroed float64 totals and divide by 1 and
    # 2, at a fraction of the cost of a per-sample update. Row by row: gradient()
    # takes 4-row tiles on a C-ordered X, whose sums agree with these to rounding
    # (the Cython mirror's, tiled too, are the same bits). Adds them to batch.sum_W,
    # batch.sum_b; returns sum(s R R) / 2.
    block_W, block_b = s.block_W, s.block_b
    n_targets, n_features = W.shape
    for k in range(n_targets):
        block_b[0, k] = 0.0
        for j in range(n_features):
            block_W[0, k, j] = 0.0
    if not in_place:
        sq_sum = _accumulate_block_c(batch.batch_X, batch.batch_Y, W, b, batch.batch_w, 0,
                                     n_rows, 0, block_W, block_b)
    else:
        sq_sum = _accumulate_block(data.X, data.Y, W, b, data.weights, first, first + n_rows, 0,
                                   block_W, block_b, s.resid, data.x_is_f)
    for k in range(n_targets):
        batch.sum_b[k] += block_b[0, k]
        for j in range(n_features):
            batch.sum_W[k, j] += block_W[0, k, j]
    return 0.5 * sq_sum


@_inlined_kernel
def _rows_gradient(data, model, lo, hi, order_end, scratch):
    # NumPy: _reference.rows_gradient(X, Y, W, b, weights, order[lo:hi]): unnormalised
    # sums (s R).T @ X[rows] into batch.sum_W, (s R).sum(0) into batch.sum_b; returns
    # sum(s R R) / 2. The rows are gathered, batch_X.shape[0] at a time, into
    # C-ordered buffers that stay in cache, and each piece goes through the fused
    # gradient with a total weight of 1 (dividing by 1 and by 2 is exact: the sums
    # come back unscaled).
    W, b = model.W, model.b
    s, batch = scratch.gradient, scratch.batch
    n_targets, n_features = W.shape
    piece_rows = batch.batch_X.shape[0]
    block_rows = s.resid.shape[2]
    for k in range(n_targets):
        batch.sum_b[k] = 0.0
        for j in range(n_features):
            batch.sum_W[k, j] = 0.0
    half_sq = 0.0
    piece_lo = lo
    while piece_lo < hi:  # NumPy: for piece_lo in range(lo, hi, piece_rows)
        n_rows = min(piece_rows, hi - piece_lo)
        in_place = _gather_piece(data, piece_lo, n_rows, order_end, block_rows, batch)
        if n_rows <= block_rows:
            half_sq += _block_sums(data, W, b, data.order[piece_lo], n_rows, in_place, s,
                                   batch)
        else:
            # (The gathered rows are C-ordered. bool(0), not the literal False: a literal
            # would type a second specialization of _chunk_sums, with its own parallel
            # loop, and double what the first fit compiles.)
            half_sq += _gradient_into(batch.batch_X[:n_rows], batch.batch_Y[:n_rows], W, b,
                                      batch.batch_w[:n_rows], 1.0, bool(0), s)
            for k in range(n_targets):
                batch.sum_b[k] += s.grad_b[k]
                for j in range(n_features):
                    batch.sum_W[k, j] += s.grad_W[k, j]
        piece_lo += n_rows
    return half_sq


# The same, called rather than inlined: where it runs once per epoch (the held-out
# rows), a call costs nothing, and a second inlined copy of the gather and of three
# block loops made fit's compilation ~40% longer.
_called_rows_gradient = _kernel(_rows_gradient.py_func)


@_kernel
def _next_random(rng_state):
    # _reference.next_random: SplitMix64, in uint64 arithmetic that wraps at 2**64
    s = rng_state[0] + _GOLDEN_GAMMA
    rng_state[0] = s
    z = (s ^ (s >> _S30)) * _MIX_1
    z = (z ^ (z >> _S27)) * _MIX_2
    return z ^ (z >> _S31)


@_kernel
def _shuffle(order, n, rng_state):
    # _reference.shuffle: Fisher-Yates on order[:n]
    for i in range(n - 1, 0, -1):
        j = np.int64(_next_random(rng_state) % np.uint64(i + 1))
        order[i], order[j] = order[j], order[i]


@_kernel
def update(model, grad_W, grad_b, lr, options, optimizer):
    """The step of gradient descent on the model (W, b), in place: the backends'
    ``update`` leaf (_reference.update); returns the squared gradient-map norm.
    The bundles are _layout's Model, FitOptions and OptimizerArrays."""
    return _update(model, grad_W, grad_b, lr, options, optimizer)


@_kernel
def shuffle(order, n, rng_state):
    """The backends' ``shuffle`` leaf: _reference.shuffle of order[:n], in place."""
    _shuffle(order, n, rng_state)


# The schedule's rules, written once in _layout (the reference runs them as they are).
_step_size = _inlined_kernel(_layout.step_size)
_end_of_epoch = _kernel(_layout.end_of_epoch)


@_inlined_kernel
def _batch_gradient(data, model, o, state, batch, scratch):
    # NumPy: _epochs._batch_gradient: the batch's gradient (the unbiased estimate
    # with mini-batches) into scratch.gradient.grad_W, grad_b; adds the batch's share
    # of the objective to the epoch's loss.
    s = scratch.gradient
    W = model.W
    n_samples = data.X.shape[0]
    if o.batch_size >= n_samples:  # direct: every row, in order, no gather
        batch_rows = n_samples
        loss = _gradient_into(data.X, data.Y, W, model.b, data.weights, data.train_weight,
                              data.x_is_f, s)
    else:
        lo = batch * o.batch_size
        hi = min(lo + o.batch_size, o.n_train)
        batch_rows = hi - lo
        half_sq = _rows_gradient(data, model, lo, hi, o.n_train, scratch)
        # NumPy: grad_W = sum_W / (|B| * mean(s)): the unbiased estimate
        scale = batch_rows * data.train_weight / o.n_train
        for k in range(W.shape[0]):
            s.grad_b[k] = scratch.batch.sum_b[k] / scale
            for j in range(W.shape[1]):
                s.grad_W[k, j] = scratch.batch.sum_W[k, j] / scale
        loss = half_sq / data.train_weight
    state[EPOCH_LOSS] += loss + batch_rows / o.n_train * _penalty(W, o.l1, o.l2,
                                                                  o.n_penalized)


@_inlined_kernel
def _loss_diverged(state):
    # _epochs._loss_diverged. "not <=" so that NaN counts, and the cap so that inf
    # does (even when the first loss itself overflowed): the API names the cause.
    if np.isnan(state[FIRST_LOSS]):
        state[FIRST_LOSS] = state[EPOCH_LOSS]
    bar = min(DIVERGENCE_FACTOR * max(state[FIRST_LOSS], _TINY), _HUGE)
    return not state[EPOCH_LOSS] <= bar


@_inlined_kernel
def _end_epoch(data, model, o, state, history, epochs, step, grad_norm2, n_batches, scratch):
    # _epochs._end_epoch: the epoch's history row and its stopping tests
    n_samples = data.X.shape[0]
    validation_loss = np.nan
    if o.early_stopping:
        validation_loss = _called_rows_gradient(data, model, o.n_train, n_samples, n_samples,
                                                scratch) / data.val_weight
    history[epochs, 0] = state[EPOCH_LOSS]
    history[epochs, 1] = np.sqrt(state[EPOCH_GRAD_NORM2] / n_batches)
    history[epochs, 2] = step
    history[epochs, 3] = validation_loss
    epochs += 1
    state[EPOCH] += 1.0  # after its history row: the epoch is complete
    if not state[EPOCH_GRAD_NORM2] <= _HUGE or (o.early_stopping
                                                and not validation_loss <= _HUGE):
        # An overflowing gradient norm would pass any tol test, and a NaN in the
        # held-out rows would pass as a plateau: stop, the API names the cause.
        return epochs, DIVERGED
    exact = n_batches == 1 and not o.early_stopping
    if exact:
        if state[THRESHOLD] < 0:
            state[THRESHOLD] = o.tol * o.tol * max(grad_norm2, o.ref_grad_norm2)
        if o.tol > 0 and grad_norm2 <= state[THRESHOLD]:
            return epochs, CONVERGED
    score = validation_loss if o.early_stopping else state[EPOCH_LOSS]
    # A full batch: only a loss that does not decrease at all is a plateau.
    plateau_stops = o.early_stopping or (n_batches > 1 and o.tol > 0)
    if _end_of_epoch(state, score, o.lr, o.schedule, 0.0 if exact else o.tol,
                     o.n_iter_no_change, plateau_stops):
        return epochs, CONVERGED
    return epochs, MAX_ITER


@_kernel
def compiled_fit(data, model, options, optimizer, scratch, history, max_updates):
    """Run at most max_updates updates and len(history) epochs of (mini-batch)
    gradient descent, updating the model (W, b) and the optimiser in place; return
    (n_epochs, status). The bundles are _layout's (FitData, Model, FitOptions,
    OptimizerArrays, FitScratch); the algorithm, its stopping rules and the state:
    _epochs.fit. The scratch buffers are sized by _backends.CompiledBackend:
    for X itself on the direct path (a full batch of every row in order), for a
    gathered piece of rows (batch_X) otherwise."""
    X, Y, weights = _retyped_rows(data.X, data.Y, data.weights)
    retyped = FitData(X, Y, weights, data.x_is_f, data.order, data.train_weight,
                      data.val_weight)
    return _fit(retyped, model, options, optimizer, scratch, history, max_updates)


@_kernel
def _fit(data, model, options, optimizer, scratch, history, max_updates):
    # fit, on its data retyped (see _retyping)
    o, state = options, optimizer.state
    n_batches = (o.n_train + o.batch_size - 1) // o.batch_size
    epochs = 0
    for _ in range(max_updates):
        if epochs == history.shape[0]:
            break
        batch = np.int64(state[BATCH])
        if batch == 0:
            if o.shuffle and n_batches > 1:
                _shuffle(data.order, o.n_train, optimizer.rng_state)
            state[EPOCH_LOSS] = 0.0
            state[EPOCH_GRAD_NORM2] = 0.0
        _batch_gradient(data, model, o, state, batch, scratch)
        last = batch == n_batches - 1
        if last and _loss_diverged(state):
            history[epochs, 0] = state[EPOCH_LOSS]
            for column in range(1, history.shape[1]):
                history[epochs, column] = np.nan
            return epochs + 1, DIVERGED
        step = _step_size(state, o.schedule, o.power_t)
        grad_norm2 = _update(model, scratch.gradient.grad_W, scratch.gradient.grad_b, step, o,
                             optimizer)
        state[T] += 1.0
        state[EPOCH_GRAD_NORM2] += grad_norm2
        state[BATCH] = batch + 1
        if not last:
            continue
        state[BATCH] = 0.0
        epochs, status = _end_epoch(data, model, o, state, history, epochs, step, grad_norm2,
                                    n_batches, scratch)
        if status != MAX_ITER:
            return epochs, status
    return epochs, MAX_ITER


# ----------------------------------------------------------------------- fit_many
# G independent small problems (_layout.ManyData), each fitted as fit's default (the
# direct solve, _direct.py, on the Cholesky factor of its centred, standardized Gram
# matrix), certified and refined on its own rows (see _many.py). One problem is one
# serial computation: the result does not depend on the chunking.


@_kernel
def _gather_rows(X, Y, weights, order, lo, first, n_rows, c, panel):
    # NumPy: panel[c, :, :n_rows] = [Xg, Yg, sg][first:first + n_rows].T in float64
    # (Xg, Yg, sg: the problem's rows from offset lo and their weights, 1 when none):
    # the rows of a panel transposed, so that every sum over them is a contiguous dot
    # product. A column at a time: with the row loop outside, LLVM vectorized it with
    # gathers and ran 7x slower (Zen 2); and not inlined (inline="always" made this
    # loop 7x slower again).
    n_features, n_targets = X.shape[1], Y.shape[1]
    ordered = order.shape[0] > 0
    for j in range(n_features):
        for i in range(n_rows):
            panel[c, j, i] = X[order[lo + first + i] if ordered else lo + first + i, j]
    for k in range(n_targets):
        for i in range(n_rows):
            panel[c, n_features + k, i] = Y[order[lo + first + i] if ordered
                                            else lo + first + i, k]
    for i in range(n_rows):
        row = order[lo + first + i] if ordered else lo + first + i
        panel[c, n_features + n_targets, i] = weights[row] if weights.shape[0] > 0 else 1.0


@_kernel
def _centre_rows(panel, mean, c, n_columns, n_rows, centred):
    # NumPy: centred[c, :-1, :n_rows] = sqrt(sg) * (panel[c, :-1, :n_rows] - mean[c, :, None])
    # and the roots of the weights sg in centred's last row (not inlined: see above)
    for i in range(n_rows):
        centred[c, n_columns, i] = np.sqrt(panel[c, n_columns, i])
    for j in range(n_columns):
        for i in range(n_rows):
            centred[c, j, i] = centred[c, n_columns, i] * (panel[c, j, i] - mean[c, j])


@_kernel
def _residuals(panel, W, b, g, k, c, n_features, n_rows, r):
    # NumPy: R = Xg @ W[g, k] + b[g, k] - Yg[:, k] and sR = sg * R over the panel's rows,
    # each a pair as if in twice the working precision (a Dot2, as _accurate_group's):
    # R in r[c, 0] + r[c, 1], sR in r[c, 2] + r[c, 3] (not inlined: see _gather_rows)
    for i in range(n_rows):
        s, error = _two_sum(b[g, k], -panel[c, n_features + k, i])
        r[c, 0, i] = s
        r[c, 1, i] = error
    for j in range(n_features):
        w = W[g, k, j]
        for i in range(n_rows):
            r[c, 0, i], r[c, 1, i] = _add_two_product(r[c, 0, i], r[c, 1, i], panel[c, j, i], w)
    n_weight = panel.shape[1] - 1
    for i in range(n_rows):
        hi, lo = _two_sum(r[c, 0, i], r[c, 1, i])
        weight = panel[c, n_weight, i]
        r[c, 0, i], r[c, 1, i] = hi, lo
        r[c, 2, i] = weight * hi
        r[c, 3, i] = _fma(weight, hi, -r[c, 2, i]) + weight * lo


@_inlined_kernel
def _gather_problem_rows(data, lo, first, n_rows, c, s):
    _gather_rows(data.X, data.Y, data.weights, data.order, lo, first, n_rows, c, s.panel)


@_inlined_kernel
def _problem_means(data, lo, hi, fit_intercept, c, s):
    # NumPy: total = sg.sum(); mean = sg @ [Xg, Yg] / total (zeros without an
    # intercept), Xg, Yg, sg the problem's rows and weights, and the extremes of each
    # column, [Xg, Yg].min(axis=0) and .max(axis=0). Returns total.
    n_columns = data.X.shape[1] + data.Y.shape[1]
    total = 0.0
    for j in range(n_columns):
        s.mean[c, j] = 0.0
        s.extremes[c, 0, j] = np.inf
        s.extremes[c, 1, j] = -np.inf
    panel_rows = s.panel.shape[2]
    for first in range(0, hi - lo, panel_rows):
        n_rows = min(panel_rows, hi - lo - first)
        _gather_problem_rows(data, lo, first, n_rows, c, s)
        total += _add_weighted_sums(s.panel, c, n_columns, n_rows, s.mean)
        _add_extremes(s.panel, c, n_columns, n_rows, s.extremes)
    for j in range(n_columns):
        s.mean[c, j] = s.mean[c, j] / total if fit_intercept else 0.0
    return total


@_inlined_kernel
def _centred_gram(data, lo, hi, total, c, s):
    # NumPy, with Zc = sqrt(sg) * ([Xg, Yg] - mean): gram = Zc.T @ Zc / total, of which
    # the features' block is the Gram matrix, the cross block the features' products
    # with the targets, and the targets' diagonal their variances. A second pass over
    # rows still in cache (no gather when the problem is one panel): centring first
    # keeps the sums free of the cancellation of raw moments.
    n_columns = data.X.shape[1] + data.Y.shape[1]
    for j in range(n_columns):
        for l in range(n_columns):
            s.gram[c, j, l] = 0.0
    panel_rows = s.panel.shape[2]
    for first in range(0, hi - lo, panel_rows):
        n_rows = min(panel_rows, hi - lo - first)
        if hi - lo > panel_rows:
            _gather_problem_rows(data, lo, first, n_rows, c, s)
        _centre_rows(s.panel, s.mean, c, n_columns, n_rows, s.centred)
        _add_gram(s.centred, c, n_columns, n_rows, s.gram)
    for j in range(n_columns):
        for l in range(j, n_columns):
            s.gram[c, j, l] /= total
            s.gram[c, l, j] = s.gram[c, j, l]


# The sums of fit_many over the rows of a panel, each loop a reduction that fastmath's
# reassociation lets LLVM vectorize (the callers are inlined, which would drop it).
_sum_kernel = njit(**_OPTIONS, fastmath={"reassoc"})


@_sum_kernel
def _add_weighted_sums(panel, c, n_columns, n_rows, sums):
    # NumPy: sums[c] += panel[c, :n_columns, :n_rows] @ panel[c, n_columns, :n_rows]
    # (the weights' row); returns the weights' sum.
    for j in range(n_columns):
        acc = 0.0
        for i in range(n_rows):
            acc += panel[c, j, i] * panel[c, n_columns, i]
        sums[c, j] += acc
    total = 0.0
    for i in range(n_rows):
        total += panel[c, n_columns, i]
    return total


@_sum_kernel
def _add_extremes(panel, c, n_columns, n_rows, extremes):
    # NumPy: extremes[c, 0] = np.minimum(extremes[c, 0], panel[c, :-1, :n_rows].min(axis=1)),
    # and extremes[c, 1] likewise with the maximum
    for j in range(n_columns):
        low, high = extremes[c, 0, j], extremes[c, 1, j]
        for i in range(n_rows):
            low = min(low, panel[c, j, i])
            high = max(high, panel[c, j, i])
        extremes[c, 0, j], extremes[c, 1, j] = low, high


@_sum_kernel
def _add_gram(a, c, n_columns, n_rows, gram):
    # NumPy: gram[c] += a[c, :, :n_rows] @ a[c, :, :n_rows].T, upper triangle
    for j in range(n_columns):
        for l in range(j, n_columns):
            acc = 0.0
            for i in range(n_rows):
                acc += a[c, j, i] * a[c, l, i]
            gram[c, j, l] += acc


@_kernel
def _add_residual_sums(panel, r, c, n_features, n_rows, grad, low, k):
    # NumPy: the pairs (grad[c, k, :D], low[c, k, :D]) += panel[c, :D, :n_rows] @ sR and
    # (grad[c, k, D], low[c, k, D]) += sR.sum(), each product's and sum's rounding
    # error kept (_accurate_group's steps); returns R @ sR (R and sR: pairs in r, see
    # _residuals). A row at a time, its columns' chains side by side.
    for i in range(n_rows):
        b_hi, b_lo = r[c, 2, i], r[c, 3, i]
        for j in range(n_features + 1):
            a = panel[c, j, i] if j < n_features else 1.0
            p = a * b_hi
            p_error = _fma(a, b_hi, -p) + a * b_lo
            s, s_error = _two_sum(grad[c, k, j], p)
            grad[c, k, j] = s
            low[c, k, j] += s_error + p_error
    sq = 0.0
    for i in range(n_rows):
        sq += r[c, 0, i] * r[c, 2, i]
    return sq


@_inlined_kernel
def _standardize(s, c, n_features, n_targets, l2, n_rows):
    # StandardizedCoordinates: inverse = 1 / std of each feature (0 for a constant
    # one, whose values are all equal: _accelerated.constant_columns); the Hessian in
    # u, inverse * gram * inverse + l2 diag(inverse**2) (the L2 term of w = inverse *
    # u), and the cross products inverse * gram[:D, D:], both in place. Returns False
    # (fastgd.fit is to fit the problem) if a column's largest magnitude is outside the
    # range of plain products, or a feature's variance is within the rounding of its
    # mean although its values differ.
    scalable = True
    for j in range(n_features + n_targets):
        largest = max(abs(s.extremes[c, 0, j]), abs(s.extremes[c, 1, j]))
        scalable &= largest == 0.0 or _PRODUCT_MIN < largest < _PRODUCT_MAX
    for j in range(n_features):
        variance, bound = s.gram[c, j, j], n_rows * _EPS * s.mean[c, j]
        suspect = variance <= n_rows * _EPS * variance + bound * bound
        constant = suspect and s.extremes[c, 0, j] == s.extremes[c, 1, j]
        scalable &= constant or not suspect
        s.inverse[c, j] = 0.0 if constant else 1.0 / np.sqrt(variance)
    for j in range(n_features):
        for l in range(n_features):
            s.gram[c, j, l] *= s.inverse[c, j] * s.inverse[c, l]
        s.gram[c, j, j] += l2 * s.inverse[c, j] * s.inverse[c, j]
        for k in range(n_targets):
            s.gram[c, j, n_features + k] *= s.inverse[c, j]
    return scalable


@_inlined_kernel
def _cholesky(s, c, n_features):
    # NumPy: L = np.linalg.cholesky(H) in place in gram[c, :D, :D] (its lower triangle;
    # H the standardized Gram matrix with its L2 term, _standardize), with an identity
    # row for a constant feature (inverse 0: its row and column of H are 0), whose
    # coordinate then stays 0. Returns False at a pivot that is not positive: the
    # features are dependent to the normal equations' precision (_many.py refits).
    for j in range(n_features):
        if s.inverse[c, j] == 0.0:
            for t in range(j):
                s.gram[c, j, t] = 0.0
            s.gram[c, j, j] = 1.0
            continue
        for l in range(j + 1):
            acc = s.gram[c, j, l]
            for t in range(l):
                acc -= s.gram[c, j, t] * s.gram[c, l, t]
            if l < j:
                s.gram[c, j, l] = acc / s.gram[c, l, l]
            elif acc > 0.0:
                s.gram[c, j, j] = np.sqrt(acc)
            else:  # (NaN too)
                return False
    return True


@_inlined_kernel
def _solve(s, c, n_features):
    # NumPy: work[c, :D] = H^-1 work[c, :D], by the factor in gram (L z = x, L.T x = z)
    for j in range(n_features):
        acc = s.work[c, j]
        for t in range(j):
            acc -= s.gram[c, j, t] * s.work[c, t]
        s.work[c, j] = acc / s.gram[c, j, j]
    for j in range(n_features - 1, -1, -1):
        acc = s.work[c, j]
        for t in range(j + 1, n_features):
            acc -= s.gram[c, t, j] * s.work[c, t]
        s.work[c, j] = acc / s.gram[c, j, j]


@_inlined_kernel
def _factor_norms(s, c, n_features):
    # (trace(H^-1), trace(H)) from the factor: ||L^-1||_F^2, a column of L^-1 at a time
    # (L z = e_j, in work), and ||L||_F^2
    inverse_trace, trace = 0.0, 0.0
    for j in range(n_features):
        for l in range(j, n_features):
            acc = 1.0 if l == j else 0.0
            for t in range(j, l):
                acc -= s.gram[c, l, t] * s.work[c, t]
            s.work[c, l] = acc / s.gram[c, l, l]
            inverse_trace += s.work[c, l] * s.work[c, l]
        for t in range(j + 1):
            trace += s.gram[c, j, t] * s.gram[c, j, t]
    return inverse_trace, trace


@_inlined_kernel
def _solution(s, c, n_features, n_targets, fit_intercept):
    # The small problem solved in the standardized coordinates, u = H^-1 cross[:, k] and
    # (centred features are orthogonal to the intercept's) u_b = the mean of y, into
    # theta = T u: w = inverse * u, b = u_b - mean @ w (0 without an intercept)
    for k in range(n_targets):
        for j in range(n_features):
            s.work[c, j] = s.gram[c, j, n_features + k]
        _solve(s, c, n_features)
        b = s.mean[c, n_features + k] if fit_intercept else 0.0
        for j in range(n_features):
            w = s.inverse[c, j] * s.work[c, j]
            s.theta[c, k, j] = w
            b -= s.mean[c, j] * w if fit_intercept else 0.0
        s.theta[c, k, n_features] = b


@_inlined_kernel
def _newton_step(s, c, n_features, n_targets):
    # The Newton step from the gradient on the rows (grad, in u): step = H^-1 g_u, and
    # g_b on the intercept's coordinate (whose Hessian is 1)
    for k in range(n_targets):
        for j in range(n_features):
            s.work[c, j] = s.grad[c, k, j]
        _solve(s, c, n_features)
        for j in range(n_features):
            s.step[c, k, j] = s.work[c, j]
        s.step[c, k, n_features] = s.grad[c, k, n_features]


@_inlined_kernel
def _refine(s, c, n_features, n_targets, fit_intercept):
    # theta less the Newton step, in theta's coordinates (T step: a step of w, and of b
    # its own less the mean's share), so that b keeps its last bits: from u it would
    # carry the rounding of mean @ w at every pass
    for k in range(n_targets):
        b_step = s.step[c, k, n_features] if fit_intercept else 0.0
        for j in range(n_features):
            w_step = s.inverse[c, j] * s.step[c, k, j]
            s.theta[c, k, j] -= w_step
            b_step -= s.mean[c, j] * w_step if fit_intercept else 0.0
        s.theta[c, k, n_features] -= b_step


@_inlined_kernel
def _coefficients(s, c, g, out, n_features, n_targets, single):
    # theta into out, rounded to float32 when X is (single): the certificate is of the
    # coefficients returned
    for k in range(n_targets):
        for j in range(n_features):
            w = s.theta[c, k, j]
            out.W[g, k, j] = np.float64(np.float32(w)) if single else w
        b = s.theta[c, k, n_features]
        out.b[g, k] = np.float64(np.float32(b)) if single else b


@_inlined_kernel
def _residual_sums(data, lo, hi, c, s, g, out):
    # The gradient's sums on the problem's own rows at out's coefficients, as if in
    # twice the working precision, then rounded (NumPy: r = Xg @ w + b - Yg;
    # grad[:, :D] = (sg * r).T @ Xg, grad[:, D] = sg @ r; _reference.accurate_sums), a
    # panel at a time (the pairs r and sg * r in rows 0 to 3 of centred). Returns sg @ r**2.
    n_features, n_targets = data.X.shape[1], data.Y.shape[1]
    for k in range(n_targets):
        for j in range(n_features + 1):
            s.grad[c, k, j] = 0.0
            s.low[c, k, j] = 0.0
    sq = 0.0
    panel_rows = s.panel.shape[2]
    for first in range(0, hi - lo, panel_rows):
        n_rows = min(panel_rows, hi - lo - first)
        if hi - lo > panel_rows:
            _gather_problem_rows(data, lo, first, n_rows, c, s)
        for k in range(n_targets):
            _residuals(s.panel, out.W, out.b, g, k, c, n_features, n_rows, s.centred)
            sq += _add_residual_sums(s.panel, s.centred, c, n_features, n_rows, s.grad, s.low,
                                     k)
    for k in range(n_targets):
        for j in range(n_features + 1):
            s.grad[c, k, j] += s.low[c, k, j]
    return sq


@_inlined_kernel
def _certificate(data, lo, hi, o, total, c, s, g, out):
    # At out's coefficients of problem g: the gradient on the problem's own rows, in u
    # (T.T g: g_u = inverse * (G_W + l2 w - g_b mean), and g_b), into grad; returns
    # (sg @ r**2, the squared norm of W).
    n_features, n_targets = data.X.shape[1], data.Y.shape[1]
    loss = _residual_sums(data, lo, hi, c, s, g, out)
    penalty = 0.0
    for k in range(n_targets):
        g_b = s.grad[c, k, n_features] / total if o.fit_intercept else 0.0
        for j in range(n_features):
            w = out.W[g, k, j]
            penalty += w * w
            s.grad[c, k, j] = ((s.grad[c, k, j] / total + o.l2 * w - g_b * s.mean[c, j])
                               * s.inverse[c, j])
        s.grad[c, k, n_features] = g_b
    return loss, penalty


@_inlined_kernel
def _gamma(n):
    # Higham's gamma_n: the worst-case relative rounding of n sequential operations
    return n * _EPS / (1.0 - n * _EPS)


@_inlined_kernel
def _scaled_norm(values, n):
    # NumPy: np.linalg.norm(values[:n]), in units of its largest entry (no underflow
    # or overflow of the squares)
    largest = 0.0
    for j in range(n):
        largest = max(largest, abs(values[j]))
    if not largest > 0.0:  # (0, or NaN)
        return largest
    total = 0.0
    for j in range(n):
        total += (values[j] / largest) ** 2
    return largest * np.sqrt(total)


@_inlined_kernel
def _single_rounding(s, c, n_features, n_targets):
    # The largest relative rounding of theta to float32, |float32(v) - v| / |v| (half
    # an ulp for normal numbers, more for subnormal ones; inf where float32 overflows)
    worst = 0.0
    for k in range(n_targets):
        for j in range(n_features + 1):
            value = s.theta[c, k, j]
            if value != 0.0:
                worst = max(worst, abs(np.float64(np.float32(value)) - value) / abs(value))
    return worst


@_inlined_kernel
def _relative(value, e, scale):
    # _direct.relative_error of one coefficient: e / (|value| - e), or against the
    # scale of the others when e reaches |value|
    if e == 0.0:
        return 0.0
    return e / (value - e) if value > e else (e / scale if scale > 0 else np.inf)


@_inlined_kernel
def _target_bound(o, c, s, g, out, k, n_features, error, step):
    # The largest relative error of target k's coefficients, normwise `error` in u
    # (b = u_b - t . u: error (1 + ||t||) in b), at out's point, or (step) at the next
    # point, out's less the Newton step, with its own rounding (2 eps of each value)
    shift2, scale, own = 0.0, 0.0, 2.0 * _EPS if step else 0.0
    b = out.b[g, k]
    for j in range(n_features):
        if s.inverse[c, j] > 0:
            t = abs(s.mean[c, j]) * s.inverse[c, j]
            shift2 += t * t
            u = out.W[g, k, j] / s.inverse[c, j] - (s.step[c, k, j] if step else 0.0)
            scale = max(scale, abs(u))
            if step and o.fit_intercept:
                b += s.mean[c, j] * s.inverse[c, j] * s.step[c, k, j]
    if step and o.fit_intercept:
        b -= s.step[c, k, n_features]
    if scale == 0.0:
        scale = abs(b)
    worst = 0.0
    if o.fit_intercept:
        worst = _relative(abs(b), error * (1.0 + np.sqrt(shift2)) + own * abs(b), scale)
    for j in range(n_features):
        if s.inverse[c, j] > 0:
            u = abs(out.W[g, k, j] / s.inverse[c, j] - (s.step[c, k, j] if step else 0.0))
            worst = max(worst, _relative(u, error + own * u, scale))
    return worst


@_inlined_kernel
def _coefficient_bound(o, total, c, s, g, out, n_rows, n_features, n_targets, loss, norms):
    # (now, next): the largest relative error of a coefficient at out's point, from
    # the gradient on the rows there (in grad) and the factor (norms: trace(H^-1),
    # trace(H)), and at the next point, out's less the Newton step from that gradient
    # (in step), before a pass at it. As _direct.py's bounds, normwise: ||u - u*|| <=
    # ||H^-1|| (||g|| + e) now, ||H~^-1 E|| ||u - u*|| + ||H~^-1|| e next (H~ the
    # factor's, E its error: ||H^-1|| <= trace(H~^-1) / (1 - rho), ||H~^-1 E|| <= rho),
    # e the gradient's rounding: each residual a Dot2 pair within gamma(D + 2)^2 of its
    # terms a_i, each sum a pair within gamma(N + 2)^2 of sum |x_ij r_i|, bounded by
    # Cauchy-Schwarz with the columns' norms, and the sums' own rounding to float64
    # (Ogita, Rump and Oishi's Dot2). (inf, inf) when the factor's error could be half
    # of H^-1 (rho >= 1/2).
    inverse_trace, trace = norms
    root = np.sqrt(total)
    # per feature, with t_j = |m_j| / s_j: v_j = rms_j / s_j = sqrt(1 + t_j^2), and
    # v_j + t_j, the reach of the sums' rounding into g_u (constant features: g_u = 0)
    v2, reach2 = 0.0, 0.0
    for j in range(n_features):
        if s.inverse[c, j] > 0:
            t = abs(s.mean[c, j]) * s.inverse[c, j]
            v2 += 1.0 + t * t
            reach2 += (np.sqrt(1.0 + t * t) + t) ** 2
    # H's error: the centred products' sums (gamma(N + 4) each, in standardized units),
    # the means' error squared (gamma(N)^2 v_j v_l), Cholesky's (gamma(D + 1) |L| |L.T|)
    rho = inverse_trace * (_gamma(n_rows + 4) * n_features + _gamma(n_rows) ** 2 * v2
                           + _gamma(n_features + 1) * trace)
    if not rho < 0.5:
        return np.inf, np.inf
    n_coords = n_features + 1 if o.fit_intercept else n_features
    residual_norm = np.sqrt(max(loss, 0.0))
    worst_now, worst_next = 0.0, 0.0
    for k in range(n_targets):
        # a bound on sqrt(sum_i s_i a_i^2), a_i = sum_j |x_ij w_j| + |b| + |y_i|
        a = root * (abs(out.b[g, k])
                    + np.sqrt(s.gram[c, n_features + k, n_features + k]
                              + s.mean[c, n_features + k] ** 2))
        for j in range(n_features):
            if s.inverse[c, j] > 0:
                rms_j = np.sqrt(1.0 / (s.inverse[c, j] * s.inverse[c, j]) + s.mean[c, j] ** 2)
            else:
                rms_j = abs(s.mean[c, j])
            a += root * abs(out.W[g, k, j]) * rms_j
        # g_u's own rounding: a few eps of its terms, |G_W / N| <= |g_u| s + |l2 w| + |g_b m|
        # (the norms scaled, as LAPACK's dnrm2: a gradient near 1e-166 squares to 0)
        g_norm = _scaled_norm(s.grad[c, k], n_coords)
        step_norm = _scaled_norm(s.step[c, k], n_coords)
        for j in range(n_coords):
            own = abs(s.grad[c, k, j])
            if j < n_features:
                own += 2 * s.inverse[c, j] * (abs(o.l2 * out.W[g, k, j])
                                              + abs(s.grad[c, k, n_features] * s.mean[c, j]))
            s.work[c, j] = own
        own_norm = _scaled_norm(s.work[c], n_coords)
        # the sums' rounding (a_i's and |x_ij r_i|'s, by Cauchy-Schwarz), in u
        sums = (_gamma(n_features + 2) ** 2 * a + _gamma(n_rows + 2) ** 2 * residual_norm) / root
        rounding = (sums * np.sqrt(reach2 + (1.0 if o.fit_intercept else 0.0))
                    + 4 * _EPS * own_norm)
        error = max(inverse_trace, 1.0) * (g_norm + rounding) / (1.0 - rho)
        # the next point: the step taken with H~ (and its rounding, eps of it)
        following = (rho * error + max(inverse_trace, 1.0) * rounding / (1.0 - rho)
                     + 4 * _EPS * step_norm)
        worst_now = max(worst_now, _target_bound(o, c, s, g, out, k, n_features, error,
                                                 False))
        worst_next = max(worst_next, _target_bound(o, c, s, g, out, k, n_features,
                                                   following, True))
    return worst_now, worst_next


@_inlined_kernel
def _certify(data, lo, hi, o, total, c, s, g, out, single, norms):
    # theta into out, its gradient on the rows (into grad) and the Newton step from it
    # (into step), the objective there into out.loss; returns the coefficient bounds
    # (now, next) of out's point and of the next one (_coefficient_bound)
    n_features, n_targets = data.X.shape[1], data.Y.shape[1]
    _coefficients(s, c, g, out, n_features, n_targets, single)
    loss, penalty = _certificate(data, lo, hi, o, total, c, s, g, out)
    out.loss[g] = loss / (2.0 * total)
    if o.l2 > 0:  # (0 * inf is NaN: coefficients beyond 1e154 are no penalty without one)
        out.loss[g] += 0.5 * o.l2 * penalty
    if not out.loss[g] <= _HUGE:
        return np.inf, np.inf
    _newton_step(s, c, n_features, n_targets)
    return _coefficient_bound(o, total, c, s, g, out, hi - lo, n_features, n_targets, loss,
                              norms)


@_inlined_kernel
def _direct_solve(data, lo, hi, o, total, c, s, g, out):
    # _direct.DirectSolve on the normal equations of problem g: the solution, then a
    # pass for its gradient on the rows, which certifies it, and the next point, its
    # Newton step taken (returned instead where its own bound, known before its pass,
    # is lower); more passes while the bound is above tol and each halves it. Returns
    # (status, passes). The bound is of the float64 coefficients; float32 X's are
    # rounded to float32 after, which adds at most half their ulp (relative): a bound
    # that only that rounding takes above tol is ROUNDED (fit's float32 coefficients
    # would miss it the same), not UNCERTIFIED.
    n_features, n_targets = data.X.shape[1], data.Y.shape[1]
    single = data.X.itemsize == 4
    norms = _factor_norms(s, c, n_features)
    _solution(s, c, n_features, n_targets, o.fit_intercept)
    previous = np.inf
    passes = min(max(o.max_iter, 1), MAX_PASSES)
    status, done = UNCERTIFIED, 0
    while done < passes:
        done += 1
        bound, following = _certify(data, lo, hi, o, total, c, s, g, out, False, norms)
        if not out.loss[g] <= _HUGE:
            out.bound[g] = bound
            return DIVERGED, done
        stepped = following < bound
        if stepped:  # the next point, certified before its pass
            _refine(s, c, n_features, n_targets, o.fit_intercept)
            _coefficients(s, c, g, out, n_features, n_targets, False)
            bound = following
        if single:  # float32 coefficients: their own rounding (at least half an ulp)
            rounding = max(_HALF_ULP32, _single_rounding(s, c, n_features, n_targets))
            out.bound[g] = bound + rounding * (1.0 + bound)
        else:
            out.bound[g] = bound
        if o.tol > 0 and out.bound[g] <= o.tol:
            status = CONVERGED
            break
        if done == passes or not bound < 0.5 * previous:
            status = ROUNDED if single and o.tol > 0 and bound <= o.tol else UNCERTIFIED
            break
        previous = bound
        if not stepped:
            _refine(s, c, n_features, n_targets, o.fit_intercept)
    if single:  # the coefficients returned, and the objective at them
        _certify(data, lo, hi, o, total, c, s, g, out, True, norms)
        if not out.loss[g] <= _HUGE:  # (beyond float32's range)
            out.bound[g] = np.inf
            return DIVERGED, done
    return (MAX_ITER if o.tol == 0 else status), done


@_kernel
def _fit_problems(data, o, s, out, first, last, c):
    # Problems [first, last), one after the other, in slot c of the scratch.
    for g in range(first, last):
        lo, hi = data.offsets[g], data.offsets[g + 1]
        total = _problem_means(data, lo, hi, o.fit_intercept, c, s)
        _centred_gram(data, lo, hi, total, c, s)
        scalable = _standardize(s, c, data.X.shape[1], data.Y.shape[1], o.l2, hi - lo)
        if not (scalable and _cholesky(s, c, data.X.shape[1])):
            # not to be trusted, or dependent: _many.py refits it with fastgd.fit
            out.n_iter[g] = 0
            out.status[g] = UNCERTIFIED
            continue
        out.status[g], out.n_iter[g] = _direct_solve(data, lo, hi, o, total, c, s, g, out)


@_kernel
def fit_many(data, options, scratch, result, first, last, slot):
    """Fit problems [first, last) of data (_layout.ManyData) into result
    (_layout.ManyResult), one after the other, in the scratch's slot (a
    _layout.ManyScratch). Serial: the backend runs ranges of problems in threads of
    its own (no parallel=True function to compile: that took 10 s of a first call)."""
    _fit_problems(data, options, scratch, result, first, last, slot)


# ------------------------------------------------------------- the Lasso homotopy
#
# _reference.lasso_path compiled: the minimizers of 0.5 u.H u - q.u + t sum_j
# weights_j |u_j| at each t of scales (decreasing), one walk down the homotopy. The
# active columns' H_SS is held as its Cholesky factor (scratch.factor, lower, its rows
# in the order the columns joined: scratch.order), which a join extends by one row
# (the new pivot is the joined column's distance to the active ones in H's metric:
# below 64 eps ||H_SS||_inf it depends on them, and is left out) and a drop rebuilds.
# Each piece then costs two triangular solves and one product with H's active
# columns; the scratch is a _layout.HomotopyScratch.


@_kernel
def _sign(x):
    # np.sign(x)
    return 1.0 if x > 0 else (-1.0 if x < 0 else 0.0)


@_kernel
def _homotopy_append(H, s, n_active, column):
    # Extend the factor of the first n_active columns of s.order by `column`, if it is
    # independent of them; return whether it is. NumPy:
    #   l = solve(L, H[S, column]); pivot = H[column, column] - l @ l
    #   independent = pivot > 64 eps max(abs(H[S + [column]][:, S + [column]]).sum(axis=1))
    L, order, l = s.factor, s.order, s.work
    for p in range(n_active):
        value = H[order[p], column]
        for r in range(p):
            value -= L[p, r] * l[r]
        l[p] = value / L[p, p]
    pivot = H[column, column]
    for p in range(n_active):
        pivot -= l[p] * l[p]
    largest = 0.0
    for p in range(n_active + 1):
        row = order[p] if p < n_active else column
        total = abs(H[row, column])
        for r in range(n_active):
            total += abs(H[row, order[r]])
        largest = max(largest, total)
    if not pivot > 64.0 * _EPS * largest:
        return False
    for p in range(n_active):
        L[n_active, p] = l[p]
    L[n_active, n_active] = np.sqrt(pivot)
    return True


@_kernel
def _homotopy_refactor(H, s, n_active, dropped):
    # The factor of the active columns but `dropped`, rebuilt in their join order;
    # returns how many there are (a column that has become dependent is left out).
    kept = 0
    for p in range(n_active):
        column = s.order[p]
        if column == dropped:
            continue
        if _homotopy_append(H, s, kept, column):
            s.order[kept] = column
            kept += 1
        else:
            s.active[column], s.signs[column], s.dependent[column] = 0, 0.0, 1
    return kept


@_kernel
def _homotopy_piece(H, q, weights, s, n_active):
    # The piece u_S(t) = a - t v, c(t) = q - H u(t) = c0 + t slopes. NumPy (S in join
    # order): a, v = solve(H_SS, [q_S, weights_S signs_S]) (L L.T: forward, then back
    # substitution); c0 = q - H[:, S] @ a; slopes = H[:, S] @ v
    L, order, a, v = s.factor, s.order, s.a, s.v
    for p in range(n_active):
        column = order[p]
        x, y = q[column], weights[column] * s.signs[column]
        for r in range(p):
            x -= L[p, r] * a[r]
            y -= L[p, r] * v[r]
        a[p], v[p] = x / L[p, p], y / L[p, p]
    for p in range(n_active - 1, -1, -1):
        x, y = a[p], v[p]
        for r in range(p + 1, n_active):
            x -= L[r, p] * a[r]
            y -= L[r, p] * v[r]
        a[p], v[p] = x / L[p, p], y / L[p, p]
    for j in range(q.shape[0]):
        c0, slope = q[j], 0.0
        for p in range(n_active):
            h = H[j, order[p]]
            c0 -= h * a[p]
            slope += h * v[p]
        s.c0[j], s.slopes[j] = c0, slope


@_kernel
def _homotopy_next_event(weights, s, n_active, t, floor, changed):
    # The next event below t: the largest t' in (floor, t] where an inactive,
    # independent column joins (c0_j + t' slopes_j = +-t' weights_j; one at its bound
    # at t to rounding, or past it, at t if it moves out, never on that side if it
    # moves in) or an active one drops (a_p - t' v_p = 0, where |u_p| falls as t'
    # does; at t if at 0 then to rounding, or past it), the column that changed last
    # only strictly below t (where rounding cannot bring it back). Returns (t',
    # column, is_join), column -1 for none (every scale above the floor is on this
    # piece).
    next_t, event, joins = floor, -1, False
    for h in range(2):
        sign = 1.0 - 2.0 * h
        for j in range(weights.shape[0]):
            if s.active[j] or s.dependent[j]:
                continue
            ceiling = t * (1.0 - 1e-9) if j == changed else t
            hit = s.c0[j] / (sign * weights[j] - s.slopes[j])
            correlation = s.c0[j] + t * s.slopes[j]
            if (j != changed and _sign(correlation) == sign
                    and abs(correlation) >= t * weights[j] * (1.0 - 64.0 * _EPS)):
                # at or past its bound at t on this side: its direction decides
                hit = t if sign * s.slopes[j] < weights[j] else -np.inf
            if hit <= ceiling and hit > next_t:
                next_t, event, joins = hit, j, True
    for p in range(n_active):
        column = s.order[p]
        ceiling = t * (1.0 - 1e-9) if column == changed else t
        hit = s.a[p] / s.v[p]
        falling = s.signs[column] * s.v[p] < 0
        if (falling and column != changed and s.signs[column] * (s.a[p] - t * s.v[p])
                <= 4.0 * _EPS * (abs(s.a[p]) + t * abs(s.v[p]))):
            hit = t  # (at 0 at t to rounding, or past it: it drops now)
        if falling and hit <= ceiling and hit > next_t:
            next_t, event, joins = hit, column, False
    return next_t, event, joins


@_kernel
def _homotopy_solve(q, weights, scales, s, n_active, bottom, at, solutions):
    # u at the scales from `at` on that are >= bottom, on this piece: rows of
    # solutions (its other entries stay 0); returns the index of the first scale left.
    # NumPy: u_S = solve(H_SS, q_S - t weights_S signs_S) at each t (not a - t v, whose
    # difference cancels where u is small beside a)
    L, order, x = s.factor, s.order, s.work
    end = at
    while end < scales.shape[0] and scales[end] >= bottom:
        t = scales[end]
        for p in range(n_active):
            column = order[p]
            value = q[column] - t * weights[column] * s.signs[column]
            for r in range(p):
                value -= L[p, r] * x[r]
            x[p] = value / L[p, p]
        for p in range(n_active - 1, -1, -1):
            value = x[p]
            for r in range(p + 1, n_active):
                value -= L[r, p] * x[r]
            x[p] = value / L[p, p]
            solutions[end, order[p]] = x[p]
        end += 1
    return end


@_kernel
def lasso_path(H, q, weights, scales, scratch, solutions, events):
    """Write into solutions (n, d) the minimizers of ``0.5 u.H u - q.u + t sum_j
    weights_j |u_j|`` at each t of scales (n,), decreasing and positive, and into
    events (n,) int64 the homotopy's events above each t: _reference.lasso_path, on
    H (d, d) C-contiguous, q and weights (d,) float64, scratch a
    _layout.HomotopyScratch of d."""
    s = scratch
    d, n = q.shape[0], scales.shape[0]
    for i in range(n):
        events[i] = 0
        for j in range(d):
            solutions[i, j] = 0.0
    t, changed = 0.0, 0
    for j in range(d):
        s.active[j], s.dependent[j], s.signs[j] = 0, 0, 0.0
        ratio = abs(q[j]) / weights[j]
        if ratio > t:
            t, changed = ratio, j
    at = 0
    while at < n and scales[at] >= t:
        at += 1  # (the solution is 0 down to t)
    if at == n:
        return
    floor = scales[n - 1]
    s.active[changed], s.signs[changed] = 1, _sign(q[changed])
    n_active, joined, n_events = 0, True, 0
    for step in range(1, _layout.HOMOTOPY_STEPS * d + 10):
        n_events = step
        if joined:
            if not _homotopy_append(H, s, n_active, changed):
                s.active[changed], s.signs[changed], s.dependent[changed] = 0, 0.0, 1
                joined = False
                continue
            s.order[n_active] = changed
            n_active += 1
        _homotopy_piece(H, q, weights, s, n_active)
        next_t, event, joins = _homotopy_next_event(weights, s, n_active, t, floor, changed)
        for i in range(at, n):
            events[i] = step
        at = _homotopy_solve(q, weights, scales, s, n_active, next_t, at, solutions)
        t = next_t
        if event < 0:
            return
        changed, joined = event, joins
        if joins:
            s.active[event] = 1
            s.signs[event] = _sign(s.c0[event] + t * s.slopes[event])
        else:
            s.active[event], s.signs[event] = 0, 0.0
            for j in range(d):
                s.dependent[j] = 0  # (the active columns changed)
            n_active = _homotopy_refactor(H, s, n_active, event)
    # (Out of steps, which the budget makes unheard of: the last piece, down to 0.)
    for i in range(at, n):
        events[i] = n_events
    _homotopy_solve(q, weights, scales, s, n_active, 0.0, at, solutions)


# ------------------------------------------------------------- elastic-net paths
#
# _reference.elastic_net_path compiled: each point of the path solved on its active
# set, which starts from the point before's, with the homotopy's factor (the active
# columns' Cholesky factor, built in index order by _homotopy_append) and its
# triangular solves; the homotopy from 0 (lasso_path) where the active set does not
# settle.


@_kernel
def _elastic_net_hessian(H, ridge, l2, s):
    # NumPy: s.hessian = H + l2 * diag(ridge)
    for j in range(H.shape[0]):
        for l in range(H.shape[1]):
            s.hessian[j, l] = H[j, l]
        s.hessian[j, j] += l2 * ridge[j]


@_kernel
def _active_set_factor(s, n_active):
    # The Cholesky factor of H_SS (S: the first n_active columns of s.order; H: the
    # point's s.hessian) into s.factor, lower, a column at a time, each step updating
    # the columns right of it: independent multiply-adds (a join's row, the homotopy's
    # way, is a chain of dependent ones: 4 times slower on a whole factor). Returns
    # the position of the first column whose pivot is below 64 eps ||H_SS||_inf
    # (dependent on the ones before it), or n_active. NumPy: cholesky(H[S][:, S])
    L, order, H, column = s.factor, s.order, s.hessian, s.work
    largest = 0.0
    for p in range(n_active):
        total = 0.0
        for r in range(n_active):
            total += abs(H[order[p], order[r]])
        largest = max(largest, total)
        for r in range(p + 1):
            L[p, r] = H[order[p], order[r]]
    for k in range(n_active):
        if not L[k, k] > 64.0 * _EPS * largest:
            return k
        L[k, k] = np.sqrt(L[k, k])
        for i in range(k + 1, n_active):
            L[i, k] /= L[k, k]
            column[i] = L[i, k]
        for i in range(k + 1, n_active):
            below, row, first = column[i], L[i], np.uint64(k + 1)
            for m in range(np.uint64(i - k)):  # (unsigned: no wraparound, so SIMD)
                row[first + m] -= below * column[first + m]
    return n_active


@_kernel
def _active_set_solve(q, weights, scale, s, u):
    # u (1, d) = 0 but on the active set S (index order), where u_S = solve(H_SS, q_S -
    # t weights_S signs_S), t = scale[0] and H the point's s.hessian; a column the
    # factor finds dependent leaves S (with the ridge part, H_SS is positive definite:
    # only to rounding). Returns whether a coefficient's sign differs from its
    # column's: those leave S.
    n_active = 0
    for j in range(q.shape[0]):
        u[0, j] = 0.0
        if s.active[j]:
            s.order[n_active] = j
            n_active += 1
    dependent = _active_set_factor(s, n_active)
    while dependent < n_active:
        column = s.order[dependent]
        s.active[column], s.signs[column] = 0, 0.0
        for p in range(dependent, n_active - 1):
            s.order[p] = s.order[p + 1]
        n_active -= 1
        dependent = _active_set_factor(s, n_active)
    _homotopy_solve(q, weights, scale, s, n_active, scale[0], 0, u)
    flipped = False
    for p in range(n_active):
        column = s.order[p]
        if _sign(u[0, column]) != s.signs[column]:
            s.active[column], s.signs[column] = 0, 0.0
            flipped = True
    return flipped


@_kernel
def _joining(q, weights, l1, s, u):
    # At u (1, d): the inactive columns whose correlation exceeds their weight join S, with its
    # sign (a tie, within rounding, is not a violation); returns whether any did.
    # NumPy: c = q - H @ u; joining = ~active & (|c| > l1 weights (1 + 1e-12))
    joined = False
    for j in range(q.shape[0]):
        if s.active[j]:
            continue
        correlation = q[j]
        for l in range(q.shape[0]):
            if s.active[l]:
                correlation -= s.hessian[j, l] * u[0, l]
        if abs(correlation) > l1 * weights[j] * (1.0 + 1e-12):
            s.active[j], s.signs[j] = 1, _sign(correlation)
            joined = True
    return joined


@_kernel
def elastic_net_path(H, q, weights, ridge, l1, l2, scratch, solutions, counts):
    """Write into solutions (n, d) the minimizers of ``0.5 u.H u - q.u + l1_i sum_j
    weights_j |u_j| + l2_i / 2 sum_j ridge_j u_j^2`` at each point (l1[i], l2[i]) of
    a path (decreasing, each l2_i > 0), each from the active set of the point before,
    and into counts (n,) int64 each point's solves: _reference.elastic_net_path, on
    H (d, d) C-contiguous, q, weights and ridge (d,) float64, scratch a
    _layout.HomotopyScratch of d."""
    s = scratch
    d = q.shape[0]
    for j in range(d):
        s.active[j], s.signs[j], s.dependent[j] = 0, 0.0, 0
    for i in range(l1.shape[0]):
        _elastic_net_hessian(H, ridge, l2[i], s)
        scale, u = l1[i:i + 1], solutions[i:i + 1]
        counts[i] = _layout.ACTIVE_SET_STEPS + 1
        for n_solves in range(1, _layout.ACTIVE_SET_STEPS + 1):
            if _active_set_solve(q, weights, scale, s, u):
                continue
            if not _joining(q, weights, l1[i], s, u):
                counts[i] = n_solves
                break
        if counts[i] > _layout.ACTIVE_SET_STEPS:  # the homotopy from 0, and its signs
            lasso_path(s.hessian, q, weights, scale, s, u, counts[i:i + 1])
            counts[i] = _layout.ACTIVE_SET_STEPS + 1
            for j in range(d):
                s.active[j] = u[0, j] != 0
                s.signs[j], s.dependent[j] = _sign(u[0, j]), 0


# ------------------------------------------------------------ for users' loops
# The kernels of fastgd.kernels (documented there), defined here rather than in
# kernels.py: Numba invalidates a function's cache when its own file changes, not
# when a function it inlines or links changes in another file; so the kernels that
# users call would keep running the code of an older _numba_kernels.py.


def _exported_as(name):
    """Give a function fastgd.kernels' public name and module (help(), doctests)."""
    def exported(py_func):
        py_func.__name__ = py_func.__qualname__ = name
        py_func.__module__ = "fastgd.kernels"
        return py_func
    return exported


# What _update reads of a fit's FitOptions and OptimizerArrays: built in the
# kernels below, so that users pass plain numbers and arrays.
_StepOptions = namedtuple("_StepOptions", "l1 l2 n_penalized momentum nesterov fit_intercept")
_Velocities = namedtuple("_Velocities", "velocity_W velocity_b")


@_kernel
@_exported_as("gradient")
def gradient_for_users(X, Y, W, b, workspace, sample_weight=None):
    """The gradient of the (weighted) half mean squared error and the loss, in one
    pass over X.

    With R = X @ W.T + b - Y and s = sample_weight (1 without weights), writes
    ``G_W = (s R).T @ X / sum(s)`` into ``workspace.grad_W`` and
    ``g_b = (s R).sum(0) / sum(s)`` into ``workspace.grad_b`` (float64), and returns
    ``sum(s R**2) / (2 sum(s))``: ``fastgd.gradient``'s numbers (with weights, to
    the rounding of sum(s), summed here in order).

    Parameters
    ----------
    X : ndarray (N, D), float32 or float64, C- or Fortran-contiguous
    Y : ndarray (N, K), X's dtype, any strides
    W : ndarray (K, D), X's dtype, C-contiguous
    b : ndarray (K,), X's dtype
    workspace : GradientScratch
        From ``fastgd.kernels.gradient_workspace(N, D, K, X.dtype)``; this thread's own.
    sample_weight : ndarray (N,), X's dtype, optional

    Returns
    -------
    float
        The loss at (W, b).

    Examples
    --------
    >>> import numpy as np
    >>> from fastgd import kernels
    >>> X = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    >>> Y = np.array([[1.0], [2.0], [4.0]])
    >>> W, b = np.zeros((1, 2)), np.zeros(1)
    >>> workspace = kernels.gradient_workspace(3, 2)
    >>> kernels.gradient(X, Y, W, b, workspace)
    3.5
    >>> workspace.grad_W, workspace.grad_b  # NumPy: (X @ W.T + b - Y).T @ X / 3, ...
    (array([[ -9.        , -11.33333333]]), array([-2.33333333]))
    """
    if sample_weight is None:
        weights = workspace.block_b[0, :0]  # empty, in X's dtype: no weights
        total_weight = np.float64(X.shape[0])
    else:
        weights = sample_weight
        total_weight = 0.0  # NumPy: sample_weight.sum(dtype=np.float64)
        for i in range(sample_weight.shape[0]):
            total_weight += sample_weight[i]
    x_is_f = X.strides[1] != X.itemsize
    return _gradient_into(X, Y, W, b, weights, total_weight, x_is_f, workspace)


@_kernel
@_exported_as("step")
def step_for_users(W, b, grad_W, grad_b, lr, l1=0.0, l2=0.0, fit_intercept=True):
    """One step of (proximal) gradient descent on W and b, in place.

    ``W -= lr * (grad_W + l2 * W)``, then soft-thresholding by ``lr * l1`` (exact
    zeros) when ``l1 > 0``; ``b -= lr * grad_b`` if ``fit_intercept`` (b is not
    penalized). In float64, rounded once to W's dtype: ``fastgd.fit``'s update.

    Parameters
    ----------
    W : ndarray (K, D), float32 or float64, C-contiguous
    b : ndarray (K,), W's dtype
    grad_W : ndarray (K, D), float64
    grad_b : ndarray (K,), float64
        The gradient of the data term (``gradient``'s ``workspace.grad_W``, ...).
    lr : float
        The step size.
    l1, l2 : float, default=0.0
        The penalty ``l1 * |W|.sum() + l2 / 2 * (W**2).sum()``.
    fit_intercept : bool, default=True
        Whether b is updated.

    Returns
    -------
    float
        The squared norm of the gradient map ``(old - new) / lr`` over the
        coefficients updated: 0 exactly at the optimum, a stopping test.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgd import kernels
    >>> W, b = np.array([[1.0, -0.05]]), np.array([2.0])
    >>> kernels.step(W, b, np.array([[0.5, 0.0]]), np.array([1.0]), 0.1, l1=1.0)
    3.5
    >>> W, b  # 1 - 0.1 * 0.5 - 0.1 * 1, an exact zero, 2 - 0.1 * 1
    (array([[0.85, 0.  ]]), array([1.9]))

    The gradient map is (1.5, -0.5) for W and 1 for b: 1.5**2 + 0.5**2 + 1**2 = 3.5.
    """
    no_velocity = grad_W[:0]  # no momentum: _update does not read the velocities
    options = _StepOptions(float(l1), float(l2), W.shape[1], 0.0, False, fit_intercept)
    return _update(Model(W, b), grad_W, grad_b, lr, options,
                   _Velocities(no_velocity, no_velocity))


@_kernel
@_exported_as("momentum_step")
def momentum_step_for_users(W, b, grad_W, grad_b, lr, velocity_W, velocity_b, momentum,
                  nesterov=False, l1=0.0, l2=0.0, fit_intercept=True):
    """``step`` with momentum (torch.optim.SGD's), in place on W, b and the velocities.

    Heavy ball: ``v = momentum * v + g; W -= lr * v`` with g = grad_W + l2 * W (then
    the soft-thresholding of ``step``, v being the step taken / lr); Nesterov:
    ``W -= lr * (g + momentum * v)`` with g the gradient map (FISTA's step). The
    same for b and ``velocity_b`` (not penalized). ``fastgd.fit``'s update with
    ``momentum``, ``nesterov``.

    Parameters
    ----------
    W, b, grad_W, grad_b, lr, l1, l2, fit_intercept
        As in ``step``.
    velocity_W : ndarray (K, D), float64, C-contiguous
    velocity_b : ndarray (K,), float64, C-contiguous
        The velocities, zeros at the start of a fit, updated in place.
    momentum : float
        In [0, 1).
    nesterov : bool, default=False

    Returns
    -------
    float
        The squared norm of the gradient map at the current point (see ``step``).

    Examples
    --------
    >>> import numpy as np
    >>> from fastgd import kernels
    >>> W, b = np.array([[1.0]]), np.array([0.0])
    >>> velocity_W, velocity_b = np.array([[2.0]]), np.zeros(1)
    >>> kernels.momentum_step(W, b, np.array([[1.0]]), np.array([0.0]), 0.1,
    ...                       velocity_W, velocity_b, 0.5)
    1.0
    >>> velocity_W, W  # 0.5 * 2 + 1, 1 - 0.1 * 2
    (array([[2.]]), array([[0.8]]))
    """
    options = _StepOptions(float(l1), float(l2), W.shape[1], float(momentum), nesterov,
                           fit_intercept)
    # _update keeps fastgd's (K, 1) velocity of b: the same memory, viewed so
    velocities = _Velocities(velocity_W, velocity_b.reshape((velocity_b.shape[0], 1)))
    return _update(Model(W, b), grad_W, grad_b, lr, options, velocities)


def max_threads():
    """Threads a prange may use here: NUMBA_NUM_THREADS, or numba.set_num_threads."""
    return get_num_threads()


# ---------------------------------------------------------------------------------
# The entry points of _layout.KERNEL_INTERFACE, which _cython_kernels.pyx exports with
# the same parameters (tests/test_kernel_interface.py compares them): what
# _backends.CompiledBackend calls. Plain Python around the compiled kernels: Numba's
# prange takes its thread count from numba.set_num_threads, which these set for the
# call and restore (a jitted set_num_threads would stop Numba from caching the
# kernel), and on one thread they run the serial twin, which never reaches (so never
# compiles) prange.
# ---------------------------------------------------------------------------------


def _on_threads(n_threads, kernel, *args):
    if n_threads <= 1:
        return kernel(*args)
    before = get_num_threads()
    set_num_threads(n_threads)
    try:
        return kernel(*args)
    finally:
        set_num_threads(before)


_NumbaGradientWorkspace = namedtuple("_NumbaGradientWorkspace",
                                     "kernel chunk_rows n_threads block_rows scratch64 scratchx")


def gradient_workspace(scratch, buffers):
    """What ``gradient`` takes as its ``workspace``, made once per shape: the kernel
    for the scratch's thread count, its chunking and its two flat buffers, which the
    kernel cuts itself (_layout.gradient_views): the dispatcher types 2 arrays faster
    than 8. ``scratch`` is a _layout.GradientScratch of those ``buffers``."""
    kernel = parallel_gradient if scratch.n_threads > 1 else serial_gradient
    return _NumbaGradientWorkspace(kernel, scratch.chunk_rows, scratch.n_threads,
                                   scratch.resid.shape[2], *buffers)


def gradient(X, Y, W, b, weights, total_weight, x_is_f, workspace):
    """Write G_W = (s R).T @ X / sum(s) into the workspace's grad_W and (s R).sum(0) /
    sum(s) into its grad_b; return the loss sum(s R**2) / (2 sum(s)). s = weights
    (N,), or 1 when weights is empty (``no_weights``); total_weight = sum(s) (N
    without weights). One pass over X."""
    kernel, chunk_rows, n_threads, block_rows, scratch64, scratchx = workspace
    if n_threads <= 1:  # (inlined _on_threads: users' loops call this)
        return kernel(X, Y, W, b, weights, total_weight, x_is_f, chunk_rows, n_threads,
                      block_rows, scratch64, scratchx)
    return _on_threads(n_threads, kernel, X, Y, W, b, weights, total_weight, x_is_f,
                       chunk_rows, n_threads, block_rows, scratch64, scratchx)


def no_weights(dtype):
    """What ``gradient`` takes for no weights: an empty array of X's dtype."""
    return np.empty(0, dtype=dtype)


def gradient_runner(workspace):
    """``gradient`` bound to ``workspace``: ``run(X, Y, W, b, weights, total_weight,
    x_is_f) -> loss``, calling its kernel directly."""
    kernel, chunk_rows, n_threads, block_rows, scratch64, scratchx = workspace

    def run(X, Y, W, b, weights, total_weight, x_is_f):
        return kernel(X, Y, W, b, weights, total_weight, x_is_f, chunk_rows, n_threads,
                      block_rows, scratch64, scratchx)

    def run_on_threads(X, Y, W, b, weights, total_weight, x_is_f):
        return _on_threads(n_threads, kernel, X, Y, W, b, weights, total_weight, x_is_f,
                           chunk_rows, n_threads, block_rows, scratch64, scratchx)

    return run if n_threads <= 1 else run_on_threads


def compress(X, Y, b, weights, fit_intercept, x_is_f, chunk_rows, n_threads, R, panel):
    """parallel_compress's factor, on n_threads threads (serial_compress on one)."""
    kernel = parallel_compress if n_threads > 1 else serial_compress
    _on_threads(n_threads, kernel, X, Y, b, weights, fit_intercept, x_is_f, chunk_rows,
                n_threads, R, panel)


def gram(X, Y, b, weights, fit_intercept, x_is_f, chunk_rows, n_threads, G, panel):
    """parallel_gram's Gram matrix, on n_threads threads (serial_gram on one)."""
    kernel = parallel_gram if n_threads > 1 else serial_gram
    _on_threads(n_threads, kernel, X, Y, b, weights, fit_intercept, x_is_f, chunk_rows,
                n_threads, G, panel)


def accurate_sums(X, Y, W, b, weights, chunk_rows, n_threads, sums, pairs, partials,
                  residuals, panel):
    """parallel_accurate_sums' pairs, on n_threads threads (serial_accurate_sums on one)."""
    kernel = parallel_accurate_sums if n_threads > 1 else serial_accurate_sums
    _on_threads(n_threads, kernel, X, Y, W, b, weights, chunk_rows, n_threads, sums, pairs,
                partials, residuals, panel)


def fit(data, model, options, optimizer, scratch, history, max_updates):
    """compiled_fit, on the threads of the scratch's gradient."""
    return _on_threads(scratch.gradient.n_threads, compiled_fit, data, model, options,
                       optimizer, scratch, history, max_updates)


# Launch Numba's threading layer at import (get_num_threads does). The code of every
# kernel that reaches _chunk_sums or compress links in a parallel=True function, which
# needs the layer's scheduler. Numba launches the layer before it runs code read from
# its cache, but forgets to when that code was compiled against a callee itself read
# from the cache (numba issue #9938, seen in 0.68.1): e.g. fit compiled for a new
# signature in a process that loaded _chunk_sums from the cache. A later process that
# runs such a kernel before anything launched the layer (a small fit, which stays on
# the serial path) crashed: "LLVM ERROR: Symbol not found: allocate_sched", or a
# segfault (tests/test_interrupt.py's long fit, tests/test_user_kernels.py's fresh
# processes).
get_num_threads()
