"""The pattern every lesson app follows: :class:`LessonApp`.

A lesson app is a small class with

* ``bounds`` -- the lesson's own limits for each control, declared as data: a
  :class:`~coupling_lab.lessons.Control` (range, step, default, label, unit; the
  widget is built from it with :func:`control_widget`) or a :class:`Bound`; a
  widget's ``min``/``max`` are synced traits the page can change, so they are
  never trusted;
* ``controls`` -- a dict ``name -> widget``; the first interactive control of a
  lesson (its *main control*) carries the CSS class ``cl-main-control``;
* ``status`` -- a :class:`~coupling_lab.ui.Status` line under the controls;
* ``fig`` -- a matplotlib figure drawn **once** (in :meth:`build_figure`);
* :meth:`update` -- reads every control through its bound, re-runs the model
  (:meth:`compute`), then moves the artists' data (:meth:`draw`) and asks the
  canvas to redraw. It is wrapped by ``status.guard``: a bad value or an error
  leaves the last good figure, ``values`` and ``result`` untouched and shows
  one line.

A subclass writes four small methods::

    class MyApp(LessonApp):
        bounds = {"sharing": Bound(0, 1), "seed": Bound(0, 10_000, integer=True)}

        def build_controls(self):
            return {"sharing": main_slider(widgets.FloatSlider(value=0, min=0, max=1, step=0.05)),
                    "seed": widgets.BoundedIntText(value=1, min=0, max=10_000)}

        def build_figure(self):          # called once, inside plt.ioff()
            fig, ax = plt.subplots(); self.line, = ax.plot([], []); return fig

        def compute(self, values):       # the model only: no artists touched here
            return simulate(Config(sharing=values["sharing"]), seed=values["seed"])

        def draw(self, result):          # artists only: set_data / set_offsets / ...
            self.line.set_data(...)

Keep everything that can fail in :meth:`compute`: :meth:`draw` only moves
data already checked, so a failure never leaves a half-updated figure.
"""
from __future__ import annotations

from dataclasses import dataclass

import ipywidgets as widgets

from ._common import Status, read_control
from ._layers import LayeredDraw

__all__ = ["Bound", "LessonApp", "main_slider", "canvas_widget", "new_figure", "control_widget"]


@dataclass(frozen=True)
class Bound:
    """A lesson's own limits for one control.

    ``Bound(0, 1)`` a real number in [0, 1]; ``Bound(1, 8, integer=True)`` a
    whole number; ``Bound(choices=("crash", "jump"))`` one of a set.
    """

    low: float | None = None
    high: float | None = None
    integer: bool = False
    choices: tuple | None = None

    def read(self, name, value):
        """The checked value, or :class:`~coupling_lab.ui.UntrustedValue` with one line."""
        return read_control(name, value, self.low, self.high, integer=self.integer, choices=self.choices)


_STYLE = {"description_width": "initial"}


def control_widget(control, value=None, width=None, **extra):
    """The widget of a declared :class:`~coupling_lab.lessons.Control`: its range, step, default,
    label and unit, so the widget and the lesson's bound check cannot drift apart.

    Numbers get a slider (``IntSlider`` for whole numbers) or, with ``kind="text"``, a
    ``BoundedIntText``/``BoundedFloatText``; choices get ``ToggleButtons`` or, with
    ``kind="dropdown"``, a ``Dropdown``. ``value`` overrides the default (an app's argument);
    ``extra`` goes to the widget (e.g. ``style``).
    """
    value = control.default if value is None else value
    layout = widgets.Layout(width=width) if width else widgets.Layout()
    if control.choices is not None:
        if control.kind == "dropdown":
            return widgets.Dropdown(options=control.choices, value=value, description=control.description,
                                    style=_STYLE, layout=layout, **extra)
        style = {"description_width": "initial", **extra.pop("style", {})}
        return widgets.ToggleButtons(options=control.choices, value=value, description=control.description,
                                     style=style, layout=layout, **extra)
    if control.kind == "text":
        cls = widgets.BoundedIntText if control.integer else widgets.BoundedFloatText
        return cls(value=value, min=control.low, max=control.high, step=control.step or 1,
                   description=control.description, style=_STYLE, layout=layout, **extra)
    cls = widgets.IntSlider if control.integer else widgets.FloatSlider
    kwargs = dict(value=value, min=control.low, max=control.high, description=control.description,
                  continuous_update=False, style=_STYLE, layout=layout)
    if control.step is not None:
        kwargs["step"] = control.step
    if control.fmt:
        kwargs["readout_format"] = control.fmt
    return cls(**kwargs, **extra)


