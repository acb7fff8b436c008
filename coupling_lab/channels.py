r"""Lesson 02b, two channels of coupling: the logic, without widgets.

Two dials, independent of each other (MODEL.md §5, §8):

- ``sharing`` -- how much oracle infrastructure the platforms share: the
  first ``round(s K)`` platforms read the shared provider 0's feed of their
  asset, the others their own provider's;
- ``collateral_sharing`` -- how much collateral they share: the first
  ``round(c K)`` platforms' books hold the common asset 0, platform ``k``
  otherwise an asset of its own, ``k + 1``, with a market of its own.

The four corners separate the channels (MODEL.md §8): one feed and one
market; one provider but own markets (coupled only by correlated
fundamentals, or by a fault of the provider); own feeds but one market
(coupled through the price their forced sales move); fully apart.

This module holds what the lesson's widget app (``coupling_lab.ui.two_channels``)
and its tests share: the lesson's scenario (:func:`lesson_config`), the
controls declared once (:data:`CONTROLS`), the corner presets
(:data:`CORNERS`), a cached run per dial pair (:func:`run_pair`), the
numbers a readout shows (:func:`summarize_run`, :func:`readout_lines`) and
the means over seeds the lesson's prose quotes (:func:`seed_means`,
:func:`quoted_figures`).

The lesson's scenario (:func:`lesson_config`), and why
----------------------------------------------------------
- **4 platforms**, so that both dials move in quarters and each of the
  4 own assets can carry the parameters of a real collateral.
- **Path**: the classroom crash of asset 0 (30 % over two hours in a
  500-minute run, :class:`~coupling_lab.scenarios.CrashScenario`); the own
  assets follow it with ``beta = 1`` and 0.1 % idiosyncratic noise per
  minute. A beta of 1 gives every asset the same fundamental fall, so the
  corners differ by the channel only, not by how far each asset fell (no
  sourced correlation coefficients exist: FACTS-mechanisms.md §5 marks them
  UNVERIFIED).
- **Depth**: every market, the common one and each own one, 200 M USD deep
  with resilience 0.3 per minute (the classroom default of lesson 02). Own
  markets as deep as the common one keep the comparison about *how many
  platforms sell into one market*, not about thinner markets.
- **Liquidation thresholds and bonuses** per asset from Aave v3 Ethereum
  Core (2023-10-31 snapshot, FACTS-mechanisms.md §5): asset 0 as WETH
  (LT 83 %, bonus 5 %), the own assets as WBTC (78 %, 5 %), wstETH (81 %,
  6 %), cbETH and rETH (77 %, 7.5 %). Books are drawn against each asset's
  own threshold, so every platform starts with the same spread of health.
- **Oracles**: the shared provider 0 publishes on a 0.5 % deviation or a
  1 h heartbeat (Chainlink ETH/USD on Ethereum, FACTS.md); own providers draw
  0.5 %-2 % and 1 h or 24 h (FACTS.md), as in lesson 02.
- **The outage** (:data:`FAULTS`): provider 0 publishes nothing on minutes
  130-160 of the crash, on every asset at once (``stale_provider``). 30
  minutes is shorter than the 1 h heartbeat, so a consumer that only checks
  ``updatedAt`` against the heartbeat sees nothing wrong (Aave's oracle has no
  staleness check of its own, FACTS-mechanisms.md).

With these defaults, over 50 seeds (``tests/test_channels.py``), the mean
excess drawdown of asset 0 rises with ``collateral_sharing`` at either end of
the oracle dial (0 -> 0.4 -> 1), and synchrony rises with ``sharing`` at
either end of the collateral dial.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

from ._validation import Interval, check_scalar
from .config import Config
from .lessons.text import Prose
from .margin import PlatformParams
from .oracles import stale_provider
from .simulation import simulate

__all__ = ["N_PLATFORMS", "ASSETS", "Asset", "Control", "CONTROLS", "Corner", "CORNERS", "FAULTS", "OUTAGE",
           "lesson_config", "run_pair", "RunSummary", "summarize_run", "readout_lines", "corner_of",
           "corner_rows", "deepest_corner", "seed_means", "quoted_figures", "percent", "QUOTED_SEEDS", "QUOTED",
           "corner_observations", "seed_findings", "outage_findings"]

N_PLATFORMS = 4


@dataclass(frozen=True)
class Asset:
    """One asset of the lesson: its label, the real collateral whose parameters it carries, LT and bonus."""

    label: str
    like: str
    lt: float
    bonus: float


#: Asset 0 is the common asset; asset k + 1 is platform k's own. LT and bonus:
#: Aave v3 Ethereum Core, 2023-10-31 (FACTS-mechanisms.md §5).
ASSETS = (
    Asset("asset 0 (common)", "WETH", 0.83, 0.05),
    Asset("asset 1", "WBTC", 0.78, 0.05),
    Asset("asset 2", "wstETH", 0.81, 0.06),
    Asset("asset 3", "cbETH", 0.77, 0.075),
    Asset("asset 4", "rETH", 0.77, 0.075),
)

#: The outage window, minutes [t0, t1): 30 minutes inside the crash (minutes 100-220).
OUTAGE = (130, 160)

#: The lesson's fault choices: label -> oracle faults.
FAULTS = {
    "no fault": (),
    "provider 0 outage": (stale_provider(0, *OUTAGE),),
}


@dataclass(frozen=True)
class Control:
    """One lesson control, declared once: the widget and the bound check both read it."""

    low: float | None = None
    high: float | None = None
    step: float | None = None
    default: object = None
    integer: bool = False
    choices: tuple | None = None


SEED_MAX = 9999
CONTROLS = {
    "sharing": Control(0.0, 1.0, 1.0 / N_PLATFORMS, 0.5),
    "collateral_sharing": Control(0.0, 1.0, 1.0 / N_PLATFORMS, 0.5),
    "fault": Control(choices=tuple(FAULTS), default="no fault"),
    "seed": Control(0, SEED_MAX, 1, 1, integer=True),
}


@dataclass(frozen=True)
class Corner:
    """A corner of the two dials: a key, what it means, and the dial pair."""

    key: str
    label: str
    sharing: float
    collateral_sharing: float


#: The 2 x 2 corners (MODEL.md §8), in the order the lesson shows them.
CORNERS = (
    Corner("apart", "own feeds, own markets", 0.0, 0.0),
    Corner("provider", "one provider, own markets", 1.0, 0.0),
    Corner("market", "own feeds, one market", 0.0, 1.0),
    Corner("together", "one feed, one market", 1.0, 1.0),
)


def lesson_config(sharing=0.5, collateral_sharing=0.5, fault="no fault"):
    """The lesson's :class:`~coupling_lab.Config` at one dial pair (the choices in the module docstring).

    Examples
    --------
    >>> cfg = lesson_config(1.0, 0.0)
    >>> cfg.n_platforms, cfg.n_assets, cfg.platform.lt_of(1)
    (4, 5, 0.78)
    """
    sharing = check_scalar("sharing", sharing, Interval(Real, 0, 1))
    collateral_sharing = check_scalar("collateral_sharing", collateral_sharing, Interval(Real, 0, 1))
    if fault not in FAULTS:
        raise ValueError(f"fault must be one of {list(FAULTS)}; got {fault!r}")
    platform = PlatformParams(lt_by_asset=tuple(a.lt for a in ASSETS), bonus_by_asset=tuple(a.bonus for a in ASSETS))
    return Config(n_platforms=N_PLATFORMS, sharing=sharing, collateral_sharing=collateral_sharing, beta=1.0,
                  asset_sigma=0.001, platform=platform, oracle_faults=FAULTS[fault])


#: Runs kept: one seed's whole 5 x 5 grid of dial pairs. A run holds about 2 MB (series of
#: 25 feeds and 75 venues, four books), so the cache stays near 50 MB of a learner's kernel.
RUN_CACHE_SIZE = 25


@functools.lru_cache(maxsize=RUN_CACHE_SIZE)
def _run(sharing, collateral_sharing, fault, seed):
    return simulate(lesson_config(sharing, collateral_sharing, fault), seed=seed)


def run_pair(sharing, collateral_sharing, seed=1, fault="no fault"):
    """One run of the lesson's world at a dial pair, cached on (sharing, collateral_sharing, fault, seed).

    Dial positions are snapped to the nearest quarter first (the dials move in
    quarters: positions in between give the same world), so a slider moved back
    and forth re-runs nothing. The result is shared: do not change it.
    """
    s = round(float(sharing) * N_PLATFORMS) / N_PLATFORMS
    c = round(float(collateral_sharing) * N_PLATFORMS) / N_PLATFORMS
    return _run(s, c, fault, int(seed))


def percent(fraction, digits=1):
    """``0.1234`` -> ``'12.3 %'``."""
    return f"{100.0 * fraction:.{digits}f} %"


def _fall(log_drop):
    """A log drop as the fraction of the price lost, ``1 - exp(-x)``."""
    return float(-math.expm1(-log_drop))


@dataclass(frozen=True)
class RunSummary:
    """The numbers the lesson reads off one run.

    Falls are fractions of the price (``1 - exp(-max kappa)``), not log units.

    Attributes
    ----------
    n_platforms : int
    n_shared_feed : int, platforms reading the shared provider 0
    n_common : int, platforms holding the common asset 0
    asset_of_platform : tuple of int, the asset each platform holds
    held : tuple of bool, per asset: does any platform hold it
    excess_fall_a : tuple of float, per asset, the extra fall caused by forced selling
    fundamental_fall_a : tuple of float, per asset, the fall of the fundamental path
    common_excess : float, ``excess_fall_a[0]``
    own_excess : float, the largest extra fall of a held own asset (0 if none is held)
    own_deepest : int or None, which own asset that is
    deepest : float, the largest extra fall of any held asset
    synchrony : float or NaN (fewer than two platforms liquidated)
    peak_flow_share : float in [0, 1]
    liquidated_usd, bad_debt_usd : float
    """

    n_platforms: int
    n_shared_feed: int
    n_common: int
    asset_of_platform: tuple
    held: tuple
    excess_fall_a: tuple
    fundamental_fall_a: tuple
    common_excess: float
    own_excess: float
    own_deepest: int | None
    deepest: float
    synchrony: float
    peak_flow_share: float
    liquidated_usd: float
    bad_debt_usd: float


def summarize_run(result):
    """The :class:`RunSummary` of one run of the lesson's world."""
    w, m = result.world, result.measures
    K = w.n_platforms
    provider = w.provider_of_feed
    feeds = [w.feeds_of(k)[0] for k in range(K)]
    assets = tuple(int(w.assets_of(k)[0]) for k in range(K))
    A = w.n_assets
    held = tuple(a in assets for a in range(A))
    excess = tuple(_fall(max(x, 0.0)) for x in m.excess_drawdown_a)
    fundamental = tuple(_fall(x) for x in m.fundamental_drawdown_a)
    own = [(excess[a], a) for a in range(1, A) if held[a]]
    own_excess, own_deepest = max(own) if own else (0.0, None)
    return RunSummary(
        n_platforms=K, n_shared_feed=sum(1 for j in feeds if provider[j] == 0), n_common=assets.count(0),
        asset_of_platform=assets, held=held, excess_fall_a=excess, fundamental_fall_a=fundamental,
        common_excess=excess[0], own_excess=own_excess, own_deepest=own_deepest,
        deepest=max(e for e, h in zip(excess, held) if h), synchrony=float(m.synchrony),
        peak_flow_share=float(m.peak_flow_share), liquidated_usd=float(m.liquidated_usd),
        bad_debt_usd=float(m.bad_debt))


