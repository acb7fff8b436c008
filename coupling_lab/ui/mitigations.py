"""Lesson 05, what helps: two designs side by side, same seed and path, their
measures and price paths compared."""
from __future__ import annotations

import functools
import html
import math

import ipywidgets as widgets
import numpy as np

from ..margin import PlatformParams
from ..market import MarketParams
from ..oracles import OracleParams, override
from ..scenarios import CrashScenario, GBMScenario
from ..simulation import Config, OracleRanges, simulate
from ._common import FUNDAMENTAL_COLOR, nice_ceiling, stable_limits, style_axes
from .app import Bound, LessonApp, canvas_widget, main_slider, new_figure

__all__ = ["SCENARIOS", "DESIGN_KNOBS", "design_config", "TwoDesigns"]

SCENARIOS = ("crash", "bad report")
SEED_MAX = 9999
#: Designs are not platforms: they get two colours outside the platform palette
#: (Paul Tol's colour-blind-safe indigo and rose), and line styles.
DESIGN_STYLE = {"A": dict(color="#332288", ls="-", lw=1.6), "B": dict(color="#CC6677", ls="--", lw=1.8)}

#: Each design's knobs: name -> (label, bound, widget kind, default, widget extras).
DESIGN_KNOBS = {
    "topology": ("topology", Bound(choices=("shared_fraction", "source_overlap")), "dropdown", "shared_fraction", {}),
    "sharing": ("sharing", Bound(0.0, 1.0), "float", 1.0, dict(min=0, max=1, step=0.2)),
    "theta": ("threshold θ (%)", Bound(0.0, 10.0), "float", 0.5, dict(min=0, max=5, step=0.25)),
    "heartbeat": ("heartbeat (min)", Bound(1, 1440, integer=True), "int", 60, dict(min=1, max=1440, step=1)),
    "delay": ("oracle delay (min)", Bound(0, 180, integer=True), "int", 1, dict(min=0, max=120, step=1)),
    "keepers": ("keepers (accounts/min, 0 = no limit)", Bound(0, 100_000, integer=True), "int", 0,
                dict(min=0, max=500, step=5)),
    "depth": ("depth D (M USD)", Bound(20.0, 5000.0), "float", 200.0, dict(min=50, max=1000, step=10)),
}


