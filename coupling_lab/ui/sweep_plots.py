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

import numpy as np
import pandas as pd

from ..sweep import MEASURES, summarize
from ._common import PALETTE, style_axes
from .app import new_figure

__all__ = ["VIEWS", "PARAMETER_LABELS", "sweep_summary", "plot_measure", "plot_heatmap", "plot_dial"]


def _pct(v):
    return 100.0 * v


def _extra_fall_pct(kappa):
    return 100.0 * -np.expm1(-kappa)


#: measure -> (axis label, transform of the per-run values before summarising)
VIEWS = {
    "synchrony": ("liquidation synchrony (mean pairwise correlation)", None),
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


def _fmt(value):
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


def plot_heatmap(frame, measure, x="sharing", y="market.depth", ax=None, annotate=True, cmap="viridis"):
    """Mean of ``measure`` over two grid columns, one cell per grid point.

    Cells are evenly spaced whatever the parameter values (a log-spaced depth
    grid stays readable); tick labels give the values. ``annotate`` writes
    each cell's mean. Returns the Axes; its colour bar is labelled with the measure.
    """
    summary = sweep_summary(frame, [measure], [x, y])
    table = summary.pivot(index=y, columns=x, values="mean").sort_index(axis=0).sort_index(axis=1)
    if ax is None:
        _, ax = new_figure(figsize=(6, 4), layout="constrained")
    data = table.to_numpy(dtype=float)
    image = ax.imshow(data, origin="lower", aspect="auto", cmap=cmap, interpolation="nearest")
    ax.set_xticks(range(table.shape[1]), [_fmt(v) for v in table.columns])
    ax.set_yticks(range(table.shape[0]), [_fmt(v) for v in table.index])
    ax.set_xlabel(_label(x))
    ax.set_ylabel(_label(y))
    ax.set_title(f"mean {measure.replace('_', ' ')} per grid point", fontsize="medium", loc="left")
    bar = ax.figure.colorbar(image, ax=ax)
    bar.set_label(_label(measure))
    if annotate and data.size <= 150:
        finite = data[np.isfinite(data)]
        mid = (finite.min() + finite.max()) / 2 if finite.size else 0.0
        for (i, j), v in np.ndenumerate(data):
            text = "n/a" if not np.isfinite(v) else f"{v:.3g}"
            ax.text(j, i, text, ha="center", va="center", fontsize="x-small",
                    color="black" if np.isfinite(v) and v > mid else "white")
    return ax


def plot_dial(frame, x="sharing", by=None, measures=DIAL_MEASURES, level=0.95):
    """The dial curve: one panel per measure (default synchrony, peak flow share,
    excess drawdown) against ``x``, with confidence bands. Returns the Figure
    (made with :func:`new_figure`; display ``fig.canvas``)."""
    fig, axes = new_figure(1, len(measures), figsize=(4.2 * len(measures), 3.6), layout="constrained")
    axes = np.atleast_1d(axes)
    for i, (ax, m) in enumerate(zip(axes, measures)):
        plot_measure(frame, m, x=x, by=by, ax=ax, level=level, legend=(i == len(measures) - 1))
        ax.set_title("", loc="left")
    fig.suptitle(f"Against {_label(x)}: mean and {level:.0%} confidence band", fontsize="medium")
    return fig
