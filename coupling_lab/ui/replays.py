"""Lesson 11, replays: the model against the record (:class:`Replays`, :func:`anchor_prediction`).

The logic (paths, settings, runs, figures, sentences) is in :mod:`coupling_lab.replays`;
this module only draws.
"""
from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np
from matplotlib.transforms import blended_transform_factory

from .. import replays as rp
from ._common import MARKET_COLOR, platform_color, style_axes
from .app import LessonApp, canvas_widget, main_slider, new_figure
from .quiz import Prediction

__all__ = ["Replays", "anchor_prediction"]

_MAX_ASSETS, _MAX_PLATFORMS, _MAX_FIGURES = 2, 3, 6
_ASSET_COLORS = (MARKET_COLOR, "#7F7F7F")
_PLATFORM_NAMES = {
    "black-thursday": ("Maker-like, OSM 1 h",),
    "compound-dai": ("Compound-like, anchored reporter",),
    "luna": ("Venus-like", "Blizz-like"),
    "october-2025": ("lending on BTC", "lending on the alt", "perp venue"),
}
_RATIO_LIMITS = (1e-3, 1e3)


def _wrap(text, width=34):
    """A figure label on at most two lines."""
    if len(text) <= width:
        return text
    cut = text.rfind(" ", 0, width)
    cut = cut if cut > 0 else width
    return text[:cut] + "\n" + text[cut + 1:]


def _rows_html(rows):
    body = "".join(
        f"<tr><td style='padding:1px 12px 1px 0;vertical-align:top'><b>{html.escape(label)}</b></td>"
        f"<td class='cl-value' style='padding:1px 0'>{html.escape(sentence)}</td></tr>" for label, sentence in rows)
    return f"<table class='cl-readout' style='border-collapse:collapse;font-size:0.95em'>{body}</table>"


