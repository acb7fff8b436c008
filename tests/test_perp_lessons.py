"""Lessons 09 (isolated or cross margin) and 10 (when the insurance fund runs dry): the logic in
coupling_lab.lessons.margin_modes / .insurance, and every number the notebooks' prose quotes."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from coupling_lab.lessons import UntrustedValue, insurance, margin_modes
from coupling_lab.lessons.text import fmt_musd, fmt_pct

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def prose(name):
    nb = json.loads((NOTEBOOKS / name).read_text())
    return "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")


# --------------------------------------------------------------------------- lesson 09
@pytest.fixture(scope="module")
def pair():
    return margin_modes.modes_run("pair", 30, 20)


@pytest.fixture(scope="module")
def blown():
    return margin_modes.modes_run("blown", 30, 20)


def test_the_hedged_pair_survives_only_under_cross(pair):
    cross, iso = (margin_modes.outcome(pair[m]) for m in margin_modes.MODES)
    assert cross["closed"] == []
    assert iso["closed"] == [(127, "the asset 0 leg")]
    assert fmt_musd(cross["lowest"], 2) == "0.58 M USD" and fmt_musd(cross["start"], 2) == "0.80 M USD"
    assert fmt_musd(iso["final"], 2) == "0.80 M USD"
    text = prose("09-isolated-or-cross.ipynb")
    for phrase in ("0.58 M USD of its 0.80 M USD", "**minute 127**", "as much as it started (0.80 M USD)"):
        assert phrase in text


def test_a_blown_leg_closes_the_cross_account_and_reaches_the_lending_platform(blown):
    cross, iso = (margin_modes.outcome(blown[m]) for m in margin_modes.MODES)
    assert cross["closed"] == [(156, "the whole account")] and iso["closed"] == [(89, "the asset 0 leg")]
    assert fmt_musd(cross["final"], 2) == "0.17 M USD" and fmt_musd(iso["final"], 2) == "3.19 M USD"
    assert fmt_musd(cross["start"], 2) == "7.00 M USD"
    e = margin_modes.asset1_effect(blown)
    assert e["t"] == 156 and e["extra_sold"] > 0 and e["price_gap"] > 0
    assert e["borrowers"]["cross"] > e["borrowers"]["isolated"]
    assert (fmt_musd(e["extra_sold"], 2), fmt_pct(e["price_gap"], 2)) == ("8.46 M USD", "8.83 %")
    assert (e["borrowers"], e["total"]) == ({"cross": 346, "isolated": 183}, {"cross": 606, "isolated": 443})
    text = prose("09-isolated-or-cross.ipynb")
    for phrase in ("**minute 89**", "3.19 M USD of its 7.00 M USD", "**minute 156**", "keeps 0.17 M USD",
                   "**8.46 M USD**", "**8.83 %**", "**346**", "**183**", "**606** against **443**"):
        assert phrase in text, phrase


def test_featured_path_is_margin_plus_pnl_then_what_is_kept(blown):
    r = blown["isolated"]
    path = margin_modes.featured_path(r)
    assert path[0].tolist() == pytest.approx([2e6, 5e6])
    assert path[89:, 0].max() == path[89:, 0].min() >= 0          # a closed leg keeps a constant leftover
    assert np.isfinite(path).all()


def test_margin_modes_sentences_and_controls():
    assert margin_modes.CONTROLS["crash"].default == 30 and margin_modes.CONTROLS["portfolio"].default == "pair"
    with pytest.raises(UntrustedValue, match=r"crash must be in \[10, 45\]; got 50"):
        margin_modes.modes_run("pair", 50, 20)
    with pytest.raises(UntrustedValue, match="portfolio must be one of"):
        margin_modes.modes_run("triple", 30, 20)
    rows = margin_modes.prediction_rows("pair")
    assert [m for m, _ in rows] == ["cross", "isolated"] and "nothing is liquidated" in rows[0][1]
    small = margin_modes.asset1_effect(margin_modes.modes_run("pair", 30, 20))
    assert small["t"] is None and "not liquidated" in str(margin_modes.asset1_sentence(small))


# --------------------------------------------------------------------------- lesson 10
@pytest.fixture(scope="module")
def runs():
    return insurance.fund_runs(200, 3)


def test_the_funds_run_dry_together_on_a_shared_oracle(runs):
    F = insurance.fund_paths(runs["adl"])
    assert F[0].tolist() == [2e5] * 3
    dry = [int(np.argmax(F[:, k] <= 0)) for k in range(3)]
    assert dry == [67, 68, 68]
    assert np.array_equal(F, insurance.fund_paths(runs["haircut"]))   # the fund pays first under either rule
    assert f"{runs['adl'].measures.synchrony:.2f}" == "0.98"
    p = insurance.payments(runs["adl"], "adl")
    assert fmt_musd(p.shortfall, 2) == "3.35 M USD" and p.bad_debt == 0.0
    text = prose("10-when-the-insurance-fund-runs-dry.ipynb")
    for phrase in ("**minutes 67, 68 and 68**", "synchrony 0.98", "**3.35 M USD**", "within 8 minutes"):
        assert phrase in text, phrase


def test_a_haircut_takes_a_little_from_every_winner(runs):
    p = insurance.payments(runs["haircut"], "haircut")
    assert p.n_winners == p.n_paying == 696 and p.n_cut == 0
    s = p.share
    assert (fmt_pct(np.median(s)), fmt_pct(s.max())) == ("19.1 %", "19.5 %")
    assert fmt_musd(p.backstop, 2) == "0.73 M USD"
    assert p.paid.sum() + p.backstop == pytest.approx(p.shortfall, rel=1e-9)   # the shortfall, all covered
    text = prose("10-when-the-insurance-fund-runs-dry.ipynb")
    for phrase in ("**all 696**", "**19.1 %**", "at most 19.5 %", "pays 0.73 M USD"):
        assert phrase in text, phrase


def test_adl_takes_nearly_everything_from_the_top_ranked_winners(runs):
    p = insurance.payments(runs["adl"], "adl")
    assert p.n_winners == 696 and p.n_paying == 295 and p.n_cut == 295 and p.n_closed == 286
    assert p.paid.sum() == pytest.approx(p.shortfall, rel=1e-9)
    assert fmt_pct(p.share.max()) == "95.8 %"
    assert np.all(np.diff(p.rank) >= 0)                          # sorted by place in each venue's ADL queue
    edges, mean = insurance.binned_share(p)
    assert edges[0] == 0 and edges[-1] == 100 and mean.size == 20
    assert np.all((mean[:8] > 0.45) & (mean[:8] < 0.7))          # the top 40 % of each queue: half to two thirds
    assert p.paid[p.rank >= 0.5].sum() == 0.0 and np.all(mean[10:] == 0)   # the bottom half pays nothing
    hedges, hmean = insurance.binned_share(insurance.payments(runs["haircut"], "haircut"))
    assert np.all(np.abs(hmean - 0.19) < 0.01)                   # the haircut: the same share all along
    text = prose("10-when-the-insurance-fund-runs-dry.ipynb")
    for phrase in ("**295 of 696**", "**95.8 %**", "**286**", "other 401 winners", "top 40 % of each venue's queue",
                   "half to two thirds", "bottom half of every queue pays nothing"):
        assert phrase in text, phrase


def test_own_feeds_leave_a_larger_shortfall_and_the_prediction_quotes_it(runs):
    own_runs = insurance.fund_runs(200, 0)
    own = insurance.payments(own_runs["adl"], "adl")
    shared = insurance.payments(runs["adl"], "adl")
    assert own.shortfall > shared.shortfall and fmt_musd(own.shortfall, 2) == "5.66 M USD"
    F = insurance.fund_paths(own_runs["adl"])
    assert [int(np.argmax(F[:, k] <= 0)) for k in range(3)] == [70, 70, 70]
    assert f"{own_runs['adl'].measures.synchrony:.2f}" == "0.88"
    text = prose("10-when-the-insurance-fund-runs-dry.ipynb")
    for phrase in ("synchrony **0.88**", "**minute 70** on all three", "**5.66 M USD**", "about 19 % of each"):
        assert phrase in text, phrase
    rows = insurance.prediction_rows()
    assert [r for r, _ in rows] == ["haircut", "adl"]
    import inspect

    import coupling_lab.ui.insurance as ui  # the question quotes the shortfall
    assert "3.35 M USD" in inspect.getsource(ui.fund_prediction)


def test_real_cases_are_quoted_as_reported():
    text = prose("10-when-the-insurance-fund-runs-dry.ipynb")
    for phrase in ("about 18 % of their realised and unrealised gains", "V-2nd", "as reported", "2.1 B USD",
                   "45.0–51.7 M USD", "disputed"):
        assert phrase in text, phrase


def test_fund_sentences_at_the_ends_of_the_fund_control():
    zero = insurance.fund_runs(0, 3)
    assert str(insurance.fund_sentence(zero["adl"], 0)).startswith("No venue has an insurance fund")
    top = insurance.fund_runs(1000, 3)
    assert "run dry" in str(insurance.fund_sentence(top["adl"], 1000))      # even 1 M USD per venue runs dry
    hair_top, hair = (insurance.payments(r["haircut"], "haircut") for r in (top, insurance.fund_runs(200, 3)))
    assert np.median(hair_top.share) < np.median(hair.share)
    assert insurance.payments(top["adl"], "adl").n_paying < insurance.payments(zero["adl"], "adl").n_paying


def test_insurance_controls_reject_bad_values():
    with pytest.raises(UntrustedValue, match=r"fund must be in \[0, 1000\]; got 5000"):
        insurance.fund_runs(5000, 3)
    with pytest.raises(UntrustedValue, match="whole number"):
        insurance.fund_runs(200, 1.5)
    assert not math.isnan(insurance.CONTROLS["fund"].default)


def test_the_lesson_modules_import_no_widget_library():
    import subprocess
    import sys
    code = ("import sys, coupling_lab.lessons.margin_modes, coupling_lab.lessons.insurance; "
            "print(','.join(m for m in sys.modules if m.split('.')[0] in ('ipywidgets', 'matplotlib', 'IPython')))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == ""


# --------------------------------------------------------------------------- the apps (Agg)
def test_apps_draw_and_refuse_bad_values():
    import matplotlib
    matplotlib.use("Agg")
    from coupling_lab.ui.insurance import InsuranceFund, fund_prediction
    from coupling_lab.ui.margin_modes import MarginModes, modes_prediction

    app = MarginModes(portfolio="blown")
    assert "whole account closed at minute 156" in app.readout.value
    app.controls["crash"].max = 1e308
    app.controls["crash"].value = 1e308
    assert "crash must be in [10, 45]" in app.status.message and app.values["crash"] == 30
    app.controls["crash"].value = 35
    assert app.status.message == "" and app.values["crash"] == 35
    fund = InsuranceFund()
    assert "295 of 696 winners pay" in fund.readout.value
    for q in (modes_prediction(), fund_prediction()):
        assert q.reveal.layout.display == "none"
        q.choice.value = q.answer
        assert q.check() is True and q.reveal.layout.display is None


def test_the_featured_portfolio_scales_and_rejects_a_bad_scale():
    from coupling_lab.perp_scenarios import FEATURED, margin_modes_world

    base, big = margin_modes_world("cross", "blown"), margin_modes_world("cross", "blown", scale=20.0)
    assert np.allclose(big.books[0].position[FEATURED], 20 * base.books[0].position[FEATURED])
    assert np.allclose(big.books[0].position[1:], base.books[0].position[1:])    # the crowd is the same
    with pytest.raises(ValueError, match="scale must be > 0; got 0"):
        margin_modes_world("cross", "pair", scale=0)
