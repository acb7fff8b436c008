"""Lesson 03, depth and cascades: the same book sold into a thin or deep market,
by one platform alone, by five on their own oracles, by five on one shared oracle."""
from __future__ import annotations

import functools
import html
import math

import ipywidgets as widgets
import numpy as np

from ..lessons.cascades import (CONTROLS, READOUT_HEAD, SEED_MAX, cascade_config, depth_sweep, design_run, falls,
                                readout_rows)
from ..lessons.cascades import DESIGNS as _DESIGNS
from ._common import FUNDAMENTAL_COLOR, nice_ceiling, stable_limits, style_axes
from .app import LessonApp, canvas_widget, control_widget, main_slider, new_figure

__all__ = ["SEED_MAX", "DESIGNS", "cascade_config", "DepthCascade", "depth_sweep", "DepthSweepFigure", "CONTROLS"]

#: Designs are not platforms, so they are told apart by line width, style and shade,
#: leaving the platform colours to mean platforms. Where the three lines coincide (no
#: cascade), the wide pale one shows under the dashed one, which shows under the thin black one.
STYLES = (
    dict(color="#56B4E9", ls="-", lw=4.2, alpha=0.8, zorder=2),
    dict(color="#555555", ls=(0, (5, 2)), lw=2.2, zorder=3),
    dict(color="#000000", ls="-", lw=1.0, zorder=4),
)
#: (label, n_platforms, sharing, line style) for each design (lesson logic in coupling_lab.lessons.cascades)
DESIGNS = tuple((label, n, sharing, st) for (label, n, sharing), st in zip(_DESIGNS, STYLES))
_falls = falls


class DepthCascade(LessonApp):
    """Market depth (main control), resilience, fundamental fall and seed; three designs side by side.

    Panels: market price of each design beside the fundamental; the impact
    :math:`\\kappa_t`; the fall split into the part the path made and the
    extra part forced selling made; collateral sold.
    """

    bounds = CONTROLS

    def __init__(self, depth=None, resilience=None, drop=None, seed=None):
        self._init = dict(depth=depth, resilience=resilience, drop=drop, seed=seed)
        self.readout = widgets.HTML("")
        # one run per (design, checked values): moving the depth back and forth re-runs nothing
        self._run = functools.lru_cache(maxsize=8 * len(DESIGNS))(design_run)
        super().__init__()

    def build_controls(self):
        i = self._init
        widths = {"depth": "430px", "resilience": "330px", "drop": "330px", "seed": "140px"}
        controls = {name: control_widget(c, i[name], width=widths[name]) for name, c in CONTROLS.items()}
        main_slider(controls["depth"])
        return controls

    def build_figure(self):
        fig, axes = new_figure(2, 2, figsize=(10, 6.4), gridspec_kw={"width_ratios": [1.7, 1.0]})
        (ax_p, ax_b), (ax_k, ax_q) = axes
        self.ax_price, self.ax_kappa, self.ax_fall, self.ax_sold = ax_p, ax_k, ax_b, ax_q
        self.fund_line, = ax_p.plot([], [], color=FUNDAMENTAL_COLOR, lw=1.4, ls="-.", label="fundamental $e^{x_t}$")
        self.price_lines = [ax_p.plot([], [], label=label, **st)[0] for label, _, _, st in DESIGNS]
        self.kappa_lines = [ax_k.plot([], [], label=label, **st)[0] for label, _, _, st in DESIGNS]
        self.legends = [ax_p.legend(loc="lower right", fontsize="small", frameon=False)]
        style_axes(ax_p, ylabel="price (USD)", title="Market price $m_t$ of each design")
        style_axes(ax_k, xlabel="time (minutes)", ylabel="impact κ (log units)",
                   title="Price impact $κ_t$ of forced selling")
        x = np.arange(len(DESIGNS))
        short = ["alone", "5, own", "5, shared"]
        self.fund_bars = ax_b.bar(x, np.zeros(3), color="#BBBBBB", label="fall of the fundamental (crash + noise)")
        self.extra_bars = ax_b.bar(x, np.zeros(3), color="#D55E00", label="extra fall from forced selling")
        ax_b.set_xticks(x, short)
        self.legends.append(ax_b.legend(loc="upper left", fontsize="small", frameon=False))
        style_axes(ax_b, ylabel="fall from start (%)", title="How far the market fell")
        self.sold_bars = ax_q.bar(x, np.zeros(3), color=[st["color"] for *_, st in DESIGNS], alpha=0.85,
                                  edgecolor="#000000", linewidth=0.6)
        ax_q.set_xticks(x, short)
        style_axes(ax_q, ylabel="collateral sold (M USD)", title="Forced selling, all platforms")
        self.sold_text = [ax_q.text(i, 0, "", ha="center", va="bottom", fontsize="small") for i in x]
        for ax in (ax_b, ax_q):
            ax.set_axisbelow(True)  # grid under the bars (they are drawn over the cached grid anyway)
        fig.subplots_adjust(left=0.08, right=0.98, top=0.94, bottom=0.09, hspace=0.42, wspace=0.28)
        return fig

    def compute(self, values):
        return [self._run(values["depth"], values["resilience"], values["drop"], n, sharing, values["seed"])
                for _, n, sharing, _ in DESIGNS]

    def draw(self, runs):
        t = np.arange(runs[0].n_steps)
        self.fund_line.set_data(t, np.exp(runs[0].x_t))
        lo = min(r.market_t.min() for r in runs)
        for line, kline, r in zip(self.price_lines, self.kappa_lines, runs):
            line.set_data(t, r.market_t)
            kline.set_data(t, r.kappa_t)
        hi = math.exp(runs[0].x_t.max())
        self.ax_price.set_xlim(0, t[-1])
        # round limits: the axes (and their cached tick labels) move only when the data cross them
        self.ax_price.set_ylim(*stable_limits(0.97 * lo, 1.02 * hi, steps=5))
        self.ax_kappa.set_xlim(0, t[-1])
        self.ax_kappa.set_ylim(0, nice_ceiling(max(max(r.kappa_t.max() for r in runs) * 1.1, 0.01)))
        top = 0.0
        for i, r in enumerate(runs):
            fundamental, total = _falls(r)
            extra = max(total - fundamental, 0.0)
            self.fund_bars[i].set_height(100 * fundamental)
            self.extra_bars[i].set_y(100 * fundamental)
            self.extra_bars[i].set_height(100 * extra)
            top = max(top, 100 * total)
        self.ax_fall.set_ylim(0, nice_ceiling(max(top * 1.25, 5)))
        sold = [r.measures.liquidated_usd / 1e6 for r in runs]
        for bar, text, s in zip(self.sold_bars, self.sold_text, sold):
            bar.set_height(s)
            text.set_position((bar.get_x() + bar.get_width() / 2, s))
            text.set_text(f"{s:,.0f}")
        self.ax_sold.set_ylim(0, nice_ceiling(max(max(sold) * 1.2, 1)))
        self.readout.value = _readout(runs)

    def moving_artists(self):
        # the legends (no frame) are drawn over the moving artists, as in a full draw
        return [self.fund_line, *self.price_lines, *self.kappa_lines, *self.fund_bars, *self.extra_bars,
                *self.sold_bars, *self.sold_text, *self.legends]

    def extra_widgets(self):
        return [self.readout]


