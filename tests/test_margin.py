"""Hand-worked cases for the margin engines (MODEL.md §4).

Every case runs the real engine through an explicit :class:`World`: a given
fundamental path, zero venue noise, one oracle with ``theta = 0`` (it follows
its single venue exactly) and a market so deep that forced selling moves
nothing (``Q / D`` of order 1e-26, which ``exp`` rounds away). The oracle
price is then exactly ``exp(x_t)``; a base price of 1024 USD is used where a
case needs exact equality, because ``exp(log(1024)) == 1024`` in floating point.
"""
import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from coupling_lab import Book, MarketParams, OracleParams, PlatformParams, World, health, liquidation_price, run

DEEP = MarketParams(depth=1e30, resilience=1.0)


def one_platform(prices, collateral, debt, **platform_kw):
    """Run one platform reading one noise-free oracle that follows ``prices``."""
    prices = np.asarray(prices, dtype=float)
    world = World(
        x_t=np.log(prices),
        venue_noise_tv=np.zeros((prices.size, 1)),
        oracles=(OracleParams(sources=(0,), theta=0.0, heartbeat=1, latency=0),),
        platforms=(PlatformParams(**platform_kw),),
        platform_oracle=(0,),
        books=(Book(np.asarray(collateral, float), np.asarray(debt, float)),),
        market=DEEP,
    )
    return run(world)


def events_of(result, account):
    ev = result.events
    sel = ev["account"] == account
    return {k: v[sel] for k, v in ev.items()}


# --- health and liquidation price -------------------------------------------

def test_health_and_liquidation_price_by_hand():
    # c = 2 units, d = 2400 USD, LT = 0.8 at pi = 2000:
    #   h = 2 * 2000 * 0.8 / 2400 = 3200 / 2400 = 4/3
    #   p* = 2400 / (2 * 0.8) = 1500, and h = pi / p* = 2000 / 1500 = 4/3 as well
    assert_allclose(health(2.0, 2400.0, 2000.0, 0.8), 4.0 / 3.0, rtol=1e-15)
    assert_allclose(liquidation_price(2.0, 2400.0, 0.8), 1500.0, rtol=1e-15)
    # at pi = p* the health is exactly 1; debt 0 is never liquidatable (h = inf)
    assert_allclose(health(2.0, 2400.0, 1500.0, 0.8), 1.0, rtol=1e-15)
    h = health(np.array([1.0, 3.0]), np.array([0.0, 1200.0]), 1000.0, 0.5)
    # second account: 3 * 1000 * 0.5 / 1200 = 1.25
    assert h[0] == np.inf
    assert_allclose(h[1], 1.25, rtol=1e-15)
    assert_allclose(liquidation_price([1.0, 4.0], [800.0, 1000.0], 0.5), [1600.0, 500.0], rtol=1e-15)


def test_liquidatable_only_strictly_below_liquidation_price():
    # c = 1, d = 512, LT = 0.5: p* = 512 / 0.5 = 1024 exactly. A price path
    # 1024 (h = 1 exactly: not liquidatable) then 512 (h = 0.5: liquidatable).
    r = one_platform([1024.0, 1024.0, 512.0], [1.0], [512.0], lt=0.5)
    assert_array_equal(r.count_tk[:, 0], [0, 0, 1])


def test_account_without_debt_is_never_liquidated():
    r = one_platform([1024.0, 1.0, 1e-3], [1.0, 1.0], [0.0, 600.0], lt=0.5)
    assert 0 not in r.events["account"]
    assert r.collateral_k[0][0] == 1.0 and r.debt_k[0][0] == 0.0


# --- close factor vs full liquidation ---------------------------------------