def main_slider(slider):
    """Mark ``slider`` as the lesson's main control (browser tests find it by this class)."""
    slider.add_class("cl-main-control")
    return slider


def new_figure(*args, **kwargs):
    """``plt.subplots(*args, **kwargs)`` without displaying it, canvas set up for lessons.

    Under ipympl (``%matplotlib widget``) the canvas is a widget: its header
    and toolbar are hidden and it does not resize, so the app's layout is the
    same in JupyterLab and in Voila.
    """
    import matplotlib.pyplot as plt

    with plt.ioff():
        fig, axes = plt.subplots(*args, **kwargs)
    canvas = fig.canvas
    for trait, value in (("header_visible", False), ("footer_visible", False),
                         ("toolbar_visible", False), ("resizable", False), ("capture_scroll", False)):
        if hasattr(canvas, trait):
            setattr(canvas, trait, value)
    return fig, axes


def canvas_widget(fig):
    """The widget that shows ``fig``: its ipympl canvas, or an empty placeholder
    under a non-widget backend (tests run with Agg)."""
    if isinstance(fig.canvas, widgets.DOMWidget):
        return fig.canvas
    return widgets.HTML("")


class LessonApp:
    """Base class of the lesson apps: controls + status + figure + guarded update.

    Attributes
    ----------
    widget : ipywidgets.Widget, display it
    controls : dict name -> widget
    status : Status
    fig : matplotlib Figure
    values : dict, the last control values that produced the figure
    result : the last good model result
    n_updates : int, how many updates succeeded (tests and benchmarks read it)
    """

    bounds: dict = {}

    def __init__(self):
        self.status = Status()
        self.controls = dict(self.build_controls())
        missing = set(self.controls) - set(self.bounds)
        if missing:
            raise TypeError(f"{type(self).__name__}.bounds must declare every control; missing {sorted(missing)}")
        self.values = None
        self.result = None
        self.n_updates = 0
        self.fig = self.build_figure()
        moving = list(self.moving_artists())
        # redraw only the moving artists over a cached static layer (see _layers.py)
        self.layers = LayeredDraw(self.fig, moving, self.overlay_artists() if moving else ())
        self.update = self.status.guard(self._update)
        self.update()
        if self.n_updates == 0:
            raise RuntimeError(f"{type(self).__name__} could not draw its first figure: {self.status.message}")
        for w in self.controls.values():
            w.observe(self._on_change, names="value")
        self.widget = self.layout()

    # --- to write in a subclass -------------------------------------------------
    def build_controls(self):
        """Return ``{name: widget}`` (called once)."""
        raise NotImplementedError

    def build_figure(self):
        """Draw the figure once with empty artists and return it (use :func:`new_figure`)."""
        raise NotImplementedError

    def compute(self, values):
        """Run the model for checked ``values``; return the result (no drawing)."""
        raise NotImplementedError

    def draw(self, result):
        """Move the artists' data to show ``result`` (no model code)."""
        raise NotImplementedError

    def layout(self):
        """The app's widget: controls, status line, figure, and :meth:`extra_widgets`."""
        controls = widgets.HBox(list(self.controls.values()),
                                layout=widgets.Layout(flex_flow="row wrap", grid_gap="0.3em 1.2em"))
        return widgets.VBox([controls, self.status.widget, canvas_widget(self.fig), *self.extra_widgets()],
                            layout=widgets.Layout(width="100%"))

    def extra_widgets(self):
        """Widgets shown under the figure (e.g. a readout). Default: none."""
        return []

    def moving_artists(self):
        """Artists :meth:`draw` changes. If any, an update redraws only them over a kept
        picture of the rest and blits (:class:`~coupling_lab.ui._layers.LayeredDraw`); they are
        marked animated. Default: none (every update is a full draw)."""
        return []

    def overlay_artists(self):
        """Artists drawn over the moving ones (legends with an opaque frame). Default: none."""
        return []

    # --- the machinery -----------------------------------------------------------
    def read_values(self):
        """Every control's value, checked against :attr:`bounds`."""
        return {name: self.bounds[name].read(name, w.value) for name, w in self.controls.items()}

    def _update(self):
        values = self.read_values()
        result = self.compute(values)
        self.draw(result)
        self.values, self.result = values, result
        self.n_updates += 1
        self.layers.update()  # the static frame + the moving artists, sent at once (blit)
        return result

    def _on_change(self, change):
        self.update()
