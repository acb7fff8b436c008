r"""Margin-call forecasting: liquidation maps and the cascade fixed point.

A *liquidation map* says how much collateral (USD) the margin engines would
sell if the price they read were :math:`p`. For account :math:`i` of
platform :math:`k` (MODEL.md §4), liquidatable when :math:`p < p^*_i`, the
first liquidation round sells

.. math::

    g_i(p) = \min\big(c_i\,p,\ r_i(p)\,(1 + b_k)\big), \qquad
    r_i(p) = \begin{cases} d_i & h_i(p) < h_{full,k} \\ f_k\,d_i & \text{otherwise,}\end{cases}
    \qquad h_i(p) = \frac{c_i\,p\,LT_k}{d_i},

and the platform's map is :math:`L_k(p) = \sum_{i:\,p < p^*_i} g_i(p)` (at
most ``keeper_capacity`` accounts, lowest health first).

The *forecast* adds the price-impact feedback (MODEL.md §1). A fundamental
drop :math:`\delta` takes the price to :math:`p_f = p_0(1-\delta)`; the
sales of round :math:`n` deepen the impact and the next round sees a lower
price:

.. math::

    Q_n = \sum_k L_k^{(n)}(m_n), \qquad
    \kappa_{n+1} = (1-\rho)\,\kappa_n + Q_n / D, \qquad
    m_{n+1} = p_f\, e^{-\kappa_{n+1}}, \qquad m_0 = p_f,
    \tag{F}

until a round sells nothing (the fixed point :math:`m^*` of (F)). The
superscript :math:`(n)` says the books are updated after every round: an
account partly liquidated in one round is liquidated again if the price
later falls below its new liquidation price.

Assumptions (what the forecast leaves out, and so where a simulation differs):

- **Instantaneous**: the whole drop happens at once and each round is one
  step; a gradual fall liquidates accounts one by one near their own
  :math:`p^*` instead, at health just below 1, so they are partly
  (``close_factor``) rather than fully (``h_full``) closed.
- **One price**: every platform reads the market price itself: no oracle
  noise, deviation threshold, heartbeat or latency.
- **Coupling**: ``shared=True`` (every platform reads the same price, as at
  full oracle sharing) runs one cascade in which all platforms' sales move
  the price together. ``shared=False`` runs each platform's cascade alone
  against the market, as if independent oracles spread the platforms'
  liquidations so far apart in time that the market had healed from the
  others' sales: a lower limit on the coupled damage.
- **Resilience** :math:`\rho` is ignored by default (``resilience=0``: impact
  is permanent over the few rounds of a cascade); pass the market's
  resilience to apply it per round.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np

from ._validation import Interval, check_array, check_scalar
from .accounts import Book
from .margin import PlatformParams, liquidate
from .market import MarketParams, next_kappa

__all__ = ["LiquidationMap", "Forecast", "liquidation_map", "forecast", "first_round_sales"]

_PRICE = Interval(Real, 0, None, closed="neither")
_DROP = Interval(Real, 0, 1, closed="left")
_DEPTH = Interval(Real, 0, None, closed="neither")
_RESILIENCE = Interval(Real, 0, 1)
_ROUNDS = Interval(Integral, 1, None)


def _books_and_platforms(books, platforms):
    """Normalise to equal-length tuples (a single Book or PlatformParams is broadcast)."""
    if isinstance(books, Book):
        books = (books,)
    books = tuple(books)
    if isinstance(platforms, PlatformParams):
        platforms = (platforms,) * len(books)
    platforms = tuple(platforms)
    if len(books) == 0:
        raise ValueError("books must hold at least 1 Book; got 0")
    for k, b in enumerate(books):
        if not isinstance(b, Book):
            raise TypeError(f"books[{k}] must be a Book; got {type(b).__name__}")
    if len(platforms) != len(books):
        raise ValueError(f"platforms must have length n_platforms={len(books)}; got {len(platforms)}")
    for k, p in enumerate(platforms):
        if not isinstance(p, PlatformParams):
            raise TypeError(f"platforms[{k}] must be a PlatformParams; got {type(p).__name__}")
    return books, platforms


def first_round_sales(collateral, debt, price, params):
    r"""One liquidation round at price ``price``: :math:`g_i(p)` and the new balances.

    Parameters
    ----------
    collateral : ndarray, shape (n_accounts,), units of the asset
    debt : ndarray, shape (n_accounts,), USD
    price : float, USD per unit, > 0 (the price read and the price sold at)
    params : PlatformParams

    Returns
    -------
    (sold_usd, seized, repaid, liquidated) : the USD sold per account
        (:math:`s_i p`), units seized, USD repaid, and the boolean mask of
        accounts liquidated (lowest health first, at most ``keeper_capacity``).

    Examples
    --------
    One account: 1 unit, 1500 USD debt, LT 0.8 (:math:`p^* = 1875`). At
    1800 USD its health is 0.96 >= 0.95, so half the debt is repaid and
    :math:`0.5 \cdot 1500 \cdot 1.05 = 787.5` USD of collateral is sold.

    >>> sold, *_ = first_round_sales(np.array([1.0]), np.array([1500.0]), 1800.0, PlatformParams())
    >>> float(sold[0])
    787.5
    """
    liq, seized, repaid, _, _, _ = _round(collateral, debt, price, params)
    return seized * price, seized, repaid, liq


def _round(c, d, price, params):
    """One round on whole books: ``(liquidated, seized, repaid, bad, collateral_after, debt_after)``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        pstar = np.where(d > 0, d / (c * params.lt), 0.0)
    liq = (d > 0) & (price < pstar)
    cap = params.keeper_capacity
    if cap is not None and np.count_nonzero(liq) > cap:
        idx = np.flatnonzero(liq)
        # lowest health = highest p*, ties by account index (as the engine)
        keep = idx[np.lexsort((idx, -pstar[idx]))[:cap]]
        liq = np.zeros_like(liq)
        liq[keep] = True
    seized, repaid, bad = np.zeros(c.size), np.zeros(c.size), np.zeros(c.size)
    c_after, d_after = c.copy(), d.copy()
    if liq.any():  # the engine's own rule (margin.liquidate) on the liquidated accounts
        out = liquidate(c[liq], d[liq], price, params.lt, params.close_factor, params.bonus, params.h_full)
        seized[liq], repaid[liq], bad[liq], c_after[liq], d_after[liq] = out
    return liq, seized, repaid, bad, c_after, d_after


