"""The compiled perp venue (coupling_lab.compiled_perps) against PerpEngine, bit for bit.

The same books and price sequences go through ``PerpEngine.step`` (the
reference) and the numba kernel; every ``_SERIES`` row, flow, event, ADL
entry, ``Fills`` and ``finish()`` output must be identical
(``assert_array_equal``, not allclose): random books (one, two and three
listed assets, cross, isolated and mixed margin, both loss rules, funds from
empty to large, keeper capacity, the circuit breaker and keeper outages,
crashes and pumps with market gaps so that longs and shorts go bankrupt and
the fund runs dry), and the lessons' perp venues fed the marks their
reference run reads.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coupling_lab import compiled_perps as cp
from coupling_lab.loop import _run_reference
from coupling_lab.perps import PerpBook, PerpEngine, PerpParams, PerpPopulation, draw_perp_book
from coupling_lab.protections.throttle import CircuitBreaker, keeper_outage

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
EVENT_FIELDS = ("account", "asset", "mode") + cp.EV_F


# ------------------------------------------------------------------------------------------- helpers
def drive_reference(engine, marks, market):
    """``engine.step`` on every row (marks and market prices per listed asset); returns (fills, finish)."""
    A = max(engine.assets) + 1
    fills = []
    for t in range(marks.shape[0]):
        m = [0.0] * A
        for s, a in enumerate(engine.assets):
            m[a] = float(market[t, s])
        fills.append(engine.step(t, [float(p) for p in marks[t]], m))
    return fills, engine.finish()


def reference_events(fills):
    """The run's events as one dict of arrays (with ``t``), in processing order."""
    parts = [(t, f.events) for t, f in enumerate(fills) if f is not None and f.events is not None]
    out = {"t": np.array([t for t, e in parts for _ in range(len(e["account"]))], dtype=np.int64)}
    for name in EVENT_FIELDS:
        out[name] = np.concatenate([np.asarray(e[name]) for _, e in parts]) if parts else np.array([])
    return out


def assert_identical(ref_fills, ref_out, kern):
    out, ev, fills_t, _ = kern
    assert set(out) == set(ref_out)
    for k, v in ref_out.items():
        if k == "adl_events":
            assert set(out[k]) == set(v)
            for name, col in v.items():
                np.testing.assert_array_equal(out[k][name], col, err_msg=f"adl_events.{name}")
                assert out[k][name].dtype == col.dtype, name
        else:
            np.testing.assert_array_equal(np.asarray(out[k]), np.asarray(v), err_msg=k)
            if isinstance(v, np.ndarray):
                assert out[k].dtype == v.dtype, k
    ref_ev = reference_events(ref_fills)
    assert ev["t"].size == ref_ev["t"].size
    for name in ("t",) + EVENT_FIELDS:
        if ref_ev["t"].size:
            np.testing.assert_array_equal(ev[name], ref_ev[name], err_msg=name)
    # what each step returned (Fills or None), rebuilt from the logs
    kf = cp.perp_fills(ev_log_of(kern), fills_t, out["flow"], out.get("assets", ()))
    assert len(kf) == len(ref_fills)
    for t, (a, b) in enumerate(zip(kf, ref_fills)):
        assert (a is None) == (b is None), t
        if b is None:
            continue
        assert a[:5] == b[:5] and a.waiting == b.waiting, (t, a[:5], b[:5])
        assert (a.events is None) == (b.events is None), t
        if b.events is not None:
            assert set(a.events) == set(b.events) and a.events["kind"] == b.events["kind"] == "perp"
            for name in EVENT_FIELDS:
                np.testing.assert_array_equal(a.events[name], b.events[name], err_msg=f"step {t}: {name}")
                assert a.events[name].dtype == np.asarray(b.events[name]).dtype, name


def ev_log_of(kern):
    return kern[3]