class Replays(LessonApp):
    """Pick a replay; see its path with what each platform read, its liquidations, and the model beside the record.

    Controls: ``event`` (the main control: a slider over the replays) and
    ``setting`` (the settings of the time, or the one setting the lesson
    changes). Panels: prices in per cent of their start (log scale) -- the
    market of each asset (black, grey) and what each platform read (its
    colour); the liquidation raster (one row per platform, ADL as crosses on
    a perp venue's row); the model's figure divided by the reported one for
    every figure on record (1 = the record, log scale). The readout states
    every figure in sentences, then what the replay reproduces and leaves out.
    """

    bounds = dict(rp.CONTROLS)  # the declared Controls: the widgets and the bound check cannot drift apart

    def __init__(self, event=None, setting=None):
        c = rp.CONTROLS
        self._init = {"event": c["event"].default if event is None else event,
                      "setting": c["setting"].default if setting is None else setting}
        self.readout = widgets.HTML("")
        self.about = widgets.HTML("")
        super().__init__()

    def build_controls(self):
        i, c = self._init, rp.CONTROLS
        style = {"description_width": "initial"}
        return {
            "event": main_slider(widgets.SelectionSlider(options=c["event"].choices, value=i["event"],
                                                         description="event", continuous_update=False, style=style,
                                                         readout=True, layout=widgets.Layout(width="640px"))),
            "setting": widgets.ToggleButtons(options=c["setting"].choices, value=i["setting"], description="settings",
                                             style={"button_width": "170px", "description_width": "initial"}),
        }

    def layout(self):
        c = self.controls
        return widgets.VBox([c["event"], c["setting"], self.status.widget, canvas_widget(self.fig), self.readout,
                             self.about], layout=widgets.Layout(width="100%"))

    def build_figure(self):
        fig, (ax_p, ax_r, ax_b) = new_figure(3, 1, figsize=(9, 8.2), gridspec_kw={"height_ratios": [2.0, 1.0, 1.5]})
        self.ax_price, self.ax_raster, self.ax_bar = ax_p, ax_r, ax_b
        self.market_lines = [ax_p.plot([], [], color=_ASSET_COLORS[a], lw=1.6, zorder=5)[0]
                             for a in range(_MAX_ASSETS)]
        self.read_lines = [ax_p.plot([], [], color=platform_color(k), lw=1.2, ls="--", drawstyle="steps-post",
                                     zorder=6)[0] for k in range(_MAX_PLATFORMS)]
        ax_p.set_yscale("log")
        style_axes(ax_p, ylabel="price (% of its start, log scale)")
        self.price_title = ax_p.set_title(" ", fontsize="medium", loc="left", y=1.0)
        self.legend_text = ax_p.text(0.01, 0.03, "", transform=ax_p.transAxes, fontsize="small", va="bottom",
                                     color="#333333")

        self.raster = ax_r.scatter([], [], marker="|", s=70, linewidths=1.4)
        self.adl = ax_r.scatter([], [], marker="x", s=18, linewidths=1.0, color="#D55E00")
        style_axes(ax_r, xlabel="hours from the start",
                   title="Liquidation raster: a mark in every step a platform liquidates (x: auto-deleveraging)")
        ax_r.grid(False)
        ax_r.set_ylim(_MAX_PLATFORMS - 0.5, -0.5)
        ax_r.set_yticks(range(_MAX_PLATFORMS), [""] * _MAX_PLATFORMS)
        rows = blended_transform_factory(ax_r.transAxes, ax_r.transData)
        self.row_labels = [ax_r.text(-0.012, k, "", transform=rows, ha="right", va="center", fontsize="small",
                                     color=platform_color(k)) for k in range(_MAX_PLATFORMS)]

        self.bars = ax_b.barh(range(_MAX_FIGURES), np.ones(_MAX_FIGURES), left=0.0, color="#0072B2", height=0.6)
        ax_b.set_xscale("log")
        ax_b.set_xlim(*_RATIO_LIMITS)
        ax_b.axvline(1.0, color="#333333", lw=1.0)
        ax_b.set_ylim(_MAX_FIGURES - 0.5, -0.5)
        ax_b.set_yticks(range(_MAX_FIGURES), [""] * _MAX_FIGURES)
        style_axes(ax_b, xlabel="model / reported (1 = the record; log scale)",
                   title="The model beside the record, figure by figure")
        ax_b.grid(axis="y", visible=False)
        labels = blended_transform_factory(ax_b.transAxes, ax_b.transData)
        self.bar_labels = [ax_b.text(-0.012, i, "", transform=labels, ha="right", va="center", fontsize="x-small",
                                     wrap=False)
                           for i in range(_MAX_FIGURES)]
        self.bar_texts = [ax_b.text(1.0, i, "", ha="left", va="center", fontsize="small")
                          for i in range(_MAX_FIGURES)]
        fig.subplots_adjust(left=0.3, right=0.97, top=0.95, bottom=0.07, hspace=0.55)
        return fig

    def compute(self, values):
        run = rp.lesson_run(values["event"], values["setting"])
        return run, rp.readout_rows(run)

    def draw(self, computed):
        run, rows = computed
        res, replay = run.result, run.replay
        T = res.n_steps
        hours = np.arange(T) * replay.step_minutes / 60.0
        span = (0.0, hours[-1])
        market = res.market_ta
        lo = 100.0
        for a, line in enumerate(self.market_lines):
            shown = a < market.shape[1]
            line.set_visible(shown)
            if shown:
                y = 100.0 * market[:, a] / market[0, a]
                line.set_data(hours, y)
                lo = min(lo, float(y.min()))
        world = res.world
        names = _PLATFORM_NAMES[replay.key]
        for k, line in enumerate(self.read_lines):
            shown = k < world.n_platforms
            line.set_visible(shown)
            if shown:
                a = world.assets_of(k)[0]
                y = 100.0 * res.price_tk[:, k] / market[0, a]
                line.set_data(hours, y)
                lo = min(lo, float(y.min()))
            self.row_labels[k].set_text(names[k] if shown else "")
        floor = 10.0 ** np.floor(np.log10(max(lo, 1e-6)) - 0.05)
        self.ax_price.set_ylim(floor, 130.0)
        for ax in (self.ax_price, self.ax_raster):
            ax.set_xlim(*span)
        assets = " and ".join(replay.labels)
        self.price_title.set_text(f"{replay.title}: {assets} (solid); what each platform read (dashed)")
        self.legend_text.set_text("stylised path, shaped from the reported figures")

        tt, kk = np.nonzero(res.count_tk)
        self.raster.set_offsets(np.column_stack([hours[tt], kk]) if tt.size else np.empty((0, 2)))
        self.raster.set_edgecolors([platform_color(k) for k in kk] if kk.size else "none")
        self.raster.set_facecolors("none")
        adl = []
        for k, p in enumerate(world.platforms):
            if getattr(p, "kind", "") == "perp":
                steps = np.nonzero(res.engine_outputs[k]["adl_notional"] > 0)[0]
                adl += [(hours[t], k) for t in steps]
        self.adl.set_offsets(np.array(adl) if adl else np.empty((0, 2)))

        on_record = [f for f in run.figures if f.reported]
        for i, (bar, label, text) in enumerate(zip(self.bars, self.bar_labels, self.bar_texts)):
            if i < len(on_record):
                f = on_record[i]
                ratio = f.model / f.reported
                shown = float(np.clip(ratio, *_RATIO_LIMITS)) if ratio > 0 else _RATIO_LIMITS[0]
                left, width = (shown, 1.0 - shown) if shown < 1.0 else (1.0, shown - 1.0)
                bar.set_x(left)
                bar.set_width(width)
                bar.set_visible(True)
                label.set_text(_wrap(f.label))
                if ratio <= 0:
                    words = "model 0"
                elif ratio < _RATIO_LIMITS[0]:
                    words = "below 1/1000"
                elif ratio >= 10 or ratio < 0.1:
                    words = f"{ratio:.2g} times"
                else:
                    words = f"{ratio:.2f} times"
                text.set_position((max(shown, 1.0) * 1.08, i))
                text.set_text(words)
            else:
                bar.set_visible(False)
                label.set_text("")
                text.set_text("")
        self.readout.value = _rows_html(rows)
        self.about.value = _rows_html([("reproduces", replay.reproduces), ("leaves out", replay.leaves_out),
                                       ("scaled", replay.scaling)])
        self.run = run

    def moving_artists(self):
        return [*self.market_lines, *self.read_lines, self.price_title, self.legend_text, self.raster, self.adl,
                *self.row_labels, *self.bars, *self.bar_labels, *self.bar_texts]


