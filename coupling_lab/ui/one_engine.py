"""Lesson 01, one margin engine: a small book on one platform, the learner moves the price.

The run is fully explicit (:func:`coupling_lab.build` with a hand-written
:class:`~coupling_lab.Book` and a replayed price path, then
:func:`coupling_lab.run`): the price sits at ``PRICE0`` at step 0, falls in
a straight line to the learner's price over ``fall_steps`` steps (1 step is a
gap, as in a fast crash) and stays there, so the learner can watch each
liquidation round. The
oracle publishes every step with no threshold or delay and the market is
very deep: this lesson is about the margin engine alone.
"""
from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np
from matplotlib.lines import Line2D

from ..accounts import Book
from ..margin import PlatformParams, health, liquidation_price
from ..market import MarketParams
from ..oracles import OracleParams
from ..scenarios import ReplayScenario
from ..simulation import Config, build, run
from ._common import FUNDAMENTAL_COLOR, PALETTE, platform_color, stable_limits, style_axes
from .app import Bound, LessonApp, main_slider, new_figure

__all__ = ["PRICE0", "N_STEPS", "classroom_book", "engine_path", "engine_run", "balances_at", "account_states",
           "OneEngine"]

PRICE0 = 2000.0
N_STEPS = 12
MAX_FALL_STEPS = 8
LT = 0.8

#: A small book at PRICE0 = 2000 USD: collateral (units) and initial health.
_COLLATERAL = np.array([10.0, 4.0, 25.0, 6.0, 12.0, 3.0, 8.0, 15.0])
_HEALTH0 = np.array([1.60, 1.35, 1.22, 1.15, 1.10, 1.06, 1.03, 1.01])

STATES = ("safe", "liquidatable", "below h_full", "closed", "closed with bad debt")
STATE_COLORS = {"safe": PALETTE[2], "liquidatable": PALETTE[1], "below h_full": PALETTE[5],
                "closed": "#DDDDDD", "closed with bad debt": "#333333"}


def classroom_book():
    """Eight accounts whose health at 2000 USD runs from 1.60 down to 1.01 (debt ``c * p0 * LT / h``)."""
    return Book(_COLLATERAL, _COLLATERAL * PRICE0 * LT / _HEALTH0)


def engine_path(price, fall_steps=6):
    """Prices per step (USD): PRICE0 at step 0, a straight fall to ``price`` reached at step ``fall_steps``, then flat."""
    frac = np.clip(np.arange(N_STEPS) / fall_steps, 0.0, 1.0)
    return PRICE0 + (float(price) - PRICE0) * frac


