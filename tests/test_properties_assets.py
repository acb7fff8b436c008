"""Invariants of the engine on several assets, under property-based tests (MODEL.md §8, issue 10 point 6).

Hypothesis draws small explicit multi-asset :class:`World` objects: 2-4
assets with their own paths, depth and resilience; 1-3 venues per asset;
1-3 oracle providers (provider 0 runs a feed of every asset, the others a
subset, each with common ``theta``, heartbeat and latency); 1-4 platforms on
one asset or several, with per-asset LT and bonus on some, keeper
capacities; 1-25 accounts each, every account on one asset; venue faults and
oracle faults on one feed or a whole provider. Bulk arrays come from a numpy
generator seeded by a drawn integer, so every example is reproducible.

Checked: conservation per platform (collateral per asset, debt), no NaN/inf
anywhere in a Result, no negative balance, determinism, account permutation,
asset permutation (relabelling assets permutes the per-asset series and
leaves the per-platform series equal), ``flow_ta`` as the event log summed,
and the two-channel :class:`Config`: ``collateral_sharing=1`` runs asset 0
exactly as the one-asset world of the same seed, and the same seed gives the
same paths, noise and books at every position of either dial.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

import coupling_lab as cl
from coupling_lab.result import EVENT_FIELDS
from coupling_lab import Book, Config, CrashScenario, MarketParams, OracleParams, PlatformParams, World, build, run

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(autouse=True, scope="module", params=["reference", "auto"])
def kernel(request):
    """Every property holds on both step loops: the reference, and the compiled one where it covers the world."""
    with cl.compiled.using_kernel(request.param):
        yield request.param

ASSET_SERIES = ("x_ta", "kappa_ta", "market_ta", "flow_ta")
FEED_SERIES = ("venue_tv", "raw_tj", "oracle_tj", "read_tr")
PLATFORM_SERIES = ("price_tk", "count_tk", "notional_tk", "repaid_tk", "bad_debt_tk")
SERIES = ASSET_SERIES + FEED_SERIES + PLATFORM_SERIES


def _fields(world, **changes):
    out = {f: getattr(world, f) for f in world.__dataclass_fields__}
    out.update(changes)
    return out


# --------------------------------------------------------------------------
# strategy
# --------------------------------------------------------------------------

@st.composite
def multi_worlds(draw, distinct=False, capacity=True):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    T = draw(st.integers(1, 60))
    A = draw(st.integers(2, 4))
    price0 = np.exp(rng.uniform(0.0, math.log(40_000.0), A))
    t = np.arange(T)
    x_ta = np.empty((T, A))
    sigma = draw(st.sampled_from([0.0, 0.002, 0.01]))
    for a in range(A):
        depth = draw(st.floats(0.0, 0.8))
        start, duration = draw(st.integers(0, T)), draw(st.integers(1, max(T, 1)))
        walk = np.zeros(T)
        if T > 1:
            walk[1:] = np.cumsum(sigma * rng.standard_normal(T - 1))
        x_ta[:, a] = math.log(price0[a]) + math.log1p(-depth) * np.clip((t - start) / duration, 0, 1) + walk
    venue_asset = []
    for a in range(A):
        venue_asset += [a] * draw(st.integers(1, 3))
    venue_asset = [int(a) for a in rng.permutation(venue_asset)]
    V = len(venue_asset)
    venues_of = [[v for v in range(V) if venue_asset[v] == a] for a in range(A)]
    noise = rng.standard_normal((T, V)) * draw(st.sampled_from([0.0, 0.001, 0.01]))
    n_prov = draw(st.integers(1, 3))
    oracles, provider = [], []
    for p in range(n_prov):
        theta = draw(st.one_of(st.just(0.0), st.floats(0.0, 0.05)))
        hb, lat = draw(st.integers(1, 60)), draw(st.integers(0, 4))
        assets = range(A) if p == 0 else [a for a in range(A) if draw(st.booleans())] or [draw(st.integers(0, A - 1))]
        for a in assets:
            src = venues_of[a]
            n_src = int(rng.integers(1, len(src) + 1))
            oracles.append(OracleParams(sources=tuple(int(v) for v in rng.choice(src, n_src, replace=False)),
                                        theta=theta, heartbeat=hb, latency=lat))
            provider.append(p)
    J = len(oracles)
    feed_asset = [venue_asset[o.sources[0]] for o in oracles]
    K = draw(st.integers(1, 4))
    platforms, books, platform_oracle = [], [], []
    usd_a = np.zeros(A)
    for k in range(K):
        n_assets = draw(st.integers(1, A))
        assets = [int(a) for a in rng.choice(A, n_assets, replace=False)]
        feeds = tuple(int(rng.choice([j for j in range(J) if feed_asset[j] == a])) for a in assets)
        platform_oracle.append(feeds if n_assets > 1 else feeds[0])
        if draw(st.booleans()):
            lt = draw(st.floats(0.85, 1.0))
            bonus = draw(st.floats(1.02 / lt - 1.0, 1.0))
        else:
            lt, bonus = draw(st.floats(0.05, 1.0).filter(lambda v: v > 0)), draw(st.floats(0.0, 0.3))
        per_asset = draw(st.booleans())
        plat = PlatformParams(
            lt=lt, bonus=bonus, close_factor=draw(st.floats(0.01, 1.0)), h_full=draw(st.floats(0.0, 1.0)),
            keeper_capacity=draw(st.one_of(st.none(), st.integers(1, 6))) if capacity else None,
            lt_by_asset=tuple(float(v) for v in rng.uniform(0.3, 1.0, A)) if per_asset else None,
            bonus_by_asset=tuple(float(v) for v in rng.uniform(0.0, 0.2, A)) if per_asset else None,
        )
        platforms.append(plat)
        n = draw(st.integers(n_assets, 25))
        asset = rng.permutation(np.array(assets + [int(a) for a in rng.choice(assets, n - n_assets)]))
        lt_i = np.array([plat.lt_of(a) for a in asset])
        c = np.exp(rng.normal(1.0, 1.0, n)) * 2000.0 / price0[asset]
        if distinct:
            # healths well apart: no two accounts of a platform ever tie, whatever their asset
            h = rng.permutation(np.linspace(0.6, 2.5, n)) * (1.0 + 0.002 * rng.random(n))
        else:
            h = rng.choice([0.8, 0.95, 1.1, 1.3], n) if draw(st.booleans()) else rng.uniform(0.5, 2.5, n)
        d = c * price0[asset] * lt_i / h
        if not distinct:
            d[rng.random(n) < draw(st.sampled_from([0.0, 0.2]))] = 0.0
        books.append(Book(c, d, asset))
        np.add.at(usd_a, asset, c * price0[asset])
    market = tuple(MarketParams(depth=max(float(usd_a[a]), 1.0) * 10 ** draw(st.floats(-1.0, 3.0)),
                                resilience=draw(st.floats(0.0, 1.0))) for a in range(A))
    venue_faults, oracle_faults = [], []
    for _ in range(draw(st.integers(0, 3))):
        t0 = draw(st.integers(0, T - 1))
        t1 = draw(st.integers(t0 + 1, T))
        kind = draw(st.sampled_from(["spike", "freeze", "stale", "override", "stale_p", "override_p"]))
        factor = draw(st.floats(0.3, 3.0))
        if kind == "spike":
            venue_faults.append(cl.spike(draw(st.integers(0, V - 1)), t0, t1, factor))
        elif kind == "freeze":
            venue_faults.append(cl.freeze(draw(st.integers(0, V - 1)), t0, t1))
        elif kind == "stale":
            oracle_faults.append(cl.stale(draw(st.integers(0, J - 1)), t0, t1))
        elif kind == "override":
            oracle_faults.append(cl.override(draw(st.integers(0, J - 1)), t0, t1, factor))
        elif kind == "stale_p":
            oracle_faults.append(cl.stale_provider(draw(st.integers(0, n_prov - 1)), t0, t1))
        else:
            oracle_faults.append(cl.override_provider(draw(st.integers(0, n_prov - 1)), t0, t1, factor))
    return World(
        x_ta=x_ta, venue_noise_tv=noise, venue_asset=tuple(venue_asset), oracles=tuple(oracles),
        oracle_provider=tuple(provider), platforms=tuple(platforms), platform_oracle=tuple(platform_oracle),
        books=tuple(books), market=market, venue_faults=tuple(venue_faults), oracle_faults=tuple(oracle_faults),
        probe=(1.0, float(price0[0]) * draw(st.floats(0.3, 1.0))),
        sync_window=draw(st.integers(1, 5)), flow_window=draw(st.integers(1, 20)),
    )


# --------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------

def per_account(res, k, key):
    ev = res.events
    sel = ev["platform"] == k
    return np.bincount(ev["account"][sel], weights=ev[key][sel], minlength=res.world.books[k].n_accounts)


def check_conservation(res):
    ev = res.events
    for k, book in enumerate(res.world.books):
        sel = ev["platform"] == k
        # every event carries the asset of the account it hit, one the platform reads
        assert_array_equal(ev["asset"][sel], book.asset_of_accounts()[ev["account"][sel]])
        assert set(ev["asset"][sel].tolist()) <= set(res.world.assets_of(k))
        c0, d0 = book.collateral, book.debt
        c1, d1 = res.collateral_k[k], res.debt_k[k]
        seized, repaid, bad = (per_account(res, k, key) for key in ("seized_units", "repaid_usd", "bad_debt_usd"))
        scale_d = max(d0.max(), 1.0)
        assert_allclose(c1 + seized, c0, rtol=1e-9, atol=1e-12 * c0.max())
        assert_allclose(d1 + repaid + bad, d0, rtol=1e-9, atol=1e-9 * scale_d)
        # per platform: collateral per asset (units of different assets never add), debt in USD
        asset = book.asset_of_accounts()
        for a in res.world.assets_of(k):
            on = asset == a
            assert_allclose(c1[on].sum() + seized[on].sum(), c0[on].sum(), rtol=1e-9)
        assert_allclose(d1.sum() + repaid.sum() + bad.sum(), d0.sum(), rtol=1e-9, atol=1e-9 * scale_d)
        T = res.n_steps
        assert_array_equal(np.bincount(ev["t"][sel], minlength=T), res.count_tk[:, k])
        for key, series in (("repaid_usd", res.repaid_tk), ("bad_debt_usd", res.bad_debt_tk)):
            assert_allclose(np.bincount(ev["t"][sel], weights=ev[key][sel], minlength=T), series[:, k],
                            rtol=1e-9, atol=1e-9 * scale_d)


def check_finite_and_non_negative(res):
    w = res.world
    T, A, V, J, K = w.n_steps, w.n_assets, w.n_venues, w.n_oracles, w.n_platforms
    R = sum(len(w.feeds_of(k)) for k in range(K))
    shapes = {"x_ta": (T, A), "kappa_ta": (T, A), "market_ta": (T, A), "flow_ta": (T, A), "venue_tv": (T, V),
              "raw_tj": (T, J), "oracle_tj": (T, J), "read_tr": (T, R), "price_tk": (T, K), "count_tk": (T, K),
              "notional_tk": (T, K), "repaid_tk": (T, K), "bad_debt_tk": (T, K)}
    for name in SERIES:
        a = np.asarray(getattr(res, name))
        assert a.shape == shapes[name], name
        assert np.isfinite(a).all(), name
    for name in ("kappa_ta", "flow_ta") + PLATFORM_SERIES:   # lending only sells: no negative flow or impact
        assert (np.asarray(getattr(res, name)) >= 0).all(), name
    for name in ("market_ta", "venue_tv", "raw_tj", "oracle_tj", "read_tr"):
        assert (getattr(res, name) > 0).all(), name
    assert (res.kappa_ta[0] == 0).all()
    assert len(res.reads) == R
    for k in range(K):
        for arr in (res.collateral_k[k], res.debt_k[k]):
            assert arr.shape == (w.books[k].n_accounts,)
            assert np.isfinite(arr).all() and (arr >= 0).all()
    assert tuple(res.events) == EVENT_FIELDS
    for key in EVENT_FIELDS:
        assert np.isfinite(res.events[key]).all(), key
        assert (res.events[key] >= 0).all(), key
    assert (res.events["asset"] < A).all()
    assert (res.events["oracle_price"] > 0).all()
    m = res.measures
    for name, value in m.as_dict().items():
        if name != "synchrony":
            assert math.isfinite(value), name
    for name in ("excess_drawdown_a", "fundamental_drawdown_a", "peak_flow_share_a", "bad_debt_k"):
        values = getattr(m, name)
        assert all(math.isfinite(v) and v >= 0 for v in values), name
    assert len(m.excess_drawdown_a) == A and len(m.peak_flow_share_a) == A
    assert all(v <= 1.0 for v in m.peak_flow_share_a)
    assert m.excess_drawdown_a == tuple(float(res.kappa_ta[:, a].max()) for a in range(A))
    if (res.notional_tk > 0).any(axis=0).sum() < 2:
        assert math.isnan(m.synchrony)       # the one NaN, in its documented case
    for a in range(A):
        s = res.synchrony(asset=a)
        assert math.isnan(s) or -1 - 1e-12 <= s <= 1 + 1e-12


def check_flows(res):
    """flow_ta[t, a] is the step's seized units of asset a, sold at m^a_t, summed over platforms."""
    ev = res.events
    expect = np.zeros_like(res.flow_ta)
    np.add.at(expect, (ev["t"], ev["asset"]), ev["seized_units"] * res.market_ta[ev["t"], ev["asset"]])
    assert_allclose(res.flow_ta, expect, rtol=1e-9, atol=1e-9 * max(float(expect.max(initial=0.0)), 1.0))
    assert_allclose(res.flow_ta.sum(axis=1), res.notional_tk.sum(axis=1), rtol=1e-9,
                    atol=1e-9 * max(float(expect.max(initial=0.0)), 1.0))
    # impact: kappa^a follows the flows of asset a only
    for a, mp in enumerate(res.world.markets):
        kappa = np.zeros(res.n_steps)
        for t in range(1, res.n_steps):
            kappa[t] = (1 - mp.resilience) * kappa[t - 1] + res.flow_ta[t - 1, a] / mp.depth
        assert_allclose(res.kappa_ta[:, a], kappa, rtol=1e-9, atol=1e-300)


