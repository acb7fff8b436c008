r"""Push oracles: median of sources, latency, deviation threshold, heartbeat (MODEL.md §3).

Oracle :math:`j` reads venues :math:`S_j` and observes
:math:`r^j_t = \operatorname{median}\{p^v_t : v \in S_j\}`. Its candidate at
step :math:`t` is :math:`r^j_{t-L_j}` (with :math:`r^j_s = r^j_0` for
:math:`s < 0`), and it publishes

.. math::

    \pi^j_t = \begin{cases}
      r^j_{t-L_j} & \text{if } |r^j_{t-L_j} / \pi^j_{t-1} - 1| > \theta_j
                    \text{ or } t - \text{last}_j \ge H_j \\
      \pi^j_{t-1} & \text{otherwise,}
    \end{cases}

publishing the candidate unconditionally at :math:`t = 0`.

Faults in a window ``[t0, t1)``: ``stale`` suppresses publication (the feed
keeps its last price; step 0 always publishes, a feed has a first price);
``override`` multiplies the price platforms read by ``factor`` (a bad or
manipulated report) while the feed's own state continues on honest data, so
the report snaps back when the window ends.

With several assets (MODEL.md §8) each oracle is a *feed* of one asset, and
an oracle *provider* runs one feed per asset with common ``theta``, ``H``,
``L``. A provider is one fault domain: :func:`stale_provider` and
:func:`override_provider` hit every feed of the provider at once, whatever
asset it quotes.

**Feed-side rules** (the hook for MODEL.md §9's answer bounds) are objects
with ``bind(feed, world) -> accept`` where ``accept(t, candidate) -> bool``.
They are asked only at steps ``t > 0`` where the feed would publish; a
rejected candidate is not published (the clock keeps running, as under a
stale fault), and every platform reading the feed sees that.
"""
from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

from ._validation import Interval, Validated, check_array, check_index

__all__ = ["OracleParams", "OracleFault", "stale", "override", "stale_provider", "override_provider",
           "publish", "FeedRule"]


@dataclass(frozen=True)
class OracleParams(Validated):
    """One push oracle.

    Parameters
    ----------
    sources : tuple of int
        Venue indices the oracle takes the median of (non-empty, each in
        [0, n_venues - 1]).
    theta : float in [0, 1]
        Deviation threshold (0.005 = 0.5 %, Chainlink ETH/USD on Ethereum, FACTS.md).
    heartbeat : int, steps, in [1, inf)
        Longest time between publications (60 one-minute steps = 1 h).
    latency : int, steps, in [0, inf)
        Delay between observing and publishing.
    """

    sources: tuple = (0,)
    theta: float = 0.005
    heartbeat: int = 60
    latency: int = 0

    _constraints = {
        "theta": Interval(Real, 0, 1, closed="both"),
        "heartbeat": Interval(Integral, 1, None),
        "latency": Interval(Integral, 0, None),
    }

    def __post_init__(self):
        src = self.sources
        if isinstance(src, (Integral, str)) or not hasattr(src, "__len__") or len(src) == 0:
            raise ValueError(f"sources must be a non-empty sequence of venue indices; got {src!r}")
        src = tuple(src)
        for v in src:
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, Integral) or v < 0:
                raise ValueError(f"sources must hold venue indices in [0, n_venues - 1]; got {v!r}")
        object.__setattr__(self, "sources", tuple(int(v) for v in src))
        super().__post_init__()


