r"""The trader's view (lesson 08): one small position inside the crowd's cascade.

A trader borrows :math:`d` USD against :math:`c` units of the asset on
platform :math:`k` (liquidation threshold :math:`LT`). Its liquidation price
and its health at entry, at the starting price :math:`p_0`, are (MODEL.md §4)

.. math::

    p^* = \frac{d}{c\,LT}, \qquad h_0 = \frac{c\,p_0\,LT}{d} = \frac{p_0}{p^*} .

The position is small: its own sale does not move the market, so it is a
*probe* (as the twin probe of MODEL.md §7). In a run it is liquidated when
the price :math:`\pi_t` of the feed it reads falls below :math:`p^*` at
some step, that is when

.. math::

    h_0 < h^{need} = \frac{p_0}{\min_t \pi_t},

so one run tells, for every position at once, whether it was caught: the
health at entry needed to stay safe in that run is :math:`h^{need}`. Over
seeds, the share of runs that catch a position of health :math:`h_0` is the
share of seeds with :math:`h^{need}_s > h_0`, and the health that keeps it
safe in a fraction :math:`q` of runs is the :math:`\lceil q n \rceil`-th
smallest :math:`h^{need}_s`.

Which feed the trader reads is a choice: the shared feed (oracle 0) or its
platform's own feed (oracle :math:`k+1`). The crowd (the other platforms)
either shares oracle 0 or reads their own feeds. The trader's platform, its
whole book, reads the trader's feed: a platform reads one feed per asset.

Nothing here imports widgets or plotting; ``coupling_lab.ui.traders_view``
draws it.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

from ._validation import Interval, check_scalar
from .forecast import liquidation_map
from .margin import liquidation_price
from .market import MarketParams
from .simulation import Config, build, run

__all__ = ["FEEDS", "CROWDS", "Position", "debt_for_health", "crowd_world", "MapPlacement", "place_in_map",
           "needed_health", "Odds", "cascade_odds", "safe_health", "LIVE_SEEDS"]

FEEDS = ("shared", "own")
CROWDS = ("shared", "independent")
LIVE_SEEDS = tuple(range(1, 9))  # few seeds live in the lesson; the tests pin more
_NO_IMPACT_DEPTH = 1e18  # USD: forced selling moves the price by ~1e-10: the crash without its cascade


@dataclass(frozen=True)
class Position:
    """The trader's position.

    Parameters
    ----------
    collateral : float in (0, inf), units of the asset
    debt : float in (0, inf), USD
    platform : int in [0, inf), index of the platform (0 is P1)
    feed : {"shared", "own"}, the feed the platform reads: oracle 0, or platform ``k``'s own oracle ``k + 1``

    Examples
    --------
    10 units, 12 000 USD of debt, LT 0.8: :math:`p^* = 12000 / (10 \\cdot 0.8) = 1500` USD,
    and at 2000 USD the health is :math:`10 \\cdot 2000 \\cdot 0.8 / 12000 = 4/3`.

    >>> pos = Position(collateral=10.0, debt=12_000.0)
    >>> pos.liquidation_price(0.8), round(pos.health(2000.0, 0.8), 4)
    (1500.0, 1.3333)
    """

    collateral: float = 10.0
    debt: float = 12_000.0
    platform: int = 0
    feed: str = "shared"

    _constraints = {
        "collateral": Interval(Real, 0, None, closed="neither"),
        "debt": Interval(Real, 0, None, closed="neither"),
        "platform": Interval(Integral, 0, None),
    }

    def __post_init__(self):
        # checked here with the package's one helper (a lesson-level class, not a model parameter set)
        for name, interval in self._constraints.items():
            object.__setattr__(self, name, check_scalar(name, getattr(self, name), interval))
        if self.feed not in FEEDS:
            raise ValueError(f"feed must be one of {list(FEEDS)}; got {self.feed!r}")

    def liquidation_price(self, lt):
        """:math:`p^* = d / (c\\,LT)`, USD per unit."""
        return float(liquidation_price(self.collateral, self.debt, lt))

    def health(self, price, lt):
        """:math:`h = c\\,p\\,LT / d` at ``price`` (USD per unit)."""
        return self.collateral * price * lt / self.debt

    def feed_index(self):
        """The oracle this position's platform reads: 0 (shared) or ``platform + 1`` (own)."""
        return 0 if self.feed == "shared" else self.platform + 1


def debt_for_health(health, collateral, price, lt):
    """The debt (USD) that gives ``collateral`` units health ``health`` at ``price``: :math:`d = c p LT / h`.

    >>> debt_for_health(4 / 3, 10.0, 2000.0, 0.8)
    12000.0
    """
    health = check_scalar("health", health, Interval(Real, 0, None, closed="neither"))
    return float(collateral * price * lt / health)


