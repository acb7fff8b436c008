"""Classroom worlds for the perp venue (issue 12's two lessons), built in a few milliseconds.

- :func:`margin_modes_world`: one featured trader (account 0 of venue 0) in
  ``"cross"`` or ``"isolated"`` margin, in a crash of asset 0 with asset 1
  following it part of the way, beside a background population and a lending
  platform whose borrowers hold asset 1. ``portfolio="pair"`` (long asset 0,
  short asset 1: survives only under cross) or ``"blown"`` (a leveraged long
  of asset 0 and a modest long of asset 1: under cross the blown leg drags
  the account down and its asset 1 long is sold too, into the market the
  lending platform's collateral trades in).
- :func:`fund_world`: several perp venues on one asset in a crash, reading a
  shared oracle or their own (``sharing``), each with an insurance fund and
  a loss rule; thin depth, so the backstops' hedges deepen the fall and late
  liquidations fill far below the mark.

Every number here is a teaching value unless its docstring names a source.
"""
from __future__ import annotations

import numpy as np

from .accounts import PopulationParams, draw_book
from .margin import PlatformParams
from .market import MarketParams
from .oracles import OracleParams
from .perps import PerpBook, PerpParams, PerpPopulation, draw_perp_book
from .scenarios import CrashScenario
from .topology import shared_fraction
from .world import World

__all__ = ["margin_modes_world", "fund_world", "FEATURED"]

FEATURED = 0  # the featured trader's account index on venue 0


def _prepend(book, q, m, mode):
    """``book`` with one account (positions ``q``, margins ``m``, ``mode``) in front."""
    return PerpBook(np.vstack([q, book.position]), np.vstack([m, book.margin]), (mode,) + tuple(book.mode))


def margin_modes_world(mode="cross", portfolio="pair", seed=0, crash=0.30, beta=0.6, n_traders=1000,
                       n_borrowers=1000, n_steps=300, scale=1.0):
    """A two-asset crash with one featured trader on a perp venue and a lending platform on asset 1.

    Parameters
    ----------
    mode : "cross" or "isolated", the featured trader's margin mode
    portfolio : "pair" or "blown"
    crash : float in [0, 1), asset 0's fall over 2 h from step 60; asset 1 falls ``beta`` of it (in log)
    scale : float > 0, the featured trader's positions and margins times ``scale`` (1: the sizes below)
    """
    if not scale > 0:
        raise ValueError(f"scale must be > 0; got {scale!r}")
    if portfolio not in ("pair", "blown"):
        raise ValueError(f"portfolio must be 'pair' or 'blown'; got {portfolio!r}")
    rng = np.random.default_rng(seed)
    T = n_steps
    x0 = CrashScenario(n_steps=T, price0=2000.0, depth=crash, start=60, duration=120, sigma=0.0005).path(rng)
    x1 = np.log(100.0) + beta * (x0 - x0[0]) + 0.0005 * np.cumsum(rng.standard_normal(T))
    x = np.column_stack([x0, x1])
    p0 = np.exp(x[0])
    background = draw_perp_book(rng, PerpPopulation(n_accounts=n_traders, long_share=0.6, pair_share=0.2,
                                                    notional_median=20_000.0), p0, assets=(0, 1))
    if portfolio == "pair":
        # 5x on each leg: 100,000 USD long asset 0, 100,000 USD short asset 1, 20,000 USD margin per leg
        q = [100_000.0 / p0[0], -100_000.0 / p0[1]]
        m = [20_000.0, 20_000.0]
    else:
        # 10x long asset 0 (1 M USD on 100,000 USD) and 2x long asset 1 (500,000 USD on 250,000 USD)
        q = [1_000_000.0 / p0[0], 500_000.0 / p0[1]]
        m = [100_000.0, 250_000.0]
    traders = _prepend(background, scale * np.array([q]), scale * np.array([m]), mode)
    borrowers = draw_book(rng, PopulationParams(n_accounts=n_borrowers, collateral_median=50.0), p0[1], 0.8,
                          asset=1)
    o = lambda v: OracleParams(sources=(v,), theta=0.005, heartbeat=60, latency=1)  # noqa: E731
    return World(x_ta=x, venue_noise_tv=rng.standard_normal((T, 2)) * 0.0005, venue_asset=(0, 1),
                 oracles=(o(0), o(1)), platforms=(PerpParams(insurance_fund=1e6), PlatformParams()),
                 platform_oracle=((0, 1), (1,)), books=(traders, borrowers),
                 market=(MarketParams(depth=5e8), MarketParams(depth=1e8)))


def fund_world(loss_rule="adl", sharing=1.0, fund=2e5, n_venues=3, seed=0, crash=0.25, n_traders=800,
               n_steps=300, depth=3e8):
    """Several perp venues on one asset in a fast crash; each venue has ``fund`` USD of insurance fund.

    ``sharing`` sends ``round(sharing * n_venues)`` venues to the shared oracle
    (MODEL.md §5); the rest read their own, slower feeds.
    """
    rng = np.random.default_rng(seed)
    T = n_steps
    x = CrashScenario(n_steps=T, price0=2000.0, depth=crash, start=60, duration=30, sigma=0.001).path(rng)
    topo = shared_fraction(sharing, OracleParams(theta=0.005, heartbeat=60, latency=1),
                           [OracleParams(theta=0.01, heartbeat=60, latency=3)] * n_venues, n_sources=3)
    p0 = float(np.exp(x[0]))
    books = tuple(draw_perp_book(rng, PerpPopulation(n_accounts=n_traders, long_share=0.7, leverage_median=8.0,
                                                     leverage_sigma=0.5, notional_median=50_000.0), [p0])
                  for _ in range(n_venues))
    params = PerpParams(insurance_fund=fund, loss_rule=loss_rule)
    return World(x_t=x, venue_noise_tv=rng.standard_normal((T, topo.n_venues)) * 0.001, oracles=topo.oracles,
                 platforms=(params,) * n_venues, platform_oracle=topo.platform_oracle, books=books,
                 market=MarketParams(depth=depth))
