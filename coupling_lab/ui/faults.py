"""Lesson 04, when the shared oracle fails: the same fault on the shared oracle 0
and on one platform's own oracle, side by side."""
from __future__ import annotations

import functools
import html
import math
import re

import ipywidgets as widgets
import numpy as np
from matplotlib.patches import Rectangle
from matplotlib.transforms import blended_transform_factory

from ..lessons.faults import (CONTROLS, FAULT_KINDS, FAULT_START, FLOOR_USD, N_PLATFORMS, N_STEPS, READOUT_HEAD,
                              SEED_MAX, fault_config, fault_runs, panel_text, readout_rows)
from ..simulation import Config, simulate
from ._common import MARKET_COLOR, nice_ceiling, platform_color, stable_limits, static_ylabel, style_axes
from .app import LessonApp, control_widget, main_slider, new_figure

__all__ = ["SEED_MAX", "FAULT_KINDS", "FAULT_START", "fault_config", "FaultComparison", "CONTROLS",
           "price_limits"]


class FaultComparison(LessonApp):
    """Fault kind, size (main control), duration, sharing and seed; two columns:
    the fault on the shared oracle 0 (left) and on platform 1's own oracle (right)."""

    bounds = CONTROLS

    def __init__(self, kind=None, size=None, minutes=None, sharing=None, seed=None, base=None):
        self._init = dict(kind=kind, size=size, minutes=minutes, sharing=sharing, seed=seed)
        self.base = Config() if base is None else base
        self.readout = widgets.HTML("")
        # runs keyed on their (checked) Config and seed: the fault-free reference runs do not
        # depend on the fault's size (except a stale feed's fall), so moving the size re-runs
        # only the two faulted runs; moving back and forth re-runs nothing
        self._run = functools.lru_cache(maxsize=32)(_simulate)
        self.price_limits = price_limits(fault_config(base=self.base).scenario.price0)
        super().__init__()

    def build_controls(self):
        i = self._init
        widths = {"size": "380px", "minutes": "300px", "sharing": "300px", "seed": "140px"}
        controls = {name: control_widget(c, i[name], width=widths.get(name),
                                         **({"style": {"button_width": "110px"}} if c.choices else {}))
                    for name, c in CONTROLS.items()}
        main_slider(controls["size"])
        return controls

    def build_figure(self):
        fig, axes = new_figure(2, 2, figsize=(10.5, 6.2), sharex=True, gridspec_kw={"height_ratios": [1.6, 1.0]})
        axes[0, 1].sharey(axes[0, 0])  # one price scale; each selling panel on its own scale (5 vs 250 M USD)
        axes[0, 1].tick_params(labelleft=False)
        self.cols = []
        for c, title in enumerate(("Fault on the SHARED oracle 0", "Same fault on platform P1's OWN oracle")):
            ax_p, ax_q = axes[0, c], axes[1, c]
            lines = [ax_p.plot([], [], color=platform_color(k), lw=1.3, drawstyle="steps-post",
                               label=f"oracle read by P{k + 1}")[0] for k in range(N_PLATFORMS)]
            market, = ax_p.plot([], [], color=MARKET_COLOR, lw=1.0, label="market $m_t$", zorder=6)
            floor, = ax_p.plot([], [], color="#B00020", lw=1.0, ls=":", zorder=5,
                               label=f"feed floor {FLOOR_USD:,.0f} USD (answer floor only)")
            shades = []
            for ax in (ax_p, ax_q):
                tr = blended_transform_factory(ax.transData, ax.transAxes)
                shades.append(ax.add_patch(Rectangle((0, 0), 0, 1, transform=tr, color="#F0E442", alpha=0.25,
                                                     lw=0, zorder=0)))
            polys = [ax_q.fill([0], [0], color=platform_color(k), lw=0)[0] for k in range(N_PLATFORMS)]
            style_axes(ax_p, ylabel="price (USD)" if c == 0 else None, title=title)
            style_axes(ax_q, xlabel="time (minutes)",
                       ylabel="sold (M USD / min)" if c == 0 else "sold (M USD / min), own scale")
            ax_p.set_ylim(*self.price_limits)
            static_ylabel(ax_q, -0.12)  # in line with the price label
            text = ax_q.text(0.98, 0.92, "", transform=ax_q.transAxes, ha="right", va="top", fontsize="small")
            self.cols.append(dict(ax_p=ax_p, ax_q=ax_q, lines=lines, market=market, shades=shades, polys=polys,
                                  text=text, floor=floor))
        c0 = self.cols[0]
        fig.legend(handles=[c0["market"], *c0["lines"], c0["floor"]], loc="upper center", ncol=4, fontsize="small",
                   frameon=False, bbox_to_anchor=(0.5, 1.0))
        fig.subplots_adjust(left=0.08, right=0.98, top=0.86, bottom=0.09, hspace=0.15, wspace=0.2)
        return fig

    def compute(self, values):
        runs = fault_runs(values["kind"], values["size"], values["minutes"], values["sharing"], values["seed"],
                          self.base, run=self._run)
        runs["values"] = values
        return runs

    def draw(self, runs):
        v = runs["values"]
        sims = [runs[key] for key in ("shared", "own", "shared_calm", "own_calm")]
        t = np.arange(N_STEPS)
        t0, t1 = FAULT_START, FAULT_START + v["minutes"]
        hi = max(max(r.price_tk.max(), r.market_t.max()) for r in sims)
        for col, target in zip(self.cols, ("shared", "own")):
            r = runs[target]
            for k, line in enumerate(col["lines"]):
                line.set_data(t, r.price_tk[:, k])
                line.set_zorder(3 if r.world.platform_oracle[k] == 0 else 2)
            col["market"].set_data(t, r.market_t)
            col["floor"].set_data(([0, N_STEPS], [FLOOR_USD, FLOOR_USD]) if v["kind"] == "answer floor" else ([], []))
            flow = np.cumsum(r.notional_tk / 1e6, axis=1)
            for k, poly in enumerate(col["polys"]):
                lower = flow[:, k - 1] if k else np.zeros(N_STEPS)
                poly.set_xy(_steps(t, lower, flow[:, k]))
            top = max(flow[:, -1].max(), 1e-6)
            col["ax_q"].set_ylim(0, nice_ceiling(max(top * 1.5, 0.1)))
            col["text"].set_text(panel_text(runs, target))
        if getattr(self, "_shaded", None) != (t0, t1):  # the fault window is part of the static layer
            for col in self.cols:
                for shade in col["shades"]:
                    shade.set_x(t0)
                    shade.set_width(t1 - t0)
            self._shaded = (t0, t1)
            if getattr(self, "layers", None) is not None:
                self.layers.invalidate()
        ax = self.cols[0]["ax_p"]
        # one price scale for every fault size, kind and seed (the static frame is reused); widened
        # only if a run ever rose above it, so no data is cut off
        low, top = self.price_limits
        ax.set_ylim(low, top if hi <= top else stable_limits(low, hi * 1.02, steps=5)[1])
        ax.set_xlim(FAULT_START - 30, min(N_STEPS, t1 + 60))
        self.readout.value = _readout(runs)

    def moving_artists(self):
        # the selling panels' y axes too: their tops follow the run (each panel on its own scale), so
        # their ticks and labels are drawn on every frame rather than in a new static frame
        return [a for col in self.cols
                for a in (*col["lines"], col["market"], col["floor"], *col["polys"], col["text"], col["ax_q"].yaxis)]

    def extra_widgets(self):
        return [self.readout]


