"""Lesson 00, start here: two platforms in the classroom crash, sharing an oracle or not."""
from __future__ import annotations

from ..simulation import Config, simulate
from .controls import Control
from .sharing_dial import activity_window
from .text import fmt_sync

__all__ = ["N_PLATFORMS", "CONTROLS", "picture_config", "picture_run", "picture_window", "shared_count",
           "picture_title"]

N_PLATFORMS = 2
CONTROLS = {"sharing": Control("share the oracle", 0.0, 1.0, step=0.5, default=0.0, fmt=".1f")}
_WHAT = {0: "each platform reads its own oracle", 1: "one platform reads the shared oracle, one its own",
         2: "both platforms read the same oracle"}


def picture_config(sharing):
    """The lesson's Config: two platforms in the classroom crash at dial ``sharing``."""
    return Config(n_platforms=N_PLATFORMS, sharing=float(sharing))


def picture_run(sharing, seed=1):
    return simulate(picture_config(sharing), seed=seed)


def picture_window(seed=1):
    """One time window (minutes) for every dial position: the union of the three positions' busy windows,
    so the time axis stays put as the slider moves."""
    spans = [activity_window(picture_run(s, seed)) for s in (0.0, 0.5, 1.0)]
    return min(a for a, _ in spans), max(b for _, b in spans)


def shared_count(result):
    """How many platforms read the shared oracle 0."""
    return sum(j == 0 for j in result.world.platform_oracle)


def picture_title(result):
    """The figure's title for one run."""
    n = shared_count(result)
    return f"Sharing {n / N_PLATFORMS:.1f}: {_WHAT[n]} (synchrony {fmt_sync(result.measures.synchrony)})"