def anchor_prediction():
    """The lesson's prediction, asked before the replays are shown: did Compound's anchor stop the DAI spike?"""
    q = rp.quoted_figures_compound()
    reveal = widgets.HTML(
        f"<p class='cl-reveal'>In the replay the platform liquidates <b>{html.escape(q['with'])}</b> of DAI debt with "
        f"the anchor, and <b>{html.escape(q['without'])}</b> without any anchor: the anchor held nothing back. Its "
        f"30-minute average followed the same rising price, so it never fell 20 % behind.</p>")
    options = ["Yes: a 30 % premium is outside a ±20 % band, so the price was rejected",
               "No: the average moved up with the premium, so the price stayed inside the band",
               "Partly: it held the price back for the 30 minutes of its window"]
    feedback = {
        options[0]: "The band is around a moving average, not around 1.00 USD. A premium that builds up over "
                    "45 minutes drags the average with it.",
        options[1]: "Yes. The anchor compares the price with its own recent past: a move slower than the window "
                    "is never more than 20 % away from it.",
        options[2]: "It would, for a jump. This move built up over about 45 minutes: the average followed it "
                    "closely enough that nothing was rejected.",
    }
    return Prediction("On 26 November 2020 DAI traded at up to 1.30 USD on the one venue Compound's reporter "
                      "posted, over about 45 minutes. The reporter was anchored to ±20 % of a 30-minute average "
                      "price. Did the anchor stop the spike from reaching the platform?", options, answer=1,
                      feedback=feedback, reveal=reveal)