def assert_results_equal(a, b):
    for name in SERIES:
        assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.reads == b.reads
    for key in a.events:
        assert_array_equal(a.events[key], b.events[key], err_msg=key)
    for k in range(len(a.collateral_k)):
        assert_array_equal(a.collateral_k[k], b.collateral_k[k])
        assert_array_equal(a.debt_k[k], b.debt_k[k])
    assert_array_equal(np.array(list(a.measures.as_dict().values()), float),
                       np.array(list(b.measures.as_dict().values()), float))
    assert a.measures.excess_drawdown_a == b.measures.excess_drawdown_a
    assert a.measures.peak_flow_share_a == b.measures.peak_flow_share_a


# --------------------------------------------------------------------------
# properties of explicit multi-asset worlds
# --------------------------------------------------------------------------

@SETTINGS
@given(multi_worlds())
def test_conservation_per_platform_and_asset(world):
    check_conservation(run(world))


@SETTINGS
@given(multi_worlds())
def test_no_nan_inf_or_negative_values_anywhere_in_a_result(world):
    check_finite_and_non_negative(run(world))


@SETTINGS
@given(multi_worlds())
def test_flow_ta_is_the_event_log_summed_and_moves_only_its_asset(world):
    check_flows(run(world))


@SETTINGS
@given(multi_worlds())
def test_multi_asset_run_is_deterministic(world):
    assert_results_equal(run(world), run(world))


