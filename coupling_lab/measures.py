r"""Measures of synchronisation and damage (MODEL.md §7).

All take plain arrays, so they apply to a simulated run or to any other
per-step liquidation record.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Integral

import numpy as np

from ._validation import Interval, check_array, check_scalar

__all__ = [
    "liquidation_synchrony",
    "twin_dispersion",
    "peak_flow_share",
    "excess_drawdown",
    "fundamental_drawdown",
    "return_correlation",
    "Measures",
]

_WINDOW = Interval(Integral, 1, None)


def _moving_sum(a_tk, window):
    if window == 1:
        return a_tk
    c = np.cumsum(np.vstack([np.zeros((1, a_tk.shape[1])), a_tk]), axis=0)
    return c[window:] - c[:-window]


def liquidation_synchrony(notional_tk, window=1):
    r"""Mean pairwise Pearson correlation of platforms' liquidation notional series.

    .. math::

        S = \frac{2}{n(n-1)} \sum_{k < l} \operatorname{corr}(q^k, q^l)

    over the ``n`` platforms that liquidated at all (series summed over the
    ``T - window + 1`` full moving windows of ``window`` steps first). A
    series with zero variance (the same notional in every window) has no
    defined correlation and is left out like a platform that never liquidated.

    Parameters
    ----------
    notional_tk : array, shape (n_steps, n_platforms), USD per step
    window : int in [1, inf), steps

    Returns
    -------
    float in [-1, 1], or NaN when fewer than two platforms liquidated (the
    only NaN a result carries). Pearson's r also needs series that vary: a
    platform whose windowed series is constant (a one-step run, or a window
    as long as the run) is left out too, so two platforms that liquidated
    only inside one single window give NaN as well.

    Examples
    --------
    >>> liquidation_synchrony([[1.0, 2.0], [0.0, 0.0], [3.0, 6.0]])
    1.0
    """
    q = check_array("notional_tk", notional_tk, shape=(None, None))
    window = check_scalar("window", window, _WINDOW)
    q = _moving_sum(q, min(window, max(q.shape[0], 1)))
    q = q[:, (q > 0).any(axis=0) & (q.std(axis=0) > 0)]
    n = q.shape[1]
    if n < 2:
        return float("nan")
    r = np.corrcoef(q, rowvar=False)
    return float(r[np.triu_indices(n, 1)].mean())


def twin_dispersion(price_tk, threshold_k):
    """Spread of the first steps at which a probe account becomes liquidatable.

    On platform ``k`` the probe is first liquidatable at the first step where
    the price it reads falls below ``threshold_k[k] = d / (c * LT_k)``.

    Parameters
    ----------
    price_tk : array, shape (n_steps, n_platforms), USD: the oracle price each platform reads
    threshold_k : array, shape (n_platforms,), USD

    Returns
    -------
    (std, count) : float steps (population std, 0 when count < 2), int platforms

    Examples
    --------
    >>> twin_dispersion([[10.0, 10.0], [8.0, 10.0], [8.0, 8.0]], [9.0, 9.0])
    (0.5, 2)
    """
    p = check_array("price_tk", price_tk, shape=(None, None))
    th = check_array("threshold_k", threshold_k, shape=(p.shape[1],))
    if p.shape[0] == 0:
        return 0.0, 0
    below = p < th
    hit = below.any(axis=0)
    first = np.argmax(below, axis=0)[hit]
    count = int(hit.sum())
    return (float(first.std()) if count >= 2 else 0.0), count


def peak_flow_share(notional_tk, window=10):
    """Largest share of all liquidation notional falling in any ``window`` consecutive steps.

    Returns 0.0 when nothing was liquidated.

    Examples
    --------
    >>> peak_flow_share([[1.0], [3.0], [0.0], [4.0]], window=2)
    0.5
    """
    q = check_array("notional_tk", notional_tk, shape=(None, None)).sum(axis=1)
    window = check_scalar("window", window, _WINDOW)
    total = q.sum()
    if total <= 0:
        return 0.0
    flows = _moving_sum(q[:, None], min(window, q.size))[:, 0]
    return float(min(flows.max() / total, 1.0))


def peak_flow_share_by_column(flow_ta, window):
    """:func:`peak_flow_share` of each column of ``flow_ta`` on its own (a tuple; no input check)."""
    total = flow_ta.sum(axis=0)
    flows = _moving_sum(flow_ta, min(window, max(flow_ta.shape[0], 1)))
    peak = flows.max(axis=0) if flows.shape[0] else np.zeros(flow_ta.shape[1])
    return tuple(float(min(p / s, 1.0)) if s > 0 else 0.0 for p, s in zip(peak.tolist(), total.tolist()))


def excess_drawdown(kappa_t):
    r"""Extra log drop caused by forced selling: :math:`\max_t \kappa_t`."""
    k = check_array("kappa_t", kappa_t, shape=(None,))
    return float(k.max()) if k.size else 0.0


def fundamental_drawdown(x_t):
    r"""Largest log fall of the fundamental from its running peak: :math:`\max_t (\max_{s\le t} x_s - x_t)`."""
    x = check_array("x_t", x_t, shape=(None,))
    return float(np.max(np.maximum.accumulate(x) - x)) if x.size else 0.0


def return_correlation(x_ta):
    r"""Pearson correlation of the assets' per-step log returns :math:`x^a_{t+1} - x^a_t`.

    Parameters
    ----------
    x_ta : array, shape (n_steps, n_assets), log USD

    Returns
    -------
    ndarray, shape (n_assets, n_assets): 1 on the diagonal; 0 where an asset's
    returns do not vary (a flat path has no defined correlation: reported as
    0, not NaN).

    Examples
    --------
    >>> x = np.log([[100.0, 50.0], [110.0, 55.0], [99.0, 49.5]])
    >>> return_correlation(x).round(6).tolist()
    [[1.0, 1.0], [1.0, 1.0]]
    """
    x = check_array("x_ta", x_ta, shape=(None, None))
    A = x.shape[1]
    r = np.diff(x, axis=0)
    out = np.eye(A)
    if r.shape[0] < 2:
        return out
    sd = r.std(axis=0)
    live = np.flatnonzero(sd > 0)
    if live.size >= 2:
        c = np.corrcoef(r[:, live], rowvar=False)
        out[np.ix_(live, live)] = np.clip(c, -1.0, 1.0)
    np.fill_diagonal(out, 1.0)
    return out


@dataclass(frozen=True)
class Measures:
    """The measures of one run (MODEL.md §7).

    Attributes
    ----------
    synchrony : float in [-1, 1] or NaN (fewer than two platforms liquidated, or
        fewer than two with a series that varies: see :func:`liquidation_synchrony`)
    twin_dispersion : float, steps
    twin_count : int, platforms on which the probe became liquidatable
    peak_flow_share : float in [0, 1]
    excess_drawdown : float, log units (0.05 = about 5 % extra fall)
    fundamental_drawdown : float, log units
    bad_debt : float, USD, all platforms
    bad_debt_k : tuple of float, USD per platform
    liquidated_usd : float, USD of collateral sold by liquidations
    excess_drawdown_a : tuple of float, log units, ``max_t kappa^a_t`` per asset (MODEL.md §11)
    fundamental_drawdown_a : tuple of float, log units, per asset
    peak_flow_share_a : tuple of float in [0, 1], per asset, on the absolute net forced flow

    ``excess_drawdown`` and ``fundamental_drawdown`` are asset 0's (the common
    asset), ``peak_flow_share`` and ``synchrony`` are over all platforms.
    """

    synchrony: float
    twin_dispersion: float
    twin_count: int
    peak_flow_share: float
    excess_drawdown: float
    fundamental_drawdown: float
    bad_debt: float
    liquidated_usd: float
    bad_debt_k: tuple = field(repr=False)
    excess_drawdown_a: tuple = field(default=(), repr=False)
    fundamental_drawdown_a: tuple = field(default=(), repr=False)
    peak_flow_share_a: tuple = field(default=(), repr=False)

    def as_dict(self):
        """The scalar measures as a flat dict (for tables and sweeps)."""
        return {
            "synchrony": self.synchrony,
            "twin_dispersion": self.twin_dispersion,
            "twin_count": self.twin_count,
            "peak_flow_share": self.peak_flow_share,
            "excess_drawdown": self.excess_drawdown,
            "fundamental_drawdown": self.fundamental_drawdown,
            "bad_debt": self.bad_debt,
            "liquidated_usd": self.liquidated_usd,
        }
