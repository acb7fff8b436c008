"""The compiled step loop against the reference (issue 16, point 1).

The compiled loop must give *identical* results to the reference pipeline
(``loop.run(world, kernel="reference")``): every series, the event log,
the final balances and the measures, bit for bit, on random one-asset and
several-asset worlds (the strategies of the property tests, with keepers
unlimited so the compiled loop covers them) and on the lessons' configs.
Worlds it does not cover run on the reference under ``kernel="auto"`` and
are refused with a one-line ValueError under ``kernel="compiled"``.
"""
from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

import coupling_lab as cl
from coupling_lab import Config, World, build, compiled, run
from coupling_lab.protections import AnchorBand, AnswerBounds, CircuitBreaker, Delay, Fallback, RateLimit, keeper_outage

from test_properties import SETTINGS, worlds
from test_properties_assets import multi_worlds

pytestmark = pytest.mark.skipif(not compiled.available(), reason="numba missing: requirements not installed")

SERIES = ("x_ta", "kappa_ta", "market_ta", "flow_ta", "venue_tv", "raw_tj", "oracle_tj", "read_tr", "price_tk",
          "count_tk", "notional_tk", "repaid_tk", "bad_debt_tk", "waiting_tk")


def assert_identical(a, b):
    """Every output of two runs equal, bit for bit (NaN where both are NaN)."""
    for name in SERIES:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype, name
        assert_array_equal(x, y, err_msg=name, strict=True)
    assert a.reads == b.reads
    assert list(a.events) == list(b.events)
    for key in a.events:
        assert_array_equal(a.events[key], b.events[key], err_msg=key, strict=True)
    for k in range(a.world.n_platforms):
        assert_array_equal(a.collateral_k[k], b.collateral_k[k], strict=True)
        assert_array_equal(a.debt_k[k], b.debt_k[k], strict=True)
    assert_array_equal(np.array(list(a.measures.as_dict().values()), float),
                       np.array(list(b.measures.as_dict().values()), float))
    assert a.measures.excess_drawdown_a == b.measures.excess_drawdown_a
    assert_same(a.events_by_kind, b.events_by_kind, "events_by_kind")
    assert_same(a.engine_outputs, b.engine_outputs, "engine_outputs")


def assert_same(x, y, where):
    """Nested dicts, tuples and arrays equal, leaf by leaf."""
    if isinstance(x, dict):
        assert isinstance(y, dict) and sorted(x) == sorted(y), where
        for key in x:
            assert_same(x[key], y[key], f"{where}.{key}")
    elif isinstance(x, (tuple, list)) and not (x and np.isscalar(x[0])):
        assert isinstance(y, (tuple, list)) and len(x) == len(y), where
        for i, (u, v) in enumerate(zip(x, y)):
            assert_same(u, v, f"{where}[{i}]")
    else:
        assert_array_equal(np.asarray(x), np.asarray(y), err_msg=where)


def unlimited(world):
    """The same world with every platform's keepers unlimited (what the compiled loop covers)."""
    platforms = tuple(dataclasses.replace(p, keeper_capacity=None) for p in world.platforms)
    return World(**{**{f: getattr(world, f) for f in world.__dataclass_fields__}, "platforms": platforms})


def two_asset_world():
    """Asset 0 crashes, asset 1 follows; platform 0 accepts both, platform 1 only asset 0."""
    T = 200
    t = np.arange(T)
    x0 = np.log(2000.0) + np.log1p(-0.3) * np.clip((t - 50) / 60, 0, 1)
    x_ta = np.column_stack([x0, np.log(30000.0) + 0.8 * (x0 - x0[0])])
    rng = np.random.default_rng(0)
    books = (cl.Book(np.ones(40), np.linspace(1200, 1500, 40) * np.r_[np.ones(20), 15 * np.ones(20)],
                     asset=np.r_[np.zeros(20, int), np.ones(20, int)]),
             cl.Book(np.ones(30), np.linspace(1100, 1500, 30)))
    return World(x_ta=x_ta, venue_noise_tv=rng.normal(0, 0.001, (T, 2)), venue_asset=(0, 1),
                 oracles=(cl.OracleParams(sources=(0,)), cl.OracleParams(sources=(1,))), oracle_provider=(0, 0),
                 platforms=(cl.PlatformParams(lt_by_asset=(0.83, 0.78)), cl.PlatformParams()),
                 platform_oracle=((0, 1), 0), books=books)


