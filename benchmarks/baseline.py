"""A plain reference implementation of MODEL.md, for checking and timing the engine.

Written from ``MODEL.md`` alone, on purpose in the most direct style: Python
floats and lists, one loop over steps and, inside it, one loop over every
account of every platform (no sorting tricks, no vectorisation). It is slow by
design; ``tests/test_baseline.py`` checks that the engine gives the same event
log and series, and ``benchmarks/bench_engine.py`` reports the speed ratio.

Where MODEL.md is silent it follows the documented choices of the package:
a freeze holds the venue's price of the step before (a freeze covering step 0
prices normally there, there being nothing to hold); a ``stale`` oracle keeps
its last price but still publishes at step 0; an ``override`` multiplies the
price platforms read while the feed itself keeps its honest state.

Usage::

    from coupling_lab import Config, build
    from baseline import run_baseline
    out = run_baseline(build(Config(), seed=0))
    out["events"][:3]   # [(t, platform, account, seized, repaid, bad), ...]
"""
from __future__ import annotations

import math

__all__ = ["run_baseline"]


def _median(values):
    s = sorted(values)
    n = len(s)
    mid = n // 2
    if n % 2:
        return s[mid]
    return 0.5 * (s[mid - 1] + s[mid])


def _active(fault, t):
    return fault.t0 <= t < fault.t1


def run_baseline(world, n_steps=None):
    """Run a ``coupling_lab.World`` step by step, account by account.

    Parameters
    ----------
    world : coupling_lab.World
    n_steps : int, optional
        Run only the first ``n_steps`` steps (default: all of them).

    Returns
    -------
    dict with
        ``events``: list of ``(t, platform, account, seized_units, repaid_usd,
        bad_debt_usd)`` in processing order;
        ``kappa_t``, ``market_t``: lists of length T;
        ``venue_tv``: T lists of V venue prices;
        ``oracle_tj``: T lists of J prices as platforms read them;
        ``count_tk``, ``notional_tk``, ``bad_debt_tk``: T lists of K values;
        ``collateral_k``, ``debt_k``: K lists of final balances.
    """
    T = world.n_steps if n_steps is None else int(n_steps)
    x = [float(v) for v in world.x_t[:T]]
    eps = [[float(e) for e in row] for row in world.venue_noise_tv[:T]]
    V = len(eps[0])
    oracles = list(world.oracles)
    J = len(oracles)
    platforms = list(world.platforms)
    K = len(platforms)
    depth = float(world.market.depth)
    rho = float(world.market.resilience)
    venue_faults = list(world.venue_faults)
    oracle_faults = list(world.oracle_faults)

    coll = [[float(c) for c in book.collateral] for book in world.books]
    debt = [[float(d) for d in book.debt] for book in world.books]

    kappa = 0.0
    venue_prev = None
    raw_hist = [[] for _ in range(J)]      # r^j_s for s = 0..t
    published = [0.0] * J                  # pi^j_{t-1}, the feed's honest state
    last_update = [0] * J

    out = {k: [] for k in ("kappa_t", "market_t", "venue_tv", "oracle_tj", "count_tk", "notional_tk", "bad_debt_tk")}
    events = []

    for t in range(T):
        # (1) market price
        m = math.exp(x[t] - kappa)

        # (2) venue prices, with faults
        venue = []
        for v in range(V):
            frozen = t > 0 and any(f.kind == "freeze" and f.venue == v and _active(f, t) for f in venue_faults)
            if frozen:
                p = venue_prev[v]
            else:
                p = m * math.exp(eps[t][v])
                for f in venue_faults:
                    if f.kind == "spike" and f.venue == v and _active(f, t):
                        p = p * f.factor
            venue.append(p)
        venue_prev = venue

        # (3) oracles: raw median, latency, publication rule, faults
        read = []
        for j, o in enumerate(oracles):
            raw_hist[j].append(_median([venue[v] for v in o.sources]))
            candidate = raw_hist[j][max(t - o.latency, 0)]
            if t == 0:
                published[j] = candidate
                last_update[j] = 0
            else:
                is_stale = any(f.kind == "stale" and f.oracle == j and _active(f, t) for f in oracle_faults)
                deviates = abs(candidate / published[j] - 1.0) > o.theta
                due = t - last_update[j] >= o.heartbeat
                if (deviates or due) and not is_stale:
                    published[j] = candidate
                    last_update[j] = t
            price = published[j]
            for f in oracle_faults:
                if f.kind == "override" and f.oracle == j and _active(f, t):
                    price = price * f.factor
            read.append(price)

        # (4) one liquidation round per platform, all at this step's prices
        sold_usd = 0.0
        counts, notionals, bads = [], [], []
        for k, plat in enumerate(platforms):
            pi = read[world.platform_oracle[k]]
            c_k, d_k = coll[k], debt[k]
            liquidatable = []
            for i in range(len(c_k)):
                if d_k[i] > 0.0:
                    pstar = d_k[i] / (c_k[i] * plat.lt)
                    if pi < pstar:
                        health = c_k[i] * pi * plat.lt / d_k[i]
                        liquidatable.append((health, i))
            liquidatable.sort()
            if plat.keeper_capacity is not None:
                liquidatable = liquidatable[:plat.keeper_capacity]
            n_done, units_sold, bad_total = 0, 0.0, 0.0
            for health, i in liquidatable:
                c, d = c_k[i], d_k[i]
                r = d if health < plat.h_full else plat.close_factor * d
                s = min(c, r * (1.0 + plat.bonus) / pi)
                repaid = s * pi / (1.0 + plat.bonus)
                c = c - s
                d = d - repaid
                if d < 0.0:          # rounding of s * pi / (1 + b) back to r
                    d = 0.0
                bad = 0.0
                if c <= 0.0 and d > 0.0:
                    bad = d
                    d = 0.0
                c_k[i], d_k[i] = c, d
                events.append((t, k, i, s, repaid, bad))
                n_done += 1
                units_sold += s
                bad_total += bad
            sold_usd += units_sold * m
            counts.append(n_done)
            notionals.append(units_sold * m)
            bads.append(bad_total)

        out["kappa_t"].append(kappa)
        out["market_t"].append(m)
        out["venue_tv"].append(venue)
        out["oracle_tj"].append(read)
        out["count_tk"].append(counts)
        out["notional_tk"].append(notionals)
        out["bad_debt_tk"].append(bads)

        # (5) the step's sales move the impact state for the next step
        kappa = (1.0 - rho) * kappa + sold_usd / depth

    out["events"] = events
    out["collateral_k"] = coll
    out["debt_k"] = debt
    return out
