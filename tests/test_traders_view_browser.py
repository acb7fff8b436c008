"""Lesson 08, the trader's view, served by Voila and driven in a real browser.

Modelled on ``tests/test_app_browser.py`` (which also covers this lesson with
the checks every lesson gets): one server (``coupling_lab.serve``, the
configuration ``make serve`` uses), Debian's chromium through playwright, one
page (set up by ``tests/browser.py``, like every lesson's browser tests). Here: what is particular to this lesson -- two figures, the second
hidden until the prediction is checked, the 40-run findings (none of their
numbers on the page before Check), sentences instead of Python values, and
controls besides the main one.
"""
from __future__ import annotations

import re
import time

import pytest

from browser import (ARTIFACTS, CHANGE_TIMEOUT_S, EXCEPTION_NAME, LEAK_MARKERS, MAIN_HANDLE, NOTEBOOKS, STATUS,
                     lesson_page_fixture)
from coupling_lab.lessons import traders_view as tv
from coupling_lab.serve import HIDDEN_ERROR

LESSON = NOTEBOOKS / "08-the-traders-view.ipynb"
VIEWPORT = {"width": 1280, "height": 3600}
READOUT = ".cl-readout"
# what a learner must never read: numpy scalars and arrays, dataclass reprs, bare tuples, lists and dicts
PYTHON_REPR = re.compile(r"np\.(float|int)\d*\(|array\(|Measures\(|Odds\(|Position\(|MapPlacement\(|Result\("
                         r"|\(\s*-?\d[\d.e+-]*\s*,\s*-?\d[\d.e+-]*\s*[,)]|\[\s*-?\d[\d.e+-]*\s*,\s*-?\d"
                         r"|\{\s*'[^']*'\s*:")

pytestmark = pytest.mark.timeout(600)


lesson = lesson_page_fixture(LESSON, "traders-view", viewport=VIEWPORT)


@pytest.fixture(scope="module")
def page(lesson):
    """The lesson's playwright page."""
    return lesson.page


def received(lesson):
    """The websocket frames the page received so far (text)."""
    return [text for direction, text in lesson.frames if direction == "received"]


FIGURE_DIV = ".jupyter-matplotlib-canvas-div"  # one per figure; its first canvas holds the picture


def canvases(pg):
    """One picture per figure, in page order (the map, then the runs)."""
    return pg.eval_on_selector_all(FIGURE_DIV, "ds => ds.map(d => d.querySelector('canvas').toDataURL())")


def visible_figures(pg):
    return pg.eval_on_selector_all(
        FIGURE_DIV, "ds => ds.filter(d => d.offsetParent !== null && d.querySelector('canvas').width > 10).length")


def wait_for(pg, predicate, timeout=CHANGE_TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        pg.wait_for_timeout(250)  # pumps playwright's events
    return None


def settle(pg, seconds=2.0):
    last, since, deadline = canvases(pg), time.monotonic(), time.monotonic() + 30
    while time.monotonic() < deadline and time.monotonic() - since < seconds:
        pg.wait_for_timeout(250)
        now = canvases(pg)
        if now != last:
            last, since = now, time.monotonic()
    return last


def learner_text(pg):
    """The page's text without the code spans of the prose (the JupyterLab form of "Try this")."""
    return pg.evaluate("""() => { const c = document.body.cloneNode(true);
      c.querySelectorAll('code, pre, script, style, template').forEach(e => e.remove()); return c.innerText; }""")


def findings_phrases():
    """Phrases of the findings revealed after Check, with the 40-run numbers."""
    q = tv.QUOTED
    return [f"liquidated in {q['caught_shared']} runs", f"in {q['caught_indep']} when each reads its own",
            f"{q['buffer']} of health on top", f"({q['price_shared']} against {q['price_indep']} USD)",
            f"caught in {q['own_caught']} runs"]


def status_text(pg):
    return " ".join(pg.locator(STATUS).all_inner_texts()).strip()


def shot(pg, suffix):
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"08-the-traders-view{suffix}.png"), full_page=True)


# the tests run in this order on one page
def test_renders_with_no_error_and_no_python_values(lesson, page):
    assert lesson.response is not None and lesson.response.status == 200
    shot(page, "-browser")
    body = page.inner_text("body")
    for marker in LEAK_MARKERS:
        assert marker not in body, f"{marker!r} shown in the page"
    outputs = " ".join(page.locator(".jp-OutputArea-output").all_inner_texts())
    assert not EXCEPTION_NAME.search(outputs), EXCEPTION_NAME.search(outputs)
    assert page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]').count() == 0
    text = learner_text(page)
    assert not PYTHON_REPR.search(text), f"a Python value in the page: {PYTHON_REPR.search(text).group(0)!r}"
    widgets_text = " ".join(page.locator(".jupyter-widgets").all_inner_texts())
    assert not PYTHON_REPR.search(widgets_text), PYTHON_REPR.search(widgets_text).group(0)
    assert status_text(page) == ""
    assert "Liquidation price 1,500 USD" in body and "health at entry 1.33" in body


