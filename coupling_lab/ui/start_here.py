"""Lesson 00, start here: the whole idea in one small picture (:class:`CouplingPicture`).

The scenario and the text live in :mod:`coupling_lab.lessons.start_here`."""
from __future__ import annotations

import functools

import numpy as np

from ..lessons.start_here import CONTROLS, N_PLATFORMS, picture_run, picture_title, picture_window, shared_count
from ._common import MARKET_COLOR, platform_color, style_axes
from .app import LessonApp, control_widget, main_slider, new_figure

__all__ = ["CouplingPicture", "N_PLATFORMS", "CONTROLS"]

#: Platform 1's line is wide and pale, platform 2's narrow and dashed on top: when both read the
#: shared oracle the two lines coincide and both stay visible.
_ORACLE_STYLE = ({"lw": 4.0, "alpha": 0.55, "zorder": 2}, {"lw": 1.4, "ls": (0, (4, 2)), "zorder": 3})


class CouplingPicture(LessonApp):
    """Two platforms in the classroom crash; one slider: do they share an oracle?

    ``sharing`` 0 (each reads its own oracle), 0.5 (one of the two reads the
    shared oracle: still no two platforms on the same feed) or 1 (both read
    it). Top: the price each platform reads; bottom: a mark in every minute
    each platform liquidates. The time axis is the same at every position.
    """

    bounds = CONTROLS

    def __init__(self, sharing=None, seed=1):
        self._init = dict(sharing=sharing)
        self.seed = seed
        # the three dial positions, run once each: moving the slider back re-runs nothing
        self._run = functools.lru_cache(maxsize=4)(self._simulate)
        self.window = picture_window(seed)
        super().__init__()

    def build_controls(self):
        return {"sharing": main_slider(control_widget(CONTROLS["sharing"], self._init["sharing"], width="360px"))}

    def build_figure(self):
        fig, (ax_p, ax_r) = new_figure(2, 1, figsize=(8, 4.2), sharex=True, gridspec_kw={"height_ratios": [1.6, 1]})
        self.ax_price, self.ax_raster = ax_p, ax_r
        self.market_line, = ax_p.plot([], [], color=MARKET_COLOR, lw=1.0, label="market price", zorder=4)
        self.oracle_lines = [ax_p.plot([], [], color=platform_color(k), drawstyle="steps-post",
                                       label=f"oracle read by platform {k + 1}", **_ORACLE_STYLE[k])[0]
                             for k in range(N_PLATFORMS)]
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
        ax_p.set_xlim(*self.window)  # fixed along the dial
        fig.subplots_adjust(left=0.13, right=0.97, top=0.9, bottom=0.13, hspace=0.35)
        return fig

    def _simulate(self, sharing):
        return picture_run(sharing, self.seed)

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
        tt, kk = np.nonzero(result.count_tk)
        self.raster.set_offsets(np.column_stack([tt, kk]) if tt.size else np.empty((0, 2)))
        self.raster.set_edgecolors([platform_color(k) for k in kk] if kk.size else "none")
        self.price_title.set_text(picture_title(result))

    @staticmethod
    def values_sharing(result):
        return shared_count(result) / N_PLATFORMS