def corner_of(sharing, collateral_sharing):
    """The :class:`Corner` at this dial pair, or None between corners."""
    for c in CORNERS:
        if math.isclose(c.sharing, sharing) and math.isclose(c.collateral_sharing, collateral_sharing):
            return c
    return None


def _sync_text(x):
    return "not defined (fewer than two platforms liquidated)" if math.isnan(x) else f"{x:.2f}"


def _of(n, K, verb_many, verb_one, others):
    """'2 of 4 platforms read ...; the others ...', worded right when n is 0, 1 or K."""
    if n == K:
        return f"all {K} platforms {verb_many}."
    if n == 0:
        return f"no platform {verb_one}; all {K} {others}."
    head = f"1 of {K} platforms {verb_one}" if n == 1 else f"{n} of {K} platforms {verb_many}"
    return f"{head}; the others {others}."


def readout_lines(summary, sharing=None, collateral_sharing=None):
    """``(label, sentence)`` rows of the readout for one run: every value formatted, nothing raw.

    Examples
    --------
    >>> rows = readout_lines(summarize_run(run_pair(1.0, 1.0)), 1.0, 1.0)
    >>> rows[0]
    ('corner', 'one feed, one market: both dials at 1.')
    """
    s = summary
    K = s.n_platforms
    rows = []
    corner = corner_of(sharing, collateral_sharing) if sharing is not None else None
    if corner is not None:
        where = {(0.0, 0.0): "both dials at 0", (1.0, 1.0): "both dials at 1",
                 (1.0, 0.0): "oracle dial at 1, collateral dial at 0",
                 (0.0, 1.0): "oracle dial at 0, collateral dial at 1"}[(corner.sharing, corner.collateral_sharing)]
        rows.append(("corner", f"{corner.label}: {where}."))
    rows.append(("oracles", _of(s.n_shared_feed, K, "read the shared provider 0", "reads the shared provider 0",
                                "read a provider of their own")))
    rows.append(("collateral", _of(s.n_common, K, "hold the common asset 0", "holds the common asset 0",
                                   "each hold an asset of their own")))
    if s.held[0]:
        rows.append(("common asset", f"forced selling pushed asset 0 a further {percent(s.common_excess)} "
                                     f"below its fundamental path (which fell {percent(s.fundamental_fall_a[0])})."))
    else:
        rows.append(("common asset", "no platform holds asset 0, so nobody sells it."))
    if s.own_deepest is not None:
        like = ASSETS[s.own_deepest].like if s.own_deepest < len(ASSETS) else "own"
        rows.append(("own assets", f"the deepest extra fall of an own asset is {percent(s.own_excess)} "
                                   f"(asset {s.own_deepest}, the {like}-like one)."))
    else:
        rows.append(("own assets", "every platform holds the common asset; no own asset is sold."))
    rows.append(("synchrony", f"the platforms' per-minute selling moves together at {_sync_text(s.synchrony)} "
                              f"(1 = in lockstep)."))
    rows.append(("sold", f"{s.liquidated_usd / 1e6:,.1f} M USD of collateral sold; "
                         f"{s.bad_debt_usd / 1e6:,.2f} M USD of bad debt."))
    return rows


