"""Lesson 09, isolated or cross margin: one trader's portfolio under both modes in the same crash.

The world is :func:`coupling_lab.perp_scenarios.margin_modes_world`: asset 0
falls ``crash`` over two hours from minute 60, asset 1 follows it 0.6 of the
way (in log), a perp venue lists both, and a lending platform's 1,000
borrowers hold asset 1 as collateral. The featured trader (account 0 of the
venue) holds ``size`` times a base portfolio:

- ``"pair"``: long 100,000 USD of asset 0 and short 100,000 USD of asset 1,
  5x on each leg (20,000 USD margin per leg);
- ``"blown"``: long 1 M USD of asset 0 on 100,000 USD (10x) and long
  500,000 USD of asset 1 on 250,000 USD (2x).

Every run is cached: a control change re-runs at most the two modes.
"""
from __future__ import annotations

import functools

import numpy as np

from ..loop import run
from ..perp_scenarios import FEATURED, margin_modes_world
from .controls import Control
from .text import Sentence, fmt_musd, fmt_pct

__all__ = ["CONTROLS", "MODES", "PORTFOLIOS", "BASE", "modes_run", "featured_path", "outcome", "asset1_effect",
           "outcome_sentence", "asset1_sentence", "prediction_rows", "base_text"]

MODES = ("cross", "isolated")
PORTFOLIOS = ("pair", "blown")
#: the base portfolios (USD notional, USD margin per leg), times ``size``
BASE = {"pair": dict(long0=100_000.0, long1=-100_000.0, margin0=20_000.0, margin1=20_000.0),
        "blown": dict(long0=1_000_000.0, long1=500_000.0, margin0=100_000.0, margin1=250_000.0)}
CONTROLS = {
    "crash": Control("crash of asset 0", 10, 45, step=5, default=30, unit="%", integer=True),
    "portfolio": Control("your portfolio", choices=PORTFOLIOS, default="pair"),
    "size": Control("portfolio size", 1, 30, step=1, default=20, unit="× the base portfolio", integer=True),
}
WINDOW = 30  # minutes after the featured close over which the lending platform's liquidations are compared


@functools.lru_cache(maxsize=32)  # about 0.6 MB per entry
def modes_run(portfolio="pair", crash=30, size=20, seed=0):
    """``{mode: Result}`` of the same crash (``crash`` per cent) with the featured trader in each margin mode."""
    CONTROLS["portfolio"].read("portfolio", portfolio)
    CONTROLS["crash"].read("crash", crash)
    CONTROLS["size"].read("size", size)
    return {mode: run(margin_modes_world(mode, portfolio, seed=seed, crash=crash / 100.0, scale=float(size)))
            for mode in MODES}


def _marks(result):
    """(T, 2) marks the perp venue (platform 0) reads for assets 0 and 1."""
    cols = [next(c for c, (k, a, _f) in enumerate(result.reads) if k == 0 and a == asset) for asset in (0, 1)]
    return result.read_tr[:, cols]


def _featured_events(result):
    ev = result.events_by_kind.get("perp", {})
    if not ev:
        return []
    sel = np.flatnonzero((ev["platform"] == 0) & (ev["account"] == FEATURED))
    return [dict(t=int(ev["t"][i]), asset=int(ev["asset"][i]), equity=float(ev["equity_after_usd"][i]),
                 fee=float(ev["fee_usd"][i]), notional=float(ev["notional_usd"][i])) for i in sel]


def featured_path(result):
    """USD, shape (T, 2): what each leg of the featured trader is worth at every step (margin plus
    unrealised PnL while open; after a close, what the trader keeps). A cross close counts once, in column 0."""
    book = result.world.books[0]
    q, m = book.position[FEATURED, :2], book.margin[FEATURED, :2]
    P = _marks(result)
    legs = m[None, :] + q[None, :] * (P - P[0])
    for e in _featured_events(result):
        kept = max(e["equity"] - e["fee"], 0.0)
        if e["asset"] < 0:                       # a cross account: both legs closed together
            legs[e["t"]:, 0], legs[e["t"]:, 1] = kept, 0.0
        else:
            legs[e["t"]:, e["asset"]] = kept
    return legs


