"""Lesson 08, the trader's view: place your own position in the crowd's liquidation map,
then see over many runs how often the crowd's cascade catches it (``coupling_lab.trader``
holds the logic; this module only draws)."""
from __future__ import annotations

import math

import ipywidgets as widgets
import numpy as np

from ..simulation import Config, build
from ..trader import FEEDS, LIVE_SEEDS, Position, cascade_odds, place_in_map
from ._common import FUNDAMENTAL_COLOR, PALETTE, nice_ceiling, platform_color, style_axes
from .app import Bound, LessonApp, main_slider, new_figure
from .quiz import Prediction

__all__ = ["CONFIG", "MAP_SEED", "PlacePosition", "CascadeOdds", "traders_prediction"]

CONFIG = Config()  # the classroom crash: 30 % over 2 h, 5 platforms, depth 200 M USD
MAP_SEED = 1
PRICE0 = CONFIG.scenario.price0
LT = CONFIG.platform.lt
CRASH_BOTTOM = PRICE0 * (1.0 - CONFIG.scenario.depth)
N_PLATFORMS = CONFIG.n_platforms
EDGES = np.arange(500.0, 2000.0 + 1e-9, 25.0)
HEALTH_GRID = np.round(np.arange(1.0, 2.0 + 1e-9, 0.005), 3)
SHARED_COLOR, INDEP_COLOR, CALM_COLOR, YOU_COLOR = PALETTE[5], PALETTE[0], FUNDAMENTAL_COLOR, "#000000"
FEED_LABELS = (("shared feed (oracle 0)", "shared"), ("its own feed", "own"))


def _usd(x):
    return f"{x:,.0f} USD"


def _musd(x):
    return f"{x / 1e6:,.1f} M USD"


class PlacePosition(LessonApp):
    """Debt (main control), collateral, platform and feed of the trader's position; the figure is
    the crowd's debt by liquidation price (all five platforms, stacked) with the position's
    liquidation price on it."""

    bounds = {
        "debt": Bound(500.0, 40_000.0),
        "collateral": Bound(1.0, 50.0),
        "platform": Bound(choices=tuple(range(N_PLATFORMS))),
        "feed": Bound(choices=FEEDS),
    }

    def __init__(self, debt=12_000.0, collateral=10.0, platform=0, feed="shared"):
        self._init = dict(debt=debt, collateral=collateral, platform=platform, feed=feed)
        self.readout = widgets.HTML("")
        self.world = build(CONFIG, MAP_SEED)
        super().__init__()

    def build_controls(self):
        i, style = self._init, {"description_width": "initial"}
        return {
            "debt": main_slider(widgets.FloatSlider(
                value=i["debt"], min=1000, max=20_000, step=250, description="your debt (USD)",
                readout_format=",.0f", continuous_update=False, style=style, layout=widgets.Layout(width="400px"))),
            "collateral": widgets.FloatSlider(
                value=i["collateral"], min=1, max=30, step=0.5, description="your collateral (units)",
                readout_format=".1f", continuous_update=False, style=style, layout=widgets.Layout(width="360px")),
            "platform": widgets.Dropdown(options=[(f"P{k + 1}", k) for k in range(N_PLATFORMS)], value=i["platform"],
                                         description="platform", style=style, layout=widgets.Layout(width="160px")),
            "feed": widgets.ToggleButtons(options=FEED_LABELS, value=i["feed"], description="it reads",
                                          style={"description_width": "initial", "button_width": "11em"}),
        }

    def build_figure(self):
        fig, ax = new_figure(figsize=(10.5, 3.9))
        self.ax = ax
        placement = place_in_map(Position(), self.world.books, self.world.platforms, PRICE0, EDGES)
        left, width = EDGES[:-1], np.diff(EDGES)
        bottom = np.zeros(left.size)
        for k in range(N_PLATFORMS):
            h = placement.debt_bk[:, k] / 1e6
            ax.bar(left, h, width=width, bottom=bottom, align="edge", color=platform_color(k), lw=0,
                   label=f"P{k + 1}")
            bottom = bottom + h
        top = nice_ceiling(bottom.max() * 1.15)
        ax.set_xlim(EDGES[0], EDGES[-1])
        ax.set_ylim(0, top)
        ax.axvline(CRASH_BOTTOM, color=CALM_COLOR, ls="--", lw=1.2)
        ax.text(CRASH_BOTTOM, top * 0.97, " the crash alone\n reaches here", color="#555555", fontsize="small",
                va="top", ha="left")
        self.you = ax.axvline(PRICE0, color=YOU_COLOR, lw=2.2, label="your liquidation price")
        self.you_text = ax.text(PRICE0, top * 0.55, "", fontsize="small", ha="right", va="center",
                                bbox=dict(facecolor="white", edgecolor="none", alpha=0.85, pad=1.5))
        self.legend = ax.legend(loc="upper left", fontsize="small", frameon=False, ncol=2)
        style_axes(ax, xlabel="liquidation price (USD per unit)",
                   ylabel="crowd's debt (M USD per 25 USD)",
                   title="The crowd's liquidation map: debt by liquidation price, all five platforms")
        fig.subplots_adjust(left=0.08, right=0.97, top=0.9, bottom=0.14)
        return fig

    def compute(self, values):
        pos = Position(collateral=values["collateral"], debt=values["debt"], platform=values["platform"],
                       feed=values["feed"])
        return place_in_map(pos, self.world.books, self.world.platforms, PRICE0, EDGES), pos

    def draw(self, out):
        placement, pos = out
        p = placement.liquidation_price
        x = float(np.clip(p, EDGES[0], EDGES[-1]))
        self.you.set_xdata([x, x])
        self.you_text.set_x(x)
        self.you_text.set_text(f"you: {p:,.0f} USD ")
        self.readout.value = placement_sentence(placement, pos)

    def moving_artists(self):
        return [self.you, self.you_text]

    def overlay_artists(self):
        return []

    def extra_widgets(self):
        return [self.readout]

    @property
    def position(self):
        """The last valid position (a :class:`~coupling_lab.trader.Position`)."""
        return self.result[1]


