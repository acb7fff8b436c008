"""Redraw only what a control moves: :class:`LayeredDraw`, on Matplotlib's public blitting API.

Most of a lesson figure's render time is text (tick labels, axis labels,
legends, titles): Agg rasterises every glyph again on every full draw, although
a slider move changes little of it. A :class:`LayeredDraw` follows Matplotlib's
blitting recipe (``Artist.set_animated``, ``canvas.copy_from_bbox``,
``canvas.restore_region``, ``Axes.draw_artist``, ``canvas.blit``; see the
"Faster rendering by using blitting" tutorial). The app's *moving* artists are
marked animated, so an ordinary figure draw leaves them out; on
:meth:`update` it

1. pastes the kept picture of the figure without its moving artists (a
   *static frame*) for the current state, or renders one (``Figure.draw`` on
   the canvas's renderer) when the static part changed and keeps it (a few
   are kept, LRU: a slider moving back and forth pastes them);
2. draws the moving artists on top, in z-order;
3. pastes the overlays (legends with an opaque frame) back over them;
4. ``canvas.blit()``: under ipympl this sends the new frame (a PNG of the
   changed pixels) to the page at once, without the page -> kernel ``draw``
   round trip that ``draw_idle()`` costs, and without a full render;
5. marks the figure not stale: IPython runs its post-execute hooks after
   every comm message, and pyplot's hook asks the page to redraw every stale
   figure -- a second, full draw per slider step (and, when a draw left the
   figure stale, a redraw loop of about ten frames a second on an idle page).

With no moving artists, :meth:`update` is a full ``canvas.draw()`` (still without the
round trip).

A static frame is keyed on every axes' position, view limits (they decide the
tick labels), fixed tick labels and their colours, axis labels, titles and
texts that are not moving artists; the canvas size, dpi (the page's device
pixel ratio), figure texts and a version the app bumps with :meth:`invalidate`
after changing another static artist.

Until a first ordinary draw has happened (no page yet), :meth:`update` only calls
``draw_idle()``. Draws it does not make itself (the page's first draw, a refresh or resize,
``savefig``, the toolbar's download) stay ordinary full draws: a ``draw_event``
callback draws the animated artists into them, so every picture is complete.
Animated artists do not mark the figure stale, so moving their data never
triggers a second, full redraw (and drawing them never starts a redraw loop).
A layout engine (constrained layout) runs in the first static render and is
then switched off, so the axes keep their places.

>>> from matplotlib.figure import Figure
>>> from matplotlib.backends.backend_agg import FigureCanvasAgg
>>> fig = Figure(figsize=(3, 2)); canvas = FigureCanvasAgg(fig); ax = fig.add_subplot()
>>> line, = ax.plot([0, 1], [0, 1]); _ = ax.legend(["y = x"])
>>> layers = LayeredDraw(fig, moving=[line], overlays=[ax.get_legend()])
>>> layers.update(); layers.n_full, layers.n_fast  # the first update is an ordinary draw
(0, 0)
>>> line.set_ydata([0.5, 0.5]); layers.update(); layers.n_full, layers.n_fast
(1, 0)
>>> line.set_ydata([1, 0]); layers.update(); layers.n_full, layers.n_fast
(1, 1)
>>> _ = ax.set_ylim(-1, 2); layers.update(); layers.n_full, layers.n_fast
(2, 1)
"""
from __future__ import annotations

from collections import OrderedDict

from matplotlib.image import AxesImage
from matplotlib.text import Text
from matplotlib.ticker import FixedFormatter, FuncFormatter
from matplotlib.transforms import Bbox

__all__ = ["LayeredDraw"]

_PAD = 1  # pixels around an overlay: antialiased edges


def _axes_key(ax, moving):
    parts = [tuple(ax.get_position().bounds), ax.get_xlim(), ax.get_ylim(), ax.get_visible(),
             ax.get_xlabel(), ax.get_ylabel()]
    for axis in (ax.xaxis, ax.yaxis):
        if isinstance(axis.get_major_formatter(), (FixedFormatter, FuncFormatter)):  # set_ticklabels(...)
            parts.append(tuple((t.get_text(), str(t.get_color())) for t in axis.get_ticklabels()))
    # titles and texts; a moving one is drawn on every frame, not kept
    parts.append(tuple((t.get_text(), t.get_visible()) for t in ax.get_children()
                       if isinstance(t, Text) and id(t) not in moving))
    return tuple(parts)


class _Frame:
    __slots__ = ("background", "overlays")

    def __init__(self, background, overlays):
        self.background, self.overlays = background, overlays


