r"""A scenario's configuration and :func:`build`: config + seed -> an explicit World.

:class:`Config` holds everything that defines a scenario, with classroom
defaults. Two dials, independent of each other (MODEL.md §5, §8):
``sharing`` (how much oracle infrastructure the platforms share) and
``collateral_sharing`` (how many platforms hold the common asset 0). With
``collateral_sharing=None`` (the default) the world has one asset: the v1
model of MODEL.md Part I, exactly.

The seed is split into named streams (path, venue noise, books, oracle
parameters, ...): moving either dial keeps the paths, the noise and the
books of the same seed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

from ._random import streams
from .guards import ReadGuard
from .protections.readside import Fallback
from .protections.throttle import PlatformFault
from ._validation import Interval, Validated, check_array, check_scalar
from .accounts import Book, PopulationParams, draw_book
from .margin import PlatformParams
from .market import MarketParams
from .oracles import FeedRule, OracleFault, OracleParams
from .scenarios import CrashScenario, FactorScenario
from .topology import TOPOLOGIES, collateral_assets
from .venues import VenueFault, draw_venue_noise
from .world import World, _faults

__all__ = ["OracleRanges", "Config", "build"]


@dataclass(frozen=True)
class OracleRanges(Validated):
    """Ranges the platforms' own oracles draw their parameters from (seeded).

    Defaults follow production push feeds (MODEL.md, FACTS.md): deviation
    thresholds 0.5 %-2 %, heartbeats 1 h or 24 h (60 or 1440 one-minute
    steps). Latency 0-3 steps is a teaching assumption (a few blocks).
    """

    theta_min: float = 0.005
    theta_max: float = 0.02
    heartbeats: tuple = (60, 1440)
    latency_min: int = 0
    latency_max: int = 3

    _constraints = {
        "theta_min": Interval(Real, 0, 1),
        "theta_max": Interval(Real, 0, 1),
        "latency_min": Interval(Integral, 0, None),
        "latency_max": Interval(Integral, 0, None),
    }

    def __post_init__(self):
        super().__post_init__()
        if self.theta_max < self.theta_min:
            raise ValueError(f"theta_max must be >= theta_min={self.theta_min}; got {self.theta_max}")
        if self.latency_max < self.latency_min:
            raise ValueError(f"latency_max must be >= latency_min={self.latency_min}; got {self.latency_max}")
        hb = self.heartbeats
        if isinstance(hb, (Integral, str)) or not hasattr(hb, "__len__") or len(hb) == 0:
            raise ValueError(f"heartbeats must be a non-empty sequence of steps in [1, inf); got {hb!r}")
        object.__setattr__(self, "heartbeats", tuple(check_scalar("heartbeats", h, Interval(Integral, 1, None)) for h in hb))

    def draw(self, rng, n):
        """``n`` OracleParams (sources left to the topology)."""
        theta = rng.uniform(self.theta_min, self.theta_max, n)
        hb = rng.choice(np.array(self.heartbeats), n)
        lat = rng.integers(self.latency_min, self.latency_max + 1, n)
        return tuple(OracleParams(theta=float(a), heartbeat=int(b), latency=int(c)) for a, b, c in zip(theta, hb, lat))


@dataclass(frozen=True)
class Config(Validated):
    """Everything that defines a scenario, with classroom defaults.

    Parameters
    ----------
    scenario : CrashScenario, GBMScenario, JumpScenario or ReplayScenario
        The fundamental path (default: a 30 % crash over 2 h in a 500-minute run).
    n_platforms : int in [1, inf)
    sharing : float in [0, 1], the dial (MODEL.md §5)
    topology : {"shared_fraction", "source_overlap"}
    platform : PlatformParams, the rules of every platform
    population : PopulationParams, how each platform's book is drawn
    identical_books : bool, give every platform the same drawn book
    market : MarketParams, depth and resilience
    shared_oracle : OracleParams, the shared oracle 0 (0.5 %, 1 h: Chainlink ETH/USD on Ethereum, FACTS.md; 1 step latency)
    own_oracles : OracleRanges, where each platform's own oracle draws its parameters
    n_sources : int in [1, inf), venues per oracle
    venue_sigma : float in [0, inf), per-step log noise of every venue
    venue_faults, oracle_faults : tuples of faults (see ``spike``, ``freeze``, ``stale``, ``override``)
    probe_health : float in (0, inf), health of the twin probe at the initial price
    sync_window : int in [1, inf), steps summed before correlating (synchrony)
    flow_window : int in [1, inf), steps of the peak-flow window
    collateral_sharing : float in [0, 1] or None, the collateral dial (MODEL.md §8)
        ``None``: one asset (v1). A number: ``n_platforms + 1`` assets;
        ``round(c K)`` platforms hold the common asset 0, platform ``k``
        otherwise its own asset ``k + 1`` (own market, fundamentals following
        asset 0 through ``beta``). Oracle faults may then name a provider
        (``stale_provider``, ``override_provider``): provider 0 is the shared
        one, provider ``k + 1`` platform ``k``'s own.
    beta : float in [-10, 10], the own assets' beta to asset 0 (two-channel world)
    asset_sigma : float in [0, inf), per-step idiosyncratic log noise of the own assets
    own_market : MarketParams or None, depth and resilience of each own asset's
        market (``None``: the same as ``market``)
    feed_rules : tuple of feed-side rules (e.g. ``AnswerBounds``), applied to every feed
    read_guards : tuple of read-side guards (``Delay``, ``AnchorBand``, ``Fallback``),
        applied in this order to every platform's reads; a ``Fallback`` without
        a feed falls back to the other provider's feed of the platform's asset
        (the shared provider's for a platform on its own, its own for one on
        the shared provider)
    platform_faults : tuple of PlatformFault (``keeper_outage(k, t0, t1)``)

    The platform-side protections (``rate_limit``, ``breaker``) are fields of
    ``platform`` (:class:`PlatformParams`). Every protection is off by default.
    """

    scenario: object = CrashScenario()
    n_platforms: int = 5
    sharing: float = 0.0
    topology: str = "shared_fraction"
    platform: PlatformParams = PlatformParams()
    population: PopulationParams = PopulationParams()
    identical_books: bool = False
    market: MarketParams = MarketParams()
    shared_oracle: OracleParams = OracleParams(theta=0.005, heartbeat=60, latency=1)
    own_oracles: OracleRanges = OracleRanges()
    n_sources: int = 3
    venue_sigma: float = 0.002
    venue_faults: tuple = ()
    oracle_faults: tuple = ()
    probe_health: float = 1.15
    sync_window: int = 1
    flow_window: int = 10
    collateral_sharing: float | None = None
    beta: float = 1.0
    asset_sigma: float = 0.001
    own_market: MarketParams | None = None
    feed_rules: tuple = ()
    read_guards: tuple = ()
    platform_faults: tuple = ()

    _constraints = {
        "n_platforms": Interval(Integral, 1, None),
        "sharing": Interval(Real, 0, 1),
        "n_sources": Interval(Integral, 1, None),
        "venue_sigma": Interval(Real, 0, None),
        "probe_health": Interval(Real, 0, None, closed="neither"),
        "sync_window": Interval(Integral, 1, None),
        "flow_window": Interval(Integral, 1, None),
        "collateral_sharing": Interval(Real, 0, 1),
        "beta": Interval(Real, -10, 10),
        "asset_sigma": Interval(Real, 0, None),
    }
    _optional = ("collateral_sharing",)

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.identical_books, (bool, np.bool_)):
            raise TypeError(f"identical_books must be True or False; got {self.identical_books!r}")
        if self.topology not in TOPOLOGIES:
            raise ValueError(f"topology must be one of {sorted(TOPOLOGIES)}; got {self.topology!r}")
        for name, kind in (("platform", PlatformParams), ("population", PopulationParams), ("market", MarketParams),
                           ("shared_oracle", OracleParams), ("own_oracles", OracleRanges)):
            if not isinstance(getattr(self, name), kind):
                raise TypeError(f"{name} must be a {kind.__name__}; got {type(getattr(self, name)).__name__}")
        if not hasattr(self.scenario, "path") or not hasattr(self.scenario, "n_steps"):
            raise TypeError(f"scenario must be a scenario object (e.g. CrashScenario); got {type(self.scenario).__name__}")
        if self.own_market is not None and not isinstance(self.own_market, MarketParams):
            raise TypeError(f"own_market must be a MarketParams or None; got {type(self.own_market).__name__}")
        n_sc = getattr(self.scenario, "n_assets", 1)
        if self.collateral_sharing is None and n_sc != 1:
            raise ValueError(f"scenario has {n_sc} assets: set collateral_sharing in [0, 1] (who holds which asset); "
                             f"got None")
        if self.collateral_sharing is not None and n_sc not in (1, self.n_platforms + 1):
            raise ValueError(f"scenario must have 1 or n_platforms + 1 = {self.n_platforms + 1} assets when "
                             f"collateral_sharing is set; got {n_sc}")
        object.__setattr__(self, "venue_faults", _faults("venue_faults", self.venue_faults, VenueFault))
        object.__setattr__(self, "oracle_faults", _faults("oracle_faults", self.oracle_faults, OracleFault))
        object.__setattr__(self, "feed_rules", _faults("feed_rules", self.feed_rules, FeedRule))
        object.__setattr__(self, "read_guards", _faults("read_guards", self.read_guards, ReadGuard))
        object.__setattr__(self, "platform_faults", _faults("platform_faults", self.platform_faults, PlatformFault))
        for f in self.platform_faults:
            f.check_against(self.scenario.n_steps, self.n_platforms)
        n_steps = self.scenario.n_steps
        for f in self.venue_faults:
            f.check_against(n_steps, self.n_oracles * self.n_sources)
        for f in self.oracle_faults:
            f.check_against(n_steps, self.n_oracles, self.n_platforms + 1)

    @property
    def n_steps(self):
        return self.scenario.n_steps

    @property
    def n_assets(self):
        """1 (v1) or ``n_platforms + 1`` (the two-channel world)."""
        return 1 if self.collateral_sharing is None else self.n_platforms + 1

    @property
    def n_oracles(self):
        """Feeds: one per provider (``n_platforms + 1``) and asset."""
        return (self.n_platforms + 1) * self.n_assets

    def markets(self):
        """One MarketParams per asset."""
        own = self.market if self.own_market is None else self.own_market
        return (self.market,) + (own,) * (self.n_assets - 1)


def build(config=None, seed=0, *, x_t=None, venue_noise_tv=None, books=None, x_ta=None):
    """Turn a :class:`Config` and a seed into an explicit :class:`World`.

    ``x_t`` (one asset) or ``x_ta`` (several), ``venue_noise_tv`` and
    ``books`` replace the drawn ones when given. The seed is split into
    independent streams (path, venue noise, books, oracle parameters), so a
    change of ``sharing``, ``collateral_sharing`` or ``topology`` keeps the
    path, noise and books of the same seed. In the two-channel world asset 0's
    path, its venues' noise and the books' draws are the ones of the
    one-asset world with the same seed: at ``collateral_sharing=1`` asset 0
    runs exactly the v1 scenario, beside idle own assets.
    """
    config = Config() if config is None else config
    if not isinstance(config, Config):
        raise TypeError(f"config must be a Config; got {type(config).__name__}")
    rng = streams(seed)
    K, T, A = config.n_platforms, config.n_steps, config.n_assets
    own = config.own_oracles.draw(rng["oracle_params"], K)
    two = config.collateral_sharing is not None
    platform_asset = collateral_assets(config.collateral_sharing, K) if two else None
    topo = TOPOLOGIES[config.topology](config.sharing, config.shared_oracle, own, config.n_sources,
                                       platform_asset=platform_asset, n_assets=A)
    if two:
        if x_t is not None:
            raise ValueError("x_t is the one-asset path: give x_ta, shape (n_steps, n_assets), in a two-channel world")
        if x_ta is None:
            sc = config.scenario
            if sc.n_assets == 1:
                sc = FactorScenario(sc, n_assets=A, beta=config.beta, sigma=config.asset_sigma)
            x_ta = sc.path(rng["path"])
        x_ta = check_array("x_ta", x_ta, shape=(T, A))
        x0 = x_ta[:, 0]
    else:
        if x_ta is not None:
            raise ValueError("x_ta is for a two-channel world (collateral_sharing set); give x_t, shape (n_steps,)")
        if x_t is None:
            x_t = config.scenario.path(rng["path"])
        x0 = x_t = check_array("x_t", x_t, shape=(T,))
    if venue_noise_tv is None:
        n0 = (K + 1) * config.n_sources  # asset 0's venues: the v1 draw
        venue_noise_tv = draw_venue_noise(rng["venue_noise"], T, np.full(n0, config.venue_sigma))
        if topo.n_venues > n0:
            more = draw_venue_noise(rng["venue_noise_assets"], T, np.full(topo.n_venues - n0, config.venue_sigma))
            venue_noise_tv = np.hstack([venue_noise_tv, more])
    else:
        # the topology fixes the venue count: a wrong shape is named here, not as a bad source index
        venue_noise_tv = check_array("venue_noise_tv", venue_noise_tv, shape=(T, topo.n_venues))
    price0 = math.exp(x0[0])
    p = config.platform
    if books is None:
        assets = platform_asset or (0,) * K
        price_a = [math.exp(x_ta[0, a]) for a in range(A)] if two else [price0]
        tag = (lambda a: a) if two else (lambda a: None)
        if config.identical_books:
            base = draw_book(rng["books"], config.population, price_a[0], p.lt_of(0))
            books = tuple(base if not two else
                          Book(base.collateral, base.debt * ((price_a[a] * p.lt_of(a)) / (price_a[0] * p.lt_of(0))),
                               np.full(base.n_accounts, a)) for a in assets)
        else:
            books = tuple(draw_book(rng["books"], config.population, price_a[a], p.lt_of(a), tag(a)) for a in assets)
    elif isinstance(books, Book):
        books = (books,) * K
    probe = (1.0, price0 * p.lt_of(0) / config.probe_health)
    extra = {}
    if config.feed_rules:
        extra["feed_rules"] = (config.feed_rules,) * len(topo.oracles)
    if config.read_guards:
        extra["read_guards"] = tuple(_guards_for(config.read_guards, j, k, K) for k, j in enumerate(topo.platform_oracle))
    if config.platform_faults:
        extra["platform_faults"] = config.platform_faults
    if two:
        extra.update(x_ta=x_ta, venue_asset=topo.venue_asset, oracle_provider=topo.oracle_provider)
    return World(
        x_t=x0 if not two else None, venue_noise_tv=venue_noise_tv, oracles=topo.oracles, platforms=(p,) * K,
        platform_oracle=topo.platform_oracle, books=tuple(books),
        market=config.market if not two else config.markets(),
        venue_faults=config.venue_faults, oracle_faults=config.oracle_faults, probe=probe,
        sync_window=config.sync_window, flow_window=config.flow_window, **extra,
    )


def _guards_for(guards, feed, platform, n_platforms):
    """Platform ``platform``'s copy of the guard chain: a Fallback without a feed gets the other provider's."""
    P = n_platforms + 1
    asset, provider = divmod(feed, P)
    other = platform + 1 if provider == 0 else 0
    return tuple(g.replace(feed=asset * P + other) if isinstance(g, Fallback) and g.feed is None else g
                 for g in guards)
