"""Lesson 11 (replays) served by Voila, in a real browser.

``test_app_browser.py`` runs its generic checks on this lesson too (main
control, hostile updates, no source in the page); this file checks what is
particular to it: the prediction comes before the figure and reveals only
after Check (its own answer, and further down the Compound replay's findings
and the table of the model beside the record: none of their numbers is on the
page before), the settings toggle moves the figure and the readout, the event
slider reaches every replay, and no readout is a Python repr.
"""
from __future__ import annotations

import re
import time

import pytest

from browser import (CANVAS, CHANGE_TIMEOUT_S, EXCEPTION_NAME, LEAK_MARKERS, MAIN_HANDLE, NOTEBOOKS,
                     lesson_page_fixture)
from coupling_lab import replays as rp

NOTEBOOK = NOTEBOOKS / "11-replays.ipynb"
READOUT = ".cl-readout"
REPR = re.compile(r"np\.|array\(|float64|int64|ReplayRun\(|Replay\(|Figure\(|Result\(|World\(|"
                  r"\{'|\{\"|\(\d+(\.\d+)?, \d|<coupling_lab|object at 0x")

pytestmark = pytest.mark.timeout(600)


page = lesson_page_fixture(NOTEBOOK, "replays")


def findings_phrases():
    """What the page shows further down only after Check: the Compound replay's findings and the table."""
    q = rp.quoted_figures()
    return [f"the platform liquidates {q['cd_liq']} of a book of {q['cd_book']}",
            f"without any anchor: {q['cd_no_anchor']}", f"median of three venues: {q['cd_median']}",
            f"{q['cd_liq']} liquidated", "the anchor changes nothing"]


def _readout(lesson):
    return " ".join(lesson.page.locator(READOUT).all_inner_texts())


def _wait_for_readout(lesson, text, timeout=CHANGE_TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in _readout(lesson):
            return True
        lesson.page.wait_for_timeout(250)
    return False


def _assert_clean(lesson):
    body = lesson.page.inner_text("body")
    for marker in LEAK_MARKERS:
        assert marker not in body, f"{marker!r} shown in the page"
    match = REPR.search(body)
    assert not match, f"a Python repr in the page text: {body[max(0, match.start() - 60):match.end() + 60]!r}"
    outputs = " ".join(lesson.page.locator(".jp-OutputArea-output").all_inner_texts())
    assert not EXCEPTION_NAME.search(outputs), EXCEPTION_NAME.search(outputs)
    assert lesson.status_text() == "", lesson.status_text()


def test_renders_black_thursday_with_the_record_beside_the_model(page):
    assert page.response is not None and page.response.status == 200
    page.screenshot("-lesson")
    q = rp.quoted_figures()
    assert _wait_for_readout(page, f"model {q['bt_bad']}; reported 5.67 M DAI")
    text = _readout(page)
    assert "reproduces" in text and "leaves out" in text and "scaled" in text
    _assert_clean(page)


def test_prediction_comes_first_and_reveals_only_after_check(page):
    p = page.page
    question = p.locator(".cl-prediction").first
    reveal = p.locator(".cl-reveal")
    assert question.bounding_box()["y"] < p.locator(CANVAS).first.bounding_box()["y"], "the figure is above the question"
    assert not reveal.is_visible(), "the answer is shown before the learner answered"
    body = p.inner_text("body")
    for phrase in findings_phrases():
        assert phrase not in body, f"{phrase!r} is on the page before the learner checked the prediction"
    assert p.locator(".cl-revealed").count() == 2 and body.count("once you have pressed Check") == 2
    question.locator("label", has_text="the average moved up with the premium").click()
    question.get_by_role("button", name="Check").click()
    reveal.wait_for(state="visible", timeout=CHANGE_TIMEOUT_S * 1000)
    assert "without any anchor" in reveal.inner_text()
    deadline = time.monotonic() + CHANGE_TIMEOUT_S
    while time.monotonic() < deadline and not all(phrase in p.inner_text("body") for phrase in findings_phrases()):
        p.wait_for_timeout(250)
    body = p.inner_text("body")
    assert all(phrase in body for phrase in findings_phrases()), [x for x in findings_phrases() if x not in body]
    assert "once you have pressed Check" not in body
    page.screenshot("-checked")
    _assert_clean(page)


def test_settings_toggle_moves_the_figure_and_the_readout(page):
    before = page.settle()
    page.page.get_by_role("button", name="one setting changed").click()
    assert page.wait_for_canvas_change(before) is not None, "the figure did not change with the settings"
    assert _wait_for_readout(page, "changed: keepers working")
    assert "model 0 DAI; reported 5.67 M DAI" in _readout(page)
    page.screenshot("-keepers-working")
    page.page.get_by_role("button", name="as at the time").click()
    assert _wait_for_readout(page, "as at the time (the lesson")
    _assert_clean(page)


def test_the_event_slider_reaches_every_replay(page):
    handle = page.page.locator(MAIN_HANDLE).first
    for title in [r.title for r in rp.REPLAYS.values()][1:]:
        before = page.settle()
        handle.focus()
        handle.press("ArrowRight")
        assert page.wait_for_canvas_change(before) is not None, f"the figure did not change for {title}"
        label = next(f.label for f in rp.REPLAYS[rp.EVENTS[next(e for e in rp.EVENTS if e.startswith(title))]]
                     .run().figures)
        assert _wait_for_readout(page, label), (title, _readout(page)[:300])
        page.screenshot("-" + title.split()[0].lower())
        _assert_clean(page)
