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
pixel ratio), figure texts (the suptitle among them) and a version the app bumps
with :meth:`invalidate` after changing another static artist.

An axis (``ax.yaxis``, ``ax.xaxis``) may itself be a moving artist: its ticks, tick
labels, grid lines and label are then drawn on every frame, and its view limits
leave the key, so an axes whose scale follows the data (a panel's top set from
the run) costs a few glyphs per frame instead of a new static frame. Every
other artist of that axes that is placed in its data coordinates along that
axis must then be moving too (the constructor checks: ``ValueError``).

Until a first ordinary draw has happened (no page yet), :meth:`update` only calls
``draw_idle()``. An ordinary draw leaves the animated artists out, so the picture it
leaves on the canvas is the static frame of its state: it is kept (unless a moving
artist is an image, which ``Axes.draw`` draws anyway), and the first update after the
page's first draw pastes it instead of rendering it again. Draws it does not make itself (the page's first draw, a refresh or resize,
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
>>> line.set_ydata([0.5, 0.5]); layers.update(); layers.n_full, layers.n_fast  # its static frame was kept
(0, 1)
>>> _ = ax.set_ylim(-1, 2); layers.update(); layers.n_full, layers.n_fast
(1, 1)
>>> line.set_ydata([1, 0]); layers.update(); layers.n_full, layers.n_fast
(1, 2)

With the y axis moving, new y limits need no new static frame:

>>> fig = Figure(figsize=(3, 2)); canvas = FigureCanvasAgg(fig); ax = fig.add_subplot()
>>> line, = ax.plot([0, 1], [0, 1])
>>> layers = LayeredDraw(fig, moving=[line, ax.yaxis]); layers.update()
>>> _ = ax.set_ylim(-2, 3); layers.update(); _ = ax.set_ylim(0, 5); layers.update()
>>> layers.n_full, layers.n_fast
(0, 2)
"""
from __future__ import annotations

from collections import OrderedDict

from matplotlib.axis import Axis
from matplotlib.collections import Collection
from matplotlib.image import AxesImage
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.spines import Spine
from matplotlib.text import Text
from matplotlib.ticker import FixedFormatter, FuncFormatter
from matplotlib.transforms import Bbox

__all__ = ["LayeredDraw"]

_PAD = 1  # pixels around an overlay: antialiased edges


def _check_moving_axes(moving, ids):
    """A moving axis leaves its limits out of the key: no static artist may be placed by them."""
    for axis in moving:
        if not isinstance(axis, Axis):
            continue
        ax = axis.axes
        dim = 0 if axis is ax.xaxis else 1
        for artist in ax.get_children():
            if id(artist) in ids or isinstance(artist, (Axis, Spine)) or artist is ax.patch:
                continue
            if not isinstance(artist, (Line2D, Patch, Collection, AxesImage, Text)):
                continue
            if artist.get_transform().contains_branch_seperately(ax.transData)[dim]:
                raise ValueError(f"moving {'xy'[dim]} axis of an axes whose static {type(artist).__name__} is placed "
                                 f"in its data coordinates; mark that artist moving too")


def _axes_key(ax, moving):
    parts = [tuple(ax.get_position().bounds), ax.get_visible()]
    for axis, limits, label in ((ax.xaxis, ax.get_xlim, ax.get_xlabel), (ax.yaxis, ax.get_ylim, ax.get_ylabel)):
        if id(axis) in moving:  # drawn on every frame: its limits and labels are not in the static frame
            parts.append(None)
            continue
        parts += [limits(), label()]
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
        texts, images, an axes' ``xaxis``/``yaxis``); marked animated and drawn on every
        frame over the static frame
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
        _check_moving_axes(self.moving, self._ids)
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
        texts = [t for t in fig.texts if id(t) not in self._ids]  # fig.texts holds the suptitle too
        return (fig.canvas.get_width_height(physical=True), fig.dpi, self.version,
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
        return self._keep(renderer)

    def _keep(self, renderer):
        """Keep the canvas's picture (the static part only, just drawn) as the frame of the current state."""
        fig, canvas = self.fig, self.fig.canvas
        if fig.get_layout_engine() is not None:
            fig.set_layout_engine("none")  # keep the places the engine just found
        frame = _Frame(canvas.copy_from_bbox(fig.bbox), self._overlay_regions(renderer))
        self._frames[self._key()] = frame  # the key after layout (it may have moved the axes)
        self._frames.move_to_end(self._key())
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
        if renderer is canvas.get_renderer() and not any(isinstance(a, AxesImage) for a in self.moving):
            # the draw left the animated artists out: the canvas holds this state's static frame, so
            # the next update pastes it instead of rendering it again (an image would be in it)
            overlays = self._keep(renderer).overlays
        else:
            overlays = self._overlay_regions(renderer)
        self._draw_moving(renderer)  # (images were drawn in place by Axes.draw; again on top is the same)
        for region in overlays:
            canvas.restore_region(region)
        # Whatever the draw marked stale is on screen: without this, the post-execute hook would
        # answer the page's next message with another draw request (a redraw loop).
        self.fig.stale = False
