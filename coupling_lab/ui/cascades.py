"""Lesson 03, depth and cascades: the same book sold into a thin or deep market,
by one platform alone, by five on their own oracles, by five on one shared oracle."""
from __future__ import annotations

import functools
import html
import math

import ipywidgets as widgets
import numpy as np

from ..market import MarketParams
from ..scenarios import CrashScenario
from ..simulation import Config, simulate
from ._common import FUNDAMENTAL_COLOR, nice_ceiling, stable_limits, style_axes
from .app import Bound, LessonApp, canvas_widget, main_slider, new_figure

__all__ = ["DESIGNS", "cascade_config", "DepthCascade", "depth_sweep", "DepthSweepFigure"]

#: The three designs compared in every panel: (label, n_platforms, sharing, line style).
#: Designs are not platforms, so they are told apart by line style and shade,
#: leaving the platform colours to mean platforms.
DESIGNS = (
    ("one platform alone", 1, 1.0, dict(color="#56B4E9", ls=":", lw=2.2)),
    ("5 platforms, own oracles", 5, 0.0, dict(color="#555555", ls="--", lw=1.6)),
    ("5 platforms, one shared oracle", 5, 1.0, dict(color="#000000", ls="-", lw=1.8)),
)
SEED_MAX = 9999


def cascade_config(depth_musd=150.0, resilience=0.1, drop=0.06, n_platforms=5, sharing=1.0):
    """The lesson's scenario: a ``drop`` fall of the fundamental over 5 minutes, starting at minute 30.

    Every platform holds the same drawn book (``identical_books``), so the
    five-platform designs hold exactly five times the book of the one alone.
    The classroom calibration (150 M USD, 10 % resilience per minute, a 6 %
    fall) is where, over seeds 0-9, one platform alone adds about 1 % to the
    fall, five on their own oracles mostly a few per cent, and five on one
    shared oracle mostly run away (checked in ``tests/test_lessons_3_6.py``).
    """
    return Config(
        scenario=CrashScenario(n_steps=240, depth=drop, start=30, duration=5),
        n_platforms=n_platforms, sharing=sharing, identical_books=True,
        market=MarketParams(depth=depth_musd * 1e6, resilience=resilience),
    )


def _falls(result):
    """(fundamental fall, total market fall) as fractions of the starting price."""
    p0 = math.exp(result.x_t[0])
    fundamental = 1.0 - math.exp(result.x_t.min()) / p0
    total = 1.0 - result.market_t.min() / p0
    return fundamental, total


class DepthCascade(LessonApp):
    """Market depth (main control), resilience, fundamental fall and seed; three designs side by side.

    Panels: market price of each design beside the fundamental; the impact
    :math:`\\kappa_t`; the fall split into the part the path made and the
    extra part forced selling made; collateral sold.
    """

    bounds = {
        "depth": Bound(20.0, 2000.0),
        "resilience": Bound(0.0, 1.0),
        "drop": Bound(0.0, 30.0),
        "seed": Bound(0, SEED_MAX, integer=True),
    }

    def __init__(self, depth=400.0, resilience=0.1, drop=6.0, seed=1):
        self._init = dict(depth=depth, resilience=resilience, drop=drop, seed=seed)
        self.readout = widgets.HTML("")
        # one run per (design, checked values): moving the depth back and forth re-runs nothing
        self._run = functools.lru_cache(maxsize=8 * len(DESIGNS))(_simulate_design)
        super().__init__()

    def build_controls(self):
        i, style = self._init, {"description_width": "initial"}
        return {
            "depth": main_slider(widgets.FloatSlider(
                value=i["depth"], min=20, max=1000, step=10, description="market depth D (M USD)",
                continuous_update=False, style=style, layout=widgets.Layout(width="430px"))),
            "resilience": widgets.FloatSlider(value=i["resilience"], min=0, max=1, step=0.05,
                                              description="resilience ρ (per min)", continuous_update=False,
                                              style=style, layout=widgets.Layout(width="330px")),
            "drop": widgets.FloatSlider(value=i["drop"], min=0, max=30, step=1, description="fundamental fall (%)",
                                        continuous_update=False, style=style, layout=widgets.Layout(width="330px")),
            "seed": widgets.BoundedIntText(value=i["seed"], min=0, max=SEED_MAX, description="seed",
                                           style=style, layout=widgets.Layout(width="140px")),
        }

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
        self.fund_bars = ax_b.bar(x, np.zeros(3), color="#BBBBBB", label="fall of the fundamental")
        self.extra_bars = ax_b.bar(x, np.zeros(3), color="#D55E00", label="extra fall from forced selling")
        ax_b.set_xticks(x, short)
        self.legends.append(ax_b.legend(loc="upper left", fontsize="small", frameon=False))
        style_axes(ax_b, ylabel="fall from start (%)", title="How far the market fell")
        self.sold_bars = ax_q.bar(x, np.zeros(3), color=[st["color"] for *_, st in DESIGNS],
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


def _simulate_design(depth, resilience, drop_pct, n_platforms, sharing, seed):
    return simulate(cascade_config(depth, resilience, drop_pct / 100.0, n_platforms, sharing), seed=seed)


def _readout(runs):
    rows = []
    for (label, *_), r in zip(DESIGNS, runs):
        m = r.measures
        fundamental, total = _falls(r)
        rows.append((label, f"{100 * fundamental:.1f} %", f"{100 * total:.1f} %", f"{m.excess_drawdown:.3f}",
                     f"{m.liquidated_usd / 1e6:,.1f}", f"{m.bad_debt / 1e6:,.2f}"))
    head = ("design", "fundamental fall", "market fall", "excess drawdown max κ", "sold (M USD)", "bad debt (M USD)")
    cell = "padding:1px 12px 1px 0;text-align:right;font-variant-numeric:tabular-nums"
    out = "<tr>" + "".join(f"<th style='{cell}'>{html.escape(h)}</th>" for h in head) + "</tr>"
    for row in rows:
        out += "<tr>" + "".join(f"<td style='{cell}'>{html.escape(v)}</td>" for v in row) + "</tr>"
    return f"<table class='cl-readout' style='border-collapse:collapse;font-size:0.92em'>{out}</table>"


def depth_sweep(depths_musd, seeds, resilience=0.1, drop=0.06):
    """Excess drawdown (max κ) for each design, depth and seed.

    Returns
    -------
    ndarray, shape (len(DESIGNS), len(depths_musd), len(seeds)), log units
    """
    out = np.empty((len(DESIGNS), len(depths_musd), len(seeds)))
    for i, (_, n, sharing, _) in enumerate(DESIGNS):
        for j, depth in enumerate(depths_musd):
            cfg = cascade_config(float(depth), resilience, drop, n, sharing)
            for s, seed in enumerate(seeds):
                out[i, j, s] = simulate(cfg, seed=int(seed)).measures.excess_drawdown
    return out


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
