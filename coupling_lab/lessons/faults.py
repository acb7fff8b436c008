"""Lesson 04, when the shared oracle fails: the same fault on the shared oracle 0
and on one platform's own oracle, side by side."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..oracles import FeedRule, override, stale
from ..protections import AnswerBounds
from ..scenarios import CrashScenario, GBMScenario
from ..simulation import Config, simulate
from ..venues import spike
from .controls import Control
from .text import Prose, Sentence, extra_fall, fmt_musd, fmt_number, fmt_pct

__all__ = ["bad_report_quoted", "bad_report_findings", "FAULT_KINDS", "FAULT_START", "FLOOR_USD", "N_PLATFORMS", "N_STEPS", "SEED_MAX", "CONTROLS", "OnFeeds",
           "fault_config", "fault_runs", "readout_rows", "panel_text", "bad_debt_by_platform", "describe_kinds",
           "under_water", "floor_summary"]

#: Fault kinds of the lesson: what "size" means for each.
FAULT_KINDS = {
    "bad report": "the published price is this much below the market (an override of the feed)",
    "2 venues spike": "two of the oracle's three venues print this much below the market",
    "1 venue spike": "one of the oracle's three venues prints this much below the market",
    "stale feed": "the feed stops publishing while the market falls this much",
    "answer floor": "the market falls this much; the feed's floor (answer bounds, minimum 1,800 USD) rejects "
                    "every report below it",
}
#: The floor of the "answer floor" fault: 10 % below the opening 2,000 USD (a teaching value; Chainlink's
#: ``minAnswer`` rule, FACTS-mechanisms.md 2.1).
FLOOR_USD = 1800.0
FAULT_START = 60  # minute the fault begins
N_PLATFORMS = 5
N_STEPS = 240
SEED_MAX = 9999

#: The app opens with no fault (size 0): the learner predicts, then sets the size.
CONTROLS = {
    "kind": Control("fault", choices=tuple(FAULT_KINDS), default="bad report"),
    "size": Control("fault size", 0.0, 40.0, step=1, default=0.0, unit="%"),
    "minutes": Control("lasts", 1, 60, step=1, default=10, unit="min", integer=True),
    "sharing": Control("sharing (left)", 0.0, 1.0, step=0.2, default=1.0),
    "seed": Control("seed", 0, SEED_MAX, step=1, default=1, integer=True, kind="text"),
}


@dataclass(frozen=True)
class OnFeeds(FeedRule):
    """A feed rule applied to some feeds only (``Config.feed_rules`` applies to every feed).

    >>> ok = OnFeeds(AnswerBounds(min_answer=100.0), (0,))
    >>> ok.bind(0, None)(5, 99.0), ok.bind(1, None)(5, 99.0)
    (False, True)
    """

    rule: FeedRule
    feeds: tuple

    def bind(self, feed, world):
        if feed in self.feeds:
            return self.rule.bind(feed, world)
        return lambda t, candidate: True


def fault_config(kind="bad report", size=0.10, minutes=10, sharing=1.0, target="shared", base=None):
    """The lesson's Config: ``kind`` of fault of ``size`` (fraction) for ``minutes`` from minute 60.

    ``target="shared"`` puts the fault on oracle 0 (its venues 0-2) at the given
    ``sharing``; ``target="own"`` puts it on platform 1's own oracle (oracle 1,
    venues 3-5) with every platform on its own oracle (``sharing=0``). The
    fundamental is calm (a small random walk), except for ``"stale feed"``,
    where it falls by ``size`` over the fault window: a stale feed matters
    only when the market moves; and for ``"answer floor"``, where it falls the
    same way and the faulted oracle has answer bounds with a floor at
    :data:`FLOOR_USD` (MODEL.md §9: a report below it is not published, so the
    feed sticks at its last value above the floor while the market falls on).
    """
    if kind not in FAULT_KINDS:
        raise ValueError(f"kind must be one of {list(FAULT_KINDS)}; got {kind!r}")
    if target not in ("shared", "own"):
        raise ValueError(f"target must be one of ['shared', 'own']; got {target!r}")
    base = Config() if base is None else base
    t0, t1 = FAULT_START, FAULT_START + int(minutes)
    oracle = 0 if target == "shared" else 1
    venues = (0, 1, 2) if target == "shared" else (3, 4, 5)
    sharing = sharing if target == "shared" else 0.0
    scenario = GBMScenario(n_steps=N_STEPS, sigma=0.001)
    oracle_faults, venue_faults, feed_rules = (), (), ()
    if kind == "bad report":
        oracle_faults = (override(oracle, t0, t1, 1.0 - size),)
    elif kind == "2 venues spike":
        venue_faults = tuple(spike(v, t0, t1, 1.0 - size) for v in venues[:2])
    elif kind == "1 venue spike":
        venue_faults = (spike(venues[0], t0, t1, 1.0 - size),)
    elif size > 0:
        scenario = CrashScenario(n_steps=N_STEPS, depth=size, start=t0, duration=max(int(minutes), 1), sigma=0.001)
        if kind == "stale feed":
            oracle_faults = (stale(oracle, t0, t1),)
        else:
            feed_rules = (OnFeeds(AnswerBounds(min_answer=FLOOR_USD), (oracle,)),)
    return base.replace(scenario=scenario, n_platforms=N_PLATFORMS, sharing=sharing,
                        oracle_faults=oracle_faults, venue_faults=venue_faults, feed_rules=feed_rules)


def fault_runs(kind="bad report", size_pct=10.0, minutes=10, sharing=1.0, seed=1, base=None, run=None):
    """The four runs of the comparison: the fault on each side and the same runs without it.

    ``run(config, seed)`` runs one (default :func:`coupling_lab.simulate`; the app passes a cached one).
    """
    run = (lambda cfg, s: simulate(cfg, seed=s)) if run is None else run
    size = size_pct / 100.0
    if kind not in ("stale feed", "answer floor") and size >= 1:
        raise ValueError(f"size must be in [0, 100) per cent for a price fault; got {size_pct}")
    out = {}
    for target in ("shared", "own"):
        cfg = fault_config(kind, size, minutes, sharing, target, base)
        out[target] = run(cfg, seed)
        out[target + "_calm"] = run(cfg.replace(oracle_faults=(), venue_faults=(), feed_rules=()), seed)
    return out


def under_water(result):
    """USD of debt the collateral no longer covers at the market price at the end of the run.

    Summed over open accounts, ``max(d_i - c_i m_T, 0)``: bad debt a platform
    carries but has not written off, because it never liquidated the account
    (a feed stuck above the market, lesson 04 section 6).
    """
    m = float(result.market_t[-1])
    return float(sum(np.clip(d - c * m, 0.0, None).sum() for c, d in zip(result.collateral_k, result.debt_k)))


def panel_text(runs, target):
    """The note in one column's selling panel."""
    r, calm = runs[target], runs[target + "_calm"]
    sold_k = r.notional_tk.sum(axis=0)
    extra = r.measures.liquidated_usd - calm.measures.liquidated_usd
    sign = "+" if extra >= 0.05e6 else ("-" if extra <= -0.05e6 else "")
    return (f"sold: P1 {fmt_musd(sold_k[0])}, P2-P5 {fmt_musd(sold_k[1:].sum())}\n"
            f"({sign}{fmt_musd(abs(extra))} vs the same run without the fault)\n"
            f"bad debt {fmt_musd(r.measures.bad_debt, 2)}, under water {fmt_musd(under_water(r), 2)}")


