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

from ..lessons.text import Prose, fmt_number
from ..sweep import MEASURES, summarize
from ._common import PALETTE, style_axes
from .app import Bound, LessonApp, canvas_widget, main_slider, new_figure

__all__ = ["VIEWS", "PARAMETER_LABELS", "READABLE", "describe_saved", "readable_table", "sweep_summary",
           "plot_measure", "plot_heatmap", "plot_dial",
           "SweepExplorer", "TABLE_COLUMNS", "run_table", "summary_table", "dial_quoted", "dial_prediction",
           "dial_findings", "dial_reveal"]


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


# --- what a learner reads: tables in the plots' units, the dial prediction ----------------------------

def _scale(factor):
    return lambda v: factor * v


#: measure -> (column heading with its unit, transform of the per-run values, decimals) in a learner's table;
#: per cent where the plots show per cent, USD in millions
TABLE_COLUMNS = {
    "synchrony": ("synchrony (correlation)", None, 2),
    "twin_dispersion": ("twin dispersion (steps)", None, 1),
    "twin_count": ("platforms where the twin is liquidated", None, 1),
    "peak_flow_share": ("peak 10-step flow (% of all selling)", _pct, 1),
    "excess_drawdown": ("excess drawdown (% extra fall)", _extra_fall_pct, 1),
    "fundamental_drawdown": ("fundamental drawdown (log units)", None, 3),
    "bad_debt": ("bad debt (M USD)", _scale(1e-6), 2),
    "liquidated_usd": ("liquidated (M USD)", _scale(1e-6), 1),
}

#: grid key -> (column heading with its unit, how a value is written)
_GRID_COLUMNS = {
    "sharing": ("oracle sharing s", lambda v: fmt_number(v, 2)),
    "market.depth": ("market depth D (M USD)", lambda v: fmt_number(float(v) / 1e6, 0)),
    "seed": ("seed", lambda v: str(int(v))),
}


def _grid_cell(name, value):
    if name in _GRID_COLUMNS:
        return _GRID_COLUMNS[name][1](value)
    return _fmt(value, name, READABLE)


def _grid_heading(name):
    return _GRID_COLUMNS.get(name, (PARAMETER_LABELS.get(name, name), None))[0]


def _measure_cell(measure, value):
    _head, transform, digits = TABLE_COLUMNS[measure]
    value = float(value)
    if transform is not None:
        value = float(transform(value))
    return fmt_number(value, digits)


def _prose_table(head, rows):
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return Prose("\n".join(lines))


