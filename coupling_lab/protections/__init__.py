"""Protections (mitigations) of MODEL.md §9, each a separable part, off by default.

Feed side (a property of the feed, shared by every platform reading it):
:class:`AnswerBounds`. Read side, per platform, in this order:
:class:`Delay` -> :class:`AnchorBand` -> :class:`Fallback`. Platform side:
:class:`RateLimit` (lending), :class:`CircuitBreaker` and
:func:`keeper_outage` (both kinds).
"""
from .throttle import CircuitBreaker, PlatformFault, RateLimit, Throttle, keeper_outage

__all__ = ["CircuitBreaker", "PlatformFault", "RateLimit", "Throttle", "keeper_outage"]
