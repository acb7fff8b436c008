"""Hand-worked cases for the measures of synchronisation and damage (MODEL.md §7)."""
import math

import numpy as np
from numpy.testing import assert_allclose, assert_array_equal

from coupling_lab import (
    Book,
    MarketParams,
    OracleParams,
    PlatformParams,
    World,
    excess_drawdown,
    fundamental_drawdown,
    liquidation_synchrony,
    peak_flow_share,
    run,
    twin_dispersion,
)


# --- liquidation synchrony ------------------------------------------------------

def test_synchrony_of_proportional_series_is_one():
    # q2 = 2 q1: correlation exactly 1
    assert_allclose(liquidation_synchrony(np.column_stack([[1.0, 0.0, 3.0], [2.0, 0.0, 6.0]])), 1.0, rtol=1e-12)


def test_synchrony_is_the_mean_pairwise_correlation():
    # q1 = [1, 0, 3], q2 = 2 q1, q3 = [0, 1, 0].
    # corr(q1, q3): deviations q1 - 4/3 = [-1, -4, 5]/3, q3 - 1/3 = [-1, 2, -1]/3
    #   cov sum = (1 - 8 - 5)/9 = -12/9; var sums 42/9 and 6/9
    #   corr = (-12/9) / sqrt(42 * 6 / 81) = -12 / sqrt(252) = -0.7559
    # corr(q2, q3) is the same; corr(q1, q2) = 1. Mean of the 3 pairs:
    q = np.column_stack([[1.0, 0.0, 3.0], [2.0, 0.0, 6.0], [0.0, 1.0, 0.0]])
    rho13 = -12.0 / math.sqrt(252.0)
    assert_allclose(liquidation_synchrony(q), (1.0 + 2.0 * rho13) / 3.0, rtol=1e-12)
    assert_allclose(liquidation_synchrony(q), -0.17062, rtol=1e-4)  # (1 - 1.51186) / 3


def test_synchrony_excludes_platforms_that_never_liquidate():
    # a platform with no liquidation has no correlation: excluded, not counted as 0
    q = np.column_stack([[1.0, 0.0, 3.0], [0.0, 0.0, 0.0], [2.0, 0.0, 6.0]])
    assert_allclose(liquidation_synchrony(q), 1.0, rtol=1e-12)


def test_synchrony_is_nan_when_fewer_than_two_platforms_liquidate():
    assert math.isnan(liquidation_synchrony(np.zeros((5, 3))))
    assert math.isnan(liquidation_synchrony(np.column_stack([[0.0, 4.0, 0.0], [0.0] * 3, [0.0] * 3])))
    assert math.isnan(liquidation_synchrony(np.array([[1.0], [0.0], [2.0]])))


def test_synchrony_moving_window():
    # q1 = [1, 0, 0, 0], q2 = [0, 1, 0, 0]: one step apart.
    # window 1: deviations [3, -1, -1, -1]/4 and [-1, 3, -1, -1]/4:
    #   cov sum = (-3 - 3 + 1 + 1)/16 = -1/4, var sums 12/16 -> corr = -1/3
    # window 2 (sums over steps t, t+1, the 3 full windows): q1 -> [1, 0, 0],
    #   q2 -> [1, 1, 0]; deviations [2, -1, -1]/3 and [1, 1, -2]/3:
    #   cov sum = (2 - 1 + 2)/9 = 3/9, var sums 6/9 each -> corr = 1/2
    q = np.column_stack([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])
    assert_allclose(liquidation_synchrony(q, window=1), -1.0 / 3.0, rtol=1e-12)
    assert_allclose(liquidation_synchrony(q, window=2), 0.5, rtol=1e-12)
    # window 3: sums [1, 0] and [1, 1]: the second is constant -> fewer than 2 usable
    assert math.isnan(liquidation_synchrony(q, window=3))


# --- twin dispersion --------------------------------------------------------------

def test_twin_dispersion_by_hand():
    # thresholds 9 on all; first step strictly below 9: platform 0 at t=1,
    # platform 1 at t=2, platform 2 at t=4 (8.9 < 9), platform 3 never
    # (it touches 9.0 but never goes below). Steps [1, 2, 4]: mean 7/3,
    # population variance ((4/3)^2 + (1/3)^2 + (5/3)^2)/3 = 42/27.
    p = np.array([
        [10.0, 10.0, 10.0, 10.0],
        [8.0, 9.5, 9.5, 9.0],
        [8.0, 8.5, 9.5, 9.0],
        [8.0, 8.5, 9.2, 9.5],
        [8.0, 8.5, 8.9, 9.5],
    ])
    std, count = twin_dispersion(p, [9.0, 9.0, 9.0, 9.0])
    assert count == 3
    assert_allclose(std, math.sqrt(42.0 / 27.0), rtol=1e-12)


def test_twin_dispersion_uses_each_platforms_threshold_and_is_zero_when_all_agree():
    p = np.column_stack([[10.0, 9.0, 8.0]] * 3)
    # thresholds 9.5, 8.5, 10.5 -> first steps 1, 2, 0
    std, count = twin_dispersion(p, [9.5, 8.5, 10.5])
    assert count == 3
    assert_allclose(std, math.sqrt(2.0 / 3.0), rtol=1e-12)  # steps [1, 2, 0]: var = (0 + 1 + 1)/3
    assert twin_dispersion(p, [9.5, 9.5, 9.5]) == (0.0, 3)
    assert twin_dispersion(p, [1.0, 1.0, 1.0]) == (0.0, 0)


