"""Protections of MODEL.md §9, hand-worked rule by rule, then invariants with
protections switched on at random, then bad parameters."""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from coupling_lab import (
    AnchorBand, AnswerBounds, Book, CircuitBreaker, Config, Delay, Fallback, MarketParams, OracleParams,
    PlatformParams, RateLimit, World, build, keeper_outage, override, run, simulate, stale,
)
from coupling_lab.protections import compare, costs, without_protections

DEEP = MarketParams(depth=1e30)


def world(prices, books=(Book([1.0], [0.0]),), platforms=None, n_feeds=1, noise=None, **extra):
    """One asset following ``prices`` (USD), one venue per feed, noise-free feeds publishing every step."""
    T = len(prices)
    noise = np.zeros((T, n_feeds)) if noise is None else noise
    K = len(books)
    return World(
        x_t=np.log(prices), venue_noise_tv=noise,
        oracles=tuple(OracleParams(sources=(j,), theta=0.0, heartbeat=1) for j in range(n_feeds)),
        platforms=platforms or (PlatformParams(),) * K, platform_oracle=(0,) * K, books=tuple(books),
        market=DEEP, **extra)


# --- feed side ---------------------------------------------------------------

def test_a_falling_feed_sticks_at_its_floor_while_the_market_falls_on():
    w = world([100.0, 95.0, 90.0, 85.0, 80.0, 91.0], feed_rules=((AnswerBounds(min_answer=88.0),),))
    r = run(w)
    assert_allclose(r.oracle_tj[:, 0], [100.0, 95.0, 90.0, 90.0, 90.0, 91.0], rtol=1e-12)
    assert_allclose(r.market_t, [100.0, 95.0, 90.0, 85.0, 80.0, 91.0], rtol=1e-12)


def test_answer_bounds_reject_above_the_ceiling_too_and_step_0_publishes():
    r = run(world([120.0, 100.0, 130.0, 110.0], feed_rules=((AnswerBounds(10.0, 115.0),),)))
    assert_allclose(r.oracle_tj[:, 0], [120.0, 100.0, 100.0, 110.0], rtol=1e-12)


# --- read side ---------------------------------------------------------------

def test_delay_reads_one_value_per_hop_one_hop_late():
    # hop 2: the value read at t is the feed's at 2*floor(t/2) - 2, clamped to 0
    prices = [10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0]
    r = run(world(prices, read_guards=((Delay(hop=2),),)))
    assert_allclose(r.read_tr[:, 0], [10.0, 10.0, 10.0, 10.0, 12.0, 12.0, 14.0], rtol=1e-12)
    assert_allclose(r.price_tk[:, 0], r.read_tr[:, 0])
    assert_allclose(r.oracle_tj[:, 0], prices, rtol=1e-12)  # the feed itself is not delayed


def test_anchor_band_rejects_a_spike_and_accepts_the_next_value_in_band():
    # window 2, band 10 %: at t=2 the anchor is (100 + 130) / 2 = 115, band [103.5, 126.5]: 130 rejected;
    # at t=3 the anchor is (130 + 130) / 2 = 130: 130 accepted
    r = run(world([100.0, 100.0, 130.0, 130.0, 131.0], read_guards=((AnchorBand(band=0.1, window=2),),)))
    assert_allclose(r.read_tr[:, 0], [100.0, 100.0, 100.0, 130.0, 131.0], rtol=1e-12)


def test_fallback_switches_on_a_stale_primary_and_back_when_it_agrees():
    # feed 0 (primary) stale on [2, 6); feed 1 reads a venue 1 % higher. timeout 1:
    # t=2: 2 - last 1 = 1, still live; t=3: 2 > 1 -> fallback; t=6: primary publishes, 1 % apart <= 5 % -> back
    prices = [100.0, 99.0, 98.0, 97.0, 96.0, 95.0, 94.0, 93.0]
    noise = np.zeros((8, 2))
    noise[:, 1] = math.log(1.01)
    w = world(prices, n_feeds=2, noise=noise, oracle_faults=(stale(0, 2, 6),),
              read_guards=((Fallback(timeout=1, max_jump=0.5, agree=0.05, feed=1),),))
    r = run(w)
    want = [100.0, 99.0, 99.0, 97.0 * 1.01, 96.0 * 1.01, 95.0 * 1.01, 94.0, 93.0]
    assert_allclose(r.read_tr[:, 0], want, rtol=1e-12)