@dataclass(frozen=True, eq=False)
class LiquidationMap:
    """Collateral sold in a first liquidation round, by price level.

    Attributes
    ----------
    price_p : ndarray, shape (n_prices,), USD per unit
    notional_pk : ndarray, shape (n_prices, n_platforms), USD sold if every platform read ``price_p[p]``
    count_pk : ndarray, shape (n_prices, n_platforms), int, accounts liquidated
    """

    price_p: np.ndarray
    notional_pk: np.ndarray
    count_pk: np.ndarray

    @property
    def total_p(self):
        """(n_prices,) USD, all platforms together."""
        return self.notional_pk.sum(axis=1)


def liquidation_map(books, platforms, prices):
    r"""Liquidation map :math:`L_k(p) = \sum_{i:\,p<p^*_i} g_i(p)` per platform (no feedback).

    Parameters
    ----------
    books : Book or sequence of Book, length n_platforms
    platforms : PlatformParams or sequence of PlatformParams, length n_platforms
    prices : array, shape (n_prices,), USD per unit, each in (0, inf)

    Returns
    -------
    LiquidationMap

    Examples
    --------
    >>> book = Book([1.0, 1.0], [1500.0, 1000.0])          # p* = 1875 and 1250 USD
    >>> m = liquidation_map(book, PlatformParams(), [1900.0, 1800.0, 1200.0])
    >>> m.notional_pk[:, 0].tolist()
    [0.0, 787.5, 1725.0]
    """
    books, platforms = _books_and_platforms(books, platforms)
    price_p = check_array("prices", prices, shape=(None,), interval=_PRICE)
    P, K = price_p.size, len(books)
    notional = np.zeros((P, K))
    count = np.zeros((P, K), dtype=np.int64)
    for k, (b, prm) in enumerate(zip(books, platforms)):
        for p, price in enumerate(price_p):
            sold, _, _, liq = first_round_sales(b.collateral, b.debt, float(price), prm)
            notional[p, k] = sold.sum()
            count[p, k] = np.count_nonzero(liq)
    return LiquidationMap(price_p=price_p, notional_pk=notional, count_pk=count)


