/* FASTGD_PREFETCH_LINE: ask for the cache line holding `address` (a read, kept
 * briefly: the arguments of the Numba kernel's llvm.prefetch calls), where the compiler
 * has __builtin_prefetch; nothing otherwise. No effect on any result. The Cython
 * kernels' FASTGD_PREFETCH and the tiles of _gram.h and _accurate.h. */
#ifndef FASTGD_PREFETCH_H
#define FASTGD_PREFETCH_H

#if defined(__GNUC__) || defined(__clang__)
#define FASTGD_PREFETCH_LINE(address) __builtin_prefetch((const void *)(address), 0, 1)
#else
#define FASTGD_PREFETCH_LINE(address) ((void)0)
#endif

#endif
