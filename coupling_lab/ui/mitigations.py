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
from ._common import FUNDAMENTAL_COLOR, nice_ceiling, stable_limits, static_ylabel, style_axes
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

    def __init__(self, scenario=None, seed=None, A=None, B=None, main=True):
        """``main=False``: B's delay is not marked as the page's main control (lesson 05's main
        control is the mitigation lab's; one per page)."""
        self._init = dict(scenario=scenario, seed=seed, A=dict(A or {}), B=dict(B or {}))
        self._main = main
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
        if self._main:
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


# =========================================================================== the mitigation lab
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from ..lessons.mitigations import (COST_HEAD, LAB_CONTROLS, LAB_SCENARIOS, OUTAGE, PROTECTIONS,  # noqa: E402
                                   TRADEOFF_CONTROLS, TRADEOFF_HEAD, TRADEOFF_RATE_VARIANTS, TRADEOFF_SETTINGS,
                                   cost_rows, lab_costs, lab_runs, picks_sentence, setting_label, tradeoff_frame,
                                   tradeoff_point, tradeoff_summary, tradeoff_table)
from ._common import PALETTE  # noqa: E402

__all__ += ["MitigationLab", "TradeOffPicture"]

LAB_STYLE = {"on": dict(color="#332288", ls="-", lw=1.6), "off": dict(color="#CC6677", ls="--", lw=1.6)}
OUTAGE_ALPHA = 0.3  # the keeper outage's shade on the selling panel (and its legend swatch)


def _table(head, rows):
    cell = "padding:1px 12px 1px 0;text-align:right;font-variant-numeric:tabular-nums"
    note = "padding:1px 0 1px 6px;text-align:left;color:#555"  # an unnamed last column explains the row
    styles = [cell] * (len(head) - 1) + [note if head[-1] == "" else cell]
    out = "<tr>" + "".join(f"<th style='{st}'>{html.escape(h)}</th>" for h, st in zip(head, styles)) + "</tr>"
    for row in rows:
        out += "<tr>" + "".join(f"<td style='{st}'>{html.escape(v)}</td>" for v, st in zip(row, styles)) + "</tr>"
    return f"<table class='cl-readout' style='border-collapse:collapse;font-size:0.92em'>{out}</table>"