READOUT_HEAD = ("fault on", "platforms liquidated", "sold (M USD)", "bad debt (M USD)",
                "bad debt by platform P1 · P2 · P3 · P4 · P5 (M USD)", "under water at the end (M USD)",
                "extra fall from forced selling")


def readout_rows(runs):
    rows = []
    for label, key in (("shared oracle 0", "shared"), ("P1's own oracle", "own")):
        r = runs[key]
        m = r.measures
        per = " · ".join(fmt_number(b / 1e6, 2) for b in m.bad_debt_k)
        rows.append((label, str(int((r.notional_tk.sum(axis=0) > 0).sum())), fmt_number(m.liquidated_usd / 1e6, 1),
                     fmt_number(m.bad_debt / 1e6, 2), per, fmt_number(under_water(r) / 1e6, 2),
                     fmt_pct(extra_fall(m.excess_drawdown))))
    return rows


def bad_debt_by_platform(runs):
    """A sentence: bad debt per platform, shared vs own."""

    parts = []
    for label, key in (("On the shared oracle", "shared"), ("On P1's own oracle", "own")):
        per = ", ".join(f"P{k + 1} {fmt_number(b / 1e6, 2)}" for k, b in enumerate(runs[key].measures.bad_debt_k))
        parts.append(f"{label}: {per} (M USD).")
    return Sentence("\n".join(parts))


