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

from .protections.throttle import CircuitBreaker, RateLimit, Throttle
from ._validation import Interval, Validated, check_scalar

__all__ = ["PlatformParams", "health", "liquidation_price", "liquidate", "Ledger", "LendingEngine"]


@dataclass(frozen=True)
class PlatformParams(Validated):
    """One lending margin engine's rules.

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
        Most accounts liquidated per step, over all the platform's assets;
        ``None`` is unlimited.
    lt_by_asset, bonus_by_asset : tuple of float, one per asset, or None
        ``LT_{k,a}`` and ``b_{k,a}`` per asset index ``a`` (MODEL.md §8), in
        the same ranges as ``lt`` and ``bonus``; ``None`` uses ``lt`` and
        ``bonus`` for every asset (Aave v3 on Ethereum: WETH 0.83, WBTC 0.78,
        wstETH 0.81, FACTS-mechanisms.md).
    rate_limit : RateLimit or None
        Most debt repaid per rolling window (MODEL.md §9; off by default).
    breaker : CircuitBreaker or None
        Pause liquidations after a fast fall of the price read (off by default).
    """

    lt: float = 0.8
    close_factor: float = 0.5
    bonus: float = 0.05
    h_full: float = 0.95
    keeper_capacity: int | None = None
    lt_by_asset: tuple | None = None
    bonus_by_asset: tuple | None = None
    rate_limit: object = None
    breaker: object = None

    kind = "lending"
    _constraints = {
        "lt": Interval(Real, 0, 1, closed="right"),
        "close_factor": Interval(Real, 0, 1, closed="right"),
        "bonus": Interval(Real, 0, 1, closed="both"),
        "h_full": Interval(Real, 0, 1, closed="both"),
        "keeper_capacity": Interval(Integral, 1, None),
    }
    _optional = ("keeper_capacity",)

    def __post_init__(self):
        super().__post_init__()
        for name, kind in (("rate_limit", RateLimit), ("breaker", CircuitBreaker)):
            v = getattr(self, name)
            if v is not None and not isinstance(v, kind):
                raise TypeError(f"{name} must be a {kind.__name__} or None; got {type(v).__name__}")
        for name, base in (("lt_by_asset", "lt"), ("bonus_by_asset", "bonus")):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) == 0:
                raise ValueError(f"{name} must be None or a non-empty sequence of numbers in "
                                 f"{self._constraints[base]}, one per asset; got {value!r}")
            object.__setattr__(self, name, tuple(check_scalar(f"{name}[{a}]", v, self._constraints[base])
                                                 for a, v in enumerate(value)))

    def lt_of(self, asset):
        """``LT_{k,a}`` for asset index ``asset``."""
        return self.lt if self.lt_by_asset is None else self.lt_by_asset[asset]

    def bonus_of(self, asset):
        """``b_{k,a}`` for asset index ``asset``."""
        return self.bonus if self.bonus_by_asset is None else self.bonus_by_asset[asset]

    def check_assets(self, n_assets, where="platform"):
        """Raise if a per-asset tuple does not hold one value per asset."""
        for name in ("lt_by_asset", "bonus_by_asset"):
            v = getattr(self, name)
            if v is not None and len(v) != n_assets:
                raise ValueError(f"{where}.{name} must hold one value per asset (n_assets={n_assets}); got {len(v)}")

    def make_engine(self, platform, book, assets, world=None):
        """The margin engine of platform ``platform`` (see :mod:`coupling_lab.engines`)."""
        return LendingEngine(platform, book, self, assets, world)


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