@dataclass(frozen=True)
class OracleFault(Validated):
    """An oracle fault on steps ``t0 <= t < t1``: kind ``"stale"`` or ``"override"``.

    ``scope="feed"`` (default): ``oracle`` is a feed index. ``scope="provider"``:
    ``oracle`` is a provider index and the fault hits every feed it runs.
    """

    kind: str
    oracle: int
    t0: int
    t1: int
    factor: float = 1.0
    scope: str = "feed"

    _constraints = {
        "oracle": Interval(Integral, 0, None),
        "t0": Interval(Integral, 0, None),
        "t1": Interval(Integral, 1, None),
        "factor": Interval(Real, 0, None, closed="neither"),
    }

    def __post_init__(self):
        if self.kind not in ("stale", "override"):
            raise ValueError(f"oracle fault kind must be 'stale' or 'override'; got {self.kind!r}")
        if self.scope not in ("feed", "provider"):
            raise ValueError(f"oracle fault scope must be 'feed' or 'provider'; got {self.scope!r}")
        super().__post_init__()
        if self.t1 <= self.t0:
            raise ValueError(f"fault window must have t0 < t1; got t0={self.t0}, t1={self.t1}")

    def check_against(self, n_steps, n_oracles, n_providers=None):
        if self.scope == "provider":
            n = n_oracles if n_providers is None else n_providers
            check_index("oracle fault provider", self.oracle, n, "provider index")
        else:
            check_index("oracle fault oracle", self.oracle, n_oracles, "oracle index")
        if self.t1 > n_steps:
            raise ValueError(f"oracle fault window must lie in [0, {n_steps}]; got t0={self.t0}, t1={self.t1}")

    def feeds(self, oracle_provider):
        """The feed indices this fault hits, given each feed's provider."""
        if self.scope == "feed":
            return (self.oracle,)
        return tuple(j for j, p in enumerate(oracle_provider) if p == self.oracle)


def stale(oracle, t0, t1):
    """Oracle ``oracle`` publishes nothing on steps ``t0 <= t < t1``."""
    return OracleFault("stale", oracle, t0, t1)


def override(oracle, t0, t1, factor):
    """Platforms reading ``oracle`` see ``factor`` times its price on ``t0 <= t < t1``."""
    return OracleFault("override", oracle, t0, t1, factor)


def stale_provider(provider, t0, t1):
    """Every feed of oracle provider ``provider`` publishes nothing on ``t0 <= t < t1`` (an outage)."""
    return OracleFault("stale", provider, t0, t1, scope="provider")


def override_provider(provider, t0, t1, factor):
    """Every feed of ``provider`` reports ``factor`` times its price on ``t0 <= t < t1`` (a bad shared source)."""
    return OracleFault("override", provider, t0, t1, factor, scope="provider")


class FeedRule:
    """A feed-side rule: decides whether a feed may publish a candidate (MODEL.md §9).

    Subclasses implement :meth:`bind`; the engine asks the returned
    ``accept(t, candidate)`` only at steps ``t > 0`` where the feed would
    publish (deviation or heartbeat, no stale fault). Off by default: a world
    with no rules runs the plain publication rule of §3.
    """

    def bind(self, feed, world):
        """Return ``accept(t, candidate) -> bool`` for feed index ``feed`` of ``world``."""
        raise NotImplementedError


def fault_masks(faults, n_steps, n_oracles, oracle_provider=None):
    """Where each feed is stale, and the factor its readers see: ``(stale_tj, override_tj)``, shape (T, J).

    A provider-scope fault marks every feed of that provider (``oracle_provider``
    gives each feed's provider; ``None``: each feed its own). Overlapping
    overrides multiply.
    """
    stale_tj = np.zeros((n_steps, n_oracles), dtype=bool)
    override_tj = np.ones((n_steps, n_oracles))
    provider = tuple(range(n_oracles)) if oracle_provider is None else tuple(oracle_provider)
    for f in faults:
        for j in f.feeds(provider):
            if f.kind == "stale":
                stale_tj[f.t0:f.t1, j] = True
            else:
                override_tj[f.t0:f.t1, j] *= f.factor
    return stale_tj, override_tj


