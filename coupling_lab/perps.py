r"""A derivatives venue: perpetual futures with cross and isolated margin (MODEL.md §10).

A platform of kind ``"perp"`` lists perpetuals on one or more assets; its
mark price :math:`P^a_t` for asset :math:`a` is the oracle price it reads
(after its read-side guards). Funding is left out. Every step:

1. **variation margin** :math:`v_{i,a} = q_{i,a}(P^a_t - P^a_{t-1})`
   (:math:`P_{-1} = P_0`) is credited to the balance backing the position;
   a **backstop** account (market makers, a vault such as Hyperliquid's HLP)
   holds the opposite of the traders' net position per asset, so the VM sums
   to zero;
2. **maintenance**: a cross account is liquidatable when
   :math:`M_i < \sum_a mmr_a |q_{i,a}| P^a_t`, an isolated position when
   :math:`M_{i,a} < mmr_a |q_{i,a}| P^a_t`; units (a cross account, or one
   isolated position) are processed lowest margin ratio
   :math:`M / \text{requirement}` first, ties by account then asset, at most
   the keeper capacity per step;
3. **liquidation** closes the unit at the market price :math:`f^a_t = m^a_t`;
   the backstop takes the positions over and hedges in spot (closing a long
   sells :math:`q\,m^a_t`, a positive flow; closing a short buys, a negative
   one). Equity after closing :math:`E' = M + \sum_a q_a (f^a_t - P^a_t)`; a fee
   :math:`\phi \sum_a |q_a| f^a_t`, at most :math:`\max(E', 0)`, goes to the
   insurance fund :math:`F`; what is left stays with the (now flat) trader;
4. **bankruptcy**: a loss :math:`L = -E' > 0` is paid by :math:`F` at once, in
   processing order; what :math:`F` cannot pay adds to the step's shortfall
   :math:`S_t`, covered after the round by the **loss rule** (``"haircut"``:
   positive VM of the step credited at :math:`1 - h_t`,
   :math:`h_t = \min(1, S_t / G_t)`; ``"adl"``: ranked winners on the
   opposite side give up unrealised PnL and their positions shrink in
   proportion). What neither covers is the venue's **bad debt**.

Choices where MODEL.md §10 is silent are listed in :class:`PerpEngine` and in
the README ("Modelling choices").

How it is fast (the step loop calls a perp venue every step): balances are
kept in the linear form :math:`M_u = B_u + Q_u \cdot P_t` (variation margin
is then implicit and exact), a unit on one asset is liquidatable exactly
when the mark crosses its liquidation price (longs below, shorts above:
sorted once, a step is two binary searches per asset), and units on several
assets (or changed by ADL) are screened by the relative price move they can
stand; only the candidates are tested exactly. A haircut changes every
winner's balance and rebuilds the sorted keys (a step of O(n log n)).

Products over the listed assets (:math:`Q_u \cdot P`, requirements, notionals)
are summed in a fixed order by ``_dot``, not by BLAS, and column sums are pairwise
per column (``_colsum``): :mod:`coupling_lab.compiled_perps` reproduces the venue
bit for bit with the same operations.
"""
from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

from ._validation import Interval, Validated, check_array, check_scalar

__all__ = ["PerpParams", "PerpBook", "PerpPopulation", "draw_perp_book", "PerpEngine", "hyperliquid_mmr",
           "perp_outputs", "perp_frame", "perp_events_frame", "LOSS_RULES", "MARGIN_MODES"]

LOSS_RULES = ("haircut", "adl")
MARGIN_MODES = ("cross", "isolated")
REGROUP_DIV = 16
_SERIES = ("fund", "shortfall", "haircut", "covered", "bad_debt", "adl_count", "adl_notional", "backstop_pnl",
           "hedge_mtm", "count_cross", "count_isolated", "loss_cross", "loss_isolated", "bad_cross",
           "bad_isolated", "waiting")
_INT_SERIES = ("adl_count", "count_cross", "count_isolated", "waiting")
_EPS = 1e-9  # relative slack of the pre-filters; every candidate is then tested exactly


def _tie_groups(values):
    """Group ids of ``values`` (ascending): sorted values closer than 1e-9 (relative) form one group.

    Margin ratios and ADL scores that are equal in exact arithmetic (accounts
    entered at the same leverage on the same side keep the same ratio at
    every price) differ in the last bits of their float evaluation; ordering
    by group, then account, then asset breaks such ties as MODEL.md §10 says.
    """
    v = np.asarray(values, dtype=float)
    o = np.argsort(v, kind="stable")
    s = v[o]
    with np.errstate(invalid="ignore"):
        gap = np.diff(s) > 1e-9 * (np.abs(s[1:]) + np.abs(s[:-1]))
    g = np.empty(v.size, dtype=np.int64)
    g[o] = np.concatenate([[0], np.cumsum(gap)]) if v.size else np.empty(0, np.int64)
    return g



