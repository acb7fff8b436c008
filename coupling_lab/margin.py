r"""Margin engines: one liquidation round per platform per step (MODEL.md §4).

Health and liquidation price of account :math:`i` on platform :math:`k`,
reading oracle price :math:`\pi`:

.. math::

    h_i = \frac{c_i\,\pi\,LT_k}{d_i}, \qquad p^*_i = \frac{d_i}{c_i\,LT_k},

liquidatable when :math:`\pi < p^*_i`. Liquidatable accounts are processed
lowest health first (highest :math:`p^*`, ties by account index), at most
``keeper_capacity`` per step. Each repays :math:`r = d_i` if
:math:`h_i < h_{full}` else :math:`r = f d_i`, loses
:math:`s = \min(c_i, r(1+b)/\pi)` units and repays :math:`r' = s\pi/(1+b)`.
Collateral exhausted with debt left makes that remainder bad debt.

Within one round the price is fixed and accounts do not interact, so the
processing order matters only for which accounts a limited keeper capacity
reaches first.
"""
from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

from ._validation import Interval, Validated

__all__ = ["PlatformParams", "health", "liquidation_price", "Ledger"]


@dataclass(frozen=True)
class PlatformParams(Validated):
    """One margin engine's rules.

    Parameters
    ----------
    lt : float in (0, 1]
        Liquidation threshold ``LT`` (0.8: a round teaching value).
    close_factor : float in (0, 1]
        Share of debt a partial liquidation repays (Aave v3 default 0.5, FACTS.md).
    bonus : float in [0, 1]
        Liquidation bonus ``b`` paid to keepers in collateral (5 %-10 % common;
        Compound v2 used 8 %, FACTS.md).
    h_full : float in [0, 1]
        Below this health the whole debt may be closed (Aave v3: 0.95, FACTS.md).
    keeper_capacity : int in [1, inf) or None
        Most accounts liquidated per step; ``None`` is unlimited.
    """

    lt: float = 0.8
    close_factor: float = 0.5
    bonus: float = 0.05
    h_full: float = 0.95
    keeper_capacity: int | None = None

    _constraints = {
        "lt": Interval(Real, 0, 1, closed="right"),
        "close_factor": Interval(Real, 0, 1, closed="right"),
        "bonus": Interval(Real, 0, 1, closed="both"),
        "h_full": Interval(Real, 0, 1, closed="both"),
        "keeper_capacity": Interval(Integral, 1, None),
    }
    _optional = ("keeper_capacity",)


def health(collateral, debt, price, lt):
    r"""Health :math:`h = c\,\pi\,LT / d` (``inf`` where debt is 0).

    Examples
    --------
    >>> float(health(1.0, 1500.0, 2000.0, 0.8))
    1.0666666666666667
    """
    c, d = np.asarray(collateral, float), np.asarray(debt, float)
    with np.errstate(divide="ignore"):
        return np.where(d > 0, c * price * lt / np.where(d > 0, d, 1.0), np.inf)


def liquidation_price(collateral, debt, lt):
    r"""Liquidation price :math:`p^* = d / (c\,LT)`, USD per unit.

    Examples
    --------
    >>> float(liquidation_price(1.0, 1500.0, 0.8))
    1875.0
    """
    return np.asarray(debt, float) / (np.asarray(collateral, float) * lt)


class Ledger:
    """A platform's balances, with open accounts kept ordered by liquidation price.

    Accounts never touched wait in ``main`` (sorted once, consumed from the
    head); accounts partly liquidated and still open wait in a small sorted
    ``pool``. A step costs O(log n) when nothing is liquidatable and
    O(log n + liquidations + pool) otherwise: no step scans the whole book.
    """

    def __init__(self, book, params):
        self.params = params
        self.lt = params.lt
        self.collateral = book.collateral.copy()
        self.debt = book.debt.copy()
        self.cap = params.keeper_capacity
        pstar = liquidation_price(self.collateral, self.debt, self.lt)
        idx = np.flatnonzero(self.debt > 0)
        # stable sort over ascending index: ties in p* keep index order
        order = idx[np.argsort(-pstar[idx], kind="stable")]
        self.main_idx = order
        self.main_negp = -pstar[order]
        self.head = 0
        self.pool_idx = np.empty(0, dtype=np.int64)
        self.pool_negp = np.empty(0)
        self.next_pstar = self._next_pstar()

    def _next_pstar(self):
        best = np.inf
        if self.head < self.main_negp.size:
            best = self.main_negp[self.head]
        if self.pool_negp.size and self.pool_negp[0] < best:
            best = self.pool_negp[0]
        return 0.0 if best == np.inf else float(-best)

    def liquidate(self, price):
        """Run one liquidation round at oracle price ``price`` (USD).

        Returns
        -------
        (account, seized, repaid, bad_debt) : four arrays in processing order
            or ``None`` when no account is liquidatable.
        """
        neg = -price
        main_negp = self.main_negp[self.head:]
        n_main = int(np.searchsorted(main_negp, neg, side="left"))
        n_pool = int(np.searchsorted(self.pool_negp, neg, side="left"))
        n = n_main + n_pool
        if n == 0:
            return None
        main_i = self.main_idx[self.head:self.head + n_main]
        if n_pool == 0 and (self.cap is None or n <= self.cap):
            idx, take_main = main_i, n_main
        else:
            cand_i = np.concatenate([main_i, self.pool_idx[:n_pool]])
            cand_n = np.concatenate([main_negp[:n_main], self.pool_negp[:n_pool]])
            order = np.lexsort((cand_i, cand_n))
            if self.cap is not None and n > self.cap:
                order = order[:self.cap]
            idx = cand_i[order]
            take_main = int(np.count_nonzero(order < n_main))
        take_pool = idx.size - take_main

        p = self.params
        c = self.collateral[idx]
        d = self.debt[idx]
        h = c * price * self.lt / d
        r = np.where(h < p.h_full, d, p.close_factor * d)
        want = r * (1.0 + p.bonus) / price
        exhausted = want >= c
        seized = np.where(exhausted, c, want)
        repaid = np.where(exhausted, c * price / (1.0 + p.bonus), r)
        debt_left = d - repaid
        bad = np.where(exhausted & (debt_left > 0), debt_left, 0.0)
        debt_left = np.where(exhausted, 0.0, np.maximum(debt_left, 0.0))
        coll_left = np.where(exhausted, 0.0, c - seized)
        self.collateral[idx] = coll_left
        self.debt[idx] = debt_left

        self.head += take_main
        pool_i, pool_n = self.pool_idx[take_pool:], self.pool_negp[take_pool:]
        alive = debt_left > 0
        if alive.any():
            si = idx[alive]
            sn = -debt_left[alive] / (coll_left[alive] * self.lt)
            o = np.lexsort((si, sn))
            si, sn = si[o], sn[o]
            lo = np.searchsorted(pool_n, sn, side="left")
            if np.array_equal(lo, np.searchsorted(pool_n, sn, side="right")):
                pool_i, pool_n = np.insert(pool_i, lo, si), np.insert(pool_n, lo, sn)
            else:  # an exact tie with a waiting account: order by index too
                all_i, all_n = np.concatenate([pool_i, si]), np.concatenate([pool_n, sn])
                o = np.lexsort((all_i, all_n))
                pool_i, pool_n = all_i[o], all_n[o]
        self.pool_idx, self.pool_negp = pool_i, pool_n
        self.next_pstar = self._next_pstar()
        return idx, seized, repaid, bad
