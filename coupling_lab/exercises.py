"""Exercises for the instructor's guide, two or more per lesson, with worked solutions.

The questions are printed in ``docs/instructor-guide.md`` (and the guide's
page in the app); the solutions are kept **out** of every page a learner
sees: they live here and are written out by ``make solutions``
(``python -m coupling_lab.exercises build/instructor-solutions.md``). Each
solution is code that computes the numbers its text quotes; the tests
(``tests/test_exercises.py``) run every solution and compare.

>>> [e.key for e in EXERCISES][:3]
['00.1', '00.2', '01.1']
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from . import channels
from .accounts import Book
from .forecast import first_round_sales, forecast, liquidation_map
from .lessons import insurance, margin_modes
from .margin import PlatformParams, health, liquidation_price
from .market import MarketParams, next_kappa
from .measures import twin_dispersion
from .oracles import OracleParams, override
from .perps import PerpParams
from .replays import REPLAYS
from .scenarios import CrashScenario
from .simulation import Config, simulate
from .sweep import summarize, sweep
from .topology import shared_fraction
from .trader import Position, cascade_odds, debt_for_health
from .venues import spike

__all__ = ["Exercise", "EXERCISES", "by_lesson", "solutions_markdown"]


@dataclass(frozen=True)
class Exercise:
    """One exercise: the question a learner reads, and a solution that computes its numbers.

    ``solve()`` returns a dict of numbers; ``claimed`` holds them as the solution
    text quotes them, rounded to ``digits`` decimals; ``solution`` is markdown
    with ``{name}`` fields filled from ``claimed``.
    """

    lesson: str
    number: int
    title: str
    question: str
    solution: str
    solve: Callable[[], dict]
    claimed: dict
    digits: int = 3

    @property
    def key(self):
        return f"{self.lesson}.{self.number}"

    def solution_text(self):
        return self.solution.format(**self.claimed)


# --------------------------------------------------------------------------- 00
def _e00_1():
    # the first step each twin is liquidatable: P1 reads the feed, P2 the same feed one step late
    feed = np.array([2000.0, 1900.0, 1850.0, 1800.0, 1800.0])
    price_tk = np.column_stack([feed, np.r_[feed[0], feed[:-1]]])
    pstar = float(liquidation_price(1.0, 1500.0, 0.8))
    first = [int(np.argmax(price_tk[:, k] < pstar)) for k in range(2)]
    disp, count = twin_dispersion(price_tk, np.array([pstar, pstar]))
    same, _ = twin_dispersion(np.column_stack([feed, feed]), np.array([pstar, pstar]))
    return {"pstar": pstar, "first_p1": first[0], "first_p2": first[1], "dispersion": float(disp),
            "count": int(count), "dispersion_shared": float(same)}


def _e00_2():
    apart = simulate(Config(sharing=0.0), seed=7).measures
    together = simulate(Config(sharing=1.0), seed=7).measures
    return {"sync_apart": apart.synchrony, "sync_together": together.synchrony,
            "dispersion_together": together.twin_dispersion}


# --------------------------------------------------------------------------- 01
def _e01_1():
    c, d, p = np.array([10.0]), np.array([14_000.0]), 1700.0
    prm = PlatformParams()
    sold, seized, repaid, _ = first_round_sales(c, d, p, prm)
    c1, d1 = c - seized, d - repaid
    return {"pstar": float(liquidation_price(c, d, prm.lt)[0]), "h": float(health(c, d, p, prm.lt)[0]),
            "repaid": float(repaid[0]), "seized": float(seized[0]), "h_after": float(health(c1, d1, p, prm.lt)[0])}


def _e01_2():
    # h_full = 0: every liquidation is partial; h' = (h - f (1 + b) LT) / (1 - f)
    prm = PlatformParams(h_full=0.0)
    out = {"threshold": prm.lt * (1 + prm.bonus)}
    for name, h in (("at_080", 0.80), ("at_090", 0.90)):
        c, p = np.array([1.0]), 1000.0
        d = c * p * prm.lt / h
        _, seized, repaid, _ = first_round_sales(c, d, p, prm)
        out[name] = float(health(c - seized, d - repaid, p, prm.lt)[0])
    return out


# --------------------------------------------------------------------------- 02
def _e02_1():
    own = [OracleParams()] * 5
    n_shared = {f"s{int(s * 100):03d}": sum(j == 0 for j in shared_fraction(s, OracleParams(), own).platform_oracle)
                for s in (0.3, 0.5, 0.9)}
    return n_shared


def _e02_2():
    frame = sweep(Config(), {"sharing": [0.0, 1.0]}, seeds=range(5))
    s = summarize(frame, by=["sharing"], measures=["synchrony", "excess_drawdown"]).set_index(["measure", "sharing"])
    return {"sync_0": float(s.loc[("synchrony", 0.0), "mean"]), "sync_1": float(s.loc[("synchrony", 1.0), "mean"]),
            "excess_0": float(s.loc[("excess_drawdown", 0.0), "mean"]),
            "excess_1": float(s.loc[("excess_drawdown", 1.0), "mean"]), "runs": len(frame)}


# --------------------------------------------------------------------------- 03
def _e03_1():
    market = MarketParams(depth=150e6, resilience=0.1)
    k1 = next_kappa(0.0, 1.5e6, market)
    k2 = next_kappa(k1, 0.0, market)
    return {"k1": k1, "fall_pct": 100 * (1 - math.exp(-k1)), "k2": k2}


def _e03_2():
    out = {}
    for depth in (100e6, 400e6):
        m = simulate(Config(sharing=1.0, market=MarketParams(depth=depth)), seed=1).measures
        out[f"excess_{int(depth / 1e6)}"] = m.excess_drawdown
    return out


# --------------------------------------------------------------------------- 04
def _e04_1():
    # the shared oracle 0 reads venues 0, 1, 2; a 10 % spike down on minutes 200-209 of a calm market
    calm = CrashScenario(depth=0.0, sigma=0.0)
    out = {}
    for n_bad in (1, 2):
        faults = tuple(spike(v, 200, 210, 0.9) for v in range(n_bad))
        r = simulate(Config(scenario=calm, sharing=1.0, venue_faults=faults, venue_sigma=0.0), seed=1)
        # the oracle's raw observation (the median, before its latency) against the market in the same minutes
        out[f"dip_{n_bad}"] = 100 * (1 - (r.raw_tj[200:210, 0] / r.market_t[200:210]).min())
    return out


def _e04_2():
    calm = CrashScenario(depth=0.0, sigma=0.0)
    base = dict(scenario=calm, venue_sigma=0.0)
    shared = simulate(Config(sharing=1.0, oracle_faults=(override(0, 200, 210, 0.9),), **base), seed=1)
    own = simulate(Config(sharing=0.0, oracle_faults=(override(1, 200, 210, 0.9),), **base), seed=1)
    hit = lambda r: int((r.count_tk.sum(axis=0) > 0).sum())  # noqa: E731
    return {"platforms_shared": hit(shared), "platforms_own": hit(own),
            "sold_shared_musd": shared.measures.liquidated_usd / 1e6, "sold_own_musd": own.measures.liquidated_usd / 1e6}


# --------------------------------------------------------------------------- 05
def _e05_1():
    out = {}
    for latency in (1, 60):
        cfg = Config(sharing=1.0, shared_oracle=OracleParams(theta=0.005, heartbeat=60, latency=latency))
        out[f"excess_{latency}"] = simulate(cfg, seed=1).measures.excess_drawdown
    return out


def _e05_2():
    out = {}
    for cap in (None, 20):
        cfg = Config(sharing=1.0, platform=PlatformParams(keeper_capacity=cap))
        m = simulate(cfg, seed=1).measures
        out[f"peak_{cap or 'all'}"] = m.peak_flow_share
        out[f"excess_{cap or 'all'}"] = m.excess_drawdown
    return out


# --------------------------------------------------------------------------- 06
def _e06_1():
    book = Book([2.0], [3000.0])  # p* = 3000 / (2 * 0.8) = 1875 USD
    m = liquidation_map(book, PlatformParams(), [1900.0, 1800.0, 1700.0])
    return {"at_1900": float(m.total_p[0]), "at_1800": float(m.total_p[1]), "at_1700": float(m.total_p[2])}


def _e06_2():
    b = Book([1.0], [1500.0])
    out = {}
    for depth in (78_750.0, 20_000.0):
        together = forecast([b, b], PlatformParams(), 2000.0, 0.10, depth=depth, shared=True)
        alone = forecast([b, b], PlatformParams(), 2000.0, 0.10, depth=depth, shared=False)
        tag = int(depth)
        out[f"together_{tag}"] = together.liquidated_usd
        out[f"alone_{tag}"] = alone.liquidated_usd
        out[f"bottom_{tag}"] = together.final_price
    return out


# --------------------------------------------------------------------------- 07
def _e07_1():
    frame = sweep(Config(), {"sharing": [0.0, 1.0]}, seeds=range(6))
    s = summarize(frame, by=["sharing"], measures=["excess_drawdown"]).set_index("sharing")
    return {"lo_0": float(s.loc[0.0, "ci_low"]), "hi_0": float(s.loc[0.0, "ci_high"]),
            "lo_1": float(s.loc[1.0, "ci_low"]), "hi_1": float(s.loc[1.0, "ci_high"])}


def _e07_2():
    grid = {"sharing": [0.0, 0.5, 1.0], "market.depth": [1e8, 4e8]}
    frame = sweep(Config(scenario=CrashScenario(n_steps=300)), grid, seeds=range(4))
    return {"rows": len(frame), "points": int(frame.groupby(["sharing", "market.depth"]).ngroups)}


# --------------------------------------------------------------------------- 08
def _e08_1():
    pos = Position(collateral=8.0, debt=9_600.0)
    return {"pstar": pos.liquidation_price(0.8), "h0": pos.health(2000.0, 0.8),
            "debt_16": debt_for_health(1.6, 8.0, 2000.0, 0.8)}


def _e08_2():
    odds = cascade_odds(1, "shared", seeds=range(1, 21))
    return {"safe_shared": odds.safe_health(0.8, "shared"), "safe_indep": odds.safe_health(0.8, "independent"),
            "caught_shared": odds.caught(1.5, "shared") * 20, "caught_indep": odds.caught(1.5, "independent") * 20}


# --------------------------------------------------------------------------- 02b
def _e02b_1():
    # the dials at (0.5, 0.75): who reads provider 0, who holds asset 0; p* of a wstETH-like account
    s = channels.summarize_run(channels.run_pair(0.5, 0.75))
    lt2 = channels.lesson_config().platform.lt_of(2)
    return {"n_feed": s.n_shared_feed, "n_common": s.n_common, "lt2": lt2,
            "pstar": float(liquidation_price(10.0, 16_200.0, lt2))}


def _e02b_2():
    rows = {c.key: s for c, s in channels.corner_rows(seed=1)}
    return {"together_pct": 100 * rows["together"].common_excess, "market_pct": 100 * rows["market"].common_excess,
            "provider_own_pct": 100 * rows["provider"].own_excess, "apart_own_pct": 100 * rows["apart"].own_excess,
            "sync_market": rows["market"].synchrony, "sync_together": rows["together"].synchrony}


# --------------------------------------------------------------------------- 09
def _e09_1():
    # an isolated long of notional N on margin N / 5 (mmr 3 %) is closed when m + N (x - 1) < mmr N x
    mmr = PerpParams().mmr
    lev, N = 5.0, 100_000.0
    m = N / lev
    x = (N - m) / (N * (1 - mmr))
    # cross: the short leg's gain on a fall of asset 1 by 0.6 of asset 0's (in log) offsets part of the loss
    fall0 = 1 - x
    x1 = math.exp(0.6 * math.log(x))
    cross_equity = 2 * m + N * (x - 1) - N * (x1 - 1)
    cross_mm = mmr * N * (x + x1)
    return {"mmr_pct": 100 * mmr, "fall_pct": 100 * fall0, "cross_equity": cross_equity, "cross_mm": cross_mm}


def _e09_2():
    runs = margin_modes.modes_run("pair", 30, 20)
    cross, iso = (margin_modes.outcome(runs[m]) for m in ("cross", "isolated"))
    return {"cross_closed": len(cross["closed"]), "cross_lowest_musd": cross["lowest"] / 1e6,
            "iso_minute": iso["closed"][0][0], "iso_final_musd": iso["final"] / 1e6,
            "cross_final_musd": cross["final"] / 1e6}


# --------------------------------------------------------------------------- 10
def _e10_1():
    # one step's haircut: h = min(1, S / G); a winner's credit is v (1 - h)
    S, G, v = 600_000.0, 2_400_000.0, 10_000.0
    h = min(1.0, S / G)
    h_big = min(1.0, 3_000_000.0 / G)
    return {"h_pct": 100 * h, "credit": v * (1 - h), "h_big_pct": 100 * h_big, "credit_big": v * (1 - h_big)}


def _e10_2():
    runs = insurance.fund_runs(200, 3)
    hc, adl = insurance.payments(runs["haircut"], "haircut"), insurance.payments(runs["adl"], "adl")
    s = hc.share
    return {"shortfall_musd": hc.shortfall / 1e6, "winners": hc.n_winners, "hc_paying": hc.n_paying,
            "hc_median_pct": 100 * float(np.median(s[s > 0])), "adl_paying": adl.n_paying,
            "adl_max_pct": 100 * float(adl.share.max()), "adl_closed": adl.n_closed}


# --------------------------------------------------------------------------- 11
def _e11_1():
    # a vault at its liquidation price holds collateral worth ratio x debt; it covers debt plus penalty
    # while the price stays above (1 + penalty) / ratio of that price
    ratio, penalty, pstar = 1.5, 0.13, 136.0
    low = float(REPLAYS["black-thursday"].prices()[:, 0].min())
    return {"buffer_pct": 100 * (1 - (1 + penalty) / ratio), "water_usd": pstar * (1 + penalty) / ratio,
            "low_usd": low}


def _e11_2():
    bt = REPLAYS["black-thursday"]
    time, working = bt.run(), bt.run(outage_end_h=0.0)
    path = bt.prices()[:, 0]
    low = float(path.min())
    out = {"bad_time": time.figures[0].model / 1e6, "book": time.notes["book_debt"] / 1e6,
           "share_pct": 100 * time.notes["bad_share"], "bad_working": working.figures[0].model / 1e6}
    for h in (14, 20):
        out[f"bad_{h}"] = bt.run(outage_start_h=float(h)).figures[0].model / 1e6
    for h in (10, 14, 20):  # minute steps: hour h is step 60 h
        out[f"fall_{h}_pct"] = 100 * (1 - low / float(path[60 * h]))
    return out


def _e11_3():
    lu = REPLAYS["luna"]
    lt = lu.world()[0].platforms[0].lt
    floor05, none = lu.run(min_answer=0.05), lu.run(min_answer=0.0)
    return {"lt": lt, "hand_ratio": lt * 0.107 / 0.01, "feed_05": floor05.figures[0].model,
            "ratio_05": floor05.figures[2].model, "attack_05_musd": floor05.figures[3].model / 1e6,
            "ratio_none": none.figures[2].model}


def _x(lesson, number, title, question, solution, solve, claimed, digits=3):
    return Exercise(lesson, number, title, question.strip(), solution.strip(), solve, claimed, digits)


EXERCISES = (
    _x("00", 1, "Twins on one feed and on a late copy",
       "Two platforms each hold one account: 1 unit of collateral, 1500 USD of debt, LT 0.8. P1 reads a feed that "
       "publishes 2000, 1900, 1850, 1800, 1800 USD at steps 0-4; P2 reads the same feed one step late. At which step "
       "is each account first liquidatable, and what is the twin dispersion (the standard deviation of those steps)? "
       "What is it if both read the feed on time?",
       "Liquidation price $p^* = 1500 / (1 \\times 0.8) = {pstar:.0f}$ USD. P1 sees 1850 < 1875 at step "
       "{first_p1}; P2 sees it one step later, at step {first_p2}. The population standard deviation of "
       "(2, 3) is {dispersion:.1f} step over {count} platforms "
       "(`twin_dispersion`). On one feed both cross at the same step: {dispersion_shared:.1f}.",
       _e00_1, {"pstar": 1875.0, "first_p1": 2, "first_p2": 3, "dispersion": 0.5, "count": 2,
                "dispersion_shared": 0.0}),
    _x("00", 2, "The README's two runs",
       "Run the classroom scenario with seed 7 at sharing 0 and at sharing 1 (`simulate(Config(sharing=...), seed=7)`). "
       "Report the liquidation synchrony of each and the twin dispersion at sharing 1. Which number says \"the "
       "platforms liquidate in the same minutes\"?",
       "Synchrony rises from {sync_apart:.2f} (own oracles) to {sync_together:.2f} (one shared oracle); twin "
       "dispersion at sharing 1 is {dispersion_together:.1f} steps: one feed, one trigger step for every twin. "
       "Synchrony is the correlation of the platforms' liquidation series: near 1 means the same minutes.",
       _e00_2, {"sync_apart": 0.39, "sync_together": 0.99, "dispersion_together": 0.0}, digits=2),
    _x("01", 1, "One partial liquidation by hand",
       "An account holds 10 units and owes 14 000 USD on a platform with LT 0.8, close factor 50 %, bonus 5 % and "
       "full liquidation below health 0.95. The oracle reads 1700 USD. Compute its liquidation price, its health, "
       "the debt repaid, the units seized and its health after the round.",
       "$p^* = 14000 / (10 \\cdot 0.8) = {pstar:.0f}$ USD. Health $10 \\cdot 1700 \\cdot 0.8 / 14000 = {h:.4f}$, "
       "at least 0.95, so a partial close: {repaid:.0f} USD repaid, $7000 \\cdot 1.05 / 1700 = {seized:.4f}$ units "
       "seized. After: 5.6765 units, 7000 USD, health {h_after:.4f} (above 1: safe until the price falls further).",
       _e01_1, {"pstar": 1750.0, "h": 0.9714, "repaid": 7000.0, "seized": 4.3235, "h_after": 1.1029}, digits=4),
    _x("01", 2, "When does a partial liquidation lower health?",
       "Set full liquidation off ($h_{full} = 0$, every liquidation partial) with close factor $f = 0.5$, bonus "
       "$b = 5\\,\\%$, $LT = 0.8$. Show that after a partial close $h' = (h - f(1+b)LT)/(1-f)$, and find the health "
       "below which a partial liquidation *lowers* health. Check at $h = 0.80$ and $h = 0.90$.",
       "Repaying $r = f d$ costs $r(1+b)/\\pi$ units, so $h' = (c\\pi LT - f d (1+b) LT)/((1-f) d) = "
       "(h - f(1+b)LT)/(1-f)$, and $h' < h \\iff h < LT(1+b) = {threshold:.2f}$. At $h = 0.80$: "
       "$h' = {at_080:.2f}$ (lower: each round digs deeper); at $h = 0.90$: $h' = {at_090:.2f}$ (higher). With "
       "the default $h_{{full}} = 0.95 > 0.84$ a partial close never lowers health.",
       _e01_2, {"threshold": 0.84, "at_080": 0.76, "at_090": 0.96}, digits=2),
    _x("02", 1, "Who reads the shared oracle?",
       "With five platforms and the `shared_fraction` topology, how many platforms read the shared oracle 0 at "
       "dial 0.3, 0.5 and 0.9? (The rule is $\\lfloor sK + 1/2 \\rfloor$.)",
       "$0.3 \\cdot 5 = 1.5 \\to {s030}$; $0.5 \\cdot 5 = 2.5 \\to {s050}$ (half rounds up); "
       "$0.9 \\cdot 5 = 4.5 \\to {s090}$.",
       _e02_1, {"s030": 2, "s050": 3, "s090": 5}),
    _x("02", 2, "The dial over five seeds",
       "Sweep the classroom scenario at sharing 0 and 1 over seeds 0-4 (`sweep(Config(), {\"sharing\": [0.0, 1.0]}, "
       "seeds=range(5))`, then `summarize`). Give the mean synchrony and the mean excess drawdown at each end.",
       "{runs} runs. Mean synchrony {sync_0:.2f} at sharing 0 and {sync_1:.2f} at sharing 1; mean excess "
       "drawdown (max $\\kappa$, log units) {excess_0:.3f} and {excess_1:.3f}: the shared oracle lines the "
       "liquidations up (*when*) and, through the market's depth, deepens the fall (*how much*).",
       _e02_2, {"runs": 10, "sync_0": 0.416, "sync_1": 0.989, "excess_0": 0.083, "excess_1": 0.170}),
    _x("02b", 1, "Two dials, read off",
       "In lesson 02b's world (four platforms, `channels.lesson_config`) set the oracle dial to 0.5 and the collateral "
       "dial to 0.75. How many platforms read the shared provider 0, and how many hold the common asset 0? An account "
       "on the wstETH-like asset 2 holds 10 units and owes 16 200 USD: what is its liquidation price?",
       "$\\lfloor 0.5 \\cdot 4 + 1/2 \\rfloor = {n_feed}$ platforms read provider 0 and "
       "$\\lfloor 0.75 \\cdot 4 + 1/2 \\rfloor = {n_common}$ hold asset 0 (the readout's *oracles* and "
       "*collateral* rows); the dials are independent. Asset 2 carries wstETH's LT {lt2:.2f} (Aave v3, "
       "FACTS-mechanisms.md §5), so $p^* = 16200 / (10 \\cdot {lt2:.2f}) = {pstar:.0f}$ USD.",
       _e02b_1, {"n_feed": 2, "n_common": 3, "lt2": 0.81, "pstar": 2000.0}),
    _x("02b", 2, "Which channel deepens the crash?",
       "Run the four corners of lesson 02b at seed 1 (`channels.corner_rows(seed=1)`). Give the extra fall of the "
       "common asset 0 at *one feed, one market* and at *own feeds, one market*, the deepest extra fall of an own "
       "asset at *own feeds, own markets* and at *one provider, own markets*, and the synchrony of the two "
       "one-market corners. Which dial sets how deep the fall goes?",
       "Asset 0 falls a further {together_pct:.1f} % below its fundamental path with one feed and one market, "
       "{market_pct:.1f} % with own feeds into one market. With own markets the deepest own-asset extra fall is "
       "{apart_own_pct:.2f} % (own feeds) and {provider_own_pct:.2f} % (one provider): small whatever the oracle "
       "dial says. Synchrony is {sync_market:.2f} with own feeds and {sync_together:.2f} with one feed. The "
       "collateral dial (one market taking everyone's selling) sets how deep; the oracle dial lines the selling up "
       "in the same minutes and roughly doubles the fall *in a shared market*.",
       _e02b_2, {"together_pct": 10.08, "market_pct": 5.0, "apart_own_pct": 1.26, "provider_own_pct": 0.85,
                 "sync_market": 0.27, "sync_together": 0.99}, digits=2),
    _x("03", 1, "Impact by hand",
       "Depth 150 M USD, resilience 0.1 per minute. Liquidations sell 1.5 M USD in one minute and nothing in the "
       "next. What is $\\kappa$ after each minute, and by how much (%) does the first minute's selling lower the price?",
       "$\\kappa_1 = 1.5/150 = {k1:.3f}$, a fall of $1 - e^{{-0.01}} = {fall_pct:.3f}$ %; $\\kappa_2 = 0.9 \\cdot "
       "0.01 = {k2:.3f}$ (a tenth heals each minute).",
       _e03_1, {"k1": 0.01, "fall_pct": 0.995, "k2": 0.009}),
    _x("03", 2, "More depth, less excess",
       "Run the classroom crash at sharing 1, seed 1, with depth 100 M USD and 400 M USD. Report the excess drawdown "
       "(max $\\kappa$) of each. Why is the ratio not simply 4?",
       "Excess drawdown {excess_100:.3f} at 100 M USD and {excess_400:.3f} at 400 M USD: about 60 times, not 4. "
       "In the thin market the extra fall liquidates more accounts, whose selling adds more impact (the feedback "
       "loop of lesson 03): the cascade runs away, so thinning the market hurts far more than in proportion.",
       _e03_2, {"excess_100": 1.582, "excess_400": 0.025}),
    _x("04", 1, "A median of three venues",
       "The shared oracle takes the median of three venues. In a calm market (no crash, no venue noise) spike one "
       "venue 10 % down on minutes 200-209, then two venues. How far below the market does the oracle's price go in "
       "each case?",
       "One bad venue: {dip_1:.1f} % (the median ignores it). Two: {dip_2:.1f} % (the median is now a bad venue). "
       "Three sources tolerate one fault, not two.",
       _e04_1, {"dip_1": 0.0, "dip_2": 10.0}, digits=1),
    _x("04", 2, "The same bad report, shared or own",
       "In a calm market, a bad report publishes 10 % below the market for 10 minutes (minutes 200-209). Put it on "
       "the shared oracle with every platform reading it (sharing 1), then on P1's own oracle with sharing 0. How "
       "many platforms liquidate, and how much collateral is sold (M USD)?",
       "Shared: {platforms_shared} platforms, {sold_shared_musd:.1f} M USD sold (their selling moves the market, "
       "which liquidates more). Own oracle: {platforms_own} platform, {sold_own_musd:.1f} M USD. The fault's reach "
       "is the number of platforms reading the feed, and through the market it grows.",
       _e04_2, {"platforms_shared": 5, "platforms_own": 1, "sold_shared_musd": 242.3, "sold_own_musd": 3.6}, digits=1),
    _x("05", 1, "A delayed shared oracle",
       "In the classroom crash at sharing 1, seed 1, give the shared oracle a latency of 60 minutes instead of 1 "
       "(`OracleParams(theta=0.005, heartbeat=60, latency=60)`). Compare the excess drawdown. What does the delay cost "
       "the platforms in practice?",
       "Excess drawdown {excess_1:.3f} with 1 minute, {excess_60:.3f} with 60. Every platform is still delayed "
       "alike, but each liquidation round now waits an hour for the feed while the market heals (resilience 0.3 a "
       "minute), so one round's selling has gone before the next round sees it. In practice the platforms lend "
       "against an hour-old price and carry the risk of a fall they do not yet see (bad debt).",
       _e05_1, {"excess_1": 0.276, "excess_60": 0.035}),
    _x("05", 2, "Keeper capacity as a throttle",
       "In the same run, limit keepers to 20 accounts per minute per platform (`PlatformParams(keeper_capacity=20)`). "
       "Compare the peak flow share (largest share of all selling in 10 minutes) and the excess drawdown with "
       "unlimited keepers.",
       "Peak flow share {peak_all:.3f} unlimited, {peak_20:.3f} capped; excess drawdown {excess_all:.3f} and "
       "{excess_20:.3f}. The cap spreads the selling over more minutes so the market can heal in between.",
       _e05_2, {"peak_all": 0.681, "peak_20": 0.120, "excess_all": 0.276, "excess_20": 0.027}),
    _x("06", 1, "A one-account liquidation map",
       "One account: 2 units, 3000 USD of debt, LT 0.8 (Aave-style close factor 50 %, full below 0.95, bonus 5 %). "
       "How much collateral (USD) does a first round sell if the platform reads 1900, 1800 and 1700 USD?",
       "$p^* = 1875$ USD, so nothing at 1900 ({at_1900:.0f} USD). At 1800 health 0.96: half the debt, "
       "$1500 \\cdot 1.05 = {at_1800:.0f}$ USD. At 1700 health 0.907 < 0.95: all of it, $3000 \\cdot 1.05 = "
       "{at_1700:.0f}$ USD.",
       _e06_1, {"at_1900": 0.0, "at_1800": 1575.0, "at_1700": 3150.0}, digits=1),
    _x("06", 2, "A cascade that needs two platforms",
       "Two platforms each hold one account (1 unit, 1500 USD of debt). Forecast a 10 % drop from 2000 USD with "
       "depth 78 750 USD, then with depth 20 000 USD, with one shared price and with each platform alone. How much is "
       "sold in each case, and where does the shared cascade stop?",
       "Depth 78 750: together {together_78750:.1f} USD, alone {alone_78750:.1f} USD, bottom {bottom_78750:.1f} USD "
       "(after one round the accounts hold 0.5625 units against 750 USD, $p^* = 1666.7$ USD: safe). Depth 20 000: "
       "the first round's 1575 USD take the price to $1800 e^{{-0.07875}} = 1663.7$ USD, below 1666.7, so a second "
       "round sells $2 \\times 393.75$ USD: together {together_20000:.1f} USD (bottom {bottom_20000:.1f} USD). "
       "Alone, each platform's 787.5 USD only take the price to 1730.5 USD: {alone_20000:.1f} USD in all. Only the shared price pushes the market "
       "below the accounts' new liquidation price.",
       _e06_2, {"together_78750": 1575.0, "alone_78750": 1575.0, "bottom_78750": 1764.4,
                "together_20000": 2362.5, "alone_20000": 1575.0, "bottom_20000": 1599.5}, digits=1),
    _x("07", 1, "Is the difference more than luck?",
       "Sweep sharing 0 and 1 over seeds 0-5 and summarise the excess drawdown with its 95 % confidence interval. "
       "Do the two intervals overlap?",
       "Sharing 0: [{lo_0:.3f}, {hi_0:.3f}]; sharing 1: [{lo_1:.3f}, {hi_1:.3f}]. They do not overlap: six seeds are "
       "enough to tell this effect from the luck of a draw.",
       _e07_1, {"lo_0": 0.075, "hi_0": 0.091, "lo_1": 0.105, "hi_1": 0.225}),
    _x("07", 2, "Counting runs before you start",
       "A grid of sharing {0, 0.5, 1} x depth {100, 400} M USD over 4 seeds: how many runs, and how many grid "
       "points? Check with `sweep` on a 300-minute crash.",
       "$3 \\times 2 = {points}$ points, $\\times 4$ seeds $= {rows}$ runs, one row each.",
       _e07_2, {"rows": 24, "points": 6}),
    _x("08", 1, "Your liquidation price",
       "You deposit 8 units and borrow 9600 USD on a platform with LT 0.8; the price is 2000 USD. What are your "
       "liquidation price and health at entry? What debt would give health 1.6?",
       "$p^* = 9600 / (8 \\cdot 0.8) = {pstar:.0f}$ USD, $h_0 = 2000 / 1500 = {h0:.3f}$. Health 1.6: "
       "$d = 8 \\cdot 2000 \\cdot 0.8 / 1.6 = {debt_16:.0f}$ USD.",
       _e08_1, {"pstar": 1500.0, "h0": 1.333, "debt_16": 8000.0}),
    _x("08", 2, "Your buffer on P2",
       "With `cascade_odds(1, \"shared\", seeds=range(1, 21))` (a position on P2 reading the shared feed), find the "
       "health at entry that is safe in 8 runs of 10 when the crowd shares the feed and when it reads its own. In how "
       "many of the 20 runs is a position at health 1.5 caught in each world?",
       "Safe in 80 %: health {safe_shared:.2f} shared, {safe_indep:.2f} independent. At health 1.5: caught in "
       "{caught_shared:.0f} of 20 runs shared, {caught_indep:.0f} of 20 independent.",
       _e08_2, {"safe_shared": 1.57, "safe_indep": 1.50, "caught_shared": 13, "caught_indep": 5}, digits=2),
    _x("09", 1, "An isolated leg by hand",
       "A perp venue with maintenance margin 3 % of notional (dYdX v4 large-cap markets, FACTS-mechanisms.md §3.1). You are long 100 000 USD of asset 0 at 5x (20 000 USD "
       "of margin) and short 100 000 USD of asset 1, also 5x. Under isolated margin, how far (%) must asset 0 fall "
       "before the long leg is liquidated? Suppose asset 1 falls 0.6 of the way in log ($x_1 = x_0^{0.6}$): at that "
       "moment, what are the cross account's balance and its maintenance margin?",
       "Isolated: $20000 + 100000(x - 1) < 0.03 \\cdot 100000\\,x \\iff x < 80/97$, a fall of {fall_pct:.1f} % "
       "(mmr {mmr_pct:.0f} %, `PerpParams`). Cross: one balance of 40 000 USD takes the long's loss and the short's "
       "gain, $40000 - 100000(1 - x) + 100000(1 - x^{{0.6}}) = {cross_equity:.0f}$ USD against a maintenance margin "
       "of $0.03 \\cdot 100000 (x + x^{{0.6}}) = {cross_mm:.0f}$ USD: far from liquidation. To the venue the pair is "
       "a hedge only when one balance backs both legs.",
       _e09_1, {"mmr_pct": 3.0, "fall_pct": 17.5, "cross_equity": 33392.0, "cross_mm": 5146.7}, digits=1),
    _x("09", 2, "Surviving is not winning",
       "In lesson 09's app, hold the hedged pair at size 20 in a 30 % crash (`margin_modes.modes_run(\"pair\", 30, "
       "20)`, then `margin_modes.outcome` of each mode). Under each mode: is anything liquidated, and when? What is "
       "the portfolio worth at the end, from 0.80 M USD?",
       "Cross: {cross_closed} liquidations; the portfolio bottoms at {cross_lowest_musd:.2f} M USD and ends at "
       "{cross_final_musd:.2f} M USD. Isolated: the long leg is closed at minute {iso_minute} and the trader ends "
       "with {iso_final_musd:.2f} M USD, more than under cross: the price never comes back, so the early close "
       "locked in the short's gain. Cross margin decides *whether* the hedge survives, not whether it pays.",
       _e09_2, {"cross_closed": 0, "cross_lowest_musd": 0.58, "cross_final_musd": 0.58, "iso_minute": 127,
                "iso_final_musd": 0.80}, digits=2),
    _x("10", 1, "One step's haircut by hand",
       "In one minute a venue's fund is empty and the bankruptcies leave a shortfall of 0.6 M USD, while the "
       "winners' positive variation margin that minute totals 2.4 M USD. What is the haircut rate, and what is a "
       "winner whose variation margin is 10 000 USD credited? What if the shortfall is 3 M USD?",
       "$h = \\min(1, 0.6/2.4) = {h_pct:.0f}$ %, so the winner is credited $10000 (1 - h) = {credit:.0f}$ USD. "
       "With 3 M USD, $h = \\min(1, 3/2.4) = {h_big_pct:.0f}$ %: the winner is credited {credit_big:.0f} USD and "
       "0.6 M USD is still unpaid that minute (bad debt, or the next minutes' winners).",
       _e10_1, {"h_pct": 25.0, "credit": 7500.0, "h_big_pct": 100.0, "credit_big": 0.0}, digits=1),
    _x("10", 2, "Who pays, haircut or ADL",
       "Run lesson 10's crash with 0.2 M USD of fund per venue and all three venues on the shared oracle "
       "(`insurance.fund_runs(200, 3)`, then `insurance.payments` under each rule). How large is the shortfall? How "
       "many of the winners pay under each rule, and how much of its gain does a paying winner give up?",
       "A shortfall of {shortfall_musd:.2f} M USD. Haircut: {hc_paying} of {winners} winners pay, a median "
       "{hc_median_pct:.1f} % of their gain. ADL: {adl_paying} of {winners} pay, up to {adl_max_pct:.1f} % of their "
       "gain, and {adl_closed} positions are closed entirely: the same shortfall spread thin over everyone, or "
       "piled on the top of the queue (the most profitable, most leveraged).",
       _e10_2, {"shortfall_musd": 3.35, "winners": 696, "hc_paying": 696, "hc_median_pct": 19.1, "adl_paying": 295,
                "adl_max_pct": 95.84, "adl_closed": 286}, digits=2),
    _x("11", 1, "Black Thursday's buffer by hand",
       "A Maker vault has a liquidation ratio of 150 % and a liquidation penalty of 13 % (ETH-A's `mat` and `chop` "
       "in 2020, FACTS-mechanisms.md §1.1): at its liquidation price "
       "its collateral is worth 1.5 times its debt. How far (%) below its liquidation price can the price of ETH go "
       "before the collateral no longer covers the debt plus the penalty? A vault's liquidation price is 136 USD, "
       "where ETH stood about 12 hours into Black Thursday: below which price is it under water, and did the "
       "replay's path go that low (`REPLAYS[\"black-thursday\"].prices()`)?",
       "The collateral covers debt plus penalty while $1.5\\,d\\,x \\ge 1.13\\,d$, down to $x = 1.13/1.5$: a buffer "
       "of $1 - 1.13/1.5 = {buffer_pct:.1f}$ %. At 136 USD the vault is under water below $136 \\times 1.13/1.5 = "
       "{water_usd:.2f}$ USD, and the path's low is {low_usd:.2f} USD: yes. A vault that crosses 136 USD while the "
       "keepers are out and is liquidated only at the low leaves bad debt.",
       _e11_1, {"buffer_pct": 24.67, "water_usd": 102.45, "low_usd": 95.87}, digits=2),
    _x("11", 2, "When the keepers fail matters",
       "Run the Black Thursday replay as at the time (`REPLAYS[\"black-thursday\"].run()`: keepers out from hour 10 "
       "to the low at hour 26), with the keepers failing only from hour 14 and from hour 20 (`outage_start_h=14`, "
       "`20`), and with keepers working (`outage_end_h=0`). Give the bad debt of each (M DAI, `.figures[0].model`) "
       "and, as at the time, its share of the book's debt (`.notes`). Then read off the path by how much (%) ETH "
       "falls from hour 10, 14 and 20 to the low, and compare with exercise 11.1's buffer.",
       "As at the time: {bad_time:.2f} M DAI, {share_pct:.1f} % of a book of {book:.1f} M DAI. Keepers out from "
       "hour 14: {bad_14:.2f} M DAI; from hour 20: {bad_20:.2f} M DAI; keepers working: {bad_working:.2f} M DAI. "
       "From hour 10 ETH falls {fall_10_pct:.1f} % to the low, from hour 14 {fall_14_pct:.1f} %, from hour 20 "
       "{fall_20_pct:.1f} %. A vault that becomes liquidatable while the keepers are out waits for them until hour "
       "26, and goes under water only if the price falls through its buffer of about 25 % (exercise 11.1) in that "
       "wait. From hour 10 the price has room to; from hour 14 only just; from hour 20 it has not: the bad debt "
       "comes from the vaults that cross in the first hours of the outage.",
       _e11_2, {"bad_time": 2.65, "share_pct": 2.66, "book": 99.83, "bad_14": 0.12, "bad_20": 0.0,
                "bad_working": 0.0, "fall_10_pct": 33.61, "fall_14_pct": 25.9, "fall_20_pct": 13.92}, digits=2),
    _x("11", 3, "Borrowing against a floored feed",
       "In the LUNA replay the platforms have LT 0.6 (a teaching value). A borrower buys LUNA at the market, posts "
       "it and borrows LT times its value at the feed's price. With the feed stuck at 0.107 USD and the market at "
       "0.01 USD (as reported, FACTS-mechanisms.md §2.1), how many "
       "USD can they borrow per USD spent? Now run the replay with a floor of 0.05 USD "
       "(`REPLAYS[\"luna\"].run(min_answer=0.05)`, `.figures`): what does the feed read when the market reaches "
       "0.01 USD, how many USD does one USD of LUNA borrow, and how much LUNA (USD at the market) borrows Blizz's "
       "reported 8.3 M USD? And with no floor (`min_answer=0`)?",
       "By hand: ${lt:.1f} \\times 0.107 / 0.01 = {hand_ratio:.2f}$ USD per USD spent. With a 0.05 USD floor the "
       "feed reads {feed_05:.3f} USD, one USD of LUNA borrows {ratio_05:.2f} USD (the model's market is a little "
       "above 0.01 at that step), and {attack_05_musd:.2f} M USD of LUNA borrows 8.3 M USD. With no floor the feed "
       "follows the market and one USD borrows {ratio_none:.2f} USD, LT itself: nothing to gain. The floor's level "
       "sets how much the stuck price pays.",
       _e11_3, {"lt": 0.6, "hand_ratio": 6.42, "feed_05": 0.05, "ratio_05": 2.89, "attack_05_musd": 2.87,
                "ratio_none": 0.6}, digits=2),
)


def by_lesson():
    """``{lesson: [Exercise, ...]}`` in lesson order."""
    out = {}
    for e in EXERCISES:
        out.setdefault(e.lesson, []).append(e)
    return out


def solutions_markdown():
    """Every exercise with its worked solution, as one markdown page (for the instructor only)."""
    parts = ["# coupling-lab: worked solutions to the guide's exercises",
             "", "*For the instructor. Built by `make solutions`; not served to learners. Each number below is "
             "computed by the solution code in `coupling_lab/exercises.py` and checked by `tests/test_exercises.py`.*"]
    for lesson, items in by_lesson().items():
        parts += ["", f"## Lesson {lesson}"]
        for e in items:
            parts += ["", f"### Exercise {e.key}: {e.title}", "", e.question, "", f"**Solution.** {e.solution_text()}"]
    return "\n".join(parts) + "\n"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    text = solutions_markdown()
    if argv:
        path = Path(argv[0])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path} ({len(EXERCISES)} exercises)")
    else:
        print(text)


if __name__ == "__main__":
    main()
