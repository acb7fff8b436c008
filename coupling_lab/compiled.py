r"""The compiled step loop: the same run as :func:`coupling_lab.loop.run`, in one numba function.

:func:`coupling_lab.loop.run` (the *reference*) calls each part of the
pipeline (markets, venues, feeds, reads, margin engines, flows, impact) as a
Python object, once per step. That costs a few microseconds per step and
platform whatever happens, so a 500-step classroom run spends most of its
time in calls, not in liquidations. This module runs the same order of work
for a whole run inside one function compiled by `numba
<https://numba.readthedocs.io>`_ (chosen because it compiles plain NumPy
loops with no C toolchain on the learner's machine, caches its machine code
on disk, and is a well-kept PyData project with wheels for every platform
Binder and laptops use).

**What it covers.** Every world whose parts are the plain ones of MODEL.md
Part I and §8: any number of assets, venues (noise, spikes, freezes), feeds
(median of sources, deviation threshold, heartbeat, latency, stale and
override faults on feeds or whole providers), and lending platforms that
read one asset each, with unlimited keepers. Worlds with read-side guards,
feed-side rules, keeper capacity, a rate limit, a breaker, platform faults,
several assets on one platform, or a derivatives venue run on the reference
path: :func:`supports` says why. ``kernel="auto"`` (the default) chooses.

**Same numbers.** The compiled loop does the same floating-point operations
in the same order as the reference: the same account order within a round
(liquidation price, ties by index), the same per-account arithmetic, and
per-round sums with NumPy's own pairwise summation (:func:`_pairwise_sum`),
so series, event logs and measures are bit-identical (tested on random
worlds, with the property tests run on both paths). Whatever does not depend
on the impact state (``exp`` of the paths and venue noise, the feeds' raw
observations at ``kappa = 0``, the books' first order) is computed by the
reference's own code before the loop.

**Compile cost.** The machine code is cached on disk (``cache=True``; Binder
builds it in ``postBuild`` with ``python -m coupling_lab.compiled``), so a
fresh process loads it in a fraction of a second instead of compiling.
"""
from __future__ import annotations

import contextlib
import os

import numpy as np

__all__ = ["supports", "run_compiled", "default_kernel", "using_kernel", "available", "KERNELS"]

KERNELS = ("auto", "compiled", "reference")

try:  # numba is a requirement; without it (an unusual install) every run takes the reference path
    from numba import njit
except ImportError:  # pragma: no cover - exercised only on installs without numba
    njit = None

_default = [None]


def available():
    """True when numba is installed, so the compiled path can run."""
    return njit is not None


def default_kernel():
    """The kernel ``run`` uses when none is named: ``using_kernel``'s, else ``$COUPLING_LAB_KERNEL``, else "auto"."""
    k = _default[0] or os.environ.get("COUPLING_LAB_KERNEL", "auto")
    if k not in KERNELS:
        raise ValueError(f"COUPLING_LAB_KERNEL must be one of {KERNELS}; got {k!r}")
    return k


@contextlib.contextmanager
def using_kernel(kernel):
    """Run every ``run``/``simulate`` inside the block on ``kernel`` ("auto", "compiled" or "reference")."""
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}; got {kernel!r}")
    old, _default[0] = _default[0], kernel
    try:
        yield
    finally:
        _default[0] = old


def supports(world):
    """``None`` when the compiled loop can run ``world``, else the reason it cannot (a sentence)."""
    from .margin import PlatformParams

    if njit is None:
        return "numba is not installed"
    if world.read_guards:
        return "the world has read-side guards"
    if world.feed_rules:
        return "the world has feed-side rules"
    if world.platform_faults:
        return "the world has platform faults"
    for k, p in enumerate(world.platforms):
        if type(p) is not PlatformParams:
            return f"platform {k} is not a lending platform"
        if p.keeper_capacity is not None or p.rate_limit is not None or p.breaker is not None:
            return f"platform {k} has keeper capacity, a rate limit or a breaker"
        if len(world.feeds_of(k)) != 1:
            return f"platform {k} accepts several assets"
    return None


# ---------------------------------------------------------------------------
# the compiled functions (plain Python when numba is missing, never called then)