def placement_sentence(placement, pos):
    """The readout under the map, as HTML sentences."""
    p, h = placement.liquidation_price, placement.health
    feed = "the shared feed (oracle 0)" if pos.feed == "shared" else f"P{pos.platform + 1}'s own feed"
    lines = [f"<b>Your position</b>: {pos.collateral:,.1f} units, {_usd(pos.debt)} of debt on "
             f"P{pos.platform + 1}, which reads {feed}."]
    if h <= 1.0:
        lines.append(f"Health at entry {h:.2f}: at or below 1, so the position is liquidatable at once "
                     f"(its liquidation price {_usd(p)} is above the starting price {_usd(PRICE0)}). "
                     "Lower the debt or add collateral.")
    else:
        lines.append(f"<b>Liquidation price</b> {_usd(p)}, {100 * (1 - p / PRICE0):.1f} % below the start; "
                     f"<b>health at entry</b> {h:.2f}.")
        lines.append(f"In a fall, {100 * placement.share_before:.0f} % of the crowd's debt is liquidated at "
                     f"higher prices, before yours: if every platform read {_usd(p)}, the crowd would sell "
                     f"{_musd(placement.crowd_sold_usd)} of collateral in one round.")
        if math.isfinite(placement.nearest_cluster):
            lines.append(f"The biggest pile of the crowd's debt within 10 % above you is at about "
                         f"{_usd(placement.nearest_cluster)}.")
    return "<div class='cl-readout' style='line-height:1.45'>" + "<br>".join(lines) + "</div>"