def compare(make_engine, marks, market, cap_t=None):
    """Run both paths on fresh engines from ``make_engine()``; returns the reference's finish()."""
    ref_fills, ref_out = drive_reference(make_engine(), marks, market)
    kern = cp.run_perp_kernel(make_engine(), marks, market, cap_t)
    assert_identical(ref_fills, ref_out, kern)
    return ref_out, ref_fills


def path(rng, T, S, shape, vol):
    """Marks (T, S) from 2000, 100, 5 USD: random walk plus a crash, a pump or both; market prices gap."""
    p0 = np.array([2000.0, 100.0, 5.0][:S])
    x = np.cumsum(rng.standard_normal((T, S)) * vol, axis=0)
    x[0] = 0.0
    ramp = np.clip((np.arange(T) - T // 4) / max(T // 4, 1), 0.0, 1.0)[:, None]
    depth = rng.uniform(0.1, 0.6, S)
    if shape == "crash":
        x -= ramp * depth
    elif shape == "pump":
        x += ramp * depth
    elif shape == "both":                   # asset 0 falls, the others rise (pairs and baskets split)
        sign = np.where(np.arange(S) == 0, -1.0, 1.0)
        x += ramp * depth * sign
    elif shape == "jumps":                  # a gap down, then a gap up past the start (bankruptcies both ways)
        x -= depth * (np.arange(T) >= T // 3)[:, None]
        x += 2.0 * depth * (np.arange(T) >= 2 * T // 3)[:, None]
    elif shape == "crash-pump":
        back = np.clip((np.arange(T) - T // 2) / max(T // 4, 1), 0.0, 1.0)[:, None]
        x += (back * 2.0 - ramp) * depth
    marks = p0 * np.exp(x)
    gap = rng.choice([-1.0, 1.0], S) * rng.uniform(0.0, 0.05, S)     # the market trades away from the mark
    market = marks * np.exp(gap + rng.standard_normal((T, S)) * vol * 0.5)
    return marks, market


CASE = dict(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 400), S=st.integers(1, 3), T=st.integers(1, 60),
            loss_rule=st.sampled_from(["adl", "haircut"]), cross=st.sampled_from([0.0, 1.0, 0.5]),
            fund=st.sampled_from([0.0, 1e3, 1e5, 1e8]), cap=st.sampled_from([None, 1, 7]),
            shape=st.sampled_from(["crash", "pump", "both", "crash-pump", "jumps", "walk"]),
            vol=st.sampled_from([0.002, 0.02, 0.08]))


def make_case(seed, n, S, loss_rule, cross, fund, cap, breaker=None):
    rng = np.random.default_rng(seed)
    p0 = np.array([2000.0, 100.0, 5.0][:S])
    pop = PerpPopulation(n_accounts=n, long_share=float(rng.uniform(0.2, 0.8)), leverage_median=8.0,
                         cross_share=cross, pair_share=0.3 if S > 1 else 0.0, basket_share=0.2 if S > 1 else 0.0,
                         notional_sigma=0.7)
    book = draw_perp_book(rng, pop, p0, assets=tuple(range(S)))
    params = PerpParams(mmr_by_asset=tuple(float(v) for v in rng.uniform(0.01, 0.1, S)),
                        phi=float(rng.uniform(0, 0.03)), insurance_fund=fund, loss_rule=loss_rule,
                        keeper_capacity=cap, breaker=breaker)
    return rng, params, book


# ------------------------------------------------------------------------------------------- random books
@SETTINGS
@given(**CASE)
def test_kernel_is_identical_to_the_engine_on_random_books(seed, n, S, T, loss_rule, cross, fund, cap, shape, vol):
    rng, params, book = make_case(seed, n, S, loss_rule, cross, fund, cap)
    marks, market = path(rng, T, S, shape, vol)
    compare(lambda: PerpEngine(0, book, params, tuple(range(S))), marks, market)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), S=st.integers(1, 2), loss_rule=st.sampled_from(["adl", "haircut"]),
       drop=st.sampled_from([0.02, 0.1]), window=st.integers(1, 8), pause=st.integers(1, 6),
       outage=st.booleans(), cap=st.sampled_from([None, 3]))
def test_kernel_compiles_the_throttle(seed, S, loss_rule, drop, window, pause, outage, cap):
    rng, params, book = make_case(seed, 300, S, loss_rule, 0.5, 1e3, cap,
                                  breaker=CircuitBreaker(drop=drop, window=window, pause=pause))
    marks, market = path(rng, 60, S, "crash-pump", 0.02)
    world = SimpleNamespace(platform_faults=(keeper_outage(0, 10, 25),) if outage else ())
    make = lambda: PerpEngine(0, book, params, tuple(range(S)), world)  # noqa: E731
    _, fills = compare(make, marks, market)
    eng = make()
    drive_reference(eng, marks, market)
    th = cp.throttle_state(make())
    caps = [int(cp._perp_capacity(th, t, marks[t].copy(), -1 if cap is None else cap)) for t in range(60)]
    assert th[0][cp.TH_PAUSED_STEPS] == eng.throttle.paused_steps
    assert caps.count(0) == eng.throttle.paused_steps


def test_a_given_capacity_per_step_is_the_engines_keeper_capacity():
    rng, params, book = make_case(3, 500, 2, "adl", 0.5, 1e3, 4)
    marks, market = path(rng, 80, 2, "both", 0.02)
    ref_fills, ref_out = drive_reference(PerpEngine(0, book, params, (0, 1)), marks, market)
    free = PerpParams(mmr_by_asset=params.mmr_by_asset, phi=params.phi, insurance_fund=params.insurance_fund,
                      loss_rule="adl")
    kern = cp.run_perp_kernel(PerpEngine(0, book, free, (0, 1)), marks, market, cap_t=np.full(80, 4))
    assert_identical(ref_fills, ref_out, kern)
    assert ref_out["waiting"].sum() > 0


@pytest.mark.parametrize("loss_rule", ["adl", "haircut"])
@pytest.mark.parametrize("S", [1, 2])
def test_large_books_regroup_and_run_the_fund_dry(loss_rule, S, monkeypatch):
    """Thousands of units: the screened group is re-referenced, ADL fills the dirty list past 256."""
    rng, params, book = make_case(11 + S, 4000, S, loss_rule, 0.5, 2e4, None)
    params = PerpParams(mmr=0.02, phi=0.001, insurance_fund=2e4, loss_rule=loss_rule)
    marks, market = path(rng, 120, S, "jumps", 0.01)
    calls = {"group": 0, "all": 0}
    rebuild_group, rebuild = PerpEngine._rebuild_group, PerpEngine._rebuild

    def spy_group(self, P, members):
        calls["group"] += 1
        return rebuild_group(self, P, members)

    def spy_all(self, P):
        calls["all"] += 1
        return rebuild(self, P)

    monkeypatch.setattr(PerpEngine, "_rebuild_group", spy_group)
    monkeypatch.setattr(PerpEngine, "_rebuild", spy_all)
    out, fills = compare(lambda: PerpEngine(0, book, params, tuple(range(S))), marks, market)
    if S == 2:   # the group (units on both assets) re-referenced on its own (regroup, dirty list), not only by _rebuild
        assert calls["group"] > calls["all"]
    assert (out["count_cross"] > 0).any() and (out["count_isolated"] > 0).any()
    assert out["fund"].min() == 0.0 and out["shortfall"].sum() > 0
    if loss_rule == "adl":
        assert out["adl_events"]["t"].size > 256
    else:
        assert (out["haircut"] > 0).any()
    ev = reference_events(fills)
    pos = book.position
    assert (pos[ev["account"]] > 0).any() and (pos[ev["account"]] < 0).any()   # longs and shorts liquidated


def test_a_venue_that_is_never_stepped_finishes_as_the_engine():
    _, params, book = make_case(0, 10, 1, "adl", 0.5, 1e3, None)
    out, _, _, _ = cp.run_perp_kernel(PerpEngine(0, book, params, (0,)), np.zeros((0, 1)), np.zeros((0, 1)))
    ref = PerpEngine(0, book, params, (0,)).finish()
    assert set(out) == set(ref)
    for k in ref:
        if k != "adl_events":
            np.testing.assert_array_equal(out[k], ref[k])


def test_bad_input_is_refused():
    _, params, book = make_case(0, 10, 2, "adl", 0.5, 1e3, None)
    eng = PerpEngine(0, book, params, (0, 1))
    with pytest.raises(ValueError, match="prices_tS and market_tS must have shape"):
        cp.run_perp_kernel(eng, np.ones((5, 1)), np.ones((5, 1)))
    eng.step(0, [2000.0, 100.0], [2000.0, 100.0])
    with pytest.raises(ValueError, match="must not have been stepped"):
        cp.perp_state(eng)
    assert cp.supports_perp(eng) is None and cp.supports_perp(params, book) is None
    assert "not a perp venue" in cp.supports_perp(object())


# ------------------------------------------------------------------------------------------- the lessons' venues
def recorded_run(world, monkeypatch):
    """The reference run of ``world``, with what each perp engine's ``step`` received and returned."""
    calls = {}
    step = PerpEngine.step

    def spy(self, t, prices, market):
        f = step(self, t, prices, market)
        calls.setdefault(self.platform, []).append(
            (list(prices), [market[a] for a in self.assets], f))
        return f

    monkeypatch.setattr(PerpEngine, "step", spy)
    result = _run_reference(world)
    monkeypatch.undo()
    return result, calls


def check_world(world, monkeypatch):
    result, calls = recorded_run(world, monkeypatch)
    assert calls
    for k, rec in calls.items():
        assert len(rec) == world.n_steps
        marks = np.array([r[0] for r in rec], dtype=float)
        market = np.array([r[1] for r in rec], dtype=float)
        fills = [r[2] for r in rec]
        engine = world.platforms[k].make_engine(k, world.books[k], world.assets_of(k), world)
        assert_identical(fills, result.engine_outputs[k], cp.run_perp_kernel(engine, marks, market))
    return result, calls


@pytest.mark.parametrize("mode,portfolio", [("cross", "pair"), ("isolated", "pair"), ("cross", "blown"),
                                            ("isolated", "blown")])
def test_margin_modes_world(mode, portfolio, monkeypatch):
    from coupling_lab.perp_scenarios import margin_modes_world

    result, calls = check_world(margin_modes_world(mode, portfolio), monkeypatch)
    assert sum(f.count for _, _, f in calls[0] if f is not None) > 0


@pytest.mark.parametrize("loss_rule,fund,sharing", [("adl", 2e5, 1.0), ("haircut", 2e5, 0.0), ("adl", 0.0, 0.5),
                                                    ("haircut", 1e9, 1.0)])
def test_fund_world(loss_rule, fund, sharing, monkeypatch):
    from coupling_lab.perp_scenarios import fund_world

    result, calls = check_world(fund_world(loss_rule, sharing, fund), monkeypatch)
    assert len(calls) == 3
    if fund == 0.0:
        assert any(result.engine_outputs[k]["shortfall"].sum() > 0 for k in calls)


@pytest.mark.parametrize("insurance_fund", [5e6, 5e8])
def test_october_2025_replay_venue(insurance_fund, monkeypatch):
    from coupling_lab.replays import REPLAYS

    world, _ = REPLAYS["october-2025"].world(insurance_fund=insurance_fund)
    result, calls = check_world(world, monkeypatch)
    assert list(calls) == [2]
    if insurance_fund == 5e6:
        assert result.engine_outputs[2]["adl_events"]["t"].size > 0


@pytest.mark.parametrize("loss_rule", ["adl", "haircut"])
def test_a_mark_of_zero_is_handled_as_the_engine_does(loss_rule):
    """A feed overridden to 0 (a zero requirement: ratio -inf; the group's screen cannot be referenced)."""
    rng, params, book = make_case(7, 300, 2, loss_rule, 0.5, 1e3, None)
    marks, market = path(rng, 40, 2, "crash", 0.02)
    marks[10:13, 0] = 0.0
    marks[20, 1] = 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        out, fills = compare(lambda: PerpEngine(0, book, params, (0, 1)), marks, market)
    ev = reference_events(fills)
    assert np.isneginf(ev["margin_ratio"]).any()


def test_several_venues_stepped_from_one_numba_loop(monkeypatch):
    """How the compiled step loop calls the venue: states in a tuple, logs in a typed List, one call per venue
    per step, the throttle compiled; each venue identical to its engine in the reference run."""
    from numba import njit
    from numba.typed import List

    from coupling_lab.perp_scenarios import fund_world

    world = fund_world("adl", 0.5, 5e4)
    result, calls = recorded_run(world, monkeypatch)
    K = len(calls)
    T = world.n_steps
    marks = np.stack([np.array([r[0] for r in calls[k]], dtype=float) for k in range(K)])      # (K, T, S)
    market = np.stack([np.array([r[1] for r in calls[k]], dtype=float) for k in range(K)])
    engines = [world.platforms[k].make_engine(k, world.books[k], world.assets_of(k), world) for k in range(K)]
    states = tuple(cp.perp_state(e) for e in engines)
    ths = tuple(cp.throttle_state(e) for e in engines)
    logs = List([cp.new_log(4) for _ in range(K)])
    rows = np.zeros((K, T, cp.N_SERIES))
    flows = np.zeros((K, T, 1))
    fills = np.zeros((K, T, cp.N_FILL))

    @njit
    def loop(states, ths, logs, marks, market, rows, flows, fills):
        for t in range(marks.shape[1]):
            for k in range(len(states)):
                P = marks[k, t].copy()
                cap = cp._perp_capacity(ths[k], t, P, -1) if ths[k][0][cp.TH_ACTIVE] else -1
                logs[k] = cp._perp_step(states[k], logs[k], t, P, market[k, t].copy(), cap, rows[k], flows[k],
                                        fills[k, t])

    loop(states, ths, logs, marks, market, rows, flows, fills)
    for k in range(K):
        kern = (cp.perp_finish(states[k], logs[k], rows[k], flows[k]), cp.perp_events(logs[k]), fills[k], logs[k])
        assert_identical([r[2] for r in calls[k]], result.engine_outputs[k], kern)
    assert sum(int(logs[k][4][0]) for k in range(K)) > 4       # the logs grew past their first size


def test_a_venue_without_units_and_a_venue_on_later_world_assets():
    book = PerpBook(np.zeros((3, 1)), np.zeros(3), "isolated")           # no position, no margin: no unit
    out, _ = compare(lambda: PerpEngine(0, book, PerpParams(), (0,)), np.full((5, 1), 100.0),
                     np.full((5, 1), 100.0))
    assert out["balance"].tolist() == [0.0, 0.0, 0.0]
    rng = np.random.default_rng(4)
    p0 = np.array([100.0, 5.0])
    book = draw_perp_book(rng, PerpPopulation(n_accounts=300, pair_share=0.3, basket_share=0.2, leverage_median=10.0),
                          p0, assets=(1, 3), n_assets=4)
    marks, market = path(rng, 50, 2, "jumps", 0.02)
    out, fills = compare(lambda: PerpEngine(0, book, PerpParams(insurance_fund=1e3), (1, 3)), marks, market)
    assert out["assets"] == (1, 3) and set(reference_events(fills)["asset"].tolist()) >= {1, 3}
