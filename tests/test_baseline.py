"""The engine against the plain per-account baseline of ``benchmarks/baseline.py``.

Both run the same explicit :class:`World` on small random cases (several
platforms, keeper capacities, venue and oracle faults, latency, exact ties,
``LT * (1 + bonus) > 1``); the event logs must list the same
``(t, platform, account)`` in the same processing order, with amounts equal
to 1e-9 relative, and the series must agree. The same holds on random worlds
of 2-4 assets (per-asset markets, venues and feeds of one asset, several
oracle providers and provider faults, platforms on one asset or several with
one queue by health and one keeper capacity): the log then also lists each
event's asset, and the per-asset series (``kappa_ta``, ``market_ta``,
``flow_ta``) must agree.
"""
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from coupling_lab import (
    Book, MarketParams, OracleParams, PlatformParams, World, freeze, override, run, spike, stale,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from baseline import run_baseline  # noqa: E402

RTOL = 1e-9


def random_world(seed):
    """A small random World that liquidates a lot: a crash with noise and faults."""
    rng = np.random.default_rng(seed)
    T = int(rng.integers(20, 90))
    K = int(rng.integers(1, 5))
    n_sources = int(rng.integers(1, 5))
    J = int(rng.integers(1, K + 2))
    V = n_sources * J + int(rng.integers(0, 3))
    price0 = 2000.0
    crash = float(rng.uniform(0.1, 0.6))
    start, length = int(rng.integers(0, T // 2)), int(rng.integers(1, T // 2))
    ramp = np.clip((np.arange(T) - start) / length, 0.0, 1.0)
    x_t = math.log(price0) + math.log1p(-crash) * ramp + np.cumsum(rng.normal(0, 0.004, T))
    noise = rng.normal(0.0, rng.uniform(0.0, 0.01), (T, V))
    oracles = tuple(
        OracleParams(
            sources=tuple(int(v) for v in rng.choice(V, n_sources, replace=False)),
            theta=float(rng.uniform(0.0, 0.03)),
            heartbeat=int(rng.integers(1, 30)),
            latency=int(rng.integers(0, 4)),
        )
        for _ in range(J)
    )
    platforms, books = [], []
    for _ in range(K):
        if rng.random() < 0.3:  # liquidation lowers health: LT * (1 + bonus) > 1
            lt, bonus = float(rng.uniform(0.93, 0.99)), float(rng.uniform(0.08, 0.15))
        else:
            lt, bonus = float(rng.uniform(0.5, 0.9)), float(rng.uniform(0.0, 0.12))
        platforms.append(PlatformParams(
            lt=lt, bonus=bonus,
            close_factor=float(rng.choice([0.25, 0.5, 1.0, rng.uniform(0.1, 1.0)])),
            h_full=float(rng.uniform(0.0, 1.0)),
            keeper_capacity=None if rng.random() < 0.5 else int(rng.integers(1, 6)),
        ))
        n = int(rng.integers(1, 40))
        c = np.exp(rng.normal(1.0, 1.0, n))
        h = 1.0 + rng.lognormal(math.log(0.2), 1.0, n)
        d = c * price0 * lt / h
        d[rng.random(n) < 0.1] = 0.0                      # some accounts without debt
        dup = rng.random(n) < 0.2                         # exact twins: ties broken by index
        src = rng.integers(0, n, n)
        c[dup], d[dup] = c[src[dup]], d[src[dup]]
        books.append(Book(c, d))
    venue_faults, oracle_faults = [], []
    for _ in range(int(rng.integers(0, 4))):
        t0 = int(rng.integers(0, T - 1))
        t1 = int(rng.integers(t0 + 1, T + 1))
        kind = rng.integers(0, 4)
        if kind == 0:
            venue_faults.append(spike(int(rng.integers(0, V)), t0, t1, float(rng.uniform(0.5, 1.5))))
        elif kind == 1:
            venue_faults.append(freeze(int(rng.integers(0, V)), t0, t1))
        elif kind == 2:
            oracle_faults.append(stale(int(rng.integers(0, J)), t0, t1))
        else:
            oracle_faults.append(override(int(rng.integers(0, J)), t0, t1, float(rng.uniform(0.6, 1.2))))
    total_usd = sum(float((b.collateral * price0).sum()) for b in books)
    return World(
        x_t=x_t, venue_noise_tv=noise, oracles=oracles, platforms=tuple(platforms),
        platform_oracle=tuple(int(j) for j in rng.integers(0, J, K)), books=tuple(books),
        market=MarketParams(depth=total_usd * float(rng.uniform(0.5, 20.0)), resilience=float(rng.uniform(0.0, 1.0))),
        venue_faults=tuple(venue_faults), oracle_faults=tuple(oracle_faults),
    )


def assert_same_run(world):
    engine = run(world)
    base = run_baseline(world)
    ev = engine.events
    got = list(zip(ev["t"].tolist(), ev["platform"].tolist(), ev["account"].tolist()))
    want = [e[:3] for e in base["events"]]
    assert got == want
    scale = max(float(b.debt.max()) for b in world.books) + 1.0
    for col, name in ((3, "seized_units"), (4, "repaid_usd"), (5, "bad_debt_usd")):
        ref = np.array([e[col] for e in base["events"]], dtype=float)
        atol = 1e-12 * (scale if name != "seized_units" else 1.0)
        assert_allclose(ev[name], ref, rtol=RTOL, atol=atol, err_msg=name)
    assert_allclose(engine.kappa_t, base["kappa_t"], rtol=RTOL, atol=1e-15)
    assert_allclose(engine.market_t, base["market_t"], rtol=RTOL)
    assert_allclose(engine.venue_tv, base["venue_tv"], rtol=RTOL)
    assert_allclose(engine.oracle_tj, base["oracle_tj"], rtol=RTOL)
    assert_array_equal(engine.count_tk, base["count_tk"])
    assert_allclose(engine.notional_tk, base["notional_tk"], rtol=RTOL, atol=1e-9)
    assert_allclose(engine.bad_debt_tk, base["bad_debt_tk"], rtol=RTOL, atol=1e-12 * scale)
    for k in range(world.n_platforms):
        assert_allclose(engine.collateral_k[k], base["collateral_k"][k], rtol=RTOL, atol=1e-12)
        assert_allclose(engine.debt_k[k], base["debt_k"][k], rtol=RTOL, atol=1e-12 * scale)
    return engine


@pytest.mark.parametrize("seed", range(40))
def test_engine_matches_baseline_on_random_worlds(seed):
    assert_same_run(random_world(seed))


def test_random_worlds_exercise_what_they_claim():
    # the cases above are only a check if they liquidate, hit capacities,
    # tie, go bad and repeat accounts; make sure that happens somewhere
    seen = {"events": 0, "capped": 0, "bad": 0, "repeat": 0, "lt_bonus": 0, "latency": 0, "faults": 0}
    for seed in range(40):
        w = random_world(seed)
        r = run(w)
        ev = r.events
        seen["events"] += ev["t"].size
        for k, p in enumerate(w.platforms):
            if p.keeper_capacity is not None and (r.count_tk[:, k] == p.keeper_capacity).any():
                seen["capped"] += 1
            if p.lt * (1 + p.bonus) > 1 and (ev["platform"] == k).any():
                seen["lt_bonus"] += 1
            pairs = ev["account"][ev["platform"] == k]
            seen["repeat"] += pairs.size - np.unique(pairs).size
        seen["bad"] += int((ev["bad_debt_usd"] > 0).sum())
        seen["latency"] += any(o.latency > 0 for o in w.oracles)
        seen["faults"] += bool(w.venue_faults or w.oracle_faults)
    assert all(v > 0 for v in seen.values()), seen


def test_classroom_world_matches_baseline():
    from coupling_lab import Config, CrashScenario, PopulationParams, build

    cfg = Config(scenario=CrashScenario(n_steps=260), population=PopulationParams(n_accounts=150),
                 market=MarketParams(depth=2e8 * 150 / 2000))
    engine = assert_same_run(build(cfg, seed=3))
    assert engine.events["t"].size > 100


@pytest.mark.parametrize("seed", range(6))
def test_engine_matches_baseline_with_faults_from_step_zero(seed):
    import dataclasses

    w = random_world(100 + seed)
    T = w.n_steps
    w = dataclasses.replace(
        w,
        venue_faults=w.venue_faults + (freeze(0, 0, T // 2), spike(w.n_venues - 1, 0, T // 3, 0.9)),
        oracle_faults=w.oracle_faults + (stale(0, 0, T // 4), override(w.n_oracles - 1, 0, 5, 0.95)),
    )
    assert_same_run(w)


# --------------------------------------------------------------------------
# several assets (MODEL.md §8): per-asset markets, venues and feeds of one
# asset, providers as fault domains, platforms on one or several assets
# --------------------------------------------------------------------------

def random_multi_world(seed):
    """A small random World of 2-4 assets that liquidates a lot.

    Per-asset paths (a common crash through a beta, or a crash of its own),
    depth and resilience; 1-4 venues per asset; 1-3 providers, provider 0
    running a feed of every asset and the others a random subset; 1-4
    platforms on one asset or several (a tuple of feeds, in random order),
    per-asset LT and bonus on some, keeper capacities; exact twins in the
    books; venue faults and oracle faults on one feed or on a whole provider.
    """
    from coupling_lab import stale_provider, override_provider

    rng = np.random.default_rng(10_000 + seed)
    T = int(rng.integers(20, 90))
    A = int(rng.integers(2, 5))
    price0 = np.exp(rng.uniform(math.log(1.0), math.log(40_000.0), A))
    start, length = int(rng.integers(0, T // 2)), int(rng.integers(1, T // 2))
    ramp = np.clip((np.arange(T) - start) / length, 0.0, 1.0)
    factor = math.log1p(-float(rng.uniform(0.1, 0.6))) * ramp
    x_ta = np.empty((T, A))
    for a in range(A):
        if rng.random() < 0.7:   # follows the common crash through its beta
            move = float(rng.uniform(0.3, 1.5)) * factor
        else:                    # a crash (or a rise) of its own
            s, ln = int(rng.integers(0, T // 2)), int(rng.integers(1, T // 2))
            move = math.log(float(rng.uniform(0.4, 1.2))) * np.clip((np.arange(T) - s) / ln, 0.0, 1.0)
        x_ta[:, a] = math.log(price0[a]) + move + np.cumsum(rng.normal(0, 0.004, T))
    venue_asset = []
    for a in range(A):
        venue_asset += [a] * int(rng.integers(1, 5))
    venue_asset = list(rng.permutation(venue_asset))
    V = len(venue_asset)
    venues_of = [[v for v in range(V) if venue_asset[v] == a] for a in range(A)]
    noise = rng.normal(0.0, rng.uniform(0.0, 0.01), (T, V))
    # providers: provider 0 runs a feed of every asset, the others some assets
    n_prov = int(rng.integers(1, 4))
    oracles, oracle_provider = [], []
    for p in range(n_prov):
        theta, hb, lat = float(rng.uniform(0.0, 0.03)), int(rng.integers(1, 30)), int(rng.integers(0, 4))
        assets = range(A) if p == 0 else [a for a in range(A) if rng.random() < 0.6] or [int(rng.integers(0, A))]
        for a in assets:
            src = venues_of[a]
            n_src = int(rng.integers(1, len(src) + 1))
            oracles.append(OracleParams(sources=tuple(int(v) for v in rng.choice(src, n_src, replace=False)),
                                        theta=theta, heartbeat=hb, latency=lat))
            oracle_provider.append(p)
    order = rng.permutation(len(oracles))                  # feeds not grouped by provider
    oracles = [oracles[j] for j in order]
    oracle_provider = [oracle_provider[j] for j in order]
    J = len(oracles)
    feed_asset = [venue_asset[o.sources[0]] for o in oracles]
    feeds_of_asset = [[j for j in range(J) if feed_asset[j] == a] for a in range(A)]
    K = int(rng.integers(1, 5))
    platforms, books, platform_oracle = [], [], []
    usd_a = np.zeros(A)
    for k in range(K):
        if k == 0 or rng.random() < 0.5:        # at least one platform on several assets
            n_assets = int(rng.integers(2, A + 1))
        else:
            n_assets = 1
        assets = [int(a) for a in rng.choice(A, n_assets, replace=False)]
        feeds = tuple(int(rng.choice(feeds_of_asset[a])) for a in assets)
        platform_oracle.append(feeds if n_assets > 1 or rng.random() < 0.3 else feeds[0])
        if rng.random() < 0.3:  # liquidation lowers health: LT * (1 + bonus) > 1
            lt, bonus = float(rng.uniform(0.93, 0.99)), float(rng.uniform(0.08, 0.15))
        else:
            lt, bonus = float(rng.uniform(0.5, 0.9)), float(rng.uniform(0.0, 0.12))
        per_asset = rng.random() < 0.6
        plat = PlatformParams(
            lt=lt, bonus=bonus,
            close_factor=float(rng.choice([0.25, 0.5, 1.0, rng.uniform(0.1, 1.0)])),
            h_full=float(rng.uniform(0.0, 1.0)),
            keeper_capacity=None if rng.random() < 0.4 else int(rng.integers(1, 6)),
            lt_by_asset=tuple(float(v) for v in rng.uniform(0.5, 0.97, A)) if per_asset else None,
            bonus_by_asset=tuple(float(v) for v in rng.uniform(0.0, 0.15, A)) if per_asset and rng.random() < 0.7
            else None,
        )
        platforms.append(plat)
        n = int(rng.integers(max(2, n_assets), 40))
        asset = np.array(assets + [int(a) for a in rng.choice(assets, n - n_assets)])  # every asset held
        asset = rng.permutation(asset)
        lt_i = np.array([plat.lt_of(a) for a in asset])
        c = np.exp(rng.normal(1.0, 1.0, n)) * 2000.0 / price0[asset]   # similar USD value on every asset
        h = 1.0 + rng.lognormal(math.log(0.2), 1.0, n)
        d = c * price0[asset] * lt_i / h
        d[rng.random(n) < 0.1] = 0.0
        dup = rng.random(n) < 0.2                         # exact twins (same asset): ties broken by index
        src = rng.integers(0, n, n)
        c[dup], d[dup], asset[dup] = c[src[dup]], d[src[dup]], asset[src[dup]]
        books.append(Book(c, d, asset))
        np.add.at(usd_a, asset, c * price0[asset])
    market = tuple(MarketParams(depth=max(float(usd_a[a]), 1000.0) * float(rng.uniform(0.5, 20.0)),
                                resilience=float(rng.uniform(0.0, 1.0))) for a in range(A))
    venue_faults, oracle_faults = [], []
    for _ in range(int(rng.integers(0, 5))):
        t0 = int(rng.integers(0, T - 1))
        t1 = int(rng.integers(t0 + 1, T + 1))
        kind = rng.integers(0, 6)
        if kind == 0:
            venue_faults.append(spike(int(rng.integers(0, V)), t0, t1, float(rng.uniform(0.5, 1.5))))
        elif kind == 1:
            venue_faults.append(freeze(int(rng.integers(0, V)), t0, t1))
        elif kind == 2:
            oracle_faults.append(stale(int(rng.integers(0, J)), t0, t1))
        elif kind == 3:
            oracle_faults.append(override(int(rng.integers(0, J)), t0, t1, float(rng.uniform(0.6, 1.2))))
        elif kind == 4:
            oracle_faults.append(stale_provider(int(rng.integers(0, n_prov)), t0, t1))
        else:
            oracle_faults.append(override_provider(int(rng.integers(0, n_prov)), t0, t1, float(rng.uniform(0.6, 1.2))))
    return World(
        x_ta=x_ta, venue_noise_tv=noise, venue_asset=tuple(int(a) for a in venue_asset), oracles=tuple(oracles),
        oracle_provider=tuple(oracle_provider), platforms=tuple(platforms), platform_oracle=tuple(platform_oracle),
        books=tuple(books), market=market, venue_faults=tuple(venue_faults), oracle_faults=tuple(oracle_faults),
    )


def assert_same_multi_run(world):
    engine = run(world)
    base = run_baseline(world)
    ev = engine.events
    got = list(zip(ev["t"].tolist(), ev["platform"].tolist(), ev["account"].tolist(), ev["asset"].tolist()))
    want = [e[:3] + (a,) for e, a in zip(base["events"], base["event_asset"])]
    assert got == want
    scale = max(float(b.debt.max()) for b in world.books) + 1.0
    for col, name in ((3, "seized_units"), (4, "repaid_usd"), (5, "bad_debt_usd")):
        ref = np.array([e[col] for e in base["events"]], dtype=float)
        atol = 1e-12 * (scale if name != "seized_units" else 1.0)
        assert_allclose(ev[name], ref, rtol=RTOL, atol=atol, err_msg=name)
    usd = 1e-9 * max(float(np.abs(np.array(base["flow_ta"])).max()), 1.0)
    assert_allclose(engine.kappa_ta, base["kappa_ta"], rtol=RTOL, atol=1e-15)
    assert_allclose(engine.market_ta, base["market_ta"], rtol=RTOL)
    assert_allclose(engine.flow_ta, base["flow_ta"], rtol=RTOL, atol=usd)
    assert_allclose(engine.venue_tv, base["venue_tv"], rtol=RTOL)
    assert_allclose(engine.oracle_tj, base["oracle_tj"], rtol=RTOL)
    assert_array_equal(engine.count_tk, base["count_tk"])
    assert_allclose(engine.notional_tk, base["notional_tk"], rtol=RTOL, atol=usd)
    assert_allclose(engine.bad_debt_tk, base["bad_debt_tk"], rtol=RTOL, atol=1e-12 * scale)
    # v1 names are asset 0's columns
    assert_allclose(engine.kappa_t, base["kappa_t"], rtol=RTOL, atol=1e-15)
    assert_allclose(engine.market_t, base["market_t"], rtol=RTOL)
    for k in range(world.n_platforms):
        assert_allclose(engine.collateral_k[k], base["collateral_k"][k], rtol=RTOL, atol=1e-12)
        assert_allclose(engine.debt_k[k], base["debt_k"][k], rtol=RTOL, atol=1e-12 * scale)
    return engine


@pytest.mark.parametrize("seed", range(40))
def test_engine_matches_baseline_on_random_multi_asset_worlds(seed):
    assert_same_multi_run(random_multi_world(seed))


def test_random_multi_asset_worlds_exercise_what_they_claim():
    # the multi-asset cases check the one queue only if platforms liquidate on
    # several assets in one round, capacities bind across assets, provider
    # faults hit feeds of different assets, per-asset LT differ, ...
    seen = {"events": 0, "assets_2_3_4": set(), "several_assets_one_round": 0, "capped_across_assets": 0,
            "interleaved": 0, "bad": 0, "repeat": 0, "provider_fault_several_feeds": 0, "several_providers": 0,
            "single_asset_platform": 0, "per_asset_lt": 0, "asset_0_idle_moves_others": 0}
    for seed in range(40):
        w = random_multi_world(seed)
        r = run(w)
        ev = r.events
        seen["events"] += ev["t"].size
        seen["assets_2_3_4"].add(w.n_assets)
        seen["several_providers"] += w.n_providers > 1
        seen["bad"] += int((ev["bad_debt_usd"] > 0).sum())
        for f in w.oracle_faults:
            if f.scope == "provider" and len({w.feed_asset[j] for j in f.feeds(w.provider_of_feed)}) > 1:
                seen["provider_fault_several_feeds"] += 1
        seen["asset_0_idle_moves_others"] += bool((r.kappa_ta[:, 0] == 0).all() and (r.kappa_ta[:, 1:] > 0).any())
        for k, p in enumerate(w.platforms):
            seen["single_asset_platform"] += len(w.assets_of(k)) == 1
            seen["per_asset_lt"] += p.lt_by_asset is not None and len(w.assets_of(k)) > 1
            sel = ev["platform"] == k
            pairs = ev["account"][sel]
            seen["repeat"] += pairs.size - np.unique(pairs).size
            for t in np.unique(ev["t"][sel]):
                at = sel & (ev["t"] == t)
                assets = ev["asset"][at]
                if np.unique(assets).size > 1:
                    seen["several_assets_one_round"] += 1
                    seen["interleaved"] += int((np.diff(assets) != 0).sum() > 1)
                    if p.keeper_capacity is not None and at.sum() == p.keeper_capacity:
                        seen["capped_across_assets"] += 1
    seen["assets_2_3_4"] = seen["assets_2_3_4"] >= {2, 3, 4}
    assert all(v for v in seen.values()), seen
