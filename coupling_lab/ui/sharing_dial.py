"""Lesson 02, the sharing dial: one run live (:class:`SharingDial`) and the dial
swept over many seeds (:class:`DialSweep`)."""
from __future__ import annotations

import functools
import html
import math
import os
import threading
import time

import ipywidgets as widgets
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.transforms import blended_transform_factory

from ..lessons.sharing_dial import (CONTROLS, MAX_PLATFORMS, SCENARIOS, SEED_MAX, SWEEP_CONTROLS, SWEEP_PANELS,
                                    SWEEP_TABLE_HEAD, activity_window, dial_config, dial_summary, dial_sweep,
                                    path_window, readout_rows, sweep_grid, sweep_runs, sweep_table_rows)
from ..simulation import Config, simulate
from ._common import FUNDAMENTAL_COLOR, MARKET_COLOR, PALETTE, nice_ceiling, platform_color, stable_limits, style_axes
from .app import LessonApp, control_widget, main_slider, new_figure

__all__ = ["SEED_MAX", "SCENARIOS", "MAX_PLATFORMS", "dial_config", "SharingDial", "DialSweep", "dial_summary",
           "CONTROLS",
           "SWEEP_CONTROLS", "activity_window", "path_window", "readout_rows"]

_FLOW_SCALE = 1e6  # notional is drawn in millions of USD


def readout_html(rows):
    body = "".join(
        f"<tr><td style='padding:1px 10px 1px 0'><b>{html.escape(a)}</b></td>"
        f"<td class='cl-value' style='padding:1px 10px;text-align:right;font-variant-numeric:tabular-nums'>{html.escape(b)}</td>"
        f"<td style='padding:1px 0;color:#555'>{html.escape(c)}</td></tr>"
        for a, b, c in rows)
    return f"<table class='cl-readout' style='border-collapse:collapse;font-size:0.95em'>{body}</table>"


def table_html(head, rows):
    cell = "padding:1px 12px 1px 0;text-align:right;font-variant-numeric:tabular-nums"
    out = "<tr>" + "".join(f"<th style='{cell}'>{html.escape(h)}</th>" for h in head) + "</tr>"
    for row in rows:
        out += "<tr>" + "".join(f"<td style='{cell}'>{html.escape(v)}</td>" for v in row) + "</tr>"
    return f"<table class='cl-readout' style='border-collapse:collapse;font-size:0.92em'>{out}</table>"


