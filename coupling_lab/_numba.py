"""numba helpers shared by the compiled loops (:mod:`coupling_lab.compiled`, :mod:`coupling_lab.compiled_perps`).

The jit decorators (plain Python when numba is missing: then nothing here is
called) and NumPy's pairwise summation replicated exactly, so a compiled sum
of a vector is bit for bit the reference's ``ndarray.sum()``.
"""
from __future__ import annotations

import numpy as np

try:  # numba is a requirement; without it (an unusual install) every run takes the reference path
    from numba import njit
except ImportError:  # pragma: no cover - exercised only on installs without numba
    njit = None


def _jit(f):
    return f if njit is None else njit(cache=True, nogil=True)(f)


def _inline(f):
    """A small helper inlined into its caller (no call, no reference counting per use)."""
    return f if njit is None else njit(inline="always", cache=True)(f)


@_inline
def _block_sum(a, lo, n):
    """NumPy's sum of at most 128 contiguous float64: eight accumulators, then the rest in order."""
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    m = n - n % 8
    while i < m:
        b = lo + i
        r0 += a[b]
        r1 += a[b + 1]
        r2 += a[b + 2]
        r3 += a[b + 3]
        r4 += a[b + 4]
        r5 += a[b + 5]
        r6 += a[b + 6]
        r7 += a[b + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@_inline
def _sum(a, lo, n, ws_i, ws_f):
    """:func:`_pairwise_sum` with the common short case inlined."""
    if n <= 128:
        return _block_sum(a, lo, n)
    return _pairwise_sum(a, lo, n, ws_i, ws_f)


@_jit
def _pairwise_sum(a, lo, n, ws_i=None, ws_f=None):
    """``a[lo:lo + n].sum()`` exactly as NumPy sums a contiguous float64 array.

    NumPy splits an array of more than 128 into halves (the first a multiple
    of 8 long) and adds the two sums; blocks of at most 128 use
    :func:`_block_sum`. The recursion is walked with an explicit stack
    (numba's on-disk cache mishandles recursive functions).
    """
    if n <= 128:
        return _block_sum(a, lo, n)
    if ws_i is None:
        ws_i, ws_f = np.empty((3, 64), np.int64), np.empty(64)
    st_lo, st_n, st_stage = ws_i[0], ws_i[1], ws_i[2]  # stage 0: not split yet, 1: left half pending, 2: right
    st_left = ws_f
    st_stage[0] = 0
    sp = 0
    st_lo[0], st_n[0] = lo, n
    while True:
        m = st_n[sp]
        if st_stage[sp] == 0 and m > 128:
            half = m // 2
            half -= half % 8
            st_stage[sp] = 1
            sp += 1
            st_lo[sp], st_n[sp], st_stage[sp] = st_lo[sp - 1], half, 0
            continue
        v = _block_sum(a, st_lo[sp], m)
        sp -= 1
        while sp >= 0:
            if st_stage[sp] == 1:  # the left half is done: keep it, do the right half
                st_left[sp] = v
                st_stage[sp] = 2
                half = st_n[sp] // 2
                half -= half % 8
                sp += 1
                st_lo[sp], st_n[sp], st_stage[sp] = st_lo[sp - 1] + half, st_n[sp - 1] - half, 0
                break
            v = st_left[sp] + v
            sp -= 1
        if sp < 0:
            return v