def test_fallback_switches_on_a_jump_of_the_primary_and_stays_while_they_disagree():
    noise = np.zeros((6, 2))
    w = world([100.0] * 6, n_feeds=2, noise=noise, oracle_faults=(override(0, 2, 4, 0.4),),
              read_guards=((Fallback(timeout=10, max_jump=0.5, agree=0.05, feed=1),),))
    r = run(w)
    # t=2: 100 -> 40 is a 60 % jump: fallback (100); t=3: 40 vs 100 disagree: stay; t=4: back
    assert_allclose(r.read_tr[:, 0], [100.0, 100.0, 100.0, 100.0, 100.0, 100.0], rtol=1e-12)
    assert_allclose(r.oracle_tj[2:4, 0], [40.0, 40.0], rtol=1e-12)


def test_read_guards_must_come_in_the_order_of_model_9():
    with pytest.raises(ValueError, match=r"read_guards\[0\] must apply in the order Delay -> AnchorBand -> Fallback"):
        world([1.0, 1.0], read_guards=((AnchorBand(), Delay()),))


# --- platform side -----------------------------------------------------------

def crash_books():
    # at 1000 USD, LT 0.8: health 800 c / d = 0.88, 0.889, 0.976
    return (Book([1.1, 1.0, 1.0], [1000.0, 900.0, 820.0]),)


def test_rate_limit_cuts_the_repayment_that_would_pass_it_and_the_rest_waits():
    # limit 1600 USD per 2 steps. t=0, lowest health first:
    #   acc 0 (h 0.88 < 0.95): repays 1000 in full, seizes 1.05;
    #   acc 1 (h 0.889): would repay 900, gets the 600 left: seizes 0.63 -> c 0.37, d 300 (h 0.987, still liquidatable)
    #   acc 2 (h 0.976) waits.
    # t=1: the window (0, 1) has used 1600: nobody (acc 1 and 2 wait).
    # t=2: window (1, 2) is fresh: acc 2 (h 0.976) half: 410; then acc 1 (h 0.987) half: 150.
    platforms = (PlatformParams(rate_limit=RateLimit(limit_usd=1600.0, window=2)),)
    r = run(world([1000.0] * 4, books=crash_books(), platforms=platforms))
    ev = r.events
    assert_array_equal(ev["t"], [0, 0, 2, 2])
    assert_array_equal(ev["account"], [0, 1, 2, 1])
    assert_allclose(ev["repaid_usd"], [1000.0, 600.0, 410.0, 150.0], rtol=1e-12)
    assert_allclose(ev["seized_units"], [1.05, 0.63, 0.4305, 0.1575], rtol=1e-12)
    assert_array_equal(r.waiting_tk[:, 0], [1, 2, 0, 0])
    assert_allclose(r.debt_k[0], [0.0, 150.0, 410.0], atol=1e-9)
    assert_array_equal(r.engine_outputs[0]["delay_steps"], [0, 0, 2, 1])
    c = costs(r)
    assert c["waiting_account_steps"] == 3 and c["max_delay_steps"] == 2
    assert c["mean_delay_steps"] == pytest.approx(0.75)


def test_circuit_breaker_pauses_then_liquidations_resume():
    # drop 20 %, window 2, pause 3. The read price falls 1000 -> 700 at t=2: 700 < 0.8 max(1000, 1000), a trip,
    # paused t = 2..4; at t=3 the window (1000, 700) still holds 1000: a new trip, paused to t=5;
    # from t=4 the window is (700, 700): no trip. The account waits from t=2 and is liquidated at t=6.
    prices = [1000.0, 1000.0, 700.0, 700.0, 700.0, 700.0, 700.0]
    books = (Book([1.0], [700.0]),)      # p* = 875: liquidatable from t=2
    platforms = (PlatformParams(breaker=CircuitBreaker(drop=0.2, window=2, pause=3)),)
    r = run(world(prices, books=books, platforms=platforms))
    assert_array_equal(r.events["t"], [6])
    assert_array_equal(r.waiting_tk[:, 0], [0, 0, 1, 1, 1, 1, 0])
    assert r.engine_outputs[0]["paused_steps"] == 4
    assert_array_equal(r.engine_outputs[0]["delay_steps"], [4])


