"""Lesson 05, what helps: two designs side by side, same seed and path, their
measures and price paths compared."""
from __future__ import annotations

import functools
import html
import math

import ipywidgets as widgets
import numpy as np

from ..lessons.mitigations import CONTROLS, DESIGN_KNOBS, SCENARIOS, SEED_MAX, design_config, measure_rows
from ..simulation import simulate
from ._common import FUNDAMENTAL_COLOR, nice_ceiling, stable_limits, style_axes
from .app import LessonApp, canvas_widget, control_widget, main_slider, new_figure

__all__ = ["SEED_MAX", "SCENARIOS", "DESIGN_KNOBS", "design_config", "TwoDesigns", "CONTROLS"]

#: Designs are not platforms: they get two colours outside the platform palette
#: (Paul Tol's colour-blind-safe indigo and rose), and line styles.
DESIGN_STYLE = {"A": dict(color="#332288", ls="-", lw=1.6), "B": dict(color="#CC6677", ls="--", lw=1.8)}


def _knob_widget(name, design, default=None):
    return control_widget(DESIGN_KNOBS[name], default, width="330px")


class TwoDesigns(LessonApp):
    """Two columns of design knobs (A, B), one scenario and seed; B's oracle delay is the main control."""

    bounds = CONTROLS

    def __init__(self, scenario=None, seed=None, A=None, B=None):
        self._init = dict(scenario=scenario, seed=seed, A=dict(A or {}), B=dict(B or {}))
        self.readout = widgets.HTML("")
        # runs keyed on (scenario, seed, the design's checked knobs): moving one design's knob
        # re-runs only that design; moving back and forth re-runs nothing
        self._run = functools.lru_cache(maxsize=16)(_simulate_design)
        super().__init__()

    def build_controls(self):
        i = self._init
        controls = {
            "scenario": control_widget(CONTROLS["scenario"], i["scenario"], style={"button_width": "90px"}),
            "seed": control_widget(CONTROLS["seed"], i["seed"], width="140px"),
        }
        for d in "AB":
            for k in DESIGN_KNOBS:
                controls[f"{d}_{k}"] = _knob_widget(k, d, i[d].get(k))
        main_slider(controls["B_delay"])
        return controls

    def layout(self):
        c = self.controls
        columns = []
        for d in "AB":
            color = DESIGN_STYLE[d]["color"]
            head = widgets.HTML(f"<b style='color:{color}'>Design {d}</b>")
            columns.append(widgets.VBox([head, *(c[f"{d}_{k}"] for k in DESIGN_KNOBS)],
                                        layout=widgets.Layout(padding="0 1.5em 0 0")))
        top = widgets.HBox([c["scenario"], c["seed"]], layout=widgets.Layout(grid_gap="1.2em"))
        return widgets.VBox([top, widgets.HBox(columns), self.status.widget, canvas_widget(self.fig),
                             self.readout], layout=widgets.Layout(width="100%"))

    def build_figure(self):
        fig, (ax_p, ax_q) = new_figure(2, 1, figsize=(9.5, 6.0), sharex=True, gridspec_kw={"height_ratios": [1.5, 1]})
        self.ax_price, self.ax_flow = ax_p, ax_q
        self.fund_line, = ax_p.plot([], [], color=FUNDAMENTAL_COLOR, lw=1.3, ls="-.", label="fundamental $e^{x_t}$")
        self.price_lines = {d: ax_p.plot([], [], label=f"market, design {d}", **DESIGN_STYLE[d])[0] for d in "AB"}
        self.flow_lines = {d: ax_q.plot([], [], drawstyle="steps-post", label=f"design {d}", lw=1.2,
                                        color=DESIGN_STYLE[d]["color"], alpha=0.9)[0] for d in "AB"}
        # legends beside the axes, never over the data
        self.legends = [ax_p.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False),
                        ax_q.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)]
        style_axes(ax_p, ylabel="price (USD)", title="Market price $m_t$ under each design (same seed, same path)")
        style_axes(ax_q, xlabel="time (minutes)", ylabel="sold (M USD / min)",
                   title="Forced selling per minute, all platforms")
        fig.subplots_adjust(left=0.08, right=0.78, top=0.94, bottom=0.09, hspace=0.25)
        return fig

    def compute(self, values):
        runs = {}
        for d in "AB":
            knobs = tuple(values[f"{d}_{k}"] for k in DESIGN_KNOBS)
            runs[d] = self._run(values["scenario"], values["seed"], knobs)
        return runs

    def draw(self, runs):
        t = np.arange(runs["A"].n_steps)
        self.fund_line.set_data(t, np.exp(runs["A"].x_t))
        lo, hi, top, busy = np.inf, 0.0, 0.0, []
        for d, r in runs.items():
            self.price_lines[d].set_data(t, r.market_t)
            flow = r.notional_tk.sum(axis=1) / 1e6
            self.flow_lines[d].set_data(t, flow)
            lo, hi = min(lo, r.market_t.min()), max(hi, r.market_t.max(), math.exp(r.x_t.max()))
            top = max(top, flow.max())
            busy.extend(np.flatnonzero(flow)[[0, -1]] if flow.any() else [])
        # round limits: the axes (and their cached tick labels) move only when the data cross them
        self.ax_price.set_ylim(*stable_limits(0.95 * lo, 1.03 * hi, steps=5))
        x0, x1 = (min(busy) - 30, max(busy) + 30) if busy else (0, t[-1])
        x0 = max(0, 20 * math.floor(x0 / 20))
        x1 = min(t[-1], 20 * math.ceil(max(x1, x0 + 120) / 20))
        self.ax_price.set_xlim(x0, x1)
        self.ax_flow.set_ylim(0, nice_ceiling(max(top * 1.1, 0.1)))
        self.readout.value = _readout(runs)

    def moving_artists(self):
        return [self.fund_line, *self.price_lines.values(), *self.flow_lines.values()]

    def extra_widgets(self):
        return [self.readout]


def _simulate_design(scenario, seed, knobs):
    return simulate(design_config(scenario, **dict(zip(DESIGN_KNOBS, knobs))), seed=seed)


def _readout(runs):
    a, b = measure_rows(runs["A"].measures), measure_rows(runs["B"].measures)
    cell = "padding:1px 14px 1px 0;text-align:right;font-variant-numeric:tabular-nums"
    out = (f"<tr><th></th><th style='{cell};color:{DESIGN_STYLE['A']['color']}'>design A</th>"
           f"<th style='{cell};color:{DESIGN_STYLE['B']['color']}'>design B</th><th></th></tr>")
    for name in a:
        out += (f"<tr><td style='padding-right:12px'><b>{html.escape(name)}</b></td><td style='{cell}'>"
                f"{html.escape(a[name][0])}</td><td style='{cell}'>{html.escape(b[name][0])}</td>"
                f"<td style='color:#555'>{html.escape(a[name][1])}</td></tr>")
    return f"<table class='cl-readout' style='border-collapse:collapse;font-size:0.92em'>{out}</table>"
