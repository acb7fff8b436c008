"""Hand-worked cases for push oracles and their faults (MODEL.md §2-3).

Pure publication rules are checked with :func:`publish` on a given raw path;
median of sources, latency and venue faults are checked through the engine
with an explicit :class:`World` (no accounts in debt, so the market is never
moved and ``m_t = exp(x_t)``).
"""
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from coupling_lab import Book, MarketParams, OracleParams, PlatformParams, World, freeze, override, publish, run, spike, stale


def col(prices):
    return np.asarray(prices, dtype=float)[:, None]


def quiet_world(prices, oracles, noise_tv=None, n_venues=1, **kw):
    """A World whose only account has no debt: prices are never moved by sales."""
    prices = np.asarray(prices, dtype=float)
    if noise_tv is None:
        noise_tv = np.zeros((prices.size, n_venues))
    return World(
        x_t=np.log(prices), venue_noise_tv=noise_tv, oracles=tuple(oracles),
        platforms=(PlatformParams(),), platform_oracle=(0,), books=(Book(np.array([1.0]), np.array([0.0])),),
        market=MarketParams(), **kw,
    )


# --- deviation threshold and heartbeat -----------------------------------------

def test_publishes_only_on_deviation():
    # theta 0.5 %, heartbeat far away:
    #   t0 publishes 100 (first price)
    #   t1 100.4: |100.4/100 - 1| = 0.4 % <= 0.5 %  -> keeps 100
    #   t2 100.6: 0.6 % > 0.5 %                     -> 100.6
    #   t3 101.2: 101.2/100.6 - 1 = 0.596 %         -> 101.2
    #   t4 101.0: |101/101.2 - 1| = 0.198 %         -> keeps 101.2
    #   t5 100.6: |100.6/101.2 - 1| = 0.593 %       -> 100.6
    raw = [100.0, 100.4, 100.6, 101.2, 101.0, 100.6]
    pi = publish(col(raw), [OracleParams(theta=0.005, heartbeat=1000)])[:, 0]
    assert_allclose(pi, [100.0, 100.0, 100.6, 101.2, 101.2, 100.6], rtol=0)


def test_deviation_must_exceed_theta_strictly():
    # Exactly representable ratios: 125/100 - 1 = 0.25 and 75/100 - 1 = -0.25
    # with theta = 0.25 do not publish (the rule is ">"); 126/100 - 1 = 0.26 does.
    raw = [100.0, 125.0, 75.0, 124.9, 126.0]
    pi = publish(col(raw), [OracleParams(theta=0.25, heartbeat=1000)])[:, 0]
    assert_array_equal(pi, [100.0, 100.0, 100.0, 100.0, 126.0])


def test_heartbeat_publishes_when_t_minus_last_reaches_h():
    # theta = 1 (only a doubling would count as a deviation), H = 3, raw 100 + t:
    # published at t = 0, then whenever t - last >= 3: t = 3, 6, 9.
    raw = 100.0 + np.arange(10)
    pi = publish(col(raw), [OracleParams(theta=1.0, heartbeat=3)])[:, 0]
    assert_array_equal(pi, [100, 100, 100, 103, 103, 103, 106, 106, 106, 109])


def test_heartbeat_counts_from_the_last_deviation_update():
    # theta 10 %, H = 4: raw jumps at t2 (deviation publish, last = 2), so the
    # next heartbeat is at t = 6, not t = 4.
    raw = [100.0, 101.0, 120.0, 121.0, 122.0, 123.0, 124.0, 125.0]
    pi = publish(col(raw), [OracleParams(theta=0.10, heartbeat=4)])[:, 0]
    assert_array_equal(pi, [100, 100, 120, 120, 120, 120, 124, 124])


def test_first_step_publishes_the_candidate_whatever_the_rule():
    # theta 1, huge heartbeat: nothing would ever trigger, yet t = 0 publishes.
    pi = publish(col([37.0, 38.0, 39.0]), [OracleParams(theta=1.0, heartbeat=10**6)])[:, 0]
    assert_array_equal(pi, [37.0, 37.0, 37.0])


