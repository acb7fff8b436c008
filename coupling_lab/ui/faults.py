"""Lesson 04, when the shared oracle fails: the same fault on the shared oracle 0
and on one platform's own oracle, side by side."""
from __future__ import annotations

import functools
import html

import ipywidgets as widgets
import numpy as np
from matplotlib.patches import Rectangle
from matplotlib.transforms import blended_transform_factory

from ..oracles import override, stale
from ..scenarios import CrashScenario, GBMScenario
from ..simulation import Config, simulate
from ..venues import spike
from ._common import MARKET_COLOR, nice_ceiling, platform_color, stable_limits, style_axes
from .app import Bound, LessonApp, main_slider, new_figure

__all__ = ["FAULT_KINDS", "FAULT_START", "fault_config", "FaultComparison"]

#: Fault kinds of the lesson: what "size" means for each.
FAULT_KINDS = {
    "bad report": "the published price is this much below the market (an override of the feed)",
    "2 venues spike": "two of the oracle's three venues print this much below the market",
    "1 venue spike": "one of the oracle's three venues prints this much below the market",
    "stale feed": "the feed stops publishing while the market falls this much",
}
FAULT_START = 60  # minute the fault begins
N_PLATFORMS = 5
N_STEPS = 240
SEED_MAX = 9999


def fault_config(kind="bad report", size=0.10, minutes=10, sharing=1.0, target="shared", base=None):
    """The lesson's Config: ``kind`` of fault of ``size`` (fraction) for ``minutes`` from minute 60.

    ``target="shared"`` puts the fault on oracle 0 (its venues 0-2) at the given
    ``sharing``; ``target="own"`` puts it on platform 1's own oracle (oracle 1,
    venues 3-5) with every platform on its own oracle (``sharing=0``). The
    fundamental is calm (a small random walk), except for ``"stale feed"``,
    where it falls by ``size`` over the fault window: a stale feed matters
    only when the market moves.
    """
    if kind not in FAULT_KINDS:
        raise ValueError(f"kind must be one of {list(FAULT_KINDS)}; got {kind!r}")
    base = Config() if base is None else base
    t0, t1 = FAULT_START, FAULT_START + int(minutes)
    oracle = 0 if target == "shared" else 1
    venues = (0, 1, 2) if target == "shared" else (3, 4, 5)
    sharing = sharing if target == "shared" else 0.0
    scenario = GBMScenario(n_steps=N_STEPS, sigma=0.001)
    oracle_faults, venue_faults = (), ()
    if kind == "bad report":
        oracle_faults = (override(oracle, t0, t1, 1.0 - size),)
    elif kind == "2 venues spike":
        venue_faults = tuple(spike(v, t0, t1, 1.0 - size) for v in venues[:2])
    elif kind == "1 venue spike":
        venue_faults = (spike(venues[0], t0, t1, 1.0 - size),)
    elif size > 0:
        scenario = CrashScenario(n_steps=N_STEPS, depth=size, start=t0, duration=max(int(minutes), 1), sigma=0.001)
        oracle_faults = (stale(oracle, t0, t1),)
    return base.replace(scenario=scenario, n_platforms=N_PLATFORMS, sharing=sharing,
                        oracle_faults=oracle_faults, venue_faults=venue_faults)