def _dot(Q, x):
    """``Q @ x`` summed over the assets in order, ``Q[..., 0] x_0 + Q[..., 1] x_1 + ...``.

    One rounding per product and per addition, in a fixed order: BLAS's
    matrix-vector product may use fused multiply-adds and its own order, so
    :mod:`coupling_lab.compiled_perps` could not reproduce it bit for bit.
    """
    r = Q[..., 0] * x[0]
    for s in range(1, x.shape[0]):
        r = r + Q[..., s] * x[s]
    return r


def _colsum(Q):
    """``Q.sum(axis=0)`` as one pairwise sum per column (NumPy's order along the rows of a 2-D array is not)."""
    return np.array([Q[:, s].sum() for s in range(Q.shape[1])])


def hyperliquid_mmr(max_leverage):
    """Hyperliquid's maintenance margin ratio: half the initial margin at max leverage, ``1 / (2 max_leverage)``.

    Examples
    --------
    >>> hyperliquid_mmr(40)
    0.0125
    """
    lev = check_scalar("max_leverage", max_leverage, Interval(Real, 0, None, closed="neither"))
    return 1.0 / (2.0 * lev)


@dataclass(frozen=True)
class PerpParams(Validated):
    """One perpetual-futures venue's rules (MODEL.md §10).

    Parameters
    ----------
    mmr : float in (0, 1)
        Maintenance margin ratio of every listed asset (dYdX v4 large-cap
        markets, BTC and ETH: maintenance 3 % of notional, initial 5 %;
        FACTS-mechanisms.md §3.1). Hyperliquid: half the initial margin at
        max leverage, 1.25 % at 40x (:func:`hyperliquid_mmr`, §3.2).
    mmr_by_asset : tuple of float in (0, 1), one per asset index, or None
        Per-asset ratios (dYdX mid-cap 5 %, long-tail 10 %); ``None`` uses ``mmr``.
    phi : float in [0, 1)
        Liquidation fee on the notional closed, paid into the insurance fund
        (dYdX v4: maximum liquidation penalty 1.5 %, §3.1).
    insurance_fund : float in [0, inf), USD
        The fund at step 0 (a teaching value, 1 M USD: scale it with the
        book; no production figure is sourced).
    loss_rule : "adl" or "haircut"
        How a shortfall the fund cannot pay is covered: auto-deleveraging
        (BitMEX, Binance, Bybit, Hyperliquid rank opposite-side winners;
        §3.3, §3.2) or variation-margin gains haircutting (clearing-house
        style; OKX's 2018 clawback of about 18 % of winners' gains, §3.4).
    keeper_capacity : int in [1, inf) or None
        Most units (a cross account, or one isolated position) liquidated per
        step; ``None`` is unlimited.
    breaker : CircuitBreaker or None
        Pause liquidations after a fast fall of a mark (MODEL.md §9; off).
    """

    mmr: float = 0.03
    mmr_by_asset: tuple | None = None
    phi: float = 0.015
    insurance_fund: float = 1e6
    loss_rule: str = "adl"
    keeper_capacity: int | None = None
    breaker: object = None

    kind = "perp"
    _constraints = {
        "mmr": Interval(Real, 0, 1, closed="neither"),
        "phi": Interval(Real, 0, 1, closed="left"),
        "insurance_fund": Interval(Real, 0, None, closed="left"),
        "keeper_capacity": Interval(Integral, 1, None),
    }
    _optional = ("keeper_capacity",)

    def __post_init__(self):
        super().__post_init__()
        from .protections.throttle import CircuitBreaker

        if self.loss_rule not in LOSS_RULES:
            raise ValueError(f"loss_rule must be one of {', '.join(LOSS_RULES)}; got {self.loss_rule!r}")
        if self.breaker is not None and not isinstance(self.breaker, CircuitBreaker):
            raise TypeError(f"breaker must be a CircuitBreaker or None; got {type(self.breaker).__name__}")
        v = self.mmr_by_asset
        if v is not None:
            if isinstance(v, (str, bytes)) or not hasattr(v, "__len__") or len(v) == 0:
                raise ValueError(f"mmr_by_asset must be None or a non-empty sequence of numbers in "
                                 f"{self._constraints['mmr']}, one per asset; got {v!r}")
            object.__setattr__(self, "mmr_by_asset", tuple(check_scalar(f"mmr_by_asset[{a}]", x,
                                                                        self._constraints["mmr"])
                                                           for a, x in enumerate(v)))

    def mmr_of(self, asset):
        """``mmr_a`` for asset index ``asset``."""
        return self.mmr if self.mmr_by_asset is None else self.mmr_by_asset[asset]

    def check_assets(self, n_assets, where="platform"):
        if self.mmr_by_asset is not None and len(self.mmr_by_asset) != n_assets:
            raise ValueError(f"{where}.mmr_by_asset must hold one value per asset (n_assets={n_assets}); "
                             f"got {len(self.mmr_by_asset)}")

    def check_book(self, book, where="book"):
        """Raise unless ``book`` is a :class:`PerpBook` (asked by :class:`~coupling_lab.World`)."""
        if not isinstance(book, PerpBook):
            raise TypeError(f"{where} must be a PerpBook (the platform is a perp venue); got {type(book).__name__}")

    def make_engine(self, platform, book, assets, world=None):
        """The margin engine of platform ``platform`` (see :mod:`coupling_lab.engines`)."""
        self.check_book(book)
        return PerpEngine(platform, book, self, assets, world)


