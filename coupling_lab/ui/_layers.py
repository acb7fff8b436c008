"""Redraw only what a control moves: :class:`LayeredDraw`.

Most of a lesson figure's render time is text (tick labels, axis labels,
legends, titles): Matplotlib's Agg rasterises every glyph again on every
draw, although a slider move changes little of it. A :class:`LayeredDraw`
keeps pictures of the figure *without* its moving artists (static frames)
and, on each draw,

1. pastes the static frame of the current state back if it has one; if not,
   takes the last frame and re-renders only the axes whose static part
   changed (their view limits, tick labels, titles...), each over the figure
   background, together with any axes whose area touches theirs;
2. draws the moving artists (the data the app updates) on top, in z-order;
3. pastes the overlays (legends with an opaque frame) back over them.

An axes' static part is keyed on its position, view limits (they decide the
tick labels), fixed tick labels and their colours, axis labels and titles
(except titles that are moving artists); the figure's on canvas size, dpi (the
page's device pixel ratio), figure texts and a version the app bumps with
:meth:`invalidate` after changing another static artist. A few frames are
kept (LRU): a slider moving back and forth pastes them.

It replaces ``draw`` on that figure's canvas only (ipympl answers the page's
``draw`` request with it); ``savefig`` and the toolbar's download still
draw the whole figure the ordinary way. A layout engine (constrained layout)
runs in the first draw and is then switched off, so the axes keep their places.

>>> from matplotlib.figure import Figure
>>> from matplotlib.backends.backend_agg import FigureCanvasAgg
>>> fig = Figure(figsize=(3, 2)); canvas = FigureCanvasAgg(fig); ax = fig.add_subplot()
>>> line, = ax.plot([0, 1], [0, 1]); _ = ax.legend(["y = x"])
>>> layers = LayeredDraw(fig, moving=[line], overlays=[ax.get_legend()])
>>> fig.canvas.draw(); layers.n_full, layers.n_partial, layers.n_fast
(1, 0, 0)
>>> line.set_ydata([1, 0]); fig.canvas.draw(); layers.n_full, layers.n_partial, layers.n_fast
(1, 0, 1)
>>> _ = ax.set_ylim(-1, 2); fig.canvas.draw(); layers.n_full, layers.n_partial, layers.n_fast
(1, 1, 1)
"""
from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.ticker import FixedFormatter, FuncFormatter

__all__ = ["LayeredDraw"]

_TITLES = {"left": "_left_title", "center": "title", "right": "_right_title"}
_PAD = 2  # pixels around an axes' area: antialiased edges


def _axes_key(ax, moving):
    parts = [tuple(ax.get_position().bounds), tuple(ax.viewLim.bounds), ax.get_visible(),
             ax.get_xlabel(), ax.get_ylabel()]
    for axis in (ax.xaxis, ax.yaxis):
        if isinstance(axis.get_major_formatter(), (FixedFormatter, FuncFormatter)):  # set_ticklabels(...)
            parts.append(tuple((t.get_text(), str(t.get_color())) for t in axis.get_ticklabels()))
    for loc, attr in _TITLES.items():
        if id(getattr(ax, attr, None)) not in moving:  # a moving title is drawn every frame, not cached
            parts.append(ax.get_title(loc))
    return tuple(parts)


class _Frame:
    __slots__ = ("pixels", "keys", "boxes", "overlays")

    def __init__(self, pixels, keys, boxes, overlays):
        self.pixels, self.keys, self.boxes, self.overlays = pixels, keys, boxes, overlays


