"""The perp venue against the plain per-account loop, and the invariants of MODEL.md §10.

``benchmarks/baseline.py::run_perp_baseline`` is written from MODEL.md §10
alone (one loop over accounts and positions, Python floats). On random books
and price paths the engine must give the same events, in the same order, the
same flows, fund, shortfall, ``h_t``, ADL cuts and final balances.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import coupling_lab as cl
from coupling_lab.perps import PerpBook, PerpParams, PerpPopulation, draw_perp_book

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from baseline import run_perp_baseline  # noqa: E402

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def random_case(seed, n, S, T, loss_rule, cap, fund, vol):
    rng = np.random.default_rng(seed)
    p0 = np.array([2000.0, 100.0, 5.0][:S])
    pop = PerpPopulation(n_accounts=n, long_share=float(rng.uniform(0.2, 0.8)), leverage_median=8.0,
                         cross_share=float(rng.uniform(0, 1)), pair_share=0.3 if S > 1 else 0.0,
                         basket_share=0.2 if S > 1 else 0.0, notional_sigma=0.5)
    book = draw_perp_book(rng, pop, p0, assets=tuple(range(S)))
    steps = rng.standard_normal((T, S)) * vol + rng.choice([-1, 1], S) * vol * 0.5
    steps[0] = 0.0
    marks = p0 * np.exp(np.cumsum(steps, axis=0))
    market = marks * np.exp(rng.standard_normal((T, S)) * vol * 0.5 - vol * 0.2)
    params = PerpParams(mmr_by_asset=tuple(float(v) for v in rng.uniform(0.01, 0.1, S)),
                        phi=float(rng.uniform(0, 0.03)), insurance_fund=fund, loss_rule=loss_rule,
                        keeper_capacity=cap)
    return params, book, marks, market


def drive(params, book, marks, market, check_each_step=False):
    S = marks.shape[1]
    eng = params.make_engine(0, book, tuple(range(S)))
    fills = []
    for t in range(marks.shape[0]):
        fills.append(eng.step(t, marks[t].tolist(), market[t].tolist()))
        if check_each_step:
            out = eng.finish()
            assert_invariants(out, S)
    return fills, eng.finish()


def assert_invariants(out, S):
    cash = out["balance"].sum() + out["idle_cash"] + out["backstop_balance"] + out["fund_final"] - out["bad_debt_total"]
    scale = out["initial_cash"] + np.abs(out["balance"]).sum() + abs(out["backstop_balance"]) + 1.0
    assert abs(cash - out["initial_cash"]) <= 1e-9 * scale, (cash, out["initial_cash"])
    net = out["position"].sum(axis=0) + out["backstop_position"]
    assert np.all(np.abs(net) <= 1e-9 * (np.abs(out["position"]).sum(axis=0) + 1.0)), net
    for k, v in out.items():
        if isinstance(v, np.ndarray) and v.dtype.kind == "f":
            assert np.isfinite(v).all(), k
    assert out["fund_final"] >= 0.0 and (out["fund"] >= 0).all()


def event_rows(fills):
    rows = []
    for t, f in enumerate(fills):
        if f is None or f.events is None:
            continue
        e = f.events
        for n in range(len(e["account"])):
            rows.append((t, int(e["account"][n]), int(e["asset"][n]), str(e["mode"][n]), e["notional_usd"][n],
                         e["equity_after_usd"][n], e["fee_usd"][n], e["fund_paid_usd"][n], e["shortfall_usd"][n],
                         e["bad_debt_usd"][n]))
    return rows


def assert_matches_baseline(params, book, marks, market, fills, out):
    base = run_perp_baseline(params, book, tuple(range(marks.shape[1])), marks.tolist(), market.tolist())
    mine = event_rows(fills)
    assert len(mine) == len(base["events"])
    for a, b in zip(mine, base["events"]):
        assert a[:4] == b[:4], (a, b)
        np.testing.assert_allclose(a[4:], b[4:], rtol=1e-7, atol=1e-6)
    for name in ("fund", "shortfall", "haircut", "bad_debt", "backstop_pnl", "hedge_mtm"):
        np.testing.assert_allclose(out[name], base[name], rtol=1e-7, atol=1e-6, err_msg=name)
    assert out["adl_count"].tolist() == base["adl_count"]
    np.testing.assert_allclose(out["flow"], np.array(base["flow"]), rtol=1e-9, atol=1e-6)
    adl = out["adl_events"]
    assert list(zip(adl["t"].tolist(), adl["account"].tolist(), adl["asset"].tolist())) == \
        [(t, i, a) for t, i, a, _ in base["adl"]]
    np.testing.assert_allclose(adl["units"], [q for *_, q in base["adl"]], rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(out["balance"], base["balance"], rtol=1e-7, atol=1e-6)
    np.testing.assert_allclose(out["position"], np.array(base["position"]), rtol=1e-7, atol=1e-9)
    # the computed VM sums to zero each step (over all accounts and the backstop)
    scale = np.abs(book.position).sum() * marks.max() + 1.0
    assert np.all(np.abs(base["vm_sum"]) <= 1e-9 * scale)


CASE = dict(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 30), S=st.integers(1, 3), T=st.integers(1, 25),
            loss_rule=st.sampled_from(["adl", "haircut"]), cap=st.sampled_from([None, 1, 3]),
            fund=st.sampled_from([0.0, 100.0, 1e5]), vol=st.sampled_from([0.01, 0.05, 0.15]))


@SETTINGS
@given(**CASE)
def test_engine_matches_the_plain_loop_event_by_event(seed, n, S, T, loss_rule, cap, fund, vol):
    params, book, marks, market = random_case(seed, n, S, T, loss_rule, cap, fund, vol)
    fills, out = drive(params, book, marks, market)
    assert_matches_baseline(params, book, marks, market, fills, out)


@SETTINGS
@given(**CASE)
def test_invariants_every_step(seed, n, S, T, loss_rule, cap, fund, vol):
    params, book, marks, market = random_case(seed, n, S, T, loss_rule, cap, fund, vol)
    drive(params, book, marks, market, check_each_step=True)


@settings(max_examples=25, deadline=None)
@given(**CASE)
def test_determinism_and_account_permutation(seed, n, S, T, loss_rule, cap, fund, vol):
    params, book, marks, market = random_case(seed, n, S, T, loss_rule, None, fund, vol)
    f1, o1 = drive(params, book, marks, market)
    f2, o2 = drive(params, book, marks, market)
    assert event_rows(f1) == event_rows(f2)
    for k in ("fund", "shortfall", "balance", "position", "flow"):
        assert np.array_equal(o1[k], o2[k])
    perm = np.random.default_rng(seed + 1).permutation(n)
    pbook = PerpBook(book.position[perm], book.margin[perm], [book.mode[i] for i in perm])
    f3, o3 = drive(params, pbook, marks, market)
    # same liquidations (accounts mapped back), same totals; balances mapped back agree
    a = sorted((r[0], int(perm[r[1]]), r[2]) for r in event_rows(f3))
    b = sorted((r[0], r[1], r[2]) for r in event_rows(f1))
    assert a == b
    for k in ("fund", "shortfall", "bad_debt", "backstop_pnl", "flow"):
        np.testing.assert_allclose(o3[k], o1[k], rtol=1e-9, atol=1e-6)
    back = np.empty(n)
    back[perm] = o3["balance"]
    if o1["shortfall"].sum() == 0:          # with a shortfall, equal scores may order ADL cuts differently
        np.testing.assert_allclose(back, o1["balance"], rtol=1e-9, atol=1e-6)


@pytest.mark.parametrize("loss_rule", ["adl", "haircut"])
def test_larger_book_matches_the_plain_loop(loss_rule):
    # enough accounts on several assets for the screening group to be rebuilt, and ADL-touched units
    params, book, marks, market = random_case(12, 600, 3, 80, loss_rule, None, 1e3, 0.08)
    fills, out = drive(params, book, marks, market)
    assert out["shortfall"].sum() > 0 and sum(f.count for f in fills if f) > 50
    if loss_rule == "adl":
        assert out["adl_count"].sum() > 0
    assert_matches_baseline(params, book, marks, market, fills, out)
    assert_invariants(out, 3)


def test_world_run_matches_the_plain_loop_on_its_marks():
    """In a World beside a lending platform, the venue reads its marks and fills at the market of the run."""
    from test_perps import _mixed_world

    for rule in ("adl", "haircut"):
        w = _mixed_world(seed=4, n=300, loss_rule=rule, fund=0.0)
        r = cl.run(w)
        cols = [i for i, (k, _, _) in enumerate(r.reads) if k == 1]
        marks = r.read_tr[:, cols]
        market = r.market_ta[:, list(w.assets_of(1))]
        base = run_perp_baseline(w.platforms[1], w.books[1], w.assets_of(1), marks.tolist(), market.tolist())
        ev = r.events_by_kind["perp"]
        assert ev["t"].size == len(base["events"]) > 0
        assert list(zip(ev["t"].tolist(), ev["account"].tolist(), ev["asset"].tolist())) == \
            [e[:3] for e in base["events"]]
        np.testing.assert_allclose(ev["equity_after_usd"], [e[5] for e in base["events"]], rtol=1e-7, atol=1e-6)
        out = r.engine_outputs[1]
        np.testing.assert_allclose(out["flow"], np.array(base["flow"]), rtol=1e-9, atol=1e-6)
        np.testing.assert_allclose(out["bad_debt"], base["bad_debt"], rtol=1e-7, atol=1e-6)


@pytest.mark.parametrize("div", [1, 16, 10**9])
def test_screening_group_rebuilds_never_change_the_result(monkeypatch, div):
    """Multi-asset cross accounts are screened and re-referenced now and then: how often must not matter."""
    import coupling_lab.perps as perps

    monkeypatch.setattr(perps, "REGROUP_DIV", div)
    params, book, marks, market = random_case(7, 1500, 2, 60, "adl", None, 0.0, 0.04)
    fills, out = drive(params, book, marks, market)
    assert sum(f.count for f in fills if f) > 100 and out["adl_count"].sum() > 0
    assert_matches_baseline(params, book, marks, market, fills, out)
