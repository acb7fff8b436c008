"""Serve the lessons to a class: ``python -m coupling_lab.serve`` (``make serve``).

This is the one place where the served app is configured. It starts Voilà on
``notebooks/`` with a landing page at ``/`` (:mod:`coupling_lab.landing`: a card per lesson),
prints the URL, and applies the class settings below:

* **Bound to loopback** (``127.0.0.1``) unless ``--host`` says otherwise.
* **Sources hidden** (``strip_sources``), **tracebacks off**
  (``show_tracebacks``), no template/theme override from the URL, only image
  files served next to the notebooks (Voilà's defaults, restated here).
* **Idle kernels culled.** A closed page does not shut its kernel down (Voilà
  0.5), so a kernel whose page is gone (no websocket) is shut down after
  ``cull_idle_timeout`` seconds without activity; a kernel whose page is still
  open but untouched is shut down after ``cull_connected_timeout`` seconds.
* **A cap on live kernels.** Once ``max_kernels`` kernels run (or are
  starting), a new page gets an HTTP 503 page saying the class is full,
  instead of a kernel; optionally at most ``max_kernels_per_address`` per
  client address. A kernel whose page never connects its websocket within
  ``connect_timeout`` seconds of going idle is shut down.
* **A memory ceiling per kernel** (``kernel_memory_mb``, an address-space
  limit set by :mod:`coupling_lab.kernel_limit` when the kernel starts). A
  kernel that dies is not restarted; its page says so in one line.
* **A hostile client is contained** (:class:`ClassroomWebsocketConnection`):
  kernel websockets must speak the v1 protocol, every frame is checked before
  it is parsed, ipympl canvas sizes are bounded, Python text (warnings,
  logged errors, tracebacks) reaches the page as one line, logged client text
  is truncated. :class:`ClassroomVoila` serves the landing page at ``/`` and
  answers 404 where Voilà would list files or fail with a 500.

Every default can be changed on the command line or with an environment
variable (``CL_MAX_KERNELS``, ``CL_CULL_IDLE_TIMEOUT``,
``CL_CULL_CONNECTED_TIMEOUT``, ``CL_CULL_INTERVAL``, ``CL_CONNECT_TIMEOUT``,
``CL_MAX_KERNELS_PER_ADDRESS``, ``CL_KERNEL_MEMORY_MB``, ``CL_MAX_KERNEL_AGE``, ``CL_HOST``,
``CL_PORT``).

Sizing (measured on the 2-core, 24 GB reference machine, see
``benchmarks/README.md`` "Class load"): one lesson kernel takes about
``MB_PER_KERNEL`` MB of resident memory after its page has rendered; no
kernel can take more than ``kernel_memory_mb``, so the app's memory is at most
``SERVER_MB + max_kernels * kernel_memory_mb`` MB (:func:`memory_bound_mb`).
"""
from __future__ import annotations

import argparse
import contextvars
import dataclasses
import json
import math
import os
import re
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from jupyter_client.session import DELIM
from jupyter_server.services.kernels.connection.base import serialize_msg_to_ws_v1
from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager, ServerKernelManager
from tornado import web
from tornado.iostream import StreamBufferFullError
from traitlets import Bool, Integer

from coupling_lab import landing
from coupling_lab.kernel_limit import limit_command
from coupling_lab.kernel_limit import main as kernel_limit_main

__all__ = [
    "ClassSettings", "ClassroomKernelManager", "MB_PER_KERNEL", "SERVER_MB",
    "class_full_message", "memory_bound_mb", "voila_argv", "lesson_paths", "free_port",
    "BackgroundServer", "ClassroomWebsocketConnection", "ClassroomVoila", "LimitedKernelManager",
    "parse_v1_frame", "redact", "HIDDEN_ERROR", "KERNEL_STOPPED", "V1_PROTOCOL", "main",
]

#: Resident memory of one lesson kernel after its first render (MB), measured
#: by ``benchmarks/load_class.py`` (largest lesson, rounded up).
MB_PER_KERNEL = 200
#: Resident memory of the Voilà server process: 280 MB with 60 kernels, 340 MB with 100 (measured), rounded up.
SERVER_MB = 350

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"