def test_a_new_trip_while_paused_extends_the_pause():
    prices = [1000.0, 1000.0, 700.0, 700.0, 480.0, 480.0, 480.0, 480.0, 480.0]
    books = (Book([1.0], [700.0]),)
    platforms = (PlatformParams(breaker=CircuitBreaker(drop=0.2, window=2, pause=3)),)
    r = run(world(prices, books=books, platforms=platforms))
    # trips at t=2 and 3 (pause to 5), t=4 (480 < 0.8 * 700) and t=5 (window 700, 480): pause to 7;
    # t=6 sees (480, 480): no trip. First liquidation at t=8.
    assert r.events["t"][0] == 8


def test_keeper_outage_blocks_its_window_only():
    books = (Book([1.0], [900.0]), Book([1.0], [900.0]))
    r = run(world([1000.0] * 6, books=books, platform_faults=(keeper_outage(0, 0, 3),)))
    assert_array_equal(r.events["t"], [0, 3])
    assert_array_equal(r.events["platform"], [1, 0])
    assert_array_equal(r.waiting_tk[:, 0], [1, 1, 1, 0, 0, 0])


def test_compare_runs_the_unprotected_twin_on_the_same_world():
    cfg = Config(sharing=1.0, platform_faults=tuple(keeper_outage(k, 150, 200) for k in range(5)))
    frame = compare(cfg, seed=0)
    assert list(frame.index) == ["protected", "unprotected", "difference"]
    assert frame.loc["unprotected", "waiting_account_steps"] == 0
    assert frame.loc["protected", "waiting_account_steps"] > 0
    plain = costs(simulate(Config(sharing=1.0), seed=0))
    assert frame.loc["unprotected"].to_dict() == pytest.approx(plain)


def test_protections_off_give_the_unprotected_run_exactly():
    w = build(Config(sharing=0.6, read_guards=(Delay(30),), feed_rules=(AnswerBounds(10.0),)), seed=2)
    bare = without_protections(w)
    a, b = run(bare), simulate(Config(sharing=0.6), seed=2)
    for key in b.events:
        assert_array_equal(a.events[key], b.events[key])
    assert_array_equal(a.market_t, b.market_t)


def test_config_gives_each_platform_the_other_providers_feed_as_fallback():
    w = build(Config(sharing=0.6, read_guards=(Fallback(),)), seed=0)
    # platforms 0-2 read the shared feed 0 and fall back to their own (k + 1); 3-4 read their own and fall back to 0
    assert [g[0].feed for g in w.read_guards] == [1, 2, 3, 0, 0]


# --- invariants with protections switched on at random --------------------------

@st.composite
def protected_configs(draw):
    guards = []
    if draw(st.booleans()):
        guards.append(Delay(hop=draw(st.integers(1, 90))))
    if draw(st.booleans()):
        guards.append(AnchorBand(band=draw(st.floats(0.01, 0.5)), window=draw(st.integers(1, 60))))
    if draw(st.booleans()):
        guards.append(Fallback(timeout=draw(st.integers(1, 120)), max_jump=draw(st.floats(0.01, 1.0)),
                               agree=draw(st.floats(0.0, 0.2))))
    rate = RateLimit(draw(st.floats(1e4, 1e7)), draw(st.integers(1, 30))) if draw(st.booleans()) else None
    brk = CircuitBreaker(draw(st.floats(0.01, 0.5)), draw(st.integers(1, 30)), draw(st.integers(1, 60))) \
        if draw(st.booleans()) else None
    cap = draw(st.sampled_from([None, 5, 50]))
    outages = tuple(keeper_outage(k, t0, t0 + draw(st.integers(1, 80)))
                    for k, t0 in enumerate(draw(st.lists(st.integers(0, 300), max_size=3))))
    rules = (AnswerBounds(min_answer=draw(st.floats(0.0, 1900.0))),) if draw(st.booleans()) else ()
    faults = (stale(0, 120, 220),) if draw(st.booleans()) else ()
    from coupling_lab import CrashScenario, PopulationParams
    return Config(scenario=CrashScenario(n_steps=400), sharing=draw(st.sampled_from([0.0, 0.6, 1.0])),
                  population=PopulationParams(n_accounts=300), market=MarketParams(depth=draw(st.sampled_from([3e6, 3e7]))),
                  platform=PlatformParams(rate_limit=rate, breaker=brk, keeper_capacity=cap),
                  read_guards=tuple(guards), feed_rules=rules, platform_faults=outages, oracle_faults=faults)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(protected_configs(), st.integers(0, 3))
