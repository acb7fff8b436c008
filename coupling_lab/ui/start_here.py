"""Lesson 00, start here: the whole idea in one small picture (:class:`CouplingPicture`)."""
from __future__ import annotations

import functools

import ipywidgets as widgets
import numpy as np

from ..simulation import Config, simulate
from ._common import MARKET_COLOR, platform_color, style_axes
from .app import Bound, LessonApp, main_slider, new_figure
from .sharing_dial import activity_window

__all__ = ["CouplingPicture"]

N_PLATFORMS = 2


class CouplingPicture(LessonApp):
    """Two platforms in the classroom crash; one slider: do they share an oracle?

    ``sharing`` 0 (each reads its own oracle), 0.5 (one of the two reads the
    shared oracle: still no two platforms on the same feed) or 1 (both read
    it). Top: the price each platform reads; bottom: a mark in every minute
    each platform liquidates.
    """

    bounds = {"sharing": Bound(0.0, 1.0)}

    def __init__(self, sharing=0.0, seed=1):
        self._init = dict(sharing=sharing)
        self.seed = seed
        # the three dial positions, run once each: moving the slider back re-runs nothing
        self._run = functools.lru_cache(maxsize=4)(self._simulate)
        super().__init__()

    def build_controls(self):
        return {"sharing": main_slider(widgets.FloatSlider(
            value=self._init["sharing"], min=0.0, max=1.0, step=0.5, readout_format=".1f",
            description="share the oracle", continuous_update=False, style={"description_width": "initial"},
            layout=widgets.Layout(width="360px")))}

    def build_figure(self):
        fig, (ax_p, ax_r) = new_figure(2, 1, figsize=(8, 4.2), sharex=True, gridspec_kw={"height_ratios": [1.6, 1]})
        self.ax_price, self.ax_raster = ax_p, ax_r
        self.market_line, = ax_p.plot([], [], color=MARKET_COLOR, lw=1.0, label="market price")
        self.oracle_lines = [ax_p.plot([], [], color=platform_color(k), lw=1.5, drawstyle="steps-post",
                                       label=f"oracle read by platform {k + 1}")[0] for k in range(N_PLATFORMS)]
        self.legend = ax_p.legend(loc="upper right", fontsize="small", frameon=True, framealpha=1.0,
                                  edgecolor="none")
        style_axes(ax_p, ylabel="price (USD)")
        self.price_title = ax_p.set_title(" ", fontsize="medium", loc="left", y=1.0)
        self.raster = ax_r.scatter([], [], marker="|", s=160, linewidths=1.8)
        ax_r.set_yticks(range(N_PLATFORMS))
        ax_r.set_yticklabels([f"platform {k + 1}" for k in range(N_PLATFORMS)])
        for k, label in enumerate(ax_r.get_yticklabels()):
            label.set_color(platform_color(k))
        ax_r.set_ylim(N_PLATFORMS - 0.5, -0.5)
        style_axes(ax_r, xlabel="time (minutes)", title="A mark in every minute a platform liquidates")
        ax_r.grid(False)
        fig.subplots_adjust(left=0.13, right=0.97, top=0.9, bottom=0.13, hspace=0.35)
        return fig

    def _simulate(self, sharing):
        return simulate(Config(n_platforms=N_PLATFORMS, sharing=sharing), seed=self.seed)

    def compute(self, values):
        return self._run(values["sharing"])

    def moving_artists(self):
        return [self.market_line, *self.oracle_lines, self.raster, self.price_title]

    def overlay_artists(self):
        return [self.legend]

    def draw(self, result):
        t = np.arange(result.n_steps)
        self.market_line.set_data(t, result.market_t)
        for k, line in enumerate(self.oracle_lines):
            line.set_data(t, result.price_tk[:, k])
        lo, hi = result.price_tk.min(), result.price_tk.max()
        self.ax_price.set_ylim(min(lo, result.market_t.min()) * 0.98, hi * 1.02)
        self.ax_price.set_xlim(*activity_window(result))
        tt, kk = np.nonzero(result.count_tk)
        self.raster.set_offsets(np.column_stack([tt, kk]) if tt.size else np.empty((0, 2)))
        self.raster.set_edgecolors([platform_color(k) for k in kk] if kk.size else "none")
        n_shared = sum(j == 0 for j in result.world.platform_oracle)
        what = {0: "each platform reads its own oracle", 1: "one platform reads the shared oracle, one its own",
                2: "both platforms read the same oracle"}[n_shared]
        sync = result.measures.synchrony
        self.price_title.set_text(f"Sharing {self.values_sharing(result):.1f}: {what} (synchrony {sync:.2f})")

    @staticmethod
    def values_sharing(result):
        return sum(j == 0 for j in result.world.platform_oracle) / N_PLATFORMS
