"""The classroom worlds for the perp lessons (coupling_lab.perp_scenarios) show what the lessons say."""
from __future__ import annotations

import pytest

import coupling_lab as cl
from coupling_lab.perp_scenarios import FEATURED, fund_world, margin_modes_world
from coupling_lab.perps import perp_frame


def featured(r):
    ev = r.events_by_kind["perp"]
    sel = (ev["platform"] == 0) & (ev["account"] == FEATURED)
    return ev["t"][sel].tolist(), ev["asset"][sel].tolist()


def test_the_hedged_pair_survives_only_under_cross():
    assert featured(cl.run(margin_modes_world("cross", "pair"))) == ([], [])
    t, asset = featured(cl.run(margin_modes_world("isolated", "pair")))
    assert asset == [0] and len(t) == 1                      # the long leg alone is liquidated


def test_a_blown_leg_drags_a_cross_portfolio_and_sells_its_other_asset():
    cross, iso = cl.run(margin_modes_world("cross", "blown")), cl.run(margin_modes_world("isolated", "blown"))
    (tc,), (ac,) = featured(cross)
    assert ac == -1                                          # the whole cross account is closed
    t_iso, a_iso = featured(iso)
    assert a_iso == [0]                                      # isolated: only the blown leg goes
    # the cross close sells the asset 1 long too: more forced flow into asset 1's market at that step
    assert cross.flow_ta[tc, 1] - iso.flow_ta[tc, 1] > 4e5
    assert cross.kappa_ta[tc + 1, 1] > iso.kappa_ta[tc + 1, 1]


@pytest.mark.parametrize("rule", ["adl", "haircut"])
def test_the_insurance_funds_run_dry_in_a_shared_oracle_crash(rule):
    r = cl.run(fund_world(rule, sharing=1.0))
    for k in range(3):
        f = perp_frame(r, k)
        assert f["fund"].iloc[0] > 0 and f["fund"].min() == 0.0 and f["shortfall"].sum() > 0
        if rule == "adl":
            assert f["adl_count"].sum() > 0 and f["haircut"].max() == 0.0
        else:
            assert 0 < f["haircut"].max() <= 1.0 and f["adl_count"].sum() == 0
    assert r.measures.synchrony > 0.9
