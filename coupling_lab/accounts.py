r"""Account books: explicit arrays or a seeded population (MODEL.md §4).

Account :math:`i` holds :math:`c_i > 0` units of **one** collateral asset
:math:`a(i)` (asset 0 unless given, MODEL.md §8) and :math:`d_i \ge 0` USD of debt. A population is drawn by health at the
initial price :math:`p_0`:

.. math::

    c_i \sim \text{LogNormal}(\log \bar c, \sigma_c^2), \quad
    h_i = 1 + e_i,\ e_i \sim \text{LogNormal}(\log \bar e, \sigma_e^2), \quad
    d_i = c_i\, p_0\, LT / h_i .
"""
from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

from ._validation import Interval, Validated, check_array

__all__ = ["Book", "PopulationParams", "draw_book"]


@dataclass(frozen=True, eq=False)
class Book:
    """One platform's accounts.

    Parameters
    ----------
    collateral : array, shape (n_accounts,), units of the account's asset, each > 0
    debt : array, shape (n_accounts,), USD, each >= 0
    asset : array of int, shape (n_accounts,), or None
        The collateral asset of each account (MODEL.md §8); ``None``: all asset 0.
    """

    collateral: np.ndarray
    debt: np.ndarray
    asset: np.ndarray | None = None

    def __post_init__(self):
        c = check_array("collateral", self.collateral, shape=(None,), interval=Interval(Real, 0, None, "neither"))
        d = check_array("debt", self.debt, shape=(c.size,), interval=Interval(Real, 0, None, "left"))
        c.flags.writeable = False
        d.flags.writeable = False
        object.__setattr__(self, "collateral", c)
        object.__setattr__(self, "debt", d)
        if self.asset is not None:
            a = check_array("asset", self.asset, shape=(c.size,), interval=Interval(Integral, 0, None))
            if a.size and not np.array_equal(a, np.round(a)):
                i = int(np.argmax(a != np.round(a)))
                raise ValueError(f"asset must hold asset indices (integers in [0, inf)); got {a[i].item()!r} at index {i}")
            a = a.astype(np.int64)
            a.flags.writeable = False
            object.__setattr__(self, "asset", a)

    @property
    def n_accounts(self):
        return self.collateral.size

    def asset_of_accounts(self):
        """(n_accounts,) int: the collateral asset of every account."""
        return np.zeros(self.n_accounts, dtype=np.int64) if self.asset is None else self.asset

    @property
    def assets(self):
        """Sorted tuple of the assets the book holds."""
        if self.asset is None:
            return (0,) if self.n_accounts else ()
        return tuple(int(a) for a in np.unique(self.asset))

    def __repr__(self):
        return f"Book(n_accounts={self.n_accounts}, collateral={self.collateral.sum():.4g} units, debt={self.debt.sum():.4g} USD)"


@dataclass(frozen=True)
class PopulationParams(Validated):
    """How a platform's accounts are drawn.

    Parameters
    ----------
    n_accounts : int in [1, inf), accounts per platform
    collateral_median : float in (0, inf), units of the asset
    collateral_sigma : float in [0, inf), log-normal sigma of collateral
    health_excess_median : float in (0, inf)
        Median of ``h - 1`` at the initial price (0.3 -> median health 1.3).
    health_sigma : float in [0, inf), log-normal sigma of ``h - 1``
    """

    n_accounts: int = 2000
    collateral_median: float = 10.0
    collateral_sigma: float = 1.0
    health_excess_median: float = 0.3
    health_sigma: float = 0.8

    _constraints = {
        "n_accounts": Interval(Integral, 1, None),
        "collateral_median": Interval(Real, 0, None, closed="neither"),
        "collateral_sigma": Interval(Real, 0, None),
        "health_excess_median": Interval(Real, 0, None, closed="neither"),
        "health_sigma": Interval(Real, 0, None),
    }


def draw_book(rng, params, price0, lt, asset=None):
    """Draw one platform's :class:`Book` at initial price ``price0`` (USD).

    Examples
    --------
    >>> book = draw_book(np.random.default_rng(0), PopulationParams(n_accounts=3), 2000.0, 0.8)
    >>> book.n_accounts
    3
    """
    n = params.n_accounts
    c = params.collateral_median * np.exp(params.collateral_sigma * rng.standard_normal(n))
    h = 1.0 + params.health_excess_median * np.exp(params.health_sigma * rng.standard_normal(n))
    d = c * price0 * lt / h
    return Book(c, d, None if asset is None else np.full(n, asset, dtype=np.int64))