def both(world):
    assert compiled.supports(world) is None, compiled.supports(world)
    return run(world, kernel="compiled"), run(world, kernel="reference")


@SETTINGS
@given(worlds())
def test_compiled_equals_reference_on_random_one_asset_worlds(world):
    assert_identical(*both(unlimited(world)))


@SETTINGS
@given(worlds(distinct=True))
def test_compiled_equals_reference_when_no_two_accounts_tie(world):
    assert_identical(*both(unlimited(world)))


@SETTINGS
@given(multi_worlds(capacity=False), st.data())
def test_compiled_equals_reference_on_random_several_asset_worlds(world, data):
    # the several-asset worlds cut to one asset per platform: each platform's first feed and its accounts
    books, po = [], []
    for k, b in enumerate(world.books):
        a = world.assets_of(k)[0]
        sel = b.asset_of_accounts() == a
        if not sel.any():
            sel[0] = True
        books.append(cl.Book(b.collateral[sel], b.debt[sel], asset=np.full(int(sel.sum()), a)))
        po.append(world.feeds_of(k)[0])
    platforms = tuple(dataclasses.replace(p, keeper_capacity=None) for p in world.platforms)
    w = World(**{**{f: getattr(world, f) for f in world.__dataclass_fields__},
                 "books": tuple(books), "platform_oracle": tuple(po), "platforms": platforms})
    assert_identical(*both(w))


@SETTINGS
@given(multi_worlds(), st.data())
def test_compiled_equals_reference_on_platforms_of_several_assets(world, data):
    """One queue over a platform's assets by health under one keeper capacity, with keeper outages,
    circuit breakers (watching every asset's read), rate limits (one budget over its assets) and read guards
    (each asset's read through its own copy of the chain) at random."""
    T, K = world.n_steps, world.n_platforms
    faults = tuple(keeper_outage(k, t0, min(T, t0 + data.draw(st.integers(1, 20))))
                   for k in range(K) if data.draw(st.booleans()) for t0 in [data.draw(st.integers(0, T - 1))])
    breakers = st.one_of(st.none(), st.builds(CircuitBreaker, drop=st.floats(0.005, 0.3), window=st.integers(1, 20),
                                              pause=st.integers(1, 20)))
    limits = st.one_of(st.none(), st.builds(RateLimit, limit_usd=st.floats(1.0, 1e5), window=st.integers(1, 30)))
    platforms = tuple(dataclasses.replace(p, breaker=data.draw(breakers), rate_limit=data.draw(limits))
                      for p in world.platforms)
    w = World(**{**{f: getattr(world, f) for f in world.__dataclass_fields__}, "platform_faults": faults,
                 "platforms": platforms, "read_guards": random_guards(world, data)})
    assert_identical(*both(w))


@SETTINGS
@given(multi_worlds(distinct=True))
def test_compiled_equals_reference_on_platforms_of_several_assets_without_ties(world):
    assert_identical(*both(world))


def test_a_rate_limit_over_two_assets_by_hand():
    """One budget of 3,000 USD per 20 steps over both assets: the repayment that passes it is cut to it."""
    w = two_asset_world()
    w = World(**{**{f: getattr(w, f) for f in w.__dataclass_fields__},
                 "platforms": (cl.PlatformParams(lt_by_asset=(0.83, 0.78), rate_limit=RateLimit(3000.0, 20)),
                               cl.PlatformParams())})
    a, b = both(w)
    assert_identical(a, b)
    repaid = a.repaid_tk[:, 0]
    window = np.convolve(repaid, np.ones(20))[:repaid.size]
    assert window.max() <= 3000.0 * (1 + 1e-12) and np.isclose(window.max(), 3000.0)
    assert a.waiting_tk[:, 0].sum() > 0


