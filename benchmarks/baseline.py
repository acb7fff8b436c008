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

Several assets (MODEL.md §8) are the same loop with an asset index on
everything: each asset has its own path, depth, resilience and impact state;
each venue quotes one asset (``world.venue_asset_v()``), each feed reads
venues of one asset; a fault with ``scope="provider"`` hits every feed whose
``world.provider_of_feed`` is that provider; platform ``k`` reads one feed per
asset it accepts (``world.feeds_of(k)``); each account holds one asset
(``book.asset_of_accounts()``) and uses the platform's ``lt_of(a)`` and
``bonus_of(a)``; a platform's accounts on all its assets form one queue,
lowest health ``h = c * pi_a * LT_a / d`` first, ties by account index,
under one keeper capacity. Seized units of asset ``a`` are sold at ``m^a_t``
and move only ``kappa^a``. With one asset this is exactly the v1 loop.
Feed-side rules and read-side guards (the hooks for MODEL.md §9) are not
modelled here.

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
    world : coupling_lab.World (one asset or several)
    n_steps : int, optional
        Run only the first ``n_steps`` steps (default: all of them).

    Returns
    -------
    dict with
        ``events``: list of ``(t, platform, account, seized_units, repaid_usd,
        bad_debt_usd)`` in processing order;
        ``event_asset``: list of the collateral asset of each event (same order);
        ``kappa_t``, ``market_t``: lists of length T (asset 0);
        ``kappa_ta``, ``market_ta``, ``flow_ta``: T lists of A values (per
        asset: impact state, market price, net forced flow in USD);
        ``venue_tv``: T lists of V venue prices;
        ``oracle_tj``: T lists of J prices as platforms read them;
        ``count_tk``, ``notional_tk``, ``bad_debt_tk``: T lists of K values;
        ``collateral_k``, ``debt_k``: K lists of final balances.
    """
    if world.feed_rules or world.read_guards:
        raise ValueError("run_baseline models no feed rules or read guards; got a world with some")
    T = world.n_steps if n_steps is None else int(n_steps)
    x = [[float(v) for v in row] for row in world.paths_ta[:T]]
    A = len(x[0])
    eps = [[float(e) for e in row] for row in world.venue_noise_tv[:T]]
    V = len(eps[0])
    venue_asset = [int(a) for a in world.venue_asset_v()]
    oracles = list(world.oracles)
    J = len(oracles)
    provider = [int(p) for p in world.provider_of_feed]
    platforms = list(world.platforms)
    K = len(platforms)
    depth = [float(mp.depth) for mp in world.markets]
    rho = [float(mp.resilience) for mp in world.markets]
    venue_faults = list(world.venue_faults)
    oracle_faults = list(world.oracle_faults)

    def hits(f, j):  # does oracle fault f hit feed j?
        if getattr(f, "scope", "feed") == "provider":
            return provider[j] == f.oracle
        return f.oracle == j

    coll = [[float(c) for c in book.collateral] for book in world.books]
    debt = [[float(d) for d in book.debt] for book in world.books]
    asset_of = [[int(a) for a in book.asset_of_accounts()] for book in world.books]
    feed_for = []                          # per platform: asset -> the feed it reads for it
    for k in range(K):
        feed_for.append(dict(zip(world.assets_of(k), world.feeds_of(k))))

    kappa = [0.0] * A
    venue_prev = None
    raw_hist = [[] for _ in range(J)]      # r^j_s for s = 0..t
    published = [0.0] * J                  # pi^j_{t-1}, the feed's honest state
    last_update = [0] * J

    keys = ("kappa_t", "market_t", "kappa_ta", "market_ta", "flow_ta", "venue_tv", "oracle_tj",
            "count_tk", "notional_tk", "bad_debt_tk")
    out = {k: [] for k in keys}
    events, event_asset = [], []

    for t in range(T):
        # (1) market price of every asset
        m = [math.exp(x[t][a] - kappa[a]) for a in range(A)]

        # (2) venue prices, with faults
        venue = []
        for v in range(V):
            frozen = t > 0 and any(f.kind == "freeze" and f.venue == v and _active(f, t) for f in venue_faults)
            if frozen:
                p = venue_prev[v]
            else:
                p = m[venue_asset[v]] * math.exp(eps[t][v])
                for f in venue_faults:
                    if f.kind == "spike" and f.venue == v and _active(f, t):
                        p = p * f.factor
            venue.append(p)
        venue_prev = venue

        # (3) oracles (feeds): raw median, latency, publication rule, faults
        read = []
        for j, o in enumerate(oracles):
            raw_hist[j].append(_median([venue[v] for v in o.sources]))
            candidate = raw_hist[j][max(t - o.latency, 0)]
            if t == 0:
                published[j] = candidate
                last_update[j] = 0
            else:
                is_stale = any(f.kind == "stale" and hits(f, j) and _active(f, t) for f in oracle_faults)
                deviates = abs(candidate / published[j] - 1.0) > o.theta
                due = t - last_update[j] >= o.heartbeat
                if (deviates or due) and not is_stale:
                    published[j] = candidate
                    last_update[j] = t
            price = published[j]
            for f in oracle_faults:
                if f.kind == "override" and hits(f, j) and _active(f, t):
                    price = price * f.factor
            read.append(price)

        # (4) one liquidation round per platform, all at this step's prices
        flow = [0.0] * A
        counts, notionals, bads = [], [], []
        for k, plat in enumerate(platforms):
            c_k, d_k, a_k = coll[k], debt[k], asset_of[k]
            price_a = {a: read[j] for a, j in feed_for[k].items()}   # pi_a this platform reads
            lt_a = {a: plat.lt_of(a) for a in feed_for[k]}
            liquidatable = []
            if len(price_a) == 1:              # one asset: one price and one LT for every account
                (pi, lt), = zip(price_a.values(), lt_a.values())
                for i in range(len(c_k)):
                    if d_k[i] > 0.0:
                        pstar = d_k[i] / (c_k[i] * lt)
                        if pi < pstar:
                            health = c_k[i] * pi * lt / d_k[i]
                            liquidatable.append((health, i))
            else:
                for i in range(len(c_k)):
                    if d_k[i] > 0.0:
                        a = a_k[i]
                        pi, lt = price_a[a], lt_a[a]
                        pstar = d_k[i] / (c_k[i] * lt)
                        if pi < pstar:
                            health = c_k[i] * pi * lt / d_k[i]
                            liquidatable.append((health, i))
            liquidatable.sort()            # lowest health first, ties by account index
            if plat.keeper_capacity is not None:
                liquidatable = liquidatable[:plat.keeper_capacity]
            n_done, bad_total = 0, 0.0
            units = {a: 0.0 for a in world.assets_of(k)}   # units sold per asset, in read order
            for health, i in liquidatable:
                a = a_k[i]
                pi, bonus = price_a[a], plat.bonus_of(a)
                c, d = c_k[i], d_k[i]
                r = d if health < plat.h_full else plat.close_factor * d
                s = min(c, r * (1.0 + bonus) / pi)
                repaid = s * pi / (1.0 + bonus)
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
                event_asset.append(a)
                n_done += 1
                units[a] += s
                bad_total += bad
            usd_sold = 0.0
            for a, u in units.items():     # sold at this step's market price of the asset
                usd_sold += u * m[a]
                flow[a] += u * m[a]
            counts.append(n_done)
            notionals.append(usd_sold)
            bads.append(bad_total)

        out["kappa_t"].append(kappa[0])
        out["market_t"].append(m[0])
        out["kappa_ta"].append(list(kappa))
        out["market_ta"].append(m)
        out["flow_ta"].append(flow)
        out["venue_tv"].append(venue)
        out["oracle_tj"].append(read)
        out["count_tk"].append(counts)
        out["notional_tk"].append(notionals)
        out["bad_debt_tk"].append(bads)

        # (5) the step's sales of each asset move that asset's impact state for the next step
        kappa = [(1.0 - rho[a]) * kappa[a] + flow[a] / depth[a] for a in range(A)]

    out["events"] = events
    out["event_asset"] = event_asset
    out["collateral_k"] = coll
    out["debt_k"] = debt
    return out
