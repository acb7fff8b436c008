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

__all__ = ["run_baseline", "run_perp_baseline"]


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


# ---------------------------------------------------------------------------
# Perpetual-futures venue (MODEL.md §10), plain per-account loop
# ---------------------------------------------------------------------------
# Kept as a separate section on purpose: it reads the venue's marks and the
# market prices of a run (what the step loop hands a perp engine) and replays
# the venue account by account, position by position, with Python floats.
# ``tests/test_perps_baseline.py`` checks that the fast engine gives the same
# event log, flows and outputs, step by step.

def _ranked(entries):
    """Sort ``(value, account, asset, ...)`` ascending by value, where values closer than 1e-9
    (relative) count as equal (exact ties computed in floats): ties go by account, then asset."""
    entries = sorted(entries, key=lambda e: e[0])
    out, group = [], 0
    for n, e in enumerate(entries):
        if n and e[0] - entries[n - 1][0] > 1e-9 * (abs(e[0]) + abs(entries[n - 1][0])):
            group += 1
        out.append((group,) + tuple(e[1:]))
    out.sort()
    return [e[1:] for e in out]


def run_perp_baseline(params, book, assets, marks_ts, market_ts, outages=(), breaker=None):
    """Replay one perp venue of MODEL.md §10 step by step, account by account.

    Parameters
    ----------
    params : coupling_lab.perps.PerpParams
    book : coupling_lab.perps.PerpBook
    assets : tuple of int, the venue's listed assets (its slots, in order)
    marks_ts : T lists of S marks (the prices the venue read), one per slot
    market_ts : T lists of S market prices m^a_t, one per slot
    outages : iterable of (t0, t1): keeper capacity 0 on t0 <= t < t1
    breaker : CircuitBreaker or None (defaults to ``params.breaker``)

    Returns
    -------
    dict with ``events`` (list of ``(t, account, asset, mode, notional, equity_after,
    fee, fund_paid, shortfall, bad_debt)``; asset -1 for a cross account),
    ``adl`` (list of ``(t, account, asset, units)``), per-step lists ``fund``,
    ``shortfall``, ``haircut``, ``bad_debt``, ``adl_count``, ``backstop_pnl``,
    ``hedge_mtm``, ``flow`` (S signed USD per step), ``vm_sum`` (computed VM
    over all accounts and the backstop), and final ``balance`` (per account),
    ``position`` (per account, per slot), ``backstop_position``, ``backstop_balance``.
    """
    S = len(assets)
    n = book.n_accounts
    mmr = [params.mmr_of(a) for a in assets]
    phi = params.phi
    breaker = params.breaker if breaker is None else breaker
    cap = params.keeper_capacity
    cols = [a for a in assets]
    iso = [m == "isolated" for m in book.mode]
    pos = [[float(book.position[i][a]) if a < book.position.shape[1] else 0.0 for a in cols] for i in range(n)]
    mar = [[float(book.margin[i][a]) if a < book.margin.shape[1] else 0.0 for a in cols] for i in range(n)]
    idle = 0.0
    for i in range(n):   # margin on columns the venue does not list
        rest = float(sum(book.margin[i])) - sum(mar[i])
        if iso[i]:
            idle += rest
        else:
            mar[i][0] += rest
    cross_m = [sum(mar[i]) if not iso[i] else 0.0 for i in range(n)]   # M_i of a cross account
    iso_m = [list(mar[i]) if iso[i] else [0.0] * S for i in range(n)]  # M_{i,a} of an isolated one
    entry = None
    b_pos = [-sum(pos[i][s] for i in range(n)) for s in range(S)]
    b_bal = 0.0
    fund = float(params.insurance_fund)
    h_units, h_cash = [0.0] * S, 0.0
    history = []
    paused_until = -1
    out = {k: [] for k in ("fund", "shortfall", "haircut", "bad_debt", "adl_count", "backstop_pnl", "hedge_mtm",
                           "flow", "vm_sum")}
    events, adl = [], []
    prev = None
    for t, (P, m) in enumerate(zip(marks_ts, market_ts)):
        P, m = [float(p) for p in P], [float(v) for v in m]
        if prev is None:
            prev = P
            entry = [[P[s] for s in range(S)] for _ in range(n)]
        # (1) variation margin
        vm_units = []   # (account, slot or -1, v) for the haircut
        vm_total = 0.0
        for i in range(n):
            if iso[i]:
                for s in range(S):
                    v = pos[i][s] * (P[s] - prev[s])
                    iso_m[i][s] += v
                    vm_total += v
                    vm_units.append((i, s, v))
            else:
                v = 0.0
                for s in range(S):
                    v += pos[i][s] * (P[s] - prev[s])
                cross_m[i] += v
                vm_total += v
                vm_units.append((i, -1, v))
        vb = sum(b_pos[s] * (P[s] - prev[s]) for s in range(S))
        b_bal += vb
        out["vm_sum"].append(vm_total + vb)
        # keeper capacity this step (outage, breaker)
        stop = False
        if breaker is not None:
            past = history[-breaker.window:]
            if past:
                for s in range(S):
                    if P[s] < (1.0 - breaker.drop) * max(row[s] for row in past):
                        paused_until = max(paused_until, t + breaker.pause - 1)
                        break
            history.append(list(P))
            stop = t <= paused_until
        if any(t0 <= t < t1 for t0, t1 in outages):
            stop = True
        # (2) maintenance, after VM
        under = []
        for i in range(n):
            if iso[i]:
                for s in range(S):
                    if pos[i][s] != 0.0:
                        req = mmr[s] * abs(pos[i][s]) * P[s]
                        if iso_m[i][s] < req:
                            r = iso_m[i][s] / req if req > 0 else -math.inf
                            under.append((r, i, assets[s], s))
            else:
                if any(q != 0.0 for q in pos[i]):
                    req = sum(mmr[s] * abs(pos[i][s]) * P[s] for s in range(S))
                    if cross_m[i] < req:
                        r = cross_m[i] / req if req > 0 else -math.inf
                        under.append((r, i, -1, -1))
        under = _ranked(under)          # lowest margin ratio first, ties by account then asset
        if stop:
            under = []
        elif cap is not None:
            under = under[:cap]
        # (3) liquidation at the market price, (4) bankruptcy paid by the fund
        flow = [0.0] * S
        shortfall = 0.0
        bankrupt = []        # (event index, deficit)
        liquidated = set()
        sides = set()
        for i, a, s0 in under:
            slots = [s0] if s0 >= 0 else list(range(S))
            M = iso_m[i][s0] if s0 >= 0 else cross_m[i]
            E = M
            notional = 0.0
            for s in slots:
                q = pos[i][s]
                E += q * (m[s] - P[s])
                b_bal -= q * (m[s] - P[s])
                notional += abs(q) * m[s]
            fee = min(phi * notional, max(E, 0.0))
            paid, deficit = 0.0, 0.0
            if E < 0.0:
                paid = min(fund, -E)
                fund -= paid
                deficit = -E - paid
                left = -deficit
            else:
                fund += fee
                left = E - fee
            for s in slots:
                q = pos[i][s]
                if q != 0.0 and deficit > 0.0:
                    sides.add((s, 1.0 if q > 0 else -1.0))
                b_pos[s] += q
                h_units[s] -= q
                h_cash += q * m[s]
                flow[s] += q * m[s]
                pos[i][s] = 0.0
            if s0 >= 0:
                iso_m[i][s0] = left
            else:
                cross_m[i] = left
            liquidated.add((i, s0))
            if deficit > 0.0:
                shortfall += deficit
                bankrupt.append((len(events), i, s0, deficit))
            events.append([t, i, a, "isolated" if s0 >= 0 else "cross", notional, E, fee, paid, deficit, 0.0])
        # (5) the loss rule
        covered, h, n_adl = 0.0, 0.0, 0
        if shortfall > 0.0:
            if params.loss_rule == "haircut":
                G = sum(v for i, s, v in vm_units if v > 0 and (i, s) not in liquidated)
                G += vb if vb > 0 else 0.0
                h = 1.0 if G <= 0 else min(1.0, shortfall / G)
                if G > 0:
                    for i, s, v in vm_units:
                        if v > 0 and (i, s) not in liquidated:
                            if s >= 0:
                                iso_m[i][s] -= h * v
                            else:
                                cross_m[i] -= h * v
                    if vb > 0:
                        b_bal -= h * vb
                    covered = h * G
            else:
                ranked = []
                for s, sign in sorted(sides):
                    for i in range(n):
                        q = pos[i][s]
                        if q * sign < 0:
                            u = q * (P[s] - entry[i][s])
                            M = iso_m[i][s] if iso[i] else cross_m[i]
                            if u > 0 and M > 0:
                                score = (u / M) * (abs(q) * P[s] / M)
                                ranked.append((-score, i, assets[s], s, u))
                ranked = _ranked(ranked)    # highest score first, ties by account then asset
                rem = shortfall
                for i, a, s, u in ranked:
                    if rem <= 0.0:
                        break
                    M = iso_m[i][s] if iso[i] else cross_m[i]
                    x = min(rem, u, M)
                    if x <= 0.0:
                        continue
                    dq = pos[i][s] * (x / u) if x < u else pos[i][s]
                    pos[i][s] -= dq
                    b_pos[s] += dq
                    if iso[i]:
                        iso_m[i][s] -= x
                    else:
                        cross_m[i] -= x
                    rem -= x
                    n_adl += 1
                    adl.append((t, i, a, dq))
                covered = shortfall - rem
            bad = max(shortfall - covered, 0.0)
            if params.loss_rule == "haircut" and h < 1.0:
                bad = 0.0
            for k, i, s0, deficit in bankrupt:     # covered or written off: balances back to 0
                events[k][9] = deficit * bad / shortfall
                if s0 >= 0:
                    iso_m[i][s0] = 0.0
                else:
                    cross_m[i] = 0.0
        else:
            bad = 0.0
        out["fund"].append(fund)
        out["shortfall"].append(shortfall)
        out["haircut"].append(h)
        out["bad_debt"].append(bad)
        out["adl_count"].append(n_adl)
        out["backstop_pnl"].append(b_bal)
        out["hedge_mtm"].append(h_cash + sum(h_units[s] * m[s] for s in range(S)))
        out["flow"].append(flow)
        prev = P
    out["events"] = [tuple(e) for e in events]
    out["adl"] = adl
    out["balance"] = [(sum(iso_m[i]) if iso[i] else cross_m[i]) for i in range(n)]
    out["idle_cash"] = idle
    out["position"] = pos
    out["backstop_position"] = b_pos
    out["backstop_balance"] = b_bal
    return out
