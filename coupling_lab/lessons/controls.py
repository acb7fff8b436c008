"""Each lesson control declared once: :class:`Control`, and the check every value goes through.

A :class:`Control` holds a control's range, step, default, label and unit.
The lesson app builds its widget from it (``coupling_lab.ui.control_widget``)
and checks every value the widget sends against it (:meth:`Control.read`):
the widget's own ``min``/``max`` are synced traits a page can change, so they
are never trusted, but they start equal to the declaration, so the bound a
learner meets and the bound the lesson enforces cannot drift apart.

This module imports no widget or plotting library.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real

__all__ = ["Control", "UntrustedValue", "check_value"]


class UntrustedValue(ValueError):
    """A control sent a value outside what the lesson allows."""


def _brief(value):
    """A value as a short text for a one-line message (a page can send a 300-digit integer)."""
    text = repr(value)
    if isinstance(value, Real) and not isinstance(value, bool) and len(text) > 24:
        try:
            return f"{float(value):.3g}"
        except OverflowError:
            return f"{'-' if value < 0 else ''}a number with {len(text.lstrip('-'))} digits"
    return text if len(text) <= 40 else text[:37] + "..."


def check_value(name, value, low, high, integer=False, choices=None):
    """``value`` checked against a lesson's own bounds, as float or int (or one of ``choices``).

    Raises :class:`UntrustedValue` with a one-line message naming the control,
    the allowed range and the value, for NaN, inf, ``None``, strings,
    out-of-range numbers and non-integers where an integer is required.

    >>> check_value("depth", 150, 20, 1000)
    150.0
    >>> check_value("depth", 5000, 20, 1000)
    Traceback (most recent call last):
    ...
    coupling_lab.lessons.controls.UntrustedValue: depth must be in [20, 1000]; got 5000
    """
    if choices is not None:
        if value not in choices:
            raise UntrustedValue(f"{name} must be one of {list(choices)}; got {_brief(value)}")
        return value
    if isinstance(value, bool) or not isinstance(value, Real):
        raise UntrustedValue(f"{name} must be a number in [{low}, {high}]; got {_brief(value)}")
    if not math.isfinite(value) or not low <= value <= high:
        raise UntrustedValue(f"{name} must be in [{low}, {high}]; got {_brief(value)}")
    if integer:
        if float(value) != int(value):
            raise UntrustedValue(f"{name} must be a whole number in [{low}, {high}]; got {_brief(value)}")
        return int(value)
    return float(value)


@dataclass(frozen=True)
class Control:
    """One lesson control: what the widget offers and what the lesson accepts.

    Parameters
    ----------
    label : str, what the widget says (without the unit)
    low, high : the allowed range (numbers); ``None`` for a choice
    step : the widget's step (numbers)
    default : the value the lesson opens with
    unit : str, shown after the label in brackets ("USD", "%", "M USD", "min")
    integer : bool, whole numbers only
    choices : tuple, the allowed values of a choice control
    fmt : str, the widget's readout format (e.g. ".2f")
    kind : "slider" (default for numbers), "text" (a number box), "toggle"
        (default for choices) or "dropdown"

    >>> depth = Control("market depth D", 20, 1000, step=10, default=400, unit="M USD")
    >>> depth.description, depth.read("depth", 150)
    ('market depth D (M USD)', 150.0)
    """

    label: str
    low: float | None = None
    high: float | None = None
    step: float | None = None
    default: object = None
    unit: str = ""
    integer: bool = False
    choices: tuple | None = None
    fmt: str | None = None
    kind: str | None = None

    def __post_init__(self):
        if self.choices is not None:
            if self.default not in self.choices:
                raise ValueError(f"default must be one of {list(self.choices)}; got {self.default!r}")
            return
        if not (isinstance(self.low, Real) and isinstance(self.high, Real) and self.low < self.high):
            raise ValueError(f"low < high required for {self.label!r}; got [{self.low}, {self.high}]")
        check_value(f"default of {self.label!r}", self.default, self.low, self.high, integer=self.integer)
        if self.step is not None and not self.step > 0:
            raise ValueError(f"step must be > 0 for {self.label!r}; got {self.step}")

    @property
    def description(self):
        """The widget's label: ``label (unit)``."""
        return f"{self.label} ({self.unit})" if self.unit else self.label

    def read(self, name, value):
        """The checked value, or :class:`UntrustedValue` with one line."""
        return check_value(name, value, self.low, self.high, integer=self.integer, choices=self.choices)

    def replace(self, **changes):
        """A copy with some fields changed."""
        from dataclasses import replace

        return replace(self, **changes)
