"""Lesson 01, one margin engine: a small book on one platform, the learner moves the price.

The run is fully explicit (:func:`coupling_lab.build` with a hand-written
:class:`~coupling_lab.Book` and a replayed price path, then
:func:`coupling_lab.run`): the price sits at ``PRICE0`` at step 0, falls in
a straight line to the learner's price over ``fall_steps`` steps (1 step is a
gap, as in a fast crash) and stays there, so the learner can watch each
liquidation round. The oracle publishes every step with no threshold or
delay and the market is very deep: this lesson is about the margin engine alone.
"""
from __future__ import annotations

import numpy as np

from ..accounts import Book
from ..margin import PlatformParams, health, liquidation_price
from ..market import MarketParams
from ..oracles import OracleParams
from ..scenarios import ReplayScenario
from ..simulation import Config, build, run
from .controls import Control
from .text import Sentence, fmt_usd

__all__ = ["PRICE0", "N_STEPS", "MAX_FALL_STEPS", "LT", "STATES", "CONTROLS", "classroom_book", "engine_path",
           "engine_run", "balances_at", "keeper_bonus_at", "account_states", "partial_health",
           "partial_lowers_health_below",
           "book_state", "ledger_rows", "ledger_totals", "bad_debt_sentence"]

PRICE0 = 2000.0
N_STEPS = 12
MAX_FALL_STEPS = 8
LT = 0.8

#: A small book at PRICE0 = 2000 USD: collateral (units) and initial health.
_COLLATERAL = np.array([10.0, 4.0, 25.0, 6.0, 12.0, 3.0, 8.0, 15.0])
_HEALTH0 = np.array([1.60, 1.35, 1.22, 1.15, 1.10, 1.06, 1.03, 1.01])

STATES = ("safe", "liquidatable", "below h_full", "closed", "closed with bad debt")

CONTROLS = {
    "price": Control("price after the fall", 1000.0, 2200.0, step=10, default=1700.0, unit="USD", fmt=".0f"),
    "step": Control("show step", 0, N_STEPS - 1, step=1, default=0, integer=True),
    "fall_steps": Control("fall lasts", 1, MAX_FALL_STEPS, step=1, default=6, unit="steps", integer=True),
    "close_factor": Control("close factor f", 0.05, 1.0, step=0.05, default=0.5),
    "bonus": Control("bonus b", 0.0, 0.25, step=0.01, default=0.05),
    "h_full": Control("full liquidation below h_full", 0.0, 1.0, step=0.05, default=0.95),
}


def classroom_book():
    """Eight accounts whose health at 2000 USD runs from 1.60 down to 1.01 (debt ``c * p0 * LT / h``)."""
    return Book(_COLLATERAL, _COLLATERAL * PRICE0 * LT / _HEALTH0)


def engine_path(price, fall_steps=6):
    """Prices per step (USD): PRICE0 at step 0, a straight fall to ``price`` reached at step ``fall_steps``,
    then flat."""
    frac = np.clip(np.arange(N_STEPS) / fall_steps, 0.0, 1.0)
    return PRICE0 + (float(price) - PRICE0) * frac


def engine_run(price, platform=None, book=None, fall_steps=6):
    """One platform, one oracle that follows the price exactly, a market too deep to move."""
    platform = PlatformParams() if platform is None else platform
    book = classroom_book() if book is None else book
    config = Config(scenario=ReplayScenario(engine_path(price, fall_steps)), n_platforms=1, sharing=1.0,
                    platform=platform, shared_oracle=OracleParams(theta=0.0, heartbeat=1, latency=0),
                    market=MarketParams(depth=1e15, resilience=1.0), venue_sigma=0.0)
    world = build(config, seed=0, books=book)
    return run(world)


def balances_at(result, step):
    """Collateral (units), debt (USD), seized (units), repaid and bad debt (USD) per account after ``step``
    (``step = -1``: the initial book).

    Book-keeping from the run's event log: initial balances minus every
    liquidation up to and including ``step``.
    """
    book = result.world.books[0]
    ev = result.events
    upto = ev["t"] <= step
    n = book.n_accounts
    acc = ev["account"][upto]
    seized = np.bincount(acc, weights=ev["seized_units"][upto], minlength=n)
    repaid = np.bincount(acc, weights=ev["repaid_usd"][upto], minlength=n)
    bad = np.bincount(acc, weights=ev["bad_debt_usd"][upto], minlength=n)
    collateral = np.maximum(book.collateral - seized, 0.0)
    debt = np.maximum(book.debt - repaid - bad, 0.0)
    return collateral, debt, seized, repaid, bad


