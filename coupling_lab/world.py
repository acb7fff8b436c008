r"""A :class:`World`: the fully explicit inputs of one run (nothing random is left).

One asset (MODEL.md Part I) or several (§8): per-asset fundamental paths
``x_ta``, venues that each quote one asset, feeds (oracles) that each read
venues of one asset, oracle providers (fault domains), platforms of any
margin-engine kind with their books, and the two hooks for protections:
feed-side rules per feed and read-side guards per platform. A world with one
asset, lending platforms only and no rule or guard is exactly a v1 world.
"""
from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

from .protections.readside import AnchorBand, Delay, Fallback
from .protections.throttle import PlatformFault
from ._validation import Interval, check_array, check_index, check_scalar
from .accounts import Book
from .market import MarketParams
from .measures import return_correlation
from .oracles import OracleFault, OracleParams
from .venues import VenueFault

__all__ = ["World"]

_LOG_PRICE = 700.0  # exp() beyond 709 is inf: refuse it here rather than publish inf


def _faults(name, faults, kind):
    if isinstance(faults, kind):
        faults = (faults,)
    faults = tuple(faults)
    for f in faults:
        if not isinstance(f, kind):
            raise TypeError(f"{name} must hold {kind.__name__} objects; got {type(f).__name__}")
    return faults


def _per_item(name, value, n, what):
    """() or None -> n empty tuples; else a sequence of n sequences."""
    if value is None or len(value) == 0:
        return ((),) * n
    value = tuple(tuple(v) for v in value)
    if len(value) != n:
        raise ValueError(f"{name} must be empty or have one entry per {what} ({n}); got {len(value)}")
    return value


def _check_guard_order(read_guards):
    """MODEL.md §9: a platform's read-side guards apply in the order delay -> anchor -> fallback."""
    rank = {Delay: 0, AnchorBand: 1, Fallback: 2}
    for k, chain in enumerate(read_guards):
        ranks = [rank[type(g)] for g in chain if type(g) in rank]
        if ranks != sorted(ranks):
            names = [type(g).__name__ for g in chain]
            raise ValueError(f"read_guards[{k}] must apply in the order Delay -> AnchorBand -> Fallback; got {names}")