class CascadeOdds(LessonApp):
    """Over a few runs of the classroom crash: the share of runs that catch a position, by health
    at entry, when the crowd shares one feed, reads independent feeds, or (grey) with the forced
    selling taken out. Follows :class:`PlacePosition`'s platform, feed and health."""

    bounds = {"safety": Bound(50.0, 100.0)}

    def __init__(self, place, seeds=LIVE_SEEDS, safety=90.0):
        self.place, self.seeds = place, tuple(seeds)
        self._init_safety = safety
        self.readout = widgets.HTML("")
        super().__init__()
        for w in place.controls.values():  # registered after the placement's own observers: they run first
            w.observe(self._on_change, names="value")

    def build_controls(self):
        return {"safety": widgets.FloatSlider(
            value=self._init_safety, min=50, max=100, step=5, description="safe in (% of runs)",
            readout_format=".0f", continuous_update=False, style={"description_width": "initial"},
            layout=widgets.Layout(width="360px"))}

    def build_figure(self):
        fig, ax = new_figure(figsize=(10.5, 3.9))
        self.ax = ax
        st = dict(drawstyle="steps-post")
        self.curves = {
            "shared": ax.plot([], [], color=SHARED_COLOR, lw=2.4, label="every platform on one shared feed", **st)[0],
            "independent": ax.plot([], [], color=INDEP_COLOR, lw=2.0, ls="--", label="each platform on its own feed",
                                   **st)[0],
            "no cascade": ax.plot([], [], color=CALM_COLOR, lw=1.6, ls=":", label="the crash without forced selling",
                                  **st)[0],
        }
        self.you = ax.axvline(1.0, color=YOU_COLOR, lw=1.8, label="your health at entry")
        self.target = ax.axhline(10.0, color="#777777", lw=0.9, ls="-.")
        self.marks = ax.plot([], [], ls="none", marker="o", ms=7, mfc="white", mec=YOU_COLOR, mew=1.6)[0]
        ax.set_xlim(HEALTH_GRID[0], HEALTH_GRID[-1])
        ax.set_ylim(-3, 103)
        self.legend = ax.legend(loc="upper right", fontsize="small", frameon=False)
        style_axes(ax, xlabel="health at entry h₀ = c p₀ LT / d", ylabel="runs that liquidate it (%)",
                   title=f"How often a position like yours is caught, over {len(self.seeds)} runs of the crash")
        fig.subplots_adjust(left=0.08, right=0.97, top=0.9, bottom=0.14)
        return fig

    def compute(self, values):
        pos = self.place.position
        odds = cascade_odds(pos.platform, pos.feed, seeds=self.seeds, config=CONFIG)
        return odds, pos, values["safety"] / 100.0

    def draw(self, out):
        odds, pos, safety = out
        h = pos.health(PRICE0, LT)
        for crowd, line in self.curves.items():
            need = odds.need(crowd)
            line.set_data(HEALTH_GRID, 100.0 * (need[None, :] > HEALTH_GRID[:, None]).mean(axis=1))
        x = float(np.clip(h, HEALTH_GRID[0], HEALTH_GRID[-1]))
        self.you.set_xdata([x, x])
        self.marks.set_data([x] * 3, [100.0 * odds.caught(h, c) for c in ("shared", "independent", "no cascade")])
        self.target.set_ydata([100 * (1 - safety)] * 2)
        self.readout.value = odds_sentence(odds, pos, safety)

    def moving_artists(self):
        return [*self.curves.values(), self.you, self.target, self.marks, self.legend]

    def extra_widgets(self):
        return [self.readout]


def _of(share, n):
    return f"{round(share * n)} of {n}"


def odds_sentence(odds, pos, safety):
    """The readout under the odds figure, as HTML sentences."""
    n, h = len(odds.seeds), pos.health(PRICE0, LT)
    hs, hi, hc = (odds.safe_health(safety, c) for c in ("shared", "independent", "no cascade"))
    pct = f"{100 * safety:.0f} %"
    lines = [
        f"<b>With health {h:.2f} at entry</b>, your position is liquidated in {_of(odds.caught(h, 'shared'), n)} runs "
        f"when every platform shares one feed, in {_of(odds.caught(h, 'independent'), n)} when each reads its own, "
        f"and in {_of(odds.caught(h, 'no cascade'), n)} if the crash came without forced selling.",
        f"<b>To be safe in {pct} of the runs</b> it needs health {hs:.2f} at entry (liquidation price "
        f"{_usd(PRICE0 / hs)}) when the feeds are shared, {hi:.2f} ({_usd(PRICE0 / hi)}) when they are independent, "
        f"and {hc:.2f} without the cascade: the shared feed asks {hs - hi:+.2f} of health on top.",
        f"Runs: seeds {odds.seeds[0]} to {odds.seeds[-1]} of the classroom crash (30 % over 2 hours).",
    ]
    return "<div class='cl-readout' style='line-height:1.45'>" + "<br>".join(lines) + "</div>"


def traders_prediction(reveal=None):
    """The lesson's prediction, asked before the runs are shown (``reveal`` appears after Check)."""
    return Prediction(
        "Your position stays as you placed it and the same 30 % crash comes. To be safe in 9 runs out of 10, "
        "the health at entry you need when all five platforms read one shared feed, compared with when each "
        "reads its own, is:",
        ["about the same: the crash is the same 30 %",
         "higher: the crowd's liquidations arrive together and push the price further down",
         "lower: one well-run shared feed is more accurate than five"],
        answer=1,
        feedback=[
            "The crash is the same, but the crowd's forced selling is not spread out in the same way. "
            "Press Check on another answer after looking at the runs below.",
            "Yes. When every platform reads the same price they liquidate in the same minutes; their selling "
            "lands on the market at once and the dip goes deeper than the crash itself. The runs below show by how much.",
            "Accuracy is not the issue here: a shared feed tracks the market closely, so it also reports every "
            "dip the crowd's own selling causes, to every platform at once.",
        ],
        reveal=reveal,
    )