def _jit(f):
    return f if njit is None else njit(cache=True, nogil=True)(f)


def _inline(f):
    """A small helper inlined into its caller (no call, no reference counting per use)."""
    return f if njit is None else njit(inline="always", cache=True)(f)


@_jit
def _pairwise_sum(a, lo, n):
    """``a[lo:lo + n].sum()`` exactly as NumPy sums a contiguous float64 array (pairwise, blocks of 128)."""
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    if n <= 128:
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
    n2 = n // 2
    n2 -= n2 % 8
    return _pairwise_sum(a, lo, n2) + _pairwise_sum(a, lo + n2, n - n2)


@_inline
def _before(k1, i1, k2, i2):
    """Order of the ledgers: key ``-p*`` ascending, ties by account index."""
    return k1 < k2 or (k1 == k2 and i1 < i2)


@_inline
def _heap_push(hk, hi, base, size, key, idx):
    """Push ``(key, idx)`` on the binary min-heap ``hk/hi[base:base + size]``; returns the new size."""
    pos = size
    while pos > 0:
        parent = (pos - 1) // 2
        if _before(key, idx, hk[base + parent], hi[base + parent]):
            hk[base + pos] = hk[base + parent]
            hi[base + pos] = hi[base + parent]
            pos = parent
        else:
            break
    hk[base + pos] = key
    hi[base + pos] = idx
    return size + 1


@_inline
def _heap_pop(hk, hi, base, size):
    """Remove the heap's top; returns the new size."""
    size -= 1
    if size == 0:
        return 0
    key, idx = hk[base + size], hi[base + size]
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        if child + 1 < size and _before(hk[base + child + 1], hi[base + child + 1], hk[base + child], hi[base + child]):
            child += 1
        if _before(hk[base + child], hi[base + child], key, idx):
            hk[base + pos] = hk[base + child]
            hi[base + pos] = hi[base + child]
            pos = child
        else:
            break
    hk[base + pos] = key
    hi[base + pos] = idx
    return size


@_jit
def _grow(a, n):
    out = np.empty(max(2 * a.size, n), a.dtype)
    out[:a.size] = a
    return out


@_jit
def _median(row, src, lo, hi, buf):
    """Median of ``row[src[lo:hi]]`` (as ``np.median``)."""
    n = hi - lo
    for s in range(n):
        buf[s] = row[src[lo + s]]
    b = np.sort(buf[:n])
    mid = n // 2
    if n % 2:
        return b[mid]
    return (b[mid - 1] + b[mid]) / 2.0


