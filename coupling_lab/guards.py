r"""What each platform reads: feeds through an ordered chain of read-side guards.

Platform :math:`k` reads one feed :math:`o(k, a)` per asset it accepts
(MODEL.md §4, §8). The value it reads at step :math:`t` is the feed's
published price as platforms see it (faults applied, §3), passed through the
platform's **read-side guards** in order:

.. math::

    v^{k,a}_t = g_n(\dots g_2(g_1(\pi^{o(k,a)}_t))).

The chain is empty by default, so a platform reads :math:`\pi^{o(k,a)}_t`
itself. MODEL.md §9's delay module, anchor band and fallback oracle are
guards (applied in that order); each is a small class of its own with

``bind(platform, asset, feed, world) -> read``, ``read(t, value, feeds) -> float``

where ``feeds`` is the run's :class:`~coupling_lab.oracles.Publisher` (raw
observations ``raw_rows``, values as read ``price_rows``, last publication
steps ``last``, honest state ``pub``), so a guard can look at the history of
its own feed or of a second one. A guard keeps its own state between steps
and must be deterministic.
"""
from __future__ import annotations

__all__ = ["ReadGuard", "Reader"]


class ReadGuard:
    """A read-side guard (MODEL.md §9). Subclasses implement :meth:`bind`."""

    def bind(self, platform, asset, feed, world):
        """Return ``read(t, value, feeds) -> float`` for one platform's read of ``feed`` (asset ``asset``)."""
        raise NotImplementedError


class Reader:
    """Platform ``k``'s reads: one feed per asset, each through the guard chain.

    ``read(t, price_j, feeds)`` returns one float per asset slot, in the order
    of ``feeds_read``. With no guards it is a plain gather.
    """

    def __init__(self, platform, assets, feeds_read, guards, world):
        self.assets = tuple(assets)
        self.feeds_read = tuple(feeds_read)
        self.chains = [[g.bind(platform, a, j, world) for g in guards] for a, j in zip(self.assets, self.feeds_read)]
        self.guarded = any(self.chains)
        self.single = len(self.feeds_read) == 1

    def read(self, t, price_j, feeds):
        values = [price_j[j] for j in self.feeds_read]
        if self.guarded:
            for slot, chain in enumerate(self.chains):
                v = values[slot]
                for g in chain:
                    v = g(t, v, feeds)
                values[slot] = v
        return values
