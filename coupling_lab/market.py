r"""Markets with finite depth, one per asset (MODEL.md §1, §8).

The market price of asset :math:`a` is its fundamental price depressed by the
impact of forced selling:

.. math::

    m^a_t = \exp(x^a_t - \kappa^a_t), \qquad
    \kappa^a_{t+1} = (1 - \rho_a)\,\kappa^a_t + Q^a_t / D_a, \qquad \kappa^a_0 = 0,

with :math:`Q^a_t` the **net** USD notional of asset :math:`a` forced onto the
market during step :math:`t` (sales positive, forced buys negative, so
:math:`\kappa` may go below 0 where buys dominate), :math:`D_a` the depth
(USD; selling ``0.01 * D`` moves the price about 1 %) and :math:`\rho_a` the
per-step resilience. Sales of one asset move only that asset.

:func:`next_kappa` is the one impact rule: the step loop (:class:`Markets`)
and the forecast both use it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real

from ._validation import Interval, Validated

__all__ = ["MarketParams", "Markets", "next_kappa", "market_price"]

_EXP_MAX = 709.0  # math.exp overflows just above 709.78


@dataclass(frozen=True)
class MarketParams(Validated):
    """Depth and resilience of one asset's market.

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


class Markets:
    r"""The impact state of every asset while a run goes (Python floats).

    ``prices(t)`` gives :math:`m^a_t` and :math:`e^{-\kappa^a_t}` for every
    asset (step 1 of the order of work); ``absorb(flow_a)`` applies the
    step's net forced flows with :func:`next_kappa`'s rule (step 7). The
    state ``kappa`` is the one in force at the step being priced.
    """

    def __init__(self, params_a, ex_ta_rows):
        self.params = tuple(params_a)
        self.kappa = [0.0] * len(self.params)
        self._ex = ex_ta_rows          # exp(x^a_t), one list of A floats per step
        self._ex0 = [row[0] for row in ex_ta_rows] if len(self.params) == 1 else None
        # next_kappa's (1 - rho) and D, looked up once: the same floats, without a call per step
        self._keep = [1.0 - p.resilience for p in self.params]
        self._depth = [p.depth for p in self.params]
        self.kappa_rows = []
        self.market_rows = []

    def prices(self, t):
        """``(m^a_t, exp(-kappa^a_t))`` for every asset, as two lists."""
        kappa = self.kappa
        self.kappa_rows.append(kappa)
        if len(kappa) == 1:
            if kappa[0] < -_EXP_MAX:  # forced buys far beyond the depth (never with sales only)
                self._overflow(t, 0, kappa[0])
            s = math.exp(-kappa[0])
            m = [self._ex0[t] * s]
            if kappa[0] < 0.0 and math.isinf(m[0]):
                self._overflow(t, 0, kappa[0])
            self.market_rows.append(m)
            return m, [s]
        if min(kappa) < -_EXP_MAX:
            a = kappa.index(min(kappa))
            self._overflow(t, a, kappa[a])
        scale = [math.exp(-k) for k in kappa]
        m = [e * s for e, s in zip(self._ex[t], scale)]
        if min(kappa) < 0.0:  # forced buys: the price can run away upwards
            for a, v in enumerate(m):
                if math.isinf(v):
                    self._overflow(t, a, kappa[a])
        self.market_rows.append(m)
        return m, scale

    @staticmethod
    def _overflow(t, a, kappa):
        raise ValueError(f"market price of asset {a} must stay finite; it overflowed at step {t} "
                         f"(kappa {kappa!r}: forced buying far beyond the depth)")

    def absorb(self, flow_a):
        """Apply the step's net forced flow (USD, one float per asset): a new ``kappa`` list."""
        if len(flow_a) == 1:
            self.kappa = [self._keep[0] * self.kappa[0] + flow_a[0] / self._depth[0]]
        else:
            self.kappa = [keep * k + q / d for k, q, keep, d in zip(self.kappa, flow_a, self._keep, self._depth)]