def test_oracles_are_independent_columns():
    raw = np.column_stack([[100.0, 100.4, 100.6], [100.0, 100.4, 100.6]])
    pi = publish(raw, [OracleParams(theta=0.005, heartbeat=1000), OracleParams(theta=0.001, heartbeat=1000)])
    # 0.4 % moves the second (theta 0.1 %) but not the first (theta 0.5 %)
    assert_array_equal(pi, [[100.0, 100.0], [100.0, 100.4], [100.6, 100.6]])


# --- latency -----------------------------------------------------------------

def test_latency_shifts_the_published_path():
    # L = 2, theta 0: candidate at t is r_{t-2}, with r_s = r_0 for s < 0.
    #   r = 100, 101, ..., 106  ->  pi = 100, 100, 100, 101, 102, 103, 104
    raw = 100.0 + np.arange(7)
    pi = publish(col(raw), [OracleParams(theta=0.0, heartbeat=1000, latency=2)])[:, 0]
    assert_array_equal(pi, [100, 100, 100, 101, 102, 103, 104])


def test_latency_in_a_run_raw_is_unshifted_and_published_is_shifted():
    prices = [1000.0, 990.0, 980.0, 985.0, 970.0, 960.0]
    w = quiet_world(prices, [OracleParams(sources=(0,), theta=0.0, heartbeat=1, latency=3)])
    r = run(w)
    assert_allclose(r.raw_tj[:, 0], prices, rtol=1e-12)
    # pi_t = r_{max(t - 3, 0)}
    assert_allclose(r.oracle_tj[:, 0], np.array(prices)[[0, 0, 0, 0, 1, 2]], rtol=1e-12)
    assert_array_equal(r.price_tk[:, 0], r.oracle_tj[:, 0])


# --- oracle faults ------------------------------------------------------------

def test_stale_suppresses_publication_in_the_window_and_resumes_after():
    # theta 0 would publish every change; stale on [2, 5) holds pi_1 = 101 for
    # t = 2, 3, 4; at t = 5 publication resumes with r_5 = 105.
    raw = 100.0 + np.arange(7)
    pi = publish(col(raw), [OracleParams(theta=0.0, heartbeat=1000)], faults=[stale(0, 2, 5)])[:, 0]
    assert_array_equal(pi, [100, 101, 101, 101, 101, 105, 106])


def test_stale_blocks_the_heartbeat_too_and_the_overdue_heartbeat_fires_after():
    # H = 3, theta 1: heartbeat due at t = 3 falls inside stale [2, 6); the
    # first step after, t = 6, has t - last = 6 >= 3 and publishes r_6.
    raw = 100.0 + np.arange(8)
    pi = publish(col(raw), [OracleParams(theta=1.0, heartbeat=3)], faults=[stale(0, 2, 6)])[:, 0]
    assert_array_equal(pi, [100, 100, 100, 100, 100, 100, 106, 106])


def test_stale_from_step_zero_still_has_a_first_price():
    # Engine's documented choice: a feed always has a first price (t = 0 publishes).
    raw = [50.0, 60.0, 70.0, 80.0]
    pi = publish(col(raw), [OracleParams(theta=0.0, heartbeat=1000)], faults=[stale(0, 0, 3)])[:, 0]
    assert_array_equal(pi, [50.0, 50.0, 50.0, 80.0])


def test_override_multiplies_what_platforms_read_and_snaps_back():
    # Honest feed: theta 1 %, raw moves 0.5 % (never published after t0, stays 100).
    # override x2 on [1, 4): platforms read 200 at t = 1, 2, 3 and 100 again at t = 4.
    # The feed's own state continues on honest data: the 200 is not a "last
    # published price" that would make 100.5 look like a 50 % deviation.
    raw = [100.0, 100.0, 100.5, 100.5, 100.5, 100.5]
    pi = publish(col(raw), [OracleParams(theta=0.01, heartbeat=1000)], faults=[override(0, 1, 4, 2.0)])[:, 0]
    assert_array_equal(pi, [100.0, 200.0, 200.0, 200.0, 100.0, 100.0])


