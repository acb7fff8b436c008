"""The perp venue of MODEL.md §10: hand-worked cases, bad input, and the venue in a World.

Each hand-worked case drives the engine directly with the marks it reads and
the market prices it fills at, step by step, as the step loop does.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import coupling_lab as cl
from coupling_lab.perps import (
    PerpBook, PerpParams, PerpPopulation, draw_perp_book, hyperliquid_mmr, perp_events_frame, perp_frame,
    perp_outputs,
)


def drive(params, book, marks, market, assets=(0,), world=None):
    """Run the engine over ``marks`` (T lists, one per slot) and ``market`` (T lists, one per slot)."""
    eng = params.make_engine(0, book, assets, world)
    fills = []
    for t, (p, m) in enumerate(zip(marks, market)):
        mk = [0.0] * (max(assets) + 1)
        for s, a in enumerate(assets):
            mk[a] = m[s]
        fills.append(eng.step(t, list(p), mk))
    return eng, fills, eng.finish()


def cash_identity(out):
    return out["balance"].sum() + out["idle_cash"] + out["backstop_balance"] + out["fund_final"] - out["bad_debt_total"]


P5 = PerpParams(mmr=0.05, phi=0.01, insurance_fund=0.0)


# --------------------------------------------------------------------------
# hand-worked cases
# --------------------------------------------------------------------------

def test_variation_margin_every_step_sums_to_zero():
    # long 1 (margin 500), short 2 (margin 1000), both cross; the backstop holds +1
    book = PerpBook([1.0, -2.0], [500.0, 1000.0], "cross")
    eng, fills, out = drive(P5, book, [[1000.0], [1010.0], [1005.0]], [[1000.0], [1010.0], [1005.0]])
    assert fills == [None, None, None]
    assert out["balance"].tolist() == [505.0, 990.0]          # 500 + 1*5, 1000 - 2*5
    assert out["backstop_position"].tolist() == [1.0]
    assert out["backstop_pnl"].tolist() == [0.0, 10.0, 5.0]    # the backstop's VM: +10, then -5
    assert cash_identity(out) == pytest.approx(1500.0)


def test_liquidation_with_leftover_and_fee():
    # long 10 at 100 with 100 margin (10x), mmr 5 %, fee 1 %. Mark 95: M = 50 >= 47.5, safe.
    # Mark 94: M = 40 < 47 -> closed at the market 93: E' = 40 + 10 (93 - 94) = 30,
    # fee 0.01 * 10 * 93 = 9.3 to the fund, 20.7 left to the trader; the hedge sells 930 USD.
    book = PerpBook([10.0], [100.0])
    eng, fills, out = drive(P5, book, [[100.0], [95.0], [94.0]], [[100.0], [95.0], [93.0]])
    assert fills[0] is None and fills[1] is None
    f = fills[2]
    assert f.count == 1 and f.flows == ((0, 930.0),) and f.notional_usd == pytest.approx(930.0)
    assert f.events["equity_after_usd"][0] == pytest.approx(30.0)
    assert f.events["fee_usd"][0] == pytest.approx(9.3)
    assert out["fund"].tolist() == pytest.approx([0.0, 0.0, 9.3])
    assert out["balance"][0] == pytest.approx(20.7)
    assert out["position"].tolist() == [[0.0]] and out["backstop_position"].tolist() == [0.0]
    # backstop: short 10 gains 60 of VM, then receives the close-out difference 10 (94 - 93)
    assert out["backstop_pnl"][-1] == pytest.approx(70.0)
    assert out["hedge_cash"] == pytest.approx(930.0) and out["hedge_units"].tolist() == [-10.0]
    assert out["hedge_mtm"][-1] == pytest.approx(0.0)
    assert out["count_isolated"].sum() == 0 and out["count_cross"].sum() == 1
    assert cash_identity(out) == pytest.approx(100.0)


def test_bankruptcy_covered_by_the_fund():
    # mark 92 (M = 20 < 46), market 85: E' = 20 + 10 (85 - 92) = -50, paid by the fund of 80
    book = PerpBook([10.0], [100.0])
    eng, fills, out = drive(P5.replace(insurance_fund=80.0), book, [[100.0], [92.0]], [[100.0], [85.0]])
    ev = fills[1].events
    assert ev["fee_usd"][0] == 0.0 and ev["fund_paid_usd"][0] == pytest.approx(50.0)
    assert ev["shortfall_usd"][0] == 0.0 and fills[1].bad_debt_usd == 0.0
    assert out["fund"].tolist() == pytest.approx([80.0, 30.0])
    assert out["balance"][0] == pytest.approx(0.0)
    assert out["loss_cross"].sum() == pytest.approx(50.0)
    assert cash_identity(out) == pytest.approx(180.0)


def _haircut_book():
    # A long 10 (margin 100, isolated); B short 5 (1000, cross); C short 5 (1000, isolated); backstop flat
    return PerpBook([10.0, -5.0, -5.0], [100.0, 1000.0, 1000.0], ["isolated", "cross", "isolated"])


def test_shortfall_covered_by_haircut_exact_h():
    # A: M = 20, closed at 85: E' = -50; the fund (20) pays 20, S = 30.
    # Winners B and C each +40 of VM: G = 80, h = 30 / 80 = 0.375, each credited 40 * 0.625 = 25.
    params = P5.replace(insurance_fund=20.0, loss_rule="haircut")
    eng, fills, out = drive(params, _haircut_book(), [[100.0], [92.0]], [[100.0], [85.0]])
    assert out["shortfall"].tolist() == pytest.approx([0.0, 30.0])
    assert out["haircut"][1] == pytest.approx(0.375)
    assert out["covered"][1] == pytest.approx(30.0) and out["bad_debt"][1] == 0.0
    assert out["balance"].tolist() == pytest.approx([0.0, 1025.0, 1025.0])
    assert out["fund_final"] == 0.0
    assert cash_identity(out) == pytest.approx(2120.0)


def test_haircut_pushes_an_account_under_maintenance_from_the_next_step():
    # a short squeeze: A short 10 (margin 100) closed at 125 with mark 108: E' = 20 - 170 = -150 = S.
    # B long 5 with margin 26 (>= 25 at t=0): VM +40 -> 66 >= 27, safe in step 1 before the loss rule;
    # G = 80 (B and C), h = 1: B is back at 26 < 0.05 * 5 * 108 = 27, liquidated at step 2.
    book = PerpBook([-10.0, 5.0, 5.0], [100.0, 26.0, 1000.0], ["isolated", "cross", "isolated"])
    params = P5.replace(loss_rule="haircut")
    eng, fills, out = drive(params, book, [[100.0], [108.0], [108.0]], [[100.0], [125.0], [108.0]])
    assert out["haircut"][1] == 1.0 and out["bad_debt"][1] == pytest.approx(70.0)
    assert fills[1].events["account"].tolist() == [0]
    assert fills[2] is not None and fills[2].events["account"].tolist() == [1]


def test_residual_bad_debt_after_haircut():
    # market 70: E' = 20 + 10 (70 - 92) = -200 = S; G = 80, h = 1: 80 covered, 120 bad debt
    params = P5.replace(loss_rule="haircut")
    eng, fills, out = drive(params, _haircut_book(), [[100.0], [92.0]], [[100.0], [70.0]])
    assert out["haircut"][1] == 1.0 and out["covered"][1] == pytest.approx(80.0)
    assert out["bad_debt"][1] == pytest.approx(120.0) and fills[1].bad_debt_usd == pytest.approx(120.0)
    assert fills[1].events["bad_debt_usd"].tolist() == pytest.approx([120.0])
    assert out["balance"].tolist() == pytest.approx([0.0, 1000.0, 1000.0])   # winners keep their margin
    assert out["bad_isolated"].sum() == pytest.approx(120.0)
    assert cash_identity(out) == pytest.approx(2100.0)


def _adl_book():
    # A long 10 (margin 100); shorts B 4 (100), C 4 (400), D 2 (1000); all cross, backstop flat
    return PerpBook([10.0, -4.0, -4.0, -2.0], [100.0, 100.0, 400.0, 1000.0], "cross")


def test_shortfall_covered_by_adl_ranking_and_proportional_cut():
    # S = 50. u_B = u_C = 32, u_D = 16; M = 132, 432, 1016; notional 368, 368, 184.
    # score B = (32/132)(368/132) > C = (32/432)(368/432) > D: B gives min(50, 32, 132) = 32
    # (its whole position), C gives 18 = 56.25 % of u_C: -4 -> -1.75; D untouched.
    params = P5.replace(loss_rule="adl")
    eng, fills, out = drive(params, _adl_book(), [[100.0], [92.0]], [[100.0], [85.0]])
    assert out["shortfall"][1] == pytest.approx(50.0) and out["covered"][1] == pytest.approx(50.0)
    assert out["bad_debt"][1] == 0.0
    assert out["adl_count"].tolist() == [0, 2]
    assert out["adl_notional"][1] == pytest.approx((4.0 + 2.25) * 92.0)
    adl = out["adl_events"]
    assert adl["account"].tolist() == [1, 2]
    assert adl["units"].tolist() == pytest.approx([-4.0, -2.25])
    assert out["position"][:, 0].tolist() == pytest.approx([0.0, 0.0, -1.75, -2.0])
    assert out["backstop_position"][0] == pytest.approx(3.75)         # took A's long, gave back B's and C's cut
    assert out["balance"].tolist() == pytest.approx([0.0, 100.0, 414.0, 1016.0])
    assert cash_identity(out) == pytest.approx(1600.0)


def test_residual_bad_debt_after_adl():
    # market 60: E' = 20 + 10 (60 - 92) = -300; the winners' u total 80: 220 bad debt
    params = P5.replace(loss_rule="adl")
    eng, fills, out = drive(params, _adl_book(), [[100.0], [92.0]], [[100.0], [60.0]])
    assert out["covered"][1] == pytest.approx(80.0) and out["bad_debt"][1] == pytest.approx(220.0)
    assert out["adl_count"][1] == 3
    assert out["position"][:, 0].tolist() == pytest.approx([0.0, 0.0, 0.0, 0.0])
    assert out["backstop_position"][0] == pytest.approx(0.0)
    assert out["bad_debt_total"] == pytest.approx(220.0)
    assert cash_identity(out) == pytest.approx(1600.0)


def test_adl_never_touches_the_backstop_or_the_same_side():
    # the only opposite position is the backstop's: nothing is covered, all of S is bad debt
    book = PerpBook([10.0, 5.0], [100.0, 1000.0], "cross")
    eng, fills, out = drive(P5, book, [[100.0], [92.0]], [[100.0], [85.0]])
    assert out["adl_count"][1] == 0 and out["bad_debt"][1] == pytest.approx(50.0)
    assert out["backstop_position"][0] == pytest.approx(-5.0)


@pytest.mark.parametrize("mode, liquidated", [("cross", False), ("isolated", True)])
def test_hedged_pair_survives_only_under_cross(mode, liquidated):
    # long 10 of asset 0, short 10 of asset 1, 50 of margin per leg; both fall 10 %.
    # cross: M = 100 - 100 + 100 = 100 >= 0.05 (900 + 900) = 90; isolated long leg: 50 - 100 < 45.
    book = PerpBook([[10.0, -10.0]], [[50.0, 50.0]], mode)
    marks = [[100.0, 100.0], [90.0, 90.0]]
    eng, fills, out = drive(P5.replace(insurance_fund=100.0), book, marks, marks, assets=(0, 1))
    if not liquidated:
        assert fills[1] is None
        assert out["balance"][0] == pytest.approx(100.0)
        assert out["position"].tolist() == [[10.0, -10.0]]
    else:
        ev = fills[1].events
        assert ev["account"].tolist() == [0] and ev["asset"].tolist() == [0] and ev["mode"].tolist() == ["isolated"]
        assert fills[1].flows == ((0, 900.0),)                         # only the long leg is sold
        assert out["position"].tolist() == [[0.0, -10.0]]              # the short leg stays open
        assert out["balance"][0] == pytest.approx(150.0)               # short leg 50 + 100; long leg 0
        assert out["fund"][1] == pytest.approx(50.0)
        assert out["count_isolated"][1] == 1


def test_closing_a_short_buys():
    book = PerpBook([-10.0], [100.0])
    eng, fills, out = drive(P5, book, [[100.0], [108.0]], [[100.0], [108.0]])
    assert fills[1].flows == ((0, -1080.0),)
    assert out["hedge_units"].tolist() == [10.0]


def test_processing_order_lowest_margin_ratio_then_account_then_asset_and_capacity():
    # three isolated longs; ratios at mark 92: a 20/46, b 40/46 ... capacity 2 leaves one waiting
    book = PerpBook([10.0, 10.0, 10.0], [110.0, 100.0, 100.0], "isolated")
    params = P5.replace(keeper_capacity=2)
    eng, fills, out = drive(params, book, [[100.0], [92.0], [92.0]], [[100.0], [92.0], [92.0]])
    assert fills[1].events["account"].tolist() == [1, 2] and fills[1].waiting == 1
    assert fills[2].events["account"].tolist() == [0]


def test_keeper_outage_and_breaker_pause_liquidations():
    book = PerpBook([10.0], [100.0])
    w = _world_one_asset(book, PerpParams(mmr=0.05, phi=0.0, insurance_fund=1e3),
                         np.log(np.array([100.0, 90.0, 90.0, 90.0])), faults=(cl.protections.keeper_outage(0, 1, 3),))
    r = cl.run(w)
    assert r.count_tk[:, 0].tolist() == [0, 0, 0, 1] and r.waiting_tk[:, 0].tolist() == [0, 1, 1, 0]
    from coupling_lab.protections import CircuitBreaker

    # trips at t=1 (90 < 0.95 * 100) and again at t=2 (100 still in the window): paused to t=3
    w = _world_one_asset(book, PerpParams(mmr=0.05, phi=0.0, breaker=CircuitBreaker(drop=0.05, window=2, pause=2)),
                         np.log(np.array([100.0, 90.0, 90.0, 90.0, 90.0])))
    r = cl.run(w)
    assert r.count_tk[:, 0].tolist() == [0, 0, 0, 0, 1] and r.waiting_tk[:, 0].tolist() == [0, 1, 1, 1, 0]


# --------------------------------------------------------------------------
# the venue in a World, beside lending
# --------------------------------------------------------------------------

def _world_one_asset(book, params, x_t, faults=(), market=None):
    T = x_t.size
    return cl.World(x_t=x_t, venue_noise_tv=np.zeros((T, 1)), oracles=(cl.OracleParams(sources=(0,), theta=0.0,
                                                                                         heartbeat=1, latency=0),),
                    platforms=(params,), platform_oracle=(0,), books=(book,), platform_faults=faults,
                    market=market or cl.MarketParams())


def _mixed_world(seed=0, n=500, T=200, depth=2e7, loss_rule="adl", fund=1e4):
    rng = np.random.default_rng(seed)
    crash = np.concatenate([np.zeros(20), np.linspace(0, -0.35, 80), np.full(T - 100, -0.35)])
    x = np.column_stack([np.log(2000.0) + crash, np.log(100.0) + 0.7 * crash])
    topo = cl.shared_fraction(1.0, cl.OracleParams(theta=0.005, heartbeat=60, latency=1),
                              [cl.OracleParams(theta=0.01, heartbeat=60, latency=1)] * 2, n_sources=3, n_assets=2)
    noise = rng.standard_normal((T, topo.n_venues)) * 0.001
    lend = cl.draw_book(rng, cl.PopulationParams(n_accounts=n), 2000.0, 0.8)
    perp = draw_perp_book(rng, PerpPopulation(n_accounts=n, pair_share=0.3, basket_share=0.2, long_share=0.7),
                          [2000.0, 100.0], assets=(0, 1))
    P = 3  # providers: feed j = a * P + p
    return cl.World(x_ta=x, venue_noise_tv=noise, venue_asset=topo.venue_asset, oracles=topo.oracles,
                    oracle_provider=topo.oracle_provider,
                    platforms=(cl.PlatformParams(), PerpParams(insurance_fund=fund, loss_rule=loss_rule)),
                    platform_oracle=(0, (0, P)), books=(lend, perp), market=(cl.MarketParams(depth=depth),) * 2)


def test_lending_and_perp_sell_into_the_same_markets_flows_add_up():
    r = cl.run(_mixed_world())
    out = perp_outputs(r, 1)
    ev = r.events
    lend = np.zeros_like(r.flow_ta)
    np.add.at(lend, (ev["t"], ev["asset"]), ev["seized_units"] * r.market_ta[ev["t"], ev["asset"]])
    assert out["flow"].shape == (r.n_steps, 2)
    np.testing.assert_allclose(r.flow_ta, lend + out["flow"], rtol=1e-12, atol=1e-6)
    assert (out["flow"] > 0).any() and lend.sum() > 0          # both sold in this crash
    assert r.count_tk[:, 1].sum() == r.events_by_kind["perp"]["t"].size
    assert r.collateral_k[1] is None and r.debt_k[1] is None
    assert r.bad_debt_tk[:, 1].sum() == pytest.approx(out["bad_debt_total"])
    df = perp_frame(r, 1)
    assert len(df) == r.n_steps and "haircut" in df.columns and df["fund"].iloc[0] >= 0
    assert len(perp_events_frame(r)) == r.count_tk[:, 1].sum()
    with pytest.raises(ValueError, match="platform 0 must be a perp venue"):
        perp_outputs(r, 0)


def test_the_perp_venue_reads_marks_after_the_feed_and_sells_at_market():
    r = cl.run(_mixed_world())
    ev = r.events_by_kind["perp"]
    iso0 = (ev["asset"] == 0)
    assert iso0.any()
    t = ev["t"][iso0]
    np.testing.assert_allclose(ev["notional_usd"][iso0] / r.market_ta[t, 0],
                               np.abs(r.world.books[1].position[ev["account"][iso0], 0]), rtol=1e-12)


def test_a_lending_world_is_untouched_by_the_perp_module():
    a = cl.simulate(cl.Config(), seed=3)
    b = cl.run(cl.build(cl.Config(), seed=3))
    assert a.events["t"].size and np.array_equal(a.market_t, b.market_t)
    assert all(e == {} for e in a.engine_outputs) and a.events_by_kind == {}


def test_overflow_under_forced_buys_raises_the_markets_value_error():
    # a 10-unit short closed at 108 buys 1080 USD into a market of depth 1 USD: kappa -1080
    book = PerpBook([-10.0], [100.0])
    w = _world_one_asset(book, PerpParams(mmr=0.05), np.log(np.array([100.0, 108.0, 108.0, 108.0])),
                         market=cl.MarketParams(depth=1.0, resilience=0.0))
    with pytest.raises(ValueError, match=r"market price of asset 0 must stay finite; it overflowed at step 2"):
        cl.run(w)


def test_overflow_in_a_two_asset_world_raises_too():
    book = PerpBook([[0.0, -10.0]], [[0.0, 100.0]], "isolated")
    T = 4
    x = np.column_stack([np.full(T, np.log(100.0)), np.log(np.array([100.0, 108.0, 108.0, 108.0]))])
    o = lambda v: cl.OracleParams(sources=(v,), theta=0.0, heartbeat=1, latency=0)  # noqa: E731
    w = cl.World(x_ta=x, venue_noise_tv=np.zeros((T, 2)), venue_asset=(0, 1), oracles=(o(0), o(1)),
                 platforms=(PerpParams(),), platform_oracle=((1,),), books=(book,),
                 market=(cl.MarketParams(), cl.MarketParams(depth=1.0, resilience=0.0)))
    with pytest.raises(ValueError, match="market price of asset 1 must stay finite"):
        cl.run(w)


# --------------------------------------------------------------------------
# bad input: one line, naming field, value and range
# --------------------------------------------------------------------------

def _one_line(exc, fn, *frags):
    with pytest.raises(exc) as info:
        fn()
    msg = str(info.value)
    assert "\n" not in msg
    for f in frags:
        assert f in msg, (f, msg)


@pytest.mark.parametrize("field, value, frags", [
    ("mmr", 0.0, ["mmr must be in (0, 1); got 0.0"]),
    ("mmr", 1.0, ["mmr must be in (0, 1); got 1.0"]),
    ("mmr_by_asset", (0.03, 1.5), ["mmr_by_asset[1] must be in (0, 1); got 1.5"]),
    ("mmr_by_asset", (), ["mmr_by_asset must be None or a non-empty sequence"]),
    ("phi", -0.01, ["phi must be in [0, 1); got -0.01"]),
    ("insurance_fund", -1.0, ["insurance_fund must be in [0, inf); got -1.0"]),
    ("loss_rule", "socialise", ["loss_rule must be one of haircut, adl; got 'socialise'"]),
    ("keeper_capacity", 0, ["keeper_capacity must be an integer in [1, inf); got 0"]),
])
def test_bad_params(field, value, frags):
    _one_line(ValueError, lambda: PerpParams(**{field: value}), *frags)


@pytest.mark.parametrize("field, value, frag", [
    ("leverage_median", 0.0, "leverage_median must be in (0, inf); got 0.0"),
    ("leverage_median", -2.0, "leverage_median must be in (0, inf); got -2.0"),
    ("max_leverage", 0.5, "max_leverage must be in [1, inf); got 0.5"),
    ("cross_share", 1.5, "cross_share must be in [0, 1]; got 1.5"),
])
def test_bad_population(field, value, frag):
    _one_line(ValueError, lambda: PerpPopulation(**{field: value}), frag)


def test_bad_population_shares_and_pairs():
    _one_line(ValueError, lambda: PerpPopulation(pair_share=0.6, basket_share=0.6),
              "pair_share + basket_share must be in [0, 1]; got 1.2")
    _one_line(ValueError, lambda: draw_perp_book(np.random.default_rng(0), PerpPopulation(pair_share=0.2), [100.0]),
              "pair_share must be 0 when the venue lists one asset; got 0.2")


def test_bad_books():
    _one_line(ValueError, lambda: PerpBook([1.0, 2.0], [10.0, 10.0], ["cross", "portfolio"]),
              "mode must be 'cross' or 'isolated'; got 'portfolio' at index 1")
    _one_line(ValueError, lambda: PerpBook([1.0], [-5.0]), "margin must be in [0, inf); got -5.0 at index 0")
    _one_line(ValueError, lambda: PerpBook([math.nan], [5.0]), "position must hold finite numbers; got nan")
    _one_line(ValueError, lambda: PerpBook([[1.0, -1.0]], [5.0], "isolated"),
              "margin must have shape (n_accounts, n_assets) when an isolated account holds several positions")
    _one_line(ValueError, lambda: PerpBook([1.0, 2.0], [5.0], "cross"), "margin must have shape (2,) or (2, 1)")


def test_position_on_an_unlisted_asset_and_wrong_book_kinds():
    book = PerpBook([[1.0, 0.0, 2.0]], [[10.0, 0.0, 10.0]], "cross")
    x = np.column_stack([np.log(np.full(3, 100.0))] * 3)
    o = lambda v: cl.OracleParams(sources=(v,))  # noqa: E731
    kw = dict(x_ta=x, venue_noise_tv=np.zeros((3, 3)), venue_asset=(0, 1, 2), oracles=(o(0), o(1), o(2)))
    _one_line(ValueError, lambda: cl.World(**kw, platforms=(PerpParams(),), platform_oracle=((0, 1),), books=(book,)),
              "must include a feed of asset 2, which books[0] holds")
    _one_line(ValueError, lambda: PerpParams().make_engine(0, book, (0, 1)),
              "book position must be on listed assets (0, 1); got a position on asset 2")
    _one_line(TypeError, lambda: cl.World(**kw, platforms=(PerpParams(),), platform_oracle=((0, 2),),
                                          books=(cl.Book([1.0], [1.0]),)),
              "books[0] must be a PerpBook (the platform is a perp venue); got Book")
    _one_line(TypeError, lambda: cl.World(**kw, platforms=(cl.PlatformParams(),), platform_oracle=((0, 2),),
                                          books=(book,)),
              "books[0] must be a Book; got PerpBook")
    _one_line(ValueError, lambda: cl.World(**kw, platforms=(PerpParams(mmr_by_asset=(0.03, 0.05)),),
                                           platform_oracle=((0, 2),), books=(book,)),
              "platforms[0].mmr_by_asset must hold one value per asset (n_assets=3); got 2")


# --------------------------------------------------------------------------
# the seeded population
# --------------------------------------------------------------------------

def test_population_mix_in_production_ranges():
    rng = np.random.default_rng(5)
    pop = PerpPopulation(n_accounts=4000, long_share=0.6, cross_share=0.3, pair_share=0.25, basket_share=0.25)
    b = draw_perp_book(rng, pop, [2000.0, 100.0, 10.0], assets=(0, 1, 2))
    q = b.position
    n_pos = (q != 0).sum(axis=1)
    pairs = (n_pos == 2)
    assert abs(pairs.mean() - 0.25) < 0.03 and abs((n_pos == 3).mean() - 0.25) < 0.03
    assert ((q[pairs] > 0).sum(axis=1) == 1).all()                       # a pair is long one, short the other
    assert abs(np.mean([m == "cross" for m in b.mode]) - 0.3) < 0.03
    single = n_pos == 1
    assert abs((q[single].sum(axis=1) > 0).mean() - 0.6) < 0.03
    notional = np.abs(q) @ np.array([2000.0, 100.0, 10.0])
    lev = notional / b.margin.sum(axis=1)
    assert lev.min() >= 1.0 - 1e-9 and lev.max() <= 20.0 + 1e-9          # dYdX large-cap initial 5 %: 20x
    assert hyperliquid_mmr(40) == 0.0125 and hyperliquid_mmr(20) == 0.025
    again = draw_perp_book(np.random.default_rng(5), pop, [2000.0, 100.0, 10.0], assets=(0, 1, 2))
    assert np.array_equal(again.position, b.position) and again.mode == b.mode


def test_market_underflow_to_zero_ends_in_bad_debt_without_nan():
    # t=1: the first long (M = 55 - 60 = -5) is sold at 94, 940 USD into a market of depth 1 USD: the market
    # and the marks go to 0 at t=2, where the second long (M = 60 - 100 = -40) is closed at 0. Nobody but the
    # backstop is short: ADL finds no winner, and 5 + 40 USD is bad debt.
    book = PerpBook([10.0, 1.0], [55.0, 60.0], "isolated")
    w = _world_one_asset(book, PerpParams(mmr=0.05, phi=0.0, insurance_fund=0.0, loss_rule="adl"),
                         np.log(np.array([100.0, 94.0, 94.0, 94.0, 94.0])),
                         market=cl.MarketParams(depth=1.0, resilience=0.0))
    r = cl.run(w)
    out = perp_outputs(r, 0)
    assert r.market_t[-1] == 0.0
    for v in out.values():
        if isinstance(v, np.ndarray) and v.dtype.kind == "f":
            assert np.isfinite(v).all()
    assert out["bad_debt"].tolist() == pytest.approx([0.0, 5.0, 40.0, 0.0, 0.0])
    assert (out["position"] == 0).all() and out["backstop_position"][0] == pytest.approx(0.0)
    cash = out["balance"].sum() + out["backstop_balance"] + out["fund_final"] - out["bad_debt_total"]
    assert cash == pytest.approx(out["initial_cash"])
