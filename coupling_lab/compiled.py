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

**What it covers.** Any number of assets, venues (noise, spikes, freezes),
feeds (median of sources, deviation threshold, heartbeat, latency, stale
and override faults on feeds or whole providers, answer bounds), and lending
platforms of one asset with keeper capacity, keeper outages, a circuit
breaker and a rate limit (waiting accounts, liquidation delays, paused
steps), through the read-side guards (delay, anchor band, fallback).
Platforms of several assets (one ledger per asset, one queue by health under
one keeper capacity, one rate-limit budget, a breaker watching every read,
each asset read through its own copy of the guards) are covered with all of
those. Perp venues (:mod:`coupling_lab.perps`: cross and isolated margin, the
insurance fund, ADL or haircutting, keeper capacity, outages, the circuit
breaker, read guards) run inside the loop through
:mod:`coupling_lab.compiled_perps`. What sends a world to the reference path
is code the loop cannot know: a researcher's own ``ReadGuard`` or
``FeedRule`` subclass, or an engine other than these two; :func:`supports`
says which. ``kernel="auto"`` (the default) chooses.

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
builds it in ``postBuild`` with ``python -m coupling_lab.cache``), so a
fresh process loads it in a fraction of a second instead of compiling.
"""
from __future__ import annotations

import contextlib
import inspect
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["supports", "run_compiled", "run_measures", "default_kernel", "using_kernel", "available", "KERNELS"]

KERNELS = ("auto", "compiled", "reference")

from ._numba import _inline, _jit, _pairwise_sum, _sum, njit  # noqa: F401  (_pairwise_sum: tested here)

if njit is not None:
    from .compiled_perps import (FILL_BAD, FILL_COUNT, FILL_FEES, FILL_GROSS, FILL_RETURNED, FILL_WAITING, TH_ACTIVE,
                                 _perp_capacity, _perp_step)

_default = [None]
_THREADED_SORT = 500_000  # accounts in a world from which the books are sorted on several threads


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
    from .protections import AnchorBand, Delay, Fallback

    for k, chain in enumerate(world.read_guards):
        kinds = [type(g) for g in chain]
        if any(g not in (Delay, AnchorBand, Fallback) for g in kinds) or len(set(kinds)) < len(kinds):
            return f"platform {k}'s read guards are not at most one Delay, AnchorBand and Fallback"
    from .protections import AnswerBounds

    for j, rules in enumerate(world.feed_rules):
        if any(type(r) is not AnswerBounds for r in rules):
            return f"feed {j} has a feed-side rule other than AnswerBounds"
    from .compiled_perps import supports_perp
    from .perps import PerpParams

    for k, p in enumerate(world.platforms):
        if type(p) is PerpParams:
            why = supports_perp(p, world.books[k])
            if why is not None:
                return f"platform {k}: {why}"
            continue
        if type(p) is not PlatformParams:
            return f"platform {k} is neither a lending platform nor a perp venue"
    return None


# ---------------------------------------------------------------------------
# the compiled functions (plain Python when numba is missing, never called then)

@_inline
def _before(k1, i1, k2, i2):
    """Order of the ledgers: key ``-p*`` ascending, ties by account index."""
    return k1 < k2 or (k1 == k2 and i1 < i2)


@_inline
def _key(coll, debt, s, lt):
    """The ledger key ``-p*`` of slot ``s``, exactly as ``margin.Ledger`` computes it."""
    return -(debt[s] / (coll[s] * lt))


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


# The pool of partly liquidated accounts of one platform: each round's survivors, sorted, are
# appended to the platform's region of ``pool`` as a *run* (keys -p* ascending, ties by account
# index) and never moved again (until the region fills up and the live runs are packed to its
# front). A small binary heap holds the head of every live run, so a round takes the smallest
# head among the main book and the heap's top: O(log runs) per liquidation, sequential memory.

@_inline
def _heap_down(hk, ha, hr, k, n, pos):
    """Sift entry ``pos`` of platform ``k``'s heap of run heads down to its place."""
    key, a, r = hk[k, pos], ha[k, pos], hr[k, pos]
    while True:
        child = 2 * pos + 1
        if child >= n:
            break
        if child + 1 < n and _before(hk[k, child + 1], ha[k, child + 1], hk[k, child], ha[k, child]):
            child += 1
        if _before(hk[k, child], ha[k, child], key, a):
            hk[k, pos], ha[k, pos], hr[k, pos] = hk[k, child], ha[k, child], hr[k, child]
            pos = child
        else:
            break
    hk[k, pos], ha[k, pos], hr[k, pos] = key, a, r


@_inline
def _heap_up(hk, ha, hr, k, pos):
    """Sift entry ``pos`` of platform ``k``'s heap of run heads up to its place."""
    key, a, r = hk[k, pos], ha[k, pos], hr[k, pos]
    while pos > 0:
        parent = (pos - 1) // 2
        if _before(key, a, hk[k, parent], ha[k, parent]):
            hk[k, pos], ha[k, pos], hr[k, pos] = hk[k, parent], ha[k, parent], hr[k, parent]
            pos = parent
        else:
            break
    hk[k, pos], ha[k, pos], hr[k, pos] = key, a, r


@_jit
def _pack_runs(pool, pkey, rb, run_h, run_e, hr, k, n_heap):
    """Move platform ``k``'s live runs to the front of its region, in place; returns the region's new end."""
    live = hr[k, :n_heap].copy()
    live = live[np.argsort(run_h[k][live])]  # by position: every run moves to the left, none overwrites another
    end = 0
    for r in live:
        h, e = run_h[k, r], run_e[k, r]
        for q in range(e - h):
            pool[rb + end + q] = pool[rb + h + q]
            pkey[rb + end + q] = pkey[rb + h + q]
        run_h[k, r], run_e[k, r] = end, end + (e - h)
        end += e - h
    return end


@_jit
def _sort_slots(new, new_key, m, coll, debt, acc, lt):
    """Sort ``new[:m]`` by (key, account) in place, keys into ``new_key`` (survivors are usually in order already)."""
    ordered = True
    for i in range(m):
        new_key[i] = _key(coll, debt, new[i], lt)
        if i and ordered and _before(new_key[i], acc[new[i]], new_key[i - 1], acc[new[i - 1]]):
            ordered = False
    if ordered:
        return
    part = new[:m].copy()
    o = np.argsort(acc[part])                    # accounts are distinct: any sort gives index order
    part = part[o]
    keys = new_key[:m][o]
    o = np.argsort(keys, kind="mergesort")       # stable: ties stay in index order
    for i in range(m):
        new[i] = part[o[i]]
        new_key[i] = keys[o[i]]


@_jit
def _count_main(coll, debt, lo, hi, lt, neg):
    """How many slots in ``lo..hi`` (keys ascending) have key < ``neg``, plus ``lo``."""
    while lo < hi:
        mid = (lo + hi) // 2
        if _key(coll, debt, mid, lt) < neg:
            lo = mid + 1
        else:
            hi = mid
    return lo


@_inline
def _pop_pool(l, pool, pkey, rb, acc, base, run_h, run_e, hk, ha, hr, hn):
    """Take ledger ``l``'s smallest run head (the heap's top); returns its slot in the book."""
    r = hr[l, 0]
    h = run_h[l, r]
    i = base + pool[rb + h]
    h += 1
    run_h[l, r] = h
    if h < run_e[l, r]:  # the run's next entry becomes its head
        hk[l, 0], ha[l, 0] = pkey[rb + h], acc[base + pool[rb + h]]
    else:  # the run is used up
        hn[l] -= 1
        hk[l, 0], ha[l, 0], hr[l, 0] = hk[l, hn[l]], ha[l, hn[l]], hr[l, hn[l]]
    _heap_down(hk, ha, hr, l, hn[l], 0)
    return i