@dataclass(frozen=True, eq=False)
class World:
    """Fully explicit inputs of one run.

    ``T`` steps, ``A`` assets, ``V`` venues, ``J`` feeds (oracles), ``K`` platforms.

    Parameters
    ----------
    x_t : array, shape (T,), log USD: the fundamental log path of a one-asset world
    venue_noise_tv : array, shape (T, V), log noise ``eps`` of every venue
    oracles : tuple of OracleParams, length J (sources index venues; a feed's
        sources all quote one asset, which is the feed's asset)
    platforms : tuple of margin-engine params (``PlatformParams`` for lending), length K
    platform_oracle : tuple, length K: per platform the feed it reads (int),
        or one feed per asset it accepts (tuple of int)
    books : tuple of Book, length K
    market : MarketParams, or a tuple of A MarketParams (one per asset)
    venue_faults, oracle_faults : tuples of faults (oracle faults may hit a
        whole provider, see ``stale_provider``)
    probe : (collateral units, debt USD), the twin-dispersion probe
    sync_window, flow_window : int, steps
    x_ta : array, shape (T, A), log USD, or None: the paths of several assets
        (instead of ``x_t``; ``x_t`` then is asset 0's path). ``paths_ta`` is
        always the (T, A) array, for one asset too.
    venue_asset : tuple of int, length V, or None (all asset 0): the asset each venue quotes
    oracle_provider : tuple of int, length J, or None (each feed its own provider):
        the provider running each feed; a provider runs at most one feed per
        asset, all with the same ``theta``, ``heartbeat`` and ``latency``
    feed_rules : () or a tuple of J tuples of feed-side rules (``FeedRule``)
    read_guards : () or a tuple of K tuples of read-side guards (``ReadGuard``),
        applied in order to every read of that platform
    platform_faults : tuple of PlatformFault (``keeper_outage(k, t0, t1)``)
    """

    x_t: np.ndarray = None
    venue_noise_tv: np.ndarray = None
    oracles: tuple = ()
    platforms: tuple = ()
    platform_oracle: tuple = ()
    books: tuple = ()
    market: object = MarketParams()
    venue_faults: tuple = ()
    oracle_faults: tuple = ()
    probe: tuple = (1.0, 1000.0)
    sync_window: int = 1
    flow_window: int = 10
    x_ta: np.ndarray = None
    venue_asset: tuple = None
    oracle_provider: tuple = None
    feed_rules: tuple = ()
    read_guards: tuple = ()
    platform_faults: tuple = ()

    def __post_init__(self):
        x_ta = self._paths()
        T, A = x_ta.shape
        noise = self.venue_noise_tv
        if noise is None:
            raise ValueError("venue_noise_tv must be given: an array of shape (n_steps, n_venues)")
        noise = check_array("venue_noise_tv", noise, shape=(T, None))
        if noise.shape[1] == 0:
            raise ValueError("venue_noise_tv must have at least one venue column; got 0")
        V = noise.shape[1]
        venue_asset = self._venue_asset(V, A)
        log_venue = np.abs((x_ta[:, :1] if A == 1 else x_ta[:, venue_asset]) + noise)  # one asset: broadcast
        if log_venue.max() > _LOG_PRICE:
            i = tuple(int(a) for a in np.unravel_index(int(np.argmax(log_venue)), log_venue.shape))
            raise ValueError(f"x_t + venue_noise_tv (venue log prices) must be in [-700, 700]; "
                             f"got {(x_ta[i[0], venue_asset[i[1]]] + noise[i]).item()!r} at index {i}")
        oracles = tuple(self.oracles)
        if not oracles:
            raise ValueError("oracles must hold at least 1 OracleParams; got 0")
        feed_asset = []
        for j, o in enumerate(oracles):
            if not isinstance(o, OracleParams):
                raise TypeError(f"oracles[{j}] must be an OracleParams; got {type(o).__name__}")
            for v in o.sources:
                check_index(f"oracles[{j}].sources", v, V, "venue index")
            assets = sorted({int(venue_asset[v]) for v in o.sources})
            if len(assets) > 1:
                raise ValueError(f"oracles[{j}].sources must quote one asset; got venues of assets {tuple(assets)}")
            feed_asset.append(assets[0])
        J = len(oracles)
        provider = self._providers(oracles, feed_asset)
        markets = self._markets(A)
        platforms, books = tuple(self.platforms), tuple(self.books)
        K = len(platforms)
        if K == 0:
            raise ValueError("n_platforms must be in [1, inf); got 0")
        po = tuple(self.platform_oracle)
        if len(books) != K or len(po) != K:
            raise ValueError(f"books and platform_oracle must have length n_platforms={K}; got {len(books)} and {len(po)}")
        reads = []
        for k in range(K):
            p = platforms[k]
            if not hasattr(p, "make_engine") or not hasattr(p, "kind"):
                raise TypeError(f"platforms[{k}] must be a PlatformParams (or another margin engine's params); "
                                f"got {type(p).__name__}")
            if hasattr(p, "check_book"):  # another engine kind says which books it accepts
                p.check_book(books[k], f"books[{k}]")
            elif not isinstance(books[k], Book):
                raise TypeError(f"books[{k}] must be a Book; got {type(books[k]).__name__}")
            if hasattr(p, "check_assets"):
                p.check_assets(A, f"platforms[{k}]")
            feeds = po[k] if isinstance(po[k], (tuple, list)) else (po[k],)
            if len(feeds) == 0:
                raise ValueError(f"platform_oracle[{k}] must name at least one feed; got ()")
            name = f"platform_oracle[{k}]"
            feeds = tuple(check_index(name if len(feeds) == 1 and not isinstance(po[k], (tuple, list)) else
                                      f"{name}[{i}]", j, J, "oracle index") for i, j in enumerate(feeds))
            assets = tuple(feed_asset[j] for j in feeds)
            if len(set(assets)) != len(assets):
                raise ValueError(f"{name} must read one feed per asset; got feeds {feeds} of assets {assets}")
            held = books[k].assets
            for a in held:
                if a >= A:
                    raise ValueError(f"books[{k}].asset must hold asset indices in [0, {A - 1}]; got {a}")
                if a not in assets:
                    raise ValueError(f"{name} must include a feed of asset {a}, which books[{k}] holds; "
                                     f"it reads feeds {feeds} of assets {assets}")
            if held:
                for j, a in zip(feeds, assets):
                    if a not in held:
                        raise ValueError(f"{name} reads feed {j} of asset {a}, which books[{k}] does not hold "
                                         f"(it holds assets {held})")
            reads.append(feeds if isinstance(po[k], (tuple, list)) else feeds[0])
        venue_faults = _faults("venue_faults", self.venue_faults, VenueFault)
        oracle_faults = _faults("oracle_faults", self.oracle_faults, OracleFault)
        for f in venue_faults:
            f.check_against(T, V)
        n_providers = 1 + max(provider)
        for f in oracle_faults:
            f.check_against(T, J, n_providers)
        platform_faults = _faults("platform_faults", self.platform_faults, PlatformFault)
        for f in platform_faults:
            f.check_against(T, K)
        set_pf = platform_faults
        probe = check_array("probe", self.probe, shape=(2,), interval=Interval(Real, 0, None, "neither"))
        for name in ("sync_window", "flow_window"):
            object.__setattr__(self, name, check_scalar(name, getattr(self, name), Interval(Integral, 1, None)))
        feed_rules = _per_item("feed_rules", self.feed_rules, J, "feed")
        read_guards = _per_item("read_guards", self.read_guards, K, "platform")
        _check_guard_order(read_guards)
        noise.flags.writeable = False
        x_ta.flags.writeable = False
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        if self.x_ta is not None:
            set_("x_ta", x_ta)
        set_("x_t", x_ta[:, 0])
        set_("venue_noise_tv", noise)
        set_("oracles", oracles)
        set_("platforms", platforms)
        set_("books", books)
        set_("platform_oracle", tuple(reads))
        set_("market", markets[0] if A == 1 and not isinstance(self.market, (tuple, list)) else markets)
        set_("venue_faults", venue_faults)
        set_("oracle_faults", oracle_faults)
        set_("probe", (float(probe[0]), float(probe[1])))
        set_("venue_asset", None if self.venue_asset is None else tuple(int(a) for a in venue_asset))
        set_("oracle_provider", None if self.oracle_provider is None else provider)
        set_("feed_rules", () if not any(feed_rules) else feed_rules)
        set_("read_guards", () if not any(read_guards) else read_guards)
        set_("platform_faults", set_pf)
        self.__dict__["_paths_ta"] = x_ta
        self.__dict__["_feed_asset"] = tuple(feed_asset)
        self.__dict__["_provider"] = provider
        self.__dict__["_markets"] = markets

    # --- checks -----------------------------------------------------------
    def _paths(self):
        if self.x_ta is not None:
            x_ta = check_array("x_ta", self.x_ta, shape=(None, None))
            if x_ta.shape[0] == 0 or x_ta.shape[1] == 0:
                raise ValueError(f"x_ta must have shape (n_steps >= 1, n_assets >= 1); got {x_ta.shape}")
            if self.x_t is not None:
                x = check_array("x_t", self.x_t, shape=(x_ta.shape[0],))
                if not np.array_equal(x, x_ta[:, 0]):
                    raise ValueError("x_t must be x_ta[:, 0] (asset 0's path) when both are given; they differ")
        else:
            if self.x_t is None:
                raise ValueError("x_t (one asset, shape (n_steps,)) or x_ta (shape (n_steps, n_assets)) must be given")
            x = check_array("x_t", self.x_t, shape=(None,))
            if x.size == 0:
                raise ValueError("n_steps must be in [1, inf); got 0 (x_t is empty)")
            x_ta = x[:, None]
        if np.abs(x_ta).max() > _LOG_PRICE:
            i = np.unravel_index(int(np.argmax(np.abs(x_ta))), x_ta.shape)
            name = "x_t" if self.x_ta is None else "x_ta"
            where = "" if self.x_ta is None else f" at index {tuple(int(v) for v in i)}"
            raise ValueError(f"{name} must be a log price in [-700, 700]; got {x_ta[i]!r}{where}")
        return x_ta

    def _venue_asset(self, V, A):
        if self.venue_asset is None:
            if A > 1:
                raise ValueError(f"venue_asset must give the asset of each of the {V} venues when there are "
                                 f"{A} assets; got None")
            return np.zeros(V, dtype=np.int64)
        va = tuple(self.venue_asset)
        if len(va) != V:
            raise ValueError(f"venue_asset must have length n_venues={V}; got {len(va)}")
        return np.array([check_index(f"venue_asset[{v}]", a, A, "asset index") for v, a in enumerate(va)],
                        dtype=np.int64)

    def _providers(self, oracles, feed_asset):
        J = len(oracles)
        if self.oracle_provider is None:
            return tuple(range(J))
        pr = tuple(self.oracle_provider)
        if len(pr) != J:
            raise ValueError(f"oracle_provider must have length n_oracles={J}; got {len(pr)}")
        pr = tuple(check_scalar(f"oracle_provider[{j}]", p, Interval(Integral, 0, None)) for j, p in enumerate(pr))
        first = {}
        for j, p in enumerate(pr):
            o = oracles[j]
            if p in first:
                j0 = first[p]
                if feed_asset[j0] == feed_asset[j]:
                    raise ValueError(f"oracle_provider: provider {p} runs one feed per asset; got feeds {j0} and {j} "
                                     f"both of asset {feed_asset[j]}")
                o0 = oracles[j0]
                if (o0.theta, o0.heartbeat, o0.latency) != (o.theta, o.heartbeat, o.latency):
                    raise ValueError(f"oracle_provider: the feeds of provider {p} must share theta, heartbeat and "
                                     f"latency; feed {j0} has {(o0.theta, o0.heartbeat, o0.latency)}, "
                                     f"feed {j} has {(o.theta, o.heartbeat, o.latency)}")
            else:
                first[p] = j
        return pr

    def _markets(self, A):
        m = self.market
        if isinstance(m, MarketParams):
            return (m,) * A
        if not isinstance(m, (tuple, list)):
            raise TypeError(f"market must be a MarketParams or one MarketParams per asset; got {type(m).__name__}")
        m = tuple(m)
        if len(m) != A:
            raise ValueError(f"market must hold one MarketParams per asset (n_assets={A}); got {len(m)}")
        for a, p in enumerate(m):
            if not isinstance(p, MarketParams):
                raise TypeError(f"market[{a}] must be a MarketParams; got {type(p).__name__}")
        return m

    # --- shape ------------------------------------------------------------
    paths_ta = property(lambda self: self._paths_ta, doc="(T, A) log USD: every asset's fundamental path")
    n_steps = property(lambda self: self._paths_ta.shape[0])
    n_assets = property(lambda self: self._paths_ta.shape[1])
    n_venues = property(lambda self: self.venue_noise_tv.shape[1])
    n_oracles = property(lambda self: len(self.oracles))
    n_platforms = property(lambda self: len(self.platforms))
    feed_asset = property(lambda self: self._feed_asset, doc="tuple of int: the asset of each feed")
    provider_of_feed = property(lambda self: self._provider, doc="tuple of int: the provider of each feed")
    markets = property(lambda self: self._markets, doc="tuple of MarketParams, one per asset")

    @property
    def n_providers(self):
        return 1 + max(self._provider)

    def feeds_of(self, k):
        """Tuple of the feeds platform ``k`` reads (one per asset it accepts)."""
        po = self.platform_oracle[k]
        return po if isinstance(po, tuple) else (po,)

    def assets_of(self, k):
        """Tuple of the assets platform ``k`` reads, in the order of :meth:`feeds_of`."""
        return tuple(self._feed_asset[j] for j in self.feeds_of(k))

    def venue_asset_v(self):
        """(V,) int: the asset each venue quotes."""
        return np.zeros(self.n_venues, dtype=np.int64) if self.venue_asset is None else np.array(self.venue_asset)

    def return_correlation(self):
        """(A, A) correlation of the assets' per-step log returns (NaN-free: see ``measures.return_correlation``)."""
        return return_correlation(self._paths_ta)

    def __repr__(self):
        return (f"World(n_steps={self.n_steps}, n_assets={self.n_assets}, n_venues={self.n_venues}, "
                f"n_oracles={self.n_oracles}, n_platforms={self.n_platforms}, platform_oracle={self.platform_oracle}, "
                f"n_accounts={[b.n_accounts for b in self.books]})")
