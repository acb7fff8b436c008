"""The browser-test page set-up every lesson's browser tests share.

One Voila server (``coupling_lab.serve``, the configuration ``make serve``
uses) on a free loopback port, one headless Debian chromium driven by
playwright, one :class:`LessonPage`: the lesson open and settled (its main
control shown and ipympl's first picture drawn), with every websocket frame
it exchanged. Requests to anything but the local server (CDN fonts) are
aborted so the tests run offline and do not wait on the network.
Screenshots go to ``test-artifacts/`` (gitignored).

A test module serving one lesson gets its page with::

    page = lesson_page_fixture(NOTEBOOKS / "05-what-helps.ipynb", "what-helps")

(a module-scoped fixture named after the variable it is bound to).
"""
from __future__ import annotations

import os
import re
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest

from coupling_lab.serve import HIDDEN_ERROR, BackgroundServer

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
ARTIFACTS = REPO / "test-artifacts"
LESSONS = sorted(NOTEBOOKS.glob("*.ipynb"))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 4400}  # tall: the lab template scrolls an inner container

RENDER_TIMEOUT_MS = 150_000  # a lesson's cells all run before its page shows (2 cores, CI)
CHANGE_TIMEOUT_S = 60
MAIN_HANDLE = ".cl-main-control .noUi-handle"
CANVAS = ".jupyter-matplotlib-canvas-div canvas"
STATUS = ".cl-status"
PREDICTION = ".cl-prediction"
# number sliders sync "value" (and a min/max the page can move); selection sliders sync "index"
NUMBER_SLIDERS = ("FloatSliderModel", "IntSliderModel", "FloatLogSliderModel")
NAN_PASSES = ("FloatSliderModel", "FloatLogSliderModel")  # CFloat lets NaN through its clamp

# Words and paths that must never reach a learner: a Python traceback, Voila's
# "error when executing cell" note, or where the server keeps its files.
LEAK_MARKERS = ("Traceback", "There was an error when executing cell", 'File "/', "site-packages",
                str(REPO), sys.prefix)
EXCEPTION_NAME = re.compile(r"\b[A-Z][A-Za-z]*(Error|Exception)\b")

REPR_ANYWHERE = re.compile(r"\bnp\.(float|int|uint|bool|str|complex)\d*\(|\barray\(|\bdtype=|\bMeasures\(")
REPR_LINE = re.compile(r"^\s*(\(.*,.*\)|\[.*,.*\]|\{.*:.*\}|'.*'|\".*\"|-?\d+\.\d{4,})\s*$")
REPR_IN_OUTPUT = re.compile(r"\b[A-Z][A-Za-z]+\([a-z_]+=|\b\d+(\.\d+)?e[+-]\d+\b|(?<![\d.])-0\.0+(?!\d*[1-9])\b")


def python_reprs(page_text, output_text):
    """Every Python repr pattern in a page's text (its whole text, and its cells' outputs)."""
    found = [m.group(0) for m in REPR_ANYWHERE.finditer(page_text)]
    found += [line.strip() for line in output_text.splitlines() if REPR_LINE.match(line)]
    found += [m.group(0) for m in REPR_IN_OUTPUT.finditer(output_text)]
    return found



def _offline(route):
    if route.request.url.startswith("http://127.0.0.1"):
        route.continue_()
    else:
        route.abort()


