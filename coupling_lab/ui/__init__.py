"""Widgets and plots for the lessons. Imports the core; the core never imports this.

Every lesson app follows one pattern (:class:`LessonApp`): the figure is drawn
once, a control's change re-runs the model and updates the artists' data in
place, and every control value is treated as untrusted (checked against the
lesson's own bounds before the model sees it; see :func:`read_control`,
:class:`Bound` and :class:`Status`). :class:`Prediction` asks the learner to
commit to an answer before a reveal; :class:`Revealed` blocks further down
the page stay hidden until then.

Each lesson's scenario, controls and the text of its readouts live in the
widget-free :mod:`coupling_lab.lessons`; an app builds each widget from its
declared :class:`~coupling_lab.lessons.Control` (:func:`control_widget`) and
checks every value against the same declaration. The old names (``fault_config``,
``design_config``, ``dial_summary``, ``balances_at``, ``drop_config``,
``depth_sweep``...) are re-exported from the ui modules.
"""
from ._common import PALETTE, Status, UntrustedValue, platform_color, read_control, style_axes
from .app import Bound, LessonApp, canvas_widget, control_widget, main_slider, new_figure
from .quiz import Prediction, Revealed
from .one_engine import OneEngine
from .sharing_dial import DialSweep, SharingDial
from .start_here import CouplingPicture

__all__ = ["PALETTE", "Status", "UntrustedValue", "platform_color", "read_control", "style_axes",
           "Bound", "LessonApp", "canvas_widget", "control_widget", "main_slider", "new_figure", "Prediction",
           "Revealed", "CouplingPicture", "OneEngine", "SharingDial", "DialSweep"]
