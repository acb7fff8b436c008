"""Lesson 02b, two channels of coupling: two dials side by side (:class:`TwoChannels`)
and the corner prediction (:func:`corner_prediction`).

The logic (scenario, corners, cached runs, readout sentences) is in
:mod:`coupling_lab.channels`; this module only draws.
"""
from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np
from matplotlib.transforms import blended_transform_factory

from .. import channels as ch
from ._common import FUNDAMENTAL_COLOR, MARKET_COLOR, platform_color, style_axes
from .app import Bound, LessonApp, canvas_widget, main_slider, new_figure
from .quiz import Prediction

__all__ = ["TwoChannels", "corner_prediction", "corner_table_html", "asset_color"]

_BAR_LIMITS = (5.0, 20.0, 60.0, 100.0)  # per cent: the bar panel's few y limits
_PRICE_FLOORS = (60.0, 30.0, 0.0)  # per cent of the start: the price panel's few lower limits
_TIME = (80, 500)  # minutes shown: from just before the crash (minute 100) to the end of the run


def asset_color(a):
    """Asset 0 in the market's black; own asset ``k + 1`` in platform ``k``'s colour (only it holds it)."""
    return MARKET_COLOR if a == 0 else platform_color(a - 1)


def _bound(ctl):
    return Bound(ctl.low, ctl.high, integer=ctl.integer, choices=ctl.choices)


def _rows_html(rows):
    body = "".join(
        f"<tr><td style='padding:1px 12px 1px 0;vertical-align:top'><b>{html.escape(label)}</b></td>"
        f"<td class='cl-value' style='padding:1px 0'>{html.escape(sentence)}</td></tr>" for label, sentence in rows)
    return f"<table class='cl-readout' style='border-collapse:collapse;font-size:0.95em'>{body}</table>"


