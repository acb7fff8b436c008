"""Lesson 02's live sweep ("is it the dial, or luck?") served by Voila, in a real browser.

``test_app_browser.py`` runs the checks every lesson gets on this lesson too
(main control, hostile updates, no repr, no source); the page set-up is
``tests/browser.py``, shared by every browser test. Here: the page opens while
the default sweep runs in the background, and that sweep ends drawn on the
page (its bar at the total, its table saying how many seeds); pressing **Run
sweep** runs it again in the background with its progress bar counting the
runs on the page: seen part way, and ending at the total
(``sharing_dial.default_sweep()``, 504 runs, pinned in ``test_lessons.py``).
The wall time from the press to the button coming back (the figure is drawn
and sent before it does) is printed, not asserted (figures go in
``benchmarks/README.md``).
"""
from __future__ import annotations

import re
import time

import pytest

from coupling_lab.lessons import sharing_dial
from browser import CHANGE_TIMEOUT_S, NOTEBOOKS, lesson_page_fixture

NOTEBOOK = NOTEBOOKS / "02-the-sharing-dial.ipynb"
PROGRESS = ".cl-progress"
COUNT = re.compile(r"([\d,]+) of ([\d,]+) runs")

pytestmark = pytest.mark.timeout(600)


page = lesson_page_fixture(NOTEBOOK, "sharing-dial")


def _counts(lesson):
    """(done, total) pairs the progress area shows now (one per bar)."""
    text = " ".join(lesson.page.locator(PROGRESS).all_inner_texts())
    return [(int(a.replace(",", "")), int(b.replace(",", ""))) for a, b in COUNT.findall(text)]


def test_the_default_sweep_started_with_the_page_ends_drawn_on_it(page):
    """The sweep cell starts the default sweep in the background (the page does not wait for it): its bar
    counts towards the total, and the table of its means is drawn on the page when it ends."""
    values, runs = sharing_dial.default_sweep()
    seen, deadline = [], time.monotonic() + CHANGE_TIMEOUT_S
    table = f"Means over {values['n_seeds']} seeds per position"
    button = page.page.get_by_role("button", name="Run sweep")
    while time.monotonic() < deadline and (table not in page.page.inner_text("body") or button.is_disabled()):
        seen.extend(c for c in _counts(page) if c not in seen)
        page.page.wait_for_timeout(100)  # (pumps playwright's events; time.sleep would not)
    seen.extend(c for c in _counts(page) if c not in seen)
    print(f"\npage open after {page.render_seconds:.2f} s; page-load sweep's bar showed {seen}")
    assert table in page.page.inner_text("body"), "the page-load sweep never drew its table"
    assert seen and all(total == runs for _done, total in seen), seen
    assert (runs, runs) in _counts(page), f"the page-load sweep's bar should end at {runs}/{runs}"
    assert not button.is_disabled(), "the button did not come back after the page-load sweep"
    assert not page.status_text(), page.status_text()


def test_run_sweep_shows_its_progress_and_ends_at_the_total(page):
    _values, runs = sharing_dial.default_sweep()
    button = page.page.get_by_role("button", name="Run sweep")
    seen = []
    start = time.monotonic()
    button.click()
    deadline = start + CHANGE_TIMEOUT_S
    went_busy = False
    while time.monotonic() < deadline:
        seen.extend(c for c in _counts(page) if c not in seen)
        disabled = button.is_disabled()
        went_busy = went_busy or disabled
        if went_busy and not disabled:
            break
        page.page.wait_for_timeout(50)  # (pumps playwright's events; time.sleep would not)
    elapsed = time.monotonic() - start
    seen.extend(c for c in _counts(page) if c not in seen)
    page.screenshot("-sweep")
    print(f"\nRun sweep ({runs} runs): button back after {elapsed:.2f} s; bar showed {seen}")
    assert went_busy and not button.is_disabled(), "the sweep did not finish"
    assert all(total == runs for _done, total in seen), seen
    assert any(0 < done < runs for done, _total in seen), f"no bar part way through: {seen}"
    assert _counts(page)[-1] == (runs, runs), "the bar does not end at the total"
    assert not page.status_text(), page.status_text()
