r"""The simulation loop: one entry point, :func:`simulate` (MODEL.md, order of work).

Inside step :math:`t`: (1) market price :math:`m_t = e^{x_t - \kappa_t}`;
(2) venue prices; (3) each oracle observes and publishes :math:`\pi^j_t`;
(4) every platform runs one liquidation round against the price it reads;
(5) the step's sales :math:`Q_t` give :math:`\kappa_{t+1}`. Platforms act
simultaneously, so their order never matters.

:func:`simulate` = :func:`build` (config + seed -> an explicit :class:`World`)
then :func:`run` (a World -> a :class:`Result`). Every random input of a World
can be given by hand instead.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np

from . import measures as _m
from ._random import streams
from ._validation import Interval, Validated, check_array, check_index, check_scalar
from .accounts import Book, PopulationParams, draw_book
from .margin import Ledger, PlatformParams
from .market import MarketParams
from .oracles import OracleFault, OracleParams, Publisher
from .scenarios import CrashScenario, ReplayScenario
from .topology import TOPOLOGIES
from .venues import VenueFault, draw_venue_noise, venue_factors

__all__ = ["OracleRanges", "Config", "World", "Result", "build", "run", "simulate"]


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

    _constraints = {
        "n_platforms": Interval(Integral, 1, None),
        "sharing": Interval(Real, 0, 1),
        "n_sources": Interval(Integral, 1, None),
        "venue_sigma": Interval(Real, 0, None),
        "probe_health": Interval(Real, 0, None, closed="neither"),
        "sync_window": Interval(Integral, 1, None),
        "flow_window": Interval(Integral, 1, None),
    }

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
        object.__setattr__(self, "venue_faults", _faults("venue_faults", self.venue_faults, VenueFault))
        object.__setattr__(self, "oracle_faults", _faults("oracle_faults", self.oracle_faults, OracleFault))
        n_steps = self.scenario.n_steps
        for f in self.venue_faults:
            f.check_against(n_steps, (self.n_platforms + 1) * self.n_sources)
        for f in self.oracle_faults:
            f.check_against(n_steps, self.n_platforms + 1)

    @property
    def n_steps(self):
        return self.scenario.n_steps


def _faults(name, faults, kind):
    if isinstance(faults, kind):
        faults = (faults,)
    faults = tuple(faults)
    for f in faults:
        if not isinstance(f, kind):
            raise TypeError(f"{name} must hold {kind.__name__} objects; got {type(f).__name__}")
    return faults


@dataclass(frozen=True, eq=False)
class World:
    """Fully explicit inputs of one run: nothing random is left.

    Parameters
    ----------
    x_t : array, shape (n_steps,), log USD: fundamental log-price path
    venue_noise_tv : array, shape (n_steps, n_venues), log noise ``eps``
    oracles : tuple of OracleParams, length n_oracles (sources index venues)
    platforms : tuple of PlatformParams, length n_platforms
    platform_oracle : tuple of int, length n_platforms, oracle each platform reads
    books : tuple of Book, length n_platforms
    market : MarketParams
    venue_faults, oracle_faults : tuples of faults
    probe : (collateral units, debt USD), the twin-dispersion probe
    sync_window, flow_window : int, steps
    """

    x_t: np.ndarray
    venue_noise_tv: np.ndarray
    oracles: tuple
    platforms: tuple
    platform_oracle: tuple
    books: tuple
    market: MarketParams = MarketParams()
    venue_faults: tuple = ()
    oracle_faults: tuple = ()
    probe: tuple = (1.0, 1000.0)
    sync_window: int = 1
    flow_window: int = 10

    def __post_init__(self):
        x = check_array("x_t", self.x_t, shape=(None,))
        if x.size == 0:
            raise ValueError("n_steps must be in [1, inf); got 0 (x_t is empty)")
        if np.abs(x).max() > 700:
            raise ValueError(f"x_t must be a log price in [-700, 700]; got {x[np.argmax(np.abs(x))]!r}")
        T = x.size
        noise = self.venue_noise_tv
        noise = check_array("venue_noise_tv", noise, shape=(T, None))
        if noise.shape[1] == 0:
            raise ValueError("venue_noise_tv must have at least one venue column; got 0")
        # exp() of a venue log price beyond 709 is inf: refuse it here rather than publish inf
        log_venue = np.abs(x[:, None] + noise)
        if log_venue.max() > 700:
            i = tuple(int(a) for a in np.unravel_index(int(np.argmax(log_venue)), log_venue.shape))
            raise ValueError(f"x_t + venue_noise_tv (venue log prices) must be in [-700, 700]; "
                             f"got {(x[i[0]] + noise[i]).item()!r} at index {i}")
        V = noise.shape[1]
        oracles = tuple(self.oracles)
        if not oracles:
            raise ValueError("oracles must hold at least 1 OracleParams; got 0")
        for j, o in enumerate(oracles):
            if not isinstance(o, OracleParams):
                raise TypeError(f"oracles[{j}] must be an OracleParams; got {type(o).__name__}")
            for v in o.sources:
                check_index(f"oracles[{j}].sources", v, V, "venue index")
        platforms, books, po = tuple(self.platforms), tuple(self.books), tuple(self.platform_oracle)
        K = len(platforms)
        if K == 0:
            raise ValueError("n_platforms must be in [1, inf); got 0")
        if len(books) != K or len(po) != K:
            raise ValueError(f"books and platform_oracle must have length n_platforms={K}; got {len(books)} and {len(po)}")
        for k in range(K):
            if not isinstance(platforms[k], PlatformParams):
                raise TypeError(f"platforms[{k}] must be a PlatformParams; got {type(platforms[k]).__name__}")
            if not isinstance(books[k], Book):
                raise TypeError(f"books[{k}] must be a Book; got {type(books[k]).__name__}")
            check_index(f"platform_oracle[{k}]", po[k], len(oracles), "oracle index")
        for f in _faults("venue_faults", self.venue_faults, VenueFault):
            f.check_against(T, V)
        for f in _faults("oracle_faults", self.oracle_faults, OracleFault):
            f.check_against(T, len(oracles))
        probe = check_array("probe", self.probe, shape=(2,), interval=Interval(Real, 0, None, "neither"))
        for name in ("sync_window", "flow_window"):
            object.__setattr__(self, name, check_scalar(name, getattr(self, name), Interval(Integral, 1, None)))
        x.flags.writeable = False
        noise.flags.writeable = False
        object.__setattr__(self, "x_t", x)
        object.__setattr__(self, "venue_noise_tv", noise)
        object.__setattr__(self, "oracles", oracles)
        object.__setattr__(self, "platforms", platforms)
        object.__setattr__(self, "books", books)
        object.__setattr__(self, "platform_oracle", tuple(int(j) for j in po))
        object.__setattr__(self, "venue_faults", _faults("venue_faults", self.venue_faults, VenueFault))
        object.__setattr__(self, "oracle_faults", _faults("oracle_faults", self.oracle_faults, OracleFault))
        object.__setattr__(self, "probe", (float(probe[0]), float(probe[1])))

    n_steps = property(lambda self: self.x_t.size)
    n_venues = property(lambda self: self.venue_noise_tv.shape[1])
    n_oracles = property(lambda self: len(self.oracles))
    n_platforms = property(lambda self: len(self.platforms))

    def __repr__(self):
        return (f"World(n_steps={self.n_steps}, n_venues={self.n_venues}, n_oracles={self.n_oracles}, "
                f"n_platforms={self.n_platforms}, platform_oracle={self.platform_oracle}, "
                f"n_accounts={[b.n_accounts for b in self.books]})")


def build(config=None, seed=0, *, x_t=None, venue_noise_tv=None, books=None):
    """Turn a :class:`Config` and a seed into an explicit :class:`World`.

    ``x_t``, ``venue_noise_tv`` and ``books`` replace the drawn ones when given.
    The seed is split into independent streams (path, venue noise, books,
    oracle parameters), so a change of ``sharing`` or ``topology`` keeps the
    path, noise and books of the same seed.
    """
    config = Config() if config is None else config
    if not isinstance(config, Config):
        raise TypeError(f"config must be a Config; got {type(config).__name__}")
    rng = streams(seed)
    K = config.n_platforms
    own = config.own_oracles.draw(rng["oracle_params"], K)
    topo = TOPOLOGIES[config.topology](config.sharing, config.shared_oracle, own, config.n_sources)
    if x_t is None:
        x_t = config.scenario.path(rng["path"])
    x_t = check_array("x_t", x_t, shape=(config.n_steps,))
    if venue_noise_tv is None:
        venue_noise_tv = draw_venue_noise(rng["venue_noise"], config.n_steps, np.full(topo.n_venues, config.venue_sigma))
    else:
        # the topology fixes the venue count: a wrong shape is named here, not as a bad source index
        venue_noise_tv = check_array("venue_noise_tv", venue_noise_tv, shape=(config.n_steps, topo.n_venues))
    price0 = math.exp(x_t[0])
    lt = config.platform.lt
    if books is None:
        if config.identical_books:
            books = (draw_book(rng["books"], config.population, price0, lt),) * K
        else:
            books = tuple(draw_book(rng["books"], config.population, price0, lt) for _ in range(K))
    elif isinstance(books, Book):
        books = (books,) * K
    probe = (1.0, price0 * lt / config.probe_health)
    return World(
        x_t=x_t, venue_noise_tv=venue_noise_tv, oracles=topo.oracles, platforms=(config.platform,) * K,
        platform_oracle=topo.platform_oracle, books=tuple(books), market=config.market,
        venue_faults=config.venue_faults, oracle_faults=config.oracle_faults, probe=probe,
        sync_window=config.sync_window, flow_window=config.flow_window,
    )


EVENT_FIELDS = ("t", "platform", "account", "seized_units", "repaid_usd", "bad_debt_usd", "oracle_price")


@dataclass(eq=False)
class Result:
    """Everything one run produced (MODEL.md §6). ``T`` steps, ``V`` venues, ``J`` oracles, ``K`` platforms.

    Attributes
    ----------
    world : World, the inputs
    x_t : (T,) log USD, fundamental log price
    kappa_t : (T,) log units, impact state in force at step t (>= 0)
    market_t : (T,) USD, market price m_t
    venue_tv : (T, V) USD, venue prices
    raw_tj : (T, J) USD, oracles' raw observations r_t (before latency)
    oracle_tj : (T, J) USD, published prices pi_t as platforms read them (overrides applied)
    price_tk : (T, K) USD, the oracle price each platform read
    count_tk : (T, K) int, accounts liquidated per step and platform
    notional_tk : (T, K) USD, collateral sold per step and platform, valued at m_t
    repaid_tk : (T, K) USD, debt repaid
    bad_debt_tk : (T, K) USD, bad debt written off
    events : dict of arrays, one entry per liquidation, keys EVENT_FIELDS
        (``t``, ``platform``, ``account``, ``seized_units``, ``repaid_usd``,
        ``bad_debt_usd``, ``oracle_price``), in step, platform, processing order
    collateral_k, debt_k : tuples of (n_accounts,) arrays, balances at the end
    measures : Measures
    """

    world: World
    x_t: np.ndarray
    kappa_t: np.ndarray
    market_t: np.ndarray
    venue_tv: np.ndarray
    raw_tj: np.ndarray
    oracle_tj: np.ndarray
    count_tk: np.ndarray
    notional_tk: np.ndarray
    repaid_tk: np.ndarray
    bad_debt_tk: np.ndarray
    events: dict
    collateral_k: tuple
    debt_k: tuple
    measures: _m.Measures = field(init=False)

    def __post_init__(self):
        w = self.world
        self.price_tk = self.oracle_tj[:, list(w.platform_oracle)]
        thresholds = np.array([w.probe[1] / (w.probe[0] * p.lt) for p in w.platforms])
        disp, count = _m.twin_dispersion(self.price_tk, thresholds)
        bad_k = self.bad_debt_tk.sum(axis=0)
        self.measures = _m.Measures(
            synchrony=_m.liquidation_synchrony(self.notional_tk, w.sync_window),
            twin_dispersion=disp,
            twin_count=count,
            peak_flow_share=_m.peak_flow_share(self.notional_tk, w.flow_window),
            excess_drawdown=_m.excess_drawdown(self.kappa_t),
            fundamental_drawdown=_m.fundamental_drawdown(self.x_t),
            bad_debt=float(bad_k.sum()),
            liquidated_usd=float(self.notional_tk.sum()),
            bad_debt_k=tuple(float(b) for b in bad_k),
        )

    @property
    def n_steps(self):
        return self.x_t.size

    @property
    def bad_debt_k(self):
        """(K,) USD, bad debt per platform."""
        return self.bad_debt_tk.sum(axis=0)

    def events_frame(self):
        """The event log as a pandas DataFrame, one row per liquidation."""
        import pandas as pd

        return pd.DataFrame({k: self.events[k] for k in EVENT_FIELDS})

    def __repr__(self):
        m = self.measures
        return (f"Result(n_steps={self.n_steps}, n_platforms={self.world.n_platforms}, "
                f"liquidations={self.events['t'].size}, synchrony={m.synchrony:.3f}, "
                f"twin_dispersion={m.twin_dispersion:.2f} steps over {m.twin_count}, "
                f"peak_flow_share={m.peak_flow_share:.3f}, excess_drawdown={m.excess_drawdown:.4f}, "
                f"bad_debt={m.bad_debt:,.0f} USD)")


def _median_rows(a):
    """Median of each row of ``a`` (shape (T, S)), as ``np.median(a, axis=1)`` but cheaper for small S."""
    s = np.sort(a, axis=1)
    mid = s.shape[1] // 2
    return s[:, mid] if s.shape[1] % 2 else 0.5 * (s[:, mid - 1] + s[:, mid])


def _raw_at_unit_kappa(unit_tv, oracles):
    # median{m * a_v} = m * median{a_v} for m > 0: the raw observations scale
    # with exp(-kappa_t) exactly, so they are computed for all steps at once
    # and only steps with a frozen venue need the per-step path.
    return np.column_stack([_median_rows(unit_tv[:, list(o.sources)]) for o in oracles])


def run(world):
    """Run one scenario with fully explicit inputs. See :class:`Result`.

    Everything that does not depend on the impact state is computed for all
    steps before the loop (venue factors, raw observations at ``kappa = 0``);
    the loop itself works on Python floats, touches a platform's ledger only
    when its price falls below the ledger's highest liquidation price, and
    collects the event log as one array piece per liquidation round.
    """
    if not isinstance(world, World):
        raise TypeError(f"world must be a World; got {type(world).__name__}")
    T, K = world.n_steps, world.n_platforms
    ex_t = np.exp(world.x_t)
    factor_tv, frozen_tv = venue_factors(world.venue_noise_tv, world.venue_faults)
    unit_tv = ex_t[:, None] * factor_tv
    unit_raw_rows = _raw_at_unit_kappa(unit_tv, world.oracles).tolist()
    frozen_t = frozen_tv.any(axis=1).tolist()
    source_lists = [list(o.sources) for o in world.oracles]

    publisher = Publisher(world.oracles, T, world.oracle_faults)
    ledgers = [Ledger(b, p) for b, p in zip(world.books, world.platforms)]
    next_pstar = [lg.next_pstar for lg in ledgers]
    platform_oracle = world.platform_oracle
    keep, depth = 1.0 - world.market.resilience, world.market.depth

    kappa_list, market_list = [], []
    count_tk = np.zeros((T, K), dtype=np.int64)
    notional_tk, repaid_tk, bad_tk = np.zeros((T, K)), np.zeros((T, K)), np.zeros((T, K))
    held_rows = {}
    log = _EventPieces()
    kappa = 0.0
    for t, ex in enumerate(ex_t.tolist()):
        scale = math.exp(-kappa)
        m = ex * scale
        kappa_list.append(kappa)
        market_list.append(m)
        if frozen_t[t]:
            prev = held_rows.get(t - 1)
            if prev is None:
                prev = unit_tv[t - 1] * math.exp(-kappa_list[t - 1])
            row = np.where(frozen_tv[t], prev, unit_tv[t] * scale)
            held_rows[t] = row
            raw = [float(np.median(row[s])) for s in source_lists]
        else:
            raw = [u * scale for u in unit_raw_rows[t]]
        price_j = publisher.step(t, raw)
        sold = 0.0
        for k in range(K):
            price = price_j[platform_oracle[k]]
            if price >= next_pstar[k]:  # no open account has p* above the price
                continue
            ledger = ledgers[k]
            out = ledger.liquidate(price)
            if out is None:
                continue
            idx, seized, repaid, bad = out
            next_pstar[k] = ledger.next_pstar
            usd = float(seized.sum()) * m
            bad_usd = float(bad.sum())
            count_tk[t, k] = idx.size
            notional_tk[t, k] = usd
            repaid_tk[t, k] = repaid.sum()
            bad_tk[t, k] = bad_usd
            sold += usd
            log.add(t, k, idx, seized, repaid, bad if bad_usd > 0 else None, price)
        kappa = keep * kappa + sold / depth

    kappa_t, market_t = np.array(kappa_list), np.array(market_list)
    venue_tv = unit_tv * np.exp(-kappa_t)[:, None]
    for t, row in held_rows.items():
        venue_tv[t] = row
    return Result(
        world=world, x_t=world.x_t, kappa_t=kappa_t, market_t=market_t, venue_tv=venue_tv,
        raw_tj=publisher.raw_tj, oracle_tj=publisher.price_tj, count_tk=count_tk,
        notional_tk=notional_tk, repaid_tk=repaid_tk, bad_debt_tk=bad_tk, events=log.arrays(),
        collateral_k=tuple(lg.collateral for lg in ledgers), debt_k=tuple(lg.debt for lg in ledgers),
    )


class _EventPieces:
    """The event log while a run goes: one array piece per (step, platform) round.

    :meth:`arrays` joins the pieces into the arrays of ``Result.events`` one
    field at a time, dropping each field's pieces once joined, so that a run
    with millions of liquidations never holds the log twice over.
    """

    def __init__(self):
        self.t, self.platform, self.price = [], [], []
        self.account, self.seized, self.repaid, self.bad = [], [], [], []

    def add(self, t, k, idx, seized, repaid, bad, price):
        """One round's events; ``bad`` is None when the round made no bad debt."""
        self.t.append(t)
        self.platform.append(k)
        self.price.append(price)
        self.account.append(idx)
        self.seized.append(seized)
        self.repaid.append(repaid)
        self.bad.append(bad)

    def arrays(self):
        sizes = np.array([a.size for a in self.account], dtype=np.int64)
        n = int(sizes.sum())

        def joined(pieces, dtype):
            out = np.concatenate(pieces).astype(dtype, copy=False) if pieces else np.empty(0, dtype)
            pieces.clear()
            return out

        bad = np.zeros(n)
        ends = np.cumsum(sizes)
        for end, size, piece in zip(ends.tolist(), sizes.tolist(), self.bad):
            if piece is not None:
                bad[end - size:end] = piece
        self.bad.clear()
        return {
            "t": np.repeat(np.array(self.t, dtype=np.int64), sizes),
            "platform": np.repeat(np.array(self.platform, dtype=np.int64), sizes),
            "account": joined(self.account, np.int64),
            "seized_units": joined(self.seized, float),
            "repaid_usd": joined(self.repaid, float),
            "bad_debt_usd": bad,
            "oracle_price": np.repeat(np.array(self.price, dtype=float), sizes),
        }


def simulate(config=None, seed=0, **explicit):
    """Run a scenario: ``run(build(config, seed, **explicit))``.

    Parameters
    ----------
    config : Config, default ``Config()`` (the classroom scenario)
    seed : int, SeedSequence or Generator
    **explicit : ``x_t``, ``venue_noise_tv`` or ``books`` to use instead of drawing them

    Examples
    --------
    >>> from coupling_lab import Config, simulate
    >>> r = simulate(Config(sharing=1.0), seed=1)
    >>> r.measures.twin_count
    5
    """
    return run(build(config, seed, **explicit))
