"""Lesson 02, the sharing dial: the lesson's configurations, the readout and the sweep summary."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..scenarios import CrashScenario, GBMScenario, JumpScenario
from ..simulation import Config, simulate
from ..sweep import summarize, sweep
from .controls import Control
from .text import extra_fall, fmt_musd, fmt_number, fmt_pct, fmt_sync

__all__ = ["SCENARIOS", "MAX_PLATFORMS", "SEED_MAX", "CONTROLS", "SWEEP_CONTROLS", "SWEEP_PANELS", "dial_config",
           "dial_run", "readout_rows", "activity_window", "path_window", "dial_summary", "sweep_grid",
           "sweep_runs", "default_sweep", "dial_sweep", "sweep_table_rows"]

#: The three price paths of the lesson. The GBM drifts down (about -18 % over
#: the run on average) so that, like the others, it liquidates something.
SCENARIOS = {
    "crash": CrashScenario(),
    "jump": JumpScenario(),
    "gbm": GBMScenario(mu=-0.0004, sigma=0.003),
}
#: The first six Okabe-Ito colours read well on white; the seventh (yellow) is
#: faint and the eighth is the market's black, so the lesson stops at six.
MAX_PLATFORMS = 6
SEED_MAX = 9999

#: The live dial's controls. The dial's step is ``1 / n_platforms`` (one platform per step); the
#: declared step is the default five platforms'.
CONTROLS = {
    "sharing": Control("shared oracle infrastructure", 0.0, 1.0, step=0.2, default=0.4, fmt=".2f"),
    "seed": Control("seed", 0, SEED_MAX, step=1, default=1, integer=True, kind="text"),
    "scenario": Control("path", choices=tuple(SCENARIOS), default="crash"),
    "n_platforms": Control("platforms", 2, MAX_PLATFORMS, step=1, default=5, integer=True),
}
#: The sweep's controls. ``K`` platforms give ``K + 1`` dial positions (``k / K``), so at most
#: ``MAX_PLATFORMS + 1``; the default, 6 positions x 84 seeds, is 504 runs (a couple of seconds with
#: the compiled loop: ``benchmarks/bench_live_sweep.py``).
SWEEP_CONTROLS = {
    "n_dial": Control("dial positions", 2, MAX_PLATFORMS + 1, step=1, default=6, integer=True),
    "n_seeds": Control("seeds per position", 2, 500, step=1, default=84, integer=True),
    "scenario": Control("path", choices=tuple(SCENARIOS), default="crash"),
    "n_platforms": Control("platforms", 2, MAX_PLATFORMS, step=1, default=5, integer=True),
}


def dial_config(sharing=0.0, n_platforms=5, scenario="crash", base=None):
    """The lesson's :class:`~coupling_lab.Config`: ``base`` with the dial, platforms and scenario set."""
    base = Config() if base is None else base
    return base.replace(sharing=sharing, n_platforms=n_platforms, scenario=SCENARIOS[scenario])


def dial_run(sharing=0.4, n_platforms=5, scenario="crash", seed=1, base=None):
    return simulate(dial_config(sharing, n_platforms, scenario, base), seed=seed)


def readout_rows(result):
    """(label, value, meaning) rows of the dial's readout for one run, every value formatted."""
    m = result.measures
    K = result.world.n_platforms
    n_shared = sum(1 for j in result.world.platform_oracle if j == 0)
    window = result.world.flow_window
    return [
        ("on the shared oracle", f"{n_shared} of {K} platforms", "the rest read an oracle of their own"),
        ("synchrony", fmt_sync(m.synchrony), "mean correlation of the platforms' per-minute selling; 1 = in lockstep"),
        ("twin dispersion", f"{fmt_number(m.twin_dispersion, 1)} min over {m.twin_count} platforms",
         "spread of the minute the same account is first liquidatable; 0 = all at once"),
        ("peak flow", fmt_pct(m.peak_flow_share), f"of all forced selling falls in the busiest {window} minutes"),
        ("excess drawdown", fmt_pct(extra_fall(m.excess_drawdown)),
         f"extra fall caused by forced selling (the path alone fell {fmt_pct(extra_fall(m.fundamental_drawdown))})"),
        ("liquidated", fmt_musd(m.liquidated_usd), "collateral sold by all platforms"),
        ("bad debt", fmt_musd(m.bad_debt, 2), "debt left when collateral ran out"),
    ]


def activity_window(result, pad=20, min_width=120, snap=10):
    """The x range to show: every liquidation with ``pad`` minutes either side (whole run if none),
    widened out to multiples of ``snap`` minutes so that the axes move only in round steps."""
    T = result.n_steps
    busy = np.flatnonzero(result.count_tk.sum(axis=1))
    if busy.size == 0:
        return 0, T
    lo, hi = max(0, busy[0] - pad), min(T, busy[-1] + 1 + pad)
    if hi - lo < min_width:
        mid = 0.5 * (lo + hi)
        lo, hi = max(0, mid - min_width / 2), min(T, mid + min_width / 2)
    if snap:
        lo, hi = max(0, snap * math.floor(lo / snap)), min(T, snap * math.ceil(hi / snap))
    return lo, hi