def liquidate(collateral, debt, price, lt, close_factor, bonus, h_full):
    r"""The lending liquidation rule of MODEL.md §4, for accounts liquidatable at ``price``.

    .. math::

        h = \frac{c\,\pi\,LT}{d}, \quad
        r = \begin{cases} d & h < h_{full} \\ f\,d & \text{otherwise} \end{cases}, \quad
        s = \min\big(c, r(1+b)/\pi\big), \quad r' = s\,\pi/(1+b),

    and a remainder of debt on exhausted collateral is bad debt. The one rule
    of the lending engine: :class:`Ledger` (the simulation) and
    :func:`coupling_lab.forecast.first_round_sales` (the forecast) both call it.

    Parameters
    ----------
    collateral, debt : ndarray, shape (n,), units and USD, each account liquidatable (``d > 0``)
    price : float, USD per unit, the price read (> 0)
    lt, close_factor, bonus, h_full : float, or ndarray of shape (n,) for ``lt`` and ``bonus``

    Returns
    -------
    (seized, repaid, bad_debt, collateral_left, debt_left) : ndarrays, shape (n,)

    Examples
    --------
    >>> s, r, bad, c, d = liquidate(np.array([1.0]), np.array([1500.0]), 1800.0, 0.8, 0.5, 0.05, 0.95)
    >>> float(s[0]), float(r[0]), float(d[0])
    (0.4375, 750.0, 750.0)
    """
    c, d = collateral, debt
    h = c * price * lt / d
    r = np.where(h < h_full, d, close_factor * d)
    if price > 0.0:
        want = r * (1.0 + bonus) / price
    else:  # the market price underflowed to 0 (impact far beyond the depth): all collateral goes, the rest is bad debt
        want = np.full(c.size, np.inf)
    exhausted = want >= c
    if exhausted.any():  # collateral runs out: seize it all, the rest may be bad debt
        seized = np.where(exhausted, c, want)
        repaid = np.where(exhausted, c * price / (1.0 + bonus), r)
        debt_left = d - repaid
        bad = np.where(exhausted & (debt_left > 0), debt_left, 0.0)
        debt_left = np.where(exhausted, 0.0, np.maximum(debt_left, 0.0))
        coll_left = np.where(exhausted, 0.0, c - seized)
    else:  # r <= d, so d - r >= 0; want < c, so c - want > 0
        seized, repaid, bad = want, r, np.zeros(c.size)
        debt_left, coll_left = d - r, c - want
    return seized, repaid, bad, coll_left, debt_left


class Ledger:
    """Open accounts of one asset on one platform, kept ordered by liquidation price.

    Open accounts are ordered by key ``-p*`` (ascending, so the most
    liquidatable come first), ties by account index. Accounts never touched
    wait in ``main`` (sorted once, consumed from ``head``); accounts partly
    liquidated and still open wait in a sorted ``pool``. A round at price
    ``pi`` takes the prefix of both with ``-p* < -pi`` (two binary searches),
    merges the two prefixes, liquidates them with array arithmetic and merges
    the survivors, under their new ``p*``, back into the pool. A step costs
    O(log n) when nothing is liquidatable and O(log n + liquidations + pool)
    otherwise: no step scans the whole book.

    The balances ``collateral`` and ``debt`` are the platform's arrays (all
    its accounts); a ledger only ever touches the accounts ``accounts`` it
    was given, so one platform's ledgers (one per asset) share the arrays.
    """

    def __init__(self, collateral, debt, accounts, params, lt, bonus):
        self.params = params
        self.lt, self.bonus = lt, bonus
        self.cap = params.keeper_capacity
        self.collateral, self.debt = collateral, debt
        accounts = np.asarray(accounts)
        if accounts.size == debt.size and (debt > 0).all():  # the usual book: no gather needed
            idx, negp = np.arange(debt.size), -liquidation_price(collateral, debt, lt)
        else:
            idx = accounts[debt[accounts] > 0]
            negp = -liquidation_price(collateral[idx], debt[idx], lt)
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

    def count(self, price):
        """How many open accounts are liquidatable at ``price`` (two binary searches, no merge)."""
        neg = -price
        n_main = max(int(self.main_negp.searchsorted(neg, side="left")) - self.head, 0)
        return n_main + int(self.pool_negp.searchsorted(neg, side="left"))

    def candidates(self, price, cap):
        """Accounts liquidatable at ``price`` in processing order, at most ``cap``.

        Returns ``(idx, take_main, take_pool)``: the accounts, and how many of
        them come from the head of ``main`` and of ``pool``.
        """
        neg, head = -price, self.head
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

    def apply(self, price, idx, take_main, take_pool, keep=None, partial=None):
        """Liquidate accounts ``idx`` (taken from the candidates) at ``price``.

        ``keep`` (optional, bool mask over ``idx``) marks candidates that were
        taken but not liquidated this round (another asset's accounts came
        first under the keeper capacity); they go back to the pool unchanged.
        ``partial = (n, repay)`` (a rate limit): only the first ``n`` of the
        others are liquidated by the rule, the next one repays only ``repay``
        USD (when ``repay > 0``), and the rest go back.
        Returns ``(seized, repaid, bad)`` for the liquidated accounts.
        """
        back = None
        if keep is not None:
            back, idx = idx[keep], idx[~keep]
        if partial is not None:
            n_take = partial[0] + (1 if partial[1] > 0 else 0)
            back = idx[n_take:] if back is None else np.concatenate([back, idx[n_take:]])
            idx = idx[:n_take]
        c = self.collateral[idx]
        d = self.debt[idx]
        p = self.params
        seized, repaid, bad, coll_left, debt_left = liquidate(c, d, price, self.lt, p.close_factor, self.bonus,
                                                              p.h_full)
        if partial is not None and partial[1] > 0:
            # the repayment that would pass the limit is cut to it: r = repay < r', so s < c and d - r > 0
            i, repay = partial
            bonus = self.bonus if np.ndim(self.bonus) == 0 else self.bonus[i]
            seized[i] = repay * (1.0 + bonus) / price
            repaid[i], bad[i] = repay, 0.0
            coll_left[i], debt_left[i] = c[i] - seized[i], d[i] - repay
        self.collateral[idx] = coll_left
        self.debt[idx] = debt_left

        self.head += take_main
        pool_i, pool_n = self.pool_idx[take_pool:], self.pool_negp[take_pool:]
        alive = debt_left > 0
        if not alive.all():
            idx_alive, debt_left, coll_left = idx[alive], debt_left[alive], coll_left[alive]
        else:
            idx_alive = idx
        if back is not None and back.size:
            idx_alive = np.concatenate([idx_alive, back])
            debt_left = np.concatenate([debt_left, self.debt[back]])
            coll_left = np.concatenate([coll_left, self.collateral[back]])
        if idx_alive.size:
            si, sn = _sort_run(idx_alive, -(debt_left / (coll_left * self.lt)))
            pool_i, pool_n, _ = _merge_runs(pool_i, pool_n, si, sn)
        self.pool_idx, self.pool_negp = pool_i, pool_n
        self.next_pstar = self._next_pstar()
        return seized, repaid, bad

    def liquidate(self, price):
        """Run one liquidation round at oracle price ``price`` (USD).

        Returns
        -------
        (account, seized, repaid, bad_debt) : four arrays in processing order
            or ``None`` when no account is liquidatable.
        """
        idx, take_main, take_pool = self.candidates(price, self.cap)
        if idx.size == 0:
            return None
        seized, repaid, bad = self.apply(price, idx, take_main, take_pool)
        return idx, seized, repaid, bad