@dataclasses.dataclass(frozen=True)
class ClassSettings:
    """Settings of a class served from one machine (defaults in one place).

    Parameters
    ----------
    host : str
        Address to bind. ``127.0.0.1`` keeps the app on this machine; anything
        else exposes it to the network (put it behind a hub or a proxy then).
    port : int
        TCP port. Fails clearly if it is taken (no silent port change).
    max_kernels : int
        Live kernels allowed at once (one per open lesson page). 40 kernels of
        about ``MB_PER_KERNEL`` MB each stay under 8 GB, and 40 is about what
        two cores can keep responsive (see README "Running a class").
    cull_idle_timeout : int, seconds
        A kernel whose page is closed is shut down after this long idle.
    cull_connected_timeout : int, seconds
        A kernel whose page is still open is shut down after this long idle
        (the learner reloads the page to get a new one).
    cull_interval : int, seconds
        How often the culler looks.
    connect_timeout : int, seconds
        A kernel whose page never opened its websocket is shut down this long
        after it went idle (a plain GET, or a page closed while loading).
    max_kernels_per_address : int
        Live kernels one client address may hold; 0 (the default) means no
        per-address cap (a class behind one NAT or proxy shares one address).
    max_kernel_age : int, seconds
        A kernel is shut down this long after it started, however it is used
        (a script that sends one message every half hour keeps no place for
        ever; a learner reloads the page to get a new kernel).
    kernel_memory_mb : int, MB
        Address-space ceiling of each kernel process. A lesson kernel maps
        0.9 GB of address space once rendered and up to 1.8 GB while its page
        connects (lesson 07, measured), for about 200-260 MB resident; past
        the ceiling its allocations fail (and it may die: its page then says so).
    root : str
        Folder served (the landing page lists its notebooks).
    """

    host: str = "127.0.0.1"
    port: int = 8866
    max_kernels: int = 40
    cull_idle_timeout: int = 120
    cull_connected_timeout: int = 1800
    cull_interval: int = 30
    connect_timeout: int = 30
    max_kernels_per_address: int = 0
    max_kernel_age: int = 14400
    kernel_memory_mb: int = 2560
    root: str = str(NOTEBOOKS)

    ENV = {
        "host": "CL_HOST", "port": "CL_PORT", "max_kernels": "CL_MAX_KERNELS",
        "cull_idle_timeout": "CL_CULL_IDLE_TIMEOUT",
        "cull_connected_timeout": "CL_CULL_CONNECTED_TIMEOUT",
        "cull_interval": "CL_CULL_INTERVAL", "connect_timeout": "CL_CONNECT_TIMEOUT",
        "max_kernels_per_address": "CL_MAX_KERNELS_PER_ADDRESS", "kernel_memory_mb": "CL_KERNEL_MEMORY_MB",
        "max_kernel_age": "CL_MAX_KERNEL_AGE",
    }

    @classmethod
    def from_env(cls, environ=None):
        """Defaults, overridden by the ``CL_*`` environment variables that are set."""
        environ = os.environ if environ is None else environ
        changes = {}
        for field, var in cls.ENV.items():
            if environ.get(var):
                kind = type(getattr(cls, field))
                changes[field] = kind(environ[var])
        return dataclasses.replace(cls(), **changes)

    def __post_init__(self):
        for field in ("port", "max_kernels", "cull_idle_timeout", "cull_connected_timeout", "cull_interval",
                      "connect_timeout", "max_kernel_age"):
            value = getattr(self, field)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{field} must be a whole number >= 1; got {value!r}")
        if not isinstance(self.max_kernels_per_address, int) or self.max_kernels_per_address < 0:
            raise ValueError("max_kernels_per_address must be a whole number >= 0 (0: no per-address cap); "
                             f"got {self.max_kernels_per_address!r}")
        if not isinstance(self.kernel_memory_mb, int) or self.kernel_memory_mb < 512:
            raise ValueError(f"kernel_memory_mb must be a whole number >= 512; got {self.kernel_memory_mb!r}")



def memory_bound_mb(settings=None):
    """Upper bound on the app's resident memory (MB): server + cap x kernel ceiling.

    Enforced: no kernel process can map more than ``kernel_memory_mb`` (see
    :mod:`coupling_lab.kernel_limit`). A class uses far less in practice:
    about ``MB_PER_KERNEL`` per kernel (:func:`typical_memory_mb`).

    >>> memory_bound_mb(ClassSettings(max_kernels=10, kernel_memory_mb=2560)) == SERVER_MB + 10 * 2560
    True
    """
    settings = settings or ClassSettings()
    return SERVER_MB + settings.max_kernels * settings.kernel_memory_mb


def typical_memory_mb(settings=None):
    """The app's resident memory with every place taken by a well-behaved page (MB)."""
    settings = settings or ClassSettings()
    return SERVER_MB + settings.max_kernels * MB_PER_KERNEL


def class_full_message(max_kernels):
    """The one line a learner sees when every place is taken (also the HTTP reason).

    >>> 'class is full' in class_full_message(3)
    True
    """
    return (f"The class is full: all {max_kernels} places are in use. "
            "Please try again in a few minutes.")


#: The client address of the request being served (set by the render handler).
client_address = contextvars.ContextVar("client_address", default=None)


class LimitedKernelManager(ServerKernelManager):
    """One kernel, started under its parent's ``kernel_memory_mb`` ceiling."""

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        mb = getattr(self.parent, "kernel_memory_mb", 0)
        return limit_command(mb, cmd) if mb else cmd


