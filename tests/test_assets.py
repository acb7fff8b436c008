"""Several assets (MODEL.md §8, §11): hand-worked two-asset rounds, the dials'
common random numbers, provider faults, per-asset measures and the tidy frame."""
import math

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from coupling_lab import (
    Book, Config, CrashScenario, FactorScenario, MarketParams, OracleParams, PathScenario, PlatformParams,
    World, build, return_correlation, run, simulate, stale_provider,
)


def two_asset_world(keeper_capacity=1):
    # asset 0 flat at 1000 USD (depth 1e6), asset 1 flat at 100 USD (depth 1e5), both resilience 0;
    # one noise-free feed per asset (theta 0: publishes every step); one platform on both assets,
    # LT 0.8 on asset 0 and 0.5 on asset 1, bonus 0.05, close factor 0.5, h_full 0.95
    T = 3
    return World(
        x_ta=np.log([[1000.0, 100.0]] * T), venue_noise_tv=np.zeros((T, 2)), venue_asset=(0, 1),
        oracles=(OracleParams(sources=(0,), theta=0.0, heartbeat=1), OracleParams(sources=(1,), theta=0.0, heartbeat=1)),
        platforms=(PlatformParams(lt_by_asset=(0.8, 0.5), keeper_capacity=keeper_capacity),),
        platform_oracle=((0, 1),),
        books=(Book([10.0, 10.0], [8200.0, 600.0], asset=[0, 1]),),
        market=(MarketParams(depth=1e6, resilience=0.0), MarketParams(depth=1e5, resilience=0.0)),
    )


def test_one_queue_lowest_health_first_under_one_keeper_capacity():
    # step 0: acc 0 (asset 0) h = 10*1000*0.8/8200 = 0.9756, acc 1 (asset 1) h = 10*100*0.5/600 = 0.8333:
    #   capacity 1 takes acc 1 (lowest health): full close, s = 600*1.05/100 = 6.3 units, sold 630 USD of asset 1
    # step 1: asset 1's market has moved (kappa 630/1e5), asset 0's has not: acc 0 at 1000 USD,
    #   h 0.9756 >= 0.95 -> half: r 4100, s = 4100*1.05/1000 = 4.305 units, sold 4305 USD of asset 0
    # step 2: acc 0 now 5.695 units, 4100 USD, p* = 899.9 < 1000 e^-0.004305: safe
    r = run(two_asset_world())
    ev = r.events
    assert_array_equal(ev["t"], [0, 1])
    assert_array_equal(ev["account"], [1, 0])
    assert_array_equal(ev["asset"], [1, 0])
    assert_allclose(ev["seized_units"], [6.3, 4.305], rtol=1e-12)
    assert_allclose(ev["repaid_usd"], [600.0, 4100.0], rtol=1e-12)
    assert_allclose(ev["oracle_price"], [100.0, 1000.0], rtol=1e-12)
    assert_allclose(r.flow_ta, [[0.0, 630.0], [4305.0, 0.0], [0.0, 0.0]], rtol=1e-12)
    # sales of one asset move only that asset's market
    assert_allclose(r.kappa_ta, [[0.0, 0.0], [0.0, 0.0063], [0.004305, 0.0063]], rtol=1e-12, atol=1e-18)
    assert_allclose(r.market_ta[2], [1000.0 * math.exp(-0.004305), 100.0 * math.exp(-0.0063)], rtol=1e-12)
    assert_allclose(r.collateral_k[0], [5.695, 3.7], rtol=1e-12)
    assert_allclose(r.debt_k[0], [4100.0, 0.0], rtol=1e-12, atol=1e-9)
    assert_array_equal(r.count_tk[:, 0], [1, 1, 0])
    assert r.measures.excess_drawdown_a == pytest.approx((0.004305, 0.0063), rel=1e-12)


def test_without_capacity_both_assets_liquidate_in_one_round_in_health_order():
    r = run(two_asset_world(keeper_capacity=None))
    assert_array_equal(r.events["t"], [0, 0])
    assert_array_equal(r.events["account"], [1, 0])   # health 0.833 before 0.976
    assert_allclose(r.flow_ta[0], [4305.0, 630.0], rtol=1e-12)
    assert_allclose(r.notional_tk[0, 0], 4305.0 + 630.0, rtol=1e-12)


# --- the two dials ----------------------------------------------------------

@pytest.mark.parametrize("change", [dict(sharing=1.0), dict(collateral_sharing=1.0), dict(topology="source_overlap")])
def test_same_seed_same_paths_noise_and_books_along_both_dials(change):
    base = Config(sharing=0.0, collateral_sharing=0.0)
    a, b = build(base, seed=3), build(base.replace(**change), seed=3)
    assert_array_equal(a.paths_ta, b.paths_ta)
    assert_array_equal(a.venue_noise_tv, b.venue_noise_tv)
    for ba, bb in zip(a.books, b.books):
        assert_array_equal(ba.collateral, bb.collateral)
    assert a.oracles == b.oracles or change.get("topology")  # the feeds' own parameters are kept too


def test_collateral_dial_endpoints_map_platforms_to_assets():
    w0 = build(Config(collateral_sharing=0.0), seed=0)
    w1 = build(Config(collateral_sharing=1.0), seed=0)
    assert [b.assets for b in w0.books] == [(1,), (2,), (3,), (4,), (5,)]
    assert [b.assets for b in w1.books] == [(0,)] * 5
    assert w0.n_assets == w1.n_assets == 6 and w0.n_oracles == 36


