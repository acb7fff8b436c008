r"""Oracle-sharing topologies: one dial ``sharing`` in [0, 1] (MODEL.md §5).

Every topology builds the same ``n_platforms + 1`` oracles, so oracle
indices mean the same thing at every dial position: oracle 0 is the
*shared* oracle, oracle ``k + 1`` is platform ``k``'s *own* oracle. Each
oracle reads ``n_sources`` venues; venue block ``b`` (venues
``b*n_sources ... (b+1)*n_sources - 1``) belongs to oracle ``b``. The dial
only changes who reads what, so the same seed gives the same paths, noise
and books at every position.

- ``shared_fraction``: the first ``round(sharing * K)`` platforms (rounded
  half up) read oracle 0; the others read their own oracle.
- ``source_overlap``: every platform reads its own oracle, but
  ``round(sharing * n_sources)`` of that oracle's sources are the shared
  venues; at 1 all own oracles see the same venues and differ only in their
  threshold, heartbeat and latency.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from numbers import Real

from ._validation import Interval, check_scalar

__all__ = ["Topology", "shared_fraction", "source_overlap", "TOPOLOGIES"]


@dataclass(frozen=True)
class Topology:
    """Oracles with their sources, and which oracle each platform reads."""

    oracles: tuple
    platform_oracle: tuple
    n_venues: int


def _round_half_up(x):
    return int(math.floor(x + 0.5))


def _blocks(n_sources, block):
    return tuple(range(block * n_sources, (block + 1) * n_sources))


def shared_fraction(sharing, shared, own, n_sources=3):
    """``round(sharing * K)`` platforms read the shared oracle 0.

    Parameters
    ----------
    sharing : float in [0, 1]
    shared : OracleParams, the shared oracle (its sources are replaced)
    own : sequence of OracleParams, length K, each platform's own oracle
    n_sources : int, venues per oracle

    Examples
    --------
    >>> from coupling_lab import OracleParams
    >>> topo = shared_fraction(0.5, OracleParams(), [OracleParams()] * 4)
    >>> topo.platform_oracle
    (0, 0, 3, 4)
    """
    sharing = check_scalar("sharing", sharing, Interval(Real, 0, 1))
    K = len(own)
    n_shared = _round_half_up(sharing * K)
    oracles = (dataclasses.replace(shared, sources=_blocks(n_sources, 0)),) + tuple(
        dataclasses.replace(o, sources=_blocks(n_sources, k + 1)) for k, o in enumerate(own)
    )
    platform_oracle = tuple(0 if k < n_shared else k + 1 for k in range(K))
    return Topology(oracles, platform_oracle, (K + 1) * n_sources)


def source_overlap(sharing, shared, own, n_sources=3):
    """Each platform's own oracle takes ``round(sharing * n_sources)`` of its sources from the shared venues.

    Examples
    --------
    >>> from coupling_lab import OracleParams
    >>> topo = source_overlap(1.0, OracleParams(), [OracleParams()] * 2, n_sources=3)
    >>> [o.sources for o in topo.oracles]
    [(0, 1, 2), (0, 1, 2), (0, 1, 2)]
    """
    sharing = check_scalar("sharing", sharing, Interval(Real, 0, 1))
    K = len(own)
    n_common = _round_half_up(sharing * n_sources)
    oracles = [dataclasses.replace(shared, sources=_blocks(n_sources, 0))]
    for k, o in enumerate(own):
        mine = _blocks(n_sources, k + 1)
        oracles.append(dataclasses.replace(o, sources=_blocks(n_sources, 0)[:n_common] + mine[n_common:]))
    return Topology(tuple(oracles), tuple(k + 1 for k in range(K)), (K + 1) * n_sources)


TOPOLOGIES = {"shared_fraction": shared_fraction, "source_overlap": source_overlap}
