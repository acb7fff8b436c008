"""What each protection costs (MODEL.md §9): the same run with the protections off, side by side.

A protection changes *when* forced selling happens; its price is accounts
that stay liquidatable while they wait (bad debt can grow meanwhile). For a
run, :func:`costs` reports

- ``waiting_account_steps``: account-steps during which an account was
  liquidatable but not liquidated (keeper capacity, rate limit, pause, outage);
- ``mean_delay_steps``, ``max_delay_steps``: steps from an account becoming
  liquidatable to its liquidation, over all liquidations (0 with no wait);
- ``bad_debt``, ``excess_drawdown`` (asset 0), ``peak_flow_share``,
  ``liquidated_usd``.

:func:`compare` runs a world and its :func:`without_protections` twin (same
paths, noise and books) and returns both rows and their difference.
"""
from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["costs", "without_protections", "compare", "COST_FIELDS"]

COST_FIELDS = ("waiting_account_steps", "mean_delay_steps", "max_delay_steps", "bad_debt", "excess_drawdown",
               "peak_flow_share", "liquidated_usd")


def costs(result):
    """The cost figures of one :class:`~coupling_lab.Result` (a dict, keys ``COST_FIELDS``)."""
    delays = [o["delay_steps"] for o in result.engine_outputs if "delay_steps" in o]
    d = np.concatenate(delays) if delays else np.empty(0)
    m = result.measures
    return {
        "waiting_account_steps": int(result.waiting_tk.sum()),
        "mean_delay_steps": float(d.mean()) if d.size else 0.0,
        "max_delay_steps": int(d.max()) if d.size else 0,
        "bad_debt": m.bad_debt,
        "excess_drawdown": m.excess_drawdown,
        "peak_flow_share": m.peak_flow_share,
        "liquidated_usd": m.liquidated_usd,
    }


def without_protections(world):
    """The same :class:`~coupling_lab.World` with every protection of §9 switched off.

    Keeper capacity is a platform's rule, not a protection: it is kept.
    """
    platforms = tuple(dataclasses.replace(p, rate_limit=None, breaker=None) if hasattr(p, "breaker") else p
                      for p in world.platforms)
    fields = {f.name: getattr(world, f.name) for f in dataclasses.fields(world)}
    fields.update(platforms=platforms, feed_rules=(), read_guards=(), platform_faults=())
    return type(world)(**fields)


def compare(world_or_config, seed=0):
    """Run with and without the protections: a DataFrame, rows ``protected``, ``unprotected``, ``difference``."""
    import pandas as pd

    from ..config import Config, build
    from ..loop import run

    world = build(world_or_config, seed) if isinstance(world_or_config, Config) else world_or_config
    on, off = costs(run(world)), costs(run(without_protections(world)))
    frame = pd.DataFrame([on, off], index=["protected", "unprotected"])
    frame.loc["difference"] = frame.loc["protected"] - frame.loc["unprotected"]
    return frame
