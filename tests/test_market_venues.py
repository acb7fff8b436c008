"""Hand-worked cases for the market with finite depth and the venues (MODEL.md §1-2).

The runs use a flat fundamental at ~1000 USD, zero venue noise and oracles with
``theta = 0`` (they follow the market exactly), so the only thing moving prices
is the impact state ``kappa`` of forced selling, which is derived by hand.
"""
import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from coupling_lab import Book, MarketParams, OracleParams, PlatformParams, World, run
from coupling_lab.market import market_price, next_kappa
from coupling_lab.venues import draw_venue_noise

P = math.exp(math.log(1000.0))  # the flat fundamental price, as the engine computes it
RULES = dict(lt=0.8, close_factor=0.5, bonus=0.05, h_full=0.95)


def flat_world(T, books, market, latency=0, platforms=None, noise_tv=None):
    K = len(books)
    noise_tv = np.zeros((T, 1)) if noise_tv is None else noise_tv
    return World(
        x_t=np.full(T, math.log(1000.0)), venue_noise_tv=noise_tv,
        oracles=(OracleParams(sources=tuple(range(noise_tv.shape[1])), theta=0.0, heartbeat=1, latency=latency),),
        platforms=platforms or (PlatformParams(**RULES),) * K, platform_oracle=(0,) * K,
        books=tuple(Book(np.asarray(c, float), np.asarray(d, float)) for c, d in books), market=market,
    )


def test_next_kappa_and_market_price_formulas():
    # (1 - 0.25) * 0.04 + 3e6 / 1e8 = 0.03 + 0.03 = 0.06
    assert_allclose(next_kappa(0.04, 3e6, MarketParams(depth=1e8, resilience=0.25)), 0.06, rtol=1e-14)
    # selling 1 % of depth from rest moves the price about 1 %: exp(-0.01) = 0.99005
    params = MarketParams()
    kappa = next_kappa(0.0, 0.01 * params.depth, params)
    assert_allclose(kappa, 0.01, rtol=1e-14)
    assert_allclose(market_price(math.log(2000.0), kappa) / 2000.0, math.exp(-0.01), rtol=1e-14)
    # resilience 1: the impact is gone after one step; 0: permanent
    assert next_kappa(0.5, 0.0, MarketParams(resilience=1.0)) == 0.0
    assert next_kappa(0.5, 0.0, MarketParams(resilience=0.0)) == 0.5


def test_kappa_recursion_and_market_price_in_a_run():
    # D = 1e5 USD, rho = 0.5, keeper capacity 1, two accounts (c = 10 each):
    #   account 0: d = 8600, h = 8000/8600 = 0.930 -> full at t=0:
    #       s0 = 8600 * 1.05 / 1000 = 9.03 units, Q0 = s0 * m0 = 9030 USD
    #       kappa_1 = 0.5 * 0 + 9030 / 1e5 = 0.0903
    #   account 1: d = 8500 (h = 0.941 at 1000), waits for t=1 (capacity):
    #       m1 = pi1 = 1000 e^{-0.0903} = 913.67, h = 10 * 913.67 * 0.8 / 8500 = 0.860 -> full
    #       s1 = 8500 * 1.05 / 913.67 = 9.768 units, Q1 = s1 * m1 = 8925 USD
    #       kappa_2 = 0.5 * 0.0903 + 8925 / 1e5 = 0.13440
    #   kappa_3 = 0.5 * 0.13440 = 0.06720
    mk = MarketParams(depth=1e5, resilience=0.5)
    w = flat_world(4, [([10.0, 10.0], [8600.0, 8500.0])], mk,
                   platforms=(PlatformParams(**RULES, keeper_capacity=1),))
    r = run(w)
    k1 = 8600 * 1.05 / 1e5
    k2 = 0.5 * k1 + 8500 * 1.05 / 1e5
    kappa = np.array([0.0, k1, k2, 0.5 * k2])
    assert_allclose(kappa, [0, 0.0903, 0.1344, 0.0672], rtol=1e-12)
    assert_allclose(r.kappa_t, kappa, rtol=1e-12, atol=1e-15)
    assert_allclose(r.market_t, np.exp(np.log(1000.0) - kappa), rtol=1e-12)
    m1 = P * math.exp(-k1)
    assert_allclose(r.events["seized_units"], [8600 * 1.05 / P, 8500 * 1.05 / m1], rtol=1e-12)
    assert_allclose(r.events["oracle_price"], [P, m1], rtol=1e-12)
    assert_allclose(r.notional_tk[:, 0], [9030.0, 8925.0, 0.0, 0.0], rtol=1e-12)
    assert r.kappa_t[0] == 0.0


