"""Lesson 03, depth and cascades: the same book sold into a thin or deep market,
by one platform alone, by five on their own oracles, by five on one shared oracle."""
from __future__ import annotations

import math

import numpy as np

from ..market import MarketParams, next_kappa
from ..scenarios import CrashScenario
from ..simulation import Config, simulate
from .controls import Control
from .text import Prose, Sentence, fmt_number, fmt_pct

__all__ = ["DESIGNS", "SEED_MAX", "CONTROLS", "NOISE_SIGMA", "cascade_config", "design_run", "design_runs",
           "falls", "readout_rows", "depth_sweep", "impact_example", "FINDINGS_DEPTH", "cascade_quoted",
           "cascade_findings"]

#: The three designs compared in every panel: (label, n_platforms, sharing).
DESIGNS = (
    ("one platform alone", 1, 1.0),
    ("5 platforms, own oracles", 5, 0.0),
    ("5 platforms, one shared oracle", 5, 1.0),
)
SEED_MAX = 9999
#: Per-minute log noise of the fundamental around the crash (CrashScenario's default): the
#: path's own fall is the crash plus this wiggle, so it reads a little more than the slider.
NOISE_SIGMA = 0.001

CONTROLS = {
    "depth": Control("market depth D", 20.0, 1000.0, step=10, default=400.0, unit="M USD"),
    "resilience": Control("resilience ρ", 0.0, 1.0, step=0.05, default=0.1, unit="per min"),
    "drop": Control("crash of the fundamental", 0.0, 30.0, step=1, default=6.0, unit="%"),
    "seed": Control("seed", 0, SEED_MAX, step=1, default=1, integer=True, kind="text"),
}


def cascade_config(depth_musd=150.0, resilience=0.1, drop=0.06, n_platforms=5, sharing=1.0):
    """The lesson's scenario: a ``drop`` fall of the fundamental over 5 minutes, starting at minute 30.

    Every platform holds the same drawn book (``identical_books``), so the
    five-platform designs hold exactly five times the book of the one alone.
    The classroom calibration (150 M USD, 10 % resilience per minute, a 6 %
    fall) is where, over seeds 0-9, one platform alone adds about 1 % to the
    fall, five on their own oracles mostly a few per cent, and five on one
    shared oracle mostly run away (checked in ``tests/test_lessons_3_6.py``).
    """
    return Config(
        scenario=CrashScenario(n_steps=240, depth=drop, start=30, duration=5, sigma=NOISE_SIGMA),
        n_platforms=n_platforms, sharing=sharing, identical_books=True,
        market=MarketParams(depth=depth_musd * 1e6, resilience=resilience),
    )


def design_run(depth, resilience, drop_pct, n_platforms, sharing, seed):
    """One design's run (depth in M USD, the drop in per cent, as the controls give them)."""
    return simulate(cascade_config(depth, resilience, drop_pct / 100.0, n_platforms, sharing), seed=seed)


def design_runs(depth=400.0, resilience=0.1, drop=6.0, seed=1):
    """The three designs' runs, in :data:`DESIGNS` order."""
    return [design_run(depth, resilience, drop, n, sharing, seed) for _, n, sharing in DESIGNS]


def falls(result):
    """(fundamental fall, total market fall) as fractions of the starting price."""
    p0 = math.exp(result.x_t[0])
    fundamental = 1.0 - math.exp(result.x_t.min()) / p0
    total = 1.0 - result.market_t.min() / p0
    return fundamental, total


READOUT_HEAD = ("design", "fall of the fundamental (crash + noise)", "market fall",
                "excess drawdown max κ (log units)", "sold (M USD)", "bad debt (M USD)")