class TwoChannels(LessonApp):
    """Two dials side by side: shared oracle infrastructure and shared collateral.

    Controls: ``sharing`` (the main control), ``collateral_sharing``,
    ``fault`` (none / provider 0 outage), ``seed``; four preset buttons set
    both dials to a corner at once (one update). Panels: each held asset's
    market price against its fundamental (per cent of its start); the
    liquidation raster (platform x minute); the extra fall of each asset caused
    by forced selling. A readout states the numbers in sentences.
    """

    bounds = {name: _bound(ctl) for name, ctl in ch.CONTROLS.items()}

    def __init__(self, sharing=None, collateral_sharing=None, fault=None, seed=None):
        d = {name: ctl.default for name, ctl in ch.CONTROLS.items()}
        given = dict(sharing=sharing, collateral_sharing=collateral_sharing, fault=fault, seed=seed)
        self._init = {k: d[k] if v is None else v for k, v in given.items()}
        self.readout = widgets.HTML("")
        self._holding = False
        self.presets = {}
        for corner in ch.CORNERS:
            button = widgets.Button(description=corner.label, tooltip=f"oracle dial {corner.sharing:.0f}, "
                                    f"collateral dial {corner.collateral_sharing:.0f}",
                                    layout=widgets.Layout(width="auto"))
            button.add_class("cl-preset")
            button.on_click(lambda _b, c=corner: self.preset(c.key))
            self.presets[corner.key] = button
        super().__init__()

    # --- controls
    def build_controls(self):
        i, c = self._init, ch.CONTROLS
        style = {"description_width": "initial"}

        def dial(name, description):
            return widgets.FloatSlider(value=i[name], min=c[name].low, max=c[name].high, step=c[name].step,
                                       readout_format=".2f", description=description, style=style,
                                       continuous_update=False, layout=widgets.Layout(width="400px"))

        return {
            "sharing": main_slider(dial("sharing", "shared oracle infrastructure")),
            "collateral_sharing": dial("collateral_sharing", "shared collateral"),
            "fault": widgets.ToggleButtons(options=c["fault"].choices, value=i["fault"], description="oracle",
                                           style={"button_width": "130px", "description_width": "initial"}),
            "seed": widgets.BoundedIntText(value=i["seed"], min=c["seed"].low, max=c["seed"].high, description="seed",
                                           layout=widgets.Layout(width="140px"), style=style),
        }

    def preset(self, key):
        """Set both dials to the corner ``key`` (see :data:`coupling_lab.channels.CORNERS`) with one update."""
        corner = {c.key: c for c in ch.CORNERS}[key]
        self._holding = True
        try:
            self.controls["sharing"].value = corner.sharing
            self.controls["collateral_sharing"].value = corner.collateral_sharing
        finally:
            self._holding = False
        return self.update()

    def _on_change(self, change):
        if not self._holding:  # a preset moves two dials: it updates once, after both
            self.update()

    def layout(self):
        c = self.controls
        dials = widgets.HBox([c["sharing"], c["collateral_sharing"]],
                             layout=widgets.Layout(flex_flow="row wrap", grid_gap="0.3em 1.2em"))
        others = widgets.HBox([c["fault"], c["seed"]], layout=widgets.Layout(flex_flow="row wrap", grid_gap="0.3em 1.2em"))
        presets = widgets.HBox([widgets.HTML("<b>corners:</b>"), *self.presets.values()],
                               layout=widgets.Layout(flex_flow="row wrap", grid_gap="0.3em 0.6em"))
        return widgets.VBox([dials, others, presets, self.status.widget, canvas_widget(self.fig), self.readout],
                            layout=widgets.Layout(width="100%"))

    # --- figure
    def build_figure(self):
        fig, (ax_p, ax_r, ax_b) = new_figure(3, 1, figsize=(9, 7.8),
                                             gridspec_kw={"height_ratios": [2.0, 1.1, 1.3]})
        self.ax_price, self.ax_raster, self.ax_bar = ax_p, ax_r, ax_b
        A, K = len(ch.ASSETS), ch.N_PLATFORMS
        self.fund_lines = [ax_p.plot([], [], color=FUNDAMENTAL_COLOR if a == 0 else asset_color(a), lw=1.0, ls="--",
                                     alpha=0.8)[0] for a in range(A)]
        self.market_lines = [ax_p.plot([], [], color=asset_color(a), lw=1.4 if a == 0 else 1.2,
                                       zorder=5 if a == 0 else 4)[0] for a in range(A)]
        style_axes(ax_p, ylabel="price (% of its start)")
        ax_p.set_xlim(*_TIME)
        self.price_title = ax_p.set_title(" ", fontsize="medium", loc="left", y=1.0)
        self.note = ax_p.text(0.99, 0.97, "solid: market price   dashed: fundamental", transform=ax_p.transAxes,
                              ha="right", va="top", fontsize="small", color="#555555")
        self.outage_spans = [ax.axvspan(*ch.OUTAGE, color="#D55E00", alpha=0.12, lw=0, visible=False)
                             for ax in (ax_p, ax_r)]
        self.outage_label = ax_p.text(ch.OUTAGE[0] + 1, 0.03, "provider 0 outage", transform=blended_transform_factory(
            ax_p.transData, ax_p.transAxes), fontsize="small", color="#D55E00", visible=False)

        self.raster = ax_r.scatter([], [], marker="|", s=70, linewidths=1.4)
        style_axes(ax_r, xlabel="time (minutes)",
                   title="Liquidation raster: a mark in every minute a platform liquidates")
        ax_r.grid(False)
        ax_r.set_xlim(*_TIME)
        ax_r.set_ylim(K - 0.5, -0.5)
        ax_r.set_yticks(range(K), [""] * K)
        rows = blended_transform_factory(ax_r.transAxes, ax_r.transData)
        self.row_labels = [ax_r.text(-0.012, k, "", transform=rows, ha="right", va="center", fontsize="small",
                                     color=platform_color(k)) for k in range(K)]

        self.bars = ax_b.bar(range(A), np.zeros(A), color=[asset_color(a) for a in range(A)], width=0.6)
        ax_b.set_xticks(range(A), [f"{a.label}\n{a.like}-like, LT {round(100 * a.lt)} %" for a in ch.ASSETS],
                        fontsize="small")
        style_axes(ax_b, ylabel="extra fall (%)",
                   title="Extra fall of each asset caused by forced selling (max over the run)")
        ax_b.grid(axis="x", visible=False)
        self.bar_texts = [ax_b.text(a, 0, "", ha="center", va="bottom", fontsize="small") for a in range(A)]
        fig.subplots_adjust(left=0.21, right=0.97, top=0.95, bottom=0.11, hspace=0.5)
        return fig

    # --- model and drawing
    def compute(self, values):
        result = ch.run_pair(values["sharing"], values["collateral_sharing"], values["seed"], values["fault"])
        return result, ch.summarize_run(result), values

    def draw(self, computed):
        result, s, values = computed
        T = result.n_steps
        t = np.arange(T)
        start = result.market_ta[0]
        lo = 100.0
        for a, (fund, market) in enumerate(zip(self.fund_lines, self.market_lines)):
            held = a < len(s.held) and s.held[a]
            fund.set_visible(held)
            market.set_visible(held)
            if held:
                m = 100.0 * result.market_ta[:, a] / start[a]
                f = 100.0 * np.exp(result.x_ta[:, a] - result.x_ta[0, a])
                market.set_data(t, m)
                fund.set_data(t, f)
                lo = min(lo, float(m.min()), float(f.min()))
        # few distinct limits: the figure's static layer is reused as the dials move
        self.ax_price.set_ylim(next(y for y in _PRICE_FLOORS if y <= lo - 2.0), 105.0)
        n_own = s.n_platforms - s.n_common
        self.price_title.set_text(
            f"Prices of the assets held: {s.n_common} of {s.n_platforms} platforms on asset 0, "
            f"{n_own} on an asset of their own")
        outage = values["fault"] != "no fault"
        for span in self.outage_spans:
            span.set_visible(outage)
        self.outage_label.set_visible(outage)

        tt, kk = np.nonzero(result.count_tk)
        self.raster.set_offsets(np.column_stack([tt, kk]) if tt.size else np.empty((0, 2)))
        self.raster.set_edgecolors([platform_color(k) for k in kk] if kk.size else "none")
        self.raster.set_facecolors("none")
        provider = result.world.provider_of_feed
        for k, label in enumerate(self.row_labels):
            feed = result.world.feeds_of(k)[0]
            oracle = "provider 0" if provider[feed] == 0 else "own provider"
            label.set_text(f"P{k + 1} · {oracle} · asset {s.asset_of_platform[k]}")

        top = max(s.excess_fall_a[a] for a in range(len(s.held)) if s.held[a])
        ymax = next(y for y in _BAR_LIMITS if y >= 100.0 * top * 1.2)
        self.ax_bar.set_ylim(0, ymax)
        for a, (bar, text) in enumerate(zip(self.bars, self.bar_texts)):
            held = s.held[a]
            height = 100.0 * s.excess_fall_a[a] if held else 0.0
            bar.set_height(height)
            text.set_position((a, height + 0.02 * ymax))
            text.set_text(ch.percent(s.excess_fall_a[a]) if held else "not held")
        self.readout.value = _rows_html(ch.readout_lines(s, values["sharing"], values["collateral_sharing"]))
        self.summary = s

    def moving_artists(self):
        return [*self.fund_lines, *self.market_lines, self.price_title, *self.outage_spans, self.outage_label,
                self.raster, *self.row_labels, *self.bars, *self.bar_texts]