class LessonPage:
    """A lesson open in the browser, with every websocket frame it exchanged.

    A lesson whose every app waits for a prediction (``apps_wait``: each main control is inside a
    block :meth:`Prediction.after_check` hides) opens with that prediction checked
    (:meth:`check_predictions`) unless ``answer_first`` is False; then the page is left as served.
    """

    def __init__(self, browser, server, notebook, viewport=VIEWPORT, answer_first=True):
        self.notebook = notebook
        self.nb = nbformat.read(notebook, as_version=4)
        self.url = f"{server.url}voila/render/{notebook.name}"
        self.frames = []  # (direction, text)
        self.page = browser.new_page(viewport=viewport)
        self.page.set_default_timeout(RENDER_TIMEOUT_MS)
        self.page.route("**/*", _offline)
        self.page.on("websocket", self._watch)
        started = time.monotonic()
        self.response = self.page.goto(self.url, wait_until="domcontentloaded")
        self.page.wait_for_selector(MAIN_HANDLE, state="attached")
        # a lesson whose every app waits for its prediction (07) shows the prediction, not the app, first
        self.apps_wait = self.page.eval_on_selector_all(
            MAIN_HANDLE, "hs => hs.length > 0 && hs.every(h => h.closest('.cl-revealed') !== null)")
        if self.apps_wait:
            self.page.wait_for_selector(PREDICTION, state="visible")
            if not answer_first:
                self.render_seconds = time.monotonic() - started
                return
            self.check_predictions()  # commit to an answer, as a learner would, to reach the apps
        self.page.wait_for_selector(MAIN_HANDLE, state="visible")
        self.page.wait_for_selector(CANVAS, state="visible")
        self.page.wait_for_function(  # ipympl has drawn something into the canvas
            f"() => [...document.querySelectorAll('{CANVAS}')].some(c => c.width > 10 && c.height > 10)")
        self.render_seconds = time.monotonic() - started

    def check_predictions(self):
        """Pick the first option of every prediction on the page and press its Check."""
        questions = self.page.locator(PREDICTION)
        for i in range(questions.count()):
            question = questions.nth(i)
            question.locator(".widget-radio-box label, .widget-toggle-button").first.click()
            question.get_by_role("button", name="Check").click()

    def _watch(self, ws):
        def keep(direction):
            def on_frame(payload):
                if isinstance(payload, (bytes, bytearray)):
                    payload = bytes(payload).decode("utf-8", errors="replace")
                self.frames.append((direction, payload))
            return on_frame

        ws.on("framereceived", keep("received"))
        ws.on("framesent", keep("sent"))

    # --- the figure
    def canvases(self):
        return self.page.eval_on_selector_all(CANVAS, "cs => cs.map(c => c.toDataURL())")

    def wait_for_canvas_change(self, before, timeout=CHANGE_TIMEOUT_S):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = self.canvases()
            if now != before:
                return now
            self.page.wait_for_timeout(250)  # (pumps playwright's events; time.sleep would not)
        return None

    def settle(self, seconds=3.0):
        """Wait until the canvases stop changing (a redraw may still be on its way)."""
        last, stable_since = self.canvases(), time.monotonic()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and time.monotonic() - stable_since < seconds:
            self.page.wait_for_timeout(250)  # (pumps playwright's events; time.sleep would not)
            now = self.canvases()
            if now != last:
                last, stable_since = now, time.monotonic()
        return last

    def status_text(self):
        return " ".join(self.page.locator(STATUS).all_inner_texts()).strip()

    def assert_clean(self):
        """No leaked marker, no Python repr in the page or its outputs, and an empty status line."""
        body = self.page.inner_text("body")
        for marker in LEAK_MARKERS:
            assert marker not in body, f"{marker!r} shown in the page"
        outputs = "\n".join(self.page.locator(".jp-OutputArea-output").all_inner_texts())
        assert not python_reprs(body, outputs), python_reprs(body, outputs)[:5]
        assert self.status_text() == "", self.status_text()

    def wait_for_status(self, timeout=CHANGE_TIMEOUT_S):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.status_text()
            if text:
                return text
            self.page.wait_for_timeout(250)  # (pumps playwright's events; time.sleep would not)
        return ""

    # --- what a curious learner can send with the developer tools
    def send_update(self, state, via="comm"):
        """Send a widget ``update`` for the main control straight from the page.

        ``via="comm"`` writes the comm message itself; a string ``"__cl_nan__"``
        is swapped for a bare ``NaN`` token in the outgoing websocket frame
        (JSON cannot carry NaN; Python's json accepts the token), padded with
        spaces so the binary frame keeps its length and offsets.
        ``via="model"`` sets the traits on the widget model and saves them.
        """
        return self.page.evaluate(_SEND_UPDATE_JS, {"state": state, "via": via})

    def main_control_state(self):
        return self.page.evaluate(_READ_MAIN_JS)

    def position(self):
        """The main control's position: ``value`` for number sliders, ``index`` for selection sliders."""
        state = self.main_control_state()
        return state["value"] if state["name"] in NUMBER_SLIDERS else state["index"]

    def rejections(self):
        """How many error messages (already reduced to one line by the server) the page received."""
        return sum(text.count(HIDDEN_ERROR) for direction, text in self.frames if direction == "received")

    def wait_for_rejection(self, before, timeout=CHANGE_TIMEOUT_S):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.rejections() > before:
                return True
            self.page.wait_for_timeout(250)  # (pumps playwright's events; time.sleep would not)
        return False

    def last_frames(self, n=12):
        out = []
        for direction, text in self.frames[-n:]:
            kind = re.search(r'"msg_type":\s*"(\w+)"', text)
            out.append(f"{direction} {kind.group(1) if kind else '?'} {len(text)}")
        return out

    def screenshot(self, suffix):
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{self.notebook.stem}{suffix}.png"), full_page=True)

    def frames_text(self):
        return "\n".join(text for _, text in self.frames)


