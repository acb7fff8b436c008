"""Lesson 02b (two channels) served by Voila, in a real browser.

Modelled on ``test_app_browser.py`` (which also runs its generic checks on
this lesson: main control, hostile updates, no source in the page); the page
set-up is ``tests/browser.py``, shared by every browser test. This file checks
what is particular to the lesson: the prediction comes before the figure and
reveals only after Check (the corners of one seed in its box, and further
down the observations and the 50-seed findings: none of their numbers is on
the page before), the second dial and the fault move the figure, the corner
presets set both dials in one go, and no readout is a Python repr.
"""
from __future__ import annotations

import re
import time

import pytest

from browser import CANVAS, CHANGE_TIMEOUT_S, EXCEPTION_NAME, LEAK_MARKERS, NOTEBOOKS, lesson_page_fixture
from coupling_lab import channels as ch

NOTEBOOK = NOTEBOOKS / "02b-two-channels.ipynb"
READOUT = ".cl-readout"
# what a Python repr looks like in page text: numpy scalars and arrays, dataclass reprs, dicts, tuples of numbers
REPR = re.compile(r"np\.|array\(|float64|int64|RunSummary\(|SeedMeans\(|Corner\(|Result\(|Measures\(|World\(|"
                  r"\{'|\{\"|\(\d+(\.\d+)?, \d|<coupling_lab|object at 0x")

pytestmark = pytest.mark.timeout(600)


page = lesson_page_fixture(NOTEBOOK, "two-channels")


def _readout(lesson):
    return " ".join(lesson.page.locator(READOUT).all_inner_texts())


def _wait_for_readout(lesson, text, timeout=CHANGE_TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in _readout(lesson):
            return True
        lesson.page.wait_for_timeout(250)  # (pumps playwright's events; time.sleep would not)
    return False


def findings_phrases():
    """Phrases of the text revealed further down the page after Check, with the 50-seed numbers."""
    q = ch.QUOTED
    return ["the raster's rows are copies of each other", f"push asset 0 a further {q['together_common']} below",
            f"own feeds into one market: {q['market_common']}", f"{q['together_sync']} with both",
            f"falls a further {q['outage_own']} ({q['provider_own']} without the outage)",
            f"synchrony jumps to {q['outage_sync']}"]


def _wait_for_body(lesson, phrases, timeout=CHANGE_TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = lesson.page.inner_text("body")
        if all(p in body for p in phrases):
            return []
        lesson.page.wait_for_timeout(250)
    body = lesson.page.inner_text("body")
    return [p for p in phrases if p not in body]


def _assert_clean(lesson):
    body = lesson.page.inner_text("body")
    for marker in LEAK_MARKERS:
        assert marker not in body, f"{marker!r} shown in the page"
    match = REPR.search(body)
    assert not match, f"a Python repr in the page text: {body[max(0, match.start() - 60):match.end() + 60]!r}"
    outputs = " ".join(lesson.page.locator(".jp-OutputArea-output").all_inner_texts())
    assert not EXCEPTION_NAME.search(outputs), EXCEPTION_NAME.search(outputs)
    assert lesson.status_text() == "", lesson.status_text()


def test_renders_with_sentences_and_no_repr(page):
    assert page.response is not None and page.response.status == 200
    page.screenshot("-lesson")
    assert _wait_for_readout(page, "2 of 4 platforms read the shared provider 0")
    assert "forced selling pushed asset 0 a further" in _readout(page)
    assert page.page.locator(".cl-preset").count() == 4
    _assert_clean(page)


def test_prediction_comes_first_and_reveals_only_after_check(page):
    p = page.page
    question = p.locator(".cl-prediction").first
    reveal = p.locator(".cl-corners")
    assert question.bounding_box()["y"] < p.locator(CANVAS).first.bounding_box()["y"], "the figure is above the question"
    assert not reveal.is_visible(), "the corners are shown before the learner answered"
    body = p.inner_text("body")
    for phrase in findings_phrases():
        assert phrase not in body, f"{phrase!r} is on the page before the learner checked the prediction"
    assert p.locator(".cl-revealed").count() == 3 and body.count("once you have pressed Check") == 3
    question.locator("label", has_text="one feed, one market").click()
    question.get_by_role("button", name="Check").click()
    reveal.wait_for(state="visible", timeout=CHANGE_TIMEOUT_S * 1000)
    text = reveal.inner_text()
    assert "deepest crash is at" in text and "one feed, one market" in text
    assert "Right." in question.inner_text()
    missing = _wait_for_body(page, findings_phrases())
    assert not missing, f"not on the page after Check: {missing}"
    assert "once you have pressed Check" not in p.inner_text("body")
    page.screenshot("-checked")
    _assert_clean(page)


def test_collateral_dial_moves_the_figure(page):
    before = page.settle()
    handle = page.page.locator(".widget-slider", has_text="shared collateral").locator(".noUi-handle")
    handle.focus()
    handle.press("ArrowRight")
    assert page.wait_for_canvas_change(before) is not None, "the figure did not move with the collateral dial"
    assert _wait_for_readout(page, "3 of 4 platforms hold the common asset 0")
    page.screenshot("-collateral")
    _assert_clean(page)


@pytest.mark.parametrize("label, where, value", [("one feed, one market", "both dials at 1", 1.0),
                                                 ("own feeds, own markets", "both dials at 0", 0.0),
                                                 ("one provider, own markets", "oracle dial at 1, collateral dial at 0", 1.0)])
def test_corner_presets_set_both_dials(page, label, where, value):
    before = page.settle()
    page.page.locator(".cl-preset", has_text=label).click()
    assert page.wait_for_canvas_change(before) is not None, f"the figure did not change on {label!r}"
    assert _wait_for_readout(page, f"{label}: {where}."), _readout(page)
    assert page.main_control_state()["value"] == value
    page.screenshot(f"-preset-{label.split(',')[0].replace(' ', '-')}")
    _assert_clean(page)


def test_provider_outage_moves_the_figure(page):
    page.page.locator(".cl-preset", has_text="one provider, own markets").click()
    assert _wait_for_readout(page, "one provider, own markets:")
    before = page.settle()
    page.page.get_by_role("button", name="provider 0 outage").click()
    assert page.wait_for_canvas_change(before) is not None, "the figure did not change with the outage"
    page.screenshot("-outage")
    _assert_clean(page)