def readout_rows(runs):
    """One formatted row per design (columns :data:`READOUT_HEAD`): falls in per cent of the
    starting price, the excess drawdown in log units (0.05 is about a 5 % lower price)."""
    rows = []
    for (label, *_), r in zip(DESIGNS, runs):
        m = r.measures
        fundamental, total = falls(r)
        rows.append((label, fmt_pct(fundamental), fmt_pct(total), fmt_number(m.excess_drawdown, 3),
                     fmt_number(m.liquidated_usd / 1e6, 1), fmt_number(m.bad_debt / 1e6, 2)))
    return rows


def depth_sweep(depths_musd, seeds, resilience=0.1, drop=0.06):
    """Excess drawdown (max κ) for each design, depth and seed.

    Returns
    -------
    ndarray, shape (len(DESIGNS), len(depths_musd), len(seeds)), log units
    """
    out = np.empty((len(DESIGNS), len(depths_musd), len(seeds)))
    for i, (_, n, sharing) in enumerate(DESIGNS):
        for j, depth in enumerate(depths_musd):
            cfg = cascade_config(float(depth), resilience, drop, n, sharing)
            for s, seed in enumerate(seeds):
                out[i, j, s] = simulate(cfg, seed=int(seed)).measures.excess_drawdown
    return out


def impact_example(depth_musd=150.0, sold_musd=1.5, resilience=0.1):
    """Equation (1) by hand: the impact after one minute's sale and one minute later, as a sentence."""
    market = MarketParams(depth=depth_musd * 1e6, resilience=resilience)
    k1 = next_kappa(0.0, sold_musd * 1e6, market)
    k2 = next_kappa(k1, 0.0, market)
    return Sentence(
        f"Selling {fmt_number(sold_musd, 1)} M USD in one minute into a market {fmt_number(depth_musd, 0)} M USD deep "
        f"raises the impact to κ = {fmt_number(k1, 4)} (log units): the price is {fmt_pct(-math.expm1(-k1), 2)} "
        f"lower. A minute later, with ρ = {fmt_number(resilience, 1)}, κ = {fmt_number(k2, 4)}: "
        f"{fmt_pct(-math.expm1(-k2), 2)} lower, {fmt_pct(k2 / k1, 0)} of the impact still there.")


#: The depth the prediction asks about (M USD); the findings revealed after its Check are the runs there.
FINDINGS_DEPTH = 150.0


def cascade_quoted(seed=1, depth=FINDINGS_DEPTH):
    """The numbers the findings quote, formatted as they read: the three designs at ``depth``, 6 % crash."""
    alone, own, shared = design_runs(depth=depth, resilience=0.1, drop=6.0, seed=seed)
    fundamental, total = falls(shared)
    return {"shared_kappa": fmt_number(shared.measures.excess_drawdown, 2), "shared_fall": fmt_pct(total),
            "fundamental_fall": fmt_pct(fundamental), "alone_kappa": fmt_number(alone.measures.excess_drawdown, 3),
            "own_kappa": fmt_number(own.measures.excess_drawdown, 2), "own_fall": fmt_pct(falls(own)[1])}


def cascade_findings(seed=1, depth=FINDINGS_DEPTH):
    """What the three designs do at ``depth`` with ``seed`` (revealed once the prediction is checked)."""
    q = cascade_quoted(seed, depth)
    return Prose(
        f"**Depth {fmt_number(depth, 0)} M USD, seed {seed}.** The shared design's excess drawdown (max κ) is close "
        f"to 1 log unit: **{q['shared_kappa']}**; the market falls **{q['shared_fall']}** from its start, against "
        f"{q['fundamental_fall']} for the fundamental. The platform alone stays below 0.01 ({q['alone_kappa']}). The "
        f"five platforms on their own oracles stay small too with this seed ({q['own_kappa']}; the market falls "
        f"{q['own_fall']}): their oracles update at slightly different minutes (thresholds of 0.5–2 %, latency 0–3 "
        "minutes), so each round of their selling is smaller and the market heals a little between them."
        "\n\n"
        "That is the coupling: **no single platform's risk team would see a problem in its own book** — its own "
        "sales move the price by less than 1 % — yet together, reading the same price, the platforms start a "
        "cascade.")
