"""Predictions before reveals, in the kernel: lessons 02b, 03, 04, 05, 08 and 11 run cell by cell (as Voila
runs them before the page shows), and every block a prediction reveals is hidden and holds no
text until that prediction is checked; after Check it holds the findings, with the numbers the
runs give (pinned in test_channels.py, test_lessons_protections.py, test_lessons.py,
test_trader.py and test_replays.py). The page itself is checked in the browser tests of these lessons."""
import html
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import nbformat  # noqa: E402
import pytest  # noqa: E402

from coupling_lab import channels  # noqa: E402
from coupling_lab import replays  # noqa: E402
from coupling_lab.lessons import cascades, faults, mitigations, traders_view  # noqa: E402

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def run_cells(name):
    """Every code cell of a notebook, in order, in one namespace (the IPython magics left out)."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    ns = {}
    for cell in nb.cells:
        if cell.cell_type == "code":
            src = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith("%"))
            exec(compile(src, f"{name} cell", "exec"), ns)
    return ns


def check(prediction, option):
    prediction.choice.value = prediction.options[option]
    prediction.check()


def assert_hidden(block):
    assert not block.shown and block.text == ""
    assert all(part.layout.display == "none" for part in block.parts)
    assert block.waiting.layout.display is None


def assert_shown(block, *numbers):
    assert block.shown and block.status.message == ""
    assert all(part.layout.display is None for part in block.parts)
    assert block.waiting.layout.display == "none"
    plain = html.unescape(re.sub(r"<[^>]+>", "", block.text))
    for number in numbers:
        assert number in plain, number


@pytest.fixture(scope="module")
def lesson05():
    return run_cells("05-what-helps.ipynb")


def test_lesson05_findings_wait_for_their_prediction(lesson05):
    q_lab, q_designs = lesson05["q_lab"], lesson05["q_designs"]
    lab, picture, designs = q_lab.revealed + q_designs.revealed
    assert len(q_lab.revealed) == 2 and len(q_designs.revealed) == 1
    assert lesson05["tradeoff"].widget in picture.parts  # the trade-off picture itself answers the lab's question
    for block in (lab, picture, designs):
        assert_hidden(block)
    check(q_designs, 0)  # the second prediction reveals only its own block
    assert_shown(designs, "24.1 % (design A) to 3.5 % (design B)", "15 % of the selling instead of 68 %")
    assert_hidden(lab)
    assert_hidden(picture)
    assert designs.text == mitigations.design_findings().html()
    check(q_lab, 1)
    assert_shown(lab, "to 29.8 %", "274,560 account-minutes", "8.68 M USD", "33.27 M USD", "19.68 M USD")
    assert_shown(picture, "13.8 % [12.2, 15.5]", "30.8 % [29.9, 31.7]", "16.76 M USD")
    assert lab.text == mitigations.lab_findings().html()
    assert picture.text == mitigations.tradeoff_findings().html()


def test_lesson02b_findings_wait_for_the_corner_prediction():
    ns = run_cells("02b-two-channels.ipynb")
    ask = ns["ask"]
    assert len(ask.revealed) == 3
    for block in ask.revealed:
        assert_hidden(block)
    check(ask, 0)  # a wrong answer commits the learner too
    observations, seeds, outage = ask.revealed
    q = channels.QUOTED
    assert_shown(observations, "one feed, one market")
    assert_shown(seeds, f"a further {q['together_common']} below", f"one market: {q['market_common']}",
                 f"{q['together_sync']} with both")
    assert_shown(outage, f"a further {q['outage_own']} (", f"jumps to {q['outage_sync']}")
    assert seeds.text == channels.seed_findings().html() and outage.text == channels.outage_findings().html()


def test_lesson08_findings_wait_for_the_prediction():
    ns = run_cells("08-the-traders-view.ipynb")
    ask = ns["ask"]
    (block,) = ask.revealed
    assert_hidden(block)
    check(ask, 1)
    assert_shown(block, "29 of 40", "14 of 40", "health 1.57", "1272 against 1316 USD", "18 of 40")
    assert block.text == traders_view.runs_findings().html()


def test_lesson03_findings_and_the_depth_sweep_wait_for_the_prediction():
    ns = run_cells("03-depth-and-cascades.ipynb")
    q = ns["q"]
    findings, sweep = q.revealed
    assert ns["sweep"].widget in sweep.parts  # the sweep over depths answers the question too
    for block in (findings, sweep):
        assert_hidden(block)
    check(q, 0)  # a wrong answer commits the learner too
    quoted = cascades.cascade_quoted()
    assert_shown(findings, f"1 log unit: {quoted['shared_kappa']}", f"market falls {quoted['shared_fall']}",
                 "0.91", "62.5 %", "below 0.01 (0.004)")
    assert_shown(sweep)
    assert findings.text == cascades.cascade_findings().html()


def test_lesson04_findings_wait_for_the_prediction():
    ns = run_cells("04-when-the-shared-oracle-fails.ipynb")
    q = ns["q"]
    findings, by_platform = q.revealed
    for block in (findings, by_platform):
        assert_hidden(block)
    check(q, 1)
    assert_shown(findings, "sells 246.5 M USD", "leaves 5.9 M USD of bad debt", "sells 5.5 M USD", "45 times")
    assert_shown(by_platform, "On the shared oracle: P1 1.10, P2 1.27", "On P1's own oracle: P1 0.00")
    assert findings.text == faults.bad_report_findings().html()


def test_lesson11_compound_findings_and_the_table_wait_for_the_prediction():
    ns = run_cells("11-replays.ipynb")
    ask = ns["ask"]
    compound, table = ask.revealed
    for block in (compound, table):
        assert_hidden(block)
    assert ask.reveal.layout.display == "none"
    check(ask, 0)
    assert ask.reveal.layout.display is None
    q = replays.quoted_figures()
    assert q["cd_liq"] == "150.6 M DAI"
    assert_shown(compound, f"liquidates {q['cd_liq']}", f"without any anchor: {q['cd_no_anchor']}",
                 f"three venues: {q['cd_median']}")
    assert_shown(table, f"{q['cd_liq']} liquidated", "the anchor changes nothing", f"{q['bt_bad']} bad debt")
    assert compound.text == replays.compound_findings().html() and table.text == replays.how_close().html()
