"""Lesson 06, margin-call forecasting: the liquidation map and the cascade
forecast beside a simulated run of the same drop."""
from __future__ import annotations

import functools
import html
import math

import ipywidgets as widgets
import numpy as np

from ..forecast import liquidation_map
from ..lessons.forecast import (CONTROLS, DROP_AT, N_PLATFORMS, N_STEPS, PRICE0, READOUT_HEAD, SEED_MAX,
                                drop_config, outcome, readout_rows)
from ._common import MARKET_COLOR, nice_ceiling, platform_color, style_axes
from .app import LessonApp, control_widget, main_slider, new_figure

__all__ = ["SEED_MAX", "PRICE0", "DROP_AT", "drop_config", "ForecastVsSimulation", "CONTROLS"]

FORECAST_COLOR = "#000000"
SIM_COLOR = "#999999"
_outcome = outcome


class ForecastVsSimulation(LessonApp):
    """Drop (main control), depth, resilience and seed. Left: the liquidation map by price level
    per platform, with the fundamental price after the drop and where the forecast and the
    simulation end. Right: collateral sold over time, forecast against simulation."""

    bounds = CONTROLS

    def __init__(self, drop=None, depth=None, resilience=None, seed=None):
        self._init = dict(drop=drop, depth=depth, resilience=resilience, seed=seed)
        self.readout = widgets.HTML("")
        self._maps = {}
        # model outputs keyed on the checked values: moving the drop back and forth re-runs nothing
        self._outcome = functools.lru_cache(maxsize=8)(outcome)
        super().__init__()

    def build_controls(self):
        i = self._init
        widths = {"drop": "380px", "depth": "330px", "resilience": "300px", "seed": "140px"}
        controls = {name: control_widget(c, i[name], width=widths[name]) for name, c in CONTROLS.items()}
        main_slider(controls["drop"])
        return controls

    def build_figure(self):
        fig, (ax_m, ax_c) = new_figure(1, 2, figsize=(11, 5.0), gridspec_kw={"width_ratios": [1.1, 1.0]})
        self.ax_map, self.ax_cum = ax_m, ax_c
        self.map_polys = [ax_m.fill([0], [0], color=platform_color(k), lw=0, alpha=0.85, label=f"P{k + 1}")[0]
                          for k in range(N_PLATFORMS)]
        self.v_fund = ax_m.axvline(PRICE0, color="#777777", ls="--", lw=1.2, label="after the drop $p_f$")
        self.v_fc = ax_m.axvline(PRICE0, color=FORECAST_COLOR, ls="-", lw=1.6, label="forecast bottom $m^*$")
        self.v_sim = ax_m.axvline(PRICE0, color=MARKET_COLOR, ls=":", lw=1.8, label="simulated bottom")
        # legends under the axes, never over the data
        self.legends = [ax_m.legend(loc="upper left", bbox_to_anchor=(0.0, -0.16), fontsize="small", frameon=False,
                                    ncol=4)]
        style_axes(ax_m, xlabel="price the platforms read (USD)", ylabel="sold in a first round (M USD)",
                   title="Liquidation map: collateral sold if the price were p")
        st = dict(drawstyle="steps-post")
        self.cum_lines = {
            "fc_shared": ax_c.plot([], [], color=FORECAST_COLOR, lw=1.8, marker="o", ms=3,
                                   label="forecast, one shared price", **st)[0],
            "sim_shared": ax_c.plot([], [], color=SIM_COLOR, lw=2.6, alpha=0.8, label="simulated, sharing 1", **st)[0],
            "fc_indep": ax_c.plot([], [], color=FORECAST_COLOR, lw=1.3, ls="--", marker="s", ms=3,
                                  label="forecast, each platform alone", **st)[0],
            "sim_indep": ax_c.plot([], [], color=SIM_COLOR, lw=1.6, ls="--", label="simulated, sharing 0", **st)[0],
        }
        self.legends.append(ax_c.legend(loc="upper left", bbox_to_anchor=(0.0, -0.16), fontsize="small",
                                        frameon=False, ncol=2))
        style_axes(ax_c, xlabel="minutes after the drop (forecast: one round per minute)",
                   ylabel="sold so far (M USD)", title="Forecast vs simulation: cumulative forced selling")
        fig.subplots_adjust(left=0.07, right=0.98, top=0.92, bottom=0.25, wspace=0.22)
        return fig

    def _map(self, seed, world):
        if seed not in self._maps:
            prices = np.linspace(0.25 * PRICE0, PRICE0, 121)
            self._maps = {seed: liquidation_map(world.books, world.platforms, prices)}
        return self._maps[seed]

    def compute(self, values):
        drop, depth, rho, seed = values["drop"] / 100.0, values["depth"], values["resilience"], values["seed"]
        world, sim_shared, sim_indep, fc_shared, fc_indep = self._outcome(drop, depth, rho, seed)
        return dict(values=values, lmap=self._map(seed, world), sim_shared=sim_shared, sim_indep=sim_indep,
                    fc_shared=fc_shared, fc_indep=fc_indep)

    def draw(self, out):
        lmap = out["lmap"]
        x = lmap.price_p
        if lmap is not getattr(self, "_drawn_map", None):  # a new seed: the map is part of the static layer
            top = np.cumsum(lmap.notional_pk / 1e6, axis=1)
            for k, poly in enumerate(self.map_polys):
                lower = top[:, k - 1] if k else np.zeros_like(x)
                poly.set_xy(np.column_stack([np.r_[x, x[::-1]], np.r_[lower, top[::-1, k]]]))
            self.ax_map.set_xlim(x[0], x[-1])
            self.ax_map.set_ylim(0, top[:, -1].max() * 1.25)
            self._drawn_map = lmap
            if getattr(self, "layers", None) is not None:
                self.layers.invalidate()
        fc, fi = out["fc_shared"], out["fc_indep"]
        p_f = PRICE0 * (1 - fc.drop)
        sim = out["sim_shared"]
        clip = lambda p: float(np.clip(p, x[0], x[-1]))  # noqa: E731
        self.v_fund.set_xdata([clip(p_f)] * 2)
        self.v_fc.set_xdata([clip(fc.final_price)] * 2)
        self.v_sim.set_xdata([clip(sim.market_t.min())] * 2)

        horizon = N_STEPS - DROP_AT
        ymax = 0.0
        for key, series in (("sim_shared", sim.notional_tk.sum(axis=1)),
                            ("sim_indep", out["sim_indep"].notional_tk.sum(axis=1))):
            cum = np.cumsum(series[DROP_AT:]) / 1e6
            self.cum_lines[key].set_data(np.arange(horizon), cum)
            ymax = max(ymax, cum[-1])
        for key, f in (("fc_shared", fc), ("fc_indep", fi)):
            cum = np.r_[np.cumsum(f.sold_nk.sum(axis=1)), f.liquidated_usd] / 1e6
            self.cum_lines[key].set_data(np.arange(cum.size), cum)
            ymax = max(ymax, cum[-1])
        busy = [np.flatnonzero(out[k].notional_tk.sum(axis=1)) for k in ("sim_shared", "sim_indep")]
        last = max([b[-1] - DROP_AT for b in busy if b.size] + [fc.n_rounds, fi.n_rounds, 10])
        # round limits: the axes (and their cached tick labels) move only when the data cross them
        self.ax_cum.set_xlim(-0.5, min(horizon, 10 * math.ceil((last + 5) / 10)))
        self.ax_cum.set_ylim(0, nice_ceiling(max(ymax * 1.1, 0.1)))
        self.readout.value = _readout(out)

    def moving_artists(self):
        return [self.v_fund, self.v_fc, self.v_sim, *self.cum_lines.values()]

    def extra_widgets(self):
        return [self.readout]


def _readout(out):
    rows = readout_rows(out["fc_shared"], out["fc_indep"], out["sim_shared"], out["sim_indep"])
    cell = "padding:1px 14px 1px 0;text-align:right;font-variant-numeric:tabular-nums"
    body = "<tr>" + "".join(f"<th style='{cell}'>{html.escape(h)}</th>" for h in READOUT_HEAD) + "</tr>"
    for label, sold, fall, note in rows:
        body += (f"<tr><td style='padding-right:12px'><b>{html.escape(label)}</b></td>"
                 f"<td style='{cell}'>{html.escape(sold)}</td><td style='{cell}'>{html.escape(fall)}</td>"
                 f"<td style='color:#555'>{html.escape(note)}</td></tr>")
    return f"<table class='cl-readout' style='border-collapse:collapse;font-size:0.92em'>{body}</table>"