def _lower_priority(niceness=10):
    """Lower the calling thread's scheduling priority (Linux: ``nice`` is per thread); no-op elsewhere."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
    except (AttributeError, OSError):
        pass


def _view(result):
    """Round axes limits for one run: price, time window, peak selling per minute (M USD)."""
    ex = np.exp(result.x_t)
    lo = min(result.market_t.min(), result.price_tk.min(), ex.min())
    hi = max(result.market_t.max(), result.price_tk.max(), ex.max())
    pad = 0.04 * (hi - lo) + 1e-9 * hi
    flow = float(result.notional_tk.sum(axis=1).max()) / _FLOW_SCALE
    # coarse round limits: the axes (and their tick labels) change only when the data cross them
    return dict(price=stable_limits(lo - pad, hi + pad, steps=5), time=path_window(result),
                flow=nice_ceiling(max(flow * 1.05, 1e-3)))


def _step_band(t, lower, upper):
    """Polygon vertices of a band drawn as steps (one flat segment per step)."""
    x = np.repeat(np.append(t, t[-1] + 1), 2)[1:-1]
    lo, hi = np.repeat(lower, 2), np.repeat(upper, 2)
    return np.column_stack([np.concatenate([x, x[::-1]]), np.concatenate([lo, hi[::-1]])])


class SharingDial(LessonApp):
    """One run of the model, redrawn live as the dial moves.

    Controls: ``sharing`` (the main control: share of platforms reading the
    shared oracle 0), ``seed``, ``scenario`` (crash / jump / gbm),
    ``n_platforms`` (2-6). Panels: market price vs the oracle each platform
    reads; the liquidation raster; forced selling per minute stacked by
    platform. A readout gives synchrony, twin dispersion, peak flow and
    excess drawdown.
    """

    bounds = CONTROLS

    def __init__(self, sharing=None, seed=None, scenario=None, n_platforms=None, base=None):
        self._init = dict(sharing=sharing, seed=seed, scenario=scenario, n_platforms=n_platforms)
        self.base = Config() if base is None else base
        self.readout = widgets.HTML("")
        # runs keyed on checked values: moving the dial back and forth re-runs nothing
        self._run = functools.lru_cache(maxsize=MAX_PLATFORMS + 3)(self._simulate)
        super().__init__()

    def build_controls(self):
        i = self._init
        c = CONTROLS
        n = c["n_platforms"].default if i["n_platforms"] is None else i["n_platforms"]
        return {
            # one platform per step of the dial
            "sharing": main_slider(control_widget(c["sharing"].replace(step=1.0 / n), i["sharing"], width="420px")),
            "seed": control_widget(c["seed"], i["seed"], width="140px"),
            "scenario": control_widget(c["scenario"], i["scenario"], style={"button_width": "64px"}),
            "n_platforms": control_widget(c["n_platforms"], i["n_platforms"], width="240px"),
        }

    def build_figure(self):
        fig, (ax_p, ax_r, ax_q) = new_figure(3, 1, figsize=(9, 7.4), sharex=True,
                                             gridspec_kw={"height_ratios": [2.0, 1.3, 1.4]})
        self.ax_price, self.ax_raster, self.ax_flow = ax_p, ax_r, ax_q
        self.fundamental_line, = ax_p.plot([], [], color=FUNDAMENTAL_COLOR, lw=1.2, ls="--", label="fundamental $e^{x_t}$")
        self.oracle_lines = [ax_p.plot([], [], color=platform_color(k), lw=1.3, drawstyle="steps-post",
                                       label=f"oracle read by P{k + 1}")[0] for k in range(MAX_PLATFORMS)]
        self.market_line, = ax_p.plot([], [], color=MARKET_COLOR, lw=1.0, label="market $m_t$", zorder=5)
        proxy = Line2D([], [], color="#888888", lw=1.3, drawstyle="steps-post",
                       label="oracle price read by each platform (its colour)")
        self.legend = ax_p.legend(handles=[self.market_line, self.fundamental_line, proxy], loc="upper right",
                                  fontsize="small", frameon=True, framealpha=1.0, edgecolor="none")
        style_axes(ax_p, ylabel="price (USD)")
        self.price_title = ax_p.set_title(" ", fontsize="medium", loc="left", y=1.0)
        self.raster = ax_r.scatter([], [], marker="|", s=70, linewidths=1.4)
        style_axes(ax_r, title="Liquidation raster: a mark in every minute a platform liquidates")
        ax_r.grid(False)
        rows = blended_transform_factory(ax_r.transAxes, ax_r.transData)
        self.row_labels = [ax_r.text(-0.012, k, "", transform=rows, ha="right", va="center", fontsize="small",
                                     color=platform_color(k)) for k in range(MAX_PLATFORMS)]
        self.flow_polys = []
        for k in range(MAX_PLATFORMS):
            poly = ax_q.fill([0], [0], color=platform_color(k), lw=0, alpha=0.9)[0]
            self.flow_polys.append(poly)
        style_axes(ax_q, xlabel="time (minutes)", ylabel="sold (M USD / min)",
                   title="Forced selling per minute, stacked by platform")
        fig.subplots_adjust(left=0.1, right=0.97, top=0.95, bottom=0.08, hspace=0.38)
        return fig

    def _simulate(self, sharing, n_platforms, scenario, seed):
        return simulate(dial_config(sharing, n_platforms, scenario, self.base), seed=seed)

    def compute(self, values):
        return self._run(values["sharing"], values["n_platforms"], values["scenario"], values["seed"])

    def draw(self, result):
        K, T = result.world.n_platforms, result.n_steps
        t = np.arange(T)
        shared = [j == 0 for j in result.world.platform_oracle]
        # shared platforms read one identical line: draw them on top of the own oracles
        for k, line in enumerate(self.oracle_lines):
            visible = k < K
            line.set_visible(visible)
            if visible:
                line.set_data(t, result.price_tk[:, k])
                line.set_zorder(3 if shared[k] else 2)
                line.set_label(f"oracle read by P{k + 1}")
        self.fundamental_line.set_data(t, np.exp(result.x_t))
        self.market_line.set_data(t, result.market_t)
        view = _view(result)
        self.ax_price.set_ylim(*view["price"])
        self.ax_price.set_xlim(*view["time"])
        self.price_title.set_text(f"Market price and the oracle each platform reads: {sum(shared)} of {K} "
                                  f"platforms share one oracle")

        tt, kk = np.nonzero(result.count_tk)
        self.raster.set_offsets(np.column_stack([tt, kk]) if tt.size else np.empty((0, 2)))
        self.raster.set_edgecolors([platform_color(k) for k in kk] if kk.size else "none")
        self.raster.set_facecolors("none")
        ax = self.ax_raster
        if ax.get_ylim() != (K - 0.5, -0.5):
            ax.set_ylim(K - 0.5, -0.5)
            ax.set_yticks(range(K), [""] * K)
        # row labels are moving texts (not tick labels): the raster axes' cached picture stays valid
        for k, label in enumerate(self.row_labels):
            label.set_visible(k < K)
            if k < K:
                label.set_text(f"P{k + 1} · {'shared' if shared[k] else 'own'}")

        flow = result.notional_tk / _FLOW_SCALE
        top = np.cumsum(flow, axis=1)
        for k, poly in enumerate(self.flow_polys):
            poly.set_visible(k < K)
            if k < K:
                lower = top[:, k - 1] if k else np.zeros(T)
                poly.set_xy(_step_band(t, lower, top[:, k]))
        self.ax_flow.set_ylim(0, view["flow"])
        self.readout.value = readout_html(readout_rows(result))
        step = 1.0 / K
        slider = self.controls["sharing"]
        if not math.isclose(slider.step, step):
            slider.step = step

    def extra_widgets(self):
        return [self.readout]

    def moving_artists(self):
        return [*self.oracle_lines, self.fundamental_line, self.market_line, self.price_title, self.raster,
                *self.row_labels, *self.flow_polys]

    def overlay_artists(self):
        return [self.legend]


# --- the dial swept over seeds ------------------------------------------------------

class DialSweep(LessonApp):
    """The dial swept over many seeds: synchrony and damage against sharing, mean and 95 % CI.

    Nothing runs when a control moves: press **Run** (it runs in a background
    thread, so **Cancel** stays responsive and stops it early, keeping the
    finished runs). :meth:`run` with ``wait=True`` runs in the calling thread
    (what a notebook cell does). A progress bar (:attr:`progress`, a widget of
    its own: output printed from the sweep's thread would never reach the page)
    counts the runs done, every few seeds.

    ``run`` says what happens at construction: ``True`` runs the sweep in the
    calling thread (the figure is drawn when the constructor returns), ``False``
    draws nothing until asked, ``"background"`` starts it in a background thread
    as **Run sweep** does, so the cell (and a served page) does not wait for it:
    the bar counts the runs on the page and the figure and table appear when it
    ends (:attr:`thread`; ``thread.join()`` waits for it).

    Attributes
    ----------
    frame : DataFrame, one row per run (from :func:`coupling_lab.sweep.sweep`)
    summary : DataFrame from :func:`dial_summary`
    """

    bounds = SWEEP_CONTROLS
    #: the bar moves at most this often (seconds), and at the end
    progress_interval = 0.1

    def __init__(self, n_dial=None, n_seeds=None, scenario=None, n_platforms=None, base=None, run=True):
        self._init = dict(n_dial=n_dial, n_seeds=n_seeds, scenario=scenario, n_platforms=n_platforms)
        self.base = Config() if base is None else base
        self.bar = widgets.IntProgress(value=0, min=0, max=1, layout=widgets.Layout(width="320px"))
        self.bar_text = widgets.HTML("")
        self.progress = widgets.HBox([self.bar, self.bar_text],
                                     layout=widgets.Layout(min_height="2.2em", align_items="center",
                                                           grid_gap="0 0.8em"))
        self.progress.add_class("cl-progress")  # the runs-done bar (browser tests find it by this class)
        self._started = self._shown = 0.0
        self.table = widgets.HTML("")
        self.cancel_event = threading.Event()
        self.thread = None
        self.frame = self.summary = None
        if run not in (True, False, "background"):
            raise ValueError(f"run must be one of [True, False, 'background']; got {run!r}")
        self._first = run is True
        self.run_button = widgets.Button(description="Run sweep", icon="play", button_style="primary")
        self.cancel_button = widgets.Button(description="Cancel", icon="stop", disabled=True)
        super().__init__()
        self.run_button.on_click(lambda _b: self.run(wait=False))
        self.cancel_button.on_click(lambda _b: self.cancel())
        if run == "background":
            total = sweep_runs(self.values["n_platforms"], self.values["n_dial"], self.values["n_seeds"])
            self.bar.max, self.bar_text.value = total, f"0 of {total:,} runs"
            self.table.value = "<p><i>The sweep is running: its figure and table appear when it ends.</i></p>"
            self.run(wait=False, yield_cpu=True)

    def build_controls(self):
        i = self._init
        return {name: control_widget(c, i[name], **({"style": {"button_width": "64px"}} if c.choices else {}))
                for name, c in SWEEP_CONTROLS.items()}

    def extra_widgets(self):
        return [self.table]

    def build_figure(self):
        fig, axes = new_figure(1, len(SWEEP_PANELS), figsize=(10, 3.4), sharex=True)
        self.axes = axes
        self.mean_lines, self.bands = [], []
        for ax, (col, ylabel, title, _scale) in zip(axes, SWEEP_PANELS):
            band = ax.fill_between([0, 1], [0, 0], [0, 0], color=PALETTE[0], alpha=0.25, lw=0, label="95 % CI")
            line, = ax.plot([], [], color=PALETTE[0], marker="o", ms=4, lw=1.6, label="mean over seeds")
            self.bands.append(band)
            self.mean_lines.append(line)
            style_axes(ax, xlabel="share of platforms on the shared oracle", ylabel=ylabel, title=title)
            ax.set_xlim(-0.03, 1.03)
        axes[0].legend(loc="upper left", fontsize="small", frameon=False)
        fig.subplots_adjust(left=0.07, right=0.98, top=0.8, bottom=0.17, wspace=0.32)
        return fig

    def layout(self):
        box = super().layout()
        buttons = widgets.HBox([self.run_button, self.cancel_button])
        children = list(box.children)
        box.children = [children[0], buttons, self.progress, *children[1:]]
        return box

    def _on_change(self, change):
        self.status.guard(self.read_values)()  # a bad value is reported at once, not at the next run
        if not self.status.message and self.frame is not None:
            self.status.show("Settings changed: press Run sweep to update the figure.", kind="info")

    def grid(self, values):
        """The dial positions ``k / K`` for ``K`` platforms, thinned to ``n_dial`` values."""
        return sweep_grid(values["n_platforms"], values["n_dial"])

    def compute(self, values):
        if not self._first:  # constructed with run=False: draw nothing until asked
            self._first = True
            return None
        total = sweep_runs(values["n_platforms"], values["n_dial"], values["n_seeds"])
        self._started = self._shown = time.perf_counter()
        self.bar.bar_style, self.bar.value, self.bar.max = "", 0, total
        self.bar_text.value = f"0 of {total:,} runs"
        frame = dial_sweep(values["n_dial"], values["n_seeds"], values["scenario"], values["n_platforms"],
                           base=self.base, cancel=self.cancel_event, on_progress=self._show_progress)
        done = frame.attrs["sweep"]
        seconds = time.perf_counter() - self._started
        self.bar.value = done["n_done"]
        if done["complete"]:
            self.bar.bar_style = "success"
            self.bar_text.value = f"{done['n_done']:,} of {total:,} runs in {seconds:.1f} s"
        else:
            self.bar.bar_style = "warning"
            self.bar_text.value = f"stopped: {done['n_done']:,} of {total:,} runs in {seconds:.1f} s"
        if len(frame) == 0:
            raise RuntimeError("the sweep was cancelled before any run finished")
        return frame, dial_summary(frame)

    def _show_progress(self, done, total):
        """Move the bar (called after every few seeds, from the sweep's thread; at most every :attr:`progress_interval`)."""
        now = time.perf_counter()
        if done < total and now - self._shown < self.progress_interval:
            return
        self._shown = now
        self.bar.value = done
        self.bar_text.value = f"{done:,} of {total:,} runs"

    def draw(self, result):
        if result is None:
            return
        frame, summary = result
        self.frame, self.summary = frame, summary
        for i, (col, _ylabel, _title, scale) in enumerate(SWEEP_PANELS):
            s = summary[summary["measure"] == col].sort_values("sharing")
            x = s["sharing"].to_numpy(dtype=float)
            mean = s["mean"].to_numpy(dtype=float) * scale
            lo = np.where(np.isnan(s["ci_low"]), mean, s["ci_low"] * scale)
            hi = np.where(np.isnan(s["ci_high"]), mean, s["ci_high"] * scale)
            self.mean_lines[i].set_data(x, mean)
            self.bands[i].set_verts([np.column_stack([np.concatenate([x, x[::-1]]),
                                                      np.concatenate([lo, hi[::-1]])])])
            ax = self.axes[i]
            finite = np.concatenate([lo, hi])[np.isfinite(np.concatenate([lo, hi]))]
            if finite.size:
                pad = 0.08 * (finite.max() - finite.min()) + 1e-6
                ax.set_ylim(min(0.0, finite.min() - pad), finite.max() + pad)
        done = frame.attrs.get("sweep", {})
        n_seeds = frame["seed"].nunique()
        note = "" if done.get("complete", True) else f" (cancelled: {done.get('n_done')} of {done.get('n_planned')} runs)"
        self.fig.suptitle(f"The dial over {n_seeds} seeds per position: mean and 95 % confidence band{note}",
                          fontsize="medium", x=0.07, y=0.99, ha="left")
        # the means in the plots' units, redrawn with every sweep (never a stale table)
        self.table.value = (f"<p><b>Means over {n_seeds} seeds per position</b> (the plots' units){note}</p>"
                            + table_html(SWEEP_TABLE_HEAD, sweep_table_rows(summary)))

    def run(self, wait=True, yield_cpu=False):
        """Run the sweep with the current settings; ``wait=False`` runs it in a background thread.

        ``yield_cpu``: the thread runs at a lower scheduling priority (Linux ``nice`` 10 for that
        thread alone, where the system allows it), so the page that is opening, and the kernel's
        replies to it, come first on a busy machine (the page-load sweep)."""
        if self.thread is not None and self.thread.is_alive():
            self.status.show("A sweep is already running: wait for it or press Cancel.", kind="info")
            return None
        self.cancel_event.clear()
        self.run_button.disabled, self.cancel_button.disabled = True, False

        def work():
            if yield_cpu:
                _lower_priority()
            try:
                self.update()
            finally:
                self.run_button.disabled, self.cancel_button.disabled = False, True
                if self.cancel_event.is_set() and not self.status.message:
                    self.status.show("Cancelled: showing the runs that finished.", kind="info")

        if wait:
            work()
            return self.frame
        self.thread = threading.Thread(target=work, name="dial-sweep", daemon=True)
        self.thread.start()
        return self.thread

    def cancel(self):
        """Stop a running sweep after the run in progress (finished runs are kept)."""
        self.cancel_event.set()
