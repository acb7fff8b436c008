"""Lesson 06, margin-call forecasting: the liquidation map and the cascade
forecast beside a simulated run of the same drop."""
from __future__ import annotations

import functools
import html
import math

import ipywidgets as widgets
import numpy as np

from ..forecast import forecast, liquidation_map
from ..market import MarketParams
from ..scenarios import ReplayScenario
from ..simulation import Config, build, run
from ._common import MARKET_COLOR, nice_ceiling, platform_color, style_axes
from .app import Bound, LessonApp, main_slider, new_figure

__all__ = ["PRICE0", "DROP_AT", "drop_config", "ForecastVsSimulation"]

PRICE0 = 2000.0
DROP_AT = 10  # the minute the price drops
N_STEPS = 150
N_PLATFORMS = 5
SEED_MAX = 9999
FORECAST_COLOR = "#000000"
SIM_COLOR = "#999999"


def drop_config(drop=0.06, depth_musd=200.0, resilience=0.3, sharing=1.0):
    """A step drop of ``drop`` at minute 10 (a replayed path), default oracles and books."""
    prices = np.r_[np.full(DROP_AT, PRICE0), np.full(N_STEPS - DROP_AT, PRICE0 * (1.0 - drop))]
    return Config(scenario=ReplayScenario(prices), n_platforms=N_PLATFORMS, sharing=sharing,
                  market=MarketParams(depth=depth_musd * 1e6, resilience=resilience))


class ForecastVsSimulation(LessonApp):
    """Drop (main control), depth, resilience and seed. Left: the liquidation map by price level
    per platform, with the fundamental price after the drop and where the forecast and the
    simulation end. Right: collateral sold over time, forecast against simulation."""

    bounds = {
        "drop": Bound(0.0, 60.0),
        "depth": Bound(20.0, 5000.0),
        "resilience": Bound(0.0, 1.0),
        "seed": Bound(0, SEED_MAX, integer=True),
    }

    def __init__(self, drop=6.0, depth=200.0, resilience=0.3, seed=1):
        self._init = dict(drop=drop, depth=depth, resilience=resilience, seed=seed)
        self.readout = widgets.HTML("")
        self._maps = {}
        # model outputs keyed on the checked values: moving the drop back and forth re-runs nothing
        self._outcome = functools.lru_cache(maxsize=8)(_outcome)
        super().__init__()

    def build_controls(self):
        i, style = self._init, {"description_width": "initial"}
        return {
            "drop": main_slider(widgets.FloatSlider(
                value=i["drop"], min=0, max=40, step=1, description="price drop (%)", continuous_update=False,
                style=style, layout=widgets.Layout(width="380px"))),
            "depth": widgets.FloatSlider(value=i["depth"], min=50, max=1000, step=10, description="depth D (M USD)",
                                         continuous_update=False, style=style, layout=widgets.Layout(width="330px")),
            "resilience": widgets.FloatSlider(value=i["resilience"], min=0, max=1, step=0.05,
                                              description="resilience ρ (sim)", continuous_update=False,
                                              style=style, layout=widgets.Layout(width="300px")),
            "seed": widgets.BoundedIntText(value=i["seed"], min=0, max=SEED_MAX, description="seed", style=style,
                                           layout=widgets.Layout(width="140px")),
        }

    def build_figure(self):
        fig, (ax_m, ax_c) = new_figure(1, 2, figsize=(11, 4.6), gridspec_kw={"width_ratios": [1.1, 1.0]})
        self.ax_map, self.ax_cum = ax_m, ax_c
        self.map_polys = [ax_m.fill([0], [0], color=platform_color(k), lw=0, alpha=0.85, label=f"P{k + 1}")[0]
                          for k in range(N_PLATFORMS)]
        self.v_fund = ax_m.axvline(PRICE0, color="#777777", ls="--", lw=1.2, label="after the drop $p_f$")
        self.v_fc = ax_m.axvline(PRICE0, color=FORECAST_COLOR, ls="-", lw=1.6, label="forecast bottom $m^*$")
        self.v_sim = ax_m.axvline(PRICE0, color=MARKET_COLOR, ls=":", lw=1.8, label="simulated bottom")
        self.legends = [ax_m.legend(loc="upper right", fontsize="small", frameon=False, ncol=2)]
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
        self.legends.append(ax_c.legend(loc="lower right", fontsize="small", frameon=False))
        style_axes(ax_c, xlabel="minutes after the drop (forecast: one round per minute)",
                   ylabel="sold so far (M USD)", title="Forecast vs simulation: cumulative forced selling")
        fig.subplots_adjust(left=0.07, right=0.98, top=0.9, bottom=0.13, wspace=0.22)
        return fig

    def _map(self, seed, world):
        if seed not in self._maps:
            prices = np.linspace(0.25 * PRICE0, PRICE0, 121)
            self._maps = {seed: liquidation_map(world.books, world.platforms, prices)}
        return self._maps[seed]

    def compute(self, values):
        drop, depth, rho, seed = values["drop"] / 100.0, values["depth"], values["resilience"], values["seed"]
        if drop >= 1:
            raise ValueError("a price cannot drop 100 % or more")
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
        # the legends (no frame) are drawn over the moving lines, as in a full draw
        return [self.v_fund, self.v_fc, self.v_sim, *self.cum_lines.values(), *self.legends]

    def extra_widgets(self):
        return [self.readout]


def _outcome(drop, depth, rho, seed):
    """The two simulated runs and the two forecasts of one drop (fractions, M USD)."""
    world = build(drop_config(drop, depth, rho, 1.0), seed=seed)
    sim_shared = run(world)
    sim_indep = run(build(drop_config(drop, depth, rho, 0.0), seed=seed))
    args = (world.books, world.platforms, PRICE0, drop, depth * 1e6)
    return world, sim_shared, sim_indep, forecast(*args, shared=True), forecast(*args, shared=False)


def _readout(out):
    fc, fi, ss, si = out["fc_shared"], out["fc_indep"], out["sim_shared"], out["sim_indep"]
    rows = [
        ("first round only, no feedback", fc.first_round_usd, float("nan"), "—"),
        ("forecast, one shared price", fc.liquidated_usd, fc.kappa, f"{fc.n_rounds} rounds"),
        ("simulated, every platform on oracle 0", ss.measures.liquidated_usd, ss.measures.excess_drawdown,
         "default oracle: 0.5 %, 1 min latency"),
        ("forecast, each platform alone", fi.liquidated_usd, fi.kappa, f"{fi.n_rounds} rounds (longest)"),
        ("simulated, every platform on its own oracle", si.measures.liquidated_usd, si.measures.excess_drawdown,
         "own oracles: 0.5-2 %, 0-3 min latency"),
    ]
    cell = "padding:1px 14px 1px 0;text-align:right;font-variant-numeric:tabular-nums"
    head = ("", "sold (M USD)", "excess drawdown max κ", "")
    body = "<tr>" + "".join(f"<th style='{cell}'>{html.escape(h)}</th>" for h in head) + "</tr>"
    for label, sold, kappa, note in rows:
        k = "—" if kappa != kappa else f"{kappa:.3f}"
        body += (f"<tr><td style='padding-right:12px'><b>{html.escape(label)}</b></td>"
                 f"<td style='{cell}'>{sold / 1e6:,.1f}</td><td style='{cell}'>{k}</td>"
                 f"<td style='color:#555'>{html.escape(note)}</td></tr>")
    return f"<table class='cl-readout' style='border-collapse:collapse;font-size:0.92em'>{body}</table>"