@dataclass(frozen=True, eq=False)
class Forecast:
    r"""What a fundamental drop liquidates once forced selling feeds back (equation F).

    Attributes
    ----------
    price0 : float, USD, price before the drop
    drop : float, fundamental drop as a fraction of ``price0``
    shared : bool, one cascade for all platforms (True) or one each (False)
    price_n : ndarray, shape (n_rounds + 1,), USD, market price at each round
        (for ``shared=False``: the deepest platform's path)
    sold_nk : ndarray, shape (n_rounds, n_platforms), USD sold per round
    first_round_usd : float, USD sold at :math:`p_f` before any feedback
    kappa : float, log units, the largest impact :math:`\max_n \kappa_n` (the excess drawdown)
    final_price_k : ndarray, shape (n_platforms,), USD, the lowest price each platform's cascade reaches
    converged : bool, a round sold nothing before ``max_rounds``
    """

    price0: float
    drop: float
    shared: bool
    price_n: np.ndarray
    sold_nk: np.ndarray
    first_round_usd: float
    kappa: float
    final_price_k: np.ndarray
    converged: bool
    bad_debt_k: np.ndarray = field(repr=False)

    @property
    def liquidated_k(self):
        """(n_platforms,) USD sold per platform over all rounds."""
        return self.sold_nk.sum(axis=0)

    @property
    def liquidated_usd(self):
        """USD sold over all rounds and platforms."""
        return float(self.sold_nk.sum())

    @property
    def amplification(self):
        """``liquidated_usd / first_round_usd`` (1 = the feedback added nothing; NaN if nothing sold)."""
        return self.liquidated_usd / self.first_round_usd if self.first_round_usd > 0 else float("nan")

    @property
    def n_rounds(self):
        return self.sold_nk.shape[0]

    @property
    def final_price(self):
        """USD, the lowest price any cascade reached."""
        return float(self.final_price_k.min())


def _cascade(books, platforms, price_f, depth, resilience, repeat, max_rounds):
    """Iterate (F) for the given platforms together. Returns (price_n, sold_nk, kappa, bad_k, converged)."""
    K = len(books)
    market = MarketParams(depth=depth, resilience=resilience)
    coll = [b.collateral.copy() for b in books]
    debt = [b.debt.copy() for b in books]
    done = [np.zeros(b.n_accounts, bool) for b in books]
    bad = np.zeros(K)
    prices, sold_rows = [price_f], []
    kappa, peak, m = 0.0, 0.0, price_f
    for _ in range(max_rounds):
        row = np.zeros(K)
        for k, prm in enumerate(platforms):
            d = debt[k] if repeat else np.where(done[k], 0.0, debt[k])
            liq, seized, _, bad_i, coll[k], d_after = _round(coll[k], d, m, prm)
            if not liq.any():
                continue
            bad[k] += bad_i.sum()
            debt[k] = np.where(liq, d_after, debt[k])
            done[k] |= liq
            row[k] = (seized * m).sum()
        if row.sum() == 0.0:
            return np.array(prices), np.array(sold_rows).reshape(-1, K), peak, bad, True
        sold_rows.append(row)
        kappa = next_kappa(kappa, row.sum(), market)  # the market's own impact rule
        peak = max(peak, kappa)
        m = price_f * np.exp(-kappa)
        prices.append(m)
    return np.array(prices), np.array(sold_rows).reshape(-1, K), peak, bad, False


