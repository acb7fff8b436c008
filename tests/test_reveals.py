"""Predictions before reveals, in the kernel: lessons 02b, 03, 04, 05, 07, 08 and 11 run cell by cell (as Voila
runs them before the page shows), and every block a prediction reveals is hidden and holds no
text until that prediction is checked; after Check it holds the findings, with the numbers the
runs give (pinned in test_channels.py, test_lessons_protections.py, test_lessons.py,
test_trader.py and test_replays.py; lesson 07's here). The page itself is checked in the browser tests of these lessons."""
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
    assert_shown(block, "29 of 40", "14 of 40", "health 1.57", "1,272 against 1,316 USD", "18 of 40")
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


#: lesson 07's dial sweep (72 runs: six dial values x seeds 0-11), as its prediction, table and findings quote it
LESSON07 = {"n": "12", "before": "0.8", "sync_0": "0.39", "sync_pen": "0.71", "sync_1": "0.99",
            "flow_0": "34.1 %", "flow_pen": "42.5 %", "flow_1": "53.5 %",
            "fall_0": "7.5 %", "fall_pen": "10.0 %", "fall_1": "14.3 %"}


def test_lesson07_dial_table_figure_and_heatmap_wait_for_the_prediction():
    from coupling_lab.ui import sweep_plots

    ns = run_cells("07-research-sweeps.ipynb")
    ask, frame = ns["ask"], ns["frame"]
    assert sweep_plots.dial_quoted(frame) == LESSON07
    dial, heatmap, explorer = ask.revealed
    assert ns["explorer"].widget in explorer.parts  # the explorer shows the dial curves too
    for block in (dial, heatmap, explorer):
        assert_hidden(block)
    # the feedback of every option quotes the run's numbers; the right one is the steep last step
    for text in ask.feedback.values():
        assert "synchrony 0.39 with no sharing, 0.71 at 0.8, 0.99 at full sharing" in text
        assert "peak flow share 34.1 %, 42.5 %, 53.5 %; extra fall 7.5 %, 10.0 %, 14.3 %" in text
    assert ask.answer == ask.options[2] and "last step" in ask.answer
    check(ask, 1)
    assert ask.correct is False
    assert_shown(dial, "0.39 [0.33, 0.45]", "0.99 [0.99, 0.99]", "34.1 [30.5, 37.7]", "53.5 [47.3, 59.8]",
                 "7.5 [6.6, 8.3]", "14.3 [11.8, 16.7]", "Synchrony rises from 0.39 with no sharing to 0.71 at dial 0.8",
                 "from 7.5 % to 10.0 %, then 14.3 %")
    assert_shown(heatmap)
    assert_shown(explorer)
    assert dial.text == (sweep_plots.summary_table(frame).html() + sweep_plots.dial_findings(frame).html())
    check(ask, 2)
    assert ask.correct is True