class ClassroomKernelManager(AsyncMappingKernelManager):
    """Voilà's kernel manager with a cap on live kernels, a second, longer
    idle timeout for kernels whose page is still open, a short one for
    kernels whose page never connected, an optional cap per client address,
    and a memory ceiling per kernel.

    ``cull_idle_timeout`` applies to kernels with no connection (their page
    was closed); ``cull_connected_timeout`` to kernels whose page is open;
    ``connect_timeout`` to kernels no page ever connected to.
    """

    max_kernels = Integer(40, config=True, help="Live kernels allowed at once; more pages get 'class is full'.")
    cull_connected_timeout = Integer(
        1800, config=True, help="Idle seconds after which a kernel with an open page is culled.")
    # kernels with an open page are culled too, after cull_connected_timeout (see cull_kernel_if_idle)
    cull_connected = Bool(True, config=True, help="Cull kernels with connections (after cull_connected_timeout).")
    connect_timeout = Integer(30, config=True, help="Idle seconds after which a kernel no page connected to is shut down.")
    max_kernels_per_address = Integer(0, config=True, help="Live kernels per client address (0: no cap).")
    kernel_memory_mb = Integer(0, config=True, help="Address-space ceiling of each kernel in MB (0: none).")
    max_kernel_age = Integer(0, config=True, help="Seconds after its start at which a kernel is culled (0: never).")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._reserved = set()     # kernel ids being started (not yet, or just, in self._kernels)
        self._address = {}         # kernel id -> client address that asked for it
        self._connected = set()    # kernel ids a page has connected to at least once
        self._started = {}         # kernel id -> when it started

    def _live_ids(self):
        return set(self._kernels) | set(self._pending_kernels) | self._reserved

    def live_kernel_count(self):
        """Kernels running or being started (each counted once)."""
        return len(self._live_ids())

    def kernels_of(self, address):
        """Live kernels started for ``address``."""
        return sum(1 for k in self._live_ids() if self._address.get(k) == address)

    async def start_kernel(self, *, kernel_id=None, path=None, **kwargs):
        if kernel_id is not None and kernel_id in self:
            return await super().start_kernel(kernel_id=kernel_id, path=path, **kwargs)
        # Checked and reserved without an await in between: concurrent page
        # loads cannot both take the last place.
        if self.live_kernel_count() >= self.max_kernels:
            self.log.warning("Class full: %d kernels live (cap %d); refusing a new page.",
                             self.live_kernel_count(), self.max_kernels)
            raise web.HTTPError(503, reason=class_full_message(self.max_kernels))
        address = client_address.get()
        if self.max_kernels_per_address and address is not None \
                and self.kernels_of(address) >= self.max_kernels_per_address:
            self.log.warning("Address %s already holds %d kernels (cap %d); refusing a new page.",
                             address, self.kernels_of(address), self.max_kernels_per_address)
            raise web.HTTPError(503, reason=address_full_message(self.max_kernels_per_address))
        kernel_id = kernel_id or self.new_kernel_id()
        self._reserved.add(kernel_id)
        self._address[kernel_id] = address
        try:
            kernel_id = await super().start_kernel(kernel_id=kernel_id, path=path, **kwargs)
        except BaseException:
            self._address.pop(kernel_id, None)
            raise
        finally:
            self._reserved.discard(kernel_id)
        self._started[kernel_id] = datetime.now(timezone.utc)
        self._watch_first_connection(kernel_id)
        return kernel_id

    def notify_connect(self, kernel_id):
        self._connected.add(kernel_id)
        super().notify_connect(kernel_id)

    def remove_kernel(self, kernel_id):
        self._address.pop(kernel_id, None)
        self._connected.discard(kernel_id)
        self._started.pop(kernel_id, None)
        return super().remove_kernel(kernel_id)

    def _watch_first_connection(self, kernel_id):
        """Shut ``kernel_id`` down if no page connects within ``connect_timeout`` s of it going idle."""
        from tornado.ioloop import IOLoop

        def check():
            kernel = self._kernels.get(kernel_id)
            if kernel is None or kernel_id in self._connected:
                return
            last = getattr(kernel, "last_activity", None)
            idle = (datetime.now(timezone.utc) - last).total_seconds() if last else 0.0
            busy = getattr(kernel, "execution_state", None) in ("busy", "starting")
            if busy or idle < self.connect_timeout:  # still rendering, or only just done: look again
                IOLoop.current().call_later(max(1.0, self.connect_timeout - idle if not busy else 2.0), check)
                return
            self.log.warning("Kernel %s: no page connected within %d s; shutting it down.",
                             kernel_id, self.connect_timeout)
            IOLoop.current().add_callback(self._shutdown_quietly, kernel_id)

        IOLoop.current().call_later(self.connect_timeout, check)

    async def _shutdown_quietly(self, kernel_id):
        try:
            if kernel_id in self._kernels and kernel_id not in self._connected:
                await self.shutdown_kernel(kernel_id)
        except Exception:  # already gone
            self.log.debug("kernel %s was already gone", kernel_id)

    async def cull_kernel_if_idle(self, kernel_id):
        kernel = self._kernels.get(kernel_id)
        if kernel is None:
            return
        started = self._started.get(kernel_id)
        if self.max_kernel_age and started is not None \
                and (datetime.now(timezone.utc) - started).total_seconds() > self.max_kernel_age:
            self.log.warning("Kernel %s is older than %d s; shutting it down.", kernel_id, self.max_kernel_age)
            await self.shutdown_kernel(kernel_id)
            return
        connections = self._kernel_connections.get(kernel_id, 0)
        last = getattr(kernel, "last_activity", None)
        if connections and last is not None and getattr(kernel, "execution_state", None) != "dead":
            idle = (datetime.now(timezone.utc) - last).total_seconds()
            if idle <= self.cull_connected_timeout:
                return  # page open and used recently enough: keep it
        await super().cull_kernel_if_idle(kernel_id)


def address_full_message(per_address):
    """The one line a learner sees when their address already holds its places."""
    return (f"This computer already has {per_address} lesson pages open, the most one computer may hold. "
            "Close one, then try again.")


#: What a learner sees instead of an error's details (or any Python text).
HIDDEN_ERROR = "This lesson hit an error; the details are in the server log."
#: What a page says when its kernel stopped (memory ceiling, crash, shut down).
KERNEL_STOPPED = "This lesson stopped on the server (it ran out of memory or was shut down). Reload the page to start again."
_TRACEBACK_MARK = "Traceback (most recent call last)"
# an absolute file path (not the path part of a URL: that follows a host name)
_PATH = re.compile(r"(?<![\w.:/<>-])/(?:[\w.@+~-]+/)*[\w.@+~-]+")
#: How much of any client-supplied or kernel text goes to the server log.
LOG_CHARS = 300


def short(text, limit=LOG_CHARS):
    """``text`` cut to ``limit`` characters for the log, saying how long it was.

    >>> short("x" * 1000, 10)
    'xxxxxxxxxx... (1000 chars)'
    """
    text = str(text)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


def redact(text):
    """``text`` without file paths, or one line if it carries a traceback.

    >>> redact("/srv/lab/.venv/lib/x.py:7: UserWarning: careful")
    '<path>:7: UserWarning: careful'
    >>> redact("see http://127.0.0.1:8866/voila/render/x.ipynb, 1/2 done")
    'see http://127.0.0.1:8866/voila/render/x.ipynb, 1/2 done'

    >>> redact("Traceback (most recent call last):\\n  File ...") == HIDDEN_ERROR + "\\n"
    True
    """
    if _TRACEBACK_MARK in text:
        return HIDDEN_ERROR + "\n"
    return _PATH.sub("<path>", text)


V1_PROTOCOL = "v1.kernel.websocket.jupyter.org"
#: Largest websocket frame the server reads (widget messages are a few kB).
MAX_FRAME_BYTES = 1 << 20
#: Outgoing bytes a page's socket may have waiting before the server closes it.
MAX_PENDING_BYTES = 64 << 20
#: What one page may send its kernel (token buckets: sustained rate, burst). A
#: lesson page sends a few messages a second of a few kB (mouse moves over a
#: canvas: up to about 60 a second); faster traffic would queue, without bound,
#: in the server's memory in front of a kernel that cannot keep up.
IN_MESSAGES = (200.0, 1000.0)     # per second, burst (a page opens with one request per widget)
IN_BYTES = (1 << 20, 4 << 20)      # bytes per second, burst
#: Most parts in a v1 frame: channel + header, parent, metadata, content + a few buffers.
MAX_V1_OFFSETS = 32
_CHANNELS = ("shell", "control", "stdin", "iopub")
#: ipympl canvas messages a lesson page sends (matplotlib's webagg handlers);
#: anything else (``toolbar_button`` calls a toolbar method by name) is dropped.
CANVAS_MESSAGES = frozenset({
    "send_image_mode", "refresh", "initialized", "draw", "ack", "resize", "set_dpi_ratio",
    "set_device_pixel_ratio", "closing", "supports_binary", "button_press", "button_release", "dblclick",
    "motion_notify", "figure_enter", "figure_leave", "scroll", "key_press", "key_release"})
