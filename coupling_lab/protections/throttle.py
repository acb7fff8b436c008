r"""Platform-side protections (volatility throttling, MODEL.md §9), each off by default.

- :class:`CircuitBreaker` (``drop``, ``window``, ``pause``): when the price a
  platform reads has fallen more than ``drop`` within the last ``window``
  steps, :math:`P_t < (1 - \text{drop}) \max(P_{t-\text{window}} \dots P_{t-1})`,
  no liquidation runs for the next ``pause`` steps, the trigger step
  included; a new trip while paused extends the pause. Both kinds of platform.
- :func:`keeper_outage` (a platform fault, Black Thursday style): keeper
  capacity 0 on ``[t0, t1)``. Both kinds of platform.
- :class:`RateLimit` (``limit_usd``, ``window``; Maker ``hole`` style):
  lending only; applied by the lending engine (see ``margin.LendingEngine``).

:class:`Throttle` bundles what applies to one platform; its engine asks
``throttle.capacity(t, prices)`` once per step, *every* step (the breaker
watches the price path), and gets ``0`` (paused or out) or the keeper
capacity (``None``: unlimited).
"""
from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real

from .._validation import Interval, Validated, check_index

__all__ = ["CircuitBreaker", "RateLimit", "PlatformFault", "keeper_outage", "Throttle"]


@dataclass(frozen=True)
class CircuitBreaker(Validated):
    """Pause liquidations after a fast fall of the price read.

    Parameters
    ----------
    drop : float in (0, 1), the fall that trips it (Maker's breaker tolerance:
        0.5, a next OSM price below half the current one; FACTS-mechanisms.md 1.1)
    window : int in [1, inf), steps looked back
    pause : int in [1, inf), steps without liquidation, the trigger step included
    """

    drop: float = 0.5
    window: int = 60
    pause: int = 60

    _constraints = {
        "drop": Interval(Real, 0, 1, closed="neither"),
        "window": Interval(Integral, 1, None),
        "pause": Interval(Integral, 1, None),
    }


@dataclass(frozen=True)
class RateLimit(Validated):
    """At most ``limit_usd`` of debt repaid per rolling window of ``window`` steps (lending).

    Parameters
    ----------
    limit_usd : float in (0, inf), USD per window, one budget across the platform's assets
    window : int in [1, inf), steps (the window is ``t - window + 1 ... t``)
    """

    limit_usd: float = 5e6
    window: int = 60

    _constraints = {
        "limit_usd": Interval(Real, 0, None, closed="neither"),
        "window": Interval(Integral, 1, None),
    }


@dataclass(frozen=True)
class PlatformFault(Validated):
    """A platform fault on steps ``t0 <= t < t1``: kind ``"keeper_outage"`` (capacity 0)."""

    kind: str
    platform: int
    t0: int
    t1: int

    _constraints = {
        "platform": Interval(Integral, 0, None),
        "t0": Interval(Integral, 0, None),
        "t1": Interval(Integral, 1, None),
    }

    def __post_init__(self):
        if self.kind != "keeper_outage":
            raise ValueError(f"platform fault kind must be 'keeper_outage'; got {self.kind!r}")
        super().__post_init__()
        if self.t1 <= self.t0:
            raise ValueError(f"fault window must have t0 < t1; got t0={self.t0}, t1={self.t1}")

    def check_against(self, n_steps, n_platforms):
        check_index("platform fault platform", self.platform, n_platforms, "platform index")
        if self.t1 > n_steps:
            raise ValueError(f"platform fault window must lie in [0, {n_steps}]; got t0={self.t0}, t1={self.t1}")


def keeper_outage(platform, t0, t1):
    """Platform ``platform``'s keepers liquidate nothing on steps ``t0 <= t < t1``."""
    return PlatformFault("keeper_outage", platform, t0, t1)


class Throttle:
    """Keeper outages and the circuit breaker of one platform, asked once per step.

    ``active`` is False when neither is set: the engine may then skip quiet
    steps as usual. The breaker trips on any of the platform's reads (one
    price per asset slot).
    """

    def __init__(self, platform, params, world=None):
        self.cap = getattr(params, "keeper_capacity", None)
        self.breaker = getattr(params, "breaker", None)
        faults = () if world is None else getattr(world, "platform_faults", ())
        self.outages = [(f.t0, f.t1) for f in faults if f.platform == platform]
        self.active = self.breaker is not None or bool(self.outages)
        self.history = []          # one list of reads per step, for the breaker
        self.paused_until = -1     # last paused step
        self.paused_steps = 0

    def capacity(self, t, prices):
        """0 when no liquidation may run at step ``t``, else the keeper capacity (None: unlimited)."""
        stop = False
        b = self.breaker
        if b is not None:
            past = self.history[-b.window:]
            if past:
                for slot, p in enumerate(prices):
                    peak = max(row[slot] for row in past)
                    if p < (1.0 - b.drop) * peak:
                        self.paused_until = max(self.paused_until, t + b.pause - 1)
                        break
            self.history.append(list(prices))
            if len(self.history) > b.window:
                del self.history[0]
            stop = t <= self.paused_until
        if not stop:
            stop = any(t0 <= t < t1 for t0, t1 in self.outages)
        if stop:
            self.paused_steps += 1
            return 0
        return self.cap