def test_partial_liquidation_with_bonus_seizure():
    # LT 0.8, f 0.5, b 0.05, h_full 0.95, c = 10 at pi ~ 1000, d = 8200:
    #   h = 10 * 1000 * 0.8 / 8200 = 0.9756  (in [0.95, 1): close factor applies)
    #   r = 0.5 * 8200 = 4100 USD, s = 4100 * 1.05 / 1000 = 4.305 units
    #   r' = s * pi / 1.05 = 4100, so c -> 5.695, d -> 4100
    #   new h = 5.695 * 800 / 4100 = 1.111: healthy, no second round
    P = math.exp(math.log(1000.0))
    r = one_platform([1000.0] * 3, [10.0], [8200.0], lt=0.8, close_factor=0.5, bonus=0.05, h_full=0.95)
    ev = r.events
    assert_array_equal(ev["t"], [0])
    assert_allclose(ev["seized_units"], [4100 * 1.05 / P], rtol=1e-12)
    assert_allclose(ev["seized_units"], [4.305], rtol=1e-12)
    assert_allclose(ev["repaid_usd"], [4100.0], rtol=1e-12)
    assert_array_equal(ev["bad_debt_usd"], [0.0])
    assert_allclose(r.collateral_k[0], [10.0 - 4.305], rtol=1e-12)
    assert_allclose(r.debt_k[0], [4100.0], rtol=1e-12)
    assert health(r.collateral_k[0], r.debt_k[0], P, 0.8)[0] > 1.0


def test_full_liquidation_below_h_full_with_bonus_seizure():
    # d = 8600: h = 8000 / 8600 = 0.9302 < 0.95, so the whole debt is repaid:
    #   r = 8600, s = 8600 * 1.05 / 1000 = 9.03 units <= 10, c -> 0.97, d -> 0
    r = one_platform([1000.0] * 2, [10.0], [8600.0], lt=0.8, close_factor=0.5, bonus=0.05, h_full=0.95)
    ev = r.events
    assert_allclose(ev["seized_units"], [9.03], rtol=1e-12)
    assert_allclose(ev["repaid_usd"], [8600.0], rtol=1e-12)
    assert_array_equal(ev["bad_debt_usd"], [0.0])
    assert_allclose(r.collateral_k[0], [0.97], rtol=1e-10)
    assert_array_equal(r.debt_k[0], [0.0])


def test_h_full_just_above_and_just_below():
    # Two accounts, c = 1 each, at pi = 1000, LT = 0.8 (c * pi * LT = 800):
    #   account 0: h = 0.951 (just above h_full = 0.95) -> r = 0.5 d
    #   account 1: h = 0.949 (just below)               -> r = d
    P = math.exp(math.log(1000.0))
    d = np.array([P * 0.8 / 0.951, P * 0.8 / 0.949])
    r = one_platform([1000.0], [1.0, 1.0], d, lt=0.8, close_factor=0.5, bonus=0.05, h_full=0.95)
    ev = r.events
    assert_array_equal(ev["account"], [1, 0])  # lowest health first
    repaid = dict(zip(ev["account"], ev["repaid_usd"]))
    seized = dict(zip(ev["account"], ev["seized_units"]))
    assert_allclose(repaid[0], 0.5 * d[0], rtol=1e-12)
    assert_allclose(repaid[1], d[1], rtol=1e-12)
    assert_allclose(seized[0], 0.5 * d[0] * 1.05 / P, rtol=1e-12)
    assert_allclose(seized[1], d[1] * 1.05 / P, rtol=1e-12)
    assert_allclose(r.debt_k[0], [0.5 * d[0], 0.0], rtol=1e-12)


@pytest.mark.parametrize("h_full, full", [(0.5, False), (np.nextafter(0.5, 1.0), True)])
def test_health_exactly_at_h_full_is_a_partial_liquidation(h_full, full):
    # pi = 1024 exactly, c = 1, d = 1024, LT = 0.5: h = 1024 * 0.5 / 1024 = 0.5
    # exactly. MODEL.md: full only when h < h_full (strict), so h_full = 0.5
    # gives r = f d = 512 and h_full one ulp above 0.5 gives r = d = 1024.
    # bonus 0: s = r / 1024.
    r = one_platform([1024.0], [1.0], [1024.0], lt=0.5, close_factor=0.5, bonus=0.0, h_full=h_full)
    expected_r = 1024.0 if full else 512.0
    assert_array_equal(r.events["repaid_usd"], [expected_r])
    assert_array_equal(r.events["seized_units"], [expected_r / 1024.0])
    assert_array_equal(r.debt_k[0], [1024.0 - expected_r])