class Publisher:
    """State of ``J`` oracles publishing step by step.

    The simulation feeds it one row of raw observations per step, for
    ``t = 0, 1, 2, ...`` in order; it returns the prices platforms read. Kept
    separate from the loop so that :func:`publish` (no feedback) and the
    engine share one rule. The state is held in Python floats: with a handful
    of oracles a plain loop costs a few microseconds a step, less than numpy
    calls on arrays of length ``J`` would.
    """

    def __init__(self, oracles, n_steps, faults=(), rules=None, oracle_provider=None):
        J = len(oracles)
        self.n_oracles, self.n_steps = J, n_steps
        self.theta = [float(o.theta) for o in oracles]
        self.heartbeat = [int(o.heartbeat) for o in oracles]
        self.latency = [int(o.latency) for o in oracles]
        self._rule = list(zip(range(J), self.theta, self.heartbeat, self.latency))
        self.pub = [0.0] * J             # the feed's honest published price pi_{t-1}
        self.last = [0] * J              # step of its last publication
        self._raw_rows, self._price_rows = [], []
        stale_tj, override_tj = fault_masks(faults, n_steps, J, oracle_provider)
        # per step: None (no fault active) or one flag / factor per oracle
        self._stale = [None] * n_steps
        for t in np.flatnonzero(stale_tj.any(axis=1)):
            self._stale[t] = stale_tj[t].tolist()
        self._override = [None] * n_steps
        for t in np.flatnonzero((override_tj != 1.0).any(axis=1)):
            self._override[t] = override_tj[t].tolist()
        # feed-side rules: None, or per feed a list of accept(t, candidate) callables
        self._accept = None
        if rules is not None and any(rules):
            self._accept = [list(r) for r in rules]

    def step(self, t, raw_j):
        """Record ``r_t`` (``J`` floats) and return ``pi_t`` as platforms read it (a list)."""
        return self.publish_step(t, raw_j)

    def publish_step(self, t, raw_j):
        """Record ``r_t`` (``J`` floats) and return ``pi_t`` as platforms read it (a list)."""
        raw = raw_j if type(raw_j) is list else [float(v) for v in raw_j]
        rows, pub = self._raw_rows, self.pub
        rows.append(raw)
        if t == 0:
            pub[:] = raw  # latency reaches back to r_0 at t = 0
            self.last = [0] * self.n_oracles
        else:
            last, stale, accept = self.last, self._stale[t], self._accept
            for j, theta, hb, lat in self._rule:
                cand = raw[j] if lat == 0 else rows[t - lat if t > lat else 0][j]
                # a published 0 (market price underflowed under extreme impact): any positive
                # candidate deviates, as numpy's inf would say; 0 over 0 does not
                dev = abs(cand / pub[j] - 1.0) > theta if pub[j] else cand != 0.0
                if (dev or t - last[j] >= hb) and not (stale and stale[j]):
                    if accept is not None and not all(ok(t, cand) for ok in accept[j]):
                        continue
                    pub[j] = cand
                    last[j] = t
        factors = self._override[t]
        out = pub.copy() if factors is None else [p * f for p, f in zip(pub, factors)]
        self._price_rows.append(out)
        return out

    @property
    def raw_rows(self):
        """Raw observations so far: one list of ``J`` floats per step (for read-side guards)."""
        return self._raw_rows

    @property
    def current(self):
        """This step's published prices as platforms see them (a list of ``J`` floats)."""
        return self._price_rows[-1]

    @property
    def raw_tj(self):
        """(steps so far, J) USD: raw observations ``r_t``."""
        return np.array(self._raw_rows, dtype=float).reshape(len(self._raw_rows), self.n_oracles)

    @property
    def price_tj(self):
        """(steps so far, J) USD: published prices as platforms read them."""
        return np.array(self._price_rows, dtype=float).reshape(len(self._price_rows), self.n_oracles)


def publish(raw_tj, oracles, faults=()):
    """Published prices for a given raw observation path (no market feedback).

    Parameters
    ----------
    raw_tj : array, shape (n_steps, n_oracles), USD
        Raw observations ``r^j_t``, positive and finite.
    oracles : sequence of OracleParams, length n_oracles
    faults : sequence of OracleFault

    Returns
    -------
    price_tj : ndarray, shape (n_steps, n_oracles), USD

    Examples
    --------
    >>> publish([[100.0], [100.4], [101.0], [101.0]], [OracleParams(theta=0.005, heartbeat=3)])[:, 0]
    array([100., 100., 101., 101.])
    """
    oracles = tuple(oracles)
    raw_tj = check_array("raw_tj", raw_tj, shape=(None, len(oracles)), interval=Interval(Real, 0, None, "neither"))
    n_steps = raw_tj.shape[0]
    for f in faults:
        f.check_against(n_steps, len(oracles))
    pubr = Publisher(oracles, n_steps, faults)
    for t, row in enumerate(raw_tj.tolist()):
        pubr.step(t, row)
    return pubr.price_tj