@pytest.mark.parametrize("limit", [2e6, 2e7, 1e8])
def test_a_rate_limit_over_two_large_books(limit):
    """5,000 accounts per asset in a crash: rounds of more than 256 and of 1,024 candidates, so the
    reference takes its chunks of 256 growing fourfold; with a high limit thousands go in one round."""
    import sys

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parents[1] / "benchmarks"))
    from bench_compiled import _several_asset_world

    w = _several_asset_world()
    w = World(**{**{f: getattr(w, f) for f in w.__dataclass_fields__},
                 "platforms": (cl.PlatformParams(lt_by_asset=(0.83, 0.78), rate_limit=RateLimit(limit, 10)),
                               cl.PlatformParams())})
    a, b = both(w)
    assert_identical(a, b)
    assert a.count_tk[:, 0].max() > (1024 if limit >= 1e8 else 256 if limit >= 2e7 else 0)


def test_a_circuit_breaker_watching_two_assets_by_hand():
    """The breaker pauses a platform of two assets when either read falls 5 % below its peak of 10 steps."""
    w = two_asset_world()
    brk = CircuitBreaker(drop=0.05, window=10, pause=5)
    w = World(**{**{f: getattr(w, f) for f in w.__dataclass_fields__},
                 "platforms": (cl.PlatformParams(lt_by_asset=(0.83, 0.78), breaker=brk), cl.PlatformParams())})
    a, b = both(w)
    assert_identical(a, b)
    assert a.engine_outputs[0]["paused_steps"] > 0 and a.waiting_tk[:, 0].sum() > 0


def test_a_platform_of_two_assets_under_a_keeper_capacity_by_hand():
    """A platform of two assets, keepers 2 a step: one queue, the lowest health first, the rest wait."""
    w = two_asset_world()
    w = World(**{**{f: getattr(w, f) for f in w.__dataclass_fields__},
                 "platforms": (cl.PlatformParams(lt_by_asset=(0.83, 0.78), keeper_capacity=2), cl.PlatformParams())})
    a, b = both(w)
    assert_identical(a, b)
    ev = a.events_frame().query("platform == 0")
    assert set(ev["asset"]) == {0, 1} and a.count_tk[:, 0].max() == 2 and a.waiting_tk[:, 0].sum() > 0
    mixed = [rnd for _, rnd in ev.groupby("t") if rnd["asset"].nunique() > 1]
    assert mixed, "no round of platform 0 mixed its two assets"
    lt = np.array([0.83, 0.78])
    book = w.books[0]
    for rnd in mixed:  # the round's order: health at the step's reads before it, lowest first
        t = int(rnd["t"].iloc[0])
        before = b.events_frame().query("platform == 0 and t < @t")
        c, d = book.collateral.copy(), book.debt.copy()
        for row in before.itertuples():
            c[row.account] -= row.seized_units
            d[row.account] -= row.repaid_usd + row.bad_debt_usd
        i = rnd["account"].to_numpy()
        h = c[i] * rnd["oracle_price"].to_numpy() * lt[rnd["asset"].to_numpy()] / d[i]
        assert (np.diff(h) >= -1e-9 * h[:-1]).all()


@SETTINGS
@given(worlds(), st.data())
def test_compiled_equals_reference_with_protections_at_random(world, data):
    """Answer bounds, breakers, rate limits, outages and read guards, switched on at random."""
    J, K, T = world.n_oracles, world.n_platforms, world.n_steps
    p0 = float(np.exp(world.x_t[0]))
    rules = tuple((AnswerBounds(min_answer=p0 * data.draw(st.floats(0.3, 0.95)),
                                max_answer=p0 * data.draw(st.floats(1.05, 3.0))),)
                  if data.draw(st.booleans()) else () for _ in range(J))
    platforms = tuple(dataclasses.replace(
        p, breaker=CircuitBreaker(drop=data.draw(st.floats(0.01, 0.5)), window=data.draw(st.integers(1, 20)),
                                  pause=data.draw(st.integers(1, 30))) if data.draw(st.booleans()) else None,
        rate_limit=RateLimit(limit_usd=float(b.debt.sum()) * data.draw(st.floats(0.01, 0.5)),
                             window=data.draw(st.integers(1, 30))) if data.draw(st.booleans()) and b.debt.sum() > 0
        else None)
        for p, b in zip(world.platforms, world.books))
    faults = []
    for _ in range(data.draw(st.integers(0, 2))):
        t0 = data.draw(st.integers(0, T - 1))
        faults.append(keeper_outage(data.draw(st.integers(0, K - 1)), t0, data.draw(st.integers(t0 + 1, T))))
    w = World(**{**{f: getattr(world, f) for f in world.__dataclass_fields__}, "feed_rules": rules,
                 "platforms": platforms, "platform_faults": tuple(faults), "read_guards": random_guards(world, data)})
    assert_identical(*both(w))


