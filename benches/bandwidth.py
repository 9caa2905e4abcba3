"""The machine's streaming-read bandwidth, measured in the same run as the kernels.

A full-batch gradient must read X once, so bytes(X) / bandwidth is a floor on its
time once X is larger than the caches. The probe is the simplest kernel that reads
every byte once, on every thread: a parallel sum (vectorized, order irrelevant).
"""

import numpy as np
from numba import njit, prange


@njit(parallel=True, fastmath=True, cache=True)
def stream_sum(a):
    total = 0.0
    for i in prange(a.shape[0]):
        total += a[i]
    return total


def probe_array(n_bytes, dtype="float64"):
    """An array of n_bytes, written once (pages mapped before timing)."""
    return np.ones(n_bytes // np.dtype(dtype).itemsize, dtype=dtype)