@SETTINGS
@given(multi_worlds(distinct=True, capacity=False), st.data())
def test_permuting_accounts_permutes_the_log(world, data):
    perms = [np.array(data.draw(st.permutations(range(b.n_accounts)))) for b in world.books]
    books = tuple(Book(b.collateral[p], b.debt[p], b.asset[p]) for b, p in zip(world.books, perms))
    a, b = run(world), run(World(**_fields(world, books=books)))
    for name in SERIES:
        assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-12, atol=1e-300, err_msg=name)
    for k, p in enumerate(perms):
        assert_array_equal(b.collateral_k[k], a.collateral_k[k][p])
        assert_array_equal(b.debt_k[k], a.debt_k[k][p])
    inverse = [np.argsort(p) for p in perms]
    mapped = np.array([inverse[k][i] for k, i in zip(a.events["platform"], a.events["account"])], dtype=np.int64)
    assert_array_equal(b.events["account"], mapped)   # same order, accounts relabelled
    for key in a.events:
        if key != "account":
            assert_array_equal(a.events[key], b.events[key], err_msg=key)


def relabel_assets(world, new_of_old):
    """The same world with asset a renamed new_of_old[a] (paths, venues, markets, books, per-asset LT/bonus)."""
    new_of_old = np.asarray(new_of_old)
    old_of_new = np.argsort(new_of_old)
    platforms = []
    for p in world.platforms:
        changes = {}
        for name in ("lt_by_asset", "bonus_by_asset"):
            v = getattr(p, name)
            if v is not None:
                changes[name] = tuple(v[int(a)] for a in old_of_new)
        platforms.append(dataclasses.replace(p, **changes))
    return World(**_fields(
        world,
        x_ta=world.paths_ta[:, old_of_new],
        x_t=None,
        venue_asset=tuple(int(new_of_old[a]) for a in world.venue_asset_v()),
        market=tuple(world.markets[int(a)] for a in old_of_new),
        books=tuple(Book(b.collateral, b.debt, new_of_old[b.asset_of_accounts()]) for b in world.books),
        platforms=tuple(platforms),
    ))