def test_override_applies_on_top_of_honest_updates():
    # theta 0: honest pi = raw; override x0.5 on [2, 4) halves those steps only.
    raw = [100.0, 102.0, 104.0, 106.0, 108.0]
    pi = publish(col(raw), [OracleParams(theta=0.0, heartbeat=1000)], faults=[override(0, 2, 4, 0.5)])[:, 0]
    assert_allclose(pi, [100.0, 102.0, 52.0, 53.0, 108.0], rtol=1e-15)


def test_fault_hits_only_its_oracle():
    raw = np.column_stack([100.0 + np.arange(4), 100.0 + np.arange(4)])
    ps = [OracleParams(theta=0.0, heartbeat=1000)] * 2
    pi = publish(raw, ps, faults=[stale(1, 1, 4), override(0, 3, 4, 3.0)])
    assert_array_equal(pi[:, 0], [100, 101, 102, 309])
    assert_array_equal(pi[:, 1], [100, 100, 100, 100])


def test_override_in_a_run_triggers_liquidations_that_the_honest_price_would_not():
    # A bad report x0.5 on [2, 3): an account with p* = 800 (c = 1, d = 640,
    # LT 0.8) is safe at ~1000 but liquidated at the reported ~500 on step 2.
    prices = [1000.0] * 5
    w = World(
        x_t=np.log(prices), venue_noise_tv=np.zeros((5, 1)),
        oracles=(OracleParams(sources=(0,), theta=0.0, heartbeat=1),), platforms=(PlatformParams(lt=0.8),),
        platform_oracle=(0,), books=(Book(np.array([1.0]), np.array([640.0])),),
        oracle_faults=(override(0, 2, 3, 0.5),), market=MarketParams(depth=1e30),
    )
    r = run(w)
    assert_array_equal(r.events["t"], [2])
    assert_allclose(r.events["oracle_price"], [500.0], rtol=1e-12)
    assert_allclose(r.oracle_tj[:, 0], [1000, 1000, 500, 1000, 1000], rtol=1e-12)


# --- sources: median, venue faults --------------------------------------------

def test_raw_is_median_of_the_sources():
    # venue noise log(1.01), 0, log(0.98) on a flat 100: venues 101, 100, 98.
    # oracle 0 reads all three (median 100); oracle 1 reads venues 0 and 2:
    # median of two = their mean (numpy convention), (101 + 98) / 2 = 99.5.
    T = 3
    eps = np.tile(np.log([1.01, 1.0, 0.98]), (T, 1))
    w = quiet_world([100.0] * T, [OracleParams(sources=(0, 1, 2), theta=0.0, heartbeat=1),
                                  OracleParams(sources=(0, 2), theta=0.0, heartbeat=1),
                                  OracleParams(sources=(2,), theta=0.0, heartbeat=1)], noise_tv=eps)
    r = run(w)
    assert_allclose(r.venue_tv, np.tile([101.0, 100.0, 98.0], (T, 1)), rtol=1e-12)
    assert_allclose(r.raw_tj, np.tile([100.0, 99.5, 98.0], (T, 1)), rtol=1e-12)


def test_spike_on_the_median_venue_moves_the_median_a_spike_elsewhere_does_not():
    # venues 101, 100, 98. spike(0, 1, 3, 10): venue 0 -> 1010, median stays 100.
    # spike(1, 3, 5, 10): venue 1 -> 1000, median becomes 101 (sorted 98, 101, 1000).
    # An oracle reading venue 0 alone follows the spike.
    T = 6
    eps = np.tile(np.log([1.01, 1.0, 0.98]), (T, 1))
    w = quiet_world([100.0] * T, [OracleParams(sources=(0, 1, 2), theta=0.0, heartbeat=1),
                                  OracleParams(sources=(0,), theta=0.0, heartbeat=1)],
                    noise_tv=eps, venue_faults=(spike(0, 1, 3, 10.0), spike(1, 3, 5, 10.0)))
    r = run(w)
    assert_allclose(r.venue_tv[:, 0], [101, 1010, 1010, 101, 101, 101], rtol=1e-12)
    assert_allclose(r.venue_tv[:, 1], [100, 100, 100, 1000, 1000, 100], rtol=1e-12)
    assert_allclose(r.raw_tj[:, 0], [100, 100, 100, 101, 101, 100], rtol=1e-12)
    assert_allclose(r.oracle_tj[:, 1], [101, 1010, 1010, 101, 101, 101], rtol=1e-12)