def _readout(runs):
    cell = "padding:1px 12px 1px 0;text-align:right;font-variant-numeric:tabular-nums"
    out = "<tr>" + "".join(f"<th style='{cell}'>{html.escape(h)}</th>" for h in READOUT_HEAD) + "</tr>"
    for row in readout_rows(runs):
        out += "<tr>" + "".join(f"<td style='{cell}'>{html.escape(v)}</td>" for v in row) + "</tr>"
    return f"<table class='cl-readout' style='border-collapse:collapse;font-size:0.92em'>{out}</table>"


class DepthSweepFigure:
    """A static figure: extra fall against market depth for the three designs (median and range over seeds)."""

    def __init__(self, depths_musd=None, seeds=range(8), resilience=0.1, drop=0.06):
        self.depths = np.geomspace(40, 1000, 15) if depths_musd is None else np.asarray(depths_musd, float)
        self.seeds = list(seeds)
        self.data = depth_sweep(self.depths, self.seeds, resilience, drop)
        fig, ax = new_figure(figsize=(8, 3.6))
        extra = 100 * (1 - np.exp(-self.data))
        for (label, _, _, st), e in zip(DESIGNS, extra):
            ax.fill_between(self.depths, e.min(axis=1), e.max(axis=1), color=st["color"], alpha=0.15, lw=0)
            ax.plot(self.depths, np.median(e, axis=1), label=label, **st)
        ax.set_xscale("log")
        ax.set_xticks([50, 100, 200, 500, 1000], ["50", "100", "200", "500", "1000"])
        ax.minorticks_off()
        style_axes(ax, xlabel="market depth D (M USD, log scale)", ylabel="extra fall from forced selling (%)",
                   title=f"A {100 * drop:.0f} % fall, resilience {resilience:.2f}/min: median and range over "
                         f"{len(self.seeds)} seeds")
        ax.legend(fontsize="small", frameon=False)
        fig.subplots_adjust(left=0.1, right=0.97, top=0.9, bottom=0.15)
        self.fig = fig
        self.widget = canvas_widget(fig)