def outcome(result):
    """The featured trader's run: ``closed`` (list of (minute, what)), ``lowest`` and ``final`` (USD), ``start``."""
    path = featured_path(result).sum(axis=1)
    closed = [(e["t"], "the whole account" if e["asset"] < 0 else f"the asset {e['asset']} leg")
              for e in _featured_events(result)]
    return dict(closed=closed, lowest=float(path.min()), final=float(path[-1]), start=float(path[0]))


def asset1_effect(runs):
    """What the cross close does to asset 1 and its lending platform, against the isolated run.

    Returns ``t`` (the cross close's minute, or None), ``extra_sold`` (USD of asset 1 sold that
    minute beyond the isolated run's), ``price_gap`` (asset 1's market, isolated over cross, minus 1,
    at its widest in the ``WINDOW`` minutes after), ``borrowers`` (lending liquidations in those minutes,
    per mode) and ``total`` (lending liquidations over the run, per mode).
    """
    cross, iso = runs["cross"], runs["isolated"]
    closes = [e["t"] for e in _featured_events(cross) if e["asset"] < 0]
    total = {mode: int(r.count_tk[:, 1].sum()) for mode, r in runs.items()}
    if not closes:
        return dict(t=None, extra_sold=0.0, price_gap=0.0, borrowers=None, total=total)
    t = closes[0]
    w = slice(t, min(t + WINDOW, cross.n_steps))
    gap = float(np.max(iso.market_ta[w, 1] / cross.market_ta[w, 1] - 1.0))
    borrowers = {mode: int(r.count_tk[w, 1].sum()) for mode, r in runs.items()}
    return dict(t=t, extra_sold=float(cross.flow_ta[t, 1] - iso.flow_ta[t, 1]), price_gap=gap,
                borrowers=borrowers, total=total)


def _musd(x):
    return fmt_musd(x, 2)


def outcome_sentence(mode, out):
    """One sentence: what happened to the featured trader in ``mode``."""
    if out["closed"]:
        what = "; ".join(f"{w} closed at minute {t}" for t, w in out["closed"])
        return Sentence(f"{mode.capitalize()} margin: {what}. The trader started with {_musd(out['start'])} and "
                        f"ends with {_musd(out['final'])}.")
    return Sentence(f"{mode.capitalize()} margin: nothing is liquidated. The portfolio is worth {_musd(out['lowest'])} "
                    f"at its lowest and {_musd(out['final'])} at the end, from {_musd(out['start'])}.")


def asset1_sentence(effect):
    """One sentence: how far the cross close reaches into asset 1 and its lending platform."""
    if effect["t"] is None:
        return Sentence("The cross account is not liquidated in this crash, so it sells no asset 1: the two modes "
                        f"leave asset 1's lending platform alike ({effect['total']['cross']:,} borrowers liquidated "
                        f"under cross, {effect['total']['isolated']:,} under isolated).")
    b = effect["borrowers"]
    return Sentence(f"The cross close at minute {effect['t']} sells {_musd(effect['extra_sold'])} more of asset 1 than "
                    f"the isolated run; asset 1's market is up to {fmt_pct(effect['price_gap'], 2)} lower in the next "
                    f"{WINDOW} minutes, and the lending platform on asset 1 liquidates {b['cross']:,} borrowers in "
                    f"those minutes against {b['isolated']:,} in the isolated run ({effect['total']['cross']:,} "
                    f"against {effect['total']['isolated']:,} over the whole run).")


def prediction_rows(portfolio="pair", crash=30, size=20):
    """(mode, sentence) rows for the reveal after the prediction."""
    runs = modes_run(portfolio, crash, size)
    return [(mode, str(outcome_sentence(mode, outcome(runs[mode])))) for mode in MODES]


def base_text(portfolio, size):
    """The featured portfolio at ``size`` as a sentence fragment."""
    b = BASE[portfolio]
    side1 = "long" if b["long1"] > 0 else "short"
    return (f"long {_musd(size * b['long0'])} of asset 0 on {_musd(size * b['margin0'])} of margin and {side1} "
            f"{_musd(size * abs(b['long1']))} of asset 1 on {_musd(size * b['margin1'])}")