@_jit
def _loop(ex_ta, keep_a, depth_a,
          unit_raw_tj, frozen_t, unit_tv, frozen_tv, venue_asset, src_ptr, src_idx, feed_asset,
          theta_j, hb_j, lat_j, stale_tj, override_tj,
          feed_k, asset_k, lt_k, cf_k, bonus_k, hfull_k,
          acc_ptr, coll, debt, main_key, main_idx, n_main_k,
          ev_cap):
    T, A = ex_ta.shape
    J = unit_raw_tj.shape[1]
    V = unit_tv.shape[1]
    K = feed_k.size
    kappa_ta = np.empty((T, A))
    market_ta = np.empty((T, A))
    raw_tj = np.empty((T, J))
    oracle_tj = np.empty((T, J))
    held_tv = np.empty((T, V))
    held_t = np.zeros(T, np.bool_)
    flow_ta = np.zeros((T, A))
    count_tk = np.zeros((T, K), np.int64)
    notional_tk = np.zeros((T, K))
    repaid_tk = np.zeros((T, K))
    bad_tk = np.zeros((T, K))
    # the event log, grown by doubling
    ev_t = np.empty(ev_cap, np.int64)
    ev_k = np.empty(ev_cap, np.int64)
    ev_acc = np.empty(ev_cap, np.int64)
    ev_asset = np.empty(ev_cap, np.int64)
    ev_seized = np.empty(ev_cap)
    ev_repaid = np.empty(ev_cap)
    ev_bad = np.empty(ev_cap)
    ev_price = np.empty(ev_cap)
    n_ev = 0
    # each platform's ledger: the sorted book consumed from head, and a heap of partly liquidated accounts
    head = np.zeros(K, np.int64)
    heap_key = np.empty(coll.size)
    heap_idx = np.empty(coll.size, np.int64)
    heap_n = np.zeros(K, np.int64)
    kappa = np.zeros(A)
    scale = np.empty(A)
    last_scale = np.empty(A)
    m = np.empty(A)
    flow = np.zeros(A)
    raw = np.empty(J)
    pub = np.zeros(J)
    last = np.zeros(J, np.int64)
    buf = np.empty(V)
    row = np.empty(V)
    err = np.full(2, -1, np.int64)  # (step, asset) where a market price overflowed
    for t in range(T):
        if err[0] >= 0:
            break
        # 1. markets
        for a in range(A):
            kap = kappa[a]
            kappa_ta[t, a] = kap
            if kap < -709.0:
                err[0], err[1] = t, a
                break
            s = np.exp(-kap)
            scale[a] = s
            m[a] = ex_ta[t, a] * s
            if kap < 0.0 and np.isinf(m[a]):
                err[0], err[1] = t, a
                break
            market_ta[t, a] = m[a]
        if err[0] >= 0:
            break
        # 2-3a. venues and the feeds' raw observations
        if frozen_t[t]:
            for v in range(V):
                if frozen_tv[t, v]:
                    row[v] = held_tv[t - 1, v] if held_t[t - 1] else unit_tv[t - 1, v] * last_scale[venue_asset[v]]
                else:
                    row[v] = unit_tv[t, v] * scale[venue_asset[v]]
                held_tv[t, v] = row[v]
            held_t[t] = True
            for j in range(J):
                raw[j] = _median(row, src_idx, src_ptr[j], src_ptr[j + 1], buf)
        else:
            for j in range(J):
                raw[j] = unit_raw_tj[t, j] * scale[feed_asset[j]]
        for a in range(A):
            last_scale[a] = scale[a]
        # 3b. publication
        for j in range(J):
            raw_tj[t, j] = raw[j]
        if t == 0:
            for j in range(J):
                pub[j] = raw[j]
                last[j] = 0
        else:
            for j in range(J):
                lat = lat_j[j]
                cand = raw[j] if lat == 0 else raw_tj[t - lat if t > lat else 0, j]
                if pub[j] != 0.0:
                    dev = abs(cand / pub[j] - 1.0) > theta_j[j]
                else:
                    dev = cand != 0.0
                if (dev or t - last[j] >= hb_j[j]) and not stale_tj[t, j]:
                    pub[j] = cand
                    last[j] = t
        for j in range(J):
            oracle_tj[t, j] = pub[j] * override_tj[t, j]
        # 4-6. reads, each lending platform's round, flows
        for a in range(A):
            flow[a] = 0.0
        for k in range(K):
            price = oracle_tj[t, feed_k[k]]
            neg = -price
            base = acc_ptr[k]
            lt, cf, bonus, h_full = lt_k[k], cf_k[k], bonus_k[k], hfull_k[k]
            start = n_ev
            while True:
                h_ok = heap_n[k] > 0 and heap_key[base] < neg
                m_ok = head[k] < n_main_k[k] and main_key[base + head[k]] < neg
                if h_ok and m_ok:
                    from_heap = _before(heap_key[base], heap_idx[base],
                                        main_key[base + head[k]], main_idx[base + head[k]])
                elif h_ok:
                    from_heap = True
                elif m_ok:
                    from_heap = False
                else:
                    break
                if from_heap:
                    i = heap_idx[base]
                    heap_n[k] = _heap_pop(heap_key, heap_idx, base, heap_n[k])
                else:
                    i = main_idx[base + head[k]]
                    head[k] += 1
                c = coll[base + i]
                d = debt[base + i]
                # the lending rule (margin.liquidate), one account
                h = c * price * lt / d
                r = d if h < h_full else cf * d
                if price > 0.0:
                    want = r * (1.0 + bonus) / price
                else:
                    want = np.inf
                if want >= c:
                    seized = c
                    repaid = c * price / (1.0 + bonus)
                    dl = d - repaid
                    bad = dl if dl > 0.0 else 0.0
                    coll[base + i] = 0.0
                    debt[base + i] = 0.0
                else:
                    seized = want
                    repaid = r
                    bad = 0.0
                    coll[base + i] = c - want
                    debt[base + i] = d - r
                if n_ev == ev_t.size:
                    ev_t = _grow(ev_t, n_ev + 1)
                    ev_k = _grow(ev_k, n_ev + 1)
                    ev_acc = _grow(ev_acc, n_ev + 1)
                    ev_asset = _grow(ev_asset, n_ev + 1)
                    ev_seized = _grow(ev_seized, n_ev + 1)
                    ev_repaid = _grow(ev_repaid, n_ev + 1)
                    ev_bad = _grow(ev_bad, n_ev + 1)
                    ev_price = _grow(ev_price, n_ev + 1)
                ev_t[n_ev] = t
                ev_k[n_ev] = k
                ev_acc[n_ev] = i
                ev_asset[n_ev] = asset_k[k]
                ev_seized[n_ev] = seized
                ev_repaid[n_ev] = repaid
                ev_bad[n_ev] = bad
                ev_price[n_ev] = price
                n_ev += 1
            n = n_ev - start
            if n == 0:
                continue
            # the survivors go back under their new p*, after the round (none is liquidated twice in a step)
            for e in range(start, n_ev):
                i = ev_acc[e]
                dl = debt[base + i]
                if dl > 0.0:
                    heap_n[k] = _heap_push(heap_key, heap_idx, base, heap_n[k], -(dl / (coll[base + i] * lt)), i)
            a = asset_k[k]
            usd = _pairwise_sum(ev_seized, start, n) * m[a]
            count_tk[t, k] = n
            notional_tk[t, k] = usd
            repaid_tk[t, k] = _pairwise_sum(ev_repaid, start, n)
            bad_tk[t, k] = _pairwise_sum(ev_bad, start, n)
            flow_ta[t, a] += usd
            flow[a] += usd
        # 7. impact
        for a in range(A):
            kappa[a] = keep_a[a] * kappa[a] + flow[a] / depth_a[a]
    return err, (kappa_ta, market_ta, raw_tj, oracle_tj, held_tv, held_t, flow_ta, count_tk, notional_tk, repaid_tk,
           bad_tk, ev_t[:n_ev], ev_k[:n_ev], ev_acc[:n_ev], ev_asset[:n_ev], ev_seized[:n_ev], ev_repaid[:n_ev],
           ev_bad[:n_ev], ev_price[:n_ev])