@SETTINGS
@given(multi_worlds(), st.data())
def test_relabelling_assets_permutes_per_asset_series_only(world, data):
    new_of_old = np.array(data.draw(st.permutations(range(world.n_assets))))
    old_of_new = np.argsort(new_of_old)
    moved = relabel_assets(world, new_of_old)
    assert moved.feed_asset == tuple(int(new_of_old[a]) for a in world.feed_asset)
    a, b = run(world), run(moved)
    for name in ASSET_SERIES:
        assert_array_equal(getattr(b, name), getattr(a, name)[:, old_of_new], err_msg=name)
    for name in FEED_SERIES + PLATFORM_SERIES:
        assert_array_equal(getattr(b, name), getattr(a, name), err_msg=name)
    assert b.reads == tuple((k, int(new_of_old[x]), j) for k, x, j in a.reads)
    assert_array_equal(b.events["asset"], new_of_old[a.events["asset"]])
    for key in a.events:
        if key != "asset":
            assert_array_equal(a.events[key], b.events[key], err_msg=key)
    for k in range(world.n_platforms):
        assert_array_equal(a.collateral_k[k], b.collateral_k[k])
        assert_array_equal(a.debt_k[k], b.debt_k[k])
    ma, mb = a.measures, b.measures
    assert mb.excess_drawdown_a == tuple(ma.excess_drawdown_a[int(x)] for x in old_of_new)
    assert mb.peak_flow_share_a == tuple(ma.peak_flow_share_a[int(x)] for x in old_of_new)
    assert mb.bad_debt_k == ma.bad_debt_k


