"""Lesson 09, isolated or cross margin: the featured trader's portfolio under both modes in the
same crash, asset 1's market and its lending platform (``coupling_lab.lessons.margin_modes``
holds the logic; this module only draws)."""
from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np

from ..lessons import margin_modes as lesson
from ..lessons.margin_modes import CONTROLS, MODES
from ._common import PALETTE, nice_ceiling, stable_limits, style_axes
from .app import LessonApp, control_widget, main_slider, new_figure
from .quiz import Prediction

__all__ = ["MarginModes", "modes_prediction"]

P1_LIMITS, LIQ_TOP = (60.0, 105.0), 1200
MODE_STYLE = {"cross": dict(color=PALETTE[0], ls="-", lw=2.0), "isolated": dict(color=PALETTE[5], ls="--", lw=2.0)}


class MarginModes(LessonApp):
    """Crash depth (main control), portfolio and size; three panels: the trader's portfolio value,
    asset 1's market, and the lending platform's liquidations on asset 1, under each mode."""

    bounds = CONTROLS

    def __init__(self, portfolio=None, crash=None, size=None):
        self._init = dict(portfolio=portfolio, crash=crash, size=size)
        self.readout = widgets.HTML("")
        super().__init__()

    def build_controls(self):
        i = self._init
        return {"crash": main_slider(control_widget(CONTROLS["crash"], i["crash"], width="360px")),
                "portfolio": control_widget(CONTROLS["portfolio"], i["portfolio"], style={"button_width": "6em"}),
                "size": control_widget(CONTROLS["size"], i["size"], width="420px")}

    def build_figure(self):
        fig, axes = new_figure(3, 1, figsize=(9.5, 7.2), sharex=True)
        self.ax_val, self.ax_p1, self.ax_liq = axes
        self.val = {m: self.ax_val.plot([], [], label=f"{m} margin", **MODE_STYLE[m])[0] for m in MODES}
        self.marks = {m: self.ax_val.plot([], [], ls="none", marker="X", ms=10, color=MODE_STYLE[m]["color"])[0]
                      for m in MODES}
        self.p1 = {m: self.ax_p1.plot([], [], label=f"{m} margin", **MODE_STYLE[m])[0] for m in MODES}
        self.liq = {m: self.ax_liq.plot([], [], drawstyle="steps-post", label=f"{m} margin", **MODE_STYLE[m])[0]
                    for m in MODES}
        self.legends = [ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
                        for ax in axes]
        style_axes(self.ax_val, ylabel="worth (% of start)",
                   title="Your portfolio: margin plus unrealised PnL, as % of your margin at the start (✕ = a liquidation)")
        style_axes(self.ax_p1, ylabel="asset 1 (USD)", title="Asset 1's market price")
        style_axes(self.ax_liq, xlabel="time (minutes)", ylabel="borrowers",
                   title="Borrowers liquidated on the lending platform that holds asset 1 (cumulative)")
        self.ax_val.set_xlim(0, 299)
        fig.subplots_adjust(left=0.09, right=0.8, top=0.95, bottom=0.08, hspace=0.32)
        return fig

    def compute(self, values):
        runs = lesson.modes_run(values["portfolio"], values["crash"], values["size"])
        return runs, {m: lesson.outcome(runs[m]) for m in MODES}, lesson.asset1_effect(runs), values

    def draw(self, out):
        runs, outcomes, effect, values = out
        t = np.arange(runs["cross"].n_steps)
        top, lo1, hi1, nliq = 0.0, np.inf, 0.0, 0
        for m in MODES:
            r = runs[m]
            path = lesson.featured_path(r).sum(axis=1)
            worth = 100.0 * path / path[0]
            self.val[m].set_data(t, worth)
            ts = [c[0] for c in outcomes[m]["closed"]]
            self.marks[m].set_data(ts, worth[np.array(ts, int) - 1] if ts else [])
            self.p1[m].set_data(t, r.market_ta[:, 1])
            cum = np.cumsum(r.count_tk[:, 1])
            self.liq[m].set_data(t, cum)
            top = max(top, worth.max())
            lo1, hi1 = min(lo1, r.market_ta[:, 1].min()), max(hi1, r.market_ta[:, 1].max())
            nliq = max(nliq, cum[-1])
        # fixed limits where the controls' range allows (the cached static layer is reused): asset 1
        # stays within 60-105 USD and the lending platform's 1,000 borrowers within 0-1,200
        self.ax_val.set_ylim(0, max(120.0, nice_ceiling(top * 1.05)))
        self.ax_p1.set_ylim(*(P1_LIMITS if P1_LIMITS[0] < lo1 and hi1 < P1_LIMITS[1]
                              else stable_limits(lo1 * 0.98, hi1 * 1.02, steps=5)))
        self.ax_liq.set_ylim(0, max(LIQ_TOP, nice_ceiling(max(nliq, 1) * 1.1)))
        self.readout.value = readout_html(values, outcomes, effect)

    def moving_artists(self):
        return [*self.val.values(), *self.marks.values(), *self.p1.values(), *self.liq.values()]

    def extra_widgets(self):
        return [self.readout]


def readout_html(values, outcomes, effect):
    lines = [f"<b>Your portfolio</b>: {html.escape(lesson.base_text(values['portfolio'], values['size']))}, "
             f"in a {values['crash']} % crash of asset 0."]
    lines += [html.escape(str(lesson.outcome_sentence(m, outcomes[m]))) for m in MODES]
    lines.append(html.escape(str(lesson.asset1_sentence(effect))))
    return "<div class='cl-readout' style='line-height:1.45'>" + "<br>".join(lines) + "</div>"


def modes_prediction():
    """The lesson's prediction about the hedged pair; the reveal is the two modes' outcomes."""
    rows = lesson.prediction_rows("pair")
    reveal = widgets.HTML("<div class='cl-readout' style='line-height:1.45'>"
                          + "<br>".join(html.escape(s) for _m, s in rows) + "</div>")
    return Prediction(
        "Your hedged pair: long asset 0, short asset 1, 5x on each leg. Asset 0 falls 30 % and asset 1 follows "
        "it part of the way. Which margin mode keeps both legs open?",
        ["isolated: a loss on one leg can never touch the other",
         "cross: the short leg's gains pay for the long leg's losses",
         "both: the pair is hedged, so neither mode liquidates it"],
        answer=1,
        feedback=[
            "That is the point of isolated margin, and here it is the problem: the long leg's 20 % margin is all it "
            "has, and a 30 % fall wipes it out while the short leg's profit sits in a separate balance.",
            "Yes. Under cross one balance backs both legs, so the short's gains are credited where the long's losses "
            "are charged; the net loss is smaller than the margin.",
            "The pair is hedged only as a whole. Under isolated margin the venue looks at each leg on its own, and the "
            "long leg alone is deep under water.",
        ],
        reveal=reveal,
    )
