"""Lesson 05, what helps: two designs side by side, same seed and path."""
from __future__ import annotations

import math

from ..margin import PlatformParams
from ..market import MarketParams
from ..oracles import OracleParams, override
from ..scenarios import CrashScenario, GBMScenario
from ..simulation import Config, OracleRanges, simulate
from .controls import Control
from .text import Sentence, extra_fall, fmt_musd, fmt_pct, fmt_sync

__all__ = ["SCENARIOS", "SEED_MAX", "DESIGN_KNOBS", "CONTROLS", "design_config", "design_run", "measure_rows",
           "comparison_sentence"]

SCENARIOS = ("crash", "bad report")
SEED_MAX = 9999

#: Each design's knobs, declared once (both designs open with these defaults: today's coupled design).
DESIGN_KNOBS = {
    "topology": Control("topology", choices=("shared_fraction", "source_overlap"), default="shared_fraction",
                        kind="dropdown"),
    "sharing": Control("sharing", 0.0, 1.0, step=0.2, default=1.0),
    "theta": Control("threshold θ", 0.0, 5.0, step=0.25, default=0.5, unit="%"),
    "heartbeat": Control("heartbeat", 1, 1440, step=1, default=60, unit="min", integer=True),
    "delay": Control("oracle delay", 0, 120, step=1, default=1, unit="min", integer=True),
    "keepers": Control("keepers", 0, 500, step=5, default=0, unit="accounts/min, 0 = no limit", integer=True),
    "depth": Control("depth D", 50.0, 1000.0, step=10, default=200.0, unit="M USD"),
}
CONTROLS = {
    "scenario": Control("scenario", choices=SCENARIOS, default="crash"),
    "seed": Control("seed", 0, SEED_MAX, step=1, default=1, integer=True, kind="text"),
    **{f"{d}_{k}": c for d in "AB" for k, c in DESIGN_KNOBS.items()},
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


def design_run(scenario="crash", seed=1, **knobs):
    return simulate(design_config(scenario, **knobs), seed=seed)


def measure_rows(m):
    """name -> (formatted value, meaning) for one design's measures."""
    return {
        "synchrony": ("n/a" if math.isnan(m.synchrony) else fmt_sync(m.synchrony),
                      "1 = platforms sell in lockstep"),
        "peak flow": (fmt_pct(m.peak_flow_share, 0), "of all selling in the busiest 10 minutes"),
        "excess drawdown": (fmt_pct(extra_fall(m.excess_drawdown)), "extra fall from forced selling"),
        "liquidated": (fmt_musd(m.liquidated_usd), "collateral sold"),
        "bad debt": (fmt_musd(m.bad_debt, 2), "debt left unpaid"),
    }


def comparison_sentence(a, b):
    """A sentence comparing designs A and B's extra fall and peak flow (two Measures)."""
    return Sentence(f"Extra fall from forced selling: design A {fmt_pct(extra_fall(a.excess_drawdown))}, design B "
                    f"{fmt_pct(extra_fall(b.excess_drawdown))}. Busiest ten minutes: A {fmt_pct(a.peak_flow_share, 0)} "
                    f"of the selling, B {fmt_pct(b.peak_flow_share, 0)}.")