def corner_table_html(rows):
    """The four corners of one seed as an HTML table of formatted numbers, with the verdict as a sentence."""
    head = ("<tr><th style='text-align:left;padding:1px 12px 1px 0'>corner</th>"
            "<th style='padding:1px 12px'>extra fall of asset 0</th>"
            "<th style='padding:1px 12px'>deepest extra fall of an own asset</th>"
            "<th style='padding:1px 12px'>synchrony</th></tr>")
    body = []
    for corner, s in rows:
        common = ch.percent(s.common_excess) if s.held[0] else "not held"
        own = ch.percent(s.own_excess) if s.own_deepest is not None else "none held"
        sync = "not defined" if np.isnan(s.synchrony) else f"{s.synchrony:.2f}"
        body.append(f"<tr><td style='padding:1px 12px 1px 0'><b>{html.escape(corner.label)}</b></td>"
                    f"<td class='cl-value' style='text-align:right;padding:1px 12px'>{common}</td>"
                    f"<td class='cl-value' style='text-align:right;padding:1px 12px'>{own}</td>"
                    f"<td class='cl-value' style='text-align:right;padding:1px 12px'>{sync}</td></tr>")
    deepest = ch.deepest_corner(rows)
    worst = dict((c.key, s) for c, s in rows)[deepest.key]
    verdict = (f"On this seed the deepest crash is at <b>{html.escape(deepest.label)}</b>: forced selling pushes an "
               f"asset a further {ch.percent(worst.deepest)} below its fundamental path.")
    return (f"<div class='cl-corners'><table style='border-collapse:collapse;font-size:0.95em'>{head}"
            f"{''.join(body)}</table><p>{verdict}</p></div>")


def corner_prediction(seed=None):
    """The lesson's prediction, asked before the reveal: which corner has the deepest crash?

    The reveal (shown after **Check**) is the four corners of ``seed`` (the
    lesson's default seed if None) without a fault, from cached runs.
    """
    seed = ch.CONTROLS["seed"].default if seed is None else seed
    reveal = widgets.HTML(corner_table_html(ch.corner_rows(seed=seed)))
    labels = [c.label for c in ch.CORNERS]
    feedback = {
        "own feeds, own markets": "Fully apart, each platform sells a quarter of the collateral into a market of "
                                  "its own: the smallest push of all.",
        "one provider, own markets": "One provider times the platforms' liquidations together, but each sells into "
                                     "its own market: timing alone adds little while the provider works.",
        "own feeds, one market": "One market collects everyone's selling, so it falls further; but own feeds "
                                 "spread the selling over time, and the market recovers in between.",
        "one feed, one market": "Yes: all the selling lands in one market in the same minutes, so the market's "
                                "depth is overwhelmed before it can recover.",
    }
    return Prediction("Four platforms, the same 30 % crash. At which corner of the two dials does forced selling "
                      "push a market deepest below its fundamental path?", labels, answer="one feed, one market",
                      feedback=feedback, reveal=reveal)
