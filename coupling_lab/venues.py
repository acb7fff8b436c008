r"""Venues: the price sources oracles read (MODEL.md §2).

.. math::

    p^v_t = m_t \exp(\varepsilon^v_t)

with iid normal venue noise :math:`\varepsilon^v_t \sim N(0, \sigma_v^2)`
unless given explicitly. Faults override a venue in a window ``[t0, t1)``:
``spike`` multiplies its price by ``factor``; ``freeze`` holds the last value
it showed before ``t0`` (a freeze starting at step 0 holds its step-0 price).
"""
from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

from ._validation import Interval, Validated, check_array, check_index

__all__ = ["VenueFault", "spike", "freeze", "draw_venue_noise", "venue_factors"]


@dataclass(frozen=True)
class VenueFault(Validated):
    """A venue fault active on steps ``t0 <= t < t1``.

    Parameters
    ----------
    kind : {"spike", "freeze"}
    venue : int, venue index in [0, n_venues - 1]
    t0, t1 : int, steps, ``0 <= t0 < t1 <= n_steps``
    factor : float in (0, inf), multiplier of a spike (ignored by freeze)
    """

    kind: str
    venue: int
    t0: int
    t1: int
    factor: float = 1.0

    _constraints = {
        "venue": Interval(Integral, 0, None),
        "t0": Interval(Integral, 0, None),
        "t1": Interval(Integral, 1, None),
        "factor": Interval(Real, 0, None, closed="neither"),
    }

    def __post_init__(self):
        if self.kind not in ("spike", "freeze"):
            raise ValueError(f"venue fault kind must be 'spike' or 'freeze'; got {self.kind!r}")
        super().__post_init__()
        if self.t1 <= self.t0:
            raise ValueError(f"fault window must have t0 < t1; got t0={self.t0}, t1={self.t1}")

    def check_against(self, n_steps, n_venues):
        check_index("venue fault venue", self.venue, n_venues, "venue index")
        if self.t1 > n_steps:
            raise ValueError(f"venue fault window must lie in [0, {n_steps}]; got t0={self.t0}, t1={self.t1}")


def spike(venue, t0, t1, factor):
    """Venue ``venue`` shows ``factor`` times its price on steps ``t0 <= t < t1``."""
    return VenueFault("spike", venue, t0, t1, factor)


def freeze(venue, t0, t1):
    """Venue ``venue`` holds its last price on steps ``t0 <= t < t1``."""
    return VenueFault("freeze", venue, t0, t1)


def draw_venue_noise(rng, n_steps, sigma_v):
    r"""Iid normal log-noise :math:`\varepsilon^v_t`, shape ``(n_steps, n_venues)``.

    ``sigma_v`` is one standard deviation per venue (log units per step).
    """
    sigma_v = np.asarray(sigma_v, dtype=float)
    return rng.standard_normal((n_steps, sigma_v.size)) * sigma_v


def venue_factors(noise_tv, faults):
    """Multiplicative factors ``exp(eps) * spikes`` and the freeze mask.

    Returns
    -------
    factor_tv : ndarray, shape (n_steps, n_venues)
        Venue price over market price where no freeze is active.
    frozen_tv : ndarray of bool, shape (n_steps, n_venues)
        Where a freeze holds the venue's previous price.
    """
    factor_tv = np.exp(noise_tv)
    frozen_tv = np.zeros(noise_tv.shape, dtype=bool)
    for f in faults:
        if f.kind == "spike":
            factor_tv[f.t0:f.t1, f.venue] *= f.factor
        else:
            # step 0 has no earlier price to hold: it prices normally
            frozen_tv[max(f.t0, 1):f.t1, f.venue] = True
    return factor_tv, frozen_tv


def check_noise(noise_tv, n_steps, n_venues):
    return check_array("venue_noise", noise_tv, shape=(n_steps, n_venues))