def corner_rows(seed=1, fault="no fault"):
    """One :class:`RunSummary` per corner, in :data:`CORNERS` order (cached runs)."""
    return [(c, summarize_run(run_pair(c.sharing, c.collateral_sharing, seed, fault))) for c in CORNERS]


def deepest_corner(rows):
    """The corner whose deepest extra fall (over the assets held) is the largest."""
    return max(rows, key=lambda row: row[1].deepest)[0]


@dataclass(frozen=True)
class SeedMeans:
    """Means over seeds at one dial pair: extra fall of asset 0, deepest extra fall, synchrony (NaN-free mean)."""

    common_excess: float
    deepest: float
    own_excess: float
    synchrony: float
    n_seeds: int


def seed_means(sharing, collateral_sharing, n_seeds=50, fault="no fault", first_seed=0):
    """:class:`SeedMeans` over seeds ``first_seed ... first_seed + n_seeds - 1`` (not cached)."""
    n_seeds = check_scalar("n_seeds", n_seeds, Interval(Integral, 1, None))
    rows = [summarize_run(simulate(lesson_config(sharing, collateral_sharing, fault), seed=seed))
            for seed in range(first_seed, first_seed + n_seeds)]
    sync = np.array([r.synchrony for r in rows])
    return SeedMeans(common_excess=float(np.mean([r.common_excess for r in rows])),
                     deepest=float(np.mean([r.deepest for r in rows])),
                     own_excess=float(np.mean([r.own_excess for r in rows])),
                     synchrony=float(np.nanmean(sync)) if np.isfinite(sync).any() else float("nan"),
                     n_seeds=n_seeds)