def random_guards(world, data, platforms=None):
    """A random chain of read guards per platform (delay, anchor band; a fallback to another feed of the
    same asset where there is one), each of its assets read through its own copy."""
    J = world.n_oracles
    guards = []
    for k in range(world.n_platforms):
        chain = []
        if platforms is None or k in platforms:
            if data.draw(st.booleans()):
                chain.append(Delay(hop=data.draw(st.integers(1, 12))))
            if data.draw(st.booleans()):
                chain.append(AnchorBand(band=data.draw(st.floats(0.01, 0.5)), window=data.draw(st.integers(1, 30))))
            feeds = world.feeds_of(k)
            assets = {world.feed_asset[j] for j in feeds}
            alts = [j for j in range(J) if j not in feeds and len(assets) == 1 and world.feed_asset[j] in assets]
            if alts and data.draw(st.booleans()):
                chain.append(Fallback(timeout=data.draw(st.integers(1, 60)), max_jump=data.draw(st.floats(0.01, 1.0)),
                                      agree=data.draw(st.floats(0.0, 0.5)), feed=data.draw(st.sampled_from(alts))))
        guards.append(tuple(chain))
    return tuple(guards)


def with_guards(world, chain):
    """``world`` with every platform reading through ``chain`` (each asset through its own copy)."""
    return World(**{**{f: getattr(world, f) for f in world.__dataclass_fields__},
                    "read_guards": (tuple(chain),) * world.n_platforms})


def test_a_platform_of_two_assets_reads_each_through_its_own_delay():
    w = with_guards(two_asset_world(), (Delay(hop=7),))
    a, b = both(w)
    assert_identical(a, b)
    cols = [r for r, (k, _, _) in enumerate(a.reads) if k == 0]
    assert len(cols) == 2 and not np.array_equal(a.read_tr[:, cols], a.oracle_tj[:, [0, 1]])
    assert (a.events_frame().query("platform == 0")["asset"].nunique()) == 2


PERP_WORLDS = {  # the lessons' and replays' worlds with perp venues (lessons 09, 10, 11), built when run
    "09 cross pair": lambda ps, rp: ps.margin_modes_world(),
    "09 isolated pair": lambda ps, rp: ps.margin_modes_world(mode="isolated"),
    "09 cross blown": lambda ps, rp: ps.margin_modes_world(portfolio="blown"),
    "10 adl shared": lambda ps, rp: ps.fund_world(),
    "10 haircut independent": lambda ps, rp: ps.fund_world(loss_rule="haircut", sharing=0.0),
    "10 adl no fund": lambda ps, rp: ps.fund_world(fund=0.0, crash=0.35),
    "10 adl, venues read through a 10-step delay": lambda ps, rp: with_guards(ps.fund_world(), (Delay(hop=10),)),
    "09 cross pair, an anchor band": lambda ps, rp: with_guards(ps.margin_modes_world(),
                                                                (AnchorBand(band=0.05, window=20),)),
    **{f"11 {key}": (lambda ps, rp, key=key: rp.REPLAYS[key].world()[0])
       for key in ("black-thursday", "compound-dai", "luna", "october-2025")},
}


@pytest.mark.parametrize("name", list(PERP_WORLDS))
def test_compiled_equals_reference_on_the_perp_lessons_worlds(name):
    from coupling_lab import perp_scenarios, replays

    a, b = both(PERP_WORLDS[name](perp_scenarios, replays))
    assert_identical(a, b)


