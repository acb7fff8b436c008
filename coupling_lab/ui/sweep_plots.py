"""Plots of sweep results (:func:`coupling_lab.sweep.sweep`): a measure against one
parameter with a confidence band, banded by another, and a heatmap over two.

Each function takes the tidy frame a sweep returns (one row per run), reduces
it with :func:`coupling_lab.sweep.summarize` and draws on a given Axes (or a
new figure made with :func:`~coupling_lab.ui.new_figure`, so it is not shown
twice under ipympl: display ``fig.canvas``). Lines use the Okabe-Ito palette.

Measures are shown in reader's units (:data:`VIEWS`): peak flow share and
excess drawdown in per cent, the drawdown as the extra fall of the price,
``100 * (1 - exp(-kappa))``. The mean and its interval are taken over the
shown values.
"""
from __future__ import annotations

import ipywidgets as widgets
import numpy as np
import pandas as pd

from ..lessons.text import fmt_number
from ..sweep import MEASURES, summarize
from ._common import PALETTE, style_axes
from .app import Bound, LessonApp, main_slider, new_figure

__all__ = ["VIEWS", "PARAMETER_LABELS", "READABLE", "describe_saved", "readable_table", "sweep_summary",
           "plot_measure", "plot_heatmap", "plot_dial",
           "SweepExplorer"]


def _pct(v):
    return 100.0 * v


def _extra_fall_pct(kappa):
    return 100.0 * -np.expm1(-kappa)


#: measure -> (axis label, transform of the per-run values before summarising)
VIEWS = {
    "synchrony": ("synchrony (mean pairwise correlation)", None),
    "twin_dispersion": ("twin dispersion (steps)", None),
    "twin_count": ("platforms where the twin is liquidated", None),
    "peak_flow_share": ("peak 10-step flow (% of all selling)", _pct),
    "excess_drawdown": ("excess drawdown (% extra fall)", _extra_fall_pct),
    "fundamental_drawdown": ("fundamental drawdown (log units)", None),
    "bad_debt": ("bad debt (USD)", None),
    "liquidated_usd": ("liquidated (USD)", None),
}

#: grid key -> axis label (others are shown as given)
PARAMETER_LABELS = {
    "sharing": "oracle sharing s",
    "market.depth": "market depth D (USD)",
    "market.resilience": "market resilience rho (per step)",
    "shared_oracle.theta": "shared oracle deviation threshold theta",
    "shared_oracle.latency": "shared oracle latency (steps)",
    "shared_oracle.heartbeat": "shared oracle heartbeat (steps)",
    "platform.keeper_capacity": "keeper capacity (accounts per step)",
    "n_platforms": "number of platforms K",
}

DIAL_MEASURES = ("synchrony", "peak_flow_share", "excess_drawdown")


def _label(name):
    return VIEWS.get(name, (name, None))[0] if name in VIEWS else PARAMETER_LABELS.get(name, name)


#: grid key -> how its values are written on ticks and sliders in lesson pages (``formats=READABLE``):
#: millions, not scientific notation. (The functions' default, ``formats=None``, writes ``1e+08``.)
READABLE = {
    "market.depth": lambda v: f"{float(v) / 1e6:,.0f} M",
    "bad_debt": lambda v: f"{float(v) / 1e6:,.1f} M",
    "liquidated_usd": lambda v: f"{float(v) / 1e6:,.1f} M",
}

#: widest figure that fits a 1280 px page beside Voila's margins (inches at 100 dpi)
MAX_WIDTH_IN = 10.5


def _fmt(value, name=None, formats=None):
    if formats and name in formats and isinstance(value, (int, float, np.integer, np.floating)):
        return formats[name](value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-3):
            return f"{v:.3g}"
        return f"{v:g}"
    return "none" if value is None or value is pd.NA else str(value)


