"""Lesson 10, when the insurance fund runs dry: the funds' paths on three venues and who pays the
shortfall under a haircut and under ADL (``coupling_lab.lessons.insurance`` holds the logic;
this module only draws)."""
from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np

from ..lessons import insurance as lesson
from ..lessons.insurance import CONTROLS, N_VENUES, RULES
from ..lessons.text import fmt_sync
from ._common import PALETTE, nice_ceiling, platform_color, style_axes
from .app import LessonApp, control_widget, main_slider, new_figure
from .quiz import Prediction

__all__ = ["InsuranceFund", "fund_prediction"]

FUND_TOP = 1.2  # M USD
RULE_STYLE = {"haircut": dict(color=PALETTE[2], ls="-", lw=2.0), "adl": dict(color=PALETTE[5], ls="--", lw=2.0)}
RULE_LABEL = {"haircut": "haircut (every winner a little)", "adl": "ADL (top-ranked winners first)"}


class InsuranceFund(LessonApp):
    """Fund per venue (main control) and venues on the shared oracle; the funds' paths, then
    every winner's payment as a share of its gain, ranked as ADL ranks them, under each rule."""

    bounds = CONTROLS

    def __init__(self, fund=None, shared=None):
        self._init = dict(fund=fund, shared=shared)
        self.readout = widgets.HTML("")
        super().__init__()

    def build_controls(self):
        i = self._init
        return {"fund": main_slider(control_widget(CONTROLS["fund"], i["fund"], width="420px")),
                "shared": control_widget(CONTROLS["shared"], i["shared"], width="360px")}

    def build_figure(self):
        fig, (ax_f, ax_p) = new_figure(2, 1, figsize=(9.5, 6.2))
        self.ax_fund, self.ax_pay = ax_f, ax_p
        self.funds = [ax_f.plot([], [], color=platform_color(k), lw=1.8, label=f"V{k + 1}")[0] for k in range(N_VENUES)]
        self.pays = {r: ax_p.plot([], [], drawstyle="steps-post", label=RULE_LABEL[r], **RULE_STYLE[r])[0]
                     for r in RULES}
        self.legends = [ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
                        for ax in (ax_f, ax_p)]
        ax_f.set_xlim(40, 140)
        ax_p.set_xlim(0, 100)
        ax_p.set_ylim(0, 105)
        style_axes(ax_f, xlabel="time (minutes)", ylabel="fund (M USD)", title="Each venue's insurance fund")
        style_axes(ax_p, xlabel="winners in each venue's ADL queue: most profitable and leveraged first (% of winners)",
                   ylabel="paid (% of gain)", title="What the winners pay towards the shortfall (mean of each 5 %)")
        fig.subplots_adjust(left=0.09, right=0.76, top=0.94, bottom=0.1, hspace=0.45)
        return fig

    def compute(self, values):
        runs = lesson.fund_runs(values["fund"], values["shared"])
        return runs, {r: lesson.payments(runs[r], r) for r in RULES}, values

    def draw(self, out):
        runs, pays, values = out
        F = lesson.fund_paths(runs["adl"]) / 1e6
        t = np.arange(F.shape[0])
        for k, line in enumerate(self.funds):
            line.set_data(t, F[:, k])
        # a fixed scale over the control's range (0-1 M USD plus fees): the static layer is reused
        self.ax_fund.set_ylim(0, max(FUND_TOP, nice_ceiling(F.max() * 1.05)))
        for r, line in self.pays.items():
            edges, mean = lesson.binned_share(pays[r])
            line.set_data(edges, 100.0 * np.append(mean, mean[-1]))
        self.readout.value = readout_html(runs, pays, values)

    def moving_artists(self):
        return [*self.funds, *self.pays.values()]

    def extra_widgets(self):
        return [self.readout]


def readout_html(runs, pays, values):
    shared = values["shared"]
    lines = [f"<b>{shared} of {N_VENUES} venues</b> read the shared oracle; synchrony of their liquidations "
             f"{fmt_sync(runs['adl'].measures.synchrony)} (1 = in lockstep).",
             html.escape(str(lesson.fund_sentence(runs["adl"], values["fund"])))]
    lines += [html.escape(str(lesson.payments_sentence(r, pays[r]))) for r in RULES]
    return "<div class='cl-readout' style='line-height:1.45'>" + "<br>".join(lines) + "</div>"


def fund_prediction():
    """The lesson's prediction: who pays once the funds are empty; the reveal is the two rules' outcomes."""
    rows = lesson.prediction_rows()
    reveal = widgets.HTML("<div class='cl-readout' style='line-height:1.45'>"
                          + "<br>".join(html.escape(s) for _r, s in rows) + "</div>")
    return Prediction(
        "The three venues' insurance funds are empty and 3.35 M USD of losses are still unpaid. The winners "
        "(here the shorts) must cover it. Under auto-deleveraging (ADL), compared with a haircut of the step's gains:",
        ["every winner pays about the same share of its gain under both rules",
         "fewer winners pay, but those who do lose much more and their positions are closed",
         "nobody pays under ADL: the backstop takes the loss"],
        answer=1,
        feedback=[
            "That is the haircut: every winner of the step gives up the same rate h_t. ADL works down a ranked list.",
            "Yes. ADL takes the whole shortfall from the top of the ranking (profit times leverage): those traders "
            "give up most of their gain and their positions, hedges included, are closed. Everyone below pays nothing.",
            "Under ADL the backstop takes the positions over but pays none of the shortfall; under a haircut it pays "
            "its share like any winner.",
        ],
        reveal=reveal,
    )
