r"""Sharing topologies: who reads which feed, and who holds which asset (MODEL.md §5, §8).

Two dials, independent of each other:

- ``sharing`` in [0, 1], the **oracle** dial: how much oracle infrastructure
  the platforms share.
- ``collateral_sharing`` in [0, 1], the **collateral** dial
  (:func:`collateral_assets`): ``round(c K)`` platforms' books hold the
  common asset 0; each other platform ``k`` holds an asset of its own,
  ``k + 1``.

The layout is fixed, so indices mean the same thing at every position of
either dial (the same seed gives the same paths, noise and books):

- ``P = n_platforms + 1`` oracle **providers**: provider 0 is the *shared*
  one, provider ``k + 1`` platform ``k``'s *own*. Each runs one feed per
  asset, with common ``theta``, ``H``, ``L``.
- Feed ``j = a * P + p`` is provider ``p``'s feed of asset ``a``; it reads
  its own block of ``n_sources`` venues, ``j * n_sources ... (j + 1) *
  n_sources - 1``, all quoting asset ``a``. With one asset this is the v1
  layout: oracle 0 is the shared oracle, oracle ``k + 1`` platform ``k``'s own.

- ``shared_fraction``: the first ``round(sharing * K)`` platforms (rounded
  half up) read provider 0's feed of their asset; the others read their own
  provider's feed of it.
- ``source_overlap``: every platform reads its own provider's feed, but
  ``round(sharing * n_sources)`` of that feed's sources are the shared
  provider's venues of the same asset; at 1 all own feeds see the same
  venues and differ only in their threshold, heartbeat and latency.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from numbers import Real

from ._validation import Interval, check_scalar

__all__ = ["Topology", "shared_fraction", "source_overlap", "collateral_assets", "TOPOLOGIES"]


@dataclass(frozen=True)
class Topology:
    """Feeds with their sources, which feed each platform reads, and the venue layout.

    Attributes
    ----------
    oracles : tuple of OracleParams, one per feed (sources set)
    platform_oracle : tuple of int, the feed each platform reads
    n_venues : int
    venue_asset : tuple of int, the asset each venue quotes
    oracle_provider : tuple of int, the provider that runs each feed
    """

    oracles: tuple
    platform_oracle: tuple
    n_venues: int
    venue_asset: tuple = None
    oracle_provider: tuple = None

    @property
    def n_providers(self):
        return 1 + max(self.oracle_provider) if self.oracle_provider else len(self.oracles)


def _round_half_up(x):
    return int(math.floor(x + 0.5))


def dial_step(topology, sharing, n_platforms, n_sources=3):
    """The whole number ``topology`` rounds the sharing dial to; equal steps build equal worlds.

    ``shared_fraction``: how many platforms read the shared feed,
    ``round(sharing * n_platforms)``; ``source_overlap``: how many of each
    own feed's sources are the shared venues, ``round(sharing * n_sources)``
    (halves round up). A sweep runs each step of a seed once.

    Examples
    --------
    >>> [dial_step("shared_fraction", s, 5) for s in (0.0, 0.1, 0.15, 0.5, 1.0)]
    [0, 1, 1, 3, 5]
    """
    if topology not in TOPOLOGIES:
        raise ValueError(f"topology must be one of {tuple(TOPOLOGIES)}; got {topology!r}")
    sharing = check_scalar("sharing", sharing, Interval(Real, 0, 1))
    return _round_half_up(sharing * (n_platforms if topology == "shared_fraction" else n_sources))


def _blocks(n_sources, block):
    return tuple(range(block * n_sources, (block + 1) * n_sources))


def feed_index(asset, provider, n_providers):
    """Index of provider ``provider``'s feed of asset ``asset`` (``a * P + p``)."""
    return asset * n_providers + provider


def collateral_assets(collateral_sharing, n_platforms):
    """The asset each platform's book holds: the first ``round(c K)`` hold asset 0, platform ``k`` else ``k + 1``.

    Examples
    --------
    >>> collateral_assets(0.5, 4)
    (0, 0, 3, 4)
    """
    c = check_scalar("collateral_sharing", collateral_sharing, Interval(Real, 0, 1))
    n_common = _round_half_up(c * n_platforms)
    return tuple(0 if k < n_common else k + 1 for k in range(n_platforms))