def quoted_figures(corners, outage):
    """The numbers the lesson's prose quotes, formatted as the prose writes them.

    Parameters
    ----------
    corners : dict corner key -> SeedMeans (no fault)
    outage : SeedMeans at the "one provider, own markets" corner with the provider 0 outage
    """
    return {
        "together_common": percent(corners["together"].common_excess),
        "market_common": percent(corners["market"].common_excess),
        "apart_own": percent(corners["apart"].own_excess),
        "provider_own": percent(corners["provider"].own_excess),
        "apart_sync": f"{corners['apart'].synchrony:.2f}",
        "provider_sync": f"{corners['provider'].synchrony:.2f}",
        "market_sync": f"{corners['market'].synchrony:.2f}",
        "together_sync": f"{corners['together'].synchrony:.2f}",
        "outage_own": percent(outage.own_excess),
        "outage_sync": f"{outage.synchrony:.2f}",
    }


# --------------------------------------------------------------------------- what the lesson reveals after Check
#: The seeds of the lesson's findings, and what :func:`quoted_figures` gives over them
#: (``seed_means(..., n_seeds=QUOTED_SEEDS)`` at every corner and with the outage: 250 runs, a few
#: seconds, too slow to run when a learner presses Check; ``tests/test_channels.py`` runs them and compares).
QUOTED_SEEDS = 50
QUOTED = {
    "together_common": "9.6 %", "market_common": "5.9 %", "apart_own": "1.0 %", "provider_own": "0.8 %",
    "apart_sync": "0.17", "provider_sync": "0.35", "market_sync": "0.33", "together_sync": "0.99",
    "outage_own": "4.2 %", "outage_sync": "0.94",
}


