"""The two hooks for protections (issue 10, point 3): feed-side rules and read-side guards.

A trivial ``FeedRule`` (reject candidates below a floor; reject at given
steps) and trivial ``ReadGuard`` objects (scale, shift) on hand-worked
5-step worlds, with every published price, every read and the event log
worked out below; and empty hook lists (or hooks that change nothing) give
the identical run.

The path of both worlds is 100, 98, 96, 90, 85 USD with one noise-free
venue, so a feed's raw observation is the market price itself.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from coupling_lab import (
    Book, Config, CrashScenario, FeedRule, MarketParams, OracleParams, PlatformParams, PopulationParams, ReadGuard,
    World, build, run,
)

PRICES = np.array([100.0, 98.0, 96.0, 90.0, 85.0])
X = np.log(PRICES)
M = np.exp(X)            # what the engine computes for the market price (kappa = 0)


class Floor(FeedRule):
    """Reject a candidate below ``floor`` (a one-sided Chainlink ``minAnswer``)."""

    def __init__(self, floor, calls):
        self.floor, self.calls = floor, calls

    def bind(self, feed, world):
        def accept(t, candidate):
            self.calls.append((feed, t, candidate))
            return candidate >= self.floor
        return accept


class RejectAt(FeedRule):
    """Reject whatever the feed would publish at the given steps."""

    def __init__(self, steps, calls):
        self.steps, self.calls = set(steps), calls

    def bind(self, feed, world):
        def accept(t, candidate):
            self.calls.append((feed, t, candidate))
            return t not in self.steps
        return accept


class Scale(ReadGuard):
    def __init__(self, factor, binds=None):
        self.factor, self.binds = factor, binds

    def bind(self, platform, asset, feed, world):
        if self.binds is not None:
            self.binds.append((platform, asset, feed))
        return lambda t, value, feeds: value * self.factor


class Shift(ReadGuard):
    def __init__(self, delta):
        self.delta = delta

    def bind(self, platform, asset, feed, world):
        return lambda t, value, feeds: value + self.delta


class Same(ReadGuard):
    def bind(self, platform, asset, feed, world):
        return lambda t, value, feeds: value


class AcceptAll(FeedRule):
    def bind(self, feed, world):
        return lambda t, candidate: True


def feed_world(**changes):
    """Feed 0: theta 3 %, heartbeat 100 (publishes on deviation only); feed 1: theta 100 %,
    heartbeat 2 (publishes on the heartbeat only). Platform 0 reads feed 0, one account with
    p* = 70 / 0.8 = 87.5; platform 1 reads feed 1, an account that is never liquidatable."""
    kwargs = dict(
        x_t=X, venue_noise_tv=np.zeros((5, 1)),
        oracles=(OracleParams(sources=(0,), theta=0.03, heartbeat=100), OracleParams(sources=(0,), theta=1.0, heartbeat=2)),
        platforms=(PlatformParams(lt=0.8, close_factor=0.5, bonus=0.05, h_full=0.95), PlatformParams()),
        platform_oracle=(0, 1),
        books=(Book([1.0], [70.0]), Book([1.0], [1.0])),
        market=MarketParams(depth=1e6, resilience=0.5),
    )
    kwargs.update(changes)
    return World(**kwargs)


def test_feed_rule_rejects_below_a_floor_and_the_clock_runs_on():
    calls = []
    res = run(feed_world(feed_rules=((Floor(88.0, calls),), (RejectAt({2}, calls),))))
    # feed 0: t0 publishes 100 (step 0 always publishes, the rule is not asked); t1 98 is
    # within 3 % (not asked); t2 96 deviates 4 % (asked, accepted); t3 90 deviates 6.25 %
    # (asked, accepted); t4 85 deviates 5.6 % (asked, rejected: below 88) -> stays 90.
    # feed 1: heartbeat due at t2 (asked, rejected: no publication, last update stays 0);
    # due again at t3 (3 - 0 >= 2: asked, accepted -> 90); t4 is 1 step after -> not asked.
    assert_allclose(res.oracle_tj[:, 0], M[[0, 0, 2, 3, 3]], rtol=1e-15)
    assert_allclose(res.oracle_tj[:, 1], M[[0, 0, 0, 3, 3]], rtol=1e-15)
    assert sorted(calls) == sorted([(0, 2, M[2]), (0, 3, M[3]), (0, 4, M[4]), (1, 2, M[2]), (1, 3, M[3])])
    assert_allclose(res.raw_tj[:, 0], M, rtol=1e-15)          # the rule does not touch what the feed observes
    assert_array_equal(res.read_tr, res.oracle_tj)            # no guard: platforms read what is published
    # the floor held the price platform 0 reads at 90 > p* = 87.5: nothing is liquidated
    assert res.events["t"].size == 0
    assert (res.kappa_t == 0).all()


def test_without_the_feed_rule_the_same_world_liquidates_at_step_4():
    res = run(feed_world())
    assert_allclose(res.oracle_tj[:, 0], M[[0, 0, 2, 3, 4]], rtol=1e-15)
    assert_allclose(res.oracle_tj[:, 1], M[[0, 0, 2, 2, 4]], rtol=1e-15)
    ev = res.events
    assert ev["t"].tolist() == [4] and ev["platform"].tolist() == [0] and ev["account"].tolist() == [0]
    # h = 85 * 0.8 / 70 = 0.971 >= 0.95: close factor 0.5 -> r = 35, s = 35 * 1.05 / 85
    s = 35.0 * 1.05 / 85.0
    assert_allclose(ev["seized_units"], [s], rtol=1e-14)
    assert_allclose(ev["repaid_usd"], [35.0], rtol=1e-14)
    assert_allclose(ev["bad_debt_usd"], [0.0])
    assert_allclose(ev["oracle_price"], [85.0], rtol=1e-14)
    assert_allclose(res.notional_tk[4], [s * 85.0, 0.0], rtol=1e-14)


def guard_world(**changes):
    """One feed publishing every step (theta 0, heartbeat 1): 100, 98, 96, 90, 85. Both
    platforms hold one account of 1 unit and 62.4 USD debt (p* = 62.4 / 0.8 = 78)."""
    kwargs = dict(
        x_t=X, venue_noise_tv=np.zeros((5, 1)),
        oracles=(OracleParams(sources=(0,), theta=0.0, heartbeat=1),),
        platforms=(PlatformParams(lt=0.8, close_factor=0.5, bonus=0.05, h_full=0.95),) * 2,
        platform_oracle=(0, 0),
        books=(Book([1.0], [62.4]),) * 2,
        market=MarketParams(depth=1e6, resilience=0.5),
    )
    kwargs.update(changes)
    return World(**kwargs)


def test_read_guards_apply_in_order_to_one_platform_only():
    binds = []
    res = run(guard_world(read_guards=((Scale(0.9, binds), Shift(-1.0)), ())))
    assert binds == [(0, 0, 0)]
    assert res.reads == ((0, 0, 0), (1, 0, 0))
    # platform 0 reads 0.9 v - 1 (scale first, then shift; the other order would give 0.9 (v - 1)):
    # 89, 87.2, 85.4, 80, 75.5 -- below p* = 78 only at step 4. Platform 1 reads the feed itself.
    assert_allclose(res.oracle_tj[:, 0], M, rtol=1e-15)
    assert_allclose(res.read_tr[:, 0], 0.9 * M - 1.0, rtol=1e-15)
    assert_allclose(res.read_tr[:, 0], [89.0, 87.2, 85.4, 80.0, 75.5], rtol=1e-14)
    assert_array_equal(res.read_tr[:, 1], res.oracle_tj[:, 0])
    assert_array_equal(res.price_tk, res.read_tr)
    ev = res.events
    assert ev["t"].tolist() == [4] and ev["platform"].tolist() == [0] and ev["account"].tolist() == [0]
    # h = 75.5 * 0.8 / 62.4 = 0.968 >= 0.95: r = 0.5 * 62.4 = 31.2, s = 31.2 * 1.05 / 75.5,
    # sold at the market price 85 (the guard changes what is read, not the market)
    s = 31.2 * 1.05 / 75.5
    assert_allclose(ev["seized_units"], [s], rtol=1e-14)
    assert_allclose(ev["repaid_usd"], [31.2], rtol=1e-14)
    assert_allclose(ev["oracle_price"], [75.5], rtol=1e-14)
    assert_allclose(res.notional_tk[4], [s * 85.0, 0.0], rtol=1e-14)
    assert_allclose(res.collateral_k[0], [1.0 - s], rtol=1e-14)
    assert_allclose(res.debt_k[0], [31.2], rtol=1e-14)
    assert_array_equal(res.collateral_k[1], [1.0])


def test_a_guard_binds_once_per_platform_and_asset_slot():
    binds = []
    x_ta = np.column_stack([X, X + math.log(300.0)])
    w = World(
        x_ta=x_ta, venue_noise_tv=np.zeros((5, 2)), venue_asset=(0, 1),
        oracles=(OracleParams(sources=(0,)), OracleParams(sources=(1,)), OracleParams(sources=(0,))),
        platforms=(PlatformParams(), PlatformParams()),
        platform_oracle=((1, 0), 2),
        books=(Book([1.0, 1.0], [10.0, 10.0], [0, 1]), Book([1.0], [10.0])),
        read_guards=((Scale(2.0, binds),), (Scale(0.5, binds),)),
    )
    res = run(w)
    assert binds == [(0, 1, 1), (0, 0, 0), (1, 0, 2)]
    assert res.reads == ((0, 1, 1), (0, 0, 0), (1, 0, 2))
    assert_allclose(res.read_tr, res.oracle_tj[:, [1, 0, 2]] * [2.0, 2.0, 0.5], rtol=1e-15)


def _assert_identical(a, b):
    for name in ("x_ta", "kappa_ta", "market_ta", "flow_ta", "venue_tv", "raw_tj", "oracle_tj", "read_tr", "price_tk",
                 "count_tk", "notional_tk", "repaid_tk", "bad_debt_tk"):
        assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.reads == b.reads
    for key in a.events:
        assert_array_equal(a.events[key], b.events[key], err_msg=key)
    for k in range(len(a.collateral_k)):
        assert_array_equal(a.collateral_k[k], b.collateral_k[k])
        assert_array_equal(a.debt_k[k], b.debt_k[k])


@pytest.mark.parametrize("collateral_sharing", [None, 0.5])
def test_empty_hook_lists_and_no_op_hooks_give_the_identical_run(collateral_sharing):
    cfg = Config(scenario=CrashScenario(n_steps=200, start=20, duration=60), n_platforms=4, sharing=0.5,
                 population=PopulationParams(n_accounts=200), market=MarketParams(depth=5e6),
                 platform=PlatformParams(keeper_capacity=7), collateral_sharing=collateral_sharing)
    w = build(cfg, seed=2)
    fields = {f: getattr(w, f) for f in w.__dataclass_fields__}
    J, K = w.n_oracles, w.n_platforms
    plain = run(w)
    assert plain.events["t"].size > 50
    empty = World(**{**fields, "feed_rules": ((),) * J, "read_guards": ((),) * K})
    assert empty.feed_rules == () and empty.read_guards == ()
    _assert_identical(plain, run(empty))
    _assert_identical(plain, run(World(**{**fields, "feed_rules": (), "read_guards": ()})))
    no_op = World(**{**fields, "feed_rules": ((AcceptAll(),),) * J, "read_guards": ((Same(), Same()),) * K})
    _assert_identical(plain, run(no_op))


def test_hook_lists_of_the_wrong_length_are_named():
    from test_validation import expect

    w = feed_world()
    fields = {f: getattr(w, f) for f in w.__dataclass_fields__}
    expect(ValueError, lambda: World(**{**fields, "feed_rules": ((),) * 3}), "feed_rules", "feed (2)", "got 3")
    expect(ValueError, lambda: World(**{**fields, "read_guards": ((),)}), "read_guards", "platform (2)", "got 1")