@_inline
def _take_next(l, mk, neg, coll, debt, acc, base, lt, n_open, head, pool, pkey, rb, run_h, run_e, hk, ha, hr, hn):
    """Ledger ``l``'s next account with key < ``neg``, in its order: ``(slot, key of the new main head)``.

    The slot is -1 when there is none. ``mk`` is the key of the main book's
    head (``inf`` when used up); the pool's smallest run head is the heap's top.
    """
    use_main = mk < neg
    use_pool = hn[l] > 0 and hk[l, 0] < neg
    if use_main and use_pool:
        use_main = _before(mk, acc[base + head[l]], hk[l, 0], ha[l, 0])
    elif not use_pool and not use_main:
        return -1, mk
    if use_main:
        i = base + head[l]
        head[l] += 1
        return i, (_key(coll, debt, base + head[l], lt) if head[l] < n_open else np.inf)
    return _pop_pool(l, pool, pkey, rb, acc, base, run_h, run_e, hk, ha, hr, hn), mk


@_inline
def _budget(rl_t, rl_v, rl_h, rl_n, k, t, window, limit):
    """USD still repayable at step ``t`` under platform ``k``'s rate limit: the limit less its window's rounds."""
    while rl_h[k] < rl_n[k] and rl_t[k, rl_h[k]] < t - window + 1:
        rl_h[k] += 1
    used = 0.0
    for q in range(rl_h[k], rl_n[k]):
        used += rl_v[k, q]
    return limit - used


@_inline
def _stopped(k, t, l, l1, read_l, br_window_k, br_n, br_hist, br_drop_k, br_pause_k, paused_until, out_tk, paused_k):
    """``Throttle.capacity`` is 0: the circuit breaker on any of ledgers ``l..l1``'s reads, or a keeper outage."""
    stop = False
    w = br_window_k[k]
    if w > 0:
        nb = br_n[k]
        for q in range(l, l1 if nb > 0 else l):
            peak = -np.inf
            for e in range(min(nb, w)):
                peak = max(peak, br_hist[q, e])
            if read_l[q] < (1.0 - br_drop_k[k]) * peak:
                paused_until[k] = max(paused_until[k], t + br_pause_k[k] - 1)
                break
        for q in range(l, l1):
            br_hist[q, nb % w] = read_l[q]
        br_n[k] = nb + 1
        stop = t <= paused_until[k]
    if not stop:
        stop = out_tk[t, k]
    if stop:
        paused_k[k] += 1
    return stop


@_inline
def _n_waiting(t, k, l, l1, read_l, last_called, st_n, st_step, st_val, coll, debt, acc_ptr, head, n_main_l, lt_l,
               pkey, reg_ptr, run_h, run_e, hr, hn):
    """How many of ledgers ``l..l1``'s accounts are liquidatable at their reads (``Ledger.count``), after
    restarting their stacks of reads when the engine idled at ``t - 1``."""
    if t > last_called[k] + 1:  # idle in between: at t - 1 nothing was liquidatable
        for q in range(l, l1):
            st_n[q], st_step[q, 0], st_val[q, 0] = 1, t - 1, np.inf
    last_called[k] = t
    n_all = 0
    for q in range(l, l1):
        neg, base, rb = -read_l[q], acc_ptr[q], reg_ptr[q]
        n_all += _count_main(coll, debt, base + head[q], base + n_main_l[q], lt_l[q], neg) - base - head[q]
        for e in range(hn[q]):
            r = hr[q, e]
            n_all += int(np.searchsorted(pkey[rb + run_h[q, r]:rb + run_e[q, r]], neg))
    return n_all


@_inline
def _close_round(t, k, n, start, usd, limited, count_tk, notional_tk, repaid_tk, bad_tk, ev_repaid, ev_bad, rl_t, rl_v,
                 rl_n, ws_i, ws_f):
    """Record a lending round of ``n`` liquidations (events ``start..start + n``): ``Recorder.fills``, and
    the USD it repaid in the rate limit's window."""
    count_tk[t, k] = n
    notional_tk[t, k] = usd
    repaid_tk[t, k] = _sum(ev_repaid, start, n, ws_i, ws_f)
    bad_tk[t, k] = _sum(ev_bad, start, n, ws_i, ws_f)
    if limited and n > 0:
        rl_t[k, rl_n[k]], rl_v[k, rl_n[k]] = t, repaid_tk[t, k]
        rl_n[k] += 1