def design_config(scenario="crash", topology="shared_fraction", sharing=1.0, theta=0.5, heartbeat=60, delay=1,
                  keepers=0, depth=200.0):
    """One design as a :class:`~coupling_lab.Config`.

    ``theta`` (per cent), ``heartbeat`` and ``delay`` (minutes) set the shared
    oracle 0; every platform's own oracle keeps its drawn threshold
    (0.5-2 %) and heartbeat (1 h or 24 h) and gets the same ``delay`` added
    to its 0-3 minute latency. ``keepers = 0`` is no limit. ``"bad report"``
    is a calm path with the shared oracle reporting 10 % low for minutes
    100-109 (lesson 04).
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario must be one of {list(SCENARIOS)}; got {scenario!r}")
    faults = ()
    path = CrashScenario()
    if scenario == "bad report":
        path = GBMScenario(n_steps=path.n_steps, sigma=0.001)
        faults = (override(0, 100, 110, 0.9),)
    return Config(
        scenario=path, sharing=sharing, topology=topology, oracle_faults=faults,
        shared_oracle=OracleParams(theta=theta / 100.0, heartbeat=int(heartbeat), latency=int(delay)),
        own_oracles=OracleRanges(latency_min=int(delay), latency_max=int(delay) + 3),
        platform=PlatformParams(keeper_capacity=int(keepers) if keepers else None),
        market=MarketParams(depth=depth * 1e6),
    )


def _knob_widget(name, design, default=None):
    label, bound, kind, value, extra = DESIGN_KNOBS[name]
    value = value if default is None else default
    style = {"description_width": "initial"}
    layout = widgets.Layout(width="330px")
    if kind == "dropdown":
        return widgets.Dropdown(options=bound.choices, value=value, description=label, style=style, layout=layout)
    cls = widgets.FloatSlider if kind == "float" else widgets.IntSlider
    return cls(value=value, description=label, continuous_update=False, style=style, layout=layout, **extra)


class TwoDesigns(LessonApp):
    """Two columns of design knobs (A, B), one scenario and seed; B's oracle delay is the main control."""

    bounds = {"scenario": Bound(choices=SCENARIOS), "seed": Bound(0, SEED_MAX, integer=True),
              **{f"{d}_{k}": DESIGN_KNOBS[k][1] for d in "AB" for k in DESIGN_KNOBS}}

    def __init__(self, scenario="crash", seed=1, A=None, B=None):
        self._init = dict(scenario=scenario, seed=seed, A=dict(A or {}), B=dict(B or {}))
        self.readout = widgets.HTML("")
        # runs keyed on (scenario, seed, the design's checked knobs): moving one design's knob
        # re-runs only that design; moving back and forth re-runs nothing
        self._run = functools.lru_cache(maxsize=16)(_simulate_design)
        super().__init__()

    def build_controls(self):
        i = self._init
        controls = {
            "scenario": widgets.ToggleButtons(options=SCENARIOS, value=i["scenario"], description="scenario",
                                              style={"button_width": "90px", "description_width": "initial"}),
            "seed": widgets.BoundedIntText(value=i["seed"], min=0, max=SEED_MAX, description="seed",
                                           layout=widgets.Layout(width="140px")),
        }
        for d in "AB":
            for k in DESIGN_KNOBS:
                controls[f"{d}_{k}"] = _knob_widget(k, d, i[d].get(k))
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
        self.legends = [ax_p.legend(loc="lower left", fontsize="small", frameon=False),
                        ax_q.legend(loc="upper right", fontsize="small", frameon=False)]
        style_axes(ax_p, ylabel="price (USD)", title="Market price $m_t$ under each design (same seed, same path)")
        style_axes(ax_q, xlabel="time (minutes)", ylabel="sold (M USD / min)",
                   title="Forced selling per minute, all platforms")
        fig.subplots_adjust(left=0.09, right=0.98, top=0.94, bottom=0.09, hspace=0.25)
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
        # the legends (no frame) are drawn over the lines, as in a full draw
        return [self.fund_line, *self.price_lines.values(), *self.flow_lines.values(), *self.legends]

    def extra_widgets(self):
        return [self.readout]


def _simulate_design(scenario, seed, knobs):
    return simulate(design_config(scenario, **dict(zip(DESIGN_KNOBS, knobs))), seed=seed)


def _fmt_rows(m):
    sync = "n/a" if math.isnan(m.synchrony) else f"{m.synchrony:.2f}"
    return {
        "synchrony": (sync, "1 = platforms sell in lockstep"),
        "peak flow": (f"{100 * m.peak_flow_share:.0f} %", "of all selling in the busiest 10 minutes"),
        "excess drawdown": (f"{100 * (1 - math.exp(-m.excess_drawdown)):.1f} %", "extra fall from forced selling"),
        "liquidated": (f"{m.liquidated_usd / 1e6:,.1f} M USD", "collateral sold"),
        "bad debt": (f"{m.bad_debt / 1e6:,.2f} M USD", "debt left unpaid"),
    }


def _readout(runs):
    a, b = _fmt_rows(runs["A"].measures), _fmt_rows(runs["B"].measures)
    cell = "padding:1px 14px 1px 0;text-align:right;font-variant-numeric:tabular-nums"
    out = (f"<tr><th></th><th style='{cell};color:{DESIGN_STYLE['A']['color']}'>design A</th>"
           f"<th style='{cell};color:{DESIGN_STYLE['B']['color']}'>design B</th><th></th></tr>")
    for name in a:
        out += (f"<tr><td style='padding-right:12px'><b>{html.escape(name)}</b></td><td style='{cell}'>"
                f"{html.escape(a[name][0])}</td><td style='{cell}'>{html.escape(b[name][0])}</td>"
                f"<td style='color:#555'>{html.escape(a[name][1])}</td></tr>")
    return f"<table class='cl-readout' style='border-collapse:collapse;font-size:0.92em'>{out}</table>"
