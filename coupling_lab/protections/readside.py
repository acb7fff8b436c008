r"""Read-side guards (MODEL.md §9): what one platform reads, in the order delay -> anchor -> fallback.

Each is a :class:`~coupling_lab.guards.ReadGuard`: ``bind(platform, asset,
feed, world)`` returns ``read(t, value, feeds)``, called at every step with
the value the guard before it passed on (the feed's price as platforms see
it, faults included, for the first guard).

- :class:`Delay` (Maker OSM, ``hop`` steps): the value read at step ``t`` is
  the value the platform would have read at step ``hop * floor(t / hop) -
  hop`` (clamped to 0): one value per hop, each in force one hop after it
  was published. Maker's OSM: ``hop = ONE_HOUR`` (FACTS.md).
- :class:`AnchorBand` (Compound's anchored view, ``band``, TWAP ``window``):
  the anchor is the mean of the feed's raw observations over steps
  ``t - window + 1 ... t`` (fewer at the start); a value outside
  ``[anchor (1 - band), anchor (1 + band)]`` (inclusive) is rejected and the
  last accepted value is read; step 0 is accepted. Compound 2020: +-20 % of
  a 30-minute TWAP (FACTS.md).
- :class:`Fallback` (Liquity, ``timeout``, ``max_jump``, ``agree``): switch to
  a second feed of the same asset at the first step where the primary has
  not published for more than ``timeout`` steps or the value read moved more
  than ``max_jump`` since the step before; switch back at the first later
  step where the primary is within its timeout again and within ``agree``
  of the fallback. The fallback is read as it is published. Liquity: 4 h,
  50 %, 5 % (FACTS-mechanisms.md).
"""
from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real

from .._validation import Interval, Validated, check_index
from ..guards import ReadGuard

__all__ = ["Delay", "AnchorBand", "Fallback"]


@dataclass(frozen=True)
class Delay(Validated, ReadGuard):
    """Read each value one hop late, one value per hop (Maker OSM).

    Parameters
    ----------
    hop : int in [1, inf), steps (60 one-minute steps: Maker's one hour)

    Examples
    --------
    >>> read = Delay(hop=2).bind(0, 0, 0, None)
    >>> [read(t, v, None) for t, v in enumerate([10.0, 11.0, 12.0, 13.0, 14.0, 15.0])]
    [10.0, 10.0, 10.0, 10.0, 12.0, 12.0]
    """

    hop: int = 60

    _constraints = {"hop": Interval(Integral, 1, None)}

    def bind(self, platform, asset, feed, world):
        hop, seen = self.hop, []

        def read(t, value, feeds):
            seen.append(value)
            return seen[max(hop * (t // hop) - hop, 0)]
        return read


@dataclass(frozen=True)
class AnchorBand(Validated, ReadGuard):
    """Reject values outside ``band`` of a TWAP of the feed's raw observations.

    Parameters
    ----------
    band : float in (0, 1), e.g. 0.2 (Compound 2020: +-20 %)
    window : int in [1, inf), steps of the TWAP (30: Compound's 30 minutes)
    """

    band: float = 0.2
    window: int = 30

    _constraints = {"band": Interval(Real, 0, 1, closed="neither"), "window": Interval(Integral, 1, None)}

    def bind(self, platform, asset, feed, world):
        band, window, state = self.band, self.window, {"sum": 0.0, "last": None}

        def read(t, value, feeds):
            raw = feeds.raw_rows
            state["sum"] += raw[t][feed]
            if t >= window:
                state["sum"] -= raw[t - window][feed]
            anchor = state["sum"] / min(t + 1, window)
            if t == 0 or anchor * (1.0 - band) <= value <= anchor * (1.0 + band):
                state["last"] = value
            return state["last"]
        return read


@dataclass(frozen=True)
class Fallback(Validated, ReadGuard):
    """Switch to a second feed when the primary is stale or jumps; back when it agrees again.

    Parameters
    ----------
    timeout : int in [1, inf), steps without publication (240: Liquity's 4 h)
    max_jump : float in (0, inf), relative move between two steps (0.5: 50 %)
    agree : float in [0, 1), relative gap to switch back (0.05: 5 %)
    feed : int or None, the fallback feed; ``None`` in a :class:`~coupling_lab.Config`
        (``build`` gives each platform the other provider's feed of its asset);
        a World needs it set
    """

    timeout: int = 240
    max_jump: float = 0.5
    agree: float = 0.05
    feed: int | None = None

    _constraints = {
        "timeout": Interval(Integral, 1, None),
        "max_jump": Interval(Real, 0, None, closed="neither"),
        "agree": Interval(Real, 0, 1, closed="left"),
        "feed": Interval(Integral, 0, None),
    }
    _optional = ("feed",)

    def bind(self, platform, asset, feed, world):
        if self.feed is None:
            raise ValueError(f"read_guards[{platform}]: Fallback.feed must name the fallback feed in a World; got None")
        alt = check_index(f"read_guards[{platform}] Fallback.feed", self.feed, world.n_oracles, "oracle index")
        if alt == feed:
            raise ValueError(f"read_guards[{platform}] Fallback.feed must differ from the primary feed {feed}; got {alt}")
        if world.feed_asset[alt] != asset:
            raise ValueError(f"read_guards[{platform}] Fallback.feed must quote asset {asset} like the primary; "
                             f"feed {alt} quotes asset {world.feed_asset[alt]}")
        timeout, max_jump, agree = self.timeout, self.max_jump, self.agree
        state = {"on_fallback": False, "prev": None}

        def read(t, value, feeds):
            prev, state["prev"] = state["prev"], value
            live = t - feeds.last[feed] <= timeout
            v_alt = feeds.current[alt]
            if not state["on_fallback"]:
                jumped = prev is not None and prev > 0 and abs(value / prev - 1.0) > max_jump
                if not live or jumped:
                    state["on_fallback"] = True
            elif live and v_alt > 0 and abs(value / v_alt - 1.0) <= agree:
                state["on_fallback"] = False
            return v_alt if state["on_fallback"] else value
        return read
