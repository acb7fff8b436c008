r"""Scenario generators: the fundamental log-price path :math:`x_t` (MODEL.md §1).

Each scenario is a frozen dataclass with ``n_steps`` and a method
``path(rng) -> x_t`` (shape ``(n_steps,)``, log USD). Steps are one minute
long by default; all rates here are per step.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np

from ._validation import Interval, Validated, check_array

__all__ = ["CrashScenario", "GBMScenario", "JumpScenario", "ReplayScenario"]

_POS = Interval(Real, 0, None, closed="neither")
_NONNEG = Interval(Real, 0, None)
_STEPS = Interval(Integral, 1, None)


def _random_walk(rng, n_steps, sigma):
    # x_0 is the given starting price: the walk starts at exactly 0
    w = np.zeros(n_steps)
    if n_steps > 1 and sigma > 0:
        np.cumsum(sigma * rng.standard_normal(n_steps - 1), out=w[1:])
    return w


@dataclass(frozen=True)
class CrashScenario(Validated):
    r"""A stylised crash: a fall of ``depth`` spread over ``duration`` steps.

    .. math::

        x_t = \log p_0 + \log(1 - \text{depth})\,
              \min\!\big(1, \max(0, (t - \text{start}) / \text{duration})\big)
              + \sigma W_t

    Parameters
    ----------
    n_steps : int in [1, inf)
    price0 : float in (0, inf), USD
    depth : float in [0, 1), fraction of the price lost by the end of the crash
    start : int in [0, inf), step the fall begins
    duration : int in [1, inf), steps the fall lasts
    sigma : float in [0, inf), per-step log volatility of the noise around it
    """

    n_steps: int = 500
    price0: float = 2000.0
    depth: float = 0.30
    start: int = 100
    duration: int = 120
    sigma: float = 0.001

    _constraints = {
        "n_steps": _STEPS,
        "price0": _POS,
        "depth": Interval(Real, 0, 1, closed="left"),
        "start": Interval(Integral, 0, None),
        "duration": _STEPS,
        "sigma": _NONNEG,
    }

    def path(self, rng):
        t = np.arange(self.n_steps)
        ramp = np.clip((t - self.start) / self.duration, 0.0, 1.0)
        return math.log(self.price0) + math.log1p(-self.depth) * ramp + _random_walk(rng, self.n_steps, self.sigma)


@dataclass(frozen=True)
class GBMScenario(Validated):
    r"""Geometric Brownian motion: :math:`x_t = \log p_0 + (\mu - \sigma^2/2)t + \sigma W_t`.

    ``mu`` and ``sigma`` are per step (log units).
    """

    n_steps: int = 500
    price0: float = 2000.0
    mu: float = 0.0
    sigma: float = 0.002

    _constraints = {
        "n_steps": _STEPS,
        "price0": _POS,
        "mu": Interval(Real, -1, 1),
        "sigma": _NONNEG,
    }

    def path(self, rng):
        t = np.arange(self.n_steps)
        return math.log(self.price0) + (self.mu - 0.5 * self.sigma**2) * t + _random_walk(rng, self.n_steps, self.sigma)


@dataclass(frozen=True)
class JumpScenario(Validated):
    r"""GBM plus compound-Poisson jumps (Merton): jumps arrive with probability
    ``jump_rate`` per step, each of log size :math:`N(\text{jump\_mean}, \text{jump\_sigma}^2)`.
    """

    n_steps: int = 500
    price0: float = 2000.0
    sigma: float = 0.001
    jump_rate: float = 0.01
    jump_mean: float = -0.03
    jump_sigma: float = 0.02

    _constraints = {
        "n_steps": _STEPS,
        "price0": _POS,
        "sigma": _NONNEG,
        "jump_rate": Interval(Real, 0, 1),
        "jump_mean": Interval(Real, -1, 1),
        "jump_sigma": _NONNEG,
    }

    def path(self, rng):
        x = math.log(self.price0) - 0.5 * self.sigma**2 * np.arange(self.n_steps)
        x += _random_walk(rng, self.n_steps, self.sigma)
        jumps = np.zeros(self.n_steps)
        if self.n_steps > 1:
            hit = rng.random(self.n_steps - 1) < self.jump_rate
            jumps[1:] = np.cumsum(np.where(hit, rng.normal(self.jump_mean, self.jump_sigma, self.n_steps - 1), 0.0))
        return x + jumps


@dataclass(frozen=True, eq=False)
class ReplayScenario:
    """Replay a given price series (USD, positive and finite), one value per step.

    Examples
    --------
    >>> ReplayScenario([2000.0, 1990.0, 1985.0]).n_steps
    3
    """

    prices: np.ndarray = field(repr=False)

    def __post_init__(self):
        p = check_array("prices", self.prices, shape=(None,), interval=_POS)
        if p.size == 0:
            raise ValueError("prices must hold at least 1 value; got 0")
        p.flags.writeable = False
        object.__setattr__(self, "prices", p)

    @property
    def n_steps(self):
        return self.prices.size

    @property
    def price0(self):
        return float(self.prices[0])

    def path(self, rng=None):
        return np.log(self.prices)

    @classmethod
    def from_csv(cls, path, column="price"):
        """Read prices from column ``column`` of a CSV file (one row per step)."""
        import pandas as pd

        frame = pd.read_csv(path)
        if column not in frame.columns:
            raise ValueError(f"column must be one of {list(frame.columns)}; got {column!r}")
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        if bad.any():
            # name the cell as written in the file ('abc', an empty cell), not the NaN it became
            i = int(np.argmax(bad))
            cell = frame[column].iloc[i]
            cell = cell.item() if isinstance(cell, np.generic) else cell
            raise ValueError(f"prices (column {column!r}) must hold finite numbers in {_POS}; got {cell!r} at index {i}")
        return cls(values)

    def __repr__(self):
        return f"ReplayScenario(n_steps={self.n_steps}, price0={self.price0:.6g})"
