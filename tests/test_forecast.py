"""Margin-call forecasting: hand-worked rounds, the feedback fixed point, and the simulation it approximates."""
import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

from coupling_lab import Book, Config, MarketParams, OracleParams, PlatformParams, ReplayScenario, build, run
from coupling_lab.forecast import first_round_sales, forecast, liquidation_map

AAVE = PlatformParams(lt=0.8, close_factor=0.5, bonus=0.05, h_full=0.95)


# --- one round, by hand ------------------------------------------------------------

def test_partial_liquidation_above_h_full():
    # h = 1800 * 0.8 / 1500 = 0.96 >= 0.95: repay f * d = 750, seize 750 * 1.05 / 1800 units
    sold, seized, repaid, liq = first_round_sales(np.array([1.0]), np.array([1500.0]), 1800.0, AAVE)
    assert liq.tolist() == [True]
    assert_allclose(seized, [750 * 1.05 / 1800])
    assert_allclose(sold, [750 * 1.05])
    assert_allclose(repaid, [750.0])


def test_full_liquidation_below_h_full():
    # h = 1700 * 0.8 / 1500 = 0.907 < 0.95: the whole debt, 1500 * 1.05 = 1575 USD of collateral
    sold, seized, repaid, _ = first_round_sales(np.array([1.0]), np.array([1500.0]), 1700.0, AAVE)
    assert_allclose(sold, [1575.0])
    assert_allclose(repaid, [1500.0])


def test_exhausted_collateral_sells_everything():
    # at 1500 USD the bonus-inclusive claim 1575 exceeds the 1500 USD of collateral: all of it goes
    sold, seized, repaid, _ = first_round_sales(np.array([1.0]), np.array([1500.0]), 1500.0, AAVE)
    assert_allclose(seized, [1.0])
    assert_allclose(sold, [1500.0])
    assert_allclose(repaid, [1500.0 / 1.05])


def test_healthy_and_debt_free_accounts_are_untouched():
    sold, _, _, liq = first_round_sales(np.array([1.0, 1.0]), np.array([1000.0, 0.0]), 1300.0, AAVE)
    assert liq.tolist() == [False, False]
    assert sold.sum() == 0.0


def test_keeper_capacity_takes_lowest_health_first():
    c = np.ones(3)
    d = np.array([1500.0, 1600.0, 1550.0])  # p* = 1875, 2000, 1937.5
    params = AAVE.replace(keeper_capacity=2)
    _, _, _, liq = first_round_sales(c, d, 1800.0, params)
    assert liq.tolist() == [False, True, True]


def test_liquidation_map_by_hand():
    book = Book([1.0, 1.0], [1500.0, 1000.0])  # p* = 1875 and 1250
    m = liquidation_map([book, book], AAVE, [1900.0, 1800.0, 1200.0])
    # 1200: first account exhausted (1200 USD), second partial (500 * 1.05 = 525 USD)
    assert_allclose(m.notional_pk[:, 0], [0.0, 787.5, 1725.0])
    assert_allclose(m.total_p, 2 * m.notional_pk[:, 0])
    assert m.count_pk[:, 1].tolist() == [0, 1, 2]


# --- the feedback fixed point ------------------------------------------------------

def two_account_book():
    # A: p* = 1875; B: p* = 1400 / 0.8 = 1750
    return Book([1.0, 1.0], [1500.0, 1400.0])


def test_coupled_cascade_by_hand():
    """A 10 % drop (2000 -> 1800) liquidates A on both platforms. Alone, one
    platform's 787.5 USD moves the price to 1800 e^{-787.5/D} > 1750 and B is
    safe; together, 1575 USD push it below 1750 and B falls too."""
    D = 40_000.0
    b = two_account_book()
    alone = forecast([b, b], AAVE, 2000.0, 0.10, D, shared=False)
    together = forecast([b, b], AAVE, 2000.0, 0.10, D, shared=True)

    assert_allclose(alone.liquidated_k, [787.5, 787.5])
    assert_allclose(alone.final_price, 1800 * math.exp(-787.5 / D))

    m1 = 1800 * math.exp(-1575 / D)
    assert m1 < 1750 < 1800 * math.exp(-787.5 / D)
    h_b = m1 * 0.8 / 1400  # 0.989 >= 0.95: half of B's debt
    assert h_b >= 0.95
    round1 = 2 * 700 * 1.05
    assert_allclose(together.sold_nk.sum(axis=1), [1575.0, round1])
    assert_allclose(together.price_n, [1800.0, m1, 1800 * math.exp(-(1575 + round1) / D)])
    assert_allclose(together.kappa, (1575 + round1) / D)
    assert together.converged
    assert together.first_round_usd == pytest.approx(1575.0)
    assert together.amplification == pytest.approx((1575 + round1) / 1575)


def test_one_platform_shared_or_not_is_the_same():
    b = two_account_book()
    a = forecast(b, AAVE, 2000.0, 0.1, 40_000.0, shared=True)
    c = forecast(b, AAVE, 2000.0, 0.1, 40_000.0, shared=False)
    assert_allclose(a.sold_nk, c.sold_nk)


def test_repeat_liquidates_a_partly_closed_account_again():
    # after its first round A holds 0.5625 units and 750 USD (p* = 1666.7); a shallow market
    # takes the price below that and, with repeat, A is liquidated a second time
    b = Book([1.0], [1500.0])
    once = forecast(b, AAVE, 2000.0, 0.1, 8_000.0, repeat=False)
    again = forecast(b, AAVE, 2000.0, 0.1, 8_000.0, repeat=True)
    assert 1800 * math.exp(-787.5 / 8_000) < 750 / (0.5625 * 0.8)
    assert once.liquidated_usd == pytest.approx(787.5)
    assert again.liquidated_usd > once.liquidated_usd
    assert again.n_rounds >= 2