# --------------------------------------------------------------------------
# the two-channel Config
# --------------------------------------------------------------------------

@st.composite
def small_configs(draw):
    T = draw(st.integers(2, 80))
    K = draw(st.integers(1, 4))
    n_sources = draw(st.integers(1, 3))
    faults = []
    for _ in range(draw(st.integers(0, 2))):
        t0 = draw(st.integers(0, T - 1))
        t1 = draw(st.integers(t0 + 1, T))
        j = draw(st.integers(0, K))   # the feeds of asset 0: the v1 oracles
        faults.append(cl.stale(j, t0, t1) if draw(st.booleans()) else cl.override(j, t0, t1, draw(st.floats(0.5, 1.5))))
    vfaults = []
    if draw(st.booleans()):
        t0 = draw(st.integers(0, T - 1))
        vfaults.append(cl.freeze(draw(st.integers(0, (K + 1) * n_sources - 1)), t0, draw(st.integers(t0 + 1, T))))
    return Config(
        scenario=CrashScenario(n_steps=T, depth=draw(st.floats(0.0, 0.7)), start=draw(st.integers(0, T)),
                               duration=draw(st.integers(1, 60)), sigma=draw(st.floats(0.0, 0.01))),
        n_platforms=K,
        sharing=draw(st.floats(0.0, 1.0)),
        topology=draw(st.sampled_from(["shared_fraction", "source_overlap"])),
        platform=PlatformParams(keeper_capacity=draw(st.one_of(st.none(), st.integers(1, 5))),
                                close_factor=draw(st.floats(0.1, 1.0))),
        population=cl.PopulationParams(n_accounts=draw(st.integers(1, 30)),
                                       health_excess_median=draw(st.floats(0.01, 0.6))),
        identical_books=draw(st.booleans()),
        market=MarketParams(depth=10 ** draw(st.floats(3.0, 7.0)), resilience=draw(st.floats(0.0, 1.0))),
        n_sources=n_sources,
        oracle_faults=tuple(faults),
        venue_faults=tuple(vfaults),
        beta=draw(st.floats(-2.0, 2.0)),
    )


