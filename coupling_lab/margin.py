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


def _merge_runs(a_i, a_n, b_i, b_n):
    """Merge two runs, each sorted by (key, account index), into one.

    Returns ``(index, key, pos_b)`` with ``pos_b`` the (ascending) positions
    the entries of ``b`` took in the merged run. O(len(a) + len(b)); an exact
    tie in key between the runs (rare: twin accounts) falls back to a sort.
    """
    lo = np.searchsorted(a_n, b_n, side="left")
    if (lo != np.searchsorted(a_n, b_n, side="right")).any():
        all_i, all_n = np.concatenate([a_i, b_i]), np.concatenate([a_n, b_n])
        o = np.lexsort((all_i, all_n))
        return all_i[o], all_n[o], np.flatnonzero(o >= a_i.size)
    pos_b = lo + np.arange(b_n.size)
    from_a = np.ones(a_n.size + b_n.size, dtype=bool)
    from_a[pos_b] = False
    out_i = np.empty(from_a.size, dtype=a_i.dtype)
    out_n = np.empty(from_a.size)
    out_i[pos_b], out_n[pos_b] = b_i, b_n
    out_i[from_a], out_n[from_a] = a_i, a_n
    return out_i, out_n, pos_b


def _sort_run(i, n):
    """Order entries by (key ``n``, index ``i``): a plain sort unless keys tie."""
    o = np.argsort(n)
    n_sorted = n[o]
    if n.size > 1 and (n_sorted[1:] == n_sorted[:-1]).any():
        o = np.lexsort((i, n))
        n_sorted = n[o]
    return i[o], n_sorted


class Ledger:
    """A platform's balances, with open accounts kept ordered by liquidation price.

    Open accounts are ordered by key ``-p*`` (ascending, so the most
    liquidatable come first), ties by account index. Accounts never touched
    wait in ``main`` (sorted once, consumed from ``head``); accounts partly
    liquidated and still open wait in a sorted ``pool``. A round at price
    ``pi`` takes the prefix of both with ``-p* < -pi`` (two binary searches),
    merges the two prefixes, liquidates them with array arithmetic and merges
    the survivors, under their new ``p*``, back into the pool. A step costs
    O(log n) when nothing is liquidatable and O(log n + liquidations + pool)
    otherwise: no step scans the whole book.
    """

    def __init__(self, book, params):
        self.params = params
        self.lt = params.lt
        self.cap = params.keeper_capacity
        self.collateral = book.collateral.copy()
        self.debt = book.debt.copy()
        open_ = self.debt > 0
        if open_.all():  # the usual book: no gather needed
            idx, negp = np.arange(self.debt.size), -liquidation_price(self.collateral, self.debt, self.lt)
        else:
            idx = np.flatnonzero(open_)
            negp = -liquidation_price(self.collateral[idx], self.debt[idx], self.lt)
        self.main_idx, self.main_negp = _sort_run(idx, negp)
        self.head = 0
        self.pool_idx = np.empty(0, dtype=self.main_idx.dtype)
        self.pool_negp = np.empty(0)
        self.next_pstar = self._next_pstar()

    def _next_pstar(self):
        """Highest liquidation price among open accounts (0.0 when none is open)."""
        best = self.main_negp[self.head] if self.head < self.main_negp.size else np.inf
        if self.pool_negp.size and self.pool_negp[0] < best:
            best = self.pool_negp[0]
        return 0.0 if best == np.inf else -float(best)

    def _candidates(self, price):
        """Accounts liquidatable at ``price`` in processing order, at most ``cap``.

        Returns ``(idx, take_main, take_pool)``: the accounts, and how many of
        them come from the head of ``main`` and of ``pool``.
        """
        neg, head, cap = -price, self.head, self.cap
        n_main = max(int(self.main_negp.searchsorted(neg, side="left")) - head, 0)
        n_pool = int(self.pool_negp.searchsorted(neg, side="left"))
        if cap is not None:  # the first cap of the merge come from the first cap of each
            n_main, n_pool = min(n_main, cap), min(n_pool, cap)
        if n_pool == 0:
            return self.main_idx[head:head + n_main], n_main, 0
        if n_main == 0:
            return self.pool_idx[:n_pool], 0, n_pool
        idx, _, pos_pool = _merge_runs(self.main_idx[head:head + n_main], self.main_negp[head:head + n_main],
                                       self.pool_idx[:n_pool], self.pool_negp[:n_pool])
        if cap is None or idx.size <= cap:
            return idx, n_main, n_pool
        take_pool = int(pos_pool.searchsorted(cap))
        return idx[:cap], cap - take_pool, take_pool

    def liquidate(self, price):
        """Run one liquidation round at oracle price ``price`` (USD).

        Returns
        -------
        (account, seized, repaid, bad_debt) : four arrays in processing order
            or ``None`` when no account is liquidatable.
        """
        idx, take_main, take_pool = self._candidates(price)
        if idx.size == 0:
            return None
        p = self.params
        c = self.collateral[idx]
        d = self.debt[idx]
        h = c * price * self.lt / d
        r = np.where(h < p.h_full, d, p.close_factor * d)
        want = r * (1.0 + p.bonus) / price
        exhausted = want >= c
        if exhausted.any():  # collateral runs out: seize it all, the rest may be bad debt
            seized = np.where(exhausted, c, want)
            repaid = np.where(exhausted, c * price / (1.0 + p.bonus), r)
            debt_left = d - repaid
            bad = np.where(exhausted & (debt_left > 0), debt_left, 0.0)
            debt_left = np.where(exhausted, 0.0, np.maximum(debt_left, 0.0))
            coll_left = np.where(exhausted, 0.0, c - seized)
        else:  # r <= d, so d - r >= 0; want < c, so c - want > 0
            seized, repaid, bad = want, r, np.zeros(idx.size)
            debt_left, coll_left = d - r, c - want
        self.collateral[idx] = coll_left
        self.debt[idx] = debt_left

        self.head += take_main
        pool_i, pool_n = self.pool_idx[take_pool:], self.pool_negp[take_pool:]
        alive = debt_left > 0
        if not alive.all():
            idx_alive, debt_left, coll_left = idx[alive], debt_left[alive], coll_left[alive]
        else:
            idx_alive = idx
        if idx_alive.size:
            si, sn = _sort_run(idx_alive, -(debt_left / (coll_left * self.lt)))
            pool_i, pool_n, _ = _merge_runs(pool_i, pool_n, si, sn)
        self.pool_idx, self.pool_negp = pool_i, pool_n
        self.next_pstar = self._next_pstar()
        return idx, seized, repaid, bad