def test_no_drop_no_sales():
    b = two_account_book()
    fc = forecast(b, AAVE, 2000.0, 0.0, 1e6)
    assert fc.liquidated_usd == 0.0 and fc.n_rounds == 0 and fc.kappa == 0.0
    assert math.isnan(fc.amplification)


def test_resilience_bounds_the_fall_by_the_permanent_case():
    b = two_account_book()
    permanent = forecast([b, b], AAVE, 2000.0, 0.1, 40_000.0, resilience=0.0)
    healing = forecast([b, b], AAVE, 2000.0, 0.1, 40_000.0, resilience=0.9)
    assert healing.kappa <= permanent.kappa
    assert healing.liquidated_usd <= permanent.liquidated_usd


# --- forecast vs the simulated engine ----------------------------------------------

def step_drop(drop, p0=2000.0, n_steps=200, t0=10):
    return ReplayScenario(np.r_[np.full(t0, p0), np.full(n_steps - t0, p0 * (1 - drop))])


@pytest.mark.parametrize("resilience", [0.0, 0.3])
def test_forecast_equals_simulation_with_a_perfect_shared_oracle(resilience):
    """With every platform on one noise-free oracle that publishes every change at once
    (theta 0, latency 0), each forecast round is one engine step: the two agree exactly."""
    cfg = Config(scenario=step_drop(0.10), sharing=1.0, venue_sigma=0.0,
                 shared_oracle=OracleParams(theta=0.0, heartbeat=1, latency=0),
                 market=MarketParams(depth=2e8, resilience=resilience))
    world = build(cfg, seed=3)
    sim = run(world)
    fc = forecast(world.books, world.platforms, 2000.0, 0.10, 2e8, resilience=resilience)
    per_step = sim.notional_tk[10:10 + fc.n_rounds]
    assert fc.n_rounds > 1  # a real cascade, not one round
    assert_allclose(per_step, fc.sold_nk, rtol=1e-9)
    assert_allclose(sim.measures.liquidated_usd, fc.liquidated_usd, rtol=1e-9)
    assert_allclose(sim.measures.excess_drawdown, fc.kappa, rtol=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_forecast_is_close_to_simulation_with_the_default_shared_oracle(seed):
    """Default shared oracle (0.5 % threshold, 1 step latency) and noisy venues, but permanent impact
    (resilience 0): latency only delays each round and, in a deep cascade, every round moves the price
    by far more than the 0.5 % threshold, so the total liquidated is within 5 %."""
    cfg = Config(scenario=step_drop(0.06, n_steps=300), sharing=1.0, identical_books=True,
                 market=MarketParams(depth=2e8, resilience=0.0))
    world = build(cfg, seed=seed)
    sim = run(world)
    fc = forecast(world.books, world.platforms, 2000.0, 0.06, 2e8)
    assert fc.amplification > 5  # the regime argued for: a deep cascade
    assert_allclose(fc.liquidated_usd, sim.measures.liquidated_usd, rtol=0.05)


# --- validation -------------------------------------------------------------------

@pytest.mark.parametrize("field,value,fragment", [
    ("price0", 0.0, "price0 must be in (0, inf); got 0.0"),
    ("price0", math.nan, "price0 must be a finite number"),
    ("drop", 1.0, "drop must be in [0, 1); got 1.0"),
    ("drop", -0.1, "drop must be in [0, 1); got -0.1"),
    ("depth", -5.0, "depth must be in (0, inf); got -5.0"),
    ("resilience", 1.5, "resilience must be in [0, 1]; got 1.5"),
    ("max_rounds", 0, "max_rounds must be an integer in [1, inf); got 0"),
])
def test_forecast_rejects_bad_values_naming_field_value_and_range(field, value, fragment):
    kwargs = dict(price0=2000.0, drop=0.1, depth=1e6, resilience=0.0, max_rounds=10)
    kwargs[field] = value
    with pytest.raises(ValueError) as err:
        forecast(two_account_book(), AAVE, **kwargs)
    assert fragment in str(err.value)


def test_forecast_rejects_wrong_kinds():
    with pytest.raises(TypeError, match="books\\[0\\] must be a Book"):
        forecast([object()], AAVE, 2000.0, 0.1, 1e6)
    with pytest.raises(TypeError, match="platforms\\[0\\] must be a PlatformParams"):
        forecast(two_account_book(), ["aave"], 2000.0, 0.1, 1e6)
    with pytest.raises(TypeError, match="drop must be a number"):
        forecast(two_account_book(), AAVE, 2000.0, "10%", 1e6)
    with pytest.raises(TypeError, match="shared must be True or False"):
        forecast(two_account_book(), AAVE, 2000.0, 0.1, 1e6, shared="yes")
    with pytest.raises(ValueError, match="platforms must have length n_platforms=2; got 3"):
        forecast([two_account_book()] * 2, [AAVE] * 3, 2000.0, 0.1, 1e6)


def test_liquidation_map_rejects_bad_prices():
    with pytest.raises(ValueError, match=r"prices must be in \(0, inf\); got -1.0 at index 1"):
        liquidation_map(two_account_book(), AAVE, [100.0, -1.0])
    with pytest.raises(ValueError, match=r"prices must hold finite numbers in \(0, inf\); got inf at index 0"):
        liquidation_map(two_account_book(), AAVE, [math.inf])