# ---------------------------------------------------------------------------

def _inputs(world):
    """The arrays the compiled loop reads, computed with the reference's own code."""
    from .loop import _Venues
    from .margin import Ledger
    from .oracles import fault_masks

    T, K, J = world.n_steps, world.n_platforms, world.n_oracles
    venues = _Venues(world)
    ex_ta = np.exp(world.paths_ta)
    keep_a = np.array([1.0 - p.resilience for p in world.markets])
    depth_a = np.array([p.depth for p in world.markets], dtype=float)
    src = [np.asarray(o.sources, dtype=np.int64) for o in world.oracles]
    src_ptr = np.concatenate([[0], np.cumsum([s.size for s in src])]).astype(np.int64)
    stale_tj, override_tj = fault_masks(world.oracle_faults, T, J, world.provider_of_feed)
    feed_k = np.array([world.feeds_of(k)[0] for k in range(K)], dtype=np.int64)
    asset_k = np.array([world.assets_of(k)[0] for k in range(K)], dtype=np.int64)
    params = world.platforms
    sizes = [b.n_accounts for b in world.books]
    acc_ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    coll = np.concatenate([b.collateral for b in world.books]).astype(float)
    debt = np.concatenate([b.debt for b in world.books]).astype(float)
    main_key, main_idx, n_main = np.empty(coll.size), np.empty(coll.size, np.int64), np.zeros(K, np.int64)
    for k, (p, b) in enumerate(zip(params, world.books)):
        a = int(asset_k[k])
        lg = Ledger(b.collateral, b.debt, np.arange(b.n_accounts), p, p.lt_of(a), p.bonus_of(a))
        n = lg.main_idx.size
        main_key[acc_ptr[k]:acc_ptr[k] + n] = lg.main_negp
        main_idx[acc_ptr[k]:acc_ptr[k] + n] = lg.main_idx
        n_main[k] = n
    return venues, (
        ex_ta, keep_a, depth_a,
        np.ascontiguousarray(venues.unit_raw_rows, dtype=float).reshape(T, J),
        np.asarray(venues.frozen_t, dtype=np.bool_), np.ascontiguousarray(venues.unit_tv),
        np.ascontiguousarray(venues.frozen_tv), np.asarray(venues.venue_asset, dtype=np.int64),
        src_ptr, np.concatenate(src), np.asarray(world.feed_asset, dtype=np.int64),
        np.array([o.theta for o in world.oracles], dtype=float),
        np.array([o.heartbeat for o in world.oracles], dtype=np.int64),
        np.array([o.latency for o in world.oracles], dtype=np.int64),
        stale_tj, override_tj,
        feed_k, asset_k,
        np.array([p.lt_of(int(a)) for p, a in zip(params, asset_k)], dtype=float),
        np.array([p.close_factor for p in params], dtype=float),
        np.array([p.bonus_of(int(a)) for p, a in zip(params, asset_k)], dtype=float),
        np.array([p.h_full for p in params], dtype=float),
        acc_ptr, coll, debt, main_key, main_idx, n_main,
        max(1024, 2 * coll.size),
    )