class MitigationLab(LessonApp):
    """One design with protections switched on or off, against its unprotected twin (same seed).

    The crash depth / bad report size is the main control; one on/off toggle per protection,
    each shown with its production setting and source.
    """

    bounds = LAB_CONTROLS

    def __init__(self, scenario=None, size=None, seed=None, **picks):
        self._init = dict(scenario=scenario, size=size, seed=seed, **picks)
        self.readout = widgets.HTML("")
        self._run = functools.lru_cache(maxsize=32)(_lab_pair)
        super().__init__()

    def build_controls(self):
        i = self._init
        controls = {
            "scenario": control_widget(LAB_CONTROLS["scenario"], i["scenario"], style={"button_width": "90px"}),
            "size": main_slider(control_widget(LAB_CONTROLS["size"], i["size"], width="420px")),
            "seed": control_widget(LAB_CONTROLS["seed"], i["seed"], width="140px"),
        }
        for key in PROTECTIONS:
            controls[key] = control_widget(LAB_CONTROLS[key], i.get(key), width="400px",
                                           style={"button_width": "44px", "description_width": "290px"})
        return controls

    def layout(self):
        c = self.controls
        top = widgets.HBox([c["scenario"], c["size"], c["seed"]],
                           layout=widgets.Layout(flex_flow="row wrap", grid_gap="0.3em 1.2em"))
        rows = []
        for key, p in PROTECTIONS.items():
            note = widgets.HTML(f"<span style='font-size:0.88em'>{html.escape(p.setting)}<br>"
                                f"<span style='color:#555'>{html.escape(p.source)}</span></span>",
                                layout=widgets.Layout(width="640px"))
            rows.append(widgets.HBox([c[key], note], layout=widgets.Layout(grid_gap="1em", align_items="center")))
        picks = widgets.VBox([widgets.HTML("<b>Protections</b> (each at its production setting)"), *rows])
        return widgets.VBox([top, picks, self.status.widget, canvas_widget(self.fig), self.readout],
                            layout=widgets.Layout(width="100%"))

    def build_figure(self):
        fig, (ax_p, ax_q) = new_figure(2, 1, figsize=(9.5, 6.0), sharex=True, gridspec_kw={"height_ratios": [1.5, 1]})
        self.ax_price, self.ax_flow = ax_p, ax_q
        self.fund_line, = ax_p.plot([], [], color=FUNDAMENTAL_COLOR, lw=1.3, ls="-.", label="fundamental $e^{x_t}$")
        self.price_lines = {k: ax_p.plot([], [], label=f"market, {name}", **LAB_STYLE[k])[0]
                            for k, name in (("on", "protected"), ("off", "unprotected twin"))}
        self.read_line, = ax_p.plot([], [], color=PALETTE[2], lw=1.1, drawstyle="steps-post",
                                    label="price read by P1, protected")
        self.flow_lines = {k: ax_q.plot([], [], drawstyle="steps-post", lw=1.2, color=LAB_STYLE[k]["color"],
                                        alpha=0.9, label=name)[0]
                           for k, name in (("on", "protected"), ("off", "unprotected twin"))}
        self.outage_shade = ax_q.axvspan(OUTAGE[0], OUTAGE[1], color="#F0E442", alpha=0.0, lw=0, label="_nolegend_")
        # the legend's swatch is its own patch, always shaded as the span is when the outage is on: the legend
        # stays in the static frame (no redraw when the outage is switched), and its entry says when it shows
        self.outage_key = Patch(facecolor="#F0E442", alpha=OUTAGE_ALPHA, lw=0,
                                label=f"keeper outage (shaded\nwhen on: minutes {OUTAGE[0]}–{OUTAGE[1]})")
        flow_handles, flow_labels = ax_q.get_legend_handles_labels()
        self.legends = [ax_p.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False),
                        ax_q.legend([*flow_handles, self.outage_key], [*flow_labels, self.outage_key.get_label()],
                                    loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)]
        style_axes(ax_p, ylabel="price (USD)", title="Market price: protected design and its unprotected twin (same seed)")
        style_axes(ax_q, xlabel="time (minutes)", ylabel="sold (M USD / min)",
                   title="Forced selling per minute, all five platforms")
        static_ylabel(ax_q, -0.082)  # in line with the price label; its y axis is a moving artist (moving_artists)
        fig.subplots_adjust(left=0.08, right=0.74, top=0.94, bottom=0.09, hspace=0.25)
        return fig

    def compute(self, values):
        picks = tuple(k for k in PROTECTIONS if values[k] == "on")
        runs = self._run(values["scenario"], values["size"], values["seed"], picks)
        return dict(runs, picks=picks)

    def draw(self, runs):
        on, off = runs["on"], runs["off"]
        t = np.arange(on.n_steps)
        self.fund_line.set_data(t, np.exp(on.x_t))
        self.read_line.set_data(t, on.price_tk[:, 0])
        lo, hi, top, busy = np.inf, 0.0, 0.0, []
        for k, r in (("on", on), ("off", off)):
            self.price_lines[k].set_data(t, r.market_t)
            flow = r.notional_tk.sum(axis=1) / 1e6
            self.flow_lines[k].set_data(t, flow)
            lo = min(lo, r.market_t.min(), r.price_tk[:, 0].min())
            hi = max(hi, r.market_t.max(), math.exp(r.x_t.max()), r.price_tk[:, 0].max())
            top = max(top, flow.max())
            busy.extend(np.flatnonzero(flow)[[0, -1]] if flow.any() else [])
        self.outage_shade.set_alpha(OUTAGE_ALPHA if "outage" in runs["picks"] else 0.0)
        self.ax_price.set_ylim(*stable_limits(0.95 * lo, 1.03 * hi, steps=5))
        x0, x1 = (min(busy) - 30, max(busy) + 30) if busy else (60, 300)
        x0 = max(0, 20 * math.floor(min(x0, 80) / 20))
        x1 = min(t[-1], 20 * math.ceil(max(x1, x0 + 200) / 20))
        self.ax_price.set_xlim(x0, x1)
        self.ax_flow.set_ylim(0, nice_ceiling(max(top * 1.1, 0.1)))
        rows = cost_rows(lab_costs(on), lab_costs(off))
        self.readout.value = (f"<p>{html.escape(str(picks_sentence(runs['picks'])))}</p>" + _table(COST_HEAD, rows))

    def moving_artists(self):
        # the selling panel's y axis too: its top follows the runs and moves on most crash-depth steps,
        # so its ticks are drawn on every frame (about 6 ms) instead of a new static frame (about 100 ms)
        return [self.fund_line, self.read_line, *self.price_lines.values(), *self.flow_lines.values(),
                self.outage_shade, self.ax_flow.yaxis]

    def extra_widgets(self):
        return [self.readout]


