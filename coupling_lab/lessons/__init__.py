"""The lessons' scenarios, controls and analysis, without widgets or plots.

One module per lesson (``start_here`` 00, ``one_engine`` 01, ``sharing_dial``
02, ``cascades`` 03, ``faults`` 04, ``mitigations`` 05, ``forecast`` 06,
``traders_view`` 08, ``margin_modes`` 09, ``insurance`` 10):
each declares its controls once (:class:`Control`: range, step, default,
label, unit), builds the lesson's :class:`~coupling_lab.Config`, runs it and
turns the results into the formatted text a learner reads. The widget apps
in :mod:`coupling_lab.ui` build their widgets from these declarations and
check every value against them, so a lesson's claims are testable here
without matplotlib. Like the rest of the core, this package imports no
ipywidgets, matplotlib or IPython.
"""
from . import (cascades, faults, forecast, insurance, margin_modes, mitigations, one_engine, sharing_dial, start_here,
               traders_view)
from .controls import Control, UntrustedValue, check_value
from .text import Sentence, extra_fall, fmt_musd, fmt_number, fmt_pct, fmt_sync, fmt_usd

#: lesson number -> its module
LESSONS = {"00": start_here, "01": one_engine, "02": sharing_dial, "03": cascades, "04": faults,
           "05": mitigations, "06": forecast, "08": traders_view, "09": margin_modes, "10": insurance}

__all__ = ["Control", "UntrustedValue", "check_value", "Sentence", "extra_fall", "fmt_musd", "fmt_number",
           "fmt_pct", "fmt_sync", "fmt_usd", "LESSONS", "start_here", "one_engine", "sharing_dial", "cascades",
           "faults", "mitigations", "forecast", "traders_view", "margin_modes", "insurance"]
