"""Lesson 01, one margin engine: a small book on one platform, the learner moves the price.

The scenario, the bookkeeping and the ledger's text live in
:mod:`coupling_lab.lessons.one_engine` (re-exported here).
"""
from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np
from matplotlib.lines import Line2D

from ..lessons.one_engine import (CONTROLS, LEDGER_HEAD, LT, MAX_FALL_STEPS, N_STEPS, PRICE0, STATES, _COLLATERAL,
                                  account_states, balances_at, book_state, classroom_book, engine_path, engine_run,
                                  keeper_bonus_at, ledger_rows, ledger_totals)
from ..margin import liquidation_price
from ._common import PALETTE, platform_color, stable_limits, style_axes
from .app import LessonApp, control_widget, main_slider, new_figure

__all__ = ["PRICE0", "N_STEPS", "classroom_book", "engine_path", "engine_run", "balances_at", "keeper_bonus_at",
           "account_states", "OneEngine", "CONTROLS", "LT", "MAX_FALL_STEPS", "STATES"]

STATE_COLORS = {"safe": PALETTE[2], "liquidatable": PALETTE[1], "below h_full": PALETTE[5],
                "closed": "#DDDDDD", "closed with bad debt": "#333333"}


class OneEngine(LessonApp):
    """Eight accounts on one platform; move the price and watch each liquidation round.

    Controls: ``price`` (main: where the price gaps to, USD), ``step`` (which
    step's balances to show), ``close_factor``, ``bonus``, ``h_full``.
    """

    bounds = CONTROLS

    def __init__(self, price=None, step=None, fall_steps=None, close_factor=None, bonus=None, h_full=None):
        self._init = dict(price=price, step=step, fall_steps=fall_steps, close_factor=close_factor, bonus=bonus,
                          h_full=h_full)
        self.table = widgets.HTML("")
        super().__init__()

    def build_controls(self):
        i = self._init
        widths = {"price": "380px", "step": "300px"}
        controls = {name: control_widget(c, i[name], width=widths.get(name)) for name, c in CONTROLS.items()}
        main_slider(controls["price"])
        return controls

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
        return book_state(values["price"], values["step"], fall_steps=values["fall_steps"],
                          close_factor=values["close_factor"], bonus=values["bonus"], h_full=values["h_full"])

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
    th = "".join(f"<th style='padding:2px 8px;text-align:right'>{html.escape(x)}</th>" for x in LEDGER_HEAD)
    body = "".join("<tr>" + "".join(f"<td style='padding:1px 8px;text-align:right'>{html.escape(v)}</td>"
                                    for v in r) + "</tr>" for r in ledger_rows(s))
    return (f"<table class='cl-ledger' style='border-collapse:collapse;font-size:0.85em;"
            f"font-variant-numeric:tabular-nums'><tr>{th}</tr>{body}</table><p>{html.escape(ledger_totals(s))}</p>")