# --- bad debt ------------------------------------------------------------------

def test_collateral_exhaustion_creates_bad_debt_and_zeroes_debt():
    # c = 10, d = 9800 at pi = 1000, LT 0.8, b 0.05: h = 8000 / 9800 = 0.816 -> full
    #   wanted s = 9800 * 1.05 / 1000 = 10.29 > 10, so s = 10 (all of it)
    #   r' = 10 * 1000 / 1.05 = 9523.81, bad debt = 9800 - 9523.81 = 276.19
    P = math.exp(math.log(1000.0))
    r = one_platform([1000.0] * 3, [10.0, 5.0], [9800.0, 1000.0], lt=0.8, close_factor=0.5, bonus=0.05,
                     h_full=0.95)
    ev = events_of(r, 0)
    repaid = 10.0 * P / 1.05
    assert_allclose(ev["seized_units"], [10.0], rtol=1e-15)
    assert_allclose(ev["repaid_usd"], [repaid], rtol=1e-12)
    assert_allclose(ev["bad_debt_usd"], [9800.0 - repaid], rtol=1e-12)
    assert_allclose(ev["bad_debt_usd"], [276.190476190476], rtol=1e-9)
    assert r.collateral_k[0][0] == 0.0 and r.debt_k[0][0] == 0.0
    assert_allclose(r.bad_debt_tk[:, 0], [9800.0 - repaid, 0.0, 0.0], rtol=1e-12)
    assert_allclose(r.measures.bad_debt, 9800.0 - repaid, rtol=1e-12)
    # the healthy account (h = 5 * 800 / 1000 = 4) is untouched
    assert r.collateral_k[0][1] == 5.0 and r.debt_k[0][1] == 1000.0


# --- keeper capacity and order -------------------------------------------------

def test_keeper_capacity_leaves_the_rest_for_later_steps_lowest_health_first():
    # c = 1 each at pi ~ 1000, LT 0.8: h = 800 / d
    #   d = [900, 880, 900, 850, 700] -> h = [0.889, 0.909, 0.889, 0.941, 1.143]
    # All of 0-3 are below h_full 0.95 (full liquidation, gone afterwards);
    # account 4 is healthy. Capacity 2: step 0 takes the two lowest healths,
    # 0 and 2 (a tie, broken by index), step 1 takes 1 then 3, step 2 nothing.
    r = one_platform([1000.0] * 4, [1.0] * 5, [900.0, 880.0, 900.0, 850.0, 700.0], lt=0.8,
                     close_factor=0.5, bonus=0.05, h_full=0.95, keeper_capacity=2)
    assert_array_equal(r.events["t"], [0, 0, 1, 1])
    assert_array_equal(r.events["account"], [0, 2, 1, 3])
    assert_array_equal(r.count_tk[:, 0], [2, 2, 0, 0])
    assert_allclose(r.debt_k[0], [0, 0, 0, 0, 700.0])


def test_keeper_capacity_with_partial_liquidations_reordering_by_new_health():
    # Always partial (h_full = 0), f = 0.5, b = 0, LT = 0.8, c = 1, pi = 1024:
    # one round maps h -> (c - f d / pi) pi LT / ((1 - f) d) = 2 h - 0.8.
    # d = [920, 901, 920, 870] -> h = 819.2 / d = [0.8904, 0.9092, 0.8904, 0.9416]
    # cap 2:
    #   t=0: 0, 2 (tie by index)      -> h0 = h2 = 2*0.8904 - 0.8 = 0.9809
    #   t=1: 1 (0.9092), 3 (0.9416)   -> h1 = 1.018, h3 = 1.083 (healthy);
    #        0 and 2, now at 0.9809, are the least urgent and wait
    #   t=2: 0, 2                     -> 2*0.9809 - 0.8 = 1.162 (healthy)
    d0 = np.array([920.0, 901.0, 920.0, 870.0])
    h0 = 1.0 * 1024.0 * 0.8 / d0
    assert np.all(h0 < 1) and h0[0] < h0[1] < h0[3] and 2 * h0[0] - 0.8 > h0[3]
    r = one_platform([1024.0] * 4, [1.0] * 4, d0, lt=0.8, close_factor=0.5, bonus=0.0, h_full=0.0,
                     keeper_capacity=2)
    assert_array_equal(r.events["t"], [0, 0, 1, 1, 2, 2])
    assert_array_equal(r.events["account"], [0, 2, 1, 3, 0, 2])
    # accounts 0 and 2 were halved twice, 1 and 3 once
    assert_allclose(r.debt_k[0], d0 * [0.25, 0.5, 0.25, 0.5], rtol=1e-12)
    # c after one round: 1 - 0.5 d / 1024; after two: minus 0.25 d / 1024 more
    assert_allclose(r.collateral_k[0], 1.0 - d0 / 1024.0 * [0.75, 0.5, 0.75, 0.5], rtol=1e-12)
    assert np.all(health(r.collateral_k[0], r.debt_k[0], 1024.0, 0.8) >= 1.0)


