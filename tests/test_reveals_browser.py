"""Lessons 03, 04 and 07 served by Voila, in a real browser: their findings wait for the prediction.

``test_app_browser.py`` runs the checks every lesson gets on these lessons too
(main control, hostile updates, no repr, no source); the page set-up is
``tests/browser.py``. Here: before the prediction is checked the page's text
holds none of the numbers the findings quote (lesson 03's depth sweep, which
answers the question too, is hidden); after Check they are on the page, as
the runs give them (``cascades.cascade_quoted``, ``faults.bad_report_quoted``,
pinned in ``test_lessons.py``; lesson 07's dial sweep, table, heatmap and explorer, pinned in
``test_reveals.py``). Lesson 11's prediction is checked in
``test_replays_browser.py``, lessons 02b, 05 and 08 in their own files.
"""
from __future__ import annotations

import time

import pytest

from browser import CHANGE_TIMEOUT_S, NOTEBOOKS, served_lesson
from coupling_lab.lessons import cascades, faults

pytestmark = pytest.mark.timeout(600)

FIGURE_DIV = ".jupyter-matplotlib-canvas-div"


def lesson03_numbers():
    q = cascades.cascade_quoted()
    return [f"1 log unit: {q['shared_kappa']}", f"the market falls {q['shared_fall']} from its start",
            f"stays below 0.01 ({q['alone_kappa']})", f"this seed ({q['own_kappa']}; the market falls {q['own_fall']})",
            "no single platform's risk team"]


def lesson04_numbers():
    q = faults.bad_report_quoted()
    return [f"sells {q['shared_sold']} and leaves {q['shared_bad']} of bad debt",
            f"it sells {q['own_sold']}, {q['own_p1_share']} of it P1's", f"sells {q['times']} times as much",
            "On the shared oracle: P1 1.10, P2 1.27"]


def lesson07_numbers():
    return ["0.39 [0.33, 0.45]", "53.5 [47.3, 59.8]", "14.3 [11.8, 16.7]",
            "Synchrony rises from 0.39 with no sharing to 0.71 at dial 0.8 and 0.99 at full sharing",
            "0.71 at 0.8, 0.99 at full sharing"]  # the last: the feedback of the option checked


#: lesson -> (the option clicked, the findings' phrases, how many blocks wait, figures shown before/after Check)
CASES = {
    "03-depth-and-cascades": ("Far more than five times", lesson03_numbers, 2, (1, 2)),
    "04-when-the-shared-oracle-fails": ("About five times as much", lesson04_numbers, 2, (1, 1)),
    # the dial figure, the heatmap and the explorer all wait
    "07-research-sweeps": ("All three rise most at the start", lesson07_numbers, 3, (0, 3)),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def lesson(request):
    with served_lesson(NOTEBOOKS / f"{request.param}.ipynb", f"reveals-{request.param[:2]}",
                       answer_first=False) as page:
        yield request.param, page


def _body(page):
    return page.page.inner_text("body")


def _visible_figures(page):
    return page.page.eval_on_selector_all(
        FIGURE_DIV, "ds => ds.filter(d => d.offsetParent !== null && d.querySelector('canvas').width > 10).length")


def _wait(predicate, page, timeout=CHANGE_TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        page.page.wait_for_timeout(250)  # (pumps playwright's events; time.sleep would not)
    return bool(predicate())


# the tests run in this order on each lesson's page
def test_before_check_the_page_states_no_finding(lesson):
    name, page = lesson
    _option, numbers, n_blocks, (figures_before, _after) = CASES[name]
    assert page.response is not None and page.response.status == 200
    page.settle()
    page.screenshot("-before-check")
    body = _body(page)
    for phrase in numbers():
        assert phrase not in body, f"{phrase!r} is on the page before the learner checked the prediction"
    assert page.page.locator(".cl-revealed").count() == n_blocks
    assert body.count("once you have pressed Check") == n_blocks  # each hidden block says what it waits for
    assert _visible_figures(page) == figures_before
    page.assert_clean()


def test_check_reveals_the_findings(lesson):
    name, page = lesson
    option, numbers, _n_blocks, (_before, figures_after) = CASES[name]
    question = page.page.locator(".cl-prediction").first
    question.locator("label", has_text=option).click()
    question.get_by_role("button", name="Check").click()
    assert _wait(lambda: all(p in _body(page) for p in numbers()), page), \
        f"not on the page after Check: {[p for p in numbers() if p not in _body(page)]}"
    assert "once you have pressed Check" not in _body(page)
    assert _wait(lambda: _visible_figures(page) == figures_after, page), "a hidden figure did not appear after Check"
    page.screenshot("-checked")
    page.assert_clean()