def sweep_summary(frame, measures, keep, level=0.95):
    """Summarise ``measures`` (in :data:`VIEWS` units) grouped by the grid columns ``keep``.

    Raises ``ValueError`` if another grid column varies in ``frame``: the
    figure would silently pool different configurations. Filter first, e.g.
    ``frame[frame["market.depth"] == 2e8]``.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame from sweep(); got {type(frame).__name__}")
    for col in [*keep, *measures]:
        if col not in frame.columns:
            raise ValueError(f"column {col!r} is not in the sweep (columns: {', '.join(map(str, frame.columns))})")
    grid_cols = [c for c in frame.columns if c != "seed" and c not in MEASURES]
    varying = [c for c in grid_cols if c not in keep and frame[c].nunique(dropna=False) > 1]
    if varying:
        raise ValueError(f"the sweep also varies {varying}; select one value of each first "
                         f"(e.g. frame[frame[{varying[0]!r}] == value]) or show it with by=")
    shown = frame.copy()
    for m in measures:
        transform = VIEWS.get(m, (None, None))[1]
        if transform is not None:
            shown[m] = transform(shown[m].to_numpy(dtype=float))
    return summarize(shown, by=list(keep), measures=list(measures), level=level)


def plot_measure(frame, measure, x="sharing", by=None, ax=None, level=0.95, legend=True):
    """Mean of ``measure`` against grid column ``x`` with a ``level`` confidence band,
    one line per value of grid column ``by`` (Okabe-Ito colours).

    Returns the Axes. Runs with a NaN measure (synchrony when fewer than two
    platforms liquidated) are left out of that point's mean.
    """
    keep = [x] if by is None else [x, by]
    summary = sweep_summary(frame, [measure], keep, level=level)
    if ax is None:
        _, ax = new_figure(figsize=(6, 4), layout="constrained")
    groups = [(None, summary)] if by is None else list(summary.groupby(by, sort=True, dropna=False))
    if len(groups) > len(PALETTE):
        raise ValueError(f"by={by!r} has {len(groups)} values; at most {len(PALETTE)} lines fit the palette")
    for i, (value, part) in enumerate(groups):
        part = part.sort_values(x)
        xs = part[x].to_numpy(dtype=float)
        color = PALETTE[i]
        label = None if by is None else _fmt(value)
        ax.fill_between(xs, part["ci_low"].to_numpy(dtype=float), part["ci_high"].to_numpy(dtype=float),
                        color=color, alpha=0.2, linewidth=0)
        ax.plot(xs, part["mean"].to_numpy(dtype=float), "o-", color=color, markersize=3, label=label)
    n = int(summary["n"].max()) if len(summary) else 0
    style_axes(ax, xlabel=_label(x), ylabel=_label(measure),
               title=f"mean and {level:.0%} confidence band, up to {n} seeds per point")
    if by is not None and legend:
        ax.legend(title=_label(by), fontsize="small", title_fontsize="small", frameon=False)
    return ax


def plot_heatmap(frame, measure, x="sharing", y="market.depth", ax=None, annotate=True, cmap="viridis", formats=None):
    """Mean of ``measure`` over two grid columns, one cell per grid point.

    Cells are evenly spaced whatever the parameter values (a log-spaced depth
    grid stays readable); tick labels give the values. ``annotate`` writes
    each cell's mean. ``formats`` (e.g. :data:`READABLE`) maps a grid key to how its values are
    written. Returns the Axes; its colour bar is labelled with the measure.
    """
    summary = sweep_summary(frame, [measure], [x, y])
    table = summary.pivot(index=y, columns=x, values="mean").sort_index(axis=0).sort_index(axis=1)
    if ax is None:
        _, ax = new_figure(figsize=(6.5, 3.8), layout="constrained")
    data = table.to_numpy(dtype=float)
    image = ax.imshow(data, origin="lower", aspect="auto", cmap=cmap, interpolation="nearest")
    ax.set_xticks(range(table.shape[1]), [_fmt(v, x, formats) for v in table.columns])
    ax.set_yticks(range(table.shape[0]), [_fmt(v, y, formats) for v in table.index])
    ax.set_xlabel(_label(x))
    ax.set_ylabel(_label(y))
    ax.set_title(f"mean {measure.replace('_', ' ')} per grid point", fontsize="medium", loc="left")
    bar = ax.figure.colorbar(image, ax=ax)
    bar.set_label(_label(measure))
    if annotate and data.size <= 150:
        finite = data[np.isfinite(data)]
        mid = (finite.min() + finite.max()) / 2 if finite.size else 0.0
        top = float(np.abs(finite).max()) if finite.size else 0.0
        digits = 1 if top >= 10 else 2 if top >= 1 else 3  # one precision for every cell (not 0.796 beside 87)
        for (i, j), v in np.ndenumerate(data):
            text = "n/a" if not np.isfinite(v) else fmt_number(v, digits)
            ax.text(j, i, text, ha="center", va="center", fontsize="x-small",
                    color="black" if np.isfinite(v) and v > mid else "white")
    return ax


def plot_dial(frame, x="sharing", by=None, measures=DIAL_MEASURES, level=0.95):
    """The dial curve: one panel per measure (default synchrony, peak flow share,
    excess drawdown) against ``x``, with confidence bands. Returns the Figure
    (made with :func:`new_figure`; display ``fig.canvas``)."""
    fig, axes = new_figure(1, len(measures), figsize=(min(3.5 * len(measures), MAX_WIDTH_IN), 3.4),
                           layout="constrained")
    axes = np.atleast_1d(axes)
    for i, (ax, m) in enumerate(zip(axes, measures)):
        plot_measure(frame, m, x=x, by=by, ax=ax, level=level, legend=(i == len(measures) - 1))
        ax.set_title("", loc="left")
    fig.suptitle(f"Against {_label(x)}: mean and {level:.0%} confidence band", fontsize="medium")
    return fig


class SweepExplorer(LessonApp):
    """Browse a two-way sweep: the dial curves for one value of a second parameter.

    The main control (a selection slider) picks a value of ``param`` (e.g.
    market depth); each panel shows the mean and confidence band of one
    measure against ``x`` for that value, in colour, over the curves of all
    other values in grey. Nothing is re-run: the sweep is summarised once and
    the slider moves the artists' data.

    Parameters
    ----------
    frame : DataFrame from :func:`coupling_lab.sweep` varying ``x`` and ``param``
    x : str, grid column on the horizontal axis
    param : str, grid column the slider selects
    measures : measures to show, one panel each
    level : confidence level of the bands
    formats : dict grid key -> callable, how the slider and title write values (e.g. :data:`READABLE`)
    """

    def __init__(self, frame, x="sharing", param="market.depth", measures=DIAL_MEASURES, level=0.95, formats=None):
        self.x, self.param, self.measures, self.level = x, param, tuple(measures), level
        self.formats = formats
        self.summary = sweep_summary(frame, self.measures, [x, param], level=level)
        self.choices = tuple(sorted(self.summary[param].unique()))
        self.bounds = {"value": Bound(choices=self.choices)}
        super().__init__()

    def build_controls(self):
        short = PARAMETER_LABELS.get(self.param, self.param).split(" (")[0]
        label = PARAMETER_LABELS.get(self.param, "")
        unit = label[label.rfind("(") + 1:-1] if label.endswith(")") else ""
        suffix = f" {unit}" if unit and self.formats else ""
        slider = widgets.SelectionSlider(options=[(_fmt(v, self.param, self.formats) + suffix, v) for v in self.choices],
                                         value=self.choices[0],
                                         description=short, style={"description_width": "initial"},
                                         layout=widgets.Layout(width="28em"))
        return {"value": main_slider(slider)}

    def build_figure(self):
        n = len(self.measures)
        fig, axes = new_figure(1, n, figsize=(min(3.5 * n, MAX_WIDTH_IN), 3.4), layout="constrained")
        self.axes = list(np.atleast_1d(axes))
        self.lines, self.bands = {}, {}
        for ax, m in zip(self.axes, self.measures):
            part = self.summary[self.summary["measure"] == m]
            for _, other in part.groupby(self.param):
                other = other.sort_values(self.x)
                ax.plot(other[self.x].to_numpy(dtype=float), other["mean"].to_numpy(dtype=float),
                        color="#bbbbbb", linewidth=1, zorder=1)
            xs = np.sort(part[self.x].unique()).astype(float)
            nan = np.full(xs.size, np.nan)
            self.bands[m] = ax.fill_between(xs, nan, nan, color=PALETTE[0], alpha=0.25, linewidth=0, zorder=2)
            (self.lines[m],) = ax.plot(xs, nan, "o-", color=PALETTE[0], markersize=3, zorder=3)
            # fixed limits: the figure does not rescale as the slider moves
            lo = np.nanmin(part[["ci_low", "mean"]].to_numpy(dtype=float))
            hi = np.nanmax(part[["ci_high", "mean"]].to_numpy(dtype=float))
            pad = 0.05 * (hi - lo) if hi > lo else 0.05 * max(abs(hi), 1.0)
            ax.set_ylim(lo - pad, hi + pad)
            ax.set_xlim(xs.min() - 0.03 * np.ptp(xs), xs.max() + 0.03 * np.ptp(xs))
            style_axes(ax, xlabel=_label(self.x), ylabel=_label(m))
        self.title = fig.suptitle("", fontsize="medium")
        return fig

    def moving_artists(self):
        # the chosen curves, their bands and the title change; the grey curves, axes and labels are kept
        return [*self.lines.values(), *self.bands.values(), self.title]

    def compute(self, values):
        chosen = self.summary[self.summary[self.param] == values["value"]]
        out = {}
        for m in self.measures:
            part = chosen[chosen["measure"] == m].sort_values(self.x)
            out[m] = tuple(part[c].to_numpy(dtype=float) for c in (self.x, "mean", "ci_low", "ci_high"))
        out["n"] = int(chosen["n"].max()) if len(chosen) else 0
        out["value"] = values["value"]
        return out

    def draw(self, result):
        for m in self.measures:
            xs, mean, lo, hi = result[m]
            self.lines[m].set_data(xs, mean)
            self.bands[m].set_data(xs, lo, hi)
        value = _fmt(result["value"], self.param, self.formats)
        self.title.set_text(f"{_label(self.param)} = {value}: mean and {self.level:.0%} "
                            f"band over up to {result['n']} seeds (grey: the other values)")


def describe_saved(frame, meta, original=None, formats=READABLE):
    """A sentence on a sweep read back with :func:`coupling_lab.load_sweep`: how many runs, the stored grid
    (values written with ``formats``) and whether it equals ``original``."""
    from ..lessons.text import Sentence

    grid = "; ".join(f"{_label(k)}: {', '.join(_fmt(v, k, formats) for v in values)}"
                     for k, values in meta.get("grid", {}).items())
    same = "" if original is None else (" It is identical to the sweep in memory." if frame.equals(original)
                                        else " It differs from the sweep in memory.")
    return Sentence(f"Read back {len(frame)} runs with their grid ({grid}).{same}")


#: column -> (shown name, scale) for :func:`readable_table`
_TABLE_UNITS = {
    "bad_debt": ("bad_debt (M USD)", 1e-6),
    "liquidated_usd": ("liquidated (M USD)", 1e-6),
    "market.depth": ("market.depth (M USD)", 1e-6),
}


def readable_table(frame, digits=3):
    """A sweep's table as a learner reads it: USD columns in millions (named so), values rounded to
    ``digits`` (no scientific notation). The frame's own columns are unchanged; this is for display."""
    out = frame.copy()
    for col, (name, scale) in _TABLE_UNITS.items():
        if col in out.columns:
            out[col] = out[col].astype(float) * scale
            out = out.rename(columns={col: name})
    return out.round(digits)