def _check_position(position, config):
    if not isinstance(position, Position):
        raise TypeError(f"position must be a Position; got {type(position).__name__}")
    if not position.platform < config.n_platforms:
        raise ValueError(f"platform must be in [0, {config.n_platforms - 1}]; got {position.platform}")


def crowd_world(config, seed, crowd, platform, feed):
    """The :class:`~coupling_lab.World` of one seed, with the crowd's feeds and the trader's.

    ``crowd="shared"``: every other platform reads oracle 0;
    ``crowd="independent"``: every other platform reads its own oracle. The
    trader's platform reads oracle 0 (``feed="shared"``) or its own
    (``feed="own"``). Path, venue noise, books and oracle parameters are
    those of ``build(config, seed)`` whatever the feeds.
    """
    if crowd not in CROWDS:
        raise ValueError(f"crowd must be one of {list(CROWDS)}; got {crowd!r}")
    if feed not in FEEDS:
        raise ValueError(f"feed must be one of {list(FEEDS)}; got {feed!r}")
    world = build(dataclasses.replace(config, sharing=1.0 if crowd == "shared" else 0.0), seed)
    K = world.n_platforms
    platform = check_scalar("platform", platform, Interval(Integral, 0, K - 1))
    po = [0 if crowd == "shared" else k + 1 for k in range(K)]
    po[platform] = 0 if feed == "shared" else platform + 1
    return dataclasses.replace(world, platform_oracle=tuple(po))


@dataclass(frozen=True, eq=False)
class MapPlacement:
    """Where a position's liquidation price sits among the crowd's.

    Attributes
    ----------
    liquidation_price : float, USD, the position's :math:`p^*`
    health : float, its health at the starting price
    edges_b : ndarray, shape (n_bins + 1,), USD, price bins
    debt_bk : ndarray, shape (n_bins, n_platforms), USD of the crowd's debt whose liquidation price is in each bin
    crowd_sold_usd : float, USD of collateral the crowd sells in a first round if every platform read your :math:`p^*`
    share_before : float in [0, 1], share of the crowd's debt liquidated at a price above yours (before you, in a fall)
    nearest_cluster : float, USD, centre of the bin with the most debt within 10 % above your :math:`p^*` (NaN if none)
    """

    liquidation_price: float
    health: float
    edges_b: np.ndarray
    debt_bk: np.ndarray
    crowd_sold_usd: float
    share_before: float
    nearest_cluster: float


def place_in_map(position, books, platforms, price0, edges):
    """Place ``position`` in the liquidation map of ``books`` (all platforms together).

    Parameters
    ----------
    position : Position
    books : sequence of Book, the crowd's accounts per platform
    platforms : sequence of PlatformParams
    price0 : float, USD, starting price
    edges : array, shape (n_bins + 1,), USD, increasing price bins

    Examples
    --------
    Two accounts of 1 unit: debt 1600 and 800 USD (LT 0.8: :math:`p^*` = 2000 and 1000 USD).
    A position with :math:`p^* = 1500` sits below the first: half the crowd's debt goes before it.

    >>> from coupling_lab import Book, PlatformParams
    >>> pm = place_in_map(Position(1.0, 1200.0), [Book([1.0, 1.0], [1600.0, 800.0])], [PlatformParams()],
    ...                   2000.0, [500.0, 1250.0, 2500.0])
    >>> pm.liquidation_price, pm.share_before, pm.debt_bk[:, 0].tolist()
    (1500.0, 0.6666666666666666, [800.0, 1600.0])
    """
    books, platforms = tuple(books), tuple(platforms)
    lt = platforms[position.platform].lt if position.platform < len(platforms) else platforms[0].lt
    pstar = position.liquidation_price(lt)
    edges = np.asarray(edges, float)
    debt_bk = np.zeros((edges.size - 1, len(books)))
    above, total = 0.0, 0.0
    for k, (b, p) in enumerate(zip(books, platforms)):
        ps = liquidation_price(b.collateral, b.debt, p.lt)
        debt_bk[:, k] = np.histogram(ps, bins=edges, weights=b.debt)[0]
        above += float(b.debt[ps > pstar].sum())
        total += float(b.debt.sum())
    sold = float(liquidation_map(books, platforms, [pstar]).total_p[0])
    centres = 0.5 * (edges[1:] + edges[:-1])
    near = (centres > pstar) & (centres <= pstar * 1.10)
    if near.any() and debt_bk[near].sum() > 0:
        mass = debt_bk.sum(axis=1)
        cluster = float(centres[near][np.argmax(mass[near])])
    else:
        cluster = math.nan
    return MapPlacement(liquidation_price=pstar, health=position.health(price0, lt), edges_b=edges, debt_bk=debt_bk,
                        crowd_sold_usd=sold, share_before=above / total if total > 0 else 0.0,
                        nearest_cluster=cluster)