def price_limits(price0):
    """The price panels' fixed limits: 0 to 10 % above the opening price ``price0``, rounded up to 100 USD.

    Chosen from the fault size's range, not from one run: no fault raises a price (the size, 0-40 %,
    lowers a report, a venue or the fundamental), the calm fundamental moves about 1.5 % over the
    240 minutes, and at the largest sizes the shared side cascades to a few hundred USD, so the
    scale runs to 0.

    >>> price_limits(2000.0)
    (0.0, 2200.0)
    """
    return 0.0, float(math.ceil(1.1 * price0 / 100.0) * 100.0)


def _simulate(config, seed):
    return simulate(config, seed=seed)


def _steps(t, lower, upper):
    x = np.repeat(np.append(t, t[-1] + 1), 2)[1:-1]
    lo, hi = np.repeat(lower, 2), np.repeat(upper, 2)
    return np.column_stack([np.concatenate([x, x[::-1]]), np.concatenate([lo, hi[::-1]])])


def _readout(runs):
    cell = "padding:1px 12px 1px 0;text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap"
    # a header may wrap between words, never inside its unit ("sold (M" / "USD)"): the unit's spaces are fixed
    head = (re.sub(r"\(([^)]*)\)", lambda m: "(" + m.group(1).replace(" ", "\u00a0") + ")", h) for h in READOUT_HEAD)
    out = "<tr>" + "".join(f"<th style='padding:1px 12px 1px 0;text-align:right;line-height:1.3'>{html.escape(h)}</th>"
                           for h in head) + "</tr>"
    for row in readout_rows(runs):
        out += "<tr>" + "".join(f"<td style='{cell}'>{html.escape(x)}</td>" for x in row) + "</tr>"
    return f"<table class='cl-readout' style='border-collapse:collapse;font-size:0.92em'>{out}</table>"