def test_twin_dispersion_in_a_run_with_oracle_latencies():
    # Falling price 1000, 990, ..., 940; no debt anywhere (nothing moves the market).
    # Probe c = 1, d = 780, LT 0.8: threshold 975, first raw below it at t = 3 (970).
    # Three platforms read oracles with latency 0, 1, 3 (theta 0): first steps 3, 4, 6,
    # population std = sqrt(((3-13/3)^2 + (4-13/3)^2 + (6-13/3)^2)/3) = sqrt(42/27).
    prices = 1000.0 - 10.0 * np.arange(7)
    w = World(
        x_t=np.log(prices), venue_noise_tv=np.zeros((7, 1)),
        oracles=tuple(OracleParams(sources=(0,), theta=0.0, heartbeat=1, latency=L) for L in (0, 1, 3)),
        platforms=(PlatformParams(lt=0.8),) * 3, platform_oracle=(0, 1, 2),
        books=(Book(np.array([1.0]), np.array([0.0])),) * 3, probe=(1.0, 780.0),
    )
    m = run(w).measures
    assert m.twin_count == 3
    assert_allclose(m.twin_dispersion, math.sqrt(42.0 / 27.0), rtol=1e-12)


# --- peak flow share -----------------------------------------------------------------

def test_peak_flow_share_by_hand():
    # per-step totals over two platforms: [1, 3, 0, 4] (total 8)
    q = np.array([[1.0, 0.0], [1.0, 2.0], [0.0, 0.0], [1.0, 3.0]])
    assert_allclose(peak_flow_share(q, window=1), 4.0 / 8.0, rtol=1e-15)
    assert_allclose(peak_flow_share(q, window=2), 4.0 / 8.0, rtol=1e-15)  # windows 4, 3, 4
    assert_allclose(peak_flow_share(q, window=3), 7.0 / 8.0, rtol=1e-15)  # windows 4, 7
    assert_allclose(peak_flow_share(q, window=4), 1.0, rtol=1e-15)
    assert_allclose(peak_flow_share(q, window=10), 1.0, rtol=1e-15)  # window longer than the run
    assert peak_flow_share(np.zeros((4, 2)), window=2) == 0.0


# --- drawdowns ---------------------------------------------------------------------

def test_excess_and_fundamental_drawdown_by_hand():
    assert excess_drawdown(np.array([0.0, 0.02, 0.05, 0.03])) == 0.05
    # x = [0, 1, 0.5, 2, 0.8, 1.5]: running peak [0, 1, 1, 2, 2, 2],
    # falls [0, 0, 0.5, 0, 1.2, 0.5] -> 1.2 (not the 2 - 0 range)
    assert_allclose(fundamental_drawdown(np.array([0.0, 1.0, 0.5, 2.0, 0.8, 1.5])), 1.2, rtol=1e-15)
    # a rising path has no drawdown
    assert fundamental_drawdown(np.array([1.0, 2.0, 3.0])) == 0.0
    # a 30 % crash is a log drawdown of -log(0.7)
    assert_allclose(fundamental_drawdown(np.log([2000.0, 1800.0, 1400.0, 1500.0])), -math.log(0.7), rtol=1e-12)


def test_result_measures_match_their_definitions_on_a_hand_run():
    # Two platforms on one noise-free oracle, D = 1e5, rho = 0.5. Each platform's
    # only account is fully liquidated at t=0 (c 10, d 8600: h 0.930):
    # notional 9030 USD each at t=0, so kappa_1 = 2 * 9030 / 1e5 = 0.1806 (the
    # maximum), all flow in one step (peak share 1) and the two series are
    # identical (synchrony 1).
    T = 5
    book = Book(np.array([10.0]), np.array([8600.0]))
    w = World(
        x_t=np.full(T, math.log(1000.0)), venue_noise_tv=np.zeros((T, 1)),
        oracles=(OracleParams(sources=(0,), theta=0.0, heartbeat=1),),
        platforms=(PlatformParams(lt=0.8, close_factor=0.5, bonus=0.05, h_full=0.95),) * 2,
        platform_oracle=(0, 0), books=(book, book), market=MarketParams(depth=1e5, resilience=0.5),
        flow_window=2,
    )
    r = run(w)
    assert_allclose(r.notional_tk, [[9030.0, 9030.0]] + [[0.0, 0.0]] * (T - 1), rtol=1e-12)
    m = r.measures
    assert_allclose(m.excess_drawdown, 2 * 9030.0 / 1e5, rtol=1e-12)
    assert m.fundamental_drawdown == 0.0
    assert_allclose(m.peak_flow_share, 1.0, rtol=1e-15)
    assert_allclose(m.synchrony, 1.0, rtol=1e-12)
    assert_allclose(m.liquidated_usd, 2 * 9030.0, rtol=1e-12)
    assert m.bad_debt == 0.0
    assert_array_equal(m.bad_debt_k, (0.0, 0.0))
