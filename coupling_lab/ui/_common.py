"""Shared look and the guard every widget callback goes through."""
from __future__ import annotations

import functools
import html
import logging
import math

import ipywidgets as widgets

from ..lessons.controls import UntrustedValue, check_value

__all__ = ["PALETTE", "platform_color", "style_axes", "stable_limits", "nice_ceiling", "UntrustedValue",
           "read_control", "Status", "static_ylabel"]

# Okabe & Ito's colour-blind-safe palette; platform k is PALETTE[k % 8] in every lesson.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
MARKET_COLOR = "#000000"
FUNDAMENTAL_COLOR = "#999999"

log = logging.getLogger("coupling_lab.ui")


def platform_color(k):
    """The colour of platform ``k``, the same in every lesson."""
    return PALETTE[int(k) % len(PALETTE)]


def style_axes(ax, xlabel=None, ylabel=None, title=None):
    """Labels, a light grid and no top/right spines."""
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize="medium", loc="left", y=1.0)  # fixed y: no title placement pass per draw
    ax.grid(True, color="#dddddd", linewidth=0.6)
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def static_ylabel(ax, x):
    """Put ``ax``'s y label at a fixed place in the static frame.

    For an axes whose ``yaxis`` is a moving artist (:class:`~coupling_lab.ui._layers.LayeredDraw`: its
    ticks follow the run), the label the axis draws would be placed from the tick labels' widths and
    rendered again on every frame. It stays the axis's label (``ax.get_ylabel()``) but is hidden, and
    an ordinary text with the same look at ``(x, 0.5)`` in axes coordinates shows it once, in the
    kept frame.
    """
    label = ax.yaxis.label
    ax.yaxis.set_label_coords(x, 0.5)
    ax.text(x, 0.5, label.get_text(), transform=ax.transAxes, rotation=90, rotation_mode="anchor", ha="center",
            va="bottom", fontsize=label.get_fontsize(), color=label.get_color())
    label.set_visible(False)


def stable_limits(lo, hi, steps=10):
    """``(lo, hi)`` widened out to multiples of a round step of about ``(hi - lo) / steps``.

    Axes limits that move only when the data cross a round number keep the
    axes still as a slider moves (easier to compare two positions) and let
    the figure reuse its kept static frame (:class:`~coupling_lab.ui._layers.LayeredDraw`).

    >>> stable_limits(1613.2, 2041.7)
    (1600.0, 2050.0)
    """
    lo, hi = float(lo), float(hi)
    span = hi - lo if hi > lo else (abs(hi) or 1.0)
    raw = span / steps
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw * (1 - 1e-12))
    lo, hi = math.floor(lo / step) * step, math.ceil(hi / step) * step
    return (lo, hi) if hi > lo else (lo - step, hi + step)


def nice_ceiling(x):
    """The smallest of 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 times a power of ten that is >= ``x`` (> 0).

    >>> nice_ceiling(0.0731), nice_ceiling(212.0)
    (0.08, 250.0)
    """
    x = float(x)
    if not x > 0 or not math.isfinite(x):
        return 1.0
    mag = 10.0 ** math.floor(math.log10(x))
    return next(round(m * mag, 12) for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if m * mag >= x * (1 - 1e-12))


# the check lives with the lessons' declarations (widget-free); these names are kept here
read_control = check_value


class Status:
    """A one-line message area under a lesson's controls, and the callback guard.

    ``status.guard(fn)`` wraps a callback: any exception is caught, the
    previous figure is left as it was, and one short line (no traceback, no
    server path) is shown in :attr:`widget`. ``status.message`` holds it for tests.
    """

    def __init__(self):
        self.widget = widgets.HTML(value="", layout=widgets.Layout(min_height="1.6em"))
        self.message = ""

    def show(self, text, kind="error"):
        self.message = text
        color = {"error": "#B00020", "info": "#555555"}.get(kind, "#555555")
        self.widget.value = f'<span class="cl-status cl-{kind}" style="color:{color}">{html.escape(text)}</span>'

    def clear(self):
        self.message = ""
        self.widget.value = ""

    def guard(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                out = fn(*args, **kwargs)
            except UntrustedValue as exc:
                self.show(f"Ignored: {exc}. Showing the last valid result.")
                return None
            except Exception as exc:  # a lesson must never send a traceback to the page
                log.exception("lesson callback failed")
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                self.show(f"Could not update ({type(exc).__name__}: {first[:160]}). Showing the last valid result.")
                return None
            self.clear()
            return out

        return wrapper