#: Canvas bounds: a lesson's figure is at most about 17 x 7.5 inches at 100 dpi.
MAX_CANVAS_SIDE = 2000
MAX_CANVAS_PIXELS = 2_400_000   # CSS pixels, width x height
PIXEL_RATIO = (0.5, 2.0)


def parse_v1_frame(frame):
    """``(channel, parts)`` of a v1 kernel-websocket frame, its offsets checked first.

    Raises ``ValueError`` (one line) if the frame is not a well-formed v1 message:
    too short, an offset count outside 6..MAX_V1_OFFSETS, offsets not starting
    after the table, decreasing, or not ending at the frame's end.

    >>> parse_v1_frame(serialize_msg_to_ws_v1([b"{}", b"{}", b"{}", b"{}"], "shell"))
    ('shell', [b'{}', b'{}', b'{}', b'{}'])
    >>> parse_v1_frame((10**15).to_bytes(8, "little") + bytes(8))
    Traceback (most recent call last):
    ValueError: v1 frame: offset count 1000000000000000 outside 6..32
    """
    if not isinstance(frame, (bytes, bytearray, memoryview)):
        raise ValueError("v1 frame: a text frame (the v1 protocol sends binary frames)")
    frame = bytes(frame)
    if len(frame) < 16:
        raise ValueError(f"v1 frame: {len(frame)} bytes, too short")
    count = int.from_bytes(frame[:8], "little")
    if not 6 <= count <= MAX_V1_OFFSETS:
        raise ValueError(f"v1 frame: offset count {count} outside 6..{MAX_V1_OFFSETS}")
    table_end = 8 * (count + 1)
    if table_end > len(frame):
        raise ValueError(f"v1 frame: offset table ({table_end} bytes) longer than the frame ({len(frame)})")
    offsets = [int.from_bytes(frame[8 * (i + 1): 8 * (i + 2)], "little") for i in range(count)]
    if offsets[0] != table_end or offsets[-1] != len(frame) or any(b < a for a, b in zip(offsets, offsets[1:])):
        raise ValueError("v1 frame: offsets do not run in order from the table to the frame's end")
    channel = frame[offsets[0]:offsets[1]].decode("ascii", errors="replace")
    if channel not in _CHANNELS:
        raise ValueError(f"v1 frame: unknown channel {short(channel, 40)!r}")
    return channel, [frame[offsets[i]:offsets[i + 1]] for i in range(1, count - 1)]