_FIND_MAIN_JS = """
async function clMainModel() {
  const app = window.jupyterapp;
  const wm = app.widgetManager || await app.widgetManagerPromise.promise;
  for (const pending of Object.values(wm._models)) {
    const model = await pending;
    if ((model.get('_dom_classes') || []).includes('cl-main-control')) { return model; }
  }
  throw new Error('no widget model with class cl-main-control');
}
"""

_READ_MAIN_JS = "async () => {" + _FIND_MAIN_JS + """
  const m = await clMainModel();
  return {name: m.get('_model_name'), value: m.get('value'), index: m.get('index'),
          min: m.get('min'), max: m.get('max'), step: m.get('step')};
}"""

_SEND_UPDATE_JS = "async ({state, via}) => {" + _FIND_MAIN_JS + """
  if (!window.__clNanPatch) {
    window.__clNanPatch = true;
    const token = '"__cl_nan__"', bare = 'NaN' + ' '.repeat(token.length - 3);
    const enc = new TextEncoder(), from = enc.encode(token), to = enc.encode(bare);
    const original = WebSocket.prototype.send;
    WebSocket.prototype.send = function (data) {
      if (typeof data === 'string') {
        data = data.split(token).join(bare);
      } else if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) {
        const bytes = new Uint8Array(data instanceof ArrayBuffer ? data.slice(0)
                                     : data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
        outer: for (let i = 0; i + from.length <= bytes.length; i++) {
          for (let j = 0; j < from.length; j++) { if (bytes[i + j] !== from[j]) continue outer; }
          bytes.set(to, i);
        }
        data = bytes.buffer;
      }
      return original.call(this, data);
    };
  }
  const m = await clMainModel();
  if (via === 'model') {
    for (const [k, v] of Object.entries(state)) { m.set(k, v); }
    m.save_changes();
  } else {
    m.comm.send({method: 'update', state: state, buffer_paths: []});
  }
  return true;
}"""


@contextmanager
def voila_server(log_name, max_kernels=3):
    """The served kit (notebooks/), kernels of closed pages culled after 60 s."""
    with BackgroundServer(root=NOTEBOOKS, max_kernels=max_kernels, cull_idle_timeout=60, cull_interval=10,
                          log_path=ARTIFACTS / f"voila-{log_name}-{os.getpid()}.log") as srv:
        yield srv


@contextmanager
def chromium():
    """Debian's headless chromium through playwright (the flags of the project's standards)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def served_lesson(notebook, log_name, viewport=VIEWPORT, answer_first=True):
    """One lesson open in its own server and browser, settled: a :class:`LessonPage` (``answer_first``: see it)."""
    with voila_server(log_name) as srv, chromium() as browser:
        lesson = LessonPage(browser, srv, notebook, viewport=viewport, answer_first=answer_first)
        try:
            yield lesson
        finally:
            lesson.page.close()


def lesson_page_fixture(notebook, log_name, viewport=VIEWPORT):
    """A module-scoped fixture: :func:`served_lesson` for ``notebook``, shared by the module's tests."""
    @pytest.fixture(scope="module")
    def page():
        with served_lesson(notebook, log_name, viewport=viewport) as lesson:
            yield lesson
    return page
