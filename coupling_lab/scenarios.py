r"""Scenario generators: the fundamental log-price path :math:`x_t` (MODEL.md §1).

Each scenario is a frozen dataclass with ``n_steps``, ``n_assets`` and a
method ``path(rng) -> x`` (log USD): shape ``(n_steps,)`` for the one-asset
scenarios, ``(n_steps, n_assets)`` for :class:`FactorScenario` and
:class:`PathScenario` (MODEL.md §8). Steps are one minute long by default;
all rates here are per step. The correlation of returns is a property of a
drawn path (:func:`coupling_lab.measures.return_correlation`), not a hidden
parameter.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np

from ._validation import Interval, Validated, check_array, check_scalar

__all__ = ["CrashScenario", "GBMScenario", "JumpScenario", "ReplayScenario", "FactorScenario", "PathScenario"]

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

    n_assets = 1

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

    n_assets = 1

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

    n_assets = 1

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

    n_assets = 1

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


def _per_asset(name, value, n, interval):
    """A scalar broadcast to ``n`` values, or a sequence of exactly ``n``, each in ``interval``."""
    if isinstance(value, (tuple, list, np.ndarray)):
        if np.ndim(value) != 1:
            raise ValueError(f"{name} must be a number or one per asset after asset 0, shape ({n},); "
                             f"got shape {np.shape(value)}")
        if len(value) != n:
            raise ValueError(f"{name} must hold one value per asset after asset 0 ({n}); got {len(value)}")
        return tuple(check_scalar(f"{name}[{i}]", v, interval) for i, v in enumerate(value))
    return (check_scalar(name, value, interval),) * n


@dataclass(frozen=True)
class FactorScenario:
    r"""Several assets on a common factor (MODEL.md §8).

    Asset 0 follows ``factor`` (any one-asset scenario: a crash, GBM,
    jumps or a replay); every other asset ``a`` follows it through its beta,
    with idiosyncratic noise of its own:

    .. math::

        x^a_t = \log p^a_0 + \beta_a (x^0_t - x^0_0) + \sigma_a W^a_t .

    A :class:`CrashScenario` factor is "a crash of one asset with the others
    following through beta"; a :class:`GBMScenario` factor a common market.

    Parameters
    ----------
    factor : one-asset scenario, the path of asset 0
    n_assets : int in [2, inf)
    beta : float in [-10, 10], or one per asset 1 ... n_assets - 1
    sigma : float in [0, inf), per-step log noise, or one per asset 1 ...
    price0 : float in (0, inf), USD, or one per asset 1 ...; ``None``: the factor's first price

    Examples
    --------
    >>> sc = FactorScenario(CrashScenario(n_steps=4, sigma=0.0), n_assets=3, beta=(1.0, 0.5), sigma=0.0)
    >>> x = sc.path(np.random.default_rng(0))
    >>> x.shape
    (4, 3)
    """

    factor: object = CrashScenario()
    n_assets: int = 2
    beta: object = 1.0
    sigma: object = 0.001
    price0: object = None

    def __post_init__(self):
        if not hasattr(self.factor, "path") or getattr(self.factor, "n_assets", None) != 1:
            raise TypeError(f"factor must be a one-asset scenario (e.g. CrashScenario); got {type(self.factor).__name__}")
        n = check_scalar("n_assets", self.n_assets, Interval(Integral, 2, None))
        object.__setattr__(self, "n_assets", n)
        object.__setattr__(self, "beta", _per_asset("beta", self.beta, n - 1, Interval(Real, -10, 10)))
        object.__setattr__(self, "sigma", _per_asset("sigma", self.sigma, n - 1, _NONNEG))
        if self.price0 is not None:
            object.__setattr__(self, "price0", _per_asset("price0", self.price0, n - 1, _POS))

    @property
    def n_steps(self):
        return self.factor.n_steps

    def path(self, rng):
        """(n_steps, n_assets) log USD. The factor draws first, so asset 0's path is the factor's own."""
        x0 = np.asarray(self.factor.path(rng), dtype=float)
        T, A = x0.size, self.n_assets
        x = np.empty((T, A))
        x[:, 0] = x0
        p0 = (math.exp(x0[0]),) * (A - 1) if self.price0 is None else self.price0
        for a in range(1, A):
            x[:, a] = math.log(p0[a - 1]) + self.beta[a - 1] * (x0 - x0[0]) + _random_walk(rng, T, self.sigma[a - 1])
        return x


@dataclass(frozen=True, eq=False)
class PathScenario:
    """Explicit prices of several assets (USD, positive and finite), shape ``(n_steps, n_assets)``.

    Examples
    --------
    >>> PathScenario([[2000.0, 30000.0], [1990.0, 29800.0]]).n_assets
    2
    """

    prices: np.ndarray = field(repr=False)

    def __post_init__(self):
        p = check_array("prices", self.prices, shape=(None, None), interval=_POS)
        if p.shape[0] == 0 or p.shape[1] == 0:
            raise ValueError(f"prices must have at least 1 step and 1 asset; got shape {p.shape}")
        p.flags.writeable = False
        object.__setattr__(self, "prices", p)

    @property
    def n_steps(self):
        return self.prices.shape[0]

    @property
    def n_assets(self):
        return self.prices.shape[1]

    def path(self, rng=None):
        return np.log(self.prices)

    @classmethod
    def from_csv(cls, path, columns=None):
        """Read one column of prices per asset from a CSV file (one row per step).

        ``columns``: the column names in asset order (default: every column
        except a leading ``step``/``t``/``time`` column).
        """
        import pandas as pd

        frame = pd.read_csv(path)
        if columns is None:
            columns = [c for c in frame.columns if str(c).lower() not in ("step", "t", "time", "minute")]
        columns = list(columns)
        for c in columns:
            if c not in frame.columns:
                raise ValueError(f"columns must be among {list(frame.columns)}; got {c!r}")
        values = frame[columns].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        if bad.any():
            i, j = (int(v) for v in np.unravel_index(int(np.argmax(bad)), bad.shape))
            cell = frame[columns[j]].iloc[i]
            cell = cell.item() if isinstance(cell, np.generic) else cell
            raise ValueError(f"prices (column {columns[j]!r}) must hold finite numbers in {_POS}; "
                             f"got {cell!r} at row {i}")
        return cls(values)

    def __repr__(self):
        return f"PathScenario(n_steps={self.n_steps}, n_assets={self.n_assets})"