def test_invariants_hold_with_protections_on(cfg, seed):
    r = simulate(cfg, seed=seed)
    w = r.world
    ev = r.events
    for name in ("market_ta", "kappa_ta", "oracle_tj", "read_tr", "notional_tk", "repaid_tk", "bad_debt_tk"):
        assert np.isfinite(getattr(r, name)).all(), name
    for k, book in enumerate(w.books):
        sel = ev["platform"] == k
        assert (r.collateral_k[k] >= 0).all() and (r.debt_k[k] >= 0).all()
        assert_allclose(book.collateral.sum(), r.collateral_k[k].sum() + ev["seized_units"][sel].sum(), rtol=1e-9)
        assert_allclose(book.debt.sum(), r.debt_k[k].sum() + ev["repaid_usd"][sel].sum() + ev["bad_debt_usd"][sel].sum(),
                        rtol=1e-9)
    # no liquidation during an outage, nor during a breaker's pause (checked from the reads)
    for f in w.platform_faults:
        assert not ((ev["platform"] == f.platform) & (ev["t"] >= f.t0) & (ev["t"] < f.t1)).any()
    brk = cfg.platform.breaker
    if brk is not None:
        for k in range(w.n_platforms):
            p = r.price_tk[:, k]
            paused_until = -1
            for t in range(w.n_steps):
                past = p[max(t - brk.window, 0):t]
                if past.size and p[t] < (1 - brk.drop) * past.max():
                    paused_until = max(paused_until, t + brk.pause - 1)
                if t <= paused_until:
                    assert r.count_tk[t, k] == 0
    rate = cfg.platform.rate_limit
    if rate is not None:
        for k in range(w.n_platforms):
            window = np.convolve(r.repaid_tk[:, k], np.ones(rate.window))[: w.n_steps]
            assert window.max() <= rate.limit_usd * (1 + 1e-9)
    again = simulate(cfg, seed=seed)
    for key in ev:
        assert_array_equal(again.events[key], ev[key])


# --- bad parameters ------------------------------------------------------------

@pytest.mark.parametrize("make, field", [
    (lambda: Delay(hop=-1), "hop"),
    (lambda: Delay(hop=0), "hop"),
    (lambda: AnchorBand(band=0.0), "band"),
    (lambda: AnchorBand(band=1.0), "band"),
    (lambda: AnchorBand(window=0), "window"),
    (lambda: AnswerBounds(min_answer=5.0, max_answer=5.0), "max_answer"),
    (lambda: AnswerBounds(min_answer=-1.0), "min_answer"),
    (lambda: AnswerBounds(max_answer=math.nan), "max_answer"),
    (lambda: Fallback(timeout=0), "timeout"),
    (lambda: Fallback(agree=1.0), "agree"),
    (lambda: RateLimit(limit_usd=0.0), "limit_usd"),
    (lambda: RateLimit(limit_usd=-5.0), "limit_usd"),
    (lambda: CircuitBreaker(pause=0), "pause"),
    (lambda: CircuitBreaker(drop=1.5), "drop"),
    (lambda: keeper_outage(0, 5, 5), "t0 < t1"),
])
def test_bad_protection_parameters_name_the_field(make, field):
    with pytest.raises(ValueError, match=field) as info:
        make()
    assert "\n" not in str(info.value) and "got" in str(info.value)


def test_a_fallback_that_is_the_primary_or_unknown_or_another_asset_is_refused():
    for feed, frag in ((0, "must differ from the primary feed 0"), (7, r"must be an oracle index in \[0, 1\]")):
        with pytest.raises(ValueError, match=frag):
            run(world([1.0, 1.0], n_feeds=2, read_guards=((Fallback(feed=feed),),)))
    with pytest.raises(ValueError, match="platform fault platform must be a platform index"):
        world([1.0, 1.0], platform_faults=(keeper_outage(3, 0, 1),))
    with pytest.raises(TypeError, match="rate_limit must be a RateLimit"):
        PlatformParams(rate_limit=5.0)


def test_a_two_channel_config_keeps_its_protections():
    cfg = Config(sharing=1.0, collateral_sharing=0.0, read_guards=(Delay(30),), feed_rules=(AnswerBounds(10.0),),
                 platform_faults=(keeper_outage(1, 100, 150),))
    w = build(cfg, seed=0)
    assert len(w.read_guards) == 5 and all(isinstance(g[0], Delay) for g in w.read_guards)
    assert len(w.feed_rules) == w.n_oracles and w.platform_faults == cfg.platform_faults
    r = run(w)
    assert not ((r.events["platform"] == 1) & (r.events["t"] >= 100) & (r.events["t"] < 150)).any()