class FaultComparison(LessonApp):
    """Fault kind, size (main control), duration, sharing and seed; two columns:
    the fault on the shared oracle 0 (left) and on platform 1's own oracle (right)."""

    bounds = {
        "kind": Bound(choices=tuple(FAULT_KINDS)),
        "size": Bound(0.0, 60.0),
        "minutes": Bound(1, 120, integer=True),
        "sharing": Bound(0.0, 1.0),
        "seed": Bound(0, SEED_MAX, integer=True),
    }

    def __init__(self, kind="bad report", size=10.0, minutes=10, sharing=1.0, seed=1, base=None):
        self._init = dict(kind=kind, size=size, minutes=minutes, sharing=sharing, seed=seed)
        self.base = Config() if base is None else base
        self.readout = widgets.HTML("")
        # runs keyed on their (checked) Config and seed: the fault-free reference runs do not
        # depend on the fault's size (except a stale feed's fall), so moving the size re-runs
        # only the two faulted runs; moving back and forth re-runs nothing
        self._run = functools.lru_cache(maxsize=32)(_simulate)
        super().__init__()

    def build_controls(self):
        i, style = self._init, {"description_width": "initial"}
        return {
            "kind": widgets.ToggleButtons(options=tuple(FAULT_KINDS), value=i["kind"], description="fault",
                                          style={"button_width": "110px", "description_width": "initial"}),
            "size": main_slider(widgets.FloatSlider(
                value=i["size"], min=0, max=40, step=1, description="fault size (%)", continuous_update=False,
                style=style, layout=widgets.Layout(width="380px"))),
            "minutes": widgets.IntSlider(value=i["minutes"], min=1, max=60, description="lasts (min)",
                                         continuous_update=False, style=style, layout=widgets.Layout(width="300px")),
            "sharing": widgets.FloatSlider(value=i["sharing"], min=0, max=1, step=0.2,
                                           description="sharing (left)", continuous_update=False, style=style,
                                           layout=widgets.Layout(width="300px")),
            "seed": widgets.BoundedIntText(value=i["seed"], min=0, max=SEED_MAX, description="seed", style=style,
                                           layout=widgets.Layout(width="140px")),
        }

    def build_figure(self):
        fig, axes = new_figure(2, 2, figsize=(10.5, 6.2), sharex=True, sharey="row",
                               gridspec_kw={"height_ratios": [1.6, 1.0]})
        self.cols = []
        for c, title in enumerate(("Fault on the SHARED oracle 0", "Same fault on platform P1's OWN oracle")):
            ax_p, ax_q = axes[0, c], axes[1, c]
            lines = [ax_p.plot([], [], color=platform_color(k), lw=1.3, drawstyle="steps-post",
                               label=f"oracle read by P{k + 1}")[0] for k in range(N_PLATFORMS)]
            market, = ax_p.plot([], [], color=MARKET_COLOR, lw=1.0, label="market $m_t$", zorder=6)
            shades = []
            for ax in (ax_p, ax_q):
                tr = blended_transform_factory(ax.transData, ax.transAxes)
                shades.append(ax.add_patch(Rectangle((0, 0), 0, 1, transform=tr, color="#F0E442", alpha=0.25,
                                                     lw=0, zorder=0)))
            polys = [ax_q.fill([0], [0], color=platform_color(k), lw=0)[0] for k in range(N_PLATFORMS)]
            style_axes(ax_p, ylabel="price (USD)" if c == 0 else None, title=title)
            style_axes(ax_q, xlabel="time (minutes)", ylabel="sold (M USD / min)" if c == 0 else None)
            text = ax_q.text(0.98, 0.92, "", transform=ax_q.transAxes, ha="right", va="top", fontsize="small")
            self.cols.append(dict(ax_p=ax_p, ax_q=ax_q, lines=lines, market=market, shades=shades, polys=polys,
                                  text=text))
        c0 = self.cols[0]
        fig.legend(handles=[c0["market"], *c0["lines"]], loc="upper center", ncol=6, fontsize="small",
                   frameon=False, bbox_to_anchor=(0.5, 1.0))
        fig.subplots_adjust(left=0.08, right=0.98, top=0.89, bottom=0.09, hspace=0.15, wspace=0.08)
        return fig

    def compute(self, values):
        size = values["size"] / 100.0
        if values["kind"] != "stale feed" and size >= 1:
            raise ValueError("a price cannot fall 100 % or more")
        runs = {"values": values}
        for target in ("shared", "own"):
            cfg = fault_config(values["kind"], size, values["minutes"], values["sharing"], target, self.base)
            runs[target] = self._run(cfg, values["seed"])
            runs[target + "_calm"] = self._run(cfg.replace(oracle_faults=(), venue_faults=()), values["seed"])
        return runs

    def draw(self, runs):
        v = runs["values"]
        sims = [runs[key] for key in ("shared", "own", "shared_calm", "own_calm")]
        t = np.arange(N_STEPS)
        t0, t1 = FAULT_START, FAULT_START + v["minutes"]
        lo = min(min(r.price_tk.min(), r.market_t.min()) for r in sims)
        hi = max(max(r.price_tk.max(), r.market_t.max()) for r in sims)
        top = 0.0
        for col, target in zip(self.cols, ("shared", "own")):
            r = runs[target]
            for k, line in enumerate(col["lines"]):
                line.set_data(t, r.price_tk[:, k])
                line.set_zorder(3 if r.world.platform_oracle[k] == 0 else 2)
            col["market"].set_data(t, r.market_t)
            flow = np.cumsum(r.notional_tk / 1e6, axis=1)
            for k, poly in enumerate(col["polys"]):
                lower = flow[:, k - 1] if k else np.zeros(N_STEPS)
                poly.set_xy(_steps(t, lower, flow[:, k]))
            top = max(top, flow[:, -1].max())
            sold_k = r.notional_tk.sum(axis=0) / 1e6
            extra = (r.measures.liquidated_usd - runs[target + "_calm"].measures.liquidated_usd) / 1e6
            col["text"].set_text(f"sold: P1 {sold_k[0]:,.1f} M USD, P2-P5 {sold_k[1:].sum():,.1f} M USD\n"
                                 f"({extra:+,.1f} M USD vs the same run without the fault)\n"
                                 f"bad debt {r.measures.bad_debt / 1e6:,.2f} M USD")
        if getattr(self, "_shaded", None) != (t0, t1):  # the fault window is part of the static layer
            for col in self.cols:
                for shade in col["shades"]:
                    shade.set_x(t0)
                    shade.set_width(t1 - t0)
            self._shaded = (t0, t1)
            if getattr(self, "layers", None) is not None:
                self.layers.invalidate()
        ax = self.cols[0]["ax_p"]
        pad = 0.04 * (hi - lo) + 1.0
        # round limits: the axes (and their cached tick labels) move only when the data cross them
        ax.set_ylim(*stable_limits(lo - pad, hi + pad, steps=5))
        ax.set_xlim(FAULT_START - 30, min(N_STEPS, t1 + 60))
        self.cols[0]["ax_q"].set_ylim(0, nice_ceiling(max(top * 1.5, 1.0)))
        self.readout.value = _readout(runs)

    def moving_artists(self):
        return [a for col in self.cols for a in (*col["lines"], col["market"], *col["polys"], col["text"])]

    def extra_widgets(self):
        return [self.readout]