@dataclass(frozen=True, eq=False)
class PerpBook:
    """One perp venue's traders: signed positions per asset, USD margin, a margin mode each.

    Parameters
    ----------
    position : array, shape (n_accounts, n_cols) (or (n_accounts,) for asset 0 only),
        units, long > 0; column ``a`` is asset ``a`` of the world
    margin : array, shape (n_accounts,) or (n_accounts, n_cols), USD, each >= 0.
        A cross account's balance is its row sum; an isolated account's
        column ``a`` backs its position on ``a`` (a 1-D margin is allowed for
        isolated accounts holding at most one position)
    mode : "cross", "isolated", or a sequence of those, one per account

    The initial positions are entered at the first mark, ``P_0``.
    """

    position: np.ndarray
    margin: np.ndarray
    mode: object = "cross"

    def __post_init__(self):
        q = check_array("position", self.position)
        if q.ndim == 1:
            q = q[:, None]
        if q.ndim != 2 or q.shape[0] == 0 or q.shape[1] == 0:
            raise ValueError(f"position must have shape (n_accounts >= 1, n_assets >= 1); got {np.shape(self.position)}")
        n, A = q.shape
        mode = self.mode
        if isinstance(mode, str):
            mode = [mode] * n
        mode = list(mode)
        if len(mode) != n:
            raise ValueError(f"mode must be 'cross', 'isolated' or one of them per account ({n}); got {len(mode)}")
        iso = np.zeros(n, dtype=bool)
        for i, m in enumerate(mode):
            if m not in MARGIN_MODES:
                raise ValueError(f"mode must be 'cross' or 'isolated'; got {m!r} at index {i}")
            iso[i] = m == "isolated"
        m = check_array("margin", self.margin, interval=Interval(Real, 0, None, "left"))
        if m.shape == (n,):
            m2 = np.zeros((n, A))
            n_pos = (q != 0).sum(axis=1)
            several = iso & (n_pos > 1)
            if several.any():
                i = int(np.argmax(several))
                raise ValueError(f"margin must have shape (n_accounts, n_assets) when an isolated account holds "
                                 f"several positions; got shape {m.shape} and account {i} holds {int(n_pos[i])}")
            col = np.where(iso & (n_pos == 1), np.argmax(q != 0, axis=1), 0)
            m2[np.arange(n), col] = m
            m = m2
        elif m.shape != (n, A):
            raise ValueError(f"margin must have shape ({n},) or ({n}, {A}); got {m.shape}")
        for name, v in (("position", q), ("margin", m)):
            v.flags.writeable = False
            object.__setattr__(self, name, v)
        iso.flags.writeable = False
        object.__setattr__(self, "mode", tuple(mode))
        self.__dict__["isolated"] = iso

    @property
    def n_accounts(self):
        return self.position.shape[0]

    @property
    def assets(self):
        """Sorted tuple of the assets with an open position."""
        return tuple(int(a) for a in np.flatnonzero((self.position != 0).any(axis=0)))

    def cash(self):
        """USD: the traders' total margin."""
        return float(self.margin.sum())

    def __repr__(self):
        return (f"PerpBook(n_accounts={self.n_accounts}, assets={self.assets}, "
                f"isolated={int(self.isolated.sum())}, margin={self.cash():.4g} USD)")