class LendingEngine:
    r"""A lending platform as a margin engine (the protocol of :mod:`coupling_lab.engines`).

    One :class:`Ledger` per asset the platform accepts. With one asset a
    round is the ledger's round (accounts by liquidation price, ties by
    index: lowest health first at one price). With several, the candidates
    of every asset form one queue, lowest health
    :math:`h_i = c_i \pi_{a(i)} LT_{a(i)} / d_i` first, ties by account
    index, under one keeper capacity (MODEL.md §8).

    Platform-side protections (MODEL.md §9): the :class:`~coupling_lab.protections.Throttle`
    (keeper outages, circuit breaker) may set the step's capacity to 0; a
    :class:`~coupling_lab.protections.RateLimit` caps the debt repaid per
    rolling window, the repayment that would pass it cut to it and the
    accounts beyond waiting, lowest health first, like keeper capacity.
    Whenever a round can leave liquidatable accounts waiting, the engine
    counts them (``Fills.waiting``) and measures every liquidation's delay:
    steps since the account became liquidatable (``finish()["delay_steps"]``,
    in the order of the platform's events).

    ``step(t, prices, market)`` takes the price read per asset slot and the
    market price per asset, and returns ``None`` (nothing liquidatable) or a
    :class:`~coupling_lab.engines.Fills`.
    """

    kind = "lending"

    def __init__(self, platform, book, params, assets, world=None):
        self.platform = platform
        self.params = params
        self.assets = tuple(assets)
        self.collateral = book.collateral.copy()
        self.debt = book.debt.copy()
        asset_i = book.asset_of_accounts()
        self.ledgers = []
        for a in self.assets:
            accounts = np.arange(book.n_accounts) if len(self.assets) == 1 else np.flatnonzero(asset_i == a)
            self.ledgers.append(Ledger(self.collateral, self.debt, accounts, params, params.lt_of(a), params.bonus_of(a)))
        self.next_pstar = self.idle_above = [lg.next_pstar for lg in self.ledgers]
        self.throttle = Throttle(platform, params, world)
        self.limit = params.rate_limit
        self.tracking = self.throttle.active or self.limit is not None or params.keeper_capacity is not None
        self.single = len(self.assets) == 1 and not self.tracking
        if self.throttle.active:  # the breaker watches every step's price; an outage must be seen
            self._idle = [np.inf] * len(self.assets)
            self.idle_above = self._idle
        self.last_called = -2
        self.delays = []           # one array per round, in event order
        self.repaid_steps = []     # (t, USD repaid) for the rate limit's window
        # for the delays: each slot's read prices as a stack of suffix maxima (steps, prices
        # strictly decreasing), and each account's last liquidation step
        self.stacks = [([], []) for _ in self.assets]
        self.last_liq = np.full(book.n_accounts, -1, dtype=np.int64)

    def step(self, t, prices, market):
        if self.single:
            price = prices[0]
            if price >= self.next_pstar[0]:  # no open account has p* above the price
                return None
            ledger = self.ledgers[0]
            out = ledger.liquidate(price)
            if out is None:
                return None
            self.next_pstar[0] = ledger.next_pstar
            idx, seized, repaid, bad = out
            a = self.assets[0]
            usd = float(seized.sum()) * market[a]
            return Fills(idx.size, usd, float(repaid.sum()), float(bad.sum()), ((a, usd),),
                         (idx, a, seized, repaid, bad, price))
        return self._round(t, prices, market)

    def finish(self):
        if not self.tracking:
            return {}
        d = np.concatenate(self.delays) if self.delays else np.empty(0, dtype=np.int64)
        return {"delay_steps": d, "paused_steps": self.throttle.paused_steps}

    def _budget(self, t):
        """USD still repayable at step ``t`` under the rate limit (None: no limit)."""
        lim = self.limit
        if lim is None:
            return None
        start = t - lim.window + 1
        while self.repaid_steps and self.repaid_steps[0][0] < start:
            self.repaid_steps.pop(0)
        return lim.limit_usd - sum(r for _, r in self.repaid_steps)

    def _round(self, t, prices, market):
        """The general round: several assets, capacity, throttle, rate limit, waiting and delays."""
        cap = self.throttle.capacity(t, prices) if self.throttle.active else self.params.keeper_capacity
        tracking = self.tracking
        if tracking and t > self.last_called + 1:
            # the engine was idle in between: at t - 1 nothing was liquidatable
            self.stacks = [([t - 1], [np.inf]) for _ in self.assets]
        self.last_called = t
        n_all = sum(lg.count(p) for lg, p in zip(self.ledgers, prices) if p < lg.next_pstar) if tracking else 0
        budget = self._budget(t)
        if n_all == 0 and tracking or cap == 0 or (budget is not None and budget <= 0):
            fills = None if n_all == 0 else Fills(0, 0.0, 0.0, 0.0, (), None, n_all)
            if not tracking:
                fills = None
            self._push(t, prices)
            return fills
        take = cap
        while True:  # under a rate limit only a prefix of the queue can be reached: take it in growing chunks
            if budget is not None:
                take = 256 if take is None else take
            parts = []
            for slot, (ledger, price) in enumerate(zip(self.ledgers, prices)):
                if price < ledger.next_pstar:
                    idx, tm, tp = ledger.candidates(price, take)
                    if idx.size:
                        parts.append((slot, idx, tm, tp))
            if not parts:
                self._push(t, prices)
                return None
            idx_all, slot_all, order = self._queue(parts, prices)
            chosen = np.zeros(idx_all.size, dtype=bool)
            chosen[order[:cap] if cap is not None else order] = True
            partial_at = None  # (position in idx_all, USD) of the repayment cut to the limit
            if budget is None:
                break
            want = np.empty(idx_all.size)
            p = self.params
            for slot, idx, _, _ in parts:  # what each would repay under the rule alone (a dry run)
                lg, pos = self.ledgers[slot], np.flatnonzero(slot_all == slot)
                want[pos] = liquidate(self.collateral[idx_all[pos]], self.debt[idx_all[pos]], prices[slot], lg.lt,
                                      p.close_factor, lg.bonus, p.h_full)[1]
            o = order[chosen[order]]
            cum = np.cumsum(want[o])
            if cum[-1] > budget:
                n_full = int(np.searchsorted(cum, budget, side="right"))
                rest = budget - (float(cum[n_full - 1]) if n_full else 0.0)
                chosen[o[n_full:]] = False
                if rest > 0:
                    chosen[o[n_full]] = True
                    partial_at = (int(o[n_full]), rest)
                break
            more = [s for s, idx, _, _ in parts if idx.size == take]
            if not more or (cap is not None and take >= cap):
                break
            for slot, idx, tm, tp in parts:  # not reached the limit yet: put back, take a larger chunk
                self._put_back(self.ledgers[slot], prices[slot], idx, tm, tp)
            take = take * 4 if cap is None else min(take * 4, cap)
        if tracking:  # p* before liquidation, for the delays
            pstar_all = self.debt[idx_all] / (self.collateral[idx_all] * np.array([lg.lt for lg in self.ledgers])[slot_all])
        out_seized, out_repaid, out_bad = np.empty(idx_all.size), np.empty(idx_all.size), np.empty(idx_all.size)
        start, flows = 0, []
        for slot, idx, tm, tp in parts:
            sl = slice(start, start + idx.size)
            start += idx.size
            keep = ~chosen[sl]
            ledger = self.ledgers[slot]
            if keep.all():
                self._put_back(ledger, prices[slot], idx, tm, tp)
                continue
            partial = None
            if partial_at is not None and sl.start <= partial_at[0] < sl.stop:
                live = np.flatnonzero(chosen[sl])
                partial = (int(np.searchsorted(live, partial_at[0] - sl.start)), partial_at[1])
            seized, repaid, bad = ledger.apply(prices[slot], idx, tm, tp, keep if keep.any() else None, partial)
            pos = np.flatnonzero(chosen[sl]) + sl.start
            out_seized[pos], out_repaid[pos], out_bad[pos] = seized, repaid, bad
            self.next_pstar[slot] = ledger.next_pstar
            a = self.assets[slot]
            flows.append((a, float(seized.sum()) * market[a]))
        o = order[chosen[order]]
        if tracking:
            self._delays(t, idx_all[o], slot_all[o], pstar_all[o])
            self._push(t, prices)
        if o.size == 0:
            return Fills(0, 0.0, 0.0, 0.0, (), None, n_all) if tracking else None
        seized, repaid, bad = out_seized[o], out_repaid[o], out_bad[o]
        if budget is not None:
            self.repaid_steps.append((t, float(repaid.sum())))
        usd = sum(q for _, q in flows)
        if len(self.assets) == 1:
            events = (idx_all[o], self.assets[0], seized, repaid, bad, prices[0])
        else:
            events = (idx_all[o], np.array(self.assets)[slot_all[o]], seized, repaid, bad,
                      np.array(prices, dtype=float)[slot_all[o]])
        return Fills(o.size, usd, float(repaid.sum()), float(bad.sum()), tuple(flows), events,
                     n_all - o.size if tracking else 0)

    def _queue(self, parts, prices):
        """The candidates of every slot as one queue: ``(idx, slot, order)``, lowest health first, ties by index."""
        if len(parts) == 1 and len(self.assets) == 1:
            idx_all = parts[0][1]
            return idx_all, np.zeros(idx_all.size, dtype=np.int64), np.arange(idx_all.size)
        idx_all = np.concatenate([p[1] for p in parts])
        slot_all = np.concatenate([np.full(p[1].size, p[0]) for p in parts])
        price_s = np.array(prices, dtype=float)
        lt_s = np.array([lg.lt for lg in self.ledgers])
        health = self.collateral[idx_all] * price_s[slot_all] * lt_s[slot_all] / self.debt[idx_all]
        return idx_all, slot_all, np.lexsort((idx_all, health))

    def _put_back(self, ledger, price, idx, tm, tp):
        """Candidates taken from a ledger but none liquidated: back to its pool unchanged."""
        ledger.apply(price, idx, tm, tp, np.ones(idx.size, dtype=bool))

    def _push(self, t, prices):
        """Record this step's read prices on each slot's stack of suffix maxima."""
        for (steps, values), p in zip(self.stacks, prices):
            while values and values[-1] <= p:
                steps.pop()
                values.pop()
            steps.append(t)
            values.append(p)

    def _delays(self, t, idx, slot, pstar):
        """Steps each liquidated account waited: since the last step it was not liquidatable.

        An account's ``p*`` only changes when it is liquidated, so its wait began
        after the last step ``u < t`` whose read price was at or above its
        ``p*`` (found on the stack of suffix maxima), or after its own last
        liquidation, whichever is later.
        """
        start = np.zeros(idx.size, dtype=np.int64)
        for s, (steps, values) in enumerate(self.stacks):
            sel = slot == s
            if not sel.any() or not steps:
                continue
            k = np.searchsorted(-np.asarray(values), -pstar[sel], side="right")  # how many prices >= p*
            u = np.where(k > 0, np.asarray(steps)[np.maximum(k - 1, 0)], -1)
            start[sel] = u + 1
        start = np.maximum(start, self.last_liq[idx] + 1)
        self.delays.append(t - start)
        self.last_liq[idx] = t


from .engines import Fills  # noqa: E402  (engines imports nothing from here)