def _simulate(config, seed):
    return simulate(config, seed=seed)


def _steps(t, lower, upper):
    x = np.repeat(np.append(t, t[-1] + 1), 2)[1:-1]
    lo, hi = np.repeat(lower, 2), np.repeat(upper, 2)
    return np.column_stack([np.concatenate([x, x[::-1]]), np.concatenate([lo, hi[::-1]])])


def _readout(runs):
    head = ("fault on", "platforms liquidated", "sold (M USD)", "bad debt (M USD)", "bad debt by platform (M USD)",
            "excess drawdown max κ")
    cell = "padding:1px 12px 1px 0;text-align:right;font-variant-numeric:tabular-nums"
    out = "<tr>" + "".join(f"<th style='{cell}'>{html.escape(h)}</th>" for h in head) + "</tr>"
    for label, key in (("shared oracle 0", "shared"), ("P1's own oracle", "own")):
        r = runs[key]
        m = r.measures
        per = " · ".join(f"{b / 1e6:.2f}" for b in m.bad_debt_k)
        row = (label, str(int((r.notional_tk.sum(axis=0) > 0).sum())), f"{m.liquidated_usd / 1e6:,.1f}",
               f"{m.bad_debt / 1e6:,.2f}", per, f"{m.excess_drawdown:.3f}")
        out += "<tr>" + "".join(f"<td style='{cell}'>{html.escape(x)}</td>" for x in row) + "</tr>"
    return f"<table class='cl-readout' style='border-collapse:collapse;font-size:0.92em'>{out}</table>"