@dataclass(frozen=True)
class PerpPopulation(Validated):
    """How a perp venue's traders are drawn (:func:`draw_perp_book`).

    Parameters
    ----------
    n_accounts : int in [1, inf)
    long_share : float in [0, 1], share of directional accounts that are long
    notional_median : float in (0, inf), USD per account (log-normal)
    notional_sigma : float in [0, inf)
    leverage_median : float in (0, inf), notional / margin at entry (log-normal)
    leverage_sigma : float in [0, inf)
    max_leverage : float in [1, inf), the draw is clipped to [1, max_leverage]
        (dYdX large-cap initial margin 5 %: 20x; FACTS-mechanisms.md §3.1)
    cross_share : float in [0, 1], share of accounts in cross margin (cross is
        Hyperliquid's default mode, §3.2; a teaching split)
    pair_share : float in [0, 1], share of accounts holding a hedged pair
        (long one asset, short another, equal notional; needs two assets)
    basket_share : float in [0, 1], share holding every listed asset on one side
        (``pair_share + basket_share <= 1``; the rest hold one asset)
    """

    n_accounts: int = 2000
    long_share: float = 0.5
    notional_median: float = 20_000.0
    notional_sigma: float = 1.0
    leverage_median: float = 5.0
    leverage_sigma: float = 0.6
    max_leverage: float = 20.0
    cross_share: float = 0.5
    pair_share: float = 0.0
    basket_share: float = 0.0

    _constraints = {
        "n_accounts": Interval(Integral, 1, None),
        "long_share": Interval(Real, 0, 1),
        "notional_median": Interval(Real, 0, None, closed="neither"),
        "notional_sigma": Interval(Real, 0, None),
        "leverage_median": Interval(Real, 0, None, closed="neither"),
        "leverage_sigma": Interval(Real, 0, None),
        "max_leverage": Interval(Real, 1, None),
        "cross_share": Interval(Real, 0, 1),
        "pair_share": Interval(Real, 0, 1),
        "basket_share": Interval(Real, 0, 1),
    }

    def __post_init__(self):
        super().__post_init__()
        if self.pair_share + self.basket_share > 1.0:
            raise ValueError(f"pair_share + basket_share must be in [0, 1]; got {self.pair_share + self.basket_share!r}")


def draw_perp_book(rng, params, price0, assets=(0,), n_assets=None):
    """Draw one venue's :class:`PerpBook` at initial prices ``price0`` (USD, one per asset of ``assets``).

    Columns of the book are world asset indices (``n_assets`` columns, default
    ``max(assets) + 1``). A single-asset account picks one listed asset at
    random; a pair is long one listed asset and short another.

    Examples
    --------
    >>> b = draw_perp_book(np.random.default_rng(0), PerpPopulation(n_accounts=4), [2000.0])
    >>> b.n_accounts
    4
    """
    assets = tuple(int(a) for a in assets)
    price0 = np.asarray(price0, dtype=float).reshape(-1)
    if price0.size != len(assets) or not (price0 > 0).all():
        raise ValueError(f"price0 must hold one positive price per listed asset ({len(assets)}); got {price0.tolist()}")
    S = len(assets)
    if params.pair_share > 0 and S < 2:
        raise ValueError(f"pair_share must be 0 when the venue lists one asset; got {params.pair_share!r}")
    A = max(assets) + 1 if n_assets is None else int(n_assets)
    n = params.n_accounts
    notional = params.notional_median * np.exp(params.notional_sigma * rng.standard_normal(n))
    lev = np.clip(params.leverage_median * np.exp(params.leverage_sigma * rng.standard_normal(n)),
                  1.0, params.max_leverage)
    side = np.where(rng.random(n) < params.long_share, 1.0, -1.0)
    kind = rng.random(n)
    cross = rng.random(n) < params.cross_share
    first = rng.integers(0, S, n)
    second = (first + rng.integers(1, max(S, 2), n)) % S if S > 1 else first
    q = np.zeros((n, A))
    m = np.zeros((n, A))
    pair = kind < params.pair_share
    basket = (~pair) & (kind < params.pair_share + params.basket_share)
    single = ~(pair | basket)
    col = np.array(assets)
    rows = np.arange(n)
    # single: one asset, all the notional
    r = rows[single]
    q[r, col[first[r]]] = side[r] * notional[r] / price0[first[r]]
    m[r, col[first[r]]] = notional[r] / lev[r]
    # pair: half the notional each way
    r = rows[pair]
    q[r, col[first[r]]] = side[r] * 0.5 * notional[r] / price0[first[r]]
    q[r, col[second[r]]] = -side[r] * 0.5 * notional[r] / price0[second[r]]
    m[r, col[first[r]]] = 0.5 * notional[r] / lev[r]
    m[r, col[second[r]]] = 0.5 * notional[r] / lev[r]
    # basket: every listed asset, one side
    r = rows[basket]
    for s in range(S):
        q[r, col[s]] = side[r] * notional[r] / S / price0[s]
        m[r, col[s]] = notional[r] / S / lev[r]
    return PerpBook(q, m, np.where(cross, "cross", "isolated").tolist())