def test_collateral_sharing_one_runs_the_one_asset_scenario_on_asset_0():
    for sharing in (0.0, 0.6, 1.0):
        v1 = simulate(Config(sharing=sharing), seed=5)
        two = simulate(Config(sharing=sharing, collateral_sharing=1.0), seed=5)
        assert_array_equal(two.market_ta[:, 0], v1.market_t)
        assert_array_equal(two.kappa_ta[:, 0], v1.kappa_t)
        assert_array_equal(two.kappa_ta[:, 1:], 0.0)   # the own assets are idle
        for key in v1.events:
            assert_array_equal(two.events[key], v1.events[key])


def test_a_provider_outage_freezes_its_feeds_on_every_asset():
    cfg = Config(sharing=1.0, collateral_sharing=0.0, oracle_faults=(stale_provider(0, 150, 250),))
    r, honest = simulate(cfg, seed=2), simulate(cfg.replace(oracle_faults=()), seed=2)
    w = r.world
    shared_feeds = [j for j in range(w.n_oracles) if w.provider_of_feed[j] == 0]
    assert sorted({w.feed_asset[j] for j in shared_feeds}) == list(range(6))
    for j in shared_feeds:      # no publication inside the window, on any asset
        assert np.all(r.oracle_tj[150:250, j] == r.oracle_tj[149, j])
    # each platform reads the shared provider's feed of its own asset: all five were blinded at once
    assert len({w.feed_asset[j] for j in w.platform_oracle}) == 5
    moved = [not np.array_equal(honest.oracle_tj[150:250, j], r.oracle_tj[150:250, j]) for j in w.platform_oracle]
    assert all(moved)


# --- paths of several assets ------------------------------------------------

def test_factor_paths_follow_asset_0_through_beta():
    sc = FactorScenario(CrashScenario(n_steps=50, sigma=0.002), n_assets=3, beta=(2.0, -1.0), sigma=0.0)
    x = sc.path(np.random.default_rng(1))
    assert_allclose(x[:, 1] - x[0, 1], 2.0 * (x[:, 0] - x[0, 0]), atol=1e-12)
    assert_allclose(x[:, 2] - x[0, 2], -(x[:, 0] - x[0, 0]), atol=1e-12)
    assert_allclose(return_correlation(x), [[1, 1, -1], [1, 1, -1], [-1, -1, 1]], atol=1e-12)
    # asset 0 is the factor's own path: the one-asset scenario with the same generator
    assert_array_equal(x[:, 0], CrashScenario(n_steps=50, sigma=0.002).path(np.random.default_rng(1)))


def test_path_scenario_from_csv_round_trip(tmp_path):
    prices = np.array([[2000.0, 30000.0], [1900.0, 29000.0], [1950.0, 29500.0]])
    pd.DataFrame({"step": [0, 1, 2], "ETH": prices[:, 0], "BTC": prices[:, 1]}).to_csv(tmp_path / "p.csv", index=False)
    sc = PathScenario.from_csv(tmp_path / "p.csv")
    assert (sc.n_steps, sc.n_assets) == (3, 2)
    assert_allclose(np.exp(sc.path()), prices)
    pd.DataFrame({"ETH": [1.0, "x"]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match=r"prices \(column 'ETH'\) must hold finite numbers.*'x' at row 1"):
        PathScenario.from_csv(tmp_path / "bad.csv")


# --- results ----------------------------------------------------------------

def test_series_frame_is_tidy_and_holds_every_series():
    r = simulate(Config(collateral_sharing=0.5, sharing=0.5), seed=1)
    f = r.series_frame()
    T, A, J, K, R = r.n_steps, r.n_assets, r.world.n_oracles, r.world.n_platforms, len(r.reads)
    assert list(f.columns) == ["step", "kind", "index", "quantity", "value"]
    assert len(f) == T * (4 * A + 2 * J + R + 4 * K)
    assert np.isfinite(f["value"]).all()
    kappa = f[(f["quantity"] == "kappa")].pivot(index="step", columns="index", values="value").to_numpy()
    assert_array_equal(kappa, r.kappa_ta)
    notional = f[(f["kind"] == "platform") & (f["quantity"] == "notional")]
    assert_allclose(notional.groupby("index")["value"].sum().to_numpy(), r.notional_tk.sum(axis=0))


def test_synchrony_restricted_to_one_asset_or_one_feed():
    one = simulate(Config(sharing=0.0, collateral_sharing=1.0), seed=4)
    assert one.platforms_on(asset=0) == (0, 1, 2, 3, 4)
    assert one.synchrony(asset=0) == pytest.approx(one.measures.synchrony, rel=1e-9)
    apart = simulate(Config(sharing=1.0, collateral_sharing=0.0), seed=4)
    assert apart.platforms_on(asset=0) == ()
    assert math.isnan(apart.synchrony(asset=0))
    assert apart.platforms_on(asset=3) == (2,)
    together = simulate(Config(sharing=1.0, collateral_sharing=1.0), seed=4)
    assert together.platforms_on(feed=0) == (0, 1, 2, 3, 4)
    assert together.synchrony(feed=0) == together.measures.synchrony


def test_collateral_sharing_deepens_the_common_market_on_one_seed():
    # the second channel in one picture: one market takes all five books' sales
    own = simulate(Config(collateral_sharing=0.0), seed=0).measures
    common = simulate(Config(collateral_sharing=1.0), seed=0).measures
    assert own.excess_drawdown_a[0] == 0.0 and min(own.excess_drawdown_a[1:]) > 0
    assert common.excess_drawdown_a[0] > 3 * max(own.excess_drawdown_a[1:])
    assert common.excess_drawdown_a[1:] == (0.0,) * 5