def _layout(shared, own, n_sources, n_assets, sources_of):
    P = len(own) + 1
    params = (shared,) + tuple(own)
    oracles, venue_asset, provider = [], [], []
    for a in range(n_assets):
        for p in range(P):
            j = feed_index(a, p, P)
            oracles.append(dataclasses.replace(params[p], sources=sources_of(a, p, j)))
            provider.append(p)
    for j in range(n_assets * P):
        venue_asset.extend([j // P] * n_sources)
    return tuple(oracles), tuple(venue_asset), tuple(provider)


def _check_assets(platform_asset, K, n_assets):
    if platform_asset is None:
        return (0,) * K, max(n_assets, 1)
    platform_asset = tuple(int(a) for a in platform_asset)
    if len(platform_asset) != K:
        raise ValueError(f"platform_asset must have length n_platforms={K}; got {len(platform_asset)}")
    n_assets = max(n_assets, 1 + max(platform_asset))
    return platform_asset, n_assets


def shared_fraction(sharing, shared, own, n_sources=3, platform_asset=None, n_assets=1):
    """``round(sharing * K)`` platforms read the shared provider's feed of their asset.

    Parameters
    ----------
    sharing : float in [0, 1]
    shared : OracleParams, the shared provider's parameters (sources are replaced)
    own : sequence of OracleParams, length K, each platform's own provider
    n_sources : int, venues per feed
    platform_asset : sequence of int, length K, or None (every platform on asset 0)
    n_assets : int, assets in the world (at least 1 + the largest platform asset)

    Examples
    --------
    >>> from coupling_lab import OracleParams
    >>> topo = shared_fraction(0.5, OracleParams(), [OracleParams()] * 4)
    >>> topo.platform_oracle
    (0, 0, 3, 4)
    """
    sharing = check_scalar("sharing", sharing, Interval(Real, 0, 1))
    K = len(own)
    platform_asset, n_assets = _check_assets(platform_asset, K, n_assets)
    P = K + 1
    n_shared = dial_step("shared_fraction", sharing, K)
    oracles, venue_asset, provider = _layout(shared, own, n_sources, n_assets,
                                             lambda a, p, j: _blocks(n_sources, j))
    platform_oracle = tuple(feed_index(platform_asset[k], 0 if k < n_shared else k + 1, P) for k in range(K))
    return Topology(oracles, platform_oracle, len(venue_asset), venue_asset, provider)


def source_overlap(sharing, shared, own, n_sources=3, platform_asset=None, n_assets=1):
    """Each platform's own feed takes ``round(sharing * n_sources)`` of its sources from the shared venues.

    Examples
    --------
    >>> from coupling_lab import OracleParams
    >>> topo = source_overlap(1.0, OracleParams(), [OracleParams()] * 2, n_sources=3)
    >>> [o.sources for o in topo.oracles]
    [(0, 1, 2), (0, 1, 2), (0, 1, 2)]
    """
    sharing = check_scalar("sharing", sharing, Interval(Real, 0, 1))
    K = len(own)
    platform_asset, n_assets = _check_assets(platform_asset, K, n_assets)
    P = K + 1
    n_common = dial_step("source_overlap", sharing, K, n_sources)

    def sources_of(a, p, j):
        common = _blocks(n_sources, feed_index(a, 0, P))
        return common if p == 0 else common[:n_common] + _blocks(n_sources, j)[n_common:]

    oracles, venue_asset, provider = _layout(shared, own, n_sources, n_assets, sources_of)
    platform_oracle = tuple(feed_index(platform_asset[k], k + 1, P) for k in range(K))
    return Topology(oracles, platform_oracle, len(venue_asset), venue_asset, provider)


TOPOLOGIES = {"shared_fraction": shared_fraction, "source_overlap": source_overlap}