def _finite(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_canvas_message(content):
    """An ipympl canvas message, bounded: ``None`` to drop it, else the (maybe changed) content.

    >>> check_canvas_message({"type": "resize", "width": 60000, "height": 60000})
    {'type': 'resize', 'width': 1549, 'height': 1549}
    >>> check_canvas_message({"type": "set_device_pixel_ratio", "device_pixel_ratio": 40})
    {'type': 'set_device_pixel_ratio', 'device_pixel_ratio': 2.0}
    >>> check_canvas_message({"type": "toolbar_button", "name": "save_figure"}) is None
    True
    """
    kind = content.get("type")
    if kind not in CANVAS_MESSAGES:
        return None
    if kind == "resize":
        w, h = content.get("width", 800), content.get("height", 800)
        if not (_finite(w) and _finite(h)):
            return None
        w, h = min(max(int(w), 10), MAX_CANVAS_SIDE), min(max(int(h), 10), MAX_CANVAS_SIDE)
        if w * h > MAX_CANVAS_PIXELS:
            scale = math.sqrt(MAX_CANVAS_PIXELS / (w * h))
            w, h = int(w * scale), int(h * scale)
        content = {**content, "width": w, "height": h}
    elif kind in ("set_device_pixel_ratio", "set_dpi_ratio"):
        key = "device_pixel_ratio" if kind == "set_device_pixel_ratio" else "dpi_ratio"
        ratio = content.get(key, 1)
        if not _finite(ratio):
            return None
        content = {**content, key: min(max(float(ratio), PIXEL_RATIO[0]), PIXEL_RATIO[1])}
    return content


class ClassroomWebsocketConnection(ZMQChannelsWebsocketConnection):
    """The kernel websocket, hardened against a client that is not a lesson page.

    Incoming (page -> kernel):

    * only the v1 protocol (``v1.kernel.websocket.jupyter.org``) is accepted:
      a websocket that does not offer it is refused with HTTP 400 (the legacy
      protocol's binary messages are misread by Voilà's handler);
    * every frame's offset table is checked against its length before
      anything else reads it (:func:`parse_v1_frame`), its channel and
      message type too; a bad frame is dropped with one short log line;
    * ipympl canvas messages are bounded (:func:`check_canvas_message`);
    * a page may send ``IN_MESSAGES`` messages and ``IN_BYTES`` bytes a
      second (token buckets); past that, frames are dropped before they can
      queue in the server's memory in front of a busy kernel;
    * a page that stops reading is closed once ``MAX_PENDING_BYTES`` wait.

    Outgoing (kernel -> page), rewritten on the way and never re-sent unchanged:

    * ``error`` messages and error replies: one line, no traceback, no value;
    * ``stderr`` text (Python warnings, logged errors, echoed client text):
      the same one line; ``stdout`` text: server paths redacted;
    * ``kernel_info_reply``: no versions or banner;
    * a kernel that died: the page gets :data:`KERNEL_STOPPED` (the page's
      script shows it) and the socket is closed.

    The originals go to the server log, truncated to ``LOG_CHARS``.
    """

    #: Dropped frames logged per connection; past this, one line says the rest are not.
    LOGGED_DROPS = 20

    # ---- opening
    def connect(self):
        # a client that does not read its socket must not make the server buffer without bound
        stream = getattr(getattr(self.websocket_handler, "ws_connection", None), "stream", None)
        if stream is not None:
            stream.max_write_buffer_size = MAX_PENDING_BYTES
        return super().connect()

    async def prepare(self):
        offered = self.websocket_handler.request.headers.get("Sec-WebSocket-Protocol", "")
        if V1_PROTOCOL not in [p.strip() for p in offered.split(",")]:
            self.log.warning("Refused a kernel websocket without the %s subprotocol (offered: %s)",
                             V1_PROTOCOL, short(offered, 80))
            raise web.HTTPError(400, reason="The kernel websocket needs the v1 protocol.")
        await super().prepare()

    # ---- page -> kernel
    def handle_incoming_message(self, incoming_msg):
        if self.subprotocol != V1_PROTOCOL:  # refused in prepare(); never parse anything else
            self.websocket_handler.close()
            return
        try:
            self._check_rate(len(incoming_msg))
            frame = self._check_incoming(incoming_msg)
        except ValueError as exc:
            self._drops = getattr(self, "_drops", 0) + 1
            if self._drops <= self.LOGGED_DROPS:
                self.log.warning("Kernel %s: dropped a client frame: %s", self.kernel_id, short(exc))
            elif self._drops == self.LOGGED_DROPS + 1:
                self.log.warning("Kernel %s: %d frames dropped on this socket; not logging further drops",
                                 self.kernel_id, self.LOGGED_DROPS)
            return
        if frame is not None:
            super().handle_incoming_message(frame)

    def _check_rate(self, nbytes):
        """Raise ``ValueError`` if this frame is over the page's message or byte budget."""
        import time

        now = time.monotonic()
        last = getattr(self, "_rate_at", None)
        if last is None:
            self._msg_budget, self._byte_budget = IN_MESSAGES[1], float(IN_BYTES[1])
        else:
            elapsed = now - last
            self._msg_budget = min(IN_MESSAGES[1], self._msg_budget + elapsed * IN_MESSAGES[0])
            self._byte_budget = min(float(IN_BYTES[1]), self._byte_budget + elapsed * IN_BYTES[0])
        self._rate_at = now
        if self._msg_budget < 1 or self._byte_budget < nbytes:
            raise ValueError(f"over the rate a page may send ({IN_MESSAGES[0]:.0f} messages, "
                             f"{IN_BYTES[0] >> 20} MB a second)")
        self._msg_budget -= 1
        self._byte_budget -= nbytes

    def _check_incoming(self, ws_msg):
        channel, parts = parse_v1_frame(ws_msg)
        try:
            header = json.loads(parts[0])
            msg_type = header.get("msg_type")
        except (ValueError, AttributeError) as exc:
            raise ValueError("header is not a JSON object") from exc
        if not isinstance(msg_type, str) or len(msg_type) > 64:
            raise ValueError(f"bad msg_type {short(msg_type, 64)!r}")
        am = self.multi_kernel_manager.allowed_message_types
        if am and msg_type not in am:
            raise ValueError(f"message type {msg_type!r} is not allowed")
        if msg_type == "comm_msg":
            try:
                content = json.loads(parts[3])
                data = content.get("data") or {}
            except (ValueError, AttributeError) as exc:
                raise ValueError("comm_msg content is not a JSON object") from exc
            inner = data.get("content") if isinstance(data, dict) else None
            if isinstance(data, dict) and data.get("method") == "custom" and isinstance(inner, dict) \
                    and "type" in inner:
                checked = check_canvas_message(inner)
                if checked is None:
                    raise ValueError(f"canvas message {short(inner.get('type'), 40)!r} is not one a lesson sends")
                if checked != inner:
                    self.log.debug("Kernel %s: canvas message bounded: %s", self.kernel_id, short(checked, 120))
                    content["data"] = {**data, "content": checked}
                    parts = [parts[0], parts[1], parts[2], json.dumps(content).encode(), *parts[4:]]
                    return serialize_msg_to_ws_v1(parts, channel)
        return ws_msg

    # ---- kernel -> page
    def handle_outgoing_message(self, stream, outgoing_msg):
        if self.subprotocol != V1_PROTOCOL:
            return
        try:
            outgoing_msg = self._sanitize(outgoing_msg)
        except Exception:  # never let the filter break the connection; drop the message instead
            self.log.warning("Kernel %s: could not check an outgoing message; dropped it", self.kernel_id)
            return
        try:
            super().handle_outgoing_message(stream, outgoing_msg)
        except StreamBufferFullError:
            self.log.warning("Kernel %s: the page reads too slowly (%d MB waiting); closing its socket",
                             self.kernel_id, MAX_PENDING_BYTES >> 20)
            self.websocket_handler.close()

    def _sanitize(self, msg_list):
        idents, parts = self.session.feed_identities(msg_list)
        header = self.session.unpack(parts[1])
        msg_type = header.get("msg_type")
        if msg_type not in ("error", "stream", "execute_reply", "kernel_info_reply"):
            return msg_list
        content = self.session.unpack(parts[4])
        if msg_type == "stream":
            text = content.get("text", "")
            if content.get("name") == "stderr":
                clean = HIDDEN_ERROR + "\n"
            else:
                clean = redact(text)
            if clean == text:
                return msg_list
            self.log.warning("Kernel %s wrote (replaced on the page): %s", self.kernel_id, short(text, 2000))
            content["text"] = clean
        elif msg_type == "kernel_info_reply":
            for key in ("banner", "implementation_version", "help_links"):
                content.pop(key, None)
            if isinstance(content.get("language_info"), dict):
                content["language_info"].pop("version", None)
        elif msg_type == "error" or content.get("status") == "error":
            self.log.warning("Kernel %s error (hidden from the page): %s: %s\n%s", self.kernel_id,
                             short(content.get("ename"), 80), short(content.get("evalue")),
                             short("\n".join(map(str, content.get("traceback") or [])), 4000))
            content.update(ename="Error", evalue=HIDDEN_ERROR, traceback=[HIDDEN_ERROR])
        else:
            return msg_list
        # new content, new signature: nothing is re-sent byte for byte
        parts = list(parts)
        parts[4] = self.session.pack(content)
        parts[0] = self.session.sign(parts[1:5])
        return [*idents, DELIM, *parts]

    # ---- a kernel that died
    def on_restart_failed(self):
        self.log.warning("Kernel %s died; telling its page.", self.kernel_id)
        try:
            msg = self.session.msg("stream", content={"name": "stdout", "text": KERNEL_STOPPED + "\n"})
            self.write_message(serialize_msg_to_ws_v1(msg, "iopub", self.session.pack), binary=True)
        except Exception:
            pass
        super().on_restart_failed()


#: Shown on a lesson page when its kernel stops (added to every rendered lesson page).
_STOPPED_JS = """<script>
(function () {
  var MESSAGE = %s;
  function show() {
    if (document.getElementById('cl-kernel-stopped')) { return; }
    var bar = document.createElement('div');
    bar.id = 'cl-kernel-stopped'; bar.setAttribute('role', 'alert'); bar.textContent = MESSAGE;
    bar.style.cssText = 'position:fixed;top:0;left:0;right:0;z-index:10000;padding:12px 20px;' +
      'background:#8a1c1c;color:#fff;font:600 16px/1.4 system-ui,sans-serif;text-align:center';
    document.body.appendChild(bar);
  }
  function watch(kernel) {
    kernel.statusChanged.connect(function (_, status) {
      if (status === 'dead' || status === 'restarting' || status === 'autorestarting') { show(); }
    });
    kernel.connectionStatusChanged.connect(function (_, status) { if (status === 'disconnected') { show(); } });
    kernel.iopubMessage.connect(function (_, msg) {
      if (msg && msg.content && typeof msg.content.text === 'string' && msg.content.text.indexOf(MESSAGE) >= 0) { show(); }
    });
  }
  var tries = 0;
  var timer = setInterval(function () {
    tries += 1;
    var app = window.jupyterapp, wm = app && app.widgetManager;
    if (wm && wm.kernel) { clearInterval(timer); watch(wm.kernel); }
    else if (tries > 600) { clearInterval(timer); }
  }, 500);
})();
</script>
"""


def _voila_classes():
    """Voilà's handler classes, subclassed for the class server (imported only when serving)."""
    from voila.static_file_handler import TemplateStaticFileHandler
    from voila.tornado.handler import TornadoVoilaHandler
    from voila.tornado.kernel_websocket_handler import VoilaKernelWebsocketHandler

    class ClassroomKernelWebsocketHandler(VoilaKernelWebsocketHandler):
        """The kernel websocket: refused (HTTP 400, one log line) unless it offers the v1
        protocol, before any kernel or session work; errors answered in one plain line."""

        async def get(self, kernel_id):
            offered = self.request.headers.get("Sec-WebSocket-Protocol", "")
            if V1_PROTOCOL not in [p.strip() for p in offered.split(",")]:
                self.log.warning("Refused a kernel websocket without the %s subprotocol (offered: %s)",
                                 V1_PROTOCOL, short(offered, 80))
                self.set_status(400)
                self.finish("The kernel websocket needs the v1 protocol.")
                return
            return await super().get(kernel_id)

        def write_error(self, status_code, **kwargs):
            self.finish(f"{status_code}")

    class NotFoundHandler(web.RequestHandler):
        """404 for what a class server does not serve (file listings, logout)."""

        def prepare(self):
            raise web.HTTPError(404)

        def write_error(self, status_code, **kwargs):
            self.set_header("Content-Type", "text/html; charset=UTF-8")
            self.finish(landing.notice_page("Not found", "There is no page here.", self.settings.get("base_url", "/")))

    class LandingHandler(web.RequestHandler):
        """The landing page at ``/``: the kit, one card per lesson, the instructor's guide."""

        def get(self):
            root = self.settings["cl_root"]
            self.set_header("Content-Type", "text/html; charset=UTF-8")
            self.finish(landing.landing_page(lesson_paths(root), self.settings.get("base_url", "/")))

    class SafeTemplateStaticFileHandler(TemplateStaticFileHandler):
        """Voilà's template files, with a malformed path answered 404 (not a bare 500)."""

        def parse_url_path(self, path):
            if len(path.split("/", 2)) != 3 or path.split("/", 2)[1] != "static":
                raise web.HTTPError(404)
            return super().parse_url_path(path)

        def write_error(self, status_code, **kwargs):
            self.set_status(404 if status_code >= 500 else status_code)
            self.finish("Not found")

    class ClassroomVoilaHandler(TornadoVoilaHandler):
        """A lesson page: the client address for the per-address cap, the class-full
        page in the landing page's style, the kernel-stopped line added to the page."""

        def prepare(self):
            client_address.set(self.request.remote_ip)
            return super().prepare()

        def finish(self, chunk=None):
            if self.get_status() == 200 and not self._finished:
                self.write(_STOPPED_JS % json.dumps(KERNEL_STOPPED))
            return super().finish(chunk)

        def write_error(self, status_code, **kwargs):
            exc = kwargs.get("exc_info", (None, None, None))[1]
            if status_code == 503 and isinstance(exc, web.HTTPError):
                self.set_header("Content-Type", "text/html; charset=UTF-8")
                self.set_header("Retry-After", "60")
                self.finish(landing.notice_page("The class is full", exc.reason or "",
                                                self.settings.get("base_url", "/")))
                return
            return super().write_error(status_code, **kwargs)

    return (NotFoundHandler, LandingHandler, SafeTemplateStaticFileHandler, ClassroomVoilaHandler,
            ClassroomKernelWebsocketHandler)


def classroom_voila_class():
    """:class:`ClassroomVoila`, built on first use (Voilà is imported only to serve)."""
    from voila.app import Voila

    class ClassroomVoila(Voila):
        """Voilà with the class server's pages in front of its own handlers."""

        def init_settings(self):
            settings = super().init_settings()
            settings["websocket_max_message_size"] = MAX_FRAME_BYTES
            settings["cl_root"] = self.root_dir
            # jupyter_server's error page links its favicon with static_url(); without a
            # static_path every error page became a bare 500 and a traceback in the log.
            # Set after the application is built (Voila applies tornado_settings then), so
            # no static route is added.
            from jupyter_server import DEFAULT_STATIC_FILES_PATH

            self.tornado_settings = {"static_path": DEFAULT_STATIC_FILES_PATH, **self.tornado_settings}
            return settings

        def init_handlers(self):
            from jupyter_server.utils import url_path_join

            not_found, landing_handler, templates, render, kernel_ws = _voila_classes()
            from voila.app import _kernel_id_regex
            voila_conf = {"template_paths": self.template_paths, "config": self.config,
                          "voila_configuration": self.voila_configuration}
            ours = [
                (self.server_url, landing_handler),
                (url_path_join(self.server_url, r"/voila/render/(.*)"), render, voila_conf),
                (url_path_join(self.server_url, r"/api/kernels/%s/channels" % _kernel_id_regex), kernel_ws),
                (url_path_join(self.server_url, r"/voila/templates/(.*)"), templates),
                (url_path_join(self.server_url, r"/voila/api/contents.*"), not_found),
                (url_path_join(self.server_url, r"/logout"), not_found),
                (url_path_join(self.server_url, r"/login"), not_found),
            ]
            return ours + super().init_handlers()

    return ClassroomVoila


def lesson_paths(root=None):
    """The lesson notebooks the landing page links, sorted by name."""
    return sorted(Path(root or NOTEBOOKS).glob("[0-9][0-9]*-*.ipynb"))  # 02b-... is a lesson too


def voila_argv(settings):
    """Voilà command-line arguments for ``settings`` (what ``make serve`` runs)."""
    s = settings
    return [
        s.root,
        f"--Voila.ip={s.host}",
        f"--Voila.port={s.port}",
        "--Voila.port_retries=0",
        "--Voila.open_browser=False",
        "--VoilaConfiguration.show_tracebacks=False",
        "--VoilaConfiguration.strip_sources=True",
        "--VoilaConfiguration.allow_template_override=NO",
        "--VoilaConfiguration.allow_theme_override=NO",
        "--VoilaConfiguration.classic_tree=True",
        "--VoilaConfiguration.preheat_kernel=False",
        "--VoilaConfiguration.multi_kernel_manager_class=coupling_lab.serve.ClassroomKernelManager",
        "--Voila.kernel_websocket_connection_class=coupling_lab.serve.ClassroomWebsocketConnection",
        f"--ClassroomKernelManager.max_kernels={s.max_kernels}",
        f"--ClassroomKernelManager.cull_idle_timeout={s.cull_idle_timeout}",
        f"--ClassroomKernelManager.cull_connected_timeout={s.cull_connected_timeout}",
        f"--ClassroomKernelManager.cull_interval={s.cull_interval}",
        f"--ClassroomKernelManager.connect_timeout={s.connect_timeout}",
        f"--ClassroomKernelManager.max_kernels_per_address={s.max_kernels_per_address}",
        f"--ClassroomKernelManager.kernel_memory_mb={s.kernel_memory_mb}",
        f"--ClassroomKernelManager.max_kernel_age={s.max_kernel_age}",
        "--ClassroomKernelManager.kernel_manager_class=coupling_lab.serve.LimitedKernelManager",
        # a kernel that dies is not restarted (a fresh kernel has none of the page's
        # widgets): its page is told in one line and its place is freed
        "--KernelRestarter.restart_limit=0",
        # A kernel is culled even with its page open; cull_kernel_if_idle
        # applies the longer cull_connected_timeout to those.
        "--ClassroomKernelManager.cull_connected=True",
    ]


def _parser(defaults):
    p = argparse.ArgumentParser(
        prog="python -m coupling_lab.serve",
        description="Serve the coupling-lab lessons as a Voila app (defaults: coupling_lab/serve.py).")
    p.add_argument("--host", default=defaults.host, help="address to bind (default %(default)s: this machine only)")
    p.add_argument("--port", type=int, default=defaults.port, help="TCP port (default %(default)s)")
    p.add_argument("--max-kernels", type=int, default=defaults.max_kernels,
                   help="live kernels allowed; more pages get 'class is full' (default %(default)s)")
    p.add_argument("--cull-idle-timeout", type=int, default=defaults.cull_idle_timeout,
                   help="seconds before a closed page's kernel is shut down (default %(default)s)")
    p.add_argument("--cull-connected-timeout", type=int, default=defaults.cull_connected_timeout,
                   help="seconds before an untouched open page's kernel is shut down (default %(default)s)")
    p.add_argument("--cull-interval", type=int, default=defaults.cull_interval,
                   help="seconds between culler passes (default %(default)s)")
    p.add_argument("--connect-timeout", type=int, default=defaults.connect_timeout,
                   help="seconds a kernel waits for its page to connect once idle (default %(default)s)")
    p.add_argument("--max-kernels-per-address", type=int, default=defaults.max_kernels_per_address,
                   help="live kernels one client address may hold; 0 = no cap, for a class behind one NAT "
                        "(default %(default)s)")
    p.add_argument("--max-kernel-age", type=int, default=defaults.max_kernel_age,
                   help="seconds after which any kernel is shut down (default %(default)s)")
    p.add_argument("--kernel-memory-mb", type=int, default=defaults.kernel_memory_mb,
                   help="address-space ceiling of each kernel in MB (default %(default)s)")
    p.add_argument("--root", default=defaults.root, help="folder of notebooks to serve (default: notebooks/)")
    p.add_argument("extra", nargs=argparse.REMAINDER, help="after --: further Voila options")
    return p


def free_port(host="127.0.0.1"):
    """A TCP port free on ``host`` right now."""
    import socket

    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def child_pids(pid):
    """Process ids whose parent is ``pid`` (Linux ``/proc``; empty elsewhere)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            stat = entry.read_text()
        except OSError:
            continue
        # the command name is in parentheses and may contain spaces
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            found.append(int(entry.parent.name))
    return found


def _interrupt_when_parent_dies():
    """In the child: get SIGINT (Voila then shuts its kernels down) if the test or
    benchmark that started it dies without cleaning up (Linux only)."""
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGINT)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class BackgroundServer:
    """The served app in a child process, for tests and benchmarks.

    ``with BackgroundServer(max_kernels=5) as server: ...`` starts
    ``python -m coupling_lab.serve`` on a free loopback port, waits until the
    landing page answers, and on exit stops the server and every kernel it
    started (its own process group). ``server.url`` is the landing page,
    ``server.pid`` the server process, ``server.log_path`` its log.
    """

    def __init__(self, root=None, log_path=None, startup_timeout=90, **settings):
        self.settings = dataclasses.replace(ClassSettings.from_env({}), host="127.0.0.1", port=free_port(),
                                            root=str(root or NOTEBOOKS), **settings)
        self.url = f"http://127.0.0.1:{self.settings.port}/"
        self.log_path = Path(log_path) if log_path else None
        self.startup_timeout = startup_timeout
        self.proc = None

    @property
    def pid(self):
        return self.proc.pid

    def argv(self):
        s = self.settings
        return [sys.executable, "-m", "coupling_lab.serve", "--host", s.host, "--port", str(s.port),
                "--max-kernels", str(s.max_kernels), "--cull-idle-timeout", str(s.cull_idle_timeout),
                "--cull-connected-timeout", str(s.cull_connected_timeout),
                "--cull-interval", str(s.cull_interval), "--connect-timeout", str(s.connect_timeout),
                "--max-kernels-per-address", str(s.max_kernels_per_address),
                "--kernel-memory-mb", str(s.kernel_memory_mb), "--max-kernel-age", str(s.max_kernel_age),
                "--root", s.root]

    def start(self):
        import subprocess
        import time
        import urllib.request

        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            out = open(self.log_path, "wb")
        else:
            out = subprocess.DEVNULL
        env = {k: v for k, v in os.environ.items() if not k.startswith("CL_")}
        self.proc = subprocess.Popen(self.argv(), stdout=out, stderr=subprocess.STDOUT, env=env,
                                     cwd=str(REPO), start_new_session=True, preexec_fn=_interrupt_when_parent_dies)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the Voila server exited with code {self.proc.returncode} (log: {self.log_path})")
            try:
                with urllib.request.urlopen(self.url, timeout=5) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"the Voila server did not answer within {self.startup_timeout} s (log: {self.log_path})")

    def stop(self, timeout=30):
        import signal
        import subprocess

        if self.proc is None or self.proc.poll() is not None:
            return
        kernels = child_pids(self.proc.pid)  # kernels run in sessions of their own
        self.proc.send_signal(signal.SIGINT)  # Voila shuts its kernels down on Ctrl+C
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        for pid in [self.proc.pid, *kernels]:  # whatever is left of what this server started
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.proc.wait(10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def warm_compiled_loop():
    """Build (or check) numba's on-disk cache of the step loop before learners arrive.

    Every lesson kernel is a fresh process that loads the compiled loop from
    that cache (about 0.5 s); after an update of the kit the cache is stale
    and the first kernel would compile it (about a minute) in front of a learner.
    A child process does it, so a failure is a printed line, never a crash.
    """
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "coupling_lab.cache"], capture_output=True, text=True)
    if done.returncode:
        print("coupling-lab: could not build the compiled step loop's cache; lessons will run on the "
              "reference loop or compile on first use: " + (done.stderr.strip().splitlines() or [""])[-1],
              flush=True)
    elif time.monotonic() - started > 5:
        print(f"coupling-lab: compiled the step loop ({time.monotonic() - started:.0f} s, cached for the lessons)",
              flush=True)


def main(argv=None):
    args = _parser(ClassSettings.from_env()).parse_args(argv)
    settings = ClassSettings(
        host=args.host, port=args.port, max_kernels=args.max_kernels,
        cull_idle_timeout=args.cull_idle_timeout, cull_connected_timeout=args.cull_connected_timeout,
        cull_interval=args.cull_interval, connect_timeout=args.connect_timeout,
        max_kernels_per_address=args.max_kernels_per_address, kernel_memory_mb=args.kernel_memory_mb,
        max_kernel_age=args.max_kernel_age,
        root=str(Path(args.root).resolve()))
    extra = [a for a in args.extra if a != "--"]
    warm_compiled_loop()

    from tornado.ioloop import IOLoop

    def announce():
        host = "localhost" if settings.host in ("127.0.0.1", "::1") else settings.host
        base = f"http://{host}:{settings.port}/"
        lessons = lesson_paths(settings.root)
        lines = [
            "",
            "coupling-lab is being served.",
            f"  Landing page (every lesson): {base}",
        ]
        if lessons:
            lines.append(f"  Start here: {base}voila/render/{lessons[0].name}")
        lines += [
            f"  {len(lessons)} lessons; up to {settings.max_kernels} learners at once "
            f"(about {typical_memory_mb(settings) / 1024:.1f} GB in use; at most "
            f"{memory_bound_mb(settings) / 1024:.1f} GB: {settings.kernel_memory_mb} MB per kernel);",
            f"  idle kernels shut down after {settings.cull_idle_timeout} s (page closed) "
            f"or {settings.cull_connected_timeout} s (page open); {settings.connect_timeout} s if no page connects.",
            "  Press Ctrl+C to stop.",
            "",
        ]
        print("\n".join(lines), flush=True)

    IOLoop.current().add_callback(announce)
    classroom_voila_class().launch_instance(voila_argv(settings) + extra)


if __name__ == "__main__":
    sys.exit(main())
