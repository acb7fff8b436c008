r"""Answer bounds on a feed (Chainlink ``minAnswer`` / ``maxAnswer``; MODEL.md §9).

A candidate outside ``[min_answer, max_answer]`` (inclusive) is not
published: the aggregator rejects the report, heartbeat included, and the
clock keeps running as under a stale fault. In a fall through the floor the
feed sticks at its last in-range value while the market goes on falling
(LUNA/USD at about 0.107 USD in May 2022 while the market traded near 0.01;
FACTS.md, FACTS-mechanisms.md 2.1). Step 0 publishes as in §3.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real

from .._validation import Interval, Validated
from ..oracles import FeedRule

__all__ = ["AnswerBounds"]


@dataclass(frozen=True)
class AnswerBounds(Validated, FeedRule):
    """Reject candidates outside ``[min_answer, max_answer]`` USD.

    Parameters
    ----------
    min_answer : float in [0, inf), USD
    max_answer : float in (0, inf], USD (``inf``: no ceiling); must exceed ``min_answer``

    Examples
    --------
    >>> ok = AnswerBounds(min_answer=100.0).bind(0, None)
    >>> ok(5, 150.0), ok(5, 99.0)
    (True, False)
    """

    min_answer: float = 0.0
    max_answer: float = math.inf

    _constraints = {"min_answer": Interval(Real, 0, None)}

    def __post_init__(self):
        super().__post_init__()
        hi = self.max_answer
        if isinstance(hi, bool) or not isinstance(hi, Real) or math.isnan(hi) or hi <= 0:
            raise ValueError(f"max_answer must be a number in (0, inf]; got {hi!r}")
        object.__setattr__(self, "max_answer", float(hi))
        if self.max_answer <= self.min_answer:
            raise ValueError(f"max_answer must be > min_answer={self.min_answer!r}; got {self.max_answer!r}")

    def bind(self, feed, world):
        lo, hi = self.min_answer, self.max_answer
        return lambda t, candidate: lo <= candidate <= hi
