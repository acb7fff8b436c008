"""Lesson 08, the trader's view: what the runs over many seeds show (revealed after the prediction).

The model is :mod:`coupling_lab.trader`; the widget apps are in
:mod:`coupling_lab.ui.traders_view`. This module turns the odds over
:data:`QUOTED_SEEDS` into the text the lesson shows once the learner has
checked the prediction. Those runs take a few seconds, too long to run when
a learner presses Check, so the figures are kept as data (:data:`QUOTED`)
and ``tests/test_trader.py`` recomputes them.
"""
from __future__ import annotations

from ..simulation import Config
from ..trader import LIVE_SEEDS, Position, cascade_odds
from .text import Prose, fmt_number

__all__ = ["QUOTED_SEEDS", "QUOTED", "QUOTED_HEALTH", "QUOTED_SAFETY", "quoted_odds", "quoted_figures",
           "runs_findings"]

PRICE0 = Config().scenario.price0  # USD, the classroom crash's starting price (2000)
LT = Config().platform.lt           # the classroom platforms' liquidation threshold (0.8)

#: The seeds, the health at entry and the safety the findings quote
QUOTED_SEEDS = range(1, 41)
QUOTED_HEALTH = 1.50
QUOTED_SAFETY = 0.9


def quoted_odds(seeds=QUOTED_SEEDS):
    """``{"shared": Odds, "own": Odds}`` of a position on P1 reading the shared feed or its own (2 x 3 runs a seed)."""
    return {feed: cascade_odds(0, feed, seeds=seeds) for feed in ("shared", "own")}


def _of(share, n):
    return f"{round(share * n)} of {n}"


def quoted_figures(odds, health=QUOTED_HEALTH, safety=QUOTED_SAFETY):
    """The numbers the findings quote, formatted, from :func:`quoted_odds`."""
    sh, own = odds["shared"], odds["own"]
    n = len(sh.seeds)
    hs, hi, hc = (sh.safe_health(safety, c) for c in ("shared", "independent", "no cascade"))
    pstar = Position(10.0, 10.0 * PRICE0 * LT / health).liquidation_price(LT)
    return {
        "runs": str(n), "seeds": f"{sh.seeds[0]}–{sh.seeds[-1]}", "health": f"{health:.2f}",
        "pstar": fmt_number(pstar, 0), "safety": f"{round(safety * 10)} runs out of 10",
        "caught_shared": _of(sh.caught(health, "shared"), n), "caught_indep": _of(sh.caught(health, "independent"), n),
        "caught_calm": _of(sh.caught(health, "no cascade"), n),
        "safe_shared": f"{hs:.2f}", "safe_indep": f"{hi:.2f}", "safe_calm": f"{hc:.2f}",
        "buffer": f"{sh.extra_buffer(safety):.2f}",
        "price_shared": fmt_number(PRICE0 / hs, 0), "price_indep": fmt_number(PRICE0 / hi, 0),
        "price_gap": fmt_number(PRICE0 / hi - PRICE0 / hs, 0),
        "own_caught": _of(own.caught(health, "shared"), n), "own_safe": f"{own.safe_health(safety, 'shared'):.2f}",
    }


#: :func:`quoted_figures` of :func:`quoted_odds` over :data:`QUOTED_SEEDS` (checked by ``tests/test_trader.py``)
QUOTED = {
    "runs": "40", "seeds": "1–40", "health": "1.50", "pstar": "1,333", "safety": "9 runs out of 10",
    "caught_shared": "29 of 40", "caught_indep": "14 of 40", "caught_calm": "0 of 40",
    "safe_shared": "1.57", "safe_indep": "1.52", "safe_calm": "1.48", "buffer": "0.05",
    "price_shared": "1,272", "price_indep": "1,316", "price_gap": "43",
    "own_caught": "18 of 40", "own_safe": "1.57",
}


def runs_findings(quoted=None):
    """What the runs show for a position on P1 (revealed after the lesson's prediction).

    ``quoted``: a :func:`quoted_figures` dict (default :data:`QUOTED`)."""
    q = QUOTED if quoted is None else quoted
    caught_shared = q["caught_shared"].split(" of ")[0]
    return Prose(
        f"**Over {q['runs']} runs** (seeds {q['seeds']}; the app shows {len(LIVE_SEEDS)} to stay fast), a position on "
        "P1 reading the shared feed:\n\n"
        f"- with **health {q['health']}** at entry (liquidation price {q['pstar']} USD, a third below the start and "
        f"below anything the crash reaches by itself) is liquidated in **{q['caught_shared']}** runs when every "
        f"platform shares the feed, in **{q['caught_indep']}** when each reads its own, and in "
        f"**{q['caught_calm']}** without the forced selling;\n"
        f"- to be safe in **{q['safety']}** it needs health **{q['safe_shared']}** when the feeds are shared, "
        f"**{q['safe_indep']}** when they are independent, and {q['safe_calm']} without the cascade: shared feeds "
        f"ask about **{q['buffer']} of health on top**, a liquidation price about {q['price_gap']} USD lower "
        f"({q['price_shared']} against {q['price_indep']} USD).\n\n"
        "Reading your own feed while the crowd shares one does not take you out of the cascade: the crowd's "
        "selling moves the market, and every feed reads the market. On P1's own feed the position at health "
        f"{q['health']} is caught in {q['own_caught']} runs instead of {caught_shared} (a slower feed can skip a "
        f"short dip), but to be safe in {q['safety'].replace(' runs out of ', ' of ')} it still needs health "
        f"{q['own_safe']}.\n\n"
        f"**Rule 1 below, in this crash's numbers:** sized for the fall alone, the position needs health "
        f"{q['safe_calm']}; with the crowd's cascade, {q['safe_calm']} became {q['safe_indep']} with independent "
        f"feeds and {q['safe_shared']} with a shared one.")