def engine_run(price, platform=None, book=None, fall_steps=6):
    """One platform, one oracle that follows the price exactly, a market too deep to move."""
    platform = PlatformParams() if platform is None else platform
    book = classroom_book() if book is None else book
    config = Config(scenario=ReplayScenario(engine_path(price, fall_steps)), n_platforms=1, sharing=1.0, platform=platform,
                    shared_oracle=OracleParams(theta=0.0, heartbeat=1, latency=0),
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


def account_states(collateral, debt, bad, price, params):
    """Each account's health at ``price`` and its state (one of :data:`STATES`)."""
    h = health(collateral, debt, price, params.lt)
    state = np.where(debt <= 0, np.where(bad > 0, "closed with bad debt", "closed"),
                     np.where(h >= 1, "safe", np.where(h < params.h_full, "below h_full", "liquidatable")))
    return h, state


class OneEngine(LessonApp):
    """Eight accounts on one platform; move the price and watch each liquidation round.

    Controls: ``price`` (main: where the price gaps to, USD), ``step`` (which
    step's balances to show), ``close_factor``, ``bonus``, ``h_full``.
    """

    bounds = {
        "price": Bound(1000.0, 2200.0),
        "step": Bound(0, N_STEPS - 1, integer=True),
        "fall_steps": Bound(1, MAX_FALL_STEPS, integer=True),
        "close_factor": Bound(0.05, 1.0),
        "bonus": Bound(0.0, 0.25),
        "h_full": Bound(0.0, 1.0),
    }

    def __init__(self, price=1700.0, step=3, fall_steps=6, close_factor=0.5, bonus=0.05, h_full=0.95):
        self._init = dict(price=price, step=step, fall_steps=fall_steps, close_factor=close_factor, bonus=bonus,
                          h_full=h_full)
        self.table = widgets.HTML("")
        super().__init__()

    def build_controls(self):
        i = self._init
        style = {"description_width": "initial"}
        wide = widgets.Layout(width="380px")
        return {
            "price": main_slider(widgets.FloatSlider(value=i["price"], min=1000, max=2200, step=10,
                                                     description="price after the fall (USD)", readout_format=".0f",
                                                     continuous_update=False, style=style, layout=wide)),
            "step": widgets.IntSlider(value=i["step"], min=0, max=N_STEPS - 1, description="show step",
                                      continuous_update=False, style=style, layout=widgets.Layout(width="300px")),
            "fall_steps": widgets.IntSlider(value=i["fall_steps"], min=1, max=MAX_FALL_STEPS,
                                            description="fall lasts (steps)", continuous_update=False, style=style),
            "close_factor": widgets.FloatSlider(value=i["close_factor"], min=0.05, max=1.0, step=0.05,
                                                description="close factor f", continuous_update=False, style=style),
            "bonus": widgets.FloatSlider(value=i["bonus"], min=0.0, max=0.25, step=0.01, description="bonus b",
                                         continuous_update=False, style=style),
            "h_full": widgets.FloatSlider(value=i["h_full"], min=0.0, max=1.0, step=0.05,
                                          description="full liquidation below h_full", continuous_update=False,
                                          style=style),
        }

    def build_figure(self):
        n = _COLLATERAL.size
        fig, (ax_h, ax_p) = new_figure(1, 2, figsize=(9.5, 4.6), gridspec_kw={"width_ratios": [1.15, 1.0]})
        self.ax_health, self.ax_price = ax_h, ax_p
        y = np.arange(n)
        self.bars = ax_h.barh(y, np.ones(n), height=0.62, color=STATE_COLORS["safe"])
        self.one_line = ax_h.axvline(1.0, color="#333333", lw=1.2)
        self.full_line = ax_h.axvline(0.95, color=STATE_COLORS["below h_full"], lw=1.2, ls="--")
        self.bar_labels = [ax_h.text(0.03, k, "", va="center", ha="left", fontsize="x-small", color="white",
                                     fontweight="bold") for k in range(n)]
        ax_h.set_yticks(y)
        ax_h.set_yticklabels([f"A{k + 1}" for k in range(n)])
        ax_h.set_ylim(n - 0.5, -0.5)
        ax_h.set_xlim(0, 1.8)
        self.health_title = ax_h.set_title(" ", fontsize="medium", loc="left", y=1.0)
        style_axes(ax_h, xlabel="health $h = c\\,\\pi\\,LT / d$ at the step's oracle price")
        ax_h.grid(axis="y", visible=False)
        fig.legend(handles=[Line2D([], [], color=STATE_COLORS[s], lw=6, label=s) for s in STATES]
                   + [Line2D([], [], color="#333333", lw=1.2, label="h = 1"),
                      Line2D([], [], color=STATE_COLORS["below h_full"], lw=1.2, ls="--", label="$h_{full}$")],
                   loc="lower left", bbox_to_anchor=(0.0, 0.0), ncol=4, fontsize="x-small", frameon=False)

        t = np.arange(N_STEPS)
        self.price_line, = ax_p.plot(t, np.full(N_STEPS, PRICE0), color=platform_color(0), lw=1.8,
                                     drawstyle="steps-post", label="oracle price $\\pi_t$")
        self.pstar = ax_p.scatter(np.full(n, -0.35), np.full(n, PRICE0), marker=">", s=40, color="#555555",
                                  zorder=4, label="liquidation price $p^*_i$ at start")
        self.pstar_labels = [ax_p.text(-0.6, PRICE0, f"A{k + 1}", ha="right", va="center", fontsize="xx-small",
                                       color="#555555") for k in range(n)]
        self.events = ax_p.scatter([], [], s=[], color=PALETTE[5], alpha=0.75, zorder=5,
                                   label="liquidation (area ~ collateral seized)")
        self.cursor = ax_p.axvline(0, color="#555555", lw=1, ls=":", label="step shown")
        ax_p.set_xlim(-1.4, N_STEPS - 0.5)
        style_axes(ax_p, xlabel="step (minutes)", ylabel="price (USD)")
        fig.legend(handles=[self.price_line, self.pstar, self.events, self.cursor], loc="lower left",
                   bbox_to_anchor=(0.55, 0.0), ncol=2, fontsize="x-small", frameon=False)
        fig.subplots_adjust(left=0.06, right=0.98, top=0.88, bottom=0.25, wspace=0.28)
        return fig

    def compute(self, values):
        platform = PlatformParams(lt=LT, close_factor=values["close_factor"], bonus=values["bonus"],
                                  h_full=values["h_full"])
        result = engine_run(values["price"], platform, fall_steps=values["fall_steps"])
        step = values["step"]
        price = float(result.price_tk[step, 0])
        # balances before this step's round, at this step's price: who is about to be liquidated
        collateral, debt, seized, repaid, bad = balances_at(result, step - 1)
        h, state = account_states(collateral, debt, bad, price, platform)
        return dict(result=result, step=step, price=price, platform=platform, collateral=collateral, debt=debt,
                    seized=seized, repaid=repaid, bad=bad, health=h, state=state)

    def draw(self, s):
        result, step, platform = s["result"], s["step"], s["platform"]
        h, state = s["health"], s["state"]
        # a closed account (no debt, infinite health) gets a full-width pale bar saying so
        closed = ~np.isfinite(h)
        shown = np.where(closed, 1.8, np.minimum(h, 1.8))
        for k, bar in enumerate(self.bars):
            bar.set_width(shown[k])
            bar.set_color(STATE_COLORS[state[k]])
            label = self.bar_labels[k]
            if state[k] == "closed":
                label.set_text("closed: debt repaid in full")
                label.set_color("#333333")
            elif state[k] == "closed with bad debt":
                label.set_text(f"closed: collateral gone, {s['bad'][k]:,.0f} USD bad debt")
                label.set_color("white")
            else:
                label.set_text(f"{h[k]:.2f}")
                label.set_color("white")
        self.full_line.set_xdata([platform.h_full, platform.h_full])

        t = np.arange(N_STEPS)
        self.price_line.set_data(t, result.price_tk[:, 0])
        book = result.world.books[0]
        p0 = liquidation_price(book.collateral, book.debt, platform.lt)
        self.pstar.set_offsets(np.column_stack([np.full(p0.size, -0.35), p0]))
        for k, label in enumerate(self.pstar_labels):
            label.set_y(p0[k])
        ev = result.events
        self.events.set_offsets(np.column_stack([ev["t"], ev["oracle_price"]]) if ev["t"].size else np.empty((0, 2)))
        self.events.set_sizes(12 + 10 * ev["seized_units"])
        self.events.set_alpha(0.75)
        self.cursor.set_xdata([step, step])
        lo = min(result.price_tk.min(), p0.min())
        hi = max(result.price_tk.max(), p0.max())
        self.ax_price.set_ylim(*stable_limits(lo - 0.05 * (hi - lo) - 10, hi + 0.08 * (hi - lo) + 10, steps=5))

        n_now = int(np.count_nonzero(ev["t"] == step))
        self.health_title.set_text(f"Step {step}, oracle price {s['price']:,.0f} USD:\nthe book before this step's "
                                   f"round ({n_now} liquidated in it)")
        self.ax_price.set_title("The price path and every liquidation\n(one platform, one oracle)",
                                fontsize="medium", loc="left")
        self.table.value = ledger_html(s)

    def extra_widgets(self):
        return [self.table]

    def moving_artists(self):
        return [*self.bars, *self.bar_labels, self.one_line, self.full_line, self.price_line, self.pstar, *self.pstar_labels,
                self.events, self.cursor, self.health_title]


def ledger_html(s):
    """The book before the shown step's liquidation round, as an HTML table with totals."""
    book = s["result"].world.books[0]
    p = s["platform"]
    price = s["price"]
    pstar = liquidation_price(book.collateral, book.debt, p.lt)
    # keepers receive seized collateral worth repaid * (1 + b) at the oracle price
    bonus_usd = s["seized"] * price - s["repaid"]
    rows = []
    for k in range(book.n_accounts):
        h = s["health"][k]
        rows.append((f"A{k + 1}", f"{book.collateral[k]:.1f}", f"{book.debt[k]:,.0f}", f"{pstar[k]:,.0f}",
                     f"{s['collateral'][k]:.2f}", f"{s['debt'][k]:,.0f}", "—" if not np.isfinite(h) else f"{h:.2f}",
                     f"{s['repaid'][k]:,.0f}", f"{s['bad'][k]:,.0f}", s["state"][k]))
    head = ("account", "collateral at start (units)", "debt at start (USD)", "p* at start (USD)", "collateral now",
            "debt now (USD)", "health now", "repaid (USD)", "bad debt (USD)", "state")
    th = "".join(f"<th style='padding:2px 8px;text-align:right'>{html.escape(x)}</th>" for x in head)
    body = "".join("<tr>" + "".join(f"<td style='padding:1px 8px;text-align:right'>{html.escape(v)}</td>"
                                    for v in r) + "</tr>" for r in rows)
    totals = (f"Before step {s['step']}'s round, so far: repaid {s['repaid'].sum():,.0f} USD; "
              f"collateral seized {s['seized'].sum():.2f} units; bonus to keepers about {bonus_usd.sum():,.0f} USD; "
              f"bad debt {s['bad'].sum():,.0f} USD.")
    return (f"<table class='cl-ledger' style='border-collapse:collapse;font-size:0.85em;"
            f"font-variant-numeric:tabular-nums'><tr>{th}</tr>{body}</table><p>{html.escape(totals)}</p>")
