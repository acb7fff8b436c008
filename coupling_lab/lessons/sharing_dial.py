"""Lesson 02, the sharing dial: the lesson's configurations, the readout and the sweep summary."""
from __future__ import annotations

import math

import numpy as np

from ..scenarios import CrashScenario, GBMScenario, JumpScenario
from ..simulation import Config, simulate
from ..sweep import summarize
from .controls import Control
from .text import extra_fall, fmt_musd, fmt_number, fmt_pct, fmt_sync

__all__ = ["SCENARIOS", "MAX_PLATFORMS", "SEED_MAX", "CONTROLS", "SWEEP_CONTROLS", "SWEEP_PANELS", "dial_config",
           "dial_run", "readout_rows", "activity_window", "path_window", "dial_summary", "sweep_grid",
           "sweep_table_rows"]

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
SWEEP_CONTROLS = {
    "n_dial": Control("dial positions", 2, 11, step=1, default=6, integer=True),
    "n_seeds": Control("seeds per position", 2, 50, step=1, default=10, integer=True),
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
    """The dial positions ``k / K`` for ``K`` platforms, thinned to ``n_dial`` values."""
    positions = np.unique(np.round(np.linspace(0, n_platforms, n_dial)).astype(int)) / n_platforms
    return [float(s) for s in positions]


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
