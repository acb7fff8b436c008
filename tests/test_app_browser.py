"""The served app in a real browser (Debian chromium driven by playwright).

One Voila server (``coupling_lab.serve``, the configuration ``make serve``
uses) on a free loopback port for the whole module, one headless chromium,
one page per lesson shared by the tests of that lesson. Parametrised over
every notebook in ``notebooks/``, so a new lesson is covered without editing
this file. Screenshots go to ``test-artifacts/`` (gitignored).

Requests to anything but the local server (CDN fonts) are aborted so the
tests run offline and do not wait on the network.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from coupling_lab.serve import HIDDEN_ERROR, BackgroundServer, class_full_message, free_port

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
# number sliders sync "value" (and a min/max the page can move); selection sliders sync "index"
NUMBER_SLIDERS = ("FloatSliderModel", "IntSliderModel", "FloatLogSliderModel")
NAN_PASSES = ("FloatSliderModel", "FloatLogSliderModel")  # CFloat lets NaN through its clamp

# Words and paths that must never reach a learner: a Python traceback, Voila's
# "error when executing cell" note, or where the server keeps its files.
LEAK_MARKERS = ("Traceback", "There was an error when executing cell", 'File "/', "site-packages",
                str(REPO), sys.prefix)
EXCEPTION_NAME = re.compile(r"\b[A-Z][A-Za-z]*(Error|Exception)\b")

pytestmark = pytest.mark.timeout(600)


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def server():
    # Cap above what the module opens (one page per lesson + the class-full check);
    # kernels of closed pages are culled after 60 s.
    with BackgroundServer(root=NOTEBOOKS, max_kernels=len(LESSONS) + 4, cull_idle_timeout=60, cull_interval=10,
                          log_path=ARTIFACTS / f"voila-browser-tests-{os.getpid()}.log") as srv:
        yield srv


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _offline(route):
    if route.request.url.startswith("http://127.0.0.1"):
        route.continue_()
    else:
        route.abort()


class LessonPage:
    """A lesson open in the browser, with every websocket frame it exchanged."""

    def __init__(self, browser, server, notebook):
        self.notebook = notebook
        self.nb = nbformat.read(notebook, as_version=4)
        self.url = f"{server.url}voila/render/{notebook.name}"
        self.frames = []  # (direction, text)
        self.page = browser.new_page(viewport=VIEWPORT)
        self.page.set_default_timeout(RENDER_TIMEOUT_MS)
        self.page.route("**/*", _offline)
        self.page.on("websocket", self._watch)
        started = time.monotonic()
        self.response = self.page.goto(self.url, wait_until="domcontentloaded")
        self.page.wait_for_selector(MAIN_HANDLE, state="visible")
        self.page.wait_for_selector(CANVAS, state="visible")
        self.page.wait_for_function(  # ipympl has drawn something into the canvas
            f"() => [...document.querySelectorAll('{CANVAS}')].some(c => c.width > 10 && c.height > 10)")
        self.render_seconds = time.monotonic() - started

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


@pytest.fixture(scope="module", params=LESSONS, ids=lambda p: p.stem)
def lesson(request, browser, server):
    page = LessonPage(browser, server, request.param)
    yield page
    page.page.close()


# --------------------------------------------------------------------------- every lesson
def test_lesson_renders_its_widgets_without_errors(lesson):
    page = lesson.page
    assert lesson.response is not None and lesson.response.status == 200
    lesson.settle()  # the screenshot shows the first figure ipympl paints, not the empty canvas before it
    lesson.screenshot("")
    assert page.locator(".jupyter-widgets").count() >= 2, "no widgets rendered"
    assert page.locator(MAIN_HANDLE).count() >= 1
    assert page.locator(CANVAS).count() >= 1
    body = page.inner_text("body")
    for marker in LEAK_MARKERS:
        assert marker not in body, f"{marker!r} shown in the page"
    outputs = " ".join(page.locator(".jp-OutputArea-output").all_inner_texts())
    assert not EXCEPTION_NAME.search(outputs), f"an exception name in the outputs: {EXCEPTION_NAME.search(outputs)}"
    stderr = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
    assert stderr.count() == 0, f"stderr output in the page: {stderr.all_inner_texts()[:2]}"
    assert lesson.status_text() == "", f"status message on first render: {lesson.status_text()!r}"


def test_lesson_page_holds_no_notebook_source(lesson):
    html = lesson.page.content()
    assert lesson.page.locator(".jp-CodeCell .jp-InputArea, .jp-Editor, .CodeMirror, .cm-editor").count() == 0
    prose = "\n".join(c.source for c in lesson.nb.cells if c.cell_type == "markdown")
    code_lines = [line.strip() for c in lesson.nb.cells if c.cell_type == "code"
                  for line in c.source.splitlines()]
    checked = [line for line in code_lines if len(line) >= 12 and line not in prose]
    assert checked or not code_lines, "no distinctive code line to look for"
    for line in checked:
        escaped = line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
        assert line not in html and escaped not in html, f"source line {line!r} is in the page"


# Python reprs a learner must never read (issue: "no raw Python on a served page"). Anywhere in
# the page's text: numpy scalars and arrays, the model's result reprs. In the cells' outputs
# (widgets, readouts, sentences, tables), also a dataclass repr (``Name(field=``), and line by
# line a bare tuple, list or dict, a quoted string, a long bare float; scientific notation and
# a negative zero. (Prose may quote code, e.g. ``Config()``: only outputs are held to that.)
REPR_ANYWHERE = re.compile(r"\bnp\.(float|int|uint|bool|str|complex)\d*\(|\barray\(|\bdtype=|\bMeasures\(")
REPR_LINE = re.compile(r"^\s*(\(.*,.*\)|\[.*,.*\]|\{.*:.*\}|'.*'|\".*\"|-?\d+\.\d{4,})\s*$")
REPR_IN_OUTPUT = re.compile(r"\b[A-Z][A-Za-z]+\([a-z_]+=|\b\d+(\.\d+)?e[+-]\d+\b|(?<![\d.])-0\.0+(?!\d*[1-9])\b")


def python_reprs(page_text, output_text):
    """Every Python repr pattern in a page's text (its whole text, and its cells' outputs)."""
    found = [m.group(0) for m in REPR_ANYWHERE.finditer(page_text)]
    found += [line.strip() for line in output_text.splitlines() if REPR_LINE.match(line)]
    found += [m.group(0) for m in REPR_IN_OUTPUT.finditer(output_text)]
    return found


def test_repr_patterns_are_caught():
    outputs = "\n".join(["np.float64(5758.3)", "(0.01, 0.009000000000000001)", "{'A': 0.276, 'B': 0.035}",
                         "107.97912", "readout 5e+07", "synchrony -0.00", "array([1, 2])"])
    assert len(python_reprs("Measures(synchrony=0.1)\n" + outputs, outputs)) == 8
    assert python_reprs("", "Forecast(drop=0.1, kappa=0.2)") == ["Forecast(drop="]
    fine = "Bad debt 5,758 USD.\nsynchrony 0.04 (1 = in lockstep)\n-0.01 · 0.00\nseed 1\tdepth 150 M USD"
    assert python_reprs("A sentence (with a clause, and a comma). Code in prose: `Config()`, np.linspace(0, 1).",
                        fine) == []


def test_lesson_page_text_holds_no_python_repr(lesson):
    """Every value a learner sees is a labelled, formatted sentence, widget or figure: no repr anywhere."""
    page = lesson.page
    body = page.inner_text("body")
    outputs = "\n".join(page.locator(".jp-OutputArea-output").all_inner_texts())
    found = python_reprs(body, outputs)
    assert not found, f"{lesson.notebook.name} shows Python reprs: {found[:5]}"


def test_moving_the_main_control_changes_the_figure(lesson):
    before = lesson.settle()
    handle = lesson.page.locator(MAIN_HANDLE).first
    position_before = lesson.position()
    handle.focus()
    handle.press("ArrowRight")
    after = lesson.wait_for_canvas_change(before)
    lesson.screenshot("-moved")
    assert after is not None, "the figure did not change after ArrowRight on the main control"
    assert lesson.position() != position_before
    assert lesson.status_text() == ""


def test_hostile_updates_keep_the_last_good_figure(lesson):
    """Updates a learner can send from the developer tools: the figure keeps its
    last good data, and the lesson says so (or the widget machinery refuses them)."""
    start = lesson.main_control_state()
    good = lesson.settle(1.5)
    if start["name"] in NUMBER_SLIDERS:
        cases = [
            # 1e308 with the widget's max moved out of the way (both are synced traits)
            ("value=1e308 with max=1e308", {"max": 1e308, "value": 1e308}, "comm", True),
            # NaN as a bare token in the comm message
            ("value=NaN", {"value": "__cl_nan__"}, "comm", start["name"] in NAN_PASSES),
            ("value=-1e308 with min=-1e308", {"min": -1e308, "value": -1e308}, "comm", True),
        ]
    else:  # a selection slider syncs an index into options the kernel holds
        # (an out-of-range index is refused too, but the page's own slider then snaps to the
        # nearest valid option and sends that: a valid change, so not used here)
        cases = [("index=NaN", {"index": "__cl_nan__"}, "comm", False), ("index='x'", {"index": "x"}, "comm", False)]
    for label, state, via, lesson_checks_it in cases:
        refused_before = lesson.rejections()
        lesson.send_update(state, via=via)
        if lesson_checks_it:
            assert lesson.wait_for_status(), f"no status message after {label}"
        else:  # refused by the widget machinery before any callback: the page hears one line
            assert lesson.wait_for_rejection(refused_before), f"{label} was not refused: {lesson.last_frames()}"
        assert lesson.settle(1.5) == good, f"the figure changed on {label}"
    lesson.screenshot("-hostile")
    # a valid position again: the lesson recovers and the message goes away
    if start["name"] in NUMBER_SLIDERS:
        other = start["value"] - start["step"]
        if other < start["min"]:
            other = start["value"] + start["step"]
        valid = {"min": start["min"], "max": start["max"], "value": other}
    else:
        valid = {"index": start["index"] - 1 if start["index"] > 0 else start["index"] + 1}
    lesson.send_update(valid, via="comm")
    assert lesson.wait_for_canvas_change(good) is not None, "the lesson did not recover after a valid value"
    deadline = time.monotonic() + CHANGE_TIMEOUT_S
    while lesson.status_text() and time.monotonic() < deadline:
        lesson.page.wait_for_timeout(250)
    assert lesson.status_text() == "", "the status message stayed after a valid value"


def test_errors_send_no_traceback_to_the_page_or_its_websocket(lesson):
    """Values the widget machinery raises on: each comes back as one line, never a traceback."""
    trait = "value" if lesson.main_control_state()["name"] in NUMBER_SLIDERS else "index"
    for bad in (None, "not a number", [1, 2], {"a": 1}):
        refused_before = lesson.rejections()
        lesson.send_update({trait: bad})
        assert lesson.wait_for_rejection(refused_before), f"{trait}={bad!r} was not refused; last frames: {lesson.last_frames()}"
    lesson.page.wait_for_timeout(1000)  # anything else the kernel sends about it
    body = lesson.page.inner_text("body")
    frames = lesson.frames_text()
    for marker in LEAK_MARKERS:
        assert marker not in body, f"{marker!r} shown in the page"
        assert marker not in frames, f"{marker!r} sent over the websocket"
    for match in re.finditer(r'"traceback"\s*:\s*\[(.*?)\]', frames):
        assert json.loads(f"[{match.group(1)}]") == [HIDDEN_ERROR], match.group(0)[:300]


# --------------------------------------------------------------------------- the app as a whole
def test_landing_page_shows_a_card_per_lesson_and_the_guide(browser, server):
    """``/``: the kit's title, one line on coupling, a card per lesson (number, title,
    idea, minutes, what to do first) linking the lesson, and the instructor's guide link."""
    from coupling_lab import landing
    from coupling_lab.serve import lesson_paths

    lessons = lesson_paths(NOTEBOOKS)
    assert lessons, "no lessons in notebooks/"
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.route("**/*", _offline)
    try:
        response = page.goto(server.url, wait_until="load")
        assert response.status == 200
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "landing-page.png"), full_page=True)
        assert page.locator("h1").inner_text() == landing.TITLE
        assert landing.COUPLING in page.inner_text("header")
        cards = page.locator("li.card")
        assert cards.count() == len(lessons)
        for card, notebook, expected in zip(cards.all(), lessons, landing.lesson_cards(lessons)):
            text = card.inner_text()
            assert f"Lesson {notebook.name.split('-')[0]}" in text
            for field in ("title", "idea", "first"):
                assert expected[field] in text, (notebook.name, field)
            assert f"About {expected['minutes']} minutes" in text
            assert card.locator("a.title").get_attribute("href") == f"/voila/render/{notebook.name}"
            box = card.bounding_box()
            assert box["width"] >= 200 and box["x"] + box["width"] <= 1280, f"card {notebook.name} off the page"
        # the guide is another notebook; only its link target is checked here
        assert page.locator("a.guide-link").get_attribute("href") == "/voila/render/instructor-guide.ipynb"
        body = page.inner_text("body")
        for marker in LEAK_MARKERS:
            assert marker not in body
        # a card's link opens its lesson
        first = page.locator("li.card a.title").first
        href = first.get_attribute("href")
        with page.expect_navigation(wait_until="commit"):
            first.click()
        assert page.url.endswith(href)
    finally:
        page.close()


