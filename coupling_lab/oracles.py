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
"""
from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

from ._validation import Interval, Validated, check_array, check_index

__all__ = ["OracleParams", "OracleFault", "stale", "override", "publish"]


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
    """An oracle fault on steps ``t0 <= t < t1``: kind ``"stale"`` or ``"override"``."""

    kind: str
    oracle: int
    t0: int
    t1: int
    factor: float = 1.0

    _constraints = {
        "oracle": Interval(Integral, 0, None),
        "t0": Interval(Integral, 0, None),
        "t1": Interval(Integral, 1, None),
        "factor": Interval(Real, 0, None, closed="neither"),
    }

    def __post_init__(self):
        if self.kind not in ("stale", "override"):
            raise ValueError(f"oracle fault kind must be 'stale' or 'override'; got {self.kind!r}")
        super().__post_init__()
        if self.t1 <= self.t0:
            raise ValueError(f"fault window must have t0 < t1; got t0={self.t0}, t1={self.t1}")

    def check_against(self, n_steps, n_oracles):
        check_index("oracle fault oracle", self.oracle, n_oracles, "oracle index")
        if self.t1 > n_steps:
            raise ValueError(f"oracle fault window must lie in [0, {n_steps}]; got t0={self.t0}, t1={self.t1}")


def stale(oracle, t0, t1):
    """Oracle ``oracle`` publishes nothing on steps ``t0 <= t < t1``."""
    return OracleFault("stale", oracle, t0, t1)


def override(oracle, t0, t1, factor):
    """Platforms reading ``oracle`` see ``factor`` times its price on ``t0 <= t < t1``."""
    return OracleFault("override", oracle, t0, t1, factor)


class Publisher:
    """State of ``J`` oracles publishing step by step (vectorised over oracles).

    The simulation feeds it one row of raw observations per step; it returns
    the prices platforms read. Kept separate from the loop so that
    :func:`publish` (no feedback) and the engine share one rule.
    """

    def __init__(self, oracles, n_steps, faults=()):
        J = len(oracles)
        self.theta = np.array([o.theta for o in oracles], dtype=float)
        self.heartbeat = np.array([o.heartbeat for o in oracles], dtype=np.int64)
        self.latency = np.array([o.latency for o in oracles], dtype=np.int64)
        self.any_latency = bool(self.latency.any())
        self.cols = np.arange(J)
        self.raw_tj = np.empty((n_steps, J))
        self.price_tj = np.empty((n_steps, J))
        self.pub = np.empty(J)
        self.last = np.zeros(J, dtype=np.int64)
        self.stale_tj = np.zeros((n_steps, J), dtype=bool)
        self.override_tj = np.ones((n_steps, J))
        for f in faults:
            if f.kind == "stale":
                self.stale_tj[f.t0:f.t1, f.oracle] = True
            else:
                self.override_tj[f.t0:f.t1, f.oracle] *= f.factor
        self.stale_t = self.stale_tj.any(axis=1)
        self.override_t = (self.override_tj != 1.0).any(axis=1)

    def step(self, t, raw_j):
        """Record ``r_t`` (shape (J,)) and return ``pi_t`` as platforms read it."""
        self.raw_tj[t] = raw_j
        if self.any_latency:
            cand = self.raw_tj[np.maximum(t - self.latency, 0), self.cols]
        else:
            cand = self.raw_tj[t]
        if t == 0:
            self.pub[:] = cand
        else:
            upd = (np.abs(cand / self.pub - 1.0) > self.theta) | (t - self.last >= self.heartbeat)
            if self.stale_t[t]:
                upd &= ~self.stale_tj[t]
            self.pub[upd] = cand[upd]
            self.last[upd] = t
        row = self.price_tj[t]
        if self.override_t[t]:
            np.multiply(self.pub, self.override_tj[t], out=row)
        else:
            row[:] = self.pub
        return row


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
    for t in range(n_steps):
        pubr.step(t, raw_tj[t])
    return pubr.price_tj