class LayeredDraw:
    """Kept static frames under a figure's moving artists (see the module docstring).

    Parameters
    ----------
    fig : Figure on an Agg canvas (ipympl's or plain Agg)
    moving : artists the app changes on an update (lines, collections, patches,
        texts, images); marked animated and drawn on every frame over the static frame
    overlays : artists that must stay above the moving ones (legends with an
        opaque frame); their pixels are pasted back after the moving artists
    max_frames : static frames kept (each is width x height x 4 bytes)

    Attributes
    ----------
    n_full, n_fast : updates that rendered a new static frame, or pasted a kept one
    n_partial : always 0 (kept for callers of the former implementation)
    """

    def __init__(self, fig, moving, overlays=(), max_frames=6):
        self.fig = fig
        self.moving = [a for a in moving if a is not None]
        self.overlays = [a for a in overlays if a is not None]
        self.max_frames = int(max_frames)
        self.version = 0
        self.n_full = self.n_fast = self.n_partial = 0
        self._frames = OrderedDict()
        self._own_draw = False
        self._shown = False  # an ordinary draw happened: the page (or a test) has the picture
        self._ids = set(map(id, self.moving))
        for artist in self.moving:
            artist.set_animated(True)  # ordinary draws leave it out; no stale -> no extra redraw
        self._cid = fig.canvas.mpl_connect("draw_event", self._on_draw_event)

    def invalidate(self):
        """Forget every kept frame: call after changing a static artist the keys do not see."""
        self.version += 1
        self._frames.clear()

    # --- keys --------------------------------------------------------------------
    def _key(self):
        fig = self.fig
        texts = [t for t in fig.texts if id(t) not in self._ids]
        suptitle = fig.get_suptitle() if hasattr(fig, "get_suptitle") else ""
        return (fig.canvas.get_width_height(physical=True), fig.dpi, self.version, suptitle,
                tuple((t.get_text(), t.get_visible()) for t in texts), len(fig.axes),
                tuple(_axes_key(ax, self._ids) for ax in fig.axes))

    # --- drawing -----------------------------------------------------------------
    def update(self):
        """Show the moving artists' new state: paste or render the static frame, draw them, blit."""
        canvas = self.fig.canvas
        if not self._shown:
            # Nothing on screen yet: the page's first (ordinary) draw shows it. A frame sent
            # before the page is there would be lost (ipympl keeps it as an unusable data URL).
            canvas.draw_idle()
            return
        if not self.moving:  # nothing to layer: a full draw now (no page -> kernel draw request)
            canvas.draw()
            return
        key = self._key()
        frame = self._frames.get(key)
        if frame is not None:
            self._frames.move_to_end(key)
            canvas.restore_region(frame.background)
            self.n_fast += 1
        else:
            frame = self._render_static()
            self.n_full += 1
        self._draw_moving(canvas.get_renderer())
        for region in frame.overlays:
            canvas.restore_region(region)
        canvas.blit(self.fig.bbox)
        self.fig.stale = False  # drawn: IPython's post-execute hook (run after every comm message) skips it

    def _render_static(self):
        fig, canvas = self.fig, self.fig.canvas
        images = [a for a in self.moving if isinstance(a, AxesImage)]  # Axes.draw draws images even if animated
        shown = [a.get_visible() for a in images]
        for a in images:
            a.set_visible(False)
        self._own_draw = True
        try:
            renderer = canvas.get_renderer()
            renderer.clear()
            fig.draw(renderer)  # everything but the moving artists (runs any layout engine)
        finally:
            self._own_draw = False
            for a, flag in zip(images, shown):
                a.set_visible(flag)
        if fig.get_layout_engine() is not None:
            fig.set_layout_engine("none")  # keep the places the engine just found
        frame = _Frame(canvas.copy_from_bbox(fig.bbox), self._overlay_regions(renderer))
        self._frames[self._key()] = frame  # the key after layout (it may have moved the axes)
        while len(self._frames) > self.max_frames:
            self._frames.popitem(last=False)
        return frame

    def _draw_moving(self, renderer):
        for artist in sorted(self.moving, key=lambda a: a.get_zorder()):
            if artist.get_visible() and (artist.axes is None or artist.axes.get_visible()):
                artist.draw(renderer)

    def _overlay_regions(self, renderer):
        canvas = self.fig.canvas
        out = []
        for artist in self.overlays:
            if not artist.get_visible() or (artist.axes is not None and not artist.axes.get_visible()):
                continue
            b = artist.get_window_extent(renderer)
            out.append(canvas.copy_from_bbox(Bbox.from_extents(b.x0 - _PAD, b.y0 - _PAD, b.x1 + _PAD, b.y1 + _PAD)))
        return out

    def _on_draw_event(self, event):
        """An ordinary full draw (the page's, a resize, savefig): draw the animated artists into it."""
        if self._own_draw:
            return
        canvas, renderer = self.fig.canvas, event.renderer
        if canvas.is_saving():
            # Axes.draw includes animated artists when saving; the figure's own ones are left out
            for artist in sorted(self.moving, key=lambda a: a.get_zorder()):
                if artist.axes is None and artist.get_visible():
                    artist.draw(renderer)
            return
        self._shown = True
        overlays = self._overlay_regions(renderer)
        self._draw_moving(renderer)  # (images were drawn in place by Axes.draw; again on top is the same)
        for region in overlays:
            canvas.restore_region(region)
        # Whatever the draw marked stale is on screen: without this, the post-execute hook would
        # answer the page's next message with another draw request (a redraw loop).
        self.fig.stale = False