def test_server_refuses_sources_and_files_outside_the_notebooks(server):
    for path in ("voila/files/../coupling_lab/serve.py", f"voila/files/{LESSONS[0].name}" if LESSONS else "x",
                 "api/contents", "api/kernels", "tree/../README.md"):
        try:
            with urllib.request.urlopen(server.url + path, timeout=30) as response:
                body = response.read().decode("utf-8", errors="replace")
        except urllib.error.HTTPError as exc:
            assert exc.code in (403, 404, 405), (path, exc.code)
            continue
        assert '"cells"' not in body and "import " not in body, f"{path} served source"


def test_a_full_class_gets_a_clear_message(browser):
    """Past the cap, a page gets HTTP 503 and the class-full line, not a kernel."""
    lesson = LESSONS[0].name
    with BackgroundServer(root=NOTEBOOKS, max_kernels=1, log_path=ARTIFACTS / f"voila-cap-test-{os.getpid()}.log") as srv:
        url = f"{srv.url}voila/render/{lesson}"
        with urllib.request.urlopen(url, timeout=RENDER_TIMEOUT_MS / 1000) as first:
            assert first.status == 200
            first.read()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=60)
        assert refused.value.code == 503
        page = refused.value.read().decode()
        assert class_full_message(1) in page
        assert "Traceback" not in page
        _class_full_page_in_the_browser(browser, url)