def run_compiled(world):
    """Run ``world`` on the compiled loop (see :func:`supports`); the same :class:`Result` as ``loop.run``."""
    from .market import Markets
    from .result import Result

    why = supports(world)
    if why is not None:
        raise ValueError(f"kernel='compiled' cannot run this world: {why}; use kernel='auto' or 'reference'")
    venues, args = _inputs(world)
    err, out = _loop(*args)
    if err[0] >= 0:
        t, a = int(err[0]), int(err[1])
        Markets._overflow(t, a, float(out[0][t, a]))
    (kappa_ta, market_ta, raw_tj, oracle_tj, held_tv, held_t, flow_ta, count_tk, notional_tk, repaid_tk, bad_tk,
     ev_t, ev_k, ev_acc, ev_asset, ev_seized, ev_repaid, ev_bad, ev_price) = out
    venues.held_rows = {int(t): held_tv[t] for t in np.flatnonzero(held_t)}
    acc_ptr, coll, debt = args[22:25]
    K = world.n_platforms
    events = {"t": ev_t, "platform": ev_k, "account": ev_acc, "asset": ev_asset, "seized_units": ev_seized,
              "repaid_usd": ev_repaid, "bad_debt_usd": ev_bad, "oracle_price": ev_price}
    return Result.from_arrays(
        world, kappa_ta=kappa_ta, market_ta=market_ta, flow_ta=flow_ta, venue_tv=venues.prices_tv(kappa_ta),
        raw_tj=raw_tj, oracle_tj=oracle_tj, read_rows={}, count_tk=count_tk, notional_tk=notional_tk,
        repaid_tk=repaid_tk, bad_debt_tk=bad_tk, events=events,
        collateral_k=tuple(coll[acc_ptr[k]:acc_ptr[k + 1]] for k in range(K)),
        debt_k=tuple(debt[acc_ptr[k]:acc_ptr[k + 1]] for k in range(K)),
        events_by_kind={}, waiting_tk=np.zeros((world.n_steps, K), dtype=np.int64),
        engine_outputs=tuple({} for _ in range(K)))


def warm():
    """Compile (or load from the on-disk cache) the compiled loop by running one small world."""
    from .config import Config, build
    from .scenarios import CrashScenario

    return run_compiled(build(Config(scenario=CrashScenario(n_steps=50, start=10, duration=20)), seed=0))


if __name__ == "__main__":  # python -m coupling_lab.compiled: build the cache (Binder's postBuild)
    import time

    t0 = time.perf_counter()
    warm()
    print(f"coupling_lab.compiled: the step loop is compiled and cached ({time.perf_counter() - t0:.1f} s)")