def run_table(frame, rows=5, measures=None):
    """The first ``rows`` runs of a sweep as a learner reads them: one labelled column per grid key and measure,
    each with its unit (per cent where the plots show per cent, USD in millions), formatted (a
    :class:`~coupling_lab.lessons.text.Prose` table; the frame itself is unchanged).

    A synchrony that is undefined (fewer than two platforms liquidated) reads "n/a"."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame from sweep(); got {type(frame).__name__}")
    if not isinstance(rows, (int, np.integer)) or isinstance(rows, bool) or rows < 1:
        raise ValueError(f"rows must be an integer >= 1; got {rows!r}")
    measures = [m for m in (MEASURES if measures is None else measures) if m in frame.columns]
    grid = [c for c in frame.columns if c not in MEASURES]
    head = [_grid_heading(c) for c in grid] + [TABLE_COLUMNS[m][0] for m in measures]
    body = [[_grid_cell(c, row[c]) for c in grid] + [_measure_cell(m, row[m]) for m in measures]
            for _, row in frame.head(int(rows)).iterrows()]
    return _prose_table(head, body)


def summary_table(frame, by="sharing", measures=DIAL_MEASURES, level=0.95):
    """Mean and ``level`` confidence interval of each measure per value of grid column ``by``, in the plots'
    units (:func:`sweep_summary`: per-run values transformed, then averaged), as a labelled table."""
    summary = sweep_summary(frame, list(measures), [by], level=level)
    head = [_grid_heading(by)] + [f"{TABLE_COLUMNS[m][0]}: mean [{level:.0%} interval]" for m in measures] + ["runs"]
    body = []
    for value, part in summary.groupby(by, sort=True):
        row = [_grid_cell(by, value)]
        for m in measures:
            r = part[part["measure"] == m].iloc[0]
            digits = TABLE_COLUMNS[m][2]
            row.append(f"{fmt_number(r['mean'], digits)} [{fmt_number(r['ci_low'], digits)}, "
                       f"{fmt_number(r['ci_high'], digits)}]")
        row.append(str(int(part["n"].max())))
        body.append(row)
    return _prose_table(head, body)


def dial_quoted(frame):
    """The numbers lesson 07's dial prediction and findings quote, formatted as they read: each dial measure
    (in the plots' units) with no sharing, at the last dial value below full sharing and at full sharing."""
    summary = sweep_summary(frame, list(DIAL_MEASURES), ["sharing"])
    xs = np.sort(summary["sharing"].unique())
    if xs.size < 3:
        raise ValueError(f"sharing must take at least 3 values in the sweep; got {xs.size}")
    out = {"n": str(int(summary["n"].max())), "before": fmt_number(xs[-2], 1)}
    for m, short in (("synchrony", "sync"), ("peak_flow_share", "flow"), ("excess_drawdown", "fall")):
        part = summary[summary["measure"] == m].set_index("sharing")["mean"]
        digits = TABLE_COLUMNS[m][2]
        unit = "" if m == "synchrony" else " %"
        for key, x in (("0", xs[0]), ("pen", xs[-2]), ("1", xs[-1])):
            out[f"{short}_{key}"] = fmt_number(part.loc[x], digits) + unit
    return out


#: lesson 07's question on the dial curves, and its options (the answer is the third)
DIAL_QUESTION = ("As more platforms read the shared oracle (the dial from 0 to 1), how do the three curves "
                 "(synchrony, peak flow share, extra fall of the price) rise?")
DIAL_OPTIONS = (
    "All three rise at about the same pace along the whole dial.",
    "All three rise most at the start of the dial, as the first platforms join the shared oracle, then level off.",
    "Synchrony climbs all along the dial; peak flow share and the extra fall barely move until most platforms "
    "share; all three rise most steeply in the last step, to full sharing.",
    "Synchrony rises, but peak flow share and the extra fall do not change: timing alone does not move the price.",
)


def dial_prediction(frame):
    """Lesson 07's prediction on the dial curves of ``frame`` (a sweep over ``sharing``); the feedback quotes
    the run's numbers (:func:`dial_quoted`). Reveal the table and figure with :func:`dial_reveal`."""
    from .quiz import Prediction

    q = dial_quoted(frame)
    numbers = (f"synchrony {q['sync_0']} with no sharing, {q['sync_pen']} at {q['before']}, {q['sync_1']} at full "
               f"sharing; peak flow share {q['flow_0']}, {q['flow_pen']}, {q['flow_1']}; extra fall "
               f"{q['fall_0']}, {q['fall_pen']}, {q['fall_1']}")
    feedback = [
        f"Not evenly: the last step of the dial does the most ({numbers}).",
        f"The other way round: the first platforms to share change little; the last step, to full sharing, does "
        f"the most ({numbers}).",
        f"Yes ({numbers}). Synchrony follows the share of platforms reading one oracle; the selling bunches and the "
        "price falls further mainly once no platform is left on an oracle of its own that publishes at other "
        "minutes.",
        f"Timing moves the price here: when the selling bunches, the market has no time to recover between "
        f"rounds ({numbers}).",
    ]
    return Prediction(DIAL_QUESTION, DIAL_OPTIONS, answer=2, feedback=feedback)


def dial_findings(frame):
    """What the dial sweep of ``frame`` shows (revealed once lesson 07's prediction is checked)."""
    q = dial_quoted(frame)
    return Prose(
        f"**Over {q['n']} seeds per dial value.** Synchrony rises from **{q['sync_0']}** with no sharing to "
        f"{q['sync_pen']} at dial {q['before']} and **{q['sync_1']}** at full sharing. Peak flow share goes from "
        f"{q['flow_0']} to {q['flow_pen']}, then **{q['flow_1']}**; the extra fall of the price from {q['fall_0']} "
        f"to {q['fall_pen']}, then **{q['fall_1']}**. The last step of the dial, the last platform joining the "
        "shared oracle, does the most: sharing changes when the platforms sell first and, through depth, how "
        "much the price falls.")


def dial_reveal(prediction, frame):
    """The block lesson 07 shows once ``prediction`` is checked: the summary table, the dial figure and the
    findings (:meth:`Prediction.after_check`; display it)."""
    return prediction.after_check(lambda: summary_table(frame), canvas_widget(plot_dial(frame)),
                                  lambda: dial_findings(frame))