def _class_full_page_in_the_browser(browser, url):
    """The class-full page, as a learner sees it: the landing page's style, one line, a way back."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.route("**/*", _offline)
    try:
        response = page.goto(url, wait_until="load")
        assert response.status == 503
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "class-full-page.png"))
        assert page.locator(".notice h1").inner_text() == "The class is full"
        assert page.locator(".notice .message").inner_text() == class_full_message(1)
        assert page.locator(".notice a").get_attribute("href") == "/"
        # the landing page's stylesheet
        assert "system-ui" in page.evaluate("getComputedStyle(document.body).fontFamily")
    finally:
        page.close()


def test_jupyterlab_serves_the_lessons():
    """``make lab``'s server: JupyterLab answers and lists every lesson."""
    port = free_port()
    argv = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}", "--ServerApp.token=", "--ServerApp.password=",
            f"--ServerApp.root_dir={REPO}", "--allow-root"]
    ARTIFACTS.mkdir(exist_ok=True)
    with open(ARTIFACTS / "jupyterlab-test.log", "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        deadline, listing = time.monotonic() + 120, None
        while time.monotonic() < deadline and listing is None:
            assert proc.poll() is None, "JupyterLab exited"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents/notebooks", timeout=10) as r:
                    listing = json.load(r)
            except OSError:
                time.sleep(0.5)
        assert listing is not None, "JupyterLab did not answer"
        names = {item["name"] for item in listing["content"]}
        assert {p.name for p in LESSONS} <= names
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab", timeout=30) as r:
            assert r.status == 200 and "JupyterLab" in r.read().decode()
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