def needed_health(price_t, price0):
    r"""Health at entry a position reading ``price_t`` needs not to be liquidated: :math:`p_0 / \min_t \pi_t`.

    A position with :math:`h_0 \ge` this value is never liquidatable (:math:`\pi_t \ge p^*` at every step).

    >>> needed_health(np.array([2000.0, 1600.0, 1800.0]), 2000.0)
    1.25
    """
    return float(price0 / np.min(price_t))


@functools.lru_cache(maxsize=512)
def _need_one(config, seed, crowd, platform, feed):
    world = crowd_world(config, seed, crowd, platform, feed)
    res = run(world)
    return needed_health(res.oracle_tj[:, 0 if feed == "shared" else platform + 1], math.exp(world.x_t[0]))


@functools.lru_cache(maxsize=256)
def _need_no_cascade_j(config, seed):
    # without impact, what a feed publishes does not depend on who reads it: one run serves every feed
    calm = dataclasses.replace(config, market=MarketParams(depth=_NO_IMPACT_DEPTH, resilience=config.market.resilience))
    world = build(calm, seed)
    res = run(world)
    return math.exp(world.x_t[0]) / res.oracle_tj.min(axis=0)


def _need_no_cascade(config, seed, platform, feed):
    return float(_need_no_cascade_j(config, seed)[0 if feed == "shared" else platform + 1])


def safe_health(need_s, safety):
    r"""The smallest health at entry that is safe in at least a fraction ``safety`` of the runs.

    The :math:`\lceil q\,n \rceil`-th smallest of ``need_s`` (``safety`` :math:`= q` in (0, 1]).

    >>> safe_health(np.array([1.5, 1.2, 1.4, 1.3]), 0.75)
    1.4
    """
    safety = check_scalar("safety", safety, Interval(Real, 0, 1, closed="right"))
    need = np.sort(np.asarray(need_s, float))
    return float(need[max(math.ceil(safety * need.size - 1e-9), 1) - 1])


@dataclass(frozen=True, eq=False)
class Odds:
    """How often positions like the trader's are caught, over seeds.

    Attributes
    ----------
    seeds : tuple of int
    need_shared_s, need_independent_s : ndarray, shape (n_seeds,), health at entry needed
        to stay safe in each seed's run, when the crowd shares oracle 0 / reads its own feeds
    need_no_cascade_s : ndarray, shape (n_seeds,), the same with the forced selling taken
        out (depth so large it moves nothing): the crash and the feed alone
    """

    seeds: tuple
    need_shared_s: np.ndarray
    need_independent_s: np.ndarray
    need_no_cascade_s: np.ndarray

    def need(self, crowd):
        if crowd == "shared":
            return self.need_shared_s
        if crowd == "independent":
            return self.need_independent_s
        if crowd == "no cascade":
            return self.need_no_cascade_s
        raise ValueError(f"crowd must be one of {list(CROWDS) + ['no cascade']}; got {crowd!r}")

    def caught(self, health, crowd):
        """Share of runs in which a position of health ``health`` at entry is liquidated."""
        return float(np.mean(self.need(crowd) > health))

    def caught_by_cascade(self, health, crowd):
        """Share of runs in which it is liquidated although the crash without forced selling would not have."""
        return float(np.mean((self.need(crowd) > health) & (self.need_no_cascade_s <= health)))

    def safe_health(self, safety, crowd):
        """Smallest health at entry safe in at least ``safety`` of the runs (:func:`safe_health`)."""
        return safe_health(self.need(crowd), safety)

    def extra_buffer(self, safety):
        """Health the shared crowd asks on top of the independent one, at ``safety``."""
        return self.safe_health(safety, "shared") - self.safe_health(safety, "independent")


def cascade_odds(platform=0, feed="shared", seeds=LIVE_SEEDS, config=None):
    """Run the crowd over ``seeds`` (shared and independent feeds) for a trader on ``platform`` reading ``feed``.

    Each seed costs two runs (and one run without impact); results are cached,
    so moving the position (collateral, debt) costs nothing and a platform or
    feed seen before costs nothing either.

    Returns
    -------
    Odds
    """
    config = Config() if config is None else config
    if not isinstance(config, Config):
        raise TypeError(f"config must be a Config; got {type(config).__name__}")
    _check_position(Position(platform=platform, feed=feed), config)
    seeds = tuple(int(check_scalar("seed", s, Interval(Integral, 0, None))) for s in seeds)
    if not seeds:
        raise ValueError("seeds must hold at least 1 seed; got 0")
    shared = np.array([_need_one(config, s, "shared", platform, feed) for s in seeds])
    indep = np.array([_need_one(config, s, "independent", platform, feed) for s in seeds])
    calm = np.array([_need_no_cascade(config, s, platform, feed) for s in seeds])
    return Odds(seeds=seeds, need_shared_s=shared, need_independent_s=indep, need_no_cascade_s=calm)