@pytest.mark.parametrize("latency", [0, 1, 3])
def test_impact_of_step_t_reaches_the_oracle_only_from_t_plus_1_plus_latency(latency):
    # rho = 0 (permanent impact), D = 1e5. Account 0 (c 10, d 8600) is
    # liquidated at t=0: Q0 = 9030, kappa_t = 0.0903 for t >= 1, so the raw
    # observation drops to 1000 e^{-0.0903} = 913.67 from t = 1. Account 1
    # (c 1, d 796: p* = 796 / 0.8 = 995) is safe at 1000 and liquidatable at
    # 913.67: it is hit exactly at t = 1 + latency, the first step its
    # oracle publishes a post-impact observation.
    T = 6
    mk = MarketParams(depth=1e5, resilience=0.0)
    r = run(flat_world(T, [([10.0, 1.0], [8600.0, 796.0])], mk, latency=latency))
    k1 = 8600 * 1.05 / 1e5
    low = P * math.exp(-k1)
    # the second sale (full liquidation: h = 913.67 * 0.8 / 796 = 0.918) sells
    # 796 * 1.05 / pi units at m = pi: Q = 835.8 USD, seen from the step after it
    k2 = k1 + 796 * 1.05 / 1e5
    steps = np.arange(T)
    kappa = np.where(steps == 0, 0.0, np.where(steps <= 1 + latency, k1, k2))
    assert_allclose(r.kappa_t, kappa, rtol=1e-12)
    raw = P * np.exp(-kappa)
    assert_allclose(raw[1 : 2 + latency], low, rtol=1e-12)
    assert_allclose(r.raw_tj[:, 0], raw, rtol=1e-12)
    published = raw[np.maximum(steps - latency, 0)]
    assert_allclose(r.oracle_tj[:, 0], published, rtol=1e-12)
    assert np.all(r.oracle_tj[: 1 + latency, 0] == r.oracle_tj[0, 0])  # the sale is not seen earlier
    assert r.oracle_tj[1 + latency, 0] < r.oracle_tj[0, 0]
    assert_array_equal(r.events["t"], [0, 1 + latency])
    assert_array_equal(r.events["account"], [0, 1])
    assert_allclose(r.events["oracle_price"], [P, low], rtol=1e-12)


def test_platforms_act_simultaneously_and_their_order_does_not_matter():
    # Two platforms on one oracle. At t=0 both read pi0 = 1000: neither sees the
    # other's sale, so each seizes exactly what it would alone:
    #   platform A: c 10, d 8600 -> 9.03 units;  platform B: c 5, d 4300 -> h 4000/4300
    #   = 0.930 full, s = 4300 * 1.05 / 1000 = 4.515 units
    #   kappa_1 = (9030 + 4515) / D with D = 1e6 -> 0.013545, kappa_2 = 0.8 kappa_1
    mk = MarketParams(depth=1e6, resilience=0.2)
    a, b = ([10.0], [8600.0]), ([5.0], [4300.0])
    r_ab = run(flat_world(3, [a, b], mk))
    r_ba = run(flat_world(3, [b, a], mk))
    assert_allclose(r_ab.events["seized_units"], [9.03, 4.515], rtol=1e-12)
    assert_array_equal(r_ab.events["t"], [0, 0])
    assert_allclose(r_ab.kappa_t[1], (9030.0 + 4515.0) / 1e6, rtol=1e-12)
    assert_allclose(r_ab.kappa_t[2], 0.8 * (9030.0 + 4515.0) / 1e6, rtol=1e-12)
    assert_array_equal(r_ab.kappa_t, r_ba.kappa_t)
    assert_array_equal(r_ab.notional_tk, r_ba.notional_tk[:, ::-1])
    assert_array_equal(r_ab.count_tk, r_ba.count_tk[:, ::-1])


def test_venue_price_is_market_price_times_exp_noise():
    # p^v_t = m_t exp(eps^v_t), also while kappa > 0 after a sale.
    T = 4
    eps = np.array([[0.01, -0.02], [0.0, 0.03], [-0.01, 0.01], [0.02, 0.0]])
    r = run(flat_world(T, [([10.0], [8600.0])], MarketParams(depth=1e5, resilience=0.5), noise_tv=eps))
    assert r.kappa_t[1] > 0
    assert_allclose(r.venue_tv, r.market_t[:, None] * np.exp(eps), rtol=1e-12)
    # median of two venues is their mean
    assert_allclose(r.raw_tj[:, 0], r.venue_tv.mean(axis=1), rtol=1e-12)
    assert_allclose(r.market_t, np.exp(r.x_t - r.kappa_t), rtol=1e-12)


def test_drawn_venue_noise_has_the_per_venue_sigma():
    rng = np.random.default_rng(0)
    assert_array_equal(draw_venue_noise(rng, 5, [0.0, 0.0]), np.zeros((5, 2)))
    eps = draw_venue_noise(np.random.default_rng(1), 40_000, [0.001, 0.01])
    assert eps.shape == (40_000, 2)
    # sample std within 3 % (its standard error is sigma / sqrt(2n) = 0.35 %)
    assert_allclose(eps.std(axis=0), [0.001, 0.01], rtol=0.03)
    # sample mean within 4 standard errors sigma / sqrt(n) of 0
    assert np.all(np.abs(eps.mean(axis=0)) < 4 * np.array([0.001, 0.01]) / math.sqrt(40_000))
