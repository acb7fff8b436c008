"""Widgets and plots for the lessons. Imports the core; the core never imports this.

Every lesson app follows one pattern: the figure is drawn once, a control's
change re-runs the model and updates the artists' data in place, and every
control value is treated as untrusted (checked against the lesson's own
bounds before the model sees it; see :func:`read_control` and :class:`Status`).
"""
from ._common import PALETTE, Status, UntrustedValue, platform_color, read_control, style_axes

__all__ = ["PALETTE", "Status", "UntrustedValue", "platform_color", "read_control", "style_axes"]