def test_unlimited_capacity_takes_every_liquidatable_account_in_one_step():
    r = one_platform([1000.0] * 2, [1.0] * 5, [900.0, 880.0, 900.0, 850.0, 700.0], lt=0.8)
    assert_array_equal(r.events["t"], [0, 0, 0, 0])
    assert_array_equal(r.events["account"], [0, 2, 1, 3])


# --- liquidation that lowers health ----------------------------------------------

def test_liquidation_lowering_health_hits_again_each_step_until_exhausted():
    # LT = 0.95, b = 0.10: LT (1 + b) = 1.045 > 1, so a partial round lowers health:
    #   h' = (h - f LT (1+b)) / (1 - f) < h whenever h < LT (1+b).
    # Always partial (h_full = 0), f = 0.5, c = 1, d = 960 at pi ~ 1000 (h = 0.9896).
    # One round per step:  s_n = 0.5 d_n * 1.1 / pi, c_{n+1} = c_n - s_n, d_{n+1} = d_n / 2
    #   t=0: s = 0.528 -> c 0.472, d 480   (h 0.934)
    #   t=1: s = 0.264 -> c 0.208, d 240   (h 0.823)
    #   t=2: s = 0.132 -> c 0.076, d 120   (h 0.602)
    #   t=3: s = 0.066 -> c 0.010, d  60   (h 0.158)
    #   t=4: wants 0.033 > 0.010: s = 0.010, r' = 0.010 * 1000 / 1.1 = 9.09,
    #        bad debt 60 - 9.09 = 50.91, d = 0. Nothing after.
    P = math.exp(math.log(1000.0))
    T = 8
    r = one_platform([1000.0] * T, [1.0], [960.0], lt=0.95, close_factor=0.5, bonus=0.10, h_full=0.0)
    c, d = 1.0, 960.0
    seized, repaid, hs = [], [], []
    for _ in range(4):
        hs.append(c * P * 0.95 / d)
        s = 0.5 * d * 1.1 / P
        seized.append(s)
        repaid.append(0.5 * d)
        c, d = c - s, d - 0.5 * d
    hs.append(c * P * 0.95 / d)
    seized.append(c)
    repaid.append(c * P / 1.1)
    bad = d - c * P / 1.1
    ev = r.events
    assert_array_equal(ev["t"], [0, 1, 2, 3, 4])
    assert_array_equal(ev["account"], [0] * 5)
    assert_allclose(ev["seized_units"], seized, rtol=1e-9)
    assert_allclose(ev["seized_units"], [0.528, 0.264, 0.132, 0.066, 0.010], rtol=1e-9)
    assert_allclose(ev["repaid_usd"], repaid, rtol=1e-9)
    assert_allclose(ev["bad_debt_usd"], [0, 0, 0, 0, bad], rtol=1e-9, atol=1e-12)
    assert_allclose(bad, 60 - 0.010 * P / 1.1, rtol=1e-9)
    assert np.all(np.diff(hs) < 0)  # each round really lowered health
    assert_array_equal(r.count_tk[:, 0], [1, 1, 1, 1, 1, 0, 0, 0])
    assert r.collateral_k[0][0] == 0.0 and r.debt_k[0][0] == 0.0
