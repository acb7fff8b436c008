"""Protections (mitigations) of MODEL.md §9, each a separable part, off by default.

Feed side (a property of the feed, shared by every platform reading it):
:class:`AnswerBounds`. Read side, per platform, in this order:
:class:`Delay` -> :class:`AnchorBand` -> :class:`Fallback`. Platform side:
:class:`RateLimit` (lending), :class:`CircuitBreaker` and
:func:`keeper_outage` (both kinds).
"""
from .bounds import AnswerBounds
from .costs import COST_FIELDS, compare, costs, without_protections
from .readside import AnchorBand, Delay, Fallback
from .throttle import CircuitBreaker, PlatformFault, RateLimit, Throttle, keeper_outage

__all__ = ["AnswerBounds", "Delay", "AnchorBand", "Fallback", "CircuitBreaker", "PlatformFault", "RateLimit",
           "Throttle", "keeper_outage", "costs", "compare", "without_protections", "COST_FIELDS"]