def test_the_runs_wait_for_the_prediction(page):
    readouts = page.locator(READOUT)
    assert readouts.count() == 2
    assert readouts.nth(0).is_visible() and not readouts.nth(1).is_visible()
    body = page.inner_text("body")
    assert "To be safe in 90 % of the runs" not in body
    for phrase in findings_phrases():
        assert phrase not in body, f"{phrase!r} is on the page before the learner checked the prediction"
    assert page.locator(".cl-revealed").count() == 1 and "once you have pressed Check" in body
    assert page.locator(FIGURE_DIV).count() == 2
    assert visible_figures(page) == 1
    page.locator(".cl-prediction input[type=radio]").nth(1).check()
    page.locator(".cl-prediction button", has_text="Check").click()
    assert wait_for(page, lambda: readouts.nth(1).is_visible()), "the runs did not appear after Check"
    assert wait_for(page, lambda: visible_figures(page) == 2), "the runs' figure did not appear after Check"
    assert wait_for(page, lambda: all(p in page.inner_text("body") for p in findings_phrases())), \
        [p for p in findings_phrases() if p not in page.inner_text("body")]
    body = page.inner_text("body")
    assert "Right." in body and "To be safe in 90 % of the runs" in body
    assert "once you have pressed Check" not in body
    assert not PYTHON_REPR.search(learner_text(page)), PYTHON_REPR.search(learner_text(page)).group(0)
    shot(page, "-revealed")


def test_the_main_control_moves_both_figures_and_readouts(page):
    before = settle(page)
    text_before = page.locator(READOUT).all_inner_texts()
    handle = page.locator(MAIN_HANDLE).first
    handle.focus()
    handle.press("ArrowRight")  # debt 12 000 -> 12 250 USD: p* = 12250 / 8 = 1531.25 USD
    after = wait_for(page, lambda: (lambda now: now if now[0] != before[0] and now[1] != before[1] else None)(
        canvases(page)))
    assert after is not None, "the figures did not both change after ArrowRight on the debt"
    assert wait_for(page, lambda: "Liquidation price 1,531 USD" in page.inner_text("body"))
    texts = page.locator(READOUT).all_inner_texts()
    assert texts[0] != text_before[0] and texts[1] != text_before[1]
    assert status_text(page) == ""
    assert not PYTHON_REPR.search(learner_text(page))


def test_platform_and_feed_change_the_runs(page):
    before = settle(page)
    page.locator("select").first.select_option(label="P3")
    assert wait_for(page, lambda: "on P3, which reads" in page.inner_text("body"))
    page.get_by_role("button", name="its own feed").click()
    assert wait_for(page, lambda: "P3's own feed" in page.inner_text("body"))
    assert wait_for(page, lambda: canvases(page)[1] != before[1]), "the runs' figure did not change"
    assert status_text(page) == ""
    shot(page, "-own-feed")


def test_bad_values_from_the_page_show_one_line_and_no_traceback(lesson, page):
    js = """async (state) => {
      const wm = window.jupyterapp.widgetManager || await window.jupyterapp.widgetManagerPromise.promise;
      for (const pending of Object.values(wm._models)) {
        const m = await pending;
        if ((m.get('_dom_classes') || []).includes('cl-main-control')) {
          m.comm.send({method: 'update', state: state, buffer_paths: []}); return true;
        }
      }
      return false;
    }"""
    good = settle(page, 1.5)
    assert page.evaluate(js, {"max": 1e308, "value": 1e308})
    assert wait_for(page, lambda: status_text(page)), "no status line after value=1e308"
    assert "Ignored" in status_text(page)
    assert settle(page, 1.5) == good, "the figures changed on a bad value"
    n_before = sum(f.count(HIDDEN_ERROR) for f in received(lesson))
    assert page.evaluate(js, {"value": None})
    assert wait_for(page, lambda: sum(f.count(HIDDEN_ERROR) for f in received(lesson)) > n_before)
    page.wait_for_timeout(1000)
    body, frames = page.inner_text("body"), "\n".join(received(lesson))
    for marker in LEAK_MARKERS:
        assert marker not in body and marker not in frames, marker
    assert page.evaluate(js, {"max": 20000, "value": 11000})
    assert wait_for(page, lambda: "Liquidation price 1,375 USD" in page.inner_text("body"))
    assert wait_for(page, lambda: status_text(page) == "")
