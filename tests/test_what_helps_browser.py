"""Lesson 05 (what helps) served by Voila, in a real browser: its findings wait for the predictions.

``test_app_browser.py`` runs the checks every lesson gets on this lesson too
(main control, hostile updates, no repr, no source); the page set-up is
``tests/browser.py``, shared by every browser test. Here: before either
prediction is checked the page's text holds none of the numbers the lesson's findings quote, and the trade-off picture
(which answers the first prediction) is hidden; Check on the first
prediction shows the lab's findings and the picture with its findings, and
Check on the second shows the two designs' findings, each with the numbers
the runs give (``coupling_lab.lessons.mitigations``, pinned in
``test_lessons_protections.py`` and ``test_lessons.py``).
"""
from __future__ import annotations

import time

import pytest

from browser import CHANGE_TIMEOUT_S, NOTEBOOKS, lesson_page_fixture
from coupling_lab.lessons import mitigations as mit

NOTEBOOK = NOTEBOOKS / "05-what-helps.ipynb"

pytestmark = pytest.mark.timeout(600)


def lab_numbers():
    q = mit.lab_quoted()
    return [f"to {q['osm_fall']}", f"{q['rate_waiting']} account-minutes", f"{q['outage_bad']} of bad debt",
            f"{q['report_bad']} of bad debt", f"{q['fallback_bad']} of bad debt remain"]


def tradeoff_numbers():
    q = mit.TRADEOFF_QUOTED
    return [q["crash_none_fall"], q["crash_osm_fall"], f"{q['report_none_unpaid']} unpaid",
            f"fallback oracle {q['report_fallback_unpaid']}"]


def design_numbers():
    a = mit.measure_rows(mit.design_run("crash", 1).measures)
    b = mit.measure_rows(mit.design_run("crash", 1, delay=60).measures)
    return [f"to {b['excess drawdown'][0]} (design B)", f"carry {b['peak flow'][0]} of the selling instead of "
            f"{a['peak flow'][0]}"]


page = lesson_page_fixture(NOTEBOOK, "what-helps")


def _body(lesson):
    return lesson.page.inner_text("body")


def _wait_for_all(lesson, phrases, timeout=CHANGE_TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = _body(lesson)
        if all(p in body for p in phrases):
            return []
        lesson.page.wait_for_timeout(250)  # (pumps playwright's events; time.sleep would not)
    return [p for p in phrases if p not in _body(lesson)]


FIGURE_DIV = ".jupyter-matplotlib-canvas-div"  # one per figure: the lab, the trade-off picture, the two designs


def _visible_figures(lesson):
    """How many figures are shown and painted (a hidden one has no offsetParent)."""
    return lesson.page.eval_on_selector_all(
        FIGURE_DIV, "ds => ds.filter(d => d.offsetParent !== null && d.querySelector('canvas').width > 10).length")


def _check(lesson, nth, option_text):
    question = lesson.page.locator(".cl-prediction").nth(nth)
    question.locator("label", has_text=option_text).click()
    question.get_by_role("button", name="Check").click()
    return question


# the tests run in this order on one page
def test_before_check_the_page_states_no_finding(page):
    assert page.response is not None and page.response.status == 200
    page.settle()
    page.screenshot("-before-check")
    body = _body(page)
    for phrase in lab_numbers() + tradeoff_numbers() + design_numbers():
        assert phrase not in body, f"{phrase!r} is on the page before the learner checked a prediction"
    assert page.page.locator(".cl-revealed").count() == 3
    assert body.count("once you have pressed Check") == 3  # each hidden block says what it waits for
    assert page.page.locator(FIGURE_DIV).count() == 3
    assert _visible_figures(page) == 2, "the trade-off picture is shown before the lab's prediction is checked"
    page.assert_clean()


def test_check_on_the_lab_prediction_reveals_its_findings_and_the_trade_off(page):
    question = _check(page, 0, "Larger: liquidations wait")
    missing = _wait_for_all(page, lab_numbers() + tradeoff_numbers())
    assert not missing, f"not on the page after Check: {missing}"
    assert "Right." in question.inner_text()
    deadline = time.monotonic() + CHANGE_TIMEOUT_S
    while _visible_figures(page) < 3 and time.monotonic() < deadline:
        page.page.wait_for_timeout(250)
    assert _visible_figures(page) == 3, "the trade-off picture did not appear after Check"
    body = _body(page)
    for phrase in design_numbers():  # the second prediction is not answered yet
        assert phrase not in body, f"{phrase!r} shown before the second prediction is checked"
    page.screenshot("-lab-checked")
    page.assert_clean()


def test_check_on_the_designs_prediction_reveals_its_findings(page):
    _check(page, 1, "About the same")  # a wrong answer commits the learner too
    missing = _wait_for_all(page, design_numbers())
    assert not missing, f"not on the page after Check: {missing}"
    assert "once you have pressed Check" not in _body(page)
    page.screenshot("-designs-checked")
    page.assert_clean()