class LayeredDraw:
    """Cached static frames under a figure's moving artists (see the module docstring).

    Parameters
    ----------
    fig : Figure on an Agg canvas (ipympl's or plain Agg)
    moving : artists the app changes on an update (lines, collections, patches,
        texts); drawn on every frame over the static frame
    overlays : artists that must stay above the moving ones (legends with an
        opaque frame); their pixels are pasted back after the moving artists
    max_frames : static frames kept (each is width x height x 4 bytes)

    Attributes
    ----------
    n_full, n_partial, n_fast : draws that rendered every axes, only the
        changed axes, or pasted a kept frame
    """

    def __init__(self, fig, moving, overlays=(), max_frames=6):
        self.fig = fig
        self.moving = [a for a in moving if a is not None]
        self.overlays = [a for a in overlays if a is not None]
        self.max_frames = int(max_frames)
        self.version = 0
        self.n_full = self.n_partial = self.n_fast = 0
        self._frames = OrderedDict()
        self._background = None  # (figure key, pixels of the figure without its axes)
        fig.canvas.draw = self.draw

    def invalidate(self):
        """Forget every kept frame: call after changing a static artist the keys do not see."""
        self.version += 1
        self._frames.clear()
        self._background = None

    # --- keys --------------------------------------------------------------------
    def _figure_key(self, renderer):
        fig = self.fig
        moving = set(map(id, self.moving))
        texts = [t for t in (*fig.texts, getattr(fig, "_suptitle", None)) if t is not None and id(t) not in moving]
        return (renderer.width, renderer.height, fig.dpi, self.version,
                tuple((t.get_text(), t.get_visible()) for t in texts), len(fig.axes))

    # --- drawing -----------------------------------------------------------------
    def draw(self, *args, **kwargs):
        """Draw the figure on its canvas (the canvas's ``draw`` is this method)."""
        canvas = self.fig.canvas
        if hasattr(canvas, "_png_is_old"):  # ipympl / webagg: then send the new frame to the page
            canvas._png_is_old = True
            try:
                self._render(canvas)
            finally:
                if getattr(canvas, "manager", None) is not None:
                    canvas.manager.refresh_all()
        else:
            self._render(canvas)

    def _render(self, canvas):
        renderer = canvas.get_renderer()
        fkey = self._figure_key(renderer)
        moving = set(map(id, self.moving))
        keys = tuple(_axes_key(ax, moving) for ax in self.fig.axes)
        frame = self._frames.get((fkey, keys))
        buf = np.asarray(renderer.buffer_rgba())
        if frame is not None:
            self._frames.move_to_end((fkey, keys))
            np.copyto(buf, frame.pixels)
            self.n_fast += 1
        else:
            base = next((f for (fk, _), f in reversed(self._frames.items()) if fk == fkey), None)
            with self._hidden(self.moving):
                if base is None or self._background is None or self._background[0] != fkey:
                    frame = self._full(canvas, fkey)
                    self.n_full += 1
                else:
                    frame = self._partial(canvas, base, keys)
                    self.n_partial += 1
            renderer = canvas.get_renderer()
            fkey = self._figure_key(renderer)  # a layout engine may have moved the axes
            frame.keys = tuple(_axes_key(ax, moving) for ax in self.fig.axes)
            self._frames[(fkey, frame.keys)] = frame
            while len(self._frames) > self.max_frames:
                self._frames.popitem(last=False)
        for artist in sorted(self.moving, key=lambda a: a.get_zorder()):
            if artist.get_visible() and (artist.axes is None or artist.axes.get_visible()):
                artist.draw(renderer)
        for rows, cols, pixels in frame.overlays:
            buf[rows, cols] = pixels

    @staticmethod
    def _hidden(artists):
        class _Ctx:
            def __enter__(self_):
                self_.flags = [a.get_animated() for a in artists]
                for a in artists:
                    a.set_animated(True)  # Figure/Axes.draw skip animated artists; no stale churn
                return self_

            def __exit__(self_, *exc):
                for a, flag in zip(artists, self_.flags):
                    a.set_animated(flag)
                return False

        return _Ctx()

    def _full(self, canvas, fkey):
        fig = self.fig
        FigureCanvasAgg.draw(canvas)  # the static layer, every axes (runs any layout engine)
        if fig.get_layout_engine() is not None:
            fig.set_layout_engine("none")  # keep the places the engine just found
        renderer = canvas.get_renderer()
        pixels = np.asarray(renderer.buffer_rgba()).copy()
        # the figure without its axes: what an axes' area is cleared to before it is redrawn
        with self._hidden(fig.axes):
            FigureCanvasAgg.draw(canvas)
        self._background = (self._figure_key(renderer), np.asarray(renderer.buffer_rgba()).copy())
        np.copyto(np.asarray(renderer.buffer_rgba()), pixels)
        boxes = [self._box(ax, renderer) for ax in fig.axes]
        return _Frame(pixels, None, boxes, self._overlay_pixels(renderer))

    def _partial(self, canvas, base, keys):
        renderer = canvas.get_renderer()
        buf = np.asarray(renderer.buffer_rgba())
        np.copyto(buf, base.pixels)
        axes = self.fig.axes
        todo = {i for i, (old, new) in enumerate(zip(base.keys, keys)) if old != new}
        boxes = list(base.boxes)
        clear = []
        while todo:
            i = todo.pop()
            new = self._box(axes[i], renderer)
            area = _union(boxes[i], new)
            boxes[i] = new
            clear.append((i, area))
            for j, box in enumerate(boxes):  # an axes whose area meets the cleared one is redrawn too
                if j not in todo and all(j != c for c, _ in clear) and _overlap(box, area):
                    todo.add(j)
        background = self._background[1]
        for _, (x0, y0, x1, y1) in clear:
            rows, cols = self._slices(renderer, x0, y0, x1, y1)
            buf[rows, cols] = background[rows, cols]
        for i in sorted(c for c, _ in clear):
            axes[i].draw(renderer)
        pixels = buf.copy()
        return _Frame(pixels, None, boxes, self._overlay_pixels(renderer))

    def _box(self, ax, renderer):
        if not ax.get_visible():
            return None
        b = ax.get_tightbbox(renderer)
        if b is None:
            return None
        return (math.floor(b.x0) - _PAD, math.floor(b.y0) - _PAD, math.ceil(b.x1) + _PAD, math.ceil(b.y1) + _PAD)

    @staticmethod
    def _slices(renderer, x0, y0, x1, y1):
        h, w = int(renderer.height), int(renderer.width)
        r0, r1 = max(0, h - int(y1)), min(h, h - int(y0))
        c0, c1 = max(0, int(x0)), min(w, int(x1))
        return slice(r0, max(r0, r1)), slice(c0, max(c0, c1))

    def _overlay_pixels(self, renderer):
        buf = np.asarray(renderer.buffer_rgba())
        out = []
        for artist in self.overlays:
            if not artist.get_visible() or (artist.axes is not None and not artist.axes.get_visible()):
                continue
            b = artist.get_window_extent(renderer)
            rows, cols = self._slices(renderer, math.floor(b.x0) - 1, math.floor(b.y0) - 1,
                                      math.ceil(b.x1) + 1, math.ceil(b.y1) + 1)
            out.append((rows, cols, buf[rows, cols].copy()))
        return out


def _union(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _overlap(a, b):
    if a is None or b is None:
        return False
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
