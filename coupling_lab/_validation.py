"""Parameter validation: constraints declared as data, one message format.

Every public entry point checks its inputs here, once, before any hot loop.
A failed check raises one sentence naming the field, the value received and
the allowed range, e.g. ``depth must be in (0, inf); got -5.0``.
"""
from __future__ import annotations

import dataclasses
import math
from numbers import Integral, Real

import numpy as np

__all__ = ["Interval", "check_scalar", "check_array", "check_index", "Validated"]


class Interval:
    """A range of allowed values, e.g. ``Interval(Real, 0, 1, closed="right")``.

    Parameters
    ----------
    kind : {numbers.Real, numbers.Integral}
        Allowed type. ``bool`` is never accepted.
    low, high : float or None
        Bounds; ``None`` means unbounded.
    closed : {"both", "left", "right", "neither"}
        Which bounds belong to the interval.
    """

    def __init__(self, kind, low, high, closed="both"):
        if closed not in ("both", "left", "right", "neither"):
            raise ValueError(f"closed must be one of both/left/right/neither; got {closed!r}")
        self.kind, self.low, self.high, self.closed = kind, low, high, closed

    @property
    def _left_closed(self):
        return self.closed in ("both", "left") and self.low is not None

    @property
    def _right_closed(self):
        return self.closed in ("both", "right") and self.high is not None

    def __contains__(self, value):
        if self.low is not None:
            if value < self.low or (value == self.low and not self._left_closed):
                return False
        if self.high is not None:
            if value > self.high or (value == self.high and not self._right_closed):
                return False
        return True

    def __str__(self):
        lo = "-inf" if self.low is None else _fmt(self.low)
        hi = "inf" if self.high is None else _fmt(self.high)
        return f"{'[' if self._left_closed else '('}{lo}, {hi}{']' if self._right_closed else ')'}"

    def describe(self):
        """The range in words: ``"an integer in [1, inf)"`` or ``"a number in (0, 1]"``."""
        return ("an integer in " if self.kind is Integral else "a number in ") + str(self)

    def __repr__(self):
        return f"Interval({self.kind.__name__}, {self.low}, {self.high}, closed={self.closed!r})"

    def invalid_examples(self):
        """Values that this interval must reject (used by the tests)."""
        out = [math.nan, math.inf, -math.inf]
        if self.low is not None:
            out.append(self.low - 1 if self.kind is Integral else self.low - 1e-9 * max(1, abs(self.low)))
            if not self._left_closed:
                out.append(self.low)
        if self.high is not None:
            out.append(self.high + 1 if self.kind is Integral else self.high + 1e-9 * max(1, abs(self.high)))
            if not self._right_closed:
                out.append(self.high)
        if self.kind is Integral:
            out.append(1.5)
        return out


def _fmt(x):
    return repr(int(x)) if float(x).is_integer() else repr(float(x))


def check_scalar(name, value, interval):
    """Check one number against ``interval`` and return it as int or float.

    Raises
    ------
    TypeError
        If ``value`` is not a real number (bools and strings included).
    ValueError
        If it is NaN, infinite, not whole where an integer is required, or
        outside ``interval``.
    """
    # messages read "lt must be in (0, 1]; got 1.2", "heartbeat must be an
    # integer in [1, inf); got 0": the range text is always str(interval)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        raise TypeError(f"{name} must be {interval.describe()}; got {value!r} of type {type(value).__name__}")
    if interval.kind is Integral:
        if not math.isfinite(value) or not float(value).is_integer():
            raise ValueError(f"{name} must be {interval.describe()}; got {_num(value)!r}")
        value = int(value)
    else:
        if not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number in {interval}; got {_num(value)!r}")
        value = float(value)
    if value not in interval:
        raise ValueError(f"{name} must be {'an integer in' if interval.kind is Integral else 'in'} {interval}; got {value!r}")
    return value


def _num(value):
    # a numpy scalar prints as its plain Python value (nan, not np.float64(nan))
    return value.item() if isinstance(value, np.generic) else value


def check_array(name, value, shape=None, interval=None, dtype=float):
    """Check an array-like: convertible, of ``shape``, finite, inside ``interval``.

    ``shape`` is a tuple whose entries are ints or ``None`` (any length).
    Returns a new C-contiguous array of ``dtype``; the caller's array is
    never modified later.
    """
    try:
        arr = np.array(value, dtype=dtype, copy=True)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of numbers; got {type(value).__name__}") from None
    if shape is not None:
        ok = arr.ndim == len(shape) and all(s is None or s == a for s, a in zip(shape, arr.shape))
        if not ok:
            want = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
            raise ValueError(f"{name} must have shape {want}; got {arr.shape}")
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr)
        if bad.any():
            i = _first(bad)
            where = "" if interval is None else f" in {interval}"
            raise ValueError(f"{name} must hold finite numbers{where}; got {arr[i].item()!r} at index {i}")
    if interval is not None and arr.size:
        lo_ok = np.ones(arr.shape, bool)
        if interval.low is not None:
            lo_ok = arr >= interval.low if interval._left_closed else arr > interval.low
        hi_ok = np.ones(arr.shape, bool)
        if interval.high is not None:
            hi_ok = arr <= interval.high if interval._right_closed else arr < interval.high
        bad = ~(lo_ok & hi_ok)
        if bad.any():
            i = _first(bad)
            raise ValueError(f"{name} must be in {interval}; got {arr[i].item()!r} at index {i}")
    return arr


def _first(mask):
    idx = np.unravel_index(int(np.argmax(mask)), mask.shape)
    return idx[0] if len(idx) == 1 else tuple(int(i) for i in idx)


def check_index(name, value, n, what="index"):
    """Check an integer index into a collection of ``n`` items."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer {what} in [0, {n - 1}]; got {value!r} of type {type(value).__name__}")
    if not 0 <= value < n:
        raise ValueError(f"{name} must be {'an' if what[:1] in 'aeiou' else 'a'} {what} in [0, {n - 1}]; got {_num(value)!r}")
    return int(value)


class Validated:
    """Mixin for frozen dataclasses whose scalar fields are declared in ``_constraints``.

    ``_constraints`` maps a field name to an :class:`Interval`; a field whose
    value may be ``None`` lists it in ``_optional``. Values are normalised
    (to ``int`` or ``float``) on construction.
    """

    _constraints: dict = {}
    _optional: tuple = ()

    def __post_init__(self):
        for name, interval in self._constraints.items():
            value = getattr(self, name)
            if value is None and name in self._optional:
                continue
            object.__setattr__(self, name, check_scalar(name, value, interval))

    def replace(self, **changes):
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)