def path_window(result, fall=0.03, pad=20, snap=10):
    """The x range to show, from the fundamental path alone (so it stays put as the dial moves):
    from ``pad`` minutes before the path first falls ``fall`` below its start to the end of the
    run, snapped to ``snap`` minutes; :func:`activity_window` if the path never falls that far."""
    T = result.n_steps
    below = np.flatnonzero(result.x_t < result.x_t[0] + math.log1p(-fall))
    if below.size == 0:
        return activity_window(result, pad=pad, snap=snap)
    return max(0, snap * math.floor((below[0] - pad) / snap)), T


# --- the dial swept over seeds ------------------------------------------------------

#: (column, y label, title, scale) of the sweep view's panels; ``scale`` turns the column into the
#: panel's unit (per cent for peak flow; the drawdown column is already per cent).
SWEEP_PANELS = (
    ("synchrony", "synchrony (mean correlation)", "Liquidations move together", 1.0),
    ("peak_flow_share", "peak 10-min flow (% of all selling)", "Selling bunches in time", 100.0),
    ("excess_drawdown_pct", "excess drawdown (%)", "Extra fall from forced selling", 1.0),
)


def dial_summary(frame, level=0.95):
    """Mean and ``level`` confidence interval of each panel's measure per dial position.

    Adds ``excess_drawdown_pct`` (``100 * (1 - exp(-excess_drawdown))``, the
    extra fall in per cent) and uses :func:`coupling_lab.sweep.summarize`.
    """
    frame = frame.assign(excess_drawdown_pct=100.0 * -np.expm1(-frame["excess_drawdown"].to_numpy(dtype=float)))
    return summarize(frame, by=["sharing"], measures=[p[0] for p in SWEEP_PANELS], level=level)


def sweep_grid(n_platforms, n_dial):
    """The dial positions ``k / K`` for ``K`` platforms, thinned to at most ``n_dial`` values."""
    positions = np.unique(np.round(np.linspace(0, n_platforms, n_dial)).astype(int)) / n_platforms
    return [float(s) for s in positions]


def sweep_runs(n_platforms, n_dial, n_seeds):
    """How many runs a sweep makes: its dial positions x ``n_seeds``.

    >>> sweep_runs(5, 6, 84), sweep_runs(2, 6, 84)
    (504, 252)
    """
    return len(sweep_grid(n_platforms, n_dial)) * n_seeds


def default_sweep():
    """The sweep's default settings (``SWEEP_CONTROLS``' defaults) and its number of runs."""
    values = {name: c.default for name, c in SWEEP_CONTROLS.items()}
    return values, sweep_runs(values["n_platforms"], values["n_dial"], values["n_seeds"])


#: About how many times :func:`dial_sweep` reports its progress.
PROGRESS_STEPS = 20


def dial_sweep(n_dial, n_seeds, scenario="crash", n_platforms=5, base=None, cancel=None, on_progress=None):
    """The sweep view's runs: :func:`sweep_grid` positions x seeds ``0 ... n_seeds - 1`` of
    :func:`dial_config`, the rows :func:`coupling_lab.sweep.sweep` gives for them (one per run).

    Runs go seed by seed (a seed's dial positions share their draws), in about
    :data:`PROGRESS_STEPS` calls of :func:`~coupling_lab.sweep.sweep` (a few seeds each), so
    that ``on_progress(done, total)`` can be called after each call, from any thread: a
    progress bar made by the caller (a widget updated from the sweep's thread reaches the
    page; printed output from that thread would not). ``cancel``
    (a :class:`threading.Event`) stops after the run in progress; the finished runs are kept
    and ``frame.attrs["sweep"]`` says how many of how many (``n_done``, ``n_planned``,
    ``complete``), as :func:`~coupling_lab.sweep.sweep` does.
    """
    config = dial_config(0.0, n_platforms, scenario, base)
    grid = {"sharing": sweep_grid(n_platforms, n_dial)}
    total = len(grid["sharing"]) * n_seeds
    parts, done = [], 0
    step = max(1, math.ceil(n_seeds / PROGRESS_STEPS))  # a call costs about 1 ms more than its runs
    for first in range(0, n_seeds, step):
        part = sweep(config, grid=grid, seeds=range(first, min(first + step, n_seeds)), progress=False,
                     cancel=cancel)
        parts.append(part)
        done += len(part)
        if on_progress is not None:
            on_progress(done, total)
        if not part.attrs["sweep"]["complete"] or (cancel is not None and cancel.is_set()):
            break
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].copy()
    # grid order, seeds innermost (the grid is sorted): the rows of one sweep() call over every seed
    frame = frame.sort_values("sharing", kind="stable", ignore_index=True)
    frame.attrs["sweep"] = {"n_planned": total, "n_done": len(frame), "complete": len(frame) == total}
    return frame


SWEEP_TABLE_HEAD = ("share on the shared oracle", "synchrony", "peak 10-min flow", "excess drawdown", "seeds")


def sweep_table_rows(summary):
    """The sweep's means per dial position in the plots' units (columns :data:`SWEEP_TABLE_HEAD`)."""
    rows = []
    for s in sorted(summary["sharing"].unique()):
        part = summary[summary["sharing"] == s].set_index("measure")
        mean = {col: float(part.loc[col, "mean"]) * scale for col, _, _, scale in SWEEP_PANELS}
        n = int(part["n"].max())
        rows.append((f"{s:.2f}", fmt_sync(mean["synchrony"]), f"{fmt_number(mean['peak_flow_share'], 1)} %",
                     f"{fmt_number(mean['excess_drawdown_pct'], 1)} %", str(n)))
    return rows