@SETTINGS
@given(worlds(), st.integers(0, 2**32 - 1), st.sampled_from(["adl", "haircut"]), st.data())
def test_compiled_equals_reference_with_a_perp_venue_beside_lending(world, seed, loss_rule, data):
    """A random perp venue on asset 0 beside random lending platforms, reading one of their feeds, with
    keeper capacity, outages, a circuit breaker and read guards at random: what it sells moves the same market."""
    rng = np.random.default_rng(seed)
    p0 = float(np.exp(world.x_t[0]))
    pop = cl.PerpPopulation(n_accounts=int(rng.integers(1, 300)), long_share=float(rng.uniform(0.1, 0.9)),
                            leverage_median=float(rng.uniform(2.0, 20.0)), cross_share=float(rng.uniform(0, 1)))
    book = cl.draw_perp_book(rng, pop, np.array([p0]))
    breaker = data.draw(st.one_of(st.none(), st.builds(CircuitBreaker, drop=st.floats(0.01, 0.3),
                                                       window=st.integers(1, 20), pause=st.integers(1, 20))))
    venue = cl.PerpParams(mmr=float(rng.uniform(0.005, 0.1)), phi=float(rng.uniform(0.0, 0.02)),
                          insurance_fund=float(10 ** rng.uniform(0, 7)) * data.draw(st.sampled_from([0.0, 1.0])),
                          loss_rule=loss_rule, keeper_capacity=data.draw(st.one_of(st.none(), st.integers(1, 5))),
                          breaker=breaker)
    T, K = world.n_steps, world.n_platforms
    faults = ()
    if data.draw(st.booleans()):
        t0 = data.draw(st.integers(0, T - 1))
        faults = (keeper_outage(K, t0, min(T, t0 + data.draw(st.integers(1, 30)))),)
    fields = {f: getattr(world, f) for f in world.__dataclass_fields__}
    platforms = tuple(dataclasses.replace(p, keeper_capacity=None) for p in world.platforms)
    notional = float(np.abs(book.position).sum()) * p0  # a market deep enough for the venue's close-outs, mostly
    market = dataclasses.replace(world.market, depth=max(world.market.depth, notional * 10 ** rng.uniform(-1, 1)))
    fields.update(platforms=platforms + (venue,), books=world.books + (book,), market=market,
                  platform_oracle=world.platform_oracle + (data.draw(st.integers(0, world.n_oracles - 1)),),
                  platform_faults=faults, read_guards=(), feed_rules=())
    w = World(**fields)
    if data.draw(st.booleans()):  # the venue reads through guards
        w = World(**{**fields, "read_guards": random_guards(w, data, platforms={K})})
    try:
        ref = run(w, kernel="reference")
    except ValueError as e:  # forced buying beyond the depth: the same error from both
        with pytest.raises(ValueError, match=re.escape(str(e))):
            run(w, kernel="compiled")
        return
    assert_identical(run(w, kernel="compiled"), ref)


@pytest.mark.parametrize("config", [
    Config(),
    Config(sharing=1.0),
    Config(sharing=0.5, topology="source_overlap"),
    Config(identical_books=True, sharing=1.0),
    Config(oracle_faults=(cl.override(0, 150, 170, 0.8),), sharing=1.0),
    Config(oracle_faults=(cl.stale(0, 100, 300),), sharing=1.0),
    Config(venue_faults=(cl.spike(0, 120, 125, 0.5), cl.freeze(1, 110, 180)), sharing=0.6),
    Config(market=cl.MarketParams(depth=2e6, resilience=0.05), sharing=1.0),  # deep cascades and bad debt
    Config(collateral_sharing=0.6, sharing=0.4),
    Config(collateral_sharing=1.0, sharing=1.0, oracle_faults=(cl.stale_provider(0, 120, 200),)),
    Config(sharing=1.0, platform=cl.PlatformParams(keeper_capacity=40)),
    Config(sharing=1.0, feed_rules=(AnswerBounds(min_answer=1600.0),)),
    Config(sharing=1.0, platform_faults=(keeper_outage(0, 110, 160), keeper_outage(3, 0, 500))),
    Config(sharing=1.0, read_guards=(Delay(hop=60),)),
    Config(sharing=0.4, read_guards=(AnchorBand(band=0.2, window=30), Fallback()),
           oracle_faults=(cl.stale(0, 100, 400),), platform=cl.PlatformParams(keeper_capacity=80)),
    Config(sharing=0.6, platform=cl.PlatformParams(breaker=CircuitBreaker(drop=0.05, window=30, pause=20),
                                                   keeper_capacity=100)),
], ids=lambda c: "config")
@pytest.mark.parametrize("seed", [0, 7])
def test_compiled_equals_reference_on_the_lessons_configs(config, seed):
    w = build(config, seed)
    a, b = both(w)
    assert_identical(a, b)
    np.testing.assert_equal(compiled.run_measures(w).as_dict(), a.measures.as_dict())  # a sweep's row
    assert run(w).events["t"].size == a.events["t"].size  # "auto" takes the compiled loop here