def bad_report_quoted(seed=1):
    """The numbers the findings of the prediction quote: a 10 % bad report for 10 minutes, shared vs own."""
    runs = fault_runs("bad report", 10, 10, 1.0, seed=seed)
    shared, own = runs["shared"].measures, runs["own"].measures
    sold_own = runs["own"].notional_tk.sum(axis=0)
    return {"shared_sold": fmt_musd(shared.liquidated_usd), "shared_bad": fmt_musd(shared.bad_debt),
            "own_sold": fmt_musd(own.liquidated_usd), "own_bad": fmt_musd(own.bad_debt, 2),
            "own_p1_share": fmt_pct(sold_own[0] / sold_own.sum(), 0),
            "times": fmt_number(shared.liquidated_usd / own.liquidated_usd, 0),
            "spread": _spread(sum(b > 0.005e6 for b in shared.bad_debt_k))}


def _spread(n):
    return f"spread over all {N_PLATFORMS} platforms" if n == N_PLATFORMS else f"on {n} of the {N_PLATFORMS} platforms"


def bad_report_findings(seed=1):
    """What the 10 % bad report does with ``seed`` (revealed once the prediction is checked)."""
    q = bad_report_quoted(seed)
    return Prose(
        f"**Seed {seed}.** The 10 % bad report on the shared oracle sells **{q['shared_sold']}** and leaves "
        f"**{q['shared_bad']}** of bad debt, {q['spread']}. On P1's own "
        f"oracle it sells **{q['own_sold']}**, {q['own_p1_share']} of it P1's, and leaves {q['own_bad']} of bad "
        f"debt. The shared oracle sells **{q['times']} times** as much: far more than five platforms' worth, because "
        "their combined selling moves the market itself and the damage outlives the bad report.")


def floor_summary(runs):
    """Sentences on an "answer floor" run: where the shared feed stuck, sales and debt under water, shared vs own."""
    r, calm, own = runs["shared"], runs["shared_calm"], runs["own"]
    stuck = float(r.oracle_tj[-1, 0])
    return Sentence(
        f"The shared feed stuck at {fmt_number(stuck, 0)} USD while the market ended at "
        f"{fmt_number(float(r.market_t[-1]), 0)} USD.\n"
        f"Floor on the shared feed: the platforms sold {fmt_musd(r.measures.liquidated_usd)} "
        f"(without the floor {fmt_musd(calm.measures.liquidated_usd)}) and are left with "
        f"{fmt_musd(under_water(r), 1)} of debt under water.\n"
        f"Floor on P1's own feed: {fmt_musd(under_water(own), 1)} under water, all of it P1's.")


def describe_kinds():
    """The lesson's fault kinds and what "size" means for each, one line each."""
    return Sentence("\n".join(f"{kind}: size = {meaning}." for kind, meaning in FAULT_KINDS.items()))