def test_freeze_holds_the_last_value_and_resumes_after():
    # Falling market 1000, 990, ..., 940; freeze(0, 2, 5): venue 0 shows its
    # step-1 price 990 on t = 2, 3, 4 and the live 950 at t = 5. Venue 1 is live.
    prices = [1000.0, 990.0, 980.0, 970.0, 960.0, 950.0, 940.0]
    w = quiet_world(prices, [OracleParams(sources=(0,), theta=0.0, heartbeat=1),
                             OracleParams(sources=(1,), theta=0.0, heartbeat=1)],
                    n_venues=2, venue_faults=(freeze(0, 2, 5),))
    r = run(w)
    assert_allclose(r.venue_tv[:, 0], [1000, 990, 990, 990, 990, 950, 940], rtol=1e-12)
    assert_allclose(r.venue_tv[:, 1], prices, rtol=1e-12)
    assert_allclose(r.raw_tj[:, 0], [1000, 990, 990, 990, 990, 950, 940], rtol=1e-12)
    assert_allclose(r.oracle_tj[:, 0], r.raw_tj[:, 0], rtol=0)


def test_frozen_venue_hides_a_crash_from_its_oracle():
    # The platform reads venue 0, frozen on [1, 4) while the market halves at t = 1.
    # Account p* = 800 (c 1, d 640, LT 0.8): liquidated only once the freeze ends.
    prices = [1000.0, 500.0, 500.0, 500.0, 500.0, 500.0]
    w = World(
        x_t=np.log(prices), venue_noise_tv=np.zeros((6, 1)),
        oracles=(OracleParams(sources=(0,), theta=0.0, heartbeat=1),), platforms=(PlatformParams(lt=0.8),),
        platform_oracle=(0,), books=(Book(np.array([1.0]), np.array([640.0])),),
        venue_faults=(freeze(0, 1, 4),),
    )
    r = run(w)
    assert_allclose(r.oracle_tj[:4, 0], 1000.0, rtol=1e-12)
    assert_array_equal(r.events["t"], [4])


@pytest.mark.parametrize("t0", [0, 1])
def test_freeze_from_the_first_step_holds_the_step_zero_price(t0):
    # Documented engine choice: step 0 has no earlier price, so it prices live;
    # freeze(v, 0, t1) then holds the step-0 price, the same as freeze(v, 1, t1).
    prices = [1000.0, 900.0, 800.0, 700.0]
    w = quiet_world(prices, [OracleParams(sources=(0,), theta=0.0, heartbeat=1)], venue_faults=(freeze(0, t0, 3),))
    r = run(w)
    assert_allclose(r.venue_tv[:, 0], [1000, 1000, 1000, 700], rtol=1e-12)


def test_latency_longer_than_the_run_publishes_only_the_first_observation():
    # every candidate is r_{t-L} with t - L < 0, i.e. r_0
    raw = [10.0, 20.0, 30.0]
    pi = publish(col(raw), [OracleParams(theta=0.0, heartbeat=1, latency=5)])[:, 0]
    assert_array_equal(pi, [10.0, 10.0, 10.0])


def test_heartbeat_one_publishes_every_step_whatever_theta():
    raw = [100.0, 100.1, 100.2, 99.9]
    pi = publish(col(raw), [OracleParams(theta=1.0, heartbeat=1)])[:, 0]
    assert_array_equal(pi, raw)