@_inline
def _guarded(t, k, q, j, price, hop_k, delay_in, awin_k, a_sum, a_last, band_k, raw_tj, fb_alt_l, fb_prev, fb_on,
             fb_timeout_k, fb_jump_k, fb_agree_k, last, oracle_tj):
    """What ledger ``q`` of platform ``k`` reads of feed ``j`` (published: ``price``) through the platform's
    guards, each ledger with its own state (protections.readside: delay -> anchor band -> fallback)."""
    if hop_k[k] > 0:  # Delay: one value per hop, one hop late (Maker OSM)
        hop = hop_k[k]
        delay_in[q, t] = price
        price = delay_in[q, max(hop * (t // hop) - hop, 0)]
    if awin_k[k] > 0:  # AnchorBand: within band of the TWAP of the feed's raw observations
        w = awin_k[k]
        a_sum[q] += raw_tj[t, j]
        if t >= w:
            a_sum[q] -= raw_tj[t - w, j]
        anchor = a_sum[q] / min(t + 1, w)
        if t == 0 or anchor * (1.0 - band_k[k]) <= price <= anchor * (1.0 + band_k[k]):
            a_last[q] = price
        price = a_last[q]
    if fb_alt_l[q] >= 0:  # Fallback: a second feed while the primary is stale or jumped
        prev = fb_prev[q]
        fb_prev[q] = price
        live = t - last[j] <= fb_timeout_k[k]
        v_alt = oracle_tj[t, fb_alt_l[q]]
        if not fb_on[q]:
            jumped = not np.isnan(prev) and prev > 0 and abs(price / prev - 1.0) > fb_jump_k[k]
            if not live or jumped:
                fb_on[q] = True
        elif live and v_alt > 0 and abs(price / v_alt - 1.0) <= fb_agree_k[k]:
            fb_on[q] = False
        if fb_on[q]:
            price = v_alt
    return price


@_inline
def _add_run(l, taken, taken_key, m_new, coll, debt, acc, base, lt, pool, pkey, rb, reg_end, run_h, run_e, hr, hk,
             ha, hn, pend, n_made):
    """Ledger ``l``'s accounts ``taken[:m_new]`` (still open) back in its pool as one sorted run."""
    _sort_slots(taken, taken_key, m_new, coll[base:], debt[base:], acc[base:], lt)
    if pend[l] + m_new > reg_end - rb:  # the region is full: pack the live runs
        pend[l] = _pack_runs(pool, pkey, rb, run_h, run_e, hr, l, hn[l])
    e0 = pend[l]
    pool[rb + e0:rb + e0 + m_new] = taken[:m_new]
    pkey[rb + e0:rb + e0 + m_new] = taken_key[:m_new]
    pend[l] = e0 + m_new
    r = n_made[l]
    n_made[l] = r + 1
    run_h[l, r], run_e[l, r] = e0, e0 + m_new
    q = hn[l]
    hk[l, q], ha[l, q], hr[l, q] = taken_key[0], acc[base + taken[0]], r
    hn[l] = q + 1
    _heap_up(hk, ha, hr, l, q)


@_inline
def _push_read(st_n, st_step, st_val, l, t, price):
    """This step's read on ledger ``l``'s stack of suffix maxima (steps, strictly decreasing reads)."""
    sn = st_n[l]
    while sn > 0 and st_val[l, sn - 1] <= price:
        sn -= 1
    st_step[l, sn] = t
    st_val[l, sn] = price
    st_n[l] = sn + 1


@_inline
def _began(st_n, st_step, st_val, l, pstar):
    """The first step of an account's wait: after the last read at or above its ``p*`` (stack of ledger ``l``)."""
    lo, hi = 0, st_n[l]  # the stack's values strictly decrease: how many are >= p*
    while lo < hi:
        mid = (lo + hi) // 2
        if st_val[l, mid] >= pstar:
            lo = mid + 1
        else:
            hi = mid
    return st_step[l, lo - 1] + 1 if lo > 0 else 0


@_inline
def _lend(c, d, price, lt, cf, bonus, h_full):
    """The lending rule (margin.liquidate) for one account: seized, repaid, bad debt, collateral and debt left."""
    hl = c * price * lt / d
    rp = d if hl < h_full else cf * d
    want = rp * (1.0 + bonus) / price if price > 0.0 else np.inf
    if want >= c:
        repaid = c * price / (1.0 + bonus)
        dl = d - repaid
        return c, repaid, (dl if dl > 0.0 else 0.0), 0.0, 0.0
    return want, rp, 0.0, c - want, d - rp


@_jit
def _limit_round(cand_i, cand_l, cand_pos, cand_h, nc, acc, coll, debt, read_l, lt_l, bonus_l, cf, h_full, cap,
                 budget):
    """A rate-limited round of several assets (``LendingEngine._round``): ``(n, order, cut_at, cut)``.

    The reference takes each ledger's first ``take`` candidates (``take`` the
    keeper capacity, or 256 growing fourfold while the limit is not reached
    and some ledger filled its chunk), queues them by health, and keeps the
    prefix whose repayments fit the budget; the next one repays the rest
    (``cut`` USD) when that is above 0. ``order`` is the queue over the
    candidates (indices into ``cand_*``), its first ``n`` liquidated.
    """
    take = cap if cap >= 0 else 256
    sel = np.empty(nc, np.int64)
    while True:
        ns = 0
        more = False
        for c in range(nc):
            if cand_pos[c] < take:
                sel[ns] = c
                ns += 1
            elif cand_pos[c] == take:
                more = True  # the ledger filled its chunk (Ledger.candidates returned `take`)
        if not more:  # a ledger of exactly `take` candidates also filled it
            for c in range(nc):
                if cand_pos[c] == take - 1 and (c + 1 == nc or cand_l[c + 1] != cand_l[c]):
                    more = True
        s = sel[:ns]
        o1 = np.argsort(acc[cand_i[s]], kind="mergesort")
        order = s[o1][np.argsort(cand_h[s][o1], kind="mergesort")]
        n = ns if cap < 0 else min(ns, cap)
        cum = 0.0
        for r in range(n):  # np.cumsum of the rule's repayments, in queue order
            c = order[r]
            i, q = cand_i[c], cand_l[c]
            prev = cum
            cum += _lend(coll[i], debt[i], read_l[q], lt_l[q], cf, bonus_l[q], h_full)[1]
            if cum > budget:  # this one passes the limit: it repays what is left, if anything
                rest = budget - prev if r else budget
                return (r + 1, order, c, rest) if rest > 0 else (r, order, -1, 0.0)
        if not more or (cap >= 0 and take >= cap):
            return n, order, -1, 0.0
        take = take * 4 if cap < 0 else min(take * 4, cap)


@_jit
def _venue_step(v, k, t, l, P, f, perp_st, perp_th, perp_logs, perp_cap, perp_rows, perp_flows, perp_fill, asset_l,
                count_tk, notional_tk, repaid_tk, bad_tk, waiting_tk, flow_ta, flow):
    """Perp venue ``v`` (platform ``k``, first ledger ``l``) at step ``t``, marks ``P``, market prices ``f``:
    ``PerpEngine.step``, then what ``Recorder.fills`` and the flows keep of it. A function of its own, so
    the lending rounds' loop carries none of the venues' typed lists."""
    th = perp_th[v]
    cap = _perp_capacity(th, t, P, perp_cap[v]) if th[0][TH_ACTIVE] else perp_cap[v]
    fill = perp_fill[v, t]
    perp_logs[v] = _perp_step(perp_st[v], perp_logs[v], t, P, f, cap, perp_rows[v], perp_flows[v], fill)
    if fill[FILL_RETURNED] != 0.0:  # Recorder.fills
        count_tk[t, k] = int(fill[FILL_COUNT])
        notional_tk[t, k] = fill[FILL_GROSS]
        repaid_tk[t, k] = fill[FILL_FEES]
        bad_tk[t, k] = fill[FILL_BAD]
        waiting_tk[t, k] = int(fill[FILL_WAITING])
        flows = perp_flows[v]
        for s in range(P.size):
            q = flows[t, s]
            if q != 0.0:
                a = asset_l[l + s]
                flow_ta[t, a] += q
                flow[a] += q


@_jit
def _loop(ex_ta, keep_a, depth_a,
          unit_raw_tj, frozen_t, unit_tv, frozen_tv, venue_asset, src_ptr, src_idx, feed_asset,
          theta_j, hb_j, lat_j, stale_tj, override_tj, lo_j, hi_j,
          slot_ptr, feed_l, asset_l, lt_l, cf_k, bonus_l, hfull_k, cap_k,
          out_tk, throttled_k, br_drop_k, br_window_k, br_pause_k,
          hop_k, band_k, awin_k, fb_alt_l, fb_timeout_k, fb_jump_k, fb_agree_k, rl_limit_k, rl_window_k,
          acc_ptr, coll, debt, acc, n_main_l,
          ev_cap, perp_k, perp_st, perp_th, perp_logs, perp_cap, perp_rows, perp_flows, perp_fill):
    T, A = ex_ta.shape
    J = unit_raw_tj.shape[1]
    V = unit_tv.shape[1]
    K = slot_ptr.size - 1
    L = feed_l.size  # ledgers: one per platform and asset it accepts
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
    waiting_tk = np.zeros((T, K), np.int64)
    # the event log, grown by doubling
    rd_t = np.empty(T * K, np.int64)  # one entry per round that liquidated: its step, platform, size
    rd_k = np.empty(T * K, np.int64)
    rd_n = np.empty(T * K, np.int64)
    n_rd = 0
    ev_acc = np.empty(ev_cap, np.int64)
    ev_seized = np.empty(ev_cap)
    ev_repaid = np.empty(ev_cap)
    ev_bad = np.empty(ev_cap)
    n_ev = 0
    # each ledger: its open accounts as slots in first order (consumed from head),
    # and the pool of partly liquidated ones as sorted runs of slots in its region of `pool`
    n_max = 1
    for l in range(L):
        n_max = max(n_max, acc_ptr[l + 1] - acc_ptr[l])
    head = np.zeros(L, np.int64)
    # each ledger's region of the pool: its book and half again (packed when full: O(1) per account)
    reg_ptr = np.zeros(L + 1, np.int64)
    for l in range(L):
        n_l = acc_ptr[l + 1] - acc_ptr[l]
        reg_ptr[l + 1] = reg_ptr[l] + n_l + n_l // 2 + 1024
    pool = np.empty(reg_ptr[L], np.int32)
    pkey = np.empty(reg_ptr[L])  # each pool entry's key
    pend = np.zeros(L, np.int64)         # end of the used part of each ledger's region
    run_h = np.zeros((L, T + 1), np.int64)  # one run per round at most: head and end in the region
    run_e = np.zeros((L, T + 1), np.int64)
    n_made = np.zeros(L, np.int64)
    hk = np.empty((L, T + 1))               # the heap of run heads: key, account, run
    ha = np.empty((L, T + 1), np.int64)
    hr = np.empty((L, T + 1), np.int64)
    hn = np.zeros(L, np.int64)
    taken = np.empty(n_max, np.int32)
    taken_key = np.empty(n_max)
    # a platform of several assets: its round's candidates (slot, ledger, health), one queue
    multi = False
    for k in range(K):
        if slot_ptr[k + 1] - slot_ptr[k] > 1:
            multi = True
    m_n = coll.size if multi else 1
    ev_l = np.empty(ev_cap if multi else 1, np.int32)  # a multi-asset round's liquidations: each one's ledger
    cand_i = np.empty(m_n, np.int64)
    cand_l = np.empty(m_n, np.int64)
    cand_h = np.empty(m_n)
    cand_rank = np.empty(m_n, np.int64)
    cand_pos = np.empty(m_n, np.int64)
    read_l = np.empty(L)  # this step's read of each ledger (a platform's guarded read, else its feed)
    cand_sz = np.empty(m_n)
    # keeper capacity: what waited, and each liquidation's delay (the stacks of suffix maxima of the reads)
    tracking = False
    for k in range(K):
        if cap_k[k] >= 0 or throttled_k[k] or rl_window_k[k] > 0:
            tracking = True
    paused_k = np.zeros(K, np.int64)
    # read-side guards (delay -> anchor band -> fallback), each platform's own state
    guarded_k = (hop_k > 0) | (awin_k > 0) | (fb_alt_l[slot_ptr[:-1]] >= 0)
    read_tl = np.empty((T, L))  # what each ledger read: through its platform's guards, else the feed
    delay_in = np.empty((L, T if hop_k.max() > 0 else 1))  # each ledger's guard state
    a_sum = np.zeros(L)
    a_last = np.zeros(L)
    fb_on = np.zeros(L, np.bool_)
    fb_prev = np.full(L, np.nan)
    track_k = (cap_k >= 0) | throttled_k | (rl_window_k > 0)  # engines that count what waits, measure delays
    rl_t = np.empty((K, T if rl_window_k.max() > 0 else 1), np.int64)  # the rate limit's (step, USD repaid)
    rl_v = np.empty((K, T if rl_window_k.max() > 0 else 1))
    rl_h = np.zeros(K, np.int64)
    rl_n = np.zeros(K, np.int64)
    br_n = np.zeros(K, np.int64)       # the breaker's history of reads: a ring of its window, per ledger
    br_hist = np.empty((L, max(1, br_window_k.max())))
    paused_until = np.full(K, -1, np.int64)
    st_n = np.zeros(L, np.int64)  # each ledger's stack of reads
    st_step = np.empty((L, T + 1 if tracking else 1), np.int64)
    st_val = np.empty((L, T + 1 if tracking else 1))
    last_called = np.full(K, -2, np.int64)
    last_liq = np.full(coll.size if tracking else 1, -1, np.int64)
    delay = np.empty(ev_cap if tracking else 1, np.int64)
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
    ws_i, ws_f = np.empty((3, 64), np.int64), np.empty(64)  # the pairwise sums' stack
    for t in range(T):
        # 1. markets
        for a in range(A):
            kap = kappa[a]
            kappa_ta[t, a] = kap
            if kap < -709.0:
                err[0], err[1] = t, a
                break
            sc = np.exp(-kap)
            scale[a] = sc
            m[a] = ex_ta[t, a] * sc
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
                if (dev or t - last[j] >= hb_j[j]) and not stale_tj[t, j] and lo_j[j] <= cand <= hi_j[j]:
                    pub[j] = cand   # answer bounds: a candidate outside them is not published
                    last[j] = t
        for j in range(J):
            oracle_tj[t, j] = pub[j] * override_tj[t, j]
        # 4-6. reads, each lending platform's round, flows
        for a in range(A):
            flow[a] = 0.0
        for k in range(K):
            l = slot_ptr[k]  # the platform's first (with one asset: only) ledger
            if perp_k[k] >= 0:  # a perp venue: PerpEngine.step (compiled_perps), every step
                v = perp_k[k]
                S = slot_ptr[k + 1] - l
                P, f = np.empty(S), np.empty(S)
                for s in range(S):
                    q, j = l + s, feed_l[l + s]
                    P[s], f[s] = oracle_tj[t, j], m[asset_l[q]]
                    if guarded_k[k]:
                        P[s] = _guarded(t, k, q, j, P[s], hop_k, delay_in, awin_k, a_sum, a_last, band_k, raw_tj,
                                        fb_alt_l, fb_prev, fb_on, fb_timeout_k, fb_jump_k, fb_agree_k, last, oracle_tj)
                    read_tl[t, q] = P[s]
                _venue_step(v, k, t, l, P, f, perp_st, perp_th, perp_logs, perp_cap, perp_rows, perp_flows, perp_fill,
                            asset_l, count_tk, notional_tk, repaid_tk, bad_tk, waiting_tk, flow_ta, flow)
                continue
            if slot_ptr[k + 1] - l > 1:
                # 4-6 for a platform of several assets (LendingEngine._round): the candidates of all
                # its ledgers in one queue, lowest health first, ties by account, under one capacity
                l1 = slot_ptr[k + 1]
                for q in range(l, l1):
                    j = feed_l[q]
                    read_l[q] = oracle_tj[t, j]
                    if guarded_k[k]:
                        read_l[q] = _guarded(t, k, q, j, read_l[q], hop_k, delay_in, awin_k, a_sum, a_last, band_k,
                                             raw_tj, fb_alt_l, fb_prev, fb_on, fb_timeout_k, fb_jump_k, fb_agree_k,
                                             last, oracle_tj)
                    read_tl[t, q] = read_l[q]
                any_liq = False
                for q in range(l, l1):
                    neg, base = -read_l[q], acc_ptr[q]
                    mk = _key(coll, debt, base + head[q], lt_l[q]) if head[q] < n_main_l[q] else np.inf
                    if mk < neg or (hn[q] > 0 and hk[q, 0] < neg):
                        any_liq = True
                throttled, track, cap = throttled_k[k], track_k[k], cap_k[k]
                if not any_liq and not throttled:  # the engine idles (asked, it would do nothing)
                    continue
                stop = throttled and _stopped(k, t, l, l1, read_l, br_window_k, br_n, br_hist, br_drop_k, br_pause_k,
                                              paused_until, out_tk, paused_k)
                n_all = 0
                if track:
                    n_all = _n_waiting(t, k, l, l1, read_l, last_called, st_n, st_step, st_val, coll, debt, acc_ptr,
                                       head, n_main_l, lt_l, pkey, reg_ptr, run_h, run_e, hr, hn)
                limited = rl_window_k[k] > 0
                budget = np.inf
                if limited:
                    budget = _budget(rl_t, rl_v, rl_h, rl_n, k, t, rl_window_k[k], rl_limit_k[k])
                    if budget <= 0:
                        stop = True
                if n_all == 0 and track or stop:
                    waiting_tk[t, k] = n_all
                    for q in range(l, l1):
                        _push_read(st_n, st_step, st_val, q, t, read_l[q])
                    continue
                # each ledger's first `cap` liquidatable accounts in its own order (Ledger.candidates)
                nc = 0
                for q in range(l, l1):
                    price, base, rb, lt = read_l[q], acc_ptr[q], reg_ptr[q], lt_l[q]
                    neg = -price
                    mk = _key(coll, debt, base + head[q], lt) if head[q] < n_main_l[q] else np.inf
                    n_q = 0
                    while cap < 0 or n_q < cap:
                        i, mk = _take_next(q, mk, neg, coll, debt, acc, base, lt, n_main_l[q], head, pool, pkey, rb,
                                           run_h, run_e, hk, ha, hr, hn)
                        if i < 0:
                            break
                        cand_i[nc], cand_l[nc], cand_pos[nc] = i, q, n_q
                        cand_h[nc] = coll[i] * price * lt / debt[i]
                        nc += 1
                        n_q += 1
                if nc == 0:
                    continue
                # the queue: health ascending, ties by account (np.lexsort((account, health)))
                o1 = np.argsort(acc[cand_i[:nc]], kind="mergesort")
                order = o1[np.argsort(cand_h[:nc][o1], kind="mergesort")]
                n = nc if cap < 0 else min(nc, cap)
                cut_at, cut = -1, 0.0  # the candidate whose repayment is cut to the rate limit, and to what
                if limited:
                    n, order, cut_at, cut = _limit_round(cand_i, cand_l, cand_pos, cand_h, nc, acc, coll, debt,
                                                         read_l, lt_l, bonus_l, cf_k[k], hfull_k[k], cap, budget)
                cand_rank[:nc] = -1
                for r in range(n):
                    cand_rank[order[r]] = r
                if n_ev + n > ev_acc.size:
                    ev_acc = _grow(ev_acc, n_ev + n)
                    ev_seized = _grow(ev_seized, n_ev + n)
                    ev_repaid = _grow(ev_repaid, n_ev + n)
                    ev_bad = _grow(ev_bad, n_ev + n)
                if n_ev + n > ev_l.size:
                    ev_l = _grow(ev_l, n_ev + n)
                if track and n_ev + n > delay.size:
                    delay = _grow(delay, n_ev + n)
                usd = 0.0
                c0 = 0
                while c0 < nc:  # ledger by ledger, in each ledger's own order
                    q = cand_l[c0]
                    c1 = c0
                    while c1 < nc and cand_l[c1] == q:
                        c1 += 1
                    price, base, rb, lt, bonus = read_l[q], acc_ptr[q], reg_ptr[q], lt_l[q], bonus_l[q]
                    n_sz = 0
                    nt = 0
                    for c in range(c0, c1):
                        i = cand_i[c]
                        r = cand_rank[c]
                        if r >= 0:
                            cc, d = coll[i], debt[i]
                            e = n_ev + r
                            if track:
                                began = max(_began(st_n, st_step, st_val, q, d / (cc * lt)), last_liq[i] + 1)
                                delay[e] = t - began
                                last_liq[i] = t
                            if c == cut_at:  # r = cut < r', so s < c and d - r > 0 (Ledger.apply's partial)
                                seized, repaid, bad = cut * (1.0 + bonus) / price, cut, 0.0
                                c_left, d_left = cc - seized, d - cut
                            else:
                                seized, repaid, bad, c_left, d_left = _lend(cc, d, price, lt, cf_k[k], bonus,
                                                                            hfull_k[k])
                            coll[i], debt[i] = c_left, d_left
                            ev_acc[e], ev_seized[e], ev_repaid[e], ev_bad[e], ev_l[e] = acc[i], seized, repaid, bad, q
                            cand_sz[n_sz] = seized
                            n_sz += 1
                        if debt[i] > 0.0:  # still open (or not chosen): back to the pool
                            taken[nt] = i - base
                            nt += 1
                    if n_sz:
                        a = asset_l[q]
                        usd_q = _sum(cand_sz, 0, n_sz, ws_i, ws_f) * m[a]
                        usd += usd_q
                        flow_ta[t, a] += usd_q
                        flow[a] += usd_q
                    if nt:
                        _add_run(q, taken, taken_key, nt, coll, debt, acc, base, lt, pool, pkey, rb, reg_ptr[q + 1],
                                 run_h, run_e, hr, hk, ha, hn, pend, n_made)
                    c0 = c1
                if track:
                    waiting_tk[t, k] = n_all - n
                    for q in range(l, l1):
                        _push_read(st_n, st_step, st_val, q, t, read_l[q])
                rd_t[n_rd], rd_k[n_rd], rd_n[n_rd] = t, k, n
                n_rd += 1
                _close_round(t, k, n, n_ev, usd, limited, count_tk, notional_tk, repaid_tk, bad_tk, ev_repaid, ev_bad,
                             rl_t, rl_v, rl_n, ws_i, ws_f)
                n_ev += n
                continue
            price = oracle_tj[t, feed_l[l]]
            if guarded_k[k]:  # 4. what the platform reads, through its guards (protections.readside)
                price = _guarded(t, k, l, feed_l[l], price, hop_k, delay_in, awin_k, a_sum, a_last, band_k, raw_tj,
                                 fb_alt_l, fb_prev, fb_on, fb_timeout_k, fb_jump_k, fb_agree_k, last, oracle_tj)
            read_tl[t, l] = price
            neg = -price
            base = acc_ptr[l]
            rb = reg_ptr[l]
            lt, cf, bonus, h_full, cap = lt_l[l], cf_k[k], bonus_l[l], hfull_k[k], cap_k[k]
            n_open = n_main_l[l]
            # the head of every source, and whether any account is liquidatable (else the engine idles)
            mk = _key(coll, debt, base + head[l], lt) if head[l] < n_open else np.inf
            any_liq = mk < neg or (hn[l] > 0 and hk[l, 0] < neg)
            throttled = throttled_k[k]
            # nothing to do: skip (a throttled or guarded engine is asked every step, as the reference asks it)
            if not any_liq and not (track_k[k] and (throttled or guarded_k[k])):
                continue
            track = track_k[k]
            stop = False
            read_l[l] = price
            if throttled:  # the circuit breaker, then a keeper outage (protections.Throttle.capacity)
                stop = _stopped(k, t, l, l + 1, read_l, br_window_k, br_n, br_hist, br_drop_k, br_pause_k,
                                paused_until, out_tk, paused_k)
            n_all = 0
            if track:
                n_all = _n_waiting(t, k, l, l + 1, read_l, last_called, st_n, st_step, st_val, coll, debt, acc_ptr,
                                   head, n_main_l, lt_l, pkey, reg_ptr, run_h, run_e, hr, hn)
            limited = rl_window_k[k] > 0
            budget = np.inf
            if limited:  # USD still repayable: the limit less what the window's rounds repaid
                budget = _budget(rl_t, rl_v, rl_h, rl_n, k, t, rl_window_k[k], rl_limit_k[k])
                if budget <= 0:
                    stop = True
            if n_all == 0 and track or stop:  # nothing liquidatable, or the engine is paused: only what waited
                waiting_tk[t, k] = n_all
                _push_read(st_n, st_step, st_val, l, t, price)
                continue
            start = n_ev
            n = 0
            nt = 0  # accounts taken from the ledger this round (liquidated, or one put back at the rate limit)
            cum = 0.0
            while cap < 0 or n < cap:  # (_take_next, written out: the hot path of a big run)
                use_main = mk < neg
                use_pool = hn[l] > 0 and hk[l, 0] < neg
                if use_main and use_pool:
                    use_main = _before(mk, acc[base + head[l]], hk[l, 0], ha[l, 0])
                elif not use_pool and not use_main:
                    break
                if use_main:
                    i = base + head[l]
                    head[l] += 1
                    mk = _key(coll, debt, base + head[l], lt) if head[l] < n_open else np.inf
                else:
                    i = _pop_pool(l, pool, pkey, rb, acc, base, run_h, run_e, hk, ha, hr, hn)
                c = coll[i]
                d = debt[i]
                # the lending rule (margin.liquidate), one account
                hl = c * price * lt / d
                rp = d if hl < h_full else cf * d
                if price > 0.0:
                    want = rp * (1.0 + bonus) / price
                else:
                    want = np.inf
                cut = -1.0  # the repayment cut to the rate limit
                last_one = False
                if limited:
                    full = c * price / (1.0 + bonus) if want >= c else rp
                    if cum + full > budget:
                        last_one = True
                        cut = budget - cum
                        if cut <= 0:  # not even a part fits: it goes back unchanged
                            taken[nt] = i - base
                            nt += 1
                            break
                    else:
                        cum += full
                if track:  # the delay: steps since the account became liquidatable
                    began = _began(st_n, st_step, st_val, l, d / (c * lt))
                    if last_liq[i] + 1 > began:
                        began = last_liq[i] + 1
                    if n_ev >= delay.size:
                        delay = _grow(delay, n_ev + 1)
                    delay[n_ev] = t - began
                    last_liq[i] = t
                if cut > 0:  # r = cut < r', so s < c and d - r > 0
                    seized = cut * (1.0 + bonus) / price
                    repaid = cut
                    bad = 0.0
                    coll[i] = c - seized
                    debt[i] = d - cut
                elif want >= c:
                    seized = c
                    repaid = c * price / (1.0 + bonus)
                    dl = d - repaid
                    bad = dl if dl > 0.0 else 0.0
                    coll[i] = 0.0
                    debt[i] = 0.0
                else:
                    seized = want
                    repaid = rp
                    bad = 0.0
                    coll[i] = c - want
                    debt[i] = d - rp
                if n_ev == ev_acc.size:
                    ev_acc = _grow(ev_acc, n_ev + 1)
                    ev_seized = _grow(ev_seized, n_ev + 1)
                    ev_repaid = _grow(ev_repaid, n_ev + 1)
                    ev_bad = _grow(ev_bad, n_ev + 1)
                ev_acc[n_ev] = acc[i]
                ev_seized[n_ev] = seized
                ev_repaid[n_ev] = repaid
                ev_bad[n_ev] = bad
                n_ev += 1
                taken[nt] = i - base
                nt += 1
                n += 1
                if last_one:
                    break
            # the survivors go back under their new p*, after the round (none is liquidated twice in a step)
            m_new = 0
            for e in range(nt):
                if debt[base + taken[e]] > 0.0:
                    taken[m_new] = taken[e]
                    m_new += 1
            if m_new:
                _add_run(l, taken, taken_key, m_new, coll, debt, acc, base, lt, pool, pkey, rb, reg_ptr[l + 1], run_h,
                         run_e, hr, hk, ha, hn, pend, n_made)
            if track:
                waiting_tk[t, k] = n_all - n
                _push_read(st_n, st_step, st_val, l, t, price)
            if n > 0:
                rd_t[n_rd], rd_k[n_rd], rd_n[n_rd] = t, k, n
                n_rd += 1
            a = asset_l[l]
            usd = _sum(ev_seized, start, n, ws_i, ws_f) * m[a]
            _close_round(t, k, n, start, usd, limited, count_tk, notional_tk, repaid_tk, bad_tk, ev_repaid, ev_bad,
                         rl_t, rl_v, rl_n, ws_i, ws_f)
            flow_ta[t, a] += usd
            flow[a] += usd
        # 7. impact
        for a in range(A):
            kappa[a] = keep_a[a] * kappa[a] + flow[a] / depth_a[a]
    return err, (kappa_ta, market_ta, raw_tj, oracle_tj, held_tv, held_t, flow_ta, count_tk, notional_tk, repaid_tk,
                 bad_tk, waiting_tk, rd_t[:n_rd], rd_k[:n_rd], rd_n[:n_rd], ev_acc[:n_ev], ev_seized[:n_ev],
                 ev_repaid[:n_ev], ev_bad[:n_ev], delay[:n_ev if tracking else 0], paused_k,
                 read_tl, ev_l[:n_ev if multi else 0])


# ---------------------------------------------------------------------------

#: the position of each of the compiled loop's arguments
_ARG = {name: i for i, name in enumerate(inspect.signature(getattr(_loop, "py_func", _loop)).parameters)}


def _ledger_order(c, d, lt, accounts=None):
    """The open accounts (debt > 0) in ``margin.Ledger``'s first order: ``-p*`` ascending, ties by index.

    ``accounts``: the ledger's accounts (a platform of several assets keeps one ledger per asset).
    """
    from .margin import _sort_run, liquidation_price

    if accounts is None and (d > 0).all():
        idx, negp = np.arange(d.size), -liquidation_price(c, d, lt)
    else:
        idx = np.flatnonzero(d > 0) if accounts is None else accounts[d[accounts] > 0]
        negp = -liquidation_price(c[idx], d[idx], lt)
    return _sort_run(idx, negp)[0]


def _shared_venues(world, orders):
    """``loop._Venues(world)``, kept in ``orders`` for worlds on the same path, noise, feeds' sources and faults.

    Along the sharing dial (``shared_fraction``) only which feed each platform
    reads changes: the venues and the feeds' raw observations are the same.
    """
    from .loop import _Venues

    if orders is None:
        return _Venues(world, lists=False)
    key = ("venues", tuple(o.sources for o in world.oracles), world.venue_faults, world.venue_asset)
    hit = orders.get(key)
    if hit is not None and np.array_equal(hit[0], world.paths_ta) and np.array_equal(hit[1], world.venue_noise_tv):
        return hit[2]
    venues = _Venues(world, lists=False)
    orders[key] = (world.paths_ta, world.venue_noise_tv, venues)
    return venues


def _inputs(world, orders=None):
    """The arrays the compiled loop reads, computed with the reference's own code where it is not the loop.

    ``orders`` (a dict, optional) keeps each book's first order between runs
    that share the book object (a sweep along a dial: same seed, same books).
    """
    from .oracles import fault_masks
    from .protections import AnchorBand, Delay

    T, K, J = world.n_steps, world.n_platforms, world.n_oracles
    venues = _shared_venues(world, orders)
    src = [np.asarray(o.sources, dtype=np.int64) for o in world.oracles]
    stale_tj, override_tj = fault_masks(world.oracle_faults, T, J, world.provider_of_feed)
    from .margin import PlatformParams

    venue = [not isinstance(p, PlatformParams) for p in world.platforms]  # perp venues (supports checks)
    params = tuple(PlatformParams() if v else p for p, v in zip(world.platforms, venue))  # lending arrays: neutral
    # the ledgers: one per platform and asset it accepts (platform k's are slot_ptr[k]..slot_ptr[k + 1]);
    # a perp venue has its slots (feed, asset) but no accounts in them
    slot_k = [k for k in range(K) for _ in world.assets_of(k)]
    slot_ptr = np.concatenate([[0], np.cumsum([len(world.assets_of(k)) for k in range(K)])]).astype(np.int64)
    feed_l = np.array([j for k in range(K) for j in world.feeds_of(k)], dtype=np.int64)
    asset_l = np.array([a for k in range(K) for a in world.assets_of(k)], dtype=np.int64)
    lt_l = np.array([params[k].lt_of(int(a)) for k, a in zip(slot_k, asset_l)], dtype=float)
    members = [np.empty(0, np.int64) if venue[k] else None if len(world.assets_of(k)) == 1 else
               np.flatnonzero(world.books[k].asset_of_accounts() == a) for k, a in zip(slot_k, asset_l)]
    # answer bounds (MODEL.md §9): a feed publishes only candidates in [lo, hi], every bound of it at once
    lo_j, hi_j = np.full(J, -np.inf), np.full(J, np.inf)
    for j, rules in enumerate(world.feed_rules):
        for r in rules:
            lo_j[j], hi_j[j] = max(lo_j[j], r.min_answer), min(hi_j[j], r.max_answer)
    # the throttle: keeper outages and the circuit breaker
    out_tk = np.zeros((T, K), dtype=np.bool_)
    for f in world.platform_faults:
        out_tk[f.t0:f.t1, f.platform] = True
    throttled_k = out_tk.any(axis=0) | np.array([p.breaker is not None for p in params], dtype=np.bool_)
    throttled_k &= ~np.array(venue, dtype=np.bool_)  # a perp venue's throttle is its own (compiled_perps)
    # read-side guards: at most one of each, in the order delay -> anchor band -> fallback (World checks it)
    hop_k, awin_k, band_k = np.zeros(K, np.int64), np.zeros(K, np.int64), np.zeros(K)
    fb_alt_l, fb_timeout_k = np.full(len(slot_k), -1, np.int64), np.zeros(K, np.int64)  # the alternate feed per ledger
    fb_jump_k, fb_agree_k = np.zeros(K), np.zeros(K)
    for k, chain in enumerate(world.read_guards):
        for g in chain:
            if isinstance(g, Delay):
                hop_k[k] = g.hop
            elif isinstance(g, AnchorBand):
                awin_k[k], band_k[k] = g.window, g.band
            else:
                for q, (a, j) in enumerate(zip(world.assets_of(k), world.feeds_of(k)), start=int(slot_ptr[k])):
                    g.bind(k, a, j, world)  # its checks (the Reader's): the feed exists, differs, quotes the asset
                    fb_alt_l[q] = g.feed
                fb_timeout_k[k], fb_jump_k[k], fb_agree_k[k] = g.timeout, g.max_jump, g.agree
    L = len(slot_k)
    size_l = [world.books[k].n_accounts if m is None else m.size for k, m in zip(slot_k, members)]
    acc_ptr = np.concatenate([[0], np.cumsum(size_l)]).astype(np.int64)
    # each ledger in its first order (liquidation price, ties by index): its open accounts as slots
    coll, debt = np.empty(acc_ptr[-1]), np.empty(acc_ptr[-1])
    acc, n_main = np.zeros(acc_ptr[-1], np.int32), np.zeros(L, np.int64)  # int32: a book is < 2**31 accounts

    def first_order(l):
        if venue[slot_k[l]]:
            return np.empty(0, np.int64)
        b, lt, base = world.books[slot_k[l]], lt_l[l], acc_ptr[l]
        c, d = b.collateral, b.debt
        key = (id(b), float(lt), None if members[l] is None else int(asset_l[l]))
        hit = None if orders is None else orders.get(key)
        if hit is not None and hit[0] is b:
            order = hit[1]
        else:
            order = _ledger_order(c, d, lt, members[l])
            if orders is not None:
                orders[key] = (b, order)  # the book itself is kept, so its id stays its own
        n = order.size
        coll[base:base + n], debt[base:base + n], acc[base:base + n] = c[order], d[order], order
        n_main[l] = n
        return order

    if acc_ptr[-1] >= _THREADED_SORT and L > 1:  # big books: NumPy sorts without the GIL, one book per core
        with ThreadPoolExecutor(min(L, os.cpu_count() or 1)) as pool:
            main = list(pool.map(first_order, range(L)))
    else:
        main = [first_order(l) for l in range(L)]
    args = (
        np.exp(world.paths_ta), np.array([1.0 - p.resilience for p in world.markets]),
        np.array([p.depth for p in world.markets], dtype=float),
        np.ascontiguousarray(venues.unit_raw_tj, dtype=float).reshape(T, J), venues.frozen_t,
        np.ascontiguousarray(venues.unit_tv),
        np.ascontiguousarray(venues.frozen_tv), np.asarray(venues.venue_asset, dtype=np.int64),
        np.concatenate([[0], np.cumsum([s.size for s in src])]).astype(np.int64), np.concatenate(src),
        np.asarray(world.feed_asset, dtype=np.int64),
        np.array([o.theta for o in world.oracles], dtype=float),
        np.array([o.heartbeat for o in world.oracles], dtype=np.int64),
        np.array([o.latency for o in world.oracles], dtype=np.int64),
        stale_tj, override_tj, lo_j, hi_j, slot_ptr, feed_l, asset_l, lt_l,
        np.array([p.close_factor for p in params], dtype=float),
        np.array([params[k].bonus_of(int(a)) for k, a in zip(slot_k, asset_l)], dtype=float),
        np.array([p.h_full for p in params], dtype=float),
        np.array([-1 if p.keeper_capacity is None else p.keeper_capacity for p in params], dtype=np.int64),
        out_tk, throttled_k,
        np.array([0.0 if p.breaker is None else p.breaker.drop for p in params], dtype=float),
        np.array([0 if p.breaker is None else p.breaker.window for p in params], dtype=np.int64),
        np.array([0 if p.breaker is None else p.breaker.pause for p in params], dtype=np.int64),
        hop_k, band_k, awin_k, fb_alt_l, fb_timeout_k, fb_jump_k, fb_agree_k,
        np.array([0.0 if p.rate_limit is None else p.rate_limit.limit_usd for p in params], dtype=float),
        np.array([0 if p.rate_limit is None else p.rate_limit.window for p in params], dtype=np.int64),
        acc_ptr, coll, debt, acc, n_main,
        max(1024, 2 * int(acc_ptr[-1])),
        *_perp_inputs(world, venue),
    )
    return venues, main, args


if njit is not None:
    from numba.typed import List

    # typed lists made in compiled (cached) functions: made from Python, each element type would be
    # compiled again in every fresh process (about 0.5 s a list)
    @_jit
    def _venue_lists(st, th, log, rows, flows):
        """Five typed lists, one entry each: a venue's state, throttle, log, rows and flows."""
        a = List()
        a.append(st)
        b = List()
        b.append(th)
        c = List()
        c.append(log)
        d = List()
        d.append(rows)
        e = List()
        e.append(flows)
        return a, b, c, d, e

    @_jit
    def _venue_items(states, logs, rows, flows, v):
        """Venue ``v``'s state, log, rows and flows (read in a compiled function, for the same reason)."""
        return states[v], logs[v], rows[v], flows[v]

    @_jit
    def _venue_append(lists, st, th, log, rows, flows):
        lists[0].append(st)
        lists[1].append(th)
        lists[2].append(log)
        lists[3].append(rows)
        lists[4].append(flows)


_NO_VENUES = []  # the perp arguments of a world without perp venues: one venue never stepped (made once)


def _perp_inputs(world, venue):
    """The compiled loop's perp arguments: each venue's state, throttle, log, keeper capacity and outputs.

    ``perp_k`` maps a platform to its venue (-1: lending). The states, logs and
    output rows are typed lists (numba), so one compiled loop serves any
    number of venues; a world without venues passes a single idle one.
    """
    from .compiled_perps import N_FILL, N_SERIES, new_log, perp_state, throttle_state

    K, T = world.n_platforms, world.n_steps
    ks = [k for k in range(K) if venue[k]]
    if not ks and _NO_VENUES:
        return (np.full(K, -1, np.int64), *_NO_VENUES[0])
    if ks:
        engines = [world.platforms[k].make_engine(k, world.books[k], world.assets_of(k), world) for k in ks]
    else:
        from .perps import PerpBook, PerpParams

        engines = [PerpParams().make_engine(0, PerpBook(np.zeros((1, 1)), np.ones((1, 1)), "cross"), (0,))]
    lists = None
    for e in engines:
        item = (perp_state(e), throttle_state(e), new_log(), np.zeros((T, N_SERIES)), np.zeros((T, len(e.assets))))
        if lists is None:
            lists = _venue_lists(*item)
        else:
            _venue_append(lists, *item)
    caps = np.array([-1 if e.params.keeper_capacity is None else e.params.keeper_capacity for e in engines],
                    dtype=np.int64)
    rest = (lists[0], lists[1], lists[2], caps, lists[3], lists[4], np.zeros((len(engines), T if ks else 1, N_FILL)))
    perp_k = np.full(K, -1, np.int64)
    if not ks:
        _NO_VENUES.append(rest)
        return (perp_k, *rest)
    perp_k[ks] = np.arange(len(ks))
    return (perp_k, *rest)


def run_measures(world, orders=None):
    """Only the :class:`~coupling_lab.measures.Measures` of ``run_compiled(world)`` (a sweep's row), cheaper.

    The same numbers as ``run_compiled(world).measures`` (tested), without
    the event log, the balances and the venue prices a sweep does not keep.
    """
    from .market import Markets
    from .result import measures_of

    why = supports(world)
    if why is not None:
        raise ValueError(f"kernel='compiled' cannot run this world: {why}; use kernel='auto' or 'reference'")
    _, _, args = _inputs(world, orders)
    err, out = _loop(*args)
    if err[0] >= 0:
        t, a = int(err[0]), int(err[1])
        Markets._overflow(t, a, float(out[0][t, a]))
    kappa_ta, flow_ta, notional_tk, bad_tk, read_tl = out[0], out[6], out[8], out[10], out[21]
    read_tk = read_tl[:, args[_ARG["slot_ptr"]][:-1]]  # each platform's first read
    return measures_of(world, read_tk, notional_tk, bad_tk, kappa_ta, world.paths_ta, flow_ta)


def run_compiled(world, orders=None):
    """Run ``world`` on the compiled loop (see :func:`supports`); the same :class:`Result` as ``loop.run``.

    ``orders``: a dict shared by runs on the same books (see :func:`_inputs`).
    """
    from .market import Markets
    from .result import Result

    why = supports(world)
    if why is not None:
        raise ValueError(f"kernel='compiled' cannot run this world: {why}; use kernel='auto' or 'reference'")
    venues, main, args = _inputs(world, orders)
    main = [order.size for order in main]  # the orders themselves are in the kernel's `acc`
    err, out = _loop(*args)
    if err[0] >= 0:
        t, a = int(err[0]), int(err[1])
        Markets._overflow(t, a, float(out[0][t, a]))
    (kappa_ta, market_ta, raw_tj, oracle_tj, held_tv, held_t, flow_ta, count_tk, notional_tk, repaid_tk, bad_tk,
     waiting_tk, rd_t, rd_k, rd_n, ev_acc, ev_seized, ev_repaid, ev_bad, delay, paused_k, read_tl, ev_l) = out
    del out
    guarded = {k for k, chain in enumerate(world.read_guards) if chain}
    venues.held_rows = {int(t): held_tv[t] for t in np.flatnonzero(held_t)}
    throttled_k, acc_ptr, slot_ptr = (args[_ARG[name]] for name in ("throttled_k", "acc_ptr", "slot_ptr"))
    feed_l, asset_l = args[_ARG["feed_l"]], args[_ARG["asset_l"]]
    coll, debt, acc = (args[_ARG[name]] for name in ("coll", "debt", "acc"))
    perp_k = args[_ARG["perp_k"]]
    venues_out, perp_events = _perp_outputs(world, perp_k, *(args[_ARG[name]] for name in (
        "perp_st", "perp_logs", "perp_rows", "perp_flows", "perp_fill")))
    del args
    # the balances back in account order, then the kernel's copies go (a big book is not held twice over)
    collateral_k, debt_k = [], []
    for k, b in enumerate(world.books):
        if perp_k[k] >= 0:  # a perp venue keeps no lending balances
            collateral_k.append(None)
            debt_k.append(None)
            continue
        ledgers = range(slot_ptr[k], slot_ptr[k + 1])
        if len(ledgers) == 1 and int(main[ledgers[0]]) == b.n_accounts:  # every account was in the ledger
            c, d = np.empty(b.n_accounts), np.empty(b.n_accounts)
        else:  # accounts without debt never enter a ledger
            c, d = b.collateral.copy(), b.debt.copy()
        for l in ledgers:
            base, n = acc_ptr[l], int(main[l])
            order = acc[base:base + n]
            c[order], d[order] = coll[base:base + n], debt[base:base + n]
        collateral_k.append(c)
        debt_k.append(d)
    del coll, debt, acc
    # the event log: each round's step and platform repeated over its liquidations; asset and price by ledger
    ev_t, ev_k = np.repeat(rd_t, rd_n), np.repeat(rd_k, rd_n)
    ledger = slot_ptr[:-1][ev_k]  # a platform's first (with one asset: only) ledger
    several = np.flatnonzero(np.diff(slot_ptr) > 1)
    if several.size:  # the rounds of platforms of several assets logged each liquidation's ledger
        at = np.flatnonzero(np.isin(ev_k, several))
        ledger[at] = ev_l[at]
    price, asset = read_tl[ev_t, ledger], asset_l[ledger]
    events = {"t": ev_t, "platform": ev_k, "account": ev_acc, "asset": asset, "seized_units": ev_seized,
              "repaid_usd": ev_repaid, "bad_debt_usd": ev_bad, "oracle_price": price}
    outputs = []
    for k, p in enumerate(world.platforms):
        if perp_k[k] >= 0:
            outputs.append(venues_out[perp_k[k]])
        elif p.keeper_capacity is None and not throttled_k[k] and p.rate_limit is None:
            outputs.append({})
        else:
            outputs.append({"delay_steps": delay[ev_k == k], "paused_steps": int(paused_k[k])})
    return Result.from_arrays(
        world, kappa_ta=kappa_ta, market_ta=market_ta, flow_ta=flow_ta, venue_tv=venues.prices_tv(kappa_ta),
        raw_tj=raw_tj, oracle_tj=oracle_tj, read_rows={k: read_tl[:, slot_ptr[k]:slot_ptr[k + 1]] for k in guarded},
        count_tk=count_tk, notional_tk=notional_tk,
        repaid_tk=repaid_tk, bad_debt_tk=bad_tk, events=events, collateral_k=tuple(collateral_k),
        debt_k=tuple(debt_k), events_by_kind=perp_events, waiting_tk=waiting_tk, engine_outputs=tuple(outputs))


def _perp_outputs(world, perp_k, states, logs, rows, flows, fills):
    """Each perp venue's ``finish()`` dict, and ``events_by_kind`` as the reference's Recorder builds it.

    The Recorder keeps one piece per step and venue that liquidated, in step
    then platform order, with the columns ``t``, ``platform``, ``kind`` and the
    engine's event fields.
    """
    from .compiled_perps import EV_F, FILL_COUNT, perp_finish

    ks = np.flatnonzero(perp_k >= 0)
    items = [_venue_items(states, logs, rows, flows, v) for v in range(ks.size)]
    outs = [perp_finish(*item) for item in items]
    cols = {name: [] for name in ("t", "platform", "account", "asset", "mode", *EV_F)}
    for (_, log, _, _), k in zip(items, ks):
        ev_i, ev_f, _, _, counts = log
        n = int(counts[0])
        cols["t"].append(ev_i[:n, 0])
        cols["platform"].append(np.full(n, k, np.int64))
        cols["account"].append(ev_i[:n, 1])
        cols["asset"].append(ev_i[:n, 2])
        cols["mode"].append(np.where(ev_i[:n, 3] != 0, "isolated", "cross"))
        for c, name in enumerate(EV_F):
            cols[name].append(ev_f[:n, c])
    n_all = sum(int(fills[v, :, FILL_COUNT].sum()) for v in range(ks.size))
    if n_all == 0:
        return outs, {}
    joined = {name: np.concatenate(parts) for name, parts in cols.items()}
    order = np.lexsort((joined["platform"], joined["t"]))  # stable: each venue's own order within a step
    events = {"t": joined["t"][order], "platform": joined["platform"][order],
              "kind": np.full(order.size, "perp")}
    for name in ("account", "asset", "mode", *EV_F):
        events[name] = joined[name][order]
    return outs, {"perp": events}


def warm():
    """Compile (or load from the on-disk cache) the compiled loop: one small lending world, one with two perp venues."""
    from .config import Config, build
    from .perp_scenarios import fund_world
    from .scenarios import CrashScenario

    run_compiled(fund_world(n_venues=2, n_traders=20, n_steps=30))
    return run_compiled(build(Config(scenario=CrashScenario(n_steps=50, start=10, duration=20)), seed=0))
