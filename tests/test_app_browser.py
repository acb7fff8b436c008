"""The served app in a real browser (Debian chromium driven by playwright).

One Voila server (``coupling_lab.serve``, the configuration ``make serve``
uses) on a free loopback port for the whole module, one headless chromium,
one page per lesson shared by the tests of that lesson. Parametrised over
every notebook in ``notebooks/``, so a new lesson is covered without editing
this file. The page set-up (server, chromium, :class:`LessonPage`) is
``tests/browser.py``, shared with every lesson's own browser tests.
Screenshots go to ``test-artifacts/`` (gitignored).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request

import pytest

from browser import (ARTIFACTS, CANVAS, CHANGE_TIMEOUT_S, EXCEPTION_NAME, LEAK_MARKERS, LESSONS, MAIN_HANDLE,
                     NAN_PASSES, NOTEBOOKS, NUMBER_SLIDERS, RENDER_TIMEOUT_MS, REPO, LessonPage, _offline, chromium,
                     python_reprs, voila_server)
from coupling_lab.serve import HIDDEN_ERROR, BackgroundServer, class_full_message, free_port

pytestmark = pytest.mark.timeout(600)


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def server():
    # Cap above what the module opens (one page per lesson + the class-full check);
    # kernels of closed pages are culled after 60 s.
    with voila_server("browser-tests", max_kernels=len(LESSONS) + 4) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


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