def keeper_bonus_at(result, step):
    """USD the keepers gained per account up to and including ``step``: the collateral seized valued at the
    oracle price *of each liquidation*, minus the debt it repaid (``repaid * b`` per liquidation, never negative)."""
    book = result.world.books[0]
    ev = result.events
    upto = ev["t"] <= step
    gain = ev["seized_units"][upto] * ev["oracle_price"][upto] - ev["repaid_usd"][upto]
    return np.bincount(ev["account"][upto], weights=gain, minlength=book.n_accounts)


def account_states(collateral, debt, bad, price, params):
    """Each account's health at ``price`` and its state (one of :data:`STATES`)."""
    h = health(collateral, debt, price, params.lt)
    state = np.where(debt <= 0, np.where(bad > 0, "closed with bad debt", "closed"),
                     np.where(h >= 1, "safe", np.where(h < params.h_full, "below h_full", "liquidatable")))
    return h, state


def partial_health(h, close_factor=0.5, bonus=0.05, lt=LT):
    """Health after one partial liquidation of an account at health ``h`` (same price):
    ``h' = (h - f (1 + b) LT) / (1 - f)``."""
    f = float(close_factor)
    return (np.asarray(h, float) - f * (1.0 + bonus) * lt) / (1.0 - f)


def partial_lowers_health_below(bonus=0.05, lt=LT):
    """The health below which a partial liquidation *lowers* health: ``h' < h`` exactly when ``h < LT (1 + b)``
    (whatever the close factor ``f < 1``)."""
    return lt * (1.0 + bonus)


def book_state(price, step, fall_steps=6, close_factor=0.5, bonus=0.05, h_full=0.95):
    """The lesson's run and the book before ``step``'s round at that step's price (a dict)."""
    platform = PlatformParams(lt=LT, close_factor=close_factor, bonus=bonus, h_full=h_full)
    result = engine_run(price, platform, fall_steps=fall_steps)
    price_now = float(result.price_tk[step, 0])
    # balances before this step's round, at this step's price: who is about to be liquidated
    collateral, debt, seized, repaid, bad = balances_at(result, step - 1)
    h, state = account_states(collateral, debt, bad, price_now, platform)
    return dict(result=result, step=step, price=price_now, platform=platform, collateral=collateral, debt=debt,
                seized=seized, repaid=repaid, bad=bad, health=h, state=state,
                bonus_usd=keeper_bonus_at(result, step - 1))


LEDGER_HEAD = ("account", "collateral at start (units)", "debt at start (USD)", "p* at start (USD)",
               "collateral now (units)", "debt now (USD)", "health now", "repaid (USD)", "bad debt (USD)", "state")


def ledger_rows(s):
    """One row of formatted text per account (columns :data:`LEDGER_HEAD`) for a :func:`book_state`."""
    book = s["result"].world.books[0]
    pstar = liquidation_price(book.collateral, book.debt, s["platform"].lt)
    rows = []
    for k in range(book.n_accounts):
        h = s["health"][k]
        rows.append((f"A{k + 1}", f"{book.collateral[k]:.1f}", f"{book.debt[k]:,.0f}", f"{pstar[k]:,.0f}",
                     f"{s['collateral'][k]:.2f}", f"{s['debt'][k]:,.0f}", "—" if not np.isfinite(h) else f"{h:.2f}",
                     f"{s['repaid'][k]:,.0f}", f"{s['bad'][k]:,.0f}", str(s["state"][k])))
    return rows


def ledger_totals(s):
    """The totals line under the ledger."""
    return (f"Before step {s['step']}'s round, so far: repaid {fmt_usd(s['repaid'].sum())}; "
            f"collateral seized {s['seized'].sum():.2f} units; bonus to keepers {fmt_usd(s['bonus_usd'].sum())} "
            f"(the seized collateral at the price of each liquidation, minus the debt it repaid); "
            f"bad debt {fmt_usd(s['bad'].sum())}.")


def bad_debt_sentence(s):
    """A sentence on the bad debt of a :func:`book_state` after its last step."""
    result = s["result"]
    bad = result.events["bad_debt_usd"]
    accounts = sorted({int(a) + 1 for a in result.events["account"][bad > 0]})
    who = ", ".join(f"A{a}" for a in accounts) if accounts else "no account"
    return Sentence(f"After the fall to {fmt_usd(result.price_tk[-1, 0])}: bad debt {fmt_usd(bad.sum())} "
                    f"in total, left by {who}.")
