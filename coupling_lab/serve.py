"""Serve the lessons to a class: ``python -m coupling_lab.serve`` (``make serve``).

This is the one place where the served app is configured. It starts Voilà on
``notebooks/`` with a landing page (Voilà's tree) that links every lesson,
prints the URL, and applies the class settings below:

* **Bound to loopback** (``127.0.0.1``) unless ``--host`` says otherwise.
* **Sources hidden** (``strip_sources``), **tracebacks off**
  (``show_tracebacks``), no template/theme override from the URL, only image
  files served next to the notebooks (Voilà's defaults, restated here).
* **Idle kernels culled.** A closed page does not shut its kernel down (Voilà
  0.5), so a kernel whose page is gone (no websocket) is shut down after
  ``cull_idle_timeout`` seconds without activity; a kernel whose page is still
  open but untouched is shut down after ``cull_connected_timeout`` seconds.
* **A cap on live kernels.** Once ``max_kernels`` kernels run, a new page gets
  an HTTP 503 page saying the class is full, instead of a kernel.

Every default can be changed on the command line or with an environment
variable (``CL_MAX_KERNELS``, ``CL_CULL_IDLE_TIMEOUT``,
``CL_CULL_CONNECTED_TIMEOUT``, ``CL_CULL_INTERVAL``, ``CL_HOST``, ``CL_PORT``).

Sizing (measured on the 2-core, 24 GB reference machine, see
``benchmarks/README.md`` "Class load"): one lesson kernel takes about
``MB_PER_KERNEL`` MB of resident memory after its page has rendered, so the
default cap of ``max_kernels`` kernels bounds the kernels' memory at about
``max_kernels * MB_PER_KERNEL`` MB (:func:`memory_bound_mb`).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import re
import sys
from datetime import datetime, timezone
from pathlib import Path

from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from tornado import web
from traitlets import Bool, Integer

__all__ = [
    "ClassSettings", "ClassroomKernelManager", "MB_PER_KERNEL", "SERVER_MB",
    "class_full_message", "memory_bound_mb", "voila_argv", "lesson_paths", "free_port",
    "BackgroundServer", "ClassroomWebsocketConnection", "redact", "HIDDEN_ERROR", "main",
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
    root : str
        Folder served (the landing page lists its notebooks).
    """

    host: str = "127.0.0.1"
    port: int = 8866
    max_kernels: int = 40
    cull_idle_timeout: int = 120
    cull_connected_timeout: int = 1800
    cull_interval: int = 30
    root: str = str(NOTEBOOKS)

    ENV = {
        "host": "CL_HOST", "port": "CL_PORT", "max_kernels": "CL_MAX_KERNELS",
        "cull_idle_timeout": "CL_CULL_IDLE_TIMEOUT",
        "cull_connected_timeout": "CL_CULL_CONNECTED_TIMEOUT",
        "cull_interval": "CL_CULL_INTERVAL",
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
        for field in ("port", "max_kernels", "cull_idle_timeout", "cull_connected_timeout", "cull_interval"):
            value = getattr(self, field)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{field} must be a whole number >= 1; got {value!r}")



def memory_bound_mb(settings=None):
    """Upper bound on the app's resident memory (MB): server + cap x kernel.

    >>> memory_bound_mb(ClassSettings(max_kernels=10)) == SERVER_MB + 10 * MB_PER_KERNEL
    True
    """
    settings = settings or ClassSettings()
    return SERVER_MB + settings.max_kernels * MB_PER_KERNEL


def class_full_message(max_kernels):
    """The one line a learner sees when every place is taken (also the HTTP reason).

    >>> 'class is full' in class_full_message(3)
    True
    """
    return (f"The class is full: all {max_kernels} places are in use. "
            "Please try again in a few minutes.")


class ClassroomKernelManager(AsyncMappingKernelManager):
    """Voilà's kernel manager with a cap on live kernels and a second, longer
    idle timeout for kernels whose page is still open.

    ``cull_idle_timeout`` applies to kernels with no connection (their page
    was closed); ``cull_connected_timeout`` to kernels whose page is open.
    """

    max_kernels = Integer(40, config=True, help="Live kernels allowed at once; more pages get 'class is full'.")
    cull_connected_timeout = Integer(
        1800, config=True, help="Idle seconds after which a kernel with an open page is culled.")
    # kernels with an open page are culled too, after cull_connected_timeout (see cull_kernel_if_idle)
    cull_connected = Bool(True, config=True, help="Cull kernels with connections (after cull_connected_timeout).")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._starting = 0

    def live_kernel_count(self):
        """Kernels running or being started."""
        return len(self._kernels) + self._starting

    async def start_kernel(self, *, kernel_id=None, path=None, **kwargs):
        if kernel_id is not None and kernel_id in self:
            return await super().start_kernel(kernel_id=kernel_id, path=path, **kwargs)
        # Checked and reserved without an await in between: concurrent page
        # loads cannot both take the last place.
        if self.live_kernel_count() >= self.max_kernels:
            self.log.warning("Class full: %d kernels live (cap %d); refusing a new page.",
                             self.live_kernel_count(), self.max_kernels)
            raise web.HTTPError(503, reason=class_full_message(self.max_kernels))
        self._starting += 1
        try:
            return await super().start_kernel(kernel_id=kernel_id, path=path, **kwargs)
        finally:
            self._starting -= 1

    async def cull_kernel_if_idle(self, kernel_id):
        kernel = self._kernels.get(kernel_id)
        if kernel is None:
            return
        connections = self._kernel_connections.get(kernel_id, 0)
        last = getattr(kernel, "last_activity", None)
        if connections and last is not None and getattr(kernel, "execution_state", None) != "dead":
            idle = (datetime.now(timezone.utc) - last).total_seconds()
            if idle <= self.cull_connected_timeout:
                return  # page open and used recently enough: keep it
        await super().cull_kernel_if_idle(kernel_id)


#: What a learner sees instead of an error's details.
HIDDEN_ERROR = "This lesson hit an error; the details are in the server log."
_TRACEBACK_MARK = "Traceback (most recent call last)"
# an absolute file path (not the path part of a URL: that follows a host name)
_PATH = re.compile(r"(?<![\w.:/<>-])/(?:[\w.@+~-]+/)*[\w.@+~-]+")


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


class ClassroomWebsocketConnection(ZMQChannelsWebsocketConnection):
    """The kernel websocket, with error details kept on the server.

    Voila's ``show_tracebacks=False`` only covers the cells it runs while
    rendering. Afterwards a widget callback that raises (or a widget update
    the widget machinery rejects) makes the kernel publish an ``error``
    message whose traceback names server files, and logged exceptions go out
    as ``stderr`` text. This connection rewrites, on their way to the page:
    ``error`` messages and error replies (one line, no traceback, no value)
    and ``stream`` text (server paths redacted; a traceback becomes one
    line). The originals go to the server log.
    """

    def handle_outgoing_message(self, stream, outgoing_msg):
        try:
            outgoing_msg = self._sanitize(outgoing_msg)
        except Exception:  # never let the filter break the connection; drop the message instead
            self.log.exception("could not check an outgoing kernel message; dropped it")
            return
        super().handle_outgoing_message(stream, outgoing_msg)

    def _sanitize(self, msg_list):
        idents, parts = self.session.feed_identities(msg_list)
        header = self.session.unpack(parts[1])
        msg_type = header.get("msg_type")
        if msg_type not in ("error", "stream", "execute_reply"):
            return msg_list
        msg = self.session.deserialize(parts, content=True)
        content = msg["content"]
        if msg_type == "stream":
            text = content.get("text", "")
            clean = redact(text)
            if clean == text:
                return self.session.serialize(msg, ident=idents)
            self.log.warning("Kernel %s wrote (redacted for the page):\n%s", self.kernel_id, text[:4000])
            content["text"] = clean
        elif msg_type == "error" or content.get("status") == "error":
            self.log.warning("Kernel %s error (hidden from the page): %s: %s\n%s", self.kernel_id,
                             content.get("ename"), content.get("evalue"),
                             "\n".join(content.get("traceback") or [])[:8000])
            content.update(ename="Error", evalue=HIDDEN_ERROR, traceback=[HIDDEN_ERROR])
        return self.session.serialize(msg, ident=idents)


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
                "--cull-interval", str(s.cull_interval), "--root", s.root]

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


def main(argv=None):
    args = _parser(ClassSettings.from_env()).parse_args(argv)
    settings = ClassSettings(
        host=args.host, port=args.port, max_kernels=args.max_kernels,
        cull_idle_timeout=args.cull_idle_timeout, cull_connected_timeout=args.cull_connected_timeout,
        cull_interval=args.cull_interval, root=str(Path(args.root).resolve()))
    extra = [a for a in args.extra if a != "--"]

    from tornado.ioloop import IOLoop
    from voila.app import Voila

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
            f"(about {memory_bound_mb(settings) / 1024:.1f} GB at most);",
            f"  idle kernels shut down after {settings.cull_idle_timeout} s (page closed) "
            f"or {settings.cull_connected_timeout} s (page open).",
            "  Press Ctrl+C to stop.",
            "",
        ]
        print("\n".join(lines), flush=True)

    IOLoop.current().add_callback(announce)
    Voila.launch_instance(voila_argv(settings) + extra)


if __name__ == "__main__":
    sys.exit(main())