def _lab_pair(scenario, size, seed, picks):
    return lab_runs(scenario, size, seed, picks)


#: one colour and marker per trade-off setting (Okabe & Ito, then black/grey for the rate-limit variants)
_SETTING_STYLE = {
    name: dict(color=color, marker=marker)
    for name, color, marker in zip(
        (*TRADEOFF_SETTINGS, *TRADEOFF_RATE_VARIANTS),
        ("#000000", PALETTE[0], PALETTE[1], PALETTE[2], PALETTE[3], PALETTE[4], PALETTE[5], "#999999", PALETTE[3],
         PALETTE[3]),
        ("o", "s", "^", "v", "D", "P", "X", "*", "<", ">"))
}


class TradeOffPicture(LessonApp):
    """Unpaid debt against the extra fall, one point per protection setting, mean and 95 % CI over seeds,
    on the crash and on the bad report (computed with a progress bar)."""

    bounds = TRADEOFF_CONTROLS

    def __init__(self, seeds=None):
        self._init = dict(seeds=seeds)
        self.progress = widgets.Output(layout=widgets.Layout(min_height="2.2em"))
        self.table = widgets.HTML("")
        super().__init__()

    def build_controls(self):
        return {"seeds": control_widget(TRADEOFF_CONTROLS["seeds"], self._init["seeds"], width="360px")}

    def layout(self):
        box = super().layout()
        children = list(box.children)
        box.children = [children[0], self.progress, *children[1:]]
        return box

    def build_figure(self):
        fig, axes = new_figure(1, 2, figsize=(10.5, 4.2))
        self.axes = dict(zip(LAB_SCENARIOS, axes))
        self.points, self.bars = {}, {}
        for sc, ax in self.axes.items():
            for st, style in _SETTING_STYLE.items():
                self.bars[sc, st] = ax.add_collection(LineCollection([], colors=style["color"], linewidths=1.0))
                # "no protection" a large ring on top: the points that did not bite sit inside it
                ring = dict(ms=13, mfc="none", mew=1.4, zorder=5) if st == "none" else dict(ms=7, mec="white", mew=0.6)
                self.points[sc, st], = ax.plot([], [], ls="none", label=setting_label(st), **ring, **style)
            style_axes(ax, xlabel="extra fall from forced selling (%)", ylabel="unpaid debt (M USD)",
                       title=f"{'30 % crash' if sc == 'crash' else 'bad report, 30 % low for 10 min'}")
        axes[1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small", frameon=False)
        fig.subplots_adjust(left=0.07, right=0.70, top=0.84, bottom=0.13, wspace=0.3)
        return fig

    def compute(self, values):
        self.progress.clear_output()
        with self.progress:
            frame = tradeoff_frame(seeds=range(values["seeds"]), progress=True)
        return frame, tradeoff_summary(frame)

    def draw(self, result):
        frame, summary = result
        for sc, ax in self.axes.items():
            xmax, ymax = 1.0, 0.1
            for st in _SETTING_STYLE:
                mx, lx, hx = (100 * v for v in tradeoff_point(summary, sc, st, "extra_fall"))
                my, ly, hy = (v / 1e6 for v in tradeoff_point(summary, sc, st, "unpaid_debt"))
                self.points[sc, st].set_data([mx], [my])
                segs = []
                if not math.isnan(lx):
                    segs = [[(lx, my), (hx, my)], [(mx, ly), (mx, hy)]]
                self.bars[sc, st].set_segments(segs)
                xmax = max(xmax, hx if not math.isnan(hx) else mx)
                ymax = max(ymax, hy if not math.isnan(hy) else my)
            ax.set_xlim(0, nice_ceiling(xmax * 1.08))
            ax.set_ylim(0, nice_ceiling(ymax * 1.1))
        n = frame["seed"].nunique()
        self.fig.suptitle(f"Each protection alone at its production setting: mean and 95 % CI over {n} seeds",
                          fontsize="medium", x=0.07, y=0.98, ha="left")
        self.table.value = (f"<p><b>Means over {n} seeds per point</b> (lower ends of the intervals clipped at 0)</p>"
                            + _table(TRADEOFF_HEAD, tradeoff_table(summary)))

    def extra_widgets(self):
        return [self.table]