class PerpEngine:
    r"""A perp venue as a margin engine (the protocol of :mod:`coupling_lab.engines`).

    Choices where MODEL.md §10 is silent:

    - A **unit** is a cross account or one isolated position; a cross
      account's tie key on asset is -1 (before its asset-indexed peers; an
      account is either cross or isolated, so the key never compares the two).
    - Margin ratio with zero requirement (a mark of 0) is ``-inf`` for a
      negative balance.
    - ``h_t`` is reported as 0 on steps without shortfall; with shortfall and
      ``G_t = 0`` it is 1 and nothing is covered.
    - The loss rule's coverage is shared by the step's bankrupt units in
      proportion to their deficits (the per-event ``bad_debt_usd``); every
      bankrupt unit ends at balance 0 (covered or written off).
    - ADL: a cross account's several eligible positions are ranked as
      separate entries (each with its own ``u`` and the account's ``M``);
      each cut takes ``min(S, u, M)`` from the balance as it is at that cut;
      ties in score go by account then asset; the eligible side of an asset
      is the one opposite a bankruptcy that left a shortfall after the fund
      (a bankruptcy the fund paid in full makes no one eligible); a bankrupt
      cross account that closed a long and a short makes both sides eligible.
    - Margin ratios and ADL scores within 1e-9 (relative) of each other are
      ties (exact ties in arithmetic, such as equal leverage, would otherwise
      be ordered by float rounding).
    - The backstop's spot hedge exists only for positions it took over in a
      liquidation (not the initial book, not ADL take-overs); it trades at
      ``m^a_t`` and its mark-to-market is cash + units x ``m^a_t``.
    - ``Fills.notional_usd`` is the gross notional closed at market,
      ``sum |q| m``; ``Fills.repaid_usd`` is the fees paid into the fund.
    """

    kind = "perp"

    def __init__(self, platform, book, params, assets, world=None):
        from .protections.throttle import Throttle

        self.platform, self.params = platform, params
        self.assets = tuple(int(a) for a in assets)
        S = len(self.assets)
        q_book = book.position
        listed = set(self.assets)
        for a in range(q_book.shape[1]):
            if a not in listed and (q_book[:, a] != 0).any():
                raise ValueError(f"book position must be on listed assets {self.assets}; "
                                 f"got a position on asset {a}")
        cols = [a if a < q_book.shape[1] else None for a in self.assets]
        take = lambda arr: np.column_stack([arr[:, a] if a is not None else np.zeros(arr.shape[0])  # noqa: E731
                                            for a in cols])
        q, m = take(q_book), take(book.margin)
        extra = book.margin.sum(axis=1) - m.sum(axis=1)  # margin on unlisted columns: cash of a cross account
        iso = book.isolated
        n = book.n_accounts
        cr = np.flatnonzero(~iso)
        ii, ss = np.nonzero((q != 0) | (m != 0))
        keep = iso[ii]
        ii, ss = ii[keep], ss[keep]
        U = cr.size + ii.size
        self.n_accounts = n
        self.u_acc = np.concatenate([cr, ii]).astype(np.int64)
        self.u_iso = np.concatenate([np.zeros(cr.size, bool), np.ones(ii.size, bool)])
        self.u_slot = np.concatenate([np.full(cr.size, -1), ss]).astype(np.int64)
        self.u_asset = np.where(self.u_slot >= 0, np.array(self.assets + (0,))[self.u_slot], -1)
        Q = np.zeros((U, S))
        Q[:cr.size] = q[cr]
        Q[cr.size + np.arange(ii.size), ss] = q[ii, ss]
        bal0 = np.concatenate([m[cr].sum(axis=1) + extra[cr], m[ii, ss]])
        # isolated accounts' margin on unlisted columns (no position there): kept as cash outside the units
        self.idle_cash = float(extra[iso].sum())
        self.Q = Q
        self.bal0 = bal0
        self.mmr = np.array([params.mmr_of(a) for a in self.assets])
        self.fund = float(params.insurance_fund)
        self.initial_cash = float(book.margin.sum()) + self.fund
        self.idle_above = [float("inf")] * S
        self.throttle = Throttle(platform, params, world)
        self.P_prev = None
        self.b_q = -Q.sum(axis=0)
        self.b_bal = 0.0
        self.h_units = np.zeros(S)
        self.h_cash = 0.0
        self.bad_total = 0.0
        self.rows, self.flow_rows = [], []   # one row of _SERIES per step; the step's flow (None: none)
        self.hedged = False
        self.adl_log = {k: [] for k in ("t", "account", "asset", "units", "usd")}
        self._t = -1

    # --- the index structures -------------------------------------------
    def _rebuild(self, P):
        """Sort single-asset units by liquidation price, screen the others (at marks ``P``)."""
        Q = self.Q
        nz = Q != 0
        n_pos = nz.sum(axis=1)
        self.open = n_pos > 0
        single = n_pos == 1
        slot = np.argmax(nz, axis=1)
        self.in_single = single.copy()
        self.singles = []
        base = self.base
        for s in range(Q.shape[1]):
            mm = self.mmr[s]
            on = np.flatnonzero(single & (slot == s))
            q = Q[on, s]
            b = base[on]
            lg, sh = q > 0, q < 0
            il, ish = on[lg], on[sh]
            key_l = b[lg] / (q[lg] * (1.0 - mm))          # -thr of a long (liquidatable when P < thr)
            key_s = b[sh] / (-q[sh] * (1.0 + mm))         # thr of a short (liquidatable when P > thr)
            ol, os_ = np.argsort(key_l, kind="stable"), np.argsort(key_s, kind="stable")
            self.singles.append([il[ol], key_l[ol], 0, ish[os_], key_s[os_], 0])
        self._rebuild_group(P, np.flatnonzero(self.open & ~single))

    def _rebuild_group(self, P, members):
        self.in_group = np.zeros(self.Q.shape[0], bool)
        self.in_group[members] = True
        self.dirty = []
        self.is_dirty = np.zeros(self.Q.shape[0], bool)
        self.P_ref = P.copy()
        self.ref_positive = bool((P > 0).all())
        # screened candidates tested per step before the group is re-referenced (amortises the sort)
        self.regroup_at = max(64, members.size // REGROUP_DIV)
        if members.size == 0:
            self.g_idx, self.g_z = members, np.empty(0)
            return
        Qm = self.Q[members]
        slack = self.base[members] + _dot(Qm, P) - _dot(np.abs(Qm), self.mmr * P)
        w = _dot(np.abs(Qm - self.mmr * np.abs(Qm)), P)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(w > 0, slack / np.where(w > 0, w, 1.0), np.where(slack > 0, np.inf, -np.inf))
        o = np.argsort(z, kind="stable")
        self.g_idx, self.g_z = members[o], z[o]

    def _candidates(self, P):
        parts = []
        for s, entry in enumerate(self.singles):
            idx_l, key_l, h_l, idx_s, key_s, h_s = entry
            p = P[s]
            k = int(key_l.searchsorted(-p * (1.0 - _EPS), side="left"))
            if k > h_l:
                c = idx_l[h_l:k]
                ok = self.in_single[c]
                entry[2] = h_l + (int(np.argmax(ok)) if ok.any() else c.size)
                parts.append(c[ok])
            k = int(key_s.searchsorted(p * (1.0 + _EPS), side="left"))
            if k > h_s:
                c = idx_s[h_s:k]
                ok = self.in_single[c]
                entry[5] = h_s + (int(np.argmax(ok)) if ok.any() else c.size)
                parts.append(c[ok])
        n_group = 0
        if self.g_idx.size:
            R = float(np.max(np.abs(P / self.P_ref - 1.0))) if self.ref_positive else np.inf
            k = int(self.g_z.searchsorted(R * (1.0 + _EPS) + 1e-15, side="right"))
            if k:
                c = self.g_idx[:k]
                c = c[self.in_group[c]]
                n_group = c.size
                parts.append(c)
        if self.dirty:
            d = np.array(self.dirty, dtype=np.int64)
            d = d[self.open[d]]
            parts.append(d)
        if not parts:
            return np.empty(0, np.int64), 0
        return (np.concatenate(parts) if len(parts) > 1 else parts[0]), n_group

    def _touch(self, units):
        """Units whose balance or positions changed outside VM: screened exactly until the next rebuild."""
        for u in units:
            u = int(u)
            self.in_single[u] = False
            self.in_group[u] = False
            if self.open[u] and not self.is_dirty[u]:
                self.is_dirty[u] = True
                self.dirty.append(u)

    # --- one step ---------------------------------------------------------
    def balance(self, units, P):
        """USD balances of ``units`` at marks ``P`` (VM included)."""
        return self.base[units] + _dot(self.Q[units], P)

    def step(self, t, prices, market):
        P = np.array(prices, dtype=float)
        S = P.size
        f = np.array([market[a] for a in self.assets], dtype=float)
        if self.P_prev is None:
            self.entry = np.broadcast_to(P, self.Q.shape).copy()
            self.base = self.bal0 - _dot(self.Q, P)
            self.P_prev = P
            self._rebuild(P)
        dP = P - self.P_prev
        vb = float(_dot(self.b_q, dP))                    # 1. variation margin (traders: implicit in base + Q.P)
        self.b_bal += vb
        cap = self.throttle.capacity(t, prices) if self.throttle.active else self.params.keeper_capacity
        cand, n_group = self._candidates(P)          # 2. maintenance
        liq = np.empty(0, np.int64)
        if cand.size:
            Qc = self.Q[cand]
            M = self.base[cand] + _dot(Qc, P)
            req = _dot(np.abs(Qc), self.mmr * P)
            under = M < req
            if under.any():
                liq = cand[under]
                M, req = M[under], req[under]
                with np.errstate(divide="ignore", invalid="ignore"):
                    ratio = np.where(req > 0, M / np.where(req > 0, req, 1.0), -np.inf)
                order = np.lexsort((self.u_asset[liq], self.u_acc[liq], _tie_groups(ratio)))
                liq, ratio = liq[order], ratio[order]
        waiting = 0
        if cap is not None and liq.size > cap:
            waiting = liq.size - cap
            liq = liq[:cap]
        regroup = n_group > self.regroup_at + 4 * liq.size
        out = None
        shortfall = covered = bad = h = 0.0
        adl_n, adl_usd = 0, 0.0
        cnt = [0, 0]
        loss = [0.0, 0.0]
        bad_mode = [0.0, 0.0]
        if liq.size:
            out, shortfall, deficits, bank_units, bank_sides = self._liquidate(t, liq, P, f, ratio[:liq.size])
            iso_l = self.u_iso[liq]
            cnt = [int((~iso_l).sum()), int(iso_l.sum())]
            lossv = np.maximum(-out["equity_after_usd"], 0.0)
            loss = [float(lossv[~iso_l].sum()), float(lossv[iso_l].sum())]
            if shortfall > 0:
                if self.params.loss_rule == "haircut":
                    covered, h = self._haircut(shortfall, dP, vb)
                else:
                    covered, adl_n, adl_usd = self._adl(t, shortfall, bank_sides, P)
                    h = 0.0
                bad = 0.0 if covered >= shortfall else shortfall - covered
                if h < 1.0 and self.params.loss_rule == "haircut":
                    bad = 0.0
                share = bad / shortfall
                out["bad_debt_usd"] = deficits * share
                bad_mode = [float(out["bad_debt_usd"][~iso_l].sum()), float(out["bad_debt_usd"][iso_l].sum())]
                self.base[bank_units] = 0.0        # covered, or written off
                self.bad_total += bad
        if regroup or len(self.dirty) > 256:
            members = np.flatnonzero(self.open & ~self.in_single)
            self._rebuild_group(P, members)
        if self.params.loss_rule == "haircut" and shortfall > 0:
            self._rebuild(P)
        self.P_prev = P
        hedge = self.h_cash + float(_dot(self.h_units, f)) if self.hedged else 0.0
        if out is None and waiting == 0:                 # a quiet step: one row, mostly zeros
            self.rows.append((self.fund, 0.0, 0.0, 0.0, 0.0, 0, 0.0, self.b_bal, hedge, 0, 0, 0.0, 0.0, 0.0, 0.0, 0))
            self.flow_rows.append(None)
            return None
        self.rows.append((self.fund, shortfall, h, covered, bad, adl_n, adl_usd, self.b_bal, hedge, cnt[0], cnt[1],
                          loss[0], loss[1], bad_mode[0], bad_mode[1], waiting))
        self.flow_rows.append(None if out is None else out["_flow"])
        if out is None:
            return Fills(0, 0.0, 0.0, 0.0, (), None, waiting) if waiting else None
        flows = tuple((self.assets[s], float(out["_flow"][s])) for s in range(S) if out["_flow"][s] != 0.0)
        gross = float(out["notional_usd"].sum())
        fees = float(out["fee_usd"].sum())
        del out["_flow"]
        return Fills(liq.size, gross, fees, bad, flows, out, waiting)

    def _liquidate(self, t, liq, P, f, ratio):
        Qc = self.Q[liq]
        M = self.base[liq] + _dot(Qc, P)
        close = _dot(Qc, f - P)
        E = M + close
        notional = _dot(np.abs(Qc), f)
        fee_full = self.params.phi * notional
        fee = np.minimum(fee_full, np.maximum(E, 0.0))
        paid = np.zeros(liq.size)
        deficit = np.zeros(liq.size)
        F = self.fund
        El, fl = E.tolist(), fee.tolist()
        for n in range(liq.size):                    # the fund, in processing order
            e = El[n]
            if e < 0.0:
                p = min(F, -e)
                F -= p
                paid[n] = p
                deficit[n] = -e - p
            else:
                F += fl[n]
        self.fund = F
        after = np.where(E < 0.0, -deficit, E - fee)
        net_q = _colsum(Qc)
        self.b_q += net_q                            # the backstop takes the positions over ...
        self.b_bal -= float(close.sum())             # ... paying the close-out difference
        self.h_units -= net_q                        # ... and hedges in spot at m^a_t
        flow = net_q * f                             # closing a long sells (+), a short buys (-)
        self.hedged = True
        self.h_cash += float(flow.sum())
        self.Q[liq] = 0.0
        self.base[liq] = after
        self.open[liq] = False
        self.in_single[liq] = False
        self.in_group[liq] = False
        bank = E < 0.0
        shortfall = float(deficit.sum())
        bank_units = liq[bank & (deficit > 0)]
        sides = set()
        for row in Qc[bank & (deficit > 0)]:
            for s in np.flatnonzero(row):
                sides.add((int(s), 1.0 if row[s] > 0 else -1.0))
        mode = np.where(self.u_iso[liq], "isolated", "cross")
        events = {"kind": "perp", "account": self.u_acc[liq], "asset": self.u_asset[liq], "mode": mode,
                  "margin_ratio": ratio, "notional_usd": notional, "equity_after_usd": E, "fee_usd": fee,
                  "fund_paid_usd": paid, "shortfall_usd": deficit, "bad_debt_usd": np.zeros(liq.size),
                  "_flow": flow}
        return events, shortfall, deficit, bank_units, sides

    def _haircut(self, S_t, dP, vb):
        v = _dot(self.Q, dP)                              # step-t VM of every unit still open (liquidated: Q = 0)
        win = v > 0
        G = float(v[win].sum()) + (vb if vb > 0 else 0.0)
        if G <= 0.0:
            return 0.0, 1.0
        h = min(1.0, S_t / G)
        self.base[win] -= h * v[win]
        if vb > 0:
            self.b_bal -= h * vb
        return h * G, h

    def _adl(self, t, S_t, sides, P):
        Q = self.Q
        ent = []
        for s, sign in sorted(sides):
            col = Q[:, s]
            opp = np.flatnonzero(col * sign < 0)
            if opp.size == 0:
                continue
            u = col[opp] * (P[s] - self.entry[opp, s])
            M = self.balance(opp, P)
            ok = (u > 0) & (M > 0)
            opp, u, M = opp[ok], u[ok], M[ok]
            score = (u / M) * (np.abs(col[opp]) * P[s] / M)
            ent.append((opp, np.full(opp.size, s), u, score))
        if not ent:
            return 0.0, 0, 0.0
        units = np.concatenate([e[0] for e in ent])
        slots = np.concatenate([e[1] for e in ent])
        us = np.concatenate([e[2] for e in ent])
        sc = np.concatenate([e[3] for e in ent])
        order = np.lexsort((np.array(self.assets)[slots], self.u_acc[units], _tie_groups(-sc)))
        rem = S_t
        n_cut, usd = 0, 0.0
        touched = []
        log = self.adl_log
        for o in order.tolist():
            if rem <= 0.0:
                break
            uu, s, u = int(units[o]), int(slots[o]), float(us[o])
            Mcur = float(self.base[uu] + _dot(Q[uu], P))
            x = min(rem, u, Mcur)
            if x <= 0.0:
                continue
            frac = x / u
            dq = Q[uu, s] * frac if frac < 1.0 else Q[uu, s]
            Q[uu, s] -= dq
            self.b_q[s] += dq
            Mnew = Mcur - x
            self.base[uu] = Mnew - _dot(Q[uu], P)
            rem -= x
            n_cut += 1
            usd += abs(dq) * P[s]
            touched.append(uu)
            log["t"].append(t)
            log["account"].append(int(self.u_acc[uu]))
            log["asset"].append(self.assets[s])
            log["units"].append(float(dq))
            log["usd"].append(abs(float(dq)) * float(P[s]))
            if not (Q[uu] != 0).any():
                self.open[uu] = False
        self._touch(touched)
        return S_t - rem if rem > 0 else S_t, n_cut, usd

    def finish(self):
        P = self.P_prev
        S = len(self.assets)
        rows = np.array(self.rows, dtype=float).reshape(len(self.rows), len(_SERIES))
        out = {name: (rows[:, c].astype(np.int64) if name in _INT_SERIES else rows[:, c].copy())
               for c, name in enumerate(_SERIES)}
        flow = np.zeros((len(self.flow_rows), S))
        for t, v in enumerate(self.flow_rows):
            if v is not None:
                flow[t] = v
        out["flow"] = flow
        out["adl_events"] = {k: np.array(v) for k, v in self.adl_log.items()}
        if P is None:
            return out
        bal_u = self.balance(np.arange(self.Q.shape[0]), P)
        bal = np.bincount(self.u_acc, weights=bal_u, minlength=self.n_accounts)
        pos = np.zeros((self.n_accounts, len(self.assets)))
        np.add.at(pos, self.u_acc, self.Q)
        out.update(balance=bal, position=pos, assets=self.assets, backstop_position=self.b_q.copy(),
                   backstop_balance=self.b_bal, fund_final=self.fund, bad_debt_total=self.bad_total,
                   initial_cash=self.initial_cash, idle_cash=self.idle_cash,
                   hedge_units=self.h_units.copy(), hedge_cash=self.h_cash)
        return out


def perp_outputs(result, k):
    """The outputs of perp venue ``k`` of a run (``Result.engine_outputs[k]``), checked to be a perp venue."""
    p = result.world.platforms[k]
    if getattr(p, "kind", None) != "perp":
        raise ValueError(f"platform {k} must be a perp venue; got kind {getattr(p, 'kind', None)!r}")
    return result.engine_outputs[k]




def perp_frame(result, k):
    """Per-step outputs of perp venue ``k`` as a pandas DataFrame (MODEL.md §11: fund path, shortfall,
    ``h_t``, ADL count and notional, backstop P&L and its hedge's mark-to-market, liquidations and losses
    by margin mode)."""
    import pandas as pd

    out = perp_outputs(result, k)
    df = pd.DataFrame({name: out[name] for name in _SERIES})
    df.index.name = "step"
    return df


def perp_events_frame(result):
    """Every perp liquidation of a run (``Result.events_by_kind["perp"]``) as a DataFrame."""
    import pandas as pd

    ev = result.events_by_kind.get("perp")
    if ev is None:
        return pd.DataFrame(columns=["t", "platform", "account", "asset", "mode"])
    return pd.DataFrame({k: v for k, v in ev.items() if k != "kind"})


from .engines import Fills  # noqa: E402