def test_the_classroom_run_takes_the_compiled_loop_and_liquidates():
    w = build(Config(sharing=1.0), 0)
    assert compiled.supports(w) is None
    a = run(w)
    assert a.events["t"].size > 1000 and a.measures.synchrony > 0.9


class Unchanged(cl.ReadGuard):
    def bind(self, platform, asset, feed, world):
        return lambda t, value, feeds: value


class AcceptAll(cl.FeedRule):
    def bind(self, feed, world):
        return lambda t, candidate: True


@pytest.mark.parametrize("change, reason", [
    (dict(read_guards=((Delay(hop=5), Delay(hop=3)),) * 5), "not at most one Delay, AnchorBand and Fallback"),
    ("own guard", "not at most one Delay, AnchorBand and Fallback"),
    ("own rule", "feed-side rule other than AnswerBounds"),
])
def test_worlds_it_does_not_cover_run_on_the_reference(change, reason):
    w = build(Config(sharing=1.0), 0)
    fields = {f: getattr(w, f) for f in w.__dataclass_fields__}
    if change == "own guard":  # a researcher's own guard (the plain read here), on one platform
        fields["read_guards"] = ((Unchanged(),),) + ((),) * (w.n_platforms - 1)
    elif change == "own rule":  # a researcher's own feed-side rule (accepting every candidate), on one feed
        fields["feed_rules"] = ((AcceptAll(),),) + ((),) * (w.n_oracles - 1)
    else:
        fields.update(change)
    w = World(**fields)
    why = compiled.supports(w)
    assert why is not None and reason in why
    with pytest.raises(ValueError, match=r"kernel='compiled' cannot run this world: .*" + reason):
        run(w, kernel="compiled")
    assert_identical(run(w), run(w, kernel="reference"))  # "auto" falls back


def test_kernel_names_are_checked():
    w = build(Config(scenario=cl.CrashScenario(n_steps=20, start=2, duration=5)), 0)
    with pytest.raises(ValueError, match=r"kernel must be one of \('auto', 'compiled', 'reference'\); got 'fast'"):
        run(w, kernel="fast")
    with pytest.raises(ValueError, match="kernel must be one of"):
        with compiled.using_kernel("numba"):
            pass


def test_using_kernel_and_the_environment_choose_the_default(monkeypatch):
    assert compiled.default_kernel() == "auto"
    with compiled.using_kernel("reference"):
        assert compiled.default_kernel() == "reference"
        with compiled.using_kernel("compiled"):
            assert compiled.default_kernel() == "compiled"
        assert compiled.default_kernel() == "reference"
    monkeypatch.setenv("COUPLING_LAB_KERNEL", "reference")
    assert compiled.default_kernel() == "reference"
    monkeypatch.setenv("COUPLING_LAB_KERNEL", "turbo")
    with pytest.raises(ValueError, match=r"COUPLING_LAB_KERNEL must be one of .*; got 'turbo'"):
        compiled.default_kernel()


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 15, 16, 127, 128, 129, 255, 256, 1000, 4097, 1_000_003])
def test_pairwise_sum_is_numpys_sum_bit_for_bit(n):
    rng = np.random.default_rng(n)
    a = np.concatenate([[np.pi], rng.lognormal(0.0, 4.0, n) * rng.choice([-1.0, 1.0], n), [np.e]])
    assert compiled._pairwise_sum(a, 1, n) == float(a[1:n + 1].sum())