def forecast(books, platforms, price0, drop, depth, resilience=0.0, shared=True, repeat=True, max_rounds=10_000):
    r"""Forecast the liquidations of a fundamental drop, with price-impact feedback (equation F).

    .. math::

        m_0 = p_0(1-\delta), \quad Q_n = \sum_k L_k^{(n)}(m_n), \quad
        \kappa_{n+1} = (1-\rho)\kappa_n + Q_n/D, \quad m_{n+1} = p_0(1-\delta)e^{-\kappa_{n+1}}

    iterated until a round sells nothing. With ``resilience=0`` the price
    only falls, so the iteration is monotone and stops after at most one
    round per liquidation.

    Parameters
    ----------
    books : Book or sequence of Book, length n_platforms
    platforms : PlatformParams or sequence of PlatformParams, length n_platforms
    price0 : float in (0, inf), USD per unit, price before the drop
    drop : float in [0, 1), fundamental drop :math:`\delta` (0.1 = 10 %)
    depth : float in (0, inf), USD, market depth :math:`D`
    resilience : float in [0, 1], per round, :math:`\rho` (0: ignored)
    shared : bool
        True: every platform reads the same price and their sales fall on
        the market together (full oracle sharing). False: each platform's
        cascade runs alone (independent oracles, far apart in time).
    repeat : bool
        True: accounts are liquidated again in later rounds when the price
        falls below their new liquidation price. False: each account at
        most once (first round only).
    max_rounds : int in [1, inf)

    Returns
    -------
    Forecast

    Examples
    --------
    Two platforms each holding one account (1 unit, 1500 USD debt, LT 0.8,
    :math:`p^*=1875`); a 10 % drop from 2000 USD to 1800 USD with depth
    78 750 USD. Round 0 sells :math:`2 \times 787.5` USD, so
    :math:`\kappa = 1575/78750 = 0.02` and the price falls to
    :math:`1800\,e^{-0.02} \approx 1764.4`, where the accounts (now 0.5625
    units, 750 USD, :math:`p^* \approx 1666.7`) are safe: the cascade stops.

    >>> b = Book([1.0], [1500.0])
    >>> fc = forecast([b, b], PlatformParams(), 2000.0, 0.1, depth=78750.0)
    >>> fc.liquidated_usd, fc.n_rounds, round(fc.final_price, 1)
    (1575.0, 1, 1764.4)
    """
    books, platforms = _books_and_platforms(books, platforms)
    price0 = check_scalar("price0", price0, _PRICE)
    drop = check_scalar("drop", drop, _DROP)
    depth = check_scalar("depth", depth, _DEPTH)
    resilience = check_scalar("resilience", resilience, _RESILIENCE)
    max_rounds = check_scalar("max_rounds", max_rounds, _ROUNDS)
    for name, flag in (("shared", shared), ("repeat", repeat)):
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False; got {flag!r}")
    price_f = price0 * (1.0 - drop)
    K = len(books)
    first = sum(float(first_round_sales(b.collateral, b.debt, price_f, p)[0].sum()) for b, p in zip(books, platforms))
    if shared:
        price_n, sold_nk, kappa, bad, ok = _cascade(books, platforms, price_f, depth, resilience, repeat, max_rounds)
        final_k = np.full(K, price_n.min())
    else:
        parts = [_cascade((b,), (p,), price_f, depth, resilience, repeat, max_rounds) for b, p in zip(books, platforms)]
        n = max(part[1].shape[0] for part in parts)
        sold_nk = np.zeros((n, K))
        for k, part in enumerate(parts):
            sold_nk[:part[1].shape[0], k] = part[1][:, 0]
        final_k = np.array([part[0].min() for part in parts])
        deepest = int(np.argmin(final_k))
        price_n, kappa = parts[deepest][0], parts[deepest][2]
        bad = np.array([part[3][0] for part in parts])
        ok = all(part[4] for part in parts)
    return Forecast(price0=price0, drop=drop, shared=bool(shared), price_n=price_n, sold_nk=sold_nk,
                    first_round_usd=first, kappa=float(kappa), final_price_k=final_k, converged=ok,
                    bad_debt_k=bad)