def corner_observations():
    """What the four corner presets show on the lesson's seed (revealed after the corner prediction)."""
    return Prose("With **one feed, one market** the raster's rows are copies of each other and asset 0 falls well "
                 "below its fundamental path. With **own feeds, one market** the rows interleave: the same market "
                 "takes everyone's selling, but spread over more minutes, so it recovers in between. With **own "
                 "markets** each platform moves only its own asset, and each of those moves is small, whatever the "
                 "oracle dial says.")


def seed_findings(quoted=None):
    """The corners over :data:`QUOTED_SEEDS` seeds (revealed after the corner prediction).

    ``quoted``: a :func:`quoted_figures` dict (default :data:`QUOTED`)."""
    q = QUOTED if quoted is None else quoted
    return Prose(
        f"**Over {QUOTED_SEEDS} seeds:**\n\n"
        f"- The common asset: one feed and one market push asset 0 a further **{q['together_common']}** below its "
        f"fundamental path on average; own feeds into one market: **{q['market_common']}**. With all the "
        "collateral shared, sharing the oracle too deepens the crash; with own collateral it does not (next line).\n"
        "- With own collateral no market takes more than one platform's selling: fully apart, the deepest own "
        f"asset falls a further {q['apart_own']}; with one provider, {q['provider_own']}.\n"
        f"- Timing follows the oracle dial: synchrony is {q['apart_sync']} fully apart, {q['provider_sync']} with "
        f"one provider, {q['market_sync']} with one market and {q['together_sync']} with both. One provider lines "
        "the platforms up even on different assets, but while the provider works that costs little: the markets "
        "are apart.")


def outage_findings(quoted=None):
    """The provider 0 outage at *one provider, own markets* over :data:`QUOTED_SEEDS` seeds."""
    q = QUOTED if quoted is None else quoted
    return Prose(f"Over {QUOTED_SEEDS} seeds the deepest own asset falls a further **{q['outage_own']}** "
                 f"({q['provider_own']} without the outage) and synchrony jumps to **{q['outage_sync']}**. At "
                 "dial 0 nobody reads provider 0, and the outage changes nothing.")
