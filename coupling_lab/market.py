r"""Market with finite depth (MODEL.md §1).

The market price is the fundamental price depressed by the impact of forced
selling:

.. math::

    m_t = \exp(x_t - \kappa_t), \qquad
    \kappa_{t+1} = (1 - \rho)\,\kappa_t + Q_t / D, \qquad \kappa_0 = 0,

with :math:`Q_t` the USD notional sold by liquidations during step :math:`t`,
:math:`D` the depth (USD; selling ``0.01 * D`` moves the price about 1 %) and
:math:`\rho` the per-step resilience.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real

from ._validation import Interval, Validated

__all__ = ["MarketParams", "next_kappa"]


@dataclass(frozen=True)
class MarketParams(Validated):
    """Depth and resilience of the one market.

    Parameters
    ----------
    depth : float, USD, in (0, inf)
        Market depth ``D``. The default, 2e8 USD (selling 2 M USD moves the
        price about 1 %), is a teaching calibration: the classroom books'
        forced selling deepens the crash by several per cent when platforms
        act apart, and about twice that when they share one oracle.
    resilience : float, per step, in [0, 1]
        ``rho``: the share of the impact that decays each step (0: impact is
        permanent; 1: gone after one step). 0.3 per one-minute step is a
        half-life of about 2 minutes.
    """

    depth: float = 2e8
    resilience: float = 0.3

    _constraints = {
        "depth": Interval(Real, 0, None, closed="neither"),
        "resilience": Interval(Real, 0, 1, closed="both"),
    }


def next_kappa(kappa, sold_usd, params):
    r"""One step of the impact state: :math:`(1-\rho)\kappa_t + Q_t/D`.

    Examples
    --------
    >>> next_kappa(0.0, 1e7, MarketParams(depth=1e9, resilience=0.5))
    0.01
    """
    return (1.0 - params.resilience) * kappa + sold_usd / params.depth


def market_price(x, kappa):
    r""":math:`m_t = \exp(x_t - \kappa_t)` for scalars."""
    return math.exp(x - kappa)