@settings(SETTINGS, max_examples=40)
@given(small_configs(), st.integers(0, 2**32 - 1))
def test_collateral_sharing_one_runs_asset_0_exactly_as_the_one_asset_world(config, seed):
    one = cl.simulate(config, seed=seed)
    two = cl.simulate(config.replace(collateral_sharing=1.0), seed=seed)
    K = config.n_platforms
    P, n0 = K + 1, (K + 1) * config.n_sources
    assert two.n_assets == K + 1 and one.n_assets == 1
    for name in ("x_t", "kappa_t", "market_t"):
        assert_array_equal(getattr(two, name), getattr(one, name), err_msg=name)
    assert_array_equal(two.venue_tv[:, :n0], one.venue_tv)
    assert_array_equal(two.raw_tj[:, :P], one.raw_tj)
    assert_array_equal(two.oracle_tj[:, :P], one.oracle_tj)
    for name in PLATFORM_SERIES:
        assert_array_equal(getattr(two, name), getattr(one, name), err_msg=name)
    for key in one.events:
        assert_array_equal(two.events[key], one.events[key], err_msg=key)
    assert (two.events["asset"] == 0).all()
    # the own assets are idle: nobody holds them, nothing is sold into their markets
    assert (two.kappa_ta[:, 1:] == 0).all() and (two.flow_ta[:, 1:] == 0).all()
    assert_array_equal(two.flow_ta[:, 0], one.flow_ta[:, 0])
    for k in range(K):
        assert_array_equal(two.collateral_k[k], one.collateral_k[k])
        assert_array_equal(two.debt_k[k], one.debt_k[k])


@settings(SETTINGS, max_examples=20)
@given(small_configs(), st.integers(0, 2**32 - 1))
def test_same_seed_same_paths_noise_and_books_along_both_dials(config, seed):
    K = config.n_platforms
    grid = [(s, c) for s in (0.0, 0.5, 1.0) for c in (0.0, 0.4, 1.0)]
    worlds = {sc: build(config.replace(sharing=sc[0], collateral_sharing=sc[1]), seed=seed) for sc in grid}
    ref = worlds[(0.0, 0.0)]
    one = build(config, seed=seed)
    for (s, c), w in worlds.items():
        assert_array_equal(w.paths_ta, ref.paths_ta)
        assert_array_equal(w.venue_noise_tv, ref.venue_noise_tv)
        assert w.venue_asset == ref.venue_asset and w.oracle_provider == ref.oracle_provider
        assert_array_equal(w.x_t, one.x_t)                                  # asset 0 is the v1 path
        assert_array_equal(w.venue_noise_tv[:, :one.n_venues], one.venue_noise_tv)
        held = cl.collateral_assets(c, K)
        for k, (b, b0) in enumerate(zip(w.books, one.books)):
            assert_array_equal(b.collateral, b0.collateral)                 # the same draws ...
            assert (b.asset_of_accounts() == held[k]).all()                 # ... on the dial's asset
            p0 = math.exp(w.paths_ta[0, held[k]])
            lt = config.platform.lt_of(held[k])
            h = b.collateral * p0 * lt / b.debt
            h0 = b0.collateral * math.exp(one.x_t[0]) * config.platform.lt_of(0) / b0.debt
            assert_allclose(h, h0, rtol=1e-12)                               # at the same initial health
        # along the oracle dial the books are the same objects' values exactly
        w_other = worlds[(1.0 - s if s != 0.5 else 0.0, c)]
        for b, b2 in zip(w.books, w_other.books):
            assert_array_equal(b.collateral, b2.collateral)
            assert_array_equal(b.debt, b2.debt)
            assert_array_equal(b.asset_of_accounts(), b2.asset_of_accounts())


def test_identical_books_at_collateral_sharing_one_are_the_v1_books_bit_for_bit():
    # identical_books scales the drawn debt to each asset's initial price and LT;
    # on asset 0 that scale is exactly 1, so the books must be the v1 books exactly
    cfg = Config(scenario=CrashScenario(n_steps=2, depth=0.0, sigma=0.0), n_platforms=1,
                 population=cl.PopulationParams(n_accounts=3, health_excess_median=0.5), identical_books=True)
    one, two = build(cfg, seed=0), build(cfg.replace(collateral_sharing=1.0), seed=0)
    assert_array_equal(two.books[0].collateral, one.books[0].collateral)
    assert_array_equal(two.books[0].debt, one.books[0].debt)
