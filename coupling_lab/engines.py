r"""Margin engines: the protocol the step loop calls (MODEL.md §4, §10).

A margin engine is one platform's liquidation machinery. The step loop knows
nothing of its rules; it calls, once per step and platform,

``engine.step(t, prices, market) -> Fills | None``

with ``prices`` the values the platform read this step, one per asset slot
(in the order of ``engine.assets``, after the read-side guards of
:mod:`coupling_lab.guards`), and ``market`` the market price of every asset.
Platforms act simultaneously: ``market`` is this step's price, and what an
engine sells moves the market from step ``t + 1``.

An engine's parameters (a frozen dataclass such as
:class:`~coupling_lab.margin.PlatformParams`) make it:
``params.make_engine(platform, book, assets, world) -> engine``; ``params.kind``
names the kind ("lending"; a derivatives venue is another kind, added as a
module of its own). Each kind has **one** liquidation rule, used by the
simulation and by the forecast alike.

The event log: ``Fills.events`` of a lending engine is the compact tuple
documented on :class:`Fills` (it becomes ``Result.events``); any other kind
returns a dict of equal-length arrays (or scalars) of its own fields, which
the run collects, with ``t`` and ``platform`` columns in front, into
``Result.events_by_kind[kind]``. At the end of a run ``engine.finish()``
returns a dict of the kind's own outputs (series, balances), kept in
``Result.engine_outputs[k]``.
"""
from __future__ import annotations

from typing import NamedTuple, Protocol

__all__ = ["Fills", "MarginEngine"]


class Fills(NamedTuple):
    """What one engine did in one step.

    Attributes
    ----------
    count : int, liquidations (accounts or positions closed or reduced)
    notional_usd : float, USD of collateral sold, at the market price
    repaid_usd : float, USD of debt repaid
    bad_debt_usd : float, USD written off
    flows : tuple of (asset, USD), the **signed** net forced flow into each
        asset's market (sales positive, forced buys negative)
    events : the engine kind's own event piece, in processing order
        (lending: a tuple ``(account, asset, seized_units, repaid_usd,
        bad_debt_usd, oracle_price)``, arrays or scalars; other kinds: a dict
        of arrays), or None when nothing was liquidated
    waiting : int, accounts (or positions) liquidatable this step but not
        liquidated (keeper capacity, a rate limit, a pause or an outage)
    """

    count: int
    notional_usd: float
    repaid_usd: float
    bad_debt_usd: float
    flows: tuple
    events: object
    waiting: int = 0


class MarginEngine(Protocol):
    """What the step loop needs of a margin engine."""

    kind: str
    assets: tuple
    #: One float per asset slot: while every price read is at or above it, the
    #: engine has nothing to do this step and the loop may skip the call
    #: (lending: the highest liquidation price of the open accounts). An engine
    #: that acts every step (variation margin) keeps it at ``inf``. The loop
    #: reads the list in place, so the engine updates it, never rebinds it.
    idle_above: list

    def step(self, t: int, prices: list, market: list) -> Fills | None:
        """One liquidation round at step ``t``; ``None`` when nothing happened."""

    def finish(self) -> dict:
        """The kind's own outputs at the end of a run (may be empty)."""
